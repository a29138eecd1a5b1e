/*
 * Unit tests for the configuration loader (lib/control/config.c).
 *
 * Fixtures live in configs/ (the test runs with tests/control as its working
 * directory). Each bad fixture is checked for the exact number of errors,
 * so a new spurious message fails a test just as a missing one does, and
 * each expected error for its file, line and wording. Small variations
 * (port lists, listen addresses) are written to temporary files instead.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/config.h"

#define CONFIGS "configs/"

/* Stands for "whatever the caller had": a failed load must not touch it. */
static struct dplb_config untouched;

static uint32_t ip(const char *text)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, text, &a), 1, "bad test address %s", text);
	return a.s_addr;
}

static const char *all_messages(const struct dplb_config_errors *errs)
{
	static char buf[sizeof(errs->messages) + 64];
	size_t used = 0;
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < errs->count && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "\n  %s",
					 errs->messages[i]);
	return buf;
}

static struct dplb_config *load_good(const char *path)
{
	struct dplb_config *config = NULL;
	struct dplb_config_errors errs;
	int rc;

	rc = dplb_config_load(path, &config, &errs);
	cr_assert_eq(rc, 0, "%s: rc %d, errors:%s", path, rc, all_messages(&errs));
	cr_assert_eq(errs.count, 0);
	cr_assert_eq(errs.dropped, 0);
	cr_assert_not_null(config);
	return config;
}

/* Load a file that must be refused with want_rc, leaving *out alone. */
static void load_bad_rc(const char *path, struct dplb_config_errors *errs, int want_rc)
{
	struct dplb_config *config = &untouched;
	int rc;

	rc = dplb_config_load(path, &config, errs);
	cr_assert_eq(rc, want_rc, "%s: rc %d, want %d, errors:%s", path, rc, want_rc,
		     all_messages(errs));
	cr_assert_eq(config, &untouched, "a failed load changed *out");
	cr_assert_gt(errs->count, 0, "%s: refused without saying why", path);
}

static void load_bad(const char *path, struct dplb_config_errors *errs)
{
	load_bad_rc(path, errs, -EINVAL);
}

/* One of the messages is "PATH:LINE: ..." (or "PATH: ..." for line 0) and
 * contains needle. */
static void expect_error(const struct dplb_config_errors *errs, const char *path, int line,
			 const char *needle)
{
	char prefix[256];
	uint32_t i;

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	for (i = 0; i < errs->count; i++)
		if (!strncmp(errs->messages[i], prefix, strlen(prefix)) &&
		    strstr(errs->messages[i] + strlen(prefix), needle))
			return;
	cr_assert_fail("no error \"%s...%s\" among:%s", prefix, needle, all_messages(errs));
}

static void expect_count(const struct dplb_config_errors *errs, uint32_t count)
{
	cr_assert_eq(errs->count, count, "%u errors, want %u:%s", errs->count, count,
		     all_messages(errs));
	cr_assert_eq(errs->dropped, 0);
}

/* Errors come out sorted by line, file-wide ones (no line) last. */
static void expect_file_order(const struct dplb_config_errors *errs)
{
	long prev = 0, line;
	uint32_t i;
	char *colon;

	for (i = 0; i < errs->count; i++) {
		colon = strchr(errs->messages[i], ':');
		cr_assert_not_null(colon);
		line = strtol(colon + 1, NULL, 10);
		if (line == 0)
			line = 1L << 30;
		cr_assert_geq(line, prev, "out of order:%s", all_messages(errs));
		prev = line;
	}
}

/* ---- temporary files for small variations ----------------------------- */

static char tmp_path[64];

static void write_tmp(const char *text)
{
	FILE *f;
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/dplb-test-config-XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

static void remove_tmp(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
	tmp_path[0] = '\0';
}

/* A valid file with one [dataplane] line replaced; that line is line 3. */
static void write_with_dataplane_line(const char *line)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "[dataplane]\naddress = 10.0.0.1\n%s\n\n[vip:a]\naddress = 10.0.0.100\n"
		 "backend = 10.0.0.2\n",
		 line);
	write_tmp(text);
}

/* Same with one [management] line, which is line 5. */
static void write_with_management_line(const char *line)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "[dataplane]\naddress = 10.0.0.1\n\n[management]\n%s\n\n[vip:a]\n"
		 "address = 10.0.0.100\nbackend = 10.0.0.2\n",
		 line);
	write_tmp(text);
}

/* ---- good files -------------------------------------------------------- */

Test(config_good, full_file_every_value)
{
	struct dplb_config *c = load_good(CONFIGS "full.ini");
	const uint8_t gw_mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x0e };
	const uint8_t b_mac[6] = { 0x02, 0, 0, 0, 0, 0x21 };
	const struct dplb_vip_config *v;

	cr_assert_str_eq(c->path, CONFIGS "full.ini");
	cr_assert_eq(c->port_count, 3);
	cr_assert_eq(c->port_ids[0], 1);
	cr_assert_eq(c->port_ids[1], 3);
	cr_assert_eq(c->port_ids[2], 2);
	cr_assert_eq(c->address, ip("192.0.2.10"));
	cr_assert_eq(c->gateway, ip("192.0.2.1"));
	cr_assert(c->has_gateway_mac);
	cr_assert_arr_eq(c->gateway_mac, gw_mac, 6);
	cr_assert_eq(c->flow_table_size, 2048);
	cr_assert_eq(c->tcp_timeout, 600);
	cr_assert_eq(c->tcp_syn_timeout, 3);
	cr_assert_eq(c->udp_timeout, 45);
	cr_assert_eq(c->gue_port, 7000);
	cr_assert_eq(c->mtu, 9000);
	cr_assert_str_eq(c->listen_address, "0.0.0.0");
	cr_assert_eq(c->listen_port, 9090);
	cr_assert_str_eq(c->token_file, "configs/token.txt");

	cr_assert_eq(c->vip_count, 4);
	v = &c->vips[0];
	cr_assert_str_eq(v->name, "web-1.a_b");
	cr_assert_eq(v->line, 18);
	cr_assert_eq(v->address, ip("198.51.100.1"));
	cr_assert_eq(v->port, 443);
	cr_assert_eq(v->protocol, DPLB_PROTO_UDP);
	cr_assert_eq(v->scheduler, DPLB_SCHED_SOURCE_HASH);
	cr_assert_eq(v->encap, DPLB_ENCAP_GUE);
	cr_assert_eq(v->maglev_size, 7);
	cr_assert_eq(v->health.check, DPLB_HEALTH_HTTP);
	cr_assert_str_eq(v->health.http_path, "/healthz?full=1");
	cr_assert_eq(v->health.interval_ms, 250);
	cr_assert_eq(v->backend_count, 3);
	cr_assert_eq(v->backends[0].address, ip("192.0.2.21"));
	cr_assert_eq(v->backends[0].weight, 65535);
	cr_assert_eq(v->backends[0].state, DPLB_BACKEND_DRAIN);
	cr_assert(v->backends[0].has_mac);
	cr_assert_arr_eq(v->backends[0].mac, b_mac, 6);
	cr_assert_eq(v->backends[0].line, 27);
	cr_assert_eq(v->backends[1].address, ip("192.0.2.22"));
	cr_assert_eq(v->backends[1].weight, 7);
	cr_assert_eq(v->backends[1].state, DPLB_BACKEND_DOWN);
	cr_assert_not(v->backends[1].has_mac);
	cr_assert_eq(v->backends[2].address, ip("192.0.2.23"));
	cr_assert_eq(v->backends[2].weight, 1);
	cr_assert_eq(v->backends[2].state, DPLB_BACKEND_UP);
	cr_assert_eq(v->backends[2].line, 29);

	v = &c->vips[1];
	cr_assert_str_eq(v->name, "all-ports");
	cr_assert_eq(v->address, ip("198.51.100.1"));
	cr_assert_eq(v->port, 0);
	cr_assert_eq(v->protocol, DPLB_PROTO_TCP);
	cr_assert_eq(v->scheduler, DPLB_SCHED_LEAST_CONNECTIONS);
	cr_assert_eq(v->health.check, DPLB_HEALTH_TCP);

	v = &c->vips[2];
	cr_assert_str_eq(v->name, "rr");
	cr_assert_eq(v->port, 0);
	cr_assert_eq(v->scheduler, DPLB_SCHED_ROUND_ROBIN);
	cr_assert_eq(v->health.check, DPLB_HEALTH_NONE);

	v = &c->vips[3];
	cr_assert_str_eq(v->name, "wrr");
	cr_assert_eq(v->port, 65535);
	cr_assert_eq(v->scheduler, DPLB_SCHED_WEIGHTED_ROUND_ROBIN);
	cr_assert_eq(v->maglev_size, 2, "2 is prime and equals the backend count");
	cr_assert_eq(v->backend_count, 2);
	dplb_config_free(c);
}

Test(config_good, defaults_applied)
{
	struct dplb_config *c = load_good(CONFIGS "minimal.ini");
	const struct dplb_vip_config *v;

	cr_assert_eq(c->port_count, 1);
	cr_assert_eq(c->port_ids[0], 0);
	cr_assert_eq(c->address, ip("10.0.0.1"));
	cr_assert_eq(c->gateway, 0);
	cr_assert_not(c->has_gateway_mac);
	cr_assert_eq(c->flow_table_size, DPLB_DEFAULT_FLOW_TABLE_SIZE);
	cr_assert_eq(c->flow_table_size, 1048576);
	cr_assert_eq(c->tcp_timeout, 300);
	cr_assert_eq(c->udp_timeout, 30);
	cr_assert_eq(c->tcp_closing_timeout, 10);
	cr_assert_eq(c->tcp_syn_timeout, 5);
	cr_assert_eq(c->gue_port, 6080);
	cr_assert_eq(c->mtu, 1500);
	cr_assert_str_eq(c->listen_address, "127.0.0.1");
	cr_assert_eq(c->listen_port, 8080);
	cr_assert_str_eq(c->token_file, "");
	cr_assert_eq(c->exception_path, DPLB_EXCEPTION_NONE);
	cr_assert_str_eq(c->exception_interface, "dplb0");
	cr_assert_eq(c->announce_table, 0);
	cr_assert_eq(c->drain_seconds, 5);
	cr_assert_eq(c->exception_rate, 10000);

	cr_assert_eq(c->vip_count, 1);
	v = &c->vips[0];
	cr_assert_str_eq(v->name, "only");
	cr_assert_eq(v->line, 4);
	cr_assert_eq(v->port, 0);
	cr_assert_eq(v->protocol, DPLB_PROTO_TCP);
	cr_assert_eq(v->scheduler, DPLB_SCHED_MAGLEV);
	cr_assert_eq(v->encap, DPLB_ENCAP_IPIP);
	cr_assert_eq(v->maglev_size, DPLB_DEFAULT_MAGLEV_SIZE);
	cr_assert_eq(v->health.check, DPLB_HEALTH_NONE);
	cr_assert_eq(v->health.interval_ms, 1000);
	cr_assert_eq(v->backend_count, 1);
	cr_assert_eq(v->backends[0].weight, 1);
	cr_assert_eq(v->backends[0].state, DPLB_BACKEND_UP);
	cr_assert_not(v->backends[0].has_mac);
	dplb_config_free(c);
}

Test(config_good, backends_keep_file_order)
{
	static const int order[] = { 9,	 3, 17, 1, 12, 5, 20, 2,  14, 8,
				     11, 4, 19, 6, 16, 7, 13, 10, 18, 15 };
	struct dplb_config *c = load_good(CONFIGS "many_backends.ini");
	const struct dplb_vip_config *v = &c->vips[0];
	char text[32];
	uint32_t i;

	cr_assert_eq(v->backend_count, 20);
	for (i = 0; i < 20; i++) {
		snprintf(text, sizeof(text), "10.0.1.%d", order[i]);
		cr_assert_eq(v->backends[i].address, ip(text), "backend %u is not %s", i, text);
		cr_assert_eq(v->backends[i].weight, (uint32_t)order[i] * 3);
		cr_assert_eq(v->backends[i].line, (int)i + 7);
	}
	dplb_config_free(c);
}

