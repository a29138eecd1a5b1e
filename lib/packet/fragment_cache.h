/*
 * Keeping a datagram's fragments together: where its first fragment went,
 * and the later fragments that came before it.
 *
 * Only the first fragment of a datagram carries the TCP/UDP ports; the
 * others carry nothing but the IP header, so they cannot be scheduled on
 * their own. A worker remembers, per datagram, where it sent the first
 * fragment: the fragment cache, keyed by (source, destination, protocol,
 * IP identification), the tuple RFC 791 (and RFC 8200 for IPv6) says
 * names one datagram. Later fragments look their datagram up and follow.
 * Fragments that arrive before their first wait a little in the hold
 * queue, and go out once it arrives; what the cache cannot place is the
 * caller's to send otherwise (worker.c sends it by a 3-tuple hash).
 *
 * The cache. Fixed-size and set-associative: a key hashes to one set of
 * DPLB_FRAGMENT_WAYS entries, one cache line each. An add takes a free or
 * expired entry of the set, else overwrites the oldest one: fragments of
 * one datagram arrive within milliseconds of each other, so the oldest
 * entry of a set is almost always past its use already. Entries expire by
 * their timestamp alone, on lookup: nothing walks the cache.
 *
 * The hold queue. A ring in arrival order, bounded in packets; each held
 * packet has a deadline, so expiry pops from the head. A packet taken
 * because its first arrived leaves a hole, skipped when the head reaches
 * it.
 *
 * One key serves both families (16-byte addresses, a 32-bit
 * identification, the family): dplb_fragment_key_ipv4 and _ipv6.
 *
 * Times are whatever unit the caller counts in, as 64-bit values that do
 * not wrap (the worker passes TSC cycles). No DPDK, no allocation: the
 * caller provides the memory (dplb_fragment_cache_size,
 * dplb_fragment_hold_size), so it is tested without EAL. Single writer:
 * one worker owns each.
 */
#ifndef DPLB_FRAGMENT_CACHE_H
#define DPLB_FRAGMENT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DPLB_FRAGMENT_WAYS 4
#define DPLB_FRAGMENT_FAMILY_IPV4 4
#define DPLB_FRAGMENT_FAMILY_IPV6 6

/* One datagram. Addresses in network order; an IPv4 address fills the
 * first four bytes and the rest stays zero. Compared and hashed whole, so
 * every byte (padding included) is set by the maker. */
struct dplb_fragment_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint32_t id; /* IPv4's 16-bit identification or IPv6's 32-bit one */
	uint8_t protocol;
	uint8_t family; /* DPLB_FRAGMENT_FAMILY_* */
	uint8_t pad[2];
};

_Static_assert(sizeof(struct dplb_fragment_key) == 40, "no hidden padding in a key");

/* Where the first fragment went: what a later one needs to follow it. */
struct dplb_fragment_place {
	uint16_t vip_id;
	uint16_t backend_id;
	uint16_t src_port; /* the first fragment's, network order */
	uint16_t dst_port;
};

struct dplb_fragment_entry {
	struct dplb_fragment_key key;
	uint64_t expires; /* 0: free */
	struct dplb_fragment_place place;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct dplb_fragment_entry) == 64, "an entry is one cache line");

struct dplb_fragment_cache {
	struct dplb_fragment_entry *entries; /* set_count * DPLB_FRAGMENT_WAYS */
	uint32_t set_mask;		     /* set_count - 1, a power of two */
	uint64_t seed;
	uint64_t timeout; /* how long an entry lives after its add */
};

/* What dplb_fragment_cache_add did. */
enum dplb_fragment_add {
	DPLB_FRAGMENT_ADDED,   /* into a free or expired entry */
	DPLB_FRAGMENT_UPDATED, /* the key was there: placed anew, time restarted */
	DPLB_FRAGMENT_EVICTED, /* the oldest live entry of the set was overwritten */
};

/* The key of an IPv4 datagram; every argument in network order. */
static inline void dplb_fragment_key_ipv4(struct dplb_fragment_key *key, uint32_t src, uint32_t dst,
					  uint16_t id, uint8_t protocol)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->src, &src, sizeof(src));
	memcpy(key->dst, &dst, sizeof(dst));
	key->id = id;
	key->protocol = protocol;
	key->family = DPLB_FRAGMENT_FAMILY_IPV4;
}

