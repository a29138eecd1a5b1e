/*
 * ARP frames: answering requests for our own address in place (workers),
 * building requests and reading replies (management lcore). Only Ethernet
 * + IPv4 ARP (RFC 826) is understood; anything else is ignored.
 */
#ifndef DPLB_ARP_H
#define DPLB_ARP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

/* The ARP header of an Ethernet/IPv4 ARP frame after l2_len bytes, or NULL
 * when the frame is too short or not that kind of ARP. */
static inline struct rte_arp_hdr *dplb_arp_header(struct rte_mbuf *m, uint16_t l2_len)
{
	struct rte_arp_hdr *arp;

	if (rte_pktmbuf_data_len(m) < l2_len + sizeof(*arp))
		return NULL;
	arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, l2_len);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != sizeof(uint32_t))
		return NULL;
	return arp;
}

static inline bool dplb_arp_is_request_for(const struct rte_arp_hdr *arp, uint32_t address)
{
	return arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) &&
	       arp->arp_data.arp_tip == address;
}

/* Turn a request for our address into the reply, in place; the VLAN tag,
 * if any, stays. */
static inline void dplb_arp_answer(struct rte_mbuf *m, struct rte_arp_hdr *arp,
				   const struct rte_ether_addr *our_mac)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_ipv4 *data = &arp->arp_data;
	const uint32_t our_address = data->arp_tip;

	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&data->arp_sha, &data->arp_tha);
	data->arp_tip = data->arp_sip;
	rte_ether_addr_copy(our_mac, &data->arp_sha);
	data->arp_sip = our_address;
}

/* Fill m with a broadcast request: who has target? tell our_address. */
static inline int dplb_arp_build_request(struct rte_mbuf *m, const struct rte_ether_addr *our_mac,
					 uint32_t our_address, uint32_t target)
{
	const uint16_t length = sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, length);

	if (eth == NULL)
		return -1;
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = sizeof(uint32_t);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(our_mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = our_address;
	memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = target;
	return 0;
}

#endif
