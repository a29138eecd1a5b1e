/*
 * The worker lcore and its per-packet pipeline, top to bottom:
 *
 *   rx burst -> parse -> VIP lookup -> flow lookup (bulk) -> source check ->
 *   schedule on a miss (within the VIP's new-flow rate) -> a SYN's MSS
 *   clamped -> encapsulate -> Ethernet rewrite -> buffered tx
 *
 * IPv4 fragments leave that path at parse for handle_fragment (below).
 *
 * Everything here runs on one worker and writes only that worker's state.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include "packet/arp.h"
#include "packet/encap.h"
#include "packet/fragment_cache.h"
#include "packet/icmp.h"
#include "packet/icmp6.h"
#include "packet/maglev.h"
#include "packet/packet_parse.h"
#include "packet/protect.h"
#include "packet/schedule.h"
#include "packet/tcp_mss.h"
#include "packet/worker.h"

#define DPLB_PREFETCH_AHEAD 3

/* What resolving a new flow gives when the flow table has no room and its
 * VIP says table_full = drop (never a backend id, MAGLEV_NO_BACKEND nor
 * DPLB_NEW_FLOW_DROPPED). */
#define DPLB_TABLE_FULL_DROPPED (UINT32_MAX - 2)

/* The fragment cache and hold queue, on socket. */
static int init_fragments(struct dplb_worker *worker, int socket)
{
	void *cache = rte_malloc_socket("dplb_fragment_cache",
					dplb_fragment_cache_size(DPLB_FRAGMENT_CACHE_ENTRIES),
					RTE_CACHE_LINE_SIZE, socket);
	void *hold = rte_malloc_socket("dplb_fragment_hold",
				       dplb_fragment_hold_size(DPLB_FRAGMENT_HOLD_PACKETS),
				       RTE_CACHE_LINE_SIZE, socket);

	if (cache == NULL || hold == NULL) {
		rte_free(cache);
		rte_free(hold);
		return -ENOMEM;
	}
	dplb_fragment_cache_init(&worker->fragment_cache, cache, DPLB_FRAGMENT_CACHE_ENTRIES,
				 rte_rand(), worker->tsc_hz * DPLB_FRAGMENT_TIMEOUT_MS / 1000);
	dplb_fragment_hold_init(&worker->fragment_hold, hold, DPLB_FRAGMENT_HOLD_PACKETS);
	worker->fragment_hold_tsc = worker->tsc_hz * DPLB_FRAGMENT_HOLD_MS / 1000;
	return 0;
}

/* Free the fragment memory and whatever is still held. */
static void fini_fragments(struct dplb_worker *worker)
{
	struct dplb_fragment_hold *hold = &worker->fragment_hold;
	void *packets[DPLB_FRAGMENT_HOLD_PACKETS];
	uint32_t count;

	if (hold->slots != NULL)
		while ((count = dplb_fragment_hold_expire(hold, UINT64_MAX, packets,
							  RTE_DIM(packets))) > 0)
			rte_pktmbuf_free_bulk((struct rte_mbuf **)packets, count);
	rte_free(worker->fragment_cache.entries);
	rte_free(hold->slots);
	memset(&worker->fragment_cache, 0, sizeof(worker->fragment_cache));
	memset(hold, 0, sizeof(*hold));
}

int dplb_worker_init_sized(struct dplb_worker *worker, uint16_t index, const uint16_t *port_ids,
			   uint16_t port_count, uint32_t flow_capacity, uint32_t flow6_capacity,
			   int socket)
{
	const size_t table_bytes = dplb_flow_table_size(flow_capacity);
	const size_t table6_bytes = dplb_flow6_table_size(flow6_capacity);
	void *table_memory, *table6_memory;

	memset(worker, 0, sizeof(*worker));
	worker->index = index;
	worker->port_count = port_count;
	worker->tsc_hz = rte_get_tsc_hz();
	worker->start_tsc = rte_rdtsc();
	worker->next_second_tsc = worker->start_tsc + worker->tsc_hz;
	worker->control_limit =
		dplb_rate_limit_make(worker->tsc_hz, DPLB_CONTROL_RATE, DPLB_CONTROL_BURST, 1);
	if (table_bytes == 0 || table6_bytes == 0)
		return -EINVAL;
	table_memory = rte_malloc_socket("dplb_flows", table_bytes, RTE_CACHE_LINE_SIZE, socket);
	table6_memory = rte_malloc_socket("dplb_flows6", table6_bytes, RTE_CACHE_LINE_SIZE, socket);
	if (table_memory == NULL || table6_memory == NULL) {
		rte_free(table_memory);
		rte_free(table6_memory);
		return -ENOMEM;
	}
	/* Seeds of its own: outsiders cannot aim flows at one bucket. */
	dplb_flow_table_init(&worker->flows, table_memory, flow_capacity, rte_rand());
	dplb_flow6_table_init(&worker->flows6, table6_memory, flow6_capacity, rte_rand());
	worker->counters.flow_capacity = flow_capacity;
	worker->counters.flow6_capacity = flow6_capacity;
	worker->counters.vip = rte_zmalloc_socket(
		"dplb_vip_counters", DPLB_MAX_VIP_IDS * sizeof(struct dplb_traffic_counters),
		RTE_CACHE_LINE_SIZE, socket);
	worker->counters.backend =
		rte_zmalloc_socket("dplb_backend_counters",
				   DPLB_MAX_BACKEND_IDS * sizeof(struct dplb_traffic_counters),
				   RTE_CACHE_LINE_SIZE, socket);
	worker->counters.vip_protection =
		rte_zmalloc_socket("dplb_vip_protection_counters",
				   DPLB_MAX_VIP_IDS * sizeof(struct dplb_vip_protection_counters),
				   RTE_CACHE_LINE_SIZE, socket);
	if (worker->counters.vip == NULL || worker->counters.backend == NULL ||
	    worker->counters.vip_protection == NULL)
		goto nomem;
	if (init_fragments(worker, socket) != 0)
		goto nomem;
	for (uint16_t p = 0; p < port_count; p++) {
		worker->port_ids[p] = port_ids[p];
		if (rte_eth_dev_is_valid_port(port_ids[p]))
			rte_eth_macaddr_get(port_ids[p], &worker->port_macs[p]);
	}
	return 0;
nomem:
	dplb_worker_fini(worker);
	return -ENOMEM;
}

void dplb_worker_fini(struct dplb_worker *worker)
{
	rte_free(worker->counters.vip);
	rte_free(worker->counters.backend);
	rte_free(worker->counters.vip_protection);
	worker->counters.vip = NULL;
	worker->counters.backend = NULL;
	worker->counters.vip_protection = NULL;
	rte_free(worker->flows.buckets);
	memset(&worker->flows, 0, sizeof(worker->flows));
	rte_free(worker->flows6.buckets);
	memset(&worker->flows6, 0, sizeof(worker->flows6));
	fini_fragments(worker);
}

