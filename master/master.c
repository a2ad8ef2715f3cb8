/*
 * master.c - the master daemon's event loop: it opens the sockets, runs
 * one loop, handles the signals, and shuts down (SIGTERM: a grace period
 * for running commands; a second signal stops at once; durable batches
 * are paused, not cancelled: the next start goes on). doc/protocol.md
 * follows a command through it:
 *
 *   client --SUBMIT--> queue of its client --dispatch--> flight to a slave
 *   slave --RESULT fragments--> reassembly --F_RESULT--> client
 *
 * One turn of the loop is a sequence of named steps (loop_turn):
 *
 *   shutdown_step  while stopping: end the grace period, end the loop
 *   timers_step    slaves_tick, flights_tick, clients_tick: the next deadline
 *   dispatch_step  queued commands become jobs on slaves (sched.c decides)
 *   flush_step     the journal's group commit: one write, one fdatasync
 *   write_step     new jobs' requests, result acks, F_ACCEPTED, then every
 *                  client's output: only what the flush made durable
 *   poll           until input or the next deadline
 *   read_step      signals, datagrams, clients' frames, new connections,
 *                  --http's requests (answered at once: nothing waits)
 *
 * From one poll to the next: input is read, then the timers, dispatch,
 * output. The timers come before dispatch, as they did before dispatch
 * was a step of its own: a command that slaves_tick queues again (its
 * slave died) is dispatched in the same turn, not one poll later; and a
 * result the timers make ("no slave available") leaves in the same
 * write_step as the others, after the journal's flush. Other steps only queue frames for clients; write_step sends
 * them (only a connection closed at once gets its last word there and
 * then: an evicted handshake, the final shutdown).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- shutdown --- */

static unsigned running_commands(const master *m)
{
    unsigned n = 0;
    for (int i = 0; i < m->nslaves; i++)
        n += m->slaves[i]->outstanding;
    return n;
}

/* SIGTERM: accept no one new, run nothing new, tell the clients; running
 * commands may finish until the grace period ends. A client that is not
 * durable (--ephemeral, or an old client) gets a result for every command,
 * so it ends normally with an honest exit status: its queued commands are
 * cancelled now. A durable batch is only paused: its queued commands stay
 * queued in the journal (no CANCEL, no result), and its client reconnects
 * to the next life of the master, which goes on with them. */
static void begin_shutdown(master *m)
{
    unsigned kept = 0;
    m->stopping = 1;
    m->stop_deadline_ms = clock_ms() + m->cfg->grace_ms;
    net_close(m->listener);
    m->listener = SOCK_INVALID;
    for (client *cl = m->clients; cl; cl = cl->next) {
        /* In its handshake, or not yet attached (ATTACH is the end of a
         * batch client's handshake): one reconnecting tries again. */
        if (cl->state == CS_HELLO || cl->state == CS_PROVING ||
            (cl->state == CS_ACTIVE && cl->resume && !cl->attached)) {
            client_fail(cl, "the master is shutting down");
            continue;
        }
        if (cl->durable)
            kept += cl->queued;
        if (cl->state != CS_ACTIVE)
            continue;
        char msg[300];
        if (cl->durable) {
            snprintf(msg, sizeof msg, "the master is stopping: batch %016llx is kept and goes on when the master is "
                     "back (running commands may finish within %u s)", (unsigned long long)cl->batch_id,
                     m->cfg->grace_ms / 1000);
            client_send_text(cl, F_NOTICE, msg);
            continue;
        }
        snprintf(msg, sizeof msg, "the master is shutting down: running commands may finish within %u s, "
                 "queued ones will not run", m->cfg->grace_ms / 1000);
        client_send_text(cl, F_NOTICE, msg);
        fail_queued(cl, RUN_CANCELLED, "the master is shutting down");
    }
    LOG(LOG_INFO, "shutting down: %u running commands may finish within %u s (signal again to stop now)%s",
        running_commands(m), m->cfg->grace_ms / 1000,
        kept ? "; the queued commands of durable batches stay in the journal" : "");
}

/* The grace period is over: kill what still runs and report it; but the
 * jobs of durable batches are left to their slaves, which keep them
 * (--master-grace) for the next life of this master to adopt. */
