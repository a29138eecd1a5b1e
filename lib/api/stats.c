/*
 * Reading the workers' counters: sums over workers and the summary dplb
 * prints when it exits. Readers run on other threads than the writers; each
 * counter is an aligned 64-bit word written only by its worker, so a read
 * sees an old or a new value, never a torn one, and totals may lag by a
 * burst.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ring.h>

#include "api/stats.h"
#include "common/log.h"
#include "control/context.h"
#include "health/health.h"

const char *const dplb_drop_reason_label[DPLB_DROP_REASON_COUNT] = {
#define DPLB_DROP_LABEL(name, label, help) [DPLB_DROP_##name] = label,
	DPLB_DROP_REASONS(DPLB_DROP_LABEL)
#undef DPLB_DROP_LABEL
};

const char *const dplb_drop_reason_help[DPLB_DROP_REASON_COUNT] = {
#define DPLB_DROP_HELP(name, label, help) [DPLB_DROP_##name] = help,
	DPLB_DROP_REASONS(DPLB_DROP_HELP)
#undef DPLB_DROP_HELP
};

static inline uint64_t read_counter(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void dplb_totals_sum(const struct dplb_context *ctx, struct dplb_totals *totals)
{
	memset(totals, 0, sizeof(*totals));
	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		const struct dplb_worker_counters *c = &ctx->workers[w].counters;

		for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
			totals->port[p].rx_packets += read_counter(&c->port[p].rx_packets);
			totals->port[p].rx_bytes += read_counter(&c->port[p].rx_bytes);
			totals->port[p].tx_packets += read_counter(&c->port[p].tx_packets);
		}
		for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
			totals->drops[r] += read_counter(&c->drops[r]);
		totals->new_flows += read_counter(&c->new_flows);
		totals->flow_insert_failures += read_counter(&c->flow_insert_failures);
		totals->flows_expired += read_counter(&c->flows_expired);
		totals->flows_rescheduled += read_counter(&c->flows_rescheduled);
		totals->flows_active += read_counter(&c->flows_active);
		totals->flow_capacity += read_counter(&c->flow_capacity);
		totals->to_management += read_counter(&c->to_management);
		totals->arp_replies += read_counter(&c->arp_replies);
		totals->icmp_echo_replies += read_counter(&c->icmp_echo_replies);
		totals->icmp_frag_needed_sent += read_counter(&c->icmp_frag_needed_sent);
		totals->icmp_errors_forwarded += read_counter(&c->icmp_errors_forwarded);
		totals->icmp_error_copies += read_counter(&c->icmp_error_copies);
	}
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
		totals->rx_packets += totals->port[p].rx_packets;
		totals->tx_packets += totals->port[p].tx_packets;
	}
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		totals->drops_total += totals->drops[r];
}

static void traffic_add(struct dplb_traffic_counters *out, const struct dplb_traffic_counters *c)
{
	out->packets_in += read_counter(&c->packets_in);
	out->bytes_in += read_counter(&c->bytes_in);
	out->packets_out += read_counter(&c->packets_out);
	out->bytes_out += read_counter(&c->bytes_out);
	out->new_flows += read_counter(&c->new_flows);
	/* Each worker's count is exact for its own table; their sum is the
	 * total, though a flow moved between reads can be briefly off by one. */
	out->active_flows += read_counter(&c->active_flows);
}

void dplb_vip_counters_sum(const struct dplb_context *ctx, uint16_t vip_id,
			   struct dplb_traffic_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (uint16_t w = 0; w < ctx->worker_count; w++)
		traffic_add(out, &ctx->workers[w].counters.vip[vip_id]);
}

void dplb_backend_counters_sum(const struct dplb_context *ctx, uint32_t backend_id,
			       struct dplb_traffic_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (uint16_t w = 0; w < ctx->worker_count; w++)
		traffic_add(out, &ctx->workers[w].counters.backend[backend_id]);
}

/*
 * Every packet a worker received was sent, dropped (one reason each) or
 * handed to the management lcore. Two kinds of packets are sent without
 * having been received: ARP requests the management lcore sends through
 * worker 0, and the copies of an ICMP error sent to every backend of a VIP
 * without a shared table (counted as they are made). After the workers
 * stopped.
 */