static inline void drop_packet(struct dplb_worker *worker, struct rte_mbuf *m,
			       enum dplb_drop_reason reason)
{
	worker->counters.drops[reason]++;
	rte_pktmbuf_free(m);
}

/*
 * A packet the data path does not handle itself goes to the kernel when it
 * is for dplb's own address and there is an exception path
 * (control/exception_path.h); otherwise it is dropped as reason says. A
 * peer's BGP or BFD (packet/control_traffic.h) takes the priority ring,
 * within the worker's control_limit, so that a flood to dplb's address
 * filling the ordinary ring does not take the kernel's routing sessions
 * down with it; the rest, and control frames beyond the rate or the
 * priority ring's room, take the ordinary ring. A full ring is a drop
 * (exception_busy): a worker never waits for the management lcore.
 */
static void enqueue_for_kernel(struct dplb_worker *worker, struct rte_mbuf *m, bool control)
{
	if (unlikely(control)) {
		if (!dplb_rate_limit_take(&worker->control_bucket, &worker->control_limit,
					  rte_rdtsc()))
			worker->counters.exception_control_over_rate++;
		else if (rte_ring_sp_enqueue(worker->to_kernel_control, m) == 0) {
			worker->counters.exception_control_to_kernel++;
			worker->counters.exception_to_kernel++;
			return;
		}
	}
	if (unlikely(rte_ring_sp_enqueue(worker->to_kernel, m) != 0)) {
		drop_packet(worker, m, DPLB_DROP_EXCEPTION_BUSY);
		return;
	}
	worker->counters.exception_to_kernel++;
}

/* An IPv4 packet: to the kernel when it is for dplb's address. */
static __rte_noinline __rte_cold void pass_to_kernel(struct dplb_worker *worker,
						     const struct dplb_state *state,
						     struct rte_mbuf *m,
						     const struct dplb_packet_info *info,
						     enum dplb_drop_reason reason)
{
	const struct rte_ipv4_hdr *ip = info->ip;

	if (worker->to_kernel == NULL || ip->dst_addr != state->local_address) {
		drop_packet(worker, m, reason);
		return;
	}
	enqueue_for_kernel(
		worker, m,
		dplb_control_frame(worker->control_peers, ip, info->src_port, info->dst_port));
}

/* The same for an IPv6 packet: to the kernel when it is for dplb's
 * address6 (the taps carry it too). */
static __rte_noinline __rte_cold void pass_to_kernel6(struct dplb_worker *worker,
						      const struct dplb_state *state,
						      struct rte_mbuf *m,
						      const struct dplb_packet_info *info,
						      enum dplb_drop_reason reason)
{
	const struct rte_ipv6_hdr *ip6 = info->ip6;

	if (worker->to_kernel == NULL || !dplb_state_is_local_address6(state, ip6->dst_addr)) {
		drop_packet(worker, m, reason);
		return;
	}
	enqueue_for_kernel(worker, m,
			   dplb_control_frame6(worker->control_peers, ip6, info->protocol,
					       info->src_port, info->dst_port));
}

enum destination_mac { MAC_OURS, MAC_GROUP, MAC_OTHER };

/* Whom the frame is addressed to. A switch flooding unknown unicast, or a
 * frame sent to a group (broadcast, multicast), reaches every dplb on the
 * segment: only frames for this port's MAC are forwarded, and only ARP
 * (ND later) is taken from a group. Frames too short to say are left to
 * the parser to count. */
static inline enum destination_mac destination_mac(const struct rte_mbuf *m,
						   const struct rte_ether_addr *mac)
{
	const struct rte_ether_addr *dst = rte_pktmbuf_mtod(m, const struct rte_ether_addr *);

	if (unlikely(rte_pktmbuf_data_len(m) < RTE_ETHER_ADDR_LEN) ||
	    likely(rte_is_same_ether_addr(dst, mac)))
		return MAC_OURS;
	return rte_is_multicast_ether_addr(dst) ? MAC_GROUP : MAC_OTHER;
}

/*
 * Whether src (network order) is an address no host sends from: 0.0.0.0/8,
 * loopback, 224.0.0.0 and above (multicast, reserved, broadcast), dplb's
 * own or a VIP's. Answering such a packet, or forwarding it to a backend
 * that answers, would send to a group, to nowhere or back into dplb (a
 * ping from 255.255.255.255 answered to 255.255.255.255).
 */
static inline bool bad_source(const struct dplb_state *state, uint32_t src)
{
	const uint32_t first_byte = rte_be_to_cpu_32(src) >> 24;

	return first_byte == 0 || first_byte == 127 || first_byte >= 224 ||
	       dplb_state_answers_ping(state, src);
}

/* The same for IPv6: the unspecified address, loopback, multicast
 * (ff00::/8), IPv4-mapped addresses (::ffff:0:0/96, never on the wire:
 * RFC 4291 2.5.5.2), dplb's own and a VIP's. */
static inline bool bad_source6(const struct dplb_state *state, const uint8_t src[16])
{
	static const uint8_t mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zeros[15];

	return src[0] == 0xff ||
	       (memcmp(src, zeros, sizeof(zeros)) == 0 && (src[15] == 0 || src[15] == 1)) ||
	       memcmp(src, mapped_prefix, sizeof(mapped_prefix)) == 0 ||
	       dplb_state_answers_ping6(state, src);
}

/* An established flow keeps its backend while that backend is configured
 * for the same VIP, not down and not unhealthy; drain still takes existing
 * flows. A flow whose server is gone is better re-scheduled (a reset from a
 * live server) than black-holed. */
static inline bool backend_keeps_flows(const struct dplb_backend_entry *backend, uint16_t vip_id)
{
	return backend->present && backend->vip_id == vip_id && backend->keeps_flows;
}

/* A SYN without ACK: the client opens a connection (or floods). */
static inline bool tcp_opens(uint8_t tcp_flags)
{
	return (tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) == RTE_TCP_SYN_FLAG;
}

/*
 * The timeout class a client's TCP segment with tcp_flags moves its flow
 * from kind to. What dplb sees is one direction (backends answer clients
 * directly), so the states are the client's:
 *   - FIN or RST: closing, on the short tcp_closing_timeout;
 *   - opening (nothing but SYNs so far) and a segment without SYN: the
 *     handshake's ACK, so established, on tcp_timeout. Until then the flow
 *     is on tcp_syn_timeout: a SYN flood's spoofed sources never send that
 *     ACK, and leave the table within seconds;
 *   - otherwise the flow stays as it is (UDP flows carry no flags).
 */
static inline enum dplb_flow_kind next_flow_kind(enum dplb_flow_kind kind, uint8_t tcp_flags)
{
	if (unlikely(tcp_flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG)))
		return DPLB_FLOW_TCP_CLOSING;
	if (unlikely(kind == DPLB_FLOW_TCP_OPENING) && !(tcp_flags & RTE_TCP_SYN_FLAG))
		return DPLB_FLOW_TCP;
	return kind;
}

