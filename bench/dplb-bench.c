/*
 * dplb-bench: how fast is dplb's worker pipeline, with no NIC in the way?
 *
 * Runs the real per-packet code (dplb_worker_process_burst and the rest of
 * what dplb_worker_main does per loop: RCU quiescent report, snapshot load,
 * TX flush, ageing slices on their schedule) on this lcore, over synthetic 64-byte TCP and
 * UDP packets to VIPs with 8 backends each, and prints Mpps and cycles per
 * packet per scenario:
 *
 *   est-N    N established flows, visited in a random order, pass after pass
 *   flood    every packet a new 5-tuple; the table fills and ageing empties it
 *   mix-N    N established flows plus 10% packets of new flows
 *   acl-P    est-1m with an allow list of P prefixes on the VIPs (the flows'
 *            sources among them, as /32s), runs alternating with the same
 *            traffic and no list: the cost of the source check per packet
 *            (acl-P-N: N established flows instead)
 *   maglev   time to build Maglev tables for 10, 100, 1000 backends
 *
 * It also prints the memory the flow tables take. Encapsulated packets go
 * to a TX port, net_null unless another port is given with --vdev, so the
 * PMD costs as little as a PMD can.
 *
 * Packets: mbufs are allocated from a pool before every burst and the
 * 64-byte headers written into them, like an RX PMD refilling its ring
 * (DMA writes are CPU writes here). Encapsulation changes every packet, so
 * a packet is rebuilt each time it is sent. That preparation is timed apart
 * from the pipeline: "pipeline" cycles exclude it, "with prep" include it.
 *
 * A benchmark prints numbers; nothing here fails because a machine is slow.
 *
 *   dplb-bench [EAL options] -- [--scenarios LIST] [--runs N] [--packets N]
 *              [--proto tcp|udp|both] [--flow-table-size N] [--encap ipip|gue]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "common/values.h"
#include "control/config.h"
#include "control/state.h"
#include "packet/flow_table.h"
#include "packet/maglev.h"
#include "packet/worker.h"
#include "synthetic.h"

#define POOL_SIZE 8191
#define POOL_CACHE 256
#define NULL_VDEV "net_null_dplb_bench"
#define BACKENDS_PER_VIP 8
#define MAX_SCENARIOS 32
#define MAX_RUNS 101
/* In a mix, this share of packets (out of 2^32) starts a new flow: 10%. */
#define MIX_NEW_SHARE 429496730u
/* New flows are numbered from here, far above any established flow. */
#define NEW_FLOW_BASE (1ull << 30)

#define IPV4(a, b, c, d) rte_cpu_to_be_32(RTE_IPV4(a, b, c, d))

enum scenario_kind { SCENARIO_ESTABLISHED, SCENARIO_FLOOD, SCENARIO_MIX, SCENARIO_MAGLEV };

struct scenario {
	char name[32];
	enum scenario_kind kind;
	uint64_t flows;	       /* established flows (est, mix) */
	bool stateless;	       /* flood-full: the table stays full, new flows go stateless */
	uint32_t acl_prefixes; /* acl-P: an allow list this long, compared with none */
};

struct options {
	struct scenario scenarios[MAX_SCENARIOS];
	unsigned int scenario_count;
	unsigned int runs;
	uint64_t packets;	  /* per run */
	uint32_t flow_table_size; /* 0: each scenario's default */
	bool tcp, udp;
	enum dplb_encap encap;
	uint64_t seed;
};

/* Process-wide set-up shared by every scenario. */
struct bench {
	struct options opt;
	uint16_t port_id;
	char driver[64];
	bool drain_rx; /* the TX port loops back (net_ring): empty its RX side */
	int socket;
	uint64_t tsc_hz;
	struct rte_mempool *pool;
	struct rte_rcu_qsbr *rcu;
	struct dplb_identities *ids;
};

/* Where the next packet's flow comes from. */
struct traffic {
	enum scenario_kind kind;
	const uint32_t *order; /* established flow numbers, shuffled */
	uint64_t order_count;
	uint64_t cursor;
	uint64_t next_new;
	uint64_t rng;
	const struct synth_template *template;
};

/* The scenario's simulated clock: one second per packets_per_second
 * packets, so flows expire at the same pace relative to traffic whatever
 * this machine's speed; 0 = the clock stands still. */
struct sim_clock {
	uint64_t packets_per_second;
	uint64_t countdown;
};

struct sample {
	uint64_t packets;
	uint64_t pipeline_cycles;
	uint64_t total_cycles;
};

