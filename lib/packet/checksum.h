/*
 * Incremental update of an Internet checksum (RFC 1624) when one 16-bit
 * word of what it covers changes, so the rest need not be read again.
 * DPDK-free, so that it is unit tested without EAL.
 */
#ifndef DPLB_CHECKSUM_H
#define DPLB_CHECKSUM_H

#include <stdint.h>

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

#endif
