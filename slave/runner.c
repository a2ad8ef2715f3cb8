/* runner.c - the parts of runner.h that are the same on every platform. */
#include "runner.h"

#include "common.h"

/* How long a finished command's pipes may stay open (a grandchild that
 * escaped its process group or job) before we stop reading them. */
#define DRAIN_AFTER_EXIT_US 1000000u

void runner_on_exit(runner_proc *p, int status, uint64_t now_us)
{
    if (runner_on_stop(p, status))
        return;
    p->exited = 1;
    p->wait_status = status;
    p->end_us = now_us;
    p->pid = 0;
    runner_after_exit(p);
    p->drain_deadline_us = now_us + DRAIN_AFTER_EXIT_US;
}

uint64_t runner_next_deadline(const runner_proc *p)
{
    if (!p->exited)
        return p->deadline_us;
    return runner_finished(p) ? 0 : p->drain_deadline_us;
}

void runner_result_common(const runner_proc *p, CommandResult *r)
{
    r->start_ms = p->start_wall_ms;
    r->duration_us = p->end_us - p->start_us;
    r->stdout_data = (char *)p->out.data;
    r->stdout_len = (uint32_t)p->out.len;
    r->stdout_truncated = (uint8_t)p->out_truncated;
    r->stderr_data = (char *)p->err.data;
    r->stderr_len = (uint32_t)p->err.len;
    r->stderr_truncated = (uint8_t)p->err_truncated;
}
