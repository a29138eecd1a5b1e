/*
 * The IPv6 flow table's set-up and the operations that change it: the
 * template's (flow_table_template.c) with IPv6's parameters.
 */
#include "packet/flow_table6.h"

#include "packet/flow_table_template.c"
