/*
 * Unit tests for forwarding snapshots (lib/control/state.c), under an EAL without
 * hugepages (the identities registry is an rte_hash).
 *
 * Configurations go through the real INI loader, so the tests see the same
 * snapshots dplb builds. Expectations come from the configurations and from
 * independent computations (a direct Maglev build over the up backends'
 * addresses, weight shares), not from earlier runs.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "control/neighbor.h"
#include "control/neighbor.h"
#include "control/state.h"
#include "control/state_builder.h"
#include "dpdk_test.h"
#include "health/health_state.h"
#include "packet/maglev.h"

static struct dplb_identities *ids;

static void setup(void)
{
	test_eal_init(NULL);
	ids = dplb_identities_create();
	cr_assert_not_null(ids);
}

static void teardown(void)
{
	dplb_identities_free(ids);
	ids = NULL;
	test_eal_fini();
}

TestSuite(state, .init = setup, .fini = teardown, .timeout = 60);

static uint32_t ip(const char *text)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, text, &a), 1, "bad test address %s", text);
	return a.s_addr;
}

/* ---- VIP lookup ------------------------------------------------------- */

static const char *const VIPS_INI =
	"[dataplane]\naddress = 10.0.0.1\n\n"
	"[vip:tcp80]\naddress = 10.0.0.100\nport = 80\nprotocol = tcp\nmaglev_size = 7\n"
	"backend = 10.1.0.1\n\n"
	"[vip:tcpany]\naddress = 10.0.0.100\nprotocol = tcp\nmaglev_size = 7\n"
	"backend = 10.1.0.2\n\n"
	"[vip:udp80]\naddress = 10.0.0.100\nport = 80\nprotocol = udp\nmaglev_size = 7\n"
	"backend = 10.1.0.3\n\n"
	"[vip:udpany]\naddress = 10.0.0.101\nprotocol = udp\nmaglev_size = 7\n"
	"backend = 10.1.0.4\n";

static const char *found_name(const struct dplb_state *state, const char *address, uint16_t port,
			      uint8_t protocol)
{
	const struct dplb_vip_entry *vip =
		dplb_state_find_vip(state, ip(address), rte_cpu_to_be_16(port), protocol);

	return vip != NULL ? vip->config->name : "(none)";
}

Test(state, find_vip_exact_port_then_wildcard_by_protocol)
{
	struct dplb_state *state = test_state_from_text(ids, VIPS_INI, 1);
	static const struct {
		const char *address;
		uint16_t port;
		uint8_t protocol;
		const char *want;
	} cases[] = {
		{ "10.0.0.100", 80, IPPROTO_TCP, "tcp80" },   /* exact beats wildcard */
		{ "10.0.0.100", 443, IPPROTO_TCP, "tcpany" }, /* wildcard catches the rest */
		{ "10.0.0.100", 0, IPPROTO_TCP, "tcpany" },
		{ "10.0.0.100", 20480, IPPROTO_TCP, "tcpany" }, /* 80 byte-swapped */
		{ "10.0.0.100", 80, IPPROTO_UDP, "udp80" },	/* protocol distinguishes */
		{ "10.0.0.100", 53, IPPROTO_UDP, "(none)" },	/* no UDP wildcard there */
		{ "10.0.0.101", 53, IPPROTO_UDP, "udpany" },
		{ "10.0.0.101", 80, IPPROTO_UDP, "udpany" },
		{ "10.0.0.101", 80, IPPROTO_TCP, "(none)" },
		{ "10.0.0.102", 80, IPPROTO_TCP, "(none)" },
		{ "10.0.0.1", 80, IPPROTO_TCP, "(none)" },   /* our own address */
		{ "100.0.0.10", 80, IPPROTO_TCP, "(none)" }, /* the VIP byte-swapped */
	};

	for (uint32_t i = 0; i < RTE_DIM(cases); i++)
		cr_expect_str_eq(
			found_name(state, cases[i].address, cases[i].port, cases[i].protocol),
			cases[i].want, "%s:%u proto %u", cases[i].address, cases[i].port,
			cases[i].protocol);
	dplb_state_free(state);
}

/* A burst's destinations in runs and alternations, each answered through one
 * memo: every answer is the index's own, whether it came from the memo or
 * not (one that only differs in port, in protocol or in address included). */
Test(state, find_vip_memo_answers_as_the_index_does)
{
	struct dplb_state *state = test_state_from_text(ids, VIPS_INI, 1);
	static const struct {
		const char *address;
		uint16_t port;
		uint8_t protocol;
	} destinations[] = {
		{ "10.0.0.100", 80, IPPROTO_TCP },  { "10.0.0.100", 80, IPPROTO_TCP },
		{ "10.0.0.100", 443, IPPROTO_TCP }, { "10.0.0.100", 80, IPPROTO_TCP },
		{ "10.0.0.100", 80, IPPROTO_UDP },  { "10.0.0.100", 80, IPPROTO_UDP },
		{ "10.0.0.100", 53, IPPROTO_UDP },  { "10.0.0.100", 53, IPPROTO_UDP },
		{ "10.0.0.101", 53, IPPROTO_UDP },  { "10.0.0.101", 53, IPPROTO_TCP },
		{ "10.0.0.101", 53, IPPROTO_UDP },  { "10.0.0.102", 53, IPPROTO_UDP },
		{ "0.0.0.0", 0, IPPROTO_TCP },	    { "10.0.0.100", 0, IPPROTO_TCP },
	};
	struct dplb_vip_memo memo;

	dplb_vip_memo_init(&memo);
	cr_expect_null(dplb_state_find_vip_memo(state, &memo, 0, 0, 0), "protocol 0: no VIP");
	for (uint32_t i = 0; i < RTE_DIM(destinations); i++) {
		const uint32_t address = ip(destinations[i].address);
		const rte_be16_t port = rte_cpu_to_be_16(destinations[i].port);
		const uint8_t protocol = destinations[i].protocol;

		cr_expect_eq(dplb_state_find_vip_memo(state, &memo, address, port, protocol),
			     dplb_state_find_vip(state, address, port, protocol), "%s:%u proto %u",
			     destinations[i].address, destinations[i].port, protocol);
	}
	dplb_state_free(state);
}

/* What dplb_state_fragment_vip (or _vip6, for an address with a colon)
 * says of address and protocol: a VIP's name or the name of the answer. */
static const char *fragment_vip_name(const struct dplb_state *state, const char *address,
				     uint8_t protocol)
{
	uint8_t address6[16];
	int32_t index;

	if (strchr(address, ':') != NULL) {
		cr_assert_eq(inet_pton(AF_INET6, address, address6), 1, "bad address %s", address);
		index = dplb_state_fragment_vip6(state, address6, protocol);
	} else {
		index = dplb_state_fragment_vip(state, ip(address), protocol);
	}

	switch (index) {
	case DPLB_FRAGMENT_VIP_NONE:
		return "(none)";
	case DPLB_FRAGMENT_VIP_SEVERAL:
		return "(several)";
	case DPLB_FRAGMENT_VIP_DROPPED:
		return "(dropped)";
	}
	cr_assert(index >= 0 && (uint32_t)index < state->vip_count, "index %d", index);
	cr_assert_eq(state->vips[index].fragments, DPLB_FRAGMENTS_FOLLOW);
	return state->vips[index].config->name;
}

Test(state, fragments_without_ports_find_the_one_vip_of_their_address_and_protocol)
{
	static const char *const text =
		"[dataplane]\naddress = 10.0.0.1\n\n"
		/* 10.0.0.100: two TCP VIPs, one UDP VIP. */
		"[vip:tcp80]\naddress = 10.0.0.100\nport = 80\nprotocol = tcp\nmaglev_size = 7\n"
		"backend = 10.1.0.1\n\n"
		"[vip:tcp443]\naddress = 10.0.0.100\nport = 443\nprotocol = tcp\n"
		"maglev_size = 7\nfragments = drop\nbackend = 10.1.0.2\n\n"
		"[vip:udp53]\naddress = 10.0.0.100\nport = 53\nprotocol = udp\nmaglev_size = 7\n"
		"backend = 10.1.0.3\n\n"
		/* 10.0.0.101: one VIP that drops fragments. */
		"[vip:nofrag]\naddress = 10.0.0.101\nprotocol = udp\nmaglev_size = 7\n"
		"fragments = drop\nbackend = 10.1.0.4\n\n"
		/* 10.0.0.102: two VIPs, both dropping fragments. */
		"[vip:d1]\naddress = 10.0.0.102\nport = 1\nprotocol = tcp\nmaglev_size = 7\n"
		"fragments = drop\nbackend = 10.1.0.5\n\n"
		"[vip:d2]\naddress = 10.0.0.102\nport = 2\nprotocol = tcp\nmaglev_size = 7\n"
		"fragments = drop\nbackend = 10.1.0.6\n\n"
		/* 10.0.0.103: one VIP on every port. */
		"[vip:any]\naddress = 10.0.0.103\nprotocol = tcp\nmaglev_size = 7\n"
		"backend = 10.1.0.7\n\n"
		/* 2001:db8::100, as 10.0.0.100: two TCP VIPs, one UDP VIP. */
		"[vip:web6]\naddress = 2001:db8::100\nport = 80\nprotocol = tcp\nmaglev_size = 7\n"
		"backend = 10.1.0.1\n\n"
		"[vip:tls6]\naddress = 2001:db8::100\nport = 443\nprotocol = tcp\n"
		"maglev_size = 7\nbackend = 10.1.0.2\n\n"
		"[vip:dns6]\naddress = 2001:db8::100\nport = 53\nprotocol = udp\nmaglev_size = 7\n"
		"backend = 10.1.0.3\n\n"
		/* 2001:db8::101: one VIP that drops fragments. */
		"[vip:nofrag6]\naddress = 2001:db8::101\nprotocol = udp\nmaglev_size = 7\n"
		"fragments = drop\nbackend = 10.1.0.4\n";
	struct dplb_state *state = test_state_from_text(ids, text, 1);
	static const struct {
		const char *address;
		uint8_t protocol;
		const char *want;
	} cases[] = {
		{ "10.0.0.100", IPPROTO_TCP, "(several)" }, /* 80 or 443: no port to tell */
		{ "10.0.0.100", IPPROTO_UDP, "udp53" },	    /* the one UDP VIP there */
		{ "10.0.0.101", IPPROTO_UDP, "(dropped)" },
		{ "10.0.0.101", IPPROTO_TCP, "(none)" },
		{ "10.0.0.102", IPPROTO_TCP, "(dropped)" },
		{ "10.0.0.103", IPPROTO_TCP, "any" },
		{ "10.0.0.103", IPPROTO_UDP, "(none)" },
		{ "10.0.0.1", IPPROTO_TCP, "(none)" }, /* our own address */
		{ "10.0.0.104", IPPROTO_TCP, "(none)" },
		{ "2001:db8::100", IPPROTO_TCP, "(several)" },
		{ "2001:db8::100", IPPROTO_UDP, "dns6" },
		{ "2001:db8::101", IPPROTO_UDP, "(dropped)" },
		{ "2001:db8::101", IPPROTO_TCP, "(none)" },
		{ "2001:db8::102", IPPROTO_UDP, "(none)" },
		/* An IPv4 VIP is never an IPv6 fragment's, mapped or not. */
		{ "::ffff:10.0.0.103", IPPROTO_TCP, "(none)" },
		{ "::a00:67", IPPROTO_TCP, "(none)" },
	};

	for (uint32_t i = 0; i < RTE_DIM(cases); i++)
		cr_expect_str_eq(fragment_vip_name(state, cases[i].address, cases[i].protocol),
				 cases[i].want, "%s proto %u", cases[i].address, cases[i].protocol);
	/* The setting reaches each VIP of the snapshot. */
	for (uint32_t i = 0; i < state->vip_count; i++)
		cr_expect_eq(state->vips[i].fragments, state->vips[i].config->fragments);
	dplb_state_free(state);
}

