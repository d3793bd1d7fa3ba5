/*
 * resolve: a loaded scenario checked and completed against its environment
 * and inventory (sim/resolve.h). Also where each probe's kind reads its own
 * keys (sim/probe_kind.h): the loader in core/ reads only the generic ones.
 */
#include "sim/resolve.h"

#include <string.h>

#include "core/alloc.h"
#include "core/expand.h"
#include "injectors/injector.h"
#include "sim/aws_restore.h"
#include "sim/cloudwatch.h"
#include "sim/probe_kind.h"
#include "core/error.h"
#include "core/buf.h"
#include "core/ssh.h"

static int oom(const struct fl_doc *doc, struct fl_error *err)
{
	return fl_error_oom(err, "%s", fl_doc_file(doc));
}

static void *array_new(const struct fl_doc *doc, size_t n, size_t size, struct fl_error *err)
{
	void *p = fl_calloc(n ? n : 1, size);
	if (!p)
		oom(doc, err);
	return p;
}

/* ---- resolving against environment and inventory ---------------------------------- */

static int unknown_target(const struct fl_scenario *sc, json_t *obj, const char *name,
			  const struct fl_environment *env, struct fl_error *err)
{
	return fl_doc_error_member(sc->doc, obj, "target", err,
				   "unknown target '%s' in environment %s (%s)", name, env->name,
				   fl_doc_file(env->doc));
}

static int probe_resolve(struct fl_scenario *sc, struct fl_probe_spec *p, json_t *obj,
			 const struct fl_environment *env, struct fl_error *err)
{
	const struct fl_target *t;
	if (!p->target)
		return 0;
	if (!env) {
		/* Without an environment a target can only be taken on trust
		 * when the probe does not need anything from it. */
		if ((p->kind == FL_PROBE_HTTP && !p->url) || p->kind == FL_PROBE_AWS ||
		    (p->kind == FL_PROBE_TCP && (!p->host || !p->port)))
			return fl_doc_error_member(sc->doc, obj, "target", err,
						   "probe '%s': target '%s' needs an environment (give --env FILE or an \"environment\" key)",
						   p->name, p->target);
		return 0;
	}
	t = fl_environment_target(env, p->target);
	if (!t)
		return unknown_target(sc, obj, p->target, env, err);
	if (p->kind == FL_PROBE_HTTP && !p->url) {
		if (!t->url)
			return fl_doc_error_member(sc->doc, obj, "target", err,
						   "probe '%s': target '%s' has no url: give the probe a 'url'",
						   p->name, p->target);
		if (!(p->url = fl_strdup(t->url)))
			return oom(sc->doc, err);
	}
	if (p->kind == FL_PROBE_TCP) {
		if (!p->host && t->host && !(p->host = fl_strdup(t->host)))
			return oom(sc->doc, err);
		if (!p->port)
			p->port = t->port;
		if (!p->host || !p->port)
			return fl_doc_error_member(sc->doc, obj, "target", err,
						   "probe '%s': target '%s' has no host and port: give the probe 'host' and 'port'",
						   p->name, p->target);
	}
	/* An aws probe reads its region, endpoint and selection from the
	 * cloud target (sim/probe_aws.c). */
	if (p->kind == FL_PROBE_AWS) {
		if (t->kind != FL_TARGET_CLOUD || !t->json)
			return fl_doc_error_member(sc->doc, obj, "target", err,
						   "probe '%s': target '%s' is not a cloud target",
						   p->name, p->target);
		json_decref(p->cloud);
		p->cloud = json_incref(t->json);
	}
	/* A command probe or check of a remote target runs on its host
	 * (docs/remote.md): the argv becomes the ssh argv, every word quoted. */
	if (p->kind == FL_PROBE_COMMAND && t->ssh && p->argv && p->argv[0]) {
		char **remote = fl_ssh_argv(t->ssh, (const char *const *)p->argv, err);
		if (!remote)
			return -1;
		fl_strv_free(p->argv);
		p->argv = remote;
	}
	return 0;
}

/* An action step naming a target runs on that target's host when it has
 * ssh (docs/remote.md); a local target only documents where it acts. */
