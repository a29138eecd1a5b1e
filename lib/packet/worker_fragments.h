/*
 * Fragments of either family (per VIP: fragments = follow | drop), written
 * once and instantiated per family as worker_pipeline.h is: worker.c
 * includes this file after it, with the same WP_* parameters and these:
 *   WP_FRAGMENT_PARSED        DPLB_PARSED_FRAGMENT or DPLB_PARSED_FRAGMENT6
 *   WP_KEY_OF(key, info, src_port, dst_port)  the flow key of a parsed packet
 *   WP_FRAGMENT_VIP(state, key)  dplb_state_fragment_vip of the family
 *   WP_NOT_FOR_VIP(worker, state, m, info)  a fragment for no VIP: to the
 *                             kernel (IPv4) or dropped (IPv6)
 * and a function WP(fragment_key_of)(info, fragment_key) that fills the
 * datagram's fragment key and says whether this is its first fragment.
 *
 * Only a datagram's first fragment (offset 0) carries the ports. It is
 * scheduled as any packet of its flow (flow table, the VIP's scheduler),
 * and the worker remembers where it went in its fragment cache, keyed by
 * (source, destination, protocol, identification). Later fragments look
 * their datagram up there and follow it to the same backend; those that
 * come before their first are held (fragment_hold) and sent once it
 * arrives. What the cache cannot place (the hold is full, a held
 * fragment's first never came, its backend no longer takes flows) goes by
 * a hash of (source, destination, protocol) over the VIP's Maglev table:
 * every fragment of a datagram gets the same backend that way, if not
 * always its first's (for source-hash VIPs it is, both picks hashing the
 * source alone), and every dplb instance behind ECMP makes the same pick.
 * Without ports the VIP is known by destination address and protocol only,
 * so that fallback serves an address and protocol with exactly one VIP
 * (dplb_state_fragment_vip); with several, such fragments are dropped
 * (fragment_unplaced).
 *
 * One worker sees every fragment of a datagram: NICs' RSS hashes
 * fragments, the first included, by the IP addresses only (it cannot see
 * ports in all of them), and dplb asks for IP hashing (RTE_ETH_RSS_IP,
 * which includes fragments of both families), so the per-worker cache
 * needs no sharing.
 *
 * Fragments are tunnelled whole, each one a packet of its own: the
 * backend's kernel reassembles. They are handled as stage 1 meets them,
 * outside the burst's bulk flow lookup (they are rare, and this keeps the
 * path of whole packets as it is), so a first fragment may leave before
 * whole packets that came just ahead of it in the same burst.
 *
 * No include guard: included once per family.
 */

/* Send fragment m of vip to backend_id as its flow's key says (GUE's
 * source port), counted as the backend's traffic. */
static void WP(forward_fragment)(struct dplb_worker *worker, const struct dplb_state *state,
				 uint16_t port_slot, struct rte_mbuf *m,
				 struct dplb_packet_info *info, const struct dplb_vip_entry *vip,
				 uint32_t backend_id, const WP_KEY *key)
{
	if (backend_id != MAGLEV_NO_BACKEND) {
		worker->counters.backend[backend_id].packets_in++;
		worker->counters.backend[backend_id].bytes_in += info->ip_len;
	}
	WP_FORWARD(worker, state, port_slot, m, info, vip, backend_id, key);
}

/* Count a fragment as vip's and check its source (in key) against the
 * VIP's lists; false when it was dropped. */
static bool WP(admit_fragment)(struct dplb_worker *worker, struct rte_mbuf *m,
			       const struct dplb_packet_info *info,
			       const struct dplb_vip_entry *vip, const WP_KEY *key)
{
	worker->counters.vip[vip->id].packets_in++;
	worker->counters.vip[vip->id].bytes_in += info->ip_len;
	if (unlikely(!WP_SOURCE_ALLOWED(worker, vip, key))) {
		drop_packet(worker, m, DPLB_DROP_ACL_DENIED);
		return false;
	}
	return true;
}

/* Whether a later fragment (its key without ports) may be some VIP's to
 * forward, as its address and protocol say (dplb_state_fragment_vip, into
 * *only); when not, it went to the kernel or was dropped. */
