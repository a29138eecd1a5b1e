/*
 * dplb's counters as DPDK telemetry commands, so dpdk-telemetry.py (and
 * tests, through the telemetry socket) can read them while dplb runs.
 * Callbacks run on the EAL telemetry thread and only read, under the
 * management lock (see run_command). Counter names come from the lists in
 * packet/counters.h and metrics.h, as for the HTTP API.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "api/metrics.h"
#include "api/telemetry.h"
#include "common/log.h"
#include "control/announce.h"
#include "control/context.h"
#include "health/health.h"

/* rte_telemetry callbacks take no user argument. */
static struct dplb_context *telemetry_context;

static int telemetry_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	struct dplb_health_totals health;
	struct dplb_worker_counters totals;
	struct dplb_port_counters ports;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	dplb_worker_counters_total(ctx, &totals);
	dplb_port_counters_sum(ctx, &totals, &ports);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "generation", ctx->generation);
	rte_tel_data_add_dict_u64(d, "reloads_ok", ctx->reloads_ok);
	rte_tel_data_add_dict_u64(d, "reloads_failed", ctx->reloads_failed);
	const struct dplb_log_drops log = dplb_log_dropped();
#define ADD_LOG(field, help) rte_tel_data_add_dict_u64(d, #field, log.field);
	DPLB_LOG_METRICS(ADD_LOG)
#undef ADD_LOG
#define ADD_PORT(field, kind, help) rte_tel_data_add_dict_u64(d, #field, ports.field);
	DPLB_PORT_COUNTERS(ADD_PORT)
#undef ADD_PORT
	rte_tel_data_add_dict_u64(d, "drops", dplb_drops_total(totals.drops));
#define ADD_TOTAL(field, kind, help)                                                               \
	if (dplb_counter_in_totals(kind))                                                          \
		rte_tel_data_add_dict_u64(d, #field, totals.field);
	DPLB_WORKER_COUNTERS(ADD_TOTAL)
#undef ADD_TOTAL
	rte_tel_data_add_dict_u64(d, "arp_requests_sent", ctx->arp_requests_sent);
	rte_tel_data_add_dict_u64(d, "arp_answers_learned", ctx->arp_answers_learned);
	rte_tel_data_add_dict_u64(d, "nd_solicitations_sent", ctx->nd_solicitations_sent);
	rte_tel_data_add_dict_u64(d, "nd_advertisements_learned", ctx->nd_advertisements_learned);
	rte_tel_data_add_dict_u64(d, "next_hop_updates", ctx->next_hop_updates);
#define ADD_EXCEPTION(field, kind, help)                                                           \
	rte_tel_data_add_dict_u64(d, #field, ctx->exception_counters.field);
	DPLB_EXCEPTION_COUNTERS(ADD_EXCEPTION)
#undef ADD_EXCEPTION
	const struct dplb_announce_counters announce = dplb_announce_counters(ctx);
#define ADD_ANNOUNCE(field, kind, help) rte_tel_data_add_dict_u64(d, #field, announce.field);
	DPLB_ANNOUNCE_COUNTERS(ADD_ANNOUNCE)
#undef ADD_ANNOUNCE
	dplb_health_totals(ctx->health, &health);
#define ADD_HEALTH_TOTAL(field, help) rte_tel_data_add_dict_u64(d, "health_" #field, health.field);
	DPLB_HEALTH_TOTALS(ADD_HEALTH_TOTAL)
#undef ADD_HEALTH_TOTAL
	rte_tel_data_add_dict_u64(d, "health_updates", ctx->health_updates);
	return 0;
}

static int telemetry_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dplb_worker_counters totals;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	dplb_worker_counters_total(telemetry_context, &totals);
	rte_tel_data_start_dict(d);
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		rte_tel_data_add_dict_u64(d, dplb_drop_reason_label[r], totals.drops[r]);
	return 0;
}

/* ---- per worker, port, VIP and backend -------------------------------- */

