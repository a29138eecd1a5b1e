/*
 * Unit tests for the weighted Maglev builder (lib/packet/maglev.c).
 *
 * Modelled on Katran's MaglevHashTest: empty, one backend, deterministic,
 * weighted, disruption; plus argument checking and the flow-hash-to-slot
 * reduction. Expected values are computed from the inputs (weight shares,
 * key mappings), never pasted from a previous run, so every test fails if
 * the builder regresses. Its primality test is tested in test_values.c.
 *
 * Keys are IPv4 addresses as 4 network-order bytes, as dplb uses them.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "packet/maglev.h"

#define M_DEFAULT 65537u
#define M_LARGE 655373u

/* Fixed-seed PRNG so shuffles and sample hashes repeat on every machine. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A set of backends whose keys live next to them, so shuffling keeps pairs. */
struct test_set {
	uint32_t n;
	uint8_t (*addr)[4];
	struct maglev_backend *b;
};

/* 10.x.y.z for i = 0..n-1, starting at 10.0.0.1; `base` shifts the range so
 * sets with disjoint addresses can be made. */
static void set_init(struct test_set *s, uint32_t n, uint32_t base,
		     uint32_t (*weight_of)(uint32_t i))
{
	uint32_t i;

	s->n = n;
	s->addr = calloc(n ? n : 1, sizeof(*s->addr));
	s->b = calloc(n ? n : 1, sizeof(*s->b));
	cr_assert(s->addr && s->b);
	for (i = 0; i < n; i++) {
		uint32_t v = base + i + 1;

		s->addr[i][0] = 10;
		s->addr[i][1] = (uint8_t)(v >> 16);
		s->addr[i][2] = (uint8_t)(v >> 8);
		s->addr[i][3] = (uint8_t)v;
		s->b[i].key = s->addr[i];
		s->b[i].key_len = 4;
		s->b[i].weight = weight_of ? weight_of(i) : 1;
	}
}

static void set_fini(struct test_set *s)
{
	free(s->addr);
	free(s->b);
}

static uint32_t weight_one(uint32_t i)
{
	(void)i;
	return 1;
}

static uint32_t weight_123(uint32_t i)
{
	return i % 3 + 1;
}

/*
 * One heavy backend among light ones: skewed enough (n >= 100) that most
 * backends sit idle in most rounds, which sends the builder down its heap
 * path, and the case where the heavy backend would absorb everyone's
 * rounding if shares were not apportioned exactly. Backend 17 is the heavy
 * one, so small sets are simply equal.
 */
static uint32_t weight_one_heavy(uint32_t i)
{
	return i == 17 ? 10000 : 10;
}

/* Fixed-seed pseudo-random weights in [1, 1000000]. */
static uint32_t weight_random(uint32_t i)
{
	uint64_t state = 0x3e1947u + i;

	return (uint32_t)(splitmix64(&state) % 1000000) + 1;
}

/* The key as an integer, to compare tables built from differently ordered
 * or differently sized backend arrays. */
