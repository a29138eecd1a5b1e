/*
 * Diffing two configurations. Settings and VIP keys are compared through
 * tables of {INI key, member}, so a new key is one line here, and a key
 * that takes effect only at start-up is marked so in its line; backends
 * are matched by address through sorted indexes, so a reload of VIPs with
 * thousands of backends stays n log n.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/config_diff.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void dplb_change_list_free(struct dplb_change_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

static struct dplb_change *add_change(struct dplb_change_list *list, enum dplb_change_kind kind,
				      const char *vip)
{
	struct dplb_change *grown, *change;

	/* Doubled when full, i.e. at each power of two (lists grow only here):
	 * grown one at a time, a reload of thousands of backends copied the
	 * list thousands of times, seconds on the management lcore wherever
	 * realloc cannot grow in place (under ASan, always). */
	if ((list->count & (list->count - 1)) == 0) {
		grown = realloc(list->items,
				(list->count ? 2 * (size_t)list->count : 1) * sizeof(*grown));
		if (grown == NULL)
			return NULL;
		list->items = grown;
	}
	change = &list->items[list->count++];
	memset(change, 0, sizeof(*change));
	change->kind = kind;
	snprintf(change->vip, sizeof(change->vip), "%s", vip);
	return change;
}

const char *dplb_change_kind_name(enum dplb_change_kind kind)
{
	switch (kind) {
	case DPLB_CHANGE_SETTINGS:
		return "settings";
	case DPLB_CHANGE_VIP_ADDED:
		return "vip_added";
	case DPLB_CHANGE_VIP_REMOVED:
		return "vip_removed";
	case DPLB_CHANGE_VIP_MODIFIED:
		return "vip_modified";
	case DPLB_CHANGE_BACKEND_ADDED:
		return "backend_added";
	case DPLB_CHANGE_BACKEND_REMOVED:
		return "backend_removed";
	case DPLB_CHANGE_BACKEND_MODIFIED:
		return "backend_modified";
	}
	return "unknown";
}

/* ---- diff ------------------------------------------------------------- */

/* FIELD_PREFIXES: a struct dplb_prefix_list, compared by its prefixes. */
enum field_type { FIELD_BYTES, FIELD_STRING, FIELD_PREFIXES };

struct field {
	const char *name;
	size_t offset;
	size_t size;
	enum field_type type;
	/* Fixed at start-up (ports, the pool, the flow tables): a running
	 * dplb cannot take a change of it, a reload is refused. */
	bool needs_restart;
};

#define SETTING(name, member)                                                                      \
	{                                                                                          \
		name, offsetof(struct dplb_config, member),                                        \
			sizeof(((struct dplb_config *)0)->member), FIELD_BYTES, false              \
	}
#define RESTART_SETTING(name, member)                                                              \
	{                                                                                          \
		name, offsetof(struct dplb_config, member),                                        \
			sizeof(((struct dplb_config *)0)->member), FIELD_BYTES, true               \
	}
#define VIP_FIELD(name, member, type)                                                              \
	{                                                                                          \
		name, offsetof(struct dplb_vip_config, member),                                    \
			sizeof(((struct dplb_vip_config *)0)->member), type, false                 \
	}
#define BACKEND_FIELD(name, member)                                                                \
	{                                                                                          \
		name, offsetof(struct dplb_backend_config, member),                                \
			sizeof(((struct dplb_backend_config *)0)->member), FIELD_BYTES, false      \
	}

/* Named as in the INI file. */
static const struct field settings[] = {
	RESTART_SETTING("ports", port_count),
	RESTART_SETTING("ports", port_ids),
	SETTING("address", address),
	SETTING("gateway", gateway),
	SETTING("prefix_length", prefix_length),
	SETTING("gateway_mac", has_gateway_mac),
	SETTING("gateway_mac", gateway_mac),
	SETTING("address6", has_address6),
	SETTING("address6", address6),
	SETTING("gateway6", has_gateway6),
	SETTING("gateway6", gateway6),
	SETTING("prefix_length6", prefix_length6),
	SETTING("gateway_mac6", has_gateway_mac6),
	SETTING("gateway_mac6", gateway_mac6),
	RESTART_SETTING("flow_table_size", flow_table_size),
	RESTART_SETTING("flow_table_size6", flow_table_size6),
	SETTING("tcp_timeout", tcp_timeout),
	SETTING("udp_timeout", udp_timeout),
	SETTING("tcp_closing_timeout", tcp_closing_timeout),
	SETTING("tcp_syn_timeout", tcp_syn_timeout),
	SETTING("gue_port", gue_port),
	SETTING("vlan", vlan),
	RESTART_SETTING("mtu", mtu),
	RESTART_SETTING("mbufs", mbufs),
	/* The taps are made at start-up, with the ports. */
	RESTART_SETTING("exception_path", exception_path),
	{ "exception_interface", offsetof(struct dplb_config, exception_interface),
	  sizeof(((struct dplb_config *)0)->exception_interface), FIELD_STRING, true },
	SETTING("announce_table", announce_table),
	SETTING("drain_seconds", drain_seconds),
	SETTING("exception_rate", exception_rate),
	{ "listen", offsetof(struct dplb_config, listen_address),
	  sizeof(((struct dplb_config *)0)->listen_address), FIELD_STRING, false },
	SETTING("listen", listen_port),
	{ "token_file", offsetof(struct dplb_config, token_file),
	  sizeof(((struct dplb_config *)0)->token_file), FIELD_STRING, false },
	SETTING("allow_unauthenticated", allow_unauthenticated),
	SETTING("health_source", health_source),
	SETTING("health_tcp", health_tcp),
	SETTING("persist_changes", persist_changes),
};

