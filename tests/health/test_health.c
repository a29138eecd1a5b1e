/*
 * Health checking without DPDK: the rise/fall arithmetic, the operator's
 * state winning over health, slow start, and real probes against sockets
 * on loopback (a listener, a closed port, an HTTP server thread, a UDP
 * echo, a server that never answers).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health/health_probe.h"
#include "health/health_state.h"
#include "health/health_syn.h"

/* ---- the state machine ---- */

static bool feed(struct dplb_health_record *r, const char *results, uint64_t *now)
{
	bool changed = false;

	for (const char *c = results; *c; c++)
		changed = dplb_health_observe(r, *c == '+', 2, 3, (*now)++);
	return changed;
}

Test(health_state, unchecked_becomes_healthy_on_the_first_success)
{
	struct dplb_health_record r = { 0 };
	uint64_t now = 100;

	cr_assert_eq(r.status, DPLB_HEALTH_UNCHECKED);
	cr_assert(feed(&r, "+", &now));
	cr_assert_eq(r.status, DPLB_HEALTH_HEALTHY);
	cr_assert_eq(r.transitions, 1);
	cr_assert_eq(r.recovered_ms, 0, "no slow start for a backend healthy from the start");
}

Test(health_state, unchecked_needs_fall_failures_to_become_unhealthy)
{
	struct dplb_health_record r = { 0 };
	uint64_t now = 1;

	cr_assert_not(feed(&r, "--", &now));
	cr_assert_eq(r.status, DPLB_HEALTH_UNCHECKED);
	cr_assert(feed(&r, "-", &now));
	cr_assert_eq(r.status, DPLB_HEALTH_UNHEALTHY);
}

Test(health_state, fall_counts_consecutive_failures_only)
{
	struct dplb_health_record r = { 0 };
	uint64_t now = 1;

	feed(&r, "+", &now);
	feed(&r, "--+--+--", &now);
	cr_assert_eq(r.status, DPLB_HEALTH_HEALTHY, "a success in between resets the count");
	cr_assert_eq(r.failures, 2);
	cr_assert(feed(&r, "-", &now));
	cr_assert_eq(r.status, DPLB_HEALTH_UNHEALTHY);
	cr_assert_eq(r.changed_ms, now - 1);
	cr_assert_not(feed(&r, "---", &now), "already unhealthy: no new transition");
	cr_assert_eq(r.transitions, 2);
}

Test(health_state, rise_counts_consecutive_successes_and_starts_slow_start)
{
	struct dplb_health_record r = { 0 };
	uint64_t now = 1;

	feed(&r, "+---", &now);
	cr_assert_eq(r.status, DPLB_HEALTH_UNHEALTHY);
	cr_assert_not(feed(&r, "+-+", &now));
	cr_assert_eq(r.status, DPLB_HEALTH_UNHEALTHY, "one success then a failure: still down");
	cr_assert(feed(&r, "+", &now));
	cr_assert_eq(r.status, DPLB_HEALTH_HEALTHY);
	cr_assert_eq(r.recovered_ms, now - 1);
	cr_assert_eq(r.transitions, 3);
}

Test(health_state, reset_forgets_everything)
{
	struct dplb_health_record r = { 0 };
	uint64_t now = 1;

	feed(&r, "+---++", &now);
	const uint64_t transitions = r.transitions;
	dplb_health_reset(&r, 50);
	cr_assert_eq(r.status, DPLB_HEALTH_UNCHECKED);
	cr_assert_eq(r.transitions, transitions, "turning checks off is no transition");
	cr_assert_eq(r.successes + r.failures + r.recovered_ms, 0);
	cr_assert_eq(r.changed_ms, 50);
}

Test(health_state, the_operator_state_wins)
{
	const enum dplb_backend_state states[] = { DPLB_BACKEND_UP, DPLB_BACKEND_DRAIN,
						   DPLB_BACKEND_DOWN };
	const enum dplb_health_status healths[] = { DPLB_HEALTH_UNCHECKED, DPLB_HEALTH_HEALTHY,
						    DPLB_HEALTH_UNHEALTHY };
	/* [state][health] */
	const bool takes_new[3][3] = { { 1, 1, 0 }, { 0, 0, 0 }, { 0, 0, 0 } };
	const bool keeps[3][3] = { { 1, 1, 0 }, { 1, 1, 0 }, { 0, 0, 0 } };

	for (int s = 0; s < 3; s++)
		for (int h = 0; h < 3; h++) {
			cr_assert_eq(dplb_backend_takes_new_flows(states[s], healths[h]),
				     takes_new[s][h], "state %d health %d", s, h);
			cr_assert_eq(dplb_backend_keeps_flows(states[s], healths[h]), keeps[s][h],
				     "state %d health %d", s, h);
		}
}

