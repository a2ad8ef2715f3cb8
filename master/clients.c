/*
 * clients.c - the master's TCP sessions: accept, the handshake (HELLO,
 * with a key PROVING then READY), frames in (SUBMIT, END), each client's
 * queue of commands, results and notices out, the last word and hangup.
 *
 * Every result a client gets leaves through client_send_result_body (a
 * slave's result, from flights.c's deliver, or the master's own through
 * client_send_failure); master.c's write_step puts the bytes on the wire.
 *
 * Batches (doc/protocol.md 2.6): a client that speaks FRAME_FLAG_RESUME,
 * on a master with a journal, is durable: the client object is its batch
 * and outlives its connection. Its commands and results are in the
 * journal; a connection that dies orphans it (kept --client-grace), and a
 * new connection takes it over with ATTACH (the same client process
 * reconnecting, or client --attach), the results it lacks read back from
 * the journal (client_feed).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "console.h"
#include "journal.h"
#include "trace.h"

#define FEED_HIGH_WATER (4u << 20) /* a durable client's output: beyond, results wait in the journal */

static int connected(const client *cl)
{
    return cl->sock != SOCK_INVALID;
}

/* ------------------------------------------------------------ output --- */

/* A hold ends with the flush that made true what waited (0: none; a held
 * frame never starts at 0, where the WELCOME is). */
static void release_hold(client *cl)
{
    if (cl->out_hold && !journal_unsynced(cl->m))
        cl->out_hold = 0;
}

/* Every frame after the handshake is sealed when there is a key.
 * A durable client's frame that tells of what the journal holds (its
 * batch id, F_ACCEPTED, a result the master made, a notice) waits for the
 * flush, and so do the frames after it: out_hold marks where. A slave's
 * result and BYE need not wait: the slave keeps the result until its
 * RESULT_ACK, which leaves after the flush, so a crash before the flush
 * gets it again (doc/journal.md, "Durable before told"). */
static void frame_done(client *cl, size_t start, int waits_for_flush)
{
    release_hold(cl);
    if (trace_on)
        trace_frame_out(cl->name, &cl->out, start, cl->tagged ? FRAME_SEAL_LEN : 0);
    if (cl->tagged)
        frame_end_sealed(&cl->out, start, &cl->tx_key, cl->tx_seq++);
    else
        frame_end(&cl->out, start);
    if (waits_for_flush && cl->durable && !cl->out_hold && journal_unsynced(cl->m))
        cl->out_hold = cl->out_done + start;
    else if (!waits_for_flush && !cl->out_hold)
        cl->m->early_output = 1;
}

static void client_frame_end(client *cl, size_t start)
{
    frame_done(cl, start, 1);
}

void client_frame_done(client *cl, size_t start)
{
    frame_done(cl, start, 0);
}

void client_send_text(client *cl, uint8_t type, const char *text)
{
    if (!connected(cl)) /* a batch without its client: the notice is for nobody */
        return;
    client_frame_end(cl, text_frame_encode(&cl->out, type, text, strlen(text))); /* cut at FRAME_TEXT_MAX */
}

void client_send_started(client *cl, const flight *f)
{
    /* ATTACH_FOLLOW: not before the COMMANDs (send_running follows them) */
    if (!cl->progress || !connected(cl) || !f->cmd || cl->follow)
        return;
    started_frame st = {.seq = f->cmd->seq, .attempt = (uint16_t)f->cmd->attempts,
                        .host_len = (uint16_t)strlen(f->slave->name), .host = f->slave->name,
                        .run = cl->opts.fail_attempts > 1 ? (uint16_t)(f->cmd->tries + 1) : 0};
    client_frame_end(cl, started_frame_encode(&cl->out, &st));
}

void client_send_output(client *cl, const flight *f, uint8_t stream, uint32_t offset, const uint8_t *data,
                        uint32_t len)
{
    if (!cl->opts.line_buffer || !connected(cl) || !f->cmd || cl->follow)
        return;
    if (stream && bw_pending(&cl->out) > OUTPUT_RELAY_MAX) /* a slow client: its results will carry these bytes */
        return;
    output_frame o = {.seq = f->cmd->seq, .attempt = (uint16_t)f->attempt, .stream = stream, .offset = offset,
                      .len = len, .data = data};
    client_frame_done(cl, output_frame_encode(&cl->out, &o)); /* never journaled: no flush to wait for */
}

/* A connection that asked for F_STARTED takes over a batch: the commands
 * running already, each once (their current attempt), after its BATCH
 * (ATTACH_FOLLOW: after the last COMMAND, client_feed). */
static void send_running(master *m, client *cl)
{
    if (!cl->progress)
        return;
    for (int i = 0; i < m->nslaves; i++)
        for (flight *f = m->slaves[i]->flights; f; f = f->next)
            if (f->cmd && f->cmd->cl == cl && f->cmd->fl == f && !f->fresh)
                client_send_started(cl, f);
}

static void put_result(client *cl, uint32_t seq, const char *host, size_t host_len, const uint8_t *body, size_t len,
                       int waits_for_flush)
{
    size_t start = result_frame_begin(&cl->out, seq, host, host_len);
    if (len > RESULT_FLAGS_OFFSET && (body[RESULT_FLAGS_OFFSET] & RESULT_FLAG_CACHED) && !cl->reads_cached) {
        /* a connection that did not say it reads the cache's mark (an
         * older client --attach following a --cache batch): without it */
        bw_bytes(&cl->out, body, RESULT_FLAGS_OFFSET);
        bw_u8(&cl->out, (uint8_t)(body[RESULT_FLAGS_OFFSET] & ~RESULT_FLAG_CACHED));
        bw_bytes(&cl->out, body + RESULT_FLAGS_OFFSET + 1, len - RESULT_FLAGS_OFFSET - 1);
    } else {
        bw_bytes(&cl->out, body, len); /* the body goes into the frame as it is */
    }
    frame_done(cl, start, waits_for_flush);
    cl->sent++;
}

/* Past the results this connection's client said it holds (ATTACH's held). */
static void skip_held(client *cl)
{
    while (cl->holds && cl->sent < cl->nresults) {
        uint32_t i = cl->results[cl->sent].index;
        if (i >= cl->holds_bits || !(cl->holds[i / 8] >> (i % 8) & 1))
            return;
        cl->sent++;
    }
}

static void grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap)
        return;
    uint32_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, (size_t)n * size);
    if (!p)
        die("out of memory");
    /* zeros: a command whose COMMAND record was lost to damage has offset 0 (the HEADER's: never a COMMAND) */
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
    *arr = p;
    *cap = n;
}

/* F_RESULT: seq, host, then a result body exactly as result_encode makes.
 * Every result of a client passes here: a durable client's goes into the
 * journal first, and to the connection now only if it has every earlier
 * one and reads (else client_feed sends it later, from the journal). */
static void send_result(client *cl, uint32_t index, uint32_t seq, const char *host, const uint8_t *body, size_t len,
                        int waits_for_flush)
{
    cl->last_frame_ms = clock_ms();
    status_count_result(cl->m, cl, body, len);
    client_halt_count(cl, body, len);
    if (cl->durable) {
        record_ref ref = journal_result(cl->m, cl, index, seq, host, body, len);
        grow((void **)&cl->results, &cl->cap_results, cl->nresults + 1, sizeof *cl->results);
        cl->results[cl->nresults] = ref;
    }
    cl->nresults++;
    skip_held(cl); /* a result the client had before a crash lost it: it comes again, not sent again */
    if (connected(cl) && !cl->follow && cl->sent + 1 == cl->nresults &&
        (!cl->durable || bw_pending(&cl->out) < FEED_HIGH_WATER))
        put_result(cl, seq, host, strlen(host), body, len, waits_for_flush);
}

/* The batch's OPTIONS: the frame's fields, or on replay the journal's
 * copy of them (JR_OPTIONS), so that every key, whoever added it, comes
 * back after a restart as it came. Kept as they came (opts points into
 * the copy). 0, or -1 with why (nothing changed). */
