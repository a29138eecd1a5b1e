/*
 * Unit tests for the per-worker flow table (lib/packet/flow_table.c), under an EAL
 * without hugepages.
 *
 * Keys come from a fixed-seed generator; every expectation (positions,
 * counts, hashes) is computed from what the test itself inserted or from an
 * independent reference, never pasted from an earlier run. The flow hash is
 * checked against a bitwise CRC32-C written here, because Maglev picks
 * depend on it and every dplb instance behind ECMP must agree on it.
 * Keys built by the worker itself are checked in test_worker.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <rte_malloc.h>

#include "dpdk_test.h"
#include "packet/flow_table.h"

static void setup(void)
{
	test_eal_init(NULL);
}

static void teardown(void)
{
	test_eal_fini();
}

TestSuite(flow_table, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Distinct keys for i = 0..: the source port and address carry i. */
static struct dplb_flow_key make_key(uint32_t i)
{
	struct dplb_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src_addr = 0x0a000000u + (i >> 16);
	key.dst_addr = 0xc0a80064u;
	key.src_port = (uint16_t)i;
	key.dst_port = 80;
	key.protocol = (i & 1) ? 17 : 6;
	return key;
}

static struct dplb_flow_key random_key(uint64_t *seed)
{
	struct dplb_flow_key key;
	const uint64_t a = splitmix64(seed), b = splitmix64(seed);

	memset(&key, 0, sizeof(key));
	key.src_addr = (uint32_t)a;
	key.dst_addr = (uint32_t)(a >> 32);
	key.src_port = (uint16_t)b;
	key.dst_port = (uint16_t)(b >> 16);
	key.protocol = (b >> 32) & 1 ? 17 : 6;
	return key;
}

static struct dplb_flow_entry *insert(struct dplb_flow_table *t, const struct dplb_flow_key *k)
{
	return dplb_flow_table_insert(t, k, dplb_flow_hash(k));
}

static int32_t lookup(const struct dplb_flow_table *t, const struct dplb_flow_key *k)
{
	return rte_hash_lookup_with_hash(t->hash, k, dplb_flow_hash(k));
}

/* ---- create / destroy ------------------------------------------------- */

Test(flow_table, create_and_destroy)
{
	struct dplb_flow_table t;

	cr_assert_eq(dplb_flow_table_create(&t, "ft_create", 1024, SOCKET_ID_ANY), 0);
	cr_assert_not_null(t.hash);
	cr_assert_not_null(t.entries);
	cr_assert_eq(t.capacity, 1024);
	cr_assert_eq(t.count, 0);
	cr_assert_eq(t.scan_cursor, 0);
	for (uint32_t i = 0; i < t.capacity; i++)
		cr_assert_eq(t.entries[i].backend_id, DPLB_FLOW_EMPTY, "entry %u not empty", i);
	cr_assert_eq(rte_hash_count(t.hash), 0);
	dplb_flow_table_destroy(&t);
	cr_assert_null(t.hash);
	cr_assert_null(t.entries);
	cr_assert_eq(t.capacity, 0);

	/* The name is free again once destroyed. */
	cr_assert_eq(dplb_flow_table_create(&t, "ft_create", 1024, SOCKET_ID_ANY), 0);
	dplb_flow_table_destroy(&t);
}

Test(flow_table, create_rejects_duplicate_name_and_bad_capacity)
{
	struct dplb_flow_table a, b, c;
	const struct dplb_flow_key key = make_key(1);

	cr_assert_eq(dplb_flow_table_create(&a, "ft_same", 1024, SOCKET_ID_ANY), 0);
	cr_assert_lt(dplb_flow_table_create(&b, "ft_same", 1024, SOCKET_ID_ANY), 0);
	cr_assert_null(b.hash);
	cr_assert_null(b.entries);
	/* rte_hash refuses fewer entries than one bucket holds. */
	cr_assert_lt(dplb_flow_table_create(&c, "ft_zero", 0, SOCKET_ID_ANY), 0);
	cr_assert_null(c.hash);
	/* The first table is unharmed. */
	cr_assert_not_null(insert(&a, &key));
	cr_assert_geq(lookup(&a, &key), 0);
	dplb_flow_table_destroy(&a);
}

/* ---- insert and bulk lookup ------------------------------------------- */

#define MANY 3000u