static uint32_t key_u32(const struct maglev_backend *b)
{
	const uint8_t *p = b->key;

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t *build_or_die(const struct maglev_backend *b, uint32_t n, uint32_t m)
{
	uint32_t *table = malloc((size_t)m * sizeof(*table));
	int ret;

	cr_assert_not_null(table);
	ret = maglev_build(b, n, m, table);
	cr_assert_eq(ret, 0, "maglev_build(n=%u, m=%u) = %d", n, m, ret);
	return table;
}

/* Slot -> owner key, so tables over different arrays can be compared. */
static uint32_t *table_keys(const uint32_t *table, uint32_t m, const struct maglev_backend *b,
			    uint32_t n)
{
	uint32_t *keys = malloc((size_t)m * sizeof(*keys));
	uint32_t i;

	cr_assert_not_null(keys);
	for (i = 0; i < m; i++) {
		cr_assert_lt(table[i], n, "slot %u holds %u, n = %u", i, table[i], n);
		keys[i] = key_u32(&b[table[i]]);
	}
	return keys;
}

static void shuffle(struct maglev_backend *b, uint32_t n, uint64_t *rng)
{
	uint32_t i;

	for (i = n; i > 1; i--) {
		uint32_t j = (uint32_t)(splitmix64(rng) % i);
		struct maglev_backend t = b[i - 1];

		b[i - 1] = b[j];
		b[j] = t;
	}
}

/*
 * A broken builder can loop forever (a permutation that misses slots never
 * finds a free one), so each suite gets a timeout far above its run time
 * (well under a second, a few under ASan) to turn a hang into a failure.
 * maglev_bench has none: with one, Criterion 2.4.1's runner leaks 48 bytes
 * under LeakSanitizer when run with -j2; meson's own timeout covers it.
 */
TestSuite(maglev_build, .timeout = 60);
TestSuite(maglev_determinism, .timeout = 60);
TestSuite(maglev_weights, .timeout = 60);
TestSuite(maglev_disruption, .timeout = 60);
TestSuite(maglev_slot, .timeout = 60);

/* ---- argument checking -------------------------------------------------- */

/* A rejected build must not have written the table: a bad reload keeps the
 * old table serving. */
static void expect_einval(const struct maglev_backend *b, uint32_t n, uint32_t m, const char *what)
{
	uint32_t *table = malloc((size_t)m * sizeof(*table));
	uint32_t i;
	int ret;

	cr_assert_not_null(table);
	for (i = 0; i < m; i++)
		table[i] = 0xdeadbeef;
	ret = maglev_build(b, n, m, table);
	cr_expect_eq(ret, -EINVAL, "%s: got %d, want -EINVAL", what, ret);
	for (i = 0; i < m; i++)
		if (table[i] != 0xdeadbeef)
			cr_assert_fail("%s: slot %u written on error", what, i);
	free(table);
}

Test(maglev_build, rejects_bad_arguments)
{
	struct test_set s;
	uint8_t same[4];
	uint32_t table[7];

	set_init(&s, 5, 0, weight_one);

	expect_einval(s.b, 5, 65536, "m not prime");
	expect_einval(s.b, 5, 65535, "m odd composite");
	expect_einval(s.b, 0, 1, "m = 1, n = 0");
	expect_einval(s.b, 0, 0, "m = 0, n = 0");
	expect_einval(s.b, 5, 3, "m < n");
	expect_einval(NULL, 5, 7, "NULL backends with n > 0");
	cr_expect_eq(maglev_build(s.b, 5, 7, NULL), -EINVAL, "NULL table");

	s.b[2].weight = 0;
	expect_einval(s.b, 5, 7, "zero weight");
	s.b[2].weight = 1;

	s.b[3].key = NULL;
	expect_einval(s.b, 5, 7, "NULL key");
	s.b[3].key = s.addr[3];

	s.b[4].key_len = 0;
	expect_einval(s.b, 5, 7, "key_len 0");
	s.b[4].key_len = 4;

	/* Duplicates are found by content, not by pointer. */
	memcpy(same, s.addr[1], sizeof(same));
	s.b[4].key = same;
	expect_einval(s.b, 5, 7, "duplicate key");
	s.b[4].key = s.addr[4];

	/* Sanity: the restored set is accepted, and m == n is allowed. */
	cr_expect_eq(maglev_build(s.b, 5, 5, table), 0);
	cr_expect_eq(maglev_build(s.b, 5, 7, table), 0);
	set_fini(&s);
}

/* A key that is a prefix of another is a different backend (address vs
 * address + port), not a duplicate. */
Test(maglev_build, prefix_keys_are_distinct)
{
	static const uint8_t a[4] = { 10, 0, 0, 1 };
	static const uint8_t ap[6] = { 10, 0, 0, 1, 0, 80 };
	const struct maglev_backend b[2] = {
		{ .key = a, .key_len = sizeof(a), .weight = 1 },
		{ .key = ap, .key_len = sizeof(ap), .weight = 1 },
	};
	uint32_t *table = build_or_die(b, 2, M_DEFAULT);
	uint32_t count[2] = { 0, 0 }, i;

	for (i = 0; i < M_DEFAULT; i++) {
		cr_assert_lt(table[i], 2);
		count[table[i]]++;
	}
	cr_expect_gt(count[0], 0);
	cr_expect_gt(count[1], 0);
	free(table);
}

/* ---- basic shapes ------------------------------------------------------- */

Test(maglev_build, empty_set)
{
	uint32_t *table = malloc(M_DEFAULT * sizeof(*table));
	uint32_t i;

	cr_assert_not_null(table);
	for (i = 0; i < M_DEFAULT; i++)
		table[i] = i; /* anything but MAGLEV_NO_BACKEND */
	cr_assert_eq(maglev_build(NULL, 0, M_DEFAULT, table), 0);
	for (i = 0; i < M_DEFAULT; i++)
		cr_assert_eq(table[i], MAGLEV_NO_BACKEND, "slot %u = %u", i, table[i]);
	free(table);
}

Test(maglev_build, single_backend_owns_every_slot)
{
	static const uint32_t weights[] = { 1, 7, UINT32_MAX };
	struct test_set s;
	size_t w;
	uint32_t i;

	set_init(&s, 1, 41, weight_one);
	for (w = 0; w < sizeof(weights) / sizeof(weights[0]); w++) {
		uint32_t *table = malloc(M_DEFAULT * sizeof(*table));

		cr_assert_not_null(table);
		for (i = 0; i < M_DEFAULT; i++)
			table[i] = MAGLEV_NO_BACKEND;
		s.b[0].weight = weights[w];
		cr_assert_eq(maglev_build(s.b, 1, M_DEFAULT, table), 0);
		for (i = 0; i < M_DEFAULT; i++)
			cr_assert_eq(table[i], 0, "weight %u: slot %u = %u", weights[w], i,
				     table[i]);
		free(table);
	}
	set_fini(&s);
}

/* Every slot gets a valid index, for small and large tables, including the
 * tightest case m == n where, with equal weights, each backend must own
 * exactly one slot. */
static void check_filled(uint32_t (*weight_of)(uint32_t))
{
	static const struct {
		uint32_t n, m;
	} cases[] = {
		{ 2, 2 },  { 3, 3 },	   { 13, 13 },		{ 2, 3 },
		{ 7, 11 }, { 1000, 1009 }, { 1000, M_DEFAULT }, { 5, M_LARGE },
	};
	size_t c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint32_t n = cases[c].n, m = cases[c].m, i;
		struct test_set s;
		uint32_t *table, *count;

		set_init(&s, n, 0, weight_of);
		table = malloc((size_t)m * sizeof(*table));
		count = calloc(n, sizeof(*count));
		cr_assert(table && count);
		for (i = 0; i < m; i++)
			table[i] = MAGLEV_NO_BACKEND;
		cr_assert_eq(maglev_build(s.b, n, m, table), 0, "n=%u m=%u", n, m);
		for (i = 0; i < m; i++) {
			cr_assert_lt(table[i], n, "n=%u m=%u slot %u = %u", n, m, i, table[i]);
			count[table[i]]++;
		}
		if (m == n && weight_of == weight_one)
			for (i = 0; i < n; i++)
				cr_expect_eq(count[i], 1, "m == n = %u: %u owns %u", n, i,
					     count[i]);
		free(count);
		free(table);
		set_fini(&s);
	}
}

