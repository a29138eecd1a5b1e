/*
 * The API's resources and their handlers. A handler checks what the HTTP
 * request says (path, query, JSON body) and hands the rest to a view or a
 * control operation: every rule about what a valid change is lives in
 * control.c and config.c, never here.
 *
 *   GET    /healthz                          liveness and a summary
 *   GET    /stats                            every counter, JSON
 *   GET    /metrics                          every counter, Prometheus
 *   POST   /reload                           re-read the INI file
 *   GET    /vips                             every VIP with its backends
 *   GET    /vips/NAME                        one VIP, with Maglev shares
 *   PATCH  /vips/NAME                        change {"allow", "deny", "new_flow_rate",
 *                                            "new_flow_burst", "rate_limit_action"}
 *   GET    /vips/NAME/lookup?src=&sport=[&dport=]   a new flow's backend
 *   GET    /vips/NAME/backends               its backends
 *   POST   /vips/NAME/backends               add {"address", "weight", "state", "mac"}
 *   GET    /vips/NAME/backends/ADDRESS       one backend
 *   PATCH  /vips/NAME/backends/ADDRESS       change {"weight", "state", "mac"}
 *   DELETE /vips/NAME/backends/ADDRESS       remove it
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_routes.h"
#include "api/prometheus.h"
#include "api/utf8.h"
#include "common/values.h"
#include "control/control.h"

typedef void (*api_handler)(const struct api_call *call, struct api_reply *reply);

struct api_route {
	const char *pattern; /* "*" matches one segment */
	const char *method;
	api_handler handle;
	bool changes_state;
};

/* ---- replies ------------------------------------------------------------- */

/*
 * A message as a JSON string. Messages echo request input, and a "%.64s"
 * may cut a character in two: jansson would refuse the string, and the
 * client would get no answer at all. Such bytes become '?'.
 */
static json_t *json_message(const char *message)
{
	char repaired[DPLB_ERROR_MAX + 64];

	snprintf(repaired, sizeof(repaired), "%s", message);
	dplb_utf8_repair(repaired);
	return json_string(repaired);
}

