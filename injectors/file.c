/*
 * file injector: corrupts, truncates or deletes a local file, and puts back
 * exactly what it took — but only where the damage is still in place.
 *
 * Owns: the `file` fault family (target kind file). Modes:
 *   flip      XOR 0xff into single bytes: `offsets` [n, ...] or `count`
 *             random offsets from `seed` (default 1) within `range`
 *             [start, end) (default the whole file)
 *   zero      zero `length` bytes at `offset`
 *   truncate  cut the file to `length` bytes
 *   delete    unlink the file
 * prepare() saves, hex-encoded in the revert record, the original bytes of
 * every region it will change (for delete the whole file, for truncate the
 * cut tail; at most 64 MiB), the bytes it will write, and the file's size,
 * permissions and owner. revert() restores a region only while it still
 * holds the bytes we wrote: a region a recovery step already repaired (from
 * a backup, say) is left alone and reported as already recovered; a deleted
 * file is recreated only while it is absent (temp file + rename), a
 * truncated one re-extended only while it still has the truncated size.
 * Every write is pwrite + fsync: the bytes are on disk when we return.
 * A remote file (the target has `ssh`, docs/remote.md) gets the same
 * capture, damage and revert rules through the fx_* functions below; its
 * host is journaled with the fault. Does not own: detecting the corruption
 * (probes, validation checks) or restoring from backups (recovery steps).
 */
#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_rng.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/ssh.h"

#define FILE_SAVE_LIMIT ((size_t)64 << 20) /* original bytes kept in the journal */
#define FILE_FLIP_MAX_COUNT 65536L

enum file_mode { FILE_FLIP, FILE_ZERO, FILE_TRUNCATE, FILE_DELETE };

static const char *const file_mode_names[] = { "flip", "zero", "truncate", "delete" };

static int file_mode_parse(const char *s)
{
	for (size_t i = 0; i < FL_ARRAY_LEN(file_mode_names); i++)
		if (s && strcmp(s, file_mode_names[i]) == 0)
			return (int)i;
	return -1;
}

/* ---- hex and whole-buffer I/O ------------------------------------------- */

static json_t *hex_encode(const unsigned char *p, size_t n)
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
static unsigned char *hex_decode(const json_t *j, size_t *n)
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
static ssize_t pread_full(int fd, void *buf, size_t n, off_t off)
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

static int pwrite_full(int fd, const void *buf, size_t n, off_t off)
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

static int fsync_dir_of(const char *path)
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
 * compare code below runs on a local fd either way; writes go back as
 * (offset, length, bytes) on the remote command's stdin, applied by dd
 * with conv=notrunc and made durable with sync. The scripts are constants
 * of this file; the path and numbers reach them as quoted positional
 * parameters (core/ssh.h). A remote file must be at most 64 MiB. */

#define FILE_REMOTE_TIMEOUT_NS (60 * FL_NS_PER_S)
#define FILE_REMOTE_ATTEMPTS 4 /* revert: the host may come back */

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

static const char truncate_script[] = "truncate -s \"$2\" -- \"$1\" && sync -- \"$1\"";

static const char delete_script[] = "rm -- \"$1\" && sync";

static const char untruncate_script[] =
	"f=$1; len=$2; "
	"[ -e \"$f\" ] || { echo gone; exit 0; }; "
	"s=$(stat -L -c %s -- \"$f\") || exit 1; "
	"[ \"$s\" = \"$len\" ] || { echo \"size $s\"; exit 0; }; "
	"dd of=\"$f\" bs=65536 seek=\"$len\" oflag=seek_bytes conv=notrunc status=none && "
	"sync -- \"$f\" && echo restored";

static const char recreate_script[] =
	"f=$1; "
	"if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo exists; exit 0; fi; "
	"t=$(mktemp -- \"$f.faultline-XXXXXX\") || exit 1; "
	"if cat >\"$t\" && chmod \"$2\" \"$t\" && { chown \"$3:$4\" \"$t\" 2>/dev/null || :; } && "
	"sync -- \"$t\" && mv -f -- \"$t\" \"$f\"; then sync; echo recreated; "
	"else rm -f -- \"$t\"; exit 1; fi";

/* One write: len bytes at off. */
struct file_write {
	uint64_t off;
	size_t len;
	unsigned char *data;
};

static void writes_free(struct file_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fl_free(w[i].data);
	fl_free(w);
}

/* Loads the record's "ssh": 0 local, 1 remote (h filled), -1 err. */
static int fx_host(const json_t *rec, struct fl_ssh *h, struct fl_error *err)
{
	const json_t *j = json_object_get(rec, "ssh");
	*h = (struct fl_ssh){ 0 };
	if (!j)
		return 0;
	return fl_ssh_from_json(j, h, err) < 0 ? -1 : 1;
}

/* Runs a fixed script on h with args, stdin from stdin_path (or none),
 * output into out. 0 with *status, -1 err set (host unreachable). */
