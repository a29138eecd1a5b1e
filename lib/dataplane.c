/*
 * Start-up and shutdown of the data plane: the mbuf pool, one RX and one TX
 * queue per worker on every port (RSS when there are several), the workers'
 * own state, and the first forwarding snapshot. Also the reload path that
 * replaces the snapshot while the workers run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dplb.h"
#include "health.h"
#include "log.h"
#include "neighbor.h"

#define RX_DESCRIPTORS 1024
#define TX_DESCRIPTORS 1024
#define MBUF_CACHE 256
#define MAX_RETIRED_STATES 64
#define MANAGEMENT_RING_SIZE 1024

static int setup_port(const struct dplb_context *ctx, uint16_t port_id, uint32_t mtu)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf = { 0 };
	uint16_t rx_descriptors = RX_DESCRIPTORS, tx_descriptors = TX_DESCRIPTORS;
	const uint16_t queues = ctx->worker_count;
	int rc;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		DPLB_LOG(ERR, "port %u does not exist (%u ports found; check the EAL -a/--vdev "
			 "arguments)", port_id, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0)
		return rc;
	if (queues > info.max_rx_queues || queues > info.max_tx_queues) {
		DPLB_LOG(ERR, "port %u supports %u RX / %u TX queues, %u workers need one each",
			 port_id, info.max_rx_queues, info.max_tx_queues, queues);
		return -EINVAL;
	}
	if (queues > 1) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
	}
	/* Let the NIC check IPv4 header checksums where it can: the parser
	 * then trusts its verdict and skips its own sum. */
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	/* One pool, no clones, refcount 1: what fast free requires. */
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	rc = rte_eth_dev_configure(port_id, queues, queues, &conf);
	if (rc != 0) {
		DPLB_LOG(ERR, "cannot configure port %u: %s", port_id, strerror(-rc));
		return rc;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_descriptors, &tx_descriptors);
	/* The MTU covers the outer packet we send; not every PMD can set it. */
	rc = rte_eth_dev_set_mtu(port_id, (uint16_t)mtu);
	if (rc != 0 && rc != -ENOTSUP)
		DPLB_LOG(WARNING, "port %u: cannot set MTU %u: %s (continuing)", port_id, mtu,
			 strerror(-rc));
	const int socket = rte_eth_dev_socket_id(port_id);
	struct rte_eth_txconf txconf = info.default_txconf;
	txconf.offloads = conf.txmode.offloads;
	for (uint16_t q = 0; q < queues; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, rx_descriptors, socket, NULL, ctx->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port_id, q, tx_descriptors, socket, &txconf);
		if (rc != 0) {
			DPLB_LOG(ERR, "port %u queue %u: %s", port_id, q, strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc != 0)
		DPLB_LOG(ERR, "cannot start port %u: %s", port_id, strerror(-rc));
	return rc;
}

