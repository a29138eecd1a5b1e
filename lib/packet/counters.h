/*
 * Per-worker counters.
 *
 * Each worker writes only its own struct dplb_worker_counters, with plain
 * stores (no atomics on the hot path); readers on the management lcore sum
 * them. The drop reasons are declared once, as an X-macro, so the enum, the
 * summary printed at exit, the JSON keys and the Prometheus label values
 * cannot drift apart.
 */
#ifndef DPLB_COUNTERS_H
#define DPLB_COUNTERS_H

#include <stdint.h>

#include <rte_common.h>

/* X(enum suffix, label, what it means) */
#define DPLB_DROP_REASONS(X)                                                              \
	X(NOT_OUR_MAC, "not_our_mac", "unicast frame for another MAC address")             \
	X(NOT_FOR_VIP, "not_for_vip", "IPv4 TCP/UDP packet not addressed to any VIP")      \
	X(NOT_IP, "not_ip", "not IPv4 (and not a frame dplb handles otherwise)")          \
	X(TRUNCATED, "truncated", "frame shorter than its headers")                       \
	X(BAD_VERSION, "bad_version", "IP version field is not 4")                        \
	X(BAD_IHL, "bad_ihl", "IPv4 header length below 20 bytes")                        \
	X(IP_OPTIONS, "ip_options", "IPv4 header carries options")                        \
	X(BAD_LENGTH, "bad_length", "IPv4 total length disagrees with the frame")         \
	X(BAD_CHECKSUM, "bad_checksum", "IPv4 header checksum is wrong")                  \
	X(FRAGMENT, "fragment", "IPv4 fragment")                                          \
	X(BAD_L4, "bad_l4", "TCP/UDP header truncated or malformed")                      \
	X(UNSUPPORTED_PROTOCOL, "unsupported_protocol", "IP protocol dplb does not serve") \
	X(ICMP_UNHANDLED, "icmp_unhandled", "ICMP not an echo to dplb or a VIP, nor an error about a VIP flow") \
	X(BAD_ARP, "bad_arp", "ARP that is not Ethernet/IPv4, or truncated")               \
	X(MANAGEMENT_BUSY, "management_busy", "ARP for the management lcore: its ring is full") \
	X(NO_BACKEND, "no_backend", "VIP has no usable backend")                          \
	X(NO_HEALTHY_BACKEND, "no_healthy_backend", "every backend of the VIP failed its health checks") \
	X(NO_NEXT_HOP, "no_next_hop", "next hop MAC not known yet")                       \
	X(TOO_BIG, "too_big", "too big once encapsulated, and no ICMP sent (no DF, rate limit)") \
	X(NO_HEADROOM, "no_headroom", "mbuf has no room for the outer headers")           \
	X(TX_FULL, "tx_full", "TX queue full")

enum dplb_drop_reason {
#define DPLB_DROP_ENUM(name, label, help) DPLB_DROP_##name,
	DPLB_DROP_REASONS(DPLB_DROP_ENUM)
#undef DPLB_DROP_ENUM
	DPLB_DROP_REASON_COUNT
};

extern const char *const dplb_drop_reason_label[DPLB_DROP_REASON_COUNT];
extern const char *const dplb_drop_reason_help[DPLB_DROP_REASON_COUNT];

/* Counters kept per VIP and per backend, indexed by their stable ids so that
 * they survive reloads. in = received for it, out = sent encapsulated. */
struct dplb_traffic_counters {
	uint64_t packets_in;
	uint64_t bytes_in;
	uint64_t packets_out;
	uint64_t bytes_out;
	uint64_t new_flows;
	uint64_t active_flows; /* flows in this worker's table pointing here */
};

struct dplb_port_counters {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
};

#define DPLB_MAX_COUNTED_PORTS 8

struct dplb_worker_counters {
	struct dplb_port_counters port[DPLB_MAX_COUNTED_PORTS];
	uint64_t drops[DPLB_DROP_REASON_COUNT];
	uint64_t new_flows;
	uint64_t flow_insert_failures; /* table full: forwarded statelessly */
	uint64_t flows_expired;
	uint64_t flows_rescheduled;    /* backend gone or down: picked again */
	uint64_t flows_active;         /* occupancy of this worker's table */
	uint64_t flow_capacity;
	uint64_t to_management;        /* frames passed to the management lcore */
	uint64_t arp_replies;          /* ARP requests for our address answered */
	uint64_t icmp_echo_replies;    /* pings to us or to a VIP answered */
	uint64_t icmp_frag_needed_sent; /* "fragmentation needed" sent to clients */
	uint64_t icmp_errors_forwarded; /* ICMP errors sent on to a flow's backend */
	uint64_t icmp_error_copies;    /* extra copies of one, for every backend */
	uint64_t loops;                /* iterations of the worker loop */
	uint64_t busy_loops;           /* iterations that received something */
	/* Indexed by stable id; allocated for DPLB_MAX_VIP_IDS / DPLB_MAX_BACKEND_IDS. */
	struct dplb_traffic_counters *vip;
	struct dplb_traffic_counters *backend;
} __rte_cache_aligned;

#endif
