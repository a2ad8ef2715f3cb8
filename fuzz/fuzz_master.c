/*
 * Fuzz target: the master's state machines (clients, slaves, flights).
 *
 * The input is a script played against the real master/ files (included
 * here, so their static handlers are reachable; sched.c is linked), with
 * a fake clock, fake sockets and a fake poll: the script's steps run the
 * daemon's own loop turn (loop_turn, as master_run does). Up to four fake clients connect (keyed, with
 * either key of the master's two: every frame after WELCOME sealed as the client seals it), submit commands, end, freeze
 * (stop reading), disconnect; three fake slaves answer what the master
 * sends them as a slave would (COOKIE, PONG, JOB_ACK, RESULT), or drop it,
 * duplicate their answers, freeze, restart, leave; slaves.conf is reloaded
 * with a slave removed or added back; time moves on. For an input of even
 * length the datagrams are sealed (a key file of one line): the fake
 * slaves open what the master sends and seal what they answer as a real
 * slave does, handshake keys for PING/PONG/COOKIE, session keys (with the
 * X25519 exchange) for the rest, so that what they send reaches the real
 * handlers; a datagram of the master's that does not open is an error.
 *
 * Invariants checked (abort, so libFuzzer reports the input):
 *  - a client gets at most one result per command it submitted, and none
 *    for a command it did not submit;
 *  - a result the slave ran carries that command's own output (the fake
 *    slaves echo the command they were given): no result goes to the
 *    wrong command or client;
 *  - BYE comes only when every command of the client has its result;
 *  - nothing hangs: at the end every fault is lifted, and within two
 *    minutes of fake time every client that is still connected and has
 *    ended its batch has all its results and its BYE;
 *  - after every step, each client's queued count and bytes are those of
 *    the commands in its queue.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"
#include "fuzz.h"
#include "platform.h"
#include "proto.h"

/* ------------------------------------------------------------ fakes --- */

static uint64_t fz_now_us = 1000000;
static uint64_t fz_clock_us(void) { return fz_now_us; }
static uint64_t fz_clock_ms(void) { return fz_now_us / 1000; }
static uint64_t fz_wall_ms(void) { return 1700000000000ull + fz_now_us / 1000; }

#define FAKE_CLIENTS 4
#define FAKE_SLAVES 3
#define CLIENT_SOCK_BASE 100
#define UDP_SOCK 7
#define MAX_SEQ 64

typedef struct {
    int connected, eof_next, closed_by_master, frozen, ended, bye;
    uint64_t id; /* of the master's client object */
    uint8_t in[8192];
    size_t in_len;
    uint8_t out[1 << 16]; /* frames from the master not parsed yet */
    size_t out_len;
    uint32_t submitted;
    uint8_t results[MAX_SEQ + 1]; /* per seq */
    /* the handshake, as client.c does it: frames wait in held (unsealed)
     * until WELCOME gives the keys, then READY and they go sealed */
    int set, welcomed;
    uint8_t nonce[AUTH_NONCE_LEN];
    auth_ephemeral eph;
    aead_key tx_key, rx_key;
    uint64_t tx_seq, rx_seq;
    uint8_t held[4096];
    size_t held_len;
} fake_client;
static auth_keys fz_keys; /* the master's two keys, new and old; the clients' */

typedef struct {
    uint8_t data[512];
    size_t len;
} pending_dgram;

typedef struct {
    net_addr addr;
    uint64_t boot, seq;
    int session, frozen;
    uint8_t cookie[COOKIE_LEN];
    endpoint ep;     /* its life, as a slave's endpoint (for the keys; never sends) */
    dgram_keys keys; /* session keys with the master, once its session began */
    pending_dgram inbox[16]; /* what the master sent, not handled yet */
    unsigned ninbox;
    struct fake_job { uint64_t id; char cmd[64]; int done; } jobs[16];
    unsigned njobs;
    uint8_t last_sent[512];
    size_t last_sent_len;
} fake_slave;

static fake_client fz_clients[FAKE_CLIENTS];
static fake_slave fz_slaves[FAKE_SLAVES];

static void fz_abort(const char *what, unsigned c)
{
    fprintf(stderr, "INVARIANT (client %u): %s\n", c, what);
    abort();
}

