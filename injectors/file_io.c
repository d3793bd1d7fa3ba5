/*
 * file_io: where the file injector's bytes live and how they move — here
 * (pread/pwrite + fsync) or on a host over ssh (the whole file fetched into
 * a memfd, writes sent back through dd) — plus the hex encoding of saved
 * bytes in the revert record and the record's mode names.
 *
 * Owns: the local and remote I/O primitives and the fixed remote scripts for
 * fetching and writing a file. Does not own: what is captured, damaged or
 * restored (file.c, file_revert.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/file_io.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/ssh.h"

static const char *const file_mode_names[] = { "flip", "zero", "truncate", "delete" };

int fl_file_mode_parse(const char *s)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(file_mode_names); i++)
		if (s && strcmp(s, file_mode_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *fl_file_mode_name(enum fl_file_mode mode)
{
	return file_mode_names[mode];
}

/* ---- hex and whole-buffer I/O ------------------------------------------- */

json_t *fl_file_hex_encode(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = fl_malloc(2 * n + 1);
	json_t *j;
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * n] = '\0';
	j = json_stringn_nocheck(s, 2 * n);
	fl_free(s);
	return j;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a hex JSON string into a new buffer; NULL (and *n = 0) on a
 * malformed record. An empty string gives a 1-byte allocation and *n = 0. */
unsigned char *fl_file_hex_decode(const json_t *j, size_t *n)
{
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);
	unsigned char *out;
	*n = 0;
	if (!s || len % 2)
		return NULL;
	out = fl_malloc(len / 2 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fl_free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return out;
}

/* Reads n bytes at off; returns the count read (short at end of file) or -1. */
ssize_t fl_file_pread(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

int fl_file_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

int fl_file_fsync_dir(const char *path)
{
	char *copy = fl_strdup(path);
	int fd, rc = -1;
	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	fl_free(copy);
	return rc;
}

/* ---- where the file lives: here, or on a host over ssh -------------------
 * A remote file (the record has "ssh") is read whole, with its size, mode
 * and owner, in one round trip into a private memfd, so the capture and
 * compare code (file.c, file_revert.c) runs on a local fd either way;
 * writes go back as (offset, length, bytes) on the remote command's stdin,
 * applied by dd with conv=notrunc and made durable with sync. Each script
 * is a constant of the file that runs it; the path and numbers reach it as
 * quoted positional parameters (core/ssh.h). A remote file must be at most
 * 64 MiB. */

static const char fetch_script[] =
	"f=$1; "
	"if [ ! -e \"$f\" ] && [ ! -L \"$f\" ]; then echo missing; exit 0; fi; "
	"[ -f \"$f\" ] || { echo notregular; exit 0; }; "
	"h=$(stat -L -c '%s %a %u %g' -- \"$f\") || exit 1; "
	"printf 'ok %s\\n' \"$h\"; exec cat -- \"$f\"";

static const char write_script[] =
	"f=$1; [ -f \"$f\" ] || { echo \"$f: no such file\"; exit 3; }; "
	"while read -r off len; do "
	"dd of=\"$f\" bs=\"$len\" count=1 seek=\"$off\" oflag=seek_bytes iflag=fullblock "
	"conv=notrunc status=none || exit 1; "
	"done; sync -- \"$f\"";

void fl_file_writes_free(struct fl_file_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fl_free(w[i].data);
	fl_free(w);
}

/* Loads the record's "ssh": 0 local, 1 remote (h filled), -1 err. */
int fl_fx_host(const json_t *rec, struct fl_ssh *h, struct fl_error *err)
{
	const json_t *j = json_object_get(rec, "ssh");
	*h = (struct fl_ssh){ 0 };
	if (!j)
		return 0;
	return fl_ssh_from_json(j, h, err) < 0 ? -1 : 1;
}

/* Runs a fixed script on h with args, stdin the in_len bytes at in (or none),
 * output into out. 0 with *status, -1 err set (host unreachable). */
int fl_fx_script(const struct fl_ssh *h, const char *script, const char *const *args, const void *in,
		 size_t in_len, int attempts, struct fl_buf *out, int *status, struct fl_error *err)
{
	const char *argv[12] = { "sh", "-c", script, "sh" };
	struct fl_ssh_opts o = { .stdin_data = in, .stdin_len = in_len, .attempts = attempts };
	size_t k = 4;
	for (size_t i = 0; args[i] && k < FL_ARRAY_LEN(argv) - 1; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	if (out)
		fl_buf_reset(out);
	return fl_ssh_run_argv(h, argv, FL_FILE_REMOTE_TIMEOUT_NS, out, status, &o, err);
}

/* "PATH on HOST" for messages. */
const char *fl_fx_where(const struct fl_ssh *h, const char *path, char *buf, size_t n)
{
	char hn[256];
	if (h)
		snprintf(buf, n, "%s on %s", path, fl_ssh_name(h, hn, sizeof(hn)));
	else
		snprintf(buf, n, "%s", path);
	return buf;
}

/* Opens path for reading: here, or a memfd holding the remote file's bytes.
 * *st gets size, mode and owner. 0, 1 when the file does not exist (for
 * revert), -1 with err set. */
int fl_fx_open(const struct fl_ssh *h, const char *path, int *fd, struct stat *st, int attempts,
	       struct fl_error *err)
{
	struct fl_buf out;
	char where[1024];
	const char *args[] = { path, NULL };
	char *nl;
	unsigned long long size = 0;
	unsigned mode = 0, uid = 0, gid = 0;
	int status = 0, rc = -1;

	*fd = -1;
	if (!h) {
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0 && errno == ENOENT)
			return 1;
		if (*fd < 0 || fstat(*fd, st) < 0) {
			if (*fd >= 0)
				close(*fd);
			*fd = -1;
			return fl_error_set(err, FL_EXIT_ENV, "%s: cannot open: %s", path,
					    strerror(errno));
		}
		return 0;
	}
	fl_fx_where(h, path, where, sizeof(where));
	fl_buf_init(&out, FL_FILE_SAVE_LIMIT + 4096);
	if (fl_fx_script(h, fetch_script, args, NULL, 0, attempts, &out, &status, err) < 0)
		goto out;
	if (out.failed) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: a remote file must be at most %zu bytes",
			     where, FL_FILE_SAVE_LIMIT);
		goto out;
	}
	nl = memchr(out.buf, '\n', out.len);
	if (status == 0 && nl && strncmp(out.buf, "missing\n", 8) == 0) {
		rc = 1;
		goto out;
	}
	if (status == 0 && nl && strncmp(out.buf, "notregular\n", 11) == 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: not a regular file", where);
		goto out;
	}
	if (status != 0 || !nl || sscanf(out.buf, "ok %llu %o %u %u", &size, &mode, &uid, &gid) != 4) {
		if (nl)
			*nl = '\0';
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot read: %s", where,
			     out.len ? out.buf : "no output");
		goto out;
	}
	if ((size_t)(out.buf + out.len - (nl + 1)) != size) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: changed size while being read (%llu bytes announced, %zu read)",
			     where, size, (size_t)(out.buf + out.len - (nl + 1)));
		goto out;
	}
	*fd = memfd_create("faultline-remote-file", MFD_CLOEXEC);
	if (*fd < 0 || fl_file_pwrite(*fd, nl + 1, (size_t)size, 0) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: memfd: %s", where, strerror(errno));
		goto out;
	}
	memset(st, 0, sizeof(*st));
	st->st_size = (off_t)size;
	st->st_mode = S_IFREG | (mode_t)(mode & 07777);
	st->st_uid = (uid_t)uid;
	st->st_gid = (gid_t)gid;
	rc = 0;
