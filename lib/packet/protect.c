/*
 * Building a VIP's protection into a snapshot: its allow and deny lists
 * compiled (acl.h) and loaded into an rte_lpm table (rte_lpm6 for an IPv6
 * VIP's), shared with every
 * snapshot and VIP whose lists compile to the same rules; and its new-flow
 * rate limit cut into one worker's share on the TSC's clock.
 *
 * The tables in use are a list of this file's, with a reference per
 * snapshot VIP entry holding one. References are taken while a snapshot is
 * built and given back when it is freed after its grace period, both on
 * the management lcore, so they need no atomics (as state.c's shared
 * configurations).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_byteorder.h>
#include <rte_errno.h>

#include "packet/protect.h"

struct dplb_acl_table {
	struct rte_lpm *lpm;	     /* an IPv4 VIP's */
	struct rte_lpm6 *lpm6;	     /* or an IPv6 VIP's */
	struct dplb_acl_rules rules; /* what it was built from, to match others to */
	uint64_t hash;
	uint32_t references;
	struct dplb_acl_table *next;
};

static struct dplb_acl_table *tables; /* in use; management lcore only */
static uint32_t table_count;
static unsigned int table_names; /* rte_lpm wants a name no other table has */

static void table_free(struct dplb_acl_table *table)
{
	rte_lpm_free(table->lpm);
	rte_lpm6_free(table->lpm6);
	dplb_acl_rules_free(&table->rules);
	free(table);
}

/* table's rte_lpm, or rte_lpm6 for IPv6 rules, sized for its rules. */
static int table_make_lpm(struct dplb_acl_table *table, const char *name)
{
	const uint32_t rules = table->rules.count ? table->rules.count : 1;
	const uint32_t tbl8s = table->rules.long_blocks ? table->rules.long_blocks : 1;

	if (table->rules.family == AF_INET6) {
		const struct rte_lpm6_config config = { .max_rules = rules, .number_tbl8s = tbl8s };

		table->lpm6 = rte_lpm6_create(name, SOCKET_ID_ANY, &config);
	} else {
		const struct rte_lpm_config config = { .max_rules = rules, .number_tbl8s = tbl8s };

		table->lpm = rte_lpm_create(name, SOCKET_ID_ANY, &config);
	}
	if (table->lpm == NULL && table->lpm6 == NULL)
		return rte_errno ? -rte_errno : -ENOMEM;
	return 0;
}

static int table_add_rule(struct dplb_acl_table *table, const struct dplb_acl_rule *r)
{
	uint32_t ipv4;

	if (table->lpm6 != NULL)
		return rte_lpm6_add(table->lpm6, r->address, r->length, r->verdict);
	memcpy(&ipv4, r->address, sizeof(ipv4));
	return rte_lpm_add(table->lpm, rte_be_to_cpu_32(ipv4), r->length, r->verdict);
}

/* A new table for rules (taken over), with one reference. */
static int table_create(struct dplb_acl_rules *rules, uint64_t hash, const char *vip,
			struct dplb_acl_table **out, char *error)
{
	struct dplb_acl_table *table = calloc(1, sizeof(*table));
	char name[RTE_LPM_NAMESIZE < RTE_LPM6_NAMESIZE ? RTE_LPM_NAMESIZE : RTE_LPM6_NAMESIZE];
	int rc;

	if (table == NULL) {
		dplb_acl_rules_free(rules);
		snprintf(error, DPLB_ERROR_MAX, "vip %s: no memory for its allow and deny lists",
			 vip);
		return -ENOMEM;
	}
	table->rules = *rules;
	memset(rules, 0, sizeof(*rules));
	snprintf(name, sizeof(name), "dplb_acl_%u", table_names++);
	rc = table_make_lpm(table, name);
	if (rc != 0) {
		snprintf(error, DPLB_ERROR_MAX,
			 "vip %s: cannot make the table of its allow and "
			 "deny lists (%u rules, 64 MiB and %u KiB): %s",
			 vip, table->rules.count,
			 table->rules.long_blocks ? table->rules.long_blocks : 1,
			 rte_strerror(-rc));
		table_free(table);
		return rc;
	}
	for (uint32_t i = 0; i < table->rules.count; i++) {
		rc = table_add_rule(table, &table->rules.rules[i]);
		if (rc != 0) {
			snprintf(error, DPLB_ERROR_MAX,
				 "vip %s: cannot load its allow and deny "
				 "lists (rule %u of %u): %s",
				 vip, i + 1, table->rules.count, strerror(-rc));
			table_free(table);
			return rc;
		}
	}
	table->hash = hash;
	table->references = 1;
	table->next = tables;
	tables = table;
	table_count++;
	*out = table;
	return 0;
}

/* The table deciding as vc's lists do, found or made, with a reference. */
static int table_get(const struct dplb_vip_config *vc, struct dplb_acl_table **out, char *error)
{
	struct dplb_acl_rules rules;
	int rc = dplb_acl_compile(vc->allow.items, vc->allow.count, vc->deny.items, vc->deny.count,
				  vc->family == AF_INET6 ? AF_INET6 : AF_INET, &rules);

	if (rc != 0) {
		snprintf(error, DPLB_ERROR_MAX,
			 "vip %s: cannot compile its allow and deny lists: "
			 "%s",
			 vc->name, strerror(-rc));
		return rc;
	}
	const uint64_t hash = dplb_acl_rules_hash(&rules);

	for (struct dplb_acl_table *t = tables; t != NULL; t = t->next) {
		if (t->hash == hash && dplb_acl_rules_equal(&t->rules, &rules)) {
			dplb_acl_rules_free(&rules);
			t->references++;
			*out = t;
			return 0;
		}
	}
	return table_create(&rules, hash, vc->name, out, error);
}

int dplb_protect_build(struct dplb_vip_protection *p, const struct dplb_vip_config *vc,
		       uint32_t workers, char *error)
{
	memset(p, 0, sizeof(*p));
	if (vc->new_flow_rate != 0) {
		p->limited = 1;
		p->stateless = vc->rate_limit_action == DPLB_RATE_LIMIT_STATELESS;
		p->new_flow_limit = dplb_rate_limit_make(rte_get_tsc_hz(), vc->new_flow_rate,
							 vc->new_flow_burst, workers);
	}
	if (vc->allow.count == 0 && vc->deny.count == 0)
		return 0;
	const int rc = table_get(vc, &p->table, error);

	if (rc != 0) {
		memset(p, 0, sizeof(*p));
		return rc;
	}
	p->acl = p->table->lpm;
	p->acl6 = p->table->lpm6;
	p->acl_default_allows = p->table->rules.default_verdict == DPLB_ACL_ALLOW;
	return 0;
}

void dplb_protect_release(struct dplb_vip_protection *p)
{
	struct dplb_acl_table *table = p->table;

	memset(p, 0, sizeof(*p));
	if (table == NULL || --table->references > 0)
		return;
	for (struct dplb_acl_table **link = &tables; *link != NULL; link = &(*link)->next) {
		if (*link == table) {
			*link = table->next;
			break;
		}
	}
	table_count--;
	table_free(table);
}

uint32_t dplb_protect_table_count(void)
{
	return table_count;
}