/* Indented keys must not become inih continuation lines, and BOM, CRLF,
 * tabs and inline comments of both kinds are tolerated. */
Test(config_good, bom_crlf_indentation_and_comments)
{
	struct dplb_config *c = load_good(CONFIGS "crlf_bom.ini");
	const struct dplb_vip_config *v;

	cr_assert_eq(c->address, ip("10.0.0.1"));
	cr_assert_eq(c->gateway, ip("10.0.0.254"));
	v = dplb_config_find_vip(c, "x");
	cr_assert_not_null(v, "padded [ vip:x ] header not recognised");
	cr_assert_eq(v->line, 6);
	cr_assert_eq(v->backend_count, 2);
	cr_assert_eq(v->backends[0].address, ip("10.0.0.2"));
	cr_assert_eq(v->backends[1].address, ip("10.0.0.3"));
	cr_assert_eq(v->backends[1].weight, 2);
	cr_assert_eq(v->backends[1].line, 9);
	cr_assert_str_eq(v->health.http_path, "/a#b", "a '#' inside a value is not a comment");
	dplb_config_free(c);
}

Test(config_good, example_config_loads)
{
	struct dplb_config *c = load_good("../../conf/example.ini");
	const struct dplb_vip_config *web, *dns;
	uint32_t i;

	cr_assert_eq(c->port_count, 1, "the example is one-armed");
	cr_assert_eq(c->port_ids[0], 0);
	cr_assert_neq(c->address, 0);
	cr_assert_eq(c->vip_count, 2);

	web = dplb_config_find_vip(c, "web");
	cr_assert_not_null(web);
	cr_assert_eq(web->protocol, DPLB_PROTO_TCP);
	cr_assert_eq(web->encap, DPLB_ENCAP_IPIP);
	cr_assert_eq(web->scheduler, DPLB_SCHED_MAGLEV);
	cr_assert_geq(web->backend_count, 2);
	for (i = 1; i < web->backend_count; i++)
		if (web->backends[i].weight != web->backends[0].weight)
			break;
	cr_assert_lt(i, web->backend_count, "web's backends should be weighted");

	dns = dplb_config_find_vip(c, "dns");
	cr_assert_not_null(dns);
	cr_assert_eq(dns->protocol, DPLB_PROTO_UDP);
	cr_assert_eq(dns->encap, DPLB_ENCAP_GUE);
	cr_assert_geq(dns->backend_count, 1);
	dplb_config_free(c);
}

Test(config_good, port_lists)
{
	static const struct {
		const char *line;
		uint32_t count;
		uint16_t ids[DPLB_MAX_PORTS];
	} cases[] = {
		{ "ports = 0", 1, { 0 } },
		{ "ports = 0,1", 2, { 0, 1 } },
		{ "ports = 1 0", 2, { 1, 0 } },
		{ "ports = 2 , 3,\t4", 3, { 2, 3, 4 } },
		{ "ports = 0 1 2 3 4 5 6 7", 8, { 0, 1, 2, 3, 4, 5, 6, 7 } },
		{ "ports = 65534", 1, { 65534 } },
	};
	struct dplb_config *c;
	size_t i;
	uint32_t j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_with_dataplane_line(cases[i].line);
		c = load_good(tmp_path);
		remove_tmp();
		cr_assert_eq(c->port_count, cases[i].count, "%s", cases[i].line);
		for (j = 0; j < cases[i].count; j++)
			cr_assert_eq(c->port_ids[j], cases[i].ids[j], "%s", cases[i].line);
		dplb_config_free(c);
	}
}

Test(config_good, listen_forms)
{
	struct dplb_config *c;

	write_with_management_line("listen = 10.1.2.3");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_str_eq(c->listen_address, "10.1.2.3");
	cr_assert_eq(c->listen_port, 8080, "the port defaults to 8080");
	dplb_config_free(c);

	write_with_management_line("listen = 127.0.0.1:1");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->listen_port, 1);
	dplb_config_free(c);
}

/* ---- files that cannot be read ---------------------------------------- */

Test(config_open, missing_file)
{
	struct dplb_config_errors errs;

	load_bad_rc(CONFIGS "does-not-exist.ini", &errs, -ENOENT);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0],
			 CONFIGS "does-not-exist.ini: cannot open: No such file or directory");
}

Test(config_open, directory)
{
	struct dplb_config_errors errs;

	load_bad_rc(CONFIGS, &errs, -EISDIR);
	expect_count(&errs, 1);
	expect_error(&errs, CONFIGS, 0, "cannot open: Is a directory");
}

Test(config_open, unreadable_file)
{
	struct dplb_config_errors errs;

	if (geteuid() == 0)
		cr_skip_test("root reads files whatever their mode");
	write_tmp("[dataplane]\naddress = 10.0.0.1\n");
	cr_assert_eq(chmod(tmp_path, 0), 0);
	load_bad_rc(tmp_path, &errs, -EACCES);
	expect_error(&errs, tmp_path, 0, "cannot open: Permission denied");
	remove_tmp();
}

Test(config_open, path_too_long)
{
	struct dplb_config_errors errs;
	char *path = malloc(DPLB_PATH_MAX + 10);

	cr_assert_not_null(path);
	memset(path, 'a', DPLB_PATH_MAX + 9);
	path[DPLB_PATH_MAX + 9] = '\0';
	load_bad_rc(path, &errs, -ENAMETOOLONG);
	/* The message shows the path's tail, and still says what is wrong. */
	cr_assert_eq(strncmp(errs.messages[0], "...aaa", 6), 0, "%s", errs.messages[0]);
	cr_assert_not_null(strstr(errs.messages[0], "aaa: cannot open: path too long"), "%s",
			   errs.messages[0]);
	free(path);
}

/* ---- files that are wrong ----------------------------------------------- */

Test(config_bad, empty_file)
{
	struct dplb_config_errors errs;

	load_bad(CONFIGS "empty.ini", &errs);
	expect_count(&errs, 2);
	expect_error(&errs, CONFIGS "empty.ini", 0, "no [dataplane] section");
	expect_error(&errs, CONFIGS "empty.ini", 0, "no [vip:NAME] sections");
}

Test(config_bad, no_vips)
{
	struct dplb_config_errors errs;

	load_bad(CONFIGS "no_vips.ini", &errs);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0],
			 CONFIGS "no_vips.ini: no [vip:NAME] sections: nothing to balance");
}

Test(config_bad, no_dataplane)
{
	struct dplb_config_errors errs;

	load_bad(CONFIGS "no_dataplane.ini", &errs);
	expect_count(&errs, 1);
	expect_error(&errs, CONFIGS "no_dataplane.ini", 0,
		     "no [dataplane] section (its \"address\" is required)");
}

Test(config_bad, unknown_section)
{
	const char *f = CONFIGS "unknown_section.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	/* Keys of an unknown section are not reported one by one. */
	expect_count(&errs, 2);
	expect_error(&errs, f, 8, "unknown section [backends]");
	expect_error(&errs, f, 10,
		     "unknown section [VIP:b] (expected [dataplane], "
		     "[management] or [vip:NAME])");
}

Test(config_bad, unknown_key)
{
	const char *f = CONFIGS "unknown_key.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 5);
	expect_error(&errs, f, 3,
		     "unknown key \"Address\" in [dataplane] "
		     "(did you mean \"address\"?)");
	expect_error(&errs, f, 4,
		     "unknown key \"flowtable_size\" in [dataplane] "
		     "(did you mean \"flow_table_size\"?)");
	expect_error(&errs, f, 7, "unknown key \"token\" in [management]");
	expect_error(&errs, f, 10, "unknown key \"adress\" in [vip:web]");
	expect_error(&errs, f, 12, "unknown key \"backends\" in [vip:web]");
	cr_assert_str_eq(errs.messages[3],
			 CONFIGS "unknown_key.ini:10: unknown key "
				 "\"adress\" in [vip:web] (did you mean \"address\"?)");
}

Test(config_bad, bad_addresses)
{
	const char *f = CONFIGS "bad_address.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 6);
	expect_error(&errs, f, 2, "address in [dataplane]: bad IPv4 address \"10.0.0\"");
	expect_error(&errs, f, 3,
		     "gateway in [dataplane]: bad IPv4 address \"0.0.0.0\" "
		     "(0.0.0.0 is not a usable address)");
	expect_error(&errs, f, 6, "listen in [management]: bad IPv4 address \"localhost\"");
	expect_error(&errs, f, 9, "address in [vip:a]: bad address \"10.0.0.256\"");
	expect_error(&errs, f, 11, "backend in [vip:a]: bad address \"10.0.0.x\"");
	expect_error(&errs, f, 12, "backend in [vip:a]: bad address \"10.0.0.3/24\"");
}

Test(config_bad, bad_macs)
{
	const char *f = CONFIGS "bad_mac.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 4);
	expect_error(&errs, f, 3,
		     "gateway_mac in [dataplane]: bad MAC address "
		     "\"02:00:00:00:00\" (expected xx:xx:xx:xx:xx:xx)");
	expect_error(&errs, f, 7,
		     "bad MAC address \"ff:ff:ff:ff:ff:ff\" "
		     "(a multicast or broadcast MAC cannot be a next hop)");
	expect_error(&errs, f, 8, "the all-zero MAC is not an address");
	expect_error(&errs, f, 9, "bad MAC address \"02-00-00-00-00-04\"");
}

Test(config_bad, numbers_out_of_range)
{
	const char *f = CONFIGS "out_of_range.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 8);
	expect_error(&errs, f, 3,
		     "flow_table_size in [dataplane]: 1023 is out of range "
		     "(1024..268435456)");
	expect_error(&errs, f, 4, "tcp_timeout in [dataplane]: 86401 is out of range (1..86400)");
	expect_error(&errs, f, 5, "udp_timeout in [dataplane]: 0 is out of range (1..86400)");
	expect_error(&errs, f, 6, "gue_port in [dataplane]: 65536 is out of range (1..65535)");
	expect_error(&errs, f, 7, "mtu in [dataplane]: 575 is out of range (576..9216)");
	expect_error(&errs, f, 11, "port in [vip:a]: 65536 is out of range (0..65535)");
	expect_error(&errs, f, 12,
		     "maglev_size in [vip:a]: 16777260 is out of range "
		     "(2..16777259)");
	expect_error(&errs, f, 13,
		     "health_interval_ms in [vip:a]: 99 is out of range "
		     "(100..600000)");
}

Test(config_bad, not_numbers)
{
	const char *f = CONFIGS "not_a_number.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 5);
	expect_error(&errs, f, 3,
		     "flow_table_size in [dataplane]: \"1M\" is not a number "
		     "(expected 1024..268435456)");
	expect_error(&errs, f, 4, "\"-1\" is not a number");
	expect_error(&errs, f, 5, "\"1500.0\" is not a number");
	/* Too big for any integer type: out of range, not wrapped around. */
	expect_error(&errs, f, 6, "99999999999999999999999 is out of range (1..86400)");
	expect_error(&errs, f, 10, "port in [vip:a]: \"http\" is not a number");
}

Test(config_bad, unknown_enum_values)
{
	const char *f = CONFIGS "bad_enum.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 5);
	expect_error(&errs, f, 6,
		     "protocol in [vip:a]: unknown value \"icmp\" "
		     "(expected tcp or udp)");
	expect_error(&errs, f, 7,
		     "scheduler in [vip:a]: unknown value \"Maglev\" (expected "
		     "maglev, round-robin, weighted-round-robin, least-connections or "
		     "source-hash)");
	expect_error(&errs, f, 8,
		     "encap in [vip:a]: unknown value \"vxlan\" "
		     "(expected ipip or gue)");
	expect_error(&errs, f, 9,
		     "health_check in [vip:a]: unknown value \"http\" "
		     "(expected tcp, udp, http:/PATH or none)");
	expect_error(&errs, f, 14,
		     "health_check in [vip:b]: HTTP path \"/with space\" "
		     "contains a blank");
}

