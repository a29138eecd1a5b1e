/*
 * The management endpoint: HTTP (libmicrohttpd) on the management lcore,
 * without a thread of its own. The management loop waits on it instead of
 * sleeping (dplb_api_wait), then lets it answer whatever is ready
 * (dplb_api_poll), so requests are answered within a loop iteration and
 * every handler runs where snapshots are published and freed.
 *
 * The resources are listed in api_routes.c and documented in docs/api.md.
 */
#ifndef DPLB_API_H
#define DPLB_API_H

#include "control/context.h"

/* Bodies above this are refused with 413. */
#define DPLB_API_BODY_LIMIT (64 * 1024)

struct dplb_api;

/*
 * Listen on the current configuration's [management] listen address and
 * read its token file. Returns NULL, with the reason in error (size
 * DPLB_ERROR_MAX), when it cannot. Management lcore, after dplb_start.
 */
struct dplb_api *dplb_api_start(struct dplb_context *ctx, char *error);

/* Answer every request that is ready; never blocks. Management lcore. */
void dplb_api_poll(struct dplb_api *api);

/* The health checker's, the state builder's and a tap per port. */
#define DPLB_API_WAIT_MAX_FDS 16

/*
 * Sleep at most max_ms, less when a client needs an answer or one of
 * other_fds (count of them, at most DPLB_API_WAIT_MAX_FDS: the health
 * checker's, the state builder's, the exception path's taps; -1 for none)
 * is readable. Call without the management lock held.
 */
void dplb_api_wait(struct dplb_api *api, const int *other_fds, unsigned int count,
		   unsigned int max_ms);

/* Close every connection and the listening socket, those of requests held
 * back too (unanswered). NULL is fine. End the change in flight first
 * (dplb_state_builder_free): its request holds its result. */
void dplb_api_stop(struct dplb_api *api);

#endif