int client_set_options(client *cl, const uint8_t *p, size_t n, char *why, size_t whylen)
{
    uint8_t *copy = malloc(n ? n : 1);
    breader r;
    options_frame o;
    if (!copy) {
        snprintf(why, whylen, "master out of memory");
        return -1;
    }
    memcpy(copy, p, n);
    br_init(&r, copy, n);
    const char *bad = NULL;
    if (options_frame_decode(&r, &o) < 0) {
        /* the option it failed on, by its client's name */
        static const char *const names[] = {"", "--halt", "-j", "--delay", "--retries", "--timeout N%",
                                            "--line-buffer", "--wd", "--env", "-j", "--deadline", "--priority",
                                            "--order", "--cache"};
        unsigned k = o.bad_key;
        if (!k)
            snprintf(why, whylen, "malformed OPTIONS (its frame, or --wd and --env too long)");
        else
            snprintf(why, whylen, "malformed OPTIONS: %s (key %u)", k < sizeof names / sizeof *names ? names[k] : "?", k);
        free(copy);
        return -1;
    }
    if (!bad && o.unknown_key) {
        snprintf(why, whylen, "OPTIONS with an option this master does not know (key %u)", o.unknown_key);
        free(copy);
        return -1;
    }
    /* --wd and --env go in each job request: a queued command must leave room for them */
    size_t place = bad ? 0 : options_place_bytes(&o);
    for (command *cmd = cl->qhead; cmd && !bad; cmd = cmd->next)
        if (cmd->len + place > MAX_COMMAND_LEN)
            bad = "OPTIONS: --wd and --env leave no room for a queued command (a job request carries 64 KiB)";
    if (bad) {
        snprintf(why, whylen, "%s", bad);
        free(copy);
        return -1;
    }
    free(cl->opts_raw);
    cl->opts_raw = copy;
    cl->opts_len = (uint32_t)n;
    cl->opts = o;
    cl->deadline_next_ms = 0; /* --deadline: its queue's earliest, found again */
    client_order_lpt(cl->m, cl); /* --order lpt given again after END (a client that resumes) */
    return 0;
}

/* --halt: the client's rule (halt_reached, lib/proto.c), on the
 * results as they are sent, so that nothing more starts once it holds:
 * the client alone would learn it a round trip later. */
void client_halt_count(client *cl, const uint8_t *body, size_t len)
{
    const options_frame *o = &cl->opts;
    if (!o->halt_when || cl->halt_due || cl->cancelled)
        return;
    int failed = len < 5 || body[0] != RUN_EXITED || get_u32(body + 1) != 0;
    if (failed)
        cl->halt_failed++;
    else
        cl->halt_ok++;
    if (halt_reached(o->halt_why, o->halt_pct, o->halt_n, cl->halt_ok, cl->halt_failed, cl->ended, cl->submitted))
        cl->halt_due = o->halt_when;
}

void clients_halt(master *m)
{
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (!cl->halt_due || cl->cancelled)
            continue;
        if (cl->halt_due == 2) {
            client_cancel(m, cl, "--halt now on its client");
        } else if (cl->queued) {
            LOG(LOG_INFO, "batch %016llx: --halt soon: %u queued commands not run, %u running finish",
                (unsigned long long)cl->batch_id, cl->queued, cl->inflight);
            fail_queued(cl, RUN_CANCELLED, "not run: its client halted (--halt soon)");
        }
        cl->opts.halt_when = 0; /* done */
        cl->halt_due = 0;
        cl->halted = 1;
    }
}

/* A slave's result: it may reach the client before the flush. */
void client_send_result_body(client *cl, uint32_t index, uint32_t seq, const char *host, const uint8_t *body,
                             size_t len)
{
    send_result(cl, index, seq, host, body, len, 0);
}

/* A result made by the master itself (not run, no slave...). */
void client_send_failure(client *cl, uint32_t index, uint32_t seq, uint8_t status, const char *host,
                         const char *message)
{
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.exit_code = -1;
    r.start_ms = wall_ms();
    r.message = (char *)message;
    r.message_len = (uint32_t)strlen(message);
    bwriter body;
    bw_init(&body, RESULT_MESSAGE_MAX + 256);
    result_encode(&body, &r);
    if (body.error)
        die("out of memory");
    send_result(cl, index, seq, host, body.data, body.len, 1); /* nobody else could make it again */
    bw_free(&body);
}

void client_check_done(client *cl)
{
    skip_held(cl);
    /* a batch's client hears F_ACCEPTED first (after the flush): a result
     * made at its SUBMIT (--cache, a refused line) leaves in the same turn */
    if (cl->state == CS_ACTIVE && cl->ended && cl->queued == 0 && cl->inflight == 0 && connected(cl) && !cl->follow &&
        cl->sent == cl->nresults && (!cl->resume || !cl->attached || cl->accepted_told == cl->submitted)) {
        frame_done(cl, bye_frame_encode(&cl->out), 0); /* "all sent" promises nothing the slaves do not keep */
        cl->state = CS_CLOSING;
        cl->bye_sent = 1;
        LOG(LOG_INFO, "client %s: all results sent", cl->name);
    }
}

/* A durable client's connection is behind its batch (it attached, or
 * read slowly): the COMMANDs (ATTACH_FOLLOW) and results it lacks are
 * read back from the journal, a few MiB of output at a time. */
static void client_feed(master *m, client *cl)
{
    if (!cl->durable || !connected(cl) || !cl->attached || cl->state != CS_ACTIVE || journal_failing(m))
        return;
    while (cl->follow && cl->sent_commands < cl->submitted && bw_pending(&cl->out) < FEED_HIGH_WATER) {
        command_frame c;
        uint8_t *buf = journal_load_command(m, cl->command_at[cl->sent_commands], &c);
        if (!buf) {
            client_fail(cl, "the master cannot read command %u of this batch back from its journal",
                        cl->sent_commands + 1);
            return;
        }
        client_frame_end(cl, command_frame_encode(&cl->out, &c));
        free(buf);
        cl->sent_commands++;
    }
    if (cl->follow && cl->sent_commands == cl->submitted) {
        cl->follow = 0;
        send_running(m, cl); /* the client knows every seq now */
    }
    while (!cl->follow && (skip_held(cl), cl->sent < cl->nresults) && bw_pending(&cl->out) < FEED_HIGH_WATER) {
        result_frame r;
        const uint8_t *body;
        size_t len;
        uint8_t *buf = journal_load_result(m, cl->results[cl->sent], &r, &body, &len);
        if (!buf) {
            client_fail(cl, "the master cannot read result %u of this batch back from its journal", cl->sent + 1);
            return;
        }
        put_result(cl, r.seq, r.host, r.host_len, body, len, 1);
        free(buf);
    }
    client_check_done(cl);
}

/* ------------------------------------------------------------- queue --- */

/* What a queued command costs the master, for the queue's byte limits. */
size_t command_size(const command *cmd)
{
    return sizeof *cmd + cmd->len + 1;
}

/* --deadline: a command queued counts from its first time; cl's earliest */
static void queue_deadline(client *cl, command *cmd)
{
    if (!cmd->received_ms)
        cmd->received_ms = clock_ms();
    if (cl->deadline_next_ms)
        cl->deadline_next_ms = earliest(cl->deadline_next_ms, sched_start_by(cl, cmd));
}

void queue_push_front(client *cl, command *cmd)
{
    queue_deadline(cl, cmd);
    if (!cl->qhead) /* --priority's aging counts from here (sched.c) */
        cl->aging_since_ms = clock_ms();
    cmd->next = cl->qhead;
    cl->qhead = cmd;
    if (!cl->qtail)
        cl->qtail = cmd;
    cl->queued++;
    cl->queued_bytes += command_size(cmd);
}

void queue_push_back(client *cl, command *cmd)
{
    queue_deadline(cl, cmd);
    if (!cl->qhead)
        cl->aging_since_ms = clock_ms();
    cmd->next = NULL;
    if (cl->qtail)
        cl->qtail->next = cmd;
    else
        cl->qhead = cmd;
    cl->qtail = cmd;
    cl->queued++;
    cl->queued_bytes += command_size(cmd);
}

void queue_remove(client *cl, command *cmd)
{
    command *prev = NULL;
    for (command **pp = &cl->qhead; *pp; prev = *pp, pp = &(*pp)->next)
        if (*pp == cmd) {
            *pp = cmd->next;
            if (cl->qtail == cmd)
                cl->qtail = prev;
            cl->queued--;
            cl->queued_bytes -= command_size(cmd);
            return;
        }
}

