/*
 * slave.c - the slave daemon: one UDP socket, one event loop. The loop
 * is a sequence of steps, each named for its concern (sessions.c,
 * jobs.c); every datagram comes in and leaves through this file.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- datagrams --- */

/* Every datagram leaves through here, by the endpoint (lib/endpoint.c):
 * to a master's life, with the keys of our conversation with it (keys;
 * ignored without a key; a PONG or COOKIE: keys->set only), no larger than
 * cap. */
void send_capped(slave *sl, const net_addr *to, uint64_t master_boot, const dgram_keys *keys, dgram *d,
                 size_t cap, enum trace_why why)
{
    if (endpoint_send(&sl->ep, sl->sock, to, master_boot, keys, d, cap, why) == NET_ERROR &&
        log_allow(&sl->send_log))
        LOG(LOG_WARN, "sendto: %s", net_last_error());
}

void send_to(slave *sl, const net_addr *to, uint64_t master_boot, const dgram_keys *keys, dgram *d,
             enum trace_why why)
{
    send_capped(sl, to, master_boot, keys, d, DGRAM_MAX, why);
}

void send_dgram(slave *sl, const session *s, dgram *d, enum trace_why why)
{
    send_to(sl, &s->addr, s->master_boot, &s->keys, d, why);
}

/* A refused datagram: logged the first time for this address and reason,
 * then counted (DROP_REPORT_MS). */
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
    char name[ADDR_NAME_LEN];
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

/* One datagram, as it came: decoded, authenticated, checked against the
 * replay window, then handed to its handler. */
static void on_datagram(slave *sl, uint8_t *p, size_t n, const net_addr *from)
{
    dgram d;
    const char *why = NULL;
    if (dgram_decode(p, n, &d, &why) < 0) {
        endpoint_dropped(&sl->ep, "malformed");
        if (log_allow(&sl->garbage_log)) {
            char name[ADDR_NAME_LEN];
            net_addr_str(from, name, sizeof name);
            LOG(LOG_WARN, "dropped a %zu-byte datagram from %s: %s", n, name, why);
        }
        return;
    }
    /* Keyed as we are; then authenticity, then freshness: the replay
     * window of the master's session moves only for a datagram that opens
     * (endpoint_admit). A PING opens with no session (the handshake tier,
     * any line of the key file); anything else only with the session's
     * keys: without one it is dropped unanswered (the master's next PING
     * gets the cookie). */
    session *s = session_find(sl, d.sender_boot);
    const char *refused = endpoint_keyed_as_we_are(&sl->ep, &d);
    if (!refused)
        refused = endpoint_admit(&sl->ep, p, &d, s && d.receiver_boot == sl->ep.boot ? &s->keys : NULL,
                                 s ? &s->replay : NULL, &sl->answer_set);
    if (refused) {
        endpoint_dropped(&sl->ep, "not_keyed"); /* endpoint_admit's refusals have their recv line already */
        report_drop(sl, from, d.type, refused);
        return;
    }
    if (s && d.receiver_boot == sl->ep.boot && !s->superseded)
        s->addr = *from; /* authentic and fresh: replies go where it is now */
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

/* ----------------------------------------------------------- the loop --- */

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
            send_dgram(sl, s, &d, WHY_FIRST); /* each copy is a datagram of its own */
        }
    }
}

