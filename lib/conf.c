/* conf.c - slaves.conf and command-file parsing (see conf.h). */
#include "conf.h"
#include "common.h"
#include "platform.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits at most max fields separated by blanks; returns their count, or
 * max + 1 if there are more. */
static int split_fields(const char *p, size_t len, const char *f[], size_t flen[], int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(p[i]))
            i++;
        if (i >= len || p[i] == '#')
            break;
        if (n == max)
            return max + 1;
        f[n] = p + i;
        while (i < len && !is_space(p[i]) && p[i] != '#')
            i++;
        flen[n] = (size_t)(f[n] - p) <= i ? i - (size_t)(f[n] - p) : 0;
        n++;
    }
    return n;
}

static int parse_uint(const char *p, size_t n, long max, long *out)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* "2", "0.5", "1.25": x1000, in [1, WEIGHT_MAX_MILLI]; -1 otherwise. */
static long parse_weight(const char *p, size_t n)
{
    size_t i = 0;
    long v = 0;
    for (; i < n && isdigit((unsigned char)p[i]); i++)
        if ((v = v * 10 + (p[i] - '0')) > WEIGHT_MAX_MILLI)
            return -1;
    if (i == 0)
        return -1;
    v *= 1000;
    if (i < n && p[i] == '.') {
        long scale = 100;
        size_t start = ++i;
        for (; i < n && isdigit((unsigned char)p[i]) && scale; i++, scale /= 10)
            v += (p[i] - '0') * scale;
        if (i == start)
            return -1;
    }
    return i == n && v >= 1 && v <= WEIGHT_MAX_MILLI ? v : -1;
}

int slaves_conf_line(const char *line, size_t len, int lineno, slave_entry *e, const char **why)
{
    const char *f[4];
    size_t fl[4];
    if (memchr(line, 0, len)) {
        *why = "NUL byte in line";
        return -1;
    }
    int n = split_fields(line, len, f, fl, 4);
    if (n == 0)
        return 0;
    if (n < 2) {
        *why = "expected 'host port [slots] [weight=W]'";
        return -1;
    }
    if (n > 4) {
        *why = "too many fields (expected 'host port [slots] [weight=W]')";
        return -1;
    }
    /* after the port: the slots, a weight=W, each at most once */
    long weight = 1000;
    int have_weight = 0;
    for (int k = 2; k < n; k++) {
        if (fl[k] < 7 || memcmp(f[k], "weight=", 7) != 0)
            continue;
        if (have_weight++) {
            *why = "weight given twice";
            return -1;
        }
        if ((weight = parse_weight(f[k] + 7, fl[k] - 7)) < 0) {
            *why = "weight is not a number from 0.001 to 100 (weight=W: W times as fast)";
            return -1;
        }
        f[k] = f[n - 1], fl[k] = fl[n - 1]; /* the rest as if it were not there */
        n--, k--;
    }
    if (n > 3) {
        *why = "too many fields (expected 'host port [slots] [weight=W]')";
        return -1;
    }
    if (fl[0] >= sizeof e->host) {
        *why = "host name too long";
        return -1;
    }
    long port, slots = 0;
    if (parse_uint(f[1], fl[1], 65535, &port) < 0 || port == 0) {
        *why = "port is not a number from 1 to 65535";
        return -1;
    }
    if (n == 3 && (parse_uint(f[2], fl[2], 1024, &slots) < 0 || slots == 0)) {
        *why = "slots is not a number from 1 to 1024";
        return -1;
    }
    memcpy(e->host, f[0], fl[0]);
    e->host[fl[0]] = 0;
    e->port = (int)port;
    e->slots = (int)slots;
    e->weight_milli = (uint32_t)weight;
    e->line = lineno;
    return 1;
}

enum cmd_line_kind cmd_line_classify(const char *line, size_t len, int truncated)
{
    size_t i = 0;
    while (i < len && (is_space(line[i])))
        i++;
    if (!truncated && (i == len || line[i] == '#'))
        return CMD_SKIP;
    if (truncated || len > MAX_COMMAND_LEN)
        return CMD_TOO_LONG;
    if (memchr(line, 0, len))
        return CMD_HAS_NUL;
    return CMD_COMMAND;
}

