/*
 * dplb-decap: the backend half of dplb's direct server return.
 *
 * dplb hands each client packet to a backend inside IP-in-IP or GUE. A
 * backend normally lets its kernel strip that (ipip, fou), but some kernels
 * are built without those modules. This program does the job in user space:
 * it receives the tunnel traffic on raw sockets and UDP sockets, checks the
 * inner packet, and writes it to a TUN device. The kernel then takes the
 * inner packet as if it had arrived on that interface, delivers it to the
 * service bound to the VIP (which the operator puts on lo), and the reply
 * leaves by the ordinary routes straight to the client.
 *
 * Either family on either side: the outer family is the backend's address
 * family, the inner one the VIP's. IP-in-IP is one raw socket per (outer
 * family, inner protocol): IPv4 outer with protocol 4 (IPv4 inner) or 41
 * (IPv6 inner), IPv6 outer with next header 4 or 41. GUE is a UDP socket
 * per outer family, the inner family read from the payload's first nibble.
 *
 * Plain Linux C on purpose: no DPDK and no libraries beyond libc, so it
 * builds and runs on any backend. Packets are never logged; each drop bumps a
 * per-reason counter instead, printed on exit and on SIGUSR1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define DECAP_DEFAULT_TUN "dplb-decap0"
#define DECAP_DEFAULT_GUE_PORT 6080
#define DECAP_MAX_VIPS 256
/* Raw IP-in-IP sockets (2 outer families x 2 inner) and GUE (2). */
#define DECAP_MAX_SOCKETS 6
/* Packets read from one socket per wakeup, so a flood on one tunnel type
 * cannot starve the other. */
#define DECAP_BURST 64
/* Large enough for any IPv4 datagram, so a read is never truncated. */
#define DECAP_BUF_SIZE 65536

#define IPV4_MIN_HDR_LEN 20
#define IPV6_HDR_LEN 40
#define GUE_HDR_LEN 4
#define GUE_VARIANT(b0) ((b0) >> 6)
#define GUE_C_BIT 0x20		 /* control message, not data */
#define GUE_HLEN(b0) ((b0)&0x1f) /* extension words */

/*
 * Every counter, declared once so the enum, the printed key and the usage
 * text cannot drift apart. Keys are stable: tests and operators parse them.
 */
#define DECAP_COUNTERS(X)                                                                          \
	X(rx_ipip, "IP-in-IP packets received with an IPv4 outer header")                          \
	X(rx_ipip6, "IP-in-IP packets received with an IPv6 outer header")                         \
	X(rx_gue, "GUE datagrams received over IPv4")                                              \
	X(rx_gue6, "GUE datagrams received over IPv6")                                             \
	X(tx_tun, "inner packets written to the TUN device")                                       \
	X(tx_tun6, "of which IPv6")                                                                \
	X(drop_outer_header, "IP-in-IP outer header shorter than its IHL")                         \
	X(drop_gue_header, "GUE variant, protocol or length not supported")                        \
	X(drop_gue_control, "GUE control message (C=1)")                                           \
	X(drop_inner_truncated, "inner packet shorter than its header says")                       \
	X(drop_inner_version, "inner IP version not 4 or 6, or not the one the tunnel says")       \
	X(drop_inner_ihl, "inner IHL below 5")                                                     \
	X(drop_inner_length, "inner total length below its header length")                         \
	X(drop_inner_checksum, "inner header checksum wrong")                                      \
	X(drop_inner6_truncated, "inner IPv6 packet shorter than 40 bytes + its payload length")   \
	X(drop_not_vip, "inner destination is not a -v VIP")                                       \
	X(drop_tun_write, "write to the TUN device failed")

enum decap_counter {
#define X(name, help) DECAP_##name,
	DECAP_COUNTERS(X)
#undef X
		DECAP_NUM_COUNTERS
};

static const char *const decap_counter_names[DECAP_NUM_COUNTERS] = {
#define X(name, help) [DECAP_##name] = #name,
	DECAP_COUNTERS(X)
#undef X
};

