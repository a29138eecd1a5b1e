/*
 * Encapsulation toward a backend: IP-in-IP or GUE over UDP, with an IPv4 or
 * an IPv6 outer header around an IPv4 or IPv6 client packet: IPv4 in IPv4
 * (RFC 2003, protocol 4), IPv6 in IPv4 (protocol 41), IPv4 in IPv6 and IPv6
 * in IPv6 (RFC 2473, next header 4 or 41).
 *
 * GUE is sent as "variant 1" (draft-ietf-intarea-gue, direct IP
 * encapsulation): the UDP payload is the client's IP packet itself, as
 * Katran does; Linux fou in gue mode and dplb-decap both accept it. The UDP
 * source port comes from the flow hash so that backends spreading by RSS
 * keep each flow on one queue. Over IPv4 the UDP checksum is zero, which
 * RFC 768 allows and saves touching the payload; over IPv6 a zero checksum
 * is not allowed (RFC 8200 8.1; RFC 6935/6936's exception needs the
 * receiver's opt-in), so it is computed, over every segment of the mbuf.
 *
 * The outer header copies DSCP and ECN from the inner one (RFC 2003 section
 * 3.1, RFC 6040 normal mode), and an IPv4 outer header its DF bit, so path
 * MTU discovery keeps working end to end. Its identification is 0 when DF
 * is set (RFC 6864) and otherwise a per-worker counter, so fragments of
 * different packets of a flow are never mistaken for one another. An IPv6
 * client packet is never fragmented on the way (RFC 8200 5): its IPv4
 * outer header has DF set. An IPv6 outer header carries the flow label of
 * the inner 5-tuple (RFC 6438), so that ECMP and LAG on the way spread the
 * tunnelled flows and keep each on one path.
 */
#ifndef DPLB_ENCAP_H
#define DPLB_ENCAP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "control/config.h"
#include "packet/checksum.h"
#include "packet/counters.h"
#include "packet/encap_header.h"
#include "packet/packet_parse.h"

struct dplb_encap_target {
	uint32_t outer_src; /* our address, network order (outer_family AF_INET) */
	uint32_t outer_dst; /* the backend, network order (outer_family AF_INET) */
	/* Our address and the backend's, 16 bytes each in network order, when
	 * outer_family is AF_INET6. */
	const uint8_t *outer_src6;
	const uint8_t *outer_dst6;
	rte_be16_t gue_port;  /* network order */
	uint8_t kind;	      /* enum dplb_encap */
	uint8_t outer_family; /* AF_INET or AF_INET6: the backend's */
	uint16_t packet_id;   /* outer IPv4 id when DF is clear: new for every packet */
	const struct rte_ether_addr *src_mac;
	const struct rte_ether_addr *dst_mac;
	/* The backend's outer IPv4 header made with the snapshot, from dst_mac,
	 * outer_src and outer_dst (encap_header.h); NULL: none, the header is
	 * written field by field. */
	const struct dplb_encap_header4 *header4;
};

/* dplb_encap_overhead (control/config.h) counts the headers written here. */
_Static_assert(DPLB_OUTER_IPV4_LEN == sizeof(struct rte_ipv4_hdr), "outer IPv4 header");
_Static_assert(DPLB_OUTER_IPV6_LEN == sizeof(struct rte_ipv6_hdr), "outer IPv6 header");
_Static_assert(DPLB_GUE_UDP_LEN == sizeof(struct rte_udp_hdr), "GUE's UDP header");

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

	return rte_cpu_to_be_16((uint16_t)~dplb_checksum_fold(sum));
}

/*
 * The IPv6 flow label of a flow whose 5-tuple hashes to flow_hash (RFC
 * 6438): the hash's 32 bits folded to 20, never 0, which says "no label".
 */
static inline uint32_t dplb_encap_flow_label(uint32_t flow_hash)
{
	const uint32_t label = (flow_hash ^ (flow_hash >> 20)) & RTE_IPV6_HDR_FL_MASK;

	return label != 0 ? label : 1;
}

/*
 * rte_raw_cksum's sum of len bytes of m from off, over as many segments as
 * they span, of any lengths. A segment starting at an odd offset of the
 * range adds its sum byte-swapped (RFC 1071); the sum is folded before the
 * swap. (DPDK 22.11's rte_raw_cksum_mbuf swaps it unfolded, dropping its
 * carries, and gets such chains wrong.) Returns the unfolded total.
 */
static inline uint32_t dplb_mbuf_raw_sum(const struct rte_mbuf *m, uint32_t off, uint32_t len)
{
	uint32_t sum = 0, done = 0;

	for (const struct rte_mbuf *seg = m; seg != NULL && done < len; seg = seg->next) {
		const uint32_t seg_len = rte_pktmbuf_data_len(seg);

		if (off >= seg_len) {
			off -= seg_len;
			continue;
		}
		const uint32_t take = RTE_MIN(seg_len - off, len - done);
		uint16_t part =
			rte_raw_cksum(rte_pktmbuf_mtod_offset(seg, const void *, off), take);

		sum += (done & 1) ? rte_bswap16(part) : part;
		done += take;
		off = 0;
	}
	return sum;
}

