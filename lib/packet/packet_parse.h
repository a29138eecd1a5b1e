/*
 * Bounds-checked parsing of received frames: Ethernet, one optional 802.1Q
 * tag, IPv4 or IPv6 (its extension headers walked by ipv6_walk.h), TCP/UDP.
 *
 * Every field is read only after the bytes under it are known to be in the
 * first segment, so a truncated or lying frame is classified, never
 * over-read. Packets dplb would not forward unchanged are rejected here with
 * a drop reason. IPv4 options are not: the parser needs only the
 * header's length (ip_header_len), and the whole header travels to the
 * backend inside the tunnel, as the client sent it. Fragments are told
 * apart (DPLB_PARSED_FRAGMENT, DPLB_PARSED_FRAGMENT6) and checked for what
 * the worker needs of them: the ports in a first fragment, a place within
 * 65535 bytes in any.
 */
#ifndef DPLB_PACKET_PARSE_H
#define DPLB_PACKET_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "packet/counters.h"
#include "packet/ipv6_walk.h"

enum dplb_parse_result {
	DPLB_PARSED_L4,	  /* IPv4 TCP or UDP, headers validated */
	DPLB_PARSED_ICMP, /* IPv4 ICMP, IP header validated */
	DPLB_PARSED_ARP,  /* for the management lcore */
	DPLB_PARSED_DROP, /* see drop_reason */
	/* A TCP or UDP fragment, IPv4 or IPv6: see dplb_parse_fragment. */
	DPLB_PARSED_FRAGMENT,
	DPLB_PARSED_L4_6,      /* IPv6 TCP or UDP, headers validated */
	DPLB_PARSED_ICMP6,     /* ICMPv6 (ND included), its checksum not verified */
	DPLB_PARSED_FRAGMENT6, /* an IPv6 one (a fragment header, not atomic) */
};

struct dplb_packet_info {
	struct rte_ipv4_hdr *ip;  /* IPv4 only */
	struct rte_ipv6_hdr *ip6; /* IPv6 only; NULL for IPv4 */
	uint16_t l2_len;	  /* Ethernet plus VLAN tag */
	/* IPv4 total length; IPv6: 40 plus the payload length. Host order. */
	uint16_t ip_len;
	rte_be16_t vlan_tci; /* valid when l2_len > 14 */
	rte_be16_t src_port; /* network order; 0 for ICMP and later fragments */
	rte_be16_t dst_port;
	/* Where L4 starts from the IP header's first byte: IPv4 20..60 (with
	 * its options), IPv6 40 plus the extension headers walked. */
	uint16_t ip_header_len;
	uint8_t tcp_flags;
	uint8_t drop_reason; /* enum dplb_drop_reason, for DPLB_PARSED_DROP */
	/* The upper-layer protocol (TCP, UDP, ICMPv6...) for IPv6 and for
	 * fragments of either family; IPv4's whole packets leave it unset (the
	 * flow path reads ip->next_proto_id). */
	uint8_t protocol;
};

/* The longest IPv4 header: IHL 15, 40 bytes of options. */
#define DPLB_IPV4_HEADER_MAX (RTE_IPV4_HDR_IHL_MASK * RTE_IPV4_IHL_MULTIPLIER)

#define DPLB_IPV4_FRAGMENT_MASK rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)

static inline enum dplb_parse_result dplb_parse_drop(struct dplb_packet_info *info,
						     enum dplb_drop_reason reason)
{
	info->drop_reason = (uint8_t)reason;
	return DPLB_PARSED_DROP;
}

/* Where the parsed packet's TCP, UDP, ICMP or ICMPv6 header starts: after
 * the IPv4 header and its options, or the IPv6 header and its extension
 * headers. Exactly one of ip and ip6 is set; the IPv4 path reads only ip. */
static inline uint8_t *dplb_packet_l4(const struct dplb_packet_info *info)
{
	uint8_t *l3 = likely(info->ip != NULL) ? (uint8_t *)info->ip : (uint8_t *)info->ip6;

	return l3 + info->ip_header_len;
}

