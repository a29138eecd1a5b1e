/*
 * Unit tests for the pure parts of VIP protection: compiling allow and deny
 * lists into longest-match rules (lib/packet/acl.c), held to the rule read
 * straight from the lists for handcrafted cases and for thousands of random
 * lists and sources, of either family; and the new-flow token bucket (lib/packet/rate_limit.h)
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
	uint8_t family; /* 0: AF_INET */
};

static uint8_t family_of(const struct lists *l)
{
	return l->family ? l->family : AF_INET;
}

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
	cr_assert_eq(dplb_acl_compile(l->allow, l->allow_count, l->deny, l->deny_count,
				      family_of(l), rules),
		     0);
	cr_assert_eq(rules->family, family_of(l));
}

/* The compiled rules decide source (4 or 16 bytes, network order) as the
 * lists do; returns the verdict. */
static enum dplb_acl_verdict check(const struct lists *l, const struct dplb_acl_rules *rules,
				   const void *source)
{
	const enum dplb_acl_verdict want = dplb_acl_decide(l->allow, l->allow_count, l->deny,
							   l->deny_count, family_of(l), source);
	const enum dplb_acl_verdict got = dplb_acl_rules_match(rules, source);
	char text[INET6_ADDRSTRLEN];

	inet_ntop(family_of(l), source, text, sizeof(text));
	cr_assert_eq(got, want, "source %s: rules say %d, lists %d", text, got, want);
	return got;
}

static enum dplb_acl_verdict verdict(const struct lists *l, const struct dplb_acl_rules *rules,
				     uint32_t source)
{
	return check(l, rules, &source);
}

