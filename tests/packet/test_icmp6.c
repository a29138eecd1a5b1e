/*
 * Unit tests of the ICMPv6 dplb answers and sends (lib/packet/icmp6.h):
 * echo replies, Neighbor Advertisements answering solicitations (RFC 4861
 * 7.1.1's checks, duplicate address detection), the solicitation built for
 * resolution, advertisements read for learning, packet too big (its
 * quote, and when it is refused), and the flow an ICMPv6 error quotes, to
 * send it to that flow's backend. Answers are compared byte for byte with
 * frames built here, and every checksum verified with the test's own sum.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "frame_builder.h"
#include "packet/icmp6.h"

TestSuite(icmp6, .init = frame_eal_init, .fini = frame_eal_fini);

#define CLIENT6 "2001:db8:1::10"
#define OURS6 "2001:db8::1"
#define OURS6_SOLICITED "ff02::1:ff00:1"
static const struct rte_ether_addr OUR_MAC = { { 0x02, 0, 0, 0, 0, 0x01 } };
static const struct rte_ether_addr LINK_MAC = { { 0x02, 0, 0, 0, 0, 0xaa } };

/* Set the ICMPv6 checksum of a finished frame whose message starts at l4
 * and runs to its end. */
static void frame_icmp6_checksum(struct frame *f)
{
	frame_set16(f, f->l4 + 2, 0);
	frame_set16(f, f->l4 + 2,
		    (uint16_t)~frame_ipv6_upper_sum(f->bytes + f->l3, IPPROTO_ICMPV6,
						    f->bytes + f->l4, f->len - f->l4));
}

/* Whether the ICMPv6 message from l4 to the end of bytes checks. */
static bool icmp6_checks(const uint8_t *bytes, uint16_t l3, uint16_t l4, uint32_t len)
{
	return frame_ipv6_upper_sum(bytes + l3, IPPROTO_ICMPV6, bytes + l4, len - l4) == 0xffff;
}

/* An ICMPv6 frame from src to dst: message of len bytes, checksummed. */
static void icmp6_frame(struct frame *f, uint16_t vlan, const char *src, const char *dst,
			uint8_t hop_limit, const uint8_t *message, uint16_t len)
{
	frame_ethernet(f, vlan, 0x86dd);
	frame_ipv6(f, src, dst, 0, 0, hop_limit);
	frame_upper(f, IPPROTO_ICMPV6, message, len);
	frame_finish_ipv6(f);
	frame_icmp6_checksum(f);
}

static struct rte_mbuf *parsed(const struct frame *f, struct dplb_packet_info *info)
{
	struct rte_mbuf *m = frame_mbuf(f);

	cr_assert_eq(dplb_parse_packet(m, info), DPLB_PARSED_ICMP6);
	return m;
}

static void assert_frame(const struct rte_mbuf *m, const struct frame *expected)
{
	static uint8_t out[4096];
	const uint32_t len = frame_of_mbuf(m, out, sizeof(out));

	cr_assert_eq(len, expected->len, "length %u, expected %u", len, expected->len);
	for (uint32_t i = 0; i < len; i++)
		cr_assert_eq(out[i], expected->bytes[i], "byte %u: %02x, expected %02x", i, out[i],
			     expected->bytes[i]);
	cr_assert(icmp6_checks(out, expected->l3, expected->l4, len));
}

/* Ethernet as an answer has it: to, from us. */
static void answer_ethernet(struct frame *e, const uint8_t to[6], uint16_t vlan)
{
	memset(e, 0, sizeof(*e));
	frame_put(e, to, 6);
	frame_put(e, OUR_MAC.addr_bytes, 6);
	if (vlan != 0) {
		frame_put16(e, 0x8100);
		frame_put16(e, vlan);
	}
	frame_put16(e, 0x86dd);
	e->l3 = e->len;
}

/* ---- echo ------------------------------------------------------------- */

static uint16_t echo_message(uint8_t *out, uint8_t type)
{
	out[0] = type;
	out[1] = 0;
	out[2] = out[3] = 0;
	out[4] = 0x12; /* identifier */
	out[5] = 0x34;
	out[6] = 0; /* sequence */
	out[7] = 9;
	for (int i = 0; i < 56; i++)
		out[8 + i] = (uint8_t)(i + 3);
	return 64;
}