static int fx_script(const struct fl_ssh *h, const char *script, const char *const *args,
		     const char *stdin_path, int attempts, struct fl_buf *out, int *status,
		     struct fl_error *err)
{
	const char *argv[12] = { "sh", "-c", script, "sh" };
	struct fl_ssh_opts o = { .stdin_path = stdin_path, .attempts = attempts };
	size_t k = 4;
	for (size_t i = 0; args[i] && k < FL_ARRAY_LEN(argv) - 1; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	if (out)
		fl_buf_reset(out);
	return fl_ssh_run_argv(h, argv, FILE_REMOTE_TIMEOUT_NS, out, status, &o, err);
}

/* "PATH on HOST" for messages. */
static const char *fx_where(const struct fl_ssh *h, const char *path, char *buf, size_t n)
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
static int fx_open(const struct fl_ssh *h, const char *path, int *fd, struct stat *st, int attempts,
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
	fx_where(h, path, where, sizeof(where));
	fl_buf_init(&out, FILE_SAVE_LIMIT + 4096);
	if (fx_script(h, fetch_script, args, NULL, attempts, &out, &status, err) < 0)
		goto out;
	if (out.failed) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: a remote file must be at most %zu bytes",
			     where, FILE_SAVE_LIMIT);
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
	if (*fd < 0 || pwrite_full(*fd, nl + 1, (size_t)size, 0) < 0) {
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

/* A private temporary file holding data (for a remote stdin); its path in
 * tmp (unlink it after use). 0 or -1. */
static int fx_stdin_file(struct fl_buf *tmp, const void *data, size_t n, struct fl_error *err)
{
	const char *dir = getenv("TMPDIR");
	int fd;
	fl_buf_reset(tmp);
	fl_buf_addf(tmp, "%s/faultline-stdin-XXXXXX", dir && dir[0] ? dir : "/tmp");
	if (tmp->failed)
		return fl_error_oom(err, "remote write");
	fd = mkstemp(tmp->buf);
	if (fd < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: cannot create: %s", tmp->buf,
				    strerror(errno));
	if (n && pwrite_full(fd, data, n, 0) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: write: %s", tmp->buf, strerror(errno));
		close(fd);
		unlink(tmp->buf);
		return -1;
	}
	close(fd);
	return 0;
}

/* Writes w[0..n) to path (here: pwrite + fsync; remote: dd + sync). */
static int fx_write(const struct fl_ssh *h, const char *path, const struct file_write *w, size_t n,
		    int attempts, struct fl_error *err)
{
	struct fl_buf data, tmp, out;
	char where[1024], desc[64];
	const char *args[] = { path, NULL };
	int fd, status = 0, rc = -1;

	if (!h) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return fl_error_set(err, FL_EXIT_ENV, "%s: cannot open for writing: %s",
					    path, strerror(errno));
		for (size_t i = 0; i < n; i++)
			if (pwrite_full(fd, w[i].data, w[i].len, (off_t)w[i].off) < 0) {
				fl_error_set(err, FL_EXIT_ENV, "%s: write: %s", path,
					     strerror(errno));
				close(fd);
				return -1;
			}
		if (fsync(fd) < 0) {
			fl_error_set(err, FL_EXIT_ENV, "%s: fsync: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	fl_buf_init(&data, 0);
	fl_buf_init(&tmp, 4096);
	fl_buf_init(&out, 64 << 10);
	for (size_t i = 0; i < n; i++) {
		fl_buf_addf(&data, "%llu %zu\n", (unsigned long long)w[i].off, w[i].len);
		fl_buf_add(&data, w[i].data, w[i].len);
	}
	if (data.failed) {
		fl_error_oom(err, "%s", path);
		goto out;
	}
	if (fx_stdin_file(&tmp, data.buf, data.len, err) < 0)
		goto out;
	rc = fx_script(h, write_script, args, tmp.buf, attempts, &out, &status, err);
	unlink(tmp.buf);
	if (rc == 0 && status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: write %s: %s",
			     fx_where(h, path, where, sizeof(where)),
			     fl_status_describe(status, desc, sizeof(desc)), out.len ? out.buf : "");
		rc = -1;
	}
out:
	fl_buf_release(&data);
	fl_buf_release(&tmp);
	fl_buf_release(&out);
	return rc;
}

/* ---- validate --------------------------------------------------------------- */

static int file_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			 const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params, *offsets, *range, *v;
	char *mode_s = NULL;
	long n = 0;
	int mode, rc = -1;
	size_t i;

	if (!target || target->kind != FL_TARGET_FILE) {
		fl_doc_error_value(doc, params, err,
				   "fault '%s': the file injector needs a target of kind file",
				   fault->name);
		goto out;
	}
	if (fl_doc_string(doc, params, "mode", 1, &mode_s, err) < 0)
		goto out;
	mode = file_mode_parse(mode_s);
	if (mode < 0) {
		fl_doc_error_value(doc, json_object_get(params, "mode"), err,
				   "unknown file mode '%s' (expected flip, zero, truncate or delete)",
				   mode_s);
		goto out;
	}
	switch (mode) {
	case FILE_FLIP:
		offsets = fl_doc_array(doc, params, "offsets", 0, err);
		if (fl_error_is_set(err))
			goto out;
		json_array_foreach(offsets, i, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				fl_doc_error_value(doc, v, err, "'offsets': expected integers >= 0");
				goto out;
			}
		}
		if (fl_doc_int(doc, params, "count", 0, 1, FILE_FLIP_MAX_COUNT, &n, err) < 0 ||
		    fl_doc_int(doc, params, "seed", 0, 0, LONG_MAX, &n, err) < 0)
			goto out;
		if (!!offsets == !!json_object_get(params, "count")) {
			fl_doc_error_value(doc, params, err,
					   "mode flip needs exactly one of 'offsets' and 'count'");
			goto out;
		}
		if (offsets && json_array_size(offsets) == 0) {
			fl_doc_error_value(doc, offsets, err, "'offsets': empty");
			goto out;
		}
		if (offsets && json_object_get(params, "seed")) {
			fl_doc_error_key(doc, params, "seed", err,
					 "'seed' goes with 'count', not 'offsets'");
			goto out;
		}
		range = fl_doc_array(doc, params, "range", 0, err);
		if (fl_error_is_set(err))
			goto out;
		if (range &&
		    (json_array_size(range) != 2 || !json_is_integer(json_array_get(range, 0)) ||
		     !json_is_integer(json_array_get(range, 1)) ||
		     json_integer_value(json_array_get(range, 0)) < 0 ||
		     json_integer_value(json_array_get(range, 1)) <=
			     json_integer_value(json_array_get(range, 0)))) {
			fl_doc_error_value(doc, range, err,
					   "'range': expected [start, end) with 0 <= start < end");
			goto out;
		}
		if (range && offsets) {
			fl_doc_error_key(doc, params, "range", err,
					 "'range' goes with 'count', not 'offsets'");
			goto out;
		}
		break;
	case FILE_ZERO:
		if (fl_doc_int(doc, params, "offset", 1, 0, LONG_MAX, &n, err) < 0 ||
		    fl_doc_int(doc, params, "length", 1, 1, (long)FILE_SAVE_LIMIT, &n, err) < 0)
			goto out;
		break;
	case FILE_TRUNCATE:
		if (fl_doc_int(doc, params, "length", 1, 0, LONG_MAX, &n, err) < 0)
			goto out;
		break;
	case FILE_DELETE: break;
	}
	if (fl_doc_check_keys(doc, params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(mode_s);
	return rc;
}

/* ---- prepare ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Fills offs[0..count) with distinct offsets in [start, end), sorted, drawn
 * from MT19937 seeded with `seed`: the same seed on the same range always
 * damages the same bytes. */
static int flip_offsets_draw(uint64_t start, uint64_t end, long count, unsigned long seed,
			     uint64_t *offs, struct fl_error *err, const char *name)
{
	uint64_t span = end - start;
	gsl_rng *rng;
	size_t have = 0;

	if ((uint64_t)count > span)
		return fl_error_set(err, FL_EXIT_INPUT,
				    "%s: count %ld is more than the %llu bytes in range", name,
				    count, (unsigned long long)span);
	gsl_set_error_handler_off();
	rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (!rng)
		return fl_error_oom(err, "%s", name);
	gsl_rng_set(rng, seed);
	/* Draw, sort, drop duplicates, top up: a few rounds even when count is
	 * close to the span; the bound keeps a pathological case finite. */
	for (int round = 0; round < 10000 && have < (size_t)count; round++) {
		while (have < (size_t)count) {
			uint64_t off = (uint64_t)(gsl_rng_uniform(rng) * (double)span);
			offs[have++] = start + (off < span ? off : span - 1);
		}
		qsort(offs, have, sizeof(*offs), cmp_u64);
		size_t w = 0;
		for (size_t r = 0; r < have; r++)
			if (w == 0 || offs[w - 1] != offs[r])
				offs[w++] = offs[r];
		have = w;
	}
	gsl_rng_free(rng);
	if (have < (size_t)count)
		return fl_error_set(err, FL_EXIT_ENV, "%s: could not draw %ld distinct offsets",
				    name, count);
	return 0;
}

/* Appends a region {offset, length, original[, written]} read from fd. */
static int region_capture(json_t *regions, int fd, uint64_t off, size_t len, int flip,
			  const char *path, struct fl_error *err)
{
	unsigned char *buf = fl_malloc(len ? len : 1);
	json_t *r = NULL;
	int rc = -1;
	ssize_t got;

	if (!buf) {
		fl_error_oom(err, "%s", path);
		goto out;
	}
	got = pread_full(fd, buf, len, (off_t)off);
	if (got < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: read: %s", path, strerror(errno));
		goto out;
	}
	if ((size_t)got != len) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: bytes %llu..%llu are past the end of the file",
			     path, (unsigned long long)off, (unsigned long long)(off + len));
		goto out;
	}
	r = json_pack("{s:I, s:I, s:o}", "offset", (json_int_t)off, "length", (json_int_t)len,
		      "original", hex_encode(buf, len));
	if (r && flip) {
		for (size_t i = 0; i < len; i++)
			buf[i] ^= 0xff;
		if (json_object_set_new(r, "written", hex_encode(buf, len)) < 0) {
			json_decref(r);
			r = NULL;
		}
	}
	if (!r || json_array_append_new(regions, r) < 0) {
		fl_error_oom(err, "%s", path);
		goto out;
	}
	rc = 0;
out:
	fl_free(buf);
	return rc;
}

/* Captures, from the file as it is now, everything revert needs: the damage
 * plan is fixed by the parameters, the bytes come from the file. Used by
 * prepare and again by inject, just before the damage, so that writes
 * between the two are not lost. */
static json_t *file_capture(const struct fl_ssh *h, const json_t *params, const char *fault_name,
			    const char *target_name, const char *path, struct fl_error *err)
{
	json_t *rec = NULL, *regions = NULL, *offsets;
	int fd = -1, mode = file_mode_parse(json_string_value(json_object_get(params, "mode")));
	uint64_t *offs = NULL;
	size_t noffs = 0, saved = 0;
	struct stat st;

	if (mode < 0) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: bad file mode", fault_name);
		goto fail;
	}
	switch (fx_open(h, path, &fd, &st, 1, err)) {
	case 0: break;
	case 1:
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot open: %s", path, strerror(ENOENT));
		goto fail;
	default: goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		fl_error_set(err, FL_EXIT_ENV, "%s: not a regular file", path);
		goto fail;
	}
	rec = json_pack("{s:s, s:s?, s:s, s:s, s:I, s:i, s:i, s:i, s:o}", "fault", fault_name,
			"target", target_name, "path", path, "mode", file_mode_names[mode], "size",
			(json_int_t)st.st_size, "file_mode", (int)(st.st_mode & 07777), "uid",
			(int)st.st_uid, "gid", (int)st.st_gid, "regions", json_array());
	if (!rec)
		goto oom;
	/* The host goes into the journal with the fault: `faultline recover`
	 * reverts a remote fault from the record alone. */
	if (h && json_object_set_new(rec, "ssh", fl_ssh_to_json(h)) < 0)
		goto oom;
	regions = json_object_get(rec, "regions");

