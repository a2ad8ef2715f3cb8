/*
 * Fuzz target: the slave's state machine, not only its decoders.
 *
 * The input is a script of operations played against the real slave/ files
 * (included here, so their static handlers are reachable, and the event
 * loop's own steps are called, not copies of them): three fake
 * masters send correctly sealed PINGs (the handshake keys of their key set:
 * the first line, or the old second one during a rotation), JOB fragments, RESULT_ACKs and
 * CANCELs with ids from a small range (so retransmissions and duplicates
 * are frequent), restart (new lives), replay what they sent earlier from
 * their own or another address; time moves on; the slave restarts. Time,
 * processes and the socket are fakes: a command "runs" until the fake
 * clock passes its end, and every datagram the slave sends is captured.
 *
 * The fake masters do the cookie handshake when the script says so: a
 * COOKIE the slave sends them is kept, and a later PING may echo it.
 *
 * Invariants checked (abort, so libFuzzer reports the input):
 *  - a job, named by (slave life, master life, job id), starts at most
 *    once, whatever is replayed, duplicated, delayed or restarted (a
 *    master restarted with the same identity adopts its earlier life's
 *    jobs: they never start again);
 *  - the slave never ignores a master: an authentic PING or JOB for its
 *    current life, from the master's own address, gets an answer there;
 *  - no amplification: to an address that is not a session's, the slave
 *    sends only answers, each no larger than the datagram it answers, and
 *    nothing at all from its timers;
 *  - the slave holds at most MAX_JOBS jobs;
 *  - every datagram it sends decodes, and is sealed when there is a key;
 *    one to a fake master's current life opens with that master's keys.
 * With a key, the fake masters know the slave's public key (they read it
 * from the slave) and derive their session keys as a real master does.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "platform.h"
#include "proto.h"
#include "slave/runner.h"

/* ------------------------------------------------------------ fakes --- */

static uint64_t fz_now_us = 1000000;
static uint64_t fz_clock_us(void) { return fz_now_us; }
static uint64_t fz_clock_ms(void) { return fz_now_us / 1000; }
static uint64_t fz_wall_ms(void) { return 1700000000000ull + fz_now_us / 1000; }

typedef struct {
    uint8_t data[DGRAM_MAX];
    size_t len;
    net_addr to;
} sent_dgram;
static sent_dgram fz_sent[64];
static unsigned fz_nsent;
static size_t fz_request_len; /* the datagram being handled; 0 in timers */
static unsigned fz_sends_to_master; /* to the fake master the request came from */
static const net_addr *fz_request_from;
static void fz_on_sent(const uint8_t *p, size_t n, const net_addr *to); /* below, once slave/ is in */
static long fz_sendto(sock_t s, const void *p, size_t n, const net_addr *to)
{
    (void)s;
    sent_dgram *d = &fz_sent[fz_nsent++ % 64];
    memcpy(d->data, p, n < sizeof d->data ? n : sizeof d->data);
    d->len = n;
    d->to = *to;
    fz_on_sent(p, n, to);
    return (long)n;
}

/* Commands that were started, by name: "fz SLAVEBOOT MASTERBOOT JOBID". */
#define MAX_STARTED 4096
static char *fz_started[MAX_STARTED];
static unsigned fz_nstarted;
static long fz_next_pid = 100;