Test(maglev_build, every_slot_filled_equal)
{
	check_filled(weight_one);
}
Test(maglev_build, every_slot_filled_mixed)
{
	check_filled(weight_123);
}
Test(maglev_build, every_slot_filled_skewed)
{
	check_filled(weight_one_heavy);
}

/* ---- determinism -------------------------------------------------------- */

/* The same set in any order gives the same slot -> key mapping: what lets
 * two dplb instances behind ECMP agree. */
static void check_reorder(uint32_t n, uint32_t (*weight_of)(uint32_t))
{
	uint64_t rng = 0x5eed0000u + n;
	struct test_set s;
	uint32_t *ref_table, *ref_keys, i;
	int round;

	set_init(&s, n, 1000, weight_of);
	ref_table = build_or_die(s.b, n, M_DEFAULT);
	ref_keys = table_keys(ref_table, M_DEFAULT, s.b, n);

	for (round = 0; round < 5; round++) {
		uint32_t *table, *keys, moved = 0;

		shuffle(s.b, n, &rng);
		table = build_or_die(s.b, n, M_DEFAULT);
		keys = table_keys(table, M_DEFAULT, s.b, n);
		for (i = 0; i < M_DEFAULT; i++)
			moved += keys[i] != ref_keys[i];
		cr_expect_eq(moved, 0, "n=%u shuffle %d: %u slots differ", n, round, moved);
		free(keys);
		free(table);
	}

	/* And a plain reversal, which a partial sort would get wrong. */
	for (i = 0; i < n / 2; i++) {
		struct maglev_backend t = s.b[i];

		s.b[i] = s.b[n - 1 - i];
		s.b[n - 1 - i] = t;
	}
	{
		uint32_t *table = build_or_die(s.b, n, M_DEFAULT);
		uint32_t *keys = table_keys(table, M_DEFAULT, s.b, n);

		cr_expect_eq(memcmp(keys, ref_keys, M_DEFAULT * sizeof(*keys)), 0,
			     "n=%u reversed: tables differ", n);
		free(keys);
		free(table);
	}
	free(ref_keys);
	free(ref_table);
	set_fini(&s);
}

