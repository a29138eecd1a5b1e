/*
 * The one door for changes to what serves. A configuration becomes current
 * through prepare and publish_built (snapshot, publish, RCU), whether it is
 * the first at start-up (dplb_apply_config), a reload (SIGHUP and POST
 * /reload alike) or an API change (apply: with a state builder, the
 * snapshot's tables are built off the management lcore in between, and the
 * change ends later). Runtime changes are transactions: clone the
 * configuration that serves, change the clone, validate it with the
 * loader's rules, diff it against the original, write it into the file
 * (persist_changes), and apply it; a reload reads the file instead of
 * cloning, and refuses keys the diff marks as needing a restart. On any
 * failure the new configuration is dropped and nothing has changed: a file
 * already written gets its old bytes back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "control/config_writer.h"
#include "control/context.h"
#include "control/control.h"
#include "control/management.h"
#include "control/neighbor.h"
#include "control/state_builder.h"
#include "health/health.h"
#include "health/health_probe.h"

/* ---- results ---------------------------------------------------------- */

void dplb_control_result_free(struct dplb_control_result *result)
{
	dplb_change_list_free(&result->changes);
}

static void __attribute__((format(printf, 2, 3)))
refuse(struct dplb_control_result *result, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(result->errors.messages[0], DPLB_ERROR_MAX, fmt, ap);
	va_end(ap);
	result->errors.count = 1;
}

/* ---- applying a configuration ----------------------------------------- */

bool dplb_control_busy(const struct dplb_context *ctx)
{
	return dplb_state_builder_busy(ctx->builder);
}

static void want_serving_next_hops(struct dplb_context *ctx)
{
	const struct dplb_state *current = dplb_current_state(ctx->publisher);

	if (current != NULL)
		dplb_management_want_next_hops(ctx, current->config);
}

/* A snapshot of config (taken over) without its tables: everything that
 * may be refused before anything changes. */
static int prepare(struct dplb_context *ctx, struct dplb_config *config, struct dplb_state **state,
		   char *error)
{
	int rc;

	/* A health_source that is not ours would fail every check, and so take
	 * every checked VIP down: refused here, before anything changes. */
	rc = dplb_probe_source_usable(config->health_source);
	if (rc != 0) {
		char address[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &config->health_source, address, sizeof(address));
		snprintf(error, DPLB_ERROR_MAX, "%.200s: health_source %s cannot be used: %s",
			 config->path, address, strerror(-rc));
		dplb_config_free(config);
		return rc;
	}

	/* Next hops of the new configuration are looked up (and asked for by
	 * the next management tick) before it serves. */
	dplb_management_want_next_hops(ctx, config);
	const struct dplb_state_inputs inputs = dplb_management_state_inputs(ctx);

	rc = dplb_state_prepare(config, ctx->ids, &inputs, ctx->generation + 1, state, error);
	if (rc != 0)
		want_serving_next_hops(ctx);
	return rc;
}

/* The snapshot with its tables built (rc 0) made current, or dropped. */
static int publish_built(struct dplb_context *ctx, struct dplb_state *state, int rc)
{
	const struct dplb_config *config = state->config;

	if (rc != 0) {
		dplb_state_free(state);
		want_serving_next_hops(ctx);
		return rc;
	}
	/* Only now may the old configuration's next hops be forgotten: had the
	 * build failed, they would still be needed, MACs and all. */
	dplb_neighbors_forget_unwanted(ctx->neighbors);
	dplb_neighbors6_forget_unwanted(ctx->neighbors6);
	dplb_publish(ctx->publisher, state);
	ctx->generation++;
	/* Backends that stay keep their health (it was in inputs); new ones
	 * are checked from now on, and a check turned off makes a backend
	 * unchecked, which needs one more snapshot. */
	if (dplb_health_sync(ctx->health, config, ctx->ids) && dplb_management_republish(ctx) != 0)
		ctx->republish_pending = true;
	return 0;
}

int dplb_apply_config(struct dplb_context *ctx, struct dplb_config *config, char *error)
{
	struct dplb_state *state;
	int rc;

	if (dplb_control_busy(ctx)) {
		snprintf(error, DPLB_ERROR_MAX, "another change is being applied");
		dplb_config_free(config);
		return -EBUSY;
	}
	rc = prepare(ctx, config, &state, error);
	if (rc == 0)
		rc = publish_built(ctx, state, dplb_state_build_tables(state, error));
	return rc;
}

