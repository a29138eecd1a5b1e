/*
 * ICMPv6 that dplb itself sends or reads (RFC 4443, RFC 4861): echo replies
 * to pings of its own address and of VIP addresses, Neighbor
 * Advertisements for its addresses (IPv6's ARP replies), the Neighbor
 * Solicitations that resolve a next hop and the advertisements that answer
 * them, and "packet too big" to clients whose packets would be too big once
 * encapsulated (so path MTU discovery works through the tunnel). Answers
 * are made in place and leave by the port the packet came in on.
 *
 * Every message dplb answers has its checksum verified first, over the
 * IPv6 pseudo-header (RFC 8200 8.1); every message it makes is checksummed
 * the same way. Only messages whole in the mbuf's first segment are read.
 *
 * Which addresses are ours, and whether to answer at all, is the caller's
 * decision: these functions check the messages, not the configuration.
 */
#ifndef DPLB_ICMP6_H
#define DPLB_ICMP6_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "control/config.h"
#include "packet/checksum.h"
#include "packet/counters.h"
#include "packet/flow_key.h"
#include "packet/icmp.h"
#include "packet/ipv6_walk.h"
#include "packet/packet_parse.h"

#define DPLB_ICMP6_DEST_UNREACHABLE 1
#define DPLB_ICMP6_PACKET_TOO_BIG 2
#define DPLB_ICMP6_TIME_EXCEEDED 3
#define DPLB_ICMP6_PARAMETER_PROBLEM 4
#define DPLB_ICMP6_ECHO_REQUEST 128
#define DPLB_ICMP6_ECHO_REPLY 129
#define DPLB_ND_NEIGHBOR_SOLICITATION 135
#define DPLB_ND_NEIGHBOR_ADVERTISEMENT 136
/* Types below this are errors (RFC 4443 2.1). */
#define DPLB_ICMP6_FIRST_INFORMATIONAL 128

#define DPLB_ND_OPTION_SOURCE_LINK 1
#define DPLB_ND_OPTION_TARGET_LINK 2
/* Neighbor Discovery is sent, and only accepted, with the hop limit no
 * router would leave: it comes from the link itself (RFC 4861 3.1). */
#define DPLB_ND_HOP_LIMIT 255
/* An advertisement's flags (RFC 4861 4.4), network order. */
#define DPLB_ND_FLAG_ROUTER RTE_BE32(0x80000000)
#define DPLB_ND_FLAG_SOLICITED RTE_BE32(0x40000000)
#define DPLB_ND_FLAG_OVERRIDE RTE_BE32(0x20000000)

/* The first 8 bytes of every ICMPv6 message this file reads or writes. */
struct dplb_icmp6_hdr {
	uint8_t type;
	uint8_t code;
	rte_be16_t checksum;
	rte_be32_t data; /* echo: identifier and sequence; too big: the MTU; ND: flags */
} __rte_packed;

/* A Neighbor Solicitation or Advertisement before its options. */
struct dplb_nd_message {
	struct dplb_icmp6_hdr icmp; /* data: reserved (NS), flags (NA) */
	uint8_t target[16];
} __rte_packed;

/* A source or target link-layer address option, Ethernet (RFC 4861 4.6.1):
 * options start 8-byte aligned within the message, which starts 2-byte
 * aligned (after Ethernet and 40 bytes of IPv6), so the address is aligned
 * as rte_ether_addr wants. */
struct dplb_nd_link_option {
	uint8_t type;
	uint8_t length; /* in 8-byte units: 1 */
	struct rte_ether_addr address;
};

/* An NS or NA as dplb sends them: one link-layer address option. */
#define DPLB_ND_LENGTH (sizeof(struct dplb_nd_message) + sizeof(struct dplb_nd_link_option))

/* ff02::1, all nodes on the link (RFC 4291 2.7.1). */
static const uint8_t dplb_ipv6_all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };

static inline bool dplb_ipv6_is_multicast(const uint8_t address[16])
{
	return address[0] == 0xff;
}

static inline bool dplb_ipv6_is_unspecified(const uint8_t address[16])
{
	static const uint8_t zero[16];

	return memcmp(address, zero, sizeof(zero)) == 0;
}

/* The solicited-node multicast address of target (RFC 4291 2.7.1):
 * ff02::1:ff00:0/104 and target's low 24 bits. */
