/*
 * The HTTP API's resources: which paths exist, which methods each takes,
 * which of them change state (and so need the token), and the handlers,
 * thin adapters from HTTP to the JSON views (api_views.h) and the control
 * operations (control.h). The transport (libmicrohttpd, body limits,
 * authentication) is api_server.c's. Management lcore only.
 */
#ifndef DPLB_API_ROUTES_H
#define DPLB_API_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api_views.h"
#include "control/context.h"
#include "control/control.h"

#define DPLB_API_MAX_SEGMENTS 5
#define DPLB_API_SEGMENT_MAX 128

struct api_route;

/* A request's path matched against the routes. */
struct api_target {
	const struct api_route *route; /* NULL: see status */
	unsigned int status;	       /* 404 or 405 when route is NULL */
	char allow[64];		       /* the path's methods, for 405's Allow */
	bool changes_state;	       /* needs the token when one is set */
	unsigned int segment_count;
	char segments[DPLB_API_MAX_SEGMENTS][DPLB_API_SEGMENT_MAX];
};

/* What a handler answers; the server sends it and frees what it owns. */
struct api_reply {
	/* A change whose snapshot is still being built (control.h): the
	 * answer is made by dplb_api_finish once control.in_progress is
	 * false, and the reply must stay where it is until then. */
	bool deferred;
	unsigned int ok_status, invalid_status; /* for dplb_api_finish */
	struct dplb_control_result control;	/* of the change */
	unsigned int status;
	json_t *json; /* the body, or NULL for text */
	char *text;   /* malloc'd body when json is NULL */
	size_t text_length;
	const char *content_type; /* of text */
	char location[192];	  /* Location header, for 201 */
	char allow[64];		  /* Allow header, for 405 */
	bool challenge;		  /* WWW-Authenticate, for 401 */
};

struct api_call {
	struct dplb_context *ctx;
	struct dplb_rate_memory *rates;
	struct MHD_Connection *connection; /* for query arguments */
	const struct api_target *target;
	const char *body;
	size_t body_length;
};

/* Match a (decoded) URL path and method. HEAD is served as GET. */
void dplb_api_match(const char *url, const char *method, struct api_target *target);

/* Run the matched route's handler. reply may be deferred: see api_reply. */
void dplb_api_handle(const struct api_call *call, struct api_reply *reply);

/* The answer of a deferred reply, once its change has ended. */
void dplb_api_finish(struct api_reply *reply);

/* reply = status with {"error": message}. */
void dplb_api_error(struct api_reply *reply, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