void dplb_api_error(struct api_reply *reply, unsigned int status, const char *fmt, ...)
{
	char message[DPLB_ERROR_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json_decref(reply->json);
	reply->status = status;
	reply->json = json_pack("{so}", "error", json_message(message));
}

static void reply_json(struct api_reply *reply, unsigned int status, json_t *json)
{
	if (json == NULL) {
		dplb_api_error(reply, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return;
	}
	reply->status = status;
	reply->json = json;
}

/* A refused change: the first reason as "error", all of them as "errors". */
static void reply_refused(struct api_reply *reply, unsigned int status,
			  const struct dplb_control_result *result)
{
	const struct dplb_config_errors *errs = &result->errors;
	json_t *all = json_array();

	dplb_api_error(reply, status, "%s", errs->count ? errs->messages[0] : "refused");
	for (uint32_t i = 0; i < errs->count && i < RTE_DIM(errs->messages); i++)
		json_array_append_new(all, json_message(errs->messages[i]));
	json_object_set_new(reply->json, "errors", all);
	if (errs->dropped)
		json_object_set_new(reply->json, "more_errors", json_integer(errs->dropped));
}

/* A control operation's outcome as HTTP. */
static void reply_control(struct api_reply *reply, int rc, unsigned int ok_status,
			  unsigned int invalid_status, const struct dplb_control_result *result)
{
	switch (rc) {
	case 0:
		reply_json(reply, ok_status, dplb_view_control_result(result));
		return;
	case -ENOENT:
		reply_refused(reply, MHD_HTTP_NOT_FOUND, result);
		return;
	case -EEXIST:
	case -ESTALE: /* the file was edited behind dplb's back: reload first */
		reply_refused(reply, MHD_HTTP_CONFLICT, result);
		return;
	case -EINVAL:
		reply_refused(reply, invalid_status, result);
		return;
	case -ENOMEM:
	case -EBUSY: /* another change in flight: the server holds requests back, though */
		reply_refused(reply, MHD_HTTP_SERVICE_UNAVAILABLE, result);
		return;
	case -ENOSPC:
	case -EDQUOT:
		reply_refused(reply, MHD_HTTP_INSUFFICIENT_STORAGE, result);
		return;
	default:
		reply_refused(reply, MHD_HTTP_INTERNAL_SERVER_ERROR, result);
		return;
	}
}

/* A change's outcome as the answer: now, or once its snapshot is published
 * or refused (dplb_api_finish), so that a 2xx means it serves. */
static void answer_control(struct api_reply *reply, int rc, unsigned int ok_status,
			   unsigned int invalid_status)
{
	if (rc == -EINPROGRESS) {
		reply->deferred = true;
		reply->ok_status = ok_status;
		reply->invalid_status = invalid_status;
		return;
	}
	reply_control(reply, rc, ok_status, invalid_status, &reply->control);
	if (rc != 0)
		reply->location[0] = '\0';
	dplb_control_result_free(&reply->control);
}

void dplb_api_finish(struct api_reply *reply)
{
	reply->deferred = false;
	answer_control(reply, reply->control.status, reply->ok_status, reply->invalid_status);
}

/* ---- request parts --------------------------------------------------------- */

static const struct dplb_vip_entry *vip_or_404(const struct api_call *call, struct api_reply *reply)
{
	const char *name = call->target->segments[1];
	const struct dplb_vip_entry *vip = dplb_view_find_vip(call->ctx, name);

	if (vip == NULL)
		dplb_api_error(reply, MHD_HTTP_NOT_FOUND, "no VIP named \"%.64s\"", name);
	return vip;
}

/* The backend address in the path, IPv4 or IPv6, into at's family,
 * address and address6; false (and a 400) when it is not one. */
static bool path_address(const struct api_call *call, struct api_reply *reply,
			 struct dplb_backend_config *at)
{
	const char *text = call->target->segments[3];
	const char *why =
		dplb_parse_ip(text, strlen(text), &at->family, &at->address, at->address6);

	if (why != NULL)
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "bad backend address \"%.64s\" (%s)",
			       text, why);
	return why == NULL;
}

/* A port number from the query string; false when absent or not one. */
static bool query_port(const char *text, uint32_t *out)
{
	uint64_t value;

	if (text == NULL || dplb_parse_unsigned(text, strlen(text), 0, 65535, &value) != 0)
		return false;
	*out = (uint32_t)value;
	return true;
}

struct query_check {
	const char *const *known;
	const char *unknown;
};

static enum MHD_Result note_unknown_argument(void *cls, enum MHD_ValueKind kind, const char *key,
					     const char *value)
{
	struct query_check *check = cls;

	(void)kind;
	(void)value;
	for (const char *const *k = check->known; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return MHD_YES;
	check->unknown = key;
	return MHD_NO;
}

/* A typo in a parameter name must not pass for "use the default". */
static bool only_known_arguments(const struct api_call *call, struct api_reply *reply,
				 const char *const *known)
{
	struct query_check check = { known, NULL };

	MHD_get_connection_values(call->connection, MHD_GET_ARGUMENT_KIND, note_unknown_argument,
				  &check);
	if (check.unknown != NULL)
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "unknown query parameter \"%.64s\"",
			       check.unknown);
	return check.unknown == NULL;
}

/* The body as a JSON object; NULL (and a 400) otherwise. */
static json_t *body_object(const struct api_call *call, struct api_reply *reply)
{
	json_error_t error;
	json_t *body;

	if (call->body_length == 0) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "the request needs a JSON object body");
		return NULL;
	}
	body = json_loadb(call->body, call->body_length, JSON_REJECT_DUPLICATES, &error);
	if (body == NULL) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
			       "malformed JSON at line %d column %d: %s", error.line, error.column,
			       error.text);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "the body must be a JSON object");
		return NULL;
	}
	return body;
}

/* A misspelt field must not be silently ignored. */
static bool only_known_fields(json_t *body, const char *const *known, struct api_reply *reply)
{
	const char *key;
	json_t *value;

	json_object_foreach(body, key, value)
	{
		const char *const *k;

		for (k = known; *k != NULL && strcmp(*k, key) != 0; k++)
			;
		if (*k == NULL) {
			dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "unknown field \"%.64s\"", key);
			return false;
		}
	}
	return true;
}

