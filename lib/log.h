/*
 * dplb's own log type in DPDK's log (rte_log), so `--log-level=dplb:debug`
 * works as for every DPDK component and every message goes to one sink.
 *
 *   DPLB_LOG(NOTICE, "reloaded %s", path);
 *
 * Levels are DPDK's (EMERG .. DEBUG); the newline is added here. The
 * management lcore's messages go through this; the data path never logs.
 */
#ifndef DPLB_LOG_H
#define DPLB_LOG_H

#include <rte_log.h>

extern int dplb_logtype;

#define DPLB_LOG(level, ...)                                                        \
	rte_log(RTE_LOG_##level, dplb_logtype,                                       \
		RTE_FMT("dplb: " RTE_FMT_HEAD(__VA_ARGS__, ) "\n", RTE_FMT_TAIL(__VA_ARGS__, )))

#endif
