/*
 * sessions.c - the masters a slave talks to: a session per master life
 * (found by its boot id), opened only by a cookie handshake (PING and
 * COOKIE), superseded when the same address restarts (its jobs adopted by
 * the new life when both have the same master identity), dormant when the
 * master falls silent (sessions_tick kills its jobs after
 * SESSION_KEEP_MS).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void session_drop_jobs(slave *sl, session *s)
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
void session_advance_floor(slave *sl, session *s, uint64_t floor)
{
    if (floor <= s->taken.floor)
        return;
    dedup_advance(&s->taken, floor);
    unsigned kept = 0;
    for (unsigned i = 0; i < s->nlost; i++)
        if (s->lost[i].id >= floor)
            s->lost[kept++] = s->lost[i];
    s->nlost = kept;
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

/* A restarted master (the same nonzero identity, a new life at the same
 * address) takes over its earlier life's jobs: they move to s with their
 * ids, running ones keep running, finished results will be sent to s
 * (with s's keys and boot: send_result_fragment uses j->sess), from their
 * first fragment again (the new life has none of them), and old's
 * taken ids stay taken in s's window. Jobs below s's floor are finished
 * for the new life: dropped. Returns how many were adopted. */
unsigned session_adopt_jobs(slave *sl, session *s, session *old)
{
    unsigned n = 0;
    uint64_t now = clock_ms();
    dedup_merge(&s->taken, &old->taken);
    if (old->highest_job > s->highest_job)
        s->highest_job = old->highest_job;
    for (unsigned i = 0; i < old->nlost; i++) /* what the old life's jobs became, for the new life to ask */
        session_note_lost(s, old->lost[i].id, old->lost[i].why);
    session_forget(old);
    for (job *j = sl->jobs; j; j = j->next) {
        if (j->sess != old)
            continue;
        j->sess = s;
        old->njobs--, s->njobs++;
        old->rx_bytes -= j->rx_charge, s->rx_bytes += j->rx_charge;
        j->last_progress_ms = now; /* the new life gets the full give-up times */
        if (j->phase == JP_SENDING) /* the new life has none of what the old one acknowledged */
            xfer_tx_restart(&j->tx);
        n++;
    }
    for (job **pp = &sl->jobs; *pp;) {
        job *j = *pp;
        if (j->sess == s && j->id < s->taken.floor) {
            LOG(LOG_INFO, "job %llu: below the restarted master's floor: dropped", (unsigned long long)j->id);
            *pp = j->next;
            job_free(sl, j);
            n--;
        } else {
            pp = &j->next;
        }
    }
    return n;
}

/* Job id of s's master dropped before it ended, or with its result never
 * acknowledged (enum job_gone_why): a JOB for it is answered GONE with
 * that reason (jobs.c's send_job_ack). Only for a master with an identity
 * (its next life asks, by id); at most LOST_MAX, the oldest forgotten. */
void session_note_lost(session *s, uint64_t id, uint8_t why)
{
    if (!s->master_id || id < s->taken.floor)
        return;
    for (unsigned i = 0; i < s->nlost; i++)
        if (s->lost[i].id == id) {
            s->lost[i].why = why;
            return;
        }
    if (s->nlost == LOST_MAX) {
        memmove(s->lost, s->lost + 1, (LOST_MAX - 1) * sizeof *s->lost);
        s->nlost--;
    }
    if (s->nlost == s->cap_lost) {
        unsigned cap = s->cap_lost ? 2 * s->cap_lost : 16;
        struct lost_job *grown = realloc(s->lost, cap * sizeof *grown);
        if (!grown)
            return; /* then the master hears GONE without a reason: "not run again" */
        s->lost = grown;
        s->cap_lost = cap;
    }
    s->lost[s->nlost++] = (struct lost_job){id, why};
}

uint8_t session_lost_why(const session *s, uint64_t id)
{
    for (unsigned i = 0; i < s->nlost; i++)
        if (s->lost[i].id == id)
            return s->lost[i].why;
    return GONE_UNSAID;
}

void session_forget(session *s)
{
    free(s->lost);
    s->lost = NULL;
    s->nlost = s->cap_lost = 0;
}

/* Stopping: what the sessions hold besides the slave struct. */
void sessions_free(slave *sl)
{
    for (int i = 0; i < MAX_SESSIONS; i++)
        session_forget(&sl->sessions[i]);
}

/* Job id taken from s's master: never run again; and the highest one is
 * told in every PONG (a restarted master checks its journal with it). */
void session_take(session *s, uint64_t id)
{
    dedup_mark(&s->taken, id);
    if (id > s->highest_job)
        s->highest_job = id;
}