/*
 * The backend fields a body may carry. Only their form is checked here
 * (a whole number, a known state name, a MAC's syntax); whether a weight is
 * in range is the configuration's rule, checked by the control operation.
 */
static bool backend_fields(json_t *body, struct dplb_backend_update *update,
			   struct api_reply *reply)
{
	json_t *weight = json_object_get(body, "weight");
	json_t *state = json_object_get(body, "state");
	json_t *mac = json_object_get(body, "mac");
	const char *why;

	if (weight != NULL) {
		if (!json_is_integer(weight) || json_integer_value(weight) < 0 ||
		    json_integer_value(weight) > UINT32_MAX) {
			dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
				       "weight must be a whole number (1..%u)", DPLB_MAX_WEIGHT);
			return false;
		}
		update->set_weight = true;
		update->weight = (uint32_t)json_integer_value(weight);
	}
	if (state != NULL) {
		if (!json_is_string(state) ||
		    dplb_backend_state_parse(json_string_value(state), &update->state) != 0) {
			dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
				       "state must be \"up\", \"drain\" or \"down\"");
			return false;
		}
		update->set_state = true;
	}
	if (mac != NULL) {
		update->set_mac = true;
		update->has_mac = !json_is_null(mac);
		if (update->has_mac) {
			why = json_is_string(mac)
				      ? dplb_parse_mac(json_string_value(mac),
						       json_string_length(mac), update->mac)
				      : "expected a string or null";
			if (why != NULL) {
				dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "bad mac (%s)", why);
				return false;
			}
		}
	}
	return true;
}

/*
 * A list of prefixes from a JSON array of strings, into list (malloc'd,
 * the caller frees it); false (and a 400 naming the first bad one) when it
 * is not one. Only the form is checked here; the list's rules (each prefix
 * once, how many) are the configuration's.
 */
static bool prefix_list_field(json_t *body, const char *name, bool *set,
			      struct dplb_prefix_list *list, struct api_reply *reply)
{
	json_t *array = json_object_get(body, name), *item;
	size_t i;

	if (array == NULL)
		return true;
	if (!json_is_array(array) || json_array_size(array) > DPLB_MAX_PREFIXES_PER_VIP) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
			       "%s must be an array of at most %u "
			       "prefixes such as \"10.0.0.0/8\"",
			       name, DPLB_MAX_PREFIXES_PER_VIP);
		return false;
	}
	list->items = malloc((json_array_size(array) + 1) * sizeof(*list->items));
	if (list->items == NULL) {
		dplb_api_error(reply, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return false;
	}
	json_array_foreach(array, i, item)
	{
		const char *why = json_is_string(item)
					  ? dplb_parse_prefix(json_string_value(item),
							      json_string_length(item),
							      &list->items[list->count])
					  : "expected a string";

		if (why != NULL) {
			dplb_api_error(
				reply, MHD_HTTP_BAD_REQUEST, "bad prefix \"%.64s\" in %s (%s)",
				json_is_string(item) ? json_string_value(item) : "?", name, why);
			return false;
		}
		list->count++;
	}
	*set = true;
	return true;
}

/* A whole number 0..max from the body; false (and a 400) otherwise. */
static bool count_field(json_t *body, const char *name, uint32_t max, bool *set, uint32_t *out,
			struct api_reply *reply)
{
	json_t *value = json_object_get(body, name);

	if (value == NULL)
		return true;
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > max) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "%s must be a whole number (0..%u)",
			       name, max);
		return false;
	}
	*set = true;
	*out = (uint32_t)json_integer_value(value);
	return true;
}

/* ---- reads ----------------------------------------------------------------- */

static void get_health(const struct api_call *call, struct api_reply *reply)
{
	reply_json(reply, MHD_HTTP_OK, dplb_view_health(call->ctx));
}

static void get_stats(const struct api_call *call, struct api_reply *reply)
{
	reply_json(reply, MHD_HTTP_OK, dplb_view_stats(call->ctx, call->rates));
}