static void end_grace_period(master *m)
{
    unsigned left = 0;
    m->grace_over = 1;
    for (int i = 0; i < m->nslaves; i++) {
        slave_peer *s = m->slaves[i];
        for (flight *f = s->flights; f; f = f->next) {
            if (!f->cmd)
                continue;
            if (f->cmd->cl->durable)
                left++;
            else
                flight_cancel(m, f, RUN_CANCELLED, "killed: the master shut down");
        }
    }
    for (client *cl = m->clients; cl; cl = cl->next)
        if (cl->state == CS_ACTIVE && !cl->durable) /* still sending commands: it cannot finish */
            client_fail(cl, "the master shut down before the command file was complete");
    if (left)
        LOG(LOG_INFO, "%u running commands of durable batches left to their slaves for the next start", left);
}

/* The end: what still runs (a second signal) is killed, each command with
 * its result, in the journal like every other; then the cancels leave and
 * the clients get their last word. A durable batch's connection is only
 * closed (no ERROR: its client reconnects), its jobs are not cancelled:
 * nothing is sent to a slave after flights_send_fresh here. */
static void shutdown_all(master *m)
{
    if (!m->grace_over && running_commands(m))
        end_grace_period(m);
    if (journal_flush(m) == 0) { /* what the clients and slaves are told below is on disk first */
        flights_send_fresh(m);
        send_pending_acks(m); /* the last turn's results: their slaves may forget them */
    }
    while (m->clients) {
        client *cl = m->clients;
        if (cl->sock == SOCK_INVALID || (cl->durable && journal_failing(m))) {
            client_close(m, cl);
            continue;
        }
        if (cl->state != CS_CLOSING && !cl->durable)
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
    free(m->acks_due);
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

/* ---------------------------------------------------------- the steps --- */

/* What the end of the loop waits for: a client that is not durable, until
 * its last word is read; a durable one only while it has output to take
 * or a last word (BYE) to answer: its batch waits in the journal. */
static int clients_to_wait_for(const master *m)
{
    for (const client *cl = m->clients; cl; cl = cl->next)
        if (cl->sock != SOCK_INVALID && (!cl->durable || cl->state == CS_CLOSING || bw_pending(&cl->out)))
            return 1;
    return 0;
}

/* While stopping: the grace period's end kills what still runs (but the
 * jobs of durable batches, left to their slaves). Returns 1 when the loop
 * ends: every client has had its last word and nothing runs within the
 * grace period (a batch without a client goes on within it: its results
 * are kept for the next start), or, for a client that reads nothing,
 * SHUTDOWN_LINGER_MS after the grace period. */
int shutdown_step(master *m, uint64_t now_ms)
{
    if (!m->stopping)
        return 0;
    if (now_ms >= m->stop_deadline_ms && !m->grace_over && running_commands(m))
        end_grace_period(m);
    return (!clients_to_wait_for(m) && (m->grace_over || !running_commands(m))) || m->stop_now ||
           now_ms >= m->stop_deadline_ms + SHUTDOWN_LINGER_MS;
}

/* Each concern's timers, in this order (clients_tick needs to know which
 * slaves are alive); returns the earliest deadline, at most a ping
 * interval away. */
uint64_t timers_step(master *m, uint64_t now_ms)
{
    uint64_t next_ms = now_ms + PING_INTERVAL_MS;
    next_ms = earliest(next_ms, slaves_tick(m, now_ms));
    next_ms = earliest(next_ms, flights_tick(m, now_ms));
    next_ms = earliest(next_ms, clients_tick(m, now_ms));
    next_ms = earliest(next_ms, journal_tick(m, now_ms));
    next_ms = earliest(next_ms, replay_hold_tick(m, now_ms));
    next_ms = earliest(next_ms, http_tick(m, now_ms));
    next_ms = earliest(next_ms, cache_tick(m, now_ms));
    if (m->stopping) /* the grace period's end, then the linger's (a past deadline would make poll spin) */
        next_ms = earliest(next_ms, now_ms < m->stop_deadline_ms ? m->stop_deadline_ms
                                                                 : m->stop_deadline_ms + SHUTDOWN_LINGER_MS);
    drop_retired_slaves(m);
    return next_ms;
}

/* Commands wait: every slave with a free slot is held back by --max-load
 * or --memfree. Said once until one takes a command again (and at most a
 * few times a second if that flaps), naming each slave's reason. */
static void say_all_held(master *m, unsigned held)
{
    if (m->all_held || !log_allow(&m->held_log))
        return;
    m->all_held = 1;
    char why[600];
    size_t n = 0;
    why[0] = 0;
    for (int i = 0; i < m->nslaves && n < sizeof why - 1; i++) {
        const slave_peer *s = m->slaves[i];
        enum held_why h = sched_held(s, &m->limits);
        if (h == HELD_LOAD)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%s: load %.2f", n ? ", " : "", s->name,
                                  s->load_milli / 1000.0);
        else if (h == HELD_MEMFREE)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%s: %llu MiB available", n ? ", " : "", s->name,
                                  (unsigned long long)(s->mem_avail >> 20));
    }
    char lim[120] = "";
    if (m->limits.max_load_milli && m->limits.max_load_per_cpu)
        snprintf(lim, sizeof lim, "--max-load %.1f%% of the CPUs", m->limits.max_load_milli / 10.0);
    else if (m->limits.max_load_milli)
        snprintf(lim, sizeof lim, "--max-load %.2f", m->limits.max_load_milli / 1000.0);
    if (m->limits.memfree)
        snprintf(lim + strlen(lim), sizeof lim - strlen(lim), "%s--memfree %llu MiB", lim[0] ? ", " : "",
                 (unsigned long long)(m->limits.memfree >> 20));
    LOG(LOG_WARN, "commands wait: %s held back (%s; %s)", held == 1 ? "the slave with a free slot is" : "every slave with a free slot is",
        why, lim);
    /* the clients that wait hear it too: else a batch only hangs */
    char notice[800];
    snprintf(notice, sizeof notice, "commands wait: every slave with a free slot is held back by the master's %s (%s)",
             lim, why);
    for (client *cl = m->clients; cl; cl = cl->next)
        if (cl->state == CS_ACTIVE && cl->qhead) /* client_send_text: nothing without a connection */
            client_send_text(cl, F_NOTICE, notice);
}