static slave *slave_open(const slave_config *cfg)
{
    slave *sl = calloc(1, sizeof *sl);
    char err[ERR_LEN];
    if (!sl)
        die("out of memory");
    sl->cfg = cfg;
    sl->ep.boot = cfg->boot ? cfg->boot : boot_id_new();
    uint8_t secret[COOKIE_SECRET_LEN];
    auth_random(secret, sizeof secret);
    hmac_key_init(&sl->cookie_key, secret, sizeof secret);
    sl->auth = cfg->auth;
    sl->ep.auth = cfg->auth;
    sl->ep.role = AUTH_SLAVE;
    sl->ep.sim = cfg->simulate;
    endpoint_start(&sl->ep);
    sl->sock = net_udp_bind(cfg->bind, cfg->port, err, sizeof err);
    if (sl->sock == SOCK_INVALID)
        die("cannot listen on UDP %s:%d: %s", cfg->bind, cfg->port, err);
    sl->sigfd = signal_events_init();
    /* Test hooks (tests/load.t), said nowhere else: the load average and
     * the memory the PONGs report are read from these files, in the
     * formats of /proc/loadavg and /proc/meminfo, instead of the system's
     * (a real load average moves too slowly for a test). */
    const char *hook = getenv("SMP_LOADAVG_FILE");
    sl->loadavg_path = hook && *hook ? hook : NULL;
    hook = getenv("SMP_MEMINFO_FILE");
    sl->meminfo_path = hook && *hook ? hook : NULL;
    LOG(LOG_INFO, "listening on UDP %s:%d with %d slots (boot %016llx%s)", cfg->bind, net_local_port(sl->sock),
        cfg->slots, (unsigned long long)sl->ep.boot, sl->auth->enabled ? ", authenticated" : "");
    if (cfg->cwd) /* a command file's relative paths, a client's --wd: from there */
        LOG(LOG_INFO, "commands run in %s", cfg->cwd);
    return sl;
}

/* Step: waits, until next_us (0: no deadline), for a datagram, a signal
 * or a running command's output. */
static void wait_for_events(slave *sl, uint64_t next_us)
{
    size_t need = PFD_COMMANDS + RUNNER_MAX_POLL * (size_t)sl->running;
    if (need > sl->pfd_cap) {
        sl->pfd_cap = need * 2;
        sl->pfds = realloc(sl->pfds, sl->pfd_cap * sizeof *sl->pfds);
        sl->pfd_jobs = realloc(sl->pfd_jobs, sl->pfd_cap * sizeof *sl->pfd_jobs);
        if (!sl->pfds || !sl->pfd_jobs)
            die("out of memory");
    }
    int n = 0;
    sl->pfds[n++] = (net_pollfd){sl->sock, NET_IN, 0};
    sl->pfds[n++] = (net_pollfd){sl->sigfd, NET_IN, 0};
    for (job *j = sl->jobs; j; j = j->next) {
        if (j->phase != JP_RUNNING)
            continue;
        for (int k = runner_poll_fds(&j->proc, sl->pfds + n, RUNNER_MAX_POLL); k > 0; k--)
            sl->pfd_jobs[n++] = j;
    }
    sl->npfds = n;
    int timeout = -1;
    if (next_us) {
        uint64_t now = clock_us();
        timeout = next_us <= now ? 0 : (int)((next_us - now + 999) / 1000);
    }
    if (net_poll(sl->pfds, n, timeout) < 0)
        die("poll: %s", net_last_error());
}

/* SIGHUP: the key file again (auth_reload). Sessions keep their keys;
 * PINGs are opened with the new lines from now on. On error nothing
 * changes. */
static void reload_keys(slave *sl)
{
    char err[600];
    /* the keys are the caller's (serveur_esclave.c's static auth_keys), read-only elsewhere */
    if (auth_reload((auth_keys *)sl->auth, err, sizeof err) < 0)
        LOG(LOG_ERROR, "SIGHUP: %s: keeping the keys in use", err);
    else
        LOG(LOG_INFO, "SIGHUP: key file %s reloaded (%d key%s)", sl->auth->path, sl->auth->count,
            sl->auth->count == 1 ? "" : "s: the old one on line 2 is accepted too");
}

/* SIGHUP: the policy file again (--allow). A file it refuses (doc/security.md
 * 5.2) changes nothing; else the new patterns apply to the commands that
 * start from now on (a command's words are its own once checked). */
static void reload_policy(slave *sl)
{
    allow_list fresh;
    char err[1024];
    if (allow_list_load(&fresh, sl->cfg->allow->path, err, sizeof err) < 0) {
        LOG(LOG_ERROR, "SIGHUP: %s: keeping the policy in use", err);
        return;
    }
    allow_list_free(sl->cfg->allow);
    *sl->cfg->allow = fresh;
    LOG(LOG_INFO, "SIGHUP: policy file %s reloaded (%d pattern%s)", fresh.path, fresh.count,
        fresh.count == 1 ? "" : "s");
}