Test(health_state, slow_start_ramps_from_ten_to_a_hundred_percent_in_steps)
{
	const uint64_t t0 = 1000000;

	cr_assert_eq(dplb_slow_start_percent(t0, 0, t0 + 1), 100, "off");
	cr_assert_eq(dplb_slow_start_percent(0, 10, t0), 100, "never recovered");
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0), 10);
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0 + 999), 10);
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0 + 1112), 20);
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0 + 5000), 50);
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0 + 9999), 90);
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0 + 10000), 100);
	cr_assert_eq(dplb_slow_start_percent(t0, 10, t0 - 5), 100, "a clock before recovery");
	uint32_t last = 0;
	for (uint64_t t = t0; t <= t0 + 10000; t += 7) {
		const uint32_t p = dplb_slow_start_percent(t0, 10, t);

		cr_assert_geq(p, last, "never goes down");
		cr_assert_eq(p % 10, 0);
		last = p;
	}
}

Test(health_state, slow_start_weight_counts_tenths_so_a_weight_of_one_ramps_too)
{
	cr_assert_eq(dplb_slow_start_weight(1, 100), 10);
	cr_assert_eq(dplb_slow_start_weight(1, 10), 1, "a tenth of weight 1");
	cr_assert_eq(dplb_slow_start_weight(1, 50), 5);
	cr_assert_eq(dplb_slow_start_weight(100, 10), 100);
	cr_assert_eq(dplb_slow_start_weight(15, 10), 15);
	cr_assert_eq(dplb_slow_start_weight(3, 30), 9);
	cr_assert_eq(dplb_slow_start_weight(65535, 100), 655350);
	cr_assert_eq(dplb_slow_start_weight(65535, 50), 327675);
	cr_assert_eq(dplb_slow_start_weight(1, 0), 1, "never below 1");
}

/* ---- probes on loopback ---- */

#define LOOPBACK htonl(INADDR_LOOPBACK)

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A socket bound to an ephemeral loopback port; its port in *port. */
static int bound_socket(int type, uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = LOOPBACK };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, type, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A loopback port nothing listens on. */
static uint16_t closed_port(int type)
{
	uint16_t port;

	close(bound_socket(type, &port));
	return port;
}

/* Run a probe to its end as the checker would: events, then deadlines. */
static struct dplb_probe_result run_probe_to(const struct dplb_probe_target *target)
{
	struct dplb_probe probe;
	struct dplb_probe_result result;
	int epoll_fd = epoll_create1(0);

	cr_assert_geq(epoll_fd, 0);
	if (dplb_probe_start(&probe, epoll_fd, 42, target, now_us(), &result)) {
		for (;;) {
			struct epoll_event event;
			const int n = epoll_wait(epoll_fd, &event, 1, 5);

			if (n == 1) {
				cr_assert_eq(event.data.u64, 42);
				if (dplb_probe_advance(&probe, epoll_fd, target, event.events,
						       now_us(), &result))
					break;
			}
			if (dplb_probe_expire(&probe, now_us(), &result))
				break;
		}
	}
	cr_assert_not(dplb_probe_busy(&probe));
	cr_assert_eq(probe.fd, -1, "the socket is closed when the check ends");
	close(epoll_fd);
	return result;
}

/* The same, to port on 127.0.0.1. */
static struct dplb_probe_result run_probe(const struct dplb_health_settings *settings,
					  uint16_t port)
{
	const struct dplb_probe_target target = {
		.address = LOOPBACK,
		.port = port,
		.settings = settings,
	};

	return run_probe_to(&target);
}

static struct dplb_health_settings settings_for(enum dplb_health_check check)
{
	struct dplb_health_settings s = {
		.check = check,
		.interval_ms = 1000,
		.timeout_ms = 300,
		.rise = 2,
		.fall = 3,
	};

	strcpy(s.http_path, "/health");
	return s;
}

