/*
 * libFuzzer target: the HTTP API's routes and handlers (api_routes.h),
 * driven in-process without a socket: dplb_api_match on a method and a
 * path, then dplb_api_handle with a body, over a context made as
 * dplb_start makes one (identities, RCU, publisher, neighbors, health, a
 * worker with its counters on a net_null port, the configuration applied
 * through dplb_apply_config) but with no lcore launched.
 *
 * Input: byte 0 picks the method (low 3 bits: GET HEAD POST PATCH DELETE
 * PUT OPTIONS CONNECT); bit 3 also asks dplb_view_lookup directly for the
 * path's VIP, with source, ports taken from the body's first 8 bytes. Then
 * the path (already decoded, as libmicrohttpd hands it over) up to the
 * first newline; the rest is the body.
 *
 * Not reached from here: libmicrohttpd's request parsing and api_server.c
 * (URL decoding, authentication, body limits), and query arguments, which
 * handlers read from the MHD connection (there is none: a lookup is always
 * "src is required", hence the direct call above).
 *
 * Every reply must have an HTTP status and a body that serialises; an
 * accepted change is undone (the file rewritten, dplb_control_reload) so
 * that each input meets the same configuration; leaks are libFuzzer's.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "api/api_routes.h"
#include "api/api_views.h"
#include "control/context.h"
#include "control/control.h"
#include "control/neighbor.h"
#include "fuzz_eal.h"
#include "health/health.h"

#define URL_MAX 2048

static const char config_text[] =
	"[dataplane]\nports = 0\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n"
	"flow_table_size = 1024\n\n"
	"[management]\nhealth_tcp = connect\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nprotocol = tcp\nscheduler = maglev\n"
	"maglev_size = 251\nbackend = 10.0.1.1\nbackend = 10.0.1.2 weight=2\n"
	"backend = 10.0.1.3 state=drain mac=02:00:00:00:01:03\n\n"
	"[vip:dns]\naddress = 10.0.0.100\nport = 53\nprotocol = udp\nscheduler = round-robin\n"
	"encap = gue\nmaglev_size = 7\nbackend = 10.0.2.1\nbackend = 10.0.2.2 state=down\n\n"
	"[vip:any]\naddress = 10.0.0.101\nport = 0\nprotocol = tcp\n"
	"scheduler = weighted-round-robin\nmaglev_size = 13\n"
	"health_check = tcp\nhealth_port = 8080\n"
	"backend = 10.0.3.1 weight=3\n\n"
	"[vip:empty]\naddress = 10.0.0.102\nport = 443\nscheduler = least-connections\n"
	"maglev_size = 7\nbackend = 10.0.4.1 state=down\n";

static const char *const methods[8] = { "GET",	  "HEAD", "POST",    "PATCH",
					"DELETE", "PUT",  "OPTIONS", "CONNECT" };

static struct dplb_context ctx = { .management_lock = PTHREAD_MUTEX_INITIALIZER };
static struct dplb_rate_memory rates;
static char directory[PATH_MAX];

static __attribute__((noreturn)) void fail(const char *what)
{
	fprintf(stderr, "fuzz_api: %s\n", what);
	abort();
}

static void write_config(void)
{
	FILE *f = fopen(ctx.config_path, "w");

	if (f == NULL || fputs(config_text, f) < 0 || fclose(f) != 0)
		fail("cannot write the configuration");
}

static void remove_directory(void)
{
	unlink(ctx.config_path);
	rmdir(directory);
}

/* The parts of dplb_start the API reads, without launching a worker. */
static void make_context(void)
{
	static uint16_t port_id;
	struct dplb_config *config;
	struct rte_eth_conf conf;
	char error[DPLB_ERROR_MAX];
	const char *tmp = getenv("TMPDIR");

	snprintf(directory, sizeof(directory), "%s/dplb-fuzz-api-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(directory) == NULL)
		fail("mkdtemp");
	snprintf(ctx.config_path, sizeof(ctx.config_path), "%s/dplb.ini", directory);
	atexit(remove_directory);
	write_config();

	ctx.pool = rte_pktmbuf_pool_create("fuzz_api_mbufs", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   SOCKET_ID_ANY);
	if (ctx.pool == NULL || rte_eth_dev_get_port_by_name("net_null0", &port_id) != 0)
		fail("no mbuf pool or no net_null0");
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port_id, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port_id, 0, 64, SOCKET_ID_ANY, NULL, ctx.pool) != 0 ||
	    rte_eth_tx_queue_setup(port_id, 0, 64, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(port_id) != 0)
		fail("net_null0 set-up");
	ctx.port_count = 1;
	ctx.port_ids[0] = port_id;
	ctx.port_setup[0].status = DPLB_PORT_STARTED;
	ctx.pool_size = 255;
	ctx.workers = rte_zmalloc("fuzz_api_worker", sizeof(*ctx.workers), RTE_CACHE_LINE_SIZE);
	if (ctx.workers == NULL ||
	    dplb_worker_init(&ctx.workers[0], 0, &port_id, 1, 1024, SOCKET_ID_ANY) != 0)
		fail("worker set-up");
	ctx.worker_count = 1;

	ctx.ids = dplb_identities_create();
	ctx.neighbors = calloc(1, sizeof(*ctx.neighbors));
	ctx.neighbors6 = calloc(1, sizeof(*ctx.neighbors6));
	ctx.health = dplb_health_create();
	ctx.rcu = rte_zmalloc("fuzz_api_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	if (ctx.ids == NULL || ctx.neighbors == NULL || ctx.neighbors6 == NULL ||
	    ctx.health == NULL || ctx.rcu == NULL || rte_rcu_qsbr_init(ctx.rcu, 1) != 0)
		fail("context");
	ctx.publisher = dplb_publisher_create(ctx.rcu, 64);
	if (ctx.publisher == NULL)
		fail("publisher");
	config = fuzz_config_from_text(config_text);
	if (dplb_apply_config(&ctx, config, error) != 0)
		fail(error);
	dplb_rate_memory_init(&rates);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const vdevs[] = { "net_null0", NULL };

	fuzz_eal_init("fuzz_api", *argc, *argv, vdevs);
	make_context();
	return 0;
}