Test(maglev_determinism, reorder_equal_weights)
{
	check_reorder(10, weight_one);
	check_reorder(257, weight_one);
}

Test(maglev_determinism, reorder_mixed_weights)
{
	check_reorder(10, weight_123);
	check_reorder(257, weight_123);
}

Test(maglev_determinism, reorder_skewed_weights)
{
	check_reorder(257, weight_one_heavy);
	check_reorder(257, weight_random);
}

/* Copies of the key bytes at other addresses build the same table: the
 * builder reads key contents, not pointers. */
Test(maglev_determinism, key_bytes_not_pointers)
{
	struct test_set a, b;
	uint32_t *ta, *tb;

	set_init(&a, 50, 7, weight_123);
	set_init(&b, 50, 7, weight_123);
	ta = build_or_die(a.b, 50, M_DEFAULT);
	tb = build_or_die(b.b, 50, M_DEFAULT);
	cr_expect_eq(memcmp(ta, tb, M_DEFAULT * sizeof(*ta)), 0);
	free(ta);
	free(tb);
	set_fini(&a);
	set_fini(&b);
}

/* ---- weights ------------------------------------------------------------ */

/*
 * Each backend's slot count must be within 1% (relative) of its exact share
 * m * weight / sum. Where 1% of the expected count is under one slot (e.g.
 * 1000 backends in 65537 slots, about 65 each) one slot of rounding is
 * allowed instead, since counts are whole numbers.
 *
 * The builder promises more, and that is checked too: every count is the
 * floor or the ceiling of the exact share, computed here in exact integer
 * arithmetic (m * weight < 2^64).
 */
static void check_shares(const struct maglev_backend *b, uint32_t n, uint32_t m, const char *what)
{
	uint32_t *table = build_or_die(b, n, m);
	uint32_t *count = calloc(n, sizeof(*count));
	uint64_t sum = 0;
	double worst = 0;
	uint32_t i;

	cr_assert_not_null(count);
	for (i = 0; i < n; i++)
		sum += b[i].weight;
	for (i = 0; i < m; i++) {
		cr_assert_lt(table[i], n);
		count[table[i]]++;
	}
	for (i = 0; i < n; i++) {
		uint64_t share = (uint64_t)m * b[i].weight;
		uint64_t lo = share / sum, hi = lo + (share % sum != 0);
		double expected = (double)m * b[i].weight / (double)sum;
		double tol = 0.01 * expected > 1.0 ? 0.01 * expected : 1.0;
		double err = (double)count[i] > expected ? (double)count[i] - expected
							 : expected - (double)count[i];

		if (err > worst)
			worst = err;
		cr_expect_leq(err, tol,
			      "%s: backend %u weight %u owns %u slots, expected %.2f +- %.2f", what,
			      i, b[i].weight, count[i], expected, tol);
		cr_expect(count[i] >= lo && count[i] <= hi,
			  "%s: backend %u weight %u owns %u slots, not in [%llu, %llu]", what, i,
			  b[i].weight, count[i], (unsigned long long)lo, (unsigned long long)hi);
	}
	fprintf(stderr, "maglev shares %-24s n=%-5u m=%-7u worst error %.2f slots\n", what, n, m,
		worst);
	free(count);
	free(table);
}

static void check_shares_m(uint32_t n, uint32_t m, uint32_t (*weight_of)(uint32_t),
			   const char *what)
{
	struct test_set s;

	set_init(&s, n, 0, weight_of);
	check_shares(s.b, n, m, what);
	set_fini(&s);
}

static void check_shares_n(uint32_t n, uint32_t (*weight_of)(uint32_t), const char *what)
{
	check_shares_m(n, M_DEFAULT, weight_of, what);
}

