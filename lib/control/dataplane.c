/*
 * Start-up and shutdown of the data plane: the mbuf pool, one RX and one TX
 * queue per worker on every port (RSS when there are several), the workers'
 * own state, and the first forwarding snapshot (made by control.c's
 * dplb_apply_config, as every later one is). What changes while the workers
 * run goes through control.c.
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

#include "common/log.h"
#include "control/context.h"
#include "control/control.h"
#include "control/dataplane.h"
#include "control/announce.h"
#include "control/exception_path.h"
#include "control/neighbor.h"
#include "health/health.h"

#define RX_DESCRIPTORS 1024
#define TX_DESCRIPTORS 1024
#define MBUF_CACHE 256
/* A mempool's per-lcore cache holds up to one and a half times its size. */
#define MBUF_CACHE_HELD (MBUF_CACHE * 3 / 2)
/* Buffers a driver may hold beyond its RX ring without failing start-up. */
#define MBUF_SPARE 4096
#define MBUF_POOL_MAX 16777216 /* the largest [dataplane] mbufs */
#define MAX_RETIRED_STATES 64
#define MANAGEMENT_RING_SIZE 1024
/* The kernel's BGP and BFD (packet/control_traffic.h): a worker's burst. */
#define CONTROL_RING_SIZE 256

/* What the pool must hold for the ports to run, by where buffers wait. */
struct pool_need {
	uint32_t rx_descriptors; /* the RX rings, full: the ports' and the taps' */
	uint32_t tx_descriptors; /* sent, not yet freed by the NIC */
	uint32_t caches;	 /* per-lcore mempool caches, the main lcore's too */
	uint32_t bursts;	 /* a received burst and a TX buffer per worker and port */
	uint32_t rings;		 /* the workers' rings: to and from management, to the kernel */
	uint32_t spare;
};

static uint32_t pool_need_total(const struct pool_need *need)
{
	return need->rx_descriptors + need->tx_descriptors + need->caches + need->bursts +
	       need->rings + need->spare;
}

static struct pool_need pool_need(const struct dplb_context *ctx)
{
	const uint32_t rings_per_worker = ctx->exception != NULL ? 3u : 2u;
	struct pool_need need = {
		.rx_descriptors = dplb_exception_path_rx_descriptors(ctx->exception),
		.caches = (ctx->worker_count + 1u) * MBUF_CACHE_HELD,
		.bursts = ctx->worker_count * ctx->port_count * 2u * DPLB_BURST,
		.rings = ctx->worker_count * (rings_per_worker * MANAGEMENT_RING_SIZE +
					      (ctx->exception != NULL ? CONTROL_RING_SIZE : 0u)),
		.spare = MBUF_SPARE,
	};

	for (uint16_t p = 0; p < ctx->port_count; p++) {
		need.rx_descriptors += ctx->worker_count * ctx->port_setup[p].rx_descriptors;
		need.tx_descriptors += ctx->worker_count * ctx->port_setup[p].tx_descriptors;
	}
	return need;
}

/* Check a port and configure it: one RX and one TX queue per worker (RSS
 * when there are several), offloads, MTU, descriptor counts. Its queues
 * come later, once the pool is sized from these counts. */
static int configure_port(struct dplb_context *ctx, uint16_t slot, uint32_t mtu)
{
	struct dplb_port_setup *setup = &ctx->port_setup[slot];
	const uint16_t port_id = ctx->port_ids[slot];
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf = { 0 };
	const uint16_t queues = ctx->worker_count;
	int rc;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		DPLB_LOG(ERR,
			 "port %u does not exist (%u ports found; check the EAL -a/--vdev "
			 "arguments)",
			 port_id, rte_eth_dev_count_avail());
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
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) &
			info.flow_type_rss_offloads;
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
	setup->status = DPLB_PORT_CONFIGURED;
	setup->tx_offloads = conf.txmode.offloads;
	setup->rx_descriptors = RX_DESCRIPTORS;
	setup->tx_descriptors = TX_DESCRIPTORS;
	rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &setup->rx_descriptors, &setup->tx_descriptors);
	/* The MTU covers the outer packet we send; not every PMD can set it. */
	rc = rte_eth_dev_set_mtu(port_id, (uint16_t)mtu);
	if (rc != 0 && rc != -ENOTSUP)
		DPLB_LOG(WARNING, "port %u: cannot set MTU %u: %s (continuing)", port_id, mtu,
			 strerror(-rc));
	return 0;
}

