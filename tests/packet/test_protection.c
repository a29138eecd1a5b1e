/*
 * Unit tests for the pure parts of VIP protection: compiling allow and deny
 * lists into longest-match rules (lib/packet/acl.c), held to the rule read
 * straight from the lists for handcrafted cases and for thousands of random
 * lists and sources; and the new-flow token bucket (lib/packet/rate_limit.h)
 * on a clock the test moves by hand.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet/acl.h"
#include "packet/rate_limit.h"

TestSuite(acl, .timeout = 120);
TestSuite(rate_limit, .timeout = 60);

#define MAX_LIST 64

struct lists {
	struct dplb_prefix allow[MAX_LIST], deny[MAX_LIST];
	uint32_t allow_count, deny_count;
};

static struct dplb_prefix prefix(const char *text)
{
	struct dplb_prefix p;
	const char *why = dplb_parse_prefix(text, strlen(text), &p);

	cr_assert_null(why, "bad test prefix %s: %s", text, why);
	return p;
}

static uint32_t ip(const char *text)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, text, &a), 1, "bad test address %s", text);
	return a.s_addr;
}

static void compile(const struct lists *l, struct dplb_acl_rules *rules)
{
	cr_assert_eq(dplb_acl_compile(l->allow, l->allow_count, l->deny, l->deny_count, rules), 0);
}

/* The compiled rules decide source as the lists do; returns the verdict. */
static enum dplb_acl_verdict verdict(const struct lists *l, const struct dplb_acl_rules *rules,
				     uint32_t source)
{
	const enum dplb_acl_verdict want =
		dplb_acl_decide(l->allow, l->allow_count, l->deny, l->deny_count, source);
	const enum dplb_acl_verdict got = dplb_acl_rules_match(rules, source);
	char text[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &source, text, sizeof(text));
	cr_assert_eq(got, want, "source %s: rules say %d, lists %d", text, got, want);
	return got;
}

static void add(struct dplb_prefix *list, uint32_t *count, const char *text)
{
	list[(*count)++] = prefix(text);
}

Test(acl, no_lists_allow_everything_with_no_rules)
{
	struct dplb_acl_rules rules;
	struct lists l = { 0 };

	compile(&l, &rules);
	cr_assert_eq(rules.count, 0);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_ALLOW);
	cr_assert_eq(verdict(&l, &rules, ip("1.2.3.4")), DPLB_ACL_ALLOW);
	dplb_acl_rules_free(&rules);
}

Test(acl, an_allow_list_refuses_every_other_source)
{
	struct dplb_acl_rules rules;
	struct lists l = { 0 };

	add(l.allow, &l.allow_count, "10.0.0.0/8");
	add(l.allow, &l.allow_count, "192.168.1.0/24");
	compile(&l, &rules);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("10.9.8.7")), DPLB_ACL_ALLOW);
	cr_assert_eq(verdict(&l, &rules, ip("192.168.1.200")), DPLB_ACL_ALLOW);
	cr_assert_eq(verdict(&l, &rules, ip("192.168.2.1")), DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("11.0.0.1")), DPLB_ACL_DENY);
	dplb_acl_rules_free(&rules);
}

Test(acl, deny_wins_at_any_length)
{
	struct dplb_acl_rules rules;
	struct lists l = { 0 };

	/* A longer allow inside a shorter deny allows nothing: a longest
	 * match alone would let 10.1.2.3 in. */
	add(l.deny, &l.deny_count, "10.0.0.0/8");
	add(l.allow, &l.allow_count, "10.1.2.0/24");
	add(l.allow, &l.allow_count, "172.16.0.0/12");
	/* A deny inside an allow carves a hole in it. */
	add(l.deny, &l.deny_count, "172.16.5.0/24");
	/* The same prefix in both: denied. */
	add(l.allow, &l.allow_count, "192.0.2.7/32");
	add(l.deny, &l.deny_count, "192.0.2.7/32");
	compile(&l, &rules);
	cr_assert_eq(verdict(&l, &rules, ip("10.1.2.3")), DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("172.16.4.1")), DPLB_ACL_ALLOW);
	cr_assert_eq(verdict(&l, &rules, ip("172.16.5.1")), DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("192.0.2.7")), DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("8.8.8.8")), DPLB_ACL_DENY);
	/* Left out: the allow inside a deny, and the denies no allow holds. */
	cr_assert_eq(rules.count, 2, "%u rules", rules.count);
	dplb_acl_rules_free(&rules);
}

Test(acl, a_deny_list_alone_lets_the_rest_in)
{
	struct dplb_acl_rules rules;
	struct lists l = { 0 };

	add(l.deny, &l.deny_count, "203.0.113.0/24");
	add(l.deny, &l.deny_count, "203.0.113.0/24"); /* twice: harmless here */
	add(l.deny, &l.deny_count, "0.0.0.0/32");
	compile(&l, &rules);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_ALLOW);
	cr_assert_eq(rules.count, 2);
	cr_assert_eq(verdict(&l, &rules, ip("203.0.113.9")), DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("203.0.114.9")), DPLB_ACL_ALLOW);
	dplb_acl_rules_free(&rules);
}

