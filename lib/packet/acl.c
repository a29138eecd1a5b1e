/*
 * Compiling allow and deny lists into longest-match rules (see acl.h for
 * the rule and why the compilation keeps it). Which prefixes cover which
 * is asked of sets sorted by (length, address): a prefix P is covered by a
 * set when, for some length l <= P's that the set has, P's address cut to
 * l bits is in it. 33 binary searches at most, so 10,000 prefixes compile
 * in a few milliseconds.
 */
#include "packet/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t host_mask(uint8_t length)
{
	return length == 0 ? 0 : ~0u << (32 - length);
}

static int rule_compare(const void *a, const void *b)
{
	const struct dplb_acl_rule *x = a, *y = b;

	if (x->length != y->length)
		return x->length < y->length ? -1 : 1;
	return x->address < y->address ? -1 : x->address > y->address;
}

/* Prefixes as rules of one verdict, sorted, each once. */
struct prefix_set {
	uint32_t count;
	struct dplb_acl_rule *items;
	uint64_t lengths; /* bit l: some prefix is l bits long */
};

static int set_make(struct prefix_set *set, const struct dplb_prefix *prefixes, uint32_t count,
		    uint8_t verdict)
{
	uint32_t kept = 0;

	memset(set, 0, sizeof(*set));
	set->items = malloc((count ? count : 1) * sizeof(*set->items));
	if (set->items == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		if (prefixes[i].family != AF_INET || prefixes[i].length > 32) {
			free(set->items);
			set->items = NULL;
			return -EINVAL;
		}
		set->items[i] = (struct dplb_acl_rule){
			.address = ntohl(prefixes[i].address.ipv4) & host_mask(prefixes[i].length),
			.length = prefixes[i].length,
			.verdict = verdict,
		};
	}
	qsort(set->items, count, sizeof(*set->items), rule_compare);
	for (uint32_t i = 0; i < count; i++) {
		if (kept > 0 && rule_compare(&set->items[kept - 1], &set->items[i]) == 0)
			continue;
		set->items[kept++] = set->items[i];
		set->lengths |= 1ull << set->items[i].length;
	}
	set->count = kept;
	return 0;
}

static bool set_has(const struct prefix_set *set, uint32_t address, uint8_t length)
{
	const struct dplb_acl_rule key = { .address = address, .length = length };

	return bsearch(&key, set->items, set->count, sizeof(key), rule_compare) != NULL;
}

/* Whether a prefix of set at most max_length bits long contains address. */
static bool set_covers(const struct prefix_set *set, uint32_t address, int max_length)
{
	for (int length = 0; length <= max_length; length++)
		if (((set->lengths >> length) & 1) &&
		    set_has(set, address & host_mask((uint8_t)length), (uint8_t)length))
			return true;
	return false;
}

