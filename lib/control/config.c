/*
 * dplb configuration loader: the INI file as a struct dplb_config.
 *
 * inih splits "key = value" lines; the rest is ours, for three reasons:
 *  - Debian's inih passes no line number to the handler, so we feed it one
 *    physical line at a time from our own reader, which counts them;
 *  - the reader normalises each line first (BOM, CR, leading blanks, inline
 *    "; " and " #" comments), so inih's multi-line continuation can never
 *    glue an indented key onto the previous value, and it reports what inih
 *    would only count (a line with no "=", an unterminated header, a line
 *    longer than inih's buffer) with its own line number;
 *  - the reader opens sections itself, because inih says nothing about a
 *    section without keys, and "[vip:x] has no backends" belongs on the
 *    header's line.
 * Keys are dispatched through one table of {section, key, parser, offset}.
 * Every error is collected (the 32 earliest in file order are kept, the rest
 * counted), and no configuration leaves this file unless there were none.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "control/config.h"
#include "common/values.h"
#include "control/config_reference.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ERROR_SLOTS ARRAY_SIZE(((struct dplb_config_errors *)0)->messages)

/* How much of an offending value is quoted back: enough to recognise it,
 * never enough to push the line number out of a message. */
#define QUOTE_MAX 64

/* Most of a message is left for the problem, whatever the path. */
#define PATH_SHOWN_MAX 128

/* Longer keys are never close to a real one; bounds the edit distance row. */
#define KEY_LEN_MAX 32

/* Room for every key in the table, so "seen" can be a plain array. */
#define KEY_TABLE_MAX 64

enum section_kind {
	SECTION_NONE, /* before the first header */
	SECTION_SKIP, /* a header already reported as bad: its keys are not */
	SECTION_DATAPLANE,
	SECTION_MANAGEMENT,
	SECTION_VIP,
};

struct name_value {
	const char *name;
	uint32_t value;
};

static const struct name_value scheduler_names[] = {
	{ "maglev", DPLB_SCHED_MAGLEV },
	{ "round-robin", DPLB_SCHED_ROUND_ROBIN },
	{ "weighted-round-robin", DPLB_SCHED_WEIGHTED_ROUND_ROBIN },
	{ "least-connections", DPLB_SCHED_LEAST_CONNECTIONS },
	{ "source-hash", DPLB_SCHED_SOURCE_HASH },
	{ NULL, 0 },
};

static const struct name_value encap_names[] = {
	{ "ipip", DPLB_ENCAP_IPIP },
	{ "gue", DPLB_ENCAP_GUE },
	{ NULL, 0 },
};

static const struct name_value state_names[] = {
	{ "up", DPLB_BACKEND_UP },
	{ "drain", DPLB_BACKEND_DRAIN },
	{ "down", DPLB_BACKEND_DOWN },
	{ NULL, 0 },
};

static const struct name_value health_tcp_names[] = {
	{ "syn", DPLB_HEALTH_TCP_SYN },
	{ "connect", DPLB_HEALTH_TCP_CONNECT },
	{ NULL, 0 },
};

static const struct name_value yes_no_names[] = {
	{ "no", false },
	{ "yes", true },
	{ NULL, 0 },
};

static const struct name_value rate_limit_action_names[] = {
	{ "drop", DPLB_RATE_LIMIT_DROP },
	{ "stateless", DPLB_RATE_LIMIT_STATELESS },
	{ NULL, 0 },
};

static const struct name_value table_full_names[] = {
	{ "stateless", DPLB_TABLE_FULL_STATELESS },
	{ "drop", DPLB_TABLE_FULL_DROP },
	{ NULL, 0 },
};

static const struct name_value fragments_names[] = {
	{ "follow", DPLB_FRAGMENTS_FOLLOW },
	{ "drop", DPLB_FRAGMENTS_DROP },
	{ NULL, 0 },
};

static const struct name_value exception_path_names[] = {
	{ "none", DPLB_EXCEPTION_NONE },
	{ "tap", DPLB_EXCEPTION_TAP },
	{ NULL, 0 },
};

static const struct name_value protocol_names[] = {
	{ "tcp", DPLB_PROTO_TCP },
	{ "udp", DPLB_PROTO_UDP },
	{ NULL, 0 },
};

/* Enum fields are stored through store_uint() by size. */
_Static_assert(sizeof(enum dplb_scheduler) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_encap) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_health_check) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_health_tcp_mode) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_rate_limit_action) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_exception_kind) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_table_full_action) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum dplb_fragments) == sizeof(uint32_t), "enum size");

/* Sort key of a kept error: file order, file-wide problems (line 0) last. */
struct error_key {
	int line;
	uint32_t seq;
};

struct loader {
	const char *path;
	struct dplb_config *config;
	FILE *file;
	char *buf; /* getline's, grown as needed */
	size_t buf_size;
	int line;	/* physical line the reader last handed to inih */
	int read_errno; /* getline's, when it failed other than at EOF */

	enum section_kind section;
	char section_label[DPLB_NAME_MAX + 8]; /* "[vip:NAME]", for messages */
	uint32_t vip;			       /* index of the open VIP in config->vips */
	uint32_t vip_capacity;
	uint32_t backend_capacity; /* of the open VIP's backends array */
	int dataplane_line;	   /* 0 until the section is seen */
	int management_line;
	int seen[KEY_TABLE_MAX]; /* line where each key was last set, or 0 */

	bool out_of_memory;
	struct dplb_config_errors *errs;
	struct error_key keys[ERROR_SLOTS]; /* parallel to errs->messages */
	uint32_t error_seq;
	/* Checking a configuration changed in memory (dplb_config_validate):
	 * there is no file, and its lines no longer say where things are. */
	bool in_memory;
};

struct key_spec;

/* Parsers report their own errors (with the key's line) and leave the
 * field alone when the value is bad. base is the section's struct. */
typedef void (*value_parser)(struct loader *ld, const struct key_spec *spec, const char *value,
			     void *base);

struct key_spec {
	enum section_kind section;
	const char *key;
	value_parser parse;
	size_t offset; /* of the field in the section's struct */
	size_t size;
	size_t flag_offset;		/* of a "has_..." bool, for optional MACs */
	uint32_t min, max;		/* for numbers */
	const struct name_value *names; /* for enumerations */
	bool required;
	bool repeatable;
	/* A health key: offset is into struct dplb_health_settings (the VIP's,
	 * or a backend's when given as a backend option), health_field its
	 * override bit. */
	uint32_t health_field;
	/* What the key is for, in sentences, for dplb.ini(5); the range,
	 * names, default and "required" come from the fields above. */
	const char *doc;
};

/* ---- errors ---------------------------------------------------------- */

static bool error_before(struct error_key a, struct error_key b)
{
	int la = a.line ? a.line : INT_MAX;
	int lb = b.line ? b.line : INT_MAX;

	return la < lb || (la == lb && a.seq < b.seq);
}

/*
 * Record "FILE:LINE: problem" (or "FILE: problem" for line 0). Errors are not
 * found in file order (a VIP's missing backends are known only at its end),
 * so the kept ones are the earliest by line, kept sorted by insertion.
 */
static void __attribute__((format(printf, 3, 4)))
report(struct loader *ld, int line, const char *fmt, ...)
{
	struct dplb_config_errors *errs = ld->errs;
	struct error_key key = { line, ld->error_seq++ };
	char problem[DPLB_ERROR_MAX];
	uint32_t pos, n = errs->count;
	const char *path, *ellipsis = "";
	size_t path_len;
	char *msg;
	va_list ap;
	int len;

	if (n == ERROR_SLOTS) {
		errs->dropped++;
		if (!error_before(key, ld->keys[n - 1]))
			return;
		n--; /* the latest kept one makes room */
	}
	for (pos = n; pos > 0 && error_before(key, ld->keys[pos - 1]); pos--)
		;
	memmove(&ld->keys[pos + 1], &ld->keys[pos], (n - pos) * sizeof(ld->keys[0]));
	memmove(errs->messages[pos + 1], errs->messages[pos],
		(n - pos) * sizeof(errs->messages[0]));
	ld->keys[pos] = key;
	errs->count = n + 1;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	/* A path too long to leave room for the problem keeps its tail: the
	 * file's name is the part that tells files apart. */
	path = ld->path;
	path_len = strlen(path);
	if (path_len > PATH_SHOWN_MAX) {
		path += path_len - PATH_SHOWN_MAX + 3;
		ellipsis = "...";
	}
	msg = errs->messages[pos];
	if (ld->in_memory)
		len = snprintf(msg, DPLB_ERROR_MAX, "%s", problem);
	else if (line > 0)
		len = snprintf(msg, DPLB_ERROR_MAX, "%s%s:%d: %s", ellipsis, path, line, problem);
	else
		len = snprintf(msg, DPLB_ERROR_MAX, "%s%s: %s", ellipsis, path, problem);
	/* A cut message should look cut, not silently end mid-word. */
	if (len >= DPLB_ERROR_MAX)
		memcpy(msg + DPLB_ERROR_MAX - 4, "...", 4);
}

/* An error about the key at the current line: "KEY in [SECTION]: problem". */
static void __attribute__((format(printf, 3, 4)))
key_error(struct loader *ld, const struct key_spec *spec, const char *fmt, ...)
{
	char problem[DPLB_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	report(ld, ld->line, "%s in %s: %s", spec->key, ld->section_label, problem);
}

static void no_memory(struct loader *ld)
{
	if (!ld->out_of_memory)
		report(ld, ld->line, "out of memory");
	ld->out_of_memory = true;
}

static int quote_len(size_t len)
{
	return len > QUOTE_MAX ? QUOTE_MAX : (int)len;
}

/* ---- value syntax, shared by keys and backend options ------------------ */

/* A weight is a share of new flows; 0 would be "never", which is state=drain. */
static bool weight_in_range(uint64_t weight)
{
	return weight >= 1 && weight <= DPLB_MAX_WEIGHT;
}

static const struct name_value *find_name(const struct name_value *names, const char *s, size_t len)
{
	for (; names->name; names++)
		if (strlen(names->name) == len && !memcmp(names->name, s, len))
			return names;
	return NULL;
}

static const char *value_name(const struct name_value *names, uint32_t value)
{
	for (; names->name; names++)
		if (names->value == value)
			return names->name;
	return "unknown";
}

/* "a, b or c", for "expected ..." in messages. */
static void list_names(const struct name_value *names, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; names->name && used < size; names++) {
		const char *sep = "";

		if (used)
			sep = names[1].name ? ", " : " or ";
		used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, names->name);
	}
}

static void store_uint(void *field, size_t size, uint32_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;

	/* memcpy: the field may be an enum, a uint8_t or a uint16_t. */
	if (size == 1)
		memcpy(field, &u8, 1);
	else if (size == 2)
		memcpy(field, &u16, 2);
	else
		memcpy(field, &v, 4);
}

static void *field_of(void *base, const struct key_spec *spec)
{
	return (char *)base + spec->offset;
}

