/*
 * dplb's commands on DPDK's telemetry socket (dpdk-telemetry.py).
 */
#ifndef DPLB_TELEMETRY_H
#define DPLB_TELEMETRY_H

#include "control/context.h"

/* Register /dplb/... DPDK telemetry commands reading ctx. */
int dplb_telemetry_register(struct dplb_context *ctx);

#endif
