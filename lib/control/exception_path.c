/*
 * The kernel's exception path: taps made, polled and removed by the
 * management lcore (see exception_path.h for the picture).
 *
 * Why net_tap and not virtio-user over vhost-net, the other replacement
 * DPDK offers for KNI: this path carries control traffic (a BGP session,
 * ssh, health checks, ARP), a few packets to a few thousand a second, so
 * vhost-net's speed buys nothing here, while net_tap needs only
 * /dev/net/tun (there in containers and network namespaces, where
 * /dev/vhost-net and its module often are not), works under --no-huge as
 * the tests run dplb, and names the kernel's interface and sets its MAC
 * and MTU itself. Its cost, a read or write system call per frame, falls on
 * the management lcore, which may make system calls; workers only touch a
 * ring.
 *
 * dplb's address (and address6) goes on the taps by rtnetlink
 * (RTM_NEWADDR), from the management lcore, at start and whenever a reload
 * changes it; no command is run. Only dplb's own address: the kernel never sees a VIP's packets
 * (workers pass it only frames for dplb's address), never has a VIP on an
 * interface, and is never asked for ARP (workers answer), so it can neither
 * route VIP traffic nor answer for a VIP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "common/log.h"
#include "control/exception_path.h"
#include "control/rtnetlink.h"
#include "packet/icmp6.h"
#include "packet/packet_parse.h"
#include "packet/vlan.h"

/* Buffers each tap's RX queue keeps for the frames the kernel sends. */
#define TAP_DESCRIPTORS 256
#define TAP_BURST 32
/* Frames moved each way in one poll: the management lcore has other work. */
#define FRAMES_PER_POLL 256

/* An address the taps carry, or are to carry: none (present false), or
 * family's bytes (network order) and prefix length. */
struct tap_address {
	bool present;
	uint8_t family;
	uint8_t bytes[16];
	uint32_t prefix_length;
	/* The taps (a bit per port slot) that refused it, when to ask them
	 * again (TSC), and whether that was logged (once per address). */
	uint32_t refused;
	bool failure_logged;
	uint64_t retry_tsc;
};

struct dplb_exception_path {
	uint16_t count; /* taps, one per dataplane port slot */
	uint16_t tap_ports[DPLB_MAX_PORTS];
	bool probed[DPLB_MAX_PORTS];
	bool started[DPLB_MAX_PORTS];
	int ifindex[DPLB_MAX_PORTS];
	char names[DPLB_MAX_PORTS][DPLB_INTERFACE_NAME_MAX];
	char vdev_names[DPLB_MAX_PORTS][32];
	int fds[DPLB_MAX_PORTS]; /* each tap's RX queue, -1 when unknown */
	/* What the taps carry of each family (sync_address). */
	struct tap_address ipv4, ipv6;
	bool moved; /* the last poll moved frames */
	/* Learned from the kernel's frames (from_kernel), read by workers. */
	struct dplb_control_peers control_peers;
	/* Ordinary frames the kernel may still be handed ([dataplane]
	 * exception_rate), and the TSC they were last counted up to. */
	uint64_t ordinary_credit;
	uint64_t credit_tsc;
};

/* ---- the kernel's address, by rtnetlink --------------------------------- */

static bool same_address(const struct tap_address *a, const struct tap_address *b)
{
	return a->present == b->present &&
	       (!a->present || (a->family == b->family && a->prefix_length == b->prefix_length &&
				memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0));
}

static int change_tap_address(int ifindex, uint16_t command, const struct tap_address *address)
{
	uint32_t ipv4;

	if (address->family == AF_INET6)
		return dplb_rtnetlink_change_address6(ifindex, command, address->bytes,
						      address->prefix_length);
	memcpy(&ipv4, address->bytes, sizeof(ipv4));
	return dplb_rtnetlink_change_address(ifindex, command, ipv4, address->prefix_length);
}

