/*
 * The JSON documents of the HTTP API. Counter keys are generated from the
 * lists in packet/counters.h and metrics.h, so they match /metrics and
 * telemetry.
 * Values come from the current snapshot and the workers' counters; the
 * management lcore, which runs these, is the only one that frees snapshots.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_views.h"
#include "api/metrics.h"
#include "common/log.h"
#include "control/announce.h"
#include "health/health.h"
#include "packet/maglev.h"
#include "packet/schedule.h"

/* ---- small builders ---------------------------------------------------- */

static void put_u64(json_t *o, const char *key, uint64_t value)
{
	json_object_set_new(o, key, json_integer((json_int_t)value));
}

static void put_string(json_t *o, const char *key, const char *value)
{
	json_object_set_new(o, key, json_string(value));
}

/* A backend's address of either family, from the snapshot or from a
 * configuration. */
static void put_backend_address(json_t *o, const char *key, const struct dplb_backend_entry *b)
{
	char text[INET6_ADDRSTRLEN];

	put_string(o, key, dplb_backend_entry_address_text(b, text));
}

static void put_backend_config_address(json_t *o, const char *key,
				       const struct dplb_backend_config *b)
{
	char text[INET6_ADDRSTRLEN];

	put_string(o, key, dplb_backend_address_text(b, text));
}

/* The MAC, or null when there is none. */
static void put_mac(json_t *o, const char *key, bool present, const uint8_t *mac)
{
	char text[18];

	if (!present) {
		json_object_set_new(o, key, json_null());
		return;
	}
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	put_string(o, key, text);
}

static double ratio(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0.0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A counter's growth; a counter that went back (port reset) grew by 0. */
static uint64_t growth(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;
}

/* ---- counters ----------------------------------------------------------- */

static void put_traffic(json_t *o, const struct dplb_traffic_counters *c)
{
#define PUT_TRAFFIC(field, kind, help) put_u64(o, #field, c->field);
	DPLB_TRAFFIC_COUNTERS(PUT_TRAFFIC)
#undef PUT_TRAFFIC
}

static json_t *drops_json(const uint64_t *drops)
{
	json_t *o = json_object();

	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		put_u64(o, dplb_drop_reason_label[r], drops[r]);
	return o;
}

/* A worker's counters, or with totals set the sum of all workers' (without
 * what means something per worker only, nor the split by port, which
 * /stats has in "ports"). */
static void put_worker_counters(json_t *o, const struct dplb_context *ctx,
				const struct dplb_worker_counters *c, bool totals)
{
	struct dplb_port_counters sum;

	dplb_port_counters_sum(ctx, c, &sum);
#define PUT_SUM(field, kind, help) put_u64(o, #field, sum.field);
	DPLB_PORT_COUNTERS(PUT_SUM)
#undef PUT_SUM
#define PUT_FIELD(field, kind, help)                                                               \
	if (!totals || dplb_counter_in_totals(kind))                                               \
		put_u64(o, #field, c->field);
	DPLB_WORKER_COUNTERS(PUT_FIELD)
#undef PUT_FIELD
	json_object_set_new(o, "flow_table_occupancy",
			    json_real(ratio(c->flows_active, c->flow_capacity)));
	json_object_set_new(o, "flow_table6_occupancy",
			    json_real(ratio(c->flows6_active, c->flow6_capacity)));
	json_object_set_new(o, "drops", drops_json(c->drops));
	put_u64(o, "drops_total", dplb_drops_total(c->drops));
	if (totals)
		return;

	json_t *ports = json_array();

	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
		json_t *port = json_object();

		put_u64(port, "port", ctx->port_ids[p]);
#define PUT_PORT(field, kind, help) put_u64(port, #field, c->port[p].field);
		DPLB_PORT_COUNTERS(PUT_PORT)
#undef PUT_PORT
		json_array_append_new(ports, port);
	}
	json_object_set_new(o, "ports", ports);
}

/* ---- /healthz ----------------------------------------------------------- */

json_t *dplb_view_health(const struct dplb_context *ctx)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_health_totals health;
	uint32_t without_backends = 0;
	json_t *o = json_object(), *unhealthy = json_array();

	for (uint32_t v = 0; v < state->vip_count; v++) {
		without_backends += state->vips[v].up_count == 0;
		if (state->vips[v].up_count == 0)
			json_array_append_new(unhealthy, json_string(state->vips[v].config->name));
	}
	/* The process serves either way; "degraded" says some VIP's new flows
	 * are dropped, which is what a router announcement should follow. */
	put_string(o, "status",
		   dplb_announce_stopping(ctx) ? "draining"
		   : without_backends	       ? "degraded"
					       : "ok");
	/* Stopping: its routes are withdrawn, and it forwards only while the
	 * routers move their flows away (drain_seconds). */
	json_object_set_new(o, "draining", json_boolean(dplb_announce_stopping(ctx)));
	put_string(o, "version", DPLB_VERSION);
	put_u64(o, "generation", ctx->generation);
	put_u64(o, "workers", ctx->worker_count);
	put_u64(o, "ports", ctx->port_count);
	put_u64(o, "vips", state->vip_count);
	/* Served, but every new flow to them is dropped. */
	put_u64(o, "vips_without_up_backends", without_backends);
	json_object_set_new(o, "unhealthy_vips", unhealthy);
	dplb_health_totals(ctx->health, &health);
	put_u64(o, "backends_checked", health.backends_checked);
	put_u64(o, "backends_unhealthy", health.backends_unhealthy);
	return o;
}