/* Where a SUBMITted command becomes a job on a slave: while sched.c finds
 * a client with a queued command and a slave with a free slot. Nothing
 * new runs once stopping. */
void dispatch_step(master *m)
{
    clients_halt(m); /* a --halt that came with this turn's results: before anything new starts */
    uint32_t slots = slots_alive(m); /* what a relative -j counts from */
    while (!m->stopping) {
        client *cl = sched_next_client(m->clients, m->last_served_client, clock_ms(), slots, m->cfg->aging_ms);
        if (!cl)
            return;
        if (cl->qhead->cache_deferred) { /* --cache, its client not reading at SUBMIT: looked up now */
            cl->qhead->cache_deferred = 0;
            if (cl->opts.cache && cache_answer(m, cl, cl->qhead)) {
                command_release(queue_pop(cl)); /* a hit: no slave */
                client_check_done(cl);
                continue;
            }
        }
        unsigned held;
        slave_peer *s = sched_pick_slave(m->slaves, m->nslaves, &m->rr_slave, &m->limits, &held);
        if (!s) {
            if (held)
                say_all_held(m, held);
            return;
        }
        m->all_held = 0;
        s = sched_prefer_untried(m->slaves, m->nslaves, cl->qhead, s, &m->limits); /* --retries: where it has not failed */
        command *cmd = queue_pop(cl);
        m->last_served_client = cl->id;
        cl->aging_since_ms = clock_ms(); /* --priority's aging starts again */
        if (cl->opts.delay_ms)
            cl->next_start_ms = clock_ms() + cl->opts.delay_ms;
        flight_start(m, s, cmd);
    }
}

/* What clients may have before the fsync: a slave's result (the slave
 * keeps it until its RESULT_ACK, which leaves after the flush), so the
 * client reads it while the disk syncs. */
void early_write_step(master *m)
{
    if (!m->early_output)
        return;
    m->early_output = 0;
    for (client *cl = m->clients, *nx; cl; cl = nx) {
        nx = cl->next;
        client_on_output(m, cl);
    }
}

/* Group commit: everything this turn's steps journaled goes to disk in one
 * write and one fdatasync, before write_step tells anyone of it. */
