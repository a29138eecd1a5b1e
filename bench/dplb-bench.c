/*
 * dplb-bench: how fast is dplb's worker pipeline, with no NIC in the way?
 *
 * Runs the real per-packet code (dplb_worker_process_burst and the rest of
 * what dplb_worker_main does per loop: RCU quiescent report, snapshot load,
 * TX flush, ageing slices on their schedule) on this lcore, over synthetic 64-byte TCP and
 * UDP packets (78-byte with IPv6) to VIPs with 8 backends each, and prints
 * Mpps and cycles per packet per scenario:
 *
 *   est-N    N established flows, visited in a random order, pass after pass
 *   flood    every packet a new 5-tuple; the table fills and ageing empties it
 *   mix-N    N established flows plus 10% packets of new flows
 *   acl-P    est-1m with an allow list of P prefixes on the VIPs (the flows'
 *            sources among them, as /32s), runs alternating with the same
 *            traffic and no list: the cost of the source check per packet
 *            (acl-P-N: N established flows instead)
 *   maglev   time to build Maglev tables for 10, 100, 1000 backends
 *   memory   what a random read costs over the est-1m and est-10m tables'
 *            footprints with page translation in the way and without it
 *            (memory_probe.h): whether this machine's hugepages are real
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
 * With --workers N the same runs on N worker lcores at once, each with its
 * own dplb_worker (flow table, counters, TX queue of the port, RCU thread
 * id: its index) and its own mbuf pool, as dplb's workers have. The
 * scenario's flows are split between them as a NIC's RSS splits them (the
 * Toeplitz hash of addresses and ports, then a redirection table), so a
 * flow is always on the same worker, and each worker writes only lines of
 * its own while measured. Printed: each worker's cycles per packet and the
 * workers' aggregate Mpps, and with a list (--workers 1,2) how the
 * aggregate grows from the first count to the others.
 *
 * A benchmark prints numbers; nothing here fails because a machine is slow.
 *
 *   dplb-bench [EAL options] -- [--scenarios LIST] [--runs N] [--packets N]
 *              [--proto tcp|udp|both] [--family 4|6|both] [--flow-table-size N]
 *              [--encap ipip|gue] [--workers N[,N...]] [--stages]
 *
 * --family 6 runs the same scenarios with IPv6 packets to IPv6 VIPs and
 * backends (the worker's IPv6 flow table, ip6ip6 or GUE over IPv6); both
 * runs each in IPv4 then IPv6 and prints what an IPv6 packet costs against
 * an IPv4 one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdalign.h>
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
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_thash.h>

#include "common/values.h"
#include "control/config.h"
#include "control/state.h"
#include "packet/flow_table.h"
#include "packet/maglev.h"
#include "packet/worker.h"
#include "memory_probe.h"
#include "shuffle.h"
#include "stages.h"
#include "synthetic.h"

#define POOL_SIZE 8191
#define POOL_CACHE 256
#define NULL_VDEV "net_null_dplb_bench"
#define BACKENDS_PER_VIP 8
#define MAX_SCENARIOS 32
#define MAX_RUNS 101
#define MAX_WORKERS 64
#define MAX_WORKER_COUNTS 8
/* In a mix, this share of packets (out of 2^32) starts a new flow: 10%. */
#define MIX_NEW_SHARE 429496730u
/* New flows are numbered from here, far above any established flow. */
#define NEW_FLOW_BASE (1ull << 30)
/* The redirection table of RSS: entry i sends to worker i mod N. */
#define RSS_RETA_SIZE 128

#define IPV4(a, b, c, d) rte_cpu_to_be_32(RTE_IPV4(a, b, c, d))

enum scenario_kind {
	SCENARIO_ESTABLISHED,
	SCENARIO_FLOOD,
	SCENARIO_MIX,
	SCENARIO_MAGLEV,
	SCENARIO_MEMORY,
};

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
	uint64_t packets;	  /* per run (split between the workers) */
	uint32_t flow_table_size; /* 0: each scenario's default */
	bool tcp, udp;
	bool ipv4, ipv6; /* --family */
	enum dplb_encap encap;
	uint64_t seed;
	/* --workers: each scenario runs with each count in turn; none: one
	 * worker, printed as dplb-bench always printed it. */
	unsigned int workers[MAX_WORKER_COUNTS];
	unsigned int worker_counts;
	bool stages; /* --stages: est-N also cut short, stage by stage */
};

/* Process-wide set-up shared by every scenario. */
struct bench {
	struct options opt;
	uint16_t port_id;
	char driver[64];
	bool drain_rx; /* the TX port loops back (net_ring): empty its RX side */
	uint64_t tsc_hz;
	uint16_t frame_len; /* of every packet, both families alike */
	unsigned int max_workers;
	unsigned int lcores[MAX_WORKERS];	/* worker i's; lcores[0] is the main lcore */
	struct rte_mempool *pools[MAX_WORKERS]; /* worker i's mbufs: no pool is shared */
	struct rte_rcu_qsbr *rcu;
	struct dplb_identities *ids;
	uint32_t phase; /* phases started, on the main lcore */
	/* The start line: the phase the workers may start, written by the
	 * main lcore only, on a line of its own. */
	alignas(RTE_CACHE_LINE_SIZE) uint32_t go;
};

/*
 * The split of flows between workers that a NIC's RSS makes: the Toeplitz
 * hash of source and destination address and port with the usual 40-byte
 * key, then a redirection table of RSS_RETA_SIZE entries filled round
 * robin, as PMDs set it up by default. It has nothing to do with the flow
 * table's own hash, as on a NIC. Toeplitz is linear (XOR) in its input, so
 * a flow's hash is the XOR of what the VIP, its source address and its
 * source port each contribute: the ports' share is computed once here.
 */
static const uint8_t rss_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

struct rss_split {
	unsigned int workers;
	/* The first client's address in host-order words (1 for IPv4, 4 for
	 * IPv6), as Toeplitz reads it; flow n's adds n / 16384 to the last. */
	unsigned int address_words;
	uint32_t client[4];
	uint32_t vip; /* the hash of the VIP's address and port */
	uint32_t port[SYNTH_PORTS_PER_ADDRESS];
};

/* The hash of one client address, kept for the flows that follow (16384
 * flows share one). */
struct rss_cursor {
	uint64_t address; /* flow / SYNTH_PORTS_PER_ADDRESS; UINT64_MAX: none yet */
	uint32_t hash;
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
	const struct synth_template6 *template6; /* IPv6 traffic; template unused */
	/* Several workers: new flows are those RSS gives this one. */
	const struct rss_split *split;
	unsigned int worker;
	struct rss_cursor rss;
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
	uint64_t start_tsc, end_tsc;
	double cpu_seconds; /* this thread's CPU time meanwhile */
};

struct scenario_run;

/* One worker of a scenario: everything it writes while measured is here
 * or in its dplb_worker, allocated apart from every other worker's. */
struct bench_worker {
	struct dplb_worker worker;
	struct traffic traffic;
	struct sim_clock clock;
	struct rte_mempool *pool;
	uint32_t *order; /* its share of the established flows, shuffled */
	size_t order_bytes;
	uint64_t flows;	     /* established flows RSS gave it */
	uint32_t capacity;   /* flows its table of the scenario's family holds */
	uint32_t table_size; /* dplb_worker_init's flow_capacity (IPv4 flows) */
	uint32_t age_budget; /* the flood's ageing slice per burst (see worker_iteration) */
	bool initialised;
	/* A phase: what the main lcore asks, and what the worker reports. */
	struct bench *bench;
	struct scenario_run *run;
	uint32_t phase;
	uint64_t packets;
	struct sample sample;
	int rc;
	/* Ready at the start line: written by the worker only. */
	alignas(RTE_CACHE_LINE_SIZE) uint32_t ready;
	/* The measured runs, filled in by the main lcore between phases. */
	alignas(RTE_CACHE_LINE_SIZE) double cycles[MAX_RUNS];
	double with_prep[MAX_RUNS];
	double cpu_seconds, wall_seconds;
} __rte_cache_aligned;

/* One scenario's running workers and the state they read. */
struct scenario_run {
	struct dplb_publisher *publisher;
	/* acl-P: the same VIPs without lists; runs alternate between the two
	 * (publisher is then the one in use). */
	struct dplb_publisher *other_publisher;
	struct synth_template template;
	struct synth_template6 template6;
	uint8_t family; /* AF_INET or AF_INET6: of every packet */
	/* The first client's address and the VIP's, network order, 4 or 16
	 * bytes. */
	uint8_t client_address[16], vip_address[16];
	bool stateless_flood;
	enum bench_stage stage; /* how far the pipeline runs: full but for --stages */
	unsigned int workers;
	struct bench_worker *w[MAX_WORKERS];
	struct rss_split *split; /* several workers only */
};

/* One row's figures, run by run: Mpps and cycles per packet of the pipeline
 * (the workers' Mpps added up, their cycles averaged per packet), and the
 * same with the preparation of packets (from wall time). */
struct figures {
	double mpps[MAX_RUNS], cycles[MAX_RUNS], with_prep[MAX_RUNS], mpps_prep[MAX_RUNS];
};