static void fz_client_frames(unsigned c);

static long fz_send(sock_t s, const void *p, size_t n)
{
    unsigned c = (unsigned)(s - CLIENT_SOCK_BASE);
    if (c >= FAKE_CLIENTS)
        return NET_ERROR;
    fake_client *fc = &fz_clients[c];
    if (fc->frozen)
        return NET_AGAIN;
    size_t room = sizeof fc->out - fc->out_len;
    if (n > room)
        n = room;
    if (n == 0)
        return NET_AGAIN;
    memcpy(fc->out + fc->out_len, p, n);
    fc->out_len += n;
    fz_client_frames(c);
    return (long)n;
}

static long fz_recv(sock_t s, void *p, size_t n)
{
    unsigned c = (unsigned)(s - CLIENT_SOCK_BASE);
    if (c >= FAKE_CLIENTS)
        return NET_ERROR;
    fake_client *fc = &fz_clients[c];
    if (fc->in_len == 0)
        return fc->eof_next ? 0 : NET_AGAIN;
    if (n > fc->in_len)
        n = fc->in_len;
    memcpy(p, fc->in, n);
    memmove(fc->in, fc->in + n, fc->in_len - n);
    fc->in_len -= n;
    return (long)n;
}

static void fz_close(sock_t s)
{
    unsigned c = (unsigned)(s - CLIENT_SOCK_BASE);
    if (c < FAKE_CLIENTS && fz_clients[c].connected) {
        fz_clients[c].connected = 0;
        fz_clients[c].closed_by_master = !fz_clients[c].eof_next;
    }
}
static void fz_shutdown_write(sock_t s) { (void)s; }

static long fz_sendto(sock_t s, const void *p, size_t n, const net_addr *to)
{
    (void)s;
    for (int k = 0; k < FAKE_SLAVES; k++) {
        fake_slave *fs = &fz_slaves[k];
        if (!net_addr_equal(&fs->addr, to))
            continue;
        if (fs->ninbox < 16 && n <= sizeof fs->inbox[0].data) {
            memcpy(fs->inbox[fs->ninbox].data, p, n);
            fs->inbox[fs->ninbox++].len = n;
        }
        return (long)n;
    }
    return (long)n;
}

/* What the fake slaves sent the master, read by its endpoint_drain. */
static struct fz_dgram { uint8_t data[512]; size_t len; net_addr from; } fz_inq[64];
static unsigned fz_inq_len;

static long fz_recvfrom(sock_t s, void *p, size_t n, net_addr *from)
{
    (void)s;
    if (fz_inq_len == 0)
        return NET_ERROR;
    struct fz_dgram *d = &fz_inq[0];
    size_t len = d->len < n ? d->len : n;
    memcpy(p, d->data, len);
    *from = d->from;
    memmove(fz_inq, fz_inq + 1, (fz_inq_len - 1) * sizeof *fz_inq);
    fz_inq_len--;
    return (long)len;
}

/* poll: readable is a fake client with input (or leaving), the UDP socket
 * with datagrams queued; never a signal or a new connection. */
static int fz_poll(net_pollfd *fds, int n, int timeout_ms)
{
    (void)timeout_ms;
    for (int i = 0; i < n; i++) {
        unsigned c = (unsigned)(fds[i].fd - CLIENT_SOCK_BASE);
        fds[i].revents = 0;
        if (fds[i].fd == UDP_SOCK && fz_inq_len)
            fds[i].revents = NET_IN;
        else if (c < FAKE_CLIENTS && (fds[i].events & NET_IN) && (fz_clients[c].in_len || fz_clients[c].eof_next))
            fds[i].revents = NET_IN;
    }
    return 0;
}

