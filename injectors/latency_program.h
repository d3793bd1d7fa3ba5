/*
 * latency_program: the latency injector's packet holder, faultline-delayq,
 * as a process — finding its binary, starting it and waiting for its
 * `ready N` line, recognising it in /proc by name and start time (so a
 * reused pid is never signalled), finding it by its `--tag`, and stopping it
 * (SIGTERM releases every held packet at once; SIGKILL after 3 s).
 *
 * Owns: the program's argv and lifecycle. Does not own: the NFQUEUE rules
 * that feed it (latency.c) or holding packets (faultline-delayq.c).
 */
#ifndef FAULTLINE_LATENCY_PROGRAM_H
#define FAULTLINE_LATENCY_PROGRAM_H

#include <jansson.h>
#include <sys/types.h>

#include "core/error.h"

#define FL_LAT_PROGRAM "faultline-delayq"

/* FAULTLINE_DELAYQ, else next to the running binary, else PATH. New string. */
char *fl_lat_program_find(void);

/* Start time of pid in clock ticks since boot (field 22 of /proc/PID/stat),
 * and whether it is a live faultline-delayq. Returns 1 live, 0 gone, a
 * zombie or another program. */
int fl_lat_proc_read(pid_t pid, long long *starttime);

/* The pid of a live faultline-delayq whose argv holds "--tag" tag, or 0:
 * for a record journaled before inject could add the pid. */
pid_t fl_lat_proc_find_by_tag(const char *tag);

/* Stops the program: SIGTERM (it releases what it holds), then SIGKILL.
 * Sets *how to what happened. 0, or -1 with err set if it will not die. */
int fl_lat_program_stop(pid_t pid, long long starttime, const char **how, struct fl_error *err);

/* Starts the program and waits for "ready N". Returns its pid (queue in
 * *queue), or -1 with err set (the program is stopped again). */
pid_t fl_lat_program_start(const json_t *rec, long *queue, struct fl_error *err);

#endif
