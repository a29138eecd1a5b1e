/*
 * dplb configuration: the INI file as plain C data.
 *
 * The loader is pure C (inih, no DPDK) so it can be unit tested and used by
 * `dplb --check-config` before the EAL starts. A load either succeeds whole
 * or returns every error it found, each naming the file, the line and the
 * problem; the caller keeps its previous configuration on failure, which is
 * what makes a reload a transaction.
 *
 * Addresses are in network byte order, the way they appear in packets. A
 * VIP or a backend is IPv4 (family AF_INET, address) or IPv6 (AF_INET6,
 * address6, and address 0); the dataplane has an IPv4 address and may have
 * an IPv6 one (address6), the outer source toward IPv6 backends.
 */
#ifndef DPLB_CONFIG_H
#define DPLB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/values.h"

#define DPLB_MAX_PORTS 8
#define DPLB_MAX_VIPS 256
#define DPLB_MAX_BACKENDS_PER_VIP 4096
#define DPLB_NAME_MAX 64
#define DPLB_PATH_MAX 4096
#define DPLB_ERROR_MAX 320

#define DPLB_DEFAULT_MAGLEV_SIZE 65537u
#define DPLB_MAX_MAGLEV_SIZE 16777259u /* a prime above 2^24 */
#define DPLB_DEFAULT_FLOW_TABLE_SIZE (1u << 20)
#define DPLB_MIN_FLOW_TABLE_SIZE6 256u
#define DPLB_DEFAULT_TCP_TIMEOUT 300u
#define DPLB_DEFAULT_UDP_TIMEOUT 30u
#define DPLB_DEFAULT_TCP_CLOSING_TIMEOUT 10u
#define DPLB_DEFAULT_TCP_SYN_TIMEOUT 5u
#define DPLB_DEFAULT_GUE_PORT 6080u
#define DPLB_DEFAULT_MTU 1500u
#define DPLB_MAX_WEIGHT 65535u
#define DPLB_MAX_PREFIXES_PER_VIP 65536u /* allow and deny together */
#define DPLB_MAX_NEW_FLOW_RATE 100000000u
/* mss_clamp: 0 (off) or this range. The least is the MSS every IPv4 host
 * must accept (RFC 1122, 4.2.2.6: 576 less 40 bytes of headers), so no clamp
 * can make a path unusable; the most, the largest mtu less those 40. */
#define DPLB_MIN_MSS_CLAMP 536u
#define DPLB_MAX_MSS_CLAMP 9176u
/* Every IPv6 link carries 1280 bytes (RFC 8200 5), and no router fragments
 * IPv6 on the way: an IPv6 VIP needs an mtu that leaves room for them
 * inside its tunnels, and its least mss_clamp is what fits them, 1280 less
 * the IPv6 and TCP headers. */
#define DPLB_IPV6_MIN_MTU 1280u
#define DPLB_MIN_MSS_CLAMP6 (DPLB_IPV6_MIN_MTU - 60u)

/*
 * flow_table_size6 when the file does not set it: a quarter of
 * flow_table_size, at least DPLB_MIN_FLOW_TABLE_SIZE6. An IPv6 flow takes
 * 81 bytes against IPv4's 24 (packet/flow_table6.h), so that table costs
 * some 85% of the IPv4 one's memory: IPv4 carries most of what a balancer
 * sees today, and a table sized for IPv6 alone would double every worker's
 * memory.
 */
static inline uint32_t dplb_default_flow_table_size6(uint32_t flow_table_size)
{
	return flow_table_size / 4 > DPLB_MIN_FLOW_TABLE_SIZE6 ? flow_table_size / 4
							       : DPLB_MIN_FLOW_TABLE_SIZE6;
}

enum dplb_protocol { DPLB_PROTO_TCP = 6, DPLB_PROTO_UDP = 17 };

enum dplb_scheduler {
	DPLB_SCHED_MAGLEV,
	DPLB_SCHED_ROUND_ROBIN,
	DPLB_SCHED_WEIGHTED_ROUND_ROBIN,
	DPLB_SCHED_LEAST_CONNECTIONS,
	DPLB_SCHED_SOURCE_HASH,
};

/* Whether scheduler picks from the flow alone (a hash into the VIP's Maglev
 * table): the same pick on every worker and instance, replayable exactly,
 * and the pick a flow forwarded without an entry gets (packet/schedule.h). */