Test(flow_table, insert_then_bulk_lookup_finds_every_key)
{
	static struct dplb_flow_key keys[MANY];
	static int32_t inserted_at[MANY];
	struct dplb_flow_table t;
	uint64_t seed = 42;
	uint8_t *seen;

	cr_assert_eq(dplb_flow_table_create(&t, "ft_bulk", 4096, SOCKET_ID_ANY), 0);
	seen = calloc(t.capacity, 1);
	cr_assert_not_null(seen);
	for (uint32_t i = 0; i < MANY; i++) {
		keys[i] = random_key(&seed);
		struct dplb_flow_entry *e = insert(&t, &keys[i]);

		cr_assert_not_null(e, "insert %u failed", i);
		cr_assert_eq(e->backend_id, DPLB_FLOW_EMPTY, "key %u new but entry in use", i);
		inserted_at[i] = (int32_t)(e - t.entries);
		cr_assert(inserted_at[i] >= 0 && (uint32_t)inserted_at[i] < t.capacity);
		cr_assert_eq(seen[inserted_at[i]], 0, "position %d handed out twice",
			     inserted_at[i]);
		seen[inserted_at[i]] = 1;
		e->backend_id = i;
		cr_assert_eq(t.count, i + 1);
	}
	free(seen);

	/* Bulk lookups, in bursts as the worker makes them. */
	for (uint32_t first = 0; first < MANY; first += 32) {
		const uint32_t n = RTE_MIN(32u, MANY - first);
		const void *pointers[32];
		uint32_t hashes[32];
		int32_t positions[32];

		for (uint32_t j = 0; j < n; j++) {
			pointers[j] = &keys[first + j];
			hashes[j] = dplb_flow_hash(&keys[first + j]);
		}
		cr_assert_eq(rte_hash_lookup_with_hash_bulk(t.hash, pointers, hashes, n, positions),
			     0);
		for (uint32_t j = 0; j < n; j++) {
			cr_assert_eq(positions[j], inserted_at[first + j],
				     "key %u at %d, inserted at %d", first + j, positions[j],
				     inserted_at[first + j]);
			cr_assert_eq(t.entries[positions[j]].backend_id, first + j);
		}
	}

	/* Keys never inserted miss, in bulk too. */
	const void *pointers[32];
	struct dplb_flow_key absent[32];
	uint32_t hashes[32];
	int32_t positions[32];
	for (uint32_t j = 0; j < 32; j++) {
		absent[j] = random_key(&seed);
		pointers[j] = &absent[j];
		hashes[j] = dplb_flow_hash(&absent[j]);
	}
	cr_assert_eq(rte_hash_lookup_with_hash_bulk(t.hash, pointers, hashes, 32, positions), 0);
	for (uint32_t j = 0; j < 32; j++)
		cr_assert_eq(positions[j], -ENOENT, "absent key %u found at %d", j, positions[j]);
	dplb_flow_table_destroy(&t);
}

Test(flow_table, insert_twice_returns_the_same_entry)
{
	struct dplb_flow_table t;
	const struct dplb_flow_key key = make_key(7), other = make_key(8);

	cr_assert_eq(dplb_flow_table_create(&t, "ft_twice", 1024, SOCKET_ID_ANY), 0);
	struct dplb_flow_entry *first = insert(&t, &key);
	cr_assert_not_null(first);
	cr_assert_eq(first->backend_id, DPLB_FLOW_EMPTY);
	cr_assert_eq(t.count, 1);
	first->backend_id = 5;
	first->last_seen = 9;

	struct dplb_flow_entry *second = insert(&t, &key);
	cr_assert_eq(second, first);
	cr_assert_neq(second->backend_id, DPLB_FLOW_EMPTY, "second insert looks new");
	cr_assert_eq(second->backend_id, 5);
	cr_assert_eq(second->last_seen, 9);
	cr_assert_eq(t.count, 1, "count grew on a repeated insert");

	/* Another key gets another entry. */
	struct dplb_flow_entry *third = insert(&t, &other);
	cr_assert_not_null(third);
	cr_assert_neq(third, first);
	cr_assert_eq(t.count, 2);
	dplb_flow_table_destroy(&t);
}

/* ---- remove ----------------------------------------------------------- */

