/*
 * PLACEHOLDER (h-config): the IPv6 neighbour table's lookup (neighbor6.h),
 * a linear scan as the IPv4 table's; replaced by the lead's neighbor6.c.
 */
#include <string.h>

#include "control/neighbor6.h"

const uint8_t *dplb_neighbors6_lookup(const struct dplb_neighbors6 *table,
				      const uint8_t address[16])
{
	for (uint32_t i = 0; i < table->count; i++)
		if (memcmp(table->entries[i].address, address, 16) == 0)
			return table->entries[i].resolved ? table->entries[i].mac : NULL;
	return NULL;
}
