/*
 * latency injector: delay (and jitter) on a zone's or a host's traffic,
 * without sch_netem: xtables NFQUEUE rules hand the matching packets to
 * faultline-delayq, which holds each one until its due time.
 *
 * Owns: the `latency` fault family, for netns targets (the zone's own
 * traffic, made inside that namespace, loopback never touched) and host
 * targets (an address, and its TCP port when the target names one, seen from
 * this machine: what it sends to, receives from and forwards for it). Keys:
 *   delay      how long each packet is held (required, 1 ms .. 1 h)
 *   jitter     optional: each packet's hold varies uniformly within
 *              delay ± jitter (jitter <= delay), drawn from `seed`
 *              (default 1: the same seed, the same offsets); with jitter
 *              packets can overtake one another, as under netem
 *   direction  "both" (default), "in" (arriving at the target) or "out"
 *              (leaving it); "both" delays a round trip twice
 *   peer       optional address or CIDR: only traffic exchanged with it
 *   queue      optional NFQUEUE number; default: the first free one from
 *              24000 on (queue numbers are per network namespace)
 *   limit      optional: most packets held at once (default 100000); past
 *              it new packets are dropped and counted, as a full buffer does
 * Why xtables and not an nft `queue` rule: this kernel has no nft_queue
 * (CONFIG_NFT_QUEUE unset) but has xt_NFQUEUE through nft_compat, so the
 * rules are loaded with iptables-nft-restore / ip6tables-nft-restore into
 * chains of their own, `fllat_<id>_in|_out|_fwd` in the `filter` table,
 * jumped to from INPUT, OUTPUT and FORWARD.
 *
 * Fail-open, on purpose: the rules say `--queue-bypass` and the queue is
 * bound FAIL_OPEN, so if the delay program dies the packets flow undelayed
 * rather than being dropped — a harness crash must not turn a latency drill
 * into an outage. inject starts the program (inside the namespace for netns
 * targets), waits up to 5 s for its `ready N` line, then loads the rules.
 * prepare() records the chain names, the families, the queue, the program
 * and whether each `filter` table existed; inject adds the program's pid and
 * start time. revert removes the rules FIRST (traffic no longer queued),
 * then stops the program (SIGTERM releases every held packet at once;
 * SIGKILL after 3 s), checking the pid's start time so a reused pid is never
 * signalled; without a journaled pid it finds the program by its `--tag`.
 * A `filter` table that only the fault created is deleted again once it is
 * empty. A namespace already gone leaves only the program to stop (it would
 * keep the namespace alive). A host target with `ssh` is delayed by the
 * host's own tc netem on what it sends instead (net_remote.h). Does not
 * own: loss and partitions (network.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "injectors/netns.h"
#include "injectors/net_remote.h"
#include "injectors/latency_program.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#define LAT_OUTPUT_LIMIT ((size_t)64 << 10)
#define LAT_CHAIN_PREFIX "fllat_"
#define LAT_QUEUE_BASE 24000
#define LAT_QUEUE_SPAN 512
#define LAT_DEFAULT_LIMIT 100000
#define LAT_MAX_DELAY_NS (3600 * FL_NS_PER_S)

/* Hooks, with the chain suffix and the iptables built-in chain. */
static const char *const lat_hook_suffix[] = { "in", "out", "fwd" };
static const char *const lat_hook_builtin[] = { "INPUT", "OUTPUT", "FORWARD" };


/* ---- validate ------------------------------------------------------------ */

/* On a host over ssh the delay is the host's own tc netem on its egress
 * (docs/remote.md): what it sends, never what it receives (that would take
 * an ifb device, which faultline does not create on a user's machine). */
static int lat_validate_remote(struct fl_doc *doc, const struct fl_fault_spec *fault,
			       const struct fl_target *target, const char *direction,
			       struct fl_error *err)
{
	static const char *const local_only[] = { "queue", "limit", "seed" };