void flush_step(master *m)
{
    if (journal_flush(m) == 0)
        m->flushed = 1;
}

/* Output, once the journal's flush made it true: the requests of new jobs
 * and the cancels, one RESULT_ACK per result the datagrams read moved
 * along (COMPLETE ones included: the slave forgets on those), F_ACCEPTED,
 * then what every client has waiting (results, notices, last words). While
 * the journal cannot be written, only what depends on nothing in it goes:
 * the output of clients that are not durable. Returns the earliest
 * retransmission deadline of the requests and cancels it sent. */
uint64_t write_step(master *m)
{
    uint64_t next_ms = NO_DEADLINE;
    if (m->flushed) {
        next_ms = flights_send_fresh(m);
        send_pending_acks(m);
        clients_after_flush(m);
    }
    m->flushed = 0;
    for (client *cl = m->clients, *nx; cl; cl = nx) {
        nx = cl->next;
        client_on_output(m, cl);
    }
    return next_ms;
}

/* The poll set: the fixed sockets, then one entry per client. */
void poll_set_build(master *m, poll_set *ps)
{
    size_t need = PFD_FIXED + 1 + m->nclients + 1 + HTTP_CONNS;
    if (need > ps->cap) {
        ps->cap = need * 2;
        ps->pfds = realloc(ps->pfds, ps->cap * sizeof *ps->pfds);
        ps->owners = realloc(ps->owners, ps->cap * sizeof *ps->owners);
        if (!ps->pfds || !ps->owners)
            die("out of memory");
    }
    int n = 0;
    ps->pfds[n++] = (net_pollfd){m->udp, NET_IN, 0};
    ps->pfds[n++] = (net_pollfd){m->sigfd, NET_IN, 0};
    /* Windows: select() watches NET_POLL_MAX sockets; room is kept for the
     * other family's socket and --http's */
    if (m->listener != SOCK_INVALID && PFD_FIXED + m->nclients + 1 + (m->http ? 1 + HTTP_CONNS : 0) < NET_POLL_MAX)
        ps->pfds[n++] = (net_pollfd){m->listener, NET_IN, 0};
    ps->first_client = n;
    size_t all_queued = clients_queued_bytes(m);
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (cl->sock == SOCK_INVALID) /* a batch without its connection: nothing to poll (RLIMIT_NOFILE bounds n) */
            continue;
        ps->owners[n] = cl;
        ps->pfds[n++] = (net_pollfd){cl->sock, client_poll_events(m, cl, all_queued), 0};
    }
    ps->end_clients = n;
    if (m->udp_other != SOCK_INVALID)
        ps->pfds[n++] = (net_pollfd){m->udp_other, NET_IN, 0};
    ps->n = n;
    http_poll_add(m, ps);
}

/* Input, as poll reported it: signals first (SIGTERM begins the shutdown,
 * SIGHUP reloads slaves.conf and the key file, or stops it if its terminal was closed), then datagrams, clients' frames, and a new
 * connection. Returns 1 when the loop must end now (a second SIGTERM). */
int read_step(master *m, poll_set *ps)
{
    net_pollfd *pfds = ps->pfds;
    if (pfds[PFD_SIGNAL].revents) {
        int ev;
        while ((ev = signal_events_take()) != SIGNAL_NONE) {
            if (ev == SIGNAL_STOP && m->stopping)
                m->stop_now = 1;
            else if (ev == SIGNAL_STOP)
                begin_shutdown(m);
            else if (ev == SIGNAL_HANGUP) {
                LOG(LOG_INFO, "SIGHUP: the terminal was closed: stopping");
                if (!m->stopping)
                    begin_shutdown(m);
            }
            else if (ev == SIGNAL_RELOAD && !m->stopping) {
                LOG(LOG_INFO, "SIGHUP: reloading %s", m->cfg->slaves_conf);
                load_slaves(m);
                slaves_reload_keys(m);
            } else if (ev == SIGNAL_STATUS) {
                status_log(m);
            } else if (ev == SIGNAL_VERBOSE) {
                status_toggle_verbose(m);
            }
        }
        if (m->stop_now)
            return 1;
    }
    if (pfds[PFD_UDP].revents || (ps->end_clients < ps->n && pfds[ps->end_clients].revents) ||
        endpoint_held_due(&m->ep))
        read_datagrams(m);
    for (int i = ps->first_client; i < ps->end_clients; i++)
        if (pfds[i].revents & (NET_IN | NET_HUP))
            client_on_input(m, ps->owners[i]);
    if (ps->first_client == PFD_LISTENER + 1 && pfds[PFD_LISTENER].revents && m->listener != SOCK_INVALID)
        accept_client(m);
    http_on_events(m, ps);
    return 0;
}