Test(flow_table, remove_frees_the_slot)
{
	struct dplb_flow_table t;
	struct dplb_flow_key keys[3];
	int32_t positions[3];

	cr_assert_eq(dplb_flow_table_create(&t, "ft_remove", 1024, SOCKET_ID_ANY), 0);
	for (uint32_t i = 0; i < 3; i++) {
		keys[i] = make_key(100 + i);
		struct dplb_flow_entry *e = insert(&t, &keys[i]);
		cr_assert_not_null(e);
		e->backend_id = i;
		positions[i] = (int32_t)(e - t.entries);
	}
	cr_assert_eq(t.count, 3);

	dplb_flow_table_remove(&t, positions[1]);
	cr_assert_eq(t.entries[positions[1]].backend_id, DPLB_FLOW_EMPTY);
	cr_assert_eq(t.count, 2);
	cr_assert_eq(rte_hash_count(t.hash), 2);
	cr_assert_eq(lookup(&t, &keys[1]), -ENOENT);
	cr_assert_eq(lookup(&t, &keys[0]), positions[0]);
	cr_assert_eq(lookup(&t, &keys[2]), positions[2]);
	cr_assert_eq(t.entries[positions[0]].backend_id, 0);
	cr_assert_eq(t.entries[positions[2]].backend_id, 2);

	/* Removing a free position again must not count twice. */
	dplb_flow_table_remove(&t, positions[1]);
	cr_assert_eq(t.count, 2);

	/* The key can come back, as a new flow. */
	struct dplb_flow_entry *again = insert(&t, &keys[1]);
	cr_assert_not_null(again);
	cr_assert_eq(again->backend_id, DPLB_FLOW_EMPTY);
	cr_assert_eq(t.count, 3);
	cr_assert_eq(lookup(&t, &keys[1]), (int32_t)(again - t.entries));

	/* Removing everything empties the table. */
	for (uint32_t i = 0; i < 3; i++)
		dplb_flow_table_remove(&t, lookup(&t, &keys[i]));
	cr_assert_eq(t.count, 0);
	cr_assert_eq(rte_hash_count(t.hash), 0);
	for (uint32_t i = 0; i < t.capacity; i++)
		cr_assert_eq(t.entries[i].backend_id, DPLB_FLOW_EMPTY);
	dplb_flow_table_destroy(&t);
}

/* ---- a full table ----------------------------------------------------- */

Test(flow_table, full_table_returns_null)
{
	const uint32_t capacities[] = { 64, 100, 1024 };

	for (uint32_t c = 0; c < RTE_DIM(capacities); c++) {
		struct dplb_flow_table t;
		char name[32];
		uint32_t inserted = 0, i;
		struct dplb_flow_entry *e = NULL;

		snprintf(name, sizeof(name), "ft_full_%u", capacities[c]);
		cr_assert_eq(dplb_flow_table_create(&t, name, capacities[c], SOCKET_ID_ANY), 0);
		for (i = 0; i < 4 * t.capacity; i++) {
			const struct dplb_flow_key key = make_key(i);

			e = insert(&t, &key);
			if (e == NULL)
				break;
			cr_assert_eq(e->backend_id, DPLB_FLOW_EMPTY, "distinct key %u found in use",
				     i);
			cr_assert(e >= t.entries && e < t.entries + t.capacity,
				  "entry outside the array");
			e->backend_id = i;
			inserted++;
			cr_assert_leq(t.count, t.capacity, "count %u beyond capacity %u", t.count,
				      t.capacity);
		}
		cr_assert_null(e, "capacity %u: %u distinct keys all fit", t.capacity, i);
		cr_assert_eq(t.count, inserted);
		cr_assert_eq(rte_hash_count(t.hash), (int32_t)inserted);
		/* Cuckoo hashing fills most of its room before it gives up. */
		cr_assert_geq(inserted, t.capacity / 2, "capacity %u full after %u", t.capacity,
			      inserted);

		/* A failed insert leaves nothing behind. */
		const struct dplb_flow_key refused = make_key(i);
		cr_assert_eq(lookup(&t, &refused), -ENOENT);
		cr_assert_null(insert(&t, &refused));
		cr_assert_eq(t.count, inserted);

		/* Keys already in still insert (as existing) when full. */
		const struct dplb_flow_key old = make_key(0);
		e = insert(&t, &old);
		cr_assert_not_null(e);
		cr_assert_eq(e->backend_id, 0);
		cr_assert_eq(t.count, inserted);

		/* Room made by a removal can be used again by the same key. */
		dplb_flow_table_remove(&t, lookup(&t, &old));
		cr_assert_eq(t.count, inserted - 1);
		cr_assert_not_null(insert(&t, &old));
		cr_assert_eq(t.count, inserted);
		dplb_flow_table_destroy(&t);
	}
}

