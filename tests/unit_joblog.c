/* Unit tests: report/joblog.c, the earlier joblog of --resume,
 * --resume-failed and --retry-failed: read by Seq (the last line of a Seq
 * counts; failed is Exitval or Signal not 0; a header, CRLF, a missing or
 * empty file; a partial last line ignored; a line that is not a joblog
 * line refused), and the rewrite with one line per Seq. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/report.h"
#include "tap.h"

static char dir[] = "/tmp/unit_joblog.XXXXXX";
static char path[256];

static void put(const char *text)
{
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static char *get(void)
{
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    return buf;
}

#define H "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"

int main(void)
{
    joblog_past p;
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/j", dir);

    is_int(joblog_read(path, &p), 0, "a missing joblog is no past");
    is_int(p.max_seq, 0, "  nothing in it");
    joblog_past_free(&p);

    put(H "1\th:1\t1.0\t0.1\t6\t2\t0\t0\techo a\n"
          "3\th:1\t1.0\t0.1\t6\t0\t3\t0\texit 3\n"
          "4\t-\t1.0\t0.0\t6\t0\t0\t9\tkill -9 $$\r\n"
          "5\th:2\t1.0\t0.0\t6\t0\t-1\t15\tsleep 9\t# a tab in it\n"
          "3\th:2\t2.0\t0.1\t6\t0\t0\t0\texit 3 fixed\n"
          "6\th:2\t2.0\t0.1\t6\t0\t0");
    is_int(joblog_read(path, &p), 0, "a joblog with a partial last line is read");
    is_int(p.max_seq, 5, "  max_seq 5 (the partial line is ignored)");
    is_int(p.state[1], JOBLOG_OK, "  seq 1 succeeded");
    is_int(p.state[2], JOBLOG_NONE, "  seq 2 never ran");
    is_int(p.state[3], JOBLOG_OK, "  seq 3: its last line counts (succeeded)");
    ok(!strcmp(p.command[3], "exit 3 fixed"), "  and its last command: '%s'", p.command[3]);
    is_int(p.state[4], JOBLOG_FAILED, "  seq 4: a signal is a failure (Exitval 0, Signal 9)");
    ok(!strcmp(p.command[4], "kill -9 $$"), "  a CRLF line's command has no CR: '%s'", p.command[4]);
    is_int(p.state[5], JOBLOG_FAILED, "  seq 5: Exitval -1 is a failure");
    ok(!strcmp(p.command[5], "sleep 9\t# a tab in it"), "  a command keeps its tabs: '%s'", p.command[5]);
    is_int(p.failed, 2, "  2 failed");
    joblog_past_free(&p);

    put(H "1\th\t1.0\t0.1\t6\t2\tzero\t0\techo a\n2\th\t1\t1\t1\t1\t0\t0\tx\n");
    is_int(joblog_read(path, &p), -1, "an Exitval that is not a number: refused");
    put("Seq Host Exitval\n");
    is_int(joblog_read(path, &p), -1, "a file that is not a joblog: refused");
    put("");
    is_int(joblog_read(path, &p), 0, "an empty file is no past");
    joblog_past_free(&p);

    put(H "2\th\t1\t1\t1\t1\t1\t0\tb\n1\th\t1\t1\t1\t1\t0\t0\ta\n2\th\t2\t1\t1\t1\t0\t0\tb\n3\th\t2\t1\t1\t1\t0\t0\tc\n");
    is_int(joblog_compact_file(path), 0, "compact: done");
    ok(!strcmp(get(), H "1\th\t1\t1\t1\t1\t0\t0\ta\n2\th\t2\t1\t1\t1\t0\t0\tb\n3\th\t2\t1\t1\t1\t0\t0\tc\n"),
       "compact: one line per Seq, the last, in the order of the last lines");
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ok(access(tmp, F_OK) != 0, "compact: no temporary file left");
    is_int(joblog_compact_file(path), 0, "compact again: done");
    ok(!strcmp(get(), H "1\th\t1\t1\t1\t1\t0\t0\ta\n2\th\t2\t1\t1\t1\t0\t0\tb\n3\th\t2\t1\t1\t1\t0\t0\tc\n"),
       "compact again: the same file");
    remove(path);
    rmdir(dir);
    return done_testing();
}
