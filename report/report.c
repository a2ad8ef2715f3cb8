/* report.c - the client's output formats (see report.h). */
#define _POSIX_C_SOURCE 200809L /* localtime_r */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#ifdef _WIN32
#include <io.h> /* _isatty */
#endif
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef _WIN32
#include <direct.h>
#define make_dir(p) _mkdir(p)
#define is_dir_sep(c) ((c) == '/' || (c) == '\\')
#else
#define make_dir(p) mkdir((p), 0777)
#define is_dir_sep(c) ((c) == '/')
#endif

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, path, n + 1);
    size_t first = 1;
#ifdef _WIN32
    if (n >= 2 && buf[1] == ':') /* C:\dir: start after the drive's root */
        first = 3;
#endif
    for (size_t i = first; i <= n; i++) {
        if (is_dir_sep(buf[i]) || buf[i] == 0) {
            char saved = buf[i];
            buf[i] = 0;
            if (make_dir(buf) < 0 && errno != EEXIST)
                return -1;
            buf[i] = saved;
        }
    }
    return 0;
}

/* A failed write of the joblog is said once, when it happens. */
static void joblog_failed(report *rep)
{
    if (!rep->joblog_failed)
        fprintf(stderr, "client: cannot write the joblog '%s': %s\n", rep->joblog_path, strerror(errno));
    rep->joblog_failed = rep->write_failed = 1;
}

/* stdout and stderr are the same file (a terminal, or 2>&1): then a
 * status line after output that left a line open starts a line of its own. */