static void get_metrics(const struct api_call *call, struct api_reply *reply)
{
	reply->text = dplb_prometheus_render(call->ctx, &reply->text_length);
	if (reply->text == NULL) {
		dplb_api_error(reply, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return;
	}
	reply->status = MHD_HTTP_OK;
	reply->content_type = DPLB_PROMETHEUS_CONTENT_TYPE;
}

static void get_vips(const struct api_call *call, struct api_reply *reply)
{
	reply_json(reply, MHD_HTTP_OK, dplb_view_vips(call->ctx));
}

static void get_vip(const struct api_call *call, struct api_reply *reply)
{
	const struct dplb_vip_entry *vip = vip_or_404(call, reply);

	if (vip != NULL)
		reply_json(reply, MHD_HTTP_OK, dplb_view_vip(call->ctx, vip, true, true));
}

static void get_backends(const struct api_call *call, struct api_reply *reply)
{
	const struct dplb_vip_entry *vip = vip_or_404(call, reply);

	if (vip != NULL)
		reply_json(reply, MHD_HTTP_OK, dplb_view_backends(call->ctx, vip));
}

static void get_backend(const struct api_call *call, struct api_reply *reply)
{
	const struct dplb_vip_entry *vip = vip_or_404(call, reply);
	struct dplb_backend_config at = { 0 };
	int64_t id;

	if (vip == NULL || !path_address(call, reply, &at))
		return;
	id = dplb_view_find_backend(call->ctx, vip, &at);
	if (id < 0) {
		dplb_api_error(reply, MHD_HTTP_NOT_FOUND, "vip %s has no backend %s",
			       vip->config->name, call->target->segments[3]);
		return;
	}
	reply_json(reply, MHD_HTTP_OK, dplb_view_backend(call->ctx, vip, (uint32_t)id));
}

static void get_lookup(const struct api_call *call, struct api_reply *reply)
{
	static const char *const known[] = { "src", "sport", "dport", NULL };
	const struct dplb_vip_entry *vip = vip_or_404(call, reply);
	const char *src_text, *sport_text, *dport_text, *why;
	uint32_t src, sport, dport;
	uint8_t family, src6[16];

	if (vip == NULL || !only_known_arguments(call, reply, known))
		return;
	src_text = MHD_lookup_connection_value(call->connection, MHD_GET_ARGUMENT_KIND, "src");
	sport_text = MHD_lookup_connection_value(call->connection, MHD_GET_ARGUMENT_KIND, "sport");
	dport_text = MHD_lookup_connection_value(call->connection, MHD_GET_ARGUMENT_KIND, "dport");
	if (src_text == NULL) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "src=CLIENT_ADDRESS is required");
		return;
	}
	why = dplb_parse_ip(src_text, strlen(src_text), &family, &src, src6);
	if (why != NULL) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "bad src \"%.64s\" (%s)", src_text,
			       why);
		return;
	}
	/* A flow's source and destination are of one family. */
	if (family != vip->family) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "vip %s is %s: src must be too",
			       vip->config->name, vip->family == AF_INET6 ? "IPv6" : "IPv4");
		return;
	}
	if (!query_port(sport_text, &sport)) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "sport=0..65535 is required");
		return;
	}
	/* A VIP on one port needs no dport; one on every port does. */
	dport = vip->config->port;
	if (dport_text != NULL && !query_port(dport_text, &dport)) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "bad dport \"%.64s\" (0..65535)",
			       dport_text);
		return;
	}
	if (dport_text == NULL && dport == 0) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
			       "dport=N is required: the VIP serves every port");
		return;
	}
	if (vip->config->port != 0 && dport != vip->config->port) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "vip %s serves port %u only",
			       vip->config->name, vip->config->port);
		return;
	}
	reply_json(reply, MHD_HTTP_OK,
		   dplb_view_lookup(call->ctx, vip, src, family == AF_INET6 ? src6 : NULL,
				    rte_cpu_to_be_16((uint16_t)sport),
				    rte_cpu_to_be_16((uint16_t)dport)));
}

/* ---- changes --------------------------------------------------------------- */