static const char *const decap_counter_help[DECAP_NUM_COUNTERS] = {
#define X(name, help) [DECAP_##name] = (help),
	DECAP_COUNTERS(X)
#undef X
};

/* An address of either family, as -v and -b give it. */
struct decap_address {
	int family; /* AF_INET or AF_INET6 */
	uint8_t bytes[16];
};

struct decap_config {
	const char *tun_name;
	uint16_t gue_port;
	bool gue_enabled;
	bool ipip_enabled;
	/* Outer families received: both by default; -b of one family only
	 * (or -4) leaves the other out. */
	bool outer4;
	bool outer6;
	struct in_addr bind_addr;   /* INADDR_ANY: every local address */
	struct in6_addr bind_addr6; /* in6addr_any: every local address */
	bool bind4_given, bind6_given;
	struct decap_address vips[DECAP_MAX_VIPS];
	unsigned int n_vips;	/* 0: accept any inner destination */
	const char *stats_path; /* NULL: no stats file */
};

struct decap;
struct decap_socket;
typedef void (*decap_handler)(struct decap *d, const struct decap_socket *sock, const uint8_t *pkt,
			      size_t len);

/* One receiving socket and what arrives on it. */
struct decap_socket {
	int fd;
	int outer_family;
	/* The inner version its protocol promises (4 or 6); 0 for GUE, where
	 * the payload says. */
	int inner_version;
	decap_handler handler;
	const char *what; /* for messages */
};

struct decap {
	const struct decap_config *cfg;
	int tun_fd;
	struct decap_socket sockets[DECAP_MAX_SOCKETS];
	unsigned int n_sockets;
	char tun_name[IFNAMSIZ]; /* as the kernel named it */
	uint64_t counters[DECAP_NUM_COUNTERS];
};

