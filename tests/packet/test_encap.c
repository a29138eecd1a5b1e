/*
 * Unit tests of encapsulation (lib/packet/encap.h): IPv4 and IPv6 inside
 * IPv4 and IPv6 outer headers, IP-in-IP and GUE, with and without a VLAN
 * tag, compared byte for byte with frames built here from the RFCs: outer
 * DSCP/ECN, DF and identification, flow label, hop limit, lengths, the IPv4
 * header checksum and GUE's UDP checksum over IPv6 (summed here
 * independently, also over chains of odd-length segments). Also: too big,
 * no headroom.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "frame_builder.h"
#include "packet/encap.h"

TestSuite(encap, .init = frame_eal_init, .fini = frame_eal_fini);

static const struct rte_ether_addr BACKEND_MAC = { { 0x02, 0, 0, 0, 0x0b, 0x0e } };
static const struct rte_ether_addr OUR_MAC = { { 0x02, 0, 0, 0, 0, 0x01 } };
#define FLOW_HASH 0x89abcdefu
#define PACKET_ID 0x4242
#define GUE_PORT 6080
#define INNER_TOS 0xb9 /* DSCP 46, ECN 01: copied to the outer header */

struct combination {
	uint8_t outer_family, inner_family, kind;
	uint16_t vlan;
	bool df; /* an IPv4 inner header's */
	uint16_t payload;
	bool made_header; /* the target has the backend's made IPv4 header */
};

/* The IPv4 outer protocol of c: what the snapshot makes its header with. */
static uint8_t outer_protocol4(const struct combination *c)
{
	if (c->kind == DPLB_ENCAP_GUE)
		return IPPROTO_UDP;
	return c->inner_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
}

/* The client's frame: UDP of payload bytes, to the VIP. */
static void client_frame(struct frame *f, const struct combination *c)
{
	uint8_t udp[2048];
	const uint16_t udp_len = frame_udp(udp, 40000, 53, c->payload);

	if (c->inner_family == AF_INET6) {
		frame_ethernet(f, c->vlan, 0x86dd);
		frame_ipv6(f, "2001:db8:1::10", "2001:db8:ff::80", INNER_TOS, 0x12345, 57);
		frame_upper(f, IPPROTO_UDP, udp, udp_len);
		frame_finish_ipv6(f);
	} else {
		frame_ethernet(f, c->vlan, 0x0800);
		frame_ipv4(f, "10.9.0.10", "192.0.2.80", INNER_TOS, c->df, IPPROTO_UDP);
		frame_upper(f, IPPROTO_UDP, udp, udp_len);
		frame_finish_ipv4(f);
	}
}

/* The frame encapsulation must make of the client's, from the RFCs. */
static void expected_frame(struct frame *e, const struct frame *client, const struct combination *c)
{
	const uint16_t inner_len = (uint16_t)(client->len - client->l3);
	const bool gue = c->kind == DPLB_ENCAP_GUE;
	const uint8_t protocol = gue ? IPPROTO_UDP : c->inner_family == AF_INET6 ? 41 : 4;
	const uint16_t udp_len = (uint16_t)(inner_len + 8);

	memset(e, 0, sizeof(*e));
	frame_put(e, BACKEND_MAC.addr_bytes, 6);
	frame_put(e, OUR_MAC.addr_bytes, 6);
	if (c->vlan != 0) {
		frame_put16(e, 0x8100);
		frame_put16(e, c->vlan);
	}
	frame_put16(e, c->outer_family == AF_INET6 ? 0x86dd : 0x0800);
	e->l3 = e->len;
	if (c->outer_family == AF_INET6) {
		/* RFC 6438: 20 bits of the hash, here folded as encap.h says. */
		const uint32_t label = (FLOW_HASH ^ (FLOW_HASH >> 20)) & 0xfffff;

		frame_ipv6(e, "2001:db8:100::1", "2001:db8:200::2", INNER_TOS, label, 64);
		*e->next_header = protocol;
	} else {
		/* DF from an IPv4 inner header, always for IPv6; id 0 with DF. */
		const bool df = c->inner_family == AF_INET6 || c->df;

		frame_ipv4(e, "10.0.0.1", "10.0.1.2", INNER_TOS, df, protocol);
		if (df)
			frame_set16(e, e->l3 + 4, 0);
		else
			frame_set16(e, e->l3 + 4, PACKET_ID);
	}
	if (gue) {
		frame_put16(e, (uint16_t)(0xc000 | (FLOW_HASH & 0x3fff)));
		frame_put16(e, GUE_PORT);
		frame_put16(e, udp_len);
		frame_put16(e, 0);
	}
	frame_put(e, client->bytes + client->l3, inner_len);
	if (c->outer_family == AF_INET6) {
		frame_finish_ipv6(e);
		if (gue) {
			const uint16_t sum = frame_ipv6_upper_sum(e->bytes + e->l3, IPPROTO_UDP,
								  e->bytes + e->l3 + 40, udp_len);
			const uint16_t checksum = (uint16_t)~sum;

			frame_set16(e, e->l3 + 40 + 6, checksum != 0 ? checksum : 0xffff);
		}
	} else {
		frame_finish_ipv4(e);
	}
}