int line_reader_init(line_reader *lr)
{
    memset(lr, 0, sizeof *lr);
    lr->buf = malloc(MAX_COMMAND_LEN + 1);
    return lr->buf ? 0 : -1;
}

void line_reader_free(line_reader *lr)
{
    free(lr->buf);
    lr->buf = NULL;
}

static void finish_line(line_reader *lr, const char **line, size_t *len, int *truncated)
{
    if (lr->len > 0 && lr->buf[lr->len - 1] == '\r' && !lr->overflow)
        lr->len--; /* files written on Windows */
    lr->buf[lr->len] = 0;
    *line = lr->buf;
    *len = lr->len;
    *truncated = lr->overflow;
    lr->lineno++;
    lr->returned = 1;
}

int line_reader_next(line_reader *lr, const char *data, size_t n, size_t *pos, int at_eof, const char **line,
                     size_t *len, int *truncated)
{
    if (lr->returned) { /* the previous call returned a line: start anew */
        lr->len = 0;
        lr->overflow = 0;
        lr->returned = 0;
    }
    while (*pos < n) {
        const char *start = data + *pos;
        const char *nl = memchr(start, '\n', n - *pos);
        size_t take = nl ? (size_t)(nl - start) : n - *pos;
        size_t room = MAX_COMMAND_LEN - lr->len;
        if (take > room) {
            lr->overflow = 1;
            memcpy(lr->buf + lr->len, start, room);
            lr->len += room;
        } else {
            memcpy(lr->buf + lr->len, start, take);
            lr->len += take;
        }
        *pos += take + (nl ? 1 : 0);
        if (nl) {
            finish_line(lr, line, len, truncated);
            return 1;
        }
    }
    if (at_eof && (lr->len > 0 || lr->overflow)) {
        finish_line(lr, line, len, truncated);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------- the policy's words --- */

/* A word of what policy_split() decodes: in a pattern, a literal '*', '?',
 * '[' or '\' is kept escaped with '\' (word_match reads it so). */
static void lit(char **t, char c, int pattern)
{
    if (pattern && (c == '*' || c == '?' || c == '[' || c == '\\'))
        *(*t)++ = '\\';
    *(*t)++ = c;
}

static int is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

#define REFUSE(...) (snprintf(why, whylen, __VA_ARGS__), free(w), -1)

int policy_split(const char *s, size_t len, int pattern, char ***out, char *why, size_t whylen)
{
    *out = NULL;
    /* n words take at least 2n - 1 bytes (an empty one is ''), and a word
     * at most twice its bytes (escapes) plus its NUL: one allocation */
    size_t maxw = len / 2 + 2;
    char **w = malloc(maxw * sizeof *w + 2 * len + maxw);
    if (!w) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    char *t = (char *)(w + maxw);
    int n = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= len)
            break;
        size_t start = i;
        w[n++] = t;
        while (i < len && s[i] != ' ' && s[i] != '\t') {
            unsigned char c = (unsigned char)s[i];
            if (is_control(c))
                return REFUSE("control character 0x%02x at byte %zu", c, i + 1);
            if (c == '\'') { /* everything literally, up to the next ' */
                size_t open = i++;
                for (; i < len && s[i] != '\''; i++) {
                    if (is_control((unsigned char)s[i]))
                        return REFUSE("control character 0x%02x at byte %zu", (unsigned char)s[i], i + 1);
                    lit(&t, s[i], pattern);
                }
                if (i >= len)
                    return REFUSE("unterminated single quote (opened at byte %zu)", open + 1);
                i++;
            } else if (c == '"') { /* literally, but \" \\ \$ \` and no $ or ` (a shell expands them) */
                size_t open = i++;
                for (; i < len && s[i] != '"'; i++) {
                    unsigned char d = (unsigned char)s[i];
                    if (is_control(d))
                        return REFUSE("control character 0x%02x at byte %zu", d, i + 1);
                    if (d == '\\' && i + 1 < len && strchr("\"\\$`", s[i + 1]) && s[i + 1])
                        d = (unsigned char)s[++i];
                    else if (d == '$' || d == '`')
                        return REFUSE("shell syntax '%c' inside double quotes at byte %zu (no expansion without a "
                                      "shell: use single quotes)", d, i + 1);
                    lit(&t, (char)d, pattern);
                }
                if (i >= len)
                    return REFUSE("unterminated double quote (opened at byte %zu)", open + 1);
                i++;
            } else if (c == '\\') {
                if (i + 1 >= len)
                    return REFUSE("a backslash at the end of the line (byte %zu)", i + 1);
                if (is_control((unsigned char)s[i + 1]))
                    return REFUSE("control character 0x%02x at byte %zu", (unsigned char)s[i + 1], i + 2);
                lit(&t, s[i + 1], pattern);
                i += 2;
            } else if (strchr(";&|<>()$`", c)) {
                return REFUSE("shell syntax '%c' at byte %zu (commands run without a shell under --allow)", c, i + 1);
            } else if (i == start && (c == '#' || c == '~')) {
                return REFUSE("shell syntax '%c' at the start of a word at byte %zu (commands run without a shell "
                              "under --allow)", c, i + 1);
            } else if (c == '*' || c == '?' || c == '[') {
                if (!pattern)
                    return REFUSE("wildcard '%c' at byte %zu (no file name expansion without a shell: quote it)", c,
                                  i + 1);
                *t++ = (char)c; /* a pattern's wildcard */
                i++;
            } else {
                *t++ = (char)c;
                i++;
            }
        }
        *t++ = 0;
        if (i - start == 1 && strchr("{}!", s[start]))
            return REFUSE("shell syntax '%c' as a word at byte %zu (commands run without a shell under --allow)",
                          s[start], start + 1);
        if (n == 1) { /* NAME=VALUE first: a shell would take it for an assignment */
            const char *v = w[0];
            size_t k = 0;
            while (v[k] == '_' || isalpha((unsigned char)v[k]) || (k > 0 && isdigit((unsigned char)v[k])))
                k++;
            if (k > 0 && v[k] == '=')
                return REFUSE("assignment '%.*s=...' as the first word (no environment assignments without a shell)",
                              (int)k, v);
        }
    }
    if (n == 0)
        return REFUSE("an empty command (only blanks)");
    if (pattern)
        for (int k = 0; k < n - 1; k++)
            if (strcmp(w[k], "**") == 0)
                return REFUSE("'**' is a pattern's last word only (word %d of %d)", k + 1, n);
    w[n] = NULL;
    *out = w;
    return n;
}

