/*
 * A worker lcore: polls its RX queue on every port, forwards VIP traffic to
 * backends, and owns everything it writes (flow table, counters, TX
 * buffers), so the hot path needs no locks and no contended atomics.
 */
#ifndef DPLB_WORKER_H
#define DPLB_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "control/config.h"
#include "control/state.h"
#include "packet/control_traffic.h"
#include "packet/counters.h"
#include "packet/encap.h"
#include "packet/flow_key.h"
#include "packet/flow_table.h"
#include "packet/flow_table6.h"
#include "packet/fragment_cache.h"
#include "packet/rate_limit.h"

/*
 * Packets a worker asks the driver for at once, and sends at once. 64 rather
 * than DPDK's usual 32: stage 1 of a burst (parse, classify, prefetch of the
 * flow's bucket) then runs twice as long before stage 2 reads the buckets,
 * so more of their cache misses are over by then, and the per-burst costs
 * (RX and TX calls, the end of an iteration) are shared by twice as many
 * packets. dplb-bench on a noisy 2-vCPU VM, medians of alternated
 * invocations (c/p, 32 -> 64): est-1k 67 -> 64; est-1m 99 -> 89 in one
 * set, 100 -> 96 in another of 6 rounds; est-10m 184 -> 166; flood 183 ->
 * 173 (its ageing kept at a bucket a packet). 128 measured no better
 * than 64. A driver that returns at most 32 a call gives bursts of 32, as
 * before; net_pcap reading a FIFO blocks until 64 have come (the tests'
 * harness writes whole bursts).
 */
#define DPLB_BURST 64
/* How many flow-table buckets the ageing walk visits per slice. */
#define DPLB_AGEING_SLICE 16
/* How long a packet may wait for a TX burst to fill while packets keep
 * coming (DPDK's l3fwd drains every 100 us too). */
#define DPLB_TX_DRAIN_US 100
/* ICMP "fragmentation needed" a worker may send per second. */
#define DPLB_FRAG_NEEDED_PER_SECOND 1000

/*
 * IPv4 fragments (worker.c, packet/fragment_cache.h). A datagram's
 * fragments leave the sender back to back and arrive within milliseconds
 * of each other, reordered at worst by paths of different lengths (routers
 * that hash the ports put a first fragment and the port-less rest on
 * different ECMP paths). So where a first fragment went is remembered for
 * 2 s: far more than any such spread, short enough that an entry is gone
 * long before a busy sender's 16-bit IP id comes round again, and that
 * 4096 entries (256 KiB a worker) hold every datagram of 2048 a second
 * before the oldest are overwritten (then usually long past their use).
 * A fragment that comes before its first waits for it at most 100 ms
 * (enough for ECMP path skew and for senders that send the last fragment
 * first, little added delay for one whose first never comes), 64 of them
 * at most a worker: mbufs the pool's spare covers.
 */
#define DPLB_FRAGMENT_CACHE_ENTRIES 4096
#define DPLB_FRAGMENT_TIMEOUT_MS 2000
#define DPLB_FRAGMENT_HOLD_PACKETS 64
#define DPLB_FRAGMENT_HOLD_MS 100

/* A TX buffer's slot: what its packet counts once the driver has taken it. */
struct dplb_tx_slot {
	uint32_t frame_bytes; /* the port's tx_bytes */
	uint32_t ip_bytes;    /* the VIP's and backend's bytes_out */
	uint32_t backend_id;
	uint16_t vip_id; /* DPLB_TX_NOT_FORWARDED: a frame of dplb's own */
};

#define DPLB_TX_NOT_FORWARDED UINT16_MAX

/* A port's packets waiting for the driver: slots[i] describes packets[i]. */
struct dplb_tx_queue {
	uint16_t length;
	struct rte_mbuf *packets[DPLB_BURST];
	struct dplb_tx_slot slots[DPLB_BURST];
};
_Static_assert(DPLB_MAX_VIP_IDS <= DPLB_TX_NOT_FORWARDED, "a VIP id is never the marker");
_Static_assert(DPLB_MAX_VIP_IDS <= DPLB_FLOW_VIP_MASK + 1, "a VIP id fits a flow's meta word");
_Static_assert(DPLB_MAX_BACKEND_IDS <= UINT16_MAX + 1, "a backend id fits a flow's 16 bits");