/*
 * The rest of dplb_parse_packet for a fragment of either family, whose IP
 * header is valid (info->ip or ip6, ip_len and ip_header_len set: for a
 * first fragment, where its TCP or UDP header starts). protocol is the
 * upper layer's, offset the fragment's in bytes, more its MF flag,
 * data_len the bytes of the datagram it carries, reassembled_len how long
 * the reassembled IP packet would be (IPv4's total length, IPv6's payload
 * length: neither may pass 65535). available and packet_len as in
 * dplb_parse_packet. A first fragment (offset 0) must carry the whole TCP
 * header or the UDP header: its ports and flags are filled in as for a
 * whole packet (the UDP length is the datagram's, beyond this fragment).
 * Later fragments carry no ports: 0. Returns result, the mbuf trimmed of
 * Ethernet padding, or a drop.
 */
static inline enum dplb_parse_result dplb_parse_fragment(
	struct rte_mbuf *m, struct dplb_packet_info *info, uint8_t protocol, uint32_t offset,
	bool more, uint32_t data_len, uint32_t reassembled_len, uint16_t available,
	uint32_t packet_len, enum dplb_parse_result result)
{
	const uint8_t icmp = info->ip6 != NULL ? IPPROTO_ICMPV6 : IPPROTO_ICMP;

	info->protocol = protocol;
	if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
		return dplb_parse_drop(info, protocol == icmp ? DPLB_DROP_FRAGMENT
							      : DPLB_DROP_UNSUPPORTED_PROTOCOL);
	/* Reassembled, it would be longer than an IP packet can be (the
	 * ping-of-death shape), or it has a hole or no data where the next
	 * fragment must start (RFC 791 and 8200: all but the last are
	 * multiples of 8). A TCP fragment at offset 8 would rewrite the TCP
	 * header's flags under a first fragment that passed filters (RFC
	 * 1858). */
	if (unlikely(reassembled_len > 65535 || (more && (data_len == 0 || data_len % 8)) ||
		     (offset == 8 && protocol == IPPROTO_TCP)))
		return dplb_parse_drop(info, DPLB_DROP_BAD_FRAGMENT);
	if (offset != 0) {
		info->src_port = 0;
		info->dst_port = 0;
		info->tcp_flags = 0;
	} else {
		const uint16_t l4_in_segment =
			RTE_MIN(info->ip_len, available) - info->ip_header_len;
		const uint8_t *l4 = dplb_packet_l4(info);

		if (protocol == IPPROTO_TCP) {
			const struct rte_tcp_hdr *tcp = (const struct rte_tcp_hdr *)l4;

			if (l4_in_segment < sizeof(*tcp))
				return dplb_parse_drop(info, DPLB_DROP_SHORT_FIRST_FRAGMENT);
			const uint16_t data_off = (tcp->data_off >> 4) * 4;
			if (data_off < sizeof(*tcp))
				return dplb_parse_drop(info, DPLB_DROP_BAD_L4);
			if (data_off > l4_in_segment)
				return dplb_parse_drop(info, DPLB_DROP_SHORT_FIRST_FRAGMENT);
			info->tcp_flags = tcp->tcp_flags;
			info->src_port = tcp->src_port;
			info->dst_port = tcp->dst_port;
		} else {
			const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)l4;

			if (l4_in_segment < sizeof(*udp))
				return dplb_parse_drop(info, DPLB_DROP_SHORT_FIRST_FRAGMENT);
			if (rte_be_to_cpu_16(udp->dgram_len) < sizeof(*udp))
				return dplb_parse_drop(info, DPLB_DROP_BAD_L4);
			info->tcp_flags = 0;
			info->src_port = udp->src_port;
			info->dst_port = udp->dst_port;
		}
	}
	if (info->ip_len < packet_len && rte_pktmbuf_trim(m, packet_len - info->ip_len) != 0)
		return dplb_parse_drop(info, DPLB_DROP_BAD_LENGTH);
	return result;
}

