/*
 * The benchmarks' random orders: a seeded xorshift64 generator, so that an
 * order is the same from run to run (and from machine to machine) for one
 * seed, and a Fisher-Yates shuffle of 0..count-1 with it. dplb-bench's
 * est-N flow order and the memory probe's chase both use it.
 */
#ifndef DPLB_BENCH_SHUFFLE_H
#define DPLB_BENCH_SHUFFLE_H

#include <stdint.h>

/* The next number of the sequence in *state (never 0). */
static inline uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* A state for seed: a nonzero start, spread over the word. */
static inline uint64_t xorshift64_seed(uint64_t seed)
{
	return seed * 0x9e3779b97f4a7c15ull | 1;
}

/* order[0..count) = 0..count-1 in a random order drawn from *rng. */
static inline void shuffled_order(uint32_t *order, uint64_t count, uint64_t *rng)
{
	for (uint64_t i = 0; i < count; i++)
		order[i] = (uint32_t)i;
	for (uint64_t i = count - 1; count > 1 && i > 0; i--) {
		const uint64_t j = xorshift64(rng) % (i + 1);
		const uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
}

#endif
