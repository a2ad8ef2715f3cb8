/*
 * slave.c - the slave daemon: one UDP socket, one event loop, a table of
 * jobs. doc/protocol.md walks through a job's life.
 *
 * At-most-once execution (NFS's duplicate request cache, per job id):
 * every job id a master uses is remembered in a per-master window from its
 * "floor" (below it every job is finished for the master). A request for a
 * job we have is answered with the job's state; one we had and finished is
 * answered GONE; it never starts the command again.
 */
#define _GNU_SOURCE
#include "slave.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dedup.h"
#include "log.h"
#include "platform.h"
#include "proto.h"
#include "runner.h"
#include "xfer.h"

#define MAX_SESSIONS 64
#define SESSION_IDLE_MS 90000u      /* a session with no job, silent this long, may be reused */
#define COOKIE_LIFE_MS 60000u       /* a cookie is good this long after it was issued */
#define SESSION_RX_MAX (4u << 20)   /* incomplete requests of one master, in bytes */
#define SLAVE_RX_MAX (32u << 20)    /* ... and of all of them */
#define MAX_JOBS 4096               /* jobs held at once, all states */
/* ... and by one master life: what its slots can hold (it sends no more
 * than slots_total at once) twice over, results waiting for their
 * acknowledgement included, so that a single peer cannot take them all. */
#define SESSION_MAX_JOBS(sl) (2u * (unsigned)(sl)->cfg->slots + 16u)
#define RECEIVE_GIVEUP_MS 30000u    /* a request whose fragments stopped coming */
#define RESULT_GIVEUP_MS 120000u    /* a result nobody acknowledges */
#define MASTER_SILENT_MS 10000u     /* masters ping every 500 ms: after this, it is gone */
#define LEAVING_COPIES 3            /* DG_LEAVING sent this many times on SIGTERM */
#define LEAVING_GAP_MS 20
#define DROP_REPORTS 16              /* peers whose refused datagrams are counted */
#define DROP_REPORT_MS 60000u       /* a count of them once a minute, not a line each */

enum job_phase { JP_RECEIVING, JP_QUEUED, JP_RUNNING, JP_SENDING };

typedef struct session {
    int used;
    int superseded; /* the master restarted: its old jobs are gone, the ids stay taken */
    net_addr addr;
    uint64_t master_boot;
    replay_window replay;    /* sequence numbers seen from this master */
    hmac_key tx_key, rx_key; /* keys of this conversation (both boots in) */
    dedup_window taken;               /* job ids taken from this master */
    rtt_estimator rtt;
    uint64_t last_heard_ms;
    size_t rx_bytes; /* memory of its incomplete requests */
    unsigned njobs;  /* jobs it holds here, all states (at most session_max_jobs) */
    uint32_t cookie_ms; /* when the cookie of its last handshake was issued (our clock_ms, mod 2^32) */
} session;

typedef struct job {
    struct job *next;
    session *sess;
    uint64_t id;
    enum job_phase phase;
    int ack_pending;            /* answer with a JOB_ACK after this batch */
    uint32_t request_frags;
    xfer_rx rx;                 /* JP_RECEIVING */
    size_t rx_charge;           /* what rx counts in sess->rx_bytes and the slave's */
    char *command;              /* JP_QUEUED, JP_RUNNING */
    uint32_t timeout_ms;
    runner_proc proc;           /* JP_RUNNING */
    xfer_tx tx;                 /* JP_SENDING */
    uint64_t last_progress_ms;
} job;

/* Datagrams refused for one reason from one address: the first is logged,
 * then how many more once a minute (a master without the key pings twice
 * a second for ever). */
typedef struct {
    int used;
    net_addr addr;
    const char *why;
    unsigned count;
    uint64_t since_ms;
} drop_report;

typedef struct {
    const slave_config *cfg;
    sock_t sock;
    uint64_t boot;
    uint64_t next_seq; /* of every datagram we send */
    hmac_key cookie_key; /* random, this life only: cookies of an earlier life are void */
    size_t rx_bytes;     /* memory of every incomplete request */
    const auth_keys *auth;
    session sessions[MAX_SESSIONS];
    job *jobs;
    unsigned njobs, running, queued;
    int stopping;
    log_limiter garbage_log, send_log;
    drop_report drops[DROP_REPORTS];
    uint8_t dgram_buf[DGRAM_MAX];
} slave;

