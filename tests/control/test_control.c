/*
 * Unit tests for the control API (lib/control/control.c) on a real context: the
 * identities registry, an RCU variable with no worker online (so grace
 * periods end at once) and the publisher, as dplb_start makes them, but
 * no ports or workers. Each change is checked for what it says and for
 * what the snapshot that serves then holds; each refusal for leaving the
 * serving snapshot untouched.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "control/config_writer.h"
#include "control/context.h"
#include "control/control.h"
#include "control/management.h"
#include "control/neighbor.h"
#include "control/state_builder.h"
#include "dpdk_test.h"
#include "health/health.h"

static const char *const BASE =
	"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:01\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 251\n"
	"backend = 10.0.1.1\nbackend = 10.0.1.2 weight=2\n\n"
	"[vip:solo]\naddress = 10.0.0.101\nport = 80\nmaglev_size = 7\nbackend = 10.0.2.1\n";

static struct dplb_context ctx;
static struct dplb_control_result result;

static uint32_t ip(const char *text)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, text, &a), 1, "bad test address %s", text);
	return a.s_addr;
}

/* The backend at an IPv4 address, as the control API names one to change. */
#define AT(text) (&(struct dplb_backend_config){ .family = AF_INET, .address = ip(text) })

static void write_config(const char *text)
{
	FILE *f = fopen(ctx.config_path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void setup(void)
{
	char error[DPLB_ERROR_MAX];
	struct dplb_config_errors errs;
	struct dplb_config *config;

	test_eal_init(NULL);
	memset(&ctx, 0, sizeof(ctx));
	snprintf(ctx.config_path, sizeof(ctx.config_path), "/tmp/dplb-control-%d.ini",
		 (int)getpid());
	write_config(BASE);
	ctx.ids = dplb_identities_create();
	ctx.neighbors = calloc(1, sizeof(*ctx.neighbors));
	ctx.neighbors6 = calloc(1, sizeof(*ctx.neighbors6));
	ctx.health = dplb_health_create();
	cr_assert_not_null(ctx.health);
	ctx.rcu = rte_zmalloc("test_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	cr_assert(ctx.ids && ctx.neighbors && ctx.neighbors6 && ctx.rcu);
	cr_assert_eq(rte_rcu_qsbr_init(ctx.rcu, 1), 0);
	ctx.publisher = dplb_publisher_create(ctx.rcu, 64);
	cr_assert_not_null(ctx.publisher);
	cr_assert_eq(dplb_config_load(ctx.config_path, &config, &errs), 0, "%s", errs.messages[0]);
	cr_assert_eq(dplb_apply_config(&ctx, config, error), 0, "%s", error);
	cr_assert_eq(ctx.generation, 1);
}

static void teardown(void)
{
	dplb_state_builder_free(ctx.builder); /* ends a change in flight */
	dplb_control_result_free(&result);
	dplb_publisher_free(ctx.publisher);
	rte_free(ctx.rcu);
	dplb_identities_free(ctx.ids);
	free(ctx.neighbors);
	free(ctx.neighbors6);
	dplb_health_free(ctx.health);
	unlink(ctx.config_path);
	test_eal_fini();
}

TestSuite(control, .init = setup, .fini = teardown, .timeout = 60);

static const struct dplb_state *serving(void)
{
	return dplb_current_state(ctx.publisher);
}

static const struct dplb_backend_entry *backend_in(const char *vip_name, const char *address)
{
	const struct dplb_vip_entry *vip = test_vip_named(serving(), vip_name);

	for (uint32_t i = 0; i < vip->backend_count; i++)
		if (serving()->backends[vip->backend_ids[i]].address == ip(address))
			return &serving()->backends[vip->backend_ids[i]];
	return NULL;
}

/* A refusal: rc, the first message, and nothing published. */
static void expect_refusal(int rc, int want, const char *words)
{
	cr_assert_eq(rc, want, "rc %d, want %d (%s)", rc, want,
		     result.errors.count ? result.errors.messages[0] : "");
	cr_assert_geq(result.errors.count, 1);
	cr_assert_not_null(strstr(result.errors.messages[0], words), "\"%s\" lacks \"%s\"",
			   result.errors.messages[0], words);
	cr_assert_not(result.applied);
	cr_assert_eq(result.changes.count, 0);
	cr_assert_eq(result.generation, 1);
	cr_assert_eq(ctx.generation, 1);
	dplb_control_result_free(&result);
}

Test(control, add_backend)
{
	const struct dplb_backend_config backend = {
		.address = ip("10.0.1.3"),
		.weight = 3,
		.state = DPLB_BACKEND_DRAIN,
	};

	cr_assert_eq(dplb_control_add_backend(&ctx, "web", &backend, &result), 0);
	cr_assert(result.applied);
	cr_assert_eq(result.generation, 2);
	cr_assert_eq(result.changes.count, 1);
	cr_assert_eq(result.changes.items[0].kind, DPLB_CHANGE_BACKEND_ADDED);
	cr_assert_eq(result.changes.items[0].after.weight, 3);
	cr_assert_eq(serving()->generation, 2);
	cr_assert_eq(backend_in("web", "10.0.1.3")->state, DPLB_BACKEND_DRAIN);
	cr_assert_eq(test_vip_named(serving(), "web")->up_count, 2);
}

Test(control, add_refusals_change_nothing)
{
	const struct dplb_state *before = serving();
	struct dplb_backend_config backend = { .address = ip("10.0.1.1"), .weight = 1 };

	expect_refusal(dplb_control_add_backend(&ctx, "web", &backend, &result), -EEXIST,
		       "vip web has backend 10.0.1.1 already");
	expect_refusal(dplb_control_add_backend(&ctx, "nope", &backend, &result), -ENOENT,
		       "no VIP named \"nope\"");
	backend.address = ip("10.0.1.9");
	backend.weight = 0;
	expect_refusal(dplb_control_add_backend(&ctx, "web", &backend, &result), -EINVAL,
		       "weight 0 is out of range (1..65535)");
	backend.weight = 1;
	backend.address = 0;
	expect_refusal(dplb_control_add_backend(&ctx, "web", &backend, &result), -EINVAL,
		       "0.0.0.0 is not a usable address");
	cr_assert_eq(serving(), before, "a refusal published a snapshot");
}

Test(control, update_backend)
{
	struct dplb_backend_update update = { .set_weight = true, .weight = 7 };

	cr_assert_eq(dplb_control_update_backend(&ctx, "web", AT("10.0.1.1"), &update, &result), 0);
	cr_assert_eq(result.changes.count, 1);
	cr_assert_str_eq(result.changes.items[0].fields, "weight");
	cr_assert_eq(backend_in("web", "10.0.1.1")->weight, 7);
	dplb_control_result_free(&result);

	/* The same values again: nothing to publish. */
	cr_assert_eq(dplb_control_update_backend(&ctx, "web", AT("10.0.1.1"), &update, &result), 0);
	cr_assert_not(result.applied);
	cr_assert_eq(result.changes.count, 0);
	cr_assert_eq(result.generation, 2);
	dplb_control_result_free(&result);

	update = (struct dplb_backend_update){ .set_state = true,
					       .state = DPLB_BACKEND_DOWN,
					       .set_mac = true,
					       .has_mac = true,
					       .mac = { 2, 0, 0, 0, 9, 9 } };
	cr_assert_eq(dplb_control_update_backend(&ctx, "web", AT("10.0.1.2"), &update, &result), 0);
	cr_assert_str_eq(result.changes.items[0].fields, "state,mac");
	cr_assert_eq(backend_in("web", "10.0.1.2")->state, DPLB_BACKEND_DOWN);
	cr_assert_eq(backend_in("web", "10.0.1.2")->next_hop_mac.addr_bytes[4], 9);
	cr_assert_eq(test_vip_named(serving(), "web")->up_count, 1);
}

Test(control, update_refusals_change_nothing)
{
	struct dplb_backend_update update = { .set_weight = true, .weight = 65536 };

	expect_refusal(dplb_control_update_backend(&ctx, "web", AT("10.0.1.1"), &update, &result),
		       -EINVAL, "weight 65536 is out of range");
	update.weight = 2;
	expect_refusal(dplb_control_update_backend(&ctx, "web", AT("10.0.2.1"), &update, &result),
		       -ENOENT, "vip web has no backend 10.0.2.1");
	expect_refusal(dplb_control_update_backend(&ctx, "x", AT("10.0.1.1"), &update, &result),
		       -ENOENT, "no VIP named \"x\"");
}

Test(control, remove_backend)
{
	/* A VIP keeps at least one backend, as the loader demands. */
	expect_refusal(dplb_control_remove_backend(&ctx, "solo", AT("10.0.2.1"), &result), -EINVAL,
		       "[vip:solo] has no backends");
	expect_refusal(dplb_control_remove_backend(&ctx, "web", AT("10.0.2.1"), &result), -ENOENT,
		       "vip web has no backend 10.0.2.1");
	cr_assert_eq(dplb_control_remove_backend(&ctx, "web", AT("10.0.1.1"), &result), 0);
	cr_assert_eq(result.changes.items[0].kind, DPLB_CHANGE_BACKEND_REMOVED);
	cr_assert_eq(result.generation, 2);
	cr_assert_null(backend_in("web", "10.0.1.1"));
	cr_assert_not_null(backend_in("web", "10.0.1.2"));
}

Test(control, reload_says_what_the_file_changed)
{
	const struct dplb_backend_config backend = { .address = ip("10.0.1.9"), .weight = 1 };

	cr_assert_eq(dplb_control_add_backend(&ctx, "web", &backend, &result), 0);
	dplb_control_result_free(&result);
	write_config("[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:01\n\n"
		     "[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 251\n"
		     "backend = 10.0.1.1 weight=4\n");
	cr_assert_eq(dplb_control_reload(&ctx, &result), 0);
	cr_assert(result.applied);
	cr_assert_eq(result.generation, 3);
	cr_assert_eq(result.changes.count, 4);
	cr_assert_eq(result.changes.items[0].kind, DPLB_CHANGE_BACKEND_MODIFIED);
	cr_assert_eq(result.changes.items[1].kind, DPLB_CHANGE_BACKEND_REMOVED);
	cr_assert_eq(result.changes.items[1].before.address, ip("10.0.1.2"));
	cr_assert_eq(result.changes.items[2].before.address, ip("10.0.1.9"));
	cr_assert_eq(result.changes.items[3].kind, DPLB_CHANGE_VIP_REMOVED);
	cr_assert_eq(ctx.reloads_ok, 1);
	dplb_control_result_free(&result);

	write_config("[dataplane]\naddress = 10.0.0.1\n[vip:web]\n");
	cr_assert_eq(dplb_control_reload(&ctx, &result), -EINVAL);
	cr_assert_not(result.applied);
	cr_assert_eq(result.generation, 3);
	cr_assert_geq(result.errors.count, 1);
	cr_assert_not_null(strstr(result.errors.messages[0], ctx.config_path));
	cr_assert_eq(ctx.reloads_failed, 1);
}

Test(control, reload_refuses_keys_that_need_a_restart)
{
	write_config("[dataplane]\nports = 0, 1\naddress = 10.0.0.1\n"
		     "gateway_mac = 02:00:00:00:00:01\nmtu = 1400\n\n"
		     "[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 251\n"
		     "backend = 10.0.1.1\n");
	expect_refusal(dplb_control_reload(&ctx, &result), -EINVAL,
		       "ports,mtu cannot change without a restart");
	cr_assert_eq(ctx.reloads_failed, 1);
	cr_assert_eq(ctx.reloads_ok, 0);
}

Test(control, reload_refuses_a_health_source_this_host_does_not_have)
{
	const uint64_t generation = ctx.generation;

	/* 203.0.113.0/24 is for documentation: no host of ours has .254. */
	write_config("[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:01\n\n"
		     "[management]\nhealth_source = 203.0.113.254\n\n"
		     "[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 251\n"
		     "health_check = tcp\nbackend = 10.0.1.1\n");
	cr_assert_eq(dplb_control_reload(&ctx, &result), -EADDRNOTAVAIL);
	cr_assert_not(result.applied);
	cr_assert_eq(ctx.generation, generation, "a refused reload published something");
	cr_assert_not_null(strstr(result.errors.messages[0],
				  "health_source 203.0.113.254 cannot be "
				  "used"),
			   "%s", result.errors.messages[0]);
	cr_assert_not_null(strstr(result.errors.messages[0], ctx.config_path));
	cr_assert_eq(ctx.reloads_failed, 1);
}

/* ---- changes written into the file (persist_changes = yes) -------------- */

static char *file_text(void)
{
	char *text;
	size_t len;

	cr_assert_eq(dplb_config_file_read(ctx.config_path, &text, &len), 0);
	return text;
}

Test(control, changes_are_written_into_the_file_and_a_reload_finds_none)
{
	const struct dplb_backend_config backend = { .address = ip("10.0.1.3"), .weight = 3 };
	const struct dplb_backend_update update = { .set_weight = true, .weight = 7 };
	char *text;

	cr_assert_eq(dplb_control_add_backend(&ctx, "web", &backend, &result), 0);
	dplb_control_result_free(&result);
	cr_assert_eq(dplb_control_update_backend(&ctx, "web", AT("10.0.1.1"), &update, &result), 0);
	dplb_control_result_free(&result);
	cr_assert_eq(dplb_control_remove_backend(&ctx, "web", AT("10.0.1.2"), &result), 0);
	dplb_control_result_free(&result);
	text = file_text();
	cr_assert_not_null(strstr(text, "maglev_size = 251\nbackend = 10.0.1.1 weight=7\n"
					"backend = 10.0.1.3 weight=3\n\n[vip:solo]"),
			   "%s", text);
	free(text);
	cr_assert_eq(dplb_control_reload(&ctx, &result), 0);
	cr_assert_eq(result.changes.count, 0, "the file and what serves differ");
}

Test(control, a_file_edited_behind_dplbs_back_refuses_changes)
{
	const struct dplb_backend_config backend = { .address = ip("10.0.1.3"), .weight = 1 };
	char text[1024], *now;

	snprintf(text, sizeof(text), "; edited\n%s", BASE);
	write_config(text);
	expect_refusal(dplb_control_add_backend(&ctx, "web", &backend, &result), -ESTALE,
		       "changed since dplb read it: reload it first");
	now = file_text();
	cr_assert_str_eq(now, text);
	free(now);
}

Test(control, a_change_that_fails_to_apply_puts_the_file_back)
{
	const struct dplb_backend_config backend = { .address = ip("10.0.1.3"), .weight = 1 };
	/* Ours only to change: what serves, as if it had been read from text. */
	struct dplb_config *config = (struct dplb_config *)serving()->config;
	char text[1024], *now;

	/* The file and what serves name a health_source no host has
	 * (203.0.113.0/24 is for documentation): the change is written, then
	 * applying it fails. */
	snprintf(text, sizeof(text), "%s\n[management]\nhealth_source = 203.0.113.254\n", BASE);
	write_config(text);
	config->file_size = strlen(text);
	config->file_hash = dplb_config_hash(DPLB_CONFIG_HASH_SEED, text, strlen(text));
	config->health_source = ip("203.0.113.254");
	expect_refusal(dplb_control_add_backend(&ctx, "web", &backend, &result), -EADDRNOTAVAIL,
		       "health_source 203.0.113.254 cannot be used");
	now = file_text();
	cr_assert_str_eq(now, text);
	free(now);
}

/* ---- changes whose tables are built off the management lcore ---------- */

/* The management loop's part: wait on the builder, tick until the change
 * in flight has ended. */
static void tick_until_idle(void)
{
	struct pollfd ready = { .fd = dplb_state_builder_fd(ctx.builder), .events = POLLIN };

	while (dplb_control_busy(&ctx)) {
		cr_assert_geq(poll(&ready, 1, 60000), 0);
		dplb_management_tick(&ctx);
	}
}

Test(control, with_a_builder_a_change_ends_once_its_snapshot_serves)
{
	const struct dplb_backend_update update = { .set_weight = true, .weight = 7 };
	const struct dplb_backend_config backend = { .address = ip("10.0.1.3"), .weight = 1 };
	struct dplb_control_result other;
	const struct dplb_state *before = serving();
	char error[DPLB_ERROR_MAX], *text;

	ctx.builder = dplb_state_builder_create();
	cr_assert_not_null(ctx.builder);
	cr_assert_eq(dplb_control_update_backend(&ctx, "web", AT("10.0.1.1"), &update, &result),
		     -EINPROGRESS);
	cr_assert(result.in_progress);
	cr_assert(dplb_control_busy(&ctx));
	/* Nothing serves before the management lcore publishes it, however
	 * soon the tables are built. */
	cr_assert_eq(serving(), before);
	cr_assert_eq(ctx.generation, 1);

	/* One change at a time: the others are turned away untouched. */
	cr_assert_eq(dplb_control_add_backend(&ctx, "web", &backend, &other), -EBUSY);
	cr_assert_not_null(strstr(other.errors.messages[0], "another change"));
	dplb_control_result_free(&other);
	cr_assert_eq(dplb_control_reload(&ctx, &other), -EBUSY);
	dplb_control_result_free(&other);
	cr_assert_eq(ctx.reloads_failed, 0, "a reload not tried counted as refused");
	cr_assert_eq(dplb_management_republish(&ctx), -EBUSY);
	cr_assert_eq(dplb_apply_config(&ctx, dplb_config_clone(before->config), error), -EBUSY);

	tick_until_idle();
	cr_assert_not(result.in_progress);
	cr_assert_eq(result.status, 0);
	cr_assert(result.applied);
	cr_assert_eq(result.generation, 2);
	cr_assert_str_eq(result.changes.items[0].fields, "weight");
	cr_assert_eq(serving()->generation, 2);
	cr_assert_eq(backend_in("web", "10.0.1.1")->weight, 7);
	text = file_text();
	cr_assert_not_null(strstr(text, "backend = 10.0.1.1 weight=7\n"), "%s", text);
	free(text);
	dplb_control_result_free(&result);

	/* A reload ends the same way, counted and logged as ever. */
	write_config("[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:01\n\n"
		     "[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 251\n"
		     "backend = 10.0.1.1 weight=4\n");
	cr_assert_eq(dplb_control_reload(&ctx, &result), -EINPROGRESS);
	cr_assert_eq(ctx.reloads_ok, 0);
	tick_until_idle();
	cr_assert_eq(result.status, 0);
	cr_assert_eq(result.generation, 3);
	cr_assert_eq(result.changes.count, 3);
	cr_assert_eq(ctx.reloads_ok, 1);
	cr_assert_null(backend_in("web", "10.0.1.2"));
	dplb_control_result_free(&result);

	/* Refused before any table is built: it ends at once. */
	write_config("[dataplane]\naddress = 10.0.0.1\n[vip:web]\n");
	cr_assert_eq(dplb_control_reload(&ctx, &result), -EINVAL);
	cr_assert_not(result.in_progress);
	cr_assert_not(dplb_control_busy(&ctx));
	cr_assert_eq(ctx.reloads_failed, 1);
	dplb_control_result_free(&result);

	/* Health and next hops republish small tables at once, so that a
	 * health change serves before the API can show it (big ones go to
	 * the builder: tests/control/test_big_reload.py). */
	cr_assert_eq(dplb_management_republish(&ctx), 0);
	cr_assert_not(dplb_control_busy(&ctx));
	cr_assert_eq(ctx.generation, 4);
	cr_assert_eq(serving()->generation, 4);
}

/* IPv6 VIPs and backends through a reload and the control API; ARP is
 * asked for IPv4 next hops only (an IPv6 one is neighbour discovery's). */
Test(control, ipv6_backends_changed_and_never_asked_for_by_arp)
{
	const char *const text =
		"[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n\n"
		"[vip:web6]\naddress = 2001:db8:ff::1\nport = 80\nmaglev_size = 251\n"
		"backend = 10.0.1.1\nbackend = 2001:db8::21\nbackend = 2001:db8::22\n";
	struct dplb_backend_config at = { .weight = 1, .state = DPLB_BACKEND_UP };
	const struct dplb_backend_update update = { .set_weight = true, .weight = 7 };
	char text_address[INET6_ADDRSTRLEN];

	write_config(text);
	cr_assert_eq(dplb_control_reload(&ctx, &result), 0, "%s",
		     result.errors.count ? result.errors.messages[0] : "");
	dplb_control_result_free(&result);
	/* One next hop wanted by ARP: 10.0.1.1's (no gateway_mac, on-link);
	 * the IPv6 ones by ND. */
	uint32_t due[4];
	cr_assert_eq(ctx.neighbors->count, 1);
	cr_assert_eq(dplb_neighbors_due(ctx.neighbors, 1000, due, 4), 1);
	cr_assert_eq(due[0], ip("10.0.1.1"));
	cr_assert_eq(ctx.neighbors6->table.count, 2);

	cr_assert_null(dplb_parse_ip("2001:db8::23", 12, &at.family, &at.address, at.address6));
	cr_assert_eq(dplb_control_add_backend(&ctx, "web6", &at, &result), 0);
	dplb_control_result_free(&result);
	cr_assert_eq(ctx.neighbors->count, 1, "ARP asked for an IPv6 backend");
	cr_assert_eq(ctx.neighbors6->table.count, 3, "ND asks for the new IPv6 backend");
	cr_assert_null(dplb_parse_ip("2001:db8::21", 12, &at.family, &at.address, at.address6));
	cr_assert_eq(dplb_control_update_backend(&ctx, "web6", &at, &update, &result), 0);
	cr_assert_eq(result.changes.count, 1);
	cr_assert_str_eq(dplb_backend_address_text(&result.changes.items[0].after, text_address),
			 "2001:db8::21");
	dplb_control_result_free(&result);
	cr_assert_null(dplb_parse_ip("2001:db8::22", 12, &at.family, &at.address, at.address6));
	cr_assert_eq(dplb_control_remove_backend(&ctx, "web6", &at, &result), 0);
	dplb_control_result_free(&result);
	/* Gone already; and an IPv4 address is another backend. */
	cr_assert_eq(dplb_control_remove_backend(&ctx, "web6", &at, &result), -ENOENT);
	cr_assert_str_eq(result.errors.messages[0], "vip web6 has no backend 2001:db8::22");
	dplb_control_result_free(&result);
	cr_assert_eq(dplb_control_remove_backend(&ctx, "web6", AT("32.1.13.184"), &result),
		     -ENOENT);
	cr_assert_str_eq(result.errors.messages[0], "vip web6 has no backend 32.1.13.184");
	dplb_control_result_free(&result);

	const struct dplb_vip_entry *vip = test_vip_named(serving(), "web6");
	cr_assert_eq(vip->family, AF_INET6);
	cr_assert_eq(vip->backend_count, 3);
	cr_assert_eq(serving()->backends[vip->backend_ids[1]].weight, 7);
	cr_assert_eq(serving()->backends[vip->backend_ids[2]].family, AF_INET6);
	cr_assert_eq(ctx.neighbors->count, 1);
}

/* ---- what workers hand the management lcore ----------------------------- */

/* A neighbor advertisement for target, from the link (hop limit 255), to
 * dst, with the target's link-layer option, its checksum made. */
static struct rte_mbuf *advertisement(struct rte_mempool *pool, const char *target, const char *dst)
{
	enum { ND_LENGTH = 8 + 16 + 8 };
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	cr_assert_not_null(m);
	uint8_t *frame = (uint8_t *)rte_pktmbuf_append(
		m, sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + ND_LENGTH);
	cr_assert_not_null(frame);
	memset(frame, 0, rte_pktmbuf_data_len(m));
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	uint8_t *nd = (uint8_t *)(ip6 + 1);

	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	eth->src_addr.addr_bytes[0] = 0x02;
	eth->src_addr.addr_bytes[5] = 0x42;
	ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(ND_LENGTH);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = 255;
	cr_assert_eq(inet_pton(AF_INET6, target, ip6->src_addr), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, ip6->dst_addr), 1);
	nd[0] = 136;  /* neighbor advertisement */
	nd[4] = 0x60; /* solicited, override */
	memcpy(nd + 8, ip6->src_addr, 16);
	nd[24] = 2; /* target link-layer address, 8 bytes */
	nd[25] = 1;
	memcpy(nd + 26, eth->src_addr.addr_bytes, 6);
	const uint16_t sum = rte_ipv6_udptcp_cksum(ip6, nd);
	memcpy(nd + 2, &sum, sizeof(sum));
	return m;
}

/*
 * A worker's neighbor advertisements are the management lcore's once
 * handed over: each is freed exactly once, whether or not it teaches
 * anything. A pool without a cache shows it: its ring holds one object
 * more for each mbuf freed twice. (Without an exception path, as here,
 * none is passed on: the e2e tests pass them to a tap.)
 */
Test(control, advertisements_from_workers_are_freed_once)
{
	enum { POOL_SIZE = 16 };
	struct rte_mempool *pool = rte_pktmbuf_pool_create(
		"test_nd_pool", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	struct dplb_worker *workers = calloc(1, sizeof(*workers));

	cr_assert(pool != NULL && workers != NULL);
	workers[0].to_management = rte_ring_create("test_to_management", 8, SOCKET_ID_ANY,
						   RING_F_SP_ENQ | RING_F_SC_DEQ);
	cr_assert_not_null(workers[0].to_management);
	ctx.workers = workers;
	ctx.worker_count = 1;
	/* One answering an address, one announced to all nodes, one with a
	 * bad checksum: none wanted, none for a tap. */
	struct rte_mbuf *frames[3] = {
		advertisement(pool, "2001:db8::2", "2001:db8::1"),
		advertisement(pool, "2001:db8::3", "ff02::1"),
		advertisement(pool, "2001:db8::4", "2001:db8::1"),
	};
	rte_pktmbuf_mtod_offset(frames[2], uint8_t *,
				sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr))[2] ^= 1;
	cr_assert_eq(rte_ring_enqueue_bulk(workers[0].to_management, (void **)frames, 3, NULL), 3);
	cr_assert_eq(rte_mempool_avail_count(pool), POOL_SIZE - 3);

	dplb_management_tick(&ctx);
	cr_assert_eq(rte_ring_count(workers[0].to_management), 0);
	cr_assert_eq(rte_mempool_avail_count(pool), POOL_SIZE);
	ctx.workers = NULL;
	ctx.worker_count = 0;
	rte_ring_free(workers[0].to_management);
	free(workers);
	rte_mempool_free(pool);
}
