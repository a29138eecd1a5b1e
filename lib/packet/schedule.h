/*
 * Stateless backend picks: Maglev on the 5-tuple, and source-hash (Maglev
 * on the client address alone). The worker uses them for new flows and the
 * management API to answer "which backend would this flow get?", so both
 * must be this one code.
 */
#ifndef DPLB_SCHEDULE_H
#define DPLB_SCHEDULE_H

#include <stdint.h>

#include <rte_hash_crc.h>

#include "control/state.h"
#include "packet/flow_table.h"
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

/* The backend id a hashing scheduler gives a new flow, or
 * MAGLEV_NO_BACKEND. Only for DPLB_SCHED_MAGLEV and DPLB_SCHED_SOURCE_HASH. */
static inline uint32_t dplb_hash_pick(const struct dplb_vip_entry *vip,
				      const struct dplb_flow_key *key, uint32_t flow_hash)
{
	const uint32_t hash = vip->scheduler == DPLB_SCHED_SOURCE_HASH
				      ? rte_hash_crc_4byte(key->src_addr, DPLB_FLOW_HASH_SEED)
				      : flow_hash;

	return vip->maglev[maglev_slot(dplb_hash_mix(hash), vip->maglev_size)];
}

#endif
