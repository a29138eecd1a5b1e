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

/* The backend the flow at ref has, or the VIP's first when the flow is not
 * in the table (a stage before the lookup). */
static uint32_t backend_of(const struct dplb_vip_entry *vip, const struct dplb_flow_ref *ref,
			   bool found)
{
	return found ? dplb_flow_backend(ref) : vip->up_ids[0];
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
			const struct dplb_backend_entry *backend =
				&state->backends[backend_of(vips[i], &refs[i], found[i])];
			const struct dplb_encap_target target = {
				.outer_src = state->local_address,
				.outer_dst = backend->address,
				.gue_port = state->gue_port,
				.kind = vips[i]->encap,
				.outer_family = AF_INET,
				.packet_id = worker->next_packet_id++,
				.src_mac = &worker->port_macs[0],
				.dst_mac = &backend->next_hop_mac,
			};
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
	const uint16_t sent = rte_eth_tx_burst(worker->port_ids[0], worker->index, out, count);

	if (sent < count)
		rte_pktmbuf_free_bulk(&out[sent], count - sent);
}
