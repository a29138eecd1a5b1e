/*
 * The health checker; see health.h. Targets are kept by backend id (the
 * stable id every snapshot and counter uses), with a dense list of the
 * configured ones to walk each slice.
 */
#include "health/health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "health/due_heap.h"
#include "health/health_syn.h"

/*
 * Bounds on one slice, so a thousand checks never stall the API: a check
 * costs the kernel some 5-25 us to start or finish (socket, connect, a
 * SYN), so a slice takes answers, then starts checks, until SLICE_BUDGET_US
 * is spent, and leaves the rest to the next slice (the management loop
 * comes straight back while the epoll set has news).
 */
#define SLICE_BUDGET_US 1000
#define STARTS_BETWEEN_CLOCK_READS 16
#define EVENTS_PER_READ 64
/*
 * Checks due within this are started together, a little early: their
 * answers then come back together and are read in one wake-up of the
 * management loop instead of one each (which cost half again as much as
 * the checks themselves at 10,000 a second).
 */
#define EARLY_START_US 5000
/* How often backends in slow start are looked at: its steps are seen
 * within this. */
#define SLOW_START_LOOK_US 100000
#define SYN_ANSWERS_PER_READ 64

/* The epoll tag of the shared raw socket; targets' tags are backend ids. */
#define SYN_TAG UINT64_MAX

struct health_target {
	uint32_t backend_id;
	char vip_name[DPLB_NAME_MAX];
	uint32_t address; /* network order; 0 for an IPv6 backend */
	uint8_t family;	  /* AF_INET6: address6 is the backend's */
	uint8_t address6[16];
	struct dplb_health_settings settings;
	struct dplb_probe_target probe_target; /* points into settings */
	struct dplb_probe probe;
	struct dplb_health_record record;
	uint64_t due_us;
	/* tcp checks by SYN: the address our SYNs leave from (for the
	 * checksum; 0 until the route is known) and the last sequence sent. */
	uint32_t syn_source;
	uint32_t syn_sequence;
	/* Which of our ports its SYNs leave from: targets checking the same
	 * server port get different ones (health_syn.h says why). */
	uint8_t syn_port_index;
	bool has_result;
	struct dplb_probe_result last;
	uint64_t last_check_ms;
	uint64_t checks;
	uint64_t failures;
	bool seen; /* in the configuration being synced */
};

struct dplb_health_checker {
	int epoll_fd;
	uint32_t source;
	enum dplb_health_tcp_mode tcp_mode;
	struct dplb_syn_prober syn; /* raw_fd -1: tcp checks connect() */
	bool syn_refusal_logged;
	uint64_t random; /* xorshift state: the unguessable half of SYN sequences */
	/* Checked targets by when they next need a look: their check is due,
	 * or the one in flight times out. Answers wake the loop far more often
	 * than checks fall due, and walking a thousand targets on each wake-up
	 * would cost more than the checks. */
	struct dplb_due_heap due;
	uint64_t slow_start_look_us; /* when ramping backends are looked at next */
	struct health_target *targets[DPLB_MAX_BACKEND_IDS];
	uint32_t *configured; /* ids of targets, dense */
	uint32_t configured_count;
	struct dplb_backend_health inputs[DPLB_MAX_BACKEND_IDS];
	uint64_t checks;
	uint64_t check_failures;
	uint64_t transitions;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t dplb_health_now_ms(void)
{
	return now_us() / 1000;
}

struct dplb_health_checker *dplb_health_create(void)
{
	struct dplb_health_checker *checker = calloc(1, sizeof(*checker));

