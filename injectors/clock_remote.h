/*
 * clock_remote: what the clock injector (clock.c) sees of a process, here
 * or on a host over ssh (docs/remote.md), and how it writes the timestamp
 * file there.
 *
 * A remote look is ONE round trip: a fixed script (sh -c SCRIPT sh ARGS,
 * run through file_io's fl_fx_script, so quoted by core/ssh.c) resolves the
 * pid (pidfile or match), and sends back its stat line, its executable's
 * path and first 4 KiB, whether libfaketime is mapped, its environment and
 * the bytes of the timestamp file the environment names (or its absence).
 * Writes replace the file by temp file + rename on the host; revert's write
 * happens only while the file still holds what inject wrote, checked on the
 * host in the same command.
 *
 * Owns: the remote scripts, parsing their answer, the ELF check shared by
 * the local and remote look. Does not own: the refusals and the record
 * (clock.c).
 */
#ifndef FAULTLINE_CLOCK_REMOTE_H
#define FAULTLINE_CLOCK_REMOTE_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/ssh.h"

#define FL_CLOCK_FILE_LIMIT 4096 /* a timestamp file is one short line */
#define FL_CLOCK_ELF_HEAD 4096   /* ELF header and program headers */

/* What one look at the process found. */
struct fl_clock_seen {
	pid_t pid;
	unsigned long long start;
	char *exe;         /* path of its executable */
	int dynamic;       /* 1 dynamic, 0 static, -1 not readable as ELF */
	int faketime;      /* libfaketime mapped */
	struct fl_buf env; /* /proc/PID/environ, NUL-separated */
	char *tsfile;      /* remote only: FAKETIME_TIMESTAMP_FILE as the host read it */
	int absent;        /* remote only: the timestamp file does not exist */
	char *file;        /* remote only: its bytes (NUL-terminated) */
};

/* 1 when the ELF image starting with p[0..n) has a PT_INTERP or PT_DYNAMIC
 * program header, 0 when it has neither, -1 when it is not 64-bit ELF or
 * its program headers are not within p. */
int fl_clock_elf_dynamic(const unsigned char *p, size_t n);

/* fl_clock_elf_dynamic on the first 4 KiB of the file at path (here). */
int fl_clock_elf_file(const char *path);

/* The one round trip on h: fills s (fl_clock_seen_release) or -1 with err
 * naming the target and host. */
int fl_clock_remote_look(const struct fl_ssh *h, const char *name, const char *pidfile,
			 const char *match, struct fl_clock_seen *s, struct fl_error *err);
void fl_clock_seen_release(struct fl_clock_seen *s);

enum fl_clock_put { FL_CLOCK_PUT, FL_CLOCK_RESTORE, FL_CLOCK_REMOVE };

/* On h: PUT writes text into path; RESTORE writes text and REMOVE removes
 * path, both only while path holds expect exactly. *outcome (may be NULL):
 * "written", "restored", "removed", "absent" or "changed". 0, or -1 with
 * err set (an unreachable host after attempts: retried by the runner). */
int fl_clock_remote_put(const struct fl_ssh *h, const char *path, enum fl_clock_put how,
			const char *text, const char *expect, int attempts, const char **outcome,
			struct fl_error *err);

/* clock.c's revert on the record's host h: restore or remove file only
 * while it holds written, note what was done; unreachable: -1 after
 * FL_FILE_REMOTE_ATTEMPTS (the runner's revert_failed, docs/remote.md). */
int fl_clock_remote_revert(const json_t *revert, const struct fl_ssh *h, const char *file,
			   const char *written, const json_t *orig, struct fl_error *err);

#endif
