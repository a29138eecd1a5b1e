/*
 * Which of many timers is due first: an indexed binary min-heap of (time,
 * id), ids below a fixed limit. The health checker keeps one entry per
 * checked backend, keyed by when it next needs a look (its check is due,
 * or the check in flight times out), so a slice touches only what is due
 * instead of walking a thousand backends on every wake-up.
 *
 * O(log n) to set, remove or pop; O(1) to peek. DPDK-free; one thread.
 */
#ifndef DPLB_DUE_HEAP_H
#define DPLB_DUE_HEAP_H

#include <stdbool.h>
#include <stdint.h>

struct dplb_due_heap {
	uint32_t limit; /* ids are below this */
	uint32_t count;
	uint32_t *ids;	    /* heap order, count long */
	uint64_t *times;    /* by id */
	uint32_t *position; /* by id: its index in ids, or UINT32_MAX when absent */
};

/* Returns 0 or -ENOMEM. */
int dplb_due_heap_init(struct dplb_due_heap *heap, uint32_t limit);
void dplb_due_heap_free(struct dplb_due_heap *heap);

/* Put id in at time, or move it there when it is in already. */
void dplb_due_heap_set(struct dplb_due_heap *heap, uint32_t id, uint64_t time);
/* Take id out; nothing when it is not in. */
void dplb_due_heap_remove(struct dplb_due_heap *heap, uint32_t id);

/* The id due first when it is due at or before now: true and *id set,
 * and taken out. False when nothing is due by now. */
bool dplb_due_heap_pop_due(struct dplb_due_heap *heap, uint64_t now, uint32_t *id);

/* When the first entry is due; UINT64_MAX when the heap is empty. */
uint64_t dplb_due_heap_next(const struct dplb_due_heap *heap);

#endif
