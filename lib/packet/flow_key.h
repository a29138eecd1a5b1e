/*
 * A flow's 5-tuple and its hash: what Maglev and the source-hash scheduler
 * pick by, so every dplb instance behind ECMP, and every restart, must
 * compute the same value for the same packet. The worker's flow table has
 * its own key and hash (flow_table.h); this one never changes.
 */
#ifndef DPLB_FLOW_KEY_H
#define DPLB_FLOW_KEY_H

#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_hash_crc.h>

/* The 5-tuple as it is on the wire; the padding is always zero so that the
 * key can be hashed and compared as 16 bytes. */
struct dplb_flow_key {
	union {
		struct {
			uint32_t src_addr;
			uint32_t dst_addr;
			uint16_t src_port;
			uint16_t dst_port;
			uint8_t protocol;
			uint8_t pad[3];
		};
		uint64_t words[2];
	};
};

/* Make key from a flow's fields, all in network order and as the client
 * sends them, padding zero. The one way a key is made: the worker's
 * packets, the flows quoted in ICMP errors and the API's lookups must all
 * agree on it. Written as the two words it is hashed and compared as: a
 * wide load of a key stored field by field would stall on every packet. */
static inline void dplb_flow_key_set(struct dplb_flow_key *key, uint32_t src_addr,
				     uint32_t dst_addr, uint16_t src_port, uint16_t dst_port,
				     uint8_t protocol)
{
#if RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN
	key->words[0] = (uint64_t)dst_addr << 32 | src_addr;
	key->words[1] = (uint64_t)protocol << 32 | ((uint32_t)dst_port << 16 | src_port);
#else
	key->words[0] = (uint64_t)src_addr << 32 | dst_addr;
	key->words[1] =
		(uint64_t)src_port << 48 | (uint64_t)dst_port << 32 | (uint64_t)protocol << 24;
#endif
}

/* Stable across instances and restarts: Maglev picks depend on it. */
#define DPLB_FLOW_HASH_SEED 0x9e3779b9u

static inline uint32_t dplb_flow_hash(const struct dplb_flow_key *key)
{
	return rte_hash_crc_8byte(key->words[1],
				  rte_hash_crc_8byte(key->words[0], DPLB_FLOW_HASH_SEED));
}

#endif