/*
 * Bring the taps' address of one family (have) in line with the snapshot's
 * (want): the old one removed (the kernel keys an address by address and
 * prefix, so a new prefix alone would add a second), the new one added.
 * The taps that refused it are asked again a second later, until they
 * take it; that is logged once per address, and each such tap once when
 * it takes it.
 */
static void sync_family(struct dplb_exception_path *path, struct tap_address *have,
			const struct tap_address *want)
{
	const uint64_t now = rte_get_tsc_cycles();
	const bool changed = !same_address(have, want);
	const uint32_t asked = changed ? (1u << path->count) - 1 : have->refused;
	char text[INET6_ADDRSTRLEN];
	uint32_t refused = 0;
	int rc;

	if (!changed && (have->refused == 0 || now < have->retry_tsc))
		return;
	inet_ntop(want->family, want->bytes, text, sizeof(text));
	for (uint16_t slot = 0; slot < path->count; slot++) {
		if (!(asked & (1u << slot)))
			continue;
		if (changed && have->present) {
			rc = change_tap_address(path->ifindex[slot], RTM_DELADDR, have);
			if (rc != 0 && rc != -EADDRNOTAVAIL)
				DPLB_LOG(ERR,
					 "exception path: cannot take the old address off %s: %s",
					 path->names[slot], strerror(-rc));
		}
		if (!want->present)
			continue;
		rc = change_tap_address(path->ifindex[slot], RTM_NEWADDR, want);
		if (rc == 0) {
			DPLB_LOG(NOTICE, "exception path: %s has the address %s/%u",
				 path->names[slot], text, want->prefix_length);
			continue;
		}
		refused |= 1u << slot;
		if (changed || !have->failure_logged)
			DPLB_LOG(ERR,
				 "exception path: cannot give %s the address %s/%u: %s (asking "
				 "again every second)",
				 path->names[slot], text, want->prefix_length, strerror(-rc));
	}
	*have = *want;
	have->refused = refused;
	have->failure_logged = refused != 0; /* now or at an earlier try */
	have->retry_tsc = now + rte_get_tsc_hz();
}

/* The prefix the taps' IPv6 address gets: prefix_length6, or the address
 * alone without one (the kernel then reaches only what routes name). */
static uint32_t tap_prefix_length6(const struct dplb_config *config)
{
	return config->prefix_length6 != 0 ? config->prefix_length6 : 128;
}

/* The taps carry the snapshot's address/prefix_length, and its
 * address6/prefix_length6 when [dataplane] has one (the kernel's IPv6: a
 * BGP session over IPv6, ssh): a reload may have changed either. */
static void sync_address(struct dplb_context *ctx)
{
	struct dplb_exception_path *path = ctx->exception;
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct tap_address ipv4 = { .present = true, .family = AF_INET };
	struct tap_address ipv6 = { .family = AF_INET6 };

	if (state == NULL)
		return;
	memcpy(ipv4.bytes, &state->local_address, sizeof(state->local_address));
	ipv4.prefix_length = state->config->prefix_length;
	sync_family(path, &path->ipv4, &ipv4);
	if (state->has_local_address6) {
		ipv6.present = true;
		memcpy(ipv6.bytes, state->local_address6, sizeof(state->local_address6));
		ipv6.prefix_length = tap_prefix_length6(state->config);
	}
	sync_family(path, &path->ipv6, &ipv6);
}

/* ---- making the taps ------------------------------------------------------ */

/* Write value to the tap's IPv6 setting key; false when it is not there
 * (a kernel without IPv6). */
static bool set_ipv6(const char *name, const char *key, const char *value)
{
	char file[128];
	const size_t length = strlen(value);
	int fd;

	snprintf(file, sizeof(file), "/proc/sys/net/ipv6/conf/%s/%s", name, key);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			DPLB_LOG(WARNING, "exception path: cannot set IPv6 %s on %s: %s", key, name,
				 strerror(errno));
		return errno != ENOENT;
	}
	if (write(fd, value, length) != (ssize_t)length)
		DPLB_LOG(WARNING, "exception path: cannot set IPv6 %s on %s: %s", key, name,
			 strerror(errno));
	close(fd);
	return true;
}

