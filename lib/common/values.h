/*
 * dplb's value vocabulary: how a number, an IPv4 or IPv6 address, a MAC address and
 * a name are written wherever dplb reads one (the INI file, the HTTP API,
 * the tools' options), and which table sizes are prime. Defined once, so a
 * value the file takes is a value the API and the tools take.
 *
 * Parsers read exactly len characters (a value is often a piece of a longer
 * line), write *out only on success, and return NULL or why the text is not
 * such a value, for the caller to put in its own message. Pure C, no DPDK;
 * any thread.
 */
#ifndef DPLB_VALUES_H
#define DPLB_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Strict unsigned decimal within [min, max]: digits only, no sign, blank or
 * base prefix. Returns 0, -EINVAL when text is not digits (or is empty), or
 * -ERANGE when it is a number outside [min, max] (one too big for 64 bits
 * too: it never wraps).
 */
int dplb_parse_unsigned(const char *text, size_t len, uint64_t min, uint64_t max, uint64_t *out);

/*
 * A dotted quad such as 10.0.0.1, into *out in network order. 0.0.0.0 is
 * refused: everywhere in dplb an address of 0 means "not set". The _any
 * form takes it, for where it means every address (a listening socket).
 */
const char *dplb_parse_ipv4(const char *text, size_t len, uint32_t *out);
const char *dplb_parse_ipv4_any(const char *text, size_t len, uint32_t *out);

/*
 * An IPv6 address as inet_pton(3) reads it (2001:db8::1, ::ffff:10.0.0.1),
 * into out in network order; no zone (%eth0), no brackets, no prefix. ::
 * is refused, as 0.0.0.0 is: an address of all zeros means "not set".
 */
const char *dplb_parse_ipv6(const char *text, size_t len, uint8_t out[16]);

/*
 * An address of either family, for where both are taken (a VIP's, a
 * backend's): *family becomes AF_INET with *v4 set and v6 zeroed, or
 * AF_INET6 with v6 set and *v4 0. Refuses what the one-family parsers do;
 * the reason names both forms. Writes nothing on failure.
 */
const char *dplb_parse_ip(const char *text, size_t len, uint8_t *family, uint32_t *v4,
			  uint8_t v6[16]);

/* Whether the first length (0..128) bits of IPv6 addresses a and b are the
 * same: b is in a/length. */
bool dplb_ipv6_same_prefix(const uint8_t a[16], const uint8_t b[16], uint32_t length);

/*
 * The text of an address of family (AF_INET: v4, network order; AF_INET6:
 * v6, 16 bytes), as inet_ntop(3) writes it, into out of INET6_ADDRSTRLEN
 * (46) bytes. Returns out; "?" for another family.
 */
char *dplb_format_ip(uint8_t family, uint32_t v4, const uint8_t v6[16], char *out);

/*
 * xx:xx:xx:xx:xx:xx (hex digits in either case) naming one station: not
 * multicast or broadcast, not all zeros, as a frame's destination must be.
 */
const char *dplb_parse_mac(const char *text, size_t len, uint8_t mac[6]);

/*
 * An address prefix, as allow and deny lists hold them: IPv4 for an IPv4
 * VIP's, IPv6 for an IPv6 VIP's. Bits past length are zero, so the bytes
 * from the union's start are the network's in either family.
 */
struct dplb_prefix {
	union {
		uint32_t ipv4;	  /* network order */
		uint8_t ipv6[16]; /* network order */
	} address;
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t length; /* 0..32, or 0..128 for AF_INET6 */
};

/* Room for any prefix's text, NUL included ("ffff:...:ffff/128"). */
#define DPLB_PREFIX_TEXT_MAX 52

/*
 * ADDRESS/LENGTH (10.0.0.0/8, 2001:db8::/32), or an address alone for /32
 * (/128 for IPv6); the family is the address's. An address with bits set
 * past the length (10.1.2.3/8, 2001:db8::1/32) is refused rather than
 * truncated: in an allow or deny list, a typo must not widen or narrow
 * what it matches; the reason names the prefix that was probably meant.
 * 0.0.0.0/0 and ::/0 are every source. The reason may be written into a
 * buffer of the calling thread's, valid until its next call.
 */
const char *dplb_parse_prefix(const char *text, size_t len, struct dplb_prefix *out);

/* p as dplb_parse_prefix reads it back, always with its length
 * ("10.0.0.1/32"); out has DPLB_PREFIX_TEXT_MAX bytes. Returns out. */
char *dplb_format_prefix(const struct dplb_prefix *p, char *out);

/* Order of prefixes: by family, length, then address (bytes, as in
 * packets); 0 only for the same prefix. For qsort and bsearch. */
int dplb_prefix_compare(const void *a, const void *b);

/* The value of a hex digit, or -1 when c is none. */
int dplb_hex_digit(char c);

/*
 * Names (of VIPs) are made of these, which need no quoting in a URL path, a
 * log line, JSON or a Prometheus label: DPLB_NAME_CHARACTERS says which, for
 * messages. Returns how many leading characters of text are such (len when
 * all are), as strspn does.
 */
#define DPLB_NAME_CHARACTERS "A-Z a-z 0-9 _ . -"
size_t dplb_name_span(const char *text, size_t len);

/* Exact for every uint32_t (Maglev table sizes must be prime). */
bool dplb_is_prime(uint32_t n);
/* The smallest prime above n, or 0 when none fits 32 bits (n >= 4294967291). */
uint32_t dplb_next_prime(uint32_t n);

#endif
