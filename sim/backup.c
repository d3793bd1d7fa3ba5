/*
 * backup: reads pgBackRest's catalogue (`info --output=json`) and keeps only
 * the figure DR planners ask for: when did the newest good backup end.
 * Strict about the shape it relies on (a wrong shape means the command is
 * not what the inventory says it is) and lenient about everything else
 * pgBackRest adds between versions.
 */
#include "sim/backup.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* pgBackRest's info JSON is small (a few KB per hundred backups); a larger
 * output is not a catalogue. */
#define BACKUP_OUTPUT_LIMIT ((size_t)16 << 20)

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* One backup entry: 1 when it is good and newer than *best, 0 when skipped,
 * -1 on a malformed entry. */
static int backup_consider(const char *name, const char *stanza, size_t i, json_t *b,
			   struct fl_backup_info *best, struct fl_error *err)
{
	json_t *ts, *stop, *type, *label, *error;
	if (!json_is_object(b))
		return fl_error_set(err, FL_EXIT_ENV, "%s: stanza '%s': backup %zu is not an object",
				    name, stanza, i + 1);
	ts = json_object_get(b, "timestamp");
	stop = json_object_get(ts, "stop");
	type = json_object_get(b, "type");
	label = json_object_get(b, "label");
	error = json_object_get(b, "error");
	if (!json_is_integer(stop) || json_integer_value(stop) <= 0)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: stanza '%s': backup %zu has no integer 'timestamp.stop'",
				    name, stanza, i + 1);
	if (!json_is_string(type))
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: stanza '%s': backup %zu has no string 'type'", name,
				    stanza, i + 1);
	if (!json_is_string(label))
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: stanza '%s': backup %zu has no string 'label'", name,
				    stanza, i + 1);
	if (error && !json_is_boolean(error))
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: stanza '%s': backup %zu: 'error' is not a boolean", name,
				    stanza, i + 1);
	if (json_is_true(error))
		return 0;
	/* Epoch seconds; anything past year 2262 would overflow ns. */
	if (json_integer_value(stop) > INT64_MAX / FL_NS_PER_S)
		return fl_error_set(err, FL_EXIT_ENV,
				    "%s: stanza '%s': backup %zu: 'timestamp.stop' out of range",
				    name, stanza, i + 1);
	if ((int64_t)json_integer_value(stop) * FL_NS_PER_S <= best->stop_wall_ns)
		return 0;
	best->stop_wall_ns = (int64_t)json_integer_value(stop) * FL_NS_PER_S;
	copy_str(best->type, sizeof(best->type), json_string_value(type));
	copy_str(best->label, sizeof(best->label), json_string_value(label));
	copy_str(best->stanza, sizeof(best->stanza), stanza);
	return 1;
}

int fl_backup_info_parse(const char *name, const char *text, struct fl_backup_info *out,
			 struct fl_error *err)
{
	json_error_t je;
	json_t *root, *st;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	root = json_loads(text ? text : "", 0, &je);
	if (!root)
		return fl_error_set(err, FL_EXIT_ENV, "%s: not pgBackRest info JSON: line %d: %s",
				    name, je.line, je.text);
	if (!json_is_array(root)) {
		fl_error_set(err, FL_EXIT_ENV,
			     "%s: not pgBackRest info JSON: expected an array of stanzas", name);
		goto out;
	}
	json_array_foreach(root, i, st) {
		json_t *sname, *backups, *b;
		size_t k;
		if (!json_is_object(st)) {
			fl_error_set(err, FL_EXIT_ENV, "%s: stanza %zu is not an object", name,
				     i + 1);
			goto out;
		}
		sname = json_object_get(st, "name");
		if (!json_is_string(sname)) {
			fl_error_set(err, FL_EXIT_ENV, "%s: stanza %zu has no string 'name'", name,
				     i + 1);
			goto out;
		}
		/* A stanza that was never backed up (status 2, "no valid backups")
		 * lists an empty array; treat an absent one the same way. */
		backups = json_object_get(st, "backup");
		if (!backups)
			continue;
		if (!json_is_array(backups)) {
			fl_error_set(err, FL_EXIT_ENV, "%s: stanza '%s': 'backup' is not an array",
				     name, json_string_value(sname));
			goto out;
		}
		json_array_foreach(backups, k, b)
			if (backup_consider(name, json_string_value(sname), k, b, out, err) < 0)
				goto out;
	}
	rc = out->stop_wall_ns > 0 ? 1 : 0;
out:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	json_decref(root);
	return rc;
}

int fl_backup_info_run(const char *const *argv, const char *cwd, int64_t timeout_ns,
		       atomic_int *stop, struct fl_backup_info *out, struct fl_error *err)
{
	struct fl_spawn_opts so = { 0 };
	struct fl_buf buf;
	struct fl_error e;
	char desc[64];
	int status = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	fl_buf_init(&buf, BACKUP_OUTPUT_LIMIT);
	fl_error_init(&e);
	so.cwd = cwd;
	so.stop = stop;
	if (!argv || !argv[0]) {
		fl_error_set(err, FL_EXIT_ENV, "backup_info: empty command");
		goto out;
	}
	if (fl_run_argv(argv, timeout_ns, &buf, &status, &so, &e) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "backup_info %s: %s", argv[0], e.msg);
		goto out;
	}
	if (buf.failed) {
		fl_error_set(err, FL_EXIT_ENV, "backup_info %s: output too large or out of memory",
			     argv[0]);
		goto out;
	}
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *nl;
		while (buf.len && (buf.buf[buf.len - 1] == '\n' || buf.buf[buf.len - 1] == ' '))
			buf.buf[--buf.len] = '\0';
		nl = buf.len ? strrchr(buf.buf, '\n') : NULL;
		fl_error_set(err, FL_EXIT_ENV, "backup_info %s %s%s%s", argv[0],
			     fl_status_describe(status, desc, sizeof(desc)), buf.len ? ": " : "",
			     buf.len ? (nl ? nl + 1 : buf.buf) : "");
		goto out;
	}
	/* stdout and stderr arrive together: skip log lines pgBackRest may
	 * print before the JSON (log-level-console, log-level-stderr). */
	{
		const char *text = buf.len ? buf.buf : "";
		const char *p = text;
		while (*p && *p != '[') {
			const char *nl = strchr(p, '\n');
			if (!nl)
				break;
			p = nl + 1;
		}
		rc = fl_backup_info_parse(argv[0], *p == '[' ? p : text, out, err);
	}
out:
	fl_buf_release(&buf);
	return rc;
}