	if (checker == NULL)
		return NULL;
	checker->configured = calloc(DPLB_MAX_BACKEND_IDS, sizeof(*checker->configured));
	checker->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	dplb_syn_init(&checker->syn);
	checker->random = (uint64_t)now_us() * 0x9e3779b97f4a7c15ull | 1;
	if (checker->configured == NULL || checker->epoll_fd < 0 ||
	    dplb_due_heap_init(&checker->due, DPLB_MAX_BACKEND_IDS) != 0) {
		if (checker->epoll_fd >= 0)
			close(checker->epoll_fd);
		dplb_due_heap_free(&checker->due); /* zeroed when never made */
		free(checker->configured);
		free(checker);
		return NULL;
	}
	return checker;
}

void dplb_health_free(struct dplb_health_checker *checker)
{
	if (checker == NULL)
		return;
	for (uint32_t i = 0; i < DPLB_MAX_BACKEND_IDS; i++) {
		if (checker->targets[i] != NULL)
			dplb_probe_abort(&checker->targets[i]->probe);
		free(checker->targets[i]);
	}
	dplb_syn_close(&checker->syn);
	close(checker->epoll_fd);
	dplb_due_heap_free(&checker->due);
	free(checker->configured);
	free(checker);
}

/*
 * SYN checks need a raw socket, made again when health_source changes.
 * Without CAP_NET_RAW (or with health_tcp = connect), tcp checks connect().
 */
static void open_syn_prober(struct dplb_health_checker *checker, const struct dplb_config *config)
{
	const bool wanted = config->health_tcp == DPLB_HEALTH_TCP_SYN;
	const bool open = checker->syn.raw_fd >= 0;
	struct epoll_event event = { .events = EPOLLIN, .data.u64 = SYN_TAG };
	int rc;

	if (open && wanted && checker->source == config->health_source)
		return;
	if (open) {
		/* SYNs in flight lose their answers with the socket: they are
		 * not failures, just not made; made again, now. */
		for (uint32_t i = 0; i < checker->configured_count; i++) {
			struct health_target *target = checker->targets[checker->configured[i]];

			if (target->probe.phase == DPLB_PROBE_ELSEWHERE) {
				dplb_probe_abort(&target->probe);
				target->due_us = 0;
			}
		}
		dplb_syn_close(&checker->syn); /* closing leaves the epoll set too */
	}
	if (!wanted)
		return;
	rc = dplb_syn_open(&checker->syn, config->health_source);
	/* Both raw sockets under one tag: an answer on either reads both. */
	if (rc == 0 &&
	    (epoll_ctl(checker->epoll_fd, EPOLL_CTL_ADD, checker->syn.raw_fd, &event) != 0 ||
	     (checker->syn.raw6_fd >= 0 &&
	      epoll_ctl(checker->epoll_fd, EPOLL_CTL_ADD, checker->syn.raw6_fd, &event) != 0))) {
		rc = -errno;
		dplb_syn_close(&checker->syn);
	}
	if (rc != 0 && !checker->syn_refusal_logged) {
		DPLB_LOG(WARNING,
			 "tcp health checks connect() instead of sending SYNs: raw "
			 "socket: %s%s",
			 strerror(-rc),
			 rc == -EPERM ? " (dplb needs CAP_NET_RAW for health_tcp = syn)" : "");
		checker->syn_refusal_logged = true;
	}
}

/* IPv6 backends by SYN too where the prober has its IPv6 half (a host
 * without IPv6 has none): else they connect(). */
static bool by_syn(const struct dplb_health_checker *checker, const struct health_target *target)
{
	return target->settings.check == DPLB_HEALTH_TCP && checker->syn.raw_fd >= 0 &&
	       (target->family != AF_INET6 || checker->syn.raw6_fd >= 0);
}

int dplb_health_fd(const struct dplb_health_checker *checker)
{
	return checker->epoll_fd;
}

const struct dplb_backend_health *dplb_health_inputs(const struct dplb_health_checker *checker)
{
	return checker->inputs;
}

/* What is probed, and how: a change here restarts the check. */
static bool same_check(const struct dplb_health_settings *a, const struct dplb_health_settings *b)
{
	return a->check == b->check && strcmp(a->http_path, b->http_path) == 0 &&
	       a->expect_status == b->expect_status && a->payload_len == b->payload_len &&
	       memcmp(a->payload, b->payload, a->payload_len) == 0 &&
	       a->timeout_ms == b->timeout_ms;
}

static void set_input(struct dplb_health_checker *checker, const struct health_target *target,
		      bool *changed)
{
	struct dplb_backend_health *input = &checker->inputs[target->backend_id];
	const uint8_t status = (uint8_t)target->record.status;

	/* Only unhealthy changes what the workers do: unchecked and healthy
	 * both take flows, so the first successes of a start (or of a backend
	 * added) make no snapshots. */
	if ((input->status == DPLB_HEALTH_UNHEALTHY) != (status == DPLB_HEALTH_UNHEALTHY))
		*changed = true;
	input->status = status;
}

static struct health_target *add_target(struct dplb_health_checker *checker, uint32_t id)
{
	struct health_target *target = calloc(1, sizeof(*target));

