/*
 * The worker's scheduling of a new flow, replayed on the management lcore
 * for GET /vips/NAME/lookup. Keep it in step with schedule_flow() in
 * worker.c: the API tests compare its answers with real forwarding.
 */
#include <rte_hash_crc.h>

#include "flow_table.h"
#include "maglev.h"
#include "new_flow_lookup.h"

void dplb_new_flow_lookup(const struct dplb_vip_entry *vip, uint32_t src, uint16_t sport,
			  uint16_t dport, struct dplb_new_flow *out)
{
	/* Built field by field as the worker does, padding zeroed. */
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
		out->backend_id = vip->maglev[maglev_slot(out->flow_hash, vip->maglev_size)];
		return;
	case DPLB_SCHED_SOURCE_HASH:
		out->backend_id = vip->maglev[maglev_slot(
			rte_hash_crc_4byte(key.src_addr, DPLB_FLOW_HASH_SEED), vip->maglev_size)];
		return;
	default:
		out->exact = false;
		out->backend_id = vip->up_ids[0];
		return;
	}
}