static bool number_in_range(struct loader *ld, const struct key_spec *spec, const char *s,
			    size_t len, uint32_t *out)
{
	uint64_t v;
	const int rc = dplb_parse_unsigned(s, len, spec->min, spec->max, &v);

	if (rc == -EINVAL) {
		key_error(ld, spec, "\"%.*s\" is not a number (expected %u..%u)", quote_len(len), s,
			  spec->min, spec->max);
		return false;
	}
	if (rc != 0) {
		key_error(ld, spec, "%.*s is out of range (%u..%u)", quote_len(len), s, spec->min,
			  spec->max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* ---- key parsers ------------------------------------------------------ */

static void parse_number_key(struct loader *ld, const struct key_spec *spec, const char *value,
			     void *base)
{
	uint32_t v;

	if (number_in_range(ld, spec, value, strlen(value), &v))
		store_uint(field_of(base, spec), spec->size, v);
}

static void parse_enum_key(struct loader *ld, const struct key_spec *spec, const char *value,
			   void *base)
{
	const struct name_value *nv = find_name(spec->names, value, strlen(value));
	char expected[160];

	if (nv == NULL) {
		list_names(spec->names, expected, sizeof(expected));
		key_error(ld, spec, "unknown value \"%.*s\" (expected %s)",
			  quote_len(strlen(value)), value, expected);
		return;
	}
	store_uint(field_of(base, spec), spec->size, nv->value);
}

static void parse_ipv4_key(struct loader *ld, const struct key_spec *spec, const char *value,
			   void *base)
{
	size_t len = strlen(value);
	const char *why = dplb_parse_ipv4(value, len, field_of(base, spec));

	if (why)
		key_error(ld, spec, "bad IPv4 address \"%.*s\" (%s)", quote_len(len), value, why);
}

/* A VIP's address, of either family. */
static void parse_vip_address_key(struct loader *ld, const struct key_spec *spec, const char *value,
				  void *base)
{
	struct dplb_vip_config *vip = base;
	size_t len = strlen(value);
	const char *why = dplb_parse_ip(value, len, &vip->family, &vip->address, vip->address6);

	if (why)
		key_error(ld, spec, "bad address \"%.*s\" (%s)", quote_len(len), value, why);
}

/* A value with a "has_..." flag (spec->flag_offset), set once it parsed:
 * what a parser of bytes (a MAC, an IPv6 address) reads, called what. */
static void parse_flagged_bytes(struct loader *ld, const struct key_spec *spec, const char *value,
				void *base, const char *(*parse)(const char *, size_t, uint8_t *),
				const char *what)
{
	size_t len = strlen(value);
	const char *why = parse(value, len, field_of(base, spec));

	if (why) {
		key_error(ld, spec, "bad %s \"%.*s\" (%s)", what, quote_len(len), value, why);
		return;
	}
	*(bool *)((char *)base + spec->flag_offset) = true;
}

static void parse_mac_key(struct loader *ld, const struct key_spec *spec, const char *value,
			  void *base)
{
	parse_flagged_bytes(ld, spec, value, base, dplb_parse_mac, "MAC address");
}

static void parse_ipv6_key(struct loader *ld, const struct key_spec *spec, const char *value,
			   void *base)
{
	parse_flagged_bytes(ld, spec, value, base, dplb_parse_ipv6, "IPv6 address");
}

/* "0", "0,1", "0 1": DPDK port ids, each once. */
static void parse_ports_key(struct loader *ld, const struct key_spec *spec, const char *value,
			    void *base)
{
	struct dplb_config *config = base;
	uint16_t ids[DPLB_MAX_PORTS];
	uint32_t count = 0, id, i;
	const char *p = value;
	size_t len;

	for (;;) {
		p += strspn(p, " \t");
		len = strcspn(p, ", \t");
		if (len == 0) {
			key_error(ld, spec, "empty port id in \"%.*s\"", quote_len(strlen(value)),
				  value);
			return;
		}
		if (!number_in_range(ld, spec, p, len, &id))
			return;
		for (i = 0; i < count; i++) {
			if (ids[i] == id) {
				key_error(ld, spec, "port %u is listed twice", id);
				return;
			}
		}
		if (count == DPLB_MAX_PORTS) {
			key_error(ld, spec, "too many ports (at most %d)", DPLB_MAX_PORTS);
			return;
		}
		ids[count++] = (uint16_t)id;
		p += len;
		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (*p == ',')
			p++;
	}
	memcpy(config->port_ids, ids, sizeof(ids[0]) * count);
	config->port_count = count;
}

/* "IPv4:PORT" or "IPv4" (port 8080). */
static void parse_listen_key(struct loader *ld, const struct key_spec *spec, const char *value,
			     void *base)
{
	struct dplb_config *config = base;
	const char *colon = strchr(value, ':');
	size_t addr_len = colon ? (size_t)(colon - value) : strlen(value);
	uint32_t address, port = 8080;
	uint64_t v;
	const char *why;

	why = dplb_parse_ipv4_any(value, addr_len, &address);
	if (why) {
		key_error(ld, spec,
			  "bad IPv4 address \"%.*s\" (expected ADDRESS[:PORT] "
			  "such as 127.0.0.1:8080)",
			  quote_len(addr_len), value);
		return;
	}
	if (colon) {
		if (dplb_parse_unsigned(colon + 1, strlen(colon + 1), 1, 65535, &v) != 0) {
			key_error(ld, spec, "bad port \"%.*s\" (expected 1..65535)",
				  quote_len(strlen(colon + 1)), colon + 1);
			return;
		}
		port = (uint32_t)v;
	}
	/* Kept as text for libmicrohttpd's bind, normalised. */
	inet_ntop(AF_INET, &address, config->listen_address, sizeof(config->listen_address));
	config->listen_port = (uint16_t)port;
}

/*
 * The token is read when the API needs it, but a file that cannot be read
 * would otherwise surface only as refused requests: check it now.
 */
static void parse_token_file_key(struct loader *ld, const struct key_spec *spec, const char *value,
				 void *base)
{
	struct dplb_config *config = base;
	size_t len = strlen(value);
	char reason[128];
	struct stat st;
	int fd;

	if (len >= sizeof(config->token_file)) {
		key_error(ld, spec, "path too long (%zu characters, at most %zu)", len,
			  sizeof(config->token_file) - 1);
		return;
	}
	/* O_NONBLOCK: a FIFO must not hang the loader. */
	fd = open(value, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		key_error(ld, spec, "cannot read \"%.*s\": %s", quote_len(len), value,
			  strerror_r(errno, reason, sizeof(reason)));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		key_error(ld, spec, "\"%.*s\" is not a regular file", quote_len(len), value);
		return;
	}
	close(fd);
	memcpy(config->token_file, value, len + 1);
}

/* A Linux interface name: what the kernel takes (at most 15 bytes, not "."
 * or ".."), in the characters names have everywhere in dplb. */
static void parse_interface_name_key(struct loader *ld, const struct key_spec *spec,
				     const char *value, void *base)
{
	const size_t len = strlen(value);
	const size_t span = dplb_name_span(value, len);

	if (len >= spec->size) {
		key_error(ld, spec,
			  "\"%.*s\" is too long for an interface name (%zu characters, "
			  "at most %zu)",
			  quote_len(len), value, len, spec->size - 1);
		return;
	}
	if (span < len) {
		key_error(ld, spec,
			  "bad character '%c' in interface name \"%s\" "
			  "(allowed: " DPLB_NAME_CHARACTERS ")",
			  value[span], value);
		return;
	}
	if (!strcmp(value, ".") || !strcmp(value, "..")) {
		key_error(ld, spec, "\"%s\" is not an interface name", value);
		return;
	}
	memcpy(field_of(base, spec), value, len + 1);
}

/* Maglev needs a prime table size so every backend's permutation is full. */
static void parse_maglev_size_key(struct loader *ld, const struct key_spec *spec, const char *value,
				  void *base)
{
	struct dplb_vip_config *vip = base;
	uint32_t m;

	if (!number_in_range(ld, spec, value, strlen(value), &m))
		return;
	if (!dplb_is_prime(m)) {
		key_error(ld, spec, "%u is not prime (the next prime is %u)", m,
			  dplb_next_prime(m));
		return;
	}
	vip->maglev_size = m;
}

/* 0, or an MSS no smaller than every IPv4 host accepts: a clamp below it
 * would break connections rather than save them. */
static void parse_mss_clamp_key(struct loader *ld, const struct key_spec *spec, const char *value,
				void *base)
{
	uint32_t v;

	if (!number_in_range(ld, spec, value, strlen(value), &v))
		return;
	if (v != 0 && v < DPLB_MIN_MSS_CLAMP) {
		key_error(ld, spec,
			  "%u is below %u, the MSS every IPv4 host accepts (0 turns clamping off)",
			  v, DPLB_MIN_MSS_CLAMP);
		return;
	}
	store_uint(field_of(base, spec), spec->size, v);
}

/* "tcp" | "udp" | "none" | "http:/PATH" */
static void parse_health_check_key(struct loader *ld, const struct key_spec *spec,
				   const char *value, void *base)
{
	struct dplb_health_settings *health = base;
	const char *path;
	size_t len, i;

	if (!strcmp(value, "none")) {
		health->check = DPLB_HEALTH_NONE;
		return;
	}
	if (!strcmp(value, "tcp")) {
		health->check = DPLB_HEALTH_TCP;
		return;
	}
	if (!strcmp(value, "udp")) {
		health->check = DPLB_HEALTH_UDP;
		return;
	}
	if (strncmp(value, "http:", 5) || value[5] != '/') {
		key_error(ld, spec,
			  "unknown value \"%.*s\" (expected tcp, udp, http:/PATH or none)",
			  quote_len(strlen(value)), value);
		return;
	}
	path = value + 5;
	len = strlen(path);
	if (len >= sizeof(health->http_path)) {
		key_error(ld, spec, "HTTP path too long (%zu characters, at most %zu)", len,
			  sizeof(health->http_path) - 1);
		return;
	}
	/* It goes into a request line verbatim. */
	for (i = 0; i < len; i++) {
		if (path[i] <= ' ' || path[i] > '~') {
			key_error(ld, spec,
				  "HTTP path \"%.*s\" contains a blank or "
				  "control character",
				  quote_len(len), path);
			return;
		}
	}
	health->check = DPLB_HEALTH_HTTP;
	memcpy(health->http_path, path, len + 1);
}

/* "hex:0a1b..." for binary payloads (a DNS query, say), else the text as
 * written. */
static void parse_health_payload_key(struct loader *ld, const struct key_spec *spec,
				     const char *value, void *base)
{
	struct dplb_health_settings *health = base;
	size_t len = strlen(value), i;
	uint8_t bytes[DPLB_HEALTH_PAYLOAD_MAX];

	if (strncmp(value, "hex:", 4) != 0) {
		if (len > sizeof(health->payload)) {
			key_error(ld, spec, "payload too long (%zu bytes, at most %zu)", len,
				  sizeof(health->payload));
			return;
		}
		memcpy(health->payload, value, len);
		health->payload_len = (uint32_t)len;
		return;
	}
	value += 4;
	len -= 4;
	if (len == 0 || len % 2 != 0 || len / 2 > sizeof(bytes)) {
		key_error(ld, spec, "hex payload needs an even number of digits, 2..%zu",
			  2 * sizeof(bytes));
		return;
	}
	for (i = 0; i < len / 2; i++) {
		const int hi = dplb_hex_digit(value[2 * i]), lo = dplb_hex_digit(value[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			key_error(ld, spec, "\"%.*s\" is not hexadecimal", quote_len(len), value);
			return;
		}
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(health->payload, bytes, len / 2);
	health->payload_len = (uint32_t)(len / 2);
}

static size_t power_of_two_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p *= 2;
	return p;
}

/* Room for more prefixes in list: capacities are powers of two, so 10,000
 * one-prefix lines cost a few reallocations, not 10,000. */
static bool prefix_room(struct dplb_prefix_list *list, uint32_t more)
{
	const size_t capacity = list->count ? power_of_two_at_least(list->count) : 0;
	struct dplb_prefix *grown;

	if ((size_t)list->count + more <= capacity)
		return true;
	grown = realloc(list->items,
			power_of_two_at_least((size_t)list->count + more) * sizeof(*grown));
	if (grown == NULL)
		return false;
	list->items = grown;
	return true;
}

static const char *family_name(uint8_t family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* "10.0.0.0/8 192.168.1.0/24", blanks or commas between: appended to the
 * list (allow or deny), the line's good prefixes even when one is bad. A
 * prefix of the other family than the VIP's address, when that came first,
 * is refused here, at its line (check_vip_protection refuses the rest). */
static void parse_prefixes_key(struct loader *ld, const struct key_spec *spec, const char *value,
			       void *base)
{
	struct dplb_prefix_list *list = field_of(base, spec);
	const struct dplb_vip_config *vip = base;
	const char *p = value, *why;
	struct dplb_prefix prefix;
	size_t len;

	for (p += strspn(p, ", \t"); *p != '\0'; p += len, p += strspn(p, ", \t")) {
		len = strcspn(p, ", \t");
		why = dplb_parse_prefix(p, len, &prefix);
		if (why != NULL) {
			key_error(ld, spec, "bad prefix \"%.*s\" (%s)", quote_len(len), p, why);
			continue;
		}
		if ((vip->family == AF_INET || vip->family == AF_INET6) &&
		    prefix.family != vip->family) {
			key_error(ld, spec,
				  "\"%.*s\" is an %s prefix, and %s is an %s VIP: its clients, "
				  "so its sources, are %s",
				  quote_len(len), p, family_name(prefix.family), ld->section_label,
				  family_name(vip->family), family_name(vip->family));
			continue;
		}
		if (!prefix_room(list, 1)) {
			no_memory(ld);
			return;
		}
		list->items[list->count++] = prefix;
	}
}

static void add_backend(struct loader *ld, const struct key_spec *spec, struct dplb_vip_config *vip,
			const struct dplb_backend_config *b)
{
	struct dplb_backend_config *grown;
	uint32_t capacity;

	/* Duplicates are added too: check_backends() finds them when the
	 * section ends, the same way it does for changes made in memory. */
	if (vip->backend_count == DPLB_MAX_BACKENDS_PER_VIP) {
		key_error(ld, spec, "too many backends (at most %d)", DPLB_MAX_BACKENDS_PER_VIP);
		return;
	}
	if (vip->backend_count == ld->backend_capacity) {
		capacity = ld->backend_capacity ? ld->backend_capacity * 2 : 8;
		grown = realloc(vip->backends, capacity * sizeof(*grown));
		if (grown == NULL) {
			no_memory(ld);
			return;
		}
		vip->backends = grown;
		ld->backend_capacity = capacity;
	}
	vip->backends[vip->backend_count++] = *b;
}

enum backend_option { OPTION_WEIGHT, OPTION_STATE, OPTION_MAC };

static const struct key_spec *find_health_key(const char *name, size_t len);
static size_t key_index(enum section_kind kind, const char *key);

/*
 * "health_port=8080" and the like on a backend line: the VIP's health key
 * of that name, parsed by the same parser into the backend's own settings.
 * Returns false when name is no health key (the caller reports it).
 */
static bool parse_backend_health_option(struct loader *ld, const char *tok, size_t len,
					struct dplb_backend_config *b)
{
	const char *eq = memchr(tok, '=', len);
	const struct key_spec *health_spec = find_health_key(tok, (size_t)(eq - tok));
	char value[2 * DPLB_HEALTH_PAYLOAD_MAX + 8];
	const size_t value_len = len - (size_t)(eq + 1 - tok);

	if (health_spec == NULL)
		return false;
	if (b->health_overrides & health_spec->health_field) {
		key_error(ld, health_spec, "backend option given twice");
		return true;
	}
	if (value_len == 0 || value_len >= sizeof(value)) {
		key_error(ld, health_spec, "backend option needs a value of 1..%zu characters",
			  sizeof(value) - 1);
		return true;
	}
	memcpy(value, eq + 1, value_len);
	value[value_len] = '\0';
	const uint32_t errors_before = ld->errs->count + ld->errs->dropped;
	health_spec->parse(ld, health_spec, value, &b->health);
	if (ld->errs->count + ld->errs->dropped == errors_before)
		b->health_overrides |= health_spec->health_field;
	return true;
}

static const struct name_value backend_options[] = {
	{ "weight", OPTION_WEIGHT },
	{ "state", OPTION_STATE },
	{ "mac", OPTION_MAC },
	{ NULL, 0 },
};

/* One "name=value" backend option; a bad one is reported and not applied. */
static void parse_backend_option(struct loader *ld, const struct key_spec *spec, const char *tok,
				 size_t len, uint32_t *given, struct dplb_backend_config *b)
{
	const char *eq = memchr(tok, '=', len), *v, *why;
	const struct name_value *opt = NULL, *state;
	size_t v_len;
	uint64_t weight;
	int rc;

	if (eq)
		opt = find_name(backend_options, tok, (size_t)(eq - tok));
	if (opt == NULL && eq && parse_backend_health_option(ld, tok, len, b))
		return;
	if (opt == NULL) {
		key_error(ld, spec,
			  "unknown backend option \"%.*s\" (expected weight=N, "
			  "state=up|drain|down, mac=xx:xx:xx:xx:xx:xx or a health_* key=VALUE)",
			  quote_len(len), tok);
		return;
	}
	if (*given & (1u << opt->value)) {
		key_error(ld, spec, "backend option \"%s\" given twice", opt->name);
		return;
	}
	*given |= 1u << opt->value;
	v = eq + 1;
	v_len = len - (size_t)(v - tok);
	switch (opt->value) {
	case OPTION_WEIGHT:
		rc = dplb_parse_unsigned(v, v_len, 1, DPLB_MAX_WEIGHT, &weight);
		if (rc == -EINVAL) {
			key_error(ld, spec, "weight \"%.*s\" is not a number (expected 1..%u)",
				  quote_len(v_len), v, DPLB_MAX_WEIGHT);
			return;
		}
		if (rc != 0) {
			key_error(ld, spec, "weight %.*s is out of range (1..%u)", quote_len(v_len),
				  v, DPLB_MAX_WEIGHT);
			return;
		}
		b->weight = (uint32_t)weight;
		break;
	case OPTION_STATE:
		state = find_name(state_names, v, v_len);
		if (state == NULL) {
			key_error(ld, spec, "unknown state \"%.*s\" (expected up, drain or down)",
				  quote_len(v_len), v);
			return;
		}
		b->state = (enum dplb_backend_state)state->value;
		break;
	default:
		why = dplb_parse_mac(v, v_len, b->mac);
		if (why) {
			key_error(ld, spec, "bad MAC address \"%.*s\" (%s)", quote_len(v_len), v,
				  why);
			return;
		}
		b->has_mac = true;
		break;
	}
}

/* "ADDRESS [weight=N] [state=up|drain|down] [mac=xx:xx:xx:xx:xx:xx]" */
static void parse_backend_key(struct loader *ld, const struct key_spec *spec, const char *value,
			      void *base)
{
	struct dplb_backend_config b = {
		.weight = 1,
		.state = DPLB_BACKEND_UP,
		.line = ld->line,
	};
	const char *p = value, *why;
	uint32_t given = 0;
	size_t len;

	len = strcspn(p, " \t");
	why = dplb_parse_ip(p, len, &b.family, &b.address, b.address6);
	if (why) {
		key_error(ld, spec, "bad address \"%.*s\" (%s)", quote_len(len), p, why);
		return;
	}
	for (p += len; *(p += strspn(p, " \t")); p += len) {
		len = strcspn(p, " \t");
		parse_backend_option(ld, spec, p, len, &given, &b);
	}
	/* Added even when an option was bad (that is reported already and the
	 * load fails), so a later duplicate of its address is caught too. */
	add_backend(ld, spec, base, &b);
}

#define CONFIG_FIELD(m)                                                                            \
	.offset = offsetof(struct dplb_config, m), .size = sizeof(((struct dplb_config *)0)->m)
#define VIP_FIELD(m)                                                                               \
	.offset = offsetof(struct dplb_vip_config, m),                                             \
	.size = sizeof(((struct dplb_vip_config *)0)->m)
#define HEALTH_FIELD(m, bit)                                                                       \
	.offset = offsetof(struct dplb_health_settings, m),                                        \
	.size = sizeof(((struct dplb_health_settings *)0)->m), .health_field = (bit)

static const struct key_spec key_table[] = {
	{ SECTION_DATAPLANE, "ports", parse_ports_key, CONFIG_FIELD(port_ids),
	  /* 65535 is DPDK's "every port" wildcard, never a real id. */
	  .min = 0, .max = 65534,
	  .doc = "DPDK port ids, separated by commas or blanks, at most 8 (default 0); one port "
		 "is one-armed: answers leave by the port they came in on." },
	{ SECTION_DATAPLANE, "address", parse_ipv4_key, CONFIG_FIELD(address), .required = true,
	  .doc = "Our own IPv4 address on those ports: the outer source of encapsulated packets,"
		 " and the address dplb answers ARP and ping for." },
	{ SECTION_DATAPLANE, "gateway", parse_ipv4_key, CONFIG_FIELD(gateway),
	  .doc = "Next hop for backends that are not on-link (no default)." },
	{ SECTION_DATAPLANE, "prefix_length", parse_number_key, CONFIG_FIELD(prefix_length),
	  .min = 1, .max = 32,
	  .doc = "Length of our subnet: backends inside address/prefix_length are reached "
		 "directly, others through the gateway; without it every backend is on-link when"
		 " no gateway is given, else behind it." },
	{ SECTION_DATAPLANE, "gateway_mac", parse_mac_key, CONFIG_FIELD(gateway_mac),
	  .flag_offset = offsetof(struct dplb_config, has_gateway_mac),
	  .doc = "Static MAC of the gateway, used instead of resolving it by ARP." },
	{ SECTION_DATAPLANE, "address6", parse_ipv6_key, CONFIG_FIELD(address6),
	  .flag_offset = offsetof(struct dplb_config, has_address6),
	  .doc = "Our own IPv6 address on those ports: the outer source of packets encapsulated "
		 "toward IPv6 backends, and the address dplb answers neighbour solicitations and "
		 "ICMPv6 echo for. Required when any backend is IPv6; not needed for IPv6 VIPs "
		 "whose backends are IPv4 (default: none)." },
	{ SECTION_DATAPLANE, "gateway6", parse_ipv6_key, CONFIG_FIELD(gateway6),
	  .flag_offset = offsetof(struct dplb_config, has_gateway6),
	  .doc = "Next hop for IPv6 backends that are not on-link (no default): inside "
		 "address6/prefix_length6, or a link-local address (fe80::/10). Needs address6." },
	{ SECTION_DATAPLANE, "prefix_length6", parse_number_key, CONFIG_FIELD(prefix_length6),
	  .min = 1, .max = 128,
	  .doc = "Length of our IPv6 subnet: IPv6 backends inside address6/prefix_length6 are "
		 "reached directly, others through gateway6; without it every IPv6 backend is "
		 "on-link when no gateway6 is given, else behind it. Needs address6." },
	{ SECTION_DATAPLANE, "gateway_mac6", parse_mac_key, CONFIG_FIELD(gateway_mac6),
	  .flag_offset = offsetof(struct dplb_config, has_gateway_mac6),
	  .doc = "Static MAC of gateway6, used instead of resolving it by neighbour discovery; "
		 "without gateway6, the next hop of every IPv6 backend." },
	{ SECTION_DATAPLANE, "flow_table_size", parse_number_key, CONFIG_FIELD(flow_table_size),
	  .min = 1024, .max = 268435456,
	  .doc = "Flow table entries per worker lcore; needs a restart to change." },
	{ SECTION_DATAPLANE, "flow_table_size6", parse_number_key, CONFIG_FIELD(flow_table_size6),
	  .min = DPLB_MIN_FLOW_TABLE_SIZE6, .max = 268435456,
	  .doc = "IPv6 flows per worker lcore, in a table of their own; by default a quarter "
		 "of flow_table_size (at least 256): an IPv6 flow takes 81 bytes against IPv4's "
		 "24. Needs a restart to change." },
	{ SECTION_DATAPLANE, "tcp_timeout", parse_number_key, CONFIG_FIELD(tcp_timeout), .min = 1,
	  .max = 86400, .doc = "Idle seconds before a TCP flow is forgotten." },
	{ SECTION_DATAPLANE, "tcp_closing_timeout", parse_number_key,
	  CONFIG_FIELD(tcp_closing_timeout), .min = 1, .max = 86400,
	  .doc = "Idle seconds of a TCP flow once the client sent FIN or RST; a SYN on the same "
		 "5-tuple puts it back on tcp_syn_timeout." },
	{ SECTION_DATAPLANE, "tcp_syn_timeout", parse_number_key, CONFIG_FIELD(tcp_syn_timeout),
	  .min = 1, .max = 86400,
	  .doc = "Idle seconds of a TCP flow whose client has sent nothing but SYNs: a "
		 "connection still opening, or a SYN flood's spoofed source. Short, so a flood "
		 "ages out of the table fast; the flow's first packet without SYN puts it on "
		 "tcp_timeout." },
	{ SECTION_DATAPLANE, "udp_timeout", parse_number_key, CONFIG_FIELD(udp_timeout), .min = 1,
	  .max = 86400, .doc = "Idle seconds before a UDP flow is forgotten." },
	{ SECTION_DATAPLANE, "gue_port", parse_number_key, CONFIG_FIELD(gue_port), .min = 1,
	  .max = 65535, .doc = "UDP destination port of GUE packets to backends." },
	{ SECTION_DATAPLANE, "vlan", parse_number_key, CONFIG_FIELD(vlan), .min = 1, .max = 4094,
	  .doc = "802.1Q VLAN id of the frames dplb itself sends out of its ports, for ports on "
		 "a VLAN of a trunk: ARP requests and neighbour solicitations for next hops, and "
		 "with exception_path = tap whatever the kernel sends through its tap (its BGP "
		 "session, health checks routed there); frames of that VLAN for the kernel reach "
		 "it untagged, others (untagged, or of another VLAN) as they came. Forwarded "
		 "packets and dplb's answers (ARP replies, neighbour advertisements, echo "
		 "replies, ICMP errors) keep the tag their packet arrived with, whatever this "
		 "says (default: untagged)." },
	{ SECTION_DATAPLANE, "mtu", parse_number_key, CONFIG_FIELD(mtu), .min = 576, .max = 9216,
	  .doc = "Largest IP packet dplb sends, encapsulation included; bigger packets with DF "
		 "get ICMP fragmentation-needed, bigger IPv6 packets ICMPv6 packet too big. With "
		 "an IPv6 VIP it is at least 1280 (the packets every IPv6 link carries, which no "
		 "router fragments) plus the encapsulation toward that VIP's backends: 1300 for "
		 "ipip to IPv4 backends, 1320 to IPv6 ones, 8 more for gue." },
	{ SECTION_DATAPLANE, "mbufs", parse_number_key, CONFIG_FIELD(mbufs), .min = 0,
	  .max = 16777216,
	  .doc = "Packet buffers in the mbuf pool. 0 sizes the pool from what the ports need "
		 "(queues x descriptors, per-lcore caches, bursts in flight, the management "
		 "rings), as logged at start-up; set more for a driver that holds buffers of "
		 "its own (net_pcap with infinite_rx keeps the whole capture). Needs a restart "
		 "to change." },
	{ SECTION_DATAPLANE, "exception_path", parse_enum_key, CONFIG_FIELD(exception_path),
	  .names = exception_path_names,
	  .doc = "Where frames for dplb's own address that dplb does not answer itself go. none: "
		 "they are dropped (not_for_vip, icmp_unhandled). tap: to the kernel, through a "
		 "tap interface per port (exception_interface) that dplb creates at start with "
		 "the port's MAC and address/prefix_length, and whatever the kernel sends there "
		 "goes out of the port; so ssh, a BGP daemon or health checks can use dplb's "
		 "address. The kernel gets TCP and UDP to dplb's address, ICMP to it other than "
		 "echo requests, ARP replies to it and neighbours' ARP announcements; dplb keeps "
		 "answering ARP requests and pings for its address, and the kernel never sees "
		 "VIP traffic. Needs prefix_length and /dev/net/tun; needs a restart to "
		 "change." },
	{ SECTION_DATAPLANE, "exception_interface", parse_interface_name_key,
	  CONFIG_FIELD(exception_interface),
	  .doc = "Name of the first port's tap interface (exception_path = tap), 1..15 of "
		 "A-Z a-z 0-9 _ . - (default dplb0). With several ports the next ones count its "
		 "trailing number up (dplb0, dplb1, ...), so it must end in one. No interface of "
		 "that name may exist when dplb starts. Needs a restart to change." },
	{ SECTION_DATAPLANE, "announce_table", parse_number_key, CONFIG_FIELD(announce_table),
	  .min = 0, .max = 2147483647,
	  .doc = "Kernel routing table in which dplb keeps a route (address/32 through the first "
		 "port's tap, proto static) for every VIP address while it runs and some VIP of "
		 "that address has a backend taking new flows (\"healthy\" in /vips), for a "
		 "routing daemon to announce (conf/bird/bird.conf: BIRD's kernel protocol with "
		 "learn); the routes go when the VIP has no such backend, when dplb stops, and "
		 "with the tap if dplb dies. 0 (the default): nothing announced. Needs "
		 "exception_path = tap; not 253..255, the kernel's own tables." },
	{ SECTION_DATAPLANE, "drain_seconds", parse_number_key, CONFIG_FIELD(drain_seconds),
	  .min = 0, .max = 3600,
	  .doc = "With announce_table, seconds SIGTERM keeps forwarding after withdrawing every "
		 "route, while the routers move their flows elsewhere (a second SIGTERM or "
		 "SIGINT stops at once; SIGINT does not wait). Without announce_table SIGTERM "
		 "stops at once." },
	{ SECTION_DATAPLANE, "exception_rate", parse_number_key, CONFIG_FIELD(exception_rate),
	  .min = 0, .max = 10000000,
	  .doc = "With exception_path = tap, frames a second (default 10000) the management "
		 "lcore hands the kernel from the workers' ordinary rings: TCP, UDP and ICMP for "
		 "dplb's address. Beyond it frames wait in the rings, and what does not fit is "
		 "dropped as exception_busy, so a flood to dplb's address cannot take the CPU "
		 "the kernel, its BGP daemon and the management lcore share (control-plane "
		 "policing). BGP and BFD from a peer the kernel talks to take a priority ring "
		 "that this does not limit. 0: no limit." },

	{ SECTION_MANAGEMENT, "listen", parse_listen_key, CONFIG_FIELD(listen_address),
	  .doc = "Address and port of the HTTP endpoint (JSON, Prometheus metrics, changes), "
		 "default 127.0.0.1:8080; keep it on loopback unless a token protects changes." },
	{ SECTION_MANAGEMENT, "token_file", parse_token_file_key, CONFIG_FIELD(token_file),
	  .doc = "File holding the bearer token that changes through the HTTP endpoint must "
		 "carry; it must be readable when the file is loaded (default: none, changes are"
		 " not authenticated)." },
	{ SECTION_MANAGEMENT, "allow_unauthenticated", parse_enum_key,
	  CONFIG_FIELD(allow_unauthenticated), .names = yes_no_names,
	  .doc = "Say yes to mean it when the endpoint listens beyond loopback without a "
		 "token_file: dplb then does not warn at start, and a reload may remove "
		 "token_file from such a listener (without yes it is refused)." },
	{ SECTION_MANAGEMENT, "health_source", parse_ipv4_key, CONFIG_FIELD(health_source),
	  .doc = "Address health checks leave from, through the host's network stack (a "
		 "management NIC's address); default: the kernel chooses by its routes." },
	{ SECTION_MANAGEMENT, "health_tcp", parse_enum_key, CONFIG_FIELD(health_tcp),
	  .names = health_tcp_names,
	  .doc = "How tcp checks are made: syn sends a SYN from a raw socket and reads the "
		 "SYN-ACK or reset (the server's application never sees it, and it costs a "
		 "fraction of a connection); connect opens and resets a whole connection. syn "
		 "needs CAP_NET_RAW; without it dplb says so and connects." },
	{ SECTION_MANAGEMENT, "persist_changes", parse_enum_key, CONFIG_FIELD(persist_changes),
	  .names = yes_no_names,
	  .doc = "yes: every change made through the HTTP API (a backend's, a VIP's allow, "
		 "deny and rate limit) is written into this file before it is answered (only "
		 "the lines it changes change; the new file replaces the old atomically), so a "
		 "reload or a restart keeps it; a change is refused when the file changed since "
		 "dplb read it or cannot be written. no: "
		 "API changes live in memory and the next reload undoes them (for a file that "
		 "configuration management owns)." },

	{ SECTION_VIP, "address", parse_vip_address_key, VIP_FIELD(address), .required = true,
	  .doc = "The virtual address clients connect to, IPv4 or IPv6 (2001:db8::10). An IPv6 "
		 "VIP's backends may be of either family, as may an IPv4 VIP's." },
	{ SECTION_VIP, "port", parse_number_key, VIP_FIELD(port), .min = 0, .max = 65535,
	  .doc = "Destination port; 0 means every port." },
	{ SECTION_VIP, "protocol", parse_enum_key, VIP_FIELD(protocol), .names = protocol_names,
	  .doc = "Transport protocol of the service." },
	{ SECTION_VIP, "scheduler", parse_enum_key, VIP_FIELD(scheduler), .names = scheduler_names,
	  .doc = "How a new flow picks its backend; maglev makes the same choice on every dplb "
		 "with the same backends." },
	{ SECTION_VIP, "encap", parse_enum_key, VIP_FIELD(encap), .names = encap_names,
	  .doc = "How packets are tunnelled to backends: IP-in-IP, or GUE to gue_port." },
	{ SECTION_VIP, "maglev_size", parse_maglev_size_key, VIP_FIELD(maglev_size), .min = 2,
	  .max = DPLB_MAX_MAGLEV_SIZE,
	  .doc = "Maglev lookup table size: a prime, at least the number of backends; bigger "
		 "tables follow weights more finely." },
	{ SECTION_VIP, "mss_clamp", parse_mss_clamp_key, VIP_FIELD(mss_clamp), .min = 0,
	  .max = DPLB_MAX_MSS_CLAMP,
	  .doc = "TCP VIPs: a SYN (without ACK) whose MSS option is larger is forwarded with "
		 "this MSS instead, its checksum updated, and counted (mss_clamped). It bounds "
		 "the segments the backend sends straight to the client, for clients behind "
		 "links with a smaller MTU than the backend's (tunnels, PPPoE); a SYN without an "
		 "MSS option, or with a malformed option list, is left alone. 0 turns it off; "
		 "otherwise at least 536, the MSS every IPv4 host accepts, and on an IPv6 VIP at "
		 "least 1220, the MSS of the 1280-byte packets every IPv6 link carries (a lower "
		 "clamp would only shrink every segment)." },
	{ SECTION_VIP, "health_check", parse_health_check_key,
	  HEALTH_FIELD(check, DPLB_HEALTH_FIELD_CHECK),
	  .doc = "How each backend is checked: tcp (a connect), http:/PATH (a GET, healthy on "
		 "2xx or 3xx unless health_expect_status says otherwise), udp (health_payload is "
		 "sent, any answer is healthy, ICMP port unreachable is not) or none (default). "
		 "This and every health_* key and slow_start may also be set on one backend line "
		 "(backend = ADDRESS health_port=8080)." },
	{ SECTION_VIP, "health_expect_status", parse_number_key,
	  HEALTH_FIELD(expect_status, DPLB_HEALTH_FIELD_EXPECT_STATUS), .min = 100, .max = 599,
	  .doc = "HTTP checks: the one status that is healthy (default: any 2xx or 3xx)." },
	{ SECTION_VIP, "health_port", parse_number_key, HEALTH_FIELD(port, DPLB_HEALTH_FIELD_PORT),
	  .min = 1, .max = 65535,
	  .doc = "Port the checks go to (default: the VIP's port; required when it is 0)." },
	{ SECTION_VIP, "health_interval_ms", parse_number_key,
	  HEALTH_FIELD(interval_ms, DPLB_HEALTH_FIELD_INTERVAL), .min = 100, .max = 600000,
	  .doc = "Milliseconds from the start of one check to the start "
		 "of the next." },
	{ SECTION_VIP, "health_timeout_ms", parse_number_key,
	  HEALTH_FIELD(timeout_ms, DPLB_HEALTH_FIELD_TIMEOUT), .min = 10, .max = 600000,
	  .doc = "A check not answered within this many milliseconds has failed; at most "
		 "health_interval_ms (default: the same as health_interval_ms)." },
	{ SECTION_VIP, "health_rise", parse_number_key, HEALTH_FIELD(rise, DPLB_HEALTH_FIELD_RISE),
	  .min = 1, .max = 100,
	  .doc = "Consecutive successful checks that make an unhealthy backend healthy "
		 "again." },
	{ SECTION_VIP, "health_fall", parse_number_key, HEALTH_FIELD(fall, DPLB_HEALTH_FIELD_FALL),
	  .min = 1, .max = 100, .doc = "Consecutive failed checks that make a backend unhealthy." },
	{ SECTION_VIP, "health_payload", parse_health_payload_key,
	  HEALTH_FIELD(payload, DPLB_HEALTH_FIELD_PAYLOAD),
	  .doc = "UDP checks: the datagram sent, as text, or hex:0a1b... for bytes (default: "
		 "empty)." },
	{ SECTION_VIP, "slow_start", parse_number_key,
	  HEALTH_FIELD(slow_start, DPLB_HEALTH_FIELD_SLOW_START), .min = 0, .max = 3600,
	  .doc = "Seconds over which a backend that became healthy again ramps from 10% to "
		 "100% of its weight for new flows; 0 turns it off." },
	{ SECTION_VIP, "allow", parse_prefixes_key, VIP_FIELD(allow), .repeatable = true,
	  .doc = "Source prefixes (ADDRESS/LENGTH, or one address) whose packets this VIP "
		 "forwards; once any is given, packets from every other source are dropped and "
		 "counted (acl_denied). Several on a line, and as many lines as needed; of the "
		 "VIP's family, as its clients are (10.0.0.0/8 on an IPv4 VIP, 2001:db8::/32 on "
		 "an IPv6 one). Checked on every packet, so a source "
		 "taken off the list loses its established flows at once. Default: every "
		 "source." },
	{ SECTION_VIP, "deny", parse_prefixes_key, VIP_FIELD(deny), .repeatable = true,
	  .doc = "Source prefixes whose packets are dropped and counted (acl_denied), whatever "
		 "allow says: deny wins, at any prefix length (allow = 10.0.0.0/8 with deny = "
		 "10.1.0.0/16 lets 10.2.3.4 in and not 10.1.2.3, and deny = 10.0.0.0/8 with allow ="
		 " 10.1.2.0/24 lets none of them in). allow and deny hold at most 65536 prefixes "
		 "together." },
	{ SECTION_VIP, "new_flow_rate", parse_number_key, VIP_FIELD(new_flow_rate), .min = 0,
	  .max = DPLB_MAX_NEW_FLOW_RATE,
	  .doc = "New flows per second this VIP takes, over all workers (each of N workers "
		 "takes new_flow_rate / N: RSS spreads new flows evenly); a flow beyond it is "
		 "counted (rate_limited) and treated as rate_limit_action says. Established flows "
		 "are never limited. 0 turns the limit off." },
	{ SECTION_VIP, "new_flow_burst", parse_number_key, VIP_FIELD(new_flow_burst), .min = 0,
	  .max = DPLB_MAX_NEW_FLOW_RATE,
	  .doc = "How many new flows the VIP takes at once after a quiet spell: the token "
		 "bucket's size (each worker has its share, at least 1); 0 means new_flow_rate, "
		 "a second's worth." },
	{ SECTION_VIP, "rate_limit_action", parse_enum_key, VIP_FIELD(rate_limit_action),
	  .names = rate_limit_action_names,
	  .doc = "What becomes of a packet of a new flow beyond new_flow_rate: drop it (a drop "
		 "of reason rate_limited), or stateless: forward it by the VIP's hash without "
		 "creating a flow entry (counted as rate_limited_stateless), as when the flow "
		 "table is full, so backends still get it but the flow table is spared. stateless "
		 "needs a hashing scheduler (maglev or source-hash): a flow that gets its entry "
		 "later must keep the backend the hash gave it." },
	{ SECTION_VIP, "table_full", parse_enum_key, VIP_FIELD(table_full),
	  .names = table_full_names,
	  .doc = "What becomes of a new flow's packet when its worker's flow table has no room: "
		 "stateless (default) forwards it by Maglev without an entry, whatever the "
		 "scheduler, so the flow still goes to one backend (a new pick is made once there "
		 "is room, and keeps that backend: see README); drop drops it (a drop of reason "
		 "table_full), for VIPs whose backends must not see flows dplb cannot track. "
		 "Either way the VIP's table_full counter counts it." },
	{ SECTION_VIP, "fragments", parse_enum_key, VIP_FIELD(fragments), .names = fragments_names,
	  .doc = "What becomes of fragments sent to the VIP, IPv4 or IPv6. follow (default): the "
		 "first "
		 "fragment, which carries the ports, is scheduled as any packet; the worker "
		 "remembers its backend for a few seconds, and the later fragments, which carry "
		 "no ports, go to the same backend (those arriving before their first wait for "
		 "it up to a tenth of a second). A fragment whose first never comes goes by a "
		 "hash of source, destination and protocol over the VIP's Maglev table, when "
		 "this is the only VIP of its address and protocol (else it is dropped, as "
		 "fragment_unplaced). Fragments are tunnelled as they are: the backend "
		 "reassembles. drop: every fragment is dropped (fragment)." },
	{ SECTION_VIP, "backend", parse_backend_key, VIP_FIELD(backends), .repeatable = true,
	  .doc = "One backend per line: weight (1..65535, default 1) is its share of new flows; "
		 "state up takes new flows (default), drain keeps only existing ones, down takes"
		 " none; mac pins the next-hop MAC instead of ARP (or neighbour discovery). "
		 "ADDRESS is IPv4 or IPv6, whatever the VIP's family; an IPv6 backend needs "
		 "address6 in [dataplane], its packets' outer source." },
};

_Static_assert(ARRAY_SIZE(key_table) <= KEY_TABLE_MAX, "grow KEY_TABLE_MAX");

static const struct key_spec *find_health_key(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++)
		if (key_table[i].health_field && strlen(key_table[i].key) == len &&
		    !memcmp(key_table[i].key, name, len))
			return &key_table[i];
	return NULL;
}

/* ---- one backend line, written and read back --------------------------- */

/* snprintf into a buffer that may run out: used keeps counting, as
 * snprintf's return does, so the caller learns the length it needed. */
struct text_out {
	char *buf;
	size_t size;
	size_t used;
};

static void __attribute__((format(printf, 2, 3)))
text_printf(struct text_out *o, const char *fmt, ...)
{
	const size_t room = o->used < o->size ? o->size - o->used : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
}

/* A health key's value as its parser reads it back. */
static int format_health_value(struct text_out *o, const struct key_spec *spec,
			       const struct dplb_health_settings *h)
{
	uint32_t v = 0;

	if (spec->parse == parse_health_check_key) {
		if (h->check == DPLB_HEALTH_HTTP)
			text_printf(o, "http:%s", h->http_path);
		else
			text_printf(o, "%s", dplb_health_check_name(h->check));
	} else if (spec->parse == parse_health_payload_key) {
		/* Always hex: text could hold a blank, which ends an option. */
		if (h->payload_len == 0 || h->payload_len > sizeof(h->payload))
			return -EINVAL;
		text_printf(o, "hex:");
		for (uint32_t i = 0; i < h->payload_len; i++)
			text_printf(o, "%02x", h->payload[i]);
	} else {
		memcpy(&v, (const char *)h + spec->offset, spec->size <= 4 ? spec->size : 4);
		text_printf(o, "%u", v);
	}
	return 0;
}

int dplb_config_format_backend(const struct dplb_backend_config *b, char *out, size_t size)
{
	struct text_out o = { out, size, 0 };
	char address[INET6_ADDRSTRLEN];
	const uint8_t *m = b->mac;

	if (size)
		out[0] = '\0';
	text_printf(&o, "%s", dplb_backend_address_text(b, address));
	if (b->weight != 1)
		text_printf(&o, " weight=%u", b->weight);
	if (b->state != DPLB_BACKEND_UP)
		text_printf(&o, " state=%s", dplb_backend_state_name(b->state));
	if (b->has_mac)
		text_printf(&o, " mac=%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
			    m[5]);
	/* In the key table's order, under the key table's names. */
	for (size_t i = 0; i < ARRAY_SIZE(key_table); i++) {
		const struct key_spec *spec = &key_table[i];

		if (!spec->health_field || !(b->health_overrides & spec->health_field))
			continue;
		text_printf(&o, " %s=", spec->key);
		if (format_health_value(&o, spec, &b->health) != 0)
			return -EINVAL;
	}
	return o.used > INT_MAX ? INT_MAX : (int)o.used;
}

int dplb_config_parse_backend(const char *value, struct dplb_backend_config *out, char *error)
{
	struct dplb_config_errors errs;
	struct dplb_vip_config vip = { .name = "" };
	struct loader ld = {
		.path = "",
		.section = SECTION_VIP,
		.section_label = "[vip]",
		.errs = &errs,
		.in_memory = true,
	};
	const struct key_spec *spec = &key_table[key_index(SECTION_VIP, "backend")];
	int rc = 0;

	memset(&errs, 0, sizeof(errs));
	parse_backend_key(&ld, spec, value, &vip);
	if (ld.out_of_memory)
		rc = -ENOMEM;
	else if (errs.count || errs.dropped || vip.backend_count != 1)
		rc = -EINVAL;
	if (rc != 0)
		snprintf(error, DPLB_ERROR_MAX, "%s",
			 errs.count ? errs.messages[0] : "not a backend");
	else
		*out = vip.backends[0];
	free(vip.backends);
	return rc;
}

/* ---- health settings --------------------------------------------------- */

static void override_health(struct dplb_health_settings *to,
			    const struct dplb_health_settings *from, uint32_t fields)
{
	if (fields & DPLB_HEALTH_FIELD_CHECK) {
		to->check = from->check;
		memcpy(to->http_path, from->http_path, sizeof(to->http_path));
	}
	if (fields & DPLB_HEALTH_FIELD_EXPECT_STATUS)
		to->expect_status = from->expect_status;
	if (fields & DPLB_HEALTH_FIELD_PORT)
		to->port = from->port;
	if (fields & DPLB_HEALTH_FIELD_INTERVAL)
		to->interval_ms = from->interval_ms;
	if (fields & DPLB_HEALTH_FIELD_TIMEOUT)
		to->timeout_ms = from->timeout_ms;
	if (fields & DPLB_HEALTH_FIELD_RISE)
		to->rise = from->rise;
	if (fields & DPLB_HEALTH_FIELD_FALL)
		to->fall = from->fall;
	if (fields & DPLB_HEALTH_FIELD_SLOW_START)
		to->slow_start = from->slow_start;
	if (fields & DPLB_HEALTH_FIELD_PAYLOAD) {
		to->payload_len = from->payload_len;
		memcpy(to->payload, from->payload, sizeof(to->payload));
	}
}

void dplb_config_resolve_health(struct dplb_vip_config *vip)
{
	for (uint32_t i = 0; i < vip->backend_count; i++) {
		struct dplb_backend_config *b = &vip->backends[i];
		const struct dplb_health_settings own = b->health;

		b->health = vip->health;
		override_health(&b->health, &own, b->health_overrides);
	}
}

uint16_t dplb_health_port(const struct dplb_vip_config *vip, const struct dplb_backend_config *b)
{
	const uint32_t port = b != NULL ? b->health.port : vip->health.port;

	return (uint16_t)(port != 0 ? port : vip->port);
}

const char *dplb_health_check_name(enum dplb_health_check check)
{
	switch (check) {
	case DPLB_HEALTH_TCP:
		return "tcp";
	case DPLB_HEALTH_HTTP:
		return "http";
	case DPLB_HEALTH_UDP:
		return "udp";
	case DPLB_HEALTH_NONE:
		break;
	}
	return "none";
}

/* ---- sections --------------------------------------------------------- */

static unsigned int edit_distance(const char *a, const char *b)
{
	unsigned int row[KEY_LEN_MAX + 1], prev, cur, best;
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > KEY_LEN_MAX || lb > KEY_LEN_MAX)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (unsigned int)i;
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

static void unknown_key(struct loader *ld, const char *name)
{
	const char *guess = NULL;
	unsigned int best = 3, d; /* a typo, not a different word */
	size_t i;

	for (i = 0; i < ARRAY_SIZE(key_table); i++) {
		if (key_table[i].section != ld->section)
			continue;
		d = edit_distance(name, key_table[i].key);
		if (d < best) {
			best = d;
			guess = key_table[i].key;
		}
	}
	if (guess)
		report(ld, ld->line, "unknown key \"%.*s\" in %s (did you mean \"%s\"?)",
		       quote_len(strlen(name)), name, ld->section_label, guess);
	else
		report(ld, ld->line, "unknown key \"%.*s\" in %s", quote_len(strlen(name)), name,
		       ld->section_label);
}

static struct dplb_vip_config *open_vip(struct loader *ld)
{
	return &ld->config->vips[ld->vip];
}

static void check_required(struct loader *ld, enum section_kind kind, int line)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(key_table); i++)
		if (key_table[i].section == kind && key_table[i].required && !ld->seen[i])
			report(ld, line, "missing required key \"%s\" in %s", key_table[i].key,
			       kind == SECTION_VIP	   ? ld->section_label
			       : kind == SECTION_DATAPLANE ? "[dataplane]"
							   : "[management]");
}

static size_t key_index(enum section_kind kind, const char *key)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(key_table); i++)
		if (key_table[i].section == kind && !strcmp(key_table[i].key, key))
			return i;
	return SIZE_MAX;
}

