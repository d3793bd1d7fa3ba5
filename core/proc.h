/*
 * proc: naming processes for good (/proc), pidfiles and signal names.
 *
 * Owns: a pid plus its start time as one process's identity, reading a
 * pidfile, signal name <-> number.
 * Does not own: starting programs (spawn.h).
 */
#ifndef FAULTLINE_CORE_PROC_H
#define FAULTLINE_CORE_PROC_H

#include <stddef.h>
#include <sys/types.h>
#include "core/error.h"

/* ---- processes --------------------------------------------------------------
 * State (field 3) and start time (field 22 of /proc/PID/stat, clock ticks
 * after boot) of pid: 0, or -1 when it does not exist. Either out may be
 * NULL. A pid plus its start time names one process for good: pids are
 * reused, start times are not. */
int fl_proc_stat(pid_t pid, char *state, unsigned long long *start_time);
/* The /proc/PID/stat line of pid into buf (NUL-terminated): 0, or -1 when
 * it does not exist. */
int fl_proc_stat_line(pid_t pid, char *buf, size_t size);
/* 1 when pid exists and is not a zombie (and, when start_time is non-zero,
 * is the process that started then), else 0. */
int fl_proc_alive(pid_t pid, unsigned long long start_time);

/* ---- what a harness started while injecting ----------------------------------
 * A program started while a fault is injected (core/spawn.c,
 * fl_spawn_tag_injects) carries FL_OWNER_ENV=PID:START, its harness's
 * identity as the journal's owner_pid and owner_start, first in its
 * environment. When the harness dies (SIGKILL) such a program lives on: it
 * must end before `recover` reverts, or its damage lands after the revert. */
#define FL_OWNER_ENV "FAULTLINE_OWNER"
/* FL_OWNER_ENV=pid:start into buf; -1 if it does not fit. */
int fl_proc_owner_marker(long pid, unsigned long long start, char *buf, size_t n);
/* Waits up to timeout_ns for every process carrying marker in its
 * environment (but ssh connection masters, which outlive any command) to
 * end. Returns how many still run (0: none), -1 when it cannot look. */
int fl_proc_wait_marked(const char *marker, long long timeout_ns);

/* Reads a pid from a pidfile; 0 on success, -1 with err set. */
int fl_read_pidfile(const char *path, pid_t *pid, struct fl_error *err);
/* Signal name <-> number: "KILL", "SIGKILL", "9". Returns -1 if unknown. */
int fl_signal_parse(const char *name);
const char *fl_signal_name(int sig);

#endif
