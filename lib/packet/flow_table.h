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
 * buckets in order, a slice at a time (dplb_flow_table_expire), and an
 * insert that finds its candidate buckets full reuses a slot whose flow has
 * already timed out, so a flood of new flows does not wait for the walk.
 *
 * IPv4 only: an IPv6 source does not fit the key word, so IPv6 flows will
 * need buckets of their own layout (two keys of 16-byte sources a line).
 *
 * Single writer (the worker that owns it); nothing here is shared. The
 * bucket hash is seeded per table, so outsiders cannot aim flows at one
 * bucket. No DPDK: the caller provides the memory (dplb_flow_table_size),
 * so it is tested without EAL.
 */
#ifndef DPLB_FLOW_TABLE_H
#define DPLB_FLOW_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#define DPLB_FLOW_BUCKET_SLOTS 4
/* Table slots per flow of capacity: at capacity the table is two thirds full. */
#define DPLB_FLOW_SLOTS_PER_FLOW 1.5
/* Moves an insert may make to free a slot in one of its buckets. */
#define DPLB_FLOW_MAX_MOVES 2

/*
 * A slot's meta word: VIP id (10 bits), the flow's kind (2 bits, its
 * timeout class), whether the key lives in its secondary bucket, and the
 * free mark. Free slots never equal a VIP id under DPLB_FLOW_MATCH_MASK.
 */
#define DPLB_FLOW_VIP_BITS 10
#define DPLB_FLOW_VIP_MASK ((1u << DPLB_FLOW_VIP_BITS) - 1)
#define DPLB_FLOW_KIND_SHIFT 12
#define DPLB_FLOW_KIND_MASK (3u << DPLB_FLOW_KIND_SHIFT)
#define DPLB_FLOW_SECONDARY 0x4000u
#define DPLB_FLOW_FREE 0x8000u
#define DPLB_FLOW_MATCH_MASK (DPLB_FLOW_FREE | DPLB_FLOW_VIP_MASK)

/* The timeout class of a flow. */
enum dplb_flow_kind {
	DPLB_FLOW_UDP,	       /* and any protocol without connections */
	DPLB_FLOW_TCP,	       /* established: the client sent more than SYNs */
	DPLB_FLOW_TCP_CLOSING, /* the client sent FIN or RST */
	DPLB_FLOW_TCP_OPENING, /* the client has sent only SYNs so far */
	DPLB_FLOW_KINDS,       /* all four fit the meta word's two bits */
};

_Static_assert(DPLB_FLOW_KINDS <= (DPLB_FLOW_KIND_MASK >> DPLB_FLOW_KIND_SHIFT) + 1,
	       "every kind fits the meta word");

struct dplb_flow_bucket {
	uint64_t client[DPLB_FLOW_BUCKET_SLOTS];    /* dplb_flow_client() */
	uint32_t last_seen[DPLB_FLOW_BUCKET_SLOTS]; /* seconds, the worker's clock */
	uint16_t meta[DPLB_FLOW_BUCKET_SLOTS];	    /* see DPLB_FLOW_VIP_BITS */
	uint16_t backend[DPLB_FLOW_BUCKET_SLOTS];   /* stable backend id */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct dplb_flow_bucket) == 64, "a bucket is one cache line");

struct dplb_flow_table {
	struct dplb_flow_bucket *buckets;
	uint8_t *overflow; /* per bucket: its keys living in their secondary */
	uint32_t bucket_count;
	uint32_t capacity; /* flows it holds at most */
	uint32_t count;
	uint32_t expire_cursor; /* next bucket dplb_flow_table_expire looks at */
	uint64_t seed;
	uint32_t timeout[DPLB_FLOW_KINDS]; /* seconds, by enum dplb_flow_kind */
	uint64_t moves;			   /* entries displaced by inserts, ever */
};

/* Where a key is, or would go: filled by dplb_flow_table_prepare. */
struct dplb_flow_probe {
	uint64_t client;
	uint16_t vip_id;
	uint32_t primary;
	uint32_t secondary;
};

/* A flow in the table: its bucket and slot. Valid until the next insert or
 * removal (an insert may move flows between buckets). */
struct dplb_flow_ref {
	struct dplb_flow_bucket *bucket;
	uint32_t slot;
};

/* What an expired or reused slot held, for the caller's counters. */
struct dplb_flow_gone {
	uint16_t vip_id;
	uint16_t backend_id;
};

/* The key word of a flow: source address and both ports, in network order
 * as they are on the wire. */
static inline uint64_t dplb_flow_client(uint32_t src_addr, uint16_t src_port, uint16_t dst_port)
{
	return (uint64_t)src_addr | (uint64_t)src_port << 32 | (uint64_t)dst_port << 48;
}