/* [...] at p (just past the '['), for c: the end of it, or NULL if it
 * does not close (then '[' is itself). */
static const char *bracket(const char *p, unsigned char c, int *hit)
{
    int neg = *p == '!' || *p == '^', found = 0;
    p += neg;
    for (int first = 1; *p && (*p != ']' || first); first = 0) {
        unsigned char lo = (unsigned char)*p, hi;
        if (lo == '\\' && p[1])
            lo = (unsigned char)*++p;
        p++;
        hi = lo;
        if (*p == '-' && p[1] && p[1] != ']') {
            hi = (unsigned char)*++p;
            if (hi == '\\' && p[1])
                hi = (unsigned char)*++p;
            p++;
        }
        if (lo <= c && c <= hi)
            found = 1;
    }
    if (*p != ']')
        return NULL;
    *hit = found != neg;
    return p + 1;
}

/* One pattern word against one word: '*', '?', '[...]', '\x' literal;
 * after a '*' if after_star (an end of t). */
static int word_match_at(const char *p, const char *t, int after_star)
{
    const char *star = after_star ? p : NULL, *resume = t;
    while (*t) {
        int hit = 0;
        const char *next = NULL;
        if (*p == '*') { /* remember where to come back: no recursion */
            star = ++p;
            resume = t;
            continue;
        }
        if (*p == '?')
            hit = 1, next = p + 1;
        else if (*p == '[' && (next = bracket(p + 1, (unsigned char)*t, &hit)))
            ;
        else if (*p == '\\' && p[1])
            hit = p[1] == *t, next = p + 2;
        else if (*p)
            hit = *p == *t, next = p + 1;
        if (hit) {
            p = next;
            t++;
        } else if (star) {
            p = star;
            t = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

static int word_match(const char *p, const char *t)
{
    return word_match_at(p, t, 0);
}

static int has_wildcard(const char *p)
{
    for (; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '*' || *p == '?' || *p == '[')
            return 1;
    }
    return 0;
}

/* A ".." path component: "..", "../x", "x/../y", "x/..", with '\\' as a
 * separator too and trailing dots and spaces ("...", ".. "), as Windows
 * reads a path (it drops them from a name). */
static int has_dotdot(const char *w)
{
    for (const char *c = w;; c++) { /* c: the start of a component */
        size_t n = strcspn(c, "/\\");
        if (n >= 2 && c[0] == '.' && c[1] == '.' && strspn(c + 2, ". ") >= n - 2)
            return 1;
        c += n;
        if (!*c)
            return 0;
    }
}

/* What no wildcard may match: an option (its first byte one of leads:
 * rsync * -> rsync -e..., gcc * -> gcc @FILE), written literally where
 * one is meant; a ".." component where the word has a wildcard at all. */
static int wildcard_may_take(const char *pattern_word, const char *word, const char *leads)
{
    if (has_wildcard(pattern_word) && has_dotdot(word))
        return 0;
    if (strchr("*?[", pattern_word[0]) && word[0] && strchr(leads, word[0]))
        return 0;
    return 1;
}

int policy_match(char *const *pattern, char *const *words, const char *option_leads)
{
    for (int i = 0;; i++) {
        if (!pattern[i])
            return !words[i];
        if (!pattern[i + 1] && strcmp(pattern[i], "**") == 0) {
            for (; words[i]; i++) /* the rest, however many, each as '*' would take it */
                if (!wildcard_may_take("*", words[i], option_leads))
                    return 0;
            return 1;
        }
        if (!words[i])
            return 0;
        if (!wildcard_may_take(pattern[i], words[i], option_leads))
            return 0;
        if (!word_match(pattern[i], words[i]))
            return 0;
    }
}

/* A pattern word of wildcards only ('*', '?', closed '[...]'): no byte of
 * it is literal. */
static int only_wildcards(const char *p)
{
    if (!*p)
        return 0;
    while (*p) {
        int hit;
        if (*p == '*' || *p == '?')
            p++;
        else if (*p == '[' && (p = bracket(p + 1, 0, &hit)))
            ;
        else
            return 0;
    }
    return 1;
}

int policy_pattern_check(char *const *pattern, char *why, size_t whylen)
{
    if (only_wildcards(pattern[0])) {
        snprintf(why, whylen, "the program word '%s' allows every program (write its name, or a path with a "
                 "literal part)", pattern[0]);
        return -1;
    }
    return 0;
}

/* Programs that run another program (or a script, or program text) that
 * one of their arguments names: under one of them a word of wildcards only
 * allows every program ("env *" runs "env rm -r x"). POSIX and Windows
 * names alike, compared without case and without .exe. */
static const char *const exec_wrappers[] = {
    "env", "nice", "timeout", "xargs", "nohup", "sudo", "doas", "su", "runuser", "pkexec", "setsid", "stdbuf",
    "time", "busybox", "toybox", "strace", "ltrace", "gdb", "valgrind", "chroot", "ionice", "taskset", "chrt",
    "numactl", "unshare", "nsenter", "flock", "watch", "systemd-run", "ssh", "parallel", "find",
    "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "ash", "awk", "gawk", "mawk", "sed", "python",
    "python2", "python3", "perl", "ruby", "node", "php", "lua", "tclsh", "expect", "make",
    "cmd", "start", "powershell", "pwsh", "wscript", "cscript", "runas", "rundll32", "mshta", "wsl",
    /* and more that run one: the dynamic loader runs any program file ("ld.so /bin/id"), "script -c", "command"
     * (a script on Fedora), sandboxes and personalities, the other interpreters, editors' "-c" */
    "ld.so", "ld-linux.so", "ld-linux-x86-64.so", "ld-linux-aarch64.so", "ld-linux-armhf.so", "ld-musl-x86_64.so",
    "ld-musl-aarch64.so", "script", "command", "setarch", "linux32", "linux64", "prlimit", "firejail", "bwrap",
    "fakeroot", "eatmydata", "sg", "cgexec", "catchsegv", "sshpass", "dbus-launch", "tmux", "screen", "run-parts",
    "pypy", "nodejs", "deno", "bun", "luajit", "rscript", "julia", "irb", "wish", "m4", "vim", "vi", "nvim", "emacs",
    "proot", "schroot", "cpulimit", "torsocks", "proxychains", "proxychains4", "newgrp", "sem", "npx",
};

/* name without what does not change the program it names: Windows'
 * trailing dots and spaces ("cmd.exe." runs cmd.exe), a ".exe" or ".com",
 * a version if versioned ("python3.12", "perl5.36.0", "bash5"), and its case; into out. */
static void program_stem(const char *name, size_t n, int versioned, char *out, size_t cap)
{
    for (;;) {
        size_t was = n;
        while (n && (name[n - 1] == '.' || name[n - 1] == ' '))
            n--;
        if (n > 7 && strncmp(name + n - 7, "::$", 3) == 0 && ((name[n - 4] | 0x20) == 'd') &&
            ((name[n - 3] | 0x20) == 'a') && ((name[n - 2] | 0x20) == 't') && ((name[n - 1] | 0x20) == 'a'))
            n -= 7; /* NTFS's "file::$DATA" is the file */
        if (n > 4 && name[n - 4] == '.' &&
            ((((name[n - 3] | 0x20) == 'e' && (name[n - 2] | 0x20) == 'x' && (name[n - 1] | 0x20) == 'e')) ||
             (((name[n - 3] | 0x20) == 'c' && (name[n - 2] | 0x20) == 'o' && (name[n - 1] | 0x20) == 'm'))))
            n -= 4;
        while (versioned && n > 1 && ((name[n - 1] >= '0' && name[n - 1] <= '9') || name[n - 1] == '.'))
            n--;
        if (n == was)
            break;
    }
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        out[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] | 0x20) : name[i];
    out[i] = 0;
}

/* a[0..n) and b[0..n) alike but for case */
static int same_letters(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((a[i] >= 'A' && a[i] <= 'Z' ? a[i] | 0x20 : a[i]) != (b[i] >= 'A' && b[i] <= 'Z' ? b[i] | 0x20 : b[i]))
            return 0;
    return 1;
}

/* Text a wildcard base may stand for, as a wrapper's name is written on
 * disk: plain, with .exe or .com, versioned, upper case (Windows). The
 * pattern matches the whole name, or if !anchored an end of it (what is
 * before is the part of a '*' that took the last '/'). */
static int wildcard_may_name(const char *pattern, int anchored, const char *w)
{
    static const char *const suffixes[] = {"", ".exe", ".com", ".", ".1", ".2", "3", "3.12", "5.36", "5.36.0", "18", "2.7"};
    /* what the pattern begins and ends with, literally, checked first (each word of a 1 MiB file is tried
     * against every name): without an escape, the bytes before its first wildcard and after its last */
    size_t len = strlen(pattern), head = anchored ? strcspn(pattern, "*?[") : 0, end = len, wlen = strlen(w);
    while (end > head && !strchr("*?]", pattern[end - 1]))
        end--;
    int literal_ends = !strchr(pattern, '\\');
    for (size_t s = 0; s < sizeof suffixes / sizeof *suffixes; s++) {
        char name[48], upper[48];
        size_t slen = strlen(suffixes[s]), n = wlen + slen;
        if (n >= sizeof name)
            continue;
        memcpy(name, w, wlen);
        memcpy(name + wlen, suffixes[s], slen + 1);
        if (literal_ends && (n < head + (len - end) || !same_letters(name, pattern, head) ||
                             !same_letters(name + n - (len - end), pattern + end, len - end)))
            continue;
        for (size_t i = 0; i <= n; i++)
            upper[i] = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] & ~0x20) : name[i];
        if (word_match_at(pattern, name, !anchored) || word_match_at(pattern, upper, !anchored))
            return 1;
    }
    return 0;
}