static const struct field vip_fields[] = {
	VIP_FIELD("address", address, FIELD_BYTES),
	VIP_FIELD("address", family, FIELD_BYTES),
	VIP_FIELD("address", address6, FIELD_BYTES),
	VIP_FIELD("port", port, FIELD_BYTES),
	VIP_FIELD("protocol", protocol, FIELD_BYTES),
	VIP_FIELD("scheduler", scheduler, FIELD_BYTES),
	VIP_FIELD("encap", encap, FIELD_BYTES),
	VIP_FIELD("maglev_size", maglev_size, FIELD_BYTES),
	VIP_FIELD("mss_clamp", mss_clamp, FIELD_BYTES),
	VIP_FIELD("health_check", health.check, FIELD_BYTES),
	VIP_FIELD("health_check", health.http_path, FIELD_STRING),
	VIP_FIELD("health_expect_status", health.expect_status, FIELD_BYTES),
	VIP_FIELD("health_port", health.port, FIELD_BYTES),
	VIP_FIELD("health_interval_ms", health.interval_ms, FIELD_BYTES),
	VIP_FIELD("health_timeout_ms", health.timeout_ms, FIELD_BYTES),
	VIP_FIELD("health_rise", health.rise, FIELD_BYTES),
	VIP_FIELD("health_fall", health.fall, FIELD_BYTES),
	VIP_FIELD("slow_start", health.slow_start, FIELD_BYTES),
	VIP_FIELD("health_payload", health.payload_len, FIELD_BYTES),
	VIP_FIELD("health_payload", health.payload, FIELD_BYTES),
	VIP_FIELD("allow", allow, FIELD_PREFIXES),
	VIP_FIELD("deny", deny, FIELD_PREFIXES),
	VIP_FIELD("new_flow_rate", new_flow_rate, FIELD_BYTES),
	VIP_FIELD("new_flow_burst", new_flow_burst, FIELD_BYTES),
	VIP_FIELD("rate_limit_action", rate_limit_action, FIELD_BYTES),
	VIP_FIELD("table_full", table_full, FIELD_BYTES),
	VIP_FIELD("fragments", fragments, FIELD_BYTES),
};

/* A backend's health settings are compared resolved: a VIP-wide change
 * shows on each backend it reaches too. */
static const struct field backend_fields[] = {
	BACKEND_FIELD("weight", weight), BACKEND_FIELD("state", state),
	BACKEND_FIELD("mac", has_mac),	 BACKEND_FIELD("mac", mac),
	BACKEND_FIELD("health", health),
};

/* The same prefixes in the same order (a list reordered in the file is a
 * change of the file, if not of what it decides). */
static bool same_prefixes(const void *a, const void *b)
{
	const struct dplb_prefix_list *x = a, *y = b;

	if (x->count != y->count)
		return false;
	for (uint32_t i = 0; i < x->count; i++)
		if (dplb_prefix_compare(&x->items[i], &y->items[i]) != 0)
			return false;
	return true;
}

/* Names of the fields that differ, each once, into out; with restart_only,
 * of those marked needs_restart only. */
static size_t differing_fields(const struct field *fields, size_t count, bool restart_only,
			       const void *a, const void *b, char *out, size_t out_size)
{
	size_t differ = 0, used = 0;
	const char *last = NULL;

	out[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		const char *x = (const char *)a + fields[i].offset;
		const char *y = (const char *)b + fields[i].offset;
		bool same;

		if (fields[i].type == FIELD_STRING)
			same = strncmp(x, y, fields[i].size) == 0;
		else if (fields[i].type == FIELD_PREFIXES)
			same = same_prefixes(x, y);
		else
			same = memcmp(x, y, fields[i].size) == 0;

		/* Two members can make one key (gateway_mac, listen): named once. */
		if (same || (restart_only && !fields[i].needs_restart) ||
		    (last != NULL && strcmp(last, fields[i].name) == 0))
			continue;
		last = fields[i].name;
		if (used < out_size)
			used += (size_t)snprintf(out + used, out_size - used, "%s%s",
						 differ ? "," : "", fields[i].name);
		differ++;
	}
	return differ;
}

