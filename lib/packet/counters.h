/*
 * Per-worker counters, and the management lcore's counters of the
 * kernel's exception path.
 *
 * Each worker writes only its own struct dplb_worker_counters, with plain
 * stores (no atomics on the hot path); readers on the management lcore sum
 * them. Every counter is declared once, in one of the X-macro lists below
 * (drop reasons, per-worker counters, port counters, VIP and backend
 * counters, VIP protection counters, exception path counters): the
 * structs, the enum of drop reasons and every export are generated from
 * them, so names cannot drift apart. The label arrays are defined in
 * counters.c.
 */
#ifndef DPLB_COUNTERS_H
#define DPLB_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

/* X(enum suffix, label, what it means) */
#define DPLB_DROP_REASONS(X)                                                                       \
	X(NOT_OUR_MAC, "not_our_mac", "unicast frame for another MAC address")                     \
	X(NOT_UNICAST, "not_unicast", "broadcast or multicast frame that is not ARP")              \
	X(NOT_FOR_VIP, "not_for_vip", "IPv4 TCP/UDP packet not addressed to any VIP")              \
	X(BAD_SOURCE, "bad_source",                                                                \
	  "source no host sends from: broadcast, multicast, reserved, loopback, 0.0.0.0/8, "       \
	  "dplb's own address or a VIP's")                                                         \
	X(NOT_IP, "not_ip", "not IPv4 (and not a frame dplb handles otherwise)")                   \
	X(TRUNCATED, "truncated", "frame shorter than its headers")                                \
	X(BAD_VERSION, "bad_version",                                                              \
	  "IP version field is not 4 (IPv4 Ethernet type) or 6 (IPv6)")                            \
	X(BAD_IHL, "bad_ihl", "IPv4 header length below 20 bytes or beyond the total length")      \
	X(BAD_LENGTH, "bad_length",                                                                \
	  "IPv4 total length or IPv6 payload length disagrees with the frame")                     \
	X(BAD_CHECKSUM, "bad_checksum",                                                            \
	  "IPv4 header checksum is wrong, or the ICMPv6 checksum of a message dplb answers or "    \
	  "forwards")                                                                              \
	X(IPV6_TRUNCATED_EXTENSIONS, "ipv6_truncated_extensions",                                  \
	  "IPv6 extension header running past the packet or the frame's first segment")            \
	X(IPV6_BAD_EXTENSIONS, "ipv6_bad_extensions",                                              \
	  "IPv6 extension headers no valid packet has: hop-by-hop options not first, or two "      \
	  "fragment headers")                                                                      \
	X(IPV6_TOO_MANY_EXTENSIONS, "ipv6_too_many_extensions",                                    \
	  "IPv6 packet with more than 8 extension headers before its upper layer")                 \
	X(FRAGMENT, "fragment", "fragment for a VIP with fragments = drop, or of ICMP or ICMPv6")  \
	X(BAD_FRAGMENT, "bad_fragment",                                                            \
	  "fragment no valid datagram has: past 65535 bytes, not the last yet not a "              \
	  "multiple of 8 bytes, or a TCP fragment at offset 8 (overlapping the TCP header)")       \
	X(SHORT_FIRST_FRAGMENT, "short_first_fragment",                                            \
	  "first fragment too short to carry the whole TCP header or the UDP header")              \
	X(FRAGMENT_UNPLACED, "fragment_unplaced",                                                  \
	  "fragment whose first was not seen (held too long, or no room to hold it) for an "       \
	  "address and protocol several VIPs share: no port tells which VIP it is for")            \
	X(BAD_L4, "bad_l4", "TCP/UDP header truncated or malformed")                               \
	X(UNSUPPORTED_PROTOCOL, "unsupported_protocol", "IP protocol dplb does not serve")         \
	X(ICMP_UNHANDLED, "icmp_unhandled",                                                        \
	  "ICMP not an echo to dplb or a VIP, nor an error about a VIP flow")                      \
	X(ICMP_BAD_QUOTE, "icmp_bad_quote",                                                        \
	  "ICMPv6 error whose quote is not an IPv6 packet with its headers and 8 bytes of TCP or " \
	  "UDP")                                                                                   \
	X(BAD_ARP, "bad_arp", "ARP that is not Ethernet/IPv4, or truncated")                       \
	X(BAD_ND, "bad_nd",                                                                        \
	  "IPv6 Neighbor Solicitation or Advertisement failing RFC 4861's checks (7.1): hop "      \
	  "limit not 255, code not 0, shorter than 24 bytes, multicast target, an option of "      \
	  "length 0, a source link-layer option from the unspecified address")                     \
	X(MANAGEMENT_BUSY, "management_busy", "ARP for the management lcore: its ring is full")    \
	X(EXCEPTION_BUSY, "exception_busy",                                                        \
	  "frame for the kernel's exception path (tap): the worker's ring to it is full "          \
	  "(the kernel takes at most exception_rate a second)")                                    \
	X(ACL_DENIED, "acl_denied", "source not allowed by the VIP's allow and deny lists")        \
	X(RATE_LIMITED, "rate_limited",                                                            \
	  "new flow beyond the VIP's new_flow_rate (rate_limit_action = drop)")                    \
	X(TABLE_FULL, "table_full",                                                                \
	  "new flow finding its worker's flow table full (the VIP's table_full = drop)")           \
	X(NO_BACKEND, "no_backend", "VIP has no usable backend")                                   \
	X(NO_HEALTHY_BACKEND, "no_healthy_backend",                                                \
	  "every backend of the VIP failed its health checks")                                     \
	X(NO_NEXT_HOP, "no_next_hop", "next hop MAC not known yet")                                \
	X(TOO_BIG, "too_big", "too big once encapsulated, and no ICMP sent (no DF, rate limit)")   \
	X(NO_HEADROOM, "no_headroom", "mbuf has no room for the outer headers")                    \
	X(TX_FULL, "tx_full", "TX queue full")

