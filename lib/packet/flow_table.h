/*
 * A worker's flow table: which backend each 5-tuple was given.
 *
 * One rte_hash per worker with a single writer (the worker itself), so it is
 * created without read-write concurrency and costs no locks. The hash maps a
 * key to a position; the entry lives in a plain array at that position, which
 * keeps the entries dense and lets the ageing scan walk them in order without
 * touching the hash. Ageing is done by the worker a small slice at a time.
 */
#ifndef DPLB_FLOW_TABLE_H
#define DPLB_FLOW_TABLE_H

#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#define DPLB_FLOW_EMPTY UINT32_MAX

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

struct dplb_flow_entry {
	uint32_t backend_id; /* stable id; DPLB_FLOW_EMPTY when the slot is free */
	uint32_t last_seen;  /* seconds since the worker started */
	uint16_t vip_id;
	uint8_t protocol;
	uint8_t closing; /* the client sent FIN or RST: a shorter timeout */
};

struct dplb_flow_table {
	struct rte_hash *hash;
	struct dplb_flow_entry *entries; /* slots long, indexed by position */
	uint32_t capacity;		 /* flows it holds at most */
	uint32_t slots;			 /* capacity plus headroom for cuckoo displacement */
	uint32_t count;
	uint32_t scan_cursor; /* next position the ageing scan looks at */
};

/* Stable across instances and restarts: Maglev picks depend on it. */
#define DPLB_FLOW_HASH_SEED 0x9e3779b9u

static inline uint32_t dplb_flow_hash(const struct dplb_flow_key *key)
{
	return rte_hash_crc_8byte(key->words[1],
				  rte_hash_crc_8byte(key->words[0], DPLB_FLOW_HASH_SEED));
}

/*
 * Create a table for capacity flows on socket. name must be unique in the
 * process. Returns 0 or a negative errno. Call from the lcore that sets up.
 */
int dplb_flow_table_create(struct dplb_flow_table *table, const char *name, uint32_t capacity,
			   int socket);
void dplb_flow_table_destroy(struct dplb_flow_table *table);

/*
 * Add key with its precomputed hash. Returns the entry, or NULL when the
 * table is full (the caller forwards without state). An entry whose
 * backend_id is not DPLB_FLOW_EMPTY was already there. Worker only.
 */
struct dplb_flow_entry *dplb_flow_table_insert(struct dplb_flow_table *table,
					       const struct dplb_flow_key *key, uint32_t hash);

/* Remove the entry at position (as returned by a lookup). Worker only. */
void dplb_flow_table_remove(struct dplb_flow_table *table, int32_t position);

/* Bytes used by the table: hash buckets, keys and entries, approximately. */
uint64_t dplb_flow_table_memory(const struct dplb_flow_table *table);

#endif