/* ---- rules on what was read ------------------------------------------- */

/*
 * The rules a VIP's backends must meet however they were made: the loader
 * applies them when a [vip:NAME] section ends, dplb_config_validate() to a
 * configuration changed in memory (the API), so both refuse the same things.
 */

struct backend_position {
	const struct dplb_backend_config *backend;
	uint32_t index;
};

static int compare_backend_positions(const void *a, const void *b)
{
	const struct backend_position *x = a, *y = b;
	const int order = dplb_backend_address_compare(x->backend, y->backend);

	if (order != 0)
		return order;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted rather than compared pairwise: 4096 backends stay cheap. */
static void check_duplicate_backends(struct loader *ld, const struct dplb_vip_config *vip)
{
	struct backend_position *sorted;
	char text[INET6_ADDRSTRLEN], first_at[32] = "";
	uint32_t i, first = 0;

	if (vip->backend_count < 2)
		return;
	sorted = malloc(vip->backend_count * sizeof(*sorted));
	if (sorted == NULL) {
		no_memory(ld);
		return;
	}
	for (i = 0; i < vip->backend_count; i++)
		sorted[i] = (struct backend_position){ &vip->backends[i], i };
	qsort(sorted, vip->backend_count, sizeof(*sorted), compare_backend_positions);
	for (i = 1; i < vip->backend_count; i++) {
		const struct dplb_backend_config *b = &vip->backends[sorted[i].index];

		if (dplb_backend_address_compare(b, sorted[i - 1].backend) != 0) {
			first = i;
			continue;
		}
		if (!ld->in_memory)
			snprintf(first_at, sizeof(first_at), " (first at line %d)",
				 vip->backends[sorted[first].index].line);
		report(ld, b->line, "backend in [vip:%s]: duplicate backend %s%s", vip->name,
		       dplb_backend_address_text(b, text), first_at);
	}
	free(sorted);
}

static const uint8_t unspecified6[16];

/* Values the parsers never store badly; a change in memory might. */
static void check_backend_values(struct loader *ld, const struct dplb_vip_config *vip)
{
	for (uint32_t i = 0; i < vip->backend_count; i++) {
		const struct dplb_backend_config *b = &vip->backends[i];

		if (b->family == AF_INET6 && memcmp(b->address6, unspecified6, 16) == 0)
			report(ld, b->line, "backend in [vip:%s]: :: is not a usable address",
			       vip->name);
		else if (b->family == AF_INET6 && b->address != 0)
			report(ld, b->line,
			       "backend in [vip:%s]: an IPv6 backend has an IPv4 address too",
			       vip->name);
		else if (b->family != AF_INET6 && b->address == 0)
			report(ld, b->line, "backend in [vip:%s]: 0.0.0.0 is not a usable address",
			       vip->name);
		if (!weight_in_range(b->weight))
			report(ld, b->line,
			       "backend in [vip:%s]: weight %u is out of range (1..%u)", vip->name,
			       b->weight, DPLB_MAX_WEIGHT);
		if (b->state != DPLB_BACKEND_UP && b->state != DPLB_BACKEND_DRAIN &&
		    b->state != DPLB_BACKEND_DOWN)
			report(ld, b->line, "backend in [vip:%s]: unknown state %d", vip->name,
			       (int)b->state);
	}
}

/*
 * What each backend's resolved health settings must meet: a check needs a
 * port to go to (a VIP of every port has none to lend), and a timeout no
 * longer than the interval (or fall checks would take longer than fall
 * intervals). A problem a backend line made is reported on that line; one
 * the VIP's keys made, once, on the VIP's.
 */
static void check_health_settings(struct loader *ld, const struct dplb_vip_config *vip)
{
	const char *vip_problem = NULL;
	const struct dplb_backend_config *example = NULL;

	for (uint32_t i = 0; i < vip->backend_count; i++) {
		const struct dplb_backend_config *b = &vip->backends[i];
		const struct dplb_health_settings *h = &b->health;

		if (h->check == DPLB_HEALTH_NONE)
			continue;
		if (dplb_health_port(vip, b) == 0) {
			if (b->health_overrides &
			    (DPLB_HEALTH_FIELD_CHECK | DPLB_HEALTH_FIELD_PORT))
				report(ld, b->line,
				       "backend in [vip:%s]: health_check %s needs "
				       "health_port (the VIP has port 0)",
				       vip->name, dplb_health_check_name(h->check));
			else if (vip_problem == NULL)
				vip_problem = "port", example = b;
		}
		if (h->timeout_ms > h->interval_ms) {
			if (b->health_overrides &
			    (DPLB_HEALTH_FIELD_TIMEOUT | DPLB_HEALTH_FIELD_INTERVAL))
				report(ld, b->line,
				       "backend in [vip:%s]: health_timeout_ms %u is longer "
				       "than health_interval_ms %u",
				       vip->name, h->timeout_ms, h->interval_ms);
			else if (vip_problem == NULL)
				vip_problem = "timeout", example = b;
		}
	}
	if (vip_problem != NULL && vip_problem[0] == 'p')
		report(ld, vip->line,
		       "[vip:%s] has port 0 (every port): health_check %s needs "
		       "health_port",
		       vip->name, dplb_health_check_name(example->health.check));
	else if (vip_problem != NULL)
		report(ld, vip->line,
		       "health_timeout_ms %u in [vip:%s] is longer than "
		       "health_interval_ms %u",
		       example->health.timeout_ms, vip->name, example->health.interval_ms);
}

/*
 * maglev_line: where maglev_size was set (0: not set), so a table too small
 * for its backends is reported where it can be fixed. backend_lines_bad: a
 * backend line was reported already, so "no backends" would only repeat it.
 */
static void check_vip_backends(struct loader *ld, const struct dplb_vip_config *vip,
			       int maglev_line, bool backend_lines_bad)
{
	if (vip->backend_count == 0 && !backend_lines_bad)
		report(ld, vip->line, "[vip:%s] has no backends%s", vip->name,
		       ld->in_memory ? "" : " (add \"backend = ADDRESS\")");
	if (vip->backend_count > DPLB_MAX_BACKENDS_PER_VIP)
		report(ld, vip->line, "[vip:%s] has too many backends (at most %d)", vip->name,
		       DPLB_MAX_BACKENDS_PER_VIP);
	if (vip->backend_count > vip->maglev_size)
		report(ld, maglev_line ? maglev_line : vip->line,
		       "maglev_size %u in [vip:%s] is smaller than its %u backends",
		       vip->maglev_size, vip->name, vip->backend_count);
	check_backend_values(ld, vip);
	check_duplicate_backends(ld, vip);
	check_health_settings(ld, vip);
}

/* A prefix listed twice in one list: a slip worth pointing at (the second
 * copy changes nothing, so the operator meant something else). Sorted
 * rather than compared pairwise: lists run to thousands. */
static void check_duplicate_prefixes(struct loader *ld, const struct dplb_vip_config *vip,
				     const struct dplb_prefix_list *list, const char *key)
{
	char text[DPLB_PREFIX_TEXT_MAX];
	struct dplb_prefix *sorted;

	if (list->count < 2)
		return;
	sorted = malloc(list->count * sizeof(*sorted));
	if (sorted == NULL) {
		no_memory(ld);
		return;
	}
	memcpy(sorted, list->items, list->count * sizeof(*sorted));
	qsort(sorted, list->count, sizeof(*sorted), dplb_prefix_compare);
	for (uint32_t i = 1; i < list->count; i++)
		if (dplb_prefix_compare(&sorted[i - 1], &sorted[i]) == 0 &&
		    (i == 1 || dplb_prefix_compare(&sorted[i - 2], &sorted[i]) != 0))
			report(ld, vip->line, "[vip:%s] lists %s twice in %s", vip->name,
			       dplb_format_prefix(&sorted[i], text), key);
	free(sorted);
}

/*
 * The rules of a VIP's protection, for the file and the API alike: lists
 * of prefixes of the VIP's family, each once, not too many; and a
 * stateless rate-limit action only where the flow's hash is its scheduler's pick, so that a flow
 * forwarded without an entry keeps its backend when it gets one.
 */
static void check_vip_protection(struct loader *ld, const struct dplb_vip_config *vip)
{
	const struct dplb_prefix_list *lists[] = { &vip->allow, &vip->deny };
	const int address_line = ld->seen[key_index(SECTION_VIP, "address")];
	char text[DPLB_PREFIX_TEXT_MAX];

	/* A VIP's sources are of its family: a prefix of the other one (from
	 * the API, or read before the address was) matches no client. Said at
	 * the address's line, which makes it the other family. Without an
	 * address (said already), there is no family to hold them to. */
	for (unsigned int l = 0;
	     (vip->family == AF_INET || vip->family == AF_INET6) && l < ARRAY_SIZE(lists); l++)
		for (uint32_t i = 0; i < lists[l]->count; i++) {
			const struct dplb_prefix *prefix = &lists[l]->items[i];

			if (prefix->family == vip->family &&
			    prefix->length <= (vip->family == AF_INET6 ? 128 : 32))
				continue;
			report(ld, address_line ? address_line : vip->line,
			       "[vip:%s] %s holds %s, and the VIP's address is %s: its clients, so "
			       "its sources, are %s",
			       vip->name, l == 0 ? "allow" : "deny",
			       prefix->family == AF_INET || prefix->family == AF_INET6
				       ? dplb_format_prefix(prefix, text)
				       : "a prefix of no family",
			       family_name(vip->family), family_name(vip->family));
			break;
		}
	if ((uint64_t)vip->allow.count + vip->deny.count > DPLB_MAX_PREFIXES_PER_VIP)
		report(ld, vip->line,
		       "[vip:%s] has %u allow and %u deny prefixes: at most %u "
		       "together",
		       vip->name, vip->allow.count, vip->deny.count, DPLB_MAX_PREFIXES_PER_VIP);
	check_duplicate_prefixes(ld, vip, &vip->allow, "allow");
	check_duplicate_prefixes(ld, vip, &vip->deny, "deny");
	if (vip->new_flow_rate > DPLB_MAX_NEW_FLOW_RATE ||
	    vip->new_flow_burst > DPLB_MAX_NEW_FLOW_RATE)
		report(ld, vip->line, "[vip:%s] new_flow_rate and new_flow_burst are at most %u",
		       vip->name, DPLB_MAX_NEW_FLOW_RATE);
	if (vip->rate_limit_action != DPLB_RATE_LIMIT_DROP &&
	    vip->rate_limit_action != DPLB_RATE_LIMIT_STATELESS)
		report(ld, vip->line, "[vip:%s] unknown rate_limit_action %d", vip->name,
		       (int)vip->rate_limit_action);
	if (vip->rate_limit_action == DPLB_RATE_LIMIT_STATELESS &&
	    !dplb_scheduler_is_hashing(vip->scheduler))
		report(ld, vip->line,
		       "[vip:%s] rate_limit_action = stateless needs scheduler "
		       "maglev or source-hash, not %s: a flow forwarded without an entry goes "
		       "by the hash, and must keep that backend when it gets one",
		       vip->name, value_name(scheduler_names, vip->scheduler));
}

/* mss_clamp rewrites TCP SYNs: a UDP VIP has none. On an IPv6 VIP it is
 * at least DPLB_MIN_MSS_CLAMP6: every IPv6 path carries the segments of
 * 1280-byte packets, so a lower clamp saves no connection, it only shrinks
 * every segment (and is most likely an IPv4 figure). line: where it was set
 * (0: not known, as for a configuration changed in memory). */
static void check_vip_mss_clamp(struct loader *ld, const struct dplb_vip_config *vip, int line)
{
	const bool ipv6 = vip->family == AF_INET6;
	const uint32_t least = ipv6 ? DPLB_MIN_MSS_CLAMP6 : DPLB_MIN_MSS_CLAMP;

	if (vip->mss_clamp == 0)
		return;
	if (ipv6 && vip->mss_clamp >= DPLB_MIN_MSS_CLAMP && vip->mss_clamp < least)
		report(ld, line ? line : vip->line,
		       "mss_clamp %u in [vip:%s] is below %u, the MSS of the 1280-byte packets "
		       "every IPv6 link carries: an IPv6 VIP's clamp is 0 or %u..%u",
		       vip->mss_clamp, vip->name, least, least, DPLB_MAX_MSS_CLAMP);
	else if (vip->mss_clamp < least || vip->mss_clamp > DPLB_MAX_MSS_CLAMP)
		report(ld, line ? line : vip->line, "mss_clamp %u in [vip:%s] is not 0 or %u..%u",
		       vip->mss_clamp, vip->name, least, DPLB_MAX_MSS_CLAMP);
	if (vip->protocol != DPLB_PROTO_TCP)
		report(ld, line ? line : vip->line,
		       "mss_clamp in [vip:%s] needs protocol = tcp: it rewrites TCP SYNs",
		       vip->name);
}

/* What can be judged only once the whole [vip:NAME] section is read. */
static void close_vip(struct loader *ld)
{
	struct dplb_vip_config *vip = open_vip(ld);
	int maglev_line = ld->seen[key_index(SECTION_VIP, "maglev_size")];
	/* With no backend stored, any backend line seen was a bad one. */
	bool backend_lines_bad = ld->seen[key_index(SECTION_VIP, "backend")] != 0;

	check_required(ld, SECTION_VIP, vip->line);
	dplb_config_resolve_health(vip);
	check_vip_backends(ld, vip, maglev_line, backend_lines_bad);
	check_vip_protection(ld, vip);
	check_vip_mss_clamp(ld, vip, ld->seen[key_index(SECTION_VIP, "mss_clamp")]);
}

static void close_section(struct loader *ld)
{
	if (ld->section == SECTION_VIP)
		close_vip(ld);
	ld->section = SECTION_SKIP;
}

static void begin_global(struct loader *ld, enum section_kind kind, const char *label,
			 int *first_line)
{
	if (*first_line)
		report(ld, ld->line, "section %s repeated (first at line %d)", label, *first_line);
	else
		*first_line = ld->line;
	/* Keys are still read, and "seen" lives on, so a key set in both
	 * copies is reported as well. */
	ld->section = kind;
	snprintf(ld->section_label, sizeof(ld->section_label), "%s", label);
}

static bool valid_vip_name(struct loader *ld, const char *name)
{
	size_t len = strlen(name), i;

	if (len == 0) {
		report(ld, ld->line, "empty VIP name in [vip:]");
		return false;
	}
	if (len >= DPLB_NAME_MAX) {
		report(ld, ld->line, "VIP name \"%.*s...\" too long (%zu characters, at most %d)",
		       QUOTE_MAX / 2, name, len, DPLB_NAME_MAX - 1);
		return false;
	}
	i = dplb_name_span(name, len);
	if (i < len) {
		report(ld, ld->line,
		       "bad character '%c' in VIP name \"%s\" "
		       "(allowed: " DPLB_NAME_CHARACTERS ")",
		       name[i], name);
		return false;
	}
	return true;
}

static void begin_vip(struct loader *ld, const char *name)
{
	struct dplb_config *config = ld->config;
	struct dplb_vip_config *grown, *vip;
	uint32_t capacity, i;

	if (!valid_vip_name(ld, name))
		return;
	for (i = 0; i < config->vip_count; i++) {
		if (!strcmp(config->vips[i].name, name)) {
			report(ld, ld->line, "duplicate VIP name \"%s\" (first at line %d)", name,
			       config->vips[i].line);
			return;
		}
	}
	if (config->vip_count == DPLB_MAX_VIPS) {
		report(ld, ld->line, "too many VIPs (at most %d)", DPLB_MAX_VIPS);
		return;
	}
	if (config->vip_count == ld->vip_capacity) {
		capacity = ld->vip_capacity ? ld->vip_capacity * 2 : 4;
		grown = realloc(config->vips, capacity * sizeof(*grown));
		if (grown == NULL) {
			no_memory(ld);
			return;
		}
		config->vips = grown;
		ld->vip_capacity = capacity;
	}
	vip = &config->vips[config->vip_count];
	*vip = (struct dplb_vip_config){
		.protocol = DPLB_PROTO_TCP,
		.scheduler = DPLB_SCHED_MAGLEV,
		.encap = DPLB_ENCAP_IPIP,
		.maglev_size = DPLB_DEFAULT_MAGLEV_SIZE,
		.health = {
			.check = DPLB_HEALTH_NONE,
			.interval_ms = DPLB_DEFAULT_HEALTH_INTERVAL_MS,
			.rise = DPLB_DEFAULT_HEALTH_RISE,
			.fall = DPLB_DEFAULT_HEALTH_FALL,
		},
		.line = ld->line,
	};
	memcpy(vip->name, name, strlen(name) + 1);
	ld->vip = config->vip_count++;
	ld->backend_capacity = 0;
	for (i = 0; i < ARRAY_SIZE(key_table); i++)
		if (key_table[i].section == SECTION_VIP)
			ld->seen[i] = 0;
	ld->section = SECTION_VIP;
	snprintf(ld->section_label, sizeof(ld->section_label), "[vip:%s]", name);
}

/* s is a trimmed, comment-free line starting with '['. */
static void section_header(struct loader *ld, char *s)
{
	char *end = strchr(s, ']'), *name = s + 1;

	close_section(ld);
	if (end == NULL) {
		report(ld, ld->line, "section header \"%.*s\" has no closing \"]\"",
		       quote_len(strlen(s)), s);
		return;
	}
	if (end[1] != '\0')
		report(ld, ld->line, "unexpected text \"%.*s\" after section header",
		       quote_len(strlen(end + 1)), end + 1);
	*end = '\0';
	name += strspn(name, " \t");
	while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';

	if (!strcmp(name, "dataplane"))
		begin_global(ld, SECTION_DATAPLANE, "[dataplane]", &ld->dataplane_line);
	else if (!strcmp(name, "management"))
		begin_global(ld, SECTION_MANAGEMENT, "[management]", &ld->management_line);
	else if (!strncmp(name, "vip:", 4))
		begin_vip(ld, name + 4);
	else
		report(ld, ld->line,
		       "unknown section [%.*s] (expected [dataplane], "
		       "[management] or [vip:NAME])",
		       quote_len(strlen(name)), name);
}

/* ---- the inih side ---------------------------------------------------- */

/* Cut a ';' or '#' comment that starts the line or follows a blank, the way
 * inih treats ';' but for both; "http:/a#b" keeps its '#'. */
static void strip_comment(char *s)
{
	char *p;

	for (p = s; *p; p++) {
		if ((*p == ';' || *p == '#') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			break;
		}
	}
	while (p > s && (p[-1] == ' ' || p[-1] == '\t'))
		*--p = '\0';
}

/*
 * inih's reader: one physical line per call, so inih's line count and ours
 * agree and the handler can use ld->line. What we handle ourselves (blanks,
 * comments, headers, broken lines) reaches inih as an empty line.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	ssize_t len = getline(&ld->buf, &ld->buf_size, ld->file);
	char *s = ld->buf, *eq;
	size_t n;

	if (len < 0) {
		if (ferror(ld->file))
			ld->read_errno = errno ? errno : EIO;
		return NULL;
	}
	ld->line++;
	ld->config->file_size += (uint64_t)len;
	ld->config->file_hash = dplb_config_hash(ld->config->file_hash, s, (size_t)len);
	str[0] = '\0';
	if (memchr(s, '\0', (size_t)len)) {
		report(ld, ld->line, "NUL byte in line (is this a text file?)");
		return str;
	}
	if (ld->line == 1 && len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	s[strcspn(s, "\r\n")] = '\0';
	s += strspn(s, " \t");
	strip_comment(s);
	if (*s == '\0')
		return str;
	if (*s == '[') {
		section_header(ld, s);
		return str;
	}
	eq = strchr(s, '=');
	if (eq == NULL || eq == s) {
		report(ld, ld->line,
		       "expected \"key = value\", \"[section]\" or a comment, "
		       "not \"%.*s\"",
		       quote_len(strlen(s)), s);
		return str;
	}
	/* inih would split "a:b = c" at the ':' (configparser style). */
	if (memchr(s, ':', (size_t)(eq - s))) {
		for (n = (size_t)(eq - s); s[n - 1] == ' ' || s[n - 1] == '\t'; n--)
			;
		report(ld, ld->line, "bad key \"%.*s\" (keys have no ':')", quote_len(n), s);
		return str;
	}
	n = strlen(s);
	if (num < 1 || n > (size_t)num - 1) {
		report(ld, ld->line, "line too long (%zu characters, at most %d)", n, num - 1);
		return str;
	}
	memcpy(str, s, n + 1);
	return str;
}

