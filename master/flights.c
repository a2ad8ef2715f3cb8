/*
 * flights.c - a command's attempt on a slave (a flight), from the request
 * to the result: the request's fragments and their JOB_ACKs, probes of a
 * job we heard nothing of, cancelling, running it again when the slave
 * lost it or died (orphan copies included), the result's fragments, and
 * deliver, which hands a complete result to the client.
 */
#include "internal.h"
#include "console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- a flight --- */

static void flight_unlink(flight *f)
{
    slave_peer *s = f->slave;
    if (f->prev)
        f->prev->next = f->next;
    else
        s->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    if (f->state != FL_CANCELLING)
        s->outstanding--;
}

/* An orphan is an earlier copy of a command whose slave was declared dead
 * while it ran: the slave may only have been frozen (SIGSTOP, a VM paused)
 * and still run it. The command went on to another attempt; the orphan is
 * kept, so that whichever copy answers first gives the result and the
 * other copy is cancelled. */
static int flight_is_orphan(const flight *f)
{
    return f->cmd && f->cmd->fl != f;
}

static void orphan_unlink(flight *f)
{
    for (flight **pp = &f->cmd->orphans; *pp; pp = &(*pp)->next_orphan)
        if (*pp == f) {
            *pp = f->next_orphan;
            break;
        }
    f->next_orphan = NULL;
}

void flight_free(flight *f)
{
    if (flight_is_orphan(f))
        orphan_unlink(f);
    flight_unlink(f);
    xfer_tx_free(&f->req);
    xfer_rx_free(&f->res);
    free(f);
}

/* The result of f is no longer wanted (another copy answered, or the
 * command is given up): f becomes a cancelling flight, and flights_tick
 * sends its DG_CANCEL at once (cancel_sent_us 0). */
void flight_abandon(flight *f)
{
    if (flight_is_orphan(f))
        orphan_unlink(f);
    f->cmd = NULL;
    xfer_tx_free(&f->req);
    xfer_rx_free(&f->res);
    if (f->state != FL_CANCELLING)
        f->slave->outstanding--;
    f->state = FL_CANCELLING;
    f->ack_pending = 0;
    f->since_ms = clock_ms();
    f->cancel_sent_us = 0;
}

/* Frees a job that has its result (or never will): copies of it that may
 * still run somewhere are cancelled. */
void command_release(command *cmd)
{
    while (cmd->orphans)
        flight_abandon(cmd->orphans);
    free(cmd->note);
    free(cmd);
}

/* Why cmd may run twice: its result will say (deliver). */
static void command_note(command *cmd, const char *fmt, const char *slave)
{
    char text[600];
    int n = snprintf(text, sizeof text, fmt, slave);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof text ? sizeof text - 1 : (size_t)n;
    free(cmd->note);
    cmd->note = malloc(len + 1); /* NULL if out of memory: the result's flag still says it */
    if (cmd->note)
        memcpy(cmd->note, text, len), cmd->note[len] = 0;
}

/* The current attempt of cmd (on slave s) ended without a result: queue the
 * command again, at the front, if the client allows another attempt, and
 * tell the client it runs again. */
void command_again(command *cmd, slave_peer *s, const char *why)
{
    client *cl = cmd->cl;
    cmd->fl = NULL;
    cl->inflight--;
    if (cmd->attempts < cl->retries) {
        LOG(LOG_WARN, "command %u of %s: slave %s %s: dispatching it again", cmd->seq, cl->name, s->name, why);
        char msg[400];
        snprintf(msg, sizeof msg, "command %u: slave %s %s: running it again on another slave", cmd->seq, s->name, why);
        client_send_text(cl, F_NOTICE, msg);
        if (cl->durable)
            journal_requeue(cl->m, cmd);
        queue_push_front(cl, cmd);
        return;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "slave %s %s, after %u attempt%s (it may have run)", s->name, why, cmd->attempts,
             cmd->attempts > 1 ? "s" : "");
    client_send_failure(cl, cmd->index, cmd->seq, RUN_NO_SLAVE, s->name, msg);
    command_release(cmd);
    client_check_done(cl);
}

/* The flight ended without a result (slave died or lost it): its command
 * runs again, unless f was only an orphan copy (the current attempt goes on). */
void flight_requeue(flight *f, const char *why)
{
    command *cmd = f->cmd;
    slave_peer *s = f->slave;
    int orphan = flight_is_orphan(f);
    flight_free(f);
    if (cmd && !orphan)
        command_again(cmd, s, why);
}