/* The kind a new flow of protocol starts as: a TCP flow met mid-connection
 * (after a restart, or moved here by ECMP) is established at once. */
static inline enum dplb_flow_kind new_flow_kind(uint8_t protocol, uint8_t tcp_flags)
{
	if (protocol != IPPROTO_TCP)
		return DPLB_FLOW_UDP;
	return next_flow_kind(DPLB_FLOW_TCP_OPENING, tcp_flags);
}

static inline void count_new_flow(struct dplb_worker_counters *counters, uint16_t vip_id,
				  uint32_t backend_id)
{
	counters->new_flows++;
	counters->vip[vip_id].new_flows++;
	counters->vip[vip_id].active_flows++;
	counters->backend[backend_id].new_flows++;
	counters->backend[backend_id].active_flows++;
}

/* A flow that left the table (expired, or its slot reused) stops counting. */
static inline void count_flow_gone(struct dplb_worker_counters *counters,
				   const struct dplb_flow_gone *gone)
{
	counters->backend[gone->backend_id].active_flows--;
	counters->vip[gone->vip_id].active_flows--;
	counters->flows_expired++;
}

/*
 * A SYN to a VIP with mss_clamp announces at most that MSS to its backend
 * (packet/tcp_mss.h). The parser found the whole TCP header, options
 * included, in the first segment.
 */
static inline void clamp_syn_mss(struct dplb_worker_counters *counters,
				 const struct dplb_vip_entry *vip,
				 const struct dplb_packet_info *info)
{
	if (vip->mss_clamp == 0 ||
	    (info->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) != RTE_TCP_SYN_FLAG)
		return;
	uint8_t *tcp = dplb_packet_l4(info);
	const uint32_t header_len =
		(uint32_t)(((const struct rte_tcp_hdr *)tcp)->data_off >> 4) * 4;

	if (dplb_tcp_clamp_mss(tcp, header_len, vip->mss_clamp)) {
		counters->mss_clamped++;
		counters->vip_protection[vip->id].mss_clamped++;
	}
}

/* What a run of packets received for vip (NULL: no run yet) adds to its
 * counters: summed as transmit sums what it sends, for the same reason. */
static inline void count_vip_in(struct dplb_worker_counters *counters,
				const struct dplb_vip_entry *vip, uint64_t packets, uint64_t bytes)
{
	if (vip == NULL)
		return;
	counters->vip[vip->id].packets_in += packets;
	counters->vip[vip->id].bytes_in += bytes;
}

/* What a run of packets of vip_id sent adds to its counters; none for
 * DPLB_TX_NOT_FORWARDED (no run yet). */
static inline void count_vip_out(struct dplb_worker_counters *counters, uint16_t vip_id,
				 uint64_t packets, uint64_t bytes)
{
	if (vip_id == DPLB_TX_NOT_FORWARDED)
		return;
	counters->vip[vip_id].packets_out += packets;
	counters->vip[vip_id].bytes_out += bytes;
}

/*
 * Hand port_slot's waiting packets to the driver. What it took counts as
 * sent, as its slots describe it; what it refused is dropped as tx_full
 * and counts nowhere else.
 */
static void transmit(struct dplb_worker *worker, uint16_t port_slot)
{
	struct dplb_tx_queue *queue = &worker->tx[port_slot];
	struct dplb_worker_counters *counters = &worker->counters;
	struct dplb_port_counters *port = &counters->port[port_slot];
	const uint16_t sent = rte_eth_tx_burst(worker->port_ids[port_slot], worker->index,
					       queue->packets, queue->length);

	struct dplb_traffic_counters *backends = counters->backend;
	/* A burst's packets mostly share a VIP: its counts are summed over
	 * each run of one VIP and written once a run (the packets as the
	 * run's length, so that one sum is carried from packet to packet),
	 * the port's bytes once a burst. Written per packet, each increment
	 * waits for the one before it through memory. */
	uint64_t frame_bytes = 0, run_bytes = 0;
	uint16_t run_vip = DPLB_TX_NOT_FORWARDED, run_start = 0;

	port->tx_packets += sent;
	for (uint16_t i = 0; i < sent; i++) {
		const struct dplb_tx_slot *slot = &queue->slots[i];

		frame_bytes += slot->frame_bytes;
		if (unlikely(slot->vip_id != run_vip)) {
			count_vip_out(counters, run_vip, i - run_start, run_bytes);
			run_vip = slot->vip_id;
			run_start = i;
			run_bytes = 0;
		}
		if (slot->vip_id == DPLB_TX_NOT_FORWARDED)
			continue;
		run_bytes += slot->ip_bytes;
		backends[slot->backend_id].packets_out++;
		backends[slot->backend_id].bytes_out += slot->ip_bytes;
	}
	count_vip_out(counters, run_vip, sent - run_start, run_bytes);
	port->tx_bytes += frame_bytes;
	if (unlikely(sent < queue->length)) {
		counters->drops[DPLB_DROP_TX_FULL] += queue->length - sent;
		rte_pktmbuf_free_bulk(&queue->packets[sent], queue->length - sent);
	}
	queue->length = 0;
}

/* Queue m for port_slot, described by slot; a full queue goes out. */
static inline void send_packet(struct dplb_worker *worker, uint16_t port_slot, struct rte_mbuf *m,
			       struct dplb_tx_slot slot)
{
	struct dplb_tx_queue *queue = &worker->tx[port_slot];

	queue->slots[queue->length] = slot;
	queue->packets[queue->length] = m;
	if (++queue->length == DPLB_BURST)
		transmit(worker, port_slot);
}

/* A frame dplb made or answered itself: counted on the port only. */
static inline void send_back(struct dplb_worker *worker, uint16_t port_slot, struct rte_mbuf *m)
{
	send_packet(worker, port_slot, m,
		    (struct dplb_tx_slot){ .frame_bytes = rte_pktmbuf_pkt_len(m),
					   .vip_id = DPLB_TX_NOT_FORWARDED });
}

/* Whether this worker may send one more "fragmentation needed" or "packet
 * too big" this second: at most DPLB_FRAG_NEEDED_PER_SECOND, so that a flood
 * of big packets cannot turn dplb into a reflector. */
static bool too_big_allowed(struct dplb_worker *worker)
{
	if (worker->frag_needed_second != worker->now) {
		worker->frag_needed_second = worker->now;
		worker->frag_needed_sent_this_second = 0;
	}
	return worker->frag_needed_sent_this_second < DPLB_FRAG_NEEDED_PER_SECOND;
}

/*
 * A packet the tunnel would make too big: answer ICMP "fragmentation
 * needed" (IPv4 with DF) or ICMPv6 "packet too big" (IPv6 is never
 * fragmented on the way) with the MTU left inside the tunnel, so the client
 * lowers its path MTU instead of retrying forever; rate-limited per worker.
 * Returns true when the mbuf was used.
 */