/*
 * The kernel's IPv6 on a tap would send router solicitations and the like
 * out of the port; yet an IPv6 VIP's route goes through the tap
 * (announce.h), and the kernel refuses routes through an interface whose
 * IPv6 is off. So IPv6 on, but quiet: no address of its own making
 * (addr_gen_mode 1: no link-local, hence no duplicate address detection,
 * no listener reports, no router solicitations), no router advertisements
 * taken. It speaks IPv6 only once dplb gives it address6 (sync_address).
 * Where the kernel has IPv6 at all; before the interface goes up, so it
 * sends nothing.
 */
static void quiet_ipv6(const char *name)
{
	if (!set_ipv6(name, "addr_gen_mode", "1\n"))
		return;
	set_ipv6(name, "accept_ra", "0\n");
	set_ipv6(name, "router_solicitations", "0\n");
	set_ipv6(name, "accept_dad", "0\n");
	set_ipv6(name, "disable_ipv6", "0\n");
}

static int create_tap(struct dplb_context *ctx, struct dplb_exception_path *path, uint16_t slot)
{
	const uint16_t port_id = ctx->port_ids[slot];
	const char *name = path->names[slot];
	struct rte_eth_conf conf = { 0 };
	struct rte_ether_addr mac;
	char mac_text[RTE_ETHER_ADDR_FMT_SIZE];
	char args[96];
	int rc;

	/* TUNSETIFF would take over a tap of that name, another dplb's. */
	if (if_nametoindex(name) != 0) {
		DPLB_LOG(ERR,
			 "exception path: an interface named %s exists already (another dplb?); "
			 "set [dataplane] exception_interface to a free name",
			 name);
		return -EEXIST;
	}
	rc = rte_eth_macaddr_get(port_id, &mac);
	if (rc != 0) {
		DPLB_LOG(ERR, "exception path: no MAC address for port %u: %s", port_id,
			 strerror(-rc));
		return rc;
	}
	rte_ether_format_addr(mac_text, sizeof(mac_text), &mac);
	snprintf(path->vdev_names[slot], sizeof(path->vdev_names[slot]), "net_tap_dplb%u", slot);
	snprintf(args, sizeof(args), "iface=%s,mac=%s", name, mac_text);
	rc = rte_eal_hotplug_add("vdev", path->vdev_names[slot], args);
	if (rc != 0) {
		/* The driver said why, in its own log lines. */
		DPLB_LOG(ERR, "exception path: cannot make the tap interface %s (%s %s)", name,
			 path->vdev_names[slot], args);
		return -ENODEV;
	}
	path->probed[slot] = true;
	rc = rte_eth_dev_get_port_by_name(path->vdev_names[slot], &path->tap_ports[slot]);
	if (rc != 0)
		return rc;
	path->ifindex[slot] = (int)if_nametoindex(name);
	if (path->ifindex[slot] == 0) {
		DPLB_LOG(ERR, "exception path: the tap interface %s is not there: %s", name,
			 strerror(errno));
		return -ENODEV;
	}
	quiet_ipv6(name);
	/* Its RX queue's file descriptor wakes the management loop. */
	conf.intr_conf.rxq = 1;
	rc = rte_eth_dev_configure(path->tap_ports[slot], 1, 1, &conf);
	if (rc != 0) {
		DPLB_LOG(ERR, "exception path: cannot configure %s: %s", name, strerror(-rc));
		return rc;
	}
	return 0;
}

