/*
 * TCP MSS clamping: lowering the maximum segment size a SYN announces, so
 * that whoever answers it sends segments no bigger than a path can carry.
 *
 * The option list is walked whole before anything is written: a list that
 * runs past the header, an option shorter than its own kind and length
 * bytes, an MSS option of any length but 4 or a second MSS option make the
 * list malformed, and a malformed list is left as it came (the receiver
 * judges it, not dplb). The walk is bounded by the header: at most 40
 * bytes of options, every step at least one byte. DPDK-free, so that it is
 * unit tested without EAL; the caller knows the header is whole in memory.
 */
#ifndef DPLB_TCP_MSS_H
#define DPLB_TCP_MSS_H

#include <stdbool.h>
#include <stdint.h>

#include "packet/checksum.h"

#define DPLB_TCP_HEADER_MIN 20
#define DPLB_TCP_HEADER_MAX 60
#define DPLB_TCP_CHECKSUM_OFFSET 16

#define DPLB_TCP_OPTION_END 0
#define DPLB_TCP_OPTION_NOP 1
#define DPLB_TCP_OPTION_MSS 2
#define DPLB_TCP_OPTION_MSS_LEN 4

/*
 * The offset in tcp of the MSS option's 2-byte value, or 0 when the header
 * has no MSS option or its option list is malformed. header_len is the
 * header's length from its data offset (20..60); tcp holds that many bytes.
 */
static inline uint32_t dplb_tcp_mss_offset(const uint8_t *tcp, uint32_t header_len)
{
	uint32_t found = 0;
	uint32_t i = DPLB_TCP_HEADER_MIN;

	if (header_len < DPLB_TCP_HEADER_MIN || header_len > DPLB_TCP_HEADER_MAX)
		return 0;
	while (i < header_len) {
		const uint8_t kind = tcp[i];

		if (kind == DPLB_TCP_OPTION_END)
			break; /* what follows is padding */
		if (kind == DPLB_TCP_OPTION_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= header_len)
			return 0; /* no room for the length byte */
		const uint32_t length = tcp[i + 1];
		if (length < 2 || length > header_len - i)
			return 0;
		if (kind == DPLB_TCP_OPTION_MSS) {
			if (length != DPLB_TCP_OPTION_MSS_LEN || found != 0)
				return 0;
			found = i + 2;
		}
		i += length;
	}
	return found;
}

/*
 * Lower the MSS a TCP header announces to clamp when it announces more,
 * and update the TCP checksum to match (RFC 1624; the pseudo-header does
 * not change). Returns true when the header was changed; a header without
 * an MSS option, with one of at most clamp, or with a malformed option list
 * is left untouched.
 */
static inline bool dplb_tcp_clamp_mss(uint8_t *tcp, uint32_t header_len, uint16_t clamp)
{
	const uint32_t at = dplb_tcp_mss_offset(tcp, header_len);

	if (at == 0)
		return false;
	const uint16_t mss = (uint16_t)(tcp[at] << 8 | tcp[at + 1]);
	if (mss <= clamp)
		return false;

	/* The checksum sums 16-bit words from the header's start: a value at
	 * an odd offset straddles two of them and counts byte-swapped. */
	const bool odd = at & 1;
	const uint16_t old_word = odd ? (uint16_t)(mss << 8 | mss >> 8) : mss;
	const uint16_t new_word = odd ? (uint16_t)(clamp << 8 | clamp >> 8) : clamp;
	uint8_t *checksum = tcp + DPLB_TCP_CHECKSUM_OFFSET;
	const uint16_t updated = dplb_checksum_adjust((uint16_t)(checksum[0] << 8 | checksum[1]),
						      old_word, new_word);

	tcp[at] = (uint8_t)(clamp >> 8);
	tcp[at + 1] = (uint8_t)clamp;
	checksum[0] = (uint8_t)(updated >> 8);
	checksum[1] = (uint8_t)updated;
	return true;
}

#endif