/*
 * The TCP or UDP header (protocol) at l4, of which l4_in_segment bytes are
 * in the first segment and l4_len in the IP packet: a TCP header whole with
 * its options, a UDP header whose length fits the packet. Fills the ports
 * and flags; false when malformed (DPLB_DROP_BAD_L4). Both families.
 */
static inline __attribute__((always_inline)) bool dplb_parse_tcp_udp(struct dplb_packet_info *info,
								     const uint8_t *l4,
								     uint8_t protocol,
								     uint16_t l4_len,
								     uint16_t l4_in_segment)
{
	if (protocol == IPPROTO_TCP) {
		const struct rte_tcp_hdr *tcp = (const struct rte_tcp_hdr *)l4;

		if (unlikely(l4_in_segment < sizeof(*tcp)))
			return false;
		const uint16_t data_off = (tcp->data_off >> 4) * 4;
		if (unlikely(data_off < sizeof(*tcp) || data_off > l4_in_segment))
			return false;
		info->src_port = tcp->src_port;
		info->dst_port = tcp->dst_port;
		info->tcp_flags = tcp->tcp_flags;
		return true;
	}
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)l4;

	if (unlikely(l4_in_segment < sizeof(*udp)))
		return false;
	const uint16_t dgram_len = rte_be_to_cpu_16(udp->dgram_len);
	if (unlikely(dgram_len < sizeof(*udp) || dgram_len > l4_len))
		return false;
	info->src_port = udp->src_port;
	info->dst_port = udp->dst_port;
	info->tcp_flags = 0;
	return true;
}

/* Trim the Ethernet padding after the IP packet of ip_len bytes, so that
 * encapsulation adds to its real length: result, or a drop when the mbuf
 * cannot be trimmed. */
static inline __attribute__((always_inline)) enum dplb_parse_result dplb_parse_trim(
	struct rte_mbuf *m, struct dplb_packet_info *info, uint16_t ip_len, uint32_t packet_len,
	enum dplb_parse_result result)
{
	if (unlikely(ip_len < packet_len) && rte_pktmbuf_trim(m, packet_len - ip_len) != 0)
		return dplb_parse_drop(info, DPLB_DROP_BAD_LENGTH);
	return result;
}

/*
 * dplb_parse_packet from the IPv4 header on: its version is 4, its
 * header_len (IHL x 4) at least 20, and available bytes of it (at least
 * 20) are in the first segment, packet_len in the frame. Inlined twice:
 * with header_len the constant 20, and as read.
 */
static inline __attribute__((always_inline)) enum dplb_parse_result dplb_parse_ipv4_header(
	struct rte_mbuf *m, struct dplb_packet_info *info, struct rte_ipv4_hdr *ip,
	uint16_t available, uint32_t packet_len, uint16_t header_len)
{
	const uint16_t ip_len = rte_be_to_cpu_16(ip->total_length);

	if (unlikely(ip_len < sizeof(*ip) || ip_len > packet_len))
		return dplb_parse_drop(info, DPLB_DROP_BAD_LENGTH);
	/* Options claimed beyond the packet; then, beyond the first segment. */
	if (unlikely(header_len > ip_len))
		return dplb_parse_drop(info, DPLB_DROP_BAD_IHL);
	if (unlikely(available < header_len))
		return dplb_parse_drop(info, DPLB_DROP_TRUNCATED);
	/* A correct header, options included, sums to 0xffff with its
	 * checksum field. Trust the NIC when it has already checked. */
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
		if (unlikely((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
				     RTE_MBUF_F_RX_IP_CKSUM_BAD ||
			     rte_raw_cksum(ip, header_len) != 0xffff))
			return dplb_parse_drop(info, DPLB_DROP_BAD_CHECKSUM);
	}
	info->ip = ip;
	info->ip6 = NULL;
	info->ip_len = ip_len;
	info->ip_header_len = header_len;
	/* Fragments are rare: one test here keeps them off the path of whole
	 * packets. */
	if (unlikely(ip->fragment_offset & DPLB_IPV4_FRAGMENT_MASK)) {
		const uint16_t field = rte_be_to_cpu_16(ip->fragment_offset);
		const uint32_t offset = (uint32_t)(field & RTE_IPV4_HDR_OFFSET_MASK) * 8;

		return dplb_parse_fragment(m, info, ip->next_proto_id, offset,
					   field & RTE_IPV4_HDR_MF_FLAG, ip_len - header_len,
					   offset + ip_len, available, packet_len,
					   DPLB_PARSED_FRAGMENT);
	}

	const uint16_t l4_len = ip_len - header_len;
	const uint16_t l4_in_segment = RTE_MIN(ip_len, available) - header_len;
	const uint8_t *l4 = (const uint8_t *)ip + header_len;

	switch (ip->next_proto_id) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (unlikely(!dplb_parse_tcp_udp(info, l4, ip->next_proto_id, l4_len,
						 l4_in_segment)))
			return dplb_parse_drop(info, DPLB_DROP_BAD_L4);
		break;
	case IPPROTO_ICMP:
		info->src_port = 0;
		info->dst_port = 0;
		return DPLB_PARSED_ICMP;
	default:
		return dplb_parse_drop(info, DPLB_DROP_UNSUPPORTED_PROTOCOL);
	}
	return dplb_parse_trim(m, info, ip_len, packet_len, DPLB_PARSED_L4);
}

