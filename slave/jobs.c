/*
 * jobs.c - the slave's job table: a request's fragments reassembled, its
 * command started through runner.h when a slot is free, its result sent
 * back as fragments (xfer.h) until acknowledged, cancelled, or given up.
 * doc/protocol.md walks through a job's life.
 *
 * At-most-once execution (NFS's duplicate request cache, per job id):
 * every job id a master uses is remembered in a per-master window from its
 * "floor" (below it every job is finished for the master). A request for a
 * job we have is answered with the job's state; one we had and finished is
 * answered GONE; it never starts the command again.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "console.h"

#include <stdlib.h>
#include <string.h>

static job *job_find(slave *sl, const session *s, uint64_t id)
{
    for (job *j = sl->jobs; j; j = j->next)
        if (j->sess == s && j->id == id)
            return j;
    return NULL;
}

static void job_rx_free(slave *sl, job *j)
{
    xfer_rx_free(&j->rx);
    j->sess->rx_bytes -= j->rx_charge;
    sl->rx_bytes -= j->rx_charge;
    j->rx_charge = 0;
}

void job_free(slave *sl, job *j)
{
    if (j->phase == JP_RUNNING) {
        runner_kill(&j->proc);
        sl->running--;
    }
    if (j->phase == JP_QUEUED)
        sl->queued--;
    runner_free(&j->proc);
    job_rx_free(sl, j);
    xfer_tx_free(&j->tx);
    free(j->command);
    free(j->place);
    j->sess->njobs--;
    free(j);
    sl->njobs--;
}

/* Takes j out of the table, and frees it. */
static void job_drop(slave *sl, job *j)
{
    for (job **pp = &sl->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    job_free(sl, j);
}

unsigned slots_free(const slave *sl)
{
    unsigned busy = sl->running + sl->queued;
    return busy >= (unsigned)sl->cfg->slots ? 0 : (unsigned)sl->cfg->slots - busy;
}

/* The JOB_ACK of job id: its state, with the fragments received when j
 * is known. */
static void send_job_ack(slave *sl, session *s, uint64_t id, uint8_t state, const job *j)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_JOB_ACK;
    d.job_id = id;
    d.state = state;
    d.slots_free = (uint16_t)slots_free(sl);
    if (j && j->phase == JP_RECEIVING)
        xfer_rx_ack(&j->rx, &d.cum, &d.sack);
    else if (j)
        d.cum = j->request_frags;
    else if (state == JS_GONE) /* a job we no longer hold: did it end? (enum job_gone_why) */
        d.cum = session_lost_why(s, id);
    send_dgram(sl, s, &d, WHY_REPLY);
}

/* What a job dropped now leaves behind, for its master's next life. */
uint8_t job_lost_why(const job *j)
{
    if (j->phase == JP_RUNNING)
        return GONE_KILLED;
    if (j->phase == JP_SENDING && j->started)
        return GONE_RESULT_DROPPED;
    return GONE_NOT_STARTED;
}

/* What the master is told of j (enum job_state, in DG_JOB_ACK). */
static uint8_t job_state(const job *j)
{
    switch (j->phase) {
    case JP_RECEIVING: return JS_RECEIVING;
    case JP_QUEUED:
    case JP_RUNNING: return JS_RUNNING;
    case JP_SENDING: return JS_DONE;
    }
    return JS_GONE;
}

/* A finished (or unstartable) job: its result becomes the transfer that
 * jobs_tick sends. */
static void job_finish(slave *sl, job *j, CommandResult *r)
{
    bwriter w;
    if (j->shown)
        console_result(j->tag, r);
    bw_init(&w, RESULT_MAX_BYTES);
    result_encode(&w, r);
    runner_free(&j->proc);
    free(j->command);
    j->command = NULL;
    free(j->place);
    j->place = NULL;
    j->phase = JP_SENDING;
    j->last_progress_ms = clock_ms();
    if (w.error || xfer_tx_init(&j->tx, w.data, (uint32_t)w.len, frag_size_for(&j->sess->addr)) < 0) {
        LOG(LOG_ERROR, "job %llu: out of memory for its result", (unsigned long long)j->id);
        bw_free(&w);
        job_drop(sl, j);
        return;
    }
}