Test(health_probe, tcp_connect_to_a_listener_is_healthy)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	uint16_t port;
	int listener = bound_socket(SOCK_STREAM, &port);

	cr_assert_eq(listen(listener, 16), 0);
	const struct dplb_probe_result r = run_probe(&s, port);
	cr_assert(r.ok, "%s", r.error);
	cr_assert_str_empty(r.error);
	cr_assert_lt(r.latency_us, 300000);
	close(listener);
}

Test(health_probe, tcp_connect_refused_is_unhealthy)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	const struct dplb_probe_result r = run_probe(&s, closed_port(SOCK_STREAM));

	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "connect refused");
}

struct http_server {
	int listener;
	const char *answer; /* NULL: accept and never answer */
	pthread_t thread;
};

static void *serve_one(void *arg)
{
	struct http_server *server = arg;
	char request[512];
	int fd = accept(server->listener, NULL, NULL);

	if (fd < 0)
		return NULL;
	ssize_t n = recv(fd, request, sizeof(request) - 1, 0);
	if (n > 0 && server->answer != NULL) {
		request[n] = '\0';
		/* The probe asks for its path. */
		if (strncmp(request, "GET /health HTTP/1.0\r\n", 22) == 0)
			send(fd, server->answer, strlen(server->answer), MSG_NOSIGNAL);
	} else if (n > 0) {
		struct pollfd wait = { .fd = fd, .events = POLLIN };
		poll(&wait, 1, 2000); /* until the probe gives up and resets */
	}
	close(fd);
	return NULL;
}

static struct dplb_probe_result http_probe(const char *answer, uint32_t expect_status)
{
	struct dplb_health_settings s = settings_for(DPLB_HEALTH_HTTP);
	struct http_server server = { .answer = answer };
	uint16_t port;

	s.expect_status = expect_status;
	server.listener = bound_socket(SOCK_STREAM, &port);
	cr_assert_eq(listen(server.listener, 4), 0);
	cr_assert_eq(pthread_create(&server.thread, NULL, serve_one, &server), 0);
	const struct dplb_probe_result r = run_probe(&s, port);
	pthread_join(server.thread, NULL);
	close(server.listener);
	return r;
}

Test(health_probe, http_2xx_and_3xx_are_healthy_by_default)
{
	cr_assert(http_probe("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0).ok);
	cr_assert(http_probe("HTTP/1.0 302 Found\r\n\r\n", 0).ok);
}

Test(health_probe, http_other_statuses_are_unhealthy_with_the_status)
{
	const struct dplb_probe_result r = http_probe("HTTP/1.1 503 Unavailable\r\n\r\n", 0);

	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "http status 503");
	cr_assert_not(http_probe("HTTP/1.1 404 Not Found\r\n\r\n", 0).ok);
}

Test(health_probe, http_expected_status_is_exact)
{
	cr_assert(http_probe("HTTP/1.1 204 No Content\r\n\r\n", 204).ok);
	const struct dplb_probe_result r = http_probe("HTTP/1.1 200 OK\r\n\r\n", 204);
	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "http status 200, expected 204");
}

Test(health_probe, http_garbage_and_early_close_are_unhealthy)
{
	const struct dplb_probe_result garbage = http_probe("SSH-2.0-OpenSSH_9.2 hello\r\n", 0);
	const struct dplb_probe_result closed = http_probe("HTTP/1", 0);

	cr_assert_not(garbage.ok);
	cr_assert_str_eq(garbage.error, "http: not an HTTP/1 status line");
	cr_assert_not(closed.ok);
	cr_assert_str_eq(closed.error, "http: connection closed before a status line");
}

Test(health_probe, http_server_that_never_answers_times_out)
{
	const struct dplb_probe_result r = http_probe(NULL, 0);

	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "timeout after 300 ms waiting for an answer");
	cr_assert_geq(r.latency_us, 300000);
}