/* ----------------------------------------------------------- sessions --- */

static void job_free(slave *sl, job *j);

static void session_drop_jobs(slave *sl, session *s)
{
    for (job **pp = &sl->jobs; *pp;) {
        job *j = *pp;
        if (j->sess == s) {
            *pp = j->next;
            job_free(sl, j);
        } else {
            pp = &j->next;
        }
    }
}

/* The master says every job below floor is finished for it: a job of
 * ours below it was given up by the master (it thought us dead and ran
 * the command elsewhere), so it must not go on here either. */
static void session_advance_floor(slave *sl, session *s, uint64_t floor)
{
    if (floor <= s->taken.floor)
        return;
    dedup_advance(&s->taken, floor);
    for (job **pp = &sl->jobs; *pp;) {
        job *j = *pp;
        if (j->sess == s && j->id < floor) {
            LOG(LOG_INFO, "job %llu: abandoned by the master: dropped", (unsigned long long)j->id);
            *pp = j->next;
            job_free(sl, j);
        } else {
            pp = &j->next;
        }
    }
}

static int session_has_jobs(const slave *sl, const session *s)
{
    for (const job *j = sl->jobs; j; j = j->next)
        if (j->sess == s)
            return 1;
    return 0;
}

/* The keys of a conversation between a master's life and a slave's: the
 * same derivation as the master's (master.c slave_set_keys). */
static void conversation_keys(const slave *sl, uint64_t master_boot, uint64_t slave_boot, hmac_key *rx, hmac_key *tx)
{
    uint8_t mb[8], sb[8];
    if (!sl->auth->enabled)
        return;
    put_u32(mb, (uint32_t)(master_boot >> 32)), put_u32(mb + 4, (uint32_t)master_boot);
    put_u32(sb, (uint32_t)(slave_boot >> 32)), put_u32(sb + 4, (uint32_t)slave_boot);
    auth_session_key(&sl->auth->master_to_slave, "dgram", mb, 8, sb, 8, rx);
    if (tx)
        auth_session_key(&sl->auth->slave_to_master, "dgram", mb, 8, sb, 8, tx);
}

/* Sessions are found by the master's boot id, not by address: a datagram
 * replayed from elsewhere lands in the same session, and its window. */
static session *session_find(slave *sl, uint64_t master_boot)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &sl->sessions[i];
        if (s->used && s->master_boot == master_boot)
            return s;
    }
    return NULL;
}

/* Cookies (DTLS's HelloVerifyRequest, WireGuard's cookie reply): when it
 * was issued (our monotonic ms, 4 bytes), then a MAC of that time and of
 * the master's life and address under a key of this life (12 bytes).
 * Nothing is stored for a peer that has not come back with one, and a
 * recording cannot bring one back from an earlier life of ours or from
 * more than a minute ago. */
static void cookie_make(const slave *sl, uint64_t master_boot, const net_addr *from, uint32_t issued_ms,
                        uint8_t out[COOKIE_LEN])
{
    uint8_t in[12], mac[SHA256_LEN];
    char name[80];
    put_u32(in, (uint32_t)(master_boot >> 32)), put_u32(in + 4, (uint32_t)master_boot);
    put_u32(in + 8, issued_ms);
    net_addr_str(from, name, sizeof name);
    hmac_sha256_2(&sl->cookie_key, in, sizeof in, name, strlen(name), mac);
    put_u32(out, issued_ms);
    memcpy(out + 4, mac, COOKIE_LEN - 4);
}

/* 1 and the time it was issued if d carries a cookie we gave this master
 * life at this address less than COOKIE_LIFE_MS ago. */
static int cookie_valid(const slave *sl, const dgram *d, const net_addr *from, uint32_t *issued_ms)
{
    uint8_t want[COOKIE_LEN];
    uint32_t issued = get_u32(d->cookie);
    if ((uint32_t)clock_ms() - issued > COOKIE_LIFE_MS) /* also one "issued" in the future */
        return 0;
    cookie_make(sl, d->sender_boot, from, issued, want);
    if (!equal_const_time(want, d->cookie, COOKIE_LEN))
        return 0;
    *issued_ms = issued;
    return 1;
}

