/*
 * The summary dplb prints when it exits. Counters are printed as
 * "name value" pairs walking the lists of packet/counters.h, so the names
 * are those of /stats, /metrics and telemetry, and a counter added to a
 * list shows here too.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ring.h>

#include "api/metrics.h"
#include "api/stats.h"
#include "common/log.h"
#include "control/announce.h"
#include "control/context.h"
#include "health/health.h"

/* Lines of "name value" pairs are wrapped before this column. */
#define SUMMARY_WIDTH 100

struct field_line {
	FILE *out;
	int column;
	int indent; /* of continuation lines */
	bool first;
};

/* Start a line with its heading, e.g. "  vip web: ". */
static void __rte_format_printf(3, 4)
	line_start(struct field_line *line, FILE *out, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	line->out = out;
	line->column = vfprintf(out, format, args);
	va_end(args);
	/* Continuation lines go two columns in from a heading, under a line
	 * without one. */
	line->indent = (int)strspn(format, " ");
	line->indent += format[line->indent] != '\0' ? 2 : 0;
	line->first = true;
}

static void line_field(struct field_line *line, const char *name, uint64_t value)
{
	char text[96];
	const int length = snprintf(text, sizeof(text), "%s %" PRIu64, name, value);

	/* Room for ", " before the pair and a comma after it. */
	if (!line->first && line->column + 2 + length + 1 > SUMMARY_WIDTH) {
		fprintf(line->out, ",\n%*s", line->indent, "");
		line->column = line->indent;
	} else if (!line->first) {
		fputs(", ", line->out);
		line->column += 2;
	}
	fputs(text, line->out);
	line->column += length;
	line->first = false;
}

static void line_end(struct field_line *line)
{
	fputc('\n', line->out);
}

static void traffic_fields(struct field_line *line, const struct dplb_traffic_counters *c)
{
#define TRAFFIC_FIELD(field, kind, help) line_field(line, #field, c->field);
	DPLB_TRAFFIC_COUNTERS(TRAFFIC_FIELD)
#undef TRAFFIC_FIELD
}

/*
 * Every packet a worker received was sent, dropped (one reason each),
 * handed to the management lcore or passed to the kernel (exception path).
 * Three kinds of packets are sent without having been received: ARP
 * requests the management lcore sends through worker 0, the frames the
 * kernel sends on the exception path (through worker 0 too), and the
 * copies of an ICMP error sent to every backend of a VIP without a shared
 * table (counted as they are made). After the workers stopped.
 */
static void print_balance(const struct dplb_context *ctx, const struct dplb_worker_counters *totals,
			  FILE *out)
{
	struct dplb_port_counters ports;
	uint64_t from_management = ctx->arp_requests_sent + ctx->nd_solicitations_sent +
				   ctx->exception_counters.exception_from_kernel;

	dplb_port_counters_sum(ctx, totals, &ports);
	/* Frames still in the ring when the workers stopped were never sent. */
	if (ctx->worker_count > 0 && ctx->workers[0].from_management != NULL)
		from_management -= RTE_MIN(
			from_management, (uint64_t)rte_ring_count(ctx->workers[0].from_management));
	const uint64_t drops = dplb_drops_total(totals->drops);
	const uint64_t out_side =
		ports.tx_packets + drops + totals->to_management + totals->exception_to_kernel;
	const uint64_t in_side = ports.rx_packets + from_management + totals->icmp_error_copies;
	const uint64_t copies = totals->icmp_error_copies;
	const bool balances = out_side == in_side;

	fprintf(out,
		"  balance: rx %" PRIu64 " = tx %" PRIu64 " + drops %" PRIu64
		" + to management %" PRIu64 " + to kernel %" PRIu64
		" - ARP requests and kernel frames from management %" PRIu64
		" - ICMP error copies %" PRIu64 ": %s",
		ports.rx_packets, ports.tx_packets, drops, totals->to_management,
		totals->exception_to_kernel, from_management, copies,
		balances ? "balances" : "does not balance");
	if (out_side < in_side)
		fprintf(out, " (%" PRIu64 " packets unaccounted for)", in_side - out_side);
	else if (out_side > in_side)
		fprintf(out, " (%" PRIu64 " more out than in)", out_side - in_side);
	fprintf(out, "\n");
}

/* Ports, the workers' counters (totals, then what only a worker's own
 * means), management's, the log's, and drops by reason. */
