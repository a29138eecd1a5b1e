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
 *  - backends take turns in the order of their keys, not the input order;
 *  - all arithmetic is integer, so no float rounding can differ by machine.
 *
 * Weights. Backends take turns as in the paper, each turn claiming the next
 * free slot in the backend's own permutation. In round r every backend earns
 * `weight` credit and takes one turn per `max_weight` of credit it holds, so
 * its k-th turn falls in round ceil(k * max_weight / weight); within a round
 * turns go in key order. Rounds alone would leave every backend up to a slot
 * short when the table fills, and the heaviest would soak up all those
 * shortfalls (up to about n slots), so each backend also gets a quota: its
 * exact share m * weight / sum, rounded down, plus one for the largest
 * remainders until the quotas add up to m. A backend stops taking turns once
 * it has its quota, so every backend ends with the floor or the ceiling of
 * its exact share, however skewed the weights.
 *
 * The turn order is replayed either literally, round by round, or with a heap
 * keyed by (round, key order) when the weights are so skewed that most
 * backends would sit idle in most rounds (one heavy backend among many light
 * ones would otherwise cost O(m * n)). Both give the same table.
 */
#include "packet/maglev.h"
#include "common/values.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary fixed seeds; changing them reshuffles every deployed table. */
#define MAGLEV_SEED_OFFSET 0x6d61676c65763031ULL /* "maglev01" */
#define MAGLEV_SEED_SKIP 0x6d61676c65763032ULL	 /* "maglev02" */

#define FNV64_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

/* See the choice between maglev_fill_replay and maglev_fill_heap. */
#define MAGLEV_REPLAY_MAX_VISITS 64

/* A round no turn ever falls in: marks retired backends and the heap end. */
#define MAGLEV_NEVER UINT64_MAX

/* Per-backend state while filling, indexed by key order. */
struct maglev_fill {
	uint32_t idx;	/* index into the caller's backends[] */
	uint32_t pos;	/* next preferred slot in this backend's permutation */
	uint32_t skip;	/* permutation step, in [1, m - 1] */
	uint32_t quota; /* slots still to take */
	uint32_t weight;
	uint32_t rem_step; /* max_weight % weight */
	uint64_t quo_step; /* max_weight / weight */
	/*
	 * For the next turn k: k * max_weight == quo * weight + rem. Kept
	 * incrementally so the fill loop has no 64-bit division.
	 */
	uint64_t quo;
	uint64_t rem; /* 64-bit: rem + rem_step can pass UINT32_MAX */
};

struct maglev_sorted {
	const uint8_t *key;
	size_t key_len;
	uint32_t idx;
};

