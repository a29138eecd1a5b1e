/*
 * libFuzzer target: the packet pipeline entry. Any bytes are one received
 * frame, run through dplb_worker_process_burst (parse, classify, flow
 * table, schedule, encapsulate, or the ARP and ICMP answers) against fixed
 * snapshots with a VIP of every scheduler and both encapsulations (web
 * clamps the MSS of SYNs), on a
 * worker whose flow table holds FLOW_CAPACITY flows, so that inserting,
 * finding, rescheduling, expiring and a full table all happen.
 *
 * Input: byte 0 lays the frame out: 0 is one mbuf, N splits it into a
 * chain of two mbufs after N bytes (when the frame is longer). Byte 1:
 *   bits 0-1  the snapshot the frame meets (0 as the preamble's, 1 some
 *             backends unhealthy, 2 no next-hop MACs, 3 backends drained,
 *             down or removed: established flows move)
 *   bits 2-3  preamble: 0, 2, FLOW_CAPACITY - 1 or FLOW_CAPACITY
 *             well-formed flows sent first (the last fills the table),
 *             under snapshot 0: see preamble_frame
 *   bits 4-5  seconds the clock moves on after the preamble (0, 1, 3, 100),
 *             with a full ageing sweep
 *   bit  6    the frame comes twice in the burst (a flow begun in it)
 * Byte 2: bits 0-1 what the NIC says of the IP checksum (nothing, good,
 * bad, unknown), bit 2 the first mbuf has no headroom. Bytes 3.. the frame.
 *
 * Each input starts from an empty flow table and ends with every mbuf back
 * in the pool, every packet accounted (rx = tx + drops + to management -
 * ICMP copies, as the exit summary says) and, once every flow has expired,
 * no active flow left on any VIP or backend; anything else aborts.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "control/state.h"
#include "fuzz_eal.h"
#include "health/health_state.h"
#include "packet/worker.h"

#define FLOW_CAPACITY 16u
#define POOL_SIZE 255u
#define SNAPSHOTS 4
#define HEADER_BYTES 3

/* The port's MAC as the corpus frames address it. */
static const struct rte_ether_addr port_mac = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 } };

/* Every scheduler, both encapsulations, TCP and UDP, a VIP on every port and
 * one with nothing up; short timeouts so that ageing is reached. %s is
 * [dataplane]'s next-hop line, %s... each variant's backend options. */
static const char *const config_format =
	"[dataplane]\naddress = 10.0.0.1\n%s"
	"tcp_timeout = 4\nudp_timeout = 2\ntcp_closing_timeout = 1\nmtu = 576\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nprotocol = tcp\nscheduler = maglev\n"
	"encap = ipip\nmaglev_size = 251\nmss_clamp = 1400\n"
	"backend = 10.0.1.2\nbackend = 10.0.1.3 weight=2 %s\nbackend = 10.0.1.4 %s\n\n"
	"[vip:dns]\naddress = 10.0.0.100\nport = 53\nprotocol = udp\nscheduler = round-robin\n"
	"encap = gue\nmaglev_size = 251\n"
	"backend = 10.0.2.2\nbackend = 10.0.2.3 %s\nbackend = 10.0.2.4\n\n"
	"[vip:api]\naddress = 10.0.0.101\nport = 443\nprotocol = tcp\n"
	"scheduler = least-connections\nencap = gue\nmaglev_size = 251\n"
	"backend = 10.0.3.2 weight=3\nbackend = 10.0.3.3 %s\n\n"
	"[vip:sh]\naddress = 10.0.0.101\nport = 53\nprotocol = udp\nscheduler = source-hash\n"
	"encap = ipip\nmaglev_size = 251\nbackend = 10.0.4.2\nbackend = 10.0.4.3 %s\n\n"
	"[vip:wrr]\naddress = 10.0.0.102\nport = 8080\nprotocol = tcp\n"
	"scheduler = weighted-round-robin\nencap = ipip\nmaglev_size = 251\n"
	"backend = 10.0.5.2 weight=1\nbackend = 10.0.5.3 weight=2 %s\n"
	"backend = 10.0.5.4 weight=3\n\n"
	"[vip:any]\naddress = 10.0.0.103\nport = 0\nprotocol = udp\nscheduler = maglev\n"
	"encap = gue\nmaglev_size = 251\nbackend = 10.0.6.2\nbackend = 10.0.6.3\n\n"
	"[vip:dead]\naddress = 10.0.0.104\nport = 80\nprotocol = tcp\nmaglev_size = 7\n"
	"backend = 10.0.7.2 state=down\n";

