/*
 * Weighted Maglev table builder (Eisenbud et al., NSDI 2016, section 3.4).
 *
 * Pure C, no DPDK, no global state: it runs on the management lcore while
 * building a new snapshot, and in the unit tests.
 *
 * Determinism is the point of this file. Two dplb instances behind the same
 * ECMP group must pick the same backend for a flow, so the table may depend
 * only on the set of (key, weight) pairs and on m:
 *  - a backend's permutation comes from a hash of its key bytes, never from
 *    its position in backends[];
 *  - the hash is written here with fixed seeds (no per-process randomness,
 *    no library hash whose output could change between versions);
 *  - backends take turns in the order of their keys, not the input order.
 *
 * Weights: in round r every backend earns `weight` credit and places one slot
 * for each `max_weight` of credit it holds, so its k-th slot goes in round
 * ceil(k * max_weight / weight), and within a round backends go in key order.
 * That order is replayed either literally, round by round, or with a heap
 * keyed by (round, key order) when the weights are so skewed that most
 * backends would sit idle in most rounds (one heavy backend among many light
 * ones would otherwise cost O(m * n)). Either way the table is the same.
 */
#include "maglev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary fixed seeds; changing them reshuffles every deployed table. */
#define MAGLEV_SEED_OFFSET 0x6d61676c65763031ULL /* "maglev01" */
#define MAGLEV_SEED_SKIP   0x6d61676c65763032ULL /* "maglev02" */

/* See the choice between maglev_fill_rounds and maglev_fill_heap. */
#define MAGLEV_REPLAY_MAX_PASSES 64

#define FNV64_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME        0x100000001b3ULL

/* Per-backend state while filling, indexed by key order. */
struct maglev_fill {
	uint32_t idx;      /* index into the caller's backends[] */
	uint32_t pos;      /* next preferred slot in this backend's permutation */
	uint32_t skip;     /* permutation step, in [1, m - 1] */
	uint32_t weight;
	uint32_t rem_step; /* max_weight % weight */
	uint64_t quo_step; /* max_weight / weight */
	/*
	 * For the next slot number k: k * max_weight == quo * weight + rem.
	 * Kept incrementally so the hot loop has no 64-bit division.
	 */
	uint64_t quo;
	uint64_t rem;      /* 64-bit: rem + rem_step can pass UINT32_MAX */
};

struct maglev_sorted {
	const uint8_t *key;
	size_t key_len;
	uint32_t idx;
};

/*
 * FNV-1a alone mixes the last bytes poorly, and IPv4 keys of one subnet
 * differ only there; the murmur3 fmix64 finaliser spreads every input bit
 * over the whole word so offset and skip look independent.
 */
static uint64_t maglev_hash(const void *key, size_t len, uint64_t seed)
{
	const uint8_t *p = key;
	uint64_t h = FNV64_OFFSET_BASIS ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Total order on key bytes; shorter first when one is a prefix of the other. */
static int maglev_key_cmp(const struct maglev_sorted *a,
			  const struct maglev_sorted *b)
{
	size_t len = a->key_len < b->key_len ? a->key_len : b->key_len;
	int c = memcmp(a->key, b->key, len);

	if (c)
		return c;
	if (a->key_len != b->key_len)
		return a->key_len < b->key_len ? -1 : 1;
	return 0;
}

static int maglev_sorted_cmp(const void *a, const void *b)
{
	return maglev_key_cmp(a, b);
}

/*
 * Move on to backend f's next slot number k and return the round it is due
 * in, ceil(k * max_weight / weight).
 */
static inline uint64_t maglev_next_round(struct maglev_fill *f)
{
	f->quo += f->quo_step;
	f->rem += f->rem_step;
	if (f->rem >= f->weight) {
		f->rem -= f->weight;
		f->quo++;
	}
	return f->quo + (f->rem != 0);
}

/*
 * Give backend f its next preferred free slot. The permutation is walked
 * incrementally (pos += skip mod m), so the paper's n * m permutation matrix
 * is never materialised and no division is needed.
 */
static inline void maglev_place(struct maglev_fill *f, uint32_t m,
				uint64_t *taken, uint32_t *table)
{
	uint32_t pos = f->pos;

	/* A full permutation always reaches a free slot while one is left. */
	while (taken[pos / 64] & (1ULL << (pos % 64))) {
		pos += f->skip;
		if (pos >= m)
			pos -= m;
	}
	taken[pos / 64] |= 1ULL << (pos % 64);
	table[pos] = f->idx;
	pos += f->skip;
	if (pos >= m)
		pos -= m;
	f->pos = pos;
}

/*
 * Replay the rounds literally: cheapest when most backends are due in most
 * rounds, i.e. when weights are similar. weight <= max_weight means at most
 * one slot per backend per round, so one pass per round suffices. due[] is
 * kept apart from fill[] so that passing over idle backends reads one dense
 * array.
 */
static void maglev_fill_rounds(struct maglev_fill *fill, uint64_t *due,
			       uint32_t n, uint32_t m, uint64_t *taken,
			       uint32_t *table)
{
	uint32_t filled = 0, i;
	uint64_t round;

	for (i = 0; i < n; i++)
		due[i] = maglev_next_round(&fill[i]);
	for (round = 1;; round++) {
		for (i = 0; i < n; i++) {
			if (due[i] != round)
				continue;
			maglev_place(&fill[i], m, taken, table);
			due[i] = maglev_next_round(&fill[i]);
			if (++filled == m)
				return;
		}
	}
}

/* The round lives in the entry so sift-downs stay within one array. */
struct maglev_heap_entry {
	uint64_t round;
	uint32_t order; /* index into fill[], i.e. key order */
};

/* Heap order: earlier round first, then key order. */
static inline bool maglev_before(const struct maglev_heap_entry *a,
				 const struct maglev_heap_entry *b)
{
	/* Bitwise, not &&/||: the outcome is random, so avoid branching on it. */
	return (a->round < b->round) |
	       ((a->round == b->round) & (a->order < b->order));
}

static void maglev_sift_down(struct maglev_heap_entry *heap, uint32_t n,
			     uint32_t i)
{
	struct maglev_heap_entry item = heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= n)
			break;
		/* heap[n] is a sentinel that never wins: no bounds check. */
		child += maglev_before(&heap[child + 1], &heap[child]);
		if (!maglev_before(&heap[child], &item))
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = item;
}