/* A master's life that just proved it is at this address now (a cookie of
 * ours, fresh) supersedes every other life at the same address: the jobs of
 * those are killed (nobody will collect their results), their sessions
 * stay, marked superseded, so that a late datagram from them is still
 * recognised and runs nothing. Which life is current is decided by who
 * completed a round trip last, never by a clock. Returns the session, or
 * NULL when the table is full of masters with jobs or recently heard. */
static session *session_open(slave *sl, const net_addr *from, const dgram *d, uint32_t cookie_ms)
{
    uint64_t now = clock_ms();
    char name[80];
    net_addr_str(from, name, sizeof name);
    /* Handshakes are ordered by when their cookie was issued: a cookie older
     * than the one that opened the live session at this address (a handshake
     * PING held back on the path, then sent) supersedes nothing. Both are
     * less than a minute old then, so the 32-bit times compare safely. */
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *t = &sl->sessions[i];
        if (t->used && !t->superseded && t->master_boot != d->sender_boot && net_addr_equal(&t->addr, from) &&
            (uint32_t)now - t->cookie_ms <= COOKIE_LIFE_MS && (int32_t)(t->cookie_ms - cookie_ms) > 0) {
            if (log_allow(&sl->garbage_log))
                LOG(LOG_WARN, "master %016llx at %s: handshake older than that of master %016llx: ignored",
                    (unsigned long long)d->sender_boot, name, (unsigned long long)t->master_boot);
            return NULL;
        }
    }
    session *s = session_find(sl, d->sender_boot);
    if (!s) {
        /* A free slot, else a session without jobs that has been silent for
         * SESSION_IDLE_MS (longer than a cookie lives), superseded ones and
         * the least recently heard first. A session holding jobs is never
         * reused: its taken ids are what keeps a command from running twice. */
        session *victim = NULL;
        for (int i = 0; i < MAX_SESSIONS; i++) {
            session *t = &sl->sessions[i];
            if (!t->used) {
                victim = t;
                break;
            }
            if (session_has_jobs(sl, t) || elapsed(now, t->last_heard_ms) <= SESSION_IDLE_MS)
                continue;
            if (!victim || (t->superseded && !victim->superseded) ||
                (t->superseded == victim->superseded && t->last_heard_ms < victim->last_heard_ms))
                victim = t;
        }
        if (!victim) {
            if (log_allow(&sl->garbage_log))
                LOG(LOG_WARN, "session table full (%d masters with jobs or heard from in the last %u s): "
                    "master %s (boot %016llx) must wait", MAX_SESSIONS, SESSION_IDLE_MS / 1000, name,
                    (unsigned long long)d->sender_boot);
            return NULL;
        }
        if (victim->used)
            LOG(LOG_INFO, "forgetting master %016llx, silent for %llu s, to serve a new one",
                (unsigned long long)victim->master_boot, (unsigned long long)(elapsed(now, victim->last_heard_ms) / 1000));
        s = victim;
        memset(s, 0, sizeof *s);
        s->used = 1;
        s->master_boot = d->sender_boot;
        conversation_keys(sl, s->master_boot, sl->boot, &s->rx_key, &s->tx_key);
        dedup_init(&s->taken, d->floor);
        rtt_init(&s->rtt);
        /* Nothing this master sent before the datagram that opened the
         * session is accepted in it (recorded PINGs, a delayed JOB). */
        replay_start(&s->replay, d->seq);
        LOG(LOG_INFO, "new master %s (boot %016llx)", name, (unsigned long long)s->master_boot);
    } else if (s->superseded) {
        LOG(LOG_INFO, "master %016llx at %s is back (fresh handshake)", (unsigned long long)s->master_boot, name);
        s->superseded = 0;
    }
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *t = &sl->sessions[i];
        if (t == s || !t->used || t->superseded || !net_addr_equal(&t->addr, from))
            continue;
        LOG(LOG_INFO, "master %016llx at the same address restarted: dropping its previous jobs",
            (unsigned long long)t->master_boot);
        session_drop_jobs(sl, t);
        t->superseded = 1;
    }
    s->addr = *from;
    s->last_heard_ms = now;
    s->cookie_ms = cookie_ms;
    return s;
}

/* ---------------------------------------------------------------- jobs --- */

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

static void job_free(slave *sl, job *j)
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
    j->sess->njobs--;
    free(j);
    sl->njobs--;
}

