/*
 * A VIP's source allow and deny lists, compiled into rules one longest-
 * prefix-match lookup can decide by (protect.c loads them into rte_lpm).
 *
 * The rule, as IPVS and firewall users expect it:
 *   - a source inside any deny prefix is refused, whatever the allow list
 *     says (deny wins, at any prefix length);
 *   - otherwise, when the allow list is not empty, only a source inside
 *     one of its prefixes passes;
 *   - with neither list, everything passes.
 *
 * A longest match alone would let a longer allow prefix override a
 * shorter deny: compiling drops every allow prefix that a deny prefix
 * covers (it could never allow anything), after which the longest match
 * of any source is a deny whenever some deny covers it, an allow when some
 * allow does, and nothing otherwise (the default verdict: deny when there
 * is an allow list, allow when not). Deny prefixes that no allow prefix
 * contains change nothing when the default is deny, and are left out too.
 *
 * Pure C, no DPDK; any thread. IPv4 only, as VIPs are.
 */
#ifndef DPLB_ACL_H
#define DPLB_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/values.h"

enum dplb_acl_verdict { DPLB_ACL_DENY = 0, DPLB_ACL_ALLOW = 1 };

struct dplb_acl_rule {
	uint32_t address; /* host order, as rte_lpm takes it */
	uint8_t length;
	uint8_t verdict; /* enum dplb_acl_verdict */
};

struct dplb_acl_rules {
	uint32_t count;
	struct dplb_acl_rule *rules; /* malloc'd, ordered by length then address */
	uint8_t default_verdict;     /* for a source no rule matches */
	/* The /24 blocks that rules longer than /24 fall in: the tbl8 groups
	 * rte_lpm needs for them. */
	uint32_t long_blocks;
};

/*
 * Compile allow (allow_count prefixes) and deny into out. Duplicates are
 * harmless. Returns 0, -EINVAL for a prefix that is not IPv4, or -ENOMEM.
 */
int dplb_acl_compile(const struct dplb_prefix *allow, uint32_t allow_count,
		     const struct dplb_prefix *deny, uint32_t deny_count,
		     struct dplb_acl_rules *out);

void dplb_acl_rules_free(struct dplb_acl_rules *rules);

/* Whether two compilations decide every source alike (same rules, same
 * default), so that one table can serve both. */
bool dplb_acl_rules_equal(const struct dplb_acl_rules *a, const struct dplb_acl_rules *b);

/* FNV-1a of the rules and default: where equal ones are looked for. */
uint64_t dplb_acl_rules_hash(const struct dplb_acl_rules *rules);

/* The rule itself, read from the lists (source in network order): what
 * the tests hold the compiled rules to, and what the API's lookup says. */
enum dplb_acl_verdict dplb_acl_decide(const struct dplb_prefix *allow, uint32_t allow_count,
				      const struct dplb_prefix *deny, uint32_t deny_count,
				      uint32_t source);

/* The verdict of the longest rule matching source (network order), or the
 * default: what rte_lpm answers, done by a scan, for tests. */
enum dplb_acl_verdict dplb_acl_rules_match(const struct dplb_acl_rules *rules, uint32_t source);

#endif