static int handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	const struct key_spec *spec;
	size_t i;
	void *base;

	(void)section; /* ours, from the reader: it knows the header's line */
	if (ld->section == SECTION_SKIP)
		return 1;
	if (ld->section == SECTION_NONE) {
		report(ld, ld->line, "key \"%.*s\" before any [section]", quote_len(strlen(name)),
		       name);
		return 1;
	}
	i = key_index(ld->section, name);
	if (i == SIZE_MAX) {
		unknown_key(ld, name);
		return 1;
	}
	spec = &key_table[i];
	if (*value == '\0') {
		report(ld, ld->line, "missing value for %s in %s", name, ld->section_label);
		return 1;
	}
	if (ld->seen[i] && !spec->repeatable) {
		report(ld, ld->line, "duplicate key \"%s\" in %s (first set at line %d)", name,
		       ld->section_label, ld->seen[i]);
		return 1;
	}
	ld->seen[i] = ld->line;
	if (ld->section != SECTION_VIP)
		base = ld->config;
	else if (spec->health_field)
		base = &open_vip(ld)->health;
	else
		base = open_vip(ld);
	spec->parse(ld, spec, value, base);
	return 1; /* keep going: every error is wanted, not the first */
}

/* ---- whole-file checks ------------------------------------------------ */

