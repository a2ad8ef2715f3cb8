/* runner_posix.c - running shell commands on POSIX systems (runner.h). */
#ifndef _WIN32
#define _GNU_SOURCE
#include "runner.h"
#include "platform.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

/* How long a finished command's pipes may stay open (a grandchild that
 * escaped its process group) before we stop reading them. */

int runner_start(runner_proc *p, const char *command, uint32_t output_cap, uint32_t timeout_ms,
                 char *err, size_t errlen)
{
    int out[2], errp[2];
    memset(p, 0, sizeof *p);
    p->out_fd = p->err_fd = -1;
    bw_init(&p->out, output_cap);
    bw_init(&p->err, output_cap);
    if (pipe2(out, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return -1;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char *const argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t parent = getpid();
    sigset_t all, old;
    sigfillset(&all);
    /* No signal handler may run in the child before execve: it would share
     * our memory (vfork). The child restores the defaults it needs. */
    sigprocmask(SIG_SETMASK, &all, &old);
    /* The run time includes starting the shell (vfork returns only once
     * the child has exec'd). */
    p->start_us = clock_us();
    p->start_wall_ms = wall_ms();
    pid_t pid = vfork();
    if (pid == 0) {
        /* A session of its own, hence a process group of its own (whose id
         * is the pid) with no terminal: an orphaned group, in which the
         * kernel discards SIGTSTP, SIGTTIN and SIGTTOU, so that nothing of
         * the command stops waiting for a terminal it does not have. */
        setsid();
#ifdef __linux__
        /* If the slave dies (kill -9), its commands die with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
#endif
        signal(SIGPIPE, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (devnull >= 0)
        close(devnull);
    close(out[1]);
    close(errp[1]);
    if (pid < 0) {
        snprintf(err, errlen, "vfork: %s", strerror(saved));
        close(out[0]);
        close(errp[0]);
        return -1;
    }
    /* No setpgid(pid, pid) here: vfork returned, so the child has already
     * made its session (and a session leader's group cannot be changed). */
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = errp[0];
    p->out_open = p->err_open = 1;
    if (timeout_ms)
        p->deadline_us = p->start_us + (uint64_t)timeout_ms * 1000u;
    return 0;
}

static void runner_read(runner_proc *p, int fd)
{
    int is_out = fd == p->out_fd;
    bwriter *w = is_out ? &p->out : &p->err;
    int *trunc = is_out ? &p->out_truncated : &p->err_truncated;
    uint8_t buf[65536];
    for (int i = 0; i < 16; i++) { /* bounded: other fds get their turn */
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            size_t room = w->limit - w->len;
            size_t keep = (size_t)n < room ? (size_t)n : room;
            bw_bytes(w, buf, keep);
            if (keep < (size_t)n)
                *trunc = 1; /* keep draining so the command is not blocked */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        close(fd); /* EOF or error */
        if (is_out)
            p->out_fd = -1, p->out_open = 0;
        else
            p->err_fd = -1, p->err_open = 0;
        return;
    }
}

int runner_poll_fds(const runner_proc *p, net_pollfd *out, int max)
{
    int n = 0;
    if (p->out_open && n < max)
        out[n++] = (net_pollfd){p->out_fd, NET_IN, 0};
    if (p->err_open && n < max)
        out[n++] = (net_pollfd){p->err_fd, NET_IN, 0};
    return n;
}

void runner_on_ready(runner_proc *p, sock_t fd)
{
    if ((p->out_open && fd == p->out_fd) || (p->err_open && fd == p->err_fd))
        runner_read(p, fd);
}

void runner_kill(runner_proc *p)
{
    if (p->pid > 0)
        kill(-(pid_t)p->pid, SIGKILL);
}

void runner_kill_and_wait(runner_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(-(pid_t)p->pid, SIGKILL);
    while (waitpid((pid_t)p->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    p->pid = 0;
}

void runner_tick(runner_proc *p, uint64_t now_us)
{
    if (!p->exited && p->deadline_us && now_us >= p->deadline_us && !p->killed_by_timeout) {
        p->killed_by_timeout = 1;
        runner_kill(p);
    }
    if (p->exited && p->drain_deadline_us && now_us >= p->drain_deadline_us) {
        if (p->out_open)
            close(p->out_fd);
        if (p->err_open)
            close(p->err_fd);
        p->out_fd = p->err_fd = -1;
        p->out_open = p->err_open = 0;
    }
}

void runner_free(runner_proc *p)
{
    if (p->out_open)
        close(p->out_fd);
    if (p->err_open)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    p->out_open = p->err_open = 0;
    bw_free(&p->out);
    bw_free(&p->err);
}

void runner_reap(void (*exited)(void *ctx, long pid, int status), void *ctx)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* Peek first (WNOWAIT): the zombie keeps its pid reserved while we
         * kill whatever its command left running in the group. */
        if (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        int status;
        if (si.si_code == CLD_STOPPED || si.si_code == CLD_TRAPPED) {
            /* Take the stop notice (else the peek finds it forever). */
            if (waitpid(si.si_pid, &status, WUNTRACED | WNOHANG) <= 0)
                return;
            if (WIFSTOPPED(status)) {
                exited(ctx, si.si_pid, status); /* runner_on_exit: kills it */
                continue;
            }
        } else {
            kill(-si.si_pid, SIGKILL);
            if (waitpid(si.si_pid, &status, 0) < 0)
                return;
        }
        exited(ctx, si.si_pid, status);
    }
}

int runner_on_stop(runner_proc *p, int status)
{
    if (!WIFSTOPPED(status))
        return 0;
    /* Nothing can continue it (there is no terminal, no job control):
     * kill it, and say so in its result. */
    if (!p->stopped_by)
        p->stopped_by = WSTOPSIG(status);
    runner_kill(p);
    return 1;
}

void runner_result(const runner_proc *p, CommandResult *r)
{
    if (p->killed_by_timeout) {
        r->status = RUN_TIMED_OUT;
        r->exit_code = -1;
        r->term_signal = SIGKILL;
    } else if (p->stopped_by) {
        r->status = RUN_SIGNALED;
        r->exit_code = -1;
        r->term_signal = (uint8_t)p->stopped_by;
    } else if (WIFSIGNALED(p->wait_status)) {
        r->status = RUN_SIGNALED;
        r->exit_code = -1;
        r->term_signal = (uint8_t)WTERMSIG(p->wait_status);
    } else {
        r->status = RUN_EXITED;
        r->exit_code = WEXITSTATUS(p->wait_status);
        r->term_signal = 0;
    }
    runner_result_common(p, r);
    if (p->stopped_by && !p->killed_by_timeout) {
        static char why[128]; /* encoded before the next runner_result */
        int s = p->stopped_by;
        const char *name = s == SIGSTOP ? "SIGSTOP" : s == SIGTSTP ? "SIGTSTP" : s == SIGTTIN ? "SIGTTIN"
                           : s == SIGTTOU ? "SIGTTOU" : "a signal";
        snprintf(why, sizeof why, "stopped by %s: killed by the slave (nothing can continue it here)", name);
        r->message = why;
        r->message_len = (uint32_t)strlen(why);
    }
}
#endif