/* --order lpt (OPTION_ORDER): once the batch's END came (every command is
 * known), its queue is put longest expected first (LPT: the classic
 * 4/3-approximation of the shortest total time), by the durations the
 * master learned (history.c). A command never seen counts as the mean of
 * the batch's known ones: neither first nor last, so a new command does
 * not push the known long ones back; with none known the order stays.
 * Ties keep the submission order. Done once per life of the batch (the
 * replay's queue is ordered again); what is requeued later (a dead slave,
 * --retries) goes to the front, as in fifo. Before END: fifo. */
typedef struct { command *cmd; uint64_t est; uint32_t pos; } lpt_item;

static int lpt_cmp(const void *a, const void *b)
{
    const lpt_item *x = a, *y = b;
    if (x->est != y->est)
        return x->est > y->est ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void client_order_lpt(master *m, client *cl)
{
    if (cl->opts.order != ORDER_LPT || !cl->ended || cl->lpt_ordered || !cl->qhead)
        return;
    cl->lpt_ordered = 1;
    lpt_item *v = malloc((size_t)cl->queued * sizeof *v);
    if (!v) {
        LOG(LOG_WARN, "batch %016llx: --order lpt: out of memory, its commands go in submission order",
            (unsigned long long)cl->batch_id);
        return;
    }
    uint32_t n = 0, known = 0;
    uint64_t sum = 0;
    for (command *cmd = cl->qhead; cmd && n < cl->queued; cmd = cmd->next, n++) {
        uint64_t est = history_get(&m->durations, history_key(cmd->line, cmd->len));
        v[n] = (lpt_item){cmd, est, n};
        if (est) {
            known++;
            sum += est > UINT64_MAX / 2 / cl->queued ? UINT64_MAX / 2 / cl->queued : est;
        }
    }
    if (known) {
        uint64_t mean = sum / known;
        for (uint32_t i = 0; i < n; i++)
            if (!v[i].est)
                v[i].est = mean;
        qsort(v, n, sizeof *v, lpt_cmp);
        for (uint32_t i = 0; i < n; i++)
            v[i].cmd->next = i + 1 < n ? v[i + 1].cmd : NULL;
        cl->qhead = v[0].cmd;
        cl->qtail = v[n - 1].cmd;
    }
    LOG(LOG_DEBUG, "batch %016llx: --order lpt: %u queued commands, %u of known duration", (unsigned long long)cl->batch_id,
        n, known);
    free(v);
}

/* The command at the head of cl's queue, taken out of it (dispatch). */
command *queue_pop(client *cl)
{
    command *cmd = cl->qhead;
    cl->qhead = cmd->next;
    if (!cl->qhead)
        cl->qtail = NULL;
    cl->queued--;
    cl->queued_bytes -= command_size(cmd);
    cmd->next = NULL;
    return cmd;
}

/* Every queued command of cl gets a result made by the master: status, why. */
void fail_queued(client *cl, uint8_t status, const char *why)
{
    while (cl->qhead) {
        command *cmd = cl->qhead;
        cl->qhead = cmd->next;
        cl->queued--;
        cl->queued_bytes -= command_size(cmd);
        client_send_failure(cl, cmd->index, cmd->seq, status, "", why);
        command_release(cmd);
    }
    cl->qtail = NULL;
    client_check_done(cl);
}

/* ---------------------------------------------------------- sessions --- */

/* cl's queued commands are dropped, its running ones killed on their
 * slaves (their cancels leave in write_step); returns how many ran. */
static unsigned drop_commands(master *m, client *cl)
{
    unsigned cancelled = 0;
    for (int i = 0; i < m->nslaves; i++)
        for (flight *f = m->slaves[i]->flights; f; f = f->next)
            if (f->cmd && f->cmd->cl == cl) {
                flight_cancel(m, f, 0, NULL);
                cancelled++;
            }
    while (cl->qhead) {
        command *cmd = cl->qhead;
        cl->qhead = cmd->next;
        free(cmd->note);
        free(cmd);
    }
    cl->qtail = NULL;
    cl->queued_bytes = 0;
    return cancelled;
}

/* Frees cl: its connection, its queue, its batch. */
void client_close(master *m, client *cl)
{
    unsigned queued = cl->queued, cancelled = drop_commands(m, cl);
    if (m->stopping && cl->durable && (cancelled || queued)) /* shutdown_all: nothing more leaves for the slaves */
        LOG(LOG_INFO, "batch %016llx: %u queued commands kept in the journal, %u running left to their slaves",
            (unsigned long long)cl->batch_id, queued, cancelled);
    else if (cancelled || queued)
        LOG(LOG_INFO, "client %s left: %u queued commands dropped, %u running cancelled", cl->name, queued,
            cancelled);
    else
        LOG(LOG_DEBUG, "client %s disconnected", cl->name);
    net_close(cl->sock);
    bw_free(&cl->in);
    bw_free(&cl->out);
    free(cl->results);
    free(cl->command_at);
    free(cl->holds);
    free(cl->opts_raw);
    free(cl->ok_runs_us);
    crypto_wipe(&cl->rx_key, sizeof cl->rx_key); /* forward secrecy: no key of a finished connection */
    crypto_wipe(&cl->tx_key, sizeof cl->tx_key);
    for (client **pp = &m->clients; *pp; pp = &(*pp)->next)
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    m->nclients--;
    free(cl);
}

/* The connection is gone (closed, reset, hung up after our last word). A
 * client that is not durable goes with it (its commands are cancelled);
 * a durable one stays, as a batch without a connection: orphaned unless
 * it detached or has everything. */
void client_disconnect(master *m, client *cl)
{
    if (!cl->durable || (!cl->attached && !cl->batch_id)) {
        client_close(m, cl);
        return;
    }
    net_close(cl->sock);
    cl->sock = SOCK_INVALID;
    bw_free(&cl->in);
    bw_free(&cl->out);
    bw_init(&cl->in, CLIENT_IN_LIMIT);
    bw_init(&cl->out, CLIENT_OUT_LIMIT);
    cl->out_done = cl->out_hold = 0;
    cl->sent = cl->sent_commands = 0;
    cl->follow = cl->tagged = 0;
    cl->rx_seq = cl->tx_seq = 0;
    crypto_wipe(&cl->rx_key, sizeof cl->rx_key); /* the batch stays, not its connection's keys */
    crypto_wipe(&cl->tx_key, sizeof cl->tx_key);
    cl->hangup_ms = 0;
    cl->bye_sent = 0;
    cl->state = CS_ACTIVE;
    if (cl->detached || cl->delivered || cl->cancelled) {
        LOG(LOG_DEBUG, "batch %016llx: its client disconnected", (unsigned long long)cl->batch_id);
        return;
    }
    cl->orphaned_ms = clock_ms();
    LOG(LOG_INFO, "batch %016llx: client %s gone without detaching: kept %u s for it to come back",
        (unsigned long long)cl->batch_id, cl->name, m->cfg->client_grace_ms / 1000);
}

/* Ends a batch now: queued commands dropped, running ones killed on their
 * slaves. A durable batch is kept (cancelled) until its retention ends. */
void client_cancel(master *m, client *cl, const char *why)
{
    unsigned dropped = cl->queued, cancelled = drop_commands(m, cl);
    cl->queued = 0;
    cl->cancelled = 1;
    cl->orphaned_ms = 0;
    cl->finished_ms = clock_ms();
    if (cl->durable)
        journal_mark(m, cl, JR_CANCEL, 0);
    LOG(LOG_INFO, "batch %016llx cancelled (%s): %u queued commands dropped, %u running killed",
        (unsigned long long)cl->batch_id, why, dropped, cancelled);
}

void client_fail(client *cl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_allow(&cl->m->refusal_log))
        LOG(LOG_WARN, "client %s: %s", cl->name, msg);
    client_send_text(cl, F_ERROR, msg);
    cl->state = CS_CLOSING;
}

/* The handshake is done: the connection takes a client slot. When all are
 * taken, without a key, the client idle longest with nothing queued,
 * running or unsent makes room (it is told why); with a key, or if every
 * client is busy, the newcomer is refused. Returns 0 if it was refused. */
