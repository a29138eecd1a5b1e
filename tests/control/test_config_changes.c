/*
 * Unit tests for configurations changed in memory, the ground the runtime
 * API stands on: dplb_config_clone (deep, independent copies),
 * dplb_config_validate (the loader's own rules, without a file) and
 * dplb_config_diff (what a change changed).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/config.h"
#include "control/config_diff.h"

static const char *const BASE =
	"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:01\n\n"
	"[management]\nlisten = 127.0.0.1:9000\n\n"
	"[vip:a]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
	"backend = 10.0.0.2\nbackend = 10.0.0.3 weight=2\nbackend = 10.0.0.4 state=drain\n\n"
	"[vip:b]\naddress = 10.0.0.101\nport = 53\nprotocol = udp\nbackend = 10.0.0.5\n";

static uint32_t ip(const char *text)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, text, &a), 1, "bad test address %s", text);
	return a.s_addr;
}

static char tmp_path[64];

/* Load text through the real loader; NULL with errs filled when refused. */
static struct dplb_config *load_text(const char *text, struct dplb_config_errors *errs)
{
	struct dplb_config *config = NULL;
	FILE *f;
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/dplb-changes-XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	dplb_config_load(tmp_path, &config, errs);
	unlink(tmp_path);
	return config;
}

static struct dplb_config *load_base(void)
{
	struct dplb_config_errors errs;
	struct dplb_config *config = load_text(BASE, &errs);

	cr_assert_not_null(config, "base refused: %s", errs.messages[0]);
	return config;
}

static struct dplb_vip_config *vip_a(struct dplb_config *config)
{
	return &config->vips[0];
}

static void expect_refused(const struct dplb_config *config, const char *message)
{
	struct dplb_config_errors errs;

	cr_assert_eq(dplb_config_validate(config, &errs), -EINVAL);
	for (uint32_t i = 0; i < errs.count; i++)
		if (strcmp(errs.messages[i], message) == 0)
			return;
	cr_assert_fail("no error \"%s\" among %u, first \"%s\"", message, errs.count,
		       errs.count ? errs.messages[0] : "");
}

static void append_backend(struct dplb_vip_config *vip, const char *address, uint32_t weight)
{
	vip->backends = realloc(vip->backends, (vip->backend_count + 1) * sizeof(*vip->backends));
	cr_assert_not_null(vip->backends);
	vip->backends[vip->backend_count++] = (struct dplb_backend_config){
		.address = ip(address),
		.weight = weight,
		.state = DPLB_BACKEND_UP,
	};
}

/* ---- clone ----------------------------------------------------------------- */

Test(config_clone, is_equal_and_independent)
{
	struct dplb_config *config = load_base(), *copy = dplb_config_clone(config);
	struct dplb_change_list diff = { 0 };

	cr_assert_not_null(copy);
	cr_assert_eq(copy->vip_count, 2);
	cr_assert_neq(copy->vips, config->vips);
	cr_assert_neq(copy->vips[0].backends, config->vips[0].backends);
	cr_assert_eq(dplb_config_diff(config, copy, &diff), 0);
	cr_assert_eq(diff.count, 0, "a clone differs from its original");

	copy->vips[0].backends[0].weight = 9;
	strcpy(copy->vips[1].name, "renamed");
	cr_assert_eq(config->vips[0].backends[0].weight, 1);
	cr_assert_str_eq(config->vips[1].name, "b");
	dplb_config_free(config);
	/* The copy outlives its original. */
	cr_assert_eq(copy->vips[0].backends[1].weight, 2);
	dplb_config_free(copy);
}

/* ---- validate ---------------------------------------------------------------- */

Test(config_validate, accepts_what_the_loader_accepts)
{
	struct dplb_config *config = load_base();
	struct dplb_config_errors errs;

	cr_assert_eq(dplb_config_validate(config, &errs), 0, "%s", errs.messages[0]);
	cr_assert_eq(errs.count, 0);
	dplb_config_free(config);
}

