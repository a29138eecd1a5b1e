/*
 * Unit tests of the parser (lib/packet/packet_parse.h) on IPv6: each kind
 * of result, with and without a VLAN tag, behind extension headers, every
 * way a frame can be refused, and the Ethernet padding trimmed; and IPv4
 * still parsed as it was. Frames are built byte by byte
 * (tests/harness/frame_builder.h) in mbufs of an EAL without hugepages.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "frame_builder.h"
#include "packet/packet_parse.h"

TestSuite(parse6, .init = frame_eal_init, .fini = frame_eal_fini);

#define CLIENT6 "2001:db8:1::10"
#define VIP6 "2001:db8:ff::80"

/* Ethernet (vlan when not 0), IPv6 and the upper layer of protocol. */
static void frame_ipv6_upper(struct frame *f, uint16_t vlan, uint8_t protocol, const void *upper,
			     uint16_t len)
{
	frame_ethernet(f, vlan, 0x86dd);
	frame_ipv6(f, CLIENT6, VIP6, 0, 0, 64);
	frame_upper(f, protocol, upper, len);
	frame_finish_ipv6(f);
}

static enum dplb_parse_result parse_frame(const struct frame *f, struct rte_mbuf **m,
					  struct dplb_packet_info *info)
{
	*m = frame_mbuf(f);
	memset(info, 0xa5, sizeof(*info));
	return dplb_parse_packet(*m, info);
}

Test(parse6, tcp_gives_its_ports_flags_and_offsets)
{
	struct frame f;
	uint8_t tcp[64];
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	frame_ipv6_upper(&f, 0, IPPROTO_TCP, tcp, frame_tcp(tcp, 40000, 443, 0x02, 10));
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_L4_6);
	cr_assert_eq(info.ip, NULL);
	cr_assert_eq((uint8_t *)info.ip6, rte_pktmbuf_mtod(m, uint8_t *) + 14);
	cr_assert_eq(info.l2_len, 14);
	cr_assert_eq(info.vlan_tci, 0);
	cr_assert_eq(info.ip_len, 40 + 30);
	cr_assert_eq(info.ip_header_len, 40);
	cr_assert_eq(info.protocol, IPPROTO_TCP);
	cr_assert_eq(info.src_port, htons(40000));
	cr_assert_eq(info.dst_port, htons(443));
	cr_assert_eq(info.tcp_flags, 0x02);
	cr_assert_eq(dplb_packet_l4(&info), rte_pktmbuf_mtod(m, uint8_t *) + f.l4);
	rte_pktmbuf_free(m);
}

Test(parse6, udp_behind_a_vlan_tag)
{
	struct frame f;
	uint8_t udp[64];
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	frame_ipv6_upper(&f, 42, IPPROTO_UDP, udp, frame_udp(udp, 5353, 53, 12));
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_L4_6);
	cr_assert_eq(info.l2_len, 18);
	cr_assert_eq(info.vlan_tci, htons(42));
	cr_assert_eq((uint8_t *)info.ip6, rte_pktmbuf_mtod(m, uint8_t *) + 18);
	cr_assert_eq(info.ip_len, 40 + 20);
	cr_assert_eq(info.protocol, IPPROTO_UDP);
	cr_assert_eq(info.src_port, htons(5353));
	cr_assert_eq(info.dst_port, htons(53));
	cr_assert_eq(info.tcp_flags, 0);
	rte_pktmbuf_free(m);
}

Test(parse6, extension_headers_are_walked_to_the_upper_layer)
{
	struct frame f;
	uint8_t udp[64];
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	frame_ethernet(&f, 7, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_options(&f, IPPROTO_HOPOPTS, 0);
	frame_ipv6_options(&f, IPPROTO_DSTOPTS, 1);
	frame_ipv6_options(&f, IPPROTO_ROUTING, 0);
	frame_ipv6_fragment(&f, 0, false, 99); /* atomic: a whole packet */
	frame_upper(&f, IPPROTO_UDP, udp, frame_udp(udp, 1000, 80, 4));
	frame_finish_ipv6(&f);
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_L4_6);
	cr_assert_eq(info.ip_header_len, 40 + 8 + 16 + 8 + 8);
	cr_assert_eq(info.ip_len, 40 + 8 + 16 + 8 + 8 + 12);
	cr_assert_eq(info.protocol, IPPROTO_UDP);
	cr_assert_eq(info.dst_port, htons(80));
	cr_assert_eq(dplb_packet_l4(&info), rte_pktmbuf_mtod(m, uint8_t *) + f.l4);
	rte_pktmbuf_free(m);
}

