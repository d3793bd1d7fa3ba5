/*
 * clock_remote: the clock injector's look at a process and its timestamp
 * file on a host over ssh, in one round trip, and the writes there
 * (clock_remote.h). Each script is a constant of this file; the pidfile,
 * match, path and texts reach it only as quoted positional parameters
 * (sh -c SCRIPT sh ARG..., run by file_io's fl_fx_script through
 * core/ssh.c's quoting).
 *
 * Owns: the remote scripts and parsing their answer; the ELF check on a
 * buffer. Does not own: the refusals and the revert record (clock.c).
 */
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "injectors/clock_remote.h"
#include "injectors/injector.h"
#include "injectors/file_io.h"
#include "injectors/process_host.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/spawn.h"
#include "core/ssh.h"

#define CLOCK_ENVIRON_LIMIT (1 << 20)

/* $1 pidfile (or ""), $2 match. One line per fact, binary data as hex:
 * "stat LINE", "exe PATH", "elf HEX" (first 4 KiB), "faketime 0|1",
 * "environ HEX", "tsfile PATH", "file HEX|missing|notregular", "end"; or
 * "nopid WHAT", "count N", "gone PID" when there is no one process. The
 * match scan skips this shell and its parent, as process_host.c's does. */
static const char look_script[] =
	"pf=$1; m=$2; p=; "
	"if [ -n \"$pf\" ]; then "
	"p=$(cat -- \"$pf\" 2>&1) || { printf 'nopid %s\\n' \"$p\"; exit 0; }; "
	"else n=0; "
	"for d in /proc/[0-9]*; do q=${d#/proc/}; "
	"if [ \"$q\" = \"$$\" ] || [ \"$q\" = \"$PPID\" ]; then continue; fi; "
	"c=$(tr '\\000' ' ' <\"$d/cmdline\" 2>/dev/null) || continue; "
	"case $c in *\"$m\"*) n=$((n + 1)); p=$q;; esac; "
	"done; "
	"[ \"$n\" = 1 ] || { printf 'count %s\\n' \"$n\"; exit 0; }; "
	"fi; "
	"case $p in ''|*[!0-9]*) printf 'nopid %s\\n' \"$p\"; exit 0;; esac; "
	"s=$(cat \"/proc/$p/stat\" 2>/dev/null) || { printf 'gone %s\\n' \"$p\"; exit 0; }; "
	"printf 'stat %s\\n' \"$s\"; "
	"printf 'exe %s\\n' \"$(readlink \"/proc/$p/exe\")\"; "
	"x=$(od -An -v -tx1 -N 4096 \"/proc/$p/exe\") || exit 1; "
	"printf 'elf %s\\n' \"$(printf '%s' \"$x\" | tr -d ' \\n')\"; "
	"if grep -q /libfaketime \"/proc/$p/maps\"; then echo 'faketime 1'; "
	"else echo 'faketime 0'; fi; "
	"x=$(od -An -v -tx1 \"/proc/$p/environ\") || exit 1; "
	"printf 'environ %s\\n' \"$(printf '%s' \"$x\" | tr -d ' \\n')\"; "
	"t=$(tr '\\000' '\\n' <\"/proc/$p/environ\" | "
	"sed -n 's/^FAKETIME_TIMESTAMP_FILE=//p' | head -n 1); "
	"printf 'tsfile %s\\n' \"$t\"; "
	"case $t in /*) "
	"if [ -f \"$t\" ]; then x=$(od -An -v -tx1 -N 4097 -- \"$t\") || exit 1; "
	"printf 'file %s\\n' \"$(printf '%s' \"$x\" | tr -d ' \\n')\"; "
	"elif [ -e \"$t\" ] || [ -L \"$t\" ]; then echo 'file notregular'; "
	"else echo 'file missing'; fi;; "
	"esac; echo end";

/* $1 path, $2 put|restore|remove, $3 the text restore/remove expect; the
 * new text on stdin. Prints what it did (clock_remote.h). The compare keeps
 * trailing newlines (the "x" sentinel). */
static const char put_script[] =
	"f=$1; "
	"if [ \"$2\" != put ]; then "
	"if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then echo absent; exit 0; fi; "
	"c=$(cat -- \"$f\" && echo x) || exit 1; c=${c%x}; "
	"[ \"$c\" = \"$3\" ] || { echo changed; exit 0; }; "
	"if [ \"$2\" = remove ]; then rm -f -- \"$f\" || exit 1; echo removed; exit 0; fi; "
	"fi; "
	"t=\"$f.faultline.$$\"; "
	"{ cat >\"$t\" && sync -- \"$t\" && mv -f -- \"$t\" \"$f\"; } || { rm -f -- \"$t\"; exit 1; }; "
	"if [ \"$2\" = put ]; then echo written; else echo restored; fi";

