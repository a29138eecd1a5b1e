/*
 * The kernel's routing control traffic on the exception path: which frames
 * for dplb's own address are BGP or BFD sessions of the kernel's (BIRD's),
 * to be passed ahead of everything else for that address.
 *
 * Why: on a dataplane port, anything for dplb's address that dplb does not
 * answer itself goes to the kernel through one bounded ring per worker
 * (control/exception_path.h). A flood of such traffic (UDP or SYNs to
 * dplb's address, from anyone) fills that ring, and the BGP and BFD frames
 * arriving meanwhile would be dropped with the flood: BFD (3 x 100 ms)
 * would take the router's path away within a third of a second. So workers
 * put what this header recognises on a small priority ring of its own,
 * which the management lcore empties first.
 *
 * What is recognised, so that a flood cannot take the priority ring too:
 *   - the protocol and port: TCP from or to port 179 (BGP), UDP to 3784
 *     (single-hop BFD, RFC 5881) or 4784 (multihop BFD, RFC 5883);
 *   - single-hop BFD only with TTL 255, as RFC 5881 has receivers check:
 *     nobody off the segment can send it;
 *   - and only from a peer: an address (IPv4 or IPv6) the kernel itself has sent BGP or
 *     BFD to (learned by the management lcore from the kernel's frames,
 *     dplb_control_peers_learn), so a flood from other sources never gets
 *     priority, and no peer list needs configuring next to BIRD's.
 * What still matches (a flood spoofing a peer's address and port) is
 * bounded by a token bucket per worker (DPLB_CONTROL_RATE): beyond it,
 * frames go on the ordinary ring, as before, so a real BGP burst over the
 * rate is only slowed, never dropped by this.
 *
 * Pure C on DPDK's header types; no state but struct dplb_control_peers.
 */
#ifndef DPLB_CONTROL_TRAFFIC_H
#define DPLB_CONTROL_TRAFFIC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>

#define DPLB_BGP_PORT 179
#define DPLB_BFD_SINGLE_HOP_PORT 3784
#define DPLB_BFD_MULTIHOP_PORT 4784

/* Peers remembered: routers a host peers with, a handful at most. */
#define DPLB_CONTROL_PEERS_MAX 16
/* Control frames per second each worker may put on its priority ring, and
 * the burst it may take at once: BFD at its fastest common interval
 * (3.3 ms, 300 a second) to a few peers, and BGP's updates in bursts. */
#define DPLB_CONTROL_RATE 2000
#define DPLB_CONTROL_BURST 256

/*
 * The addresses the kernel sends BGP and BFD to. Written by the management
 * lcore only, read by every worker: each slot is one 32-bit word, stored
 * and loaded atomically (relaxed: a worker seeing a new peer a little late
 * only passes a frame or two on the ordinary ring). 0 is a free slot.
 */
struct dplb_control_peers {
	uint32_t address[DPLB_CONTROL_PEERS_MAX]; /* network order */
	uint32_t next;				  /* the slot a new peer takes when full */
	/* IPv6 peers, each as two 64-bit words (the address's bytes as they
	 * are), valid below count6, which is published after a new slot's
	 * words (release; workers load it with acquire). A full list's
	 * oldest slot is rewritten in place: a worker reading it meanwhile
	 * may see one word of each address, and miss the new peer or match
	 * an address made of both halves, which moves a frame or two to the
	 * other ring (the rate limit still bounds the priority one). */
	uint64_t address6[DPLB_CONTROL_PEERS_MAX][2];
	uint32_t count6;
	uint32_t next6;
};

/* Whether a TCP or UDP packet's protocol and ports (network order) are
 * BGP's or BFD's. */
static inline bool dplb_control_ports(uint8_t protocol, rte_be16_t src_port, rte_be16_t dst_port)
{
	if (protocol == IPPROTO_TCP)
		return src_port == rte_cpu_to_be_16(DPLB_BGP_PORT) ||
		       dst_port == rte_cpu_to_be_16(DPLB_BGP_PORT);
	return protocol == IPPROTO_UDP && (dst_port == rte_cpu_to_be_16(DPLB_BFD_SINGLE_HOP_PORT) ||
					   dst_port == rte_cpu_to_be_16(DPLB_BFD_MULTIHOP_PORT));
}

/* Whether address (network order) is a learned peer. Worker lcores. */
static inline bool dplb_control_peers_has(const struct dplb_control_peers *peers, uint32_t address)
{
	for (unsigned int i = 0; i < DPLB_CONTROL_PEERS_MAX; i++) {
		const uint32_t peer = __atomic_load_n(&peers->address[i], __ATOMIC_RELAXED);

		if (peer == 0)
			return false; /* slots fill in order */
		if (peer == address)
			return true;
	}
	return false;
}