static inline void dplb_ipv6_solicited_node(const uint8_t target[16], uint8_t out[16])
{
	static const uint8_t prefix[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff };

	memcpy(out, prefix, sizeof(prefix));
	memcpy(out + sizeof(prefix), target + sizeof(prefix), 16 - sizeof(prefix));
}

/* The Ethernet address an IPv6 multicast address maps to (RFC 2464 7):
 * 33:33 and its low 32 bits. */
static inline void dplb_ipv6_multicast_mac(const uint8_t address[16], struct rte_ether_addr *out)
{
	out->addr_bytes[0] = 0x33;
	out->addr_bytes[1] = 0x33;
	memcpy(&out->addr_bytes[2], address + 12, 4);
}

/* The folded sum of the ICMPv6 message of len bytes at icmp under the
 * pseudo-header of src and dst: 0xffff when its checksum is right. */
static inline uint16_t dplb_icmp6_sum(const uint8_t src[16], const uint8_t dst[16],
				      const void *icmp, uint16_t len)
{
	return dplb_checksum_fold(dplb_ipv6_pseudo_header_sum(src, dst, len, IPPROTO_ICMPV6) +
				  rte_raw_cksum(icmp, len));
}

/* Fill in the checksum of the ICMPv6 message of len bytes that follows ip6
 * (no extension headers), whose addresses are written. */
static inline void dplb_icmp6_set_checksum(const struct rte_ipv6_hdr *ip6,
					   struct dplb_icmp6_hdr *icmp, uint16_t len)
{
	icmp->checksum = 0;
	icmp->checksum = (uint16_t)~dplb_icmp6_sum(ip6->src_addr, ip6->dst_addr, icmp, len);
}

/* The ICMPv6 message of a parsed packet (DPLB_PARSED_ICMP6) when it is
 * whole in the first segment and at least min_len bytes, with its length;
 * else NULL. */
static inline struct dplb_icmp6_hdr *dplb_icmp6_message(const struct rte_mbuf *m,
							const struct dplb_packet_info *info,
							uint16_t min_len, uint16_t *len)
{
	*len = info->ip_len - info->ip_header_len;
	if (*len < min_len || info->l2_len + info->ip_len > rte_pktmbuf_data_len(m))
		return NULL;
	return (struct dplb_icmp6_hdr *)dplb_packet_l4(info);
}

/* Whether the ICMPv6 message's checksum is right, under the pseudo-header of
 * the packet's addresses. */
static inline bool dplb_icmp6_checksum_ok(const struct dplb_packet_info *info,
					  const struct dplb_icmp6_hdr *icmp, uint16_t len)
{
	return dplb_icmp6_sum(info->ip6->src_addr, info->ip6->dst_addr, icmp, len) == 0xffff;
}

/*
 * Turn an IPv6 header with extension headers into one without, in place
 * (the Ethernet and IPv6 headers move up over them): an answer carries
 * none of the request's hop-by-hop, routing or destination options.
 */
static inline void dplb_ipv6_strip_extensions(struct rte_mbuf *m, struct dplb_packet_info *info)
{
	const uint16_t extensions = info->ip_header_len - sizeof(struct rte_ipv6_hdr);
	uint8_t *frame = dplb_mbuf_cut(m, info->l2_len + sizeof(struct rte_ipv6_hdr), extensions);

	info->ip6 = (struct rte_ipv6_hdr *)(frame + info->l2_len);
	info->ip_len -= extensions;
	info->ip_header_len = sizeof(struct rte_ipv6_hdr);
	info->ip6->proto = info->protocol;
	info->ip6->payload_len = rte_cpu_to_be_16(info->ip_len - sizeof(struct rte_ipv6_hdr));
}

/*
 * Turn an echo request (a parsed DPLB_PARSED_ICMP6 packet) into its reply,
 * in place: from the address pinged (the caller has checked it is ours or
 * a VIP's) to the sender, hop limit 64, the request's extension headers
 * left out. Returns 0, or the drop reason: DPLB_DROP_ICMP_UNHANDLED for
 * anything but a whole echo request (type 128, code 0) to a unicast
 * address, DPLB_DROP_BAD_SOURCE from a multicast or unspecified address,
 * DPLB_DROP_BAD_CHECKSUM; m is then unchanged. Runs on workers.
 */