static bool WP(fragment_for_a_vip)(struct dplb_worker *worker, const struct dplb_state *state,
				   struct rte_mbuf *m, const struct dplb_packet_info *info,
				   const WP_KEY *key, int32_t *only)
{
	*only = WP_FRAGMENT_VIP(state, key);
	if (*only == DPLB_FRAGMENT_VIP_NONE) {
		WP_NOT_FOR_VIP(worker, state, m, info);
		return false;
	}
	if (*only == DPLB_FRAGMENT_VIP_DROPPED) {
		drop_packet(worker, m, DPLB_DROP_FRAGMENT);
		return false;
	}
	return true;
}

/* A later fragment the cache cannot place: by the 3-tuple hash when one
 * VIP alone serves its address and protocol, else dropped. Looked up
 * again, as a held fragment may meet another snapshot. */
static void WP(send_fragment_hashed)(struct dplb_worker *worker, const struct dplb_state *state,
				     uint16_t port_slot, struct rte_mbuf *m,
				     struct dplb_packet_info *info)
{
	WP_KEY key;
	int32_t only;

	/* The ports left at zero: the same key for every fragment. */
	WP_KEY_OF(&key, info, 0, 0);
	if (!WP(fragment_for_a_vip)(worker, state, m, info, &key, &only))
		return;
	if (only == DPLB_FRAGMENT_VIP_SEVERAL) {
		drop_packet(worker, m, DPLB_DROP_FRAGMENT_UNPLACED);
		return;
	}
	const struct dplb_vip_entry *vip = &state->vips[only];

	if (!WP(admit_fragment)(worker, m, info, vip, &key))
		return;
	worker->counters.fragments_hashed++;
	WP(forward_fragment)
	(worker, state, port_slot, m, info, vip,
	 dplb_maglev_pick(vip, WP_PICK_HASH(vip, &key, WP_FLOW_HASH(&key))), &key);
}

/* Send the held fragments of fragment_key's datagram after their first,
 * which went to backend_id of vip with the 5-tuple key. */
static void WP(release_held_fragments)(struct dplb_worker *worker, const struct dplb_state *state,
				       const struct dplb_fragment_key *fragment_key,
				       const struct dplb_vip_entry *vip, uint32_t backend_id,
				       const WP_KEY *key)
{
	void *held[DPLB_FRAGMENT_HOLD_PACKETS];
	const uint32_t count =
		dplb_fragment_hold_take(&worker->fragment_hold, fragment_key, held, RTE_DIM(held));

	for (uint32_t i = 0; i < count; i++) {
		struct rte_mbuf *m = held[i];
		struct dplb_packet_info info;
		uint16_t port_slot;

		const enum dplb_parse_result parsed = unhold_fragment(worker, m, &info, &port_slot);

		/* Held under a key of this family: never the other's. */
		if (unlikely(parsed != WP_FRAGMENT_PARSED)) {
			if (parsed != DPLB_PARSED_DROP)
				drop_packet(worker, m, DPLB_DROP_BAD_FRAGMENT);
			continue;
		}
		if (!WP(admit_fragment)(worker, m, &info, vip, key))
			continue;
		worker->counters.fragments_released++;
		WP(forward_fragment)(worker, state, port_slot, m, &info, vip, backend_id, key);
	}
}

/* A first fragment: scheduled as its flow's packets are, remembered, and
 * followed by the fragments held for it. */
static void WP(handle_first_fragment)(struct dplb_worker *worker, const struct dplb_state *state,
				      uint16_t port_slot, struct rte_mbuf *m,
				      struct dplb_packet_info *info, const WP_KEY *key,
				      const struct dplb_fragment_key *fragment_key)
{
	const struct dplb_vip_entry *vip = WP_FIND_VIP(state, key);

	if (vip == NULL) {
		WP_NOT_FOR_VIP(worker, state, m, info);
		return;
	}
	if (!WP(admit_fragment)(worker, m, info, vip, key))
		return;
	if (vip->fragments == DPLB_FRAGMENTS_DROP) {
		drop_packet(worker, m, DPLB_DROP_FRAGMENT);
		return;
	}
	struct WP_FT(probe) probe;
	struct WP_FT(ref) ref;

	WP_FT(table_prepare)
	(WP_FLOWS(worker), &probe, WP_FT(client)(key->src_addr, key->src_port, key->dst_port),
	 vip->id);
	const bool found = WP_FT(table_find)(WP_FLOWS(worker), &probe, &ref);
	const uint32_t backend_id =
		WP(resolve_backend)(worker, state, vip, key, info->tcp_flags, &probe, found, &ref);

	if (unlikely(backend_id == DPLB_NEW_FLOW_DROPPED ||
		     backend_id == DPLB_TABLE_FULL_DROPPED)) {
		drop_packet(worker, m,
			    backend_id == DPLB_NEW_FLOW_DROPPED ? DPLB_DROP_RATE_LIMITED
								: DPLB_DROP_TABLE_FULL);
		return;
	}
	worker->counters.fragments_first++;
	if (backend_id != MAGLEV_NO_BACKEND) {
		/* A SYN carrying data (TCP Fast Open) may come fragmented; its
		 * header is whole here (the parser checked), and the checksum
		 * update needs no other fragment. */
		clamp_syn_mss(&worker->counters, vip, info);
		const struct dplb_fragment_place place = { .vip_id = vip->id,
							   .backend_id = (uint16_t)backend_id,
							   .src_port = info->src_port,
							   .dst_port = info->dst_port };

		if (dplb_fragment_cache_add(&worker->fragment_cache, fragment_key, &place,
					    rte_rdtsc()) == DPLB_FRAGMENT_EVICTED)
			worker->counters.fragment_cache_evictions++;
	}
	WP(forward_fragment)(worker, state, port_slot, m, info, vip, backend_id, key);
	if (backend_id != MAGLEV_NO_BACKEND && worker->fragment_hold.count != 0)
		WP(release_held_fragments)(worker, state, fragment_key, vip, backend_id, key);
}

