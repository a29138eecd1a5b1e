/*
 * Unit tests for the neighbor table (lib/control/neighbor.c): pure bookkeeping on
 * the caller's clock, so every rule is checked at its exact boundary (one
 * millisecond before and at each of the retry, refresh and lifetime times).
 *
 * The clock starts at T0, not 0: the management lcore feeds it
 * CLOCK_MONOTONIC milliseconds, which are never 0.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/neighbor.h"

#define T0 1000000u

static struct dplb_neighbors *table;

static void setup(void)
{
	table = calloc(1, sizeof(*table));
	cr_assert_not_null(table);
}

static void teardown(void)
{
	free(table);
	table = NULL;
}

TestSuite(neighbor, .init = setup, .fini = teardown, .timeout = 60);

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0x0b };

/* 10.0.x.y in network order. */
static uint32_t addr(uint32_t i)
{
	return htonl(0x0a000000u + i);
}

static uint32_t due(uint64_t now, uint32_t *out, uint32_t max)
{
	return dplb_neighbors_due(table, now, out, max);
}

static bool contains(const uint32_t *list, uint32_t n, uint32_t address)
{
	for (uint32_t i = 0; i < n; i++)
		if (list[i] == address)
			return true;
	return false;
}

/* ---- want / lookup ---------------------------------------------------- */

Test(neighbor, want_then_lookup)
{
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(table->count, 1);
	cr_assert_null(dplb_neighbors_lookup(table, addr(1)), "resolved before any answer");
	cr_assert_null(dplb_neighbors_lookup(table, addr(2)));

	/* Wanting again adds nothing. */
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(table->count, 1);

	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	const uint8_t *mac = dplb_neighbors_lookup(table, addr(1));
	cr_assert_not_null(mac);
	cr_assert_arr_eq(mac, MAC_A, 6);
	cr_assert_null(dplb_neighbors_lookup(table, addr(2)));

	/* Wanting a resolved address again keeps its answer. */
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_not_null(dplb_neighbors_lookup(table, addr(1)));
}

/* ---- learn ------------------------------------------------------------ */

Test(neighbor, learn_ignores_addresses_nobody_asked_for)
{
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	const uint32_t count = table->count;

	cr_assert_not(dplb_neighbors_learn(table, addr(99), MAC_A, T0));
	cr_assert_eq(table->count, count, "an unwanted reply added an entry");
	cr_assert_null(dplb_neighbors_lookup(table, addr(99)));
	cr_assert_null(dplb_neighbors_lookup(table, addr(1)));

	/* Known but no longer wanted: no change either. */
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	dplb_neighbors_unwant_all(table);
	cr_assert_not(dplb_neighbors_learn(table, addr(1), MAC_B, T0 + 1));
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(1)), MAC_A, 6,
			 "an unwanted reply changed the MAC");
	cr_assert_eq(table->entries[0].answered_ms, T0);
}

Test(neighbor, learn_reports_resolution_and_mac_changes_only)
{
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0), "first answer not reported");
	cr_assert_not(dplb_neighbors_learn(table, addr(1), MAC_A, T0 + 10),
		      "same MAC reported as a change");
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_B, T0 + 20), "new MAC not reported");
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(1)), MAC_B, 6);
	cr_assert_not(dplb_neighbors_learn(table, addr(1), MAC_B, T0 + 30));
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0 + 40));
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(1)), MAC_A, 6);
}

