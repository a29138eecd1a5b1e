/* Half-open TCP health checks on a raw socket; see health_syn.h. */
#include "health/health_syn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_OPTION_MSS 2
#define SYN_WINDOW 64240
#define SYN_MSS 1460
#define SYN_RECEIVE_BUFFER (8 << 20)
#define SYN_RECEIVE_BATCH 32u

void dplb_syn_init(struct dplb_syn_prober *prober)
{
	prober->raw_fd = -1;
	prober->raw6_fd = -1;
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++)
		prober->port_fds[i] = prober->port6_fds[i] = -1;
}

/*
 * Only TCP to our ports: a raw socket would otherwise get a copy of every
 * TCP packet the host receives. An IPv4 raw socket's packets start with
 * the IP header (its length in X), an IPv6 one's with the TCP header.
 */
static int attach_port_filter(const struct dplb_syn_prober *prober, int fd, bool ipv6)
{
	struct sock_filter code[DPLB_SYN_PORTS + 4];
	unsigned int n = 0;

	if (ipv6)
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_IMM, 0);
	else
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH,
							 0); /* X = IP header length */
	code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND,
						 2);	  /* TCP destination port */
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++) /* to "accept" when equal */
		code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
							 prober->ports[i], DPLB_SYN_PORTS - i, 0);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 128); /* headers are enough */
	const struct sock_fprog program = { .len = (unsigned short)n, .filter = code };

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program));
}

/* Every answer of a round lands in the raw socket while the management
 * lcore may be busy elsewhere (a big /metrics, a reload): the default
 * buffer holds some 160 of them, and a full one drops answers, which would
 * read as timeouts. Beyond rmem_max needs CAP_NET_ADMIN; without it, as
 * much as allowed. */
static void enlarge_receive_buffer(int fd)
{
	const int buffer = SYN_RECEIVE_BUFFER;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
}

static void close_ipv6(struct dplb_syn_prober *prober)
{
	if (prober->raw6_fd >= 0)
		close(prober->raw6_fd);
	prober->raw6_fd = -1;
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++) {
		if (prober->port6_fds[i] >= 0)
			close(prober->port6_fds[i]);
		prober->port6_fds[i] = -1;
	}
}

/* The IPv6 half, on the IPv4 half's port numbers; left closed when any
 * part of it cannot be made. */
static void open_ipv6(struct dplb_syn_prober *prober)
{
	struct sockaddr_in6 local = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	const int on = 1, checksum_offset = 16; /* of the TCP checksum */

	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++) {
		/* Bound, never listening, as the IPv4 ports (V6ONLY: those
		 * hold the IPv4 side). */
		local.sin6_port = htons(prober->ports[i]);
		prober->port6_fds[i] = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (prober->port6_fds[i] < 0 ||
		    setsockopt(prober->port6_fds[i], IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) !=
			    0 ||
		    bind(prober->port6_fds[i], (struct sockaddr *)&local, sizeof(local)) != 0)
			goto fail;
	}
	prober->raw6_fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	/* The kernel fills in the checksum, pseudo-header and all, for the
	 * source address it picks. */
	if (prober->raw6_fd < 0 ||
	    setsockopt(prober->raw6_fd, IPPROTO_IPV6, IPV6_CHECKSUM, &checksum_offset,
		       sizeof(checksum_offset)) != 0 ||
	    attach_port_filter(prober, prober->raw6_fd, true) != 0)
		goto fail;
	enlarge_receive_buffer(prober->raw6_fd);
	return;
fail:
	close_ipv6(prober);
}

int dplb_syn_open(struct dplb_syn_prober *prober, uint32_t source)
{
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = source };
	int err;

	dplb_syn_init(prober);
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++) {
		socklen_t length = sizeof(local);

		/* Bound, never listening: the port is ours, and the kernel
		 * resets every SYN-ACK that comes to it, as it must. */
		local.sin_port = 0;
		prober->port_fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (prober->port_fds[i] < 0 ||
		    bind(prober->port_fds[i], (struct sockaddr *)&local, sizeof(local)) != 0 ||
		    getsockname(prober->port_fds[i], (struct sockaddr *)&local, &length) != 0)
			goto fail;
		prober->ports[i] = ntohs(local.sin_port);
	}
	prober->raw_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (prober->raw_fd < 0)
		goto fail;
	/* The kernel fills in the IPv4 header; from source, which the
	 * checksum covers, and not from whatever the route prefers. */
	local.sin_port = 0;
	if (source != 0 && bind(prober->raw_fd, (struct sockaddr *)&local, sizeof(local)) != 0)
		goto fail;
	if (attach_port_filter(prober, prober->raw_fd, false) != 0)
		goto fail;
	/* DF set: a SYN is never fragmented, and the kernel then skips picking
	 * a per-destination IP id for each (a hash that was a tenth of the
	 * cost of a check). */
	const int pmtu = IP_PMTUDISC_DO;
	setsockopt(prober->raw_fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	enlarge_receive_buffer(prober->raw_fd);
	open_ipv6(prober);
	return 0;
fail:
	err = errno;
	dplb_syn_close(prober);
	return -err;
}