struct dplb_worker {
	/* Read on every packet. */
	struct dplb_flow_table flows;
	/* IPv6 flows: a table of their own (flow_table6.h), of
	 * flow_table_size6 flows. */
	struct dplb_flow6_table flows6;
	const struct dplb_publisher *publisher;
	struct rte_rcu_qsbr *rcu;
	uint32_t now;	/* seconds since start, updated per iteration */
	uint16_t index; /* RCU thread id and queue id on every port */
	uint16_t port_count;
	uint16_t port_ids[DPLB_MAX_PORTS];
	struct rte_ether_addr port_macs[DPLB_MAX_PORTS];
	/* Packets count as sent (port, VIP, backend) only once the driver
	 * has taken them. */
	struct dplb_tx_queue tx[DPLB_MAX_PORTS];
	/* Frames for the management lcore (ARP), and frames it wants sent
	 * (ARP requests, mbuf->port = port slot): workers own every TX queue,
	 * so the management lcore sends through one. Either may be NULL. */
	struct rte_ring *to_management;
	struct rte_ring *from_management;
	/* Frames for the kernel's exception path (control/exception_path.h):
	 * TCP, UDP and ICMP for dplb's own address that the worker does not
	 * answer itself. NULL without one: they are dropped. */
	struct rte_ring *to_kernel;
	/* The kernel's BGP and BFD (packet/control_traffic.h): a peer's go on
	 * to_kernel_control, which the management lcore empties first, within
	 * control_limit; control_peers are the peers it learned. NULL
	 * without an exception path. */
	struct rte_ring *to_kernel_control;
	const struct dplb_control_peers *control_peers;
	struct dplb_rate_limit control_limit;
	struct dplb_token_bucket control_bucket;
	uint64_t start_tsc;
	uint64_t tsc_hz;
	uint64_t next_second_tsc; /* when now next changes */
	uint64_t next_ageing_tsc; /* when the next ageing slice is due */
	uint64_t next_drain_tsc;  /* when waiting TX packets go out anyway */
	unsigned int lcore_id;
	volatile bool *stop;
	uint32_t round_robin_cursor[DPLB_MAX_VIP_IDS];
	/* Per VIP: 1 + the second (now) this worker last forwarded one of its
	 * flows without an entry, the table being full; 0: never. */
	uint32_t stateless_second[DPLB_MAX_VIP_IDS];
	/* This worker's share of each VIP's new_flow_rate (packet/protect.h). */
	struct dplb_token_bucket new_flow_buckets[DPLB_MAX_VIP_IDS];
	/* Where each fragmented datagram's first fragment went, and later
	 * fragments waiting for their first (mbufs, m->port their port slot);
	 * timeouts in TSC cycles. */
	struct dplb_fragment_cache fragment_cache;
	struct dplb_fragment_hold fragment_hold;
	uint64_t fragment_hold_tsc;
	uint16_t next_packet_id;     /* outer IP id of non-DF packets */
	uint32_t frag_needed_second; /* rate limit of ICMP "frag needed" */
	uint32_t frag_needed_sent_this_second;
	struct dplb_worker_counters counters;
} __rte_cache_aligned;

/* How many IPv6 flows a worker with flow_capacity IPv4 flows holds when
 * flow_table_size6 is not set (dplb_default_flow_table_size6). */
static inline uint32_t dplb_worker_flow6_capacity(uint32_t flow_capacity)
{
	return dplb_default_flow_table_size6(flow_capacity);
}

/*
 * Set up a worker's own state on socket: flow tables of flow_capacity IPv4
 * flows and flow6_capacity IPv6 ones, TX buffers, counter arrays. Returns 0
 * or a negative errno. Main lcore, before launch.
 */