typedef struct {
    master *m;
    flight *f;
} send_ctx;

static void send_request_fragment(void *ctx, uint32_t index, uint32_t offset, uint32_t len, enum trace_why why)
{
    send_ctx *c = ctx;
    (void)index;
    dgram d = xfer_tx_fragment(&c->f->req, DG_JOB, c->f->id, offset, len);
    d.floor = slave_floor(c->f->slave);
    send_dgram(c->m, c->f->slave, &d, why);
}

static void send_cancel(master *m, flight *f, enum trace_why why)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_CANCEL;
    d.job_id = f->id;
    f->cancel_sent_us = clock_us();
    send_dgram(m, f->slave, &d, why);
}

/* Stops waiting for f's result and tells its slave to kill the job. The
 * client, unless it is leaving (why NULL), gets why as the result. */
void flight_cancel(master *m, flight *f, uint8_t status, const char *why)
{
    command *cmd = f->cmd;
    if (flight_is_orphan(f)) { /* only a copy: the command's current attempt decides */
        flight_abandon(f); /* its cancel leaves in write_step */
        return;
    }
    if (cmd) {
        client *cl = cmd->cl;
        cl->inflight--;
        if (why) {
            client_send_failure(cl, cmd->index, cmd->seq, status, f->slave->name, why);
            client_check_done(cl);
        }
        command_release(cmd);
        f->cmd = NULL;
    }
    xfer_tx_free(&f->req);
    xfer_rx_free(&f->res);
    f->state = FL_CANCELLING;
    f->ack_pending = 0; /* write_step acks results, not cancelled ones */
    f->slave->outstanding--;
    f->since_ms = clock_ms();
    f->cancel_sent_us = 0; /* write_step sends it, after the journal's flush */
    (void)m;
}

static flight *flight_new(slave_peer *s, command *cmd, uint64_t id)
{
    client *cl = cmd->cl;
    flight *f = calloc(1, sizeof *f);
    bwriter w;
    bw_init(&w, MAX_COMMAND_LEN + REQUEST_HEADER_MAX + MAX_PLACE_BYTES + 3 + 4 + ORIGIN_NAME_MAX);
    CommandRequest req;
    memset(&req, 0, sizeof req);
    req.seq = cmd->seq;
    req.timeout_ms = sched_timeout_ms(cl);
    req.length = cmd->len;
    req.command = cmd->line;
    job_request_place(&req, &cl->opts); /* --wd, --env: the tail, none without them */
    if (f && cl->opts.cache) { /* the key of what runs, now: an OPTIONS frame may change the batch's later */
        cache_key(f->cache_key, cmd->line, cmd->len, &cl->opts);
        f->cache_keyed = 1;
    }
    if (cl->opts.line_buffer && f && req.next < JOBX_MAX) { /* --line-buffer: the slave streams its output (DG_OUTPUT) */
        req.ext[req.next++] = (job_ext){JOBX_STREAM, 0, NULL};
        f->streams = 1;
    }
    /* The slave's console shows the client's [seq] and who it is: only
     * where the body stays within what every slave reassembles (a command
     * of nearly MAX_COMMAND_LEN goes without, its console shows the job id) */
    uint8_t origin[4 + ORIGIN_NAME_MAX];
    size_t origin_len = job_origin_make(origin, cmd->seq, cl->name);
    size_t body = 8u + cmd->len + options_place_bytes(&cl->opts) + (f && f->streams ? 3u : 0u);
    if (req.next < JOBX_MAX && body + 3u + origin_len <= JOB_BODY_MAX && f && (!s->boot || s->boot != s->no_origin_boot)) {
        req.ext[req.next++] = (job_ext){JOBX_ORIGIN, (uint16_t)origin_len, (const char *)origin};
        f->origin = 1;
    }
    job_request_encode(&w, &req);
    if (!f || w.error || xfer_tx_init(&f->req, w.data, (uint32_t)w.len, frag_size_for(&s->addr)) < 0)
        die("out of memory");
    f->cmd = cmd;
    f->slave = s;
    f->id = id;
    f->boot = s->boot;
    f->fresh = 1;
    f->state = FL_SENDING;
    f->since_ms = f->heard_ms = clock_ms();
    f->next = s->flights;
    if (s->flights)
        s->flights->prev = f;
    s->flights = f;
    s->outstanding++;
    cmd->fl = f;
    cl->inflight++;
    return f;
}

