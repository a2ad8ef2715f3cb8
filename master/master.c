/*
 * master.c - the master daemon: clients over TCP, slaves over UDP, one
 * event loop. doc/protocol.md follows a command through it.
 *
 *   client --SUBMIT--> queue of its client --dispatch--> flight to a slave
 *   slave --RESULT fragments--> reassembly --F_RESULT--> client
 *
 * Fairness: each free slot goes to the next client (round robin) that has
 * a queued command, and to the least loaded slave.
 */
#define _GNU_SOURCE
#include "master.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conf.h"
#include "dedup.h"
#include "log.h"
#include "platform.h"
#include "proto.h"
#include "xfer.h"

#define PING_INTERVAL_MS 500u     /* heartbeat to every slave */
#define SUSPECT_PING_MS 100u       /* ping interval of a suspect slave */
/* A slave silent for cfg->dead_after_ms (--dead-after, 3 s by default) is
 * declared dead; after a third of that it is suspect and pinged faster. */
#define SUSPECT_AFTER_MS(m) ((m)->cfg->dead_after_ms / 3)
#define TELL_SILENT_AFTER_MS 3000u /* a slave that never answered is named after this */
#define HANDSHAKE_WAIT_MS 3000u    /* a COOKIE must echo a PING this recent; a handshake this old is dropped */
#define PROBE_AFTER_MS 1000u       /* ask about a running job we heard nothing of */
#define CANCEL_GIVEUP_MS 10000u    /* stop telling a silent slave to cancel */
#define OUT_HIGH_WATER (16u << 20) /* client not reading: stop dispatching for it */
#define CLIENT_OUT_LIMIT ((size_t)1 << 30)
#define CLIENT_IN_LIMIT (FRAME_MAX_FROM_CLIENT + 65536)
#define CLIENT_QUEUE_BYTES (16u << 20) /* queued commands of one client: reading pauses beyond */
#define HANGUP_WAIT_MS 2000u       /* after our last word, wait this long for the client to close */
#define HELLO_WAIT_MS 10000u       /* a connection that does not finish its handshake is dropped after this */

typedef struct client client;
typedef struct slave_peer slave_peer;

typedef struct job {
    struct job *next; /* in its client's queue */
    client *cl;
    struct flight *fl; /* while dispatched */
    struct flight *orphans; /* earlier copies, on slaves declared dead: see flight_is_orphan */
    uint32_t seq, len;
    unsigned attempts;
    char cmd[]; /* len bytes + NUL */
} job;

enum flight_state {
    FL_SENDING,    /* request fragments on their way */
    FL_RUNNING,    /* slave has the request */
    FL_RESULT,     /* result fragments arriving */
    FL_CANCELLING, /* the client left: telling the slave to kill it */
};

typedef struct flight {
    struct flight *prev, *next; /* in its slave's list */
    job *job;                   /* NULL once cancelling */
    slave_peer *sl;
    uint64_t id;
    enum flight_state state;
    int ack_pending;
    xfer_tx req;      /* kept until the end: fragment 0 doubles as a status probe */
    xfer_rx res;
    uint64_t since_ms, cancel_sent_us;
    uint64_t heard_ms; /* last JOB_ACK or RESULT fragment about this job */
    struct flight *next_orphan; /* in its job's orphans */
} flight;

struct slave_peer {
    char name[300]; /* host:port as written in slaves.conf */
    int retired;    /* gone from slaves.conf on reload: no new commands */
    int told_silent; /* we said it has never answered */
    int told_unreachable, told_send_error; /* said once (no socket of its family; sendto failing) */
    uint64_t left_boot; /* the life that said DG_LEAVING: nothing more from it is heeded */
    net_addr addr;
    int conf_slots;
    uint64_t boot; /* 0: not heard yet */
    replay_window replay;    /* sequence numbers seen from this life of it */
    hmac_key tx_key, rx_key; /* keys of our conversation with this life */
    /* A handshake under way: a life of the slave (maybe the same) said it
     * has no session with us and gave a cookie. It becomes s->boot only
     * when a PONG echoes a PING sent after that (a fresh round trip). */
    uint64_t hs_boot;
    uint8_t hs_cookie[COOKIE_LEN];
    uint64_t hs_since_us, hs_ping_us;
    hmac_key hs_tx_key, hs_rx_key;
    int ping_soon; /* a COOKIE answered a JOB: ping now for a fresh one */
    int alive;
    uint16_t slots_total, slots_free;
    uint64_t last_heard_ms, last_ping_ms;
    uint64_t next_id;
    unsigned outstanding; /* flights other than cancelling ones */
    rtt_estimator rtt;
    flight *flights;
};

/* CS_HELLO and CS_PROVING are the handshake: such a connection holds no
 * client slot (at most max_clients of them, the oldest makes room) and is
 * dropped HELLO_WAIT_MS after it connected. CS_PROVING: with a key, WELCOME
 * sent, waiting for READY, the first frame tagged with this connection's
 * keys (a replayed HELLO gets no further). */
enum client_state { CS_HELLO, CS_PROVING, CS_ACTIVE, CS_CLOSING };

struct client {
    client *next;
    uint64_t id;
    sock_t sock;
    char name[80];
    enum client_state state;
    int ended;            /* END received */
    bwriter in, out;
    job *qhead, *qtail;
    unsigned queued, inflight, submitted;
    size_t queued_bytes;       /* memory of the queued commands (job_size) */
    uint32_t timeout_ms;
    unsigned retries;
    uint64_t waiting_since_ms; /* queued work and no slave alive */
    uint64_t hangup_ms;        /* CS_CLOSING: when we sent FIN (0: not yet) */
    uint64_t connected_ms;
    uint64_t last_frame_ms;    /* CS_ACTIVE: last frame received or result sent */
    int told_waiting;
    int tagged;                /* handshake done with a key: every frame carries a tag */
    hmac_key rx_key, tx_key;
    uint64_t rx_seq, tx_seq;
};

typedef struct {
    const master_config *cfg;
    sock_t listener, udp, sigfd;
    sock_t udp_other;             /* the other address family's socket (IPv6 beside IPv4, or the reverse) */
    int udp_family;               /* of udp; udp_other has the other one */
    char udp_other_why[400];      /* why there is no udp_other */
    uint64_t boot;
    uint64_t next_seq; /* of every datagram we send */
    const auth_keys *auth;
    slave_peer **slaves; /* pointers: flights point at their slave across reloads */
    int nslaves;
    struct id_memo { net_addr addr; uint64_t next_id; } *id_memos; /* removed slaves' next job ids */
    int nid_memos;
    client *clients;
    unsigned nclients;
    uint64_t next_client_id, last_served_client;
    int rr_slave;
    int stopping;              /* SIGTERM: draining; a second one: stop now */
    int stop_now;
    uint64_t stop_deadline_ms; /* end of the grace period */
    uint64_t started_ms;
    log_limiter garbage_log, send_log;
    uint8_t dgram_buf[DGRAM_MAX];
} master;

/* ------------------------------------------------------------- slaves --- */

static slave_peer *slave_by_addr(master *m, const net_addr *a);
static void slave_set_keys(master *m, slave_peer *s);

/* Reads slaves.conf: adds the slaves it lists that we do not have, updates
 * the slots of those we have, retires those it no longer lists (they get
 * no new command and are forgotten once their commands are done). Bad
 * lines are reported and skipped. Returns the number of usable slaves in
 * the file, or -1 if it cannot be read. */
