/*
 * Changes made through the API, written into the INI file they came from.
 *
 * The text is cut into physical lines as the loader counts them (ending at
 * '\n'; what the loader reads of a line ends at its first '\r' or '\n').
 * Each change plans one thing on one line: replace it (a backend modified),
 * drop it (removed), or add a line after it (a backend added, after its
 * VIP's last backend line). The output is then the lines in order, as they
 * were unless planned otherwise, so every byte nobody asked to change is
 * copied. A modified backend's line is edited option by option: only the
 * options that changed (weight=, state=, mac=) are rewritten, added at the
 * end or dropped, and what else the line holds (health options, spacing,
 * a trailing comment) stays.
 *
 * dplb_config_persist trusts none of it: the edited text is loaded with the
 * real loader and must equal the configuration asked for before the file
 * is replaced (temporary file, fsync, rename, fsync of the directory).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp */
#endif
#include "control/config_writer.h"
#include "common/values.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_SHOWN "%.120s" /* leaves room in a message for the reason */

/* ---- a growing buffer ------------------------------------------------- */

struct buffer {
	char *data; /* NUL-terminated past len */
	size_t len;
	size_t cap;
	bool failed; /* out of memory: everything after is dropped */
};

static void append(struct buffer *b, const char *data, size_t len)
{
	char *grown;
	size_t cap;

	if (b->failed)
		return;
	if (b->len + len + 1 > b->cap) {
		for (cap = b->cap ? b->cap : 256; cap < b->len + len + 1; cap *= 2)
			;
		grown = realloc(b->data, cap);
		if (grown == NULL) {
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void append_string(struct buffer *b, const char *s)
{
	append(b, s, strlen(s));
}

/* ---- lines ------------------------------------------------------------ */

struct line {
	size_t start;	/* offset of its first byte */
	size_t length;	/* all its bytes, its '\n' included */
	size_t content; /* bytes before its first '\r' or '\n': what the loader reads */
	bool has_newline;
};

static struct line *split_lines(const char *text, size_t len, size_t *count)
{
	struct line *lines;
	size_t n = 0, start, k;

	for (size_t i = 0; i < len; i++)
		n += text[i] == '\n';
	if (len > 0 && text[len - 1] != '\n')
		n++;
	lines = calloc(n ? n : 1, sizeof(*lines));
	if (lines == NULL)
		return NULL;
	for (start = 0, k = 0; start < len; k++) {
		const char *newline = memchr(text + start, '\n', len - start);
		const size_t end = newline ? (size_t)(newline - text) + 1 : len;
		size_t content = 0;

		while (start + content < end && text[start + content] != '\r' &&
		       text[start + content] != '\n')
			content++;
		lines[k] = (struct line){ start, end - start, content, newline != NULL };
		start = end;
	}
	*count = n;
	return lines;
}

/* The line's own ending, or NULL for a last line without one. */
static const char *newline_of(const char *text, const struct line *l)
{
	if (!l->has_newline)
		return NULL;
	return l->length >= 2 && text[l->start + l->length - 2] == '\r' ? "\r\n" : "\n";
}

/* The file's: the first line ending it has, "\n" when it has none. */
static const char *file_newline(const char *text, const struct line *lines, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (lines[i].has_newline)
			return newline_of(text, &lines[i]);
	return "\n";
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* How long the token s starts with is: up to a blank, at most len. */
static size_t token_length(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && !blank(s[n]))
		n++;
	return n;
}

/*
 * Where VALUE is in a "KEY = VALUE" line, as the loader would read it
 * (blanks around it and a "; comment" or " # comment" after it left out),
 * as offsets into the line. False when the line is no line of key.
 */
static bool key_value(const char *s, size_t n, const char *key, size_t *value_start,
		      size_t *value_end)
{
	const char *eq;
	size_t i = 0, key_end, v, e;

	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < n && blank(s[i]))
		i++;
	eq = memchr(s + i, '=', n - i);
	if (eq == NULL)
		return false;
	for (key_end = (size_t)(eq - s); key_end > i && blank(s[key_end - 1]); key_end--)
		;
	if (key_end - i != strlen(key) || memcmp(s + i, key, key_end - i) != 0)
		return false;
	for (v = (size_t)(eq - s) + 1; v < n && blank(s[v]); v++)
		;
	for (e = v; e < n && !((s[e] == ';' || s[e] == '#') && e > 0 && blank(s[e - 1])); e++)
		;
	while (e > v && blank(s[e - 1]))
		e--;
	*value_start = v;
	*value_end = e;
	return e > v;
}

static bool backend_value(const char *s, size_t n, size_t *value_start, size_t *value_end)
{
	return key_value(s, n, "backend", value_start, value_end);
}

/* Whether the line opens a section, as the loader reads it. */
static bool section_header(const char *s, size_t n)
{
	size_t i = n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;

	while (i < n && blank(s[i]))
		i++;
	return i < n && s[i] == '[';
}

/* ---- one backend's value ---------------------------------------------- */

enum option { OPTION_WEIGHT, OPTION_STATE, OPTION_MAC, OPTION_COUNT };

static const char *const option_names[OPTION_COUNT] = { "weight", "state", "mac" };

/* Which of weight=, state=, mac= the token is, or -1. */
static int option_of(const char *token, size_t len)
{
	const char *eq = memchr(token, '=', len);

	for (int option = 0; eq != NULL && option < OPTION_COUNT; option++)
		if (strlen(option_names[option]) == (size_t)(eq - token) &&
		    memcmp(token, option_names[option], (size_t)(eq - token)) == 0)
			return option;
	return -1;
}

/* The option as b has it, or "" when b needs none (no static MAC). */
static void option_text(enum option option, const struct dplb_backend_config *b, char *out,
			size_t size)
{
	const uint8_t *m = b->mac;

	out[0] = '\0';
	if (option == OPTION_WEIGHT)
		snprintf(out, size, "weight=%u", b->weight);
	else if (option == OPTION_STATE)
		snprintf(out, size, "state=%s", dplb_backend_state_name(b->state));
	else if (b->has_mac)
		snprintf(out, size, "mac=%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
			 m[4], m[5]);
}

static bool same_mac(const struct dplb_backend_config *a, const struct dplb_backend_config *b)
{
	return a->has_mac == b->has_mac && (!a->has_mac || memcmp(a->mac, b->mac, 6) == 0);
}

/* b as a whole value, as dplb_config_format_backend writes it. */
static int append_backend(struct buffer *out, const struct dplb_backend_config *b)
{
	char small[256], *text = small;
	int n = dplb_config_format_backend(b, small, sizeof(small));

	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(small)) {
		text = malloc((size_t)n + 1);
		if (text == NULL)
			return -ENOMEM;
		dplb_config_format_backend(b, text, (size_t)n + 1);
	}
	append(out, text, (size_t)n);
	if (text != small)
		free(text);
	return 0;
}

/*
 * value (len bytes, the line's) changed from before to after: the options
 * that changed are rewritten where they are, added at the end, or dropped
 * with the blanks before them; the rest is copied. A change of anything
 * else (its health options) writes the value anew.
 */
static int edit_value(struct buffer *out, const char *value, size_t len,
		      const struct dplb_backend_config *before,
		      const struct dplb_backend_config *after)
{
	const bool changed[OPTION_COUNT] = {
		before->weight != after->weight,
		before->state != after->state,
		!same_mac(before, after),
	};
	bool seen[OPTION_COUNT] = { false };
	char text[64];
	size_t pos = 0;

	if (dplb_backend_address_compare(before, after) != 0 ||
	    before->health_overrides != after->health_overrides ||
	    memcmp(&before->health, &after->health, sizeof(before->health)) != 0)
		return append_backend(out, after);
	while (pos < len) {
		const size_t separator = pos;
		size_t start;
		int option;

		while (pos < len && blank(value[pos]))
			pos++;
		start = pos;
		pos += token_length(value + pos, len - pos);
		option = option_of(value + start, pos - start);
		if (option < 0 || !changed[option]) {
			append(out, value + separator, pos - separator);
			continue;
		}
		seen[option] = true;
		option_text(option, after, text, sizeof(text));
		if (text[0] == '\0')
			continue;
		append(out, value + separator, start - separator);
		append_string(out, text);
	}
	for (int option = 0; option < OPTION_COUNT; option++) {
		if (!changed[option] || seen[option])
			continue;
		option_text(option, after, text, sizeof(text));
		if (text[0] != '\0') {
			append_string(out, " ");
			append_string(out, text);
		}
	}
	return 0;
}

/* ---- the edit --------------------------------------------------------- */

struct line_plan {
	char *replacement; /* the whole line, its ending included */
	bool drop;
	int first_insert, last_insert; /* lines added after it, in order; -1: none */
};

struct insert {
	char *text; /* the whole line, its ending included */
	int next;
};

struct edit {
	const char *text;
	const struct dplb_config *before;
	const struct dplb_config *after; /* for the VIP keys' new values; may be NULL */
	struct line *lines;
	size_t count;
	struct line_plan *plan;
	struct insert *inserts;
	int insert_count;
	const char *newline; /* the file's */
	char *error;
};

static char *take(struct buffer *b)
{
	if (b->failed) {
		free(b->data);
		return NULL;
	}
	return b->data;
}

/* line holds backend's "backend = " line: where its value is. */
static int find_backend_line(struct edit *e, const char *vip,
			     const struct dplb_backend_config *backend, int line,
			     size_t *value_start, size_t *value_end)
{
	char text[INET6_ADDRSTRLEN];
	struct dplb_backend_config found = { 0 };
	const struct line *l;
	const char *value;

	dplb_backend_address_text(backend, text);
	if (line < 1 || (size_t)line > e->count) {
		snprintf(e->error, DPLB_ERROR_MAX,
			 "backend %s of vip %s has no line in " PATH_SHOWN
			 " (it was not read from it)",
			 text, vip, e->before->path);
		return -ENOENT;
	}
	l = &e->lines[line - 1];
	value = e->text + l->start;
	if (!backend_value(value, l->content, value_start, value_end) ||
	    dplb_parse_ip(value + *value_start,
			  token_length(value + *value_start, *value_end - *value_start),
			  &found.family, &found.address, found.address6) != NULL ||
	    dplb_backend_address_compare(&found, backend) != 0) {
		snprintf(e->error, DPLB_ERROR_MAX,
			 PATH_SHOWN ":%d is not the line of backend %s "
				    "of vip %s",
			 e->before->path, line, text, vip);
		return -ENOENT;
	}
	return 0;
}

static int plan_modified(struct edit *e, const struct dplb_change *c)
{
	struct buffer line = { 0 };
	size_t value_start, value_end;
	const struct line *l;
	int rc = find_backend_line(e, c->vip, &c->before, c->before.line, &value_start, &value_end);

	if (rc != 0)
		return rc;
	l = &e->lines[c->before.line - 1];
	append(&line, e->text + l->start, value_start);
	rc = edit_value(&line, e->text + l->start + value_start, value_end - value_start,
			&c->before, &c->after);
	append(&line, e->text + l->start + value_end, l->length - value_end);
	e->plan[c->before.line - 1].replacement = take(&line);
	if (rc == 0 && e->plan[c->before.line - 1].replacement == NULL)
		rc = -ENOMEM;
	return rc;
}

static int plan_removed(struct edit *e, const struct dplb_change *c)
{
	size_t value_start, value_end;
	int rc = find_backend_line(e, c->vip, &c->before, c->before.line, &value_start, &value_end);

	if (rc == 0)
		e->plan[c->before.line - 1].drop = true;
	return rc;
}

/* After the VIP's last backend line, written as that one is ("backend=",
 * indented, ...); after its header when no backend has a line. */
static int plan_added(struct edit *e, const struct dplb_change *c)
{
	const struct dplb_vip_config *vip = dplb_config_find_vip(e->before, c->vip);
	struct buffer line = { 0 };
	size_t value_start, value_end;
	const struct line *l;
	const char *newline;
	int anchor = 0, rc;

	if (vip == NULL) {
		snprintf(e->error, DPLB_ERROR_MAX, "no VIP named %s in " PATH_SHOWN, c->vip,
			 e->before->path);
		return -ENOENT;
	}
	for (uint32_t i = 0; i < vip->backend_count; i++)
		if (vip->backends[i].line > anchor)
			anchor = vip->backends[i].line;
	if (anchor == 0)
		anchor = vip->line;
	if (anchor < 1 || (size_t)anchor > e->count) {
		snprintf(e->error, DPLB_ERROR_MAX, "vip %s has no line in " PATH_SHOWN, c->vip,
			 e->before->path);
		return -ENOENT;
	}
	l = &e->lines[anchor - 1];
	if (backend_value(e->text + l->start, l->content, &value_start, &value_end))
		append(&line, e->text + l->start, value_start);
	else
		append_string(&line, "backend = ");
	rc = append_backend(&line, &c->after);
	newline = newline_of(e->text, l);
	append_string(&line, newline ? newline : e->newline);
	e->inserts[e->insert_count] = (struct insert){ take(&line), -1 };
	if (rc == 0 && e->inserts[e->insert_count].text == NULL)
		rc = -ENOMEM;
	if (rc != 0) {
		free(e->inserts[e->insert_count].text);
		return rc;
	}
	if (e->plan[anchor - 1].first_insert < 0)
		e->plan[anchor - 1].first_insert = e->insert_count;
	else
		e->inserts[e->plan[anchor - 1].last_insert].next = e->insert_count;
	e->plan[anchor - 1].last_insert = e->insert_count++;
	return 0;
}

/* ---- a VIP's protection keys ------------------------------------------ */

/* The VIP keys written into the file: those the API changes. */
static const char *const vip_keys[] = {
	"allow", "deny", "new_flow_rate", "new_flow_burst", "rate_limit_action",
};

#define VIP_KEY_COUNT (sizeof(vip_keys) / sizeof(vip_keys[0]))

/* A prefix list's line holds this much of it at most: the loader reads
 * 199 characters, and the key, its indentation and a comment need room. */
#define LIST_VALUE_MAX 120

static bool is_vip_key(const char *name, size_t len)
{
	for (size_t k = 0; k < VIP_KEY_COUNT; k++)
		if (strlen(vip_keys[k]) == len && memcmp(vip_keys[k], name, len) == 0)
			return true;
	return false;
}

/* Whether every field of a vip_modified change is a key written here. */
static bool vip_keys_only(const char *fields)
{
	for (const char *p = fields; *p != '\0';) {
		const size_t len = strcspn(p, ",");

		if (!is_vip_key(p, len))
			return false;
		p += len;
		p += *p == ',';
	}
	return fields[0] != '\0';
}

/* The values of key in vip, one per line the file needs ("" for none): a
 * list packed into lines, a number or a name alone. Each value ends with a
 * NUL; returns how many. */
static int vip_key_values(const struct dplb_vip_config *vip, const char *key, struct buffer *out)
{
	const struct dplb_prefix_list *list = strcmp(key, "allow") == 0	 ? &vip->allow
					      : strcmp(key, "deny") == 0 ? &vip->deny
									 : NULL;
	char text[DPLB_PREFIX_TEXT_MAX + 16];
	size_t line = 0;
	int values = 0;

	if (list == NULL) {
		if (strcmp(key, "new_flow_rate") == 0)
			snprintf(text, sizeof(text), "%u", vip->new_flow_rate);
		else if (strcmp(key, "new_flow_burst") == 0)
			snprintf(text, sizeof(text), "%u", vip->new_flow_burst);
		else
			snprintf(text, sizeof(text), "%s",
				 dplb_rate_limit_action_name(vip->rate_limit_action));
		append(out, text, strlen(text) + 1);
		return 1;
	}
	for (uint32_t i = 0; i < list->count; i++) {
		dplb_format_prefix(&list->items[i], text);
		if (line > 0 && line + 1 + strlen(text) > LIST_VALUE_MAX) {
			append(out, "", 1);
			values++;
			line = 0;
		}
		if (line > 0)
			append_string(out, " ");
		append_string(out, text);
		line += (line > 0) + strlen(text);
	}
	if (line > 0) {
		append(out, "", 1);
		values++;
	}
	return values;
}

/*
 * key's lines in vip's section change to say what after's VIP says: the
 * first line of the key becomes the new value's lines (written as it is:
 * indentation, "key=" or "key = ", a trailing comment on the first), the
 * others go; a key the section lacks gets lines after the VIP's header.
 */
static int plan_vip_key(struct edit *e, const struct dplb_vip_config *before,
			const struct dplb_vip_config *after, const char *key)
{
	struct buffer values = { 0 }, lines = { 0 };
	size_t value_start = 0, value_end = 0;
	int first = -1, count, rc = 0;
	const char *newline;

	count = vip_key_values(after, key, &values);
	for (size_t i = (size_t)before->line; i < e->count; i++) {
		const struct line *l = &e->lines[i];
		size_t vs, ve;

		if (section_header(e->text + l->start, l->content))
			break;
		if (!key_value(e->text + l->start, l->content, key, &vs, &ve))
			continue;
		if (first < 0) {
			first = (int)i;
			value_start = vs;
			value_end = ve;
		} else {
			e->plan[i].drop = true;
		}
	}
	const size_t anchor_index = first >= 0 ? (size_t)first : (size_t)before->line - 1;
	const struct line *anchor = &e->lines[anchor_index];
	newline = newline_of(e->text, anchor);
	if (newline == NULL)
		newline = e->newline;
	const char *value = values.data;
	for (int v = 0; v < count; v++, value += strlen(value) + 1) {
		if (first >= 0)
			append(&lines, e->text + anchor->start, value_start);
		else
			append_string(&lines, key), append_string(&lines, " = ");
		append_string(&lines, value);
		if (first >= 0 && v == 0)
			append(&lines, e->text + anchor->start + value_end,
			       anchor->content - value_end);
		/* The last line of a file without a final newline still has none
		 * (write_out gives the line one while it is not last). */
		if (first < 0 || v + 1 < count || anchor->has_newline)
			append_string(&lines, newline);
	}
	if (values.failed || lines.failed) {
		rc = -ENOMEM;
	} else if (first >= 0) {
		/* A replacement takes the line's own ending, as the lines above
		 * wrote it; none at all drops the line. */
		e->plan[first].drop = count == 0;
		e->plan[first].replacement = count > 0 ? take(&lines) : NULL;
		if (count > 0)
			lines.data = NULL;
	} else if (count > 0) {
		const int header = before->line - 1;

		e->inserts[e->insert_count] = (struct insert){ take(&lines), -1 };
		lines.data = NULL;
		if (e->plan[header].first_insert < 0)
			e->plan[header].first_insert = e->insert_count;
		else
			e->inserts[e->plan[header].last_insert].next = e->insert_count;
		e->plan[header].last_insert = e->insert_count++;
	}
	free(values.data);
	free(lines.data);
	return rc;
}

/* A vip_modified change of the keys above, as after has them. */
static int plan_vip_modified(struct edit *e, const struct dplb_change *c)
{
	const struct dplb_vip_config *before = dplb_config_find_vip(e->before, c->vip);
	const struct dplb_vip_config *after =
		e->after != NULL ? dplb_config_find_vip(e->after, c->vip) : NULL;
	int rc = 0;

	if (before == NULL || after == NULL || before->line < 1 ||
	    (size_t)before->line > e->count) {
		snprintf(e->error, DPLB_ERROR_MAX, "vip %s has no line in " PATH_SHOWN, c->vip,
			 e->before->path);
		return -ENOENT;
	}
	for (const char *p = c->fields; *p != '\0' && rc == 0;) {
		const size_t len = strcspn(p, ",");
		char key[32];

		snprintf(key, sizeof(key), "%.*s", (int)len, p);
		rc = plan_vip_key(e, before, after, key);
		p += len;
		p += *p == ',';
	}
	return rc;
}

/* The lines in order, as planned. */
static void write_out(const struct edit *e, size_t len, struct buffer *out)
{
	for (size_t i = 0; i < e->count; i++) {
		const struct line *l = &e->lines[i];

		if (!e->plan[i].drop) {
			if (e->plan[i].replacement != NULL)
				append_string(out, e->plan[i].replacement);
			else
				append(out, e->text + l->start, l->length);
			/* Taken off again below if it stays the last line. */
			if (!l->has_newline)
				append_string(out, e->newline);
		}
		for (int k = e->plan[i].first_insert; k >= 0; k = e->inserts[k].next)
			append_string(out, e->inserts[k].text);
	}
	/* A file that ended without a newline still does. */
	if (len > 0 && e->text[len - 1] != '\n' && !out->failed) {
		if (strcmp(e->newline, "\r\n") == 0 && out->len >= 2 &&
		    memcmp(out->data + out->len - 2, "\r\n", 2) == 0)
			out->len -= 2;
		else if (out->len >= 1 && out->data[out->len - 1] == '\n')
			out->len--;
		out->data[out->len] = '\0';
	}
}

int dplb_config_text_edit(const char *text, size_t len, const struct dplb_config *before,
			  const struct dplb_config *after, const struct dplb_change_list *changes,
			  char **out, size_t *out_len, char *error)
{
	struct edit e = { .text = text, .before = before, .after = after, .error = error };
	struct buffer result = { 0 };
	int rc = -ENOMEM;

	error[0] = '\0';
	e.lines = split_lines(text, len, &e.count);
	e.plan = calloc(e.count ? e.count : 1, sizeof(*e.plan));
	/* A backend change inserts a line at most, a VIP's one per key. */
	e.inserts = calloc(changes->count * VIP_KEY_COUNT + 1, sizeof(*e.inserts));
	if (e.lines == NULL || e.plan == NULL || e.inserts == NULL)
		goto out;
	for (size_t i = 0; i < e.count; i++)
		e.plan[i].first_insert = e.plan[i].last_insert = -1;
	e.newline = file_newline(text, e.lines, e.count);

	rc = 0;
	for (uint32_t i = 0; i < changes->count && rc == 0; i++) {
		const struct dplb_change *c = &changes->items[i];

		if (c->kind == DPLB_CHANGE_BACKEND_ADDED) {
			rc = plan_added(&e, c);
		} else if (c->kind == DPLB_CHANGE_BACKEND_REMOVED) {
			rc = plan_removed(&e, c);
		} else if (c->kind == DPLB_CHANGE_BACKEND_MODIFIED) {
			rc = plan_modified(&e, c);
		} else if (c->kind == DPLB_CHANGE_VIP_MODIFIED && vip_keys_only(c->fields)) {
			rc = plan_vip_modified(&e, c);
		} else {
			snprintf(error, DPLB_ERROR_MAX,
				 "only backend changes and a VIP's allow, "
				 "deny, new_flow_rate, new_flow_burst and rate_limit_action are "
				 "written into the file, not %s%s%.60s%s",
				 dplb_change_kind_name(c->kind), c->fields[0] ? " (" : "",
				 c->fields, c->fields[0] ? ")" : "");
			rc = -ENOTSUP;
		}
	}
	if (rc == 0) {
		write_out(&e, len, &result);
		rc = result.failed ? -ENOMEM : 0;
	}
	if (rc == 0) {
		/* An empty result is still a string to free. */
		*out = result.data != NULL ? result.data : strdup("");
		*out_len = result.len;
		result.data = NULL;
		if (*out == NULL)
			rc = -ENOMEM;
	}
out:
	if (rc == -ENOMEM && error[0] == '\0')
		snprintf(error, DPLB_ERROR_MAX, "out of memory");
	if (rc == -EINVAL && error[0] == '\0')
		snprintf(error, DPLB_ERROR_MAX, "a backend has a setting no line can hold");
	free(result.data);
	if (e.plan != NULL)
		for (size_t i = 0; i < e.count; i++)
			free(e.plan[i].replacement);
	if (e.inserts != NULL)
		for (int k = 0; k < e.insert_count; k++)
			free(e.inserts[k].text);
	free(e.inserts);
	free(e.plan);
	free(e.lines);
	return rc;
}

/* ---- the file --------------------------------------------------------- */

int dplb_config_file_read(const char *path, char **data, size_t *len)
{
	struct buffer b = { 0 };
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int rc = 0;

	if (fd < 0)
		return -errno;
	append(&b, "", 0); /* a NUL even for an empty file */
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		append(&b, chunk, (size_t)n);
	}
	close(fd);
	if (rc == 0 && b.failed)
		rc = -ENOMEM;
	if (rc != 0) {
		free(b.data);
		return rc;
	}
	*data = b.data;
	*len = b.len;
	return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		const ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fail(char *error, int err, const char *what, const char *path)
{
	char reason[128];

	snprintf(error, DPLB_ERROR_MAX, "cannot %s " PATH_SHOWN ": %.80s", what, path,
		 strerror_r(err, reason, sizeof(reason)));
	return -err;
}

int dplb_config_file_replace(const char *path, const char *data, size_t len, char *error)
{
	char *real = realpath(path, NULL), *temporary = NULL, *slash;
	const char *directory, *name;
	struct stat st;
	int fd = -1, rc;

	if (real == NULL)
		return fail(error, errno, "find", path);
	if (stat(real, &st) != 0) {
		rc = fail(error, errno, "stat", real);
		goto out;
	}
	/* realpath's answer is absolute: it has a '/'. */
	slash = strrchr(real, '/');
	name = slash + 1;
	*slash = '\0';
	directory = slash == real ? "/" : real;
	if (asprintf(&temporary, "%s/.%s.XXXXXX", slash == real ? "" : real, name) < 0) {
		temporary = NULL;
		rc = fail(error, ENOMEM, "name a temporary file in", directory);
		goto out;
	}
	fd = mkostemp(temporary, O_CLOEXEC);
	if (fd < 0) {
		rc = fail(error, errno, "create a temporary file in", directory);
		goto out;
	}
	/* The file keeps who may read it; the owner only when we may give it. */
	if (fchmod(fd, st.st_mode & 07777) != 0) {
		rc = fail(error, errno, "set the mode of", temporary);
		goto out;
	}
	if (fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) {
		rc = fail(error, errno, "set the owner of", temporary);
		goto out;
	}
	rc = write_all(fd, data, len);
	if (rc != 0) {
		rc = fail(error, -rc, "write", temporary);
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = fail(error, errno, "fsync", temporary);
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = fail(error, errno, "write", temporary);
		goto out;
	}
	*slash = '/';
	if (rename(temporary, real) != 0) {
		rc = fail(error, errno, "replace", real);
		*slash = '\0';
		goto out;
	}
	free(temporary);
	temporary = NULL; /* renamed: nothing to clean up */
	*slash = '\0';
	fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		rc = fail(error, errno, "fsync the directory", directory);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (temporary != NULL) {
		unlink(temporary);
		free(temporary);
	}
	free(real);
	return rc;
}

/* ---- persisting a change ---------------------------------------------- */

/* The file at path holds exactly len bytes of data. */
static bool file_holds(const char *path, const char *data, size_t len)
{
	size_t now_len;
	char *now;
	bool same;

	if (dplb_config_file_read(path, &now, &now_len) != 0)
		return false;
	same = now_len == len && memcmp(now, data, len) == 0;
	free(now);
	return same;
}

/* Equal by dplb_config_diff, VIPs and backends in the same order. */
static int compare(const struct dplb_config *a, const struct dplb_config *b, bool *same)
{
	struct dplb_change_list list = { 0 };
	int rc = dplb_config_diff(a, b, &list);

	*same = rc == 0 && list.count == 0 && a->vip_count == b->vip_count;
	dplb_change_list_free(&list);
	for (uint32_t i = 0; *same && i < a->vip_count; i++) {
		const struct dplb_vip_config *x = &a->vips[i], *y = &b->vips[i];

		*same = strcmp(x->name, y->name) == 0 && x->backend_count == y->backend_count;
		for (uint32_t j = 0; *same && j < x->backend_count; j++)
			*same = dplb_backend_address_compare(&x->backends[j], &y->backends[j]) == 0;
	}
	return rc;
}

int dplb_config_persist(const struct dplb_config *serving, struct dplb_config **next,
			const struct dplb_change_list *changes, char **previous,
			size_t *previous_len, char *error)
{
	struct dplb_config_errors errs;
	struct dplb_config *written = NULL;
	char *text = NULL, *edited = NULL, reason[DPLB_ERROR_MAX];
	size_t len, edited_len;
	bool same;
	int rc;

	rc = dplb_config_file_read(serving->path, &text, &len);
	if (rc != 0) {
		snprintf(error, DPLB_ERROR_MAX,
			 "cannot read " PATH_SHOWN ": %.80s; nothing was "
			 "changed",
			 serving->path, strerror_r(-rc, reason, sizeof(reason)));
		/* Gone is changed behind dplb's back too, not an unknown resource. */
		return rc == -ENOENT ? -ESTALE : rc;
	}
	if (len != serving->file_size ||
	    dplb_config_hash(DPLB_CONFIG_HASH_SEED, text, len) != serving->file_hash) {
		snprintf(error, DPLB_ERROR_MAX,
			 PATH_SHOWN
			 " changed since dplb read it: reload it "
			 "first (POST /reload or SIGHUP), then make the change again; nothing was "
			 "changed, and the file was not written over",
			 serving->path);
		rc = -ESTALE;
		goto out;
	}
	rc = dplb_config_text_edit(text, len, serving, *next, changes, &edited, &edited_len,
				   reason);
	if (rc != 0) {
		snprintf(error, DPLB_ERROR_MAX,
			 "cannot write the change into " PATH_SHOWN ": %.140s; nothing was changed",
			 serving->path, reason);
		/* The file is what was read, so its lines are where the loader
		 * said: a line that does not hold its backend is dplb's fault. */
		if (rc == -ENOENT)
			rc = -EIO;
		goto out;
	}
	rc = dplb_config_load_text(serving->path, edited, edited_len, &written, &errs);
	if (rc == 0)
		rc = compare(*next, written, &same);
	if (rc == 0 && !same) {
		snprintf(errs.messages[0], DPLB_ERROR_MAX, "it would load as something else");
		rc = -EINVAL;
	}
	if (rc != 0) {
		/* Every reason that fits: the first by line may only follow
		 * from another ("no backends" after a line too long). */
		for (uint32_t i = 1; i < errs.count && strlen(errs.messages[0]) < 200; i++) {
			const size_t used = strlen(errs.messages[0]);

			snprintf(errs.messages[0] + used, DPLB_ERROR_MAX - used, ", %s",
				 errs.messages[i]);
		}
		snprintf(error, DPLB_ERROR_MAX,
			 "the file with this change would not load as "
			 "asked: %.220s; nothing was changed",
			 errs.messages[0]);
		rc = rc == -ENOMEM ? -ENOMEM : -EINVAL;
		goto out;
	}
	rc = dplb_config_file_replace(serving->path, edited, edited_len, reason);
	/* Replaced but not known to be on disk (the directory's fsync failed):
	 * refused all the same, so the old bytes go back, as far as they can. */
	if (rc != 0 && file_holds(serving->path, edited, edited_len))
		dplb_config_file_replace(serving->path, text, len, error);
	if (rc != 0) {
		snprintf(error, DPLB_ERROR_MAX,
			 "%.200s; the change is refused (persist_changes "
			 "= yes writes every change into the file first)",
			 reason);
		goto out;
	}
	dplb_config_free(*next);
	*next = written;
	written = NULL;
	*previous = text;
	*previous_len = len;
	text = NULL;
out:
	dplb_config_free(written);
	free(edited);
	free(text);
	return rc;
}
