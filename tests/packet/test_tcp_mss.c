/*
 * Unit tests for TCP MSS clamping (lib/packet/tcp_mss.h) and the RFC 1624
 * checksum update under it (lib/packet/checksum.h).
 *
 * Every segment is given a correct checksum first (pseudo-header included,
 * summed here from scratch), so "the checksum is still right" is checked by
 * summing the whole segment again after the clamp, never by comparing with
 * a value computed the same way as the code under test. Malformed option
 * lists must come back byte for byte; thousands of random option lists
 * check that nothing beyond the MSS value and the checksum is ever written.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "packet/checksum.h"
#include "packet/tcp_mss.h"

TestSuite(tcp_mss, .timeout = 60);
TestSuite(checksum, .timeout = 60);

#define SEGMENT_MAX (DPLB_TCP_HEADER_MAX + 16)

struct segment {
	uint8_t bytes[SEGMENT_MAX];
	uint32_t header_len; /* 20..60 */
	uint32_t len;	     /* header and payload */
};

static uint32_t sum_bytes(const uint8_t *p, uint32_t len, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The ones' complement sum of the pseudo-header (192.0.2.1 -> 10.0.0.100,
 * TCP) and the segment: 0xffff when the checksum is right. */
static uint16_t segment_sum(const struct segment *s)
{
	static const uint8_t addresses[] = { 192, 0, 2, 1, 10, 0, 0, 100 };
	uint32_t sum = sum_bytes(addresses, sizeof(addresses), 0) + 6 + s->len;

	return fold(sum_bytes(s->bytes, s->len, sum));
}

static void set_checksum(struct segment *s)
{
	s->bytes[16] = s->bytes[17] = 0;
	const uint16_t c = (uint16_t)~segment_sum(s);

	s->bytes[16] = (uint8_t)(c >> 8);
	s->bytes[17] = (uint8_t)c;
	cr_assert_eq(segment_sum(s), 0xffff);
}

/* A SYN from port 40000 to 80 with these option bytes (padded with EOL to
 * a multiple of 4) and a few bytes of payload, checksummed. */
static struct segment syn(const uint8_t *options, uint32_t options_len)
{
	struct segment s;

	cr_assert_leq(options_len, 40);
	memset(&s, 0, sizeof(s));
	s.header_len = DPLB_TCP_HEADER_MIN + (options_len + 3) / 4 * 4;
	s.len = s.header_len + 5;
	s.bytes[0] = 40000 >> 8, s.bytes[1] = 40000 & 0xff;
	s.bytes[3] = 80;
	s.bytes[4] = 0x12, s.bytes[7] = 0x34; /* sequence number */
	s.bytes[12] = (uint8_t)(s.header_len / 4 << 4);
	s.bytes[13] = 0x02; /* SYN */
	s.bytes[14] = 0xfa, s.bytes[15] = 0xf0;
	if (options_len > 0)
		memcpy(s.bytes + DPLB_TCP_HEADER_MIN, options, options_len);
	memcpy(s.bytes + s.header_len, "hello", 5);
	set_checksum(&s);
	return s;
}

static uint16_t mss_at(const struct segment *s, uint32_t at)
{
	return (uint16_t)(s->bytes[at] << 8 | s->bytes[at + 1]);
}

/* Clamping s to clamp changes only the 2 bytes at at and the checksum,
 * to clamp and a checksum that is right. */
static void expect_clamped(struct segment s, uint32_t at, uint16_t clamp)
{
	const struct segment before = s;

	cr_assert_eq(dplb_tcp_mss_offset(s.bytes, s.header_len), at);
	cr_assert(dplb_tcp_clamp_mss(s.bytes, s.header_len, clamp));
	cr_assert_eq(mss_at(&s, at), clamp);
	cr_assert_eq(segment_sum(&s), 0xffff, "TCP checksum after the clamp");
	for (uint32_t i = 0; i < SEGMENT_MAX; i++)
		if (i != at && i != at + 1 && i != 16 && i != 17)
			cr_assert_eq(s.bytes[i], before.bytes[i], "byte %u changed", i);
}

static void expect_untouched(struct segment s, uint16_t clamp)
{
	const struct segment before = s;

	cr_assert_not(dplb_tcp_clamp_mss(s.bytes, s.header_len, clamp));
	cr_assert_eq(memcmp(&s, &before, sizeof(s)), 0, "the header was changed");
}