Test(acl, deny_everything)
{
	struct dplb_acl_rules rules;
	struct lists l = { 0 };

	add(l.deny, &l.deny_count, "0.0.0.0/0");
	add(l.allow, &l.allow_count, "10.0.0.0/8");
	compile(&l, &rules);
	cr_assert_eq(verdict(&l, &rules, ip("10.0.0.1")), DPLB_ACL_DENY);
	cr_assert_eq(verdict(&l, &rules, ip("255.255.255.255")), DPLB_ACL_DENY);
	dplb_acl_rules_free(&rules);
}

Test(acl, long_prefixes_need_a_block_each)
{
	struct dplb_acl_rules rules;
	struct lists l = { 0 };

	add(l.allow, &l.allow_count, "10.0.0.1/32");
	add(l.allow, &l.allow_count, "10.0.0.2/32"); /* same /24 */
	add(l.allow, &l.allow_count, "10.0.1.0/25"); /* another */
	add(l.allow, &l.allow_count, "10.0.2.0/24"); /* none */
	add(l.deny, &l.deny_count, "10.0.2.128/26"); /* a third */
	compile(&l, &rules);
	cr_assert_eq(rules.long_blocks, 3);
	dplb_acl_rules_free(&rules);
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* A random prefix in a small corner of the address space, so that lists
 * overlap, nest and repeat as real ones do. */
static struct dplb_prefix random_prefix(uint64_t *rng)
{
	const uint8_t length = (uint8_t)(next_random(rng) % 33);
	const uint32_t address = 0x0a000000u | (uint32_t)(next_random(rng) & 0x0003ffffu);
	const uint32_t mask = length ? ~0u << (32 - length) : 0;

	return (struct dplb_prefix){ .address.ipv4 = htonl(address & mask),
				     .family = AF_INET,
				     .length = length };
}

Test(acl, compiled_rules_decide_as_the_lists_for_random_lists)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (int round = 0; round < 2000; round++) {
		struct dplb_acl_rules rules;
		struct lists l = { 0 };

		l.allow_count = (uint32_t)(next_random(&rng) % 12);
		l.deny_count = (uint32_t)(next_random(&rng) % 12);
		for (uint32_t i = 0; i < l.allow_count; i++)
			l.allow[i] = random_prefix(&rng);
		for (uint32_t i = 0; i < l.deny_count; i++)
			l.deny[i] = random_prefix(&rng);
		compile(&l, &rules);
		cr_assert_leq(rules.count, l.allow_count + l.deny_count);
		for (int s = 0; s < 200; s++) {
			/* Sources near the lists, and the prefixes' own edges. */
			uint32_t source =
				htonl(0x0a000000u | (uint32_t)(next_random(&rng) & 0x0003ffffu));

			if (s % 4 == 0 && l.allow_count)
				source = l.allow[next_random(&rng) % l.allow_count].address.ipv4;
			else if (s % 4 == 1 && l.deny_count)
				source = l.deny[next_random(&rng) % l.deny_count].address.ipv4;
			verdict(&l, &rules, source);
		}
		verdict(&l, &rules, ip("11.0.0.1"));
		dplb_acl_rules_free(&rules);
	}
}

Test(acl, equal_lists_compile_alike_whatever_their_order)
{
	struct dplb_acl_rules a, b;
	struct lists x = { 0 }, y = { 0 };

	add(x.allow, &x.allow_count, "10.0.0.0/8");
	add(x.allow, &x.allow_count, "192.168.0.0/16");
	add(x.deny, &x.deny_count, "10.1.0.0/16");
	add(y.allow, &y.allow_count, "192.168.0.0/16");
	add(y.allow, &y.allow_count, "10.0.0.0/8");
	add(y.allow, &y.allow_count, "10.0.0.0/8");
	add(y.deny, &y.deny_count, "10.1.0.0/16");
	compile(&x, &a);
	compile(&y, &b);
	cr_assert(dplb_acl_rules_equal(&a, &b));
	cr_assert_eq(dplb_acl_rules_hash(&a), dplb_acl_rules_hash(&b));
	dplb_acl_rules_free(&b);
	add(y.deny, &y.deny_count, "10.2.0.0/16");
	compile(&y, &b);
	cr_assert_not(dplb_acl_rules_equal(&a, &b));
	cr_assert_neq(dplb_acl_rules_hash(&a), dplb_acl_rules_hash(&b));
	dplb_acl_rules_free(&a);
	dplb_acl_rules_free(&b);
}

