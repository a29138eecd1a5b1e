/*
 * Frames built byte by byte for the packet library's unit tests (parse,
 * encapsulation, ICMPv6), the mbufs that carry them (one segment or a
 * chain), and an Internet checksum of their own: big-endian words summed
 * from bytes, so that it checks rte_raw_cksum and dplb's sums rather than
 * repeating them.
 *
 * A test calls frame_eal_init() in its init fixture (an EAL without
 * hugepages, dpdk_test.h, and a mempool) and frame_eal_fini() in its fini.
 */
#ifndef DPLB_TEST_FRAME_BUILDER_H
#define DPLB_TEST_FRAME_BUILDER_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_mbuf.h>

#include "dpdk_test.h"

static struct rte_mempool *frame_pool;

static inline void frame_eal_init(void)
{
	test_eal_init(NULL);
	frame_pool = rte_pktmbuf_pool_create("frame_mbufs", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					     SOCKET_ID_ANY);
	cr_assert_not_null(frame_pool, "mbuf pool: %s", rte_strerror(rte_errno));
}

static inline void frame_eal_fini(void)
{
	rte_mempool_free(frame_pool);
	test_eal_fini();
}

struct frame {
	uint8_t bytes[4096];
	uint16_t len;
	uint16_t l3;	      /* where the IP header starts */
	uint16_t l4;	      /* where the upper layer starts */
	uint8_t *next_header; /* IPv6: the last header's next-header byte */
};

static inline void frame_put(struct frame *f, const void *bytes, uint16_t len)
{
	cr_assert_leq(f->len + len, sizeof(f->bytes));
	memcpy(f->bytes + f->len, bytes, len);
	f->len += len;
}

static inline void frame_put16(struct frame *f, uint16_t value)
{
	const uint8_t bytes[2] = { (uint8_t)(value >> 8), (uint8_t)value };

	frame_put(f, bytes, 2);
}

static inline void frame_set16(struct frame *f, uint16_t offset, uint16_t value)
{
	f->bytes[offset] = (uint8_t)(value >> 8);
	f->bytes[offset + 1] = (uint8_t)value;
}

static inline uint16_t frame_get16(const uint8_t *bytes)
{
	return (uint16_t)(bytes[0] << 8 | bytes[1]);
}

static inline uint32_t frame_get32(const uint8_t *bytes)
{
	return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
	       bytes[3];
}

static const uint8_t FRAME_OUR_MAC[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t FRAME_CLIENT_MAC[6] = { 0x02, 0, 0, 0, 0, 0x99 };

/* Ethernet from the client to us, tagged with vlan when it is not 0. */
static inline void frame_ethernet(struct frame *f, uint16_t vlan, uint16_t ether_type)
{
	memset(f, 0, sizeof(*f));
	frame_put(f, FRAME_OUR_MAC, 6);
	frame_put(f, FRAME_CLIENT_MAC, 6);
	if (vlan != 0) {
		frame_put16(f, 0x8100);
		frame_put16(f, vlan);
	}
	frame_put16(f, ether_type);
	f->l3 = f->len;
}

static inline void frame_address6(uint8_t out[16], const char *text)
{
	cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "%s", text);
}

/* An IPv6 header (its payload length set by frame_finish_ipv6). */
static inline void frame_ipv6(struct frame *f, const char *src, const char *dst, uint8_t tc,
			      uint32_t flow_label, uint8_t hop_limit)
{
	uint8_t header[40] = { 0 };
	const uint32_t vtc = 6u << 28 | (uint32_t)tc << 20 | (flow_label & 0xfffff);

	header[0] = (uint8_t)(vtc >> 24);
	header[1] = (uint8_t)(vtc >> 16);
	header[2] = (uint8_t)(vtc >> 8);
	header[3] = (uint8_t)vtc;
	header[6] = IPPROTO_NONE;
	header[7] = hop_limit;
	frame_address6(header + 8, src);
	frame_address6(header + 24, dst);
	frame_put(f, header, sizeof(header));
	f->next_header = &f->bytes[f->l3 + 6];
}

/* An options-style extension header (hop-by-hop, routing, destination
 * options) of 8 (units + 1) bytes. */
static inline void frame_ipv6_options(struct frame *f, uint8_t kind, uint8_t units)
{
	uint8_t header[8 * 256] = { 0 };

	*f->next_header = kind;
	header[0] = IPPROTO_NONE;
	header[1] = units;
	frame_put(f, header, (uint16_t)(8 * (units + 1)));
	f->next_header = &f->bytes[f->len - 8 * (units + 1)];
}

static inline void frame_ipv6_fragment(struct frame *f, uint16_t offset, bool more, uint32_t id)
{
	const uint16_t data = (uint16_t)(offset | (more ? 1 : 0));
	const uint8_t header[8] = { IPPROTO_NONE,	  0,
				    (uint8_t)(data >> 8), (uint8_t)data,
				    (uint8_t)(id >> 24),  (uint8_t)(id >> 16),
				    (uint8_t)(id >> 8),	  (uint8_t)id };

	*f->next_header = IPPROTO_FRAGMENT;
	frame_put(f, header, sizeof(header));
	f->next_header = &f->bytes[f->len - 8];
}

/* The upper layer: protocol, its bytes (a header and payload). */
static inline void frame_upper(struct frame *f, uint8_t protocol, const void *bytes, uint16_t len)
{
	if (f->next_header != NULL)
		*f->next_header = protocol;
	f->l4 = f->len;
	frame_put(f, bytes, len);
}

