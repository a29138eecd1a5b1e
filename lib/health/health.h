/*
 * The health checker: every configured backend with a health_check is
 * probed every interval from the management lcore, through the host's
 * network stack (health_probe.h), and its results counted into a status
 * (health_state.h). A change of status, or a step of slow start, asks for
 * a new forwarding snapshot, built from dplb_health_inputs(): that is how
 * a failed backend leaves the Maglev table and how it comes back.
 *
 * Nothing here blocks: sockets are non-blocking, their events come through
 * one epoll set whose descriptor the management loop waits on alongside
 * the HTTP server's, and each call does a bounded amount of work.
 *
 * Management lcore only (and threads holding the management lock, for
 * reading reports).
 */
#ifndef DPLB_HEALTH_H
#define DPLB_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"
#include "control/state.h"
#include "health/health_probe.h"
#include "health/health_state.h"

struct dplb_health_checker;

/* Counters over every backend, declared once: X(field, help). /stats
 * shows them under "health", telemetry's /dplb/stats as health_FIELD. */
#define DPLB_HEALTH_TOTALS(X)                                                                      \
	X(checks, "Health checks completed")                                                       \
	X(check_failures, "Health checks that failed")                                             \
	X(transitions, "Changes of health status, of any backend")                                 \
	X(in_flight, "Health checks waiting for an answer now")                                    \
	X(backends_checked, "Backends with a health check")                                        \
	X(backends_unhealthy, "Backends their checks found unhealthy")

struct dplb_health_totals {
#define DPLB_HEALTH_TOTAL_FIELD(field, help) uint64_t field;
	DPLB_HEALTH_TOTALS(DPLB_HEALTH_TOTAL_FIELD)
#undef DPLB_HEALTH_TOTAL_FIELD
};

/* One backend's health, as the views show it. */
struct dplb_health_report {
	bool checked; /* it has a health_check other than none */
	struct dplb_health_record record;
	bool has_result; /* a check has completed */
	struct dplb_probe_result last;
	uint64_t last_check_ms; /* monotonic, when the last check completed */
	uint64_t checks;
	uint64_t failures;	 /* checks that failed, in all */
	uint32_t weight_percent; /* slow start: 100 when not ramping */
};

/* Returns NULL when out of memory or without an epoll descriptor. */
struct dplb_health_checker *dplb_health_create(void);
void dplb_health_free(struct dplb_health_checker *checker);

/* The descriptor to wait on (readable when a check has news). */
int dplb_health_fd(const struct dplb_health_checker *checker);

/*
 * Make the checked backends those of config: new ones start unchecked and
 * are checked at once, removed ones are forgotten, and the ones that stay
 * keep their status (a changed check keeps it too; a check turned off
 * makes it unchecked). Call after config became current. Returns true when
 * the forwarding state must be rebuilt. Ids come from ids, as the snapshot
 * builder's do.
 */
bool dplb_health_sync(struct dplb_health_checker *checker, const struct dplb_config *config,
		      struct dplb_identities *ids);

/*
 * One slice: take the answers that arrived, time out late checks, start
 * the ones due, and step slow start. Returns true when a backend changed
 * status or weight, so the forwarding state must be rebuilt with
 * dplb_health_inputs().
 */
bool dplb_health_run(struct dplb_health_checker *checker);

/* By backend id, DPLB_MAX_BACKEND_IDS long: what snapshots are built from. */
const struct dplb_backend_health *dplb_health_inputs(const struct dplb_health_checker *checker);

/* Returns false (report zeroed: unchecked) when backend_id is not a
 * configured backend or there is no checker. */
bool dplb_health_report(const struct dplb_health_checker *checker, uint32_t backend_id,
			struct dplb_health_report *report);

void dplb_health_totals(const struct dplb_health_checker *checker,
			struct dplb_health_totals *totals);

/* Status changes of any backend so far (totals' transitions, without the
 * walk over backends): cheap enough to watch on every management round. */
uint64_t dplb_health_transitions(const struct dplb_health_checker *checker);

/* Monotonic milliseconds, the clock every health time is on. */
uint64_t dplb_health_now_ms(void);

#endif
