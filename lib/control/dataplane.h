/*
 * Ports and workers: set up from the first configuration, launched, stopped
 * and released. Main lcore.
 */
#ifndef DPLB_DATAPLANE_H
#define DPLB_DATAPLANE_H

#include "control/config.h"
#include "control/context.h"

/*
 * Build the first snapshot from config (taken over), set up ports and
 * workers, ready to launch. Returns 0 or a negative errno, logging why.
 * Main lcore, after rte_eal_init.
 */
int dplb_start(struct dplb_context *ctx, const char *config_path, struct dplb_config *config);

/*
 * Launch the workers dplb_start set up. Separate so that whatever else must
 * work before packets flow (the API's socket) can fail first: a worker
 * once launched may block in its driver's receive (net_pcap reading a
 * FIFO) and never come back to see the stop flag. Returns 0 or the
 * launch's error. Main lcore.
 */
int dplb_launch_workers(struct dplb_context *ctx);

/* Stop the workers and wait for them; counters stay readable. Main lcore. */
void dplb_stop_workers(struct dplb_context *ctx);
/* Close ports (flushing pcap output) and free everything. Main lcore. */
void dplb_release(struct dplb_context *ctx);

#endif
