/*
 * Unit tests for dplb's value vocabulary (lib/common/values.c): what each
 * parser takes and what it refuses, with the reason it gives (prefixes
 * for allow and deny lists among them), and the
 * primes Maglev table sizes are checked against (exhaustively below 2^20
 * against a sieve, and at the top of the 32-bit range).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/values.h"

TestSuite(numbers, .timeout = 60);
TestSuite(addresses, .timeout = 60);
TestSuite(macs, .timeout = 60);
TestSuite(names, .timeout = 60);
TestSuite(primes, .timeout = 60);
TestSuite(prefixes, .timeout = 60);

static int unsigned_of(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	return dplb_parse_unsigned(text, strlen(text), min, max, out);
}

/* ---- numbers ------------------------------------------------------------ */

Test(numbers, strict_decimal_in_range)
{
	uint64_t v = 42;

	cr_assert_eq(unsigned_of("0", 0, 10, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(unsigned_of("007", 0, 10, &v), 0);
	cr_assert_eq(v, 7);
	cr_assert_eq(unsigned_of("65535", 1, 65535, &v), 0);
	cr_assert_eq(v, 65535);
	cr_assert_eq(unsigned_of("18446744073709551615", 0, UINT64_MAX, &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	/* Only len characters are read. */
	cr_assert_eq(dplb_parse_unsigned("80,81", 2, 0, 65535, &v), 0);
	cr_assert_eq(v, 80);
}

Test(numbers, not_a_number_or_out_of_range)
{
	static const char *const not_numbers[] = {
		"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1.0", "ten", "1\t",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++)
		cr_expect_eq(unsigned_of(not_numbers[i], 0, UINT64_MAX, &v), -EINVAL,
			     "\"%s\" taken", not_numbers[i]);
	cr_assert_eq(unsigned_of("0", 1, 65535, &v), -ERANGE);
	cr_assert_eq(unsigned_of("65536", 1, 65535, &v), -ERANGE);
	/* Too big for 64 bits saturates, never wraps into range. */
	cr_assert_eq(unsigned_of("18446744073709551616", 0, UINT64_MAX - 1, &v), -ERANGE);
	cr_assert_eq(unsigned_of("184467440737095516170", 0, 100, &v), -ERANGE);
	cr_assert_eq(unsigned_of("4294967296", 0, UINT32_MAX, &v), -ERANGE);
	cr_assert_eq(v, 42, "written on failure");
}

/* ---- IPv4 addresses ----------------------------------------------------- */

static const char *ipv4_of(const char *text, uint32_t *out)
{
	return dplb_parse_ipv4(text, strlen(text), out);
}

Test(addresses, dotted_quads_in_network_order)
{
	const uint8_t want[4] = { 10, 0, 1, 254 };
	uint32_t a = 0;

	cr_assert_null(ipv4_of("10.0.1.254", &a));
	cr_assert_eq(memcmp(&a, want, 4), 0);
	cr_assert_null(ipv4_of("255.255.255.255", &a));
	cr_assert_eq(a, UINT32_MAX);
	/* A piece of a longer value: "ADDRESS:PORT", "ADDRESS weight=2". */
	cr_assert_null(dplb_parse_ipv4("10.0.0.1:8080", 8, &a));
	cr_assert_eq(memcmp(&a, (uint8_t[]){ 10, 0, 0, 1 }, 4), 0);
}

Test(addresses, what_is_refused_and_why)
{
	static const char *const bad[] = {
		"",	      "10.0.0",		  "10.0.0.1.2",
		"10.0.0.256", "10.0.0.-1",	  " 10.0.0.1",
		"10.0.0.1 ",  "10.0.0.01x",	  "host.example",
		"::1",	      "10.000.000.0001.", "255.255.255.255255",
	};
	uint32_t a = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_str_eq(ipv4_of(bad[i], &a) ?: "(taken)",
				 "expected a dotted quad such as 10.0.0.1", "\"%s\"", bad[i]);
	/* A NUL inside a JSON string must not cut it to a good address. */
	cr_assert_not_null(dplb_parse_ipv4("10.0.0.1\0junk", 13, &a));
	cr_assert_str_eq(ipv4_of("0.0.0.0", &a), "0.0.0.0 is not a usable address");
	cr_assert_eq(a, 7, "written on failure");
	/* Where 0.0.0.0 means every address. */
	cr_assert_null(dplb_parse_ipv4_any("0.0.0.0", 7, &a));
	cr_assert_eq(a, 0);
	cr_assert_not_null(dplb_parse_ipv4_any("0.0.0", 5, &a));
}

static const char *ipv6_of(const char *text, uint8_t out[16])
{
	return dplb_parse_ipv6(text, strlen(text), out);
}

Test(addresses, ipv6_in_network_order)
{
	const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 1 };
	uint8_t a[16] = { 0 };

	cr_assert_null(ipv6_of("2001:db8::1", a));
	cr_assert_arr_eq(a, want, 16);
	cr_assert_null(ipv6_of("2001:0DB8:0:0:0:0:0:1", a));
	cr_assert_arr_eq(a, want, 16);
	cr_assert_null(ipv6_of("::ffff:10.0.0.1", a));
	cr_assert_arr_eq(a, mapped, 16);
	/* A piece of a longer value: "ADDRESS weight=2". */
	cr_assert_null(dplb_parse_ipv6("2001:db8::1 weight=2", 11, a));
	cr_assert_arr_eq(a, want, 16);
}

Test(addresses, ipv6_refused_and_why)
{
	static const char *const bad[] = {
		"",
		"2001:db8::1::2",
		"2001:db8::g",
		"[2001:db8::1]",
		"2001:db8::1/64",
		"fe80::1%eth0",
		"10.0.0.1",
		" 2001:db8::1",
		"2001:db8:0:0:0:0:0:0:1",
	};
	uint8_t a[16] = { 7 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_str_eq(ipv6_of(bad[i], a) ?: "(taken)",
				 "expected an IPv6 address such as 2001:db8::1", "\"%s\"", bad[i]);
	cr_assert_not_null(dplb_parse_ipv6("::1\0junk", 8, a));
	cr_assert_str_eq(ipv6_of("::", a), ":: is not a usable address");
	cr_assert_str_eq(ipv6_of("0:0::0", a), ":: is not a usable address");
	cr_assert_eq(a[0], 7, "written on failure");
}

Test(addresses, either_family)
{
	const uint8_t want6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	const uint8_t zero[16] = { 0 };
	uint8_t family = 0, v6[16];
	uint32_t v4 = 0;

	cr_assert_null(dplb_parse_ip("10.0.0.2", 8, &family, &v4, v6));
	cr_assert_eq(family, AF_INET);
	cr_assert_eq(memcmp(&v4, (uint8_t[]){ 10, 0, 0, 2 }, 4), 0);
	cr_assert_arr_eq(v6, zero, 16);
	cr_assert_null(dplb_parse_ip("2001:db8::2", 11, &family, &v4, v6));
	cr_assert_eq(family, AF_INET6);
	cr_assert_eq(v4, 0);
	cr_assert_arr_eq(v6, want6, 16);
	/* Each family's reason when it is plainly that family's. */
	cr_assert_str_eq(dplb_parse_ip("0.0.0.0", 7, &family, &v4, v6),
			 "0.0.0.0 is not a usable address");
	cr_assert_str_eq(dplb_parse_ip("::", 2, &family, &v4, v6), ":: is not a usable address");
	cr_assert_str_eq(dplb_parse_ip("2001:db8::x", 11, &family, &v4, v6),
			 "expected an IPv6 address such as 2001:db8::1");
	cr_assert_str_eq(dplb_parse_ip("10.0.0.1:80", 11, &family, &v4, v6),
			 "expected an IPv4 address such as 10.0.0.1 or an IPv6 address such as "
			 "2001:db8::1");
	cr_assert_str_eq(dplb_parse_ip("backend", 7, &family, &v4, v6),
			 "expected an IPv4 address such as 10.0.0.1 or an IPv6 address such as "
			 "2001:db8::1");
	cr_assert_eq(family, AF_INET6, "written on failure");
}

Test(addresses, formatted_either_family)
{
	const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab, [15] = 1 };
	char text[46];
	uint32_t v4;

	memcpy(&v4, (uint8_t[]){ 192, 0, 2, 7 }, 4);
	cr_assert_str_eq(dplb_format_ip(AF_INET, v4, v6, text), "192.0.2.7");
	cr_assert_str_eq(dplb_format_ip(AF_INET6, v4, v6, text), "2001:db8::ab01");
	cr_assert_str_eq(dplb_format_ip(AF_INET6, 0,
					(const uint8_t[16]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
							     0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
							     0xff, 0xff, 0xff, 0xff },
					text),
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	cr_assert_str_eq(dplb_format_ip(0, v4, v6, text), "?");
}

/* ---- MAC addresses ------------------------------------------------------ */

static const char *mac_of(const char *text, uint8_t mac[6])
{
	return dplb_parse_mac(text, strlen(text), mac);
}

Test(macs, either_case)
{
	const uint8_t want[6] = { 0x02, 0x00, 0x5e, 0xAB, 0xcd, 0xEF };
	uint8_t mac[6];

	cr_assert_null(mac_of("02:00:5e:ab:CD:eF", mac));
	cr_assert_eq(memcmp(mac, want, 6), 0);
	cr_assert_null(dplb_parse_mac("02:00:5e:ab:cd:ef weight=1", 17, mac));
	cr_assert_eq(memcmp(mac, want, 6), 0);
}

Test(macs, what_is_refused_and_why)
{
	static const char *const bad[] = {
		"",
		"02:00:00:00:00",
		"02:00:00:00:00:01:02",
		"02-00-00-00-00-01",
		"0200.0000.0001",
		"02:00:00:00:00:0g",
		"2:0:0:0:0:1",
		"02:00:00:00:00:1 ",
	};
	uint8_t mac[6] = { 9, 9, 9, 9, 9, 9 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_str_eq(mac_of(bad[i], mac) ?: "(taken)", "expected xx:xx:xx:xx:xx:xx",
				 "\"%s\"", bad[i]);
	cr_assert_str_eq(mac_of("ff:ff:ff:ff:ff:ff", mac),
			 "a multicast or broadcast MAC cannot be a next hop");
	cr_assert_str_eq(mac_of("01:00:5e:00:00:01", mac),
			 "a multicast or broadcast MAC cannot be a next hop");
	cr_assert_str_eq(mac_of("00:00:00:00:00:00", mac), "the all-zero MAC is not an address");
	cr_assert_eq(mac[0], 9, "written on failure");
}

Test(macs, hex_digits)
{
	const char *digits = "0123456789abcdefABCDEF";

	for (int i = 0; digits[i] != '\0'; i++)
		cr_expect_eq(dplb_hex_digit(digits[i]), i < 16 ? i : i - 6, "%c", digits[i]);
	cr_assert_eq(dplb_hex_digit('g'), -1);
	cr_assert_eq(dplb_hex_digit(':'), -1);
	cr_assert_eq(dplb_hex_digit('\0'), -1);
}

/* ---- names -------------------------------------------------------------- */

Test(names, span_of_allowed_characters)
{
	cr_assert_eq(dplb_name_span("web-1.prod_A", 12), 12);
	cr_assert_eq(dplb_name_span("web 1", 5), 3);
	cr_assert_eq(dplb_name_span("web/1", 5), 3);
	cr_assert_eq(dplb_name_span("\"web\"", 5), 0);
	cr_assert_eq(dplb_name_span("caf\xc3\xa9", 5), 3);
	cr_assert_eq(dplb_name_span("", 0), 0);
	/* Only len characters are looked at. */
	cr_assert_eq(dplb_name_span("web:80", 3), 3);
}

/* ---- primes ------------------------------------------------------------- */

Test(primes, known_values)
{
	static const uint32_t primes[] = {
		2,	3,	  5,	    7,		 65521,	      65537,
		655373, 16777213, 16777259, 2147483647u, 4294967279u, 4294967291u,
	};
	/* 4293001441 = 65521^2 and 4294836225 = (3*5*17*257)^2 probe the
	 * d * d <= m bound at the top of the range. */
	static const uint32_t composites[] = {
		0,	     1,		  4,	       9,	 15,
		65535,	     65536,	  65537u * 3u, 16777216, 65537u * 65521u,
		4293001441u, 4294836225u, 4294967295u,
	};
	size_t i;

	for (i = 0; i < sizeof(primes) / sizeof(primes[0]); i++)
		cr_expect(dplb_is_prime(primes[i]), "%u is prime", primes[i]);
	for (i = 0; i < sizeof(composites) / sizeof(composites[0]); i++)
		cr_expect(!dplb_is_prime(composites[i]), "%u is composite", composites[i]);
}

/* Every answer below 2^20 against a sieve of Eratosthenes. */
Test(primes, matches_sieve)
{
	const uint32_t limit = 1u << 20;
	uint8_t *composite = calloc(limit, 1);
	uint32_t i, j;

	cr_assert_not_null(composite);
	composite[0] = composite[1] = 1;
	for (i = 2; (uint64_t)i * i < limit; i++)
		if (!composite[i])
			for (j = i * i; j < limit; j += i)
				composite[j] = 1;
	for (i = 0; i < limit; i++)
		if (dplb_is_prime(i) != !composite[i])
			cr_assert_fail("dplb_is_prime(%u) = %d, sieve says %d", i, dplb_is_prime(i),
				       !composite[i]);
	free(composite);
}

Test(primes, next_prime)
{
	cr_assert_eq(dplb_next_prime(0), 2);
	cr_assert_eq(dplb_next_prime(2), 3);
	cr_assert_eq(dplb_next_prime(7), 11);
	cr_assert_eq(dplb_next_prime(65536), 65537);
	cr_assert_eq(dplb_next_prime(16777216), 16777259);
	cr_assert_eq(dplb_next_prime(4294967279u), 4294967291u);
	/* The largest 32-bit prime has no successor that fits. */
	cr_assert_eq(dplb_next_prime(4294967291u), 0);
	cr_assert_eq(dplb_next_prime(UINT32_MAX), 0);
}

/* ---- prefixes ----------------------------------------------------------- */

static const char *prefix_of(const char *text, struct dplb_prefix *p)
{
	return dplb_parse_prefix(text, strlen(text), p);
}

Test(prefixes, address_slash_length_or_one_address)
{
	static const struct {
		const char *text, *canonical;
		uint8_t length;
	} good[] = {
		{ "10.0.0.0/8", "10.0.0.0/8", 8 },
		{ "192.168.1.0/24", "192.168.1.0/24", 24 },
		{ "192.0.2.7", "192.0.2.7/32", 32 },
		{ "192.0.2.7/32", "192.0.2.7/32", 32 },
		{ "0.0.0.0/0", "0.0.0.0/0", 0 },
		{ "172.16.0.0/012", "172.16.0.0/12", 12 },
		/* IPv6, the family of an address with a colon. */
		{ "2001:db8::/32", "2001:db8::/32", 32 },
		{ "2001:DB8:0:0::/48", "2001:db8::/48", 48 },
		{ "2001:db8::1", "2001:db8::1/128", 128 },
		{ "2001:db8::1/128", "2001:db8::1/128", 128 },
		{ "::/0", "::/0", 0 },
		{ "::", "::/128", 128 },
		{ "2001:db8:1:2::/63", "2001:db8:1:2::/63", 63 },
		{ "2001:db8:8000::/33", "2001:db8:8000::/33", 33 },
		{ "fe80::/10", "fe80::/10", 10 },
		{ "::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", 104 },
		{ "2001:db8::/0064", "2001:db8::/64", 64 },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 128 },
	};
	char text[DPLB_PREFIX_TEXT_MAX];
	struct dplb_prefix p;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&p, 0xa5, sizeof(p));
		cr_assert_null(prefix_of(good[i].text, &p), "%s refused: %s", good[i].text,
			       prefix_of(good[i].text, &p));
		cr_expect_eq(p.family, strchr(good[i].text, ':') ? AF_INET6 : AF_INET, "%s",
			     good[i].text);
		cr_expect_eq(p.length, good[i].length, "%s", good[i].text);
		cr_expect_str_eq(dplb_format_prefix(&p, text), good[i].canonical);
	}
	/* Only len characters are read: a list's prefix is a piece of its line. */
	cr_assert_null(dplb_parse_prefix("10.1.0.0/16 10.2.0.0/16", 11, &p));
	cr_assert_str_eq(dplb_format_prefix(&p, text), "10.1.0.0/16");
	cr_assert_null(dplb_parse_prefix("2001:db8::/32,10.0.0.0/8", 13, &p));
	cr_assert_str_eq(dplb_format_prefix(&p, text), "2001:db8::/32");
}

Test(prefixes, what_is_refused_and_why)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "expected ADDRESS/LENGTH" },
		{ "10.0.0.0/", "prefix length must be 0..32" },
		{ "10.0.0.0/33", "prefix length must be 0..32" },
		{ "10.0.0.0/-1", "prefix length must be 0..32" },
		{ "10.0.0.0/8/8", "prefix length must be 0..32" },
		{ "10.0.0/8", "expected ADDRESS/LENGTH" },
		{ "ten/8", "expected ADDRESS/LENGTH" },
		{ " 10.0.0.0/8", "expected ADDRESS/LENGTH" },
		{ "10.1.2.3/8", "bits are set past the prefix length (the network is 10.0.0.0/8)" },
		{ "192.168.1.1/24", "(the network is 192.168.1.0/24)" },
		{ "2001:db8::/129", "prefix length must be 0..128" },
		{ "2001:db8::/", "prefix length must be 0..128" },
		{ "2001:db8::/-1", "prefix length must be 0..128" },
		{ "2001:db8::/32/32", "prefix length must be 0..128" },
		{ "2001:db8::1/32", "bits are set past the prefix length (the network is "
				    "2001:db8::/32)" },
		{ "2001:db8:1:3::/63", "(the network is 2001:db8:1:2::/63)" },
		{ "2001:db8:0:1::/63", "(the network is 2001:db8::/63)" },
		{ "::1/127", "(the network is ::/127)" },
		{ "2001:db8::g/64", "expected ADDRESS/LENGTH such as 2001:db8::/32" },
		{ "2001:db8:::1", "expected ADDRESS/LENGTH" },
		{ "[2001:db8::]/32", "expected ADDRESS/LENGTH" },
		{ "2001:db8::%eth0/32", "expected ADDRESS/LENGTH" },
		{ "10.0.0.1:80", "expected ADDRESS/LENGTH" },
	};
	struct dplb_prefix p = { .length = 99 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = prefix_of(bad[i].text, &p);

		cr_assert_not_null(why, "\"%s\" taken", bad[i].text);
		cr_expect_not_null(strstr(why, bad[i].why), "\"%s\": %s", bad[i].text, why);
	}
	cr_assert_eq(p.length, 99, "a refused prefix was written");
	/* A NUL inside (a JSON string may hold one) is no prefix. */
	cr_assert_not_null(dplb_parse_prefix("10.0.0.0\0/8", 11, &p));
}

Test(prefixes, order_is_by_length_then_address)
{
	struct dplb_prefix a, b;

	cr_assert_null(prefix_of("10.0.0.0/8", &a));
	cr_assert_null(prefix_of("9.0.0.0/8", &b));
	cr_assert_gt(dplb_prefix_compare(&a, &b), 0);
	cr_assert_null(prefix_of("9.0.0.0/16", &b));
	cr_assert_lt(dplb_prefix_compare(&a, &b), 0);
	cr_assert_null(prefix_of("10.0.0.0/8", &b));
	cr_assert_eq(dplb_prefix_compare(&a, &b), 0);
	/* 128.0.0.0 above 127.0.0.0: addresses compare as numbers. */
	cr_assert_null(prefix_of("128.0.0.0/8", &a));
	cr_assert_null(prefix_of("127.0.0.0/8", &b));
	cr_assert_gt(dplb_prefix_compare(&a, &b), 0);
}