static __rte_noinline __rte_cold bool tell_sender_too_big(struct dplb_worker *worker,
							  const struct dplb_state *state,
							  uint16_t port_slot, struct rte_mbuf *m,
							  struct dplb_packet_info *info,
							  const struct dplb_vip_entry *vip,
							  uint8_t outer_family)
{
	const uint16_t inner_mtu =
		(uint16_t)(state->mtu - dplb_encap_overhead(vip->encap, outer_family));

	if (info->ip6 == NULL &&
	    !(info->ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG)))
		return false;
	if (!too_big_allowed(worker))
		return false;
	if (info->ip6 != NULL) {
		/* From our IPv6 address, or without one (an IPv6 VIP served
		 * by IPv4 backends) from the VIP the client sent to. Copied:
		 * the answer is written over the packet. */
		uint8_t source[16];

		memcpy(source,
		       state->has_local_address6 ? state->local_address6 : info->ip6->dst_addr,
		       sizeof(source));
		if (dplb_icmp6_packet_too_big(m, info, &worker->port_macs[port_slot], source,
					      inner_mtu) != 0)
			return false;
		worker->counters.icmp6_too_big_sent++;
	} else {
		if (dplb_icmp_fragmentation_needed(m, info, &worker->port_macs[port_slot],
						   state->local_address, inner_mtu) != 0)
			return false;
		worker->counters.icmp_frag_needed_sent++;
	}
	worker->frag_needed_sent_this_second++;
	send_back(worker, port_slot, m);
	return true;
}

/*
 * Encapsulate m toward backend (not MAGLEV_NO_BACKEND, with a next hop) in
 * outer_family, the backend's, and queue it; both families are constants
 * where it is inlined, so each of send_to_backend's branches compiles one
 * combination. The flow's 5-tuple (key, or key6 for an IPv6 packet: the
 * other NULL) is hashed only where the outer headers need it: GUE's UDP
 * source port, an IPv6 outer header's flow label.
 */
static inline __attribute__((always_inline)) bool send_encapsulated(
	struct dplb_worker *worker, const struct dplb_state *state, uint16_t port_slot,
	struct rte_mbuf *m, struct dplb_packet_info *info, const struct dplb_vip_entry *vip,
	uint32_t backend_id, const struct dplb_flow_key *key, const struct dplb_flow_key6 *key6,
	uint8_t outer_family)
{
	const struct dplb_backend_entry *backend = &state->backends[backend_id];
	const uint8_t inner_family = key6 != NULL ? AF_INET6 : AF_INET;
	const struct dplb_encap_target target =
		dplb_worker_encap_target(worker, state, port_slot, vip, backend, outer_family);
	const bool hashed = vip->encap == DPLB_ENCAP_GUE || outer_family == AF_INET6;
	const uint32_t flow_hash = !hashed	  ? 0
				   : key6 != NULL ? dplb_flow_hash6(key6)
						  : dplb_flow_hash(key);
	const int reason = dplb_encapsulate_families(m, info, &target, flow_hash, state->mtu,
						     outer_family, inner_family);

	if (unlikely(reason != 0)) {
		if (reason == DPLB_DROP_TOO_BIG &&
		    tell_sender_too_big(worker, state, port_slot, m, info, vip, outer_family))
			return false;
		drop_packet(worker, m, (enum dplb_drop_reason)reason);
		return false;
	}
	/* IP bytes, as bytes_in: the outer packet, encapsulation included. */
	send_packet(
		worker, port_slot, m,
		(struct dplb_tx_slot){ .frame_bytes = rte_pktmbuf_pkt_len(m),
				       .ip_bytes = info->ip_len +
						   dplb_encap_overhead(vip->encap, outer_family),
				       .backend_id = backend_id,
				       .vip_id = vip->id });
	return true;
}

/* Why a packet of vip that has no backend to go to is dropped. */
static inline enum dplb_drop_reason no_backend_reason(const struct dplb_vip_entry *vip)
{
	return vip->no_healthy_backend ? DPLB_DROP_NO_HEALTHY_BACKEND : DPLB_DROP_NO_BACKEND;
}

/* Send m to backend_id, in the backend's family: false when it was dropped
 * (no backend, no next hop, too big...) or answered as too big. */
static inline __attribute__((always_inline)) bool send_to_backend(
	struct dplb_worker *worker, const struct dplb_state *state, uint16_t port_slot,
	struct rte_mbuf *m, struct dplb_packet_info *info, const struct dplb_vip_entry *vip,
	uint32_t backend_id, const struct dplb_flow_key *key, const struct dplb_flow_key6 *key6)
{
	if (unlikely(backend_id == MAGLEV_NO_BACKEND)) {
		drop_packet(worker, m, no_backend_reason(vip));
		return false;
	}
	const struct dplb_backend_entry *backend = &state->backends[backend_id];
	if (unlikely(!backend->has_next_hop)) {
		drop_packet(worker, m, DPLB_DROP_NO_NEXT_HOP);
		return false;
	}
	if (likely(backend->family == AF_INET))
		return send_encapsulated(worker, state, port_slot, m, info, vip, backend_id, key,
					 key6, AF_INET);
	return send_encapsulated(worker, state, port_slot, m, info, vip, backend_id, key, key6,
				 AF_INET6);
}

/* An IPv4 packet of key's flow to backend_id (inlined into the burst loop). */
static inline __attribute__((always_inline)) bool forward_packet(
	struct dplb_worker *worker, const struct dplb_state *state, uint16_t port_slot,
	struct rte_mbuf *m, struct dplb_packet_info *info, const struct dplb_vip_entry *vip,
	uint32_t backend_id, const struct dplb_flow_key *key)
{
	return send_to_backend(worker, state, port_slot, m, info, vip, backend_id, key, NULL);
}

/* An IPv6 packet of key's flow to backend_id (inlined into the burst loop). */
static inline __attribute__((always_inline)) bool forward_packet6(
	struct dplb_worker *worker, const struct dplb_state *state, uint16_t port_slot,
	struct rte_mbuf *m, struct dplb_packet_info *info, const struct dplb_vip_entry *vip,
	uint32_t backend_id, const struct dplb_flow_key6 *key)
{
	return send_to_backend(worker, state, port_slot, m, info, vip, backend_id, NULL, key);
}

/* A fragment out of the hold: the port slot it came in on (kept in
 * m->port meanwhile; the driver's port id is put back for the exception
 * path), and its info parsed again (it was valid, and nothing changed it):
 * DPLB_PARSED_FRAGMENT or _FRAGMENT6, else DPLB_PARSED_DROP, dropped. */
static inline enum dplb_parse_result unhold_fragment(struct dplb_worker *worker, struct rte_mbuf *m,
						     struct dplb_packet_info *info,
						     uint16_t *port_slot)
{
	*port_slot = m->port;
	m->port = worker->port_ids[*port_slot];
	const enum dplb_parse_result parsed = dplb_parse_packet(m, info);

	if (likely(parsed == DPLB_PARSED_FRAGMENT || parsed == DPLB_PARSED_FRAGMENT6))
		return parsed;
	drop_packet(worker, m, DPLB_DROP_BAD_FRAGMENT);
	return DPLB_PARSED_DROP;
}

