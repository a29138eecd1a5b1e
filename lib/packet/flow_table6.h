/*
 * A worker's IPv6 flow table: the IPv4 table's design (flow_table.h: one
 * 64-byte bucket answers a lookup, bucketized cuckoo with at most two
 * moves, overflow bytes, slot reuse, ordered expiry) and its very code
 * (flow_table_template.h, .c), instantiated with IPv6's key. Its names are
 * the IPv4 table's with dplb_flow6_ for dplb_flow_.
 *
 * Key: the client's half of the 5-tuple again, source address and both
 * ports, with the VIP id standing for destination address and protocol:
 * 16 + 4 = 20 bytes. A slot is those 20 bytes, last_seen (4), meta (2)
 * and backend (2): 28 bytes, so a 64-byte line holds two slots, laid out
 * so that each compare is one or two vector loads:
 *
 *   0..31   the two source addresses, 16 bytes each (one AVX2 load)
 *   32..39  the two port words            \
 *   40..43  the two meta words             } one SSE load, compared at once
 *   44..47  the two backends (ignored)    /
 *   48..55  the two last_seen
 *   56..63  unused
 *
 * Why two slots and not more: a third slot needs 28 more bytes, and a
 * layout of short tags in the line with the keys elsewhere would make a
 * hit touch two lines, which is what this table was written to avoid.
 *
 * Two slots a bucket give cuckoo's two-move search fewer places to look
 * (14 buckets of 2 slots against 42 of 4), so the table must run emptier
 * at capacity. Measured by filling tables with random flows past their
 * capacity (the IPv4 table for comparison): the first add refused came
 * at 43-62% of the slots for 100k flows (43 tables), 47-56% for 1M (11)
 * and 44-46% for 10M (2); IPv4's four-slot buckets at 81-86% (100k, 1M)
 * and 82% (10M), against their 67% at capacity. Half full (2 slots a
 * flow, 65 bytes a flow) was refused below capacity at 1M and 10M flows,
 * and at 97% of capacity in the 100k-flow test of find_bulk; so 2.5 slots
 * a flow (DPLB_FLOW6_SLOTS_PER_FLOW), 40% full at capacity, under every
 * first refusal measured (the test first_refusal_comes_past_capacity
 * logs them). Memory: 2.5 slots of 32 bytes, 1.25 overflow bytes and
 * 1.25 occupied bits, 81.4 bytes a flow (IPv4: 24.4), 776 MiB for 10M
 * flows. So sparse a table would cost its expiry walk 3.3 lines read for
 * IPv4's one, were it not for the occupied bits: the walk reads only
 * buckets that hold flows, at most a line a flow in either family. A
 * third move would let it run fuller: with up to three (tried outside the
 * tree) the first refusal came at 67-72% (100k), 63-68% (1M) and 63%
 * (10M), which would allow 2 slots a flow (65 bytes) with IPv4's margin; a
 * later change may make the move limit a template parameter.
 *
 * Hash: CRC32-C over the address's two halves, then the ports with the
 * VIP id and the seed's high half: three CRC32-C instructions (IPv4's
 * key takes two), keyed by the table's seed as IPv4's is.
 *
 * Single writer, no DPDK: as flow_table.h.
 */

/* The template's parameters for IPv6, outside the include guard: see
 * flow_table.h. */
#undef DPLB_FT_PREFIX
#undef DPLB_FT_KEY
#undef DPLB_FT_SLOTS
#undef DPLB_FT_SLOTS_NUM
#undef DPLB_FT_SLOTS_DEN
#define DPLB_FT_PREFIX dplb_flow6_
#define DPLB_FT_KEY struct dplb_flow6_client
#define DPLB_FT_SLOTS DPLB_FLOW6_BUCKET_SLOTS
#define DPLB_FT_SLOTS_NUM 5 /* DPLB_FLOW6_SLOTS_PER_FLOW */
#define DPLB_FT_SLOTS_DEN 2

#ifndef DPLB_FLOW_TABLE6_H
#define DPLB_FLOW_TABLE6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "packet/flow_table_common.h"

#define DPLB_FLOW6_BUCKET_SLOTS 2
/* Table slots per flow of capacity: at capacity the table is 40% full. */
#define DPLB_FLOW6_SLOTS_PER_FLOW 2.5

/* An IPv6 flow's key: source address and both ports, in network order as
 * they are on the wire (the ports as dplb_flow6_client makes them). */
struct dplb_flow6_client {
	uint8_t addr[16];
	uint32_t ports; /* source port, then destination port, in memory order */
};

struct dplb_flow6_bucket {
	uint8_t addr[DPLB_FLOW6_BUCKET_SLOTS][16];   /* source addresses */
	uint32_t ports[DPLB_FLOW6_BUCKET_SLOTS];     /* dplb_flow6_client's ports */
	uint16_t meta[DPLB_FLOW6_BUCKET_SLOTS];	     /* see DPLB_FLOW_VIP_BITS */
	uint16_t backend[DPLB_FLOW6_BUCKET_SLOTS];   /* stable backend id */
	uint32_t last_seen[DPLB_FLOW6_BUCKET_SLOTS]; /* seconds, the worker's clock */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct dplb_flow6_bucket, ports) == 32 &&
		       offsetof(struct dplb_flow6_bucket, meta) == 40 &&
		       offsetof(struct dplb_flow6_bucket, backend) == 44,
	       "ports, meta and backend are the one 16-byte word the compare loads");

/* The key of a flow from its source address (16 bytes, network order) and
 * ports (network order, as on the wire). */
