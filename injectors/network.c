/*
 * network injector: partitions and lossy links, made with ip(8) and nft(8),
 * reverted exactly.
 *
 * Owns: the `network` fault family, for netns targets (a zone: the fault is
 * made inside that namespace) and host targets (an address, and its port
 * when the target names one: the fault is made in the root namespace, on
 * the traffic this machine sends to it, receives from it and forwards for
 * it). Keys:
 *   mode       "link-down" (netns only: every veth in the namespace down),
 *              "drop", "reject" (TCP answered with a reset, other protocols
 *              with ICMP unreachable: clients fail at once instead of
 *              hanging) or "loss" (drop `percent` % of packets at random)
 *   direction  "both" (default), "in" (traffic arriving at the target) or
 *              "out" (traffic leaving it)
 *   peer       an address or CIDR ("10.231.0.12", "10.231.0.0/24"): only
 *              traffic between the target and the peer (zone-to-zone);
 *              default: all traffic but the namespace's loopback
 *   percent    loss only: 1..100
 * nft faults live in one table of their own, `inet faultline_<id>` (id from
 * the fault name, the pid and the clock), so revert deletes exactly that
 * table and nothing else. prepare() records the namespace, the table name
 * and, for link-down, which links were up; revert() works from that alone
 * and treats a table or link that is already gone (or a namespace deleted
 * with everything in it) as reverted. Rulesets go to nft through a private
 * temporary file (`nft -f FILE`), never a shell. A host target with `ssh`
 * gets its table on that host instead (net_remote.h: the host's nft, the
 * harness's ssh session spared). Does not own: zones as
 * sets of targets (the zone injector), latency (NFQUEUE, not here).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/injector.h"
#include "injectors/netns.h"
#include "injectors/net_remote.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#define NET_OUTPUT_LIMIT ((size_t)64 << 10)
#define NET_TABLE_PREFIX "faultline_"
#define NET_ID_NAME_MAX 24

enum net_mode { NET_LINK_DOWN, NET_DROP, NET_REJECT, NET_LOSS };
static const char *const net_mode_names[] = {
	[NET_LINK_DOWN] = "link-down",
	[NET_DROP] = "drop",
	[NET_REJECT] = "reject",
	[NET_LOSS] = "loss",
};

static int net_mode_parse(const char *s, enum net_mode *out)
{
	for (size_t i = 0; s && i < FL_ARRAY_LEN(net_mode_names); i++)
		if (strcmp(s, net_mode_names[i]) == 0) {
			*out = (enum net_mode)i;
			return 0;
		}
	return -1;
}


/* ---- validate ------------------------------------------------------------ */

