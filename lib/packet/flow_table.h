/*
 * A worker's flow table: which backend each flow was given.
 *
 * Written for this one job instead of rte_hash, whose lookup touches three
 * cache lines (bucket, key slot, our entry) and whose insert costs 300+
 * cycles. Here one 64-byte bucket holds four flows whole (key, backend,
 * VIP, state, last packet time), so one cache line answers a lookup.
 *
 * Layout. A flow's key is the client's half of the 5-tuple (source
 * address, source port, destination port: one 64-bit word) and its VIP id,
 * which stands for the destination address and protocol. A bucket stores
 * its four keys as an array of words, so one AVX2 compare (two with SSE2)
 * tests all four at once; with four slots the key itself is as short to
 * compare as a tag would be, so there is no separate tag. 16 bytes a slot.
 *
 * Placement: bucketized cuckoo hashing. Every key has two candidate
 * buckets, primary and secondary, computed from its own hash; it goes to
 * the primary when there is room. Cuckoo over hopscotch because a key's
 * place is always one of two known lines (hopscotch's neighbourhood would
 * be several), and because with four slots a bucket and the table sized at
 * most two thirds full (DPLB_FLOW_SLOTS_PER_FLOW) displacement is rare and
 * short: at most two moves (DPLB_FLOW_MAX_MOVES), else the insert fails and
 * the caller forwards the flow statelessly.
 *
 * One line per lookup, also for misses: each bucket has a count of keys
 * that have it as primary but live in their secondary (the overflow array,
 * a byte per bucket, kept apart so buckets stay whole lines). A key not in
 * its primary is looked for in its secondary only when that count is not
 * zero, so most new flows cost one bucket too. The count saturates at 255
 * and then stays, which only costs lookups a second line.
 *
 * Deletion clears the slot: no tombstones to build up. Expiry walks the
 * buckets in order, a slice at a time (dplb_flow_table_expire), reading only
 * those that hold a flow: a bit per bucket says which (kept apart, as the
 * overflow counts are, an eighth of a byte a bucket), so the walk costs what
 * the table holds, not its size. An insert that finds its candidate buckets
 * full reuses a slot whose flow has already timed out, so a flood of new
 * flows does not wait for the walk.
 *
 * This is the IPv4 table. An IPv6 source does not fit the key word, so
 * IPv6 flows have a table of their own layout (flow_table6.h); both are
 * one template (flow_table_template.h, .c), instantiated per family with
 * the family's key, bucket layout, hash and compare, as VPP's bihash is.
 * This header defines the IPv4 parts and instantiates the template: the
 * names (dplb_flow_table_*, struct dplb_flow_bucket, ...) and the code
 * are what they were before IPv6 came. What the families share (kinds,
 * meta word, dplb_flow_gone, bucket choice) is in flow_table_common.h.
 *
 * Single writer (the worker that owns it); nothing here is shared. The
 * bucket hash is seeded per table, so outsiders cannot aim flows at one
 * bucket. No DPDK: the caller provides the memory (dplb_flow_table_size),
 * so it is tested without EAL.
 */
/* The template's parameters for IPv4, outside the include guard (as VPP's
 * bihash_8_8.h does): flow_table.c includes this header and then
 * flow_table_template.c, which must see IPv4's even if flow_table6.h was
 * included in between. */
#undef DPLB_FT_PREFIX
#undef DPLB_FT_KEY
#undef DPLB_FT_SLOTS
#undef DPLB_FT_SLOTS_NUM
#undef DPLB_FT_SLOTS_DEN
#define DPLB_FT_PREFIX dplb_flow_
#define DPLB_FT_KEY uint64_t
#define DPLB_FT_SLOTS DPLB_FLOW_BUCKET_SLOTS
#define DPLB_FT_SLOTS_NUM 3 /* DPLB_FLOW_SLOTS_PER_FLOW */
#define DPLB_FT_SLOTS_DEN 2

#ifndef DPLB_FLOW_TABLE_H
#define DPLB_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "packet/flow_table_common.h"

#define DPLB_FLOW_BUCKET_SLOTS 4
/* Table slots per flow of capacity: at capacity the table is two thirds full. */
#define DPLB_FLOW_SLOTS_PER_FLOW 1.5

struct dplb_flow_bucket {
	uint64_t client[DPLB_FLOW_BUCKET_SLOTS];    /* dplb_flow_client() */
	uint32_t last_seen[DPLB_FLOW_BUCKET_SLOTS]; /* seconds, the worker's clock */
	uint16_t meta[DPLB_FLOW_BUCKET_SLOTS];	    /* see DPLB_FLOW_VIP_BITS */
	uint16_t backend[DPLB_FLOW_BUCKET_SLOTS];   /* stable backend id */
} __attribute__((aligned(64)));

