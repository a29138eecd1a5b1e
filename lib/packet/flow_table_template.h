/*
 * The flow table, written once for every address family and instantiated
 * per family, as VPP's clib bihash is (bihash_template.h, included once
 * per key type by bihash_8_8.h, bihash_40_8.h, ...): a family header
 * (flow_table.h for IPv4, flow_table6.h for IPv6) defines the parameters
 * below, its bucket layout and its key operations, then includes this
 * file, which defines the table, its lookups and the declarations of its
 * changes; the family's .c file includes its header and then
 * flow_table_template.c. Cuckoo placement, overflow counts, bulk lookup,
 * slot reuse, the two-move search and the expiry walk thus exist once, and
 * each family's code is still compiled with its key, its slot count and
 * its SIMD compare as constants (no function pointer, no branch on the
 * family): what issue 11 asks of the whole pipeline, VPP lb's node.c
 * model. The design itself (why cuckoo, why one line per lookup, the
 * overflow bytes) is described in flow_table.h.
 *
 * Parameters, defined by the family header before it includes this file
 * (and left defined, as bihash leaves BIHASH_TYPE, so that its .c file and
 * the tests name things through DPLB_FT):
 *   DPLB_FT_PREFIX       name prefix: dplb_flow_ or dplb_flow6_
 *   DPLB_FT_KEY          the key type (the client's half of the 5-tuple)
 *   DPLB_FT_SLOTS        slots per 64-byte bucket
 *   DPLB_FT_SLOTS_NUM    table slots per flow of capacity, as the fraction
 *   DPLB_FT_SLOTS_DEN      NUM / DEN
 * and, before the include, the family's:
 *   struct DPLB_FT(bucket)   one cache line: its keys, however laid out,
 *                            and uint32_t last_seen[], uint16_t meta[],
 *                            uint16_t backend[] of DPLB_FT_SLOTS each
 *   DPLB_FT(slot_client)(bucket, slot), DPLB_FT(slot_set_client)(bucket, slot,
 *   key), DPLB_FT(client_equal)(a, b), DPLB_FT(client_hash)(seed, key, vip_id),
 *   DPLB_FT(bucket_match)(bucket, key, vip_id) (and its plain C reference
 *   DPLB_FT(bucket_match_scalar)): a bit per matching slot.
 *
 * No include guard: each family header includes it once, inside its own.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet/flow_table_common.h"

#define DPLB_FT_CAT2(a, b) a##b
#define DPLB_FT_CAT(a, b) DPLB_FT_CAT2(a, b)
/* A name of the family being instantiated: DPLB_FT(table_find) is
 * dplb_flow_table_find or dplb_flow6_table_find. */
#define DPLB_FT(name) DPLB_FT_CAT(DPLB_FT_PREFIX, name)

_Static_assert(sizeof(struct DPLB_FT(bucket)) == 64, "a bucket is one cache line");
_Static_assert(DPLB_FT_SLOTS <= 8, "a slot mask fits the match functions' bits");

struct DPLB_FT(table) {
	struct DPLB_FT(bucket) * buckets;
	uint8_t *overflow;  /* per bucket: its keys living in their secondary */
	uint64_t *occupied; /* a bit per bucket: it holds a flow (the expiry walk
			     * reads no empty bucket) */
	uint32_t bucket_count;
	uint32_t capacity; /* flows it holds at most */
	uint32_t count;
	uint32_t expire_cursor; /* next bucket DPLB_FT(table_expire) looks at */
	uint64_t seed;
	uint32_t timeout[DPLB_FLOW_KINDS]; /* seconds, by enum dplb_flow_kind */
	uint64_t moves;			   /* entries displaced by inserts, ever */
};

/* Where a key is, or would go: filled by DPLB_FT(table_prepare). */
struct DPLB_FT(probe) {
	DPLB_FT_KEY client;
	uint16_t vip_id;
	uint32_t primary;
	uint32_t secondary;
};