Test(maglev_weights, equal_3)
{
	check_shares_n(3, weight_one, "equal");
}
Test(maglev_weights, equal_10)
{
	check_shares_n(10, weight_one, "equal");
}
Test(maglev_weights, equal_100)
{
	check_shares_n(100, weight_one, "equal");
}
Test(maglev_weights, equal_1000)
{
	check_shares_n(1000, weight_one, "equal");
}
Test(maglev_weights, mixed_3)
{
	check_shares_n(3, weight_123, "1,2,3");
}
Test(maglev_weights, mixed_10)
{
	check_shares_n(10, weight_123, "1,2,3");
}
Test(maglev_weights, mixed_100)
{
	check_shares_n(100, weight_123, "1,2,3");
}
Test(maglev_weights, mixed_1000)
{
	check_shares_n(1000, weight_123, "1,2,3");
}

Test(maglev_weights, one_heavy_100)
{
	check_shares_n(100, weight_one_heavy, "one heavy");
}

Test(maglev_weights, one_heavy_1000)
{
	check_shares_n(1000, weight_one_heavy, "one heavy");
}

Test(maglev_weights, random_weights)
{
	check_shares_n(10, weight_random, "random");
	check_shares_n(500, weight_random, "random");
	check_shares_m(500, M_LARGE, weight_random, "random");
}

/* A weight too small for even one slot gets none, and the rest still add
 * up; the floor/ceiling check covers it. */
Test(maglev_weights, negligible_weight)
{
	struct test_set s;

	set_init(&s, 2, 0, weight_one);
	s.b[0].weight = UINT32_MAX;
	s.b[1].weight = 1;
	check_shares(s.b, 2, M_DEFAULT, "UINT32_MAX and 1");
	set_fini(&s);
}

/* Weights near UINT32_MAX must not overflow the credit arithmetic. */
Test(maglev_weights, huge_weights)
{
	struct test_set s;

	set_init(&s, 3, 0, weight_one);
	s.b[0].weight = UINT32_MAX;
	s.b[1].weight = UINT32_MAX / 2;
	s.b[2].weight = UINT32_MAX / 4;
	check_shares(s.b, 3, M_DEFAULT, "near UINT32_MAX");
	s.b[0].weight = UINT32_MAX;
	s.b[1].weight = UINT32_MAX - 1;
	s.b[2].weight = UINT32_MAX - 2;
	check_shares(s.b, 3, M_DEFAULT, "UINT32_MAX - {0,1,2}");
	set_fini(&s);
}

/* Scaling every weight by the same factor changes nothing. */
Test(maglev_weights, scale_invariant)
{
	struct test_set s;
	uint32_t *t1, *t2, i;

	set_init(&s, 100, 0, weight_123);
	t1 = build_or_die(s.b, 100, M_DEFAULT);
	for (i = 0; i < 100; i++)
		s.b[i].weight *= 1000;
	t2 = build_or_die(s.b, 100, M_DEFAULT);
	cr_expect_eq(memcmp(t1, t2, M_DEFAULT * sizeof(*t1)), 0);
	free(t1);
	free(t2);
	set_fini(&s);
}

/* ---- disruption --------------------------------------------------------- */

/*
 * Removing one of N backends must hand all of its slots (about m / N) to
 * others, and should move few other slots. Maglev is not perfectly minimal:
 * refilling the removed backend's slots shifts survivors' later preferences,
 * so some slots change hands between survivors. For the sizes below this
 * measures about 0.2-0.6% of m. The margin for such collateral moves is 1% of
 * m: headroom over that, yet a builder that derived permutations or turn
 * order from array positions (the test also reorders the array) would move
 * most of the table and fail by far. The total moved is then bounded by about
 * m / N + 1% of m.
 */
static const double disruption_margin = 0.01;

static void check_remove(uint32_t n, uint32_t (*weight_of)(uint32_t), uint32_t victim)
{
	struct test_set s;
	uint32_t *before, *after, *kb, *ka;
	uint32_t removed_key, i, took = 0, collateral = 0;

	set_init(&s, n, 0, weight_of);
	before = build_or_die(s.b, n, M_DEFAULT);
	kb = table_keys(before, M_DEFAULT, s.b, n);
	removed_key = key_u32(&s.b[victim]);

	/* Drop the victim by moving the last backend into its place, which
	 * also reorders the array. */
	s.b[victim] = s.b[n - 1];
	after = build_or_die(s.b, n - 1, M_DEFAULT);
	ka = table_keys(after, M_DEFAULT, s.b, n - 1);

	for (i = 0; i < M_DEFAULT; i++) {
		if (kb[i] == removed_key) {
			took++;
			cr_assert_neq(ka[i], removed_key, "slot %u still on removed backend", i);
		} else if (ka[i] != kb[i]) {
			collateral++;
		}
	}
	fprintf(stderr,
		"maglev remove 1 of %-5u removed owned %-6u collateral moves %-5u (%.3f%% of m)\n",
		n, took, collateral, 100.0 * collateral / M_DEFAULT);
	cr_expect_gt(took, 0, "removed backend owned no slots");
	cr_expect_leq(collateral, disruption_margin * M_DEFAULT,
		      "n=%u: %u slots moved between survivors (> %.0f)", n, collateral,
		      disruption_margin * M_DEFAULT);
	free(ka);
	free(kb);
	free(after);
	free(before);
	set_fini(&s);
}

