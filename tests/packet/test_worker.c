/*
 * The worker pipeline (lib/packet/worker.c) driven with synthetic frames: new
 * flows, counters, ageing and rescheduling, through
 * dplb_worker_process_burst and dplb_worker_age_flows.
 *
 * The EAL runs without hugepages and with one net_null port, so forwarded
 * frames reach a real TX queue (net_null frees them); the worker_tx suite
 * uses a net_ring port instead, whose TX fills up. Time is the worker's
 * own clock (worker->now, in seconds), set by the tests. Every expectation
 * is derived from what was sent and from the snapshot (Maglev slots, weight
 * shares, configured timeouts), not from earlier runs.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dpdk_test.h"
#include "packet/icmp.h"
#include "packet/icmp6.h"
#include "packet/maglev.h"
#include "packet/schedule.h"
#include "packet/worker.h"

#define FLOW_CAPACITY 4096u
#define TCP_TIMEOUT 100 /* plain: also pasted into INI text */
#define UDP_TIMEOUT 10
#define PAYLOAD 18u

static struct rte_mempool *pool;
static uint16_t port_id;
static struct dplb_worker *worker;
static struct dplb_identities *ids;

/* The EAL with one port, the vdev (net_null0, net_ring0), and a worker on it. */
static void setup_port(const char *vdev)
{
	struct rte_eth_conf conf;

	test_eal_init(vdev);
	pool = rte_pktmbuf_pool_create("test_mbufs", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	cr_assert_not_null(pool, "mbuf pool: %s", rte_strerror(rte_errno));
	cr_assert_eq(rte_eth_dev_get_port_by_name(vdev, &port_id), 0, "no %s port", vdev);
	memset(&conf, 0, sizeof(conf));
	cr_assert_eq(rte_eth_dev_configure(port_id, 1, 1, &conf), 0);
	cr_assert_eq(rte_eth_rx_queue_setup(port_id, 0, 256, SOCKET_ID_ANY, NULL, pool), 0);
	cr_assert_eq(rte_eth_tx_queue_setup(port_id, 0, 256, SOCKET_ID_ANY, NULL), 0);
	cr_assert_eq(rte_eth_dev_start(port_id), 0);
	worker = rte_zmalloc("test_worker", sizeof(*worker), RTE_CACHE_LINE_SIZE);
	cr_assert_not_null(worker);
	cr_assert_eq(dplb_worker_init(worker, 0, &port_id, 1, FLOW_CAPACITY, SOCKET_ID_ANY), 0);
	ids = dplb_identities_create();
	cr_assert_not_null(ids);
}

static void setup(void)
{
	setup_port("net_null0");
}

static void teardown(void)
{
	if (worker != NULL) {
		dplb_worker_flush_tx(worker);
		dplb_worker_fini(worker);
		rte_free(worker);
		worker = NULL;
	}
	dplb_identities_free(ids);
	ids = NULL;
	rte_eth_dev_stop(port_id);
	rte_eth_dev_close(port_id);
	rte_mempool_free(pool);
	pool = NULL;
	test_eal_fini();
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 120);

static uint32_t ip(const char *text)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, text, &a), 1, "bad test address %s", text);
	return a.s_addr;
}

/* ---- configurations --------------------------------------------------- */

#define VIP_ADDRESS "10.0.0.100"
#define WEB_BACKENDS 3
static const char *const web_backends[WEB_BACKENDS] = { "10.0.1.2", "10.0.1.3", "10.0.1.4" };

/* web (TCP 80, Maglev) and dns (UDP 53, Maglev); options[i] is appended to
 * web backend i's line ("state=down"...); NULL leaves the backend out. */
static struct dplb_state *web_state(const char *const options[WEB_BACKENDS], uint64_t generation)
{
	char text[2048];
	int used;

	used = snprintf(text, sizeof(text),
			"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n"
			"tcp_timeout = %u\nudp_timeout = %u\n\n"
			"[vip:web]\naddress = " VIP_ADDRESS "\nport = 80\nprotocol = tcp\n"
			"maglev_size = 1009\n",
			TCP_TIMEOUT, UDP_TIMEOUT);
	for (int i = 0; i < WEB_BACKENDS; i++)
		if (options == NULL || options[i] != NULL)
			used += snprintf(text + used, sizeof(text) - (size_t)used,
					 "backend = %s %s\n", web_backends[i],
					 options ? options[i] : "");
	snprintf(text + used, sizeof(text) - (size_t)used,
		 "\n[vip:dns]\naddress = " VIP_ADDRESS "\nport = 53\nprotocol = udp\n"
		 "maglev_size = 1009\nbackend = 10.0.2.2\nbackend = 10.0.2.3\n");
	return test_state_from_text(ids, text, generation);
}

/* ---- synthetic frames ------------------------------------------------- */

struct flow {
	uint8_t protocol;
	uint32_t src_addr, dst_addr; /* network order */
	uint16_t src_port, dst_port; /* host order */
	uint8_t tcp_flags;	     /* 0: a plain ACK */
};

static struct flow tcp_flow(uint32_t i)
{
	return (struct flow){ IPPROTO_TCP,
			      htonl(0xc0a80000u + (i >> 8)),
			      ip(VIP_ADDRESS),
			      (uint16_t)(20000 + (i & 0xff)),
			      80,
			      0 };
}

static struct flow udp_flow(uint32_t i)
{
	return (struct flow){ IPPROTO_UDP,
			      htonl(0xc0a90000u + (i >> 8)),
			      ip(VIP_ADDRESS),
			      (uint16_t)(30000 + (i & 0xff)),
			      53,
			      0 };
}

static uint16_t ip_length(uint8_t protocol)
{
	return (uint16_t)(sizeof(struct rte_ipv4_hdr) +
			  (protocol == IPPROTO_TCP ? sizeof(struct rte_tcp_hdr)
						   : sizeof(struct rte_udp_hdr)) +
			  PAYLOAD);
}

static struct rte_mbuf *make_frame(const struct flow *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	const uint16_t length = ip_length(f->protocol);

	cr_assert_not_null(m, "mbuf pool empty");
	uint8_t *frame = (uint8_t *)rte_pktmbuf_append(m, sizeof(struct rte_ether_hdr) + length);
	cr_assert_not_null(frame);
	memset(frame, 0, sizeof(struct rte_ether_hdr) + length);

	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	rte_ether_addr_copy(&worker->port_macs[0], &eth->dst_addr);
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->src_addr.addr_bytes[5] = 0x99;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	struct rte_ipv4_hdr *ip4 = (struct rte_ipv4_hdr *)(eth + 1);
	ip4->version_ihl = RTE_IPV4_VHL_DEF;
	ip4->total_length = rte_cpu_to_be_16(length);
	ip4->time_to_live = 64;
	ip4->next_proto_id = f->protocol;
	ip4->src_addr = f->src_addr;
	ip4->dst_addr = f->dst_addr;
	ip4->hdr_checksum = rte_ipv4_cksum(ip4);

	if (f->protocol == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)(ip4 + 1);

		tcp->src_port = rte_cpu_to_be_16(f->src_port);
		tcp->dst_port = rte_cpu_to_be_16(f->dst_port);
		tcp->data_off = (sizeof(*tcp) / 4) << 4;
		tcp->tcp_flags = f->tcp_flags ? f->tcp_flags : RTE_TCP_ACK_FLAG;
	} else {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip4 + 1);

		udp->src_port = rte_cpu_to_be_16(f->src_port);
		udp->dst_port = rte_cpu_to_be_16(f->dst_port);
		udp->dgram_len = rte_cpu_to_be_16(sizeof(*udp) + PAYLOAD);
	}
	return m;
}

/* Fill the stack below us with non-zero bytes, so a key the worker builds
 * on its stack without clearing every byte shows up. */
