/*
 * doc: strict JSON loading with a position index and typed getters.
 *
 * Parsing is jansson's (duplicates rejected); the position of every key and
 * value comes from the index built right after (core/doc_index.c). Getters
 * mark the keys they read, so fl_doc_check_keys() can report the first key
 * nobody asked for, with a "did you mean" from the keys that were asked for.
 */
#include "core/doc.h"
#include "core/doc_index.h"
#include "core/expand.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOC_FILE_LIMIT ((size_t)4 << 20)

/* A key a getter asked for on an object, present or not: the candidates for
 * "did you mean" suggestions. */
struct doc_asked {
	const json_t *obj;
	char *key;
};

struct fl_doc {
	char *file;
	char *dir;
	json_t *root;
	struct fl_doc_index ix;
	struct doc_asked *asked;
	size_t nasked, aasked;
};


static struct fl_doc_pos *pos_find_pk(const struct fl_doc *doc, const json_t *parent,
				      const char *key, size_t index)
{
	return doc ? fl_doc_index_find(&doc->ix, parent, key, index) : NULL;
}

/* ---- loading ------------------------------------------------------------ */

static char *path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return fl_strdup(".");
	if (slash == path)
		return fl_strdup("/");
	return fl_strndup(path, (size_t)(slash - path));
}

void fl_doc_free(struct fl_doc *doc)
{
	if (!doc)
		return;
	json_decref(doc->root);
	for (size_t i = 0; i < doc->nasked; i++)
		fl_free(doc->asked[i].key);
	fl_free(doc->asked);
	fl_doc_index_release(&doc->ix);
	fl_free(doc->file);
	fl_free(doc->dir);
	fl_free(doc);
}

static struct fl_doc *doc_parse(const char *name, const char *text, size_t len, struct fl_error *err)
{
	struct fl_doc *doc = fl_calloc(1, sizeof(*doc));
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	if (!doc)
		goto oom;
	doc->file = fl_strdup(name);
	doc->dir = path_dir(name);
	if (!doc->file || !doc->dir)
		goto oom;
	if (len == 0 || strspn(text, " \t\r\n") == len) {
		fl_error_at(err, FL_EXIT_INPUT, name, 1, 1, "empty file: expected a JSON object");
		goto fail;
	}
	doc->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc->root) {
		/* jansson reports allocation failure as a parse error too, or
		 * (failing before its parser is set up) leaves jerr empty. */
		if (json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0')
			goto oom;
		fl_error_at(err, FL_EXIT_INPUT, name, jerr.line > 0 ? jerr.line : 1,
			    jerr.column > 0 ? jerr.column : 1, "%s", jerr.text);
		goto fail;
	}
	if (fl_doc_index_build(&doc->ix, doc->root, text, len) < 0)
		goto oom;
	if (!json_is_object(doc->root)) {
		fl_error_at(err, FL_EXIT_INPUT, name, doc->ix.pos[1].val_line,
			    doc->ix.pos[1].val_col, "expected a JSON object at the top level");
		goto fail;
	}
	return doc;
oom:
	fl_error_oom(err, "%s", name);
fail:
	fl_doc_free(doc);
	return NULL;
}

struct fl_doc *fl_doc_load_string(const char *name, const char *text, struct fl_error *err)
{
	return doc_parse(name, text, strlen(text), err);
}

struct fl_doc *fl_doc_load(const char *path, struct fl_error *err)
{
	struct fl_buf b;
	struct fl_doc *doc = NULL;
	fl_buf_init(&b, DOC_FILE_LIMIT + 1);
	if (fl_read_file(path, DOC_FILE_LIMIT, &b, err) < 0)
		goto out;
	doc = doc_parse(path, b.buf, b.len, err);
out:
	fl_buf_release(&b);
	return doc;
}

const char *fl_doc_file(const struct fl_doc *doc)
{
	return doc->file;
}

json_t *fl_doc_root(const struct fl_doc *doc)
{
	return doc->root;
}

const char *fl_doc_dir(const struct fl_doc *doc)
{
	return doc->dir;
}

/* A relative directory is anchored at the current directory only when asked:
 * a pidfile read later, from another working directory, needs an absolute
 * path; a file name shown in messages reads better as the user wrote it. */