void dplb_syn_close(struct dplb_syn_prober *prober)
{
	close_ipv6(prober);
	if (prober->raw_fd >= 0)
		close(prober->raw_fd);
	prober->raw_fd = -1;
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++) {
		if (prober->port_fds[i] >= 0)
			close(prober->port_fds[i]);
		prober->port_fds[i] = -1;
	}
}

int dplb_syn_source_for(uint32_t address, uint32_t source, uint32_t *out)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(9),
				  .sin_addr.s_addr = address };
	struct sockaddr_in from;
	socklen_t length = sizeof(from);
	int fd, rc = 0;

	if (source != 0) {
		*out = source;
		return 0;
	}
	/* A connected UDP socket sends nothing but asks the routing table. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&from, &length) != 0)
		rc = -errno;
	else
		*out = from.sin_addr.s_addr;
	close(fd);
	return rc;
}

/* Add big-endian 16-bit words of bytes to a one's complement sum. */
static uint32_t sum_words(uint32_t sum, const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i + 1 < length; i += 2)
		sum += (uint32_t)bytes[i] << 8 | bytes[i + 1];
	if (length & 1)
		sum += (uint32_t)bytes[length - 1] << 8;
	return sum;
}

/* The TCP checksum over the pseudo-header and the segment, in network
 * order, whatever the host's. */