static void job_unlink(slave *sl, job *j)
{
    for (job **pp = &sl->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    job_free(sl, j);
}

static unsigned slots_free(const slave *sl)
{
    unsigned busy = sl->running + sl->queued;
    return busy >= (unsigned)sl->cfg->slots ? 0 : (unsigned)sl->cfg->slots - busy;
}

/* Every datagram leaves through here: to a master's life, with the key of
 * our conversation with it (tx_key; ignored without a key). */
static void send_capped(slave *sl, const net_addr *to, uint64_t master_boot, const hmac_key *tx_key, dgram *d,
                        size_t cap)
{
    d->sender_boot = sl->boot;
    d->receiver_boot = master_boot;
    d->seq = ++sl->next_seq;
    size_t n = dgram_encode(d, sl->dgram_buf, cap < sizeof sl->dgram_buf ? cap : sizeof sl->dgram_buf,
                            sl->auth->enabled ? tx_key : NULL);
    if (n && net_sendto(sl->sock, sl->dgram_buf, n, to) == NET_ERROR && log_allow(&sl->send_log))
        LOG(LOG_WARN, "sendto: %s", net_last_error());
}

static void send_to(slave *sl, const net_addr *to, uint64_t master_boot, const hmac_key *tx_key, dgram *d)
{
    send_capped(sl, to, master_boot, tx_key, d, DGRAM_MAX);
}

/* The answer to whatever comes from a master's life we have no session
 * with (never met, forgotten, or it talks to an earlier life of ours):
 * "start over, with this cookie". It is sent to the source address,
 * unverified, so it is never larger than the datagram it answers (no
 * amplification) and nothing is kept. */
static void send_cookie(slave *sl, const net_addr *from, const dgram *d, size_t request_len)
{
    dgram r;
    hmac_key rx, tx;
    memset(&r, 0, sizeof r);
    r.type = DG_COOKIE;
    r.job_id = d->job_id;
    r.echo_us = d->type == DG_PING ? d->echo_us : 0;
    cookie_make(sl, d->sender_boot, from, (uint32_t)clock_ms(), r.cookie);
    conversation_keys(sl, d->sender_boot, sl->boot, &rx, &tx);
    send_capped(sl, from, d->sender_boot, &tx, &r, request_len);
}

static void send_dgram(slave *sl, const session *s, dgram *d)
{
    send_to(sl, &s->addr, s->master_boot, &s->tx_key, d);
}

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
    send_dgram(sl, s, &d);
}

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

/* Turns a finished (or unstartable) job into a result to send. */
static void job_send_result(slave *sl, job *j, CommandResult *r)
{
    bwriter w;
    bw_init(&w, RESULT_MAX_BYTES);
    result_encode(&w, r);
    runner_free(&j->proc);
    free(j->command);
    j->command = NULL;
    j->phase = JP_SENDING;
    j->last_progress_ms = clock_ms();
    if (w.error || xfer_tx_init(&j->tx, w.data, (uint32_t)w.len, frag_size_for(&j->sess->addr)) < 0) {
        LOG(LOG_ERROR, "job %llu: out of memory for its result", (unsigned long long)j->id);
        bw_free(&w);
        job_unlink(sl, j);
        return;
    }
}

static void job_start(slave *sl, job *j)
{
    char err[256];
    sl->queued--;
    if (sl->cfg->allow && !allow_list_permits(sl->cfg->allow, j->command)) {
        static const char why[] = "serveur_esclave: command refused: not allowed by this slave's policy (--allow)\n";
        LOG(LOG_WARN, "job %llu: refused by the policy: %.80s", (unsigned long long)j->id, j->command);
        CommandResult r;
        memset(&r, 0, sizeof r);
        r.status = RUN_EXITED;
        r.exit_code = 126; /* the shell's "found but cannot be run" */
        r.start_ms = wall_ms();
        r.stderr_data = (char *)why;
        r.stderr_len = sizeof why - 1;
        r.message = "refused by the slave's policy (--allow)";
        r.message_len = (uint32_t)strlen(r.message);
        job_send_result(sl, j, &r);
        return;
    }
    if (runner_start(&j->proc, j->command, sl->cfg->output_cap, j->timeout_ms, err, sizeof err) < 0) {
        LOG(LOG_WARN, "job %llu: cannot start: %s", (unsigned long long)j->id, err);
        CommandResult r;
        memset(&r, 0, sizeof r);
        r.status = RUN_NOT_STARTED;
        r.exit_code = -1;
        r.start_ms = wall_ms();
        r.message = err;
        r.message_len = (uint32_t)strlen(err);
        job_send_result(sl, j, &r);
        return;
    }
    j->phase = JP_RUNNING;
    sl->running++;
    LOG(LOG_DEBUG, "job %llu: started pid %d: %.80s", (unsigned long long)j->id, (int)j->proc.pid, j->command);
}

