/*
 * Well-formed UTF-8, as JSON (jansson) requires it: the test the HTTP
 * server puts a request's path and query through before anything can echo
 * them, and the repair of a message that echoes request input cut short.
 * DPDK-free; any thread.
 */
#ifndef DPLB_UTF8_H
#define DPLB_UTF8_H

#include <stddef.h>

/*
 * The length of the longest prefix of text[0, length) that is well-formed
 * UTF-8: no stray continuation byte, no overlong form, no surrogate, nothing
 * above U+10FFFF. A NUL byte is well-formed: look for it separately.
 */
size_t dplb_utf8_valid_prefix(const char *text, size_t length);

/* Replace each byte of text (NUL-terminated) that is not part of a
 * well-formed character by '?'. */
void dplb_utf8_repair(char *text);

#endif
