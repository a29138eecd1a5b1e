/*
 * Unit tests for the fragment cache and hold queue
 * (lib/packet/fragment_cache.{h,c}).
 *
 * What a test expects is computed from its inputs: keys that share a set
 * are found by hashing candidates with the cache's own hash and seed, and
 * the random test checks every answer against a model written here (the
 * last place each key was given, and when). Generators are splitmix64 from
 * fixed seeds, so runs repeat.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet/fragment_cache.h"

#define TIMEOUT 1000

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A cache of `entries` on memory full of junk ("its contents anything"). */
static void *cache_new(struct dplb_fragment_cache *cache, uint32_t entries, uint64_t seed)
{
	const size_t bytes = dplb_fragment_cache_size(entries);

	cr_assert(bytes > 0);
	void *memory = aligned_alloc(64, bytes);

	cr_assert(memory != NULL);
	memset(memory, 0x5a, bytes);
	dplb_fragment_cache_init(cache, memory, entries, seed, TIMEOUT);
	return memory;
}

static struct dplb_fragment_key key_of(uint32_t n)
{
	struct dplb_fragment_key key;

	/* Sources, destinations, ids and protocols all vary with n. */
	dplb_fragment_key_ipv4(&key, 0x0a000000u + n / 7, 0xc0a80001u + n % 3, (uint16_t)n,
			       n % 2 ? 6 : 17);
	return key;
}

static struct dplb_fragment_place place_of(uint32_t n)
{
	return (struct dplb_fragment_place){ .vip_id = (uint16_t)(n % 1024),
					     .backend_id = (uint16_t)(n * 7),
					     .src_port = (uint16_t)(n + 1),
					     .dst_port = (uint16_t)(n + 2) };
}

static void assert_place(const struct dplb_fragment_place *got, uint32_t n)
{
	const struct dplb_fragment_place want = place_of(n);

	cr_assert(got != NULL, "key %u not found", n);
	cr_assert(memcmp(got, &want, sizeof(want)) == 0, "key %u: wrong place", n);
}

static uint32_t set_index(const struct dplb_fragment_cache *cache,
			  const struct dplb_fragment_key *key)
{
	return (uint32_t)(dplb_fragment_key_hash(key, cache->seed) >> 32) & cache->set_mask;
}

Test(fragment_cache, sizes_round_up_to_whole_sets)
{
	const size_t entry = sizeof(struct dplb_fragment_entry);

	cr_assert_eq(dplb_fragment_cache_size(0), 0);
	cr_assert_eq(dplb_fragment_cache_size((1u << 24) + 1), 0);
	cr_assert_eq(dplb_fragment_cache_size(1), DPLB_FRAGMENT_WAYS * entry);
	cr_assert_eq(dplb_fragment_cache_size(4), DPLB_FRAGMENT_WAYS * entry);
	cr_assert_eq(dplb_fragment_cache_size(5), 2 * DPLB_FRAGMENT_WAYS * entry);
	cr_assert_eq(dplb_fragment_cache_size(1000), 256 * DPLB_FRAGMENT_WAYS * entry);

	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 1000, 1);

	cr_assert_eq(dplb_fragment_cache_entries(&cache), 1024);
	free(memory);
}

Test(fragment_cache, an_empty_cache_finds_nothing)
{
	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 64, 1);

	for (uint32_t n = 0; n < 1000; n++) {
		const struct dplb_fragment_key key = key_of(n);

		cr_assert_null(dplb_fragment_cache_find(&cache, &key, 0));
		cr_assert_null(dplb_fragment_cache_find(&cache, &key, 123456789));
	}
	free(memory);
}

Test(fragment_cache, finds_what_was_added_and_only_that)
{
	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 4096, 2);
	struct dplb_fragment_key key = key_of(42);
	const struct dplb_fragment_place place = place_of(42);

	cr_assert_eq(dplb_fragment_cache_add(&cache, &key, &place, 10), DPLB_FRAGMENT_ADDED);
	assert_place(dplb_fragment_cache_find(&cache, &key, 10), 42);

	/* Each field of the key tells datagrams apart. */
	struct dplb_fragment_key other = key;
	other.id ^= 1;
	cr_assert_null(dplb_fragment_cache_find(&cache, &other, 10));
	other = key;
	other.protocol = 1;
	cr_assert_null(dplb_fragment_cache_find(&cache, &other, 10));
	other = key;
	other.src[3] ^= 1;
	cr_assert_null(dplb_fragment_cache_find(&cache, &other, 10));
	other = key;
	other.dst[0] ^= 0x80;
	cr_assert_null(dplb_fragment_cache_find(&cache, &other, 10));
	/* The same bytes as an IPv6 key are another datagram. */
	other = key;
	other.family = DPLB_FRAGMENT_FAMILY_IPV6;
	cr_assert_null(dplb_fragment_cache_find(&cache, &other, 10));
	free(memory);
}