static int same_stream(void)
{
#ifdef _WIN32
    return _isatty(1) && _isatty(2);
#else
    struct stat a, b;
    return fstat(1, &a) == 0 && fstat(2, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
#endif
}

int report_open(report *rep, const char *joblog_path)
{
    rep->same_stream = same_stream();
    int append = rep->joblog_compact;
    if (joblog_path && joblog_path[0] == '+') { /* GNU parallel's --joblog +FILE */
        append = 1;
        joblog_path++;
    }
    rep->joblog_path = joblog_path;
    if (joblog_path) {
        /* "\n" on every platform, as the results; appended to: a header
         * only if the file is new or empty */
        rep->joblog = fopen(joblog_path, append ? "ab" : "wb");
        if (!rep->joblog) {
            fprintf(stderr, "client: cannot write the joblog '%s': %s\n", joblog_path, strerror(errno));
            return -1;
        }
        long at = 0;
        if (append && (fseek(rep->joblog, 0, SEEK_END) != 0 || (at = ftell(rep->joblog)) < 0)) {
            fprintf(stderr, "client: cannot write the joblog '%s': %s\n", joblog_path, strerror(errno));
            return -1;
        }
        if ((at == 0 &&
             fprintf(rep->joblog, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n") < 0) ||
            fflush(rep->joblog) != 0) {
            fprintf(stderr, "client: cannot write the joblog '%s': %s\n", joblog_path, strerror(errno));
            return -1;
        }
    }
    if (rep->results_dir && mkdir_p(rep->results_dir) < 0) {
        fprintf(stderr, "client: cannot create the results directory '%s': %s\n", rep->results_dir, strerror(errno));
        return -1;
    }
    if (rep->results_dir) { /* it may exist and not be a writable directory: try now, not after every command ran */
        char probe[4200];
        struct stat st;
        int bad = stat(rep->results_dir, &st) < 0;
        if (bad || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "client: cannot use '%s' as the results directory: %s\n", rep->results_dir,
                    bad ? strerror(errno) : "it exists and is not a directory");
            return -1;
        }
        snprintf(probe, sizeof probe, "%s/.client-write-test", rep->results_dir);
        FILE *f = fopen(probe, "wb");
        if (!f || fclose(f) != 0) {
            fprintf(stderr, "client: cannot write in the results directory '%s': %s\n", rep->results_dir,
                    strerror(errno));
            return -1;
        }
        remove(probe);
    }
    return 0;
}

/* Writes DIR/SEQ/NAME; on failure says which path and why. */
static int write_file(const char *dir, uint32_t seq, const char *name, const char *data, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%u", dir, seq);
    if (mkdir_p(path) < 0) {
        fprintf(stderr, "client: cannot create the results directory '%s': %s\n", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%u/%s", dir, seq, name);
    errno = 0;
    FILE *f = fopen(path, "wb");
    size_t w = f && len ? fwrite(data, 1, len, f) : 0;
    if (!f || (fclose(f) != 0) | (w != len)) {
        fprintf(stderr, "client: cannot write '%s': %s\n", path, strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

/* "stdout":"..." when the bytes are UTF-8, else "stdout_base64":"...". */
static void json_output_field(FILE *f, const char *name, const char *data, size_t len)
{
    fprintf(f, ",\"%s\":", name);
    if (json_write_string(f, data ? data : "", len) < 0) {
        /* not UTF-8: the exact bytes go in a base64 field instead */
        fprintf(f, "null,\"%s_base64\":", name);
        base64_write(f, (const uint8_t *)data, len);
    }
}

static const char *status_word(const CommandResult *r)
{
    switch (r->status) {
    case RUN_EXITED: return "exited";
    case RUN_SIGNALED: return "signaled";
    case RUN_NOT_STARTED: return "not_started";
    case RUN_REJECTED: return "rejected";
    case RUN_TIMED_OUT: return "timed_out";
    case RUN_NO_SLAVE: return "no_slave";
    case RUN_CANCELLED: return "cancelled";
    }
    return "unknown";
}

/* GNU parallel's convention: -1 when there is no exit code to report. */
static int joblog_exitval(const CommandResult *r)
{
    /* a timed-out command that caught TERM and exited: its code, as GNU parallel */
    return r->status == RUN_EXITED || (r->status == RUN_TIMED_OUT && !r->term_signal) ? r->exit_code : -1;
}

/* The joblog's Exitval, as GNU parallel writes it: 0 for a command killed
 * by a signal (Signal says which), -1 when it timed out or did not run. */
static int joblog_parallel_exitval(const CommandResult *r)
{
    return r->status == RUN_SIGNALED ? 0 : joblog_exitval(r);
}

static void print_json(const CommandResult *r, const char *cmd, size_t cmd_len, unsigned attempts)
{
    FILE *f = stdout;
    fprintf(f, "{\"seq\":%u,\"command\":", r->seq);
    if (json_write_string(f, cmd, cmd_len) < 0) {
        fputs("null,\"command_base64\":", f);
        base64_write(f, (const uint8_t *)cmd, cmd_len);
    }
    fprintf(f, ",\"host\":");
    json_write_string(f, r->host, strlen(r->host));
    fprintf(f, ",\"status\":\"%s\",\"exitval\":%d,\"signal\":%u,\"starttime\":%.3f,\"runtime\":%.6f", status_word(r),
            joblog_exitval(r), r->term_signal, (double)r->start_ms / 1000.0, (double)r->duration_us / 1e6);
    json_output_field(f, "stdout", r->stdout_data, r->stdout_len);
    json_output_field(f, "stderr", r->stderr_data, r->stderr_len);
    fprintf(f, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s", r->stdout_truncated ? "true" : "false",
            r->stderr_truncated ? "true" : "false");
    if (attempts) /* --retries */
        fprintf(f, ",\"attempts\":%u", attempts);
    if (r->ran_twice) /* only then: most results never have it */
        fputs(",\"may_have_run_twice\":true", f);
    if (r->cached) /* --cache: the master's stored result, not run now (host, starttime, runtime: that run's) */
        fputs(",\"cached\":true", f);
    if (r->message_len) {
        fprintf(f, ",\"message\":");
        if (json_write_string(f, r->message, r->message_len) < 0)
            fputs("null", f);
    }
    fputs("}\n", f);
}

static void format_duration(char *buf, size_t n, uint64_t us)
{
    if (us < 1000)
        snprintf(buf, n, "%llu us", (unsigned long long)us);
    else if (us < 1000000)
        snprintf(buf, n, "%.1f ms", (double)us / 1000.0);
    else
        snprintf(buf, n, "%.2f s", (double)us / 1e6);
}

/* --tag: the tag, then a TAB, at the start of every line of data (its
 * first byte and each after a newline but the last), as GNU parallel
 * does: a last line without a newline stays without one. */
static void write_tagged(FILE *f, const char *tag, size_t tag_len, const char *data, size_t len, int mid)
{
    size_t from = 0;
    while (from < len) {
        const char *nl = memchr(data + from, '\n', len - from);
        size_t end = nl ? (size_t)(nl - data) + 1 : len;
        if (!(mid && from == 0)) { /* mid: the line began earlier (--line-buffer), tagged then */
            fwrite(tag, 1, tag_len, f);
            fputc('\t', f);
        }
        fwrite(data + from, 1, end - from, f);
        from = end;
    }
}

/* --tagstring STR with {} (args: the command line or a template's
 * arguments) and {#} (the seq) replaced; without STR, {} alone. */
static char *make_tag(const report *rep, uint32_t seq, const char *args, size_t args_len, size_t *len)
{
    const char *ts = rep->tagstring ? rep->tagstring : "{}";
    char num[16];
    int numlen = snprintf(num, sizeof num, "%u", seq);
    size_t cap = 1;
    for (const char *p = ts; *p; p++)
        cap += args_len + (size_t)numlen + 1;
    char *t = malloc(cap), *o = t;
    if (!t)
        return NULL;
    for (const char *p = ts; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(o, args, args_len);
            o += args_len;
            p += 2;
        } else if (p[0] == '{' && p[1] == '#' && p[2] == '}') {
            memcpy(o, num, (size_t)numlen);
            o += numlen;
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *len = (size_t)(o - t);
    return t;
}

static void print_human(report *rep, const CommandResult *r, const char *cmd, size_t cmd_len, const char *args,
                        size_t args_len)
{
    char *tag = NULL;
    size_t tag_len = 0;
    if (rep->tag && (r->stdout_len || r->stderr_len)) {
        tag = make_tag(rep, r->seq, args ? args : cmd, args ? args_len : cmd_len, &tag_len);
        if (!tag) {
            fprintf(stderr, "client: out of memory for the tag of command %u: its output is shown untagged\n", r->seq);
        }
    }
    /* stdout: the commands' output alone, byte for byte (a last line
     * without a newline stays so, as with GNU parallel) */
    /* --line-buffer: what was shown as it came is not shown again */
    uint32_t out_from = rep->shown[0] <= r->stdout_len ? rep->shown[0] : r->stdout_len;
    uint32_t err_from = rep->shown[1] <= r->stderr_len ? rep->shown[1] : r->stderr_len;
    if (r->stdout_len > out_from) {
        if (tag)
            write_tagged(stdout, tag, tag_len, r->stdout_data + out_from, r->stdout_len - out_from, rep->shown_mid[0]);
        else
            fwrite(r->stdout_data + out_from, 1, r->stdout_len - out_from, stdout);
        if (rep->same_stream)
            rep->mid_line = r->stdout_data[r->stdout_len - 1] != '\n';
    }
    fflush(stdout); /* before anything on stderr: on one terminal, the order stays */
    if (r->stderr_len > err_from) {
        if (tag)
            write_tagged(stderr, tag, tag_len, r->stderr_data + err_from, r->stderr_len - err_from, rep->shown_mid[1]);
        else
            fwrite(r->stderr_data + err_from, 1, r->stderr_len - err_from, stderr);
        rep->mid_line = r->stderr_data[r->stderr_len - 1] != '\n';
    }
    free(tag);
    /* Our lines start a line of their own, even after a command's output
     * that did not end one (on the same terminal). */
    const char *nl = rep->mid_line ? "\n" : "";
    /* Truncation is said even with -q: nothing is cut silently. */
    if (r->stdout_truncated) {
        fprintf(stderr, "%sclient: warning: command %u: stdout truncated to %u bytes by the slave's output cap\n",
                nl, r->seq, r->stdout_len);
        nl = "";
    }
    if (r->stderr_truncated) {
        fprintf(stderr, "%sclient: warning: command %u: stderr truncated to %u bytes by the slave's output cap\n",
                nl, r->seq, r->stderr_len);
        nl = "";
    }
    if (r->stdout_truncated || r->stderr_truncated)
        rep->mid_line = 0;
    if (rep->quiet) { /* the status line would have said it: say it anyway */
        if (r->ran_twice) {
            fprintf(stderr, "%sclient: warning: command %u may have run twice: its slave failed and it was "
                    "dispatched again\n", nl, r->seq);
            rep->mid_line = 0;
        }
        fflush(stderr);
        return;
    }
    rep->mid_line = 0;
    char dur[32], why[600] = "", twice[120] = "";
    if (r->ran_twice)
        snprintf(twice, sizeof twice, " (may have run twice: its slave failed and it was dispatched again)");
    format_duration(dur, sizeof dur, r->duration_us);
    int shown = cmd_len > 60 ? 57 : (int)cmd_len;
    const char *ellipsis = cmd_len > 60 ? "..." : "";
    switch (r->status) {
    case RUN_EXITED:
        if (r->message_len) /* e.g. refused by the slave's policy */
            snprintf(why, sizeof why, " (%.*s)", (int)r->message_len, r->message);
        break;
    case RUN_SIGNALED: /* message: e.g. stopped, then killed by the slave */
        snprintf(why, sizeof why, " (killed by signal %u%s%.*s)", r->term_signal, r->message_len ? ": " : "",
                 (int)r->message_len, r->message ? r->message : "");
        break;
    case RUN_TIMED_OUT: /* message: e.g. by the slave's --timeout cap */
        snprintf(why, sizeof why, " (timed out: %.*s)", r->message_len ? (int)r->message_len : 6,
                 r->message_len ? r->message : "killed");
        break;
    case RUN_NOT_STARTED:
    case RUN_REJECTED:
        snprintf(why, sizeof why, " (not run: %.*s)", (int)r->message_len, r->message ? r->message : "");
        break;
    case RUN_NO_SLAVE:
        snprintf(why, sizeof why, " (no result: %.*s)", (int)r->message_len, r->message ? r->message : "");
        break;
    case RUN_CANCELLED:
        snprintf(why, sizeof why, " (cancelled: %.*s)", (int)r->message_len, r->message ? r->message : "");
        break;
    }
    /* the status line: on stderr, stdout is the commands' output */
    if (r->status == RUN_REJECTED || r->status == RUN_NO_SLAVE || (r->status == RUN_CANCELLED && !r->host[0]))
        fprintf(stderr, "%s==> [%u] %.*s%s -- code retour = %d%s%s\n", nl, r->seq, shown, cmd, ellipsis,
                joblog_exitval(r), why, twice);
    else if (r->cached) /* --cache: not run now; where and how long it ran then */
        fprintf(stderr, "%s==> [%u] %.*s%s -- cached (ran on %s, %s), code retour = %d%s%s\n", nl, r->seq, shown, cmd,
                ellipsis, r->host, dur, joblog_exitval(r), why, twice);
    else
        fprintf(stderr, "%s==> [%u] %.*s%s -- on %s, %s, code retour = %d%s%s\n", nl, r->seq, shown, cmd, ellipsis,
                r->host, dur, joblog_exitval(r), why, twice);
    fflush(stderr);
}

void report_stream(report *rep, uint32_t seq, int stream, const char *data, size_t len, int mid, const char *cmd,
                   size_t cmd_len, const char *args, size_t args_len)
{
    FILE *f = stream ? stderr : stdout;
    char *tag = NULL;
    size_t tag_len = 0;
    if (!len)
        return;
    if (rep->tag)
        tag = make_tag(rep, seq, args ? args : cmd, args ? args_len : cmd_len, &tag_len);
    if (stream)
        fflush(stdout);
    if (tag)
        write_tagged(f, tag, tag_len, data, len, mid);
    else
        fwrite(data, 1, len, f);
    free(tag);
    fflush(f);
    if (stream || rep->same_stream)
        rep->mid_line = data[len - 1] != '\n';
}

void report_result(report *rep, const CommandResult *r, const char *cmd, size_t cmd_len)
{
    report_result_args(rep, r, cmd, cmd_len, NULL, 0);
}

void report_result_args(report *rep, const CommandResult *r, const char *cmd, size_t cmd_len, const char *args,
                        size_t args_len)
{
    rep->total++;
    if (command_result_failed(r))
        rep->failed++;
    if (r->status == RUN_TIMED_OUT)
        rep->timed_out++;
    if (r->status == RUN_REJECTED || r->status == RUN_NO_SLAVE || r->status == RUN_NOT_STARTED ||
        r->status == RUN_CANCELLED)
        rep->not_run++;
    if (rep->json)
        print_json(r, cmd, cmd_len, rep->attempts);
    else
        print_human(rep, r, cmd, cmd_len, args, args_len);
    if (rep->results_dir) {
        if (write_file(rep->results_dir, r->seq, "stdout", r->stdout_data, r->stdout_len) < 0 ||
            write_file(rep->results_dir, r->seq, "stderr", r->stderr_data, r->stderr_len) < 0)
            rep->write_failed = 1;
    }
    if (rep->joblog) {
        errno = 0;
        /* --cache: Host "cache" and JobRuntime 0 (nothing ran now); Starttime is the stored run's */
        fprintf(rep->joblog, "%u\t%s\t%.3f\t%.3f\t%zu\t%u\t%d\t%u\t", r->seq,
                r->cached ? "cache" : r->host[0] ? r->host : "-", (double)r->start_ms / 1000.0,
                r->cached ? 0.0 : (double)r->duration_us / 1e6, cmd_len,
                r->stdout_len + r->stderr_len, joblog_parallel_exitval(r), r->term_signal);
        fwrite(cmd, 1, cmd_len, rep->joblog);
        fputc('\n', rep->joblog);
        if (fflush(rep->joblog) != 0 || ferror(rep->joblog)) /* a crash still leaves a usable joblog */
            joblog_failed(rep);
    }
    fflush(stdout); /* results appear as they complete, even into a pipe */
}

void report_summary(report *rep, double wall)
{
    if (rep->quiet)
        return;
    FILE *f = stderr; /* stdout is the commands' output */
    fflush(stdout);
    if (rep->mid_line)
        fputc('\n', f);
    rep->mid_line = 0;
    fprintf(f, "==> %u command%s: %u succeeded, %u failed", rep->total, rep->total == 1 ? "" : "s",
            rep->total - rep->failed, rep->failed);
    if (rep->timed_out && rep->not_run)
        fprintf(f, " (%u timed out, %u without a result)", rep->timed_out, rep->not_run);
    else if (rep->timed_out)
        fprintf(f, " (%u timed out)", rep->timed_out);
    else if (rep->not_run)
        fprintf(f, " (%u without a result)", rep->not_run);
    fprintf(f, ", wall time %.2f s\n", wall);
    fflush(f);
}

int report_close(report *rep)
{
    if (rep->joblog) {
        errno = 0;
        int bad = ferror(rep->joblog);
        if ((fclose(rep->joblog) != 0) | bad) {
            if (!errno)
                errno = EIO;
            joblog_failed(rep);
        }
        rep->joblog = NULL;
        if (rep->joblog_compact && !rep->joblog_failed && joblog_compact_file(rep->joblog_path) < 0)
            rep->write_failed = 1;
    }
    rep->joblog = NULL;
    return rep->write_failed ? -1 : 0;
}

int report_exit_status(const report *rep)
{
    if (rep->failed == 0)
        return 0;
    return rep->failed > 100 ? 101 : (int)rep->failed;
}

void report_batch_header(void)
{
    printf("%-16s  %-9s  %11s  %7s  %-19s  %s\n", "ID", "STATE", "DONE/TOTAL", "RUNNING", "CREATED", "CLIENT");
}

void report_batch(const report *rep, uint64_t id, uint64_t created_ms, const char *state, uint32_t submitted,
                  uint32_t done, uint32_t running, const char *client, size_t client_len)
{
    char name[256], created[32], counts[24];
    size_t n = client_len < sizeof name - 1 ? client_len : sizeof name - 1;
    for (size_t i = 0; i < n; i++) /* the master's text, on a terminal */
        name[i] = client[i] >= 0x20 && client[i] < 0x7f ? client[i] : '?';
    name[n] = 0;
    time_t t = (time_t)(created_ms / 1000);
    struct tm tm;
#ifdef _WIN32
    localtime_s(&tm, &t);
#else
    localtime_r(&t, &tm);
#endif
    strftime(created, sizeof created, "%Y-%m-%d %H:%M:%S", &tm);
    if (rep->json) {
        printf("{\"batch\":\"%016llx\",\"state\":\"%s\",\"submitted\":%u,\"done\":%u,\"running\":%u,"
               "\"created_ms\":%llu,\"created\":\"%s\",\"client\":",
               (unsigned long long)id, state, submitted, done, running, (unsigned long long)created_ms, created);
        json_write_string(stdout, name, n);
        printf("}\n");
    } else {
        snprintf(counts, sizeof counts, "%u/%u", done, submitted);
        printf("%016llx  %-9s  %11s  %7u  %-19s  %s\n", (unsigned long long)id, state, counts, running, created, name);
    }
}