Test(config_bad, duplicate_vip_name)
{
	const char *f = CONFIGS "duplicate_vip_name.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 1);
	expect_error(&errs, f, 8, "duplicate VIP name \"web\" (first at line 4)");
}

Test(config_bad, duplicate_vip_address_port_protocol)
{
	const char *f = CONFIGS "duplicate_vip.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	/* b (other port) and c (other protocol) are not duplicates of a. */
	expect_count(&errs, 1);
	expect_error(&errs, f, 22,
		     "[vip:d] duplicates [vip:a] (line 4): both are "
		     "10.0.0.100:80/tcp");
}

Test(config_bad, duplicate_backend)
{
	const char *f = CONFIGS "duplicate_backend.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	/* The same backend in two VIPs is fine. */
	expect_count(&errs, 1);
	expect_error(&errs, f, 8,
		     "backend in [vip:a]: duplicate backend 10.0.0.2 "
		     "(first at line 6)");
}

Test(config_bad, backend_options)
{
	const char *f = CONFIGS "backend_options.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 7);
	expect_error(&errs, f, 6, "backend in [vip:a]: weight 0 is out of range (1..65535)");
	expect_error(&errs, f, 7, "weight 65536 is out of range (1..65535)");
	expect_error(&errs, f, 8, "weight \"heavy\" is not a number (expected 1..65535)");
	expect_error(&errs, f, 9, "unknown state \"maybe\" (expected up, drain or down)");
	expect_error(&errs, f, 10, "unknown backend option \"port=80\"");
	expect_error(&errs, f, 11, "backend option \"weight\" given twice");
	expect_error(&errs, f, 12, "unknown backend option \"up\"");
}

Test(config_bad, vip_without_backends)
{
	const char *f = CONFIGS "no_backends.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 3);
	/* At the header's line, though only known at the section's end. */
	expect_error(&errs, f, 9, "[vip:empty] has no backends");
	expect_error(&errs, f, 13, "[vip:bare] has no backends");
	expect_error(&errs, f, 13, "missing required key \"address\" in [vip:bare]");
}

Test(config_bad, missing_required_keys)
{
	const char *f = CONFIGS "missing_required.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 2);
	expect_error(&errs, f, 2, "missing required key \"address\" in [dataplane]");
	expect_error(&errs, f, 5, "missing required key \"address\" in [vip:a]");
}

Test(config_bad, maglev_size)
{
	const char *f = CONFIGS "maglev.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 3);
	expect_error(&errs, f, 6,
		     "maglev_size in [vip:a]: 65536 is not prime "
		     "(the next prime is 65537)");
	expect_error(&errs, f, 11, "maglev_size 3 in [vip:b] is smaller than its 4 backends");
	expect_error(&errs, f, 19, "maglev_size in [vip:c]: 1 is out of range");
}

Test(config_bad, single_keys_repeated)
{
	const char *f = CONFIGS "repeated_key.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 4);
	expect_error(&errs, f, 4,
		     "duplicate key \"address\" in [dataplane] "
		     "(first set at line 2)");
	expect_error(&errs, f, 10, "duplicate key \"port\" in [vip:a] (first set at line 8)");
	expect_error(&errs, f, 12, "section [dataplane] repeated (first at line 1)");
	expect_error(&errs, f, 13, "duplicate key \"mtu\" in [dataplane] (first set at line 3)");
}

Test(config_bad, syntax)
{
	const char *f = CONFIGS "syntax.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 7);
	expect_error(&errs, f, 1, "key \"address\" before any [section]");
	expect_error(&errs, f, 2, "section header \"[dataplane\" has no closing \"]\"");
	expect_error(&errs, f, 4, "unexpected text \" extra\" after section header");
	expect_error(&errs, f, 6, "expected \"key = value\", \"[section]\" or a comment");
	expect_error(&errs, f, 7, "expected \"key = value\"");
	expect_error(&errs, f, 8, "missing value for gateway in [dataplane]");
	expect_error(&errs, f, 9, "bad key \"vip:a\" (keys have no ':')");
}

Test(config_bad, too_long_values)
{
	const char *f = CONFIGS "too_long.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 5);
	expect_error(&errs, f, 3, "line too long (260 characters");
	expect_error(&errs, f, 5, "too long (64 characters, at most 63)");
	/* A 63-character name is fine; its 128-character health path is not. */
	expect_error(&errs, f, 11, "HTTP path too long (128 characters, at most 127)");
	expect_error(&errs, f, 14, "bad character ' ' in VIP name \"bad name\"");
	expect_error(&errs, f, 17, "empty VIP name");
}

Test(config_bad, token_file_missing)
{
	const char *f = CONFIGS "token_missing.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 1);
	expect_error(&errs, f, 5,
		     "token_file in [management]: cannot read "
		     "\"configs/no-such-token\": No such file or directory");
}

Test(config_bad, token_file_not_a_file)
{
	const char *f = CONFIGS "token_dir.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 1);
	expect_error(&errs, f, 5, "\"configs\" is not a regular file");
}

Test(config_bad, listen)
{
	static const struct {
		const char *line;
		const char *needle;
	} cases[] = {
		{ "listen = 127.0.0.1:0", "bad port \"0\" (expected 1..65535)" },
		{ "listen = 127.0.0.1:65536", "bad port \"65536\"" },
		{ "listen = 127.0.0.1:", "bad port \"\"" },
		{ "listen = 127.0.0.1:http", "bad port \"http\"" },
		{ "listen = :8080", "bad IPv4 address \"\"" },
		{ "listen = ::1", "bad IPv4 address" },
	};
	struct dplb_config_errors errs;
	size_t i;

	load_bad(CONFIGS "listen.ini", &errs);
	expect_count(&errs, 1);
	expect_error(&errs, CONFIGS "listen.ini", 5, "listen in [management]: bad port \"0\"");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_with_management_line(cases[i].line);
		load_bad(tmp_path, &errs);
		expect_count(&errs, 1);
		expect_error(&errs, tmp_path, 5, cases[i].needle);
		remove_tmp();
	}
}

Test(config_bad, port_lists)
{
	static const struct {
		const char *line;
		const char *needle;
	} cases[] = {
		{ "ports = 0,,1", "ports in [dataplane]: empty port id in \"0,,1\"" },
		{ "ports = 0,1,", "empty port id" },
		{ "ports = ,0", "empty port id" },
		{ "ports = 1 1", "port 1 is listed twice" },
		{ "ports = 0 1 2 3 4 5 6 7 8", "too many ports (at most 8)" },
		{ "ports = eth0", "\"eth0\" is not a number (expected 0..65534)" },
		{ "ports = 65535", "65535 is out of range (0..65534)" },
	};
	struct dplb_config_errors errs;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_with_dataplane_line(cases[i].line);
		load_bad(tmp_path, &errs);
		expect_count(&errs, 1);
		expect_error(&errs, tmp_path, 3, cases[i].needle);
		remove_tmp();
	}
}

Test(config_bad, limits)
{
	struct dplb_config_errors errs;
	struct dplb_config *c;
	char *text = NULL;
	size_t size = 0;
	FILE *f;
	int i;

	/* 4096 backends load; the 4097th (line 4102) is refused. */
	f = open_memstream(&text, &size);
	cr_assert_not_null(f);
	fprintf(f, "[dataplane]\naddress = 10.0.0.1\n\n[vip:big]\naddress = 10.0.0.100\n");
	for (i = 0; i < DPLB_MAX_BACKENDS_PER_VIP; i++)
		fprintf(f, "backend = 10.1.%d.%d\n", i / 250, i % 250 + 1);
	cr_assert_eq(fclose(f), 0);
	write_tmp(text);
	free(text);
	c = load_good(tmp_path);
	cr_assert_eq(c->vips[0].backend_count, DPLB_MAX_BACKENDS_PER_VIP);
	dplb_config_free(c);
	remove_tmp();

	f = open_memstream(&text, &size);
	cr_assert_not_null(f);
	fprintf(f, "[dataplane]\naddress = 10.0.0.1\n\n[vip:big]\naddress = 10.0.0.100\n");
	for (i = 0; i <= DPLB_MAX_BACKENDS_PER_VIP; i++)
		fprintf(f, "backend = 10.1.%d.%d\n", i / 250, i % 250 + 1);
	cr_assert_eq(fclose(f), 0);
	write_tmp(text);
	free(text);
	load_bad(tmp_path, &errs);
	expect_count(&errs, 1);
	expect_error(&errs, tmp_path, 6 + DPLB_MAX_BACKENDS_PER_VIP,
		     "too many backends (at most 4096)");
	remove_tmp();

	/* 256 VIPs load; the 257th header (line 3 + 256 * 3) is refused. */
	f = open_memstream(&text, &size);
	cr_assert_not_null(f);
	fprintf(f, "[dataplane]\naddress = 10.0.0.1\n");
	for (i = 0; i <= DPLB_MAX_VIPS; i++)
		fprintf(f, "[vip:v%d]\naddress = 10.2.%d.%d\nbackend = 10.0.0.2\n", i, i / 250,
			i % 250 + 1);
	cr_assert_eq(fclose(f), 0);
	write_tmp(text);
	free(text);
	load_bad(tmp_path, &errs);
	expect_count(&errs, 1);
	expect_error(&errs, tmp_path, 3 + DPLB_MAX_VIPS * 3, "too many VIPs (at most 256)");
	remove_tmp();
}

/* ---- how errors are collected ------------------------------------------ */

Test(config_errors, all_reported_in_file_order)
{
	const char *f = CONFIGS "order.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_count(&errs, 5);
	expect_file_order(&errs);
	/* Found last (when [vip:a] ends), shown first: they belong to line 2. */
	cr_assert_str_eq(errs.messages[0],
			 CONFIGS "order.ini:2: missing required key \"address\" in [vip:a]");
	expect_error(&errs, f, 2, "[vip:a] has no backends");
	expect_error(&errs, f, 3, "unknown key \"adress\" in [vip:a] (did you mean \"address\"?)");
	expect_error(&errs, f, 4, "unknown key \"mtu\" in [vip:a]");
	expect_error(&errs, f, 8, "mtu in [dataplane]: 1 is out of range (576..9216)");
}

Test(config_errors, every_fixture_in_file_order)
{
	static const char *files[] = {
		"bad_address.ini",  "bad_mac.ini",     "out_of_range.ini", "backend_options.ini",
		"repeated_key.ini", "syntax.ini",      "too_long.ini",	   "no_backends.ini",
		"empty.ini",	    "many_errors.ini",
	};
	struct dplb_config_errors errs;
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), CONFIGS "%s", files[i]);
		load_bad(path, &errs);
		expect_file_order(&errs);
	}
}

Test(config_errors, overflow_is_counted)
{
	const char *f = CONFIGS "many_errors.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	/* 40 unknown keys plus [vip:early]'s missing backends: 41. */
	cr_assert_eq(errs.count, 32);
	cr_assert_eq(errs.dropped, 9);
	/* The earliest 32 are kept, even the one found after all the others. */
	cr_assert_str_eq(errs.messages[0], CONFIGS "many_errors.ini:4: [vip:early] has no "
						   "backends (add \"backend = ADDRESS\")");
	expect_error(&errs, f, 6, "unknown key \"bogus01\"");
	cr_assert_str_eq(errs.messages[31],
			 CONFIGS "many_errors.ini:36: unknown key \"bogus31\" in [vip:early]");
}