Test(icmp6, echo_request_is_answered_in_place)
{
	uint8_t message[64];
	struct frame request, expected;
	struct dplb_packet_info info;

	for (int with_options = 0; with_options < 2; with_options++) {
		const uint16_t len = echo_message(message, 128);

		frame_ethernet(&request, 12, 0x86dd);
		frame_ipv6(&request, CLIENT6, OURS6, 0x28, 0x777, 61);
		if (with_options)
			frame_ipv6_options(&request, IPPROTO_DSTOPTS, 0);
		frame_upper(&request, IPPROTO_ICMPV6, message, len);
		frame_finish_ipv6(&request);
		frame_icmp6_checksum(&request);

		answer_ethernet(&expected, FRAME_CLIENT_MAC, 12);
		frame_ipv6(&expected, OURS6, CLIENT6, 0, 0, 64);
		echo_message(message, 129);
		frame_upper(&expected, IPPROTO_ICMPV6, message, len);
		frame_finish_ipv6(&expected);
		frame_icmp6_checksum(&expected);

		struct rte_mbuf *m = parsed(&request, &info);
		cr_assert_eq(dplb_icmp6_echo_reply(m, &info, &OUR_MAC), 0);
		assert_frame(m, &expected);
		cr_assert_eq(info.ip_len, 40 + 64);
		cr_assert_eq(info.ip_header_len, 40);
		cr_assert_eq((uint8_t *)info.ip6, rte_pktmbuf_mtod(m, uint8_t *) + 18);
		rte_pktmbuf_free(m);
	}
}

Test(icmp6, echo_refusals)
{
	uint8_t message[64];
	struct frame f;
	struct dplb_packet_info info;
	struct rte_mbuf *m;
	const struct {
		const char *src, *dst;
		uint8_t type;
		bool corrupt;
		int reason;
	} cases[] = {
		{ CLIENT6, OURS6, 129, false, DPLB_DROP_ICMP_UNHANDLED },
		{ CLIENT6, "ff02::1", 128, false, DPLB_DROP_ICMP_UNHANDLED },
		{ "ff02::2", OURS6, 128, false, DPLB_DROP_BAD_SOURCE },
		{ "::", OURS6, 128, false, DPLB_DROP_BAD_SOURCE },
		{ CLIENT6, OURS6, 128, true, DPLB_DROP_BAD_CHECKSUM },
	};

	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		icmp6_frame(&f, 0, cases[i].src, cases[i].dst, 64, message,
			    echo_message(message, cases[i].type));
		if (cases[i].corrupt)
			f.bytes[f.len - 1] ^= 0x40;
		m = parsed(&f, &info);
		cr_assert_eq(dplb_icmp6_echo_reply(m, &info, &OUR_MAC), cases[i].reason, "case %zu",
			     i);
		cr_assert_eq(rte_pktmbuf_pkt_len(m), f.len);
		cr_assert_arr_eq(rte_pktmbuf_mtod(m, uint8_t *), f.bytes, f.len);
		rte_pktmbuf_free(m);
	}
}

/* ---- neighbor discovery ----------------------------------------------- */

/* An NS or NA message for target: flags (NA), then an Ethernet link-layer
 * option of option_type (0: none) with mac. */
static uint16_t nd_message(uint8_t *out, uint8_t type, uint32_t flags, const char *target,
			   uint8_t option_type, const struct rte_ether_addr *mac)
{
	memset(out, 0, 32);
	out[0] = type;
	out[4] = (uint8_t)(flags >> 24);
	frame_address6(out + 8, target);
	if (option_type == 0)
		return 24;
	out[24] = option_type;
	out[25] = 1;
	memcpy(out + 26, mac->addr_bytes, 6);
	return 32;
}

/* The advertisement dplb must answer with. */
static void expected_advert(struct frame *e, const uint8_t to_mac[6], uint16_t vlan, const char *to,
			    uint32_t flags)
{
	uint8_t message[32];

	answer_ethernet(e, to_mac, vlan);
	frame_ipv6(e, OURS6, to, 0, 0, 255);
	frame_upper(e, IPPROTO_ICMPV6, message,
		    nd_message(message, 136, flags, OURS6, 2, &OUR_MAC));
	frame_finish_ipv6(e);
	frame_icmp6_checksum(e);
}

