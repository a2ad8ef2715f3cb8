/*
 * clients.c - the master's TCP sessions: accept, the handshake (HELLO,
 * with a key PROVING then READY), frames in (SUBMIT, END), each client's
 * queue of commands, results and notices out, the last word and hangup.
 *
 * Every result a client gets leaves through client_send_result_body (a
 * slave's result, from flights.c's deliver, or the master's own through
 * client_send_failure); master.c's write_step puts the bytes on the wire.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

/* ------------------------------------------------------------ output --- */

/* Every frame after the handshake carries a tag when there is a key. */
static void client_frame_end(client *cl, size_t start)
{
    if (cl->tagged)
        frame_end_tagged(&cl->out, start, &cl->tx_key, cl->tx_seq++);
    else
        frame_end(&cl->out, start);
}

void client_send_text(client *cl, uint8_t type, const char *text)
{
    client_frame_end(cl, text_frame_encode(&cl->out, type, text, strlen(text))); /* cut at FRAME_TEXT_MAX */
}

/* F_RESULT: seq, host, then a result body exactly as result_encode makes. */
void client_send_result_body(client *cl, uint32_t seq, const char *host, const uint8_t *body, size_t len)
{
    cl->last_frame_ms = clock_ms();
    size_t start = result_frame_begin(&cl->out, seq, host, strlen(host));
    bw_bytes(&cl->out, body, len); /* the body goes into the frame as it is */
    client_frame_end(cl, start);
}

/* A result made by the master itself (not run, no slave...). */
void client_send_failure(client *cl, uint32_t seq, uint8_t status, const char *host, const char *message)
{
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.exit_code = -1;
    r.start_ms = wall_ms();
    r.message = (char *)message;
    r.message_len = (uint32_t)strlen(message);
    cl->last_frame_ms = clock_ms();
    size_t start = result_frame_begin(&cl->out, seq, host, strlen(host));
    result_encode(&cl->out, &r);
    client_frame_end(cl, start);
}

void client_check_done(client *cl)
{
    if (cl->state == CS_ACTIVE && cl->ended && cl->queued == 0 && cl->inflight == 0) {
        client_frame_end(cl, bye_frame_encode(&cl->out));
        cl->state = CS_CLOSING;
        LOG(LOG_INFO, "client %s: all results sent", cl->name);
    }
}

/* ------------------------------------------------------------- queue --- */

/* What a queued command costs the master, for the queue's byte limits. */
size_t command_size(const command *cmd)
{
    return sizeof *cmd + cmd->len + 1;
}

void queue_push_front(client *cl, command *cmd)
{
    cmd->next = cl->qhead;
    cl->qhead = cmd;
    if (!cl->qtail)
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
        client_send_failure(cl, cmd->seq, status, "", why);
        command_release(cmd);
    }
    cl->qtail = NULL;
    client_check_done(cl);
}

/* ---------------------------------------------------------- sessions --- */

void client_close(master *m, client *cl)
{
    /* Queued commands are dropped; running ones are killed on their slave. */
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
        free(cmd);
    }
    if (cancelled || cl->queued)
        LOG(LOG_INFO, "client %s left: %u queued commands dropped, %u running cancelled", cl->name, cl->queued,
            cancelled);
    else
        LOG(LOG_DEBUG, "client %s disconnected", cl->name);
    net_close(cl->sock);
    bw_free(&cl->in);
    bw_free(&cl->out);
    for (client **pp = &m->clients; *pp; pp = &(*pp)->next)
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    m->nclients--;
    free(cl);
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
        if (o->state != CS_ACTIVE)
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
    LOG(LOG_INFO, "client %s connected%s", cl->name, cl->tagged ? " (authenticated)" : "");
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
    uint8_t master_nonce[AUTH_NONCE_LEN];
    auth_random(master_nonce, sizeof master_nonce);
    if (tag && !auth_hello_check(&m->auth->client_to_master, h.signed_fields, FRAME_HELLO_SIGNED, tag)) {
        client_fail(cl, "authentication failed: wrong key");
        return;
    }
    cl->timeout_ms = h.timeout_ms;
    cl->retries = h.retries ? h.retries : m->cfg->retries;
    if (cl->retries > HELLO_RETRIES_MAX)
        cl->retries = HELLO_RETRIES_MAX;
    if (!tag && !client_admit(m, cl)) /* with a key, admitted at READY */
        return;
    unsigned slots = 0;
    for (int i = 0; i < m->nslaves; i++)
        if (m->slaves[i]->alive)
            slots += slave_capacity(m->slaves[i]);
    welcome_frame wf = {.version = FRAME_VERSION, .slaves = (uint16_t)m->nslaves,
                        .alive = (uint16_t)slaves_alive(m), .slots = slots};
    memcpy(wf.nonce, master_nonce, sizeof wf.nonce);
    /* with a key, the master proves it knows it too */
    frame_end(&cl->out, welcome_frame_encode(&cl->out, &wf, tag ? &m->auth->master_to_client : NULL, h.nonce));
    if (tag)
        auth_frame_keys(m->auth, h.nonce, master_nonce, &cl->rx_key, &cl->tx_key);
    cl->tagged = tag != NULL;
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
    cl->submitted++;
    if (m->stopping) {
        client_send_failure(cl, seq, RUN_CANCELLED, "", "the master is shutting down");
        return;
    }
    if (len == 0 || len > MAX_COMMAND_LEN || memchr(cmd, 0, len)) {
        client_send_failure(cl, seq, RUN_REJECTED, "",
                            len == 0 ? "empty command" : len > MAX_COMMAND_LEN ? "command too long" : "NUL byte in command");
        return;
    }
    command *j = malloc(sizeof *j + len + 1);
    if (!j) {
        client_fail(cl, "master out of memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->cl = cl;
    j->seq = seq;
    j->len = (uint32_t)len;
    memcpy(j->line, cmd, len);
    j->line[len] = 0;
    if (cl->qtail)
        cl->qtail->next = j;
    else
        cl->qhead = j;
    cl->qtail = j;
    cl->queued++;
    cl->queued_bytes += command_size(j);
}

/* temporary: the lead replaces this (issue 10 batches). Lets a client
 * that speaks batches (FRAME_FLAG_RESUME) use this master, which has
 * none: ATTACH_NEW gets a BATCH without BATCH_FLAG_DURABLE (the batch dies
 * with the connection, as before), each SUBMIT an ACCEPTED; ACK and CANCEL
 * need nothing (the hang-up that follows CANCEL cancels). 1 if handled. */
static int on_batch_stub_frame(client *cl, uint8_t type, breader *r)
{
    if (type == F_ATTACH) {
        attach_frame a;
        if (attach_frame_decode(r, &a) < 0 || a.mode != ATTACH_NEW || cl->batch_stub || cl->submitted) {
            client_fail(cl, "this master keeps no batches: it takes a new batch only");
            return 1;
        }
        cl->batch_stub = 1;
        batch_frame b = {.batch = cl->id};
        client_frame_end(cl, batch_frame_encode(&cl->out, &b));
        return 1;
    }
    if (type == F_SUBMIT && cl->batch_stub && !cl->ended) {
        unsigned before = cl->submitted;
        on_submit(cl->m, cl, r);
        count_frame n = {.count = cl->submitted};
        if (cl->submitted != before && cl->state == CS_ACTIVE)
            client_frame_end(cl, count_frame_encode(&cl->out, F_ACCEPTED, &n));
        return 1;
    }
    return type == F_ACK || type == F_CANCEL;
}

static void on_client_frame(master *m, client *cl, uint8_t type, breader *r)
{
    if (cl->state == CS_HELLO) {
        if (type != F_HELLO)
            client_fail(cl, "expected HELLO, got frame type %u", type);
        else
            on_hello(m, cl, r);
        return;
    }
    if (cl->state == CS_PROVING) { /* its tag was good: this is the live client */
        if (type != F_READY)
            client_fail(cl, "expected READY, got frame type %u (%s)", type, frame_type_name(type));
        else
            client_admit(m, cl);
        return;
    }
    if (cl->state != CS_ACTIVE)
        return;
    if (on_batch_stub_frame(cl, type, r))
        return;
    switch (type) {
    case F_SUBMIT:
        if (cl->ended)
            client_fail(cl, "SUBMIT after END");
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
        client_check_done(cl);
        break;
    }
    default:
        client_fail(cl, "unexpected frame type %u (%s)", type, frame_type_name(type));
    }
}