static __attribute__((noinline)) void dirty_stack(void)
{
	volatile uint8_t junk[32768];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

/* Send one frame per flow, in bursts of DPLB_BURST, through the pipeline. */
static void send_flows(const struct dplb_state *state, const struct flow *flows, uint32_t n)
{
	for (uint32_t first = 0; first < n; first += DPLB_BURST) {
		struct rte_mbuf *burst[DPLB_BURST];
		const uint16_t count = (uint16_t)RTE_MIN((uint32_t)DPLB_BURST, n - first);

		for (uint16_t i = 0; i < count; i++)
			burst[i] = make_frame(&flows[first + i]);
		dirty_stack();
		dplb_worker_process_burst(worker, state, 0, burst, count);
	}
}

static void send_one(const struct dplb_state *state, const struct flow *f)
{
	send_flows(state, f, 1);
}

static struct dplb_flow_key key_of(const struct flow *f)
{
	struct dplb_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src_addr = f->src_addr;
	key.dst_addr = f->dst_addr;
	key.src_port = rte_cpu_to_be_16(f->src_port);
	key.dst_port = rte_cpu_to_be_16(f->dst_port);
	key.protocol = f->protocol;
	return key;
}

/* What the worker's table holds for a flow, as the tests read it. */
struct flow_view {
	uint32_t backend_id;
	uint32_t last_seen;
	uint16_t vip_id;
	uint8_t protocol; /* from the flow's kind: TCP kinds are TCP */
	enum dplb_flow_kind kind;
	bool closing;
};

/* The flow's entry in the worker's table, or NULL. Found by a walk over
 * every bucket, not by the table's own lookup, so these tests do not
 * depend on it; a client seen under two VIPs fails the test. Each call
 * returns its own copy (several may be used in one expression). */
static const struct flow_view *entry_of(const struct flow *f)
{
	static struct flow_view views[8];
	static unsigned int next_view;
	const uint64_t client = dplb_flow_client(f->src_addr, rte_cpu_to_be_16(f->src_port),
						 rte_cpu_to_be_16(f->dst_port));
	struct flow_view *view = NULL;

	for (uint32_t b = 0; b < worker->flows.bucket_count; b++) {
		const struct dplb_flow_bucket *bucket = &worker->flows.buckets[b];

		for (uint32_t s = 0; s < DPLB_FLOW_BUCKET_SLOTS; s++) {
			const struct dplb_flow_ref ref = { (struct dplb_flow_bucket *)bucket, s };

			if (!dplb_flow_slot_used(bucket, s) || bucket->client[s] != client)
				continue;
			cr_assert_null(view, "flow in the table twice");
			view = &views[next_view++ % RTE_DIM(views)];
			view->backend_id = dplb_flow_backend(&ref);
			view->last_seen = dplb_flow_last_seen(&ref);
			view->vip_id = dplb_flow_vip(&ref);
			view->protocol =
				dplb_flow_kind(&ref) == DPLB_FLOW_UDP ? IPPROTO_UDP : IPPROTO_TCP;
			view->kind = dplb_flow_kind(&ref);
			view->closing = view->kind == DPLB_FLOW_TCP_CLOSING;
		}
	}
	return view;
}

/* What Maglev picks for the flow in state. */
static uint32_t maglev_pick(const struct dplb_vip_entry *vip, const struct flow *f)
{
	const struct dplb_flow_key key = key_of(f);

	return vip->maglev[maglev_slot(dplb_hash_mix(dplb_flow_hash(&key)), vip->maglev_size)];
}

static uint64_t total_drops(void)
{
	uint64_t total = 0;

	for (int i = 0; i < DPLB_DROP_REASON_COUNT; i++)
		total += worker->counters.drops[i];
	return total;
}

/* Send what the worker buffered; returns the frames the port sent. */
static uint64_t flush_tx(void)
{
	dplb_worker_flush_tx(worker);
	return worker->counters.port[0].tx_packets;
}

static const struct dplb_traffic_counters *backend_counters(uint32_t id)
{
	return &worker->counters.backend[id];
}

static const struct dplb_traffic_counters *vip_counters(const struct dplb_vip_entry *vip)
{
	return &worker->counters.vip[vip->id];
}

/* Every flow counter agrees with the table: active_flows of each VIP and
 * backend equals the entries pointing at it. */
static void check_active_counters(const struct dplb_state *state)
{
	uint64_t *per_backend = calloc(DPLB_MAX_BACKEND_IDS, sizeof(*per_backend));
	uint64_t per_vip[DPLB_MAX_VIP_IDS] = { 0 };
	uint32_t used = 0;

	cr_assert_not_null(per_backend);
	for (uint32_t b = 0; b < worker->flows.bucket_count; b++) {
		for (uint32_t s = 0; s < DPLB_FLOW_BUCKET_SLOTS; s++) {
			const struct dplb_flow_ref ref = { &worker->flows.buckets[b], s };

			if (!dplb_flow_slot_used(ref.bucket, s))
				continue;
			used++;
			per_backend[dplb_flow_backend(&ref)]++;
			per_vip[dplb_flow_vip(&ref)]++;
		}
	}
	cr_assert_eq(used, worker->flows.count, "%u entries in use, count %u", used,
		     worker->flows.count);
	for (uint32_t v = 0; v < state->vip_count; v++) {
		const struct dplb_vip_entry *vip = &state->vips[v];

		cr_assert_eq(vip_counters(vip)->active_flows, per_vip[vip->id],
			     "vip %s: active_flows %lu, entries %lu", vip->config->name,
			     (unsigned long)vip_counters(vip)->active_flows,
			     (unsigned long)per_vip[vip->id]);
		for (uint32_t b = 0; b < vip->backend_count; b++) {
			const uint32_t id = vip->backend_ids[b];

			cr_assert_eq(backend_counters(id)->active_flows, per_backend[id],
				     "backend %u: active_flows %lu, entries %lu", id,
				     (unsigned long)backend_counters(id)->active_flows,
				     (unsigned long)per_backend[id]);
		}
	}
	free(per_backend);
}

/* ---- new flows -------------------------------------------------------- */

#define TCP_FLOWS 40u
#define UDP_FLOWS 20u

Test(worker, new_flows_are_scheduled_counted_and_sent)
{
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	const struct dplb_vip_entry *dns = test_vip_named(state, "dns");
	struct flow flows[2 * (TCP_FLOWS + UDP_FLOWS)];
	uint32_t n = 0;

	/* Each flow twice in a row: the second packet meets an entry added
	 * earlier in the same burst, after the bulk lookup missed it. */
	for (uint32_t i = 0; i < TCP_FLOWS + UDP_FLOWS; i++) {
		const struct flow f = i < TCP_FLOWS ? tcp_flow(i) : udp_flow(i);

		flows[n++] = f;
		flows[n++] = f;
	}
	worker->now = 3;
	send_flows(state, flows, n);

	cr_assert_eq(total_drops(), 0, "dropped %lu", (unsigned long)total_drops());
	cr_assert_eq(worker->counters.new_flows, TCP_FLOWS + UDP_FLOWS);
	cr_assert_eq(worker->counters.flows_rescheduled, 0);
	cr_assert_eq(worker->counters.flow_insert_failures, 0);
	cr_assert_eq(worker->flows.count, TCP_FLOWS + UDP_FLOWS);
	cr_assert_eq(vip_counters(web)->new_flows, TCP_FLOWS);
	cr_assert_eq(vip_counters(dns)->new_flows, UDP_FLOWS);
	cr_assert_eq(vip_counters(web)->active_flows, TCP_FLOWS);
	cr_assert_eq(vip_counters(dns)->active_flows, UDP_FLOWS);
	cr_assert_eq(vip_counters(web)->packets_in, 2 * TCP_FLOWS);
	cr_assert_eq(vip_counters(web)->bytes_in, 2ull * TCP_FLOWS * ip_length(IPPROTO_TCP));
	cr_assert_eq(worker->counters.port[0].rx_packets, n);
	const uint64_t sent = flush_tx();
	cr_assert_eq(sent, n, "sent %lu of %u", (unsigned long)sent, n);
	/* Out once sent: IP bytes too, with the IPIP header each; the port
	 * counts whole frames. */
	cr_assert_eq(vip_counters(web)->packets_out, 2 * TCP_FLOWS);
	cr_assert_eq(vip_counters(dns)->packets_out, 2 * UDP_FLOWS);
	cr_assert_eq(vip_counters(web)->bytes_out,
		     2ull * TCP_FLOWS * (sizeof(struct rte_ipv4_hdr) + ip_length(IPPROTO_TCP)));
	cr_assert_eq(worker->counters.port[0].tx_bytes, vip_counters(web)->bytes_out +
								vip_counters(dns)->bytes_out +
								n * sizeof(struct rte_ether_hdr));

	/* Each flow went where Maglev says, and its entry says so. */
	uint64_t new_per_backend = 0, packets_per_backend = 0;
	for (uint32_t i = 0; i < n; i += 2) {
		const struct dplb_vip_entry *vip = flows[i].protocol == IPPROTO_TCP ? web : dns;
		const struct flow_view *e = entry_of(&flows[i]);

		cr_assert_not_null(e, "flow %u not in the table", i / 2);
		cr_assert_eq(e->backend_id, maglev_pick(vip, &flows[i]), "flow %u", i / 2);
		cr_assert_eq(e->vip_id, vip->id);
		cr_assert_eq(e->protocol, flows[i].protocol);
		cr_assert_eq(e->last_seen, 3);
	}
	for (uint32_t b = 0; b < web->backend_count; b++) {
		new_per_backend += backend_counters(web->backend_ids[b])->new_flows;
		packets_per_backend += backend_counters(web->backend_ids[b])->packets_out;
	}
	cr_assert_eq(new_per_backend, TCP_FLOWS);
	cr_assert_eq(packets_per_backend, 2 * TCP_FLOWS);
	check_active_counters(state);

	/* Known flows again: no new flow, nothing moved. */
	worker->now = 5;
	for (uint32_t i = 0; i < n; i += 2)
		send_one(state, &flows[i]);
	cr_assert_eq(worker->counters.new_flows, TCP_FLOWS + UDP_FLOWS);
	cr_assert_eq(worker->flows.count, TCP_FLOWS + UDP_FLOWS);
	cr_assert_eq(worker->counters.flows_rescheduled, 0);
	cr_assert_eq(vip_counters(web)->packets_in, 3 * TCP_FLOWS);
	cr_assert_eq(entry_of(&flows[0])->last_seen, 5);
	check_active_counters(state);
	dplb_state_free(state);
}

/* The worker hashes a key it builds on a dirty stack (send_flows): a pad
 * byte left unset would change the flow hash, and with it the Maglev pick,
 * which every instance behind ECMP must agree on. */
Test(worker, keys_built_by_the_worker_are_zero_padded)
{
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	const struct dplb_vip_entry *dns = test_vip_named(state, "dns");
	struct flow flows[64];

	for (uint32_t i = 0; i < 64; i++)
		flows[i] = i & 1 ? tcp_flow(i) : udp_flow(i);
	send_flows(state, flows, 64);
	cr_assert_eq(worker->flows.count, 64);
	for (uint32_t i = 0; i < 64; i++) {
		const struct dplb_vip_entry *vip = flows[i].protocol == IPPROTO_TCP ? web : dns;
		const struct flow_view *e = entry_of(&flows[i]);

		cr_assert_not_null(e, "flow %u", i);
		cr_assert_eq(e->backend_id, maglev_pick(vip, &flows[i]), "flow %u", i);
	}
	dplb_state_free(state);
}

/* ---- ageing ----------------------------------------------------------- */

static void age_all(const struct dplb_state *state)
{
	dplb_worker_age_flows(worker, state, worker->flows.bucket_count);
}

Test(worker, idle_flows_expire_after_their_protocol_timeout)
{
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	const struct dplb_vip_entry *dns = test_vip_named(state, "dns");
	const struct flow tcp_idle = tcp_flow(1), tcp_busy = tcp_flow(2);
	const struct flow udp_idle = udp_flow(1), udp_busy = udp_flow(2);
	const struct flow all[] = { tcp_idle, tcp_busy, udp_idle, udp_busy };

	worker->now = 1000;
	send_flows(state, all, 4);
	cr_assert_eq(worker->flows.count, 4);

	/* One second short of the UDP timeout: nothing goes. */
	worker->now = 1000 + UDP_TIMEOUT - 1;
	send_one(state, &udp_busy);
	age_all(state);
	cr_assert_eq(worker->counters.flows_expired, 0);
	cr_assert_eq(worker->flows.count, 4);

	/* At the UDP timeout: the idle UDP flow only. */
	worker->now = 1000 + UDP_TIMEOUT;
	age_all(state);
	cr_assert_eq(worker->counters.flows_expired, 1);
	cr_assert_null(entry_of(&udp_idle), "idle UDP flow survived its timeout");
	cr_assert_not_null(entry_of(&udp_busy), "UDP flow seen a second ago expired");
	cr_assert_not_null(entry_of(&tcp_idle), "TCP flow expired on the UDP timeout");
	cr_assert_not_null(entry_of(&tcp_busy));
	cr_assert_eq(worker->flows.count, 3);
	cr_assert_eq(vip_counters(dns)->active_flows, 1);
	check_active_counters(state);

	/* The busy TCP flow is seen half-way; the busy UDP flow goes idle. */
	worker->now = 1000 + TCP_TIMEOUT / 2;
	send_one(state, &tcp_busy);
	worker->now = 1000 + TCP_TIMEOUT - 1;
	age_all(state);
	cr_assert_null(entry_of(&udp_busy));
	cr_assert_not_null(entry_of(&tcp_idle), "TCP flow expired before its timeout");
	cr_assert_eq(worker->counters.flows_expired, 2);

	worker->now = 1000 + TCP_TIMEOUT;
	age_all(state);
	cr_assert_null(entry_of(&tcp_idle), "idle TCP flow survived its timeout");
	cr_assert_not_null(entry_of(&tcp_busy), "recently seen TCP flow expired");
	cr_assert_eq(worker->counters.flows_expired, 3);
	check_active_counters(state);

	worker->now = 1000 + TCP_TIMEOUT / 2 + TCP_TIMEOUT;
	age_all(state);
	cr_assert_eq(worker->counters.flows_expired, 4);
	cr_assert_eq(worker->flows.count, 0);
	cr_assert_eq(vip_counters(web)->active_flows, 0);
	cr_assert_eq(vip_counters(dns)->active_flows, 0);
	for (uint32_t b = 0; b < web->backend_count; b++)
		cr_assert_eq(backend_counters(web->backend_ids[b])->active_flows, 0);
	for (uint32_t b = 0; b < dns->backend_count; b++)
		cr_assert_eq(backend_counters(dns->backend_ids[b])->active_flows, 0);

	/* An expired flow that comes back is a new flow. */
	send_one(state, &tcp_idle);
	cr_assert_eq(worker->counters.new_flows, 5);
	cr_assert_not_null(entry_of(&tcp_idle));
	dplb_state_free(state);
}

Test(worker, ageing_in_slices_covers_the_whole_table)
{
	struct dplb_state *state = web_state(NULL, 1);
	static struct flow flows[1000];
	uint32_t slices = 0;

	for (uint32_t i = 0; i < 1000; i++)
		flows[i] = i % 3 ? tcp_flow(i) : udp_flow(i);
	send_flows(state, flows, 1000);
	cr_assert_eq(worker->flows.count, 1000);

	worker->now = TCP_TIMEOUT;
	/* The budget is in buckets: a slice sees at most that many flows. */
	const uint32_t sweep =
		(worker->flows.bucket_count + DPLB_AGEING_SLICE - 1) / DPLB_AGEING_SLICE;
	while (worker->flows.count > 0 && slices < 2 * sweep) {
		const uint64_t before = worker->counters.flows_expired;

		dplb_worker_age_flows(worker, state, DPLB_AGEING_SLICE);
		cr_assert_leq(worker->counters.flows_expired - before,
			      DPLB_AGEING_SLICE * DPLB_FLOW_BUCKET_SLOTS,
			      "a slice did more than its budget");
		slices++;
	}
	cr_assert_eq(worker->flows.count, 0, "%u flows left after %u slices", worker->flows.count,
		     slices);
	cr_assert_leq(slices, sweep, "took %u slices", slices);
	cr_assert_eq(worker->counters.flows_expired, 1000);
	check_active_counters(state);
	dplb_state_free(state);
}

Test(worker, a_full_table_forwards_without_state)
{
	enum { SMALL = 64, FLOWS = 4 * SMALL };
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	static struct flow flows[FLOWS];
	uint64_t per_backend[WEB_BACKENDS] = { 0 };

	/* Start over with a table far smaller than the flows sent. */
	dplb_worker_fini(worker);
	cr_assert_eq(dplb_worker_init(worker, 0, &port_id, 1, SMALL, SOCKET_ID_ANY), 0);
	for (uint32_t i = 0; i < FLOWS; i++)
		flows[i] = tcp_flow(i);
	send_flows(state, flows, FLOWS);

	cr_assert_leq(worker->flows.count, SMALL);
	cr_assert_gt(worker->counters.flow_insert_failures, 0);
	cr_assert_eq(worker->counters.new_flows + worker->counters.flow_insert_failures, FLOWS);
	cr_assert_eq(worker->counters.new_flows, worker->flows.count);
	cr_assert_eq(total_drops(), 0, "a full table dropped packets");
	const uint64_t sent = flush_tx();
	cr_assert_eq(sent, FLOWS, "sent %lu", (unsigned long)sent);
	cr_assert_eq(vip_counters(web)->packets_out, FLOWS);
	/* Unrecorded flows still go where Maglev says. */
	for (int b = 0; b < WEB_BACKENDS; b++) {
		const uint32_t id = test_backend_id(web, state, ip(web_backends[b]));

		for (uint32_t i = 0; i < FLOWS; i++)
			per_backend[b] += maglev_pick(web, &flows[i]) == id;
		cr_assert_eq(backend_counters(id)->packets_out, per_backend[b], "backend %s",
			     web_backends[b]);
	}
	check_active_counters(state);
	dplb_state_free(state);
}

/* The primary bucket of vip's flow f in the worker's table. */
static uint32_t primary_bucket(const struct dplb_vip_entry *vip, const struct flow *f)
{
	struct dplb_flow_probe probe;

	dplb_flow_table_prepare(&worker->flows, &probe,
				dplb_flow_client(f->src_addr, rte_cpu_to_be_16(f->src_port),
						 rte_cpu_to_be_16(f->dst_port)),
				vip->id);
	return probe.primary;
}

/*
 * A burst whose first packet is a new flow taking an expired flow's slot,
 * and whose second is of that expired flow: the bulk lookup found the
 * expired flow at that slot before the first packet reused it. The second
 * packet must not be counted against the new flow's entry: its flow is new
 * again and gets an entry of its own.
 */
Test(worker, a_flow_whose_slot_was_reused_earlier_in_its_burst_is_new_again)
{
	enum { SMALL = 64 };
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *dns = test_vip_named(state, "dns");
	struct flow same_bucket[DPLB_FLOW_BUCKET_SLOTS + 1];
	uint32_t found = 0;

	dplb_worker_fini(worker);
	cr_assert_eq(dplb_worker_init(worker, 0, &port_id, 1, SMALL, SOCKET_ID_ANY), 0);
	const struct flow first = udp_flow(0);
	const uint32_t bucket = primary_bucket(dns, &first);
	for (uint32_t i = 0; i < 4096 && found < RTE_DIM(same_bucket); i++) {
		const struct flow f = udp_flow(i);

		if (primary_bucket(dns, &f) == bucket)
			same_bucket[found++] = f;
	}
	cr_assert_eq(found, RTE_DIM(same_bucket), "too few flows share a bucket");

	/* The bucket filled, one flow a burst: its first flow in slot 0. */
	worker->now = 1000;
	for (uint32_t i = 0; i < DPLB_FLOW_BUCKET_SLOTS; i++)
		send_one(state, &same_bucket[i]);
	const struct flow *expired = &same_bucket[0], *newcomer = &same_bucket[found - 1];
	cr_assert_eq(worker->flows.buckets[bucket].client[0],
		     dplb_flow_client(expired->src_addr, rte_cpu_to_be_16(expired->src_port),
				      rte_cpu_to_be_16(expired->dst_port)));

	/* All four idle past the timeout, not yet aged out: the table knows
	 * the timeouts (from an ageing call of no buckets) and has walked none. */
	worker->now = 1000 + UDP_TIMEOUT;
	dplb_worker_age_flows(worker, state, 0);
	cr_assert_eq(worker->flows.count, DPLB_FLOW_BUCKET_SLOTS);
	send_flows(state, (const struct flow[]){ *newcomer, *expired }, 2);

	cr_assert_eq(worker->counters.new_flows, DPLB_FLOW_BUCKET_SLOTS + 2);
	const struct flow_view *e = entry_of(expired), *n = entry_of(newcomer);
	cr_assert_not_null(n, "the new flow has no entry");
	cr_assert_not_null(e, "the expired flow was taken for the new one");
	cr_assert_eq(e->last_seen, worker->now);
	cr_assert_eq(e->backend_id, maglev_pick(dns, expired));
	cr_assert_eq(n->backend_id, maglev_pick(dns, newcomer));
	cr_assert_eq(total_drops(), 0);
	check_active_counters(state);
	dplb_state_free(state);
}

/* ---- rescheduling ----------------------------------------------------- */

#define MANY_FLOWS 96u

/* MANY_FLOWS TCP flows to web under state; returns the backend each got. */
static void start_flows(const struct dplb_state *state, struct flow *flows, uint32_t *backend)
{
	for (uint32_t i = 0; i < MANY_FLOWS; i++)
		flows[i] = tcp_flow(i);
	send_flows(state, flows, MANY_FLOWS);
	cr_assert_eq(worker->counters.new_flows, MANY_FLOWS);
	for (uint32_t i = 0; i < MANY_FLOWS; i++) {
		const struct flow_view *e = entry_of(&flows[i]);

		cr_assert_not_null(e);
		backend[i] = e->backend_id;
	}
}

/* The index of the web backend holding the most flows. */
static int busiest(const struct dplb_state *state, const uint32_t *backend)
{
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	uint32_t best_count = 0;
	int best = -1;

	for (int b = 0; b < WEB_BACKENDS; b++) {
		const uint32_t id = test_backend_id(web, state, ip(web_backends[b]));
		uint32_t count = 0;

		for (uint32_t i = 0; i < MANY_FLOWS; i++)
			count += backend[i] == id;
		if (count > best_count) {
			best_count = count;
			best = b;
		}
	}
	cr_assert_geq(best, 0);
	return best;
}

/* A second snapshot of web in which the backend with most of the flows
 * has option on its line ("state=drain"); its id in *id (the same in both
 * snapshots: ids are stable). */
static struct dplb_state *with_busiest(const struct dplb_state *before, const uint32_t *backend,
				       const char *option, uint32_t *id)
{
	const int busy = busiest(before, backend);
	const char *options[WEB_BACKENDS] = { "", "", "" };

	options[busy] = option;
	struct dplb_state *after = web_state(options, 2);
	*id = test_backend_id(test_vip_named(after, "web"), after, ip(web_backends[busy]));
	cr_assert_eq(*id,
		     test_backend_id(test_vip_named(before, "web"), before, ip(web_backends[busy])),
		     "a backend's id changed");
	return after;
}

/* Send every flow once more under after; flows on the backend `gone` are
 * expected to move to after's Maglev pick, all others to stay. */
static void expect_moves(const struct dplb_state *after, const struct flow *flows,
			 const uint32_t *before, uint32_t gone)
{
	const struct dplb_vip_entry *web = test_vip_named(after, "web");
	uint32_t moved = 0;

	worker->now += 1;
	send_flows(after, flows, MANY_FLOWS);
	for (uint32_t i = 0; i < MANY_FLOWS; i++) {
		const struct flow_view *e = entry_of(&flows[i]);

		cr_assert_not_null(e);
		if (before[i] == gone) {
			moved++;
			cr_assert_neq(e->backend_id, gone, "flow %u left on its backend", i);
			cr_assert_eq(e->backend_id, maglev_pick(web, &flows[i]),
				     "flow %u moved to %u, not the new pick", i, e->backend_id);
		} else {
			cr_assert_eq(e->backend_id, before[i], "flow %u moved from %u to %u", i,
				     before[i], e->backend_id);
		}
		cr_assert_eq(e->last_seen, worker->now);
	}
	cr_assert_gt(moved, 0, "no flow was on the backend taken away");
	cr_assert_eq(worker->counters.flows_rescheduled, moved);
	cr_assert_eq(worker->counters.new_flows, MANY_FLOWS, "rescheduled flows counted as new");
	cr_assert_eq(worker->flows.count, MANY_FLOWS);
	cr_assert_eq(backend_counters(gone)->active_flows, 0);
	cr_assert_eq(vip_counters(web)->active_flows, MANY_FLOWS);
	cr_assert_eq(total_drops(), 0);
	check_active_counters(after);

	/* The moved flows stay where they went. */
	send_flows(after, flows, MANY_FLOWS);
	cr_assert_eq(worker->counters.flows_rescheduled, moved);

	/* And everything ages out cleanly, counters back to zero. */
	worker->now += TCP_TIMEOUT;
	age_all(after);
	cr_assert_eq(worker->flows.count, 0);
	cr_assert_eq(backend_counters(gone)->active_flows, 0);
	check_active_counters(after);
	cr_assert_eq(vip_counters(web)->active_flows, 0);
}

Test(worker, flows_of_a_down_backend_are_rescheduled)
{
	struct dplb_state *before = web_state(NULL, 1);
	struct flow flows[MANY_FLOWS];
	uint32_t backend[MANY_FLOWS];

	uint32_t gone;

	start_flows(before, flows, backend);
	struct dplb_state *after = with_busiest(before, backend, "state=down", &gone);
	expect_moves(after, flows, backend, gone);
	dplb_state_free(before);
	dplb_state_free(after);
}

Test(worker, flows_of_a_removed_backend_are_rescheduled)
{
	struct dplb_state *before = web_state(NULL, 1);
	struct flow flows[MANY_FLOWS];
	uint32_t backend[MANY_FLOWS];

	start_flows(before, flows, backend);
	const int removed = busiest(before, backend);
	const char *options[WEB_BACKENDS] = { "", "", "" };
	options[removed] = NULL;
	struct dplb_state *after = web_state(options, 2);
	const uint32_t gone =
		test_backend_id(test_vip_named(before, "web"), before, ip(web_backends[removed]));

	cr_assert_eq(after->backends[gone].present, 0);
	expect_moves(after, flows, backend, gone);
	dplb_state_free(before);
	dplb_state_free(after);
}

Test(worker, a_drained_backend_keeps_its_flows_but_takes_no_new_ones)
{
	struct dplb_state *before = web_state(NULL, 1);
	struct flow flows[MANY_FLOWS];
	uint32_t backend[MANY_FLOWS];

	uint32_t draining;

	start_flows(before, flows, backend);
	struct dplb_state *after = with_busiest(before, backend, "state=drain", &draining);
	const uint64_t active = backend_counters(draining)->active_flows;

	cr_assert_gt(active, 0);
	send_flows(after, flows, MANY_FLOWS);
	for (uint32_t i = 0; i < MANY_FLOWS; i++)
		cr_assert_eq(entry_of(&flows[i])->backend_id, backend[i], "flow %u moved", i);
	cr_assert_eq(worker->counters.flows_rescheduled, 0);
	cr_assert_eq(backend_counters(draining)->active_flows, active);

	/* New flows avoid it. */
	struct flow fresh[MANY_FLOWS];
	for (uint32_t i = 0; i < MANY_FLOWS; i++)
		fresh[i] = tcp_flow(1000 + i);
	send_flows(after, fresh, MANY_FLOWS);
	cr_assert_eq(worker->counters.new_flows, 2 * MANY_FLOWS);
	for (uint32_t i = 0; i < MANY_FLOWS; i++)
		cr_assert_neq(entry_of(&fresh[i])->backend_id, draining, "new flow %u to a drain",
			      i);
	cr_assert_eq(backend_counters(draining)->active_flows, active);
	check_active_counters(after);
	dplb_state_free(before);
	dplb_state_free(after);
}

Test(worker, flows_wait_while_no_backend_is_up)
{
	struct dplb_state *before = web_state(NULL, 1);
	struct flow flows[MANY_FLOWS];
	uint32_t backend[MANY_FLOWS];
	const char *const all_down[WEB_BACKENDS] = { "state=down", "state=down", "state=down" };

	start_flows(before, flows, backend);
	struct dplb_state *after = web_state(all_down, 2);
	send_flows(after, flows, MANY_FLOWS);
	/* Dropped, not moved nowhere; and new flows are not recorded. */
	cr_assert_eq(worker->counters.drops[DPLB_DROP_NO_BACKEND], MANY_FLOWS);
	cr_assert_eq(worker->counters.flows_rescheduled, 0);
	for (uint32_t i = 0; i < MANY_FLOWS; i++)
		cr_assert_eq(entry_of(&flows[i])->backend_id, backend[i]);
	const struct flow fresh = tcp_flow(5000);
	send_one(after, &fresh);
	cr_assert_null(entry_of(&fresh));
	cr_assert_eq(worker->flows.count, MANY_FLOWS);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_NO_BACKEND], MANY_FLOWS + 1);
	check_active_counters(after);
	dplb_state_free(before);
	dplb_state_free(after);
}

