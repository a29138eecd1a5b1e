/*
 * dplb's own log type in DPDK's log (rte_log), so `--log-level=dplb:debug`
 * works as for every DPDK component and every message goes to one sink.
 *
 *   DPLB_LOG(NOTICE, "reloaded %s", path);
 *
 * Levels are DPDK's (EMERG .. DEBUG); the newline is added here. The
 * management lcore's messages go through this; the data path never logs.
 *
 * dplb_log_open gives rte_log a sink that never blocks (see log.c): a
 * reader that stops reading loses lines, counted, and never stalls the
 * management lcore.
 */
#ifndef DPLB_LOG_H
#define DPLB_LOG_H

#include <stdint.h>

#include <rte_log.h>

extern int dplb_logtype;

#define DPLB_LOG(level, ...)                                                                       \
	rte_log(RTE_LOG_##level, dplb_logtype,                                                     \
		RTE_FMT("dplb: " RTE_FMT_HEAD(__VA_ARGS__, ) "\n", RTE_FMT_TAIL(__VA_ARGS__, )))

/* What the sink could not write, declared once for /stats, /metrics,
 * telemetry and the exit summary: X(field, help). */
#define DPLB_LOG_METRICS(X)                                                                        \
	X(log_dropped, "Log lines that could not be written (the reader was not keeping up)")      \
	X(log_dropped_bytes, "Bytes of log lines that could not be written")

struct dplb_log_drops {
#define DPLB_LOG_FIELD(field, help) uint64_t field;
	DPLB_LOG_METRICS(DPLB_LOG_FIELD)
#undef DPLB_LOG_FIELD
};

/*
 * Send every rte_log message, DPDK's and dplb's, to the non-blocking sink:
 * WARNING and worse to stderr, the rest to stdout. Call once, before
 * rte_eal_init so that EAL's own messages use it too. Returns 0, or a
 * negative errno with rte_log's default stream left in place.
 */
int dplb_log_open(void);

/* Back to rte_log's default stream; frees the sink. At exit, main thread. */
void dplb_log_close(void);

/* Lines and bytes the sink has dropped so far. Any thread. */
struct dplb_log_drops dplb_log_dropped(void);

#endif
