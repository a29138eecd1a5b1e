/*
 * dplb's counters as DPDK telemetry commands, so dpdk-telemetry.py (and
 * tests, through the telemetry socket) can read them while dplb runs.
 * Callbacks run on the EAL telemetry thread and only read.
 */
#include <rte_telemetry.h>

#include "dplb.h"

/* rte_telemetry callbacks take no user argument. */
static struct dplb_context *telemetry_context;

static int telemetry_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	struct dplb_totals totals;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	dplb_totals_sum(ctx, &totals);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "generation", ctx->generation);
	rte_tel_data_add_dict_u64(d, "reloads_ok", ctx->reloads_ok);
	rte_tel_data_add_dict_u64(d, "reloads_failed", ctx->reloads_failed);
	rte_tel_data_add_dict_u64(d, "rx_packets", totals.rx_packets);
	rte_tel_data_add_dict_u64(d, "tx_packets", totals.tx_packets);
	rte_tel_data_add_dict_u64(d, "drops", totals.drops_total);
	rte_tel_data_add_dict_u64(d, "new_flows", totals.new_flows);
	rte_tel_data_add_dict_u64(d, "flows_active", totals.flows_active);
	rte_tel_data_add_dict_u64(d, "flows_expired", totals.flows_expired);
	rte_tel_data_add_dict_u64(d, "flows_rescheduled", totals.flows_rescheduled);
	rte_tel_data_add_dict_u64(d, "flow_insert_failures", totals.flow_insert_failures);
	rte_tel_data_add_dict_u64(d, "to_management", totals.to_management);
	rte_tel_data_add_dict_u64(d, "arp_replies", totals.arp_replies);
	rte_tel_data_add_dict_u64(d, "icmp_echo_replies", totals.icmp_echo_replies);
	rte_tel_data_add_dict_u64(d, "arp_requests_sent", ctx->arp_requests_sent);
	rte_tel_data_add_dict_u64(d, "arp_answers_learned", ctx->arp_answers_learned);
	rte_tel_data_add_dict_u64(d, "next_hop_updates", ctx->next_hop_updates);
	return 0;
}

static int telemetry_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dplb_totals totals;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	dplb_totals_sum(telemetry_context, &totals);
	rte_tel_data_start_dict(d);
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		rte_tel_data_add_dict_u64(d, dplb_drop_reason_label[r], totals.drops[r]);
	return 0;
}

int dplb_telemetry_register(struct dplb_context *ctx)
{
	telemetry_context = ctx;
	if (rte_telemetry_register_cmd("/dplb/stats", telemetry_stats,
				       "dplb totals: packets, flows, reloads. No parameters") != 0)
		return -1;
	return rte_telemetry_register_cmd("/dplb/drops", telemetry_drops,
					  "dplb drops by reason. No parameters");
}