static int load_slaves(master *m)
{
    const char *path = m->cfg->slaves_conf;
    FILE *f = fopen(path, "r");
    if (!f) {
        LOG(LOG_ERROR, "cannot open slaves file '%s': %s%s", path, strerror(errno),
            m->nslaves ? ": keeping the current slaves" : "");
        return -1;
    }
    net_addr *listed = NULL;
    int nlisted = 0, lineno = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strcspn(line, "\n");
        slave_entry e;
        const char *why = NULL;
        int r = slaves_conf_line(line, len, lineno, &e, &why);
        if (r < 0) {
            LOG(LOG_WARN, "%s:%d: %s: line skipped", path, lineno, why);
            continue;
        }
        if (r == 0)
            continue;
        net_addr a;
        char err[256];
        if (net_resolve(e.host, e.port, 1, &a, err, sizeof err) < 0) {
            LOG(LOG_WARN, "%s:%d: %s: line skipped", path, lineno, err);
            continue;
        }
        int dup = 0;
        for (int i = 0; i < nlisted; i++)
            dup |= net_addr_equal(&listed[i], &a);
        if (dup) {
            LOG(LOG_WARN, "%s:%d: %s:%d listed twice: line skipped", path, lineno, e.host, e.port);
            continue;
        }
        net_addr *grown = realloc(listed, (size_t)(nlisted + 1) * sizeof *listed);
        if (!grown)
            die("out of memory");
        listed = grown;
        listed[nlisted++] = a;
        slave_peer *s = slave_by_addr(m, &a);
        if (s) {
            if (s->retired || s->conf_slots != e.slots)
                LOG(LOG_INFO, "slave %s: %s", s->name, s->retired ? "listed again" : "slots changed");
            s->retired = 0;
            s->conf_slots = e.slots;
            continue;
        }
        slave_peer **arr = realloc(m->slaves, (size_t)(m->nslaves + 1) * sizeof *arr);
        s = calloc(1, sizeof *s);
        if (!arr || !s)
            die("out of memory");
        m->slaves = arr;
        m->slaves[m->nslaves++] = s;
        snprintf(s->name, sizeof s->name, "%s:%d", e.host, e.port);
        s->addr = a;
        s->conf_slots = e.slots;
        s->next_id = 1;
        /* A slave removed and listed again continues its job ids: its
         * session with this master life remembers every id it was given,
         * so going back to 1 would have every new command answered GONE. */
        for (int k = 0; k < m->nid_memos; k++)
            if (net_addr_equal(&m->id_memos[k].addr, &a)) {
                s->next_id = m->id_memos[k].next_id;
                m->id_memos[k] = m->id_memos[--m->nid_memos];
                break;
            }
        rtt_init(&s->rtt);
        slave_set_keys(m, s);
        if (m->listener != SOCK_INVALID) /* a reload, not the start */
            LOG(LOG_INFO, "slave %s added", s->name);
    }
    fclose(f);
    if (nlisted == 0) { /* a reload must not retire every slave because of a bad edit */
        LOG(LOG_ERROR, "no usable slave in '%s' (expected lines 'host port [slots]')%s", path,
            m->nslaves ? ": keeping the current slaves" : "");
        return 0;
    }
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        int still = 0;
        for (int k = 0; k < nlisted; k++)
            still |= net_addr_equal(&listed[k], &s->addr);
        if (!still && !s->retired) {
            LOG(LOG_INFO, "slave %s no longer listed: retired once its commands are done", s->name);
            s->retired = 1;
        }
    }
    free(listed);
    return nlisted;
}

/* Forgets retired slaves that have nothing left to do. */
static void drop_retired_slaves(master *m)
{
    for (int i = 0; i < m->nslaves;) {
        slave_peer *s = m->slaves[i];
        if (s->retired && !s->flights) {
            LOG(LOG_INFO, "slave %s removed", s->name);
            struct id_memo *grown = realloc(m->id_memos, (size_t)(m->nid_memos + 1) * sizeof *grown);
            if (!grown)
                die("out of memory");
            m->id_memos = grown;
            m->id_memos[m->nid_memos++] = (struct id_memo){s->addr, s->next_id};
            free(s);
            m->slaves[i] = m->slaves[--m->nslaves];
            continue;
        }
        i++;
    }
}

/* The slots column of slaves.conf caps what the slave offers; it never
 * raises it (the extra commands would only wait in the slave's queue). */
static unsigned slave_capacity(const slave_peer *s)
{
    if (s->conf_slots && (unsigned)s->conf_slots < s->slots_total)
        return (unsigned)s->conf_slots;
    return s->slots_total;
}

static uint64_t slave_floor(const slave_peer *s)
{
    uint64_t floor = s->next_id;
    for (flight *f = s->flights; f; f = f->next)
        if (f->id < floor)
            floor = f->id;
    return floor;
}

static slave_peer *slave_by_addr(master *m, const net_addr *a)
{
    for (int i = 0; i < m->nslaves; i++)
        if (net_addr_equal(&m->slaves[i]->addr, a))
            return m->slaves[i];
    return NULL;
}

static unsigned slaves_alive(const master *m)
{
    unsigned n = 0;
    for (int i = 0; i < m->nslaves; i++)
        n += m->slaves[i]->alive;
    return n;
}

/* The least loaded usable slave with a free slot (ties: round robin). */
static slave_peer *pick_slave(master *m)
{
    slave_peer *best = NULL;
    int best_index = 0;
    for (int k = 0; k < m->nslaves; k++) {
        int index = (m->rr_slave + k) % m->nslaves;
        slave_peer *s = m->slaves[index];
        unsigned cap = slave_capacity(s);
        if (!s->alive || !s->boot || s->retired || s->outstanding >= cap || s->next_id - slave_floor(s) >= DEDUP_WINDOW - 1)
            continue;
        /* load = outstanding / capacity, compared without division */
        if (!best || (uint64_t)s->outstanding * slave_capacity(best) < (uint64_t)best->outstanding * cap)
            best = s, best_index = index;
    }
    if (best)
        m->rr_slave = (best_index + 1) % m->nslaves;
    return best;
}

/* The keys of our conversation with the current life of slave s: both
 * boot ids (nonces) in, one key per direction. */
static void slave_keys(const master *m, uint64_t slave_boot, hmac_key *tx, hmac_key *rx)
{
    uint8_t mb[8], sb[8];
    if (!m->auth->enabled)
        return;
    put_u32(mb, (uint32_t)(m->boot >> 32)), put_u32(mb + 4, (uint32_t)m->boot);
    put_u32(sb, (uint32_t)(slave_boot >> 32)), put_u32(sb + 4, (uint32_t)slave_boot);
    auth_session_key(&m->auth->master_to_slave, "dgram", mb, 8, sb, 8, tx);
    auth_session_key(&m->auth->slave_to_master, "dgram", mb, 8, sb, 8, rx);
}

static void slave_set_keys(master *m, slave_peer *s)
{
    slave_keys(m, s->boot, &s->tx_key, &s->rx_key);
    replay_init(&s->replay);
}

/* The socket of s's address family; SOCK_INVALID (said once) if none. */
static sock_t slave_socket(master *m, slave_peer *s)
{
    if (s->addr.ss.ss_family == m->udp_family || m->udp_family == AF_UNSPEC)
        return m->udp;
    if (m->udp_other != SOCK_INVALID)
        return m->udp_other;
    if (!s->told_unreachable)
        LOG(LOG_ERROR, "slave %s cannot be reached: it has an %s address and %s", s->name,
            s->addr.ss.ss_family == AF_INET6 ? "IPv6" : "IPv4", m->udp_other_why);
    s->told_unreachable = 1;
    return SOCK_INVALID;
}

