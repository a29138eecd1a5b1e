/*
 * What the HTTP API shows, as JSON (jansson): health, counters, VIPs and
 * their backends (configuration and live state), new-flow lookups and the
 * account of a change. Counter keys come from the lists in packet/counters.h
 * and metrics.h. Every function reads the current snapshot, so it runs on the
 * management lcore (which alone frees snapshots). Each returns a new
 * reference, or NULL when out of memory.
 */
#ifndef DPLB_API_VIEWS_H
#define DPLB_API_VIEWS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "control/context.h"
#include "control/control.h"

/* Counters as they were at the previous GET /stats, for "since last call". */
struct dplb_rate_memory {
	uint64_t time_ns; /* CLOCK_MONOTONIC */
	struct dplb_port_counters port[DPLB_MAX_PORTS];
	struct rte_eth_stats ethdev[DPLB_MAX_PORTS];
};

/* Start counting from now, with every counter at zero (dplb just started). */
void dplb_rate_memory_init(struct dplb_rate_memory *memory);

json_t *dplb_view_health(const struct dplb_context *ctx);
/* Everything counted; updates memory so the next call's rates start now. */
json_t *dplb_view_stats(const struct dplb_context *ctx, struct dplb_rate_memory *memory);

/* The VIP of the current snapshot named name, or NULL. */
const struct dplb_vip_entry *dplb_view_find_vip(const struct dplb_context *ctx, const char *name);
/* The backend id of vip's backend at at's address (either family), or -1. */
int64_t dplb_view_find_backend(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			       const struct dplb_backend_config *at);

json_t *dplb_view_vips(const struct dplb_context *ctx);
/* One VIP: configuration, counters, and each backend's configuration, live
 * state and counters; detail adds each backend's share of the Maglev table,
 * lists the VIP's allow and deny lists. */
json_t *dplb_view_vip(const struct dplb_context *ctx, const struct dplb_vip_entry *vip, bool detail,
		      bool lists);
json_t *dplb_view_backends(const struct dplb_context *ctx, const struct dplb_vip_entry *vip);
json_t *dplb_view_backend(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			  uint32_t backend_id);

/* Which backend a new flow src:sport -> vip:dport would get (network order):
 * from src6 (16 bytes) for an IPv6 VIP, else from src. */
json_t *dplb_view_lookup(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			 uint32_t src, const uint8_t *src6, uint16_t sport, uint16_t dport);

/*
 * At most this many changes are listed in an answer, the rest counted as
 * "more_changes" (the log has them all): the answer is built on the
 * management lcore, and a reload of thousands of changed backends would
 * otherwise hold the API up for tens of milliseconds.
 */
#define DPLB_VIEW_CHANGES_LISTED 1000u

/* {"applied", "generation", "changes": [...], "more_changes"} */
json_t *dplb_view_control_result(const struct dplb_control_result *result);

#endif