static inline bool dplb_scheduler_is_hashing(enum dplb_scheduler scheduler)
{
	return scheduler == DPLB_SCHED_MAGLEV || scheduler == DPLB_SCHED_SOURCE_HASH;
}

enum dplb_encap { DPLB_ENCAP_IPIP, DPLB_ENCAP_GUE };

/* The bytes encapsulation of kind (enum dplb_encap) adds to an IP packet:
 * the outer IP header of outer_family (AF_INET or AF_INET6), and GUE's UDP
 * header. Here, not in packet/encap.h, so that the loader can check mtu
 * without DPDK; encap.h checks the sizes against DPDK's headers. */
#define DPLB_OUTER_IPV4_LEN 20u
#define DPLB_OUTER_IPV6_LEN 40u
#define DPLB_GUE_UDP_LEN 8u
static inline uint16_t dplb_encap_overhead(uint8_t kind, uint8_t outer_family)
{
	return (uint16_t)((outer_family == AF_INET6 ? DPLB_OUTER_IPV6_LEN : DPLB_OUTER_IPV4_LEN) +
			  (kind == DPLB_ENCAP_GUE ? DPLB_GUE_UDP_LEN : 0));
}

/* Where frames for dplb's own address that the data path does not answer
 * go: nowhere (dropped), or to the kernel through a tap interface per port
 * (control/exception_path.h). */
enum dplb_exception_kind { DPLB_EXCEPTION_NONE, DPLB_EXCEPTION_TAP };

/* A Linux interface name and its NUL (IFNAMSIZ). */
#define DPLB_INTERFACE_NAME_MAX 16
#define DPLB_DEFAULT_EXCEPTION_INTERFACE "dplb0"
/* Long enough for BFD to notice (0.3 s) and a router to move its flows. */
#define DPLB_DEFAULT_DRAIN_SECONDS 5u
#define DPLB_DEFAULT_EXCEPTION_RATE 10000u

/* What becomes of a new flow beyond its VIP's new_flow_rate: dropped, or
 * forwarded by the VIP's hash without a flow entry. */
enum dplb_rate_limit_action { DPLB_RATE_LIMIT_DROP, DPLB_RATE_LIMIT_STATELESS };
/* What a new flow gets when its worker's flow table has no room for it. */
enum dplb_table_full_action { DPLB_TABLE_FULL_STATELESS, DPLB_TABLE_FULL_DROP };

/* What becomes of a VIP's IPv4 fragments: each follows its datagram's
 * first fragment to one backend (the default), or all are dropped. */
enum dplb_fragments { DPLB_FRAGMENTS_FOLLOW, DPLB_FRAGMENTS_DROP };

/* A VIP's allow or deny list, in the order the file or the API gave it. */
struct dplb_prefix_list {
	uint32_t count;
	struct dplb_prefix *items; /* malloc'd */
};

/* up: new and existing flows; drain: existing flows only; down: nothing,
 * its flows are re-scheduled. */
enum dplb_backend_state { DPLB_BACKEND_UP, DPLB_BACKEND_DRAIN, DPLB_BACKEND_DOWN };

enum dplb_health_check { DPLB_HEALTH_NONE, DPLB_HEALTH_TCP, DPLB_HEALTH_HTTP, DPLB_HEALTH_UDP };

/* How tcp checks are made: a half-open handshake (health_syn.h), or a full
 * connect() and close. */
enum dplb_health_tcp_mode { DPLB_HEALTH_TCP_SYN, DPLB_HEALTH_TCP_CONNECT };

#define DPLB_HEALTH_PATH_MAX 128
#define DPLB_HEALTH_PAYLOAD_MAX 256
#define DPLB_DEFAULT_HEALTH_INTERVAL_MS 1000u
#define DPLB_DEFAULT_HEALTH_RISE 2u /* HAProxy's and keepalived's defaults */
#define DPLB_DEFAULT_HEALTH_FALL 3u

/*
 * How a backend is checked. A VIP's keys set it for all its backends; a
 * backend line may override any field (backend = ADDR health_port=8080),
 * and the loader resolves each backend's own copy when its VIP ends.
 */
