/*
 * The value vocabulary (see values.h): numbers, IPv4 addresses, MACs,
 * names and primes, as the INI loader, the HTTP API and the tools read
 * them.
 */
#include "common/values.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int dplb_parse_unsigned(const char *text, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		const uint64_t digit = (uint64_t)(text[i] - '0');

		/* Saturated, so a value too big fails the range check. */
		value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
	}
	if (value < min || value > max)
		return -ERANGE;
	*out = value;
	return 0;
}

static const char not_a_dotted_quad[] = "expected a dotted quad such as 10.0.0.1";
static const char not_an_address[] =
	"expected an IPv4 address such as 10.0.0.1 or an IPv6 address such as 2001:db8::1";
static const char not_ipv6[] = "expected an IPv6 address such as 2001:db8::1";

const char *dplb_parse_ipv4_any(const char *text, size_t len, uint32_t *out)
{
	char copy[INET_ADDRSTRLEN];
	struct in_addr a;

	/* A NUL inside (a JSON string may hold one) would end the copy early. */
	if (len >= sizeof(copy) || memchr(text, '\0', len) != NULL)
		return not_a_dotted_quad;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (inet_pton(AF_INET, copy, &a) != 1)
		return not_a_dotted_quad;
	*out = a.s_addr;
	return NULL;
}

const char *dplb_parse_ipv4(const char *text, size_t len, uint32_t *out)
{
	uint32_t address;
	const char *why = dplb_parse_ipv4_any(text, len, &address);

	if (why != NULL)
		return why;
	if (address == 0)
		return "0.0.0.0 is not a usable address";
	*out = address;
	return NULL;
}

const char *dplb_parse_ipv6(const char *text, size_t len, uint8_t out[16])
{
	static const uint8_t unspecified[16];
	char copy[INET6_ADDRSTRLEN];
	uint8_t a[16];

	if (len >= sizeof(copy) || memchr(text, '\0', len) != NULL)
		return not_ipv6;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (inet_pton(AF_INET6, copy, a) != 1)
		return not_ipv6;
	if (memcmp(a, unspecified, sizeof(a)) == 0)
		return ":: is not a usable address";
	memcpy(out, a, sizeof(a));
	return NULL;
}

const char *dplb_parse_ip(const char *text, size_t len, uint8_t *family, uint32_t *v4,
			  uint8_t v6[16])
{
	uint8_t a6[16];
	uint32_t a4;
	const char *why;

	/* A colon says IPv6 was meant, so its reason is the one given; but not
	 * for 10.0.0.1:80, which is neither (an IPv6 address with dots ends in
	 * a dotted quad, ::ffff:10.0.0.1). */
	if (memchr(text, ':', len) != NULL) {
		why = dplb_parse_ipv6(text, len, a6);
		if (why == not_ipv6 && memchr(text, '.', len) != NULL)
			return not_an_address;
		if (why != NULL)
			return why;
		*family = AF_INET6;
		*v4 = 0;
		memcpy(v6, a6, sizeof(a6));
		return NULL;
	}
	why = dplb_parse_ipv4(text, len, &a4);
	if (why != NULL)
		return why == not_a_dotted_quad ? not_an_address : why;
	*family = AF_INET;
	*v4 = a4;
	memset(v6, 0, 16);
	return NULL;
}