/* A flow in the table: its bucket and slot. Valid until the next insert or
 * removal (an insert may move flows between buckets). */
struct DPLB_FT(ref) {
	struct DPLB_FT(bucket) * bucket;
	uint32_t slot;
};

/* Bytes of memory DPLB_FT(table_init) needs for capacity flows (buckets,
 * then the overflow array, then the occupied bits), or 0 when capacity is
 * 0 or too large. The memory must be 64-byte aligned. */
size_t DPLB_FT(table_size)(uint32_t capacity);

/* Set table up on memory (DPLB_FT(table_size)(capacity) bytes, 64-byte
 * aligned, its contents anything). seed keys the bucket hash. */
void DPLB_FT(table_init)(struct DPLB_FT(table) * table, void *memory, uint32_t capacity,
			 uint64_t seed);

/* Timeouts in seconds, indexed by enum dplb_flow_kind, for expiry and slot
 * reuse. */
void DPLB_FT(table_set_timeouts)(struct DPLB_FT(table) * table,
				 const uint32_t timeout[DPLB_FLOW_KINDS]);

/* Bytes the table uses. */
size_t DPLB_FT(table_memory)(const struct DPLB_FT(table) * table);

/* A keyed hash of (client, vip) from which both buckets are taken, so a
 * key's buckets can be found again from the key alone when it has to move.
 * The family's hash, keyed by the table's seed. */
static inline uint32_t DPLB_FT(table_hash)(const struct DPLB_FT(table) * table, DPLB_FT_KEY client,
					   uint16_t vip_id)
{
	return DPLB_FT(client_hash)(table->seed, client, vip_id);
}

/* A key's two buckets from its hash (DPLB_FLOW_PICK_BUCKETS). */
static inline void DPLB_FT(table_buckets)(const struct DPLB_FT(table) * table, uint32_t hash,
					  struct DPLB_FT(probe) * probe)
{
	const uint32_t n = table->bucket_count;

	DPLB_FLOW_PICK_BUCKETS(hash, n, probe->primary, probe->secondary);
}

/* Compute where (client, vip_id) lives and start loading its primary
 * bucket: done for a whole burst before any is looked up, so the burst's
 * cache misses overlap. */
static inline void DPLB_FT(table_prepare)(const struct DPLB_FT(table) * table,
					  struct DPLB_FT(probe) * probe, DPLB_FT_KEY client,
					  uint16_t vip_id)
{
	probe->client = client;
	probe->vip_id = vip_id;
	DPLB_FT(table_buckets)(table, DPLB_FT(table_hash)(table, client, vip_id), probe);
	__builtin_prefetch(&table->buckets[probe->primary], 1);
}

/*
 * Find probe's flow (prepared). Looks in the secondary bucket only when
 * some key of the primary overflowed there. Returns whether it was found,
 * filling ref.
 */
static inline bool DPLB_FT(table_find)(const struct DPLB_FT(table) * table,
				       const struct DPLB_FT(probe) * probe,
				       struct DPLB_FT(ref) * ref)
{
	struct DPLB_FT(bucket) *bucket = &table->buckets[probe->primary];
	unsigned int mask = DPLB_FT(bucket_match)(bucket, probe->client, probe->vip_id);

