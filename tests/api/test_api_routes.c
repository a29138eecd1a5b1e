/*
 * Unit tests for the API's replies (lib/api/api_routes.c) that need no
 * running context. An error quotes the request, which may be any bytes;
 * the reply must still carry a JSON body, or the server drops the
 * connection without an answer (found by fuzz/fuzz_api: GET /vips/1.@\x95.).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "api/api_routes.h"

TestSuite(api_errors, .timeout = 60);

static const char *error_of(unsigned int status, const char *name)
{
	static char text[512];
	struct api_reply reply = { 0 };

	dplb_api_error(&reply, status, "no VIP named \"%.64s\"", name);
	cr_assert_eq(reply.status, status);
	cr_assert_not_null(reply.json, "no JSON body for \"%s\"", name);
	cr_assert(json_is_string(json_object_get(reply.json, "error")));
	snprintf(text, sizeof(text), "%s", json_string_value(json_object_get(reply.json, "error")));
	json_decref(reply.json);
	return text;
}

Test(api_errors, quoting_invalid_utf8_still_answers)
{
	cr_assert_str_eq(error_of(404, "1.@\x95."), "no VIP named \"1.@?.\"");
	cr_assert_str_eq(error_of(404, "\xc3\x28"), "no VIP named \"?(\"");
	cr_assert_str_eq(error_of(400, "\xff\xfe"), "no VIP named \"??\"");
}

Test(api_errors, a_character_cut_by_the_quote_still_answers)
{
	char name[80];

	/* 63 bytes, then a 2-byte character that %.64s cuts in half. */
	memset(name, 'a', 63);
	strcpy(name + 63, "\xc3\xa9");
	const char *error = error_of(404, name);
	cr_assert_eq(error[strlen(error) - 2], '?', "%s", error);
}

Test(api_errors, valid_utf8_is_kept)
{
	cr_assert_str_eq(error_of(404, "caf\xc3\xa9"), "no VIP named \"caf\xc3\xa9\"");
}
