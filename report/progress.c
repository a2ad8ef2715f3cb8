/* progress.c - client --progress, --eta, --bar (see progress.h). */
#define _DEFAULT_SOURCE /* fileno, TIOCGWINSZ */
#include "progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <io.h>
#else
#include <sys/ioctl.h>
#include <unistd.h>
#endif

#define BAR_WIDTH 20

void progress_init(progress *p, int what, FILE *out, int tty, uint64_t now_ms)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->out = out;
    p->tty = tty;
    p->width = 80;
    p->start_ms = now_ms;
    p->dirty = 1;
}

int progress_is_tty(FILE *f, int *width)
{
#ifdef _WIN32
    *width = 80; /* the console's default; a longer line is cut there */
    return _isatty(_fileno(f)) != 0;
#else
    struct winsize ws;
    *width = ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20 ? ws.ws_col : 80;
    return isatty(fileno(f)) != 0;
#endif
}

void progress_free(progress *p)
{
    for (unsigned i = 0; i < p->nhosts; i++)
        free(p->hosts[i].name);
    free(p->hosts);
    free(p->where);
    p->hosts = NULL;
    p->where = NULL;
    p->nhosts = p->cap_hosts = p->cap_where = 0;
}

/* The index of host (added if new), or -1 out of memory. */
static int host_index(progress *p, const char *host, size_t len)
{
    for (unsigned i = 0; i < p->nhosts; i++)
        if (strlen(p->hosts[i].name) == len && memcmp(p->hosts[i].name, host, len) == 0)
            return (int)i;
    if (p->nhosts == p->cap_hosts) {
        unsigned cap = p->cap_hosts ? p->cap_hosts * 2 : 8;
        progress_host *h = realloc(p->hosts, cap * sizeof *h);
        if (!h)
            return -1;
        p->hosts = h;
        p->cap_hosts = cap;
    }
    char *name = malloc(len + 1);
    if (!name)
        return -1;
    memcpy(name, host, len);
    name[len] = 0;
    p->hosts[p->nhosts] = (progress_host){.name = name};
    return (int)p->nhosts++;
}

/* seq's slot in where (grown as needed), or NULL. */
static uint32_t *where_of(progress *p, uint32_t seq)
{
    if (seq == 0)
        return NULL;
    if (seq > p->cap_where) {
        uint64_t cap = p->cap_where ? p->cap_where : 1024;
        while (cap < seq)
            cap *= 2;
        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        uint32_t *w = realloc(p->where, (size_t)cap * sizeof *w);
        if (!w)
            return NULL;
        memset(w + p->cap_where, 0, (size_t)(cap - p->cap_where) * sizeof *w);
        p->where = w;
        p->cap_where = (uint32_t)cap;
    }
    return &p->where[seq - 1];
}

static void stop_running(progress *p, uint32_t *w)
{
    if (w && *w) {
        if (p->hosts[*w - 1].running)
            p->hosts[*w - 1].running--;
        *w = 0;
    }
}

void progress_started(progress *p, uint32_t seq, const char *host, size_t host_len)
{
    if (!p->what)
        return;
    uint32_t *w = where_of(p, seq);
    int h = host_index(p, host, host_len);
    if (!w || h < 0)
        return;
    stop_running(p, w); /* an earlier attempt's slave failed: this one runs it now */
    p->hosts[h].running++;
    *w = (uint32_t)h + 1;
    p->dirty = 1;
}

void progress_done(progress *p, uint32_t seq, const char *host, int failed, uint64_t run_us)
{
    if (!p->what)
        return;
    p->done++;
    p->failed += failed != 0;
    stop_running(p, seq <= p->cap_where ? where_of(p, seq) : NULL);
    if (host[0]) {
        int h = host_index(p, host, strlen(host));
        if (h >= 0) {
            p->hosts[h].done++;
            p->hosts[h].failed += failed != 0;
            p->hosts[h].run_us += run_us;
        }
    }
    if (p->done > p->total)
        p->total = p->done;
    p->dirty = 1;
}

void progress_reset_running(progress *p)
{
    for (unsigned i = 0; i < p->nhosts; i++)
        p->hosts[i].running = 0;
    if (p->where)
        memset(p->where, 0, (size_t)p->cap_where * sizeof *p->where);
    p->dirty = 1;
}

void progress_set_total(progress *p, unsigned total, int final)
{
    if (total < p->done)
        total = p->done;
    if (total != p->total || final != p->total_final)
        p->dirty = 1;
    p->total = total;
    p->total_final = final;
}

int progress_eta(const progress *p, uint64_t now_ms, double *eta_s, double *avg_s)
{
    unsigned here = p->done > p->base ? p->done - p->base : 0;
    double elapsed = now_ms > p->start_ms ? (double)(now_ms - p->start_ms) / 1000.0 : 0.0;
    if (here == 0)
        return 0;
    *avg_s = elapsed / here;
    *eta_s = *avg_s * (p->total - p->done);
    return 1;
}

/* Appends to buf (at most n with the NUL); *len follows, never past n - 1. */
static void put(char *buf, size_t n, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (w > 0)
        *len = *len + (size_t)w < n ? *len + (size_t)w : n - 1;
}