/* The fragment key of an IPv4 fragment, and whether it is its datagram's
 * first (offset 0). */
static inline bool fragment_key_of(const struct dplb_packet_info *info,
				   struct dplb_fragment_key *fragment_key)
{
	const struct rte_ipv4_hdr *ip = info->ip;

	dplb_fragment_key_ipv4(fragment_key, ip->src_addr, ip->dst_addr, ip->packet_id,
			       info->protocol);
	return !(ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK));
}

/* The same for IPv6: the fragment header found again (the parse walked to
 * it, so the walk cannot fail now). */
static inline bool fragment_key_of6(const struct dplb_packet_info *info,
				    struct dplb_fragment_key *fragment_key)
{
	const struct rte_ipv6_hdr *ip6 = info->ip6;
	struct dplb_ipv6_walk walk;

	dplb_ipv6_walk((const uint8_t *)ip6, info->ip_header_len, info->ip_len, &walk);
	dplb_fragment_key_ipv6(fragment_key, ip6->src_addr, ip6->dst_addr, walk.fragment_id,
			       info->protocol);
	return walk.fragment_offset == 0;
}
/* The most copies of one ICMP error sent to a VIP's backends when no one
 * backend can be told (worker_pipeline.h, send_to_every_backend). */
#define DPLB_ICMP_COPIES_MAX 16

/* The flow path for IPv4 (worker_pipeline.h). */
#define WP(name) name
#define WP_KEY struct dplb_flow_key
#define WP_FLOW_HASH(key) dplb_flow_hash(key)
#define WP_PICK_HASH(vip, key, hash) dplb_pick_hash(vip, key, hash)
#define WP_FT(name) dplb_flow_##name
#define WP_FLOWS(worker) (&(worker)->flows)
#define WP_BAD_SOURCE(state, key) bad_source(state, (key)->src_addr)
#define WP_SOURCE_ALLOWED(worker, vip, key)                                                        \
	dplb_protect_check_source(&(worker)->counters, &(vip)->protection, (vip)->id,              \
				  (key)->src_addr)
#define WP_FORWARD forward_packet
#define WP_FRAGMENT_PARSED DPLB_PARSED_FRAGMENT
#define WP_KEY_OF(key, info, src_port, dst_port)                                                   \
	dplb_flow_key_set(key, (info)->ip->src_addr, (info)->ip->dst_addr, src_port, dst_port,     \
			  (info)->protocol)
#define WP_FIND_VIP(state, key)                                                                    \
	dplb_state_find_vip(state, (key)->dst_addr, (key)->dst_port, (key)->protocol)
#define WP_FRAGMENT_VIP(state, key) dplb_state_fragment_vip(state, (key)->dst_addr, (key)->protocol)
#define WP_NOT_FOR_VIP(worker, state, m, info)                                                     \
	pass_to_kernel(worker, state, m, info, DPLB_DROP_NOT_FOR_VIP)
#define WP_ICMP_ERROR_FLOW(m, info, key)                                                           \
	(dplb_icmp_error_flow(m, info, key) ? 0 : DPLB_DROP_ICMP_UNHANDLED)
#define WP_INFO_IP ip
#include "packet/worker_pipeline.h"
#include "packet/worker_fragments.h"
#undef WP
#undef WP_KEY
#undef WP_FLOW_HASH
#undef WP_PICK_HASH
#undef WP_FT
#undef WP_FLOWS
#undef WP_BAD_SOURCE
#undef WP_SOURCE_ALLOWED
#undef WP_FORWARD
#undef WP_FRAGMENT_PARSED
#undef WP_KEY_OF
#undef WP_FIND_VIP
#undef WP_FRAGMENT_VIP
#undef WP_NOT_FOR_VIP
#undef WP_ICMP_ERROR_FLOW
#undef WP_INFO_IP

/* And for IPv6. */
#define WP(name) name##6
#define WP_KEY struct dplb_flow_key6
#define WP_FLOW_HASH(key) dplb_flow_hash6(key)
#define WP_PICK_HASH(vip, key, hash) dplb_pick_hash6(vip, key, hash)
#define WP_FT(name) dplb_flow6_##name
#define WP_FLOWS(worker) (&(worker)->flows6)
#define WP_BAD_SOURCE(state, key) bad_source6(state, (key)->src_addr)
#define WP_SOURCE_ALLOWED(worker, vip, key)                                                        \
	dplb_protect_check_source6(&(worker)->counters, &(vip)->protection, (vip)->id,             \
				   (key)->src_addr)
#define WP_FORWARD forward_packet6
#define WP_FRAGMENT_PARSED DPLB_PARSED_FRAGMENT6
#define WP_KEY_OF(key, info, src_port, dst_port)                                                   \
	dplb_flow_key6_set(key, (info)->ip6->src_addr, (info)->ip6->dst_addr, src_port, dst_port,  \
			   (info)->protocol)
#define WP_FIND_VIP(state, key)                                                                    \
	dplb_state_find_vip6(state, (key)->dst_addr, (key)->dst_port, (key)->protocol)
#define WP_FRAGMENT_VIP(state, key)                                                                \
	dplb_state_fragment_vip6(state, (key)->dst_addr, (key)->protocol)
#define WP_NOT_FOR_VIP(worker, state, m, info)                                                     \
	pass_to_kernel6(worker, state, m, info, DPLB_DROP_NOT_FOR_VIP)
#define WP_ICMP_ERROR_FLOW dplb_icmp6_error_flow
#define WP_INFO_IP ip6
#include "packet/worker_pipeline.h"
#include "packet/worker_fragments.h"

/* Requests for our address are answered here; everything else ARP (replies
 * above all) goes to the management lcore, which resolves next hops. */
static __rte_noinline __rte_cold void handle_arp(struct dplb_worker *worker,
						 const struct dplb_state *state, uint16_t port_slot,
						 struct rte_mbuf *m,
						 const struct dplb_packet_info *info)
{
	struct rte_arp_hdr *arp = dplb_arp_header(m, info->l2_len);

	if (unlikely(arp == NULL)) {
		drop_packet(worker, m, DPLB_DROP_BAD_ARP);
		return;
	}
	if (dplb_arp_is_request_for(arp, state->local_address)) {
		dplb_arp_answer(m, arp, &worker->port_macs[port_slot]);
		worker->counters.arp_replies++;
		send_back(worker, port_slot, m);
		return;
	}
	if (worker->to_management != NULL && rte_ring_sp_enqueue(worker->to_management, m) == 0) {
		worker->counters.to_management++;
		return;
	}
	drop_packet(worker, m, DPLB_DROP_MANAGEMENT_BUSY);
}