Test(acl, only_ipv4_compiles)
{
	struct dplb_acl_rules rules;
	struct dplb_prefix v6 = { .family = AF_INET6, .length = 32 };

	cr_assert_eq(dplb_acl_compile(&v6, 1, NULL, 0, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(NULL, 0, &v6, 1, &rules), -EINVAL);
}

/* ---- the token bucket ----------------------------------------------------- */

#define HZ 1000000u /* a clock of microseconds */

Test(rate_limit, a_full_bucket_gives_its_burst_then_the_rate)
{
	const struct dplb_rate_limit limit = dplb_rate_limit_make(HZ, 100, 10, 1);
	struct dplb_token_bucket bucket = { 0 };
	uint64_t now = 5 * HZ;
	int taken = 0;

	cr_assert_eq(limit.interval, HZ / 100);
	while (dplb_rate_limit_take(&bucket, &limit, now))
		taken++;
	cr_assert_eq(taken, 10, "burst of %d", taken);
	/* One interval later, one more; not before. */
	now += HZ / 100 - 1;
	cr_assert_not(dplb_rate_limit_take(&bucket, &limit, now));
	now += 1;
	cr_assert(dplb_rate_limit_take(&bucket, &limit, now));
	cr_assert_not(dplb_rate_limit_take(&bucket, &limit, now));
	/* A steady second at the rate: 100 taken, one every 10 ms. */
	taken = 0;
	for (int ms = 1; ms <= 1000; ms++)
		taken += dplb_rate_limit_take(&bucket, &limit, now + (uint64_t)ms * (HZ / 1000));
	cr_assert_eq(taken, 100);
}

Test(rate_limit, an_idle_bucket_fills_to_its_burst_and_no_more)
{
	const struct dplb_rate_limit limit = dplb_rate_limit_make(HZ, 100, 10, 1);
	struct dplb_token_bucket bucket = { 0 };
	uint64_t now = HZ;
	int taken = 0;

	while (dplb_rate_limit_take(&bucket, &limit, now))
		;
	now += 3600ull * HZ; /* an hour idle: still a burst of 10 */
	while (dplb_rate_limit_take(&bucket, &limit, now))
		taken++;
	cr_assert_eq(taken, 10);
	/* Half a burst's time: half a burst. */
	now += 5 * (HZ / 100);
	taken = 0;
	while (dplb_rate_limit_take(&bucket, &limit, now))
		taken++;
	cr_assert_eq(taken, 5);
}

Test(rate_limit, refused_takes_cost_nothing)
{
	const struct dplb_rate_limit limit = dplb_rate_limit_make(HZ, 10, 1, 1);
	struct dplb_token_bucket bucket = { 0 };

	cr_assert(dplb_rate_limit_take(&bucket, &limit, 0));
	for (int i = 0; i < 1000; i++)
		cr_assert_not(dplb_rate_limit_take(&bucket, &limit, HZ / 20));
	/* A flood of refusals does not push the next token further away. */
	cr_assert(dplb_rate_limit_take(&bucket, &limit, HZ / 10));
}

Test(rate_limit, shares_split_rate_and_burst)
{
	/* 1000/s and a burst of 100 over 4 workers: 250/s and 25 each. */
	const struct dplb_rate_limit limit = dplb_rate_limit_make(HZ, 1000, 100, 4);
	struct dplb_token_bucket bucket = { 0 };
	int taken = 0;

	cr_assert_eq(limit.interval, 4 * HZ / 1000);
	while (dplb_rate_limit_take(&bucket, &limit, 0))
		taken++;
	cr_assert_eq(taken, 25);
	taken = 0;
	for (uint64_t t = 1; t <= HZ; t++)
		taken += dplb_rate_limit_take(&bucket, &limit, t);
	cr_assert_eq(taken, 250);
	/* A burst smaller than the workers still lets each take one. */
	const struct dplb_rate_limit small = dplb_rate_limit_make(HZ, 3, 2, 8);
	struct dplb_token_bucket fresh = { 0 };

	cr_assert(dplb_rate_limit_take(&fresh, &small, 0));
	cr_assert_not(dplb_rate_limit_take(&fresh, &small, 0));
	cr_assert_eq(small.interval, 8ull * HZ / 3);
}

Test(rate_limit, burst_zero_is_a_second_of_the_rate)
{
	const struct dplb_rate_limit limit = dplb_rate_limit_make(HZ, 50, 0, 1);
	struct dplb_token_bucket bucket = { 0 };
	int taken = 0;

	while (dplb_rate_limit_take(&bucket, &limit, 7))
		taken++;
	cr_assert_eq(taken, 50);
}

Test(rate_limit, the_tsc_rates_do_not_overflow)
{
	/* A 5 GHz TSC, 128 workers, the largest rate and burst. */
	const struct dplb_rate_limit limit =
		dplb_rate_limit_make(5000000000ull, 100000000u, 100000000u, 128);
	struct dplb_token_bucket bucket = { .empty_at = 0 };

	cr_assert_eq(limit.interval, 5000000000ull * 128 / 100000000u);
	cr_assert_eq(limit.tolerance, (100000000ull / 128 - 1) * limit.interval);
	cr_assert(dplb_rate_limit_take(&bucket, &limit, UINT64_C(1) << 62));
}
