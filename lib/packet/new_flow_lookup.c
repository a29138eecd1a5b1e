/*
 * The worker's scheduling of a new flow, replayed on the management lcore
 * for GET /vips/NAME/lookup: the same key, the same hash, and the same
 * pick (dplb_hash_pick, shared with worker.c). The API tests compare its
 * answers with real forwarding.
 */
#include "packet/flow_table.h"
#include "packet/maglev.h"
#include "packet/new_flow_lookup.h"
#include "packet/schedule.h"

void dplb_new_flow_lookup(const struct dplb_vip_entry *vip, uint32_t src, uint16_t sport,
			  uint16_t dport, struct dplb_new_flow *out)
{
	/* The same 16 bytes the worker takes from the headers, padding zero. */
	struct dplb_flow_key key = { .words = { 0, 0 } };

	key.src_addr = src;
	key.dst_addr = vip->address;
	key.src_port = sport;
	key.dst_port = dport;
	key.protocol = vip->protocol;
	out->flow_hash = dplb_flow_hash(&key);
	out->exact = true;
	out->backend_id = MAGLEV_NO_BACKEND;
	if (vip->up_count == 0)
		return;
	switch (vip->scheduler) {
	case DPLB_SCHED_MAGLEV:
	case DPLB_SCHED_SOURCE_HASH:
		out->backend_id = dplb_hash_pick(vip, &key, out->flow_hash);
		return;
	default:
		out->exact = false;
		out->backend_id = vip->up_ids[0];
		return;
	}
}
