/*
 * status.c - the status snapshot as JSON and as a table. Depends on
 * nothing but the snapshot: the client renders what the frames said, and
 * the master could render what it gathered, the same bytes.
 */
#include "status.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, n * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

int status_add_slave(status_snapshot *s, const status_slave_frame *sl)
{
    if (grow((void **)&s->slaves, &s->cap_slaves, s->nslaves + 1, sizeof *s->slaves) < 0)
        return -1;
    s->slaves[s->nslaves++] = *sl;
    return 0;
}

int status_add_batch(status_snapshot *s, const status_batch_frame *b)
{
    if (grow((void **)&s->batches, &s->cap_batches, s->nbatches + 1, sizeof *s->batches) < 0)
        return -1;
    s->batches[s->nbatches++] = *b;
    return 0;
}

int status_add_job(status_snapshot *s, const status_job_frame *j)
{
    if (grow((void **)&s->jobs, &s->cap_jobs, s->njobs + 1, sizeof *s->jobs) < 0)
        return -1;
    s->jobs[s->njobs++] = *j;
    return 0;
}

void status_free(status_snapshot *s)
{
    free(s->slaves);
    free(s->batches);
    free(s->jobs);
    memset(s, 0, sizeof *s);
}

const char *slave_status_name(uint8_t state)
{
    static const char *names[] = {"?", "up", "suspect", "dead", "retired"};
    return state < sizeof names / sizeof *names ? names[state] : "?";
}

const char *batch_state_name(uint8_t state)
{
    static const char *names[] = {"?", "attached", "detached", "orphaned", "finished", "delivered", "cancelled"};
    return state < sizeof names / sizeof *names ? names[state] : "?";
}

const char *run_status_key(int status)
{
    static const char *names[STATUS_RUN_STATUSES] = {"exited", "signaled", "not_started", "rejected",
                                                     "timed_out", "no_slave", "cancelled"};
    return status >= 0 && status < STATUS_RUN_STATUSES ? names[status] : "?";
}

double status_finished_per_s(const status_frame *m)
{
    return m->window_s ? (double)m->finished_window / m->window_s : 0.0;
}

/* Names come from slaves.conf and peers' addresses: not trusted to be UTF-8. */
static void json_name(bwriter *w, const char *s)
{
    if (json_bw_string(w, s, strlen(s)) < 0)
        bw_str(w, "\"?\"");
}

static const char *job_state_name(uint8_t state)
{
    static const char *names[] = {"?", "sending", "running", "returning", "cancelling"};
    return state < sizeof names / sizeof *names ? names[state] : "?";
}

/* The commands on slave number i now: its "jobs". */
static void write_jobs(bwriter *w, const status_snapshot *s, size_t i)
{
    const char *sep = "";
    bw_str(w, ",\"jobs\":[");
    for (size_t k = 0; k < s->njobs; k++) {
        const status_job_frame *j = &s->jobs[k];
        if (j->slave != i)
            continue;
        if (j->batch)
            bw_printf(w, "%s{\"batch\":\"%016" PRIx64 "\",\"client\":", sep, j->batch);
        else
            bw_printf(w, "%s{\"batch\":null,\"client\":", sep);
        json_name(w, j->client);
        bw_printf(w, ",\"seq\":%" PRIu32 ",\"command\":", j->seq);
        json_name(w, j->command);
        bw_printf(w, ",\"state\":\"%s\",\"running_ms\":%" PRIu64 "}", job_state_name(j->state), j->running_ms);
        sep = ",";
    }
    bw_str(w, "]");
}

