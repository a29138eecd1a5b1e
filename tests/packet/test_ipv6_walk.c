/*
 * Unit tests of the walk over IPv6 extension headers (lib/packet/ipv6_walk.h):
 * where the upper layer starts behind each kind of header, fragments first
 * and later, and every way a chain can lie (running past the bytes at hand,
 * too long, hop-by-hop out of place, two fragment headers). No EAL: the
 * header is all there is. Packets are built here byte by byte.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "packet/ipv6_walk.h"

#define IPV6_HEADER 40

struct packet {
	uint8_t bytes[2048];
	uint32_t length;
	uint8_t *next_header; /* the last header's next-header byte */
};

static void packet_init(struct packet *p)
{
	memset(p, 0, sizeof(*p));
	p->bytes[0] = 0x60;
	p->length = IPV6_HEADER;
	p->next_header = &p->bytes[6];
	*p->next_header = IPPROTO_NONE;
}

/* An options-style header (hop-by-hop, routing, destination options) of
 * units 8-byte units beyond the first 8. */
static void add_options(struct packet *p, uint8_t kind, uint8_t units)
{
	uint8_t *h = &p->bytes[p->length];

	*p->next_header = kind;
	h[0] = IPPROTO_NONE;
	h[1] = units;
	p->next_header = &h[0];
	p->length += 8u * (units + 1u);
}

/* AH: its length is in 4-byte units, less 2. */
static void add_ah(struct packet *p, uint8_t length_field)
{
	uint8_t *h = &p->bytes[p->length];

	*p->next_header = IPPROTO_AH;
	h[0] = IPPROTO_NONE;
	h[1] = length_field;
	p->next_header = &h[0];
	p->length += 4u * (length_field + 2u);
}

static void add_fragment(struct packet *p, uint16_t offset_bytes, bool more, uint32_t id)
{
	uint8_t *h = &p->bytes[p->length];
	const uint16_t data = (uint16_t)(offset_bytes | (more ? 1 : 0));

	*p->next_header = IPPROTO_FRAGMENT;
	h[0] = IPPROTO_NONE;
	h[2] = (uint8_t)(data >> 8);
	h[3] = (uint8_t)data;
	h[4] = (uint8_t)(id >> 24);
	h[5] = (uint8_t)(id >> 16);
	h[6] = (uint8_t)(id >> 8);
	h[7] = (uint8_t)id;
	p->next_header = &h[0];
	p->length += 8;
}

/* The upper layer: protocol and 20 bytes of it. */
static void add_upper(struct packet *p, uint8_t protocol)
{
	*p->next_header = protocol;
	p->length += 20;
}

static enum dplb_ipv6_walk_result walk(const struct packet *p, struct dplb_ipv6_walk *out)
{
	return dplb_ipv6_walk(p->bytes, p->length, p->length, out);
}

Test(ipv6_walk, no_extension_headers)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_upper(&p, IPPROTO_TCP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.l4_offset, IPV6_HEADER);
	cr_assert_eq(w.protocol, IPPROTO_TCP);
	cr_assert_eq(w.extensions, 0);
	cr_assert_not(w.fragment);
}

Test(ipv6_walk, every_kind_in_the_rfc_order)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_options(&p, IPPROTO_HOPOPTS, 0);   /* 8 */
	add_options(&p, IPPROTO_DSTOPTS, 1);   /* 16 */
	add_options(&p, IPPROTO_ROUTING, 2);   /* 24 */
	add_fragment(&p, 0, true, 0xdeadbeef); /* 8: a first fragment */
	add_ah(&p, 4);			       /* 24 */
	add_options(&p, IPPROTO_DSTOPTS, 0);   /* 8 */
	add_upper(&p, IPPROTO_UDP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.l4_offset, IPV6_HEADER + 8 + 16 + 24 + 8 + 24 + 8);
	cr_assert_eq(w.protocol, IPPROTO_UDP);
	cr_assert_eq(w.extensions, 6);
	cr_assert(w.fragment && w.more_fragments);
	cr_assert_eq(w.fragment_offset, 0);
	cr_assert_eq(w.fragment_id, rte_cpu_to_be_32(0xdeadbeef));
	/* The fragmentable part starts after the fragment header: the AH
	 * and options behind it are the datagram's. */
	cr_assert_eq(w.fragment_data, IPV6_HEADER + 8 + 16 + 24 + 8);
}

Test(ipv6_walk, a_later_fragment_ends_the_walk_at_its_payload)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_options(&p, IPPROTO_DSTOPTS, 0);
	add_fragment(&p, 1448, false, 7);
	/* What follows the fragment header is data, whatever it looks like. */
	add_options(&p, IPPROTO_ROUTING, 200);
	p.length = IPV6_HEADER + 8 + 8 + 100;
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.l4_offset, IPV6_HEADER + 16);
	cr_assert_eq(w.protocol, IPPROTO_ROUTING);
	cr_assert(w.fragment);
	cr_assert_not(w.more_fragments);
	cr_assert_eq(w.fragment_offset, 1448);
	cr_assert_eq(w.fragment_id, rte_cpu_to_be_32(7));
	cr_assert_eq(w.fragment_data, w.l4_offset);
}