static void send_to_life(master *m, slave_peer *s, uint64_t boot, const hmac_key *tx_key, dgram *d)
{
    d->sender_boot = m->boot;
    d->receiver_boot = boot;
    d->seq = ++m->next_seq;
    sock_t sock = slave_socket(m, s);
    if (sock == SOCK_INVALID)
        return;
    size_t n = dgram_encode(d, m->dgram_buf, sizeof m->dgram_buf, m->auth->enabled ? tx_key : NULL);
    if (!n)
        return;
    if (net_sendto(sock, m->dgram_buf, n, &s->addr) != NET_ERROR) {
        s->told_send_error = 0;
    } else if (!s->told_send_error) { /* once, not at every ping, until it works again */
        LOG(LOG_WARN, "sendto %s: %s", s->name, net_last_error());
        s->told_send_error = 1;
    }
}

static void send_dgram(master *m, slave_peer *s, dgram *d)
{
    send_to_life(m, s, s->boot, &s->tx_key, d);
}

static void send_ping(master *m, slave_peer *s, uint64_t now_us, int handshake)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_PING;
    d.echo_us = now_us;
    d.floor = slave_floor(s);
    if (!handshake) {
        send_dgram(m, s, &d);
        return;
    }
    memcpy(d.cookie, s->hs_cookie, COOKIE_LEN);
    send_to_life(m, s, s->hs_boot, &s->hs_tx_key, &d);
    s->hs_ping_us = now_us;
}

/* ------------------------------------------------------- client output --- */

/* Every frame after the handshake carries a tag when there is a key. */
static void client_frame_end(client *cl, size_t start)
{
    if (cl->tagged)
        frame_end_tagged(&cl->out, start, &cl->tx_key, cl->tx_seq++);
    else
        frame_end(&cl->out, start);
}

static void client_send_text(client *cl, uint8_t type, const char *text)
{
    size_t n = strlen(text);
    if (n > 1000)
        n = 1000;
    size_t start = frame_begin(&cl->out, type);
    bw_u16(&cl->out, (uint16_t)n);
    bw_bytes(&cl->out, text, n);
    client_frame_end(cl, start);
}

/* F_RESULT: seq, host, then a result body exactly as result_encode makes. */
static void client_send_result_body(client *cl, uint32_t seq, const char *host, const uint8_t *body, size_t len)
{
    size_t hl = strlen(host);
    cl->last_frame_ms = clock_ms();
    size_t start = frame_begin(&cl->out, F_RESULT);
    bw_u32(&cl->out, seq);
    bw_u16(&cl->out, (uint16_t)hl);
    bw_bytes(&cl->out, host, hl);
    bw_bytes(&cl->out, body, len);
    client_frame_end(cl, start);
}

/* A result made by the master itself (not run, no slave...). */
static void client_send_failure(client *cl, uint32_t seq, uint8_t status, const char *host, const char *message)
{
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.exit_code = -1;
    r.start_ms = wall_ms();
    r.message = (char *)message;
    r.message_len = (uint32_t)strlen(message);
    bwriter w;
    bw_init(&w, 8192);
    result_encode(&w, &r);
    client_send_result_body(cl, seq, host, w.data, w.len);
    bw_free(&w);
}

static void client_check_done(client *cl)
{
    if (cl->state == CS_ACTIVE && cl->ended && cl->queued == 0 && cl->inflight == 0) {
        size_t start = frame_begin(&cl->out, F_BYE);
        client_frame_end(cl, start);
        cl->state = CS_CLOSING;
        LOG(LOG_INFO, "client %s: all results sent", cl->name);
    }
}

/* --------------------------------------------------------------- jobs --- */

/* What a queued command costs the master, for the queue's byte limits. */
static size_t job_size(const job *j)
{
    return sizeof *j + j->len + 1;
}

static void queue_push_front(client *cl, job *j)
{
    j->next = cl->qhead;
    cl->qhead = j;
    if (!cl->qtail)
        cl->qtail = j;
    cl->queued++;
    cl->queued_bytes += job_size(j);
}

static void flight_unlink(flight *f)
{
    slave_peer *s = f->sl;
    if (f->prev)
        f->prev->next = f->next;
    else
        s->flights = f->next;
    if (f->next)
        f->next->prev = f->prev;
    if (f->state != FL_CANCELLING)
        s->outstanding--;
}

static void queue_remove(client *cl, job *j)
{
    job *prev = NULL;
    for (job **pp = &cl->qhead; *pp; prev = *pp, pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            if (cl->qtail == j)
                cl->qtail = prev;
            cl->queued--;
            cl->queued_bytes -= job_size(j);
            return;
        }
}

/* An orphan is an earlier copy of a command whose slave was declared dead
 * while it ran: the slave may only have been frozen (SIGSTOP, a VM paused)
 * and still run it. The command went on to another attempt; the orphan is
 * kept, so that whichever copy answers first gives the result and the
 * other copy is cancelled. */
static int flight_is_orphan(const flight *f)
{
    return f->job && f->job->fl != f;
}

static void orphan_unlink(flight *f)
{
    for (flight **pp = &f->job->orphans; *pp; pp = &(*pp)->next_orphan)
        if (*pp == f) {
            *pp = f->next_orphan;
            break;
        }
    f->next_orphan = NULL;
}

static void flight_free(flight *f)
{
    if (flight_is_orphan(f))
        orphan_unlink(f);
    flight_unlink(f);
    xfer_tx_free(&f->req);
    xfer_rx_free(&f->res);
    free(f);
}

/* The result of f is no longer wanted (another copy answered, or the
 * command is given up): f becomes a cancelling flight, and run_timers
 * sends its DG_CANCEL at once (cancel_sent_us 0). */
static void flight_abandon(flight *f)
{
    if (flight_is_orphan(f))
        orphan_unlink(f);
    f->job = NULL;
    xfer_tx_free(&f->req);
    xfer_rx_free(&f->res);
    if (f->state != FL_CANCELLING)
        f->sl->outstanding--;
    f->state = FL_CANCELLING;
    f->ack_pending = 0;
    f->since_ms = clock_ms();
    f->cancel_sent_us = 0;
}

/* Frees a job that has its result (or never will): copies of it that may
 * still run somewhere are cancelled. */
static void job_release(job *j)
{
    while (j->orphans)
        flight_abandon(j->orphans);
    free(j);
}

/* The current attempt of j (on slave s) ended without a result: queue the
 * command again, at the front, if the client allows another attempt, and
 * tell the client it runs again. */
static void job_again(job *j, slave_peer *s, const char *why)
{
    client *cl = j->cl;
    j->fl = NULL;
    cl->inflight--;
    if (j->attempts < cl->retries) {
        LOG(LOG_WARN, "command %u of %s: slave %s %s: dispatching it again", j->seq, cl->name, s->name, why);
        char msg[400];
        snprintf(msg, sizeof msg, "command %u: slave %s %s: running it again on another slave", j->seq, s->name, why);
        client_send_text(cl, F_NOTICE, msg);
        queue_push_front(cl, j);
        return;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "slave %s %s, after %u attempt%s (it may have run)", s->name, why, j->attempts,
             j->attempts > 1 ? "s" : "");
    client_send_failure(cl, j->seq, RUN_NO_SLAVE, s->name, msg);
    job_release(j);
    client_check_done(cl);
}