/* The dispatch: cmd becomes job f->id on slave s. The journal has it
 * before its request leaves (flights_send_fresh, after the flush): a
 * master restarted from the journal knows every job a slave may run. */
void flight_start(master *m, slave_peer *s, command *cmd)
{
    flight *f = flight_new(s, cmd, s->next_id++);
    cmd->attempts++;
    f->attempt = cmd->attempts;
    cmd->restored = 0;
    if (cmd->cl->durable)
        journal_dispatch(m, f);
    LOG(LOG_DEBUG, "command %u of %s -> %s as job %llu", cmd->seq, cmd->cl->name, s->name, (unsigned long long)f->id);
    console_printf("[%u] client %s -> slave %s%s", cmd->seq, cmd->cl->name, s->name,
                   cmd->attempts > 1 || cmd->tries ? " (again)" : "");
}

/* Replay: a command the previous life dispatched as job id on s and whose
 * result it did not have. The request goes again: the slave, if it kept
 * the job (adopted from the previous life), answers with its state and
 * result; if it never had it, it runs it now; if it had it and it ended
 * without a result for us, its GONE says how (on_job_ack). The caller
 * sets f->boot: the slave's life the DISPATCH record names. */
flight *flight_restore(master *m, slave_peer *s, command *cmd, uint64_t id)
{
    (void)m;
    if (id >= s->next_id)
        s->next_id = id + 1;
    flight *f = flight_new(s, cmd, id);
    f->restored = 1;
    f->attempt = cmd->attempts ? cmd->attempts : 1;
    return f;
}

/* The first PONG of slave s in this life of ours: it is at boot, and
 * took job ids up to highest_job from our identity (as far as it
 * remembers). A re-claimed job dispatched to another life of it was lost
 * with that life (a slave's commands die with it); one dispatched to this
 * life, if the slave says it took less from us than it ran for us (the
 * journal's proof), was forgotten with our session there (evicted, or
 * superseded by another master at our address): the slave cannot say
 * what became of it. Either way it runs again, and its result says why
 * it may have run twice. Before this PONG no JOB of ours reached this
 * life (they went to boot 0: answered COOKIE), so none ran it here. */
void flights_restored_meet(slave_peer *s, uint64_t boot, uint64_t highest_job)
{
    int forgot = s->proven_job && s->proven_boot == boot && highest_job < s->proven_job;
    if (forgot)
        LOG(LOG_WARN, "slave %s says it took job ids up to %llu from this master, but ran job %llu for it: it "
            "forgot this master while it was down", s->name, (unsigned long long)highest_job,
            (unsigned long long)s->proven_job);
    for (flight *f = s->flights, *nx; f; f = nx) {
        nx = f->next;
        if (!f->restored || !f->boot || !f->cmd || f->cmd->fl != f || (f->boot == boot && !forgot))
            continue;
        if (f->boot != boot) {
            LOG(LOG_WARN, "command %u of batch %016llx: slave %s restarted while the master was down (boot %016llx "
                "-> %016llx): its first run was lost with it, running it again", f->cmd->seq,
                (unsigned long long)f->cmd->cl->batch_id, s->name, (unsigned long long)f->boot,
                (unsigned long long)boot);
            command_note(f->cmd, "may have run twice: slave %s restarted while the master was down, and its first "
                         "run there (which may have run in part or whole) was lost with it: run again", s->name);
            flight_requeue(f, "restarted while the master was down");
        } else {
            LOG(LOG_WARN, "command %u of batch %016llx: slave %s forgot it while the master was down: running it "
                "again", f->cmd->seq, (unsigned long long)f->cmd->cl->batch_id, s->name);
            command_note(f->cmd, "may have run twice: slave %s forgot this master while it was down (its session "
                         "there was given to another master), and with it what became of its first run: run again",
                         s->name);
            flight_requeue(f, "forgot this master while it was down");
        }
    }
}

/* write_step, after the flush: the requests of this turn's dispatches, and
 * the cancels decided since the last turn, leave now. Returns the earliest
 * retransmission deadline of what left (NO_DEADLINE: none): the timers ran
 * before these were sent, and the loop's poll must not sleep past it (a
 * lost first request would wait for the next PING's turn). */