static uint16_t tcp_checksum(uint32_t source, uint32_t destination, const void *segment,
			     size_t length)
{
	uint8_t pseudo[12];
	uint32_t sum;

	memcpy(pseudo, &source, 4); /* both already in network order */
	memcpy(pseudo + 4, &destination, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = (uint8_t)(length >> 8);
	pseudo[11] = (uint8_t)length;
	sum = sum_words(sum_words(0, pseudo, sizeof(pseudo)), segment, length);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

struct syn_segment {
	struct tcphdr tcp;
	uint8_t mss[4];
};

/* The SYN, its checksum left 0. */
static void build_syn(const struct dplb_syn_prober *prober, unsigned int port_index, uint16_t port,
		      uint32_t sequence, struct syn_segment *segment)
{
	memset(segment, 0, sizeof(*segment));
	segment->tcp.source = htons(prober->ports[port_index % DPLB_SYN_PORTS]);
	segment->tcp.dest = htons(port);
	segment->tcp.seq = htonl(sequence);
	segment->tcp.doff = sizeof(*segment) / 4;
	segment->tcp.syn = 1;
	segment->tcp.window = htons(SYN_WINDOW);
	/* An MSS option, as every real SYN has: some stacks ignore bare SYNs. */
	segment->mss[0] = TCP_OPTION_MSS;
	segment->mss[1] = 4;
	segment->mss[2] = SYN_MSS >> 8;
	segment->mss[3] = SYN_MSS & 0xff;
}

int dplb_syn_send6(const struct dplb_syn_prober *prober, unsigned int port_index,
		   const uint8_t address[16], uint16_t port, uint32_t sequence)
{
	struct syn_segment segment;
	struct sockaddr_in6 to = { .sin6_family = AF_INET6 };

	memcpy(&to.sin6_addr, address, sizeof(to.sin6_addr));
	build_syn(prober, port_index, port, sequence, &segment); /* IPV6_CHECKSUM sums it */
	if (sendto(prober->raw6_fd, &segment, sizeof(segment), MSG_DONTWAIT,
		   (const struct sockaddr *)&to, sizeof(to)) != (ssize_t)sizeof(segment))
		return -errno;
	return 0;
}

int dplb_syn_send(const struct dplb_syn_prober *prober, unsigned int port_index, uint32_t source,
		  uint32_t address, uint16_t port, uint32_t sequence)
{
	struct syn_segment segment;
	const struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = address };

	build_syn(prober, port_index, port, sequence, &segment);
	segment.tcp.check = tcp_checksum(source, address, &segment, sizeof(segment));
	if (sendto(prober->raw_fd, &segment, sizeof(segment), MSG_DONTWAIT,
		   (const struct sockaddr *)&to, sizeof(to)) != (ssize_t)sizeof(segment))
		return -errno;
	return 0;
}

/* A received TCP header as an answer to a SYN of ours; false when it is
 * not. The address is the caller's to fill in. */
static bool parse_tcp_answer(const struct tcphdr *tcp, struct dplb_syn_answer *answer)
{
	if (!tcp->ack)
		return false; /* the filter let only our ports in */
	if (tcp->syn && !tcp->rst)
		answer->verdict = DPLB_SYN_OPEN;
	else if (tcp->rst && !tcp->syn)
		answer->verdict = DPLB_SYN_REFUSED;
	else
		return false;
	answer->port = ntohs(tcp->source);
	answer->sequence = ntohl(tcp->ack_seq) - 1;
	return true;
}

/* One packet of the IPv4 raw socket: the IPv4 header first. */
static bool parse_answer(const uint8_t *packet, size_t length, struct dplb_syn_answer *answer)
{
	const struct iphdr *ip = (const struct iphdr *)packet;
	const size_t ip_length = (size_t)ip->ihl * 4;

	if (length < sizeof(*ip) || ip->version != 4 || ip_length < sizeof(*ip) ||
	    length < ip_length + sizeof(struct tcphdr))
		return false;
	if (!parse_tcp_answer((const struct tcphdr *)(packet + ip_length), answer))
		return false;
	answer->family = AF_INET;
	answer->address = ip->saddr;
	return true;
}

/* One packet of the IPv6 raw socket: the TCP header, the sender in from. */
static bool parse_answer6(const uint8_t *packet, size_t length, const struct sockaddr_in6 *from,
			  struct dplb_syn_answer *answer)
{
	if (length < sizeof(struct tcphdr) ||
	    !parse_tcp_answer((const struct tcphdr *)packet, answer))
		return false;
	answer->family = AF_INET6;
	answer->address = 0;
	memcpy(answer->address6, &from->sin6_addr, sizeof(answer->address6));
	return true;
}

/* Up to max answers from one raw socket; returns how many. */
static int receive_from(int fd, bool ipv6, struct dplb_syn_answer *answers, int max)
{
	uint8_t packets[SYN_RECEIVE_BATCH][128];
	struct sockaddr_in6 senders[SYN_RECEIVE_BATCH];
	struct iovec vectors[SYN_RECEIVE_BATCH];
	struct mmsghdr messages[SYN_RECEIVE_BATCH];
	int count = 0;

	if (fd < 0)
		return 0;
	/* A round's answers come together: one system call reads a batch. */
	for (unsigned int i = 0; i < SYN_RECEIVE_BATCH; i++) {
		vectors[i] =
			(struct iovec){ .iov_base = packets[i], .iov_len = sizeof(packets[i]) };
		messages[i] =
			(struct mmsghdr){ .msg_hdr = {
						  .msg_name = ipv6 ? &senders[i] : NULL,
						  .msg_namelen = ipv6 ? sizeof(senders[i]) : 0,
						  .msg_iov = &vectors[i],
						  .msg_iovlen = 1,
					  } };
	}
	while (count < max) {
		const unsigned int want = (unsigned int)(max - count) < SYN_RECEIVE_BATCH
						  ? (unsigned int)(max - count)
						  : SYN_RECEIVE_BATCH;
		const int n = recvmmsg(fd, messages, want, MSG_DONTWAIT, NULL);

		for (int i = 0; i < n; i++)
			count += ipv6 ? parse_answer6(packets[i], messages[i].msg_len, &senders[i],
						      &answers[count])
				      : parse_answer(packets[i], messages[i].msg_len,
						     &answers[count]);
		if (n < (int)want)
			break;
	}
	return count;
}

int dplb_syn_receive(const struct dplb_syn_prober *prober, struct dplb_syn_answer *answers, int max)
{
	const int count = receive_from(prober->raw_fd, false, answers, max);

	return count + receive_from(prober->raw6_fd, true, answers + count, max - count);
}
