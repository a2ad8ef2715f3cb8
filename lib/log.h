/*
 * log.h - one line per event on stderr, prefixed with the program's role
 * (Dropbear's habit) so five terminals side by side stay readable.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <stdint.h>

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_level;
extern int die_exit_status; /* what die() exits with: 255 by default */
extern int log_plain; /* 1: "role: message" ("role: warning: ..."), no time or level: the client's style */
extern int log_nowait; /* 1 (the daemons): a log line with no room on stderr is dropped, never waited for */
void log_init(const char *role, int level);
/* One write of s to stream 1 (stdout) or 2 (stderr) that never waits
 * (plat_write_nowait): 1 written; 0 dropped and counted in *dropped, said
 * ("(what: N lines or blocks dropped ...)") before the next that fits. */
int write_dropping(int stream, unsigned long long *dropped, const char *what, const char *s, size_t n);
/* MinGW checks "printf" formats against msvcrt's printf, which lacks %zu;
 * the Windows build uses MinGW's own C99 printf (__USE_MINGW_ANSI_STDIO). */
#ifdef __MINGW_PRINTF_FORMAT
#define LOG_PRINTF(f, a) __attribute__((format(__MINGW_PRINTF_FORMAT, f, a)))
#else
#define LOG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif
void log_msg(int level, const char *fmt, ...) LOG_PRINTF(2, 3);
_Noreturn void die(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Check the level before formatting anything (Redis's serverLog). */
#define LOG(level, ...) \
    do { \
        if ((level) <= log_level) \
            log_msg((level), __VA_ARGS__); \
        else \
            log_limited = NULL; \
    } while (0)

/* Rejected input (garbage datagrams, bad frames) is logged at most a few
 * times per second so that a flood cannot fill the disk. */
typedef struct {
    uint64_t window_start_ms;
    unsigned count, suppressed;
    char last[200]; /* the last message it let through, to say what was suppressed */
} log_limiter;
/* 1: log it (the next message logged is remembered as the limiter's
 * last); 0: suppressed. A window's suppressed messages are counted and
 * reported at the next call after it, with the last message shown. */
int log_allow(log_limiter *l);
extern log_limiter *log_limited; /* the limiter whose message comes next */

#endif
