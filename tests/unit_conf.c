/* Unit tests: slaves.conf lines, command-file lines, the line reader, the
 * slave's duplicate request cache, and the client's JSON encoding. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>
#ifndef _WIN32
#include <sys/stat.h>
#endif

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

    /* weight=W: after the port, with or without slots, either order */
    ok(conf("h 1", &e, &why) == 1 && e.weight_milli == 1000, "no weight: 1");
    ok(conf("h 1 4 weight=2", &e, &why) == 1 && e.slots == 4 && e.weight_milli == 2000, "slots weight=2");
    ok(conf("h 1 weight=0.5 3", &e, &why) == 1 && e.slots == 3 && e.weight_milli == 500, "weight=0.5 before the slots");
    ok(conf("h 1 weight=1.25", &e, &why) == 1 && e.slots == 0 && e.weight_milli == 1250, "weight alone, decimals");
    ok(conf("h 1 weight=100", &e, &why) == 1 && e.weight_milli == 100000, "weight=100: the largest");
    ok(conf("h 1 weight=0.001 #slow", &e, &why) == 1 && e.weight_milli == 1, "weight=0.001: the smallest");
    static const char *bad[] = {"h 1 weight=0", "h 1 weight=-1", "h 1 weight=abc", "h 1 weight=101", "h 1 weight=",
                                "h 1 weight=2x", "h 1 weight=1.", "h 1 weight=.5", "h 1 weight=0.0001",
                                "h 1 weight=100.5", "h 1 weight=1e2", "h 1 weight=99999999999"};
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        refused += conf(bad[i], &e, &why) < 0 && strstr(why, "weight is not a number from 0.001 to 100");
    is_int(refused, (int)(sizeof bad / sizeof *bad), "bad weights refused, the reason naming weight");
    ok(conf("h 1 weight=2 weight=3", &e, &why) < 0 && strstr(why, "twice"), "weight twice refused: '%s'", why);
    ok(conf("h 1 2 3 weight=2", &e, &why) < 0 && strstr(why, "too many"), "slots twice (with a weight) refused");
    ok(conf("h 1 weight=2 x", &e, &why) < 0 && strstr(why, "slots"), "a bad slots beside a weight: '%s'", why);
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

/* --allow's words: split s, or the reason; words joined with '|'. */
static const char *split(const char *s, int pattern)
{
    static char out[4096];
    char **w, why[300];
    int n = policy_split(s, strlen(s), pattern, &w, why, sizeof why);
    if (n < 0) {
        snprintf(out, sizeof out, "ERR %s", why);
        return out;
    }
    out[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? "|" : "", w[i]);
    free(w);
    return out;
}

/* for a test's name: control characters as '.' */
static const char *shown(const char *s)
{
    static char out[200];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof out; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '.' : s[i];
    out[i] = 0;
    return out;
}

#define SPLIT(in, pat, want)                                                                   \
    do {                                                                                       \
        const char *got_ = split(in, pat);                                                     \
        ok(strcmp(got_, want) == 0, "split [%s]: [%s] (want [%s])", shown(in), got_, want);    \
    } while (0)
#define REFUSED(in, pat, why)                                                                  \
    do {                                                                                       \
        const char *got_ = split(in, pat);                                                     \
        ok(strncmp(got_, "ERR ", 4) == 0 && strstr(got_, why), "refused [%s]: [%s]", shown(in), got_); \
    } while (0)