#define clock_us fz_clock_us
#define clock_ms fz_clock_ms
#define wall_ms fz_wall_ms
#define boot_ms fz_clock_ms /* the journal's QUEUED records (no journal here: for the day there is one) */
#define net_sendto fz_sendto
#define net_send fz_send
#define net_recv fz_recv
#define net_close fz_close
#define net_shutdown_write fz_shutdown_write
#define net_recvfrom fz_recvfrom
#define net_poll fz_poll
#include "fuzz_keys.h" /* memoized key derivations, fixed key pairs */
#include "../lib/endpoint.c" /* linked without it: its socket calls must be the fakes */
#include "../master/clients.c"
#include "../master/flights.c"
#include "../master/http.c" /* no --http here: only its hooks in the loop run */
#include "../master/journal.c" /* ephemeral here: no --state-dir */
#include "../master/master.c"
#include "../master/metrics.c"
#include "../master/page.c"
#include "../master/slaves.c"
#include "../master/state.c"
#include "../master/status.c"

/* One turn of the daemon's loop; once it ends, the master is shut down
 * as master_run does, and the script drives it no more. */
static poll_set fz_ps;
static int fz_done;

static void turn(master *m)
{
    if (fz_done)
        return;
    if (loop_turn(m, &fz_ps)) {
        shutdown_all(m);
        fz_done = 1;
    }
}

/* ------------------------------------------------------ the clients --- */

static void client_welcomed(fake_client *fc, unsigned c, const breader *r);

static void fz_client_frames(unsigned c)
{
    fake_client *fc = &fz_clients[c];
    for (;;) {
        uint8_t type;
        breader f;
        long used = frame_open(fc->out, fc->out_len, sizeof fc->out, fc->welcomed ? &fc->rx_key : NULL, fc->rx_seq,
                               &type, &f);
        if (used == FRAME_TAMPERED)
            fz_abort("a frame from the master does not open", c);
        if (used <= 0)
            return;
        if (fc->welcomed)
            fc->rx_seq++;
        if (type == F_WELCOME && !fc->welcomed)
            client_welcomed(fc, c, &f);
        else if (type == F_RESULT) {
            result_frame rf;
            if (result_frame_decode(&f, &rf) < 0)
                fz_abort("malformed RESULT frame", c);
            uint32_t seq = rf.seq;
            const CommandResult r = rf.result;
            if (seq == 0 || seq > fc->submitted)
                fz_abort("a result for a command it did not submit", c);
            if (seq <= MAX_SEQ && fc->results[seq]++)
                fz_abort("two results for one command", c);
            if (r.status == RUN_EXITED && r.exit_code != -1) { /* ran on a fake slave */
                char want[64];
                int n = snprintf(want, sizeof want, "c%u-%u", c, seq);
                if (r.stdout_len != (uint32_t)n || memcmp(r.stdout_data, want, (size_t)n) != 0)
                    fz_abort("a result carrying another command's output", c);
            }
        } else if (type == F_BYE) {
            for (uint32_t s = 1; s <= fc->submitted && s <= MAX_SEQ; s++)
                if (fc->results[s] != 1)
                    fz_abort("BYE before every result", c);
            fc->bye = 1;
        }
        memmove(fc->out, fc->out + used, fc->out_len - (size_t)used);
        fc->out_len -= (size_t)used;
    }
}

static void client_input(fake_client *fc, const uint8_t *p, size_t n)
{
    if (fc->in_len + n <= sizeof fc->in) {
        memcpy(fc->in + fc->in_len, p, n);
        fc->in_len += n;
    }
}

/* What a client sends, through the client's codecs (proto.c): sealed
 * once the handshake is done; until then (but HELLO) held. */
static void client_frame(fake_client *fc, bwriter *w, size_t start)
{
    int hello = w->len > 4 && w->data[4] == F_HELLO;
    frame_end_sealed(w, start, fc->welcomed ? &fc->tx_key : NULL, fc->tx_seq);
    if (w->error)
        return;
    if (fc->welcomed)
        fc->tx_seq++;
    if (fc->welcomed || hello)
        client_input(fc, w->data, w->len);
    else if (fc->held_len + w->len <= sizeof fc->held) {
        memcpy(fc->held + fc->held_len, w->data, w->len);
        fc->held_len += w->len;
    }
}

/* WELCOME: the master's proof checked, the frame keys made as client.c
 * makes them, READY, then the frames held meanwhile, sealed. */