static int create_pool(struct dplb_context *ctx, uint32_t mtu)
{
	const unsigned int per_queue = RX_DESCRIPTORS + TX_DESCRIPTORS + 2 * DPLB_BURST;
	unsigned int count = ctx->port_count * ctx->worker_count * per_queue +
			     ctx->worker_count * MBUF_CACHE + 4096;
	/* Every frame up to the MTU fits one buffer: dplb asks for neither
	 * scattered RX nor multi-segment TX, which jumbo frames would need. */
	const uint32_t data_room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE,
					   RTE_PKTMBUF_HEADROOM + mtu + RTE_ETHER_HDR_LEN +
						   RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN);

	ctx->pool = rte_pktmbuf_pool_create("dplb_mbufs", count, MBUF_CACHE, 0,
					    (uint16_t)data_room, rte_socket_id());
	if (ctx->pool == NULL) {
		DPLB_LOG(ERR, "cannot create an mbuf pool of %u: %s", count,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

static int create_rcu(struct dplb_context *ctx)
{
	const size_t size = rte_rcu_qsbr_get_memsize(ctx->worker_count);

	ctx->rcu = rte_zmalloc("dplb_rcu", size, RTE_CACHE_LINE_SIZE);
	if (ctx->rcu == NULL || rte_rcu_qsbr_init(ctx->rcu, ctx->worker_count) != 0)
		return -ENOMEM;
	ctx->publisher = dplb_publisher_create(ctx->rcu, MAX_RETIRED_STATES);
	return ctx->publisher == NULL ? -ENOMEM : 0;
}

int dplb_apply_config(struct dplb_context *ctx, struct dplb_config *config, char *error)
{
	struct dplb_state *state;
	int rc;

	/* Next hops of the new configuration are looked up (and asked for by
	 * the next management tick) before it serves. */
	dplb_management_want_next_hops(ctx, config);
	const struct dplb_state_inputs inputs = dplb_management_state_inputs(ctx);

	rc = dplb_state_build_with(config, ctx->ids, &inputs, ctx->generation + 1, &state, error);
	if (rc != 0) {
		const struct dplb_state *current = dplb_current_state(ctx->publisher);

		if (current != NULL)
			dplb_management_want_next_hops(ctx, current->config);
		return rc;
	}
	/* Only now may the old configuration's next hops be forgotten: had the
	 * build failed, they would still be needed, MACs and all. */
	dplb_neighbors_forget_unwanted(ctx->neighbors);
	dplb_publish(ctx->publisher, state);
	ctx->generation++;
	/* Backends that stay keep their health (it was in inputs); new ones
	 * are checked from now on, and a check turned off makes a backend
	 * unchecked, which needs one more snapshot. */
	if (dplb_health_sync(ctx->health, config, ctx->ids))
		dplb_management_republish(ctx);
	return 0;
}

int dplb_reload(struct dplb_context *ctx, struct dplb_config_errors *errs)
{
	struct dplb_config_errors local;
	struct dplb_config *config;
	const struct dplb_state *current = dplb_current_state(ctx->publisher);
	int rc;

	if (errs == NULL)
		errs = &local;
	rc = dplb_config_load(ctx->config_path, &config, errs);
	/* Ports and flow-table size are fixed at start-up. */
	if (rc == 0 && (config->port_count != current->config->port_count ||
			memcmp(config->port_ids, current->config->port_ids,
			       sizeof(config->port_ids)) != 0 ||
			config->flow_table_size != current->config->flow_table_size ||
			config->mtu != current->config->mtu)) {
		snprintf(errs->messages[0], DPLB_ERROR_MAX,
			 "%.200s: ports, flow_table_size and mtu cannot change without a restart",
			 ctx->config_path);
		errs->count = 1;
		dplb_config_free(config);
		rc = -EINVAL;
	}
	if (rc == 0) {
		rc = dplb_apply_config(ctx, config, errs->messages[0]);
		errs->count = rc == 0 ? 0 : 1;
	}
	if (rc == 0)
		ctx->reloads_ok++;
	else
		ctx->reloads_failed++;
	return rc;
}

int dplb_start(struct dplb_context *ctx, const char *config_path, struct dplb_config *config)
{
	char error[DPLB_ERROR_MAX];
	char name[RTE_RING_NAMESIZE];
	unsigned int lcore;
	int rc;

	snprintf(ctx->config_path, sizeof(ctx->config_path), "%s", config_path);
	ctx->worker_count = (uint16_t)rte_lcore_count() - 1;
	if (ctx->worker_count == 0) {
		DPLB_LOG(ERR, "no worker lcore: the main lcore only manages; give at least "
			 "two lcores (e.g. -l 0-1)");
		dplb_config_free(config);
		return -EINVAL;
	}
	ctx->port_count = (uint16_t)config->port_count;
	memcpy(ctx->port_ids, config->port_ids, sizeof(ctx->port_ids));
	const uint32_t mtu = config->mtu;
	const uint32_t flow_capacity = config->flow_table_size;

	ctx->ids = dplb_identities_create();
	ctx->neighbors = calloc(1, sizeof(*ctx->neighbors));
	ctx->health = dplb_health_create();
	if (ctx->ids == NULL || ctx->neighbors == NULL || ctx->health == NULL ||
	    create_rcu(ctx) != 0) {
		dplb_config_free(config);
		return -ENOMEM;
	}
	rc = dplb_apply_config(ctx, config, error);
	if (rc != 0) {
		DPLB_LOG(ERR, "%s", error);
		return rc;
	}
	rc = create_pool(ctx, mtu);
	if (rc != 0)
		return rc;
	for (uint16_t p = 0; p < ctx->port_count; p++) {
		rc = setup_port(ctx, ctx->port_ids[p], mtu);
		if (rc != 0)
			return rc;
	}

	ctx->workers = rte_zmalloc("dplb_workers", ctx->worker_count * sizeof(*ctx->workers),
				   RTE_CACHE_LINE_SIZE);
	if (ctx->workers == NULL)
		return -ENOMEM;
	uint16_t index = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct dplb_worker *worker = &ctx->workers[index];

		rc = dplb_worker_init(worker, index, ctx->port_ids, ctx->port_count, flow_capacity,
				      (int)rte_lcore_to_socket_id(lcore));
		if (rc != 0) {
			DPLB_LOG(ERR, "worker %u: cannot allocate a flow table of %u: %s",
				 index, flow_capacity, strerror(-rc));
			return rc;
		}
		const int socket = (int)rte_lcore_to_socket_id(lcore);

		snprintf(name, sizeof(name), "dplb_to_mgmt_%u", index);
		worker->to_management = rte_ring_create(name, MANAGEMENT_RING_SIZE, socket,
							RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "dplb_from_mgmt_%u", index);
		worker->from_management = rte_ring_create(name, MANAGEMENT_RING_SIZE, socket,
							  RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (worker->to_management == NULL || worker->from_management == NULL)
			return -ENOMEM;
		worker->publisher = ctx->publisher;
		worker->rcu = ctx->rcu;
		worker->stop = &ctx->stop_workers;
		index++;
	}
	index = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		rc = rte_eal_remote_launch(dplb_worker_main, &ctx->workers[index], lcore);
		if (rc != 0)
			return rc;
		index++;
	}
	return 0;
}

static void free_ring(struct rte_ring *ring)
{
	struct rte_mbuf *m;

	while (ring != NULL && rte_ring_dequeue(ring, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(ring);
}

void dplb_stop_workers(struct dplb_context *ctx)
{
	ctx->stop_workers = true;
	rte_eal_mp_wait_lcore();
}

void dplb_release(struct dplb_context *ctx)
{
	for (uint16_t p = 0; p < ctx->port_count; p++) {
		if (!rte_eth_dev_is_valid_port(ctx->port_ids[p]))
			continue;
		rte_eth_dev_stop(ctx->port_ids[p]);
		rte_eth_dev_close(ctx->port_ids[p]);
	}
	if (ctx->workers != NULL) {
		for (uint16_t w = 0; w < ctx->worker_count; w++) {
			free_ring(ctx->workers[w].to_management);
			free_ring(ctx->workers[w].from_management);
			dplb_worker_fini(&ctx->workers[w]);
		}
		rte_free(ctx->workers);
		ctx->workers = NULL;
	}
	dplb_publisher_free(ctx->publisher);
	ctx->publisher = NULL;
	rte_free(ctx->rcu);
	ctx->rcu = NULL;
	dplb_identities_free(ctx->ids);
	ctx->ids = NULL;
	free(ctx->neighbors);
	ctx->neighbors = NULL;
	dplb_health_free(ctx->health);
	ctx->health = NULL;
	rte_mempool_free(ctx->pool);
	ctx->pool = NULL;
}
