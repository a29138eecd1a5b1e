/*
 * Which backend a new flow would get: the question an operator asks before
 * draining a backend or when a client reports trouble. Answered from the
 * current snapshot exactly the way a worker schedules a flow it has not
 * seen (the same key, the same hash, the same table), so for the hashing
 * schedulers (maglev, source-hash) the answer is what the data path does.
 * The other schedulers depend on each worker's own state (round-robin
 * cursors, per-worker flow counts), so for them it can only name the
 * candidates.
 */
#ifndef DPLB_NEW_FLOW_LOOKUP_H
#define DPLB_NEW_FLOW_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "control/state.h"

struct dplb_new_flow {
	uint32_t flow_hash;  /* dplb_flow_hash of the 5-tuple */
	uint32_t backend_id; /* MAGLEV_NO_BACKEND when no backend is up */
	bool exact;          /* false: backend_id is only one of vip->up_ids */
};

/*
 * The pick for a new flow from src:sport (network order) to vip's address
 * and dport (network order), over vip's protocol. For round-robin,
 * weighted-round-robin and least-connections, exact is false and
 * backend_id is the first candidate. Any thread that may read the snapshot.
 */
void dplb_new_flow_lookup(const struct dplb_vip_entry *vip, uint32_t src, uint16_t sport,
			  uint16_t dport, struct dplb_new_flow *out);

#endif
