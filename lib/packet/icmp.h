/*
 * ICMP that dplb itself sends: echo replies to pings of its own address and
 * of VIP addresses (so operators and monitoring see that a VIP is served),
 * and "fragmentation needed" to clients whose packets would be too big once
 * encapsulated (so path MTU discovery works through the tunnel). Both are
 * made in place and leave by the port the packet came in on. Also: finding
 * the flow an ICMP error is about, so it reaches the backend that needs it.
 */
#ifndef DPLB_ICMP_H
#define DPLB_ICMP_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "packet/checksum.h"
#include "packet/flow_key.h"
#include "packet/packet_parse.h"

#define DPLB_ICMP_REPLY_TTL 64

/* Whether the ICMP message in a parsed packet is a well-formed echo
 * request: type 8 code 0, whole in the first segment, checksum right. */
static inline bool dplb_icmp_is_echo_request(const struct rte_mbuf *m,
					     const struct dplb_packet_info *info)
{
	const uint16_t icmp_len = info->ip_len - info->ip_header_len;
	const struct rte_icmp_hdr *icmp = (const struct rte_icmp_hdr *)dplb_packet_l4(info);

	if (icmp_len < sizeof(*icmp) || info->l2_len + info->ip_len > rte_pktmbuf_data_len(m))
		return false;
	return icmp->icmp_type == RTE_IP_ICMP_ECHO_REQUEST && icmp->icmp_code == 0 &&
	       rte_raw_cksum(icmp, icmp_len) == 0xffff;
}

/*
 * Remove len bytes from m at offset (within its first segment): the bytes
 * before them move up. Returns the frame's new start.
 */
static inline uint8_t *dplb_mbuf_cut(struct rte_mbuf *m, uint16_t offset, uint16_t len)
{
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);

	memmove(frame + len, frame, offset);
	rte_pktmbuf_adj(m, len);
	return frame + len;
}

/*
 * The request's IP options are not sent back: the Ethernet and IPv4 headers
 * move up over them. A reply without options is always a reply (RFC 1122
 * 3.2.2.6 only says SHOULD for record route and timestamp), and echoing a
 * source route as it came would route the reply by the client's path.
 */
static inline void dplb_icmp_strip_options(struct rte_mbuf *m, struct dplb_packet_info *info)
{
	const uint16_t options = info->ip_header_len - sizeof(struct rte_ipv4_hdr);

	uint8_t *frame = dplb_mbuf_cut(m, info->l2_len + sizeof(struct rte_ipv4_hdr), options);

	info->ip = (struct rte_ipv4_hdr *)(frame + info->l2_len);
	info->ip_len -= options;
	info->ip_header_len = sizeof(struct rte_ipv4_hdr);
	info->ip->version_ihl = RTE_IPV4_VHL_DEF;
	info->ip->total_length = rte_cpu_to_be_16(info->ip_len);
}

/* Turn the echo request into its reply, in place. */
static inline void dplb_icmp_echo_reply(struct rte_mbuf *m, struct dplb_packet_info *info,
					const struct rte_ether_addr *our_mac)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)dplb_packet_l4(info);

	/* Trim Ethernet padding so the reply is exactly as long as the
	 * request's IP packet. */
	if (rte_pktmbuf_pkt_len(m) > (uint32_t)info->l2_len + info->ip_len)
		rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - info->l2_len - info->ip_len);
	if (unlikely(info->ip_header_len != sizeof(struct rte_ipv4_hdr)))
		dplb_icmp_strip_options(m, info);

	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = info->ip;
	const uint32_t pinged = ip->dst_addr;

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
	icmp->icmp_cksum = rte_cpu_to_be_16(dplb_checksum_adjust(rte_be_to_cpu_16(icmp->icmp_cksum),
								 RTE_IP_ICMP_ECHO_REQUEST << 8,
								 RTE_IP_ICMP_ECHO_REPLY << 8));
}

#define DPLB_ICMP_DEST_UNREACHABLE 3
#define DPLB_ICMP_TIME_EXCEEDED 11
#define DPLB_ICMP_PARAMETER_PROBLEM 12

/*
 * For an ICMP error about a packet a backend sent from a VIP (destination
 * unreachable, fragmentation needed above all; time exceeded; parameter
 * problem), fill key with the flow the backend is serving, as the client
 * sent it: the quote's destination is the client, its source the VIP.
 * The quoted header may carry options; its IHL is believed only as far as
 * the quote reaches, with the 8 bytes after it (RFC 792). Returns false
 * when it is not such an error or the quote is unusable.
 */