Test(state, find_vip_among_many)
{
	/* Enough VIPs that the open-addressed index must probe past collisions. */
	const uint32_t count = DPLB_MAX_VIPS;
	char *text = malloc(count * 160 + 128);
	size_t used = 0;

	cr_assert_not_null(text);
	used += (size_t)sprintf(text + used, "[dataplane]\naddress = 10.0.0.1\n");
	for (uint32_t i = 0; i < count; i++)
		used += (size_t)sprintf(
			text + used,
			"[vip:v%u]\naddress = 10.2.%u.%u\nport = %u\nprotocol = %s\n"
			"maglev_size = 7\nbackend = 10.3.0.1\n",
			i, i % 4, i / 4 + 1, 1000 + i % 7, i % 3 ? "tcp" : "udp");
	struct dplb_state *state = test_state_from_text(ids, text, 1);
	free(text);
	cr_assert_eq(state->vip_count, count);
	for (uint32_t i = 0; i < count; i++) {
		char address[32], name[16];

		snprintf(address, sizeof(address), "10.2.%u.%u", i % 4, i / 4 + 1);
		snprintf(name, sizeof(name), "v%u", i);
		const uint8_t protocol = i % 3 ? IPPROTO_TCP : IPPROTO_UDP;
		cr_assert_str_eq(found_name(state, address, 1000 + i % 7, protocol), name);
		cr_assert_str_eq(found_name(state, address, 999, protocol), "(none)");
		cr_assert_str_eq(found_name(state, address, 1000 + i % 7,
					    protocol == IPPROTO_TCP ? IPPROTO_UDP : IPPROTO_TCP),
				 "(none)");
		/* Every VIP's address, whatever its port and protocol. */
		cr_assert(dplb_state_is_vip_address(state, ip(address)), "%s", address);
		snprintf(address, sizeof(address), "10.4.%u.%u", i % 4, i / 4 + 1);
		cr_assert_not(dplb_state_is_vip_address(state, ip(address)), "%s", address);
	}
	dplb_state_free(state);
}

/* INI text for VIPs (tcp, maglev_size 7, one backend) at the given
 * addresses and ports; the first is named "target". */
static char *vips_text(const char *const *addresses, const uint32_t *ports, uint32_t count)
{
	char *text = malloc(count * 160 + 64);
	size_t used = 0;

	cr_assert_not_null(text);
	used += (size_t)sprintf(text, "[dataplane]\naddress = 10.0.0.1\n");
	for (uint32_t i = 0; i < count; i++)
		used += (size_t)sprintf(text + used,
					"[vip:%s%u]\naddress = %s\nport = %u\nprotocol = tcp\n"
					"maglev_size = 7\nbackend = 10.1.0.1\n",
					i ? "v" : "target", i, addresses[i], ports[i]);
	return text;
}

static uint32_t home_slot(uint32_t address, uint32_t port, uint8_t protocol, uint32_t mask)
{
	return dplb_vip_slot_hash(address, rte_cpu_to_be_16((uint16_t)port), protocol) & mask;
}

Test(state, find_vip_protocol_counts_along_a_probe_chain)
{
	/* A UDP lookup whose probe chain runs into a TCP VIP of the same
	 * address and port must not return it: build an index where every slot
	 * from the UDP tuple's home to the TCP VIP's is occupied. The index
	 * size depends only on the VIP count, so it is learned first. */
	enum { COUNT = 12 };
	const char *addresses[COUNT];
	uint32_t ports[COUNT];
	const uint32_t target_address = ip("10.0.0.100"), filler_address = ip("10.0.0.200");

	for (uint32_t i = 0; i < COUNT; i++) {
		addresses[i] = "10.0.0.201";
		ports[i] = i + 1;
	}
	char *text = vips_text(addresses, ports, COUNT);
	struct dplb_state *probe = test_state_from_text(ids, text, 1);
	const uint32_t mask = probe->vip_slot_mask;
	dplb_state_free(probe);
	free(text);

	/* A target port whose TCP home lies a short way after its UDP home. */
	uint32_t port, gap = 0;
	for (port = 1; port < 65536; port++) {
		gap = (home_slot(target_address, port, IPPROTO_TCP, mask) -
		       home_slot(target_address, port, IPPROTO_UDP, mask)) &
		      mask;
		if (gap < COUNT)
			break;
	}
	cr_assert_lt(port, 65536, "no usable target port");
	const uint32_t udp_home = home_slot(target_address, port, IPPROTO_UDP, mask);
	addresses[0] = "10.0.0.100";
	ports[0] = port;
	/* Fillers whose homes are the slots in between; padding elsewhere. */
	uint32_t next_port = 1;
	for (uint32_t j = 0; j < gap; j++) {
		while (home_slot(filler_address, next_port, IPPROTO_TCP, mask) !=
		       ((udp_home + j) & mask))
			cr_assert_lt(++next_port, 65536, "no filler for slot %u", udp_home + j);
		addresses[1 + j] = "10.0.0.200";
		ports[1 + j] = next_port;
		next_port = 1;
	}
	text = vips_text(addresses, ports, COUNT);
	struct dplb_state *state = test_state_from_text(ids, text, 2);
	free(text);
	cr_assert_eq(state->vip_slot_mask, mask);
	for (uint32_t j = 0; j <= gap; j++)
		cr_assert_geq(state->vip_slots[(udp_home + j) & mask], 0, "slot %u empty",
			      (udp_home + j) & mask);

	cr_assert_str_eq(found_name(state, "10.0.0.100", (uint16_t)port, IPPROTO_TCP), "target0");
	cr_assert_str_eq(found_name(state, "10.0.0.100", (uint16_t)port, IPPROTO_UDP), "(none)",
			 "port %u: a UDP packet matched a TCP VIP %u slots on", port, gap);
	dplb_state_free(state);
}

Test(state, duplicate_vip_tuple_is_refused)
{
	/* The loader catches this too; the index must not rely on it. */
	struct dplb_config *config = test_config_from_text(VIPS_INI);
	struct dplb_state *state = NULL;
	char error[DPLB_ERROR_MAX];

	config->vips[1].port = config->vips[0].port; /* tcpany becomes tcp:80 */
	cr_assert_eq(dplb_state_build(config, ids, 1, &state, error), -EEXIST);
	cr_assert_null(state);
	cr_assert_not_null(strstr(error, "same address, port and protocol"), "error: %s", error);
}

/* ---- next hops -------------------------------------------------------- */

Test(state, next_hop_address)
{
	static const struct {
		const char *address, *gateway;
		uint32_t prefix_length;
		const char *backend, *want;
	} cases[] = {
		/* No prefix: all on-link without a gateway, all behind one with. */
		{ "10.0.0.1", NULL, 0, "10.0.0.2", "10.0.0.2" },
		{ "10.0.0.1", NULL, 0, "192.0.2.7", "192.0.2.7" },
		{ "10.0.0.1", "10.0.0.254", 0, "10.0.0.2", "10.0.0.254" },
		{ "10.0.0.1", "10.0.0.254", 0, "192.0.2.7", "10.0.0.254" },
		/* A prefix decides, with the gateway for the rest. */
		{ "10.0.0.1", "10.0.0.254", 24, "10.0.0.2", "10.0.0.2" },
		{ "10.0.0.1", "10.0.0.254", 24, "10.0.0.255", "10.0.0.255" },
		{ "10.0.0.1", "10.0.0.254", 24, "10.0.1.2", "10.0.0.254" },
		{ "10.0.0.1", "10.0.0.254", 24, "192.0.2.7", "10.0.0.254" },
		{ "10.1.0.1", "10.1.0.254", 16, "10.1.255.255", "10.1.255.255" },
		{ "10.1.0.1", "10.1.0.254", 16, "10.2.0.0", "10.1.0.254" },
		{ "10.1.0.1", "10.1.0.254", 16, "10.0.255.255", "10.1.0.254" },
		{ "10.0.0.1", "10.0.0.254", 8, "10.200.3.4", "10.200.3.4" },
		{ "10.0.0.1", "10.0.0.254", 8, "11.0.0.1", "10.0.0.254" },
		{ "10.0.0.1", "10.0.0.254", 1, "100.0.0.1", "100.0.0.1" },
		{ "10.0.0.1", "10.0.0.254", 1, "200.0.0.1", "10.0.0.254" },
		{ "10.0.0.1", "10.0.0.254", 32, "10.0.0.2", "10.0.0.254" },
		{ "10.0.0.1", "10.0.0.254", 31, "10.0.0.0", "10.0.0.0" },
		{ "10.0.0.1", "10.0.0.254", 31, "10.0.0.2", "10.0.0.254" },
		/* A prefix without a gateway: off-link backends are asked for directly. */
		{ "10.0.0.1", NULL, 24, "10.0.0.9", "10.0.0.9" },
		{ "10.0.0.1", NULL, 24, "192.0.2.7", "192.0.2.7" },
	};
	static struct dplb_config config;

	for (uint32_t i = 0; i < RTE_DIM(cases); i++) {
		memset(&config, 0, sizeof(config));
		config.address = ip(cases[i].address);
		config.gateway = cases[i].gateway ? ip(cases[i].gateway) : 0;
		config.prefix_length = cases[i].prefix_length;
		const uint32_t got = dplb_next_hop_address(&config, ip(cases[i].backend));
		char text[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &got, text, sizeof(text));
		cr_expect_eq(got, ip(cases[i].want),
			     "case %u: %s/%u gw %s, backend %s: got %s want %s", i,
			     cases[i].address, cases[i].prefix_length,
			     cases[i].gateway ? cases[i].gateway : "-", cases[i].backend, text,
			     cases[i].want);
	}
}