enum dplb_drop_reason {
#define DPLB_DROP_ENUM(name, label, help) DPLB_DROP_##name,
	DPLB_DROP_REASONS(DPLB_DROP_ENUM)
#undef DPLB_DROP_ENUM
		DPLB_DROP_REASON_COUNT
};

extern const char *const dplb_drop_reason_label[DPLB_DROP_REASON_COUNT];
extern const char *const dplb_drop_reason_help[DPLB_DROP_REASON_COUNT];

/*
 * What kind of number a counter is; every export treats each kind alike.
 *   DPLB_COUNTER     counts events: summed over workers; a Prometheus
 *                    counter (name_total)
 *   DPLB_GAUGE       a level (flows in a table, its size): summed over
 *                    workers; a Prometheus gauge
 *   DPLB_PER_WORKER  counts events of one worker's loop: means something
 *                    per worker only, so totals leave it out; a Prometheus
 *                    counter with a worker label
 */
enum dplb_counter_kind { DPLB_COUNTER, DPLB_GAUGE, DPLB_PER_WORKER };

/* Whether totals over workers show a counter of this kind. */
static inline bool dplb_counter_in_totals(enum dplb_counter_kind kind)
{
	return kind != DPLB_PER_WORKER;
}

/*
 * The counter lists. Each entry is X(field, kind, help): field is the
 * struct member, the JSON and telemetry key, and the Prometheus name once
 * prefixed (dplb_worker_, dplb_port_, dplb_vip_, dplb_backend_) and, for
 * counters, suffixed _total. The structs below are generated from them, and
 * every export (/stats, /metrics, telemetry, the exit summary) walks them.
 */

