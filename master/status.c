/*
 * status.c - what the master shows of itself: client --status
 * (ATTACH_STATUS, doc/protocol.md 2.8), SIGUSR1's log lines, SIGUSR2's
 * verbose toggle. The figures are counters bumped where things happen
 * (a result, a datagram, a retransmission): gathering them walks the
 * slaves and the clients only when somebody asks. doc/monitoring.md says
 * what each one means; lib/status.c renders them.
 */
#include "internal.h"

#include <string.h>

#include "status.h"

static int result_failed(const uint8_t *body, size_t len)
{
    if (len < 5)
        return 1;
    int32_t code = (int32_t)((uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 | (uint32_t)body[3] << 8 | body[4]);
    return body[0] != RUN_EXITED || code != 0;
}

void status_count_result(master *m, client *cl, const uint8_t *body, size_t len)
{
    master_stats *st = &m->stats;
    uint8_t status = len ? body[0] : RUN_NOT_STARTED;
    if (status < STATUS_RUN_STATUSES)
        st->finished[status]++;
    if (result_failed(body, len)) {
        st->failed++;
        cl->st_failed++;
    }
    if (len >= 23 && (status == RUN_EXITED || status == RUN_SIGNALED || status == RUN_TIMED_OUT)) {
        static const uint64_t bounds_ms[DURATION_BUCKETS] = DURATION_BUCKETS_MS;
        breader r;
        br_init(&r, body + 15, 8); /* result_encode: status, code, signal, flags, start_ms, duration_us */
        uint64_t us = br_u64(&r);
        unsigned b = 0;
        while (b < DURATION_BUCKETS && us > bounds_ms[b] * 1000)
            b++;
        st->duration_buckets[b]++;
        st->duration_sum_us += us;
    }
    uint64_t sec = clock_ms() / 1000;
    unsigned i = (unsigned)(sec % STATUS_RING_S);
    if (st->ring_sec[i] != sec) {
        st->ring_sec[i] = sec;
        st->ring[i] = 0;
    }
    st->ring[i]++;
}

void status_count_slave(slave_peer *s, const uint8_t *body, size_t len)
{
    s->st_done++;
    s->st_failed += result_failed(body, len);
}

static uint8_t slave_state(const master *m, const slave_peer *s, uint64_t now_ms)
{
    if (s->retired)
        return SLAVE_RETIRED;
    if (!s->alive)
        return SLAVE_DEAD;
    return elapsed(now_ms, s->last_heard_ms) > SUSPECT_AFTER_MS(m) ? SLAVE_SUSPECT : SLAVE_UP;
}

/* A batch, or a client older than batches; not a listing nor a status query. */
static int is_batch(const client *o)
{
    return o->batch_id || (!o->resume && o->state == CS_ACTIVE);
}

/* The commands dispatched to slave s (number i), not the cancelling ones
 * (their command is gone): what the live page draws in its slots. */
static int take_jobs(status_snapshot *snap, const slave_peer *s, uint16_t i, uint64_t now_ms)
{
    static const uint8_t states[] = {[FL_SENDING] = JOB_SENDING, [FL_RUNNING] = JOB_RUNNING,
                                     [FL_RESULT] = JOB_RETURNING, [FL_CANCELLING] = JOB_CANCELLING};
    for (const flight *fl = s->flights; fl; fl = fl->next) {
        const command *cmd = fl->cmd;
        if (!cmd)
            continue;
        status_job_frame j = {.slave = i, .state = states[fl->state], .batch = cmd->cl->batch_id, .seq = cmd->seq,
                              .running_ms = elapsed(now_ms, fl->since_ms)};
        snprintf(j.client, sizeof j.client, "%.*s", (int)sizeof j.client - 1, cmd->cl->name);
        size_t n = cmd->len < STATUS_COMMAND_MAX ? cmd->len : STATUS_COMMAND_MAX;
        while (n < cmd->len && n > 0 && ((uint8_t)cmd->line[n] & 0xC0) == 0x80) /* not inside a UTF-8 character */
            n--;
        memcpy(j.command, cmd->line, n);
        j.command[n] = 0;
        if (status_add_job(snap, &j) < 0)
            return -1;
    }
    return 0;
}

int status_take(master *m, status_snapshot *snap, uint64_t now_ms)
{
    memset(snap, 0, sizeof *snap);
    status_frame *f = &snap->master;
    snprintf(f->version, sizeof f->version, "%s", SMP_VERSION_STRING);
    f->uptime_ms = elapsed(now_ms, m->started_ms);
    f->journal_bytes = m->journal ? journal_size(m) : STATUS_NO_JOURNAL;
    uint64_t sec = now_ms / 1000, up_s = f->uptime_ms / 1000 + 1;
    for (int i = 0; i < STATUS_RING_S; i++)
        if (m->stats.ring_sec[i] <= sec && sec - m->stats.ring_sec[i] < STATUS_RING_S)
            f->finished_window += m->stats.ring[i];
    f->window_s = (uint16_t)(up_s < STATUS_RING_S ? up_s : STATUS_RING_S);
    f->flags = (uint8_t)((m->stopping ? STATUS_FLAG_STOPPING : 0) | (log_level >= LOG_DEBUG ? STATUS_FLAG_VERBOSE : 0));
    memcpy(f->finished, m->stats.finished, sizeof f->finished);
    f->failed = m->stats.failed;
    f->slaves = (uint16_t)m->nslaves;
    for (int i = 0; i < m->nslaves; i++) {
        const slave_peer *s = m->slaves[i];
        status_slave_frame sl = {.state = slave_state(m, s, now_ms), .slots = (uint16_t)slave_capacity(s),
                                 .running = s->outstanding < slave_capacity(s) ? s->outstanding : slave_capacity(s),
                                 .dispatched = s->outstanding, .done = s->st_done, .failed = s->st_failed,
                                 .sent = s->st_sent, .retransmitted = s->st_retrans, .rtt_us = s->rtt.srtt_us,
                                 .last_heard_ms = s->boot ? elapsed(now_ms, s->last_heard_ms) : STATUS_NEVER,
                                 .load = STATUS_NO_LOAD, .mem_avail = STATUS_NO_MEM,
                                 .weight_milli = s->weight_milli ? s->weight_milli : 1000};
        if (s->has_load) {
            if (s->load_milli != MACHINE_LOAD_UNKNOWN)
                sl.load = (uint16_t)(s->load_milli / 10 < STATUS_NO_LOAD ? s->load_milli / 10 : STATUS_NO_LOAD - 1);
            sl.mem_avail = s->mem_avail;
            sl.cpus = s->cpus;
        }
        enum held_why h = sched_held(s, &m->limits);
        sl.held = h == HELD_LOAD ? STATUS_HELD_LOAD : h == HELD_MEMFREE ? STATUS_HELD_MEMFREE : STATUS_HELD_NO;
        snprintf(sl.name, sizeof sl.name, "%.*s", (int)sizeof sl.name - 1, s->name);
        if (sl.state == SLAVE_UP || sl.state == SLAVE_SUSPECT) {
            f->slaves_up++;
            f->slots += sl.slots;
        }
        if (status_add_slave(snap, &sl) < 0 || take_jobs(snap, s, (uint16_t)i, now_ms) < 0)
            return -1;
    }
    f->jobs = (uint32_t)snap->njobs;
    f->has_cache = 1;
    f->cache_hits = m->cache.hits;
    f->cache_misses = m->cache.misses;
    f->cache_entries = m->cache.entries;
    f->cache_bytes = m->cache.bytes;
    f->cache_max_bytes = m->cache.max_bytes;
    f->cache_age_ms = m->cache.age_ms;
    for (client *o = m->clients; o; o = o->next) {
        f->clients += o->sock != SOCK_INVALID;
        f->queued += o->queued;
        f->running += o->inflight;
        if (!is_batch(o))
            continue;
        status_batch_frame b = {.batch = o->batch_id, .started_ms = o->created_wall_ms, .state = batch_state(o),
                                .flags = (uint8_t)((o->durable ? BATCH_FLAG_DURABLE : 0) | (o->ended ? BATCH_FLAG_ENDED : 0)),
                                .submitted = o->submitted, .queued = o->queued, .running = o->inflight,
                                .done = o->nresults, .failed = o->st_failed, .priority = o->opts.priority,
                                .effective = (int16_t)sched_effective_priority(o, now_ms, m->cfg->aging_ms),
                                .order = o->opts.order};
        if (!b.started_ms) /* older than batches: since it connected */
            b.started_ms = wall_ms() - elapsed(now_ms, o->connected_ms);
        snprintf(b.name, sizeof b.name, "%.*s", (int)sizeof b.name - 1, o->name);
        if (status_add_batch(snap, &b) < 0)
            return -1;
    }
    f->batches = (uint32_t)snap->nbatches;
    return 0;
}

void status_send(master *m, client *cl)
{
    status_snapshot snap;
    if (status_take(m, &snap, clock_ms()) < 0) {
        status_free(&snap);
        client_fail(cl, "out of memory for the status");
        return;
    }
    client_frame_done(cl, status_frame_encode(&cl->out, &snap.master));
    for (size_t i = 0; i < snap.nslaves; i++)
        client_frame_done(cl, status_slave_frame_encode(&cl->out, &snap.slaves[i]));
    for (size_t i = 0; i < snap.njobs; i++)
        client_frame_done(cl, status_job_frame_encode(&cl->out, &snap.jobs[i]));
    for (size_t i = 0; i < snap.nbatches; i++)
        client_frame_done(cl, status_batch_frame_encode(&cl->out, &snap.batches[i]));
    client_frame_done(cl, bye_frame_encode(&cl->out));
    cl->state = CS_CLOSING;
    status_free(&snap);
}

#define STATUS_LOG_BATCHES 20 /* SIGUSR1: at most this many batch lines, then a count */

void status_log(master *m)
{
    status_snapshot snap;
    if (status_take(m, &snap, clock_ms()) < 0) {
        status_free(&snap);
        LOG(LOG_WARN, "SIGUSR1: out of memory for the status");
        return;
    }
    const status_frame *f = &snap.master;
    uint64_t total = 0;
    for (int i = 0; i < STATUS_RUN_STATUSES; i++)
        total += f->finished[i];
    char journal[40];
    if (f->journal_bytes == STATUS_NO_JOURNAL)
        snprintf(journal, sizeof journal, "none");
    else
        snprintf(journal, sizeof journal, "%llu bytes", (unsigned long long)f->journal_bytes);
    log_msg(LOG_INFO, "status: %s up %llu s, %u/%u slaves up, %u slots, %u running, %u queued, %llu finished "
            "(%llu failed), %.2f/s over %u s, %u clients, %u batches, journal %s%s",
            f->version, (unsigned long long)(f->uptime_ms / 1000), f->slaves_up, f->slaves, f->slots, f->running,
            f->queued, (unsigned long long)total, (unsigned long long)f->failed, status_finished_per_s(f),
            f->window_s, f->clients, f->batches, journal, f->flags & STATUS_FLAG_STOPPING ? ", stopping" : "");
    for (size_t i = 0; i < snap.nslaves; i++) {
        const status_slave_frame *s = &snap.slaves[i];
        char heard[32];
        if (s->last_heard_ms == STATUS_NEVER)
            snprintf(heard, sizeof heard, "never");
        else
            snprintf(heard, sizeof heard, "%llu ms ago", (unsigned long long)s->last_heard_ms);
        char load[96] = "";
        if (s->load != STATUS_NO_LOAD)
            snprintf(load, sizeof load, ", load %.2f on %u CPUs", s->load / 100.0, s->cpus);
        if (s->mem_avail != STATUS_NO_MEM)
            snprintf(load + strlen(load), sizeof load - strlen(load), ", %llu MiB available",
                     (unsigned long long)(s->mem_avail >> 20));
        log_msg(LOG_INFO, "status: slave %s %s, %u slots, %u running, %llu done, %llu failed, rtt %.2f ms, "
                "%llu datagrams, %llu retransmitted, heard %s%s, weight %.3g%s",
                s->name, slave_status_name(s->state), s->slots, s->running, (unsigned long long)s->done,
                (unsigned long long)s->failed, s->rtt_us / 1000.0, (unsigned long long)s->sent,
                (unsigned long long)s->retransmitted, heard, load, s->weight_milli / 1000.0,
                s->held == STATUS_HELD_LOAD ? ", held: load" : s->held == STATUS_HELD_MEMFREE ? ", held: memfree" : "");
    }
    for (size_t i = 0; i < snap.nbatches && i < STATUS_LOG_BATCHES; i++) {
        const status_batch_frame *b = &snap.batches[i];
        log_msg(LOG_INFO, "status: batch %016llx %s, client %s, %u%s submitted, %u queued, %u running, %u done, "
                "%u failed",
                (unsigned long long)b->batch, batch_state_name(b->state), b->name, b->submitted,
                b->flags & BATCH_FLAG_ENDED ? "" : "+", b->queued, b->running, b->done, b->failed);
    }
    if (snap.nbatches > STATUS_LOG_BATCHES)
        log_msg(LOG_INFO, "status: ... and %u more batches (client --status lists them all)",
                (unsigned)(snap.nbatches - STATUS_LOG_BATCHES));
    status_free(&snap);
    status_log_simulate(m);
}

void status_log_simulate(const master *m)
{
    const simulate *s = m->ep.sim;
    if (s)
        log_msg(LOG_INFO, "simulate: %llu datagrams received, %llu dropped, %llu duplicated, %llu reordered",
                (unsigned long long)s->received, (unsigned long long)s->dropped, (unsigned long long)s->duplicated,
                (unsigned long long)s->reordered);
}

void status_toggle_verbose(master *m)
{
    if (log_level >= LOG_DEBUG) {
        log_level = m->stats.base_log_level < LOG_DEBUG ? m->stats.base_log_level : LOG_INFO;
        log_msg(LOG_INFO, "SIGUSR2: verbose logging off (SIGUSR2 again turns it on)");
    } else {
        log_level = LOG_DEBUG;
        log_msg(LOG_INFO, "SIGUSR2: verbose logging on (SIGUSR2 again turns it off)");
    }
}
