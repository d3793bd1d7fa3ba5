/*
 * url: redaction of URLs for messages (core/url.h), through libcurl's URL
 * API so that what counts as userinfo or query is what libcurl sends.
 */
#include "core/url.h"

#include <curl/curl.h>
#include <stdio.h>

/* Parses url, trying a guessed scheme when it has none ("db:5432/x"), so
 * the secrets of a URL without scheme are found as well. */
static CURLU *url_parse(const char *url)
{
	CURLU *h = curl_url();
	if (!h)
		return NULL;
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK ||
	    curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME) ==
		    CURLUE_OK)
		return h;
	curl_url_cleanup(h);
	return NULL;
}

const char *fl_url_redact(const char *url, char *buf, size_t n)
{
	CURLU *h;
	char *user = NULL, *pass = NULL, *query = NULL, *frag = NULL, *out = NULL;
	int ok;

	if (!buf || n == 0)
		return "";
	if (!url) {
		snprintf(buf, n, "(none)");
		return buf;
	}
	h = url_parse(url);
	ok = h != NULL;
	if (ok) {
		/* Absent parts answer an error and leave the pointer NULL. */
		curl_url_get(h, CURLUPART_USER, &user, 0);
		curl_url_get(h, CURLUPART_PASSWORD, &pass, 0);
		curl_url_get(h, CURLUPART_QUERY, &query, 0);
		curl_url_get(h, CURLUPART_FRAGMENT, &frag, 0);
	}
	if (ok && !user && !pass && !query && !frag) {
		/* Nothing to hide: the URL as the user wrote it, not normalised. */
		snprintf(buf, n, "%s", url);
		goto out;
	}
	if (ok && (user || pass))
		ok = curl_url_set(h, CURLUPART_USER, "redacted", 0) == CURLUE_OK &&
		     curl_url_set(h, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK;
	if (ok && query)
		ok = curl_url_set(h, CURLUPART_QUERY, "redacted", 0) == CURLUE_OK;
	if (ok)
		ok = curl_url_set(h, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
		     curl_url_get(h, CURLUPART_URL, &out, 0) == CURLUE_OK;
	snprintf(buf, n, "%s", ok && out ? out : "(url not shown)");
out:
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_free(frag);
	curl_free(out);
	curl_url_cleanup(h);
	return buf;
}
