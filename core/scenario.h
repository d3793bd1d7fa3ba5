/*
 * scenario: the model of one disaster drill and its strict loader.
 *
 * Owns: what a scenario file says — the asset it protects, the targets
 * (RTO, RPO, data-loss limits), probes (availability, writer), detection
 * rule, faults, preparation and recovery steps (named phases), validation
 * checks, stop conditions, blast radius and timeouts — loaded with
 * file:line:column errors for every mistake, and cross-checked against an
 * environment (targets exist, injectors exist and accept their parameters)
 * and an inventory (the asset exists, its RTO/RPO fill missing targets).
 * Does not own: running any of it (runner.c), sampling (probe.c), faults
 * (injectors/).
 *
 * The file format is documented in README.md and
 * scenarios/schema/scenario.schema.json. Durations are "250ms", "30s",
 * "5m" or ISO 8601 "PT5M".
 */
#ifndef FAULTLINE_SCENARIO_H
#define FAULTLINE_SCENARIO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/doc.h"
#include "core/environment.h"
#include "core/inventory.h"
#include "core/error.h"

enum fl_probe_kind {
	FL_PROBE_HTTP,    /* GET/POST url; ok when status matches and body contains expect_body */
	FL_PROBE_TCP,     /* ok when a TCP connect to host:port succeeds */
	FL_PROBE_COMMAND, /* ok when argv exits with expect_exit */
	FL_PROBE_WRITER,  /* writes sequence-numbered records, logs acknowledgements */
	FL_PROBE_AWS      /* cloud state read through the AWS API (sim/probe_aws.c) */
};

/* The generic probe defaults, defined here once (the kinds' own defaults
 * live in their parse hooks, sim/probe_*.c and sim/writer_*.c). */
#define FL_PROBE_DEFAULT_INTERVAL_NS (100 * FL_NS_PER_MS)
#define FL_WRITER_DEFAULT_INTERVAL_NS (50 * FL_NS_PER_MS)
#define FL_CHECK_DEFAULT_TIMEOUT_NS (10 * FL_NS_PER_S)
#define FL_WRITER_DEFAULT_TABLE "faultline_writes"
/* "max_latency": "off" */
#define FL_PROBE_LATENCY_OFF INT64_C(-1)

/* One probe, also used for validation checks (a check is a probe evaluated
 * until it passes or its timeout runs out). The loader (fl_scenario_load)
 * fills the generic fields; the kind's own fields below them are filled by
 * the kind's parse hook, which fl_resolve_scenario (sim/resolve.c) runs. */
struct fl_probe_spec {
	char *name;
	enum fl_probe_kind kind;
	char *target;        /* environment target name it watches, or NULL */
	int64_t interval_ns; /* default 100ms (writer: 50ms) */
	int64_t timeout_ns;  /* per sample; default fl_probe_default_timeout(interval) */
	json_t *params;      /* borrowed: the probe's whole object, for its kind */
	int parsed;          /* the kind's parse hook has run (resolve) */
	/* http, tcp */
	int64_t max_latency_ns; /* an answer slower than this is a failed sample
				    (degraded counts as down); 0 = derived from the
				    steady state (fl_probe_engine_arm_latency);
				    FL_PROBE_LATENCY_OFF = only the timeout */
	/* http */
	char *url;          /* resolved: from the probe or its target's url */
	char *method;       /* "GET" (default), "POST", ... */
	char *body;         /* request body or NULL */
	long expect_status; /* 0: any 2xx */
	char *expect_body;  /* substring the body must contain, or NULL */
	/* tcp */
	char *host;
	long port;
	/* command */
	char **argv;
	long expect_exit; /* default 0 */
	/* writer */
	char *driver;   /* "sqlite", "http", "postgres" */
	char *dsn;      /* sqlite: database path; postgres: conninfo */
	char *table;    /* table the writer owns; default "faultline_writes" */
	char *read_url; /* http: GET url returning the surviving sequence numbers */
	/* aws */
	json_t *cloud; /* resolved: the cloud target's object (a reference), or NULL */
	int line, col;
};

enum fl_step_kind {
	FL_STEP_WAIT,       /* wait until a probe is healthy again (default: availability probe) */
	FL_STEP_ACTION,     /* run argv, must exit with expect_exit */
	FL_STEP_MANUAL,     /* game day: prompt an operator and time until confirmed */
	FL_STEP_AWS_RESTORE /* an AWS Backup restore job (sim/aws_restore.c reads its keys) */
};

struct fl_step_spec {
	char *name; /* phase name, e.g. "failover", "restore", "backup" */
	enum fl_step_kind kind;
	char **argv;  /* action */
	char *target; /* action: environment target whose host runs it (ssh), or NULL */
	long expect_exit;
	char *probe;        /* wait: probe name, NULL = availability probe */
	char *prompt;       /* manual */
	json_t *aws;        /* aws.backup_restore: its object (borrowed from the file) */
	int64_t timeout_ns; /* default 60s */
	int line, col;
};

struct fl_fault_spec {
	char *name;
	char *injector;      /* registered injector name ("process", "file", "exec", ...) */
	char *target;        /* environment target name (may be NULL for injectors without one) */
	int64_t after_ns;    /* delay after the drill's injection point (default 0) */
	int64_t duration_ns; /* > 0: reverted automatically after this long; 0: at the end */
	json_t *params;      /* borrowed: the fault's whole object, for the injector */
	char *zone;   /* select targets by zone instead of naming one (expanded by resolve) */
	char *select; /* with zone: "all" (default), "count(N)" or "percent(N)" */
	char *const *secrets; /* borrowed: the declared secret names (scenario's and
				    environment's), set by resolve; journaled as ${NAME} */
	int line, col;
};