uint64_t flights_send_fresh(master *m)
{
    uint64_t now_us = clock_us(), next_ms = NO_DEADLINE;
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        uint32_t rto = rtt_timeout(&s->rtt);
        for (flight *f = s->flights; f; f = f->next) {
            if (f->fresh && f->state == FL_SENDING) {
                send_ctx c = {m, f};
                s->st_retrans += xfer_tx_pump(&f->req, now_us, rto, send_request_fragment, &c);
                uint64_t due = xfer_tx_next_deadline(&f->req, rto);
                if (due)
                    next_ms = earliest(next_ms, due / 1000 + 1);
                if (f->cmd && f->cmd->fl == f)
                    client_send_started(f->cmd->cl, f); /* its client hears of it as it leaves */
            }
            f->fresh = 0;
            if (f->state == FL_CANCELLING && !f->cancel_sent_us) {
                send_cancel(m, f, WHY_FIRST);
                next_ms = earliest(next_ms, (f->cancel_sent_us + rto) / 1000 + 1);
            }
        }
    }
    return next_ms;
}

/* ------------------------------------------------ datagrams about it --- */

static flight *flight_find(slave_peer *s, uint64_t id)
{
    for (flight *f = s->flights; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

void send_result_ack(master *m, flight *f, slave_peer *s, uint64_t id, enum result_ack_state state)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_RESULT_ACK;
    d.job_id = id;
    d.state = (uint8_t)state;
    if (f && state == RESULT_ACK_PARTIAL)
        xfer_rx_ack(&f->res, &d.cum, &d.sack);
    send_dgram(m, s, &d, WHY_REPLY);
}

void on_job_ack(slave_peer *s, const dgram *d)
{
    flight *f = flight_find(s, d->job_id);
    s->slots_free = d->slots_free;
    if (!f)
        return;
    f->heard_ms = clock_ms();
    switch (d->state) {
    case JS_RECEIVING:
    case JS_RUNNING:
    case JS_DONE:
        if (f->state == FL_SENDING) {
            int progress;
            uint32_t sample = xfer_tx_on_ack(&f->req, d->cum, d->sack, clock_us(), &progress);
            if (sample)
                rtt_sample(&s->rtt, sample);
            if (d->state != JS_RECEIVING)
                f->state = FL_RUNNING;
        }
        break;
    case JS_GONE:
        /* The slave has nothing for this job: cancelled as we asked, or
         * lost (its result was never acknowledged): run it again. */
        if (f->state == FL_CANCELLING) {
            flight_free(f);
        } else if (f->restored && f->cmd && f->cmd->fl == f && d->cum == GONE_NOT_STARTED) {
            /* Re-claimed, and the slave dropped it before it started (its
             * request or queue given up while we were away): it never ran,
             * this attempt does not count. */
            LOG(LOG_WARN, "command %u of batch %016llx: slave %s dropped it before it started while the master was "
                "down: running it again", f->cmd->seq, (unsigned long long)f->cmd->cl->batch_id, s->name);
            if (f->cmd->attempts)
                f->cmd->attempts--;
            flight_requeue(f, "dropped it before it started, while the master was down");
        } else if (f->restored && f->cmd && f->cmd->fl == f &&
                   (d->cum == GONE_KILLED || d->cum == GONE_RESULT_DROPPED)) {
            /* Re-claimed, and the slave ran it but killed it, or dropped its
             * result, when we were away longer than its --master-grace: it
             * runs again (counted: its result says it may have run twice). */
            int killed = d->cum == GONE_KILLED;
            LOG(LOG_WARN, "command %u of batch %016llx: slave %s %s when the master was away longer than its "
                "--master-grace: running it again", f->cmd->seq, (unsigned long long)f->cmd->cl->batch_id, s->name,
                killed ? "killed it" : "dropped its result");
            command_note(f->cmd, killed ? "may have run twice: its first run was killed on slave %s when the master "
                                          "was away longer than the slave's --master-grace: run again"
                                        : "ran twice: its first run ended on slave %s, which dropped its result when "
                                          "the master was away longer than the slave's --master-grace: run again",
                         s->name);
            flight_requeue(f, killed ? "killed it when the master was away longer than its --master-grace"
                                     : "dropped its result when the master was away longer than its --master-grace");
        } else if (f->restored && f->cmd && f->cmd->fl == f) {
            /* Re-claimed after a restart, and the slave no longer has it:
             * it ran and its result was acknowledged to the previous life,
             * whose journal lost it (the journal's end, cut). At most once:
             * not run again. */
            command *cmd = f->cmd;
            client *cl = cmd->cl;
            LOG(LOG_WARN, "command %u of batch %016llx: slave %s ran it before the restart and its result is lost",
                cmd->seq, (unsigned long long)cl->batch_id, s->name);
            f->cmd = NULL;
            flight_free(f);
            cl->inflight--;
            client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, s->name,
                                "it ran before the master restarted, and its result was lost with the end of the "
                                "master's journal: not run again");
            command_release(cmd);
            client_check_done(cl);
        } else {
            flight_requeue(f, "lost the command");
        }
        break;
    }
}