static void start_queued_jobs(slave *sl)
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

/* --------------------------------------------------------- datagrams --- */

/* A session whose master has been silent for MASTER_SILENT_MS is dormant:
 * its jobs were killed, and until the master completes a handshake again
 * nothing it sent long ago (a JOB delayed or recorded on the path) runs. */
static int session_dormant(const session *s)
{
    return elapsed(clock_ms(), s->last_heard_ms) > MASTER_SILENT_MS;
}

static void on_job_fragment(slave *sl, const net_addr *from, const dgram *d, size_t n)
{
    /* Only a session opened by a cookie handshake runs anything: a JOB
     * meant for an earlier life of ours, or from a master we do not know
     * (now), is answered "start over" and runs nothing. */
    session *s = d->receiver_boot == sl->boot ? session_find(sl, d->sender_boot) : NULL;
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
        if (!j || xfer_rx_init(&j->rx, d->total, d->frag_size, MAX_COMMAND_LEN + 16) < 0) {
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
        dedup_mark(&s->taken, d->job_id);
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
        CommandResult r;
        memset(&r, 0, sizeof r);
        r.status = RUN_NOT_STARTED;
        r.exit_code = -1;
        r.start_ms = wall_ms();
        r.message = "malformed job request";
        r.message_len = (uint32_t)strlen(r.message);
        job_rx_free(sl, j);
        job_send_result(sl, j, &r);
        return;
    }
    j->command = malloc(req.length + 1);
    if (!j->command) {
        job_unlink(sl, j);
        return;
    }
    memcpy(j->command, req.command, req.length);
    j->command[req.length] = 0;
    j->timeout_ms = req.timeout_ms ? req.timeout_ms : sl->cfg->default_timeout_ms;
    job_rx_free(sl, j);
    j->phase = JP_QUEUED;
    sl->queued++;
    start_queued_jobs(sl);
}

static void on_result_ack(slave *sl, const dgram *d)
{
    session *s = d->receiver_boot == sl->boot ? session_find(sl, d->sender_boot) : NULL;
    job *j = s ? job_find(sl, s, d->job_id) : NULL;
    if (!j || j->phase != JP_SENDING)
        return;
    s->last_heard_ms = clock_ms();
    int progress;
    /* "complete" acknowledges every fragment: still an RTT sample (the
     * only one a one-fragment result gives), then the job is forgotten. */
    uint32_t sample = xfer_tx_on_ack(&j->tx, d->state == 1 ? j->tx.nfrags : d->cum, d->state == 1 ? 0 : d->sack,
                                     clock_us(), &progress);
    if (d->state == 1) {
        if (sample)
            rtt_sample(&s->rtt, sample);
        LOG(LOG_DEBUG, "job %llu: result delivered", (unsigned long long)j->id);
        job_unlink(sl, j);
        return;
    }
    if (sample)
        rtt_sample(&s->rtt, sample);
    if (progress)
        j->last_progress_ms = clock_ms();
}

static void on_cancel(slave *sl, const dgram *d)
{
    /* Only a master we know, talking to this life of ours, may cancel; to
     * anyone else we say nothing (no reply to unknown senders). */
    session *s = d->receiver_boot == sl->boot ? session_find(sl, d->sender_boot) : NULL;
    if (!s)
        return;
    s->last_heard_ms = clock_ms();
    job *j = job_find(sl, s, d->job_id);
    if (j) {
        LOG(LOG_INFO, "job %llu: cancelled by the master", (unsigned long long)j->id);
        job_unlink(sl, j);
        start_queued_jobs(sl);
    }
    dedup_mark(&s->taken, d->job_id); /* a late request must not start it */
    send_job_ack(sl, s, d->job_id, JS_GONE, NULL);
}

