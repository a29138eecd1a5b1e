/*
 * The worker's flow path, written once and instantiated per address
 * family, as VPP's lb plugin writes its node (one inline function, small
 * per-family wrappers) and as flow_table_template.h does the flow table:
 * worker.c defines the parameters below, includes this file, redefines
 * them for the other family and includes it again. Each family's code is
 * then compiled with its own key, hash and flow table as constants: no
 * function pointer and no branch on the family per packet.
 *
 * What lives here is everything that touches a flow's key or its entry:
 * the scheduler's pick for a new flow, an established flow's backend (and
 * its move when that backend is gone), 5-tuple reuse, the table-full and
 * rate-limit fallbacks, stage 2 of a burst (bulk lookup, source checks,
 * resolve, MSS clamp, forward), the ageing walk, and ICMP errors sent on
 * to the backend of the flow they quote. What does not depend
 * on the family (counters, TCP state transitions, transmit) is in
 * worker.c, once.
 *
 * Parameters, defined by worker.c before each include:
 *   WP(name)                  the family's name for a function: name, name6
 *   WP_KEY                    struct dplb_flow_key or struct dplb_flow_key6
 *   WP_FLOW_HASH(key)         the 5-tuple hash Maglev picks by
 *   WP_PICK_HASH(vip, key, h) what a hashing scheduler picks by
 *   WP_FT(name)               the flow table's names: dplb_flow_ or dplb_flow6_
 *   WP_FLOWS(worker)          the worker's table of the family
 *   WP_BAD_SOURCE(state, key) a source no host sends from
 *   WP_SOURCE_ALLOWED(worker, vip, key)  the VIP's allow and deny lists
 *   WP_FORWARD(worker, state, port_slot, m, info, vip, backend_id, key)
 *   WP_FIND_VIP(state, key)   the VIP of a key's destination, or NULL
 *   WP_ICMP_ERROR_FLOW(m, info, key)  an ICMP error's quoted flow into key,
 *                             client to VIP: 0, or why it has none (a drop reason)
 *   WP_INFO_IP                the family's IP header in dplb_packet_info: ip, ip6
 *
 * No include guard: included once per family.
 */

/* A new flow's backend id, or MAGLEV_NO_BACKEND, from this worker's own
 * round-robin cursor and flow counts. */
static inline uint32_t WP(schedule_flow)(struct dplb_worker *worker, const struct dplb_state *state,
					 const struct dplb_vip_entry *vip, const WP_KEY *key,
					 uint32_t flow_hash)
{
	return dplb_schedule_pick(state, vip, WP_PICK_HASH(vip, key, flow_hash),
				  &worker->round_robin_cursor[vip->id], worker->counters.backend);
}

/* The flow at ref goes to backend_id from now on. */
static inline void WP(move_flow)(struct dplb_worker *worker, const struct WP_FT(ref) * ref,
				 uint32_t backend_id)
{
	struct dplb_worker_counters *counters = &worker->counters;

	counters->backend[WP_FT(backend)(ref)].active_flows--;
	counters->backend[backend_id].active_flows++;
	WP_FT(set_backend)(ref, (uint16_t)backend_id);
	counters->flows_rescheduled++;
}

static inline void WP(track_flow_kind)(const struct WP_FT(ref) * ref, uint8_t tcp_flags)
{
	const enum dplb_flow_kind kind = WP_FT(kind)(ref);
	const enum dplb_flow_kind next = next_flow_kind(kind, tcp_flags);

	if (unlikely(next != kind))
		WP_FT(set_kind)(ref, next);
}

/* The flow's 5-tuple starts a new connection: a new pick, counted as a new
 * flow. MAGLEV_NO_BACKEND (the packet dropped) when nothing takes new flows. */