static void client_welcomed(fake_client *fc, unsigned c, const breader *r)
{
    welcome_frame wf;
    if (welcome_frame_decode(r, &wf) < 0 || !wf.proof ||
        !auth_welcome_check(&fz_keys.set[fc->set].master_to_client, fc->nonce, wf.signed_fields, FRAME_WELCOME_SIGNED,
                            wf.proof))
        fz_abort("a WELCOME without the right proof", c);
    uint8_t nonces[2 * AUTH_NONCE_LEN];
    memcpy(nonces, fc->nonce, AUTH_NONCE_LEN);
    memcpy(nonces + AUTH_NONCE_LEN, wf.nonce, AUTH_NONCE_LEN);
    if (auth_conversation_keys(&fz_keys, fc->set, AUTH_CLIENT, "frames", nonces, sizeof nonces, &fc->eph, wf.pub,
                               &fc->tx_key, &fc->rx_key) < 0)
        fz_abort("a WELCOME with a low-order public key", c);
    fc->welcomed = 1;
    uint8_t buf[4096 + 64];
    bwriter w;
    bw_init_fixed(&w, buf, sizeof buf);
    client_frame(fc, &w, ready_frame_encode(&w));
    for (size_t at = 0; at < fc->held_len;) {
        uint8_t type;
        breader f;
        long used = frame_parse(fc->held + at, fc->held_len - at, sizeof fc->held, &type, &f);
        if (used <= 0)
            break;
        bw_init_fixed(&w, buf, sizeof buf);
        size_t start = frame_begin(&w, type);
        bw_bytes(&w, f.data + f.pos, br_left(&f));
        client_frame(fc, &w, start);
        at += (size_t)used;
    }
    fc->held_len = 0;
}

/* A new connection, as accept_client makes it, and its HELLO. */
static void client_connect(master *m, unsigned c, uint8_t arg)
{
    fake_client *fc = &fz_clients[c];
    if (fc->connected || fz_done || m->stopping) /* no listener while stopping */
        return;
    memset(fc, 0, sizeof *fc);
    fc->connected = 1;
    client *cl = calloc(1, sizeof *cl);
    cl->m = m;
    cl->id = ++m->next_client_id;
    fc->id = cl->id;
    cl->sock = CLIENT_SOCK_BASE + c;
    snprintf(cl->name, sizeof cl->name, "client%u", c);
    bw_init(&cl->in, CLIENT_IN_LIMIT);
    bw_init(&cl->out, CLIENT_OUT_LIMIT);
    cl->state = CS_HELLO;
    cl->connected_ms = clock_ms();
    client **pp = &m->clients;
    while (*pp)
        pp = &(*pp)->next;
    *pp = cl;
    m->nclients++;
    hello_frame h = {.magic = FRAME_MAGIC, .version = FRAME_VERSION,
                     .timeout_ms = arg & 1 ? 2000 : 0, .retries = 1 + arg % 3u};
    fc->set = arg & 8 ? 1 : 0; /* during a rotation: the new key, or the old one */
    auth_random(fc->nonce, sizeof fc->nonce);
    static auth_ephemeral pair; /* one for every fake connection: x25519 is slow under the sanitizers */
    static int have_pair;
    if (!have_pair)
        auth_ephemeral_new(&pair), have_pair = 1;
    fc->eph = pair;
    memcpy(h.nonce, fc->nonce, sizeof h.nonce);
    memcpy(h.pub, fc->eph.pub, sizeof h.pub);
    uint8_t buf[256];
    bwriter w;
    bw_init_fixed(&w, buf, sizeof buf);
    client_frame(fc, &w, hello_frame_encode(&w, &h, &fz_keys.set[fc->set].client_to_master));
}

static void client_submit(fake_client *fc, unsigned c)
{
    if (!fc->connected || fc->ended || fc->submitted >= MAX_SEQ)
        return;
    char cmd[64], buf[128];
    uint32_t seq = ++fc->submitted;
    int n = snprintf(cmd, sizeof cmd, "c%u-%u", c, seq);
    submit_frame s = {.seq = seq, .len = (uint32_t)n, .command = (const uint8_t *)cmd};
    bwriter w;
    bw_init_fixed(&w, buf, sizeof buf);
    client_frame(fc, &w, submit_frame_encode(&w, &s));
}