static void encapsulate_and_compare(const struct combination *c, uint16_t first_segment,
				    uint16_t segment)
{
	uint8_t src6[16], dst6[16];
	struct frame client, expected;
	static uint8_t out[8192];
	struct dplb_packet_info info;
	struct dplb_encap_header4 header4;

	frame_address6(src6, "2001:db8:100::1");
	frame_address6(dst6, "2001:db8:200::2");
	client_frame(&client, c);
	expected_frame(&expected, &client, c);

	struct rte_mbuf *m = first_segment != 0 ? frame_mbuf_chain(&client, first_segment, segment)
						: frame_mbuf(&client);
	const enum dplb_parse_result parsed = dplb_parse_packet(m, &info);
	cr_assert_eq(parsed, c->inner_family == AF_INET6 ? DPLB_PARSED_L4_6 : DPLB_PARSED_L4);

	const struct dplb_encap_target target = {
		.outer_src = inet_addr("10.0.0.1"),
		.outer_dst = inet_addr("10.0.1.2"),
		.outer_src6 = src6,
		.outer_dst6 = dst6,
		.gue_port = htons(GUE_PORT),
		.kind = c->kind,
		.outer_family = c->outer_family,
		.packet_id = PACKET_ID,
		.src_mac = &OUR_MAC,
		.dst_mac = &BACKEND_MAC,
		.header4 = c->made_header ? &header4 : NULL,
	};
	dplb_encap_header4_make(&header4, &BACKEND_MAC, target.outer_src, target.outer_dst,
				outer_protocol4(c));
	cr_assert_eq(dplb_encapsulate(m, &info, &target, FLOW_HASH, 9000), 0);

	const uint32_t len = frame_of_mbuf(m, out, sizeof(out));
	cr_assert_eq(len, expected.len, "length %u, expected %u", len, expected.len);
	for (uint32_t i = 0; i < len; i++)
		cr_assert_eq(out[i], expected.bytes[i], "byte %u: %02x, expected %02x", i, out[i],
			     expected.bytes[i]);
	cr_assert_eq(rte_pktmbuf_pkt_len(m) - info.l2_len,
		     info.ip_len + dplb_encap_overhead(c->kind, c->outer_family));
	/* The checksums verify as a receiver verifies them. */
	if (c->outer_family == AF_INET)
		cr_assert_eq(frame_sum(0, out + expected.l3, 20), 0xffff);
	else if (c->kind == DPLB_ENCAP_GUE)
		cr_assert_eq(frame_ipv6_upper_sum(out + expected.l3, IPPROTO_UDP,
						  out + expected.l3 + 40, len - expected.l3 - 40),
			     0xffff);
	rte_pktmbuf_free(m);
}

Test(encap, every_combination_byte_for_byte)
{
	static const uint8_t families[2] = { AF_INET, AF_INET6 };
	static const uint8_t kinds[2] = { DPLB_ENCAP_IPIP, DPLB_ENCAP_GUE };

	for (int o = 0; o < 2; o++)
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < 2; k++)
				for (int vlan = 0; vlan < 2; vlan++)
					for (int made = 0; made < 2; made++) {
						const struct combination c = {
							.outer_family = families[o],
							.inner_family = families[i],
							.kind = kinds[k],
							.vlan = vlan ? 300 : 0,
							.df = vlan ^ made,
							.payload = 101,
							.made_header = made,
						};

						encapsulate_and_compare(&c, 0, 0);
					}
}

/* Encapsulate a copy of client toward target, with or without header4: the
 * frame made, into out; its length. */