/* Whether two VIPs have the same address (a set one: 0.0.0.0 and :: are
 * reported as missing, not as duplicates). */
static bool same_vip_address(const struct dplb_vip_config *a, const struct dplb_vip_config *b)
{
	if ((a->family == AF_INET6) != (b->family == AF_INET6))
		return false;
	if (a->family == AF_INET6)
		return memcmp(a->address6, b->address6, 16) == 0 &&
		       memcmp(a->address6, unspecified6, 16) != 0;
	return a->address != 0 && a->address == b->address;
}

static void check_vip_tuples(struct loader *ld)
{
	const struct dplb_config *config = ld->config;
	const struct dplb_vip_config *a, *b;
	char text[INET6_ADDRSTRLEN];
	uint32_t i, j;

	/* 256 VIPs at most: quadratic is fine and keeps the first-defined one
	 * as the one named in the message. */
	for (j = 1; j < config->vip_count; j++) {
		b = &config->vips[j];
		for (i = 0; i < j; i++) {
			a = &config->vips[i];
			if (!same_vip_address(a, b) || a->port != b->port ||
			    a->protocol != b->protocol)
				continue;
			report(ld, b->line,
			       "[vip:%s] duplicates [vip:%s] (line %d): both are "
			       "%s%s%s:%u/%s",
			       b->name, a->name, a->line, b->family == AF_INET6 ? "[" : "",
			       dplb_vip_address_text(b, text), b->family == AF_INET6 ? "]" : "",
			       b->port, dplb_protocol_name(b->protocol));
			break;
		}
	}
}