static int network_validate(struct fl_doc *doc, const struct fl_fault_spec *fault,
			    const struct fl_target *target, struct fl_error *err)
{
	json_t *params = fault->params;
	char *mode = NULL, *direction = NULL, *peer = NULL;
	long percent = 0;
	enum net_mode m;
	int v6, pct_found, rc = -1;

	if (fl_doc_string(doc, params, "mode", 1, &mode, err) < 0 ||
	    fl_doc_string(doc, params, "direction", 0, &direction, err) < 0 ||
	    fl_doc_string(doc, params, "peer", 0, &peer, err) < 0)
		goto out;
	pct_found = fl_doc_int(doc, params, "percent", 0, 1, 100, &percent, err);
	if (pct_found < 0)
		goto out;
	if (net_mode_parse(mode, &m) < 0) {
		fl_doc_error_member(doc, params, "mode", err,
				    "'mode': expected \"link-down\", \"drop\", \"reject\" or \"loss\", not \"%s\"",
				    mode);
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
	if (m == NET_LOSS && pct_found == 0) {
		fl_doc_error_member(doc, params, "mode", err,
				    "mode \"loss\" needs 'percent' (1 to 100)");
		goto out;
	}
	if (m != NET_LOSS && pct_found > 0) {
		fl_doc_error_member(doc, params, "percent", err,
				    "'percent' only applies to mode \"loss\"");
		goto out;
	}
	if (m == NET_LINK_DOWN && (peer || direction)) {
		fl_doc_error_member(doc, params, peer ? "peer" : "direction", err,
				    "mode \"link-down\" takes the whole link down: no 'peer' or 'direction'");
		goto out;
	}
	if (fl_net_target_check(doc, fault, target, "network", err) < 0)
		goto out;
	if (target && m == NET_LINK_DOWN && target->kind != FL_TARGET_NETNS) {
		fl_doc_error_member(doc, params, "mode", err,
				    "mode \"link-down\" needs a netns target, '%s' is a host target",
				    target->name);
		goto out;
	}
	if (fl_doc_check_keys(doc, params, err) < 0)
		goto out;
	rc = 0;
out:
	fl_free(mode);
	fl_free(direction);
	fl_free(peer);
	return rc;
}

/* ---- running ip and nft -------------------------------------------------- */


/* ---- prepare ----------------------------------------------------------------- */

/* faultline_<fault name, [a-z0-9_] only, bounded>_<pid>_<clock>: unique per
 * injection, and safe in an nft command and in the journal. */
static void net_table_name(const char *fault, char *buf, size_t n)
{
	char clean[NET_ID_NAME_MAX + 1];
	size_t k = 0;

	for (size_t i = 0; fault && fault[i] && k < NET_ID_NAME_MAX; i++) {
		unsigned char c = (unsigned char)fault[i];
		clean[k++] = isalnum(c) ? (char)tolower(c) : '_';
	}
	clean[k] = '\0';
	snprintf(buf, n, NET_TABLE_PREFIX "%s_%ld_%llx", k ? clean : "fault", (long)getpid(),
		 (unsigned long long)(fl_wall_ns() & 0xffffffffffULL));
}

/* The veth links of a namespace and whether each is up, from `ip -j`. */
static json_t *net_links_capture(const char *ns, struct fl_error *err)
{
	const char *full[] = { "ip", "-n", ns, "-j", "link", "show", "type", "veth", NULL };
	struct fl_buf out;
	json_t *doc = NULL, *links = NULL, *link;
	json_error_t jerr;
	/* jansson leaves it untouched when it fails before parsing (out of memory). */
	memset(&jerr, 0, sizeof(jerr));
	size_t i;

	fl_buf_init(&out, NET_OUTPUT_LIMIT);
	if (fl_netns_run(NULL, full, &out, 0, err) < 0)
		goto out;
	doc = json_loads(out.buf, 0, &jerr);
	if (!json_is_array(doc)) {
		fl_error_set(err, FL_EXIT_ENV, "netns %s: cannot read its links (ip -j: %s)", ns,
			     jerr.text);
		goto out;
	}
	links = json_array();
	if (!links)
		goto oom;
	json_array_foreach(doc, i, link) {
		const char *dev = json_string_value(json_object_get(link, "ifname"));
		json_t *flags = json_object_get(link, "flags"), *f;
		size_t j;
		int up = 0;

		if (!dev)
			continue;
		json_array_foreach(flags, j, f)
			if (json_is_string(f) && strcmp(json_string_value(f), "UP") == 0)
				up = 1;
		if (json_array_append_new(links, json_pack("{s:s, s:b}", "dev", dev, "was_up", up)) <
		    0)
			goto oom;
	}
	if (json_array_size(links) == 0) {
		fl_error_set(err, FL_EXIT_ENV, "netns %s: no veth link to take down", ns);
		json_decref(links);
		links = NULL;
	}
	goto out;
oom:
	fl_error_oom(err, "netns %s", ns);
	json_decref(links);
	links = NULL;
out:
	json_decref(doc);
	fl_buf_release(&out);
	return links;
}

static json_t *network_prepare(const struct fl_fault_spec *fault, const struct fl_target *target,
			       struct fl_error *err)
{
	json_t *p = fault->params, *rec = NULL, *links;
	const char *mode = json_string_value(json_object_get(p, "mode"));
	const char *direction = json_string_value(json_object_get(p, "direction"));
	const char *peer = json_string_value(json_object_get(p, "peer"));
	const char *ns = target->kind == FL_TARGET_NETNS ? target->netns : NULL;
	enum net_mode m;
	char table[128];

	if (net_mode_parse(mode, &m) < 0) {
		fl_error_set(err, FL_EXIT_INPUT, "network fault '%s': bad mode", fault->name);
		return NULL;
	}
	if (ns && !fl_netns_exists(ns)) {
		fl_error_set(err, FL_EXIT_ENV, "network fault '%s': netns %s does not exist",
			     fault->name, ns);
		return NULL;
	}
	rec = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "mode", mode, "target", target->name,
			"netns", ns, "direction", direction ? direction : "both", "peer", peer);
	if (!rec)
		goto oom;
	if (target->kind == FL_TARGET_HOST) {
		if (json_object_set_new(rec, "host", json_string(target->host)) < 0 ||
		    (target->port > 0 &&
		     json_object_set_new(rec, "port", json_integer(target->port)) < 0))
			goto oom;
	}
	if (m == NET_LINK_DOWN) {
		links = net_links_capture(ns, err);
		if (!links)
			goto fail;
		if (json_object_set_new(rec, "links", links) < 0)
			goto oom;
	} else {
		net_table_name(fault->name, table, sizeof(table));
		if (json_object_set_new(rec, "table", json_string(table)) < 0)
			goto oom;
		if (m == NET_LOSS && json_object_set_new(rec, "percent",
							 json_integer(json_integer_value(
								 json_object_get(p, "percent")))) < 0)
			goto oom;
	}
	/* On its own host over ssh (docs/remote.md): nft there, checked now. */
	if (target->ssh && fl_net_remote_prepare(fault->name, target, rec, err) < 0)
		goto fail;
	return rec;
oom:
	fl_error_oom(err, "network fault '%s'", fault->name);
fail:
	json_decref(rec);
	return NULL;
}