static void check_add(uint32_t n, uint32_t (*weight_of)(uint32_t))
{
	struct test_set s;
	uint32_t *before, *after, *kb, *ka;
	uint32_t added_key, i, gained = 0, collateral = 0;

	/* Build n + 1 backends; the "before" table uses the first n. */
	set_init(&s, n + 1, 0, weight_of);
	/* Put the newcomer at the front so that, if position leaked into the
	 * permutations, every old backend would look different. */
	{
		struct maglev_backend t = s.b[n];

		memmove(&s.b[1], &s.b[0], n * sizeof(s.b[0]));
		s.b[0] = t;
	}
	added_key = key_u32(&s.b[0]);
	before = build_or_die(&s.b[1], n, M_DEFAULT);
	kb = table_keys(before, M_DEFAULT, &s.b[1], n);
	after = build_or_die(s.b, n + 1, M_DEFAULT);
	ka = table_keys(after, M_DEFAULT, s.b, n + 1);

	for (i = 0; i < M_DEFAULT; i++) {
		if (ka[i] == added_key)
			gained++;
		else if (ka[i] != kb[i])
			collateral++;
	}
	fprintf(stderr,
		"maglev add 1 to %-5u    added gained %-6u collateral moves %-5u (%.3f%% of m)\n",
		n, gained, collateral, 100.0 * collateral / M_DEFAULT);
	cr_expect_gt(gained, 0, "new backend got no slots");
	cr_expect_leq(collateral, disruption_margin * M_DEFAULT,
		      "n=%u: %u slots moved between old backends (> %.0f)", n, collateral,
		      disruption_margin * M_DEFAULT);
	free(ka);
	free(kb);
	free(after);
	free(before);
	set_fini(&s);
}

Test(maglev_disruption, remove_one_of_10)
{
	check_remove(10, weight_one, 3);
}
Test(maglev_disruption, remove_one_of_100)
{
	check_remove(100, weight_one, 42);
}
Test(maglev_disruption, remove_one_of_1000)
{
	check_remove(1000, weight_one, 617);
}
Test(maglev_disruption, remove_one_mixed_100)
{
	check_remove(100, weight_123, 42);
}

Test(maglev_disruption, remove_one_skewed_100)
{
	check_remove(100, weight_one_heavy, 42);
}

Test(maglev_disruption, add_one_to_10)
{
	check_add(10, weight_one);
}
Test(maglev_disruption, add_one_to_100)
{
	check_add(100, weight_one);
}
Test(maglev_disruption, add_one_to_1000)
{
	check_add(1000, weight_one);
}
Test(maglev_disruption, add_one_mixed_100)
{
	check_add(100, weight_123);
}

Test(maglev_disruption, add_one_skewed_100)
{
	check_add(100, weight_one_heavy);
}

/* ---- maglev_slot -------------------------------------------------------- */

Test(maglev_slot, in_range)
{
	static const uint32_t ms[] = { 2, 3, 65537, M_LARGE, 16777259, 4294967291u };
	uint64_t rng = 0x51075107;
	size_t k;
	int i;

	for (k = 0; k < sizeof(ms) / sizeof(ms[0]); k++) {
		uint32_t m = ms[k];

		cr_expect_eq(maglev_slot(0, m), 0);
		cr_expect_eq(maglev_slot(UINT32_MAX, m), m - 1, "m=%u: top hash maps to %u", m,
			     maglev_slot(UINT32_MAX, m));
		for (i = 0; i < 100000; i++) {
			uint32_t s = maglev_slot((uint32_t)splitmix64(&rng), m);

			cr_assert_lt(s, m, "m=%u slot %u", m, s);
		}
	}
}

