/*
 * expand: ${NAME} expansion and the journal form (expand.h).
 */
#include "core/expand.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

int fl_expand_is_listed(char *const *list, const char *name)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], name) == 0)
			return 1;
	return 0;
}

static void name_copy(char *name, size_t namelen, const char *s, size_t n)
{
	if (!name || namelen == 0)
		return;
	if (n >= namelen)
		n = namelen - 1;
	memcpy(name, s, n);
	name[n] = '\0';
}

static int valid_name(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* Appends value, doubling '$' when escape is set. */
static void add_value(struct fl_buf *b, const char *value, int escape)
{
	if (!escape) {
		fl_buf_adds(b, value);
		return;
	}
	for (const char *p = value; *p; p++) {
		if (*p == '$')
			fl_buf_add(b, "$$", 2);
		else
			fl_buf_add(b, p, 1);
	}
}

/* One "${...}" at dollar; advances *s past it. */
static enum fl_expand_status expand_ref(struct fl_buf *b, const char *dollar, const char **s,
					char *const *keep, char *name, size_t namelen)
{
	const char *start = dollar + 2, *close = strchr(start, '}');
	char var[256];
	const char *val;
	size_t n;
	if (!close)
		return FL_EXPAND_UNTERMINATED;
	n = (size_t)(close - start);
	if (n >= sizeof(var) || !valid_name(start, n)) {
		name_copy(name, namelen, start, n < 64 ? n : 64);
		return FL_EXPAND_BAD_NAME;
	}
	memcpy(var, start, n);
	var[n] = '\0';
	*s = close + 1;
	if (keep && fl_expand_is_listed(keep, var)) {
		fl_buf_add(b, dollar, n + 3);
		return FL_EXPAND_OK;
	}
	val = getenv(var);
	if (!val) {
		name_copy(name, namelen, var, n);
		return FL_EXPAND_UNSET;
	}
	add_value(b, val, keep != NULL);
	return FL_EXPAND_OK;
}

enum fl_expand_status fl_expand(const char *s, char *const *keep, char **out, char *name,
				size_t namelen)
{
	struct fl_buf b;
	enum fl_expand_status st = FL_EXPAND_OK;
	fl_buf_init(&b, 0);
	while (*s && st == FL_EXPAND_OK) {
		const char *dollar = strchr(s, '$');
		if (!dollar) {
			fl_buf_adds(&b, s);
			break;
		}
		fl_buf_add(&b, s, (size_t)(dollar - s));
		if (dollar[1] == '$') {
			fl_buf_add(&b, keep ? "$$" : "$", keep ? 2 : 1);
			s = dollar + 2;
		} else if (dollar[1] == '{') {
			st = expand_ref(&b, dollar, &s, keep, name, namelen);
		} else {
			fl_buf_add(&b, "$", 1);
			s = dollar + 1;
		}
	}
	if (st == FL_EXPAND_OK) {
		char *r = b.failed ? NULL : fl_buf_detach(&b);
		if (!r)
			st = FL_EXPAND_OOM;
		else
			*out = r;
	}
	fl_buf_release(&b);
	return st;
}

char *fl_expand_escape(const char *value)
{
	struct fl_buf b;
	char *r;
	fl_buf_init(&b, 0);
	add_value(&b, value, 1);
	r = b.failed ? NULL : fl_buf_detach(&b);
	fl_buf_release(&b);
	return r;
}

/* The unset references of one string. */
static size_t missing_in(const char *s, struct fl_buf *names)
{
	size_t added = 0;
	while ((s = strchr(s, '$')) != NULL) {
		const char *start, *close;
		char var[256];
		size_t n;
		if (s[1] == '$') {
			s += 2;
			continue;
		}
		if (s[1] != '{' || !(close = strchr(s + 2, '}'))) {
			s++;
			continue;
		}
		start = s + 2;
		n = (size_t)(close - start);
		s = close + 1;
		if (n >= sizeof(var) || !valid_name(start, n))
			continue;
		memcpy(var, start, n);
		var[n] = '\0';
		if (getenv(var))
			continue;
		/* Each name once: look for it as a whole item in the list so far. */
		{
			const char *p = names->buf;
			int seen = 0;
			while ((p = strstr(p, var)) != NULL) {
				int left = p == names->buf || p[-1] == ' ';
				int right = p[n] == '\0' || p[n] == ',';
				if (left && right) {
					seen = 1;
					break;
				}
				p += n;
			}
			if (seen)
				continue;
		}
		fl_buf_addf(names, "%s%s", names->len ? ", " : "", var);
		added++;
	}
	return added;
}

size_t fl_expand_missing(const json_t *v, struct fl_buf *names)
{
	size_t added = 0, i;
	const char *key;
	json_t *e;
	if (json_is_string(v))
		return missing_in(json_string_value(v), names);
	if (json_is_array(v)) {
		json_array_foreach(FL_UNCONST(json_t *, v), i, e)
			added += fl_expand_missing(e, names);
	} else if (json_is_object(v)) {
		json_object_foreach(FL_UNCONST(json_t *, v), key, e)
			added += fl_expand_missing(e, names);
	}
	return added;
}