int fl_doc_resolve_path(const struct fl_doc *doc, char **path, int absolute, struct fl_error *err)
{
	struct fl_buf b;
	const char *dir = doc->dir;
	if (!*path || (*path)[0] == '/')
		return 0;
	if (!absolute && strcmp(dir, ".") == 0)
		return 0;
	fl_buf_init(&b, 0);
	if (absolute && dir[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (cwd) {
			fl_buf_adds(&b, cwd);
			fl_buf_adds(&b, "/");
			free(cwd); /* allocated by libc, not through fl_malloc */
		}
	}
	if (strcmp(dir, ".") != 0) {
		fl_buf_adds(&b, dir);
		fl_buf_adds(&b, "/");
	}
	fl_buf_adds(&b, *path);
	if (b.failed) {
		fl_buf_release(&b);
		return fl_error_oom(err, "%s", doc->file);
	}
	fl_free(*path);
	*path = fl_buf_detach(&b);
	return 0;
}

/* ---- positions ------------------------------------------------------------ */

void fl_doc_pos_value(const struct fl_doc *doc, const json_t *value, int *line, int *col)
{
	const struct fl_doc_pos *p = doc ? fl_doc_index_find_value(&doc->ix, value) : NULL;
	*line = p ? p->val_line : 0;
	*col = p ? p->val_col : 0;
}

void fl_doc_pos_key(const struct fl_doc *doc, const json_t *obj, const char *key, int *line, int *col)
{
	const struct fl_doc_pos *p = pos_find_pk(doc, obj, key, 0);
	*line = p ? p->key_line : 0;
	*col = p ? p->key_col : 0;
}

void fl_doc_pos_index(const struct fl_doc *doc, const json_t *arr, size_t i, int *line, int *col)
{
	const struct fl_doc_pos *p = pos_find_pk(doc, arr, NULL, i);
	*line = p ? p->val_line : 0;
	*col = p ? p->val_col : 0;
}

/* Position of obj[key]'s value (works for singletons too). */
static void pos_member_value(const struct fl_doc *doc, const json_t *obj, const char *key,
			     int *line, int *col)
{
	const struct fl_doc_pos *p = pos_find_pk(doc, obj, key, 0);
	*line = p ? p->val_line : 0;
	*col = p ? p->val_col : 0;
}

static int doc_errorv_at(const struct fl_doc *doc, int line, int col, struct fl_error *err,
			 const char *fmt, va_list ap)
{
	char text[900];
	vsnprintf(text, sizeof(text), fmt, ap);
	return fl_error_at(err, FL_EXIT_INPUT, doc->file, line, col, "%s", text);
}

static int doc_error_at(const struct fl_doc *doc, int line, int col, struct fl_error *err,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int doc_error_at(const struct fl_doc *doc, int line, int col, struct fl_error *err,
			const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	doc_errorv_at(doc, line, col, err, fmt, ap);
	va_end(ap);
	return -1;
}

int fl_doc_error_value(const struct fl_doc *doc, const json_t *value, struct fl_error *err,
		       const char *fmt, ...)
{
	va_list ap;
	int line, col;
	fl_doc_pos_value(doc, value, &line, &col);
	va_start(ap, fmt);
	doc_errorv_at(doc, line, col, err, fmt, ap);
	va_end(ap);
	return -1;
}

int fl_doc_error_key(const struct fl_doc *doc, const json_t *obj, const char *key,
		     struct fl_error *err, const char *fmt, ...)
{
	va_list ap;
	int line, col;
	fl_doc_pos_key(doc, obj, key, &line, &col);
	if (line == 0)
		fl_doc_pos_value(doc, obj, &line, &col);
	va_start(ap, fmt);
	doc_errorv_at(doc, line, col, err, fmt, ap);
	va_end(ap);
	return -1;
}

int fl_doc_error_member(const struct fl_doc *doc, const json_t *obj, const char *key,
			struct fl_error *err, const char *fmt, ...)
{
	va_list ap;
	int line, col;
	pos_member_value(doc, obj, key, &line, &col);
	if (line == 0)
		fl_doc_pos_value(doc, obj, &line, &col);
	va_start(ap, fmt);
	doc_errorv_at(doc, line, col, err, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- known keys ------------------------------------------------------------ */

void fl_doc_mark(struct fl_doc *doc, json_t *obj, const char *key)
{
	struct fl_doc_pos *p = pos_find_pk(doc, obj, key, 0);
	if (p)
		p->marked = 1;
	/* Getters for one object run together: looking back a little catches
	 * repeats without making a large file quadratic. */
	for (size_t i = doc->nasked > 32 ? doc->nasked - 32 : 0; i < doc->nasked; i++)
		if (doc->asked[i].obj == obj && strcmp(doc->asked[i].key, key) == 0)
			return;
	/* Remembered only for suggestions: an allocation failure here just
	 * means a missing "did you mean", never a wrong answer (benign). */
	if (doc->nasked == doc->aasked) {
		size_t na = doc->aasked ? doc->aasked * 2 : 32;
		struct doc_asked *n;
		fl_alloc_benign_begin();
		n = fl_realloc(doc->asked, na * sizeof(*n));
		fl_alloc_benign_end();
		if (!n)
			return;
		doc->asked = n;
		doc->aasked = na;
	}
	fl_alloc_benign_begin();
	doc->asked[doc->nasked].key = fl_strdup(key);
	fl_alloc_benign_end();
	if (doc->asked[doc->nasked].key) {
		doc->asked[doc->nasked].obj = obj;
		doc->nasked++;
	}
}

/* Levenshtein distance, capped: anything above `cap` is reported as cap+1. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];
	if (la > 64 || lb > 64)
		return cap + 1;
	if ((la > lb ? la - lb : lb - la) > cap)
		return cap + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > cap ? cap + 1 : row[lb];
}

int fl_doc_check_keys(struct fl_doc *doc, json_t *obj, struct fl_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		const struct fl_doc_pos *p = pos_find_pk(doc, obj, key, 0);
		const char *best = NULL;
		size_t best_d = 3;
		if (p && p->marked)
			continue;
		for (size_t i = 0; i < doc->nasked; i++) {
			size_t d;
			if (doc->asked[i].obj != obj)
				continue;
			d = edit_distance(key, doc->asked[i].key, 2);
			/* "a" -> "b" is distance 1 but no typo worth suggesting */
			if (d < best_d && d < strlen(key)) {
				best = doc->asked[i].key;
				best_d = d;
			}
		}
		if (best)
			return fl_doc_error_key(doc, obj, key, err,
						"unknown key '%s' (did you mean '%s'?)", key, best);
		return fl_doc_error_key(doc, obj, key, err, "unknown key '%s'", key);
	}
	return 0;
}

/* ---- typed getters ------------------------------------------------------------ */

/* When a required key is missing, a present key that is one dropped, added
 * or swapped character away is almost surely a typo of it ("uurl", "nmae").
 * Substitutions are left out: "port" is not a typo of "host". */
static const char *likely_typo(const struct fl_doc *doc, json_t *obj, const char *want)
{
	const char *key;
	json_t *v;
	size_t lw = strlen(want);
	json_object_foreach(obj, key, v) {
		const struct fl_doc_pos *p = pos_find_pk(doc, obj, key, 0);
		size_t lk = strlen(key), i = 0;
		if (p && p->marked)
			continue;
		if ((lk + 1 == lw || lk == lw + 1) && lw > 2 && edit_distance(key, want, 1) == 1)
			return key;
		if (lk == lw && lw > 2) {
			while (i < lk && key[i] == want[i])
				i++;
			if (i + 1 < lk && key[i] == want[i + 1] && key[i + 1] == want[i] &&
			    strcmp(key + i + 2, want + i + 2) == 0)
				return key;
		}
	}
	return NULL;
}

/* Looks up obj[key], marking it. Returns 1 found, 0 absent (-1 when required,
 * with "missing key" at obj). */
static int getter_lookup(struct fl_doc *doc, json_t *obj, const char *key, int required,
			 json_t **out, struct fl_error *err)
{
	json_t *v;
	fl_doc_mark(doc, obj, key);
	v = json_object_get(obj, key);
	if (!v) {
		const char *typo = required ? likely_typo(doc, obj, key) : NULL;
		if (typo)
			return fl_doc_error_key(doc, obj, typo, err,
						"unknown key '%s' (did you mean '%s'?)", typo, key);
		if (required)
			return fl_doc_error_value(doc, obj, err, "missing key '%s'", key);
		return 0;
	}
	*out = v;
	return 1;
}

static int type_error(struct fl_doc *doc, json_t *obj, const char *key, struct fl_error *err,
		      const char *what)
{
	int line, col;
	pos_member_value(doc, obj, key, &line, &col);
	return doc_error_at(doc, line, col, err, "'%s': expected %s", key, what);
}

/* Expands ${NAME} from the environment and $$ to $ (core/expand.h), with
 * errors placed at line:col of this file. */
static int expand_env(struct fl_doc *doc, int line, int col, const char *s, char **out,
		      struct fl_error *err)
{
	char name[256];
	switch (fl_expand(s, NULL, out, name, sizeof(name))) {
	case FL_EXPAND_OK: return 0;
	case FL_EXPAND_UNTERMINATED:
		return doc_error_at(doc, line, col, err,
				    "unterminated '${' (write '$$' for a literal '$')");
	case FL_EXPAND_BAD_NAME:
		return doc_error_at(doc, line, col, err, "bad environment variable name '${%s}'",
				    name);
	case FL_EXPAND_UNSET:
		return doc_error_at(doc, line, col, err, "environment variable '%s' is not set",
				    name);
	case FL_EXPAND_OOM: break;
	}
	return fl_error_oom(err, "%s", doc->file);
}

int fl_doc_string(struct fl_doc *doc, json_t *obj, const char *key, int required, char **out,
		  struct fl_error *err)
{
	json_t *v = NULL;
	int line, col, r = getter_lookup(doc, obj, key, required, &v, err);
	char *s;
	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return type_error(doc, obj, key, err, "a string");
	pos_member_value(doc, obj, key, &line, &col);
	if (expand_env(doc, line, col, json_string_value(v), &s, err) < 0)
		return -1;
	fl_free(*out);
	*out = s;
	return 1;
}

static void describe_range(char *buf, size_t n, long min, long max)
{
	if (min == LONG_MIN && max == LONG_MAX)
		snprintf(buf, n, "an integer");
	else if (max == LONG_MAX)
		snprintf(buf, n, "an integer >= %ld", min);
	else if (min == LONG_MIN)
		snprintf(buf, n, "an integer <= %ld", max);
	else
		snprintf(buf, n, "an integer from %ld to %ld", min, max);
}

int fl_doc_int(struct fl_doc *doc, json_t *obj, const char *key, int required, long min, long max,
	       long *out, struct fl_error *err)
{
	json_t *v = NULL;
	int r = getter_lookup(doc, obj, key, required, &v, err);
	json_int_t i;
	char what[96];
	if (r <= 0)
		return r;
	describe_range(what, sizeof(what), min, max);
	if (!json_is_integer(v))
		return type_error(doc, obj, key, err, what);
	i = json_integer_value(v);
	if (i < (json_int_t)min || i > (json_int_t)max)
		return type_error(doc, obj, key, err, what);
	*out = (long)i;
	return 1;
}

int fl_doc_bool(struct fl_doc *doc, json_t *obj, const char *key, int required, int *out,
		struct fl_error *err)
{
	json_t *v = NULL;
	int r = getter_lookup(doc, obj, key, required, &v, err);
	if (r <= 0)
		return r;
	if (!json_is_boolean(v))
		return type_error(doc, obj, key, err, "true or false");
	*out = json_is_true(v);
	return 1;
}

int fl_doc_duration(struct fl_doc *doc, json_t *obj, const char *key, int required, int64_t *ns_out,
		    struct fl_error *err)
{
	json_t *v = NULL;
	int r = getter_lookup(doc, obj, key, required, &v, err);
	int64_t ns;
	if (r <= 0)
		return r;
	if (json_is_string(v) && json_string_value(v)[0] == '-') {
		int line, col;
		pos_member_value(doc, obj, key, &line, &col);
		return doc_error_at(doc, line, col, err, "'%s': must not be negative", key);
	}
	if (!json_is_string(v) || fl_duration_parse(json_string_value(v), &ns) < 0)
		return type_error(doc, obj, key, err, "a duration like \"250ms\", \"30s\" or \"5m\"");
	*ns_out = ns;
	return 1;
}

int fl_doc_strv(struct fl_doc *doc, json_t *obj, const char *key, int required, char ***out,
		struct fl_error *err)
{
	json_t *v = NULL, *e;
	int r = getter_lookup(doc, obj, key, required, &v, err);
	char **vec = NULL;
	size_t i;
	if (r <= 0)
		return r;
	if (!json_is_array(v))
		return type_error(doc, obj, key, err, "an array of strings");
	vec = fl_calloc(json_array_size(v) + 1, sizeof(*vec));
	if (!vec)
		return fl_error_oom(err, "%s", doc->file);
	json_array_foreach(v, i, e) {
		int line, col;
		fl_doc_pos_index(doc, v, i, &line, &col);
		if (!json_is_string(e)) {
			doc_error_at(doc, line, col, err, "'%s': expected an array of strings", key);
			goto fail;
		}
		if (expand_env(doc, line, col, json_string_value(e), &vec[i], err) < 0)
			goto fail;
	}
	fl_strv_free(*out);
	*out = vec;
	return 1;
fail:
	fl_strv_free(vec);
	return -1;
}

json_t *fl_doc_object(struct fl_doc *doc, json_t *obj, const char *key, int required,
		      struct fl_error *err)
{
	json_t *v = NULL;
	if (getter_lookup(doc, obj, key, required, &v, err) <= 0)
		return NULL;
	if (!json_is_object(v)) {
		type_error(doc, obj, key, err, "an object");
		return NULL;
	}
	return v;
}

json_t *fl_doc_array(struct fl_doc *doc, json_t *obj, const char *key, int required,
		     struct fl_error *err)
{
	json_t *v = NULL;
	if (getter_lookup(doc, obj, key, required, &v, err) <= 0)
		return NULL;
	if (!json_is_array(v)) {
		type_error(doc, obj, key, err, "an array");
		return NULL;
	}
	return v;
}

/* ---- string vectors ------------------------------------------------------------ */

void fl_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		fl_free(*p);
	fl_free(v);
}

