/*
 * cli: the command table and the one option parser every command goes
 * through. See cli.h.
 */
#include "cli/cli.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct fl_cmd *const commands[] = {
	&fl_cmd_validate,
	&fl_cmd_run,
	&fl_cmd_recover,
	&fl_cmd_runs,
	&fl_cmd_report,
	&fl_cmd_gate,
	&fl_cmd_gameday,
	&fl_cmd_metrics,
	&fl_cmd_plan,
	&fl_cmd_store,
	NULL,
};

enum { OPT_DB = FL_CLI_OPT_BASE, OPT_JSON };

const struct fl_cmd *const *fl_cli_commands(void)
{
	return commands;
}

const struct fl_cmd *fl_cli_find(const char *name)
{
	for (const struct fl_cmd *const *c = commands; *c; c++)
		if (!strcmp((*c)->name, name))
			return *c;
	return NULL;
}

/* The command's own long options plus the shared ones its flags ask for, as
 * one zero-terminated array (fl_free). NULL when out of memory. */
static struct option *merged_options(const struct fl_cmd *cmd)
{
	size_t n = 0, k = 0;
	struct option *o;
	while (cmd->opts && cmd->opts[n].name)
		n++;
	o = fl_calloc(n + 4, sizeof(*o));
	if (!o)
		return NULL;
	for (; k < n; k++)
		o[k] = cmd->opts[k];
	o[k++] = (struct option){ "help", no_argument, NULL, 'h' };
	if (cmd->flags & FL_CMD_DB)
		o[k++] = (struct option){ "db", required_argument, NULL, OPT_DB };
	if (cmd->flags & FL_CMD_JSON)
		o[k++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	return o;
}

/* ":h" + the command's own short options: the leading ':' makes getopt
 * tell a missing value (':') from an unknown option ('?'). */
static int short_options(const struct fl_cmd *cmd, char *buf, size_t n)
{
	int len = snprintf(buf, n, ":h%s", cmd->shortopts ? cmd->shortopts : "");
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* The option getopt just complained about, as the user wrote it. */
static const char *bad_option(char **argv, char *buf, size_t n)
{
	if (optopt && optopt < FL_CLI_OPT_BASE && optopt != 'h') {
		const char *a = argv[optind - 1];
		/* A short option: name just that letter unless it stood alone. */
		if (a && a[0] == '-' && a[1] != '-' && strlen(a) != 2) {
			snprintf(buf, n, "-%c", optopt);
			return buf;
		}
	}
	return argv[optind - 1];
}

/* Runs getopt_long over argv; fills cli and the command's args. -1 when
 * every option was taken, else the exit code to return (0 after --help). */
static int parse(const struct fl_cmd *cmd, const struct option *longopts, const char *shortopts,
		 int argc, char **argv, void *args, struct fl_cli *cli)
{
	char name[8];
	int c, rc;
	optind = 0; /* GNU: a full re-initialisation, commands run more than once in tests */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'h': cmd->usage(stdout); return fflush(stdout) == 0 ? FL_EXIT_OK : FL_EXIT_ENV;
		case OPT_DB:
			if (!*optarg)
				return fl_cli_usage_error(cmd->name, "--db needs a value");
			cli->db = optarg;
			break;
		case OPT_JSON: cli->json = 1; break;
		case ':':
			return fl_cli_usage_error(cmd->name, "%s needs a value",
						  bad_option(argv, name, sizeof(name)));
		case '?':
			return fl_cli_usage_error(cmd->name, "unknown option '%s'",
						  bad_option(argv, name, sizeof(name)));
		default:
			if (!cmd->option)
				return fl_cli_usage_error(cmd->name, "unknown option '%s'",
							  argv[optind - 1]);
			if ((rc = cmd->option(args, c, optarg, cli)) != 0)
				return rc;
		}
	}
	cli->argc = argc - optind;
	cli->argv = argv + optind;
	if (!(cmd->flags & FL_CMD_OPERANDS) && cli->argc > 0)
		return fl_cli_usage_error(cmd->name, "unexpected argument '%s'", cli->argv[0]);
	return -1;
}

