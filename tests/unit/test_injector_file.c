/*
 * Unit tests for injectors/file.c (with file_io.c, file_revert.c): every
 * mode damages exactly what it says
 * and revert puts the file back byte for byte — from the revert record alone
 * (serialized and parsed again, as after a crash), idempotently, and never
 * over a repair someone else already made.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"

#define FILE_SIZE 8192

struct fx {
	char dir[256];
	char path[300];
	unsigned char orig[FILE_SIZE];
	struct fl_doc *doc;
	struct fl_fault_spec fault;
	struct fl_target target;
	const struct fl_injector_ops *ops;
};

static void write_bytes(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Whole file into a new buffer; *n = its size, NULL when absent. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
	struct fl_buf b;
	struct fl_error e;
	fl_buf_init(&b, 0);
	fl_error_init(&e);
	if (fl_read_file(path, 1 << 20, &b, &e) < 0) {
		fl_buf_release(&b);
		*n = 0;
		return NULL;
	}
	*n = b.len;
	return (unsigned char *)fl_buf_detach(&b);
}

static int setup(void **state)
{
	struct fx *fx = fl_calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/fl-file-XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/data.db", fx->dir);
	/* A pattern with no zero bytes and no 0xff bytes, so damage always shows. */
	for (size_t i = 0; i < FILE_SIZE; i++)
		fx->orig[i] = (unsigned char)(1 + (i * 7 + i / 251) % 253);
	write_bytes(fx->path, fx->orig, FILE_SIZE, 0640);
	fx->ops = fl_injector_find("file");
	assert_non_null(fx->ops);
	fx->target.name = "db-file";
	fx->target.kind = FL_TARGET_FILE;
	fx->target.path = fx->path;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	char other[320];
	fl_doc_free(fx->doc);
	unlink(fx->path);
	snprintf(other, sizeof(other), "%s/other", fx->dir);
	unlink(other);
	rmdir(fx->dir);
	fl_free(fx);
	return 0;
}

/* Loads the fault from JSON text and validates it as the loader would. */
static int fault_load(struct fx *fx, const char *text, struct fl_error *err)
{
	fl_doc_free(fx->doc);
	fx->doc = fl_doc_load_string("scenario.json", text, err);
	assert_non_null(fx->doc);
	fx->fault.name = "corrupt";
	fx->fault.injector = "file";
	fx->fault.target = "db-file";
	fx->fault.params = fl_doc_root(fx->doc);
	for (size_t i = 0; i < 5; i++)
		fl_doc_mark(fx->doc, fx->fault.params,
			    (const char *[]){ "name", "injector", "target", "after", "duration" }[i]);
	return fx->ops->validate(fx->doc, &fx->fault, &fx->target, err);
}

/* prepare + inject, then returns the record as a crashed harness would see
 * it: serialized to the journal and parsed back. */
static json_t *inject_and_reload(struct fx *fx)
{
	struct fl_error e;
	json_t *rec, *back;
	char *text;
	fl_error_init(&e);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	if (fx->ops->inject(&fx->fault, &fx->target, rec, &e) < 0)
		fail_msg("inject: %s", e.msg);
	assert_false(fl_error_is_set(&e));
	text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	back = json_loads(text, 0, NULL);
	fl_free(text);
	assert_non_null(back);
	return back;
}

static void revert_ok(json_t *rec)
{
	struct fl_error e;
	fl_error_init(&e);
	assert_int_equal(fl_injector_revert("file", rec, &e), 0);
	assert_false(fl_error_is_set(&e));
}

static void assert_file_is_original(struct fx *fx)
{
	size_t n;
	unsigned char *now = read_bytes(fx->path, &n);
	assert_non_null(now);
	assert_int_equal(n, FILE_SIZE);
	assert_memory_equal(now, fx->orig, FILE_SIZE);
	fl_free(now);
}

static const char *outcome(const json_t *rec)
{
	return json_string_value(json_object_get(rec, "outcome"));
}