/* For handing out the quota slots left over after rounding down. */
struct maglev_remainder {
	uint64_t rem;	/* (m * weight) % weight_sum */
	uint32_t order; /* key order */
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
static int maglev_key_cmp(const struct maglev_sorted *a, const struct maglev_sorted *b)
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

/* Largest remainder first; key order breaks ties so the result is total. */
static int maglev_remainder_cmp(const void *a, const void *b)
{
	const struct maglev_remainder *x = a, *y = b;

	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Move on to backend f's next turn k and return the round it falls in,
 * ceil(k * max_weight / weight), or MAGLEV_NEVER once f has its quota.
 */
static inline uint64_t maglev_next_round(struct maglev_fill *f)
{
	if (f->quota == 0)
		return MAGLEV_NEVER;
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
static inline void maglev_take(struct maglev_fill *f, uint32_t m, uint64_t *taken, uint32_t *table)
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
	f->quota--;
}

/*
 * Replay the rounds literally: cheapest when most backends are due in most
 * rounds, i.e. when weights are similar. weight <= max_weight means at most
 * one turn per backend per round, so one pass per round suffices. Rounds in
 * which nobody is due are skipped: near the end only backends owed a
 * rounding slot may be left, possibly many rounds apart. due[] is kept apart
 * from fill[] so a pass over idle backends reads one dense array.
 */
static void maglev_fill_replay(struct maglev_fill *fill, uint64_t *due, uint32_t n, uint32_t m,
			       uint64_t *taken, uint32_t *table)
{
	uint64_t round = MAGLEV_NEVER;
	uint32_t filled = 0, i;

	for (i = 0; i < n; i++) {
		due[i] = maglev_next_round(&fill[i]);
		if (due[i] < round)
			round = due[i];
	}
	for (;;) {
		uint64_t next = MAGLEV_NEVER;

		for (i = 0; i < n; i++) {
			if (due[i] == round) {
				maglev_take(&fill[i], m, taken, table);
				if (++filled == m)
					return;
				due[i] = maglev_next_round(&fill[i]);
			}
			if (due[i] < next)
				next = due[i];
		}
		round = next;
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
	return (a->round < b->round) | ((a->round == b->round) & (a->order < b->order));
}

/* heap[n] must be a MAGLEV_NEVER sentinel, so a lone last child needs no
 * bounds check. */
static void maglev_sift_down(struct maglev_heap_entry *heap, uint32_t n, uint32_t i)
{
	struct maglev_heap_entry item = heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= n)
			break;
		child += maglev_before(&heap[child + 1], &heap[child]);
		if (!maglev_before(&heap[child], &item))
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = item;
}

/*
 * Same turn order as maglev_fill_replay, (round, key order), but visits only
 * the backend whose turn it is: O(m log n) however skewed the weights, where
 * the replay spends about max_weight * n / weight_sum visits per slot, which
 * nears n for one heavy backend among light ones. heap has n + 1 entries.
 */
static void maglev_fill_heap(struct maglev_fill *fill, struct maglev_heap_entry *heap, uint32_t n,
			     uint32_t m, uint64_t *taken, uint32_t *table)
{
	uint32_t filled, size = 0, i;

	for (i = 0; i < n; i++) {
		heap[size].round = maglev_next_round(&fill[i]);
		heap[size].order = i;
		if (heap[size].round != MAGLEV_NEVER)
			size++;
	}
	heap[size].round = MAGLEV_NEVER;
	heap[size].order = UINT32_MAX;
	for (i = size / 2; i-- > 0;)
		maglev_sift_down(heap, size, i);

	/* The quotas add up to m, so the heap cannot run dry before the end. */
	for (filled = 0; filled < m; filled++) {
		struct maglev_fill *f = &fill[heap[0].order];

		maglev_take(f, m, taken, table);
		heap[0].round = maglev_next_round(f);
		if (heap[0].round == MAGLEV_NEVER) {
			/* Retire f: the sentinel moves down one place. */
			heap[0] = heap[--size];
			heap[size] = heap[size + 1];
		}
		maglev_sift_down(heap, size, 0);
	}
}

/*
 * Quotas by the largest remainder method: floor(m * w / sum) each, then one
 * more for the backends with the largest (m * w) % sum until the total is m.
 * m * w < 2^64 for 32-bit m and w, so the arithmetic is exact.
 */
static void maglev_set_quotas(struct maglev_fill *fill, struct maglev_remainder *rems, uint32_t n,
			      uint32_t m, uint64_t weight_sum)
{
	uint64_t given = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t share = (uint64_t)m * fill[i].weight;

		fill[i].quota = (uint32_t)(share / weight_sum);
		given += fill[i].quota;
		rems[i].rem = share % weight_sum;
		rems[i].order = i;
	}
	/* Each floor loses less than one slot, so fewer than n are left. */
	qsort(rems, n, sizeof(*rems), maglev_remainder_cmp);
	for (i = 0; given < m; i++, given++)
		fill[rems[i].order].quota++;
}

/*
 * Validate everything and allocate everything before writing table[], so a
 * failed build (a bad reload) leaves the caller's table as it was.
 */
int maglev_build(const struct maglev_backend *backends, uint32_t n, uint32_t m, uint32_t *table)
{
	struct maglev_sorted *sorted = NULL;
	struct maglev_remainder *rems = NULL;
	struct maglev_fill *fill = NULL;
	struct maglev_heap_entry *heap = NULL;
	uint64_t *due = NULL;
	uint64_t *taken = NULL;
	uint64_t weight_sum = 0;
	uint32_t max_weight = 0;
	bool replay;
	uint32_t i;
	int ret;

	if (table == NULL || !dplb_is_prime(m) || (n > 0 && (backends == NULL || m < n)))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!backends[i].key || backends[i].key_len == 0 || backends[i].weight == 0)
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
	 * Passing over an idle backend in the replay costs about 1/60 of a
	 * heap sift-down (measured at n = 1000), so replay unless the visits
	 * per slot, max_weight * n / weight_sum, would exceed
	 * MAGLEV_REPLAY_MAX_VISITS. This only picks the faster path.
	 */
	replay = (uint64_t)max_weight * n / MAGLEV_REPLAY_MAX_VISITS <= weight_sum;

	sorted = malloc((size_t)n * sizeof(*sorted));
	rems = malloc((size_t)n * sizeof(*rems));
	/* Every field is set below; calloc only spares static analysers,
	 * which lose track of the index through the heap. */
	fill = calloc(n, sizeof(*fill));
	if (replay)
		due = malloc((size_t)n * sizeof(*due));
	else
		heap = malloc(((size_t)n + 1) * sizeof(*heap));
	taken = calloc(((size_t)m + 63) / 64, sizeof(*taken));
	if (sorted == NULL || rems == NULL || fill == NULL || !(due || heap) || taken == NULL) {
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
		f->pos = (uint32_t)(maglev_hash(b->key, b->key_len, MAGLEV_SEED_OFFSET) % m);
		/* m is prime, so any skip in [1, m - 1] visits every slot. */
		f->skip =
			(uint32_t)(maglev_hash(b->key, b->key_len, MAGLEV_SEED_SKIP) % (m - 1)) + 1;
		f->weight = b->weight;
		f->quo_step = max_weight / b->weight;
		f->rem_step = max_weight % b->weight;
		f->quo = 0;
		f->rem = 0;
	}
	maglev_set_quotas(fill, rems, n, m, weight_sum);

	if (replay)
		maglev_fill_replay(fill, due, n, m, taken, table);
	else
		maglev_fill_heap(fill, heap, n, m, taken, table);
	ret = 0;
out:
	free(taken);
	free(heap);
	free(due);
	free(fill);
	free(rems);
	free(sorted);
	return ret;
}
