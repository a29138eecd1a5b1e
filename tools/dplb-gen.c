/*
 * dplb-gen: a traffic generator for dplb that also checks the answers.
 *
 * Sends TCP or UDP packets to a VIP over one DPDK port (memif, ring, pcap or
 * a real NIC), cycling over N flows (source address and port vary, see
 * synthetic.h), at a given rate or as fast as the port takes them, for a
 * duration or a packet count, then stops by itself. Everything that comes
 * back on the port is checked: encapsulated (IP-in-IP or GUE) by dplb, to
 * one of the configured backends, inner packet unchanged, and each flow on
 * one backend for the whole run. It reports TX and RX Mpps, loss, the
 * spread over backends and every kind of error; the exit status is 1 when
 * a check failed or nothing came back, so tests can rely on it.
 *
 * SIGUSR1 ends the sending early, as the end of --duration does (drain,
 * report, then --hold): scripts/storm sends for as long as its storm lasts,
 * which it cannot know in advance.
 *
 * --expect plain checks packets that come back unencapsulated (a
 * dpdk-testpmd macswap baseline), doing about the same work per packet as
 * the encapsulation checks so both runs cost the generator the same.
 *
 * One lcore sends and receives: on a small machine the other cores belong
 * to the device under test.
 *
 *   dplb-gen [EAL options] -- --vip ADDR:PORT --backends A,B,... [options]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "common/values.h"
#include "synthetic.h"

#define BURST 32
#define POOL_SIZE 16383
#define POOL_CACHE 256
#define RX_DESCRIPTORS 1024
#define TX_DESCRIPTORS 1024
#define MAX_BACKENDS 256
#define MAX_FLOWS (1u << 26)
#define NO_BACKEND UINT16_MAX

/* X(name, what it means): every way a received packet can fail the checks. */
#define GEN_ERRORS(X)                                                                              \
	X(truncated, "shorter than its headers")                                                   \
	X(bad_outer, "outer IPv4 header malformed or checksum wrong")                              \
	X(wrong_encap, "not the expected encapsulation (protocol, GUE port)")                      \
	X(wrong_source, "outer source is not dplb's address")                                      \
	X(unknown_backend, "outer destination is not a configured backend")                        \
	X(bad_length, "outer length disagrees with the inner packet")                              \
	X(bad_inner, "inner packet is not what was sent (VIP, protocol, port, checksum)")          \
	X(unknown_flow, "inner source is not one of the flows sent")                               \
	X(flow_moved, "a flow came back through a second backend")

enum gen_error {
#define GEN_ERROR_ENUM(name, help) GEN_ERROR_##name,
	GEN_ERRORS(GEN_ERROR_ENUM)
#undef GEN_ERROR_ENUM
		GEN_ERROR_COUNT
};

static const char *const gen_error_name[] = {
#define GEN_ERROR_NAME(name, help) #name,
	GEN_ERRORS(GEN_ERROR_NAME)
#undef GEN_ERROR_NAME
};

static const char *const gen_error_help[] = {
#define GEN_ERROR_HELP(name, help) help,
	GEN_ERRORS(GEN_ERROR_HELP)
#undef GEN_ERROR_HELP
};

enum expect { EXPECT_IPIP, EXPECT_GUE, EXPECT_ANY, EXPECT_PLAIN, EXPECT_NONE };

struct options {
	uint16_t port_id;
	uint8_t protocol;
	uint32_t vip;	   /* network order */
	uint16_t vip_port; /* host order */
	uint32_t src_base; /* network order */
	uint64_t flows;
	uint16_t frame_len;
	double rate;	 /* packets per second; 0 = as fast as possible */
	double duration; /* seconds; 0 = until count */
	uint64_t count;	 /* packets; 0 = until duration */
	enum expect expect;
	uint32_t backends[MAX_BACKENDS]; /* network order */
	uint32_t backend_count;
	uint32_t local;	   /* dplb's address, network order; 0 = not checked */
	uint16_t gue_port; /* host order */
	unsigned int drain_ms;
	double wait_link;
	struct rte_ether_addr dst_mac;
	bool json;
	bool hold; /* keep the port open after the report, until a signal */
};

