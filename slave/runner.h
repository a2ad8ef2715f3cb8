/*
 * runner.h - runs one shell command and collects what it prints.
 *
 * POSIX (runner_posix.c): /bin/sh -c LINE (--allow: place->argv, no
 * shell) started with vfork+execve in a
 * session (and process group) of its own, stdin from /dev/null, stdout and
 * stderr through two pipes the slave's event loop reads without blocking.
 * A keeper process kills the groups (and the commands' cgroup, if any) of
 * a slave that died; a command whose shell stops is killed.
 *
 * Windows (runner_win32.c): cmd.exe /d /s /c "LINE" (--allow: the words
 * as a command line, no cmd.exe) in a job object of its
 * own (killing the job kills the whole process tree), stdin from NUL,
 * stdout and stderr through two anonymous pipes, each read by a thread into
 * the runner's buffers; a thread-pool wait notices the exit. Nothing to
 * poll: the threads wake the event loop with SIGNAL_CHILD.
 *
 * The event loop, the same on both: poll what runner_poll_fds() gives and
 * call runner_on_ready() for what is ready; on SIGNAL_CHILD (platform.h)
 * call runner_reap(); call runner_tick() on every pass.
 */
#ifndef RUNNER_H
#define RUNNER_H

#include <stdint.h>

#include "buf.h"
#include "common.h"
#include "platform.h"

#define RUNNER_MAX_POLL 2 /* entries runner_poll_fds() fills at most */

/* A zeroed runner_proc is idle: runner_free() does nothing to it. */
typedef struct {
    long pid;                /* the command's process (POSIX: also its process group); 0 once reaped */
#ifdef _WIN32
    struct runner_win32 *w;  /* job, process, reader threads (runner_win32.c) */
#else
    int out_fd, err_fd;      /* the pipes, while out_open / err_open */
    unsigned cgroup;         /* its own cgroup, cmd.N in the commands' cgroup (0: none) */
#endif
    int out_open, err_open;  /* stdout / stderr still being read */
    bwriter out, err;        /* captured output, limited to the cap */
    int out_truncated, err_truncated;
    int exited, killed_by_timeout;
    int term_step;           /* POSIX: signals of the timeout's sequence sent so far (runner_posix.c) */
    int stopped_by;          /* POSIX: the signal that stopped it (then killed by us), else 0 */
    int wait_status;         /* POSIX: the wait status; Windows: the exit code */
    uint64_t start_us, start_wall_ms, end_us;
    uint64_t deadline_us;      /* the timeout, then the next signal of its sequence (0: none) */
    uint64_t drain_deadline_us; /* after exit: stop waiting for the end of the output */
} runner_proc;

/* What bounds every command (serveur_esclave --max-procs, --max-cpu,
 * --max-memory, --max-files; 0: no limit), set before runner_init. POSIX:
 * setrlimit in the command's child before exec (never above the slave's
 * own hard limits), and pids.max on the commands' cgroup; Windows: the
 * command's job object (no open-files limit there). */
typedef struct {
    unsigned slots;      /* commands at once: the commands' shared limits are this many times procs */
    uint32_t procs;      /* processes per command (RLIMIT_NPROC: of the user, all commands together) */
    uint32_t cpu_s;      /* CPU seconds per process (RLIMIT_CPU) */
    uint64_t memory;     /* bytes of address space per process (RLIMIT_AS) */
    uint32_t files;      /* open files per process (RLIMIT_NOFILE) */
} runner_limits;
#define RUNNER_DEFAULT_PROCS 256
#define RUNNER_DEFAULT_FILES 1024
void runner_set_limits(const runner_limits *l);

/* Once, at the start of the slave, before it opens any socket; boot is
 * the slave's boot id, which each command's SMP_JOB marker names with the
 * command's number (SMP_JOB=<boot, 16 hex digits>.<N>). POSIX: the keeper
 * (a child that kills what commands left running when the slave dies,
 * however: their groups, their cgroup, what carries this life's marker)
 * and, where it may, a cgroup for the commands; without one, on Linux,
 * the slave becomes its commands' subreaper (runner_sweep_tick). */
void runner_init(uint64_t boot);
/* At the end: the keeper kills what is left (cgroup) and is reaped. */
void runner_shutdown(void);

/* Where a command runs when not in the slave's directory with the slave's
 * environment (client --wd, --env): for that command only. */
typedef struct {
    const char *wd;                /* NULL: the slave's directory */
    unsigned nenv;
    const char *env[MAX_ENV_VARS]; /* NAME=VALUE, set or replacing the slave's NAME */
    char *const *argv;             /* --allow: these words, run without a shell (NULL: the line, by the shell) */
} runner_place;

