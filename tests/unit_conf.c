/* Unit tests: slaves.conf lines, command-file lines, the line reader, the
 * slave's duplicate request cache, and the client's JSON encoding. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "common.h"
#include "conf.h"
#include "dedup.h"
#include "report/report.h"
#include "tap.h"

static int conf(const char *line, slave_entry *e, const char **why)
{
    *why = "";
    return slaves_conf_line(line, strlen(line), 1, e, why);
}

static void test_slaves_conf(void)
{
    slave_entry e;
    const char *why;
    ok(conf("127.0.0.1 10001", &e, &why) == 1 && strcmp(e.host, "127.0.0.1") == 0 && e.port == 10001 && e.slots == 0,
       "host port");
    ok(conf("  node-3.lab\t10002   4  # three cores", &e, &why) == 1 && strcmp(e.host, "node-3.lab") == 0 &&
           e.port == 10002 && e.slots == 4,
       "host port slots, blanks and a trailing comment");
    ok(conf("", &e, &why) == 0, "empty line skipped");
    ok(conf("   \t ", &e, &why) == 0, "blank line skipped");
    ok(conf("# 127.0.0.1 10001", &e, &why) == 0, "comment skipped");
    ok(conf("127.0.0.1", &e, &why) < 0 && strstr(why, "host port"), "missing port: '%s'", why);
    ok(conf("127.0.0.1 http", &e, &why) < 0 && strstr(why, "port"), "port not a number: '%s'", why);
    ok(conf("127.0.0.1 0", &e, &why) < 0, "port 0 refused");
    ok(conf("127.0.0.1 65536", &e, &why) < 0, "port 65536 refused");
    ok(conf("127.0.0.1 10001 0", &e, &why) < 0 && strstr(why, "slots"), "0 slots refused: '%s'", why);
    ok(conf("127.0.0.1 10001 2 extra", &e, &why) < 0 && strstr(why, "too many"), "extra field refused");
    char longhost[400];
    memset(longhost, 'a', 300);
    strcpy(longhost + 300, " 1");
    ok(conf(longhost, &e, &why) < 0 && strstr(why, "too long"), "overlong host refused");
    ok(slaves_conf_line("a\0b 1", 5, 1, &e, &why) < 0, "NUL byte refused");
}

static void test_command_lines(void)
{
    ok(cmd_line_classify("echo hi", 7, 0) == CMD_COMMAND, "a command");
    ok(cmd_line_classify("", 0, 0) == CMD_SKIP, "empty line skipped");
    ok(cmd_line_classify(" \t \r", 4, 0) == CMD_SKIP, "whitespace-only line skipped");
    ok(cmd_line_classify("# not run", 9, 0) == CMD_SKIP, "comment skipped");
    ok(cmd_line_classify("   # indented comment", 21, 0) == CMD_SKIP, "indented comment skipped");
    ok(cmd_line_classify("echo # not a comment", 20, 0) == CMD_COMMAND, "# later in the line is the shell's");
    ok(cmd_line_classify("echo a\0b", 8, 0) == CMD_HAS_NUL, "NUL byte reported");
    ok(cmd_line_classify("xxxx", 4, 1) == CMD_TOO_LONG, "cut line reported too long");
}

/* Feeds text to a line reader in chunks of the given size. */
static int read_all(const char *text, size_t n, size_t chunk, char lines[][64], size_t lens[], int trunc[])
{
    line_reader lr;
    line_reader_init(&lr);
    int count = 0;
    for (size_t off = 0;; off += chunk) {
        size_t take = off >= n ? 0 : (n - off < chunk ? n - off : chunk), pos = 0;
        const char *line;
        size_t len;
        int t;
        while (line_reader_next(&lr, text + off, take, &pos, take == 0, &line, &len, &t)) {
            memcpy(lines[count], line, len < 63 ? len : 63);
            lines[count][len < 63 ? len : 63] = 0;
            lens[count] = len;
            trunc[count] = t;
            count++;
        }
        if (take == 0)
            break;
    }
    line_reader_free(&lr);
    return count;
}

static void test_line_reader(void)
{
    const char *text = "one\r\ntwo\n\nthree";
    char lines[8][64];
    size_t lens[8];
    int trunc[8];
    for (size_t chunk = 1; chunk <= 17; chunk++) {
        int n = read_all(text, strlen(text), chunk, lines, lens, trunc);
        if (n != 4 || strcmp(lines[0], "one") || strcmp(lines[1], "two") || lens[2] != 0 || strcmp(lines[3], "three"))
            ok(0, "chunks of %zu bytes: %d lines", chunk, n);
    }
    ok(1, "lines, CRLF and a last line without newline, whatever the chunk size");

    size_t big = MAX_COMMAND_LEN + 10;
    char *t = malloc(big + 20);
    memset(t, 'x', big);
    memcpy(t + big, "\nafter\n", 8);
    int n = read_all(t, big + 7, 4096, lines, lens, trunc);
    ok(n == 2 && trunc[0] && lens[0] == MAX_COMMAND_LEN && !trunc[1] && strcmp(lines[1], "after") == 0,
       "an overlong line is cut and flagged, the next line is intact");
    memset(t, 'y', MAX_COMMAND_LEN);
    t[MAX_COMMAND_LEN] = '\n';
    n = read_all(t, MAX_COMMAND_LEN + 1, 1000, lines, lens, trunc);
    ok(n == 1 && !trunc[0] && lens[0] == MAX_COMMAND_LEN, "a line of exactly the limit is accepted");
    free(t);
}