Test(neighbor, same_mac_answer_still_refreshes)
{
	uint32_t out[4];

	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	const uint64_t later = T0 + DPLB_NEIGHBOR_REFRESH_MS - 5;
	cr_assert_not(dplb_neighbors_learn(table, addr(1), MAC_A, later));
	/* Fresh from the second answer, not the first. */
	cr_assert_eq(due(T0 + DPLB_NEIGHBOR_REFRESH_MS, out, 4), 0);
	cr_assert_not(dplb_neighbors_expire(table, T0 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert_not_null(dplb_neighbors_lookup(table, addr(1)));
	cr_assert_eq(due(later + DPLB_NEIGHBOR_REFRESH_MS, out, 4), 1);
}

/* A next hop's MAC must be one station's: a group address would flood every
 * backend's traffic over the link, a zero one reaches no one. ARP and
 * neighbor discovery alike. */
Test(neighbor, group_and_zero_macs_are_never_learned)
{
	static const uint8_t refused[][6] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* broadcast */
		{ 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, /* IPv4 multicast */
		{ 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 }, /* IPv6 multicast */
		{ 0x03, 0, 0, 0, 0, 0x0a },		/* any group bit */
		{ 0, 0, 0, 0, 0, 0 },
	};
	struct dplb_neighbors6 *table6 = calloc(1, sizeof(*table6));
	uint8_t a[16] = { 0xfd, [15] = 1 };

	cr_assert_not_null(table6);
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(dplb_neighbors6_want(table6, a), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_assert_not(dplb_neighbors_learn(table, addr(1), refused[i], T0), "%zu", i);
		cr_assert_null(dplb_neighbors_lookup(table, addr(1)), "%zu", i);
		cr_assert_not(dplb_neighbors6_learn(table6, a, refused[i], true, T0), "%zu", i);
		cr_assert_null(dplb_neighbors6_lookup(table6, a), "%zu", i);
	}
	/* Nor over a MAC already learned, nor as a refresh of it. */
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	cr_assert(dplb_neighbors6_learn(table6, a, MAC_A, true, T0));
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cr_assert_not(dplb_neighbors_learn(table, addr(1), refused[i], T0 + 1), "%zu", i);
		cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(1)), MAC_A, 6, "%zu", i);
		cr_assert_not(dplb_neighbors6_learn(table6, a, refused[i], true, T0 + 1), "%zu", i);
		cr_assert_arr_eq(dplb_neighbors6_lookup(table6, a), MAC_A, 6, "%zu", i);
	}
	cr_assert_eq(table->entries[0].answered_ms, T0);
	cr_assert_eq(table6->table.entries[0].answered_ms, T0);
	free(table6);
}

/* RFC 4861 7.2.5: an advertisement without the override flag resolves an
 * address we asked about, but never moves a resolved one to another MAC,
 * nor keeps it alive; naming the MAC we hold, it confirms it. */