Test(parse6, icmpv6_is_told_apart_unchecked)
{
	struct frame f;
	/* An echo request with a checksum of 0: the parser leaves it alone. */
	const uint8_t echo[12] = { 128, 0, 0, 0, 0, 1, 0, 1, 'p', 'i', 'n', 'g' };
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	frame_ipv6_upper(&f, 0, IPPROTO_ICMPV6, echo, sizeof(echo));
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_ICMP6);
	cr_assert_eq(info.protocol, IPPROTO_ICMPV6);
	cr_assert_eq(info.src_port, 0);
	cr_assert_eq(info.dst_port, 0);
	cr_assert_eq(dplb_packet_l4(&info)[0], 128);
	rte_pktmbuf_free(m);
}

Test(parse6, fragments_first_and_later)
{
	struct frame f;
	uint8_t udp[64];
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_fragment(&f, 0, true, 7);
	frame_upper(&f, IPPROTO_UDP, udp, frame_udp(udp, 1000, 80, 8));
	frame_finish_ipv6(&f);
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_FRAGMENT6);
	cr_assert_eq(info.protocol, IPPROTO_UDP);
	cr_assert_eq(info.ip_header_len, 48);
	/* The first fragment carries the header chain whole (RFC 7112): its
	 * ports are read, as an IPv4 first fragment's. */
	cr_assert_eq(info.src_port, rte_cpu_to_be_16(1000));
	cr_assert_eq(info.dst_port, rte_cpu_to_be_16(80));
	rte_pktmbuf_free(m);

	/* Behind a destination options header after the fragment header. */
	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_fragment(&f, 0, true, 7);
	frame_ipv6_options(&f, IPPROTO_DSTOPTS, 0);
	frame_upper(&f, IPPROTO_TCP, udp, frame_tcp(udp, 1001, 443, 0x02, 4));
	frame_finish_ipv6(&f);
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_FRAGMENT6);
	cr_assert_eq(info.protocol, IPPROTO_TCP);
	cr_assert_eq(info.ip_header_len, 56);
	cr_assert_eq(info.src_port, rte_cpu_to_be_16(1001));
	cr_assert_eq(info.dst_port, rte_cpu_to_be_16(443));
	cr_assert_eq(info.tcp_flags, 0x02);
	rte_pktmbuf_free(m);

	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_fragment(&f, 16, false, 7);
	frame_upper(&f, IPPROTO_UDP, udp, 8);
	frame_finish_ipv6(&f);
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_FRAGMENT6);
	cr_assert_eq(info.protocol, IPPROTO_UDP);
	cr_assert_eq(info.ip_len, 56);
	cr_assert_eq(info.src_port, 0);
	cr_assert_eq(info.dst_port, 0);
	rte_pktmbuf_free(m);
}

/* An IPv6 fragment of offset, more and data bytes of protocol (TCP or UDP
 * headers at offset 0): what the parser makes of it. */
static enum dplb_parse_result parse_fragment6(uint16_t offset, bool more, uint8_t protocol,
					      uint16_t data, uint8_t *drop_reason)
{
	static uint8_t upper[65536];
	struct frame f;
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	memset(upper, 0, data);
	if (offset == 0 && protocol == IPPROTO_TCP && data >= 20)
		frame_tcp(upper, 1, 2, 0x10, (uint16_t)(data - 20));
	if (offset == 0 && protocol == IPPROTO_UDP && data >= 8)
		frame_udp(upper, 1, 2, (uint16_t)(data - 8));
	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_fragment(&f, offset, more, 9);
	frame_upper(&f, protocol, upper, data);
	frame_finish_ipv6(&f);
	const enum dplb_parse_result result = parse_frame(&f, &m, &info);

	*drop_reason = info.drop_reason;
	rte_pktmbuf_free(m);
	return result;
}