/* Destinations of the preamble's flows: (address, port, protocol). */
static const struct {
	const char *address;
	uint16_t port;
	uint8_t protocol;
} preamble_vips[] = {
	{ "10.0.0.100", 80, IPPROTO_TCP },   { "10.0.0.100", 53, IPPROTO_UDP },
	{ "10.0.0.101", 443, IPPROTO_TCP },  { "10.0.0.101", 53, IPPROTO_UDP },
	{ "10.0.0.102", 8080, IPPROTO_TCP }, { "10.0.0.103", 5353, IPPROTO_UDP },
};

static struct rte_mempool *pool;
static uint16_t port_id;
static struct dplb_worker *worker;
static struct dplb_identities *ids;
static struct rte_ring *to_management;
static struct dplb_state *snapshots[SNAPSHOTS];
static struct dplb_backend_health *health; /* DPLB_MAX_BACKEND_IDS long */

static __attribute__((noreturn)) void fail(const char *what)
{
	fprintf(stderr, "fuzz_packet: %s\n", what);
	abort();
}

static struct dplb_state *build_snapshot(const char *next_hop, const char *const option[6],
					 const struct dplb_backend_health *with_health,
					 uint64_t generation)
{
	char text[4096], error[DPLB_ERROR_MAX];
	struct dplb_state *state;
	const struct dplb_state_inputs inputs = { .neighbors = NULL,
						  .health = with_health,
						  .workers = 1 };

	snprintf(text, sizeof(text), config_format, next_hop, option[0], option[1], option[2],
		 option[3], option[4], option[5]);
	if (dplb_state_build_with(fuzz_config_from_text(text), ids, &inputs, generation, &state,
				  error) != 0)
		fail(error);
	return state;
}

static void build_snapshots(void)
{
	static const char *const plain[6] = { "", "", "", "", "", "" };
	static const char *const changed[6] = { "state=drain", "state=down", "state=down",
						"state=drain", "state=down", "state=drain" };
	const char *const mac = "gateway_mac = 02:00:00:00:00:fe\n";
	const struct dplb_state *first;

	snapshots[0] = build_snapshot(mac, plain, NULL, 1);
	first = snapshots[0];
	/* Every other backend of each VIP fails its checks, and all of sh's. */
	health = calloc(DPLB_MAX_BACKEND_IDS, sizeof(*health));
	if (health == NULL)
		fail("out of memory");
	for (uint32_t v = 0; v < first->vip_count; v++) {
		const struct dplb_vip_entry *vip = &first->vips[v];
		const bool all = strcmp(vip->config->name, "sh") == 0;

		for (uint32_t b = 0; b < vip->backend_count; b++)
			if (all || b % 2 == 1)
				health[vip->backend_ids[b]].status = DPLB_HEALTH_UNHEALTHY;
			else
				health[vip->backend_ids[b]].weight_percent = 30; /* slow start */
	}
	snapshots[1] = build_snapshot(mac, plain, health, 2);
	/* No gateway MAC and no ARP: no backend has a next hop. */
	snapshots[2] = build_snapshot("", plain, NULL, 3);
	snapshots[3] = build_snapshot(mac, changed, NULL, 4);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const vdevs[] = { "net_null0", NULL };
	struct rte_eth_conf conf;

	fuzz_eal_init("fuzz_packet", *argc, *argv, vdevs);
	/* No per-lcore cache: the pool's count is exact, so a lost mbuf shows. */
	pool = rte_pktmbuf_pool_create("fuzz_mbufs", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL || rte_eth_dev_get_port_by_name("net_null0", &port_id) != 0)
		fail("no mbuf pool or no net_null0");
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port_id, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port_id, 0, 64, SOCKET_ID_ANY, NULL, pool) != 0 ||
	    rte_eth_tx_queue_setup(port_id, 0, 64, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(port_id) != 0)
		fail("net_null0 set-up");
	worker = rte_zmalloc("fuzz_worker", sizeof(*worker), RTE_CACHE_LINE_SIZE);
	if (worker == NULL ||
	    dplb_worker_init(worker, 0, &port_id, 1, FLOW_CAPACITY, SOCKET_ID_ANY) != 0)
		fail("worker set-up");
	rte_ether_addr_copy(&port_mac, &worker->port_macs[0]);
	/* A small ring, so that "management busy" happens too. */
	to_management = rte_ring_create("fuzz_to_management", 4, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (to_management == NULL)
		fail("ring");
	worker->to_management = to_management;
	ids = dplb_identities_create();
	if (ids == NULL)
		fail("identities");
	build_snapshots();
	return 0;
}