static inline struct dplb_flow6_client dplb_flow6_client(const uint8_t src_addr[16],
							 uint16_t src_port, uint16_t dst_port)
{
	struct dplb_flow6_client client;
	const uint16_t ports[2] = { src_port, dst_port };

	memcpy(client.addr, src_addr, sizeof(client.addr));
	memcpy(&client.ports, ports, sizeof(client.ports));
	return client;
}

/* The template's key operations (flow_table_template.h). */
static inline struct dplb_flow6_client dplb_flow6_slot_client(
	const struct dplb_flow6_bucket *bucket, uint32_t slot)
{
	struct dplb_flow6_client client;

	memcpy(client.addr, bucket->addr[slot], sizeof(client.addr));
	client.ports = bucket->ports[slot];
	return client;
}

static inline void dplb_flow6_slot_set_client(struct dplb_flow6_bucket *bucket, uint32_t slot,
					      struct dplb_flow6_client client)
{
	memcpy(bucket->addr[slot], client.addr, sizeof(client.addr));
	bucket->ports[slot] = client.ports;
}

static inline bool dplb_flow6_client_equal(struct dplb_flow6_client a, struct dplb_flow6_client b)
{
	return memcmp(a.addr, b.addr, sizeof(a.addr)) == 0 && a.ports == b.ports;
}

/* The bucket hash of (client, vip): the address's halves, then the ports
 * with the VIP id and the seed's high half, through CRC32-C where the CPU
 * has it, else murmur3's finaliser after each word; the seed keys it. */
static inline uint32_t dplb_flow6_client_hash(uint64_t seed, struct dplb_flow6_client client,
					      uint16_t vip_id)
{
	uint64_t lo, hi;

	memcpy(&lo, client.addr, sizeof(lo));
	memcpy(&hi, client.addr + 8, sizeof(hi));
	const uint64_t last = (uint64_t)client.ports | (uint64_t)((uint32_t)(seed >> 32) ^ vip_id)
							       << 32;
#if defined(__SSE4_2__)
	return (uint32_t)_mm_crc32_u64(_mm_crc32_u64(_mm_crc32_u64(seed, lo), hi), last);
#else
	uint64_t x = seed;
	const uint64_t words[3] = { lo, hi, last };

	for (unsigned int w = 0; w < 3; w++) {
		x ^= words[w];
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdULL;
		x ^= x >> 33;
		x *= 0xc4ceb9fe1a85ec53ULL;
		x ^= x >> 33;
	}
	return (uint32_t)x;
#endif
}

/* Slots of bucket holding (client, vip_id): a bit per slot, at most one
 * set. Plain C, the reference the SIMD version is tested against. */
static inline unsigned int dplb_flow6_bucket_match_scalar(const struct dplb_flow6_bucket *bucket,
							  struct dplb_flow6_client client,
							  uint16_t vip_id)
{
	unsigned int mask = 0;

	for (unsigned int s = 0; s < DPLB_FLOW6_BUCKET_SLOTS; s++)
		if (memcmp(bucket->addr[s], client.addr, sizeof(client.addr)) == 0 &&
		    bucket->ports[s] == client.ports &&
		    (bucket->meta[s] & DPLB_FLOW_MATCH_MASK) == vip_id)
			mask |= 1u << s;
	return mask;
}

/* The same with vector compares: the two addresses (one AVX2 compare, two
 * with SSE2), then ports and meta words of both slots in one more. */
static inline unsigned int dplb_flow6_bucket_match(const struct dplb_flow6_bucket *bucket,
						   struct dplb_flow6_client client, uint16_t vip_id)
{
#if defined(__SSE2__)
	const __m128i addr = _mm_loadu_si128((const __m128i *)client.addr);
#if defined(__AVX2__)
	const unsigned int addr_bits = (unsigned int)_mm256_movemask_epi8(
		_mm256_cmpeq_epi8(_mm256_load_si256((const __m256i *)bucket->addr),
				  _mm256_broadcastsi128_si256(addr)));
#else
	const unsigned int addr_bits =
		(unsigned int)_mm_movemask_epi8(
			_mm_cmpeq_epi8(_mm_load_si128((const __m128i *)bucket->addr[0]), addr)) |
		(unsigned int)_mm_movemask_epi8(
			_mm_cmpeq_epi8(_mm_load_si128((const __m128i *)bucket->addr[1]), addr))
			<< 16;
#endif
	/* Bytes 0..7 the two port words, 8..11 the two meta words (masked to
	 * VIP and free mark), 12..15 the backends (masked to zero: equal). */
	const uint32_t vips = (uint32_t)vip_id * 0x10001u;
	const __m128i want = _mm_setr_epi32((int)client.ports, (int)client.ports, (int)vips, 0);
	const __m128i keep = _mm_setr_epi32(-1, -1, (int)(DPLB_FLOW_MATCH_MASK * 0x10001u), 0);
	const __m128i rest = _mm_and_si128(_mm_load_si128((const __m128i *)bucket->ports), keep);
	const unsigned int rest_bits = (unsigned int)_mm_movemask_epi8(_mm_cmpeq_epi8(rest, want));

	/* & rather than &&: which slot matches is a coin toss, not a branch. */
	const unsigned int slot0 =
		(unsigned int)((addr_bits & 0xffffu) == 0xffffu) & ((rest_bits & 0x30fu) == 0x30fu);
	const unsigned int slot1 =
		(unsigned int)((addr_bits >> 16) == 0xffffu) & ((rest_bits & 0xcf0u) == 0xcf0u);

	return slot0 | slot1 << 1;
#else
	return dplb_flow6_bucket_match_scalar(bucket, client, vip_id);
#endif
}

#include "packet/flow_table_template.h"

#endif