static inline void frame_finish_ipv6(struct frame *f)
{
	frame_set16(f, f->l3 + 4, (uint16_t)(f->len - f->l3 - 40));
}

/* The one's complement sum of len bytes as big-endian words, folded. */
static inline uint16_t frame_sum(uint32_t sum, const uint8_t *bytes, size_t len)
{
	for (size_t i = 0; i < len; i += 2)
		sum += (uint32_t)bytes[i] << 8 | (i + 1 < len ? bytes[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The upper-layer checksum under the IPv6 pseudo-header of the header at
 * ip6, over len bytes at upper (checksum field included, as it is). */
static inline uint16_t frame_ipv6_upper_sum(const uint8_t *ip6, uint8_t protocol,
					    const uint8_t *upper, uint32_t len)
{
	const uint8_t tail[8] = { (uint8_t)(len >> 24),
				  (uint8_t)(len >> 16),
				  (uint8_t)(len >> 8),
				  (uint8_t)len,
				  0,
				  0,
				  0,
				  protocol };

	return frame_sum(frame_sum(frame_sum(0, ip6 + 8, 32), tail, 8), upper, len);
}

/* An IPv4 header with DF as given, its length and checksum set by
 * frame_finish_ipv4. */
static inline void frame_ipv4(struct frame *f, const char *src, const char *dst, uint8_t tos,
			      bool df, uint8_t protocol)
{
	uint8_t header[20] = { 0x45, tos };

	header[4] = 0x12;
	header[5] = 0x34;
	header[6] = df ? 0x40 : 0;
	header[8] = 64;
	header[9] = protocol;
	cr_assert_eq(inet_pton(AF_INET, src, header + 12), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, header + 16), 1);
	frame_put(f, header, sizeof(header));
	f->next_header = NULL;
}

static inline void frame_finish_ipv4(struct frame *f)
{
	frame_set16(f, f->l3 + 2, (uint16_t)(f->len - f->l3));
	frame_set16(f, f->l3 + 10, 0);
	frame_set16(f, f->l3 + 10, (uint16_t)~frame_sum(0, f->bytes + f->l3, 20));
}

/* An upper-layer header of header_len bytes starting with the ports (zero
 * beyond them), and payload bytes of a pattern after it. */
static inline uint16_t frame_ports(uint8_t *out, uint16_t header_len, uint16_t src_port,
				   uint16_t dst_port, uint16_t payload)
{
	memset(out, 0, (size_t)header_len + payload);
	out[0] = (uint8_t)(src_port >> 8);
	out[1] = (uint8_t)src_port;
	out[2] = (uint8_t)(dst_port >> 8);
	out[3] = (uint8_t)dst_port;
	for (uint16_t i = 0; i < payload; i++)
		out[header_len + i] = (uint8_t)(i * 7 + header_len);
	return (uint16_t)(header_len + payload);
}

/* A TCP header (20 bytes, flags) and payload bytes. */
static inline uint16_t frame_tcp(uint8_t *out, uint16_t src_port, uint16_t dst_port, uint8_t flags,
				 uint16_t payload)
{
	const uint16_t len = frame_ports(out, 20, src_port, dst_port, payload);

	out[12] = 0x50;
	out[13] = flags;
	return len;
}

/* A UDP header and payload bytes. */
static inline uint16_t frame_udp(uint8_t *out, uint16_t src_port, uint16_t dst_port,
				 uint16_t payload)
{
	const uint16_t len = frame_ports(out, 8, src_port, dst_port, payload);

	out[4] = (uint8_t)(len >> 8);
	out[5] = (uint8_t)len;
	return len;
}

/* The frame in one mbuf, with the default headroom. */
static inline struct rte_mbuf *frame_mbuf(const struct frame *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(frame_pool);

	cr_assert_not_null(m);
	void *data = rte_pktmbuf_append(m, f->len);
	cr_assert_not_null(data);
	memcpy(data, f->bytes, f->len);
	return m;
}

/* The frame in a chain: first bytes in the first segment, then segments of
 * seg_len bytes (odd lengths welcome). */
static inline struct rte_mbuf *frame_mbuf_chain(const struct frame *f, uint16_t first,
						uint16_t seg_len)
{
	struct rte_mbuf *head = NULL;
	uint16_t done = 0;

	while (done < f->len) {
		struct rte_mbuf *seg = rte_pktmbuf_alloc(frame_pool);
		const uint16_t take = RTE_MIN((uint16_t)(head == NULL ? first : seg_len),
					      (uint16_t)(f->len - done));

		cr_assert_not_null(seg);
		memcpy(rte_pktmbuf_append(seg, take), f->bytes + done, take);
		done += take;
		if (head == NULL)
			head = seg;
		else
			cr_assert_eq(rte_pktmbuf_chain(head, seg), 0);
	}
	return head;
}

/* The mbuf's bytes, every segment, into out; returns the length. */
static inline uint32_t frame_of_mbuf(const struct rte_mbuf *m, uint8_t *out, uint32_t size)
{
	const uint32_t len = rte_pktmbuf_pkt_len(m);

	cr_assert_leq(len, size);
	const void *bytes = rte_pktmbuf_read(m, 0, len, out);
	if (bytes != out)
		memcpy(out, bytes, len);
	return len;
}

#endif