static void print_balance(const struct dplb_context *ctx, const struct dplb_totals *totals,
			  FILE *out)
{
	uint64_t requests_sent = ctx->arp_requests_sent;

	/* Requests still in the ring when the workers stopped were never sent. */
	if (ctx->worker_count > 0 && ctx->workers[0].from_management != NULL)
		requests_sent -= RTE_MIN(requests_sent,
					 (uint64_t)rte_ring_count(ctx->workers[0].from_management));
	const uint64_t out_side = totals->tx_packets + totals->drops_total + totals->to_management;
	const uint64_t in_side = totals->rx_packets + requests_sent + totals->icmp_error_copies;
	const uint64_t copies = totals->icmp_error_copies;
	const bool balances = out_side == in_side;

	fprintf(out, "  balance: rx %" PRIu64 " = tx %" PRIu64 " + drops %" PRIu64
		     " + to management %" PRIu64 " - ARP requests from management %" PRIu64
		     " - ICMP error copies %" PRIu64 ": %s",
		totals->rx_packets, totals->tx_packets, totals->drops_total, totals->to_management,
		requests_sent, copies, balances ? "balances" : "does not balance");
	if (out_side < in_side)
		fprintf(out, " (%" PRIu64 " packets unaccounted for)", in_side - out_side);
	else if (out_side > in_side)
		fprintf(out, " (%" PRIu64 " more out than in)", out_side - in_side);
	fprintf(out, "\n");
}

void dplb_print_summary(const struct dplb_context *ctx, FILE *out)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_totals totals;
	char address[16];

	dplb_totals_sum(ctx, &totals);
	fprintf(out, "dplb summary: %u workers, state generation %" PRIu64 ", reloads %" PRIu64
		     " ok / %" PRIu64 " failed\n",
		ctx->worker_count, ctx->generation, ctx->reloads_ok, ctx->reloads_failed);
	for (uint16_t p = 0; p < ctx->port_count; p++)
		fprintf(out, "  port %u: rx %" PRIu64 " packets %" PRIu64 " bytes, tx %" PRIu64
			     " packets\n",
			ctx->port_ids[p], totals.port[p].rx_packets, totals.port[p].rx_bytes,
			totals.port[p].tx_packets);
	fprintf(out, "  flows: new %" PRIu64 ", active %" PRIu64 " of %" PRIu64 ", expired %" PRIu64
		     ", rescheduled %" PRIu64 ", insert failures %" PRIu64 "\n",
		totals.new_flows, totals.flows_active, totals.flow_capacity, totals.flows_expired,
		totals.flows_rescheduled, totals.flow_insert_failures);
	fprintf(out, "  neighbors: ARP requests answered %" PRIu64 ", sent %" PRIu64
		     ", answers learned %" PRIu64 "; pings answered %" PRIu64
		     ", fragmentation-needed sent %" PRIu64 ", ICMP errors forwarded %" PRIu64 "\n",
		totals.arp_replies, ctx->arp_requests_sent, ctx->arp_answers_learned,
		totals.icmp_echo_replies, totals.icmp_frag_needed_sent,
		totals.icmp_errors_forwarded);
	const struct dplb_log_drops log = dplb_log_dropped();

	fprintf(out, "  log: %" PRIu64 " lines (%" PRIu64 " bytes) could not be written\n",
		log.log_dropped, log.log_dropped_bytes);
	fprintf(out, "  drops: %" PRIu64 "\n", totals.drops_total);
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		if (totals.drops[r] != 0)
			fprintf(out, "    %-22s %" PRIu64 "\n", dplb_drop_reason_label[r], totals.drops[r]);
	print_balance(ctx, &totals, out);
	if (state == NULL)
		return;
	for (uint32_t v = 0; v < state->vip_count; v++) {
		const struct dplb_vip_entry *vip = &state->vips[v];
		struct dplb_traffic_counters c;

		dplb_vip_counters_sum(ctx, vip->id, &c);
		fprintf(out, "  vip %s: in %" PRIu64 " packets, out %" PRIu64 " packets %" PRIu64
			     " bytes, new flows %" PRIu64 "\n",
			vip->config->name, c.packets_in, c.packets_out, c.bytes_out, c.new_flows);
		for (uint32_t b = 0; b < vip->backend_count; b++) {
			const uint32_t id = vip->backend_ids[b];
			const struct dplb_backend_entry *backend = &state->backends[id];
			struct dplb_health_report health;

			dplb_health_report(ctx->health, id, &health);
			dplb_backend_counters_sum(ctx, id, &c);
			inet_ntop(AF_INET, &backend->address, address, sizeof(address));
			fprintf(out, "    backend %s (%s, %s, weight %u): out %" PRIu64 " packets %" PRIu64
				     " bytes, new flows %" PRIu64 ", active %" PRIu64 "\n",
				address, dplb_backend_state_name(backend->state),
				dplb_health_status_name(health.record.status),
				backend->weight, c.packets_out, c.bytes_out, c.new_flows,
				c.active_flows);
		}
	}
}