/* ---- other schedulers through the pipeline ---------------------------- */

Test(worker, weighted_round_robin_follows_weights)
{
	static const char *const INI =
		"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n\n"
		"[vip:web]\naddress = " VIP_ADDRESS "\nport = 80\nprotocol = tcp\nmaglev_size = 7\n"
		"scheduler = weighted-round-robin\n"
		"backend = 10.0.1.2 weight=3\nbackend = 10.0.1.3 weight=1\n";
	struct dplb_state *state = test_state_from_text(ids, INI, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	struct flow flows[4 * 25];

	for (uint32_t i = 0; i < RTE_DIM(flows); i++)
		flows[i] = tcp_flow(i);
	send_flows(state, flows, RTE_DIM(flows));
	cr_assert_eq(backend_counters(test_backend_id(web, state, ip("10.0.1.2")))->new_flows, 75);
	cr_assert_eq(backend_counters(test_backend_id(web, state, ip("10.0.1.3")))->new_flows, 25);
	check_active_counters(state);
	dplb_state_free(state);
}

Test(worker, least_connections_balances_by_weight)
{
	static const char *const INI =
		"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n"
		"tcp_timeout = " RTE_STR(
			TCP_TIMEOUT) "\n\n"
				     "[vip:web]\naddress = " VIP_ADDRESS
				     "\nport = 80\nprotocol = tcp\nmaglev_size = 7\n"
				     "scheduler = least-connections\n"
				     "backend = 10.0.1.2 weight=2\nbackend = 10.0.1.3 weight=1\n";
	struct dplb_state *state = test_state_from_text(ids, INI, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	const uint32_t heavy = test_backend_id(web, state, ip("10.0.1.2"));
	const uint32_t light = test_backend_id(web, state, ip("10.0.1.3"));
	struct flow flows[90];

	for (uint32_t i = 0; i < RTE_DIM(flows); i++)
		flows[i] = tcp_flow(i);
	send_flows(state, flows, RTE_DIM(flows));
	cr_assert_eq(backend_counters(heavy)->active_flows, 60);
	cr_assert_eq(backend_counters(light)->active_flows, 30);

	/* Expire the heavy backend's flows: new ones go there first. */
	worker->now = TCP_TIMEOUT + 1;
	for (uint32_t i = 0; i < RTE_DIM(flows); i++)
		if (entry_of(&flows[i])->backend_id == light)
			send_one(state, &flows[i]);
	dplb_worker_age_flows(worker, state, worker->flows.capacity);
	cr_assert_eq(backend_counters(heavy)->active_flows, 0);
	cr_assert_eq(backend_counters(light)->active_flows, 30);
	struct flow fresh[60];
	for (uint32_t i = 0; i < RTE_DIM(fresh); i++)
		fresh[i] = tcp_flow(1000 + i);
	send_flows(state, fresh, RTE_DIM(fresh));
	cr_assert_eq(backend_counters(heavy)->active_flows, 60);
	cr_assert_eq(backend_counters(light)->active_flows, 30);
	check_active_counters(state);
	dplb_state_free(state);
}

Test(worker, fin_or_rst_shortens_a_tcp_flow_and_syn_restores_it)
{
	struct dplb_state *state = web_state(NULL, 1);
	const uint32_t closing = state->tcp_closing_timeout;
	struct flow fin = tcp_flow(1), rst = tcp_flow(2), reused = tcp_flow(3), open = tcp_flow(4);

	cr_assert_lt(closing, TCP_TIMEOUT, "the test needs a closing timeout below the TCP one");
	worker->now = 1000;
	send_one(state, &fin);
	send_one(state, &rst);
	send_one(state, &reused);
	send_one(state, &open);
	fin.tcp_flags = RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG;
	rst.tcp_flags = RTE_TCP_RST_FLAG;
	reused.tcp_flags = RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG;
	send_one(state, &fin);
	send_one(state, &rst);
	send_one(state, &reused);
	cr_assert(entry_of(&fin)->closing && entry_of(&rst)->closing);
	cr_assert(!entry_of(&open)->closing);
	/* The 5-tuple reused for a new connection: opening, then on the long
	 * timeout once the handshake's ACK comes. */
	reused.tcp_flags = RTE_TCP_SYN_FLAG;
	send_one(state, &reused);
	cr_assert_eq(entry_of(&reused)->kind, DPLB_FLOW_TCP_OPENING);
	reused.tcp_flags = RTE_TCP_ACK_FLAG;
	send_one(state, &reused);
	cr_assert_eq(entry_of(&reused)->kind, DPLB_FLOW_TCP);

	worker->now = 1000 + closing - 1;
	age_all(state);
	cr_assert_not_null(entry_of(&fin), "closing flow expired early");
	worker->now = 1000 + closing;
	age_all(state);
	cr_assert_null(entry_of(&fin), "FIN'd flow outlived the closing timeout");
	cr_assert_null(entry_of(&rst), "RST flow outlived the closing timeout");
	cr_assert_not_null(entry_of(&reused), "a reused 5-tuple took the closing timeout");
	cr_assert_not_null(entry_of(&open));
	cr_assert_eq(worker->counters.flows_expired, 2);
	check_active_counters(state);
	dplb_state_free(state);
}

/*
 * Issue 11: a flow whose client has sent nothing but SYNs lives
 * tcp_syn_timeout (5 s by default), so a SYN flood's entries leave fast;
 * the handshake's ACK makes it established, on tcp_timeout. A
 * retransmitted SYN keeps it opening, on its backend; a flow met
 * mid-connection (after a restart) is established at once.
 */
Test(worker, syn_only_flows_live_on_the_syn_timeout_until_their_ack)
{
	struct dplb_state *state = web_state(NULL, 1);
	const uint32_t syn = state->tcp_syn_timeout;
	struct flow lone = tcp_flow(1), retried = tcp_flow(2), acked = tcp_flow(3),
		    midway = tcp_flow(4);

	cr_assert_eq(syn, 5, "tcp_syn_timeout's default");
	cr_assert_lt(syn + 2, TCP_TIMEOUT);
	worker->now = 1000;
	lone.tcp_flags = retried.tcp_flags = acked.tcp_flags = RTE_TCP_SYN_FLAG;
	midway.tcp_flags = RTE_TCP_ACK_FLAG;
	send_one(state, &lone);
	send_one(state, &retried);
	send_one(state, &acked);
	send_one(state, &midway);
	cr_assert_eq(entry_of(&lone)->kind, DPLB_FLOW_TCP_OPENING);
	cr_assert_eq(entry_of(&midway)->kind, DPLB_FLOW_TCP);
	const uint32_t retried_backend = entry_of(&retried)->backend_id;

	worker->now = 1002;
	send_one(state, &retried);
	acked.tcp_flags = RTE_TCP_ACK_FLAG;
	send_one(state, &acked);
	cr_assert_eq(entry_of(&retried)->kind, DPLB_FLOW_TCP_OPENING);
	cr_assert_eq(entry_of(&retried)->backend_id, retried_backend);
	cr_assert_eq(entry_of(&acked)->kind, DPLB_FLOW_TCP);

	worker->now = 1000 + syn - 1;
	age_all(state);
	cr_assert_not_null(entry_of(&lone), "opening flow expired early");
	worker->now = 1000 + syn;
	age_all(state);
	cr_assert_null(entry_of(&lone), "SYN-only flow outlived tcp_syn_timeout");
	cr_assert_not_null(entry_of(&retried), "a retransmitted SYN did not refresh its flow");
	worker->now = 1002 + syn;
	age_all(state);
	cr_assert_null(entry_of(&retried));
	cr_assert_not_null(entry_of(&acked), "an established flow took the SYN timeout");
	cr_assert_not_null(entry_of(&midway), "a flow met mid-connection took the SYN timeout");
	cr_assert_eq(worker->counters.flows_expired, 2);
	check_active_counters(state);
	dplb_state_free(state);
}

/*
 * table_full = drop: a new flow that finds the table full is dropped and
 * counted (drop reason table_full, the VIP's table_full_packets), while
 * flows with entries keep going; a VIP with the default, stateless, sends
 * the same overflow out by Maglev, counted by its table_full_packets too.
 */
Test(worker, table_full_drop_refuses_new_flows_and_keeps_those_with_entries)
{
	enum { SMALL = 64, FLOWS = 4 * SMALL };
	static const char *const INI =
		"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n\n"
		"[vip:strict]\naddress = " VIP_ADDRESS "\nport = 80\nprotocol = tcp\n"
		"maglev_size = 7\ntable_full = drop\nbackend = 10.0.1.2\nbackend = 10.0.1.3\n\n"
		"[vip:loose]\naddress = " VIP_ADDRESS "\nport = 81\nprotocol = tcp\n"
		"maglev_size = 7\nbackend = 10.0.1.2\nbackend = 10.0.1.3\n";
	struct dplb_state *state = test_state_from_text(ids, INI, 1);
	const struct dplb_vip_entry *strict = test_vip_named(state, "strict");
	const struct dplb_vip_entry *loose = test_vip_named(state, "loose");
	static struct flow flows[FLOWS], others[FLOWS];

	dplb_worker_fini(worker);
	cr_assert_eq(dplb_worker_init(worker, 0, &port_id, 1, SMALL, SOCKET_ID_ANY), 0);
	for (uint32_t i = 0; i < FLOWS; i++) {
		flows[i] = tcp_flow(i);
		others[i] = tcp_flow(FLOWS + i);
		others[i].dst_port = 81;
	}
	send_flows(state, flows, FLOWS);
	const uint32_t kept = worker->flows.count;
	const uint64_t refused = FLOWS - kept;

	cr_assert_gt(refused, 0);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_TABLE_FULL], refused);
	cr_assert_eq(worker->counters.vip_protection[strict->id].table_full_packets, refused);
	cr_assert_eq(flush_tx(), kept);
	/* Again: the flows with entries go, the others are refused again. */
	send_flows(state, flows, FLOWS);
	cr_assert_eq(flush_tx(), 2 * kept);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_TABLE_FULL], 2 * refused);

	send_flows(state, others, FLOWS);
	cr_assert_eq(flush_tx(), 2 * kept + FLOWS, "the stateless VIP dropped new flows");
	cr_assert_eq(worker->counters.vip_protection[loose->id].table_full_packets, FLOWS);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_TABLE_FULL], 2 * refused);
	check_active_counters(state);
	dplb_state_free(state);
}

