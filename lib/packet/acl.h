/*
 * A VIP's source allow and deny lists, compiled into rules one longest-
 * prefix-match lookup can decide by (protect.c loads them into rte_lpm, or
 * rte_lpm6 for an IPv6 VIP).
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
 * One text for both families: a rule's address is 16 bytes in network
 * order, an IPv4 one in its first 4 (the rest zero), and lengths run to 32
 * or 128. A VIP's lists are of its own family (its clients are), and
 * compiling is told which. Pure C, no DPDK; any thread.
 */
#ifndef DPLB_ACL_H
#define DPLB_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/values.h"

enum dplb_acl_verdict { DPLB_ACL_DENY = 0, DPLB_ACL_ALLOW = 1 };

struct dplb_acl_rule {
	uint8_t address[16]; /* network order; IPv4 in the first 4 bytes */
	uint8_t length;
	uint8_t verdict; /* enum dplb_acl_verdict */
};

struct dplb_acl_rules {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint32_t count;
	struct dplb_acl_rule *rules; /* malloc'd, ordered by length then address */
	uint8_t default_verdict;     /* for a source no rule matches */
	/* The tbl8 groups rte_lpm or rte_lpm6 needs: both look up the first
	 * 24 bits in one table and each further 8 in a group of 256, so a
	 * rule longer than L bits (L = 24, 32, ...) needs a group for its
	 * first L bits, shared with the rules that start alike. For IPv4,
	 * the /24 blocks that rules longer than /24 fall in. */
	uint32_t long_blocks;
};

/*
 * Compile allow (allow_count prefixes) and deny, all of family (AF_INET or
 * AF_INET6), into out. Duplicates are harmless. Returns 0, -EINVAL for a
 * prefix of another family (or a family that is neither), or -ENOMEM.
 */
int dplb_acl_compile(const struct dplb_prefix *allow, uint32_t allow_count,
		     const struct dplb_prefix *deny, uint32_t deny_count, uint8_t family,
		     struct dplb_acl_rules *out);

void dplb_acl_rules_free(struct dplb_acl_rules *rules);

/* Whether two compilations decide every source alike (same rules, same
 * default), so that one table can serve both. */
bool dplb_acl_rules_equal(const struct dplb_acl_rules *a, const struct dplb_acl_rules *b);

/* FNV-1a of the rules and default: where equal ones are looked for. */
uint64_t dplb_acl_rules_hash(const struct dplb_acl_rules *rules);

/* The rule itself, read from the lists, for a source of family (4 or 16
 * bytes in network order; prefixes of the other family match nothing):
 * what the tests hold the compiled rules to. */
enum dplb_acl_verdict dplb_acl_decide(const struct dplb_prefix *allow, uint32_t allow_count,
				      const struct dplb_prefix *deny, uint32_t deny_count,
				      uint8_t family, const void *source);

/* The verdict of the longest rule matching source (4 or 16 bytes in network
 * order, of the rules' family), or the default: what rte_lpm and rte_lpm6
 * answer, done by a scan, for tests. */
enum dplb_acl_verdict dplb_acl_rules_match(const struct dplb_acl_rules *rules, const void *source);

#endif