static void on_ping(slave *sl, const net_addr *from, const dgram *d, size_t n)
{
    /* A session opens, or a superseded one comes back, only with a cookie
     * we gave this master's life at this address in the last minute: it has
     * just completed a round trip with us, which no recording can do. */
    session *s = d->receiver_boot == sl->boot ? session_find(sl, d->sender_boot) : NULL;
    uint32_t issued;
    if (d->receiver_boot == sl->boot && (!s || s->superseded || session_dormant(s)) &&
        cookie_valid(sl, d, from, &issued))
        s = session_open(sl, from, d, issued);
    if (!s || s->superseded || session_dormant(s)) {
        send_cookie(sl, from, d, n);
        return;
    }
    dgram r;
    memset(&r, 0, sizeof r);
    r.type = DG_PONG;
    r.echo_us = d->echo_us;
    r.slots_total = (uint16_t)sl->cfg->slots;
    r.slots_free = (uint16_t)slots_free(sl);
    s->last_heard_ms = clock_ms();
    session_advance_floor(sl, s, d->floor);
    send_dgram(sl, s, &r);
}

static void report_drop(slave *sl, const net_addr *from, uint8_t type, const char *why)
{
    uint64_t now = clock_ms();
    drop_report *r = NULL, *victim = &sl->drops[0];
    for (int i = 0; i < DROP_REPORTS && !r; i++) {
        drop_report *e = &sl->drops[i];
        if (e->used && e->why == why && net_addr_equal(&e->addr, from))
            r = e;
        else if (victim->used && (!e->used || e->since_ms < victim->since_ms))
            victim = e;
    }
    char name[80];
    net_addr_str(from, name, sizeof name);
    if (!r) {
        *victim = (drop_report){1, *from, why, 0, now};
        if (log_allow(&sl->garbage_log))
            LOG(LOG_WARN, "dropped a %s from %s: %s", dgram_type_name(type), name, why);
        return;
    }
    r->count++;
    uint64_t span = elapsed(now, r->since_ms);
    if (span >= DROP_REPORT_MS) {
        LOG(LOG_WARN, "%u more datagrams dropped from %s in the last %llu s: %s", r->count, name,
            (unsigned long long)(span / 1000), why);
        r->count = 0;
        r->since_ms = now;
    }
}

static void on_datagram(slave *sl, const uint8_t *p, size_t n, const net_addr *from)
{
    dgram d;
    const char *why = NULL;
    if (dgram_decode(p, n, &d, &why) < 0) {
        if (log_allow(&sl->garbage_log)) {
            char name[80];
            net_addr_str(from, name, sizeof name);
            LOG(LOG_WARN, "dropped a %zu-byte datagram from %s: %s", n, name, why);
        }
        return;
    }
    /* Authenticity first, then freshness: the replay window moves only
     * for a datagram whose tag is right (RFC 4303 3.4.3). */
    const char *refused = NULL;
    session *s = session_find(sl, d.sender_boot);
    if (!!(d.flags & DGRAM_FLAG_AUTH) != sl->auth->enabled) {
        refused = sl->auth->enabled ? "not authenticated (does the master have the key?)"
                                    : "authenticated, but this slave has no key (--key-file)";
    } else if (sl->auth->enabled) {
        hmac_key rx;
        if (s && d.receiver_boot == sl->boot)
            rx = s->rx_key;
        else /* a PING before we met, or for an earlier life of ours */
            conversation_keys(sl, d.sender_boot, d.receiver_boot, &rx, NULL);
        if (!dgram_verify(p, &d, &rx))
            refused = "bad MAC (wrong key?)";
    }
    if (!refused && s && !replay_check(&s->replay, d.seq))
        refused = "replayed";
    if (refused) {
        report_drop(sl, from, d.type, refused);
        return;
    }
    if (s) {
        replay_update(&s->replay, d.seq);
        if (d.receiver_boot == sl->boot && !s->superseded)
            s->addr = *from; /* authentic and fresh: replies go where it is now */
    }
    switch (d.type) {
    case DG_PING: on_ping(sl, from, &d, n); break;
    case DG_JOB: on_job_fragment(sl, from, &d, n); break;
    case DG_RESULT_ACK: on_result_ack(sl, &d); break;
    case DG_CANCEL: on_cancel(sl, &d); break;
    default:
        if (log_allow(&sl->garbage_log))
            LOG(LOG_WARN, "dropped a %s datagram: not for a slave", dgram_type_name(d.type));
    }
}

/* ------------------------------------------------------------- timers --- */