Test(state, backend_needs_arp)
{
	static const struct {
		const char *gateway;
		uint32_t prefix_length;
		bool gateway_mac, backend_mac;
		const char *backend;
		bool want;
	} cases[] = {
		/* A backend's own MAC always wins. */
		{ NULL, 0, false, true, "10.0.0.2", false },
		{ "10.0.0.254", 24, false, true, "192.0.2.7", false },
		/* Nothing static: ask. */
		{ NULL, 0, false, false, "10.0.0.2", true },
		{ "10.0.0.254", 24, false, false, "192.0.2.7", true },
		/* A gateway MAC without a gateway address serves everyone. */
		{ NULL, 0, true, false, "10.0.0.2", false },
		{ NULL, 24, true, false, "10.0.0.2", false },
		{ NULL, 24, true, false, "192.0.2.7", false },
		/* With a gateway address, only backends behind the gateway. */
		{ "10.0.0.254", 24, true, false, "192.0.2.7", false },
		{ "10.0.0.254", 24, true, false, "10.0.0.2", true },
		{ "10.0.0.254", 0, true, false, "10.0.0.2", false },
		{ "10.0.0.254", 0, true, false, "192.0.2.7", false },
	};
	static struct dplb_config config;

	for (uint32_t i = 0; i < RTE_DIM(cases); i++) {
		struct dplb_backend_config backend = { .address = ip(cases[i].backend),
						       .weight = 1 };

		memset(&config, 0, sizeof(config));
		config.address = ip("10.0.0.1");
		config.gateway = cases[i].gateway ? ip(cases[i].gateway) : 0;
		config.prefix_length = cases[i].prefix_length;
		config.has_gateway_mac = cases[i].gateway_mac;
		backend.has_mac = cases[i].backend_mac;
		cr_expect_eq(dplb_backend_needs_arp(&config, &backend), cases[i].want,
			     "case %u: gw %s/%u gateway_mac %d mac %d backend %s", i,
			     cases[i].gateway ? cases[i].gateway : "-", cases[i].prefix_length,
			     cases[i].gateway_mac, cases[i].backend_mac, cases[i].backend);
	}
}

static const char *const NEXT_HOPS_INI =
	"[dataplane]\naddress = 10.0.0.1\nprefix_length = 24\ngateway = 10.0.0.254\n"
	"gateway_mac = 02:00:00:00:00:fe\n\n"
	"[vip:a]\naddress = 10.0.0.100\nmaglev_size = 7\n"
	"backend = 10.0.0.2 mac=02:00:00:00:00:02\n" /* static */
	"backend = 192.0.2.3\n"			     /* behind the gateway */
	"backend = 10.0.0.4\n"			     /* on-link, resolved */
	"backend = 10.0.0.5\n";			     /* on-link, unresolved */

/* An IPv4 backend's outer header, made with the snapshot (encap_header.h):
 * toward mac (zeros: unresolved), from src to the backend, carrying
 * protocol with TTL 64; TOS, length, id, fragment field and checksum left
 * to each packet; sum the sum of its words. */
