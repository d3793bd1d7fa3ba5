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
 * inject() returns once the damage is in effect for every reader (pwrite,
 * ftruncate or unlink: the page cache), so t0 sits there; settle(), called
 * by the runner after t0, makes it durable (fsync of the file, or of its
 * directory for delete). revert() writes with pwrite + fsync.
 * A remote file (the target has `ssh`, docs/remote.md) gets the same
 * capture, damage and revert rules through file_io.h; its host is
 * journaled with the fault. revert() lives in file_revert.c. Does not own: detecting the corruption
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
#include "injectors/file_io.h"
#include "injectors/file_revert.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/ssh.h"

#define FILE_FLIP_MAX_COUNT 65536L

static const char truncate_script[] = "truncate -s \"$2\" -- \"$1\" && sync -- \"$1\"";

static const char delete_script[] = "rm -- \"$1\" && sync";

/* ---- validate --------------------------------------------------------------- */

/* mode flip: exactly one of `offsets` and `count` (+ `seed`, `range`). */
static int validate_flip(struct fl_doc *doc, json_t *params, struct fl_error *err)
{
	json_t *offsets, *range, *v;
	long n = 0;
	size_t i;

	offsets = fl_doc_array(doc, params, "offsets", 0, err);
	if (fl_error_is_set(err))
		return -1;
	json_array_foreach(offsets, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			fl_doc_error_value(doc, v, err, "'offsets': expected integers >= 0");
			return -1;
		}
	}
	if (fl_doc_int(doc, params, "count", 0, 1, FILE_FLIP_MAX_COUNT, &n, err) < 0 ||
	    fl_doc_int(doc, params, "seed", 0, 0, LONG_MAX, &n, err) < 0)
		return -1;
	if (!!offsets == !!json_object_get(params, "count")) {
		fl_doc_error_value(doc, params, err,
				   "mode flip needs exactly one of 'offsets' and 'count'");
		return -1;
	}
	if (offsets && json_array_size(offsets) == 0) {
		fl_doc_error_value(doc, offsets, err, "'offsets': empty");
		return -1;
	}
	if (offsets && json_object_get(params, "seed")) {
		fl_doc_error_key(doc, params, "seed", err, "'seed' goes with 'count', not 'offsets'");
		return -1;
	}
	range = fl_doc_array(doc, params, "range", 0, err);
	if (fl_error_is_set(err))
		return -1;
	if (range && (json_array_size(range) != 2 || !json_is_integer(json_array_get(range, 0)) ||
		      !json_is_integer(json_array_get(range, 1)) ||
		      json_integer_value(json_array_get(range, 0)) < 0 ||
		      json_integer_value(json_array_get(range, 1)) <=
			      json_integer_value(json_array_get(range, 0)))) {
		fl_doc_error_value(doc, range, err,
				   "'range': expected [start, end) with 0 <= start < end");
		return -1;
	}
	if (range && offsets) {
		fl_doc_error_key(doc, params, "range", err,
				 "'range' goes with 'count', not 'offsets'");
		return -1;
	}
	return 0;
}

