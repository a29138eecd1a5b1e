/*
 * The configuration reference, written from the loader's own key table
 * (lib/control/config.c), so the manual cannot drift from what dplb accepts. Only
 * the build's man page generator (tools/dplb-config-reference) needs it.
 */
#ifndef DPLB_CONFIG_REFERENCE_H
#define DPLB_CONFIG_REFERENCE_H

#include <stdio.h>

/*
 * Writes one roff subsection (.SS) per section and one tagged paragraph
 * (.TP) per key: its name, the values it takes, its .doc sentence, its
 * default when it is a number or a name, and whether it is required or
 * repeatable. Returns 0, -EINVAL when a key has no .doc (the page is then
 * incomplete), or -ENOMEM. Any thread; no DPDK.
 */
int dplb_config_write_reference(FILE *out);

#endif