static void test_zero_round_trip(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	unsigned char *now;
	size_t n;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    "{\"name\":\"corrupt\",\"injector\":\"file\",\"target\":\"db-file\","
				    "\"mode\":\"zero\",\"offset\":4096,\"length\":1024}",
				    &e),
			 0);
	rec = inject_and_reload(fx);
	now = read_bytes(fx->path, &n);
	assert_int_equal(n, FILE_SIZE);
	for (size_t i = 0; i < FILE_SIZE; i++)
		assert_int_equal(now[i], i >= 4096 && i < 5120 ? 0 : fx->orig[i]);
	fl_free(now);

	revert_ok(rec);
	assert_file_is_original(fx);
	assert_non_null(strstr(outcome(rec), "restored 1 region"));
	/* Twice is a no-op. */
	revert_ok(rec);
	assert_file_is_original(fx);
	assert_non_null(strstr(outcome(rec), "restored 0 region"));
	json_decref(rec);
}

static void test_flip_offsets_round_trip(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	unsigned char *now;
	size_t n;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"flip\",\"offsets\":[0, 17, 8191, 17]}", &e), 0);
	rec = inject_and_reload(fx);
	now = read_bytes(fx->path, &n);
	assert_int_equal(n, FILE_SIZE);
	for (size_t i = 0; i < FILE_SIZE; i++) {
		/* 17 is listed twice but flipped once: a double flip would undo itself. */
		int hit = i == 0 || i == 17 || i == 8191;
		assert_int_equal(now[i], hit ? (fx->orig[i] ^ 0xff) : fx->orig[i]);
	}
	fl_free(now);
	revert_ok(rec);
	assert_file_is_original(fx);
	json_decref(rec);
}

static void test_flip_seeded_is_reproducible(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	json_t *a, *b, *rec;
	unsigned char *now;
	size_t n, differ = 0;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    "{\"mode\":\"flip\",\"count\":50,\"seed\":42,\"range\":[1024,2048]}",
				    &e),
			 0);
	a = fx->ops->prepare(&fx->fault, &fx->target, &e);
	b = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(json_object_get(a, "regions"), json_object_get(b, "regions")));
	assert_int_equal(json_array_size(json_object_get(a, "regions")), 50);
	json_decref(a);
	json_decref(b);

	rec = inject_and_reload(fx);
	now = read_bytes(fx->path, &n);
	for (size_t i = 0; i < FILE_SIZE; i++) {
		if (now[i] != fx->orig[i]) {
			differ++;
			assert_true(i >= 1024 && i < 2048);
			assert_int_equal(now[i], fx->orig[i] ^ 0xff);
		}
	}
	assert_int_equal(differ, 50);
	fl_free(now);
	revert_ok(rec);
	assert_file_is_original(fx);
	json_decref(rec);
}

static void test_truncate_round_trip(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	struct stat st;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"truncate\",\"length\":100}", &e), 0);
	rec = inject_and_reload(fx);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 100);
	revert_ok(rec);
	assert_file_is_original(fx);
	revert_ok(rec);
	assert_file_is_original(fx);
	assert_non_null(strstr(outcome(rec), "original size"));
	json_decref(rec);
}

static void test_delete_round_trip(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	struct stat st;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"delete\"}", &e), 0);
	rec = inject_and_reload(fx);
	assert_int_equal(stat(fx->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	revert_ok(rec);
	assert_file_is_original(fx);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	revert_ok(rec);
	assert_non_null(strstr(outcome(rec), "already recovered"));
	assert_file_is_original(fx);
	json_decref(rec);
}

/* A recovery step replaced the file (restore from backup): revert must not
 * write our stale bytes over it, in any mode. */
static void test_revert_leaves_recovered_file_alone(void **state)
{
	struct fx *fx = *state;
	static const char *const faults[] = {
		"{\"mode\":\"zero\",\"offset\":0,\"length\":8192}",
		"{\"mode\":\"flip\",\"offsets\":[1,2,3]}",
		"{\"mode\":\"truncate\",\"length\":10}",
		"{\"mode\":\"delete\"}",
	};
	unsigned char other[5000];

	for (size_t i = 0; i < sizeof(other); i++)
		other[i] = (unsigned char)(200 - i % 50);
	for (size_t k = 0; k < FL_ARRAY_LEN(faults); k++) {
		struct fl_error e;
		unsigned char *now;
		size_t n;
		json_t *rec;

		write_bytes(fx->path, fx->orig, FILE_SIZE, 0640);
		fl_error_init(&e);
		assert_int_equal(fault_load(fx, faults[k], &e), 0);
		rec = inject_and_reload(fx);
		write_bytes(fx->path, other, sizeof(other), 0600);
		revert_ok(rec);
		assert_non_null(strstr(outcome(rec), "already recovered"));
		now = read_bytes(fx->path, &n);
		assert_int_equal(n, sizeof(other));
		assert_memory_equal(now, other, sizeof(other));
		fl_free(now);
		json_decref(rec);
	}
}

/* Some flipped bytes repaired by hand, one overwritten with new data: only
 * the regions still holding our damage are restored. */
static void test_revert_partial_recovery(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	unsigned char *now;
	unsigned char b;
	size_t n;
	int fd;
	json_t *rec;

	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"flip\",\"offsets\":[10,20,30]}", &e), 0);
	rec = inject_and_reload(fx);
	fd = open(fx->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &fx->orig[20], 1, 20), 1); /* repaired */
	b = 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, 30), 1); /* new data */
	close(fd);
	revert_ok(rec);
	assert_non_null(strstr(outcome(rec), "restored 1 region(s); 1 already recovered"));
	now = read_bytes(fx->path, &n);
	assert_int_equal(now[10], fx->orig[10]);
	assert_int_equal(now[20], fx->orig[20]);
	assert_int_equal(now[30], 0x5a);
	fl_free(now);
	json_decref(rec);
}

