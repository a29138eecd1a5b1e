/*
 * Every counter dplb exports, declared once.
 *
 * /stats (JSON), /metrics (Prometheus) and the /dplb/... telemetry commands
 * all walk these lists, so a counter has one name everywhere: the JSON key
 * and telemetry key are the field name, the Prometheus name is
 * dplb_<scope>_<field>, with _total for counters. The drop reasons have
 * their own list in counters.h (DPLB_DROP_REASONS), used the same way.
 *
 * Each entry is X(field, kind, help): field names a member of the struct
 * the list describes, so a renamed member breaks the build, not a dashboard.
 */
#ifndef DPLB_METRICS_H
#define DPLB_METRICS_H

#include <stdint.h>

#include <rte_ethdev.h>

#include "packet/counters.h"

struct dplb_context;

enum dplb_metric_kind { DPLB_COUNTER, DPLB_GAUGE };

/* struct dplb_worker_counters, besides ports and drops. */
#define DPLB_WORKER_METRICS(X)                                                             \
	X(new_flows, DPLB_COUNTER, "Flows this worker created")                              \
	X(flow_insert_failures, DPLB_COUNTER,                                                 \
	  "New flows forwarded without an entry because the flow table was full")            \
	X(flows_expired, DPLB_COUNTER, "Flows forgotten after their idle timeout")           \
	X(flows_rescheduled, DPLB_COUNTER,                                                    \
	  "Established flows given a new backend because theirs was removed or down")        \
	X(to_management, DPLB_COUNTER, "Frames passed to the management lcore")              \
	X(arp_replies, DPLB_COUNTER, "ARP requests for dplb's address answered")             \
	X(icmp_echo_replies, DPLB_COUNTER, "ICMP echo requests answered")                    \
	X(icmp_error_copies, DPLB_COUNTER,                                                    \
	  "Extra copies of ICMP errors sent to every backend of a VIP without a flow table")  \
	X(loops, DPLB_COUNTER, "Iterations of the worker loop")                              \
	X(busy_loops, DPLB_COUNTER, "Iterations of the worker loop that received packets")   \
	X(flows_active, DPLB_GAUGE, "Flows in this worker's flow table")                     \
	X(flow_capacity, DPLB_GAUGE, "Size of this worker's flow table")

/* struct dplb_port_counters: what the workers counted on each port. Bytes
 * sent are not counted by the workers; the NIC's obytes has them. */
#define DPLB_PORT_METRICS(X)                                                               \
	X(rx_packets, DPLB_COUNTER, "Packets received")                                      \
	X(rx_bytes, DPLB_COUNTER, "Bytes received (whole frames)")                           \
	X(tx_packets, DPLB_COUNTER, "Packets sent")

/* struct rte_eth_stats: what the port's driver counted. */
#define DPLB_ETHDEV_METRICS(X)                                                             \
	X(ipackets, DPLB_COUNTER, "Packets the port received (rte_eth_stats)")               \
	X(opackets, DPLB_COUNTER, "Packets the port sent (rte_eth_stats)")                   \
	X(ibytes, DPLB_COUNTER, "Bytes the port received (rte_eth_stats)")                   \
	X(obytes, DPLB_COUNTER, "Bytes the port sent (rte_eth_stats)")                       \
	X(imissed, DPLB_COUNTER, "Packets the port dropped: RX queues full (rte_eth_stats)") \
	X(ierrors, DPLB_COUNTER, "Erroneous packets received (rte_eth_stats)")               \
	X(oerrors, DPLB_COUNTER, "Packets the port failed to send (rte_eth_stats)")          \
	X(rx_nombuf, DPLB_COUNTER, "RX mbuf allocation failures (rte_eth_stats)")

/* struct dplb_traffic_counters, kept per VIP and per backend. */
#define DPLB_TRAFFIC_METRICS(X)                                                            \
	X(packets_in, DPLB_COUNTER, "Packets received for it")                               \
	X(bytes_in, DPLB_COUNTER, "IP bytes received for it")                                \
	X(packets_out, DPLB_COUNTER, "Packets sent encapsulated")                            \
	X(bytes_out, DPLB_COUNTER, "IP bytes sent encapsulated (outer header included)")     \
	X(new_flows, DPLB_COUNTER, "Flows scheduled to it")                                  \
	X(active_flows, DPLB_GAUGE, "Flows in the flow tables pointing to it")

/*
 * One worker's counters as they are now, read field by field without
 * tearing (each is written by its worker only). vip and backend are left
 * NULL. Any thread, while the workers' memory exists.
 */
void dplb_worker_counters_read(const struct dplb_context *ctx, uint16_t worker,
			       struct dplb_worker_counters *out);

/* Sum of every worker's counters, the same way. */
void dplb_worker_counters_total(const struct dplb_context *ctx, struct dplb_worker_counters *out);

/* The driver's counters of a port slot; zeros when the driver has none. */
void dplb_ethdev_stats_read(const struct dplb_context *ctx, uint16_t port_slot,
			    struct rte_eth_stats *out);

#endif