out:
	if (rc != 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	fl_buf_release(&out);
	return rc;
}

int fl_file_fsync(const char *path, int dir, struct fl_error *err)
{
	char *copy = dir ? fl_strdup(path) : NULL;
	int fd, rc = 0;
	if (dir && !copy)
		return fl_error_oom(err, "%s", path);
	fd = open(dir ? dirname(copy) : path, O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	if (fd < 0 || (fsync(fd) < 0 && !(dir && errno == EINVAL)))
		rc = fl_error_set(err, FL_EXIT_ENV, "%s: fsync%s: %s", path,
				  dir ? " of its directory" : "", strerror(errno));
	if (fd >= 0)
		close(fd);
	fl_free(copy);
	return rc;
}

/* Writes w[0..n) to path (here: pwrite, + fsync when durable; remote: dd + sync). */
int fl_fx_write(const struct fl_ssh *h, const char *path, const struct fl_file_write *w, size_t n,
		int durable, int attempts, struct fl_error *err)
{
	struct fl_buf data, out;
	char where[1024], desc[64];
	const char *args[] = { path, NULL };
	int fd, status = 0, rc = -1;

	if (!h) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: cannot open for writing: %s",
					    path, strerror(errno));
		for (size_t i = 0; i < n; i++)
			if (fl_file_pwrite(fd, w[i].data, w[i].len, (off_t)w[i].off) < 0) {
				fl_error_set(err, FL_EXIT_ENV, "%s: write: %s", path,
					     strerror(errno));
				close(fd);
				return -1;
			}
		if (durable && fsync(fd) < 0) {
			fl_error_set(err, FL_EXIT_ENV, "%s: fsync: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	fl_buf_init(&data, 0);
	fl_buf_init(&out, 64 << 10);
	for (size_t i = 0; i < n; i++) {
		fl_buf_addf(&data, "%llu %zu\n", (unsigned long long)w[i].off, w[i].len);
		fl_buf_add(&data, w[i].data, w[i].len);
	}
	if (data.failed) {
		fl_error_oom(err, "%s", path);
		goto out;
	}
	rc = fl_fx_script(h, write_script, args, data.buf, data.len, attempts, &out, &status, err);
	if (rc == 0 && status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: write %s: %s",
			     fl_fx_where(h, path, where, sizeof(where)),
			     fl_status_describe(status, desc, sizeof(desc)), out.len ? out.buf : "");
		rc = -1;
	}
out:
	fl_buf_release(&data);
	fl_buf_release(&out);
	return rc;
}