/* ---- /stats ------------------------------------------------------------- */

static json_t *health_totals_json(const struct dplb_context *ctx)
{
	struct dplb_health_totals totals;
	json_t *o = json_object();

	dplb_health_totals(ctx->health, &totals);
#define PUT_HEALTH_TOTAL(field, help) put_u64(o, #field, totals.field);
	DPLB_HEALTH_TOTALS(PUT_HEALTH_TOTAL)
#undef PUT_HEALTH_TOTAL
	put_u64(o, "snapshots", ctx->health_updates);
	return o;
}

/* Route announcement: the table, the VIP addresses routed there and the
 * VIPs they belong to, and what was done. */
static json_t *announce_json(const struct dplb_context *ctx)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	uint32_t addresses[DPLB_MAX_VIP_IDS];
	uint8_t addresses6[DPLB_MAX_VIP_IDS][16];
	const uint32_t count = dplb_announce_addresses(ctx, addresses, DPLB_MAX_VIP_IDS);
	const uint32_t count6 = dplb_announce_addresses6(ctx, addresses6, DPLB_MAX_VIP_IDS);
	json_t *o = json_object(), *list = json_array(), *vips = json_array();
	char text[INET6_ADDRSTRLEN];

	put_u64(o, "table", state->config->announce_table);
	json_object_set_new(o, "draining", json_boolean(dplb_announce_stopping(ctx)));
	for (uint32_t i = 0; i < count && i < DPLB_MAX_VIP_IDS; i++) {
		inet_ntop(AF_INET, &addresses[i], text, sizeof(text));
		json_array_append_new(list, json_string(text));
	}
	for (uint32_t i = 0; i < count6 && i < DPLB_MAX_VIP_IDS; i++) {
		inet_ntop(AF_INET6, addresses6[i], text, sizeof(text));
		json_array_append_new(list, json_string(text));
	}
	json_object_set_new(o, "addresses", list);
	for (uint32_t v = 0; v < state->vip_count; v++)
		if (dplb_announce_has_vip(ctx, state->vips[v].config))
			json_array_append_new(vips, json_string(state->vips[v].config->name));
	json_object_set_new(o, "vips", vips);
	json_t *held = json_array();
	for (uint32_t v = 0; v < state->vip_count; v++)
		if (dplb_announce_held(ctx, &state->vips[v]))
			json_array_append_new(held, json_string(state->vips[v].config->name));
	json_object_set_new(o, "held", held);
	const struct dplb_announce_counters counters = dplb_announce_counters(ctx);
#define PUT_ANNOUNCE(field, kind, help) put_u64(o, #field, counters.field);
	DPLB_ANNOUNCE_COUNTERS(PUT_ANNOUNCE)
#undef PUT_ANNOUNCE
	return o;
}

/* The kernel's exception path: its interfaces and what passed through
 * them (the workers' side, exception_to_kernel, is in the totals). */