/*
 * A change on its way to serving: an API change or a reload, and how it
 * ends (committed, reloaded) once its snapshot is published or refused.
 * With ctx->builder the snapshot's tables are built off the management
 * lcore, and the change ends in dplb_state_builder_poll, later.
 */
struct pending_change {
	struct dplb_context *ctx;
	struct dplb_control_result *result;
	/* Returns what the control call returns; error is NULL when result
	 * says why already. */
	int (*end)(const struct pending_change *change, int rc, const char *error);
	char *previous; /* the file before a persisted change, to put back */
	size_t previous_len;
};

static void built(void *arg, struct dplb_state *state, int rc, const char *error)
{
	struct pending_change *change = arg;
	struct dplb_control_result *result = change->result;

	rc = publish_built(change->ctx, state, rc);
	result->status = change->end(change, rc, error);
	result->in_progress = false;
	free(change);
}

/* Make config (taken over) current, now or, with a builder, once its tables
 * are built: returns what change->end returns, or -EINPROGRESS. */
static int apply(const struct pending_change *change, struct dplb_config *config)
{
	struct dplb_context *ctx = change->ctx;
	char error[DPLB_ERROR_MAX];
	struct dplb_state *state;
	int rc = prepare(ctx, config, &state, error);

	if (rc == 0 && ctx->builder != NULL) {
		struct pending_change *later = malloc(sizeof(*later));

		if (later != NULL) {
			*later = *change;
			if (dplb_state_builder_start(ctx->builder, state, built, later) == 0) {
				change->result->in_progress = true;
				return -EINPROGRESS;
			}
			free(later);
		}
		/* No thread to be had: built here, as without a builder. */
	}
	if (rc == 0)
		rc = publish_built(ctx, state, dplb_state_build_tables(state, error));
	return change->end(change, rc, error);
}

/* ---- transactions ----------------------------------------------------- */

static const struct dplb_config *serving_config(const struct dplb_context *ctx)
{
	return dplb_current_state(ctx->publisher)->config;
}

/* One log line per change, as reloads are logged: the operator's
 * record of who changed what is the daemon's log. For example
 *   dplb: api: vip web: backend 10.0.1.4 added: up, weight 3
 *   dplb: api: vip web: backend 10.0.1.1 changed (state): drain, weight 1 */
static void log_changes(const struct dplb_control_result *result, const char *source)
{
	static const char *const done[] = {
		[DPLB_CHANGE_BACKEND_ADDED] = "added",
		[DPLB_CHANGE_BACKEND_REMOVED] = "removed",
		[DPLB_CHANGE_BACKEND_MODIFIED] = "changed",
	};
	char address[INET6_ADDRSTRLEN];

	for (uint32_t i = 0; i < result->changes.count; i++) {
		const struct dplb_change *c = &result->changes.items[i];
		const bool removed = c->kind == DPLB_CHANGE_BACKEND_REMOVED;
		const struct dplb_backend_config *b = removed ? &c->before : &c->after;

		if (c->kind < DPLB_CHANGE_BACKEND_ADDED) {
			DPLB_LOG(NOTICE, "%s: %s%s%s%s%s", source, dplb_change_kind_name(c->kind),
				 c->vip[0] ? " " : "", c->vip, c->fields[0] ? ": " : "", c->fields);
			continue;
		}
		DPLB_LOG(NOTICE, "%s: vip %s: backend %s %s%s%s%s: %s, weight %u", source, c->vip,
			 dplb_backend_address_text(b, address), done[c->kind],
			 c->fields[0] ? " (" : "", c->fields, c->fields[0] ? ")" : "",
			 dplb_backend_state_name(b->state), b->weight);
	}
	DPLB_LOG(NOTICE, "%s: state generation %lu", source, (unsigned long)result->generation);
}

/* A change written into the file did not apply: the file gets back what
 * it held, which is what serves. */
static void restore_file(const struct dplb_context *ctx, const char *previous, size_t len)
{
	char error[DPLB_ERROR_MAX];

	if (dplb_config_file_replace(ctx->config_path, previous, len, error) == 0)
		return;
	DPLB_LOG(ERR,
		 "api: %s holds a change that was refused, and could not be put back (%s): "
		 "a reload would apply it",
		 ctx->config_path, error);
}

