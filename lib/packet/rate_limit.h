/*
 * A token bucket for new flows, kept as one number: the generic cell rate
 * algorithm (GCRA), the token bucket's arithmetic without a refill step.
 * The bucket holds the time at which it would be empty again ("theoretical
 * arrival time"); taking a token moves it one interval later, and a token
 * is there while it runs at most (burst - 1) intervals ahead of the clock.
 * So a full bucket admits burst flows at once, then one per interval, and
 * an idle one fills up by itself: no timer, no refill loop, no division on
 * the packet path.
 *
 * The clock is whatever the caller counts in (the TSC on workers, a plain
 * number in tests); limits are made for its frequency. Each worker owns its
 * buckets: plain stores, no atomics. Pure C, no DPDK.
 */
#ifndef DPLB_RATE_LIMIT_H
#define DPLB_RATE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* How a bucket refills: made once per snapshot, read by every worker. */
struct dplb_rate_limit {
	uint64_t interval;  /* clock ticks per token */
	uint64_t tolerance; /* (burst - 1) x interval */
};

/* One worker's bucket for one VIP; all zero is full. */
struct dplb_token_bucket {
	uint64_t empty_at; /* when the bucket would be empty again, in clock ticks */
};

/*
 * The share of rate tokens per second, with bursts of burst, that one of
 * shares takers gets on a clock of hz ticks per second: rate / shares per
 * second and a burst of burst / shares (rounded up, at least one). rate
 * must be above 0; burst 0 means rate (a second's worth).
 */
static inline struct dplb_rate_limit dplb_rate_limit_make(uint64_t hz, uint32_t rate,
							  uint32_t burst, uint32_t shares)
{
	const uint64_t takers = shares ? shares : 1;
	const uint64_t whole_burst = burst ? burst : rate;
	const uint64_t own_burst = whole_burst > takers ? (whole_burst + takers - 1) / takers : 1;
	const uint64_t interval = rate ? hz * takers / rate : 0;

	return (struct dplb_rate_limit){ .interval = interval,
					 .tolerance = (own_burst - 1) * interval };
}

/* Take a token at time now; false when the bucket is empty. */
static inline bool dplb_rate_limit_take(struct dplb_token_bucket *bucket,
					const struct dplb_rate_limit *limit, uint64_t now)
{
	const uint64_t empty_at = bucket->empty_at > now ? bucket->empty_at : now;

	if (empty_at - now > limit->tolerance)
		return false;
	bucket->empty_at = empty_at + limit->interval;
	return true;
}

#endif