Test(neighbor, advertisement_without_override_keeps_a_resolved_mac)
{
	struct dplb_neighbors6 *table6 = calloc(1, sizeof(*table6));
	uint8_t a[16] = { 0xfd, [15] = 1 };
	uint8_t listed[4][16];

	cr_assert_not_null(table6);
	cr_assert_eq(dplb_neighbors6_want(table6, a), 0);
	cr_assert(dplb_neighbors6_learn(table6, a, MAC_A, false, T0),
		  "unresolved: learned whatever the flag");
	cr_assert_arr_eq(dplb_neighbors6_lookup(table6, a), MAC_A, 6);

	cr_assert_not(dplb_neighbors6_learn(table6, a, MAC_B, false, T0 + 10),
		      "another MAC without override replaced the one held");
	cr_assert_arr_eq(dplb_neighbors6_lookup(table6, a), MAC_A, 6);
	cr_assert_eq(table6->table.entries[0].answered_ms, T0, "refreshed by another MAC");

	/* The same MAC without override: a confirmation. */
	cr_assert_not(dplb_neighbors6_learn(table6, a, MAC_A, false, T0 + 20));
	cr_assert_eq(table6->table.entries[0].answered_ms, T0 + 20);

	/* With override, the new MAC is taken. */
	cr_assert(dplb_neighbors6_learn(table6, a, MAC_B, true, T0 + 30));
	cr_assert_arr_eq(dplb_neighbors6_lookup(table6, a), MAC_B, 6);

	/* Expired, it is unresolved again: learned without override. */
	cr_assert(dplb_neighbors6_expire(table6, T0 + 30 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert_eq(dplb_neighbors6_due(table6, T0 + 30 + DPLB_NEIGHBOR_LIFETIME_MS, listed, 4),
		     1);
	cr_assert(dplb_neighbors6_learn(table6, a, MAC_A, false,
					T0 + 31 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert_arr_eq(dplb_neighbors6_lookup(table6, a), MAC_A, 6);
	free(table6);
}

/* ---- due -------------------------------------------------------------- */

Test(neighbor, unresolved_is_due_at_once_then_after_each_retry)
{
	uint32_t out[4];

	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(due(T0, out, 4), 1, "a new entry is not asked for at once");
	cr_assert_eq(out[0], addr(1));
	cr_assert_eq(due(T0, out, 4), 0, "asked twice in the same millisecond");
	cr_assert_eq(due(T0 + DPLB_NEIGHBOR_RETRY_MS - 1, out, 4), 0, "asked again within retry");
	cr_assert_eq(due(T0 + DPLB_NEIGHBOR_RETRY_MS, out, 4), 1, "not asked again after retry");
	cr_assert_eq(out[0], addr(1));
	/* The retry is counted from the last request. */
	cr_assert_eq(due(T0 + 2 * DPLB_NEIGHBOR_RETRY_MS - 1, out, 4), 0);
	cr_assert_eq(due(T0 + 2 * DPLB_NEIGHBOR_RETRY_MS, out, 4), 1);
}

Test(neighbor, due_respects_max_and_skips_unwanted)
{
	uint32_t out[8];
	uint32_t n;

	for (uint32_t i = 1; i <= 5; i++)
		cr_assert_eq(dplb_neighbors_want(table, addr(i)), 0);
	dplb_neighbors_unwant_all(table);
	for (uint32_t i = 1; i <= 4; i++)
		cr_assert_eq(dplb_neighbors_want(table, addr(i)), 0);
	/* addr(5) is still in the table but unwanted. */
	cr_assert_eq(table->count, 5);

	n = due(T0, out, 3);
	cr_assert_eq(n, 3);
	uint32_t rest[8];
	cr_assert_eq(due(T0, rest, 8), 1, "the ones over max were lost or asked twice");
	for (uint32_t i = 1; i <= 4; i++)
		cr_assert(contains(out, 3, addr(i)) != contains(rest, 1, addr(i)),
			  "address %u asked for %s", i,
			  contains(out, 3, addr(i)) ? "twice" : "never");
	cr_assert_not(contains(out, 3, addr(5)) || contains(rest, 1, addr(5)),
		      "an unwanted address was asked for");
}

Test(neighbor, resolved_is_due_again_after_refresh)
{
	uint32_t out[4];

	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(due(T0, out, 4), 1);
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0 + 10));
	/* Resolved: not retried at the unresolved pace. */
	cr_assert_eq(due(T0 + 10 + DPLB_NEIGHBOR_RETRY_MS, out, 4), 0);
	cr_assert_eq(due(T0 + 10 + DPLB_NEIGHBOR_REFRESH_MS - 1, out, 4), 0);
	cr_assert_eq(due(T0 + 10 + DPLB_NEIGHBOR_REFRESH_MS, out, 4), 1, "no refresh asked");
	cr_assert_eq(out[0], addr(1));
	/* Still resolved while the refresh is pending. */
	cr_assert_not_null(dplb_neighbors_lookup(table, addr(1)));
	/* Unanswered refreshes repeat at the retry pace. */
	const uint64_t asked = T0 + 10 + DPLB_NEIGHBOR_REFRESH_MS;
	cr_assert_eq(due(asked + DPLB_NEIGHBOR_RETRY_MS - 1, out, 4), 0);
	cr_assert_eq(due(asked + DPLB_NEIGHBOR_RETRY_MS, out, 4), 1);
}

/* ---- expire ----------------------------------------------------------- */

Test(neighbor, expire_after_lifetime)
{
	uint32_t out[4];

	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	cr_assert_not(dplb_neighbors_expire(table, T0 + DPLB_NEIGHBOR_LIFETIME_MS - 1));
	cr_assert_not_null(dplb_neighbors_lookup(table, addr(1)));
	cr_assert(dplb_neighbors_expire(table, T0 + DPLB_NEIGHBOR_LIFETIME_MS),
		  "a wanted entry expired silently");
	cr_assert_null(dplb_neighbors_lookup(table, addr(1)));
	cr_assert_eq(table->count, 1, "expiry forgets the address, not just the answer");
	/* Already expired: nothing changes again. */
	cr_assert_not(dplb_neighbors_expire(table, T0 + 2 * DPLB_NEIGHBOR_LIFETIME_MS));
	/* Unresolved again, so asked for at once. */
	cr_assert_eq(due(T0 + DPLB_NEIGHBOR_LIFETIME_MS, out, 4), 1);
	/* And a new answer counts as a change. */
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0 + DPLB_NEIGHBOR_LIFETIME_MS + 1));
}