	if (target == NULL)
		return NULL;
	target->backend_id = id;
	dplb_probe_init(&target->probe);
	target->record.changed_ms = dplb_health_now_ms();
	target->due_us = UINT64_MAX; /* set by spread_first_checks */
	checker->targets[id] = target;
	return target;
}

/*
 * The first checks of backends that arrived together (a start, a reload
 * adding many) are spread evenly over one interval, so that a thousand of
 * them do not all start, and then recur, in the same millisecond. A single
 * new backend is checked at once.
 */
static void spread_first_checks(struct dplb_health_checker *checker)
{
	const uint64_t now = now_us();
	uint32_t fresh = 0, k = 0;

	for (uint32_t i = 0; i < checker->configured_count; i++)
		fresh += checker->targets[checker->configured[i]]->due_us == UINT64_MAX;
	for (uint32_t i = 0; i < checker->configured_count && fresh > 0; i++) {
		struct health_target *target = checker->targets[checker->configured[i]];

		if (target->due_us != UINT64_MAX)
			continue;
		target->due_us = now + (uint64_t)target->settings.interval_ms * 1000 * k++ / fresh;
	}
}

static bool same_address6(const struct health_target *target, const struct dplb_backend_config *b)
{
	return (target->family == AF_INET6) == (b->family == AF_INET6) &&
	       memcmp(target->address6, b->address6, sizeof(target->address6)) == 0;
}

static void update_target(struct dplb_health_checker *checker, struct health_target *target,
			  const struct dplb_vip_config *vip, const struct dplb_backend_config *b,
			  bool *changed)
{
	const bool check_changed = !same_check(&target->settings, &b->health);
	const uint16_t port = dplb_health_port(vip, b);
	const bool fresh = target->due_us == UINT64_MAX; /* spread_first_checks' to set */

	if (!fresh &&
	    (check_changed || target->probe_target.port != port ||
	     target->probe_target.source != checker->source || target->address != b->address ||
	     !same_address6(target, b) || target->settings.interval_ms != b->health.interval_ms)) {
		target->syn_source = 0;
		/* A check in flight was made the old way, and the old interval
		 * may be far longer: start afresh, now. */
		dplb_probe_abort(&target->probe);
		target->due_us = 0;
	}
	if (b->health.check == DPLB_HEALTH_NONE && target->record.status != DPLB_HEALTH_UNCHECKED) {
		dplb_health_reset(&target->record, dplb_health_now_ms());
		target->has_result = false;
	}
	snprintf(target->vip_name, sizeof(target->vip_name), "%s", vip->name);
	target->address = b->address;
	target->family = b->family == AF_INET6 ? AF_INET6 : AF_INET;
	memcpy(target->address6, b->address6, sizeof(target->address6));
	target->settings = b->health;
	target->probe_target = (struct dplb_probe_target){
		.address = b->address,
		.port = port,
		.source = checker->source,
		.settings = &target->settings,
		.family = target->family,
	};
	memcpy(target->probe_target.address6, b->address6, sizeof(target->address6));
	set_input(checker, target, changed);
}

/* Into the due heap at when the target next needs a look: its check's
 * deadline while one is in flight, else when the next is due; out of it
 * when it is not checked. */
static void schedule(struct dplb_health_checker *checker, const struct health_target *target)
{
	if (target->settings.check == DPLB_HEALTH_NONE)
		dplb_due_heap_remove(&checker->due, target->backend_id);
	else
		dplb_due_heap_set(&checker->due, target->backend_id,
				  dplb_probe_busy(&target->probe) ? target->probe.deadline_us
								  : target->due_us);
}

static void remove_target(struct dplb_health_checker *checker, uint32_t id)
{
	struct health_target *target = checker->targets[id];

	dplb_probe_abort(&target->probe);
	dplb_due_heap_remove(&checker->due, id);
	free(target);
	checker->targets[id] = NULL;
	/* No snapshot of the new configuration reads it: nothing to rebuild. */
	checker->inputs[id] = (struct dplb_backend_health){ 0 };
}

struct server_port {
	uint32_t address;
	uint8_t address6[16]; /* zero for IPv4 servers */
	uint16_t port;
	uint32_t id;
};

static int compare_server_ports(const void *a, const void *b)
{
	const struct server_port *x = a, *y = b;
	const int by6 = memcmp(x->address6, y->address6, sizeof(x->address6));

	if (by6 != 0)
		return by6;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Targets that check one server port (a backend in several VIPs) send
 * their SYNs from different ports of ours, in backend id order. */
static void assign_syn_ports(struct dplb_health_checker *checker)
{
	struct server_port *sorted = malloc((checker->configured_count + 1) * sizeof(*sorted));
	uint32_t run = 0;

	if (sorted == NULL)
		return; /* out of memory: they keep the ports they had */
	for (uint32_t i = 0; i < checker->configured_count; i++) {
		const struct health_target *target = checker->targets[checker->configured[i]];

		sorted[i] = (struct server_port){ .address = target->address,
						  .port = target->probe_target.port,
						  .id = target->backend_id };
		if (target->family == AF_INET6)
			memcpy(sorted[i].address6, target->address6, sizeof(sorted[i].address6));
	}
	qsort(sorted, checker->configured_count, sizeof(*sorted), compare_server_ports);
	for (uint32_t i = 0; i < checker->configured_count; i++) {
		if (i > 0 && (sorted[i].address != sorted[i - 1].address ||
			      memcmp(sorted[i].address6, sorted[i - 1].address6,
				     sizeof(sorted[i].address6)) != 0 ||
			      sorted[i].port != sorted[i - 1].port))
			run = 0;
		checker->targets[sorted[i].id]->syn_port_index = (uint8_t)(run++ % DPLB_SYN_PORTS);
	}
	free(sorted);
}

bool dplb_health_sync(struct dplb_health_checker *checker, const struct dplb_config *config,
		      struct dplb_identities *ids)
{
	bool changed = false;
	uint32_t kept = 0;

	open_syn_prober(checker, config);
	if (checker->source != config->health_source)
		for (uint32_t i = 0; i < checker->configured_count; i++)
			checker->targets[checker->configured[i]]->syn_source = 0;
	checker->source = config->health_source;
	checker->tcp_mode = config->health_tcp;
	for (uint32_t v = 0; v < config->vip_count; v++) {
		const struct dplb_vip_config *vip = &config->vips[v];
		const int vip_id = dplb_vip_id(ids, vip->name);

		if (vip_id < 0)
			continue; /* the snapshot builder refused it already */
		for (uint32_t b = 0; b < vip->backend_count; b++) {
			const struct dplb_backend_config *bc = &vip->backends[b];
			const int id = dplb_backend_config_id(ids, (uint16_t)vip_id, bc);

			if (id < 0)
				continue;
			struct health_target *target = checker->targets[id];
			if (target == NULL && (target = add_target(checker, (uint32_t)id)) == NULL)
				continue; /* out of memory: it stays unchecked */
			update_target(checker, target, vip, bc, &changed);
			target->seen = true;
		}
	}
	/* Forget what the configuration no longer has; keep the rest dense. */
	for (uint32_t i = 0; i < checker->configured_count; i++) {
		const uint32_t id = checker->configured[i];

		if (checker->targets[id] != NULL && !checker->targets[id]->seen)
			remove_target(checker, id);
	}
	for (uint32_t id = 0; id < DPLB_MAX_BACKEND_IDS; id++) {
		if (checker->targets[id] == NULL)
			continue;
		checker->targets[id]->seen = false;
		checker->configured[kept++] = id;
	}
	checker->configured_count = kept;
	spread_first_checks(checker);
	for (uint32_t i = 0; i < kept; i++)
		schedule(checker, checker->targets[checker->configured[i]]);
	assign_syn_ports(checker);
	return changed;
}

static void log_transition(const struct health_target *target, enum dplb_health_status before,
			   const struct dplb_probe_result *r)
{
	char address[DPLB_PROBE_ADDRESS_MAX];
	const struct dplb_health_record *record = &target->record;

	dplb_probe_address_text(&target->probe_target, address);
	if (record->status == DPLB_HEALTH_UNHEALTHY)
		DPLB_LOG(WARNING, "vip %s backend %s:%u unhealthy: %s, %u of %u checks failed",
			 target->vip_name, address, target->probe_target.port, r->error,
			 record->failures, target->settings.fall);
	else if (before == DPLB_HEALTH_UNCHECKED)
		DPLB_LOG(NOTICE, "vip %s backend %s:%u healthy: first check passed in %u us",
			 target->vip_name, address, target->probe_target.port, r->latency_us);
	else
		DPLB_LOG(NOTICE, "vip %s backend %s:%u healthy again: %u of %u checks passed%s",
			 target->vip_name, address, target->probe_target.port, record->successes,
			 target->settings.rise,
			 target->settings.slow_start ? ", slow start begins" : "");
}

/* Slow start's weight of a target at now_ms: 100 unless it is ramping. */
static uint8_t weight_percent(const struct health_target *target, uint64_t now_ms)
{
	if (target->record.status != DPLB_HEALTH_HEALTHY)
		return 0;
	const uint32_t percent = dplb_slow_start_percent(target->record.recovered_ms,
							 target->settings.slow_start, now_ms);

	return percent >= 100 ? 0 : (uint8_t)percent;
}

static bool record_result(struct dplb_health_checker *checker, struct health_target *target,
			  const struct dplb_probe_result *result)
{
	const uint64_t now = dplb_health_now_ms();
	const enum dplb_health_status before = target->record.status;
	bool changed = false;

	schedule(checker, target); /* the check is over: next due */
	target->last = *result;
	target->has_result = true;
	target->last_check_ms = now;
	target->checks++;
	checker->checks++;
	if (!result->ok) {
		target->failures++;
		checker->check_failures++;
		target->syn_source = 0; /* the route, or our address, may have changed */
	}
	if (!dplb_health_observe(&target->record, result->ok, target->settings.rise,
				 target->settings.fall, now))
		return false;
	checker->transitions++;
	log_transition(target, before, result);
	set_input(checker, target, &changed);
	/* A recovery starts slow start in the very snapshot that takes the
	 * backend back, not at the next look. */
	checker->inputs[target->backend_id].weight_percent = weight_percent(target, now);
	return changed;
}

/* Whether answer came from target's address. */
static bool answered_by(const struct health_target *target, const struct dplb_syn_answer *answer)
{
	if (target->family == AF_INET6)
		return answer->family == AF_INET6 &&
		       memcmp(target->address6, answer->address6, sizeof(target->address6)) == 0;
	return answer->family != AF_INET6 && target->address == answer->address;
}

/* SYN-ACKs and resets on the raw sockets, each matched to the check whose
 * sequence number it acknowledges, from the address and port it went to. */
static bool take_syn_answers(struct dplb_health_checker *checker, uint64_t budget_end)
{
	struct dplb_syn_answer answers[SYN_ANSWERS_PER_READ];
	struct dplb_probe_result result;
	bool changed = false;
	int n;

	do {
		n = dplb_syn_receive(&checker->syn, answers, SYN_ANSWERS_PER_READ);
		for (int i = 0; i < n; i++) {
			const struct dplb_syn_answer *a = &answers[i];
			struct health_target *target = checker->targets[a->sequence >> 16];

			if (target == NULL || target->probe.phase != DPLB_PROBE_ELSEWHERE ||
			    target->syn_sequence != a->sequence || !answered_by(target, a) ||
			    target->probe_target.port != a->port)
				continue; /* late, or not ours */
			dplb_probe_end_elsewhere(&target->probe, a->verdict == DPLB_SYN_OPEN,
						 "connect refused", now_us(), &result);
			changed |= record_result(checker, target, &result);
		}
	} while (n == SYN_ANSWERS_PER_READ && now_us() < budget_end);
	return changed;
}

/* xorshift64: the low half of a SYN's sequence number, so that nobody who
 * cannot see our SYNs can answer for a dead backend. */
static uint16_t next_random16(struct dplb_health_checker *checker)
{
	uint64_t x = checker->random;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	checker->random = x;
	return (uint16_t)(x >> 32);
}

/* A tcp check by SYN: the sequence number says which backend it is for. */
static bool start_syn(struct dplb_health_checker *checker, struct health_target *target,
		      uint64_t now, struct dplb_probe_result *result)
{
	const bool ipv6 = target->family == AF_INET6;
	int rc = 0;

	/* IPv6: the kernel sums the checksum for the source it picks. */
	if (target->syn_source == 0 && !ipv6)
		rc = dplb_syn_source_for(target->address, checker->source, &target->syn_source);
	target->syn_sequence = target->backend_id << 16 | next_random16(checker);
	dplb_probe_begin_elsewhere(&target->probe, dplb_health_timeout_ms(&target->settings), now);
	if (rc == 0 && ipv6)
		rc = dplb_syn_send6(&checker->syn, target->syn_port_index, target->address6,
				    target->probe_target.port, target->syn_sequence);
	else if (rc == 0)
		rc = dplb_syn_send(&checker->syn, target->syn_port_index, target->syn_source,
				   target->address, target->probe_target.port,
				   target->syn_sequence);
	if (rc == 0)
		return true;
	target->syn_source = 0; /* the route may come back another way */
	char error[DPLB_PROBE_ERROR_MAX];
	snprintf(error, sizeof(error), "syn: %s", strerror(-rc));
	dplb_probe_end_elsewhere(&target->probe, false, error, now, result);
	return false;
}

/* One epoll read; returns how many events it took. */
static int take_some_events(struct dplb_health_checker *checker, uint64_t budget_end, bool *changed)
{
	struct epoll_event events[EVENTS_PER_READ];
	struct dplb_probe_result result;
	const int n = epoll_wait(checker->epoll_fd, events, EVENTS_PER_READ, 0);

	for (int i = 0; i < n; i++) {
		const uint64_t id = events[i].data.u64;

		if (id == SYN_TAG) {
			*changed |= take_syn_answers(checker, budget_end);
			continue;
		}
		struct health_target *target =
			id < DPLB_MAX_BACKEND_IDS ? checker->targets[id] : NULL;

		if (target != NULL &&
		    dplb_probe_advance(&target->probe, checker->epoll_fd, &target->probe_target,
				       events[i].events, now_us(), &result))
			*changed |= record_result(checker, target, &result);
	}
	return n < 0 ? 0 : n;
}

/* Answers until none is left (returns true in *drained) or the budget is
 * spent. */
static bool take_events(struct dplb_health_checker *checker, uint64_t budget_end, bool *drained)
{
	bool changed = false;
	int n;

	do {
		n = take_some_events(checker, budget_end, &changed);
	} while (n == EVENTS_PER_READ && now_us() < budget_end);
	*drained = n < EVENTS_PER_READ;
	return changed;
}

/* Steps of slow start: backends that recovered ramp their weight. */
static bool step_slow_starts(struct dplb_health_checker *checker, uint64_t now)
{
	bool changed = false;

	if (now < checker->slow_start_look_us)
		return false;
	checker->slow_start_look_us = now + SLOW_START_LOOK_US;
	for (uint32_t i = 0; i < checker->configured_count; i++) {
		const struct health_target *target = checker->targets[checker->configured[i]];
		const uint8_t percent = weight_percent(target, now / 1000);

		if (checker->inputs[target->backend_id].weight_percent != percent) {
			checker->inputs[target->backend_id].weight_percent = percent;
			changed = true;
		}
	}
	return changed;
}

/* Start target's check, due now; the next is due an interval after this
 * one was (start to start: a late start does not make the next early). */
static bool start_check(struct dplb_health_checker *checker, struct health_target *target,
			uint64_t now)
{
	const uint64_t interval = (uint64_t)target->settings.interval_ms * 1000;
	struct dplb_probe_result result;
	bool changed = false;

	target->due_us =
		target->due_us + interval > now ? target->due_us + interval : now + interval;
	const bool in_flight =
		by_syn(checker, target)
			? start_syn(checker, target, now, &result)
			: dplb_probe_start(&target->probe, checker->epoll_fd, target->backend_id,
					   &target->probe_target, now, &result);
	if (in_flight)
		schedule(checker, target); /* at its deadline */
	else
		changed = record_result(checker, target, &result);
	return changed;
}

bool dplb_health_run(struct dplb_health_checker *checker)
{
	struct dplb_probe_result result;
	const uint64_t budget_end = now_us() + SLICE_BUDGET_US;
	uint32_t starts = 0, id;
	bool drained;
	bool changed = take_events(checker, budget_end, &drained);
	uint64_t now = now_us();

	changed |= step_slow_starts(checker, now);
	/* An answer still waiting in the epoll set may be for a check about
	 * to time out: checks time out only once every answer has been read,
	 * and the loop comes straight back while answers wait. */
	if (!drained)
		return changed;
	while (dplb_due_heap_pop_due(&checker->due, now + EARLY_START_US, &id)) {
		struct health_target *target = checker->targets[id];

		if (dplb_probe_expire(&target->probe, now, &result)) {
			changed |= record_result(checker, target, &result);
			continue;
		}
		if (dplb_probe_busy(&target->probe)) { /* not late yet */
			schedule(checker, target);
			if (target->probe.deadline_us > now)
				break; /* everything after it in the heap is later still */
			continue;
		}
		changed |= start_check(checker, target, now);
		if (++starts % STARTS_BETWEEN_CLOCK_READS == 0 && (now = now_us()) >= budget_end)
			break; /* the rest are still due: the next slice starts them */
	}
	return changed;
}

bool dplb_health_report(const struct dplb_health_checker *checker, uint32_t backend_id,
			struct dplb_health_report *report)
{
	const struct health_target *target = checker != NULL && backend_id < DPLB_MAX_BACKEND_IDS
						     ? checker->targets[backend_id]
						     : NULL;

	memset(report, 0, sizeof(*report));
	if (target == NULL)
		return false;
	report->checked = target->settings.check != DPLB_HEALTH_NONE;
	report->record = target->record;
	report->has_result = target->has_result;
	report->last = target->last;
	report->last_check_ms = target->last_check_ms;
	report->checks = target->checks;
	report->failures = target->failures;
	report->weight_percent = checker->inputs[backend_id].weight_percent
					 ? checker->inputs[backend_id].weight_percent
					 : 100;
	return true;
}

uint64_t dplb_health_transitions(const struct dplb_health_checker *checker)
{
	return checker != NULL ? checker->transitions : 0;
}

void dplb_health_totals(const struct dplb_health_checker *checker,
			struct dplb_health_totals *totals)
{
	memset(totals, 0, sizeof(*totals));
	if (checker == NULL)
		return;
	totals->checks = checker->checks;
	totals->check_failures = checker->check_failures;
	totals->transitions = checker->transitions;
	for (uint32_t i = 0; i < checker->configured_count; i++) {
		const struct health_target *target = checker->targets[checker->configured[i]];

		totals->in_flight += dplb_probe_busy(&target->probe);
		totals->backends_checked += target->settings.check != DPLB_HEALTH_NONE;
		totals->backends_unhealthy += target->record.status == DPLB_HEALTH_UNHEALTHY;
	}
}
