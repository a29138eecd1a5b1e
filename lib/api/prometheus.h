/*
 * dplb's counters in the Prometheus text exposition format (version 0.0.4),
 * for GET /metrics. Names and help come from the lists in packet/counters.h
 * and metrics.h; labels are port, worker, vip, backend, reason and state.
 */
#ifndef DPLB_PROMETHEUS_H
#define DPLB_PROMETHEUS_H

#include <stddef.h>

struct dplb_context;

#define DPLB_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The whole exposition, malloc'd (free it), its size in *length; NULL when
 * out of memory. Reads the current snapshot: management lcore only.
 */
char *dplb_prometheus_render(const struct dplb_context *ctx, size_t *length);

#endif