static void test_dedup(void)
{
    static dedup_window w;
    dedup_init(&w, 1);
    is_int(dedup_check(&w, 1), DEDUP_NEW, "id 1 new");
    dedup_mark(&w, 1);
    is_int(dedup_check(&w, 1), DEDUP_SEEN, "id 1 seen after marking: never runs twice");
    is_int(dedup_check(&w, 0), DEDUP_BELOW, "below the floor");
    is_int(dedup_check(&w, 1 + DEDUP_WINDOW), DEDUP_TOO_FAR, "beyond the window");
    is_int(dedup_check(&w, DEDUP_WINDOW), DEDUP_NEW, "last id of the window usable");

    /* Against a reference set: random marks and floor moves. */
    static unsigned char ref[400000];
    memset(ref, 0, sizeof ref);
    dedup_init(&w, 1);
    uint64_t floor = 1;
    int mismatches = 0;
    for (int i = 0; i < 300000; i++) {
        uint64_t id = floor + tap_rand() % DEDUP_WINDOW;
        if (id < sizeof ref && tap_rand() % 2) {
            dedup_mark(&w, id);
            ref[id] = 1;
        }
        if (tap_rand() % 100 == 0 && floor + 5000 < sizeof ref - DEDUP_WINDOW)
            floor += tap_rand() % 5000, dedup_advance(&w, floor);
        uint64_t q = floor + tap_rand() % DEDUP_WINDOW;
        if (q < sizeof ref && (dedup_check(&w, q) == DEDUP_SEEN) != ref[q])
            mismatches++;
    }
    is_int(mismatches, 0, "300000 random marks, moves and checks agree with a reference set");
    dedup_advance(&w, floor + 10 * DEDUP_WINDOW);
    is_int(dedup_check(&w, floor + 10 * DEDUP_WINDOW), DEDUP_NEW, "a big floor jump clears the window");
    dedup_advance(&w, 5);
    ok(w.floor == floor + 10 * DEDUP_WINDOW, "the floor never moves down");

    /* Merging a restarted master's earlier window (slave adoption): the
     * higher floor, every id taken in either stays taken. */
    static dedup_window old, cur;
    for (int round = 0; round < 2; round++) {
        uint64_t fo = round ? 1000 : 3000, fc = round ? 3000 : 1000; /* old floor below, then above */
        dedup_init(&old, fo);
        dedup_init(&cur, fc);
        dedup_mark(&old, fo + 5000), dedup_mark(&old, 3500), dedup_mark(&old, fo + DEDUP_WINDOW - 1);
        dedup_mark(&cur, 3600), dedup_mark(&cur, fc + 7);
        dedup_merge(&cur, &old);
        uint64_t hi = fo > fc ? fo : fc;
        ok(cur.floor == hi, "merge (old floor %s): the floor is the higher one", round ? "below" : "above");
        ok(dedup_check(&cur, fo + 5000) == DEDUP_SEEN && dedup_check(&cur, 3500) == DEDUP_SEEN &&
               dedup_check(&cur, fo + DEDUP_WINDOW - 1) == DEDUP_SEEN,
           "merge: the old life's taken ids stay taken");
        ok(dedup_check(&cur, 3600) == DEDUP_SEEN && dedup_check(&cur, fc + 7) == (fc + 7 < hi ? DEDUP_BELOW : DEDUP_SEEN),
           "merge: the new life's taken ids stay taken");
        ok(dedup_check(&cur, 3601) == DEDUP_NEW && dedup_check(&cur, hi - 1) == DEDUP_BELOW &&
               dedup_check(&cur, fo + 5001) == DEDUP_NEW,
           "merge: ids neither took are new, below the higher floor finished");
        int taken = 0;
        for (uint64_t id = cur.floor; id < cur.floor + DEDUP_WINDOW; id++)
            taken += dedup_check(&cur, id) == DEDUP_SEEN;
        is_int(taken, round ? 5 : 4, "merge: nothing else is taken");
    }
}

static char *json(const char *s, size_t n, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *rc = json_write_string(f, s, n);
    fclose(f);
    return buf;
}

static void test_json(void)
{
    int rc;
    char *s = json("a\"b\\c\n\t\x01\x7f", 9, &rc);
    ok(rc == 0 && strcmp(s, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"") == 0, "escapes: %s", s);
    free(s);
    s = json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, &rc);
    ok(rc == 0 && strcmp(s, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"") == 0, "UTF-8 passes through");
    free(s);
    ok(!utf8_valid((const uint8_t *)"\xff", 1), "0xFF is not UTF-8");
    ok(!utf8_valid((const uint8_t *)"\xc0\xaf", 2), "overlong form refused");
    ok(!utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), "surrogate refused");
    ok(!utf8_valid((const uint8_t *)"\xe2\x82", 2), "cut sequence refused");
    ok(utf8_valid((const uint8_t *)"a\0b", 3), "NUL is valid UTF-8 (escaped as \\u0000)");
    s = json("\xff", 1, &rc);
    ok(rc < 0 && strlen(s) == 0, "invalid UTF-8 is reported and nothing written");
    free(s);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    base64_write(f, (const uint8_t *)"\xff\x00\x01\x02", 4);
    fclose(f);
    ok(strcmp(buf, "\"/wABAg==\"") == 0, "base64 with padding: %s", buf);
    free(buf);
}

int main(void)
{
    test_slaves_conf();
    test_command_lines();
    test_line_reader();
    test_dedup();
    test_json();
    return done_testing();
}