	switch (mode) {
	case FILE_FLIP:
		offsets = json_object_get(params, "offsets");
		if (offsets) {
			size_t i;
			json_t *v;
			noffs = json_array_size(offsets);
			offs = fl_calloc(noffs ? noffs : 1, sizeof(*offs));
			if (!offs)
				goto oom;
			json_array_foreach(offsets, i, v)
				offs[i] = (uint64_t)json_integer_value(v);
			qsort(offs, noffs, sizeof(*offs), cmp_u64);
		} else {
			json_t *range = json_object_get(params, "range");
			json_int_t count = json_integer_value(json_object_get(params, "count"));
			json_t *seed_j = json_object_get(params, "seed");
			unsigned long seed = seed_j ? (unsigned long)json_integer_value(seed_j) : 1;
			uint64_t start = 0, end = (uint64_t)st.st_size;
			if (range) {
				start = (uint64_t)json_integer_value(json_array_get(range, 0));
				end = (uint64_t)json_integer_value(json_array_get(range, 1));
				if (end > (uint64_t)st.st_size) {
					fl_error_set(err, FL_EXIT_INPUT,
						     "%s: range end %llu is past the end of the file (%lld bytes)",
						     path, (unsigned long long)end,
						     (long long)st.st_size);
					goto fail;
				}
			}
			if (start >= end) {
				fl_error_set(err, FL_EXIT_INPUT,
					     "%s: nothing to flip in [%llu, %llu)", path,
					     (unsigned long long)start, (unsigned long long)end);
				goto fail;
			}
			noffs = (size_t)count;
			offs = fl_calloc(noffs ? noffs : 1, sizeof(*offs));
			if (!offs)
				goto oom;
			if (flip_offsets_draw(start, end, (long)count, seed, offs, err, path) < 0)
				goto fail;
			if (json_object_set_new(rec, "seed", json_integer((json_int_t)seed)) < 0)
				goto oom;
		}
		for (size_t i = 0; i < noffs; i++) {
			/* A repeated offset would flip twice and undo itself. */
			if (i > 0 && offs[i] == offs[i - 1])
				continue;
			if (region_capture(regions, fd, offs[i], 1, 1, path, err) < 0)
				goto fail;
		}
		break;
	case FILE_ZERO: {
		json_int_t off = json_integer_value(json_object_get(params, "offset"));
		json_int_t len = json_integer_value(json_object_get(params, "length"));
		if ((size_t)len > FILE_SAVE_LIMIT) {
			fl_error_set(err, FL_EXIT_INPUT,
				     "%s: cannot save more than %zu bytes for revert", path,
				     FILE_SAVE_LIMIT);
			goto fail;
		}
		if (region_capture(regions, fd, (uint64_t)off, (size_t)len, 0, path, err) < 0)
			goto fail;
		break;
	}
	case FILE_TRUNCATE: {
		json_int_t len = json_integer_value(json_object_get(params, "length"));
		if (len >= (json_int_t)st.st_size) {
			fl_error_set(err, FL_EXIT_INPUT,
				     "%s: truncate length %lld is not below the file size %lld",
				     path, (long long)len, (long long)st.st_size);
			goto fail;
		}
		saved = (size_t)(st.st_size - len);
		if (saved > FILE_SAVE_LIMIT) {
			fl_error_set(err, FL_EXIT_INPUT,
				     "%s: cannot save the %zu bytes cut off for revert (limit %zu)",
				     path, saved, FILE_SAVE_LIMIT);
			goto fail;
		}
		if (region_capture(regions, fd, (uint64_t)len, saved, 0, path, err) < 0 ||
		    json_object_set_new(rec, "length", json_integer(len)) < 0)
			goto fail;
		break;
	}
	case FILE_DELETE:
		if ((size_t)st.st_size > FILE_SAVE_LIMIT) {
			fl_error_set(err, FL_EXIT_INPUT,
				     "%s: cannot save %lld bytes for revert (limit %zu)", path,
				     (long long)st.st_size, FILE_SAVE_LIMIT);
			goto fail;
		}
		if (region_capture(regions, fd, 0, (size_t)st.st_size, 0, path, err) < 0)
			goto fail;
		break;
	}
	fl_free(offs);
	close(fd);
	return rec;
oom:
	fl_error_oom(err, "%s", path);
fail:
	fl_free(offs);
	if (fd >= 0)
		close(fd);
	json_decref(rec);
	return NULL;
}