/* --simulate's counts (SIGUSR1 and at exit), beside the result fragments
 * we retransmitted: what the loss cost. */
static void simulate_log(const slave *sl)
{
    const simulate *s = sl->ep.sim;
    if (s)
        LOG(LOG_INFO, "simulate: %llu datagrams received, %llu dropped, %llu duplicated, %llu reordered; %llu result "
            "fragments retransmitted", (unsigned long long)s->received, (unsigned long long)s->dropped,
            (unsigned long long)s->duplicated, (unsigned long long)s->reordered,
            (unsigned long long)sl->retransmitted);
}

/* Step: SIGTERM / SIGINT stop the loop, and SIGHUP when the terminal was closed; else SIGHUP
 * reloads the key and policy files; SIGNAL_CHILD (and the others)
 * mean a command may have exited. */
static void take_signals(slave *sl)
{
    if (!sl->pfds[PFD_SIGNALS].revents)
        return;
    int ev;
    while ((ev = signal_events_take()) != SIGNAL_NONE) {
        if (ev == SIGNAL_STOP)
            sl->stopping = 1;
        else if (ev == SIGNAL_HANGUP) {
            LOG(LOG_INFO, "SIGHUP: the terminal was closed: stopping");
            sl->stopping = 1;
        } else if (ev == SIGNAL_RELOAD) {
            if (sl->auth->enabled)
                reload_keys(sl);
            if (sl->cfg->allow)
                reload_policy(sl);
        }
        else if (ev == SIGNAL_STATUS)
            simulate_log(sl);
    }
    jobs_reap(sl);
}

/* Step: what running commands printed. */
static void read_command_output(slave *sl)
{
    for (int i = PFD_COMMANDS; i < sl->npfds; i++)
        if (sl->pfds[i].revents)
            runner_on_ready(&sl->pfd_jobs[i]->proc, sl->pfds[i].fd);
}

/* Step: drains the socket (bounded), then answers each touched job once. */
static void handle_datagram(void *sl, uint8_t *p, size_t n, const net_addr *from)
{
    on_datagram(sl, p, n, from);
}

/* Drains the socket (bounded), then answers each touched job once. */
static void read_datagrams(slave *sl)
{
    if (!(sl->pfds[PFD_SOCK].revents & NET_IN) && !endpoint_held_due(&sl->ep))
        return;
    endpoint_drain(&sl->ep, sl->sock, handle_datagram, sl);
    jobs_send_acks(sl);
}

/* Each turn of the loop, in this order: the commands that exited are
 * collected (exits first, deadlines after); the timers of each concern
 * run, each saying when it must run again; we wait for the earliest of
 * those or for input; then what came is handled: signals, the commands'
 * output, the datagrams (and the acks they call for). */
int slave_run(const slave_config *cfg)
{
    slave *sl = slave_open(cfg);
    while (!sl->stopping) {
        jobs_reap(sl);
        uint64_t now = clock_us();
        uint64_t next = jobs_tick(sl, now);
        next = earliest(next, runner_sweep_tick(now)); /* what ended commands left behind */
        next = earliest(next, sessions_tick(sl, now));
        next = earliest(next, endpoint_held_until(&sl->ep)); /* --simulate: a datagram held back */
        wait_for_events(sl, next);
        take_signals(sl);
        read_command_output(sl);
        read_datagrams(sl);
    }
    LOG(LOG_INFO, "stopping: killing %u running commands", sl->running);
    jobs_kill_all(sl);
    jobs_reap(sl);
    say_leaving(sl);
    simulate_log(sl);
    net_close(sl->sock);
    free(sl->pfds);
    free(sl->pfd_jobs);
    sessions_free(sl);
    endpoint_end(&sl->ep); /* this life's recordings: the key file alone no longer opens them */
    free(sl);
    return 0;
}