/* Set only by the signal handler; the main loop does the actual work. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t dump_requested;

static uint8_t packet_buf[DECAP_BUF_SIZE];

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_requested = 1;
	else
		stop_requested = 1;
}

static void usage(FILE *out)
{
	int i;

	fprintf(out,
		"Usage: dplb-decap [-i TUNNAME] [-g GUE_PORT | -G] [-I] [-4] [-b BIND_ADDR]...\n"
		"                  [-v VIP]... [-u] [-s STATS_FILE] [-h]\n"
		"\n"
		"Receive dplb's IP-in-IP and GUE tunnel traffic on a backend, check each inner\n"
		"IPv4 or IPv6 packet and hand it to the kernel through a TUN device, so the\n"
		"service bound to the VIP answers the client directly (direct server return).\n"
		"For kernels without the ipip, sit, ip6_tunnel and fou modules.\n"
		"\n"
		"Outer and inner family each IPv4 or IPv6: IP-in-IP is IPv4 protocol 4 (IPv4\n"
		"inner) or 41 (IPv6 inner), or IPv6 next header 4 or 41; GUE is UDP over\n"
		"either family.\n"
		"\n"
		"  -i TUNNAME     TUN device to create or attach to (default " DECAP_DEFAULT_TUN
		")\n"
		"  -g GUE_PORT    UDP port for GUE (default %d)\n"
		"  -G             do not receive GUE\n"
		"  -I             do not receive IP-in-IP\n"
		"  -4             do not receive tunnels over IPv6 (outer IPv6 header)\n"
		"  -b BIND_ADDR   take only tunnel packets sent to this local address, IPv4 or\n"
		"                 IPv6, at most one of each; the family of none given is then\n"
		"                 not received\n"
		"  -v VIP         accept only inner packets to VIP (IPv4 or IPv6); repeat for\n"
		"                 more VIPs\n"
		"                 (default: any destination, at most %d VIPs)\n"
		"  -u             bring the TUN device up and add no addresses to it; this is\n"
		"                 what dplb-decap always does, the flag only says so\n"
		"  -s STATS_FILE  write counters as \"key value\" lines on exit and on SIGUSR1\n"
		"  -h             show this help\n"
		"\n"
		"GUE: variant 1 (the UDP payload is the inner IP packet; its version nibble\n"
		"says IPv4 or IPv6) and variant 0 with protocol 4 or 41 (extension words\n"
		"skipped). Control messages (C=1) are dropped.\n"
		"\n"
		"Set up the backend first (needs root; CAP_NET_ADMIN and CAP_NET_RAW to run):\n"
		"  ip addr add VIP/32 dev lo   (an IPv6 VIP: ip addr add VIP6/128 dev lo)\n"
		"      so the kernel owns the VIP and delivers to the service bound to it;\n"
		"  sysctl -w net.ipv4.conf.all.rp_filter=0\n"
		"  sysctl -w net.ipv4.conf.default.rp_filter=0   (before starting), or\n"
		"  sysctl -w net.ipv4.conf.TUNNAME.rp_filter=0   (once it exists)\n"
		"      inner packets arrive on TUNNAME from client addresses that the routes\n"
		"      reach through another interface, so strict reverse-path filtering\n"
		"      drops them; the kernel applies the larger of 'all' and the device's\n"
		"      value, so both must be 0 (or 2, loose).\n"
		"      IPv6 has no rp_filter; the TUN device must not have IPv6 disabled\n"
		"      (net.ipv6.conf.default.disable_ipv6=0) for inner IPv6 packets.\n"
		"Replies leave by the ordinary routes, straight to the client.\n"
		"\n"
		"SIGINT or SIGTERM: print counters to stderr, write STATS_FILE, exit 0.\n"
		"SIGUSR1: print counters to stderr and rewrite STATS_FILE.\n"
		"\n"
		"Counters:\n",
		DECAP_DEFAULT_GUE_PORT, DECAP_MAX_VIPS);
	for (i = 0; i < DECAP_NUM_COUNTERS; i++)
		fprintf(out, "  %-22s %s\n", decap_counter_names[i], decap_counter_help[i]);
	fprintf(out, "  %-22s %s\n", "drop_total", "sum of the drop_* counters");
}

/* A header whose checksum field is right sums to 0xffff, ones' complement. */
static bool ipv4_header_checksum_ok(const uint8_t *hdr, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)hdr[i] << 8 | hdr[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static bool decap_is_vip(const struct decap_config *cfg, int family, const uint8_t *daddr)
{
	const size_t len = family == AF_INET6 ? 16 : 4;
	unsigned int i;

	if (cfg->n_vips == 0)
		return true;
	for (i = 0; i < cfg->n_vips; i++)
		if (cfg->vips[i].family == family && memcmp(cfg->vips[i].bytes, daddr, len) == 0)
			return true;
	return false;
}

/* A TUN write is one whole packet or nothing; IFF_NO_PI: the kernel takes
 * the family from the version nibble. */
static void decap_write_tun(struct decap *d, const uint8_t *pkt, size_t len, bool ipv6)
{
	const ssize_t n = write(d->tun_fd, pkt, len);

	if (n != (ssize_t)len) {
		d->counters[DECAP_drop_tun_write]++;
		return;
	}
	d->counters[DECAP_tx_tun]++;
	if (ipv6)
		d->counters[DECAP_tx_tun6]++;
}

/*
 * Check the inner packet and give it to the kernel. Everything the kernel
 * would refuse anyway is dropped here too, but counted by reason, so an
 * operator can tell a broken encapsulator from a filtered VIP. Fields are
 * read byte by byte: the inner header need not be aligned.
 */
static void decap_inner4(struct decap *d, const uint8_t *pkt, size_t len)
{
	size_t hdr_len, tot_len;

	if (len < IPV4_MIN_HDR_LEN) {
		d->counters[DECAP_drop_inner_truncated]++;
		return;
	}
	hdr_len = (size_t)(pkt[0] & 0x0f) * 4;
	if (hdr_len < IPV4_MIN_HDR_LEN) {
		d->counters[DECAP_drop_inner_ihl]++;
		return;
	}
	if (hdr_len > len) {
		d->counters[DECAP_drop_inner_truncated]++;
		return;
	}
	tot_len = (size_t)pkt[2] << 8 | pkt[3];
	if (tot_len < hdr_len) {
		d->counters[DECAP_drop_inner_length]++;
		return;
	}
	/* Shorter than tot_len: lost bytes. Longer: padding, trimmed below. */
	if (tot_len > len) {
		d->counters[DECAP_drop_inner_truncated]++;
		return;
	}
	if (!ipv4_header_checksum_ok(pkt, hdr_len)) {
		d->counters[DECAP_drop_inner_checksum]++;
		return;
	}
	if (!decap_is_vip(d->cfg, AF_INET, pkt + 16)) {
		d->counters[DECAP_drop_not_vip]++;
		return;
	}
	decap_write_tun(d, pkt, tot_len, false);
}

/*
 * IPv6 has no header checksum and a fixed 40-byte header: what can be
 * wrong is only the length. A payload length of 0 (a jumbogram's, which no
 * tunnel carries) makes a bare header, which the kernel drops itself.
 * Extension headers are the kernel's to walk, as for a packet off a wire.
 */
static void decap_inner6(struct decap *d, const uint8_t *pkt, size_t len)
{
	size_t tot_len;

	if (len < IPV6_HDR_LEN) {
		d->counters[DECAP_drop_inner6_truncated]++;
		return;
	}
	tot_len = IPV6_HDR_LEN + ((size_t)pkt[4] << 8 | pkt[5]);
	/* Shorter: lost bytes. Longer: padding, trimmed below. */
	if (tot_len > len) {
		d->counters[DECAP_drop_inner6_truncated]++;
		return;
	}
	if (!decap_is_vip(d->cfg, AF_INET6, pkt + 24)) {
		d->counters[DECAP_drop_not_vip]++;
		return;
	}
	decap_write_tun(d, pkt, tot_len, true);
}

/* expected: the version the tunnel's protocol says (4 or 6), 0 when only
 * the packet itself says (GUE variant 1). */
static void decap_inner(struct decap *d, const uint8_t *pkt, size_t len, int expected)
{
	int version;

	if (len == 0) {
		d->counters[DECAP_drop_inner_truncated]++;
		return;
	}
	version = pkt[0] >> 4;
	if ((expected != 0 && version != expected) || (version != 4 && version != 6)) {
		d->counters[DECAP_drop_inner_version]++;
		return;
	}
	if (version == 4)
		decap_inner4(d, pkt, len);
	else
		decap_inner6(d, pkt, len);
}

/*
 * A raw IPv4 socket gets the whole outer packet, already reassembled and
 * trimmed to its total length by the kernel; only the outer header, which may
 * carry options, is ours to strip.
 */
static void decap_ipip(struct decap *d, const struct decap_socket *sock, const uint8_t *pkt,
		       size_t len)
{
	size_t outer_len;

	d->counters[DECAP_rx_ipip]++;
	if (len < IPV4_MIN_HDR_LEN) {
		d->counters[DECAP_drop_outer_header]++;
		return;
	}
	outer_len = (size_t)(pkt[0] & 0x0f) * 4;
	if (outer_len < IPV4_MIN_HDR_LEN || outer_len > len) {
		d->counters[DECAP_drop_outer_header]++;
		return;
	}
	decap_inner(d, pkt + outer_len, len - outer_len, sock->inner_version);
}

/*
 * A raw IPv6 socket gets the payload after the IPv6 header and whatever
 * extension headers the kernel walked: the inner packet itself.
 */
static void decap_ipip6(struct decap *d, const struct decap_socket *sock, const uint8_t *pkt,
			size_t len)
{
	d->counters[DECAP_rx_ipip6]++;
	decap_inner(d, pkt, len, sock->inner_version);
}

/*
 * GUE (draft-ietf-intarea-gue). dplb sends variant 1, where the UDP payload
 * is the IP packet itself: its first two bits, 01, are those of an IPv4 or
 * IPv6 version nibble (0100, 0110). Variant 0 has a 4-byte header plus hlen
 * extension words, which we skip without interpreting them; it carries IPv4
 * as proto 4 and IPv6 as proto 41.
 */
static void decap_gue(struct decap *d, const struct decap_socket *sock, const uint8_t *pkt,
		      size_t len)
{
	size_t hdr_len;

	d->counters[sock->outer_family == AF_INET6 ? DECAP_rx_gue6 : DECAP_rx_gue]++;
	if (len == 0) {
		d->counters[DECAP_drop_gue_header]++;
		return;
	}
	switch (GUE_VARIANT(pkt[0])) {
	case 1:
		decap_inner(d, pkt, len, 0);
		return;
	case 0:
		break;
	default:
		d->counters[DECAP_drop_gue_header]++;
		return;
	}
	if (len < GUE_HDR_LEN) {
		d->counters[DECAP_drop_gue_header]++;
		return;
	}
	if (pkt[0] & GUE_C_BIT) {
		d->counters[DECAP_drop_gue_control]++;
		return;
	}
	hdr_len = GUE_HDR_LEN + (size_t)GUE_HLEN(pkt[0]) * 4;
	if ((pkt[1] != IPPROTO_IPIP && pkt[1] != IPPROTO_IPV6) || hdr_len > len) {
		d->counters[DECAP_drop_gue_header]++;
		return;
	}
	decap_inner(d, pkt + hdr_len, len - hdr_len, pkt[1] == IPPROTO_IPIP ? 4 : 6);
}

/*
 * Read up to DECAP_BURST packets; poll() is level-triggered, so whatever is
 * left wakes us again after the other socket has had its turn.
 * Returns 0, or -errno on an error the socket cannot recover from.
 */
static int decap_drain(struct decap *d, const struct decap_socket *sock)
{
	ssize_t n;
	int i;

	for (i = 0; i < DECAP_BURST; i++) {
		n = recv(sock->fd, packet_buf, sizeof(packet_buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			/* Transient: memory pressure, a queued ICMP error. */
			if (errno == ENOMEM || errno == ENOBUFS || errno == ECONNREFUSED)
				return 0;
			return -errno;
		}
		sock->handler(d, sock, packet_buf, (size_t)n);
	}
	return 0;
}

static void decap_print_counters(const struct decap *d, FILE *out)
{
	uint64_t drops = 0;
	int i;

	for (i = 0; i < DECAP_NUM_COUNTERS; i++) {
		fprintf(out, "%s %llu\n", decap_counter_names[i],
			(unsigned long long)d->counters[i]);
		if (strncmp(decap_counter_names[i], "drop_", 5) == 0)
			drops += d->counters[i];
	}
	fprintf(out, "drop_total %llu\n", (unsigned long long)drops);
}

/*
 * Write the counters to a temporary file and rename it over the stats file,
 * so a reader never sees a half-written one. Returns 0 or -errno.
 */
static int decap_write_stats(const struct decap *d, const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;
	int ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (f == NULL)
		return -errno;
	decap_print_counters(d, f);
	if (fflush(f) != 0 || ferror(f))
		ret = -errno;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) != 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static void decap_report(const struct decap *d)
{
	int ret;

	fprintf(stderr, "dplb-decap: counters\n");
	decap_print_counters(d, stderr);
	if (d->cfg->stats_path == NULL)
		return;
	ret = decap_write_stats(d, d->cfg->stats_path);
	if (ret < 0)
		fprintf(stderr, "dplb-decap: writing %s: %s\n", d->cfg->stats_path, strerror(-ret));
}

/*
 * Create the TUN device, or attach to an existing one of that name. Without
 * IFF_NO_PI every write would need a 4-byte protocol prefix. Non-blocking so
 * that a stuck device costs a counted drop, never a stalled loop.
 * Returns the fd, or -errno; the kernel's name for it lands in name_out.
 */
static int tun_open(const char *name, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;
	size_t name_len = strlen(name);
	int fd, err;

	if (name_len == 0 || name_len >= IFNAMSIZ)
		return -EINVAL;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, name_len);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	name_out[IFNAMSIZ - 1] = '\0';
	return fd;
}

/* The kernel ignores packets written to a TUN device that is down. */
static int netdev_set_up(const char *name)
{
	struct ifreq ifr;
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			err = -errno;
	}
out:
	close(fd);
	return err;
}

