/*
 * A flow's 5-tuple and its hash, IPv4 and IPv6: what Maglev and the
 * source-hash scheduler pick by, so every dplb instance behind ECMP, and every restart, must
 * compute the same value for the same packet. The worker's flow table has
 * its own key and hash (flow_table.h); this one never changes.
 */
#ifndef DPLB_FLOW_KEY_H
#define DPLB_FLOW_KEY_H

#include <stdint.h>
#include <string.h>

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

/* An IPv6 flow's 5-tuple as it is on the wire, padding zero: hashed and
 * compared as five 8-byte words. */
struct dplb_flow_key6 {
	union {
		struct {
			uint8_t src_addr[16]; /* network order */
			uint8_t dst_addr[16];
			uint16_t src_port; /* network order */
			uint16_t dst_port;
			uint8_t protocol;
			uint8_t pad[3];
		};
		uint64_t words[5];
	};
};

/* Make key from an IPv6 flow's fields, all in network order and as the
 * client sends them, padding zero: the one way an IPv6 key is made, as
 * dplb_flow_key_set is for IPv4. The ports and protocol are written as the
 * one word they are hashed as. */
static inline void dplb_flow_key6_set(struct dplb_flow_key6 *key, const uint8_t src_addr[16],
				      const uint8_t dst_addr[16], uint16_t src_port,
				      uint16_t dst_port, uint8_t protocol)
{
	memcpy(key->src_addr, src_addr, sizeof(key->src_addr));
	memcpy(key->dst_addr, dst_addr, sizeof(key->dst_addr));
#if RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN
	key->words[4] = (uint64_t)protocol << 32 | ((uint32_t)dst_port << 16 | src_port);
#else
	key->words[4] =
		(uint64_t)src_port << 48 | (uint64_t)dst_port << 32 | (uint64_t)protocol << 24;
#endif
}

/*
 * The IPv6 flow hash. Stable forever: every instance's Maglev picks of IPv6
 * flows depend on it, so neither the definition nor the seed may change.
 * Definition: CRC32-C (Castagnoli, reflected polynomial 0x82f63b78, as the
 * SSE4.2 crc32 instruction computes it: no pre- or post-inversion), started
 * at DPLB_FLOW_HASH_SEED, over these 40 bytes in this order:
 *   source address (16 bytes, network order), destination address (16),
 *   source port (2, network order), destination port (2, network order),
 *   protocol (1), three zero bytes.
 * That is the key's memory in order; each 8-byte word is read little-endian
 * (so on every machine the bytes are hashed first to last).
 */
static inline uint32_t dplb_flow_hash6(const struct dplb_flow_key6 *key)
{
	uint32_t hash = DPLB_FLOW_HASH_SEED;

	for (int i = 0; i < 5; i++)
		hash = rte_hash_crc_8byte(rte_le_to_cpu_64(key->words[i]), hash);
	return hash;
}

/*
 * What the source-hash scheduler picks an IPv6 client by (IPv4: CRC32-C of
 * the address alone). Stable forever, as dplb_flow_hash6: CRC32-C as there,
 * started at DPLB_FLOW_HASH_SEED, over the 16 bytes of src (network order)
 * first to last.
 */
static inline uint32_t dplb_source_hash6(const uint8_t src[16])
{
	uint64_t words[2];

	memcpy(words, src, sizeof(words));
	return rte_hash_crc_8byte(
		rte_le_to_cpu_64(words[1]),
		rte_hash_crc_8byte(rte_le_to_cpu_64(words[0]), DPLB_FLOW_HASH_SEED));
}

#endif