Test(neighbor, expiring_an_unwanted_entry_changes_nothing)
{
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(dplb_neighbors_want(table, addr(2)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	cr_assert(dplb_neighbors_learn(table, addr(2), MAC_B, T0 + 5000));
	dplb_neighbors_unwant_all(table);
	cr_assert_eq(dplb_neighbors_want(table, addr(2)), 0);
	/* addr(1) (unwanted) expires first: forwarding does not care. */
	cr_assert_not(dplb_neighbors_expire(table, T0 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert_null(dplb_neighbors_lookup(table, addr(1)));
	cr_assert_not_null(dplb_neighbors_lookup(table, addr(2)));
	cr_assert(dplb_neighbors_expire(table, T0 + 5000 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert_null(dplb_neighbors_lookup(table, addr(2)));
}

/* ---- forget_unwanted -------------------------------------------------- */

Test(neighbor, forget_unwanted_keeps_wanted_ones)
{
	for (uint32_t i = 1; i <= 5; i++)
		cr_assert_eq(dplb_neighbors_want(table, addr(i)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(3), MAC_A, T0));
	cr_assert(dplb_neighbors_learn(table, addr(4), MAC_B, T0));
	cr_assert(dplb_neighbors_learn(table, addr(5), MAC_B, T0));

	dplb_neighbors_unwant_all(table);
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(dplb_neighbors_want(table, addr(3)), 0);
	cr_assert_eq(dplb_neighbors_want(table, addr(5)), 0);
	dplb_neighbors_forget_unwanted(table);

	cr_assert_eq(table->count, 3);
	/* Kept entries keep their answers. */
	cr_assert_null(dplb_neighbors_lookup(table, addr(1)));
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(3)), MAC_A, 6);
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(5)), MAC_B, 6);
	/* Dropped ones are gone, answers included. */
	cr_assert_null(dplb_neighbors_lookup(table, addr(4)));
	cr_assert_not(dplb_neighbors_learn(table, addr(2), MAC_A, T0 + 1));
	cr_assert_not(dplb_neighbors_learn(table, addr(4), MAC_A, T0 + 1));
	cr_assert_eq(table->count, 3);
	for (uint32_t i = 0; i < table->count; i++)
		cr_assert(table->entries[i].wanted);
	/* Nothing wanted: everything goes. */
	dplb_neighbors_unwant_all(table);
	dplb_neighbors_forget_unwanted(table);
	cr_assert_eq(table->count, 0);
	cr_assert_null(dplb_neighbors_lookup(table, addr(3)));
}

/* ---- a full table ----------------------------------------------------- */

Test(neighbor, full_table_refuses_new_addresses)
{
	for (uint32_t i = 0; i < DPLB_MAX_NEIGHBORS; i++)
		cr_assert_eq(dplb_neighbors_want(table, addr(i + 1)), 0, "want %u failed", i);
	cr_assert_eq(table->count, DPLB_MAX_NEIGHBORS);
	cr_assert_eq(dplb_neighbors_want(table, addr(DPLB_MAX_NEIGHBORS + 1)), -ENOSPC);
	cr_assert_eq(table->count, DPLB_MAX_NEIGHBORS);
	/* Known addresses can still be wanted. */
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert_eq(dplb_neighbors_want(table, addr(DPLB_MAX_NEIGHBORS)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(DPLB_MAX_NEIGHBORS), MAC_A, T0));
	/* Forgetting one makes room. */
	dplb_neighbors_unwant_all(table);
	for (uint32_t i = 1; i < DPLB_MAX_NEIGHBORS; i++)
		cr_assert_eq(dplb_neighbors_want(table, addr(i + 1)), 0);
	dplb_neighbors_forget_unwanted(table);
	cr_assert_eq(table->count, DPLB_MAX_NEIGHBORS - 1);
	cr_assert_eq(dplb_neighbors_want(table, addr(DPLB_MAX_NEIGHBORS + 1)), 0);
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(DPLB_MAX_NEIGHBORS)), MAC_A, 6);
}