static void client_end(fake_client *fc)
{
    if (!fc->connected || fc->ended)
        return;
    end_frame e = {.count = fc->submitted};
    uint8_t buf[16 + FRAME_SEAL_LEN];
    bwriter w;
    bw_init_fixed(&w, buf, sizeof buf);
    client_frame(fc, &w, end_frame_encode(&w, &e));
    fc->ended = 1;
}

/* ------------------------------------------------------- the slaves --- */

/* Into the master's socket: read at its next read step. Sealed, with a
 * key, as a slave's endpoint_send does. */
static void slave_send(master *m, fake_slave *fs, dgram *d)
{
    uint8_t out[512];
    d->sender_boot = fs->boot;
    d->receiver_boot = m->ep.boot;
    d->seq = ++fs->seq;
    aead_key hs;
    const aead_key *key = NULL;
    if (fs->ep.auth->enabled && dgram_handshake_type(d->type)) {
        handshake_key(&fs->ep, 0, m->ep.boot, fs->boot, 1, &hs);
        memcpy(d->eph_pub, fs->ep.eph.pub, DGRAM_PUB_LEN);
        key = &hs;
    } else if (fs->ep.auth->enabled)
        key = &fs->keys.tx;
    size_t n = dgram_encode(d, out, sizeof out, key);
    if (!n)
        return;
    memcpy(fs->last_sent, out, n);
    fs->last_sent_len = n;
    if (fz_inq_len < sizeof fz_inq / sizeof *fz_inq) { /* or lost */
        memcpy(fz_inq[fz_inq_len].data, out, n);
        fz_inq[fz_inq_len].len = n;
        fz_inq[fz_inq_len++].from = fs->addr;
    }
}

/* What the master sent fs, opened as a slave would: 0, or -1 (not for a
 * session it has, or it does not open: an error of the master's when it
 * names this life and its session). */
static int slave_open_dgram(fake_slave *fs, uint8_t *p, size_t n, dgram *d)
{
    const char *why;
    if (dgram_decode(p, n, d, &why) < 0)
        fz_abort("the master sent an undecodable datagram", 0);
    if (!fs->ep.auth->enabled)
        return 0;
    if (!(d->flags & DGRAM_FLAG_AUTH))
        fz_abort("the master sent an unsealed datagram with a key", 0);
    if (dgram_handshake_type(d->type)) {
        aead_key hs;
        handshake_key(&fs->ep, 0, d->sender_boot, d->receiver_boot, 0, &hs);
        if (dgram_open(p, d, &hs, &why) < 0)
            fz_abort("a PING of the master's does not open", 0);
        return 0;
    }
    if (d->receiver_boot != fs->boot || !fs->session)
        return -1; /* sealed for a session this life does not have: dropped, as a slave does */
    if (dgram_open(p, d, &fs->keys.rx, &why) < 0)
        fz_abort("a datagram of the master's does not open with the session's keys", 0);
    return 0;
}

static struct fake_job *slave_job(fake_slave *fs, uint64_t id)
{
    for (unsigned i = 0; i < fs->njobs; i++)
        if (fs->jobs[i].id == id)
            return &fs->jobs[i];
    return NULL;
}

static void slave_forget(fake_slave *fs, uint64_t id)
{
    for (unsigned i = 0; i < fs->njobs; i++)
        if (fs->jobs[i].id == id) {
            fs->jobs[i] = fs->jobs[--fs->njobs];
            return;
        }
}

/* The slave handles what the master sent it, as serveur_esclave does;
 * policy bits drop some of it (loss). */
