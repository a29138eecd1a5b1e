/*
 * The walk from an IPv6 header to its upper-layer header, through the
 * extension headers a router or client may put between them (RFC 8200):
 * hop-by-hop options (first only), routing, destination options,
 * authentication (AH) and fragment.
 *
 * The piece of IPv6 parsing that needs care: every extension header's
 * length comes from the packet, so each is read only once the bytes under
 * it are known to be there, the walk visits at most
 * DPLB_IPV6_MAX_EXTENSIONS of them (a chain of hundreds of empty options
 * headers costs a worker nothing more than a short one), and a malformed
 * chain is refused whole. How to step over one header is DPDK's
 * rte_ipv6_get_next_ext; the bounds are ours.
 *
 * A fragment header with a non-zero offset ends the walk: the upper-layer
 * header is in the first fragment only. An atomic fragment (offset 0, no
 * more fragments: RFC 6946) is a whole packet, and walked on.
 *
 * Used by the worker's parser; any thread; touches only the bytes given.
 */
#ifndef DPLB_IPV6_WALK_H
#define DPLB_IPV6_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ip.h>

/* Extension headers walked at most. Real traffic carries one or two; RFC
 * 8200 orders at most six kinds, destination options possibly twice. */
#define DPLB_IPV6_MAX_EXTENSIONS 8

enum dplb_ipv6_walk_result {
	DPLB_IPV6_WALKED,    /* upper layer (or a later fragment) reached */
	DPLB_IPV6_TRUNCATED, /* a header runs past the bytes at hand */
	DPLB_IPV6_MALFORMED, /* hop-by-hop not first, a bad fragment header */
	DPLB_IPV6_TOO_MANY,  /* more than DPLB_IPV6_MAX_EXTENSIONS */
};

struct dplb_ipv6_walk {
	uint16_t l4_offset;	  /* from the IPv6 header's first byte */
	uint8_t protocol;	  /* the next header after the walk: TCP, UDP, ICMPv6... */
	uint8_t extensions;	  /* extension headers walked */
	bool fragment;		  /* a fragment header, not atomic */
	bool more_fragments;	  /* its M flag */
	uint16_t fragment_offset; /* bytes */
	rte_be32_t fragment_id;	  /* network order */
	/* Where the fragment's data (the fragmentable part) starts: just
	 * after the fragment header. */
	uint16_t fragment_data;
};

/*
 * Walk the headers of the IPv6 packet at ip6, of which available bytes are
 * at hand (the first segment) and packet_len bytes exist in all (40 plus
 * its payload length, already checked against the frame). On
 * DPLB_IPV6_WALKED, out says where the upper layer starts; the caller
 * checks that its header fits.
 */
static inline enum dplb_ipv6_walk_result dplb_ipv6_walk(const uint8_t *ip6, uint32_t available,
							uint32_t packet_len,
							struct dplb_ipv6_walk *out)
{
	const struct rte_ipv6_hdr *hdr = (const struct rte_ipv6_hdr *)ip6;
	const uint32_t limit = available < packet_len ? available : packet_len;
	uint32_t offset = sizeof(*hdr);
	int next = hdr->proto;

	out->extensions = 0;
	out->fragment = false;
	out->more_fragments = false;
	out->fragment_offset = 0;
	out->fragment_id = 0;
	out->fragment_data = 0;
	for (;;) {
		size_t length;

		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_AH && next != IPPROTO_FRAGMENT)
			break; /* the upper layer, or a header no walk can pass (ESP) */
		if (next == IPPROTO_HOPOPTS && out->extensions != 0)
			return DPLB_IPV6_MALFORMED;
		if (out->extensions == DPLB_IPV6_MAX_EXTENSIONS)
			return DPLB_IPV6_TOO_MANY;
		/* Every extension header starts with its next header and, but
		 * for the fragment header, its length. */
		if (offset + 2 > limit)
			return DPLB_IPV6_TRUNCATED;
		const int following = rte_ipv6_get_next_ext(ip6 + offset, next, &length);

		if (following < 0)
			return DPLB_IPV6_MALFORMED;
		if (offset + length > limit)
			return DPLB_IPV6_TRUNCATED;
		out->extensions++;
		if (next == IPPROTO_FRAGMENT) {
			const struct rte_ipv6_fragment_ext *frag =
				(const struct rte_ipv6_fragment_ext *)(ip6 + offset);
			const uint16_t data = rte_be_to_cpu_16(frag->frag_data);
			const uint16_t fragment_offset = RTE_IPV6_GET_FO(data) << 3;
			const bool more = RTE_IPV6_GET_MF(data) != 0;

			if (out->fragment)
				return DPLB_IPV6_MALFORMED; /* two fragment headers */
			offset += (uint32_t)length;
			next = following;
			if (fragment_offset == 0 && !more)
				continue; /* atomic: the whole packet */
			out->fragment = true;
			out->more_fragments = more;
			out->fragment_offset = fragment_offset;
			out->fragment_id = frag->id;
			out->fragment_data = (uint16_t)offset;
			if (fragment_offset != 0)
				break; /* no upper-layer header in this piece */
			continue;
		}
		offset += (uint32_t)length;
		next = following;
	}
	out->l4_offset = (uint16_t)offset;
	out->protocol = (uint8_t)next;
	return DPLB_IPV6_WALKED;
}

#endif
