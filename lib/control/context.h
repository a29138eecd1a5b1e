/*
 * The running dplb process: ports, workers, the published forwarding state
 * and what the management lcore keeps. One struct, passed to every part;
 * the functions that act on it live in dataplane.h (start, stop),
 * management.h (the management lcore's work), control.h (changes),
 * api/stats.h (counters) and api/telemetry.h.
 */
#ifndef DPLB_CONTEXT_H
#define DPLB_CONTEXT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "control/config.h"
#include "control/state.h"
#include "packet/counters.h"
#include "packet/worker.h"

/* How far a port got at start-up, so that shutdown undoes exactly that. */
enum dplb_port_status {
	DPLB_PORT_UNTOUCHED,
	DPLB_PORT_CONFIGURED, /* rte_eth_dev_configure done: close it */
	DPLB_PORT_STARTED,    /* stop, then close */
	/* A queue set-up failed: left alone, as the process exits anyway. A
	 * driver may free part of a failed queue and free it again on close
	 * (net_pcap's infinite_rx ring: "RING: Cannot free ring"). */
	DPLB_PORT_ABANDONED,
	DPLB_PORT_CLOSED,
};

struct dplb_port_setup {
	enum dplb_port_status status;
	uint16_t rx_descriptors; /* per queue, as the driver adjusted them */
	uint16_t tx_descriptors;
	uint64_t tx_offloads;
};

struct dplb_state_builder;
struct dplb_exception_path;
struct dplb_announcer;

struct dplb_context {
	char config_path[DPLB_PATH_MAX];
	struct dplb_identities *ids;
	struct rte_rcu_qsbr *rcu;
	struct dplb_publisher *publisher;
	struct rte_mempool *pool;
	uint32_t pool_size;
	struct dplb_port_setup port_setup[DPLB_MAX_PORTS]; /* by port slot */
	struct dplb_worker *workers; /* worker_count of them, one per worker lcore */
	uint16_t worker_count;
	uint16_t port_count;
	uint16_t port_ids[DPLB_MAX_PORTS];
	volatile bool stop_workers;
	uint64_t generation; /* of the current snapshot, 1 for the first */
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	/* Next hops learned by ARP, and IPv6 ones by neighbor discovery;
	 * management lcore only. */
	struct dplb_neighbors *neighbors;
	struct dplb_neighbors6 *neighbors6;
	/* Health checks of every backend; management lcore only. */
	struct dplb_health_checker *health;
	uint64_t health_updates; /* snapshots made because health changed */
	bool republish_pending;	 /* a change waits for a snapshot that has it */
	/* Why, for health_updates and next_hop_updates once it serves. */
	bool republish_for_health;
	bool republish_for_next_hops;
	/* Builds snapshots' tables off the management lcore (state_builder.h);
	 * NULL: on it, blocking (start-up, unit tests). */
	struct dplb_state_builder *builder;
	uint64_t last_timers_ms; /* when the neighbor table was last walked */
	uint64_t arp_requests_sent;
	uint64_t arp_answers_learned;
	uint64_t nd_solicitations_sent;
	uint64_t nd_advertisements_learned;
	uint64_t next_hop_updates; /* snapshots made because a MAC changed */
	/* The kernel's taps (control/exception_path.h), NULL without; what
	 * the management lcore moved through them. */
	struct dplb_exception_path *exception;
	struct dplb_exception_counters exception_counters;
	/* Routes of healthy VIPs in announce_table (control/announce.h), NULL
	 * until the first is wanted. */
	struct dplb_announcer *announcer;
	/* The HTTP API listens beyond loopback (set by dplb_api_start): a
	 * reload may not take its token away unnoticed. */
	bool api_exposed;
	/*
	 * Held by the management lcore while it works (a reload or an API
	 * change may free a snapshot) and by threads that read state from
	 * elsewhere (DPDK telemetry callbacks) while they read. Never by a
	 * worker. Initialise with PTHREAD_MUTEX_INITIALIZER.
	 */
	pthread_mutex_t management_lock;
};

#endif