/* An 8.3 name Windows may give a longer one: "POWERS~1.EXE" is powershell.exe
 * (the first six letters, '~', a number). */
static int short_name_of(const char *stem, const char *w)
{
    const char *tilde = strchr(stem, '~');
    size_t k = tilde ? (size_t)(tilde - stem) : 0;
    if (!tilde || k == 0 || k > 6 || strlen(w) <= 8 || strncmp(stem, w, k) != 0)
        return 0;
    return strspn(tilde + 1, "0123456789") == strlen(tilde + 1);
}

/* The wrapper the program word names, or one it may match; NULL if none.
 * Its last path component (after the last literal '/', or "\\", Windows'
 * separator kept literal in a pattern) decides; with wildcards, a '*' or
 * '?' or set in it may also take a '/' (a '*' crosses directories:
 * "/usr/b*v" matches "/usr/bin/env"), so what follows each of them is
 * tried too, as a last component of its own. */
static const char *wrapper_of(const char *program)
{
    const char *base = program;
    for (const char *c = program; *c; c++) {
        int hit;
        const char *end;
        if (*c == '/')
            base = c + 1;
        else if (*c == '\\' && c[1] && *++c == '\\') /* a pattern keeps a literal '\' (Windows' separator) as "\\" */
            base = c + 1;
        else if (*c == '[' && (end = bracket(c + 1, 0, &hit))) /* a '/' in a set is one the set may take */
            c = end - 1;
    }
    char plain[4096]; /* a literal base without its escapes ("env\ " is "env ") */
    size_t n = 0;
    for (const char *c = base; *c && n + 1 < sizeof plain; c++)
        plain[n++] = *c == '\\' && c[1] ? *++c : *c;
    plain[n] = 0;
    for (int versioned = 0; versioned < 2 && !has_wildcard(base); versioned++) { /* the name as listed first */
        char stem[64];
        program_stem(plain, n, versioned, stem, sizeof stem);
        for (size_t i = 0; i < sizeof exec_wrappers / sizeof *exec_wrappers; i++) {
            const char *w = exec_wrappers[i];
            char listed[64];
            if ((stem[0] ^ w[0]) & ~0x20) /* not the same first letter: not that one (a quick no) */
                continue;
            program_stem(w, strlen(w), versioned, listed, sizeof listed);
            if (strcmp(stem, listed) == 0 || (versioned && short_name_of(stem, w)))
                return w;
        }
    }
    /* the base's tokens (a literal, '\\x', '*', '?', a set): where each starts, the bytes the rest takes at least */
    unsigned short token_at[4097], token_min[4097]; /* a base is shorter than a policy line (4,094 bytes) */
    char token_wild[4097];
    size_t tokens = 0;
    for (const char *c = base; *c && tokens < 4096; tokens++) {
        int hit;
        const char *end = *c == '[' ? bracket(c + 1, '/', &hit) : NULL;
        token_at[tokens] = (unsigned short)(c - base);
        token_wild[tokens] = *c == '*' || *c == '?' || end;
        c = end ? end : c + (*c == '\\' && c[1] ? 2 : 1);
    }
    token_at[tokens] = (unsigned short)(strlen(base) < 4096 ? strlen(base) : 4096);
    token_min[tokens] = 0;
    for (size_t k = tokens; k-- > 0;)
        token_min[k] = (unsigned short)(token_min[k + 1] + (base[token_at[k]] != '*'));
    for (size_t i = 0; i < sizeof exec_wrappers / sizeof *exec_wrappers && has_wildcard(base); i++) {
        const char *w = exec_wrappers[i];
        char short_name[16] = "";
        if (strlen(w) > 8) /* its 8.3 name, as "POWERS~?.EXE" would match it */
            snprintf(short_name, sizeof short_name, "%.6s~1", w);
        int literal_first = !strchr("*?[\\", base[0]); /* then it is the name's first letter (a quick no) */
        if ((!literal_first || !((base[0] ^ w[0]) & ~0x20)) &&
            (wildcard_may_name(base, 1, w) || (*short_name && wildcard_may_name(base, 1, short_name))))
            return w;
        for (size_t k = 0; k < tokens; k++) {
            /* a '/' taken there, then the rest an end of the name: only a rest short enough to be a name's (a
             * word ending in '*' allows the programs under its literal part, wrappers there too: 5.2) */
            if (!token_wild[k] || k + 1 == tokens || token_min[k + 1] > 40 ||
                (base[token_at[k]] == '*' && base[token_at[k + 1]] == '*'))
                continue;
            if (wildcard_may_name(base + token_at[k + 1], 0, w))
                return w;
        }
    }
    return NULL;
}