/* The result of a command that may have run twice, with the reason
 * (cmd->note) in its message: the client shows it (--json: "message"). */
static void deliver_noted(client *cl, const command *cmd, const flight *f, CommandResult *res)
{
    char msg[RESULT_MESSAGE_MAX + 1];
    int n = snprintf(msg, sizeof msg, "%.*s%s%s", (int)res->message_len, res->message ? res->message : "",
                     res->message_len ? "; " : "", cmd->note);
    res->message = msg;
    res->message_len = n < 0 ? 0 : n >= (int)sizeof msg ? RESULT_MESSAGE_MAX : (uint32_t)n;
    res->ran_twice = 1;
    bwriter w;
    bw_init(&w, RESULT_MAX_BYTES + RESULT_MESSAGE_MAX);
    result_encode(&w, res);
    if (w.error) /* out of memory: the slave's bytes, flagged, without the reason */
        client_send_result_body(cl, cmd->index, cmd->seq, f->slave->name, f->res.data, f->res.len);
    else
        client_send_result_body(cl, cmd->index, cmd->seq, f->slave->name, w.data, w.len); /* the result leaves */
    bw_free(&w);
}

/* --timeout N%: a success's run time joins the batch's last OK_RUNS_MAX,
 * whose median (the lower middle one) the next dispatches use. */
#define OK_RUNS_MAX 999

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void note_success(client *cl, uint64_t duration_us)
{
    if (!cl->opts.timeout_pct)
        return;
    if (!cl->ok_runs_us && !(cl->ok_runs_us = malloc(2 * OK_RUNS_MAX * sizeof *cl->ok_runs_us)))
        return; /* out of memory: no median, the seconds --timeout alone */
    cl->ok_runs_us[cl->ok_runs_next] = duration_us;
    cl->ok_runs_next = (cl->ok_runs_next + 1) % OK_RUNS_MAX;
    if (cl->ok_runs < OK_RUNS_MAX)
        cl->ok_runs++;
    uint64_t *sorted = cl->ok_runs_us + OK_RUNS_MAX;
    memcpy(sorted, cl->ok_runs_us, cl->ok_runs * sizeof *sorted);
    qsort(sorted, cl->ok_runs, sizeof *sorted, cmp_u64);
    cl->median_us = sorted[(cl->ok_runs - 1) / 2] + 1; /* + 1: 0 says none */
}

/* --retries: f's run of its command failed (res) and the batch allows
 * another: the command goes back to the front of its queue, remembering
 * where it failed (the next run goes elsewhere if it can: dispatch_step),
 * its result not delivered. The journal says so before the slave's result
 * is acknowledged (the ack leaves after the flush): a restart finds the
 * command queued with its failed runs counted, or, before the flush, the
 * job re-claimed and its result again. */
static int retry_failed(master *m, flight *f, const CommandResult *res)
{
    command *cmd = f->cmd;
    client *cl = cmd->cl;
    if (res->status == RUN_EXITED && res->exit_code == 0)
        return 0;
    /* shutting down: a batch kept in the journal runs it after the restart; another one gets this result */
    if (cmd->tries + 1 >= cl->opts.fail_attempts || cl->cancelled || cl->halted || cl->halt_due ||
        (m->stopping && !cl->durable))
        return 0;
    slave_peer *s = f->slave;
    if (cmd->fl != f) { /* an orphan copy answered first: the current attempt is not wanted either */
        orphan_unlink(f);
        if (cmd->fl) {
            flight_abandon(cmd->fl);
            cl->inflight--;
        } else {
            queue_remove(cl, cmd);
        }
    } else {
        cl->inflight--;
    }
    cmd->fl = NULL;
    f->cmd = NULL;
    while (cmd->orphans)
        flight_abandon(cmd->orphans);
    cmd->failed_on[cmd->tries % FAILED_ON_MAX] = slave_uid(s->name, strlen(s->name));
    cmd->tries++;
    cmd->attempts = 0; /* "may have run twice" counts the dispatches of one run */
    free(cmd->note);
    cmd->note = NULL;
    LOG(LOG_INFO, "command %u of %s failed on %s (%s %d): running it again (--retries: run %u of %u)", cmd->seq,
        cl->name, s->name, res->status == RUN_EXITED ? "exit" : res->status == RUN_SIGNALED ? "signal" : "status",
        res->status == RUN_EXITED ? (int)res->exit_code : res->status == RUN_SIGNALED ? (int)res->term_signal
                                                                                        : (int)res->status,
        cmd->tries + 1, cl->opts.fail_attempts);
    if (cl->durable)
        journal_requeue_failed(m, cmd, s->name);
    queue_push_front(cl, cmd);
    flight_free(f);
    return 1;
}