struct dplb_health_settings {
	enum dplb_health_check check;
	char http_path[DPLB_HEALTH_PATH_MAX]; /* http: the request target */
	uint32_t expect_status;		      /* http: 0 = any 2xx or 3xx, else exactly this */
	uint32_t port;			      /* 0 = the VIP's port */
	uint32_t interval_ms;		      /* from the start of one check to the next */
	/* A check not answered by then has failed; 0 (the default): the
	 * interval. Never longer than the interval, so that fall checks take
	 * fall intervals. Read it through dplb_health_timeout_ms. */
	uint32_t timeout_ms;
	uint32_t rise;	      /* consecutive successes to become healthy */
	uint32_t fall;	      /* consecutive failures to become unhealthy */
	uint32_t slow_start;  /* seconds to ramp a recovered backend's weight, 0 = off */
	uint32_t payload_len; /* udp: what is sent */
	uint8_t payload[DPLB_HEALTH_PAYLOAD_MAX];
};

/* Bits of dplb_backend_config.health_overrides: which fields its line set. */
enum dplb_health_field {
	DPLB_HEALTH_FIELD_CHECK = 1u << 0,
	DPLB_HEALTH_FIELD_EXPECT_STATUS = 1u << 1,
	DPLB_HEALTH_FIELD_PORT = 1u << 2,
	DPLB_HEALTH_FIELD_INTERVAL = 1u << 3,
	DPLB_HEALTH_FIELD_TIMEOUT = 1u << 4,
	DPLB_HEALTH_FIELD_RISE = 1u << 5,
	DPLB_HEALTH_FIELD_FALL = 1u << 6,
	DPLB_HEALTH_FIELD_SLOW_START = 1u << 7,
	DPLB_HEALTH_FIELD_PAYLOAD = 1u << 8,
};

struct dplb_backend_config {
	uint32_t address;     /* network byte order; 0 when family is AF_INET6 */
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t address6[16]; /* network order when family == AF_INET6 */
	uint32_t weight;      /* 1..DPLB_MAX_WEIGHT */
	enum dplb_backend_state state;
	bool has_mac; /* static next-hop MAC for this backend */
	uint8_t mac[6];
	/* Its "backend = " line in the file: for messages, and where a change
	 * to it is written (0: not from the file). */
	int line;
	/* The VIP's health settings with this backend's overrides applied
	 * (dplb_config_resolve_health). */
	struct dplb_health_settings health;
	uint32_t health_overrides; /* enum dplb_health_field bits */
};

struct dplb_vip_config {
	char name[DPLB_NAME_MAX];
	uint32_t address;     /* network byte order; 0 when family is AF_INET6 */
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t address6[16]; /* network order when family == AF_INET6 */
	uint16_t port;	      /* host byte order; 0 = every port */
	uint8_t protocol;     /* enum dplb_protocol */
	enum dplb_scheduler scheduler;
	enum dplb_encap encap;
	uint32_t maglev_size;		    /* prime, >= number of backends */
	struct dplb_health_settings health; /* its backends', unless they override */
	/* Protection (packet/acl.h has the rule): sources allowed and denied,
	 * and new flows per second over every worker (0: no limit), with a
	 * burst (0: new_flow_rate's worth). */
	struct dplb_prefix_list allow;
	struct dplb_prefix_list deny;
	uint32_t new_flow_rate;
	uint32_t new_flow_burst;
	enum dplb_rate_limit_action rate_limit_action;
	enum dplb_table_full_action table_full;
	uint32_t mss_clamp; /* largest MSS a SYN to it may announce; 0: any */
	enum dplb_fragments fragments;
	uint32_t backend_count;
	struct dplb_backend_config *backends; /* malloc'd, backend_count long */
	int line; /* the [vip:NAME] line; its backends' lines are theirs */
};

struct dplb_config {
	char path[DPLB_PATH_MAX];

