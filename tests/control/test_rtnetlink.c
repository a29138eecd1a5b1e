/*
 * The rtnetlink requests of lib/control/rtnetlink.c against the kernel, in
 * a network namespace of the test's own (Criterion runs each test in its
 * own process, which unshares one): host routes of both families added to
 * and removed from a table, through lo, read back with ip(8). Needs root
 * (CAP_SYS_ADMIN for the namespace); skipped without.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/rtnetlink.h"

#define TABLE 100

/* A fresh namespace with lo up; returns lo's ifindex. */
static int private_namespace(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("no network namespace of our own: %s", strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
	return (int)if_nametoindex("lo");
}

/* What `ip -FAMILY route show table TABLE` prints, in out. */
static void routes(int family, char *out, size_t size)
{
	char command[96];
	size_t n;

	snprintf(command, sizeof(command), "ip -%c route show table %d 2>&1",
		 family == AF_INET6 ? '6' : '4', TABLE);
	FILE *p = popen(command, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	pclose(p);
}

static void address6(const char *text, uint8_t out[16])
{
	cr_assert_eq(inet_pton(AF_INET6, text, out), 1);
}

Test(rtnetlink, an_ipv6_host_route_is_added_and_removed)
{
	const int lo = private_namespace();
	uint8_t vip[16];
	char text[1024];

	address6("fd00:db8:1::80", vip);
	cr_assert_eq(dplb_rtnetlink_change_route6(TABLE, RTM_NEWROUTE, vip, lo), 0);
	routes(AF_INET6, text, sizeof(text));
	cr_assert(strstr(text, "fd00:db8:1::80 dev lo proto static") != NULL, "%s", text);
	/* Adding again replaces: still one route. */
	cr_assert_eq(dplb_rtnetlink_change_route6(TABLE, RTM_NEWROUTE, vip, lo), 0);
	routes(AF_INET6, text, sizeof(text));
	const char *first = strstr(text, "fd00:db8:1::80");
	cr_assert(first != NULL && strstr(first + 1, "fd00:db8:1::80") == NULL, "%s", text);
	/* A /128: ip(8) writes a host route without a length. */
	cr_assert(strchr(text, '/') == NULL, "%s", text);

	cr_assert_eq(dplb_rtnetlink_change_route6(TABLE, RTM_DELROUTE, vip, lo), 0);
	routes(AF_INET6, text, sizeof(text));
	cr_assert(strstr(text, "fd00:db8:1::80") == NULL, "%s", text);
	cr_assert_eq(dplb_rtnetlink_change_route6(TABLE, RTM_DELROUTE, vip, lo), 0,
		     "removing a route that is not there is no error");
}

Test(rtnetlink, both_families_share_one_table)
{
	const int lo = private_namespace();
	uint8_t vip6[16];
	struct in_addr vip4;
	char text4[1024], text6[1024];

	address6("fd00:db8:1::81", vip6);
	cr_assert_eq(inet_pton(AF_INET, "198.18.1.81", &vip4), 1);
	cr_assert_eq(dplb_rtnetlink_change_route(TABLE, RTM_NEWROUTE, vip4.s_addr, lo), 0);
	cr_assert_eq(dplb_rtnetlink_change_route6(TABLE, RTM_NEWROUTE, vip6, lo), 0);
	routes(AF_INET, text4, sizeof(text4));
	routes(AF_INET6, text6, sizeof(text6));
	cr_assert(strstr(text4, "198.18.1.81 dev lo proto static scope link") != NULL, "%s", text4);
	cr_assert(strstr(text6, "fd00:db8:1::81 dev lo proto static") != NULL, "%s", text6);

	/* Removing one family's route leaves the other's. */
	cr_assert_eq(dplb_rtnetlink_change_route(TABLE, RTM_DELROUTE, vip4.s_addr, lo), 0);
	routes(AF_INET, text4, sizeof(text4));
	routes(AF_INET6, text6, sizeof(text6));
	cr_assert(strstr(text4, "198.18.1.81") == NULL, "%s", text4);
	cr_assert(strstr(text6, "fd00:db8:1::81 dev lo") != NULL, "%s", text6);
}

Test(rtnetlink, a_table_beyond_255_takes_ipv6_routes_too)
{
	const int lo = private_namespace();
	uint8_t vip[16];
	char command[96], text[512] = "";

	address6("fd00:db8:1::82", vip);
	cr_assert_eq(dplb_rtnetlink_change_route6(70000, RTM_NEWROUTE, vip, lo), 0);
	snprintf(command, sizeof(command), "ip -6 route show table 70000");
	FILE *p = popen(command, "r");
	cr_assert_not_null(p);
	text[fread(text, 1, sizeof(text) - 1, p)] = '\0';
	pclose(p);
	cr_assert(strstr(text, "fd00:db8:1::82 dev lo") != NULL, "%s", text);
}