/* Revert when inject never ran (the harness died between journal and
 * inject): nothing changes. */
static void test_revert_without_inject(void **state)
{
	struct fx *fx = *state;
	static const char *const faults[] = {
		"{\"mode\":\"zero\",\"offset\":1,\"length\":2}",
		"{\"mode\":\"flip\",\"count\":3}",
		"{\"mode\":\"truncate\",\"length\":0}",
		"{\"mode\":\"delete\"}",
	};
	for (size_t k = 0; k < FL_ARRAY_LEN(faults); k++) {
		struct fl_error e;
		json_t *rec;
		fl_error_init(&e);
		assert_int_equal(fault_load(fx, faults[k], &e), 0);
		rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
		assert_non_null(rec);
		revert_ok(rec);
		assert_file_is_original(fx);
		json_decref(rec);
	}
}

static void expect_invalid(struct fx *fx, const char *text, const char *msg)
{
	struct fl_error e;
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, text, &e), -1);
	if (!strstr(e.msg, msg))
		fail_msg("expected '%s' in '%s'", msg, e.msg);
}

static void test_validate_errors(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	json_t *rec;

	expect_invalid(fx, "{\"mode\":\"zero\",\"offset\":1,\"length\":2,\n \"lenght\":3}",
		       "scenario.json:2:2: unknown key 'lenght'");
	expect_invalid(fx, "{\"mode\":\"shred\"}", "unknown file mode 'shred'");
	expect_invalid(fx, "{\"mode\":\"flip\",\"offsets\":[1],\"count\":2}",
		       "exactly one of 'offsets' and 'count'");
	expect_invalid(fx, "{\"mode\":\"flip\",\"offsets\":[1,-2]}",
		       "'offsets': expected integers >= 0");
	expect_invalid(fx, "{\"mode\":\"flip\",\"count\":2,\"range\":[5,5]}", "'range'");
	expect_invalid(fx, "{\"mode\":\"zero\",\"offset\":1}", "missing key 'length'");
	expect_invalid(fx, "{\"mode\":\"delete\",\"offset\":1}", "unknown key 'offset'");

	/* Past the end of the file: refused at prepare, before any damage. */
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"zero\",\"offset\":8000,\"length\":500}", &e), 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_null(rec);
	assert_non_null(strstr(e.msg, "past the end of the file"));
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"truncate\",\"length\":8192}", &e), 0);
	assert_null(fx->ops->prepare(&fx->fault, &fx->target, &e));
	assert_non_null(strstr(e.msg, "not below the file size"));
	assert_file_is_original(fx);
}

/* A write that lands between prepare() and the damage must be what revert
 * restores, and rearm() must say the record changed so that the runner
 * journals it before the damage (a SIGKILL in between restores it too). */
