/*
 * ssh: running an argv on a remote host through the system's OpenSSH client.
 *
 * Owns: the remote destination of a target (struct fl_ssh: user@host, port,
 * identity, jump host, ssh_config file) and its journal JSON; quoting every
 * argument for the remote POSIX shell (fl_ssh_quote, the one function that
 * turns words into a remote command line); building the local `ssh` argv
 * (BatchMode, ControlMaster=auto with its sockets in a private 0700
 * directory, ControlPersist, StrictHostKeyChecking left as the user's
 * config says); running a remote argv with bounded retries while the host is
 * unreachable. Does not own: what runs remotely (injectors, probes), the
 * user's keys, agent or known_hosts (OpenSSH does), a daemon or agent of our
 * own (there is none).
 *
 * The remote side: sshd hands the command line to the remote user's login
 * shell, which must be a POSIX shell (sh, dash, bash, ksh, zsh): every word
 * is single-quoted, so nothing in it is expanded, split or globbed there.
 */
#ifndef FAULTLINE_CORE_SSH_H
#define FAULTLINE_CORE_SSH_H

#include <stdatomic.h>
#include <stdint.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"

struct fl_ssh {
	char *destination; /* "user@host", "host" or a Host alias of the ssh_config */
	long port;         /* 0: as ssh_config says (22) */
	char *identity;    /* -i FILE, or NULL (agent, ssh_config) */
	char *jump;        /* -J [user@]host[:port], or NULL */
	char *config;      /* -F FILE, or NULL (~/.ssh/config) */
};

#define FL_SSH_EXIT_UNREACHABLE 255 /* ssh's own exit status for "could not connect" */

void fl_ssh_release(struct fl_ssh *h);
void fl_ssh_free(struct fl_ssh *h);
/* 0 when the destination and jump host cannot be read by ssh as an option
 * (they must not start with '-') and are not empty; -1 with err set. */
int fl_ssh_check(const struct fl_ssh *h, struct fl_error *err);

/* ---- quoting ----------------------------------------------------------------
 * Appends arg to out as one word for a POSIX shell: inside single quotes,
 * each ' written as '\'' — nothing inside is special to sh. Returns 0, or -1
 * when out failed (allocation or limit). */
int fl_ssh_quote(struct fl_buf *out, const char *arg);
/* The remote command line for argv: each word quoted, separated by spaces.
 * New string (fl_free) or NULL with err set (empty argv, out of memory). */
char *fl_ssh_command(const char *const *argv, struct fl_error *err);

/* ---- the journal form -------------------------------------------------------
 * {"destination": ..., "port"?: n, "identity"?: ..., "jump"?: ..., "config"?: ...} */
json_t *fl_ssh_to_json(const struct fl_ssh *h);
/* Fills h (released by the caller) from the JSON form; -1 with err set. */
int fl_ssh_from_json(const json_t *j, struct fl_ssh *h, struct fl_error *err);
/* "user@host" or "user@host:port" for messages, into buf. */
const char *fl_ssh_name(const struct fl_ssh *h, char *buf, size_t n);

/* ---- running ------------------------------------------------------------------
 * The directory of the ControlMaster sockets: $FAULTLINE_SSH_CONTROL_DIR, else
 * $XDG_RUNTIME_DIR/faultline-ssh, else /tmp/faultline-ssh-UID. Created 0700;
 * an existing one must be a directory (not a symlink) owned by us with no
 * group or other access, or it is refused: a socket there is a logged-in
 * session to the host. Writes the path into buf. */
int fl_ssh_control_dir(char *buf, size_t n, struct fl_error *err);
/* The local argv running remote[] on h: new vector (fl_strv_free), or NULL
 * with err set. */
char **fl_ssh_argv(const struct fl_ssh *h, const char *const *remote, struct fl_error *err);

struct fl_ssh_opts {
	const char *stdin_path; /* file sent as the remote command's stdin, or NULL */
	const void *stdin_data; /* bytes sent as its stdin (wins over stdin_path; each attempt
				 * reads them from the start; core/spawn.h), or NULL */
	size_t stdin_len;
	int attempts;     /* tries while ssh cannot connect (exit 255); <= 1: once */
	atomic_int *stop; /* abandon (kill ssh) when set, or NULL */
};
/* Runs remote[] on h, waiting at most timeout_ns per attempt. Output (the
 * remote command's stdout and stderr, ssh's errors) goes to out when
 * non-NULL. Returns 0 when the remote command ran (its wait status in
 * *status, -1 when it timed out), -1 with err set (FL_EXIT_ENV) when ssh
 * could not be started or the host stayed unreachable: "host 'user@host':
 * unreachable after N attempts: <ssh's last line>". Between attempts it
 * waits 1 s, 2 s, 4 s, ... (at most 8 s). An attempt that times out ends
 * the host's master connection (it may hang on a dead link); with
 * attempts > 1 it counts as unreachable and is retried, with one attempt
 * *status is -1. */
int fl_ssh_run_argv(const struct fl_ssh *h, const char *const *remote, int64_t timeout_ns,
		    struct fl_buf *out, int *status, const struct fl_ssh_opts *opts,
		    struct fl_error *err);

#endif