static int compare_u32(const void *a, const void *b)
{
	const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* How many /24 blocks the rules longer than /24 fall in. */
static int count_long_blocks(struct dplb_acl_rules *out)
{
	uint32_t n = 0, *blocks = malloc((out->count ? out->count : 1) * sizeof(*blocks));

	if (blocks == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < out->count; i++)
		if (out->rules[i].length > 24)
			blocks[n++] = out->rules[i].address >> 8;
	qsort(blocks, n, sizeof(*blocks), compare_u32);
	out->long_blocks = 0;
	for (uint32_t i = 0; i < n; i++)
		out->long_blocks += i == 0 || blocks[i] != blocks[i - 1];
	free(blocks);
	return 0;
}

int dplb_acl_compile(const struct dplb_prefix *allow, uint32_t allow_count,
		     const struct dplb_prefix *deny, uint32_t deny_count,
		     struct dplb_acl_rules *out)
{
	struct prefix_set allows, denies, kept_allows = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = set_make(&allows, allow, allow_count, DPLB_ACL_ALLOW);
	if (rc != 0)
		return rc;
	rc = set_make(&denies, deny, deny_count, DPLB_ACL_DENY);
	if (rc != 0) {
		free(allows.items);
		return rc;
	}
	out->default_verdict = allows.count > 0 ? DPLB_ACL_DENY : DPLB_ACL_ALLOW;
	out->rules = malloc((allows.count + denies.count + 1) * sizeof(*out->rules));
	if (out->rules == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* An allow prefix inside a deny one (or equal to it) allows nothing. */
	kept_allows.items = out->rules;
	for (uint32_t i = 0; i < allows.count; i++) {
		const struct dplb_acl_rule *a = &allows.items[i];

		if (set_covers(&denies, a->address, a->length))
			continue;
		out->rules[out->count++] = *a;
		kept_allows.lengths |= 1ull << a->length;
	}
	kept_allows.count = out->count;
	/* With a deny default, a deny prefix matters only inside an allow one. */
	for (uint32_t i = 0; i < denies.count; i++) {
		const struct dplb_acl_rule *d = &denies.items[i];

		if (out->default_verdict == DPLB_ACL_DENY &&
		    !set_covers(&kept_allows, d->address, (int)d->length - 1))
			continue;
		out->rules[out->count++] = *d;
	}
	qsort(out->rules, out->count, sizeof(*out->rules), rule_compare);
	rc = count_long_blocks(out);
out:
	free(allows.items);
	free(denies.items);
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
	if (a->count != b->count || a->default_verdict != b->default_verdict)
		return false;
	for (uint32_t i = 0; i < a->count; i++)
		if (a->rules[i].address != b->rules[i].address ||
		    a->rules[i].length != b->rules[i].length ||
		    a->rules[i].verdict != b->rules[i].verdict)
			return false;
	return true;
}

static uint64_t fnv(uint64_t hash, uint64_t value, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++) {
		hash ^= (value >> (8 * i)) & 0xff;
		hash *= 0x100000001b3ull;
	}
	return hash;
}

uint64_t dplb_acl_rules_hash(const struct dplb_acl_rules *rules)
{
	uint64_t hash = fnv(0xcbf29ce484222325ull, rules->default_verdict, 1);

	for (uint32_t i = 0; i < rules->count; i++) {
		const struct dplb_acl_rule *r = &rules->rules[i];

		hash = fnv(hash, (uint64_t)r->address << 16 | (uint64_t)r->length << 8 | r->verdict,
			   6);
	}
	return hash;
}

static bool prefix_contains(const struct dplb_prefix *p, uint32_t source)
{
	const uint32_t mask = htonl(host_mask(p->length));

	return p->family == AF_INET && ((source ^ p->address.ipv4) & mask) == 0;
}

enum dplb_acl_verdict dplb_acl_decide(const struct dplb_prefix *allow, uint32_t allow_count,
				      const struct dplb_prefix *deny, uint32_t deny_count,
				      uint32_t source)
{
	for (uint32_t i = 0; i < deny_count; i++)
		if (prefix_contains(&deny[i], source))
			return DPLB_ACL_DENY;
	if (allow_count == 0)
		return DPLB_ACL_ALLOW;
	for (uint32_t i = 0; i < allow_count; i++)
		if (prefix_contains(&allow[i], source))
			return DPLB_ACL_ALLOW;
	return DPLB_ACL_DENY;
}

enum dplb_acl_verdict dplb_acl_rules_match(const struct dplb_acl_rules *rules, uint32_t source)
{
	const uint32_t address = ntohl(source);
	int best = -1;
	uint8_t verdict = rules->default_verdict;

	for (uint32_t i = 0; i < rules->count; i++) {
		const struct dplb_acl_rule *r = &rules->rules[i];

		if (((address ^ r->address) & host_mask(r->length)) == 0 && r->length > best) {
			best = r->length;
			verdict = r->verdict;
		}
	}
	return (enum dplb_acl_verdict)verdict;
}
