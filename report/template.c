/*
 * template.c - commands made from a template (template.h): GNU parallel's
 * input sources, replacement strings and quoting, checked byte for byte
 * against parallel --dry-run by tests/template.t and tests/unit_template.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conf.h"
#include "report/template.h"

#define TEMPLATE_MAX_JOBS 0xfffffffeu /* seq is 32 bits */
#define ARGFILE_CHUNK 65536

enum rpl_kind { RPL_NONE, RPL_ALL, RPL_NOEXT, RPL_BASE, RPL_DIR, RPL_BASE_NOEXT, RPL_SEQ, RPL_SLOT };

static int is_sep(const char *w)
{
    return !strcmp(w, ":::") || !strcmp(w, "::::") || !strcmp(w, ":::+") || !strcmp(w, "::::+");
}

int template_present(int argc, char *const *argv, int from)
{
    for (int i = from; i < argc; i++)
        if (is_sep(argv[i]))
            return 1;
    return 0;
}

static int grow(char **buf, size_t *len, size_t *cap, size_t more)
{
    if (*len + more + 1 <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < *len + more + 1)
        c *= 2;
    char *b = realloc(*buf, c);
    if (!b)
        return -1;
    *buf = b;
    *cap = c;
    return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (grow(buf, len, cap, n) < 0)
        return -1;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

static int safe_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_' || ch == '.' || ch == '+' || ch == '/';
}

int template_quote(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && safe_byte((unsigned char)s[i]); i++) {
    }
    if (n == 0)
        return append(buf, len, cap, "''", 2);
    if (i == n)
        return append(buf, len, cap, s, n);
    /* s/'/'"'"'/g, then '...' around all of it, then an empty '' at
     * either end dropped (s/^''//; s/''$//): those in the middle stay. */
    size_t start = *len;
    if (append(buf, len, cap, "'", 1) < 0)
        return -1;
    for (i = 0; i < n; i++)
        if ((s[i] == '\'' ? append(buf, len, cap, "'\"'\"'", 5) : append(buf, len, cap, s + i, 1)) < 0)
            return -1;
    if (append(buf, len, cap, "'", 1) < 0)
        return -1;
    if (*len - start >= 2 && !memcmp(*buf + start, "''", 2)) {
        memmove(*buf + start, *buf + start + 2, *len - start - 2);
        *len -= 2;
    }
    if (*len - start >= 2 && !memcmp(*buf + *len - 2, "''", 2))
        *len -= 2;
    (*buf)[*len] = 0;
    return 0;
}

/* ------------------------------------------------------------ parsing --- */

static int add_arg(tmpl_source *s, const char *a, size_t n)
{
    if (s->nargs == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        char **v = realloc(s->args, cap * sizeof *v);
        if (!v)
            return -1;
        s->args = v;
        s->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, a, n);
    copy[n] = 0;
    s->args[s->nargs++] = copy;
    return 0;
}

static tmpl_source *new_source(template *t, int linked)
{
    tmpl_source *v = realloc(t->src, (size_t)(t->nsrc + 1) * sizeof *v);
    if (!v)
        return NULL;
    t->src = v;
    v[t->nsrc] = (tmpl_source){.linked = linked};
    return &v[t->nsrc++];
}

/* One argument per line, the newline dropped (a '\r' is kept, as GNU
 * parallel keeps it); a last line without a newline counts. */
static int read_argfile(tmpl_source *s, const char *path, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        snprintf(err, errlen, ":::: '%s': cannot read it: %s", path, strerror(errno));
        return -1;
    }
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (grow(&data, &len, &cap, ARGFILE_CHUNK) < 0) {
            snprintf(err, errlen, ":::: '%s': out of memory", path);
            goto fail;
        }
        size_t got = fread(data + len, 1, ARGFILE_CHUNK, f);
        len += got;
        if (got < ARGFILE_CHUNK)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, ":::: '%s': read error: %s", path, strerror(errno));
        goto fail;
    }
    size_t at = 0;
    while (at < len) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (data + at)) : len - at;
        if (add_arg(s, data + at, n) < 0) {
            snprintf(err, errlen, ":::: '%s': out of memory", path);
            goto fail;
        }
        at += n + 1;
    }
    free(data);
    if (f != stdin)
        fclose(f);
    return 0;
