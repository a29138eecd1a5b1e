/*
 * Runtime changes to the forwarding configuration: add a backend, remove
 * one, change its weight, state or next-hop MAC, re-read the file. The
 * HTTP handlers are thin adapters over these functions, and tests call them
 * directly.
 *
 * Every change is a transaction on a copy: the current configuration is
 * cloned, the copy changed, checked by dplb_config_validate (the loader's
 * own rules), and made current through dplb_apply_config, the same
 * snapshot-and-RCU path as a reload. A refused change leaves everything as
 * it was. Each call says what changed, as a diff of the configurations
 * before and after.
 *
 * Changes made here live in memory: a later reload re-reads the file, and
 * its diff shows them undone.
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
	bool applied;        /* a new snapshot was published */
	uint64_t generation; /* of the snapshot current when the call returned */
	struct dplb_change_list changes; /* free with dplb_control_result_free */
	/* Why a call was refused (count 0 when it was not). */
	struct dplb_config_errors errors;
};

/* What dplb_control_update_backend changes; unset fields stay as they are. */
struct dplb_backend_update {
	bool set_weight;
	uint32_t weight;
	bool set_state;
	enum dplb_backend_state state;
	bool set_mac;      /* has_mac and mac below replace the backend's */
	bool has_mac;
	uint8_t mac[6];
};

/*
 * Each returns 0 (result says what changed; nothing may have, then applied
 * is false) or a negative errno with result->errors saying why:
 *   -ENOENT  no such VIP, or no such backend in it
 *   -EEXIST  the VIP has that backend already (add)
 *   -EINVAL  the changed configuration breaks a rule (bad weight, a VIP
 *            left without backends, ...), or the file is invalid (reload)
 *   -ENOMEM, or what building the snapshot returned
 * result must be freed with dplb_control_result_free either way.
 */
int dplb_control_add_backend(struct dplb_context *ctx, const char *vip,
			     const struct dplb_backend_config *backend,
			     struct dplb_control_result *result);
int dplb_control_remove_backend(struct dplb_context *ctx, const char *vip, uint32_t address,
				struct dplb_control_result *result);
int dplb_control_update_backend(struct dplb_context *ctx, const char *vip, uint32_t address,
				const struct dplb_backend_update *update,
				struct dplb_control_result *result);
/*
 * Re-read the configuration file and make it current. On any error the old
 * state keeps serving and errs (may be NULL) says why. Management lcore.
 */
int dplb_reload(struct dplb_context *ctx, struct dplb_config_errors *errs);

/* Replace the state with one built from config (taken over): the common
 * path of reloads and, later, API changes. Management lcore. */
int dplb_apply_config(struct dplb_context *ctx, struct dplb_config *config, char *error);

/*
 * Whether the reload to next would turn authentication off on an API that
 * others can reach (the listener now, or next's at the next start): the
 * serving configuration has a token_file, next has none and does not say
 * allow_unauthenticated = yes. Returns 0, or -EINVAL with why in error
 * (DPLB_ERROR_MAX); logs the weakening either way. Management lcore.
 */
int dplb_control_check_authentication(const struct dplb_context *ctx,
				      const struct dplb_config *next, char *error);

/* Re-read the configuration file (dplb_reload) and say what it changed. */
int dplb_control_reload(struct dplb_context *ctx, struct dplb_control_result *result);

void dplb_control_result_free(struct dplb_control_result *result);

#endif