/*
 * Same order as maglev_fill_rounds, (round, key order), but visits only the
 * backend that is due: O(m log n) however skewed the weights, where the
 * literal replay spends max_weight * n / weight_sum visits per slot, which
 * tends to n for one heavy backend among light ones. heap has n + 1 entries.
 */
static void maglev_fill_heap(struct maglev_fill *fill,
			     struct maglev_heap_entry *heap, uint32_t n,
			     uint32_t m, uint64_t *taken, uint32_t *table)
{
	uint32_t filled, i;

	for (i = 0; i < n; i++) {
		heap[i].round = maglev_next_round(&fill[i]);
		heap[i].order = i;
	}
	heap[n].round = UINT64_MAX;
	heap[n].order = UINT32_MAX;
	for (i = n / 2; i-- > 0;)
		maglev_sift_down(heap, n, i);
	for (filled = 0; filled < m; filled++) {
		struct maglev_fill *f = &fill[heap[0].order];

		maglev_place(f, m, taken, table);
		heap[0].round = maglev_next_round(f);
		maglev_sift_down(heap, n, 0);
	}
}

bool maglev_is_prime(uint32_t m)
{
	uint64_t d;

	if (m < 2)
		return false;
	if (m % 2 == 0)
		return m == 2;
	/* 64-bit d so d * d cannot wrap near UINT32_MAX. */
	for (d = 3; d * d <= m; d += 2)
		if (m % d == 0)
			return false;
	return true;
}

/*
 * Validate everything and allocate everything before touching table[], so a
 * failed build (a bad reload) leaves the caller's table as it was.
 */
int maglev_build(const struct maglev_backend *backends, uint32_t n, uint32_t m,
		 uint32_t *table)
{
	struct maglev_sorted *sorted = NULL;
	struct maglev_fill *fill = NULL;
	struct maglev_heap_entry *heap = NULL;
	uint64_t *due = NULL;
	uint64_t *taken = NULL;
	uint64_t weight_sum = 0;
	uint32_t max_weight = 0;
	bool replay;
	uint32_t i;
	int ret;

	if (!table || !maglev_is_prime(m) || (n > 0 && (!backends || m < n)))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!backends[i].key || backends[i].key_len == 0 ||
		    backends[i].weight == 0)
			return -EINVAL;
		if (backends[i].weight > max_weight)
			max_weight = backends[i].weight;
		weight_sum += backends[i].weight;
	}

	if (n == 0) {
		for (i = 0; i < m; i++)
			table[i] = MAGLEV_NO_BACKEND;
		return 0;
	}

	/*
	 * A pass over an idle backend in the literal replay costs a small
	 * fraction of a heap sift-down (about 1/100 for n = 1000, measured),
	 * so replay unless the passes per slot, max_weight * n / weight_sum,
	 * exceed MAGLEV_REPLAY_MAX_PASSES. Both give the same table.
	 */
	replay = (uint64_t)max_weight * n / MAGLEV_REPLAY_MAX_PASSES <=
		 weight_sum;

	sorted = malloc((size_t)n * sizeof(*sorted));
	fill = malloc((size_t)n * sizeof(*fill));
	if (replay)
		due = malloc((size_t)n * sizeof(*due));
	else
		heap = malloc(((size_t)n + 1) * sizeof(*heap));
	taken = calloc(((size_t)m + 63) / 64, sizeof(*taken));
	if (!sorted || !fill || !(due || heap) || !taken) {
		ret = -ENOMEM;
		goto out;
	}

	for (i = 0; i < n; i++) {
		sorted[i].key = backends[i].key;
		sorted[i].key_len = backends[i].key_len;
		sorted[i].idx = i;
	}
	/* Keys are distinct once checked below, so qsort's instability is moot. */
	qsort(sorted, n, sizeof(*sorted), maglev_sorted_cmp);
	for (i = 1; i < n; i++) {
		if (maglev_key_cmp(&sorted[i - 1], &sorted[i]) == 0) {
			ret = -EINVAL;
			goto out;
		}
	}

	for (i = 0; i < n; i++) {
		const struct maglev_backend *b = &backends[sorted[i].idx];
		struct maglev_fill *f = &fill[i];

		f->idx = sorted[i].idx;
		f->pos = (uint32_t)(maglev_hash(b->key, b->key_len,
						MAGLEV_SEED_OFFSET) % m);
		/* m is prime, so any skip in [1, m-1] visits every slot. */
		f->skip = (uint32_t)(maglev_hash(b->key, b->key_len,
						 MAGLEV_SEED_SKIP) % (m - 1)) + 1;
		f->weight = b->weight;
		f->quo_step = max_weight / b->weight;
		f->rem_step = max_weight % b->weight;
		f->quo = 0;
		f->rem = 0;
	}

	if (replay)
		maglev_fill_rounds(fill, due, n, m, taken, table);
	else
		maglev_fill_heap(fill, heap, n, m, taken, table);
	ret = 0;
out:
	free(taken);
	free(heap);
	free(due);
	free(fill);
	free(sorted);
	return ret;
}