/* f's result says its slave refused JOBX_ORIGIN, the key a slave older
 * than the console view does not know (it started nothing): that life of
 * the slave gets its requests without it from now on, and the command goes
 * back to the front of its queue, not counted as an attempt. 1 if so. */
static int origin_refused(master *m, flight *f, const CommandResult *res)
{
    static const char refusal[] = "job request with an extension this slave does not know (key 4)";
    command *cmd = f->cmd;
    client *cl = cmd->cl;
    slave_peer *s = f->slave;
    if (!f->origin || res->status != RUN_NOT_STARTED || res->message_len < sizeof refusal - 1 ||
        memcmp(res->message, refusal, sizeof refusal - 1) || cmd->fl != f)
        return 0;
    if (s->no_origin_boot != f->boot)
        LOG(LOG_WARN, "slave %s does not know JOBX_ORIGIN (an older serveur_esclave): its commands go without the "
            "client's numbers, its console shows job ids", s->name);
    s->no_origin_boot = f->boot;
    cl->inflight--;
    cmd->fl = NULL;
    f->cmd = NULL;
    if (cmd->attempts)
        cmd->attempts--;
    if (cl->durable)
        journal_requeue(m, cmd);
    queue_push_front(cl, cmd);
    flight_free(f);
    return 1;
}

/* What a slave's result may say: the statuses a slave gives, with the
 * exit code and signal a slave makes for each (slave/runner_posix.c,
 * runner_win32.c, jobs.c; an exit code is any int32: Windows' are). NULL
 * if it is one of them, else what is wrong, written into why. */
static const char *result_impossible(const CommandResult *r, char *why, size_t n)
{
    switch (r->status) {
    case RUN_EXITED:
        if (r->term_signal)
            snprintf(why, n, "exited with signal %u", r->term_signal);
        else
            return NULL;
        break;
    case RUN_SIGNALED:
        if (r->exit_code != -1)
            snprintf(why, n, "killed by a signal with exit code %d", (int)r->exit_code);
        else if (r->term_signal == 0 || r->term_signal > 127)
            snprintf(why, n, "killed by signal %u", r->term_signal);
        else
            return NULL;
        break;
    case RUN_NOT_STARTED:
        if (r->exit_code != -1 || r->term_signal)
            snprintf(why, n, "not started with exit code %d and signal %u", (int)r->exit_code, r->term_signal);
        else
            return NULL;
        break;
    case RUN_TIMED_OUT:
        if (r->exit_code < -1 || r->exit_code > 255 || r->term_signal > 127)
            snprintf(why, n, "timed out with exit code %d and signal %u", (int)r->exit_code, r->term_signal);
        else
            return NULL;
        break;
    default: /* RUN_REJECTED, RUN_NO_SLAVE, RUN_CANCELLED: the master's word about a command */
        snprintf(why, n, "status %u is the master's, never a slave's", r->status);
        break;
    }
    return why;
}

/* f's result is complete: it goes to its client (the result leaves for
 * the client here), and the command is done. */