static inline int dplb_icmp6_echo_reply(struct rte_mbuf *m, struct dplb_packet_info *info,
					const struct rte_ether_addr *our_mac)
{
	uint16_t len;
	struct dplb_icmp6_hdr *icmp =
		dplb_icmp6_message(m, info, sizeof(struct dplb_icmp6_hdr), &len);

	if (icmp == NULL || icmp->type != DPLB_ICMP6_ECHO_REQUEST || icmp->code != 0 ||
	    dplb_ipv6_is_multicast(info->ip6->dst_addr))
		return DPLB_DROP_ICMP_UNHANDLED;
	if (dplb_ipv6_is_multicast(info->ip6->src_addr) ||
	    dplb_ipv6_is_unspecified(info->ip6->src_addr))
		return DPLB_DROP_BAD_SOURCE;
	if (!dplb_icmp6_checksum_ok(info, icmp, len))
		return DPLB_DROP_BAD_CHECKSUM;
	if (unlikely(info->ip_header_len != sizeof(struct rte_ipv6_hdr)))
		dplb_ipv6_strip_extensions(m, info);

	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip6 = info->ip6;
	uint8_t pinged[16];

	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	memcpy(pinged, ip6->dst_addr, sizeof(pinged));
	memcpy(ip6->dst_addr, ip6->src_addr, sizeof(ip6->dst_addr));
	memcpy(ip6->src_addr, pinged, sizeof(ip6->src_addr));
	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->hop_limits = DPLB_ICMP_REPLY_TTL;
	/* The pseudo-header sums the same with the addresses swapped; type
	 * 128 -> 129 changes one word (RFC 1624). */
	icmp->type = DPLB_ICMP6_ECHO_REPLY;
	icmp->checksum = rte_cpu_to_be_16(dplb_checksum_adjust(rte_be_to_cpu_16(icmp->checksum),
							       DPLB_ICMP6_ECHO_REQUEST << 8,
							       DPLB_ICMP6_ECHO_REPLY << 8));
	return 0;
}

/*
 * Walk the options of len bytes at options (RFC 4861 4.6): false when one
 * has length 0 or runs past the end, which makes the message invalid. *link
 * is set to the Ethernet address of the last option of link_type (source or
 * target link-layer address) of length 1, or NULL.
 */
static inline bool dplb_nd_options(const uint8_t *options, uint16_t len, uint8_t link_type,
				   const struct rte_ether_addr **link)
{
	*link = NULL;
	for (uint16_t offset = 0; offset < len;) {
		if (len - offset < 2 || options[offset + 1] == 0)
			return false;
		const uint16_t option_len = options[offset + 1] * 8;

		if (option_len > len - offset)
			return false;
		if (options[offset] == link_type &&
		    option_len == sizeof(struct dplb_nd_link_option))
			*link = &((const struct dplb_nd_link_option *)(options + offset))->address;
		offset += option_len;
	}
	return true;
}

/*
 * The checks RFC 4861 7.1.1 and 7.1.2 share for a Neighbor Solicitation or
 * Advertisement (type) in a parsed DPLB_PARSED_ICMP6 packet: hop limit
 * 255, checksum, code 0, at least 24 bytes, a target that is not multicast,
 * no option of length 0. Returns 0 with *nd and the option of link_type
 * (*link, or NULL), or the drop reason: DPLB_DROP_ICMP_UNHANDLED when it is
 * not such a message or not whole in the first segment, DPLB_DROP_BAD_ND,
 * DPLB_DROP_BAD_CHECKSUM.
 */
static inline int dplb_nd_check(const struct rte_mbuf *m, const struct dplb_packet_info *info,
				uint8_t type, uint8_t link_type, const struct dplb_nd_message **nd,
				const struct rte_ether_addr **link)
{
	uint16_t len;
	const struct dplb_icmp6_hdr *icmp =
		dplb_icmp6_message(m, info, sizeof(struct dplb_icmp6_hdr), &len);

	if (icmp == NULL || icmp->type != type)
		return DPLB_DROP_ICMP_UNHANDLED;
	*nd = (const struct dplb_nd_message *)icmp;
	/* Extension headers before ND, an atomic fragment's above all, are
	 * how spoofed ND gets past a switch's ND inspection: RFC 6980 says to
	 * ignore such messages. */
	if (info->ip6->hop_limits != DPLB_ND_HOP_LIMIT || icmp->code != 0 ||
	    info->ip_header_len != sizeof(struct rte_ipv6_hdr) ||
	    len < sizeof(struct dplb_nd_message) || dplb_ipv6_is_multicast((*nd)->target))
		return DPLB_DROP_BAD_ND;
	if (!dplb_icmp6_checksum_ok(info, icmp, len))
		return DPLB_DROP_BAD_CHECKSUM;
	if (!dplb_nd_options((const uint8_t *)(*nd + 1), len - sizeof(**nd), link_type, link))
		return DPLB_DROP_BAD_ND;
	return 0;
}