void status_write_json(bwriter *w, const status_snapshot *s)
{
    const status_frame *m = &s->master;
    bw_str(w, "{\"version\":");
    json_name(w, m->version);
    bw_printf(w, ",\"uptime_s\":%.3f,\"finished_per_s\":%.3f,", (double)m->uptime_ms / 1000.0,
            status_finished_per_s(m));
    if (m->journal_bytes == STATUS_NO_JOURNAL)
        bw_str(w, "\"journal_bytes\":null");
    else
        bw_printf(w, "\"journal_bytes\":%" PRIu64, m->journal_bytes);
    bw_printf(w, ",\"stopping\":%s,\"verbose\":%s,\"clients\":%" PRIu32 ",\"queued\":%" PRIu32 ",\"running\":%" PRIu32
               ",\"slots\":%" PRIu32 ",\"slaves_total\":%u,\"slaves_up\":%u,\"finished\":{",
            m->flags & STATUS_FLAG_STOPPING ? "true" : "false", m->flags & STATUS_FLAG_VERBOSE ? "true" : "false",
            m->clients, m->queued, m->running, m->slots, m->slaves, m->slaves_up);
    uint64_t total = 0;
    for (int i = 0; i < STATUS_RUN_STATUSES; i++) {
        bw_printf(w, "%s\"%s\":%" PRIu64, i ? "," : "", run_status_key(i), m->finished[i]);
        total += m->finished[i];
    }
    bw_printf(w, "},\"finished_total\":%" PRIu64 ",\"failed_total\":%" PRIu64 ",\"slaves\":[", total, m->failed);
    for (size_t i = 0; i < s->nslaves; i++) {
        const status_slave_frame *sl = &s->slaves[i];
        bw_str(w, i ? ",{\"name\":" : "{\"name\":");
        json_name(w, sl->name);
        bw_printf(w, ",\"state\":\"%s\",\"slots\":%u,\"running\":%" PRIu32 ",\"dispatched\":%" PRIu32
                   ",\"done\":%" PRIu64 ",\"failed\":%" PRIu64,
                slave_status_name(sl->state), sl->slots, sl->running, sl->dispatched, sl->done, sl->failed);
        if (sl->rtt_us)
            bw_printf(w, ",\"rtt_ms\":%.3f", sl->rtt_us / 1000.0);
        else
            bw_str(w, ",\"rtt_ms\":null");
        bw_printf(w, ",\"datagrams_sent\":%" PRIu64 ",\"datagrams_retransmitted\":%" PRIu64, sl->sent,
                sl->retransmitted);
        if (sl->sent)
            bw_printf(w, ",\"retransmit_ratio\":%.6f", (double)sl->retransmitted / (double)sl->sent);
        else
            bw_str(w, ",\"retransmit_ratio\":null");
        if (sl->last_heard_ms == STATUS_NEVER)
            bw_str(w, ",\"last_heard_ms\":null");
        else
            bw_printf(w, ",\"last_heard_ms\":%" PRIu64, sl->last_heard_ms);
        if (sl->load == STATUS_NO_LOAD)
            bw_str(w, ",\"load\":null");
        else
            bw_printf(w, ",\"load\":%.2f", sl->load / 100.0);
        if (sl->cpus)
            bw_printf(w, ",\"cpus\":%u", sl->cpus);
        else
            bw_str(w, ",\"cpus\":null");
        if (sl->mem_avail == STATUS_NO_MEM)
            bw_str(w, ",\"memfree_bytes\":null");
        else
            bw_printf(w, ",\"memfree_bytes\":%" PRIu64, sl->mem_avail);
        bw_printf(w, ",\"weight\":%.3g,\"held\":", sl->weight_milli / 1000.0);
        bw_str(w, sl->held == STATUS_HELD_LOAD ? "\"load\"" : sl->held == STATUS_HELD_MEMFREE ? "\"memfree\"" : "null");
        write_jobs(w, s, i);
        bw_str(w, "}");
    }
    bw_str(w, "],\"batches\":[");
    for (size_t i = 0; i < s->nbatches; i++) {
        const status_batch_frame *b = &s->batches[i];
        if (b->batch)
            bw_printf(w, "%s{\"id\":\"%016" PRIx64 "\",\"client\":", i ? "," : "", b->batch);
        else
            bw_printf(w, "%s{\"id\":null,\"client\":", i ? "," : "");
        json_name(w, b->name);
        bw_printf(w, ",\"state\":\"%s\",\"durable\":%s,\"ended\":%s,\"submitted\":%" PRIu32 ",\"queued\":%" PRIu32
                   ",\"running\":%" PRIu32 ",\"done\":%" PRIu32 ",\"failed\":%" PRIu32 ",\"started\":%" PRIu64
                   ",\"priority\":%d,\"effective_priority\":%d,\"order\":\"%s\"}",
                batch_state_name(b->state), b->flags & BATCH_FLAG_DURABLE ? "true" : "false",
                b->flags & BATCH_FLAG_ENDED ? "true" : "false", b->submitted, b->queued, b->running, b->done,
                b->failed, b->started_ms, b->priority, b->effective, b->order == ORDER_LPT ? "lpt" : "fifo");
    }
    bw_str(w, "]");
    if (m->has_cache)
        bw_printf(w, ",\"cache\":{\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
                   ",\"max_bytes\":%" PRIu64 ",\"age_s\":%.3f}", m->cache_hits, m->cache_misses, m->cache_entries,
                m->cache_bytes, m->cache_max_bytes, (double)m->cache_age_ms / 1000.0);
    else
        bw_str(w, ",\"cache\":null");
    bw_str(w, "}\n");
}