static __rte_noinline __rte_cold uint32_t WP(reuse_flow)(struct dplb_worker *worker,
							 const struct dplb_state *state,
							 const struct dplb_vip_entry *vip,
							 const WP_KEY *key, uint32_t flow_hash,
							 uint8_t tcp_flags,
							 const struct WP_FT(ref) * ref)
{
	struct dplb_worker_counters *counters = &worker->counters;
	const uint32_t backend_id = WP(schedule_flow)(worker, state, vip, key, flow_hash);

	WP_FT(set_kind)(ref, new_flow_kind(key->protocol, tcp_flags));
	if (backend_id == MAGLEV_NO_BACKEND)
		return backend_id;
	counters->backend[WP_FT(backend)(ref)].active_flows--;
	counters->vip[vip->id].active_flows--;
	WP_FT(set_backend)(ref, (uint16_t)backend_id);
	count_new_flow(counters, vip->id, backend_id);
	return backend_id;
}

/* The Maglev hash of the 5-tuple is computed only where a flow is
 * scheduled (or GUE needs it): an established flow's packet needs none. */
static inline uint32_t WP(established_backend)(struct dplb_worker *worker,
					       const struct dplb_state *state,
					       const struct dplb_vip_entry *vip, const WP_KEY *key,
					       uint8_t tcp_flags, const struct WP_FT(ref) * ref)
{
	uint32_t backend_id;

	WP_FT(touch)(ref, worker->now);
	/* A SYN on a flow whose connection closed is a new connection that
	 * reuses the 5-tuple (IPVS's conn_reuse_mode): it is scheduled afresh,
	 * so a drained or down backend gets no new connections this way. A
	 * retransmitted SYN of a connection still opening finds the flow not
	 * closing, and stays. */
	if (unlikely(WP_FT(kind)(ref) == DPLB_FLOW_TCP_CLOSING && tcp_opens(tcp_flags)))
		return WP(reuse_flow)(worker, state, vip, key, WP_FLOW_HASH(key), tcp_flags, ref);
	WP(track_flow_kind)(ref, tcp_flags);
	backend_id = WP_FT(backend)(ref);
	if (likely(backend_keeps_flows(&state->backends[backend_id], vip->id)))
		return backend_id;
	backend_id = WP(schedule_flow)(worker, state, vip, key, WP_FLOW_HASH(key));
	if (backend_id != MAGLEV_NO_BACKEND)
		WP(move_flow)(worker, ref, backend_id);
	return backend_id;
}

/*
 * The backend of a packet that has no flow entry, which is about to get one.
 *
 * While the flow table was full, new flows went out statelessly by Maglev
 * whatever the VIP's scheduler. Once entries expire and make room, the next
 * packet of such a flow has no entry either, and the VIP's own scheduler
 * (round-robin, least-connections) would often give it another backend,
 * moving a flow whose backend is fine. A packet cannot say whether its flow
 * went statelessly before; what the worker knows is when it last forwarded
 * a flow of the VIP that way (stateless_second). So within a timeout of
 * that moment, a packet that may continue a flow gets the Maglev pick, the
 * one such a flow had, instead of the scheduler's:
 *   - UDP, within udp_timeout;
 *   - TCP that is not a SYN (a connection already open), within
 *     tcp_timeout; a SYN opens a new connection and is scheduled as usual.
 * A flow forwarded statelessly has its last packet at or before that
 * moment, so if its next packet comes within its timeout (as a flow with
 * an entry must to keep it), it stays on its backend. The price: for that
 * while, the VIP's new UDP flows are spread by Maglev, not its scheduler.
 * Hashing schedulers pick by Maglev anyway.
 */
static inline uint32_t WP(schedule_entry)(struct dplb_worker *worker,
					  const struct dplb_state *state,
					  const struct dplb_vip_entry *vip, const WP_KEY *key,
					  uint32_t flow_hash, uint8_t tcp_flags)
{
	const uint32_t stateless = worker->stateless_second[vip->id];

	if (unlikely(stateless != 0) && !dplb_scheduler_is_hashing(vip->scheduler)) {
		const bool tcp = key->protocol == IPPROTO_TCP;
		const bool opens = tcp && tcp_opens(tcp_flags);
		const uint32_t timeout = tcp ? state->tcp_timeout : state->udp_timeout;

		if (!opens && worker->now - (stateless - 1) < timeout)
			return dplb_maglev_pick(vip, WP_PICK_HASH(vip, key, flow_hash));
	}
	return WP(schedule_flow)(worker, state, vip, key, flow_hash);
}