Test(parse6, malformed_fragments_dropped_by_reason)
{
	static const struct {
		const char *what;
		uint16_t offset;
		bool more;
		uint8_t protocol;
		uint16_t data;
		uint8_t reason; /* 0: parsed as a fragment */
	} cases[] = {
		{ "a later UDP fragment", 1000, true, IPPROTO_UDP, 8, 0 },
		{ "the last one, any length", 1008, false, IPPROTO_UDP, 3, 0 },
		{ "data not a multiple of 8, more to come", 0, true, IPPROTO_UDP, 12,
		  DPLB_DROP_BAD_FRAGMENT },
		{ "no data, more to come", 64, true, IPPROTO_UDP, 0, DPLB_DROP_BAD_FRAGMENT },
		{ "reassembled past 65535 bytes", 65528, false, IPPROTO_UDP, 16,
		  DPLB_DROP_BAD_FRAGMENT },
		{ "TCP at offset 8, under the first's flags", 8, false, IPPROTO_TCP, 8,
		  DPLB_DROP_BAD_FRAGMENT },
		{ "a first TCP fragment shorter than its header", 0, true, IPPROTO_TCP, 16,
		  DPLB_DROP_SHORT_FIRST_FRAGMENT },
		{ "ICMPv6 in pieces", 0, true, IPPROTO_ICMPV6, 16, DPLB_DROP_FRAGMENT },
		{ "a protocol not served", 16, false, IPPROTO_SCTP, 16,
		  DPLB_DROP_UNSUPPORTED_PROTOCOL },
	};

	for (uint32_t i = 0; i < RTE_DIM(cases); i++) {
		uint8_t reason;
		const enum dplb_parse_result result = parse_fragment6(
			cases[i].offset, cases[i].more, cases[i].protocol, cases[i].data, &reason);

		if (cases[i].reason == 0) {
			cr_expect_eq(result, DPLB_PARSED_FRAGMENT6, "%s", cases[i].what);
			continue;
		}
		cr_expect_eq(result, DPLB_PARSED_DROP, "%s", cases[i].what);
		cr_expect_eq(reason, cases[i].reason, "%s: reason %u", cases[i].what, reason);
	}
}

Test(parse6, ethernet_padding_is_trimmed)
{
	struct frame f;
	uint8_t udp[64];
	const uint8_t padding[20] = { 0 };
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	frame_ipv6_upper(&f, 0, IPPROTO_UDP, udp, frame_udp(udp, 1, 2, 0));
	frame_put(&f, padding, sizeof(padding));
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_L4_6);
	cr_assert_eq(info.ip_len, 48);
	cr_assert_eq(rte_pktmbuf_pkt_len(m), 14 + 48);
	rte_pktmbuf_free(m);

	const uint8_t echo[8] = { 128 };
	frame_ipv6_upper(&f, 0, IPPROTO_ICMPV6, echo, sizeof(echo));
	frame_put(&f, padding, sizeof(padding));
	cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_ICMP6);
	cr_assert_eq(rte_pktmbuf_pkt_len(m), 14 + 48);
	rte_pktmbuf_free(m);
}

/* ---- refusals ----------------------------------------------------------- */

static void expect_drop(const struct frame *f, enum dplb_drop_reason reason, const char *what)
{
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	cr_expect_eq(parse_frame(f, &m, &info), DPLB_PARSED_DROP, "%s", what);
	cr_expect_eq(info.drop_reason, reason, "%s: %s, not %s", what,
		     dplb_drop_reason_label[info.drop_reason], dplb_drop_reason_label[reason]);
	rte_pktmbuf_free(m);
}

Test(parse6, every_malformed_frame_is_refused_with_its_reason)
{
	struct frame f;
	uint8_t upper[64];

	/* Shorter than an IPv6 header. */
	frame_ipv6_upper(&f, 0, IPPROTO_UDP, upper, frame_udp(upper, 1, 2, 0));
	f.len = 14 + 39;
	expect_drop(&f, DPLB_DROP_TRUNCATED, "header cut");

	/* Version 4 under the IPv6 Ethernet type. */
	frame_ipv6_upper(&f, 0, IPPROTO_UDP, upper, frame_udp(upper, 1, 2, 0));
	f.bytes[14] = 0x45;
	expect_drop(&f, DPLB_DROP_BAD_VERSION, "version 4");

	/* Payload length beyond the frame. */
	frame_ipv6_upper(&f, 0, IPPROTO_UDP, upper, frame_udp(upper, 1, 2, 0));
	frame_set16(&f, 14 + 4, 9);
	expect_drop(&f, DPLB_DROP_BAD_LENGTH, "payload length");

	/* An extension header running past the payload. */
	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_options(&f, IPPROTO_DSTOPTS, 0);
	f.bytes[f.len - 7] = 4; /* 40 bytes claimed, 8 there */
	frame_finish_ipv6(&f);
	expect_drop(&f, DPLB_DROP_IPV6_TRUNCATED_EXTENSIONS, "extension cut");

	/* Hop-by-hop options after another header. */
	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_options(&f, IPPROTO_DSTOPTS, 0);
	frame_ipv6_options(&f, IPPROTO_HOPOPTS, 0);
	frame_upper(&f, IPPROTO_UDP, upper, frame_udp(upper, 1, 2, 0));
	frame_finish_ipv6(&f);
	expect_drop(&f, DPLB_DROP_IPV6_BAD_EXTENSIONS, "hop-by-hop second");

	/* Nine extension headers. */
	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	for (int i = 0; i < DPLB_IPV6_MAX_EXTENSIONS + 1; i++)
		frame_ipv6_options(&f, IPPROTO_DSTOPTS, 0);
	frame_upper(&f, IPPROTO_UDP, upper, frame_udp(upper, 1, 2, 0));
	frame_finish_ipv6(&f);
	expect_drop(&f, DPLB_DROP_IPV6_TOO_MANY_EXTENSIONS, "nine extensions");

	/* TCP and UDP headers as IPv4 refuses them. */
	frame_ipv6_upper(&f, 0, IPPROTO_TCP, upper, 10);
	expect_drop(&f, DPLB_DROP_BAD_L4, "TCP cut");
	frame_tcp(upper, 1, 2, 0x10, 0);
	upper[12] = 0xf0;
	frame_ipv6_upper(&f, 0, IPPROTO_TCP, upper, 20);
	expect_drop(&f, DPLB_DROP_BAD_L4, "TCP data offset beyond");
	frame_udp(upper, 1, 2, 0);
	upper[5] = 200;
	frame_ipv6_upper(&f, 0, IPPROTO_UDP, upper, 8);
	expect_drop(&f, DPLB_DROP_BAD_L4, "UDP longer than IP");

	/* No next header, and ESP. */
	frame_ipv6_upper(&f, 0, IPPROTO_NONE, upper, 0);
	expect_drop(&f, DPLB_DROP_UNSUPPORTED_PROTOCOL, "no next header");
	frame_ipv6_upper(&f, 0, IPPROTO_ESP, upper, 16);
	expect_drop(&f, DPLB_DROP_UNSUPPORTED_PROTOCOL, "ESP");

	/* An unknown Ethernet type is still not IP. */
	frame_ethernet(&f, 0, 0x88cc);
	frame_put(&f, upper, 40);
	expect_drop(&f, DPLB_DROP_NOT_IP, "LLDP");
}