static void post_backend(const struct api_call *call, struct api_reply *reply)
{
	static const char *const known[] = { "address", "weight", "state", "mac", NULL };
	const char *name = call->target->segments[1];
	struct dplb_backend_update fields = { 0 };
	struct dplb_backend_config backend = { .weight = 1, .state = DPLB_BACKEND_UP };
	json_t *body = body_object(call, reply), *address;
	const char *why = "expected a string";
	char text[INET6_ADDRSTRLEN];
	int rc;

	if (body == NULL)
		return;
	if (!only_known_fields(body, known, reply) || !backend_fields(body, &fields, reply))
		goto out;
	address = json_object_get(body, "address");
	if (address == NULL) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "address is required");
		goto out;
	}
	if (json_is_string(address))
		why = dplb_parse_ip(json_string_value(address), json_string_length(address),
				    &backend.family, &backend.address, backend.address6);
	if (why != NULL) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST, "bad address (%s)", why);
		goto out;
	}
	if (fields.set_weight)
		backend.weight = fields.weight;
	if (fields.set_state)
		backend.state = fields.state;
	backend.has_mac = fields.set_mac && fields.has_mac;
	if (backend.has_mac)
		memcpy(backend.mac, fields.mac, sizeof(backend.mac));

	rc = dplb_control_add_backend(call->ctx, name, &backend, &reply->control);
	/* Dropped by answer_control unless the backend was added. */
	snprintf(reply->location, sizeof(reply->location), "/vips/%s/backends/%s", name,
		 dplb_backend_address_text(&backend, text));
	answer_control(reply, rc, MHD_HTTP_CREATED, MHD_HTTP_BAD_REQUEST);
out:
	json_decref(body);
}

static void patch_backend(const struct api_call *call, struct api_reply *reply)
{
	static const char *const known[] = { "weight", "state", "mac", NULL };
	struct dplb_backend_update update = { 0 };
	struct dplb_backend_config at = { 0 };
	json_t *body;
	int rc;

	if (!path_address(call, reply, &at))
		return;
	body = body_object(call, reply);
	if (body == NULL)
		return;
	if (!only_known_fields(body, known, reply) || !backend_fields(body, &update, reply))
		goto out;
	if (!update.set_weight && !update.set_state && !update.set_mac) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
			       "nothing to change: give weight, state or mac");
		goto out;
	}
	rc = dplb_control_update_backend(call->ctx, call->target->segments[1], &at, &update,
					 &reply->control);
	answer_control(reply, rc, MHD_HTTP_OK, MHD_HTTP_BAD_REQUEST);
out:
	json_decref(body);
}

static void patch_vip(const struct api_call *call, struct api_reply *reply)
{
	static const char *const known[] = {
		"allow", "deny", "new_flow_rate", "new_flow_burst", "rate_limit_action", NULL
	};
	struct dplb_protection_update update = { 0 };
	json_t *body = body_object(call, reply), *action;
	int rc;

	if (body == NULL)
		return;
	if (!only_known_fields(body, known, reply) ||
	    !prefix_list_field(body, "allow", &update.set_allow, &update.allow, reply) ||
	    !prefix_list_field(body, "deny", &update.set_deny, &update.deny, reply) ||
	    !count_field(body, "new_flow_rate", DPLB_MAX_NEW_FLOW_RATE, &update.set_new_flow_rate,
			 &update.new_flow_rate, reply) ||
	    !count_field(body, "new_flow_burst", DPLB_MAX_NEW_FLOW_RATE, &update.set_new_flow_burst,
			 &update.new_flow_burst, reply))
		goto out;
	action = json_object_get(body, "rate_limit_action");
	if (action != NULL) {
		if (!json_is_string(action) ||
		    dplb_rate_limit_action_parse(json_string_value(action),
						 &update.rate_limit_action) != 0) {
			dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
				       "rate_limit_action must be \"drop\" or \"stateless\"");
			goto out;
		}
		update.set_rate_limit_action = true;
	}
	if (json_object_size(body) == 0) {
		dplb_api_error(reply, MHD_HTTP_BAD_REQUEST,
			       "nothing to change: give allow, deny, "
			       "new_flow_rate, new_flow_burst or rate_limit_action");
		goto out;
	}
	rc = dplb_control_update_protection(call->ctx, call->target->segments[1], &update,
					    &reply->control);
	answer_control(reply, rc, MHD_HTTP_OK, MHD_HTTP_BAD_REQUEST);