/* A job that will not run (a bad request, a runner that cannot start
 * it): its result says why, status RUN_NOT_STARTED. */
static void job_not_started(slave *sl, job *j, const char *why)
{
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = RUN_NOT_STARTED;
    r.exit_code = -1;
    r.start_ms = wall_ms();
    r.message = (char *)why; /* not written: the result only reads it */
    r.message_len = (uint32_t)strlen(why);
    job_finish(sl, j, &r);
}

static void job_start(slave *sl, job *j)
{
    char err[ERR_LEN];
    sl->queued--;
    console_started(j->tag, j->command, j->command_len, j->origin, j->origin_len);
    j->shown = 1;
    /* --wd and --env would change what a listed line does (LD_PRELOAD,
     * PATH, IFS, ./script): with a policy, a job carrying them is refused */
    int placed = sl->cfg->allow && j->place && (j->place->wd || j->place->nenv);
    char **words = NULL, refusal[ERR_LEN - 64];
    if (sl->cfg->allow && !placed &&
        !allow_list_check(sl->cfg->allow, j->command, j->command_len, &words, refusal, sizeof refusal)) {
        char msg[ERR_LEN], line[ERR_LEN + 64];
        snprintf(msg, sizeof msg, "refused by the slave's policy (--allow): %s", refusal);
        int n = snprintf(line, sizeof line, "serveur_esclave: command %s\n", msg);
        char shown[81]; /* the log gets no control character of it (a newline would fake a line) */
        size_t k = 0;
        for (; k + 1 < sizeof shown && j->command[k]; k++)
            shown[k] = (unsigned char)j->command[k] < 0x20 || j->command[k] == 0x7f ? '?' : j->command[k];
        shown[k] = 0;
        LOG(LOG_WARN, "job %llu: %s: %s", (unsigned long long)j->id, msg, shown);
        CommandResult r;
        memset(&r, 0, sizeof r);
        r.status = RUN_EXITED;
        r.exit_code = EXIT_NOT_RUNNABLE;
        r.start_ms = wall_ms();
        r.stderr_data = line;
        r.stderr_len = (uint32_t)(n < (int)sizeof line ? n : (int)sizeof line - 1);
        r.message = msg;
        r.message_len = (uint32_t)strlen(r.message);
        job_finish(sl, j, &r);
        return;
    }
    if (placed) {
        static const char why_placed[] = "serveur_esclave: command refused: --wd and --env are not allowed by this "
                                         "slave's policy (--allow)\n";
        LOG(LOG_WARN, "job %llu: refused by the policy (--wd or --env): %.80s", (unsigned long long)j->id,
            j->command);
        CommandResult r;
        memset(&r, 0, sizeof r);
        r.status = RUN_EXITED;
        r.exit_code = EXIT_NOT_RUNNABLE;
        r.start_ms = wall_ms();
        r.stderr_data = (char *)why_placed;
        r.stderr_len = (uint32_t)sizeof why_placed - 1;
        r.message = "refused by the slave's policy (--allow): --wd and --env are not allowed with it";
        r.message_len = (uint32_t)strlen(r.message);
        job_finish(sl, j, &r);
        return;
    }
    /* --allow: the words run without a shell (j->place is NULL here) */
    runner_place bare = {.argv = words};
    int started = runner_start(&j->proc, j->command, words ? &bare : j->place, sl->cfg->output_cap, j->timeout_ms,
                               err, sizeof err);
    free(words);
    if (started == RUNNER_NO_DIR || started == RUNNER_NOT_FOUND || started == RUNNER_REFUSED) {
        /* as the POSIX child or a shell says it */
        size_t n = strlen(err);
        CommandResult r;
        memset(&r, 0, sizeof r);
        r.status = RUN_EXITED;
        r.exit_code = started == RUNNER_NO_DIR     ? RUNNER_NO_DIR_EXIT
                      : started == RUNNER_REFUSED ? EXIT_NOT_RUNNABLE
                                                  : RUNNER_NOT_FOUND_EXIT;
        r.start_ms = wall_ms();
        if (n + 1 < sizeof err)
            err[n++] = '\n';
        r.stderr_data = err;
        r.stderr_len = (uint32_t)n;
        job_finish(sl, j, &r);
        return;
    }
    if (started < 0) {
        LOG(LOG_WARN, "job %llu: cannot start: %s", (unsigned long long)j->id, err);
        job_not_started(sl, j, err);
        return;
    }
    j->phase = JP_RUNNING;
    j->started = 1;
    sl->running++;
    LOG(LOG_DEBUG, "job %llu: started pid %d: %.80s", (unsigned long long)j->id, (int)j->proc.pid, j->command);
}