/*
 * Check a Neighbor Solicitation (a parsed DPLB_PARSED_ICMP6 packet) as RFC
 * 4861 7.1.1 says: dplb_nd_check's checks, a source that is not multicast,
 * and from the unspecified address
 * (duplicate address detection) only to a solicited-node address and
 * without a source link-layer address option. Returns 0 with *target, the
 * address solicited (in the packet: valid while m is), or the drop reason
 * as dplb_nd_check. Runs on workers; reads only.
 */
static inline int dplb_nd_solicitation_check(const struct rte_mbuf *m,
					     const struct dplb_packet_info *info,
					     const uint8_t **target)
{
	const struct dplb_nd_message *nd;
	const struct rte_ether_addr *source_link;
	const int reason = dplb_nd_check(m, info, DPLB_ND_NEIGHBOR_SOLICITATION,
					 DPLB_ND_OPTION_SOURCE_LINK, &nd, &source_link);

	if (reason != 0)
		return reason;
	if (dplb_ipv6_is_multicast(info->ip6->src_addr))
		return DPLB_DROP_BAD_ND;
	if (dplb_ipv6_is_unspecified(info->ip6->src_addr)) {
		uint8_t solicited_node[16];

		dplb_ipv6_solicited_node(nd->target, solicited_node);
		if (source_link != NULL ||
		    memcmp(info->ip6->dst_addr, solicited_node, sizeof(solicited_node)) != 0)
			return DPLB_DROP_BAD_ND;
	}
	*target = nd->target;
	return 0;
}

/*
 * Turn a Neighbor Solicitation that dplb_nd_solicitation_check accepted,
 * for target (an address of ours, 16 bytes), into the Neighbor
 * Advertisement that answers it, in place (RFC 4861 7.2.4): from target,
 * hop limit 255, with the override flag and our_mac as the target
 * link-layer address option. To the soliciting node with the solicited
 * flag, at the Ethernet address of its source link-layer option or else the
 * frame's source; a duplicate address detection probe (from the
 * unspecified address) is answered to all nodes, ff02::1, unsolicited. The
 * VLAN tag stays. Returns 0, or -1 when the mbuf's first segment cannot
 * hold the answer (the caller drops it). Runs on workers.
 */
static inline int dplb_nd_advertise(struct rte_mbuf *m, struct dplb_packet_info *info,
				    const struct rte_ether_addr *our_mac, const uint8_t target[16])
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip6 = info->ip6;
	const struct dplb_nd_message *ns = (const struct dplb_nd_message *)dplb_packet_l4(info);
	const struct rte_ether_addr *source_link;
	struct rte_ether_addr to_mac;
	uint8_t to[16];

	/* Read what the answer needs before it is written over the request. */
	(void)dplb_nd_options((const uint8_t *)(ns + 1),
			      info->ip_len - info->ip_header_len - sizeof(*ns),
			      DPLB_ND_OPTION_SOURCE_LINK, &source_link);
	const bool probe = dplb_ipv6_is_unspecified(ip6->src_addr);
	if (probe) {
		memcpy(to, dplb_ipv6_all_nodes, sizeof(to));
		dplb_ipv6_multicast_mac(to, &to_mac);
	} else {
		memcpy(to, ip6->src_addr, sizeof(to));
		rte_ether_addr_copy(source_link != NULL ? source_link : &eth->src_addr, &to_mac);
	}
	if (dplb_mbuf_reshape_first_segment(m, info->l2_len + sizeof(*ip6) + DPLB_ND_LENGTH) != 0)
		return -1;

	rte_ether_addr_copy(&to_mac, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(DPLB_ND_LENGTH);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = DPLB_ND_HOP_LIMIT;
	memcpy(ip6->src_addr, target, sizeof(ip6->src_addr));
	memcpy(ip6->dst_addr, to, sizeof(ip6->dst_addr));

	struct dplb_nd_message *na = (struct dplb_nd_message *)(ip6 + 1);
	struct dplb_nd_link_option *option = (struct dplb_nd_link_option *)(na + 1);
	na->icmp.type = DPLB_ND_NEIGHBOR_ADVERTISEMENT;
	na->icmp.code = 0;
	na->icmp.data =
		probe ? DPLB_ND_FLAG_OVERRIDE : DPLB_ND_FLAG_SOLICITED | DPLB_ND_FLAG_OVERRIDE;
	memcpy(na->target, target, sizeof(na->target));
	option->type = DPLB_ND_OPTION_TARGET_LINK;
	option->length = 1;
	rte_ether_addr_copy(our_mac, &option->address);
	dplb_icmp6_set_checksum(ip6, &na->icmp, DPLB_ND_LENGTH);
	info->ip_len = sizeof(*ip6) + DPLB_ND_LENGTH;
	info->ip_header_len = sizeof(*ip6);
	info->protocol = IPPROTO_ICMPV6;
	return 0;
}