Test(ipv6_walk, an_atomic_fragment_is_a_whole_packet)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_fragment(&p, 0, false, 99);
	add_upper(&p, IPPROTO_TCP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.l4_offset, IPV6_HEADER + 8);
	cr_assert_eq(w.protocol, IPPROTO_TCP);
	cr_assert_not(w.fragment);
}

Test(ipv6_walk, headers_no_walk_passes_end_it)
{
	static const uint8_t stops[] = { IPPROTO_ESP, IPPROTO_NONE, IPPROTO_ICMPV6, 253 };

	for (size_t i = 0; i < sizeof(stops); i++) {
		struct packet p;
		struct dplb_ipv6_walk w;

		packet_init(&p);
		add_options(&p, IPPROTO_DSTOPTS, 0);
		add_upper(&p, stops[i]);
		cr_assert_eq(walk(&p, &w), DPLB_IPV6_WALKED);
		cr_assert_eq(w.protocol, stops[i]);
		cr_assert_eq(w.l4_offset, IPV6_HEADER + 8);
	}
}

Test(ipv6_walk, hop_by_hop_is_only_taken_first)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_options(&p, IPPROTO_DSTOPTS, 0);
	add_options(&p, IPPROTO_HOPOPTS, 0);
	add_upper(&p, IPPROTO_TCP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_MALFORMED);
}

Test(ipv6_walk, two_fragment_headers_are_refused)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_fragment(&p, 0, true, 1);
	add_fragment(&p, 0, true, 2);
	add_upper(&p, IPPROTO_UDP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_MALFORMED);
}

Test(ipv6_walk, chains_longer_than_the_bound_are_refused)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	for (int i = 0; i < DPLB_IPV6_MAX_EXTENSIONS; i++)
		add_options(&p, IPPROTO_DSTOPTS, 0);
	add_upper(&p, IPPROTO_TCP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.extensions, DPLB_IPV6_MAX_EXTENSIONS);

	packet_init(&p);
	for (int i = 0; i <= DPLB_IPV6_MAX_EXTENSIONS; i++)
		add_options(&p, IPPROTO_DSTOPTS, 0);
	add_upper(&p, IPPROTO_TCP);
	cr_assert_eq(walk(&p, &w), DPLB_IPV6_TOO_MANY);
}

/* Every cut of a chain short of its upper layer: truncated, never read past. */
Test(ipv6_walk, a_chain_cut_anywhere_is_truncated)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	add_options(&p, IPPROTO_HOPOPTS, 1);
	add_ah(&p, 1);
	add_fragment(&p, 0, true, 5);
	add_options(&p, IPPROTO_DSTOPTS, 3);
	const uint32_t headers_end = p.length;

	add_upper(&p, IPPROTO_TCP);
	for (uint32_t cut = IPV6_HEADER; cut < headers_end; cut++) {
		/* Both limits: the first segment's bytes, and the packet's. */
		cr_assert_eq(dplb_ipv6_walk(p.bytes, cut, p.length, &w), DPLB_IPV6_TRUNCATED,
			     "first segment cut at %u", cut);
		cr_assert_eq(dplb_ipv6_walk(p.bytes, p.length, cut, &w), DPLB_IPV6_TRUNCATED,
			     "packet cut at %u", cut);
	}
	cr_assert_eq(dplb_ipv6_walk(p.bytes, headers_end, headers_end, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.l4_offset, headers_end);
}

/* The largest lengths a header can claim stay within the bytes at hand. */
Test(ipv6_walk, the_largest_claimed_lengths_are_bounded)
{
	struct packet p;
	struct dplb_ipv6_walk w;

	packet_init(&p);
	p.bytes[6] = IPPROTO_ROUTING;
	p.bytes[IPV6_HEADER] = IPPROTO_TCP;
	p.bytes[IPV6_HEADER + 1] = 255; /* 2048 bytes */
	cr_assert_eq(dplb_ipv6_walk(p.bytes, 1500, 1500, &w), DPLB_IPV6_TRUNCATED);
	p.bytes[6] = IPPROTO_AH;
	cr_assert_eq(dplb_ipv6_walk(p.bytes, 1000, 1000, &w), DPLB_IPV6_TRUNCATED);
	cr_assert_eq(dplb_ipv6_walk(p.bytes, 2048, 2048, &w), DPLB_IPV6_WALKED);
	cr_assert_eq(w.l4_offset, IPV6_HEADER + 4 * 257);
}
