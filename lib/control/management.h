/*
 * The management lcore's own work between API requests: ARP and next hops,
 * health results turned into snapshots, the kernel's exception path,
 * retired snapshots freed.
 */
#ifndef DPLB_MANAGEMENT_H
#define DPLB_MANAGEMENT_H

#include "control/config.h"
#include "control/context.h"
#include "control/state.h"

/*
 * One bounded slice of management work: publish a snapshot whose tables
 * were built off the loop (ending the change that asked for it), take ARP
 * frames from the workers, learn and expire next hops (publishing a new
 * snapshot when a MAC changes), ask about unresolved next hops, move the
 * exception path's frames between the workers and the kernel, free
 * retired snapshots. Never blocks; call it every few milliseconds.
 * Management lcore.
 */
void dplb_management_tick(struct dplb_context *ctx);

/* What snapshots are built from besides the configuration: next hops
 * learned by ARP and backends' health. Management lcore. */
struct dplb_state_inputs dplb_management_state_inputs(const struct dplb_context *ctx);

/* A new snapshot of the current configuration with the current inputs.
 * Returns 0 when published or, with a builder (ctx->builder), under way;
 * or a negative errno, -EBUSY while a change is in flight (the old
 * snapshot keeps serving). */
int dplb_management_republish(struct dplb_context *ctx);

/* Mark the next hops of config as the ones the neighbor table resolves;
 * the others are dropped by dplb_neighbors_forget_unwanted once config
 * serves. */
void dplb_management_want_next_hops(struct dplb_context *ctx, const struct dplb_config *config);

#endif