/*
 * Returns a bound, non-blocking socket fd of family, or -errno. addr is a
 * struct in_addr or struct in6_addr; any (all zero) binds raw sockets to
 * nothing.
 */
static int inet_socket_open(int family, int type, int protocol, const void *addr, uint16_t port)
{
	static const uint8_t zero[16];
	const size_t addr_len = family == AF_INET6 ? 16 : 4;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	const int on = 1;
	int fd, err;

	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		return -errno;
	/* The IPv4 GUE socket has the port's IPv4 half: without this the IPv6
	 * one would take both, and the second bind would fail. */
	if (family == AF_INET6 && type == SOCK_DGRAM &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	/* Raw sockets need a bind only to filter by destination address. */
	if (type == SOCK_RAW && memcmp(addr, zero, addr_len) == 0)
		return fd;
	memcpy(&sin.sin_addr, addr, 4 * (family == AF_INET));
	memcpy(&sin6.sin6_addr, addr, 16 * (family == AF_INET6));
	if (family == AF_INET6 ? bind(fd, (struct sockaddr *)&sin6, sizeof(sin6))
			       : bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void decap_close(struct decap *d)
{
	unsigned int i;

	for (i = 0; i < d->n_sockets; i++)
		close(d->sockets[i].fd);
	d->n_sockets = 0;
	if (d->tun_fd >= 0)
		close(d->tun_fd);
	d->tun_fd = -1;
}

/* Open one receiving socket; returns 0, or -1 after saying what failed. */
static int decap_add_socket(struct decap *d, int family, int type, int protocol, int inner_version,
			    decap_handler handler, const char *what)
{
	const struct decap_config *cfg = d->cfg;
	const void *addr =
		family == AF_INET6 ? (const void *)&cfg->bind_addr6 : (const void *)&cfg->bind_addr;
	const uint16_t port = type == SOCK_DGRAM ? cfg->gue_port : 0;
	const int ret = inet_socket_open(family, type, protocol, addr, port);

	if (ret < 0) {
		if (type == SOCK_DGRAM)
			fprintf(stderr, "dplb-decap: %s socket on port %u: %s\n", what, port,
				strerror(-ret));
		else
			fprintf(stderr, "dplb-decap: %s socket: %s\n", what, strerror(-ret));
		return -1;
	}
	d->sockets[d->n_sockets++] = (struct decap_socket){
		.fd = ret,
		.outer_family = family,
		.inner_version = inner_version,
		.handler = handler,
		.what = what,
	};
	return 0;
}

/* Whether this host has IPv6 at all (not booted with ipv6.disable=1). */
static bool ipv6_available(void)
{
	const int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Returns 0, or -1 after saying what failed; d is closed on failure. */
static int decap_open(struct decap *d, const struct decap_config *cfg)
{
	const bool outer6 = cfg->outer6 && ipv6_available();
	int ret;

	d->cfg = cfg;
	d->tun_fd = -1;
	d->n_sockets = 0;

	if (cfg->outer6 && !outer6)
		fprintf(stderr, "dplb-decap: this kernel has no IPv6: tunnels over IPv4 only\n");
	ret = tun_open(cfg->tun_name, d->tun_name);
	if (ret < 0) {
		fprintf(stderr, "dplb-decap: TUN device %s: %s\n", cfg->tun_name, strerror(-ret));
		goto err;
	}
	d->tun_fd = ret;
	ret = netdev_set_up(d->tun_name);
	if (ret < 0) {
		fprintf(stderr, "dplb-decap: bringing %s up: %s\n", d->tun_name, strerror(-ret));
		goto err;
	}
	if (cfg->ipip_enabled && cfg->outer4 &&
	    (decap_add_socket(d, AF_INET, SOCK_RAW, IPPROTO_IPIP, 4, decap_ipip, "IP-in-IP") < 0 ||
	     decap_add_socket(d, AF_INET, SOCK_RAW, IPPROTO_IPV6, 6, decap_ipip, "IPv6-in-IPv4") <
		     0))
		goto err;
	if (cfg->ipip_enabled && outer6 &&
	    (decap_add_socket(d, AF_INET6, SOCK_RAW, IPPROTO_IPIP, 4, decap_ipip6, "IPv4-in-IPv6") <
		     0 ||
	     decap_add_socket(d, AF_INET6, SOCK_RAW, IPPROTO_IPV6, 6, decap_ipip6, "IPv6-in-IPv6") <
		     0))
		goto err;
	if (cfg->gue_enabled && cfg->outer4 &&
	    decap_add_socket(d, AF_INET, SOCK_DGRAM, IPPROTO_UDP, 0, decap_gue, "GUE") < 0)
		goto err;
	if (cfg->gue_enabled && outer6 &&
	    decap_add_socket(d, AF_INET6, SOCK_DGRAM, IPPROTO_UDP, 0, decap_gue, "GUE over IPv6") <
		    0)
		goto err;
	return 0;
err:
	decap_close(d);
	return -1;
}

/*
 * The signals are blocked everywhere except inside ppoll(), so a signal that
 * arrives between the flag checks and the wait still ends the wait.
 * Returns 0 when asked to stop, -1 on a fatal error.
 */
static int decap_run(struct decap *d, const sigset_t *wait_mask)
{
	struct pollfd fds[DECAP_MAX_SOCKETS];
	nfds_t i;
	int ret;

	for (i = 0; i < d->n_sockets; i++)
		fds[i] = (struct pollfd){ .fd = d->sockets[i].fd, .events = POLLIN };

	while (!stop_requested) {
		if (dump_requested) {
			dump_requested = 0;
			decap_report(d);
		}
		if (ppoll(fds, d->n_sockets, NULL, wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "dplb-decap: poll: %s\n", strerror(errno));
			return -1;
		}
		for (i = 0; i < d->n_sockets; i++) {
			if (!(fds[i].revents & (POLLIN | POLLERR)))
				continue;
			ret = decap_drain(d, &d->sockets[i]);
			if (ret < 0) {
				fprintf(stderr, "dplb-decap: receive (%s): %s\n",
					d->sockets[i].what, strerror(-ret));
				return -1;
			}
		}
	}
	return 0;
}

/* An IPv4 or IPv6 address; returns 0 or -EINVAL. */
static int parse_address(const char *s, struct decap_address *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/*
 * Returns 0 to run, 1 after -h, -1 on a usage error (already reported).
 */
static int parse_args(int argc, char **argv, struct decap_config *cfg)
{
	bool port_given = false;
	int opt;

	memset(cfg, 0, sizeof(*cfg));
	cfg->tun_name = DECAP_DEFAULT_TUN;
	cfg->gue_port = DECAP_DEFAULT_GUE_PORT;
	cfg->gue_enabled = true;
	cfg->ipip_enabled = true;
	cfg->bind_addr.s_addr = htonl(INADDR_ANY);
	cfg->bind_addr6 = in6addr_any;
	cfg->outer4 = true;
	cfg->outer6 = true;

	struct decap_address addr;
	bool only4 = false;

	while ((opt = getopt(argc, argv, "i:g:GI4b:v:us:h")) != -1) {
		switch (opt) {
		case 'i':
			if (optarg[0] == '\0' || strlen(optarg) >= IFNAMSIZ) {
				fprintf(stderr,
					"dplb-decap: bad interface name '%s' (1 to %d "
					"characters)\n",
					optarg, IFNAMSIZ - 1);
				return -1;
			}
			cfg->tun_name = optarg;
			break;
		case 'g':
			if (parse_port(optarg, &cfg->gue_port) < 0) {
				fprintf(stderr, "dplb-decap: bad GUE port '%s'\n", optarg);
				return -1;
			}
			port_given = true;
			break;
		case 'G':
			cfg->gue_enabled = false;
			break;
		case 'I':
			cfg->ipip_enabled = false;
			break;
		case '4':
			only4 = true;
			break;
		case 'b':
			if (parse_address(optarg, &addr) < 0) {
				fprintf(stderr, "dplb-decap: bad bind address '%s'\n", optarg);
				return -1;
			}
			if (addr.family == AF_INET ? cfg->bind4_given : cfg->bind6_given) {
				fprintf(stderr, "dplb-decap: more than one IPv%c bind address\n",
					addr.family == AF_INET ? '4' : '6');
				return -1;
			}
			if (addr.family == AF_INET) {
				memcpy(&cfg->bind_addr, addr.bytes, 4);
				cfg->bind4_given = true;
			} else {
				memcpy(&cfg->bind_addr6, addr.bytes, 16);
				cfg->bind6_given = true;
			}
			break;
		case 'v':
			if (cfg->n_vips == DECAP_MAX_VIPS) {
				fprintf(stderr, "dplb-decap: more than %d VIPs\n", DECAP_MAX_VIPS);
				return -1;
			}
			if (parse_address(optarg, &cfg->vips[cfg->n_vips]) < 0) {
				fprintf(stderr, "dplb-decap: bad VIP '%s'\n", optarg);
				return -1;
			}
			cfg->n_vips++;
			break;
		case 'u':
			/* Always done; see usage(). */
			break;
		case 's':
			cfg->stats_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dplb-decap: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (port_given && !cfg->gue_enabled) {
		fprintf(stderr, "dplb-decap: -g and -G contradict each other\n");
		return -1;
	}
	if (!cfg->gue_enabled && !cfg->ipip_enabled) {
		fprintf(stderr, "dplb-decap: -G and -I leave nothing to receive\n");
		return -1;
	}
	/* -b names the outer families received: those given. */
	if (cfg->bind4_given || cfg->bind6_given) {
		cfg->outer4 = cfg->bind4_given;
		cfg->outer6 = cfg->bind6_given;
	}
	if (only4 && cfg->bind6_given) {
		fprintf(stderr, "dplb-decap: -4 and an IPv6 -b contradict each other\n");
		return -1;
	}
	if (only4)
		cfg->outer6 = false;
	return 0;
}

int main(int argc, char **argv)
{
	static struct decap_config cfg;
	struct decap d;
	struct sigaction sa;
	sigset_t blocked, wait_mask;
	int ret;

	ret = parse_args(argc, argv, &cfg);
	if (ret != 0)
		return ret > 0 ? EXIT_SUCCESS : 2;

	/* Block before opening anything: a signal during set-up is then
	 * taken by the first ppoll() instead of being lost. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGUSR1);
	sigprocmask(SIG_BLOCK, &blocked, &wait_mask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	memset(&d, 0, sizeof(d));
	if (decap_open(&d, &cfg) < 0)
		return EXIT_FAILURE;

	bool outer6 = false;
	for (unsigned int i = 0; i < d.n_sockets; i++)
		outer6 |= d.sockets[i].outer_family == AF_INET6;
	fprintf(stderr,
		"dplb-decap: ready: ipip %s, gue %s port %u, outer ipv4 %s, ipv6 %s, tun %s, %u "
		"VIP "
		"filter(s)\n",
		cfg.ipip_enabled ? "on" : "off", cfg.gue_enabled ? "on" : "off", cfg.gue_port,
		cfg.outer4 ? "on" : "off", outer6 ? "on" : "off", d.tun_name, cfg.n_vips);

	ret = decap_run(&d, &wait_mask);
	decap_report(&d);
	decap_close(&d);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
