/*
 * The flow table's set-up and the operations that change it: add (with
 * slot reuse and cuckoo moves), remove and expire, for the family whose
 * header was included last (flow_table_template.h says how): flow_table.c
 * includes it for IPv4, flow_table6.c for IPv6. Lookups, and an add into
 * a free slot of the primary bucket, are inline in flow_table_template.h,
 * on the worker's hot path. Not compiled on its own.
 */
#include <string.h>

#define OVERFLOW_SATURATED UINT8_MAX

static uint32_t bucket_count_for(uint32_t capacity)
{
	/* DPLB_FT_SLOTS_NUM / DPLB_FT_SLOTS_DEN slots a flow, rounded up to
	 * whole buckets. */
	const uint64_t slots = (uint64_t)capacity * DPLB_FT_SLOTS_NUM / DPLB_FT_SLOTS_DEN + 1;
	const uint64_t buckets = (slots + DPLB_FT_SLOTS - 1) / DPLB_FT_SLOTS;

	/* Two buckets at least: a key's two candidates differ. */
	return buckets < 2 ? 2 : buckets > UINT32_MAX / 2 ? 0 : (uint32_t)buckets;
}

static size_t overflow_bytes(uint32_t buckets)
{
	return ((size_t)buckets + 63) & ~(size_t)63;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* The occupied bits of buckets buckets, in whole lines. */
static size_t occupied_bytes(uint32_t buckets)
{
	return (((size_t)buckets + 511) / 512) * 64;
}

size_t DPLB_FT(table_size)(uint32_t capacity)
{
	const uint32_t buckets = bucket_count_for(capacity);

	if (capacity == 0 || buckets == 0)
		return 0;
	return (size_t)buckets * sizeof(struct DPLB_FT(bucket)) + overflow_bytes(buckets) +
	       occupied_bytes(buckets);
}

void DPLB_FT(table_init)(struct DPLB_FT(table) * table, void *memory, uint32_t capacity,
			 uint64_t seed)
{
	memset(table, 0, sizeof(*table));
	table->bucket_count = bucket_count_for(capacity);
	table->capacity = capacity;
	table->seed = seed;
	table->buckets = memory;
	table->overflow = (uint8_t *)memory + (size_t)table->bucket_count * sizeof(*table->buckets);
	table->occupied = (uint64_t *)(table->overflow + overflow_bytes(table->bucket_count));
	for (uint32_t b = 0; b < table->bucket_count; b++) {
		struct DPLB_FT(bucket) *bucket = &table->buckets[b];

		memset(bucket, 0, sizeof(*bucket));
		for (uint32_t s = 0; s < DPLB_FT_SLOTS; s++)
			bucket->meta[s] = DPLB_FLOW_FREE;
	}
	memset(table->overflow, 0, overflow_bytes(table->bucket_count));
	memset(table->occupied, 0, occupied_bytes(table->bucket_count));
	/* Nothing expires until the owner says when. */
	for (uint32_t k = 0; k < DPLB_FLOW_KINDS; k++)
		table->timeout[k] = UINT32_MAX;
}

void DPLB_FT(table_set_timeouts)(struct DPLB_FT(table) * table,
				 const uint32_t timeout[DPLB_FLOW_KINDS])
{
	memcpy(table->timeout, timeout, sizeof(table->timeout));
}

size_t DPLB_FT(table_memory)(const struct DPLB_FT(table) * table)
{
	return (size_t)table->bucket_count * sizeof(*table->buckets) +
	       overflow_bytes(table->bucket_count) + occupied_bytes(table->bucket_count);
}

static uint32_t bucket_index(const struct DPLB_FT(table) * table,
			     const struct DPLB_FT(bucket) * bucket)
{
	return (uint32_t)(bucket - table->buckets);
}

/* The candidate buckets of the flow stored at bucket/slot. */
static void probe_of_slot(const struct DPLB_FT(table) * table,
			  const struct DPLB_FT(bucket) * bucket, uint32_t slot,
			  struct DPLB_FT(probe) * probe)
{
	/* As DPLB_FT(table_prepare), without the prefetch. */
	probe->client = DPLB_FT(slot_client)(bucket, slot);
	probe->vip_id = bucket->meta[slot] & DPLB_FLOW_VIP_MASK;
	DPLB_FT(table_buckets)
	(table, DPLB_FT(table_hash)(table, probe->client, probe->vip_id), probe);
}

static void overflow_up(struct DPLB_FT(table) * table, uint32_t primary)
{
	if (table->overflow[primary] != OVERFLOW_SATURATED)
		table->overflow[primary]++;
}

/* A saturated count no longer knows how many there are: it stays. */
static void overflow_down(struct DPLB_FT(table) * table, uint32_t primary)
{
	if (table->overflow[primary] != OVERFLOW_SATURATED)
		table->overflow[primary]--;
}

static bool slot_expired(const struct DPLB_FT(table) * table, const struct DPLB_FT(bucket) * bucket,
			 uint32_t slot, uint32_t now)
{
	const uint16_t meta = bucket->meta[slot];

	return !(meta & DPLB_FLOW_FREE) &&
	       now - bucket->last_seen[slot] >=
		       table->timeout[(meta & DPLB_FLOW_KIND_MASK) >> DPLB_FLOW_KIND_SHIFT];
}

static int expired_slot(const struct DPLB_FT(table) * table, const struct DPLB_FT(bucket) * bucket,
			uint32_t now)
{
	for (uint32_t s = 0; s < DPLB_FT_SLOTS; s++)
		if (slot_expired(table, bucket, s, now))
			return (int)s;
	return -1;
}

/* Empty bucket/slot, keeping the overflow count of the flow's primary.
 * Inlined into the expiry walk, as the add's common case is into the
 * worker's new-flow path (flow_table_template.h, DPLB_FT(table_add), says
 * what both gained). */
static inline __attribute__((always_inline)) void clear_slot(struct DPLB_FT(table) * table,
							     struct DPLB_FT(bucket) * bucket,
							     uint32_t slot)
{
	if (bucket->meta[slot] & DPLB_FLOW_SECONDARY) {
		struct DPLB_FT(probe) home;

		probe_of_slot(table, bucket, slot, &home);
		overflow_down(table, home.primary);
	}
	bucket->meta[slot] = DPLB_FLOW_FREE;
	DPLB_FT(slot_set_client)(bucket, slot, (DPLB_FT_KEY){ 0 });
	if (DPLB_FT(free_slots)(bucket) == (1u << DPLB_FT_SLOTS) - 1) {
		const uint32_t index = bucket_index(table, bucket);

		table->occupied[index / 64] &= ~(UINT64_C(1) << (index % 64));
	}
}

/* Write probe's flow into slot of bucket `index`, free, counting it in its
 * primary's overflow when index is its secondary. */
static void fill_slot(struct DPLB_FT(table) * table, uint32_t index, uint32_t slot,
		      const struct DPLB_FT(probe) * probe, uint16_t backend_id,
		      enum dplb_flow_kind kind, uint32_t now)
{
	const bool secondary = index != probe->primary;

	if (secondary)
		overflow_up(table, probe->primary);
	DPLB_FT(write_slot)(table, index, slot, probe, backend_id, kind, now, secondary);
}

/* Move the flow at from/from_slot to the free to/to_slot, its other
 * candidate bucket. */
static void move_flow(struct DPLB_FT(table) * table, struct DPLB_FT(bucket) * from,
		      uint32_t from_slot, struct DPLB_FT(bucket) * to, uint32_t to_slot)
{
	struct DPLB_FT(probe) home;

	probe_of_slot(table, from, from_slot, &home);
	const enum dplb_flow_kind kind = (enum dplb_flow_kind)(
		(from->meta[from_slot] & DPLB_FLOW_KIND_MASK) >> DPLB_FLOW_KIND_SHIFT);
	const uint32_t last_seen = from->last_seen[from_slot];
	const uint16_t backend_id = from->backend[from_slot];

	clear_slot(table, from, from_slot);
	fill_slot(table, bucket_index(table, to), to_slot, &home, backend_id, kind, last_seen);
	table->moves++;
}

/* The candidate bucket of the flow at bucket/slot that it is not in. */
static uint32_t other_bucket(const struct DPLB_FT(table) * table,
			     const struct DPLB_FT(bucket) * bucket, uint32_t slot)
{
	struct DPLB_FT(probe) home;

	probe_of_slot(table, bucket, slot, &home);
	return bucket_index(table, bucket) == home.primary ? home.secondary : home.primary;
}

/*
 * Free a slot of bucket `index` with exactly `moves` moves: one of its
 * flows to its other bucket (1), or a flow of that other bucket on to its
 * own other bucket first (2). Returns the freed slot or -1.
 */
static int make_room(struct DPLB_FT(table) * table, uint32_t index, uint32_t moves)
{
	struct DPLB_FT(bucket) *bucket = &table->buckets[index];

	for (uint32_t s = 0; s < DPLB_FT_SLOTS && moves == 1; s++) {
		struct DPLB_FT(bucket) *alt = &table->buckets[other_bucket(table, bucket, s)];
		const unsigned int room = DPLB_FT(free_slots)(alt);

		if (room != 0) {
			move_flow(table, bucket, s, alt, (uint32_t)__builtin_ctz(room));
			return (int)s;
		}
	}
	for (uint32_t s = 0; s < DPLB_FT_SLOTS && moves == 2; s++) {
		struct DPLB_FT(bucket) *alt = &table->buckets[other_bucket(table, bucket, s)];

		for (uint32_t t = 0; t < DPLB_FT_SLOTS; t++) {
			struct DPLB_FT(bucket) *beyond =
				&table->buckets[other_bucket(table, alt, t)];
			const unsigned int room = DPLB_FT(free_slots)(beyond);

			if (room == 0)
				continue;
			move_flow(table, alt, t, beyond, (uint32_t)__builtin_ctz(room));
			move_flow(table, bucket, s, alt, t);
			return (int)s;
		}
	}
	return -1;
}

int DPLB_FT(table_add_search)(struct DPLB_FT(table) * table, const struct DPLB_FT(probe) * probe,
			      uint16_t backend_id, enum dplb_flow_kind kind, uint32_t now,
			      struct DPLB_FT(ref) * ref, struct dplb_flow_gone *gone)
{
	const uint32_t candidates[2] = { probe->primary, probe->secondary };
	const bool room = table->count < table->capacity;

	/* Per bucket, primary first: a free slot, else an expired flow's. */
	for (uint32_t c = 0; c < 2; c++) {
		struct DPLB_FT(bucket) *bucket = &table->buckets[candidates[c]];
		const unsigned int free = room ? DPLB_FT(free_slots)(bucket) : 0;
		int slot = free != 0 ? __builtin_ctz(free) : -1;
		int added = 1;

		if (slot < 0) {
			slot = expired_slot(table, bucket, now);
			if (slot < 0)
				continue;
			gone->vip_id = bucket->meta[slot] & DPLB_FLOW_VIP_MASK;
			gone->backend_id = bucket->backend[slot];
			clear_slot(table, bucket, (uint32_t)slot);
			table->count--;
			added = 2;
		}
		fill_slot(table, candidates[c], (uint32_t)slot, probe, backend_id, kind, now);
		table->count++;
		ref->bucket = bucket;
		ref->slot = (uint32_t)slot;
		return added;
	}
	if (!room)
		return 0;
	/* Breadth first: every one-move way, from either bucket, before any
	 * two-move one. */
	for (uint32_t moves = 1; moves <= DPLB_FLOW_MAX_MOVES; moves++) {
		for (uint32_t c = 0; c < 2; c++) {
			const int slot = make_room(table, candidates[c], moves);

			if (slot < 0)
				continue;
			fill_slot(table, candidates[c], (uint32_t)slot, probe, backend_id, kind,
				  now);
			table->count++;
			ref->bucket = &table->buckets[candidates[c]];
			ref->slot = (uint32_t)slot;
			return 1;
		}
	}
	return 0;
}

void DPLB_FT(table_remove)(struct DPLB_FT(table) * table, const struct DPLB_FT(ref) * ref)
{
	if (!DPLB_FT(slot_used)(ref->bucket, ref->slot))
		return;
	clear_slot(table, ref->bucket, ref->slot);
	table->count--;
}

/* How far ahead of the expiry walk its occupied buckets are prefetched: a
 * word of occupied bits, far enough for the lines to arrive in time (in
 * dplb-bench's IPv6 flood 32 hid a little less of the misses, 128 and 256
 * no more). */
#define EXPIRE_AHEAD 64

/* Start loading the occupied buckets among count buckets from `from`. */
static void prefetch_occupied(const struct DPLB_FT(table) * table, uint32_t from, uint32_t count)
{
	while (count > 0) {
		const uint32_t bit = from % 64;
		const uint32_t span = min_u32(min_u32(64 - bit, count), table->bucket_count - from);
		uint64_t bits = table->occupied[from / 64] >> bit;

		if (span < 64)
			bits &= (UINT64_C(1) << span) - 1;
		for (; bits != 0; bits &= bits - 1)
			__builtin_prefetch(&table->buckets[from + (uint32_t)__builtin_ctzll(bits)],
					   1);
		from += span;
		if (from == table->bucket_count)
			from = 0;
		count -= span;
	}
}

uint32_t DPLB_FT(table_expire)(struct DPLB_FT(table) * table, uint32_t now, uint32_t buckets,
			       struct dplb_flow_gone *gone, uint32_t gone_max)
{
	uint32_t cursor = table->expire_cursor;
	uint32_t removed = 0;

	if (table->count == 0)
		return 0;
	/*
	 * A word of occupied bits at a time: an empty bucket is passed over
	 * without its line being read, so the walk costs what the table holds
	 * rather than its size. Reading every line was most of what the walk
	 * cost, and most buckets are empty in a table below its capacity
	 * (IPv6's, 2 slots a bucket, is 40% full even at capacity). The
	 * occupied buckets EXPIRE_AHEAD further on are prefetched meanwhile:
	 * once empty lines are skipped the hardware prefetcher no longer
	 * streams the walk, and each line read would be a whole miss.
	 */
	for (uint32_t left = buckets; left > 0;) {
		const uint32_t bit = cursor % 64;
		const uint32_t span =
			min_u32(min_u32(64 - bit, left), table->bucket_count - cursor);
		uint64_t bits = table->occupied[cursor / 64] >> bit;

		if (span < 64)
			bits &= (UINT64_C(1) << span) - 1;
		prefetch_occupied(table, (cursor + EXPIRE_AHEAD) % table->bucket_count, span);
		for (; bits != 0; bits &= bits - 1) {
			const uint32_t index = cursor + (uint32_t)__builtin_ctzll(bits);
			struct DPLB_FT(bucket) *bucket = &table->buckets[index];

			for (uint32_t s = 0; s < DPLB_FT_SLOTS; s++) {
				if (!slot_expired(table, bucket, s, now))
					continue;
				/* gone is full: the next call starts at this bucket. */
				if (removed == gone_max) {
					cursor = index;
					goto out;
				}
				gone[removed].vip_id = bucket->meta[s] & DPLB_FLOW_VIP_MASK;
				gone[removed].backend_id = bucket->backend[s];
				removed++;
				clear_slot(table, bucket, s);
				table->count--;
			}
		}
		cursor += span;
		if (cursor == table->bucket_count)
			cursor = 0;
		left -= span;
	}
out:
	table->expire_cursor = cursor;
	return removed;
}