static void solicit_and_answer(const struct frame *ns, const struct frame *expected)
{
	struct dplb_packet_info info;
	const uint8_t *target;
	uint8_t ours[16];
	struct rte_mbuf *m = parsed(ns, &info);

	frame_address6(ours, OURS6);
	cr_assert_eq(dplb_nd_solicitation_check(m, &info, &target), 0);
	cr_assert_arr_eq(target, ours, 16);
	cr_assert_eq(dplb_nd_advertise(m, &info, &OUR_MAC, ours), 0);
	assert_frame(m, expected);
	cr_assert_eq(info.ip_len, 40 + 32);
	rte_pktmbuf_free(m);
}

Test(icmp6, solicitation_answered_to_its_link_layer_option)
{
	uint8_t message[32];
	struct frame ns, expected;

	for (uint16_t vlan = 0; vlan <= 9; vlan += 9) {
		icmp6_frame(&ns, vlan, CLIENT6, OURS6_SOLICITED, 255, message,
			    nd_message(message, 135, 0, OURS6, 1, &LINK_MAC));
		expected_advert(&expected, LINK_MAC.addr_bytes, vlan, CLIENT6, 0x60000000);
		solicit_and_answer(&ns, &expected);
	}
	/* Unicast, without the option: to the frame's source. */
	icmp6_frame(&ns, 0, CLIENT6, OURS6, 255, message,
		    nd_message(message, 135, 0, OURS6, 0, NULL));
	expected_advert(&expected, FRAME_CLIENT_MAC, 0, CLIENT6, 0x60000000);
	solicit_and_answer(&ns, &expected);
}

Test(icmp6, duplicate_address_probe_answered_to_all_nodes)
{
	static const uint8_t all_nodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	uint8_t message[32];
	struct frame ns, expected;

	icmp6_frame(&ns, 0, "::", OURS6_SOLICITED, 255, message,
		    nd_message(message, 135, 0, OURS6, 0, NULL));
	expected_advert(&expected, all_nodes_mac, 0, "ff02::1", 0x20000000);
	solicit_and_answer(&ns, &expected);
}

Test(icmp6, invalid_solicitations_are_refused)
{
	uint8_t message[64];
	struct frame f;
	struct dplb_packet_info info;
	const uint8_t *target;

	struct {
		const char *what, *src, *dst, *target;
		uint8_t hop_limit, option;
		int reason;
	} cases[] = {
		{ "hop limit", CLIENT6, OURS6, OURS6, 254, 1, DPLB_DROP_BAD_ND },
		{ "multicast target", CLIENT6, OURS6, "ff02::1", 255, 1, DPLB_DROP_BAD_ND },
		{ "multicast source", "ff02::5", OURS6, OURS6, 255, 1, DPLB_DROP_BAD_ND },
		{ "probe with a link option", "::", OURS6_SOLICITED, OURS6, 255, 1,
		  DPLB_DROP_BAD_ND },
		{ "probe not to solicited-node", "::", OURS6, OURS6, 255, 0, DPLB_DROP_BAD_ND },
	};
	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		icmp6_frame(
			&f, 0, cases[i].src, cases[i].dst, cases[i].hop_limit, message,
			nd_message(message, 135, 0, cases[i].target, cases[i].option, &LINK_MAC));
		struct rte_mbuf *m = parsed(&f, &info);
		cr_expect_eq(dplb_nd_solicitation_check(m, &info, &target), cases[i].reason, "%s",
			     cases[i].what);
		rte_pktmbuf_free(m);
	}

	/* Code 1; 20 bytes; an option of length 0; a bad checksum. */
	const uint16_t len = nd_message(message, 135, 0, OURS6, 1, &LINK_MAC);
	message[1] = 1;
	icmp6_frame(&f, 0, CLIENT6, OURS6, 255, message, len);
	struct rte_mbuf *m = parsed(&f, &info);
	cr_expect_eq(dplb_nd_solicitation_check(m, &info, &target), DPLB_DROP_BAD_ND, "code");
	rte_pktmbuf_free(m);
	message[1] = 0;
	icmp6_frame(&f, 0, CLIENT6, OURS6, 255, message, 20);
	m = parsed(&f, &info);
	cr_expect_eq(dplb_nd_solicitation_check(m, &info, &target), DPLB_DROP_BAD_ND, "short");
	rte_pktmbuf_free(m);
	message[25] = 0;
	icmp6_frame(&f, 0, CLIENT6, OURS6, 255, message, len);
	m = parsed(&f, &info);
	cr_expect_eq(dplb_nd_solicitation_check(m, &info, &target), DPLB_DROP_BAD_ND,
		     "option of length 0");
	rte_pktmbuf_free(m);
	message[25] = 1;
	icmp6_frame(&f, 0, CLIENT6, OURS6, 255, message, len);
	f.bytes[f.len - 1] ^= 1;
	m = parsed(&f, &info);
	cr_expect_eq(dplb_nd_solicitation_check(m, &info, &target), DPLB_DROP_BAD_CHECKSUM,
		     "checksum");
	rte_pktmbuf_free(m);
	/* An echo request is no solicitation. */
	icmp6_frame(&f, 0, CLIENT6, OURS6, 255, message, echo_message(message, 128));
	m = parsed(&f, &info);
	cr_expect_eq(dplb_nd_solicitation_check(m, &info, &target), DPLB_DROP_ICMP_UNHANDLED);
	rte_pktmbuf_free(m);
}

