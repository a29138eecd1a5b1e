/*
 * Counters summed over workers for every export (/stats, /metrics,
 * telemetry, the exit summary). Any thread; values may lag a little.
 */
#ifndef DPLB_STATS_H
#define DPLB_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "control/context.h"
#include "packet/counters.h"

struct dplb_totals {
	struct dplb_port_counters port[DPLB_MAX_COUNTED_PORTS];
	uint64_t drops[DPLB_DROP_REASON_COUNT];
	uint64_t drops_total;
	uint64_t new_flows;
	uint64_t flow_insert_failures;
	uint64_t flows_expired;
	uint64_t flows_rescheduled;
	uint64_t flows_active;
	uint64_t flow_capacity;
	uint64_t to_management;
	uint64_t arp_replies;
	uint64_t icmp_echo_replies;
	uint64_t icmp_frag_needed_sent;
	uint64_t icmp_errors_forwarded;
	uint64_t icmp_error_copies;
	uint64_t rx_packets;
	uint64_t tx_packets;
};

void dplb_totals_sum(const struct dplb_context *ctx, struct dplb_totals *totals);
/* One VIP's or backend's counters summed over workers. */
void dplb_vip_counters_sum(const struct dplb_context *ctx, uint16_t vip_id,
			   struct dplb_traffic_counters *out);
void dplb_backend_counters_sum(const struct dplb_context *ctx, uint32_t backend_id,
			       struct dplb_traffic_counters *out);

/* The summary printed when dplb exits. */
void dplb_print_summary(const struct dplb_context *ctx, FILE *out);

#endif