int dplb_exception_path_create(struct dplb_context *ctx, const struct dplb_config *config)
{
	struct dplb_exception_path *path;
	int rc;

	if (config->exception_path != DPLB_EXCEPTION_TAP)
		return 0;
	path = calloc(1, sizeof(*path));
	if (path == NULL)
		return -ENOMEM;
	ctx->exception = path;
	path->count = ctx->port_count;
	for (uint16_t slot = 0; slot < path->count; slot++) {
		path->fds[slot] = -1;
		/* The loader checked that every port's name can be made. */
		rc = dplb_exception_interface_name(config->exception_interface, slot,
						   path->names[slot]);
		if (rc == 0)
			rc = create_tap(ctx, path, slot);
		if (rc != 0)
			return rc;
	}
	return 0;
}

uint32_t dplb_exception_path_rx_descriptors(const struct dplb_exception_path *path)
{
	return path != NULL ? path->count * (uint32_t)TAP_DESCRIPTORS : 0;
}

int dplb_exception_path_start(struct dplb_context *ctx, uint32_t mtu)
{
	struct dplb_exception_path *path = ctx->exception;
	char mac_text[RTE_ETHER_ADDR_FMT_SIZE];
	struct rte_ether_addr mac;
	int rc;

	if (path == NULL)
		return 0;
	for (uint16_t slot = 0; slot < path->count; slot++) {
		const uint16_t tap = path->tap_ports[slot];
		const int socket = rte_eth_dev_socket_id(tap);

		rc = rte_eth_rx_queue_setup(tap, 0, TAP_DESCRIPTORS, socket, NULL, ctx->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(tap, 0, TAP_DESCRIPTORS, socket, NULL);
		if (rc != 0) {
			DPLB_LOG(ERR, "exception path: cannot set up the queues of %s: %s",
				 path->names[slot], strerror(-rc));
			return rc;
		}
		/* The kernel's packets leave by the port, whose MTU this is. */
		rc = rte_eth_dev_set_mtu(tap, (uint16_t)mtu);
		if (rc != 0)
			DPLB_LOG(WARNING, "exception path: cannot set the MTU of %s to %u: %s",
				 path->names[slot], mtu, strerror(-rc));
		rc = rte_eth_dev_start(tap);
		if (rc != 0) {
			DPLB_LOG(ERR, "exception path: cannot start %s: %s", path->names[slot],
				 strerror(-rc));
			return rc;
		}
		path->started[slot] = true;
		path->fds[slot] = rte_eth_dev_rx_intr_ctl_q_get_fd(tap, 0);
		if (rte_eth_macaddr_get(tap, &mac) != 0)
			memset(&mac, 0, sizeof(mac));
		rte_ether_format_addr(mac_text, sizeof(mac_text), &mac);
		DPLB_LOG(NOTICE,
			 "exception path: tap %s (DPDK port %u) for port %u, MAC %s, MTU %u",
			 path->names[slot], tap, ctx->port_ids[slot], mac_text, mtu);
	}
	sync_address(ctx);
	return 0;
}

/* ---- moving frames ------------------------------------------------------- */

/* The port slot a frame came in on (the driver's mbuf->port), or -1. */
static int slot_of(const struct dplb_context *ctx, uint16_t port_id)
{
	for (uint16_t slot = 0; slot < ctx->port_count; slot++)
		if (ctx->port_ids[slot] == port_id)
			return slot;
	return -1;
}

/* The VLAN of the frames the kernel sends and gets ([dataplane] vlan), 0
 * for none. */
static uint16_t kernel_vlan(const struct dplb_context *ctx)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);

	return state != NULL ? state->config->vlan : 0;
}

/* Hand count frames to slot's tap, those of dplb's VLAN untagged: what it
 * does not take is dropped. */
static void write_to_tap(struct dplb_context *ctx, uint16_t slot, struct rte_mbuf **frames,
			 uint16_t count)
{
	struct dplb_exception_counters *counters = &ctx->exception_counters;
	const uint16_t vlan = kernel_vlan(ctx);

	for (uint16_t i = 0; i < count && vlan != 0; i++)
		dplb_vlan_untag(frames[i], vlan);
	const uint16_t taken =
		count != 0 ? rte_eth_tx_burst(ctx->exception->tap_ports[slot], 0, frames, count)
			   : 0;

	counters->exception_to_tap += taken;
	if (taken < count) {
		counters->exception_tap_refused += count - taken;
		rte_pktmbuf_free_bulk(frames + taken, count - taken);
	}
}

