/*
 * Reading counters for export, and the one list not declared elsewhere.
 *
 * The counter lists are X-macros next to what they count:
 * DPLB_WORKER_COUNTERS, DPLB_PORT_COUNTERS, DPLB_TRAFFIC_COUNTERS,
 * DPLB_VIP_PROTECTION_COUNTERS and DPLB_DROP_REASONS in packet/counters.h,
 * DPLB_LOG_METRICS in common/log.h,
 * DPLB_HEALTH_TOTALS in health/health.h, and here DPLB_ETHDEV_METRICS for
 * the driver's struct rte_eth_stats. /stats (api_views.c), /metrics
 * (prometheus.c), telemetry (telemetry.c) and the exit summary (stats.c)
 * all walk them, so a counter has one name everywhere.
 */
#ifndef DPLB_METRICS_H
#define DPLB_METRICS_H

#include <stdint.h>

#include <rte_ethdev.h>

#include "packet/counters.h"

struct dplb_context;

/* struct rte_eth_stats: what the port's driver counted. */
#define DPLB_ETHDEV_METRICS(X)                                                                     \
	X(ipackets, DPLB_COUNTER, "Packets the port received (rte_eth_stats)")                     \
	X(opackets, DPLB_COUNTER, "Packets the port sent (rte_eth_stats)")                         \
	X(ibytes, DPLB_COUNTER, "Bytes the port received (rte_eth_stats)")                         \
	X(obytes, DPLB_COUNTER, "Bytes the port sent (rte_eth_stats)")                             \
	X(imissed, DPLB_COUNTER, "Packets the port dropped: RX queues full (rte_eth_stats)")       \
	X(ierrors, DPLB_COUNTER, "Erroneous packets received (rte_eth_stats)")                     \
	X(oerrors, DPLB_COUNTER, "Packets the port failed to send (rte_eth_stats)")                \
	X(rx_nombuf, DPLB_COUNTER, "RX mbuf allocation failures (rte_eth_stats)")

/*
 * One worker's counters as they are now, read field by field without
 * tearing (each is written by its worker only). vip and backend are left
 * NULL. Any thread, while the workers' memory exists.
 */
void dplb_worker_counters_read(const struct dplb_context *ctx, uint16_t worker,
			       struct dplb_worker_counters *out);

/* Sum of every worker's counters, the same way (DPLB_PER_WORKER ones too:
 * exports leave those out of totals). */
void dplb_worker_counters_total(const struct dplb_context *ctx, struct dplb_worker_counters *out);

/* A worker's (or the total's) port counters summed over the ports. */
void dplb_port_counters_sum(const struct dplb_context *ctx, const struct dplb_worker_counters *c,
			    struct dplb_port_counters *out);

/* Drops of every reason added up. */
uint64_t dplb_drops_total(const uint64_t drops[DPLB_DROP_REASON_COUNT]);

/* One VIP's or backend's counters summed over workers. */
void dplb_vip_counters_sum(const struct dplb_context *ctx, uint16_t vip_id,
			   struct dplb_traffic_counters *out);
void dplb_backend_counters_sum(const struct dplb_context *ctx, uint32_t backend_id,
			       struct dplb_traffic_counters *out);
/* What one VIP's protection turned away, summed over workers. */
void dplb_vip_protection_counters_sum(const struct dplb_context *ctx, uint16_t vip_id,
				      struct dplb_vip_protection_counters *out);

/* The driver's counters of a port slot; zeros when the driver has none. */
void dplb_ethdev_stats_read(const struct dplb_context *ctx, uint16_t port_slot,
			    struct rte_eth_stats *out);

#endif
