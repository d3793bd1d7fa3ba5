/*
 * cmd_gameday: `faultline gameday PLAN` — runs a game day (sim/gameday.h:
 * the plan's scenarios in order, pauses, a live timeline, notes, hints,
 * abort) and writes the debrief page at the end (reports/debrief.h). This
 * file only parses options, opens what the day needs, and turns the day's
 * outcome into the debrief.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/store.h"
#include "reports/debrief.h"
#include "sim/gameday.h"
#include "sim/notify.h"
#include "sim/recover.h"

static atomic_int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&interrupted, 1);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline gameday PLAN [--db DB] [-o FILE] [--label TEXT] [--notify FILE]\n\n"
		   "Runs a game day: the plan's scenarios in order, with pauses, a live timeline,\n"
		   "notes, hints for manual steps, and a debrief page at the end.\n\n"
		   "While it runs, type a line and Enter:\n"
		   "  (empty) or done   confirm the current manual step, or end a pause\n"
		   "  action: TEXT      an action item for the debrief (also todo:)\n"
		   "  abort             revert everything now and end the day\n"
		   "  anything else     a timestamped note, stored with the running drill\n"
		   "Ctrl-C, SIGTERM and SIGHUP (a dropped ssh session) end the day like abort.\n\n"
		   "  --db DB        a SQLite file or a postgresql:// URL (docs/store.md);\n"
		   "                 default $FAULTLINE_DB, else faultline.db\n"
		   "  -o FILE        the debrief page (default debrief.html)\n"
		   "  --label TEXT   version label of the system under test\n"
		   "  --notify FILE  notification channels (default: $FAULTLINE_NOTIFY)\n\n"
		   "exit: 0 all passed, 1 a target was missed, 2 bad input, 3 environment could\n"
		   "not be prepared or reverted, 130 aborted (after revert)\n");
}

struct gameday_args {
	const char *out_path, *label, *notify_path;
};

static const struct option opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "label", required_argument, NULL, 'l' },
	{ "notify", required_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 },
};

static void init(void *args)
{
	struct gameday_args *a = args;
	a->out_path = "debrief.html";
	a->notify_path = getenv("FAULTLINE_NOTIFY");
}

static int option(void *args, int c, const char *arg, const struct fl_cli *cli)
{
	struct gameday_args *a = args;
	(void)cli;
	switch (c) {
	case 'o': a->out_path = arg; break;
	case 'l': a->label = arg; break;
	case 'n': a->notify_path = arg; break;
	}
	return 0;
}

/* The debrief's view of the day (borrowing from gd), rendered into page. */
static int debrief(const struct fl_gameday *gd, struct fl_buf *page, struct fl_error *err)
{
	struct fl_debrief d = { .name = gd->name,
				.briefing = gd->briefing,
				.start_wall_ns = gd->start_wall_ns,
				.end_wall_ns = gd->end_wall_ns,
				.aborted = gd->aborted };
	struct fl_debrief_participant *people = fl_calloc(gd->npeople + 1, sizeof(*people));
	struct fl_debrief_item *items = fl_calloc(gd->nsteps + 1, sizeof(*items));
	struct fl_debrief_note *notes = fl_calloc(gd->nnotes + 1, sizeof(*notes));
	int rc = -1;

	if (!people || !items || !notes) {
		fl_error_oom(err, "faultline gameday");
		goto out;
	}
	for (size_t i = 0; i < gd->npeople; i++)
		people[i] = (struct fl_debrief_participant){ gd->people[i].name, gd->people[i].role };
	for (size_t i = 0; i < gd->nsteps && gd->steps[i].started; i++) {
		const struct fl_gameday_step *it = &gd->steps[i];
		items[d.nitems++] = (struct fl_debrief_item){
			.kind = it->pause ? FL_DEBRIEF_PAUSE : FL_DEBRIEF_SCENARIO,
			.title = it->pause ? it->text : it->name,
			.start_wall_ns = it->start_wall_ns,
			.end_wall_ns = it->end_wall_ns,
			.t0_wall_ns = it->t0_wall_ns,
			.run = it->run.id > 0 ? &it->run : NULL,
			.exit_code = it->exit_code,
			.error = it->error,
			.manual_steps = (const char *const *)it->manual,
		};
	}
	for (size_t i = 0; i < gd->nnotes; i++)
		notes[i] = (struct fl_debrief_note){ gd->notes[i].wall_ns, gd->notes[i].text,
						     gd->notes[i].action, gd->notes[i].during };
	d.participants = people;
	d.nparticipants = gd->npeople;
	d.items = items;
	d.notes = notes;
	d.nnotes = gd->nnotes;
	rc = fl_debrief_write_html(&d, page, err);
out:
	fl_free(people);
	fl_free(items);
	fl_free(notes);
	return rc;
}

