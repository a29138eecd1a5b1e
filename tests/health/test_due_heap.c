/*
 * The due heap against a plain array that knows every entry's time: random
 * sets, moves and removes, then everything popped in time order, and
 * nothing popped before its time.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "health/due_heap.h"

#define LIMIT 512
#define NOT_IN UINT64_MAX

Test(due_heap, pops_in_time_order_after_random_changes)
{
	struct dplb_due_heap heap;
	uint64_t model[LIMIT];

	cr_assert_eq(dplb_due_heap_init(&heap, LIMIT), 0);
	srand(7);
	for (uint32_t i = 0; i < LIMIT; i++)
		model[i] = NOT_IN;
	for (int step = 0; step < 20000; step++) {
		const uint32_t id = (uint32_t)rand() % LIMIT;

		if (rand() % 4 == 0) {
			dplb_due_heap_remove(&heap, id);
			model[id] = NOT_IN;
		} else {
			model[id] = (uint64_t)(rand() % 100000);
			dplb_due_heap_set(&heap, id, model[id]);
		}
	}
	uint64_t first = NOT_IN;
	uint32_t in = 0;
	for (uint32_t i = 0; i < LIMIT; i++) {
		in += model[i] != NOT_IN;
		if (model[i] < first)
			first = model[i];
	}
	cr_assert_eq(heap.count, in);
	cr_assert_eq(dplb_due_heap_next(&heap), first);

	uint32_t id, popped = 0;
	uint64_t last = 0;
	cr_assert_not(first > 0 && dplb_due_heap_pop_due(&heap, first - 1, &id),
		      "popped before its time");
	while (dplb_due_heap_pop_due(&heap, UINT64_MAX - 1, &id)) {
		cr_assert_neq(model[id], NOT_IN, "popped %u, which was removed", id);
		cr_assert_geq(model[id], last, "out of order");
		last = model[id];
		model[id] = NOT_IN;
		popped++;
	}
	cr_assert_eq(popped, in);
	cr_assert_eq(dplb_due_heap_next(&heap), UINT64_MAX);
	dplb_due_heap_free(&heap);
}

Test(due_heap, moving_an_entry_later_and_earlier)
{
	struct dplb_due_heap heap;
	uint32_t id;

	cr_assert_eq(dplb_due_heap_init(&heap, 8), 0);
	dplb_due_heap_set(&heap, 1, 10);
	dplb_due_heap_set(&heap, 2, 20);
	dplb_due_heap_set(&heap, 3, 30);
	dplb_due_heap_set(&heap, 1, 40); /* later */
	cr_assert_eq(dplb_due_heap_next(&heap), 20);
	dplb_due_heap_set(&heap, 3, 5); /* earlier */
	cr_assert(dplb_due_heap_pop_due(&heap, 5, &id));
	cr_assert_eq(id, 3);
	cr_assert_not(dplb_due_heap_pop_due(&heap, 19, &id));
	dplb_due_heap_remove(&heap, 7); /* never in: nothing happens */
	cr_assert_eq(heap.count, 2);
	dplb_due_heap_free(&heap);
}