static json_t *file_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			    struct fl_error *err)
{
	if (!target || !target->path) {
		fl_error_set(err, FL_EXIT_INPUT,
			     "fault '%s': the file injector needs a file target", fault->name);
		return NULL;
	}
	return file_capture(target->ssh, fault->params, fault->name, target->name, target->path, err);
}

/* ---- inject -------------------------------------------------------------------- */

/* Re-captures right before the damage: a write that landed since prepare()
 * must be what revert restores. 1 when the record changed. */
static int file_rearm(const struct fl_fault_spec *fault, const struct fl_target *target,
		      json_t *revert, struct fl_error *err)
{
	const char *path = json_string_value(json_object_get(revert, "path"));
	json_t *fresh, *v;
	const char *key;
	struct fl_ssh host;
	int changed = 0, remote;
	if (!path)
		return fl_error_set(err, FL_EXIT_ENV, "fault '%s': revert record has no path",
				    fault->name);
	remote = fx_host(revert, &host, err);
	if (remote < 0)
		return -1;
	fresh = file_capture(remote ? &host : NULL, fault->params, fault->name,
			     target ? target->name : NULL, path, err);
	fl_ssh_release(&host);
	if (!fresh)
		return -1;
	json_object_foreach(fresh, key, v)
		changed |= !json_equal(v, json_object_get(revert, key));
	if (changed && json_object_update(revert, fresh) < 0) {
		json_decref(fresh);
		return fl_error_oom(err, "%s", path);
	}
	json_decref(fresh);
	return changed;
}