static void slave_answer(master *m, fake_slave *fs, uint8_t policy)
{
    unsigned n = fs->ninbox;
    fs->ninbox = 0;
    pending_dgram box[16];
    memcpy(box, fs->inbox, sizeof box);
    for (unsigned i = 0; i < n; i++) {
        if (fs->frozen || (policy >> (i % 8)) & 1 & (policy >> 7))
            continue; /* lost */
        dgram d, r;
        if (slave_open_dgram(fs, box[i].data, box[i].len, &d) < 0)
            continue;
        memset(&r, 0, sizeof r);
        int ours = d.receiver_boot == fs->boot;
        switch (d.type) {
        case DG_PING:
            if (ours && !fs->session && memcmp(d.cookie, fs->cookie, COOKIE_LEN) == 0) {
                if (endpoint_keys(&fs->ep, 0, d.sender_boot, d.eph_pub, &fs->keys) < 0)
                    fz_abort("the master's public key is refused", 0);
                fs->session = 1;
            }
            if (!ours || !fs->session) {
                r.type = DG_COOKIE;
                r.echo_us = d.echo_us;
                memcpy(r.cookie, fs->cookie, COOKIE_LEN);
            } else {
                r.type = DG_PONG;
                r.echo_us = d.echo_us;
                r.slots_total = 2;
                r.slots_free = (uint16_t)(fs->njobs < 2 ? 2 - fs->njobs : 0);
            }
            slave_send(m, fs, &r);
            break;
        case DG_JOB: {
            if (!ours || !fs->session) {
                r.type = DG_COOKIE;
                r.job_id = d.job_id;
                memcpy(r.cookie, fs->cookie, COOKIE_LEN);
                slave_send(m, fs, &r);
                break;
            }
            struct fake_job *j = slave_job(fs, d.job_id);
            CommandRequest req;
            if (!j && d.offset == 0 && d.payload_len == d.total && fs->njobs < 16 &&
                job_request_decode(d.payload, d.payload_len, &req) == 0 && req.length < 64) {
                j = &fs->jobs[fs->njobs++];
                memset(j, 0, sizeof *j);
                j->id = d.job_id;
                memcpy(j->cmd, req.command, req.length);
            }
            r.type = DG_JOB_ACK;
            r.job_id = d.job_id;
            r.state = j ? (j->done ? JS_DONE : JS_RUNNING) : JS_GONE;
            r.cum = 1;
            slave_send(m, fs, &r);
            break;
        }
        case DG_CANCEL:
            if (!ours || !fs->session)
                break;
            slave_forget(fs, d.job_id);
            r.type = DG_JOB_ACK;
            r.job_id = d.job_id;
            r.state = JS_GONE;
            slave_send(m, fs, &r);
            break;
        case DG_RESULT_ACK:
            if (ours && d.state == RESULT_ACK_COMPLETE)
                slave_forget(fs, d.job_id);
            break;
        }
    }
    turn(m);
}

/* A finished job's result, in one fragment: its output is its command. */
static void slave_finish(master *m, fake_slave *fs, uint8_t arg)
{
    if (fs->frozen || !fs->session || !fs->njobs)
        return;
    struct fake_job *j = &fs->jobs[arg % fs->njobs];
    j->done = 1;
    CommandResult res;
    memset(&res, 0, sizeof res);
    res.status = RUN_EXITED;
    res.exit_code = arg >> 6;
    res.start_ms = fz_wall_ms();
    res.stdout_data = j->cmd;
    res.stdout_len = (uint32_t)strlen(j->cmd);
    uint8_t body[256];
    bwriter w;
    bw_init_fixed(&w, body, sizeof body);
    result_encode(&w, &res);
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_RESULT;
    d.job_id = j->id;
    d.total = (uint32_t)w.len;
    d.frag_size = FRAG_LOOPBACK;
    d.payload = body;
    d.payload_len = (uint32_t)w.len;
    slave_send(m, fs, &d);
    turn(m);
}

static void slave_restart(fake_slave *fs, uint8_t arg)
{
    static uint64_t lives;
    fs->boot = ++lives << 16 | arg;
    fs->seq = 0;
    fs->ep.boot = fs->boot;
    fs->ep.eph = *fz_ephemeral(1); /* fixed (fuzz_keys.h): the runs repeat */
    fs->session = 0;
    fs->frozen = 0;
    fs->njobs = 0;
    for (int i = 0; i < COOKIE_LEN; i++)
        fs->cookie[i] = (uint8_t)(fs->boot >> (i % 8 * 8)) ^ (uint8_t)i;
}

/* ------------------------------------------------------------ setup --- */

static char fz_conf_all[64], fz_conf_two[64];

static void write_conf(char *path, size_t len, int nslaves)
{
    snprintf(path, len, "/tmp/fuzz_master_conf.XXXXXX");
    int fd = mkstemp(path);
    char text[256];
    int n = 0;
    for (int k = 0; k < nslaves; k++)
        n += snprintf(text + n, sizeof text - (size_t)n, "127.0.0.1 %d\n", 7001 + k);
    if (fd < 0 || write(fd, text, (size_t)n) != n)
        abort();
    close(fd);
}

