/*
 * The kernel's exception path ([dataplane] exception_path = tap): a tap
 * interface per dataplane port, owned by the management lcore, so that the
 * kernel has a leg on the dataplane network (ssh and a BGP session to
 * dplb's address, health checks from it) although DPDK owns the NIC. DPDK's
 * replacement for KNI.
 *
 *   port -> worker -> to_kernel ring -> management lcore -> tap -> kernel
 *   kernel -> tap -> management lcore -> worker 0's from_management ring
 *          -> worker 0 -> port
 *
 * Workers pass what is for dplb's address and is not theirs to answer (TCP,
 * UDP, ICMP other than echo requests) through a bounded ring each, and drop
 * and count (exception_busy) what does not fit: they never wait. A peer's
 * BGP and BFD take a small priority ring of each worker's instead, which
 * this path empties first and writes to the tap first, so that a flood to
 * dplb's address does not drop the kernel's routing sessions; the peers
 * are learned here, from the kernel's own BGP and BFD frames
 * (packet/control_traffic.h says what is recognised, and how a flood is
 * kept off the priority ring). ARP stays
 * with dplb: workers answer requests for its address, as without a tap, and
 * the kernel gets the replies and announcements it may be waiting for from
 * the management lcore, which reads every ARP frame anyway. IPv6 likewise,
 * for address6: TCP, UDP and the kernel's ICMPv6 through the rings,
 * neighbor solicitations answered by workers, advertisements passed on by
 * the management lcore. The tap carries
 * the port's MAC, so the kernel's frames leave with the MAC dplb answers
 * ARP with, and the kernel is never asked, so it never answers twice.
 */
#ifndef DPLB_EXCEPTION_PATH_H
#define DPLB_EXCEPTION_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_arp.h>
#include <rte_mbuf.h>

#include "control/config.h"
#include "control/context.h"
#include "packet/control_traffic.h"

/*
 * Make config's taps, one per port of ctx (ctx->port_ids), each named as
 * dplb_exception_interface_name says, with its port's MAC, IPv6 quiet, one
 * RX and one TX queue configured; sets ctx->exception. Nothing to do (0)
 * for exception_path = none. Before the mbuf pool is made: it must hold
 * the taps' RX descriptors (dplb_exception_path_rx_descriptors). Returns 0
 * or a negative errno, logging why. Main lcore, at start-up.
 */
int dplb_exception_path_create(struct dplb_context *ctx, const struct dplb_config *config);

/* Buffers the taps' RX queues hold (0 without taps). */
uint32_t dplb_exception_path_rx_descriptors(const struct dplb_exception_path *path);

/*
 * Set the taps' queues up on ctx->pool, their MTU to mtu, start them (the
 * kernel's interfaces go up) and give them dplb's address (and address6)
 * from the snapshot that serves. Returns 0 or a negative errno, logging why. Main
 * lcore, at start-up, after dplb_exception_path_create.
 */
int dplb_exception_path_start(struct dplb_context *ctx, uint32_t mtu);

/*
 * One bounded slice of the exception path's work: frames from the
 * workers' rings written to the taps, frames the kernel sent handed to
 * worker 0, and the taps' address brought in line with the snapshot's
 * (after a reload changed address, address6 or their prefix lengths). Never blocks.
 * Management lcore.
 */
void dplb_exception_path_poll(struct dplb_context *ctx);

/*
 * Give the kernel an ARP frame the management lcore has read, if it is one
 * the kernel may be waiting for: a reply to dplb's address, or a neighbour
 * announcing its own (gratuitous ARP). Returns true when the frame was
 * taken (written to the tap or dropped and counted); false leaves it to
 * the caller. Management lcore.
 */
bool dplb_exception_path_take_arp(struct dplb_context *ctx, struct rte_mbuf *m,
				  const struct rte_arp_hdr *arp);

/*
 * The same for an IPv6 neighbor advertisement (one a worker checked came
 * from the link) the management lcore has read: taken when it answers
 * dplb's address6 or announces a neighbour to all nodes (ff02::1).
 * Management lcore.
 */
bool dplb_exception_path_take_advert(struct dplb_context *ctx, struct rte_mbuf *m);

/*
 * The taps' file descriptors, readable while the kernel has sent frames:
 * the management loop waits on them too. Writes at most max to fds;
 * returns how many. Management lcore.
 */
unsigned int dplb_exception_path_fds(const struct dplb_exception_path *path, int *fds,
				     unsigned int max);

/* Whether the last poll moved frames: more may follow soon, so the
 * management loop should not sleep long. */
bool dplb_exception_path_busy(const struct dplb_exception_path *path);

/* The first port's tap's interface index, while it is up; 0 without
 * one. Routes through it go away with it (control/announce.h). */
int dplb_exception_path_ifindex(const struct dplb_exception_path *path);

/* The peers the kernel has sent BGP or BFD to, which workers read to
 * choose their priority ring; NULL without taps. Lives until
 * dplb_exception_path_release. */
const struct dplb_control_peers *dplb_exception_path_control_peers(
	const struct dplb_exception_path *path);

/* Stop and remove the taps (their interfaces go away) and free
 * ctx->exception. Before the pool is freed. Main lcore. */
void dplb_exception_path_release(struct dplb_context *ctx);

#endif