/* A backend's identity in its VIP is its address, of either family. */
struct address_index {
	const struct dplb_backend_config *backend;
	uint32_t index;
};

static int compare_address_index(const void *a, const void *b)
{
	const struct address_index *x = a, *y = b;

	return dplb_backend_address_compare(x->backend, y->backend);
}

/* Backends sorted by address, so matching two lists is n log n. */
static struct address_index *index_backends(const struct dplb_vip_config *vip)
{
	struct address_index *index = malloc((vip->backend_count + 1) * sizeof(*index));

	if (index == NULL)
		return NULL;
	for (uint32_t i = 0; i < vip->backend_count; i++)
		index[i] = (struct address_index){ &vip->backends[i], i };
	qsort(index, vip->backend_count, sizeof(*index), compare_address_index);
	return index;
}

static const struct dplb_backend_config *find_indexed(const struct dplb_vip_config *vip,
						      const struct address_index *index,
						      const struct dplb_backend_config *backend)
{
	const struct address_index key = { backend, 0 };
	const struct address_index *hit =
		bsearch(&key, index, vip->backend_count, sizeof(*index), compare_address_index);

	return hit ? &vip->backends[hit->index] : NULL;
}

static int diff_backends(const struct dplb_vip_config *before, const struct dplb_vip_config *after,
			 struct dplb_change_list *list)
{
	struct address_index *before_index = index_backends(before);
	struct address_index *after_index = index_backends(after);
	struct dplb_change *change;
	char fields[sizeof(change->fields)];
	int rc = -ENOMEM;

	if (before_index == NULL || after_index == NULL)
		goto out;
	/* In the order of the configuration after, then what went away. */
	for (uint32_t i = 0; i < after->backend_count; i++) {
		const struct dplb_backend_config *b = &after->backends[i];
		const struct dplb_backend_config *old = find_indexed(before, before_index, b);

		if (old != NULL && differing_fields(backend_fields, ARRAY_SIZE(backend_fields),
						    false, old, b, fields, sizeof(fields)) == 0)
			continue;
		change = add_change(list,
				    old ? DPLB_CHANGE_BACKEND_MODIFIED : DPLB_CHANGE_BACKEND_ADDED,
				    after->name);
		if (change == NULL)
			goto out;
		change->after = *b;
		if (old != NULL) {
			change->before = *old;
			memcpy(change->fields, fields, sizeof(fields));
		}
	}
	for (uint32_t i = 0; i < before->backend_count; i++) {
		const struct dplb_backend_config *b = &before->backends[i];

		if (find_indexed(after, after_index, b) != NULL)
			continue;
		change = add_change(list, DPLB_CHANGE_BACKEND_REMOVED, before->name);
		if (change == NULL)
			goto out;
		change->before = *b;
	}
	rc = 0;
out:
	free(before_index);
	free(after_index);
	return rc;
}

int dplb_config_diff(const struct dplb_config *before, const struct dplb_config *after,
		     struct dplb_change_list *list)
{
	struct dplb_change scratch, *change;

	if (differing_fields(settings, ARRAY_SIZE(settings), false, before, after, scratch.fields,
			     sizeof(scratch.fields)) > 0) {
		change = add_change(list, DPLB_CHANGE_SETTINGS, "");
		if (change == NULL)
			return -ENOMEM;
		memcpy(change->fields, scratch.fields, sizeof(change->fields));
	}
	/* At most 256 VIPs: matching them by name pairwise is cheap. */
	for (uint32_t i = 0; i < after->vip_count; i++) {
		const struct dplb_vip_config *vip = &after->vips[i];
		const struct dplb_vip_config *old = dplb_config_find_vip(before, vip->name);

		if (old == NULL) {
			if (add_change(list, DPLB_CHANGE_VIP_ADDED, vip->name) == NULL)
				return -ENOMEM;
			continue;
		}
		if (differing_fields(vip_fields, ARRAY_SIZE(vip_fields), false, old, vip,
				     scratch.fields, sizeof(scratch.fields)) > 0) {
			change = add_change(list, DPLB_CHANGE_VIP_MODIFIED, vip->name);
			if (change == NULL)
				return -ENOMEM;
			memcpy(change->fields, scratch.fields, sizeof(change->fields));
		}
		if (diff_backends(old, vip, list) != 0)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < before->vip_count; i++)
		if (dplb_config_find_vip(after, before->vips[i].name) == NULL &&
		    add_change(list, DPLB_CHANGE_VIP_REMOVED, before->vips[i].name) == NULL)
			return -ENOMEM;
	return 0;
}

size_t dplb_config_diff_needs_restart(const struct dplb_config *before,
				      const struct dplb_config *after, char *out, size_t out_size)
{
	return differing_fields(settings, ARRAY_SIZE(settings), true, before, after, out, out_size);
}