static void test_policy_split(void)
{
    SPLIT("echo x", 0, "echo|x");
    SPLIT("  echo \t x  ", 0, "echo|x");
    SPLIT("printf '%s|' 'a b' c", 0, "printf|%s||a b|c");
    SPLIT("echo \"x;id\"", 0, "echo|x;id");
    SPLIT("echo 'a'\"b\"c\\ d", 0, "echo|abc d");
    SPLIT("echo '' \"\"", 0, "echo||");
    SPLIT("echo \"\\\"\\\\\\$\\`\\x\"", 0, "echo|\"\\$`\\x");
    SPLIT("echo '\\'", 0, "echo|\\");
    SPLIT("echo \\;\\&\\|\\<\\>\\(\\)\\$\\`\\*\\#", 0, "echo|;&|<>()$`*#");
    SPLIT("echo a#b a~b x=y", 0, "echo|a#b|a~b|x=y");
    SPLIT("echo '\t'", 0, "echo|\t");
    SPLIT("echo '{' \\! '~'", 0, "echo|{|!|~");
    SPLIT("./FOO=bar", 0, "./FOO=bar");
    SPLIT("'FOO'=bar", 0, "ERR assignment 'FOO=...' as the first word (no environment assignments without a shell)");
    REFUSED("echo x; id", 0, "shell syntax ';' at byte 7 (commands run without a shell under --allow)");
    REFUSED("echo x && id", 0, "shell syntax '&' at byte 8");
    REFUSED("echo x || id", 0, "shell syntax '|' at byte 8");
    REFUSED("echo x|id", 0, "shell syntax '|' at byte 7");
    REFUSED("echo $(id -un)", 0, "shell syntax '$' at byte 6");
    REFUSED("echo `id`", 0, "shell syntax '`' at byte 6");
    REFUSED("echo 'a'$(id)", 0, "shell syntax '$' at byte 9");
    REFUSED("echo $HOME", 0, "shell syntax '$' at byte 6");
    REFUSED("echo ${IFS}id", 0, "shell syntax '$' at byte 6");
    REFUSED("echo \"$HOME\"", 0, "shell syntax '$' inside double quotes at byte 7");
    REFUSED("echo \"`id`\"", 0, "shell syntax '`' inside double quotes at byte 7");
    REFUSED("echo x > f", 0, "shell syntax '>' at byte 8");
    REFUSED("echo x<f", 0, "shell syntax '<' at byte 7");
    REFUSED("echo x &", 0, "shell syntax '&' at byte 8");
    REFUSED("(id)", 0, "shell syntax '(' at byte 1");
    REFUSED("echo x\nid", 0, "control character 0x0a at byte 7");
    REFUSED("echo x\rid", 0, "control character 0x0d at byte 7");
    REFUSED("echo 'x\nid'", 0, "control character 0x0a at byte 8");
    REFUSED("echo \"x\nid\"", 0, "control character 0x0a at byte 8");
    REFUSED("echo \\\nid", 0, "control character 0x0a at byte 7");
    REFUSED("echo \x1b[2J", 0, "control character 0x1b at byte 6");
    REFUSED("echo \x7f", 0, "control character 0x7f at byte 6");
    REFUSED("echo # x", 0, "shell syntax '#' at the start of a word at byte 6");
    REFUSED("#echo", 0, "shell syntax '#' at the start of a word at byte 1");
    REFUSED("ls ~", 0, "shell syntax '~' at the start of a word at byte 4");
    REFUSED("ls ~root/x", 0, "shell syntax '~' at the start of a word at byte 4");
    REFUSED("echo { x; }", 0, "shell syntax '{' as a word at byte 6");
    REFUSED("{ echo x }", 0, "shell syntax '{' as a word at byte 1");
    REFUSED("echo }", 0, "shell syntax '}' as a word at byte 6");
    REFUSED("! echo", 0, "shell syntax '!' as a word at byte 1");
    REFUSED("echo 'x", 0, "unterminated single quote (opened at byte 6)");
    REFUSED("echo \"x\\\"", 0, "unterminated double quote (opened at byte 6)");
    REFUSED("echo x\\", 0, "a backslash at the end of the line (byte 7)");
    REFUSED("FOO=bar cmd", 0, "assignment 'FOO=...' as the first word");
    REFUSED("_x1=bar cmd", 0, "assignment '_x1=...' as the first word");
    REFUSED("IFS=x cmd", 0, "assignment 'IFS=...'");
    REFUSED("", 0, "an empty command (only blanks)");
    REFUSED(" \t ", 0, "an empty command (only blanks)");
    REFUSED("ls *.c", 0, "wildcard '*' at byte 4 (no file name expansion without a shell: quote it)");
    REFUSED("ls ?", 0, "wildcard '?' at byte 4");
    REFUSED("ls [ab]", 0, "wildcard '[' at byte 4");
    /* patterns: unquoted wildcards kept, quoted ones escaped */
    SPLIT("echo *", 1, "echo|*");
    SPLIT("ls '*' \"?\" \\[ '\\' a*b", 1, "ls|\\*|\\?|\\[|\\\\|a*b");
    SPLIT("printf **", 1, "printf|**");
    REFUSED("echo ** x", 1, "'**' is a pattern's last word only (word 2 of 3)");
    REFUSED("echo *; id", 1, "shell syntax ';' at byte 7");
    REFUSED("cat /var/log/*.log #x", 1, "shell syntax '#' at the start of a word at byte 20");
    /* a NUL byte (allow_list_check says it first: only it has a length) */
    char **w, why[200];
    ok(policy_split("echo a\0b", 8, 0, &w, why, sizeof why) < 0 && strstr(why, "control character 0x00 at byte 7"),
       "a NUL byte is refused: %s", why);
    /* a 65 KB line */
    size_t big = 65000;
    char *line = malloc(big + 16);
    memcpy(line, "echo ", 5);
    memset(line + 5, 'A', big);
    strcpy(line + 5 + big, "; touch");
    ok(policy_split(line, strlen(line), 0, &w, why, sizeof why) < 0 && strstr(why, "shell syntax ';' at byte 65006"),
       "a 65 KB echo AAA...; touch: %s", why);
    for (size_t i = 0; i < big; i++)
        line[5 + i] = i % 2 ? ' ' : 'A'; /* the most words a line can hold */
    line[5 + big] = 0;
    int n = policy_split(line, strlen(line), 0, &w, why, sizeof why);
    ok(n == 1 + (int)big / 2 && w[n] == NULL && strcmp(w[n - 1], "A") == 0, "32501 words: %d", n);
    if (n > 0)
        free(w);
    memset(line, '\'', 40);
    n = policy_split(line, 40, 0, &w, why, sizeof why);
    ok(n == 1 && strcmp(w[0], "") == 0, "40 single quotes are one empty word: %d", n);
    if (n > 0)
        free(w);
    for (int i = 0; i < 39; i += 3)
        memcpy(line + i, "'' ", 3);
    line[40] = '\'';
    n = policy_split(line, 41, 0, &w, why, sizeof why); /* 13 empty words and '' */
    ok(n == 14 && w[14] == NULL, "14 empty words, the densest: %d", n);
    if (n > 0)
        free(w);
    free(line);
}