/*
 * The pool: as large as the ports need (pool_need), or [dataplane] mbufs.
 * Every frame up to the MTU fits one buffer: dplb asks for neither
 * scattered RX nor multi-segment TX, which jumbo frames would need.
 */
static int create_pool(struct dplb_context *ctx, uint32_t mbufs, uint32_t mtu)
{
	const struct pool_need need = pool_need(ctx);
	const uint32_t needed = pool_need_total(&need);
	const uint32_t data_room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE,
					   RTE_PKTMBUF_HEADROOM + mtu + RTE_ETHER_HDR_LEN +
						   RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN);

	ctx->pool_size = mbufs != 0 ? mbufs : needed;
	/* A mempool refuses a cache larger than two thirds of itself. */
	ctx->pool = rte_pktmbuf_pool_create("dplb_mbufs", ctx->pool_size,
					    RTE_MIN((uint32_t)MBUF_CACHE, ctx->pool_size / 2), 0,
					    (uint16_t)data_room, rte_socket_id());
	if (ctx->pool == NULL) {
		DPLB_LOG(ERR, "cannot create an mbuf pool of %u: %s", ctx->pool_size,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	if (mbufs == 0)
		DPLB_LOG(NOTICE,
			 "mbuf pool: %u buffers of %u bytes, sized from the ports: %u RX + "
			 "%u TX descriptors, %u in per-lcore caches, %u in bursts, %u in the "
			 "management rings, %u spare",
			 ctx->pool_size, data_room, need.rx_descriptors, need.tx_descriptors,
			 need.caches, need.bursts, need.rings, need.spare);
	else
		DPLB_LOG(NOTICE,
			 "mbuf pool: %u buffers of %u bytes, set by [dataplane] mbufs (sized "
			 "from the ports it would be %u)",
			 ctx->pool_size, data_room, needed);
	if (mbufs != 0 && mbufs < needed - need.spare)
		DPLB_LOG(WARNING,
			 "[dataplane] mbufs = %u is less than the ports need (%u): "
			 "receiving stalls whenever the buffers run out",
			 mbufs, needed - need.spare);
	return 0;
}

/*
 * An RX queue the driver would not set up. Some drivers take buffers of
 * their own there (net_pcap with infinite_rx: one per packet of its
 * capture) and fail when the pool has too few: set the queue up again on
 * larger scratch pools to learn how many, so that the error says what to
 * set. A queue set up that way closes the port before its pool goes.
 */
static void explain_rx_queue_failure(struct dplb_context *ctx, uint16_t slot, uint16_t queue,
				     int rc)
{
	struct dplb_port_setup *setup = &ctx->port_setup[slot];
	const uint16_t port_id = ctx->port_ids[slot];
	const int socket = rte_eth_dev_socket_id(port_id);
	const uint32_t log_level = rte_log_get_global_level();
	const uint32_t in_use = rte_mempool_in_use_count(ctx->pool);
	uint32_t held = 0;

	/* The driver would say why it failed again at every try. */
	rte_log_set_global_level(RTE_LOG_EMERG);
	for (uint32_t size = 2 * ctx->pool_size; held == 0 && size <= MBUF_POOL_MAX; size *= 2) {
		struct rte_mempool *scratch = rte_pktmbuf_pool_create(
			"dplb_probe", size, 0, 0, rte_pktmbuf_data_room_size(ctx->pool), socket);

		if (scratch == NULL)
			break;
		if (rte_eth_rx_queue_setup(port_id, queue, setup->rx_descriptors, socket, NULL,
					   scratch) == 0) {
			held = rte_mempool_in_use_count(scratch);
			rte_eth_dev_close(port_id);
			setup->status = DPLB_PORT_CLOSED;
		}
		rte_mempool_free(scratch);
	}
	rte_log_set_global_level(log_level);
	if (held == 0) {
		DPLB_LOG(ERR, "port %u queue %u: cannot set up the RX queue: %s", port_id, queue,
			 strerror(-rc));
		return;
	}
	/* Queues set up before hold theirs already; the others, as this one. */
	const struct pool_need need = pool_need(ctx);
	const uint32_t kept = in_use + held * (uint32_t)(ctx->worker_count - queue);

	DPLB_LOG(ERR,
		 "port %u: its driver keeps %u mbufs of its own on RX queue %u (net_pcap with "
		 "infinite_rx holds its whole capture); the pool has %u and the ports need %u "
		 "besides: set [dataplane] mbufs to at least %u",
		 port_id, held, queue, ctx->pool_size, pool_need_total(&need),
		 pool_need_total(&need) + kept);
}

static void log_port(const struct dplb_context *ctx, uint16_t slot, const char *driver)
{
	const struct dplb_port_setup *setup = &ctx->port_setup[slot];
	const uint16_t port_id = ctx->port_ids[slot];
	char mac_text[RTE_ETHER_ADDR_FMT_SIZE] = "unknown";
	char link_text[RTE_ETH_LINK_MAX_STR_LEN] = "link unknown";
	struct rte_ether_addr mac;
	struct rte_eth_link link;

	if (rte_eth_macaddr_get(port_id, &mac) == 0)
		rte_ether_format_addr(mac_text, sizeof(mac_text), &mac);
	/* Without waiting: a real NIC may need a few seconds to come up. */
	if (rte_eth_link_get_nowait(port_id, &link) == 0)
		rte_eth_link_to_str(link_text, sizeof(link_text), &link);
	DPLB_LOG(NOTICE,
		 "port %u: driver %s, MAC %s, %s, %u RX / %u TX queues of %u / %u "
		 "descriptors",
		 port_id, driver, mac_text, link_text, ctx->worker_count, ctx->worker_count,
		 setup->rx_descriptors, setup->tx_descriptors);
}

/* The queues on the pool, then start; says what the port runs with. */
static int start_port(struct dplb_context *ctx, uint16_t slot)
{
	struct dplb_port_setup *setup = &ctx->port_setup[slot];
	const uint16_t port_id = ctx->port_ids[slot];
	const int socket = rte_eth_dev_socket_id(port_id);
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port_id, &info);

	if (rc != 0)
		return rc;
	struct rte_eth_txconf txconf = info.default_txconf;
	txconf.offloads = setup->tx_offloads;
	for (uint16_t q = 0; q < ctx->worker_count; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, setup->rx_descriptors, socket, NULL,
					    ctx->pool);
		if (rc != 0) {
			setup->status = DPLB_PORT_ABANDONED;
			explain_rx_queue_failure(ctx, slot, q, rc);
			return rc;
		}
		rc = rte_eth_tx_queue_setup(port_id, q, setup->tx_descriptors, socket, &txconf);
		if (rc != 0) {
			setup->status = DPLB_PORT_ABANDONED;
			DPLB_LOG(ERR, "port %u queue %u: cannot set up the TX queue: %s", port_id,
				 q, strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(port_id);
	if (rc != 0) {
		DPLB_LOG(ERR, "cannot start port %u: %s", port_id, strerror(-rc));
		return rc;
	}
	setup->status = DPLB_PORT_STARTED;
	log_port(ctx, slot, info.driver_name);
	return 0;
}

/* Drivers that hold buffers beyond their RX rings (net_pcap with
 * infinite_rx) leave fewer to run with: say what to set, rather than let
 * the ports starve. */
static int check_pool_after_start(const struct dplb_context *ctx)
{
	const struct pool_need need = pool_need(ctx);
	const uint32_t in_use = rte_mempool_in_use_count(ctx->pool);
	const uint32_t held = in_use > need.rx_descriptors ? in_use - need.rx_descriptors : 0;

	if (held == 0 || ctx->pool_size >= pool_need_total(&need) - need.spare + held)
		return 0;
	DPLB_LOG(ERR,
		 "the ports' drivers keep %u mbufs beyond their RX descriptors (net_pcap with "
		 "infinite_rx holds its whole capture); the pool has %u and the ports need %u "
		 "besides: set [dataplane] mbufs to at least %u",
		 held, ctx->pool_size, pool_need_total(&need), pool_need_total(&need) + held);
	return -ENOBUFS;
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
	const uint32_t mbufs = config->mbufs;
	const uint32_t flow_capacity = config->flow_table_size;
	const uint32_t flow6_capacity = config->flow_table_size6;

	ctx->ids = dplb_identities_create();
	ctx->neighbors = calloc(1, sizeof(*ctx->neighbors));
	ctx->neighbors6 = calloc(1, sizeof(*ctx->neighbors6));
	ctx->health = dplb_health_create();
	if (ctx->ids == NULL || ctx->neighbors == NULL || ctx->neighbors6 == NULL ||
	    ctx->health == NULL || create_rcu(ctx) != 0) {
		dplb_config_free(config);
		return -ENOMEM;
	}
	rc = dplb_apply_config(ctx, config, error);
	if (rc != 0) {
		DPLB_LOG(ERR, "%s", error);
		return rc;
	}
	for (uint16_t p = 0; p < ctx->port_count; p++) {
		rc = configure_port(ctx, p, mtu);
		if (rc != 0)
			return rc;
	}
	/* The config was taken over: the snapshot that serves holds it. */
	rc = dplb_exception_path_create(ctx, dplb_current_state(ctx->publisher)->config);
	if (rc != 0)
		return rc;
	rc = create_pool(ctx, mbufs, mtu);
	if (rc != 0)
		return rc;
	for (uint16_t p = 0; p < ctx->port_count; p++) {
		rc = start_port(ctx, p);
		if (rc != 0)
			return rc;
	}
	rc = dplb_exception_path_start(ctx, mtu);
	if (rc != 0)
		return rc;
	rc = check_pool_after_start(ctx);
	if (rc != 0)
		return rc;

	ctx->workers = rte_zmalloc("dplb_workers", ctx->worker_count * sizeof(*ctx->workers),
				   RTE_CACHE_LINE_SIZE);
	if (ctx->workers == NULL)
		return -ENOMEM;
	uint16_t index = 0;
	RTE_LCORE_FOREACH_WORKER (lcore) {
		struct dplb_worker *worker = &ctx->workers[index];

		rc = dplb_worker_init_sized(worker, index, ctx->port_ids, ctx->port_count,
					    flow_capacity, flow6_capacity,
					    (int)rte_lcore_to_socket_id(lcore));
		if (rc != 0) {
			DPLB_LOG(ERR,
				 "worker %u: cannot allocate flow tables of %u and %u (IPv6): %s",
				 index, flow_capacity, flow6_capacity, strerror(-rc));
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
		if (ctx->exception != NULL) {
			snprintf(name, sizeof(name), "dplb_to_kernel_%u", index);
			worker->to_kernel = rte_ring_create(name, MANAGEMENT_RING_SIZE, socket,
							    RING_F_SP_ENQ | RING_F_SC_DEQ);
			snprintf(name, sizeof(name), "dplb_to_kernel_control_%u", index);
			worker->to_kernel_control = rte_ring_create(name, CONTROL_RING_SIZE, socket,
								    RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (worker->to_kernel == NULL || worker->to_kernel_control == NULL)
				return -ENOMEM;
			worker->control_peers = dplb_exception_path_control_peers(ctx->exception);
		}
		worker->publisher = ctx->publisher;
		worker->rcu = ctx->rcu;
		worker->stop = &ctx->stop_workers;
		index++;
	}
	return 0;
}

int dplb_launch_workers(struct dplb_context *ctx)
{
	unsigned int lcore;
	uint16_t index = 0;
	int rc;

	RTE_LCORE_FOREACH_WORKER (lcore) {
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
	/* Undo what start-up did, and only that: stopping a port that never
	 * started or closing an abandoned one makes DPDK complain. */
	for (uint16_t p = 0; p < ctx->port_count; p++) {
		struct dplb_port_setup *setup = &ctx->port_setup[p];

		if (setup->status == DPLB_PORT_STARTED)
			rte_eth_dev_stop(ctx->port_ids[p]);
		if (setup->status == DPLB_PORT_STARTED || setup->status == DPLB_PORT_CONFIGURED) {
			rte_eth_dev_close(ctx->port_ids[p]);
			setup->status = DPLB_PORT_CLOSED;
		}
	}
	/* Routes through the tap first: they would go with it, but logged. */
	dplb_announce_release(ctx);
	dplb_exception_path_release(ctx);
	if (ctx->workers != NULL) {
		for (uint16_t w = 0; w < ctx->worker_count; w++) {
			free_ring(ctx->workers[w].to_management);
			free_ring(ctx->workers[w].from_management);
			free_ring(ctx->workers[w].to_kernel);
			free_ring(ctx->workers[w].to_kernel_control);
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
	free(ctx->neighbors6);
	ctx->neighbors6 = NULL;
	dplb_health_free(ctx->health);
	ctx->health = NULL;
	rte_mempool_free(ctx->pool);
	ctx->pool = NULL;
}