int policy_wrapper_check(char *const *pattern, char *why, size_t whylen)
{
    const char *w = wrapper_of(pattern[0]);
    if (!w)
        return 0;
    int from = 1;
    if (strcmp(w, "find") == 0) { /* find runs a program only after -exec, -execdir, -ok, -okdir */
        while (pattern[from] && strcmp(pattern[from], "-exec") && strcmp(pattern[from], "-execdir") &&
               strcmp(pattern[from], "-ok") && strcmp(pattern[from], "-okdir"))
            from++;
    }
    for (int i = from; pattern[i]; i++)
        if (only_wildcards(pattern[i])) {
            snprintf(why, whylen, "'%s' runs its argument as a program: with the word '%s' this pattern allows "
                     "any program (name the program it runs in the pattern and, reviewed, begin the line with "
                     "'!exec ')", w, pattern[i]);
            return -1;
        }
    return 0;
}

/* One line of a policy file into line (its '\n' left out): 1, 0 at the
 * end of the file, -1 longer than cap - 2 bytes, -2 it holds a NUL. */
static int policy_line(FILE *f, char *line, size_t cap)
{
    size_t n = 0;
    int c, nul = 0;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (n + 2 >= cap)
            return -1;
        nul |= c == 0;
        line[n++] = (char)c;
    }
    line[n] = 0;
    if (c == EOF && n == 0)
        return 0;
    return nul ? -2 : 1;
}

