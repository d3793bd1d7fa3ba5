/*
 * ssh: remote argv through the system's OpenSSH client (ssh.h).
 */
#include "core/ssh.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/doc.h"
#include "core/spawn.h"

/* ssh notices a dead link after ServerAliveInterval * ServerAliveCountMax;
 * a fresh connection gives up after ConnectTimeout. */
#define SSH_CONNECT_TIMEOUT "ConnectTimeout=5"
#define SSH_ALIVE_INTERVAL "ServerAliveInterval=2"
#define SSH_ALIVE_COUNT "ServerAliveCountMax=3"
#define SSH_CONTROL_PERSIST "ControlPersist=60"
#define SSH_RETRY_MAX_NS (8 * FL_NS_PER_S)

void fl_ssh_release(struct fl_ssh *h)
{
	if (!h)
		return;
	fl_free(h->destination);
	fl_free(h->identity);
	fl_free(h->jump);
	fl_free(h->config);
	*h = (struct fl_ssh){ 0 };
}

void fl_ssh_free(struct fl_ssh *h)
{
	fl_ssh_release(h);
	fl_free(h);
}

int fl_ssh_check(const struct fl_ssh *h, struct fl_error *err)
{
	/* ssh would read "-oProxyCommand=..." as an option, not a host. */
	if (!h->destination || !h->destination[0] || h->destination[0] == '-' ||
	    strpbrk(h->destination, " \t\r\n"))
		return fl_error_set(err, FL_EXIT_INPUT,
				    "ssh destination '%s': expected user@host or host (no spaces, not starting with '-')",
				    h->destination ? h->destination : "");
	if (h->jump && (!h->jump[0] || h->jump[0] == '-' || strpbrk(h->jump, " \t\r\n")))
		return fl_error_set(err, FL_EXIT_INPUT,
				    "ssh jump host '%s': expected [user@]host[:port] (no spaces, not starting with '-')",
				    h->jump);
	if (h->port < 0 || h->port > 65535)
		return fl_error_set(err, FL_EXIT_INPUT, "ssh port %ld: expected 1..65535", h->port);
	return 0;
}

/* ---- quoting ------------------------------------------------------------------ */

int fl_ssh_quote(struct fl_buf *out, const char *arg)
{
	/* Single quotes make every byte literal except ' itself, which cannot
	 * appear inside them: close, add an escaped quote, reopen. */
	fl_buf_add(out, "'", 1);
	for (const char *p = arg; *p; p++) {
		if (*p == '\'')
			fl_buf_add(out, "'\\''", 4);
		else
			fl_buf_add(out, p, 1);
	}
	fl_buf_add(out, "'", 1);
	return out->failed ? -1 : 0;
}

char *fl_ssh_command(const char *const *argv, struct fl_error *err)
{
	struct fl_buf b;
	if (!argv || !argv[0]) {
		fl_error_set(err, FL_EXIT_INPUT, "empty remote command");
		return NULL;
	}
	fl_buf_init(&b, 0);
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			fl_buf_add(&b, " ", 1);
		fl_ssh_quote(&b, argv[i]);
	}
	if (b.failed) {
		fl_buf_release(&b);
		fl_error_oom(err, "remote command %s", argv[0]);
		return NULL;
	}
	return fl_buf_detach(&b);
}

/* ---- journal form ---------------------------------------------------------------- */