/* Bytes of memory dplb_flow_table_init needs for capacity flows (buckets,
 * then the overflow array), or 0 when capacity is 0 or too large. The
 * memory must be 64-byte aligned. */
size_t dplb_flow_table_size(uint32_t capacity);

/* Set table up on memory (dplb_flow_table_size(capacity) bytes, 64-byte
 * aligned, its contents anything). seed keys the bucket hash. */
void dplb_flow_table_init(struct dplb_flow_table *table, void *memory, uint32_t capacity,
			  uint64_t seed);

/* Timeouts in seconds, indexed by enum dplb_flow_kind, for expiry and slot
 * reuse. */
void dplb_flow_table_set_timeouts(struct dplb_flow_table *table,
				  const uint32_t timeout[DPLB_FLOW_KINDS]);

/* Bytes the table uses. */
size_t dplb_flow_table_memory(const struct dplb_flow_table *table);

/* A keyed hash of (client, vip) from which both buckets are taken, so a
 * key's buckets can be found again from the key alone when it has to move.
 * Two CRC32-C instructions where the CPU has them (a few cycles on every
 * packet), else murmur3's finaliser; either way the seed keys it. */
static inline uint32_t dplb_flow_table_hash(const struct dplb_flow_table *table, uint64_t client,
					    uint16_t vip_id)
{
#if defined(__SSE4_2__)
	return (uint32_t)_mm_crc32_u32((uint32_t)_mm_crc32_u64(table->seed, client),
				       (uint32_t)(table->seed >> 32) ^ vip_id);
#else
	uint64_t x = client ^ table->seed ^ ((uint64_t)vip_id << 23 | (uint64_t)vip_id << 51);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return (uint32_t)(x ^ (x >> 33));
#endif
}

/* Lemire's multiply-shift: a 32-bit value onto [0, n) without a division. */
static inline uint32_t dplb_flow_range(uint32_t value, uint32_t n)
{
	return (uint32_t)(((uint64_t)value * n) >> 32);
}

/* A key's two buckets from its hash: the primary from its high bits, the
 * secondary from the hash multiplied by an odd constant (a bijection, so
 * keys sharing a primary are spread over many secondaries), never the
 * same bucket. */
static inline void dplb_flow_table_buckets(const struct dplb_flow_table *table, uint32_t hash,
					   struct dplb_flow_probe *probe)
{
	const uint32_t n = table->bucket_count;

	probe->primary = dplb_flow_range(hash, n);
	probe->secondary = dplb_flow_range(hash * 0x9e3779b1u, n);
	if (probe->secondary == probe->primary)
		probe->secondary = probe->primary + 1 == n ? 0 : probe->primary + 1;
}

/* Compute where (client, vip_id) lives and start loading its primary
 * bucket: done for a whole burst before any is looked up, so the burst's
 * cache misses overlap. */