int fl_cli_exec(const struct fl_cmd *cmd, int argc, char **argv)
{
	struct fl_cli cli = { .cmd = cmd->name, .db = fl_cli_default_db() };
	struct option *longopts = merged_options(cmd);
	void *args = cmd->args_size ? fl_calloc(1, cmd->args_size) : NULL;
	char shortopts[64];
	int rc;

	if (!longopts || (cmd->args_size && !args) ||
	    short_options(cmd, shortopts, sizeof(shortopts)) < 0) {
		fprintf(stderr, "faultline %s: out of memory\n", cmd->name);
		fl_free(longopts);
		fl_free(args);
		return FL_EXIT_ENV;
	}
	if (cmd->init)
		cmd->init(args);
	rc = parse(cmd, longopts, shortopts, argc, argv, args, &cli);
	if (rc < 0)
		rc = cmd->run(args, &cli);
	if (cmd->release)
		cmd->release(args);
	fl_free(args);
	fl_free(longopts);
	return rc;
}

int fl_cli_fail(const struct fl_error *err)
{
	fprintf(stderr, "%s\n", err->msg[0] ? err->msg : "faultline: unknown error");
	return err->code ? err->code : FL_EXIT_ENV;
}

int fl_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "faultline %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'faultline %s --help')\n", cmd);
	return FL_EXIT_INPUT;
}

int fl_cli_long(const struct fl_cli *cli, const char *opt, const char *arg, long min, long max,
		long *out)
{
	if (fl_parse_long(arg, min, max, out) == 0)
		return 0;
	if (min == 1)
		return fl_cli_usage_error(cli->cmd, "%s needs a positive whole number, not '%s'",
					  opt, arg);
	return fl_cli_usage_error(cli->cmd, "%s needs a whole number from %ld, not '%s'", opt, min,
				  arg);
}

/* An output that exists and is not a regular file (-o /dev/null, a fifo,
 * /dev/stdout) is written to in place: renaming a file over it would
 * replace the device itself. A directory is an error. */
static int write_special(const char *path, const struct fl_buf *data, struct fl_error *err)
{
	struct stat sb;
	size_t off = 0;
	int fd;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return fl_error_set(err, FL_EXIT_INPUT, "%s: is a directory", path);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
	while (off < data->len) {
		ssize_t n = write(fd, data->buf + off, data->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
	return 0;
}

int fl_cli_write_file(const struct fl_cli *cli, const char *path, const struct fl_buf *data,
		      mode_t mode, struct fl_error *err)
{
	struct fl_buf tmp;
	struct stat sb;
	int fd, rc = -1;

	if (!strcmp(path, "-")) {
		if (fwrite(data->buf, 1, data->len, stdout) != data->len || fflush(stdout) != 0)
			return fl_error_set(err, FL_EXIT_ENV,
					    "faultline %s: cannot write to stdout", cli->cmd);
		return 0;
	}
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return write_special(path, data, err);
	fl_buf_init(&tmp, 4096);
	if (fl_buf_addf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		fl_buf_release(&tmp);
		return fl_error_set(err, FL_EXIT_INPUT, "%s: output path too long", path);
	}
	if ((fd = mkostemp(tmp.buf, O_CLOEXEC)) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, data->buf, data->len) != (ssize_t)data->len || fchmod(fd, mode) != 0 ||
	    fsync(fd) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
		close(fd);
		unlink(tmp.buf);
		goto out;
	}
	if (close(fd) != 0 || rename(tmp.buf, path) != 0) {
		fl_error_set(err, FL_EXIT_ENV, "%s: cannot write: %s", path, strerror(errno));
		unlink(tmp.buf);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&tmp);
	return rc;
}

const char *fl_cli_default_db(void)
{
	const char *db = getenv("FAULTLINE_DB");
	return db && *db ? db : "faultline.db";
}