/* The flight ended without a result (slave died or lost it): its command
 * runs again, unless f was only an orphan copy (the current attempt goes on). */
static void flight_requeue(flight *f, const char *why)
{
    job *j = f->job;
    slave_peer *s = f->sl;
    int orphan = flight_is_orphan(f);
    flight_free(f);
    if (j && !orphan)
        job_again(j, s, why);
}

typedef struct {
    master *m;
    flight *f;
} send_ctx;

static void send_request_fragment(void *ctx, uint32_t index, uint32_t offset, uint32_t len)
{
    send_ctx *c = ctx;
    (void)index;
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_JOB;
    d.job_id = c->f->id;
    d.floor = slave_floor(c->f->sl);
    d.total = c->f->req.len;
    d.frag_size = (uint16_t)c->f->req.frag;
    d.offset = offset;
    d.payload = c->f->req.data + offset;
    d.payload_len = len;
    send_dgram(c->m, c->f->sl, &d);
}

static void send_cancel(master *m, flight *f)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_CANCEL;
    d.job_id = f->id;
    f->cancel_sent_us = clock_us();
    send_dgram(m, f->sl, &d);
}

/* Stops waiting for f's result and tells its slave to kill the job. The
 * client, unless it is leaving (why NULL), gets why as the result. */
static void flight_cancel(master *m, flight *f, uint8_t status, const char *why)
{
    job *j = f->job;
    if (flight_is_orphan(f)) { /* only a copy: the command's current attempt decides */
        flight_abandon(f);
        send_cancel(m, f);
        return;
    }
    if (j) {
        client *cl = j->cl;
        cl->inflight--;
        if (why) {
            client_send_failure(cl, j->seq, status, f->sl->name, why);
            client_check_done(cl);
        }
        job_release(j);
        f->job = NULL;
    }
    xfer_tx_free(&f->req);
    xfer_rx_free(&f->res);
    f->state = FL_CANCELLING;
    f->sl->outstanding--;
    f->since_ms = clock_ms();
    send_cancel(m, f);
}

static void dispatch_one(master *m, slave_peer *s, job *j)
{
    client *cl = j->cl;
    flight *f = calloc(1, sizeof *f);
    bwriter w;
    bw_init(&w, MAX_COMMAND_LEN + 64);
    CommandRequest req = {j->seq, cl->timeout_ms, j->len, j->cmd};
    job_request_encode(&w, &req);
    if (!f || w.error || xfer_tx_init(&f->req, w.data, (uint32_t)w.len, frag_size_for(&s->addr)) < 0)
        die("out of memory");
    f->job = j;
    f->sl = s;
    f->id = s->next_id++;
    f->state = FL_SENDING;
    f->since_ms = f->heard_ms = clock_ms();
    f->next = s->flights;
    if (s->flights)
        s->flights->prev = f;
    s->flights = f;
    s->outstanding++;
    j->fl = f;
    j->attempts++;
    cl->inflight++;
    LOG(LOG_DEBUG, "command %u of %s -> %s as job %llu", j->seq, cl->name, s->name, (unsigned long long)f->id);
    send_ctx c = {m, f};
    xfer_tx_pump(&f->req, clock_us(), rtt_timeout(&s->rtt), send_request_fragment, &c);
}

/* Next client after the last one served that has work it can take. */
static client *next_client_with_work(master *m)
{
    client *first_any = NULL;
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (cl->state != CS_ACTIVE || !cl->qhead || bw_pending(&cl->out) > OUT_HIGH_WATER)
            continue;
        if (cl->id > m->last_served_client)
            return cl;
        if (!first_any)
            first_any = cl;
    }
    return first_any;
}

static void dispatch(master *m)
{
    while (!m->stopping) {
        client *cl = next_client_with_work(m);
        if (!cl)
            return;
        slave_peer *s = pick_slave(m);
        if (!s)
            return;
        job *j = cl->qhead;
        cl->qhead = j->next;
        if (!cl->qhead)
            cl->qtail = NULL;
        cl->queued--;
        cl->queued_bytes -= job_size(j);
        j->next = NULL;
        m->last_served_client = cl->id;
        dispatch_one(m, s, j);
    }
}

/* ------------------------------------------------------------ clients --- */

/* Refusals are logged at most a few times a second: anyone can connect. */
static log_limiter refusal_log;