/* A TCP packet with DF set that is too big to encapsulate within the MTU. */
static struct rte_mbuf *make_too_big_frame(const struct flow *f, uint32_t mtu)
{
	struct rte_mbuf *m = make_frame(f);
	const uint16_t grow = (uint16_t)(mtu - ip_length(IPPROTO_TCP)); /* inner = mtu */

	cr_assert_not_null(rte_pktmbuf_append(m, grow), "no room to grow the frame");
	struct rte_ipv4_hdr *ip4 =
		rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
	ip4->total_length = rte_cpu_to_be_16((uint16_t)mtu);
	ip4->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip4->hdr_checksum = 0;
	ip4->hdr_checksum = rte_ipv4_cksum(ip4);
	return m;
}

Test(worker, fragmentation_needed_is_rate_limited_per_second)
{
	struct dplb_state *state = web_state(NULL, 1);
	const uint32_t extra = 40;
	uint32_t sent = 0;

	worker->now = 500;
	while (sent < DPLB_FRAG_NEEDED_PER_SECOND + extra) {
		struct rte_mbuf *burst[DPLB_BURST];
		uint16_t count = 0;

		for (; count < DPLB_BURST && sent < DPLB_FRAG_NEEDED_PER_SECOND + extra; count++) {
			const struct flow f = tcp_flow(sent++);
			burst[count] = make_too_big_frame(&f, state->mtu);
		}
		dplb_worker_process_burst(worker, state, 0, burst, count);
		flush_tx();
	}
	/* Within one second: the budget, then plain too_big drops. */
	cr_assert_eq(worker->counters.icmp_frag_needed_sent, DPLB_FRAG_NEEDED_PER_SECOND);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_TOO_BIG], extra);

	/* The next second has a budget of its own. */
	worker->now = 501;
	struct rte_mbuf *one[1];
	const struct flow f = tcp_flow(sent);
	one[0] = make_too_big_frame(&f, state->mtu);
	dplb_worker_process_burst(worker, state, 0, one, 1);
	flush_tx();
	cr_assert_eq(worker->counters.icmp_frag_needed_sent, DPLB_FRAG_NEEDED_PER_SECOND + 1);
	dplb_state_free(state);
}

Test(worker, a_syn_reusing_a_closed_flow_is_a_new_connection)
{
	struct dplb_state *before = web_state(NULL, 1);
	struct flow flows[MANY_FLOWS];
	uint32_t backend[MANY_FLOWS];

	uint32_t draining;

	start_flows(before, flows, backend);
	struct dplb_state *after = with_busiest(before, backend, "state=drain", &draining);
	uint32_t reused = 0;

	for (uint32_t i = 0; i < MANY_FLOWS; i++) {
		if (backend[i] != draining)
			continue;
		struct flow f = flows[i];

		/* A retransmitted SYN of a connection still opening stays. */
		f.tcp_flags = RTE_TCP_SYN_FLAG;
		send_one(after, &f);
		cr_assert_eq(entry_of(&f)->backend_id, draining, "an opening flow moved");
		/* Closed, then the client opens a new connection on the same
		 * 5-tuple: the drained backend must not get it. */
		f.tcp_flags = RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG;
		send_one(after, &f);
		f.tcp_flags = RTE_TCP_SYN_FLAG;
		send_one(after, &f);
		cr_assert_neq(entry_of(&f)->backend_id, draining, "new connection %u to a drain",
			      i);
		cr_assert(!entry_of(&f)->closing);
		reused++;
	}
	cr_assert_gt(reused, 0);
	cr_assert_eq(worker->counters.new_flows, MANY_FLOWS + reused);
	check_active_counters(after);
	dplb_state_free(before);
	dplb_state_free(after);
}