static __rte_noinline __rte_cold void handle_icmp(struct dplb_worker *worker,
						  const struct dplb_state *state,
						  uint16_t port_slot, struct rte_mbuf *m,
						  struct dplb_packet_info *info)
{
	if (unlikely(bad_source(state, info->ip->src_addr))) {
		drop_packet(worker, m, DPLB_DROP_BAD_SOURCE);
		return;
	}
	/* What is no error about a VIP's flow may be a ping, or the kernel's:
	 * why it was not forwarded does not matter here. */
	if (forward_icmp_error(worker, state, port_slot, m, info) == 0)
		return;
	if (!dplb_state_answers_ping(state, info->ip->dst_addr) ||
	    !dplb_icmp_is_echo_request(m, info)) {
		/* Echo replies and errors for the kernel's own traffic. */
		pass_to_kernel(worker, state, m, info, DPLB_DROP_ICMP_UNHANDLED);
		return;
	}
	dplb_icmp_echo_reply(m, info, &worker->port_macs[port_slot]);
	worker->counters.icmp_echo_replies++;
	send_back(worker, port_slot, m);
}

void dplb_worker_release_fragments(struct dplb_worker *worker, const struct dplb_state *state,
				   uint64_t tsc)
{
	void *held[DPLB_BURST];
	uint32_t count;

	while ((count = dplb_fragment_hold_expire(&worker->fragment_hold, tsc, held,
						  RTE_DIM(held))) > 0) {
		for (uint32_t i = 0; i < count; i++) {
			struct rte_mbuf *m = held[i];
			struct dplb_packet_info info;
			uint16_t port_slot;

			const enum dplb_parse_result parsed =
				unhold_fragment(worker, m, &info, &port_slot);

			if (parsed == DPLB_PARSED_FRAGMENT)
				send_fragment_hashed(worker, state, port_slot, m, &info);
			else if (parsed == DPLB_PARSED_FRAGMENT6)
				send_fragment_hashed6(worker, state, port_slot, m, &info);
		}
	}
}

/* A burst's IPv6 VIP packets, gathered by stage 1 for stage 2. */
struct dplb_ipv6_batch {
	uint16_t count;
	struct rte_mbuf *packets[DPLB_BURST];
	struct dplb_packet_info info[DPLB_BURST];
	struct dplb_flow_key6 keys[DPLB_BURST];
	struct dplb_flow6_probe probes[DPLB_BURST];
	const struct dplb_vip_entry *vips[DPLB_BURST];
};

/* Why an ICMPv6 message that dplb answers or forwards is refused before it
 * is read: sent to a group, or from an address no host sends from (0 when
 * neither). */
static inline int icmp6_sender_refused(const struct dplb_state *state,
				       const struct dplb_packet_info *info, bool to_group)
{
	if (to_group)
		return DPLB_DROP_NOT_UNICAST;
	if (bad_source6(state, info->ip6->src_addr))
		return DPLB_DROP_BAD_SOURCE;
	return 0;
}

/*
 * ICMPv6 (packet/icmp6.h): neighbor solicitations for our IPv6 address are
 * answered here, as ARP requests for our IPv4 one are. Not for a VIP's:
 * VIPs are routed to dplb (announced, or a static route via address6), and
 * several instances answering for one address with the override flag would
 * take it from each other. Advertisements go to the management lcore, which
 * resolves IPv6 next hops with them; echo requests to our address or a
 * VIP's are answered. Errors (destination unreachable, packet too big, time
 * exceeded, parameter problem) about a VIP's flow go to that flow's backend,
 * as IPv4's do (forward_icmp_error6): a backend answers from the VIP, so a
 * router's "packet too big" about its reply comes here, and without it IPv6
 * path MTU discovery through dplb would fail. Echo replies, and errors
 * about no VIP's flow, sent to dplb's address6 are the kernel's, which
 * they reach through the exception path when there is one; else, and
 * anything else, they are dropped (errors by why they match no flow,
 * the rest as icmp_unhandled).
 */
static __rte_noinline __rte_cold void handle_icmp6(struct dplb_worker *worker,
						   const struct dplb_state *state,
						   uint16_t port_slot, struct rte_mbuf *m,
						   struct dplb_packet_info *info, bool to_group)
{
	const struct rte_ether_addr *our_mac = &worker->port_macs[port_slot];
	uint16_t len;
	const struct dplb_icmp6_hdr *icmp =
		dplb_icmp6_message(m, info, sizeof(struct dplb_icmp6_hdr), &len);
	int reason = DPLB_DROP_ICMP_UNHANDLED;

	if (icmp == NULL)
		goto drop;
	switch (icmp->type) {
	case DPLB_ND_NEIGHBOR_SOLICITATION: {
		const uint8_t *solicited;
		uint8_t target[16];

		reason = dplb_nd_solicitation_check(m, info, &solicited);
		if (reason != 0)
			goto drop;
		/* Copied: the answer is written over the solicitation. */
		memcpy(target, solicited, sizeof(target));
		reason = DPLB_DROP_ICMP_UNHANDLED;
		if (!state->has_local_address6 ||
		    memcmp(target, state->local_address6, sizeof(target)) != 0)
			goto drop;
		reason = DPLB_DROP_NO_HEADROOM;
		if (dplb_nd_advertise(m, info, our_mac, target) != 0)
			goto drop;
		worker->counters.nd_advertisements++;
		send_back(worker, port_slot, m);
		return;
	}
	case DPLB_ND_NEIGHBOR_ADVERTISEMENT: {
		const struct dplb_nd_message *nd;
		const struct rte_ether_addr *link;

		/* Checked here, not only where it is learned: its hop limit
		 * of 255 says it comes from the link, so a stream of them from
		 * the internet cannot fill the ring ARP answers share. */
		reason = dplb_nd_check(m, info, DPLB_ND_NEIGHBOR_ADVERTISEMENT,
				       DPLB_ND_OPTION_TARGET_LINK, &nd, &link);
		if (reason != 0)
			goto drop;
		if (worker->to_management != NULL &&
		    rte_ring_sp_enqueue(worker->to_management, m) == 0) {
			worker->counters.to_management++;
			return;
		}
		reason = DPLB_DROP_MANAGEMENT_BUSY;
		goto drop;
	}
	case DPLB_ICMP6_ECHO_REQUEST:
		reason = icmp6_sender_refused(state, info, to_group);
		if (reason == 0 && !dplb_state_answers_ping6(state, info->ip6->dst_addr))
			reason = DPLB_DROP_ICMP_UNHANDLED;
		if (reason != 0)
			goto drop;
		reason = dplb_icmp6_echo_reply(m, info, our_mac);
		if (reason != 0)
			goto drop;
		worker->counters.icmp6_echo_replies++;
		send_back(worker, port_slot, m);
		return;
	case DPLB_ICMP6_DEST_UNREACHABLE:
	case DPLB_ICMP6_PACKET_TOO_BIG:
	case DPLB_ICMP6_TIME_EXCEEDED:
	case DPLB_ICMP6_PARAMETER_PROBLEM:
		reason = icmp6_sender_refused(state, info, to_group);
		if (reason != 0)
			goto drop;
		/* Not about a VIP's flow: perhaps about the kernel's. */
		reason = forward_icmp_error6(worker, state, port_slot, m, info);
		if (reason != 0)
			pass_to_kernel6(worker, state, m, info, (enum dplb_drop_reason)reason);
		return;
	case DPLB_ICMP6_ECHO_REPLY: /* to the kernel's pings */
		reason = icmp6_sender_refused(state, info, to_group);
		if (reason != 0)
			goto drop;
		pass_to_kernel6(worker, state, m, info, DPLB_DROP_ICMP_UNHANDLED);
		return;
	default:
		goto drop;
	}
drop:
	drop_packet(worker, m, (enum dplb_drop_reason)reason);
}

