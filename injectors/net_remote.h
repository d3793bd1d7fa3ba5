/*
 * net_remote: the network and latency injectors on a host reached over ssh
 * (docs/remote.md). The host's own tools (nft, tc) run there through
 * argv-safe ssh commands: fixed scripts, target data only as quoted
 * positional parameters, rulesets on stdin. Nothing is installed on the
 * host.
 *
 * Owns: the one-round-trip check that the host has what a fault needs (and
 * which ssh connection the harness arrives on, so a partition spares it),
 * loading and deleting a faultline-owned nft table on the host, and the
 * remote latency qdisc (tc netem) with its revert. Each revert works from
 * the journaled record alone, is retried while the host is unreachable
 * (FL_NET_REMOTE_ATTEMPTS) and treats "already gone" as reverted.
 * Does not own: the rules themselves (network.c builds them), what a fault
 * means locally (network.c, latency.c).
 */
#ifndef FAULTLINE_NET_REMOTE_H
#define FAULTLINE_NET_REMOTE_H

#include <jansson.h>

#include "core/environment.h"
#include "core/error.h"

#define FL_NET_REMOTE_ATTEMPTS 4 /* revert: the host may come back */

/* prepare(): checks in one round trip that the host of target->ssh has a
 * working nft, and adds to rec its "ssh" object and "exempt" ({"addr",
 * "port"}: where the harness's ssh session comes from and the sshd port
 * it reaches), which the ruleset must let through. 0, or -1 with err set
 * naming the fault and the host. */
int fl_net_remote_prepare(const char *fault, const struct fl_target *target, json_t *rec,
			  struct fl_error *err);
/* inject(): loads ruleset (one table) on rec's host with `nft -f -` from
 * stdin. Sent once, never retried. */
int fl_net_remote_load(const json_t *rec, const char *ruleset, struct fl_error *err);
/* revert(): deletes rec's table on its host unless already gone. */
int fl_net_remote_revert(const json_t *rec, struct fl_error *err);

/* Latency over ssh: tc netem as the root qdisc of the host's interface
 * towards the harness (or `peer`). prepare checks tc, that netem works
 * (in a throwaway network namespace: nothing of the host is touched) and
 * that the interface's root qdisc is a default one, and records "ssh",
 * "dev" and "handle". */
int fl_lat_remote_prepare(const char *fault, const struct fl_target *target, const char *peer,
			  json_t *rec, struct fl_error *err);
int fl_lat_remote_inject(const json_t *rec, struct fl_error *err);
int fl_lat_remote_revert(const json_t *rec, struct fl_error *err);

#endif