/* Frames from one of the workers' rings, to the tap of the port each
 * came in on. Returns how many were moved, at most budget. */
static unsigned int from_ring(struct dplb_context *ctx, struct rte_ring *ring, unsigned int budget)
{
	struct rte_mbuf *frames[TAP_BURST];
	struct rte_mbuf *by_slot[DPLB_MAX_PORTS][TAP_BURST];
	uint16_t counts[DPLB_MAX_PORTS];
	unsigned int moved = 0, count;

	while (ring != NULL && moved < budget &&
	       (count = rte_ring_sc_dequeue_burst(ring, (void **)frames,
						  RTE_MIN((unsigned int)TAP_BURST, budget - moved),
						  NULL)) > 0) {
		memset(counts, 0, sizeof(counts));
		for (unsigned int i = 0; i < count; i++) {
			const int slot = slot_of(ctx, frames[i]->port);

			if (slot < 0) {
				ctx->exception_counters.exception_tap_refused++;
				rte_pktmbuf_free(frames[i]);
				continue;
			}
			by_slot[slot][counts[slot]++] = frames[i];
		}
		for (uint16_t slot = 0; slot < ctx->exception->count; slot++)
			write_to_tap(ctx, slot, by_slot[slot], counts[slot]);
		moved += count;
	}
	return moved;
}

/*
 * How many ordinary frames the kernel may be handed now, at rate a second
 * (0: any number): a bucket of a tenth of a second's worth, filled as time
 * passes. Why a limit at all: every frame written to a tap costs the
 * kernel a system call and its whole receive path, on the CPU the kernel,
 * its BGP daemon and the management lcore share; a flood to dplb's address
 * passed on as fast as the management lcore can write it (some 40,000 a
 * second on the testbed's shared core) starved BIRD and the other
 * instance's management lcore there until BFD expired. Routers police
 * what they punt to their CPU for the same reason.
 */
static uint64_t ordinary_allowance(struct dplb_exception_path *path, uint32_t rate)
{
	const uint64_t now = rte_get_tsc_cycles(), hz = rte_get_tsc_hz();
	const uint64_t burst = RTE_MAX(rate / 10u, 1u);

	if (rate == 0)
		return UINT64_MAX;
	if (now - path->credit_tsc >= hz) {
		path->ordinary_credit = burst;
		path->credit_tsc = now;
	} else {
		const uint64_t earned = (now - path->credit_tsc) * rate / hz;

		if (earned > 0) {
			path->ordinary_credit = RTE_MIN(path->ordinary_credit + earned, burst);
			path->credit_tsc += earned * hz / rate;
		}
	}
	return path->ordinary_credit;
}

/* Frames the workers passed: every worker's BGP and BFD first, all of them
 * (the workers' rate limit bounds them), so that they reach the kernel
 * ahead of a flood on the ordinary rings; then up to budget of the rest,
 * within exception_rate. Returns how many were moved. */
static unsigned int from_workers(struct dplb_context *ctx, unsigned int budget)
{
	struct dplb_exception_path *path = ctx->exception;
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const uint64_t allowed =
		ordinary_allowance(path, state != NULL ? state->config->exception_rate : 0);
	unsigned int moved = 0, ordinary = 0;

	for (uint16_t w = 0; w < ctx->worker_count; w++)
		moved += from_ring(ctx, ctx->workers[w].to_kernel_control, UINT_MAX);
	budget = (unsigned int)RTE_MIN((uint64_t)budget, allowed);
	for (uint16_t w = 0; w < ctx->worker_count && ordinary < budget; w++)
		ordinary += from_ring(ctx, ctx->workers[w].to_kernel, budget - ordinary);
	if (allowed != UINT64_MAX)
		path->ordinary_credit -= ordinary;
	return moved + ordinary;
}