fail:
    free(data);
    if (f != stdin)
        fclose(f);
    return -1;
}

/* Which replacement string starts at s (len: how many bytes it takes),
 * with its source: 0 all of them ({} {.} ..., and {0} {0.} ... as GNU
 * parallel reads them), k > 0 source k ({-k}: from the end; a source not
 * there is an empty value). {%} and {#} take no number; other {...} are
 * not replacement strings and stay as they are. */
static enum rpl_kind rpl_at(const char *s, int nsrc, size_t *len, int *pos)
{
    const char *p = s + 1;
    *pos = 0;
    if (*s != '{')
        return RPL_NONE;
    if (p[0] == '#' && p[1] == '}') {
        *len = 3;
        return RPL_SEQ;
    }
    if (p[0] == '%' && p[1] == '}') {
        *len = 3;
        return RPL_SLOT;
    }
    int neg = *p == '-';
    if (neg)
        p++;
    if (*p >= '0' && *p <= '9') {
        const char *digits = p;
        long n = 0;
        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p++ - '0');
            if (n > 1000000)
                return RPL_NONE;
        }
        if (neg)
            *pos = n >= 1 && n <= nsrc ? nsrc - (int)n + 1 : INT_MAX;
        else if (n == 0)
            *pos = p - digits == 1 ? 0 : INT_MAX; /* {0}: all; {00}: empty, as GNU parallel 20221122 */
        else
            *pos = n > nsrc ? INT_MAX : (int)n;
    } else if (neg) {
        return RPL_NONE;
    }
    static const struct { const char *tail; enum rpl_kind kind; } tails[] = {
        {"}", RPL_ALL}, {".}", RPL_NOEXT}, {"/}", RPL_BASE}, {"//}", RPL_DIR}, {"/.}", RPL_BASE_NOEXT}};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        size_t tl = strlen(tails[i].tail);
        if (!strncmp(p, tails[i].tail, tl)) {
            *len = (size_t)(p - s) + tl;
            return tails[i].kind;
        }
    }
    return RPL_NONE;
}

static int set_err(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return -1;
}