static void jobs_start_queued(slave *sl)
{
    /* Oldest first: jobs are pushed at the head, so walk to the tail. */
    while (sl->queued > 0 && sl->running < (unsigned)sl->cfg->slots) {
        job *oldest = NULL;
        for (job *j = sl->jobs; j; j = j->next)
            if (j->phase == JP_QUEUED)
                oldest = j;
        if (!oldest)
            break;
        job_start(sl, oldest);
    }
}

/* --wd and --env of the request, NUL-terminated copies (after the
 * struct, one block): j->place, or NULL without them. */
static int job_place(job *j, const CommandRequest *req)
{
    size_t bytes = 0;
    for (unsigned i = 0; i < req->next; i++)
        bytes += req->ext[i].len + 1u;
    if (!bytes)
        return 0;
    runner_place *pl = calloc(1, sizeof *pl + bytes);
    if (!pl)
        return -1;
    char *at = (char *)(pl + 1);
    for (unsigned i = 0; i < req->next; i++) {
        const job_ext *e = &req->ext[i];
        if (e->key != JOBX_WD && (e->key != JOBX_ENV || pl->nenv >= MAX_ENV_VARS))
            continue;
        memcpy(at, e->value, e->len);
        at[e->len] = 0;
        if (e->key == JOBX_WD)
            pl->wd = at;
        else
            pl->env[pl->nenv++] = at;
        at += e->len + 1u;
    }
    j->place = pl;
    return 0;
}