static int file_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		       json_t *revert, struct fl_error *err)
{
	const char *path = json_string_value(json_object_get(revert, "path"));
	const json_t *regions = json_object_get(revert, "regions"), *r;
	struct file_write *w = NULL;
	struct fl_ssh host;
	const struct fl_ssh *h = NULL;
	struct fl_buf out;
	char len_s[32], where[1024], desc[64];
	int rc = -1, remote, status = 0;
	size_t i, n = 0;

	(void)target;
	fl_buf_init(&out, 64 << 10);
	if (!path)
		return fl_error_set(err, FL_EXIT_ENV, "fault '%s': revert record has no path",
				    fault->name);
	remote = fx_host(revert, &host, err);
	if (remote < 0)
		return -1;
	h = remote ? &host : NULL;
	fx_where(h, path, where, sizeof(where));
	/* The bytes to restore were re-captured by file_rearm() and journaled
	 * before this call: act on the record exactly as journaled. */
	switch (file_mode_parse(json_string_value(json_object_get(revert, "mode")))) {
	case FILE_FLIP:
	case FILE_ZERO:
		w = fl_calloc(json_array_size(regions) + 1, sizeof(*w));
		if (!w) {
			fl_error_oom(err, "%s", path);
			goto out;
		}
		json_array_foreach(FL_UNCONST(json_t *, regions), i, r) {
			size_t len = (size_t)json_integer_value(json_object_get(r, "length")), k = 0;
			if (json_object_get(r, "written"))
				w[n].data = hex_decode(json_object_get(r, "written"), &k);
			else
				w[n].data = fl_calloc(len ? len : 1, 1), k = len;
			w[n].len = len;
			w[n].off = (uint64_t)json_integer_value(json_object_get(r, "offset"));
			n++;
			if (!w[n - 1].data || k != len) {
				fl_error_oom(err, "%s", path);
				goto out;
			}
		}
		if (fx_write(h, path, w, n, 1, err) < 0)
			goto out;
		break;
	case FILE_TRUNCATE:
		if (h) {
			const char *args[] = { path, len_s, NULL };
			snprintf(len_s, sizeof(len_s), "%lld",
				 (long long)json_integer_value(json_object_get(revert, "length")));
			if (fx_script(h, truncate_script, args, NULL, 1, &out, &status, err) < 0)
				goto out;
			if (status != 0) {
				fl_error_set(err, FL_EXIT_ENV, "%s: truncate %s: %s", where,
					     fl_status_describe(status, desc, sizeof(desc)), out.buf);
				goto out;
			}
			break;
		} else {
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 ||
			    ftruncate(fd, (off_t)json_integer_value(
						  json_object_get(revert, "length"))) < 0 ||
			    fsync(fd) < 0) {
				fl_error_set(err, FL_EXIT_ENV, "%s: truncate: %s", path,
					     strerror(errno));
				if (fd >= 0)
					close(fd);
				goto out;
			}
			close(fd);
		}
		break;
	case FILE_DELETE:
		if (h) {
			const char *args[] = { path, NULL };
			if (fx_script(h, delete_script, args, NULL, 1, &out, &status, err) < 0)
				goto out;
			if (status != 0) {
				fl_error_set(err, FL_EXIT_ENV, "%s: delete %s: %s", where,
					     fl_status_describe(status, desc, sizeof(desc)), out.buf);
				goto out;
			}
			break;
		}
		if (unlink(path) < 0) {
			fl_error_set(err, FL_EXIT_ENV, "%s: delete: %s", path, strerror(errno));
			goto out;
		}
		fsync_dir_of(path);
		break;
	default: fl_error_set(err, FL_EXIT_ENV, "%s: bad mode in revert record", path); goto out;
	}
	rc = 0;