struct stats {
	uint64_t tx, not_sent, rx, ignored;
	uint64_t errors[GEN_ERROR_COUNT];
	uint64_t backend_packets[MAX_BACKENDS];
	uint64_t backend_flows[MAX_BACKENDS];
	uint64_t flows_seen;
	uint64_t flows_moved; /* flows with a packet through another backend than their first */
	uint64_t tx_start, tx_end, rx_last; /* TSC */
	double cpu_share; /* of the sending time this thread ran: < 1 = core shared */
};

struct generator {
	struct options opt;
	struct rte_mempool *pool;
	struct synth_template template;
	uint16_t *flow_backend; /* per flow: index of its backend, NO_BACKEND */
	uint8_t *flow_moved;	/* per flow: 1 once a packet came through another backend */
	struct stats stats;
	uint64_t tsc_hz;
	char driver[64];
};

static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t stop_sending; /* SIGUSR1: end the sending now */

static void on_signal(int signo)
{
	(void)signo;
	interrupted = 1;
}

static void on_stop_sending(int signo)
{
	(void)signo;
	stop_sending = 1;
}

static void usage(FILE *out, const char *program)
{
	fprintf(out,
		"Usage: %s [EAL options] -- --vip ADDR:PORT [options]\n"
		"\n"
		"  --vip ADDR:PORT     the VIP to send to (required)\n"
		"  --proto tcp|udp     default udp\n"
		"  --flows N           distinct 5-tuples, cycled in order (default 1024)\n"
		"  --src ADDR          first client address (default 11.0.0.0); flow n comes\n"
		"                      from ADDR + n / 16384, port 1024 + n %% 16384\n"
		"  --size N            frame bytes without FCS, %u..%u (default %u = 64 on the "
		"wire)\n"
		"  --rate PPS|max      packets per second, or max (default max)\n"
		"  --duration SECONDS  how long to send (default 5 unless --count)\n"
		"  --count N           how many packets to send\n"
		"  --expect KIND       ipip, gue, any (either), plain (unencapsulated, e.g.\n"
		"                      testpmd macswap) or none (count only); default ipip\n"
		"  --backends LIST     comma-separated backend addresses (for ipip/gue/any)\n"
		"  --local ADDR        dplb's address: the outer source to expect (optional)\n"
		"  --gue-port N        GUE UDP destination port (default 6080)\n"
		"  --dst-mac MAC       destination MAC of sent frames (default 02:00:00:00:00:01)\n"
		"  --port N            DPDK port id (default 0)\n"
		"  --drain-ms MS       keep receiving this long after sending (default 200)\n"
		"  --wait-link SECONDS wait this long for the link to come up (default 30)\n"
		"  --json              also print the results as one JSON line\n"
		"  --hold              after the report, keep the port open until SIGINT or\n"
		"                      SIGTERM, so the peer can stop first (DPDK 22.11's\n"
		"                      memif PMD can crash a peer still polling when the\n"
		"                      other side closes)\n"
		"\n"
		"SIGUSR1 ends the sending early, as the end of --duration does.\n"
		"\n"
		"Exit status: 0 all checks passed, 1 a check failed or nothing came back,\n"
		"2 bad usage or set-up failure.\n",
		program, SYNTH_MIN_FRAME, SYNTH_MAX_FRAME, SYNTH_MIN_FRAME);
}

static int parse_ipv4(const char *text, size_t len, uint32_t *out)
{
	return dplb_parse_ipv4(text, len, out) == NULL ? 0 : -EINVAL;
}

/* A whole number in [min, max], as dplb's own configuration writes one. */
static int parse_whole(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	return dplb_parse_unsigned(text, strlen(text), min, max, out);
}

/* Rates and durations may have fractions. */
static int parse_number(const char *text, double min, double max, double *out)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
		return -EINVAL;
	*out = value;
	return 0;
}

