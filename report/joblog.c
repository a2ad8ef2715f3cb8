/* joblog.c - an earlier joblog, read back for --resume, --resume-failed
 * and --retry-failed, and rewritten with one line per Seq (report.h). */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The whole file in memory (joblogs are a line per command); NULL with
 * errno set, or with *len 0 and errno ENOENT for a missing file. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    *len = 0;
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
                errno = EIO;
            }
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* One line: its Seq (0: the header), and where the fields after the
 * first 8 TABs (the Command) start. -1 if it is not a joblog line. */
static int parse_line(const char *line, size_t len, uint32_t *seq, int *failed, size_t *cmd_at)
{
    size_t tabs[8], nt = 0;
    for (size_t i = 0; i < len && nt < 8; i++)
        if (line[i] == '\t')
            tabs[nt++] = i;
    if (nt < 8)
        return -1;
    if (tabs[0] == 3 && memcmp(line, "Seq", 3) == 0) {
        *seq = 0;
        return 0;
    }
    char field[24];
    unsigned long s = 0;
    if (tabs[0] == 0 || tabs[0] > 10)
        return -1;
    for (size_t i = 0; i < tabs[0]; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        s = s * 10 + (unsigned long)(line[i] - '0');
    }
    if (s == 0 || s > UINT32_MAX - 1)
        return -1;
    /* Exitval (field 7) and Signal (field 8) */
    long v[2];
    for (int k = 0; k < 2; k++) {
        size_t a = tabs[5 + k] + 1, b = tabs[6 + k];
        if (b - a == 0 || b - a >= sizeof field)
            return -1;
        memcpy(field, line + a, b - a);
        field[b - a] = 0;
        char *end;
        v[k] = strtol(field, &end, 10);
        if (*end)
            return -1;
    }
    *seq = (uint32_t)s;
    *failed = v[0] != 0 || v[1] != 0;
    *cmd_at = tabs[7] + 1;
    return 0;
}

void joblog_past_free(joblog_past *p)
{
    if (p->command)
        for (uint32_t i = 0; i <= p->max_seq; i++)
            free(p->command[i]);
    free(p->command);
    free(p->state);
    memset(p, 0, sizeof *p);
}

/* Where the line at offset at ends: its newline, or the end of buf. */
static size_t line_end(const char *buf, size_t len, size_t at)
{
    const char *nl = memchr(buf + at, '\n', len - at);
    return nl ? (size_t)(nl - buf) : len;
}

int joblog_read(const char *path, joblog_past *p)
{
    memset(p, 0, sizeof *p);
    if (path[0] == '+')
        path++;
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf && errno != ENOENT) {
        fprintf(stderr, "client: cannot read the joblog '%s': %s\n", path, strerror(errno));
        return -1;
    }
    uint32_t cap = 0, lineno = 0;
    for (size_t at = 0; buf && at < len;) {
        size_t end = line_end(buf, len, at);
        const char *line = buf + at;
        size_t n = end - at;
        lineno++;
        at = end + 1;
        if (n && line[n - 1] == '\r')
            n--;
        uint32_t seq;
        int failed = 0;
        size_t cmd_at = 0;
        if (n == 0)
            continue;
        if (parse_line(line, n, &seq, &failed, &cmd_at) < 0) {
            if (end == len) { /* a last line cut short (a crash while it was written): as never run */
                fprintf(stderr, "client: warning: the joblog '%s' ends with a partial line %u: ignored\n", path,
                        lineno);
                break;
            }
            fprintf(stderr, "client: the joblog '%s' line %u is not a joblog line (Seq, 7 more fields and the "
                    "Command, tab-separated)\n", path, lineno);
            free(buf);
            joblog_past_free(p);
            return -1;
        }
        if (seq == 0)
            continue;
        if (seq >= cap) {
            uint32_t ncap = cap ? cap : 1024;
            while (ncap <= seq)
                ncap *= 2;
            uint8_t *st = realloc(p->state, ncap);
            char **cm = st ? realloc(p->command, ncap * sizeof *cm) : NULL;
            if (st)
                p->state = st;
            if (!st || !cm) {
                fprintf(stderr, "client: out of memory reading the joblog '%s'\n", path);
                free(buf);
                joblog_past_free(p);
                return -1;
            }
            p->command = cm;
            memset(p->state + cap, 0, ncap - cap);
            memset(p->command + cap, 0, (ncap - cap) * sizeof *cm);
            cap = ncap;
        }
        free(p->command[seq]);
        p->command[seq] = malloc(n - cmd_at + 1);
        if (p->command[seq]) {
            memcpy(p->command[seq], line + cmd_at, n - cmd_at);
            p->command[seq][n - cmd_at] = 0;
        }
        p->state[seq] = failed ? JOBLOG_FAILED : JOBLOG_OK;
        if (seq > p->max_seq)
            p->max_seq = seq;
        p->lines++;
    }
    for (uint32_t i = 1; i <= p->max_seq; i++)
        p->failed += p->state[i] == JOBLOG_FAILED;
    free(buf);
    return 0;
}

int joblog_compact_file(const char *path)
{
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) {
        fprintf(stderr, "client: cannot read the joblog '%s' back: %s\n", path, strerror(errno));
        return -1;
    }
    /* the last line of each Seq: its start, by Seq */
    size_t *last = NULL;
    uint32_t cap = 0;
    for (size_t at = 0; at < len;) {
        size_t end = line_end(buf, len, at);
        uint32_t seq;
        int failed;
        size_t cmd_at;
        if (parse_line(buf + at, end - at, &seq, &failed, &cmd_at) == 0 && seq) {
            if (seq >= cap) {
                uint32_t ncap = cap ? cap : 1024;
                while (ncap <= seq)
                    ncap *= 2;
                size_t *l = realloc(last, ncap * sizeof *l);
                if (!l) {
                    free(last);
                    free(buf);
                    fprintf(stderr, "client: out of memory rewriting the joblog '%s'\n", path);
                    return -1;
                }
                for (uint32_t i = cap; i < ncap; i++)
                    l[i] = SIZE_MAX;
                last = l;
                cap = ncap;
            }
            last[seq] = at;
        }
        at = end + 1;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "client: cannot rewrite the joblog '%s': %s: %s\n", path, tmp, strerror(errno));
        free(last);
        free(buf);
        return -1;
    }
    int bad = 0;
    for (size_t at = 0; at < len;) {
        size_t end = line_end(buf, len, at);
        uint32_t seq;
        int failed;
        size_t cmd_at;
        int ok = parse_line(buf + at, end - at, &seq, &failed, &cmd_at) == 0;
        /* the header, and each Seq's last line; a line that is not a
         * joblog line is kept as it was (not ours to drop) */
        if ((!ok && end > at) || (ok && (seq == 0 || last[seq] == at))) {
            if (fwrite(buf + at, 1, end - at, f) != end - at || fputc('\n', f) == EOF)
                bad = 1;
        }
        at = end + 1;
    }
    free(last);
    free(buf);
    if ((fclose(f) != 0) | bad) {
        fprintf(stderr, "client: cannot rewrite the joblog '%s': %s: %s\n", path, tmp, strerror(errno ? errno : EIO));
        remove(tmp);
        return -1;
    }
#ifdef _WIN32
    remove(path); /* rename does not replace a file there */
#endif
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "client: cannot rewrite the joblog '%s': rename from %s: %s\n", path, tmp, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}
