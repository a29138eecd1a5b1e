/* Half-open TCP health checks on a raw socket; see health_syn.h. */
#include "health/health_syn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
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
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++)
		prober->port_fds[i] = -1;
}

int dplb_syn_open(struct dplb_syn_prober *prober, uint32_t source)
{
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_addr.s_addr = source };
	struct sock_filter code[DPLB_SYN_PORTS + 4];
	unsigned int n = 0;
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
	/* Only TCP to our ports: the raw socket would otherwise get a copy of
	 * every TCP packet the host receives. The IPv4 header comes first. */
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

	if (setsockopt(prober->raw_fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) !=
	    0)
		goto fail;
	/* DF set: a SYN is never fragmented, and the kernel then skips picking
	 * a per-destination IP id for each (a hash that was a tenth of the
	 * cost of a check). */
	const int pmtu = IP_PMTUDISC_DO;
	setsockopt(prober->raw_fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	/* Every answer of a round lands here while the management lcore may be
	 * busy elsewhere (a big /metrics, a reload): the default buffer holds
	 * some 160 of them, and a full one drops answers, which would read as
	 * timeouts. Beyond rmem_max needs CAP_NET_ADMIN; without it, as much
	 * as allowed. */
	const int buffer = SYN_RECEIVE_BUFFER;
	if (setsockopt(prober->raw_fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0)
		setsockopt(prober->raw_fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
	return 0;
fail:
	err = errno;
	dplb_syn_close(prober);
	return -err;
}

void dplb_syn_close(struct dplb_syn_prober *prober)
{
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

int dplb_syn_send(const struct dplb_syn_prober *prober, unsigned int port_index, uint32_t source,
		  uint32_t address, uint16_t port, uint32_t sequence)
{
	struct {
		struct tcphdr tcp;
		uint8_t mss[4];
	} segment;
	const struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = address };

	memset(&segment, 0, sizeof(segment));
	segment.tcp.source = htons(prober->ports[port_index % DPLB_SYN_PORTS]);
	segment.tcp.dest = htons(port);
	segment.tcp.seq = htonl(sequence);
	segment.tcp.doff = sizeof(segment) / 4;
	segment.tcp.syn = 1;
	segment.tcp.window = htons(SYN_WINDOW);
	/* An MSS option, as every real SYN has: some stacks ignore bare SYNs. */
	segment.mss[0] = TCP_OPTION_MSS;
	segment.mss[1] = 4;
	segment.mss[2] = SYN_MSS >> 8;
	segment.mss[3] = SYN_MSS & 0xff;
	segment.tcp.check = tcp_checksum(source, address, &segment, sizeof(segment));
	if (sendto(prober->raw_fd, &segment, sizeof(segment), MSG_DONTWAIT,
		   (const struct sockaddr *)&to, sizeof(to)) != (ssize_t)sizeof(segment))
		return -errno;
	return 0;
}

/* One received packet as an answer to a SYN of ours; false when it is not. */
static bool parse_answer(const uint8_t *packet, size_t length, struct dplb_syn_answer *answer)
{
	const struct iphdr *ip = (const struct iphdr *)packet;
	const size_t ip_length = (size_t)ip->ihl * 4;

	if (length < sizeof(*ip) || ip->version != 4 || ip_length < sizeof(*ip) ||
	    length < ip_length + sizeof(struct tcphdr))
		return false;
	const struct tcphdr *tcp = (const struct tcphdr *)(packet + ip_length);
	if (!tcp->ack)
		return false; /* the filter let only our ports in */
	if (tcp->syn && !tcp->rst)
		answer->verdict = DPLB_SYN_OPEN;
	else if (tcp->rst && !tcp->syn)
		answer->verdict = DPLB_SYN_REFUSED;
	else
		return false;
	answer->address = ip->saddr;
	answer->port = ntohs(tcp->source);
	answer->sequence = ntohl(tcp->ack_seq) - 1;
	return true;
}

int dplb_syn_receive(const struct dplb_syn_prober *prober, struct dplb_syn_answer *answers, int max)
{
	uint8_t packets[SYN_RECEIVE_BATCH][128];
	struct iovec vectors[SYN_RECEIVE_BATCH];
	struct mmsghdr messages[SYN_RECEIVE_BATCH];
	int count = 0;

	/* A round's answers come together: one system call reads a batch. */
	for (unsigned int i = 0; i < SYN_RECEIVE_BATCH; i++) {
		vectors[i] =
			(struct iovec){ .iov_base = packets[i], .iov_len = sizeof(packets[i]) };
		messages[i] =
			(struct mmsghdr){ .msg_hdr = { .msg_iov = &vectors[i], .msg_iovlen = 1 } };
	}
	while (count < max) {
		const unsigned int want = (unsigned int)(max - count) < SYN_RECEIVE_BATCH
						  ? (unsigned int)(max - count)
						  : SYN_RECEIVE_BATCH;
		const int n = recvmmsg(prober->raw_fd, messages, want, MSG_DONTWAIT, NULL);

		for (int i = 0; i < n; i++)
			count += parse_answer(packets[i], messages[i].msg_len, &answers[count]);
		if (n < (int)want)
			break;
	}
	return count;
}