/* The backend of a packet whose flow has no entry: a new pick, recorded
 * when the table has room and the VIP's new-flow rate allows (resolve_backend
 * says what it returns). Not inlined: the burst loop of established flows
 * stays small. */
static __rte_noinline uint32_t WP(new_flow_backend)(struct dplb_worker *worker,
						    const struct dplb_state *state,
						    const struct dplb_vip_entry *vip,
						    const WP_KEY *key, uint8_t tcp_flags,
						    const struct WP_FT(probe) * probe,
						    struct WP_FT(ref) * ref)
{
	struct dplb_worker_counters *counters = &worker->counters;
	struct dplb_flow_gone gone;
	uint32_t backend_id;

	/* Every scheduler picks among up backends only. */
	if (unlikely(vip->up_count == 0))
		return MAGLEV_NO_BACKEND;
	const uint32_t flow_hash = WP_FLOW_HASH(key);
	/* Added before the pick, as the pick needs to know there is room;
	 * the backend is written once it is known. */
	const int added =
		WP_FT(table_add)(WP_FLOWS(worker), probe, 0,
				 new_flow_kind(key->protocol, tcp_flags), worker->now, ref, &gone);
	if (unlikely(added == 0)) {
		counters->flow_insert_failures++;
		counters->vip_protection[vip->id].table_full_packets++;
		if (vip->table_full_drop)
			return DPLB_TABLE_FULL_DROPPED;
		/* Full: forward anyway, by Maglev whatever the VIP's scheduler,
		 * so that every packet of the flow still goes to one place
		 * (and, once there is room, stays there: schedule_entry). */
		worker->stateless_second[vip->id] = worker->now + 1;
		if (unlikely(!dplb_protect_admit_new_flow(&worker->new_flow_buckets[vip->id],
							  &vip->protection)))
			return dplb_protect_refuse_new_flow(
				counters, &vip->protection, vip->id,
				dplb_maglev_pick(vip, WP_PICK_HASH(vip, key, flow_hash)));
		return dplb_maglev_pick(vip, WP_PICK_HASH(vip, key, flow_hash));
	}
	if (unlikely(added == 2))
		count_flow_gone(counters, &gone);
	/* Beyond the VIP's new-flow rate: no entry (dropped, or stateless). */
	if (unlikely(!dplb_protect_admit_new_flow(&worker->new_flow_buckets[vip->id],
						  &vip->protection))) {
		WP_FT(table_remove)(WP_FLOWS(worker), ref);
		return dplb_protect_refuse_new_flow(
			counters, &vip->protection, vip->id,
			dplb_maglev_pick(vip, WP_PICK_HASH(vip, key, flow_hash)));
	}
	backend_id = WP(schedule_entry)(worker, state, vip, key, flow_hash, tcp_flags);
	if (unlikely(backend_id == MAGLEV_NO_BACKEND)) {
		WP_FT(table_remove)(WP_FLOWS(worker), ref);
		return backend_id;
	}
	WP_FT(set_backend)(ref, (uint16_t)backend_id);
	count_new_flow(counters, vip->id, backend_id);
	return backend_id;
}

/*
 * Find the backend of one VIP packet: its flow's when the table has it
 * (found, at ref) and that backend is still usable, else a new pick.
 * Returns the backend id, MAGLEV_NO_BACKEND, DPLB_NEW_FLOW_DROPPED (beyond
 * the rate, to drop) or DPLB_TABLE_FULL_DROPPED (no room, table_full =
 * drop). Inlined whole: an established flow's packet makes no call (as a
 * call, 4 to 7 cycles a packet more, est-1k and est-1m).
 */
static inline __attribute__((always_inline)) uint32_t WP(resolve_backend)(
	struct dplb_worker *worker, const struct dplb_state *state,
	const struct dplb_vip_entry *vip, const WP_KEY *key, uint8_t tcp_flags,
	const struct WP_FT(probe) * probe, bool found, struct WP_FT(ref) * ref)
{
	if (likely(found))
		return WP(established_backend)(worker, state, vip, key, tcp_flags, ref);
	return WP(new_flow_backend)(worker, state, vip, key, tcp_flags, probe, ref);
}

