/*
 * The health checker (lib/health/health.c) on a configuration with an IPv6
 * backend: its checks go out on IPv6 sockets, a tcp check by a half-open
 * SYN with health_tcp = syn (the default; connect() without CAP_NET_RAW)
 * and by connect() with health_tcp = connect. Needs an EAL (the identities
 * registry is an rte_hash) but no ports; checks go to ::1.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/config.h"
#include "control/state.h"
#include "dpdk_test.h"
#include "health/health.h"

static void setup(void)
{
	test_eal_init(NULL);
}

static void teardown(void)
{
	test_eal_fini();
}

TestSuite(checker6, .init = setup, .fini = teardown, .timeout = 60);

/* A TCP socket bound to ::1 only (IPV6_V6ONLY), its port in *port;
 * listening when listening. Skips where the host has no IPv6 loopback. */
static int socket6(bool listening, uint16_t *port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(a);
	const int on = 1;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		cr_skip_test("no IPv6 loopback here: %s", strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin6_port);
	if (listening)
		cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/*
 * One VIP with one backend, [::1]:port, tcp-checked the way health_tcp
 * says; run the checker until that backend's first check completes and
 * return its report.
 */
static struct dplb_health_report check_once(uint16_t port, const char *health_tcp)
{
	char text[512];
	struct dplb_config *config;
	struct dplb_config_errors errs;
	struct dplb_health_report report;

	/* The backend is made IPv6 in memory: the loader refuses ::1 (no
	 * backend is on loopback), which is where this test's server is. */
	snprintf(text, sizeof(text),
		 "[dataplane]\naddress = 10.0.0.1\n\n[management]\nhealth_tcp = %s\n\n"
		 "[vip:six]\naddress = 10.0.0.100\nport = 80\nhealth_check = tcp\n"
		 "health_interval_ms = 100\nbackend = 10.0.1.1 health_port=%u\n",
		 health_tcp, port);
	cr_assert_eq(dplb_config_load_text("six.ini", text, strlen(text), &config, &errs), 0, "%s",
		     errs.messages[0]);
	struct dplb_backend_config *b = &config->vips[0].backends[0];
	b->family = AF_INET6;
	b->address = 0;
	cr_assert_eq(inet_pton(AF_INET6, "::1", b->address6), 1);

	struct dplb_identities *ids = dplb_identities_create();
	struct dplb_health_checker *checker = dplb_health_create();
	cr_assert(ids != NULL && checker != NULL);
	dplb_health_sync(checker, config, ids);
	const int vip_id = dplb_vip_id(ids, "six");
	cr_assert_geq(vip_id, 0);
	const int id = dplb_backend_config_id(ids, (uint16_t)vip_id, b);
	cr_assert_geq(id, 0);

	const uint64_t deadline = dplb_health_now_ms() + 5000;
	do {
		struct pollfd news = { .fd = dplb_health_fd(checker), .events = POLLIN };

		poll(&news, 1, 10);
		dplb_health_run(checker);
		cr_assert(dplb_health_report(checker, (uint32_t)id, &report));
	} while (!report.has_result && dplb_health_now_ms() < deadline);
	cr_assert(report.has_result, "no check completed in 5 s");

	dplb_health_free(checker);
	dplb_identities_free(ids);
	dplb_config_free(config);
	return report;
}

/* Whether a connection reached listener's accept queue (within 200 ms). */
static bool accepted_something(int listener)
{
	struct pollfd pending = { .fd = listener, .events = POLLIN };

	return poll(&pending, 1, 200) == 1;
}

Test(checker6, tcp_check_of_an_ipv6_backend_by_syn)
{
	uint16_t port;
	const int listener = socket6(true, &port);

	/* Sent to the IPv4 address 0 (this host) instead, a SYN or a connect
	 * would meet no listener: only IPv6 to [::1] finds it healthy. */
	const struct dplb_health_report report = check_once(port, "syn");
	cr_assert(report.last.ok, "%s", report.last.error);
	cr_assert_eq(report.record.status, DPLB_HEALTH_HEALTHY);
	if (geteuid() == 0)
		cr_assert_not(accepted_something(listener),
			      "half-open: the server's application saw nothing");
	close(listener);
}

Test(checker6, tcp_check_of_an_ipv6_backend_with_health_tcp_connect)
{
	uint16_t port;
	const int listener = socket6(true, &port);

	const struct dplb_health_report report = check_once(port, "connect");
	cr_assert(report.last.ok, "%s", report.last.error);
	cr_assert(accepted_something(listener), "a whole connection was made");
	close(listener);
}

Test(checker6, a_closed_ipv6_port_fails_its_check)
{
	uint16_t port;

	close(socket6(false, &port));
	const struct dplb_health_report report = check_once(port, "syn");
	cr_assert_not(report.last.ok);
	cr_assert_str_eq(report.last.error, "connect refused");
}
