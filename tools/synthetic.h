/*
 * Synthetic client traffic shared by dplb-bench and dplb-gen: flow number n
 * is one fixed 5-tuple toward a VIP, and a packet of it is a 64-byte
 * template with the source address, source port and IPv4 checksum patched
 * in (IPv6: a 78-byte one, with the last 32 bits of the source address and
 * the source port; dplb-bench only). Both tools number flows the same way, so dplb-gen can map what comes
 * back to the flow it sent, and a run can be repeated exactly.
 *
 * Flow n has source address base + n / 16384 and source port
 * 1024 + n % 16384: 10 million flows use 611 client addresses, which is how
 * real traffic looks to a hash (many ports per client) without needing a
 * table per flow.
 */
#ifndef DPLB_SYNTHETIC_H
#define DPLB_SYNTHETIC_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#define SYNTH_PORTS_PER_ADDRESS 16384u
#define SYNTH_FIRST_PORT 1024u
/* 60 bytes in the mbuf are 64 on the wire with the FCS: the minimum frame. */
#define SYNTH_MIN_FRAME 60u
#define SYNTH_MAX_FRAME 1514u
#define SYNTH_HEADER_COPY 64u
#define SYNTH_IP_OFFSET sizeof(struct rte_ether_hdr)
#define SYNTH_L4_OFFSET (SYNTH_IP_OFFSET + sizeof(struct rte_ipv4_hdr))
/* The smallest IPv6 TCP frame: 14 + 40 + 20 bytes in the mbuf, 78 on the
 * wire with the FCS (64 cannot hold IPv6's 40-byte header and TCP's 20). */
#define SYNTH6_MIN_FRAME 74u
#define SYNTH6_HEADER_COPY 80u
#define SYNTH6_L4_OFFSET (SYNTH_IP_OFFSET + sizeof(struct rte_ipv6_hdr))

struct synth_template {
	uint8_t frame[SYNTH_HEADER_COPY]; /* headers and the start of the payload */
	uint16_t frame_len;		  /* whole frame, without FCS */
	uint32_t src_base;		  /* host order */
	uint16_t ip_sum; /* folded sum of the IPv4 header without src and checksum */
};

static inline uint32_t synth_src_addr(const struct synth_template *t, uint64_t flow)
{
	return rte_cpu_to_be_32(t->src_base + (uint32_t)(flow / SYNTH_PORTS_PER_ADDRESS));
}

static inline rte_be16_t synth_src_port(uint64_t flow)
{
	return rte_cpu_to_be_16((uint16_t)(SYNTH_FIRST_PORT + flow % SYNTH_PORTS_PER_ADDRESS));
}

/* The flow a (source address, source port) pair belongs to, or false. */
static inline bool synth_flow_of(const struct synth_template *t, uint32_t src_addr,
				 rte_be16_t src_port, uint64_t *flow)
{
	const uint32_t address = rte_be_to_cpu_32(src_addr) - t->src_base;
	const uint16_t port = rte_be_to_cpu_16(src_port);

	if (port < SYNTH_FIRST_PORT || port >= SYNTH_FIRST_PORT + SYNTH_PORTS_PER_ADDRESS)
		return false;
	*flow = (uint64_t)address * SYNTH_PORTS_PER_ADDRESS + (port - SYNTH_FIRST_PORT);
	return true;
}

/* TCP (ACK, 20-byte header) or UDP toward vip_port (host order), l4_len
 * bytes with the payload; checksums left 0, as dplb does not read them. */
static inline void synth_l4_init(uint8_t *l4, uint8_t protocol, uint16_t vip_port, uint16_t l4_len)
{
	if (protocol == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;

		tcp->dst_port = rte_cpu_to_be_16(vip_port);
		tcp->sent_seq = rte_cpu_to_be_32(1);
		tcp->recv_ack = rte_cpu_to_be_32(1);
		tcp->data_off = (sizeof(*tcp) / 4) << 4;
		tcp->tcp_flags = RTE_TCP_ACK_FLAG;
		tcp->rx_win = rte_cpu_to_be_16(65535);
	} else {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;

		udp->dst_port = rte_cpu_to_be_16(vip_port);
		udp->dgram_len = rte_cpu_to_be_16(l4_len);
	}
}

/*
 * Build the template of a client packet: Ethernet, IPv4 (DF set, as most
 * TCP stacks send), TCP (ACK, 20-byte header) or UDP, and a payload filling
 * frame_len (at least SYNTH_MIN_FRAME) exactly, so no padding is trimmed.
 * Addresses in network order, ports in host order.
 */
