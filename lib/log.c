/* log.c - role-prefixed logging on stderr (see log.h). */
#define _POSIX_C_SOURCE 200809L
#include "log.h"
#include "platform.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int log_level = LOG_INFO;
int die_exit_status = 255;
int log_plain;
int log_nowait;
static const char *log_role = "";
log_limiter *log_limited;

void log_init(const char *role, int level)
{
    log_role = role;
    log_level = level;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
#ifdef _WIN32
    localtime_s(&tm, &t);
#else
    localtime_r(&t, &tm);
#endif
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    char line[1024];
    int n = log_plain ? snprintf(line, sizeof line, level == LOG_WARN ? "%s: warning: " : "%s: ", log_role)
                      : snprintf(line, sizeof line, "%s %s: %s: ", stamp, log_role, names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (log_limited) { /* this message is the one log_allow let through */
        size_t k = strlen(line + n);
        if (k >= sizeof log_limited->last)
            k = sizeof log_limited->last - 1;
        memcpy(log_limited->last, line + n, k);
        log_limited->last[k] = 0;
        log_limited = NULL;
    }
    if (log_nowait) {
        static unsigned long long dropped;
        size_t len = strlen(line);
        if (len < sizeof line - 1)
            line[len++] = '\n';
        else
            line[len - 1] = '\n';
        write_dropping(2, &dropped, "log", line, len);
        return;
    }
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

int write_dropping(int stream, unsigned long long *dropped, const char *what, const char *s, size_t n)
{
    if (*dropped) {
        char note[128];
        int k = snprintf(note, sizeof note, "(%s: %llu lines or blocks dropped: nobody read the %s)\n", what,
                         *dropped, stream == 2 ? "log" : "console");
        if (!plat_write_nowait(stream, note, (size_t)k)) {
            ++*dropped;
            return 0;
        }
        *dropped = 0;
    }
    if (!plat_write_nowait(stream, s, n)) {
        ++*dropped;
        return 0;
    }
    return 1;
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(die_exit_status);
}

int log_allow(log_limiter *l)
{
    uint64_t now = clock_ms();
    log_limited = NULL;
    if (now - l->window_start_ms >= 1000) {
        if (l->suppressed)
            log_msg(LOG_WARN, "%u more messages like this one were suppressed: %s", l->suppressed,
                    l->last[0] ? l->last : "(none shown)");
        l->window_start_ms = now;
        l->count = 0;
        l->suppressed = 0;
    }
    if (l->count < 5) {
        l->count++;
        log_limited = l;
        return 1;
    }
    l->suppressed++;
    return 0;
}
