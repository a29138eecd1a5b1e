/* An indexed binary min-heap of due times; see due_heap.h. */
#include "health/due_heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ABSENT UINT32_MAX

int dplb_due_heap_init(struct dplb_due_heap *heap, uint32_t limit)
{
	memset(heap, 0, sizeof(*heap));
	heap->limit = limit;
	heap->ids = malloc(limit * sizeof(*heap->ids));
	heap->times = malloc(limit * sizeof(*heap->times));
	heap->position = malloc(limit * sizeof(*heap->position));
	if (heap->ids == NULL || heap->times == NULL || heap->position == NULL) {
		dplb_due_heap_free(heap);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < limit; i++)
		heap->position[i] = ABSENT;
	return 0;
}

void dplb_due_heap_free(struct dplb_due_heap *heap)
{
	free(heap->ids);
	free(heap->times);
	free(heap->position);
	memset(heap, 0, sizeof(*heap));
}

static void place(struct dplb_due_heap *heap, uint32_t index, uint32_t id)
{
	heap->ids[index] = id;
	heap->position[id] = index;
}

static void sift_up(struct dplb_due_heap *heap, uint32_t index)
{
	const uint32_t id = heap->ids[index];

	while (index > 0) {
		const uint32_t parent = (index - 1) / 2;

		if (heap->times[heap->ids[parent]] <= heap->times[id])
			break;
		place(heap, index, heap->ids[parent]);
		index = parent;
	}
	place(heap, index, id);
}

static void sift_down(struct dplb_due_heap *heap, uint32_t index)
{
	const uint32_t id = heap->ids[index];

	for (;;) {
		uint32_t child = 2 * index + 1;

		if (child >= heap->count)
			break;
		if (child + 1 < heap->count &&
		    heap->times[heap->ids[child + 1]] < heap->times[heap->ids[child]])
			child++;
		if (heap->times[id] <= heap->times[heap->ids[child]])
			break;
		place(heap, index, heap->ids[child]);
		index = child;
	}
	place(heap, index, id);
}

void dplb_due_heap_set(struct dplb_due_heap *heap, uint32_t id, uint64_t time)
{
	uint32_t index = heap->position[id];

	if (index == ABSENT) {
		heap->times[id] = time;
		place(heap, heap->count, id);
		sift_up(heap, heap->count++);
		return;
	}
	const uint64_t before = heap->times[id];

	heap->times[id] = time;
	if (time < before)
		sift_up(heap, index);
	else
		sift_down(heap, index);
}

void dplb_due_heap_remove(struct dplb_due_heap *heap, uint32_t id)
{
	const uint32_t index = heap->position[id];

	if (index == ABSENT)
		return;
	heap->position[id] = ABSENT;
	const uint32_t last = heap->ids[--heap->count];

	if (index == heap->count)
		return; /* it was the last one */
	place(heap, index, last);
	sift_up(heap, index);
	sift_down(heap, heap->position[last]);
}

bool dplb_due_heap_pop_due(struct dplb_due_heap *heap, uint64_t now, uint32_t *id)
{
	if (heap->count == 0 || heap->times[heap->ids[0]] > now)
		return false;
	*id = heap->ids[0];
	dplb_due_heap_remove(heap, *id);
	return true;
}

uint64_t dplb_due_heap_next(const struct dplb_due_heap *heap)
{
	return heap->count == 0 ? UINT64_MAX : heap->times[heap->ids[0]];
}