Test(fragment_cache, ipv4_keys_are_fully_defined)
{
	struct dplb_fragment_key a, b;

	memset(&a, 0xff, sizeof(a));
	memset(&b, 0x00, sizeof(b));
	dplb_fragment_key_ipv4(&a, 0x01020304u, 0x05060708u, 0x1234, 17);
	dplb_fragment_key_ipv4(&b, 0x01020304u, 0x05060708u, 0x1234, 17);
	cr_assert(dplb_fragment_key_equal(&a, &b), "junk under a key leaks into it");
	cr_assert_eq(dplb_fragment_key_hash(&a, 9), dplb_fragment_key_hash(&b, 9));
	cr_assert_neq(dplb_fragment_key_hash(&a, 9), dplb_fragment_key_hash(&a, 10));
	cr_assert_eq(a.family, DPLB_FRAGMENT_FAMILY_IPV4);
	for (int i = 4; i < 16; i++)
		cr_assert(a.src[i] == 0 && a.dst[i] == 0);
}

Test(fragment_cache, ipv6_keys_are_fully_defined_and_never_an_ipv4_keys)
{
	struct dplb_fragment_key a, b, four;
	uint8_t src[16] = { 1, 2, 3, 4 }, dst[16] = { 5, 6, 7, 8 };

	memset(&a, 0xff, sizeof(a));
	memset(&b, 0x00, sizeof(b));
	dplb_fragment_key_ipv6(&a, src, dst, 0x12345678u, 17);
	dplb_fragment_key_ipv6(&b, src, dst, 0x12345678u, 17);
	cr_assert(dplb_fragment_key_equal(&a, &b), "junk under a key leaks into it");
	cr_assert_eq(a.family, DPLB_FRAGMENT_FAMILY_IPV6);
	cr_assert_eq(a.id, 0x12345678u);
	/* The same bytes as an IPv4 datagram's: another datagram. */
	dplb_fragment_key_ipv4(&four, 0x04030201u, 0x08070605u, 0x5678, 17);
	four.id = 0x12345678u;
	cr_assert_not(dplb_fragment_key_equal(&a, &four));
	dst[15] = 1;
	dplb_fragment_key_ipv6(&b, src, dst, 0x12345678u, 17);
	cr_assert_not(dplb_fragment_key_equal(&a, &b), "every address byte counts");
}

Test(fragment_cache, entries_expire_after_the_timeout)
{
	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 64, 3);
	const struct dplb_fragment_key key = key_of(7);
	const struct dplb_fragment_place place = place_of(7);

	dplb_fragment_cache_add(&cache, &key, &place, 5000);
	assert_place(dplb_fragment_cache_find(&cache, &key, 5000 + TIMEOUT - 1), 7);
	cr_assert_null(dplb_fragment_cache_find(&cache, &key, 5000 + TIMEOUT));
	/* An expired entry is free again: adding there evicts nothing. */
	cr_assert_eq(dplb_fragment_cache_add(&cache, &key, &place, 5000 + TIMEOUT),
		     DPLB_FRAGMENT_ADDED);
	assert_place(dplb_fragment_cache_find(&cache, &key, 5000 + 2 * TIMEOUT - 1), 7);
	free(memory);
}

Test(fragment_cache, adding_a_key_again_replaces_its_place)
{
	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 64, 4);
	const struct dplb_fragment_key key = key_of(9);
	const struct dplb_fragment_place first = place_of(1), second = place_of(2);

	dplb_fragment_cache_add(&cache, &key, &first, 100);
	cr_assert_eq(dplb_fragment_cache_add(&cache, &key, &second, 200), DPLB_FRAGMENT_UPDATED);
	assert_place(dplb_fragment_cache_find(&cache, &key, 200), 2);
	/* Its time restarted with it. */
	assert_place(dplb_fragment_cache_find(&cache, &key, 200 + TIMEOUT - 1), 2);
	/* One entry, not two: the set's other ways are still free. */
	uint32_t used = 0;
	for (uint32_t i = 0; i < dplb_fragment_cache_entries(&cache); i++)
		used += cache.entries[i].expires != 0;
	cr_assert_eq(used, 1);
	free(memory);
}

