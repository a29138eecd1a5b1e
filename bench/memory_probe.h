/*
 * What a random read of memory costs on this machine, with and without the
 * page translation a flow table meets: dplb-bench's "memory" scenario.
 *
 * A flow table's lookups land on random lines of a large table, each on a
 * page of its own. Where the hugepages DPDK hands out are really 2 MiB
 * pages down to the hardware, the 1M-flow table (23 MiB) takes a dozen
 * TLB entries and the 10M-flow one (233 MiB) about 120, and a lookup costs
 * what its line costs. Where they are not (a virtual machine whose host
 * backs guest memory with 4 KiB pages: the TLB then holds the smaller
 * size), nearly every lookup also walks the page tables, nested ones under
 * virtualisation, and prefetching overlaps only as many walks as the core
 * has page walkers. dplb cannot change that, so the benchmark says which
 * kind of machine it ran on.
 *
 * The probe: a pointer chase over as many cache lines as the footprint has
 * 4 KiB pages, twice, in one random cyclic order, in hugepage memory from
 * rte_malloc (where the flow tables live):
 *   spread  a line on every 4 KiB page of `footprint` bytes (a flow table's
 *           size), as a table's lookups land once it holds many flows;
 *   packed  the same number of lines side by side.
 * The caches see the same number of lines, spread over all their sets
 * either way; only the pages differ, so spread minus packed is what
 * translation adds to a read. Not quite all: packed lines share pages,
 * and a hardware prefetcher that follows neighbouring lines can help them
 * and never the spread ones, so a small remainder may show where
 * translation is free. Each read waits for the one before (a chase), so
 * these are latencies, not throughput.
 */
#ifndef DPLB_BENCH_MEMORY_PROBE_H
#define DPLB_BENCH_MEMORY_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct memory_probe_result {
	double spread; /* TSC cycles a read, one line per 4 KiB page */
	double packed; /* the same lines side by side */
};

/* Chase a line a 4 KiB page of footprint bytes (at least 2 pages), then
 * as many packed, `reads` reads each way; 0, or -ENOMEM / -EINVAL. */
int memory_probe_run(size_t footprint, uint64_t reads, struct memory_probe_result *out);

#endif
