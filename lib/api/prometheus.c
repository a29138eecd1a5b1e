/*
 * Rendering /metrics. The exposition format wants every sample of a metric
 * right after its HELP and TYPE lines, so counters are gathered first (per
 * worker, per VIP, per backend) and then written one family at a time.
 * Per-worker series carry a worker label rather than being pre-summed:
 * sum() in PromQL does that, and the split shows an unbalanced RSS.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "api/prometheus.h"
#include "common/log.h"
#include "control/announce.h"
#include "control/context.h"
#include "health/health.h"

/* Every kind but gauges counts events: a Prometheus counter. */
static const char *kind_name(enum dplb_counter_kind kind)
{
	return kind == DPLB_GAUGE ? "gauge" : "counter";
}

static void family(FILE *out, const char *scope, const char *field, enum dplb_counter_kind kind,
		   const char *help, char *name, size_t name_size)
{
	snprintf(name, name_size, "dplb_%s%s%s%s", scope, scope[0] ? "_" : "", field,
		 kind == DPLB_GAUGE ? "" : "_total");
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind_name(kind));
}

/* A label value, escaped as the format requires. */
static void label_value(FILE *out, const char *value)
{
	for (; *value != '\0'; value++) {
		if (*value == '\\' || *value == '"')
			fprintf(out, "\\%c", *value);
		else if (*value == '\n')
			fputs("\\n", out);
		else
			fputc(*value, out);
	}
}

struct backend_sample {
	const char *vip;
	char address[INET6_ADDRSTRLEN];
	uint32_t weight;
	double effective_weight;
	uint8_t state;
	struct dplb_traffic_counters counters;
	struct dplb_health_report health;
};

struct samples {
	uint32_t vip_count;
	struct dplb_traffic_counters *vips;
	struct dplb_vip_protection_counters *protection; /* per VIP */
	uint32_t backend_count;
	struct backend_sample *backends;
	struct dplb_worker_counters *workers;
	struct rte_eth_stats ethdev[DPLB_MAX_PORTS];
};

static int gather(const struct dplb_context *ctx, const struct dplb_state *state, struct samples *s)
{
	uint32_t n = 0;

	s->vip_count = state->vip_count;
	for (uint32_t v = 0; v < state->vip_count; v++)
		s->backend_count += state->vips[v].backend_count;
	s->vips = calloc(s->vip_count + 1, sizeof(*s->vips));
	s->protection = calloc(s->vip_count + 1, sizeof(*s->protection));
	s->backends = calloc(s->backend_count + 1, sizeof(*s->backends));
	s->workers = calloc(ctx->worker_count + 1u, sizeof(*s->workers));
	if (s->vips == NULL || s->protection == NULL || s->backends == NULL || s->workers == NULL)
		return -1;
	for (uint32_t v = 0; v < state->vip_count; v++) {
		const struct dplb_vip_entry *vip = &state->vips[v];

		dplb_vip_counters_sum(ctx, vip->id, &s->vips[v]);
		dplb_vip_protection_counters_sum(ctx, vip->id, &s->protection[v]);
		for (uint32_t b = 0; b < vip->backend_count; b++, n++) {
			const struct dplb_backend_entry *entry =
				&state->backends[vip->backend_ids[b]];
			struct backend_sample *sample = &s->backends[n];

			sample->vip = vip->config->name;
			dplb_backend_entry_address_text(entry, sample->address);
			sample->weight = entry->weight;
			sample->effective_weight = entry->table_weight / 10.0;
			sample->state = entry->state;
			dplb_health_report(ctx->health, vip->backend_ids[b], &sample->health);
			dplb_backend_counters_sum(ctx, vip->backend_ids[b], &sample->counters);
		}
	}
	for (uint16_t w = 0; w < ctx->worker_count; w++)
		dplb_worker_counters_read(ctx, w, &s->workers[w]);
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_PORTS; p++)
		dplb_ethdev_stats_read(ctx, p, &s->ethdev[p]);
	return 0;
}

static void release(struct samples *s)
{
	free(s->vips);
	free(s->protection);
	free(s->backends);
	free(s->workers);
}