out:
	writes_free(w, n);
	fl_ssh_release(&host);
	fl_buf_release(&out);
	return rc;
}

/* ---- revert -------------------------------------------------------------------- */

/* Restores byte regions still holding what we wrote. Counts go to the outcome. */
static int revert_regions(const struct fl_ssh *h, const json_t *rec, const char *path,
			  struct fl_error *err)
{
	const json_t *regions = json_object_get(rec, "regions"), *r;
	size_t i, restored = 0, recovered = 0, untouched = 0;
	unsigned char *orig = NULL, *want = NULL, *cur = NULL;
	struct file_write *w = NULL;
	struct stat st;
	int fd = -1, rc = -1;

	switch (fx_open(h, path, &fd, &st, FILE_REMOTE_ATTEMPTS, err)) {
	case 0: break;
	case 1:
		/* Someone removed or is replacing the file: nothing of ours to undo. */
		fl_injector_note(rec, "file is gone; already recovered or replaced, left alone");
		return 0;
	default: return -1;
	}
	w = fl_calloc(json_array_size(regions) + 1, sizeof(*w));
	if (!w) {
		fl_error_oom(err, "%s", path);
		goto out;
	}
	json_array_foreach(FL_UNCONST(json_t *, regions), i, r) {
		size_t len = (size_t)json_integer_value(json_object_get(r, "length")), no = 0,
		       nw = len;
		off_t off = (off_t)json_integer_value(json_object_get(r, "offset"));
		ssize_t got;
		orig = hex_decode(json_object_get(r, "original"), &no);
		want = json_object_get(r, "written") ? hex_decode(json_object_get(r, "written"), &nw)
						     : fl_calloc(len ? len : 1, 1);
		cur = fl_malloc(len ? len : 1);
		if (!orig || !want || !cur || no != len || nw != len) {
			fl_error_set(err, FL_EXIT_ENV, "%s: revert record region %zu is malformed",
				     path, i);
			goto out;
		}
		got = pread_full(fd, cur, len, off);
		if (got < 0) {
			fl_error_set(err, FL_EXIT_ENV, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if ((size_t)got == len && memcmp(cur, want, len) == 0 && memcmp(cur, orig, len) != 0) {
			w[restored].off = (uint64_t)off;
			w[restored].len = len;
			w[restored].data = orig;
			orig = NULL;
			restored++;
		} else if ((size_t)got == len && memcmp(cur, orig, len) == 0) {
			untouched++; /* never damaged, or restored already */
		} else {
			recovered++; /* holds something else now: a recovery step's work */
		}
		fl_free(orig);
		fl_free(want);
		fl_free(cur);
		orig = want = cur = NULL;
	}
	if (restored && fx_write(h, path, w, restored, FILE_REMOTE_ATTEMPTS, err) < 0)
		goto out;
	fl_injector_note(rec,
			 "restored %zu region(s); %zu already recovered (changed since), left alone; %zu intact",
			 restored, recovered, untouched);
	rc = 0;
out:
	writes_free(w, restored);
	fl_free(orig);
	fl_free(want);
	fl_free(cur);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int revert_truncate_remote(const struct fl_ssh *h, const json_t *rec, const char *path,
				  const unsigned char *tail, size_t ntail, struct fl_error *err)
{
	json_int_t length = json_integer_value(json_object_get(rec, "length"));
	json_int_t size = json_integer_value(json_object_get(rec, "size"));
	struct fl_buf tmp, out;
	char len_s[32], where[1024], desc[64];
	const char *args[] = { path, len_s, NULL };
	long long now = -1;
	int status = 0, rc = -1;

	fl_buf_init(&tmp, 4096);
	fl_buf_init(&out, 64 << 10);
	snprintf(len_s, sizeof(len_s), "%lld", (long long)length);
	if (fx_stdin_file(&tmp, tail, ntail, err) < 0)
		goto out;
	rc = fx_script(h, untruncate_script, args, tmp.buf, FILE_REMOTE_ATTEMPTS, &out, &status, err);
	unlink(tmp.buf);
	if (rc < 0)
		goto out;
	rc = -1;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: restore %s: %s",
			     fx_where(h, path, where, sizeof(where)),
			     fl_status_describe(status, desc, sizeof(desc)), out.buf);
		goto out;
	}
	if (strncmp(out.buf, "gone", 4) == 0)
		fl_injector_note(rec, "file is gone; already recovered or replaced, left alone");
	else if (sscanf(out.buf, "size %lld", &now) == 1)
		fl_injector_note(rec,
				 now == (long long)size
					 ? "file has its original size; nothing to restore"
					 : "file size changed since the truncate; already recovered, left alone");
	else
		fl_injector_note(rec, "restored %zu bytes cut off at %lld", ntail, (long long)length);
	rc = 0;
out:
	fl_buf_release(&tmp);
	fl_buf_release(&out);
	return rc;
}

static int revert_truncate(const struct fl_ssh *h, const json_t *rec, const char *path,
			   struct fl_error *err)
{
	const json_t *tail_j =
		json_object_get(json_array_get(json_object_get(rec, "regions"), 0), "original");
	json_int_t length = json_integer_value(json_object_get(rec, "length"));
	json_int_t size = json_integer_value(json_object_get(rec, "size"));
	unsigned char *tail = NULL;
	size_t ntail = 0;
	struct stat st;
	int fd = -1, rc = -1;

