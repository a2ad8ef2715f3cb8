/* status.h - the master's status snapshot (client --status, SIGUSR1) and
 * its one JSON rendering (status.c), shared by whoever shows it: the
 * client's --status --json and the master's --http pages. The
 * figures are the frames' (proto.h status_frame ...): doc/monitoring.md
 * says what each means. */
#ifndef STATUS_H
#define STATUS_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "proto.h"

typedef struct status_snapshot {
    status_frame master;
    status_slave_frame *slaves;
    size_t nslaves, cap_slaves;
    status_batch_frame *batches;
    size_t nbatches, cap_batches;
    status_job_frame *jobs; /* each names its slave by index */
    size_t njobs, cap_jobs;
} status_snapshot;

/* Appends a copy; -1 out of memory. */
int status_add_slave(status_snapshot *s, const status_slave_frame *sl);
int status_add_batch(status_snapshot *s, const status_batch_frame *b);
int status_add_job(status_snapshot *s, const status_job_frame *j);
void status_free(status_snapshot *s);

const char *slave_status_name(uint8_t state);  /* "up", "suspect", "dead", "retired" */
const char *batch_state_name(uint8_t state);   /* "attached" ... "cancelled" */
const char *run_status_key(int status);        /* "exited" ... "cancelled": finished{}'s keys */
/* Commands finished per second over the window (the last minute). */
double status_finished_per_s(const status_frame *m);

/* One JSON object (doc/monitoring.md), then a newline: client --status
 * --json prints it, the master's /status.json serves it. */
void status_write_json(bwriter *w, const status_snapshot *s);
/* The table: the master line, the slaves' header and lines, the batches'
 * header and lines. Columns are only ever added at the end. */
void status_write_table(FILE *f, const status_snapshot *s);

#endif
