/*
 * The schedulers' cold half: building a VIP's tables into a snapshot, and
 * replaying a worker's pick for GET /vips/NAME/lookup. The picks themselves
 * are inline in schedule.h, shared by both; the API tests compare the
 * lookup's answers with real forwarding.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet/schedule.h"

/* ---- building ---- */

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b != 0) {
		uint32_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

#define DPLB_WRR_MAX_LENGTH 65536u

/*
 * Smooth weighted round-robin (as nginx does it): each step every backend
 * gains its weight, the richest is chosen and pays the total. The sequence
 * interleaves backends instead of sending runs to one of them.
 */
static int build_wrr_sequence(struct dplb_vip_entry *vip, const struct dplb_state *state)
{
	uint64_t total = 0;
	uint32_t divisor = 0;

	if (vip->up_count == 0)
		return 0;
	for (uint32_t i = 0; i < vip->up_count; i++)
		divisor = gcd(state->backends[vip->up_ids[i]].table_weight, divisor);
	for (uint32_t i = 0; i < vip->up_count; i++)
		total += state->backends[vip->up_ids[i]].table_weight / divisor;
	/* Scale very large weight sums down; every backend keeps at least 1. */
	const double scale =
		total > DPLB_WRR_MAX_LENGTH ? (double)DPLB_WRR_MAX_LENGTH / total : 1.0;
	int64_t *weight = calloc(vip->up_count, sizeof(*weight));
	int64_t *current = calloc(vip->up_count, sizeof(*current));
	if (weight == NULL || current == NULL)
		goto nomem;
	total = 0;
	for (uint32_t i = 0; i < vip->up_count; i++) {
		weight[i] =
			(int64_t)(state->backends[vip->up_ids[i]].table_weight / divisor * scale);
		if (weight[i] < 1)
			weight[i] = 1;
		total += (uint64_t)weight[i];
	}
	vip->wrr_sequence = malloc(total * sizeof(*vip->wrr_sequence));
	if (vip->wrr_sequence == NULL)
		goto nomem;
	vip->wrr_length = (uint32_t)total;
	for (uint32_t step = 0; step < total; step++) {
		uint32_t best = 0;

		for (uint32_t i = 0; i < vip->up_count; i++) {
			current[i] += weight[i];
			if (current[i] > current[best])
				best = i;
		}
		current[best] -= (int64_t)total;
		vip->wrr_sequence[step] = vip->up_ids[best];
	}
	free(weight);
	free(current);
	return 0;
nomem:
	free(weight);
	free(current);
	return -ENOMEM;
}

static int build_maglev(struct dplb_vip_entry *vip, const struct dplb_state *state, char *error)
{
	struct maglev_backend *input = calloc(vip->up_count ? vip->up_count : 1, sizeof(*input));
	int rc;

	vip->maglev = malloc((size_t)vip->maglev_size * sizeof(*vip->maglev));
	if (input == NULL || vip->maglev == NULL) {
		free(input);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < vip->up_count; i++) {
		const struct dplb_backend_entry *backend = &state->backends[vip->up_ids[i]];

		/* The address is the identity every instance agrees on: an
		 * IPv4 backend's 4 bytes (as ever), an IPv6 one's 16. */
		if (backend->family == AF_INET6) {
			input[i].key = backend->address6;
			input[i].key_len = sizeof(backend->address6);
		} else {
			input[i].key = &backend->address;
			input[i].key_len = sizeof(backend->address);
		}
		input[i].weight = backend->table_weight;
	}
	rc = maglev_build(input, vip->up_count, vip->maglev_size, vip->maglev);
	free(input);
	if (rc != 0) {
		snprintf(error, DPLB_ERROR_MAX, "vip %s: cannot build Maglev table: %s",
			 vip->config->name, strerror(-rc));
		return rc;
	}
	/* Store backend ids so a pick needs no second indirection. */
	for (uint32_t slot = 0; slot < vip->maglev_size; slot++)
		if (vip->maglev[slot] != MAGLEV_NO_BACKEND)
			vip->maglev[slot] = vip->up_ids[vip->maglev[slot]];
	return 0;
}

int dplb_schedule_build(struct dplb_vip_entry *vip, const struct dplb_state *state, char *error)
{
	int rc = build_maglev(vip, state, error);

	if (rc == 0)
		rc = build_wrr_sequence(vip, state);
	return rc;
}

/* ---- explaining ---- */

/* The rest of a lookup once the flow's hashes are known. */
static void finish_lookup(const struct dplb_vip_entry *vip, uint32_t flow_hash, uint32_t pick_hash,
			  struct dplb_new_flow *out)
{
	out->flow_hash = flow_hash;
	/* With no backend up, every scheduler drops: exact. */
	out->exact = true;
	out->backend_id = MAGLEV_NO_BACKEND;
	if (vip->up_count == 0)
		return;
	if (dplb_scheduler_is_hashing(vip->scheduler)) {
		out->backend_id = dplb_maglev_pick(vip, pick_hash);
		return;
	}
	out->exact = false;
	out->backend_id = vip->up_ids[0];
}

void dplb_new_flow_lookup(const struct dplb_vip_entry *vip, uint32_t src, uint16_t sport,
			  uint16_t dport, struct dplb_new_flow *out)
{
	struct dplb_flow_key key;

	dplb_flow_key_set(&key, src, vip->address, sport, dport, vip->protocol);
	const uint32_t flow_hash = dplb_flow_hash(&key);
	finish_lookup(vip, flow_hash, dplb_pick_hash(vip, &key, flow_hash), out);
}

void dplb_new_flow_lookup6(const struct dplb_vip_entry *vip, const uint8_t src[16], uint16_t sport,
			   uint16_t dport, struct dplb_new_flow *out)
{
	struct dplb_flow_key6 key;

	dplb_flow_key6_set(&key, src, vip->address6, sport, dport, vip->protocol);
	const uint32_t flow_hash = dplb_flow_hash6(&key);
	finish_lookup(vip, flow_hash, dplb_pick_hash6(vip, &key, flow_hash), out);
}