Test(icmp6, solicitation_built_for_resolution)
{
	static const uint8_t solicited_mac[6] = { 0x33, 0x33, 0xff, 0xab, 0xcd, 0xef };
	uint8_t message[32], ours[16], target[16];
	struct frame expected;
	struct dplb_packet_info info;
	const uint8_t *solicited;

	frame_address6(ours, OURS6);
	frame_address6(target, "2001:db8::12:34ab:cdef");
	memset(&expected, 0, sizeof(expected));
	frame_put(&expected, solicited_mac, 6);
	frame_put(&expected, OUR_MAC.addr_bytes, 6);
	frame_put16(&expected, 0x86dd);
	expected.l3 = expected.len;
	frame_ipv6(&expected, OURS6, "ff02::1:ffab:cdef", 0, 0, 255);
	frame_upper(&expected, IPPROTO_ICMPV6, message,
		    nd_message(message, 135, 0, "2001:db8::12:34ab:cdef", 1, &OUR_MAC));
	frame_finish_ipv6(&expected);
	frame_icmp6_checksum(&expected);

	struct rte_mbuf *m = rte_pktmbuf_alloc(frame_pool);
	cr_assert_eq(dplb_nd_solicit_build(m, &OUR_MAC, ours, target), 0);
	assert_frame(m, &expected);
	/* And it is a solicitation as a neighbor checks it. */
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_ICMP6);
	cr_assert_eq(dplb_nd_solicitation_check(m, &info, &solicited), 0);
	cr_assert_arr_eq(solicited, target, 16);
	rte_pktmbuf_free(m);
}