/* ---- inject -------------------------------------------------------------------- */

/* One chain's rules. `dir_match` is what selects the traffic (may be ""),
 * the verdict is chosen by the mode. */
static void net_rules_add(struct fl_buf *b, enum net_mode m, long percent, const char *match)
{
	switch (m) {
	case NET_DROP: fl_buf_addf(b, "\t\t%s drop\n", match); break;
	case NET_REJECT:
		/* The resets reject sends pass the output hook with the cut-off
		 * peer's address: let them through, or the client waits for its
		 * timeout as under a drop. */
		fl_buf_adds(b, "\t\ttcp flags & rst == rst accept\n");
		fl_buf_addf(b, "\t\t%s meta l4proto tcp reject with tcp reset\n", match);
		fl_buf_addf(b, "\t\t%s reject\n", match);
		break;
	case NET_LOSS:
		/* numgen's range is 0-99: 100 % is a plain drop. */
		if (percent >= 100)
			fl_buf_addf(b, "\t\t%s drop\n", match);
		else
			fl_buf_addf(b, "\t\t%s numgen random mod 100 < %ld drop\n", match, percent);
		break;
	case NET_LINK_DOWN: break;
	}
}

/* Matches for traffic towards (to=1) or from (to=0) an address, with an
 * optional TCP port; empty for "everything". */
static void net_match(char *buf, size_t n, const char *addr, long port, int to)
{
	int v6 = 0;
	const char *fam;

	buf[0] = '\0';
	if (!addr)
		return;
	fl_net_addr_check(addr, &v6);
	fam = v6 ? "ip6" : "ip";
	if (port > 0)
		snprintf(buf, n, "%s %s %s tcp %s %ld", fam, to ? "daddr" : "saddr", addr,
			 to ? "dport" : "sport", port);
	else
		snprintf(buf, n, "%s %s %s", fam, to ? "daddr" : "saddr", addr);
}

/* A host's own traffic, made on that host over ssh: "in" is what arrives
 * at it (to its port, from the peer), "out" what it sends (from its port,
 * to the peer). Its loopback and the harness's ssh session (exempt: the
 * address it comes from, the sshd port) are never cut, so the revert can
 * always reach the host. */
static void net_ruleset_remote(const json_t *rec, struct fl_buf *b, enum net_mode m, int in, int out)
{
	const char *peer = json_string_value(json_object_get(rec, "peer"));
	const json_t *ex = json_object_get(rec, "exempt");
	const char *exaddr = json_string_value(json_object_get(ex, "addr"));
	long export = (long)json_integer_value(json_object_get(ex, "port"));
	long port = (long)json_integer_value(json_object_get(rec, "port"));
	long percent = (long)json_integer_value(json_object_get(rec, "percent"));
	char match[2][512];
	int v6 = 0, xv6 = 0;

	if (peer)
		fl_net_addr_check(peer, &v6);
	if (exaddr)
		fl_net_addr_check(exaddr, &xv6);
	for (int to = 0; to < 2; to++) {
		/* to=0: arriving (input), to=1: leaving (output). */
		size_t k = 0;
		match[to][0] = '\0';
		if (peer)
			k += (size_t)snprintf(match[to], sizeof(match[to]), "%s %s %s",
					      v6 ? "ip6" : "ip", to ? "daddr" : "saddr", peer);
		if (port > 0 && k < sizeof(match[to]))
			snprintf(match[to] + k, sizeof(match[to]) - k, "%stcp %s %ld", k ? " " : "",
				 to ? "sport" : "dport", port);
	}
	fl_buf_addf(b,
		    "\tchain input {\n\t\ttype filter hook input priority -50; policy accept;\n"
		    "\t\tiifname \"lo\" accept\n\t\t%s saddr %s tcp dport %ld accept\n",
		    xv6 ? "ip6" : "ip", exaddr ? exaddr : "127.0.0.1", export);
	if (in)
		net_rules_add(b, m, percent, match[0]);
	fl_buf_addf(b,
		    "\t}\n\tchain output {\n\t\ttype filter hook output priority -50; policy accept;\n"
		    "\t\toifname \"lo\" accept\n\t\t%s daddr %s tcp sport %ld accept\n",
		    xv6 ? "ip6" : "ip", exaddr ? exaddr : "127.0.0.1", export);
	if (out)
		net_rules_add(b, m, percent, match[1]);
	fl_buf_adds(b, "\t}\n");
}

