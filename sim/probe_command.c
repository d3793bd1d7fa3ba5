/*
 * probe_command: the command probe kind — ok when argv exits with
 * expect_exit. Each sample is a spawned child (its own process group)
 * whose exit the engine's loop watches through a pidfd handed to the same
 * curl_multi_poll. At most one sample in flight: a process per sample is
 * expensive, and a pile of stuck probe commands would load the very machine
 * being measured; ticks during a running sample are skipped and counted.
 * A sample past its timeout has its whole process group killed. See
 * sim/probe_kind.h.
 */
#include "sim/probe_kind.h"
#include "core/clock.h"
#include "core/spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Poll slice for a command child when pidfds are not available. */
#define COMMAND_CHILD_SLICE_NS (2 * FL_NS_PER_MS)

static int command_status_ok(const struct fl_probe_spec *spec, int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == spec->expect_exit;
}

static int command_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

static void command_reset(struct fl_probe_engine *eng, struct probe *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
	p->in_flight = 0;
	eng->in_flight--;
}

/* Kills a sample's whole process group and reaps it. */
static void command_kill(struct fl_probe_engine *eng, struct probe *p)
{
	int st;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	command_reset(eng, p);
}

static void command_send(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	struct fl_error e;
	size_t idx;
	pid_t pid;

	if (fl_probe_sample_reserve(eng, p, now, &idx) < 0)
		return;
	fl_error_init(&e);
	pid = fl_spawn_argv((const char *const *)p->spec->argv, -1, NULL, &e);
	if (pid < 0) {
		/* A command that cannot start is a failed sample, not a reason
		 * to stop watching the others. */
		fl_probe_sample_done(eng, p, idx, fl_now_ns(), 0);
		return;
	}
	p->pid = pid;
	p->pidfd = command_pidfd_open(pid);
	p->cmd_sent_ns = now;
	p->cmd_sample = idx;
	p->in_flight = 1;
	eng->in_flight++;
}

static void command_poll(struct fl_probe_engine *eng, struct probe *p, int64_t now)
{
	size_t idx = p->cmd_sample;
	siginfo_t info;
	int st = 0, r;
	if (!p->in_flight)
		return;
	/* Peek without reaping, so the group id cannot be reused before
	 * whatever the command left behind is killed with it. */
	memset(&info, 0, sizeof(info));
	r = waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT);
	if (r == 0 && info.si_pid == p->pid) {
		int64_t done = fl_now_ns();
		kill(-p->pid, SIGKILL);
		while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
			;
		command_reset(eng, p);
		fl_probe_sample_done(eng, p, idx, done, command_status_ok(p->spec, st));
	} else if (r < 0 && errno != EINTR) {
		command_reset(eng, p);
		fl_probe_sample_done(eng, p, idx, fl_now_ns(), 0);
	} else if (now - p->cmd_sent_ns >= p->spec->timeout_ns) {
		command_kill(eng, p);
		fl_probe_sample_done(eng, p, idx, now, 0);
	}
}

/* A running sample's timeout, or (without pidfds) a short slice to look at
 * the child again. */
static int64_t command_wake(const struct probe *p, int64_t now, int64_t wake)
{
	int64_t t;
	if (!p->in_flight)
		return wake;
	t = p->cmd_sent_ns + p->spec->timeout_ns;
	if (p->pidfd < 0 && now + COMMAND_CHILD_SLICE_NS < t)
		t = now + COMMAND_CHILD_SLICE_NS;
	return t < wake ? t : wake;
}

static void command_abandon(struct fl_probe_engine *eng, struct probe *p)
{
	if (p->in_flight)
		command_kill(eng, p); /* children must not outlive us */
}

static int command_check_once(const struct fl_probe_spec *spec, int64_t deadline_ns,
			      atomic_int *stop, char *detail, size_t detail_len)
{
	struct fl_spawn_opts opts = { .stop = stop };
	struct fl_error e;
	char dur[32], why[64];
	int64_t timeout = spec->timeout_ns;
	int status = 0;

	if (!spec->argv || !spec->argv[0]) {
		snprintf(detail, detail_len, "empty command");
		return -1;
	}
	/* The drill's deadline cuts the check's own timeout short. */
	if (deadline_ns > 0 && (timeout <= 0 || deadline_ns - fl_now_ns() < timeout))
		timeout = deadline_ns - fl_now_ns() > 0 ? deadline_ns - fl_now_ns() : 1;
	fl_error_init(&e);
	if (fl_run_argv((const char *const *)spec->argv, timeout, NULL, &status, &opts, &e) < 0) {
		snprintf(detail, detail_len, "%s", e.msg);
		return -1;
	}
	if (status == -1 && stop && atomic_load(stop))
		snprintf(detail, detail_len, "interrupted");
	else if (status == -1)
		snprintf(detail, detail_len, "timed out after %s",
			 fl_duration_format(timeout, dur, sizeof(dur)));
	else
		snprintf(detail, detail_len, "%s", fl_status_describe(status, why, sizeof(why)));
	return command_status_ok(spec, status);
}

static int command_ready(const struct fl_probe_spec *spec)
{
	return spec->argv && spec->argv[0];
}

static size_t command_cap(const struct fl_probe_spec *spec)
{
	(void)spec;
	return 1;
}

static int command_attach(struct probe *p)
{
	p->pidfd = -1;
	return 0;
}

static void command_detach(struct probe *p)
{
	(void)p;
}

static int command_parse(struct fl_doc *doc, json_t *obj, struct fl_probe_spec *p, int is_check,
			 struct fl_error *err)
{
	(void)is_check;
	if (fl_doc_strv(doc, obj, "argv", 1, &p->argv, err) < 0 ||
	    fl_doc_int(doc, obj, "expect_exit", 0, 0, 255, &p->expect_exit, err) < 0)
		return -1;
	if (!p->argv[0])
		return fl_doc_error_member(doc, obj, "argv", err,
					   "'argv': expected a non-empty command");
	return 0;
}

const struct fl_probe_kind_ops fl_probe_kind_command = {
	.name = "command",
	.kind = FL_PROBE_COMMAND,
	.parse = command_parse,
	.ready = command_ready,
	.cap = command_cap,
	.attach = command_attach,
	.detach = command_detach,
	.send = command_send,
	.poll = command_poll,
	.wake = command_wake,
	.abandon = command_abandon,
	.check_once = command_check_once,
};