/* 1.2s, 3m04s, 2h05m, 3d04h: a duration in ms, short. */
static const char *human_ms(char *buf, size_t n, uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, n, "%.1fs", ms / 1000.0);
    else if (s < 3600)
        snprintf(buf, n, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
    else if (s < 86400)
        snprintf(buf, n, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
    else
        snprintf(buf, n, "%ud%02uh", (unsigned)(s / 86400), (unsigned)(s % 86400 / 3600));
    return buf;
}

static const char *human_bytes(char *buf, size_t n, uint64_t b)
{
    if (b < 10240)
        snprintf(buf, n, "%uB", (unsigned)b);
    else if (b < (uint64_t)10240 << 10)
        snprintf(buf, n, "%.1fKiB", b / 1024.0);
    else if (b < (uint64_t)10240 << 20)
        snprintf(buf, n, "%.1fMiB", b / 1048576.0);
    else
        snprintf(buf, n, "%.1fGiB", b / 1073741824.0);
    return buf;
}

void status_write_table(FILE *f, const status_snapshot *s)
{
    const status_frame *m = &s->master;
    char a[32], b[32];
    uint64_t total = 0;
    for (int i = 0; i < STATUS_RUN_STATUSES; i++)
        total += m->finished[i];
    fprintf(f, "master %s up %s, %u/%u slaves up, %" PRIu32 " slots, %" PRIu32 " running, %" PRIu32
               " queued, %" PRIu64 " finished (%" PRIu64 " failed), %.2f/s over %us, %" PRIu32 " clients, journal %s%s\n",
            m->version, human_ms(a, sizeof a, m->uptime_ms), m->slaves_up, m->slaves, m->slots, m->running, m->queued,
            total, m->failed, status_finished_per_s(m), m->window_s, m->clients,
            m->journal_bytes == STATUS_NO_JOURNAL ? "none (--ephemeral)" : human_bytes(b, sizeof b, m->journal_bytes),
            m->flags & STATUS_FLAG_STOPPING ? ", STOPPING" : "");
    fprintf(f, "%-24s %-7s %5s %7s %8s %7s %8s %7s %10s %5s %4s %9s %6s %s\n", "SLAVE", "STATE", "SLOTS", "RUNNING",
            "DONE", "FAILED", "RTT_MS", "RETRANS", "LAST_HEARD", "LOAD", "CPUS", "MEMFREE", "WEIGHT", "HELD");
    for (size_t i = 0; i < s->nslaves; i++) {
        const status_slave_frame *sl = &s->slaves[i];
        char rtt[16], re[16], heard[32], load[16], cpus[8], mem[32], weight[16];
        if (sl->rtt_us)
            snprintf(rtt, sizeof rtt, "%.2f", sl->rtt_us / 1000.0);
        else
            snprintf(rtt, sizeof rtt, "-");
        if (sl->sent)
            snprintf(re, sizeof re, "%.2f%%", 100.0 * (double)sl->retransmitted / (double)sl->sent);
        else
            snprintf(re, sizeof re, "-");
        if (sl->last_heard_ms == STATUS_NEVER)
            snprintf(heard, sizeof heard, "never");
        else
            human_ms(heard, sizeof heard, sl->last_heard_ms);
        if (sl->load == STATUS_NO_LOAD)
            snprintf(load, sizeof load, "-");
        else
            snprintf(load, sizeof load, "%.2f", sl->load / 100.0);
        if (sl->cpus)
            snprintf(cpus, sizeof cpus, "%u", sl->cpus);
        else
            snprintf(cpus, sizeof cpus, "-");
        if (sl->mem_avail == STATUS_NO_MEM)
            snprintf(mem, sizeof mem, "-");
        else
            human_bytes(mem, sizeof mem, sl->mem_avail);
        snprintf(weight, sizeof weight, "%.3g", sl->weight_milli / 1000.0);
        fprintf(f, "%-24s %-7s %5u %7" PRIu32 " %8" PRIu64 " %7" PRIu64 " %8s %7s %10s %5s %4s %9s %6s %s\n", sl->name,
                slave_status_name(sl->state), sl->slots, sl->running, sl->done, sl->failed, rtt, re, heard, load, cpus,
                mem, weight,
                sl->held == STATUS_HELD_LOAD ? "held: load" : sl->held == STATUS_HELD_MEMFREE ? "held: memfree" : "-");
    }
    fprintf(f, "%-16s %-9s %7s %7s %7s %7s %7s %9s %-24s %4s %s\n", "BATCH", "STATE", "TOTAL", "QUEUED", "RUNNING",
            "DONE", "FAILED", "AGE", "CLIENT", "PRIO", "ORDER");
    uint64_t now = (uint64_t)time(NULL) * 1000;
    for (size_t i = 0; i < s->nbatches; i++) {
        const status_batch_frame *bt = &s->batches[i];
        char id[20], when[32], tot[16];
        if (bt->batch)
            snprintf(id, sizeof id, "%016" PRIx64, bt->batch);
        else
            snprintf(id, sizeof id, "-");
        human_ms(when, sizeof when, now > bt->started_ms ? now - bt->started_ms : 0);
        /* "+": its client has not sent END yet, more may come */
        snprintf(tot, sizeof tot, "%" PRIu32 "%s", bt->submitted, bt->flags & BATCH_FLAG_ENDED ? "" : "+");
        char prio[16]; /* its --priority, and with its aging when that differs */
        if (bt->effective != bt->priority)
            snprintf(prio, sizeof prio, "%d(%d)", bt->priority, bt->effective);
        else
            snprintf(prio, sizeof prio, "%d", bt->priority);
        fprintf(f, "%-16s %-9s %7s %7" PRIu32 " %7" PRIu32 " %7" PRIu32 " %7" PRIu32 " %9s %-24s %4s %s\n", id,
                batch_state_name(bt->state), tot, bt->queued, bt->running, bt->done, bt->failed, when, bt->name, prio,
                bt->order == ORDER_LPT ? "lpt" : "fifo");
    }
}
