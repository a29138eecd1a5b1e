/*
 * Well-formed UTF-8 (RFC 3629), checked byte by byte: the rules jansson
 * applies to every string it is given, so that what passes here can always
 * be put into a JSON answer.
 */
#include <stdint.h>
#include <string.h>

#include "api/utf8.h"

/* The length of the well-formed character at s (length bytes left), or 0. */
static size_t character_length(const unsigned char *s, size_t length)
{
	/* The smallest code point that needs so many bytes: below is overlong. */
	static const uint32_t smallest[] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t code;
	size_t need;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2) /* a continuation byte, or an overlong 2-byte form */
		return 0;
	if (s[0] < 0xe0) {
		need = 2;
		code = s[0] & 0x1fu;
	} else if (s[0] < 0xf0) {
		need = 3;
		code = s[0] & 0x0fu;
	} else if (s[0] < 0xf5) {
		need = 4;
		code = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (length < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0u) != 0x80u)
			return 0;
		code = code << 6 | (s[i] & 0x3fu);
	}
	if (code < smallest[need] || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff)
		return 0;
	return need;
}

size_t dplb_utf8_valid_prefix(const char *text, size_t length)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t done = 0, n;

	while (done < length && (n = character_length(s + done, length - done)) != 0)
		done += n;
	return done;
}

void dplb_utf8_repair(char *text)
{
	const size_t length = strlen(text);
	size_t done = 0;

	while (done < length) {
		done += dplb_utf8_valid_prefix(text + done, length - done);
		if (done < length)
			text[done++] = '?';
	}
}
