/*
 * What differs between two configurations: settings, VIPs and backends
 * (matched by VIP name and backend address, their stable identities). It
 * is how every change made at runtime, by the API or a reload, says what it
 * changed. Pure C, no DPDK: unit tested with the loader.
 */
#ifndef DPLB_CONFIG_DIFF_H
#define DPLB_CONFIG_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "control/config.h"

enum dplb_change_kind {
	DPLB_CHANGE_SETTINGS, /* [dataplane] or [management] keys */
	DPLB_CHANGE_VIP_ADDED,
	DPLB_CHANGE_VIP_REMOVED,
	DPLB_CHANGE_VIP_MODIFIED,
	DPLB_CHANGE_BACKEND_ADDED,
	DPLB_CHANGE_BACKEND_REMOVED,
	DPLB_CHANGE_BACKEND_MODIFIED,
};

/* One difference between the configuration before and after. */
struct dplb_change {
	enum dplb_change_kind kind;
	char vip[DPLB_NAME_MAX];	   /* empty for SETTINGS */
	struct dplb_backend_config before; /* BACKEND_REMOVED and _MODIFIED */
	struct dplb_backend_config after;  /* BACKEND_ADDED and _MODIFIED */
	/* SETTINGS, VIP_MODIFIED, BACKEND_MODIFIED: the keys that differ, named
	 * as in the INI file, comma-separated. */
	char fields[192];
};

struct dplb_change_list {
	uint32_t count;
	struct dplb_change *items; /* malloc'd */
};

/*
 * Append the differences from before to after to list (settings first, then
 * each VIP of after in order with its backends, then what went away).
 * Returns 0 or -ENOMEM (list keeps what was appended). Any thread.
 */
int dplb_config_diff(const struct dplb_config *before, const struct dplb_config *after,
		     struct dplb_change_list *list);

/*
 * The keys that differ from before to after and take effect only at
 * start-up (ports, flow_table_size, mtu, mbufs: marked so in the diff's
 * table), comma-separated into out as in dplb_change.fields. Returns how
 * many differ: a reload refuses a change of any. Any thread.
 */
size_t dplb_config_diff_needs_restart(const struct dplb_config *before,
				      const struct dplb_config *after, char *out, size_t out_size);

void dplb_change_list_free(struct dplb_change_list *list);

/* "backend_added", "settings", ...: the names API responses use. */
const char *dplb_change_kind_name(enum dplb_change_kind kind);

#endif