/* The same for an IPv6 source given as text. */
static enum dplb_acl_verdict verdict6(const struct lists *l, const struct dplb_acl_rules *rules,
				      const char *source)
{
	uint8_t address[16];

	cr_assert_eq(inet_pton(AF_INET6, source, address), 1, "bad test address %s", source);
	return check(l, rules, address);
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

/* Random lists of up to 11 prefixes each, made by make. */
static void random_lists(struct lists *l, uint64_t *rng, struct dplb_prefix (*make)(uint64_t *))
{
	l->allow_count = (uint32_t)(next_random(rng) % 12);
	l->deny_count = (uint32_t)(next_random(rng) % 12);
	for (uint32_t i = 0; i < l->allow_count; i++)
		l->allow[i] = make(rng);
	for (uint32_t i = 0; i < l->deny_count; i++)
		l->deny[i] = make(rng);
}

Test(acl, compiled_rules_decide_as_the_lists_for_random_lists)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (int round = 0; round < 2000; round++) {
		struct dplb_acl_rules rules;
		struct lists l = { 0 };

		random_lists(&l, &rng, random_prefix);
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

Test(acl, a_prefix_of_the_other_family_is_refused)
{
	struct dplb_acl_rules rules;
	const struct dplb_prefix v6 = prefix("2001:db8::/32"), v4 = prefix("10.0.0.0/8");
	const struct dplb_prefix long4 = { .family = AF_INET, .length = 33 };

	cr_assert_eq(dplb_acl_compile(&v6, 1, NULL, 0, AF_INET, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(NULL, 0, &v6, 1, AF_INET, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(&v4, 1, NULL, 0, AF_INET6, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(NULL, 0, &v4, 1, AF_INET6, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(&long4, 1, NULL, 0, AF_INET, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(NULL, 0, NULL, 0, 0, &rules), -EINVAL);
	cr_assert_eq(dplb_acl_compile(&v6, 1, &v6, 1, AF_INET6, &rules), 0);
	dplb_acl_rules_free(&rules);
}

/* ---- IPv6 ------------------------------------------------------------------ */

Test(acl, ipv6_deny_wins_at_any_length)
{
	struct dplb_acl_rules rules;
	struct lists l = { .family = AF_INET6 };

	add(l.deny, &l.deny_count, "2001:db8::/32");
	add(l.allow, &l.allow_count, "2001:db8:1::/48"); /* inside the deny: nothing */
	add(l.allow, &l.allow_count, "2001:db8:8000::/33");
	add(l.allow, &l.allow_count, "fd00::/8");
	add(l.deny, &l.deny_count, "fd00:1:2:3::/64"); /* a hole in an allow */
	add(l.allow, &l.allow_count, "2001:db9::7");   /* in both: denied */
	add(l.deny, &l.deny_count, "2001:db9::7");
	compile(&l, &rules);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "2001:db8:1::1"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "2001:db8:8000::1"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "fd00:1:2:4::1"), DPLB_ACL_ALLOW);
	cr_assert_eq(verdict6(&l, &rules, "fd00:1:2:3:ffff::1"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "2001:db9::7"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "2001:db9::8"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "::ffff:10.0.0.1"), DPLB_ACL_DENY);
	/* Left out: the allows inside the deny, the denies no allow holds. */
	cr_assert_eq(rules.count, 2, "%u rules", rules.count);
	dplb_acl_rules_free(&rules);
}

Test(acl, ipv6_a_deny_list_alone_lets_the_rest_in)
{
	struct dplb_acl_rules rules;
	struct lists l = { .family = AF_INET6 };

	add(l.deny, &l.deny_count, "2001:db8:bad::/48");
	add(l.deny, &l.deny_count, "2001:db8::1");
	compile(&l, &rules);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_ALLOW);
	cr_assert_eq(rules.count, 2);
	cr_assert_eq(verdict6(&l, &rules, "2001:db8:bad:1::1"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "2001:db8::1"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&l, &rules, "2001:db8::2"), DPLB_ACL_ALLOW);
	cr_assert_eq(verdict6(&l, &rules, "2001:db8:bae::1"), DPLB_ACL_ALLOW);
	dplb_acl_rules_free(&rules);
}

/* rte_lpm and rte_lpm6 take no /0 rule: a /0 is the default instead. */
Test(acl, a_prefix_of_length_0_becomes_the_default)
{
	struct dplb_acl_rules rules;
	struct lists six = { .family = AF_INET6 }, four = { 0 };

	add(six.allow, &six.allow_count, "::/0");
	add(six.deny, &six.deny_count, "2001:db8::/32");
	compile(&six, &rules);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_ALLOW);
	cr_assert_eq(rules.count, 1);
	cr_assert_eq(verdict6(&six, &rules, "2001:db8::1"), DPLB_ACL_DENY);
	cr_assert_eq(verdict6(&six, &rules, "2001:db9::1"), DPLB_ACL_ALLOW);
	dplb_acl_rules_free(&rules);

	add(four.deny, &four.deny_count, "0.0.0.0/0");
	compile(&four, &rules);
	cr_assert_eq(rules.default_verdict, DPLB_ACL_DENY);
	cr_assert_eq(rules.count, 0);
	cr_assert_eq(verdict(&four, &rules, ip("10.0.0.1")), DPLB_ACL_DENY);
	dplb_acl_rules_free(&rules);
}

Test(acl, ipv6_long_prefixes_need_a_group_per_8_bits)
{
	struct dplb_acl_rules rules;
	struct lists l = { .family = AF_INET6 };

	/* Past the first 24 bits, a group at 24, 32, ... 120: 13. */
	add(l.allow, &l.allow_count, "2001:db8::1");
	compile(&l, &rules);
	cr_assert_eq(rules.long_blocks, 13);
	dplb_acl_rules_free(&rules);
	/* Another /128 in the same last group, and a /64 on the same path. */
	add(l.allow, &l.allow_count, "2001:db8::2");
	add(l.allow, &l.allow_count, "2001:db8:0:1::/64");
	compile(&l, &rules);
	cr_assert_eq(rules.long_blocks, 13);
	dplb_acl_rules_free(&rules);
	/* Parting from it after 24 bits: two groups of its own (32, 40). */
	add(l.allow, &l.allow_count, "2001:db9::/48");
	/* No longer than 24 bits: none. */
	add(l.allow, &l.allow_count, "2001:d00::/24");
	compile(&l, &rules);
	cr_assert_eq(rules.long_blocks, 15);
	dplb_acl_rules_free(&rules);
}

/* A random IPv6 prefix in a small corner (2001:db8:X::Y, X and Y of a few
 * bits), at any length, so that lists nest from /0 to /128. */
static void random_address6(uint64_t *rng, uint8_t address[16])
{
	static const uint8_t corner[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	const uint64_t r = next_random(rng);

	memcpy(address, corner, 16);
	address[4] = (uint8_t)(r & 0x03);
	address[5] = (uint8_t)((r >> 8) & 0x81);
	address[15] = (uint8_t)((r >> 16) & 0x0f);
	address[8] = (uint8_t)((r >> 24) & 0x80);
}

static struct dplb_prefix random_prefix6(uint64_t *rng)
{
	struct dplb_prefix p = { .family = AF_INET6, .length = (uint8_t)(next_random(rng) % 129) };

	random_address6(rng, p.address.ipv6);
	for (unsigned int bit = p.length; bit < 128; bit++)
		p.address.ipv6[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	return p;
}

Test(acl, ipv6_compiled_rules_decide_as_the_lists_for_random_lists)
{
	uint64_t rng = 0x2545f4914f6cdd1dull;

	for (int round = 0; round < 2000; round++) {
		struct dplb_acl_rules rules;
		struct lists l = { .family = AF_INET6 };
		uint8_t source[16];

		random_lists(&l, &rng, random_prefix6);
		compile(&l, &rules);
		cr_assert_leq(rules.count, l.allow_count + l.deny_count);
		for (int s = 0; s < 200; s++) {
			random_address6(&rng, source);
			if (s % 4 == 0 && l.allow_count)
				memcpy(source,
				       l.allow[next_random(&rng) % l.allow_count].address.ipv6, 16);
			else if (s % 4 == 1 && l.deny_count)
				memcpy(source,
				       l.deny[next_random(&rng) % l.deny_count].address.ipv6, 16);
			check(&l, &rules, source);
		}
		verdict6(&l, &rules, "2001:db9::1");
		dplb_acl_rules_free(&rules);
	}
}

Test(acl, lists_of_the_two_families_never_compile_alike)
{
	struct dplb_acl_rules a, b;
	struct lists four = { 0 }, six = { .family = AF_INET6 };

	/* 10.0.0.0/8 and a00::/8 have the same bytes and length. */
	add(four.deny, &four.deny_count, "10.0.0.0/8");
	add(six.deny, &six.deny_count, "a00::/8");
	compile(&four, &a);
	compile(&six, &b);
	cr_assert_not(dplb_acl_rules_equal(&a, &b));
	cr_assert_neq(dplb_acl_rules_hash(&a), dplb_acl_rules_hash(&b));
	dplb_acl_rules_free(&a);
	dplb_acl_rules_free(&b);
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