/* How an API change ends: applied, or refused with the file as it was. */
static int committed(const struct pending_change *change, int rc, const char *error)
{
	struct dplb_context *ctx = change->ctx;
	struct dplb_control_result *result = change->result;

	if (rc != 0) {
		if (change->previous != NULL)
			restore_file(ctx, change->previous, change->previous_len);
		free(change->previous);
		dplb_control_result_free(result);
		refuse(result, "%s", error);
		result->generation = ctx->generation;
		return rc;
	}
	result->applied = true;
	result->generation = ctx->generation;
	log_changes(result, "api");
	if (change->previous != NULL)
		DPLB_LOG(NOTICE, "api: written into %s", ctx->config_path);
	free(change->previous);
	return 0;
}

/* Validate copy (taken over), diff it against the serving configuration,
 * write it into the file, and make it current unless nothing differs. The
 * file is written first, so that an answer saying "applied" means it is
 * on disk: a crash right after loses nothing. */
static int commit(struct dplb_context *ctx, struct dplb_config *copy,
		  struct dplb_control_result *result)
{
	struct pending_change change = { .ctx = ctx, .result = result, .end = committed };
	char error[DPLB_ERROR_MAX];
	int rc = dplb_config_validate(copy, &result->errors);

	if (rc == 0) {
		/* Before publishing: the old snapshot may be freed by it. */
		rc = dplb_config_diff(serving_config(ctx), copy, &result->changes);
		if (rc != 0)
			refuse(result, "out of memory");
	}
	if (rc != 0 || result->changes.count == 0) {
		dplb_config_free(copy);
		result->generation = ctx->generation;
		return rc;
	}
	if (serving_config(ctx)->persist_changes) {
		rc = dplb_config_persist(serving_config(ctx), &copy, &result->changes,
					 &change.previous, &change.previous_len, error);
		if (rc != 0) {
			DPLB_LOG(WARNING, "api: change refused: %s", error);
			dplb_config_free(copy);
			free(change.previous); /* the file was not written: nothing to put back */
			change.previous = NULL;
			return committed(&change, rc, error);
		}
	}
	return apply(&change, copy);
}

/* A modifiable copy of the serving configuration and the named VIP in it. */
static int begin(struct dplb_context *ctx, const char *vip_name, struct dplb_config **copy,
		 struct dplb_vip_config **vip, struct dplb_control_result *result)
{
	memset(result, 0, sizeof(*result));
	result->generation = ctx->generation;
	if (dplb_config_find_vip(serving_config(ctx), vip_name) == NULL) {
		refuse(result, "no VIP named \"%.64s\"", vip_name);
		return -ENOENT;
	}
	if (dplb_control_busy(ctx)) {
		refuse(result, "another change is being applied: try again");
		return -EBUSY;
	}
	*copy = dplb_config_clone(serving_config(ctx));
	if (*copy == NULL) {
		refuse(result, "out of memory");
		return -ENOMEM;
	}
	/* Ours to change: the lookup is const only for the serving one's sake. */
	*vip = (struct dplb_vip_config *)dplb_config_find_vip(*copy, vip_name);
	return 0;
}

/* The VIP's backend at at's address (either family), or NULL. */
static struct dplb_backend_config *find_backend(struct dplb_vip_config *vip,
						const struct dplb_backend_config *at)
{
	for (uint32_t i = 0; i < vip->backend_count; i++)
		if (dplb_backend_address_compare(&vip->backends[i], at) == 0)
			return &vip->backends[i];
	return NULL;
}

/* begin(), then the VIP's backend at at's address: a change to one
 * backend. -ENOENT (copy freed) when the VIP has none there. */
static int begin_on_backend(struct dplb_context *ctx, const char *vip_name,
			    const struct dplb_backend_config *at, struct dplb_config **copy,
			    struct dplb_vip_config **vip, struct dplb_backend_config **backend,
			    struct dplb_control_result *result)
{
	char text[INET6_ADDRSTRLEN];
	int rc = begin(ctx, vip_name, copy, vip, result);

	if (rc != 0)
		return rc;
	*backend = find_backend(*vip, at);
	if (*backend != NULL)
		return 0;
	refuse(result, "vip %s has no backend %s", (*vip)->name,
	       dplb_backend_address_text(at, text));
	dplb_config_free(*copy);
	return -ENOENT;
}