/* ---- the flow hash ---------------------------------------------------- */

/* CRC32-C (Castagnoli, reflected polynomial 0x82f63b78) one bit at a time,
 * without the customary pre- and post-inversion: what the SSE4.2 crc32
 * instruction and rte_hash_crc compute. */
static uint32_t crc32c_reference(uint32_t crc, const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		crc ^= bytes[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return crc;
}

/* The two key words in order, each least significant byte first. */
static uint32_t flow_hash_reference(const struct dplb_flow_key *key)
{
	uint8_t bytes[16];

	for (int w = 0; w < 2; w++)
		for (int b = 0; b < 8; b++)
			bytes[w * 8 + b] = (uint8_t)(key->words[w] >> (8 * b));
	return crc32c_reference(DPLB_FLOW_HASH_SEED, bytes, sizeof(bytes));
}

Test(flow_table, reference_crc32c_matches_the_standard_check_value)
{
	/* The published CRC-32C check: "123456789" with inversion both ends. */
	const char *check = "123456789";

	cr_assert_eq(~crc32c_reference(~0u, (const uint8_t *)check, strlen(check)), 0xe3069283u);
}

Test(flow_table, flow_hash_is_crc32c_of_the_key_words)
{
	struct dplb_flow_table t;
	uint64_t seed = 7;

	cr_assert_eq(sizeof(struct dplb_flow_key), 16);
	cr_assert_eq(DPLB_FLOW_HASH_SEED, 0x9e3779b9u);
	cr_assert_eq(dplb_flow_table_create(&t, "ft_hash", 1024, SOCKET_ID_ANY), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		const struct dplb_flow_key key = i < 5000 ? random_key(&seed) : make_key(i);

		cr_assert_eq(dplb_flow_hash(&key), flow_hash_reference(&key), "key %u", i);
		/* The table hashes keys the same way the worker precomputes. */
		cr_assert_eq(rte_hash_hash(t.hash, &key), dplb_flow_hash(&key), "key %u", i);
	}
	/* Every field of the 5-tuple reaches the hash. */
	const struct dplb_flow_key base = make_key(1);
	struct dplb_flow_key changed;
	changed = base;
	changed.src_addr ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.dst_addr ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.src_port ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.dst_port ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.protocol ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	dplb_flow_table_destroy(&t);
}

/* ---- memory estimate -------------------------------------------------- */

static uint64_t heap_allocated(void)
{
	uint64_t total = 0;

	for (unsigned int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		struct rte_malloc_socket_stats stats;

		if (rte_malloc_get_socket_stats((int)s, &stats) == 0)
			total += stats.heap_allocsz_bytes;
	}
	return total;
}

Test(flow_table, memory_grows_with_capacity)
{
	const uint32_t capacities[] = { 1024, 4096, 16384, 65536 };
	uint64_t previous = 0;

	for (uint32_t c = 0; c < RTE_DIM(capacities); c++) {
		struct dplb_flow_table t;
		char name[32];
		const uint64_t before = heap_allocated();

		snprintf(name, sizeof(name), "ft_memory_%u", capacities[c]);
		cr_assert_eq(dplb_flow_table_create(&t, name, capacities[c], SOCKET_ID_ANY), 0);
		const uint64_t used = heap_allocated() - before;
		const uint64_t estimate = dplb_flow_table_memory(&t);

		cr_assert_gt(estimate, previous, "capacity %u: %lu after %lu", capacities[c],
			     (unsigned long)estimate, (unsigned long)previous);
		/* At least the keys and entries themselves... */
		cr_assert_geq(estimate, (uint64_t)capacities[c] * (sizeof(struct dplb_flow_key) +
								   sizeof(struct dplb_flow_entry)));
		/* ...and within a tenth of what the heap handed out. */
		cr_assert(estimate * 10 >= used * 9 && estimate * 10 <= used * 11,
			  "capacity %u: estimate %lu, heap %lu", capacities[c],
			  (unsigned long)estimate, (unsigned long)used);
		previous = estimate;
		dplb_flow_table_destroy(&t);
	}
}
