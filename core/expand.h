/*
 * expand: ${NAME} in file strings, and the journal form that keeps secrets.
 *
 * Owns: the expansion rule every loader uses (${NAME} from the process
 * environment, $$ for a literal $), the journal form of a string (every
 * variable expanded except the declared secrets, which stay referenced by
 * name, with literal dollars escaped so the text expands again to the same
 * value), and finding the references a journaled record still needs.
 * Does not own: positions in files (doc.h turns a status into
 * "file:line:col: ..."), or which names are secret (the environment's and
 * the scenario's "secrets" lists, docs/trust.md).
 *
 * Why a journal form: `faultline recover` must revert from the journal
 * alone, from any shell (cron, sudo, env -i), so the journal holds what the
 * revert needs expanded; a secret's value must never be written anywhere, so
 * only its name is journaled and recover checks it is set before reverting.
 */
#ifndef FAULTLINE_CORE_EXPAND_H
#define FAULTLINE_CORE_EXPAND_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"

enum fl_expand_status {
	FL_EXPAND_OK = 0,
	FL_EXPAND_UNTERMINATED, /* "${" with no "}" */
	FL_EXPAND_BAD_NAME,     /* not [A-Za-z_][A-Za-z0-9_]* (name holds what was written) */
	FL_EXPAND_UNSET,        /* the variable is not set (name holds it) */
	FL_EXPAND_OOM
};

/* Expands s into *out (new, fl_free). keep == NULL: the whole expansion
 * (what a command runs with). keep != NULL (NULL-terminated, may be empty):
 * the journal form — ${NAME} for NAME in keep is left as written, every
 * other variable is expanded with its '$' doubled, "$$" stays "$$". On a
 * status other than OK, *out is untouched and `name` (namelen bytes, may be
 * NULL) holds the offending variable name. */
enum fl_expand_status fl_expand(const char *s, char *const *keep, char **out, char *name,
				size_t namelen);

/* A new copy of a literal value with every '$' doubled, so that expanding
 * it gives the value back. NULL when out of memory. */
char *fl_expand_escape(const char *value);

/* Appends to `names` (", "-separated, each once) every ${NAME} referenced
 * by a string anywhere in v (objects and arrays walked) that is not set in
 * this process's environment. Returns how many were appended. */
size_t fl_expand_missing(const json_t *v, struct fl_buf *names);

/* 1 when name is in the NULL-terminated list (which may be NULL), else 0. */
int fl_expand_is_listed(char *const *list, const char *name);

#endif