static int client_admit(master *m, client *cl)
{
    unsigned active = 0;
    client *idle = NULL;
    uint64_t now = clock_ms();
    for (client *o = m->clients; o; o = o->next) {
        if (o->state != CS_ACTIVE || !connected(o))
            continue;
        active++;
        if (!o->queued && !o->inflight && !bw_pending(&o->out) && (!idle || o->last_frame_ms < idle->last_frame_ms))
            idle = o;
    }
    if (active >= m->cfg->max_clients) {
        if (m->auth->enabled || !idle) {
            client_fail(cl, "too many clients (at most %u)", m->cfg->max_clients);
            return 0;
        }
        client_fail(idle, "closed to make room for a new client: all %u client slots are taken and this one was "
                    "idle longest (%llu s) with nothing queued or running", m->cfg->max_clients,
                    (unsigned long long)(elapsed(now, idle->last_frame_ms) / 1000));
    }
    cl->state = CS_ACTIVE;
    cl->last_frame_ms = now;
    LOG(LOG_INFO, "client %s connected%s", cl->name,
        !cl->tagged ? "" : cl->key_set ? " (authenticated with the old key: the key file's second line)" : " (authenticated)");
    return 1;
}

static void on_hello(master *m, client *cl, breader *r)
{
    hello_frame h;
    int rc = hello_frame_decode(r, &h);
    if (rc == -2) { /* the right magic: told before its fields, which may differ */
        client_fail(cl, "protocol version %u not supported (this master speaks %u)", h.version, FRAME_VERSION);
        return;
    }
    if (rc < 0) {
        client_fail(cl, "not a serveur_maitre client (bad HELLO)");
        return;
    }
    const uint8_t *tag = h.tag;
    /* The key: both sides have it, or neither. A client proves it knows
     * the key here; the session keys below make every later frame of this
     * connection worthless anywhere else. */
    if (m->auth->enabled && !tag) {
        client_fail(cl, "authentication required: this master has a key (use --key-file or $%s)", AUTH_KEY_ENV);
        return;
    }
    if (!m->auth->enabled && tag) {
        client_fail(cl, "this master has no key: run the client without one (no --key-file, no $%s)", AUTH_KEY_ENV);
        return;
    }
    uint8_t nonces[2 * AUTH_NONCE_LEN]; /* the client's, then ours */
    memcpy(nonces, h.nonce, AUTH_NONCE_LEN);
    auth_random(nonces + AUTH_NONCE_LEN, AUTH_NONCE_LEN);
    /* During a rotation the key file has two keys: a client may prove
     * either; the connection then runs on the one it proved. */
    int set = -1;
    for (int i = 0; tag && set < 0 && i < m->auth->count; i++)
        if (auth_hello_check(&m->auth->set[i].client_to_master, h.signed_fields, FRAME_HELLO_SIGNED, tag))
            set = i;
    if (tag && set < 0) {
        client_fail(cl, "authentication failed: wrong key");
        return;
    }
    /* This connection's frame keys, from an exchange with a fresh key
     * pair whose secret is gone once they are made (forward secrecy). */
    auth_ephemeral eph;
    if (tag) {
        auth_ephemeral_new(&eph);
        int bad = auth_conversation_keys(m->auth, set, AUTH_MASTER_OF_CLIENTS, "frames", nonces, sizeof nonces, &eph,
                                         h.pub, &cl->tx_key, &cl->rx_key) < 0;
        crypto_wipe(eph.secret, sizeof eph.secret);
        if (bad) {
            client_fail(cl, "authentication failed: the client's public key is of low order (refused)");
            return;
        }
    }
    cl->resume = (h.flags & FRAME_FLAG_RESUME) != 0;
    cl->progress = (h.flags & FRAME_FLAG_PROGRESS) != 0;
    cl->reads_cached = (h.flags & FRAME_FLAG_CACHED) != 0;
    cl->timeout_ms = h.timeout_ms;
    cl->retries = h.retries ? h.retries : m->cfg->retries;
    if (cl->retries > HELLO_RETRIES_MAX)
        cl->retries = HELLO_RETRIES_MAX;
    if (!tag && !client_admit(m, cl)) /* with a key, admitted at READY */
        return;
    welcome_frame wf = {.version = FRAME_VERSION, .slaves = (uint16_t)m->nslaves,
                        .alive = (uint16_t)slaves_alive(m), .slots = slots_alive(m),
                        .flags = cl->progress ? FRAME_FLAG_PROGRESS : 0};
    memcpy(wf.nonce, nonces + AUTH_NONCE_LEN, sizeof wf.nonce);
    if (tag)
        memcpy(wf.pub, eph.pub, sizeof wf.pub);
    /* with a key, the master proves it knows it too (the key the client proved) */
    size_t start = welcome_frame_encode(&cl->out, &wf, tag ? &m->auth->set[set].master_to_client : NULL, h.nonce);
    if (trace_on)
        trace_frame_out(cl->name, &cl->out, start, 0);
    frame_end(&cl->out, start);
    cl->tagged = tag != NULL;
    cl->key_set = set > 0 ? set : 0;
    if (tag)
        cl->state = CS_PROVING;
}

