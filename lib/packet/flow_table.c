/*
 * Flow table set-up and the operations that change it; lookups are done in
 * bulk directly with rte_hash_lookup_with_hash_bulk by the worker.
 */
#include <errno.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "packet/flow_table.h"

static uint32_t flow_hash_function(const void *key, uint32_t key_len, uint32_t init_val)
{
	RTE_SET_USED(key_len);
	RTE_SET_USED(init_val);
	return dplb_flow_hash(key);
}

int dplb_flow_table_create(struct dplb_flow_table *table, const char *name, uint32_t capacity,
			   int socket)
{
	/* A cuckoo hash filled to the brim fails inserts before it is full:
	 * a quarter more slots lets it reach capacity. */
	const uint32_t slots = capacity + capacity / 4;
	struct rte_hash_parameters params = {
		.name = name,
		.entries = slots,
		.key_len = sizeof(struct dplb_flow_key),
		.hash_func = flow_hash_function,
		.hash_func_init_val = DPLB_FLOW_HASH_SEED,
		.socket_id = socket,
		.extra_flag = 0, /* one writer, no readers elsewhere: no locks */
	};

	memset(table, 0, sizeof(*table));
	table->hash = rte_hash_create(&params);
	if (table->hash == NULL)
		return -(rte_errno ? rte_errno : ENOMEM);
	table->entries = rte_malloc_socket(name, (size_t)slots * sizeof(*table->entries),
					   RTE_CACHE_LINE_SIZE, socket);
	if (table->entries == NULL) {
		rte_hash_free(table->hash);
		table->hash = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < slots; i++)
		table->entries[i].backend_id = DPLB_FLOW_EMPTY;
	table->capacity = capacity;
	table->slots = slots;
	return 0;
}

void dplb_flow_table_destroy(struct dplb_flow_table *table)
{
	rte_hash_free(table->hash);
	rte_free(table->entries);
	memset(table, 0, sizeof(*table));
}

struct dplb_flow_entry *dplb_flow_table_insert(struct dplb_flow_table *table,
					       const struct dplb_flow_key *key, uint32_t hash)
{
	int32_t position;

	if (unlikely(table->count >= table->capacity)) {
		/* Full: only a key already there may be "added". */
		position = rte_hash_lookup_with_hash(table->hash, key, hash);
		return position >= 0 ? &table->entries[position] : NULL;
	}
	position = rte_hash_add_key_with_hash(table->hash, key, hash);
	if (unlikely(position < 0 || (uint32_t)position >= table->slots))
		return NULL;
	/* The key may already be there: added earlier in the same burst, after
	 * the bulk lookup had missed it. */
	if (table->entries[position].backend_id == DPLB_FLOW_EMPTY)
		table->count++;
	return &table->entries[position];
}

void dplb_flow_table_remove(struct dplb_flow_table *table, int32_t position)
{
	void *key;

	if (rte_hash_get_key_with_position(table->hash, position, &key) == 0 &&
	    rte_hash_del_key(table->hash, key) >= 0)
		table->count--;
	table->entries[position].backend_id = DPLB_FLOW_EMPTY;
}

uint64_t dplb_flow_table_memory(const struct dplb_flow_table *table)
{
	/* rte_hash: 64-byte buckets of 8 for the next power of two of the
	 * capacity, and one 16-byte-aligned key slot (pointer + key) per entry,
	 * plus a ring of free slot indexes. */
	const uint64_t buckets = rte_align32pow2(table->slots) / 8;
	const uint64_t key_slot = RTE_ALIGN(sizeof(void *) + sizeof(struct dplb_flow_key), 16);

	return buckets * 64 + (uint64_t)(table->slots + 1) * key_slot +
	       (uint64_t)rte_align32pow2(table->slots + 1) * sizeof(uint32_t) +
	       (uint64_t)table->slots * sizeof(struct dplb_flow_entry);
}
