/*
 * Periodic work of the management lcore that is not a request from outside:
 * next-hop resolution by ARP (IPv4) and neighbor discovery (IPv6), new
 * snapshots when health or next hops change, publishing snapshots built off
 * the loop, and freeing retired ones.
 *
 * Workers answer ARP requests and neighbor solicitations for our own
 * addresses themselves and hand every other ARP frame, and every neighbor
 * advertisement, to this lcore through a ring each (single producer, single
 * consumer), so resolving neighbors costs the workers one enqueue. Workers
 * own every TX queue (a PMD may have only one), so the management lcore's
 * ARP requests and solicitations go out through worker 0, by another ring.
 * With an exception path, the ARP frames the kernel may be waiting for go
 * on to it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "common/log.h"
#include "control/context.h"
#include "control/control.h"
#include "control/announce.h"
#include "control/exception_path.h"
#include "control/management.h"
#include "control/neighbor.h"
#include "control/state_builder.h"
#include "health/health.h"
#include "packet/arp.h"
#include "packet/icmp6.h"
#include "packet/vlan.h"

#define ARP_FRAMES_PER_TICK 256
#define ARP_REQUESTS_PER_TICK 64

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void dplb_management_want_next_hops(struct dplb_context *ctx, const struct dplb_config *config)
{
	dplb_neighbors_unwant_all(ctx->neighbors);
	dplb_neighbors6_unwant_all(ctx->neighbors6);
	for (uint32_t v = 0; v < config->vip_count; v++) {
		const struct dplb_vip_config *vip = &config->vips[v];

		for (uint32_t b = 0; b < vip->backend_count; b++) {
			const struct dplb_backend_config *backend = &vip->backends[b];
			uint8_t next_hop6[16];

			if (dplb_backend_needs_arp(config, backend))
				dplb_neighbors_want(
					ctx->neighbors,
					dplb_next_hop_address(config, backend->address));
			if (dplb_backend_needs_nd(config, backend)) {
				dplb_next_hop_address6(config, backend->address6, next_hop6);
				dplb_neighbors6_want(ctx->neighbors6, next_hop6);
			}
		}
	}
}

/* A neighbor advertisement a worker handed over: learned when it answers
 * for a next hop we asked about, as its override flag allows (neighbor.h),
 * then offered to the kernel (exception_path.h), else freed: m is not the
 * caller's any more. Returns true when a wanted MAC changed. */
static bool learn_advertisement(struct dplb_context *ctx, struct rte_mbuf *m, uint64_t now)
{
	uint8_t target[16];
	struct rte_ether_addr mac;
	bool override, changed = false;

	if (dplb_nd_parse_advert(m, target, &mac, &override) == 0 &&
	    dplb_neighbors6_learn(ctx->neighbors6, target, mac.addr_bytes, override, now)) {
		ctx->nd_advertisements_learned++;
		changed = true;
	}
	if (!dplb_exception_path_take_advert(ctx, m))
		rte_pktmbuf_free(m);
	return changed;
}

/* Learn from replies, and from requests too: a neighbor asking for us
 * tells us its MAC as well. Returns true when a wanted MAC changed. */