/* The bytes counted against each client's queue bound are those of the
 * commands in its queue, no more (a count that only grows would in the end
 * stop the master reading that client). */
static void check_queues(master *m)
{
    for (client *cl = m->clients; cl; cl = cl->next) {
        size_t bytes = 0;
        unsigned n = 0;
        for (command *cmd = cl->qhead; cmd; cmd = cmd->next)
            bytes += command_size(cmd), n++;
        if (bytes != cl->queued_bytes || n != cl->queued)
            fz_abort("queued bytes or count differ from the queue's", (unsigned)(cl->sock - CLIENT_SOCK_BASE));
    }
}

static void tick(master *m, uint64_t us)
{
    fz_now_us += us;
    turn(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static auth_keys no_key, dgram_key;
    static master_config cfg;
    static int ready;
    if (!ready) {
        log_init("fuzz", LOG_ERROR);
        write_conf(fz_conf_all, sizeof fz_conf_all, FAKE_SLAVES);
        write_conf(fz_conf_two, sizeof fz_conf_two, FAKE_SLAVES - 1);
        char key_path[] = "/tmp/fuzz_master_key_XXXXXX", err[256];
        int kfd = mkstemp(key_path); /* mode 600 */
        static const char two_keys[] = "fuzz-master-new-key-0123456789abcdef\nfuzz-master-old-key-0123456789abcdef\n";
        if (kfd < 0 || write(kfd, two_keys, sizeof two_keys - 1) != (ssize_t)(sizeof two_keys - 1))
            abort();
        close(kfd);
        if (auth_load(&fz_keys, key_path, err, sizeof err) < 0)
            abort();
        unlink(key_path);
        cfg = (master_config){"127.0.0.1", 6000, fz_conf_all, 3, 1000, 2, 20000, 5000, &no_key, 3000, 256, NULL, 300000,
                              3600000, 0, NULL, 0, NULL, NULL, AGING_DEFAULT_MS, 0, 0, 0, 0, 0};
        ready = 1;
    }
    log_level = getenv("FUZZ_MASTER_TRACE") ? LOG_DEBUG : -1;
    cfg.slaves_conf = fz_conf_all;
    fz_now_us = 1000000;
    memset(fz_clients, 0, sizeof fz_clients);
    memset(fz_slaves, 0, sizeof fz_slaves);
    fz_inq_len = 0;
    fz_done = 0;
    master *m = calloc(1, sizeof *m);
    m->cfg = &cfg;
    m->auth = &fz_keys; /* the clients' side keyed (frames sealed) */
    /* datagrams sealed for an input of even length, under keys of their
     * own (m->ep.auth: the master's datagrams take their keys there) */
    memset(&dgram_key, 0, sizeof dgram_key);
    if (size % 2 == 0) {
        dgram_key.enabled = 1, dgram_key.count = 1;
        for (int dir = 0; dir < 4; dir++)
            memset(dgram_key.set[0].raw[dir], 0x20 + dir, SHA256_LEN);
    }
    m->ep.auth = &dgram_key;
    m->ep.role = AUTH_MASTER;
    m->ep.boot = 0x4d00000000000001ull;
    m->ep.eph = *fz_ephemeral(0);
    m->udp = UDP_SOCK;
    m->udp_family = AF_INET;
    m->listener = m->udp_other = SOCK_INVALID;
    if (load_slaves(m) <= 0)
        abort();
    m->listener = 1; /* later loads are reloads */
    m->started_ms = clock_ms();
    for (int k = 0; k < FAKE_SLAVES; k++) {
        char err[128];
        net_resolve("127.0.0.1", 7001 + k, 1, &fz_slaves[k].addr, err, sizeof err);
        fz_slaves[k].ep = (endpoint){.auth = &dgram_key, .role = AUTH_SLAVE};
        slave_restart(&fz_slaves[k], (uint8_t)k);
    }
    const uint8_t *p = data, *end = data + size;
#define TAKE() (p < end ? *p++ : 0)
    unsigned ops = 0;
    while (p < end && ops++ < 2000) {
        uint8_t op = TAKE(), arg = TAKE();
        unsigned c = (op >> 4) % FAKE_CLIENTS, k = (op >> 4) % FAKE_SLAVES;
        fake_client *fc = &fz_clients[c];
        fake_slave *fs = &fz_slaves[k];
        switch (op & 15) {
        case 0: client_connect(m, c, arg); break;
        case 1: case 2: for (unsigned i = 0; i <= arg % 4; i++) client_submit(fc, c); break;
        case 3: client_end(fc); break;
        case 4: if (fc->connected && (arg & 7) == 0) fc->eof_next = 1; break; /* the client leaves */
        case 5: fc->frozen = arg & 1; break;
        case 6: turn(m); break;
        case 7: case 8: slave_answer(m, fs, arg); break;
        case 9: slave_finish(m, fs, arg); break;
        case 10: tick(m, (uint64_t)arg * (arg & 1 ? 1000 : 50000)); break; /* up to 12.7 s */
        case 11: if ((arg & 3) == 0) slave_restart(fs, arg); break;
        case 12: fs->frozen = arg & 1; break;
        case 13: /* a duplicate of the slave's last datagram */
            if (fs->last_sent_len && fz_inq_len < sizeof fz_inq / sizeof *fz_inq) {
                memcpy(fz_inq[fz_inq_len].data, fs->last_sent, fs->last_sent_len);
                fz_inq[fz_inq_len].len = fs->last_sent_len;
                fz_inq[fz_inq_len++].from = fs->addr;
                turn(m);
            }
            break;
        case 14: /* SIGHUP: slaves.conf without the last slave, or with it again */
            cfg.slaves_conf = arg & 1 ? fz_conf_two : fz_conf_all;
            if (!fz_done && !m->stopping)
                load_slaves(m);
            break;
        case 15:
            if (fz_done) {
                break;
            } else if (arg == 0x5a && !m->stopping) { /* SIGTERM, rarely */
                begin_shutdown(m);
            } else if (fs->session && !fs->frozen && (arg & 0xf0) == 0x40) { /* LEAVING */
                dgram d;
                memset(&d, 0, sizeof d);
                d.type = DG_LEAVING;
                slave_send(m, fs, &d);
                slave_restart(fs, arg);
                turn(m);
            }
            break;
        }
        if (!fz_done)
            check_queues(m);
    }
    /* Every fault lifted: within two minutes, every client still there
     * that ended its batch has all its results. */
    for (int k = 0; k < FAKE_SLAVES; k++)
        fz_slaves[k].frozen = 0;
    for (unsigned c = 0; c < FAKE_CLIENTS; c++) {
        fz_clients[c].frozen = 0;
        client_end(&fz_clients[c]);
    }
    cfg.slaves_conf = fz_conf_all;
    if (!fz_done && !m->stopping)
        load_slaves(m);
    for (int round = 0; round < 1200 && !fz_done; round++) {
        turn(m);
        for (int k = 0; k < FAKE_SLAVES; k++) {
            slave_answer(m, &fz_slaves[k], 0);
            for (unsigned i = fz_slaves[k].njobs; i-- > 0;)
                slave_finish(m, &fz_slaves[k], (uint8_t)i);
        }
        turn(m);
        tick(m, 100000);
    }
    for (unsigned c = 0; c < FAKE_CLIENTS; c++) {
        fake_client *fc = &fz_clients[c];
        if (getenv("FUZZ_MASTER_TRACE")) /* to check that a seed does what it means to */
            fprintf(stderr, "client %u: %s, %u submitted, bye %d\n", c,
                    fc->connected ? "connected" : fc->closed_by_master ? "closed by the master" : "gone", fc->submitted,
                    fc->bye);
        if (fc->connected && !fc->eof_next && fc->ended && !fc->bye)
            fz_abort("no BYE two minutes after every fault was lifted", c);
    }
    if (!fz_done) {
        check_queues(m);
        shutdown_all(m);
    }
    free(fz_ps.pfds);
    free(fz_ps.owners);
    fz_ps = (poll_set){0};
    free(m);
    return 0;
}