int dplb_control_add_backend(struct dplb_context *ctx, const char *vip_name,
			     const struct dplb_backend_config *backend,
			     struct dplb_control_result *result)
{
	struct dplb_backend_config *grown;
	struct dplb_vip_config *vip;
	struct dplb_config *copy;
	char text[INET6_ADDRSTRLEN];
	int rc = begin(ctx, vip_name, &copy, &vip, result);

	if (rc != 0)
		return rc;
	if (find_backend(vip, backend) != NULL) {
		refuse(result, "vip %s has backend %s already", vip->name,
		       dplb_backend_address_text(backend, text));
		dplb_config_free(copy);
		return -EEXIST;
	}
	grown = realloc(vip->backends, (vip->backend_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		refuse(result, "out of memory");
		dplb_config_free(copy);
		return -ENOMEM;
	}
	vip->backends = grown;
	grown[vip->backend_count] = *backend;
	grown[vip->backend_count].line = 0; /* not from the file */
	/* Checked as the VIP's other backends are, unless told otherwise. */
	vip->backend_count++;
	dplb_config_resolve_health(vip);
	return commit(ctx, copy, result);
}

int dplb_control_remove_backend(struct dplb_context *ctx, const char *vip_name,
				const struct dplb_backend_config *at,
				struct dplb_control_result *result)
{
	struct dplb_backend_config *backend;
	struct dplb_vip_config *vip;
	struct dplb_config *copy;
	int rc = begin_on_backend(ctx, vip_name, at, &copy, &vip, &backend, result);

	if (rc != 0)
		return rc;
	/* Order is kept: it is the order the API and the file show. */
	memmove(backend, backend + 1,
		(size_t)(vip->backends + vip->backend_count - (backend + 1)) * sizeof(*backend));
	vip->backend_count--;
	return commit(ctx, copy, result);
}

int dplb_control_update_backend(struct dplb_context *ctx, const char *vip_name,
				const struct dplb_backend_config *at,
				const struct dplb_backend_update *update,
				struct dplb_control_result *result)
{
	struct dplb_backend_config *backend;
	struct dplb_vip_config *vip;
	struct dplb_config *copy;
	int rc = begin_on_backend(ctx, vip_name, at, &copy, &vip, &backend, result);

	if (rc != 0)
		return rc;
	if (update->set_weight)
		backend->weight = update->weight;
	if (update->set_state)
		backend->state = update->state;
	if (update->set_mac) {
		backend->has_mac = update->has_mac;
		memset(backend->mac, 0, sizeof(backend->mac));
		if (update->has_mac)
			memcpy(backend->mac, update->mac, sizeof(backend->mac));
	}
	return commit(ctx, copy, result);
}

/* list takes a copy of from's prefixes; false when out of memory. */
static bool replace_prefixes(struct dplb_prefix_list *list, const struct dplb_prefix_list *from)
{
	struct dplb_prefix *items = malloc((from->count ? from->count : 1) * sizeof(*items));

	if (items == NULL)
		return false;
	if (from->count)
		memcpy(items, from->items, from->count * sizeof(*items));
	free(list->items);
	list->items = items;
	list->count = from->count;
	return true;
}

int dplb_control_update_protection(struct dplb_context *ctx, const char *vip_name,
				   const struct dplb_protection_update *update,
				   struct dplb_control_result *result)
{
	struct dplb_vip_config *vip;
	struct dplb_config *copy;
	int rc = begin(ctx, vip_name, &copy, &vip, result);