static void print_counters(const struct dplb_context *ctx,
			   const struct dplb_worker_counters *totals, FILE *out)
{
	struct dplb_worker_counters one;
	struct field_line line;

	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
		line_start(&line, out, "  port %u: ", ctx->port_ids[p]);
#define PORT_FIELD(field, kind, help) line_field(&line, #field, totals->port[p].field);
		DPLB_PORT_COUNTERS(PORT_FIELD)
#undef PORT_FIELD
		line_end(&line);
	}
	line_start(&line, out, "  workers: ");
#define TOTAL_FIELD(field, kind, help)                                                             \
	if (dplb_counter_in_totals(kind))                                                          \
		line_field(&line, #field, totals->field);
	DPLB_WORKER_COUNTERS(TOTAL_FIELD)
#undef TOTAL_FIELD
	line_end(&line);
	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		dplb_worker_counters_read(ctx, w, &one);
		line_start(&line, out, "  worker %u (lcore %u): ", w, ctx->workers[w].lcore_id);
#define WORKER_FIELD(field, kind, help)                                                            \
	if (!dplb_counter_in_totals(kind))                                                         \
		line_field(&line, #field, one.field);
		DPLB_WORKER_COUNTERS(WORKER_FIELD)
#undef WORKER_FIELD
		line_end(&line);
	}
	line_start(&line, out, "  management: ");
	line_field(&line, "arp_requests_sent", ctx->arp_requests_sent);
	line_field(&line, "arp_answers_learned", ctx->arp_answers_learned);
	line_field(&line, "nd_solicitations_sent", ctx->nd_solicitations_sent);
	line_field(&line, "nd_advertisements_learned", ctx->nd_advertisements_learned);
#define EXCEPTION_FIELD(field, kind, help) line_field(&line, #field, ctx->exception_counters.field);
	DPLB_EXCEPTION_COUNTERS(EXCEPTION_FIELD)
#undef EXCEPTION_FIELD
	const struct dplb_announce_counters announce = dplb_announce_counters(ctx);
#define ANNOUNCE_FIELD(field, kind, help) line_field(&line, #field, announce.field);
	DPLB_ANNOUNCE_COUNTERS(ANNOUNCE_FIELD)
#undef ANNOUNCE_FIELD
	line_end(&line);
	const struct dplb_log_drops log = dplb_log_dropped();

	fprintf(out, "  log: %" PRIu64 " lines (%" PRIu64 " bytes) could not be written\n",
		log.log_dropped, log.log_dropped_bytes);
	fprintf(out, "  drops: %" PRIu64 "\n", dplb_drops_total(totals->drops));
	line_start(&line, out, "    ");
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		line_field(&line, dplb_drop_reason_label[r], totals->drops[r]);
	line_end(&line);
}

void dplb_print_summary(const struct dplb_context *ctx, FILE *out)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_worker_counters totals;
	struct field_line line;
	char address[INET6_ADDRSTRLEN];

	dplb_worker_counters_total(ctx, &totals);
	fprintf(out,
		"dplb summary: %u workers, state generation %" PRIu64 ", reloads %" PRIu64
		" ok / %" PRIu64 " failed\n",
		ctx->worker_count, ctx->generation, ctx->reloads_ok, ctx->reloads_failed);
	print_counters(ctx, &totals, out);
	print_balance(ctx, &totals, out);
	if (state == NULL)
		return;
	for (uint32_t v = 0; v < state->vip_count; v++) {
		const struct dplb_vip_entry *vip = &state->vips[v];
		struct dplb_traffic_counters c;
		struct dplb_vip_protection_counters protection;

		dplb_vip_counters_sum(ctx, vip->id, &c);
		dplb_vip_protection_counters_sum(ctx, vip->id, &protection);
		line_start(&line, out, "  vip %s: ", vip->config->name);
		traffic_fields(&line, &c);
#define PROTECTION_FIELD(field, kind, help) line_field(&line, #field, protection.field);
		DPLB_VIP_PROTECTION_COUNTERS(PROTECTION_FIELD)
#undef PROTECTION_FIELD
		line_end(&line);
		for (uint32_t b = 0; b < vip->backend_count; b++) {
			const uint32_t id = vip->backend_ids[b];
			const struct dplb_backend_entry *backend = &state->backends[id];
			struct dplb_health_report health;

			dplb_health_report(ctx->health, id, &health);
			dplb_backend_counters_sum(ctx, id, &c);
			line_start(&line, out, "    backend %s (%s, %s, weight %u): ",
				   dplb_backend_entry_address_text(backend, address),
				   dplb_backend_state_name(backend->state),
				   dplb_health_status_name(health.record.status), backend->weight);
			traffic_fields(&line, &c);
			line_end(&line);
		}
	}
}
