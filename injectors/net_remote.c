/*
 * net_remote: network partitions (nft) and latency (tc netem) on a host
 * reached over ssh, with the host's own tools. Every script below is a
 * constant; target data reaches it only as quoted positional parameters
 * (core/ssh.h), a ruleset only on stdin.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "injectors/net_remote.h"
#include "injectors/injector.h"
#include "injectors/netns.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"
#include "core/ssh.h"

#define NR_TIMEOUT_NS (20 * FL_NS_PER_S)
#define NR_OUTPUT_LIMIT ((size_t)64 << 10)
#define NR_LAT_HANDLE "fa17"

/* sshd's own tools live in sbin, which a non-root PATH may lack. */
#define NR_PATH "PATH=$PATH:/usr/sbin:/sbin; "

/* One round trip: nft there and usable, then where our session comes from
 * ("client_ip client_port server_ip server_port"). */
static const char nft_check_script[] = NR_PATH
	"command -v nft >/dev/null 2>&1 || { echo 'nft is not installed'; exit 3; }\n"
	"e=$(nft list tables 2>&1) || { printf 'nft cannot run: %s\\n' \"$e\" | head -n 1; exit 3; }\n"
	"echo \"ssh $SSH_CONNECTION\"\n";

/* $1 the table: deleted when there, "gone" when not. */
static const char nft_delete_script[] =
	NR_PATH "if nft list table inet \"$1\" >/dev/null 2>&1; then\n"
		"  nft delete table inet \"$1\" 2>&1 && echo deleted\n"
		"else echo gone; fi\n";

/* $1 peer address or "": tc and a working netem (tried in a throwaway
 * network namespace), the interface towards $1 (else towards the ssh
 * client) and whether its root qdisc is a default one (handle 0:). */
static const char lat_check_script[] = NR_PATH
	"command -v tc >/dev/null 2>&1 || { echo 'tc is not installed (iproute2)'; exit 3; }\n"
	"command -v unshare >/dev/null 2>&1 || { echo 'unshare is not installed (util-linux)'; exit 3; }\n"
	"e=$(unshare -n tc qdisc add dev lo root netem delay 1ms 2>&1) || {\n"
	"  printf 'tc netem does not work there (%s)\\n' \"$e\" | head -n 1; exit 4; }\n"
	"to=${1%/*}; [ -n \"$to\" ] || to=${SSH_CONNECTION%% *}\n"
	"[ -n \"$to\" ] || { echo 'no SSH_CONNECTION: cannot tell the interface'; exit 3; }\n"
	"r=$(ip route get \"$to\" 2>&1) || { printf 'no route to %s\\n' \"$to\"; exit 3; }\n"
	"dev=$(printf '%s\\n' \"$r\" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p' | head -n 1)\n"
	"q=$(tc qdisc show dev \"$dev\" root | head -n 1)\n"
	"case \"$q\" in *\" 0: root\"*|\"\") ;; *) printf 'interface %s has its own root qdisc (%s): not replaced\\n' \"$dev\" \"$q\"; exit 3;; esac\n"
	"echo \"dev $dev\"\n";

/* $1 device, $2 handle: our netem root qdisc deleted when still there. */
static const char lat_delete_script[] = NR_PATH
	"q=$(tc qdisc show dev \"$1\" root 2>/dev/null | head -n 1)\n"
	"case \"$q\" in *\"netem $2: root\"*) tc qdisc del dev \"$1\" root 2>&1 && echo deleted;;\n"
	"*) echo gone;; esac\n";

/* Runs script (args after $0) or argv on h; stdin_text, when non-NULL, is
 * its stdin (an anonymous memfd: core/spawn.h). 0 with *status, or -1 with
 * err set. */
static int nr_run(const struct fl_ssh *h, const char *script, const char *const *args,
		  const char *stdin_text, int attempts, struct fl_buf *out, int *status,
		  struct fl_error *err)
{
	const char *argv[12] = { "sh", "-c", script, "sh" };
	struct fl_ssh_opts o = { .attempts = attempts,
				 .stdin_data = stdin_text,
				 .stdin_len = stdin_text ? strlen(stdin_text) : 0 };
	size_t k = 4;

	for (size_t i = 0; args && args[i] && k < FL_ARRAY_LEN(argv) - 1; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	return fl_ssh_run_argv(h, argv, NR_TIMEOUT_NS, out, status, &o, err);
}

/* The remote command's verdict: 0 when it exited 0, else -1 with "WHAT on
 * host 'H': <its first line>". */
static int nr_status(const struct fl_ssh *h, const char *what, int status, const struct fl_buf *out,
		     struct fl_error *err)
{
	char hn[256], how[64];
	size_t len = strcspn(out->buf, "\n");

