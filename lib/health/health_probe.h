/*
 * One health check in flight, on a non-blocking socket through the host's
 * network stack: tcp (connect), http (GET, status line), udp (send a
 * payload, any answer is healthy, ICMP port unreachable is not). IPv4 or
 * IPv6, the backend's family.
 *
 * The caller owns an epoll set and polls it; a probe registers its socket
 * there with a tag of the caller's and is advanced by the events that come
 * back. Nothing here blocks or sleeps, so a thousand checks in flight cost
 * the management lcore only what their events cost. Sockets are closed
 * with a reset (SO_LINGER 0), so frequent checks leave no TIME_WAIT behind
 * to exhaust the ephemeral ports.
 *
 * DPDK-free; any one thread per probe.
 */
#ifndef DPLB_HEALTH_PROBE_H
#define DPLB_HEALTH_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"

#define DPLB_PROBE_ERROR_MAX 96

struct dplb_probe_target {
	uint32_t address; /* network order; family AF_INET */
	uint16_t port;	  /* host order */
	/* IPv4 checks leave from it (network order; 0: the kernel chooses).
	 * IPv6 checks always leave from the kernel's choice: health_source is
	 * an IPv4 address. */
	uint32_t source;
	const struct dplb_health_settings *settings;
	/* AF_INET6: address6 is the backend's (network order) and address is
	 * unused; anything else is IPv4 (a zeroed target stays IPv4). */
	uint8_t family;
	uint8_t address6[16];
};

struct dplb_probe_result {
	bool ok;
	uint32_t latency_us;
	char error[DPLB_PROBE_ERROR_MAX]; /* why it failed; "" when ok */
};

enum dplb_probe_phase {
	DPLB_PROBE_IDLE,
	DPLB_PROBE_CONNECTING, /* tcp, http: waiting for the handshake */
	DPLB_PROBE_ANSWER,     /* http: status line; udp: any datagram */
	DPLB_PROBE_ELSEWHERE,  /* sent by someone else (a SYN, health_syn.h) */
};

struct dplb_probe {
	int fd;	      /* -1 when idle */
	uint64_t tag; /* the caller's, as epoll data */
	enum dplb_probe_phase phase;
	uint64_t started_us;
	uint64_t deadline_us;
	uint32_t received;
	char answer[16]; /* the start of an HTTP status line */
};

void dplb_probe_init(struct dplb_probe *probe);

/* Room for an address as dplb_probe_address_text writes it. */
#define DPLB_PROBE_ADDRESS_MAX (46 + 2) /* INET6_ADDRSTRLEN and brackets */

/* target's address as text: IPv4 dotted, IPv6 in brackets ([2001:db8::1]),
 * as it reads before a port and in an HTTP Host header (RFC 3986, 3.2.2).
 * Returns out (DPLB_PROBE_ADDRESS_MAX bytes). */
const char *dplb_probe_address_text(const struct dplb_probe_target *target, char *out);

/* Whether checks can leave from source (network order): 0 when it is an
 * address of this host (or 0, any), else a negative errno. */
int dplb_probe_source_usable(uint32_t source);

static inline bool dplb_probe_busy(const struct dplb_probe *probe)
{
	return probe->phase != DPLB_PROBE_IDLE;
}

/*
 * Start a check of target at now_us, its socket added to epoll_fd with
 * tag as epoll data. Returns false when it is already over (a socket could
 * not be made, the route is missing, ...), with result filled in; true
 * when it is in flight.
 */
bool dplb_probe_start(struct dplb_probe *probe, int epoll_fd, uint64_t tag,
		      const struct dplb_probe_target *target, uint64_t now_us,
		      struct dplb_probe_result *result);

/* An epoll event for this probe. Returns true when the check is over, with
 * result filled in and the socket closed. */
bool dplb_probe_advance(struct dplb_probe *probe, int epoll_fd,
			const struct dplb_probe_target *target, uint32_t events, uint64_t now_us,
			struct dplb_probe_result *result);

/* Returns true, with a timeout result, when the probe is past its
 * deadline (its socket closed); false when it is idle or still has time. */
bool dplb_probe_expire(struct dplb_probe *probe, uint64_t now_us, struct dplb_probe_result *result);

/* Give up on a check without a result (the backend was removed). */
void dplb_probe_abort(struct dplb_probe *probe);

/* A check whose packets someone else sends and reads (a SYN on the shared
 * raw socket): in flight from now_us, timed out as any other. */
void dplb_probe_begin_elsewhere(struct dplb_probe *probe, uint32_t timeout_ms, uint64_t now_us);
/* Its answer came: ends it with result filled in (error when not ok). */
void dplb_probe_end_elsewhere(struct dplb_probe *probe, bool ok, const char *error, uint64_t now_us,
			      struct dplb_probe_result *result);

#endif