int session_has_jobs(const slave *sl, const session *s)
{
    for (const job *j = sl->jobs; j; j = j->next)
        if (j->sess == s)
            return 1;
    return 0;
}

/* Sessions are found by the master's boot id, not by address: a datagram
 * replayed from elsewhere lands in the same session, and its window. */
session *session_find(slave *sl, uint64_t master_boot)
{
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &sl->sessions[i];
        if (s->used && s->master_boot == master_boot)
            return s;
    }
    return NULL;
}

/* The session of the master's life that sent d to this life of ours, or
 * NULL (never met, forgotten, or d is for an earlier life of ours). */
session *session_addressed(slave *sl, const dgram *d)
{
    return d->receiver_boot == sl->ep.boot ? session_find(sl, d->sender_boot) : NULL;
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
    uint8_t in[8 + 4], mac[SHA256_LEN]; /* the master's boot id, when issued */
    char name[ADDR_NAME_LEN];
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
 * NULL when the table is full of masters with jobs or recently heard.
 * keys: the session keys of this handshake (endpoint_keys). */
static session *session_open(slave *sl, const net_addr *from, const dgram *d, uint32_t cookie_ms,
                             const dgram_keys *keys)
{
    uint64_t now = clock_ms();
    char name[ADDR_NAME_LEN];
    net_addr_str(from, name, sizeof name);
    /* Handshakes are ordered by when their cookie was issued: a cookie older
     * than the one that opened the live session at this address (a handshake
     * PING held back on the path, then sent) supersedes nothing. Both are
     * less than a minute old then, so the 32-bit times compare safely. */
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *t = &sl->sessions[i];
        if (t->used && !t->superseded && t->master_boot != d->sender_boot &&
            (net_addr_equal(&t->addr, from) || (t->master_id && t->master_id == d->master_id)) &&
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
            /* one that remembers lost jobs last: its master may come back and ask */
            if (!victim || (!t->nlost && victim->nlost) ||
                (!t->nlost == !victim->nlost &&
                 ((t->superseded && !victim->superseded) ||
                  (t->superseded == victim->superseded && t->last_heard_ms < victim->last_heard_ms))))
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
        session_forget(s);
        memset(s, 0, sizeof *s);
        s->used = 1;
        s->master_boot = d->sender_boot;
        s->master_id = d->master_id;
        dedup_init(&s->taken, d->floor);
        rtt_init(&s->rtt);
        /* Nothing this master sent before the datagram that opened the
         * session is accepted in it (recorded PINGs, a delayed JOB). */
        replay_start(&s->replay, d->seq);
        LOG(LOG_INFO, "new master %s (boot %016llx%s)", name, (unsigned long long)s->master_boot,
            !sl->auth->enabled ? "" : keys->set ? ", key file line 2: the old key" : ", key file line 1");
    } else if (s->superseded) {
        LOG(LOG_INFO, "master %016llx at %s is back (fresh handshake)", (unsigned long long)s->master_boot, name);
        s->superseded = 0;
    }
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *t = &sl->sessions[i];
        /* The same identity is the same master wherever it restarted (another
         * port, its UDP port taken): its jobs are adopted, never run again. */
        int same_master = t->master_id && t->master_id == s->master_id;
        if (t == s || !t->used || t->superseded || (!same_master && !net_addr_equal(&t->addr, from)))
            continue;
        if (same_master) {
            unsigned n = session_adopt_jobs(sl, s, t);
            LOG(LOG_INFO, "master %016llx restarted (boot %016llx -> %016llx): %u jobs adopted",
                (unsigned long long)s->master_id, (unsigned long long)t->master_boot,
                (unsigned long long)s->master_boot, n);
        } else {
            LOG(LOG_INFO, "master %016llx at the same address restarted: dropping its previous jobs",
                (unsigned long long)t->master_boot);
            session_drop_jobs(sl, t);
            session_forget(t); /* another master: nobody will ask */
        }
        t->superseded = 1;
    }
    s->addr = *from;
    s->last_heard_ms = now;
    s->cookie_ms = cookie_ms;
    s->keys = *keys; /* a session opened again: its new handshake's */
    return s;
}

/* The answer to whatever comes from a master's life we have no session
 * with (never met, forgotten, or it talks to an earlier life of ours):
 * "start over, with this cookie". It is sent to the source address,
 * unverified, so it is never larger than the datagram it answers (no
 * amplification) and nothing is kept. */
