/*
 * What the IPv4 and IPv6 flow tables share (flow_table.h, flow_table6.h):
 * the meta word of a slot, the four flow kinds, what an expired slot held,
 * and how a key's hash picks its two buckets. Declared once here so that
 * the two families cannot drift apart; everything that depends on the key
 * is in flow_table_template.h.
 */
#ifndef DPLB_FLOW_TABLE_COMMON_H
#define DPLB_FLOW_TABLE_COMMON_H

#include <stdint.h>

/* Moves an insert may make to free a slot in one of its buckets. */
#define DPLB_FLOW_MAX_MOVES 2

/*
 * A slot's meta word: VIP id (10 bits), the flow's kind (2 bits, its
 * timeout class), whether the key lives in its secondary bucket, and the
 * free mark. Free slots never equal a VIP id under DPLB_FLOW_MATCH_MASK.
 */
#define DPLB_FLOW_VIP_BITS 10
#define DPLB_FLOW_VIP_MASK ((1u << DPLB_FLOW_VIP_BITS) - 1)
#define DPLB_FLOW_KIND_SHIFT 12
#define DPLB_FLOW_KIND_MASK (3u << DPLB_FLOW_KIND_SHIFT)
#define DPLB_FLOW_SECONDARY 0x4000u
#define DPLB_FLOW_FREE 0x8000u
#define DPLB_FLOW_MATCH_MASK (DPLB_FLOW_FREE | DPLB_FLOW_VIP_MASK)

/* The timeout class of a flow. */
enum dplb_flow_kind {
	DPLB_FLOW_UDP,	       /* and any protocol without connections */
	DPLB_FLOW_TCP,	       /* established: the client sent more than SYNs */
	DPLB_FLOW_TCP_CLOSING, /* the client sent FIN or RST */
	DPLB_FLOW_TCP_OPENING, /* the client has sent only SYNs so far */
	DPLB_FLOW_KINDS,       /* all four fit the meta word's two bits */
};

_Static_assert(DPLB_FLOW_KINDS <= (DPLB_FLOW_KIND_MASK >> DPLB_FLOW_KIND_SHIFT) + 1,
	       "every kind fits the meta word");

/* What an expired or reused slot held, for the caller's counters. */
struct dplb_flow_gone {
	uint16_t vip_id;
	uint16_t backend_id;
};

/* Lemire's multiply-shift: a 32-bit value onto [0, n) without a division. */
static inline uint32_t dplb_flow_range(uint32_t value, uint32_t n)
{
	return (uint32_t)(((uint64_t)value * n) >> 32);
}

/* A key's two buckets of n (n >= 2) from its hash: the primary from its
 * high bits, the secondary from the hash multiplied by an odd constant (a
 * bijection, so keys sharing a primary are spread over many secondaries),
 * never the same bucket. A macro, not a function: with the probe's fields
 * as its outputs, the lookups compile exactly as they did when this was
 * written in the IPv4 table itself (a function writing through pointers
 * changed the register allocation of the worker's burst loop). */
#define DPLB_FLOW_PICK_BUCKETS(hash, n, primary, secondary)                                        \
	do {                                                                                       \
		(primary) = dplb_flow_range((hash), (n));                                          \
		(secondary) = dplb_flow_range((hash)*0x9e3779b1u, (n));                            \
		if ((secondary) == (primary))                                                      \
			(secondary) = (primary) + 1 == (n) ? 0 : (primary) + 1;                    \
	} while (0)

#endif