static int parse(template *t, int n, char *const *words, char *err, size_t errlen)
{
    int i = 0;
    memset(t, 0, sizeof *t);
    size_t clen = 0, ccap = 0;
    for (; i < n && !is_sep(words[i]); i++) {
        if (i > 0 && append(&t->command, &clen, &ccap, " ", 1) < 0)
            goto oom;
        if (append(&t->command, &clen, &ccap, words[i], strlen(words[i])) < 0)
            goto oom;
    }
    if (i == n)
        return set_err(err, errlen, "no input source (::: ARG... or :::: ARGFILE)");
    for (const char *p = t->command; p && *p; p++) {
        size_t len;
        int pos;
        enum rpl_kind k = rpl_at(p, t->nsrc, &len, &pos);
        if (k == RPL_SLOT)
            return set_err(err, errlen,
                           "{%} (GNU parallel's job slot) has no meaning here: the master picks the slave and "
                           "its slot after the command line is made, so no number could be unique among the "
                           "commands running at once; use {#} (the job's number, unique)");
        if (k != RPL_NONE)
            t->has_rpl = 1;
    }
    /* GNU parallel: a replacement string in the command's first word (up
     * to a blank or '='; `{} ::: 'echo a'`, `my_{}`) is part of the
     * command: then no value is quoted. */
    t->quote = 1;
    for (const char *p = t->command; p && *p && !strchr(" \t\n=", *p); p++) {
        size_t len;
        int pos;
        if (rpl_at(p, 0, &len, &pos) != RPL_NONE) {
            t->quote = 0;
            break;
        }
    }
    /* The sources: "::: a b" gives one; ":::: f g" one per file. A ':::'
     * argument holding newlines is several arguments, as in GNU parallel
     * (it reads every source as lines). */
    while (i < n) {
        const char *sep = words[i++];
        int files = sep[3] == ':';
        int linked = sep[files ? 4 : 3] == '+';
        if (linked && t->nsrc == 0) {
            snprintf(err, errlen, "'%s' links a source to the one before it: there is none", sep);
            return -1;
        }
        if (files) {
            int first = 1;
            for (; i < n && !is_sep(words[i]); i++, first = 0) {
                tmpl_source *s = new_source(t, first && linked);
                if (!s)
                    goto oom;
                if (read_argfile(s, words[i], err, errlen) < 0)
                    return -1;
            }
            if (first) {
                snprintf(err, errlen, "'%s' without a file name", sep);
                return -1;
            }
        } else {
            tmpl_source *s = new_source(t, linked);
            if (!s)
                goto oom;
            for (; i < n && !is_sep(words[i]); i++) {
                const char *a = words[i];
                for (;;) {
                    const char *nl = strchr(a, '\n');
                    size_t len = nl ? (size_t)(nl - a) : strlen(a);
                    if (add_arg(s, a, len) < 0)
                        goto oom;
                    if (!nl)
                        break;
                    a = nl + 1;
                }
            }
        }
    }
    /* GNU parallel: with several sources, an empty one counts as one empty
     * argument; alone, it makes no command. */
    if (t->nsrc > 1)
        for (int k = 0; k < t->nsrc; k++)
            if (t->src[k].nargs == 0 && add_arg(&t->src[k], "", 0) < 0)
                goto oom;
    t->group_first = malloc((size_t)(t->nsrc + 1) * sizeof *t->group_first);
    t->group_len = malloc((size_t)t->nsrc * sizeof *t->group_len);
    t->pick = malloc((size_t)t->nsrc * sizeof *t->pick);
    t->argv = malloc((size_t)t->nsrc * sizeof *t->argv);
    if (!t->group_first || !t->group_len || !t->pick || !t->argv)
        goto oom;
    t->total = 1;
    for (int k = 0; k < t->nsrc; k++) {
        if (!t->src[k].linked) {
            t->group_first[t->ngroups] = k;
            t->group_len[t->ngroups++] = t->src[k].nargs;
        } else if (t->src[k].nargs < t->group_len[t->ngroups - 1]) {
            t->group_len[t->ngroups - 1] = t->src[k].nargs; /* linked: the shortest sets the length */
        }
    }
    t->group_first[t->ngroups] = t->nsrc;
    for (int g = 0; g < t->ngroups; g++) {
        if (t->group_len[g] && t->total > TEMPLATE_MAX_JOBS / t->group_len[g])
            return set_err(err, errlen, "the input sources make more than 4294967294 commands");
        t->total *= t->group_len[g];
    }
    return 0;
oom:
    return set_err(err, errlen, "out of memory");
}

int template_parse(template *t, int n, char *const *words, char *err, size_t errlen)
{
    int r = parse(t, n, words, err, errlen);
    if (r < 0)
        template_free(t); /* what was read before the error */
    return r;
}

void template_free(template *t)
{
    for (int k = 0; k < t->nsrc; k++) {
        for (size_t a = 0; a < t->src[k].nargs; a++)
            free(t->src[k].args[a]);
        free(t->src[k].args);
    }
    free(t->src);
    free(t->group_first);
    free(t->group_len);
    free(t->pick);
    free(t->argv);
    free(t->command);
    free(t->line);
    memset(t, 0, sizeof *t);
}

/* --------------------------------------------------------- generating --- */

