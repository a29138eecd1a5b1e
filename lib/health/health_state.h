/*
 * What health checking concludes about one backend, as pure arithmetic:
 * rise/fall counting, which backends take new flows or keep their flows,
 * and slow start. No sockets, no DPDK: the checker (health.c) feeds it
 * results and the unit tests feed it sequences.
 *
 * A backend starts unchecked. Unchecked backends take traffic, as HAProxy's
 * servers do before their first check: one success makes them healthy,
 * `fall` consecutive failures unhealthy. From then on a healthy backend
 * needs `fall` consecutive failures to become unhealthy, and an unhealthy
 * one `rise` consecutive successes to become healthy again.
 *
 * The operator's state (up, drain, down) always wins over health: a drained
 * backend that is healthy still takes no new flows, and a down one keeps
 * none; an unhealthy backend takes nothing whatever the operator says.
 */
#ifndef DPLB_HEALTH_STATE_H
#define DPLB_HEALTH_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"

enum dplb_health_status {
	DPLB_HEALTH_UNCHECKED,
	DPLB_HEALTH_HEALTHY,
	DPLB_HEALTH_UNHEALTHY,
};

struct dplb_health_record {
	enum dplb_health_status status;
	uint32_t successes;   /* consecutive, ending with the latest check */
	uint32_t failures;    /* consecutive, ending with the latest check */
	uint64_t transitions; /* status changes, unchecked -> healthy included */
	uint64_t changed_ms;  /* when status last changed */
	/* When it last came back from unhealthy: slow start runs from here.
	 * 0 when it never did (a backend healthy from the start needs none). */
	uint64_t recovered_ms;
};

/*
 * Count one check result taken at now_ms. Returns true when the status
 * changed (the caller logs and republishes). rise and fall are >= 1.
 */
bool dplb_health_observe(struct dplb_health_record *record, bool ok, uint32_t rise, uint32_t fall,
			 uint64_t now_ms);

/* Forget the results: the check was turned off. Not counted as a
 * transition (nothing was learnt about the backend). */
void dplb_health_reset(struct dplb_health_record *record, uint64_t now_ms);

/* New flows: operator up and not unhealthy. */
bool dplb_backend_takes_new_flows(enum dplb_backend_state state, enum dplb_health_status health);
/* Established flows stay: operator up or drain, and not unhealthy. */
bool dplb_backend_keeps_flows(enum dplb_backend_state state, enum dplb_health_status health);

/*
 * Slow start: the share of its weight a backend that recovered at
 * recovered_ms gets at now_ms, in percent: 10 at once, growing linearly to
 * 100 after slow_start_s seconds, in steps of 10 so that the forwarding
 * state is rebuilt ten times per ramp rather than on every tick. 100 when
 * slow start is off (0) or never began (recovered_ms 0).
 */
uint32_t dplb_slow_start_percent(uint64_t recovered_ms, uint32_t slow_start_s, uint64_t now_ms);

/* weight at percent of itself, in tenths of a weight unit (the unit the
 * scheduler's tables count in): weight x percent / 10, rounded up, never
 * below 1. 100% is weight x 10. */
uint32_t dplb_slow_start_weight(uint32_t weight, uint32_t percent);

const char *dplb_health_status_name(enum dplb_health_status status);

#endif