static void on_submit(master *m, client *cl, breader *r)
{
    submit_frame sf;
    if (submit_frame_decode(r, &sf) < 0) {
        client_fail(cl, "malformed SUBMIT frame");
        return;
    }
    uint32_t seq = sf.seq;
    size_t len = sf.len;
    const uint8_t *cmd = sf.command;
    if (len > MAX_COMMAND_LEN) /* the frame's maximum allows a few bytes more */
        len = MAX_COMMAND_LEN + 1;
    command *j = malloc(sizeof *j + len + 1);
    if (!j) {
        client_fail(cl, "master out of memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->cl = cl;
    j->index = cl->submitted++;
    j->seq = seq;
    j->len = (uint32_t)len;
    memcpy(j->line, cmd, len);
    j->line[len] = 0;
    /* Every SUBMIT is in the journal, even one answered at once: the
     * client counts what is accepted by SUBMIT, and each has its result. */
    if (cl->durable) {
        grow((void **)&cl->command_at, &cl->cap_commands, cl->submitted, sizeof *cl->command_at);
        cl->command_at[j->index] = journal_command(m, cl, j);
    }
    /* While stopping, a durable batch's command waits in the journal for
     * the next life, as its queued ones do; another client's is cancelled. */
    int cancelled = m->stopping && !cl->durable;
    const char *refused = cancelled ? "the master is shutting down"
                          : len == 0 ? "empty command"
                          : len > MAX_COMMAND_LEN ? "command too long"
                          : len + options_place_bytes(&cl->opts) > MAX_COMMAND_LEN
                              ? "command too long with this batch's --wd and --env (a job request carries 64 KiB)"
                          : memchr(cmd, 0, len) ? "NUL byte in command" : NULL;
    if (refused) {
        client_send_failure(cl, j->index, seq, cancelled ? RUN_CANCELLED : RUN_REJECTED, "", refused);
        free(j);
        return;
    }
    /* --cache: a hit is answered now, unless its client does not read what
     * it has (a hit has no dispatch to hold it back): then it queues as a
     * command and is looked up when its turn comes (dispatch_step), under
     * the back-pressure and --max-queued every command has */
    if (cl->opts.cache && bw_pending(&cl->out) > OUT_HIGH_WATER)
        j->cache_deferred = 1;
    else if (cl->opts.cache && cache_answer(m, cl, j)) { /* it succeeded before: its result, not run */
        free(j); /* done: END's client_check_done says BYE (after ACCEPTED), as for a refused one */
        return;
    }
    j->received_ms = clock_ms();
    if (cl->durable && cl->opts.deadline_ms) /* its deadline outlives this master: from now, not from a restart */
        journal_queued(m, cl, j);
    queue_push_back(cl, j);
}

/* ------------------------------------------------------------ batches --- */

static client *batch_find(master *m, uint64_t id)
{
    for (client *o = m->clients; o; o = o->next)
        if (o->durable && o->batch_id == id)
            return o;
    return NULL;
}

uint8_t batch_state(const client *cl)
{
    if (cl->cancelled)
        return BATCH_CANCELLED;
    if (cl->delivered)
        return BATCH_DELIVERED;
    if (cl->ended && !cl->queued && !cl->inflight)
        return BATCH_FINISHED;
    if (connected(cl))
        return BATCH_ATTACHED;
    return cl->detached ? BATCH_DETACHED : BATCH_ORPHANED;
}

static void send_batch_frame(client *cl)
{
    batch_frame b = {.batch = cl->batch_id,
                     .flags = (uint8_t)((cl->durable ? BATCH_FLAG_DURABLE : 0) | (cl->ended ? BATCH_FLAG_ENDED : 0)),
                     /* SUBMITs received are on disk before this frame leaves (write_step) */
                     .accepted = cl->submitted,
                     .total = cl->ended ? cl->submitted : 0,
                     .done = cl->nresults};
    client_frame_end(cl, batch_frame_encode(&cl->out, &b));
}

/* ATTACH_LIST: one BATCH_INFO per batch, then BYE. */
static void list_batches(master *m, client *cl)
{
    for (client *o = m->clients; o; o = o->next) {
        if (!o->durable || !o->batch_id)
            continue;
        batch_info_frame bi = {o->batch_id, o->created_wall_ms, batch_state(o), o->submitted, o->nresults,
                               o->inflight, (uint16_t)strlen(o->name), o->name};
        client_frame_end(cl, batch_info_frame_encode(&cl->out, &bi));
    }
    client_frame_end(cl, bye_frame_encode(&cl->out));
    cl->state = CS_CLOSING;
}

/* The connection of cl takes over batch t (ATTACH_RESUME, ATTACH_FOLLOW):
 * socket, buffers and keys move to t; cl, an empty shell, is freed. */
static void take_over(client *cl, client *t, const attach_frame *a)
{
    if (connected(t)) { /* the same client, reconnected: its old connection is dead or dying */
        LOG(LOG_INFO, "batch %016llx: client %s reconnected: dropping its previous connection",
            (unsigned long long)t->batch_id, cl->name);
        net_close(t->sock);
    }
    bw_free(&t->in);
    bw_free(&t->out);
    t->sock = cl->sock;
    t->in = cl->in;
    t->out = cl->out;
    t->out_done = cl->out_done;
    t->out_hold = cl->out_hold;
    memcpy(t->name, cl->name, sizeof t->name);
    t->tagged = cl->tagged;
    t->rx_key = cl->rx_key;
    t->tx_key = cl->tx_key;
    t->rx_seq = cl->rx_seq;
    t->tx_seq = cl->tx_seq;
    t->resume = 1;
    t->progress = cl->progress;
    t->reads_cached = cl->reads_cached; /* this connection's, not the one before */
    t->attached = 1;
    t->state = CS_ACTIVE;
    t->connected_ms = cl->connected_ms;
    t->last_frame_ms = clock_ms();
    t->hangup_ms = 0;
    t->bye_sent = 0;
    t->orphaned_ms = 0;
    t->follow = a->mode == ATTACH_FOLLOW;
    t->sent_commands = 0;
    t->sent = a->have;
    /* it skips those it holds (doc/journal.md): after damage, or after a
     * crash that cut results it had before their flush (those came back
     * in another order, or not yet) */
    if ((t->order_unsure || t->replayed) && t->sent > t->results_sure)
        t->sent = t->results_sure;
    if (t->sent > t->nresults) /* results it had before their flush, lost with it: they come again, it skips them */
        t->sent = t->nresults;
    /* It says which it holds: every other one goes, from the first, in the
     * journal's order (which a crash may have changed since it saw them). */
    free(t->holds);
    t->holds = NULL;
    t->holds_bits = 0;
    if (a->held && (t->holds = malloc((a->held_bits + 7) / 8 + 1))) {
        memcpy(t->holds, a->held, (a->held_bits + 7) / 8);
        t->holds_bits = a->held_bits;
        t->sent = 0;
    }
    if (t->delivered || (t->ended && !t->queued && !t->inflight))
        t->delivered = 0, t->finished_ms = 0; /* to be delivered again */
    cl->sock = SOCK_INVALID;
    bw_init(&cl->in, CLIENT_IN_LIMIT);
    bw_init(&cl->out, CLIENT_OUT_LIMIT);
    LOG(LOG_INFO, "batch %016llx: %s attached (%s, it has %u of %u results)", (unsigned long long)t->batch_id,
        t->name, a->mode == ATTACH_FOLLOW ? "following" : "resuming", a->have, t->nresults);
    send_batch_frame(t);
    if (!t->follow)
        send_running(cl->m, t);
    client_check_done(t);
}

/* The first frame of a client that speaks batches. Returns the client
 * that goes on with this connection: cl, or the batch it took over. */
static client *on_attach(master *m, client *cl, breader *r)
{
    attach_frame a;
    if (attach_frame_decode(r, &a) < 0) {
        client_fail(cl, "malformed ATTACH frame");
        return cl;
    }
    if (a.mode == ATTACH_LIST) {
        list_batches(m, cl);
        return cl;
    }
    if (a.mode == ATTACH_STATUS) {
        status_send(m, cl);
        return cl;
    }
    if (a.mode == ATTACH_NEW) {
        if (m->stopping) {
            client_fail(cl, "the master is shutting down");
            return cl;
        }
        if (m->journal && journal_failing(m)) {
            client_fail(cl, "the master cannot write its journal (%s): it takes no new batches for now",
                        journal_error(m));
            return cl;
        }
        unsigned kept = 0;
        client *oldest_kept = NULL; /* finished, its client gone: kept only for a later --attach */
        for (client *o = m->clients; o && m->journal && m->cfg->max_batches; o = o->next) {
            kept += o->durable && o->batch_id;
            if (o->durable && o->batch_id && o->finished_ms && !connected(o) &&
                (!oldest_kept || o->finished_ms < oldest_kept->finished_ms))
                oldest_kept = o;
        }
        if (m->journal && m->cfg->max_batches && kept >= m->cfg->max_batches && oldest_kept) {
            LOG(LOG_INFO, "batch %016llx: forgotten before its --keep-results ends, to make room for a new one "
                "(--max-batches %u)", (unsigned long long)oldest_kept->batch_id, m->cfg->max_batches);
            journal_mark(m, oldest_kept, JR_FORGET, 0);
            client_close(m, oldest_kept);
            kept--;
        }
        if (m->journal && m->cfg->max_batches && kept >= m->cfg->max_batches) {
            client_fail(cl, "the master keeps %u unfinished batches, its limit (--max-batches %u): no new batch until "
                        "some finish (or are cancelled after --client-grace if orphaned)",
                        kept, m->cfg->max_batches);
            return cl;
        }
        cl->attached = 1;
        cl->batch_id = boot_id_new();
        cl->created_wall_ms = wall_ms();
        cl->durable = m->journal != NULL;
        if (cl->durable)
            journal_batch(m, cl);
        send_batch_frame(cl);
        return cl;
    }
    if (a.mode != ATTACH_RESUME && a.mode != ATTACH_FOLLOW) {
        client_fail(cl, "ATTACH with an unknown mode %u", a.mode);
        return cl;
    }
    client *t = batch_find(m, a.batch);
    if (!m->journal) {
        client_fail(cl, "this master keeps no journal (--ephemeral): no batch can be attached to");
        return cl;
    }
    if (!t || t == cl) {
        client_fail(cl, "no batch %016llx on this master", (unsigned long long)a.batch);
        return cl;
    }
    if (t->cancelled) {
        client_fail(cl, "batch %016llx was cancelled", (unsigned long long)a.batch);
        return cl;
    }
    if (a.mode == ATTACH_FOLLOW && connected(t) && t->state != CS_CLOSING) {
        client_fail(cl, "batch %016llx is attached to another client (%s)", (unsigned long long)a.batch, t->name);
        return cl;
    }
    if (a.mode == ATTACH_FOLLOW && !t->ended) {
        client_fail(cl, "batch %016llx is not complete: its client left before sending all its commands",
                    (unsigned long long)a.batch);
        return cl;
    }
    if (a.have > t->nresults && !t->order_unsure && !t->replayed) {
        client_fail(cl, "this client says it holds %u results of batch %016llx, which has %u", a.have,
                    (unsigned long long)a.batch, t->nresults);
        return cl;
    }
    take_over(cl, t, &a);
    return t;
}

/* ACK after BYE: the client holds count results. All of them: the batch
 * is delivered, and kept --keep-results for client --attach. */
static void on_ack(master *m, client *cl, breader *r)
{
    count_frame c;
    if (count_frame_decode(r, &c) < 0 || !cl->durable || cl->delivered)
        return;
    if (c.count == cl->nresults && cl->ended && !cl->queued && !cl->inflight) {
        cl->delivered = 1;
        cl->finished_ms = clock_ms();
        journal_mark(m, cl, JR_DELIVERED, c.count);
    }
}

/* Returns the client that goes on with the connection (on_attach). */
static client *on_client_frame(master *m, client *cl, uint8_t type, breader *r)
{
    if (cl->state == CS_HELLO) {
        if (type != F_HELLO)
            client_fail(cl, "expected HELLO, got frame type %u", type);
        else
            on_hello(m, cl, r);
        return cl;
    }
    if (cl->state == CS_PROVING) { /* its tag was good: this is the live client */
        if (type != F_READY)
            client_fail(cl, "expected READY, got frame type %u (%s)", type, frame_type_name(type));
        else
            client_admit(m, cl);
        return cl;
    }
    if (cl->state == CS_CLOSING) { /* after BYE, the client's ACK */
        if (type == F_ACK)
            on_ack(m, cl, r);
        return cl;
    }
    if (cl->resume && !cl->attached) {
        if (type != F_ATTACH) {
            client_fail(cl, "expected ATTACH, got frame type %u (%s)", type, frame_type_name(type));
            return cl;
        }
        return on_attach(m, cl, r);
    }
    switch (type) {
    case F_SUBMIT:
        if (cl->ended)
            client_fail(cl, "SUBMIT after END");
        else if (cl->follow || (cl->resume && cl->batch_id && cl->ended))
            client_fail(cl, "SUBMIT to a batch this client did not submit");
        else
            on_submit(m, cl, r);
        break;
    case F_END: {
        end_frame e;
        if (end_frame_decode(r, &e) < 0) {
            client_fail(cl, "malformed END frame");
            break;
        }
        if (e.count != cl->submitted) {
            client_fail(cl, "END says %u commands, %u were submitted", e.count, cl->submitted);
            break;
        }
        cl->ended = 1;
        if (cl->durable)
            journal_end(m, cl, e.count);
        client_order_lpt(m, cl); /* --order lpt: all its commands are known now */
        client_check_done(cl);
        break;
    }
    case F_OPTIONS: {
        char why[160];
        const uint8_t *p = r->data + r->pos;
        size_t n = br_left(r);
        /* the same again (a client that resumes says them again): nothing to journal */
        int same = cl->opts_raw && cl->opts_len == n && !memcmp(cl->opts_raw, p, n);
        if (!cl->resume) {
            client_fail(cl, "malformed OPTIONS");
            break;
        }
        if (!same && client_set_options(cl, p, n, why, sizeof why) < 0) {
            client_fail(cl, "%s", why);
            break;
        }
        if (!same && cl->durable) /* replay re-applies them: -j, --delay, --halt, --wd, --env... */
            journal_options(m, cl);
        if (!same && cl->opts.cache && !cache_enabled(&m->cache))
            client_send_text(cl, F_NOTICE, "--cache: this master's cache is off (serveur_maitre --cache-age 0 or "
                             "--cache-size 0): every command runs");
        break;
    }
    case F_CANCEL:
        if (!cl->resume)
            goto unexpected;
        if (cancel_frame_mode(r) == CANCEL_QUEUED) { /* --halt soon: what runs finishes, nothing new starts */
            LOG(LOG_INFO, "batch %016llx: its client halts: %u queued commands not run, %u running finish",
                (unsigned long long)cl->batch_id, cl->queued, cl->inflight);
            fail_queued(cl, RUN_CANCELLED, "not run: its client halted (--halt soon)");
            cl->halted = 1;
            break;
        }
        if (!cl->cancelled) /* (--halt now cancelled it already) */
            client_cancel(m, cl, "Ctrl-C on its client");
        cl->state = CS_CLOSING; /* nothing more to say: the client is leaving */
        break;
    case F_DETACH:
        if (!cl->resume || !cl->durable)
            goto unexpected;
        if (!cl->ended) { /* it could never end: no END will come, and FOLLOW needs one */
            client_fail(cl, "DETACH before END: a batch is detached with all its commands (END first)");
            break;
        }
        cl->detached = 1;
        journal_mark(m, cl, JR_DETACH, 0);
        LOG(LOG_INFO, "batch %016llx: client %s detached", (unsigned long long)cl->batch_id, cl->name);
        client_frame_end(cl, bye_frame_encode(&cl->out));
        cl->state = CS_CLOSING;
        break;
    case F_ACK:
        break; /* before BYE: nothing to do */
    default:
    unexpected:
        client_fail(cl, "unexpected frame type %u (%s)", type, frame_type_name(type));
    }
    return cl;
}

/* Reads what the client sent and handles every whole frame. Returns -1
 * when the client is gone, 1 when its connection moved to another client
 * object (ATTACH: cl is freed; the frames after it went to that one, which
 * is disconnected here if they were bad), 0 otherwise. */
int client_read(master *m, client *cl)
{
    if (bw_reserve(&cl->in, CLIENT_READ_CHUNK) < 0) {
        client_fail(cl, "input buffer full");
        return 0;
    }
    long n = net_recv(cl->sock, cl->in.data + cl->in.len, CLIENT_READ_CHUNK);
    if (n == NET_AGAIN)
        return 0;
    if (n <= 0)
        return -1;
    cl->in.len += (size_t)n;
    int moved = 0;
    for (;;) {
        uint8_t type;
        breader fields;
        /* opened before anything of it is read */
        long used = frame_open(bw_at(&cl->in, 0), bw_pending(&cl->in), FRAME_MAX_FROM_CLIENT,
                               cl->tagged ? &cl->rx_key : NULL, cl->rx_seq, &type, &fields);
        if (used == FRAME_TAMPERED) {
            if (log_allow(&m->garbage_log))
                LOG(LOG_WARN, "client %s: frame failed authentication (tampered with?): disconnecting", cl->name);
            goto gone;
        }
        if (used < 0) {
            if (log_allow(&m->garbage_log))
                LOG(LOG_WARN, "client %s: garbage (frame length out of range): disconnecting", cl->name);
            goto gone;
        }
        if (used == 0)
            break;
        if (cl->tagged)
            cl->rx_seq++;
        if (trace_on)
            trace_frame(TRACE_RECV, cl->name, type, &fields, (size_t)used);
        cl->last_frame_ms = clock_ms();
        client *went = on_client_frame(m, cl, type, &fields);
        if (went != cl) { /* the connection is went's now, its input too */
            went->rx_seq = cl->rx_seq;
            bw_consume(&went->in, (size_t)used);
            client_close(m, cl);
            cl = went; /* the frames after ATTACH in this read are went's */
            moved = 1;
            if (cl->state == CS_CLOSING && !cl->bye_sent)
                break;
            continue;
        }
        bw_consume(&cl->in, (size_t)used);
        if (cl->state == CS_CLOSING && !cl->bye_sent)
            break;
    }
    return moved;
gone:
    if (!moved)
        return -1;
    client_disconnect(m, cl); /* the caller's client is freed: it cannot */
    return 1;
}

/* What may go of cl's output now: up to out_hold, if something waits. */
static size_t writable(client *cl)
{
    release_hold(cl);
    size_t n = bw_pending(&cl->out);
    if (cl->out_hold && cl->out_hold - cl->out_done < n)
        n = (size_t)(cl->out_hold - cl->out_done);
    return n;
}

int client_write(client *cl)
{
    size_t left;
    while ((left = writable(cl)) > 0) {
        long n = net_send(cl->sock, bw_head(&cl->out), left);
        if (n == NET_AGAIN)
            return 0;
        if (n <= 0)
            return -1;
        bw_consume(&cl->out, (size_t)n);
        cl->out_done += (uint64_t)n;
    }
    return 0;
}

void accept_client(master *m)
{
    net_addr peer;
    sock_t s = net_tcp_accept(m->listener, &peer);
    if (s == SOCK_INVALID)
        return;
    client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        net_close(s);
        return;
    }
    cl->m = m;
    cl->id = ++m->next_client_id;
    cl->sock = s;
    net_addr_str(&peer, cl->name, sizeof cl->name);
    bw_init(&cl->in, CLIENT_IN_LIMIT);
    bw_init(&cl->out, CLIENT_OUT_LIMIT);
    cl->state = CS_HELLO;
    cl->connected_ms = clock_ms();
    cl->next = NULL;
    client **pp = &m->clients;
    while (*pp)
        pp = &(*pp)->next;
    *pp = cl; /* creation order: round robin follows ids */
    m->nclients++;
    /* At most max_clients connections in their handshake: the oldest one
     * makes room, so connections that say nothing (or replay a HELLO) hold
     * no one off for long. It is closed at once, told why. */
    unsigned handshaking = 0;
    client *oldest = NULL;
    for (client *o = m->clients; o; o = o->next)
        if (o->state == CS_HELLO || o->state == CS_PROVING) {
            handshaking++;
            if (!oldest)
                oldest = o; /* the list is in creation order */
        }
    if (handshaking > m->cfg->max_clients && oldest != cl) {
        if (log_allow(&m->refusal_log))
            LOG(LOG_WARN, "client %s: handshake not finished and %u newer ones waiting: closed", oldest->name,
                handshaking - 1);
        client_send_text(oldest, F_ERROR, "handshake not finished and too many newer connections waiting: closed");
        client_write(oldest);
        client_close(m, oldest);
    }
}

/* ------------------------------------------------------- loop steps --- */

/* The memory of the queued commands of all clients. */
size_t clients_queued_bytes(const master *m)
{
    size_t all_queued = 0;
    for (const client *cl = m->clients; cl; cl = cl->next)
        all_queued += cl->queued_bytes;
    return all_queued;
}

/* What the loop polls cl for. Back-pressure: stop reading a client whose
 * queue is full, in commands or in bytes, or that has a queue while all
 * queues together (all_queued) are full (one read adds at most
 * CLIENT_IN_LIMIT). */
short client_poll_events(const master *m, client *cl, size_t all_queued)
{
    short ev = 0;
    if (cl->queued < m->cfg->max_queued && cl->queued_bytes < CLIENT_QUEUE_BYTES &&
        (all_queued < ((size_t)m->cfg->queue_total_mib << 20) || !cl->queued) && cl->state != CS_CLOSING)
        ev |= NET_IN;
    if (writable(cl) && !(cl->durable && journal_failing(m))) /* else it waits: the next flush, or journal_tick's retry */
        ev |= NET_OUT;
    if (cl->state == CS_CLOSING)
        ev |= NET_IN; /* to notice the client closing */
    return ev;
}

/* The read step, for a client with input (or a hangup): its frames are
 * handled. Returns 1 if the client is gone (closed and freed). */
int client_on_input(master *m, client *cl)
{
    int gone;
    if (cl->state == CS_CLOSING && !cl->bye_sent) {
        char sink[4096]; /* what it sends after our last word is ignored */
        long r = net_recv(cl->sock, sink, sizeof sink);
        gone = r != NET_AGAIN && r <= 0;
    } else {
        int rc = client_read(m, cl); /* after BYE: its ACK */
        if (rc == 1)
            return 1; /* its connection went to the batch it attached to */
        gone = rc < 0;
    }
    if (gone)
        client_disconnect(m, cl);
    return gone;
}

/* The write step, for every client: what is queued for it goes out, and
 * after its last word the hangup. Returns 1 if the client is gone. */
int client_on_output(master *m, client *cl)
{
    int gone = 0;
    if (!connected(cl))
        return 0;
    if (cl->durable && journal_failing(m))
        return 0; /* nothing it gets could be kept: it waits, whole */
    if (!journal_unsynced(m))
        client_feed(m, cl); /* reads records back: only those on disk */
    if (cl->out.error) {
        LOG(LOG_WARN, "client %s: more than %zu bytes of results waiting: disconnecting", cl->name,
            (size_t)CLIENT_OUT_LIMIT);
        gone = 1;
    }
    if (!gone && bw_pending(&cl->out))
        gone = client_write(cl) < 0;
    /* Last word (BYE or ERROR) written: send FIN but keep reading
     * until the client closes too, so that unread input of ours
     * does not turn into a reset that could destroy that word. */
    if (!gone && cl->state == CS_CLOSING && !bw_pending(&cl->out)) {
        if (!cl->hangup_ms) {
            net_shutdown_write(cl->sock);
            cl->hangup_ms = clock_ms();
        } else if (elapsed(clock_ms(), cl->hangup_ms) >= HANGUP_WAIT_MS) {
            gone = 1;
        }
    }
    if (gone)
        client_disconnect(m, cl);
    return gone;
}

/* After a group commit: every SUBMIT received is on disk; a client that
 * speaks batches is told how many (F_ACCEPTED). */
void clients_after_flush(master *m)
{
    for (client *cl = m->clients; cl; cl = cl->next) {
        cl->accepted = cl->submitted;
        if (cl->resume && cl->attached && connected(cl) && cl->state == CS_ACTIVE && cl->accepted != cl->accepted_told) {
            count_frame c = {cl->accepted};
            client_frame_end(cl, count_frame_encode(&cl->out, F_ACCEPTED, &c));
            cl->accepted_told = cl->accepted;
            client_check_done(cl); /* its BYE, if it waited for this */
        }
    }
}

/* A durable batch's timers: the grace of an orphaned one, the retention
 * of a finished one. Returns the next deadline, or NO_DEADLINE. */
static uint64_t batch_tick(master *m, client *cl, uint64_t now_ms, int *forget)
{
    *forget = 0;
    if (cl->orphaned_ms) {
        if (elapsed(now_ms, cl->orphaned_ms) < m->cfg->client_grace_ms)
            return cl->orphaned_ms + m->cfg->client_grace_ms;
        cl->orphaned_ms = 0;
        if (cl->ended && !cl->queued && !cl->inflight) { /* everything done, never collected */
            cl->finished_ms = now_ms;
            LOG(LOG_INFO, "batch %016llx: finished, its client never came back for it: kept %u s",
                (unsigned long long)cl->batch_id, m->cfg->keep_results_ms / 1000);
        } else {
            char why[120];
            snprintf(why, sizeof why, "its client did not come back within %u s", m->cfg->client_grace_ms / 1000);
            client_cancel(m, cl, why);
        }
    }
    if (!cl->finished_ms && cl->detached && !connected(cl) && cl->ended && !cl->queued && !cl->inflight) {
        cl->finished_ms = now_ms; /* detached, finished, never collected: its retention starts */
        LOG(LOG_INFO, "batch %016llx: finished, detached: kept %u s for client --attach",
            (unsigned long long)cl->batch_id, m->cfg->keep_results_ms / 1000);
    }
    if (!cl->finished_ms || connected(cl))
        return NO_DEADLINE;
    if (elapsed(now_ms, cl->finished_ms) < m->cfg->keep_results_ms)
        return cl->finished_ms + m->cfg->keep_results_ms;
    *forget = 1;
    return NO_DEADLINE;
}

/* --deadline: cl's queued commands that could not start in time end not
 * started (a result each, counted as failed: --halt, the exit status);
 * returns the next one's time. The queue is walked only when its
 * earliest comes (deadline_next_ms). */
static uint64_t deadline_tick(client *cl, uint64_t now_ms)
{
    if (!cl->opts.deadline_ms || !cl->qhead)
        return NO_DEADLINE;
    if (cl->deadline_next_ms && now_ms < cl->deadline_next_ms)
        return cl->deadline_next_ms;
    uint64_t next = NO_DEADLINE;
    unsigned n = 0;
    char why[100];
    snprintf(why, sizeof why, "not started within the batch's --deadline of %g s", cl->opts.deadline_ms / 1000.0);
    for (command **pp = &cl->qhead, *prev = NULL; *pp;) {
        command *cmd = *pp;
        uint64_t by = sched_start_by(cl, cmd);
        if (by > now_ms) {
            if (by != NO_DEADLINE) { /* the queue is in arrival order: the rest are later */
                next = by;
                break;
            }
            prev = cmd;
            pp = &cmd->next;
            continue;
        }
        *pp = cmd->next;
        if (cl->qtail == cmd)
            cl->qtail = prev;
        cl->queued--;
        cl->queued_bytes -= command_size(cmd);
        client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, "", why);
        command_release(cmd);
        n++;
    }
    cl->deadline_next_ms = next; /* NO_DEADLINE: none of them has one (until a push) */
    if (n) {
        LOG(LOG_DEBUG, "client %s: %u command%s not started within --deadline", cl->name, n, n > 1 ? "s" : "");
        client_check_done(cl);
    }
    return next;
}

