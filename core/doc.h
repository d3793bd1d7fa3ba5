/*
 * doc: a JSON file loaded strictly, with positions for semantic errors.
 *
 * Owns: reading a file, parsing it with jansson (JSON_REJECT_DUPLICATES),
 * turning syntax errors into "file:line:column: message", and an index from
 * every value (and every object key) to its line:column so that later
 * semantic errors (unknown key, wrong type, bad duration, unknown target) can
 * name the exact place. Also owns the small typed getters every loader uses:
 * each checks the type, reports "file:line:col: <key>: expected a string"
 * and friends, and marks the key as known so fl_doc_check_keys() can report
 * unknown ones. ${NAME} in strings is expanded from the process environment
 * by fl_doc_string() (an unset variable is an error at its position).
 * Does not own: what any key means (scenario.c, environment.c, inventory.c).
 */
#ifndef FAULTLINE_DOC_H
#define FAULTLINE_DOC_H

#include <jansson.h>
#include <stdint.h>

#include "core/error.h"

struct fl_doc;

/* Loads and parses path. Returns a new doc or NULL with err set
 * (FL_EXIT_INPUT). The root must be an object. */
struct fl_doc *fl_doc_load(const char *path, struct fl_error *err);
/* Same from a string; `name` is used as the file name in messages. */
struct fl_doc *fl_doc_load_string(const char *name, const char *text, struct fl_error *err);
void fl_doc_free(struct fl_doc *doc);

const char *fl_doc_file(const struct fl_doc *doc); /* borrowed */
json_t *fl_doc_root(const struct fl_doc *doc);     /* borrowed */
/* Directory of the file, for resolving relative paths ("." if none). Borrowed. */
const char *fl_doc_dir(const struct fl_doc *doc);

/* Resolves *path (a new string, may be NULL) written in this file: a relative
 * path is taken against the file's directory; with `absolute` the result is
 * also anchored at the current directory. Replaces *path; 0, or -1 with err
 * set (out of memory). */
int fl_doc_resolve_path(const struct fl_doc *doc, char **path, int absolute, struct fl_error *err);

/* Position of a value, or of `key` inside obj (the key's own position), or of
 * element i of an array. line/col are 0 when unknown. */
void fl_doc_pos_value(const struct fl_doc *doc, const json_t *value, int *line, int *col);
void fl_doc_pos_key(const struct fl_doc *doc, const json_t *obj, const char *key, int *line,
		    int *col);
void fl_doc_pos_index(const struct fl_doc *doc, const json_t *arr, size_t i, int *line, int *col);

/* Error at a value / key position: "file:line:col: message", FL_EXIT_INPUT. */
int fl_doc_error_value(const struct fl_doc *doc, const json_t *value, struct fl_error *err,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int fl_doc_error_key(const struct fl_doc *doc, const json_t *obj, const char *key,
		     struct fl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Error at the position of obj[key]'s value (also for true/false/null, which
 * fl_doc_error_value cannot place), or at obj when key is absent. */
int fl_doc_error_member(const struct fl_doc *doc, const json_t *obj, const char *key,
			struct fl_error *err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Typed getters. Each returns 0 when the key is absent and !required (out
 * left untouched), 1 when found and valid, -1 on error (err set at the value's
 * position, or at obj for a missing required key: "missing key 'name'"). */
int fl_doc_string(struct fl_doc *doc, json_t *obj, const char *key, int required,
		  char **out /* new string, fl_free */, struct fl_error *err);
int fl_doc_int(struct fl_doc *doc, json_t *obj, const char *key, int required, long min, long max,
	       long *out, struct fl_error *err);
int fl_doc_bool(struct fl_doc *doc, json_t *obj, const char *key, int required, int *out,
		struct fl_error *err);
int fl_doc_duration(struct fl_doc *doc, json_t *obj, const char *key, int required, int64_t *ns_out,
		    struct fl_error *err);
/* The optional "secrets" array of obj: names of environment variables whose
 * values are secret (kept out of the journal, docs/trust.md). Each must be a
 * variable name; *out is a new vector or stays NULL when absent. 0 or -1. */
int fl_doc_secret_names(struct fl_doc *doc, json_t *obj, char ***out, struct fl_error *err);
/* Array of strings -> NULL-terminated vector (new, free with fl_strv_free). */
int fl_doc_strv(struct fl_doc *doc, json_t *obj, const char *key, int required, char ***out,
		struct fl_error *err);
/* Object or array member access that also marks the key as known. Borrowed. */
json_t *fl_doc_object(struct fl_doc *doc, json_t *obj, const char *key, int required,
		      struct fl_error *err);
json_t *fl_doc_array(struct fl_doc *doc, json_t *obj, const char *key, int required,
		     struct fl_error *err);
/* Marks key as known without reading it (for keys another module reads). */
void fl_doc_mark(struct fl_doc *doc, json_t *obj, const char *key);
/* Reports the first key of obj that no getter marked: "unknown key 'x'". */
int fl_doc_check_keys(struct fl_doc *doc, json_t *obj, struct fl_error *err);

/* A string vector as a new JSON array (NULL on allocation failure; an empty
 * array for v == NULL). */
json_t *fl_strv_to_json(char *const *v);
/* The strings of a JSON array as a new NULL-terminated argv whose strings
 * are borrowed from arr (free only the array, with fl_free). Returns NULL
 * when arr is empty or not an array (*bad = (size_t)-1), when element i is
 * not a string (*bad = i), or on allocation failure (*bad = (size_t)-2). */
const char **fl_json_to_argv(const json_t *arr, size_t *bad);

void fl_strv_free(char **v);
size_t fl_strv_len(char *const *v);
char **fl_strv_dup(char *const *v);

#endif
