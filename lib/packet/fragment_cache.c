/*
 * The fragment cache and the hold queue (fragment_cache.h): set-up, add,
 * find, hold, take and expire. Off the hot path of whole packets: only
 * fragments come here.
 */
#include "packet/fragment_cache.h"

#define MAX_ENTRIES (1u << 24)
#define MAX_HELD (1u << 16)

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

uint64_t dplb_fragment_key_hash(const struct dplb_fragment_key *key, uint64_t seed)
{
	uint64_t words[sizeof(*key) / sizeof(uint64_t)];
	uint64_t h = seed;

	memcpy(words, key, sizeof(words));
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		h = mix64(h ^ words[i]);
	return h;
}

static uint32_t round_up_pow2(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint32_t set_count_for(uint32_t entries)
{
	return round_up_pow2((entries + DPLB_FRAGMENT_WAYS - 1) / DPLB_FRAGMENT_WAYS);
}

size_t dplb_fragment_cache_size(uint32_t entries)
{
	if (entries == 0 || entries > MAX_ENTRIES)
		return 0;
	return (size_t)set_count_for(entries) * DPLB_FRAGMENT_WAYS *
	       sizeof(struct dplb_fragment_entry);
}

void dplb_fragment_cache_init(struct dplb_fragment_cache *cache, void *memory, uint32_t entries,
			      uint64_t seed, uint64_t timeout)
{
	const uint32_t sets = set_count_for(entries);

	cache->entries = memory;
	cache->set_mask = sets - 1;
	cache->seed = seed;
	cache->timeout = timeout;
	memset(memory, 0, (size_t)sets * DPLB_FRAGMENT_WAYS * sizeof(struct dplb_fragment_entry));
}

static struct dplb_fragment_entry *set_of(const struct dplb_fragment_cache *cache,
					  const struct dplb_fragment_key *key)
{
	const uint64_t hash = dplb_fragment_key_hash(key, cache->seed);

	return &cache->entries[(size_t)((uint32_t)(hash >> 32) & cache->set_mask) *
			       DPLB_FRAGMENT_WAYS];
}

static bool live(const struct dplb_fragment_entry *entry, uint64_t now)
{
	return entry->expires > now;
}

const struct dplb_fragment_place *dplb_fragment_cache_find(const struct dplb_fragment_cache *cache,
							   const struct dplb_fragment_key *key,
							   uint64_t now)
{
	const struct dplb_fragment_entry *set = set_of(cache, key);

	for (uint32_t w = 0; w < DPLB_FRAGMENT_WAYS; w++)
		if (live(&set[w], now) && dplb_fragment_key_equal(&set[w].key, key))
			return &set[w].place;
	return NULL;
}

enum dplb_fragment_add dplb_fragment_cache_add(struct dplb_fragment_cache *cache,
					       const struct dplb_fragment_key *key,
					       const struct dplb_fragment_place *place,
					       uint64_t now)
{
	struct dplb_fragment_entry *set = set_of(cache, key);
	struct dplb_fragment_entry *target = NULL, *oldest = &set[0];
	enum dplb_fragment_add result = DPLB_FRAGMENT_ADDED;

	for (uint32_t w = 0; w < DPLB_FRAGMENT_WAYS; w++) {
		struct dplb_fragment_entry *entry = &set[w];

		if (!live(entry, now)) {
			if (target == NULL)
				target = entry;
			continue;
		}
		/* The same datagram again (a duplicate first fragment, or its id
		 * reused): the newest placement wins. */
		if (dplb_fragment_key_equal(&entry->key, key)) {
			target = entry;
			result = DPLB_FRAGMENT_UPDATED;
			break;
		}
		if (entry->expires < oldest->expires)
			oldest = entry;
	}
	if (target == NULL) {
		target = oldest;
		result = DPLB_FRAGMENT_EVICTED;
	}
	target->key = *key;
	target->place = *place;
	/* Never 0, the free mark, even at time 0 with no timeout. */
	target->expires = now + cache->timeout > now ? now + cache->timeout : now + 1;
	return result;
}

size_t dplb_fragment_hold_size(uint32_t capacity)
{
	if (capacity == 0 || capacity > MAX_HELD)
		return 0;
	return (size_t)round_up_pow2(capacity) * sizeof(struct dplb_fragment_held);
}

void dplb_fragment_hold_init(struct dplb_fragment_hold *hold, void *memory, uint32_t capacity)
{
	const uint32_t slots = round_up_pow2(capacity);

	hold->slots = memory;
	hold->mask = slots - 1;
	hold->head = 0;
	hold->tail = 0;
	hold->count = 0;
	memset(memory, 0, (size_t)slots * sizeof(struct dplb_fragment_held));
}

/* Move the head and the tail past holes at either end, so that they free
 * their slots; holes between held packets wait for the head. */
static void skip_holes(struct dplb_fragment_hold *hold)
{
	while (hold->head != hold->tail && hold->slots[hold->head & hold->mask].packet == NULL)
		hold->head++;
	while (hold->head != hold->tail &&
	       hold->slots[(hold->tail - 1) & hold->mask].packet == NULL)
		hold->tail--;
}

bool dplb_fragment_hold_put(struct dplb_fragment_hold *hold, const struct dplb_fragment_key *key,
			    void *packet, uint64_t deadline)
{
	struct dplb_fragment_held *slot;

	if (hold->tail - hold->head > hold->mask)
		return false;
	slot = &hold->slots[hold->tail & hold->mask];
	slot->key = *key;
	slot->deadline = deadline;
	slot->packet = packet;
	hold->tail++;
	hold->count++;
	return true;
}

uint32_t dplb_fragment_hold_take(struct dplb_fragment_hold *hold,
				 const struct dplb_fragment_key *key, void **out, uint32_t max)
{
	uint32_t taken = 0;

	for (uint32_t i = hold->head; i != hold->tail && taken < max; i++) {
		struct dplb_fragment_held *slot = &hold->slots[i & hold->mask];

		if (slot->packet == NULL || !dplb_fragment_key_equal(&slot->key, key))
			continue;
		out[taken++] = slot->packet;
		slot->packet = NULL;
		hold->count--;
	}
	skip_holes(hold);
	return taken;
}

uint32_t dplb_fragment_hold_expire(struct dplb_fragment_hold *hold, uint64_t now, void **out,
				   uint32_t max)
{
	uint32_t expired = 0;

	skip_holes(hold);
	/* Deadlines grow with arrival: the first one not due ends the walk. */
	while (hold->head != hold->tail && expired < max) {
		struct dplb_fragment_held *slot = &hold->slots[hold->head & hold->mask];

		if (slot->deadline > now)
			break;
		out[expired++] = slot->packet;
		slot->packet = NULL;
		hold->count--;
		hold->head++;
		skip_holes(hold);
	}
	return expired;
}
