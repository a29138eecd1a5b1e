/*
 * The IPv6 neighbour table: MAC addresses of IPv6 next hops (backends
 * on-link, else gateway6), learned by neighbour discovery.
 *
 * PLACEHOLDER (h-config): only the table and the lookup that snapshots are
 * built with (control/state.c), so that the control plane links and is
 * tested; the lead's neighbor6.h and neighbor6.c (solicitations, learning,
 * expiry) replace these two files whole when merged.
 */
#ifndef DPLB_NEIGHBOR6_H
#define DPLB_NEIGHBOR6_H

#include <stdbool.h>
#include <stdint.h>

#include "control/neighbor.h"

struct dplb_neighbors6 {
	uint32_t count;
	struct {
		uint8_t address[16]; /* network order */
		uint8_t mac[6];
		bool resolved;
	} entries[DPLB_MAX_NEIGHBORS];
};

/* The MAC of address when resolved, else NULL. Any thread that owns table. */
const uint8_t *dplb_neighbors6_lookup(const struct dplb_neighbors6 *table,
				      const uint8_t address[16]);

#endif