static int fz_runner_start(runner_proc *p, const char *command, const runner_place *place, uint32_t output_cap,
                           uint32_t timeout_ms, char *err, size_t errlen)
{
    (void)place, (void)timeout_ms, (void)err, (void)errlen;
    for (unsigned i = 0; i < fz_nstarted; i++)
        if (strcmp(fz_started[i], command) == 0) {
            fprintf(stderr, "INVARIANT: '%s' started twice\n", command);
            abort();
        }
    if (fz_nstarted < MAX_STARTED)
        fz_started[fz_nstarted++] = strdup(command);
    memset(p, 0, sizeof *p);
    bw_init(&p->out, output_cap);
    bw_init(&p->err, output_cap);
    bw_bytes(&p->out, command, strlen(command));
    p->pid = fz_next_pid++;
    p->start_us = fz_now_us;
    p->start_wall_ms = fz_wall_ms();
    /* runs for a time taken from its id: some end at once, some late */
    p->deadline_us = fz_now_us + (uint64_t)(p->pid % 7) * 400000;
    return 0;
}
static int fz_runner_poll_fds(const runner_proc *p, net_pollfd *out, int max) { (void)p, (void)out, (void)max; return 0; }
static void fz_runner_on_ready(runner_proc *p, sock_t fd) { (void)p, (void)fd; }
static void fz_runner_kill(runner_proc *p) { p->exited = 1, p->killed_by_timeout = 0; }
static void fz_runner_kill_and_wait(runner_proc *p) { p->exited = 1; }
static void fz_runner_tick(runner_proc *p, uint64_t now_us)
{
    if (!p->exited && now_us >= p->deadline_us)
        p->exited = 1, p->end_us = now_us;
}
static uint64_t fz_runner_next_deadline(const runner_proc *p) { return p->exited ? 0 : p->deadline_us; }
static void fz_runner_free(runner_proc *p)
{
    bw_free(&p->out);
    bw_free(&p->err);
    p->pid = 0;
}
static void fz_runner_reap(void (*exited)(void *ctx, long pid, int status), void *ctx) { (void)exited, (void)ctx; }
static uint64_t fz_runner_sweep_tick(uint64_t now_us) { (void)now_us; return 0; }
static void fz_runner_on_exit(runner_proc *p, int status, uint64_t now_us) { (void)status, p->exited = 1, p->end_us = now_us; }
static void fz_runner_result(const runner_proc *p, CommandResult *r)
{
    r->status = RUN_EXITED;
    r->start_ms = p->start_wall_ms;
    r->duration_us = p->end_us - p->start_us;
    r->stdout_data = (char *)p->out.data;
    r->stdout_len = (uint32_t)p->out.len;
}
/* --line-buffer: the output so far (the command's name, from its start) */
static size_t fz_runner_output_read(runner_proc *p, int k, uint32_t from, uint8_t *dst, size_t max)
{
    const bwriter *b = k ? &p->err : &p->out;
    size_t n = from < b->len ? b->len - from : 0;
    if (n > max)
        n = max;
    if (n)
        memcpy(dst, b->data + from, n);
    return n;
}

#define clock_us fz_clock_us
#define clock_ms fz_clock_ms
#define wall_ms fz_wall_ms
#define net_sendto fz_sendto
#define runner_start fz_runner_start
#define runner_poll_fds fz_runner_poll_fds
#define runner_on_ready fz_runner_on_ready
#define runner_kill fz_runner_kill
#define runner_kill_and_wait fz_runner_kill_and_wait
#define runner_tick fz_runner_tick
#define runner_next_deadline fz_runner_next_deadline
#define runner_free fz_runner_free
#define runner_reap fz_runner_reap
#define runner_sweep_tick fz_runner_sweep_tick
#define runner_on_exit fz_runner_on_exit
#define runner_result fz_runner_result
#define runner_output_read fz_runner_output_read
#include "fuzz_keys.h" /* memoized key derivations, fixed key pairs */
/* the declarations in these headers get the fake names too */
#include "../lib/endpoint.c" /* linked without it: its sendto must be the fake one */
#include "../slave/slave.c"
#include "../slave/sessions.c"
#include "../slave/jobs.c"

/* ---------------------------------------------------------- masters --- */

#define FAKE_MASTERS 3
#define ID_RANGE 12

typedef struct {
    net_addr addr, other; /* where it sends from; another address (moved, or an attacker) */
    uint64_t boot;
    uint64_t master_id;   /* in its PINGs: the same across restarts (adoption), or 0 */
    auth_ephemeral eph;   /* its life's (made from its boot id: the runs repeat) */
    int set;              /* the key set it seals with */
    dgram_keys keys;      /* session keys with the current slave life */
    uint64_t floor;
    uint8_t cookie[2][COOKIE_LEN]; /* the last COOKIE the slave sent to addr, to other */
} fake_master;

