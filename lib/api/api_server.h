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

/*
 * Sleep at most max_ms, less when a client needs an answer or other_fd
 * (the health checker's, or -1) is readable. Call without the management
 * lock held.
 */
void dplb_api_wait(struct dplb_api *api, int other_fd, unsigned int max_ms);

/* Close every connection and the listening socket. NULL is fine. */
void dplb_api_stop(struct dplb_api *api);

#endif