/* The key of an IPv6 datagram: its addresses, the fragment header's
 * identification (network order) and the upper-layer protocol. RFC 8200
 * names a datagram by the addresses and identification alone; the protocol
 * is the same in every fragment, so keeping it changes nothing. */
static inline void dplb_fragment_key_ipv6(struct dplb_fragment_key *key, const uint8_t src[16],
					  const uint8_t dst[16], uint32_t id, uint8_t protocol)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->src, src, sizeof(key->src));
	memcpy(key->dst, dst, sizeof(key->dst));
	key->id = id;
	key->protocol = protocol;
	key->family = DPLB_FRAGMENT_FAMILY_IPV6;
}

/* A keyed hash of the whole key (murmur3's finaliser over its words). */
uint64_t dplb_fragment_key_hash(const struct dplb_fragment_key *key, uint64_t seed);

static inline bool dplb_fragment_key_equal(const struct dplb_fragment_key *a,
					   const struct dplb_fragment_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Bytes of memory (64-byte aligned) dplb_fragment_cache_init needs for at
 * least `entries` entries (rounded up to a power-of-two number of sets), or
 * 0 when entries is 0 or above 2^24. */
size_t dplb_fragment_cache_size(uint32_t entries);

/* Set cache up on memory (dplb_fragment_cache_size(entries) bytes, its
 * contents anything); seed keys the set hash, timeout is an entry's life. */
void dplb_fragment_cache_init(struct dplb_fragment_cache *cache, void *memory, uint32_t entries,
			      uint64_t seed, uint64_t timeout);

/* How many entries the cache has. */
static inline uint32_t dplb_fragment_cache_entries(const struct dplb_fragment_cache *cache)
{
	return (cache->set_mask + 1) * DPLB_FRAGMENT_WAYS;
}

/* Remember that key's first fragment went to place, at now. */
enum dplb_fragment_add dplb_fragment_cache_add(struct dplb_fragment_cache *cache,
					       const struct dplb_fragment_key *key,
					       const struct dplb_fragment_place *place,
					       uint64_t now);

/* Where key's first fragment went, or NULL when it is unknown or its entry
 * has expired at now. The entry stays valid until the next add. */
const struct dplb_fragment_place *dplb_fragment_cache_find(const struct dplb_fragment_cache *cache,
							   const struct dplb_fragment_key *key,
							   uint64_t now);

/* ---- the hold queue ---- */

struct dplb_fragment_held {
	struct dplb_fragment_key key;
	uint64_t deadline;
	void *packet; /* NULL: taken early, a hole */
};

struct dplb_fragment_hold {
	struct dplb_fragment_held *slots;
	uint32_t mask;	/* capacity - 1, a power of two */
	uint32_t head;	/* oldest occupied slot (free-running) */
	uint32_t tail;	/* next slot to fill (free-running) */
	uint32_t count; /* packets held: tail - head less the holes */
};

/* Bytes of memory dplb_fragment_hold_init needs for `capacity` packets
 * (rounded up to a power of two), or 0 when capacity is 0 or above 2^16. */
size_t dplb_fragment_hold_size(uint32_t capacity);

void dplb_fragment_hold_init(struct dplb_fragment_hold *hold, void *memory, uint32_t capacity);

static inline uint32_t dplb_fragment_hold_capacity(const struct dplb_fragment_hold *hold)
{
	return hold->mask + 1;
}

/* Hold packet for key until deadline. Returns false, holding nothing, when
 * the queue is full. */
bool dplb_fragment_hold_put(struct dplb_fragment_hold *hold, const struct dplb_fragment_key *key,
			    void *packet, uint64_t deadline);

/* Take every packet held for key, in arrival order, into out (at most max;
 * the rest stay). Returns how many. */
uint32_t dplb_fragment_hold_take(struct dplb_fragment_hold *hold,
				 const struct dplb_fragment_key *key, void **out, uint32_t max);

/* Take the packets whose deadline is at or before now, oldest first, into
 * out (at most max). Returns how many. */
uint32_t dplb_fragment_hold_expire(struct dplb_fragment_hold *hold, uint64_t now, void **out,
				   uint32_t max);

#endif
