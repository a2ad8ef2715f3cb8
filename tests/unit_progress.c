/* Unit tests: client --progress, --eta, --bar (report/progress.c): the
 * counts (running per slave from STARTED, moved by a second attempt, done
 * and failed from results), the ETA from the observed rate, the lines,
 * and the drawing: plain lines at most a second apart on a pipe, redrawn
 * in place on a terminal, cleared before other output, the end once. */
#define _GNU_SOURCE /* open_memstream */
#include <stdlib.h>
#include <string.h>

#include "report/progress.h"
#include "tap.h"

static const char *line_of(progress *p, uint64_t now)
{
    static char buf[PROGRESS_LINE_MAX];
    progress_format(p, now, buf, sizeof buf);
    return buf;
}

static void test_counts(void)
{
    progress p;
    progress_init(&p, PROGRESS_PROGRESS, NULL, 0, 1000);
    p.know_running = 1;
    progress_set_total(&p, 5, 1);
    ok(!strcmp(line_of(&p, 1000), "Running: 0 Done: 0 Failed: 0 Left: 5"), "nothing yet: '%s'", line_of(&p, 1000));
    progress_started(&p, 1, "a:1", 3);
    progress_started(&p, 2, "b:2", 3);
    progress_started(&p, 3, "a:1", 3);
    ok(!strcmp(line_of(&p, 1000), "Running: 3 Done: 0 Failed: 0 Left: 5 | a:1:2/0/0/0.00s b:2:1/0/0/0.00s"),
       "three started, per slave: '%s'", line_of(&p, 1000));
    progress_started(&p, 3, "b:2", 3); /* its slave failed: the second attempt runs on b */
    ok(!strcmp(line_of(&p, 1000), "Running: 3 Done: 0 Failed: 0 Left: 5 | a:1:1/0/0/0.00s b:2:2/0/0/0.00s"),
       "a second attempt moves it: '%s'", line_of(&p, 1000));
    progress_done(&p, 1, "a:1", 0, 1500000);
    progress_done(&p, 3, "b:2", 1, 500000);
    progress_done(&p, 4, "", 1, 0); /* refused by the client: no slave */
    ok(!strcmp(line_of(&p, 1000), "Running: 1 Done: 3 Failed: 2 Left: 2 | a:1:0/1/0/1.50s b:2:1/1/1/0.50s"),
       "results: done, failed, averages: '%s'", line_of(&p, 1000));
    progress_done(&p, 9, "c:3", 0, 0); /* a result never STARTED (an older master) */
    ok(strstr(line_of(&p, 1000), " c:3:0/1/0/0.00s") != NULL, "a slave first heard of in a result");
    progress_reset_running(&p);
    ok(!strncmp(line_of(&p, 1000), "Running: 0 Done: 4", 18), "a new connection forgets what ran");
    p.know_running = 0;
    ok(strstr(line_of(&p, 1000), "Running: ? ") && strstr(line_of(&p, 1000), " a:1:?/1/0/1.50s"),
       "no STARTED from this master: running '?'");
    progress_set_total(&p, 3, 0);
    is_int(p.total, 4, "the total is never below what is done");
    ok(strstr(line_of(&p, 1000), "Left: 0+") != NULL, "a total still growing is marked +");
    progress_free(&p);
}

static void test_eta(void)
{
    progress p;
    double eta = -1, avg = -1;
    progress_init(&p, PROGRESS_ETA, NULL, 0, 10000);
    progress_set_total(&p, 10, 1);
    ok(progress_eta(&p, 12000, &eta, &avg) == 0, "no ETA before a result");
    ok(!strncmp(line_of(&p, 12000), "ETA: ? Left: 10 AVG: ?", 22), "'ETA: ?' until then: '%s'", line_of(&p, 12000));
    for (uint32_t s = 1; s <= 4; s++)
        progress_done(&p, s, "h", 0, 1000000);
    ok(progress_eta(&p, 12000, &eta, &avg) == 1 && avg == 0.5 && eta == 3.0, "4 done in 2 s: 0.5 s each, 3 s left");
    ok(!strncmp(line_of(&p, 12000), "ETA: 3s Left: 6 AVG: 0.50s | h:?/4/0/1.00s", 42), "the line: '%s'",
       line_of(&p, 12000));
    ok(progress_eta(&p, 14000, &eta, &avg) == 1 && eta == 6.0, "slower since: the estimate grows");
    ok(progress_eta(&p, 5000, &eta, &avg) == 1 && eta == 0.0 && avg == 0.0, "a clock before the start: 0, not negative");
    progress_free(&p);
    /* --attach: the results the batch had are done, not in the rate */
    progress_init(&p, PROGRESS_ETA | PROGRESS_BAR, NULL, 0, 0);
    p.base = 6;
    progress_set_total(&p, 10, 1);
    for (uint32_t s = 1; s <= 6; s++)
        progress_done(&p, s, "h", 0, 0);
    ok(progress_eta(&p, 1000, &eta, &avg) == 0, "--attach: the results it had give no rate");
    progress_done(&p, 7, "h", 0, 0);
    ok(progress_eta(&p, 1000, &eta, &avg) == 1 && eta == 3.0, "--attach: one more in 1 s: 3 left, 3 s");
    ok(!strncmp(line_of(&p, 1000), " 70% 7/10 ETA: 3s [##############      ]  ETA: 3s Left: 3", 57), "bar: '%s'",
       line_of(&p, 1000));
    for (uint32_t s = 8; s <= 10; s++)
        progress_done(&p, s, "h", 0, 0);
    ok(!strncmp(line_of(&p, 1000), "100% 10/10 ETA: 0s [####################]", 41), "bar at the end: '%s'",
       line_of(&p, 1000));
    char small[16];
    ok(progress_format(&p, 1000, small, sizeof small) == 15 && strlen(small) == 15, "a short buffer: cut, terminated");
    progress_free(&p);
}

