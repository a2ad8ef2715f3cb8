/*
 * console.h - the daemons' console view on stdout (logs stay on stderr):
 * the slave's "[N] command", its output cut to a few lines and
 * "[N] code retour = C (D ms)"; the master's "[N] ... -> slave H:P" and
 * "[N] <- slave H:P: code retour = C". N is the client's own [N]
 * (JOBX_ORIGIN). On unless -q. README.md "In the classroom".
 */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct CommandResult;

extern int console_on; /* 0: nothing is printed (-q; the fuzz and unit builds) */

#define CONSOLE_LINES 5       /* lines of each stream shown */
#define CONSOLE_LINE_MAX 200  /* bytes of a line shown, of a command too */
#define CONSOLE_BLOCK_MAX 8192 /* what console_result writes at most, in one write */

/* Each is one write (lines of parallel commands never mix). tag: "[4]". */
void console_printf(const char *fmt, ...)
#ifdef __MINGW_PRINTF_FORMAT
    __attribute__((format(__MINGW_PRINTF_FORMAT, 1, 2)));
#else
    __attribute__((format(printf, 1, 2)));
#endif
/* "TAG command  (client NAME)", the command cut and escaped. */
void console_started(const char *tag, const char *cmd, size_t len, const char *name, size_t name_len);
/* The output (both streams, cut), then the outcome line. */
void console_result(const char *tag, const struct CommandResult *r);

/* Pure (tests/unit_console.c): into out (at most cap, NUL-terminated), the
 * bytes written. */
size_t console_escape(char *out, size_t cap, const char *p, size_t n, size_t max_shown);
/* "code retour = 3 (12 ms)", "killed by signal 9 (5 ms)", "timed out ...". */
size_t console_outcome(char *out, size_t cap, const struct CommandResult *r);
size_t console_result_text(char *out, size_t cap, const char *tag, const struct CommandResult *r);

#endif
