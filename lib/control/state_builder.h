/*
 * Snapshots' scheduler tables built off the management lcore, so that a
 * big one (Maglev tables of up to 16,777,259 slots, a second or more each)
 * never stops the management loop: the HTTP API, health checks and ARP go
 * on answering while it is built. One build at a time; the management
 * lcore prepares the snapshot (dplb_state_prepare), hands it over here, and
 * publishes it when told it is ready (dplb_state_builder_poll).
 */
#ifndef DPLB_STATE_BUILDER_H
#define DPLB_STATE_BUILDER_H

#include <stdbool.h>

#include "control/state.h"

struct dplb_state_builder;

/*
 * What is left to do once state's tables are built: rc is 0, or a negative
 * errno with a reason in error. state is the callee's either way (publish
 * it, or free it). Called on the management lcore, by
 * dplb_state_builder_poll; it may start the next build.
 */
typedef void dplb_state_built_fn(void *arg, struct dplb_state *state, int rc, const char *error);

/* Returns NULL when out of memory or file descriptors. Management lcore. */
struct dplb_state_builder *dplb_state_builder_create(void);

/* Waits for a build in flight and calls its dplb_state_built_fn first.
 * NULL is fine. Management lcore. */
void dplb_state_builder_free(struct dplb_state_builder *builder);

/* Readable once a build has finished: for the management loop's wait. */
int dplb_state_builder_fd(const struct dplb_state_builder *builder);

/* Whether a build is in flight (started, its dplb_state_built_fn not yet
 * called). False for NULL. Management lcore. */
bool dplb_state_builder_busy(const struct dplb_state_builder *builder);

/*
 * Build state's tables (dplb_state_build_tables) on a thread of the
 * builder's; done(arg, state, ...) follows from dplb_state_builder_poll.
 * Until then state belongs to the builder: neither published nor freed.
 * Returns 0, -EBUSY while another build is in flight, or a negative errno
 * when no thread can be started (state is still the caller's then).
 * Management lcore.
 */
int dplb_state_builder_start(struct dplb_state_builder *builder, struct dplb_state *state,
			     dplb_state_built_fn *done, void *arg);

/* If the build in flight has finished, call its dplb_state_built_fn and
 * return true. Never blocks. Management lcore. */
bool dplb_state_builder_poll(struct dplb_state_builder *builder);

#endif