size_t fl_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **fl_strv_dup(char *const *v)
{
	size_t n = fl_strv_len(v);
	char **d;
	if (!v)
		return NULL;
	d = fl_calloc(n + 1, sizeof(*d));
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		d[i] = fl_strdup(v[i]);
		if (!d[i]) {
			fl_strv_free(d);
			return NULL;
		}
	}
	return d;
}

json_t *fl_strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && v && v[i]; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

const char **fl_json_to_argv(const json_t *arr, size_t *bad)
{
	size_t n = json_array_size(arr);
	const char **argv;
	if (n == 0) {
		*bad = (size_t)-1;
		return NULL;
	}
	argv = fl_calloc(n + 1, sizeof(*argv));
	if (!argv) {
		*bad = (size_t)-2;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		argv[i] = json_string_value(json_array_get(arr, i));
		if (!argv[i]) {
			fl_free(argv);
			*bad = i;
			return NULL;
		}
	}
	return argv;
}

int fl_doc_secret_names(struct fl_doc *doc, json_t *obj, char ***out, struct fl_error *err)
{
	json_t *arr = json_object_get(obj, "secrets"), *e;
	size_t i;
	if (fl_doc_strv(doc, obj, "secrets", 0, out, err) < 0)
		return -1;
	json_array_foreach(arr, i, e) {
		const char *n = json_string_value(e);
		int ok = n && (isalpha((unsigned char)n[0]) || n[0] == '_');
		for (const char *p = n; ok && *p; p++)
			ok = isalnum((unsigned char)*p) || *p == '_';
		if (!ok) {
			int line, col;
			fl_doc_pos_value(doc, e, &line, &col);
			return doc_error_at(doc, line, col, err,
					    "'secrets': expected environment variable names like \"DB_PASSWORD\", not \"%s\"",
					    n ? n : "");
		}
	}
	return 0;
}
