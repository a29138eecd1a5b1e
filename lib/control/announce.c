/*
 * Route announcement tied to health: the routes in announce_table follow
 * the snapshot that serves (see announce.h for why a table of its own and
 * routes through the tap).
 *
 * Addresses of both families are kept as one sorted list of 16-byte keys,
 * IPv4 ones IPv4-mapped (::ffff:a.b.c.d, RFC 4291 2.5.5.2), so that one
 * merge brings the kernel's /32s and /128s in line together. No IPv6 VIP
 * can have a mapped address (the loader refuses them), so the keys never
 * meet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "control/announce.h"
#include "control/exception_path.h"
#include "control/rtnetlink.h"
#include "health/health.h"

/* A refused change is asked for again after this long. */
#define RETRY_MS 1000
/* While a VIP is held back (held_back), whether it still must be is asked
 * again this often: a rising backend's next check may fail, which changes
 * no status and so wakes no sync by itself. */
#define HOLD_RECHECK_MS 100

/* An address of either family as a key: IPv6, or IPv4-mapped IPv4. */
struct announce_key {
	uint8_t bytes[16];
};

struct dplb_announcer {
	/* Routes in the kernel (keys, ascending), in table through ifindex. */
	uint32_t count;
	struct announce_key addresses[DPLB_MAX_VIP_IDS];
	uint32_t table;
	int ifindex;
	/* What the last sync was made from: nothing to do until it changes. */
	const struct dplb_state *synced_state;
	uint64_t synced_generation;
	uint64_t synced_transitions; /* health status changes, ever */
	uint32_t synced_table;
	int synced_ifindex;
	uint64_t retry_at_ms; /* 0: no change was refused */
	/* Hold-down (held_back): when each VIP, by id, was first held back,
	 * 0 while it is not; and when the sync must look again (0: none is). */
	uint64_t held_since_ms[DPLB_MAX_VIP_IDS];
	bool held[DPLB_MAX_VIP_IDS]; /* held back by the last sync */
	uint64_t hold_recheck_ms;
	bool failing;	  /* a change was refused last time: logged once */
	bool refused_now; /* ... and this time */
	bool stopping;
	struct dplb_announce_counters counters;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int compare_keys(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct announce_key));
}