static void write_process(FILE *out, const struct dplb_context *ctx)
{
	fprintf(out, "# HELP dplb_info dplb's version\n# TYPE dplb_info gauge\n");
	fprintf(out, "dplb_info{version=\"%s\"} 1\n", DPLB_VERSION);
	fprintf(out, "# HELP dplb_state_generation Generation of the forwarding state that "
		     "serves (each reload, API change or next-hop change makes one)\n"
		     "# TYPE dplb_state_generation gauge\n");
	fprintf(out, "dplb_state_generation %lu\n", (unsigned long)ctx->generation);
	fprintf(out, "# HELP dplb_reloads_total Configuration reloads, by result\n"
		     "# TYPE dplb_reloads_total counter\n");
	fprintf(out, "dplb_reloads_total{result=\"ok\"} %lu\n", (unsigned long)ctx->reloads_ok);
	fprintf(out, "dplb_reloads_total{result=\"failed\"} %lu\n",
		(unsigned long)ctx->reloads_failed);
	fprintf(out, "# HELP dplb_workers Worker lcores\n# TYPE dplb_workers gauge\n");
	fprintf(out, "dplb_workers %u\n", ctx->worker_count);
	const struct dplb_log_drops log = dplb_log_dropped();
	char name[64];
#define WRITE_LOG(field, help)                                                                     \
	family(out, "", #field, DPLB_COUNTER, help, name, sizeof(name));                           \
	fprintf(out, "%s %lu\n", name, (unsigned long)log.field);
	DPLB_LOG_METRICS(WRITE_LOG)
#undef WRITE_LOG
#define WRITE_EXCEPTION(field, kind, help)                                                         \
	family(out, "", #field, kind, help, name, sizeof(name));                                   \
	fprintf(out, "%s %lu\n", name, (unsigned long)ctx->exception_counters.field);
	DPLB_EXCEPTION_COUNTERS(WRITE_EXCEPTION)
#undef WRITE_EXCEPTION
	const struct dplb_announce_counters announce = dplb_announce_counters(ctx);
#define WRITE_ANNOUNCE(field, kind, help)                                                          \
	family(out, "", #field, kind, help, name, sizeof(name));                                   \
	fprintf(out, "%s %lu\n", name, (unsigned long)announce.field);
	DPLB_ANNOUNCE_COUNTERS(WRITE_ANNOUNCE)
#undef WRITE_ANNOUNCE
}

static void write_ports(FILE *out, const struct dplb_context *ctx, const struct samples *s)
{
	char name[96];

#define PORT_FAMILY(field, kind, help)                                                             \
	family(out, "port", #field, kind, help, name, sizeof(name));                               \
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++)               \
		for (uint16_t w = 0; w < ctx->worker_count; w++)                                   \
			fprintf(out, "%s{port=\"%u\",worker=\"%u\"} %lu\n", name,                  \
				ctx->port_ids[p], w, (unsigned long)s->workers[w].port[p].field);
	DPLB_PORT_COUNTERS(PORT_FAMILY)
#undef PORT_FAMILY
#define ETHDEV_FAMILY(field, kind, help)                                                           \
	family(out, "ethdev", #field, kind, help, name, sizeof(name));                             \
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_PORTS; p++)                       \
		fprintf(out, "%s{port=\"%u\"} %lu\n", name, ctx->port_ids[p],                      \
			(unsigned long)s->ethdev[p].field);
	DPLB_ETHDEV_METRICS(ETHDEV_FAMILY)
#undef ETHDEV_FAMILY
}

static void write_workers(FILE *out, const struct dplb_context *ctx, const struct samples *s)
{
	char name[96];

#define WORKER_FAMILY(field, kind, help)                                                           \
	family(out, "worker", #field, kind, help, name, sizeof(name));                             \
	for (uint16_t w = 0; w < ctx->worker_count; w++)                                           \
		fprintf(out, "%s{worker=\"%u\"} %lu\n", name, w,                                   \
			(unsigned long)s->workers[w].field);
	DPLB_WORKER_COUNTERS(WORKER_FAMILY)
#undef WORKER_FAMILY
	/* One help line for the family; each reason's meaning is in counters.h
	 * and docs/api.md. */
	family(out, "", "drops", DPLB_COUNTER, "Packets dropped, by worker and reason", name,
	       sizeof(name));
	for (uint16_t w = 0; w < ctx->worker_count; w++)
		for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
			fprintf(out, "%s{reason=\"%s\",worker=\"%u\"} %lu\n", name,
				dplb_drop_reason_label[r], w,
				(unsigned long)s->workers[w].drops[r]);
}

static void backend_labels(FILE *out, const struct backend_sample *sample)
{
	fprintf(out, "{backend=\"%s\",vip=\"", sample->address);
	label_value(out, sample->vip);
	fputc('"', out);
}

/* One sample per backend of a value picked from it; labels closed here. */
#define BACKEND_VALUES(out, s, metric, format, value)                                              \
	for (uint32_t b = 0; b < (s)->backend_count; b++) {                                        \
		const struct backend_sample *sample = &(s)->backends[b];                           \
		fputs(metric, out);                                                                \
		backend_labels(out, sample);                                                       \
		fprintf(out, "} " format "\n", value);                                             \
	}

/* A gauge per backend and value of an enumeration, 1 for the value the
 * backend has (how Prometheus shows a state). names[v] is value v's label. */
static void write_one_hot(FILE *out, const struct samples *s, const char *metric, const char *label,
			  const char *const *names, unsigned int count,
			  unsigned int (*value_of)(const struct backend_sample *))
{
	for (uint32_t b = 0; b < s->backend_count; b++)
		for (unsigned int v = 0; v < count; v++) {
			fputs(metric, out);
			backend_labels(out, &s->backends[b]);
			fprintf(out, ",%s=\"%s\"} %d\n", label, names[v],
				value_of(&s->backends[b]) == v);
		}
}

static unsigned int health_of(const struct backend_sample *sample)
{
	return sample->health.record.status;
}

static unsigned int state_of(const struct backend_sample *sample)
{
	return sample->state;
}

static void write_backend_health(FILE *out, const struct samples *s)
{
	const char *const statuses[] = {
		dplb_health_status_name(DPLB_HEALTH_UNCHECKED),
		dplb_health_status_name(DPLB_HEALTH_HEALTHY),
		dplb_health_status_name(DPLB_HEALTH_UNHEALTHY),
	};

	_Static_assert(DPLB_HEALTH_UNCHECKED == 0 && DPLB_HEALTH_HEALTHY == 1 &&
			       DPLB_HEALTH_UNHEALTHY == 2,
		       "statuses[] follows enum dplb_health_status");
	fprintf(out, "# HELP dplb_backend_health Health checks' verdict: 1 for the status it is "
		     "in (unchecked and healthy take flows, unhealthy takes none)\n"
		     "# TYPE dplb_backend_health gauge\n");
	write_one_hot(out, s, "dplb_backend_health", "status", statuses, RTE_DIM(statuses),
		      health_of);
	fprintf(out, "# HELP dplb_backend_health_transitions_total Changes of health status\n"
		     "# TYPE dplb_backend_health_transitions_total counter\n");
	BACKEND_VALUES(out, s, "dplb_backend_health_transitions_total", "%lu",
		       (unsigned long)sample->health.record.transitions)
	fprintf(out, "# HELP dplb_backend_health_checks_total Health checks completed\n"
		     "# TYPE dplb_backend_health_checks_total counter\n");
	BACKEND_VALUES(out, s, "dplb_backend_health_checks_total", "%lu",
		       (unsigned long)sample->health.checks)
	fprintf(out, "# HELP dplb_backend_health_check_failures_total Health checks that failed\n"
		     "# TYPE dplb_backend_health_check_failures_total counter\n");
	BACKEND_VALUES(out, s, "dplb_backend_health_check_failures_total", "%lu",
		       (unsigned long)sample->health.failures)
	fprintf(out, "# HELP dplb_backend_health_check_seconds How long the last health check "
		     "took (a failed one: until it failed)\n"
		     "# TYPE dplb_backend_health_check_seconds gauge\n");
	BACKEND_VALUES(out, s, "dplb_backend_health_check_seconds", "%.6f",
		       sample->health.last.latency_us / 1e6)
	fprintf(out, "# HELP dplb_backend_effective_weight Weight in the scheduler's tables "
		     "(below weight during slow start)\n"
		     "# TYPE dplb_backend_effective_weight gauge\n");
	BACKEND_VALUES(out, s, "dplb_backend_effective_weight", "%.1f", sample->effective_weight)
}

static void write_vips(FILE *out, const struct dplb_state *state, const struct samples *s)
{
	static const char *const states[] = { "up", "drain", "down" };
	char name[96];

	_Static_assert(DPLB_BACKEND_UP == 0 && DPLB_BACKEND_DRAIN == 1 && DPLB_BACKEND_DOWN == 2,
		       "states[] follows enum dplb_backend_state");
#define VIP_FAMILY(field, kind, help)                                                              \
	family(out, "vip", #field, kind, help, name, sizeof(name));                                \
	for (uint32_t v = 0; v < s->vip_count; v++) {                                              \
		fprintf(out, "%s{vip=\"", name);                                                   \
		label_value(out, state->vips[v].config->name);                                     \
		fprintf(out, "\"} %lu\n", (unsigned long)s->vips[v].field);                        \
	}
	DPLB_TRAFFIC_COUNTERS(VIP_FAMILY)
#undef VIP_FAMILY
#define PROTECTION_FAMILY(field, kind, help)                                                       \
	family(out, "vip", #field, kind, help, name, sizeof(name));                                \
	for (uint32_t v = 0; v < s->vip_count; v++) {                                              \
		fprintf(out, "%s{vip=\"", name);                                                   \
		label_value(out, state->vips[v].config->name);                                     \
		fprintf(out, "\"} %lu\n", (unsigned long)s->protection[v].field);                  \
	}
	DPLB_VIP_PROTECTION_COUNTERS(PROTECTION_FAMILY)
#undef PROTECTION_FAMILY
	fprintf(out, "# HELP dplb_vip_backends_up Backends of the VIP taking new flows\n"
		     "# TYPE dplb_vip_backends_up gauge\n");
	for (uint32_t v = 0; v < s->vip_count; v++) {
		fprintf(out, "dplb_vip_backends_up{vip=\"");
		label_value(out, state->vips[v].config->name);
		fprintf(out, "\"} %u\n", state->vips[v].up_count);
	}
	fprintf(out, "# HELP dplb_vip_healthy 1 while some backend of the VIP takes new flows\n"
		     "# TYPE dplb_vip_healthy gauge\n");
	for (uint32_t v = 0; v < s->vip_count; v++) {
		fprintf(out, "dplb_vip_healthy{vip=\"");
		label_value(out, state->vips[v].config->name);
		fprintf(out, "\"} %d\n", state->vips[v].up_count > 0);
	}

#define BACKEND_FAMILY(field, kind, help)                                                          \
	family(out, "backend", #field, kind, help, name, sizeof(name));                            \
	for (uint32_t b = 0; b < s->backend_count; b++) {                                          \
		fputs(name, out);                                                                  \
		backend_labels(out, &s->backends[b]);                                              \
		fprintf(out, "} %lu\n", (unsigned long)s->backends[b].counters.field);             \
	}
	DPLB_TRAFFIC_COUNTERS(BACKEND_FAMILY)
#undef BACKEND_FAMILY
	fprintf(out, "# HELP dplb_backend_weight Weight: the backend's share of new flows\n"
		     "# TYPE dplb_backend_weight gauge\n");
	BACKEND_VALUES(out, s, "dplb_backend_weight", "%u", sample->weight)
	fprintf(out, "# HELP dplb_backend_state Backend state: 1 for the one it is in (up takes "
		     "new flows, drain keeps existing ones, down takes none)\n"
		     "# TYPE dplb_backend_state gauge\n");
	write_one_hot(out, s, "dplb_backend_state", "state", states, RTE_DIM(states), state_of);
	write_backend_health(out, s);
}

char *dplb_prometheus_render(const struct dplb_context *ctx, size_t *length)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct samples samples = { 0 };
	char *text = NULL;
	FILE *out;

	if (gather(ctx, state, &samples) != 0) {
		release(&samples);
		return NULL;
	}
	out = open_memstream(&text, length);
	if (out == NULL) {
		release(&samples);
		return NULL;
	}
	write_process(out, ctx);
	write_ports(out, ctx, &samples);
	write_workers(out, ctx, &samples);
	write_vips(out, state, &samples);
	if (fclose(out) != 0) {
		free(text);
		text = NULL;
	}
	release(&samples);
	return text;
}
