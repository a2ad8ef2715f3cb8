/* The console view's text (lib/console.c) and JOBX_ORIGIN, the client's
 * [N] and name in a job request (lib/proto.c). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common.h"
#include "console.h"
#include "proto.h"
#include "tap.h"

static CommandResult exited(int code, const char *out, const char *err)
{
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = RUN_EXITED;
    r.exit_code = code;
    r.duration_us = 12345;
    r.stdout_data = (char *)out;
    r.stdout_len = (uint32_t)strlen(out);
    r.stderr_data = (char *)err;
    r.stderr_len = (uint32_t)strlen(err);
    return r;
}

int main(void)
{
    char buf[CONSOLE_BLOCK_MAX];
    CommandResult r = exited(0, "hello\n", "");
    console_result_text(buf, sizeof buf, "[4]", &r);
    ok(!strcmp(buf, "[4] | hello\n[4] code retour = 0 (12 ms)\n"), "one line of output, code retour, ms");

    r = exited(3, "", "oops\nno newline at the end");
    console_result_text(buf, sizeof buf, "[7]", &r);
    ok(!strcmp(buf, "[7] ! oops\n[7] ! no newline at the end\n[7] code retour = 3 (12 ms)\n"),
       "stderr marked '!', a last line without newline shown");

    r = exited(0, "dir\r\nC:\\\r\n", "");
    console_result_text(buf, sizeof buf, "[9]", &r);
    ok(!strcmp(buf, "[9] | dir\n[9] | C:\\\n[9] code retour = 0 (12 ms)\n"), "CRLF lines (cmd.exe) shown without their CR");

    r = exited(0, "1\n2\n3\n4\n5\n6\n7\n8\n", "");
    console_result_text(buf, sizeof buf, "[1]", &r);
    ok(!strcmp(buf, "[1] | 1\n[1] | 2\n[1] | 3\n[1] | 4\n[1] | 5\n[1] | ... 3 more lines\n[1] code retour = 0 (12 ms)\n"),
       "5 lines shown, the rest counted");
    r = exited(0, "1\n2\n3\n4\n5\n6", "");
    console_result_text(buf, sizeof buf, "[1]", &r);
    ok(strstr(buf, "[1] | ... 1 more line\n") != NULL, "one more line, without its newline");

    /* 1 MiB of output in 100000 lines: 5 shown, the rest counted, the block bounded */
    size_t big = 1u << 20;
    char *out = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        out[i] = (i + 1) % 10 == 0 ? '\n' : 'x';
    out[big] = 0;
    r = exited(0, out, "");
    size_t n = console_result_text(buf, sizeof buf, "[2]", &r);
    char want[64];
    snprintf(want, sizeof want, "[2] | ... %zu more lines\n", big / 10 + (big % 10 ? 1 : 0) - 5);
    ok(strstr(buf, want) != NULL && n < 1024, "1 MiB: the rest counted, %zu bytes shown", n);
    r.stdout_truncated = 1;
    console_result_text(buf, sizeof buf, "[2]", &r);
    ok(strstr(buf, "more lines (and more cut by --max-output)\n") != NULL, "output cut by --max-output: said");

    /* a line longer than CONSOLE_LINE_MAX: cut, marked */
    memset(out, 'y', 1000);
    out[1000] = 0;
    r = exited(0, out, "");
    console_result_text(buf, sizeof buf, "[3]", &r);
    char *line = strstr(buf, "[3] | ");
    char *end = line ? strchr(line, '\n') : NULL;
    ok(line && end && (size_t)(end - line) == 6 + CONSOLE_LINE_MAX + 3 && !memcmp(end - 3, "...", 3),
       "a 1000-byte line cut to %d bytes and '...'", CONSOLE_LINE_MAX);
    free(out);

    char esc[64];
    console_escape(esc, sizeof esc, "a\033[2Jb\tc\r\x7f\xc3\xa9", 12, 200);
    ok(!strcmp(esc, "a\\x1b[2Jb c\\x0d\\x7f\xc3\xa9"), "control bytes as \\xNN, a tab as a space, UTF-8 kept");
    console_escape(esc, 8, "abcdefghij", 10, 200);
    ok(strlen(esc) < 8, "escape bounded by its buffer");
    console_escape(esc, sizeof esc, "\x9b" "2J \xc2\x9b" "31m \xc2\x85.", 13, 200);
    ok(!strcmp(esc, "\\x9b2J \\xc2\\x9b31m \\xc2\\x85."), "C1 controls, raw or in UTF-8 (CSI, NEL), as \\xNN: '%s'", esc);
    console_escape(esc, sizeof esc, "\xe2\x82\xac \xc2\xa0\xf0\x9f\x98\x80", 10, 200);
    ok(!strcmp(esc, "\xe2\x82\xac \xc2\xa0\xf0\x9f\x98\x80"),
       "a character whose continuation bytes are in 0x80-0x9f (euro, emoji) is kept whole");
    console_escape(esc, sizeof esc, "\x80\xc3(\xed\xa0\x80\xc0\xaf", 8, 200);
    ok(!strcmp(esc, "\\x80\\xc3(\\xed\\xa0\\x80\\xc0\\xaf"),
       "not UTF-8 (a stray continuation, a cut lead, a surrogate, an overlong form): each byte as \\xNN: '%s'", esc);
    console_escape(esc, sizeof esc, "ab\xc3\xa9\xc3\xa9", 6, 3);
    ok(!strcmp(esc, "ab..."), "a cut never splits a character: '%s'", esc);

    CommandResult s;
    memset(&s, 0, sizeof s);
    s.status = RUN_SIGNALED;
    s.term_signal = 9;
    s.duration_us = 2000;
    console_outcome(buf, sizeof buf, &s);
    ok(!strcmp(buf, "killed by signal 9 (2 ms)"), "a signal as such");
    s.status = RUN_TIMED_OUT;
    s.term_signal = 15;
    s.duration_us = 12500000;
    console_outcome(buf, sizeof buf, &s);
    ok(!strcmp(buf, "timed out: killed by signal 15 (12.5 s)"), "a timeout as such, seconds past 10 s");
    s.status = RUN_NOT_STARTED;
    s.message = "no such\ndirectory";
    s.message_len = (uint32_t)strlen(s.message);
    console_outcome(buf, sizeof buf, &s);
    ok(!strcmp(buf, "not started: no such\\x0adirectory"), "not started, its message escaped");

    /* JOBX_ORIGIN: u32 seq, the name; written cut and made printable */
    uint8_t v[4 + ORIGIN_NAME_MAX];
    size_t vl = job_origin_make(v, 4, "127.0.0.1:51234");
    ok(vl == 4 + 15 && v[3] == 4 && !memcmp(v + 4, "127.0.0.1:51234", 15), "origin value: seq, name");
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ok(job_origin_make(v, 1, longname) == 4 + ORIGIN_NAME_MAX, "a long name cut to %d bytes", ORIGIN_NAME_MAX);
    ok(job_origin_make(v, 1, "a\nb") == 7 && v[5] == '?', "a control byte in the name written as '?'");

    CommandRequest q, d;
    memset(&q, 0, sizeof q);
    q.command = "echo hi";
    q.length = 7;
    vl = job_origin_make(v, 70000, "host:1");
    q.ext[q.next++] = (job_ext){JOBX_ORIGIN, (uint16_t)vl, (const char *)v};
    bwriter w;
    bw_init(&w, 1024);
    job_request_encode(&w, &q);
    ok(job_request_decode(w.data, w.len, &d) == 0 && d.next == 1 && d.unknown_ext == 0 && d.ext[0].key == JOBX_ORIGIN &&
           job_origin_seq(&d.ext[0]) == 70000 && d.ext[0].len == 10 && !memcmp(d.ext[0].value + 4, "host:1", 6),
       "JOBX_ORIGIN round trip, a known key");
    q.ext[q.next++] = (job_ext){JOBX_ORIGIN, (uint16_t)vl, (const char *)v};
    bw_reset(&w);
    job_request_encode(&w, &q);
    ok(job_request_decode(w.data, w.len, &d) < 0, "two JOBX_ORIGIN: malformed");
    static const struct {
        uint16_t len;
        const char *value;
        const char *what;
    } bad[] = {{4, "\0\0\0\1", "no name"},
               {3, "\0\0\1", "shorter than its seq"},
               {7, "\0\0\0\1a\nb", "a newline in the name"},
               {7, "\0\0\0\1a\0b", "a NUL in the name"},
               {6, "\0\0\0\1\x1b[", "an escape in the name"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q.next = 0;
        q.ext[q.next++] = (job_ext){JOBX_ORIGIN, bad[i].len, bad[i].value};
        bw_reset(&w);
        job_request_encode(&w, &q);
        ok(job_request_decode(w.data, w.len, &d) < 0, "JOBX_ORIGIN with %s: malformed", bad[i].what);
    }
    char toolong[4 + ORIGIN_NAME_MAX + 1];
    memset(toolong, 'a', sizeof toolong);
    q.next = 0;
    q.ext[q.next++] = (job_ext){JOBX_ORIGIN, sizeof toolong, toolong};
    bw_reset(&w);
    job_request_encode(&w, &q);
    ok(job_request_decode(w.data, w.len, &d) < 0, "a name over %d bytes: malformed", ORIGIN_NAME_MAX);
    bw_free(&w);
    return done_testing();
}