/* pattern and command, split, matched with a slave's option leads */
static int pmatch_on(const char *leads, const char *pattern, const char *command)
{
    char **p, **c, why[300];
    if (policy_split(pattern, strlen(pattern), 1, &p, why, sizeof why) < 0)
        return -1;
    if (policy_split(command, strlen(command), 0, &c, why, sizeof why) < 0) {
        free(p);
        return -2;
    }
    int m = policy_match(p, c, leads);
    free(p);
    free(c);
    return m;
}

static int pmatch(const char *pattern, const char *command)
{
    return pmatch_on(POLICY_OPTION_LEADS_POSIX, pattern, command);
}

static int pmatch_win(const char *pattern, const char *command)
{
    return pmatch_on(POLICY_OPTION_LEADS_WINDOWS, pattern, command);
}

/* the pattern split, then policy_pattern_check: 0, or -1 with why */
static int pcheck(const char *pattern, char *why, size_t whylen)
{
    char **p;
    if (policy_split(pattern, strlen(pattern), 1, &p, why, whylen) < 0)
        return -2;
    int rc = policy_pattern_check(p, why, whylen);
    free(p);
    return rc;
}

/* the pattern split, then policy_wrapper_check */
static int wcheck(const char *pattern, char *why, size_t whylen)
{
    char **p;
    if (policy_split(pattern, strlen(pattern), 1, &p, why, whylen) < 0)
        return -2;
    int rc = policy_wrapper_check(p, why, whylen);
    free(p);
    return rc;
}