static int file_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			 const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params;
	char *mode_s = NULL;
	long n = 0;
	int mode, rc = -1;

	if (!target || target->kind != FL_TARGET_FILE) {
		fl_doc_error_value(doc, params, err,
				   "fault '%s': the file injector needs a target of kind file",
				   fault->name);
		goto out;
	}
	if (fl_doc_string(doc, params, "mode", 1, &mode_s, err) < 0)
		goto out;
	mode = fl_file_mode_parse(mode_s);
	if (mode < 0) {
		fl_doc_error_value(doc, json_object_get(params, "mode"), err,
				   "unknown file mode '%s' (expected flip, zero, truncate or delete)",
				   mode_s);
		goto out;
	}
	switch (mode) {
	case FL_FILE_FLIP:
		if (validate_flip(doc, params, err) < 0)
			goto out;
		break;
	case FL_FILE_ZERO:
		if (fl_doc_int(doc, params, "offset", 1, 0, LONG_MAX, &n, err) < 0 ||
		    fl_doc_int(doc, params, "length", 1, 1, (long)FL_FILE_SAVE_LIMIT, &n, err) < 0)
			goto out;
		break;
	case FL_FILE_TRUNCATE:
		if (fl_doc_int(doc, params, "length", 1, 0, LONG_MAX, &n, err) < 0)
			goto out;
		break;
	case FL_FILE_DELETE: break;
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
	got = fl_file_pread(fd, buf, len, (off_t)off);
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
		      "original", fl_file_hex_encode(buf, len));
	if (r && flip) {
		for (size_t i = 0; i < len; i++)
			buf[i] ^= 0xff;
		if (json_object_set_new(r, "written", fl_file_hex_encode(buf, len)) < 0) {
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
/* The sorted offsets to flip: the listed ones, or `count` drawn from `seed`
 * within `range` (the seed is recorded in rec). *offs is the caller's. */
static int flip_offsets(const json_t *params, const struct stat *st, json_t *rec, const char *path,
			uint64_t **offs, size_t *noffs, struct fl_error *err)
{
	const json_t *offsets = json_object_get(params, "offsets"), *v;
	const json_t *range = json_object_get(params, "range"), *seed_j;
	json_int_t count = json_integer_value(json_object_get(params, "count"));
	unsigned long seed;
	uint64_t start = 0, end = (uint64_t)st->st_size;
	size_t i;

	*noffs = offsets ? json_array_size(offsets) : (size_t)count;
	*offs = fl_calloc(*noffs ? *noffs : 1, sizeof(**offs));
	if (!*offs)
		return fl_error_oom(err, "%s", path);
	if (offsets) {
		json_array_foreach(offsets, i, v)
			(*offs)[i] = (uint64_t)json_integer_value(v);
		qsort(*offs, *noffs, sizeof(**offs), cmp_u64);
		return 0;
	}
	seed_j = json_object_get(params, "seed");
	seed = seed_j ? (unsigned long)json_integer_value(seed_j) : 1;
	if (range) {
		start = (uint64_t)json_integer_value(json_array_get(range, 0));
		end = (uint64_t)json_integer_value(json_array_get(range, 1));
		if (end > (uint64_t)st->st_size)
			return fl_error_set(err, FL_EXIT_INPUT,
					    "%s: range end %llu is past the end of the file (%lld bytes)",
					    path, (unsigned long long)end, (long long)st->st_size);
	}
	if (start >= end)
		return fl_error_set(err, FL_EXIT_INPUT, "%s: nothing to flip in [%llu, %llu)", path,
				    (unsigned long long)start, (unsigned long long)end);
	if (flip_offsets_draw(start, end, (long)count, seed, *offs, err, path) < 0)
		return -1;
	if (json_object_set_new(rec, "seed", json_integer((json_int_t)seed)) < 0)
		return fl_error_oom(err, "%s", path);
	return 0;
}

static int capture_flip(const json_t *params, const struct stat *st, int fd, json_t *rec,
			json_t *regions, const char *path, struct fl_error *err)
{
	uint64_t *offs = NULL;
	size_t noffs = 0;
	int rc = -1;

	if (flip_offsets(params, st, rec, path, &offs, &noffs, err) < 0)
		goto out;
	for (size_t i = 0; i < noffs; i++) {
		/* A repeated offset would flip twice and undo itself. */
		if (i > 0 && offs[i] == offs[i - 1])
			continue;
		if (region_capture(regions, fd, offs[i], 1, 1, path, err) < 0)
			goto out;
	}
	rc = 0;
out:
	fl_free(offs);
	return rc;
}

/* Saves, into rec's regions, what mode will change in the file open on fd. */
static int capture_regions(int mode, const json_t *params, const struct stat *st, int fd,
			   json_t *rec, const char *path, struct fl_error *err)
{
	json_t *regions = json_object_get(rec, "regions");
	json_int_t off = json_integer_value(json_object_get(params, "offset"));
	json_int_t len = json_integer_value(json_object_get(params, "length"));
	size_t saved;

	switch (mode) {
	case FL_FILE_FLIP: return capture_flip(params, st, fd, rec, regions, path, err);
	case FL_FILE_ZERO:
		if ((size_t)len > FL_FILE_SAVE_LIMIT)
			return fl_error_set(err, FL_EXIT_INPUT,
					    "%s: cannot save more than %zu bytes for revert", path,
					    FL_FILE_SAVE_LIMIT);
		return region_capture(regions, fd, (uint64_t)off, (size_t)len, 0, path, err);
	case FL_FILE_TRUNCATE:
		if (len >= (json_int_t)st->st_size)
			return fl_error_set(err, FL_EXIT_INPUT,
					    "%s: truncate length %lld is not below the file size %lld",
					    path, (long long)len, (long long)st->st_size);
		saved = (size_t)(st->st_size - len);
		if (saved > FL_FILE_SAVE_LIMIT)
			return fl_error_set(err, FL_EXIT_INPUT,
					    "%s: cannot save the %zu bytes cut off for revert (limit %zu)",
					    path, saved, FL_FILE_SAVE_LIMIT);
		if (region_capture(regions, fd, (uint64_t)len, saved, 0, path, err) < 0)
			return -1;
		if (json_object_set_new(rec, "length", json_integer(len)) < 0)
			return fl_error_oom(err, "%s", path);
		return 0;
	case FL_FILE_DELETE:
		if ((size_t)st->st_size > FL_FILE_SAVE_LIMIT)
			return fl_error_set(err, FL_EXIT_INPUT,
					    "%s: cannot save %lld bytes for revert (limit %zu)",
					    path, (long long)st->st_size, FL_FILE_SAVE_LIMIT);
		return region_capture(regions, fd, 0, (size_t)st->st_size, 0, path, err);
	}
	return fl_error_set(err, FL_EXIT_INPUT, "%s: bad file mode", path);
}

static json_t *file_capture(const struct fl_ssh *h, const json_t *params, const char *fault_name,
			    const char *target_name, const char *path, struct fl_error *err)
{
	json_t *rec = NULL;
	int fd = -1, mode = fl_file_mode_parse(json_string_value(json_object_get(params, "mode")));
	struct stat st;

	if (mode < 0) {
		fl_error_set(err, FL_EXIT_INPUT, "%s: bad file mode", fault_name);
		goto fail;
	}
	switch (fl_fx_open(h, path, &fd, &st, 1, err)) {
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
			"target", target_name, "path", path, "mode", fl_file_mode_name(mode),
			"size", (json_int_t)st.st_size, "file_mode", (int)(st.st_mode & 07777),
			"uid", (int)st.st_uid, "gid", (int)st.st_gid, "regions", json_array());
	if (!rec)
		goto oom;
	/* The host goes into the journal with the fault: `faultline recover`
	 * reverts a remote fault from the record alone. */
	if (h && json_object_set_new(rec, "ssh", fl_ssh_to_json(h)) < 0)
		goto oom;
	if (capture_regions(mode, params, &st, fd, rec, path, err) < 0)
		goto fail;
	close(fd);
	return rec;
oom:
	fl_error_oom(err, "%s", path);
fail:
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
	remote = fl_fx_host(revert, &host, err);
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

/* Runs one of the damage scripts on h; a non-zero exit is an error naming
 * what ("truncate", "delete") and where. */
static int inject_remote(const struct fl_ssh *h, const char *script, const char *const *args,
			 const char *what, const char *where, struct fl_error *err)
{
	struct fl_buf out;
	char desc[64];
	int status = 0, rc = -1;

	fl_buf_init(&out, 64 << 10);
	if (fl_fx_script(h, script, args, NULL, 0, 1, &out, &status, err) < 0)
		goto out;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: %s %s: %s", where, what,
			     fl_status_describe(status, desc, sizeof(desc)), out.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

/* flip, zero: writes each region's "written" bytes (zeros when absent). */
static int inject_regions(const struct fl_ssh *h, const json_t *revert, const char *path,
			  struct fl_error *err)
{
	const json_t *regions = json_object_get(revert, "regions"), *r;
	struct fl_file_write *w = fl_calloc(json_array_size(regions) + 1, sizeof(*w));
	size_t i, n = 0;
	int rc = -1;

	if (!w)
		return fl_error_oom(err, "%s", path);
	json_array_foreach(FL_UNCONST(json_t *, regions), i, r) {
		size_t len = (size_t)json_integer_value(json_object_get(r, "length")), k = 0;
		if (json_object_get(r, "written"))
			w[n].data = fl_file_hex_decode(json_object_get(r, "written"), &k);
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
	rc = fl_fx_write(h, path, w, n, 0, 1, err); /* durable in file_settle() */
out:
	fl_file_writes_free(w, n);
	return rc;
}

static int inject_truncate(const struct fl_ssh *h, const json_t *revert, const char *path,
			   const char *where, struct fl_error *err)
{
	json_int_t len = json_integer_value(json_object_get(revert, "length"));
	char len_s[32];
	const char *args[] = { path, len_s, NULL };
	int fd;

	if (h) {
		snprintf(len_s, sizeof(len_s), "%lld", (long long)len);
		return inject_remote(h, truncate_script, args, "truncate", where, err);
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) { /* fsync: file_settle() */
		fl_error_set(err, FL_EXIT_ENV, "%s: truncate: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int inject_delete(const struct fl_ssh *h, const char *path, const char *where,
			 struct fl_error *err)
{
	const char *args[] = { path, NULL };

	if (h)
		return inject_remote(h, delete_script, args, "delete", where, err);
	if (unlink(path) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: delete: %s", path, strerror(errno));
	return 0; /* the directory's fsync: file_settle() */
}

static int file_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
		       json_t *revert, struct fl_error *err)
{
	const char *path = json_string_value(json_object_get(revert, "path"));
	struct fl_ssh host;
	const struct fl_ssh *h = NULL;
	char where[1024];
	int rc, remote;

	(void)target;
	if (!path)
		return fl_error_set(err, FL_EXIT_ENV, "fault '%s': revert record has no path",
				    fault->name);
	remote = fl_fx_host(revert, &host, err);
	if (remote < 0)
		return -1;
	h = remote ? &host : NULL;
	fl_fx_where(h, path, where, sizeof(where));
	/* The bytes to restore were re-captured by file_rearm() and journaled
	 * before this call: act on the record exactly as journaled. */
	switch (fl_file_mode_parse(json_string_value(json_object_get(revert, "mode")))) {
	case FL_FILE_FLIP:
	case FL_FILE_ZERO: rc = inject_regions(h, revert, path, err); break;
	case FL_FILE_TRUNCATE: rc = inject_truncate(h, revert, path, where, err); break;
	case FL_FILE_DELETE: rc = inject_delete(h, path, where, err); break;
	default: rc = fl_error_set(err, FL_EXIT_ENV, "%s: bad mode in revert record", path);
	}
	fl_ssh_release(&host);
	return rc;
}

/* Makes durable what file_inject() put in effect, after t0: an fsync of the
 * file (flip, zero, truncate) or of its directory (delete). A remote file
 * was synced by its script inside inject (one ssh round trip). */
static int file_settle(const struct fl_fault_spec *fault, const struct fl_target *target,
		       const json_t *revert, struct fl_error *err)
{
	const char *path = json_string_value(json_object_get(revert, "path"));
	int mode = fl_file_mode_parse(json_string_value(json_object_get(revert, "mode")));

	(void)target;
	if (!path)
		return fl_error_set(err, FL_EXIT_ENV, "fault '%s': revert record has no path",
				    fault->name);
	if (json_object_get(revert, "ssh"))
		return 0;
	return fl_file_fsync(path, mode == FL_FILE_DELETE, err);
}

/* ---- describe ------------------------------------------------------------------ */

static char *file_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	const json_t *p = fault->params;
	const char *mode = json_string_value(json_object_get(p, "mode"));
	const char *path = target && target->path ? target->path : "?";
	struct fl_buf b;

	fl_buf_init(&b, 4096);
	switch (fl_file_mode_parse(mode)) {
	case FL_FILE_FLIP:
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
	case FL_FILE_ZERO:
		fl_buf_addf(&b, "file: zero %lld bytes at offset %lld of %s",
			    (long long)json_integer_value(json_object_get(p, "length")),
			    (long long)json_integer_value(json_object_get(p, "offset")), path);
		break;
	case FL_FILE_TRUNCATE:
		fl_buf_addf(&b, "file: truncate %s to %lld bytes", path,
			    (long long)json_integer_value(json_object_get(p, "length")));
		break;
	case FL_FILE_DELETE: fl_buf_addf(&b, "file: delete %s", path); break;
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
	.settle = file_settle,
	.revert = fl_file_revert,
	.describe = file_describe,
};
