/*
 * environment: the places a drill may touch, loaded from an environment file.
 *
 * Owns: the environment model (named targets: local processes by pidfile or
 * command line, files, hosts/services with addresses and URLs, each with an
 * optional zone and tags) and its strict loader. An environment must say
 * `"production": false` before anything may be injected into it
 * (fl_environment_check_injectable). Does not own: what is done to a target
 * (injectors/) or how it is probed (probe.c).
 *
 * File format (JSON; see scenarios/schema/environment.schema.json):
 *   { "kind": "environment"?, "name": "demo", "production": false,
 *     "description": "...",
 *     "targets": { "api-1": { "kind": "process", "pidfile": "...",
 *                             "start": ["argv", ...], "zone": "az-a",
 *                             "url": "http://127.0.0.1:18081/", "tags": [..] },
 *                  "db-file": { "kind": "file", "path": "..." },
 *                  "host-a":  { "kind": "host", "host": "10.0.0.1", "port": 5432 },
 *                  "db-2":    { "kind": "process", "pidfile": "/run/pg.pid",
 *                               "ssh": "admin@db-2" } } }
 * `ssh` (process, file and host targets) puts the target on another machine:
 * "user@host", or { "destination": "user@host", "port": 22, "identity":
 * "key", "jump": "bastion", "config": "ssh_config" } (docs/remote.md).
 * A remote target's pidfile, path and start command are on that host.
 * Relative paths are resolved against the environment file's directory
 * (for a remote target only its ssh identity and config: the rest is
 * remote and must be absolute).
 */
#ifndef FAULTLINE_ENVIRONMENT_H
#define FAULTLINE_ENVIRONMENT_H

#include <stddef.h>
#include <jansson.h>

#include "core/doc.h"
#include "core/error.h"
#include "core/ssh.h"

enum fl_target_kind {
	FL_TARGET_PROCESS, /* a local process: pidfile or cmdline match */
	FL_TARGET_FILE,    /* a local file */
	FL_TARGET_HOST,    /* a host or service reached over the network */
	FL_TARGET_NETNS,   /* a network namespace (zones in the sandbox) */
	FL_TARGET_CLOUD    /* a cloud resource (ARN / id) */
};

struct fl_target {
	char *name;
	enum fl_target_kind kind;
	char *pidfile;      /* process: absolute path, or NULL */
	char *match;        /* process: substring of /proc/PID/cmdline, or NULL */
	char **start;       /* process: argv that (re)starts it, or NULL */
	char *path;         /* file: absolute path */
	char *host;         /* host: address or name */
	long port;          /* host: 0 when not given */
	char *url;          /* a health/base URL, or NULL */
	char *netns;        /* netns: namespace name */
	char *resource;     /* cloud: ARN or id */
	char *zone;         /* or NULL */
	struct fl_ssh *ssh; /* process/file/host: reached over ssh (docs/remote.md), or NULL = local */
	char **tags;        /* NULL-terminated, may be NULL */
	json_t *json;       /* borrowed: the target's object in the doc (for injectors) */
	int line, col;      /* position of the target's name in the file */
};

struct fl_environment {
	struct fl_doc *doc;
	char *name;
	char *description;
	int production; /* 1, 0, or -1 when the file does not say */
	char **secrets; /* declared secret variable names (NULL-terminated) or NULL */
	struct fl_target *targets;
	size_t ntargets;
};

/* Loads and validates path. Returns a new environment or NULL, err set. */
struct fl_environment *fl_environment_load(const char *path, struct fl_error *err);
/* Loads from an already-parsed doc (takes ownership of doc, even on error). */
struct fl_environment *fl_environment_from_doc(struct fl_doc *doc, struct fl_error *err);
void fl_environment_free(struct fl_environment *env);

/* Borrowed target by name, or NULL. */
const struct fl_target *fl_environment_target(const struct fl_environment *env, const char *name);
/* 0 when injection is allowed; -1 with a one-line error (FL_EXIT_ENV) when the
 * environment is production or does not say `"production": false`. */
int fl_environment_check_injectable(const struct fl_environment *env, struct fl_error *err);
const char *fl_target_kind_name(enum fl_target_kind kind);

#endif