	if (status == 0)
		return 0;
	fl_ssh_name(h, hn, sizeof(hn));
	if (len == 0)
		return fl_error_set(err, FL_EXIT_ENV, "%s on host '%s': %s", what, hn,
				    status < 0 ? "no answer in time"
					       : fl_status_describe(status, how, sizeof(how)));
	return fl_error_set(err, FL_EXIT_ENV, "%s on host '%s': %.*s", what, hn,
			    (int)(len > 300 ? 300 : len), out->buf);
}

/* The line of out starting with key and a space: its rest (borrowed from
 * out, the line's end cut), or NULL. */
static char *nr_line(struct fl_buf *out, const char *key)
{
	size_t n = strlen(key);
	for (char *p = out->buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, n) == 0 && p[n] == ' ') {
			p[n + 1 + strcspn(p + n + 1, "\n")] = '\0';
			return p + n + 1;
		}
	return NULL;
}

static int nr_from_rec(const json_t *rec, struct fl_ssh *h, struct fl_error *err)
{
	*h = (struct fl_ssh){ 0 };
	return fl_ssh_from_json(json_object_get(rec, "ssh"), h, err);
}

/* ---- network ------------------------------------------------------------- */

int fl_net_remote_prepare(const char *fault, const struct fl_target *target, json_t *rec,
			  struct fl_error *err)
{
	struct fl_buf out;
	char client[128], what[256];
	char *conn;
	long sport = 0;
	int status = 0, v6 = 0, rc = -1;
	json_t *ex;