static void test_rearm_captures_late_writes(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	unsigned char late[FILE_SIZE], *now;
	size_t n;
	json_t *rec;
	char *text;
	fl_error_init(&e);
	assert_int_equal(fault_load(fx,
				    "{\"name\":\"corrupt\",\"injector\":\"file\",\"target\":\"db-file\","
				    "\"mode\":\"zero\",\"offset\":4096,\"length\":1024}",
				    &e),
			 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	assert_non_null(fx->ops->rearm);
	assert_int_equal(fx->ops->rearm(&fx->fault, &fx->target, rec, &e), 0);
	memcpy(late, fx->orig, FILE_SIZE);
	for (size_t i = 4096; i < 4096 + 1024; i++)
		late[i] = (unsigned char)(late[i] ^ 0x5a);
	write_bytes(fx->path, late, FILE_SIZE, 0640);
	assert_int_equal(fx->ops->rearm(&fx->fault, &fx->target, rec, &e), 1);
	assert_int_equal(fx->ops->rearm(&fx->fault, &fx->target, rec, &e), 0);
	/* What the journal holds now, as a crashed harness would read it. */
	text = json_dumps(rec, JSON_COMPACT);
	assert_int_equal(fx->ops->inject(&fx->fault, &fx->target, rec, &e), 0);
	json_decref(rec);
	rec = json_loads(text, 0, NULL);
	fl_free(text);
	assert_non_null(rec);
	revert_ok(rec);
	json_decref(rec);
	now = read_bytes(fx->path, &n);
	assert_int_equal(n, FILE_SIZE);
	assert_memory_equal(now, late, FILE_SIZE);
	fl_free(now);
}

/* inject() puts the damage in effect (another reader sees it at once) and
 * leaves the fsync to settle(), which the runner calls after t0; settle
 * syncs the file, or the directory of a deleted one, and names the path
 * when it cannot. */
static void test_settle_after_inject(void **state)
{
	static const char *const faults[] = {
		"{\"mode\":\"zero\",\"offset\":0,\"length\":16}",
		"{\"mode\":\"truncate\",\"length\":100}",
		"{\"mode\":\"delete\"}",
	};
	struct fx *fx = *state;
	struct fl_error e;
	char want[400];
	struct stat st;
	json_t *rec;

	assert_non_null(fx->ops->settle);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		fl_error_init(&e);
		assert_int_equal(fault_load(fx, faults[i], &e), 0);
		rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
		assert_non_null(rec);
		assert_int_equal(fx->ops->inject(&fx->fault, &fx->target, rec, &e), 0);
		/* In effect before any settle: what every reader sees now. */
		if (i == 0) {
			unsigned char b[16], zero[16] = { 0 };
			int fd = open(fx->path, O_RDONLY);
			assert_true(fd >= 0);
			assert_int_equal(pread(fd, b, 16, 0), 16);
			close(fd);
			assert_memory_equal(b, zero, 16);
		} else if (i == 1) {
			assert_int_equal(stat(fx->path, &st), 0);
			assert_int_equal(st.st_size, 100);
		} else {
			assert_int_equal(stat(fx->path, &st), -1);
		}
		if (fx->ops->settle(&fx->fault, &fx->target, rec, &e) < 0)
			fail_msg("settle (%s): %s", faults[i], e.msg);
		revert_ok(rec);
		assert_file_is_original(fx);
		json_decref(rec);
	}
	/* The file vanished between inject and settle: an error naming it. */
	assert_int_equal(fault_load(fx, faults[0], &e), 0);
	rec = fx->ops->prepare(&fx->fault, &fx->target, &e);
	assert_non_null(rec);
	assert_int_equal(unlink(fx->path), 0);
	fl_error_init(&e);
	assert_int_equal(fx->ops->settle(&fx->fault, &fx->target, rec, &e), -1);
	assert_int_equal(e.code, FL_EXIT_ENV);
	snprintf(want, sizeof(want), "%s: fsync: No such file or directory", fx->path);
	assert_string_equal(e.msg, want);
	json_decref(rec);
}

static void test_describe(void **state)
{
	struct fx *fx = *state;
	struct fl_error e;
	char *d;
	fl_error_init(&e);
	assert_int_equal(fault_load(fx, "{\"mode\":\"zero\",\"offset\":4096,\"length\":1024}", &e),
			 0);
	d = fx->ops->describe(&fx->fault, &fx->target);
	assert_non_null(strstr(d, "zero 1024 bytes at offset 4096"));
	assert_non_null(strstr(d, fx->path));
	fl_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zero_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_offsets_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_seeded_is_reproducible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_leaves_recovered_file_alone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_revert_partial_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revert_without_inject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settle_after_inject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rearm_captures_late_writes, setup, teardown),
	};
	fl_alloc_install_jansson();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