static void client_fail(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void client_close(master *m, client *cl)
{
    /* Queued commands are dropped; running ones are killed on their slave. */
    unsigned cancelled = 0;
    for (int i = 0; i < m->nslaves; i++)
        for (flight *f = m->slaves[i]->flights; f; f = f->next)
            if (f->job && f->job->cl == cl) {
                flight_cancel(m, f, 0, NULL);
                cancelled++;
            }
    while (cl->qhead) {
        job *j = cl->qhead;
        cl->qhead = j->next;
        free(j);
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

static void client_fail(client *cl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_allow(&refusal_log))
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
    const uint8_t *hello = r->data + r->pos;
    uint32_t magic = br_u32(r);
    uint16_t version = br_u16(r);
    if (!r->error && magic == FRAME_MAGIC && version != FRAME_VERSION) { /* before its fields change */
        client_fail(cl, "protocol version %u not supported (this master speaks %u)", version, FRAME_VERSION);
        return;
    }
    uint16_t flags = br_u16(r);
    uint32_t timeout_ms = br_u32(r);
    uint32_t retries = br_u32(r);
    const uint8_t *client_nonce = br_bytes(r, AUTH_NONCE_LEN);
    size_t signed_len = (size_t)(r->data + r->pos - hello);
    const uint8_t *tag = flags & FRAME_FLAG_AUTH ? br_bytes(r, FRAME_TAG_LEN) : NULL;
    if (r->error || magic != FRAME_MAGIC) {
        client_fail(cl, "not a serveur_maitre client (bad HELLO)");
        return;
    }
    if (version != FRAME_VERSION) {
        client_fail(cl, "protocol version %u not supported (this master speaks %u)", version, FRAME_VERSION);
        return;
    }
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
    if (tag) {
        uint8_t want[SHA256_LEN];
        hmac_sha256_2(&m->auth->client_to_master, "hello", 5, hello, signed_len, want);
        if (!equal_const_time(want, tag, SHA256_LEN)) {
            client_fail(cl, "authentication failed: wrong key");
            return;
        }
    }
    cl->timeout_ms = timeout_ms;
    cl->retries = retries ? retries : m->cfg->retries;
    if (cl->retries > 100)
        cl->retries = 100;
    if (!tag && !client_admit(m, cl)) /* with a key, admitted at READY */
        return;
    unsigned slots = 0;
    for (int i = 0; i < m->nslaves; i++)
        if (m->slaves[i]->alive)
            slots += slave_capacity(m->slaves[i]);
    size_t start = frame_begin(&cl->out, F_WELCOME);
    size_t fields = bw_pending(&cl->out); /* from the head: see frame_begin */
    bw_u16(&cl->out, FRAME_VERSION);
    bw_u16(&cl->out, (uint16_t)m->nslaves);
    bw_u16(&cl->out, (uint16_t)slaves_alive(m));
    bw_u32(&cl->out, slots);
    bw_u16(&cl->out, tag ? FRAME_FLAG_AUTH : 0);
    bw_bytes(&cl->out, master_nonce, sizeof master_nonce);
    if (tag && !cl->out.error) { /* the master proves it knows the key too */
        uint8_t proof[SHA256_LEN], msg[AUTH_NONCE_LEN + 64];
        size_t n = bw_pending(&cl->out) - fields;
        memcpy(msg, client_nonce, AUTH_NONCE_LEN);
        memcpy(msg + AUTH_NONCE_LEN, bw_at(&cl->out, fields), n);
        hmac_sha256_2(&m->auth->master_to_client, "welcome", 7, msg, AUTH_NONCE_LEN + n, proof);
        bw_bytes(&cl->out, proof, sizeof proof);
        auth_session_key(&m->auth->client_to_master, "frames", client_nonce, AUTH_NONCE_LEN, master_nonce,
                         AUTH_NONCE_LEN, &cl->rx_key);
        auth_session_key(&m->auth->master_to_client, "frames", client_nonce, AUTH_NONCE_LEN, master_nonce,
                         AUTH_NONCE_LEN, &cl->tx_key);
    }
    frame_end(&cl->out, start);
    cl->tagged = tag != NULL;
    if (tag)
        cl->state = CS_PROVING;
}

static void on_submit(master *m, client *cl, breader *r)
{
    uint32_t seq = br_u32(r);
    size_t len = br_left(r);
    const uint8_t *cmd = br_bytes(r, len);
    if (r->error) {
        client_fail(cl, "malformed SUBMIT frame");
        return;
    }
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
    job *j = malloc(sizeof *j + len + 1);
    if (!j) {
        client_fail(cl, "master out of memory");
        return;
    }
    memset(j, 0, sizeof *j);
    j->cl = cl;
    j->seq = seq;
    j->len = (uint32_t)len;
    memcpy(j->cmd, cmd, len);
    j->cmd[len] = 0;
    if (cl->qtail)
        cl->qtail->next = j;
    else
        cl->qhead = j;
    cl->qtail = j;
    cl->queued++;
    cl->queued_bytes += job_size(j);
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
    switch (type) {
    case F_SUBMIT:
        if (cl->ended)
            client_fail(cl, "SUBMIT after END");
        else
            on_submit(m, cl, r);
        break;
    case F_END: {
        uint32_t count = br_u32(r);
        if (r->error) {
            client_fail(cl, "malformed END frame");
            break;
        }
        if (count != cl->submitted) {
            client_fail(cl, "END says %u commands, %u were submitted", count, cl->submitted);
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
static int client_read(master *m, client *cl)
{
    if (bw_reserve(&cl->in, 65536) < 0) {
        client_fail(cl, "input buffer full");
        return 0;
    }
    long n = net_recv(cl->sock, cl->in.data + cl->in.len, 65536);
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

static int client_write(client *cl)
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

static void accept_client(master *m)
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
        if (log_allow(&refusal_log))
            LOG(LOG_WARN, "client %s: handshake not finished and %u newer ones waiting: closed", oldest->name,
                handshaking - 1);
        client_send_text(oldest, F_ERROR, "handshake not finished and too many newer connections waiting: closed");
        client_write(oldest);
        client_close(m, oldest);
    }
}

/* ---------------------------------------------------------- datagrams --- */

static flight *flight_find(slave_peer *s, uint64_t id)
{
    for (flight *f = s->flights; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

static void slave_lost_jobs(slave_peer *s, const char *why)
{
    while (s->flights) {
        flight *f = s->flights;
        if (f->state == FL_CANCELLING)
            flight_free(f);
        else
            flight_requeue(f, why);
    }
}

/* A slave declared dead may only be frozen and come back with its
 * commands still running: each of its running flights stays, as an orphan
 * copy, while its command runs again elsewhere. A request still being
 * sent is cancelled instead: the rest of it must not start a copy late. */
static void slave_declared_dead(slave_peer *s, const char *why)
{
    for (flight *f = s->flights; f; f = f->next) {
        job *j = f->job;
        if (!j || j->fl != f)
            continue; /* cancelling, or already an orphan */
        if (f->state == FL_SENDING) {
            flight_abandon(f);
        } else {
            f->next_orphan = j->orphans;
            j->orphans = f;
        }
        job_again(j, s, why); /* f is an orphan from here on (j->fl != f) */
    }
}

/* DG_LEAVING: the slave was stopped (SIGTERM); it killed its commands
 * before saying so, so they run again at once, not dead_after_ms later. */
static void on_leaving(slave_peer *s, const dgram *d)
{
    unsigned n = s->outstanding;
    s->left_boot = d->sender_boot;
    if (!s->alive && !s->flights)
        return;
    if (n)
        LOG(LOG_WARN, "slave %s is leaving (it was stopped): %u command%s to run elsewhere", s->name, n,
            n == 1 ? "" : "s");
    else
        LOG(LOG_INFO, "slave %s is leaving (it was stopped)", s->name);
    s->alive = 0;
    slave_lost_jobs(s, "left (it was stopped)");
}

static void send_result_ack(master *m, flight *f, slave_peer *s, uint64_t id, int complete)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_RESULT_ACK;
    d.job_id = id;
    d.state = (uint8_t)complete;
    if (f && !complete)
        xfer_rx_ack(&f->res, &d.cum, &d.sack);
    send_dgram(m, s, &d);
}

static void on_pong(slave_peer *s, const dgram *d)
{
    if (s->boot && s->boot != d->sender_boot) {
        LOG(LOG_WARN, "slave %s restarted (boot %016llx -> %016llx)", s->name, (unsigned long long)s->boot,
            (unsigned long long)d->sender_boot);
        slave_lost_jobs(s, "restarted");
    }
    if (!s->alive)
        LOG(LOG_INFO, "slave %s is up with %u slot%s%s", s->name, d->slots_total, d->slots_total == 1 ? "" : "s",
            s->conf_slots && (unsigned)s->conf_slots < d->slots_total ? " (slaves.conf: we use fewer)" : "");
    s->boot = d->sender_boot;
    s->alive = 1;
    s->slots_total = d->slots_total;
    s->slots_free = d->slots_free;
    uint64_t now = clock_us();
    if (d->echo_us && d->echo_us <= now && now - d->echo_us < 10000000u)
        rtt_sample(&s->rtt, (uint32_t)(now - d->echo_us));
}

static void on_job_ack(slave_peer *s, const dgram *d)
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
        if (f->state == FL_CANCELLING)
            flight_free(f);
        else
            flight_requeue(f, "lost the command");
        break;
    }
}

static void deliver(master *m, flight *f)
{
    job *j = f->job;
    breader r;
    CommandResult res;
    br_init(&r, f->res.data, f->res.len);
    client *cl = j->cl;
    /* Dispatched more than once: an earlier copy may have run too (its
     * slave froze, died mid-run, restarted or left). The master says so
     * in the result's flags; the slave's own value of that bit is ignored. */
    int twice = j->attempts > 1;
    if (result_decode(&r, &res) < 0 || br_left(&r) != 0) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "slave %s sent a malformed result for job %llu", f->sl->name, (unsigned long long)f->id);
        client_send_failure(cl, j->seq, RUN_NOT_STARTED, f->sl->name, "malformed result from the slave");
    } else {
        uint8_t *flags = f->res.data + RESULT_FLAGS_OFFSET;
        *flags = (uint8_t)((*flags & ~RESULT_FLAG_RAN_TWICE) | (twice ? RESULT_FLAG_RAN_TWICE : 0));
        client_send_result_body(cl, j->seq, f->sl->name, f->res.data, f->res.len);
    }
    LOG(twice ? LOG_INFO : LOG_DEBUG, "command %u of %s: result from %s%s", j->seq, cl->name, f->sl->name,
        twice ? " (dispatched more than once: it may have run twice)" : "");
    if (j->fl != f) {
        /* An orphan copy, on a slave that was declared dead and came
         * back, answered first: the current attempt is not wanted. */
        orphan_unlink(f);
        LOG(LOG_INFO, "command %u of %s: the earlier copy on %s answered first: cancelling the other one", j->seq,
            cl->name, f->sl->name);
        if (j->fl) {
            flight_abandon(j->fl);
            j->fl = NULL;
            cl->inflight--;
        } else {
            queue_remove(cl, j);
        }
    } else {
        cl->inflight--;
    }
    f->job = NULL;
    job_release(j); /* cancels the copies still out there */
    flight_free(f);
    client_check_done(cl);
    if (cl->state == CS_CLOSING) /* its last word: now, not after the rest of the batch (errors: the loop) */
        client_write(cl);
}

static void on_result_fragment(master *m, slave_peer *s, const dgram *d)
{
    flight *f = flight_find(s, d->job_id);
    if (!f || f->state == FL_CANCELLING) {
        /* Already delivered (our final ack was lost) or cancelled: tell
         * the slave to forget it. */
        send_result_ack(m, NULL, s, d->job_id, 1);
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
        uint64_t id = f->id;
        deliver(m, f); /* the client first: the slave's retransmit timer is far longer */
        send_result_ack(m, NULL, s, id, 1);
        return;
    }
    f->ack_pending = 1;
}

/* The slave has no session with us (it restarted, forgot an idle one, or
 * never met this life of ours): it gave a cookie, to be echoed in a PING.
 * Nothing changes yet: the life that sent it is adopted only when it
 * answers that PING. A COOKIE without an echo of a recent PING of ours
 * (one answering a JOB, or a replay) only makes us ping again now. */
static void on_cookie(master *m, slave_peer *s, const uint8_t *p, const dgram *d)
{
    uint64_t now = clock_us();
    hmac_key tx, rx;
    slave_keys(m, d->sender_boot, &tx, &rx);
    if (m->auth->enabled && !dgram_verify(p, d, &rx)) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a COOKIE from %s: bad MAC (wrong key?)", s->name);
        return;
    }
    if (!d->echo_us || d->echo_us > now || now - d->echo_us > (uint64_t)HANDSHAKE_WAIT_MS * 1000) {
        s->ping_soon = 1;
        return;
    }
    if (s->hs_boot != d->sender_boot || memcmp(s->hs_cookie, d->cookie, COOKIE_LEN) != 0) {
        if (d->sender_boot == s->boot)
            LOG(LOG_INFO, "slave %s has no session with us: handshake again", s->name);
        s->hs_boot = d->sender_boot;
        memcpy(s->hs_cookie, d->cookie, COOKIE_LEN);
        s->hs_tx_key = tx, s->hs_rx_key = rx;
        s->hs_since_us = now;
        s->hs_ping_us = 0;
    }
    if (elapsed(now, s->hs_ping_us) >= 20000u)
        send_ping(m, s, now, 1);
}

static void on_datagram(master *m, const uint8_t *p, size_t n, const net_addr *from)
{
    dgram d;
    const char *why = NULL;
    slave_peer *s = slave_by_addr(m, from);
    if (dgram_decode(p, n, &d, &why) < 0 || !s) {
        if (log_allow(&m->garbage_log)) {
            char name[80];
            net_addr_str(from, name, sizeof name);
            LOG(LOG_WARN, "dropped a %zu-byte datagram from %s: %s", n, name, s ? why : "not a known slave");
        }
        return;
    }
    if (d.receiver_boot != m->boot) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_DEBUG, "dropped a %s from %s meant for an earlier master", dgram_type_name(d.type), s->name);
        return;
    }
    if (!!(d.flags & DGRAM_FLAG_AUTH) != m->auth->enabled) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a %s from %s: %s", dgram_type_name(d.type), s->name,
                m->auth->enabled ? "not authenticated (does the slave have the key?)"
                                 : "authenticated, but this master has no key (--key-file)");
        return;
    }
    if (d.type == DG_COOKIE) {
        on_cookie(m, s, p, &d);
        return;
    }
    /* Authenticity, then freshness; the replay window moves only for a
     * datagram whose tag is right (RFC 4303 3.4.3). Only the PONG that
     * completes a handshake introduces a new life of the slave: it echoes
     * a PING sent after the cookie came, which no recording can. */
    int new_life = d.sender_boot != s->boot;
    if (new_life) {
        if (d.type != DG_PONG || !s->hs_boot || d.sender_boot != s->hs_boot || d.echo_us < s->hs_since_us)
            return;
        if (m->auth->enabled && !dgram_verify(p, &d, &s->hs_rx_key)) {
            if (log_allow(&m->garbage_log))
                LOG(LOG_WARN, "dropped a PONG from %s: bad MAC (wrong key?)", s->name);
            return;
        }
        s->tx_key = s->hs_tx_key, s->rx_key = s->hs_rx_key;
        replay_init(&s->replay); /* on_pong records the new boot id */
    } else if (m->auth->enabled && !dgram_verify(p, &d, &s->rx_key)) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a %s from %s: bad MAC", dgram_type_name(d.type), s->name);
        return;
    }
    if (!replay_check(&s->replay, d.seq)) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_DEBUG, "dropped a replayed %s from %s (seq %llu)", dgram_type_name(d.type), s->name,
                (unsigned long long)d.seq);
        return;
    }
    replay_update(&s->replay, d.seq);
    if (s->left_boot && d.sender_boot == s->left_boot)
        return; /* it said it left: a late datagram must not bring it back */
    s->last_heard_ms = clock_ms();
    if (d.type == DG_PONG && s->hs_boot == d.sender_boot && d.echo_us >= s->hs_since_us)
        s->hs_boot = 0; /* handshake complete */
    switch (d.type) {
    case DG_PONG: on_pong(s, &d); break;
    case DG_JOB_ACK: on_job_ack(s, &d); break;
    case DG_RESULT: on_result_fragment(m, s, &d); break;
    case DG_LEAVING: on_leaving(s, &d); break;
    default:
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a %s datagram from %s: not for a master", dgram_type_name(d.type), s->name);
    }
}