	if (rc != 0)
		return rc;
	if ((update->set_allow && !replace_prefixes(&vip->allow, &update->allow)) ||
	    (update->set_deny && !replace_prefixes(&vip->deny, &update->deny))) {
		refuse(result, "out of memory");
		dplb_config_free(copy);
		return -ENOMEM;
	}
	if (update->set_new_flow_rate)
		vip->new_flow_rate = update->new_flow_rate;
	if (update->set_new_flow_burst)
		vip->new_flow_burst = update->new_flow_burst;
	if (update->set_rate_limit_action)
		vip->rate_limit_action = update->rate_limit_action;
	return commit(ctx, copy, result);
}

/* A refused reload, as the operator reads it in the log. */
static void log_refusal(const struct dplb_context *ctx, const struct dplb_control_result *result)
{
	const struct dplb_config_errors *errs = &result->errors;
	const uint32_t slots = sizeof(errs->messages) / sizeof(errs->messages[0]);

	DPLB_LOG(ERR, "reload of %s refused, the previous configuration keeps serving:",
		 ctx->config_path);
	for (uint32_t i = 0; i < errs->count && i < slots; i++)
		DPLB_LOG(ERR, "%s", errs->messages[i]);
	if (errs->dropped)
		DPLB_LOG(ERR, "... and %u more errors", errs->dropped);
}

/*
 * Whether the reload to next would turn authentication off on an API that
 * others can reach (the listener now, or next's at the next start): the
 * serving configuration has a token_file, next has none and does not say
 * allow_unauthenticated = yes. Returns 0, or -EINVAL with why in error
 * (DPLB_ERROR_MAX). A weakening allowed is logged here, one refused by the
 * reload's refusal.
 */
static int check_authentication(const struct dplb_context *ctx, const struct dplb_config *next,
				char *error)
{
	const struct dplb_config *serving = serving_config(ctx);

	if (serving->token_file[0] == '\0' || next->token_file[0] != '\0' ||
	    (!ctx->api_exposed && dplb_config_listen_is_loopback(next)))
		return 0;
	if (next->allow_unauthenticated) {
		DPLB_LOG(WARNING, "warning: reload: token_file removed with allow_unauthenticated "
				  "= yes: the API, beyond loopback, takes changes from anyone");
		return 0;
	}
	snprintf(error, DPLB_ERROR_MAX,
		 "%.150s: token_file removed while the API listens "
		 "beyond loopback: set [management] allow_unauthenticated = yes to mean it",
		 next->path);
	return -EINVAL;
}

/* Read the file, diff it against what serves, refuse what needs a
 * restart: *out is what to apply. */
static int reload(struct dplb_context *ctx, struct dplb_control_result *result,
		  struct dplb_config **out)
{
	char restart[sizeof(result->changes.items[0].fields)];
	struct dplb_config *config;
	int rc = dplb_config_load(ctx->config_path, &config, &result->errors);

	if (rc != 0)
		return rc;
	if (dplb_config_diff_needs_restart(serving_config(ctx), config, restart, sizeof(restart)) >
	    0) {
		refuse(result, "%.200s: %s cannot change without a restart", ctx->config_path,
		       restart);
		dplb_config_free(config);
		return -EINVAL;
	}
	if (check_authentication(ctx, config, result->errors.messages[0]) != 0) {
		result->errors.count = 1;
		dplb_config_free(config);
		return -EINVAL;
	}
	/* Before publishing: the old snapshot may be freed by it. */
	if (dplb_config_diff(serving_config(ctx), config, &result->changes) != 0) {
		refuse(result, "out of memory");
		dplb_config_free(config);
		return -ENOMEM;
	}
	*out = config;
	return 0;
}

/* How every reload ends, refused before its snapshot or with it: counted
 * and logged. */
static int reloaded(const struct pending_change *change, int rc, const char *error)
{
	struct dplb_context *ctx = change->ctx;
	struct dplb_control_result *result = change->result;

	if (rc != 0 && error != NULL)
		refuse(result, "%s", error);
	result->generation = ctx->generation;
	if (rc != 0) {
		dplb_change_list_free(&result->changes);
		ctx->reloads_failed++;
		log_refusal(ctx, result);
		return rc;
	}
	result->applied = true;
	ctx->reloads_ok++;
	log_changes(result, "reload");
	return 0;
}

int dplb_control_reload(struct dplb_context *ctx, struct dplb_control_result *result)
{
	const struct pending_change change = { .ctx = ctx, .result = result, .end = reloaded };
	struct dplb_config *config;
	int rc;

	memset(result, 0, sizeof(*result));
	if (dplb_control_busy(ctx)) {
		/* Not a reload refused: it has not been tried. */
		refuse(result, "another change is being applied: try again");
		result->generation = ctx->generation;
		return -EBUSY;
	}
	rc = reload(ctx, result, &config);
	if (rc != 0)
		return reloaded(&change, rc, NULL);
	return apply(&change, config);
}
