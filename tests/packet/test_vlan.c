/*
 * vlan.h: the tag put on frames dplb sends itself, and taken off frames
 * for the kernel, compared byte for byte with frames built with and
 * without it.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "frame_builder.h"
#include "packet/vlan.h"

TestSuite(vlan, .init = frame_eal_init, .fini = frame_eal_fini);

/* A small frame of ether_type, tagged with tci when it is not 0. */
static void sample_frame(struct frame *f, uint16_t tci)
{
	static const uint8_t payload[28] = {
		0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1
	};

	frame_ethernet(f, tci, 0x0806);
	frame_put(f, payload, sizeof(payload));
}

static void expect_frame(const struct rte_mbuf *m, const struct frame *expected)
{
	cr_assert_eq(rte_pktmbuf_data_len(m), expected->len);
	cr_assert_eq(rte_pktmbuf_pkt_len(m), expected->len);
	cr_assert_arr_eq(rte_pktmbuf_mtod(m, const uint8_t *), expected->bytes, expected->len);
}

Test(vlan, a_tag_goes_between_the_addresses_and_the_ether_type)
{
	struct frame untagged, tagged;

	sample_frame(&untagged, 0);
	sample_frame(&tagged, 100);
	struct rte_mbuf *m = frame_mbuf(&untagged);

	cr_assert_eq(dplb_vlan_tag(m, 100), 0);
	expect_frame(m, &tagged);
	rte_pktmbuf_free(m);

	/* VLAN 0 is none: untouched. */
	m = frame_mbuf(&untagged);
	cr_assert_eq(dplb_vlan_tag(m, 0), 0);
	expect_frame(m, &untagged);
	rte_pktmbuf_free(m);

	/* Tagged already (a VLAN interface of the kernel's): not tagged twice. */
	struct frame other;
	sample_frame(&other, 200);
	m = frame_mbuf(&other);
	cr_assert_eq(dplb_vlan_tag(m, 100), 0);
	expect_frame(m, &other);
	rte_pktmbuf_free(m);
}

Test(vlan, no_headroom_leaves_the_frame_as_it_was)
{
	struct frame untagged;
	struct rte_mbuf *m = rte_pktmbuf_alloc(frame_pool);

	sample_frame(&untagged, 0);
	cr_assert_not_null(m);
	m->data_off = 0;
	memcpy(rte_pktmbuf_append(m, untagged.len), untagged.bytes, untagged.len);
	cr_assert_eq(dplb_vlan_tag(m, 100), -1);
	expect_frame(m, &untagged);
	rte_pktmbuf_free(m);
}

Test(vlan, only_our_vlans_tag_comes_off)
{
	struct frame untagged, ours, prioritised, other;

	sample_frame(&untagged, 0);
	sample_frame(&ours, 100);
	sample_frame(&prioritised, 0xa000 | 100); /* priority 5, VLAN 100 */
	sample_frame(&other, 200);

	struct rte_mbuf *m = frame_mbuf(&ours);
	cr_assert(dplb_vlan_untag(m, 100));
	expect_frame(m, &untagged);
	cr_assert_eq(m->ol_flags & (RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED), 0);
	/* Untagged now: nothing more comes off. */
	cr_assert_not(dplb_vlan_untag(m, 100));
	expect_frame(m, &untagged);
	rte_pktmbuf_free(m);

	m = frame_mbuf(&prioritised);
	cr_assert(dplb_vlan_untag(m, 100));
	expect_frame(m, &untagged);
	rte_pktmbuf_free(m);

	/* Another VLAN's frame, or with no VLAN configured: kept whole. */
	m = frame_mbuf(&other);
	cr_assert_not(dplb_vlan_untag(m, 100));
	expect_frame(m, &other);
	cr_assert_not(dplb_vlan_untag(m, 0));
	expect_frame(m, &other);
	rte_pktmbuf_free(m);

	/* A tag type with no tag after it. */
	struct frame truncated;
	frame_ethernet(&truncated, 0, 0x8100);
	m = frame_mbuf(&truncated);
	cr_assert_not(dplb_vlan_untag(m, 100));
	expect_frame(m, &truncated);
	rte_pktmbuf_free(m);
}
