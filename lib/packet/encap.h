/*
 * Encapsulation toward a backend: IPv4-in-IPv4 (RFC 2003) or GUE over UDP.
 *
 * GUE is sent as "variant 1" (draft-ietf-intarea-gue, direct IP
 * encapsulation): the UDP payload is the client's IPv4 packet itself, as
 * Katran does; Linux fou in gue mode and dplb-decap both accept it. The UDP
 * source port comes from the flow hash so that backends spreading by RSS
 * keep each flow on one queue, and the UDP checksum is zero, which RFC 768
 * allows over IPv4 and saves touching the payload.
 *
 * The outer header copies DSCP and ECN and the DF bit from the inner one
 * (RFC 2003 section 3.1, RFC 6040 normal mode), so path MTU discovery keeps
 * working end to end. Its identification is 0 when DF is set (RFC 6864) and
 * otherwise a per-worker counter, so fragments of different packets of a
 * flow are never mistaken for one another.
 */
#ifndef DPLB_ENCAP_H
#define DPLB_ENCAP_H

#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "control/config.h"
#include "packet/counters.h"
#include "packet/packet_parse.h"

#define DPLB_OUTER_TTL 64

struct dplb_encap_target {
	uint32_t outer_src;  /* our address, network order */
	uint32_t outer_dst;  /* the backend, network order */
	rte_be16_t gue_port; /* network order */
	uint8_t kind;	     /* enum dplb_encap */
	uint16_t packet_id;  /* outer IP id when DF is clear: new for every packet */
	const struct rte_ether_addr *src_mac;
	const struct rte_ether_addr *dst_mac;
};

static inline uint16_t dplb_encap_overhead(uint8_t kind)
{
	return sizeof(struct rte_ipv4_hdr) +
	       (kind == DPLB_ENCAP_GUE ? sizeof(struct rte_udp_hdr) : 0);
}

/*
 * The outer header's checksum from the values just written, rather than by
 * reading the header back: the narrow stores above would stall such loads.
 */
static inline rte_be16_t dplb_outer_checksum(uint16_t total_length, uint8_t tos,
					     rte_be16_t packet_id, rte_be16_t fragment_offset,
					     uint8_t protocol, uint32_t src, uint32_t dst)
{
	const uint32_t src_host = rte_be_to_cpu_32(src), dst_host = rte_be_to_cpu_32(dst);
	uint32_t sum = ((uint32_t)RTE_IPV4_VHL_DEF << 8 | tos) + total_length +
		       rte_be_to_cpu_16(packet_id) + rte_be_to_cpu_16(fragment_offset) +
		       ((uint32_t)DPLB_OUTER_TTL << 8 | protocol) + (src_host >> 16) +
		       (src_host & 0xffff) + (dst_host >> 16) + (dst_host & 0xffff);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return rte_cpu_to_be_16((uint16_t)~sum);
}

/*
 * Prepend the outer headers and rewrite Ethernet toward the next hop,
 * keeping the VLAN tag the packet arrived with. Returns 0, or a drop reason
 * (the mbuf is then untouched and still the caller's to free).
 */
static inline int dplb_encapsulate(struct rte_mbuf *m, const struct dplb_packet_info *info,
				   const struct dplb_encap_target *target, uint32_t flow_hash,
				   uint32_t mtu)
{
	const uint16_t overhead = dplb_encap_overhead(target->kind);
	const struct rte_ipv4_hdr *inner = info->ip;
	const uint32_t outer_len = (uint32_t)info->ip_len + overhead;

	if (unlikely(outer_len > mtu))
		return DPLB_DROP_TOO_BIG;
	/* The Ethernet header (and tag) is rewritten whole below, so only the
	 * bytes it leaves behind need to be new room. */
	uint8_t *frame = (uint8_t *)rte_pktmbuf_prepend(m, overhead);
	if (unlikely(frame == NULL))
		return DPLB_DROP_NO_HEADROOM;

	/* Read what we need from the inner header before anything is written
	 * over the old Ethernet header, which overlaps the new outer one. */
	const uint8_t tos = inner->type_of_service;
	const rte_be16_t df = inner->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);

	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	rte_ether_addr_copy(target->dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(target->src_mac, &eth->src_addr);
	if (info->l2_len > sizeof(*eth)) {
		struct rte_vlan_hdr *vlan = (struct rte_vlan_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
		vlan->vlan_tci = info->vlan_tci;
		vlan->eth_proto = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	} else {
		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	}

	struct rte_ipv4_hdr *outer = (struct rte_ipv4_hdr *)(frame + info->l2_len);
	outer->version_ihl = RTE_IPV4_VHL_DEF;
	outer->type_of_service = tos;
	outer->total_length = rte_cpu_to_be_16((uint16_t)outer_len);
	outer->packet_id = df ? 0 : rte_cpu_to_be_16(target->packet_id);
	outer->fragment_offset = df;
	outer->time_to_live = DPLB_OUTER_TTL;
	outer->src_addr = target->outer_src;
	outer->dst_addr = target->outer_dst;
	outer->hdr_checksum = 0;
	if (target->kind == DPLB_ENCAP_GUE) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(outer + 1);

		outer->next_proto_id = IPPROTO_UDP;
		/* 49152..65535: the dynamic range, never a well-known port. */
		udp->src_port = rte_cpu_to_be_16(0xc000 | (flow_hash & 0x3fff));
		udp->dst_port = target->gue_port;
		udp->dgram_len = rte_cpu_to_be_16(info->ip_len + sizeof(*udp));
		udp->dgram_cksum = 0;
	} else {
		outer->next_proto_id = IPPROTO_IPIP;
	}
	outer->hdr_checksum =
		dplb_outer_checksum((uint16_t)outer_len, tos, outer->packet_id, df,
				    outer->next_proto_id, target->outer_src, target->outer_dst);
	return 0;
}

#endif