static void usage(FILE *out, const char *program)
{
	fprintf(out,
		"Usage: %s [EAL options] -- [options]\n"
		"\n"
		"  --scenarios LIST     comma-separated, default\n"
		"                       "
		"est-1,est-1k,est-1m,est-10m,flood,flood-full,mix-1m,maglev,memory\n"
		"                       est-N: N established flows (k = 1000, m = 1000000)\n"
		"                       flood: every packet a new flow, ageing keeping room\n"
		"                       flood-full: the same with the table left full, as a\n"
		"                       real flood leaves it (new flows forwarded statelessly)\n"
		"                       mix-N: N established flows, 10%% new-flow packets\n"
		"                       acl-P: est-1m with a P-prefix allow list on the VIPs,\n"
		"                       runs alternating with the same without a list\n"
		"                       (acl-P-N: N flows); e.g. acl-10k\n"
		"                       maglev: Maglev table build times\n"
		"                       memory: a random read's cost over memory the size\n"
		"                       of the est-1m and est-10m tables, one line a 4 KiB\n"
		"                       page against as many lines packed (page translation;\n"
		"                       the machine's, whatever --flow-table-size, --family)\n"
		"  --proto P            tcp, udp or both (default both)\n"
		"  --family F           4, 6 or both (default 4): IPv4 packets to IPv4 VIPs\n"
		"                       and backends, or IPv6 to IPv6 (ip6ip6, or GUE over\n"
		"                       IPv6), rows named ...-tcp6 and ...-udp6. An option\n"
		"                       rather than more scenario names, so that every\n"
		"                       scenario (and --stages, --workers, --encap) runs in\n"
		"                       either family unchanged, and both run each scenario\n"
		"                       IPv4 then IPv6 and print the IPv6/IPv4 cycles per\n"
		"                       packet. With 6 or both every frame is 78 bytes (the\n"
		"                       smallest IPv6 TCP frame), IPv4's too, else 64. An\n"
		"                       IPv6 table holds a quarter of flow_table_size's\n"
		"                       flows: IPv6 scenarios size it 4 times their flows\n"
		"                       so their IPv6 table holds what an IPv4 one would\n"
		"                       (acl-P: IPv4 only)\n"
		"  --runs N             measured runs per scenario, median printed (default 5)\n"
		"  --packets N          packets per run (default 16777216)\n"
		"  --flow-table-size N  flow table capacity for every scenario (default: est-N\n"
		"                       N, at least 1024; flood 1048576; mix-N 2 N); IPv6:\n"
		"                       dplb's flow_table_size, its IPv6 table N / 4\n"
		"  --encap E            ipip or gue (default ipip)\n"
		"  --seed N             shuffle seed (default 1)\n"
		"  --stages             est-N (one worker): also time the pipeline cut short\n"
		"                       after each stage (tx, parse, classify, lookup, encap,\n"
		"                       full), runs of each in turn, and print what each\n"
		"                       stage adds\n"
		"  --workers N[,N...]   run every scenario on N worker lcores at once (EAL -l\n"
		"                       gives them; the main lcore is worker 0), the flows\n"
		"                       split by RSS, --packets split evenly; a list runs\n"
		"                       each count in turn and compares them (e.g. 1,2)\n"
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
	} else if (strcmp(text, "memory") == 0) {
		s->kind = SCENARIO_MEMORY;
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

/* --workers: "2", or "1,2" to compare. */
static int parse_workers(struct options *opt, const char *list)
{
	char buffer[128];
	char *save = NULL;
	uint64_t value;

	snprintf(buffer, sizeof(buffer), "%s", list);
	opt->worker_counts = 0;
	for (char *item = strtok_r(buffer, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		if (opt->worker_counts == MAX_WORKER_COUNTS || parse_count(item, &value) != 0 ||
		    value == 0 || value > MAX_WORKERS)
			return -EINVAL;
		opt->workers[opt->worker_counts++] = (unsigned int)value;
	}
	return opt->worker_counts > 0 ? 0 : -EINVAL;
}

/* "first", "second" or "both" of option into *a and *b; -EINVAL, said,
 * for anything else. */
static int parse_either(const char *text, const char *option, const char *first, const char *second,
			bool *a, bool *b)
{
	const bool both = strcmp(text, "both") == 0;

	*a = both || strcmp(text, first) == 0;
	*b = both || strcmp(text, second) == 0;
	if (*a || *b)
		return 0;
	fprintf(stderr, "dplb-bench: %s is %s, %s or both\n", option, first, second);
	return -EINVAL;
}

/* Returns -1 to go on, else an exit status. */
static int parse_options(int argc, char **argv, struct options *opt)
{
	static const struct option longopts[] = {
		{ "scenarios", required_argument, NULL, 's' },
		{ "proto", required_argument, NULL, 'p' },
		{ "family", required_argument, NULL, 'F' },
		{ "runs", required_argument, NULL, 'r' },
		{ "packets", required_argument, NULL, 'n' },
		{ "flow-table-size", required_argument, NULL, 'f' },
		{ "encap", required_argument, NULL, 'e' },
		{ "seed", required_argument, NULL, 'S' },
		{ "workers", required_argument, NULL, 'w' },
		{ "stages", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t value;
	int c;

	add_scenarios(opt, "est-1,est-1k,est-1m,est-10m,flood,flood-full,mix-1m,maglev,memory");
	opt->runs = 5;
	opt->packets = 1u << 24;
	opt->tcp = opt->udp = true;
	opt->ipv4 = true;
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
			if (parse_either(optarg, "--proto", "tcp", "udp", &opt->tcp, &opt->udp) !=
			    0)
				return 2;
			break;
		case 'F':
			if (parse_either(optarg, "--family", "4", "6", &opt->ipv4, &opt->ipv6) != 0)
				return 2;
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
		case 'T':
			opt->stages = true;
			break;
		case 'w':
			if (parse_workers(opt, optarg) != 0) {
				fprintf(stderr,
					"dplb-bench: --workers is a list of up to %d counts, "
					"each 1..%d\n",
					MAX_WORKER_COUNTS, MAX_WORKERS);
				return 2;
			}
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

static void drain_port(struct bench *b, uint16_t queue);

/* ---- set-up ---- */

/* A queue each way per worker: its TX queue is its index, as in dplb. */
static int setup_port(struct bench *b)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	const uint16_t queues = (uint16_t)b->max_workers;
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
	rc = rte_eth_dev_configure(b->port_id, queues, queues, &conf);
	for (uint16_t q = 0; q < queues && rc == 0; q++) {
		const int socket = (int)rte_lcore_to_socket_id(b->lcores[q]);

		rc = rte_eth_rx_queue_setup(b->port_id, q, 512, socket, NULL, b->pools[q]);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(b->port_id, q, 512, socket, NULL);
	}
	if (rc == 0)
		rc = rte_eth_dev_start(b->port_id);
	if (rc != 0)
		fprintf(stderr, "dplb-bench: cannot set up port %u with %u queues: %s\n",
			b->port_id, queues, strerror(-rc));
	return rc;
}

/* Worker i runs on the i-th lcore EAL gives, the main lcore first. */
static int setup_lcores(struct bench *b)
{
	unsigned int lcore;

	b->max_workers = 1;
	for (unsigned int i = 0; i < b->opt.worker_counts; i++)
		b->max_workers = RTE_MAX(b->max_workers, b->opt.workers[i]);
	if (rte_lcore_count() < b->max_workers) {
		fprintf(stderr,
			"dplb-bench: --workers %u needs %u lcores, EAL gave %u: give them with "
			"-l (e.g. -l 0-%u)\n",
			b->max_workers, b->max_workers, rte_lcore_count(), b->max_workers - 1);
		return -EINVAL;
	}
	b->lcores[0] = rte_get_main_lcore();
	unsigned int n = 1;
	RTE_LCORE_FOREACH_WORKER (lcore) {
		if (n < b->max_workers)
			b->lcores[n++] = lcore;
	}
	return 0;
}

static int setup(struct bench *b)
{
	int rc = setup_lcores(b);

	if (rc != 0)
		return rc;
	b->tsc_hz = rte_get_tsc_hz();
	b->frame_len = b->opt.ipv6 ? SYNTH6_MIN_FRAME : SYNTH_MIN_FRAME;
	for (unsigned int w = 0; w < b->max_workers; w++) {
		char name[RTE_MEMPOOL_NAMESIZE];

		if (w == 0)
			snprintf(name, sizeof(name), "bench_mbufs");
		else
			snprintf(name, sizeof(name), "bench_mbufs_%u", w);
		b->pools[w] = rte_pktmbuf_pool_create(name, POOL_SIZE, POOL_CACHE, 0,
						      RTE_MBUF_DEFAULT_BUF_SIZE,
						      (int)rte_lcore_to_socket_id(b->lcores[w]));
		if (b->pools[w] == NULL) {
			fprintf(stderr, "dplb-bench: cannot create the mbuf pool: %s\n",
				rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	const size_t rcu_size = rte_rcu_qsbr_get_memsize(b->max_workers);
	b->rcu = rte_zmalloc("bench_rcu", rcu_size, RTE_CACHE_LINE_SIZE);
	if (b->rcu == NULL || rte_rcu_qsbr_init(b->rcu, b->max_workers) != 0)
		return -ENOMEM;
	/* The workers are the only readers, as in dplb; each reports as its
	 * index (nothing here waits for them). */
	for (unsigned int w = 0; w < b->max_workers; w++) {
		rte_rcu_qsbr_thread_register(b->rcu, w);
		rte_rcu_qsbr_thread_online(b->rcu, w);
	}
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
		if (rte_pktmbuf_alloc_bulk(b->pools[0], burst, DPLB_BURST) != 0)
			break;
		for (unsigned int j = 0; j < DPLB_BURST; j++)
			burst[j]->data_len = burst[j]->pkt_len = b->frame_len;
		const uint64_t t0 = rte_rdtsc();
		const uint16_t sent = rte_eth_tx_burst(b->port_id, 0, burst, DPLB_BURST);

		cycles += rte_rdtsc() - t0;
		packets += sent;
		if (sent < DPLB_BURST)
			rte_pktmbuf_free_bulk(burst + sent, DPLB_BURST - sent);
		if (b->drain_rx)
			drain_port(b, 0);
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

/* The bench's VIPs: one per protocol and family, 8 backends each. */
static const struct bench_vip {
	const char *name, *protocol, *address, *backend_prefix; /* + 1..8 */
	uint16_t port;
	bool ipv6;
} bench_vips[] = {
	{ "bench-tcp", "tcp", "10.10.0.100", "10.10.1.", 80, false },
	{ "bench-udp", "udp", "10.10.0.101", "10.10.2.", 53, false },
	{ "bench-tcp6", "tcp", "2001:db8:10::100", "2001:db8:1::", 80, true },
	{ "bench-udp6", "udp", "2001:db8:10::101", "2001:db8:2::", 53, true },
};

/* The IPv6 clients: flow n from 2001:db8:11::b00:0 + n / 16384. */
#define CLIENT6_PREFIX "2001:db8:11::b00:0"

/* The bench VIP of protocol and family. */
static const struct bench_vip *bench_vip(uint8_t protocol, uint8_t family)
{
	const char *name = protocol == IPPROTO_TCP ? "tcp" : "udp";

	for (unsigned int v = 0; v < RTE_DIM(bench_vips); v++)
		if (strcmp(bench_vips[v].protocol, name) == 0 &&
		    bench_vips[v].ipv6 == (family == AF_INET6))
			return &bench_vips[v];
	return NULL;
}

/* capacity is dplb's flow_table_size (IPv4 flows; the IPv6 table a quarter);
 * IPv6 VIPs and address6 only with --family 6 or both, so that an IPv4 run
 * has the state it always had. */
static int build_state(struct bench *b, uint32_t capacity, uint32_t timeout, uint32_t acl_prefixes,
		       uint64_t flows, struct dplb_state **state)
{
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
	if (b->opt.ipv6)
		fprintf(f, "address6 = 2001:db8:10::10\ngateway_mac6 = 02:00:00:00:00:01\n");
	if (timeout != 0)
		fprintf(f, "tcp_timeout = %u\nudp_timeout = %u\n", timeout, timeout);
	for (unsigned int v = 0; v < RTE_DIM(bench_vips); v++) {
		const struct bench_vip *vip = &bench_vips[v];

		if (vip->ipv6 && !b->opt.ipv6)
			continue;
		fprintf(f,
			"\n[vip:%s]\naddress = %s\nport = %u\nprotocol = %s\n"
			"encap = %s\n",
			vip->name, vip->address, vip->port, vip->protocol, encap);
		for (unsigned int i = 1; i <= BACKENDS_PER_VIP; i++)
			fprintf(f, "backend = %s%u\n", vip->backend_prefix, i);
		/* IPv6 VIPs take no allow lists (they hold IPv4 prefixes). */
		if (acl_prefixes != 0 && !vip->ipv6)
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

/* Toeplitz over the tuple as a NIC reads it: source and destination
 * address (words host-order words each), then source and destination port,
 * in host order. A NULL address is all zeros. */
static uint32_t toeplitz(const uint32_t *src, const uint32_t *dst, unsigned int words,
			 uint16_t src_port, uint16_t dst_port)
{
	uint32_t tuple[RTE_THASH_V6_L4_LEN] = { 0 };

	if (src != NULL)
		memcpy(tuple, src, words * sizeof(*src));
	if (dst != NULL)
		memcpy(tuple + words, dst, words * sizeof(*dst));
	tuple[2 * words] = (uint32_t)src_port << 16 | dst_port;
	return rte_softrss(tuple, 2 * words + 1, rss_key);
}

/* An address (4 or 16 bytes, network order) in host-order words. */
static unsigned int address_words(const void *address, uint8_t family, uint32_t words[4])
{
	const unsigned int n = family == AF_INET6 ? 4 : 1;

	memcpy(words, address, n * sizeof(*words));
	for (unsigned int i = 0; i < n; i++)
		words[i] = rte_be_to_cpu_32(words[i]);
	return n;
}

/* client and vip: the first client's and the VIP's address, network order,
 * of family. */
static void rss_split_init(struct rss_split *split, unsigned int workers, uint8_t family,
			   const void *client, const void *vip, uint16_t vip_port)
{
	uint32_t vip_words[4];

	split->workers = workers;
	split->address_words = address_words(client, family, split->client);
	address_words(vip, family, vip_words);
	split->vip = toeplitz(NULL, vip_words, split->address_words, 0, vip_port);
	for (uint32_t i = 0; i < SYNTH_PORTS_PER_ADDRESS; i++)
		split->port[i] = toeplitz(NULL, NULL, split->address_words,
					  (uint16_t)(SYNTH_FIRST_PORT + i), 0);
}

/* The worker RSS gives flow to. */
static inline unsigned int rss_worker(const struct rss_split *split, struct rss_cursor *cursor,
				      uint64_t flow)
{
	const uint64_t address = flow / SYNTH_PORTS_PER_ADDRESS;

	if (address != cursor->address) {
		uint32_t src[4];

		memcpy(src, split->client, sizeof(src));
		src[split->address_words - 1] += (uint32_t)address;
		cursor->address = address;
		cursor->hash = toeplitz(src, NULL, split->address_words, 0, 0);
	}
	const uint32_t hash =
		split->vip ^ cursor->hash ^ split->port[flow % SYNTH_PORTS_PER_ADDRESS];

	return (hash % RSS_RETA_SIZE) % split->workers;
}

static inline uint64_t next_flow(struct traffic *t)
{
	if (t->kind == SCENARIO_FLOOD ||
	    (t->kind == SCENARIO_MIX && (uint32_t)xorshift64(&t->rng) < MIX_NEW_SHARE)) {
		uint64_t flow = t->next_new++;

		/* The flows RSS gives the other workers go to them. */
		while (t->split != NULL && rss_worker(t->split, &t->rss, flow) != t->worker)
			flow = t->next_new++;
		return flow;
	}
	const uint64_t flow = t->order[t->cursor];

	if (++t->cursor == t->order_count)
		t->cursor = 0;
	return flow;
}

/* The next burst's packets, as an RX PMD would have written them. */
static inline void write_burst(struct traffic *t, struct rte_mbuf **burst)
{
	if (t->template6 != NULL)
		for (unsigned int i = 0; i < DPLB_BURST; i++)
			synth_write6(burst[i], t->template6, next_flow(t));
	else
		for (unsigned int i = 0; i < DPLB_BURST; i++)
			synth_write(burst[i], t->template, next_flow(t));
}

/* What dplb_worker_main does per loop iteration around one received burst. */
static inline void worker_iteration(struct bench *b, struct scenario_run *s,
				    struct bench_worker *bw, struct rte_mbuf **burst)
{
	struct dplb_worker *w = &bw->worker;

	rte_rcu_qsbr_quiescent(b->rcu, w->index);
	const struct dplb_state *state = dplb_current_state(s->publisher);

	dplb_worker_process_burst(w, state, 0, burst, DPLB_BURST);
	dplb_worker_end_iteration(w, rte_rdtsc(), true);
	/* The daemon paces ageing by real time (a sweep per half timeout); the
	 * flood runs on a simulated clock many times faster, so it ages a slice
	 * per burst as well, as real time would if flows lived that briefly.
	 * Without this the table fills and the flood measures the stateless
	 * path (insert failures), which is reported by its own scenario. */
	if (bw->traffic.kind == SCENARIO_FLOOD && !s->stateless_flood)
		dplb_worker_age_flows(w, state, bw->age_budget);
}

static void drain_port(struct bench *b, uint16_t queue)
{
	struct rte_mbuf *back[DPLB_BURST];
	uint16_t n;

	while ((n = rte_eth_rx_burst(b->port_id, queue, back, DPLB_BURST)) != 0)
		rte_pktmbuf_free_bulk(back, n);
}

/* CPU time this thread got, in seconds: compared with wall time it says
 * whether another process shared the core (then every number is low). */
static double thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Send packets (rounded up to whole bursts) through one worker's pipeline. */
static int drive(struct bench *b, struct scenario_run *s, struct bench_worker *bw, uint64_t packets,
		 struct sample *out)
{
	struct rte_mbuf *burst[DPLB_BURST];
	uint64_t pipeline = 0, done = 0;
	const double cpu_start = thread_cpu_seconds();
	const uint64_t start = rte_rdtsc();
	const enum bench_stage stage = s->stage;

	while (done < packets) {
		if (unlikely(rte_pktmbuf_alloc_bulk(bw->pool, burst, DPLB_BURST) != 0)) {
			fprintf(stderr, "dplb-bench: mbuf pool empty (mbufs leaked?)\n");
			return -ENOMEM;
		}
		write_burst(&bw->traffic, burst);
		const uint64_t t0 = rte_rdtsc();
		if (likely(stage == BENCH_STAGE_FULL))
			worker_iteration(b, s, bw, burst);
		else if (s->family == AF_INET6)
			bench_partial_pipeline6(&bw->worker, dplb_current_state(s->publisher),
						burst, stage);
		else
			bench_partial_pipeline(&bw->worker, dplb_current_state(s->publisher), burst,
					       stage);
		pipeline += rte_rdtsc() - t0;
		done += DPLB_BURST;
		if (bw->clock.packets_per_second != 0) {
			if (bw->clock.countdown <= DPLB_BURST) {
				bw->worker.now++;
				bw->clock.countdown = bw->clock.packets_per_second;
			} else {
				bw->clock.countdown -= DPLB_BURST;
			}
		}
		if (b->drain_rx)
			drain_port(b, bw->worker.index);
	}
	out->packets = done;
	out->pipeline_cycles = pipeline;
	out->start_tsc = start;
	out->end_tsc = rte_rdtsc();
	out->total_cycles = out->end_tsc - start;
	out->cpu_seconds = thread_cpu_seconds() - cpu_start;
	return 0;
}

/* A worker's part of a phase: wait at the start line, then drive. */
static int worker_job(void *arg)
{
	struct bench_worker *bw = arg;

	__atomic_store_n(&bw->ready, bw->phase, __ATOMIC_RELEASE);
	while (__atomic_load_n(&bw->bench->go, __ATOMIC_ACQUIRE) != bw->phase)
		rte_pause();
	bw->rc = bw->packets == 0 ? 0 : drive(bw->bench, bw->run, bw, bw->packets, &bw->sample);
	return 0;
}

/*
 * One phase: every worker drives bw->packets (0: it sits this one out)
 * through its pipeline, all at once, each on its lcore; the main lcore is
 * worker 0, and starts the others together once each is at the start line.
 */
static int run_phase(struct bench *b, struct scenario_run *s)
{
	const uint32_t phase = ++b->phase;
	bool launched[MAX_WORKERS] = { false };
	int rc = 0;

	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw = s->w[i];

		bw->bench = b;
		bw->run = s;
		bw->phase = phase;
		bw->rc = 0;
		memset(&bw->sample, 0, sizeof(bw->sample));
		if (i > 0) {
			launched[i] = rte_eal_remote_launch(worker_job, bw, b->lcores[i]) == 0;
			if (!launched[i]) {
				fprintf(stderr, "dplb-bench: lcore %u is busy\n", b->lcores[i]);
				rc = -EBUSY;
			}
		}
	}
	for (unsigned int i = 1; i < s->workers; i++)
		while (launched[i] && __atomic_load_n(&s->w[i]->ready, __ATOMIC_ACQUIRE) != phase)
			rte_pause();
	__atomic_store_n(&b->go, phase, __ATOMIC_RELEASE);
	worker_job(s->w[0]);
	for (unsigned int i = 1; i < s->workers; i++)
		if (launched[i])
			rte_eal_wait_lcore(b->lcores[i]);
	for (unsigned int i = 0; i < s->workers && rc == 0; i++)
		rc = s->w[i]->rc;
	return rc;
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

/* rte_malloc's heap in use, every socket. */
static uint64_t heap_allocated(void)
{
	struct rte_malloc_socket_stats stats;
	uint64_t total = 0;

	for (unsigned int i = 0; i < rte_socket_count(); i++)
		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &stats) == 0)
			total += stats.heap_allocsz_bytes;
	return total;
}

static uint64_t drops_total(const struct dplb_worker_counters *c)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < DPLB_DROP_REASON_COUNT; i++)
		total += c->drops[i];
	return total;
}

/* The workers' counters added up. */
struct totals {
	uint64_t drops, new_flows, insert_failures, expired, rx, tx, flows;
};

static struct totals sum_counters(const struct scenario_run *s)
{
	struct totals t = { 0 };

	for (unsigned int i = 0; i < s->workers; i++) {
		const struct dplb_worker_counters *c = &s->w[i]->worker.counters;

		t.drops += drops_total(c);
		t.new_flows += c->new_flows;
		t.insert_failures += c->flow_insert_failures;
		t.expired += c->flows_expired;
		t.rx += c->port[0].rx_packets;
		t.tx += c->port[0].tx_packets;
		t.flows += s->w[i]->worker.flows.count + s->w[i]->worker.flows6.count;
	}
	return t;
}

#define MIB(x) ((double)(x) / (1024.0 * 1024.0))

/* Run r of the phase just made, into f: each worker's Mpps added up, the
 * cycles per packet of all of them, the rate with preparation in wall
 * time from the first start to the last end. */
static void add_figures(const struct bench *b, const struct scenario_run *s, struct figures *f,
			unsigned int r)
{
	uint64_t packets = 0, pipeline = 0, total = 0, start = UINT64_MAX, end = 0;
	double mpps = 0;

	for (unsigned int i = 0; i < s->workers; i++) {
		const struct sample *x = &s->w[i]->sample;

		if (x->packets == 0)
			continue;
		packets += x->packets;
		pipeline += x->pipeline_cycles;
		total += x->total_cycles;
		start = RTE_MIN(start, x->start_tsc);
		end = RTE_MAX(end, x->end_tsc);
		mpps += b->tsc_hz / ((double)x->pipeline_cycles / x->packets) / 1e6;
	}
	f->mpps[r] = mpps;
	f->cycles[r] = (double)pipeline / packets;
	f->with_prep[r] = (double)total / packets;
	f->mpps_prep[r] = packets * (double)b->tsc_hz / (end - start) / 1e6;
}

/* The CPU each worker got during the phase just made, against wall time. */
static void add_cpu_time(const struct bench *b, struct scenario_run *s)
{
	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw = s->w[i];

		bw->cpu_seconds += bw->sample.cpu_seconds;
		bw->wall_seconds += (double)bw->sample.total_cycles / b->tsc_hz;
	}
}

/* Runs of acl-P's other state (no lists), with the workers and their flows
 * as they are: only the snapshot differs. */
static int run_phase_other(struct bench *b, struct scenario_run *s)
{
	struct dplb_publisher *in_use = s->publisher;
	int rc;

	s->publisher = s->other_publisher;
	for (unsigned int i = 0; i < s->workers; i++)
		s->w[i]->worker.publisher = s->publisher;
	rc = run_phase(b, s);
	s->publisher = in_use;
	for (unsigned int i = 0; i < s->workers; i++)
		s->w[i]->worker.publisher = in_use;
	return rc;
}

static void print_header(const struct bench *b)
{
	if (b->opt.worker_counts == 0)
		printf("%-16s %9s %10s %9s %17s %10s %10s %10s\n", "scenario", "flows", "table",
		       "Mpps", "min..max", "cyc/pkt", "+prep", "Mpps+prep");
	else
		printf("%-16s %7s %9s %10s %9s %17s %10s %10s %10s\n", "scenario", "workers",
		       "flows", "table", "Mpps", "min..max", "cyc/pkt", "+prep", "Mpps+prep");
}

/* A scenario's row; with --workers, the count of workers after the label,
 * Mpps their sum and cycles per packet per worker. */
static void print_row(const struct bench *b, const char *label, unsigned int workers,
		      const char *flows, uint32_t capacity, const struct figures *f)
{
	const unsigned int runs = b->opt.runs;
	const struct summary m = summarize(f->mpps, runs), cy = summarize(f->cycles, runs);
	const struct summary wp = summarize(f->with_prep, runs);
	const struct summary mp = summarize(f->mpps_prep, runs);

	if (b->opt.worker_counts == 0)
		printf("%-16s %9s %10u %9.2f %8.2f..%-8.2f %10.1f %10.1f %10.2f\n", label, flows,
		       capacity, m.median, m.min, m.max, cy.median, wp.median, mp.median);
	else
		printf("%-16s %7u %9s %10u %9.2f %8.2f..%-8.2f %10.1f %10.1f %10.2f\n", label,
		       workers, flows, capacity, m.median, m.min, m.max, cy.median, wp.median,
		       mp.median);
}

/* acl-P's runs without the list, as a row of their own, and the list's
 * cost: the median of the differences of the runs made side by side. */
static void print_without_acl(const struct bench *b, const struct scenario *sc,
			      unsigned int workers, const char *flows, uint32_t capacity,
			      const struct figures *with_acl, const struct figures *plain)
{
	const unsigned int runs = b->opt.runs;
	double difference[MAX_RUNS];

	for (unsigned int r = 0; r < runs; r++)
		difference[r] = with_acl->cycles[r] - plain->cycles[r];
	const struct summary d = summarize(difference, runs);

	print_row(b, "  same, no list", workers, flows, capacity, plain);
	printf("%-16s   allow list of %u prefixes: %+.1f cycles/pkt (median of %u side-by-side "
	       "differences, %+.1f..%+.1f)\n",
	       "", sc->acl_prefixes, d.median, runs, d.min, d.max);
}

/* Each worker's own figures (--workers). */
static void print_workers(const struct bench *b, const struct scenario_run *s,
			  enum scenario_kind kind)
{
	for (unsigned int i = 0; i < s->workers; i++) {
		const struct bench_worker *bw = s->w[i];
		char flows[32] = "new";

		if (kind != SCENARIO_FLOOD)
			snprintf(flows, sizeof(flows), "%" PRIu64, bw->flows);
		if (bw->packets == 0) {
			printf("%-16s   worker %u on lcore %u: no flows (RSS gave them all to the "
			       "others), idle\n",
			       "", i, b->lcores[i]);
			continue;
		}
		const struct summary cy = summarize(bw->cycles, b->opt.runs);
		const struct summary wp = summarize(bw->with_prep, b->opt.runs);

		printf("%-16s   worker %u on lcore %u: %s flows, table %u, %" PRIu64
		       " packets a run: %.1f cyc/pkt (%.1f..%.1f), %.2f Mpps, +prep %.1f\n",
		       "", i, b->lcores[i], flows, bw->capacity, bw->packets, cy.median, cy.min,
		       cy.max, b->tsc_hz / cy.median / 1e6, wp.median);
	}
}

/* A worker that did not have its core to itself makes every number low. */
static void print_cpu_warnings(const struct bench *b, const struct scenario_run *s)
{
	for (unsigned int i = 0; i < s->workers; i++) {
		const struct bench_worker *bw = s->w[i];
		const double share = bw->wall_seconds > 0 ? bw->cpu_seconds / bw->wall_seconds : 1;

		if (share >= 0.97)
			continue;
		if (b->opt.worker_counts == 0)
			printf("%-16s   WARNING: this thread ran only %.0f%% of the time: another "
			       "process shares the core, so these numbers are too low\n",
			       "", 100 * share);
		else
			printf("%-16s   WARNING: worker %u (lcore %u) ran only %.0f%% of the time: "
			       "another thread shares its core, so these numbers are too low\n",
			       "", i, b->lcores[i], 100 * share);
	}
}

/* ---- scenarios ---- */

static uint32_t default_capacity(const struct options *opt, enum scenario_kind kind, uint64_t flows)
{
	uint64_t capacity;

	if (opt->flow_table_size != 0)
		return opt->flow_table_size;
	switch (kind) {
	case SCENARIO_ESTABLISHED:
		/* Exactly the flows: the table keeps its own spare slots
		 * (DPLB_FLOW_SLOTS_PER_FLOW), so memory per flow is what a
		 * table sized for its traffic costs. */
		capacity = flows;
		break;
	case SCENARIO_MIX:
		capacity = 2 * flows;
		break;
	default:
		capacity = DPLB_DEFAULT_FLOW_TABLE_SIZE;
		break;
	}
	return (uint32_t)RTE_MAX(capacity, 1024u);
}

/*
 * A worker's table for flows of family: *capacity in flows of that family,
 * and the flow_table_size that gives it. dplb's IPv6 table holds a quarter
 * of flow_table_size's flows (dplb_worker_flow6_capacity), so an IPv6
 * scenario asks four times its default, and its IPv6 table holds what the
 * IPv4 one holds in the same scenario; --flow-table-size is taken as dplb
 * takes it.
 */
static void size_table(const struct options *opt, uint8_t family, enum scenario_kind kind,
		       uint64_t flows, uint32_t *capacity, uint32_t *table_size)
{
	const uint32_t wanted = default_capacity(opt, kind, flows);

	if (opt->flow_table_size != 0 || family != AF_INET6)
		*table_size = wanted;
	else
		*table_size = (uint32_t)RTE_MIN(4ull * wanted, 1ull << 28);
	*capacity = family == AF_INET6 ? dplb_worker_flow6_capacity(*table_size) : *table_size;
}

/* Room for flows flow numbers. */
static uint32_t *map_order(uint64_t flows, size_t *bytes)
{
	uint32_t *order;

	*bytes = flows * sizeof(*order);
	order = mmap(NULL, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (order == MAP_FAILED)
		return NULL;
	/* Read in a stream while measuring: transparent huge pages keep that
	 * from costing TLB misses the pipeline would be blamed for. */
	madvise(order, *bytes, MADV_HUGEPAGE);
	return order;
}

/* The established flows in a random order, and each worker's share of
 * them, those RSS gives it, in that order. */
static int split_flows(struct scenario_run *s, uint64_t flows, uint64_t seed)
{
	uint64_t rng = xorshift64_seed(seed), filled[MAX_WORKERS] = { 0 };
	struct rss_cursor cursor = { .address = UINT64_MAX };
	size_t bytes;
	uint32_t *order = map_order(flows, &bytes);
	uint8_t *owner = NULL;
	int rc = -ENOMEM;

	if (order == NULL)
		return -ENOMEM;
	shuffled_order(order, flows, &rng);
	if (s->workers == 1) {
		s->w[0]->order = order;
		s->w[0]->order_bytes = bytes;
		s->w[0]->flows = flows;
		return 0;
	}
	_Static_assert(MAX_WORKERS <= UINT8_MAX + 1, "a worker index fits a byte");
	owner = malloc(flows);
	if (owner == NULL)
		goto out;
	for (uint64_t f = 0; f < flows; f++) {
		owner[f] = (uint8_t)rss_worker(s->split, &cursor, f);
		s->w[owner[f]]->flows++;
	}
	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw = s->w[i];

		if (bw->flows != 0 && (bw->order = map_order(bw->flows, &bw->order_bytes)) == NULL)
			goto out;
	}
	for (uint64_t i = 0; i < flows; i++) {
		const uint8_t w = owner[order[i]];

		s->w[w]->order[filled[w]++] = order[i];
	}
	rc = 0;
out:
	free(owner);
	munmap(order, bytes);
	return rc;
}

/* The scenario's workers, each with its share of the flows and its own
 * table, pool, traffic and clock; not yet set up. */
static int create_workers(struct bench *b, struct scenario_run *s, const struct scenario *sc)
{
	const struct options *opt = &b->opt;

	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw =
			rte_zmalloc_socket("bench_worker", sizeof(*bw), RTE_CACHE_LINE_SIZE,
					   (int)rte_lcore_to_socket_id(b->lcores[i]));

		if (bw == NULL)
			return -ENOMEM;
		s->w[i] = bw;
		bw->pool = b->pools[i];
		bw->traffic.kind = sc->kind;
		bw->traffic.template = &s->template;
		bw->traffic.template6 = s->family == AF_INET6 ? &s->template6 : NULL;
		bw->traffic.next_new = NEW_FLOW_BASE;
		bw->traffic.rng = (opt->seed + i) * 0xbf58476d1ce4e5b9ull | 1;
		bw->traffic.split = s->split;
		bw->traffic.worker = i;
		bw->traffic.rss.address = UINT64_MAX;
	}
	if (sc->kind == SCENARIO_ESTABLISHED || sc->kind == SCENARIO_MIX) {
		const int rc = split_flows(s, sc->flows, opt->seed);

		if (rc != 0)
			return rc;
	}
	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw = s->w[i];

		bw->traffic.order = bw->order;
		bw->traffic.order_count = bw->flows;
		size_table(opt, s->family, sc->kind, bw->flows, &bw->capacity, &bw->table_size);
		/* The flood's ageing walks one bucket of the family's table per
		 * packet whatever DPLB_BURST is, and as much of the family's table
		 * whatever the other one's size (dplb_worker_age_flows shares a
		 * budget between the two in proportion to their buckets). */
		bw->age_budget = DPLB_BURST * (bw->table_size / bw->capacity);
	}
	return 0;
}

static void release_run(struct scenario_run *s)
{
	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw = s->w[i];

		if (bw == NULL)
			continue;
		if (bw->initialised)
			dplb_worker_fini(&bw->worker);
		if (bw->order != NULL)
			munmap(bw->order, bw->order_bytes);
		rte_free(bw);
	}
	dplb_publisher_free(s->publisher); /* and the state it holds */
	dplb_publisher_free(s->other_publisher);
	rte_free(s->split);
	memset(s, 0, sizeof(*s));
}

/* What a scenario measured, to compare worker counts and families. */
struct scenario_result {
	bool measured;
	double mpps, mpps_prep;		  /* medians of the aggregates */
	double cycles;			  /* median cycles per packet */
	bool staged;			  /* --stages ran: */
	double stages[BENCH_STAGE_COUNT]; /* each stage's median cycles per packet */
};

/* How many packets each worker drives in the next phase: packets(worker, arg). */
static void set_packets(struct scenario_run *s,
			uint64_t (*packets)(const struct bench_worker *, uint64_t), uint64_t arg)
{
	for (unsigned int i = 0; i < s->workers; i++)
		s->w[i]->packets = packets(s->w[i], arg);
}

/* Pre-population: every established flow once. A worker with none idles
 * (est-1 on two workers: RSS cannot split one flow). */
static uint64_t prepopulate_packets(const struct bench_worker *bw, uint64_t unused)
{
	(void)unused;
	return bw->flows;
}

static uint64_t warm_up_packets(const struct bench_worker *bw, uint64_t per_run)
{
	if (bw->traffic.kind == SCENARIO_FLOOD)
		return 2ull * bw->capacity;
	return bw->flows == 0 ? 0 : RTE_MAX(bw->flows, RTE_MIN(per_run, 1ull << 20));
}

static uint64_t run_packets(const struct bench_worker *bw, uint64_t per_run)
{
	return bw->traffic.kind != SCENARIO_FLOOD && bw->flows == 0 ? 0 : per_run;
}

/* Measured run r: the workers' figures into f, and each one's own, its
 * packets added to measured; other: acl-P's state without the lists. */
static int measure(struct bench *b, struct scenario_run *s, bool other, unsigned int r,
		   struct figures *f, uint64_t *measured)
{
	const int rc = other ? run_phase_other(b, s) : run_phase(b, s);

	if (rc != 0)
		return rc;
	add_cpu_time(b, s);
	add_figures(b, s, f, r);
	for (unsigned int i = 0; i < s->workers && !other; i++) {
		struct bench_worker *bw = s->w[i];

		*measured += bw->sample.packets;
		if (bw->sample.packets == 0)
			continue;
		bw->cycles[r] = (double)bw->sample.pipeline_cycles / bw->sample.packets;
		bw->with_prep[r] = (double)bw->sample.total_cycles / bw->sample.packets;
	}
	return 0;
}

/* The flow tables' memory, as rte_malloc's heap and dplb_flow_table_memory
 * count it. */
struct table_memory {
	uint64_t heap_used;	 /* by dplb_worker_init */
	uint64_t counters_bytes; /* of which counters, fragment caches, the other family's table */
	uint64_t total_capacity;
	uint64_t table_memory;	     /* the scenario's family's tables */
	uint64_t other_table_memory; /* the other family's, unused but allocated */
	uint32_t capacity;	     /* the largest worker's */
};

/* dplb_worker_init for every worker on its lcore's socket. -ENOSPC: a
 * table did not fit, and the scenario is skipped (said here). */
static int init_workers(struct bench *b, struct scenario_run *s, const char *label,
			struct table_memory *memory)
{
	const uint64_t heap_before = heap_allocated();
	uint64_t needed = 0;

	memset(memory, 0, sizeof(*memory));
	for (unsigned int i = 0; i < s->workers; i++) {
		const uint32_t size = s->w[i]->table_size;

		needed += dplb_flow_table_size(size) +
			  dplb_flow6_table_size(dplb_worker_flow6_capacity(size));
		memory->total_capacity += s->w[i]->capacity;
		memory->capacity = RTE_MAX(memory->capacity, s->w[i]->capacity);
	}
	for (unsigned int i = 0; i < s->workers; i++) {
		struct bench_worker *bw = s->w[i];

		if (dplb_worker_init(&bw->worker, (uint16_t)i, &b->port_id, 1, bw->table_size,
				     (int)rte_lcore_to_socket_id(b->lcores[i])) != 0) {
			printf("%-16s skipped: cannot allocate a flow table of %u%s; it needs "
			       "about %.0f MiB of hugepage memory: reserve more "
			       "(DPLB_HUGEPAGES=N scripts/setup)\n",
			       label, bw->table_size, s->workers > 1 ? " for each worker" : "",
			       MIB(needed) + 16);
			return -ENOSPC;
		}
		bw->initialised = true;
		bw->worker.publisher = s->publisher;
		bw->worker.rcu = b->rcu;
		const size_t table4 = dplb_flow_table_memory(&bw->worker.flows);
		const size_t table6 = dplb_flow6_table_memory(&bw->worker.flows6);

		memory->table_memory += s->family == AF_INET6 ? table6 : table4;
		memory->other_table_memory += s->family == AF_INET6 ? table4 : table6;
	}
	memory->heap_used = heap_allocated() - heap_before;
	memory->counters_bytes =
		s->workers * ((DPLB_MAX_VIP_IDS + DPLB_MAX_BACKEND_IDS) *
				      sizeof(struct dplb_traffic_counters) +
			      DPLB_MAX_VIP_IDS * sizeof(struct dplb_vip_protection_counters) +
			      dplb_fragment_cache_size(DPLB_FRAGMENT_CACHE_ENTRIES) +
			      dplb_fragment_hold_size(DPLB_FRAGMENT_HOLD_PACKETS)) +
		memory->other_table_memory;
	return 0;
}

/* The lines under a scenario's row: counters over the measured runs (all
 * workers), the CPU the workers got, pre-population, memory. */
static void print_details(const struct bench *b, const struct scenario_run *s,
			  const struct scenario *sc, const struct totals *before, uint64_t measured,
			  const struct figures *prepopulation, const struct table_memory *memory)
{
	const struct totals after = sum_counters(s);
	const uint64_t new_flows = after.new_flows - before->new_flows;
	const uint64_t drops = after.drops - before->drops;
	const uint64_t table_bytes = memory->heap_used - memory->counters_bytes;
	const bool several = s->workers > 1;

	printf("%-16s   %" PRIu64 " packets measured: %" PRIu64 " new flows (%.1f%%), %" PRIu64
	       " insert failures, %" PRIu64 " expired, %" PRIu64 " dropped, %" PRIu64
	       " not sent; table%s %" PRIu64 "\n",
	       "", measured, new_flows, 100.0 * new_flows / measured,
	       after.insert_failures - before->insert_failures, after.expired - before->expired,
	       drops, (after.rx - before->rx) - (after.tx - before->tx) - drops,
	       several ? "s hold" : " holds", after.flows);
	print_cpu_warnings(b, s);
	/* With few flows, pre-population is a burst or two: no rate to speak of. */
	if (prepopulation != NULL && sc->flows >= 10000)
		printf("%-16s   pre-population (every flow new, table growing): %.1f cycles/pkt, "
		       "%.2f Mpps\n",
		       "", prepopulation->cycles[0], prepopulation->mpps[0]);
	const bool ipv6 = s->family == AF_INET6;
	char tables[64];
	if (several)
		snprintf(tables, sizeof(tables), "%u %sflow tables of %" PRIu64 " in all",
			 s->workers, ipv6 ? "IPv6 " : "", memory->total_capacity);
	else
		snprintf(tables, sizeof(tables), "%sflow table of %" PRIu64, ipv6 ? "IPv6 " : "",
			 memory->total_capacity);
	printf("%-16s   memory: %s: %.1f MiB from rte_malloc (worker%s total %.1f MiB less %.1f "
	       "MiB of counters, fragment caches and %s tables), %.1f MiB by "
	       "dplb_flow%s_table_memory; %.0f bytes/slot\n",
	       "", tables, MIB(table_bytes), several ? "s'" : "", MIB(memory->heap_used),
	       MIB(memory->counters_bytes), ipv6 ? "IPv4" : "IPv6", MIB(memory->table_memory),
	       ipv6 ? "6" : "", (double)table_bytes / memory->total_capacity);
	if (sc->kind == SCENARIO_ESTABLISHED && sc->flows >= 1000000)
		printf("%-16s   memory per established flow: %.0f bytes (%.2f GiB per 10M flows)\n",
		       "", (double)table_bytes / sc->flows,
		       (double)table_bytes / sc->flows * 1e7 / (1u << 30));
}

/*
 * --stages: runs of the pipeline cut short after each stage (bench/stages.h),
 * the stages in turn within each run so that a noisy neighbour hits them
 * alike; printed as medians, each with what it adds to the stage before.
 */
static int measure_stages(struct bench *b, struct scenario_run *s, struct scenario_result *result)
{
	static double cycles[BENCH_STAGE_COUNT][MAX_RUNS];
	const unsigned int runs = b->opt.runs;
	struct bench_worker *bw = s->w[0];
	int rc = 0;

	for (unsigned int r = 0; r < runs && rc == 0; r++) {
		for (unsigned int stage = 0; stage < BENCH_STAGE_COUNT && rc == 0; stage++) {
			s->stage = (enum bench_stage)stage;
			rc = run_phase(b, s);
			if (rc == 0 && bw->sample.packets != 0)
				cycles[stage][r] =
					(double)bw->sample.pipeline_cycles / bw->sample.packets;
		}
	}
	s->stage = BENCH_STAGE_FULL;
	dplb_worker_flush_tx(&bw->worker);
	if (rc != 0)
		return rc;
	printf("%-16s   stages, cycles/pkt (median of %u; + what each adds):", "", runs);
	double previous = 0;
	for (unsigned int stage = 0; stage < BENCH_STAGE_COUNT; stage++) {
		const double median = summarize(cycles[stage], runs).median;

		result->stages[stage] = median;

		printf(" %s %.1f (%+.1f)", bench_stage_name[stage], median, median - previous);
		previous = median;
	}
	printf("\n");
	return 0;
}

/* A row's name: scenario-tcp, scenario-udp; IPv6 rows end in 6. */
static void row_label(char *label, size_t size, const struct scenario *sc, uint8_t protocol,
		      uint8_t family)
{
	snprintf(label, size, "%s-%s%s", sc->name, protocol == IPPROTO_TCP ? "tcp" : "udp",
		 family == AF_INET6 ? "6" : "");
}

/* The client packets of the run, to the bench VIP of protocol and family. */
static void init_template(struct bench *b, struct scenario_run *s, const struct bench_vip *vip,
			  uint8_t protocol)
{
	const struct rte_ether_addr client_mac = { { 0x02, 0, 0, 0, 0, 0x02 } };
	struct rte_ether_addr port_mac;

	rte_eth_macaddr_get(b->port_id, &port_mac);
	if (s->family == AF_INET6) {
		inet_pton(AF_INET6, vip->address, s->vip_address);
		inet_pton(AF_INET6, CLIENT6_PREFIX, s->client_address);
		synth_template6_init(&s->template6, protocol, &port_mac, &client_mac,
				     s->client_address, s->vip_address, vip->port, b->frame_len);
	} else {
		const uint32_t client = IPV4(11, 0, 0, 0);
		uint32_t address;

		inet_pton(AF_INET, vip->address, &address);
		memcpy(s->vip_address, &address, sizeof(address));
		memcpy(s->client_address, &client, sizeof(client));
		synth_template_init(&s->template, protocol, &port_mac, &client_mac, client, address,
				    vip->port, b->frame_len);
	}
}

static int run_scenario(struct bench *b, const struct scenario *sc, uint8_t protocol,
			uint8_t family, unsigned int workers, struct scenario_result *result)
{
	const struct options *opt = &b->opt;
	const bool flows_split = sc->kind == SCENARIO_ESTABLISHED || sc->kind == SCENARIO_MIX;
	const struct bench_vip *vip = bench_vip(protocol, family);
	struct scenario_run *s;
	struct figures f, plain;
	char label[48];
	uint32_t timeout = 0, capacity, table_size;
	int rc;

	memset(result, 0, sizeof(*result));
	row_label(label, sizeof(label), sc, protocol, family);
	if (family == AF_INET6 && sc->acl_prefixes != 0) {
		printf("%-16s skipped: IPv6 VIPs take no allow lists\n", label);
		return 0;
	}
	s = rte_zmalloc("bench_run", sizeof(*s), RTE_CACHE_LINE_SIZE);
	if (s == NULL)
		return -ENOMEM;
	s->family = family;
	s->workers = workers;
	s->stateless_flood = sc->stateless;
	s->stage = BENCH_STAGE_FULL;
	/* Flood and mix run on the simulated clock, with timeouts that let
	 * ageing keep the table well below full (see the clock below). */
	if (sc->kind == SCENARIO_FLOOD)
		timeout = 2;
	else if (sc->kind == SCENARIO_MIX)
		timeout = 3;
	size_table(opt, family, sc->kind, sc->flows, &capacity, &table_size);
	rc = publish_state(b, table_size, timeout, sc->acl_prefixes, sc->flows, &s->publisher);
	if (rc == 0 && sc->acl_prefixes != 0)
		rc = publish_state(b, table_size, timeout, 0, sc->flows, &s->other_publisher);
	if (rc != 0)
		goto out;

	init_template(b, s, vip, protocol);
	if (workers > 1) {
		s->split = rte_zmalloc("bench_rss", sizeof(*s->split), RTE_CACHE_LINE_SIZE);
		if (s->split == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		rss_split_init(s->split, workers, family, s->client_address, s->vip_address,
			       vip->port);
	}
	rc = create_workers(b, s, sc);
	if (rc != 0)
		goto out;

	struct table_memory memory;
	rc = init_workers(b, s, label, &memory);
	if (rc != 0) {
		rc = rc == -ENOSPC ? 0 : rc; /* skipped, said why */
		goto out;
	}

	struct figures prepopulation;
	memset(&prepopulation, 0, sizeof(prepopulation));
	if (flows_split) {
		/* Every flow once (all misses: inserts into a growing table), then
		 * one more pass so caches and branch predictors settle. */
		for (unsigned int i = 0; i < workers; i++)
			s->w[i]->traffic.kind = SCENARIO_ESTABLISHED;
		set_packets(s, prepopulate_packets, 0);
		rc = run_phase(b, s);
		if (rc != 0)
			goto out;
		add_figures(b, s, &prepopulation, 0);
		for (unsigned int i = 0; i < workers; i++)
			s->w[i]->traffic.kind = sc->kind;
		const uint64_t held = sum_counters(s).flows;
		if (held < sc->flows)
			printf("%-16s note: only %" PRIu64 " of %" PRIu64 " flows fit in the %s\n",
			       label, held, sc->flows, workers > 1 ? "tables" : "table");
	}
	unsigned int active = 0;
	for (unsigned int i = 0; i < workers; i++) {
		struct bench_worker *bw = s->w[i];

		if (sc->kind == SCENARIO_FLOOD) {
			/* A simulated second is capacity/8 packets and flows time out
			 * after 2: ageing visits the whole table every 3/8 capacity
			 * packets (IPv4: 1.5 slots a flow, 4 slots, a bucket, per packet;
			 * IPv6 the same share of its table), so a flow lives 1/4 to 5/8
			 * of a table's worth of packets and the table stays well below
			 * full. */
			bw->clock.packets_per_second = RTE_MAX(bw->capacity / 8, 2u * DPLB_BURST);
		} else if (sc->kind == SCENARIO_MIX) {
			/* One second per N packets, timeout 3: an established flow
			 * comes back every 1.1 N packets and never expires; new flows
			 * live 3 to 4 seconds, 0.3 to 0.4 N of them, in a table of 2 N. */
			bw->clock.packets_per_second = bw->flows;
		}
		bw->clock.countdown = bw->clock.packets_per_second;
		active += !flows_split || bw->flows != 0;
	}
	/* --packets a run, shared evenly by the workers that have flows. */
	const uint64_t per_run = (opt->packets + active - 1) / active;
	/* Warm up: one more pass, or for a flood two tables' worth, so the
	 * measured runs see the steady state. */
	set_packets(s, warm_up_packets, per_run);
	rc = run_phase(b, s);
	if (rc != 0)
		goto out;

	set_packets(s, run_packets, per_run);
	const struct totals before = sum_counters(s);
	uint64_t measured = 0;
	for (unsigned int r = 0; r < opt->runs && rc == 0; r++) {
		/* acl-P: a run without the list next to each run with it, in
		 * turns first, so that a noisy neighbour hits both alike. */
		const bool acl = s->other_publisher != NULL;

		if (acl && r % 2 == 1)
			rc = measure(b, s, true, r, &plain, NULL);
		if (rc == 0)
			rc = measure(b, s, false, r, &f, &measured);
		if (rc == 0 && acl && r % 2 == 0)
			rc = measure(b, s, true, r, &plain, NULL);
	}
	if (rc != 0)
		goto out;
	/* Leave nothing in the TX buffers: their mbufs would outlive the run. */
	for (unsigned int i = 0; i < workers; i++)
		dplb_worker_flush_tx(&s->w[i]->worker);

	char flows[24] = "new";
	if (sc->kind != SCENARIO_FLOOD)
		snprintf(flows, sizeof(flows), "%" PRIu64, sc->flows);
	print_row(b, label, workers, flows, memory.capacity, &f);
	if (s->other_publisher != NULL)
		print_without_acl(b, sc, workers, flows, memory.capacity, &f, &plain);
	if (opt->worker_counts != 0)
		print_workers(b, s, sc->kind);
	result->measured = true;
	result->mpps = summarize(f.mpps, opt->runs).median;
	result->mpps_prep = summarize(f.mpps_prep, opt->runs).median;
	result->cycles = summarize(f.cycles, opt->runs).median;

	print_details(b, s, sc, &before, measured, flows_split ? &prepopulation : NULL, &memory);
	if (opt->stages && sc->kind == SCENARIO_ESTABLISHED && workers == 1 &&
	    s->other_publisher == NULL) {
		rc = measure_stages(b, s, result);
		result->staged = rc == 0;
	}
	fflush(stdout);
out:
	release_run(s);
	rte_free(s);
	return rc;
}

/* Each count of --workers in turn, then how the aggregate grew; the first
 * count's figures in *first. */
static int run_worker_counts(struct bench *b, const struct scenario *sc, uint8_t protocol,
			     uint8_t family, struct scenario_result *first_result)
{
	const struct options *opt = &b->opt;
	struct scenario_result results[MAX_WORKER_COUNTS];
	char label[48];
	int status = 0;

	row_label(label, sizeof(label), sc, protocol, family);
	if (opt->worker_counts == 0) {
		status = run_scenario(b, sc, protocol, family, 1, first_result);
		fflush(stdout);
		return status;
	}
	for (unsigned int i = 0; i < opt->worker_counts; i++)
		if (run_scenario(b, sc, protocol, family, opt->workers[i], &results[i]) != 0)
			status = -1;
	*first_result = results[0];
	for (unsigned int i = 1; i < opt->worker_counts; i++) {
		const struct scenario_result *first = &results[0], *x = &results[i];
		const double ratio = x->mpps / first->mpps;
		const double linear = (double)opt->workers[i] / opt->workers[0];

		if (!first->measured || !x->measured)
			continue;
		printf("%-16s %u vs %u workers: aggregate %.2f vs %.2f Mpps = %.2fx (%.0f%% of "
		       "linear); with prep %.2fx\n",
		       label, opt->workers[i], opt->workers[0], x->mpps, first->mpps, ratio,
		       100 * ratio / linear, x->mpps_prep / first->mpps_prep);
	}
	fflush(stdout);
	return status;
}

#define MAGLEV_COUNTS 3
#define MAGLEV_SIZES 2

/*
 * maglev_build's time for 10, 100, 1000 backends at two table sizes, keyed
 * as dplb keys backends: an IPv4 address's 4 bytes, an IPv6 one's 16.
 * medians[size][count] out; ipv4 (the IPv4 medians, or NULL) to compare.
 */
static void run_maglev(struct bench *b, uint8_t family, const double (*ipv4)[MAGLEV_COUNTS],
		       double (*medians)[MAGLEV_COUNTS])
{
	static const uint32_t counts[MAGLEV_COUNTS] = { 10, 100, 1000 };
	static const uint32_t sizes[MAGLEV_SIZES] = { 65537, 655373 };
	static uint8_t keys[1000][16];
	struct maglev_backend backends[1000];
	double ms[MAX_RUNS];
	uint32_t *table = malloc(sizeof(*table) * 655373);

	if (table == NULL)
		return;
	for (uint32_t i = 0; i < RTE_DIM(backends); i++) {
		const uint32_t v4 = IPV4(10, 20 + i / 250, 0, 1 + i % 250);

		memset(keys[i], 0, sizeof(keys[i]));
		if (family == AF_INET6) {
			/* 2001:db8:20::i+1 */
			const uint32_t low = rte_cpu_to_be_32(i + 1);

			keys[i][0] = 0x20, keys[i][1] = 0x01, keys[i][2] = 0x0d, keys[i][3] = 0xb8;
			keys[i][5] = 0x20;
			memcpy(&keys[i][12], &low, sizeof(low));
		} else {
			memcpy(keys[i], &v4, sizeof(v4));
		}
		backends[i].key = keys[i];
		backends[i].key_len = family == AF_INET6 ? 16 : sizeof(v4);
		backends[i].weight = 1;
	}
	printf("\nMaglev table build (maglev_build, weight 1 each%s; median of %u, min..max):\n",
	       family == AF_INET6 ? ", IPv6 backends: 16-byte keys" : "", b->opt.runs);
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
			medians[si][ci] = s.median;
			printf("  %4u backends, M=%-6u %8.3f ms  (%.3f..%.3f)", counts[ci],
			       sizes[si], s.median, s.min, s.max);
			if (ipv4 != NULL)
				printf("  IPv6/IPv4 %.2fx", s.median / ipv4[si][ci]);
			printf("\n");
		}
	}
	free(table);
}

/* Reads timed each way per run of the memory probe. */
#define MEMORY_PROBE_READS (1u << 20)

/*
 * The memory probe over buffers the size of the IPv4 est-1m and est-10m
 * tables (whatever --flow-table-size and --family say: the figures are the
 * machine's, to set beside the default scenarios). A buffer that does not
 * fit is skipped, as a table that does not fit is. EXIT_SUCCESS, or
 * EXIT_FAILURE when the probe itself failed.
 */
static int run_memory(const struct bench *b)
{
	static const uint32_t capacities[] = { 1000000, 10000000 };
	double spread[MAX_RUNS], packed[MAX_RUNS];

	printf("\nRandom reads over hugepage memory (rte_malloc) the size of a flow table, a "
	       "pointer chase:\na line on every 4 KiB page (spread), then as many lines side by "
	       "side (packed); TSC\ncycles a read, median of %u (min..max). Translation = "
	       "spread - packed: near 0 where\nhugepages are real down to the hardware\n",
	       b->opt.runs);
	for (unsigned int c = 0; c < RTE_DIM(capacities); c++) {
		const size_t footprint = dplb_flow_table_size(capacities[c]);
		int rc = 0;

		for (unsigned int r = 0; r < b->opt.runs && rc == 0; r++) {
			struct memory_probe_result result;

			rc = memory_probe_run(footprint, MEMORY_PROBE_READS, &result);
			if (rc == 0) {
				spread[r] = result.spread;
				packed[r] = result.packed;
			}
		}
		if (rc == -ENOMEM) {
			printf("  page translation, table of %u flows: skipped: cannot allocate "
			       "%.0f MiB of hugepage memory: reserve more (DPLB_HUGEPAGES=N "
			       "scripts/setup)\n",
			       capacities[c], MIB(footprint) + 1);
			continue;
		}
		if (rc != 0) {
			printf("  page translation, table of %u flows: the probe failed: %s\n",
			       capacities[c], strerror(-rc));
			return EXIT_FAILURE;
		}
		const struct summary s = summarize(spread, b->opt.runs);
		const struct summary p = summarize(packed, b->opt.runs);

		printf("  page translation, table of %u flows (%.1f MiB): "
		       "spread %.1f (%.1f..%.1f), packed %.1f (%.1f..%.1f), "
		       "translation %.1f cycles a read\n",
		       capacities[c], MIB(footprint), s.median, s.min, s.max, p.median, p.min,
		       p.max, s.median - p.median);
	}
	return EXIT_SUCCESS;
}

/* One scenario and protocol measured in both families. */
struct comparison {
	char label[48];
	double ipv4, ipv6; /* median cycles per packet */
};

/* IPv6 against IPv4, right under the two rows; with --stages, by stage. */
static void print_comparison(const char *label, const struct scenario_result *r4,
			     const struct scenario_result *r6)
{
	printf("%-16s IPv6/IPv4: %.1f / %.1f cycles/pkt = %.2fx\n", label, r6->cycles, r4->cycles,
	       r6->cycles / r4->cycles);
	if (!r4->staged || !r6->staged)
		return;
	printf("%-16s   stages, IPv6 - IPv4 cycles/pkt of what each adds:", "");
	for (unsigned int stage = 0; stage < BENCH_STAGE_COUNT; stage++) {
		const double before4 = stage ? r4->stages[stage - 1] : 0;
		const double before6 = stage ? r6->stages[stage - 1] : 0;

		printf(" %s %+.1f", bench_stage_name[stage],
		       (r6->stages[stage] - before6) - (r4->stages[stage] - before4));
	}
	printf("\n");
}

/* A scenario's rows for one protocol, each family asked for in turn, then
 * the comparison (kept in *out, when there is one). */
static int run_families(struct bench *b, const struct scenario *sc, uint8_t protocol,
			struct comparison *out, bool *compared)
{
	struct scenario_result r4 = { 0 }, r6 = { 0 };
	int status = 0;

	*compared = false;
	if (b->opt.ipv4 && run_worker_counts(b, sc, protocol, AF_INET, &r4) != 0)
		status = -1;
	if (b->opt.ipv6 && run_worker_counts(b, sc, protocol, AF_INET6, &r6) != 0)
		status = -1;
	if (!r4.measured || !r6.measured)
		return status;
	row_label(out->label, sizeof(out->label), sc, protocol, AF_INET);
	out->ipv4 = r4.cycles;
	out->ipv6 = r6.cycles;
	*compared = true;
	print_comparison(out->label, &r4, &r6);
	fflush(stdout);
	return status;
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
	rc = setup(&b);
	if (rc != 0) {
		rte_eal_cleanup();
		return rc == -EINVAL ? 2 : EXIT_FAILURE;
	}
	const char *memory = rte_eal_has_hugepages()
				     ? "hugepages"
				     : "NO hugepages (TLB misses: slower with many flows)";
	if (b.opt.worker_counts == 0) {
		printf("dplb-bench: one worker on lcore %u, TX to port %u (%s), TSC %.0f MHz, %s\n",
		       rte_lcore_id(), b.port_id, b.driver, b.tsc_hz / 1e6, memory);
	} else {
		char lcores[256] = "";
		for (unsigned int w = 0, n = 0; w < b.max_workers && n < sizeof(lcores); w++)
			n += snprintf(lcores + n, sizeof(lcores) - n, "%s%u", w ? "," : "",
				      b.lcores[w]);
		printf("dplb-bench: up to %u workers on lcores %s (worker 0 on the main lcore), "
		       "each with its own flow table, mbuf pool and TX queue of port %u (%s); "
		       "flows split by RSS (Toeplitz, %d-entry redirection table); TSC %.0f MHz, "
		       "%s\n",
		       b.max_workers, lcores, b.port_id, b.driver, RSS_RETA_SIZE, b.tsc_hz / 1e6,
		       memory);
	}
	printf("  %u-byte frames%s, VIPs with %d backends, encap %s, burst %d, %u runs of %" PRIu64
	       " packets%s; Mpps and cycles/pkt are medians of the runs\n",
	       b.frame_len + RTE_ETHER_CRC_LEN,
	       !b.opt.ipv6  ? ""
	       : b.opt.ipv4 ? " in both families (the smallest IPv6 TCP frame)"
			    : " (the smallest IPv6 TCP frame)",
	       BACKENDS_PER_VIP, b.opt.encap == DPLB_ENCAP_GUE ? "gue" : "ipip", DPLB_BURST,
	       b.opt.runs, b.opt.packets,
	       b.opt.worker_counts == 0 ? "" : " (shared evenly by the workers)");
	if (b.opt.worker_counts != 0)
		printf("  With workers: Mpps = the workers' rates added up, cyc/pkt = cycles per "
		       "packet on each\n  worker's core; Mpps+prep = all packets over the wall "
		       "time of the run\n");
	printf("  cyc/pkt = pipeline only (RCU report, snapshot load, process_burst, TX to %s,\n"
	       "  flush, one ageing slice); +prep adds writing each packet into a fresh mbuf\n",
	       b.driver);
	printf("  TX into %s alone (rte_eth_tx_burst of %d fresh mbufs): %.1f cycles/pkt, part of "
	       "cyc/pkt\n\n",
	       b.driver, DPLB_BURST, tx_cycles_per_packet(&b));

	static struct comparison compared[2 * MAX_SCENARIOS];
	unsigned int comparisons = 0;
	bool header = false;
	for (unsigned int i = 0; i < b.opt.scenario_count; i++) {
		const struct scenario *sc = &b.opt.scenarios[i];

		if (sc->kind == SCENARIO_MAGLEV) {
			double ipv4[MAGLEV_SIZES][MAGLEV_COUNTS], ipv6[MAGLEV_SIZES][MAGLEV_COUNTS];

			if (b.opt.ipv4)
				run_maglev(&b, AF_INET, NULL, ipv4);
			if (b.opt.ipv6)
				run_maglev(&b, AF_INET6, b.opt.ipv4 ? ipv4 : NULL, ipv6);
			header = false;
			continue;
		}
		if (sc->kind == SCENARIO_MEMORY) {
			if (run_memory(&b) != EXIT_SUCCESS)
				status = EXIT_FAILURE;
			header = false;
			continue;
		}
		if (!header) {
			print_header(&b);
			header = true;
		}
		for (unsigned int p = 0; p < 2; p++) {
			const uint8_t protocol = p == 0 ? IPPROTO_TCP : IPPROTO_UDP;
			bool done;

			if (!(p == 0 ? b.opt.tcp : b.opt.udp))
				continue;
			if (run_families(&b, sc, protocol, &compared[comparisons], &done) != 0)
				status = EXIT_FAILURE;
			comparisons += done;
		}
	}
	if (comparisons != 0) {
		printf("\nIPv6 against IPv4, cycles per packet (medians; %u-byte frames in "
		       "both):\n",
		       b.frame_len + RTE_ETHER_CRC_LEN);
		printf("  %-16s %10s %10s %8s\n", "scenario", "IPv4", "IPv6", "IPv6/IPv4");
		for (unsigned int i = 0; i < comparisons; i++)
			printf("  %-16s %10.1f %10.1f %8.2fx\n", compared[i].label,
			       compared[i].ipv4, compared[i].ipv6,
			       compared[i].ipv6 / compared[i].ipv4);
	}
	rte_eth_dev_stop(b.port_id);
	rte_eth_dev_close(b.port_id);
	dplb_identities_free(b.ids);
	rte_free(b.rcu);
	for (unsigned int w = 0; w < b.max_workers; w++)
		rte_mempool_free(b.pools[w]);
	rte_eal_cleanup();
	return status;
}