int allow_list_load(allow_list *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    FILE *f = file_open_regular(path, "policy file", err, errlen);
    if (!f)
        return -1;
    char line[4096];
    int lineno = 0, rc, refusal = -2, room = 0;
    /* a regular file (file_open_regular): its end says its size */
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    rewind(f);
    if (size > POLICY_FILE_MAX) { /* not even read */
        snprintf(err, errlen, "policy file '%s' is larger than %d bytes", path, POLICY_FILE_MAX);
        goto fail;
    }
    while ((rc = policy_line(f, line, sizeof line)) != 0) {
        lineno++;
        if (ftell(f) > POLICY_FILE_MAX) { /* one that grows as it is read */ /* read in the slave's loop on SIGHUP: bounded */
            snprintf(err, errlen, "policy file '%s' is larger than %d bytes", path, POLICY_FILE_MAX);
            goto fail;
        }
        if (rc == -1) { /* never split a pattern in two */
            snprintf(err, errlen, "policy file '%s': line %d is longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            goto fail;
        }
        if (rc == -2) { /* a C string would end there: the pattern would be cut, maybe widened */
            snprintf(err, errlen, "policy file '%s': line %d holds a NUL byte", path, lineno);
            goto fail;
        }
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        const char *p = line;
        while (is_space(*p))
            p++;
        if (!*p || *p == '#')
            continue;
        /* "!exec PATTERN": its wrapper may run any program, and that is what is meant */
        int any_program = strncmp(p, "!exec", 5) == 0 && (is_space(p[5]) || !p[5]);
        if (any_program)
            for (p += 5; is_space(*p);)
                p++;
        if (any_program && !*p) { /* read as a program named "!exec" it would hide the mistake */
            snprintf(err, errlen, "policy file '%s' line %d: '!exec' with no pattern after it", path, lineno);
            goto fail;
        }
        char why[600], **words;
        if (policy_split(p, strlen(p), 1, &words, why, sizeof why) < 0) {
            snprintf(err, errlen, "policy file '%s' line %d: %s", path, lineno, why);
            goto fail;
        }
        if (policy_pattern_check(words, why, sizeof why) < 0 ||
            (!any_program && policy_wrapper_check(words, why, sizeof why) < 0)) {
            free(words);
            snprintf(err, errlen, "policy file '%s' line %d: %s", path, lineno, why);
            goto fail;
        }
        if (a->count == room) { /* doubled: a 1 MiB file holds 150,000 patterns */
            int more = room ? 2 * room : 16;
            char ***grown = realloc(a->patterns, (size_t)more * sizeof *grown);
            if (!grown) {
                free(words);
                snprintf(err, errlen, "out of memory");
                refusal = -1; /* not the file's fault */
                goto fail;
            }
            a->patterns = grown;
            room = more;
        }
        a->patterns[a->count++] = words;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read policy file '%s': %s", path, strerror(errno));
        fclose(f);
        allow_list_free(a);
        return -1;
    }
    fclose(f);
    if (a->count == 0) {
        snprintf(err, errlen, "policy file '%s' allows nothing (no pattern in it)", path);
        return -2;
    }
    snprintf(a->path, sizeof a->path, "%s", path);
    a->option_leads = POLICY_OPTION_LEADS;
    return 0;
fail:
    fclose(f);
    allow_list_free(a);
    return refusal;
}

void allow_list_free(allow_list *a)
{
    for (int i = 0; i < a->count; i++)
        free(a->patterns[i]);
    free(a->patterns);
    memset(a, 0, sizeof *a);
}

int allow_list_check(const allow_list *a, const char *command, size_t len, char ***argv, char *why, size_t whylen)
{
    char **words;
    *argv = NULL;
    if (memchr(command, 0, len)) {
        snprintf(why, whylen, "a NUL byte at byte %zu", (size_t)((const char *)memchr(command, 0, len) - command) + 1);
        return 0;
    }
    if (policy_split(command, len, 0, &words, why, whylen) < 0)
        return 0;
    for (int i = 0; i < a->count; i++)
        if (policy_match(a->patterns[i], words, a->option_leads)) {
            *argv = words;
            return 1;
        }
    free(words);
    snprintf(why, whylen, "matches no pattern of %s", a->path);
    return 0;
}

int allow_list_permits(const allow_list *a, const char *command)
{
    char **argv, why[300];
    int ok = allow_list_check(a, command, strlen(command), &argv, why, sizeof why);
    free(argv);
    return ok;
}

char *win_command_line(char *const *words)
{
    size_t total = 1;
    for (int i = 0; words[i]; i++)
        total += 2 * strlen(words[i]) + 3;
    char *line = malloc(total), *t = line;
    if (!line)
        return NULL;
    t += sprintf(t, "\"%s\"", words[0]);
    for (int i = 1; words[i]; i++) {
        const char *w = words[i];
        *t++ = ' ';
        if (*w && !strpbrk(w, " \t\n\v\"")) {
            t += sprintf(t, "%s", w);
            continue;
        }
        *t++ = '"';
        for (;; w++) {
            size_t slashes = 0;
            while (*w == '\\')
                w++, slashes++;
            if (!*w || *w == '"') { /* doubled before a quote: theirs, and ours */
                memset(t, '\\', 2 * slashes);
                t += 2 * slashes;
                if (!*w)
                    break;
                *t++ = '\\';
                *t++ = '"';
            } else {
                memset(t, '\\', slashes);
                t += slashes;
                *t++ = *w;
            }
        }
        *t++ = '"';
    }
    *t = 0;
    return line;
}