/* Ethernet toward the next hop, keeping the VLAN tag the packet arrived
 * with, over the outer header of ether_type: returns where that goes. */
static inline __attribute__((always_inline)) uint8_t *dplb_encap_ethernet(
	uint8_t *frame, const struct dplb_packet_info *info, const struct dplb_encap_target *target,
	rte_be16_t ether_type)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;

	rte_ether_addr_copy(target->dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(target->src_mac, &eth->src_addr);
	if (info->l2_len > sizeof(*eth)) {
		struct rte_vlan_hdr *vlan = (struct rte_vlan_hdr *)(eth + 1);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
		vlan->vlan_tci = info->vlan_tci;
		vlan->eth_proto = ether_type;
	} else {
		eth->ether_type = ether_type;
	}
	return frame + info->l2_len;
}

/* GUE's UDP header over IPv4 at udp_header, before the client's packet:
 * no checksum (RFC 768 allows it over IPv4). */
static inline __attribute__((always_inline)) void dplb_encap_gue_header(
	uint8_t *udp_header, const struct dplb_packet_info *info,
	const struct dplb_encap_target *target, uint32_t flow_hash)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)udp_header;

	/* 49152..65535: the dynamic range, never a well-known port. */
	udp->src_port = rte_cpu_to_be_16(0xc000 | (flow_hash & 0x3fff));
	udp->dst_port = target->gue_port;
	udp->dgram_len = rte_cpu_to_be_16(info->ip_len + sizeof(*udp));
	udp->dgram_cksum = 0;
}

/*
 * Ethernet (untagged) and the outer IPv4 header at frame from the backend's
 * made header: one copy, the port's MAC, then the fields of this packet,
 * their sum added to the made header's for the checksum. Writes the same
 * bytes as the field-by-field path (test_encap compares the two).
 */
static inline __attribute__((always_inline)) void dplb_encap_with_header4(
	uint8_t *frame, const struct dplb_encap_target *target, uint32_t outer_len, uint8_t tos,
	rte_be16_t df)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_ipv4_hdr *outer = (struct rte_ipv4_hdr *)(eth + 1);
	const rte_be16_t total_length = rte_cpu_to_be_16((uint16_t)outer_len);
	const rte_be16_t packet_id = df ? 0 : rte_cpu_to_be_16(target->packet_id);
	/* The words as rte_raw_cksum reads them: TOS is the low-addressed
	 * word's second byte. */
	const uint32_t sum = (uint32_t)target->header4->sum + rte_cpu_to_be_16((uint16_t)tos) +
			     total_length + packet_id + df;

	memcpy(frame, target->header4->bytes, sizeof(target->header4->bytes));
	rte_ether_addr_copy(target->src_mac, &eth->src_addr);
	outer->type_of_service = tos;
	outer->total_length = total_length;
	outer->packet_id = packet_id;
	outer->fragment_offset = df;
	outer->hdr_checksum = (uint16_t)~dplb_checksum_fold(sum);
}

/*
 * dplb_encapsulate for an outer header of outer_family and an inner packet
 * of inner_family, both constants where it is inlined: the worker's IPv4
 * path compiles to IPv4-in-IPv4 alone.
 */
