/*
 * injector: the registry of fault families and the revert entry point.
 *
 * Owns the one NULL-terminated table the runner, the loaders and `faultline
 * recover` look injectors up in; adding a family is one extern and one line
 * below (see the checklist in injector.h). Does not own any fault: each
 * family lives in its own injectors/<family>.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "injectors/injector.h"
#include "core/error.h"
#include "core/buf.h"

extern const struct fl_injector_ops fl_injector_process;
extern const struct fl_injector_ops fl_injector_file;
extern const struct fl_injector_ops fl_injector_exec;
extern const struct fl_injector_ops fl_injector_network;
extern const struct fl_injector_ops fl_injector_latency;
extern const struct fl_injector_ops fl_injector_aws_ec2;
extern const struct fl_injector_ops fl_injector_aws_elb;
extern const struct fl_injector_ops fl_injector_aws_asg;
extern const struct fl_injector_ops fl_injector_aws_az;
extern const struct fl_injector_ops fl_injector_aws_rds;

static const struct fl_injector_ops *const injectors[] = {
	&fl_injector_process,
	&fl_injector_file,
	&fl_injector_exec,
	&fl_injector_network,
	&fl_injector_latency,
	&fl_injector_aws_ec2,
	&fl_injector_aws_elb,
	&fl_injector_aws_asg,
	&fl_injector_aws_az,
	&fl_injector_aws_rds,
	NULL
};

const struct fl_injector_ops *fl_injector_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; injectors[i]; i++)
		if (strcmp(injectors[i]->name, name) == 0)
			return injectors[i];
	return NULL;
}

const struct fl_injector_ops *const *fl_injector_all(void)
{
	return injectors;
}

int fl_injector_revert(const char *injector, const json_t *revert, struct fl_error *err)
{
	const struct fl_injector_ops *ops = fl_injector_find(injector);

	if (!ops)
		return fl_error_set(err, FL_EXIT_ENV, "cannot revert: unknown injector '%s'",
				    injector ? injector : "(none)");
	if (!json_is_object(revert))
		return fl_error_set(err, FL_EXIT_ENV, "cannot revert %s fault: no revert record",
				    ops->name);
	return ops->revert(revert, err);
}

void fl_injector_note(const json_t *revert, const char *fmt, ...)
{
	/* jansson objects are never defined const: the const in revert()'s
	 * signature promises that prepare()'s capture is left alone, which the
	 * separate "outcome" member keeps. */
	json_t *rec = (json_t *)revert;
	struct fl_buf b;
	va_list ap;

	if (!json_is_object(rec))
		return;
	fl_buf_init(&b, 4096);
	va_start(ap, fmt);
	fl_buf_addvf(&b, fmt, ap);
	va_end(ap);
	if (!b.failed)
		json_object_set_new(rec, "outcome", json_string(b.buf));
	fl_buf_release(&b);
}