/* ---- the kernel's exception path ------------------------------------------ */

#define LOCAL_ADDRESS "10.0.0.1" /* web_state's [dataplane] address */

/* An ICMP message of type (code 0, 8 bytes of payload) from 10.9.9.9 to dst. */
static struct rte_mbuf *make_icmp(uint32_t dst, uint8_t type)
{
	const uint16_t length = sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_icmp_hdr) + 8;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	cr_assert_not_null(m, "mbuf pool empty");
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
		m, sizeof(struct rte_ether_hdr) + length);
	cr_assert_not_null(eth);
	memset(eth, 0, sizeof(*eth) + length);
	rte_ether_addr_copy(&worker->port_macs[0], &eth->dst_addr);
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip4 = (struct rte_ipv4_hdr *)(eth + 1);
	ip4->version_ihl = RTE_IPV4_VHL_DEF;
	ip4->total_length = rte_cpu_to_be_16(length);
	ip4->time_to_live = 64;
	ip4->next_proto_id = IPPROTO_ICMP;
	ip4->src_addr = ip("10.9.9.9");
	ip4->dst_addr = dst;
	ip4->hdr_checksum = rte_ipv4_cksum(ip4);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip4 + 1);
	icmp->icmp_type = type;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, sizeof(*icmp) + 8);
	return m;
}

static void send_frame(const struct dplb_state *state, struct rte_mbuf *m)
{
	dplb_worker_process_burst(worker, state, 0, &m, 1);
}

/* The destination address of every frame in ring, which is emptied. */
static unsigned int drain_to_kernel(struct rte_ring *ring, uint32_t *destinations, unsigned int max)
{
	struct rte_mbuf *m;
	unsigned int count = 0;

	while (rte_ring_sc_dequeue(ring, (void **)&m) == 0) {
		const struct rte_ipv4_hdr *ip4 = rte_pktmbuf_mtod_offset(
			m, const struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));

		cr_assert_lt(count, max);
		destinations[count++] = ip4->dst_addr;
		rte_pktmbuf_free(m);
	}
	return count;
}

/*
 * What the port took counts against each packet's own VIP and backend, and
 * dplb's own frames (echo replies) against the port only, however the TX
 * queue mixes them: it sums each run of one VIP and writes it once.
 */
Test(worker, packets_count_against_their_own_vip_in_any_order)
{
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	const struct dplb_vip_entry *dns = test_vip_named(state, "dns");
	/* Bursts of 10 queued before a flush (fewer than the queue holds). A
	 * burst's replies are queued in stage 1, ahead of its VIPs' packets,
	 * so the first flush's queue holds replies, runs of 1 to 3 of each VIP,
	 * replies in the middle, and only replies at its end (the third
	 * burst); the second's ends with a run of a VIP. */
	enum { EACH = 10, BURSTS = 4, FLUSH_AFTER = 3 };
	uint64_t tcp = 0, udp = 0, echo_bytes = 0, echoes = 0, sent = 0;

	_Static_assert(FLUSH_AFTER * EACH < DPLB_BURST, "one flush sends them all");
	for (uint16_t b = 0; b < BURSTS; b++) {
		struct rte_mbuf *burst[EACH];

		for (uint16_t i = 0; i < EACH; i++) {
			const uint32_t n = b * EACH + i;

			if (b == FLUSH_AFTER - 1 || i == 0 || i == 7) {
				burst[i] = make_icmp(ip(LOCAL_ADDRESS), RTE_IP_ICMP_ECHO_REQUEST);
				echo_bytes += rte_pktmbuf_pkt_len(burst[i]);
				echoes++;
			} else if (n % 6 < 3) {
				const struct flow f = tcp_flow(n);
				burst[i] = make_frame(&f);
				tcp++;
			} else {
				const struct flow f = udp_flow(n);
				burst[i] = make_frame(&f);
				udp++;
			}
		}
		dplb_worker_process_burst(worker, state, 0, burst, EACH);
		if (b == FLUSH_AFTER - 1 || b == BURSTS - 1)
			sent = flush_tx();
	}
	cr_assert_eq(sent, BURSTS * EACH);
	cr_assert_eq(total_drops(), 0);
	cr_assert_eq(worker->counters.icmp_echo_replies, echoes);

	const uint64_t tcp_out = sizeof(struct rte_ipv4_hdr) + ip_length(IPPROTO_TCP);
	const uint64_t udp_out = sizeof(struct rte_ipv4_hdr) + ip_length(IPPROTO_UDP);
	/* Received and sent: both are summed over runs of one VIP. */
	cr_assert_eq(vip_counters(web)->packets_in, tcp);
	cr_assert_eq(vip_counters(dns)->packets_in, udp);
	cr_assert_eq(vip_counters(web)->bytes_in, tcp * ip_length(IPPROTO_TCP));
	cr_assert_eq(vip_counters(dns)->bytes_in, udp * ip_length(IPPROTO_UDP));
	cr_assert_eq(vip_counters(web)->packets_out, tcp);
	cr_assert_eq(vip_counters(dns)->packets_out, udp);
	cr_assert_eq(vip_counters(web)->bytes_out, tcp * tcp_out);
	cr_assert_eq(vip_counters(dns)->bytes_out, udp * udp_out);
	for (uint32_t v = 0; v < 2; v++) {
		const struct dplb_vip_entry *vip = v == 0 ? web : dns;
		uint64_t packets = 0, bytes = 0;

		for (uint32_t b = 0; b < vip->backend_count; b++) {
			packets += backend_counters(vip->backend_ids[b])->packets_out;
			bytes += backend_counters(vip->backend_ids[b])->bytes_out;
		}
		cr_assert_eq(packets, vip_counters(vip)->packets_out, "VIP %u", v);
		cr_assert_eq(bytes, vip_counters(vip)->bytes_out, "VIP %u", v);
	}
	cr_assert_eq(worker->counters.port[0].tx_bytes, (tcp + udp) * sizeof(struct rte_ether_hdr) +
								tcp * tcp_out + udp * udp_out +
								echo_bytes);
	dplb_state_free(state);
}

/*
 * TCP, UDP and ICMP other than echo requests for dplb's own address go to
 * the kernel's ring when there is one, and are dropped as before when there
 * is none; pings are answered as ever, and nothing for another address, a
 * VIP's included, reaches the kernel. A full ring is a drop of its own: the
 * worker never waits.
 */
Test(worker, frames_for_our_address_go_to_the_kernel_or_are_dropped_when_its_ring_is_full)
{
	struct dplb_state *state = web_state(NULL, 1);
	const uint32_t local = ip(LOCAL_ADDRESS);
	const struct flow ssh = { IPPROTO_TCP, ip("10.9.9.9"), local, 40000, 22, RTE_TCP_SYN_FLAG };
	const struct flow ntp = { IPPROTO_UDP, ip("10.9.9.9"), local, 40000, 123, 0 };
	const struct flow stray = { IPPROTO_TCP, ip("10.9.9.9"), ip("10.0.0.77"), 40000, 22, 0 };
	uint32_t destinations[8];

	/* No exception path: dropped, as they always were. */
	send_one(state, &ssh);
	send_frame(state, make_icmp(local, RTE_IP_ICMP_ECHO_REPLY));
	cr_assert_eq(worker->counters.drops[DPLB_DROP_NOT_FOR_VIP], 1);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_ICMP_UNHANDLED], 1);
	cr_assert_eq(worker->counters.exception_to_kernel, 0);

	/* Room for three frames. */
	worker->to_kernel =
		rte_ring_create("test_to_kernel", 4, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert_not_null(worker->to_kernel);
	send_one(state, &ssh);
	send_one(state, &ntp);
	send_frame(state, make_icmp(local, RTE_IP_ICMP_ECHO_REPLY));
	/* Not the kernel's: a ping of ours, another address, a VIP's ICMP. */
	send_frame(state, make_icmp(local, RTE_IP_ICMP_ECHO_REQUEST));
	send_one(state, &stray);
	send_frame(state, make_icmp(ip(VIP_ADDRESS), RTE_IP_ICMP_ECHO_REPLY));
	cr_assert_eq(worker->counters.exception_to_kernel, 3);
	cr_assert_eq(worker->counters.icmp_echo_replies, 1);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_NOT_FOR_VIP], 2);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_ICMP_UNHANDLED], 2);
	/* The ring is full: the next frame for the kernel is dropped. */
	send_one(state, &ntp);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_EXCEPTION_BUSY], 1);
	cr_assert_eq(worker->counters.exception_to_kernel, 3);
	cr_assert_eq(total_drops(), 5);

	cr_assert_eq(drain_to_kernel(worker->to_kernel, destinations, RTE_DIM(destinations)), 3);
	for (unsigned int i = 0; i < 3; i++)
		cr_assert_eq(destinations[i], local);
	/* Every frame received is sent, dropped or the kernel's. */
	cr_assert_eq(flush_tx(), 1);
	cr_assert_eq(worker->counters.port[0].rx_packets,
		     worker->counters.port[0].tx_packets + total_drops() +
			     worker->counters.exception_to_kernel);
	rte_ring_free(worker->to_kernel);
	worker->to_kernel = NULL;
	dplb_state_free(state);
}

/* The worker's rings to the kernel: the ordinary one of ordinary_size
 * slots (one fewer frames), a priority one of 8, and peers to choose. */
static void open_kernel_rings(unsigned int ordinary_size, struct dplb_control_peers *peers)
{
	worker->to_kernel = rte_ring_create("test_to_kernel", ordinary_size, SOCKET_ID_ANY,
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
	worker->to_kernel_control = rte_ring_create("test_to_kernel_control", 8, SOCKET_ID_ANY,
						    RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert(worker->to_kernel != NULL && worker->to_kernel_control != NULL);
	worker->control_peers = peers;
}

/* Every frame received was sent, dropped or the kernel's; the rings (empty
 * by now) and state go. */
static void close_kernel_rings(struct dplb_state *state)
{
	cr_assert_eq(worker->counters.port[0].rx_packets,
		     worker->counters.port[0].tx_packets + total_drops() +
			     worker->counters.exception_to_kernel);
	rte_ring_free(worker->to_kernel);
	rte_ring_free(worker->to_kernel_control);
	worker->to_kernel = NULL;
	worker->to_kernel_control = NULL;
	worker->control_peers = NULL;
	dplb_state_free(state);
}

/* One frame of f, with the IP TTL ttl (its checksum made again). */
static void send_with_ttl(const struct dplb_state *state, const struct flow *f, uint8_t ttl)
{
	struct rte_mbuf *m = make_frame(f);
	struct rte_ipv4_hdr *ip4 =
		rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));

	ip4->time_to_live = ttl;
	ip4->hdr_checksum = 0;
	ip4->hdr_checksum = rte_ipv4_cksum(ip4);
	send_frame(state, m);
}

/*
 * A peer's BGP and BFD take the priority ring (packet/control_traffic.h):
 * only from a learned peer, single-hop BFD only with TTL 255, and only
 * within the worker's rate; the rest takes the ordinary ring, and a full
 * ordinary ring does not stop a peer's BGP.
 */