/* ------------------------------------------------------------- timers --- */

static void fail_queued(client *cl, uint8_t status, const char *why)
{
    while (cl->qhead) {
        job *j = cl->qhead;
        cl->qhead = j->next;
        cl->queued--;
        cl->queued_bytes -= job_size(j);
        client_send_failure(cl, j->seq, status, "", why);
        job_release(j);
    }
    cl->qtail = NULL;
    client_check_done(cl);
}

static uint64_t run_timers(master *m)
{
    uint64_t now_ms = clock_ms(), now_us = clock_us(), next_ms = now_ms + PING_INTERVAL_MS;
#define WAKE_AT_MS(t) do { uint64_t t_ = (t); if (t_ < next_ms) next_ms = t_; } while (0)
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        uint64_t silent = elapsed(now_ms, s->last_heard_ms);
        if (!s->boot && !s->told_silent && !s->told_unreachable &&
            elapsed(now_ms, m->started_ms) >= TELL_SILENT_AFTER_MS) {
            LOG(LOG_WARN, "slave %s has not answered yet: not started? wrong host or port? %s", s->name,
                m->auth->enabled ? "not the same key?" : "does it have a key (this master has none)?");
            s->told_silent = 1;
        }
        if (s->alive && silent > m->cfg->dead_after_ms) {
            LOG(LOG_WARN, "slave %s: no answer for %u ms: considered dead", s->name, m->cfg->dead_after_ms);
            s->alive = 0;
            slave_declared_dead(s, "stopped answering");
        }
        /* A quiet slave is pinged faster, so that a few lost datagrams on
         * a lossy link do not get a live slave declared dead. */
        uint32_t interval = s->alive && silent > SUSPECT_AFTER_MS(m) ? SUSPECT_PING_MS : PING_INTERVAL_MS;
        if (s->ping_soon)
            interval = 20;
        if (s->hs_boot && elapsed(now_us, s->hs_since_us) > (uint64_t)HANDSHAKE_WAIT_MS * 1000)
            s->hs_boot = 0; /* never answered: the next COOKIE starts again */
        if (elapsed(now_ms, s->last_ping_ms) >= interval) {
            send_ping(m, s, now_us, 0);
            if (s->hs_boot) /* and the handshake: its PING may have been lost */
                send_ping(m, s, now_us, 1);
            s->last_ping_ms = now_ms;
            s->ping_soon = 0;
        }
        WAKE_AT_MS(s->last_ping_ms + interval);
        uint32_t rto = rtt_timeout(&s->rtt);
        for (flight *f = s->flights, *nx; f; f = nx) {
            nx = f->next;
            send_ctx c = {m, f};
            switch (f->state) {
            case FL_SENDING: {
                xfer_tx_pump(&f->req, now_us, rto, send_request_fragment, &c);
                uint64_t due = xfer_tx_next_deadline(&f->req, rto);
                if (due)
                    WAKE_AT_MS(due / 1000 + 1);
                break;
            }
            case FL_RUNNING:
            case FL_RESULT:
                /* Nothing heard of this job for a while: resend fragment 0
                 * of its request, which the slave answers with the job's
                 * state (a job it lost is answered GONE). */
                if (elapsed(now_ms, f->heard_ms) >= PROBE_AFTER_MS) {
                    send_request_fragment(&c, 0, 0, f->req.len < f->req.frag ? f->req.len : f->req.frag);
                    f->heard_ms = now_ms;
                }
                WAKE_AT_MS(f->heard_ms + PROBE_AFTER_MS);
                break;
            case FL_CANCELLING:
                if (elapsed(now_ms, f->since_ms) > CANCEL_GIVEUP_MS) {
                    flight_free(f);
                    continue;
                }
                if (elapsed(now_us, f->cancel_sent_us) >= rto)
                    send_cancel(m, f);
                WAKE_AT_MS((f->cancel_sent_us + rto) / 1000 + 1);
                break;
            }
        }
    }
    /* Commands waiting while no slave is alive: say why, then give up. */
    int none_alive = slaves_alive(m) == 0;
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (cl->hangup_ms)
            WAKE_AT_MS(cl->hangup_ms + HANGUP_WAIT_MS);
        if (cl->state == CS_HELLO || cl->state == CS_PROVING) { /* it must not hold a place for ever */
            if (elapsed(now_ms, cl->connected_ms) < HELLO_WAIT_MS)
                WAKE_AT_MS(cl->connected_ms + HELLO_WAIT_MS);
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
        WAKE_AT_MS(cl->waiting_since_ms + m->cfg->no_slave_ms);
    }
    if (m->stopping)
        WAKE_AT_MS(m->stop_deadline_ms);