int fl_clock_elf_dynamic(const unsigned char *p, size_t n)
{
	Elf64_Ehdr eh;

	if (n < sizeof(eh))
		return -1;
	memcpy(&eh, p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return -1;
	for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
		Elf64_Phdr ph;
		uint64_t off = eh.e_phoff + (uint64_t)i * sizeof(ph);
		if (off > n || n - off < sizeof(ph))
			return -1;
		memcpy(&ph, p + off, sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return 1;
	}
	return 0;
}

/* 1 when the ELF file at path is dynamically linked, 0 static, -1 when it
 * cannot be read as 64-bit ELF (fl_clock_elf_dynamic on its first 4 KiB). */
int fl_clock_elf_file(const char *path)
{
	unsigned char head[FL_CLOCK_ELF_HEAD];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = fl_file_pread(fd, head, sizeof(head), 0);
	close(fd);
	return n < 0 ? -1 : fl_clock_elf_dynamic(head, (size_t)n);
}

void fl_clock_seen_release(struct fl_clock_seen *s)
{
	fl_free(s->exe);
	fl_free(s->tsfile);
	fl_free(s->file);
	fl_buf_release(&s->env);
	s->exe = s->tsfile = s->file = NULL;
}

/* Hex text (NUL-terminated) into a new buffer of *n bytes, or NULL. */
static unsigned char *hex_value(const char *hex, size_t *n)
{
	json_t *j = json_string(hex);
	unsigned char *p = j ? fl_file_hex_decode(j, n) : NULL;
	json_decref(j);
	return p;
}

/* One "key value" line of the answer into s. 0, or -1 with err set. */
static int look_line(char *line, struct fl_clock_seen *s, const char *who, struct fl_error *err)
{
	char *v = strchr(line, ' ');
	unsigned char *bytes = NULL;
	size_t n = 0;
	struct fl_px_stat st;

	v = v ? (*v = '\0', v + 1) : line + strlen(line);
	if (strcmp(line, "stat") == 0) {
		if (fl_px_stat_parse(v, &st) < 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    "%s: unreadable /proc stat line: %.200s", who, v);
		if (st.state == 'Z' || st.state == 'X')
			return fl_error_set(err, FL_EXIT_ENV, "%s: pid %d is not running", who,
					    (int)st.pid);
		s->pid = st.pid;
		s->start = st.start;
	} else if (strcmp(line, "exe") == 0) {
		s->exe = fl_strdup(v);
	} else if (strcmp(line, "elf") == 0) {
		bytes = hex_value(v, &n);
		s->dynamic = bytes ? fl_clock_elf_dynamic(bytes, n) : -1;
	} else if (strcmp(line, "faketime") == 0) {
		s->faketime = strcmp(v, "1") == 0;
	} else if (strcmp(line, "environ") == 0) {
		bytes = hex_value(v, &n);
		if (!bytes || fl_buf_add(&s->env, bytes, n) < 0 || fl_buf_add(&s->env, "", 1) < 0) {
			fl_free(bytes);
			return fl_error_set(err, FL_EXIT_ENV, "%s: cannot read its environment", who);
		}
		s->env.len--; /* the NUL added to end a last entry */
	} else if (strcmp(line, "tsfile") == 0) {
		s->tsfile = fl_strdup(v);
	} else if (strcmp(line, "file") == 0) {
		if (strcmp(v, "missing") == 0) {
			s->absent = 1;
		} else if (strcmp(v, "notregular") == 0) {
			return fl_error_set(err, FL_EXIT_ENV, "%s: %s is not a regular file", who,
					    s->tsfile ? s->tsfile : "its timestamp file");
		} else {
			bytes = hex_value(v, &n);
			if (!bytes || n > FL_CLOCK_FILE_LIMIT || memchr(bytes, '\0', n)) {
				fl_free(bytes);
				return fl_error_set(err, FL_EXIT_ENV,
						    "%s: %s is not a timestamp file (over %d bytes, or binary)",
						    who, s->tsfile ? s->tsfile : "?",
						    FL_CLOCK_FILE_LIMIT);
			}
			s->file = fl_strndup((const char *)bytes, n);
		}
	}
	fl_free(bytes);
	return 0;
}

/* The answer's first line when there is no one process to look at. */
static int look_refusal(const char *line, const char *name, const char *pidfile, const char *match,
			const char *host, struct fl_error *err)
{
	if (strncmp(line, "nopid ", 6) == 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: %s on %s: no pid in it: %.200s", name,
				    pidfile ? pidfile : "pidfile", host, line + 6);
	if (strncmp(line, "count ", 6) == 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: %s processes match '%s' on %s (need exactly one)", name,
				    line + 6, match ? match : "", host);
	if (strncmp(line, "gone ", 5) == 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: pid %s on %s is not running", name,
				    line + 5, host);
	return 1;
}

int fl_clock_remote_look(const struct fl_ssh *h, const char *name, const char *pidfile,
			 const char *match, struct fl_clock_seen *s, struct fl_error *err)
{
	const char *args[] = { pidfile ? pidfile : "", match ? match : "", NULL };
	struct fl_buf out;
	char host[256], who[512], desc[64];
	char *line, *save = NULL;
	int status = 0, rc = -1, done = 0;

	memset(s, 0, sizeof(*s));
	fl_buf_init(&s->env, CLOCK_ENVIRON_LIMIT);
	fl_buf_init(&out, 4 * CLOCK_ENVIRON_LIMIT);
	fl_ssh_name(h, host, sizeof(host));
	if (fl_fx_script(h, look_script, args, NULL, 0, 1, &out, &status, err) < 0)
		goto out;
	if (status == -1 || status != 0 || out.failed) {
		fl_error_set(err, FL_EXIT_ENV, "%s: looking at its process on host '%s' %s: %.200s",
			     name, host,
			     status == -1 ? "got no answer"
					  : fl_status_describe(status, desc, sizeof(desc)),
			     out.failed ? "answer too long" : out.buf);
		goto out;
	}
	if (look_refusal(out.buf, name, pidfile, match, host, err) <= 0)
		goto out;
	snprintf(who, sizeof(who), "%s on %s", name, host);
	for (line = strtok_r(out.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, "end") == 0) {
			done = 1;
			break;
		}
		if (look_line(line, s, who, err) < 0)
			goto out;
	}
	if (!done || !s->pid || !s->exe || !s->tsfile || s->env.failed) {
		fl_error_set(err, FL_EXIT_ENV, "%s: the answer from host '%s' is incomplete", name,
			     host);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		fl_clock_seen_release(s);
	fl_buf_release(&out);
	return rc;
}

int fl_clock_remote_put(const struct fl_ssh *h, const char *path, enum fl_clock_put how,
			const char *text, const char *expect, int attempts, const char **outcome,
			struct fl_error *err)
{
	static const char *const hows[] = { "put", "restore", "remove" };
	static const char *const said[] = { "written", "restored", "removed", "absent", "changed" };
	const char *args[] = { path, hows[how], expect ? expect : "", NULL };
	struct fl_buf out;
	char where[1024], desc[64];
	int status = 0, rc = -1;

	fl_buf_init(&out, 4096);
	fl_fx_where(h, path, where, sizeof(where));
	rc = fl_fx_script(h, put_script, args, how != FL_CLOCK_REMOVE ? text : NULL,
			  how != FL_CLOCK_REMOVE ? strlen(text) : 0, attempts, &out, &status, err);
	if (rc < 0)
		goto out;
	rc = -1;
	while (out.len && out.buf[out.len - 1] == '\n')
		out.buf[--out.len] = '\0';
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: write %s%s%.200s", where,
			     status == -1 ? "got no answer"
					  : fl_status_describe(status, desc, sizeof(desc)),
			     out.len ? ": " : "", out.buf);
		goto out;
	}
	for (size_t i = 0; i < FL_ARRAY_LEN(said); i++)
		if (strcmp(out.buf, said[i]) == 0) {
			if (outcome)
				*outcome = said[i];
			rc = 0;
		}
	if (rc < 0)
		fl_error_set(err, FL_EXIT_ENV, "%s: unexpected answer: %.200s", where, out.buf);