static int step_resolve(struct fl_scenario *sc, struct fl_step_spec *s, json_t *obj,
			const struct fl_environment *env, struct fl_error *err)
{
	const struct fl_target *t;
	char **remote;
	if (s->kind == FL_STEP_AWS_RESTORE)
		return fl_aws_restore_check(sc->doc, s->aws, s->name, env, err);
	if (s->kind != FL_STEP_ACTION || !s->target)
		return 0;
	if (!env)
		return fl_doc_error_member(sc->doc, obj, "target", err,
					   "step '%s': target '%s' needs an environment (give --env FILE or an \"environment\" key)",
					   s->name, s->target);
	t = fl_environment_target(env, s->target);
	if (!t)
		return unknown_target(sc, obj, s->target, env, err);
	if (!t->ssh)
		return 0;
	remote = fl_ssh_argv(t->ssh, (const char *const *)s->argv, err);
	if (!remote)
		return -1;
	fl_strv_free(s->argv);
	s->argv = remote;
	return 0;
}

/* Runs p's kind parse hook on its object, then reports keys nobody read. */
static int probe_parse(struct fl_scenario *sc, struct fl_probe_spec *p, int is_check,
		       struct fl_error *err)
{
	const struct fl_probe_kind_ops *ops = fl_probe_kind_of(p->kind);
	if (p->parsed)
		return 0;
	if (!ops || !ops->parse)
		return fl_doc_error_member(sc->doc, p->params, "type", err, "unknown probe type");
	if (ops->parse(sc->doc, p->params, p, is_check, err) < 0 ||
	    fl_doc_check_keys(sc->doc, p->params, err) < 0)
		return -1;
	p->parsed = 1;
	return 0;
}

/* Every probe and writer in file order, then every validation check, so the
 * first mistake in the file is the one reported. */
static int probes_parse(struct fl_scenario *sc, struct fl_error *err)
{
	json_t *arr = json_object_get(fl_doc_root(sc->doc), "probes"), *obj;
	size_t i;
	json_array_foreach(arr, i, obj) {
		for (size_t k = 0; k < sc->nprobes; k++)
			if (sc->probes[k].params == obj && probe_parse(sc, &sc->probes[k], 0, err) < 0)
				return -1;
		for (size_t k = 0; k < sc->nwriters; k++)
			if (sc->writers[k].params == obj &&
			    probe_parse(sc, &sc->writers[k], 0, err) < 0)
				return -1;
	}
	for (size_t k = 0; k < sc->nvalidation; k++)
		if (probe_parse(sc, &sc->validation[k], 1, err) < 0)
			return -1;
	return 0;
}

static int zone_allowed(char *const *zones, const char *zone)
{
	for (size_t i = 0; zones[i]; i++)
		if (zone && strcmp(zones[i], zone) == 0)
			return 1;
	return 0;
}


/* Appends a copy of f, renamed and retargeted, to the growing list. */
static int fault_push(struct fl_fault_spec **out, size_t *n, size_t *cap,
		      const struct fl_fault_spec *f, const char *target)
{
	struct fl_fault_spec g;
	struct fl_buf name;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct fl_fault_spec *h = fl_realloc(*out, ncap * sizeof(**out));
		if (!h)
			return -1;
		*out = h;
		*cap = ncap;
	}
	memset(&g, 0, sizeof(g));
	fl_buf_init(&name, 0);
	if (f->zone)
		fl_buf_addf(&name, "%s@%s", f->name, target);
	else
		fl_buf_adds(&name, f->name);
	g.name = name.failed ? NULL : fl_buf_detach(&name);
	fl_buf_release(&name);
	g.injector = fl_strdup(f->injector);
	g.target = target ? fl_strdup(target) : NULL;
	g.after_ns = f->after_ns;
	g.duration_ns = f->duration_ns;
	g.params = f->params;
	g.line = f->line;
	g.col = f->col;
	(*out)[(*n)++] = g;
	return g.name && g.injector && (!target || g.target) ? 0 : -1;
}

/* Replaces every fault that selects a zone by one fault per matching target
 * (the others are copied as they are). On error the scenario is unchanged. */
