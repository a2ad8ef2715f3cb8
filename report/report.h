/*
 * report.h - how the client shows results: human-readable lines, JSON
 * lines, GNU parallel's joblog, and a results directory.
 */
#ifndef REPORT_H
#define REPORT_H

#include "json.h" /* json_write_string, base64_write, utf8_valid */

#include <stdint.h>
#include <stdio.h>

#include "common.h"

typedef struct {
    int json, quiet, verbose, keep_order;
    const char *results_dir;
    FILE *joblog;
    const char *joblog_path;
    /* counters for the summary and the exit status */
    unsigned total, failed, timed_out, not_run;
    int joblog_failed; /* said once */
    int write_failed; /* the joblog or a results file could not be written (said when it happened) */
} report;

/* Opens the joblog and creates the results directory, and checks that
 * both can be written, before any command is sent; 0 or -1 (message
 * printed, naming the path). */
int report_open(report *rep, const char *joblog_path);
/* Shows one result; command is the line that was run. */
void report_result(report *rep, const CommandResult *r, const char *command, size_t command_len);
void report_summary(report *rep, double wall_seconds);
int report_close(report *rep); /* -1 if writing the joblog or a results file failed (message printed) */
int report_exit_status(const report *rep);
/* client --batches: a table (a header, then a line per batch) or, with
 * rep->json, one JSON object per batch. created_ms: wall clock. */
void report_batch_header(void);
void report_batch(const report *rep, uint64_t id, uint64_t created_ms, const char *state, uint32_t submitted,
                  uint32_t done, uint32_t running, const char *client, size_t client_len);


#endif
