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
 * Our replies come to a few local ports, each reserved by a bound (not
 * listening) TCP socket so no other socket of this host can take it, and a
 * classic BPF filter gives the raw socket only packets to those ports. A
 * probe is known by the sequence number it sent (the answer acknowledges it
 * + 1). Several ports because two checks of one server's port (the same
 * backend in two VIPs) from one port would be one 4-tuple: the second SYN
 * would meet the first's half-open connection and be answered with a bare
 * ACK. The checker gives such checks different ports.
 *
 * IPv6 backends get the same from a second raw socket, IPv6's: the same
 * port numbers, held by IPv6 sockets of their own, and the kernel computes
 * the TCP checksum (IPV6_CHECKSUM), so no source address is looked up. A
 * host without IPv6 has no such socket, and IPv6 checks connect() there.
 *
 * Needs CAP_NET_RAW; dplb_syn_open says when it is missing, and the
 * checker then uses connect() instead. DPDK-free; one thread.
 */
#ifndef DPLB_HEALTH_SYN_H
#define DPLB_HEALTH_SYN_H

#include <stdbool.h>
#include <stdint.h>

#define DPLB_SYN_PORTS 8

struct dplb_syn_prober {
	int raw_fd;			/* SOCK_RAW, IPPROTO_TCP, non-blocking; -1 when closed */
	int port_fds[DPLB_SYN_PORTS];	/* hold the ports */
	uint16_t ports[DPLB_SYN_PORTS]; /* our source ports, host order */
	/* The same for IPv6 (raw6_fd -1: no IPv6 SYNs, on a host without IPv6
	 * or when its ports were taken). */
	int raw6_fd;
	int port6_fds[DPLB_SYN_PORTS];
};

enum dplb_syn_verdict { DPLB_SYN_OPEN, DPLB_SYN_REFUSED };

struct dplb_syn_answer {
	uint32_t address;  /* the server's, network order; 0 for IPv6 */
	uint16_t port;	   /* the server's, host order */
	uint32_t sequence; /* of the SYN it answers */
	enum dplb_syn_verdict verdict;
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t address6[16]; /* the server's when family is AF_INET6 */
};

/* Open the sockets, SYNs leaving from source (network order; 0: the
 * route's address; IPv6 ones always from the route's). Returns 0 or a
 * negative errno (-EPERM without CAP_NET_RAW, -EADDRNOTAVAIL when source
 * is not ours); IPv6's failing leaves raw6_fd -1 and is no error. */
int dplb_syn_open(struct dplb_syn_prober *prober, uint32_t source);
/* A prober that is not open (dplb_syn_close does nothing to it). */
void dplb_syn_init(struct dplb_syn_prober *prober);
void dplb_syn_close(struct dplb_syn_prober *prober);

/*
 * The source address the kernel gives packets to address (network order),
 * for the TCP checksum: source itself when set. Returns 0 or a negative
 * errno (-ENETUNREACH when there is no route).
 */
int dplb_syn_source_for(uint32_t address, uint32_t source, uint32_t *out);

/* Send one SYN from our port number port_index (< DPLB_SYN_PORTS);
 * returns 0 or a negative errno. */
int dplb_syn_send(const struct dplb_syn_prober *prober, unsigned int port_index, uint32_t source,
		  uint32_t address, uint16_t port, uint32_t sequence);

/* The same to an IPv6 server (prober->raw6_fd must be open). */
int dplb_syn_send6(const struct dplb_syn_prober *prober, unsigned int port_index,
		   const uint8_t address[16], uint16_t port, uint32_t sequence);

/* Read up to max answers that have arrived, IPv4's then IPv6's; returns
 * how many (0 when none is waiting). Packets that answer nothing of ours
 * are skipped. */
int dplb_syn_receive(const struct dplb_syn_prober *prober, struct dplb_syn_answer *answers,
		     int max);

#endif