Test(config_errors, null_errors_and_arguments)
{
	struct dplb_config *config = &untouched;
	struct dplb_config_errors errs;

	cr_assert_eq(dplb_config_load(CONFIGS "syntax.ini", &config, NULL), -EINVAL);
	cr_assert_eq(config, &untouched);
	cr_assert_eq(dplb_config_load(NULL, &config, &errs), -EINVAL);
	cr_assert_eq(errs.count, 1);
	cr_assert_eq(dplb_config_load(CONFIGS "minimal.ini", NULL, &errs), -EINVAL);
	cr_assert_eq(config, &untouched);
}

Test(config_errors, errors_are_reset_by_a_good_load)
{
	struct dplb_config_errors errs;
	struct dplb_config *c = NULL;

	load_bad(CONFIGS "syntax.ini", &errs);
	cr_assert_eq(dplb_config_load(CONFIGS "minimal.ini", &c, &errs), 0);
	cr_assert_eq(errs.count, 0);
	cr_assert_eq(errs.dropped, 0);
	dplb_config_free(c);
}

/* ---- the rest of the API ----------------------------------------------- */

Test(config_api, find_vip)
{
	struct dplb_config *c = load_good(CONFIGS "full.ini");

	cr_assert_eq(dplb_config_find_vip(c, "web-1.a_b"), &c->vips[0]);
	cr_assert_eq(dplb_config_find_vip(c, "wrr"), &c->vips[3]);
	cr_assert_null(dplb_config_find_vip(c, "web"), "no prefix matches");
	cr_assert_null(dplb_config_find_vip(c, "WRR"), "names are case-sensitive");
	cr_assert_null(dplb_config_find_vip(c, ""));
	cr_assert_null(dplb_config_find_vip(c, NULL));
	cr_assert_null(dplb_config_find_vip(NULL, "wrr"));
	dplb_config_free(c);
}

Test(config_api, names)
{
	cr_assert_str_eq(dplb_scheduler_name(DPLB_SCHED_MAGLEV), "maglev");
	cr_assert_str_eq(dplb_scheduler_name(DPLB_SCHED_ROUND_ROBIN), "round-robin");
	cr_assert_str_eq(dplb_scheduler_name(DPLB_SCHED_WEIGHTED_ROUND_ROBIN),
			 "weighted-round-robin");
	cr_assert_str_eq(dplb_scheduler_name(DPLB_SCHED_LEAST_CONNECTIONS), "least-connections");
	cr_assert_str_eq(dplb_scheduler_name(DPLB_SCHED_SOURCE_HASH), "source-hash");
	cr_assert_str_eq(dplb_scheduler_name((enum dplb_scheduler)99), "unknown");
	cr_assert_str_eq(dplb_encap_name(DPLB_ENCAP_IPIP), "ipip");
	cr_assert_str_eq(dplb_encap_name(DPLB_ENCAP_GUE), "gue");
	cr_assert_str_eq(dplb_encap_name((enum dplb_encap)7), "unknown");
	cr_assert_str_eq(dplb_backend_state_name(DPLB_BACKEND_UP), "up");
	cr_assert_str_eq(dplb_backend_state_name(DPLB_BACKEND_DRAIN), "drain");
	cr_assert_str_eq(dplb_backend_state_name(DPLB_BACKEND_DOWN), "down");
	cr_assert_str_eq(dplb_backend_state_name((enum dplb_backend_state)3), "unknown");
	cr_assert_str_eq(dplb_protocol_name(DPLB_PROTO_TCP), "tcp");
	cr_assert_str_eq(dplb_protocol_name(DPLB_PROTO_UDP), "udp");
	cr_assert_str_eq(dplb_protocol_name(1), "unknown");
}

Test(config_api, state_parse)
{
	enum dplb_backend_state s = DPLB_BACKEND_DOWN;

	cr_assert_eq(dplb_backend_state_parse("up", &s), 0);
	cr_assert_eq(s, DPLB_BACKEND_UP);
	cr_assert_eq(dplb_backend_state_parse("drain", &s), 0);
	cr_assert_eq(s, DPLB_BACKEND_DRAIN);
	cr_assert_eq(dplb_backend_state_parse("down", &s), 0);
	cr_assert_eq(s, DPLB_BACKEND_DOWN);

	s = DPLB_BACKEND_DRAIN;
	cr_assert_eq(dplb_backend_state_parse("UP", &s), -EINVAL);
	cr_assert_eq(dplb_backend_state_parse("upp", &s), -EINVAL);
	cr_assert_eq(dplb_backend_state_parse("u", &s), -EINVAL);
	cr_assert_eq(dplb_backend_state_parse("", &s), -EINVAL);
	cr_assert_eq(dplb_backend_state_parse(NULL, &s), -EINVAL);
	cr_assert_eq(s, DPLB_BACKEND_DRAIN, "a failed parse changed the result");
	cr_assert_eq(dplb_backend_state_parse("up", NULL), -EINVAL);
}

Test(config_api, print_summary)
{
	struct dplb_config *c = load_good(CONFIGS "full.ini");
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	static const char *expected[] = {
		"configs/full.ini",
		"ports 1,3,2",
		"address 192.0.2.10",
		"gateway 192.0.2.1 (mac 02:aa:bb:cc:dd:0e)",
		"flow table 2048",
		"tcp 600s udp 45s",
		"tcp-syn 3s",
		"gue port 7000",
		"mtu 9000",
		"listen 0.0.0.0:9090",
		"token file configs/token.txt",
		"vip web-1.a_b: 198.51.100.1:443/udp, scheduler source-hash, encap gue, M 7",
		"health http:/healthz?full=1 port 443 every 250 ms, timeout 250 ms, rise 2, fall 3",
		"backend 192.0.2.21 weight 65535 drain mac 02:00:00:00:00:21",
		"backend 192.0.2.22 weight 7 down",
		"backend 192.0.2.23 weight 1 up",
		"vip all-ports: 198.51.100.1:*/tcp, scheduler least-connections",
		"scheduler round-robin",
		"vip wrr: 198.51.100.4:65535/tcp, scheduler weighted-round-robin",
	};
	size_t i;

	cr_assert_not_null(out);
	dplb_config_print(c, out);
	cr_assert_eq(fclose(out), 0);
	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		cr_assert_not_null(strstr(text, expected[i]), "\"%s\" missing from:\n%s",
				   expected[i], text);
	free(text);
	dplb_config_free(c);
}

Test(config_api, free_null)
{
	dplb_config_free(NULL);
}

/* ---- health settings ---- */

Test(config_health, vip_keys_apply_to_every_backend_and_lines_override_them)
{
	struct dplb_config *config = load_good(CONFIGS "health.ini");
	const struct dplb_vip_config *web = dplb_config_find_vip(config, "web");
	const struct dplb_vip_config *dns = dplb_config_find_vip(config, "dns");
	const struct dplb_vip_config *any = dplb_config_find_vip(config, "any");

	cr_assert_eq(config->health_source, ip("10.0.0.1"));
	cr_assert_eq(web->health.check, DPLB_HEALTH_TCP);
	/* Keys after the backend lines still reach them: resolved at the end. */
	const struct dplb_health_settings *b2 = &web->backends[0].health;
	cr_assert_eq(b2->check, DPLB_HEALTH_TCP);
	cr_assert_eq(b2->interval_ms, 500);
	cr_assert_eq(b2->timeout_ms, 200);
	cr_assert_eq(b2->rise, 4);
	cr_assert_eq(b2->fall, 5);
	cr_assert_eq(b2->slow_start, 30);
	cr_assert_eq(dplb_health_port(web, &web->backends[0]), 80, "the VIP's port by default");
	cr_assert_eq(web->backends[0].health_overrides, 0);

	const struct dplb_backend_config *b3 = &web->backends[1];
	cr_assert_eq(b3->health.check, DPLB_HEALTH_HTTP);
	cr_assert_str_eq(b3->health.http_path, "/ready");
	cr_assert_eq(b3->health.expect_status, 204);
	cr_assert_eq(dplb_health_port(web, b3), 8080);
	cr_assert_eq(b3->health.interval_ms, 500, "what it does not override comes from the VIP");
	cr_assert_eq(b3->health_overrides, DPLB_HEALTH_FIELD_PORT | DPLB_HEALTH_FIELD_CHECK |
						   DPLB_HEALTH_FIELD_EXPECT_STATUS);
	cr_assert_eq(web->backends[2].health.check, DPLB_HEALTH_NONE);
	cr_assert_eq(web->backends[2].health.slow_start, 5);

	cr_assert_eq(dns->health.check, DPLB_HEALTH_UDP);
	cr_assert_eq(dns->health.rise, DPLB_DEFAULT_HEALTH_RISE);
	cr_assert_eq(dns->health.fall, DPLB_DEFAULT_HEALTH_FALL);
	cr_assert_eq(dns->health.timeout_ms, 0);
	cr_assert_eq(dplb_health_timeout_ms(&dns->health), DPLB_DEFAULT_HEALTH_INTERVAL_MS,
		     "the timeout is the interval unless set");
	cr_assert_eq(dns->backends[0].health.payload_len, 5);
	cr_assert_eq(memcmp(dns->backends[0].health.payload, "\x00\x01\x02\x03\xff", 5), 0);
	cr_assert_eq(dns->backends[1].health.payload_len, 5);
	cr_assert_eq(memcmp(dns->backends[1].health.payload, "hello", 5), 0);
	cr_assert_eq(dplb_health_port(any, &any->backends[0]), 22);
	/* A VIP of every port whose backends each name their check's port. */
	const struct dplb_vip_config *each = dplb_config_find_vip(config, "each");
	cr_assert_eq(dplb_health_port(each, &each->backends[0]), 8080);
	cr_assert_eq(dplb_health_port(each, &each->backends[1]), 8081);
	cr_assert_eq(dplb_health_timeout_ms(&each->backends[1].health), 300);
	dplb_config_free(config);
}

Test(config_health, bad_values_are_refused_with_their_line)
{
	const char *f = CONFIGS "bad_health.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_error(&errs, f, 5, "health_source in [management]: bad IPv4 address \"nowhere\"");
	expect_error(&errs, f, 10,
		     "health_check in [vip:a]: unknown value \"icmp\" "
		     "(expected tcp, udp, http:/PATH or none)");
	expect_error(&errs, f, 11, "health_rise in [vip:a]: 0 is out of range (1..100)");
	expect_error(&errs, f, 12, "health_fall in [vip:a]: 101 is out of range (1..100)");
	expect_error(&errs, f, 13, "health_timeout_ms in [vip:a]: 5 is out of range (10..600000)");
	expect_error(&errs, f, 14, "health_payload in [vip:a]: hex payload needs an even number");
	expect_error(&errs, f, 15, "slow_start in [vip:a]: 3601 is out of range (0..3600)");
	expect_error(&errs, f, 16, "health_port in [vip:a]: 0 is out of range (1..65535)");
	expect_error(&errs, f, 17, "health_rise in [vip:a]: backend option given twice");
	expect_error(&errs, f, 18, "unknown backend option \"health_colour=red\"");
	expect_error(&errs, f, 19, "health_expect_status in [vip:a]: 99 is out of range");
	expect_error(&errs, f, 21,
		     "[vip:b] has port 0 (every port): health_check tcp needs "
		     "health_port");
	expect_error(&errs, f, 30, "backend in [vip:c]: health_check udp needs health_port");
	expect_error(&errs, f, 32,
		     "health_timeout_ms 500 in [vip:d] is longer than "
		     "health_interval_ms 200");
	expect_error(&errs, f, 39,
		     "backend in [vip:d]: health_timeout_ms 900 is longer than "
		     "health_interval_ms 500");
	expect_count(&errs, 15);
	expect_file_order(&errs);
}