/* One scenario's running worker and the state it reads. */
struct scenario_run {
	struct dplb_worker worker;
	struct dplb_publisher *publisher;
	/* acl-P: the same VIPs without lists; runs alternate between the two
	 * (publisher is then the one in use). */
	struct dplb_publisher *other_publisher;
	struct synth_template template;
	struct traffic traffic;
	struct sim_clock clock;
	uint32_t *order;
	size_t order_bytes;
	bool stateless_flood;
};

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static void usage(FILE *out, const char *program)
{
	fprintf(out,
		"Usage: %s [EAL options] -- [options]\n"
		"\n"
		"  --scenarios LIST     comma-separated, default\n"
		"                       "
		"est-1,est-1k,est-1m,est-10m,flood,flood-full,mix-1m,maglev\n"
		"                       est-N: N established flows (k = 1000, m = 1000000)\n"
		"                       flood: every packet a new flow, ageing keeping room\n"
		"                       flood-full: the same with the table left full, as a\n"
		"                       real flood leaves it (new flows forwarded statelessly)\n"
		"                       mix-N: N established flows, 10%% new-flow packets\n"
		"                       acl-P: est-1m with a P-prefix allow list on the VIPs,\n"
		"                       runs alternating with the same without a list\n"
		"                       (acl-P-N: N flows); e.g. acl-10k\n"
		"                       maglev: Maglev table build times\n"
		"  --proto P            tcp, udp or both (default both)\n"
		"  --runs N             measured runs per scenario, median printed (default 5)\n"
		"  --packets N          packets per run (default 16777216)\n"
		"  --flow-table-size N  flow table capacity for every scenario (default: est-N\n"
		"                       1.25 N, at least 1024; flood 1048576; mix-N 2 N)\n"
		"  --encap E            ipip or gue (default ipip)\n"
		"  --seed N             shuffle seed (default 1)\n"
		"\n"
		"The TX port is the first ethdev port; without one a net_null vdev is made.\n"
		"Hugepages matter: without them large flow tables cost TLB misses.\n",
		program);
}

/* A whole number, with k or M for thousands or millions: "1m" is 1000000. */
static int parse_count(const char *text, uint64_t *out)
{
	const size_t digits = strspn(text, "0123456789");
	const char *suffix = text + digits;
	uint64_t value, unit = 1;

	if (*suffix == 'k' || *suffix == 'K')
		unit = 1000, suffix++;
	else if (*suffix == 'm' || *suffix == 'M')
		unit = 1000000, suffix++;
	if (*suffix != '\0' || dplb_parse_unsigned(text, digits, 0, UINT64_MAX / unit, &value) != 0)
		return -EINVAL;
	*out = value * unit;
	return 0;
}

/* "P" or "P-N" of acl-P[-N]: prefixes, and established flows (1m). */
static int parse_acl(const char *text, struct scenario *s, uint64_t *flows)
{
	char prefixes[32];
	const size_t len = strcspn(text, "-");
	uint64_t value;

	if (len >= sizeof(prefixes))
		return -EINVAL;
	memcpy(prefixes, text, len);
	prefixes[len] = '\0';
	if (parse_count(prefixes, &value) != 0 || value == 0 || value > DPLB_MAX_PREFIXES_PER_VIP)
		return -EINVAL;
	s->acl_prefixes = (uint32_t)value;
	*flows = 1000000;
	if (text[len] == '-' &&
	    (parse_count(text + len + 1, flows) != 0 || *flows == 0 || *flows > (1u << 28)))
		return -EINVAL;
	return 0;
}

static int add_scenario(struct options *opt, const char *text)
{
	struct scenario *s = &opt->scenarios[opt->scenario_count];
	uint64_t flows = 0;

	if (opt->scenario_count == MAX_SCENARIOS)
		return -E2BIG;
	memset(s, 0, sizeof(*s));
	if (strcmp(text, "flood") == 0) {
		s->kind = SCENARIO_FLOOD;
	} else if (strcmp(text, "flood-full") == 0) {
		s->kind = SCENARIO_FLOOD;
		s->stateless = true;
	} else if (strcmp(text, "maglev") == 0) {
		s->kind = SCENARIO_MAGLEV;
	} else if (strncmp(text, "est-", 4) == 0 && parse_count(text + 4, &flows) == 0 &&
		   flows > 0 && flows <= (1u << 28)) {
		s->kind = SCENARIO_ESTABLISHED;
	} else if (strncmp(text, "mix-", 4) == 0 && parse_count(text + 4, &flows) == 0 &&
		   flows > 0 && flows <= (1u << 27)) {
		s->kind = SCENARIO_MIX;
	} else if (strcmp(text, "mix") == 0) {
		s->kind = SCENARIO_MIX;
		flows = 1000000;
	} else if (strncmp(text, "acl-", 4) == 0 && parse_acl(text + 4, s, &flows) == 0) {
		s->kind = SCENARIO_ESTABLISHED;
	} else {
		return -EINVAL;
	}
	s->flows = flows;
	snprintf(s->name, sizeof(s->name), "%s", text);
	opt->scenario_count++;
	return 0;
}

