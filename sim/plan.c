/*
 * plan: every file and every program is checked before the drill touches
 * anything — a typo found mid-outage leaves the system broken longer.
 */
#include "sim/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/url.h"
#include "core/error.h"
#include "sim/drill.h"
#include "sim/aws_restore.h"
#include "sim/faults.h"
#include "sim/probe_kind.h"
#include "sim/resolve.h"
#include "sim/steps.h"

/* 1 when argv[0] names an executable file: a path (relative to dir when
 * relative, as steps run there) or a name found on PATH. */
static int program_found(const char *dir, const char *prog)
{
	char buf[4096];
	const char *path, *p;
	if (!prog || !*prog)
		return 0;
	if (strchr(prog, '/')) {
		if (prog[0] == '/' || !dir)
			return access(prog, X_OK) == 0;
		snprintf(buf, sizeof(buf), "%s/%s", dir, prog);
		return access(buf, X_OK) == 0;
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	for (p = path; *p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		if (len > 0 && len + strlen(prog) + 2 < sizeof(buf)) {
			memcpy(buf, p, len);
			buf[len] = '/';
			memcpy(buf + len + 1, prog, strlen(prog) + 1);
			if (access(buf, X_OK) == 0)
				return 1;
		}
		p = colon ? colon + 1 : p + len;
	}
	return 0;
}

static int check_steps(struct drill *d)
{
	const struct fl_scenario *sc = d->sc;
	const char *dir = fl_doc_dir(sc->doc), *file = fl_doc_file(sc->doc);
	const struct {
		const struct fl_step_spec *steps;
		size_t n;
		const char *what;
	} lists[] = {
		{ sc->prepare, sc->nprepare, "prepare step" },
		{ sc->recovery, sc->nrecovery, "recovery step" },
	};
	for (size_t l = 0; l < FL_ARRAY_LEN(lists); l++)
		for (size_t i = 0; i < lists[l].n; i++) {
			const struct fl_step_spec *st = &lists[l].steps[i];
			if (st->kind == FL_STEP_ACTION && st->argv && !program_found(dir, st->argv[0]))
				return fl_error_at(d->err, FL_EXIT_INPUT, file, st->line, st->col,
						   "%s '%s': program '%s' not found or not executable",
						   lists[l].what, st->name, st->argv[0]);
		}
	return 0;
}

/* Every program a drill will run after injecting must exist before anything
 * is injected. */
static int check_programs(struct drill *d)
{
	const struct fl_scenario *sc = d->sc;
	const char *file = fl_doc_file(sc->doc);
	if (check_steps(d) < 0)
		return -1;
	for (size_t i = 0; i < sc->nprobes + sc->nvalidation; i++) {
		const struct fl_probe_spec *p =
			i < sc->nprobes ? &sc->probes[i] : &sc->validation[i - sc->nprobes];
		/* Probe commands run in faultline's working directory. */
		if (p->kind == FL_PROBE_COMMAND && p->argv && !program_found(NULL, p->argv[0]))
			return fl_error_at(d->err, FL_EXIT_INPUT, file, p->line, p->col,
					   "%s '%s': program '%s' not found or not executable",
					   i < sc->nprobes ? "probe" : "validation check", p->name,
					   p->argv[0]);
	}
	return 0;
}

/* An exec fault's command as it will run: ${VAR} expanded from this
 * process's environment by the same getter the injector uses. A command
 * that does not expand is the injector's to report. */
static int check_exec_program(struct drill *d, const struct active_fault *f, const char *key)
{
	char **argv = NULL;
	struct fl_error e;
	int rc = 0;
	fl_error_init(&e);
	if (fl_doc_strv(d->sc->doc, f->spec->params, key, 0, &argv, &e) < 0 || !argv || !argv[0]) {
		fl_strv_free(argv);
		return 0;
	}
	if (!program_found(NULL, argv[0]))
		rc = fl_error_at(d->err, FL_EXIT_INPUT, fl_doc_file(d->sc->doc), f->spec->line,
				 f->spec->col,
				 "fault '%s': %s program '%s' not found or not executable",
				 f->spec->name, key, argv[0]);
	fl_strv_free(argv);
	return rc;
}

/* The programs a fault's revert runs — an exec fault's "inject" and
 * "revert" commands, the "start" command a process target is restarted
 * with — exist before anything is injected: a revert that cannot run
 * leaves the fault in place. Both run in faultline's working directory
 * (a remote target's run on its host and are not checked here).
 * The injector names are compared here because only these two run
 * programs named in the files. */
static int check_fault_programs(struct drill *d)
{
	for (size_t i = 0; i < d->nfaults; i++) {
		const struct active_fault *f = &d->faults[i];
		const char *const keys[] = { "inject", "revert" };
		/* A remote target's programs run on its host (docs/remote.md):
		 * they are not on this machine to check. */
		if (f->target && f->target->ssh)
			continue;
		if (!strcmp(f->ops->name, "exec"))
			for (size_t k = 0; k < FL_ARRAY_LEN(keys); k++)
				if (check_exec_program(d, f, keys[k]) < 0)
					return -1;
		if (!strcmp(f->ops->name, "process") && f->target && f->target->start &&
		    f->target->start[0] && !program_found(NULL, f->target->start[0]))
			return fl_error_at(d->err, FL_EXIT_INPUT, fl_doc_file(d->env->doc),
					   f->target->line, f->target->col,
					   "target '%s': start program '%s' not found or not executable "
					   "(fault '%s' restarts it with it)",
					   f->target->name, f->target->start[0], f->spec->name);
	}
	return 0;
}

int plan_load(struct drill *d, const char *path)
{
	const char *env_path, *inv_path;
	d->sc = fl_scenario_load(path, d->err);
	if (!d->sc)
		return -1;
	env_path = d->o->env_path ? d->o->env_path : d->sc->environment;
	inv_path = d->o->inventory_path ? d->o->inventory_path : d->sc->inventory;
	if (env_path && !(d->env = fl_environment_load(env_path, d->err)))
		return -1;
	if (inv_path && !(d->inv = fl_inventory_load(inv_path, d->err)))
		return -1;
	if (fl_resolve_scenario(d->sc, d->env, d->inv, d->err) < 0)
		return -1;
	if (check_programs(d) < 0)
		return -1;
	if (d->sc->nfaults > 0 && !d->env)
		return fl_error_set(d->err, FL_EXIT_INPUT,
				    "%s: no environment: give --env FILE or an \"environment\" key",
				    path);
	if (faults_setup(d) < 0)
		return -1;
	return check_fault_programs(d);
}

/* ---- the plan -------------------------------------------------------------- */

static json_t *ns_or_null(int64_t ns)
{
	return ns >= 0 ? json_real((double)ns / 1e6) : json_null();
}

/* The cloud API read one sample of p makes (borrowed), or NULL. */
static const char *probe_reads(const struct fl_probe_spec *p)
{
	const struct fl_probe_kind_ops *k = fl_probe_kind_of(p->kind);
	return k && k->api_reads ? k->api_reads(p) : NULL;
}

static json_t *plan_probes_json(const struct fl_scenario *sc)
{
	json_t *probes = json_array();
	for (size_t i = 0; probes && i < sc->nprobes; i++)
		json_array_append_new(probes, json_pack("{s:s, s:f, s:b, s:s*}", "name",
							sc->probes[i].name, "interval_ms",
							(double)sc->probes[i].interval_ns / 1e6,
							"availability", i == sc->availability,
							"api_reads", probe_reads(&sc->probes[i])));
	for (size_t i = 0; probes && i < sc->nwriters; i++)
		json_array_append_new(probes,
				      json_pack("{s:s, s:s, s:f}", "name", sc->writers[i].name,
						"writer", sc->writers[i].driver, "interval_ms",
						(double)sc->writers[i].interval_ns / 1e6));
	return probes;
}

static json_t *plan_faults_json(const struct drill *d)
{
	json_t *faults = json_array();
	for (size_t i = 0; faults && i < d->nfaults; i++) {
		const struct active_fault *f = &d->faults[i];
		json_array_append_new(faults,
				      json_pack("{s:s, s:s, s:o, s:s, s:f, s:o}", "name",
						f->spec->name, "injector", f->ops->name, "target",
						f->target ? json_string(f->target->name) : json_null(),
						"description", f->desc ? f->desc : "", "after_ms",
						(double)f->spec->after_ns / 1e6, "duration_ms",
						f->spec->duration_ns > 0
							? ns_or_null(f->spec->duration_ns)
							: json_null()));
	}
	return faults;
}

static json_t *plan_steps_json(const struct fl_scenario *sc)
{
	json_t *steps = json_array();
	for (size_t i = 0; steps && i < sc->nrecovery; i++) {
		const struct fl_step_spec *s = &sc->recovery[i];
		char *calls = s->kind == FL_STEP_AWS_RESTORE ? fl_aws_restore_describe(s->aws) : NULL;
		json_array_append_new(steps,
				      json_pack("{s:s, s:s, s:s?}", "name", s->name, "kind",
						fl_step_kind_name(s->kind), "description", calls));
		fl_free(calls);
	}
	return steps;
}

/* How t_detect is taken, with the API calls it makes. */
static json_t *plan_detection_json(const struct fl_scenario *sc)
{
	if (sc->detect_cloudwatch)
		return json_pack("{s:s, s:s, s:s, s:f, s:f, s:[s]}", "kind", "cloudwatch", "alarm",
				 sc->detect_cloudwatch->alarm, "target",
				 sc->detect_cloudwatch->target, "interval_ms",
				 (double)sc->detect_cloudwatch->interval_ns / 1e6, "timeout_ms",
				 (double)sc->detect_cloudwatch->timeout_ns / 1e6, "api_reads",
				 "cloudwatch DescribeAlarms");
	if (sc->detect_alert)
		return json_pack("{s:s, s:s}", "kind", "alertmanager", "alert",
				 sc->detect_alert->alertname);
	return json_pack("{s:s, s:s, s:i}", "kind", "probe", "probe",
			 sc->detect_probe ? sc->detect_probe : sc->probes[sc->availability].name,
			 "failures", (int)sc->detect_failures);
}

/* The dry-run plan as JSON: what `--dry-run --json` prints for CI review. */
static json_t *plan_json(const struct drill *d)
{
	const struct fl_scenario *sc = d->sc;
	json_t *o = json_object(), *prep = json_array(), *checks = json_array();
	json_t *check_reads = json_object();
	for (size_t i = 0; prep && i < sc->nprepare; i++)
		json_array_append_new(prep, json_string(sc->prepare[i].name));
	for (size_t i = 0; checks && i < sc->nvalidation; i++) {
		json_array_append_new(checks, json_string(sc->validation[i].name));
		if (probe_reads(&sc->validation[i]))
			json_object_set_new(check_reads, sc->validation[i].name,
					    json_string(probe_reads(&sc->validation[i])));
	}
	if (!o) {
		json_decref(prep);
		json_decref(checks);
		json_decref(check_reads);
		return NULL;
	}
	json_object_set_new(o, "scenario", json_string(sc->name));
	json_object_set_new(o, "file", json_string(fl_doc_file(sc->doc)));
	json_object_set_new(o, "environment", d->env ? json_string(d->env->name) : json_null());
	json_object_set_new(o, "production",
			    !d->env || d->env->production < 0 ? json_null()
							      : json_boolean(d->env->production));
	json_object_set_new(o, "rto_target_ms", ns_or_null(sc->targets.rto_ns));
	json_object_set_new(o, "rpo_target_ms", ns_or_null(sc->targets.rpo_ns));
	json_object_set_new(o, "max_lost_after_fault",
			    json_integer(sc->targets.max_lost_after_fault));
	json_object_set_new(o, "max_targets",
			    sc->max_targets >= 0 ? json_integer(sc->max_targets) : json_null());
	/* json_object_set_new takes NULL as a failure and frees nothing else:
	 * a half-built plan is dropped below. */
	if (json_object_set_new(o, "prepare", prep) ||
	    json_object_set_new(o, "probes", plan_probes_json(sc)) ||
	    json_object_set_new(o, "faults", plan_faults_json(d)) ||
	    json_object_set_new(o, "recovery", plan_steps_json(sc)) ||
	    json_object_set_new(o, "validation", checks) ||
	    json_object_set_new(o, "validation_api_reads", check_reads) ||
	    json_object_set_new(o, "detection", plan_detection_json(sc))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void plan_text_head(const struct drill *d, FILE *f)
{
	char shown[FL_URL_REDACTED_MAX];
	char a[32], b[32];
	fprintf(f, "scenario %s (%s)\n", d->sc->name, fl_doc_file(d->sc->doc));
	fprintf(f, "  environment: %s (production: %s)\n", d->env ? d->env->name : "-",
		!d->env                   ? "-"
		: d->env->production == 0 ? "false"
		: d->env->production == 1 ? "TRUE"
					  : "not said");
	fprintf(f, "  targets: RTO %s, RPO %s, lost after fault <= %ld\n",
		d->sc->targets.rto_ns >= 0 ? fl_duration_format(d->sc->targets.rto_ns, a, sizeof(a))
					   : "none",
		d->sc->targets.rpo_ns >= 0 ? fl_duration_format(d->sc->targets.rpo_ns, b, sizeof(b))
					   : "none",
		d->sc->targets.max_lost_after_fault);
	for (size_t i = 0; i < d->sc->nprepare; i++)
		fprintf(f, "  prepare %s: run %s\n", d->sc->prepare[i].name,
			d->sc->prepare[i].argv[0]);
	for (size_t i = 0; i < d->sc->nprobes; i++)
		fprintf(f, "  probe %s every %s%s%s%s\n", d->sc->probes[i].name,
			fl_duration_format(d->sc->probes[i].interval_ns, a, sizeof(a)),
			i == d->sc->availability ? " (availability)" : "",
			probe_reads(&d->sc->probes[i]) ? ": aws reads " : "",
			probe_reads(&d->sc->probes[i]) ? probe_reads(&d->sc->probes[i]) : "");
	for (size_t i = 0; i < d->sc->nwriters; i++)
		fprintf(f, "  writer %s (%s) every %s\n", d->sc->writers[i].name,
			d->sc->writers[i].driver,
			fl_duration_format(d->sc->writers[i].interval_ns, a, sizeof(a)));
	if (d->sc->detect_alert)
		fprintf(f, "  detect: Alertmanager alert '%s' at %s, polled every %s, within %s\n",
			d->sc->detect_alert->alertname,
			fl_url_redact(d->sc->detect_alert->url, shown, sizeof(shown)),
			fl_duration_format(d->sc->detect_alert->interval_ns, a, sizeof(a)),
			fl_duration_format(d->sc->detect_alert->timeout_ns, b, sizeof(b)));
	else if (d->sc->detect_cloudwatch)
		fprintf(f,
			"  detect: CloudWatch alarm '%s' through target %s, polled every %s, within %s: "
			"aws reads cloudwatch DescribeAlarms\n",
			d->sc->detect_cloudwatch->alarm, d->sc->detect_cloudwatch->target,
			fl_duration_format(d->sc->detect_cloudwatch->interval_ns, a, sizeof(a)),
			fl_duration_format(d->sc->detect_cloudwatch->timeout_ns, b, sizeof(b)));
	else
		fprintf(f, "  detect: %ld consecutive failures of probe %s\n", d->sc->detect_failures,
			d->sc->detect_probe ? d->sc->detect_probe
					    : d->sc->probes[d->sc->availability].name);
}

static const char *step_plan_text(enum fl_step_kind k)
{
	switch (k) {
	case FL_STEP_ACTION: return "run an action";
	case FL_STEP_WAIT: return "wait until healthy";
	case FL_STEP_AWS_RESTORE: return "AWS Backup restore";
	case FL_STEP_MANUAL: break;
	}
	return "manual";
}

/* A step's line in the plan: an AWS step lists the calls it would make. */
static void plan_step_text(const struct fl_step_spec *s, FILE *f)
{
	char *calls = s->kind == FL_STEP_AWS_RESTORE ? fl_aws_restore_describe(s->aws) : NULL;
	fprintf(f, "  recovery %s: %s\n", s->name, calls ? calls : step_plan_text(s->kind));
	fl_free(calls);
}

static void plan_text(const struct drill *d, FILE *f)
{
	char a[32];
	plan_text_head(d, f);
	if (d->sc->max_targets >= 0)
		fprintf(f,
			"  blast radius: at most %ld targets (a cloud fault counts the resources it "
			"would touch, read before anything is changed)\n",
			d->sc->max_targets);
	for (size_t i = 0; i < d->nfaults; i++)
		fprintf(f, "  would inject %s: %s%s%s\n", d->faults[i].spec->name,
			d->faults[i].desc ? d->faults[i].desc : d->faults[i].ops->name,
			d->faults[i].spec->duration_ns > 0 ? ", reverted after " : "",
			d->faults[i].spec->duration_ns > 0
				? fl_duration_format(d->faults[i].spec->duration_ns, a, sizeof(a))
				: "");
	for (size_t i = 0; i < d->sc->nrecovery; i++)
		plan_step_text(&d->sc->recovery[i], f);
	for (size_t i = 0; i < d->sc->nvalidation; i++)
		fprintf(f, "  validate %s%s%s\n", d->sc->validation[i].name,
			probe_reads(&d->sc->validation[i]) ? ": aws reads " : "",
			probe_reads(&d->sc->validation[i]) ? probe_reads(&d->sc->validation[i]) : "");
}

void plan_print(struct drill *d)
{
	if (d->o->plan) {
		json_t *p = plan_json(d);
		if (p)
			json_array_append_new(d->o->plan, p);
		return;
	}
	plan_text(d, stdout);
}