/* Reads what the client sent and handles every whole frame. Returns -1
 * when the client is gone. */
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
    for (;;) {
        uint8_t type;
        breader fields;
        long used = frame_parse(bw_head(&cl->in), bw_pending(&cl->in), FRAME_MAX_FROM_CLIENT, &type, &fields);
        if (used < 0) {
            if (log_allow(&m->garbage_log))
                LOG(LOG_WARN, "client %s: garbage (frame length out of range): disconnecting", cl->name);
            return -1;
        }
        if (used == 0)
            break;
        if (cl->tagged && !frame_check_tag(&fields, type, &cl->rx_key, cl->rx_seq++)) {
            if (log_allow(&m->garbage_log))
                LOG(LOG_WARN, "client %s: frame with a bad tag: disconnecting", cl->name);
            return -1;
        }
        cl->last_frame_ms = clock_ms();
        on_client_frame(m, cl, type, &fields);
        bw_consume(&cl->in, (size_t)used);
        if (cl->state == CS_CLOSING)
            break;
    }
    return 0;
}

int client_write(client *cl)
{
    while (bw_pending(&cl->out) > 0) {
        long n = net_send(cl->sock, bw_head(&cl->out), bw_pending(&cl->out));
        if (n == NET_AGAIN)
            return 0;
        if (n <= 0)
            return -1;
        bw_consume(&cl->out, (size_t)n);
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
short client_poll_events(const master *m, const client *cl, size_t all_queued)
{
    short ev = 0;
    if (cl->queued < m->cfg->max_queued && cl->queued_bytes < CLIENT_QUEUE_BYTES &&
        (all_queued < ((size_t)m->cfg->queue_total_mib << 20) || !cl->queued) && cl->state != CS_CLOSING)
        ev |= NET_IN;
    if (bw_pending(&cl->out))
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
    if (cl->state == CS_CLOSING) {
        char sink[4096]; /* what it sends after our last word is ignored */
        long r = net_recv(cl->sock, sink, sizeof sink);
        gone = r != NET_AGAIN && r <= 0;
    } else {
        gone = client_read(m, cl) < 0;
    }
    if (gone)
        client_close(m, cl);
    return gone;
}

/* The write step, for every client: what is queued for it goes out, and
 * after its last word the hangup. Returns 1 if the client is gone. */
int client_on_output(master *m, client *cl)
{
    int gone = 0;
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
        client_close(m, cl);
    return gone;
}

/* The clients' timers: the hangup wait, the HELLO deadline, and commands
 * waiting while no slave is alive (say why, then give up). Runs after
 * slaves_tick, which decides who is alive. */
uint64_t clients_tick(master *m, uint64_t now_ms)
{
    uint64_t next_ms = NO_DEADLINE;
    int none_alive = slaves_alive(m) == 0;
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (cl->hangup_ms)
            next_ms = earliest(next_ms, cl->hangup_ms + HANGUP_WAIT_MS);
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