Test(config_validate, refuses_what_the_loader_refuses)
{
	struct dplb_config *config = load_base();

	/* The loader's messages, without a file or line: none of them came
	 * from the file. */
	append_backend(vip_a(config), "10.0.0.3", 1);
	expect_refused(config, "backend in [vip:a]: duplicate backend 10.0.0.3");
	vip_a(config)->backend_count--;

	vip_a(config)->backends[0].weight = 0;
	expect_refused(config, "backend in [vip:a]: weight 0 is out of range (1..65535)");
	vip_a(config)->backends[0].weight = DPLB_MAX_WEIGHT + 1;
	expect_refused(config, "backend in [vip:a]: weight 65536 is out of range (1..65535)");
	vip_a(config)->backends[0].weight = 1;

	vip_a(config)->backends[1].address = 0;
	expect_refused(config, "backend in [vip:a]: 0.0.0.0 is not a usable address");
	vip_a(config)->backends[1].address = ip("10.0.0.3");

	vip_a(config)->backends[2].state = (enum dplb_backend_state)7;
	expect_refused(config, "backend in [vip:a]: unknown state 7");
	vip_a(config)->backends[2].state = DPLB_BACKEND_DOWN;

	for (int i = 0; i < 5; i++) {
		char address[16];

		snprintf(address, sizeof(address), "10.0.1.%d", i + 1);
		append_backend(vip_a(config), address, 1);
	}
	expect_refused(config, "maglev_size 7 in [vip:a] is smaller than its 8 backends");
	vip_a(config)->backend_count = 0;
	expect_refused(config, "[vip:a] has no backends");
	vip_a(config)->backend_count = 3;

	config->vips[1].address = config->vips[0].address;
	config->vips[1].port = config->vips[0].port;
	config->vips[1].protocol = config->vips[0].protocol;
	cr_assert_eq(dplb_config_validate(config, NULL), -EINVAL);
	config->vips[1].address = ip("10.0.0.101");
	cr_assert_eq(dplb_config_validate(config, NULL), 0);
	dplb_config_free(config);
}

/* One rule, two ways in: the file's message is the in-memory one behind
 * "FILE:LINE: ". */
Test(config_validate, same_words_as_the_loader)
{
	static const char *const bad =
		"[dataplane]\naddress = 10.0.0.1\n\n[vip:a]\naddress = 10.0.0.100\n"
		"backend = 10.0.0.2\nbackend = 10.0.0.2\n";
	struct dplb_config_errors from_file, from_memory;
	struct dplb_config *config = load_text(bad, &from_file);
	const char *problem;

	cr_assert_null(config);
	cr_assert_eq(from_file.count, 1);
	config = load_base();
	append_backend(vip_a(config), "10.0.0.2", 1);
	cr_assert_eq(dplb_config_validate(config, &from_memory), -EINVAL);
	cr_assert_eq(from_memory.count, 1);
	problem = strstr(from_file.messages[0], ":7: ");
	cr_assert_not_null(problem, "%s", from_file.messages[0]);
	cr_assert_str_eq(problem + 4, "backend in [vip:a]: duplicate backend 10.0.0.2 "
				      "(first at line 6)");
	cr_assert_str_eq(from_memory.messages[0], "backend in [vip:a]: duplicate backend 10.0.0.2");
	dplb_config_free(config);
}

/* ---- diff ---------------------------------------------------------------------- */

static const struct dplb_change *only_change(const struct dplb_change_list *diff,
					     enum dplb_change_kind kind)
{
	cr_assert_eq(diff->count, 1, "%u changes", diff->count);
	cr_assert_eq(diff->items[0].kind, kind, "kind %s",
		     dplb_change_kind_name(diff->items[0].kind));
	return &diff->items[0];
}

Test(config_diff, names_each_kind_of_change)
{
	struct dplb_config *before = load_base(), *after;
	struct dplb_change_list diff = { 0 };
	const struct dplb_change *c;

	after = dplb_config_clone(before);
	vip_a(after)->backends[1].weight = 5;
	vip_a(after)->backends[1].state = DPLB_BACKEND_DOWN;
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	c = only_change(&diff, DPLB_CHANGE_BACKEND_MODIFIED);
	cr_assert_str_eq(c->vip, "a");
	cr_assert_str_eq(c->fields, "weight,state");
	cr_assert_eq(c->before.weight, 2);
	cr_assert_eq(c->after.weight, 5);
	cr_assert_eq(c->after.address, ip("10.0.0.3"));
	dplb_change_list_free(&diff);
	dplb_config_free(after);

	after = dplb_config_clone(before);
	vip_a(after)->backends[0].has_mac = true;
	vip_a(after)->backends[0].mac[0] = 2;
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_str_eq(only_change(&diff, DPLB_CHANGE_BACKEND_MODIFIED)->fields, "mac");
	dplb_change_list_free(&diff);
	dplb_config_free(after);

	after = dplb_config_clone(before);
	append_backend(vip_a(after), "10.0.0.9", 3);
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(only_change(&diff, DPLB_CHANGE_BACKEND_ADDED)->after.weight, 3);
	dplb_change_list_free(&diff);
	/* The other way round, the same backend went away. */
	cr_assert_eq(dplb_config_diff(after, before, &diff), 0);
	cr_assert_eq(only_change(&diff, DPLB_CHANGE_BACKEND_REMOVED)->before.address,
		     ip("10.0.0.9"));
	dplb_change_list_free(&diff);
	dplb_config_free(after);

	after = dplb_config_clone(before);
	after->tcp_timeout = 60;
	after->listen_port = 9001;
	snprintf(after->listen_address, sizeof(after->listen_address), "0.0.0.0");
	vip_a(after)->scheduler = DPLB_SCHED_SOURCE_HASH;
	after->vip_count = 1; /* b goes (the clone still frees it: count is back below) */
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 3);
	cr_assert_eq(diff.items[0].kind, DPLB_CHANGE_SETTINGS);
	cr_assert_str_eq(diff.items[0].fields, "tcp_timeout,listen");
	cr_assert_eq(diff.items[1].kind, DPLB_CHANGE_VIP_MODIFIED);
	cr_assert_str_eq(diff.items[1].fields, "scheduler");
	cr_assert_eq(diff.items[2].kind, DPLB_CHANGE_VIP_REMOVED);
	cr_assert_str_eq(diff.items[2].vip, "b");
	dplb_change_list_free(&diff);
	cr_assert_eq(dplb_config_diff(after, before, &diff), 0);
	cr_assert_eq(diff.items[diff.count - 1].kind, DPLB_CHANGE_VIP_ADDED);
	dplb_change_list_free(&diff);
	after->vip_count = 2;
	dplb_config_free(after);
	dplb_config_free(before);
}