Test(icmp6, advertisement_read_for_learning)
{
	uint8_t message[32], target[16], expected_target[16];
	struct rte_ether_addr mac = { { 0 } };
	bool override = false;
	struct frame f;

	frame_address6(expected_target, "2001:db8::fe");
	icmp6_frame(&f, 0, "2001:db8::fe", OURS6, 255, message,
		    nd_message(message, 136, 0x60000000, "2001:db8::fe", 2, &LINK_MAC));
	struct rte_mbuf *m = frame_mbuf(&f);
	cr_assert_eq(dplb_nd_parse_advert(m, target, &mac, &override), 0);
	cr_assert_arr_eq(target, expected_target, 16);
	cr_assert(rte_is_same_ether_addr(&mac, &LINK_MAC));
	cr_assert(override, "solicited with O set");
	rte_pktmbuf_free(m);

	/* Unsolicited, to all nodes: learnt too. */
	icmp6_frame(&f, 0, "2001:db8::fe", "ff02::1", 255, message,
		    nd_message(message, 136, 0x20000000, "2001:db8::fe", 2, &LINK_MAC));
	m = frame_mbuf(&f);
	cr_assert_eq(dplb_nd_parse_advert(m, target, &mac, &override), 0);
	cr_assert(override, "unsolicited with O set");
	rte_pktmbuf_free(m);

	/* Solicited without O (a proxy's or an anycast answer): read, and
	 * said to override nothing. */
	icmp6_frame(&f, 0, "2001:db8::fe", OURS6, 255, message,
		    nd_message(message, 136, 0x40000000, "2001:db8::fe", 2, &LINK_MAC));
	m = frame_mbuf(&f);
	cr_assert_eq(dplb_nd_parse_advert(m, target, &mac, &override), 0);
	cr_assert_not(override, "O clear");
	rte_pktmbuf_free(m);

	struct {
		const char *what, *dst;
		uint32_t flags;
		uint8_t hop_limit, option;
		bool corrupt;
		int reason;
	} cases[] = {
		{ "solicited to multicast", "ff02::1", 0x60000000, 255, 2, false,
		  DPLB_DROP_BAD_ND },
		{ "no target link option", OURS6, 0x60000000, 255, 0, false, DPLB_DROP_BAD_ND },
		{ "source link option only", OURS6, 0x60000000, 255, 1, false, DPLB_DROP_BAD_ND },
		{ "hop limit", OURS6, 0x60000000, 64, 2, false, DPLB_DROP_BAD_ND },
		{ "checksum", OURS6, 0x60000000, 255, 2, true, DPLB_DROP_BAD_CHECKSUM },
	};
	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		icmp6_frame(&f, 0, "2001:db8::fe", cases[i].dst, cases[i].hop_limit, message,
			    nd_message(message, 136, cases[i].flags, "2001:db8::fe",
				       cases[i].option, &LINK_MAC));
		if (cases[i].corrupt)
			f.bytes[f.len - 2] ^= 1;
		m = frame_mbuf(&f);
		cr_expect_eq(dplb_nd_parse_advert(m, target, &mac, &override), cases[i].reason,
			     "%s", cases[i].what);
		rte_pktmbuf_free(m);
	}
}

/* What dplb_nd_advertise sends, dplb_nd_parse_advert learns. */
Test(icmp6, our_advertisement_reads_back)
{
	uint8_t message[32], ours[16], target[16];
	struct frame ns;
	struct dplb_packet_info info;
	const uint8_t *solicited;
	struct rte_ether_addr mac = { { 0 } };
	bool override = false;

	frame_address6(ours, OURS6);
	icmp6_frame(&ns, 0, CLIENT6, OURS6_SOLICITED, 255, message,
		    nd_message(message, 135, 0, OURS6, 1, &LINK_MAC));
	struct rte_mbuf *m = parsed(&ns, &info);
	cr_assert_eq(dplb_nd_solicitation_check(m, &info, &solicited), 0);
	cr_assert_eq(dplb_nd_advertise(m, &info, &OUR_MAC, ours), 0);
	cr_assert_eq(dplb_nd_parse_advert(m, target, &mac, &override), 0);
	cr_assert_arr_eq(target, ours, 16);
	cr_assert(rte_is_same_ether_addr(&mac, &OUR_MAC));
	cr_assert(override, "our answers replace what a neighbor held");
	rte_pktmbuf_free(m);
}

/* ---- packet too big --------------------------------------------------- */

static void too_big_frame(struct frame *f, const char *src, uint8_t protocol, const void *upper,
			  uint16_t len)
{
	frame_ethernet(f, 0, 0x86dd);
	frame_ipv6(f, src, "2001:db8:ff::80", 0, 0, 60);
	frame_upper(f, protocol, upper, len);
	frame_finish_ipv6(f);
}

/* The packet too big dplb must send about the packet in f. */
static void expected_too_big(struct frame *e, const struct frame *f, uint32_t mtu,
			     uint16_t quote_len)
{
	const uint8_t header[8] = { 2,
				    0,
				    0,
				    0,
				    (uint8_t)(mtu >> 24),
				    (uint8_t)(mtu >> 16),
				    (uint8_t)(mtu >> 8),
				    (uint8_t)mtu };
	char client[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, f->bytes + f->l3 + 8, client, sizeof(client));
	answer_ethernet(e, FRAME_CLIENT_MAC, 0);
	frame_ipv6(e, OURS6, client, 0, 0, 64);
	frame_upper(e, IPPROTO_ICMPV6, header, sizeof(header));
	frame_put(e, f->bytes + f->l3, quote_len);
	frame_finish_ipv6(e);
	frame_icmp6_checksum(e);
}