static json_t *exception_path_json(const struct dplb_context *ctx)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const struct dplb_config *config = state->config;
	json_t *o = json_object(), *interfaces = json_array();
	char name[DPLB_INTERFACE_NAME_MAX];

	put_string(o, "mode", dplb_exception_path_name(config->exception_path));
	for (uint16_t p = 0; config->exception_path == DPLB_EXCEPTION_TAP && p < ctx->port_count;
	     p++)
		if (dplb_exception_interface_name(config->exception_interface, p, name) == 0)
			json_array_append_new(interfaces, json_string(name));
	json_object_set_new(o, "interfaces", interfaces);
#define PUT_EXCEPTION(field, kind, help) put_u64(o, #field, ctx->exception_counters.field);
	DPLB_EXCEPTION_COUNTERS(PUT_EXCEPTION)
#undef PUT_EXCEPTION
	return o;
}

void dplb_rate_memory_init(struct dplb_rate_memory *memory)
{
	memset(memory, 0, sizeof(*memory));
	memory->time_ns = now_ns();
}

/* Growth and rate of every port counter since memory was taken. */
static json_t *since_last_call(const struct dplb_port_counters *port,
			       const struct rte_eth_stats *ethdev,
			       const struct dplb_port_counters *port_before,
			       const struct rte_eth_stats *ethdev_before, double seconds)
{
	json_t *o = json_object();
	char key[64];
	uint64_t grown;

	json_object_set_new(o, "seconds", json_real(seconds));
#define PUT_GROWTH(field, kind, before_, now_)                                                     \
	grown = growth((now_)->field, (before_)->field);                                           \
	put_u64(o, #field, grown);                                                                 \
	snprintf(key, sizeof(key), "%s_per_second", #field);                                       \
	json_object_set_new(o, key, json_real(seconds > 0 ? (double)grown / seconds : 0));
#define PORT_GROWTH(field, kind, help) PUT_GROWTH(field, kind, port_before, port)
#define ETHDEV_GROWTH(field, kind, help) PUT_GROWTH(field, kind, ethdev_before, ethdev)
	DPLB_PORT_COUNTERS(PORT_GROWTH)
	DPLB_ETHDEV_METRICS(ETHDEV_GROWTH)
#undef ETHDEV_GROWTH
#undef PORT_GROWTH
#undef PUT_GROWTH
	return o;
}

static json_t *ethdev_json(const struct rte_eth_stats *stats)
{
	json_t *o = json_object();

#define PUT_ETHDEV(field, kind, help) put_u64(o, #field, stats->field);
	DPLB_ETHDEV_METRICS(PUT_ETHDEV)
#undef PUT_ETHDEV
	return o;
}

json_t *dplb_view_stats(const struct dplb_context *ctx, struct dplb_rate_memory *memory)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_port_counters port_sum = { 0 }, port_sum_before = { 0 };
	struct rte_eth_stats ethdev[DPLB_MAX_PORTS];
	struct rte_eth_stats ethdev_sum = { 0 }, ethdev_sum_before = { 0 };
	struct dplb_worker_counters totals, one;
	const uint64_t now = now_ns();
	const double seconds = (double)(now - memory->time_ns) / 1e9;
	json_t *o = json_object(), *ports = json_array(), *workers = json_array();
	json_t *vips = json_array(), *totals_json = json_object();

	dplb_worker_counters_total(ctx, &totals);
	put_u64(o, "generation", ctx->generation);
	put_u64(o, "reloads_ok", ctx->reloads_ok);
	put_u64(o, "reloads_failed", ctx->reloads_failed);
	json_object_set_new(o, "health", health_totals_json(ctx));
	json_object_set_new(o, "exception_path", exception_path_json(ctx));
	json_object_set_new(o, "announce", announce_json(ctx));
	const struct dplb_log_drops log = dplb_log_dropped();
#define PUT_LOG(field, help) put_u64(o, #field, log.field);
	DPLB_LOG_METRICS(PUT_LOG)
#undef PUT_LOG

	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
		json_t *port = json_object();

		dplb_ethdev_stats_read(ctx, p, &ethdev[p]);
		put_u64(port, "port", ctx->port_ids[p]);
#define PUT_PORT(field, kind, help)                                                                \
	put_u64(port, #field, totals.port[p].field);                                               \
	port_sum.field += totals.port[p].field;                                                    \
	port_sum_before.field += memory->port[p].field;
		DPLB_PORT_COUNTERS(PUT_PORT)
#undef PUT_PORT
#define SUM_ETHDEV(field, kind, help)                                                              \
	ethdev_sum.field += ethdev[p].field;                                                       \
	ethdev_sum_before.field += memory->ethdev[p].field;
		DPLB_ETHDEV_METRICS(SUM_ETHDEV)
#undef SUM_ETHDEV
		json_object_set_new(port, "ethdev", ethdev_json(&ethdev[p]));
		json_object_set_new(port, "since_last_call",
				    since_last_call(&totals.port[p], &ethdev[p], &memory->port[p],
						    &memory->ethdev[p], seconds));
		json_array_append_new(ports, port);
		memory->port[p] = totals.port[p];
		memory->ethdev[p] = ethdev[p];
	}
	memory->time_ns = now;

	put_worker_counters(totals_json, ctx, &totals, true);
	json_object_set_new(o, "totals", totals_json);
	json_object_set_new(o, "since_last_call",
			    since_last_call(&port_sum, &ethdev_sum, &port_sum_before,
					    &ethdev_sum_before, seconds));
	json_object_set_new(o, "ports", ports);

	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		json_t *worker = json_object();

		dplb_worker_counters_read(ctx, w, &one);
		put_u64(worker, "worker", w);
		put_u64(worker, "lcore", ctx->workers[w].lcore_id);
		put_worker_counters(worker, ctx, &one, false);
		json_array_append_new(workers, worker);
	}
	json_object_set_new(o, "workers", workers);

	for (uint32_t v = 0; v < state->vip_count; v++)
		json_array_append_new(vips, dplb_view_vip(ctx, &state->vips[v], false, false));
	json_object_set_new(o, "vips", vips);
	return o;
}

