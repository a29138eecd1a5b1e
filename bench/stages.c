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

/* Classify an IPv4 packet as stage 1 does: its VIP (NULL: none), and its
 * flow's probe. The ports from the header, as the worker reads them. */
static inline const struct dplb_vip_entry *classify(struct dplb_worker *worker,
						    const struct dplb_state *state,
						    struct dplb_vip_memo *memo,
						    const struct dplb_packet_info *info,
						    struct dplb_flow_probe *probe)
{
	const struct rte_ipv4_hdr *ip = info->ip;
	const rte_be16_t *ports = (const rte_be16_t *)(ip + 1);
	const struct dplb_vip_entry *vip =
		dplb_state_find_vip_memo(state, memo, ip->dst_addr, ports[1], ip->next_proto_id);

	if (vip != NULL)
		dplb_flow_table_prepare(&worker->flows, probe,
					dplb_flow_client(ip->src_addr, ports[0], ports[1]),
					vip->id);
	return vip;
}

/* The same for IPv6, as gather_ipv6 does it. */
static inline const struct dplb_vip_entry *classify6(struct dplb_worker *worker,
						     const struct dplb_state *state,
						     const struct dplb_packet_info *info,
						     struct dplb_flow6_probe *probe)
{
	const struct rte_ipv6_hdr *ip6 = info->ip6;
	const struct dplb_vip_entry *vip =
		dplb_state_find_vip6(state, ip6->dst_addr, info->dst_port, info->protocol);

	if (vip != NULL)
		dplb_flow6_table_prepare(
			&worker->flows6, probe,
			dplb_flow6_client(ip6->src_addr, info->src_port, info->dst_port), vip->id);
	return vip;
}

/* The 5-tuple hash the worker computes for the outer headers: GUE's source
 * port, an IPv6 outer header's flow label; 0 when neither needs it. */
static inline uint32_t outer_hash(const struct dplb_packet_info *info,
				  const struct dplb_vip_entry *vip,
				  const struct dplb_backend_entry *backend, uint8_t family)
{
	if (family == AF_INET6) {
		const struct rte_ipv6_hdr *ip6 = info->ip6;
		struct dplb_flow_key6 key;

		if (vip->encap != DPLB_ENCAP_GUE && backend->family != AF_INET6)
			return 0;
		dplb_flow_key6_set(&key, ip6->src_addr, ip6->dst_addr, info->src_port,
				   info->dst_port, info->protocol);
		return dplb_flow_hash6(&key);
	}
	const struct rte_ipv4_hdr *ip = info->ip;
	const rte_be16_t *ports = (const rte_be16_t *)(ip + 1);
	struct dplb_flow_key key;

	if (vip->encap != DPLB_ENCAP_GUE)
		return 0;
	dplb_flow_key_set(&key, ip->src_addr, ip->dst_addr, ports[0], ports[1], ip->next_proto_id);
	return dplb_flow_hash(&key);
}

/* Both entry points, family a constant: the other family's arrays and
 * branches fold away, as worker_pipeline.h's instances do. */
static inline __attribute__((always_inline)) void partial_pipeline(struct dplb_worker *worker,
								   const struct dplb_state *state,
								   struct rte_mbuf **burst,
								   enum bench_stage stage,
								   uint8_t family)
{
	const enum dplb_parse_result wanted =
		family == AF_INET6 ? DPLB_PARSED_L4_6 : DPLB_PARSED_L4;
	struct dplb_packet_info info[DPLB_BURST];
	struct dplb_flow_probe probes[DPLB_BURST];
	struct dplb_flow6_probe probes6[DPLB_BURST];
	struct dplb_flow_ref refs[DPLB_BURST];
	struct dplb_flow6_ref refs6[DPLB_BURST];
	bool found[DPLB_BURST] = { false };
	const struct dplb_vip_entry *vips[DPLB_BURST];
	struct rte_mbuf *out[DPLB_BURST];
	struct dplb_vip_memo memo;
	uint16_t count = 0;

	dplb_vip_memo_init(&memo);
	for (uint16_t i = 0; i < DPLB_BURST; i++) {
		struct rte_mbuf *m = burst[i];

		if (stage >= BENCH_STAGE_PARSE && dplb_parse_packet(m, &info[count]) != wanted) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (stage >= BENCH_STAGE_CLASSIFY) {
			vips[count] = family == AF_INET6 ? classify6(worker, state, &info[count],
								     &probes6[count])
							 : classify(worker, state, &memo,
								    &info[count], &probes[count]);
			if (vips[count] == NULL) {
				rte_pktmbuf_free(m);
				continue;
			}
		}
		out[count++] = m;
	}
	if (stage >= BENCH_STAGE_LOOKUP) {
		if (family == AF_INET6)
			dplb_flow6_table_find_bulk(&worker->flows6, probes6, count, refs6, found);
		else
			dplb_flow_table_find_bulk(&worker->flows, probes, count, refs, found);
	}
	if (stage >= BENCH_STAGE_ENCAP) {
		for (uint16_t i = 0; i < count; i++) {
			/* The VIP's first backend when the flow is not looked up. */
			const uint32_t backend_id = !found[i] ? vips[i]->up_ids[0]
						    : family == AF_INET6
							    ? dplb_flow6_backend(&refs6[i])
							    : dplb_flow_backend(&refs[i]);
			const struct dplb_backend_entry *backend = &state->backends[backend_id];
			const struct dplb_encap_target target = dplb_worker_encap_target(
				worker, state, 0, vips[i], backend, backend->family);

			/* The bench's packets always fit: nothing to do on failure
			 * but send them as they are. */
			(void)dplb_encapsulate(out[i], &info[i], &target,
					       outer_hash(&info[i], vips[i], backend, family),
					       state->mtu);
		}
	}
	const uint16_t sent = rte_eth_tx_burst(worker->port_ids[0], worker->index, out, count);

	if (sent < count)
		rte_pktmbuf_free_bulk(&out[sent], count - sent);
}

void bench_partial_pipeline(struct dplb_worker *worker, const struct dplb_state *state,
			    struct rte_mbuf **burst, enum bench_stage stage)
{
	partial_pipeline(worker, state, burst, stage, AF_INET);
}

void bench_partial_pipeline6(struct dplb_worker *worker, const struct dplb_state *state,
			     struct rte_mbuf **burst, enum bench_stage stage)
{
	partial_pipeline(worker, state, burst, stage, AF_INET6);
}
