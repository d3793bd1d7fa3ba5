/*
 * file_io: the file injector's I/O layer, shared by capture/damage (file.c)
 * and revert (file_revert.c). A file is either here or on a host over ssh
 * (the revert record's "ssh", docs/remote.md); fl_fx_* hide the difference:
 * a remote file is read whole into a private memfd so that the compare code
 * runs on a local fd either way, and writes go back as (offset, length,
 * bytes) applied by dd with conv=notrunc and made durable with sync.
 *
 * Owns: mode names, hex encoding of saved bytes, whole-buffer pread/pwrite,
 * the fixed fetch and write scripts. Does not own: what is captured, written
 * or restored, nor the revert record's layout (file.c, file_revert.c).
 */
#ifndef FAULTLINE_FILE_IO_H
#define FAULTLINE_FILE_IO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/ssh.h"

#define FL_FILE_SAVE_LIMIT ((size_t)64 << 20) /* original bytes kept in the journal */
#define FL_FILE_REMOTE_TIMEOUT_NS (60 * FL_NS_PER_S)
#define FL_FILE_REMOTE_ATTEMPTS 4 /* revert: the host may come back */

enum fl_file_mode { FL_FILE_FLIP, FL_FILE_ZERO, FL_FILE_TRUNCATE, FL_FILE_DELETE };

/* "flip" ... "delete" to the mode, or -1. */
int fl_file_mode_parse(const char *s);
const char *fl_file_mode_name(enum fl_file_mode mode);

/* One write: len bytes at off. */
struct fl_file_write {
	uint64_t off;
	size_t len;
	unsigned char *data;
};

void fl_file_writes_free(struct fl_file_write *w, size_t n);

/* Lower-case hex JSON string of p[0..n); NULL when out of memory. */
json_t *fl_file_hex_encode(const unsigned char *p, size_t n);
/* Decodes a hex JSON string into a new buffer; NULL (and *n = 0) on a
 * malformed record. An empty string gives a 1-byte allocation and *n = 0. */
unsigned char *fl_file_hex_decode(const json_t *j, size_t *n);
/* Reads n bytes at off; returns the count read (short at end of file) or -1. */
ssize_t fl_file_pread(int fd, void *buf, size_t n, off_t off);
/* Writes all n bytes at off (retrying on EINTR); 0 or -1 with errno. */
int fl_file_pwrite(int fd, const void *buf, size_t n, off_t off);
/* fsync()s the directory holding path, so a rename or unlink is durable. */
int fl_file_fsync_dir(const char *path);

/* Loads the record's "ssh": 0 local, 1 remote (h filled), -1 err. */
int fl_fx_host(const json_t *rec, struct fl_ssh *h, struct fl_error *err);
/* Runs a fixed script on h with args, stdin the in_len bytes at in (or none
 * when in is NULL; never a named file: core/spawn.h),
 * output into out. 0 with *status, -1 err set (host unreachable). */
int fl_fx_script(const struct fl_ssh *h, const char *script, const char *const *args, const void *in,
		 size_t in_len, int attempts, struct fl_buf *out, int *status, struct fl_error *err);
/* "PATH on HOST" (h non-NULL) or "PATH" into buf, for messages. */
const char *fl_fx_where(const struct fl_ssh *h, const char *path, char *buf, size_t n);
/* Opens path for reading: here, or a memfd holding the remote file's bytes.
 * *st gets size, mode and owner. 0, 1 when the file does not exist (for
 * revert), -1 with err set. */
int fl_fx_open(const struct fl_ssh *h, const char *path, int *fd, struct stat *st, int attempts,
	       struct fl_error *err);
/* Writes w[0..n) to path (here: pwrite, then fsync when `durable`; remote:
 * dd + sync, always). inject() writes here without the fsync: the bytes are
 * in effect once in the page cache, and settle() makes them durable after
 * t0 (fl_file_fsync); revert writes durably. */
int fl_fx_write(const struct fl_ssh *h, const char *path, const struct fl_file_write *w, size_t n,
		int durable, int attempts, struct fl_error *err);
/* fsync()s a local path (a file, or the directory holding it when `dir`,
 * for an unlink): what inject() left in the page cache, made durable. A
 * directory whose file system cannot sync one (EINVAL) is not an error.
 * 0 or -1 with err set. */
int fl_file_fsync(const char *path, int dir, struct fl_error *err);

#endif