static const uint8_t V4_MAPPED[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static struct announce_key key_of_ipv4(uint32_t address)
{
	struct announce_key key;

	memcpy(key.bytes, V4_MAPPED, sizeof(V4_MAPPED));
	memcpy(key.bytes + 12, &address, sizeof(address));
	return key;
}

static struct announce_key key_of_ipv6(const uint8_t address[16])
{
	struct announce_key key;

	memcpy(key.bytes, address, sizeof(key.bytes));
	return key;
}

static bool key_is_ipv4(const struct announce_key *key)
{
	return memcmp(key->bytes, V4_MAPPED, sizeof(V4_MAPPED)) == 0;
}

static struct announce_key key_of_vip(const struct dplb_vip_config *vip)
{
	return vip->family == AF_INET6 ? key_of_ipv6(vip->address6) : key_of_ipv4(vip->address);
}

/* The key's address as text, as the log writes it. */
static const char *key_text(const struct announce_key *key, char text[INET6_ADDRSTRLEN])
{
	if (key_is_ipv4(key))
		return inet_ntop(AF_INET, key->bytes + 12, text, INET6_ADDRSTRLEN);
	return inet_ntop(AF_INET6, key->bytes, text, INET6_ADDRSTRLEN);
}

/*
 * Whether a backend taking new flows vouches for its VIP to the routers:
 * it has no health check, or its checks found it healthy. A checked backend
 * that no check has answered yet takes traffic (health_state.h: as
 * HAProxy's do), but routers are not drawn to a dplb on its account: after
 * a restart, or on an instance just added, the VIP is announced once a
 * first check has passed, not while every check may be failing.
 */
static bool vouches(const struct dplb_context *ctx, uint32_t backend_id)
{
	struct dplb_health_report report;

	if (!dplb_health_report(ctx->health, backend_id, &report))
		return true; /* no checker: nothing is checked */
	return !report.checked || report.record.status == DPLB_HEALTH_HEALTHY;
}

/* Whether vip is healthy (as /vips says: some backend takes new flows) with
 * a backend that vouches for it. */
static bool announceable(const struct dplb_context *ctx, const struct dplb_vip_entry *vip)
{
	for (uint32_t i = 0; i < vip->up_count; i++)
		if (vouches(ctx, vip->up_ids[i]))
			return true;
	return false;
}

/*
 * How long a backend of vip that is on its way back may hold the VIP's
 * address back: rise checks (rise x interval, the last one's timeout
 * included). On its way back: checked, it will take new flows once
 * healthy, and either its checks found it unhealthy and the latest have
 * passed, fewer than rise, or they found it healthy but the snapshot that
 * serves (state) still has it unhealthy (a new one is being built, which
 * for big tables takes a while). 0: none is. The longest of them.
 */
static uint64_t rising_hold_ms(const struct dplb_context *ctx, const struct dplb_state *state,
			       const struct dplb_vip_entry *vip)
{
	uint64_t longest = 0;

	/* backend_ids are in the configuration's order. */
	for (uint32_t i = 0; i < vip->backend_count && i < vip->config->backend_count; i++) {
		const uint32_t id = vip->backend_ids[i];
		const struct dplb_health_settings *health = &vip->config->backends[i].health;
		struct dplb_health_report report;

		if (!dplb_health_report(ctx->health, id, &report) || !report.checked ||
		    !dplb_backend_takes_new_flows(state->backends[id].state, DPLB_HEALTH_HEALTHY))
			continue;
		const bool passing = report.record.status == DPLB_HEALTH_UNHEALTHY &&
				     report.record.successes > 0;
		const bool unpublished = report.record.status == DPLB_HEALTH_HEALTHY &&
					 state->backends[id].health == DPLB_HEALTH_UNHEALTHY;
		if (!passing && !unpublished)
			continue;
		const uint64_t hold = (uint64_t)health->rise * health->interval_ms +
				      dplb_health_timeout_ms(health);
		longest = hold > longest ? hold : longest;
	}
	return longest;
}

/* Whether a route to key is in the table. */
static bool has_key(const struct dplb_context *ctx, const struct announce_key *key)
{
	const struct dplb_announcer *a = ctx->announcer;

	return a != NULL &&
	       bsearch(key, a->addresses, a->count, sizeof(*key), compare_keys) != NULL;
}

/*
 * Hold-down: whether vip's address, not announced, waits for vip. The
 * first of a VIP's backends to pass again brings it back; each of the
 * others passes its own rise checks later, and meanwhile this instance's
 * Maglev table counts fewer backends than its peers' behind the same ECMP
 * routers, so a connection the routers move here would meet another
 * backend and be reset. So the address waits while a backend of the VIP
 * is rising (rising_hold_ms), announceable or not yet, for at most that
 * backend's rise checks from when the VIP was first held: one that passes
 * now and then never keeps an address away longer. An address already
 * announced never waits (withdrawal is unchanged).
 */
static bool held_back(const struct dplb_context *ctx, struct dplb_announcer *a,
		      const struct dplb_state *state, const struct dplb_vip_entry *vip,
		      uint64_t now)
{
	const struct announce_key key = key_of_vip(vip->config);
	const uint64_t hold = rising_hold_ms(ctx, state, vip);
	uint64_t *since = &a->held_since_ms[vip->id];

	if (hold == 0 || has_key(ctx, &key)) {
		*since = 0;
		return false;
	}
	if (*since == 0) {
		*since = now;
		DPLB_LOG(NOTICE,
			 "announce: vip %s held back while its backends pass their rise checks "
			 "(at most %" PRIu64 " ms)",
			 vip->config->name, hold);
	}
	if (now - *since >= hold)
		return false;
	a->hold_recheck_ms = now + HOLD_RECHECK_MS;
	a->held[vip->id] = true;
	return true;
}

/* The addresses of the VIPs that are announceable, each once, ascending,
 * but for an address of which some VIP is held back (announceable or not
 * yet): the VIPs of one address share its route, so a VIP on its way back
 * holds them all (for a bounded while). Returns how many. */
static uint32_t wanted_addresses(const struct dplb_context *ctx, struct dplb_announcer *a,
				 const struct dplb_state *state, struct announce_key *out)
{
	struct announce_key held[DPLB_MAX_VIP_IDS];
	const uint64_t now = now_ms();
	uint32_t count = 0, held_count = 0, unique = 0;

	for (uint32_t v = 0; v < state->vip_count && count < DPLB_MAX_VIP_IDS; v++) {
		const struct dplb_vip_entry *vip = &state->vips[v];

		/* Not announceable yet counts too: its address may be another
		 * VIP's, which would draw routers to it meanwhile. */
		if (held_back(ctx, a, state, vip, now))
			held[held_count++] = key_of_vip(vip->config);
		else if (announceable(ctx, vip))
			out[count++] = key_of_vip(vip->config);
	}
	qsort(held, held_count, sizeof(*held), compare_keys);
	for (uint32_t i = 0; i < count; i++)
		if (bsearch(&out[i], held, held_count, sizeof(*held), compare_keys) == NULL)
			out[unique++] = out[i];
	count = unique;
	unique = 0;
	qsort(out, count, sizeof(*out), compare_keys);
	for (uint32_t i = 0; i < count; i++)
		if (unique == 0 || compare_keys(&out[unique - 1], &out[i]) != 0)
			out[unique++] = out[i];
	return unique;
}

/* The first announceable VIP of address, for the log. */
static const char *healthy_vip_of(const struct dplb_context *ctx, const struct dplb_state *state,
				  const struct announce_key *address)
{
	for (uint32_t v = 0; state != NULL && v < state->vip_count; v++) {
		const struct announce_key key = key_of_vip(state->vips[v].config);

		if (compare_keys(&key, address) == 0 && announceable(ctx, &state->vips[v]))
			return state->vips[v].config->name;
	}
	return "(none)";
}

static void refused(struct dplb_announcer *a, const char *what, const struct announce_key *address,
		    int rc)
{
	char text[INET6_ADDRSTRLEN];

	const bool logged = a->failing || a->refused_now;

	a->counters.announce_failures++;
	a->retry_at_ms = now_ms() + RETRY_MS;
	a->refused_now = true;
	if (logged)
		return;
	key_text(address, text);
	DPLB_LOG(ERR, "announce: cannot %s the route to %s in table %u: %s (retrying every %u ms)",
		 what, text, a->table, strerror(-rc), RETRY_MS);
}

/* Add (RTM_NEWROUTE) or remove (RTM_DELROUTE) the route to address, for
 * the reason why; returns whether the kernel did. */
static bool change_route(struct dplb_announcer *a, uint16_t command,
			 const struct announce_key *address, const char *why)
{
	char text[INET6_ADDRSTRLEN];
	const bool add = command == RTM_NEWROUTE;
	uint32_t address4;
	int rc;

	if (key_is_ipv4(address)) {
		memcpy(&address4, address->bytes + 12, sizeof(address4));
		rc = dplb_rtnetlink_change_route(a->table, command, address4, a->ifindex);
	} else {
		rc = dplb_rtnetlink_change_route6(a->table, command, address->bytes, a->ifindex);
	}

	if (rc != 0) {
		refused(a, add ? "add" : "remove", address, rc);
		return false;
	}
	if (add)
		a->counters.announce_routes_added++;
	else
		a->counters.announce_routes_removed++;
	key_text(address, text);
	DPLB_LOG(NOTICE, "announce: %s %s table %u: %s", text,
		 add ? "announced in" : "withdrawn from", a->table, why);
	return true;
}

/* In a merge of two ascending lists: <0 takes have[i] (only there), >0
 * wanted[j] (only there), 0 both (the same address). */
static int merge_order(const struct announce_key *have, uint32_t i, uint32_t have_count,
		       const struct announce_key *wanted, uint32_t j, uint32_t wanted_count)
{
	if (i == have_count)
		return 1;
	if (j == wanted_count)
		return -1;
	return compare_keys(&have[i], &wanted[j]);
}

/* Bring the kernel's routes to wanted (ascending): one merge of the two
 * sorted lists. A refused change leaves the kernel's state in the list. */
static void apply(const struct dplb_context *ctx, struct dplb_announcer *a,
		  const struct dplb_state *state, const struct announce_key *wanted,
		  uint32_t wanted_count, const char *why_withdrawn)
{
	struct announce_key now[DPLB_MAX_VIP_IDS];
	uint32_t count = 0, i = 0, j = 0;
	a->refused_now = false;
	a->retry_at_ms = 0;
	while (i < a->count || j < wanted_count) {
		const int order = merge_order(a->addresses, i, a->count, wanted, j, wanted_count);

		if (order == 0) {
			now[count++] = a->addresses[i++];
			j++;
		} else if (order < 0) {
			if (!change_route(a, RTM_DELROUTE, &a->addresses[i], why_withdrawn))
				now[count++] = a->addresses[i];
			i++;
		} else {
			char why[DPLB_NAME_MAX + 32];

			snprintf(why, sizeof(why), "vip %s has a healthy backend",
				 healthy_vip_of(ctx, state, &wanted[j]));
			if (change_route(a, RTM_NEWROUTE, &wanted[j], why))
				now[count++] = wanted[j];
			j++;
		}
	}
	memcpy(a->addresses, now, count * sizeof(now[0]));
	a->count = count;
	if (a->failing && !a->refused_now)
		DPLB_LOG(NOTICE, "announce: table %u is as it should be again", a->table);
	a->failing = a->refused_now;
}

/* Before a sync: no VIP is held until held_back says so again, and a VIP
 * the configuration no longer has starts afresh if it comes back. */
static void forget_holds(struct dplb_announcer *a, const struct dplb_state *state)
{
	bool present[DPLB_MAX_VIP_IDS] = { false };

	a->hold_recheck_ms = 0;
	memset(a->held, 0, sizeof(a->held));
	for (uint32_t v = 0; v < state->vip_count; v++)
		present[state->vips[v].id] = true;
	for (uint32_t id = 0; id < DPLB_MAX_VIP_IDS; id++)
		if (!present[id])
			a->held_since_ms[id] = 0;
}

void dplb_announce_sync(struct dplb_context *ctx)
{
	const struct dplb_state *state = dplb_current_state(ctx->publisher);
	struct dplb_announcer *a = ctx->announcer;
	struct announce_key wanted[DPLB_MAX_VIP_IDS];

	if (state == NULL)
		return;
	if (a == NULL) {
		if (state->config->announce_table == 0)
			return;
		a = calloc(1, sizeof(*a));
		if (a == NULL)
			return; /* asked again next round */
		ctx->announcer = a;
	}
	const uint32_t table = a->stopping ? 0 : state->config->announce_table;
	const int ifindex = dplb_exception_path_ifindex(ctx->exception);
	/* A backend's first passing check makes no new snapshot (unchecked and
	 * healthy forward alike), so health's transitions are watched too. */
	const uint64_t transitions = dplb_health_transitions(ctx->health);

	if (state == a->synced_state && state->generation == a->synced_generation &&
	    transitions == a->synced_transitions && table == a->synced_table &&
	    ifindex == a->synced_ifindex && (a->retry_at_ms == 0 || now_ms() < a->retry_at_ms) &&
	    (a->hold_recheck_ms == 0 || now_ms() < a->hold_recheck_ms))
		return;
	a->synced_state = state;
	a->synced_generation = state->generation;
	a->synced_transitions = transitions;
	a->synced_table = table;
	a->synced_ifindex = ifindex;
	forget_holds(a, state);
	/* Another table or tap: out of the old one first. */
	if (a->count > 0 && (table != a->table || ifindex != a->ifindex)) {
		apply(ctx, a, state, wanted, 0,
		      a->stopping ? "dplb is stopping" : "announce_table or the tap changed");
		if (a->count > 0)
			return; /* refused: asked again */
	}
	a->table = table;
	a->ifindex = ifindex;
	if (table == 0 || ifindex == 0)
		return;
	apply(ctx, a, state, wanted, wanted_addresses(ctx, a, state, wanted),
	      "no VIP of this address has a healthy backend");
}

uint32_t dplb_announce_withdraw_all(struct dplb_context *ctx)
{
	struct dplb_announcer *a = ctx->announcer;
	const uint32_t before = a != NULL ? a->count : 0;

	if (a == NULL)
		return 0;
	a->stopping = true;
	apply(ctx, a, dplb_current_state(ctx->publisher), NULL, 0, "dplb is stopping");
	return before - a->count;
}

bool dplb_announce_stopping(const struct dplb_context *ctx)
{
	return ctx->announcer != NULL && ctx->announcer->stopping;
}

bool dplb_announce_held(const struct dplb_context *ctx, const struct dplb_vip_entry *vip)
{
	return ctx->announcer != NULL && !ctx->announcer->stopping && ctx->announcer->held[vip->id];
}

bool dplb_announce_has(const struct dplb_context *ctx, uint32_t address)
{
	const struct announce_key key = key_of_ipv4(address);

	return has_key(ctx, &key);
}

bool dplb_announce_has6(const struct dplb_context *ctx, const uint8_t address[16])
{
	const struct announce_key key = key_of_ipv6(address);

	return has_key(ctx, &key);
}

bool dplb_announce_has_vip(const struct dplb_context *ctx, const struct dplb_vip_config *vip)
{
	const struct announce_key key = key_of_vip(vip);

	return has_key(ctx, &key);
}

uint32_t dplb_announce_addresses(const struct dplb_context *ctx, uint32_t *out, uint32_t max)
{
	const struct dplb_announcer *a = ctx->announcer;
	uint32_t count = 0;

	for (uint32_t i = 0; a != NULL && i < a->count; i++) {
		if (!key_is_ipv4(&a->addresses[i]))
			continue;
		if (count < max)
			memcpy(&out[count], a->addresses[i].bytes + 12, sizeof(*out));
		count++;
	}
	return count;
}

uint32_t dplb_announce_addresses6(const struct dplb_context *ctx, uint8_t (*out)[16], uint32_t max)
{
	const struct dplb_announcer *a = ctx->announcer;
	uint32_t count = 0;

	for (uint32_t i = 0; a != NULL && i < a->count; i++) {
		if (key_is_ipv4(&a->addresses[i]))
			continue;
		if (count < max)
			memcpy(out[count], a->addresses[i].bytes, sizeof(out[count]));
		count++;
	}
	return count;
}

struct dplb_announce_counters dplb_announce_counters(const struct dplb_context *ctx)
{
	const struct dplb_announce_counters none = { 0 };

	return ctx->announcer != NULL ? ctx->announcer->counters : none;
}

void dplb_announce_release(struct dplb_context *ctx)
{
	if (ctx->announcer == NULL)
		return;
	dplb_announce_withdraw_all(ctx);
	free(ctx->announcer);
	ctx->announcer = NULL;
}