/* struct dplb_worker_counters, besides ports and drops. */
#define DPLB_WORKER_COUNTERS(X)                                                                    \
	X(new_flows, DPLB_COUNTER, "Flows this worker created")                                    \
	X(flow_insert_failures, DPLB_COUNTER,                                                      \
	  "Packets of new flows that found the flow table full: forwarded without an entry, or "   \
	  "dropped where the VIP says table_full = drop")                                          \
	X(flows_expired, DPLB_COUNTER, "Flows forgotten after their idle timeout")                 \
	X(flows_rescheduled, DPLB_COUNTER,                                                         \
	  "Established flows given a new backend because theirs was removed or down")              \
	X(to_management, DPLB_COUNTER, "Frames passed to the management lcore")                    \
	X(exception_to_kernel, DPLB_COUNTER,                                                       \
	  "Frames for dplb's own address passed to the kernel's exception path: TCP, UDP, and "    \
	  "ICMP other than echo requests")                                                         \
	X(arp_replies, DPLB_COUNTER, "ARP requests for dplb's address answered")                   \
	X(icmp_echo_replies, DPLB_COUNTER, "ICMP echo requests answered")                          \
	X(nd_advertisements, DPLB_COUNTER,                                                         \
	  "Neighbor solicitations for dplb's IPv6 address answered")                               \
	X(icmp6_echo_replies, DPLB_COUNTER, "ICMPv6 echo requests answered")                       \
	X(icmp6_too_big_sent, DPLB_COUNTER,                                                        \
	  "ICMPv6 packet too big sent for IPv6 packets the tunnel would make too big")             \
	X(icmp_frag_needed_sent, DPLB_COUNTER,                                                     \
	  "ICMP fragmentation needed sent to clients whose packets the tunnel made too big")       \
	X(icmp_errors_forwarded, DPLB_COUNTER,                                                     \
	  "ICMP and ICMPv6 errors about a flow sent to its backend")                               \
	X(icmp_error_copies, DPLB_COUNTER,                                                         \
	  "Extra copies of ICMP errors sent to every backend of a VIP without a flow table")       \
	X(rate_limited_stateless, DPLB_COUNTER,                                                    \
	  "Packets of new flows beyond their VIP's new_flow_rate forwarded without a flow entry "  \
	  "(rate_limit_action = stateless)")                                                       \
	X(mss_clamped, DPLB_COUNTER,                                                               \
	  "TCP SYNs to a VIP whose MSS option was lowered to the VIP's mss_clamp")                 \
	X(fragments_first, DPLB_COUNTER,                                                           \
	  "First fragments (offset 0) of IPv4 and IPv6 datagrams scheduled and remembered in the " \
	  "fragment cache")                                                                        \
	X(fragments_followed, DPLB_COUNTER,                                                        \
	  "Later fragments sent to the backend of their datagram's first fragment, found in the "  \
	  "fragment cache")                                                                        \
	X(fragments_held, DPLB_COUNTER,                                                            \
	  "Later fragments that arrived before their first and were held for it")                  \
	X(fragments_released, DPLB_COUNTER,                                                        \
	  "Held fragments sent to their first fragment's backend once it arrived")                 \
	X(fragments_hashed, DPLB_COUNTER,                                                          \
	  "Later fragments sent by a hash of source, destination and protocol: their first did "   \
	  "not come in time, the hold was full, or its backend no longer takes flows")             \
	X(fragment_cache_evictions, DPLB_COUNTER,                                                  \
	  "Fragment cache entries overwritten while still live, to remember a newer datagram")     \
	X(loops, DPLB_PER_WORKER, "Iterations of the worker loop")                                 \
	X(busy_loops, DPLB_PER_WORKER, "Iterations of the worker loop that received packets")      \
	X(flows_active, DPLB_GAUGE, "Flows in this worker's flow table")                           \
	X(flow_capacity, DPLB_GAUGE, "Size of this worker's flow table")                           \
	X(flows6_active, DPLB_GAUGE, "Flows in this worker's IPv6 flow table")                     \
	X(flow6_capacity, DPLB_GAUGE,                                                              \
	  "Size of this worker's IPv6 flow table (a quarter of flow_capacity)")                    \
	X(exception_control_to_kernel, DPLB_COUNTER,                                               \
	  "BGP and BFD frames from a peer of the kernel's passed on the exception path's "         \
	  "priority ring (also in exception_to_kernel)")                                           \
	X(exception_control_over_rate, DPLB_COUNTER,                                               \
	  "BGP and BFD frames from a peer beyond the priority ring's rate, passed on the "         \
	  "ordinary ring")

/* struct dplb_port_counters: what the workers counted on each port. */
#define DPLB_PORT_COUNTERS(X)                                                                      \
	X(rx_packets, DPLB_COUNTER, "Packets received")                                            \
	X(rx_bytes, DPLB_COUNTER, "Bytes received (whole frames)")                                 \
	X(tx_packets, DPLB_COUNTER, "Packets sent (taken by the driver)")                          \
	X(tx_bytes, DPLB_COUNTER, "Bytes sent (whole frames taken by the driver)")

/* struct dplb_traffic_counters, kept per VIP and per backend by stable id,
 * so that they survive reloads. */
#define DPLB_TRAFFIC_COUNTERS(X)                                                                   \
	X(packets_in, DPLB_COUNTER, "Packets received for it")                                     \
	X(bytes_in, DPLB_COUNTER, "IP bytes received for it")                                      \
	X(packets_out, DPLB_COUNTER, "Packets sent encapsulated (taken by the driver)")            \
	X(bytes_out, DPLB_COUNTER, "IP bytes sent encapsulated (outer header included)")           \
	X(new_flows, DPLB_COUNTER, "Flows scheduled to it")                                        \
	X(active_flows, DPLB_GAUGE, "Flows in the flow tables pointing to it")