size_t progress_format(const progress *p, uint64_t now_ms, char *buf, size_t n)
{
    size_t len = 0;
    double eta = 0, avg = 0;
    int known = progress_eta(p, now_ms, &eta, &avg);
    unsigned left = p->total - p->done;
    char eta_text[32];
    if (known)
        snprintf(eta_text, sizeof eta_text, "%.0fs", eta);
    else
        snprintf(eta_text, sizeof eta_text, "?");
    buf[0] = 0;
    if (p->what & PROGRESS_BAR) {
        unsigned pct = p->total ? (unsigned)((uint64_t)p->done * 100 / p->total) : 0;
        unsigned fill = p->total ? (unsigned)((uint64_t)p->done * BAR_WIDTH / p->total) : 0;
        char bar[BAR_WIDTH + 1];
        for (unsigned i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : ' ';
        bar[BAR_WIDTH] = 0;
        put(buf, n, &len, "%3u%% %u/%u%s ETA: %s [%s]", pct, p->done, p->total, p->total_final ? "" : "+", eta_text,
            bar);
    }
    if (p->what & PROGRESS_ETA) {
        put(buf, n, &len, "%sETA: %s Left: %u AVG: ", len ? "  " : "", eta_text, left);
        if (known)
            put(buf, n, &len, "%.2fs", avg);
        else
            put(buf, n, &len, "?");
    }
    if (p->what & PROGRESS_PROGRESS) {
        unsigned running = 0;
        for (unsigned i = 0; i < p->nhosts; i++)
            running += p->hosts[i].running;
        put(buf, n, &len, "%s", len ? "  " : "");
        if (p->know_running)
            put(buf, n, &len, "Running: %u", running);
        else
            put(buf, n, &len, "Running: ?");
        put(buf, n, &len, " Done: %u Failed: %u Left: %u%s", p->done, p->failed, left, p->total_final ? "" : "+");
    }
    if (p->what & (PROGRESS_PROGRESS | PROGRESS_ETA)) {
        put(buf, n, &len, "%s", p->nhosts ? " |" : "");
        for (unsigned i = 0; i < p->nhosts; i++) {
            const progress_host *h = &p->hosts[i];
            put(buf, n, &len, " %s:", h->name);
            if (p->know_running)
                put(buf, n, &len, "%u", h->running);
            else
                put(buf, n, &len, "?");
            put(buf, n, &len, "/%u/%u/%.2fs", h->done, h->failed, h->done ? (double)h->run_us / 1e6 / h->done : 0.0);
        }
    }
    return len;
}

/* A terminal: the line over the previous one, padded over what it leaves. */
static void draw(progress *p, uint64_t now_ms)
{
    char line[PROGRESS_LINE_MAX];
    size_t len = progress_format(p, now_ms, line, sizeof line);
    if (p->tty) {
        if (p->width > 1 && len > (size_t)p->width - 1)
            len = (size_t)p->width - 1; /* a line that wraps cannot be redrawn with \r */
        fputc('\r', p->out);
        fwrite(line, 1, len, p->out);
        for (size_t i = len; i < p->shown; i++)
            fputc(' ', p->out);
        if (p->shown > len) /* back to the line's end */
            for (size_t i = len; i < p->shown; i++)
                fputc('\b', p->out);
        p->shown = len;
    } else {
        fwrite(line, 1, len, p->out);
        fputc('\n', p->out);
    }
    fflush(p->out);
    p->last_draw_ms = now_ms;
    p->drawn = 1;
    p->dirty = 0;
}

uint64_t progress_tick(progress *p, uint64_t now_ms)
{
    if (!p->what)
        return 0;
    uint64_t gap = p->tty ? PROGRESS_TTY_MS : PROGRESS_PIPE_MS;
    /* A terminal's ETA counts down even when nothing happens. */
    if (p->tty && (p->what & (PROGRESS_ETA | PROGRESS_BAR)) && now_ms - p->last_draw_ms >= PROGRESS_PIPE_MS)
        p->dirty = 1;
    if (!p->dirty)
        return p->tty && (p->what & (PROGRESS_ETA | PROGRESS_BAR)) ? p->last_draw_ms + PROGRESS_PIPE_MS : 0;
    if (!p->drawn || now_ms - p->last_draw_ms >= gap) {
        draw(p, now_ms);
        return p->tty && (p->what & (PROGRESS_ETA | PROGRESS_BAR)) ? now_ms + PROGRESS_PIPE_MS : 0;
    }
    return p->last_draw_ms + gap;
}

void progress_clear(progress *p)
{
    if (!p->what || !p->tty || !p->shown)
        return;
    fputc('\r', p->out);
    for (size_t i = 0; i < p->shown; i++)
        fputc(' ', p->out);
    fputc('\r', p->out);
    fflush(p->out);
    p->shown = 0;
    p->dirty = 1;
}

void progress_end(progress *p, uint64_t now_ms)
{
    if (!p->what)
        return;
    draw(p, now_ms);
    if (p->tty)
        fputc('\n', p->out);
    fflush(p->out);
    p->shown = 0;
    p->what = 0; /* once */
}