/* One turn of the loop. Returns 1 when the loop ends. */
int loop_turn(master *m, poll_set *ps)
{
    uint64_t now = clock_ms();
    if (shutdown_step(m, now))
        return 1;
    uint64_t next_ms = timers_step(m, now);
    dispatch_step(m);
    early_write_step(m);
    flush_step(m);
    next_ms = earliest(next_ms, write_step(m)); /* a request sent now has its timer from now */
    poll_set_build(m, ps);
    now = clock_ms();
    int timeout = next_ms <= now ? 0 : (int)(next_ms - now);
    if (net_poll(ps->pfds, ps->n, timeout) < 0)
        die("poll: %s", net_last_error());
    return read_step(m, ps);
}

/* ---------------------------------------------------------------- run --- */

int master_run(const master_config *cfg)
{
    master *m = calloc(1, sizeof *m);
    char err[256];
    if (!m)
        die("out of memory");
    m->cfg = cfg;
    m->limits = (load_limits){cfg->max_load_milli, cfg->max_load_per_cpu, cfg->memfree};
    m->auth = cfg->auth;
    m->ep.auth = cfg->auth;
    m->ep.role = AUTH_MASTER;
    m->ep.boot = boot_id_new();
    m->ep.sim = cfg->simulate;
    endpoint_start(&m->ep);
    m->udp = m->listener = m->udp_other = SOCK_INVALID;
    if (history_init(&m->durations, HISTORY_MAX) < 0)
        die("out of memory");
    if (load_slaves(m) <= 0)
        goto fail;
    m->listener = net_tcp_listen(cfg->bind, cfg->port, err, sizeof err);
    if (m->listener == SOCK_INVALID) {
        LOG(LOG_ERROR, "cannot listen on TCP %s:%d: %s", cfg->bind, cfg->port, err);
        goto fail;
    }
    if (state_open(m, net_local_port(m->listener)) < 0)
        goto fail;
    /* Datagrams to slaves leave from the same port number as the TCP one,
     * so a restarted master has the same address and its slaves drop the
     * jobs of its previous life at once (the slave's superseded sessions). */
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
    cache_init(&m->cache, cfg->cache_bytes, cfg->cache_age_ms); /* before the replay: it has JR_CACHE records */
    if (m->state_dir[0] && journal_open(m, m->state_dir) < 0)
        goto fail;
    if (cfg->http_host && http_open(m) < 0)
        goto fail;
    m->sigfd = signal_events_init();
    LOG(LOG_INFO, "listening on TCP %s:%d, %d slave%s in %s%s", cfg->bind, net_local_port(m->listener), m->nslaves,
        m->nslaves > 1 ? "s" : "", cfg->slaves_conf, m->auth->enabled ? ", authenticated" : "");
    m->started_ms = clock_ms();
    m->stats.base_log_level = log_level;

    poll_set ps = {0};
    while (!loop_turn(m, &ps))
        ;
    LOG(LOG_INFO, "stopping");
    status_log_simulate(m);
    shutdown_all(m);
    http_close(m);
    journal_close(m);
    cache_free(&m->cache);
    net_close(m->listener);
    net_close(m->udp);
    net_close(m->udp_other);
    free(ps.pfds);
    free(ps.owners);
    endpoint_end(&m->ep); /* this life's recordings: the key file alone no longer opens them */
    history_free(&m->durations);
    free(m);
    return 0;
fail:
    http_close(m);
    journal_close(m);
    cache_free(&m->cache);
    while (m->clients)
        client_close(m, m->clients);
    net_close(m->udp);
    net_close(m->udp_other);
    net_close(m->listener);
    for (int i = 0; i < m->nslaves; i++)
        free(m->slaves[i]);
    free(m->slaves);
    free(m->id_memos);
    history_free(&m->durations);
    free(m);
    return 1;
}
