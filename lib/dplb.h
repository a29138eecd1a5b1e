/*
 * The running dplb process: ports, workers, the published forwarding state,
 * and the control operations (start, reload, stop) that every front end —
 * signals, the INI file, telemetry, later the HTTP API — goes through.
 */
#ifndef DPLB_DPLB_H
#define DPLB_DPLB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include "config.h"
#include "counters.h"
#include "state.h"
#include "worker.h"

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
	/* Next hops learned by ARP; management lcore only. */
	struct dplb_neighbors *neighbors;
	/* Health checks of every backend; management lcore only. */
	struct dplb_health_checker *health;
	uint64_t health_updates; /* snapshots made because health changed */
	bool republish_pending;  /* a change waits for a snapshot that has it */
	uint64_t last_timers_ms; /* when the neighbor table was last walked */
	uint64_t arp_requests_sent;
	uint64_t arp_answers_learned;
	uint64_t next_hop_updates; /* snapshots made because a MAC changed */
	/*
	 * Held by the management lcore while it works (a reload or an API
	 * change may free a snapshot) and by threads that read state from
	 * elsewhere (DPDK telemetry callbacks) while they read. Never by a
	 * worker. Initialise with PTHREAD_MUTEX_INITIALIZER.
	 */
	pthread_mutex_t management_lock;
};

/*
 * Build the first snapshot from config (taken over), set up ports and
 * workers, and launch the workers. Returns 0 or a negative errno, logging
 * why. Main lcore, after rte_eal_init.
 */
int dplb_start(struct dplb_context *ctx, const char *config_path, struct dplb_config *config);

/*
 * Re-read the configuration file and make it current. On any error the old
 * state keeps serving and errs (may be NULL) says why. Management lcore.
 */
int dplb_reload(struct dplb_context *ctx, struct dplb_config_errors *errs);

/* Replace the state with one built from config (taken over): the common
 * path of reloads and, later, API changes. Management lcore. */
int dplb_apply_config(struct dplb_context *ctx, struct dplb_config *config, char *error);

/*
 * One bounded slice of management work: take ARP frames from the workers,
 * learn and expire next hops (publishing a new snapshot when a MAC changes),
 * ask about unresolved next hops, free retired snapshots. Never blocks;
 * call it every few milliseconds. Management lcore.
 */
void dplb_management_tick(struct dplb_context *ctx);

/* What snapshots are built from besides the configuration: next hops
 * learned by ARP and backends' health. Management lcore. */
struct dplb_state_inputs dplb_management_state_inputs(const struct dplb_context *ctx);

/* A new snapshot of the current configuration with the current inputs.
 * Returns 0 or a negative errno (the old snapshot keeps serving). */
int dplb_management_republish(struct dplb_context *ctx);

/* Mark the next hops of config as the ones the neighbor table resolves;
 * the others are dropped by dplb_neighbors_forget_unwanted once config
 * serves. */
void dplb_management_want_next_hops(struct dplb_context *ctx, const struct dplb_config *config);

/* Stop the workers and wait for them; counters stay readable. Main lcore. */
void dplb_stop_workers(struct dplb_context *ctx);
/* Close ports (flushing pcap output) and free everything. Main lcore. */
void dplb_release(struct dplb_context *ctx);

/* ---- counters, summed over workers (any thread; values may lag) ---- */

struct dplb_totals {
	struct dplb_port_counters port[DPLB_MAX_COUNTED_PORTS];
	uint64_t drops[DPLB_DROP_REASON_COUNT];
	uint64_t drops_total;
	uint64_t new_flows;
	uint64_t flow_insert_failures;
	uint64_t flows_expired;
	uint64_t flows_rescheduled;
	uint64_t flows_active;
	uint64_t flow_capacity;
	uint64_t to_management;
	uint64_t arp_replies;
	uint64_t icmp_echo_replies;
	uint64_t icmp_frag_needed_sent;
	uint64_t icmp_errors_forwarded;
	uint64_t icmp_error_copies;
	uint64_t rx_packets;
	uint64_t tx_packets;
};

void dplb_totals_sum(const struct dplb_context *ctx, struct dplb_totals *totals);
/* One VIP's or backend's counters summed over workers. */
void dplb_vip_counters_sum(const struct dplb_context *ctx, uint16_t vip_id,
			   struct dplb_traffic_counters *out);
void dplb_backend_counters_sum(const struct dplb_context *ctx, uint32_t backend_id,
			       struct dplb_traffic_counters *out);

/* The summary printed when dplb exits. */
void dplb_print_summary(const struct dplb_context *ctx, FILE *out);

/* Register /dplb/... DPDK telemetry commands reading ctx. */
int dplb_telemetry_register(struct dplb_context *ctx);

#endif