	if (!direction || strcmp(direction, "out") != 0)
		return fl_doc_error_value(doc, fault->params, err,
					  "latency fault '%s': on remote target '%s' (ssh %s) only what the host sends can be delayed: say \"direction\": \"out\"",
					  fault->name, target->name, target->ssh->destination);
	for (size_t i = 0; i < FL_ARRAY_LEN(local_only); i++)
		if (json_object_get(fault->params, local_only[i]))
			return fl_doc_error_member(doc, fault->params, local_only[i], err,
						   "'%s' applies to local latency only (faultline-delayq); remote target '%s' uses the host's tc netem",
						   local_only[i], target->name);
	return 0;
}

static int latency_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			    const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params;
	char *direction = NULL, *peer = NULL;
	int64_t delay = 0, jitter = 0;
	long seed = 1, queue = 0, limit = 0;
	int v6, has_jitter = 0, has_seed = 0, rc = -1;

	if (fl_doc_duration(doc, params, "delay", 1, &delay, err) < 0 ||
	    (has_jitter = fl_doc_duration(doc, params, "jitter", 0, &jitter, err)) < 0 ||
	    (has_seed = fl_doc_int(doc, params, "seed", 0, 0, LONG_MAX, &seed, err)) < 0 ||
	    fl_doc_string(doc, params, "direction", 0, &direction, err) < 0 ||
	    fl_doc_string(doc, params, "peer", 0, &peer, err) < 0 ||
	    fl_doc_int(doc, params, "queue", 0, 0, 65535, &queue, err) < 0 ||
	    fl_doc_int(doc, params, "limit", 0, 1, 10000000, &limit, err) < 0)
		goto out;
	if (delay < FL_NS_PER_MS || delay > LAT_MAX_DELAY_NS) {
		fl_doc_error_member(doc, params, "delay", err, "'delay': expected 1ms to 1h");
		goto out;
	}
	if (has_jitter && jitter > delay) {
		fl_doc_error_member(doc, params, "jitter", err,
				    "'jitter' must not exceed 'delay' (a packet cannot leave before it came)");
		goto out;
	}
	if (has_seed && !has_jitter) {
		fl_doc_error_member(doc, params, "seed", err, "'seed' only applies with 'jitter'");
		goto out;
	}
	if (direction && strcmp(direction, "both") != 0 && strcmp(direction, "in") != 0 &&
	    strcmp(direction, "out") != 0) {
		fl_doc_error_member(doc, params, "direction", err,
				    "'direction': expected \"both\", \"in\" or \"out\", not \"%s\"",
				    direction);
		goto out;
	}
	if (peer && fl_net_addr_check(peer, &v6) < 0) {
		fl_doc_error_member(doc, params, "peer", err,
				    "'peer': expected an IP address or CIDR, like \"10.231.0.12\" or \"10.231.0.0/24\"");
		goto out;
	}
	if (fl_net_target_check(doc, fault, target, "latency", err) < 0)
		goto out;
	if (target && target->ssh && lat_validate_remote(doc, fault, target, direction, err) < 0)
		goto out;
	if (fl_doc_check_keys(doc, params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(direction);
	fl_free(peer);
	return rc;
}

/* ---- running programs ------------------------------------------------------ */


static const char *lat_tool(const char *family, const char *what)
{
	int v6 = family && strcmp(family, "ip6") == 0;
	if (strcmp(what, "restore") == 0)
		return v6 ? "ip6tables-nft-restore" : "iptables-nft-restore";
	return v6 ? "ip6tables-nft" : "iptables-nft";
}


/* ---- prepare ----------------------------------------------------------------- */

/* fllat_<pid>_<clock>, in hex: unique per injection and short enough for
 * xtables' 28-character chain names with a suffix. */
static void lat_chain_name(char *buf, size_t n)
{
	snprintf(buf, n, LAT_CHAIN_PREFIX "%lx_%llx", (long)getpid() & 0xfffff,
		 (unsigned long long)(fl_wall_ns() / 1000) & 0xffffffffffULL);
}

/* A remote host's record: its tc netem (net_remote.h) and the delay. */
static json_t *lat_prepare_remote(const struct fl_fault_spec *fault, const struct fl_target *target,
				  const char *direction, const char *peer, int64_t delay,
				  int64_t jitter, struct fl_error *err)
{
	json_t *rec =
		json_pack("{s:s, s:s, s:s?, s:I, s:I, s:s}", "target", target->name, "direction",
			  direction ? direction : "out", "peer", peer, "delay_ns",
			  (json_int_t)delay, "jitter_ns", (json_int_t)jitter, "host", target->host);

	if (!rec ||
	    (target->port > 0 && json_object_set_new(rec, "port", json_integer(target->port)) < 0)) {
		json_decref(rec);
		fl_error_oom(err, "latency fault '%s'", fault->name);
		return NULL;
	}
	if (fl_lat_remote_prepare(fault->name, target, peer, rec, err) < 0) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

static json_t *latency_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			       struct fl_error *err)
{
	json_t *p = fault->params, *rec = NULL, *families = NULL, *existed = NULL;
	const char *direction = json_string_value(json_object_get(p, "direction"));
	const char *peer = json_string_value(json_object_get(p, "peer"));
	const char *ns = target->kind == FL_TARGET_NETNS ? target->netns : NULL;
	const char *addr = peer ? peer : target->kind == FL_TARGET_HOST ? target->host : NULL;
	json_t *jq = json_object_get(p, "queue"), *jl = json_object_get(p, "limit");
	char chain[64];
	char *program = NULL;
	int64_t delay = 0, jitter = 0;
	int v6 = 0;

	if (ns && !fl_netns_exists(ns)) {
		fl_error_set(err, FL_EXIT_ENV, "latency fault '%s': netns %s does not exist",
			     fault->name, ns);
		return NULL;
	}
	if (fl_duration_parse(json_string_value(json_object_get(p, "delay")), &delay) < 0 ||
	    (json_object_get(p, "jitter") &&
	     fl_duration_parse(json_string_value(json_object_get(p, "jitter")), &jitter) < 0)) {
		fl_error_set(err, FL_EXIT_INPUT, "latency fault '%s': bad delay or jitter",
			     fault->name);
		return NULL;
	}
	if (target->ssh)
		return lat_prepare_remote(fault, target, direction, peer, delay, jitter, err);
	lat_chain_name(chain, sizeof(chain));
	program = fl_lat_program_find();
	families = json_array();
	existed = json_object();
	if (!program || !families || !existed)
		goto oom;
	/* An address decides the family; without one the zone's whole traffic
	 * is both. */
	if (addr)
		fl_net_addr_check(addr, &v6);
	if (!addr || !v6)
		json_array_append_new(families, json_string("ip"));
	if (!addr || v6)
		json_array_append_new(families, json_string("ip6"));
	for (size_t i = 0; i < json_array_size(families); i++) {
		const char *fam = json_string_value(json_array_get(families, i));
		const char *list[] = { "nft", "list", "table", fam, "filter", NULL };
		int had = fl_netns_run(ns, list, NULL, 1, err) == 0;
		if (fl_error_is_set(err))
			goto fail;
		json_object_set_new(existed, fam, json_boolean(had));
	}
	rec = json_pack("{s:s, s:s?, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:O, s:O}",
			"target", target->name, "netns", ns, "direction",
			direction ? direction : "both", "peer", peer, "delay_ns", (json_int_t)delay,
			"jitter_ns", (json_int_t)jitter, "seed",
			(json_int_t)(json_is_integer(json_object_get(p, "seed"))
					     ? json_integer_value(json_object_get(p, "seed"))
					     : 1),
			"queue", (json_int_t)(jq ? json_integer_value(jq) : LAT_QUEUE_BASE),
			"queue_span", (json_int_t)(jq ? 1 : LAT_QUEUE_SPAN), "limit",
			(json_int_t)(jl ? json_integer_value(jl) : LAT_DEFAULT_LIMIT), "chain",
			chain, "program", program, "families", families, "filter_existed", existed);
	if (!rec)
		goto oom;
	if (target->kind == FL_TARGET_HOST) {
		if (json_object_set_new(rec, "host", json_string(target->host)) < 0 ||
		    (target->port > 0 &&
		     json_object_set_new(rec, "port", json_integer(target->port)) < 0))
			goto oom;
	}
	goto out;
oom:
	fl_error_oom(err, "latency fault '%s'", fault->name);
fail:
	json_decref(rec);
	rec = NULL;
out:
	json_decref(families);
	json_decref(existed);
	fl_free(program);
	return rec;
}

/* ---- inject -------------------------------------------------------------------- */

/* Which hooks carry rules: bit 0 input, 1 output, 2 forward. */
static unsigned lat_hooks(const json_t *rec)
{
	const char *direction = json_string_value(json_object_get(rec, "direction"));
	int in = !direction || strcmp(direction, "out") != 0;
	int out = !direction || strcmp(direction, "in") != 0;

	if (json_is_string(json_object_get(rec, "netns")))
		return (in ? 1u : 0u) | (out ? 2u : 0u);
	/* A host: to it leaves by output or forward; from it arrives by input
	 * or forward, or by output when the host is this machine (loopback). */
	return (out ? 1u : 0u) | 2u | 4u;
}

/* "-s ADDR"/"-d ADDR" plus the port match, for traffic to (to=1) or from the
 * host; the peer narrows it to what the host exchanges with the peer. */
static void lat_host_match(struct fl_buf *b, const json_t *rec, int to)
{
	const char *host = json_string_value(json_object_get(rec, "host"));
	const char *peer = json_string_value(json_object_get(rec, "peer"));
	long port = (long)json_integer_value(json_object_get(rec, "port"));

	fl_buf_addf(b, " %s %s", to ? "-d" : "-s", host);
	if (port > 0)
		fl_buf_addf(b, " -p tcp %s %ld", to ? "--dport" : "--sport", port);
	if (peer)
		fl_buf_addf(b, " %s %s", to ? "-s" : "-d", peer);
}

/* The iptables-restore input for one family: chains of our own, each jumped
 * to from the first position of its built-in chain. */
static int lat_rules_build(const json_t *rec, struct fl_buf *b, long queue)
{
	const char *chain = json_string_value(json_object_get(rec, "chain"));
	const char *direction = json_string_value(json_object_get(rec, "direction"));
	const char *peer = json_string_value(json_object_get(rec, "peer"));
	int in = !direction || strcmp(direction, "out") != 0;
	int out = !direction || strcmp(direction, "in") != 0;
	int netns = json_is_string(json_object_get(rec, "netns"));
	unsigned hooks = lat_hooks(rec);
	char verdict[96];

	snprintf(verdict, sizeof(verdict), " -j NFQUEUE --queue-num %ld --queue-bypass\n", queue);
	fl_buf_adds(b, "*filter\n");
	for (size_t h = 0; h < FL_ARRAY_LEN(lat_hook_suffix); h++)
		if (hooks & (1u << h))
			fl_buf_addf(b, ":%s_%s - [0:0]\n", chain, lat_hook_suffix[h]);
	if (netns) {
		/* A zone: what arrives is "in", what leaves is "out"; the zone's
		 * own loopback is never delayed. */
		if (hooks & 1u) {
			fl_buf_addf(b, "-A %s_in -i lo -j RETURN\n-A %s_in", chain, chain);
			if (peer)
				fl_buf_addf(b, " -s %s", peer);
			fl_buf_adds(b, verdict);
		}
		if (hooks & 2u) {
			fl_buf_addf(b, "-A %s_out -o lo -j RETURN\n-A %s_out", chain, chain);
			if (peer)
				fl_buf_addf(b, " -d %s", peer);
			fl_buf_adds(b, verdict);
		}
	} else {
		/* One queue rule per packet and hook: a packet accepted after its
		 * delay leaves the chain, so it is never held twice in one hook;
		 * loopback input was already held on output. */
		if (hooks & 1u) {
			fl_buf_addf(b, "-A %s_in -i lo -j RETURN\n-A %s_in", chain, chain);
			lat_host_match(b, rec, 0);
			fl_buf_adds(b, verdict);
		}
		if (in) {
			fl_buf_addf(b, "-A %s_out", chain);
			lat_host_match(b, rec, 1);
			fl_buf_adds(b, verdict);
			fl_buf_addf(b, "-A %s_fwd", chain);
			lat_host_match(b, rec, 1);
			fl_buf_adds(b, verdict);
		}
		if (out) {
			fl_buf_addf(b, "-A %s_out", chain);
			lat_host_match(b, rec, 0);
			fl_buf_adds(b, verdict);
			fl_buf_addf(b, "-A %s_fwd", chain);
			lat_host_match(b, rec, 0);
			fl_buf_adds(b, verdict);
		}
	}
	for (size_t h = 0; h < FL_ARRAY_LEN(lat_hook_suffix); h++)
		if (hooks & (1u << h))
			fl_buf_addf(b, "-I %s 1 -j %s_%s\n", lat_hook_builtin[h], chain,
				    lat_hook_suffix[h]);
	fl_buf_adds(b, "COMMIT\n");
	return b->failed ? -1 : 0;
}

/* Loads rules with `<family>tables-nft-restore --noflush` from stdin: all
 * of one family's chains and jumps in one transaction. */
static int lat_rules_load(const char *ns, const char *family, const char *rules, struct fl_error *err)
{
	const char *argv[] = { lat_tool(family, "restore"), "--noflush", NULL };
	return fl_netns_run_stdin(ns, argv, rules, NULL, 0, err);
}

static int lat_rules_remove(const json_t *rec, int *removed, struct fl_error *err);

/* A private directory (mkdtemp: mode 0700, unguessable name) for the
 * program's stats file, recorded as "stats_dir" and "stats" in rec: in the
 * shared temporary directory a predictable name could be planted as a
 * symlink by anyone, and the program runs as root. 0, or -1 with err set. */
static int lat_stats_dir(json_t *rec, struct fl_error *err)
{
	const char *tmp = getenv("TMPDIR");
	const char *chain = json_string_value(json_object_get(rec, "chain"));
	char dir[512], file[600];
	int n = snprintf(dir, sizeof(dir), "%s/faultline-%s.XXXXXX", tmp && tmp[0] ? tmp : "/tmp",
			 chain ? chain : "");

	if (n < 0 || (size_t)n >= sizeof(dir))
		return fl_error_set(err, FL_EXIT_ENV, "latency: TMPDIR is too long");
	if (!mkdtemp(dir))
		return fl_error_set(err, FL_EXIT_ENV, "latency: cannot create a directory %s: %s",
				    dir, strerror(errno));
	snprintf(file, sizeof(file), "%s/stats", dir);
	if (json_object_set_new(rec, "stats_dir", json_string(dir)) < 0 ||
	    json_object_set_new(rec, "stats", json_string(file)) < 0) {
		rmdir(dir);
		return fl_error_oom(err, "latency");
	}
	return 0;
}

/* Reads the program's one line of counts into out and removes the file and
 * its directory: only paths shaped like lat_stats_dir's are touched. */
static void lat_stats_collect(const json_t *rec, struct fl_buf *out)
{
	const char *dir = json_string_value(json_object_get(rec, "stats_dir"));
	const char *path = json_string_value(json_object_get(rec, "stats"));
	size_t dlen = dir ? strlen(dir) : 0;
	struct fl_error ignored;

	if (!dir || !path || !strstr(dir, "/faultline-" LAT_CHAIN_PREFIX) || strstr(dir, "/../") ||
	    strncmp(path, dir, dlen) != 0 || strcmp(path + dlen, "/stats") != 0)
		return;
	fl_error_init(&ignored);
	if (fl_read_file(path, 4096, out, &ignored) == 0)
		out->buf[strcspn(out->buf, "\n")] = '\0';
	unlink(path);
	rmdir(dir);
}

static int latency_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
			  json_t *revert, struct fl_error *err)
{
	const char *ns = json_string_value(json_object_get(revert, "netns"));
	json_t *families = json_object_get(revert, "families");
	struct fl_buf rules;
	long queue = 0;
	long long st = 0;
	pid_t pid;
	int removed, rc = -1;
	const char *how;
	struct fl_error scratch;

	if (json_object_get(revert, "ssh"))
		return fl_lat_remote_inject(revert, err);
	fl_buf_init(&rules, LAT_OUTPUT_LIMIT);
	if (lat_stats_dir(revert, err) < 0)
		goto out;
	pid = fl_lat_program_start(revert, &queue, err);
	if (pid < 0)
		goto out;
	if (!fl_lat_proc_read(pid, &st)) {
		fl_error_set(err, FL_EXIT_ENV, FL_LAT_PROGRAM " exited right after it was ready");
		goto out;
	}
	if (json_object_set_new(revert, "pid", json_integer(pid)) < 0 ||
	    json_object_set_new(revert, "starttime", json_integer(st)) < 0 ||
	    json_object_set_new(revert, "queue", json_integer(queue)) < 0) {
		fl_error_oom(err, "latency fault '%s'", fault->name);
		goto undo;
	}
	if (lat_rules_build(revert, &rules, queue) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "latency fault '%s': cannot build its rules",
			     fault->name);
		goto undo;
	}
	for (size_t i = 0; i < json_array_size(families); i++)
		if (lat_rules_load(ns, json_string_value(json_array_get(families, i)), rules.buf,
				   err) < 0)
			goto undo;
	rc = 0;
	goto out;