int dplb_worker_init_sized(struct dplb_worker *worker, uint16_t index, const uint16_t *port_ids,
			   uint16_t port_count, uint32_t flow_capacity, uint32_t flow6_capacity,
			   int socket);

/* As dplb_worker_init_sized, with the IPv6 table flow_table_size6's default
 * for flow_capacity: for tests and benchmarks that size one table. */
static inline int dplb_worker_init(struct dplb_worker *worker, uint16_t index,
				   const uint16_t *port_ids, uint16_t port_count,
				   uint32_t flow_capacity, int socket)
{
	return dplb_worker_init_sized(worker, index, port_ids, port_count, flow_capacity,
				      dplb_worker_flow6_capacity(flow_capacity), socket);
}
void dplb_worker_fini(struct dplb_worker *worker);

/* Handle one burst received on port slot port_slot. Exposed for benchmarks
 * and tests that drive the pipeline without a PMD. */
void dplb_worker_process_burst(struct dplb_worker *worker, const struct dplb_state *state,
			       uint16_t port_slot, struct rte_mbuf **packets, uint16_t count);

/*
 * Send the held fragments (those that came before their datagram's first)
 * whose hold ended by tsc (rte_rdtsc(); UINT64_MAX: all of them) by the
 * 3-tuple hash. Called by dplb_worker_end_iteration; exposed for tests and
 * fuzzing that drive the pipeline without the loop. Worker lcore.
 */
void dplb_worker_release_fragments(struct dplb_worker *worker, const struct dplb_state *state,
				   uint64_t tsc);

/* Visit the next slice of the flow table and expire idle flows. */
void dplb_worker_age_flows(struct dplb_worker *worker, const struct dplb_state *state,
			   uint32_t budget);

/*
 * Everything a loop iteration does besides receiving: advance the clock,
 * send what the management lcore handed over, flush TX queues (when the
 * iteration received nothing or DPLB_TX_DRAIN_US have passed), age a slice
 * of flows when one is due, publish occupancy. tsc is rte_rdtsc(); busy
 * says whether anything was received. Exposed so benchmarks run exactly the
 * daemon's loop.
 */
void dplb_worker_end_iteration(struct dplb_worker *worker, uint64_t tsc, bool busy);

/*
 * Hand every buffered packet to the driver and count what it took; the rest
 * are dropped as tx_full. Called by dplb_worker_end_iteration; exposed for
 * benchmarks and tests that drive the pipeline themselves. Worker lcore.
 */
void dplb_worker_flush_tx(struct dplb_worker *worker);

/* Where worker sends a packet of vip that arrived on port_slot to backend,
 * in outer_family (the backend's; a constant where it is inlined): the
 * worker's own, and dplb-bench's stages. Takes the next outer IP id. */
static inline __attribute__((always_inline)) struct dplb_encap_target dplb_worker_encap_target(
	struct dplb_worker *worker, const struct dplb_state *state, uint16_t port_slot,
	const struct dplb_vip_entry *vip, const struct dplb_backend_entry *backend,
	uint8_t outer_family)
{
	return (struct dplb_encap_target){
		.outer_family = outer_family,
		.outer_src = state->local_address,
		.outer_dst = backend->address,
		.outer_src6 = state->local_address6,
		.outer_dst6 = backend->address6,
		.gue_port = state->gue_port,
		.kind = vip->encap,
		.packet_id = worker->next_packet_id++,
		.src_mac = &worker->port_macs[port_slot],
		.dst_mac = &backend->next_hop_mac,
		.header4 = outer_family == AF_INET ? &backend->header4 : NULL,
	};
}

/* Refresh worker->now from the TSC. */
static inline void dplb_worker_tick(struct dplb_worker *worker)
{
	worker->now = (uint32_t)((rte_rdtsc() - worker->start_tsc) / worker->tsc_hz);
}

/* The lcore entry point (rte_eal_remote_launch); arg is the worker. */
int dplb_worker_main(void *arg);

#endif