typedef struct {
    slave *sl;
    job *j;
} send_ctx;

static void send_result_fragment(void *ctx, uint32_t index, uint32_t offset, uint32_t len)
{
    send_ctx *c = ctx;
    (void)index;
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_RESULT;
    d.job_id = c->j->id;
    d.total = c->j->tx.len;
    d.frag_size = (uint16_t)c->j->tx.frag;
    d.offset = offset;
    d.payload = c->j->tx.data + offset;
    d.payload_len = len;
    send_dgram(c->sl, c->j->sess, &d);
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

/* Moves every job along: finished commands become results, queued ones
 * start, results are (re)sent, abandoned jobs are dropped. Returns the
 * earliest time (us) something must happen again, 0 if none. */
static uint64_t run_timers(slave *sl)
{
    /* Exits first, deadlines after: a command that ended while we could
     * not run (stopped, not scheduled) past its --timeout ended in time,
     * and its exit is only waiting to be collected. */
    runner_reap(on_child_exit, sl);
    uint64_t now_us = clock_us(), now_ms = now_us / 1000, next = 0;
#define WAKE_AT(t) do { uint64_t t_ = (t); if (t_ && (!next || t_ < next)) next = t_; } while (0)
    for (job *j = sl->jobs, *nx; j; j = nx) {
        nx = j->next;
        switch (j->phase) {
        case JP_RECEIVING:
            if (elapsed(now_ms, j->last_progress_ms) > RECEIVE_GIVEUP_MS) {
                LOG(LOG_WARN, "job %llu: request incomplete for %us: dropped", (unsigned long long)j->id,
                    RECEIVE_GIVEUP_MS / 1000);
                job_unlink(sl, j);
                continue;
            }
            WAKE_AT((j->last_progress_ms + RECEIVE_GIVEUP_MS + 1) * 1000);
            break;
        case JP_QUEUED:
            break;
        case JP_RUNNING:
            runner_tick(&j->proc, now_us);
            if (runner_finished(&j->proc)) {
                CommandResult r;
                memset(&r, 0, sizeof r);
                runner_result(&j->proc, &r);
                LOG(LOG_DEBUG, "job %llu: finished, status %d code %d", (unsigned long long)j->id, r.status,
                    r.exit_code);
                sl->running--;
                bwriter keep_out = j->proc.out, keep_err = j->proc.err;
                j->proc.out.data = j->proc.err.data = NULL; /* r points into them */
                job_send_result(sl, j, &r);
                bw_free(&keep_out);
                bw_free(&keep_err);
                start_queued_jobs(sl);
                nx = sl->jobs; /* the list may have changed: rescan, cheap */
                continue;
            }
            WAKE_AT(runner_next_deadline(&j->proc));
            break;
        case JP_SENDING: {
            if (elapsed(now_ms, j->last_progress_ms) > RESULT_GIVEUP_MS) {
                LOG(LOG_WARN, "job %llu: result not acknowledged for %us: dropped", (unsigned long long)j->id,
                    RESULT_GIVEUP_MS / 1000);
                job_unlink(sl, j);
                continue;
            }
            send_ctx c = {sl, j};
            uint32_t rto = rtt_timeout(&j->sess->rtt);
            xfer_tx_pump(&j->tx, now_us, rto, send_result_fragment, &c);
            WAKE_AT(xfer_tx_next_deadline(&j->tx, rtt_timeout(&j->sess->rtt)));
            break;
        }
        }
    }
    /* A master we have not heard from in a long time is gone (killed, or
     * cut off): nobody will collect its results, so its commands stop. */
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &sl->sessions[i];
        if (!s->used || s->superseded || !session_has_jobs(sl, s))
            continue;
        if (elapsed(now_ms, s->last_heard_ms) > MASTER_SILENT_MS) {
            LOG(LOG_WARN, "master %016llx silent for %u s: killing its jobs", (unsigned long long)s->master_boot,
                MASTER_SILENT_MS / 1000);
            session_drop_jobs(sl, s);
            continue;
        }
        WAKE_AT((s->last_heard_ms + MASTER_SILENT_MS + 1) * 1000);
    }
#undef WAKE_AT
    return next;
}

/* ---------------------------------------------------------- main loop --- */

/* Stopped (SIGTERM), its commands killed: every master with a session
 * is told at once, so that it runs them elsewhere now rather than after
 * its dead-slave timeout. A few copies, a little apart, against loss
 * (each has its own sequence number; the master heeds the first). */