Test(health_probe, udp_answer_is_healthy_and_the_payload_is_sent)
{
	struct dplb_health_settings s = settings_for(DPLB_HEALTH_UDP);
	uint16_t port;
	int echo = bound_socket(SOCK_DGRAM, &port);
	const struct dplb_probe_target target = { .address = LOOPBACK,
						  .port = port,
						  .settings = &s };
	struct dplb_probe probe;
	struct dplb_probe_result result;
	struct sockaddr_in from;
	socklen_t from_len = sizeof(from);
	char got[64];
	int epoll_fd = epoll_create1(0);

	memcpy(s.payload, "\x00\x01ping", 6);
	s.payload_len = 6;
	cr_assert(dplb_probe_start(&probe, epoll_fd, 7, &target, now_us(), &result));
	const ssize_t n = recvfrom(echo, got, sizeof(got), 0, (struct sockaddr *)&from, &from_len);
	cr_assert_eq(n, 6);
	cr_assert_eq(memcmp(got, "\x00\x01ping", 6), 0);
	cr_assert_eq(sendto(echo, "pong", 4, 0, (struct sockaddr *)&from, from_len), 4);
	struct epoll_event event;
	cr_assert_eq(epoll_wait(epoll_fd, &event, 1, 2000), 1);
	cr_assert(dplb_probe_advance(&probe, epoll_fd, &target, event.events, now_us(), &result));
	cr_assert(result.ok, "%s", result.error);
	close(echo);
	close(epoll_fd);
}

Test(health_probe, udp_port_unreachable_is_unhealthy)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_UDP);
	const struct dplb_probe_result r = run_probe(&s, closed_port(SOCK_DGRAM));

	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "udp: port unreachable");
}

Test(health_probe, udp_silence_times_out)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_UDP);
	uint16_t port;
	int silent = bound_socket(SOCK_DGRAM, &port);
	const struct dplb_probe_result r = run_probe(&s, port);

	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "timeout after 300 ms waiting for an answer");
	close(silent);
}

Test(health_probe, a_source_address_that_is_not_ours_fails_at_once)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	const struct dplb_probe_target target = {
		.address = LOOPBACK,
		.port = 9,
		.source = htonl(0xc0000201), /* 192.0.2.1 */
		.settings = &s,
	};
	struct dplb_probe probe;
	struct dplb_probe_result result;
	int epoll_fd = epoll_create1(0);

	cr_assert_not(dplb_probe_start(&probe, epoll_fd, 1, &target, now_us(), &result));
	cr_assert_not(result.ok);
	cr_assert(strstr(result.error, "bind to health_source") != NULL, "%s", result.error);
	cr_assert_eq(probe.fd, -1);
	close(epoll_fd);
}

/* ---- half-open checks on a raw socket (root: CAP_NET_RAW) ---- */

static bool open_syn_prober(struct dplb_syn_prober *prober)
{
	const int rc = dplb_syn_open(prober, 0);

	if (rc == -EPERM)
		return false;
	cr_assert_eq(rc, 0, "dplb_syn_open: %s", strerror(-rc));
	return true;
}

/* Send one SYN to port and wait for its answer (or 2 s). */
static int syn_ask(struct dplb_syn_prober *prober, uint16_t port, uint32_t sequence,
		   struct dplb_syn_answer *answer)
{
	uint32_t source;
	struct pollfd ready = { .fd = prober->raw_fd, .events = POLLIN };

	cr_assert_eq(dplb_syn_source_for(LOOPBACK, 0, &source), 0);
	cr_assert_eq(source, LOOPBACK);
	cr_assert_eq(dplb_syn_send(prober, 0, source, LOOPBACK, port, sequence), 0);
	for (int waits = 0; waits < 20; waits++) {
		poll(&ready, 1, 100);
		if (dplb_syn_receive(prober, answer, 1) == 1)
			return 1;
	}
	return 0;
}

Test(health_syn, a_listening_port_answers_syn_ack)
{
	struct dplb_syn_prober prober;
	struct dplb_syn_answer answer;
	uint16_t port;
	int listener = bound_socket(SOCK_STREAM, &port);

	if (!open_syn_prober(&prober))
		cr_skip_test("no CAP_NET_RAW");
	cr_assert_eq(listen(listener, 16), 0);
	cr_assert_eq(syn_ask(&prober, port, 0x00070001u, &answer), 1, "no answer to the SYN");
	cr_assert_eq(answer.verdict, DPLB_SYN_OPEN);
	cr_assert_eq(answer.address, LOOPBACK);
	cr_assert_eq(answer.port, port);
	cr_assert_eq(answer.sequence, 0x00070001u, "the answer names the SYN it acknowledges");
	/* The server kept nothing: our kernel reset the half-open connection,
	 * so there is nothing to accept. */
	struct pollfd pending = { .fd = listener, .events = POLLIN };
	cr_assert_eq(poll(&pending, 1, 200), 0, "a connection reached the accept queue");
	dplb_syn_close(&prober);
	close(listener);
}