typedef struct {
    const uint8_t *p;
    size_t n;
} script;

static uint8_t take(script *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static net_addr loopback(uint8_t host, uint16_t port)
{
    net_addr a;
    memset(&a, 0, sizeof a);
    struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(0x7f000000u | host);
    a.len = sizeof *in;
    return a;
}

static auth_keys fz_auth;
static slave_config fz_cfg;
static slave *fz_slave;
static fake_master fz_masters[FAKE_MASTERS];
static uint64_t fz_seq = 1;

typedef struct {
    uint8_t data[DGRAM_MAX];
    size_t len;
} recorded;
static recorded fz_recorded[32];
static unsigned fz_nrecorded;
static int fz_record_next; /* the script says which datagrams to keep for replays */

static int is_session_addr(const net_addr *a)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        const session *t = &fz_slave->sessions[i];
        if (t->used && !t->superseded && net_addr_equal(&t->addr, a))
            return 1;
    }
    return 0;
}

static int master_opens(const fake_master *m, const uint8_t *p, size_t n, dgram *d);

static void fz_on_sent(const uint8_t *p, size_t n, const net_addr *to)
{
    if (!is_session_addr(to) && (!fz_request_len || n > fz_request_len)) {
        fprintf(stderr, "INVARIANT: %zu bytes sent to an address without a session (%s, request of %zu bytes)\n", n,
                fz_request_len ? "answering" : "from a timer", fz_request_len);
        abort();
    }
    if (fz_request_from && net_addr_equal(to, fz_request_from))
        fz_sends_to_master++;
    dgram d;
    const char *why = NULL;
    if (dgram_decode(p, n, &d, &why) < 0 || d.type != DG_COOKIE)
        return;
    for (int i = 0; i < FAKE_MASTERS; i++) {
        fake_master *m = &fz_masters[i];
        if (d.receiver_boot != m->boot || !master_opens(m, p, n, &d))
            continue;
        if (net_addr_equal(to, &m->addr))
            memcpy(m->cookie[0], d.cookie, COOKIE_LEN);
        else if (net_addr_equal(to, &m->other))
            memcpy(m->cookie[1], d.cookie, COOKIE_LEN);
    }
}

/* Fixed key pairs (fuzz_keys.h): the same script, the same run. */
static void fake_ephemeral(auth_ephemeral *e, int k)
{
    *e = *fz_ephemeral(k);
}

static endpoint master_endpoint(const fake_master *m)
{
    endpoint e = {.auth = &fz_auth, .role = AUTH_MASTER, .boot = m->boot};
    e.eph = m->eph;
    return e;
}

static void master_keys(fake_master *m)
{
    fake_ephemeral(&m->eph, 0);
    endpoint e = master_endpoint(m);
    memset(&m->keys, 0, sizeof m->keys);
    if (fz_auth.enabled && endpoint_keys(&e, m->set, fz_slave->ep.boot, fz_slave->ep.eph.pub, &m->keys) < 0)
        abort();
}

/* Opens p (a copy) as master m would: 1 opened, 0 not. */
static int master_opens(const fake_master *m, const uint8_t *p, size_t n, dgram *d)
{
    static uint8_t copy[DGRAM_MAX];
    const char *why;
    memcpy(copy, p, n);
    if (dgram_decode(copy, n, d, &why) < 0)
        return 0;
    if (!fz_auth.enabled)
        return 1;
    aead_key hs;
    endpoint e = master_endpoint(m);
    handshake_key(&e, m->set, d->receiver_boot, d->sender_boot, 0, &hs);
    return dgram_open(copy, d, dgram_handshake_type(d->type) ? &hs : &m->keys.rx, &why) == 0;
}

