/*
 * TCP health checks as half-open handshakes: a SYN from a raw socket, and
 * the answer read from the same socket. A SYN-ACK means the port accepts
 * connections (the kernel, finding no socket of ours for it, answers it
 * with a reset, so the server keeps no state); a reset means it refuses;
 * silence means the check times out.
 *
 * Why not connect(): a full connection per check costs the checking host a
 * socket, two handshakes' worth of kernel work and a close, and wakes the
 * server's application to accept and close it (the noise HAProxy's checks
 * leave in server logs). At a thousand backends every 100 ms that is most
 * of a core; a SYN costs one send and one receive. What it tells is the
 * same: whether the server's kernel completes a handshake on that port.
 *
 * Our replies come to one local port, reserved by a bound (not listening)
 * TCP socket so no other socket of this host can take it, and a classic
 * BPF filter gives the raw socket only packets to that port. A probe is
 * known by the sequence number it sent (the answer acknowledges it + 1).
 *
 * Needs CAP_NET_RAW; dplb_syn_open says when it is missing, and the
 * checker then uses connect() instead. DPDK-free; one thread.
 */
#ifndef DPLB_HEALTH_SYN_H
#define DPLB_HEALTH_SYN_H

#include <stdbool.h>
#include <stdint.h>

struct dplb_syn_prober {
	int raw_fd;   /* SOCK_RAW, IPPROTO_TCP, non-blocking; -1 when closed */
	int port_fd;  /* holds the port */
	uint16_t port; /* our source port, host order */
};

enum dplb_syn_verdict { DPLB_SYN_OPEN, DPLB_SYN_REFUSED };

struct dplb_syn_answer {
	uint32_t address; /* the server's, network order */
	uint16_t port;    /* the server's, host order */
	uint32_t sequence; /* of the SYN it answers */
	enum dplb_syn_verdict verdict;
};

/* Open the sockets, answers coming to a port of source (network order; 0:
 * any local address). Returns 0 or a negative errno (-EPERM without
 * CAP_NET_RAW). */
int dplb_syn_open(struct dplb_syn_prober *prober, uint32_t source);
void dplb_syn_close(struct dplb_syn_prober *prober);

/*
 * The source address the kernel gives packets to address (network order),
 * for the TCP checksum: source itself when set. Returns 0 or a negative
 * errno (-ENETUNREACH when there is no route).
 */
int dplb_syn_source_for(uint32_t address, uint32_t source, uint32_t *out);

/* Send one SYN; returns 0 or a negative errno. */
int dplb_syn_send(const struct dplb_syn_prober *prober, uint32_t source, uint32_t address,
		  uint16_t port, uint32_t sequence);

/* Read up to max answers that have arrived; returns how many (0 when none
 * is waiting). Packets that answer nothing of ours are skipped. */
int dplb_syn_receive(const struct dplb_syn_prober *prober, struct dplb_syn_answer *answers,
		     int max);

#endif