/*
 * Fill the empty mbuf m with a Neighbor Solicitation for target6, from
 * src6 and src_mac (with it as the source link-layer address option), to
 * target6's solicited-node address and its Ethernet multicast address: the
 * management lcore's resolution of a next hop (RFC 4861 7.2.2). Returns 0,
 * or -1 when m has no room.
 */
static inline int dplb_nd_solicit_build(struct rte_mbuf *m, const struct rte_ether_addr *src_mac,
					const uint8_t src6[16], const uint8_t target6[16])
{
	const uint16_t length =
		sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + DPLB_ND_LENGTH;
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, length);

	if (eth == NULL)
		return -1;
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	struct dplb_nd_message *ns = (struct dplb_nd_message *)(ip6 + 1);
	struct dplb_nd_link_option *option = (struct dplb_nd_link_option *)(ns + 1);

	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(DPLB_ND_LENGTH);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = DPLB_ND_HOP_LIMIT;
	memcpy(ip6->src_addr, src6, sizeof(ip6->src_addr));
	dplb_ipv6_solicited_node(target6, ip6->dst_addr);
	dplb_ipv6_multicast_mac(ip6->dst_addr, &eth->dst_addr);
	rte_ether_addr_copy(src_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ns->icmp.type = DPLB_ND_NEIGHBOR_SOLICITATION;
	ns->icmp.code = 0;
	ns->icmp.data = 0;
	memcpy(ns->target, target6, sizeof(ns->target));
	option->type = DPLB_ND_OPTION_SOURCE_LINK;
	option->length = 1;
	rte_ether_addr_copy(src_mac, &option->address);
	dplb_icmp6_set_checksum(ip6, &ns->icmp, DPLB_ND_LENGTH);
	return 0;
}

/*
 * Read a Neighbor Advertisement for learning (RFC 4861 7.1.2, 7.2.5): the
 * frame m is parsed here (its Ethernet padding trimmed), checked as
 * dplb_nd_check says and, sent to a multicast address, must not be
 * solicited. Returns 0 with target6 (16 bytes), mac, the target's
 * link-layer address from its option, and override, whether the
 * advertisement may replace a MAC already known (its O flag); or the drop
 * reason as dplb_nd_check,
 * DPLB_DROP_BAD_ND when it carries no target link-layer address (nothing to
 * learn), or the parser's when m is no ICMPv6. For the management lcore.
 */
static inline int dplb_nd_parse_advert(struct rte_mbuf *m, uint8_t target6[16],
				       struct rte_ether_addr *mac, bool *override)
{
	struct dplb_packet_info info;
	const struct dplb_nd_message *nd;
	const struct rte_ether_addr *target_link;
	const enum dplb_parse_result parsed = dplb_parse_packet(m, &info);

