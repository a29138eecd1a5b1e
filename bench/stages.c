#include "stages.h"

#include <rte_ethdev.h>

#include "packet/encap.h"
#include "packet/flow_key.h"
#include "packet/flow_table.h"
#include "packet/packet_parse.h"

const char *const bench_stage_name[BENCH_STAGE_COUNT] = {
	[BENCH_STAGE_TX] = "tx",
	[BENCH_STAGE_PARSE] = "parse",
	[BENCH_STAGE_CLASSIFY] = "classify",
	[BENCH_STAGE_LOOKUP] = "lookup",
	[BENCH_STAGE_ENCAP] = "encap",
	[BENCH_STAGE_FULL] = "full",
};

/* Where the worker sends a packet of vip to backend (send_to_backend). */
static struct dplb_encap_target encap_target(struct dplb_worker *worker,
					     const struct dplb_state *state,
					     const struct dplb_vip_entry *vip,
					     const struct dplb_backend_entry *backend)
{
	return (struct dplb_encap_target){
		.outer_family = backend->family,
		.outer_src = state->local_address,
		.outer_dst = backend->address,
		.outer_src6 = state->local_address6,
		.outer_dst6 = backend->address6,
		.gue_port = state->gue_port,
		.kind = vip->encap,
		.packet_id = worker->next_packet_id++,
		.src_mac = &worker->port_macs[0],
		.dst_mac = &backend->next_hop_mac,
	};
}

/* The packets left of the burst, count of them, to the worker's queue. */
static void send_burst(struct dplb_worker *worker, struct rte_mbuf **out, uint16_t count)
{
	const uint16_t sent = rte_eth_tx_burst(worker->port_ids[0], worker->index, out, count);

	if (sent < count)
		rte_pktmbuf_free_bulk(&out[sent], count - sent);
}

void bench_partial_pipeline(struct dplb_worker *worker, const struct dplb_state *state,
			    struct rte_mbuf **burst, enum bench_stage stage)
{
	struct dplb_packet_info info[DPLB_BURST];
	struct dplb_flow_probe probes[DPLB_BURST];
	struct dplb_flow_ref refs[DPLB_BURST];
	bool found[DPLB_BURST] = { false };
	const struct dplb_vip_entry *vips[DPLB_BURST];
	struct rte_mbuf *out[DPLB_BURST];
	uint16_t count = 0;

	for (uint16_t i = 0; i < DPLB_BURST; i++) {
		struct rte_mbuf *m = burst[i];

		if (stage >= BENCH_STAGE_PARSE &&
		    dplb_parse_packet(m, &info[count]) != DPLB_PARSED_L4) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (stage >= BENCH_STAGE_CLASSIFY) {
			const struct rte_ipv4_hdr *ip = info[count].ip;
			const rte_be16_t *ports = (const rte_be16_t *)(ip + 1);

			vips[count] = dplb_state_find_vip(state, ip->dst_addr, ports[1],
							  ip->next_proto_id);
			if (vips[count] == NULL) {
				rte_pktmbuf_free(m);
				continue;
			}
			dplb_flow_table_prepare(&worker->flows, &probes[count],
						dplb_flow_client(ip->src_addr, ports[0], ports[1]),
						vips[count]->id);
		}
		out[count++] = m;
	}
	if (stage >= BENCH_STAGE_LOOKUP)
		dplb_flow_table_find_bulk(&worker->flows, probes, count, refs, found);
	if (stage >= BENCH_STAGE_ENCAP) {
		for (uint16_t i = 0; i < count; i++) {
			/* The VIP's first backend when the flow is not looked up. */
			const uint32_t backend_id =
				found[i] ? dplb_flow_backend(&refs[i]) : vips[i]->up_ids[0];
			const struct dplb_encap_target target =
				encap_target(worker, state, vips[i], &state->backends[backend_id]);
			uint32_t flow_hash = 0;

			/* GUE's source port comes from the 5-tuple's hash, as the
			 * worker computes it. */
			if (vips[i]->encap == DPLB_ENCAP_GUE) {
				const struct rte_ipv4_hdr *ip = info[i].ip;
				const rte_be16_t *ports = (const rte_be16_t *)(ip + 1);
				struct dplb_flow_key key;

				dplb_flow_key_set(&key, ip->src_addr, ip->dst_addr, ports[0],
						  ports[1], ip->next_proto_id);
				flow_hash = dplb_flow_hash(&key);
			}
			/* The bench's packets always fit: nothing to do on failure
			 * but send them as they are. */
			(void)dplb_encapsulate(out[i], &info[i], &target, flow_hash, state->mtu);
		}
	}
	send_burst(worker, out, count);
}

void bench_partial_pipeline6(struct dplb_worker *worker, const struct dplb_state *state,
			     struct rte_mbuf **burst, enum bench_stage stage)
{
	struct dplb_packet_info info[DPLB_BURST];
	struct dplb_flow6_probe probes[DPLB_BURST];
	struct dplb_flow6_ref refs[DPLB_BURST];
	bool found[DPLB_BURST] = { false };
	const struct dplb_vip_entry *vips[DPLB_BURST];
	struct rte_mbuf *out[DPLB_BURST];
	uint16_t count = 0;

	for (uint16_t i = 0; i < DPLB_BURST; i++) {
		struct rte_mbuf *m = burst[i];
		const struct dplb_packet_info *pi = &info[count];

		if (stage >= BENCH_STAGE_PARSE &&
		    dplb_parse_packet(m, &info[count]) != DPLB_PARSED_L4_6) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (stage >= BENCH_STAGE_CLASSIFY) {
			vips[count] = dplb_state_find_vip6(state, pi->ip6->dst_addr, pi->dst_port,
							   pi->protocol);
			if (vips[count] == NULL) {
				rte_pktmbuf_free(m);
				continue;
			}
			dplb_flow6_table_prepare(
				&worker->flows6, &probes[count],
				dplb_flow6_client(pi->ip6->src_addr, pi->src_port, pi->dst_port),
				vips[count]->id);
		}
		out[count++] = m;
	}
	if (stage >= BENCH_STAGE_LOOKUP)
		dplb_flow6_table_find_bulk(&worker->flows6, probes, count, refs, found);
	if (stage >= BENCH_STAGE_ENCAP) {
		for (uint16_t i = 0; i < count; i++) {
			const struct dplb_packet_info *pi = &info[i];
			const uint32_t backend_id =
				found[i] ? dplb_flow6_backend(&refs[i]) : vips[i]->up_ids[0];
			const struct dplb_backend_entry *backend = &state->backends[backend_id];
			const struct dplb_encap_target target =
				encap_target(worker, state, vips[i], backend);
			uint32_t flow_hash = 0;

			/* GUE's source port and an IPv6 outer header's flow label
			 * come from the 5-tuple's hash, as the worker computes it. */
			if (vips[i]->encap == DPLB_ENCAP_GUE || backend->family == AF_INET6) {
				struct dplb_flow_key6 key;

				dplb_flow_key6_set(&key, pi->ip6->src_addr, pi->ip6->dst_addr,
						   pi->src_port, pi->dst_port, pi->protocol);
				flow_hash = dplb_flow_hash6(&key);
			}
			(void)dplb_encapsulate(out[i], &info[i], &target, flow_hash, state->mtu);
		}
	}
	send_burst(worker, out, count);
}
