/* Health arithmetic; see health_state.h for the rules. */
#include "health/health_state.h"

static bool set_status(struct dplb_health_record *record, enum dplb_health_status status,
		       uint64_t now_ms)
{
	if (record->status == status)
		return false;
	if (record->status == DPLB_HEALTH_UNHEALTHY && status == DPLB_HEALTH_HEALTHY)
		record->recovered_ms = now_ms;
	record->status = status;
	record->changed_ms = now_ms;
	record->transitions++;
	return true;
}

bool dplb_health_observe(struct dplb_health_record *record, bool ok, uint32_t rise, uint32_t fall,
			 uint64_t now_ms)
{
	if (ok) {
		record->failures = 0;
		record->successes++;
		/* Unchecked already takes traffic: one success confirms it. */
		if (record->status == DPLB_HEALTH_UNCHECKED ||
		    (record->status == DPLB_HEALTH_UNHEALTHY && record->successes >= rise))
			return set_status(record, DPLB_HEALTH_HEALTHY, now_ms);
		return false;
	}
	record->successes = 0;
	record->failures++;
	if (record->status != DPLB_HEALTH_UNHEALTHY && record->failures >= fall)
		return set_status(record, DPLB_HEALTH_UNHEALTHY, now_ms);
	return false;
}

void dplb_health_reset(struct dplb_health_record *record, uint64_t now_ms)
{
	/* Not a transition of health: checking stopped, nothing was learnt. */
	if (record->status != DPLB_HEALTH_UNCHECKED)
		record->changed_ms = now_ms;
	record->status = DPLB_HEALTH_UNCHECKED;
	record->successes = 0;
	record->failures = 0;
	record->recovered_ms = 0;
}

bool dplb_backend_takes_new_flows(enum dplb_backend_state state, enum dplb_health_status health)
{
	return state == DPLB_BACKEND_UP && health != DPLB_HEALTH_UNHEALTHY;
}

bool dplb_backend_keeps_flows(enum dplb_backend_state state, enum dplb_health_status health)
{
	return state != DPLB_BACKEND_DOWN && health != DPLB_HEALTH_UNHEALTHY;
}

uint32_t dplb_slow_start_percent(uint64_t recovered_ms, uint32_t slow_start_s, uint64_t now_ms)
{
	if (slow_start_s == 0 || recovered_ms == 0 || now_ms < recovered_ms)
		return 100;
	const uint64_t elapsed_ms = now_ms - recovered_ms;
	const uint64_t span_ms = (uint64_t)slow_start_s * 1000;

	if (elapsed_ms >= span_ms)
		return 100;
	const uint32_t percent = 10 + (uint32_t)(90 * elapsed_ms / span_ms);

	return percent - percent % 10;
}

uint32_t dplb_slow_start_weight(uint32_t weight, uint32_t percent)
{
	const uint64_t scaled = ((uint64_t)weight * percent + 9) / 10;

	return scaled == 0 ? 1 : (uint32_t)scaled;
}

const char *dplb_health_status_name(enum dplb_health_status status)
{
	switch (status) {
	case DPLB_HEALTH_HEALTHY:
		return "healthy";
	case DPLB_HEALTH_UNHEALTHY:
		return "unhealthy";
	case DPLB_HEALTH_UNCHECKED:
		break;
	}
	return "unchecked";
}
