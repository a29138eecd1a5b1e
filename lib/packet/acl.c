/*
 * Compiling allow and deny lists into longest-match rules (see acl.h for
 * the rule and why the compilation keeps it). Which prefixes cover which
 * is asked of sets sorted by (length, address): a prefix P is covered by a
 * set when, for some length l <= P's that the set has, P's address cut to
 * l bits is in it. 33 binary searches at most for IPv4, 129 for IPv6, so
 * 10,000 prefixes compile in a few milliseconds. Addresses are 16 bytes
 * whatever the family (acl.h), so every step is written once.
 */
#include "packet/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LENGTH 128

/* Bits past length cleared, in the 16 bytes of to (from may be to). */
static void cut_address(uint8_t to[16], const uint8_t from[16], unsigned int length)
{
	for (unsigned int i = 0; i < 16; i++) {
		const unsigned int kept = length >= 8 * (i + 1) ? 8
					  : length > 8 * i	? length - 8 * i
								: 0;

		to[i] = from[i] & (uint8_t)(0xff00u >> kept);
	}
}

static unsigned int family_bits(uint8_t family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

static int rule_compare(const void *a, const void *b)
{
	const struct dplb_acl_rule *x = a, *y = b;

	if (x->length != y->length)
		return x->length < y->length ? -1 : 1;
	return memcmp(x->address, y->address, sizeof(x->address));
}

/* Sorted in place, each once: how many are left. */
static uint32_t sort_unique(struct dplb_acl_rule *items, uint32_t count)
{
	uint32_t kept = 0;

	qsort(items, count, sizeof(*items), rule_compare);
	for (uint32_t i = 0; i < count; i++)
		if (kept == 0 || rule_compare(&items[kept - 1], &items[i]) != 0)
			items[kept++] = items[i];
	return kept;
}

/* Prefixes as rules of one verdict, sorted, each once. */
struct prefix_set {
	uint32_t count;
	struct dplb_acl_rule *items;
	bool lengths[MAX_LENGTH + 1]; /* some prefix is this many bits long */
};

static int set_make(struct prefix_set *set, const struct dplb_prefix *prefixes, uint32_t count,
		    uint8_t family, uint8_t verdict)
{
	memset(set, 0, sizeof(*set));
	set->items = malloc((count ? count : 1) * sizeof(*set->items));
	if (set->items == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		if (prefixes[i].family != family || prefixes[i].length > family_bits(family)) {
			free(set->items);
			set->items = NULL;
			return -EINVAL;
		}
		set->items[i] =
			(struct dplb_acl_rule){ .length = prefixes[i].length, .verdict = verdict };
		memcpy(set->items[i].address, &prefixes[i].address, family_bits(family) / 8);
		cut_address(set->items[i].address, set->items[i].address, prefixes[i].length);
	}
	set->count = sort_unique(set->items, count);
	for (uint32_t i = 0; i < set->count; i++)
		set->lengths[set->items[i].length] = true;
	return 0;
}

/* Whether a prefix of set at most max_length bits long contains address. */
static bool set_covers(const struct prefix_set *set, const uint8_t address[16], int max_length)
{
	struct dplb_acl_rule key = { 0 };

	for (int length = 0; length <= max_length; length++) {
		if (!set->lengths[length])
			continue;
		cut_address(key.address, address, (unsigned int)length);
		key.length = (uint8_t)length;
		if (bsearch(&key, set->items, set->count, sizeof(key), rule_compare) != NULL)
			return true;
	}
	return false;
}

/* The tbl8 groups the rules need (acl.h): the distinct first L bits, for
 * L = 24, 32, ... below some rule's length. */
static int count_long_blocks(struct dplb_acl_rules *out)
{
	uint32_t n = 0, room = 0;
	struct dplb_acl_rule *blocks;

	for (uint32_t i = 0; i < out->count; i++)
		if (out->rules[i].length > 24)
			room += (out->rules[i].length - 24 + 7) / 8;
	blocks = malloc((room ? room : 1) * sizeof(*blocks));
	if (blocks == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < out->count; i++) {
		for (unsigned int level = 24; level < out->rules[i].length; level += 8) {
			blocks[n] = (struct dplb_acl_rule){ .length = (uint8_t)level };
			cut_address(blocks[n++].address, out->rules[i].address, level);
		}
	}
	out->long_blocks = sort_unique(blocks, n);
	free(blocks);
	return 0;
}

int dplb_acl_compile(const struct dplb_prefix *allow, uint32_t allow_count,
		     const struct dplb_prefix *deny, uint32_t deny_count, uint8_t family,
		     struct dplb_acl_rules *out)
{
	struct prefix_set *allows = NULL, *denies = NULL, *kept_allows = NULL;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (family_bits(family) == 0)
		return -EINVAL;
	/* The sets are big for a stack (a length table each). */
	allows = calloc(1, sizeof(*allows));
	denies = calloc(1, sizeof(*denies));
	kept_allows = calloc(1, sizeof(*kept_allows));
	if (allows == NULL || denies == NULL || kept_allows == NULL)
		goto out;
	rc = set_make(allows, allow, allow_count, family, DPLB_ACL_ALLOW);
	if (rc != 0)
		goto out;
	rc = set_make(denies, deny, deny_count, family, DPLB_ACL_DENY);
	if (rc != 0)
		goto out;
	out->family = family;
	out->default_verdict = allows->count > 0 ? DPLB_ACL_DENY : DPLB_ACL_ALLOW;
	out->rules = malloc((allows->count + denies->count + 1) * sizeof(*out->rules));
	if (out->rules == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* An allow prefix inside a deny one (or equal to it) allows nothing. */
	kept_allows->items = out->rules;
	for (uint32_t i = 0; i < allows->count; i++) {
		const struct dplb_acl_rule *a = &allows->items[i];

		if (set_covers(denies, a->address, a->length))
			continue;
		out->rules[out->count++] = *a;
		kept_allows->lengths[a->length] = true;
	}
	kept_allows->count = out->count;
	/* With a deny default, a deny prefix matters only inside an allow one. */
	for (uint32_t i = 0; i < denies->count; i++) {
		const struct dplb_acl_rule *d = &denies->items[i];

		if (out->default_verdict == DPLB_ACL_DENY &&
		    !set_covers(kept_allows, d->address, (int)d->length - 1))
			continue;
		out->rules[out->count++] = *d;
	}
	qsort(out->rules, out->count, sizeof(*out->rules), rule_compare);
	/* A /0 rule (at most one is left) matches every source: it is the
	 * default, and rte_lpm and rte_lpm6 take no rule shorter than 1 bit. */
	if (out->count > 0 && out->rules[0].length == 0) {
		out->default_verdict = out->rules[0].verdict;
		out->count--;
		memmove(out->rules, out->rules + 1, out->count * sizeof(*out->rules));
	}
	rc = count_long_blocks(out);
out:
	if (allows != NULL)
		free(allows->items);
	if (denies != NULL)
		free(denies->items);
	free(allows);
	free(denies);
	free(kept_allows); /* its items are out's */
	if (rc != 0)
		dplb_acl_rules_free(out);
	return rc;
}

void dplb_acl_rules_free(struct dplb_acl_rules *rules)
{
	free(rules->rules);
	memset(rules, 0, sizeof(*rules));
}

bool dplb_acl_rules_equal(const struct dplb_acl_rules *a, const struct dplb_acl_rules *b)
{
	if (a->family != b->family || a->count != b->count ||
	    a->default_verdict != b->default_verdict)
		return false;
	for (uint32_t i = 0; i < a->count; i++)
		if (rule_compare(&a->rules[i], &b->rules[i]) != 0 ||
		    a->rules[i].verdict != b->rules[i].verdict)
			return false;
	return true;
}

static uint64_t fnv(uint64_t hash, const uint8_t *bytes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		hash ^= bytes[i];
		hash *= 0x100000001b3ull;
	}
	return hash;
}

uint64_t dplb_acl_rules_hash(const struct dplb_acl_rules *rules)
{
	const uint8_t head[2] = { rules->family, rules->default_verdict };
	uint64_t hash = fnv(0xcbf29ce484222325ull, head, sizeof(head));

	for (uint32_t i = 0; i < rules->count; i++) {
		const struct dplb_acl_rule *r = &rules->rules[i];
		const uint8_t tail[2] = { r->length, r->verdict };

		hash = fnv(hash, r->address, sizeof(r->address));
		hash = fnv(hash, tail, sizeof(tail));
	}
	return hash;
}

/* Whether the first length bits of a and b are the same. */
static bool same_prefix(const uint8_t *a, const uint8_t *b, unsigned int length)
{
	const unsigned int bytes = length / 8, bits = length % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return bits == 0 || ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff00u >> bits)) == 0;
}