/* struct dplb_vip_protection_counters, kept per VIP only (by stable id):
 * what its allow and deny lists and its new-flow rate limit turned away,
 * and the SYNs its mss_clamp rewrote. */
#define DPLB_VIP_PROTECTION_COUNTERS(X)                                                            \
	X(acl_denied, DPLB_COUNTER,                                                                \
	  "Packets dropped because the VIP's allow and deny lists refuse their source")            \
	X(rate_limited, DPLB_COUNTER,                                                              \
	  "Packets of new flows beyond the VIP's new_flow_rate, dropped or forwarded without a "   \
	  "flow entry as its rate_limit_action says")                                              \
	X(table_full_packets, DPLB_COUNTER,                                                        \
	  "Packets of new flows that found their worker's flow table full, forwarded without a "   \
	  "flow entry or dropped as the VIP's table_full says")                                    \
	X(mss_clamped, DPLB_COUNTER, "TCP SYNs whose MSS option was lowered to the VIP's mss_clamp")

/* struct dplb_exception_counters: the kernel's exception path as the
 * management lcore runs it (control/exception_path.h), between the workers'
 * rings and the tap interfaces; written by the management lcore only. */
#define DPLB_EXCEPTION_COUNTERS(X)                                                                 \
	X(exception_to_tap, DPLB_COUNTER,                                                          \
	  "Frames written to the kernel's tap interfaces: those the workers passed "               \
	  "(exception_to_kernel), and ARP replies and announcements for dplb's address")           \
	X(exception_tap_refused, DPLB_COUNTER,                                                     \
	  "Frames for the kernel dropped because its tap interface did not take them")             \
	X(exception_from_kernel, DPLB_COUNTER,                                                     \
	  "Frames the kernel sent on its tap interfaces, handed to a worker to send on the port")  \
	X(exception_from_kernel_dropped, DPLB_COUNTER,                                             \
	  "Frames the kernel sent that were dropped: the ring to the worker that sends them "      \
	  "was full, or no room was left for the vlan tag")                                        \
	X(exception_control_peers, DPLB_GAUGE,                                                     \
	  "Addresses (IPv4 and IPv6) the kernel sends BGP or BFD to: their BGP and BFD frames "    \
	  "take the workers' priority rings to it")

/* struct dplb_announce_counters: route announcement (control/announce.h),
 * written by the management lcore only. */
#define DPLB_ANNOUNCE_COUNTERS(X)                                                                  \
	X(announce_routes_added, DPLB_COUNTER,                                                     \
	  "Routes to VIP addresses added to announce_table: a VIP with a healthy backend")         \
	X(announce_routes_removed, DPLB_COUNTER,                                                   \
	  "Routes to VIP addresses removed from announce_table: no VIP of the address has a "      \
	  "healthy backend, a reload, a stop")                                                     \
	X(announce_failures, DPLB_COUNTER,                                                         \
	  "Route changes the kernel refused (retried every second)")

#define DPLB_COUNTER_FIELD(field, kind, help) uint64_t field;

struct dplb_traffic_counters {
	DPLB_TRAFFIC_COUNTERS(DPLB_COUNTER_FIELD)
};

struct dplb_port_counters {
	DPLB_PORT_COUNTERS(DPLB_COUNTER_FIELD)
};

struct dplb_vip_protection_counters {
	DPLB_VIP_PROTECTION_COUNTERS(DPLB_COUNTER_FIELD)
};

struct dplb_exception_counters {
	DPLB_EXCEPTION_COUNTERS(DPLB_COUNTER_FIELD)
};

struct dplb_announce_counters {
	DPLB_ANNOUNCE_COUNTERS(DPLB_COUNTER_FIELD)
};

#define DPLB_MAX_COUNTED_PORTS 8

struct dplb_worker_counters {
	struct dplb_port_counters port[DPLB_MAX_COUNTED_PORTS];
	uint64_t drops[DPLB_DROP_REASON_COUNT];
	DPLB_WORKER_COUNTERS(DPLB_COUNTER_FIELD)
	/* Indexed by stable id; allocated for DPLB_MAX_VIP_IDS / DPLB_MAX_BACKEND_IDS. */
	struct dplb_traffic_counters *vip;
	struct dplb_traffic_counters *backend;
	struct dplb_vip_protection_counters *vip_protection; /* DPLB_MAX_VIP_IDS */
} __rte_cache_aligned;

#undef DPLB_COUNTER_FIELD

#endif