/*
 * Stage 1 for an IPv6 TCP or UDP packet: its VIP, its flow's key and probe,
 * appended to the burst's IPv6 arrays (at *count) for stage 2; a packet for
 * no VIP is dropped. Outside the IPv4 loop's way, and not inlined into it.
 */
static __rte_noinline void gather_ipv6(struct dplb_worker *worker, const struct dplb_state *state,
				       struct rte_mbuf *m, const struct dplb_packet_info *pi,
				       struct dplb_ipv6_batch *batch)
{
	const struct rte_ipv6_hdr *ip6 = pi->ip6;
	const struct dplb_vip_entry *vip =
		dplb_state_find_vip6(state, ip6->dst_addr, pi->dst_port, pi->protocol);

	if (unlikely(vip == NULL)) {
		pass_to_kernel6(worker, state, m, pi, DPLB_DROP_NOT_FOR_VIP);
		return;
	}
	const uint16_t n = batch->count++;

	batch->info[n] = *pi;
	dplb_flow_key6_set(&batch->keys[n], ip6->src_addr, ip6->dst_addr, pi->src_port,
			   pi->dst_port, pi->protocol);
	dplb_flow6_table_prepare(&worker->flows6, &batch->probes[n],
				 dplb_flow6_client(ip6->src_addr, pi->src_port, pi->dst_port),
				 vip->id);
	batch->vips[n] = vip;
	batch->packets[n] = m;
	worker->counters.vip[vip->id].packets_in++;
	worker->counters.vip[vip->id].bytes_in += pi->ip_len;
}

/* Stage 1 for all but IPv4 TCP and UDP to our own MAC: what was parsed
 * (parsed, into info) goes where it is handled, IPv6 VIP packets into the
 * burst's IPv6 batch. */
static __rte_noinline void handle_other(struct dplb_worker *worker, const struct dplb_state *state,
					uint16_t port_slot, struct rte_mbuf *m,
					struct dplb_packet_info *info,
					enum dplb_parse_result parsed, bool to_group,
					struct dplb_ipv6_batch *ipv6)
{
	/* From a group address, only what resolves neighbors: ARP, and
	 * ICMPv6 (a neighbor solicitation goes to a multicast MAC). */
	if (to_group && parsed != DPLB_PARSED_ARP && parsed != DPLB_PARSED_ICMP6) {
		drop_packet(worker, m, DPLB_DROP_NOT_UNICAST);
		return;
	}
	switch (parsed) {
	case DPLB_PARSED_L4: /* to_group: refused above */
	case DPLB_PARSED_DROP:
		drop_packet(worker, m, (enum dplb_drop_reason)info->drop_reason);
		return;
	case DPLB_PARSED_ARP:
		handle_arp(worker, state, port_slot, m, info);
		return;
	case DPLB_PARSED_ICMP:
		handle_icmp(worker, state, port_slot, m, info);
		return;
	case DPLB_PARSED_FRAGMENT:
		handle_fragment(worker, state, port_slot, m, info);
		return;
	case DPLB_PARSED_L4_6:
		gather_ipv6(worker, state, m, info, ipv6);
		return;
	case DPLB_PARSED_ICMP6:
		handle_icmp6(worker, state, port_slot, m, info, to_group);
		return;
	case DPLB_PARSED_FRAGMENT6:
		handle_fragment6(worker, state, port_slot, m, info);
		return;
	}
}

void dplb_worker_process_burst(struct dplb_worker *worker, const struct dplb_state *state,
			       uint16_t port_slot, struct rte_mbuf **packets, uint16_t count)
{
	struct dplb_packet_info info[DPLB_BURST];
	struct dplb_flow_key keys[DPLB_BURST];
	struct dplb_flow_probe probes[DPLB_BURST];
	const struct dplb_vip_entry *vips[DPLB_BURST];
	struct rte_mbuf *vip_packets[DPLB_BURST];
	struct dplb_ipv6_batch ipv6;
	struct dplb_vip_memo vip_memo;
	struct dplb_port_counters *port = &worker->counters.port[port_slot];
	uint64_t rx_bytes = 0;
	uint16_t vip_count = 0;
	/* The run of one VIP's packets being counted in (count_vip_in). */
	const struct dplb_vip_entry *run_vip = NULL;
	uint16_t run_start = 0;
	uint64_t run_bytes = 0;

	ipv6.count = 0;
	dplb_vip_memo_init(&vip_memo);
	for (uint16_t i = 0; i < count && i < DPLB_PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(packets[i], void *));

	/* Stage 1: parse and classify; VIP packets are gathered for a bulk
	 * flow lookup, everything else is dealt with here. */
	for (uint16_t i = 0; i < count; i++) {
		struct rte_mbuf *m = packets[i];
		struct dplb_packet_info *pi = &info[vip_count];

		if (i + DPLB_PREFETCH_AHEAD < count)
			rte_prefetch0(rte_pktmbuf_mtod(packets[i + DPLB_PREFETCH_AHEAD], void *));
		rx_bytes += rte_pktmbuf_pkt_len(m);
		const enum destination_mac to = destination_mac(m, &worker->port_macs[port_slot]);
		if (unlikely(to == MAC_OTHER)) {
			drop_packet(worker, m, DPLB_DROP_NOT_OUR_MAC);
			continue;
		}

		const enum dplb_parse_result parsed = dplb_parse_packet(m, pi);
		/* IPv4 TCP and UDP to our MAC go on here; everything else
		 * leaves the loop's way. */
		if (unlikely(parsed != DPLB_PARSED_L4 || to == MAC_GROUP)) {
			handle_other(worker, state, port_slot, m, pi, parsed, to == MAC_GROUP,
				     &ipv6);
			continue;
		}
		const struct rte_ipv4_hdr *ip = pi->ip;
		const struct dplb_vip_entry *vip = dplb_state_find_vip_memo(
			state, &vip_memo, ip->dst_addr, pi->dst_port, ip->next_proto_id);
		if (unlikely(vip == NULL)) {
			pass_to_kernel(worker, state, m, pi, DPLB_DROP_NOT_FOR_VIP);
			continue;
		}
		/* The ports from the header (TCP and UDP both begin with them),
		 * not from pi: a wide load of pi's two fresh 2-byte stores would
		 * stall. */
		const rte_be16_t *ports =
			(const rte_be16_t *)((const uint8_t *)ip + pi->ip_header_len);
		struct dplb_flow_key *key = &keys[vip_count];
		dplb_flow_key_set(key, ip->src_addr, ip->dst_addr, ports[0], ports[1],
				  ip->next_proto_id);
		dplb_flow_table_prepare(&worker->flows, &probes[vip_count],
					dplb_flow_client(ip->src_addr, ports[0], ports[1]),
					vip->id);
		vips[vip_count] = vip;
		vip_packets[vip_count] = m;
		if (unlikely(vip != run_vip)) {
			count_vip_in(&worker->counters, run_vip, vip_count - run_start, run_bytes);
			run_vip = vip;
			run_start = vip_count;
			run_bytes = 0;
		}
		run_bytes += pi->ip_len;
		dplb_protect_prefetch(&vip->protection, ip->src_addr);
		vip_count++;
	}
	count_vip_in(&worker->counters, run_vip, vip_count - run_start, run_bytes);
	port->rx_packets += count;
	port->rx_bytes += rx_bytes;

	/* Stage 2: one bulk lookup per family, then pick and send. */
	if (vip_count != 0)
		forward_vip_packets(worker, state, port_slot, vip_packets, info, keys, probes, vips,
				    vip_count);
	if (unlikely(ipv6.count != 0))
		forward_vip_packets6(worker, state, port_slot, ipv6.packets, ipv6.info, ipv6.keys,
				     ipv6.probes, ipv6.vips, ipv6.count);
}