static void deliver(master *m, flight *f)
{
    command *cmd = f->cmd;
    breader r;
    CommandResult res;
    br_init(&r, f->res.data, f->res.len);
    client *cl = cmd->cl;
    /* Dispatched more than once: an earlier copy may have run too (its
     * slave froze, died mid-run, restarted or left). The master says so
     * in the result's flags; the slave's own value of that bit is ignored. */
    int twice = cmd->attempts > 1;
    char why[80], refusal[160];
    if (result_decode(&r, &res) < 0 || br_left(&r) != 0) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "slave %s sent a malformed result for job %llu", f->slave->name, (unsigned long long)f->id);
        client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, f->slave->name, "malformed result from the slave");
    } else if (result_impossible(&res, why, sizeof why)) {
        /* a slave that lies or is broken: its word is not relayed (nor cached, nor counted) */
        if (log_allow(&m->slave_lies_log))
            LOG(LOG_WARN, "slave %s sent an impossible result for job %llu (%s): refused", f->slave->name,
                (unsigned long long)f->id, why);
        snprintf(refusal, sizeof refusal, "impossible result from the slave (%s): it may have run", why);
        client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, f->slave->name, refusal);
    } else {
        slave_peer *s = f->slave;
        /* The master's bits: RAN_TWICE is its own count of dispatches, CACHED that it did not
         * run the command now (clients.c cache_answer); a slave's values are not taken, in the
         * bytes relayed, stored and journaled nor in res (deliver_noted encodes it again). */
        uint8_t *flags = f->res.data + RESULT_FLAGS_OFFSET;
        uint8_t masters_bits = (uint8_t)(*flags & (RESULT_FLAG_RAN_TWICE | RESULT_FLAG_CACHED));
        if (masters_bits && log_allow(&m->slave_lies_log))
            LOG(LOG_WARN, "slave %s set flag bits only the master sets (0x%02x) in the result of job %llu: cleared",
                s->name, masters_bits, (unsigned long long)f->id);
        *flags = (uint8_t)((*flags & ~masters_bits) | (twice ? RESULT_FLAG_RAN_TWICE : 0));
        res.ran_twice = twice;
        res.cached = 0;
        if (origin_refused(m, f, &res))
            return;
        if (console_on) {
            char outcome[600];
            console_outcome(outcome, sizeof outcome, &res);
            console_printf("[%u] <- slave %s: %s", cmd->seq, s->name, outcome);
        }
        status_count_slave(s, f->res.data, f->res.len);
        s->avg_run_us = s->avg_run_us ? (7 * s->avg_run_us + res.duration_us) / 8 : res.duration_us + 1;
        if (res.status == RUN_EXITED || res.status == RUN_SIGNALED) {
            /* learned durations (--order lpt): a run that ran to its end, whatever its exit status (a timed
             * out one says only its timeout; a cancelled or unstarted one nothing) */
            uint64_t key = history_key(cmd->line, cmd->len);
            history_note(&m->durations, key, res.duration_us);
            journal_duration(m, history_find(&m->durations, key));
        }
        if (cl->opts.fail_attempts > 1 && retry_failed(m, f, &res))
            return;
        if (res.status == RUN_EXITED && res.exit_code == 0)
            note_success(cl, res.duration_us);
        client_send_output(cl, f, 0, 0, NULL, 0); /* --line-buffer: the result is from this attempt */
        static const char malformed[] = "malformed job request";
        if (res.status == RUN_NOT_STARTED && res.message_len == sizeof malformed - 1 &&
            !memcmp(res.message, malformed, sizeof malformed - 1) && (f->streams || options_place_bytes(&cl->opts)))
            /* the tail is what a slave older than it refuses: say so */
            client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, f->slave->name,
                                "the slave refused the request's extensions (--line-buffer, --wd, --env): an older "
                                "serveur_esclave? run without them, or upgrade it");
        else if (twice && cmd->note) /* why, in its message (after the slave's own, if any) */
            deliver_noted(cl, cmd, f, &res);
        else {
            cache_store(m, f, f->res.data, f->res.len); /* --cache: kept for the next time */
            client_send_result_body(cl, cmd->index, cmd->seq, f->slave->name, f->res.data, f->res.len); /* the result leaves */
        }
    }
    LOG(twice ? LOG_INFO : LOG_DEBUG, "command %u of %s: result from %s%s", cmd->seq, cl->name, f->slave->name,
        twice ? " (dispatched more than once: it may have run twice)" : "");
    if (cmd->fl != f) {
        /* An orphan copy, on a slave that was declared dead and came
         * back, answered first: the current attempt is not wanted. */
        orphan_unlink(f);
        LOG(LOG_INFO, "command %u of %s: the earlier copy on %s answered first: cancelling the other one", cmd->seq,
            cl->name, f->slave->name);
        if (cmd->fl) {
            flight_abandon(cmd->fl);
            cmd->fl = NULL;
            cl->inflight--;
        } else {
            queue_remove(cl, cmd);
        }
    } else {
        cl->inflight--;
    }
    f->cmd = NULL;
    command_release(cmd); /* cancels the copies still out there */
    flight_free(f);
    client_check_done(cl);
}