/* The key word of a flow: source address and both ports, in network order
 * as they are on the wire. */
static inline uint64_t dplb_flow_client(uint32_t src_addr, uint16_t src_port, uint16_t dst_port)
{
	return (uint64_t)src_addr | (uint64_t)src_port << 32 | (uint64_t)dst_port << 48;
}

/* The template's key operations (flow_table_template.h). */
static inline uint64_t dplb_flow_slot_client(const struct dplb_flow_bucket *bucket, uint32_t slot)
{
	return bucket->client[slot];
}

static inline void dplb_flow_slot_set_client(struct dplb_flow_bucket *bucket, uint32_t slot,
					     uint64_t client)
{
	bucket->client[slot] = client;
}

static inline bool dplb_flow_client_equal(uint64_t a, uint64_t b)
{
	return a == b;
}

/* The bucket hash of (client, vip): two CRC32-C instructions where the CPU
 * has them (a few cycles on every packet), else murmur3's finaliser; either
 * way the seed keys it. */
static inline uint32_t dplb_flow_client_hash(uint64_t seed, uint64_t client, uint16_t vip_id)
{
#if defined(__SSE4_2__)
	return (uint32_t)_mm_crc32_u32((uint32_t)_mm_crc32_u64(seed, client),
				       (uint32_t)(seed >> 32) ^ vip_id);
#else
	uint64_t x = client ^ seed ^ ((uint64_t)vip_id << 23 | (uint64_t)vip_id << 51);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return (uint32_t)(x ^ (x >> 33));
#endif
}

/* Slots of bucket holding (client, vip_id): a bit per slot, at most one
 * set. Plain C, the reference the SIMD version is tested against. */
static inline unsigned int dplb_flow_bucket_match_scalar(const struct dplb_flow_bucket *bucket,
							 uint64_t client, uint16_t vip_id)
{
	unsigned int mask = 0;

	for (unsigned int s = 0; s < DPLB_FLOW_BUCKET_SLOTS; s++)
		if (bucket->client[s] == client &&
		    (bucket->meta[s] & DPLB_FLOW_MATCH_MASK) == vip_id)
			mask |= 1u << s;
	return mask;
}

/* The same, four slots at a time where the CPU can. */
static inline unsigned int dplb_flow_bucket_match(const struct dplb_flow_bucket *bucket,
						  uint64_t client, uint16_t vip_id)
{
#if defined(__AVX2__)
	const __m256i clients = _mm256_load_si256((const __m256i *)bucket->client);
	const __m256i same = _mm256_cmpeq_epi64(clients, _mm256_set1_epi64x((long long)client));
	const unsigned int client_mask =
		(unsigned int)_mm256_movemask_pd(_mm256_castsi256_pd(same));
#elif defined(__SSE2__)
	/* Two slots per register; a slot matches when both its halves do. */
	const __m128i want = _mm_set1_epi64x((long long)client);
	const __m128i lo = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)bucket->client), want);
	const __m128i hi =
		_mm_cmpeq_epi32(_mm_load_si128((const __m128i *)&bucket->client[2]), want);
	const unsigned int lo_bits = (unsigned int)_mm_movemask_ps(_mm_castsi128_ps(lo));
	const unsigned int hi_bits = (unsigned int)_mm_movemask_ps(_mm_castsi128_ps(hi));
	const unsigned int pairs = lo_bits | hi_bits << 4; /* a bit per 32-bit half */
	const unsigned int client_mask = (pairs & (pairs >> 1) & 0x55u);
#endif
#if defined(__SSE2__)
	const __m128i metas = _mm_and_si128(_mm_loadl_epi64((const __m128i *)bucket->meta),
					    _mm_set1_epi16((short)DPLB_FLOW_MATCH_MASK));
	const __m128i vip_same = _mm_cmpeq_epi16(metas, _mm_set1_epi16((short)vip_id));
	/* Narrow the four 16-bit lanes to bytes: one mask bit per slot. */
	const unsigned int vip_mask =
		(unsigned int)_mm_movemask_epi8(_mm_packs_epi16(vip_same, _mm_setzero_si128())) &
		0xfu;
#if defined(__AVX2__)
	return client_mask & vip_mask;
#else
	/* client_mask has slot s at bit 2s: gather to bits 0..3. */
	const unsigned int slots = (client_mask & 1u) | (client_mask >> 1 & 2u) |
				   (client_mask >> 2 & 4u) | (client_mask >> 3 & 8u);
	return slots & vip_mask;
#endif
#else
	return dplb_flow_bucket_match_scalar(bucket, client, vip_id);
#endif
}

#include "packet/flow_table_template.h"

#endif