static void slave_new_life(uint64_t boot)
{
    if (fz_slave) {
        jobs_kill_all(fz_slave);
        sessions_free(fz_slave);
        free(fz_slave);
    }
    fz_slave = calloc(1, sizeof *fz_slave);
    fz_slave->cfg = &fz_cfg;
    fz_slave->auth = &fz_auth;
    fz_slave->ep = (endpoint){.auth = &fz_auth, .role = AUTH_SLAVE};
    fz_slave->ep.boot = boot ? boot : 1;
    fake_ephemeral(&fz_slave->ep.eph, 1);
    fz_slave->sock = SOCK_INVALID;
    uint8_t secret[8];
    put_u32(secret, (uint32_t)(boot >> 32)), put_u32(secret + 4, (uint32_t)boot);
    hmac_key_init(&fz_slave->cookie_key, secret, sizeof secret);
    for (int i = 0; i < FAKE_MASTERS; i++)
        master_keys(&fz_masters[i]);
}

/* Hands the slave one datagram, as its loop does; with batch_end, the
 * loop's end-of-batch step (jobs_send_acks, after read_datagrams's drain)
 * follows at once. */
static void deliver_datagram(const uint8_t *p, size_t n, const net_addr *from, int batch_end, int must_answer)
{
    uint8_t copy[DGRAM_MAX];
    memcpy(copy, p, n); /* the slave may keep nothing pointing into it */
    fz_request_len = n;
    fz_request_from = from;
    fz_sends_to_master = 0;
    on_datagram(fz_slave, copy, n, from);
    if (batch_end)
        jobs_send_acks(fz_slave);
    if (batch_end && must_answer && !fz_sends_to_master) {
        fprintf(stderr, "INVARIANT: an authentic datagram of type %u from a master got no answer\n", p[3]);
        abort();
    }
    fz_request_len = 0;
    fz_request_from = NULL;
}

static void deliver(const uint8_t *p, size_t n, const net_addr *from, int batch_end, int must_answer)
{
    if (fz_record_next) {
        fz_record_next = 0;
        recorded *r = &fz_recorded[fz_nrecorded++ % 32];
        memcpy(r->data, p, n);
        r->len = n;
    }
    deliver_datagram(p, n, from, batch_end, must_answer);
}

static int fz_batch_end; /* set by the script for the next datagram */

static void send_from_master(fake_master *m, dgram *d, int from_other, int stale_receiver)
{
    uint8_t out[DGRAM_MAX];
    d->sender_boot = m->boot;
    if (d->type == DG_PING)
        d->master_id = m->master_id;
    d->receiver_boot = stale_receiver == 1 ? 0 : stale_receiver == 2 ? fz_slave->ep.boot + 1 : fz_slave->ep.boot;
    d->seq = fz_seq++;
    aead_key hs;
    const aead_key *key = NULL;
    if (fz_auth.enabled && dgram_handshake_type(d->type)) {
        endpoint e = master_endpoint(m);
        handshake_key(&e, m->set, m->boot, d->receiver_boot, 1, &hs);
        memcpy(d->eph_pub, m->eph.pub, DGRAM_PUB_LEN);
        key = &hs;
    } else if (fz_auth.enabled)
        key = &m->keys.tx;
    size_t n = dgram_encode(d, out, sizeof out, key);
    /* A PING or a JOB of a master, for this life of the slave, from where
     * the master is, is never ignored: the answer is a PONG, a JOB_ACK
     * (after the batch) or a COOKIE; with a key, a JOB only once a session
     * exists (without one it cannot be opened: the next PING is answered). */
    size_t cookie_len = DGRAM_HEADER_LEN + 8 + COOKIE_LEN + DGRAM_PUB_LEN + (fz_auth.enabled ? DGRAM_TAG_LEN : 0);
    int must_answer = !from_other && !stale_receiver &&
                      (d->type == DG_PING || (d->type == DG_JOB && n >= cookie_len &&
                                              (!fz_auth.enabled || session_find(fz_slave, m->boot))));
    int batch_end = fz_batch_end;
    fz_batch_end = 0;
    if (n)
        deliver(out, n, from_other ? &m->other : &m->addr, batch_end, must_answer);
}