static void add_traffic(struct rte_tel_data *d, const struct dplb_traffic_counters *c)
{
#define ADD_TRAFFIC(field, kind, help) rte_tel_data_add_dict_u64(d, #field, c->field);
	DPLB_TRAFFIC_COUNTERS(ADD_TRAFFIC)
#undef ADD_TRAFFIC
}

static void add_vip_address(struct rte_tel_data *d, const char *name,
			    const struct dplb_vip_entry *vip)
{
	char text[INET6_ADDRSTRLEN];

	rte_tel_data_add_dict_string(d, name, dplb_vip_entry_address_text(vip, text));
}

/* A worker's counters, flat; its drops by reason only when drops is set
 * (a container cannot hold another one). */
static void add_worker(struct rte_tel_data *d, const struct dplb_context *ctx, uint16_t w,
		       struct rte_tel_data *drops)
{
	struct dplb_worker_counters c;
	struct dplb_port_counters sum;

	dplb_worker_counters_read(ctx, w, &c);
	dplb_port_counters_sum(ctx, &c, &sum);
	rte_tel_data_add_dict_u64(d, "lcore", ctx->workers[w].lcore_id);
#define ADD_PORT(field, kind, help) rte_tel_data_add_dict_u64(d, #field, sum.field);
	DPLB_PORT_COUNTERS(ADD_PORT)
#undef ADD_PORT
#define ADD_WORKER(field, kind, help) rte_tel_data_add_dict_u64(d, #field, c.field);
	DPLB_WORKER_COUNTERS(ADD_WORKER)
#undef ADD_WORKER
	rte_tel_data_add_dict_u64(d, "drops_total", dplb_drops_total(c.drops));
	if (drops == NULL)
		return;
	rte_tel_data_start_dict(drops);
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		rte_tel_data_add_dict_u64(drops, dplb_drop_reason_label[r], c.drops[r]);
	rte_tel_data_add_dict_container(d, "drops", drops, 0);
}

static int telemetry_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	char name[16];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	rte_tel_data_start_dict(d);
	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		struct rte_tel_data *worker = rte_tel_data_alloc();

		if (worker == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(worker);
		add_worker(worker, ctx, w, NULL);
		snprintf(name, sizeof(name), "%u", w);
		rte_tel_data_add_dict_container(d, name, worker, 0);
	}
	return 0;
}

static int telemetry_worker(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	struct rte_tel_data *drops;
	char *end;
	unsigned long w;

	RTE_SET_USED(cmd);
	if (params == NULL || *params == '\0')
		return -EINVAL;
	w = strtoul(params, &end, 10);
	if (*end != '\0' || w >= ctx->worker_count)
		return -EINVAL;
	drops = rte_tel_data_alloc();
	if (drops == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	add_worker(d, ctx, (uint16_t)w, drops);
	return 0;
}

static int telemetry_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	struct dplb_worker_counters totals;
	struct rte_eth_stats ethdev;
	char name[16];

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	dplb_worker_counters_total(ctx, &totals);
	rte_tel_data_start_dict(d);
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
		struct rte_tel_data *port = rte_tel_data_alloc();

		if (port == NULL)
			return -ENOMEM;
		dplb_ethdev_stats_read(ctx, p, &ethdev);
		rte_tel_data_start_dict(port);
#define ADD_PORT(field, kind, help) rte_tel_data_add_dict_u64(port, #field, totals.port[p].field);
		DPLB_PORT_COUNTERS(ADD_PORT)
#undef ADD_PORT
#define ADD_ETHDEV(field, kind, help) rte_tel_data_add_dict_u64(port, #field, ethdev.field);
		DPLB_ETHDEV_METRICS(ADD_ETHDEV)
#undef ADD_ETHDEV
		snprintf(name, sizeof(name), "%u", ctx->port_ids[p]);
		rte_tel_data_add_dict_container(d, name, port, 0);
	}
	return 0;
}

static const struct dplb_vip_entry *find_vip(const struct dplb_state *state, const char *name)
{
	for (uint32_t v = 0; name != NULL && v < state->vip_count; v++)
		if (strcmp(state->vips[v].config->name, name) == 0)
			return &state->vips[v];
	return NULL;
}