static bool learn_from_workers(struct dplb_context *ctx, uint64_t now)
{
	struct rte_mbuf *frames[32];
	bool changed = false;
	unsigned int budget = ARP_FRAMES_PER_TICK;

	for (uint16_t w = 0; w < ctx->worker_count; w++) {
		struct rte_ring *ring = ctx->workers[w].to_management;
		unsigned int count;

		if (ring == NULL)
			continue;
		while (budget > 0 && (count = rte_ring_sc_dequeue_burst(
					      ring, (void **)frames, RTE_DIM(frames), NULL)) > 0) {
			budget -= RTE_MIN(budget, count);
			for (unsigned int i = 0; i < count; i++) {
				const struct rte_ether_hdr *eth =
					rte_pktmbuf_mtod(frames[i], struct rte_ether_hdr *);
				const bool tagged =
					eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
				const uint16_t l2_len =
					tagged ? sizeof(*eth) + sizeof(struct rte_vlan_hdr)
					       : sizeof(*eth);
				const rte_be16_t ether_type =
					tagged ? ((const struct rte_vlan_hdr *)(eth + 1))->eth_proto
					       : eth->ether_type;

				if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
					/* Freed or passed on there. */
					changed |= learn_advertisement(ctx, frames[i], now);
					continue;
				}
				const struct rte_arp_hdr *arp = dplb_arp_header(frames[i], l2_len);

				if (arp != NULL &&
				    dplb_neighbors_learn(ctx->neighbors, arp->arp_data.arp_sip,
							 arp->arp_data.arp_sha.addr_bytes, now)) {
					changed = true;
					ctx->arp_answers_learned++;
				}
				if (arp == NULL ||
				    !dplb_exception_path_take_arp(ctx, frames[i], arp))
					rte_pktmbuf_free(frames[i]);
			}
		}
	}
	return changed;
}

/* Hand m, made for port slot p, to worker 0 to send; false when its ring
 * is full (m is then freed). */
static bool send_through_worker(struct dplb_context *ctx, struct rte_mbuf *m, uint16_t p)
{
	m->port = p; /* the port slot the worker sends it on */
	if (rte_ring_sp_enqueue(ctx->workers[0].from_management, m) != 0) {
		rte_pktmbuf_free(m);
		return false;
	}
	return true;
}

/* Ask for the next hops due, on every port through worker 0: ARP requests
 * for IPv4 ones, neighbor solicitations (from address6) for IPv6 ones. */
static void ask_for_next_hops(struct dplb_context *ctx, const struct dplb_state *state,
			      uint64_t now)
{
	uint32_t targets[ARP_REQUESTS_PER_TICK];
	uint8_t targets6[ARP_REQUESTS_PER_TICK][16];
	const uint32_t count = dplb_neighbors_due(ctx->neighbors, now, targets, RTE_DIM(targets));
	const uint32_t count6 =
		state->has_local_address6
			? dplb_neighbors6_due(ctx->neighbors6, now, targets6, RTE_DIM(targets6))
			: 0;

	for (uint16_t p = 0; p < ctx->port_count && count + count6 > 0; p++) {
		struct rte_ether_addr mac;

		if (rte_eth_macaddr_get(ctx->port_ids[p], &mac) != 0)
			continue;
		for (uint32_t t = 0; t < count + count6; t++) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(ctx->pool);
			const bool arp = t < count;

			if (m == NULL)
				return;
			if ((arp ? dplb_arp_build_request(m, &mac, state->local_address, targets[t])
				 : dplb_nd_solicit_build(m, &mac, state->local_address6,
							 targets6[t - count])) != 0 ||
			    dplb_vlan_tag(m, state->config->vlan) != 0) {
				rte_pktmbuf_free(m);
				continue;
			}
			if (send_through_worker(ctx, m, p)) {
				ctx->arp_requests_sent += arp;
				ctx->nd_solicitations_sent += !arp;
			}
		}
	}
}

struct dplb_state_inputs dplb_management_state_inputs(const struct dplb_context *ctx)
{
	return (struct dplb_state_inputs){
		.neighbors = ctx->neighbors,
		.neighbors6 = ctx->neighbors6,
		.health = ctx->health != NULL ? dplb_health_inputs(ctx->health) : NULL,
		.workers = ctx->worker_count,
	};
}

/* A republish under way, and why (for the counters, once it serves). */
struct republish {
	struct dplb_context *ctx;
	bool for_health;
	bool for_next_hops;
};