void on_job_fragment(slave *sl, const net_addr *from, const dgram *d, size_t n)
{
    /* Only a session opened by a cookie handshake runs anything: a JOB
     * meant for an earlier life of ours, or from a master we do not know
     * (now), is answered "start over" and runs nothing. */
    session *s = session_addressed(sl, d);
    if (!s || (!s->superseded && session_dormant(s))) {
        send_cookie(sl, from, d, n);
        return;
    }
    if (s->superseded) { /* whatever it asks about is gone */
        send_job_ack(sl, s, d->job_id, JS_GONE, NULL);
        return;
    }
    s->last_heard_ms = clock_ms();
    session_advance_floor(sl, s, d->floor);
    job *j = job_find(sl, s, d->job_id);
    if (!j) {
        enum dedup_verdict v = dedup_check(&s->taken, d->job_id);
        if (v == DEDUP_SEEN || v == DEDUP_BELOW) {
            send_job_ack(sl, s, d->job_id, JS_GONE, NULL);
            return;
        }
        if (v == DEDUP_TOO_FAR || sl->njobs >= MAX_JOBS || s->njobs >= SESSION_MAX_JOBS(sl)) {
            if (log_allow(&sl->garbage_log))
                LOG(LOG_WARN, "job %llu: no room (floor %llu, %u jobs, %u of this master): dropped",
                    (unsigned long long)d->job_id, (unsigned long long)s->taken.floor, sl->njobs, s->njobs);
            return;
        }
        /* Reassembly memory is bounded per master and in all: a request
         * over it waits (the master retransmits) until others complete. */
        size_t charge = (size_t)d->total + d->total / d->frag_size + 1 + sizeof *j;
        if (s->rx_bytes + charge > SESSION_RX_MAX || sl->rx_bytes + charge > SLAVE_RX_MAX) {
            if (log_allow(&sl->garbage_log))
                LOG(LOG_WARN, "job %llu: %zu bytes of requests incomplete already: fragment dropped",
                    (unsigned long long)d->job_id, s->rx_bytes);
            return;
        }
        j = calloc(1, sizeof *j);
        if (!j || xfer_rx_init(&j->rx, d->total, d->frag_size, JOB_REQUEST_MAX) < 0) {
            free(j);
            if (log_allow(&sl->garbage_log))
                LOG(LOG_WARN, "job %llu: request of %u bytes refused", (unsigned long long)d->job_id, d->total);
            return;
        }
        j->sess = s;
        j->id = d->job_id;
        j->phase = JP_RECEIVING;
        j->rx_charge = charge;
        s->rx_bytes += charge;
        sl->rx_bytes += charge;
        j->request_frags = j->rx.nfrags;
        j->last_progress_ms = clock_ms();
        j->next = sl->jobs;
        sl->jobs = j;
        sl->njobs++;
        s->njobs++;
        session_take(s, d->job_id);
    }
    j->ack_pending = 1;
    if (j->phase != JP_RECEIVING)
        return; /* a retransmission: the ack tells the master the state */
    int added = xfer_rx_add(&j->rx, d->total, d->frag_size, d->offset, d->payload, d->payload_len);
    if (added < 0) {
        if (log_allow(&sl->garbage_log))
            LOG(LOG_WARN, "job %llu: fragment inconsistent with the request", (unsigned long long)j->id);
        return;
    }
    if (added)
        j->last_progress_ms = clock_ms();
    if (!xfer_rx_done(&j->rx))
        return;
    CommandRequest req;
    if (job_request_decode(j->rx.data, j->rx.len, &req) < 0) {
        if (log_allow(&sl->garbage_log))
            LOG(LOG_WARN, "job %llu: malformed request", (unsigned long long)j->id);
        job_rx_free(sl, j);
        job_not_started(sl, j, "malformed job request");
        return;
    }
    snprintf(j->tag, sizeof j->tag, "[job %llu]", (unsigned long long)j->id);
    for (unsigned i = 0; i < req.next; i++) { /* --line-buffer: send the output as it comes */
        if (req.ext[i].key == JOBX_STREAM)
            j->stream = 1;
        if (req.ext[i].key == JOBX_ORIGIN) { /* the client's [N] and name, for the console */
            snprintf(j->tag, sizeof j->tag, "[%u]", job_origin_seq(&req.ext[i]));
            j->origin_len = req.ext[i].len - 4u;
            memcpy(j->origin, req.ext[i].value + 4, j->origin_len);
        }
    }
    if (req.unknown_ext) { /* a newer master's: running without it could run it wrong */
        char why[ERR_LEN];
        snprintf(why, sizeof why, "job request with an extension this slave does not know (key %u): a slave older "
                 "than its master?", req.unknown_ext);
        if (log_allow(&sl->garbage_log))
            LOG(LOG_WARN, "job %llu: %s", (unsigned long long)j->id, why);
        job_rx_free(sl, j);
        job_not_started(sl, j, why);
        return;
    }
    j->command = malloc(req.length + 1);
    if (!j->command || job_place(j, &req) < 0) {
        job_drop(sl, j);
        return;
    }
    memcpy(j->command, req.command, req.length);
    j->command[req.length] = 0;
    j->command_len = req.length;
    /* the slave's --timeout is a cap: a request may ask for less, never more */
    uint32_t cap = sl->cfg->default_timeout_ms;
    j->timeout_capped = cap && (!req.timeout_ms || req.timeout_ms > cap);
    j->timeout_ms = j->timeout_capped ? cap : req.timeout_ms;
    job_rx_free(sl, j);
    j->phase = JP_QUEUED;
    sl->queued++;
    j->ack_pending = 1; /* started by jobs_send_acks, once its JOB_ACK has left */
}

void on_result_ack(slave *sl, const dgram *d)
{
    session *s = session_addressed(sl, d);
    job *j = s ? job_find(sl, s, d->job_id) : NULL;
    if (!j || j->phase != JP_SENDING)
        return;
    s->last_heard_ms = clock_ms();
    int progress, complete = d->state == RESULT_ACK_COMPLETE;
    /* "complete" acknowledges every fragment: still an RTT sample (the
     * only one a one-fragment result gives), then the job is forgotten. */
    uint32_t sample = xfer_tx_on_ack(&j->tx, complete ? j->tx.nfrags : d->cum, complete ? 0 : d->sack,
                                     clock_us(), &progress);
    if (complete) {
        if (sample)
            rtt_sample(&s->rtt, sample);
        LOG(LOG_DEBUG, "job %llu: result delivered", (unsigned long long)j->id);
        job_drop(sl, j);
        return;
    }
    if (sample)
        rtt_sample(&s->rtt, sample);
    if (progress)
        j->last_progress_ms = clock_ms();
}