out:
	free(update.allow.items);
	free(update.deny.items);
	json_decref(body);
}

static void delete_backend(const struct api_call *call, struct api_reply *reply)
{
	struct dplb_backend_config at = { 0 };
	int rc;

	if (!path_address(call, reply, &at))
		return;
	rc = dplb_control_remove_backend(call->ctx, call->target->segments[1], &at,
					 &reply->control);
	answer_control(reply, rc, MHD_HTTP_OK, MHD_HTTP_BAD_REQUEST);
}

static void post_reload(const struct api_call *call, struct api_reply *reply)
{
	int rc = dplb_control_reload(call->ctx, &reply->control);

	/* A file that does not validate is not the request's fault: 422. */
	answer_control(reply, rc, MHD_HTTP_OK, MHD_HTTP_UNPROCESSABLE_CONTENT);
}

/* ---- routing --------------------------------------------------------------- */

static const struct api_route routes[] = {
	{ "/healthz", "GET", get_health, false },
	{ "/stats", "GET", get_stats, false },
	{ "/metrics", "GET", get_metrics, false },
	{ "/reload", "POST", post_reload, true },
	{ "/vips", "GET", get_vips, false },
	{ "/vips/*", "GET", get_vip, false },
	{ "/vips/*", "PATCH", patch_vip, true },
	{ "/vips/*/lookup", "GET", get_lookup, false },
	{ "/vips/*/backends", "GET", get_backends, false },
	{ "/vips/*/backends", "POST", post_backend, true },
	{ "/vips/*/backends/*", "GET", get_backend, false },
	{ "/vips/*/backends/*", "PATCH", patch_backend, true },
	{ "/vips/*/backends/*", "DELETE", delete_backend, true },
};

static bool pattern_matches(const char *pattern, const struct api_target *target)
{
	unsigned int i = 0;

	while (*pattern == '/') {
		const char *segment = ++pattern;
		const size_t len = strcspn(segment, "/");

		if (i == target->segment_count)
			return false;
		if (!(len == 1 && *segment == '*') && (strlen(target->segments[i]) != len ||
						       memcmp(target->segments[i], segment, len)))
			return false;
		pattern += len;
		i++;
	}
	return i == target->segment_count;
}

/* Split "/a/b/c" into segments; empty ones ("//", a trailing "/") are skipped. */
static bool split_path(const char *url, struct api_target *target)
{
	target->segment_count = 0;
	while (*url != '\0') {
		const size_t len = strcspn(url, "/");

		if (len > 0) {
			if (target->segment_count == DPLB_API_MAX_SEGMENTS ||
			    len >= DPLB_API_SEGMENT_MAX)
				return false;
			memcpy(target->segments[target->segment_count], url, len);
			target->segments[target->segment_count++][len] = '\0';
		}
		url += len;
		url += *url == '/';
	}
	return true;
}

void dplb_api_match(const char *url, const char *method, struct api_target *target)
{
	const char *wanted = strcmp(method, "HEAD") == 0 ? "GET" : method;
	size_t used = 0;

	memset(target, 0, sizeof(*target));
	target->status = MHD_HTTP_NOT_FOUND;
	if (!split_path(url, target))
		return;
	for (size_t i = 0; i < RTE_DIM(routes); i++) {
		if (!pattern_matches(routes[i].pattern, target))
			continue;
		if (strcmp(routes[i].method, wanted) == 0) {
			target->route = &routes[i];
			target->changes_state = routes[i].changes_state;
			return;
		}
		target->status = MHD_HTTP_METHOD_NOT_ALLOWED;
		used += (size_t)snprintf(target->allow + used, sizeof(target->allow) - used,
					 "%s%s%s", used ? ", " : "", routes[i].method,
					 strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
	}
}

void dplb_api_handle(const struct api_call *call, struct api_reply *reply)
{
	call->target->route->handle(call, reply);
}
