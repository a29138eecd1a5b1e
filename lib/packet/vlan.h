/*
 * The 802.1Q tag of frames dplb originates or hands to the kernel, for
 * ports on one VLAN of a trunk ([dataplane] vlan). Forwarded packets and
 * in-place answers keep the tag they arrived with (encap.h, arp.h,
 * icmp6.h); only frames made here (ARP requests, neighbor solicitations)
 * and the kernel's, which knows nothing of the VLAN, need one put on, and
 * frames for the kernel need it taken off. DPDK's rte_vlan_insert and
 * rte_vlan_strip do the byte moving.
 */
#ifndef DPLB_VLAN_H
#define DPLB_VLAN_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

/* Tag the Ethernet frame m with VLAN vlan (1..4094, priority 0); vlan 0,
 * or a frame tagged already (802.1Q or 802.1ad: the kernel's VLAN
 * interface on a tap, say), leaves it untouched. Returns 0, or -1 when m
 * has no headroom for the tag or is shared (its frame then unchanged). */
static inline int dplb_vlan_tag(struct rte_mbuf *m, uint16_t vlan)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	struct rte_mbuf *tagged = m;

	if (vlan == 0 || (rte_pktmbuf_data_len(m) >= sizeof(*eth) &&
			  (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN) ||
			   eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_QINQ))))
		return 0;
	m->vlan_tci = vlan;
	return rte_vlan_insert(&tagged) == 0 ? 0 : -1;
}

/* Whether m is tagged with VLAN vlan (not 0): then the tag is taken off,
 * which the kernel behind a tap needs, having no VLAN interface. */
static inline bool dplb_vlan_untag(struct rte_mbuf *m, uint16_t vlan)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

	if (vlan == 0 || rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(struct rte_vlan_hdr) ||
	    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN))
		return false;
	const struct rte_vlan_hdr *tag = (const struct rte_vlan_hdr *)(eth + 1);

	if (RTE_VLAN_TCI_ID(rte_be_to_cpu_16(tag->vlan_tci)) != vlan)
		return false;
	if (rte_vlan_strip(m) != 0)
		return false;
	/* Nothing for the tap's driver to act on: the tag is gone. */
	m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
	return true;
}

#endif