/* Starts the command, in place (NULL: the slave's own). 0, or -1 with the
 * reason in err. A wd that cannot be entered makes the command fail as
 * `cd DIR` would: POSIX, exit status 255 with a line on its stderr (the
 * child says it); Windows, RUNNER_NO_DIR with that line in err (jobs.c
 * makes the same result of it). */
#define RUNNER_NO_DIR (-2)
#define RUNNER_NO_DIR_EXIT 255 /* GNU parallel's, for a --wd it cannot enter */
/* place->argv's first word names no program: err is the line a shell
 * would print ("NAME: command not found"); jobs.c makes it exit 127. */
#define RUNNER_NOT_FOUND (-3)
#define RUNNER_NOT_FOUND_EXIT 127
/* Windows, place->argv: words that cannot run without cmd.exe (a batch
 * file, a '"' in the program's name, not UTF-8, too long): err says which;
 * jobs.c makes it exit 126 with err on stderr, as a refusal by --allow. */
#define RUNNER_REFUSED (-4)
int runner_start(runner_proc *p, const char *command, const runner_place *place, uint32_t output_cap,
                 uint32_t timeout_ms, char *err, size_t errlen);
/* Fills up to max entries (at most RUNNER_MAX_POLL) to poll for p; returns how many. */
int runner_poll_fds(const runner_proc *p, net_pollfd *out, int max);
/* One of them is ready: reads what is available, and notices the end. */
void runner_on_ready(runner_proc *p, sock_t fd);
/* Kills the whole process group or job (timeout, cancel, shutdown). */
void runner_kill(runner_proc *p);
/* Kills and reaps at once (shutdown: leave no zombie behind). */
void runner_kill_and_wait(runner_proc *p);
/* Timers: ends a command on timeout (POSIX: TERM, TERM, TERM, then KILL,
 * as GNU parallel's default --termseq; Windows: the job at once), gives up
 * on output that stays open after exit. */
void runner_tick(runner_proc *p, uint64_t now_us);
uint64_t runner_next_deadline(const runner_proc *p);
static inline int runner_finished(const runner_proc *p)
{
    return p->exited && !p->out_open && !p->err_open;
}
void runner_free(runner_proc *p);

/* Reaps every command that has exited, calling exited(ctx, pid, status)
 * for each; its process group (job) is killed first, while its pid cannot
 * be reused, so that no process of a finished command stays behind. */
void runner_reap(void (*exited)(void *ctx, long pid, int status), void *ctx);

/* Timer of the whole runner, each turn after runner_reap: POSIX without a
 * cgroup, kills what ended commands left behind that has come to the
 * slave (their leftovers, reparented to it); returns when to look again
 * (0: not before the next reap). Windows: nothing (job objects). */
uint64_t runner_sweep_tick(uint64_t now_us);

/* Records the exit of p's command (found by pid in runner_reap's callback).
 * POSIX: the status may say it stopped; then it is killed (runner_on_stop)
 * and its exit comes later. */
void runner_on_exit(runner_proc *p, int status, uint64_t now_us);
/* The platform's part: 1 if status is a stop, not an exit (POSIX). */
int runner_on_stop(runner_proc *p, int status);
/* The platform's part once it exited: POSIX kills what is left in the
 * command's own cgroup (what left its process group with setsid). */
void runner_after_exit(runner_proc *p);

/* --line-buffer: the output captured so far of stream k (0 stdout, 1
 * stderr), within the cap: copies at most max bytes from offset from into
 * dst and returns how many (0: nothing past from yet). POSIX reads p's
 * buffers; Windows the reader threads' (under their lock). */
size_t runner_output_read(runner_proc *p, int k, uint32_t from, uint8_t *dst, size_t max);
/* Whether new output wakes the event loop (POSIX: the pipes are polled);
 * where it does not (Windows: the threads post nothing for output), a
 * streaming job is looked at every STREAM_GAP_US. */
#ifdef _WIN32
#define RUNNER_OUTPUT_WAKES 0
#else
#define RUNNER_OUTPUT_WAKES 1
#endif

/* Fills r's status, exit code, signal, times and output (borrowed from p:
 * valid until runner_free) once runner_finished(p). */
struct CommandResult;
void runner_result(const runner_proc *p, struct CommandResult *r);
/* Times and output, for the platform's runner_result (runner.c). */
void runner_result_common(const runner_proc *p, struct CommandResult *r);

#endif
