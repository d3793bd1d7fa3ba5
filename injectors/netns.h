/*
 * netns: what the network-level injectors (network.c, latency.c) share —
 * checking an address, whether a network namespace exists, checking that a
 * fault's target is a netns or an IP host, and running a tool (ip, nft,
 * iptables) inside a namespace from an argv vector with a bounded wait.
 * Does not own: any rule or fault (each injector builds its own).
 */
#ifndef FAULTLINE_NETNS_H
#define FAULTLINE_NETNS_H

#include "core/doc.h"
#include "core/environment.h"
#include "core/scenario.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/clock.h"

#define FL_NETNS_CMD_TIMEOUT_NS (10 * FL_NS_PER_S)
#define FL_NETNS_OUTPUT_LIMIT ((size_t)64 << 10)

/* An IPv4/IPv6 address, optionally with a /prefix: 0 (sets *v6) or -1. */
int fl_net_addr_check(const char *s, int *v6);
/* 1 when /run/netns/NAME exists. */
int fl_netns_exists(const char *ns);
/* validate() helper: the target (if any) must be a netns target, or a host
 * target whose host is an IP address. `what` names the injector in
 * messages ("network", "latency"). 0 or -1 with a positioned error. */
int fl_net_target_check(struct fl_doc *doc, const struct fl_fault_spec *fault,
			const struct fl_target *target, const char *what, struct fl_error *err);
/* Appends where a network fault acts, for describe(): " on zone netns X" or
 * " on host H port P", " to/from PEER", " (in only)", " (target NAME)". */
void fl_net_describe_where(struct fl_buf *b, const struct fl_target *target, const char *peer,
			   const char *direction);
/* Runs argv inside namespace ns (NULL: here) through `ip netns exec`; 0 when
 * it exited 0, else -1 with the tool's first output line in err — unless
 * quiet: then a non-zero exit is an answer ("no such table") and leaves err
 * unset; only a program that could not start sets it. Output goes to out
 * when non-NULL. */
int fl_netns_run(const char *ns, const char *const *argv, struct fl_buf *out, int quiet,
		 struct fl_error *err);
/* fl_netns_run with text (NUL-terminated) as the program's stdin, from an
 * anonymous memfd (core/spawn.h): a ruleset for `nft -f -`, never a named
 * file a kill could leave behind. */
int fl_netns_run_stdin(const char *ns, const char *const *argv, const char *text,
		       struct fl_buf *out, int quiet, struct fl_error *err);

#endif
