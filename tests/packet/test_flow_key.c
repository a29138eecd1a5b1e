/*
 * Unit tests of the flow key and its hash (lib/packet/flow_key.h): what
 * Maglev picks by, so every dplb instance behind ECMP and every restart must
 * compute the same value. The hash is checked against a bitwise CRC32-C
 * written here. No EAL: the header is all there is.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "packet/flow_key.h"

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Distinct keys for i = 0..: the source port and address carry i. */
static struct dplb_flow_key make_key(uint32_t i)
{
	struct dplb_flow_key key;

	memset(&key, 0, sizeof(key));
	key.src_addr = 0x0a000000u + (i >> 16);
	key.dst_addr = 0xc0a80064u;
	key.src_port = (uint16_t)i;
	key.dst_port = 80;
	key.protocol = (i & 1) ? 17 : 6;
	return key;
}

static struct dplb_flow_key random_key(uint64_t *seed)
{
	struct dplb_flow_key key;
	const uint64_t a = splitmix64(seed), b = splitmix64(seed);

	memset(&key, 0, sizeof(key));
	key.src_addr = (uint32_t)a;
	key.dst_addr = (uint32_t)(a >> 32);
	key.src_port = (uint16_t)b;
	key.dst_port = (uint16_t)(b >> 16);
	key.protocol = (b >> 32) & 1 ? 17 : 6;
	return key;
}

/* ---- the flow hash ---------------------------------------------------- */

/* CRC32-C (Castagnoli, reflected polynomial 0x82f63b78) one bit at a time,
 * without the customary pre- and post-inversion: what the SSE4.2 crc32
 * instruction and rte_hash_crc compute. */
static uint32_t crc32c_reference(uint32_t crc, const uint8_t *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		crc ^= bytes[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return crc;
}

/* The two key words in order, each least significant byte first. */
static uint32_t flow_hash_reference(const struct dplb_flow_key *key)
{
	uint8_t bytes[16];

	for (int w = 0; w < 2; w++)
		for (int b = 0; b < 8; b++)
			bytes[w * 8 + b] = (uint8_t)(key->words[w] >> (8 * b));
	return crc32c_reference(DPLB_FLOW_HASH_SEED, bytes, sizeof(bytes));
}

Test(flow_key, reference_crc32c_matches_the_standard_check_value)
{
	/* The published CRC-32C check: "123456789" with inversion both ends. */
	const char *check = "123456789";

	cr_assert_eq(~crc32c_reference(~0u, (const uint8_t *)check, strlen(check)), 0xe3069283u);
}

Test(flow_key, flow_hash_is_crc32c_of_the_key_words)
{
	uint64_t seed = 7;

	cr_assert_eq(sizeof(struct dplb_flow_key), 16);
	cr_assert_eq(DPLB_FLOW_HASH_SEED, 0x9e3779b9u);
	for (uint32_t i = 0; i < 10000; i++) {
		const struct dplb_flow_key key = i < 5000 ? random_key(&seed) : make_key(i);

		cr_assert_eq(dplb_flow_hash(&key), flow_hash_reference(&key), "key %u", i);
	}
	/* Every field of the 5-tuple reaches the hash. */
	const struct dplb_flow_key base = make_key(1);
	struct dplb_flow_key changed;
	changed = base;
	changed.src_addr ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.dst_addr ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.src_port ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.dst_port ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
	changed = base;
	changed.protocol ^= 1;
	cr_assert_neq(dplb_flow_hash(&changed), dplb_flow_hash(&base));
}