/* A VIP's configuration and counters, flat. */
static void add_vip(struct rte_tel_data *d, const struct dplb_context *ctx,
		    const struct dplb_vip_entry *vip)
{
	struct dplb_traffic_counters c;
	struct dplb_vip_protection_counters protection;

	add_vip_address(d, "address", vip);
	rte_tel_data_add_dict_u64(d, "port", vip->config->port);
	rte_tel_data_add_dict_string(d, "protocol", dplb_protocol_name(vip->protocol));
	rte_tel_data_add_dict_string(d, "scheduler", dplb_scheduler_name(vip->config->scheduler));
	rte_tel_data_add_dict_string(d, "encap", dplb_encap_name(vip->config->encap));
	rte_tel_data_add_dict_u64(d, "backend_count", vip->backend_count);
	rte_tel_data_add_dict_u64(d, "backends_up", vip->up_count);
	dplb_vip_counters_sum(ctx, vip->id, &c);
	add_traffic(d, &c);
	dplb_vip_protection_counters_sum(ctx, vip->id, &protection);
#define ADD_PROTECTION(field, kind, help) rte_tel_data_add_dict_u64(d, #field, protection.field);
	DPLB_VIP_PROTECTION_COUNTERS(ADD_PROTECTION)
#undef ADD_PROTECTION
}

/*
 * Lists of VIPs or backends come as columns, one array per field, rows in
 * configuration order: DPDK 22.11 telemetry cannot put a dict in a list,
 * and refuses dict keys with dots, such as addresses (and VIP names may
 * have them too).
 */
#define MAX_COLUMNS 24

struct table {
	unsigned int count;
	bool failed;
	const char *name[MAX_COLUMNS];
	struct rte_tel_data *column[MAX_COLUMNS];
};

static struct rte_tel_data *table_column(struct table *t, const char *name,
					 enum rte_tel_value_type type)
{
	struct rte_tel_data *column = t->count < MAX_COLUMNS ? rte_tel_data_alloc() : NULL;

	if (column == NULL) {
		t->failed = true;
		return NULL;
	}
	rte_tel_data_start_array(column, type);
	t->name[t->count] = name;
	t->column[t->count++] = column;
	return column;
}

/* Hand the columns to d, which frees them once answered. */
static int table_finish(struct table *t, struct rte_tel_data *d)
{
	if (t->failed) {
		for (unsigned int i = 0; i < t->count; i++)
			rte_tel_data_free(t->column[i]);
		return -ENOMEM;
	}
	rte_tel_data_start_dict(d);
	for (unsigned int i = 0; i < t->count; i++)
		rte_tel_data_add_dict_container(d, t->name[i], t->column[i], 0);
	return 0;
}

static void add_row_string(struct rte_tel_data *column, const char *text)
{
	if (column != NULL)
		rte_tel_data_add_array_string(column, text);
}

static void add_row_u64(struct rte_tel_data *column, uint64_t value)
{
	if (column != NULL)
		rte_tel_data_add_array_u64(column, value);
}