/* A later fragment whose first went to place: follow it there. False when
 * that place no longer holds (the VIP or its backend changed since). */
static bool WP(follow_first_fragment)(struct dplb_worker *worker, const struct dplb_state *state,
				      uint16_t port_slot, struct rte_mbuf *m,
				      struct dplb_packet_info *info,
				      const struct dplb_fragment_place *place)
{
	WP_KEY key;

	WP_KEY_OF(&key, info, place->src_port, place->dst_port);
	const struct dplb_vip_entry *vip = WP_FIND_VIP(state, &key);

	if (vip == NULL || vip->id != place->vip_id || vip->fragments != DPLB_FRAGMENTS_FOLLOW ||
	    !backend_keeps_flows(&state->backends[place->backend_id], vip->id))
		return false;
	if (!WP(admit_fragment)(worker, m, info, vip, &key))
		return true;
	worker->counters.fragments_followed++;
	WP(forward_fragment)(worker, state, port_slot, m, info, vip, place->backend_id, &key);
	return true;
}

/* A fragment other than the first: after its first, held for it, or by
 * the hash. */
static void WP(handle_later_fragment)(struct dplb_worker *worker, const struct dplb_state *state,
				      uint16_t port_slot, struct rte_mbuf *m,
				      struct dplb_packet_info *info, const WP_KEY *key,
				      const struct dplb_fragment_key *fragment_key)
{
	const uint64_t now = rte_rdtsc();
	int32_t only;

	if (!WP(fragment_for_a_vip)(worker, state, m, info, key, &only))
		return;
	const struct dplb_fragment_place *place =
		dplb_fragment_cache_find(&worker->fragment_cache, fragment_key, now);

	if (place != NULL) {
		if (!WP(follow_first_fragment)(worker, state, port_slot, m, info, place))
			WP(send_fragment_hashed)(worker, state, port_slot, m, info);
		return;
	}
	const uint16_t port_id = m->port;

	m->port = port_slot;
	if (dplb_fragment_hold_put(&worker->fragment_hold, fragment_key, m,
				   now + worker->fragment_hold_tsc)) {
		worker->counters.fragments_held++;
		return;
	}
	m->port = port_id;
	WP(send_fragment_hashed)(worker, state, port_slot, m, info);
}

/* Stage 1's door for the family's fragments (WP_FRAGMENT_PARSED). */
static __rte_noinline __rte_cold void WP(handle_fragment)(struct dplb_worker *worker,
							  const struct dplb_state *state,
							  uint16_t port_slot, struct rte_mbuf *m,
							  struct dplb_packet_info *info)
{
	struct dplb_fragment_key fragment_key;
	WP_KEY key;

	WP_KEY_OF(&key, info, info->src_port, info->dst_port);
	if (unlikely(WP_BAD_SOURCE(state, &key))) {
		drop_packet(worker, m, DPLB_DROP_BAD_SOURCE);
		return;
	}
	if (WP(fragment_key_of)(info, &fragment_key))
		WP(handle_first_fragment)(worker, state, port_slot, m, info, &key, &fragment_key);
	else
		WP(handle_later_fragment)(worker, state, port_slot, m, info, &key, &fragment_key);
}