/* GNU parallel's {.}: s:\.[^/.]*$:: */
static size_t noext_len(const char *s, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (s[i] == '/')
            return n;
        if (s[i] == '.')
            return i;
    }
    return n;
}

/* {/}: s:.*\/:: */
static const char *base_of(const char *s)
{
    const char *slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

/* File::Basename's _strip_trailing_sep: trailing slashes off, the first byte kept. */
static size_t strip_trailing_sep(const char *s, size_t n)
{
    while (n > 1 && s[n - 1] == '/')
        n--;
    return n;
}

/* {//}: Perl's File::Basename::dirname on Unix, as GNU parallel calls it.
 * Writes into out (at least n + 2 bytes); returns its length. */
static size_t dir_of(const char *s, size_t n, char *out)
{
    for (int round = 0; round < 2; round++) {
        size_t cut = n; /* fileparse: the dir is up to the last '/', else "./" */
        while (cut > 0 && s[cut - 1] != '/')
            cut--;
        const char *dir = cut ? s : "./";
        size_t dl = cut ? cut : 2;
        size_t baselen = n - cut;
        dl = strip_trailing_sep(dir, dl);
        memmove(out, dir, dl);
        out[dl] = 0;
        if (baselen || round == 1)
            return dl;
        s = out; /* nothing after the last '/': the dirname of the dir */
        n = dl;
    }
    return 0;
}

static int put(template *t, const char *s, size_t n)
{
    return t->quote ? template_quote(&t->line, &t->len, &t->cap, s, n) : append(&t->line, &t->len, &t->cap, s, n);
}

static int put_value(template *t, const char *arg, enum rpl_kind k)
{
    size_t n = strlen(arg);
    switch (k) {
    case RPL_NOEXT:
        return put(t, arg, noext_len(arg, n));
    case RPL_BASE: {
        const char *b = base_of(arg);
        return put(t, b, strlen(b));
    }
    case RPL_BASE_NOEXT: {
        const char *b = base_of(arg);
        return put(t, b, noext_len(b, strlen(b)));
    }
    case RPL_DIR: {
        char *d = malloc(n + 3);
        if (!d)
            return -1;
        size_t dl = dir_of(arg, n, d);
        int r = put(t, d, dl);
        free(d);
        return r;
    }
    default:
        return put(t, arg, n);
    }
}

char *template_args(const template *t, size_t *len)
{
    size_t n = 0;
    for (int k = 0; k < t->nsrc; k++)
        n += strlen(t->argv[k]) + 1;
    char *s = malloc(n + 1), *p = s;
    if (!s)
        return NULL;
    for (int k = 0; k < t->nsrc; k++) {
        size_t l = strlen(t->argv[k]);
        if (k)
            *p++ = ' ';
        memcpy(p, t->argv[k], l);
        p += l;
    }
    *p = 0;
    *len = (size_t)(p - s);
    return s;
}

int template_next(template *t, const char **line, size_t *len, uint32_t *seq)
{
    if (t->next >= t->total)
        return 0;
    /* The job's argument in each group: the last group varies fastest. */
    size_t *pick = t->pick;
    const char **argv_ = t->argv;
    uint64_t rest = t->next;
    for (int g = t->ngroups; g-- > 0;) {
        pick[g] = (size_t)(rest % t->group_len[g]);
        rest /= t->group_len[g];
    }
    for (int g = 0; g < t->ngroups; g++)
        for (int k = t->group_first[g]; k < t->group_first[g + 1]; k++)
            argv_[k] = t->src[k].args[pick[g]];
    uint64_t job = ++t->next;
    t->len = 0;
    if (grow(&t->line, &t->len, &t->cap, 0) < 0)
        return -1;
    t->line[0] = 0;
    int bad = 0;
    if (!t->command) { /* no COMMAND: the arguments are the command, as they are */
        for (int k = 0; k < t->nsrc; k++)
            bad |= (k && append(&t->line, &t->len, &t->cap, " ", 1) < 0) ||
                   append(&t->line, &t->len, &t->cap, argv_[k], strlen(argv_[k])) < 0;
    } else {
        const char *p = t->command;
        while (*p) {
            size_t rl;
            int pos;
            enum rpl_kind k = rpl_at(p, t->nsrc, &rl, &pos);
            if (k == RPL_NONE) {
                const char *brace = strchr(p + 1, '{');
                size_t lit = brace ? (size_t)(brace - p) : strlen(p);
                bad |= append(&t->line, &t->len, &t->cap, p, lit) < 0;
                p += lit;
                continue;
            }
            p += rl;
            if (k == RPL_SEQ) {
                char num[24];
                int w = snprintf(num, sizeof num, "%llu", (unsigned long long)job);
                bad |= append(&t->line, &t->len, &t->cap, num, (size_t)w) < 0;
            } else if (pos > t->nsrc) {
                /* GNU parallel: a source that is not there is empty, unquoted */
            } else if (pos > 0) {
                bad |= put_value(t, argv_[pos - 1], k) < 0;
            } else {
                for (int s = 0; s < t->nsrc; s++)
                    bad |= (s && append(&t->line, &t->len, &t->cap, " ", 1) < 0) || put_value(t, argv_[s], k) < 0;
            }
        }
        if (!t->has_rpl)
            for (int s = 0; s < t->nsrc; s++)
                bad |= append(&t->line, &t->len, &t->cap, " ", 1) < 0 || put_value(t, argv_[s], RPL_ALL) < 0;
    }
    if (bad)
        return -1;
    *line = t->line;
    *len = t->len;
    *seq = (uint32_t)job;
    return 1;
}

/* ------------------------------------------------------------ dry run --- */

void template_dry_run_slaves(FILE *f, const status_snapshot *s)
{
    fprintf(f, "client: --dry-run: nothing was submitted; the master has %u slaves, %u up, %u slots on them:\n",
            (unsigned)s->master.slaves, (unsigned)s->master.slaves_up, (unsigned)s->master.slots);
    for (size_t i = 0; i < s->nslaves; i++)
        fprintf(f, "client:   %s %s, %u slots\n", s->slaves[i].name, slave_status_name(s->slaves[i].state),
                (unsigned)s->slaves[i].slots);
}

int template_dry_run_file(FILE *out, const char *path, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        snprintf(err, errlen, "cannot open the command file '%s': %s", path, strerror(errno));
        return -1;
    }
    line_reader lr;
    if (line_reader_init(&lr) < 0) {
        snprintf(err, errlen, "out of memory");
        if (f != stdin)
            fclose(f);
        return -1;
    }
    char buf[ARGFILE_CHUNK];
    uint32_t seq = 0;
    int eof = 0;
    while (!eof) {
        size_t n = fread(buf, 1, sizeof buf, f), pos = 0;
        eof = n == 0;
        if (eof && ferror(f)) {
            snprintf(err, errlen, "cannot read the command file '%s': %s", path, strerror(errno));
            break;
        }
        const char *line;
        size_t len;
        int truncated;
        while (line_reader_next(&lr, buf, n, &pos, eof, &line, &len, &truncated)) {
            enum cmd_line_kind kind = cmd_line_classify(line, len, truncated);
            if (kind == CMD_SKIP)
                continue;
            seq++;
            if (kind == CMD_COMMAND) {
                fwrite(line, 1, len, out);
                fputc('\n', out);
            } else {
                fprintf(stderr, "client: line %u: %s: would not be run\n", lr.lineno,
                        kind == CMD_TOO_LONG ? "command too long" : "NUL byte in the command");
            }
        }
    }
    int bad = ferror(f);
    line_reader_free(&lr);
    if (f != stdin)
        fclose(f);
    return bad ? -1 : 0;
}