static void check_sent(void)
{
    unsigned n = fz_nsent < 64 ? fz_nsent : 64;
    for (unsigned i = 0; i < n; i++) {
        dgram d;
        const char *why = NULL;
        if (dgram_decode(fz_sent[i].data, fz_sent[i].len, &d, &why) < 0) {
            fprintf(stderr, "INVARIANT: the slave sent an undecodable datagram: %s\n", why);
            abort();
        }
        if (!!(d.flags & DGRAM_FLAG_AUTH) != fz_auth.enabled) {
            fprintf(stderr, "INVARIANT: the slave sent a datagram %s sealing\n", fz_auth.enabled ? "without" : "with");
            abort();
        }
        for (int k = 0; k < FAKE_MASTERS; k++) {
            fake_master *m = &fz_masters[k];
            dgram o;
            if (d.receiver_boot == m->boot && d.sender_boot == fz_slave->ep.boot &&
                !master_opens(m, fz_sent[i].data, fz_sent[i].len, &o)) {
                fprintf(stderr, "INVARIANT: a %s to a master's current life does not open with its keys\n",
                        dgram_type_name(d.type));
                abort();
            }
        }
    }
    fz_nsent = 0;
}

static void op_job(script *s, fake_master *m)
{
    uint8_t a = take(s), b = take(s);
    char cmd[96];
    uint64_t id = m->floor + a % ID_RANGE + 1;
    int len = snprintf(cmd, sizeof cmd, "fz %016llx %016llx %llu", (unsigned long long)fz_slave->ep.boot,
                       (unsigned long long)m->boot, (unsigned long long)id);
    uint8_t body[128];
    bwriter w;
    bw_init_fixed(&w, body, sizeof body);
    CommandRequest req;
    memset(&req, 0, sizeof req);
    req.timeout_ms = b & 4 ? 1000u : 0u;
    req.length = (uint32_t)len;
    req.command = cmd;
    if ((a & 0x30) == 0x30) /* --line-buffer's JOBX_STREAM (the id's low bits vary independently) */
        req.ext[req.next++] = (job_ext){JOBX_STREAM, 0, NULL};
    job_request_encode(&w, &req);
    /* small fragments, so that requests come in pieces */
    uint16_t frag = b & 8 ? 16 : (uint16_t)w.len;
    uint32_t nfrags = ((uint32_t)w.len + frag - 1) / frag;
    uint32_t k = (b >> 4) % nfrags;
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_JOB;
    d.job_id = id;
    d.floor = b & 2 ? m->floor : m->floor + (a >> 4);
    d.total = (uint32_t)w.len;
    d.frag_size = frag;
    d.offset = k * frag;
    d.payload = body + d.offset;
    d.payload_len = d.total - d.offset < frag ? d.total - d.offset : frag;
    send_from_master(m, &d, b & 1, (a >> 6) % 3 == 2 ? 1 + (b & 1) : 0);
}

static void op_simple(script *s, fake_master *m, uint8_t type)
{
    uint8_t a = take(s), b = take(s);
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = type;
    d.job_id = type == DG_PING ? 0 : m->floor + a % ID_RANGE + 1;
    d.floor = m->floor;
    d.echo_us = fz_now_us;
    if (type == DG_PING && (a & 0x80))
        memcpy(d.cookie, m->cookie[(b >> 1) & 1], COOKIE_LEN); /* a handshake, from where the cookie went */
    d.state = b & 1;
    d.cum = b >> 4;
    d.sack = a;
    send_from_master(m, &d, (b >> 1) & 1, ((b >> 2) & 3) == 3 ? 1 : 0);
}