Test(config_diff, marks_the_keys_that_need_a_restart)
{
	struct dplb_config *before = load_base(), *after = dplb_config_clone(before);
	char keys[64];

	after->tcp_timeout = 60;
	/* Routes move to another table, and SIGTERM reads drain_seconds when it comes. */
	after->announce_table = 7;
	after->drain_seconds = 1;
	/* The management lcore reads exception_rate from each snapshot. */
	after->exception_rate = 500;
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 0);
	cr_assert_str_eq(keys, "");
	after->mtu = 1400;
	after->mbufs = 20000;
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 2);
	cr_assert_str_eq(keys, "mtu,mbufs");
	dplb_config_free(after);

	/* One more port: the ids already listed are the same, the count is not. */
	after = dplb_config_clone(before);
	after->port_ids[after->port_count++] = 0;
	after->port_ids[0] = 1;
	before->port_ids[0] = 1;
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 1);
	cr_assert_str_eq(keys, "ports");
	after->flow_table_size *= 2;
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 2);
	cr_assert_str_eq(keys, "ports,flow_table_size");
	after->flow_table_size6 *= 2;
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 3);
	cr_assert_str_eq(keys, "ports,flow_table_size,flow_table_size6");
	dplb_config_free(after);

	/* The taps are made at start-up. */
	after = dplb_config_clone(before);
	after->exception_path = DPLB_EXCEPTION_TAP;
	snprintf(after->exception_interface, sizeof(after->exception_interface), "lb0");
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 2);
	cr_assert_str_eq(keys, "exception_path,exception_interface");
	dplb_config_free(after);
	dplb_config_free(before);
}

Test(config_diff, matches_thousands_of_backends_by_address)
{
	struct dplb_config *before = load_base(), *after;
	struct dplb_change_list diff = { 0 };
	char address[16];

	vip_a(before)->backend_count = 0;
	vip_a(before)->maglev_size = 65537;
	for (int i = 0; i < DPLB_MAX_BACKENDS_PER_VIP; i++) {
		snprintf(address, sizeof(address), "10.%d.%d.%d", 1 + i / 65536, i / 256 % 256,
			 i % 256);
		append_backend(vip_a(before), address, 1);
	}
	cr_assert_eq(dplb_config_validate(before, NULL), 0);
	after = dplb_config_clone(before);
	/* Same set in reverse order: no change. */
	for (uint32_t i = 0; i < vip_a(after)->backend_count; i++)
		vip_a(after)->backends[i] =
			vip_a(before)->backends[vip_a(before)->backend_count - 1 - i];
	vip_a(after)->backends[17].weight = 4;
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(only_change(&diff, DPLB_CHANGE_BACKEND_MODIFIED)->after.weight, 4);
	dplb_change_list_free(&diff);
	dplb_config_free(after);
	dplb_config_free(before);
}