Test(config_bad, addresses_that_make_no_sense_where_they_stand)
{
	const char *f = CONFIGS "bad_addresses_in_place.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_error(&errs, f, 6,
		     "backend in [vip:a]: 127.0.0.1 is a loopback address, "
		     "not a backend");
	expect_error(&errs, f, 7, "224.0.0.5 is a multicast address, not a backend");
	expect_error(&errs, f, 8, "255.255.255.255 is the broadcast address, not a backend");
	expect_error(&errs, f, 9, "240.0.0.1 is a reserved address (240.0.0.0/4), not a backend");
	expect_error(&errs, f, 10, "backend in [vip:a]: 10.0.0.100 is the VIP's own address");
	expect_error(&errs, f, 11, "backend in [vip:a]: 10.0.0.1 is dplb's own address");
	expect_error(&errs, f, 13, "[vip:b] address 10.0.0.1 is dplb's own address");
	expect_error(&errs, f, 18, "[vip:c] address 239.0.0.1 is a multicast address");
	expect_count(&errs, 8);
	expect_file_order(&errs);
}

/* ---- protection ----------------------------------------------------------- */

static const char *prefix_text(const struct dplb_prefix_list *list, uint32_t i)
{
	static char text[4][DPLB_PREFIX_TEXT_MAX];

	cr_assert_lt(i, list->count);
	return dplb_format_prefix(&list->items[i], text[i % 4]);
}

Test(config_protection, lists_limits_and_their_defaults)
{
	struct dplb_config *c = load_good(CONFIGS "protection.ini");
	const struct dplb_vip_config *web = dplb_config_find_vip(c, "web");
	const struct dplb_vip_config *dns = dplb_config_find_vip(c, "dns");

	/* Several lines of a key add up, in file order. */
	cr_assert_eq(web->allow.count, 4);
	cr_assert_str_eq(prefix_text(&web->allow, 0), "10.0.0.0/8");
	cr_assert_str_eq(prefix_text(&web->allow, 1), "192.168.1.0/24");
	cr_assert_str_eq(prefix_text(&web->allow, 2), "172.16.0.0/12");
	cr_assert_str_eq(prefix_text(&web->allow, 3), "198.51.100.7/32");
	cr_assert_eq(web->deny.count, 1);
	cr_assert_str_eq(prefix_text(&web->deny, 0), "10.66.0.0/16");
	cr_assert_eq(web->new_flow_rate, 1000);
	cr_assert_eq(web->new_flow_burst, 2000);
	cr_assert_eq(web->rate_limit_action, DPLB_RATE_LIMIT_STATELESS);
	cr_assert_eq(web->table_full, DPLB_TABLE_FULL_STATELESS);
	/* A round-robin VIP may limit, by dropping (the default). */
	cr_assert_eq(dns->allow.count, 0);
	cr_assert_eq(dns->deny.count, 1);
	cr_assert_eq(dns->new_flow_rate, 5);
	cr_assert_eq(dns->new_flow_burst, 0);
	cr_assert_eq(dns->rate_limit_action, DPLB_RATE_LIMIT_DROP);
	cr_assert_eq(dns->table_full, DPLB_TABLE_FULL_DROP);

	/* A copy is deep, and validates. */
	struct dplb_config *copy = dplb_config_clone(c);

	cr_assert_not_null(copy);
	cr_assert_neq(copy->vips[0].allow.items, web->allow.items);
	cr_assert_eq(memcmp(copy->vips[0].allow.items, web->allow.items,
			    web->allow.count * sizeof(*web->allow.items)),
		     0);
	cr_assert_eq(dplb_config_validate(copy, NULL), 0);
	dplb_config_free(copy);
	dplb_config_free(c);
	c = load_good(CONFIGS "minimal.ini");
	cr_assert_eq(c->vips[0].allow.count + c->vips[0].deny.count + c->vips[0].new_flow_rate, 0);
	cr_assert_eq(c->vips[0].rate_limit_action, DPLB_RATE_LIMIT_DROP);
	dplb_config_free(c);
}

Test(config_protection, bad_values_are_refused_with_their_line)
{
	const char *f = CONFIGS "bad_protection.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_error(&errs, f, 6,
		     "allow in [vip:web]: bad prefix \"10.1.2.3/16\" (bits are set "
		     "past the prefix length (the network is 10.1.0.0/16))");
	expect_error(&errs, f, 6,
		     "allow in [vip:web]: bad prefix \"nonsense\" (expected "
		     "ADDRESS/LENGTH");
	/* A VIP's lists are of its family: said at the prefix's line, or at
	 * the address's when the list came first. */
	expect_error(&errs, f, 7,
		     "deny in [vip:web]: \"2001:db8::/32\" is an IPv6 prefix, and [vip:web] is "
		     "an IPv4 VIP: its clients, so its sources, are IPv4");
	expect_error(&errs, f, 23,
		     "[vip:six] allow holds 10.9.0.0/16, and the VIP's address is IPv6: its "
		     "clients, so its sources, are IPv6");
	expect_error(&errs, f, 24,
		     "deny in [vip:six]: \"192.0.2.0/24\" is an IPv4 prefix, and [vip:six] is an "
		     "IPv6 VIP: its clients, so its sources, are IPv6");
	expect_error(&errs, f, 29,
		     "deny in [vip:four]: \"2001:db8::/32\" is an IPv6 prefix, and [vip:four] is "
		     "an IPv4 VIP");
	expect_error(&errs, f, 7,
		     "deny in [vip:web]: bad prefix \"10.0.0.0/33\" (the prefix "
		     "length must be 0..32)");
	expect_error(&errs, f, 9,
		     "new_flow_rate in [vip:web]: 100000001 is out of range "
		     "(0..100000000)");
	expect_error(&errs, f, 10,
		     "rate_limit_action in [vip:web]: unknown value \"reject\" "
		     "(expected drop or stateless)");
	/* The second line's prefix repeats the first's. */
	expect_error(&errs, f, 4, "[vip:web] lists 10.0.0.0/8 twice in allow");
	expect_error(&errs, f, 13,
		     "[vip:rr] rate_limit_action = stateless needs scheduler "
		     "maglev or source-hash, not round-robin");
	expect_error(&errs, f, 19,
		     "table_full in [vip:rr]: unknown value \"sometimes\" "
		     "(expected stateless or drop)");
	expect_count(&errs, 12);
	expect_file_order(&errs);
}

Test(config_protection, ipv6_lists_on_an_ipv6_vip)
{
	struct dplb_config *c = load_good(CONFIGS "protection6.ini");
	struct dplb_vip_config *web6 = (struct dplb_vip_config *)dplb_config_find_vip(c, "web6");
	const struct dplb_vip_config *all = dplb_config_find_vip(c, "everyone-but");
	struct dplb_config_errors errs;

	cr_assert_eq(web6->allow.count, 4);
	cr_assert_str_eq(prefix_text(&web6->allow, 0), "2001:db8::/32");
	cr_assert_str_eq(prefix_text(&web6->allow, 1), "2001:db8:1::7/128");
	cr_assert_str_eq(prefix_text(&web6->allow, 2), "fd00::/8");
	cr_assert_str_eq(prefix_text(&web6->allow, 3), "::ffff:0.0.0.0/96");
	cr_assert_eq(web6->deny.count, 1);
	cr_assert_eq(web6->deny.items[0].family, AF_INET6);
	cr_assert_str_eq(prefix_text(&web6->deny, 0), "2001:db8:bad::/48");
	cr_assert_str_eq(prefix_text(&all->deny, 0), "::/0");
	cr_assert_eq(dplb_config_validate(c, NULL), 0);

	/* In memory (the API's changes): the same rules, without lines. */
	cr_assert_null(dplb_parse_prefix("10.0.0.0/8", 10, &web6->allow.items[3]));
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0],
			 "[vip:web6] allow holds 10.0.0.0/8, and the VIP's "
			 "address is IPv6: its clients, so its sources, are IPv6");
	cr_assert_null(dplb_parse_prefix("2001:db8:1::7", 13, &web6->allow.items[3]));
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	cr_assert_str_eq(errs.messages[0], "[vip:web6] lists 2001:db8:1::7/128 twice in allow");
	dplb_config_free(c);
}

Test(config_protection, changes_in_memory_meet_the_same_rules)
{
	struct dplb_config *c = load_good(CONFIGS "protection.ini");
	struct dplb_vip_config *web = (struct dplb_vip_config *)dplb_config_find_vip(c, "web");
	struct dplb_vip_config *dns = (struct dplb_vip_config *)dplb_config_find_vip(c, "dns");
	struct dplb_config_errors errs;

	web->allow.items[1] = web->allow.items[0];
	dns->rate_limit_action = DPLB_RATE_LIMIT_STATELESS;
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	expect_count(&errs, 2);
	cr_assert_str_eq(errs.messages[0], "[vip:web] lists 10.0.0.0/8 twice in allow");
	cr_assert_not_null(strstr(errs.messages[1], "[vip:dns] rate_limit_action = stateless "
						    "needs scheduler maglev or source-hash"),
			   "%s", errs.messages[1]);
	dplb_config_free(c);
}

Test(config_protection, the_summary_says_it)
{
	struct dplb_config *c = load_good(CONFIGS "protection.ini");
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	cr_assert_not_null(out);
	dplb_config_print(c, out);
	cr_assert_eq(fclose(out), 0);
	cr_assert_not_null(strstr(text, "  sources: allow 4 prefixes, deny 1\n"), "%s", text);
	cr_assert_not_null(strstr(text, "  new flows: at most 1000/s, burst 2000, beyond: "
					"stateless\n"),
			   "%s", text);
	cr_assert_not_null(strstr(text, "  sources: every one but 1 denied prefix\n"), "%s", text);
	cr_assert_not_null(strstr(text, "  new flows: at most 5/s, burst 5, beyond: drop\n"), "%s",
			   text);
	free(text);
	dplb_config_free(c);
}

/* ---- the kernel's exception path --------------------------------------- */

/* A valid file whose [dataplane] has ports, address/prefix and extra lines
 * (from line 4 on). */
static void write_exception_config(const char *ports, const char *prefix, const char *extra)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "[dataplane]\nports = %s\naddress = 10.0.0.1\n%s%s\n[vip:a]\n"
		 "address = 10.0.0.100\nbackend = 10.0.0.2\n",
		 ports, extra, prefix);
	write_tmp(text);
}

/* What dplb_config_print says of c contains needle. */
static void expect_printed(const struct dplb_config *c, const char *needle)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	cr_assert_not_null(out);
	dplb_config_print(c, out);
	cr_assert_eq(fclose(out), 0);
	cr_assert_not_null(strstr(text, needle), "%s", text);
	free(text);
}

Test(config_exception_path, tap_and_the_interface_names_of_every_port)
{
	struct dplb_config *c;
	char name[DPLB_INTERFACE_NAME_MAX];

	write_exception_config("0 1 2", "prefix_length = 24\n",
			       "exception_path = tap\nexception_interface = lb-7\n");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->exception_path, DPLB_EXCEPTION_TAP);
	cr_assert_str_eq(c->exception_interface, "lb-7");
	cr_assert_str_eq(dplb_exception_path_name(c->exception_path), "tap");
	for (uint32_t slot = 0; slot < c->port_count; slot++) {
		const char *want[] = { "lb-7", "lb-8", "lb-9" };

		cr_assert_eq(dplb_exception_interface_name(c->exception_interface, slot, name), 0);
		cr_assert_str_eq(name, want[slot]);
	}
	expect_printed(c, ", exception path tap lb-7\n");
	dplb_config_free(c);

	/* One port: any name; none: no prefix_length needed. */
	write_exception_config("0", "prefix_length = 24\n",
			       "exception_path = tap\nexception_interface = kernel\n");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_str_eq(c->exception_interface, "kernel");
	dplb_config_free(c);
	write_exception_config("0 1", "", "exception_path = none\nexception_interface = x\n");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->exception_path, DPLB_EXCEPTION_NONE);
	dplb_config_free(c);
}

