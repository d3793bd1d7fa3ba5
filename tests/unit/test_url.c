/*
 * Unit tests for core/url.h: every URL that reaches a message loses its
 * credentials and its query string, and what cannot be parsed is not shown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/url.h"

static void test_redact(void **state)
{
	char b[FL_URL_REDACTED_MAX];
	(void)state;
	assert_string_equal(fl_url_redact("http://127.0.0.1:8080/health", b, sizeof(b)),
			    "http://127.0.0.1:8080/health");
	assert_string_equal(fl_url_redact("https://alice:s3cret@db.example:8443/x", b, sizeof(b)),
			    "https://redacted@db.example:8443/x");
	assert_string_equal(fl_url_redact("http://token@h/", b, sizeof(b)), "http://redacted@h/");
	assert_string_equal(fl_url_redact("http://h/p?api_key=s3cret&x=1#frag", b, sizeof(b)),
			    "http://h/p?redacted");
	assert_string_equal(fl_url_redact("http://u:p@[::1]:9093/a?b=c", b, sizeof(b)),
			    "http://redacted@[::1]:9093/a?redacted");
	/* nothing secret survives in any of them */
	assert_null(strstr(fl_url_redact("http://u:s3cret@h/?k=s3cret", b, sizeof(b)), "s3cret"));
	/* without a scheme: shown as written, or redacted like the others */
	assert_string_equal(fl_url_redact("127.0.0.1:9093", b, sizeof(b)), "127.0.0.1:9093");
	assert_null(strstr(fl_url_redact("u:s3cret@db:5432/x?k=s3cret", b, sizeof(b)), "s3cret"));
	/* libcurl cannot parse it: there is no telling where a secret would be */
	assert_string_equal(fl_url_redact("http://u:s3cret@h:99999/", b, sizeof(b)),
			    "(url not shown)");
	assert_string_equal(fl_url_redact("", b, sizeof(b)), "(url not shown)");
	assert_string_equal(fl_url_redact(NULL, b, sizeof(b)), "(none)");
	/* a small buffer cuts, never overflows */
	assert_string_equal(fl_url_redact("http://example.org/", b, 8), "http://");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