static int parse_backends(const char *list, struct options *opt)
{
	char buffer[8192];
	char *save = NULL;

	snprintf(buffer, sizeof(buffer), "%s", list);
	opt->backend_count = 0;
	for (char *item = strtok_r(buffer, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		if (opt->backend_count == MAX_BACKENDS ||
		    parse_ipv4(item, strlen(item), &opt->backends[opt->backend_count]) != 0)
			return -EINVAL;
		opt->backend_count++;
	}
	return opt->backend_count > 0 ? 0 : -EINVAL;
}

static int bad_option(const char *name, const char *value)
{
	fprintf(stderr, "dplb-gen: bad value \"%s\" for --%s (see --help)\n", value, name);
	return 2;
}

/* Returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "vip", required_argument, NULL, 'v' },
		{ "proto", required_argument, NULL, 'p' },
		{ "flows", required_argument, NULL, 'f' },
		{ "src", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'c' },
		{ "expect", required_argument, NULL, 'e' },
		{ "backends", required_argument, NULL, 'b' },
		{ "local", required_argument, NULL, 'l' },
		{ "gue-port", required_argument, NULL, 'g' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "port", required_argument, NULL, 'P' },
		{ "drain-ms", required_argument, NULL, 'D' },
		{ "wait-link", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_vip = false;
	uint64_t value;
	int c;

	opt->protocol = IPPROTO_UDP;
	opt->flows = 1024;
	opt->src_base = rte_cpu_to_be_32(RTE_IPV4(11, 0, 0, 0));
	opt->frame_len = SYNTH_MIN_FRAME;
	opt->expect = EXPECT_IPIP;
	opt->gue_port = 6080;
	opt->drain_ms = 200;
	opt->wait_link = 30;
	rte_ether_unformat_addr("02:00:00:00:00:01", &opt->dst_mac);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'v': {
			const char *colon = strchr(optarg, ':');

			if (colon == NULL ||
			    parse_ipv4(optarg, (size_t)(colon - optarg), &opt->vip) != 0 ||
			    parse_whole(colon + 1, 0, 65535, &value) != 0)
				return bad_option("vip", optarg);
			opt->vip_port = (uint16_t)value;
			have_vip = true;
			break;
		}
		case 'p':
			if (strcmp(optarg, "tcp") == 0)
				opt->protocol = IPPROTO_TCP;
			else if (strcmp(optarg, "udp") == 0)
				opt->protocol = IPPROTO_UDP;
			else
				return bad_option("proto", optarg);
			break;
		case 'f':
			if (parse_whole(optarg, 1, MAX_FLOWS, &value) != 0)
				return bad_option("flows", optarg);
			opt->flows = value;
			break;
		case 's':
			if (parse_ipv4(optarg, strlen(optarg), &opt->src_base) != 0)
				return bad_option("src", optarg);
			break;
		case 'z':
			if (parse_whole(optarg, SYNTH_MIN_FRAME, SYNTH_MAX_FRAME, &value) != 0)
				return bad_option("size", optarg);
			opt->frame_len = (uint16_t)value;
			break;
		case 'r':
			if (strcmp(optarg, "max") == 0)
				opt->rate = 0;
			else if (parse_number(optarg, 1, 1e10, &opt->rate) != 0)
				return bad_option("rate", optarg);
			break;
		case 'd':
			if (parse_number(optarg, 0.001, 86400, &opt->duration) != 0)
				return bad_option("duration", optarg);
			break;
		case 'c':
			if (parse_whole(optarg, 1, 1000000000000000ull, &value) != 0)
				return bad_option("count", optarg);
			opt->count = value;
			break;
		case 'e':
			if (strcmp(optarg, "ipip") == 0)
				opt->expect = EXPECT_IPIP;
			else if (strcmp(optarg, "gue") == 0)
				opt->expect = EXPECT_GUE;
			else if (strcmp(optarg, "any") == 0)
				opt->expect = EXPECT_ANY;
			else if (strcmp(optarg, "plain") == 0)
				opt->expect = EXPECT_PLAIN;
			else if (strcmp(optarg, "none") == 0)
				opt->expect = EXPECT_NONE;
			else
				return bad_option("expect", optarg);
			break;
		case 'b':
			if (parse_backends(optarg, opt) != 0)
				return bad_option("backends", optarg);
			break;
		case 'l':
			if (parse_ipv4(optarg, strlen(optarg), &opt->local) != 0)
				return bad_option("local", optarg);
			break;
		case 'g':
			if (parse_whole(optarg, 1, 65535, &value) != 0)
				return bad_option("gue-port", optarg);
			opt->gue_port = (uint16_t)value;
			break;
		case 'm':
			if (dplb_parse_mac(optarg, strlen(optarg), opt->dst_mac.addr_bytes) != NULL)
				return bad_option("dst-mac", optarg);
			break;
		case 'P':
			if (parse_whole(optarg, 0, RTE_MAX_ETHPORTS - 1, &value) != 0)
				return bad_option("port", optarg);
			opt->port_id = (uint16_t)value;
			break;
		case 'D':
			if (parse_whole(optarg, 0, 600000, &value) != 0)
				return bad_option("drain-ms", optarg);
			opt->drain_ms = (unsigned int)value;
			break;
		case 'w':
			if (parse_number(optarg, 0, 3600, &opt->wait_link) != 0)
				return bad_option("wait-link", optarg);
			break;
		case 'j':
			opt->json = true;
			break;
		case 'H':
			opt->hold = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dplb-gen: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!have_vip) {
		fprintf(stderr, "dplb-gen: --vip ADDR:PORT is required\n");
		return 2;
	}
	if (opt->backend_count == 0 && opt->expect <= EXPECT_ANY) {
		fprintf(stderr, "dplb-gen: --backends is required to check encapsulation "
				"(or --expect plain|none)\n");
		return 2;
	}
	if (opt->duration == 0 && opt->count == 0)
		opt->duration = 5;
	return -1;
}

/* ---- port ---- */

static int setup_port(struct generator *g)
{
	const uint16_t port = g->opt.port_id;
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t rx_descriptors = RX_DESCRIPTORS, tx_descriptors = TX_DESCRIPTORS;
	int rc;

	if (!rte_eth_dev_is_valid_port(port)) {
		fprintf(stderr, "dplb-gen: port %u does not exist (%u ports; check --vdev/-a)\n",
			port, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	snprintf(g->driver, sizeof(g->driver), "%s", info.driver_name);
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_descriptors, &tx_descriptors);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(port, 0, rx_descriptors, rte_eth_dev_socket_id(port),
					    NULL, g->pool);
	if (rc == 0) {
		struct rte_eth_txconf txconf = info.default_txconf;

		txconf.offloads = conf.txmode.offloads;
		rc = rte_eth_tx_queue_setup(port, 0, tx_descriptors, rte_eth_dev_socket_id(port),
					    &txconf);
	}
	if (rc == 0) {
		/* Not every PMD has promiscuous mode; what matters is that frames
		 * addressed to dplb's next hop reach us, which it gives. */
		rte_eth_promiscuous_enable(port);
		rc = rte_eth_dev_start(port);
	}
	if (rc != 0)
		fprintf(stderr, "dplb-gen: cannot set up port %u: %s\n", port, strerror(-rc));
	return rc;
}

static int wait_for_link(struct generator *g)
{
	const uint64_t deadline = rte_rdtsc() + (uint64_t)(g->opt.wait_link * g->tsc_hz);
	struct rte_eth_link link;

	for (;;) {
		if (rte_eth_link_get_nowait(g->opt.port_id, &link) == 0 && link.link_status)
			return 0;
		if (rte_rdtsc() > deadline || interrupted) {
			fprintf(stderr,
				"dplb-gen: link of port %u (%s) did not come up in %.0f s\n",
				g->opt.port_id, g->driver, g->opt.wait_link);
			return -ETIMEDOUT;
		}
		rte_delay_ms(10);
	}
}

/* ---- checks ---- */

static inline int backend_index(const struct options *opt, uint32_t address)
{
	for (uint32_t i = 0; i < opt->backend_count; i++)
		if (opt->backends[i] == address)
			return (int)i;
	return -1;
}

static inline bool ipv4_header_ok(const struct rte_ipv4_hdr *ip)
{
	return ip->version_ihl == RTE_IPV4_VHL_DEF && rte_raw_cksum(ip, sizeof(*ip)) == 0xffff;
}

/* The inner (client) packet: what we sent, unchanged. Returns its flow
 * number, or a negative gen_error. */
static inline int64_t check_inner(const struct generator *g, const uint8_t *ip_bytes,
				  uint32_t available)
{
	const struct options *opt = &g->opt;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)ip_bytes;
	uint16_t ports[2];
	uint64_t flow;

	if (available < sizeof(*ip) + sizeof(ports))
		return -GEN_ERROR_truncated;
	memcpy(ports, ip_bytes + sizeof(*ip), sizeof(ports));
	if (!ipv4_header_ok(ip) || ip->dst_addr != opt->vip || ip->next_proto_id != opt->protocol ||
	    ports[1] != rte_cpu_to_be_16(opt->vip_port) ||
	    rte_be_to_cpu_16(ip->total_length) != g->template.frame_len - SYNTH_IP_OFFSET)
		return -GEN_ERROR_bad_inner;
	if (!synth_flow_of(&g->template, ip->src_addr, ports[0], &flow) || flow >= opt->flows)
		return -GEN_ERROR_unknown_flow;
	return (int64_t)flow;
}

/* Check one received frame; returns GEN_ERROR_COUNT when it passed. */
static inline enum gen_error check_packet(struct generator *g, struct rte_mbuf *m)
{
	const struct options *opt = &g->opt;
	struct stats *st = &g->stats;
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint32_t length = rte_pktmbuf_data_len(m);
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)frame;

	if (length < sizeof(*eth))
		return GEN_ERROR_truncated;
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		st->ignored++; /* ARP and the like: not traffic we sent */
		return GEN_ERROR_COUNT;
	}
	const uint8_t *l3 = frame + sizeof(*eth);
	const uint32_t l3_available = length - sizeof(*eth);

	if (opt->expect == EXPECT_PLAIN) {
		const int64_t flow = check_inner(g, l3, l3_available);

		return flow < 0 ? (enum gen_error) - flow : GEN_ERROR_COUNT;
	}
	const struct rte_ipv4_hdr *outer = (const struct rte_ipv4_hdr *)l3;

	if (l3_available < sizeof(*outer))
		return GEN_ERROR_truncated;
	if (!ipv4_header_ok(outer))
		return GEN_ERROR_bad_outer;
	uint32_t overhead = sizeof(*outer);

	if (outer->next_proto_id == IPPROTO_IPIP && opt->expect != EXPECT_GUE) {
		/* IP-in-IP: the inner packet follows at once. */
	} else if (outer->next_proto_id == IPPROTO_UDP && opt->expect != EXPECT_IPIP) {
		const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(outer + 1);

		if (l3_available < sizeof(*outer) + sizeof(*udp))
			return GEN_ERROR_truncated;
		if (udp->dst_port != rte_cpu_to_be_16(opt->gue_port))
			return GEN_ERROR_wrong_encap;
		overhead += sizeof(*udp);
	} else {
		return GEN_ERROR_wrong_encap;
	}
	if (opt->local != 0 && outer->src_addr != opt->local)
		return GEN_ERROR_wrong_source;
	const int backend = backend_index(opt, outer->dst_addr);

	if (backend < 0)
		return GEN_ERROR_unknown_backend;
	const int64_t flow = check_inner(g, l3 + overhead, l3_available - overhead);

	if (flow < 0)
		return (enum gen_error) - flow;
	if (rte_be_to_cpu_16(outer->total_length) !=
	    g->template.frame_len - SYNTH_IP_OFFSET + overhead)
		return GEN_ERROR_bad_length;
	uint16_t *owner = &g->flow_backend[flow];

	if (*owner == NO_BACKEND) {
		*owner = (uint16_t)backend;
		st->backend_flows[backend]++;
		st->flows_seen++;
	} else if (*owner != backend) {
		/* flow_moved errors count packets; flows_moved counts each moved
		 * flow once, which is what "established flows moved" means. */
		if (!g->flow_moved[flow]) {
			g->flow_moved[flow] = 1;
			st->flows_moved++;
		}
		return GEN_ERROR_flow_moved;
	}
	st->backend_packets[backend]++;
	return GEN_ERROR_COUNT;
}

