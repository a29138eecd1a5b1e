/*
 * Reading counters for export: a worker's counters copied one aligned word
 * at a time (the worker may be writing them), sums over workers and ports,
 * and the driver's port counters. Readers run on other threads than the
 * writers; each counter is an aligned 64-bit word written only by its
 * worker, so a read sees an old or a new value, never a torn one, and sums
 * may lag by a burst. What is read is generated from the lists (metrics.h).
 */
#include <string.h>

#include "api/metrics.h"
#include "control/context.h"

static inline uint64_t read_word(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void dplb_worker_counters_read(const struct dplb_context *ctx, uint16_t worker,
			       struct dplb_worker_counters *out)
{
	const struct dplb_worker_counters *c = &ctx->workers[worker].counters;

	memset(out, 0, sizeof(*out));
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
#define READ_PORT(field, kind, help) out->port[p].field = read_word(&c->port[p].field);
		DPLB_PORT_COUNTERS(READ_PORT)
#undef READ_PORT
	}
	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		out->drops[r] = read_word(&c->drops[r]);
#define READ_FIELD(field, kind, help) out->field = read_word(&c->field);
	DPLB_WORKER_COUNTERS(READ_FIELD)
#undef READ_FIELD
}

void dplb_worker_counters_total(const struct dplb_context *ctx, struct dplb_worker_counters *out)
{
	struct dplb_worker_counters one;

	memset(out, 0, sizeof(*out));
	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		dplb_worker_counters_read(ctx, w, &one);
		for (uint16_t p = 0; p < DPLB_MAX_COUNTED_PORTS; p++) {
#define ADD_PORT(field, kind, help) out->port[p].field += one.port[p].field;
			DPLB_PORT_COUNTERS(ADD_PORT)
#undef ADD_PORT
		}
		for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
			out->drops[r] += one.drops[r];
#define ADD_FIELD(field, kind, help) out->field += one.field;
		DPLB_WORKER_COUNTERS(ADD_FIELD)
#undef ADD_FIELD
	}
}

void dplb_port_counters_sum(const struct dplb_context *ctx, const struct dplb_worker_counters *c,
			    struct dplb_port_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (uint16_t p = 0; p < ctx->port_count && p < DPLB_MAX_COUNTED_PORTS; p++) {
#define ADD_PORT(field, kind, help) out->field += c->port[p].field;
		DPLB_PORT_COUNTERS(ADD_PORT)
#undef ADD_PORT
	}
}

uint64_t dplb_drops_total(const uint64_t drops[DPLB_DROP_REASON_COUNT])
{
	uint64_t total = 0;

	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		total += drops[r];
	return total;
}

/* Each worker's active_flows is exact for its own table; their sum is the
 * total, though a flow moved between reads can be briefly off by one. */
static void traffic_add(struct dplb_traffic_counters *out, const struct dplb_traffic_counters *c)
{
#define ADD_TRAFFIC(field, kind, help) out->field += read_word(&c->field);
	DPLB_TRAFFIC_COUNTERS(ADD_TRAFFIC)
#undef ADD_TRAFFIC
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

void dplb_vip_protection_counters_sum(const struct dplb_context *ctx, uint16_t vip_id,
				      struct dplb_vip_protection_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		const struct dplb_vip_protection_counters *c =
			&ctx->workers[w].counters.vip_protection[vip_id];

#define ADD_PROTECTION(field, kind, help) out->field += read_word(&c->field);
		DPLB_VIP_PROTECTION_COUNTERS(ADD_PROTECTION)
#undef ADD_PROTECTION
	}
}

void dplb_ethdev_stats_read(const struct dplb_context *ctx, uint16_t port_slot,
			    struct rte_eth_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (port_slot >= ctx->port_count || rte_eth_stats_get(ctx->port_ids[port_slot], out) != 0)
		memset(out, 0, sizeof(*out));
}