json_t *fl_ssh_to_json(const struct fl_ssh *h)
{
	json_t *j = json_pack("{s:s, s:s*, s:s*, s:s*}", "destination", h->destination, "identity",
			      h->identity, "jump", h->jump, "config", h->config);
	if (j && h->port > 0 && json_object_set_new(j, "port", json_integer(h->port)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int dup_member(const json_t *j, const char *key, char **out, struct fl_error *err)
{
	const json_t *v = json_object_get(j, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fl_error_set(err, FL_EXIT_ENV, "ssh record: '%s' is not a string", key);
	*out = fl_strdup(json_string_value(v));
	return *out ? 0 : fl_error_oom(err, "ssh record");
}

int fl_ssh_from_json(const json_t *j, struct fl_ssh *h, struct fl_error *err)
{
	const json_t *port = json_object_get(j, "port");
	*h = (struct fl_ssh){ 0 };
	if (!json_is_object(j))
		return fl_error_set(err, FL_EXIT_ENV, "ssh record: expected an object");
	if (dup_member(j, "destination", &h->destination, err) < 0 ||
	    dup_member(j, "identity", &h->identity, err) < 0 ||
	    dup_member(j, "jump", &h->jump, err) < 0 || dup_member(j, "config", &h->config, err) < 0)
		goto fail;
	if (port && !json_is_integer(port)) {
		fl_error_set(err, FL_EXIT_ENV, "ssh record: 'port' is not an integer");
		goto fail;
	}
	h->port = port ? (long)json_integer_value(port) : 0;
	if (fl_ssh_check(h, err) < 0)
		goto fail;
	return 0;
fail:
	fl_ssh_release(h);
	return -1;
}

const char *fl_ssh_name(const struct fl_ssh *h, char *buf, size_t n)
{
	if (h->port > 0)
		snprintf(buf, n, "%s:%ld", h->destination ? h->destination : "?", h->port);
	else
		snprintf(buf, n, "%s", h->destination ? h->destination : "?");
	return buf;
}

/* ---- running ------------------------------------------------------------------- */

int fl_ssh_control_dir(char *buf, size_t n, struct fl_error *err)
{
	const char *dir = getenv("FAULTLINE_SSH_CONTROL_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int w;

	if (dir && dir[0])
		w = snprintf(buf, n, "%s", dir);
	else if (xdg && xdg[0] == '/')
		w = snprintf(buf, n, "%s/faultline-ssh", xdg);
	else
		w = snprintf(buf, n, "/tmp/faultline-ssh-%ld", (long)geteuid());
	/* A unix socket path holds 108 bytes: the dir, "/", %C (40) and ssh's
	 * temporary suffix (17) must fit. */
	if (w < 0 || (size_t)w >= n || w > 108 - 1 - 40 - 17 - 1)
		return fl_error_set(err, FL_EXIT_ENV,
				    "ssh control directory '%s': path too long for a socket", buf);
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return fl_error_set(err, FL_EXIT_ENV, "ssh control directory %s: %s", buf,
				    strerror(errno));
	if (lstat(buf, &st) < 0)
		return fl_error_set(err, FL_EXIT_ENV, "ssh control directory %s: %s", buf,
				    strerror(errno));
	/* Its sockets are open sessions on the hosts: anyone who can reach
	 * them runs commands there as us. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return fl_error_set(err, FL_EXIT_ENV,
				    "ssh control directory %s: must be a directory owned by uid %ld with mode 0700",
				    buf, (long)geteuid());
	return 0;
}

/* The ssh argv for h running remote[], or (remote NULL) the control
 * command `ssh -O control` for h's master connection. */
static char **ssh_argv_build(const struct fl_ssh *h, const char *const *remote, const char *control,
			     struct fl_error *err)
{
	char dir[256], port[32];
	char *cmd = NULL, *cpath = NULL;
	char **argv = NULL;
	const char *v[32];
	size_t k = 0;
	struct fl_buf b;

	if (fl_ssh_check(h, err) < 0 || fl_ssh_control_dir(dir, sizeof(dir), err) < 0)
		return NULL;
	if (remote) {
		cmd = fl_ssh_command(remote, err);
		if (!cmd)
			return NULL;
	}
	fl_buf_init(&b, 4096);
	fl_buf_addf(&b, "ControlPath=%s/%%C", dir);
	if (b.failed) {
		fl_error_oom(err, "ssh %s", h->destination);
		goto out;
	}
	cpath = fl_buf_detach(&b);
	v[k++] = "ssh";
	if (h->config) {
		v[k++] = "-F";
		v[k++] = h->config;
	}
	/* Never a password or passphrase prompt: a drill has nobody to type. */
	v[k++] = "-o";
	v[k++] = "BatchMode=yes";
	v[k++] = "-o";
	v[k++] = "ControlMaster=auto";
	v[k++] = "-o";
	v[k++] = cpath;
	v[k++] = "-o";
	v[k++] = SSH_CONTROL_PERSIST;
	v[k++] = "-o";
	v[k++] = SSH_CONNECT_TIMEOUT;
	v[k++] = "-o";
	v[k++] = SSH_ALIVE_INTERVAL;
	v[k++] = "-o";
	v[k++] = SSH_ALIVE_COUNT;
	/* Only errors: a warning on stdout would corrupt the bytes a remote
	 * command returns. */
	v[k++] = "-o";
	v[k++] = "LogLevel=ERROR";
	if (h->port > 0) {
		snprintf(port, sizeof(port), "%ld", h->port);
		v[k++] = "-p";
		v[k++] = port;
	}
	if (h->identity) {
		v[k++] = "-i";
		v[k++] = h->identity;
	}
	if (h->jump) {
		v[k++] = "-J";
		v[k++] = h->jump;
	}
	if (control) {
		v[k++] = "-O";
		v[k++] = control;
	} else {
		v[k++] = "-T";
	}
	v[k++] = "--";
	v[k++] = h->destination;
	if (cmd)
		v[k++] = cmd;
	v[k] = NULL;
	argv = fl_strv_dup(FL_UNCONST(char *const *, v));
	if (!argv)
		fl_error_oom(err, "ssh %s", h->destination);
out:
	fl_free(cmd);
	fl_free(cpath);
	return argv;
}

char **fl_ssh_argv(const struct fl_ssh *h, const char *const *remote, struct fl_error *err)
{
	if (!remote || !remote[0]) {
		fl_error_set(err, FL_EXIT_INPUT, "empty remote command");
		return NULL;
	}
	return ssh_argv_build(h, remote, NULL, err);
}

/* Ends h's master connection (best effort): one that hangs on a dead link
 * would hang every session multiplexed over it, and ssh would not open a
 * fresh connection while it lives. */
static void master_exit(const struct fl_ssh *h)
{
	struct fl_error ignored;
	char **argv;
	int st;
	fl_error_init(&ignored);
	argv = ssh_argv_build(h, NULL, "exit", &ignored);
	if (!argv)
		return;
	fl_run_argv((const char *const *)argv, 5 * FL_NS_PER_S, NULL, &st, NULL, &ignored);
	fl_strv_free(argv);
}

/* The last non-empty line of out from offset `from`, for the error. */
static const char *last_line(struct fl_buf *out, size_t from, char *buf, size_t n)
{
	size_t end = out->len, start;
	while (end > from && (out->buf[end - 1] == '\n' || out->buf[end - 1] == '\r'))
		end--;
	start = end;
	while (start > from && out->buf[start - 1] != '\n')
		start--;
	if (end <= start)
		return "no message from ssh";
	snprintf(buf, n, "%.*s", (int)(end - start), out->buf + start);
	return buf;
}

int fl_ssh_run_argv(const struct fl_ssh *h, const char *const *remote, int64_t timeout_ns,
		    struct fl_buf *out, int *status, const struct fl_ssh_opts *opts,
		    struct fl_error *err)
{
	struct fl_spawn_opts so = { 0 };
	struct fl_buf mine;
	struct fl_buf *o = out;
	char **argv;
	char name[256], line[512];
	int attempts = opts && opts->attempts > 1 ? opts->attempts : 1;
	int64_t backoff = FL_NS_PER_S;
	int st = 0, rc = -1, i;
	size_t from = 0;

	argv = fl_ssh_argv(h, remote, err);
	if (!argv)
		return -1;
	so.stdin_path = opts ? opts->stdin_path : NULL;
	so.stdin_data = opts ? opts->stdin_data : NULL;
	so.stdin_len = opts ? opts->stdin_len : 0;
	so.stop = opts ? opts->stop : NULL;
	fl_buf_init(&mine, 64 << 10);
	if (!o)
		o = &mine; /* still needed for ssh's reason when it fails */
	line[0] = '\0';
	for (i = 1; i <= attempts; i++) {
		from = o->len;
		if (fl_run_argv((const char *const *)argv, timeout_ns, o, &st, &so, err) < 0)
			goto out;
		if (st == -1) {
			/* No answer in time: most likely a master connection stuck
			 * on a dead link. Close it; the next attempt connects afresh. */
			master_exit(h);
			if (attempts == 1)
				break; /* one try: the caller sees "timed out" */
			snprintf(line, sizeof(line), "no answer within %lld s",
				 (long long)(timeout_ns / FL_NS_PER_S));
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != FL_SSH_EXIT_UNREACHABLE) {
			break;
		} else {
			last_line(o, from, line, sizeof(line));
		}
		if (i == attempts || (opts && opts->stop && atomic_load(opts->stop)))
			break;
		/* Whatever this attempt printed is not the command's output. */
		if (o->len > from) {
			o->len = from;
			o->buf[from] = '\0';
		}
		fl_sleep_until(fl_now_ns() + backoff, opts ? opts->stop : NULL, 50 * FL_NS_PER_MS);
		backoff = backoff * 2 > SSH_RETRY_MAX_NS ? SSH_RETRY_MAX_NS : backoff * 2;
	}
	if ((st == -1 && attempts > 1) ||
	    (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == FL_SSH_EXIT_UNREACHABLE)) {
		fl_error_set(err, FL_EXIT_ENV, "host '%s': unreachable after %d attempt%s: %s",
			     fl_ssh_name(h, name, sizeof(name)), i > attempts ? attempts : i,
			     (i > attempts ? attempts : i) == 1 ? "" : "s",
			     line[0] ? line : "ssh exited 255");
		goto out;
	}
	if (status)
		*status = st;
	rc = 0;
out:
	fl_buf_release(&mine);
	fl_strv_free(argv);
	return rc;
}