Test(icmp6, packet_too_big_quotes_what_fits_in_1280_bytes)
{
	static uint8_t tcp[2000];
	uint8_t ours[16];
	struct frame f, expected;
	struct dplb_packet_info info;

	frame_address6(ours, OURS6);
	/* Small: quoted whole. Big: cut at 1280 bytes, one segment or many. */
	const struct {
		uint16_t payload, first_segment, segment, quote;
	} cases[] = {
		{ 40, 0, 0, 40 + 60 },
		{ 1440, 0, 0, 1232 },
		{ 1440, 14 + 40 + 20, 333, 1232 },
		{ 1100, 14 + 40 + 20 + 1, 77, 40 + 1120 },
	};
	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		too_big_frame(&f, CLIENT6, IPPROTO_TCP, tcp,
			      frame_tcp(tcp, 40000, 443, 0x10, cases[i].payload));
		expected_too_big(&expected, &f, 1452, cases[i].quote);
		struct rte_mbuf *m =
			cases[i].first_segment != 0
				? frame_mbuf_chain(&f, cases[i].first_segment, cases[i].segment)
				: frame_mbuf(&f);
		cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_L4_6);
		cr_assert_eq(dplb_icmp6_packet_too_big(m, &info, &OUR_MAC, ours, 1452), 0);
		assert_frame(m, &expected);
		cr_assert_leq(rte_pktmbuf_pkt_len(m) - 14, 1280);
		cr_assert_eq(m->nb_segs, 1);
		cr_assert_eq(info.ip_len, 48 + cases[i].quote);
		rte_pktmbuf_free(m);
	}
}

Test(icmp6, packet_too_big_refusals)
{
	uint8_t upper[64], ours[16];
	struct frame f;
	struct dplb_packet_info info;

	frame_address6(ours, OURS6);
	const struct {
		const char *what, *src;
		uint8_t protocol, type;
		int result;
	} cases[] = {
		{ "multicast source", "ff0e::1", IPPROTO_UDP, 0, -1 },
		{ "unspecified source", "::", IPPROTO_UDP, 0, -1 },
		{ "an ICMPv6 error", CLIENT6, IPPROTO_ICMPV6, 1, -1 },
		{ "a packet too big", CLIENT6, IPPROTO_ICMPV6, 2, -1 },
		{ "an echo request", CLIENT6, IPPROTO_ICMPV6, 128, 0 },
	};
	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		uint16_t len = frame_udp(upper, 1, 2, 40);

		upper[0] = cases[i].type;
		too_big_frame(&f, cases[i].src, cases[i].protocol, upper, len);
		struct rte_mbuf *m = frame_mbuf(&f);
		cr_assert_neq(dplb_parse_packet(m, &info), DPLB_PARSED_DROP);
		cr_expect_eq(dplb_icmp6_packet_too_big(m, &info, &OUR_MAC, ours, 1280),
			     cases[i].result, "%s", cases[i].what);
		if (cases[i].result != 0)
			cr_expect_arr_eq(rte_pktmbuf_mtod(m, uint8_t *), f.bytes, f.len, "%s",
					 cases[i].what);
		rte_pktmbuf_free(m);
	}

	/* A later fragment of ICMPv6 (the parser drops it): its type is out
	 * of sight. */
	frame_ethernet(&f, 0, 0x86dd);
	frame_ipv6(&f, CLIENT6, "2001:db8:ff::80", 0, 0, 60);
	frame_ipv6_fragment(&f, 1448, false, 5);
	memset(upper, 0x80, 32);
	frame_upper(&f, IPPROTO_ICMPV6, upper, 32);
	frame_finish_ipv6(&f);
	struct rte_mbuf *m = frame_mbuf(&f);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_DROP);
	cr_expect_eq(dplb_icmp6_packet_too_big(m, &info, &OUR_MAC, ours, 1280), -1);
	rte_pktmbuf_free(m);
}