static inline __attribute__((always_inline)) int dplb_encapsulate_families(
	struct rte_mbuf *m, const struct dplb_packet_info *info,
	const struct dplb_encap_target *target, uint32_t flow_hash, uint32_t mtu,
	uint8_t outer_family, uint8_t inner_family)
{
	const uint16_t overhead = dplb_encap_overhead(target->kind, outer_family);
	const uint32_t outer_len = (uint32_t)info->ip_len + overhead;

	if (unlikely(outer_len > mtu))
		return DPLB_DROP_TOO_BIG;
	/* The Ethernet header (and tag) is rewritten whole below, so only the
	 * bytes it leaves behind need to be new room. */
	uint8_t *frame = (uint8_t *)rte_pktmbuf_prepend(m, overhead);
	if (unlikely(frame == NULL))
		return DPLB_DROP_NO_HEADROOM;

	/* Read what we need from the inner header before anything is written
	 * over the old Ethernet header, which overlaps the new outer one:
	 * DSCP and ECN, and whether the path may fragment the packet. */
	uint8_t tos;
	rte_be16_t df;
	uint8_t inner_protocol;
	if (inner_family == AF_INET6) {
		tos = (uint8_t)(rte_be_to_cpu_32(info->ip6->vtc_flow) >> RTE_IPV6_HDR_TC_SHIFT);
		df = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		inner_protocol = IPPROTO_IPV6;
	} else {
		tos = info->ip->type_of_service;
		df = info->ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		inner_protocol = IPPROTO_IPIP;
	}
	const uint8_t protocol = target->kind == DPLB_ENCAP_GUE ? IPPROTO_UDP : inner_protocol;

	if (outer_family == AF_INET && likely(target->header4 != NULL) &&
	    likely(info->l2_len == RTE_ETHER_HDR_LEN) &&
	    likely(dplb_encap_header4_protocol(target->header4) == protocol)) {
		dplb_encap_with_header4(frame, target, outer_len, tos, df);
		if (target->kind == DPLB_ENCAP_GUE)
			dplb_encap_gue_header(frame + RTE_ETHER_HDR_LEN +
						      sizeof(struct rte_ipv4_hdr),
					      info, target, flow_hash);
		return 0;
	}
	if (outer_family == AF_INET) {
		struct rte_ipv4_hdr *outer = (struct rte_ipv4_hdr *)dplb_encap_ethernet(
			frame, info, target, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));

		outer->version_ihl = RTE_IPV4_VHL_DEF;
		outer->type_of_service = tos;
		outer->total_length = rte_cpu_to_be_16((uint16_t)outer_len);
		outer->packet_id = df ? 0 : rte_cpu_to_be_16(target->packet_id);
		outer->fragment_offset = df;
		outer->time_to_live = DPLB_OUTER_TTL;
		outer->next_proto_id = protocol;
		outer->src_addr = target->outer_src;
		outer->dst_addr = target->outer_dst;
		if (target->kind == DPLB_ENCAP_GUE)
			dplb_encap_gue_header((uint8_t *)(outer + 1), info, target, flow_hash);
		outer->hdr_checksum =
			dplb_outer_checksum((uint16_t)outer_len, tos, outer->packet_id, df,
					    protocol, target->outer_src, target->outer_dst);
		return 0;
	}

	struct rte_ipv6_hdr *outer = (struct rte_ipv6_hdr *)dplb_encap_ethernet(
		frame, info, target, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6));
	const uint16_t payload_len = (uint16_t)(outer_len - sizeof(*outer));

	outer->vtc_flow = rte_cpu_to_be_32(6u << 28 | (uint32_t)tos << RTE_IPV6_HDR_TC_SHIFT |
					   dplb_encap_flow_label(flow_hash));
	outer->payload_len = rte_cpu_to_be_16(payload_len);
	outer->proto = protocol;
	outer->hop_limits = DPLB_OUTER_TTL;
	memcpy(outer->src_addr, target->outer_src6, sizeof(outer->src_addr));
	memcpy(outer->dst_addr, target->outer_dst6, sizeof(outer->dst_addr));
	if (target->kind == DPLB_ENCAP_GUE) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(outer + 1);

		udp->src_port = rte_cpu_to_be_16(0xc000 | (flow_hash & 0x3fff));
		udp->dst_port = target->gue_port;
		udp->dgram_len = rte_cpu_to_be_16(payload_len);
		udp->dgram_cksum = 0;
		/* The UDP header and the client's packet, wherever its bytes
		 * lie; a sum of 0 is sent as 0xffff (0 says "none"). */
		const uint32_t sum =
			dplb_ipv6_pseudo_header_sum(target->outer_src6, target->outer_dst6,
						    payload_len, IPPROTO_UDP) +
			dplb_mbuf_raw_sum(m, info->l2_len + sizeof(*outer), payload_len);
		const uint16_t checksum = (uint16_t)~dplb_checksum_fold(sum);

		udp->dgram_cksum = checksum != 0 ? checksum : 0xffff;
	}
	return 0;
}

/*
 * Prepend the outer headers of target->outer_family around the parsed
 * packet (IPv6 when info->ip6 is set, else IPv4; told by info->ip being
 * NULL, which the IPv4 path reads anyway) and rewrite Ethernet toward
 * the next hop, keeping the VLAN tag the packet arrived with. flow_hash is
 * the client 5-tuple's (dplb_flow_hash, dplb_flow_hash6): GUE's source port
 * and an IPv6 outer header's flow label come from it. Returns 0, or a drop
 * reason: DPLB_DROP_TOO_BIG when the result would exceed mtu,
 * DPLB_DROP_NO_HEADROOM (the mbuf is then untouched and still the caller's
 * to free). Runs on workers; touches only m.
 */
static inline int dplb_encapsulate(struct rte_mbuf *m, const struct dplb_packet_info *info,
				   const struct dplb_encap_target *target, uint32_t flow_hash,
				   uint32_t mtu)
{
	/* Inlined whole, so that target stays in registers and a caller whose
	 * outer family is a constant compiles only its two combinations. */
	if (likely(target->outer_family == AF_INET)) {
		if (likely(info->ip != NULL))
			return dplb_encapsulate_families(m, info, target, flow_hash, mtu, AF_INET,
							 AF_INET);
		return dplb_encapsulate_families(m, info, target, flow_hash, mtu, AF_INET,
						 AF_INET6);
	}
	if (info->ip != NULL)
		return dplb_encapsulate_families(m, info, target, flow_hash, mtu, AF_INET6,
						 AF_INET);
	return dplb_encapsulate_families(m, info, target, flow_hash, mtu, AF_INET6, AF_INET6);
}

#endif