/* The clients' timers: the hangup wait, the HELLO deadline, --deadline, and commands
 * waiting while no slave is alive (say why, then give up). Runs after
 * slaves_tick, which decides who is alive. */
uint64_t clients_tick(master *m, uint64_t now_ms)
{
    uint64_t next_ms = NO_DEADLINE;
    int none_alive = slaves_alive(m) == 0;
    for (client *cl = m->clients, *nx; cl; cl = nx) {
        nx = cl->next;
        if (cl->durable && cl->batch_id) {
            int forget;
            next_ms = earliest(next_ms, batch_tick(m, cl, now_ms, &forget));
            if (forget) {
                LOG(LOG_INFO, "batch %016llx: retention over: forgotten", (unsigned long long)cl->batch_id);
                journal_mark(m, cl, JR_FORGET, 0);
                client_close(m, cl);
                continue;
            }
        }
        if (cl->hangup_ms)
            next_ms = earliest(next_ms, cl->hangup_ms + HANGUP_WAIT_MS);
        next_ms = earliest(next_ms, deadline_tick(cl, now_ms)); /* --deadline */
        if (cl->opts.delay_ms && cl->qhead && cl->next_start_ms > now_ms) /* --delay: its next start */
            next_ms = earliest(next_ms, cl->next_start_ms);
        if (cl->state == CS_HELLO || cl->state == CS_PROVING) { /* it must not hold a place for ever */
            if (elapsed(now_ms, cl->connected_ms) < HELLO_WAIT_MS)
                next_ms = earliest(next_ms, cl->connected_ms + HELLO_WAIT_MS);
            else if (cl->state == CS_HELLO)
                client_fail(cl, "no HELLO within %u s", HELLO_WAIT_MS / 1000);
            else
                client_fail(cl, "no READY within %u s of connecting (a replayed HELLO?)", HELLO_WAIT_MS / 1000);
        }
        if (!cl->qhead || !none_alive) {
            cl->waiting_since_ms = 0;
            cl->told_waiting = 0;
            continue;
        }
        if (!cl->waiting_since_ms)
            cl->waiting_since_ms = now_ms;
        if (!cl->told_waiting) {
            char msg[200];
            snprintf(msg, sizeof msg, "waiting: no slave available (0 of %d answering); giving up after %u s",
                     m->nslaves, m->cfg->no_slave_ms / 1000);
            client_send_text(cl, F_NOTICE, msg);
            cl->told_waiting = 1;
        }
        if (elapsed(now_ms, cl->waiting_since_ms) >= m->cfg->no_slave_ms) {
            fail_queued(cl, RUN_NO_SLAVE, "no slave available");
            continue;
        }
        next_ms = earliest(next_ms, cl->waiting_since_ms + m->cfg->no_slave_ms);
    }
    return next_ms;
}

