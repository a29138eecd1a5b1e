/*
 * Health check probes on non-blocking sockets; see health_probe.h.
 */
#include "health/health_probe.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void dplb_probe_init(struct dplb_probe *probe)
{
	memset(probe, 0, sizeof(*probe));
	probe->fd = -1;
	probe->phase = DPLB_PROBE_IDLE;
}

const char *dplb_probe_address_text(const struct dplb_probe_target *target, char *out)
{
	if (target->family != AF_INET6) {
		inet_ntop(AF_INET, &target->address, out, DPLB_PROBE_ADDRESS_MAX);
		return out;
	}
	out[0] = '[';
	inet_ntop(AF_INET6, target->address6, out + 1, DPLB_PROBE_ADDRESS_MAX - 2);
	strcat(out, "]");
	return out;
}

int dplb_probe_source_usable(uint32_t source)
{
	const struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = source };
	int fd, rc = 0;

	if (source == 0)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)&from, sizeof(from)) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* A reset rather than a FIN: no TIME_WAIT per check. */
static void close_probe(struct dplb_probe *probe)
{
	const struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	if (probe->fd >= 0) {
		setsockopt(probe->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		close(probe->fd); /* also leaves the epoll set */
	}
	probe->fd = -1;
	probe->phase = DPLB_PROBE_IDLE;
}

static bool finish(struct dplb_probe *probe, uint64_t now_us, struct dplb_probe_result *result,
		   bool ok, const char *error)
{
	const uint64_t latency = now_us > probe->started_us ? now_us - probe->started_us : 0;

	result->ok = ok;
	result->latency_us = latency > UINT32_MAX ? UINT32_MAX : (uint32_t)latency;
	snprintf(result->error, sizeof(result->error), "%s", ok ? "" : error);
	close_probe(probe);
	return true;
}

static bool fail_errno(struct dplb_probe *probe, uint64_t now_us, struct dplb_probe_result *result,
		       const char *what, int err)
{
	char text[DPLB_PROBE_ERROR_MAX];

	if (err == ECONNREFUSED)
		snprintf(text, sizeof(text), "%s refused", what);
	else
		snprintf(text, sizeof(text), "%s: %s", what, strerror(err));
	return finish(probe, now_us, result, false, text);
}

static int watch(int epoll_fd, int fd, uint32_t events, uint64_t tag, int op)
{
	struct epoll_event event = { .events = events, .data.u64 = tag };

	return epoll_ctl(epoll_fd, op, fd, &event);
}

static bool send_udp_payload(struct dplb_probe *probe, const struct dplb_probe_target *target,
			     uint64_t now_us, struct dplb_probe_result *result)
{
	const struct dplb_health_settings *s = target->settings;

	if (send(probe->fd, s->payload, s->payload_len, MSG_DONTWAIT) < 0)
		return fail_errno(probe, now_us, result, "udp send", errno);
	probe->phase = DPLB_PROBE_ANSWER;
	return false;
}

bool dplb_probe_start(struct dplb_probe *probe, int epoll_fd, uint64_t tag,
		      const struct dplb_probe_target *target, uint64_t now_us,
		      struct dplb_probe_result *result)
{
	const struct dplb_health_settings *s = target->settings;
	const bool udp = s->check == DPLB_HEALTH_UDP;
	const bool ipv6 = target->family == AF_INET6;
	const struct sockaddr_in to = { .sin_family = AF_INET,
					.sin_port = htons(target->port),
					.sin_addr.s_addr = target->address };
	struct sockaddr_in6 to6 = { .sin6_family = AF_INET6, .sin6_port = htons(target->port) };

	memcpy(&to6.sin6_addr, target->address6, sizeof(to6.sin6_addr));
	dplb_probe_init(probe);
	probe->tag = tag;
	probe->started_us = now_us;
	probe->deadline_us = now_us + (uint64_t)dplb_health_timeout_ms(s) * 1000;
	probe->fd = socket(ipv6 ? AF_INET6 : AF_INET,
			   (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe->fd < 0)
		return !fail_errno(probe, now_us, result, "socket", errno);
	probe->phase = DPLB_PROBE_CONNECTING;
	/* health_source is IPv4: IPv6 checks leave from the kernel's choice. */
	if (target->source != 0 && !ipv6) {
		const struct sockaddr_in from = { .sin_family = AF_INET,
						  .sin_addr.s_addr = target->source };

		if (bind(probe->fd, (const struct sockaddr *)&from, sizeof(from)) != 0)
			return !fail_errno(probe, now_us, result, "bind to health_source", errno);
	}
	if ((ipv6 ? connect(probe->fd, (const struct sockaddr *)&to6, sizeof(to6))
		  : connect(probe->fd, (const struct sockaddr *)&to, sizeof(to))) != 0 &&
	    errno != EINPROGRESS)
		return !fail_errno(probe, now_us, result, "connect", errno);
	if (watch(epoll_fd, probe->fd, udp ? EPOLLIN : EPOLLOUT, tag, EPOLL_CTL_ADD) != 0)
		return !fail_errno(probe, now_us, result, "epoll", errno);
	/* In flight unless sending already failed. */
	return !(udp && send_udp_payload(probe, target, now_us, result));
}

/* "HTTP/1.1 200" -> 200, or -1 when it is not a status line. */
static int http_status(const char *line, uint32_t length)
{
	if (length < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		return -1;
	int status = 0;

	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		status = status * 10 + (line[i] - '0');
	}
	return status;
}

static bool send_http_request(struct dplb_probe *probe, int epoll_fd,
			      const struct dplb_probe_target *target, uint64_t now_us,
			      struct dplb_probe_result *result)
{
	char request[DPLB_HEALTH_PATH_MAX + 160], host[DPLB_PROBE_ADDRESS_MAX];

	dplb_probe_address_text(target, host);
	const int length = snprintf(request, sizeof(request),
				    "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: dplb-health\r\n"
				    "Connection: close\r\n\r\n",
				    target->settings->http_path, host);
	/* A few hundred bytes always fit a fresh socket's send buffer. */
	if (send(probe->fd, request, (size_t)length, MSG_DONTWAIT | MSG_NOSIGNAL) != length)
		return fail_errno(probe, now_us, result, "http send", errno ? errno : EAGAIN);
	if (watch(epoll_fd, probe->fd, EPOLLIN, probe->tag, EPOLL_CTL_MOD) != 0)
		return fail_errno(probe, now_us, result, "epoll", errno);
	probe->phase = DPLB_PROBE_ANSWER;
	return false;
}

static bool read_http_answer(struct dplb_probe *probe, const struct dplb_probe_target *target,
			     uint64_t now_us, struct dplb_probe_result *result)
{
	char text[DPLB_PROBE_ERROR_MAX];
	const ssize_t n = recv(probe->fd, probe->answer + probe->received,
			       sizeof(probe->answer) - probe->received, MSG_DONTWAIT);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		return fail_errno(probe, now_us, result, "http receive", errno);
	}
	probe->received += (uint32_t)n;
	if (n > 0 && probe->received < 12)
		return false; /* the status line is still coming */
	const int status = http_status(probe->answer, probe->received);
	const uint32_t expected = target->settings->expect_status;

	if (status < 0)
		return finish(probe, now_us, result, false,
			      n == 0 ? "http: connection closed before a status line"
				     : "http: not an HTTP/1 status line");
	if (expected != 0 ? (uint32_t)status == expected : status >= 200 && status < 400)
		return finish(probe, now_us, result, true, NULL);
	if (expected != 0)
		snprintf(text, sizeof(text), "http status %d, expected %u", status, expected);
	else
		snprintf(text, sizeof(text), "http status %d", status);
	return finish(probe, now_us, result, false, text);
}

bool dplb_probe_advance(struct dplb_probe *probe, int epoll_fd,
			const struct dplb_probe_target *target, uint32_t events, uint64_t now_us,
			struct dplb_probe_result *result)
{
	const enum dplb_health_check check = target->settings->check;
	int err = 0;
	socklen_t length = sizeof(err);

	if (probe->phase == DPLB_PROBE_IDLE)
		return false; /* a stale event for a socket closed this round */
	if (probe->phase == DPLB_PROBE_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return false;
		if (getsockopt(probe->fd, SOL_SOCKET, SO_ERROR, &err, &length) != 0)
			err = errno;
		if (err != 0)
			return fail_errno(probe, now_us, result, "connect", err);
		if (check == DPLB_HEALTH_TCP)
			return finish(probe, now_us, result, true, NULL);
		return send_http_request(probe, epoll_fd, target, now_us, result);
	}
	if (check == DPLB_HEALTH_HTTP)
		return read_http_answer(probe, target, now_us, result);
	/* udp: a datagram back is healthy; an ICMP error shows as the
	 * connected socket's pending error. */
	char datagram[64];
	if (recv(probe->fd, datagram, sizeof(datagram), MSG_DONTWAIT) >= 0)
		return finish(probe, now_us, result, true, NULL);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return false;
	if (errno == ECONNREFUSED)
		return finish(probe, now_us, result, false, "udp: port unreachable");
	return fail_errno(probe, now_us, result, "udp receive", errno);
}

bool dplb_probe_expire(struct dplb_probe *probe, uint64_t now_us, struct dplb_probe_result *result)
{
	char text[DPLB_PROBE_ERROR_MAX];

	if (probe->phase == DPLB_PROBE_IDLE || now_us < probe->deadline_us)
		return false;
	snprintf(text, sizeof(text), "timeout after %lu ms%s",
		 (unsigned long)((probe->deadline_us - probe->started_us) / 1000),
		 probe->phase == DPLB_PROBE_ANSWER ? " waiting for an answer" : " connecting");
	return finish(probe, now_us, result, false, text);
}

void dplb_probe_abort(struct dplb_probe *probe)
{
	close_probe(probe);
}

void dplb_probe_begin_elsewhere(struct dplb_probe *probe, uint32_t timeout_ms, uint64_t now_us)
{
	dplb_probe_init(probe);
	probe->phase = DPLB_PROBE_ELSEWHERE;
	probe->started_us = now_us;
	probe->deadline_us = now_us + (uint64_t)timeout_ms * 1000;
}

void dplb_probe_end_elsewhere(struct dplb_probe *probe, bool ok, const char *error, uint64_t now_us,
			      struct dplb_probe_result *result)
{
	finish(probe, now_us, result, ok, error);
}