static int telemetry_vips(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_traffic_counters c;
	struct table t = { 0 };
	char text[INET6_ADDRSTRLEN];
	struct rte_tel_data *name = table_column(&t, "name", RTE_TEL_STRING_VAL);
	struct rte_tel_data *address = table_column(&t, "address", RTE_TEL_STRING_VAL);
	struct rte_tel_data *port = table_column(&t, "port", RTE_TEL_U64_VAL);
	struct rte_tel_data *protocol = table_column(&t, "protocol", RTE_TEL_STRING_VAL);
	struct rte_tel_data *scheduler = table_column(&t, "scheduler", RTE_TEL_STRING_VAL);
	struct rte_tel_data *backends = table_column(&t, "backend_count", RTE_TEL_U64_VAL);
	struct rte_tel_data *up = table_column(&t, "backends_up", RTE_TEL_U64_VAL);
	struct rte_tel_data *unhealthy = table_column(&t, "backends_unhealthy", RTE_TEL_U64_VAL);
	struct rte_tel_data *healthy = table_column(&t, "healthy", RTE_TEL_U64_VAL);
#define TRAFFIC_COLUMN(field, kind, help)                                                          \
	struct rte_tel_data *column_##field = table_column(&t, #field, RTE_TEL_U64_VAL);
	DPLB_TRAFFIC_COUNTERS(TRAFFIC_COLUMN)
#undef TRAFFIC_COLUMN
#define PROTECTION_COLUMN(field, kind, help)                                                       \
	struct rte_tel_data *column_##field = table_column(&t, #field, RTE_TEL_U64_VAL);
	DPLB_VIP_PROTECTION_COUNTERS(PROTECTION_COLUMN)
#undef PROTECTION_COLUMN
	struct dplb_vip_protection_counters protection;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	for (uint32_t v = 0; !t.failed && v < state->vip_count; v++) {
		const struct dplb_vip_entry *vip = &state->vips[v];

		add_row_string(name, vip->config->name);
		add_row_string(address, dplb_vip_entry_address_text(vip, text));
		add_row_u64(port, vip->config->port);
		add_row_string(protocol, dplb_protocol_name(vip->protocol));
		add_row_string(scheduler, dplb_scheduler_name(vip->config->scheduler));
		add_row_u64(backends, vip->backend_count);
		add_row_u64(up, vip->up_count);
		add_row_u64(unhealthy, vip->unhealthy_count);
		add_row_u64(healthy, vip->up_count > 0); /* as /vips and /healthz say */
		dplb_vip_counters_sum(ctx, vip->id, &c);
#define TRAFFIC_ROW(field, kind, help) add_row_u64(column_##field, c.field);
		DPLB_TRAFFIC_COUNTERS(TRAFFIC_ROW)
#undef TRAFFIC_ROW
		dplb_vip_protection_counters_sum(ctx, vip->id, &protection);
#define PROTECTION_ROW(field, kind, help) add_row_u64(column_##field, protection.field);
		DPLB_VIP_PROTECTION_COUNTERS(PROTECTION_ROW)
#undef PROTECTION_ROW
	}
	return table_finish(&t, d);
}

static int telemetry_vip(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const struct dplb_vip_entry *vip = find_vip(state, params);
	struct rte_tel_data *backends;
	char text[INET6_ADDRSTRLEN];

	RTE_SET_USED(cmd);
	if (vip == NULL)
		return -EINVAL;
	backends = rte_tel_data_alloc();
	if (backends == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "name", vip->config->name);
	add_vip(d, ctx, vip);
	rte_tel_data_start_array(backends, RTE_TEL_STRING_VAL);
	for (uint32_t b = 0; b < vip->backend_count; b++) {
		rte_tel_data_add_array_string(backends,
					      dplb_backend_entry_address_text(
						      &state->backends[vip->backend_ids[b]], text));
	}
	rte_tel_data_add_dict_container(d, "backends", backends, 0);
	return 0;
}