static int faults_expand_zones(struct fl_scenario *sc, const struct fl_environment *env,
			       struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	struct fl_fault_spec *out = NULL;
	size_t nout = 0, cap = 0;
	int any = 0;
	for (size_t i = 0; i < sc->nfaults; i++)
		any |= sc->faults[i].zone != NULL;
	if (!any)
		return 0;
	for (size_t i = 0; i < sc->nfaults; i++) {
		const struct fl_fault_spec *f = &sc->faults[i];
		const struct fl_injector_ops *ops = fl_injector_find(f->injector);
		size_t matches = 0, take, taken = 0;
		int kind = 0;
		long n = 0;
		if (!f->zone) {
			if (fault_push(&out, &nout, &cap, f, f->target) < 0)
				goto oom;
			continue;
		}
		if (!ops) {
			fl_doc_error_member(doc, f->params, "injector", err,
					    "unknown injector '%s'", f->injector);
			goto fail;
		}
		if (!env) {
			fl_doc_error_member(doc, f->params, "zone", err,
					    "fault '%s': zone '%s' needs an environment (give --env FILE or an \"environment\" key)",
					    f->name, f->zone);
			goto fail;
		}
		for (size_t t = 0; t < env->ntargets; t++)
			if (env->targets[t].zone && !strcmp(env->targets[t].zone, f->zone) &&
			    (ops->target_kinds & (1u << env->targets[t].kind)))
				matches++;
		if (matches == 0) {
			fl_doc_error_member(doc, f->params, "zone", err,
					    "fault '%s': no target in zone '%s' of environment %s that injector '%s' can act on",
					    f->name, f->zone, env->name ? env->name : "", ops->name);
			goto fail;
		}
		if (f->select)
			fl_select_parse(f->select, &kind, &n);
		take = kind == 0   ? matches
		       : kind == 1 ? ((size_t)n < matches ? (size_t)n : matches)
				   : (matches * (size_t)n + 99) / 100;
		for (size_t t = 0; t < env->ntargets && taken < take; t++) {
			const struct fl_target *tg = &env->targets[t];
			if (!tg->zone || strcmp(tg->zone, f->zone) ||
			    !(ops->target_kinds & (1u << tg->kind)))
				continue;
			if (fault_push(&out, &nout, &cap, f, tg->name) < 0)
				goto oom;
			taken++;
		}
	}
	for (size_t i = 0; i < sc->nfaults; i++)
		fl_fault_spec_release(&sc->faults[i]);
	fl_free(sc->faults);
	sc->faults = out;
	sc->nfaults = nout;
	return 0;
oom:
	oom(doc, err);
fail:
	for (size_t k = 0; k < nout; k++)
		fl_fault_spec_release(&out[k]);
	fl_free(out);
	return -1;
}

static int faults_resolve(struct fl_scenario *sc, const struct fl_environment *env,
			  struct fl_error *err)
{
	struct fl_doc *doc = sc->doc;
	const char **seen = NULL;
	size_t nseen = 0;
	int rc = -1;
	if (faults_expand_zones(sc, env, err) < 0)
		return -1;
	seen = array_new(doc, sc->nfaults, sizeof(*seen), err);
	if (!seen)
		return -1;
	for (size_t i = 0; i < sc->nfaults; i++) {
		struct fl_fault_spec *f = &sc->faults[i];
		json_t *obj = f->params;
		const struct fl_injector_ops *ops = fl_injector_find(f->injector);
		const struct fl_target *t = NULL;
		int dup = 0;
		if (!ops) {
			fl_doc_error_member(doc, obj, "injector", err, "unknown injector '%s'",
					    f->injector);
			goto out;
		}
		if (f->target) {
			if (!env) {
				fl_doc_error_member(doc, obj, "target", err,
						    "fault '%s': target '%s' needs an environment (give --env FILE or an \"environment\" key)",
						    f->name, f->target);
				goto out;
			}
			t = fl_environment_target(env, f->target);
			if (!t) {
				unknown_target(sc, obj, f->target, env, err);
				goto out;
			}
			if (!(ops->target_kinds & (1u << t->kind))) {
				fl_doc_error_member(doc, obj, "target", err,
						    "injector '%s' cannot act on %s target '%s'",
						    ops->name, fl_target_kind_name(t->kind), t->name);
				goto out;
			}
			for (size_t k = 0; k < nseen; k++)
				if (strcmp(seen[k], t->name) == 0)
					dup = 1;
			if (!dup) {
				seen[nseen++] = t->name;
				if (sc->max_targets >= 0 && (long)nseen > sc->max_targets) {
					fl_doc_error_member(doc, obj, "target", err,
							    "blast radius exceeded: fault '%s' would make %zu targets, max_targets is %ld",
							    f->name, nseen, sc->max_targets);
					goto out;
				}
			}
			if (sc->allowed_zones && !zone_allowed(sc->allowed_zones, t->zone)) {
				fl_doc_error_member(doc, obj, "target", err,
						    "blast radius exceeded: target '%s' is in zone '%s', not in blast_radius.zones",
						    t->name, t->zone ? t->zone : "(none)");
				goto out;
			}
		} else if (ops->target_kinds != 0 &&
			   !(ops->target_kinds & FL_INJECTOR_TARGET_OPTIONAL)) {
			fl_doc_error_value(doc, obj, err,
					   "fault '%s': injector '%s' needs a 'target'", f->name,
					   ops->name);
			goto out;
		}
		/* The injector marks its parameters and checks the fault's keys. */
		if (ops->validate(doc, f, t, err) < 0) {
			if (!fl_error_is_set(err))
				fl_doc_error_value(doc, obj, err,
						   "fault '%s': rejected by injector '%s'", f->name,
						   ops->name);
			goto out;
		}
	}
	rc = 0;
out:
	fl_free(seen);
	return rc;
}

