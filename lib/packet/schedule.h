/*
 * The schedulers, building, picking and explaining in one place: the tables
 * a VIP's picks come from (Maglev, the weighted round-robin sequence), built
 * into each snapshot; the pick of a backend for a new flow, inline here for
 * the worker; and the same pick replayed for the management API ("which
 * backend would this flow get?"), so that the answer is the data path's.
 *
 * The hashing schedulers (maglev, source-hash) pick from the snapshot and
 * the flow alone, so every worker and every instance agrees. The others
 * pick from what each worker keeps for itself (round-robin cursors, its own
 * flow counts), which the worker passes in.
 */
#ifndef DPLB_SCHEDULE_H
#define DPLB_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_hash_crc.h>

#include "control/config.h"
#include "control/state.h"
#include "packet/counters.h"
#include "packet/flow_key.h"
#include "packet/maglev.h"

/* CRC32-C is a fine bucket hash but maps nearby keys (consecutive client
 * ports) to correlated values; Maglev's slot comes from the high bits, so
 * they are mixed first (murmur3's finalizer) to keep shares at the weights. */
static inline uint32_t dplb_hash_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* The hash a hashing scheduler picks by: the client address alone for
 * source-hash, else flow_hash (the 5-tuple's). One per address family. */
static inline uint32_t dplb_pick_hash(const struct dplb_vip_entry *vip,
				      const struct dplb_flow_key *key, uint32_t flow_hash)
{
	return vip->scheduler == DPLB_SCHED_SOURCE_HASH
		       ? rte_hash_crc_4byte(key->src_addr, DPLB_FLOW_HASH_SEED)
		       : flow_hash;
}

static inline uint32_t dplb_pick_hash6(const struct dplb_vip_entry *vip,
				       const struct dplb_flow_key6 *key, uint32_t flow_hash)
{
	return vip->scheduler == DPLB_SCHED_SOURCE_HASH ? dplb_source_hash6(key->src_addr)
							: flow_hash;
}

/* The backend id vip's Maglev table gives pick_hash (dplb_pick_hash), or
 * MAGLEV_NO_BACKEND. */
static inline uint32_t dplb_maglev_pick(const struct dplb_vip_entry *vip, uint32_t pick_hash)
{
	return vip->maglev[maglev_slot(dplb_hash_mix(pick_hash), vip->maglev_size)];
}

/* The backend id vip's Maglev table gives the flow, or MAGLEV_NO_BACKEND:
 * on the client address alone for source-hash, else on flow_hash (the
 * 5-tuple). Also the stateless fallback of every scheduler when a worker's
 * flow table is full. */
static inline uint32_t dplb_hash_pick(const struct dplb_vip_entry *vip,
				      const struct dplb_flow_key *key, uint32_t flow_hash)
{
	return dplb_maglev_pick(vip, dplb_pick_hash(vip, key, flow_hash));
}

/* The next of sequence's length backend ids, or MAGLEV_NO_BACKEND when it
 * is empty; cursor is the worker's own for the VIP. */
static inline uint32_t dplb_pick_round_robin(uint32_t *cursor, const uint32_t *sequence,
					     uint32_t length)
{
	if (length == 0)
		return MAGLEV_NO_BACKEND;
	if (*cursor >= length)
		*cursor = 0;
	return sequence[(*cursor)++];
}

/* Fewest active flows per unit of weight, in backend_counters (one worker's,
 * by backend id): approximate across workers, exact enough with RSS
 * spreading evenly. MAGLEV_NO_BACKEND when no backend is up. */
static inline uint32_t dplb_pick_least_connections(
	const struct dplb_state *state, const struct dplb_vip_entry *vip,
	const struct dplb_traffic_counters *backend_counters)
{
	uint32_t best = MAGLEV_NO_BACKEND;
	uint64_t best_flows = 0, best_weight = 1;

	for (uint32_t i = 0; i < vip->up_count; i++) {
		const uint32_t id = vip->up_ids[i];
		const uint64_t flows = backend_counters[id].active_flows;
		const uint64_t weight = state->backends[id].table_weight;

		if (best == MAGLEV_NO_BACKEND || flows * best_weight < best_flows * weight) {
			best = id;
			best_flows = flows;
			best_weight = weight;
		}
	}
	return best;
}

/*
 * The backend id vip's scheduler gives a new flow whose dplb_pick_hash (or
 * dplb_pick_hash6) is pick_hash, or MAGLEV_NO_BACKEND when no backend is up.
 * round_robin_cursor is the calling worker's cursor for vip, moved by the
 * round-robin schedulers; backend_counters are that worker's counters by
 * backend id. Worker only.
 */
static inline uint32_t dplb_schedule_pick(const struct dplb_state *state,
					  const struct dplb_vip_entry *vip, uint32_t pick_hash,
					  uint32_t *round_robin_cursor,
					  const struct dplb_traffic_counters *backend_counters)
{
	switch (vip->scheduler) {
	case DPLB_SCHED_MAGLEV:
	case DPLB_SCHED_SOURCE_HASH:
		return dplb_maglev_pick(vip, pick_hash);
	case DPLB_SCHED_ROUND_ROBIN:
		return dplb_pick_round_robin(round_robin_cursor, vip->up_ids, vip->up_count);
	case DPLB_SCHED_WEIGHTED_ROUND_ROBIN:
		return dplb_pick_round_robin(round_robin_cursor, vip->wrr_sequence,
					     vip->wrr_length);
	case DPLB_SCHED_LEAST_CONNECTIONS:
		return dplb_pick_least_connections(state, vip, backend_counters);
	}
	return MAGLEV_NO_BACKEND;
}

/*
 * Build vip's scheduler tables from its up backends (vip->up_ids, weights
 * in state->backends): the Maglev table, which every VIP has (the fallback
 * when a flow table is full, and ICMP errors), and the smooth weighted
 * round-robin sequence. The caller frees them with the snapshot. Returns 0
 * or a negative errno, with a message in error (DPLB_ERROR_MAX). Any thread
 * (it reads only vip and state, and allocates with malloc), while building
 * a snapshot nobody else touches yet.
 */
int dplb_schedule_build(struct dplb_vip_entry *vip, const struct dplb_state *state, char *error);

struct dplb_new_flow {
	uint32_t flow_hash;  /* dplb_flow_hash of the 5-tuple */
	uint32_t backend_id; /* MAGLEV_NO_BACKEND when no backend is up */
	bool exact;	     /* false: backend_id is only one of vip->up_ids */
};

/*
 * Which backend a new flow from src:sport (network order) to vip's address
 * and dport (network order), over vip's protocol, would get: the question
 * an operator asks before draining a backend or when a client reports
 * trouble. Answered from the snapshot exactly as a worker schedules a flow
 * it has not seen (the same key, hash and table) for the hashing
 * schedulers. The others depend on each worker's own state, so for them
 * exact is false and backend_id is the first candidate. Any thread that may
 * read the snapshot.
 */
void dplb_new_flow_lookup(const struct dplb_vip_entry *vip, uint32_t src, uint16_t sport,
			  uint16_t dport, struct dplb_new_flow *out);
/* The same for an IPv6 VIP and a source of 16 bytes, network order. */
void dplb_new_flow_lookup6(const struct dplb_vip_entry *vip, const uint8_t src[16], uint16_t sport,
			   uint16_t dport, struct dplb_new_flow *out);

#endif
