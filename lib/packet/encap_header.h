/*
 * An IPv4 outer header toward one backend, made once per snapshot (state.c)
 * so that encapsulating a packet copies it and writes only what changes
 * from packet to packet, as Katran keeps a prebuilt header per real.
 *
 * It holds the Ethernet header (the next hop's MAC and type IPv4; the
 * source MAC is the port's, written per packet) and the IPv4 header's
 * fields that are the backend's: version and length, TTL, protocol, our
 * address and the backend's. TOS, total length, identification, fragment
 * field and checksum are zero here; sum is the ones' complement sum of the
 * header as it is, so the checksum needs only the per-packet fields added.
 */
#ifndef DPLB_ENCAP_HEADER_H
#define DPLB_ENCAP_HEADER_H

#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>

struct dplb_encap_header4 {
	uint8_t bytes[RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr)];
	/* rte_raw_cksum's sum of the IPv4 header in bytes: 16-bit words as
	 * they lie in memory, as the per-packet fields are added to it. */
	uint16_t sum;
};

#define DPLB_OUTER_TTL 64 /* and an IPv6 outer header's hop limit */

static inline struct rte_ipv4_hdr *dplb_encap_header4_ip(struct dplb_encap_header4 *header)
{
	return (struct rte_ipv4_hdr *)(header->bytes + RTE_ETHER_HDR_LEN);
}

/* The protocol the header was made for: IPPROTO_IPIP, IPPROTO_IPV6 or
 * IPPROTO_UDP (GUE). */
static inline uint8_t dplb_encap_header4_protocol(const struct dplb_encap_header4 *header)
{
	return header->bytes[RTE_ETHER_HDR_LEN + offsetof(struct rte_ipv4_hdr, next_proto_id)];
}

/* The header from next_hop_mac to dst (network order) from src, carrying
 * protocol. */
static inline void dplb_encap_header4_make(struct dplb_encap_header4 *header,
					   const struct rte_ether_addr *next_hop_mac, uint32_t src,
					   uint32_t dst, uint8_t protocol)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)header->bytes;
	struct rte_ipv4_hdr *ip = dplb_encap_header4_ip(header);

	memset(header, 0, sizeof(*header));
	rte_ether_addr_copy(next_hop_mac, &eth->dst_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->time_to_live = DPLB_OUTER_TTL;
	ip->next_proto_id = protocol;
	ip->src_addr = src;
	ip->dst_addr = dst;
	header->sum = rte_raw_cksum(ip, sizeof(*ip));
}

#endif