static void expect_header4(const struct dplb_backend_entry *backend, const uint8_t *mac,
			   uint32_t src, uint8_t protocol)
{
	static const uint8_t zeros[8];
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)backend->header4.bytes;
	const struct rte_ipv4_hdr *outer = (const struct rte_ipv4_hdr *)(eth + 1);

	cr_assert_eq(backend->family, AF_INET);
	cr_assert_arr_eq(eth->dst_addr.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	cr_assert_arr_eq(eth->src_addr.addr_bytes, zeros, RTE_ETHER_ADDR_LEN, "the port's, later");
	cr_assert_eq(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
	cr_assert_eq(outer->version_ihl, 0x45);
	cr_assert_eq(outer->time_to_live, 64);
	cr_assert_eq(outer->next_proto_id, protocol);
	cr_assert_eq(outer->src_addr, src);
	cr_assert_eq(outer->dst_addr, backend->address);
	cr_assert_eq(outer->type_of_service, 0);
	cr_assert_arr_eq(&outer->total_length, zeros, 6, "length, id, fragment");
	cr_assert_eq(outer->hdr_checksum, 0);
	cr_assert_eq(backend->header4.sum, rte_raw_cksum(outer, sizeof(*outer)));
}

static void expect_mac(const struct dplb_backend_entry *backend, const uint8_t *mac)
{
	cr_assert_eq(backend->has_next_hop, 1);
	cr_assert_arr_eq(backend->next_hop_mac.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	/* An IPv4 backend's made header goes to that MAC too (the rest of it:
	 * ipv4_backends_have_their_vips_outer_header). */
	if (backend->family == AF_INET)
		cr_assert_arr_eq(backend->header4.bytes, mac, RTE_ETHER_ADDR_LEN);
}

Test(state, next_hop_macs_static_gateway_and_learned)
{
	static const uint8_t own[6] = { 2, 0, 0, 0, 0, 0x02 }, gateway[6] = { 2, 0, 0, 0, 0, 0xfe },
			     learned4[6] = { 2, 0, 0, 0, 0x44, 0x04 },
			     learned5[6] = { 2, 0, 0, 0, 0x55, 0x05 };
	struct dplb_neighbors *neighbors = calloc(1, sizeof(*neighbors));
	struct dplb_state *first = NULL, *second = NULL;
	char error[DPLB_ERROR_MAX];
	const struct dplb_state_inputs inputs = { .neighbors = neighbors };

	cr_assert_not_null(neighbors);
	cr_assert_eq(dplb_neighbors_want(neighbors, ip("10.0.0.4")), 0);
	cr_assert_eq(dplb_neighbors_want(neighbors, ip("10.0.0.5")), 0);
	cr_assert(dplb_neighbors_learn(neighbors, ip("10.0.0.4"), learned4, 1000));
	cr_assert_eq(dplb_state_build_with(test_config_from_text(NEXT_HOPS_INI), ids, &inputs, 1,
					   &first, error),
		     0, "%s", error);
	const struct dplb_vip_entry *vip = test_vip_named(first, "a");
	expect_mac(&first->backends[test_backend_id(vip, first, ip("10.0.0.2"))], own);
	expect_mac(&first->backends[test_backend_id(vip, first, ip("192.0.2.3"))], gateway);
	expect_mac(&first->backends[test_backend_id(vip, first, ip("10.0.0.4"))], learned4);
	cr_assert_eq(first->backends[test_backend_id(vip, first, ip("10.0.0.5"))].has_next_hop, 0,
		     "unresolved backend given a MAC");

	/* A rebuild with a new answer: same configuration, same ids, the MAC. */
	cr_assert(dplb_neighbors_learn(neighbors, ip("10.0.0.5"), learned5, 2000));
	cr_assert_eq(dplb_state_rebuild(first, ids, &inputs, 2, &second, error), 0, "%s", error);
	cr_assert_eq(second->config, first->config, "rebuild copied the configuration");
	cr_assert_eq(second->generation, 2);
	const struct dplb_vip_entry *vip2 = test_vip_named(second, "a");
	cr_assert_eq(vip2->id, vip->id);
	for (uint32_t i = 0; i < vip->backend_count; i++)
		cr_assert_eq(vip2->backend_ids[i], vip->backend_ids[i]);
	expect_mac(&second->backends[test_backend_id(vip2, second, ip("10.0.0.5"))], learned5);
	expect_mac(&second->backends[test_backend_id(vip2, second, ip("10.0.0.2"))], own);
	/* The old snapshot is unchanged, and each frees independently. */
	cr_assert_eq(first->backends[test_backend_id(vip, first, ip("10.0.0.5"))].has_next_hop, 0);
	dplb_state_free(first);
	expect_mac(&second->backends[test_backend_id(vip2, second, ip("10.0.0.4"))], learned4);
	cr_assert_str_eq(second->config->vips[0].name, "a");
	dplb_state_free(second);
	free(neighbors);
}

/* ---- stable ids ------------------------------------------------------- */

static const char *const IDS_FIRST_INI =
	"[dataplane]\naddress = 10.0.0.1\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
	"backend = 10.0.1.2\nbackend = 10.0.1.3\nbackend = 10.0.1.4\n\n"
	"[vip:api]\naddress = 10.0.0.200\nmaglev_size = 7\nbackend = 10.0.1.2\n";

/* A VIP added in front, web reordered with one backend more, api the same. */
static const char *const IDS_SECOND_INI =
	"[dataplane]\naddress = 10.0.0.1\n\n"
	"[vip:new]\naddress = 10.0.0.50\nmaglev_size = 7\nbackend = 10.0.1.9\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
	"backend = 10.0.1.4\nbackend = 10.0.1.5\nbackend = 10.0.1.2\nbackend = 10.0.1.3\n\n"
	"[vip:api]\naddress = 10.0.0.200\nmaglev_size = 7\nbackend = 10.0.1.2\n";

/* web without 10.0.1.3, then with it again. */
static const char *const IDS_THIRD_INI =
	"[dataplane]\naddress = 10.0.0.1\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
	"backend = 10.0.1.2\nbackend = 10.0.1.4\n";

Test(state, backend_and_vip_ids_are_stable)
{
	struct dplb_state *first = test_state_from_text(ids, IDS_FIRST_INI, 1);
	struct dplb_state *second = test_state_from_text(ids, IDS_SECOND_INI, 2);
	const struct dplb_vip_entry *web1 = test_vip_named(first, "web");
	const struct dplb_vip_entry *web2 = test_vip_named(second, "web");
	const struct dplb_vip_entry *api1 = test_vip_named(first, "api");
	const struct dplb_vip_entry *api2 = test_vip_named(second, "api");
	const struct dplb_vip_entry *new2 = test_vip_named(second, "new");
	const char *const kept[] = { "10.0.1.2", "10.0.1.3", "10.0.1.4" };

	cr_assert_eq(web2->id, web1->id, "web changed id");
	cr_assert_eq(api2->id, api1->id, "api changed id");
	cr_assert_neq(new2->id, web1->id);
	cr_assert_neq(new2->id, api1->id);
	cr_assert_str_eq(dplb_vip_id_name(ids, web1->id), "web");
	cr_assert_str_eq(dplb_vip_id_name(ids, new2->id), "new");

	for (uint32_t i = 0; i < RTE_DIM(kept); i++)
		cr_assert_eq(test_backend_id(web2, second, ip(kept[i])),
			     test_backend_id(web1, first, ip(kept[i])), "%s changed id", kept[i]);
	cr_assert_eq(test_backend_id(api2, second, ip("10.0.1.2")),
		     test_backend_id(api1, first, ip("10.0.1.2")));
	/* Same address, another VIP: another backend. */
	cr_assert_neq(test_backend_id(api1, first, ip("10.0.1.2")),
		      test_backend_id(web1, first, ip("10.0.1.2")));
	/* The added backend has an id no earlier backend had. */
	const uint32_t added = test_backend_id(web2, second, ip("10.0.1.5"));
	for (uint32_t i = 0; i < web1->backend_count; i++)
		cr_assert_neq(added, web1->backend_ids[i]);
	cr_assert_neq(added, api1->backend_ids[0]);
	/* Entries describe their backend. */
	cr_assert_eq(second->backends[added].address, ip("10.0.1.5"));
	cr_assert_eq(second->backends[added].vip_id, web2->id);
	cr_assert_eq(second->backends[added].present, 1);
	cr_assert_eq(first->backends[added].present, 0);

	/* Removed, then configured again: the same id as before. */
	const uint32_t removed = test_backend_id(web1, first, ip("10.0.1.3"));
	struct dplb_state *third = test_state_from_text(ids, IDS_THIRD_INI, 3);
	cr_assert_eq(third->backends[removed].present, 0, "a removed backend is still present");
	struct dplb_state *fourth = test_state_from_text(ids, IDS_FIRST_INI, 4);
	cr_assert_eq(test_backend_id(test_vip_named(fourth, "web"), fourth, ip("10.0.1.3")),
		     removed);
	dplb_state_free(first);
	dplb_state_free(second);
	dplb_state_free(third);
	dplb_state_free(fourth);
}

/* ---- schedulers' tables ----------------------------------------------- */

static const char *const MIXED_INI =
	"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n\n"
	"[vip:mixed]\naddress = 10.0.0.100\nmaglev_size = 1009\n"
	"backend = 10.0.1.2\n"
	"backend = 10.0.1.3 state=drain\n"
	"backend = 10.0.1.4 state=down\n"
	"backend = 10.0.1.5 weight=3\n\n"
	"[vip:dead]\naddress = 10.0.0.101\nmaglev_size = 1009\nscheduler = weighted-round-robin\n"
	"backend = 10.0.1.2 state=down\nbackend = 10.0.1.6 state=drain\n";

/* The same backends in another order. */
static const char *const MIXED_REORDERED_INI =
	"[dataplane]\naddress = 10.0.0.1\ngateway_mac = 02:00:00:00:00:fe\n\n"
	"[vip:mixed]\naddress = 10.0.0.100\nmaglev_size = 1009\n"
	"backend = 10.0.1.5 weight=3\n"
	"backend = 10.0.1.4 state=down\n"
	"backend = 10.0.1.3 state=drain\n"
	"backend = 10.0.1.2\n";

Test(state, maglev_table_holds_only_up_backends)
{
	struct dplb_state *state = test_state_from_text(ids, MIXED_INI, 1);
	const struct dplb_vip_entry *vip = test_vip_named(state, "mixed");
	const uint32_t up2 = test_backend_id(vip, state, ip("10.0.1.2"));
	const uint32_t drain3 = test_backend_id(vip, state, ip("10.0.1.3"));
	const uint32_t down4 = test_backend_id(vip, state, ip("10.0.1.4"));
	const uint32_t up5 = test_backend_id(vip, state, ip("10.0.1.5"));
	uint32_t slots2 = 0, slots5 = 0;

	cr_assert_eq(vip->backend_count, 4);
	cr_assert_eq(vip->up_count, 2);
	cr_assert_eq(vip->up_ids[0], up2);
	cr_assert_eq(vip->up_ids[1], up5);
	cr_assert_eq(state->backends[drain3].state, DPLB_BACKEND_DRAIN);
	cr_assert_eq(state->backends[down4].state, DPLB_BACKEND_DOWN);
	cr_assert_eq(vip->maglev_size, 1009);
	for (uint32_t slot = 0; slot < vip->maglev_size; slot++) {
		const uint32_t id = vip->maglev[slot];

		cr_assert(id == up2 || id == up5, "slot %u holds %u (drain %u, down %u)", slot, id,
			  drain3, down4);
		slots2 += id == up2;
		slots5 += id == up5;
	}
	/* Each owns floor or ceil of its weight's share (1:3). */
	cr_assert(slots5 == 1009 * 3 / 4 || slots5 == 1009 * 3 / 4 + 1, "weight 3 got %u", slots5);
	cr_assert_eq(slots2 + slots5, 1009);

	/* The same table a direct build over the up backends' addresses gives:
	 * what any other instance with the same backends computes. */
	const uint32_t address2 = ip("10.0.1.2"), address5 = ip("10.0.1.5");
	const struct maglev_backend direct[2] = {
		{ .key = &address5, .key_len = 4, .weight = 3 },
		{ .key = &address2, .key_len = 4, .weight = 1 },
	};
	uint32_t *table = malloc(1009 * sizeof(*table));
	cr_assert_not_null(table);
	cr_assert_eq(maglev_build(direct, 2, 1009, table), 0);
	for (uint32_t slot = 0; slot < 1009; slot++)
		cr_assert_eq(vip->maglev[slot], table[slot] == 0 ? up5 : up2, "slot %u", slot);
	free(table);

	/* A VIP with nothing up builds, with an empty table and sequence. */
	const struct dplb_vip_entry *dead = test_vip_named(state, "dead");
	cr_assert_eq(dead->up_count, 0);
	cr_assert_eq(dead->wrr_length, 0);
	for (uint32_t slot = 0; slot < dead->maglev_size; slot++)
		cr_assert_eq(dead->maglev[slot], MAGLEV_NO_BACKEND);
	dplb_state_free(state);
}

Test(state, maglev_table_ignores_configuration_order)
{
	struct dplb_state *a = test_state_from_text(ids, MIXED_INI, 1);
	struct dplb_identities *other_ids = dplb_identities_create();
	cr_assert_not_null(other_ids);
	/* Another instance: its own ids, backends listed in another order. */
	struct dplb_state *b = test_state_from_text(other_ids, MIXED_REORDERED_INI, 1);
	const struct dplb_vip_entry *va = test_vip_named(a, "mixed");
	const struct dplb_vip_entry *vb = test_vip_named(b, "mixed");

	cr_assert_eq(va->maglev_size, vb->maglev_size);
	for (uint32_t slot = 0; slot < va->maglev_size; slot++)
		cr_assert_eq(a->backends[va->maglev[slot]].address,
			     b->backends[vb->maglev[slot]].address, "slot %u differs", slot);
	dplb_state_free(a);
	dplb_state_free(b);
	dplb_identities_free(other_ids);
}

/* How often each up backend appears in the WRR sequence, and whether every
 * prefix of it stays within one pick of the ideal share (smooth WRR). */
static void check_wrr(const struct dplb_state *state, const struct dplb_vip_entry *vip,
		      const char *const *addresses, const uint32_t *weights, uint32_t n,
		      uint32_t want_length, bool check_smooth)
{
	uint64_t total = 0;
	uint32_t *seen = calloc(n, sizeof(*seen));

	cr_assert_not_null(seen);
	for (uint32_t i = 0; i < n; i++)
		total += weights[i];
	cr_assert_eq(vip->wrr_length, want_length, "length %u, want %u", vip->wrr_length,
		     want_length);
	for (uint32_t step = 0; step < vip->wrr_length; step++) {
		uint32_t which = n;

		for (uint32_t i = 0; i < n; i++)
			if (vip->wrr_sequence[step] ==
			    test_backend_id(vip, state, ip(addresses[i])))
				which = i;
		cr_assert_lt(which, n, "step %u: id %u is no up backend", step,
			     vip->wrr_sequence[step]);
		seen[which]++;
		if (check_smooth)
			for (uint32_t i = 0; i < n; i++) {
				const double ideal =
					(double)(step + 1) * weights[i] / (double)total;

				cr_assert_lt(fabs(seen[i] - ideal), 1.0,
					     "step %u: %s picked %u times, ideal %.2f", step,
					     addresses[i], seen[i], ideal);
			}
	}
	/* Whole cycles hold each backend in proportion to its weight. */
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq((uint64_t)seen[i] * total, (uint64_t)weights[i] * vip->wrr_length,
			     "%s: %u of %u, weight %u of %lu", addresses[i], seen[i],
			     vip->wrr_length, weights[i], (unsigned long)total);
	free(seen);
}

Test(state, wrr_sequence_follows_weights)
{
	static const char *const INI =
		"[dataplane]\naddress = 10.0.0.1\n\n"
		"[vip:wrr]\naddress = 10.0.0.100\nmaglev_size = 7\n"
		"scheduler = weighted-round-robin\n"
		"backend = 10.0.1.2 weight=5\nbackend = 10.0.1.3 weight=3\n"
		"backend = 10.0.1.4 weight=7 state=down\nbackend = 10.0.1.5 weight=2\n"
		"backend = 10.0.1.6 weight=4 state=drain\n\n"
		"[vip:reduced]\naddress = 10.0.0.101\nmaglev_size = 7\n"
		"scheduler = weighted-round-robin\n"
		"backend = 10.0.1.2 weight=600\nbackend = 10.0.1.3 weight=400\n"
		"backend = 10.0.1.4 weight=200\n\n"
		"[vip:equal]\naddress = 10.0.0.102\nmaglev_size = 7\n"
		"scheduler = weighted-round-robin\n"
		"backend = 10.0.1.2\nbackend = 10.0.1.3\nbackend = 10.0.1.4\n";
	struct dplb_state *state = test_state_from_text(ids, INI, 1);
	const char *const wrr_up[] = { "10.0.1.2", "10.0.1.3", "10.0.1.5" };
	const uint32_t wrr_weights[] = { 5, 3, 2 };
	const char *const three[] = { "10.0.1.2", "10.0.1.3", "10.0.1.4" };
	const uint32_t reduced_weights[] = { 600, 400, 200 };
	const uint32_t equal_weights[] = { 1, 1, 1 };

	/* Drained and down backends take no new flows. */
	check_wrr(state, test_vip_named(state, "wrr"), wrr_up, wrr_weights, 3, 10, true);
	/* Weights divided by their common divisor keep the sequence short. */
	check_wrr(state, test_vip_named(state, "reduced"), three, reduced_weights, 3, 6, true);
	check_wrr(state, test_vip_named(state, "equal"), three, equal_weights, 3, 3, true);
	dplb_state_free(state);
}

Test(state, wrr_sequence_scales_large_weights)
{
	static const char *const INI =
		"[dataplane]\naddress = 10.0.0.1\n\n"
		"[vip:big]\naddress = 10.0.0.100\nmaglev_size = 7\n"
		"scheduler = weighted-round-robin\n"
		"backend = 10.0.1.2 weight=65535\nbackend = 10.0.1.3 weight=65534\n"
		"backend = 10.0.1.4 weight=1\n";
	struct dplb_state *state = test_state_from_text(ids, INI, 1);
	const struct dplb_vip_entry *vip = test_vip_named(state, "big");
	const uint32_t id[3] = { test_backend_id(vip, state, ip("10.0.1.2")),
				 test_backend_id(vip, state, ip("10.0.1.3")),
				 test_backend_id(vip, state, ip("10.0.1.4")) };
	const double weight[3] = { 65535, 65534, 1 };
	uint32_t seen[3] = { 0 };

	cr_assert_leq(vip->wrr_length, 65536, "sequence of %u", vip->wrr_length);
	cr_assert_gt(vip->wrr_length, 60000);
	for (uint32_t step = 0; step < vip->wrr_length; step++)
		for (uint32_t i = 0; i < 3; i++)
			seen[i] += vip->wrr_sequence[step] == id[i];
	cr_assert_eq(seen[0] + seen[1] + seen[2], vip->wrr_length);
	/* The smallest keeps a place; the others keep their shares. */
	cr_assert_geq(seen[2], 1);
	for (uint32_t i = 0; i < 2; i++) {
		const double share = (double)seen[i] / vip->wrr_length;
		const double want = weight[i] / (weight[0] + weight[1] + weight[2]);

		cr_assert_lt(fabs(share - want), 0.001, "backend %u: share %f, want %f", i, share,
			     want);
	}
	dplb_state_free(state);
}

/* ---- ping ------------------------------------------------------------- */

Test(state, answers_ping_for_itself_and_vips_only)
{
	struct dplb_state *state = test_state_from_text(ids, VIPS_INI, 1);

	cr_assert(dplb_state_answers_ping(state, ip("10.0.0.1")), "own address");
	cr_assert(dplb_state_answers_ping(state, ip("10.0.0.100")), "VIP");
	cr_assert(dplb_state_answers_ping(state, ip("10.0.0.101")), "UDP-only VIP");
	cr_assert_not(dplb_state_answers_ping(state, ip("10.1.0.1")), "a backend");
	cr_assert_not(dplb_state_answers_ping(state, ip("10.0.0.102")));
	cr_assert_not(dplb_state_answers_ping(state, ip("1.0.0.10")), "own address byte-swapped");
	cr_assert_not(dplb_state_answers_ping(state, 0));
	/* Three VIPs share 10.0.0.100: each address is stored once. */
	uint32_t stored = 0;
	for (uint32_t slot = 0; slot <= state->vip_address_mask; slot++)
		stored += state->vip_addresses[slot] != 0;
	cr_assert_eq(stored, 2, "%u addresses stored", stored);
	dplb_state_free(state);
}

/* ---- built off the management lcore ----------------------------------- */

struct built {
	struct dplb_state *state;
	int rc;
	char error[DPLB_ERROR_MAX];
};

static void keep_built(void *arg, struct dplb_state *state, int rc, const char *error)
{
	struct built *built = arg;

	built->state = state;
	built->rc = rc;
	snprintf(built->error, sizeof(built->error), "%s", error);
}

/* prepared's tables built by a state builder, as dplb does; the main thread
 * only waits on the builder's descriptor, as the management loop does. */
static struct dplb_state *build_off_loop(struct dplb_state *prepared)
{
	struct dplb_state_builder *builder = dplb_state_builder_create();
	struct built built = { .rc = 1 };

	cr_assert_not_null(builder);
	struct pollfd ready = { .fd = dplb_state_builder_fd(builder), .events = POLLIN };

	cr_assert_eq(dplb_state_builder_start(builder, prepared, keep_built, &built), 0);
	cr_assert(dplb_state_builder_busy(builder));
	cr_assert_eq(dplb_state_builder_start(builder, prepared, keep_built, &built), -EBUSY,
		     "one build at a time");
	while (!dplb_state_builder_poll(builder)) {
		cr_assert_null(built.state, "handed over before the build ended");
		cr_assert_geq(poll(&ready, 1, 60000), 0);
	}
	cr_assert_not(dplb_state_builder_busy(builder));
	dplb_state_builder_free(builder);
	cr_assert_eq(built.rc, 0, "%s", built.error);
	cr_assert_eq(built.state, prepared);
	return built.state;
}

/* Byte for byte, every array workers read. */
static void expect_same_snapshot(const struct dplb_state *a, const struct dplb_state *b)
{
	cr_assert_eq(a->generation, b->generation);
	cr_assert_eq(a->vip_count, b->vip_count);
	cr_assert_eq(a->backend_id_limit, b->backend_id_limit);
	cr_assert_eq(memcmp(a->backends, b->backends, a->backend_id_limit * sizeof(*a->backends)),
		     0, "backends differ");
	cr_assert_eq(a->vip_slot_mask, b->vip_slot_mask);
	cr_assert_eq(
		memcmp(a->vip_slots, b->vip_slots, (a->vip_slot_mask + 1) * sizeof(*a->vip_slots)),
		0);
	for (uint32_t i = 0; i < a->vip_count; i++) {
		const struct dplb_vip_entry *x = &a->vips[i], *y = &b->vips[i];
		const char *name = x->config->name;

		cr_assert_str_eq(name, y->config->name);
		cr_assert_eq(x->id, y->id, "%s", name);
		cr_assert_eq(x->maglev_size, y->maglev_size, "%s", name);
		cr_assert_not_null(y->maglev, "%s: no Maglev table", name);
		cr_assert_eq(memcmp(x->maglev, y->maglev, x->maglev_size * sizeof(*x->maglev)), 0,
			     "%s: Maglev tables differ", name);
		cr_assert_eq(x->backend_count, y->backend_count, "%s", name);
		cr_assert_eq(memcmp(x->backend_ids, y->backend_ids,
				    x->backend_count * sizeof(*x->backend_ids)),
			     0, "%s", name);
		cr_assert_eq(x->up_count, y->up_count, "%s", name);
		cr_assert_eq(memcmp(x->up_ids, y->up_ids, x->up_count * sizeof(*x->up_ids)), 0,
			     "%s", name);
		cr_assert_eq(x->no_healthy_backend, y->no_healthy_backend, "%s", name);
		cr_assert_eq(x->unhealthy_count, y->unhealthy_count, "%s", name);
		cr_assert_eq(x->wrr_length, y->wrr_length, "%s", name);
		if (x->wrr_length > 0)
			cr_assert_eq(memcmp(x->wrr_sequence, y->wrr_sequence,
					    x->wrr_length * sizeof(*x->wrr_sequence)),
				     0, "%s: WRR sequences differ", name);
	}
}

/* Several schedulers, weights, drained and down backends, big and small
 * tables. */
static char *builder_ini(void)
{
	const size_t size = 64 * 1024;
	char *text = malloc(size);
	size_t n;

	cr_assert_not_null(text);
	n = (size_t)snprintf(text, size,
			     "[dataplane]\naddress = 10.0.0.1\n\n"
			     "[vip:big]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 1000003\n");
	for (uint32_t b = 0; b < 600; b++)
		n += (size_t)snprintf(text + n, size - n, "backend = 10.1.%u.%u weight=%u%s\n",
				      b / 200, b % 200 + 1, b % 7 + 1,
				      b % 50 == 0   ? " state=drain"
				      : b % 61 == 0 ? " state=down"
						    : "");
	n += (size_t)snprintf(text + n, size - n,
			      "\n[vip:wrr]\naddress = 10.0.0.101\nmaglev_size = 65537\n"
			      "scheduler = weighted-round-robin\n");
	for (uint32_t b = 0; b < 40; b++)
		n += (size_t)snprintf(text + n, size - n, "backend = 10.2.0.%u weight=%u\n", b + 1,
				      b * 37 % 100 + 1);
	snprintf(text + n, size - n,
		 "\n[vip:small]\naddress = 10.0.0.102\nmaglev_size = 251\n"
		 "scheduler = source-hash\nbackend = 10.3.0.1\nbackend = 10.3.0.2 weight=3\n");
	return text;
}

Test(state, tables_built_off_the_management_lcore_equal_blocking_ones)
{
	struct dplb_backend_health *health = calloc(DPLB_MAX_BACKEND_IDS, sizeof(*health));
	const struct dplb_state_inputs inputs = { .health = health };
	struct dplb_state *blocking, *prepared, *off_loop, *rebuilt, *reprepared;
	char *text = builder_ini();
	char error[DPLB_ERROR_MAX];

	cr_assert_not_null(health);
	cr_assert_eq(
		dplb_state_build_with(test_config_from_text(text), ids, NULL, 1, &blocking, error),
		0, "%s", error);
	cr_assert_eq(
		dplb_state_prepare(test_config_from_text(text), ids, NULL, 1, &prepared, error), 0,
		"%s", error);
	for (uint32_t i = 0; i < prepared->vip_count; i++)
		cr_assert_null(prepared->vips[i].maglev, "prepared with tables already");
	off_loop = build_off_loop(prepared);
	expect_same_snapshot(blocking, off_loop);

	/* A republish after health changed: some backends down, some in slow
	 * start, one VIP with none left. */
	const struct dplb_vip_entry *big = test_vip_named(blocking, "big");
	const struct dplb_vip_entry *small = test_vip_named(blocking, "small");

	for (uint32_t i = 0; i < big->backend_count; i += 9)
		health[big->backend_ids[i]].status = DPLB_HEALTH_UNHEALTHY;
	for (uint32_t i = 4; i < big->backend_count; i += 11)
		health[big->backend_ids[i]] =
			(struct dplb_backend_health){ .status = DPLB_HEALTH_HEALTHY,
						      .weight_percent = 30 };
	for (uint32_t i = 0; i < small->backend_count; i++)
		health[small->backend_ids[i]].status = DPLB_HEALTH_UNHEALTHY;
	cr_assert_eq(dplb_state_rebuild(blocking, ids, &inputs, 2, &rebuilt, error), 0, "%s",
		     error);
	cr_assert_eq(dplb_state_prepare_rebuild(off_loop, ids, &inputs, 2, &reprepared, error), 0,
		     "%s", error);
	/* The snapshot it came from may go while the build runs: the
	 * configuration is shared, counted, and stays. */
	dplb_state_free(off_loop);
	expect_same_snapshot(rebuilt, build_off_loop(reprepared));
	cr_assert(test_vip_named(reprepared, "small")->no_healthy_backend);
	cr_assert_lt(test_vip_named(reprepared, "big")->up_count, big->up_count);

	dplb_state_free(reprepared);
	dplb_state_free(rebuilt);
	dplb_state_free(blocking);
	free(text);
	free(health);
}

/* ---- protection ------------------------------------------------------- */

static const char *const PROTECTED_INI =
	"[dataplane]\naddress = 10.0.0.1\n\n"
	"[vip:web]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
	"allow = 10.0.0.0/8 192.168.1.0/24\ndeny = 10.1.0.0/16 192.168.1.7\n"
	"new_flow_rate = 1000\nnew_flow_burst = 10\nrate_limit_action = stateless\n"
	"backend = 10.1.0.1\n\n"
	"[vip:tls]\naddress = 10.0.0.100\nport = 443\nmaglev_size = 7\n"
	"allow = 192.168.1.0/24 10.0.0.0/8\ndeny = 192.168.1.7/32 10.1.0.0/16\n"
	"backend = 10.1.0.1\n\n"
	"[vip:open]\naddress = 10.0.0.101\nport = 80\nmaglev_size = 7\n"
	"backend = 10.1.0.2\n";

Test(state, sources_are_checked_by_each_vips_lists)
{
	struct dplb_state *state = test_state_from_text(ids, PROTECTED_INI, 1);
	const struct dplb_vip_protection *web = &test_vip_named(state, "web")->protection;
	const struct dplb_vip_protection *open = &test_vip_named(state, "open")->protection;

	cr_assert_not_null(web->acl);
	cr_assert(dplb_protect_source_allowed(web, ip("10.2.3.4")));
	cr_assert(dplb_protect_source_allowed(web, ip("192.168.1.8")));
	cr_assert_not(dplb_protect_source_allowed(web, ip("10.1.3.4")));    /* denied inside */
	cr_assert_not(dplb_protect_source_allowed(web, ip("192.168.1.7"))); /* a /32 */
	cr_assert_not(dplb_protect_source_allowed(web, ip("172.16.0.1")));  /* not allowed */
	cr_assert_null(open->acl);
	cr_assert(dplb_protect_source_allowed(open, ip("172.16.0.1")));
	/* The rate limit's share of the only worker (none given: one). */
	cr_assert(web->limited && web->stateless);
	cr_assert_eq(web->new_flow_limit.interval, rte_get_tsc_hz() / 1000);
	cr_assert_eq(web->new_flow_limit.tolerance, 9 * web->new_flow_limit.interval);
	cr_assert_not(open->limited);
	dplb_state_free(state);
}

Test(state, vips_and_snapshots_with_the_same_lists_share_one_table)
{
	const uint32_t before = dplb_protect_table_count();
	struct dplb_state *first = test_state_from_text(ids, PROTECTED_INI, 1);
	struct dplb_state *second, *other;
	char error[DPLB_ERROR_MAX];

	/* web and tls list the same prefixes in another order: one table. */
	cr_assert_eq(dplb_protect_table_count(), before + 1);
	cr_assert_eq(test_vip_named(first, "web")->protection.acl,
		     test_vip_named(first, "tls")->protection.acl);
	/* A snapshot of the same configuration (health, next hops) builds none. */
	const struct dplb_state_inputs inputs = { .workers = 4 };
	cr_assert_eq(dplb_state_rebuild(first, ids, &inputs, 2, &second, error), 0, "%s", error);
	cr_assert_eq(dplb_protect_table_count(), before + 1);
	cr_assert_eq(test_vip_named(second, "web")->protection.acl,
		     test_vip_named(first, "web")->protection.acl);
	/* Four workers share the rate: each takes a quarter, bursts of 3. */
	cr_assert_eq(test_vip_named(second, "web")->protection.new_flow_limit.interval,
		     4 * rte_get_tsc_hz() / 1000);
	cr_assert_eq(test_vip_named(second, "web")->protection.new_flow_limit.tolerance,
		     2 * 4 * rte_get_tsc_hz() / 1000);
	/* Freeing one snapshot leaves the table to the other. */
	dplb_state_free(first);
	cr_assert_eq(dplb_protect_table_count(), before + 1);
	cr_assert_not(dplb_protect_source_allowed(&test_vip_named(second, "web")->protection,
						  ip("10.1.0.9")));
	dplb_state_free(second);
	cr_assert_eq(dplb_protect_table_count(), before);
	/* Other lists, another table; gone with its snapshot. */
	other = test_state_from_text(
		ids,
		"[dataplane]\naddress = 10.0.0.1\n[vip:web]\naddress = 10.0.0.100\n"
		"deny = 10.0.0.0/8\nbackend = 10.1.0.1\n",
		3);
	cr_assert_eq(dplb_protect_table_count(), before + 1);
	cr_assert_not(dplb_protect_source_allowed(&other->vips[0].protection, ip("10.9.9.9")));
	cr_assert(dplb_protect_source_allowed(&other->vips[0].protection, ip("11.9.9.9")));
	dplb_state_free(other);
	cr_assert_eq(dplb_protect_table_count(), before);
}

/* ---- IPv6 --------------------------------------------------------------- */

static void ip6(const char *text, uint8_t out[16])
{
	cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "bad test address %s", text);
}

static bool allowed6(const struct dplb_vip_protection *p, const char *source)
{
	uint8_t a6[16];

	ip6(source, a6);
	return dplb_protect_source_allowed6(p, a6);
}

Test(state, an_ipv6_vips_lists_are_loaded_into_rte_lpm6_and_shared)
{
	const uint32_t before = dplb_protect_table_count();
	struct dplb_state *state = test_state_from_text(
		ids,
		"[dataplane]\naddress = 10.0.0.1\n\n"
		"[vip:web6]\naddress = 2001:db8:ff::80\nport = 80\nmaglev_size = 7\n"
		"allow = 2001:db8:c::/48 fd00::/8\ndeny = 2001:db8:c:bad::/64 2001:db8:c::7\n"
		"backend = 10.1.0.1\n\n"
		"[vip:tls6]\naddress = 2001:db8:ff::80\nport = 443\nmaglev_size = 7\n"
		"allow = fd00::/8 2001:db8:c::/48\ndeny = 2001:db8:c::7/128 2001:db8:c:bad::/64\n"
		"backend = 10.1.0.1\n\n"
		"[vip:all-but6]\naddress = 2001:db8:ff::81\nport = 80\nmaglev_size = 7\n"
		"deny = ::/0\nbackend = 10.1.0.1\n\n"
		"[vip:all-but4]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
		"deny = 0.0.0.0/0\nbackend = 10.1.0.1\n\n"
		"[vip:open6]\naddress = 2001:db8:ff::82\nport = 80\nmaglev_size = 7\n"
		"backend = 10.1.0.1\n",
		1);
	const struct dplb_vip_protection *web6 = &test_vip_named(state, "web6")->protection;
	const struct dplb_vip_protection *all_but6 = &test_vip_named(state, "all-but6")->protection;
	const struct dplb_vip_protection *open6 = &test_vip_named(state, "open6")->protection;

	cr_assert_not_null(web6->acl6);
	cr_assert_null(web6->acl);
	cr_assert(allowed6(web6, "2001:db8:c::1"));
	cr_assert(allowed6(web6, "fd12:3456::1"));
	cr_assert_not(allowed6(web6, "2001:db8:c::7"));	      /* a /128 inside the allow */
	cr_assert_not(allowed6(web6, "2001:db8:c:bad:1::1")); /* a /64 inside it */
	cr_assert_not(allowed6(web6, "2001:db8:d::1"));	      /* not allowed */
	/* A /0 (rte_lpm6 and rte_lpm take none) is the default verdict. */
	cr_assert_not(allowed6(all_but6, "2001:db8:c::1"));
	cr_assert_not(dplb_protect_source_allowed(&test_vip_named(state, "all-but4")->protection,
						  ip("10.9.9.9")));
	cr_assert_null(open6->acl6);
	cr_assert(allowed6(open6, "2001:db8:d::1"));
	/* web6 and tls6 decide alike: one table; three in all. */
	cr_assert_eq(test_vip_named(state, "tls6")->protection.acl6, web6->acl6);
	cr_assert_eq(dplb_protect_table_count(), before + 3);
	dplb_state_free(state);
	cr_assert_eq(dplb_protect_table_count(), before);
}

/* The stable id of vip's backend at address (either family). */
static uint32_t backend_id_of(const struct dplb_vip_entry *vip, const struct dplb_state *state,
			      const char *address)
{
	uint8_t a6[16];

	if (strchr(address, ':') == NULL)
		return test_backend_id(vip, state, ip(address));
	ip6(address, a6);
	for (uint32_t i = 0; i < vip->backend_count; i++) {
		const struct dplb_backend_entry *b = &state->backends[vip->backend_ids[i]];

		if (b->family == AF_INET6 && memcmp(b->address6, a6, 16) == 0)
			return vip->backend_ids[i];
	}
	cr_assert_fail("vip %s has no backend %s", vip->config->name, address);
	return UINT32_MAX;
}

static const char *const V6_INI =
	"[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\nprefix_length6 = 64\n"
	"gateway6 = 2001:db8::fe\ngateway_mac6 = 02:00:00:00:06:fe\n\n"
	"[vip:web6]\naddress = 2001:db8:ff::1\nport = 80\nmaglev_size = 1009\n"
	"backend = 2001:db8::2 mac=02:00:00:00:06:02\n" /* static */
	"backend = 2001:db8:5::3\n"			/* behind gateway6 */
	"backend = 2001:db8::4\n"			/* on-link, learned */
	"backend = 2001:db8::5\n"			/* on-link, unresolved */
	"backend = 10.0.0.6\n\n"			/* IPv4, unresolved */
	"[vip:any6]\naddress = 2001:db8:ff::1\nmaglev_size = 7\nbackend = 2001:db8::2\n\n"
	"[vip:dns6]\naddress = 2001:db8:ff::2\nport = 53\nprotocol = udp\nmaglev_size = 7\n"
	"backend = 10.0.0.7\n\n"
	"[vip:web4]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
	"backend = 2001:db8::2\n";

/* Each IPv4 backend's header carries what its VIP's packets need: IPv4 in
 * IPv4, GUE's UDP, IPv6 in IPv4; the snapshot's address as the source. */
Test(state, ipv4_backends_have_their_vips_outer_header)
{
	static const uint8_t gateway[6] = { 2, 0, 0, 0, 0, 0xfe };
	struct dplb_state *state = test_state_from_text(
		ids,
		"[dataplane]\naddress = 10.0.0.1\naddress6 = 2001:db8::1\nprefix_length = 24\n"
		"gateway = 10.0.0.254\ngateway_mac = 02:00:00:00:00:fe\n\n"
		"[vip:ipip]\naddress = 10.0.0.100\nport = 80\nmaglev_size = 7\n"
		"backend = 192.0.2.1\n\n"
		"[vip:gue]\naddress = 10.0.0.101\nport = 80\nencap = gue\nmaglev_size = 7\n"
		"backend = 192.0.2.2\n\n"
		"[vip:six]\naddress = 2001:db8:ff::1\nport = 80\nmaglev_size = 7\n"
		"backend = 192.0.2.3\n",
		1);
	static const struct {
		const char *vip, *backend;
		uint8_t protocol;
	} cases[] = {
		{ "ipip", "192.0.2.1", IPPROTO_IPIP },
		{ "gue", "192.0.2.2", IPPROTO_UDP },
		{ "six", "192.0.2.3", IPPROTO_IPV6 },
	};

	for (uint32_t i = 0; i < RTE_DIM(cases); i++) {
		const struct dplb_vip_entry *vip = test_vip_named(state, cases[i].vip);

		expect_header4(&state->backends[test_backend_id(vip, state, ip(cases[i].backend))],
			       gateway, ip("10.0.0.1"), cases[i].protocol);
	}
	dplb_state_free(state);
}

static const char *found6_name(const struct dplb_state *state, const char *address, uint16_t port,
			       uint8_t protocol)
{
	uint8_t a6[16];

	ip6(address, a6);
	const struct dplb_vip_entry *vip =
		dplb_state_find_vip6(state, a6, rte_cpu_to_be_16(port), protocol);
	return vip != NULL ? vip->config->name : "(none)";
}

Test(state, ipv6_vips_found_by_the_ipv6_lookups_only)
{
	struct dplb_state *state = test_state_from_text(ids, V6_INI, 1);
	uint8_t a6[16];

	cr_assert_str_eq(found6_name(state, "2001:db8:ff::1", 80, IPPROTO_TCP), "web6");
	cr_assert_str_eq(found6_name(state, "2001:db8:ff::1", 443, IPPROTO_TCP), "any6");
	cr_assert_str_eq(found6_name(state, "2001:db8:ff::1", 80, IPPROTO_UDP), "(none)");
	cr_assert_str_eq(found6_name(state, "2001:db8:ff::2", 53, IPPROTO_UDP), "dns6");
	cr_assert_str_eq(found6_name(state, "2001:db8:ff::2", 54, IPPROTO_UDP), "(none)");
	cr_assert_str_eq(found6_name(state, "2001:db8:ff::3", 80, IPPROTO_TCP), "(none)");
	/* The IPv4 VIP is not an IPv6 one, even as ::ffff:10.0.0.100; nor are
	 * the IPv6 VIPs (address 0) found by the IPv4 lookups. */
	cr_assert_str_eq(found6_name(state, "::ffff:10.0.0.100", 80, IPPROTO_TCP), "(none)");
	cr_assert_str_eq(found_name(state, "10.0.0.100", 80, IPPROTO_TCP), "web4");
	cr_assert_null(dplb_state_find_vip(state, 0, rte_cpu_to_be_16(80), IPPROTO_TCP));
	cr_assert_null(dplb_state_find_vip(state, 0, rte_cpu_to_be_16(53), IPPROTO_UDP));
	cr_assert_not(dplb_state_is_vip_address(state, 0));
	cr_assert_eq(dplb_state_fragment_vip(state, 0, IPPROTO_UDP), DPLB_FRAGMENT_VIP_NONE);
	cr_assert_eq(dplb_state_fragment_vip(state, 0, IPPROTO_TCP), DPLB_FRAGMENT_VIP_NONE);
	cr_assert_eq(dplb_state_fragment_vip(state, ip("10.0.0.100"), IPPROTO_TCP),
		     test_vip_named(state, "web4") - state->vips);

	/* Entries say their family. */
	const struct dplb_vip_entry *web6 = test_vip_named(state, "web6");
	ip6("2001:db8:ff::1", a6);
	cr_assert_eq(web6->family, AF_INET6);
	cr_assert_eq(web6->address, 0);
	cr_assert_arr_eq(web6->address6, a6, 16);
	cr_assert_eq(web6->fragments, DPLB_FRAGMENTS_FOLLOW);
	cr_assert_eq(test_vip_named(state, "web4")->family, AF_INET);

	/* Addresses, and pings: our address6 and IPv6 VIPs' only. */
	cr_assert(dplb_state_is_vip_address6(state, a6));
	cr_assert(dplb_state_answers_ping6(state, a6));
	ip6("2001:db8:ff::2", a6);
	cr_assert(dplb_state_answers_ping6(state, a6), "UDP-only VIP");
	ip6("2001:db8::1", a6);
	cr_assert_not(dplb_state_is_vip_address6(state, a6));
	cr_assert(dplb_state_answers_ping6(state, a6), "own address6");
	cr_assert(state->has_local_address6);
	cr_assert_arr_eq(state->local_address6, a6, 16);
	ip6("2001:db8::2", a6);
	cr_assert_not(dplb_state_answers_ping6(state, a6), "a backend");
	ip6("::ffff:10.0.0.100", a6);
	cr_assert_not(dplb_state_answers_ping6(state, a6), "an IPv4 VIP");
	/* Two VIPs share 2001:db8:ff::1: stored once. */
	uint32_t stored = 0;
	for (uint32_t slot = 0; slot <= state->vip6_address_mask; slot++)
		stored += state->vip6_addresses[slot] >= 0;
	cr_assert_eq(stored, 2, "%u addresses stored", stored);
	dplb_state_free(state);

	/* Without address6, nothing of ours answers IPv6. */
	state = test_state_from_text(ids,
				     "[dataplane]\naddress = 10.0.0.1\n[vip:a]\naddress = "
				     "10.0.0.100\nbackend = 10.0.0.2\n",
				     2);
	memset(a6, 0, sizeof(a6));
	cr_assert_not(state->has_local_address6);
	cr_assert_not(dplb_state_answers_ping6(state, a6));
	dplb_state_free(state);
}

Test(state, ipv6_backends_entries_ids_and_maglev)
{
	struct dplb_identities *fresh = dplb_identities_create();
	struct dplb_state *state = test_state_from_text(fresh, V6_INI, 1);
	const struct dplb_vip_entry *web6 = test_vip_named(state, "web6");
	const char *const order[] = { "2001:db8::2", "2001:db8:5::3", "2001:db8::4", "2001:db8::5",
				      "10.0.0.6" };
	uint32_t slots[RTE_DIM(order)] = { 0 };
	uint8_t a6[16];

	/* Ids go in order of first sight, whatever the family: IPv4 backends
	 * keep the ids they always had. */
	for (uint32_t i = 0; i < RTE_DIM(order); i++)
		cr_assert_eq(backend_id_of(web6, state, order[i]), i, "%s", order[i]);
	cr_assert_eq(dplb_backend_id(fresh, web6->id, ip("10.0.0.6")), 4);
	ip6("2001:db8::4", a6);
	cr_assert_eq(dplb_backend_id6(fresh, web6->id, a6), 2);
	/* An IPv6 address whose first bytes are an IPv4 one's is another backend. */
	ip6("a00:6::", a6);
	cr_assert_geq(dplb_backend_id6(fresh, web6->id, a6), (int)RTE_DIM(order), "not a new id");
	/* Same address, another VIP: another backend. */
	cr_assert_neq(backend_id_of(test_vip_named(state, "any6"), state, "2001:db8::2"),
		      backend_id_of(web6, state, "2001:db8::2"));
	cr_assert_neq(backend_id_of(test_vip_named(state, "web4"), state, "2001:db8::2"),
		      backend_id_of(web6, state, "2001:db8::2"));

	const struct dplb_backend_entry *b4 =
		&state->backends[backend_id_of(web6, state, "2001:db8::4")];
	ip6("2001:db8::4", a6);
	cr_assert_eq(b4->family, AF_INET6);
	cr_assert_eq(b4->address, 0);
	cr_assert_arr_eq(b4->address6, a6, 16);
	cr_assert_eq(b4->vip_id, web6->id);
	cr_assert_eq(b4->present, 1);
	cr_assert_eq(state->backends[backend_id_of(web6, state, "10.0.0.6")].family, AF_INET);

	/* Every backend holds its share of the Maglev table, the IPv6 ones
	 * (keyed by their 16 bytes) as the IPv4 one. */
	cr_assert_eq(web6->up_count, 5);
	for (uint32_t slot = 0; slot < web6->maglev_size; slot++) {
		cr_assert_lt(web6->maglev[slot], RTE_DIM(order));
		slots[web6->maglev[slot]]++;
	}
	for (uint32_t i = 0; i < RTE_DIM(order); i++)
		cr_assert(slots[i] >= 1009 / 5 - 1 && slots[i] <= 1009 / 5 + 1, "%s has %u slots",
			  order[i], slots[i]);

	/* A reload keeps every id. */
	struct dplb_state *again = test_state_from_text(fresh, V6_INI, 2);
	const struct dplb_vip_entry *web6_again = test_vip_named(again, "web6");
	for (uint32_t i = 0; i < RTE_DIM(order); i++)
		cr_assert_eq(backend_id_of(web6_again, again, order[i]), i, "%s", order[i]);
	cr_assert_arr_eq(web6_again->maglev, web6->maglev, 1009 * sizeof(uint32_t));
	dplb_state_free(again);
	dplb_state_free(state);
	dplb_identities_free(fresh);
}

Test(state, next_hop_address6_and_needs_nd)
{
	static const struct {
		const char *gateway;
		uint32_t prefix_length;
		const char *backend, *want;
	} hops[] = {
		{ NULL, 0, "2001:db8:5::5", "2001:db8:5::5" },
		{ "fe80::1", 0, "2001:db8::5", "fe80::1" },
		{ "fe80::1", 64, "2001:db8::5", "2001:db8::5" },
		{ "fe80::1", 64, "2001:db8:0:1::5", "fe80::1" },
		{ "fe80::1", 63, "2001:db8:0:1::5", "2001:db8:0:1::5" },
		{ "fe80::1", 63, "2001:db8:0:2::5", "fe80::1" },
		{ "fe80::1", 128, "2001:db8::2", "fe80::1" },
		{ "2001:db8::fe", 127, "2001:db8::", "2001:db8::" },
		{ NULL, 64, "2001:db9::5", "2001:db9::5" },
	};
	static struct dplb_config config;
	uint8_t backend[16], want[16], got[16];
	char text[INET6_ADDRSTRLEN];

	for (uint32_t i = 0; i < RTE_DIM(hops); i++) {
		memset(&config, 0, sizeof(config));
		config.has_address6 = true;
		ip6("2001:db8::1", config.address6);
		config.has_gateway6 = hops[i].gateway != NULL;
		if (hops[i].gateway != NULL)
			ip6(hops[i].gateway, config.gateway6);
		config.prefix_length6 = hops[i].prefix_length;
		ip6(hops[i].backend, backend);
		ip6(hops[i].want, want);
		dplb_next_hop_address6(&config, backend, got);
		cr_expect_arr_eq(got, want, 16, "case %u: %s via %s/%u: got %s", i, hops[i].backend,
				 hops[i].gateway ? hops[i].gateway : "-", hops[i].prefix_length,
				 inet_ntop(AF_INET6, got, text, sizeof(text)));
	}

	static const struct {
		bool gateway, gateway_mac6, backend_mac;
		const char *backend;
		bool want;
	} nd[] = {
		{ true, true, true, "2001:db8:5::5", false }, /* its own MAC */
		{ false, false, false, "2001:db8::5", true }, /* nothing static */
		{ true, false, false, "2001:db8:5::5", true },
		{ false, true, false, "2001:db8::5", false },  /* gateway_mac6 serves all */
		{ true, true, false, "2001:db8:5::5", false }, /* behind gateway6 */
		{ true, true, false, "2001:db8::5", true },    /* on-link */
		{ true, true, false, "10.0.0.5", false },      /* IPv4: ARP's */
		{ false, false, false, "10.0.0.5", false },
	};

	for (uint32_t i = 0; i < RTE_DIM(nd); i++) {
		struct dplb_backend_config b = { .weight = 1, .has_mac = nd[i].backend_mac };

		memset(&config, 0, sizeof(config));
		config.address = ip("10.0.0.1");
		config.has_address6 = true;
		ip6("2001:db8::1", config.address6);
		config.prefix_length6 = 64;
		config.has_gateway6 = nd[i].gateway;
		ip6("2001:db8::fe", config.gateway6);
		config.has_gateway_mac6 = nd[i].gateway_mac6;
		cr_assert_null(dplb_parse_ip(nd[i].backend, strlen(nd[i].backend), &b.family,
					     &b.address, b.address6));
		cr_expect_eq(dplb_backend_needs_nd(&config, &b), nd[i].want, "case %u: %s", i,
			     nd[i].backend);
		/* Never both, and never ARP for an IPv6 backend. */
		if (b.family == AF_INET6)
			cr_expect_not(dplb_backend_needs_arp(&config, &b), "case %u", i);
	}
}

Test(state, ipv6_next_hop_macs_static_gateway_and_learned)
{
	static const uint8_t own[6] = { 2, 0, 0, 0, 6, 0x02 }, gateway[6] = { 2, 0, 0, 0, 6, 0xfe },
			     learned[6] = { 2, 0, 0, 0, 0x44, 0x04 };
	struct dplb_neighbors6 *neighbors6 = calloc(1, sizeof(*neighbors6));
	struct dplb_neighbors *neighbors = calloc(1, sizeof(*neighbors));
	struct dplb_state *first = NULL, *second = NULL;
	char error[DPLB_ERROR_MAX];
	const struct dplb_state_inputs inputs = { .neighbors = neighbors,
						  .neighbors6 = neighbors6 };

	cr_assert_not_null(neighbors6);
	cr_assert_not_null(neighbors);
	uint8_t four[16], five[16];
	ip6("2001:db8::4", four);
	ip6("2001:db8::5", five);
	cr_assert_eq(dplb_neighbors6_want(neighbors6, four), 0);
	cr_assert_eq(dplb_neighbors6_want(neighbors6, five), 0); /* asked, not answered */
	cr_assert(dplb_neighbors6_learn(neighbors6, four, learned, true, 1000));
	cr_assert_eq(dplb_state_build_with(test_config_from_text(V6_INI), ids, &inputs, 1, &first,
					   error),
		     0, "%s", error);
	const struct dplb_vip_entry *vip = test_vip_named(first, "web6");
	expect_mac(&first->backends[backend_id_of(vip, first, "2001:db8::2")], own);
	expect_mac(&first->backends[backend_id_of(vip, first, "2001:db8:5::3")], gateway);
	expect_mac(&first->backends[backend_id_of(vip, first, "2001:db8::4")], learned);
	cr_assert_eq(first->backends[backend_id_of(vip, first, "2001:db8::5")].has_next_hop, 0);
	cr_assert_eq(first->backends[backend_id_of(vip, first, "10.0.0.6")].has_next_hop, 0);

	/* ND's answer, and ARP's: the rebuild has both. */
	cr_assert(dplb_neighbors6_learn(neighbors6, five, learned, true, 1000));
	cr_assert_eq(dplb_neighbors_want(neighbors, ip("10.0.0.6")), 0);
	cr_assert(dplb_neighbors_learn(neighbors, ip("10.0.0.6"), learned, 1000));
	cr_assert_eq(dplb_state_rebuild(first, ids, &inputs, 2, &second, error), 0, "%s", error);
	vip = test_vip_named(second, "web6");
	expect_mac(&second->backends[backend_id_of(vip, second, "2001:db8::5")], learned);
	expect_mac(&second->backends[backend_id_of(vip, second, "10.0.0.6")], learned);
	dplb_state_free(first);
	dplb_state_free(second);
	/* Without ND's table an IPv6 backend needing it has no next hop. */
	cr_assert_eq(dplb_state_build(test_config_from_text(V6_INI), ids, 3, &first, error), 0);
	vip = test_vip_named(first, "web6");
	cr_assert_eq(first->backends[backend_id_of(vip, first, "2001:db8::4")].has_next_hop, 0);
	expect_mac(&first->backends[backend_id_of(vip, first, "2001:db8:5::3")], gateway);
	dplb_state_free(first);
	free(neighbors);
	free(neighbors6);
}
