/*
 * The drop reasons' labels and help, from DPLB_DROP_REASONS (counters.h).
 */
#include "packet/counters.h"

const char *const dplb_drop_reason_label[DPLB_DROP_REASON_COUNT] = {
#define DPLB_DROP_LABEL(name, label, help) [DPLB_DROP_##name] = label,
	DPLB_DROP_REASONS(DPLB_DROP_LABEL)
#undef DPLB_DROP_LABEL
};

const char *const dplb_drop_reason_help[DPLB_DROP_REASON_COUNT] = {
#define DPLB_DROP_HELP(name, label, help) [DPLB_DROP_##name] = help,
	DPLB_DROP_REASONS(DPLB_DROP_HELP)
#undef DPLB_DROP_HELP
};
