/*
 * The worker pipeline cut short: dplb-bench --stages times the real
 * per-packet functions one stage more at a time, so that the cycles of a
 * full pipeline can be told apart by stage (issue 12 asks where they go).
 *
 *   tx        the burst handed to the TX port as it came (the PMD's cost)
 *   parse     + dplb_parse_packet
 *   classify  + the VIP lookup, the flow key and the table's prepare
 *   lookup    + the flow table's bulk lookup
 *   encap     + IP-in-IP or GUE encapsulation toward the flow's backend
 *             (IPv6: with the flow hash an IPv6 outer header's label needs)
 *   full      dplb_worker_process_burst and the end of the loop iteration
 *             (what "full" adds over encap is the per-packet bookkeeping:
 *             counters, source checks, backend checks, TX queueing)
 *
 * Each stage runs everything the stages above it run, with the same
 * packets, so the difference between two lines is what the later stage
 * costs. A cut-short stage keeps no state and counts nothing.
 */
#ifndef DPLB_BENCH_STAGES_H
#define DPLB_BENCH_STAGES_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "control/state.h"
#include "packet/worker.h"

enum bench_stage {
	BENCH_STAGE_TX,
	BENCH_STAGE_PARSE,
	BENCH_STAGE_CLASSIFY,
	BENCH_STAGE_LOOKUP,
	BENCH_STAGE_ENCAP,
	BENCH_STAGE_FULL,
	BENCH_STAGE_COUNT,
};

extern const char *const bench_stage_name[BENCH_STAGE_COUNT];

/* Run burst (DPLB_BURST packets of established flows) through the stages
 * up to stage (never BENCH_STAGE_FULL), on worker's port and queue; every
 * mbuf is sent or freed. */
void bench_partial_pipeline(struct dplb_worker *worker, const struct dplb_state *state,
			    struct rte_mbuf **burst, enum bench_stage stage);

/* The same for a burst of IPv6 packets to an IPv6 VIP: the worker's IPv6
 * functions (find_vip6, the IPv6 flow table, the flow hash an IPv6 outer
 * header's label needs). */
void bench_partial_pipeline6(struct dplb_worker *worker, const struct dplb_state *state,
			     struct rte_mbuf **burst, enum bench_stage stage);

#endif
