/*
 * Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016).
 *
 * Pure C, no DPDK: the builder runs on the management lcore and in unit
 * tests. Each backend is known by a stable key (its address, plus port where
 * that matters), never by its position in the configuration, so two dplb
 * instances given the same backends in any order build identical tables and
 * make the same choices behind ECMP.
 */
#ifndef DPLB_MAGLEV_H
#define DPLB_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAGLEV_NO_BACKEND UINT32_MAX

struct maglev_backend {
	const void *key; /* stable identity bytes, e.g. the address */
	size_t key_len;
	uint32_t weight; /* > 0; a backend's share of slots is weight / sum */
};

/*
 * Fill table[0..m-1] with indexes into backends[] (the caller's order).
 * With n == 0 every slot is MAGLEV_NO_BACKEND.
 * Returns 0, or -EINVAL (m not prime, m < n, a zero weight, a NULL key,
 * two backends with the same key) or -ENOMEM. Deterministic: depends only
 * on the set of (key, weight) pairs and m.
 *
 * Also -EINVAL: key_len 0, a NULL table, NULL backends with n > 0. On any
 * error table[] is left untouched. Each backend owns floor or ceil of
 * m * weight / sum(weights) slots (so possibly none for a tiny weight).
 * No global state: callable from any thread; it allocates, so keep it off
 * the workers' lcores.
 */
int maglev_build(const struct maglev_backend *backends, uint32_t n, uint32_t m, uint32_t *table);

/* Map a 32-bit flow hash to a slot in [0, m) without a division
 * (Lemire's multiply-shift reduction). */
static inline uint32_t maglev_slot(uint32_t flow_hash, uint32_t m)
{
	return (uint32_t)(((uint64_t)flow_hash * m) >> 32);
}

#endif