/* ---- VIPs and backends -------------------------------------------------- */

const struct dplb_vip_entry *dplb_view_find_vip(const struct dplb_context *ctx, const char *name)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);

	for (uint32_t v = 0; v < state->vip_count; v++)
		if (strcmp(state->vips[v].config->name, name) == 0)
			return &state->vips[v];
	return NULL;
}

int64_t dplb_view_find_backend(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			       const struct dplb_backend_config *at)
{
	/* The VIP's configuration lists its backends in the order of its
	 * entry's backend_ids. */
	for (uint32_t b = 0; b < vip->backend_count; b++)
		if (dplb_backend_address_compare(&vip->config->backends[b], at) == 0)
			return vip->backend_ids[b];
	RTE_SET_USED(ctx);
	return -1;
}

/* The settings as the INI keys name them: a VIP's, or with bc a backend's. */
static void put_health_settings(json_t *o, const struct dplb_vip_config *vc,
				const struct dplb_backend_config *bc)
{
	const struct dplb_health_settings *h = bc != NULL ? &bc->health : &vc->health;
	char text[DPLB_HEALTH_PATH_MAX + 8];

	if (h->check == DPLB_HEALTH_HTTP)
		snprintf(text, sizeof(text), "http:%s", h->http_path);
	else
		snprintf(text, sizeof(text), "%s", dplb_health_check_name(h->check));
	put_string(o, "health_check", text);
	put_u64(o, "health_port", dplb_health_port(vc, bc));
	put_u64(o, "health_interval_ms", h->interval_ms);
	put_u64(o, "health_timeout_ms", dplb_health_timeout_ms(h));
	put_u64(o, "health_rise", h->rise);
	put_u64(o, "health_fall", h->fall);
	put_u64(o, "slow_start", h->slow_start);
	if (h->check == DPLB_HEALTH_HTTP)
		put_u64(o, "health_expect_status", h->expect_status);
}

/* A prefix list as an array of "ADDRESS/LENGTH" strings. */
static json_t *prefix_list_json(const struct dplb_prefix_list *list)
{
	char text[DPLB_PREFIX_TEXT_MAX];
	json_t *a = json_array();

	for (uint32_t i = 0; i < list->count; i++)
		json_array_append_new(a, json_string(dplb_format_prefix(&list->items[i], text)));
	return a;
}

/* The VIP's protection as the INI keys name it; with lists, its allow and
 * deny lists too (left out of /stats: they may hold thousands). */