static uint32_t encapsulate_copy(const struct frame *client, struct dplb_encap_target target,
				 const struct dplb_encap_header4 *header4, uint8_t *out,
				 uint32_t size)
{
	struct dplb_packet_info info;
	struct rte_mbuf *m = frame_mbuf(client);

	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_L4);
	target.header4 = header4;
	cr_assert_eq(dplb_encapsulate(m, &info, &target, FLOW_HASH, 9000), 0);
	const uint32_t len = frame_of_mbuf(m, out, size);
	rte_pktmbuf_free(m);
	return len;
}

/* header made as dplb_encap_header4_make makes it, but with a TTL of 63,
 * which only a frame copied from it carries (the field-by-field path writes
 * 64): so a test sees which path made a frame. */
static void make_marked_header(struct dplb_encap_header4 *header, const struct dplb_encap_target *t,
			       uint8_t protocol)
{
	struct rte_ipv4_hdr *ip = dplb_encap_header4_ip(header);

	dplb_encap_header4_make(header, t->dst_mac, t->outer_src, t->outer_dst, protocol);
	cr_assert_eq(ip->time_to_live, DPLB_OUTER_TTL);
	cr_assert_eq(header->sum, rte_raw_cksum(ip, sizeof(*ip)));
	ip->time_to_live = DPLB_OUTER_TTL - 1;
	header->sum = rte_raw_cksum(ip, sizeof(*ip));
}

/* The made header's checksum adds the packet's fields to a sum made before:
 * over many TOS, lengths, identifications and DF, with carries, the frame is
 * the field-by-field one, byte for byte (but for the TTL that marks it, and
 * the checksum that covers it), and its checksum verifies. The header's
 * protocol must be the packet's: one made for another is not used. */
Test(encap, made_header_writes_what_the_fields_write)
{
	static uint8_t with[4096], without[4096];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	struct dplb_encap_header4 header4, other;
	struct dplb_encap_target target = {
		.outer_src = inet_addr("198.51.100.254"),
		.outer_dst = inet_addr("203.0.113.77"),
		.gue_port = htons(GUE_PORT),
		.outer_family = AF_INET,
		.src_mac = &OUR_MAC,
		.dst_mac = &BACKEND_MAC,
	};

	for (int i = 0; i < 4000; i++) {
		struct frame client;
		uint8_t udp[2048];

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		target.kind = (rng & 1) ? DPLB_ENCAP_GUE : DPLB_ENCAP_IPIP;
		target.packet_id = (uint16_t)(rng >> 8);
		const uint8_t tos = (uint8_t)(rng >> 24);
		const bool df = (rng >> 32) & 1;
		const uint16_t payload = (uint16_t)((rng >> 33) % 1400);
		const uint8_t protocol = target.kind == DPLB_ENCAP_GUE ? IPPROTO_UDP : IPPROTO_IPIP;

		frame_ethernet(&client, 0, 0x0800);
		frame_ipv4(&client, "10.9.0.10", "192.0.2.80", tos, df, IPPROTO_UDP);
		frame_upper(&client, IPPROTO_UDP, udp, frame_udp(udp, 40000, 53, payload));
		frame_finish_ipv4(&client);
		make_marked_header(&header4, &target, protocol);
		make_marked_header(&other, &target, IPPROTO_IPV6);

		const uint32_t len =
			encapsulate_copy(&client, target, NULL, without, sizeof(without));
		cr_assert_eq(encapsulate_copy(&client, target, &header4, with, sizeof(with)), len);
		enum { TTL = RTE_ETHER_HDR_LEN + 8, CHECKSUM = RTE_ETHER_HDR_LEN + 10 };
		cr_assert_eq(with[TTL], DPLB_OUTER_TTL - 1, "the made header's path");
		cr_assert_eq(frame_sum(0, with + RTE_ETHER_HDR_LEN, 20), 0xffff);
		/* The rest as the field-by-field path wrote it. */
		with[TTL] = without[TTL];
		memcpy(with + CHECKSUM, without + CHECKSUM, 2);
		cr_assert_arr_eq(with, without, len, "tos %#x df %d id %#x payload %u kind %u", tos,
				 df, target.packet_id, payload, target.kind);
		cr_assert_eq(encapsulate_copy(&client, target, &other, with, sizeof(with)), len);
		cr_assert_arr_eq(with, without, len, "a header made for IPv6 in IPv4 is not used");
	}
}