/* ---- frames ---------------------------------------------------------------- */

/* A well-formed frame of preamble flow i: 192.168.0.i to a VIP, from port
 * 20000 + i (TCP: a SYN, or a FIN for i 6..11, so that flows close) or
 * 30000 + i (UDP). */
static struct rte_mbuf *preamble_frame(uint32_t i)
{
	const unsigned int v = i % RTE_DIM(preamble_vips);
	const uint8_t protocol = preamble_vips[v].protocol;
	const uint16_t l4 =
		protocol == IPPROTO_TCP ? sizeof(struct rte_tcp_hdr) : sizeof(struct rte_udp_hdr);
	const uint16_t ip_len = (uint16_t)(sizeof(struct rte_ipv4_hdr) + l4 + 8);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *frame;

	if (m == NULL ||
	    (frame = (uint8_t *)rte_pktmbuf_append(m, RTE_ETHER_HDR_LEN + ip_len)) == NULL)
		fail("preamble mbuf");
	memset(frame, 0, RTE_ETHER_HDR_LEN + ip_len);
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	rte_ether_addr_copy(&port_mac, &eth->dst_addr);
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->src_addr.addr_bytes[5] = 0x99;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(ip_len);
	ip->time_to_live = 64;
	ip->next_proto_id = protocol;
	ip->src_addr = htonl(0xc0a80000u + i);
	inet_pton(AF_INET, preamble_vips[v].address, &ip->dst_addr);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (protocol == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(ip + 1);

		tcp->src_port = rte_cpu_to_be_16((uint16_t)(20000 + i));
		tcp->dst_port = rte_cpu_to_be_16(preamble_vips[v].port);
		tcp->data_off = (sizeof(*tcp) / 4) << 4;
		const bool closing = (i / RTE_DIM(preamble_vips)) % 2;

		tcp->tcp_flags = closing ? RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG : RTE_TCP_SYN_FLAG;
	} else {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

		udp->src_port = rte_cpu_to_be_16((uint16_t)(30000 + i));
		udp->dst_port = rte_cpu_to_be_16(preamble_vips[v].port);
		udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + 8);
	}
	return m;
}

/* Copy up to length bytes into a fresh mbuf; how many fit is returned. */
static struct rte_mbuf *mbuf_with(const uint8_t *bytes, size_t length, bool no_headroom,
				  size_t *copied)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *data;

	if (m == NULL)
		fail("mbuf pool empty");
	if (no_headroom)
		m->data_off = 0;
	length = RTE_MIN(length, (size_t)rte_pktmbuf_tailroom(m));
	data = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)length);
	if (data == NULL && length != 0)
		fail("append");
	if (length != 0)
		memcpy(data, bytes, length);
	*copied = length;
	return m;
}

static const uint64_t checksum_flags[4] = { 0, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
					    RTE_MBUF_F_RX_IP_CKSUM_BAD,
					    RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN };

/* The frame as one mbuf, or as a chain of two split after split bytes. */
static struct rte_mbuf *fuzzed_frame(const uint8_t *frame, size_t length, size_t split,
				     uint8_t layout)
{
	const bool chained = split != 0 && split < length;
	size_t copied;
	struct rte_mbuf *m = mbuf_with(frame, chained ? split : length, layout & 0x04, &copied);

	if (chained) {
		struct rte_mbuf *tail = mbuf_with(frame + split, length - split, false, &copied);

		if (rte_pktmbuf_chain(m, tail) != 0)
			fail("chain");
	}
	m->ol_flags |= checksum_flags[layout & 0x03];
	m->port = port_id;
	return m;
}