static inline void receive(struct generator *g)
{
	struct rte_mbuf *packets[BURST];
	const uint16_t n = rte_eth_rx_burst(g->opt.port_id, 0, packets, BURST);

	if (n == 0)
		return;
	g->stats.rx += n;
	g->stats.rx_last = rte_rdtsc();
	if (g->opt.expect != EXPECT_NONE) {
		for (uint16_t i = 0; i < n; i++) {
			const enum gen_error e = check_packet(g, packets[i]);

			if (unlikely(e != GEN_ERROR_COUNT))
				g->stats.errors[e]++;
		}
	}
	rte_pktmbuf_free_bulk(packets, n);
}

/* ---- the run ---- */

static double thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(struct generator *g)
{
	const struct options *opt = &g->opt;
	struct stats *st = &g->stats;
	struct rte_mbuf *pending[BURST];
	uint16_t pending_count = 0, pending_first = 0;
	uint64_t flow = 0;
	/* Pacing in TSC cycles per packet, as a fraction to keep precision. */
	const double cycles_per_packet = opt->rate > 0 ? g->tsc_hz / opt->rate : 0;
	double next_send = 0;

	const double cpu_start = thread_cpu_seconds();

	st->tx_start = rte_rdtsc();
	const uint64_t end = opt->duration > 0
				     ? st->tx_start + (uint64_t)(opt->duration * g->tsc_hz)
				     : UINT64_MAX;
	next_send = (double)st->tx_start;

	while (!interrupted && !stop_sending) {
		const uint64_t now = rte_rdtsc();

		if (now >= end || (opt->count != 0 && st->tx >= opt->count))
			break;
		if (pending_count == 0 && (cycles_per_packet == 0 || now >= next_send)) {
			uint16_t want = BURST;

			if (opt->count != 0 && opt->count - st->tx < BURST)
				want = (uint16_t)(opt->count - st->tx);
			if (rte_pktmbuf_alloc_bulk(g->pool, pending, want) == 0) {
				for (uint16_t i = 0; i < want; i++) {
					synth_write(pending[i], &g->template, flow);
					if (++flow == opt->flows)
						flow = 0;
				}
				pending_count = want;
				pending_first = 0;
				next_send += want * cycles_per_packet;
				/* Never bank more than a burst of credit after a stall. */
				if (cycles_per_packet != 0 &&
				    next_send < (double)now - BURST * cycles_per_packet)
					next_send = (double)now;
			}
		}
		if (pending_count != 0) {
			const uint16_t sent = rte_eth_tx_burst(
				opt->port_id, 0, pending + pending_first, pending_count);
			st->tx += sent;
			pending_first += sent;
			pending_count -= sent;
		}
		receive(g);
	}
	st->tx_end = rte_rdtsc();
	st->cpu_share = (thread_cpu_seconds() - cpu_start) /
			((double)(st->tx_end - st->tx_start) / g->tsc_hz);
	if (pending_count != 0) {
		rte_pktmbuf_free_bulk(pending + pending_first, pending_count);
		st->not_sent += pending_count;
	}
	/* What is still in flight comes back within the drain time. */
	const uint64_t drain_end = st->tx_end + (uint64_t)opt->drain_ms * g->tsc_hz / 1000;
	while (rte_rdtsc() < drain_end && st->rx < st->tx && !interrupted)
		receive(g);
	return 0;
}