/* ---- IPv6: the same rules on 16-byte addresses ------------------------ */

/* fd00::x in network order. */
static void addr6(uint32_t i, uint8_t out[16])
{
	memset(out, 0, 16);
	out[0] = 0xfd;
	out[12] = (uint8_t)(i >> 24);
	out[13] = (uint8_t)(i >> 16);
	out[14] = (uint8_t)(i >> 8);
	out[15] = (uint8_t)i;
}

Test(neighbor, ipv6_want_learn_lookup_due_expire)
{
	struct dplb_neighbors6 *table6 = calloc(1, sizeof(*table6));
	uint8_t a[16], b[16], listed[4][16];

	cr_assert_not_null(table6);
	addr6(1, a);
	addr6(2, b);
	cr_assert_eq(dplb_neighbors6_want(table6, a), 0);
	cr_assert_null(dplb_neighbors6_lookup(table6, a));
	/* Due once, then not again within the retry time. */
	cr_assert_eq(dplb_neighbors6_due(table6, T0, listed, 4), 1);
	cr_assert_arr_eq(listed[0], a, 16);
	cr_assert_eq(dplb_neighbors6_due(table6, T0 + DPLB_NEIGHBOR_RETRY_MS - 1, listed, 4), 0);
	/* An answer for an address nobody asked about is not learned. */
	cr_assert_not(dplb_neighbors6_learn(table6, b, MAC_B, true, T0));
	cr_assert_null(dplb_neighbors6_lookup(table6, b));
	cr_assert(dplb_neighbors6_learn(table6, a, MAC_A, true, T0));
	cr_assert_arr_eq(dplb_neighbors6_lookup(table6, a), MAC_A, 6);
	cr_assert_not(dplb_neighbors6_learn(table6, a, MAC_A, true, T0 + 1), "same MAC: no change");
	cr_assert_not(dplb_neighbors6_expire(table6, T0 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert(dplb_neighbors6_expire(table6, T0 + 1 + DPLB_NEIGHBOR_LIFETIME_MS));
	cr_assert_null(dplb_neighbors6_lookup(table6, a));
	dplb_neighbors6_unwant_all(table6);
	dplb_neighbors6_forget_unwanted(table6);
	cr_assert_eq(table6->table.count, 0);
	free(table6);
}

/* An IPv4 address is kept IPv4-mapped: the IPv6 table's ::ffff:10.0.0.1 and
 * the IPv4 table's 10.0.0.1 are different tables' entries, and an ARP answer
 * never resolves an IPv6 next hop. */
Test(neighbor, families_never_mix)
{
	struct dplb_neighbors6 *table6 = calloc(1, sizeof(*table6));
	uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [13] = 0, [14] = 0, [15] = 1 };

	cr_assert_not_null(table6);
	cr_assert_eq(dplb_neighbors6_want(table6, mapped), 0);
	cr_assert_eq(dplb_neighbors_want(table, addr(1)), 0);
	cr_assert(dplb_neighbors_learn(table, addr(1), MAC_A, T0));
	cr_assert_null(dplb_neighbors6_lookup(table6, mapped));
	cr_assert_arr_eq(dplb_neighbors_lookup(table, addr(1)), MAC_A, 6);
	uint32_t listed[2];
	cr_assert_eq(due(T0 + DPLB_NEIGHBOR_REFRESH_MS, listed, 2), 1);
	cr_assert_eq(listed[0], addr(1), "an IPv4 address comes back as it went in");
	free(table6);
}