Test(worker, a_peers_bgp_and_bfd_take_the_priority_ring_within_its_rate)
{
	struct dplb_state *state = web_state(NULL, 1);
	struct dplb_control_peers peers = { 0 };
	const uint32_t local = ip(LOCAL_ADDRESS), router = ip("10.9.9.1"), other = ip("10.9.9.9");
	const struct flow bgp_in = { IPPROTO_TCP, router, local, 179, 40000, 0 };
	const struct flow bgp_out = { IPPROTO_TCP, router, local, 50000, 179, RTE_TCP_SYN_FLAG };
	const struct flow bfd = { IPPROTO_UDP, router, local, 49152, 3784, 0 };
	const struct flow bfd_multihop = { IPPROTO_UDP, router, local, 49152, 4784, 0 };
	const struct flow spoofed = { IPPROTO_TCP, other, local, 179, 40000, 0 };
	const struct flow ssh = { IPPROTO_TCP, router, local, 40000, 22, 0 };
	uint32_t destinations[8];

	open_kernel_rings(4, &peers);
	/* A burst of four, then one a second: the test sends within a second. */
	worker->control_limit = dplb_rate_limit_make(worker->tsc_hz, 1, 4, 1);

	/* No peer learned yet: the ordinary ring. */
	send_one(state, &bgp_in);
	cr_assert_eq(worker->counters.exception_control_to_kernel, 0);
	cr_assert(dplb_control_peers_learn(&peers, router));
	cr_assert_not(dplb_control_peers_learn(&peers, router));
	/* Fill the ordinary ring (three with the BGP frame above). */
	send_one(state, &ssh);
	send_one(state, &ssh);
	cr_assert_eq(rte_ring_count(worker->to_kernel), 3);
	send_one(state, &ssh);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_EXCEPTION_BUSY], 1);
	/* The peer's BGP either way, multihop BFD, single-hop BFD at TTL 255. */
	send_one(state, &bgp_in);
	send_one(state, &bgp_out);
	send_one(state, &bfd_multihop);
	send_with_ttl(state, &bfd, 255);
	cr_assert_eq(worker->counters.exception_control_to_kernel, 4);
	/* Not for the priority ring: single-hop BFD from off the segment, a
	 * stranger's port 179; dropped here since the ordinary ring is full. */
	send_with_ttl(state, &bfd, 254);
	send_one(state, &spoofed);
	cr_assert_eq(worker->counters.exception_control_to_kernel, 4);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_EXCEPTION_BUSY], 3);
	/* Beyond the rate: the ordinary ring (full: dropped), counted. */
	send_one(state, &bgp_in);
	cr_assert_eq(worker->counters.exception_control_over_rate, 1);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_EXCEPTION_BUSY], 4);
	cr_assert_eq(worker->counters.exception_to_kernel, 3 + 4);

	cr_assert_eq(
		drain_to_kernel(worker->to_kernel_control, destinations, RTE_DIM(destinations)), 4);
	cr_assert_eq(drain_to_kernel(worker->to_kernel, destinations, RTE_DIM(destinations)), 3);
	close_kernel_rings(state);
}

/* An IPv6 header from src with hop limit hops (the rest unused here). */
static struct rte_ipv6_hdr ipv6_from(const char *src, uint8_t hops)
{
	struct rte_ipv6_hdr ip6 = { .hop_limits = hops };

	cr_assert_eq(inet_pton(AF_INET6, src, ip6.src_addr), 1);
	return ip6;
}

/*
 * IPv6 peers (packet/control_traffic.h): learned once each, BGP either way
 * and BFD (single-hop at hop limit 255 only) from a peer recognised, a
 * stranger's not; a full list replaces its oldest, and the IPv4 list is
 * apart.
 */
Test(worker, ipv6_peers_are_learned_and_recognised_as_ipv4_ones_are)
{
	static struct dplb_control_peers peers;
	const rte_be16_t bgp = rte_cpu_to_be_16(DPLB_BGP_PORT), other = rte_cpu_to_be_16(40000);
	const rte_be16_t bfd = rte_cpu_to_be_16(DPLB_BFD_SINGLE_HOP_PORT);
	const rte_be16_t multihop = rte_cpu_to_be_16(DPLB_BFD_MULTIHOP_PORT);
	struct rte_ipv6_hdr router = ipv6_from("2001:db8::1", 255);
	const struct rte_ipv6_hdr far_router = ipv6_from("2001:db8::1", 254);
	const struct rte_ipv6_hdr stranger = ipv6_from("2001:db8::99", 255);
	char text[INET6_ADDRSTRLEN];

	memset(&peers, 0, sizeof(peers));
	cr_assert_not(dplb_control_frame6(&peers, &router, IPPROTO_TCP, bgp, other));
	cr_assert(dplb_control_peers_learn6(&peers, router.src_addr));
	cr_assert_not(dplb_control_peers_learn6(&peers, router.src_addr));
	cr_assert(dplb_control_frame6(&peers, &router, IPPROTO_TCP, bgp, other));
	cr_assert(dplb_control_frame6(&peers, &router, IPPROTO_TCP, other, bgp));
	cr_assert(dplb_control_frame6(&peers, &router, IPPROTO_UDP, other, bfd));
	cr_assert(dplb_control_frame6(&peers, &far_router, IPPROTO_UDP, other, multihop));
	cr_assert_not(dplb_control_frame6(&peers, &far_router, IPPROTO_UDP, other, bfd));
	cr_assert_not(dplb_control_frame6(&peers, &router, IPPROTO_TCP, other, other));
	cr_assert_not(dplb_control_frame6(&peers, &router, IPPROTO_UDP, bgp, other));
	cr_assert_not(dplb_control_frame6(&peers, &stranger, IPPROTO_TCP, bgp, other));
	cr_assert_not(dplb_control_frame6(NULL, &router, IPPROTO_TCP, bgp, other));
	/* The IPv4 list knows nothing of it. */
	cr_assert_eq(peers.address[0], 0);

	/* Fill the list: the first learned goes when one more comes. */
	for (unsigned int i = 1; i < DPLB_CONTROL_PEERS_MAX; i++) {
		snprintf(text, sizeof(text), "2001:db8::1:%x", i);
		const struct rte_ipv6_hdr peer = ipv6_from(text, 255);

		cr_assert(dplb_control_peers_learn6(&peers, peer.src_addr));
	}
	cr_assert_eq(peers.count6, DPLB_CONTROL_PEERS_MAX);
	cr_assert(dplb_control_peers_has6(&peers, router.src_addr));
	cr_assert(dplb_control_peers_learn6(&peers, stranger.src_addr));
	cr_assert(dplb_control_peers_has6(&peers, stranger.src_addr));
	cr_assert_not(dplb_control_peers_has6(&peers, router.src_addr));
	router = ipv6_from("2001:db8::1:1", 255);
	cr_assert(dplb_control_peers_has6(&peers, router.src_addr));
	cr_assert_eq(peers.count6, DPLB_CONTROL_PEERS_MAX);
}

#define LOCAL_ADDRESS6 "2001:db8::1"
#define ICMP6_DEST_UNREACHABLE 1
#define ICMP6_REDIRECT 137

/* An IPv6 frame from src to dst: TCP or UDP with ports (host order), or
 * ICMPv6 of type (quoting a UDP packet from dst when it is an error), hop
 * limit 64. Upper-layer checksums are left 0: nothing here reads them. */
static struct rte_mbuf *make_frame6(uint8_t protocol, const char *src, const char *dst,
				    uint16_t src_port, uint16_t dst_port, uint8_t type)
{
	const uint16_t quote = sizeof(struct rte_ipv6_hdr) + sizeof(struct rte_udp_hdr);
	const uint16_t upper = protocol == IPPROTO_TCP	 ? sizeof(struct rte_tcp_hdr)
			       : protocol == IPPROTO_UDP ? sizeof(struct rte_udp_hdr) + PAYLOAD
							 : (size_t)8 + quote;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	cr_assert_not_null(m, "mbuf pool empty");
	uint8_t *frame = (uint8_t *)rte_pktmbuf_append(
		m, sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + upper);
	cr_assert_not_null(frame);
	memset(frame, 0, rte_pktmbuf_data_len(m));

	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	rte_ether_addr_copy(&worker->port_macs[0], &eth->dst_addr);
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->src_addr.addr_bytes[5] = 0x99;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);

	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(upper);
	ip6->proto = protocol;
	ip6->hop_limits = 64;
	cr_assert_eq(inet_pton(AF_INET6, src, ip6->src_addr), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, ip6->dst_addr), 1);

	uint8_t *l4 = (uint8_t *)(ip6 + 1);
	if (protocol == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;

		tcp->src_port = rte_cpu_to_be_16(src_port);
		tcp->dst_port = rte_cpu_to_be_16(dst_port);
		tcp->data_off = (sizeof(*tcp) / 4) << 4;
		tcp->tcp_flags = RTE_TCP_SYN_FLAG;
	} else if (protocol == IPPROTO_UDP) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;

		udp->src_port = rte_cpu_to_be_16(src_port);
		udp->dst_port = rte_cpu_to_be_16(dst_port);
		udp->dgram_len = rte_cpu_to_be_16(upper);
	} else {
		l4[0] = type;
		if (type == ICMP6_DEST_UNREACHABLE) {
			struct rte_ipv6_hdr *quoted = (struct rte_ipv6_hdr *)(l4 + 8);

			*quoted = *ip6;
			memcpy(quoted->src_addr, ip6->dst_addr, sizeof(quoted->src_addr));
			memcpy(quoted->dst_addr, ip6->src_addr, sizeof(quoted->dst_addr));
			quoted->proto = IPPROTO_UDP;
			quoted->payload_len = rte_cpu_to_be_16(sizeof(struct rte_udp_hdr));
		}
	}
	return m;
}

/* Empty ring, whose frames must all be IPv6 to LOCAL_ADDRESS6, and say
 * what they were, in order: the protocol, and for ICMPv6 the type after
 * it ("6 17 58.129 58.1"). */
static void drain_to_kernel6(struct rte_ring *ring, char *what, size_t size)
{
	uint8_t local[16];
	struct rte_mbuf *m;
	size_t used = 0;

	cr_assert_eq(inet_pton(AF_INET6, LOCAL_ADDRESS6, local), 1);
	what[0] = '\0';
	while (rte_ring_sc_dequeue(ring, (void **)&m) == 0) {
		const struct rte_ipv6_hdr *ip6 = rte_pktmbuf_mtod_offset(
			m, const struct rte_ipv6_hdr *, sizeof(struct rte_ether_hdr));
		const uint8_t *l4 = (const uint8_t *)(ip6 + 1);

		cr_assert_eq(memcmp(ip6->dst_addr, local, sizeof(local)), 0);
		used += (size_t)snprintf(what + used, size - used, &" %u"[used == 0], ip6 -> proto);
		if (ip6->proto == IPPROTO_ICMPV6)
			used += (size_t)snprintf(what + used, size - used, ".%u", l4[0]);
		cr_assert_lt(used, size);
		rte_pktmbuf_free(m);
	}
}

/*
 * IPv6 for dplb's address6 as IPv4 for its address: TCP, UDP, ICMPv6 echo
 * replies and errors about no VIP's flow go to the kernel's ring when there
 * is one (a learned peer's BGP to the priority ring), and are dropped as
 * before without one; nothing for another address, and no redirect, ever
 * reaches the kernel.
 */
Test(worker, ipv6_for_our_address6_goes_to_the_kernel_as_ipv4_does)
{
	struct dplb_state *state = test_state_from_text(
		ids,
		"[dataplane]\naddress = 10.0.0.1\naddress6 = " LOCAL_ADDRESS6 "\n"
		"gateway_mac = 02:00:00:00:00:fe\n\n"
		"[vip:web]\naddress = " VIP_ADDRESS "\nport = 80\nbackend = 10.0.1.2\n",
		1);
	struct dplb_control_peers peers = { 0 };
	const char *const client = "2001:db8::99", *const router = "2001:db8::fe";
	uint8_t router_address[16];

	cr_assert(state->has_local_address6);
	/* No exception path: dropped, as they always were. */
	send_frame(state, make_frame6(IPPROTO_TCP, client, LOCAL_ADDRESS6, 40000, 22, 0));
	send_frame(state, make_frame6(IPPROTO_ICMPV6, client, LOCAL_ADDRESS6, 0, 0,
				      DPLB_ICMP6_ECHO_REPLY));
	cr_assert_eq(worker->counters.drops[DPLB_DROP_NOT_FOR_VIP], 1);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_ICMP_UNHANDLED], 1);
	cr_assert_eq(worker->counters.exception_to_kernel, 0);

	open_kernel_rings(8, &peers);
	send_frame(state, make_frame6(IPPROTO_TCP, client, LOCAL_ADDRESS6, 40000, 22, 0));
	send_frame(state, make_frame6(IPPROTO_UDP, client, LOCAL_ADDRESS6, 40000, 123, 0));
	send_frame(state, make_frame6(IPPROTO_ICMPV6, client, LOCAL_ADDRESS6, 0, 0,
				      DPLB_ICMP6_ECHO_REPLY));
	send_frame(state, make_frame6(IPPROTO_ICMPV6, client, LOCAL_ADDRESS6, 0, 0,
				      ICMP6_DEST_UNREACHABLE));
	cr_assert_eq(worker->counters.exception_to_kernel, 4);
	/* Not the kernel's: another address, a redirect. */
	send_frame(state, make_frame6(IPPROTO_TCP, client, "2001:db8::77", 40000, 22, 0));
	send_frame(state, make_frame6(IPPROTO_ICMPV6, client, "2001:db8::77", 0, 0,
				      DPLB_ICMP6_ECHO_REPLY));
	send_frame(state,
		   make_frame6(IPPROTO_ICMPV6, client, LOCAL_ADDRESS6, 0, 0, ICMP6_REDIRECT));
	cr_assert_eq(worker->counters.exception_to_kernel, 4);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_NOT_FOR_VIP], 2);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_ICMP_UNHANDLED], 3);
	/* A peer's BGP, once the peer is known, takes the priority ring. */
	send_frame(state, make_frame6(IPPROTO_TCP, router, LOCAL_ADDRESS6, 179, 40001, 0));
	cr_assert_eq(worker->counters.exception_control_to_kernel, 0);
	cr_assert_eq(inet_pton(AF_INET6, router, router_address), 1);
	cr_assert(dplb_control_peers_learn6(&peers, router_address));
	send_frame(state, make_frame6(IPPROTO_TCP, router, LOCAL_ADDRESS6, 179, 40001, 0));
	cr_assert_eq(worker->counters.exception_control_to_kernel, 1);

	char what[64];

	drain_to_kernel6(worker->to_kernel, what, sizeof(what));
	cr_assert_str_eq(what, "6 17 58.129 58.1 6");
	drain_to_kernel6(worker->to_kernel_control, what, sizeof(what));
	cr_assert_str_eq(what, "6");
	close_kernel_rings(state);
}