void on_result_fragment(master *m, slave_peer *s, const dgram *d)
{
    flight *f = flight_find(s, d->job_id);
    if (!f && d->job_id >= s->next_id) {
        /* never given to it (a late result of a job the master gave up is below next_id): no
         * ack, which would also lift the floor (ack_complete_later) above the ids to come */
        if (log_allow(&m->slave_lies_log))
            LOG(LOG_WARN, "slave %s sent a result for job %llu, which it was never given: ignored", s->name,
                (unsigned long long)d->job_id);
        return;
    }
    if (!f || f->state == FL_CANCELLING) {
        /* Already delivered (our final ack was lost) or cancelled: tell
         * the slave to forget it. */
        ack_complete_later(m, s, d->job_id);
        if (f)
            flight_free(f);
        return;
    }
    f->heard_ms = clock_ms();
    if (f->state != FL_RESULT) {
        if (xfer_rx_init(&f->res, d->total, d->frag_size, RESULT_MAX_BYTES) < 0) {
            LOG(LOG_WARN, "slave %s: result of %u bytes for job %llu refused (at most %u)", s->name, d->total,
                (unsigned long long)f->id, RESULT_MAX_BYTES);
            flight_cancel(m, f, RUN_NOT_STARTED, "result too large for the master");
            return;
        }
        f->state = FL_RESULT;
    }
    if (xfer_rx_add(&f->res, d->total, d->frag_size, d->offset, d->payload, d->payload_len) < 0) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "slave %s: result fragment inconsistent with job %llu", s->name,
                (unsigned long long)f->id);
        return;
    }
    if (xfer_rx_done(&f->res)) {
        ack_complete_later(m, s, f->id); /* once the result is on disk: the slave forgets it then */
        deliver(m, f);
        return;
    }
    f->ack_pending = 1;
}

/* --line-buffer: a chunk of a running job's output. Best-effort: relayed
 * only from the command's current attempt, never journaled, never acked;
 * the result carries every byte again (doc/protocol.md 3.3). */
void on_output(master *m, slave_peer *s, const dgram *d)
{
    (void)m;
    flight *f = flight_find(s, d->job_id);
    if (!f || !f->cmd || f->cmd->fl != f || f->state == FL_CANCELLING || !f->streams)
        return;
    f->heard_ms = clock_ms();
    client_send_output(f->cmd->cl, f, d->stream, d->offset, d->payload, d->payload_len);
}

/* ------------------------------------------------------------ timers --- */

/* Each flight's timer: retransmit the request's fragments (FL_SENDING),
 * probe a job we heard nothing of (FL_RUNNING, FL_RESULT), resend a
 * cancel or give it up (FL_CANCELLING). Runs after slaves_tick, so that a
 * flight a dead slave's command left behind gets its DG_CANCEL now. */
uint64_t flights_tick(master *m, uint64_t now_ms)
{
    uint64_t now_us = clock_us(), next_ms = NO_DEADLINE;
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        uint32_t rto = rtt_timeout(&s->rtt);
        for (flight *f = s->flights, *nx; f; f = nx) {
            nx = f->next;
            send_ctx c = {m, f};
            switch (f->state) {
            case FL_SENDING: {
                if (f->fresh) /* its DISPATCH is not on disk yet: write_step sends it after the flush */
                    break;
                s->st_retrans += xfer_tx_pump(&f->req, now_us, rto, send_request_fragment, &c);
                uint64_t due = xfer_tx_next_deadline(&f->req, rto);
                if (due)
                    next_ms = earliest(next_ms, due / 1000 + 1);
                break;
            }
            case FL_RUNNING:
            case FL_RESULT:
                /* Nothing heard of this job for a while: resend fragment 0
                 * of its request, which the slave answers with the job's
                 * state (a job it lost is answered GONE). */
                if (elapsed(now_ms, f->heard_ms) >= PROBE_AFTER_MS) {
                    send_request_fragment(&c, 0, 0, f->req.len < f->req.frag ? f->req.len : f->req.frag, WHY_PROBE);
                    f->heard_ms = now_ms;
                }
                next_ms = earliest(next_ms, f->heard_ms + PROBE_AFTER_MS);
                break;
            case FL_CANCELLING:
                if (elapsed(now_ms, f->since_ms) > CANCEL_GIVEUP_MS) {
                    flight_free(f);
                    continue;
                }
                if (!f->cancel_sent_us) /* decided since the last turn: write_step sends it first */
                    break;
                if (elapsed(now_us, f->cancel_sent_us) >= rto)
                    send_cancel(m, f, WHY_RTO);
                next_ms = earliest(next_ms, (f->cancel_sent_us + rto) / 1000 + 1);
                break;
            }
        }
    }
    return next_ms;
}