Test(config_diff, names_the_protection_keys)
{
	struct dplb_config *before = load_base(), *after;
	struct dplb_change_list diff = { 0 };
	struct dplb_prefix net;

	cr_assert_null(dplb_parse_prefix("10.0.0.0/8", 10, &net));
	after = dplb_config_clone(before);
	cr_assert_not_null(after);
	/* A list is compared by its prefixes, not by where they are kept. */
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 0);
	vip_a(after)->allow.items = realloc(vip_a(after)->allow.items, sizeof(net));
	vip_a(after)->allow.items[0] = net;
	vip_a(after)->allow.count = 1;
	vip_a(after)->new_flow_rate = 100;
	vip_a(after)->rate_limit_action = DPLB_RATE_LIMIT_STATELESS;
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 1);
	cr_assert_eq(diff.items[0].kind, DPLB_CHANGE_VIP_MODIFIED);
	cr_assert_str_eq(diff.items[0].fields, "allow,new_flow_rate,rate_limit_action");
	dplb_change_list_free(&diff);
	/* The same list, another prefix: a change still. */
	dplb_config_free(before);
	before = dplb_config_clone(after);
	cr_assert_null(dplb_parse_prefix("10.0.0.0/9", 10, &vip_a(after)->allow.items[0]));
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 1);
	cr_assert_str_eq(diff.items[0].fields, "allow");
	dplb_change_list_free(&diff);
	dplb_config_free(before);
	dplb_config_free(after);
}

Test(config_diff, names_mss_clamp_and_a_reload_takes_it)
{
	struct dplb_config *before = load_base(), *after;
	struct dplb_change_list diff = { 0 };
	char keys[64];

	after = dplb_config_clone(before);
	cr_assert_not_null(after);
	vip_a(after)->mss_clamp = 1400;
	cr_assert_eq(dplb_config_validate(after, NULL), 0);
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 1);
	cr_assert_eq(diff.items[0].kind, DPLB_CHANGE_VIP_MODIFIED);
	cr_assert_str_eq(diff.items[0].fields, "mss_clamp");
	dplb_change_list_free(&diff);
	/* Workers read it from the next snapshot: no restart. */
	cr_assert_eq(dplb_config_diff_needs_restart(before, after, keys, sizeof(keys)), 0);
	dplb_config_free(before);
	dplb_config_free(after);
}

/* A backend is its VIP and its address, of either family: an IPv6 backend
 * and an IPv4 one never match, whatever their bytes. */
Test(config_diff, matches_backends_of_either_family_by_address)
{
	static const char text[] = "[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n"
				   "[vip:six]\naddress = 2001:db8:ff::1\n"
				   "backend = 2001:db8::21\nbackend = 32.1.13.184\n"
				   "backend = 2001:db8::22 weight=2\n";
	struct dplb_config_errors errs;
	struct dplb_config *before = load_text(text, &errs), *after;
	struct dplb_change_list diff = { 0 };
	char address[46];

	cr_assert_not_null(before, "%s", errs.messages[0]);
	after = dplb_config_clone(before);
	/* The IPv6 backend weighs more; the IPv4 one (20.01.0d.b8: the first
	 * bytes of 2001:db8::) goes, and another IPv6 one comes. */
	after->vips[0].backends[2].weight = 5;
	after->vips[0].backends[1] = after->vips[0].backends[0];
	after->vips[0].backends[1].address6[15] = 0x23;
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 3);
	cr_assert_eq(diff.items[0].kind, DPLB_CHANGE_BACKEND_ADDED);
	cr_assert_str_eq(dplb_backend_address_text(&diff.items[0].after, address), "2001:db8::23");
	cr_assert_eq(diff.items[1].kind, DPLB_CHANGE_BACKEND_MODIFIED);
	cr_assert_str_eq(diff.items[1].fields, "weight");
	cr_assert_str_eq(dplb_backend_address_text(&diff.items[1].after, address), "2001:db8::22");
	cr_assert_eq(diff.items[2].kind, DPLB_CHANGE_BACKEND_REMOVED);
	cr_assert_str_eq(dplb_backend_address_text(&diff.items[2].before, address), "32.1.13.184");
	dplb_change_list_free(&diff);

	/* The VIP's address and the IPv6 settings are named as in the file. */
	dplb_config_free(after);
	after = dplb_config_clone(before);
	after->vips[0].address6[15] = 2;
	after->prefix_length6 = 64;
	after->has_gateway6 = true;
	after->gateway6[0] = 0xfe;
	cr_assert_eq(dplb_config_diff(before, after, &diff), 0);
	cr_assert_eq(diff.count, 2);
	cr_assert_eq(diff.items[0].kind, DPLB_CHANGE_SETTINGS);
	cr_assert_str_eq(diff.items[0].fields, "gateway6,prefix_length6");
	cr_assert_eq(diff.items[1].kind, DPLB_CHANGE_VIP_MODIFIED);
	cr_assert_str_eq(diff.items[1].fields, "address");
	dplb_change_list_free(&diff);
	dplb_config_free(after);
	dplb_config_free(before);
}