/* Headers must be in the first segment, as for IPv4; the payload may not. */
Test(parse6, headers_in_the_first_segment_only)
{
	struct frame f;
	uint8_t udp[600];
	struct dplb_packet_info info;
	struct rte_mbuf *m;

	frame_ipv6_upper(&f, 0, IPPROTO_UDP, udp, frame_udp(udp, 1, 2, 500));
	m = frame_mbuf_chain(&f, 14 + 40 + 8, 101);
	cr_assert_gt(m->nb_segs, 2);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_L4_6);
	cr_assert_eq(info.ip_len, 548);
	rte_pktmbuf_free(m);

	m = frame_mbuf_chain(&f, 14 + 40 + 4, 101);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_DROP);
	cr_assert_eq(info.drop_reason, DPLB_DROP_BAD_L4);
	rte_pktmbuf_free(m);

	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, VIP6, 0, 0, 64);
	frame_ipv6_options(&f, IPPROTO_DSTOPTS, 3);
	frame_upper(&f, IPPROTO_UDP, udp, frame_udp(udp, 1, 2, 100));
	frame_finish_ipv6(&f);
	m = frame_mbuf_chain(&f, 14 + 40 + 16, 64);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_DROP);
	cr_assert_eq(info.drop_reason, DPLB_DROP_IPV6_TRUNCATED_EXTENSIONS);
	rte_pktmbuf_free(m);
}

/* ---- IPv4 as before ----------------------------------------------------- */

Test(parse6, ipv4_is_parsed_as_before_with_ip6_null)
{
	struct frame f;
	uint8_t tcp[64];
	struct rte_mbuf *m;
	struct dplb_packet_info info;

	for (int vlan = 0; vlan <= 5; vlan += 5) {
		frame_ethernet(&f, (uint16_t)vlan, 0x0800);
		frame_ipv4(&f, "10.0.0.1", "192.0.2.80", 0, true, IPPROTO_TCP);
		frame_upper(&f, IPPROTO_TCP, tcp, frame_tcp(tcp, 1234, 80, 0x18, 5));
		frame_finish_ipv4(&f);
		cr_assert_eq(parse_frame(&f, &m, &info), DPLB_PARSED_L4);
		cr_assert_eq(info.ip6, NULL);
		cr_assert_eq((uint8_t *)info.ip, rte_pktmbuf_mtod(m, uint8_t *) + f.l3);
		cr_assert_eq(info.ip_header_len, 20);
		cr_assert_eq(info.ip_len, 45);
		cr_assert_eq(info.src_port, htons(1234));
		cr_assert_eq(info.tcp_flags, 0x18);
		cr_assert_eq(dplb_packet_l4(&info), rte_pktmbuf_mtod(m, uint8_t *) + f.l4);
		rte_pktmbuf_free(m);
	}
}