static void put_protection_settings(json_t *o, const struct dplb_vip_config *vc, bool lists)
{
	if (lists) {
		json_object_set_new(o, "allow", prefix_list_json(&vc->allow));
		json_object_set_new(o, "deny", prefix_list_json(&vc->deny));
	}
	put_u64(o, "new_flow_rate", vc->new_flow_rate);
	put_u64(o, "new_flow_burst", vc->new_flow_burst);
	put_string(o, "rate_limit_action", dplb_rate_limit_action_name(vc->rate_limit_action));
	put_string(o, "table_full", dplb_table_full_name(vc->table_full));
}

/* Live health of one backend: status, counts, the last check. */
static json_t *health_json(const struct dplb_context *ctx, uint32_t backend_id)
{
	struct dplb_health_report report;
	json_t *o = json_object();
	const uint64_t now = dplb_health_now_ms();

	dplb_health_report(ctx->health, backend_id, &report);
	put_string(o, "status", dplb_health_status_name(report.record.status));
	json_object_set_new(o, "checked", json_boolean(report.checked));
	put_u64(o, "seconds_in_status",
		now > report.record.changed_ms ? (now - report.record.changed_ms) / 1000 : 0);
	put_u64(o, "transitions", report.record.transitions);
	put_u64(o, "consecutive_successes", report.record.successes);
	put_u64(o, "consecutive_failures", report.record.failures);
	put_u64(o, "checks", report.checks);
	put_u64(o, "checks_failed", report.failures);
	put_u64(o, "weight_percent", report.weight_percent);
	if (report.has_result) {
		json_t *last = json_object();

		json_object_set_new(last, "ok", json_boolean(report.last.ok));
		json_object_set_new(last, "latency_ms", json_real(report.last.latency_us / 1000.0));
		put_string(last, "error", report.last.error);
		put_u64(last, "ms_ago", now - report.last_check_ms);
		json_object_set_new(o, "last_check", last);
	} else {
		json_object_set_new(o, "last_check", json_null());
	}
	return o;
}

/* Slots of vip's table per backend id; NULL when it has no table in use. */
static uint32_t *count_maglev_slots(const struct dplb_vip_entry *vip)
{
	uint32_t *slots;

	if (!dplb_scheduler_is_hashing(vip->scheduler))
		return NULL;
	slots = calloc(DPLB_MAX_BACKEND_IDS, sizeof(*slots));
	if (slots == NULL)
		return NULL;
	for (uint32_t s = 0; s < vip->maglev_size; s++)
		if (vip->maglev[s] != MAGLEV_NO_BACKEND && vip->maglev[s] < DPLB_MAX_BACKEND_IDS)
			slots[vip->maglev[s]]++;
	return slots;
}

/* Backend b (config order) of vip: configuration, live state, counters. */
static json_t *backend_json(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			    uint32_t b, const uint32_t *maglev_slots)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const struct dplb_backend_config *bc = &vip->config->backends[b];
	const uint32_t id = vip->backend_ids[b];
	const struct dplb_backend_entry *entry = &state->backends[id];
	struct dplb_traffic_counters counters;
	json_t *o = json_object();

	put_backend_address(o, "address", entry);
	put_u64(o, "weight", entry->weight);
	json_object_set_new(o, "effective_weight", json_real(entry->table_weight / 10.0));
	put_string(o, "state", dplb_backend_state_name(entry->state));
	put_mac(o, "mac", bc->has_mac, bc->mac);
	/* Live: what the workers use now, static or learned by ARP. */
	put_mac(o, "next_hop_mac", entry->has_next_hop, entry->next_hop_mac.addr_bytes);
	json_object_set_new(o, "takes_new_flows", json_boolean(entry->takes_new_flows));
	json_object_set_new(o, "keeps_flows", json_boolean(entry->keeps_flows));
	json_object_set_new(o, "health", health_json(ctx, id));
	if (bc->health_overrides)
		put_health_settings(o, vip->config, bc);
	dplb_backend_counters_sum(ctx, id, &counters);
	put_traffic(o, &counters);
	if (maglev_slots != NULL) {
		put_u64(o, "maglev_slots", maglev_slots[id]);
		json_object_set_new(o, "maglev_share",
				    json_real(ratio(maglev_slots[id], vip->maglev_size)));
	}
	return o;
}