#undef WAKE_AT_MS
    drop_retired_slaves(m);
    dispatch(m);
    return next_ms;
}

/* ----------------------------------------------------------- shutdown --- */

static unsigned running_commands(const master *m)
{
    unsigned n = 0;
    for (int i = 0; i < m->nslaves; i++)
        n += m->slaves[i]->outstanding;
    return n;
}

/* SIGTERM: accept no one new, run nothing new, tell the clients; running
 * commands may finish until the grace period ends. Every command still
 * gets a result, so clients end normally with an honest exit status. */
static void begin_shutdown(master *m)
{
    m->stopping = 1;
    m->stop_deadline_ms = clock_ms() + m->cfg->grace_ms;
    net_close(m->listener);
    m->listener = SOCK_INVALID;
    LOG(LOG_INFO, "shutting down: %u running commands may finish within %u s (signal again to stop now)",
        running_commands(m), m->cfg->grace_ms / 1000);
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (cl->state == CS_HELLO || cl->state == CS_PROVING) {
            client_fail(cl, "the master is shutting down");
            continue;
        }
        if (cl->state != CS_ACTIVE)
            continue;
        char msg[200];
        snprintf(msg, sizeof msg, "the master is shutting down: running commands may finish within %u s, "
                 "queued ones will not run", m->cfg->grace_ms / 1000);
        client_send_text(cl, F_NOTICE, msg);
        fail_queued(cl, RUN_CANCELLED, "the master is shutting down");
    }
}

/* The grace period is over: kill what still runs and report it. */
static void end_grace_period(master *m)
{
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        for (flight *f = s->flights; f; f = f->next)
            if (f->job)
                flight_cancel(m, f, RUN_CANCELLED, "killed: the master shut down");
    }
    for (client *cl = m->clients; cl; cl = cl->next)
        if (cl->state == CS_ACTIVE) /* still sending commands: it cannot finish */
            client_fail(cl, "the master shut down before the command file was complete");
}

/* ---------------------------------------------------------- main loop --- */

static void read_socket(master *m, sock_t sock)
{
    for (int k = 0; sock != SOCK_INVALID && k < 512; k++) {
        static uint8_t buf[DGRAM_MAX];
        net_addr from;
        long r = net_recvfrom(sock, buf, sizeof buf, &from);
        if (r < 0)
            break;
        on_datagram(m, buf, (size_t)r, &from);
    }
}

/* One RESULT_ACK per result a batch of datagrams moved along. */
static void send_pending_acks(master *m)
{
    for (int i = 0; i < m->nslaves; i++)
        for (flight *f = m->slaves[i]->flights; f; f = f->next)
            if (f->ack_pending) {
                f->ack_pending = 0;
                send_result_ack(m, f, f->sl, f->id, 0);
            }
}

/* Drains both sockets (bounded), then answers each touched result once. */
static void read_datagrams(master *m)
{
    read_socket(m, m->udp);
    read_socket(m, m->udp_other);
    send_pending_acks(m);
}

static void shutdown_all(master *m)
{
    while (m->clients) {
        client *cl = m->clients;
        if (cl->state != CS_CLOSING)
            client_send_text(cl, F_ERROR, "the master is shutting down");
        client_write(cl); /* best effort */
        client_close(m, cl);
    }
    for (int i = 0; i < m->nslaves; i++) {
        while (m->slaves[i]->flights)
            flight_free(m->slaves[i]->flights);
        free(m->slaves[i]);
    }
    free(m->slaves);
    free(m->id_memos);
}

/* Slaves of both address families from one master: beside the UDP socket
 * on --bind, one on the same kind of address (loopback, wildcard) of the
 * other family, so that "::1 PORT" in slaves.conf works with the default
 * bind 127.0.0.1. A slave of a family we have no socket for is named once. */