static void say_leaving(slave *sl)
{
    for (int copy = 0; copy < LEAVING_COPIES; copy++) {
        if (copy) /* a short sleep: no socket to watch */
            net_poll(&(net_pollfd){SOCK_INVALID, 0, 0}, 1, LEAVING_GAP_MS);
        for (int i = 0; i < MAX_SESSIONS; i++) {
            session *s = &sl->sessions[i];
            if (!s->used || s->superseded)
                continue;
            dgram d;
            memset(&d, 0, sizeof d);
            d.type = DG_LEAVING;
            send_dgram(sl, s, &d);
        }
    }
}

static void kill_everything(slave *sl)
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

int slave_run(const slave_config *cfg)
{
    slave *sl = calloc(1, sizeof *sl);
    char err[256];
    if (!sl)
        die("out of memory");
    sl->cfg = cfg;
    sl->boot = boot_id_new();
    uint8_t secret[32];
    auth_random(secret, sizeof secret);
    hmac_key_init(&sl->cookie_key, secret, sizeof secret);
    sl->auth = cfg->auth;
    sl->sock = net_udp_bind(cfg->bind, cfg->port, err, sizeof err);
    if (sl->sock == SOCK_INVALID)
        die("cannot listen on UDP %s:%d: %s", cfg->bind, cfg->port, err);
    sock_t sigfd = signal_events_init();
    LOG(LOG_INFO, "listening on UDP %s:%d with %d slots (boot %016llx%s)", cfg->bind, net_local_port(sl->sock),
        cfg->slots, (unsigned long long)sl->boot, sl->auth->enabled ? ", authenticated" : "");

    net_pollfd *pfds = NULL;
    job **owners = NULL;
    size_t pcap = 0;
    while (!sl->stopping) {
        uint64_t next_us = run_timers(sl);
        size_t need = 2 + RUNNER_MAX_POLL * (size_t)sl->running;
        if (need > pcap) {
            pcap = need * 2;
            pfds = realloc(pfds, pcap * sizeof *pfds);
            owners = realloc(owners, pcap * sizeof *owners);
            if (!pfds || !owners)
                die("out of memory");
        }
        int n = 0;
        pfds[n++] = (net_pollfd){sl->sock, NET_IN, 0};
        pfds[n++] = (net_pollfd){sigfd, NET_IN, 0};
        for (job *j = sl->jobs; j; j = j->next) {
            if (j->phase != JP_RUNNING)
                continue;
            for (int k = runner_poll_fds(&j->proc, pfds + n, RUNNER_MAX_POLL); k > 0; k--)
                owners[n++] = j;
        }
        int timeout = -1;
        if (next_us) {
            uint64_t now = clock_us();
            timeout = next_us <= now ? 0 : (int)((next_us - now + 999) / 1000);
        }
        if (net_poll(pfds, n, timeout) < 0)
            die("poll: %s", net_last_error());
        if (pfds[1].revents) {
            int ev;
            while ((ev = signal_events_take()) != SIGNAL_NONE) {
                if (ev == SIGNAL_STOP)
                    sl->stopping = 1;
            }
            runner_reap(on_child_exit, sl);
        }
        for (int i = 2; i < n; i++)
            if (pfds[i].revents)
                runner_on_ready(&owners[i]->proc, pfds[i].fd);
        if (pfds[0].revents & NET_IN) {
            /* Drain the socket (bounded), then answer each touched job once. */
            for (int k = 0; k < 512; k++) {
                net_addr from;
                static uint8_t buf[DGRAM_MAX];
                long r = net_recvfrom(sl->sock, buf, sizeof buf, &from);
                if (r < 0)
                    break;
                on_datagram(sl, buf, (size_t)r, &from);
            }
            for (job *j = sl->jobs; j; j = j->next)
                if (j->ack_pending) {
                    j->ack_pending = 0;
                    send_job_ack(sl, j->sess, j->id, job_state(j), j);
                }
        }
    }
    LOG(LOG_INFO, "stopping: killing %u running commands", sl->running);
    kill_everything(sl);
    runner_reap(on_child_exit, sl);
    say_leaving(sl);
    net_close(sl->sock);
    free(pfds);
    free(owners);
    free(sl);
    return 0;
}