static int telemetry_backends(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dplb_context *ctx = telemetry_context;
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const struct dplb_vip_entry *vip = find_vip(state, params);
	struct dplb_traffic_counters c;
	struct dplb_health_report report;
	struct table t = { 0 };
	char text[INET6_ADDRSTRLEN];

	RTE_SET_USED(cmd);
	if (vip == NULL)
		return -EINVAL;
	struct rte_tel_data *address = table_column(&t, "address", RTE_TEL_STRING_VAL);
	struct rte_tel_data *backend_state = table_column(&t, "state", RTE_TEL_STRING_VAL);
	struct rte_tel_data *weight = table_column(&t, "weight", RTE_TEL_U64_VAL);
	struct rte_tel_data *health = table_column(&t, "health", RTE_TEL_STRING_VAL);
	struct rte_tel_data *transitions = table_column(&t, "health_transitions", RTE_TEL_U64_VAL);
	struct rte_tel_data *last_ok = table_column(&t, "last_check_ok", RTE_TEL_U64_VAL);
	struct rte_tel_data *latency = table_column(&t, "last_check_us", RTE_TEL_U64_VAL);
	struct rte_tel_data *error = table_column(&t, "last_check_error", RTE_TEL_STRING_VAL);
#define TRAFFIC_COLUMN(field, kind, help)                                                          \
	struct rte_tel_data *column_##field = table_column(&t, #field, RTE_TEL_U64_VAL);
	DPLB_TRAFFIC_COUNTERS(TRAFFIC_COLUMN)
#undef TRAFFIC_COLUMN
	/* Rows past RTE_TEL_MAX_ARRAY_ENTRIES are left out; HTTP has them all. */
	for (uint32_t b = 0; !t.failed && b < vip->backend_count; b++) {
		const uint32_t id = vip->backend_ids[b];
		const struct dplb_backend_entry *entry = &state->backends[id];

		add_row_string(address, dplb_backend_entry_address_text(entry, text));
		add_row_string(backend_state, dplb_backend_state_name(entry->state));
		add_row_u64(weight, entry->weight);
		dplb_health_report(ctx->health, id, &report);
		add_row_string(health, dplb_health_status_name(report.record.status));
		add_row_u64(transitions, report.record.transitions);
		add_row_u64(last_ok, report.has_result && report.last.ok);
		add_row_u64(latency, report.last.latency_us);
		add_row_string(error, report.last.error);
		dplb_backend_counters_sum(ctx, id, &c);
#define TRAFFIC_ROW(field, kind, help) add_row_u64(column_##field, c.field);
		DPLB_TRAFFIC_COUNTERS(TRAFFIC_ROW)
#undef TRAFFIC_ROW
	}
	return table_finish(&t, d);
}

/* ---- registration ----------------------------------------------------- */

static const struct {
	const char *name;
	telemetry_cb read;
	const char *help;
} commands[] = {
	{ "/dplb/stats", telemetry_stats, "dplb totals: packets, flows, reloads. No parameters" },
	{ "/dplb/drops", telemetry_drops, "dplb drops by reason. No parameters" },
	{ "/dplb/workers", telemetry_workers, "dplb counters of each worker. No parameters" },
	{ "/dplb/worker", telemetry_worker,
	  "dplb counters of one worker, drops by reason. Parameter: worker index" },
	{ "/dplb/ports", telemetry_ports, "dplb and driver counters of each port. No parameters" },
	{ "/dplb/vips", telemetry_vips,
	  "dplb VIPs and their counters, one list per field. No parameters" },
	{ "/dplb/vip", telemetry_vip,
	  "dplb VIP: configuration, counters, backends. Parameter: VIP name" },
	{ "/dplb/backends", telemetry_backends,
	  "dplb backends of a VIP: state, weight, health, counters, one list per field. "
	  "Parameter: VIP name" },
};

/*
 * Every command goes through here: under the management lock no snapshot
 * is freed while it is read, and once dplb has released its state (at
 * exit) a command answers nothing rather than read freed memory.
 */
static int run_command(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dplb_context *ctx = telemetry_context;
	int rc = -EINVAL;

	for (size_t i = 0; i < RTE_DIM(commands); i++) {
		if (strcmp(commands[i].name, cmd) != 0)
			continue;
		pthread_mutex_lock(&ctx->management_lock);
		rc = -EBUSY;
		if (ctx->publisher != NULL && ctx->workers != NULL &&
		    dplb_current_state(ctx->publisher) != NULL)
			rc = commands[i].read(cmd, params, d);
		pthread_mutex_unlock(&ctx->management_lock);
		break;
	}
	return rc;
}

int dplb_telemetry_register(struct dplb_context *ctx)
{
	telemetry_context = ctx;
	for (size_t i = 0; i < RTE_DIM(commands); i++)
		if (rte_telemetry_register_cmd(commands[i].name, run_command, commands[i].help) !=
		    0)
			return -1;
	return 0;
}