Test(tcp_mss, an_mss_above_the_clamp_is_lowered_with_a_right_checksum)
{
	static const uint8_t options[] = { 2, 4, 0x05, 0xb4 }; /* MSS 1460 */

	expect_clamped(syn(options, sizeof(options)), 22, 1400);
}

Test(tcp_mss, linux_syn_options_are_walked_to_the_mss)
{
	/* What Linux sends: MSS, SACK permitted, timestamps, NOP, window scale. */
	static const uint8_t options[] = { 2,	 4,    0x05, 0xb4, 4, 2, 8, 10, 0, 0,
					   0x12, 0x34, 0,    0,	   0, 0, 1, 3,	3, 7 };
	static const uint8_t mss_last[] = {
		4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7, 2, 4, 0x23, 0x28
	}; /* MSS 9000 */

	expect_clamped(syn(options, sizeof(options)), 22, 1400);
	expect_clamped(syn(mss_last, sizeof(mss_last)), 38, 8960);
}

Test(tcp_mss, an_mss_at_an_odd_offset_keeps_the_checksum_right)
{
	/* Its value straddles two of the checksum's 16-bit words. */
	static const uint8_t one_nop[] = { 1, 2, 4, 0x05, 0xb4 };
	static const uint8_t three_nops[] = { 1, 1, 1, 2, 4, 0xff, 0xff };

	expect_clamped(syn(one_nop, sizeof(one_nop)), 23, 1400);
	expect_clamped(syn(three_nops, sizeof(three_nops)), 25, 536);
}

Test(tcp_mss, an_mss_at_or_below_the_clamp_is_untouched)
{
	static const uint8_t mss_1300[] = { 2, 4, 0x05, 0x14 };
	static const uint8_t mss_1400[] = { 2, 4, 0x05, 0x78 };

	expect_untouched(syn(mss_1300, sizeof(mss_1300)), 1400);
	expect_untouched(syn(mss_1400, sizeof(mss_1400)), 1400);
}

Test(tcp_mss, a_header_without_an_mss_is_untouched)
{
	static const uint8_t no_mss[] = { 1, 1, 4, 2, 1, 3, 3, 7 };
	/* An MSS after the end of the list is padding, not an option. */
	static const uint8_t after_end[] = { 0, 0, 0, 0, 2, 4, 0x05, 0xb4 };

	expect_untouched(syn(NULL, 0), 1400);
	expect_untouched(syn(no_mss, sizeof(no_mss)), 1400);
	expect_untouched(syn(after_end, sizeof(after_end)), 1400);
	cr_assert_eq(dplb_tcp_mss_offset(syn(after_end, sizeof(after_end)).bytes, 28), 0);
}