	/* [dataplane] */
	uint16_t port_ids[DPLB_MAX_PORTS];
	uint32_t port_count;
	uint32_t address; /* our own IPv4: outer source, answers ARP */
	uint32_t gateway; /* 0 when not set */
	/* Length of our subnet: backends inside it are reached directly, others
	 * through the gateway. 0 = not given: then every backend is on-link
	 * when there is no gateway, and behind it when there is. */
	uint32_t prefix_length;
	bool has_gateway_mac; /* static next-hop MAC until ARP exists */
	uint8_t gateway_mac[6];
	/* IPv6, as the four above: our IPv6 source address (outer source
	 * toward IPv6 backends, answers ND and ICMPv6 echo), the next hop of
	 * IPv6 backends off-link, our IPv6 subnet's length (0 = not given, the
	 * same rule as prefix_length) and the gateway's static MAC. */
	bool has_address6;
	uint8_t address6[16];
	bool has_gateway6;
	uint8_t gateway6[16];
	uint32_t prefix_length6;
	bool has_gateway_mac6;
	uint8_t gateway_mac6[6];
	uint32_t flow_table_size;     /* per worker */
	uint32_t flow_table_size6;    /* per worker, IPv6 flows (a table of their own) */
	uint32_t tcp_timeout;	      /* seconds */
	uint32_t udp_timeout;	      /* seconds */
	uint32_t tcp_closing_timeout; /* seconds, once the client sent FIN or RST */
	uint32_t tcp_syn_timeout;     /* seconds, while the client has sent only SYNs */
	uint16_t gue_port;	      /* UDP destination port of GUE, host order */
	/* The 802.1Q VLAN id of the frames dplb itself sends (ARP requests,
	 * neighbor solicitations, the kernel's frames on the exception path);
	 * 0: untagged. */
	uint16_t vlan;
	uint32_t mtu;	/* largest IP packet we may send */
	uint32_t mbufs; /* packet buffers; 0: sized from what the ports need */
	enum dplb_exception_kind exception_path;
	/* The first port's tap interface; the others' are named after it
	 * (dplb_exception_interface_name). */
	char exception_interface[DPLB_INTERFACE_NAME_MAX];
	/* Kernel routing table that holds a route per announced VIP address,
	 * through the first tap (control/announce.h); 0: none announced. */
	uint32_t announce_table;
	/* Seconds SIGTERM keeps forwarding after withdrawing the routes. */
	uint32_t drain_seconds;
	/* Frames a second the kernel is handed on the exception path's
	 * ordinary rings (a peer's BGP and BFD aside); 0: no limit. */
	uint32_t exception_rate;

	/* [management] */
	char listen_address[64]; /* IPv4 text, default 127.0.0.1 */
	uint16_t listen_port;	 /* default 8080 */
	char token_file[DPLB_PATH_MAX];
	/* Changes without a token on a listener beyond loopback are meant: no
	 * start-up warning, and a reload may remove token_file. */
	bool allow_unauthenticated;
	/* Health checks leave from this address (0: the kernel chooses). */
	uint32_t health_source;
	enum dplb_health_tcp_mode health_tcp;
	/* Write changes made through the API into the file (config_writer.h),
	 * default yes; no: they live in memory until the next reload. */
	bool persist_changes;

	uint32_t vip_count;
	struct dplb_vip_config *vips; /* malloc'd */

	/* The file's bytes as the loader read them (or dplb last wrote them):
	 * how many, and dplb_config_hash of them. A change is written only
	 * over a file that still holds exactly these, never over an edit
	 * dplb has not read. */
	uint64_t file_size;
	uint64_t file_hash;
};

/* Every problem found while loading, in file order. */
struct dplb_config_errors {
	uint32_t count;
	uint32_t dropped;		   /* errors beyond the array */
	char messages[32][DPLB_ERROR_MAX]; /* "FILE:LINE: problem" */
};

/*
 * Load and validate the INI file at path.
 * Returns 0 and sets *out (free with dplb_config_free) or a negative errno
 * (-EINVAL for a bad file, -ENOENT/-EACCES/... when it cannot be read,
 * -ENOMEM) with errs filled in. Never touches *out on failure.
 * Any thread; no DPDK needed.
 */
int dplb_config_load(const char *path, struct dplb_config **out, struct dplb_config_errors *errs);

/*
 * As dplb_config_load, from len bytes of text that path is named for (in
 * messages and config->path) but need not hold: what a file would load as
 * before it is written. Any thread.
 */
int dplb_config_load_text(const char *path, const char *text, size_t len, struct dplb_config **out,
			  struct dplb_config_errors *errs);

/* FNV-1a over len bytes, continuing from hash (DPLB_CONFIG_HASH_SEED to
 * start): what dplb_config.file_hash holds. */
#define DPLB_CONFIG_HASH_SEED 0xcbf29ce484222325ull
uint64_t dplb_config_hash(uint64_t hash, const void *data, size_t len);

void dplb_config_free(struct dplb_config *config);

/*
 * A deep copy of config, to change without touching the one that serves
 * (API changes: copy, change, validate, apply). Returns NULL when out of
 * memory. Any thread.
 */
struct dplb_config *dplb_config_clone(const struct dplb_config *config);