	if (parsed == DPLB_PARSED_DROP)
		return info.drop_reason;
	if (parsed != DPLB_PARSED_ICMP6)
		return DPLB_DROP_ICMP_UNHANDLED;
	const int reason = dplb_nd_check(m, &info, DPLB_ND_NEIGHBOR_ADVERTISEMENT,
					 DPLB_ND_OPTION_TARGET_LINK, &nd, &target_link);
	if (reason != 0)
		return reason;
	if ((dplb_ipv6_is_multicast(info.ip6->dst_addr) &&
	     (nd->icmp.data & DPLB_ND_FLAG_SOLICITED)) ||
	    target_link == NULL)
		return DPLB_DROP_BAD_ND;
	memcpy(target6, nd->target, sizeof(nd->target));
	rte_ether_addr_copy(target_link, mac);
	*override = (nd->icmp.data & DPLB_ND_FLAG_OVERRIDE) != 0;
	return 0;
}

/* The longest quote of a packet too big: the message within 1280 bytes
 * (DPLB_IPV6_MIN_MTU, control/config.h). */
#define DPLB_ICMP6_QUOTE_MAX                                                                       \
	(DPLB_IPV6_MIN_MTU - sizeof(struct rte_ipv6_hdr) - sizeof(struct dplb_icmp6_hdr))

/*
 * Turn a parsed IPv6 packet too big to encapsulate into the ICMPv6 "packet
 * too big" (RFC 4443 3.2) its sender needs to lower its path MTU to mtu,
 * from our6 (16 bytes) to the packet's source, in place: the packet quoted
 * from its IPv6 header on, as much of it as keeps the message within 1280
 * bytes (and within the first segment's room), whatever its number of
 * segments. Refused (RFC 4443 2.4 e) for a source that is multicast or
 * unspecified, and for a packet that is itself an ICMPv6 error, or ICMPv6
 * whose type is out of sight (a later fragment). Returns 0, or -1 when
 * refused or the mbuf cannot be reshaped (m unchanged; the caller drops
 * it). Runs on workers.
 */
static inline int dplb_icmp6_packet_too_big(struct rte_mbuf *m, struct dplb_packet_info *info,
					    const struct rte_ether_addr *our_mac,
					    const uint8_t our6[16], uint32_t mtu)
{
	uint8_t copy[DPLB_ICMP6_QUOTE_MAX];
	struct rte_ipv6_hdr *ip6 = info->ip6;
	const uint16_t header = sizeof(*ip6) + sizeof(struct dplb_icmp6_hdr);

	if (dplb_ipv6_is_multicast(ip6->src_addr) || dplb_ipv6_is_unspecified(ip6->src_addr))
		return -1;
	if (info->protocol == IPPROTO_ICMPV6) {
		const uint16_t in_segment =
			RTE_MIN(info->ip_len, rte_pktmbuf_data_len(m) - info->l2_len);
		struct dplb_ipv6_walk walk;

		/* A later fragment's upper-layer bytes are not its header. */
		if (dplb_ipv6_walk((const uint8_t *)ip6, in_segment, info->ip_len, &walk) !=
			    DPLB_IPV6_WALKED ||
		    walk.fragment_offset != 0 || walk.l4_offset >= in_segment ||
		    ((const uint8_t *)ip6)[walk.l4_offset] < DPLB_ICMP6_FIRST_INFORMATIONAL)
			return -1;
	}
	/* As much as fits in 1280 bytes and in the first segment's room. */
	const uint32_t room = (uint32_t)rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
	if (room < (uint32_t)info->l2_len + header)
		return -1;
	const uint16_t quote_len =
		(uint16_t)RTE_MIN(RTE_MIN((uint32_t)info->ip_len, (uint32_t)DPLB_ICMP6_QUOTE_MAX),
				  room - info->l2_len - header);
	/* The quote, wherever its bytes lie: in place when the first segment
	 * holds it all, else gathered in copy. */
	const uint8_t *quote = rte_pktmbuf_read(m, info->l2_len, quote_len, copy);
	uint8_t sender[16];

	if (quote == NULL)
		return -1;
	memcpy(sender, ip6->src_addr, sizeof(sender));
	if (quote != copy) {
		memcpy(copy, quote, quote_len);
		quote = copy;
	}
	if (dplb_mbuf_reshape_first_segment(m, info->l2_len + header + quote_len) != 0)
		return -1;

	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(sizeof(struct dplb_icmp6_hdr) + quote_len);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = DPLB_ICMP_REPLY_TTL;
	memcpy(ip6->src_addr, our6, sizeof(ip6->src_addr));
	memcpy(ip6->dst_addr, sender, sizeof(ip6->dst_addr));

	struct dplb_icmp6_hdr *icmp = (struct dplb_icmp6_hdr *)(ip6 + 1);
	icmp->type = DPLB_ICMP6_PACKET_TOO_BIG;
	icmp->code = 0;
	icmp->data = rte_cpu_to_be_32(mtu);
	memcpy(icmp + 1, quote, quote_len);
	dplb_icmp6_set_checksum(ip6, icmp, sizeof(*icmp) + quote_len);
	info->ip_len = header + quote_len;
	info->ip_header_len = sizeof(*ip6);
	info->protocol = IPPROTO_ICMPV6;
	info->src_port = 0;
	info->dst_port = 0;
	return 0;
}