/* Opens the store and reverts what an earlier drill left open, then the
 * notifier: 0, or -1 with err set. */
static int prepare(const struct gameday_args *a, const char *db, struct fl_store **st,
		   struct fl_notifier **notifier, struct fl_error *err)
{
	int left;
	if (!(*st = fl_store_open(db, err)))
		return -1;
	if ((left = fl_runner_recover(*st, stderr, err)) != 0)
		return left < 0 ? -1
				: fl_error_set(err, FL_EXIT_ENV,
					       "faultline gameday: %d fault(s) from an earlier drill could not be reverted; run 'faultline recover' first",
					       left);
	if (a->notify_path && *a->notify_path && !(*notifier = fl_notifier_open(a->notify_path, err)))
		return -1;
	return 0;
}

static void close_notifier(struct fl_notifier *notifier)
{
	struct fl_buf nf;
	if (!notifier)
		return;
	fl_buf_init(&nf, 1 << 20);
	fl_notifier_close(notifier, &nf);
	if (nf.len)
		fputs(nf.buf, stderr);
	fl_buf_release(&nf);
}

static int run(void *args, const struct fl_cli *cli)
{
	struct gameday_args *a = args;
	struct fl_gameday gd;
	struct fl_gameday_options o = { .label = a->label,
					.lock_dir = getenv("FAULTLINE_LOCK_DIR"),
					.interrupted = &interrupted,
					.in_fd = 0,
					.out = stdout };
	struct fl_store *st = NULL;
	struct fl_error err;
	struct fl_buf page;
	struct sigaction sa, old_int, old_term, old_hup, old_pipe;
	int rc;

	if (cli->argc == 0)
		return fl_cli_usage_error(cli->cmd, "name a game-day plan file");
	if (cli->argc > 1)
		return fl_cli_usage_error(cli->cmd, "one plan at a time ('%s' and '%s')",
					  cli->argv[0], cli->argv[1]);
	fl_error_init(&err);
	fl_buf_init(&page, 0);
	atomic_store(&interrupted, 0);
	/* Everything is checked before anyone is told the day has started. */
	if (fl_gameday_load(&gd, cli->argv[0], a->label, &err) < 0 ||
	    prepare(a, cli->db, &st, &o.notifier, &err) < 0) {
		rc = fl_cli_fail(&err);
		goto out;
	}
	/* As in `run`: SIGHUP (the facilitator's ssh session dropped) ends the
	 * day like "abort" — revert, record, debrief, exit 130 — and a closed
	 * stdout (SIGPIPE) only loses output, never kills the harness with
	 * faults in place. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);
	rc = fl_gameday_run(&gd, &o, st, &err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (rc < 0) {
		rc = fl_cli_fail(&err);
		goto out;
	}
	/* 0600: the page quotes whatever the room typed. */
	if (debrief(&gd, &page, &err) < 0 ||
	    fl_cli_write_file(cli, a->out_path, &page, 0600, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		if (rc != FL_EXIT_INTERRUPTED)
			rc = FL_EXIT_ENV;
	} else {
		printf("debrief written to %s\n", a->out_path);
	}
out:
	close_notifier(o.notifier);
	fl_gameday_release(&gd);
	fl_store_close(st);
	fl_buf_release(&page);
	return rc;
}

const struct fl_cmd fl_cmd_gameday = {
	.name = "gameday",
	.summary = "run a game day: scenarios in order, notes, hints, abort, a debrief page",
	.flags = FL_CMD_DB | FL_CMD_OPERANDS,
	.usage = usage,
	.shortopts = "o:",
	.opts = opts,
	.args_size = sizeof(struct gameday_args),
	.init = init,
	.option = option,
	.run = run,
};

int cmd_gameday(int argc, char **argv)
{
	return fl_cli_exec(&fl_cmd_gameday, argc, argv);
}
