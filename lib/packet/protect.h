/*
 * Protection for VIPs, at L4: which sources a VIP takes (allow and deny
 * lists, looked up in rte_lpm, or rte_lpm6 on an IPv6 VIP) and how many new flows per second (a token
 * bucket per worker). Built into each snapshot on the management lcore,
 * read by workers through the inline checks below, freed with the snapshot
 * after its RCU grace period.
 *
 * Sources are checked on every packet a VIP would forward, established
 * flows included, so that a reload or an API change that denies a source
 * stops its flows at once rather than when they end; ICMP errors about a
 * flow are checked by that flow's client. A VIP without lists pays one
 * predicted branch. The rate limit is checked only where a flow entry
 * would be made: a flow beyond it is dropped, or forwarded by the VIP's
 * hash without an entry (rate_limit_action = stateless).
 *
 * An ACL table is rte_lpm's or rte_lpm6's: 64 MiB of tbl24 whatever the
 * list's length, plus 1 KiB per tbl8 group (acl.h's long_blocks: per /24
 * block with longer prefixes; for IPv6, per further 8 bits of them). Snapshots and VIPs whose
 * lists decide alike share one table (management lcore only: building a
 * snapshot finds it, freeing the last snapshot that holds it frees it), so
 * a health change or a reload that leaves the lists alone costs nothing.
 */
#ifndef DPLB_PROTECT_H
#define DPLB_PROTECT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_prefetch.h>

#include "control/config.h"
#include "packet/acl.h"
#include "packet/counters.h"
#include "packet/rate_limit.h"

/* What resolving a new flow refused by a rate limit with the drop action
 * gives instead of a backend id (never one, nor MAGLEV_NO_BACKEND). */
#define DPLB_NEW_FLOW_DROPPED (UINT32_MAX - 1)

struct dplb_acl_table;

/* A VIP's protection, as its snapshot entry holds it. */
struct dplb_vip_protection {
	const struct rte_lpm *acl;	       /* NULL: the VIP has no lists, every source passes */
	const struct rte_lpm6 *acl6;	       /* the same for an IPv6 VIP (acl is then NULL) */
	uint8_t acl_default_allows;	       /* the verdict for a source no prefix matches */
	uint8_t limited;		       /* new_flow_rate is set */
	uint8_t stateless;		       /* rate_limit_action = stateless */
	struct dplb_rate_limit new_flow_limit; /* one worker's share, in TSC cycles */
	struct dplb_acl_table *table;	       /* the reference this snapshot holds */
};

/*
 * Fill p from vc for a process of workers worker lcores: the ACL table
 * (found among those in use, or built) and the rate limit's per-worker
 * share. Returns 0, or a negative errno with error (DPLB_ERROR_MAX bytes)
 * saying why; p then holds nothing to release. Management lcore.
 */
int dplb_protect_build(struct dplb_vip_protection *p, const struct dplb_vip_config *vc,
		       uint32_t workers, char *error);

/* Give back p's table (freed when no snapshot holds it). Management lcore,
 * once no worker can read p (after the snapshot's grace period). */
void dplb_protect_release(struct dplb_vip_protection *p);

/* How many ACL tables exist now. For tests. */
uint32_t dplb_protect_table_count(void);

/* Whether p lets a packet from source (network order) through. */
static inline bool dplb_protect_source_allowed(const struct dplb_vip_protection *p, uint32_t source)
{
	uint32_t verdict;

	if (likely(p->acl == NULL))
		return true;
	if (rte_lpm_lookup(p->acl, rte_be_to_cpu_32(source), &verdict) != 0)
		return p->acl_default_allows;
	return verdict == DPLB_ACL_ALLOW;
}

/* Whether p (an IPv6 VIP's) lets a packet from source through. */
static inline bool dplb_protect_source_allowed6(const struct dplb_vip_protection *p,
						const uint8_t source[16])
{
	uint32_t verdict;

	if (likely(p->acl6 == NULL))
		return true;
	if (rte_lpm6_lookup(p->acl6, source, &verdict) != 0)
		return p->acl_default_allows;
	return verdict == DPLB_ACL_ALLOW;
}

/* Start reading the table entry source's check will read: the first
 * level is 64 MiB, so with many clients it is rarely in the cache. The
 * worker prefetches while it classifies a burst and checks after its bulk
 * flow lookup. */
static inline void dplb_protect_prefetch(const struct dplb_vip_protection *p, uint32_t source)
{
	if (p->acl != NULL)
		rte_prefetch0(&p->acl->tbl24[rte_be_to_cpu_32(source) >> 8]);
}

/* As dplb_protect_source_allowed, counting a refusal against vip_id (the
 * caller drops the packet as DPLB_DROP_ACL_DENIED). Worker lcore. */
static inline bool dplb_protect_check_source(struct dplb_worker_counters *counters,
					     const struct dplb_vip_protection *p, uint16_t vip_id,
					     uint32_t source)
{
	if (likely(dplb_protect_source_allowed(p, source)))
		return true;
	counters->vip_protection[vip_id].acl_denied++;
	return false;
}

/* dplb_protect_check_source for an IPv6 VIP. Worker lcore. */
static inline bool dplb_protect_check_source6(struct dplb_worker_counters *counters,
					      const struct dplb_vip_protection *p, uint16_t vip_id,
					      const uint8_t source[16])
{
	if (likely(dplb_protect_source_allowed6(p, source)))
		return true;
	counters->vip_protection[vip_id].acl_denied++;
	return false;
}

/* Whether a new flow may have an entry now: a token of this worker's
 * bucket for the VIP, taken. Worker lcore. */
static inline bool dplb_protect_admit_new_flow(struct dplb_token_bucket *bucket,
					       const struct dplb_vip_protection *p)
{
	if (likely(!p->limited))
		return true;
	return dplb_rate_limit_take(bucket, &p->new_flow_limit, rte_rdtsc());
}

/*
 * A new flow the rate limit refused, counted: hashed (the VIP's hash pick,
 * sent without an entry) when its action is stateless, else
 * DPLB_NEW_FLOW_DROPPED. Worker lcore.
 */
static inline uint32_t dplb_protect_refuse_new_flow(struct dplb_worker_counters *counters,
						    const struct dplb_vip_protection *p,
						    uint16_t vip_id, uint32_t hashed)
{
	counters->vip_protection[vip_id].rate_limited++;
	if (!p->stateless)
		return DPLB_NEW_FLOW_DROPPED;
	counters->rate_limited_stateless++;
	return hashed;
}

#endif