/* Remember the address the kernel sends a BGP or BFD frame to (IPv4 or
 * IPv6): a peer whose own frames deserve the priority ring. Returns true
 * when it is new. The kernel's own frames: no IPv6 extension headers. */
static bool learn_control_peer(struct dplb_control_peers *peers, const struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const uint32_t ip_offset = sizeof(*eth);
	const uint32_t length = rte_pktmbuf_data_len(m);

	if (length >= ip_offset + sizeof(struct rte_ipv6_hdr) + 4 &&
	    eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
		const struct rte_ipv6_hdr *ip6 = (const struct rte_ipv6_hdr *)(eth + 1);
		const rte_be16_t *ports = (const rte_be16_t *)(ip6 + 1);

		return dplb_control_ports(ip6->proto, ports[0], ports[1]) &&
		       dplb_control_peers_learn6(peers, ip6->dst_addr);
	}
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);

	if (length < ip_offset + sizeof(*ip) ||
	    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return false;
	const uint32_t ihl = rte_ipv4_hdr_len(ip);
	const rte_be16_t *ports = (const rte_be16_t *)((const uint8_t *)ip + ihl);

	if (ihl < sizeof(*ip) || length < ip_offset + ihl + 4 ||
	    (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return false;
	/* BGP's port is on one side or the other; BFD goes to its port both
	 * ways, so the kernel's frames match as the peer's will. */
	return ip->dst_addr != 0 && dplb_control_ports(ip->next_proto_id, ports[0], ports[1]) &&
	       dplb_control_peers_learn(peers, ip->dst_addr);
}

/* Frames the kernel sent, to worker 0, which sends them out of the port of
 * their tap (mbuf->port = the slot, as for ARP requests). Returns how many
 * were read. */
static unsigned int from_kernel(struct dplb_context *ctx, unsigned int budget)
{
	struct dplb_exception_path *path = ctx->exception;
	struct dplb_exception_counters *counters = &ctx->exception_counters;
	struct rte_ring *ring = ctx->workers[0].from_management;
	struct rte_mbuf *frames[TAP_BURST];
	const uint16_t vlan = kernel_vlan(ctx);
	unsigned int moved = 0;
	uint16_t count;

	for (uint16_t slot = 0; slot < path->count; slot++) {
		while (moved < budget &&
		       (count = rte_eth_rx_burst(
				path->tap_ports[slot], 0, frames,
				(uint16_t)RTE_MIN((unsigned int)TAP_BURST, budget - moved))) > 0) {
			uint16_t kept = 0;

			for (uint16_t i = 0; i < count; i++) {
				if (learn_control_peer(&path->control_peers, frames[i]))
					counters->exception_control_peers =
						dplb_control_peers_count(&path->control_peers);
				/* The port is on vlan; the kernel tags nothing but
				 * what its own VLAN interfaces send (kept as is). */
				if (dplb_vlan_tag(frames[i], vlan) != 0) {
					counters->exception_from_kernel_dropped++;
					rte_pktmbuf_free(frames[i]);
					continue;
				}
				frames[i]->port = slot;
				frames[kept++] = frames[i];
			}
			const unsigned int queued =
				rte_ring_sp_enqueue_burst(ring, (void **)frames, kept, NULL);

			counters->exception_from_kernel += queued;
			if (queued < kept) {
				counters->exception_from_kernel_dropped += kept - queued;
				rte_pktmbuf_free_bulk(frames + queued, kept - queued);
			}
			moved += count;
		}
	}
	return moved;
}

void dplb_exception_path_poll(struct dplb_context *ctx)
{
	struct dplb_exception_path *path = ctx->exception;
	unsigned int moved;

	if (path == NULL)
		return;
	sync_address(ctx);
	moved = from_workers(ctx, FRAMES_PER_POLL);
	moved += from_kernel(ctx, FRAMES_PER_POLL);
	path->moved = moved != 0;
}

/* A neighbour's frame the management lcore read, to the tap of the port it
 * came in on; false (not taken) when that port is not known. */
static bool give_to_kernel(struct dplb_context *ctx, struct rte_mbuf *m)
{
	const int slot = slot_of(ctx, m->port);

	if (slot < 0)
		return false;
	write_to_tap(ctx, (uint16_t)slot, &m, 1);
	return true;
}

bool dplb_exception_path_take_arp(struct dplb_context *ctx, struct rte_mbuf *m,
				  const struct rte_arp_hdr *arp)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const struct rte_arp_ipv4 *data = &arp->arp_data;

	if (ctx->exception == NULL || state == NULL)
		return false;
	/* A reply to a request of the kernel's (or of dplb's: the kernel
	 * ignores answers it did not ask for), or a neighbour announcing its
	 * own address (not dplb's: the kernel would defend it; nor 0.0.0.0). */
	const bool reply_to_us = arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
				 data->arp_tip == state->local_address;
	const bool announcement = data->arp_sip == data->arp_tip && data->arp_sip != 0 &&
				  data->arp_sip != state->local_address;

	return (reply_to_us || announcement) && give_to_kernel(ctx, m);
}

bool dplb_exception_path_take_advert(struct dplb_context *ctx, struct rte_mbuf *m)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	const struct dplb_nd_message *nd;
	const struct rte_ether_addr *link;
	struct dplb_packet_info info;

	if (ctx->exception == NULL || state == NULL || !state->has_local_address6 ||
	    dplb_parse_packet(m, &info) != DPLB_PARSED_ICMP6 ||
	    dplb_nd_check(m, &info, DPLB_ND_NEIGHBOR_ADVERTISEMENT, DPLB_ND_OPTION_TARGET_LINK, &nd,
			  &link) != 0)
		return false;
	/* As for ARP: an answer to a solicitation from dplb's address (the
	 * kernel's, or dplb's own, which the kernel ignores; with or without
	 * the link-layer option, which an answer to a unicast solicitation
	 * may leave out), or a neighbour announcing itself to all nodes (not
	 * as dplb's address: the kernel would take it for a duplicate). */
	const bool reply_to_us = dplb_state_is_local_address6(state, info.ip6->dst_addr);
	const bool announcement =
		memcmp(info.ip6->dst_addr, dplb_ipv6_all_nodes, sizeof(dplb_ipv6_all_nodes)) == 0 &&
		!dplb_state_is_local_address6(state, nd->target);

	return (reply_to_us || announcement) && give_to_kernel(ctx, m);
}