/* What the server would send: a status and a body that serialises. */
static void check_reply(struct api_reply *reply)
{
	if (reply->status < 100 || reply->status > 599)
		fail("a reply without an HTTP status");
	if (reply->json != NULL) {
		char *text = json_dumps(reply->json, JSON_COMPACT);

		if (text == NULL)
			fail("a JSON reply that does not serialise");
		free(text);
		json_decref(reply->json);
	} else if (reply->text == NULL) {
		fail("a reply without a body");
	}
	free(reply->text);
}

/* The lookup view, with what a query string would have said. */
static void lookup(const struct api_target *target, const uint8_t *body, size_t length)
{
	const struct dplb_vip_entry *vip;
	uint8_t bytes[8] = { 0 };
	uint32_t src;
	uint16_t sport, dport;

	if (target->segment_count < 2 || strcmp(target->segments[0], "vips") != 0)
		return;
	vip = dplb_view_find_vip(&ctx, target->segments[1]);
	if (vip == NULL)
		return;
	memcpy(bytes, body, RTE_MIN(length, sizeof(bytes)));
	memcpy(&src, bytes, sizeof(src));
	memcpy(&sport, bytes + 4, sizeof(sport));
	memcpy(&dport, bytes + 6, sizeof(dport));
	json_t *json = dplb_view_lookup(&ctx, vip, src, NULL, sport, dport);
	if (json == NULL)
		fail("lookup: no JSON");
	json_decref(json);
}

/* Back to the configuration every input starts from. */
static void restore(void)
{
	struct dplb_control_result result;
	int rc;

	write_config();
	memset(&result, 0, sizeof(result));
	rc = dplb_control_reload(&ctx, &result);
	dplb_control_result_free(&result);
	if (rc != 0)
		fail("the reload that restores the configuration failed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[URL_MAX];
	struct api_target target;
	struct api_reply reply;
	const uint64_t generation = ctx.generation;

	if (size < 1)
		return -1;
	const uint8_t selector = data[0];
	const uint8_t *rest = data + 1;
	const size_t rest_length = size - 1;
	const uint8_t *newline = memchr(rest, '\n', rest_length);
	const size_t url_length = newline ? (size_t)(newline - rest) : rest_length;
	const uint8_t *body = newline ? newline + 1 : rest + rest_length;
	const size_t body_length = (size_t)(rest + rest_length - body);

	if (url_length >= sizeof(url))
		return -1;
	memcpy(url, rest, url_length);
	url[url_length] = '\0'; /* a NUL inside ends it, as in a C string */

	dplb_api_match(url, methods[selector & 0x07], &target);
	if (target.route == NULL) {
		if (target.status != 404 && target.status != 405)
			fail("no route, and neither 404 nor 405");
		return 0;
	}
	/* The server keeps a body NUL-terminated, and none as NULL. */
	char *copy = NULL;
	if (body_length != 0) {
		copy = malloc(body_length + 1);
		if (copy == NULL)
			fail("out of memory");
		memcpy(copy, body, body_length);
		copy[body_length] = '\0';
	}
	const struct api_call call = {
		.ctx = &ctx,
		.rates = &rates,
		.connection = NULL,
		.target = &target,
		.body = copy,
		.body_length = body_length,
	};
	memset(&reply, 0, sizeof(reply));
	dplb_api_handle(&call, &reply);
	check_reply(&reply);
	if (selector & 0x08)
		lookup(&target, body, body_length);
	free(copy);

	if (ctx.generation != generation)
		restore();
	dplb_publisher_reclaim(ctx.publisher);
	return 0;
}
