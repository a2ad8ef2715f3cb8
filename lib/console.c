/* console.c - the daemons' console view (console.h). */
#include "console.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "platform.h"
#include "proto.h"

int console_on;

/* One write per line or block, never waiting: what a frozen terminal or
 * an unread pipe has no room for is dropped (counted, and said once the
 * console reads again), the daemon serves on. */
static void console_write(const char *s, size_t n)
{
    static unsigned long long dropped;
    write_dropping(1, &dropped, "console", s, n);
}

void console_printf(const char *fmt, ...)
{
    if (!console_on)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line - 2 ? (size_t)n : sizeof line - 2;
    line[len++] = '\n';
    console_write(line, len);
}

/* The length of the valid UTF-8 sequence at p (2 to 4 bytes, its code
 * point in *cp), or 0 if there is none (a stray continuation byte, a bad
 * lead, an overlong or surrogate form, a sequence cut by n). */
static size_t utf8_sequence(const unsigned char *p, size_t n, unsigned *cp)
{
    unsigned c = p[0];
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || len > n)
        return 0;
    unsigned v = c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[k] & 0x3f);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) || (len == 4 && (v < 0x10000 || v > 0x10ffff)))
        return 0;
    *cp = v;
    return len;
}

/* Control bytes as \xNN (a newline, an escape sequence would fake lines
 * or move the cursor), C1 controls too (U+0080 to U+009F: a CSI, U+009B,
 * is ESC [ to a terminal) and bytes that are not UTF-8; the rest as it is
 * (UTF-8 stays readable, a character is never cut); at most max_shown
 * bytes of p are looked at. */
size_t console_escape(char *out, size_t cap, const char *p, size_t n, size_t max_shown)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)p;
    size_t o = 0, shown = n < max_shown ? n : max_shown, i = 0;
    if (!cap)
        return 0;
    while (i < shown) {
        unsigned c = u[i], cp = 0;
        size_t len = c >= 0x80 ? utf8_sequence(u + i, shown - i, &cp) : 1;
        if (c >= 0x80 && len && cp >= 0xa0) { /* a character, whole */
            if (o + len >= cap)
                break;
            memcpy(out + o, u + i, len);
            o += len, i += len;
            continue;
        }
        if (c >= 0x80 && !len && i + 4 > shown && shown < n && utf8_sequence(u + i, n - i, &cp))
            break; /* a character the cut would split: left for the "..." */
        if (!len) /* not UTF-8: the byte alone */
            len = 1;
        if (c == '\t') {
            if (o + 1 >= cap)
                break;
            out[o++] = ' ';
        } else if (c >= 0x20 && c < 0x7f) {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        } else { /* a C0 or C1 control, DEL, or a byte that is not UTF-8: each byte as \xNN */
            if (o + 4 * len >= cap)
                break;
            for (size_t k = 0; k < len; k++) {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[u[i + k] >> 4];
                out[o++] = hex[u[i + k] & 15];
            }
        }
        i += len;
    }
    if (n > max_shown && o + 3 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
    return o;
}

static size_t put(char *out, size_t cap, size_t o, const char *fmt, ...)
#ifdef __MINGW_PRINTF_FORMAT
    __attribute__((format(__MINGW_PRINTF_FORMAT, 4, 5)));
#else
    __attribute__((format(printf, 4, 5)));
#endif
static size_t put(char *out, size_t cap, size_t o, const char *fmt, ...)
{
    if (o >= cap)
        return o;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + o, cap - o, fmt, ap);
    va_end(ap);
    if (n < 0)
        return o;
    return o + (size_t)n < cap ? o + (size_t)n : cap - 1;
}

static size_t put_duration(char *out, size_t cap, size_t o, uint64_t us)
{
    if (us < 10000000u)
        return put(out, cap, o, " (%llu ms)", (unsigned long long)((us + 500) / 1000));
    return put(out, cap, o, " (%.1f s)", us / 1e6);
}