static char *drawn(FILE *f, char **buf, size_t *n)
{
    fflush(f);
    (void)n;
    return *buf;
}

static void test_draw(void)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    progress p;
    progress_init(&p, PROGRESS_PROGRESS, f, 0, 0);
    p.know_running = 1;
    progress_set_total(&p, 3, 1);
    ok(progress_tick(&p, 0) == 0 && !strcmp(drawn(f, &buf, &n), "Running: 0 Done: 0 Failed: 0 Left: 3\n"),
       "pipe: the first line at once, nothing waits");
    progress_started(&p, 1, "h", 1);
    ok(progress_tick(&p, 400) == PROGRESS_PIPE_MS && n == 37, "pipe: a change 0.4 s later waits for 1 s");
    ok(progress_tick(&p, 1000) == 0 && strstr(buf, "\nRunning: 1 Done: 0") != NULL, "pipe: drawn at 1 s");
    ok(progress_tick(&p, 5000) == 0 && !strchr(buf, '\r'), "pipe: nothing new, no line, no \\r");
    size_t before = n;
    progress_clear(&p);
    fflush(f);
    ok(n == before, "pipe: nothing to clear");
    progress_done(&p, 1, "h", 0, 0);
    progress_end(&p, 5100);
    fflush(f);
    ok(n > before && !strcmp(buf + before, "Running: 0 Done: 1 Failed: 0 Left: 2 | h:0/1/0/0.00s\n"),
       "pipe: the end drawn at once: '%s'", buf + before);
    progress_end(&p, 6000);
    progress_tick(&p, 9000);
    fflush(f);
    ok(!strcmp(buf + before, "Running: 0 Done: 1 Failed: 0 Left: 2 | h:0/1/0/0.00s\n"), "the end, once");
    progress_free(&p);
    fclose(f);
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &n);
    progress_init(&p, PROGRESS_PROGRESS, f, 1, 0);
    p.width = 30;
    progress_set_total(&p, 2, 1);
    progress_tick(&p, 0);
    fflush(f);
    ok(!strcmp(buf, "\rRunning: ? Done: 0 Failed: 0 "), "terminal: \\r, the line cut to the width less one: '%s'", buf);
    progress_done(&p, 1, "h", 0, 0);
    ok(progress_tick(&p, 50) == PROGRESS_TTY_MS, "terminal: at most every 0.1 s");
    progress_clear(&p);
    fflush(f);
    ok(!strcmp(buf + 30, "\r                             \r"), "terminal: cleared with blanks before other output");
    size_t at = n;
    progress_tick(&p, 100);
    fflush(f);
    ok(!strcmp(buf + at, "\rRunning: ? Done: 1 Failed: 0 "), "terminal: redrawn after it");
    at = n;
    progress_end(&p, 150);
    fflush(f);
    ok(n > at && buf[n - 1] == '\n' && buf[at] == '\r' && !strchr(buf + at, '\n')[1], "terminal: the end, a newline");
    progress_free(&p);
    fclose(f);
    free(buf);

    progress off;
    progress_init(&off, 0, NULL, 0, 0);
    progress_started(&off, 1, "h", 1);
    progress_done(&off, 1, "h", 0, 0);
    progress_clear(&off);
    progress_end(&off, 0);
    ok(progress_tick(&off, 0) == 0 && off.nhosts == 0, "off: nothing kept, nothing drawn");
}

int main(void)
{
    test_counts();
    test_eta();
    test_draw();
    return done_testing();
}