/* The whole ruleset of one fault, as one table. Priority -50: before the
 * default filter chains, so an existing accept rule cannot shadow it. */
static int net_ruleset_build(const json_t *rec, struct fl_buf *b)
{
	const char *table = json_string_value(json_object_get(rec, "table"));
	const char *direction = json_string_value(json_object_get(rec, "direction"));
	const char *ns = json_string_value(json_object_get(rec, "netns"));
	const char *peer = json_string_value(json_object_get(rec, "peer"));
	const char *host = json_string_value(json_object_get(rec, "host"));
	long port = (long)json_integer_value(json_object_get(rec, "port"));
	long percent = (long)json_integer_value(json_object_get(rec, "percent"));
	int in = !direction || strcmp(direction, "out") != 0;
	int out = !direction || strcmp(direction, "in") != 0;
	enum net_mode m;
	char to[256], from[256];

	if (net_mode_parse(json_string_value(json_object_get(rec, "mode")), &m) < 0 || !table)
		return -1;
	fl_buf_addf(b, "table inet %s {\n", table);
	if (json_object_get(rec, "ssh")) {
		net_ruleset_remote(rec, b, m, in, out);
	} else if (ns) {
		/* Inside a zone: "in" is what arrives at the zone, "out" what leaves
		 * it; the zone's own loopback is never cut. */
		net_match(to, sizeof(to), peer, 0, 1);
		net_match(from, sizeof(from), peer, 0, 0);
		fl_buf_adds(b, "\tchain input {\n\t\ttype filter hook input priority -50; policy accept;\n"
			       "\t\tiifname \"lo\" accept\n");
		if (in)
			net_rules_add(b, m, percent, from);
		fl_buf_adds(b, "\t}\n\tchain output {\n\t\ttype filter hook output priority -50; policy accept;\n"
			       "\t\toifname \"lo\" accept\n");
		if (out)
			net_rules_add(b, m, percent, to);
		fl_buf_adds(b, "\t}\n");
	} else {
		/* A host seen from here: "in" is what reaches the host (we send or
		 * forward to it), "out" what it sends back; a peer narrows both to
		 * the traffic exchanged with that peer. */
		static const char *const hooks[] = { "input", "output", "forward" };
		char tohost[512], fromhost[512];

		net_match(to, sizeof(to), host, port, 1);
		net_match(from, sizeof(from), host, port, 0);
		if (peer) {
			int v6 = 0;
			fl_net_addr_check(peer, &v6);
			snprintf(tohost, sizeof(tohost), "%s %s saddr %s", to, v6 ? "ip6" : "ip",
				 peer);
			snprintf(fromhost, sizeof(fromhost), "%s %s daddr %s", from,
				 v6 ? "ip6" : "ip", peer);
		} else {
			snprintf(tohost, sizeof(tohost), "%s", to);
			snprintf(fromhost, sizeof(fromhost), "%s", from);
		}
		for (size_t i = 0; i < FL_ARRAY_LEN(hooks); i++) {
			fl_buf_addf(b,
				    "\tchain %s {\n\t\ttype filter hook %s priority -50; policy accept;\n",
				    hooks[i], hooks[i]);
			if (in)
				net_rules_add(b, m, percent, tohost);
			if (out)
				net_rules_add(b, m, percent, fromhost);
			fl_buf_adds(b, "\t}\n");
		}
	}
	fl_buf_adds(b, "}\n");
	return b->failed ? -1 : 0;
}

static int net_nft_load(const char *ns, const char *ruleset, struct fl_error *err)
{
	const char *argv[] = { "nft", "-f", "-", NULL };
	return fl_netns_run_stdin(ns, argv, ruleset, NULL, 0, err);
}