/*
 * dplb_parse_packet from the IPv6 header on, available bytes of it in the
 * first segment and packet_len in the frame. The payload length must fit
 * in the frame (padding after it is trimmed); the extension headers are
 * walked (ipv6_walk.h) to the upper layer, which must be whole TCP or UDP
 * as for IPv4, or ICMPv6. A fragment that is not atomic is parsed as
 * IPv4's are (DPLB_PARSED_FRAGMENT6; a first fragment carries the whole
 * header chain, RFC 7112, so its ports are read). Jumbograms (payload length 0) are not served: without the
 * hop-by-hop option's length they are as long as their 40-byte header.
 */
static inline enum dplb_parse_result dplb_parse_ipv6_header(struct rte_mbuf *m,
							    struct dplb_packet_info *info,
							    struct rte_ipv6_hdr *ip6,
							    uint16_t available, uint32_t packet_len)
{
	struct dplb_ipv6_walk walk;

	if (unlikely(available < sizeof(*ip6)))
		return dplb_parse_drop(info, DPLB_DROP_TRUNCATED);
	if (unlikely((*(const uint8_t *)ip6 >> 4) != 6))
		return dplb_parse_drop(info, DPLB_DROP_BAD_VERSION);
	/* Longer than 65535 bytes needs a frame no port receives: refused
	 * rather than carried in a 16-bit ip_len. */
	const uint32_t ip_len = sizeof(*ip6) + rte_be_to_cpu_16(ip6->payload_len);
	if (unlikely(ip_len > packet_len || ip_len > UINT16_MAX))
		return dplb_parse_drop(info, DPLB_DROP_BAD_LENGTH);
	switch (dplb_ipv6_walk((const uint8_t *)ip6, available, ip_len, &walk)) {
	case DPLB_IPV6_WALKED:
		break;
	case DPLB_IPV6_TRUNCATED:
		return dplb_parse_drop(info, DPLB_DROP_IPV6_TRUNCATED_EXTENSIONS);
	case DPLB_IPV6_MALFORMED:
		return dplb_parse_drop(info, DPLB_DROP_IPV6_BAD_EXTENSIONS);
	case DPLB_IPV6_TOO_MANY:
	default:
		return dplb_parse_drop(info, DPLB_DROP_IPV6_TOO_MANY_EXTENSIONS);
	}
	info->ip = NULL;
	info->ip6 = ip6;
	info->ip_len = (uint16_t)ip_len;
	info->ip_header_len = walk.l4_offset;
	info->protocol = walk.protocol;
	/* The payload reassembled: the fragment header goes, what precedes
	 * it stays, the data lands at the fragment's offset. */
	if (unlikely(walk.fragment))
		return dplb_parse_fragment(m, info, walk.protocol, walk.fragment_offset,
					   walk.more_fragments, ip_len - walk.fragment_data,
					   walk.fragment_offset + ip_len - sizeof(*ip6) -
						   sizeof(struct rte_ipv6_fragment_ext),
					   available, packet_len, DPLB_PARSED_FRAGMENT6);

	/* The walk stopped within the packet and the first segment. */
	const uint16_t l4_len = (uint16_t)(ip_len - walk.l4_offset);
	const uint16_t l4_in_segment = (uint16_t)(RTE_MIN(ip_len, available) - walk.l4_offset);
	const uint8_t *l4 = (const uint8_t *)ip6 + walk.l4_offset;

	switch (walk.protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (unlikely(!dplb_parse_tcp_udp(info, l4, walk.protocol, l4_len, l4_in_segment)))
			return dplb_parse_drop(info, DPLB_DROP_BAD_L4);
		return dplb_parse_trim(m, info, (uint16_t)ip_len, packet_len, DPLB_PARSED_L4_6);
	case IPPROTO_ICMPV6:
		info->src_port = 0;
		info->dst_port = 0;
		info->tcp_flags = 0;
		return dplb_parse_trim(m, info, (uint16_t)ip_len, packet_len, DPLB_PARSED_ICMP6);
	default:
		return dplb_parse_drop(info, DPLB_DROP_UNSUPPORTED_PROTOCOL);
	}
}