Test(health_syn, a_closed_port_answers_reset)
{
	struct dplb_syn_prober prober;
	struct dplb_syn_answer answer;

	if (!open_syn_prober(&prober))
		cr_skip_test("no CAP_NET_RAW");
	cr_assert_eq(syn_ask(&prober, closed_port(SOCK_STREAM), 0xfffe0000u, &answer), 1);
	cr_assert_eq(answer.verdict, DPLB_SYN_REFUSED);
	cr_assert_eq(answer.sequence, 0xfffe0000u);
	dplb_syn_close(&prober);
}

Test(health_syn, the_port_is_reserved_and_other_tcp_is_filtered_out)
{
	struct dplb_syn_prober prober;
	struct dplb_syn_answer answer;
	struct sockaddr_in ours = { .sin_family = AF_INET, .sin_addr.s_addr = LOOPBACK };
	uint16_t port;
	int listener = bound_socket(SOCK_STREAM, &port);

	if (!open_syn_prober(&prober))
		cr_skip_test("no CAP_NET_RAW");
	ours.sin_port = htons(prober.ports[DPLB_SYN_PORTS - 1]);
	int thief = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_neq(bind(thief, (struct sockaddr *)&ours, sizeof(ours)), 0,
		      "another socket took the prober's port");
	close(thief);
	/* A whole connection elsewhere on loopback: none of it is an answer. */
	cr_assert_eq(listen(listener, 4), 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = LOOPBACK };
	int client = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(client, (struct sockaddr *)&to, sizeof(to)), 0);
	cr_assert_eq(send(client, "hello", 5, 0), 5);
	usleep(50000);
	cr_assert_eq(dplb_syn_receive(&prober, &answer, 1), 0, "the filter let other TCP in");
	close(client);
	close(listener);
	dplb_syn_close(&prober);
}

Test(health_syn, two_checks_of_one_server_port_from_two_of_our_ports_both_answer)
{
	struct dplb_syn_prober prober;
	struct dplb_syn_answer answers[4];
	struct pollfd ready;
	uint16_t port;
	uint32_t source;
	int listener = bound_socket(SOCK_STREAM, &port), got = 0;

	if (!open_syn_prober(&prober))
		cr_skip_test("no CAP_NET_RAW");
	cr_assert_eq(listen(listener, 16), 0);
	cr_assert_eq(dplb_syn_source_for(LOOPBACK, 0, &source), 0);
	/* Back to back, as two VIPs' checks of one backend may be. On loopback
	 * each handshake ends within its own send, so this shows that every
	 * port of ours sends and is heard, not the collision one port would
	 * meet across a network (that needs a round trip between the SYNs). */
	cr_assert_eq(dplb_syn_send(&prober, 0, source, LOOPBACK, port, 0x00010aaa), 0);
	cr_assert_eq(dplb_syn_send(&prober, 1, source, LOOPBACK, port, 0x00020bbb), 0);
	ready = (struct pollfd){ .fd = prober.raw_fd, .events = POLLIN };
	for (int waits = 0; waits < 20 && got < 2; waits++) {
		poll(&ready, 1, 100);
		got += dplb_syn_receive(&prober, answers + got, 4 - got);
	}
	cr_assert_eq(got, 2, "%d answers to two SYNs", got);
	cr_assert_eq(answers[0].verdict, DPLB_SYN_OPEN);
	cr_assert_eq(answers[1].verdict, DPLB_SYN_OPEN);
	cr_assert_eq(answers[0].sequence ^ answers[1].sequence, 0x00010aaa ^ 0x00020bbb);
	dplb_syn_close(&prober);
	close(listener);
}

/* ---- probes of IPv6 backends, on ::1 ---- */

/* An IPv6 socket bound to an ephemeral port of ::1; its port in *port.
 * Skips the test where the host has no IPv6 loopback. */
static int bound_socket6(int type, uint16_t *port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET6, type, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		cr_skip_test("no IPv6 loopback here: %s", strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin6_port);
	return fd;
}

static struct dplb_probe_target loopback6(const struct dplb_health_settings *s, uint16_t port)
{
	struct dplb_probe_target target = { .family = AF_INET6, .port = port, .settings = s };