struct fl_stop_condition {
	char *probe;         /* probe name */
	int64_t down_for_ns; /* abort when this probe has been failing this long */
	int line, col;
};

/* Detection by an external alert: "detection": {"alertmanager": {...}}.
 * When present, t_detect is the moment faultline first observed a matching
 * active alert in Alertmanager (sim/alert.h), not the probe rule. */
struct fl_alert_spec {
	char *url;       /* Alertmanager base URL, e.g. "http://127.0.0.1:9093" */
	char *alertname; /* labels.alertname to wait for */
	char **matchers; /* NULL-terminated "label", "value", ... pairs (exact match), or NULL */
	int64_t interval_ns; /* poll interval, default 250ms */
	int64_t timeout_ns;  /* from injection; default 30s */
	int line, col;       /* of the "alertmanager" object */
};

/* Detection by a CloudWatch alarm entering ALARM: "detection": {"cloudwatch":
 * {...}}. The loader keeps only the object (cloudwatch_obj); its keys are
 * read by sim/cloudwatch.c at resolve time, with the cloud target it names. */
struct fl_cloudwatch_spec {
	char *alarm;         /* AlarmName */
	char *target;        /* environment cloud target: region, endpoint */
	json_t *cloud;       /* resolved: that target's object (a reference) */
	int64_t interval_ns; /* poll interval, default 5s, at least 1s */
	int64_t timeout_ns;  /* from injection; default 5m */
	int line, col;       /* of the "cloudwatch" object */
};

struct fl_objectives {
	int64_t rto_ns;              /* -1 when none */
	int64_t rpo_ns;              /* -1 when none */
	long max_lost_after_fault;   /* default 0 */
	long max_lost_before_fault;  /* -1 = no limit beyond the RPO */
	int rto_includes_validation; /* RTO is measured to t_validated */
};

struct fl_scenario {
	struct fl_doc *doc;
	char *name;
	char *description;
	char *asset;       /* inventory asset name or NULL */
	char *environment; /* path of the default environment file (resolved), or NULL */
	char *inventory;   /* path of the default inventory file (resolved), or NULL */
	char **tags;
	char **secrets; /* declared secret variable names, the environment's added by resolve */
	struct fl_objectives targets;
	struct fl_probe_spec *probes; /* availability and other probes (not writers) */
	size_t nprobes;
	size_t availability; /* index into probes of the timeline's probe */
	struct fl_probe_spec *writers;
	size_t nwriters;
	/* detection */
	char *detect_probe;                 /* default: availability probe */
	long detect_failures;               /* consecutive failed samples, default 3 */
	struct fl_alert_spec *detect_alert; /* external alert detection, or NULL */
	json_t *cloudwatch_obj;             /* borrowed: "detection"."cloudwatch", or NULL */
	struct fl_cloudwatch_spec *detect_cloudwatch; /* resolved from it, or NULL */
	struct fl_fault_spec *faults;
	size_t nfaults;
	struct fl_step_spec *prepare; /* before the steady-state check (backups, checksums) */
	size_t nprepare;
	struct fl_step_spec *recovery; /* after detection, in order */
	size_t nrecovery;
	struct fl_probe_spec *validation; /* checks after restoration */
	size_t nvalidation;
	struct fl_stop_condition *stops;
	size_t nstops;
	/* blast radius */
	long max_targets;     /* -1: not declared (defaults to the fault count) */
	char **allowed_zones; /* NULL = any */
	/* timing */
	int64_t stability_ns; /* default 1s */
	int64_t steady_ns;    /* steady-state window before injection, default 1s */
	int64_t timeout_ns;   /* whole drill, default 5m */
};

/* Loads and validates a scenario file on its own (syntax, keys, types,
 * durations, internal references such as probe names). */
struct fl_scenario *fl_scenario_load(const char *path, struct fl_error *err);
/* Same from an already-parsed doc; takes ownership of doc, even on error. */
struct fl_scenario *fl_scenario_from_doc(struct fl_doc *doc, struct fl_error *err);
void fl_scenario_free(struct fl_scenario *sc);

/* Frees a fault spec's strings (not the struct; params are borrowed). */
void fl_fault_spec_release(struct fl_fault_spec *f);
/* Parses a zone selection: "all", "count(N)", "percent(N)". kind: 0 all,
 * 1 count, 2 percent. Either out pointer may be NULL. 0 or -1. */
int fl_select_parse(const char *s, int *kind, long *n);
/* The JSON object of the k-th probe in list ("probes", "validation") that
 * is not a writer, to place errors (borrowed). */
json_t *fl_scenario_probe_object(const struct fl_scenario *sc, const char *list, size_t k);

const struct fl_probe_spec *fl_scenario_probe(const struct fl_scenario *sc, const char *name);

/* A sampling probe's timeout when the scenario gives none: five intervals,
 * at most 1 s, at least 50 ms — long enough for a loaded machine, short
 * enough that a hung target shows up within a few intervals. */
int64_t fl_probe_default_timeout(int64_t interval_ns);
/* 1 when u starts with http:// or https://. */
int fl_scenario_is_http_url(const char *u);
/* Type name of a probe kind ("http", "tcp", "command", "writer"). */
const char *fl_probe_kind_name(enum fl_probe_kind kind);

#endif
