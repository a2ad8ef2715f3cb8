/*
 * slaves.c - the master's slaves: slaves.conf (loaded at start, reloaded
 * on SIGHUP; slaves no longer listed are retired, and their next job ids
 * remembered), whether each slave is alive (pings, suspect, dead, the
 * cookie handshake that adopts a new life of it, LEAVING), the keys of
 * our conversation with each life, and the UDP path: every datagram to a
 * slave leaves through send_to_life, every one from a slave comes in
 * through on_datagram.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conf.h"

static slave_peer *slave_by_addr(master *m, const net_addr *a);
static void slave_set_keys(master *m, slave_peer *s);
static void send_ping(master *m, slave_peer *s, uint64_t now_us, int handshake, enum trace_why why);

/* -------------------------------------------------------- slaves.conf --- */

/* A slaves.conf of some thousand slaves is a few hundred kilobytes. */
#define SLAVES_CONF_MAX (1024 * 1024)

/* Reads slaves.conf: adds the slaves it lists that we do not have, updates
 * the slots of those we have, retires those it no longer lists (they get
 * no new command and are forgotten once their commands are done). Bad
 * lines are reported and skipped. Returns the number of usable slaves in
 * the file, or -1 if it cannot be read. */
int load_slaves(master *m)
{
    const char *path = m->cfg->slaves_conf;
    char err[600];
    /* Read in the loop on SIGHUP: never a FIFO (open(2) would wait for a
     * writer, the master with it), never more than a slaves.conf is. */
    FILE *f = file_open_regular(path, "slaves file", err, sizeof err);
    if (!f) {
        LOG(LOG_ERROR, "%s%s", err, m->nslaves ? ": keeping the current slaves" : "");
        return -1;
    }
    net_addr *listed = NULL;
    int nlisted = 0, lineno = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (ftell(f) > SLAVES_CONF_MAX) {
            LOG(LOG_ERROR, "slaves file '%s' is larger than %d bytes%s", path, SLAVES_CONF_MAX,
                m->nslaves ? ": keeping the current slaves" : "");
            free(listed);
            fclose(f);
            return -1;
        }
        size_t len = strcspn(line, "\n");
        if (!line[len] && !feof(f)) { /* its tail would be read as a line of its own */
            int c;
            while ((c = getc(f)) != EOF && c != '\n') {
            }
            LOG(LOG_WARN, "%s:%d: line longer than %zu bytes: line skipped", path, lineno, sizeof line - 2);
            continue;
        }
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
            if (s->retired || s->conf_slots != e.slots || s->weight_milli != e.weight_milli)
                LOG(LOG_INFO, "slave %s: %s", s->name,
                    s->retired ? "listed again" : s->conf_slots != e.slots ? "slots changed" : "weight changed");
            s->retired = 0;
            s->conf_slots = e.slots;
            s->weight_milli = e.weight_milli;
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
        s->weight_milli = e.weight_milli;
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
        LOG(LOG_ERROR, "no usable slave in '%s' (expected lines 'host port [slots] [weight=W]')%s", path,
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
void drop_retired_slaves(master *m)
{
    for (int i = 0; i < m->nslaves;) {
        slave_peer *s = m->slaves[i];
        int acks_due = 0;
        for (size_t k = 0; k < m->nacks_due; k++)
            acks_due |= m->acks_due[k].s == s;
        if (s->retired && !s->flights && !acks_due) {
            LOG(LOG_INFO, "slave %s removed", s->name);
            struct id_memo *grown = realloc(m->id_memos, (size_t)(m->nid_memos + 1) * sizeof *grown);
            if (!grown)
                die("out of memory");
            m->id_memos = grown;
            m->id_memos[m->nid_memos++] = (struct id_memo){s->addr, s->next_id};
            m->stats.gone_sent += s->st_sent;
            m->stats.gone_retrans += s->st_retrans;
            free(s);
            m->slaves[i] = m->slaves[--m->nslaves];
            continue;
        }
        i++;
    }
}

slave_peer *slave_by_name(master *m, const char *name)
{
    for (int i = 0; i < m->nslaves; i++)
        if (!strcmp(m->slaves[i]->name, name))
            return m->slaves[i];
    return NULL;
}

static slave_peer *slave_by_addr(master *m, const net_addr *a)
{
    for (int i = 0; i < m->nslaves; i++)
        if (net_addr_equal(&m->slaves[i]->addr, a))
            return m->slaves[i];
    return NULL;
}

unsigned slaves_alive(const master *m)
{
    unsigned n = 0;
    for (int i = 0; i < m->nslaves; i++)
        n += m->slaves[i]->alive;
    return n;
}

/* The slots of the slaves alive: WELCOME's figure, what a relative -j counts from. */
unsigned slots_alive(const master *m)
{
    unsigned n = 0;
    for (int i = 0; i < m->nslaves; i++)
        if (m->slaves[i]->alive)
            n += slave_capacity(m->slaves[i]);
    return n;
}

/* ---------------------------------------------------------- liveness --- */

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
        command *cmd = f->cmd;
        if (!cmd || cmd->fl != f)
            continue; /* cancelling, or already an orphan */
        if (f->state == FL_SENDING) {
            flight_abandon(f);
        } else {
            f->next_orphan = cmd->orphans;
            cmd->orphans = f;
        }
        command_again(cmd, s, why); /* f is an orphan from here on (cmd->fl != f) */
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

static void on_pong(master *m, slave_peer *s, const dgram *d)
{
    /* Job ids this identity's earlier life gave the slave and our journal
     * does not know: the journal lost records (its end cut, a disk that
     * lied). None may be used again; the replayed batches learn it. */
    if (d->highest_job >= s->next_id) {
        snprintf(m->journal_lost_why, sizeof m->journal_lost_why,
                 "slave %s took job ids up to %llu from this master, its journal knows %llu", s->name,
                 (unsigned long long)d->highest_job, (unsigned long long)s->next_id - 1);
        LOG(LOG_ERROR, "the journal lost records: %s", m->journal_lost_why);
        s->next_id = d->highest_job + 1;
        m->journal_lost = 1;
    }
    s->reported = 1;
    if (s->boot && s->boot != d->sender_boot) {
        LOG(LOG_WARN, "slave %s restarted (boot %016llx -> %016llx)", s->name, (unsigned long long)s->boot,
            (unsigned long long)d->sender_boot);
        slave_lost_jobs(s, "restarted");
    }
    if (!s->boot) /* our first PONG from it: jobs re-claimed from another life of it are lost */
        flights_restored_meet(s, d->sender_boot, d->highest_job);
    if (!s->alive)
        LOG(LOG_INFO, "slave %s is up with %u slot%s%s", s->name, d->slots_total, d->slots_total == 1 ? "" : "s",
            s->conf_slots && (unsigned)s->conf_slots < d->slots_total ? " (slaves.conf: we use fewer)" : "");
    s->boot = d->sender_boot;
    s->alive = 1;
    s->slots_total = d->slots_total;
    s->slots_free = d->slots_free;
    s->has_load = d->has_load; /* an older slave's PONG: unknown (idle for sched.c) */
    s->load_milli = d->load_milli;
    s->cpus = d->cpus;
    s->mem_avail = d->mem_avail;
    s->load_running = d->running;
    uint64_t now = clock_us();
    if (d->echo_us && d->echo_us <= now && now - d->echo_us < RTT_SAMPLE_MAX_US)
        rtt_sample(&s->rtt, (uint32_t)(now - d->echo_us));
}

/* The slave has no session with us (it restarted, forgot an idle one, or
 * never met this life of ours): it gave a cookie, to be echoed in a PING.
 * Nothing changes yet: the life that sent it is adopted only when it
 * answers that PING. A COOKIE without an echo of a recent PING of ours
 * (one answering a JOB, or a replay) only makes us ping again now. */
static void on_cookie(master *m, slave_peer *s, uint8_t *p, dgram *d)
{
    uint64_t now = clock_us();
    const char *refused = endpoint_admit(&m->ep, p, d, NULL, NULL, NULL);
    if (refused) {
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a COOKIE from %s: %s", s->name, refused);
        return;
    }
    if (!d->echo_us || d->echo_us > now || now - d->echo_us > (uint64_t)HANDSHAKE_WAIT_MS * 1000) {
        s->ping_soon = 1;
        return;
    }
    if (s->hs_boot != d->sender_boot || memcmp(s->hs_cookie, d->cookie, COOKIE_LEN) != 0) {
        /* the keys of the conversation to come: its life's public key in,
         * on key set 0 (a handshake starts with the key file's first line) */
        dgram_keys k;
        if (endpoint_keys(&m->ep, 0, d->sender_boot, d->eph_pub, &k) < 0) {
            if (log_allow(&m->garbage_log))
                LOG(LOG_WARN, "dropped a COOKIE from %s: a low-order public key (refused)", s->name);
            return;
        }
        if (d->sender_boot == s->boot)
            LOG(LOG_INFO, "slave %s has no session with us: handshake again", s->name);
        s->hs_boot = d->sender_boot;
        memcpy(s->hs_cookie, d->cookie, COOKIE_LEN);
        s->hs_keys = k;
        s->hs_since_us = now;
        s->hs_ping_us = 0;
    }
    if (elapsed(now, s->hs_ping_us) >= HANDSHAKE_PING_GAP_US)
        send_ping(m, s, now, 1, WHY_REPLY); /* the cookie echoed: an answer to the COOKIE */
}

/* ------------------------------------------------------------- timers --- */

/* Each slave's liveness: named once if it never answered, declared dead
 * after dead_after_ms of silence (its commands run again elsewhere), pinged
 * (faster when suspect, at once when a COOKIE asked), and its handshake
 * dropped when too old. Returns when the next ping is due. */
uint64_t slaves_tick(master *m, uint64_t now_ms)
{
    uint64_t now_us = clock_us(), next_ms = NO_DEADLINE;
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        uint64_t silent = elapsed(now_ms, s->last_heard_ms);
        if (!s->boot && !s->told_silent && !s->told_unreachable &&
            elapsed(now_ms, m->started_ms) >= TELL_SILENT_AFTER_MS) {
            LOG(LOG_WARN, "slave %s has not answered yet: not started? wrong host or port? %s%s%s", s->name,
                m->auth->enabled ? "not the same key? (this master's: key file '" : "does it have a key (this master has none)?",
                m->auth->enabled ? m->auth->path : "", m->auth->enabled ? "')" : "");
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
            interval = PING_SOON_MS;
        if (s->hs_boot && elapsed(now_us, s->hs_since_us) > (uint64_t)HANDSHAKE_WAIT_MS * 1000)
            s->hs_boot = 0; /* never answered: the next COOKIE starts again */
        if (elapsed(now_ms, s->last_ping_ms) >= interval) {
            send_ping(m, s, now_us, 0, WHY_PING);
            if (s->hs_boot) /* and the handshake: its PING may have been lost */
                send_ping(m, s, now_us, 1, WHY_PING);
            s->last_ping_ms = now_ms;
            s->ping_soon = 0;
        }
        next_ms = earliest(next_ms, s->last_ping_ms + interval);
    }
    uint64_t held_us = endpoint_held_until(&m->ep); /* --simulate: a datagram held back (read_step hands it over) */
    if (held_us)
        next_ms = earliest(next_ms, (held_us + 999) / 1000);
    return next_ms;
}
/* ----------------------------------------------------------- UDP path --- */
/* The master's side of lib/endpoint.c: which socket, which life and key. */

/* A new peer: no conversation yet (its session keys come with the
 * handshake, on_cookie), nothing seen. */
static void slave_set_keys(master *m, slave_peer *s)
{
    (void)m;
    memset(&s->keys, 0, sizeof s->keys);
    replay_init(&s->replay);
}

/* SIGHUP: the key file again (auth_reload). Conversations running keep
 * their session keys; PINGs from now on are sealed with the new first
 * line; handshakes under way start again (their keys came from the old). */
void slaves_reload_keys(master *m)
{
    char err[600];
    if (!m->auth->enabled)
        return;
    /* the keys are the caller's (serveur_maitre.c's static auth_keys), read-only elsewhere */
    if (auth_reload((auth_keys *)m->auth, err, sizeof err) < 0) {
        LOG(LOG_ERROR, "SIGHUP: %s: keeping the keys in use", err);
        return;
    }
    LOG(LOG_INFO, "SIGHUP: key file %s reloaded (%d key%s)", m->auth->path, m->auth->count,
        m->auth->count == 1 ? "" : "s: line 1 starts conversations, line 2 is accepted too");
    for (int i = 0; i < m->nslaves; i++)
        m->slaves[i]->hs_boot = 0;
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

static void send_to_life(master *m, slave_peer *s, uint64_t boot, const dgram_keys *keys, dgram *d,
                         enum trace_why why)
{
    sock_t sock = slave_socket(m, s);
    if (sock == SOCK_INVALID)
        return;
    int sent = endpoint_send(&m->ep, sock, &s->addr, boot, keys, d, DGRAM_MAX, why);
    if (sent == 1) {
        s->st_sent++;
        s->told_send_error = 0;
    } else if (sent == NET_ERROR && !s->told_send_error) { /* once, not at every ping, until it works again */
        LOG(LOG_WARN, "sendto %s: %s", s->name, net_last_error());
        s->told_send_error = 1;
    }
}

void send_dgram(master *m, slave_peer *s, dgram *d, enum trace_why why)
{
    send_to_life(m, s, s->boot, &s->keys, d, why);
}

static void send_ping(master *m, slave_peer *s, uint64_t now_us, int handshake, enum trace_why why)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_PING;
    d.job_id = PING_WANTS_LOAD; /* what we understand in a PONG (proto.h) */
    d.echo_us = now_us;
    d.floor = slave_floor(s);
    d.master_id = m->identity; /* the same across our lives: a restart is recognised */
    if (!handshake) {
        send_dgram(m, s, &d, why);
        return;
    }
    memcpy(d.cookie, s->hs_cookie, COOKIE_LEN);
    send_to_life(m, s, s->hs_boot, &s->hs_keys, &d, why);
    s->hs_ping_us = now_us;
}

static void on_datagram(master *m, uint8_t *p, size_t n, const net_addr *from)
{
    dgram d;
    const char *why = NULL;
    slave_peer *s = slave_by_addr(m, from);
    if (dgram_decode(p, n, &d, &why) < 0 || !s) {
        endpoint_dropped(&m->ep, s ? "malformed" : "unknown_peer");
        if (log_allow(&m->garbage_log)) {
            char name[80];
            net_addr_str(from, name, sizeof name);
            LOG(LOG_WARN, "dropped a %zu-byte datagram from %s: %s", n, name, s ? why : "not a known slave");
        }
        return;
    }
    if (d.receiver_boot != m->ep.boot) {
        endpoint_dropped(&m->ep, "wrong_life");
        if (log_allow(&m->garbage_log))
            LOG(LOG_DEBUG, "dropped a %s from %s meant for an earlier master", dgram_type_name(d.type), s->name);
        return;
    }
    const char *refused = endpoint_keyed_as_we_are(&m->ep, &d);
    if (refused) {
        endpoint_dropped(&m->ep, "not_keyed");
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a %s from %s: %s", dgram_type_name(d.type), s->name, refused);
        return;
    }
    if (d.type == DG_COOKIE) {
        on_cookie(m, s, p, &d);
        return;
    }
    /* Authenticity, then freshness (endpoint_admit). Only the PONG that
     * completes a handshake introduces a new life of the slave: it echoes
     * a PING sent after the cookie came, which no recording can; once it
     * opens, the handshake's keys become the life's. */
    if (d.sender_boot != s->boot) {
        if (d.type != DG_PONG || !s->hs_boot || d.sender_boot != s->hs_boot) {
            endpoint_dropped(&m->ep, "wrong_life"); /* a life of the slave we have no handshake with */
            return;
        }
        if (!(refused = endpoint_admit(&m->ep, p, &d, NULL, NULL, NULL))) {
            if (d.echo_us < s->hs_since_us)
                return;
            s->keys = s->hs_keys;
            replay_init(&s->replay); /* on_pong records the new boot id */
            replay_update(&s->replay, d.seq);
        }
    } else
        refused = endpoint_admit(&m->ep, p, &d, &s->keys, &s->replay, NULL);
    if (refused) {
        if (log_allow(&m->garbage_log))
            LOG(strcmp(refused, "replayed") ? LOG_WARN : LOG_DEBUG, "dropped a %s from %s (seq %llu): %s",
                dgram_type_name(d.type), s->name, (unsigned long long)d.seq, refused);
        return;
    }
    if (s->left_boot && d.sender_boot == s->left_boot)
        return; /* it said it left: a late datagram must not bring it back */
    s->last_heard_ms = clock_ms();
    if (d.type == DG_PONG && s->hs_boot == d.sender_boot && d.echo_us >= s->hs_since_us) {
        s->hs_boot = 0; /* handshake complete: the slave's session has its keys now (the same life
                           too: its session was forgotten or dormant, and the key file may have changed) */
        s->keys = s->hs_keys;
    }
    switch (d.type) {
    case DG_PONG: on_pong(m, s, &d); break;
    case DG_JOB_ACK: on_job_ack(s, &d); break;
    case DG_RESULT: on_result_fragment(m, s, &d); break;
    case DG_OUTPUT: on_output(m, s, &d); break;
    case DG_LEAVING: on_leaving(s, &d); break;
    default:
        if (log_allow(&m->garbage_log))
            LOG(LOG_WARN, "dropped a %s datagram from %s: not for a master", dgram_type_name(d.type), s->name);
    }
}

static void handle_datagram(void *m, uint8_t *p, size_t n, const net_addr *from)
{
    on_datagram(m, p, n, from);
}

/* A result is complete: its RESULT_ACK COMPLETE, on which the slave
 * forgets it, waits for the flush that puts the result on disk. */
void ack_complete_later(master *m, slave_peer *s, uint64_t id)
{
    if (m->nacks_due == m->cap_acks_due) {
        size_t n = m->cap_acks_due ? m->cap_acks_due * 2 : 64;
        struct complete_ack *p = realloc(m->acks_due, n * sizeof *p);
        if (!p)
            die("out of memory");
        m->acks_due = p;
        m->cap_acks_due = n;
    }
    m->acks_due[m->nacks_due++] = (struct complete_ack){s, id};
    if (!s->held_ack_min || id < s->held_ack_min) /* the floor stays below it (slave_floor) */
        s->held_ack_min = id;
}

/* After the flush: the complete acks, then a partial one per result
 * whose fragments arrived. */
void send_pending_acks(master *m)
{
    for (size_t k = 0; k < m->nacks_due; k++)
        send_result_ack(m, NULL, m->acks_due[k].s, m->acks_due[k].id, RESULT_ACK_COMPLETE);
    m->nacks_due = 0;
    for (int i = 0; i < m->nslaves; i++)
        m->slaves[i]->held_ack_min = 0;
    for (int i = 0; i < m->nslaves; i++)
        for (flight *f = m->slaves[i]->flights; f; f = f->next)
            if (f->ack_pending) {
                f->ack_pending = 0;
                send_result_ack(m, f, f->slave, f->id, RESULT_ACK_PARTIAL);
            }
}

/* The read step for datagrams: drains both sockets (bounded); the write
 * step then answers each touched result once (send_pending_acks). */
void read_datagrams(master *m)
{
    endpoint_drain(&m->ep, m->udp, handle_datagram, m);
    endpoint_drain(&m->ep, m->udp_other, handle_datagram, m);
}