/* The end of a republish: its snapshot, with tables, made current. */
static void republished(void *arg, struct dplb_state *state, int rc, const char *error)
{
	struct republish *republish = arg;
	struct dplb_context *ctx = republish->ctx;

	if (rc != 0) {
		/* Out of memory: the old snapshot serves; the next tick retries. */
		DPLB_LOG(ERR, "cannot rebuild the forwarding state: %s", error);
		dplb_state_free(state);
		ctx->republish_pending = true;
		ctx->republish_for_health |= republish->for_health;
		ctx->republish_for_next_hops |= republish->for_next_hops;
		return;
	}
	dplb_publish(ctx->publisher, state);
	ctx->generation++;
	ctx->health_updates += republish->for_health;
	ctx->next_hop_updates += republish->for_next_hops;
}

static void republished_later(void *arg, struct dplb_state *state, int rc, const char *error)
{
	republished(arg, state, rc, error);
	free(arg);
}

int dplb_management_republish(struct dplb_context *ctx)
{
	const struct dplb_state_inputs inputs = dplb_management_state_inputs(ctx);
	struct republish republish = { .ctx = ctx };
	char error[DPLB_ERROR_MAX];
	struct dplb_state *state;
	int rc;

	/* One snapshot at a time; the change in flight publishes first. */
	if (dplb_control_busy(ctx))
		return -EBUSY;
	/* Health and MACs are read here; a later change of theirs makes the
	 * next snapshot. Every VIP's tables are built again, even where only
	 * another VIP's backends changed. */
	rc = dplb_state_prepare_rebuild(dplb_current_state(ctx->publisher), ctx->ids, &inputs,
					ctx->generation + 1, &state, error);
	if (rc != 0) {
		/* Out of memory: the old snapshot serves; the next change retries. */
		DPLB_LOG(ERR, "cannot rebuild the forwarding state: %s", error);
		return rc;
	}
	republish.for_health = ctx->republish_for_health;
	republish.for_next_hops = ctx->republish_for_next_hops;
	ctx->republish_for_health = false;
	ctx->republish_for_next_hops = false;
	if (ctx->builder != NULL && dplb_state_tables_are_big(state)) {
		struct republish *later = malloc(sizeof(*later));

		if (later != NULL) {
			*later = republish;
			if (dplb_state_builder_start(ctx->builder, state, republished_later,
						     later) == 0)
				return 0;
			free(later);
		}
		/* No thread to be had: built here, as without a builder. */
	}
	rc = dplb_state_build_tables(state, error);
	republished(&republish, state, rc, error);
	return rc;
}

void dplb_management_tick(struct dplb_context *ctx)
{
	const struct dplb_state *state;
	const uint64_t now = now_ms();
	/* Health answers can wake the loop thousands of times a second; the
	 * neighbor table's walks need doing once a millisecond at most. */
	const bool timers_due = now != ctx->last_timers_ms;
	bool next_hops_changed, health_changed;

	/* First, a snapshot built off the loop is published (or dropped), so
	 * that what waits for it may go on in this same round. */
	dplb_state_builder_poll(ctx->builder);
	next_hops_changed = learn_from_workers(ctx, now);
	if (timers_due) {
		/* Both tables, whatever the first says. */
		next_hops_changed |= dplb_neighbors_expire(ctx->neighbors, now);
		next_hops_changed |= dplb_neighbors6_expire(ctx->neighbors6, now);
	}
	health_changed = dplb_health_run(ctx->health);
	/* A change the workers have not seen stays pending until a snapshot
	 * with it is under way (a rebuild fails only when memory is short),
	 * and while another is built: changes meanwhile make one snapshot. */
	ctx->republish_for_next_hops |= next_hops_changed;
	ctx->republish_for_health |= health_changed;
	ctx->republish_pending |= next_hops_changed || health_changed;
	if (ctx->republish_pending && dplb_management_republish(ctx) == 0)
		ctx->republish_pending = false;
	state = dplb_current_state(ctx->publisher); /* the old one may be gone */
	if (timers_due)
		ask_for_next_hops(ctx, state, now);
	dplb_exception_path_poll(ctx);
	dplb_announce_sync(ctx);
	dplb_publisher_reclaim(ctx->publisher);
	ctx->last_timers_ms = now;
}
