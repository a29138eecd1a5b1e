/*
 * Unit tests of the flow keys and their hashes, IPv4 and IPv6
 * (lib/packet/flow_key.h): what Maglev picks by, so every dplb instance
 * behind ECMP and every restart must compute the same value. The hashes are
 * checked against a bitwise CRC32-C written here, and IPv6's against
 * pinned values too. No EAL: the header is all there is.
 */
#include <arpa/inet.h>
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

/* ---- IPv6: the key, the flow hash and the source hash ------------------ */

static void address6(uint8_t out[16], const char *text)
{
	cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "%s", text);
}

/* The 40 bytes dplb_flow_hash6's comment defines, built from the fields
 * here, not from the struct. */
static uint32_t flow_hash6_reference(const uint8_t src[16], const uint8_t dst[16],
				     uint16_t src_port, uint16_t dst_port, uint8_t protocol)
{
	uint8_t bytes[40] = { 0 };

	memcpy(bytes, src, 16);
	memcpy(bytes + 16, dst, 16);
	bytes[32] = (uint8_t)(src_port >> 8);
	bytes[33] = (uint8_t)src_port;
	bytes[34] = (uint8_t)(dst_port >> 8);
	bytes[35] = (uint8_t)dst_port;
	bytes[36] = protocol;
	return crc32c_reference(DPLB_FLOW_HASH_SEED, bytes, sizeof(bytes));
}

Test(flow_key, flow_key6_set_lays_the_fields_out_in_network_order_padding_zero)
{
	struct dplb_flow_key6 key;
	uint8_t src[16], dst[16];

	memset(&key, 0xa5, sizeof(key));
	address6(src, "2001:db8::1");
	address6(dst, "2001:db8:ffff::80");
	dplb_flow_key6_set(&key, src, dst, htons(40000), htons(443), 6);
	cr_assert_eq(sizeof(key), 40);
	cr_assert_arr_eq(key.src_addr, src, 16);
	cr_assert_arr_eq(key.dst_addr, dst, 16);
	cr_assert_eq(key.src_port, htons(40000));
	cr_assert_eq(key.dst_port, htons(443));
	cr_assert_eq(key.protocol, 6);
	cr_assert_eq(key.pad[0] | key.pad[1] | key.pad[2], 0);
}

Test(flow_key, flow_hash6_is_crc32c_of_the_documented_bytes)
{
	uint64_t seed = 11;

	for (uint32_t i = 0; i < 10000; i++) {
		uint8_t src[16], dst[16];
		struct dplb_flow_key6 key;

		for (int w = 0; w < 2; w++) {
			const uint64_t a = splitmix64(&seed), b = splitmix64(&seed);

			memcpy(src + 8 * w, &a, 8);
			memcpy(dst + 8 * w, &b, 8);
		}
		const uint64_t r = splitmix64(&seed);
		const uint16_t sport = (uint16_t)r, dport = (uint16_t)(r >> 16);
		const uint8_t protocol = (r >> 32) & 1 ? 17 : 6;

		dplb_flow_key6_set(&key, src, dst, htons(sport), htons(dport), protocol);
		cr_assert_eq(dplb_flow_hash6(&key),
			     flow_hash6_reference(src, dst, sport, dport, protocol), "key %u", i);
		cr_assert_eq(dplb_source_hash6(src), crc32c_reference(DPLB_FLOW_HASH_SEED, src, 16),
			     "source %u", i);
	}
}

Test(flow_key, every_field_reaches_flow_hash6)
{
	uint8_t src[16], dst[16];
	struct dplb_flow_key6 base, changed;

	address6(src, "2001:db8::1");
	address6(dst, "2001:db8::2");
	dplb_flow_key6_set(&base, src, dst, htons(1234), htons(80), 6);
	for (int byte = 0; byte < 37; byte++) {
		changed = base;
		((uint8_t *)&changed)[byte] ^= 1;
		cr_assert_neq(dplb_flow_hash6(&changed), dplb_flow_hash6(&base), "byte %d", byte);
	}
	cr_assert_neq(dplb_source_hash6(src), dplb_source_hash6(dst));
}

/*
 * Pinned values, computed once when the hashes were written. They must
 * never change: every dplb instance behind ECMP, and every restart, picks
 * the backends of IPv6 flows from them (Maglev, source-hash). A change here
 * moves established connections to other backends.
 */
Test(flow_key, flow_hash6_and_source_hash6_never_change)
{
	static const struct {
		const char *src, *dst;
		uint16_t src_port, dst_port;
		uint8_t protocol;
		uint32_t flow_hash, source_hash;
	} pinned[] = {
		{ "2001:db8::1", "2001:db8:ffff::80", 40000, 443, 6, 0x077098e0u, 0x77fd368cu },
		{ "fe80::1", "2001:db8::53", 53, 53, 17, 0xb9c0533eu, 0x5f02092du },
		{ "::", "::", 0, 0, 0, 0xaad37768u, 0xfabc5089u },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2620:0:2d0:200::10", 65535, 1, 17,
		  0xfc34c4c2u, 0x57e38673u },
	};

	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		uint8_t src[16], dst[16];
		struct dplb_flow_key6 key;

		address6(src, pinned[i].src);
		address6(dst, pinned[i].dst);
		dplb_flow_key6_set(&key, src, dst, htons(pinned[i].src_port),
				   htons(pinned[i].dst_port), pinned[i].protocol);
		cr_expect_eq(dplb_flow_hash6(&key), pinned[i].flow_hash, "vector %zu", i);
		cr_expect_eq(dplb_source_hash6(src), pinned[i].source_hash, "vector %zu", i);
	}
}