static void open_other_family(master *m)
{
    net_addr bound;
    char err[256];
    m->udp_family = AF_UNSPEC;
    if (net_resolve(m->cfg->bind, 0, 1, &bound, err, sizeof err) < 0)
        return;
    m->udp_family = bound.ss.ss_family;
    const char *fam = bound.ss.ss_family == AF_INET ? "IPv6" : "IPv4";
    const char *other = net_addr_other_family(&bound);
    if (!other) {
        snprintf(m->udp_other_why, sizeof m->udp_other_why,
                 "this master is bound to %s only (--bind): no %s socket (bind to a loopback or wildcard address, "
                 "e.g. --bind %s, for both families)", m->cfg->bind, fam, bound.ss.ss_family == AF_INET ? "::" : "0.0.0.0");
        return;
    }
    int port = net_local_port(m->udp);
    m->udp_other = net_udp_bind_only(other, port, err, sizeof err);
    if (m->udp_other == SOCK_INVALID)
        m->udp_other = net_udp_bind_only(other, 0, err, sizeof err);
    if (m->udp_other == SOCK_INVALID) {
        snprintf(m->udp_other_why, sizeof m->udp_other_why, "this master cannot open an %s socket (%s): %s is "
                 "not available here?", fam, err, fam);
        LOG(LOG_DEBUG, "no %s socket: %s", fam, err);
        return;
    }
    LOG(LOG_DEBUG, "%s slaves are reached from UDP %s port %d", fam, other, net_local_port(m->udp_other));
}

int master_run(const master_config *cfg)
{
    master *m = calloc(1, sizeof *m);
    char err[256];
    if (!m)
        die("out of memory");
    m->cfg = cfg;
    m->auth = cfg->auth;
    m->boot = boot_id_new();
    m->udp = m->listener = m->udp_other = SOCK_INVALID;
    if (load_slaves(m) <= 0)
        goto fail;
    m->listener = net_tcp_listen(cfg->bind, cfg->port, err, sizeof err);
    if (m->listener == SOCK_INVALID) {
        LOG(LOG_ERROR, "cannot listen on TCP %s:%d: %s", cfg->bind, cfg->port, err);
        goto fail;
    }
    /* Datagrams to slaves leave from the same port number as the TCP one,
     * so a restarted master has the same address and its slaves drop the
     * jobs of its previous life at once (slave.c, superseded sessions). */
    m->udp = net_udp_bind_only(cfg->bind, net_local_port(m->listener), err, sizeof err);
    if (m->udp == SOCK_INVALID) {
        LOG(LOG_WARN, "UDP port %d is taken (%s): using another one", net_local_port(m->listener), err);
        m->udp = net_udp_bind_only(cfg->bind, 0, err, sizeof err);
    }
    if (m->udp == SOCK_INVALID) {
        LOG(LOG_ERROR, "cannot open a UDP socket on %s: %s", cfg->bind, err);
        goto fail;
    }
    open_other_family(m);
    m->sigfd = signal_events_init();
    LOG(LOG_INFO, "listening on TCP %s:%d, %d slave%s in %s%s", cfg->bind, net_local_port(m->listener), m->nslaves,
        m->nslaves > 1 ? "s" : "", cfg->slaves_conf, m->auth->enabled ? ", authenticated" : "");
    m->started_ms = clock_ms();

    net_pollfd *pfds = NULL;
    client **owners = NULL;
    size_t pcap = 0;
    for (;;) {
        if (m->stopping) {
            uint64_t now = clock_ms();
            if (now >= m->stop_deadline_ms && running_commands(m))
                end_grace_period(m);
            /* Done when every client has had its last word, or, for a
             * client that reads nothing, 2 s after the grace period. */
            if (!m->clients || m->stop_now || now >= m->stop_deadline_ms + 2000)
                break;
        }
        uint64_t next_ms = run_timers(m);
        size_t need = 4 + m->nclients;
        if (need > pcap) {
            pcap = need * 2;
            pfds = realloc(pfds, pcap * sizeof *pfds);
            owners = realloc(owners, pcap * sizeof *owners);
            if (!pfds || !owners)
                die("out of memory");
        }
        int n = 0;
        pfds[n++] = (net_pollfd){m->udp, NET_IN, 0};
        pfds[n++] = (net_pollfd){m->sigfd, NET_IN, 0};
        if (m->listener != SOCK_INVALID && 3 + m->nclients < NET_POLL_MAX) /* Windows: select() is full */
            pfds[n++] = (net_pollfd){m->listener, NET_IN, 0};
        int first_client = n;
        size_t all_queued = 0;
        for (client *cl = m->clients; cl; cl = cl->next)
            all_queued += cl->queued_bytes;
        for (client *cl = m->clients; cl; cl = cl->next) {
            short ev = 0;
            /* Back-pressure: stop reading a client whose queue is full, in
             * commands or in bytes, or that has a queue while all queues
             * together are full (one read adds at most CLIENT_IN_LIMIT). */
            if (cl->queued < m->cfg->max_queued && cl->queued_bytes < CLIENT_QUEUE_BYTES &&
                (all_queued < ((size_t)m->cfg->queue_total_mib << 20) || !cl->queued) && cl->state != CS_CLOSING)
                ev |= NET_IN;
            if (bw_pending(&cl->out))
                ev |= NET_OUT;
            if (cl->state == CS_CLOSING)
                ev |= NET_IN; /* to notice the client closing */
            owners[n] = cl;
            pfds[n++] = (net_pollfd){cl->sock, ev, 0};
        }
        int end_clients = n;
        if (m->udp_other != SOCK_INVALID)
            pfds[n++] = (net_pollfd){m->udp_other, NET_IN, 0};
        uint64_t now = clock_ms();
        int timeout = next_ms <= now ? 0 : (int)(next_ms - now);
        if (net_poll(pfds, n, timeout) < 0)
            die("poll: %s", net_last_error());
        if (pfds[1].revents) {
            int ev;
            while ((ev = signal_events_take()) != SIGNAL_NONE) {
                if (ev == SIGNAL_STOP && m->stopping)
                    m->stop_now = 1;
                else if (ev == SIGNAL_STOP)
                    begin_shutdown(m);
                else if (ev == SIGNAL_RELOAD && !m->stopping) {
                    LOG(LOG_INFO, "SIGHUP: reloading %s", m->cfg->slaves_conf);
                    load_slaves(m);
                }
            }
            if (m->stop_now)
                break;
        }
        if (pfds[0].revents || (end_clients < n && pfds[end_clients].revents))
            read_datagrams(m);
        for (int i = first_client; i < end_clients; i++) {
            client *cl = owners[i];
            short re = pfds[i].revents;
            int gone = 0;
            if (re & (NET_IN | NET_HUP)) {
                if (cl->state == CS_CLOSING) {
                    char sink[4096]; /* what it sends after our last word is ignored */
                    long r = net_recv(cl->sock, sink, sizeof sink);
                    gone = r != NET_AGAIN && r <= 0;
                } else {
                    gone = client_read(m, cl) < 0;
                }
            }
            if (!gone && cl->out.error) {
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
        }
        if (first_client == 3 && pfds[2].revents && m->listener != SOCK_INVALID)
            accept_client(m);
    }
    LOG(LOG_INFO, "stopping");
    shutdown_all(m);
    net_close(m->listener);
    net_close(m->udp);
    net_close(m->udp_other);
    free(pfds);
    free(owners);
    free(m);
    return 0;
fail:
    net_close(m->udp);
    net_close(m->udp_other);
    net_close(m->listener);
    for (int i = 0; i < m->nslaves; i++)
        free(m->slaves[i]);
    free(m->slaves);
    free(m->id_memos);
    free(m);
    return 1;
}