static void test_policy_wrappers(void)
{
    char why[600];
    static const char *const refused[] = {
        "env *", "nice *", "nice -n 10 *", "timeout 5 *", "xargs **", "nohup *", "sudo -u root *", "setsid *",
        "stdbuf -oL *", "time *", "busybox *", "strace -f *", "chroot /srv *", "ionice -c3 *", "taskset 3 *",
        "sh *", "bash *", "python3 *", "perl *", "/usr/bin/env *", "/usr/bin/* *", "ENV.EXE *", "cmd /c *",
        "'C:\\Windows\\System32\\cmd.exe' /c *", "start *", "powershell -Command *", "find * -exec * {} +",
        "find . -execdir ** ", "nice make *", "env X=1 ?",
        /* named another way: a '*' or a set taking the last '/', case, Windows' trailing dots, .com, ::$DATA and
         * 8.3 names, a version, the dynamic loader, wrappers added to the list */
        "/usr/b*v *", "/usr/bin[/]env *", "/u?r/bin?env *", "C*.EXE /c *", "C:\\W*d.exe /c *", "cmd.exe. /c *",
        "'cmd.exe ' /c *", "Env.Com *", "'cmd.exe::$DATA' /c *", "POWERS~1.EXE *", "POWERS~?.EXE *", "/usr/bin/[!A]wk *",
        "python3.12 *", "python3.1? *", "perl5.36.0 *", "bash5 *", "node18 *", "ruby3.1 *", "pypy3 *",
        "/lib64/ld-linux-x86-64.so.2 *", "/lib64/ld-linux-x86-64.so.? *", "/lib/ld-musl-x86_64.so.1 *", "ld.so *",
        "script -c *", "command *", "setarch x86_64 *", "prlimit *", "bwrap *", "nodejs *",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        ok(wcheck(refused[i], why, sizeof why) == -1 && strstr(why, "runs its argument as a program") &&
               strstr(why, "allows any program") && strstr(why, "'!exec '"),
           "refused: %s: %s", refused[i], why);
    ok(wcheck("nice -n 10 *", why, sizeof why) == -1 &&
           strcmp(why, "'nice' runs its argument as a program: with the word '*' this pattern allows any program "
                       "(name the program it runs in the pattern and, reviewed, begin the line with '!exec ')") == 0,
       "the reason names the program and the word: %s", why);
    ok(wcheck("/usr/bin/* *", why, sizeof why) == -1 && strstr(why, "'env' runs"),
       "a program word that may be a wrapper says which: %s", why);
    static const char *const allowed[] = {
        "echo *", "env", "env X=1 id", "nice make all", "timeout 5 make check", "find * -name *.c",
        "find * -type f -print", "grep -r * *", "sh /opt/jobs/build.sh", "python3 /opt/jobs/*.py *.csv",
        "/usr/bin/e* x", "environ *", "nicely *", "printenv *",
        "gcc *", "gcc -O2 *", "ls *", "ls -l *", "cat *", "grep -r * *", "sha256sum *", "tar tf *", "git log *",
        "x2 *", "/usr/bin/*.py", "PROGRA~1 x",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        ok(wcheck(allowed[i], why, sizeof why) == 0, "allowed: %s", allowed[i]);

    char path[] = "/tmp/unit_conf_wrapXXXXXX";
    int fd = mkstemp(path);
    const char text[] = "echo *\n# nice\nnice *\n";
    ok(fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)sizeof text - 1, "policy file written");
    close(fd);
    allow_list a;
    ok(allow_list_load(&a, path, why, sizeof why) == -2 && strstr(why, path) &&
           strstr(why, "line 3: 'nice' runs its argument as a program") && a.count == 0,
       "'nice *' refused at load (-2), naming the file and the line: %s", why);
    FILE *f = fopen(path, "w");
    fputs("echo *\n  !exec   nice make *\n!exec\tsudo -u build make *\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == 0 && a.count == 3, "'!exec PATTERN': loaded (%s)",
       a.count ? "" : why);
    ok(allow_list_permits(&a, "nice make all") == 1 && allow_list_permits(&a, "nice id") == 0 &&
           allow_list_permits(&a, "sudo -u build make x") == 1 && allow_list_permits(&a, "!exec nice make x") == 0,
       "and matched without its '!exec'");
    allow_list_free(&a);
    f = fopen(path, "w");
    fputs("!exec *\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == -2 && strstr(why, "line 1: the program word '*' allows every"),
       "'!exec' does not lift the rule on the program word: %s", why);
    f = fopen(path, "w");
    fputs("echo *\n!exec\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == -2 && strstr(why, "line 2: '!exec' with no pattern after it"),
       "'!exec' alone refused, not read as a program named '!exec': %s", why);
    f = fopen(path, "w");
    fputs("!execnice *\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == 0 && allow_list_permits(&a, "!execnice x") == 1,
       "'!exec' is a word of its own ('!execnice' is a program's name)");
    allow_list_free(&a);
    unlink(path);
}

static void test_policy_match(void)
{
    ok(pmatch("echo *", "echo x") == 1, "echo * / echo x");
    ok(pmatch("echo *", "echo") == 0, "echo * needs one word");
    ok(pmatch("echo *", "echo x y") == 0, "echo * is one word only");
    ok(pmatch("echo *", "echo 'x y'") == 1, "echo * / echo 'x y': one word");
    ok(pmatch("echo *", "echo 'x; id'") == 1, "a quoted ; is a byte of the word");
    ok(pmatch("echo *", "echo x; id") == -2, "echo x; id never gets to matching");
    ok(pmatch("echo *", "echox") == 0, "the first word is exact");
    ok(pmatch("echo *", "'echo' x") == 1, "quotes do not change a word");
    ok(pmatch("printf **", "printf") == 1, "** matches no word");
    ok(pmatch("printf **", "printf a b c '' d") == 1, "** matches any number of words");
    ok(pmatch("printf x **", "printf") == 0, "words before ** still needed");
    ok(pmatch("printf ?", "printf x") == 1 && pmatch("printf ?", "printf xy") == 0, "? is one byte");
    ok(pmatch("cat /var/log/*.log", "cat /var/log/syslog.log") == 1, "cat /var/log/*.log");
    ok(pmatch("cat /var/log/*.log", "cat /var/log/a/b.log") == 1, "* crosses '/' (no FNM_PATHNAME)");
    ok(pmatch("cat /var/log/*.log", "cat /var/log/x.log /tmp/F.log") == 0, "one word too many");
    ok(pmatch("cat /var/log/*.log", "cat /var/log/../../etc/shadow") == 0, "not .log");
    ok(pmatch("cat /var/log/*.log", "cat /var/log/../../tmp/x.log") == 0, "a * never matches /../");
    ok(pmatch("cat /var/log/*", "cat /var/log/..") == 0, "nor a trailing /..");
    ok(pmatch("cat *", "cat ../x") == 0 && pmatch("cat *", "cat ..") == 0, "nor ../ or ..");
    ok(pmatch("cat *", "cat ...x") == 1 && pmatch("cat *", "cat a..b") == 1, "'..' in a name is fine");
    ok(pmatch("cat ../x", "cat ../x") == 1, "a literal pattern word may say ..");
    ok(pmatch("ls '*'", "ls '*'") == 1 && pmatch("ls '*'", "ls x") == 0, "a quoted * in a pattern is literal");
    ok(pmatch("ls \\?", "ls '?'") == 1 && pmatch("ls \\?", "ls x") == 0, "an escaped ? too");
    ok(pmatch("ls [ab]", "ls a") == 1 && pmatch("ls [ab]", "ls c") == 0, "[ab]");
    ok(pmatch("ls [!ab]", "ls c") == 1 && pmatch("ls [!ab]", "ls a") == 0, "[!ab]");
    ok(pmatch("ls [a-c]x", "ls bx") == 1 && pmatch("ls [a-c]x", "ls dx") == 0, "[a-c]");
    ok(pmatch("ls []]", "ls ']'") == 1, "[]] holds ]");
    ok(pmatch("ls a[b", "ls 'a[b'") == 1, "an unclosed [ is itself");
    ok(pmatch("ls 'a[b'", "ls 'a[b'") == 1, "a quoted [ too");
    ok(pmatch("ls *a*a*a*a*b", "ls aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 0, "many stars, no match");
    ok(pmatch("true", "true") == 1 && pmatch("true", "true x") == 0, "a one-word pattern");
    ok(pmatch("rsync * /dst", "rsync '-esh -c id' /dst") == 0 && pmatch("echo ?", "echo -") == 0 &&
           pmatch("ls [-a]", "ls -") == 0,
       "a pattern word starting with a wildcard never matches an option");
    ok(pmatch("ls -*", "ls -l") == 1 && pmatch("ls x*", "ls x-y") == 1 && pmatch("ls *", "ls x-") == 1,
       "one starting otherwise may");
}

/* doc/security.md 5.2: a word that a wildcard matches never starts with
 * an option's first byte ('-', '@', '+'; '/' too on a Windows slave):
 * a pattern that wants one writes it literally. */
static void test_policy_options(void)
{
    ok(pmatch("gcc *", "gcc x.c") == 1, "gcc * allows gcc x.c");
    ok(pmatch("gcc *", "gcc -x") == 0, "gcc * refuses gcc -x");
    ok(pmatch("gcc *", "gcc @opts") == 0, "gcc * refuses gcc @FILE (options read from FILE)");
    ok(pmatch("gcc *", "gcc +x") == 0, "gcc * refuses gcc +x");
    ok(pmatch("head ?", "head +") == 0 && pmatch("head ?", "head @") == 0, "so does ?");
    ok(pmatch("ls [+@a]", "ls +") == 0 && pmatch("ls [+@a]", "ls @") == 0 && pmatch("ls [+@a]", "ls a") == 1,
       "and a set, even one that names them");
    ok(pmatch("ls *x", "ls @x") == 0 && pmatch("ls *x", "ls +x") == 0, "a wildcard first, literal bytes after");
    ok(pmatch("gcc -O2 *", "gcc -O2 x.c") == 1 && pmatch("gcc -O2 *", "gcc -O2 -x") == 0,
       "an option written literally is allowed, not one more");
    ok(pmatch("gcc @*", "gcc @opts") == 1 && pmatch("cmd +x", "cmd +x") == 1 && pmatch("ls -*", "ls -l") == 1,
       "@* +x -* written literally");
    ok(pmatch("ls x*", "ls x-y") == 1 && pmatch("ls x*", "ls x@y") == 1 && pmatch("ls *", "ls x+") == 1,
       "a word starting with another byte may hold them");
    ok(pmatch("cp * /dst", "cp /src /dst") == 1, "'/' is no option on POSIX");
    ok(pmatch("printf **", "printf a b c") == 1, "** allows words");
    ok(pmatch("printf **", "printf -v x y") == 0 && pmatch("printf **", "printf x @y") == 0 &&
           pmatch("printf **", "printf x y +z") == 0,
       "** is any number of words as * matches them: never an option");
    ok(pmatch("cat **", "cat x ../y") == 0 && pmatch("cat **", "cat ..") == 0, "nor a way out of a directory");
    ok(pmatch("printf -v x **", "printf -v x y") == 1, "options before ** written literally");
    ok(pmatch("'*' *", "'*' x") == 1 && pmatch("'*' *", "ls x") == 0, "a quoted * first is a literal program name");
    /* Windows: '/' starts an option too (cmd /c, findstr /r) */
    ok(pmatch_win("prog *", "prog /c") == 0 && pmatch_win("prog *", "prog /k") == 0, "Windows: prog * refuses /c, /k");
    ok(pmatch_win("prog *", "prog -x") == 0 && pmatch_win("prog *", "prog @f") == 0 &&
           pmatch_win("prog *", "prog +x") == 0,
       "Windows: and -x, @f, +x");
    ok(pmatch_win("prog **", "prog a /c") == 0 && pmatch_win("prog ?c", "prog /c") == 0, "Windows: ** and ? too");
    ok(pmatch_win("prog /c *", "prog /c x") == 1 && pmatch_win("prog /*", "prog /k") == 1,
       "Windows: a /X written literally is allowed");
    ok(pmatch_win("prog *", "prog plain") == 1 && pmatch_win("prog *", "prog 'C:\\x'") == 1 &&
           pmatch_win("prog *", "prog a/b") == 1,
       "Windows: plain words, C:\\x, a/b allowed");

    /* a program word of wildcards only allows every program: refused at load */
    char why[300];
    const char *every[] = {"**", "*", "* **", "* x", "?", "?*", "*?*", "[a-z]*", "[!x] *", "[]] **"};
    for (size_t k = 0; k < sizeof every / sizeof *every; k++) {
        why[0] = 0;
        ok(pcheck(every[k], why, sizeof why) == -1 && strstr(why, "allows every program"), "[%s] refused: %s",
           every[k], why);
    }
    const char *some[] = {"gcc *", "/usr/bin/*", "*/gcc *", "g* x", "*cc", "'*' x", "\\* x", "[a-z", "gcc -O2 *",
                          "x **", "ls"};
    for (size_t k = 0; k < sizeof some / sizeof *some; k++) {
        why[0] = 0;
        ok(pcheck(some[k], why, sizeof why) == 0, "[%s] loads (a literal byte in its program word) %s", some[k], why);
    }
}

/* CommandLineToArgvW's rules (the C runtime's, since 2008), to check
 * win_command_line against: it must give the words back. */
static int win_parse(const char *s, char out[][64], int max)
{
    int n = 0, q = 0;
    char *t = out[n];
    for (; *s && (q || (*s != ' ' && *s != '\t')); s++) /* the program: quotes, no escapes */
        if (*s == '"')
            q = !q;
        else
            *t++ = *s;
    *t = 0;
    n++;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || n == max)
            return n;
        t = out[n++];
        q = 0;
        while (*s && (q || (*s != ' ' && *s != '\t'))) {
            size_t b = 0;
            while (*s == '\\')
                s++, b++;
            if (*s == '"') {
                for (size_t i = 0; i < (b % 2 ? b / 2 : b / 2); i++)
                    *t++ = '\\';
                if (b % 2)
                    *t++ = '"';
                else if (q && s[1] == '"')
                    *t++ = '"', s++;
                else
                    q = !q;
                s++;
            } else {
                for (size_t i = 0; i < b; i++)
                    *t++ = '\\';
                if (*s && (q || (*s != ' ' && *s != '\t')))
                    *t++ = *s++;
            }
        }
        *t = 0;
    }
}

static void test_win_command_line(void)
{
    char *const cases[][8] = {
        {"prog", NULL},
        {"C:\\Program Files\\x.exe", "a", NULL},
        {"p", "a b", "", "c", NULL},
        {"p", "x\"y", "\"", "\\\"", NULL},
        {"p", "a\\", "a\\\\", "\\\\server\\share\\", "a b\\", NULL},
        {"p", "\\\\\"", "tab\there", "%PATH%", "^&|<>", NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *line = win_command_line(cases[c]);
        char got[8][64];
        int n = win_parse(line, got, 8), same = 1, want = 0;
        while (cases[c][want])
            want++;
        for (int i = 0; i < n && i < want; i++)
            same &= strcmp(got[i], cases[c][i]) == 0;
        ok(n == want && same, "win_command_line round trip %zu: [%s]", c, line);
        free(line);
    }
    char *line = win_command_line((char *const[]){"p", "a b\\", "x\"", NULL});
    ok(strcmp(line, "\"p\" \"a b\\\\\" \"x\\\"\"") == 0, "backslashes before the closing quote doubled: %s", line);
    free(line);
}

static void test_allow_list(void)
{
    char path[] = "/tmp/unit_conf_allowXXXXXX", why[300], **argv;
    int fd = mkstemp(path);
    const char text[] = "# comment\n\n  echo *\r\nprintf **\n";
    ok(fd >= 0 && write(fd, text, sizeof text - 1) == (ssize_t)sizeof text - 1, "policy file written");
    close(fd);
    allow_list a;
    ok(allow_list_load(&a, path, why, sizeof why) == 0 && a.count == 2, "two patterns loaded");
    ok(allow_list_check(&a, "echo 'a b'", 10, &argv, why, sizeof why) == 1 && argv && strcmp(argv[1], "a b") == 0 &&
           !argv[2],
       "allowed: its words");
    free(argv);
    ok(allow_list_check(&a, "echo a\0; id", 11, &argv, why, sizeof why) == 0 && !argv &&
           strcmp(why, "a NUL byte at byte 7") == 0,
       "a NUL byte refused: %s", why);
    char want[400];
    snprintf(want, sizeof want, "matches no pattern of %s", path);
    ok(allow_list_check(&a, "id", 2, &argv, why, sizeof why) == 0 && strcmp(why, want) == 0, "no pattern: %s", why);
    ok(allow_list_permits(&a, "printf x y") == 1 && allow_list_permits(&a, "printf x;id") == 0, "allow_list_permits");
    allow_list_free(&a);
    FILE *f = fopen(path, "w");
    fputs("echo *\n# x\necho $HOME\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == -2 && strstr(why, "line 3: shell syntax '$' at byte 6") &&
           a.count == 0,
       "a pattern with shell syntax refused at load (-2): %s", why);
    f = fopen(path, "w");
    fputs("echo *\n\n* **\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == -2 &&
           strstr(why, "line 3: the program word '*' allows every program") && a.count == 0,
       "'* **' refused at load (-2): %s", why);
    f = fopen(path, "w");
    fputs("# only **\n**\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == -2 && strstr(why, path) &&
           strstr(why, "line 2: the program word '**' allows every program"),
       "'**' alone refused at load, naming the file: %s", why);
    f = fopen(path, "w");
    fputs("gcc -O2 *\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == 0 && strcmp(a.option_leads, POLICY_OPTION_LEADS) == 0 &&
           allow_list_permits(&a, "gcc -O2 x.c") == 1 && allow_list_permits(&a, "gcc -O2 @x") == 0,
       "a loaded policy uses this platform's option leads");
    a.option_leads = POLICY_OPTION_LEADS_WINDOWS;
    ok(allow_list_permits(&a, "gcc -O2 /c") == 0, "and a Windows slave's refuses /c");
    allow_list_free(&a);
    unlink(path);
    ok(allow_list_load(&a, path, why, sizeof why) == -1 && strstr(why, "cannot read policy file"),
       "a file that is not there: -1 (%s)", why);
    ok(allow_list_load(&a, "/", why, sizeof why) == -1 && strstr(why, "cannot read policy file '/'"),
       "a directory: -1 (%s)", why);
#ifndef _WIN32
    ok(mkfifo(path, 0600) == 0 && allow_list_load(&a, path, why, sizeof why) == -1 &&
           strstr(why, "not a regular file"),
       "a FIFO: -1 at once, not waited on (%s)", why);
    unlink(path);
#endif
    f = fopen(path, "w");
    for (int i = 0; i <= POLICY_FILE_MAX / 7; i++)
        fputs("echo *\n", f);
    fclose(f);
    ok(allow_list_load(&a, path, why, sizeof why) == -2 && strstr(why, "is larger than 1048576 bytes"),
       "a file over POLICY_FILE_MAX: -2 (%s)", why);
    unlink(path);
}

/* Windows reads '\\' as a directory separator and drops trailing dots
 * and spaces of a name: "..\\", ".. " and "..." are ways out too. */
static void test_policy_dotdot_windows(void)
{
    ok(pmatch("type C:\\\\logs\\\\*.log", "type 'C:\\logs\\..\\..\\x.log'") == 0,
       "a wildcard never matches a '..' between backslashes");
    ok(pmatch("type C:\\\\logs\\\\*", "type 'C:\\logs\\..'") == 0 &&
           pmatch("type *", "type '..\\x'") == 0 && pmatch("type *", "type 'x\\..'") == 0,
       "nor a last, a first, a '\\..' at the end");
    ok(pmatch("cat /l/*.log", "cat '/l/.. /.. /x.log'") == 0 && pmatch("cat /l/*.log", "cat /l/.../x.log") == 0 &&
           pmatch("cat /l/*", "cat '/l/..  .'") == 0,
       "nor '.. ', '...' (Windows drops trailing dots and spaces)");
    ok(pmatch("cat /l/*.log", "cat /l/..x/x.log") == 1 && pmatch("cat /l/*.log", "cat /l/x../y.log") == 1 &&
           pmatch("cat /l/*.log", "cat /l/./y.log") == 1,
       "'..x', 'x..' and '.' are names, allowed");
}

int main(void)
{
    test_slaves_conf();
    test_command_lines();
    test_line_reader();
    test_dedup();
    test_json();
    test_policy_split();
    test_policy_match();
    test_policy_wrappers();
    test_policy_options();
    test_win_command_line();
    test_allow_list();
    test_policy_dotdot_windows();
    return done_testing();
}