	target.address6[15] = 1; /* ::1 */
	return target;
}

Test(health_probe6, tcp_connect_to_a_listener_is_healthy)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	uint16_t port;
	int listener = bound_socket6(SOCK_STREAM, &port);

	cr_assert_eq(listen(listener, 16), 0);
	const struct dplb_probe_target target = loopback6(&s, port);
	const struct dplb_probe_result r = run_probe_to(&target);
	cr_assert(r.ok, "%s", r.error);
	close(listener);
}

Test(health_probe6, tcp_connect_refused_is_unhealthy)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	uint16_t port;

	close(bound_socket6(SOCK_STREAM, &port));
	const struct dplb_probe_target target = loopback6(&s, port);
	const struct dplb_probe_result r = run_probe_to(&target);
	cr_assert_not(r.ok);
	cr_assert_str_eq(r.error, "connect refused");
}

/* Answers 200 only to a request whose Host is the bracketed literal. */
static void *serve_host_check(void *arg)
{
	int listener = *(int *)arg, fd = accept(listener, NULL, NULL);
	char request[512];
	static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n", bad[] = "HTTP/1.1 400 Bad\r\n\r\n";

	if (fd < 0)
		return NULL;
	const ssize_t n = recv(fd, request, sizeof(request) - 1, 0);
	request[n > 0 ? n : 0] = '\0';
	if (strstr(request, "\r\nHost: [::1]\r\n") != NULL)
		send(fd, ok, strlen(ok), MSG_NOSIGNAL);
	else
		send(fd, bad, strlen(bad), MSG_NOSIGNAL);
	close(fd);
	return NULL;
}

Test(health_probe6, http_names_the_host_in_brackets)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_HTTP);
	uint16_t port;
	int listener = bound_socket6(SOCK_STREAM, &port);
	pthread_t thread;

	cr_assert_eq(listen(listener, 4), 0);
	cr_assert_eq(pthread_create(&thread, NULL, serve_host_check, &listener), 0);
	const struct dplb_probe_target target = loopback6(&s, port);
	const struct dplb_probe_result r = run_probe_to(&target);
	pthread_join(thread, NULL);
	close(listener);
	cr_assert(r.ok, "%s", r.error);
}

Test(health_probe6, udp_answer_is_healthy_and_port_unreachable_is_not)
{
	struct dplb_health_settings s = settings_for(DPLB_HEALTH_UDP);
	uint16_t port, closed;
	int echo = bound_socket6(SOCK_DGRAM, &port);
	struct dplb_probe_target target = loopback6(&s, port);
	struct dplb_probe probe;
	struct dplb_probe_result result;
	struct sockaddr_in6 from;
	socklen_t from_len = sizeof(from);
	char got[64];
	struct epoll_event event;
	int epoll_fd = epoll_create1(0);

	memcpy(s.payload, "ping6", 5);
	s.payload_len = 5;
	cr_assert(dplb_probe_start(&probe, epoll_fd, 7, &target, now_us(), &result));
	const ssize_t n = recvfrom(echo, got, sizeof(got), 0, (struct sockaddr *)&from, &from_len);
	cr_assert_eq(n, 5);
	cr_assert_eq(from.sin6_family, AF_INET6);
	cr_assert_eq(sendto(echo, "pong", 4, 0, (struct sockaddr *)&from, from_len), 4);
	cr_assert_eq(epoll_wait(epoll_fd, &event, 1, 2000), 1);
	cr_assert(dplb_probe_advance(&probe, epoll_fd, &target, event.events, now_us(), &result));
	cr_assert(result.ok, "%s", result.error);
	close(echo);
	close(epoll_fd);

	close(bound_socket6(SOCK_DGRAM, &closed));
	target.port = closed;
	result = run_probe_to(&target);
	cr_assert_not(result.ok);
	cr_assert_str_eq(result.error, "udp: port unreachable");
}

Test(health_probe6, health_source_is_ipv4_and_left_out_of_ipv6_checks)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	uint16_t port;
	int listener = bound_socket6(SOCK_STREAM, &port);
	struct dplb_probe_target target = loopback6(&s, port);

	cr_assert_eq(listen(listener, 16), 0);
	target.source = htonl(0xc0000201); /* 192.0.2.1: not ours, and IPv4 */
	const struct dplb_probe_result r = run_probe_to(&target);
	cr_assert(r.ok, "%s", r.error);
	close(listener);
}