	snprintf(what, sizeof(what), "network fault '%s': checking nft", fault);
	fl_buf_init(&out, NR_OUTPUT_LIMIT);
	if (nr_run(target->ssh, nft_check_script, NULL, NULL, 1, &out, &status, err) < 0 ||
	    nr_status(target->ssh, what, status, &out, err) < 0)
		goto out;
	conn = nr_line(&out, "ssh");
	/* client_ip client_port server_ip server_port */
	if (!conn || sscanf(conn, "%127s %*s %*s %ld", client, &sport) != 2 ||
	    fl_net_addr_check(client, &v6) < 0 || sport < 1 || sport > 65535) {
		fl_error_set(err, FL_EXIT_ENV,
			     "network fault '%s': host '%s' did not say where our ssh session comes from (SSH_CONNECTION '%s'): refusing a partition that could cut it",
			     fault, target->ssh->destination, conn ? conn : "");
		goto out;
	}
	ex = json_pack("{s:s, s:i}", "addr", client, "port", (int)sport);
	if (!ex || json_object_set_new(rec, "exempt", ex) < 0 ||
	    json_object_set_new(rec, "ssh", fl_ssh_to_json(target->ssh)) < 0 ||
	    !json_object_get(rec, "ssh")) {
		fl_error_oom(err, "network fault '%s'", fault);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

int fl_net_remote_load(const json_t *rec, const char *ruleset, struct fl_error *err)
{
	static const char script[] = NR_PATH "nft -f - 2>&1";
	struct fl_ssh h;
	struct fl_buf out;
	int status = 0, rc = -1;

	if (nr_from_rec(rec, &h, err) < 0)
		return -1;
	fl_buf_init(&out, NR_OUTPUT_LIMIT);
	if (nr_run(&h, script, NULL, ruleset, 1, &out, &status, err) == 0 &&
	    nr_status(&h, "nft -f", status, &out, err) == 0)
		rc = 0;
	fl_buf_release(&out);
	fl_ssh_release(&h);
	return rc;
}

int fl_net_remote_revert(const json_t *rec, struct fl_error *err)
{
	const char *table = json_string_value(json_object_get(rec, "table"));
	const char *args[] = { table, NULL };
	struct fl_ssh h;
	struct fl_buf out;
	char hn[256];
	int status = 0, rc = -1;

	if (!table)
		return fl_error_set(err, FL_EXIT_ENV, "network revert: record has no table");
	if (nr_from_rec(rec, &h, err) < 0)
		return -1;
	fl_buf_init(&out, NR_OUTPUT_LIMIT);
	if (nr_run(&h, nft_delete_script, args, NULL, FL_NET_REMOTE_ATTEMPTS, &out, &status, err) < 0 ||
	    nr_status(&h, "network revert: nft delete table", status, &out, err) < 0)
		goto out;
	fl_ssh_name(&h, hn, sizeof(hn));
	if (strncmp(out.buf, "gone", 4) == 0)
		fl_injector_note(rec, "table %s on %s: already gone", table, hn);
	else
		fl_injector_note(rec, "table %s on %s deleted", table, hn);
	rc = 0;
out:
	fl_buf_release(&out);
	fl_ssh_release(&h);
	return rc;
}

/* ---- latency ------------------------------------------------------------- */

int fl_lat_remote_prepare(const char *fault, const struct fl_target *target, const char *peer,
			  json_t *rec, struct fl_error *err)
{
	const char *args[] = { peer ? peer : "", NULL };
	struct fl_buf out;
	const char *dev;
	char what[256];
	int status = 0, rc = -1;

	snprintf(what, sizeof(what), "latency fault '%s': checking tc netem", fault);
	fl_buf_init(&out, NR_OUTPUT_LIMIT);
	if (nr_run(target->ssh, lat_check_script, args, NULL, 1, &out, &status, err) < 0 ||
	    nr_status(target->ssh, what, status, &out, err) < 0)
		goto out;
	dev = nr_line(&out, "dev");
	if (!dev || !dev[0]) {
		fl_error_set(err, FL_EXIT_ENV, "latency fault '%s': host '%s' named no interface",
			     fault, target->ssh->destination);
		goto out;
	}
	if (json_object_set_new(rec, "dev", json_string(dev)) < 0 ||
	    json_object_set_new(rec, "handle", json_string(NR_LAT_HANDLE)) < 0 ||
	    json_object_set_new(rec, "ssh", fl_ssh_to_json(target->ssh)) < 0 ||
	    !json_object_get(rec, "ssh") || !json_object_get(rec, "dev")) {
		fl_error_oom(err, "latency fault '%s'", fault);
		goto out;
	}
	rc = 0;
out:
	fl_buf_release(&out);
	return rc;
}

int fl_lat_remote_inject(const json_t *rec, struct fl_error *err)
{
	const char *dev = json_string_value(json_object_get(rec, "dev"));
	const char *handle = json_string_value(json_object_get(rec, "handle"));
	long long delay_us = (long long)(json_integer_value(json_object_get(rec, "delay_ns")) / 1000);
	long long jitter_us =
		(long long)(json_integer_value(json_object_get(rec, "jitter_ns")) / 1000);
	char hd[32], d[32], j[32];
	const char *argv[] = { "tc",     "qdisc", "add",   "dev",   dev, "root",
			       "handle", hd,      "netem", "delay", d,   jitter_us > 0 ? j : NULL,
			       NULL };
	struct fl_ssh h;
	struct fl_buf out;
	struct fl_ssh_opts o = { .attempts = 1 };
	int status = 0, rc = -1;

	if (!dev || !handle)
		return fl_error_set(err, FL_EXIT_ENV, "latency: record has no dev or handle");
	snprintf(hd, sizeof(hd), "%s:", handle);
	snprintf(d, sizeof(d), "%lldus", delay_us);
	snprintf(j, sizeof(j), "%lldus", jitter_us);
	if (nr_from_rec(rec, &h, err) < 0)
		return -1;
	fl_buf_init(&out, NR_OUTPUT_LIMIT);
	if (fl_ssh_run_argv(&h, argv, NR_TIMEOUT_NS, &out, &status, &o, err) == 0 &&
	    nr_status(&h, "tc qdisc add netem", status, &out, err) == 0)
		rc = 0;
	fl_buf_release(&out);
	fl_ssh_release(&h);
	return rc;
}

int fl_lat_remote_revert(const json_t *rec, struct fl_error *err)
{
	const char *dev = json_string_value(json_object_get(rec, "dev"));
	const char *handle = json_string_value(json_object_get(rec, "handle"));
	const char *args[] = { dev, handle, NULL };
	struct fl_ssh h;
	struct fl_buf out;
	char hn[256];
	int status = 0, rc = -1;

	if (!dev || !handle)
		return fl_error_set(err, FL_EXIT_ENV, "latency revert: record has no dev or handle");
	if (nr_from_rec(rec, &h, err) < 0)
		return -1;
	fl_buf_init(&out, NR_OUTPUT_LIMIT);
	if (nr_run(&h, lat_delete_script, args, NULL, FL_NET_REMOTE_ATTEMPTS, &out, &status, err) < 0 ||
	    nr_status(&h, "latency revert: tc qdisc del", status, &out, err) < 0)
		goto out;
	fl_ssh_name(&h, hn, sizeof(hn));
	fl_injector_note(rec, "netem on %s of %s: %s", dev, hn,
			 strncmp(out.buf, "gone", 4) == 0 ? "already gone" : "deleted");
	rc = 0;
out:
	fl_buf_release(&out);
	fl_ssh_release(&h);
	return rc;
}