/* What makes an address (network order) no place to send a VIP's traffic
 * to, nor to receive it on; NULL when it is fine. 0.0.0.0 is the parser's. */
static const char *unusable_address(uint32_t address)
{
	const uint32_t a = ntohl(address);

	if (a == 0xffffffffu)
		return "the broadcast address";
	if ((a >> 28) == 0xe)
		return "a multicast address";
	if ((a >> 24) == 127)
		return "a loopback address";
	if ((a >> 28) == 0xf)
		return "a reserved address (240.0.0.0/4)";
	return NULL;
}

static bool is_link_local6(const uint8_t a[16])
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; /* fe80::/10 */
}

/* The same for an IPv6 address; :: is the parser's. */
static const char *unusable_address6(const uint8_t a[16])
{
	static const uint8_t loopback[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (a[0] == 0xff)
		return "a multicast address";
	if (memcmp(a, loopback, 16) == 0)
		return "a loopback address";
	if (is_link_local6(a))
		return "a link-local address";
	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return "an IPv4-mapped address (write the IPv4 address)";
	return NULL;
}

/* Why a VIP's or backend's address (of either family) is no place for
 * a VIP's traffic, or NULL. */
static const char *unusable_ip(uint8_t family, uint32_t address, const uint8_t address6[16])
{
	return family == AF_INET6 ? unusable_address6(address6) : unusable_address(address);
}

/* Whether an address of either family is dplb's own on that family. */
static bool is_own_address(const struct dplb_config *config, uint8_t family, uint32_t address,
			   const uint8_t address6[16])
{
	if (family == AF_INET6)
		return config->has_address6 && memcmp(address6, config->address6, 16) == 0;
	return address != 0 && address == config->address;
}

/*
 * Addresses that parse but make no sense where they stand: a backend that
 * is a broadcast, multicast, loopback or reserved address, the VIP itself
 * or dplb itself (its packets would loop back into dplb), and a VIP that
 * is such an address or dplb's own; an IPv6 backend when dplb has no IPv6
 * address to send its packets from. Judged once the whole file is read,
 * since [dataplane] may come after the VIPs; for changes made in memory too.
 */
static void check_addresses(struct loader *ld)
{
	const struct dplb_config *config = ld->config;
	char text[INET6_ADDRSTRLEN];
	const char *why;

	for (uint32_t v = 0; v < config->vip_count; v++) {
		const struct dplb_vip_config *vip = &config->vips[v];
		const bool vip6 = vip->family == AF_INET6;

		dplb_vip_address_text(vip, text);
		if ((vip6 || vip->address != 0) &&
		    (why = unusable_ip(vip->family, vip->address, vip->address6)) != NULL)
			report(ld, vip->line, "[vip:%s] address %s is %s", vip->name, text, why);
		else if (is_own_address(config, vip->family, vip->address, vip->address6))
			report(ld, vip->line,
			       "[vip:%s] address %s is dplb's own address "
			       "([dataplane] %s)",
			       vip->name, text, vip6 ? "address6" : "address");
		for (uint32_t i = 0; i < vip->backend_count; i++) {
			const struct dplb_backend_config *b = &vip->backends[i];
			const bool b6 = b->family == AF_INET6;

			dplb_backend_address_text(b, text);
			if ((why = unusable_ip(b->family, b->address, b->address6)) != NULL)
				report(ld, b->line, "backend in [vip:%s]: %s is %s, not a backend",
				       vip->name, text, why);
			else if (b6 == vip6 && (b6 ? memcmp(b->address6, vip->address6, 16) == 0
						   : b->address != 0 && b->address == vip->address))
				report(ld, b->line,
				       "backend in [vip:%s]: %s is the VIP's own address",
				       vip->name, text);
			else if (is_own_address(config, b->family, b->address, b->address6))
				report(ld, b->line,
				       "backend in [vip:%s]: %s is dplb's own address "
				       "([dataplane] %s)",
				       vip->name, text, b6 ? "address6" : "address");
			else if (b6 && !config->has_address6)
				report(ld, b->line,
				       "backend in [vip:%s]: %s is IPv6, and [dataplane] has no "
				       "address6 (the outer source of its packets)",
				       vip->name, text);
		}
	}
}

/* [dataplane]'s IPv6 keys: each but address6 describes dplb's IPv6
 * subnet, which address6 is in; a gateway6 must be on-link, in it, unless
 * it is link-local (as routers' addresses often are). */
static void check_dataplane6(struct loader *ld)
{
	const struct dplb_config *config = ld->config;
	static const char *const needing[] = { "gateway6", "prefix_length6" };
	const int gateway_line = ld->seen[key_index(SECTION_DATAPLANE, "gateway6")];
	char text[INET6_ADDRSTRLEN], ours[INET6_ADDRSTRLEN];
	const char *why;

	if (!config->has_address6) {
		for (size_t i = 0; i < ARRAY_SIZE(needing); i++) {
			const int line = ld->seen[key_index(SECTION_DATAPLANE, needing[i])];

			if (line)
				report(ld, line, "%s in [dataplane] needs address6", needing[i]);
		}
		return;
	}
	if ((why = unusable_address6(config->address6)) != NULL)
		report(ld, ld->seen[key_index(SECTION_DATAPLANE, "address6")],
		       "address6 in [dataplane]: %s is %s",
		       dplb_format_ip(AF_INET6, 0, config->address6, text), why);
	if (!config->has_gateway6)
		return;
	dplb_format_ip(AF_INET6, 0, config->gateway6, text);
	if (config->gateway6[0] == 0xff)
		report(ld, gateway_line, "gateway6 in [dataplane]: %s is a multicast address",
		       text);
	else if (memcmp(config->gateway6, config->address6, 16) == 0)
		report(ld, gateway_line, "gateway6 in [dataplane]: %s is dplb's own address6",
		       text);
	else if (config->prefix_length6 != 0 && !is_link_local6(config->gateway6) &&
		 !dplb_ipv6_same_prefix(config->gateway6, config->address6, config->prefix_length6))
		report(ld, gateway_line,
		       "gateway6 in [dataplane]: %s is outside %s/%u, so not on-link (a "
		       "link-local gateway is taken too)",
		       text, dplb_format_ip(AF_INET6, 0, config->address6, ours),
		       config->prefix_length6);
}

/* An IPv6 VIP's packets of 1280 bytes, which every IPv6 link carries and
 * no router fragments, must fit the tunnel to each of its backends: mtu at
 * least 1280 plus the largest encapsulation toward them. Reported on the
 * mtu line: the default (1500) always has the room. */
static void check_mtu(struct loader *ld)
{
	const struct dplb_config *config = ld->config;
	const int line = ld->seen[key_index(SECTION_DATAPLANE, "mtu")];

	for (uint32_t v = 0; v < config->vip_count; v++) {
		const struct dplb_vip_config *vip = &config->vips[v];
		uint32_t overhead = 0;
		uint8_t family = AF_INET;

		if (vip->family != AF_INET6)
			continue;
		for (uint32_t b = 0; b < vip->backend_count; b++) {
			const uint8_t f = vip->backends[b].family;

			if (dplb_encap_overhead((uint8_t)vip->encap, f) > overhead) {
				overhead = dplb_encap_overhead((uint8_t)vip->encap, f);
				family = f;
			}
		}
		if (overhead == 0 || config->mtu >= DPLB_IPV6_MIN_MTU + overhead)
			continue;
		report(ld, line,
		       "mtu %u in [dataplane] is below %u, which IPv6 [vip:%s] needs: the "
		       "1280-byte packets every IPv6 link carries, plus %u bytes of %s over %s to "
		       "its backends (smaller, they would be dropped)",
		       config->mtu, DPLB_IPV6_MIN_MTU + overhead, vip->name, overhead,
		       dplb_encap_name(vip->encap), family == AF_INET6 ? "IPv6" : "IPv4");
	}
}

/* exception_path = tap: the kernel's interfaces get address/prefix_length
 * (without a prefix the kernel would reach no neighbour), and each port's
 * interface needs a name. */
static void check_exception_path(struct loader *ld)
{
	const struct dplb_config *config = ld->config;
	const int path_line = ld->seen[key_index(SECTION_DATAPLANE, "exception_path")];
	const int name_line = ld->seen[key_index(SECTION_DATAPLANE, "exception_interface")];
	char name[DPLB_INTERFACE_NAME_MAX];

	if (config->exception_path != DPLB_EXCEPTION_TAP)
		return;
	if (config->prefix_length == 0)
		report(ld, path_line,
		       "exception_path = tap needs prefix_length in [dataplane]: the kernel's "
		       "interface gets address/prefix_length");
	for (uint32_t slot = 1; slot < config->port_count; slot++) {
		const int rc =
			dplb_exception_interface_name(config->exception_interface, slot, name);

		if (rc == -EINVAL) {
			report(ld, name_line ? name_line : path_line,
			       "exception_interface \"%s\" ends in no number: with %u ports the "
			       "next ones' interfaces count it up (dplb0, dplb1, ...)",
			       config->exception_interface, config->port_count);
			return;
		}
		if (rc != 0) {
			report(ld, name_line ? name_line : path_line,
			       "exception_interface \"%s\": port %u's interface name would be "
			       "longer than 15 characters",
			       config->exception_interface, config->port_ids[slot]);
			return;
		}
	}
}

/* announce_table: routes through the first tap, in a table of dplb's own. */
static void check_announce(struct loader *ld)
{
	const struct dplb_config *config = ld->config;
	const int line = ld->seen[key_index(SECTION_DATAPLANE, "announce_table")];

	if (config->announce_table == 0)
		return;
	if (config->announce_table >= 253 && config->announce_table <= 255)
		report(ld, line,
		       "announce_table = %u is one of the kernel's own tables (253 default, 254 "
		       "main, 255 local): give dplb a table of its own",
		       config->announce_table);
	else if (config->exception_path != DPLB_EXCEPTION_TAP)
		report(ld, line,
		       "announce_table needs exception_path = tap in [dataplane]: the routes go "
		       "through the tap, and with it when dplb dies");
}

static void check_file(struct loader *ld)
{
	if (!ld->dataplane_line)
		report(ld, 0, "no [dataplane] section (its \"address\" is required)");
	else
		check_required(ld, SECTION_DATAPLANE, ld->dataplane_line);
	if (ld->management_line)
		check_required(ld, SECTION_MANAGEMENT, ld->management_line);
	if (ld->config->vip_count == 0)
		report(ld, 0, "no [vip:NAME] sections: nothing to balance");
	check_vip_tuples(ld);
	check_addresses(ld);
	check_dataplane6(ld);
	/* Its default follows flow_table_size, which may come after it. */
	if (ld->seen[key_index(SECTION_DATAPLANE, "flow_table_size6")] == 0)
		ld->config->flow_table_size6 =
			dplb_default_flow_table_size6(ld->config->flow_table_size);
	check_mtu(ld);
	check_exception_path(ld);
	check_announce(ld);
}

static void set_defaults(struct dplb_config *config)
{
	config->port_ids[0] = 0;
	config->port_count = 1;
	config->flow_table_size = DPLB_DEFAULT_FLOW_TABLE_SIZE;
	config->tcp_timeout = DPLB_DEFAULT_TCP_TIMEOUT;
	config->udp_timeout = DPLB_DEFAULT_UDP_TIMEOUT;
	config->tcp_closing_timeout = DPLB_DEFAULT_TCP_CLOSING_TIMEOUT;
	config->tcp_syn_timeout = DPLB_DEFAULT_TCP_SYN_TIMEOUT;
	config->gue_port = DPLB_DEFAULT_GUE_PORT;
	config->mtu = DPLB_DEFAULT_MTU;
	snprintf(config->exception_interface, sizeof(config->exception_interface), "%s",
		 DPLB_DEFAULT_EXCEPTION_INTERFACE);
	config->drain_seconds = DPLB_DEFAULT_DRAIN_SECONDS;
	config->exception_rate = DPLB_DEFAULT_EXCEPTION_RATE;
	snprintf(config->listen_address, sizeof(config->listen_address), "127.0.0.1");
	config->listen_port = 8080;
	config->persist_changes = true;
}

/* The file at path, or len bytes of text when text is not NULL. */
static int open_config(struct loader *ld, const char *path, const char *text, size_t len)
{
	char reason[128];
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(ld->config->path)) {
		report(ld, 0, "cannot open: path too long");
		return -ENAMETOOLONG;
	}
	if (text != NULL) {
		/* Only read: the cast is fmemopen's signature, not a write. */
		ld->file = fmemopen((void *)text, len, "r");
		if (ld->file == NULL) {
			err = errno;
			report(ld, 0, "cannot read: %s", strerror_r(err, reason, sizeof(reason)));
			return -err;
		}
		return 0;
	}
	ld->file = fopen(path, "re");
	if (ld->file == NULL) {
		err = errno;
		report(ld, 0, "cannot open: %s", strerror_r(err, reason, sizeof(reason)));
		return -err;
	}
	/* fopen() succeeds on a directory; reading it would fail obscurely. */
	if (fstat(fileno(ld->file), &st) == 0 && S_ISDIR(st.st_mode)) {
		report(ld, 0, "cannot open: %s", strerror_r(EISDIR, reason, sizeof(reason)));
		return -EISDIR;
	}
	return 0;
}