static bool prefix_contains(const struct dplb_prefix *p, uint8_t family, const void *source)
{
	return p->family == family && p->length <= family_bits(family) &&
	       same_prefix((const uint8_t *)&p->address, source, p->length);
}

enum dplb_acl_verdict dplb_acl_decide(const struct dplb_prefix *allow, uint32_t allow_count,
				      const struct dplb_prefix *deny, uint32_t deny_count,
				      uint8_t family, const void *source)
{
	for (uint32_t i = 0; i < deny_count; i++)
		if (prefix_contains(&deny[i], family, source))
			return DPLB_ACL_DENY;
	if (allow_count == 0)
		return DPLB_ACL_ALLOW;
	for (uint32_t i = 0; i < allow_count; i++)
		if (prefix_contains(&allow[i], family, source))
			return DPLB_ACL_ALLOW;
	return DPLB_ACL_DENY;
}

enum dplb_acl_verdict dplb_acl_rules_match(const struct dplb_acl_rules *rules, const void *source)
{
	int best = -1;
	uint8_t verdict = rules->default_verdict;

	for (uint32_t i = 0; i < rules->count; i++) {
		const struct dplb_acl_rule *r = &rules->rules[i];

		if (same_prefix(r->address, source, r->length) && r->length > best) {
			best = r->length;
			verdict = r->verdict;
		}
	}
	return (enum dplb_acl_verdict)verdict;
}
