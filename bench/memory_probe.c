/*
 * The page-translation probe (memory_probe.h).
 */
#include <errno.h>
#include <stdlib.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include "memory_probe.h"
#include "shuffle.h"

/* Link the lines at offsets[order[0]], offsets[order[1]], ... into one
 * cycle, each line holding the address of the next. */
static void link_lines(uint8_t *base, const size_t *offsets, const uint32_t *order, uint32_t lines)
{
	for (uint32_t i = 0; i < lines; i++) {
		void **line = (void **)(base + offsets[order[i]]);

		*line = base + offsets[order[(i + 1) % lines]];
	}
}

/* Follow the cycle from its first line: once round to load the lines and
 * their translations, then `reads` reads timed. TSC cycles a read. */
static double chase(uint8_t *base, const size_t *offsets, const uint32_t *order, uint32_t lines,
		    uint64_t reads)
{
	void **p = (void **)(base + offsets[order[0]]);

	for (uint32_t i = 0; i < lines; i++)
		p = *p;
	const uint64_t start = rte_rdtsc_precise();
	for (uint64_t i = 0; i < reads; i++)
		p = *p;
	const uint64_t cycles = rte_rdtsc_precise() - start;
	/* The chase's end is used, so the loop is not optimised away. */
	if (p == NULL)
		abort();
	return (double)cycles / (double)reads;
}

int memory_probe_run(size_t footprint, uint64_t reads, struct memory_probe_result *out)
{
	const size_t pages = footprint / RTE_PGSIZE_4K;

	if (pages < 2 || pages > UINT32_MAX || reads == 0)
		return -EINVAL; /* (pages > UINT32_MAX: where size_t is 64 bits) */
	const uint32_t lines = (uint32_t)pages;
	uint8_t *base = rte_malloc("dplb_bench_memory_probe", footprint, RTE_PGSIZE_4K);
	size_t *offsets = malloc(sizeof(*offsets) * lines);
	uint32_t *order = malloc(sizeof(*order) * lines);
	int rc = 0;

	if (base == NULL || offsets == NULL || order == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* One random cyclic order for both layouts, the same every run. */
	uint64_t rng = xorshift64_seed(1);

	shuffled_order(order, lines, &rng);
	/* Spread: line i on page i, at line (i / 64) % 64 of the page. The
	 * line within the page (address bits 6 to 11) and the page (bits 12
	 * and up) then vary apart, so the lines fall in every set of caches
	 * indexed by bits 6 to 17 and more, as packed ones do; line i % 64 of
	 * page i would repeat bits 12 to 17 in bits 6 to 11 and crowd all the
	 * lines into 64 sets. */
	for (uint32_t i = 0; i < lines; i++)
		offsets[i] =
			(size_t)i * RTE_PGSIZE_4K + (size_t)(i / 64 % 64) * RTE_CACHE_LINE_SIZE;
	link_lines(base, offsets, order, lines);
	out->spread = chase(base, offsets, order, lines, reads);
	for (uint32_t i = 0; i < lines; i++)
		offsets[i] = (size_t)i * RTE_CACHE_LINE_SIZE;
	link_lines(base, offsets, order, lines);
	out->packed = chase(base, offsets, order, lines, reads);
out:
	rte_free(base);
	free(offsets);
	free(order);
	return rc;
}