static inline void dplb_flow_table_prepare(const struct dplb_flow_table *table,
					   struct dplb_flow_probe *probe, uint64_t client,
					   uint16_t vip_id)
{
	probe->client = client;
	probe->vip_id = vip_id;
	dplb_flow_table_buckets(table, dplb_flow_table_hash(table, client, vip_id), probe);
	__builtin_prefetch(&table->buckets[probe->primary], 1);
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

/*
 * Find probe's flow (prepared). Looks in the secondary bucket only when
 * some key of the primary overflowed there. Returns whether it was found,
 * filling ref.
 */
static inline bool dplb_flow_table_find(const struct dplb_flow_table *table,
					const struct dplb_flow_probe *probe,
					struct dplb_flow_ref *ref)
{
	struct dplb_flow_bucket *bucket = &table->buckets[probe->primary];
	unsigned int mask = dplb_flow_bucket_match(bucket, probe->client, probe->vip_id);

	if (__builtin_expect(mask == 0, 0)) {
		if (table->overflow[probe->primary] == 0)
			return false;
		bucket = &table->buckets[probe->secondary];
		mask = dplb_flow_bucket_match(bucket, probe->client, probe->vip_id);
		if (mask == 0)
			return false;
	}
	ref->bucket = bucket;
	ref->slot = (uint32_t)__builtin_ctz(mask);
	return true;
}

/*
 * Look up count prepared probes: found[i] says whether probes[i] is there,
 * refs[i] where. In passes over the whole burst, so that cache misses
 * overlap: primaries (prefetched by prepare), then the overflow counts of
 * the misses, then the secondaries those counts send us to.
 */
static inline void dplb_flow_table_find_bulk(const struct dplb_flow_table *table,
					     const struct dplb_flow_probe *probes, uint32_t count,
					     struct dplb_flow_ref *refs, bool *found)
{
	uint32_t missed[count > 0 ? count : 1];
	uint32_t misses = 0, seconds = 0;

	for (uint32_t i = 0; i < count; i++) {
		struct dplb_flow_bucket *bucket = &table->buckets[probes[i].primary];
		const unsigned int mask =
			dplb_flow_bucket_match(bucket, probes[i].client, probes[i].vip_id);

		found[i] = mask != 0;
		if (__builtin_expect(mask != 0, 1)) {
			refs[i].bucket = bucket;
			refs[i].slot = (uint32_t)__builtin_ctz(mask);
		} else {
			__builtin_prefetch(&table->overflow[probes[i].primary]);
			missed[misses++] = i;
		}
	}
	for (uint32_t k = 0; k < misses; k++) {
		const uint32_t i = missed[k];

		if (table->overflow[probes[i].primary] != 0) {
			__builtin_prefetch(&table->buckets[probes[i].secondary], 1);
			missed[seconds++] = i;
		}
	}
	for (uint32_t k = 0; k < seconds; k++) {
		const uint32_t i = missed[k];
		struct dplb_flow_bucket *bucket = &table->buckets[probes[i].secondary];
		const unsigned int mask =
			dplb_flow_bucket_match(bucket, probes[i].client, probes[i].vip_id);

		found[i] = mask != 0;
		if (mask != 0) {
			refs[i].bucket = bucket;
			refs[i].slot = (uint32_t)__builtin_ctz(mask);
		}
	}
}

/* Whether ref still holds probe's flow: a ref found earlier in a burst may
 * have been moved or reused by an insert since. */
static inline bool dplb_flow_ref_holds(const struct dplb_flow_ref *ref,
				       const struct dplb_flow_probe *probe)
{
	return ref->bucket->client[ref->slot] == probe->client &&
	       (ref->bucket->meta[ref->slot] & DPLB_FLOW_MATCH_MASK) == probe->vip_id;
}

/*
 * Add probe's flow (prepared; not in the table) with its backend, kind and
 * time now. Takes a free slot in either bucket, else one whose flow has
 * timed out (what it held is written to *gone, and the function returns
 * 2), else moves up to DPLB_FLOW_MAX_MOVES flows to make room. Returns 1
 * (added), 2 (added in place of an expired flow) or 0 (no room: the table
 * is at capacity or the buckets could not be freed), filling ref when
 * added.
 */
int dplb_flow_table_add(struct dplb_flow_table *table, const struct dplb_flow_probe *probe,
			uint16_t backend_id, enum dplb_flow_kind kind, uint32_t now,
			struct dplb_flow_ref *ref, struct dplb_flow_gone *gone);

/* Remove the flow at ref. */
void dplb_flow_table_remove(struct dplb_flow_table *table, const struct dplb_flow_ref *ref);

/*
 * Look at the next `buckets` buckets (wrapping) and remove the flows that
 * have timed out at now, writing what they held to gone (at most gone_max;
 * the walk stops early when gone is full). Returns how many were removed.
 */
uint32_t dplb_flow_table_expire(struct dplb_flow_table *table, uint32_t now, uint32_t buckets,
				struct dplb_flow_gone *gone, uint32_t gone_max);

/* Accessors of the flow at ref. */
static inline uint16_t dplb_flow_backend(const struct dplb_flow_ref *ref)
{
	return ref->bucket->backend[ref->slot];
}

static inline void dplb_flow_set_backend(const struct dplb_flow_ref *ref, uint16_t backend_id)
{
	ref->bucket->backend[ref->slot] = backend_id;
}

static inline uint16_t dplb_flow_vip(const struct dplb_flow_ref *ref)
{
	return ref->bucket->meta[ref->slot] & DPLB_FLOW_VIP_MASK;
}

static inline enum dplb_flow_kind dplb_flow_kind(const struct dplb_flow_ref *ref)
{
	return (enum dplb_flow_kind)((ref->bucket->meta[ref->slot] & DPLB_FLOW_KIND_MASK) >>
				     DPLB_FLOW_KIND_SHIFT);
}

static inline void dplb_flow_set_kind(const struct dplb_flow_ref *ref, enum dplb_flow_kind kind)
{
	uint16_t *meta = &ref->bucket->meta[ref->slot];

	*meta = (uint16_t)((*meta & ~DPLB_FLOW_KIND_MASK) | (uint32_t)kind << DPLB_FLOW_KIND_SHIFT);
}

static inline uint32_t dplb_flow_last_seen(const struct dplb_flow_ref *ref)
{
	return ref->bucket->last_seen[ref->slot];
}

static inline void dplb_flow_touch(const struct dplb_flow_ref *ref, uint32_t now)
{
	ref->bucket->last_seen[ref->slot] = now;
}

/* Whether slot `slot` of bucket holds a flow. */
static inline bool dplb_flow_slot_used(const struct dplb_flow_bucket *bucket, uint32_t slot)
{
	return !(bucket->meta[slot] & DPLB_FLOW_FREE);
}

#endif
