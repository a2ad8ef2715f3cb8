/*
 * runner.h - runs one shell command and collects what it prints.
 *
 * POSIX (runner_posix.c): /bin/sh -c LINE started with vfork+execve in a
 * process group of its own, stdin from /dev/null, stdout and stderr through
 * two pipes the slave's event loop reads without blocking.
 */
#ifndef RUNNER_H
#define RUNNER_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

typedef struct {
    pid_t pid;           /* also the process group id; 0 once reaped */
    int out_fd, err_fd;  /* -1 once closed */
    bwriter out, err;    /* captured output, limited to the cap */
    int out_truncated, err_truncated;
    int exited, wait_status, killed_by_timeout;
    uint64_t start_us, start_wall_ms, end_us;
    uint64_t deadline_us;      /* kill at this time (0: no timeout) */
    uint64_t drain_deadline_us; /* after exit: stop waiting for pipe EOF */
} runner_proc;

/* Starts the command. 0, or -1 with the reason in err. */
int runner_start(runner_proc *p, const char *command, uint32_t output_cap, uint32_t timeout_ms,
                 char *err, size_t errlen);
/* Reads what is available on fd (out_fd or err_fd); closes it at EOF. */
void runner_read(runner_proc *p, int fd);
/* Kills the whole process group (timeout, cancel, shutdown). */
void runner_kill(runner_proc *p);
/* Kills and reaps at once (shutdown: leave no zombie behind). */
void runner_kill_and_wait(runner_proc *p);
/* Timers: kills on timeout, gives up on pipes that stay open after exit. */
void runner_tick(runner_proc *p, uint64_t now_us);
uint64_t runner_next_deadline(const runner_proc *p);
static inline int runner_finished(const runner_proc *p)
{
    return p->exited && p->out_fd < 0 && p->err_fd < 0;
}
void runner_free(runner_proc *p);

/* Reaps every child that has exited, calling exited(ctx, pid, status)
 * for each; the group of the child is killed first, while its pid cannot
 * be reused, so that no process of a finished command stays behind. */
void runner_reap(void (*exited)(void *ctx, pid_t pid, int status), void *ctx);

/* Records the exit of p's child (found by pid in runner_reap's callback). */
void runner_on_exit(runner_proc *p, int status, uint64_t now_us);

/* Fills r's status, exit code, signal, times and output (borrowed from p:
 * valid until runner_free) once runner_finished(p). */
struct CommandResult;
void runner_result(const runner_proc *p, struct CommandResult *r);

#endif
