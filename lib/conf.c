/* conf.c - slaves.conf and command-file parsing (see conf.h). */
#include "conf.h"
#include "common.h"

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

int slaves_conf_line(const char *line, size_t len, int lineno, slave_entry *e, const char **why)
{
    const char *f[3];
    size_t fl[3];
    if (memchr(line, 0, len)) {
        *why = "NUL byte in line";
        return -1;
    }
    int n = split_fields(line, len, f, fl, 3);
    if (n == 0)
        return 0;
    if (n < 2) {
        *why = "expected 'host port [slots]'";
        return -1;
    }
    if (n > 3) {
        *why = "too many fields (expected 'host port [slots]')";
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

int glob_match(const char *p, const char *t)
{
    const char *star = NULL, *resume = NULL;
    while (*t) {
        if (*p == '*') { /* remember where to come back: no recursion, linear-ish */
            star = p++;
            resume = t;
        } else if (*p == '?' || *p == *t) {
            p++, t++;
        } else if (star) {
            p = star + 1;
            t = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

int allow_list_load(allow_list *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read policy file '%s': %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) { /* never split a pattern in two */
            snprintf(err, errlen, "policy file '%s': line %d is longer than %zu bytes", path, lineno,
                     sizeof line - 2);
            fclose(f);
            return -1;
        }
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        const char *p = line;
        while (is_space(*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char **grown = realloc(a->patterns, (size_t)(a->count + 1) * sizeof *grown);
        char *copy = malloc(strlen(p) + 1);
        if (!grown || !copy) {
            free(copy);
            snprintf(err, errlen, "out of memory");
            fclose(f);
            return -1;
        }
        strcpy(copy, p);
        a->patterns = grown;
        a->patterns[a->count++] = copy;
    }
    fclose(f);
    if (a->count == 0) {
        snprintf(err, errlen, "policy file '%s' allows nothing (no pattern in it)", path);
        return -1;
    }
    return 0;
}

int allow_list_permits(const allow_list *a, const char *command)
{
    for (int i = 0; i < a->count; i++)
        if (glob_match(a->patterns[i], command))
            return 1;
    return 0;
}