/*
 * Stage 2 of a burst for one family's VIP packets: one bulk flow lookup,
 * then for each packet its source checks, its backend (resolve) and its
 * way out. Stage 1 (parse and classify) filled the arrays, count long.
 */
static inline void WP(forward_vip_packets)(struct dplb_worker *worker,
					   const struct dplb_state *state, uint16_t port_slot,
					   struct rte_mbuf **packets, struct dplb_packet_info *info,
					   const WP_KEY *keys, const struct WP_FT(probe) * probes,
					   const struct dplb_vip_entry **vips, uint16_t count)
{
	struct WP_FT(ref) refs[DPLB_BURST];
	bool found[DPLB_BURST];
	uint32_t table_changes = 0;

	WP_FT(table_find_bulk)(WP_FLOWS(worker), probes, count, refs, found);
	for (uint16_t i = 0; i < count; i++) {
		/* Once a packet of this burst has added or removed a flow, the
		 * bulk answers may be out of date (the flow added meanwhile, or
		 * moved): look again, in lines already in the cache. */
		if (unlikely(table_changes != 0))
			found[i] = WP_FT(table_find)(WP_FLOWS(worker), &probes[i], &refs[i]);
		/* A source no host sends from never gets an entry, so only a
		 * packet without one needs the check. */
		if (unlikely(!found[i]) && unlikely(WP_BAD_SOURCE(state, &keys[i]))) {
			drop_packet(worker, packets[i], DPLB_DROP_BAD_SOURCE);
			continue;
		}
		/* Every packet, established flows' too: a source denied now stops now. */
		if (unlikely(!WP_SOURCE_ALLOWED(worker, vips[i], &keys[i]))) {
			drop_packet(worker, packets[i], DPLB_DROP_ACL_DENIED);
			continue;
		}
		const uint32_t backend_id =
			WP(resolve_backend)(worker, state, vips[i], &keys[i], info[i].tcp_flags,
					    &probes[i], found[i], &refs[i]);
		table_changes |= !found[i];
		if (unlikely(backend_id == DPLB_NEW_FLOW_DROPPED ||
			     backend_id == DPLB_TABLE_FULL_DROPPED)) {
			drop_packet(worker, packets[i],
				    backend_id == DPLB_NEW_FLOW_DROPPED ? DPLB_DROP_RATE_LIMITED
									: DPLB_DROP_TABLE_FULL);
			continue;
		}
		if (backend_id != MAGLEV_NO_BACKEND) {
			worker->counters.backend[backend_id].packets_in++;
			worker->counters.backend[backend_id].bytes_in += info[i].ip_len;
			clamp_syn_mss(&worker->counters, vips[i], &info[i]);
		}
		WP_FORWARD(worker, state, port_slot, packets[i], &info[i], vips[i], backend_id,
			   &keys[i]);
	}
}

/* Visit the next budget buckets of the family's table and expire idle
 * flows, on the timeouts of state. */
static void WP(age_table)(struct dplb_worker *worker, const struct dplb_state *state,
			  uint32_t budget)
{
	/* Chunks whose every flow fits in gone, so no walk stops early. */
	enum { CHUNK = 16 };
	struct dplb_flow_gone gone[CHUNK * DPLB_FLOW_BUCKET_SLOTS];
	struct WP_FT(table) *flows = WP_FLOWS(worker);

	const uint32_t timeout[DPLB_FLOW_KINDS] = {
		[DPLB_FLOW_UDP] = state->udp_timeout,
		[DPLB_FLOW_TCP] = state->tcp_timeout,
		[DPLB_FLOW_TCP_CLOSING] = state->tcp_closing_timeout,
		[DPLB_FLOW_TCP_OPENING] = state->tcp_syn_timeout,
	};

	WP_FT(table_set_timeouts)(flows, timeout);
	for (uint32_t left = budget; left > 0 && flows->count > 0;) {
		const uint32_t buckets = RTE_MIN(left, (uint32_t)CHUNK);
		const uint32_t removed =
			WP_FT(table_expire)(flows, worker->now, buckets, gone, RTE_DIM(gone));

		for (uint32_t i = 0; i < removed; i++)
			count_flow_gone(&worker->counters, &gone[i]);
		left -= buckets;
	}
}