/* GUE over IPv6 sums the UDP checksum over every segment, whatever their
 * lengths: odd ones shift the bytes between 16-bit words. */
Test(encap, gue_over_ipv6_checksum_over_segment_chains)
{
	static const uint16_t segments[] = { 1, 7, 33, 64, 333 };

	for (int inner = 0; inner < 2; inner++)
		for (size_t s = 0; s < RTE_DIM(segments); s++) {
			const struct combination c = {
				.outer_family = AF_INET6,
				.inner_family = inner ? AF_INET6 : AF_INET,
				.kind = DPLB_ENCAP_GUE,
				.payload = 1400,
			};

			/* The headers in the first segment, the parser needs them. */
			encapsulate_and_compare(&c, inner ? 14 + 40 + 8 + 3 : 14 + 20 + 8 + 1,
						segments[s]);
		}
}

/* The sum over a chain is the sum over the same bytes in one piece. */
Test(encap, mbuf_raw_sum_over_chains_is_the_sum_in_one_piece)
{
	struct frame f;
	uint8_t bytes[1500];

	memset(&f, 0, sizeof(f));
	for (unsigned i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 31 + 7);
	frame_put(&f, bytes, sizeof(bytes));
	for (uint16_t first = 1; first < 40; first += 3)
		for (uint16_t seg = 1; seg < 200; seg += 17) {
			struct rte_mbuf *m = frame_mbuf_chain(&f, first, seg);

			for (uint32_t off = 0; off < 50; off += 7) {
				const uint32_t len = sizeof(bytes) - off - (off & 3);

				/* Summed in memory order: big-endian words once
				 * read as the host reads them. */
				cr_assert_eq(rte_be_to_cpu_16(dplb_checksum_fold(
						     dplb_mbuf_raw_sum(m, off, len))),
					     frame_sum(0, bytes + off, len),
					     "first %u seg %u off %u", first, seg, off);
			}
			rte_pktmbuf_free(m);
		}
}

Test(encap, flow_label_is_never_zero)
{
	cr_assert_eq(dplb_encap_flow_label(0), 1);
	cr_assert_eq(dplb_encap_flow_label(0x00100001u), 1); /* folds to 0 */
	cr_assert_eq(dplb_encap_flow_label(0x12345u), 0x12345u);
	cr_assert_leq(dplb_encap_flow_label(0xffffffffu), 0xfffffu);
}

Test(encap, too_big_and_no_headroom_leave_the_packet_alone)
{
	uint8_t src6[16] = { 0x20, 0x01 }, dst6[16] = { 0x20, 0x01, [15] = 2 };
	const struct combination c = { .outer_family = AF_INET6,
				       .inner_family = AF_INET6,
				       .kind = DPLB_ENCAP_GUE,
				       .payload = 100 };
	struct frame client;
	struct dplb_packet_info info;
	const struct dplb_encap_target target = {
		.outer_src6 = src6,
		.outer_dst6 = dst6,
		.kind = DPLB_ENCAP_GUE,
		.outer_family = AF_INET6,
		.src_mac = &OUR_MAC,
		.dst_mac = &BACKEND_MAC,
	};

	client_frame(&client, &c);
	struct rte_mbuf *m = frame_mbuf(&client);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_L4_6);
	/* 148 bytes of IPv6, 48 more outside: 196. */
	cr_assert_eq(dplb_encapsulate(m, &info, &target, 1, 195), DPLB_DROP_TOO_BIG);
	cr_assert_eq(rte_pktmbuf_pkt_len(m), client.len);
	cr_assert_eq(dplb_encapsulate(m, &info, &target, 1, 196), 0);
	rte_pktmbuf_free(m);

	m = frame_mbuf(&client);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_L4_6);
	rte_pktmbuf_adj(m, 0);
	m->data_off = 40; /* less headroom than 48 */
	memcpy(rte_pktmbuf_mtod(m, void *), client.bytes, client.len);
	cr_assert_eq(dplb_parse_packet(m, &info), DPLB_PARSED_L4_6);
	cr_assert_eq(dplb_encapsulate(m, &info, &target, 1, 9000), DPLB_DROP_NO_HEADROOM);
	cr_assert_eq(rte_pktmbuf_pkt_len(m), client.len);
	rte_pktmbuf_free(m);
}