static inline void synth_template_init(struct synth_template *t, uint8_t protocol,
				       const struct rte_ether_addr *dst_mac,
				       const struct rte_ether_addr *src_mac, uint32_t src_base,
				       uint32_t vip, uint16_t vip_port, uint16_t frame_len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)t->frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(t->frame + SYNTH_IP_OFFSET);
	const uint16_t ip_len = frame_len - SYNTH_IP_OFFSET;

	memset(t, 0, sizeof(*t));
	t->frame_len = frame_len;
	t->src_base = rte_be_to_cpu_32(src_base);
	rte_ether_addr_copy(dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(src_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(ip_len);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = protocol;
	ip->dst_addr = vip;
	synth_l4_init(t->frame + SYNTH_L4_OFFSET, protocol, vip_port, ip_len - sizeof(*ip));
	/* rte_raw_cksum folds to 16 bits; the source address is added per packet. */
	t->ip_sum = rte_raw_cksum(ip, sizeof(*ip));
}

/* Write flow's packet into m (fresh from its pool: empty, default headroom).
 * Payload bytes past the copied headers are left as the buffer had them. */
static inline void synth_write(struct rte_mbuf *m, const struct synth_template *t, uint64_t flow)
{
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	const uint32_t src = synth_src_addr(t, flow);
	const rte_be16_t port = synth_src_port(flow);
	uint32_t sum = t->ip_sum + (src & 0xffff) + (src >> 16);
	uint16_t checksum;

	memcpy(frame, t->frame, SYNTH_HEADER_COPY);
	memcpy(frame + SYNTH_IP_OFFSET + offsetof(struct rte_ipv4_hdr, src_addr), &src,
	       sizeof(src));
	memcpy(frame + SYNTH_L4_OFFSET, &port, sizeof(port)); /* TCP and UDP: source port first */
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	checksum = (uint16_t)~sum;
	memcpy(frame + SYNTH_IP_OFFSET + offsetof(struct rte_ipv4_hdr, hdr_checksum), &checksum,
	       sizeof(checksum));
	m->data_len = t->frame_len;
	m->pkt_len = t->frame_len;
}

/* An IPv6 client packet's template: flow n comes from src_prefix's first
 * 96 bits, the last 32 being src_low + n / 16384, port 1024 + n % 16384. */
struct synth_template6 {
	uint8_t frame[SYNTH6_HEADER_COPY]; /* headers and the start of the payload */
	uint16_t frame_len;		   /* whole frame, without FCS */
	uint32_t src_low;		   /* the first client's last 32 bits, host order */
};

/*
 * synth_template_init for IPv6: Ethernet, IPv6 (hop limit 64, no extension
 * headers), TCP or UDP, a payload filling frame_len (at least
 * SYNTH6_MIN_FRAME). Addresses 16 bytes in network order, port in host
 * order.
 */
static inline void synth_template6_init(struct synth_template6 *t, uint8_t protocol,
					const struct rte_ether_addr *dst_mac,
					const struct rte_ether_addr *src_mac,
					const uint8_t src_prefix[16], const uint8_t vip[16],
					uint16_t vip_port, uint16_t frame_len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)t->frame;
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(t->frame + SYNTH_IP_OFFSET);
	const uint16_t l4_len = frame_len - SYNTH6_L4_OFFSET;
	uint32_t low;

	memset(t, 0, sizeof(*t));
	t->frame_len = frame_len;
	memcpy(&low, src_prefix + 12, sizeof(low));
	t->src_low = rte_be_to_cpu_32(low);
	rte_ether_addr_copy(dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(src_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(l4_len);
	ip6->proto = protocol;
	ip6->hop_limits = 64;
	memcpy(ip6->src_addr, src_prefix, sizeof(ip6->src_addr));
	memcpy(ip6->dst_addr, vip, sizeof(ip6->dst_addr));
	synth_l4_init(t->frame + SYNTH6_L4_OFFSET, protocol, vip_port, l4_len);
}

/* synth_write for IPv6: no header checksum to patch. */
static inline void synth_write6(struct rte_mbuf *m, const struct synth_template6 *t, uint64_t flow)
{
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	const uint32_t low =
		rte_cpu_to_be_32(t->src_low + (uint32_t)(flow / SYNTH_PORTS_PER_ADDRESS));
	const rte_be16_t port = synth_src_port(flow);

	memcpy(frame, t->frame, SYNTH6_HEADER_COPY);
	memcpy(frame + SYNTH_IP_OFFSET + offsetof(struct rte_ipv6_hdr, src_addr) + 12, &low,
	       sizeof(low));
	memcpy(frame + SYNTH6_L4_OFFSET, &port, sizeof(port));
	m->data_len = t->frame_len;
	m->pkt_len = t->frame_len;
}

#endif