/* ---- the flow an error is about -------------------------------------- */

#define VIP6 "2001:db8:f::80"
#define ROUTER6 "2001:db8:ee::1"

/* What a backend sends from the VIP to the client (its port 40000) and a
 * router quotes: protocol with ports 80 -> 40000, behind the extension
 * headers add_extensions puts (when not NULL). */
static void backend_reply(struct frame *q, uint8_t protocol, void (*add_extensions)(struct frame *))
{
	uint8_t upper[1400];
	const uint16_t len = protocol == IPPROTO_TCP ? frame_tcp(upper, 80, 40000, 0x12, 1300)
						     : frame_udp(upper, 80, 40000, 1300);

	frame_ethernet(q, 0, 0x86dd);
	frame_ipv6(q, VIP6, CLIENT6, 0, 0, 64);
	if (add_extensions != NULL)
		add_extensions(q);
	frame_upper(q, protocol, upper, len);
	frame_finish_ipv6(q);
}

/* A router's ICMPv6 error of type (code 0) to the VIP, quoting the first
 * quote_len bytes of q's IPv6 packet, checksummed. */
static void error_frame(struct frame *f, uint8_t type, const struct frame *q, uint16_t quote_len)
{
	uint8_t message[8 + 1500] = { type, 0, 0, 0, 0, 0, 0x05, 0x00 };

	memcpy(message + 8, q->bytes + q->l3, quote_len);
	icmp6_frame(f, 0, ROUTER6, VIP6, 60, message, (uint16_t)(8 + quote_len));
}

/* What dplb_icmp6_error_flow makes of f. */
static int error_flow(const struct frame *f, struct dplb_flow_key6 *key)
{
	struct dplb_packet_info info;
	struct rte_mbuf *m = parsed(f, &info);
	const int result = dplb_icmp6_error_flow(m, &info, key);

	rte_pktmbuf_free(m);
	return result;
}

static void destination_options(struct frame *q)
{
	frame_ipv6_options(q, IPPROTO_DSTOPTS, 1);
}

static void hop_by_hop_and_atomic_fragment(struct frame *q)
{
	frame_ipv6_options(q, IPPROTO_HOPOPTS, 0);
	frame_ipv6_fragment(q, 0, false, 7);
}

static void first_fragment(struct frame *q)
{
	frame_ipv6_fragment(q, 0, true, 8);
}

Test(icmp6, error_gives_the_flow_it_quotes_as_the_client_sent_it)
{
	void (*const extensions[])(struct frame *) = { NULL, destination_options,
						       hop_by_hop_and_atomic_fragment,
						       first_fragment };
	const uint8_t types[] = { DPLB_ICMP6_DEST_UNREACHABLE, DPLB_ICMP6_PACKET_TOO_BIG,
				  DPLB_ICMP6_TIME_EXCEEDED, DPLB_ICMP6_PARAMETER_PROBLEM };
	const uint8_t protocols[] = { IPPROTO_TCP, IPPROTO_UDP };
	uint8_t client[16], vip[16];
	struct frame q, f;

	frame_address6(client, CLIENT6);
	frame_address6(vip, VIP6);
	for (size_t e = 0; e < RTE_DIM(extensions); e++)
		for (size_t p = 0; p < RTE_DIM(protocols); p++)
			for (size_t t = 0; t < RTE_DIM(types); t++) {
				struct dplb_flow_key6 key, expected;

				backend_reply(&q, protocols[p], extensions[e]);
				/* Cut where a router keeps the error within 1280 bytes. */
				error_frame(&f, types[t], &q, 1280 - 48);
				memset(&key, 0xa5, sizeof(key));
				cr_assert_eq(error_flow(&f, &key), 0, "case %zu %zu %zu", e, p, t);
				dplb_flow_key6_set(&expected, client, vip, rte_cpu_to_be_16(40000),
						   rte_cpu_to_be_16(80), protocols[p]);
				cr_assert_arr_eq(key.words, expected.words, sizeof(key.words),
						 "case %zu %zu %zu", e, p, t);
			}
}

