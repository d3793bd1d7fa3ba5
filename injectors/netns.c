/*
 * netns: address checks, namespace checks and running tools in a network
 * namespace, shared by the network and latency injectors.
 */
#include "injectors/netns.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/spawn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int fl_net_addr_check(const char *s, int *v6)
{
	char host[INET6_ADDRSTRLEN + 8];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long prefix;

	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, bin) == 1)
		*v6 = 0;
	else if (inet_pton(AF_INET6, host, bin) == 1)
		*v6 = 1;
	else
		return -1;
	if (slash && fl_parse_long(slash + 1, 0, *v6 ? 128 : 32, &prefix) < 0)
		return -1;
	return 0;
}

int fl_netns_exists(const char *ns)
{
	char path[512];
	struct stat st;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return stat(path, &st) == 0;
}

int fl_net_target_check(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, const char *what, struct fl_error *err)
{
	int v6 = 0;
	if (!target)
		return 0;
	if (target->kind != FL_TARGET_NETNS && target->kind != FL_TARGET_HOST)
		return fl_doc_error_member(doc, fault->params, "target", err,
					   "%s fault '%s': target '%s' is a %s target (expected netns or host)",
					   what, fault->name, target->name,
					   fl_target_kind_name(target->kind));
	if (target->kind == FL_TARGET_HOST && fl_net_addr_check(target->host, &v6) < 0)
		return fl_doc_error_member(doc, fault->params, "target", err,
					   "%s fault '%s': host target '%s' needs an IP address, not '%s'",
					   what, fault->name, target->name, target->host);
	return 0;
}

int fl_netns_run(const char *ns, const char *const *argv, struct fl_buf *out, int quiet,
		 struct fl_error *err)
{
	return fl_netns_run_stdin(ns, argv, NULL, out, quiet, err);
}

int fl_netns_run_stdin(const char *ns, const char *const *argv, const char *text,
		       struct fl_buf *out, int quiet, struct fl_error *err)
{
	struct fl_spawn_opts so = { .stdin_data = text, .stdin_len = text ? strlen(text) : 0 };
	const char *full[24];
	size_t n = 0;
	struct fl_buf local;
	struct fl_buf *o = out ? out : &local;
	char how[64];
	int status = 0, rc = -1;

	if (!out)
		fl_buf_init(&local, FL_NETNS_OUTPUT_LIMIT);
	if (ns) {
		full[n++] = "ip";
		full[n++] = "netns";
		full[n++] = "exec";
		full[n++] = ns;
	}
	for (size_t i = 0; argv[i] && n + 1 < FL_ARRAY_LEN(full); i++)
		full[n++] = argv[i];
	full[n] = NULL;
	if (fl_run_argv(full, FL_NETNS_CMD_TIMEOUT_NS, o, &status, &so, err) < 0)
		goto out;
	if (status == 0) {
		rc = 0;
		goto out;
	}
	if (!quiet) {
		/* "nft: exited 1" alone says little; the tool's own line says why. */
		size_t len = strcspn(o->buf, "\n");
		if (len == 0)
			fl_error_set(err, FL_EXIT_ENV, "%s%s%s%s %s", ns ? "in netns " : "",
				     ns ? ns : "", ns ? ": " : "", argv[0],
				     fl_status_describe(status, how, sizeof(how)));
		else
			fl_error_set(err, FL_EXIT_ENV, "%s%s%s%.*s", ns ? "in netns " : "",
				     ns ? ns : "", ns ? ": " : "", (int)(len > 300 ? 300 : len),
				     o->buf);
	}
out:
	if (!out)
		fl_buf_release(&local);
	return rc;
}

void fl_net_describe_where(struct fl_buf *b, const struct fl_target *target, const char *peer,
			   const char *direction)
{
	if (target && target->kind == FL_TARGET_NETNS)
		fl_buf_addf(b, " on zone netns %s", target->netns);
	else if (target)
		fl_buf_addf(b, " on host %s", target->host);
	if (target && target->kind == FL_TARGET_HOST && target->port > 0)
		fl_buf_addf(b, " port %ld", target->port);
	if (peer)
		fl_buf_addf(b, " to/from %s", peer);
	if (direction && strcmp(direction, "both") != 0)
		fl_buf_addf(b, " (%s only)", direction);
	if (target && target->ssh)
		fl_buf_addf(b, " (target %s, on %s over ssh)", target->name,
			    target->ssh->destination);
	else if (target)
		fl_buf_addf(b, " (target %s)", target->name);
}