/* What an ICMPv6 error must quote of the TCP or UDP packet it is about to
 * be placed: 8 bytes, the ports and what a backend's stack reads after them
 * (TCP's sequence number), as IPv4's quote always has (RFC 792). */
#define DPLB_ICMP6_QUOTED_L4 8

/*
 * For an ICMPv6 error (destination unreachable, packet too big, time
 * exceeded, parameter problem: types 1 to 4) in a parsed DPLB_PARSED_ICMP6
 * packet, about a packet a backend sent from a VIP, fill key with the flow
 * the backend is serving, as the client sent it: the quote's destination is
 * the client, its source the VIP (dplb_icmp_error_flow for IPv6). The
 * quoted packet's extension headers are walked as the parser walks a
 * packet's (ipv6_walk.h), within the bytes quoted and the length its header
 * says it had: a quote may stop anywhere (RFC 4443 2.4 c), and is trusted
 * only as far as it goes. Returns 0, or the drop reason:
 * DPLB_DROP_ICMP_UNHANDLED for anything but such an error whole in the
 * first segment, or one about anything but TCP or UDP (a later fragment
 * included: its ports are not in it); DPLB_DROP_BAD_CHECKSUM;
 * DPLB_DROP_ICMP_BAD_QUOTE when the quote is no IPv6 packet whose headers
 * and first 8 bytes of TCP or UDP are there. Reads only; runs on workers.
 */
static inline int dplb_icmp6_error_flow(const struct rte_mbuf *m,
					const struct dplb_packet_info *info,
					struct dplb_flow_key6 *key)
{
	uint16_t len;
	const struct dplb_icmp6_hdr *icmp =
		dplb_icmp6_message(m, info, sizeof(struct dplb_icmp6_hdr), &len);
	struct dplb_ipv6_walk walk;

	if (icmp == NULL || icmp->type < DPLB_ICMP6_DEST_UNREACHABLE ||
	    icmp->type > DPLB_ICMP6_PARAMETER_PROBLEM)
		return DPLB_DROP_ICMP_UNHANDLED;
	if (!dplb_icmp6_checksum_ok(info, icmp, len))
		return DPLB_DROP_BAD_CHECKSUM;
	const uint8_t *quote = (const uint8_t *)(icmp + 1);
	const uint16_t quote_len = len - sizeof(*icmp);
	const struct rte_ipv6_hdr *quoted = (const struct rte_ipv6_hdr *)quote;

	if (quote_len < sizeof(*quoted) || (quote[0] >> 4) != 6)
		return DPLB_DROP_ICMP_BAD_QUOTE;
	const uint32_t quoted_len = sizeof(*quoted) + rte_be_to_cpu_16(quoted->payload_len);
	if (dplb_ipv6_walk(quote, quote_len, quoted_len, &walk) != DPLB_IPV6_WALKED)
		return DPLB_DROP_ICMP_BAD_QUOTE;
	if (walk.fragment_offset != 0 ||
	    (walk.protocol != IPPROTO_TCP && walk.protocol != IPPROTO_UDP))
		return DPLB_DROP_ICMP_UNHANDLED;
	if ((uint32_t)walk.l4_offset + DPLB_ICMP6_QUOTED_L4 >
	    RTE_MIN((uint32_t)quote_len, quoted_len))
		return DPLB_DROP_ICMP_BAD_QUOTE;
	/* TCP and UDP both begin with the source and destination ports. */
	const rte_be16_t *ports = (const rte_be16_t *)(quote + walk.l4_offset);
	dplb_flow_key6_set(key, quoted->dst_addr, quoted->src_addr, ports[1], ports[0],
			   walk.protocol);
	return 0;
}

#endif