void on_cancel(slave *sl, const dgram *d)
{
    /* Only a master we know, talking to this life of ours, may cancel; to
     * anyone else we say nothing (no reply to unknown senders). */
    session *s = session_addressed(sl, d);
    if (!s)
        return;
    s->last_heard_ms = clock_ms();
    job *j = job_find(sl, s, d->job_id);
    if (j) {
        LOG(LOG_INFO, "job %llu: cancelled by the master", (unsigned long long)j->id);
        if (j->shown && j->phase == JP_RUNNING) /* its console said it started: say how it ended */
            console_printf("%s killed: cancelled by the master", j->tag);
        job_drop(sl, j);
        jobs_start_queued(sl);
    }
    session_take(s, d->job_id); /* a late request must not start it */
    send_job_ack(sl, s, d->job_id, JS_GONE, NULL);
}

typedef struct {
    slave *sl;
    job *j;
} result_send_ctx;

static void send_result_fragment(void *ctx, uint32_t index, uint32_t offset, uint32_t len, enum trace_why why)
{
    result_send_ctx *c = ctx;
    (void)index;
    dgram d = xfer_tx_fragment(&c->j->tx, DG_RESULT, c->j->id, offset, len);
    send_dgram(c->sl, c->j->sess, &d, why);
}

static void on_child_exit(void *ctx, long pid, int status)
{
    slave *sl = ctx;
    for (job *j = sl->jobs; j; j = j->next)
        if (j->phase == JP_RUNNING && j->proc.pid == pid) {
            runner_on_exit(&j->proc, status, clock_us());
            return;
        }
}

/* Step of the loop, before the timers: the commands that exited are
 * collected (runner.h). Exits first, deadlines after: a command that
 * ended while we could not run (stopped, not scheduled) past its
 * --timeout ended in time, and its exit is only waiting to be collected. */
void jobs_reap(slave *sl)
{
    runner_reap(on_child_exit, sl);
}

/* JOBX_STREAM: what the command printed since the last DG_OUTPUT, in
 * chunks of a fragment's size; at most every STREAM_GAP_US unless a
 * whole chunk waits. Only bytes within the cap (the runner's buffers
 * stop there). Best-effort: never retransmitted, the result carries them
 * all again. Returns when to look again (0: nothing waits). */
static uint64_t job_stream(slave *sl, job *j, uint64_t now_us)
{
    static uint8_t chunk[OUTPUT_CHUNK_MAX];
    uint32_t size = frag_size_for(&j->sess->addr);
    int due = 0;
    if (size > OUTPUT_CHUNK_MAX)
        size = OUTPUT_CHUNK_MAX;
    for (int k = 0; k < 2; k++) {
        size_t n = runner_output_read(&j->proc, k, j->streamed[k], chunk, size);
        if (!n)
            continue;
        if (n < size && now_us < j->stream_due_us) { /* less than a chunk, and one left lately */
            due = 1;
            continue;
        }
        for (; n; n = runner_output_read(&j->proc, k, j->streamed[k], chunk, size)) {
            dgram d;
            memset(&d, 0, sizeof d);
            d.type = DG_OUTPUT;
            d.job_id = j->id;
            d.stream = (uint8_t)(k ? OUT_STDERR : OUT_STDOUT);
            d.offset = j->streamed[k];
            d.payload = chunk;
            d.payload_len = (uint32_t)n;
            send_dgram(sl, j->sess, &d, WHY_FIRST); /* best-effort: never again */
            j->streamed[k] += (uint32_t)n;
        }
        j->stream_due_us = now_us + STREAM_GAP_US;
    }
    if (!RUNNER_OUTPUT_WAKES) /* nothing tells us of new output: look again soon */
        return now_us + STREAM_GAP_US;
    return due ? j->stream_due_us : 0;
}

/* Moves every job along: finished commands become results, queued ones
 * start, results are (re)sent, abandoned jobs are dropped. Returns the
 * earliest time (us) something must happen again, 0 if none. */