size_t console_outcome(char *out, size_t cap, const CommandResult *r)
{
    size_t o = 0;
    switch (r->status) {
    case RUN_EXITED: o = put(out, cap, o, "code retour = %d", (int)r->exit_code); break;
    case RUN_SIGNALED: o = put(out, cap, o, "killed by signal %u", r->term_signal); break;
    case RUN_TIMED_OUT: o = put(out, cap, o, "timed out: killed by signal %u", r->term_signal); break;
    case RUN_NOT_STARTED: o = put(out, cap, o, "not started"); break;
    case RUN_CANCELLED: o = put(out, cap, o, "cancelled"); break;
    default: o = put(out, cap, o, "status %u", r->status); break;
    }
    if (r->status == RUN_EXITED || r->status == RUN_SIGNALED || r->status == RUN_TIMED_OUT)
        o = put_duration(out, cap, o, r->duration_us);
    if (r->message_len) {
        char msg[CONSOLE_LINE_MAX * 4 + 8];
        console_escape(msg, sizeof msg, r->message, r->message_len, CONSOLE_LINE_MAX);
        o = put(out, cap, o, ": %s", msg);
    }
    return o;
}

/* The first CONSOLE_LINES lines of one stream, each cut, then how many
 * more: only the lines after those are counted (memchr), nothing copied. */
static size_t put_stream(char *out, size_t cap, size_t o, const char *tag, const char *mark, const char *p,
                         size_t n, int truncated)
{
    size_t at = 0;
    unsigned shown = 0;
    while (at < n && shown < CONSOLE_LINES) {
        const char *nl = memchr(p + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (p + at)) : n - at;
        size_t shown_len = len && p[at + len - 1] == '\r' ? len - 1 : len; /* CRLF (cmd.exe): the line */
        char line[CONSOLE_LINE_MAX * 4 + 8];
        console_escape(line, sizeof line, p + at, shown_len, CONSOLE_LINE_MAX);
        o = put(out, cap, o, "%s %s %s\n", tag, mark, line);
        at += len + (nl ? 1 : 0);
        shown++;
    }
    if (at < n) {
        unsigned long long more = 0;
        for (const char *q = p + at, *end = p + n; q < end; more++) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            q = nl ? nl + 1 : end;
        }
        o = put(out, cap, o, "%s %s ... %llu more line%s%s\n", tag, mark, more, more == 1 ? "" : "s",
                truncated ? " (and more cut by --max-output)" : "");
    } else if (truncated) {
        o = put(out, cap, o, "%s %s ... (more cut by --max-output)\n", tag, mark);
    }
    return o;
}

size_t console_result_text(char *out, size_t cap, const char *tag, const CommandResult *r)
{
    size_t o = 0;
    out[0] = 0;
    o = put_stream(out, cap, o, tag, "|", r->stdout_data, r->stdout_len, r->stdout_truncated);
    o = put_stream(out, cap, o, tag, "!", r->stderr_data, r->stderr_len, r->stderr_truncated);
    o = put(out, cap, o, "%s ", tag);
    o += console_outcome(out + o, cap - o, r);
    return put(out, cap, o, "\n");
}

void console_started(const char *tag, const char *cmd, size_t len, const char *name, size_t name_len)
{
    if (!console_on)
        return;
    char shown[CONSOLE_LINE_MAX * 4 + 8], who[ORIGIN_NAME_MAX * 4 + 8];
    console_escape(shown, sizeof shown, cmd, len, CONSOLE_LINE_MAX);
    if (name_len) {
        console_escape(who, sizeof who, name, name_len, ORIGIN_NAME_MAX);
        console_printf("%s %s   (client %s)", tag, shown, who);
    } else {
        console_printf("%s %s", tag, shown);
    }
}

void console_result(const char *tag, const CommandResult *r)
{
    if (!console_on)
        return;
    char block[CONSOLE_BLOCK_MAX];
    size_t n = console_result_text(block, sizeof block, tag, r);
    if (n && block[n - 1] != '\n') /* cut at the block's end: still whole lines */
        block[n - 1] = '\n';
    console_write(block, n);
}
