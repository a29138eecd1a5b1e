/*
 * ICMP echo: dplb answers pings to its own address and to VIP addresses, so
 * operators and monitoring can see that a VIP is served. The reply is made
 * in place and leaves by the port the request came in on.
 */
#ifndef DPLB_ICMP_H
#define DPLB_ICMP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "packet_parse.h"

#define DPLB_ICMP_REPLY_TTL 64

/* Whether the ICMP message in a parsed packet is a well-formed echo
 * request: type 8 code 0, whole in the first segment, checksum right. */
static inline bool dplb_icmp_is_echo_request(const struct rte_mbuf *m,
					     const struct dplb_packet_info *info)
{
	const uint16_t icmp_len = info->ip_len - sizeof(struct rte_ipv4_hdr);
	const struct rte_icmp_hdr *icmp = (const struct rte_icmp_hdr *)(info->ip + 1);

	if (icmp_len < sizeof(*icmp) ||
	    info->l2_len + info->ip_len > rte_pktmbuf_data_len(m))
		return false;
	return icmp->icmp_type == RTE_IP_ICMP_ECHO_REQUEST && icmp->icmp_code == 0 &&
	       rte_raw_cksum(icmp, icmp_len) == 0xffff;
}

/* Turn the echo request into its reply, in place. */
static inline void dplb_icmp_echo_reply(struct rte_mbuf *m, struct dplb_packet_info *info,
					const struct rte_ether_addr *our_mac)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = info->ip;
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);
	const uint32_t pinged = ip->dst_addr;

	/* Trim Ethernet padding so the reply is exactly as long as the
	 * request's IP packet. */
	if (rte_pktmbuf_pkt_len(m) > (uint32_t)info->l2_len + info->ip_len)
		rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - info->l2_len - info->ip_len);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = pinged;
	ip->time_to_live = DPLB_ICMP_REPLY_TTL;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	/* Type 8 -> 0 changes one 16-bit word by 0x0800: adjust the sum
	 * (RFC 1624) rather than re-reading the payload. */
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	uint32_t sum = (uint16_t)~rte_be_to_cpu_16(icmp->icmp_cksum) +
		       (uint16_t)~(RTE_IP_ICMP_ECHO_REQUEST << 8) + (RTE_IP_ICMP_ECHO_REPLY << 8);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	icmp->icmp_cksum = rte_cpu_to_be_16((uint16_t)~sum);
}

#endif
