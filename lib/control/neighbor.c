/*
 * Neighbor table bookkeeping (see neighbor.h). A linear table: next hops
 * number in the tens or hundreds and are touched on the management lcore a
 * few times a second, so a scan is cheaper than any index would be to keep.
 */
#include <errno.h>
#include <string.h>

#include "control/neighbor.h"

static struct dplb_neighbor *find(const struct dplb_neighbors *table, uint32_t address)
{
	for (uint32_t i = 0; i < table->count; i++)
		if (table->entries[i].address == address)
			return (struct dplb_neighbor *)&table->entries[i];
	return NULL;
}

void dplb_neighbors_unwant_all(struct dplb_neighbors *table)
{
	for (uint32_t i = 0; i < table->count; i++)
		table->entries[i].wanted = false;
}

int dplb_neighbors_want(struct dplb_neighbors *table, uint32_t address)
{
	struct dplb_neighbor *entry = find(table, address);

	if (entry == NULL) {
		if (table->count == DPLB_MAX_NEIGHBORS)
			return -ENOSPC;
		entry = &table->entries[table->count++];
		memset(entry, 0, sizeof(*entry));
		entry->address = address;
	}
	entry->wanted = true;
	return 0;
}

void dplb_neighbors_forget_unwanted(struct dplb_neighbors *table)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < table->count; i++)
		if (table->entries[i].wanted)
			table->entries[kept++] = table->entries[i];
	table->count = kept;
}

const uint8_t *dplb_neighbors_lookup(const struct dplb_neighbors *table, uint32_t address)
{
	const struct dplb_neighbor *entry = find(table, address);

	return entry != NULL && entry->resolved ? entry->mac : NULL;
}

bool dplb_neighbors_learn(struct dplb_neighbors *table, uint32_t address, const uint8_t *mac,
			  uint64_t now_ms)
{
	struct dplb_neighbor *entry = find(table, address);
	bool changed;

	if (entry == NULL || !entry->wanted)
		return false;
	changed = !entry->resolved || memcmp(entry->mac, mac, sizeof(entry->mac)) != 0;
	memcpy(entry->mac, mac, sizeof(entry->mac));
	entry->resolved = true;
	entry->answered_ms = now_ms;
	return changed;
}

uint32_t dplb_neighbors_due(struct dplb_neighbors *table, uint64_t now_ms, uint32_t *addresses,
			    uint32_t max)
{
	uint32_t due = 0;

	for (uint32_t i = 0; i < table->count && due < max; i++) {
		struct dplb_neighbor *entry = &table->entries[i];
		const bool fresh =
			entry->resolved && now_ms - entry->answered_ms < DPLB_NEIGHBOR_REFRESH_MS;
		const bool asked_recently =
			entry->asked_ms != 0 && now_ms - entry->asked_ms < DPLB_NEIGHBOR_RETRY_MS;

		if (!entry->wanted || fresh || asked_recently)
			continue;
		entry->asked_ms = now_ms;
		addresses[due++] = entry->address;
	}
	return due;
}

bool dplb_neighbors_expire(struct dplb_neighbors *table, uint64_t now_ms)
{
	bool changed = false;

	for (uint32_t i = 0; i < table->count; i++) {
		struct dplb_neighbor *entry = &table->entries[i];

		if (entry->resolved && now_ms - entry->answered_ms >= DPLB_NEIGHBOR_LIFETIME_MS) {
			entry->resolved = false;
			changed |= entry->wanted;
		}
	}
	return changed;
}