Test(icmp6, error_quotes_cut_short_are_refused_until_the_ports_are_in)
{
	struct dplb_flow_key6 key;
	struct frame q, f;

	/* The IPv6 header, 16 bytes of destination options, 8 of TCP. */
	backend_reply(&q, IPPROTO_TCP, destination_options);
	const struct {
		uint16_t quote_len;
		int result;
	} cases[] = {
		{ 0, DPLB_DROP_ICMP_BAD_QUOTE },
		{ 39, DPLB_DROP_ICMP_BAD_QUOTE },
		{ 40, DPLB_DROP_ICMP_BAD_QUOTE },
		{ 40 + 15, DPLB_DROP_ICMP_BAD_QUOTE },
		{ 40 + 16, DPLB_DROP_ICMP_BAD_QUOTE },
		{ 40 + 16 + 7, DPLB_DROP_ICMP_BAD_QUOTE },
		{ 40 + 16 + 8, 0 },
	};
	for (size_t i = 0; i < RTE_DIM(cases); i++) {
		error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, cases[i].quote_len);
		cr_expect_eq(error_flow(&f, &key), cases[i].result, "quote of %u bytes",
			     cases[i].quote_len);
	}
}

Test(icmp6, errors_that_place_no_flow_are_refused)
{
	struct dplb_flow_key6 key;
	struct frame q, f;
	uint8_t upper[64];

	/* A wrong checksum. */
	backend_reply(&q, IPPROTO_TCP, NULL);
	error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, 100);
	f.bytes[f.l4 + 2] ^= 0x40;
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_BAD_CHECKSUM);

	/* Not an error: an echo request, whatever follows it. */
	error_frame(&f, DPLB_ICMP6_ECHO_REQUEST, &q, 100);
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_ICMP_UNHANDLED);

	/* The quote is not IPv6. */
	error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, 100);
	f.bytes[f.l4 + 8] = 0x45;
	frame_icmp6_checksum(&f);
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_ICMP_BAD_QUOTE);

	/* The quoted header says its packet ended before the ports. */
	error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, 100);
	frame_set16(&f, f.l4 + 8 + 4, 4);
	frame_icmp6_checksum(&f);
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_ICMP_BAD_QUOTE);

	/* Extension headers no packet has: hop-by-hop after another. */
	backend_reply(&q, IPPROTO_TCP, destination_options);
	q.bytes[q.l3 + 40] = IPPROTO_HOPOPTS;
	error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, 200);
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_ICMP_BAD_QUOTE);

	/* About ICMPv6, not TCP or UDP. */
	frame_ethernet(&q, 0, 0x86dd);
	frame_ipv6(&q, VIP6, CLIENT6, 0, 0, 64);
	frame_upper(&q, IPPROTO_ICMPV6, upper, echo_message(upper, DPLB_ICMP6_ECHO_REPLY));
	frame_finish_ipv6(&q);
	error_frame(&f, DPLB_ICMP6_DEST_UNREACHABLE, &q, q.len - q.l3);
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_ICMP_UNHANDLED);

	/* About a later fragment: no ports in it. */
	frame_ethernet(&q, 0, 0x86dd);
	frame_ipv6(&q, VIP6, CLIENT6, 0, 0, 64);
	frame_ipv6_fragment(&q, 1448, false, 9);
	memset(upper, 0x33, 32);
	frame_upper(&q, IPPROTO_TCP, upper, 32);
	frame_finish_ipv6(&q);
	error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, q.len - q.l3);
	cr_expect_eq(error_flow(&f, &key), DPLB_DROP_ICMP_UNHANDLED);

	/* A message not whole in the first segment is not read. */
	backend_reply(&q, IPPROTO_TCP, NULL);
	error_frame(&f, DPLB_ICMP6_PACKET_TOO_BIG, &q, 100);
	struct dplb_packet_info info;
	struct rte_mbuf *m = frame_mbuf_chain(&f, (uint16_t)(f.l4 + 60), 64);

	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_ICMP6);
	cr_expect_eq(dplb_icmp6_error_flow(m, &info, &key), DPLB_DROP_ICMP_UNHANDLED);
	rte_pktmbuf_free(m);
}