Test(fragment_cache, a_full_set_overwrites_its_oldest_entry)
{
	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 64, 5);
	uint32_t same[DPLB_FRAGMENT_WAYS + 1];
	uint32_t found = 0;
	const struct dplb_fragment_key first = key_of(0);
	const uint32_t set = set_index(&cache, &first);

	for (uint32_t n = 0; found < DPLB_FRAGMENT_WAYS + 1; n++) {
		const struct dplb_fragment_key key = key_of(n);

		if (set_index(&cache, &key) == set)
			same[found++] = n;
	}
	/* Added at times 0, 10, 20, 30 but the first refreshed at 40: the
	 * oldest is then the second. */
	for (uint32_t i = 0; i < DPLB_FRAGMENT_WAYS; i++) {
		const struct dplb_fragment_key key = key_of(same[i]);
		const struct dplb_fragment_place place = place_of(same[i]);

		cr_assert_eq(dplb_fragment_cache_add(&cache, &key, &place, 10 * i),
			     DPLB_FRAGMENT_ADDED);
	}
	const struct dplb_fragment_key refreshed = key_of(same[0]);
	const struct dplb_fragment_place refreshed_place = place_of(same[0]);
	cr_assert_eq(dplb_fragment_cache_add(&cache, &refreshed, &refreshed_place, 40),
		     DPLB_FRAGMENT_UPDATED);

	const struct dplb_fragment_key newcomer = key_of(same[DPLB_FRAGMENT_WAYS]);
	const struct dplb_fragment_place newcomer_place = place_of(same[DPLB_FRAGMENT_WAYS]);
	cr_assert_eq(dplb_fragment_cache_add(&cache, &newcomer, &newcomer_place, 50),
		     DPLB_FRAGMENT_EVICTED);
	assert_place(dplb_fragment_cache_find(&cache, &newcomer, 50), same[DPLB_FRAGMENT_WAYS]);
	const struct dplb_fragment_key evicted = key_of(same[1]);
	cr_assert_null(dplb_fragment_cache_find(&cache, &evicted, 50));
	for (uint32_t i = 0; i < DPLB_FRAGMENT_WAYS; i++) {
		const struct dplb_fragment_key key = key_of(same[i]);

		if (i != 1)
			assert_place(dplb_fragment_cache_find(&cache, &key, 50), same[i]);
	}
	free(memory);
}

/* The model: the last place and time each key was added at. */
struct model_entry {
	bool added;
	uint32_t place;
	uint64_t at;
};

Test(fragment_cache, random_traffic_never_gets_a_wrong_or_stale_answer)
{
	enum { KEYS = 5000, STEPS = 200000 };
	struct dplb_fragment_cache cache;
	void *memory = cache_new(&cache, 512, 6);
	struct model_entry *model = calloc(KEYS, sizeof(*model));
	uint64_t rng = 77, now = 0;
	uint32_t hits = 0, evictions = 0;

	cr_assert(model != NULL);
	for (uint32_t step = 0; step < STEPS; step++) {
		const uint32_t n = (uint32_t)(splitmix64(&rng) % KEYS);
		const struct dplb_fragment_key key = key_of(n);

		now += splitmix64(&rng) % 3; /* time moves on, sometimes not at all */
		if (splitmix64(&rng) % 2) {
			const uint32_t p = (uint32_t)(splitmix64(&rng) % 60000);
			const struct dplb_fragment_place place = place_of(p);
			const enum dplb_fragment_add result =
				dplb_fragment_cache_add(&cache, &key, &place, now);

			evictions += result == DPLB_FRAGMENT_EVICTED;
			model[n] = (struct model_entry){ .added = true, .place = p, .at = now };
			/* What was just added is there. */
			assert_place(dplb_fragment_cache_find(&cache, &key, now), p);
			continue;
		}
		const struct dplb_fragment_place *got = dplb_fragment_cache_find(&cache, &key, now);

		if (got == NULL)
			continue;
		/* Found: the key's last place, and not past its time. */
		cr_assert(model[n].added, "key %u found, never added", n);
		cr_assert(now < model[n].at + TIMEOUT, "key %u found after its timeout", n);
		assert_place(got, model[n].place);
		hits++;
	}
	/* The run exercised both finding and overwriting. */
	cr_assert_gt(hits, 1000);
	cr_assert_gt(evictions, 1000);
	free(model);
	free(memory);
}

/* ---- the hold queue ---- */

static void *hold_new(struct dplb_fragment_hold *hold, uint32_t capacity)
{
	const size_t bytes = dplb_fragment_hold_size(capacity);

	cr_assert(bytes > 0);
	void *memory = malloc(bytes);

	cr_assert(memory != NULL);
	memset(memory, 0x5a, bytes);
	dplb_fragment_hold_init(hold, memory, capacity);
	return memory;
}

/* Packets are pointers the hold never follows: numbers will do. */
static void *packet(uintptr_t n)
{
	return (void *)(n + 1);
}

Test(fragment_hold, sizes)
{
	cr_assert_eq(dplb_fragment_hold_size(0), 0);
	cr_assert_eq(dplb_fragment_hold_size(70000), 0);
	cr_assert_eq(dplb_fragment_hold_size(3), 4 * sizeof(struct dplb_fragment_held));

	struct dplb_fragment_hold hold;
	void *memory = hold_new(&hold, 3);

	cr_assert_eq(dplb_fragment_hold_capacity(&hold), 4);
	cr_assert_eq(hold.count, 0);
	free(memory);
}

