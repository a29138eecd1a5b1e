/*
 * The IPv4 flow table's set-up and the operations that change it: the
 * template's (flow_table_template.c) with IPv4's parameters.
 */
#include "packet/flow_table.h"

#include "packet/flow_table_template.c"
