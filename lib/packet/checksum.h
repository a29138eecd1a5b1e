/*
 * Incremental update of an Internet checksum (RFC 1624) when one 16-bit
 * word of what it covers changes, so the rest need not be read again; and
 * the IPv6 pseudo-header's part of an upper-layer checksum (RFC 8200 8.1).
 * DPDK-free, so that it is unit tested without EAL.
 */
#ifndef DPLB_CHECKSUM_H
#define DPLB_CHECKSUM_H

#include <stdint.h>
#include <string.h>

/*
 * The checksum that replaces checksum once the word old_word becomes
 * new_word: HC' = ~(~HC + ~m + m') (RFC 1624, eqn. 3). All three as
 * numbers, not bytes: in host order, each read from network order. A word
 * at an odd offset from the start of what the checksum covers contributes
 * its bytes swapped; the caller swaps both words then.
 */
static inline uint16_t dplb_checksum_adjust(uint16_t checksum, uint16_t old_word, uint16_t new_word)
{
	uint32_t sum = (uint32_t)(uint16_t)~checksum + (uint16_t)~old_word + new_word;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A ones' complement sum folded to 16 bits (not complemented). */
static inline uint16_t dplb_checksum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * The unfolded sum of the IPv6 pseudo-header: source, destination (16 bytes
 * each, network order), the upper-layer length and next header. Summed as
 * rte_raw_cksum sums: 16-bit words as they lie in memory, so that it adds
 * to rte_raw_cksum's sum of the upper layer, and the folded, complemented
 * total is stored as it is.
 */
static inline uint32_t dplb_ipv6_pseudo_header_sum(const uint8_t src[16], const uint8_t dst[16],
						   uint32_t upper_length, uint8_t next_header)
{
	const uint8_t tail[8] = { (uint8_t)(upper_length >> 24),
				  (uint8_t)(upper_length >> 16),
				  (uint8_t)(upper_length >> 8),
				  (uint8_t)upper_length,
				  0,
				  0,
				  0,
				  next_header };
	uint32_t sum = 0;
	uint16_t word;

	for (int i = 0; i < 16; i += 2) {
		memcpy(&word, src + i, sizeof(word));
		sum += word;
		memcpy(&word, dst + i, sizeof(word));
		sum += word;
	}
	for (int i = 0; i < 8; i += 2) {
		memcpy(&word, tail + i, sizeof(word));
		sum += word;
	}
	return sum;
}

#endif