/* ---- a port that refuses packets ---------------------------------------- */

static void setup_ring(void)
{
	setup_port("net_ring0");
}

TestSuite(worker_tx, .init = setup_ring, .fini = teardown, .timeout = 120);

/*
 * net_ring keeps what is sent until it is received: once its ring is full
 * the driver refuses frames, which the worker drops as tx_full. "Out" means
 * sent: only the frames the driver took count on the port, the VIP and the
 * backend each one was for.
 */
Test(worker_tx, only_frames_the_driver_took_count_as_sent)
{
	enum { FLOWS = 2048 };
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	static struct flow flows[FLOWS];
	struct rte_eth_stats port_stats;
	uint64_t backends_out = 0;

	for (uint32_t i = 0; i < FLOWS; i++)
		flows[i] = tcp_flow(i);
	send_flows(state, flows, FLOWS);
	flush_tx();
	cr_assert_eq(rte_eth_stats_get(port_id, &port_stats), 0);
	const uint64_t taken = port_stats.opackets;

	cr_assert_gt(taken, 0);
	cr_assert_lt(taken, FLOWS, "the ring took all %lu frames", (unsigned long)taken);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_TX_FULL], FLOWS - taken);
	cr_assert_eq(total_drops(), FLOWS - taken);
	cr_assert_eq(worker->counters.port[0].tx_packets, taken);
	cr_assert_eq(worker->counters.port[0].tx_bytes,
		     taken * (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +
			      ip_length(IPPROTO_TCP)));
	cr_assert_eq(vip_counters(web)->packets_in, FLOWS);
	cr_assert_eq(vip_counters(web)->packets_out, taken);
	cr_assert_eq(vip_counters(web)->bytes_out,
		     taken * (sizeof(struct rte_ipv4_hdr) + ip_length(IPPROTO_TCP)));
	/* Frames go to the driver in order, so it took the first ones: each
	 * backend counts those of them Maglev sent it, and no refused one. */
	for (int b = 0; b < WEB_BACKENDS; b++) {
		const uint32_t id = test_backend_id(web, state, ip(web_backends[b]));
		uint64_t expected = 0;

		for (uint32_t i = 0; i < taken; i++)
			expected += maglev_pick(web, &flows[i]) == id;
		cr_assert_eq(backend_counters(id)->packets_out, expected, "backend %s",
			     web_backends[b]);
		backends_out += backend_counters(id)->packets_out;
	}
	cr_assert_eq(backends_out, taken);

	/* Empty the ring: the frames in it belong to the pool. */
	struct rte_mbuf *back[DPLB_BURST];
	uint16_t received;

	while ((received = rte_eth_rx_burst(port_id, 0, back, DPLB_BURST)) != 0)
		rte_pktmbuf_free_bulk(back, received);
	dplb_state_free(state);
}

/* ---- where each packet went: a port that gives back what it sent ------- */

/* net_ring gives back what was sent through it: the frames read back say
 * where each packet went and what dplb answered. */
TestSuite(worker_output, .init = setup_ring, .fini = teardown, .timeout = 120);

/* Read back every frame the worker sent; returns how many (at most max). */
static uint16_t read_back(struct rte_mbuf **frames, uint16_t max)
{
	dplb_worker_flush_tx(worker);
	return rte_eth_rx_burst(port_id, 0, frames, max);
}

/* Send one frame per flow, a burst at a time, and read each back: to[i] is
 * the outer destination (the backend) flow i's frame went to. Every frame
 * must leave, in order, encapsulated IP-in-IP. */
static void send_and_see(const struct dplb_state *state, const struct flow *flows, uint32_t n,
			 uint32_t *to)
{
	for (uint32_t first = 0; first < n; first += DPLB_BURST) {
		struct rte_mbuf *burst[DPLB_BURST];
		const uint16_t count = (uint16_t)RTE_MIN((uint32_t)DPLB_BURST, n - first);

		for (uint16_t i = 0; i < count; i++)
			burst[i] = make_frame(&flows[first + i]);
		dplb_worker_process_burst(worker, state, 0, burst, count);
		const uint16_t received = read_back(burst, DPLB_BURST);
		cr_assert_eq(received, count, "%u of %u frames left", received, count);
		for (uint16_t i = 0; i < received; i++) {
			const struct rte_ipv4_hdr *outer =
				rte_pktmbuf_mtod_offset(burst[i], const struct rte_ipv4_hdr *,
							sizeof(struct rte_ether_hdr));
			const struct rte_ipv4_hdr *inner = outer + 1;
			const rte_be16_t *ports = (const rte_be16_t *)(inner + 1);

			cr_assert_eq(outer->next_proto_id, IPPROTO_IPIP);
			cr_assert(inner->src_addr == flows[first + i].src_addr &&
					  ports[0] == rte_cpu_to_be_16(flows[first + i].src_port),
				  "frame %u is not flow %u's", i, first + i);
			to[first + i] = outer->dst_addr;
		}
		rte_pktmbuf_free_bulk(burst, received);
	}
}

/* How many of n flows went somewhere else than before. */
static uint32_t moved_flows(const uint32_t *before, const uint32_t *now, uint32_t n)
{
	uint32_t moved = 0;

	for (uint32_t i = 0; i < n; i++)
		moved += before[i] != now[i];
	return moved;
}

/* A round-robin VIP of three backends for protocol ("tcp", "udp"). */
static struct dplb_state *round_robin_state(const char *protocol, uint16_t port,
					    uint32_t tcp_timeout, uint32_t udp_timeout)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n"
		 "tcp_timeout = %u\nudp_timeout = %u\n\n"
		 "[vip:rr]\naddress = " VIP_ADDRESS "\nport = %u\nprotocol = %s\n"
		 "scheduler = round-robin\nmaglev_size = 1009\n"
		 "backend = 10.0.2.2\nbackend = 10.0.2.3\nbackend = 10.0.2.4\n",
		 tcp_timeout, udp_timeout, port, protocol);
	return test_state_from_text(ids, text, 1);
}

/* Send n (at most 8) new flows and check that the VIP's round-robin gave
 * them its backends in turn, from the worker's cursor as it was. */
static void expect_round_robin(const struct dplb_state *state, const struct dplb_vip_entry *vip,
			       const struct flow *flows, uint32_t n)
{
	uint32_t cursor = worker->round_robin_cursor[vip->id];
	uint32_t expected[8], got[8];

	cr_assert_leq(n, RTE_DIM(expected));
	for (uint32_t i = 0; i < n; i++) {
		if (cursor >= vip->up_count)
			cursor = 0;
		expected[i] = state->backends[vip->up_ids[cursor++]].address;
	}
	send_and_see(state, flows, n, got);
	cr_assert_eq(moved_flows(expected, got, n), 0, "new flows not given round-robin");
}

/* Start the worker over with a table of capacity flows. */
static void restart_worker(uint32_t capacity)
{
	dplb_worker_fini(worker);
	cr_assert_eq(dplb_worker_init(worker, 0, &port_id, 1, capacity, SOCKET_ID_ANY), 0);
}

/*
 * Issue 13, defect 1, as it was reported: a table of 1,024 flows,
 * udp_timeout = 2, a round-robin UDP VIP with 3 backends; 64 flows, then
 * 3,008 more (2,048 of them find the table full and go out by Maglev), and
 * both again. The 64 then go idle and expire while the 3,008 keep sending:
 * the room they leave must move none of the 3,008 (41 moved).
 */
Test(worker_output, flows_sent_while_the_table_was_full_keep_their_backend_when_room_frees_up)
{
	enum { TABLE = 1024, EARLY = 64, LATE = 3008, ALL = EARLY + LATE, UDP_SHORT = 2 };
	struct dplb_state *state = round_robin_state("udp", 53, TCP_TIMEOUT, UDP_SHORT);
	const struct dplb_vip_entry *rr = test_vip_named(state, "rr");
	static struct flow flows[ALL];
	static uint32_t first[ALL], again[ALL];

	restart_worker(TABLE);
	for (uint32_t i = 0; i < ALL; i++)
		flows[i] = udp_flow(i);
	worker->now = 100;
	send_and_see(state, flows, EARLY, first);
	send_and_see(state, flows + EARLY, LATE, first + EARLY);
	cr_assert_eq(worker->flows.count, TABLE);
	cr_assert_eq(worker->counters.flow_insert_failures, ALL - TABLE);
	send_and_see(state, flows, ALL, again);
	cr_assert_eq(moved_flows(first, again, ALL), 0);

	/* Every second the 3,008 send and the table is swept; from second 102
	 * on, the 64 have expired and 64 of the 3,008 find room. */
	for (uint32_t second = 101; second <= 105; second++) {
		worker->now = second;
		age_all(state);
		send_and_see(state, flows + EARLY, LATE, again + EARLY);
		const uint32_t moved = moved_flows(first + EARLY, again + EARLY, LATE);
		cr_assert_eq(moved, 0, "second %u: %u of the %u flows changed backend", second,
			     moved, LATE);
	}
	cr_assert_eq(worker->counters.flows_expired, EARLY);
	cr_assert_eq(worker->flows.count, TABLE, "the room left was not used");
	cr_assert_eq(worker->counters.new_flows, TABLE + EARLY);
	check_active_counters(state);

	/* udp_timeout after the last flow went out without an entry, new flows
	 * are the scheduler's again. */
	worker->now = 105 + UDP_SHORT;
	age_all(state);
	cr_assert_eq(worker->flows.count, 0);
	struct flow fresh[6];
	for (uint32_t i = 0; i < RTE_DIM(fresh); i++)
		fresh[i] = udp_flow(ALL + i);
	expect_round_robin(state, rr, fresh, RTE_DIM(fresh));
	dplb_state_free(state);
}

/* The same for TCP: after a full table, a packet of an open connection
 * keeps the backend Maglev gave it, and a SYN still opens a connection on
 * the VIP's scheduler. */
Test(worker_output, tcp_connections_keep_their_backend_and_syns_are_scheduled_after_a_full_table)
{
	enum { TABLE = 64, FLOWS = 4 * TABLE, SOME = TABLE / 2 };
	struct dplb_state *state = round_robin_state("tcp", 80, TCP_TIMEOUT, UDP_TIMEOUT);
	const struct dplb_vip_entry *rr = test_vip_named(state, "rr");
	static struct flow flows[FLOWS];
	static uint32_t first[FLOWS], again[FLOWS];

	restart_worker(TABLE);
	for (uint32_t i = 0; i < FLOWS; i++) {
		flows[i] = tcp_flow(i);
		flows[i].tcp_flags = RTE_TCP_SYN_FLAG;
	}
	worker->now = 100;
	send_and_see(state, flows, FLOWS, first);
	cr_assert_eq(worker->counters.flow_insert_failures, FLOWS - TABLE);

	/* The connections are open; those with an entry go idle and expire
	 * while the others go on. */
	for (uint32_t i = 0; i < FLOWS; i++)
		flows[i].tcp_flags = RTE_TCP_ACK_FLAG;
	worker->now = 100 + TCP_TIMEOUT / 2;
	send_and_see(state, flows + TABLE, FLOWS - TABLE, again + TABLE);
	worker->now = 100 + TCP_TIMEOUT;
	age_all(state);
	cr_assert_eq(worker->flows.count, 0);
	send_and_see(state, flows + TABLE, SOME, again + TABLE);
	cr_assert_eq(worker->flows.count, SOME);
	cr_assert_eq(moved_flows(first + TABLE, again + TABLE, SOME), 0);

	/* New connections find room: round-robin, as ever. */
	struct flow fresh[6];
	for (uint32_t i = 0; i < RTE_DIM(fresh); i++) {
		fresh[i] = tcp_flow(FLOWS + i);
		fresh[i].tcp_flags = RTE_TCP_SYN_FLAG;
	}
	expect_round_robin(state, rr, fresh, RTE_DIM(fresh));

	/* And the rest of the open connections, with or without room. */
	send_and_see(state, flows + TABLE + SOME, FLOWS - TABLE - SOME, again + TABLE + SOME);
	cr_assert_eq(moved_flows(first + TABLE, again + TABLE, FLOWS - TABLE), 0);
	check_active_counters(state);
	dplb_state_free(state);
}