/*
 * Whether an IPv4 packet for dplb's address, whose TCP/UDP ports are
 * src_port and dst_port (0 for other protocols), is a peer's BGP or BFD,
 * to go on the priority ring (bucket permitting). Worker lcores.
 */
static inline bool dplb_control_frame(const struct dplb_control_peers *peers,
				      const struct rte_ipv4_hdr *ip, rte_be16_t src_port,
				      rte_be16_t dst_port)
{
	if (peers == NULL || !dplb_control_ports(ip->next_proto_id, src_port, dst_port))
		return false;
	if (ip->next_proto_id == IPPROTO_UDP &&
	    dst_port == rte_cpu_to_be_16(DPLB_BFD_SINGLE_HOP_PORT) && ip->time_to_live != 255)
		return false;
	return dplb_control_peers_has(peers, ip->src_addr);
}

/* Whether the IPv6 address is a learned peer. Worker lcores. */
static inline bool dplb_control_peers_has6(const struct dplb_control_peers *peers,
					   const uint8_t address[16])
{
	const uint32_t count = __atomic_load_n(&peers->count6, __ATOMIC_ACQUIRE);
	uint64_t words[2];

	memcpy(words, address, sizeof(words));
	for (uint32_t i = 0; i < count; i++)
		if (__atomic_load_n(&peers->address6[i][0], __ATOMIC_RELAXED) == words[0] &&
		    __atomic_load_n(&peers->address6[i][1], __ATOMIC_RELAXED) == words[1])
			return true;
	return false;
}

/*
 * The same for an IPv6 packet for dplb's address: ip6's next header is
 * protocol (the upper layer, after any extension headers), whose ports
 * are src_port and dst_port. Single-hop BFD needs hop limit 255 (RFC 5881
 * 5). Worker lcores.
 */
static inline bool dplb_control_frame6(const struct dplb_control_peers *peers,
				       const struct rte_ipv6_hdr *ip6, uint8_t protocol,
				       rte_be16_t src_port, rte_be16_t dst_port)
{
	if (peers == NULL || !dplb_control_ports(protocol, src_port, dst_port))
		return false;
	if (protocol == IPPROTO_UDP && dst_port == rte_cpu_to_be_16(DPLB_BFD_SINGLE_HOP_PORT) &&
	    ip6->hop_limits != 255)
		return false;
	return dplb_control_peers_has6(peers, ip6->src_addr);
}

/*
 * Remember address (network order, not 0) as a peer; returns true when it
 * is new. When every slot is taken, the oldest learned is replaced: a
 * router the kernel stopped talking to long ago. Management lcore only.
 */
static inline bool dplb_control_peers_learn(struct dplb_control_peers *peers, uint32_t address)
{
	unsigned int i;

	for (i = 0; i < DPLB_CONTROL_PEERS_MAX; i++) {
		const uint32_t peer = peers->address[i];

		if (peer == address)
			return false;
		if (peer == 0)
			break;
	}
	if (i == DPLB_CONTROL_PEERS_MAX) {
		i = peers->next;
		peers->next = (peers->next + 1) % DPLB_CONTROL_PEERS_MAX;
	}
	__atomic_store_n(&peers->address[i], address, __ATOMIC_RELAXED);
	return true;
}

/* How many peers of both families are remembered. Management lcore. */
static inline uint32_t dplb_control_peers_count(const struct dplb_control_peers *peers)
{
	uint32_t count = peers->count6;

	for (unsigned int i = 0; i < DPLB_CONTROL_PEERS_MAX && peers->address[i] != 0; i++)
		count++;
	return count;
}

/* The same for an IPv6 address. Management lcore only. */
static inline bool dplb_control_peers_learn6(struct dplb_control_peers *peers,
					     const uint8_t address[16])
{
	uint64_t words[2];
	uint32_t i;

	if (dplb_control_peers_has6(peers, address))
		return false;
	memcpy(words, address, sizeof(words));
	if (peers->count6 < DPLB_CONTROL_PEERS_MAX) {
		i = peers->count6;
	} else {
		i = peers->next6;
		peers->next6 = (peers->next6 + 1) % DPLB_CONTROL_PEERS_MAX;
	}
	__atomic_store_n(&peers->address6[i][0], words[0], __ATOMIC_RELAXED);
	__atomic_store_n(&peers->address6[i][1], words[1], __ATOMIC_RELAXED);
	if (peers->count6 < DPLB_CONTROL_PEERS_MAX)
		__atomic_store_n(&peers->count6, peers->count6 + 1, __ATOMIC_RELEASE);
	return true;
}

#endif
