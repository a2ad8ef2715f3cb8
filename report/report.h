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
    unsigned attempts; /* --json --retries: the runs of the result reported now ("attempts"); 0: not shown */
    const char *results_dir;
    FILE *joblog;
    const char *joblog_path;
    /* counters for the summary and the exit status */
    unsigned total, failed, timed_out, not_run;
    int joblog_failed; /* said once */
    int write_failed; /* the joblog or a results file could not be written (said when it happened) */
    /* --tag, --tagstring STR: each line of a command's stdout and stderr
     * starts with its tag and a TAB (STR with {} and {#} replaced; without
     * STR, the {} value: the command line, or a template's arguments) */
    int tag;
    const char *tagstring;
    int joblog_compact; /* --resume*: at the close, one joblog line per Seq, the latest (report/joblog.c) */
    int same_stream;    /* stdout and stderr are one file (a terminal, 2>&1): keep lines apart */
    int mid_line;       /* that stream is in the middle of a line the commands' output left open */
    /* --line-buffer: the bytes of the result being shown that were shown
     * already as they came (report_stream): print_human shows the rest;
     * shown_mid: the last of them was not a newline (no tag before the rest) */
    uint32_t shown[2];
    int shown_mid[2];
} report;

/* --line-buffer: bytes of command seq's output (stream 0 stdout, 1
 * stderr) shown as they come, each line tagged as the result's would be
 * (--tag); mid: the last byte shown of that stream was not a newline. */
void report_stream(report *rep, uint32_t seq, int stream, const char *data, size_t len, int mid, const char *cmd,
                   size_t cmd_len, const char *args, size_t args_len);

/* Opens the joblog and creates the results directory, and checks that
 * both can be written, before any command is sent; 0 or -1 (message
 * printed, naming the path). */
int report_open(report *rep, const char *joblog_path);
/* joblog_path "+FILE" (GNU parallel's --joblog +FILE) appends, without a
 * second header; so does a joblog that --resume* read. */
/* Shows one result; command is the line that was run. On stdout: the
 * command's output only (or its JSON object); on stderr: its stderr, the
 * status line, warnings. */
void report_result(report *rep, const CommandResult *r, const char *command, size_t command_len);
/* The same, with the command's arguments (a template's, for {} of --tag
 * and --tagstring); report_result passes NULL: the command line stands
 * for them. */
void report_result_args(report *rep, const CommandResult *r, const char *command, size_t command_len,
                        const char *args, size_t args_len);
void report_summary(report *rep, double wall_seconds);
int report_close(report *rep); /* -1 if writing the joblog or a results file failed (message printed) */
int report_exit_status(const report *rep);
/* client --batches: a table (a header, then a line per batch) or, with
 * rep->json, one JSON object per batch. created_ms: wall clock. */
void report_batch_header(void);
void report_batch(const report *rep, uint64_t id, uint64_t created_ms, const char *state, uint32_t submitted,
                  uint32_t done, uint32_t running, const char *client, size_t client_len);

/* report/joblog.c: what --resume, --resume-failed and --retry-failed read
 * of an earlier joblog, by Seq (the last line of a Seq counts). */
enum { JOBLOG_NONE = 0, JOBLOG_OK = 1, JOBLOG_FAILED = 2 };
typedef struct {
    uint8_t *state;     /* [seq]: JOBLOG_NONE (never run), _OK, _FAILED (Exitval != 0 or Signal != 0) */
    char **command;     /* [seq]: its Command column (NULL: none) */
    uint32_t max_seq;   /* the highest Seq seen; state and command have max_seq + 1 entries */
    uint32_t lines, failed;
} joblog_past;
/* Reads FILE (a leading '+' is skipped); a missing or empty file is no
 * past. 0, or -1 with a message naming the file and line. */
int joblog_read(const char *path, joblog_past *past);
void joblog_past_free(joblog_past *past);
/* Rewrites FILE keeping one line per Seq, the last, in their order of the
 * last line: through FILE.tmp and a rename, so a crash leaves the old or
 * the new file, never half of one. 0, or -1 with a message. */
int joblog_compact_file(const char *path);

#endif
