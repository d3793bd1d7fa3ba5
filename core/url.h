/*
 * url: URLs made fit for messages.
 *
 * Owns: the one redaction every URL goes through before it reaches a
 * message — stderr, run_failures, reports, --dry-run — because scenario and
 * environment URLs may carry credentials (http://user:token@host/) or
 * tokens in the query string (?api_key=...). Parsing is libcurl's (CURLU),
 * never ours. Does not own: the URLs themselves, which are used unredacted
 * for the requests.
 */
#ifndef FAULTLINE_URL_H
#define FAULTLINE_URL_H

#include <stddef.h>

/* Writes url into buf (size n, always terminated) with the user name and
 * password replaced by "redacted", the query string by "redacted" and the
 * fragment dropped: "http://redacted@db:8080/x?redacted". A URL libcurl
 * cannot parse is shown as "(url not shown)", since there is no telling
 * where its secrets are. A URL longer than the buffer is cut. NULL url:
 * "(none)". Returns buf. Allocates nothing of ours (CURLU only), so it is
 * safe on error paths. */
const char *fl_url_redact(const char *url, char *buf, size_t n);

/* A buffer large enough for most redacted URLs. */
#define FL_URL_REDACTED_MAX 512

#endif