json_t *dplb_view_vip(const struct dplb_context *ctx, const struct dplb_vip_entry *vip, bool detail,
		      bool lists)
{
	const struct dplb_vip_config *vc = vip->config;
	struct dplb_traffic_counters counters;
	struct dplb_vip_protection_counters protection;
	uint32_t *slots = detail ? count_maglev_slots(vip) : NULL;
	char text[INET6_ADDRSTRLEN];
	json_t *o = json_object(), *backends = json_array();

	put_string(o, "name", vc->name);
	put_string(o, "address", dplb_vip_entry_address_text(vip, text));
	put_u64(o, "port", vc->port);
	put_string(o, "protocol", dplb_protocol_name(vc->protocol));
	put_string(o, "scheduler", dplb_scheduler_name(vc->scheduler));
	put_string(o, "encap", dplb_encap_name(vc->encap));
	put_u64(o, "maglev_size", vc->maglev_size);
	put_u64(o, "mss_clamp", vc->mss_clamp);
	put_string(o, "fragments", dplb_fragments_name(vc->fragments));
	put_health_settings(o, vc, NULL);
	put_protection_settings(o, vc, lists);
	put_u64(o, "backend_count", vip->backend_count);
	put_u64(o, "backends_up", vip->up_count);
	put_u64(o, "backends_unhealthy", vip->unhealthy_count);
	/* Healthy: some backend takes new flows. */
	json_object_set_new(o, "healthy", json_boolean(vip->up_count > 0));
	json_object_set_new(o, "no_healthy_backend", json_boolean(vip->no_healthy_backend));
	/* Its address's route is in announce_table (it or a VIP sharing it is
	 * healthy). */
	json_object_set_new(o, "announced", json_boolean(dplb_announce_has_vip(ctx, vip->config)));
	dplb_vip_counters_sum(ctx, vip->id, &counters);
	put_traffic(o, &counters);
	dplb_vip_protection_counters_sum(ctx, vip->id, &protection);
#define PUT_PROTECTION(field, kind, help) put_u64(o, #field, protection.field);
	DPLB_VIP_PROTECTION_COUNTERS(PUT_PROTECTION)
#undef PUT_PROTECTION
	for (uint32_t b = 0; b < vip->backend_count; b++)
		json_array_append_new(backends, backend_json(ctx, vip, b, slots));
	json_object_set_new(o, "backends", backends);
	free(slots);
	return o;
}

json_t *dplb_view_vips(const struct dplb_context *ctx)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	json_t *o = json_object(), *vips = json_array();

	put_u64(o, "generation", ctx->generation);
	for (uint32_t v = 0; v < state->vip_count; v++)
		json_array_append_new(vips, dplb_view_vip(ctx, &state->vips[v], false, true));
	json_object_set_new(o, "vips", vips);
	return o;
}

json_t *dplb_view_backends(const struct dplb_context *ctx, const struct dplb_vip_entry *vip)
{
	json_t *o = json_object(), *backends = json_array();

	put_string(o, "vip", vip->config->name);
	for (uint32_t b = 0; b < vip->backend_count; b++)
		json_array_append_new(backends, backend_json(ctx, vip, b, NULL));
	json_object_set_new(o, "backends", backends);
	return o;
}

json_t *dplb_view_backend(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			  uint32_t backend_id)
{
	json_t *o;

	for (uint32_t b = 0; b < vip->backend_count; b++) {
		if (vip->backend_ids[b] != backend_id)
			continue;
		o = backend_json(ctx, vip, b, NULL);
		put_string(o, "vip", vip->config->name);
		return o;
	}
	return json_null();
}

/* ---- lookup --------------------------------------------------------------- */