	tail = hex_decode(tail_j, &ntail);
	if (!tail || (json_int_t)ntail != size - length) {
		fl_free(tail);
		return fl_error_set(err, FL_EXIT_ENV, "%s: revert record has a malformed tail", path);
	}
	if (h) {
		rc = revert_truncate_remote(h, rec, path, tail, ntail, err);
		fl_free(tail);
		return rc;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		fl_injector_note(rec, "file is gone; already recovered or replaced, left alone");
		rc = 0;
		goto out;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot open for revert: %s", path,
			     strerror(errno));
		goto out;
	}
	if (st.st_size != (off_t)length) {
		fl_injector_note(rec,
				 st.st_size == (off_t)size
					 ? "file has its original size; nothing to restore"
					 : "file size changed since the truncate; already recovered, left alone");
		rc = 0;
		goto out;
	}
	if (pwrite_full(fd, tail, ntail, (off_t)length) < 0 || fsync(fd) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: restore: %s", path, strerror(errno));
		goto out;
	}
	fl_injector_note(rec, "restored %zu bytes cut off at %lld", ntail, (long long)length);
	rc = 0;
out:
	fl_free(tail);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int revert_delete_remote(const struct fl_ssh *h, const json_t *rec, const char *path,
				const unsigned char *content, size_t n, struct fl_error *err)
{
	struct fl_buf tmp, out;
	char mode_s[16], uid_s[32], gid_s[32], where[1024], desc[64];
	const char *args[] = { path, mode_s, uid_s, gid_s, NULL };
	int status = 0, rc = -1;

	fl_buf_init(&tmp, 4096);
	fl_buf_init(&out, 64 << 10);
	snprintf(mode_s, sizeof(mode_s), "%o",
		 (unsigned)json_integer_value(json_object_get(rec, "file_mode")) & 07777u);
	snprintf(uid_s, sizeof(uid_s), "%lld",
		 (long long)json_integer_value(json_object_get(rec, "uid")));
	snprintf(gid_s, sizeof(gid_s), "%lld",
		 (long long)json_integer_value(json_object_get(rec, "gid")));
	if (fx_stdin_file(&tmp, content, n, err) < 0)
		goto out;
	rc = fx_script(h, recreate_script, args, tmp.buf, FILE_REMOTE_ATTEMPTS, &out, &status, err);
	unlink(tmp.buf);
	if (rc < 0)
		goto out;
	rc = -1;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: recreate %s: %s",
			     fx_where(h, path, where, sizeof(where)),
			     fl_status_describe(status, desc, sizeof(desc)), out.buf);
		goto out;
	}
	if (strncmp(out.buf, "exists", 6) == 0)
		fl_injector_note(rec, "file exists; already recovered, left alone");
	else
		fl_injector_note(rec, "recreated the file (%zu bytes)", n);
	rc = 0;
out:
	fl_buf_release(&tmp);
	fl_buf_release(&out);
	return rc;
}

static int revert_delete(const struct fl_ssh *h, const json_t *rec, const char *path,
			 struct fl_error *err)
{
	const json_t *content_j =
		json_object_get(json_array_get(json_object_get(rec, "regions"), 0), "original");
	json_int_t size = json_integer_value(json_object_get(rec, "size"));
	unsigned char *content = NULL;
	size_t n = 0;
	struct fl_buf tmp;
	struct stat st;
	int fd = -1, rc = -1;