/* ------------------------------------------------------------- replay --- */

/* A batch from the journal (journal.c's replay): durable, with no
 * connection until its client attaches again. */
client *client_restore(master *m, uint64_t batch_id, uint64_t created_wall_ms, uint32_t timeout_ms, uint32_t retries,
                       const char *name)
{
    client *cl = calloc(1, sizeof *cl);
    if (!cl)
        die("out of memory");
    cl->m = m;
    cl->id = ++m->next_client_id;
    cl->sock = SOCK_INVALID;
    snprintf(cl->name, sizeof cl->name, "%s", name);
    bw_init(&cl->in, CLIENT_IN_LIMIT);
    bw_init(&cl->out, CLIENT_OUT_LIMIT);
    cl->state = CS_ACTIVE;
    cl->resume = cl->attached = cl->durable = cl->replayed = 1;
    cl->batch_id = batch_id;
    cl->created_wall_ms = created_wall_ms;
    cl->timeout_ms = timeout_ms;
    cl->retries = retries;
    cl->connected_ms = cl->last_frame_ms = clock_ms();
    client **pp = &m->clients;
    while (*pp)
        pp = &(*pp)->next;
    *pp = cl;
    m->nclients++;
    return cl;
}

/* A COMMAND record: cmd is the batch's SUBMIT number cmd->index. */
void client_restore_command(client *cl, command *cmd, uint64_t offset)
{
    if (cmd->index >= cl->submitted)
        cl->submitted = cmd->index + 1;
    grow((void **)&cl->command_at, &cl->cap_commands, cl->submitted, sizeof *cl->command_at);
    cl->command_at[cmd->index] = offset;
}