bool dplb_ipv6_same_prefix(const uint8_t a[16], const uint8_t b[16], uint32_t length)
{
	const uint32_t bytes = length / 8, bits = length % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	return bits == 0 || ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

char *dplb_format_ip(uint8_t family, uint32_t v4, const uint8_t v6[16], char *out)
{
	const void *address = family == AF_INET6 ? (const void *)v6 : (const void *)&v4;

	if ((family != AF_INET && family != AF_INET6) ||
	    inet_ntop(family, address, out, INET6_ADDRSTRLEN) == NULL)
		snprintf(out, INET6_ADDRSTRLEN, "?");
	return out;
}

/* Clear the bits of address (bytes long) past its first length: whether
 * any was set. */
static bool cut_to_length(uint8_t *address, size_t bytes, uint8_t length)
{
	bool was_set = false;

	for (size_t i = 0; i < bytes; i++) {
		const unsigned int kept = length >= 8 * (i + 1) ? 8
					  : length > 8 * i	? length - 8 * i
								: 0;
		const uint8_t mask = (uint8_t)(0xff00u >> kept);

		was_set |= (address[i] & ~mask) != 0;
		address[i] &= mask;
	}
	return was_set;
}

const char *dplb_parse_prefix(const char *text, size_t len, struct dplb_prefix *out)
{
	static __thread char reason[96 + DPLB_PREFIX_TEXT_MAX];
	const char *slash = memchr(text, '/', len);
	const size_t address_len = slash != NULL ? (size_t)(slash - text) : len;
	struct dplb_prefix p = { .family = AF_INET6, .length = 128 };
	char copy[INET6_ADDRSTRLEN];
	uint64_t length;

	/* A colon says IPv6 (as dplb_parse_ip reads it); :: is every source,
	 * as 0.0.0.0 is. */
	if (memchr(text, ':', address_len) != NULL) {
		if (address_len >= sizeof(copy) || memchr(text, '\0', address_len) != NULL)
			return "expected ADDRESS/LENGTH such as 2001:db8::/32, or one address";
		memcpy(copy, text, address_len);
		copy[address_len] = '\0';
		if (inet_pton(AF_INET6, copy, p.address.ipv6) != 1)
			return "expected ADDRESS/LENGTH such as 2001:db8::/32, or one address";
	} else {
		p = (struct dplb_prefix){ .family = AF_INET, .length = 32 };
		if (dplb_parse_ipv4_any(text, address_len, &p.address.ipv4) != NULL)
			return "expected ADDRESS/LENGTH such as 10.0.0.0/8 or 2001:db8::/32, or "
			       "one address";
	}
	if (slash != NULL) {
		if (dplb_parse_unsigned(slash + 1, len - address_len - 1, 0, p.length, &length) !=
		    0)
			return p.family == AF_INET ? "the prefix length must be 0..32"
						   : "the prefix length must be 0..128";
		p.length = (uint8_t)length;
	}
	if (cut_to_length((uint8_t *)&p.address, p.family == AF_INET ? 4 : 16, p.length)) {
		char meant[DPLB_PREFIX_TEXT_MAX];

		snprintf(reason, sizeof(reason),
			 "bits are set past the prefix length (the network "
			 "is %s)",
			 dplb_format_prefix(&p, meant));
		return reason;
	}
	*out = p;
	return NULL;
}

char *dplb_format_prefix(const struct dplb_prefix *p, char *out)
{
	char address[INET6_ADDRSTRLEN];

	if (inet_ntop(p->family, &p->address, address, sizeof(address)) == NULL)
		snprintf(address, sizeof(address), "?");
	snprintf(out, DPLB_PREFIX_TEXT_MAX, "%s/%u", address, p->length);
	return out;
}

int dplb_prefix_compare(const void *a, const void *b)
{
	const struct dplb_prefix *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->length != y->length)
		return x->length < y->length ? -1 : 1;
	return memcmp(&x->address, &y->address,
		      x->family == AF_INET ? sizeof(x->address.ipv4) : sizeof(x->address.ipv6));
}

int dplb_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

const char *dplb_parse_mac(const char *text, size_t len, uint8_t mac[6])
{
	uint8_t m[6];

	if (len != 17)
		return "expected xx:xx:xx:xx:xx:xx";
	for (int i = 0; i < 6; i++) {
		const int hi = dplb_hex_digit(text[i * 3]), lo = dplb_hex_digit(text[i * 3 + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':'))
			return "expected xx:xx:xx:xx:xx:xx";
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	/* It is written as a frame's destination: it must name one station. */
	if (m[0] & 1)
		return "a multicast or broadcast MAC cannot be a next hop";
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return "the all-zero MAC is not an address";
	memcpy(mac, m, 6);
	return NULL;
}

size_t dplb_name_span(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		const char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			break;
	}
	return i;
}

/*
 * Trial division by odd numbers up to sqrt(n): exact for every uint32_t and
 * at most ~32768 divisions, cheap enough for a configuration-time check.
 */
bool dplb_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	/* 64-bit d so d * d cannot wrap near UINT32_MAX. */
	for (uint64_t d = 3; d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

uint32_t dplb_next_prime(uint32_t n)
{
	while (n < UINT32_MAX)
		if (dplb_is_prime(++n))
			return n;
	return 0;
}