	fl_buf_init(&tmp, 8192);
	if (!h && lstat(path, &st) == 0) {
		fl_injector_note(rec, "file exists; already recovered, left alone");
		rc = 0;
		goto out;
	}
	if (!h && errno != ENOENT) {
		fl_error_set(err, FL_EXIT_ENV, "%s: stat: %s", path, strerror(errno));
		goto out;
	}
	content = hex_decode(content_j, &n);
	if (!content || (json_int_t)n != size) {
		fl_error_set(err, FL_EXIT_ENV, "%s: revert record has malformed content", path);
		goto out;
	}
	if (h) {
		rc = revert_delete_remote(h, rec, path, content, n, err);
		goto out;
	}
	/* A whole file comes back atomically: readers see none or all of it. */
	fl_buf_addf(&tmp, "%s.faultline-XXXXXX", path);
	if (tmp.failed) {
		fl_error_set(err, FL_EXIT_ENV, "%s: path too long", path);
		goto out;
	}
	fd = mkstemp(tmp.buf);
	if (fd < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot create: %s", tmp.buf, strerror(errno));
		goto out;
	}
	if (pwrite_full(fd, content, n, 0) < 0 ||
	    fchmod(fd, (mode_t)json_integer_value(json_object_get(rec, "file_mode"))) < 0 ||
	    fsync(fd) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: write: %s", tmp.buf, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	/* Ownership only matters (and only works) when running as root. */
	if (fchown(fd, (uid_t)json_integer_value(json_object_get(rec, "uid")),
		   (gid_t)json_integer_value(json_object_get(rec, "gid"))) < 0 &&
	    errno != EPERM) {
		fl_error_set(err, FL_EXIT_ENV, "%s: chown: %s", tmp.buf, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	if (rename(tmp.buf, path) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: rename: %s", path, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	fsync_dir_of(path);
	fl_injector_note(rec, "recreated the file (%zu bytes)", n);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	fl_free(content);
	fl_buf_release(&tmp);
	return rc;
}

static int file_revert(const json_t *revert, struct fl_error *err)
{
	const char *path = json_string_value(json_object_get(revert, "path"));
	const char *mode_s = json_string_value(json_object_get(revert, "mode"));
	struct fl_ssh host;
	const struct fl_ssh *h;
	int remote, rc;

	if (!path)
		return fl_error_set(err, FL_EXIT_ENV, "file revert record has no path");
	remote = fx_host(revert, &host, err);
	if (remote < 0)
		return -1;
	h = remote ? &host : NULL;
	switch (file_mode_parse(mode_s)) {
	case FILE_FLIP:
	case FILE_ZERO: rc = revert_regions(h, revert, path, err); break;
	case FILE_TRUNCATE: rc = revert_truncate(h, revert, path, err); break;
	case FILE_DELETE: rc = revert_delete(h, revert, path, err); break;
	default:
		rc = fl_error_set(err, FL_EXIT_ENV, "%s: revert record has an unknown mode '%s'",
				  path, mode_s ? mode_s : "");
	}
	fl_ssh_release(&host);
	return rc;
}

static char *file_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	const json_t *p = fault->params;
	const char *mode = json_string_value(json_object_get(p, "mode"));
	const char *path = target && target->path ? target->path : "?";
	struct fl_buf b;

	fl_buf_init(&b, 4096);
	switch (file_mode_parse(mode)) {
	case FILE_FLIP:
		if (json_object_get(p, "offsets"))
			fl_buf_addf(&b, "file: flip %zu byte(s) of %s",
				    json_array_size(json_object_get(p, "offsets")), path);
		else
			fl_buf_addf(&b, "file: flip %lld random byte(s) of %s (seed %lld)",
				    (long long)json_integer_value(json_object_get(p, "count")), path,
				    json_object_get(p, "seed") ? (long long)json_integer_value(
									 json_object_get(p, "seed"))
							       : 1LL);
		break;
	case FILE_ZERO:
		fl_buf_addf(&b, "file: zero %lld bytes at offset %lld of %s",
			    (long long)json_integer_value(json_object_get(p, "length")),
			    (long long)json_integer_value(json_object_get(p, "offset")), path);
		break;
	case FILE_TRUNCATE:
		fl_buf_addf(&b, "file: truncate %s to %lld bytes", path,
			    (long long)json_integer_value(json_object_get(p, "length")));
		break;
	case FILE_DELETE: fl_buf_addf(&b, "file: delete %s", path); break;
	default: fl_buf_addf(&b, "file: %s %s", mode ? mode : "?", path);
	}
	return fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_file = {
	.name = "file",
	.summary =
		"flip bits in, zero, truncate or delete a file, here or over ssh; revert restores what is still broken",
	.target_kinds = 1u << FL_TARGET_FILE,
	.rearm = file_rearm,
	.validate = file_validate,
	.prepare = file_prepare,
	.inject = file_inject,
	.revert = file_revert,
	.describe = file_describe,
};