undo:
	/* Leave nothing half-made: the rules of a family loaded before the
	 * failure, then the program. The first error stays the one reported. */
	fl_error_init(&scratch);
	lat_rules_remove(revert, &removed, &scratch);
	fl_lat_program_stop(pid, st, &how, &scratch);
out:
	if (rc < 0) {
		/* The program is stopped (or never started): its directory goes. */
		struct fl_buf ignored;
		fl_buf_init(&ignored, 4096);
		lat_stats_collect(revert, &ignored);
		fl_buf_release(&ignored);
	}
	fl_buf_release(&rules);
	return rc;
}

/* ---- revert ---------------------------------------------------------------------- */

/* Removes our chains and jumps in every family; *removed counts chains that
 * were there. A filter table only we created goes once it is empty. */
static int lat_rules_remove(const json_t *rec, int *removed, struct fl_error *err)
{
	const char *ns = json_string_value(json_object_get(rec, "netns"));
	const char *chain = json_string_value(json_object_get(rec, "chain"));
	json_t *families = json_object_get(rec, "families");
	json_t *existed = json_object_get(rec, "filter_existed");
	unsigned hooks = lat_hooks(rec);

	*removed = 0;
	if (!chain || strncmp(chain, LAT_CHAIN_PREFIX, strlen(LAT_CHAIN_PREFIX)) != 0 ||
	    strpbrk(chain, " \t\n;{}\"'/") || strlen(chain) > 24)
		return fl_error_set(err, FL_EXIT_ENV, "latency revert: refusing chain name '%s'",
				    chain ? chain : "(none)");
	for (size_t i = 0; i < json_array_size(families); i++) {
		const char *fam = json_string_value(json_array_get(families, i));
		const char *tool;
		struct fl_buf out;

		if (!fam || (strcmp(fam, "ip") != 0 && strcmp(fam, "ip6") != 0))
			return fl_error_set(err, FL_EXIT_ENV, "latency revert: bad family in record");
		tool = lat_tool(fam, "cmd");
		for (size_t h = 0; h < FL_ARRAY_LEN(lat_hook_suffix); h++) {
			char name[64];
			const char *list[] = { tool, "-w", "-S", name, NULL };
			const char *unjump[] = { tool, "-w", "-D", lat_hook_builtin[h],
						 "-j", name, NULL };
			const char *flush[] = { tool, "-w", "-F", name, NULL };
			const char *drop[] = { tool, "-w", "-X", name, NULL };

			if (!(hooks & (1u << h)))
				continue;
			snprintf(name, sizeof(name), "%s_%s", chain, lat_hook_suffix[h]);
			if (fl_netns_run(ns, list, NULL, 1, err) < 0) {
				if (fl_error_is_set(err))
					return -1;
				continue; /* never made, or already removed */
			}
			/* Every jump first (bounded: inject adds one per hook). */
			for (int k = 0; k < 8 && fl_netns_run(ns, unjump, NULL, 1, err) == 0; k++)
				;
			if (fl_error_is_set(err) || fl_netns_run(ns, flush, NULL, 0, err) < 0 ||
			    fl_netns_run(ns, drop, NULL, 0, err) < 0)
				return -1;
			(*removed)++;
		}
		if (!json_is_false(json_object_get(existed, fam)))
			continue;
		/* The table came with our rules: gone again once nothing but the
		 * built-in chains' ACCEPT policies is left in it. */
		fl_buf_init(&out, LAT_OUTPUT_LIMIT);
		{
			const char *save[] = { tool, "-w", "-S", NULL };
			const char *del[] = { "nft", "delete", "table", fam, "filter", NULL };
			int only_policies = fl_netns_run(ns, save, &out, 1, err) == 0;
			char *line = out.buf;

			while (only_policies && *line) {
				size_t len = strcspn(line, "\n");
				if (len && strncmp(line, "-P ", 3) != 0)
					only_policies = 0;
				if (len && (len < 7 || strncmp(line + len - 7, " ACCEPT", 7) != 0))
					only_policies = 0;
				line += len + (line[len] == '\n');
			}
			if (only_policies)
				fl_netns_run(ns, del, NULL, 1, err);
		}
		fl_buf_release(&out);
		if (fl_error_is_set(err))
			return -1;
	}
	return 0;
}