Test(health_probe6, addresses_read_with_brackets_for_ipv6)
{
	const struct dplb_health_settings s = settings_for(DPLB_HEALTH_TCP);
	struct dplb_probe_target target = loopback6(&s, 80);
	char text[DPLB_PROBE_ADDRESS_MAX];

	cr_assert_str_eq(dplb_probe_address_text(&target, text), "[::1]");
	memset(target.address6, 0xff, sizeof(target.address6));
	cr_assert_str_eq(dplb_probe_address_text(&target, text),
			 "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]");
	target.family = AF_INET;
	target.address = LOOPBACK;
	cr_assert_str_eq(dplb_probe_address_text(&target, text), "127.0.0.1");
}

/* ---- half-open checks of IPv6 servers, on ::1 ---- */

/* Send one SYN to [::1]:port and wait for its answer (or 2 s). */
static int syn_ask6(struct dplb_syn_prober *prober, uint16_t port, uint32_t sequence,
		    struct dplb_syn_answer *answer)
{
	const uint8_t loopback[16] = { [15] = 1 };
	struct pollfd ready = { .fd = prober->raw6_fd, .events = POLLIN };

	cr_assert_eq(dplb_syn_send6(prober, 0, loopback, port, sequence), 0);
	for (int waits = 0; waits < 20; waits++) {
		poll(&ready, 1, 100);
		if (dplb_syn_receive(prober, answer, 1) == 1)
			return 1;
	}
	return 0;
}

/* An open prober with its IPv6 half, or the test skipped. */
static void open_syn_prober6(struct dplb_syn_prober *prober)
{
	if (!open_syn_prober(prober))
		cr_skip_test("no CAP_NET_RAW");
	if (prober->raw6_fd < 0)
		cr_skip_test("no IPv6 here");
}

Test(health_syn6, a_listening_port_answers_syn_ack)
{
	struct dplb_syn_prober prober;
	struct dplb_syn_answer answer;
	uint16_t port;
	int listener = bound_socket6(SOCK_STREAM, &port);
	const uint8_t loopback[16] = { [15] = 1 };

	open_syn_prober6(&prober);
	cr_assert_eq(listen(listener, 16), 0);
	cr_assert_eq(syn_ask6(&prober, port, 0x00090001u, &answer), 1, "no answer to the SYN");
	cr_assert_eq(answer.verdict, DPLB_SYN_OPEN);
	cr_assert_eq(answer.family, AF_INET6);
	cr_assert_eq(memcmp(answer.address6, loopback, 16), 0);
	cr_assert_eq(answer.port, port);
	cr_assert_eq(answer.sequence, 0x00090001u, "the answer names the SYN it acknowledges");
	/* Half-open, as for IPv4: nothing reached the accept queue. */
	struct pollfd pending = { .fd = listener, .events = POLLIN };
	cr_assert_eq(poll(&pending, 1, 200), 0, "a connection reached the accept queue");
	dplb_syn_close(&prober);
	cr_assert_eq(prober.raw6_fd, -1);
	close(listener);
}

Test(health_syn6, a_closed_port_answers_reset)
{
	struct dplb_syn_prober prober;
	struct dplb_syn_answer answer;
	uint16_t port;

	close(bound_socket6(SOCK_STREAM, &port));
	open_syn_prober6(&prober);
	cr_assert_eq(syn_ask6(&prober, port, 0xfffd0000u, &answer), 1);
	cr_assert_eq(answer.verdict, DPLB_SYN_REFUSED);
	cr_assert_eq(answer.family, AF_INET6);
	cr_assert_eq(answer.sequence, 0xfffd0000u);
	dplb_syn_close(&prober);
}

Test(health_syn6, our_ipv6_ports_are_the_ipv4_ones_and_reserved)
{
	struct dplb_syn_prober prober;

	open_syn_prober6(&prober);
	for (unsigned int i = 0; i < DPLB_SYN_PORTS; i++) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT,
					  .sin6_port = htons(prober.ports[i]) };
		const int fd = socket(AF_INET6, SOCK_STREAM, 0);

		cr_assert_neq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "port %u is free",
			      prober.ports[i]);
		cr_assert_eq(errno, EADDRINUSE);
		close(fd);
	}
	dplb_syn_close(&prober);
}
