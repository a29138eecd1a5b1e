/*
 * Neighbor table bookkeeping (see neighbor.h). A linear table: next hops
 * number in the tens or hundreds and are touched on the management lcore a
 * few times a second, so a scan is cheaper than any index would be to keep.
 *
 * The rules are written once, on 16-byte keys; the IPv4 calls map their
 * address to ::ffff:a.b.c.d and the IPv6 calls unwrap their table.
 */
#include <errno.h>
#include <string.h>

#include "control/neighbor.h"

typedef uint8_t neighbor_key[16];

static void ipv4_key(uint32_t address, neighbor_key key)
{
	memset(key, 0, 10);
	key[10] = 0xff;
	key[11] = 0xff;
	memcpy(key + 12, &address, sizeof(address));
}

static struct dplb_neighbor *find(const struct dplb_neighbors *table, const neighbor_key key)
{
	for (uint32_t i = 0; i < table->count; i++)
		if (memcmp(table->entries[i].address, key, sizeof(neighbor_key)) == 0)
			return (struct dplb_neighbor *)&table->entries[i];
	return NULL;
}

void dplb_neighbors_unwant_all(struct dplb_neighbors *table)
{
	for (uint32_t i = 0; i < table->count; i++)
		table->entries[i].wanted = false;
}

static int want(struct dplb_neighbors *table, const neighbor_key key)
{
	struct dplb_neighbor *entry = find(table, key);

	if (entry == NULL) {
		if (table->count == DPLB_MAX_NEIGHBORS)
			return -ENOSPC;
		entry = &table->entries[table->count++];
		memset(entry, 0, sizeof(*entry));
		memcpy(entry->address, key, sizeof(neighbor_key));
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

static const uint8_t *lookup(const struct dplb_neighbors *table, const neighbor_key key)
{
	const struct dplb_neighbor *entry = find(table, key);

	return entry != NULL && entry->resolved ? entry->mac : NULL;
}

/* Whether mac can be a next hop's: a group address (multicast, broadcast)
 * would flood every backend's traffic over the link, and a zero one is no
 * station's. */
static bool station_mac(const uint8_t *mac)
{
	static const uint8_t zero[6];

	return (mac[0] & 0x01) == 0 && memcmp(mac, zero, sizeof(zero)) != 0;
}

static bool learn(struct dplb_neighbors *table, const neighbor_key key, const uint8_t *mac,
		  bool override, uint64_t now_ms)
{
	struct dplb_neighbor *entry = find(table, key);
	bool changed;

	if (entry == NULL || !entry->wanted || !station_mac(mac))
		return false;
	changed = !entry->resolved || memcmp(entry->mac, mac, sizeof(entry->mac)) != 0;
	/* Without override, an answer neither replaces a MAC we hold nor
	 * vouches for it (RFC 4861 7.2.5): a proxy or an anycast answer. */
	if (entry->resolved && changed && !override)
		return false;
	memcpy(entry->mac, mac, sizeof(entry->mac));
	entry->resolved = true;
	entry->answered_ms = now_ms;
	return changed;
}

/* The entries to ask about now, at most max, marked asked; their indexes
 * go to due_entries. */
static uint32_t due(struct dplb_neighbors *table, uint64_t now_ms, uint32_t *due_entries,
		    uint32_t max)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < table->count && count < max; i++) {
		struct dplb_neighbor *entry = &table->entries[i];
		const bool fresh =
			entry->resolved && now_ms - entry->answered_ms < DPLB_NEIGHBOR_REFRESH_MS;
		const bool asked_recently =
			entry->asked_ms != 0 && now_ms - entry->asked_ms < DPLB_NEIGHBOR_RETRY_MS;

		if (!entry->wanted || fresh || asked_recently)
			continue;
		entry->asked_ms = now_ms;
		due_entries[count++] = i;
	}
	return count;
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

/* ---- IPv4 ---- */

int dplb_neighbors_want(struct dplb_neighbors *table, uint32_t address)
{
	neighbor_key key;

	ipv4_key(address, key);
	return want(table, key);
}

const uint8_t *dplb_neighbors_lookup(const struct dplb_neighbors *table, uint32_t address)
{
	neighbor_key key;

	ipv4_key(address, key);
	return lookup(table, key);
}

bool dplb_neighbors_learn(struct dplb_neighbors *table, uint32_t address, const uint8_t *mac,
			  uint64_t now_ms)
{
	neighbor_key key;

	ipv4_key(address, key);
	return learn(table, key, mac, true, now_ms);
}

uint32_t dplb_neighbors_due(struct dplb_neighbors *table, uint64_t now_ms, uint32_t *addresses,
			    uint32_t max)
{
	uint32_t entries[DPLB_MAX_NEIGHBORS];
	const uint32_t count =
		due(table, now_ms, entries, max < DPLB_MAX_NEIGHBORS ? max : DPLB_MAX_NEIGHBORS);

	for (uint32_t i = 0; i < count; i++)
		memcpy(&addresses[i], table->entries[entries[i]].address + 12, sizeof(uint32_t));
	return count;
}

/* ---- IPv6 ---- */

void dplb_neighbors6_unwant_all(struct dplb_neighbors6 *table)
{
	dplb_neighbors_unwant_all(&table->table);
}

int dplb_neighbors6_want(struct dplb_neighbors6 *table, const uint8_t address[16])
{
	return want(&table->table, address);
}

void dplb_neighbors6_forget_unwanted(struct dplb_neighbors6 *table)
{
	dplb_neighbors_forget_unwanted(&table->table);
}

const uint8_t *dplb_neighbors6_lookup(const struct dplb_neighbors6 *table,
				      const uint8_t address[16])
{
	return lookup(&table->table, address);
}

bool dplb_neighbors6_learn(struct dplb_neighbors6 *table, const uint8_t address[16],
			   const uint8_t *mac, bool override, uint64_t now_ms)
{
	return learn(&table->table, address, mac, override, now_ms);
}

uint32_t dplb_neighbors6_due(struct dplb_neighbors6 *table, uint64_t now_ms,
			     uint8_t (*addresses)[16], uint32_t max)
{
	uint32_t entries[DPLB_MAX_NEIGHBORS];
	const uint32_t count = due(&table->table, now_ms, entries,
				   max < DPLB_MAX_NEIGHBORS ? max : DPLB_MAX_NEIGHBORS);

	for (uint32_t i = 0; i < count; i++)
		memcpy(addresses[i], table->table.entries[entries[i]].address, 16);
	return count;
}

bool dplb_neighbors6_expire(struct dplb_neighbors6 *table, uint64_t now_ms)
{
	return dplb_neighbors_expire(&table->table, now_ms);
}
