/*
 * lock: one drill per environment at a time, across processes.
 *
 * Owns: the per-environment lock file and what it says about its holder.
 * The lock is flock(2) on <dir>/faultline-env-<name>.lock, so it dies with
 * its holder (a killed drill never leaves a stale lock behind); the file
 * keeps one line naming the holder — pid, host, since, command — which a
 * refused second drill prints: "environment 'demo' is being drilled by pid
 * 4242 on host ci-1 since 2026-12-02T06:00:00.000Z (faultline run
 * demo-pause.json); not starting another drill". The holder line is written
 * only after the lock is taken, and read only while it is held by someone
 * else. Does not own: when to lock (the commands: `faultline run` when
 * FAULTLINE_LOCK_DIR is set, `faultline gameday`).
 *
 * Why opt-in for `run`: concurrent drills of different targets in one
 * environment are a supported use (tests/integration/test_concurrent_runs.sh);
 * schedules, which must never overlap, set FAULTLINE_LOCK_DIR.
 */
#ifndef FAULTLINE_LOCK_H
#define FAULTLINE_LOCK_H

#include "core/error.h"

struct fl_lock;

/* Takes the lock of environment env_name in dir without waiting. what
 * describes the holder ("faultline run demo-pause.json"). NULL with err set:
 * FL_EXIT_ENV naming the holder when it is taken, or when dir cannot be
 * used. */
struct fl_lock *fl_lock_environment(const char *dir, const char *env_name, const char *what,
				    struct fl_error *err);
/* Releases (NULL is fine). */
void fl_lock_release(struct fl_lock *lock);

/* The environment name of a scenario file (env_path overrides its
 * "environment"): a new string, or NULL with err set. */
char *fl_lock_scenario_environment(const char *scenario_path, const char *env_path,
				   struct fl_error *err);

#endif