/* m's bytes as a chain of mbufs cut at cuts[0] < cuts[1] < ... (count of
 * them), as a PMD delivers a frame larger than one buffer; m is freed. */
static struct rte_mbuf *as_chain(struct rte_mbuf *m, const uint32_t *cuts, uint32_t count)
{
	static uint8_t bytes[RTE_MBUF_DEFAULT_BUF_SIZE];
	const uint32_t length = rte_pktmbuf_pkt_len(m);
	struct rte_mbuf *head = NULL;

	cr_assert_leq(length, sizeof(bytes));
	const void *read = rte_pktmbuf_read(m, 0, length, bytes);
	cr_assert_not_null(read);
	if (read != bytes)
		memcpy(bytes, read, length);
	rte_pktmbuf_free(m);
	for (uint32_t i = 0, from = 0; i <= count; i++) {
		const uint32_t to = i < count ? cuts[i] : length;
		struct rte_mbuf *segment = rte_pktmbuf_alloc(pool);

		cr_assert_not_null(segment);
		uint8_t *data = (uint8_t *)rte_pktmbuf_append(segment, (uint16_t)(to - from));
		cr_assert_not_null(data);
		memcpy(data, bytes + from, to - from);
		if (head == NULL)
			head = segment;
		else
			cr_assert_eq(rte_pktmbuf_chain(head, segment), 0);
		from = to;
	}
	cr_assert_eq(head->nb_segs, count + 1);
	cr_assert_eq(rte_pktmbuf_pkt_len(head), length);
	return head;
}

/*
 * Issue 13, defect 8: a DF packet too big for the tunnel that spans several
 * mbufs gets its "fragmentation needed" too (rte_pktmbuf_trim cannot cut
 * into a chain: it was dropped as too_big, silently), built in the first
 * segment, whether that holds the whole answer or only the headers, and
 * with every other segment back in the pool.
 */
Test(worker_output, a_too_big_packet_in_several_segments_gets_fragmentation_needed)
{
	static const uint32_t headers = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +
					sizeof(struct rte_tcp_hdr);
	const uint32_t layouts[][2] = { { 600, 0 }, { headers, 0 }, { headers, 700 } };
	struct dplb_state *state = web_state(NULL, 1);
	const unsigned int pool_free = rte_mempool_avail_count(pool);

	worker->now = 600;
	for (uint32_t l = 0; l < RTE_DIM(layouts); l++) {
		const struct flow f = tcp_flow(l);
		struct rte_mbuf *m = as_chain(make_too_big_frame(&f, state->mtu), layouts[l],
					      layouts[l][1] != 0 ? 2 : 1);
		/* The client's header has no options: it and 8 bytes. */
		uint8_t quote[sizeof(struct rte_ipv4_hdr) + 8];
		struct rte_mbuf *reply;

		memcpy(quote, rte_pktmbuf_mtod_offset(m, void *, sizeof(struct rte_ether_hdr)),
		       sizeof(quote));
		dplb_worker_process_burst(worker, state, 0, &m, 1);
		cr_assert_eq(read_back(&reply, 1), 1, "layout %u: no answer", l);
		cr_assert_eq(worker->counters.icmp_frag_needed_sent, l + 1, "layout %u", l);
		cr_assert_eq(total_drops(), 0, "layout %u: dropped", l);

		const uint16_t ip_len =
			sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_icmp_hdr) + sizeof(quote);
		cr_assert_eq(reply->nb_segs, 1);
		cr_assert_eq(rte_pktmbuf_pkt_len(reply), sizeof(struct rte_ether_hdr) + ip_len);
		const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(reply, struct rte_ether_hdr *);
		const struct rte_ipv4_hdr *ip4 = (const struct rte_ipv4_hdr *)(eth + 1);
		const struct rte_icmp_hdr *icmp = (const struct rte_icmp_hdr *)(ip4 + 1);
		cr_assert(rte_is_same_ether_addr(&eth->src_addr, &worker->port_macs[0]));
		cr_assert_eq(eth->dst_addr.addr_bytes[5], 0x99, "not back to the sender's MAC");
		cr_assert_eq(ip4->src_addr, state->local_address);
		cr_assert_eq(ip4->dst_addr, f.src_addr);
		cr_assert_eq(ip4->next_proto_id, IPPROTO_ICMP);
		cr_assert_eq(rte_be_to_cpu_16(ip4->total_length), ip_len);
		cr_assert_eq(rte_raw_cksum(ip4, sizeof(*ip4)), 0xffff, "IP checksum");
		cr_assert_eq(icmp->icmp_type, DPLB_ICMP_DEST_UNREACHABLE);
		cr_assert_eq(icmp->icmp_code, DPLB_ICMP_FRAGMENTATION_NEEDED);
		cr_assert_eq(rte_be_to_cpu_16(icmp->icmp_seq_nb),
			     state->mtu - sizeof(struct rte_ipv4_hdr), "next-hop MTU");
		cr_assert_eq(memcmp(icmp + 1, quote, sizeof(quote)), 0, "quote");
		cr_assert_eq(rte_raw_cksum(icmp, sizeof(*icmp) + sizeof(quote)), 0xffff,
			     "ICMP checksum");
		rte_pktmbuf_free(reply);
		cr_assert_eq(rte_mempool_avail_count(pool), pool_free, "layout %u: mbufs lost", l);
	}
	dplb_state_free(state);
}

/*
 * Issue 11: a SYN flood of distinct sources at twice the table's size. The
 * flows established before it keep their entries and backends (the flood
 * only gets what room is left, and goes statelessly beyond it); the
 * flood's entries are gone tcp_syn_timeout later, counted as expired and
 * as table_full_packets, and the table has room again.
 */
Test(worker_output, a_syn_flood_expires_on_the_syn_timeout_and_spares_established_flows)
{
	enum { TABLE = 1024, ESTABLISHED = 100, FLOOD = 2 * TABLE };
	struct dplb_state *state = web_state(NULL, 1);
	const struct dplb_vip_entry *web = test_vip_named(state, "web");
	static struct flow established[ESTABLISHED], flood[FLOOD];
	static uint32_t before[ESTABLISHED], after[ESTABLISHED], flood_to[FLOOD];

	restart_worker(TABLE);
	for (uint32_t i = 0; i < ESTABLISHED; i++) {
		established[i] = tcp_flow(i);
		established[i].tcp_flags = RTE_TCP_ACK_FLAG;
	}
	for (uint32_t i = 0; i < FLOOD; i++) {
		flood[i] = tcp_flow(100000 + i * 7);
		flood[i].tcp_flags = RTE_TCP_SYN_FLAG;
	}
	worker->now = 100;
	send_and_see(state, established, ESTABLISHED, before);
	worker->now = 101;
	send_and_see(state, flood, FLOOD, flood_to);
	cr_assert_eq(worker->flows.count, TABLE);
	const uint64_t stateless = worker->counters.flow_insert_failures;

	cr_assert_eq(stateless, ESTABLISHED + FLOOD - TABLE);
	cr_assert_eq(worker->counters.vip_protection[web->id].table_full_packets, stateless);
	cr_assert_eq(total_drops(), 0, "the default table_full (stateless) dropped packets");
	worker->now = 102;
	send_and_see(state, established, ESTABLISHED, after);
	cr_assert_eq(moved_flows(before, after, ESTABLISHED), 0, "the flood moved flows");

	worker->now = 101 + state->tcp_syn_timeout;
	age_all(state);
	cr_assert_eq(worker->flows.count, ESTABLISHED,
		     "the flood's entries outlived the SYN timeout");
	cr_assert_eq(worker->counters.flows_expired, TABLE - ESTABLISHED);
	for (uint32_t i = 0; i < ESTABLISHED; i++)
		cr_assert_not_null(entry_of(&established[i]));
	check_active_counters(state);
	dplb_state_free(state);
}

/*
 * Issue 11: connections survive a restart. Flows opened (SYN, then ACK) on
 * one worker; the worker starts over with an empty table, as after a
 * restart or on the instance ECMP moves them to; their next, mid-connection
 * packets arrive in another order and go to the backends they had, and
 * their entries are established at once.
 */
Test(worker_output, mid_connection_packets_after_a_restart_keep_their_backend)
{
	enum { FLOWS = 200 };
	struct dplb_state *state = web_state(NULL, 1);
	static struct flow flows[FLOWS], reversed[FLOWS];
	static uint32_t opened[FLOWS], after[FLOWS];

	for (uint32_t i = 0; i < FLOWS; i++) {
		flows[i] = tcp_flow(i * 13);
		flows[i].tcp_flags = RTE_TCP_SYN_FLAG;
	}
	send_and_see(state, flows, FLOWS, opened);
	restart_worker(FLOW_CAPACITY);
	for (uint32_t i = 0; i < FLOWS; i++) {
		reversed[i] = flows[FLOWS - 1 - i];
		reversed[i].tcp_flags = RTE_TCP_ACK_FLAG;
	}
	send_and_see(state, reversed, FLOWS, after);
	for (uint32_t i = 0; i < FLOWS; i++) {
		cr_assert_eq(after[FLOWS - 1 - i], opened[i], "flow %u moved", i);
		cr_assert_eq(entry_of(&reversed[i])->kind, DPLB_FLOW_TCP);
	}
	dplb_state_free(state);
}

/* f's frame with option_bytes (a multiple of 4, at most 40) of NOP options
 * after its IPv4 header, its IHL, total length and checksum made right. */
static struct rte_mbuf *make_frame_with_options(const struct flow *f, uint16_t option_bytes)
{
	static const uint16_t split = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr);
	struct rte_mbuf *plain = make_frame(f);
	const uint16_t length = rte_pktmbuf_data_len(plain);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	cr_assert_not_null(m, "mbuf pool empty");
	uint8_t *frame = (uint8_t *)rte_pktmbuf_append(m, length + option_bytes);
	cr_assert_not_null(frame);
	memcpy(frame, rte_pktmbuf_mtod(plain, uint8_t *), split);
	memset(frame + split, 1, option_bytes);
	memcpy(frame + split + option_bytes, rte_pktmbuf_mtod_offset(plain, uint8_t *, split),
	       length - split);
	rte_pktmbuf_free(plain);

	struct rte_ipv4_hdr *ip4 = (struct rte_ipv4_hdr *)(frame + sizeof(struct rte_ether_hdr));
	ip4->version_ihl = (uint8_t)(4 << 4 | (sizeof(*ip4) + option_bytes) / 4);
	ip4->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(ip4->total_length) + option_bytes);
	ip4->hdr_checksum = 0;
	ip4->hdr_checksum = (uint16_t)~rte_raw_cksum(ip4, sizeof(*ip4) + option_bytes);
	return m;
}

/*
 * An IPv4 header with options is read only where the first segment holds
 * it whole: cut inside its options, the frame is truncated; cut after the
 * TCP header, it leaves with the client's header, options and all, intact.
 */
Test(worker_output, ip_options_are_read_only_from_the_first_segment)
{
	static const uint32_t in_options[] = { sizeof(struct rte_ether_hdr) + 30 };
	static const uint32_t after_tcp[] = { sizeof(struct rte_ether_hdr) + 60 +
					      sizeof(struct rte_tcp_hdr) };
	struct dplb_state *state = web_state(NULL, 1);
	const struct flow f = tcp_flow(7);
	uint8_t sent[128], got[128];
	struct rte_mbuf *m, *out;

	m = as_chain(make_frame_with_options(&f, 40), in_options, 1);
	dplb_worker_process_burst(worker, state, 0, &m, 1);
	cr_assert_eq(worker->counters.drops[DPLB_DROP_TRUNCATED], 1);

	m = make_frame_with_options(&f, 40);
	const uint32_t ip_len = rte_pktmbuf_pkt_len(m) - sizeof(struct rte_ether_hdr);
	cr_assert_leq(ip_len, sizeof(sent));
	memcpy(sent, rte_pktmbuf_mtod_offset(m, void *, sizeof(struct rte_ether_hdr)), ip_len);
	m = as_chain(m, after_tcp, 1);
	dplb_worker_process_burst(worker, state, 0, &m, 1);
	cr_assert_eq(read_back(&out, 1), 1);
	cr_assert_eq(rte_pktmbuf_pkt_len(out),
		     sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + ip_len);
	const void *inner = rte_pktmbuf_read(
		out, sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr), ip_len, got);
	cr_assert_not_null(inner);
	cr_assert_eq(memcmp(inner, sent, ip_len), 0, "the inner header changed");
	cr_assert_eq(worker->counters.new_flows, 1);
	cr_assert_eq(total_drops(), 1);
	rte_pktmbuf_free(out);
	dplb_state_free(state);
}
