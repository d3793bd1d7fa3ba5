/*
 * file_revert: the file injector's revert() — restores what a file fault
 * took from its revert record (file.c writes it), locally or over ssh.
 * Owns: the restore rules. Does not own: the record's capture (file.c).
 */
#ifndef FAULTLINE_FILE_REVERT_H
#define FAULTLINE_FILE_REVERT_H

#include <jansson.h>

#include "core/error.h"

/* 0 when every region is restored or was already recovered; -1 with err
 * set when the file could not be put back. */
int fl_file_revert(const json_t *revert, struct fl_error *err);

#endif