Test(tcp_mss, a_malformed_option_list_is_untouched)
{
	static const struct {
		const char *what;
		uint8_t options[12];
		uint32_t len;
	} cases[] = {
		{ "an option of length 0", { 8, 0, 2, 4, 0x05, 0xb4 }, 8 },
		{ "an option of length 1", { 8, 1, 2, 4, 0x05, 0xb4 }, 8 },
		{ "an option beyond the header", { 2, 4, 0x05, 0xb4, 8, 10, 0, 0 }, 8 },
		{ "an MSS of length 3", { 2, 3, 0x05, 0xb4 }, 4 },
		{ "an MSS of length 6", { 2, 6, 0x05, 0xb4, 0, 0, 0, 0 }, 8 },
		{ "an MSS beyond the header", { 1, 1, 2, 4 }, 4 },
		{ "two MSS options", { 2, 4, 0x05, 0xb4, 2, 4, 0x05, 0xb4 }, 8 },
		{ "a kind without its length", { 2, 4, 0x05, 0xb4, 1, 1, 1, 8 }, 8 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct segment s = syn(cases[c].options, cases[c].len);

		cr_assert_eq(dplb_tcp_mss_offset(s.bytes, s.header_len), 0, "%s", cases[c].what);
		expect_untouched(s, 1400);
	}
}

Test(tcp_mss, a_header_length_out_of_range_is_refused)
{
	struct segment s = syn((const uint8_t[]){ 2, 4, 0x05, 0xb4 }, 4);

	cr_assert_eq(dplb_tcp_mss_offset(s.bytes, 19), 0);
	cr_assert_eq(dplb_tcp_mss_offset(s.bytes, 64), 0);
	cr_assert_not(dplb_tcp_clamp_mss(s.bytes, 64, 1400));
	/* Cut before its option, the header has no MSS. */
	cr_assert_eq(dplb_tcp_mss_offset(s.bytes, 20), 0);
}

Test(tcp_mss, a_full_header_of_options_is_walked)
{
	uint8_t options[40];

	memset(options, 1, sizeof(options)); /* 36 NOPs, then the MSS */
	memcpy(options + 36, (const uint8_t[]){ 2, 4, 0x21, 0x98 }, 4);
	expect_clamped(syn(options, sizeof(options)), 58, 1400);
}

/* Fixed-seed PRNG, so that the random cases repeat on every machine. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

Test(tcp_mss, random_option_lists_are_clamped_right_or_left_alone)
{
	uint64_t seed = 11;
	uint32_t clamped = 0, left = 0;

	for (int round = 0; round < 200000; round++) {
		uint8_t options[40 + 10];
		const uint32_t len = (uint32_t)(splitmix64(&seed) % 41);

		/* Options of every kind, good and bad, until len is filled: lists
		 * of every shape, valid ones too, come up. */
		for (uint32_t i = 0; i < len;) {
			const uint64_t r = splitmix64(&seed);
			const uint8_t value[2] = { (uint8_t)(r >> 16), (uint8_t)(r >> 24) };

			switch (r % 10) {
			case 0:
			case 1:
			case 2:
				options[i++] = DPLB_TCP_OPTION_NOP;
				break;
			case 3:
			case 4:
				memcpy(options + i, (const uint8_t[]){ 2, 4, value[0], value[1] },
				       4);
				i += 4;
				break;
			case 5:
				memcpy(options + i, (const uint8_t[]){ 3, 3, value[0] }, 3);
				i += 3;
				break;
			case 6:
				memcpy(options + i,
				       (const uint8_t[]){ 8, 10, 1, 2, 3, 4, 5, 6, 7, 8 }, 10);
				i += 10;
				break;
			case 7:
				memcpy(options + i, (const uint8_t[]){ 4, 2 }, 2);
				i += 2;
				break;
			case 8:
				options[i++] = value[0]; /* any byte */
				break;
			default:
				options[i++] = r % 7 == 0 ? DPLB_TCP_OPTION_END : value[1] % 8;
				break;
			}
		}
		const struct segment s = syn(options, len);
		const uint32_t at = dplb_tcp_mss_offset(s.bytes, s.header_len);
		const uint16_t clamp = (uint16_t)(splitmix64(&seed) % 3000);

		cr_assert(at == 0 || (at >= 22 && at + 2 <= s.header_len), "offset %u", at);
		if (at != 0 && mss_at(&s, at) > clamp) {
			expect_clamped(s, at, clamp);
			clamped++;
		} else {
			expect_untouched(s, clamp);
			left++;
		}
	}
	/* Both ways were taken often. */
	cr_assert_gt(clamped, 1000);
	cr_assert_gt(left, 1000);
}

Test(checksum, an_adjusted_checksum_equals_one_summed_again)
{
	uint64_t seed = 5;

	for (int round = 0; round < 100000; round++) {
		uint8_t data[32];
		uint16_t checksum, changed;

		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (uint8_t)splitmix64(&seed);
		checksum = (uint16_t)~fold(sum_bytes(data, sizeof(data), 0));
		const size_t word = splitmix64(&seed) % (sizeof(data) / 2);
		const uint16_t old_word = (uint16_t)(data[2 * word] << 8 | data[2 * word + 1]);
		const uint16_t new_word = (uint16_t)splitmix64(&seed);

		data[2 * word] = (uint8_t)(new_word >> 8);
		data[2 * word + 1] = (uint8_t)new_word;
		changed = dplb_checksum_adjust(checksum, old_word, new_word);
		/* Both forms of zero are one number in ones' complement. */
		cr_assert_eq(fold((uint32_t)fold(sum_bytes(data, sizeof(data), 0)) + changed),
			     0xffff, "round %d", round);
	}
}