json_t *dplb_view_lookup(const struct dplb_context *ctx, const struct dplb_vip_entry *vip,
			 uint32_t src, const uint8_t *src6, uint16_t sport, uint16_t dport)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_new_flow pick;
	json_t *o = json_object(), *flow = json_object();
	char text[INET6_ADDRSTRLEN];

	if (src6 != NULL)
		dplb_new_flow_lookup6(vip, src6, sport, dport, &pick);
	else
		dplb_new_flow_lookup(vip, src, sport, dport, &pick);
	put_string(o, "vip", vip->config->name);
	put_string(o, "scheduler", dplb_scheduler_name(vip->config->scheduler));
	put_string(flow, "src", dplb_format_ip(src6 != NULL ? AF_INET6 : AF_INET, src, src6, text));
	put_u64(flow, "sport", rte_be_to_cpu_16(sport));
	put_string(flow, "dst", dplb_vip_entry_address_text(vip, text));
	put_u64(flow, "dport", rte_be_to_cpu_16(dport));
	put_string(flow, "protocol", dplb_protocol_name(vip->protocol));
	json_object_set_new(o, "flow", flow);
	put_u64(o, "flow_hash", pick.flow_hash);
	json_object_set_new(o, "exact", json_boolean(pick.exact));
	/* The data path's own answer, from the snapshot's table. */
	json_object_set_new(
		o, "source_allowed",
		json_boolean(src6 != NULL ? dplb_protect_source_allowed6(&vip->protection, src6)
					  : dplb_protect_source_allowed(&vip->protection, src)));
	if (pick.backend_id == MAGLEV_NO_BACKEND) {
		json_object_set_new(o, "backend", json_null());
		put_string(o, "note", "no backend is up: a new flow would be dropped (no_backend)");
	} else if (pick.exact) {
		put_backend_address(o, "backend", &state->backends[pick.backend_id]);
		put_string(o, "note",
			   "the backend a new flow gets; an established flow keeps the "
			   "one it has while that backend is not down");
	} else {
		json_t *candidates = json_array();

		json_object_set_new(o, "backend", json_null());
		for (uint32_t i = 0; i < vip->up_count; i++) {
			char text[INET6_ADDRSTRLEN];

			json_array_append_new(candidates,
					      json_string(dplb_backend_entry_address_text(
						      &state->backends[vip->up_ids[i]], text)));
		}
		json_object_set_new(o, "candidates", candidates);
		put_string(o, "note",
			   "this scheduler's pick depends on worker state (its "
			   "round-robin position or flow counts): any up backend may be "
			   "chosen");
	}
	return o;
}

/* ---- changes -------------------------------------------------------------- */

static json_t *backend_config_json(const struct dplb_backend_config *b)
{
	json_t *o = json_object();

	put_u64(o, "weight", b->weight);
	put_string(o, "state", dplb_backend_state_name(b->state));
	put_mac(o, "mac", b->has_mac, b->mac);
	return o;
}

static json_t *field_list(const char *fields)
{
	json_t *list = json_array();
	const char *p = fields;

	while (*p != '\0') {
		const size_t len = strcspn(p, ",");

		json_array_append_new(list, json_stringn(p, len));
		p += len;
		p += *p == ',';
	}
	return list;
}

json_t *dplb_view_control_result(const struct dplb_control_result *result)
{
	json_t *o = json_object(), *changes = json_array();
	const uint32_t listed = RTE_MIN(result->changes.count, DPLB_VIEW_CHANGES_LISTED);

	json_object_set_new(o, "applied", json_boolean(result->applied));
	put_u64(o, "generation", result->generation);
	if (listed < result->changes.count)
		put_u64(o, "more_changes", result->changes.count - listed);
	for (uint32_t i = 0; i < listed; i++) {
		const struct dplb_change *c = &result->changes.items[i];
		json_t *change = json_object();

		put_string(change, "change", dplb_change_kind_name(c->kind));
		if (c->vip[0] != '\0')
			put_string(change, "vip", c->vip);
		switch (c->kind) {
		case DPLB_CHANGE_BACKEND_ADDED:
			put_backend_config_address(change, "backend", &c->after);
			json_object_set_new(change, "after", backend_config_json(&c->after));
			break;
		case DPLB_CHANGE_BACKEND_REMOVED:
			put_backend_config_address(change, "backend", &c->before);
			json_object_set_new(change, "before", backend_config_json(&c->before));
			break;
		case DPLB_CHANGE_BACKEND_MODIFIED:
			put_backend_config_address(change, "backend", &c->after);
			json_object_set_new(change, "fields", field_list(c->fields));
			json_object_set_new(change, "before", backend_config_json(&c->before));
			json_object_set_new(change, "after", backend_config_json(&c->after));
			break;
		case DPLB_CHANGE_SETTINGS:
		case DPLB_CHANGE_VIP_MODIFIED:
			json_object_set_new(change, "fields", field_list(c->fields));
			break;
		default:
			break;
		}
		json_array_append_new(changes, change);
	}
	json_object_set_new(o, "changes", changes);
	return o;
}