	if (__builtin_expect(mask == 0, 0)) {
		if (table->overflow[probe->primary] == 0)
			return false;
		bucket = &table->buckets[probe->secondary];
		mask = DPLB_FT(bucket_match)(bucket, probe->client, probe->vip_id);
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
static inline void DPLB_FT(table_find_bulk)(const struct DPLB_FT(table) * table,
					    const struct DPLB_FT(probe) * probes, uint32_t count,
					    struct DPLB_FT(ref) * refs, bool *found)
{
	uint32_t missed[count > 0 ? count : 1];
	uint32_t misses = 0, seconds = 0;

	for (uint32_t i = 0; i < count; i++) {
		struct DPLB_FT(bucket) *bucket = &table->buckets[probes[i].primary];
		const unsigned int mask =
			DPLB_FT(bucket_match)(bucket, probes[i].client, probes[i].vip_id);

		found[i] = mask != 0;
		if (__builtin_expect(mask != 0, 1)) {
			refs[i].bucket = bucket;
			refs[i].slot = (uint32_t)__builtin_ctz(mask);
		} else {
			__builtin_prefetch(&table->overflow[probes[i].primary]);
			/* A miss is most often a new flow, whose add sets its
			 * bucket's occupied bit. */
			__builtin_prefetch(&table->occupied[probes[i].primary / 64], 1);
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
		struct DPLB_FT(bucket) *bucket = &table->buckets[probes[i].secondary];
		const unsigned int mask =
			DPLB_FT(bucket_match)(bucket, probes[i].client, probes[i].vip_id);

		found[i] = mask != 0;
		if (mask != 0) {
			refs[i].bucket = bucket;
			refs[i].slot = (uint32_t)__builtin_ctz(mask);
		}
	}
}

/* Whether ref still holds probe's flow: a ref found earlier in a burst may
 * have been moved or reused by an insert since. */
static inline bool DPLB_FT(ref_holds)(const struct DPLB_FT(ref) * ref,
				      const struct DPLB_FT(probe) * probe)
{
	return DPLB_FT(client_equal)(DPLB_FT(slot_client)(ref->bucket, ref->slot), probe->client) &&
	       (ref->bucket->meta[ref->slot] & DPLB_FLOW_MATCH_MASK) == probe->vip_id;
}

/* A bit per free slot of bucket. */
static inline unsigned int DPLB_FT(free_slots)(const struct DPLB_FT(bucket) * bucket)
{
	unsigned int mask = 0;

	for (uint32_t s = 0; s < DPLB_FT_SLOTS; s++)
		mask |= (unsigned int)((bucket->meta[s] & DPLB_FLOW_FREE) != 0) << s;
	return mask;
}

/* Write probe's flow into slot of bucket `index`, free; secondary says
 * whether index is the flow's secondary bucket (its primary's overflow
 * count is the caller's to raise). */
static inline void DPLB_FT(write_slot)(struct DPLB_FT(table) * table, uint32_t index, uint32_t slot,
				       const struct DPLB_FT(probe) * probe, uint16_t backend_id,
				       enum dplb_flow_kind kind, uint32_t now, bool secondary)
{
	struct DPLB_FT(bucket) *bucket = &table->buckets[index];

	table->occupied[index / 64] |= UINT64_C(1) << (index % 64);
	DPLB_FT(slot_set_client)(bucket, slot, probe->client);
	bucket->last_seen[slot] = now;
	bucket->backend[slot] = backend_id;
	bucket->meta[slot] = (uint16_t)(probe->vip_id | (uint32_t)kind << DPLB_FLOW_KIND_SHIFT |
					(secondary ? DPLB_FLOW_SECONDARY : 0));
}

/* DPLB_FT(table_add) in full: a free slot in either bucket, an expired
 * flow's, or room made by moves. */
int DPLB_FT(table_add_search)(struct DPLB_FT(table) * table, const struct DPLB_FT(probe) * probe,
			      uint16_t backend_id, enum dplb_flow_kind kind, uint32_t now,
			      struct DPLB_FT(ref) * ref, struct dplb_flow_gone *gone);

/*
 * Add probe's flow (prepared; not in the table) with its backend, kind and
 * time now. Takes a free slot in either bucket, else one whose flow has
 * timed out (what it held is written to *gone, and the function returns
 * 2), else moves up to DPLB_FLOW_MAX_MOVES flows to make room. Returns 1
 * (added), 2 (added in place of an expired flow) or 0 (no room: the table
 * is at capacity or the buckets could not be freed), filling ref when
 * added.
 *
 * Inline for the common case, a free slot in the primary bucket (the line
 * the lookup just read); the rest is a call. With the expiry walk's
 * clear_slot also inlined, a flood of new flows cost 6% less than with
 * both as calls (dplb-bench flood, UDP: 228 -> 213 cycles a packet,
 * medians of 6 alternating invocations).
 */
static inline int DPLB_FT(table_add)(struct DPLB_FT(table) * table,
				     const struct DPLB_FT(probe) * probe, uint16_t backend_id,
				     enum dplb_flow_kind kind, uint32_t now,
				     struct DPLB_FT(ref) * ref, struct dplb_flow_gone *gone)
{
	struct DPLB_FT(bucket) *bucket = &table->buckets[probe->primary];
	const unsigned int free = DPLB_FT(free_slots)(bucket);

	if (__builtin_expect(free == 0 || table->count >= table->capacity, 0))
		return DPLB_FT(table_add_search)(table, probe, backend_id, kind, now, ref, gone);
	ref->bucket = bucket;
	ref->slot = (uint32_t)__builtin_ctz(free);
	DPLB_FT(write_slot)(table, probe->primary, ref->slot, probe, backend_id, kind, now, false);
	table->count++;
	return 1;
}

/* Remove the flow at ref. */
void DPLB_FT(table_remove)(struct DPLB_FT(table) * table, const struct DPLB_FT(ref) * ref);

/*
 * Look at the next `buckets` buckets (wrapping) and remove the flows that
 * have timed out at now, writing what they held to gone (at most gone_max;
 * the walk stops early when gone is full). Returns how many were removed.
 * A bucket without flows counts as looked at without its line being read
 * (the occupied bits say so).
 */
uint32_t DPLB_FT(table_expire)(struct DPLB_FT(table) * table, uint32_t now, uint32_t buckets,
			       struct dplb_flow_gone *gone, uint32_t gone_max);

/* Accessors of the flow at ref. */
static inline uint16_t DPLB_FT(backend)(const struct DPLB_FT(ref) * ref)
{
	return ref->bucket->backend[ref->slot];
}

static inline void DPLB_FT(set_backend)(const struct DPLB_FT(ref) * ref, uint16_t backend_id)
{
	ref->bucket->backend[ref->slot] = backend_id;
}

static inline uint16_t DPLB_FT(vip)(const struct DPLB_FT(ref) * ref)
{
	return ref->bucket->meta[ref->slot] & DPLB_FLOW_VIP_MASK;
}

static inline enum dplb_flow_kind DPLB_FT(kind)(const struct DPLB_FT(ref) * ref)
{
	return (enum dplb_flow_kind)((ref->bucket->meta[ref->slot] & DPLB_FLOW_KIND_MASK) >>
				     DPLB_FLOW_KIND_SHIFT);
}

static inline void DPLB_FT(set_kind)(const struct DPLB_FT(ref) * ref, enum dplb_flow_kind kind)
{
	uint16_t *meta = &ref->bucket->meta[ref->slot];

	*meta = (uint16_t)((*meta & ~DPLB_FLOW_KIND_MASK) | (uint32_t)kind << DPLB_FLOW_KIND_SHIFT);
}

static inline uint32_t DPLB_FT(last_seen)(const struct DPLB_FT(ref) * ref)
{
	return ref->bucket->last_seen[ref->slot];
}

/* Written only when it changes: most packets of a flow come within the
 * second of the one before, and a bucket left clean is not written back
 * to memory when it leaves the cache (1M and more flows). */
static inline void DPLB_FT(touch)(const struct DPLB_FT(ref) * ref, uint32_t now)
{
	uint32_t *last_seen = &ref->bucket->last_seen[ref->slot];

	if (*last_seen != now)
		*last_seen = now;
}

/* Whether slot `slot` of bucket holds a flow. */
static inline bool DPLB_FT(slot_used)(const struct DPLB_FT(bucket) * bucket, uint32_t slot)
{
	return !(bucket->meta[slot] & DPLB_FLOW_FREE);
}