/*
 * Pseudo-random flow hashes spread evenly over the slots: chi-square over
 * m = 1009 buckets (1008 degrees of freedom, mean 1008, sd ~45) with about
 * 1000 samples each; 1008 + 6 sd would be passed by chance far less than
 * once in a million runs, and the seed is fixed anyway.
 */
Test(maglev_slot, uniform)
{
	const uint32_t m = 1009, samples = 1009 * 1000;
	uint32_t *count = calloc(m, sizeof(*count));
	uint64_t rng = 0xb0c4e7;
	double expected = (double)samples / m, chi2 = 0;
	uint32_t i;

	cr_assert_not_null(count);
	for (i = 0; i < samples; i++)
		count[maglev_slot((uint32_t)splitmix64(&rng), m)]++;
	for (i = 0; i < m; i++)
		chi2 += ((double)count[i] - expected) * ((double)count[i] - expected) / expected;
	/* sqrt(2 * 1008) ~= 44.9; written out because the tests link no libm. */
	cr_expect_lt(chi2, 1008 + 6 * 44.9, "chi2 = %.1f", chi2);
	free(count);
}

/*
 * The reduction cuts the hash space into m contiguous runs of floor or ceil
 * of 2^32 / m hashes, in slot order. Walking the whole space with a stride
 * below the run length must therefore never go back or skip a slot, and
 * must land in every slot floor(run / stride) to ceil(run / stride) times.
 */
static void check_slot_runs(uint32_t m, uint32_t stride)
{
	uint32_t run_lo = (uint32_t)((1ULL << 32) / m);
	uint32_t run_hi = run_lo + ((1ULL << 32) % m != 0);
	uint32_t lo = run_lo / stride, hi = (run_hi + stride - 1) / stride;
	uint32_t *hits = calloc(m, sizeof(*hits));
	uint32_t prev = 0, s;
	uint64_t h;

	cr_assert_not_null(hits);
	cr_assert_lt(stride, run_lo);
	for (h = 0; h <= UINT32_MAX; h += stride) {
		s = maglev_slot((uint32_t)h, m);
		cr_assert(s == prev || s == prev + 1, "m=%u: hash %llu maps to %u after %u", m,
			  (unsigned long long)h, s, prev);
		hits[s]++;
		prev = s;
	}
	for (s = 0; s < m; s++)
		if (hits[s] < lo || hits[s] > hi)
			cr_assert_fail("m=%u: slot %u hit %u times, want %u..%u", m, s, hits[s], lo,
				       hi);
	free(hits);
}

Test(maglev_slot, even_contiguous_runs)
{
	check_slot_runs(M_DEFAULT, 1u << 12);
	check_slot_runs(1009, 1u << 16);
	check_slot_runs(M_LARGE, 1u << 10);
}

/* ---- timing (prints, never fails) --------------------------------------- */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Best of several runs is the figure to compare; the mean shows noise. */
static void time_build(uint32_t n, uint32_t m, uint32_t (*weight_of)(uint32_t), const char *what,
		       int runs)
{
	struct test_set s;
	uint32_t *table = malloc((size_t)m * sizeof(*table));
	double best = 1e30, total = 0;
	int r;

	cr_assert_not_null(table);
	set_init(&s, n, 0, weight_of);
	for (r = 0; r < runs; r++) {
		double t0 = now_us(), dt;

		cr_assert_eq(maglev_build(s.b, n, m, table), 0);
		dt = now_us() - t0;
		total += dt;
		if (dt < best)
			best = dt;
	}
	fprintf(stderr, "maglev build %-14s n=%-5u m=%-8u best %9.1f us, mean %9.1f us\n", what, n,
		m, best, total / runs);
	set_fini(&s);
	free(table);
}

/*
 * A benchmark, not a test: it prints build times and fails only if a build
 * fails. Run it alone (--jobs 1, as meson does) for meaningful numbers.
 */
Test(maglev_bench, build_time)
{
	time_build(1000, M_DEFAULT, weight_one, "equal", 20);
	time_build(1000, M_DEFAULT, weight_123, "1,2,3", 20);
	time_build(1000, M_DEFAULT, weight_random, "random", 20);
	time_build(1000, M_DEFAULT, weight_one_heavy, "one heavy", 20);
	time_build(1000, M_LARGE, weight_one, "equal", 10);
	time_build(1000, M_LARGE, weight_123, "1,2,3", 10);
	time_build(1000, M_LARGE, weight_one_heavy, "one heavy", 10);
	time_build(1000, 16777259, weight_one, "equal", 2);
}