Test(fragment_hold, holds_up_to_its_capacity)
{
	struct dplb_fragment_hold hold;
	void *memory = hold_new(&hold, 8);
	void *out[16];

	for (uint32_t i = 0; i < 8; i++) {
		const struct dplb_fragment_key key = key_of(i);

		cr_assert(dplb_fragment_hold_put(&hold, &key, packet(i), 100));
	}
	const struct dplb_fragment_key extra = key_of(99);
	cr_assert_not(dplb_fragment_hold_put(&hold, &extra, packet(99), 100));
	cr_assert_eq(hold.count, 8);
	/* Nothing is due before its deadline; everything is at it, in order. */
	cr_assert_eq(dplb_fragment_hold_expire(&hold, 99, out, 16), 0);
	cr_assert_eq(dplb_fragment_hold_expire(&hold, 100, out, 16), 8);
	for (uint32_t i = 0; i < 8; i++)
		cr_assert_eq(out[i], packet(i));
	cr_assert_eq(hold.count, 0);
	cr_assert(dplb_fragment_hold_put(&hold, &extra, packet(99), 200));
	free(memory);
}

Test(fragment_hold, take_returns_a_datagrams_packets_in_arrival_order)
{
	struct dplb_fragment_hold hold;
	void *memory = hold_new(&hold, 16);
	void *out[16];
	const struct dplb_fragment_key a = key_of(1), b = key_of(2), c = key_of(3);

	/* a b a c a, deadlines rising with arrival. */
	const struct dplb_fragment_key *order[] = { &a, &b, &a, &c, &a };
	for (uint32_t i = 0; i < 5; i++)
		cr_assert(dplb_fragment_hold_put(&hold, order[i], packet(i), 10 + i));
	cr_assert_eq(dplb_fragment_hold_take(&hold, &a, out, 16), 3);
	cr_assert(out[0] == packet(0) && out[1] == packet(2) && out[2] == packet(4));
	cr_assert_eq(hold.count, 2);
	cr_assert_eq(dplb_fragment_hold_take(&hold, &a, out, 16), 0);
	/* The holes at the head and the tail were given back. */
	cr_assert_eq(hold.tail - hold.head, 3);
	/* Expiry skips the holes and keeps order: b (11), then c (13). */
	cr_assert_eq(dplb_fragment_hold_expire(&hold, 12, out, 16), 1);
	cr_assert_eq(out[0], packet(1));
	cr_assert_eq(dplb_fragment_hold_expire(&hold, 1000, out, 16), 1);
	cr_assert_eq(out[0], packet(3));
	cr_assert_eq(hold.count, 0);
	cr_assert_eq(hold.head, hold.tail);
	free(memory);
}

Test(fragment_hold, take_and_expire_stop_at_max)
{
	struct dplb_fragment_hold hold;
	void *memory = hold_new(&hold, 8);
	void *out[8];
	const struct dplb_fragment_key a = key_of(1);

	for (uint32_t i = 0; i < 6; i++)
		cr_assert(dplb_fragment_hold_put(&hold, &a, packet(i), i));
	cr_assert_eq(dplb_fragment_hold_take(&hold, &a, out, 2), 2);
	cr_assert(out[0] == packet(0) && out[1] == packet(1));
	cr_assert_eq(dplb_fragment_hold_expire(&hold, 100, out, 3), 3);
	cr_assert(out[0] == packet(2) && out[2] == packet(4));
	cr_assert_eq(hold.count, 1);
	cr_assert_eq(dplb_fragment_hold_expire(&hold, 100, out, 3), 1);
	cr_assert_eq(out[0], packet(5));
	free(memory);
}

Test(fragment_hold, wraps_around_many_times)
{
	struct dplb_fragment_hold hold;
	void *memory = hold_new(&hold, 4);
	void *out[4];
	uint64_t now = 0;

	for (uint32_t i = 0; i < 1000; i++) {
		const struct dplb_fragment_key key = key_of(i % 5);

		now++;
		if (!dplb_fragment_hold_put(&hold, &key, packet(i), now + 2)) {
			/* Full: every slot taken, by packets or holes between them;
			 * the oldest are due by now + 2. */
			cr_assert_eq(hold.tail - hold.head, 4);
			cr_assert_gt(dplb_fragment_hold_expire(&hold, now + 2, out, 4), 0);
			cr_assert(dplb_fragment_hold_put(&hold, &key, packet(i), now + 2));
		}
		if (i % 3 == 0)
			dplb_fragment_hold_take(&hold, &key, out, 4);
		cr_assert_leq(hold.count, 4);
		cr_assert_leq(hold.tail - hold.head, 4);
	}
	free(memory);
}