void send_cookie(slave *sl, const net_addr *from, const dgram *d, size_t request_len)
{
    dgram r;
    dgram_keys k = {.set = sl->answer_set}; /* the handshake tier: the master's key set */
    memset(&r, 0, sizeof r);
    r.type = DG_COOKIE;
    r.job_id = d->type == DG_PING ? 0 : d->job_id; /* a PING's is what its master understands, not a job */
    r.echo_us = d->type == DG_PING ? d->echo_us : 0;
    cookie_make(sl, d->sender_boot, from, (uint32_t)clock_ms(), r.cookie);
    send_capped(sl, from, d->sender_boot, &k, &r, request_len, WHY_REPLY);
}

/* A session whose master has been silent for MASTER_SILENT_MS is dormant:
 * until the master completes a handshake again nothing it sent long ago (a
 * JOB delayed or recorded on the path) runs. Its jobs were killed, unless
 * the master has an identity: those stay for --master-grace (sessions_tick),
 * for its next life to adopt, or for this life once its handshake is done. */
int session_dormant(const session *s)
{
    return elapsed(clock_ms(), s->last_heard_ms) > MASTER_SILENT_MS;
}

/* The machine's load as the PONGs say it: each master pings twice a
 * second, and the files are read once a second at most for all of them. */
const machine_load *machine_load_now(slave *sl)
{
    uint64_t now = clock_ms();
    if (!sl->load_read || elapsed(now, sl->load_read_ms) >= LOAD_READ_MS) {
        plat_machine_load(&sl->load, sl->loadavg_path, sl->meminfo_path);
        sl->load_read = 1;
        sl->load_read_ms = now;
    }
    return &sl->load;
}

void on_ping(slave *sl, const net_addr *from, const dgram *d, size_t n)
{
    /* A session opens, or a superseded one comes back, only with a cookie
     * we gave this master's life at this address in the last minute: it has
     * just completed a round trip with us, which no recording can do. */
    session *s = session_addressed(sl, d);
    uint32_t issued;
    if (d->receiver_boot == sl->ep.boot && (!s || s->superseded || session_dormant(s)) &&
        cookie_valid(sl, d, from, &issued)) {
        /* the session keys: the master's public key in, on the key set
         * its PING opened with */
        dgram_keys k;
        if (endpoint_keys(&sl->ep, sl->answer_set, d->sender_boot, d->eph_pub, &k) < 0) {
            if (log_allow(&sl->garbage_log))
                LOG(LOG_WARN, "dropped a PING from master %016llx: a low-order public key (refused)",
                    (unsigned long long)d->sender_boot);
            return;
        }
        s = session_open(sl, from, d, issued, &k);
    }
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
    r.highest_job = s->highest_job;
    if (d->job_id & PING_WANTS_LOAD) { /* a master that reads them: an older one refuses the bytes */
        const machine_load *l = machine_load_now(sl);
        r.has_load = 1;
        r.load_milli = l->load_milli;
        r.cpus = l->cpus;
        r.mem_avail = l->mem_avail;
        r.running = (uint16_t)(sl->running < 65535 ? sl->running : 65535);
    }
    s->last_heard_ms = clock_ms();
    session_advance_floor(sl, s, d->floor);
    dgram_keys k = {.set = sl->answer_set}; /* the handshake tier: the master's key set */
    send_to(sl, &s->addr, s->master_boot, &k, &r, WHY_REPLY);
}

/* A master we have not heard from in a long time is gone (killed, or cut
 * off): nobody will collect its results, so its commands stop; after
 * MASTER_SILENT_MS, or --master-grace for a master with an identity (a
 * restart of it adopts them meanwhile). Returns when the next of them
 * falls silent (us), 0 if none. */
uint64_t sessions_tick(slave *sl, uint64_t now_us)
{
    uint64_t now_ms = now_us / 1000, next = 0;
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session *s = &sl->sessions[i];
        if (!s->used || s->superseded || !session_has_jobs(sl, s))
            continue;
        uint64_t keep = SESSION_KEEP_MS(sl, s);
        if (elapsed(now_ms, s->last_heard_ms) > keep) {
            LOG(LOG_WARN, "master %016llx silent for %llu s: killing its jobs", (unsigned long long)s->master_boot,
                (unsigned long long)(keep / 1000));
            for (const job *j = sl->jobs; j; j = j->next) /* its next life will ask what became of them */
                if (j->sess == s)
                    session_note_lost(s, j->id, job_lost_why(j));
            session_drop_jobs(sl, s);
            continue;
        }
        next = earliest(next, (s->last_heard_ms + keep + 1) * 1000);
    }
    return next;
}