out:
	fl_buf_release(&out);
	return rc;
}

/* Revert on the record's host: the same rules, checked and applied there in
 * one command; an unreachable host is retried, then fails the revert
 * (revert_failed, `recover` tries again: docs/remote.md). */
int fl_clock_remote_revert(const json_t *revert, const struct fl_ssh *h, const char *file,
			   const char *written, const json_t *orig, struct fl_error *err)
{
	const char *did = NULL, *later = json_is_true(json_object_get(revert, "restart"))
						 ? " (the restarted process stays under libfaketime)"
						 : "";
	char where[1024];

	fl_fx_where(h, file, where, sizeof(where));
	if (fl_clock_remote_put(h, file, json_is_null(orig) ? FL_CLOCK_REMOVE : FL_CLOCK_RESTORE,
				json_is_null(orig) ? "" : json_string_value(orig), written,
				FL_FILE_REMOTE_ATTEMPTS, &did, err) < 0)
		return -1;
	if (strcmp(did, "removed") == 0)
		fl_injector_note(revert, "removed %s: real time again%s", where, later);
	else if (strcmp(did, "restored") == 0)
		fl_injector_note(revert, "restored %s to its original offset%s", where, later);
	else
		fl_injector_note(revert, "%s does not hold our offset (%s); left alone", where,
				 strcmp(did, "absent") == 0 ? "file absent" : "changed since");
	return 0;
}