static int add_scenarios(struct options *opt, const char *list)
{
	char buffer[512];
	char *save = NULL;

	snprintf(buffer, sizeof(buffer), "%s", list);
	opt->scenario_count = 0;
	for (char *item = strtok_r(buffer, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		if (add_scenario(opt, item) != 0) {
			fprintf(stderr, "dplb-bench: unknown scenario \"%s\"\n", item);
			return -EINVAL;
		}
	}
	return opt->scenario_count > 0 ? 0 : -EINVAL;
}

/* Returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "scenarios", required_argument, NULL, 's' },
		{ "proto", required_argument, NULL, 'p' },
		{ "runs", required_argument, NULL, 'r' },
		{ "packets", required_argument, NULL, 'n' },
		{ "flow-table-size", required_argument, NULL, 'f' },
		{ "encap", required_argument, NULL, 'e' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t value;
	int c;

	add_scenarios(opt, "est-1,est-1k,est-1m,est-10m,flood,flood-full,mix-1m,maglev");
	opt->runs = 5;
	opt->packets = 1u << 24;
	opt->tcp = opt->udp = true;
	opt->encap = DPLB_ENCAP_IPIP;
	opt->seed = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (add_scenarios(opt, optarg) != 0)
				return 2;
			break;
		case 'p':
			opt->tcp = strcmp(optarg, "tcp") == 0 || strcmp(optarg, "both") == 0;
			opt->udp = strcmp(optarg, "udp") == 0 || strcmp(optarg, "both") == 0;
			if (!opt->tcp && !opt->udp) {
				fprintf(stderr, "dplb-bench: --proto is tcp, udp or both\n");
				return 2;
			}
			break;
		case 'r':
			if (parse_count(optarg, &value) != 0 || value == 0 || value > MAX_RUNS) {
				fprintf(stderr, "dplb-bench: --runs is 1..%d\n", MAX_RUNS);
				return 2;
			}
			opt->runs = (unsigned int)value;
			break;
		case 'n':
			if (parse_count(optarg, &value) != 0 || value < DPLB_BURST) {
				fprintf(stderr, "dplb-bench: --packets is at least %d\n",
					DPLB_BURST);
				return 2;
			}
			opt->packets = value;
			break;
		case 'f':
			if (parse_count(optarg, &value) != 0 || value < 1024 ||
			    value > (1u << 28)) {
				fprintf(stderr, "dplb-bench: --flow-table-size is 1024..%u\n",
					1u << 28);
				return 2;
			}
			opt->flow_table_size = (uint32_t)value;
			break;
		case 'e':
			if (strcmp(optarg, "ipip") == 0) {
				opt->encap = DPLB_ENCAP_IPIP;
			} else if (strcmp(optarg, "gue") == 0) {
				opt->encap = DPLB_ENCAP_GUE;
			} else {
				fprintf(stderr, "dplb-bench: --encap is ipip or gue\n");
				return 2;
			}
			break;
		case 'S':
			if (parse_count(optarg, &value) != 0 || value == 0) {
				fprintf(stderr, "dplb-bench: --seed is a positive number\n");
				return 2;
			}
			opt->seed = value;
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
		fprintf(stderr, "dplb-bench: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	return -1;
}

static void drain_port(struct bench *b);

/* ---- set-up ---- */

static int setup_port(struct bench *b)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	int rc;

	if (rte_eth_dev_count_avail() == 0) {
		rc = rte_dev_probe(NULL_VDEV);
		if (rc != 0) {
			fprintf(stderr, "dplb-bench: cannot create %s: %s\n", NULL_VDEV,
				strerror(-rc));
			return rc;
		}
	}
	b->port_id = (uint16_t)rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER);
	rc = rte_eth_dev_info_get(b->port_id, &info);
	if (rc != 0)
		return rc;
	snprintf(b->driver, sizeof(b->driver), "%s", info.driver_name);
	b->drain_rx = strcmp(info.driver_name, "net_null") != 0;
	rc = rte_eth_dev_configure(b->port_id, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(b->port_id, 0, 512, b->socket, NULL, b->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(b->port_id, 0, 512, b->socket, NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(b->port_id);
	if (rc != 0)
		fprintf(stderr, "dplb-bench: cannot set up port %u: %s\n", b->port_id,
			strerror(-rc));
	return rc;
}

static int setup(struct bench *b)
{
	const size_t rcu_size = rte_rcu_qsbr_get_memsize(1);

	b->socket = (int)rte_socket_id();
	b->tsc_hz = rte_get_tsc_hz();
	b->pool = rte_pktmbuf_pool_create("bench_mbufs", POOL_SIZE, POOL_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, b->socket);
	if (b->pool == NULL) {
		fprintf(stderr, "dplb-bench: cannot create the mbuf pool: %s\n",
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	b->rcu = rte_zmalloc("bench_rcu", rcu_size, RTE_CACHE_LINE_SIZE);
	if (b->rcu == NULL || rte_rcu_qsbr_init(b->rcu, 1) != 0)
		return -ENOMEM;
	/* This lcore is the only reader, as the worker is in dplb. */
	rte_rcu_qsbr_thread_register(b->rcu, 0);
	rte_rcu_qsbr_thread_online(b->rcu, 0);
	b->ids = dplb_identities_create();
	if (b->ids == NULL)
		return -ENOMEM;
	return setup_port(b);
}

/* What the TX port alone costs per packet: a burst of fresh mbufs handed to
 * rte_eth_tx_burst (net_null frees them). Included in every pipeline figure;
 * printed so that the pipeline without the PMD can be worked out. */
static double tx_cycles_per_packet(struct bench *b)
{
	struct rte_mbuf *burst[DPLB_BURST];
	uint64_t cycles = 0, packets = 0;

	for (unsigned int i = 0; i < 100000; i++) {
		if (rte_pktmbuf_alloc_bulk(b->pool, burst, DPLB_BURST) != 0)
			break;
		for (unsigned int j = 0; j < DPLB_BURST; j++)
			burst[j]->data_len = burst[j]->pkt_len = SYNTH_MIN_FRAME;
		const uint64_t t0 = rte_rdtsc();
		const uint16_t sent = rte_eth_tx_burst(b->port_id, 0, burst, DPLB_BURST);

		cycles += rte_rdtsc() - t0;
		packets += sent;
		if (sent < DPLB_BURST)
			rte_pktmbuf_free_bulk(burst + sent, DPLB_BURST - sent);
		if (b->drain_rx)
			drain_port(b);
	}
	return packets ? (double)cycles / packets : 0;
}

/* The forwarding state of a scenario, through the same loader and builder
 * as dplb's: a generated INI file, dplb_config_load, dplb_state_build. */
/*
 * An allow list of prefixes lines: the /32 of every source address flows
 * established flows come from, then prefixes elsewhere (12.0.0.0 up, one
 * per 4096 addresses, /20 to /32, so that most need rte_lpm's second
 * level as the sources' do), up to prefixes in all.
 */
static void write_allow_list(FILE *f, uint32_t prefixes, uint64_t flows)
{
	const uint32_t sources =
		(uint32_t)((flows + SYNTH_PORTS_PER_ADDRESS - 1) / SYNTH_PORTS_PER_ADDRESS);
	unsigned int on_line = 0;

	for (uint32_t i = 0; i < prefixes; i++) {
		const uint32_t address = i < sources ? RTE_IPV4(11, 0, 0, 0) + i
						     : RTE_IPV4(12, 0, 0, 0) + (i - sources) * 4096;
		const unsigned int length = i < sources ? 32 : 20 + (i - sources) % 13;

		fprintf(f, "%s%u.%u.%u.%u/%u", on_line == 0 ? "allow = " : "", address >> 24,
			(address >> 16) & 0xff, (address >> 8) & 0xff, address & 0xff, length);
		fputs(++on_line == 8 || i + 1 == prefixes ? "\n" : " ", f);
		on_line %= 8;
	}
}

static int build_state(struct bench *b, uint32_t capacity, uint32_t timeout, uint32_t acl_prefixes,
		       uint64_t flows, struct dplb_state **state)
{
	static const struct {
		const char *name, *protocol;
		uint8_t vip_last, backend_net;
		uint16_t port;
	} vips[] = { { "bench-tcp", "tcp", 100, 1, 80 }, { "bench-udp", "udp", 101, 2, 53 } };
	const char *encap = b->opt.encap == DPLB_ENCAP_GUE ? "gue" : "ipip";
	char path[] = "/tmp/dplb-bench-XXXXXX";
	struct dplb_config_errors errs;
	struct dplb_config *config;
	char error[DPLB_ERROR_MAX];
	int fd = mkstemp(path), rc;
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (f == NULL) {
		fprintf(stderr, "dplb-bench: cannot write a configuration in /tmp: %s\n",
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	fprintf(f,
		"[dataplane]\nports = 0\naddress = 10.10.0.10\ngateway = 10.10.0.1\n"
		"gateway_mac = 02:00:00:00:00:01\nflow_table_size = %u\n",
		capacity);
	if (timeout != 0)
		fprintf(f, "tcp_timeout = %u\nudp_timeout = %u\n", timeout, timeout);
	for (unsigned int v = 0; v < RTE_DIM(vips); v++) {
		fprintf(f,
			"\n[vip:%s]\naddress = 10.10.0.%u\nport = %u\nprotocol = %s\n"
			"encap = %s\n",
			vips[v].name, vips[v].vip_last, vips[v].port, vips[v].protocol, encap);
		for (unsigned int i = 1; i <= BACKENDS_PER_VIP; i++)
			fprintf(f, "backend = 10.10.%u.%u\n", vips[v].backend_net, i);
		if (acl_prefixes != 0)
			write_allow_list(f, acl_prefixes, flows);
	}
	fclose(f);
	rc = dplb_config_load(path, &config, &errs);
	unlink(path);
	if (rc != 0) {
		for (uint32_t i = 0; i < errs.count && i < RTE_DIM(errs.messages); i++)
			fprintf(stderr, "dplb-bench: %s\n", errs.messages[i]);
		return rc;
	}
	rc = dplb_state_build(config, b->ids, 1, state, error);
	if (rc != 0)
		fprintf(stderr, "dplb-bench: %s\n", error);
	return rc;
}

/* A publisher of build_state's state, in *out. */
static int publish_state(struct bench *b, uint32_t capacity, uint32_t timeout,
			 uint32_t acl_prefixes, uint64_t flows, struct dplb_publisher **out)
{
	struct dplb_state *state;
	int rc = build_state(b, capacity, timeout, acl_prefixes, flows, &state);

	if (rc != 0)
		return rc;
	*out = dplb_publisher_create(b->rcu, 4);
	if (*out == NULL) {
		dplb_state_free(state);
		return -ENOMEM;
	}
	dplb_publish(*out, state);
	return 0;
}

/* ---- the measured loop ---- */

static inline uint64_t next_flow(struct traffic *t)
{
	if (t->kind == SCENARIO_FLOOD ||
	    (t->kind == SCENARIO_MIX && (uint32_t)xorshift64(&t->rng) < MIX_NEW_SHARE))
		return t->next_new++;
	const uint64_t flow = t->order[t->cursor];

	if (++t->cursor == t->order_count)
		t->cursor = 0;
	return flow;
}

/* What dplb_worker_main does per loop iteration around one received burst. */
static inline void worker_iteration(struct bench *b, struct scenario_run *s,
				    struct rte_mbuf **burst)
{
	struct dplb_worker *w = &s->worker;

	rte_rcu_qsbr_quiescent(b->rcu, 0);
	const struct dplb_state *state = dplb_current_state(s->publisher);

	dplb_worker_process_burst(w, state, 0, burst, DPLB_BURST);
	dplb_worker_end_iteration(w, rte_rdtsc(), true);
	/* The daemon paces ageing by real time (a sweep per half timeout); the
	 * flood runs on a simulated clock many times faster, so it ages a slice
	 * per burst as well, as real time would if flows lived that briefly.
	 * Without this the table fills and the flood measures the stateless
	 * path (insert failures), which is reported by its own scenario. */
	if (s->traffic.kind == SCENARIO_FLOOD && !s->stateless_flood)
		dplb_worker_age_flows(w, state, 2 * DPLB_AGEING_SLICE);
}

static void drain_port(struct bench *b)
{
	struct rte_mbuf *back[DPLB_BURST];
	uint16_t n;

	while ((n = rte_eth_rx_burst(b->port_id, 0, back, DPLB_BURST)) != 0)
		rte_pktmbuf_free_bulk(back, n);
}

/* Send packets (rounded up to whole bursts) through the pipeline. */
static int drive(struct bench *b, struct scenario_run *s, uint64_t packets, struct sample *out)
{
	struct rte_mbuf *burst[DPLB_BURST];
	uint64_t pipeline = 0, done = 0;
	const uint64_t start = rte_rdtsc();

	while (done < packets) {
		if (unlikely(rte_pktmbuf_alloc_bulk(b->pool, burst, DPLB_BURST) != 0)) {
			fprintf(stderr, "dplb-bench: mbuf pool empty (mbufs leaked?)\n");
			return -ENOMEM;
		}
		for (unsigned int i = 0; i < DPLB_BURST; i++)
			synth_write(burst[i], &s->template, next_flow(&s->traffic));
		const uint64_t t0 = rte_rdtsc();
		worker_iteration(b, s, burst);
		pipeline += rte_rdtsc() - t0;
		done += DPLB_BURST;
		if (s->clock.packets_per_second != 0) {
			if (s->clock.countdown <= DPLB_BURST) {
				s->worker.now++;
				s->clock.countdown = s->clock.packets_per_second;
			} else {
				s->clock.countdown -= DPLB_BURST;
			}
		}
		if (b->drain_rx)
			drain_port(b);
	}
	out->packets = done;
	out->pipeline_cycles = pipeline;
	out->total_cycles = rte_rdtsc() - start;
	return 0;
}

/* ---- reporting ---- */

static int compare_double(const void *a, const void *b)
{
	const double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct summary {
	double median, min, max;
};

/* The values stay in their order (runs are paired by index). */
static struct summary summarize(const double *values, unsigned int n)
{
	double sorted[MAX_RUNS];
	struct summary s;

	memcpy(sorted, values, n * sizeof(*values));
	qsort(sorted, n, sizeof(*sorted), compare_double);
	s.min = sorted[0];
	s.max = sorted[n - 1];
	s.median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
	return s;
}

/* CPU time this thread got, in seconds: compared with wall time it says
 * whether another process shared the core (then every number is low). */
static double thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t heap_allocated(int socket)
{
	struct rte_malloc_socket_stats stats;

	if (rte_malloc_get_socket_stats(socket, &stats) != 0)
		return 0;
	return stats.heap_allocsz_bytes;
}

static uint64_t drops_total(const struct dplb_worker_counters *c)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < DPLB_DROP_REASON_COUNT; i++)
		total += c->drops[i];
	return total;
}

#define MIB(x) ((double)(x) / (1024.0 * 1024.0))

/* Runs of acl-P's other state (no lists), with the worker and its flows
 * as they are: only the snapshot differs. */
static int drive_other(struct bench *b, struct scenario_run *s, uint64_t packets,
		       struct sample *out)
{
	struct dplb_publisher *in_use = s->publisher;
	int rc;

	s->publisher = s->other_publisher;
	s->worker.publisher = s->publisher;
	rc = drive(b, s, packets, out);
	s->publisher = in_use;
	s->worker.publisher = in_use;
	return rc;
}

/* acl-P's runs without the list, as a row of their own, and the list's
 * cost: the median of the differences of the runs made side by side. */
static void print_without_acl(struct bench *b, const struct scenario *sc, const char *flows,
			      uint32_t capacity, const double *with_acl, const struct sample *plain)
{
	const unsigned int runs = b->opt.runs;
	double mpps[MAX_RUNS], cycles[MAX_RUNS], with_prep[MAX_RUNS], difference[MAX_RUNS];
	char row[48];

	for (unsigned int r = 0; r < runs; r++) {
		cycles[r] = (double)plain[r].pipeline_cycles / plain[r].packets;
		with_prep[r] = (double)plain[r].total_cycles / plain[r].packets;
		mpps[r] = b->tsc_hz / cycles[r] / 1e6;
		difference[r] = with_acl[r] - cycles[r];
	}
	const struct summary m = summarize(mpps, runs), cy = summarize(cycles, runs);
	const struct summary wp = summarize(with_prep, runs), d = summarize(difference, runs);

	snprintf(row, sizeof(row), "  same, no list");
	printf("%-16s %9s %10u %9.2f %8.2f..%-8.2f %10.1f %10.1f %10.2f\n", row, flows, capacity,
	       m.median, m.min, m.max, cy.median, wp.median, b->tsc_hz / wp.median / 1e6);
	printf("%-16s   allow list of %u prefixes: %+.1f cycles/pkt (median of %u side-by-side "
	       "differences, %+.1f..%+.1f)\n",
	       "", sc->acl_prefixes, d.median, runs, d.min, d.max);
}

/* ---- scenarios ---- */

static uint32_t default_capacity(const struct options *opt, const struct scenario *sc)
{
	uint64_t capacity;

	if (opt->flow_table_size != 0)
		return opt->flow_table_size;
	switch (sc->kind) {
	case SCENARIO_ESTABLISHED:
		/* rte_hash buckets are sized to the next power of two of the
		 * capacity, 8 slots each: a table of exactly 2^k is 100% full at
		 * capacity, and cuckoo inserts then fail (464 of 1048576 flows did
		 * not fit in a table of 1048576). A quarter spare avoids that. */
		capacity = sc->flows + sc->flows / 4;
		break;
	case SCENARIO_MIX:
		capacity = 2 * sc->flows;
		break;
	default:
		capacity = DPLB_DEFAULT_FLOW_TABLE_SIZE;
		break;
	}
	return (uint32_t)RTE_MAX(capacity, 1024u);
}

static int shuffle_order(struct scenario_run *s, uint64_t flows, uint64_t seed)
{
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull | 1;

	s->order_bytes = flows * sizeof(*s->order);
	s->order = mmap(NULL, s->order_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (s->order == MAP_FAILED) {
		s->order = NULL;
		return -ENOMEM;
	}
	/* Read in a stream while measuring: transparent huge pages keep that
	 * from costing TLB misses the pipeline would be blamed for. */
	madvise(s->order, s->order_bytes, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < flows; i++)
		s->order[i] = (uint32_t)i;
	for (uint64_t i = flows - 1; i > 0; i--) {
		const uint64_t j = xorshift64(&rng) % (i + 1);
		const uint32_t t = s->order[i];

		s->order[i] = s->order[j];
		s->order[j] = t;
	}
	return 0;
}

static void release_run(struct scenario_run *s)
{
	if (s->worker.flows.hash != NULL)
		dplb_worker_fini(&s->worker);
	dplb_publisher_free(s->publisher); /* and the state it holds */
	dplb_publisher_free(s->other_publisher);
	if (s->order != NULL)
		munmap(s->order, s->order_bytes);
	memset(s, 0, sizeof(*s));
}

static void print_header(void)
{
	printf("%-16s %9s %10s %9s %17s %10s %10s %10s\n", "scenario", "flows", "table", "Mpps",
	       "min..max", "cyc/pkt", "+prep", "Mpps+prep");
}

static int run_scenario(struct bench *b, const struct scenario *sc, uint8_t protocol)
{
	const struct options *opt = &b->opt;
	const uint32_t capacity = default_capacity(opt, sc);
	const bool tcp = protocol == IPPROTO_TCP;
	struct scenario_run *s = rte_zmalloc("bench_run", sizeof(*s), RTE_CACHE_LINE_SIZE);
	struct dplb_flow_table sizing = { .capacity = capacity };
	double mpps[MAX_RUNS], cycles[MAX_RUNS], with_prep[MAX_RUNS], mpps_prep[MAX_RUNS];
	struct sample plain[MAX_RUNS];
	char label[48];
	uint32_t timeout = 0;
	int rc;

	snprintf(label, sizeof(label), "%s-%s", sc->name, tcp ? "tcp" : "udp");
	if (s == NULL)
		return -ENOMEM;
	s->stateless_flood = sc->stateless;
	/* Flood and mix run on the simulated clock, with timeouts that let
	 * ageing keep the table well below full (see the clock below). */
	if (sc->kind == SCENARIO_FLOOD)
		timeout = 2;
	else if (sc->kind == SCENARIO_MIX)
		timeout = 3;
	rc = publish_state(b, capacity, timeout, sc->acl_prefixes, sc->flows, &s->publisher);
	if (rc == 0 && sc->acl_prefixes != 0)
		rc = publish_state(b, capacity, timeout, 0, sc->flows, &s->other_publisher);
	if (rc != 0)
		goto out;

	const uint64_t heap_before = heap_allocated(b->socket);
	rc = dplb_worker_init(&s->worker, 0, &b->port_id, 1, capacity, b->socket);
	if (rc != 0) {
		printf("%-16s skipped: cannot allocate a flow table of %u; it needs about %.0f MiB "
		       "of hugepage memory: reserve more (DPLB_HUGEPAGES=N scripts/setup)\n",
		       label, capacity, MIB(dplb_flow_table_memory(&sizing)) + 16);
		rc = 0;
		goto out;
	}
	const uint64_t heap_used = heap_allocated(b->socket) - heap_before;
	const uint64_t counters_bytes =
		(DPLB_MAX_VIP_IDS + DPLB_MAX_BACKEND_IDS) * sizeof(struct dplb_traffic_counters) +
		DPLB_MAX_VIP_IDS * sizeof(struct dplb_vip_protection_counters);
	s->worker.publisher = s->publisher;
	s->worker.rcu = b->rcu;

	const struct rte_ether_addr client_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
	synth_template_init(&s->template, protocol, &s->worker.port_macs[0], &client_mac,
			    IPV4(11, 0, 0, 0), tcp ? IPV4(10, 10, 0, 100) : IPV4(10, 10, 0, 101),
			    tcp ? 80 : 53, SYNTH_MIN_FRAME);
	s->traffic.kind = sc->kind;
	s->traffic.template = &s->template;
	s->traffic.next_new = NEW_FLOW_BASE;
	s->traffic.rng = opt->seed * 0xbf58476d1ce4e5b9ull | 1;

	struct sample sample;
	uint64_t prepopulate_cycles = 0;
	if (sc->kind == SCENARIO_ESTABLISHED || sc->kind == SCENARIO_MIX) {
		rc = shuffle_order(s, sc->flows, opt->seed);
		if (rc != 0)
			goto out;
		s->traffic.order = s->order;
		s->traffic.order_count = sc->flows;
		/* Every flow once (all misses: inserts into a growing table), then
		 * one more pass so caches and branch predictors settle. */
		const enum scenario_kind kind = s->traffic.kind;
		s->traffic.kind = SCENARIO_ESTABLISHED;
		rc = drive(b, s, sc->flows, &sample);
		if (rc != 0)
			goto out;
		prepopulate_cycles = sample.pipeline_cycles;
		s->traffic.kind = kind;
		if (s->worker.flows.count < sc->flows)
			printf("%-16s note: only %u of %" PRIu64 " flows fit in the table\n", label,
			       s->worker.flows.count, sc->flows);
	}
	if (sc->kind == SCENARIO_FLOOD) {
		/* A simulated second is capacity/8 packets and flows time out after
		 * 2: ageing visits the whole table every capacity/2 packets (64
		 * slots per burst of 32), so a flow lives 1/4 to 3/4 of a table's
		 * worth of packets and the table stays well below full. */
		s->clock.packets_per_second = RTE_MAX(capacity / 8, 64u);
	} else if (sc->kind == SCENARIO_MIX) {
		/* One second per N packets, timeout 3: an established flow comes
		 * back every 1.1 N packets and never expires; new flows live 3 to 4
		 * seconds, 0.3 to 0.4 N of them, in a table of 2 N. */
		s->clock.packets_per_second = sc->flows;
	}
	s->clock.countdown = s->clock.packets_per_second;
	/* Warm up: one more pass, or for a flood two tables' worth, so the
	 * measured runs see the steady state. */
	rc = drive(b, s,
		   sc->kind == SCENARIO_FLOOD
			   ? 2ull * capacity
			   : RTE_MAX(sc->flows, RTE_MIN(opt->packets, 1ull << 20)),
		   &sample);
	if (rc != 0)
		goto out;

	const struct dplb_worker_counters *c = &s->worker.counters;
	const uint64_t drops_before = drops_total(c), new_before = c->new_flows;
	const uint64_t failures_before = c->flow_insert_failures, expired_before = c->flows_expired;
	const uint64_t rx_before = c->port[0].rx_packets, tx_before = c->port[0].tx_packets;
	uint64_t measured = 0;
	const double cpu_start = thread_cpu_seconds();
	const uint64_t wall_start = rte_rdtsc();

	for (unsigned int r = 0; r < opt->runs; r++) {
		/* acl-P: a run without the list next to each run with it, in
		 * turns first, so that a noisy neighbour hits both alike. */
		if (s->other_publisher != NULL && r % 2 == 1) {
			rc = drive_other(b, s, opt->packets, &plain[r]);
			if (rc != 0)
				goto out;
		}
		rc = drive(b, s, opt->packets, &sample);
		if (rc != 0)
			goto out;
		measured += sample.packets;
		cycles[r] = (double)sample.pipeline_cycles / sample.packets;
		with_prep[r] = (double)sample.total_cycles / sample.packets;
		mpps[r] = b->tsc_hz / cycles[r] / 1e6;
		mpps_prep[r] = b->tsc_hz / with_prep[r] / 1e6;
		if (s->other_publisher != NULL && r % 2 == 0) {
			rc = drive_other(b, s, opt->packets, &plain[r]);
			if (rc != 0)
				goto out;
		}
	}
	const double cpu_share = (thread_cpu_seconds() - cpu_start) /
				 ((double)(rte_rdtsc() - wall_start) / b->tsc_hz);
	/* Leave nothing in the TX buffer: its mbufs would outlive the run. */
	dplb_worker_flush_tx(&s->worker);
	const struct summary m = summarize(mpps, opt->runs), cy = summarize(cycles, opt->runs);
	const struct summary wp = summarize(with_prep, opt->runs);
	const struct summary mp = summarize(mpps_prep, opt->runs);

	char flows[24] = "new";
	if (sc->kind != SCENARIO_FLOOD)
		snprintf(flows, sizeof(flows), "%" PRIu64, sc->flows);
	printf("%-16s %9s %10u %9.2f %8.2f..%-8.2f %10.1f %10.1f %10.2f\n", label, flows, capacity,
	       m.median, m.min, m.max, cy.median, wp.median, mp.median);
	if (s->other_publisher != NULL)
		print_without_acl(b, sc, flows, capacity, cycles, plain);

	const uint64_t new_flows = c->new_flows - new_before;
	const uint64_t drops = drops_total(c) - drops_before;
	const uint64_t sent = c->port[0].tx_packets - tx_before;
	const uint64_t received = c->port[0].rx_packets - rx_before;
	printf("%-16s   %" PRIu64 " packets measured: %" PRIu64 " new flows (%.1f%%), %" PRIu64
	       " insert failures, %" PRIu64 " expired, %" PRIu64 " dropped, %" PRIu64
	       " not sent; table holds %u\n",
	       "", measured, new_flows, 100.0 * new_flows / measured,
	       c->flow_insert_failures - failures_before, c->flows_expired - expired_before, drops,
	       received - sent - drops, s->worker.flows.count);
	if (cpu_share < 0.97)
		printf("%-16s   WARNING: this thread ran only %.0f%% of the time: another process "
		       "shares the core, so these numbers are too low\n",
		       "", 100 * cpu_share);
	/* With few flows, pre-population is a burst or two: no rate to speak of. */
	if (prepopulate_cycles != 0 && sc->flows >= 10000) {
		const double per_packet =
			(double)prepopulate_cycles / RTE_ALIGN_CEIL(sc->flows, DPLB_BURST);

		printf("%-16s   pre-population (every flow new, table growing): %.1f cycles/pkt, "
		       "%.2f Mpps\n",
		       "", per_packet, b->tsc_hz / per_packet / 1e6);
	}
	printf("%-16s   memory: flow table of %u: %.1f MiB from rte_malloc (worker total %.1f MiB "
	       "less %.1f MiB of counters), %.1f MiB by dplb_flow_table_memory; %.0f bytes/slot\n",
	       "", capacity, MIB(heap_used - counters_bytes), MIB(heap_used), MIB(counters_bytes),
	       MIB(dplb_flow_table_memory(&s->worker.flows)),
	       (double)(heap_used - counters_bytes) / capacity);
	if (sc->kind == SCENARIO_ESTABLISHED && sc->flows >= 1000000)
		printf("%-16s   memory per established flow: %.0f bytes (%.2f GiB per 10M flows)\n",
		       "", (double)(heap_used - counters_bytes) / sc->flows,
		       (double)(heap_used - counters_bytes) / sc->flows * 1e7 / (1u << 30));
	fflush(stdout);
out:
	release_run(s);
	rte_free(s);
	return rc;
}

static void run_maglev(struct bench *b)
{
	static const uint32_t counts[] = { 10, 100, 1000 };
	static const uint32_t sizes[] = { 65537, 655373 };
	struct maglev_backend backends[1000];
	uint32_t addresses[1000];
	double ms[MAX_RUNS];
	uint32_t *table = malloc(sizeof(*table) * 655373);

	if (table == NULL)
		return;
	for (uint32_t i = 0; i < RTE_DIM(addresses); i++) {
		addresses[i] = IPV4(10, 20 + i / 250, 0, 1 + i % 250);
		backends[i].key = &addresses[i];
		backends[i].key_len = sizeof(addresses[i]);
		backends[i].weight = 1;
	}
	printf("\nMaglev table build (maglev_build, weight 1 each; median of %u, min..max):\n",
	       b->opt.runs);
	for (unsigned int si = 0; si < RTE_DIM(sizes); si++) {
		for (unsigned int ci = 0; ci < RTE_DIM(counts); ci++) {
			for (unsigned int r = 0; r < b->opt.runs; r++) {
				const uint64_t t0 = rte_rdtsc();
				const int rc = maglev_build(backends, counts[ci], sizes[si], table);
				ms[r] = (rte_rdtsc() - t0) * 1e3 / b->tsc_hz;
				if (rc != 0) {
					printf("  maglev_build failed: %s\n", strerror(-rc));
					free(table);
					return;
				}
			}
			const struct summary s = summarize(ms, b->opt.runs);
			printf("  %4u backends, M=%-6u %8.3f ms  (%.3f..%.3f)\n", counts[ci],
			       sizes[si], s.median, s.min, s.max);
		}
	}
	free(table);
}

int main(int argc, char **argv)
{
	static struct bench b;
	int status = EXIT_SUCCESS;
	int rc;

	/* Help without EAL arguments, before the EAL wants hugepages. */
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout, "dplb-bench");
		return 0;
	}
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "dplb-bench: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return EXIT_FAILURE;
	}
	argc -= rc;
	argv += rc;
	argv[0] = "dplb-bench";
	rc = parse_options(argc, argv, &b.opt);
	if (rc >= 0) {
		rte_eal_cleanup();
		return rc;
	}
	if (setup(&b) != 0) {
		rte_eal_cleanup();
		return EXIT_FAILURE;
	}
	printf("dplb-bench: one worker on lcore %u, TX to port %u (%s), TSC %.0f MHz, %s\n",
	       rte_lcore_id(), b.port_id, b.driver, b.tsc_hz / 1e6,
	       rte_eal_has_hugepages() ? "hugepages"
				       : "NO hugepages (TLB misses: slower with many flows)");
	printf("  64-byte frames, VIPs with %d backends, encap %s, burst %d, %u runs of %" PRIu64
	       " packets; Mpps and cycles/pkt are medians of the runs\n",
	       BACKENDS_PER_VIP, b.opt.encap == DPLB_ENCAP_GUE ? "gue" : "ipip", DPLB_BURST,
	       b.opt.runs, b.opt.packets);
	printf("  cyc/pkt = pipeline only (RCU report, snapshot load, process_burst, TX to %s,\n"
	       "  flush, one ageing slice); +prep adds writing each packet into a fresh mbuf\n",
	       b.driver);
	printf("  TX into %s alone (rte_eth_tx_burst of 32 fresh mbufs): %.1f cycles/pkt, part of "
	       "cyc/pkt\n\n",
	       b.driver, tx_cycles_per_packet(&b));

	bool header = false;
	for (unsigned int i = 0; i < b.opt.scenario_count; i++) {
		const struct scenario *sc = &b.opt.scenarios[i];

		if (sc->kind == SCENARIO_MAGLEV) {
			run_maglev(&b);
			header = false;
			continue;
		}
		if (!header) {
			print_header();
			header = true;
		}
		if (b.opt.tcp && run_scenario(&b, sc, IPPROTO_TCP) != 0)
			status = EXIT_FAILURE;
		if (b.opt.udp && run_scenario(&b, sc, IPPROTO_UDP) != 0)
			status = EXIT_FAILURE;
	}
	rte_eth_dev_stop(b.port_id);
	rte_eth_dev_close(b.port_id);
	dplb_identities_free(b.ids);
	rte_free(b.rcu);
	rte_mempool_free(b.pool);
	rte_eal_cleanup();
	return status;
}