/*
 * An ICMP error about a flow of a VIP whose scheduler keeps no shared
 * table (round-robin and the like), on a worker that does not hold the flow
 * (RSS hashes the router's address, not the client's): only the backend
 * knows the flow, so every up backend gets a copy, as GLB does, up to
 * DPLB_ICMP_COPIES_MAX. Backends drop errors about flows they do not have.
 * False when the VIP has no up backend (m unused).
 */
static bool WP(send_to_every_backend)(struct dplb_worker *worker, const struct dplb_state *state,
				      uint16_t port_slot, struct rte_mbuf *m,
				      struct dplb_packet_info *info,
				      const struct dplb_vip_entry *vip, const WP_KEY *key)
{
	const uint32_t copies = RTE_MIN(vip->up_count, (uint32_t)DPLB_ICMP_COPIES_MAX);

	if (copies == 0)
		return false;
	for (uint32_t i = 1; i < copies; i++) {
		struct rte_mbuf *copy = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
		struct dplb_packet_info copy_info = *info;

		if (copy == NULL)
			break;
		worker->counters.icmp_error_copies++;
		/* Encapsulation writes through the copy's own IP header. */
		copy_info.WP_INFO_IP = rte_pktmbuf_mtod_offset(copy, void *, info->l2_len);
		worker->counters.icmp_errors_forwarded += WP_FORWARD(
			worker, state, port_slot, copy, &copy_info, vip, vip->up_ids[i], key);
	}
	worker->counters.icmp_errors_forwarded +=
		WP_FORWARD(worker, state, port_slot, m, info, vip, vip->up_ids[0], key);
	return true;
}

/*
 * ICMP errors about a backend's packets come to the VIP, that is to dplb
 * (backends answer clients from the VIP's address): send each to the
 * backend of the flow it quotes (its entry here, else the hashing
 * scheduler's pick, which other instances agree on, else a copy to every
 * up backend). Backends then see "fragmentation needed" or "packet too
 * big" and lower their MSS, as if no tunnel were there. Returns 0 when m
 * was used (sent, or dropped as its flow's client is refused), else the
 * reason to drop it (m unused): WP_ICMP_ERROR_FLOW's, DPLB_DROP_ICMP_UNHANDLED
 * when the flow is no VIP's, or the VIP's reason for having no backend.
 */
static int WP(forward_icmp_error)(struct dplb_worker *worker, const struct dplb_state *state,
				  uint16_t port_slot, struct rte_mbuf *m,
				  struct dplb_packet_info *info)
{
	WP_KEY key;
	struct WP_FT(probe) probe;
	struct WP_FT(ref) ref;
	uint32_t backend_id;
	const int reason = WP_ICMP_ERROR_FLOW(m, info, &key);

	if (reason != 0)
		return reason;
	const struct dplb_vip_entry *vip = WP_FIND_VIP(state, &key);
	if (vip == NULL)
		return DPLB_DROP_ICMP_UNHANDLED;
	/* About a flow of a source the VIP refuses: refused too. */
	if (unlikely(!WP_SOURCE_ALLOWED(worker, vip, &key))) {
		drop_packet(worker, m, DPLB_DROP_ACL_DENIED);
		return 0;
	}
	WP_FT(table_prepare)
	(WP_FLOWS(worker), &probe, WP_FT(client)(key.src_addr, key.src_port, key.dst_port),
	 vip->id);
	if (WP_FT(table_find)(WP_FLOWS(worker), &probe, &ref) &&
	    backend_keeps_flows(&state->backends[WP_FT(backend)(&ref)], vip->id))
		backend_id = WP_FT(backend)(&ref);
	else if (dplb_scheduler_is_hashing(vip->scheduler))
		backend_id = dplb_maglev_pick(vip, WP_PICK_HASH(vip, &key, WP_FLOW_HASH(&key)));
	else
		return WP(send_to_every_backend)(worker, state, port_slot, m, info, vip, &key)
			       ? 0
			       : no_backend_reason(vip);
	if (backend_id == MAGLEV_NO_BACKEND)
		return no_backend_reason(vip);
	worker->counters.icmp_errors_forwarded +=
		WP_FORWARD(worker, state, port_slot, m, info, vip, backend_id, &key);
	return 0;
}