Test(config_exception_path, names_count_up_the_trailing_number_as_wide_as_it_is)
{
	static const struct {
		const char *first;
		uint32_t slot;
		int rc;
		const char *name;
	} cases[] = {
		{ "dplb0", 0, 0, "dplb0" },
		{ "dplb0", 1, 0, "dplb1" },
		{ "dplb0", 7, 0, "dplb7" },
		{ "tap08", 2, 0, "tap10" },
		{ "tap9", 1, 0, "tap10" },
		{ "007", 3, 0, "010" },
		{ "kernel", 0, 0, "kernel" },
		{ "kernel", 1, -EINVAL, NULL },
		{ "abcdefghijklm99", 0, 0, "abcdefghijklm99" },
		{ "abcdefghijklm99", 1, -ENAMETOOLONG, NULL },
		{ "abcdefghijklmno0", 0, -ENAMETOOLONG, NULL },
	};
	char name[DPLB_INTERFACE_NAME_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const int rc = dplb_exception_interface_name(cases[i].first, cases[i].slot, name);

		cr_assert_eq(rc, cases[i].rc, "%s slot %u: rc %d", cases[i].first, cases[i].slot,
			     rc);
		if (rc == 0)
			cr_assert_str_eq(name, cases[i].name);
	}
}

/* [dataplane] vlan: the tag of frames dplb sends itself; none by default. */
Test(config_vlan, an_id_from_1_to_4094_or_the_line_is_refused)
{
	static const struct {
		const char *line;
		const char *needle; /* NULL: accepted */
		uint16_t vlan;
	} cases[] = {
		{ "vlan = 1", NULL, 1 },
		{ "vlan = 4094", NULL, 4094 },
		{ "vlan = 0", "vlan in [dataplane]: 0 is out of range (1..4094)", 0 },
		{ "vlan = 4095", "vlan in [dataplane]: 4095 is out of range (1..4094)", 0 },
		{ "vlan = 100.5", "vlan in [dataplane]:", 0 },
		{ "vlan = -3", "vlan in [dataplane]:", 0 },
	};
	struct dplb_config_errors errs;
	struct dplb_config *c;

	write_with_dataplane_line("ports = 0");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->vlan, 0);
	dplb_config_free(c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_with_dataplane_line(cases[i].line);
		if (cases[i].needle == NULL) {
			c = load_good(tmp_path);
			cr_assert_eq(c->vlan, cases[i].vlan, "%s", cases[i].line);
			char printed[32];
			snprintf(printed, sizeof(printed), ", vlan %u,", cases[i].vlan);
			expect_printed(c, printed);
			dplb_config_free(c);
		} else {
			load_bad(tmp_path, &errs);
			expect_count(&errs, 1);
			expect_error(&errs, tmp_path, 3, cases[i].needle);
		}
		remove_tmp();
	}
}

Test(config_exception_path, bad_values_are_refused_with_their_line)
{
	static const struct {
		const char *ports;
		const char *prefix;
		const char *extra;
		int line;
		const char *needle;
	} cases[] = {
		{ "0", "prefix_length = 24\n", "exception_path = kni\n", 4,
		  "exception_path in [dataplane]: unknown value \"kni\" (expected none or tap)" },
		{ "0", "prefix_length = 24\n", "exception_interface = dplb/0\n", 4,
		  "exception_interface in [dataplane]: bad character '/' in interface name "
		  "\"dplb/0\" (allowed: A-Z a-z 0-9 _ . -)" },
		{ "0", "prefix_length = 24\n", "exception_interface = abcdefghijklmnop\n", 4,
		  "exception_interface in [dataplane]: \"abcdefghijklmnop\" is too long for an "
		  "interface name (16 characters, at most 15)" },
		{ "0", "prefix_length = 24\n", "exception_interface = ..\n", 4,
		  "exception_interface in [dataplane]: \"..\" is not an interface name" },
		/* Found once the whole file is read, named where they can be fixed. */
		{ "0", "", "exception_path = tap\n", 4,
		  "exception_path = tap needs prefix_length in [dataplane]: the kernel's "
		  "interface gets address/prefix_length" },
		{ "0 1", "prefix_length = 24\n", "exception_path = tap\nexception_interface = lb\n",
		  5,
		  "exception_interface \"lb\" ends in no number: with 2 ports the next ones' "
		  "interfaces count it up (dplb0, dplb1, ...)" },
		{ "0 1", "prefix_length = 24\n",
		  "exception_path = tap\nexception_interface = abcdefghijklm99\n", 5,
		  "exception_interface \"abcdefghijklm99\": port 1's interface name would be "
		  "longer than 15 characters" },
	};
	struct dplb_config_errors errs;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_exception_config(cases[i].ports, cases[i].prefix, cases[i].extra);
		load_bad(tmp_path, &errs);
		expect_count(&errs, 1);
		expect_error(&errs, tmp_path, cases[i].line, cases[i].needle);
		remove_tmp();
	}
}

/* ---- route announcement ------------------------------------------------- */

Test(config_announce, a_table_of_its_own_and_the_drain)
{
	struct dplb_config *c;

	write_exception_config("0", "prefix_length = 24\n",
			       "exception_path = tap\nannounce_table = 100\ndrain_seconds = 0\n");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->announce_table, 100);
	cr_assert_eq(c->drain_seconds, 0);
	expect_printed(c, ", VIPs announced in table 100 (drain 0s)\n");
	dplb_config_free(c);

	/* Tables past 255 exist too (RTA_TABLE); 0 is "none", with no tap. */
	write_exception_config("0", "prefix_length = 24\n",
			       "exception_path = tap\nannounce_table = 2147483647\n"
			       "drain_seconds = 3600\nexception_rate = 0\n");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->announce_table, 2147483647u);
	cr_assert_eq(c->drain_seconds, 3600);
	cr_assert_eq(c->exception_rate, 0);
	dplb_config_free(c);
	write_exception_config("0", "", "announce_table = 0\n");
	c = load_good(tmp_path);
	remove_tmp();
	cr_assert_eq(c->announce_table, 0);
	dplb_config_free(c);
}

Test(config_announce, bad_values_are_refused_with_their_line)
{
	static const struct {
		const char *extra;
		int line;
		const char *needle;
	} cases[] = {
		{ "exception_path = tap\nannounce_table = -1\n", 5,
		  "announce_table in [dataplane]: \"-1\" is not a number (expected "
		  "0..2147483647)" },
		{ "exception_path = tap\nannounce_table = 2147483648\n", 5,
		  "announce_table in [dataplane]: 2147483648 is out of range (0..2147483647)" },
		{ "exception_path = tap\ndrain_seconds = 3601\n", 5,
		  "drain_seconds in [dataplane]: 3601 is out of range (0..3600)" },
		{ "exception_path = tap\ndrain_seconds = soon\n", 5,
		  "drain_seconds in [dataplane]: \"soon\" is not a number (expected 0..3600)" },
		{ "exception_path = tap\nexception_rate = 10000001\n", 5,
		  "exception_rate in [dataplane]: 10000001 is out of range (0..10000000)" },
		/* Found once the whole file is read, named where they can be fixed. */
		{ "exception_path = tap\nannounce_table = 254\n", 5,
		  "announce_table = 254 is one of the kernel's own tables (253 default, 254 "
		  "main, 255 local): give dplb a table of its own" },
		{ "exception_path = tap\nannounce_table = 253\n", 5, "one of the kernel's own" },
		{ "exception_path = tap\nannounce_table = 255\n", 5, "one of the kernel's own" },
		{ "announce_table = 100\n", 4,
		  "announce_table needs exception_path = tap in [dataplane]: the routes go "
		  "through the tap, and with it when dplb dies" },
		{ "exception_path = none\nannounce_table = 100\n", 5,
		  "announce_table needs exception_path = tap" },
	};
	struct dplb_config_errors errs;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_exception_config("0", "prefix_length = 24\n", cases[i].extra);
		load_bad(tmp_path, &errs);
		expect_count(&errs, 1);
		expect_error(&errs, tmp_path, cases[i].line, cases[i].needle);
		remove_tmp();
	}
}

/* ---- mss_clamp ---- */

Test(config_mss_clamp, values_and_the_default)
{
	struct dplb_config *c = load_good(CONFIGS "mss_clamp.ini");

	cr_assert_eq(dplb_config_find_vip(c, "web")->mss_clamp, 1400);
	cr_assert_eq(dplb_config_find_vip(c, "least")->mss_clamp, DPLB_MIN_MSS_CLAMP);
	cr_assert_eq(dplb_config_find_vip(c, "most")->mss_clamp, DPLB_MAX_MSS_CLAMP);
	cr_assert_eq(dplb_config_find_vip(c, "off")->mss_clamp, 0);
	/* Off unless set, and a UDP VIP without it is fine. */
	cr_assert_eq(dplb_config_find_vip(c, "dns")->mss_clamp, 0);
	dplb_config_free(c);
}

Test(config_mss_clamp, bad_values_are_refused_with_their_line)
{
	const char *f = CONFIGS "bad_mss_clamp.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_error(&errs, f, 6,
		     "mss_clamp in [vip:low]: 535 is below 536, the MSS every IPv4 host "
		     "accepts (0 turns clamping off)");
	expect_error(&errs, f, 11, "mss_clamp in [vip:high]: 9177 is out of range (0..9176)");
	expect_error(&errs, f, 16,
		     "mss_clamp in [vip:word]: \"1400 bytes\" is not a number (expected 0..9176)");
	expect_error(&errs, f, 21,
		     "mss_clamp in [vip:negative]: \"-1\" is not a number (expected 0..9176)");
	expect_error(&errs, f, 27,
		     "mss_clamp in [vip:dns] needs protocol = tcp: it rewrites TCP SYNs");
	expect_count(&errs, 5);
	expect_file_order(&errs);
}

Test(config_mss_clamp, changes_in_memory_meet_the_same_rules)
{
	struct dplb_config *c = load_good(CONFIGS "mss_clamp.ini");
	struct dplb_config_errors errs;

	((struct dplb_vip_config *)dplb_config_find_vip(c, "web"))->mss_clamp = 100;
	((struct dplb_vip_config *)dplb_config_find_vip(c, "dns"))->mss_clamp = 1400;
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	expect_count(&errs, 2);
	cr_assert_str_eq(errs.messages[0], "mss_clamp 100 in [vip:web] is not 0 or 536..9176");
	cr_assert_str_eq(errs.messages[1],
			 "mss_clamp in [vip:dns] needs protocol = tcp: it rewrites TCP SYNs");
	dplb_config_free(c);
}

Test(config_mss_clamp, the_summary_says_it)
{
	struct dplb_config *c = load_good(CONFIGS "mss_clamp.ini");

	expect_printed(c, "vip web: 10.0.0.100:*/tcp, scheduler maglev, encap ipip, M 65537, "
			  "health none, 1 backend\n  tcp mss clamped to 1400\n  backend 10.0.1.1");
	/* Said only where it is on. */
	expect_printed(c, "vip off: 10.0.0.103:*/tcp, scheduler maglev, encap ipip, M 65537, "
			  "health none, 1 backend\n  backend 10.0.1.1");
	dplb_config_free(c);
}

/* An IPv6 VIP's clamp is at least 1220: every IPv6 link carries 1280-byte
 * packets, so a lower one would only shrink every segment. */