/* The journal lost records: the commands the replay queued again may
 * have been dispatched (and run) by the previous life. Each gets a
 * result saying so instead of running again. Returns how many. */
unsigned client_fail_restored(client *cl, const char *why)
{
    unsigned n = 0;
    command *keep = NULL, **tail = &keep;
    while (cl->qhead) {
        command *cmd = queue_pop(cl);
        if (!cmd->restored) {
            *tail = cmd;
            tail = &cmd->next;
            continue;
        }
        client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, "", why);
        command_release(cmd);
        n++;
    }
    for (command *cmd = keep, *nx; cmd; cmd = nx) { /* back, in their order */
        nx = cmd->next;
        queue_push_back(cl, cmd);
    }
    client_check_done(cl);
    return n;
}

/* A RESULT record: the batch's next result. */
void client_restore_result(client *cl, uint64_t offset, uint32_t len, uint32_t index)
{
    grow((void **)&cl->results, &cl->cap_results, cl->nresults + 1, sizeof *cl->results);
    cl->results[cl->nresults++] = (record_ref){offset, len, index};
}

/* ------------------------------------------------------ the result cache --- */

/* client --cache (OPTION_CACHE): cmd, just SUBMITted, succeeded before on
 * this master with the same line, --wd and --env (cache.c cache_key):
 * its stored result goes to the client now, marked RESULT_FLAG_CACHED,
 * and nothing runs. The result is the one stored (its slave, start time,
 * run time), journaled for a durable batch as any result, and held until
 * the flush of the SUBMIT's record (as a result the master makes). */
int cache_answer(master *m, client *cl, const command *cmd)
{
    if (!cache_enabled(&m->cache))
        return 0;
    uint8_t key[CACHE_KEY_LEN];
    cache_key(key, cmd->line, cmd->len, &cl->opts);
    uint32_t timeout_ms = sched_timeout_ms(cl);
    cache_entry *e = cache_get(&m->cache, key, wall_ms(), (uint64_t)timeout_ms * 1000u);
    journal_cache_released(m); /* an expired entry it dropped */
    if (!e)
        return 0;
    LOG(LOG_DEBUG, "command %u of %s: from the cache (ran on %s)", cmd->seq, cl->name, e->host);
    console_printf("[%u] client %s: cached (ran on %s)", cmd->seq, cl->name, e->host);
    /* the mark, on the entry's own bytes while they are copied out (no
     * copy of a result of up to 64 MiB for one byte): taken off again */
    e->body[RESULT_FLAGS_OFFSET] |= RESULT_FLAG_CACHED;
    send_result(cl, cmd->index, cmd->seq, e->host, e->body, e->body_len, 1);
    e->body[RESULT_FLAGS_OFFSET] &= (uint8_t)~RESULT_FLAG_CACHED;
    return 1;
}

/* deliver (flights.c): the result of f, a --cache batch's request, as it
 * leaves for its client; kept if cache_result_storable says so, under the
 * key of the request as it was sent (flight_new): an OPTIONS frame sent
 * while it ran (another --wd, --env) must not file it under another. */
void cache_store(master *m, const flight *f, const uint8_t *body, size_t len)
{
    if (!f->cache_keyed || !cache_enabled(&m->cache) || !cache_result_storable(body, len))
        return;
    const command *cmd = f->cmd;
    const char *host = f->slave->name;
    uint64_t now = wall_ms();
    cache_entry *e = cache_put(&m->cache, f->cache_key, now, now, host, strlen(host), body, len);
    if (e)
        journal_cache(m, e);
    else
        LOG(LOG_DEBUG, "command %u of %s: its result (%zu bytes) is not cached: larger than --cache-size", cmd->seq,
            cmd->cl->name, len);
    journal_cache_released(m); /* what it evicted, or the entry it replaced */
}

/* The entries past --cache-age go (from the first stored); the next one
 * to expire is the deadline. Ages are on the wall clock (they outlive the
 * master); a clock step makes the deadline early or late, never a spin:
 * timers_step wakes at least every PING_INTERVAL_MS anyway. */
uint64_t cache_tick(master *m, uint64_t now_ms)
{
    if (!m->cache.entries)
        return NO_DEADLINE;
    uint64_t left = cache_expire(&m->cache, wall_ms());
    journal_cache_released(m);
    return left == UINT64_MAX ? NO_DEADLINE : now_ms + (left ? left : 1);
}
