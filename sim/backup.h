/*
 * backup: the newest good backup of an asset, from pgBackRest's catalogue.
 *
 * Owns: running the inventory's `backup_info` command (argv, never a shell),
 * parsing what pgBackRest prints for `info --output=json` (an array of
 * stanzas, each with a `backup` array whose entries carry `label`, `type`
 * and `timestamp.start/stop` in epoch seconds, and `error` in newer
 * versions), picking the newest backup that did not end in error across all
 * stanzas, and the one-line "age at the drill" wording reports print.
 * Does not own: storing the result (store.c) or deciding when to ask
 * (runner.c). A backup whose `error` is absent counts as good: pgBackRest
 * before 2.36 did not record errors, and it never lists a failed backup
 * without setting it in later versions.
 */
#ifndef FAULTLINE_BACKUP_H
#define FAULTLINE_BACKUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct fl_backup_info {
	int64_t stop_wall_ns; /* end of the newest good backup, ns since epoch; 0: none */
	char type[16];        /* "full", "diff", "incr" */
	char label[128];      /* pgBackRest label, e.g. "20261124-061500F" */
	char stanza[128];
};

/* Parses pgBackRest `info --output=json` text (`name` is used in messages).
 * Returns 1 with *out filled when a good backup exists, 0 when the catalogue
 * holds none (*out zeroed), -1 with a one-line err (FL_EXIT_ENV) when the
 * text is not that format. */
int fl_backup_info_parse(const char *name, const char *text, struct fl_backup_info *out,
			 struct fl_error *err);

/* Runs argv (in cwd when non-NULL, killed after timeout_ns or when *stop is
 * set) and parses its standard output as above. A non-zero exit is an error
 * that quotes the command's last output line. Same returns. */
int fl_backup_info_run(const char *const *argv, const char *cwd, int64_t timeout_ns,
		       atomic_int *stop, struct fl_backup_info *out, struct fl_error *err);


#endif