static inline bool dplb_icmp_error_flow(const struct rte_mbuf *m,
					const struct dplb_packet_info *info,
					struct dplb_flow_key *key)
{
	const uint16_t icmp_len = info->ip_len - info->ip_header_len;
	const struct rte_icmp_hdr *icmp = (const struct rte_icmp_hdr *)dplb_packet_l4(info);
	const struct rte_ipv4_hdr *quoted = (const struct rte_ipv4_hdr *)(icmp + 1);

	if (icmp_len < sizeof(*icmp) + sizeof(*quoted) + 8 ||
	    info->l2_len + info->ip_len > rte_pktmbuf_data_len(m))
		return false;
	if (icmp->icmp_type != DPLB_ICMP_DEST_UNREACHABLE &&
	    icmp->icmp_type != DPLB_ICMP_TIME_EXCEEDED &&
	    icmp->icmp_type != DPLB_ICMP_PARAMETER_PROBLEM)
		return false;
	const uint16_t quoted_header_len = (quoted->version_ihl & RTE_IPV4_HDR_IHL_MASK) * 4;
	if ((quoted->version_ihl >> 4) != 4 || quoted_header_len < sizeof(*quoted) ||
	    icmp_len < sizeof(*icmp) + quoted_header_len + 8 ||
	    (quoted->next_proto_id != IPPROTO_TCP && quoted->next_proto_id != IPPROTO_UDP))
		return false;
	/* TCP and UDP both begin with the source and destination ports. */
	const rte_be16_t *ports = (const rte_be16_t *)((const uint8_t *)quoted + quoted_header_len);
	dplb_flow_key_set(key, quoted->dst_addr, quoted->src_addr, ports[1], ports[0],
			  quoted->next_proto_id);
	return true;
}
#define DPLB_ICMP_FRAGMENTATION_NEEDED 4
/* The offending IP header, options included, and the first 8 bytes after
 * it (RFC 792): at most this long. */
#define DPLB_ICMP_QUOTE_MAX (DPLB_IPV4_HEADER_MAX + 8)

/*
 * Make m exactly len bytes, all in its first segment, keeping the bytes the
 * first segment holds: the segments after it are freed (a big packet often
 * spans several, and rte_pktmbuf_trim can only shorten the last). Returns
 * 0, or -1 when the first segment cannot hold len bytes (m unchanged).
 */
static inline int dplb_mbuf_reshape_first_segment(struct rte_mbuf *m, uint32_t len)
{
	if (len > (uint32_t)rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m))
		return -1;
	if (m->next != NULL) {
		rte_pktmbuf_free(m->next);
		m->next = NULL;
		m->nb_segs = 1;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return 0;
}

/*
 * Turn a packet too big to encapsulate into the ICMP "fragmentation needed"
 * (RFC 1191) its sender needs to lower its path MTU to next_hop_mtu, from
 * our_address, in place: in its first segment, where the parser found the
 * headers, whatever the number of segments. Returns 0, or -1 when the mbuf
 * cannot be reshaped (the caller drops it).
 */
static inline int dplb_icmp_fragmentation_needed(struct rte_mbuf *m, struct dplb_packet_info *info,
						 const struct rte_ether_addr *our_mac,
						 uint32_t our_address, uint16_t next_hop_mtu)
{
	uint8_t quote[DPLB_ICMP_QUOTE_MAX];
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = info->ip;
	const uint16_t quote_len = info->ip_header_len + 8;
	const uint16_t ip_len = sizeof(*ip) + sizeof(struct rte_icmp_hdr) + quote_len;

	/* TCP and UDP packets always carry 8 bytes after the header, and the
	 * parser found them in the first segment. The error is sent without
	 * options: the quote keeps the client's. */
	memcpy(quote, ip, quote_len);
	const uint32_t sender = ip->src_addr;
	if (dplb_mbuf_reshape_first_segment(m, info->l2_len + ip_len) != 0)
		return -1;

	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(ip_len);
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = DPLB_ICMP_REPLY_TTL;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = our_address;
	ip->dst_addr = sender;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);
	icmp->icmp_type = DPLB_ICMP_DEST_UNREACHABLE;
	icmp->icmp_code = DPLB_ICMP_FRAGMENTATION_NEEDED;
	icmp->icmp_cksum = 0;
	icmp->icmp_ident = 0; /* unused */
	icmp->icmp_seq_nb = rte_cpu_to_be_16(next_hop_mtu);
	memcpy(icmp + 1, quote, quote_len);
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, sizeof(*icmp) + quote_len);
	info->ip_len = ip_len;
	info->ip_header_len = sizeof(*ip);
	return 0;
}

#endif