static int network_inject(const struct fl_fault_spec *fault, const struct fl_target *target,
			  json_t *revert, struct fl_error *err)
{
	const char *ns = json_string_value(json_object_get(revert, "netns"));
	json_t *links = json_object_get(revert, "links"), *l;
	struct fl_buf rules;
	size_t i;
	int rc = -1;

	if (json_is_array(links)) {
		json_array_foreach(links, i, l) {
			const char *argv[] = { "ip",   "-n",
					       ns,     "link",
					       "set",  json_string_value(json_object_get(l, "dev")),
					       "down", NULL };
			if (fl_netns_run(NULL, argv, NULL, 0, err) < 0)
				return -1;
		}
		return 0;
	}
	fl_buf_init(&rules, NET_OUTPUT_LIMIT);
	if (net_ruleset_build(revert, &rules) < 0) {
		fl_error_set(err, FL_EXIT_ENV, "network fault '%s': cannot build its ruleset",
			     fault->name);
		goto out;
	}
	if (json_object_get(revert, "ssh"))
		rc = fl_net_remote_load(revert, rules.buf, err);
	else
		rc = net_nft_load(ns, rules.buf, err);
out:
	fl_buf_release(&rules);
	return rc;
}

/* ---- revert ---------------------------------------------------------------------- */

static int network_revert(const json_t *revert, struct fl_error *err)
{
	const char *ns = json_string_value(json_object_get(revert, "netns"));
	const char *table = json_string_value(json_object_get(revert, "table"));
	json_t *links = json_object_get(revert, "links"), *l;
	size_t i, restored = 0, missing = 0;

	if (ns && !fl_netns_exists(ns)) {
		/* Its tables and links went with it: nothing of the fault is left. */
		fl_injector_note(revert, "netns %s is gone: nothing to revert", ns);
		return 0;
	}
	if (table) {
		const char *list[] = { "nft", "list", "table", "inet", table, NULL };
		const char *del[] = { "nft", "delete", "table", "inet", table, NULL };

		if (strncmp(table, NET_TABLE_PREFIX, strlen(NET_TABLE_PREFIX)) != 0 ||
		    strpbrk(table, " \t\n;{}\"'"))
			return fl_error_set(err, FL_EXIT_ENV,
					    "network revert: refusing table name '%s'", table);
		if (json_object_get(revert, "ssh"))
			return fl_net_remote_revert(revert, err);
		if (fl_netns_run(ns, list, NULL, 1, err) < 0) {
			if (fl_error_is_set(err))
				return -1;
			fl_injector_note(revert, "table %s: already gone", table);
			return 0;
		}
		if (fl_netns_run(ns, del, NULL, 0, err) < 0)
			return -1;
		fl_injector_note(revert, "table %s deleted", table);
		return 0;
	}
	if (!ns || !json_is_array(links))
		return fl_error_set(err, FL_EXIT_ENV,
				    "network revert: record has neither a table nor links");
	json_array_foreach(links, i, l) {
		const char *dev = json_string_value(json_object_get(l, "dev"));
		const char *show[] = { "ip", "-n", ns, "link", "show", "dev", dev, NULL };
		const char *up[] = { "ip", "-n", ns, "link", "set", dev, "up", NULL };

		if (!dev || !json_is_true(json_object_get(l, "was_up")))
			continue;
		if (fl_netns_run(NULL, show, NULL, 1, err) < 0) {
			if (fl_error_is_set(err))
				return -1;
			missing++;
			continue;
		}
		if (fl_netns_run(NULL, up, NULL, 0, err) < 0)
			return -1;
		restored++;
	}
	fl_injector_note(revert, "netns %s: %zu link(s) up again%s", ns, restored,
			 missing ? ", some links no longer exist" : "");
	return 0;
}

/* ---- describe ----------------------------------------------------------------------- */

static char *network_describe(const struct fl_fault_spec *fault, const struct fl_target *target)
{
	json_t *p = fault->params;
	const char *mode = json_string_value(json_object_get(p, "mode"));
	const char *direction = json_string_value(json_object_get(p, "direction"));
	const char *peer = json_string_value(json_object_get(p, "peer"));
	struct fl_buf b;

	fl_buf_init(&b, 4096);
	fl_buf_addf(&b, "network %s", mode ? mode : "?");
	if (mode && strcmp(mode, "loss") == 0)
		fl_buf_addf(&b, " %lld%%",
			    (long long)json_integer_value(json_object_get(p, "percent")));
	fl_net_describe_where(&b, target, peer, direction);
	return b.failed ? NULL : fl_buf_detach(&b);
}

const struct fl_injector_ops fl_injector_network = {
	.name = "network",
	.summary =
		"partition a zone or host: link down, nftables drop/reject, random loss; reverted exactly",
	.target_kinds = (1u << FL_TARGET_NETNS) | (1u << FL_TARGET_HOST),
	.validate = network_validate,
	.prepare = network_prepare,
	.inject = network_inject,
	.revert = network_revert,
	.describe = network_describe,
};