unsigned int dplb_exception_path_fds(const struct dplb_exception_path *path, int *fds,
				     unsigned int max)
{
	unsigned int count = 0;

	for (uint16_t slot = 0; path != NULL && slot < path->count && count < max; slot++)
		if (path->fds[slot] >= 0)
			fds[count++] = path->fds[slot];
	return count;
}

bool dplb_exception_path_busy(const struct dplb_exception_path *path)
{
	return path != NULL && path->moved;
}

int dplb_exception_path_ifindex(const struct dplb_exception_path *path)
{
	return path != NULL && path->count > 0 && path->started[0] ? path->ifindex[0] : 0;
}

const struct dplb_control_peers *dplb_exception_path_control_peers(
	const struct dplb_exception_path *path)
{
	return path != NULL ? &path->control_peers : NULL;
}

void dplb_exception_path_release(struct dplb_context *ctx)
{
	struct dplb_exception_path *path = ctx->exception;

	if (path == NULL)
		return;
	for (uint16_t slot = 0; slot < path->count; slot++) {
		if (path->started[slot])
			rte_eth_dev_stop(path->tap_ports[slot]);
		/* Closing the port frees what its RX queue holds, before the
		 * pool goes; removing the device removes the interface. */
		if (path->probed[slot])
			rte_eal_hotplug_remove("vdev", path->vdev_names[slot]);
	}
	free(path);
	ctx->exception = NULL;
}