/*
 * Parse m. On DPLB_PARSED_L4 the mbuf is also trimmed of Ethernet padding
 * beyond the IP packet, so that encapsulation adds to the real length (and
 * on DPLB_PARSED_FRAGMENT, and every IPv6 result). Runs on workers; touches
 * only m.
 */
static inline enum dplb_parse_result dplb_parse_packet(struct rte_mbuf *m,
						       struct dplb_packet_info *info)
{
	const uint16_t frame_len = rte_pktmbuf_data_len(m);
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	uint16_t l2_len = sizeof(struct rte_ether_hdr);
	rte_be16_t ether_type;

	if (unlikely(frame_len < sizeof(struct rte_ether_hdr)))
		return dplb_parse_drop(info, DPLB_DROP_TRUNCATED);
	ether_type = ((const struct rte_ether_hdr *)frame)->ether_type;
	info->vlan_tci = 0;
	if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
		const struct rte_vlan_hdr *vlan;

		if (unlikely(frame_len < l2_len + sizeof(*vlan)))
			return dplb_parse_drop(info, DPLB_DROP_TRUNCATED);
		vlan = (const struct rte_vlan_hdr *)(frame + l2_len);
		info->vlan_tci = vlan->vlan_tci;
		ether_type = vlan->eth_proto;
		l2_len += sizeof(*vlan);
	}
	info->l2_len = l2_len;

	/* Headers must sit in the first segment; the IP length may span all. */
	const uint16_t available = frame_len - l2_len;
	const uint32_t packet_len = rte_pktmbuf_pkt_len(m) - l2_len;

	if (unlikely(ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))) {
		if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6))
			return dplb_parse_ipv6_header(m, info,
						      (struct rte_ipv6_hdr *)(frame + l2_len),
						      available, packet_len);
		if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
			return DPLB_PARSED_ARP;
		return dplb_parse_drop(info, DPLB_DROP_NOT_IP);
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + l2_len);

	if (unlikely(available < sizeof(*ip)))
		return dplb_parse_drop(info, DPLB_DROP_TRUNCATED);
	/* Nearly every header has no options: parsed with its length a
	 * constant, which the compiler folds through the checks, the checksum
	 * and the L4 offsets. */
	if (likely(ip->version_ihl == RTE_IPV4_VHL_DEF))
		return dplb_parse_ipv4_header(m, info, ip, available, packet_len, sizeof(*ip));
	if (unlikely((ip->version_ihl >> 4) != 4))
		return dplb_parse_drop(info, DPLB_DROP_BAD_VERSION);
	const uint16_t header_len = (uint16_t)((ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * 4);
	if (unlikely(header_len < sizeof(*ip)))
		return dplb_parse_drop(info, DPLB_DROP_BAD_IHL);
	return dplb_parse_ipv4_header(m, info, ip, available, packet_len, header_len);
}

#endif