Test(config_mss_clamp, an_ipv6_vip_clamps_no_lower_than_1220)
{
	static const char base[] = "[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n\n"
				   "[vip:six]\nmss_clamp = %u\naddress = 2001:db8:ff::1\n"
				   "backend = 2001:db8::2\n";
	static const struct {
		uint32_t clamp;
		const char *error; /* NULL: taken */
	} cases[] = {
		{ 0, NULL },
		{ 1220, NULL },
		{ 9176, NULL },
		{ 1219, "six.ini:6: mss_clamp 1219 in [vip:six] is below 1220, the MSS of the "
			"1280-byte packets every IPv6 link carries: an IPv6 VIP's clamp is 0 or "
			"1220..9176" },
		{ 536, "six.ini:6: mss_clamp 536 in [vip:six] is below 1220" },
		{ 535, "six.ini:6: mss_clamp in [vip:six]: 535 is below 536" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct dplb_config *c = NULL;
		struct dplb_config_errors errs;
		const int len = snprintf(text, sizeof(text), base, cases[i].clamp);
		const int rc = dplb_config_load_text("six.ini", text, (size_t)len, &c, &errs);

		if (cases[i].error == NULL) {
			cr_assert_eq(rc, 0, "%u:%s", cases[i].clamp, all_messages(&errs));
			cr_assert_eq(c->vips[0].mss_clamp, cases[i].clamp);
			dplb_config_free(c);
			continue;
		}
		cr_assert_eq(rc, -EINVAL, "%u", cases[i].clamp);
		expect_count(&errs, 1);
		cr_assert_not_null(strstr(errs.messages[0], cases[i].error), "%u:%s",
				   cases[i].clamp, all_messages(&errs));
	}

	/* Changed in memory: the same rule, and an IPv4 VIP keeps its 536. */
	struct dplb_config *c = load_good(CONFIGS "ipv6.ini");
	struct dplb_config_errors errs;

	c->vips[0].mss_clamp = 1200; /* web6 */
	c->vips[1].mss_clamp = 1200; /* web4 */
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0],
			 "mss_clamp 1200 in [vip:web6] is below 1220, the MSS of the 1280-byte "
			 "packets every IPv6 link carries: an IPv6 VIP's clamp is 0 or 1220..9176");
	c->vips[0].mss_clamp = 100;
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0], "mss_clamp 100 in [vip:web6] is not 0 or 1220..9176");
	dplb_config_free(c);
}

/* ---- flow_table_size6 ---- */

Test(config_flow_table_size6, a_quarter_of_flow_table_size_unless_set)
{
	static const char base[] = "[dataplane]\naddress = 10.0.0.1\n%s\n\n"
				   "[vip:a]\naddress = 10.0.0.100\nbackend = 10.0.0.2\n";
	static const struct {
		const char *lines;
		uint32_t size, size6;
	} cases[] = {
		{ "", DPLB_DEFAULT_FLOW_TABLE_SIZE, DPLB_DEFAULT_FLOW_TABLE_SIZE / 4 },
		{ "flow_table_size = 2048", 2048, 512 },
		{ "flow_table_size = 1024", 1024, 256 }, /* at least 256 */
		/* Set before flow_table_size, it stays what it says. */
		{ "flow_table_size6 = 4096\nflow_table_size = 2048", 2048, 4096 },
		{ "flow_table_size = 2048\nflow_table_size6 = 256", 2048, 256 },
		{ "flow_table_size6 = 268435456", DPLB_DEFAULT_FLOW_TABLE_SIZE, 268435456 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct dplb_config *c = NULL;
		struct dplb_config_errors errs;
		const int len = snprintf(text, sizeof(text), base, cases[i].lines);

		cr_assert_eq(dplb_config_load_text("six.ini", text, (size_t)len, &c, &errs), 0,
			     "%s:%s", cases[i].lines, all_messages(&errs));
		cr_assert_eq(c->flow_table_size, cases[i].size, "%s", cases[i].lines);
		cr_assert_eq(c->flow_table_size6, cases[i].size6, "%s", cases[i].lines);
		dplb_config_free(c);
	}
	struct dplb_config *c = load_good(CONFIGS "minimal.ini");

	expect_printed(c, "flow table 1048576 (IPv6 262144) per worker");
	dplb_config_free(c);
}

Test(config_flow_table_size6, bad_values_are_refused_with_their_line)
{
	static const struct {
		const char *line, *error;
	} cases[] = {
		{ "flow_table_size6 = 255",
		  "flow_table_size6 in [dataplane]: 255 is out of range (256..268435456)" },
		{ "flow_table_size6 = 268435457", "268435457 is out of range (256..268435456)" },
		{ "flow_table_size6 = 0", "0 is out of range (256..268435456)" },
		{ "flow_table_size6 = 64k",
		  "flow_table_size6 in [dataplane]: \"64k\" is not a number" },
		{ "flow_table_size6 =", "flow_table_size6 in [dataplane]" },
	};
	struct dplb_config_errors errs;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_with_dataplane_line(cases[i].line);
		load_bad(tmp_path, &errs);
		expect_count(&errs, 1);
		expect_error(&errs, tmp_path, 3, cases[i].error);
		remove_tmp();
	}
}

/* ---- mtu ---- */

/* A file with address6, mtu (line 4) and an IPv6 VIP of encap whose
 * backends are backends (lines 9 on). */
static int load_mtu(uint32_t mtu, const char *encap, const char *backends, struct dplb_config **c,
		    struct dplb_config_errors *errs)
{
	char text[512];
	const int len = snprintf(text, sizeof(text),
				 "[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n"
				 "mtu = %u\n\n[vip:six]\naddress = 2001:db8:ff::1\nencap = %s\n%s",
				 mtu, encap, backends);

	return dplb_config_load_text("mtu.ini", text, (size_t)len, c, errs);
}

/* An IPv6 VIP's 1280-byte packets, which every IPv6 link carries and no
 * router fragments, must fit the tunnel to each of its backends. */
Test(config_mtu, an_ipv6_vip_needs_1280_bytes_through_its_tunnels)
{
	static const char four[] = "backend = 10.0.0.2\n";
	static const char six[] = "backend = 2001:db8::2\n";
	static const char both[] = "backend = 10.0.0.2\nbackend = 2001:db8::2\n";
	static const struct {
		uint32_t mtu;
		const char *encap, *backends, *error; /* NULL: taken */
	} cases[] = {
		{ 1300, "ipip", four, NULL },
		{ 1299, "ipip", four,
		  "mtu.ini:4: mtu 1299 in [dataplane] is below 1300, which IPv6 [vip:six] needs: "
		  "the 1280-byte packets every IPv6 link carries, plus 20 bytes of ipip over IPv4 "
		  "to its backends (smaller, they would be dropped)" },
		{ 1320, "ipip", six, NULL },
		{ 1319, "ipip", six, "mtu.ini:4: mtu 1319 in [dataplane] is below 1320" },
		{ 1308, "gue", four, NULL },
		{ 1307, "gue", four, "below 1308, which IPv6 [vip:six] needs" },
		{ 1328, "gue", both, NULL },
		{ 1327, "gue", both, "plus 48 bytes of gue over IPv6 to its backends" },
		{ 1319, "ipip", both, "plus 40 bytes of ipip over IPv6" },
		{ 576, "ipip", "", "no backends" }, /* refused for that, not its mtu */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dplb_config *c = NULL;
		struct dplb_config_errors errs;
		const int rc = load_mtu(cases[i].mtu, cases[i].encap, cases[i].backends, &c, &errs);

		if (cases[i].error == NULL) {
			cr_assert_eq(rc, 0, "case %zu:%s", i, all_messages(&errs));
			dplb_config_free(c);
			continue;
		}
		cr_assert_eq(rc, -EINVAL, "case %zu", i);
		expect_count(&errs, 1);
		cr_assert_not_null(strstr(errs.messages[0], cases[i].error), "case %zu:%s", i,
				   all_messages(&errs));
	}

	/* An IPv4 VIP has no floor beyond 576, whatever its backends. */
	static const char ipv4_vip[] = "[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n"
				       "mtu = 576\n[vip:four]\naddress = 10.0.0.100\nencap = gue\n"
				       "backend = 2001:db8::2\n";
	struct dplb_config *c = NULL;
	struct dplb_config_errors errs;

	cr_assert_eq(dplb_config_load_text("four.ini", ipv4_vip, sizeof(ipv4_vip) - 1, &c, &errs),
		     0, "%s", all_messages(&errs));
	dplb_config_free(c);

	/* Changed in memory (a backend added, the encapsulation changed): the
	 * same rule, without a line. */
	cr_assert_eq(load_mtu(1320, "ipip", six, &c, &errs), 0, "%s", all_messages(&errs));
	cr_assert_eq(dplb_config_validate(c, &errs), 0, "%s", all_messages(&errs));
	c->vips[0].encap = DPLB_ENCAP_GUE;
	cr_assert_eq(dplb_config_validate(c, &errs), -EINVAL);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0],
			 "mtu 1320 in [dataplane] is below 1328, which IPv6 [vip:six] needs: the "
			 "1280-byte packets every IPv6 link carries, plus 48 bytes of gue over "
			 "IPv6 to its backends (smaller, they would be dropped)");
	dplb_config_free(c);
}

Test(config_fragments, follow_by_default_drop_when_asked_anything_else_refused)
{
	static const char base[] = "[dataplane]\naddress = 10.0.0.1\n\n"
				   "[vip:web]\naddress = 10.0.0.100\nport = 80\n%s"
				   "backend = 10.1.0.1\n";
	static const struct {
		const char *line;
		int rc;
		enum dplb_fragments want;
	} cases[] = {
		{ "", 0, DPLB_FRAGMENTS_FOLLOW },
		{ "fragments = follow\n", 0, DPLB_FRAGMENTS_FOLLOW },
		{ "fragments = drop\n", 0, DPLB_FRAGMENTS_DROP },
		{ "fragments = reassemble\n", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512];
		struct dplb_config *c = NULL;
		struct dplb_config_errors errs;
		const int len = snprintf(text, sizeof(text), base, cases[i].line);
		const int rc = dplb_config_load_text("frag.ini", text, (size_t)len, &c, &errs);

		cr_assert_eq(rc, cases[i].rc, "%s", cases[i].line);
		if (rc != 0) {
			cr_assert_not_null(strstr(errs.messages[0], "frag.ini:7:"), "%s",
					   errs.messages[0]);
			cr_assert_not_null(strstr(errs.messages[0], "fragments"), "%s",
					   errs.messages[0]);
			continue;
		}
		cr_assert_eq(c->vips[0].fragments, cases[i].want, "%s", cases[i].line);
		cr_assert_str_eq(dplb_fragments_name(c->vips[0].fragments),
				 cases[i].want == DPLB_FRAGMENTS_DROP ? "drop" : "follow");
		dplb_config_free(c);
	}
}

/* ---- IPv6 ---------------------------------------------------------------- */

static void ip6(const char *text, uint8_t out[16])
{
	cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "bad test address %s", text);
}

static void expect_backend6(const struct dplb_backend_config *b, const char *text)
{
	uint8_t want[16];

	ip6(text, want);
	cr_assert_eq(b->family, AF_INET6, "%s", text);
	cr_assert_eq(b->address, 0, "%s", text);
	cr_assert_arr_eq(b->address6, want, 16, "%s", text);
}

Test(config_ipv6, vips_and_backends_of_either_family)
{
	struct dplb_config *c = load_good(CONFIGS "ipv6.ini");
	const uint8_t gw_mac6[6] = { 0x02, 0, 0, 0, 0, 0x61 };
	uint8_t want[16];

	cr_assert(c->has_address6);
	ip6("2001:db8:1::10", want);
	cr_assert_arr_eq(c->address6, want, 16);
	cr_assert_eq(c->prefix_length6, 64);
	cr_assert(c->has_gateway6);
	ip6("fe80::1", want);
	cr_assert_arr_eq(c->gateway6, want, 16);
	cr_assert(c->has_gateway_mac6);
	cr_assert_arr_eq(c->gateway_mac6, gw_mac6, 6);
	cr_assert_eq(c->address, ip("192.0.2.10"));

	cr_assert_eq(c->vip_count, 3);
	const struct dplb_vip_config *web6 = &c->vips[0], *web4 = &c->vips[1], *dns6 = &c->vips[2];
	cr_assert_eq(web6->family, AF_INET6);
	cr_assert_eq(web6->address, 0);
	ip6("2001:db8:ff::80", want);
	cr_assert_arr_eq(web6->address6, want, 16);
	/* Written differently, the same address. */
	cr_assert_arr_eq(dns6->address6, want, 16);
	cr_assert_eq(web4->family, AF_INET);
	cr_assert_eq(web4->address, ip("192.0.2.100"));
	/* IPv6 fragments follow their first, as IPv4's, unless told to drop. */
	cr_assert_eq(web6->fragments, DPLB_FRAGMENTS_FOLLOW);
	cr_assert_eq(dns6->fragments, DPLB_FRAGMENTS_DROP);
	cr_assert_eq(web4->fragments, DPLB_FRAGMENTS_FOLLOW);

	cr_assert_eq(web6->backend_count, 3);
	expect_backend6(&web6->backends[0], "2001:db8:1::21");
	cr_assert_eq(web6->backends[0].weight, 2);
	cr_assert_eq(web6->backends[1].family, AF_INET);
	cr_assert_eq(web6->backends[1].address, ip("192.0.2.21"));
	expect_backend6(&web6->backends[2], "2001:db8:2::22");
	cr_assert(web6->backends[2].has_mac);
	expect_backend6(&web4->backends[0], "2001:db8:1::21");
	cr_assert_eq(web4->backends[1].address, ip("192.0.2.21"));
	dplb_config_free(c);
}