static int load(const char *path, const char *text, size_t len, struct dplb_config **out,
		struct dplb_config_errors *errs)
{
	struct dplb_config_errors scratch;
	struct loader ld = {
		.path = path ? path : "(null)",
		.section = SECTION_NONE,
		.errs = errs ? errs : &scratch,
	};
	char reason[128];
	int rc;

	memset(ld.errs, 0, sizeof(*ld.errs));
	if (path == NULL || out == NULL) {
		report(&ld, 0, "no configuration file given");
		return -EINVAL;
	}
	ld.config = calloc(1, sizeof(*ld.config));
	if (ld.config == NULL) {
		report(&ld, 0, "out of memory");
		return -ENOMEM;
	}
	rc = open_config(&ld, path, text, len);
	if (rc)
		goto out;
	memcpy(ld.config->path, path, strlen(path) + 1);
	set_defaults(ld.config);
	ld.config->file_hash = DPLB_CONFIG_HASH_SEED;

	if (ini_parse_stream(read_line, &ld, handle_key, &ld) != 0)
		/* The reader hands inih nothing it can reject; should it
		 * anyway, the load must not pass. */
		report(&ld, 0, "the INI parser gave up");
	if (ld.read_errno) {
		report(&ld, ld.line + 1, "read error: %s",
		       strerror_r(ld.read_errno, reason, sizeof(reason)));
		rc = -ld.read_errno;
		goto out;
	}
	close_section(&ld);
	check_file(&ld);
	if (ld.out_of_memory)
		rc = -ENOMEM;
	else if (ld.errs->count || ld.errs->dropped)
		rc = -EINVAL;
out:
	free(ld.buf);
	if (ld.file)
		fclose(ld.file);
	if (rc) {
		dplb_config_free(ld.config);
		return rc;
	}
	*out = ld.config;
	return 0;
}

int dplb_config_load(const char *path, struct dplb_config **out, struct dplb_config_errors *errs)
{
	return load(path, NULL, 0, out, errs);
}

int dplb_config_load_text(const char *path, const char *text, size_t len, struct dplb_config **out,
			  struct dplb_config_errors *errs)
{
	return load(path, text != NULL ? text : "", text != NULL ? len : 0, out, errs);
}

uint64_t dplb_config_hash(uint64_t hash, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 0x100000001b3ull; /* the 64-bit FNV prime */
	}
	return hash;
}

void dplb_config_free(struct dplb_config *config)
{
	uint32_t i;

	if (config == NULL)
		return;
	for (i = 0; i < config->vip_count; i++) {
		free(config->vips[i].backends);
		free(config->vips[i].allow.items);
		free(config->vips[i].deny.items);
	}
	free(config->vips);
	free(config);
}

/* ---- configurations made in memory ------------------------------------ */

/* A copy of list's prefixes, with the loader's spare room (a power of two). */
static struct dplb_prefix *clone_prefixes(const struct dplb_prefix_list *list)
{
	const size_t capacity = list->count ? power_of_two_at_least(list->count) : 1;
	struct dplb_prefix *items = malloc(capacity * sizeof(*items));

	if (items != NULL && list->count)
		memcpy(items, list->items, list->count * sizeof(*items));
	return items;
}

struct dplb_config *dplb_config_clone(const struct dplb_config *config)
{
	struct dplb_config *copy = malloc(sizeof(*copy));
	uint32_t i;

	if (copy == NULL)
		return NULL;
	*copy = *config;
	copy->vips = calloc(config->vip_count ? config->vip_count : 1, sizeof(*copy->vips));
	if (copy->vips == NULL) {
		free(copy);
		return NULL;
	}
	for (i = 0; i < config->vip_count; i++) {
		const struct dplb_vip_config *vip = &config->vips[i];
		size_t size = vip->backend_count * sizeof(*vip->backends);

		copy->vips[i] = *vip;
		copy->vips[i].backends = malloc(size ? size : 1);
		copy->vips[i].allow.items = clone_prefixes(&vip->allow);
		copy->vips[i].deny.items = clone_prefixes(&vip->deny);
		if (!copy->vips[i].backends || !copy->vips[i].allow.items ||
		    !copy->vips[i].deny.items) {
			copy->vip_count = i + 1;
			dplb_config_free(copy);
			return NULL;
		}
		if (size)
			memcpy(copy->vips[i].backends, vip->backends, size);
	}
	return copy;
}

int dplb_config_validate(const struct dplb_config *config, struct dplb_config_errors *errs)
{
	struct dplb_config_errors scratch;
	struct loader ld = {
		.path = "",
		.config = (struct dplb_config *)config, /* only read */
		.errs = errs ? errs : &scratch,
		.in_memory = true,
	};
	uint32_t i;

	memset(ld.errs, 0, sizeof(*ld.errs));
	for (i = 0; i < config->vip_count; i++) {
		check_vip_backends(&ld, &config->vips[i], 0, false);
		check_vip_protection(&ld, &config->vips[i]);
		check_vip_mss_clamp(&ld, &config->vips[i], 0);
	}
	check_vip_tuples(&ld);
	check_addresses(&ld);
	check_mtu(&ld);
	if (ld.out_of_memory)
		return -ENOMEM;
	return ld.errs->count || ld.errs->dropped ? -EINVAL : 0;
}

bool dplb_config_listen_is_loopback(const struct dplb_config *config)
{
	struct in_addr address;

	return inet_pton(AF_INET, config->listen_address, &address) == 1 &&
	       (ntohl(address.s_addr) >> 24) == 127;
}

/* ---- names and lookups ------------------------------------------------ */

const char *dplb_scheduler_name(enum dplb_scheduler s)
{
	return value_name(scheduler_names, s);
}

const char *dplb_encap_name(enum dplb_encap e)
{
	return value_name(encap_names, e);
}

const char *dplb_backend_state_name(enum dplb_backend_state s)
{
	return value_name(state_names, s);
}

const char *dplb_protocol_name(uint8_t protocol)
{
	return value_name(protocol_names, protocol);
}

const char *dplb_fragments_name(enum dplb_fragments fragments)
{
	return value_name(fragments_names, fragments);
}

const char *dplb_rate_limit_action_name(enum dplb_rate_limit_action action)
{
	return value_name(rate_limit_action_names, action);
}