/* ---- report ---- */

static double mpps(uint64_t packets, uint64_t cycles, uint64_t hz)
{
	return cycles == 0 ? 0 : packets * (double)hz / cycles / 1e6;
}

static const char *expect_name(enum expect e)
{
	static const char *const names[] = { "ipip", "gue", "any", "plain", "none" };

	return names[e];
}

static uint64_t errors_total(const struct stats *st)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < GEN_ERROR_COUNT; i++)
		total += st->errors[i];
	return total;
}

static void report(const struct generator *g)
{
	const struct options *opt = &g->opt;
	const struct stats *st = &g->stats;
	const uint64_t tx_cycles = st->tx_end - st->tx_start;
	const uint64_t rx_cycles = st->rx_last > st->tx_start ? st->rx_last - st->tx_start : 0;
	const double tx_mpps = mpps(st->tx, tx_cycles, g->tsc_hz);
	const double rx_mpps = mpps(st->rx, rx_cycles, g->tsc_hz);
	const uint64_t loss = st->tx > st->rx ? st->tx - st->rx : 0;
	const uint64_t errors = errors_total(st);
	char text[INET_ADDRSTRLEN];

	printf("dplb-gen: port %u (%s), %s to %s:%u, %" PRIu64 " flows, %u-byte frames, rate %s\n",
	       opt->port_id, g->driver, opt->protocol == IPPROTO_TCP ? "tcp" : "udp",
	       inet_ntop(AF_INET, &opt->vip, text, sizeof(text)), opt->vip_port, opt->flows,
	       opt->frame_len + 4, opt->rate > 0 ? "paced" : "max");
	printf("  TX %" PRIu64 " packets in %.3f s: %.3f Mpps\n", st->tx,
	       (double)tx_cycles / g->tsc_hz, tx_mpps);
	if (st->cpu_share < 0.9)
		printf("  WARNING: the generator ran only %.0f%% of the time (its core is "
		       "shared)\n",
		       100 * st->cpu_share);
	printf("  RX %" PRIu64 " packets: %.3f Mpps; loss %" PRIu64 " (%.3f%%)", st->rx, rx_mpps,
	       loss, st->tx ? 100.0 * loss / st->tx : 0.0);
	if (st->ignored)
		printf(", %" PRIu64 " non-IPv4 frames ignored", st->ignored);
	printf("\n  checks (%s): %" PRIu64 " errors\n", expect_name(opt->expect), errors);
	for (unsigned int i = 0; i < GEN_ERROR_COUNT; i++)
		if (st->errors[i])
			printf("    %-16s %12" PRIu64 "  %s\n", gen_error_name[i], st->errors[i],
			       gen_error_help[i]);
	if (st->flows_moved)
		printf("  flows moved: %" PRIu64 " flows came back through a second backend\n",
		       st->flows_moved);
	if (opt->expect <= EXPECT_ANY && st->rx > 0) {
		uint64_t checked = 0, min = UINT64_MAX, max = 0;

		for (uint32_t b = 0; b < opt->backend_count; b++) {
			checked += st->backend_packets[b];
			min = RTE_MIN(min, st->backend_packets[b]);
			max = RTE_MAX(max, st->backend_packets[b]);
		}
		printf("  backends: %" PRIu64 " of %" PRIu64
		       " flows seen; packets per backend from "
		       "%.2f%% to %.2f%% (even: %.2f%%)\n",
		       st->flows_seen, opt->flows, checked ? 100.0 * min / checked : 0.0,
		       checked ? 100.0 * max / checked : 0.0, 100.0 / opt->backend_count);
		for (uint32_t b = 0; b < opt->backend_count; b++)
			printf("    %-15s %12" PRIu64 " packets %7.2f%%  %8" PRIu64 " flows\n",
			       inet_ntop(AF_INET, &opt->backends[b], text, sizeof(text)),
			       st->backend_packets[b],
			       checked ? 100.0 * st->backend_packets[b] / checked : 0.0,
			       st->backend_flows[b]);
	}
	if (opt->json) {
		printf("{\"tx_packets\": %" PRIu64 ", \"tx_mpps\": %.4f, \"rx_packets\": %" PRIu64
		       ", \"rx_mpps\": %.4f, \"loss\": %" PRIu64 ", \"errors\": %" PRIu64
		       ", \"flows_seen\": %" PRIu64 ", \"flows_moved\": %" PRIu64
		       ", \"tx_seconds\": %.4f, \"cpu_share\": %.3f",
		       st->tx, tx_mpps, st->rx, rx_mpps, loss, errors, st->flows_seen,
		       st->flows_moved, (double)tx_cycles / g->tsc_hz, st->cpu_share);
		printf(", \"error_kinds\": {");
		for (unsigned int i = 0; i < GEN_ERROR_COUNT; i++)
			printf("%s\"%s\": %" PRIu64, i ? ", " : "", gen_error_name[i],
			       st->errors[i]);
		printf("}, \"backends\": {");
		for (uint32_t b = 0; b < opt->backend_count && opt->expect <= EXPECT_ANY; b++)
			printf("%s\"%s\": %" PRIu64, b ? ", " : "",
			       inet_ntop(AF_INET, &opt->backends[b], text, sizeof(text)),
			       st->backend_packets[b]);
		printf("}}\n");
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct generator g;
	int status = EXIT_SUCCESS;
	int rc;

	/* Help without EAL arguments, before the EAL wants hugepages. */
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout, "dplb-gen");
		return 0;
	}
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "dplb-gen: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return 2;
	}
	argc -= rc;
	argv += rc;
	argv[0] = "dplb-gen";
	rc = parse_options(argc, argv, &g.opt);
	if (rc >= 0) {
		rte_eal_cleanup();
		return rc;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_stop_sending);
	g.tsc_hz = rte_get_tsc_hz();
	g.pool = rte_pktmbuf_pool_create("gen_mbufs", POOL_SIZE, POOL_CACHE, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	g.flow_backend = rte_malloc("gen_flows", g.opt.flows * sizeof(*g.flow_backend), 0);
	g.flow_moved = rte_zmalloc("gen_flows_moved", g.opt.flows, 0);
	if (g.pool == NULL || g.flow_backend == NULL || g.flow_moved == NULL) {
		fprintf(stderr, "dplb-gen: out of memory: %s\n", rte_strerror(rte_errno));
		rte_eal_cleanup();
		return 2;
	}
	memset(g.flow_backend, 0xff, g.opt.flows * sizeof(*g.flow_backend));
	if (setup_port(&g) != 0) {
		rte_eal_cleanup();
		return 2;
	}
	struct rte_ether_addr own_mac;

	rte_eth_macaddr_get(g.opt.port_id, &own_mac);
	synth_template_init(&g.template, g.opt.protocol, &g.opt.dst_mac, &own_mac, g.opt.src_base,
			    g.opt.vip, g.opt.vip_port, g.opt.frame_len);
	if (wait_for_link(&g) != 0) {
		status = 2;
	} else {
		run(&g);
		report(&g);
		if (errors_total(&g.stats) != 0)
			status = EXIT_FAILURE;
		if (g.stats.rx == 0 && g.opt.expect != EXPECT_NONE) {
			fprintf(stderr, "dplb-gen: nothing came back\n");
			status = EXIT_FAILURE;
		}
		fflush(stdout);
		while (g.opt.hold && !interrupted)
			rte_delay_us_sleep(10000);
	}
	rte_eth_dev_stop(g.opt.port_id);
	rte_eth_dev_close(g.opt.port_id);
	rte_free(g.flow_backend);
	rte_free(g.flow_moved);
	rte_mempool_free(g.pool);
	rte_eal_cleanup();
	return status;
}