/*
 * Check a configuration changed in memory against the same rules the loader
 * applies when it reads a file (backends: count, duplicates, weights,
 * states; VIPs: distinct address/port/protocol). Returns 0, -EINVAL with
 * errs (may be NULL) saying why, or -ENOMEM. Messages carry no file or line.
 */
int dplb_config_validate(const struct dplb_config *config, struct dplb_config_errors *errs);

/* Whether [management] listen is a loopback address (127.0.0.0/8): no one
 * beyond this host can reach the API. */
bool dplb_config_listen_is_loopback(const struct dplb_config *config);

/*
 * Order of backends by address, the identity of a backend within its VIP:
 * by family, then the address's bytes; 0 only for the same address.
 */
int dplb_backend_address_compare(const struct dplb_backend_config *a,
				 const struct dplb_backend_config *b);

/* A backend's or a VIP's address as text (dplb_format_ip), into out of
 * INET6_ADDRSTRLEN bytes. Returns out. */
char *dplb_backend_address_text(const struct dplb_backend_config *b, char *out);
char *dplb_vip_address_text(const struct dplb_vip_config *vip, char *out);

/* Human-readable summary, as `dplb --check-config` prints it. */
void dplb_config_print(const struct dplb_config *config, FILE *out);

/*
 * b as the value of a "backend = " line, which the loader reads back as b:
 * "ADDRESS[ weight=N][ state=S][ mac=MAC][ health_KEY=VALUE...]", an option
 * left out when it has the default and, for health keys, when the line did
 * not set it (b->health_overrides). Returns the length, as snprintf does
 * (size or more: out was too small), or -EINVAL for a health override no
 * line can hold (an empty health_payload).
 */
int dplb_config_format_backend(const struct dplb_backend_config *b, char *out, size_t size);

/*
 * Read value, the text after "backend = ", as the loader does into *out;
 * its health settings hold only what the line sets (health_overrides),
 * for dplb_config_resolve_health to complete. Returns 0, or -EINVAL with
 * error (DPLB_ERROR_MAX bytes) saying why.
 */
int dplb_config_parse_backend(const char *value, struct dplb_backend_config *out, char *error);

/*
 * The name of the kernel interface of port slot's exception path, from
 * first, the first port's ([dataplane] exception_interface): first itself
 * for slot 0; for the others its trailing number counted up by slot, as
 * wide as it is written (dplb0, dplb1...; tap08, tap09, tap10). Returns 0,
 * -EINVAL when slot > 0 and first ends in no number, or -ENAMETOOLONG when
 * the name would not fit out (DPLB_INTERFACE_NAME_MAX bytes). Any thread.
 */
int dplb_exception_interface_name(const char *first, uint32_t slot, char *out);

/* Names used in the file and in messages. */
const char *dplb_scheduler_name(enum dplb_scheduler s);
const char *dplb_encap_name(enum dplb_encap e);
const char *dplb_backend_state_name(enum dplb_backend_state s);
const char *dplb_protocol_name(uint8_t protocol);
const char *dplb_rate_limit_action_name(enum dplb_rate_limit_action action);
const char *dplb_exception_path_name(enum dplb_exception_kind path);
const char *dplb_fragments_name(enum dplb_fragments fragments);

/* Parse "drop" | "stateless"; returns 0 or -EINVAL. */
int dplb_rate_limit_action_parse(const char *text, enum dplb_rate_limit_action *out);

/* "stateless" or "drop". */
const char *dplb_table_full_name(enum dplb_table_full_action action);

/* Parse "up" | "drain" | "down"; returns 0 or -EINVAL. */
int dplb_backend_state_parse(const char *text, enum dplb_backend_state *out);

/* Apply vip's health settings to every backend field its line did not set;
 * the loader calls it when a VIP ends, the API after adding a backend. */
void dplb_config_resolve_health(struct dplb_vip_config *vip);

/* The port a backend's checks go to: its own health_port, else the VIP's. */
uint16_t dplb_health_port(const struct dplb_vip_config *vip, const struct dplb_backend_config *b);

const char *dplb_health_check_name(enum dplb_health_check check);

/* The timeout checks with these settings have, in milliseconds. */
static inline uint32_t dplb_health_timeout_ms(const struct dplb_health_settings *s)
{
	return s->timeout_ms != 0 ? s->timeout_ms : s->interval_ms;
}

/* Find a VIP by name, or NULL. */
const struct dplb_vip_config *dplb_config_find_vip(const struct dplb_config *config,
						   const char *name);

#endif