static void op_tick(script *s)
{
    uint8_t a = take(s);
    fz_now_us += (uint64_t)a * (a & 1 ? 1000 : 100000); /* up to 25 s */
    /* the loop's timer steps, in its order (slave_run) */
    jobs_reap(fz_slave);
    jobs_tick(fz_slave, fz_now_us);
    sessions_tick(fz_slave, fz_now_us);
    check_sent();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        log_init("fuzz", LOG_ERROR);
        log_level = getenv("FUZZ_SLAVE_TRACE") ? LOG_DEBUG : -1; /* silence: the invariants speak */
        ready = 1;
    }
    script s = {data, size};
    uint8_t setup = take(&s);
    memset(&fz_auth, 0, sizeof fz_auth);
    if (setup & 1) { /* direction keys as a key file of one line, or two (setup & 32: a rotation) */
        fz_auth.enabled = 1;
        fz_auth.count = setup & 32 ? 2 : 1;
        for (int k = 0; k < fz_auth.count; k++)
            for (int dir = 0; dir < 4; dir++)
                memset(fz_auth.set[k].raw[dir], 0x10 * (k + 1) + dir, SHA256_LEN);
    }
    memset(&fz_cfg, 0, sizeof fz_cfg);
    fz_cfg.slots = 1 + (setup >> 1) % 3;
    fz_cfg.output_cap = 1024;
    fz_cfg.master_grace_ms = setup & 16 ? 3000 : 30000;
    for (int i = 0; i < FAKE_MASTERS; i++) {
        fake_master *m = &fz_masters[i];
        memset(m, 0, sizeof *m);
        m->addr = loopback((uint8_t)(10 + i), (uint16_t)(6000 + i));
        m->other = loopback(99, (uint16_t)(7000 + i));
        m->boot = ((uint64_t)(1000 + i) << 32) | (uint64_t)(i + 1);
        m->master_id = setup & 8 ? 0xA000u + (uint64_t)i : 0;
        m->set = fz_auth.count == 2 && (setup & 64) && i == 1; /* one master still on the old key */
    }
    fz_batch_end = 0;
    fz_now_us = 1000000;
    fz_seq = 1;
    fz_nrecorded = fz_nsent = 0;
    slave_new_life(0x500000000ull | setup);
    unsigned ops = 0, lives = 0;
    while (s.n && ops++ < 4000) {
        uint8_t op = take(&s);
        fake_master *m = &fz_masters[(op >> 4) % FAKE_MASTERS];
        switch (op & 15) {
        case 0: case 1: case 2: op_job(&s, m); break;
        case 3: op_simple(&s, m, DG_PING); break;
        case 4: op_simple(&s, m, DG_RESULT_ACK); break;
        case 5: op_simple(&s, m, DG_CANCEL); break;
        case 6: case 7: op_tick(&s); break;
        case 8: { /* the master restarts: a new life (boot ids are random: never the same twice) */
            uint8_t a = take(&s);
            m->boot = (uint64_t)++lives << 24 | (uint64_t)a << 8 | (uint64_t)(m - fz_masters);
            if (a & 0x40) /* another master at that address, or the same one with its state lost */
                m->master_id = m->master_id ? 0 : 0xA000u + (uint64_t)(m - fz_masters);
            m->floor = 0;
            master_keys(m);
            break;
        }
        case 9: m->floor += take(&s) % 4; break;
        case 10: case 11: { /* a recorded datagram, replayed */
            uint8_t a = take(&s);
            if (fz_nrecorded) {
                recorded *r = &fz_recorded[a % (fz_nrecorded < 32 ? fz_nrecorded : 32)];
                deliver_datagram(r->data, r->len, a & 0x80 ? &m->other : &m->addr, a & 1, 0);
            }
            break;
        }
        case 12: /* the slave restarts */
            slave_new_life(fz_slave->ep.boot + 1 + take(&s));
            break;
        case 13:
            fz_record_next = 1;
            break;
        case 14:
            fz_batch_end = 1;
            break;
        default:
            jobs_send_acks(fz_slave);
            check_sent();
        }
        if (fz_slave->njobs > MAX_JOBS) {
            fprintf(stderr, "INVARIANT: %u jobs held\n", fz_slave->njobs);
            abort();
        }
    }
    jobs_send_acks(fz_slave);
    check_sent();
    if (getenv("FUZZ_SLAVE_TRACE")) /* to check that a seed does what it means to */
        fprintf(stderr, "%u ops, %u jobs started, %u held\n", ops, fz_nstarted, fz_slave->njobs);
    jobs_kill_all(fz_slave);
    sessions_free(fz_slave);
    free(fz_slave);
    fz_slave = NULL;
    for (unsigned i = 0; i < fz_nstarted; i++)
        free(fz_started[i]);
    fz_nstarted = 0;
    return 0;
}