const char *dplb_table_full_name(enum dplb_table_full_action action)
{
	return value_name(table_full_names, action);
}

const char *dplb_exception_path_name(enum dplb_exception_kind path)
{
	return value_name(exception_path_names, path);
}

int dplb_exception_interface_name(const char *first, uint32_t slot, char *out)
{
	const size_t len = strlen(first);
	size_t digits = 0;
	int written;

	if (slot == 0) {
		if (len >= DPLB_INTERFACE_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(out, first, len + 1);
		return 0;
	}
	while (digits < len && digits < 9 && first[len - digits - 1] >= '0' &&
	       first[len - digits - 1] <= '9')
		digits++;
	if (digits == 0)
		return -EINVAL;
	const unsigned long number = strtoul(first + len - digits, NULL, 10) + slot;

	written = snprintf(out, DPLB_INTERFACE_NAME_MAX, "%.*s%0*lu", (int)(len - digits), first,
			   (int)digits, number);
	return written < 0 || written >= DPLB_INTERFACE_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* The value text names among names, for the API's enumerations. */
static int parse_name(const struct name_value *names, const char *text, uint32_t *value)
{
	const struct name_value *nv = text != NULL ? find_name(names, text, strlen(text)) : NULL;

	if (nv == NULL)
		return -EINVAL;
	*value = nv->value;
	return 0;
}

int dplb_rate_limit_action_parse(const char *text, enum dplb_rate_limit_action *out)
{
	uint32_t value;

	if (out == NULL || parse_name(rate_limit_action_names, text, &value) != 0)
		return -EINVAL;
	*out = (enum dplb_rate_limit_action)value;
	return 0;
}

int dplb_backend_state_parse(const char *text, enum dplb_backend_state *out)
{
	uint32_t value;

	if (out == NULL || parse_name(state_names, text, &value) != 0)
		return -EINVAL;
	*out = (enum dplb_backend_state)value;
	return 0;
}

const struct dplb_vip_config *dplb_config_find_vip(const struct dplb_config *config,
						   const char *name)
{
	uint32_t i;

	if (config == NULL || name == NULL)
		return NULL;
	for (i = 0; i < config->vip_count; i++)
		if (!strcmp(config->vips[i].name, name))
			return &config->vips[i];
	return NULL;
}

int dplb_backend_address_compare(const struct dplb_backend_config *a,
				 const struct dplb_backend_config *b)
{
	/* A configuration made in memory may leave family 0: IPv4. */
	const bool a6 = a->family == AF_INET6, b6 = b->family == AF_INET6;

	if (a6 != b6)
		return a6 ? 1 : -1;
	if (a6)
		return memcmp(a->address6, b->address6, sizeof(a->address6));
	return memcmp(&a->address, &b->address, sizeof(a->address));
}

char *dplb_backend_address_text(const struct dplb_backend_config *b, char *out)
{
	return dplb_format_ip(b->family == AF_INET6 ? AF_INET6 : AF_INET, b->address, b->address6,
			      out);
}

char *dplb_vip_address_text(const struct dplb_vip_config *vip, char *out)
{
	return dplb_format_ip(vip->family == AF_INET6 ? AF_INET6 : AF_INET, vip->address,
			      vip->address6, out);
}

/* ---- summary ---------------------------------------------------------- */

static const char *ipv4_text(uint32_t address, char *buf)
{
	return inet_ntop(AF_INET, &address, buf, INET_ADDRSTRLEN);
}

static void print_mac(FILE *out, const uint8_t mac[6])
{
	fprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		mac[5]);
}

/* "tcp:80 every 1000 ms, timeout 1000 ms, rise 2, fall 3": a VIP's or, with
 * b, one backend's resolved settings. */
static void print_health(FILE *out, const struct dplb_vip_config *vip,
			 const struct dplb_backend_config *b)
{
	const struct dplb_health_settings *h = b != NULL ? &b->health : &vip->health;

	if (h->check == DPLB_HEALTH_NONE) {
		fprintf(out, "none");
		return;
	}
	if (h->check == DPLB_HEALTH_HTTP)
		fprintf(out, "http:%s", h->http_path);
	else
		fprintf(out, "%s", dplb_health_check_name(h->check));
	fprintf(out, " port %u every %u ms, timeout %u ms, rise %u, fall %u",
		dplb_health_port(vip, b), h->interval_ms, dplb_health_timeout_ms(h), h->rise,
		h->fall);
	if (h->slow_start)
		fprintf(out, ", slow start %u s", h->slow_start);
}

/* "  sources: allow 2 prefixes, deny 1" and "  new flows: at most 1000/s,
 * burst 1000, beyond: drop", when the VIP has them. */
static void print_protection(FILE *out, const struct dplb_vip_config *vip)
{
	if (vip->allow.count)
		fprintf(out, "  sources: allow %u prefix%s, deny %u\n", vip->allow.count,
			vip->allow.count == 1 ? "" : "es", vip->deny.count);
	else if (vip->deny.count)
		fprintf(out, "  sources: every one but %u denied prefix%s\n", vip->deny.count,
			vip->deny.count == 1 ? "" : "es");
	if (vip->new_flow_rate)
		fprintf(out, "  new flows: at most %u/s, burst %u, beyond: %s\n",
			vip->new_flow_rate,
			vip->new_flow_burst ? vip->new_flow_burst : vip->new_flow_rate,
			dplb_rate_limit_action_name(vip->rate_limit_action));
	if (vip->table_full == DPLB_TABLE_FULL_DROP)
		fprintf(out, "  flow table full: new flows dropped\n");
}

void dplb_config_print(const struct dplb_config *config, FILE *out)
{
	const struct dplb_vip_config *vip;
	const struct dplb_backend_config *b;
	char a[INET6_ADDRSTRLEN];
	uint32_t i, j;

	fprintf(out, "config %s\n", config->path);
	fprintf(out, "dataplane: ports");
	for (i = 0; i < config->port_count; i++)
		fprintf(out, "%s%u", i ? "," : " ", config->port_ids[i]);
	fprintf(out, ", address %s", ipv4_text(config->address, a));
	if (config->prefix_length)
		fprintf(out, "/%u", config->prefix_length);
	if (config->gateway)
		fprintf(out, ", gateway %s", ipv4_text(config->gateway, a));
	else
		fprintf(out, ", no gateway");
	if (config->has_gateway_mac) {
		fprintf(out, " (mac ");
		print_mac(out, config->gateway_mac);
		fprintf(out, ")");
	}
	if (config->has_address6) {
		fprintf(out, "\n  address6 %s", dplb_format_ip(AF_INET6, 0, config->address6, a));
		if (config->prefix_length6)
			fprintf(out, "/%u", config->prefix_length6);
		if (config->has_gateway6)
			fprintf(out, ", gateway6 %s",
				dplb_format_ip(AF_INET6, 0, config->gateway6, a));
		else
			fprintf(out, ", no gateway6");
	}
	if (config->has_gateway_mac6) {
		fprintf(out, "%s (mac ", config->has_address6 ? "" : "\n  gateway6");
		print_mac(out, config->gateway_mac6);
		fprintf(out, ")");
	}
	fprintf(out,
		"\n  flow table %u (IPv6 %u) per worker, timeouts tcp %us udp %us "
		"tcp-closing %us tcp-syn %us, gue port %u, mtu %u, mbufs ",
		config->flow_table_size, config->flow_table_size6, config->tcp_timeout,
		config->udp_timeout, config->tcp_closing_timeout, config->tcp_syn_timeout,
		config->gue_port, config->mtu);
	if (config->mbufs != 0)
		fprintf(out, "%u", config->mbufs);
	else
		fprintf(out, "sized from the ports");
	if (config->vlan != 0)
		fprintf(out, ", vlan %u", config->vlan);
	if (config->exception_path == DPLB_EXCEPTION_TAP)
		fprintf(out, ", exception path tap %s", config->exception_interface);
	else
		fprintf(out, ", no exception path");
	if (config->announce_table != 0)
		fprintf(out, ", VIPs announced in table %u (drain %us)", config->announce_table,
			config->drain_seconds);
	fprintf(out, "\n");
	fprintf(out,
		"management: listen %s:%u, token file %s, health checks from %s, tcp by %s, "
		"API changes %s\n",
		config->listen_address, config->listen_port,
		config->token_file[0] ? config->token_file : "none",
		config->health_source ? ipv4_text(config->health_source, a) : "any address",
		value_name(health_tcp_names, config->health_tcp),
		config->persist_changes ? "written to the file" : "kept in memory");

	for (i = 0; i < config->vip_count; i++) {
		vip = &config->vips[i];
		if (vip->family == AF_INET6)
			fprintf(out, "vip %s: [%s]:", vip->name, dplb_vip_address_text(vip, a));
		else
			fprintf(out, "vip %s: %s:", vip->name, dplb_vip_address_text(vip, a));
		if (vip->port)
			fprintf(out, "%u", vip->port);
		else
			fprintf(out, "*");
		fprintf(out, "/%s, scheduler %s, encap %s, M %u, health ",
			dplb_protocol_name(vip->protocol), dplb_scheduler_name(vip->scheduler),
			dplb_encap_name(vip->encap), vip->maglev_size);
		print_health(out, vip, NULL);
		fprintf(out, ", %u backend%s\n", vip->backend_count,
			vip->backend_count == 1 ? "" : "s");
		print_protection(out, vip);
		if (vip->mss_clamp)
			fprintf(out, "  tcp mss clamped to %u\n", vip->mss_clamp);
		if (vip->fragments == DPLB_FRAGMENTS_DROP)
			fprintf(out, "  fragments: dropped\n");
		for (j = 0; j < vip->backend_count; j++) {
			b = &vip->backends[j];
			fprintf(out, "  backend %s weight %u %s", dplb_backend_address_text(b, a),
				b->weight, dplb_backend_state_name(b->state));
			if (b->has_mac) {
				fprintf(out, " mac ");
				print_mac(out, b->mac);
			}
			if (b->health_overrides) {
				fprintf(out, ", health ");
				print_health(out, vip, b);
			}
			fprintf(out, "\n");
		}
	}
}

/* ---- the reference: dplb.ini(5), written from key_table ---------------- */

static const char *const section_headers[] = {
	[SECTION_DATAPLANE] = "[dataplane]",
	[SECTION_MANAGEMENT] = "[management]",
	[SECTION_VIP] = "[vip:NAME]",
};

/* Text in roff: a backslash is doubled, and a line must not start with a
 * dot or an apostrophe (a request). */
static void write_roff_text(FILE *out, const char *text)
{
	if (*text == '.' || *text == '\'')
		fputs("\\&", out);
	for (; *text; text++) {
		if (*text == '\\')
			fputs("\\e", out);
		else if (*text == '-')
			fputs("\\-", out);
		else
			fputc(*text, out);
	}
}

static void write_value_syntax(FILE *out, const struct key_spec *spec)
{
	const struct name_value *nv;

	if (spec->parse == parse_mss_clamp_key) {
		fprintf(out, "0 | %u..%u", DPLB_MIN_MSS_CLAMP, spec->max);
	} else if (spec->parse == parse_number_key || spec->parse == parse_maglev_size_key) {
		fprintf(out, "%u..%u", spec->min, spec->max);
	} else if (spec->parse == parse_enum_key) {
		for (nv = spec->names; nv->name; nv++) {
			fputs(nv == spec->names ? "" : " | ", out);
			write_roff_text(out, nv->name);
		}
	} else {
		write_roff_text(out, spec->parse == parse_ipv4_key   ? "ADDRESS"
				     : spec->parse == parse_ipv6_key ? "IPV6-ADDRESS"
				     : spec->parse == parse_vip_address_key
					     ? "IPV4-ADDRESS | IPV6-ADDRESS"
				     : spec->parse == parse_mac_key	       ? "MAC"
				     : spec->parse == parse_ports_key	       ? "ID[,ID...]"
				     : spec->parse == parse_listen_key	       ? "ADDRESS[:PORT]"
				     : spec->parse == parse_token_file_key     ? "PATH"
				     : spec->parse == parse_interface_name_key ? "NAME"
				     : spec->parse == parse_backend_key
					     ? "ADDRESS [weight=N] [state=up|drain|down] [mac=MAC] "
					       "[health_KEY=VALUE...] [slow_start=SECONDS]"
				     : spec->parse == parse_health_check_key
					     ? "none | tcp | udp | http:/PATH"
				     : spec->parse == parse_health_payload_key ? "TEXT | hex:HEX"
				     : spec->parse == parse_prefixes_key ? "PREFIX [PREFIX...]"
									 : "VALUE");
	}
}

/* The default of a number or enumeration key is whatever the loader puts
 * in the field before the file is read; other keys say theirs in .doc. */
static void write_default(FILE *out, const struct key_spec *spec, const void *base)
{
	const struct name_value *nv;
	uint32_t v = 0;

	if (spec->parse != parse_number_key && spec->parse != parse_maglev_size_key &&
	    spec->parse != parse_mss_clamp_key && spec->parse != parse_enum_key)
		return;
	memcpy(&v, (const char *)base + spec->offset, spec->size <= 4 ? spec->size : 4);
	if (spec->parse == parse_enum_key) {
		for (nv = spec->names; nv->name; nv++)
			if (nv->value == v)
				fprintf(out, " Default: %s.", nv->name);
	} else if (v >= spec->min && v <= spec->max) {
		fprintf(out, " Default: %u.", v);
	}
}

int dplb_config_write_reference(FILE *out)
{
	struct dplb_config_errors errs = { 0 };
	struct dplb_config *defaults = calloc(1, sizeof(*defaults));
	struct loader ld = { .config = defaults, .errs = &errs };
	enum section_kind section = SECTION_NONE;
	const struct key_spec *spec;
	const void *base;
	int rc = 0;

	if (defaults == NULL)
		return -ENOMEM;
	set_defaults(defaults);
	begin_vip(&ld, "NAME");
	if (defaults->vip_count != 1) {
		dplb_config_free(defaults);
		return -ENOMEM;
	}
	for (spec = key_table; spec < key_table + ARRAY_SIZE(key_table); spec++) {
		if (spec->doc == NULL || !*spec->doc) {
			rc = -EINVAL; /* every key is documented, or no page */
			continue;
		}
		if (spec->section != section) {
			section = spec->section;
			fprintf(out, ".SS %s\n", section_headers[section]);
		}
		if (section != SECTION_VIP)
			base = defaults;
		else if (spec->health_field)
			base = &defaults->vips[0].health;
		else
			base = &defaults->vips[0];
		fprintf(out, ".TP\n\\fB%s\\fR = \\fI", spec->key);
		write_value_syntax(out, spec);
		fputs("\\fR\n", out);
		write_roff_text(out, spec->doc);
		write_default(out, spec, base);
		fprintf(out, "%s%s\n", spec->required ? " Required." : "",
			spec->repeatable ? " May be given several times." : "");
	}
	dplb_config_free(defaults);
	return rc;
}