void dplb_worker_age_flows(struct dplb_worker *worker, const struct dplb_state *state,
			   uint32_t budget)
{
	age_table(worker, state, budget);
	/* The IPv6 table has half as many flows a bucket and is smaller: its
	 * buckets are walked in the same proportion of the table per slice. */
	age_table6(worker, state,
		   (uint32_t)(((uint64_t)budget * worker->flows6.bucket_count +
			       worker->flows.bucket_count - 1) /
			      RTE_MAX(1u, worker->flows.bucket_count)));
}

/* Send what the management lcore handed over; cheap when there is none. */
static void send_from_management(struct dplb_worker *worker)
{
	struct rte_mbuf *frames[DPLB_BURST];
	unsigned int count;

	if (worker->from_management == NULL)
		return;
	count = rte_ring_sc_dequeue_burst(worker->from_management, (void **)frames, DPLB_BURST,
					  NULL);
	for (unsigned int i = 0; i < count; i++) {
		const uint16_t port_slot = frames[i]->port;

		if (port_slot < worker->port_count)
			send_back(worker, port_slot, frames[i]);
		else
			rte_pktmbuf_free(frames[i]);
	}
}

void dplb_worker_flush_tx(struct dplb_worker *worker)
{
	for (uint16_t p = 0; p < worker->port_count; p++)
		if (worker->tx[p].length != 0)
			transmit(worker, p);
}

/*
 * Ageing is paced by time, not by loop iterations: each worker sweeps its
 * whole table once per half of the shortest timeout (at least once a second),
 * a slice at a time, so a busy worker does not spend its cycles re-reading
 * entries that cannot have expired. An idle flow lives between its timeout
 * and one and a half times it.
 */
static void age_on_schedule(struct dplb_worker *worker, const struct dplb_state *state,
			    uint64_t tsc)
{
	if (tsc < worker->next_ageing_tsc)
		return;
	dplb_worker_age_flows(worker, state, DPLB_AGEING_SLICE);
	const uint32_t shortest =
		RTE_MIN(RTE_MIN(state->tcp_timeout, state->udp_timeout),
			RTE_MIN(state->tcp_closing_timeout, state->tcp_syn_timeout));
	const uint64_t sweep_seconds = RTE_MAX(1u, shortest / 2);
	const uint64_t slices = RTE_MAX(1u, worker->flows.bucket_count / DPLB_AGEING_SLICE);
	worker->next_ageing_tsc = tsc + sweep_seconds * worker->tsc_hz / slices;
}

void dplb_worker_end_iteration(struct dplb_worker *worker, uint64_t tsc, bool busy)
{
	if (unlikely(tsc >= worker->next_second_tsc)) {
		dplb_worker_tick(worker);
		worker->next_second_tsc =
			worker->start_tsc + (uint64_t)(worker->now + 1) * worker->tsc_hz;
	}
	send_from_management(worker);
	if (unlikely(worker->fragment_hold.count != 0))
		dplb_worker_release_fragments(worker, dplb_current_state(worker->publisher), tsc);
	/* Under load, bursts fill and go out by themselves; what is left waits
	 * a little for company, unless nothing more is coming. */
	if (!busy || tsc >= worker->next_drain_tsc) {
		dplb_worker_flush_tx(worker);
		worker->next_drain_tsc = tsc + worker->tsc_hz * DPLB_TX_DRAIN_US / 1000000;
	}
	age_on_schedule(worker, dplb_current_state(worker->publisher), tsc);
	worker->counters.flows_active = worker->flows.count;
	worker->counters.flows6_active = worker->flows6.count;
	worker->counters.loops++;
	worker->counters.busy_loops += busy;
}

int dplb_worker_main(void *arg)
{
	struct dplb_worker *worker = arg;
	struct rte_mbuf *packets[DPLB_BURST];

	worker->lcore_id = rte_lcore_id();
	rte_rcu_qsbr_thread_register(worker->rcu, worker->index);
	rte_rcu_qsbr_thread_online(worker->rcu, worker->index);

	while (!*worker->stop) {
		/* Nothing from the previous iteration is held past this point. */
		rte_rcu_qsbr_quiescent(worker->rcu, worker->index);
		bool busy = false;

		for (uint16_t p = 0; p < worker->port_count; p++) {
			const uint16_t received = rte_eth_rx_burst(
				worker->port_ids[p], worker->index, packets, DPLB_BURST);
			if (received == 0)
				continue;
			busy = true;
			/* Loaded after the burst arrived: a PMD may block in RX (pcap on
			 * a FIFO), and the packets must meet the newest state. */
			dplb_worker_process_burst(worker, dplb_current_state(worker->publisher), p,
						  packets, received);
		}
		dplb_worker_end_iteration(worker, rte_rdtsc(), busy);
	}
	/* Held fragments go out rather than wait for a first that will not
	 * be read. */
	dplb_worker_release_fragments(worker, dplb_current_state(worker->publisher), UINT64_MAX);
	dplb_worker_flush_tx(worker);
	rte_rcu_qsbr_thread_offline(worker->rcu, worker->index);
	rte_rcu_qsbr_thread_unregister(worker->rcu, worker->index);
	return 0;
}