uint64_t jobs_tick(slave *sl, uint64_t now_us)
{
    uint64_t now_ms = now_us / 1000, next = 0;
    for (job *j = sl->jobs, *nx; j; j = nx) {
        nx = j->next;
        switch (j->phase) {
        case JP_RECEIVING:
            if (elapsed(now_ms, j->last_progress_ms) > RECEIVE_GIVEUP_MS) {
                LOG(LOG_WARN, "job %llu: request incomplete for %us: dropped", (unsigned long long)j->id,
                    RECEIVE_GIVEUP_MS / 1000);
                session_note_lost(j->sess, j->id, GONE_NOT_STARTED);
                job_drop(sl, j);
                continue;
            }
            next = earliest(next, (j->last_progress_ms + RECEIVE_GIVEUP_MS + 1) * 1000);
            break;
        case JP_QUEUED:
            break;
        case JP_RUNNING:
            runner_tick(&j->proc, now_us);
            if (runner_finished(&j->proc)) {
                CommandResult r;
                memset(&r, 0, sizeof r);
                runner_result(&j->proc, &r);
                char why[96];
                if (r.status == RUN_TIMED_OUT && j->timeout_capped && !r.message_len) {
                    snprintf(why, sizeof why, "killed after %g s: the slave's --timeout cap", j->timeout_ms / 1000.0);
                    r.message = why;
                    r.message_len = (uint32_t)strlen(why);
                }
                LOG(LOG_DEBUG, "job %llu: finished, status %d code %d", (unsigned long long)j->id, r.status,
                    r.exit_code);
                sl->running--;
                bwriter keep_out = j->proc.out, keep_err = j->proc.err;
                j->proc.out.data = j->proc.err.data = NULL; /* r points into them */
                job_finish(sl, j, &r);
                bw_free(&keep_out);
                bw_free(&keep_err);
                jobs_start_queued(sl);
                nx = sl->jobs; /* the list may have changed: rescan, cheap */
                continue;
            }
            if (j->stream)
                next = earliest(next, job_stream(sl, j, now_us));
            next = earliest(next, runner_next_deadline(&j->proc));
            break;
        case JP_SENDING: {
            /* a result outlives its master's grace: its next life collects it */
            uint64_t giveup = RESULT_GIVEUP_MS;
            if (j->sess->master_id && sl->cfg->master_grace_ms > giveup)
                giveup = sl->cfg->master_grace_ms;
            if (elapsed(now_ms, j->last_progress_ms) > giveup) {
                LOG(LOG_WARN, "job %llu: result not acknowledged for %llus: dropped", (unsigned long long)j->id,
                    (unsigned long long)(giveup / 1000));
                session_note_lost(j->sess, j->id, job_lost_why(j));
                job_drop(sl, j);
                continue;
            }
            result_send_ctx c = {sl, j};
            uint32_t rto = rtt_timeout(&j->sess->rtt);
            sl->retransmitted += xfer_tx_pump(&j->tx, now_us, rto, send_result_fragment, &c);
            next = earliest(next, xfer_tx_next_deadline(&j->tx, rtt_timeout(&j->sess->rtt)));
            next = earliest(next, (j->last_progress_ms + giveup + 1) * 1000);
            break;
        }
        }
    }
    return next;
}

/* Step of the loop, after a batch of datagrams: each job they touched is
 * answered once, with its state (a probe's reply is this JOB_ACK too);
 * then the requests they completed start. Answer first: starting a
 * command (fork, exec) takes milliseconds, as long as the master's
 * shortest retransmission timer, which would resend a request that
 * arrived. */
void jobs_send_acks(slave *sl)
{
    for (job *j = sl->jobs; j; j = j->next)
        if (j->ack_pending) {
            j->ack_pending = 0;
            send_job_ack(sl, j->sess, j->id, job_state(j), j);
        }
    jobs_start_queued(sl);
}

/* Stopping: every command killed and reaped, every job record freed. */
void jobs_kill_all(slave *sl)
{
    for (job *j = sl->jobs; j; j = j->next)
        if (j->phase == JP_RUNNING)
            runner_kill_and_wait(&j->proc);
    while (sl->jobs) {
        job *j = sl->jobs;
        sl->jobs = j->next;
        job_free(sl, j);
    }
}