/* ---- the balance --------------------------------------------------------- */

static uint64_t packets_out(void)
{
	const struct dplb_worker_counters *c = &worker->counters;
	uint64_t total = c->port[0].tx_packets + c->to_management;

	for (int r = 0; r < DPLB_DROP_REASON_COUNT; r++)
		total += c->drops[r];
	return total - c->icmp_error_copies;
}

static void flush(void)
{
	void *frame;

	dplb_worker_flush_tx(worker);
	while (rte_ring_sc_dequeue(to_management, &frame) == 0)
		rte_pktmbuf_free(frame);
}

/* Fragments held for a first fragment that did not come go out at the
 * end of each burst, as a loop iteration would send them in time. */
static void run_burst(const struct dplb_state *state, struct rte_mbuf **burst, uint16_t count)
{
	dplb_worker_process_burst(worker, state, 0, burst, count);
	dplb_worker_release_fragments(worker, state, UINT64_MAX);
	flush();
}

/* Expire every flow, then check that nothing still counts one. */
static void expire_everything(const struct dplb_state *state)
{
	worker->now += 1000000;
	dplb_worker_age_flows(worker, state, worker->flows.bucket_count);
	if (worker->flows.count != 0)
		fail("flows left after expiring them all");
	/* Every snapshot has the VIPs and backends of the first. */
	for (uint32_t v = 0; v < snapshots[0]->vip_count; v++) {
		const struct dplb_vip_entry *vip = &snapshots[0]->vips[v];

		if (worker->counters.vip[vip->id].active_flows != 0)
			fail("a VIP counts active flows after every flow expired");
		for (uint32_t b = 0; b < vip->backend_count; b++)
			if (worker->counters.backend[vip->backend_ids[b]].active_flows != 0)
				fail("a backend counts active flows after every flow expired");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t preamble_counts[4] = { 0, 2, FLOW_CAPACITY - 1, FLOW_CAPACITY };
	static const uint32_t clock_steps[4] = { 0, 1, 3, 100 };
	struct rte_mbuf *burst[DPLB_BURST];
	uint16_t count = 0;

	if (size < HEADER_BYTES)
		return -1;
	const size_t split = data[0];
	const uint8_t plan = data[1], layout = data[2];
	const struct dplb_state *state = snapshots[plan & 0x03];
	const uint32_t preamble = preamble_counts[(plan >> 2) & 0x03];
	const uint8_t *frame = data + HEADER_BYTES;
	const size_t length = size - HEADER_BYTES;
	const uint64_t in_before = worker->counters.port[0].rx_packets;
	const uint64_t out_before = packets_out();

	/* Every input starts from the same worker state. */
	worker->now = 1000;
	worker->frag_needed_second = 0;
	worker->frag_needed_sent_this_second = 0;
	worker->next_packet_id = 0;
	memset(worker->round_robin_cursor, 0, sizeof(worker->round_robin_cursor));
	memset(worker->stateless_second, 0, sizeof(worker->stateless_second));
	dplb_fragment_cache_init(&worker->fragment_cache, worker->fragment_cache.entries,
				 DPLB_FRAGMENT_CACHE_ENTRIES, worker->fragment_cache.seed,
				 worker->fragment_cache.timeout);

	for (uint32_t first = 0; first < preamble; first += DPLB_BURST) {
		uint16_t n = 0;

		for (uint32_t i = first; i < preamble && n < DPLB_BURST; i++)
			burst[n++] = preamble_frame(i);
		run_burst(snapshots[0], burst, n);
	}
	if (clock_steps[(plan >> 4) & 0x03] != 0) {
		worker->now += clock_steps[(plan >> 4) & 0x03];
		dplb_worker_age_flows(worker, state, worker->flows.bucket_count);
	}

	burst[count++] = fuzzed_frame(frame, length, split, layout);
	if (plan & 0x40)
		burst[count++] = fuzzed_frame(frame, length, split, layout);
	run_burst(state, burst, count);

	expire_everything(state);
	if (worker->counters.port[0].rx_packets - in_before != packets_out() - out_before)
		fail("a packet was neither sent, dropped nor handed to management");
	if (rte_mempool_avail_count(pool) != POOL_SIZE)
		fail("an mbuf was not given back to the pool");
	return 0;
}