Test(config_ipv6, every_refusal_with_its_line)
{
	const char *f = CONFIGS "bad_ipv6.ini";
	struct dplb_config_errors errs;

	load_bad(f, &errs);
	expect_file_order(&errs);
	expect_error(&errs, f, 3, "gateway6 in [dataplane] needs address6");
	expect_error(&errs, f, 4, "prefix_length6 in [dataplane]: 129 is out of range (1..128)");
	expect_error(&errs, f, 4, "prefix_length6 in [dataplane] needs address6");
	expect_error(&errs, f, 8,
		     "allow in [vip:six]: \"10.0.0.0/8\" is an IPv4 prefix, and [vip:six] is an "
		     "IPv6 VIP");
	expect_error(
		&errs, f, 10,
		"backend in [vip:six]: 2001:db8:1::21 is IPv6, and [dataplane] has no address6");
	expect_error(&errs, f, 11,
		     "backend in [vip:six]: duplicate backend 2001:db8:1::21 (first at line 10)");
	expect_error(&errs, f, 11, "2001:db8:1::21 is IPv6, and [dataplane] has no address6");
	expect_error(&errs, f, 12, "backend in [vip:six]: ff02::1 is a multicast address");
	expect_error(&errs, f, 13,
		     "backend in [vip:six]: 2001:db8:ff::80 is the VIP's own address");
	expect_error(&errs, f, 15, "::ffff:10.0.0.2 is an IPv4-mapped address");
	expect_error(&errs, f, 16,
		     "backend in [vip:six]: bad address \"2001:db8::g\" (expected an IPv6 address");
	expect_error(&errs, f, 18,
		     "[vip:six-again] duplicates [vip:six] (line 6): both are "
		     "[2001:db8:ff::80]:0/tcp");
	expect_error(&errs, f, 23, "address in [vip:five]: bad address \"::\" (:: is not a usable");
	expect_error(&errs, f, 30, "backend in [vip:four]: duplicate backend 10.0.0.2");
	/* A backend of one family never duplicates one of the other, nor an
	 * IPv4 VIP's list an IPv6 one's: nothing more. */
	expect_count(&errs, 14);
}

/* A valid file with address6 and one more [dataplane] line (line 4), an
 * IPv6 VIP at line 6 and its backend at line 8. */
static int load_dataplane6(const char *line, const char *backend, struct dplb_config **c,
			   struct dplb_config_errors *errs)
{
	char text[512];
	const int len = snprintf(text, sizeof(text),
				 "[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n%s\n\n"
				 "[vip:six]\naddress = 2001:db8:ff::1\nbackend = %s\n",
				 line, backend);

	return dplb_config_load_text("six.ini", text, (size_t)len, c, errs);
}

Test(config_ipv6, gateway6_on_link_and_own_addresses)
{
	static const struct {
		const char *line, *backend, *error; /* NULL: taken */
	} cases[] = {
		{ "prefix_length6 = 64\ngateway6 = 2001:db8::fe", "2001:db8:5::5", NULL },
		{ "prefix_length6 = 64\ngateway6 = fe80::1", "2001:db8:5::5", NULL },
		{ "gateway6 = 2001:db9::1", "2001:db8:5::5", NULL }, /* no prefix: taken */
		{ "prefix_length6 = 48\ngateway6 = 2001:db8:0:1::1", "10.0.0.2", NULL },
		{ "prefix_length6 = 64\ngateway6 = 2001:db8:1::1", "2001:db8:5::5",
		  "six.ini:5: gateway6 in [dataplane]: 2001:db8:1::1 is outside 2001:db8::1/64, "
		  "so not on-link" },
		{ "prefix_length6 = 63\ngateway6 = 2001:db8:0:2::1", "10.0.0.2",
		  "six.ini:5: gateway6 in [dataplane]: 2001:db8:0:2::1 is outside" },
		{ "gateway6 = ff02::2", "10.0.0.2",
		  "six.ini:4: gateway6 in [dataplane]: ff02::2 is a multicast address" },
		{ "gateway6 = 2001:db8::1", "10.0.0.2",
		  "six.ini:4: gateway6 in [dataplane]: 2001:db8::1 is dplb's own address6" },
		{ "", "2001:db8::1",
		  "six.ini:8: backend in [vip:six]: 2001:db8::1 is dplb's own address "
		  "([dataplane] address6)" },
		{ "gateway_mac6 = 02:00:00:00:00:01", "fe80::5",
		  "six.ini:8: backend in [vip:six]: fe80::5 is a link-local address" },
		{ "gateway6 = ::", "10.0.0.2",
		  "six.ini:4: gateway6 in [dataplane]: bad IPv6 address \"::\"" },
		{ "address6 = 2001:db8::2", "10.0.0.2", "six.ini:4: duplicate key \"address6\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dplb_config *c = NULL;
		struct dplb_config_errors errs;
		const int rc = load_dataplane6(cases[i].line, cases[i].backend, &c, &errs);

		if (cases[i].error == NULL) {
			cr_assert_eq(rc, 0, "%s:%s", cases[i].line, all_messages(&errs));
			dplb_config_free(c);
			continue;
		}
		cr_assert_eq(rc, -EINVAL, "%s", cases[i].line);
		cr_assert_eq(errs.count, 1, "%s:%s", cases[i].line, all_messages(&errs));
		cr_assert_not_null(strstr(errs.messages[0], cases[i].error), "%s:%s", cases[i].line,
				   all_messages(&errs));
	}
	/* A VIP at our own IPv6 address. */
	struct dplb_config *c = NULL;
	struct dplb_config_errors errs;
	static const char own[] = "[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\n"
				  "[vip:six]\naddress = 2001:db8::1\nbackend = 10.0.0.2\n";

	cr_assert_eq(dplb_config_load_text("own.ini", own, sizeof(own) - 1, &c, &errs), -EINVAL);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0], "own.ini:4: [vip:six] address 2001:db8::1 is dplb's "
					   "own address ([dataplane] address6)");
}

Test(config_ipv6, changes_in_memory_meet_the_same_rules)
{
	struct dplb_config *c = load_good(CONFIGS "ipv6.ini");
	struct dplb_config *copy = dplb_config_clone(c);
	struct dplb_config_errors errs;
	struct dplb_prefix prefix;

	cr_assert_not_null(copy);
	cr_assert_eq(dplb_config_validate(copy, &errs), 0, "%s", all_messages(&errs));
	/* The clone holds the IPv6 addresses too. */
	cr_assert_arr_eq(copy->vips[0].address6, c->vips[0].address6, 16);
	cr_assert_arr_eq(copy->vips[0].backends[0].address6, c->vips[0].backends[0].address6, 16);
	cr_assert_arr_eq(copy->address6, c->address6, 16);

	/* The same address as an existing backend, differently written: a duplicate. */
	struct dplb_vip_config *web6 = &copy->vips[0];
	web6->backends[1] = web6->backends[0];
	web6->backends[1].weight = 7;
	cr_assert_eq(dplb_config_validate(copy, &errs), -EINVAL);
	cr_assert_not_null(strstr(errs.messages[0], "duplicate backend 2001:db8:1::21"), "%s",
			   all_messages(&errs));
	web6->backends[1] = c->vips[0].backends[1];

	/* An IPv4 backend and an IPv6 one that share their first four bytes
	 * are not the same backend. */
	web6->backends[1].address = 0;
	memcpy(&web6->backends[1].address, web6->backends[0].address6, 4);
	cr_assert_eq(dplb_config_validate(copy, &errs), 0, "%s", all_messages(&errs));
	web6->backends[1] = c->vips[0].backends[1];

	/* allow or deny on an IPv6 VIP; fragments = follow is fine. */
	cr_assert_null(dplb_parse_prefix("10.0.0.0/8", 10, &prefix));
	web6->deny.items = realloc(web6->deny.items, sizeof(prefix));
	web6->deny.items[0] = prefix;
	web6->deny.count = 1;
	web6->fragments = DPLB_FRAGMENTS_FOLLOW;
	cr_assert_eq(dplb_config_validate(copy, &errs), -EINVAL);
	expect_count(&errs, 1);
	cr_assert_str_eq(errs.messages[0],
			 "[vip:web6] deny holds 10.0.0.0/8, and the VIP's "
			 "address is IPv6: its clients, so its sources, are IPv6");
	web6->deny.count = 0;
	web6->fragments = DPLB_FRAGMENTS_DROP;

	/* An IPv6 backend with no address6 to send from. */
	copy->has_address6 = false;
	cr_assert_eq(dplb_config_validate(copy, &errs), -EINVAL);
	cr_assert_not_null(strstr(errs.messages[0], "2001:db8:1::21 is IPv6, and [dataplane] has "
						    "no address6"),
			   "%s", all_messages(&errs));
	dplb_config_free(copy);
	dplb_config_free(c);
}

Test(config_ipv6, backend_lines_round_trip)
{
	static const char *const lines[] = {
		"2001:db8::21",
		"2001:db8::21 weight=3 state=drain mac=02:00:00:00:00:05",
		"2001:db8:0:1:2:3:4:5 health_port=8080",
		"192.0.2.7 weight=2",
		"::ffff:0:a00:2", /* parsed here; refused by the VIP's rules */
	};
	struct dplb_backend_config b, again;
	char error[DPLB_ERROR_MAX], text[256];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		cr_assert_eq(dplb_config_parse_backend(lines[i], &b, error), 0, "%s: %s", lines[i],
			     error);
		cr_assert_eq(b.family, strchr(lines[i], ':') ? AF_INET6 : AF_INET, "%s", lines[i]);
		cr_assert_gt(dplb_config_format_backend(&b, text, sizeof(text)), 0);
		cr_assert_eq(dplb_config_parse_backend(text, &again, error), 0, "%s: %s", text,
			     error);
		cr_assert_eq(dplb_backend_address_compare(&b, &again), 0, "%s", text);
		cr_assert_eq(again.weight, b.weight);
		cr_assert_eq(again.state, b.state);
	}
	cr_assert_eq(dplb_config_parse_backend("2001:db8::21 weight=2", &b, error), 0);
	cr_assert_eq(dplb_config_format_backend(&b, text, sizeof(text)), 21);
	cr_assert_str_eq(text, "2001:db8::21 weight=2");
	cr_assert_eq(dplb_config_parse_backend("2001:db8:::21", &b, error), -EINVAL);
	cr_assert_not_null(strstr(error, "bad address \"2001:db8:::21\""), "%s", error);
}

Test(config_ipv6, the_summary_says_it)
{
	struct dplb_config *c = load_good(CONFIGS "ipv6.ini");

	expect_printed(c, "address6 2001:db8:1::10/64, gateway6 fe80::1 (mac 02:00:00:00:00:61)");
	expect_printed(c, "vip web6: [2001:db8:ff::80]:80/tcp");
	expect_printed(c, "  backend 2001:db8:1::21 weight 2 up\n");
	expect_printed(c, "vip web4: 192.0.2.100:80/tcp");
	dplb_config_free(c);
}
