/*
 * The one door for changes to the forwarding configuration: add a backend,
 * remove one, change its weight, state or next-hop MAC, change a VIP's
 * allow and deny lists or new-flow rate limit, re-read the file
 * (SIGHUP and POST /reload both call dplb_control_reload), and the first
 * configuration at start-up (dplb_start calls dplb_apply_config). The HTTP
 * handlers are thin adapters over these functions, and tests call them
 * directly.
 *
 * Every change is a transaction on a copy: the current configuration is
 * cloned (or the file read again), the copy changed, checked by
 * dplb_config_validate (the loader's own rules), and made current through
 * dplb_apply_config, the one snapshot-and-RCU path. A refused change leaves
 * everything as it was. Each call says what changed, as a diff of the
 * configurations before and after, and logs it.
 *
 * With [management] persist_changes = yes (the default), a change is
 * written into the configuration file before it is applied
 * (config_writer.h: the backend's own line edited, the file replaced
 * atomically and fsync'd), so a reload or a restart finds it, and the
 * answer comes only once it is on disk. A change is refused, and nothing
 * changes, when the file cannot be written, or no longer holds what dplb
 * read (edited behind its back: reload first); should applying fail after
 * the write, the file gets its old bytes back. With persist_changes = no,
 * changes live in memory: a later reload re-reads the file, and its diff
 * shows them undone. Reloads never write the file.
 *
 * With a state builder (ctx->builder, as the daemon runs), a change's
 * snapshot tables are built off the management lcore, so a big one (a
 * reload of thousands of backends with 16M-slot Maglev tables) does not
 * stop the API, health checks or ARP: the call returns -EINPROGRESS with
 * result->in_progress set, and ends once the management loop has published
 * the snapshot or refused it (dplb_state_builder_poll, in the management
 * tick): result->status then holds what the call would have returned, and
 * result everything else, logs and counters as ever. One change at a time:
 * while one is in flight (dplb_control_busy), the next must wait its turn
 * (the HTTP server holds its request back; SIGHUP waits) and a call made
 * anyway is refused with -EBUSY. Without a builder (start-up, unit tests)
 * every call ends before it returns.
 *
 * Every function runs on the management lcore only (it owns publishing).
 */
#ifndef DPLB_CONTROL_H
#define DPLB_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "control/config.h"
#include "control/config_diff.h"

struct dplb_context;

struct dplb_control_result {
	bool applied;			 /* a new snapshot was published */
	uint64_t generation;		 /* of the snapshot current when the call returned */
	struct dplb_change_list changes; /* free with dplb_control_result_free */
	/* Why a call was refused (count 0 when it was not). */
	struct dplb_config_errors errors;
	/* The call returned -EINPROGRESS and has not ended yet; once it has,
	 * status is what it would have returned. The result must stay where
	 * it is until then. */
	bool in_progress;
	int status;
};

/* What dplb_control_update_backend changes; unset fields stay as they are. */
struct dplb_backend_update {
	bool set_weight;
	uint32_t weight;
	bool set_state;
	enum dplb_backend_state state;
	bool set_mac; /* has_mac and mac below replace the backend's */
	bool has_mac;
	uint8_t mac[6];
};

/* What dplb_control_update_protection changes; unset fields stay as they
 * are. A list given replaces the VIP's whole list (copied: the caller
 * keeps its own). */
struct dplb_protection_update {
	bool set_allow;
	struct dplb_prefix_list allow;
	bool set_deny;
	struct dplb_prefix_list deny;
	bool set_new_flow_rate;
	uint32_t new_flow_rate;
	bool set_new_flow_burst;
	uint32_t new_flow_burst;
	bool set_rate_limit_action;
	enum dplb_rate_limit_action rate_limit_action;
};

/*
 * Each returns 0 (result says what changed; nothing may have, then applied
 * is false) or a negative errno with result->errors saying why:
 *   -ENOENT  no such VIP, or no such backend in it
 *   -EEXIST  the VIP has that backend already (add)
 *   -EINVAL  the changed configuration breaks a rule (bad weight, a VIP
 *            left without backends, ...), or the file is invalid (reload)
 *   -ESTALE  the file changed since dplb read it (persisting: reload first)
 *   -EACCES, -EPERM, -EROFS, -ENOSPC, -EIO, ...: the file cannot be written
 *   -ENOMEM, or what building the snapshot returned
 *   -EBUSY   another change is in flight (dplb_control_busy); nothing done
 *   -EINPROGRESS  with a builder: the call ends later, see above
 * result must be freed with dplb_control_result_free either way (once the
 * call has ended).
 */
int dplb_control_add_backend(struct dplb_context *ctx, const char *vip,
			     const struct dplb_backend_config *backend,
			     struct dplb_control_result *result);
/* The backend to remove or update is the VIP's at at's address, of either
 * family (family, address, address6: nothing else of at is read). */
int dplb_control_remove_backend(struct dplb_context *ctx, const char *vip,
				const struct dplb_backend_config *at,
				struct dplb_control_result *result);
int dplb_control_update_backend(struct dplb_context *ctx, const char *vip,
				const struct dplb_backend_config *at,
				const struct dplb_backend_update *update,
				struct dplb_control_result *result);
/* Whether a change is in flight (its snapshot being built): the next one
 * waits for its end. */
bool dplb_control_busy(const struct dplb_context *ctx);

/* A VIP's protection (packet/protect.h): its allow and deny lists, its
 * new_flow_rate, new_flow_burst and rate_limit_action. -EINVAL as above
 * for what the loader refuses too (a prefix twice, a stateless action on
 * a round-robin VIP, ...). */
int dplb_control_update_protection(struct dplb_context *ctx, const char *vip,
				   const struct dplb_protection_update *update,
				   struct dplb_control_result *result);
/*
 * Make config (taken over, freed on failure) current: build its snapshot,
 * publish it, start checking its new backends. The path of the first
 * configuration, and of reloads and API changes without a builder; it
 * builds the tables before it returns, whatever ctx->builder, and does not
 * validate (the callers have). Returns 0 or a negative errno with error
 * (DPLB_ERROR_MAX bytes) saying why (-EBUSY while a change is in flight);
 * the old state then keeps serving. Management lcore (main lcore at
 * start-up).
 */
int dplb_apply_config(struct dplb_context *ctx, struct dplb_config *config, char *error);

/*
 * Re-read the configuration file and make it current, as SIGHUP and
 * POST /reload ask. Returns as the calls above do; -EINVAL also when the
 * file changes a key that needs a restart (ports, flow_table_size, mtu,
 * mbufs) or drops token_file on an API others can reach without
 * allow_unauthenticated = yes, and what dplb_config_load returned when the file cannot be read.
 * Counts the reload (reloads_ok or reloads_failed) and logs what it
 * changed, or why it was refused.
 */
int dplb_control_reload(struct dplb_context *ctx, struct dplb_control_result *result);

void dplb_control_result_free(struct dplb_control_result *result);

#endif
