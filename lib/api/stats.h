/*
 * The summary dplb prints when it exits: every counter of the lists in
 * packet/counters.h, summed over workers, and whether the packets balance.
 */
#ifndef DPLB_STATS_H
#define DPLB_STATS_H

#include <stdio.h>

#include "control/context.h"

/* Print the summary to out. After the workers stopped. */
void dplb_print_summary(const struct dplb_context *ctx, FILE *out);

#endif
