/*
 * file_revert: puts back what the file injector took, but only where the
 * damage is still in place. A region is restored only while it still holds
 * the bytes we wrote (one a recovery step already repaired is counted as
 * recovered and left alone); a deleted file is recreated only while it is
 * absent (temp file + rename); a truncated one re-extended only while it
 * still has the truncated size. Here or over ssh (file_io.h).
 *
 * Owns: reading the revert record and the restore scripts. Does not own:
 * capturing or damaging (file.c), the I/O primitives (file_io.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/file_revert.h"
#include "injectors/injector.h"
#include "injectors/file_io.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/spawn.h"
#include "core/ssh.h"

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

/* ---- revert -------------------------------------------------------------------- */

/* Restores byte regions still holding what we wrote. Counts go to the outcome. */
static int revert_regions(const struct fl_ssh *h, const json_t *rec, const char *path,
			  struct fl_error *err)
{
	const json_t *regions = json_object_get(rec, "regions"), *r;
	size_t i, restored = 0, recovered = 0, untouched = 0;
	unsigned char *orig = NULL, *want = NULL, *cur = NULL;
	struct fl_file_write *w = NULL;
	struct stat st;
	int fd = -1, rc = -1;

	switch (fl_fx_open(h, path, &fd, &st, FL_FILE_REMOTE_ATTEMPTS, err)) {
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
		orig = fl_file_hex_decode(json_object_get(r, "original"), &no);
		want = json_object_get(r, "written")
			       ? fl_file_hex_decode(json_object_get(r, "written"), &nw)
			       : fl_calloc(len ? len : 1, 1);
		cur = fl_malloc(len ? len : 1);
		if (!orig || !want || !cur || no != len || nw != len) {
			fl_error_set(err, FL_EXIT_ENV, "%s: revert record region %zu is malformed",
				     path, i);
			goto out;
		}
		got = fl_file_pread(fd, cur, len, off);
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
	if (restored && fl_fx_write(h, path, w, restored, 1, FL_FILE_REMOTE_ATTEMPTS, err) < 0)
		goto out;
	fl_injector_note(rec,
			 "restored %zu region(s); %zu already recovered (changed since), left alone; %zu intact",
			 restored, recovered, untouched);
	rc = 0;
out:
	fl_file_writes_free(w, restored);
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
	struct fl_buf out;
	char len_s[32], where[1024], desc[64];
	const char *args[] = { path, len_s, NULL };
	long long now = -1;
	int status = 0, rc = -1;

	fl_buf_init(&out, 64 << 10);
	snprintf(len_s, sizeof(len_s), "%lld", (long long)length);
	rc = fl_fx_script(h, untruncate_script, args, tail, ntail, FL_FILE_REMOTE_ATTEMPTS, &out,
			  &status, err);
	if (rc < 0)
		goto out;
	rc = -1;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: restore %s: %s",
			     fl_fx_where(h, path, where, sizeof(where)),
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

	tail = fl_file_hex_decode(tail_j, &ntail);
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
	if (fl_file_pwrite(fd, tail, ntail, (off_t)length) < 0 || fsync(fd) < 0) {
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
	struct fl_buf out;
	char mode_s[16], uid_s[32], gid_s[32], where[1024], desc[64];
	const char *args[] = { path, mode_s, uid_s, gid_s, NULL };
	int status = 0, rc = -1;

	fl_buf_init(&out, 64 << 10);
	snprintf(mode_s, sizeof(mode_s), "%o",
		 (unsigned)json_integer_value(json_object_get(rec, "file_mode")) & 07777u);
	snprintf(uid_s, sizeof(uid_s), "%lld",
		 (long long)json_integer_value(json_object_get(rec, "uid")));
	snprintf(gid_s, sizeof(gid_s), "%lld",
		 (long long)json_integer_value(json_object_get(rec, "gid")));
	rc = fl_fx_script(h, recreate_script, args, content, n, FL_FILE_REMOTE_ATTEMPTS, &out,
			  &status, err);
	if (rc < 0)
		goto out;
	rc = -1;
	if (status != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: recreate %s: %s",
			     fl_fx_where(h, path, where, sizeof(where)),
			     fl_status_describe(status, desc, sizeof(desc)), out.buf);
		goto out;
	}
	if (strncmp(out.buf, "exists", 6) == 0)
		fl_injector_note(rec, "file exists; already recovered, left alone");
	else
		fl_injector_note(rec, "recreated the file (%zu bytes)", n);
	rc = 0;
out:
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
	content = fl_file_hex_decode(content_j, &n);
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
	if (fl_file_pwrite(fd, content, n, 0) < 0 ||
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
	fl_file_fsync_dir(path);
	fl_injector_note(rec, "recreated the file (%zu bytes)", n);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	fl_free(content);
	fl_buf_release(&tmp);
	return rc;
}

int fl_file_revert(const json_t *revert, struct fl_error *err)
{
	const char *path = json_string_value(json_object_get(revert, "path"));
	const char *mode_s = json_string_value(json_object_get(revert, "mode"));
	struct fl_ssh host;
	const struct fl_ssh *h;
	int remote, rc;

	if (!path)
		return fl_error_set(err, FL_EXIT_ENV, "file revert record has no path");
	remote = fl_fx_host(revert, &host, err);
	if (remote < 0)
		return -1;
	h = remote ? &host : NULL;
	switch (fl_file_mode_parse(mode_s)) {
	case FL_FILE_FLIP:
	case FL_FILE_ZERO: rc = revert_regions(h, revert, path, err); break;
	case FL_FILE_TRUNCATE: rc = revert_truncate(h, revert, path, err); break;
	case FL_FILE_DELETE: rc = revert_delete(h, revert, path, err); break;
	default:
		rc = fl_error_set(err, FL_EXIT_ENV, "%s: revert record has an unknown mode '%s'",
				  path, mode_s ? mode_s : "");
	}
	fl_ssh_release(&host);
	return rc;
}