/* The scenario's secret names plus the environment's (each once), then
 * every fault points at the one list its injector journals by name. */
static int secrets_merge(struct fl_scenario *sc, const struct fl_environment *env,
			 struct fl_error *err)
{
	size_t n = fl_strv_len(sc->secrets), k = n;
	char **all;
	if (env && env->secrets) {
		all = fl_realloc(sc->secrets, (n + fl_strv_len(env->secrets) + 1) * sizeof(*all));
		if (!all)
			return oom(sc->doc, err);
		sc->secrets = all;
		all[n] = NULL;
		for (size_t i = 0; env->secrets[i]; i++) {
			if (fl_expand_is_listed(all, env->secrets[i]))
				continue;
			if (!(all[k] = fl_strdup(env->secrets[i])))
				return oom(sc->doc, err);
			all[++k] = NULL;
		}
	}
	for (size_t i = 0; i < sc->nfaults; i++)
		sc->faults[i].secrets = sc->secrets;
	return 0;
}

int fl_resolve_scenario(struct fl_scenario *sc, const struct fl_environment *env,
			const struct fl_inventory *inv, struct fl_error *err)
{
	json_t *root = fl_doc_root(sc->doc);
	if (probes_parse(sc, err) < 0)
		return -1;
	for (size_t i = 0; i < sc->nprobes; i++)
		if (probe_resolve(sc, &sc->probes[i], sc->probes[i].params, env, err) < 0)
			return -1;
	for (size_t i = 0; i < sc->nvalidation; i++)
		if (probe_resolve(sc, &sc->validation[i], sc->validation[i].params, env, err) < 0)
			return -1;
	if (fl_cloudwatch_resolve(sc, env, err) < 0)
		return -1;
	for (size_t i = 0; i < sc->nprepare; i++)
		if (step_resolve(sc, &sc->prepare[i],
				 json_array_get(json_object_get(root, "prepare"), i), env, err) < 0)
			return -1;
	for (size_t i = 0; i < sc->nrecovery; i++)
		if (step_resolve(sc, &sc->recovery[i],
				 json_array_get(json_object_get(root, "recovery"), i), env, err) < 0)
			return -1;
	if (faults_resolve(sc, env, err) < 0 || secrets_merge(sc, env, err) < 0)
		return -1;
	if (sc->asset && inv) {
		const struct fl_asset *a = fl_inventory_asset(inv, sc->asset);
		if (!a)
			return fl_doc_error_member(sc->doc, root, "asset", err,
						   "unknown asset '%s' in inventory %s", sc->asset,
						   fl_doc_file(inv->doc));
		/* The scenario's own targets win; the asset's policy fills gaps. */
		if (sc->targets.rto_ns < 0)
			sc->targets.rto_ns = a->rto_ns;
		if (sc->targets.rpo_ns < 0)
			sc->targets.rpo_ns = a->rpo_ns;
	}
	return 0;
}