static int latency_revert(const json_t *revert, struct fl_error *err)
{
	const char *ns = json_string_value(json_object_get(revert, "netns"));
	const char *chain = json_string_value(json_object_get(revert, "chain"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(revert, "pid"));
	long long st = json_integer_value(json_object_get(revert, "starttime"));
	const char *how = "not running";
	struct fl_buf stats;
	int removed = 0, gone = ns && !fl_netns_exists(ns);

	if (json_object_get(revert, "ssh"))
		return fl_lat_remote_revert(revert, err);

	/* Rules first: from here on nothing new is queued, and what the
	 * program still holds is released when it stops. */
	if (!gone && lat_rules_remove(revert, &removed, err) < 0)
		return -1;
	if (pid <= 0 && chain) {
		pid = fl_lat_proc_find_by_tag(chain);
		if (pid > 0 && !fl_lat_proc_read(pid, &st))
			pid = 0;
	}
	if (pid > 0 && fl_lat_program_stop(pid, st, &how, err) < 0)
		return -1;
	fl_buf_init(&stats, 4096);
	lat_stats_collect(revert, &stats);
	if (gone)
		fl_injector_note(revert, "netns %s is gone: no rules left; " FL_LAT_PROGRAM " %s",
				 ns, how);
	else
		fl_injector_note(revert, "%s; " FL_LAT_PROGRAM " %s%s%s",
				 removed ? "rules removed" : "rules already gone", how,
				 stats.len ? ": " : "", stats.len ? stats.buf : "");
	fl_buf_release(&stats);
	return 0;
}

/* ---- describe ----------------------------------------------------------------------- */

static char *latency_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	json_t *p = fault->params;
	const char *delay = json_string_value(json_object_get(p, "delay"));
	const char *jitter = json_string_value(json_object_get(p, "jitter"));
	const char *direction = json_string_value(json_object_get(p, "direction"));
	const char *peer = json_string_value(json_object_get(p, "peer"));
	struct fl_buf b;

	fl_buf_init(&b, 4096);
	fl_buf_addf(&b, "latency +%s", delay ? delay : "?");
	if (jitter)
		fl_buf_addf(&b, " ± %s", jitter);
	if (target && target->ssh) {
		/* tc netem on the host's interface: every port, not the target's. */
		fl_buf_addf(&b, " on all %s sends on its interface towards %s (tc netem; target %s)",
			    target->ssh->destination, peer ? peer : "the harness", target->name);
		return b.failed ? NULL : fl_buf_detach(&b);
	}
	fl_net_describe_where(&b, target, peer, direction);
	return b.failed ? NULL : fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_latency = {
	.name = "latency",
	.summary =
		"delay (and jitter) a zone's or host's packets through NFQUEUE; fail-open, reverted exactly",
	.target_kinds = (1u << FL_TARGET_NETNS) | (1u << FL_TARGET_HOST),
	.validate = latency_validate,
	.prepare = latency_prepare,
	.inject = latency_inject,
	.revert = latency_revert,
	.describe = latency_describe,
};
