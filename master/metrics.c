/*
 * metrics.c - /metrics (master/http.c): the status snapshot and the
 * master's counters in the Prometheus text exposition format (version
 * 0.0.4: "# HELP", "# TYPE", one sample per line). Counters are the ones
 * --status shows, never reset while the master runs; gauges are the
 * moment's. doc/monitoring.md lists every metric.
 */
#include "internal.h"

#include <inttypes.h>
#include <string.h>

#include "status.h"

static void head(bwriter *w, const char *name, const char *type, const char *help)
{
    bw_printf(w, "# HELP %s %s\n", name, help);
    if (type)
        bw_printf(w, "# TYPE %s %s\n", name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(bwriter *w, const char *s)
{
    bw_u8(w, '"');
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            bw_u8(w, '\\');
        if (*s == '\n')
            bw_str(w, "\\n");
        else
            bw_u8(w, (uint8_t)*s);
    }
    bw_u8(w, '"');
}

static void slave_sample(bwriter *w, const char *name, const char *slave, const char *value)
{
    bw_printf(w, "%s{slave=", name);
    label_value(w, slave);
    bw_printf(w, "} %s\n", value);
}

static const char *u64(char *buf, uint64_t v)
{
    snprintf(buf, 24, "%" PRIu64, v);
    return buf;
}

void metrics_write(bwriter *w, const master *m, const status_snapshot *snap)
{
    const status_frame *f = &snap->master;
    const master_stats *st = &m->stats;
    char v[32];

    head(w, "smp_build_info", "gauge", "The master's version, as a label; always 1.");
    bw_str(w, "smp_build_info{version=");
    label_value(w, f->version);
    bw_str(w, "} 1\n");
    head(w, "smp_uptime_seconds", "gauge", "Seconds since the master started.");
    bw_printf(w, "smp_uptime_seconds %.3f\n", f->uptime_ms / 1000.0);

    head(w, "smp_commands_finished_total", "counter", "Commands finished since the master started, by how they ended.");
    for (int i = 0; i < STATUS_RUN_STATUSES; i++)
        bw_printf(w, "smp_commands_finished_total{status=\"%s\"} %" PRIu64 "\n", run_status_key(i), f->finished[i]);
    head(w, "smp_commands_failed_total", "counter", "Commands finished since the master started that did not exit 0.");
    bw_printf(w, "smp_commands_failed_total %" PRIu64 "\n", f->failed);
    head(w, "smp_commands_queued", "gauge", "Commands waiting for a slot, all batches.");
    bw_printf(w, "smp_commands_queued %" PRIu32 "\n", f->queued);
    head(w, "smp_commands_running", "gauge", "Commands dispatched to a slave and not finished, all batches.");
    bw_printf(w, "smp_commands_running %" PRIu32 "\n", f->running);
    head(w, "smp_clients", "gauge", "Client connections now.");
    bw_printf(w, "smp_clients %" PRIu32 "\n", f->clients);
    head(w, "smp_batches", "gauge", "Batches the master holds (running, orphaned, kept for client --attach).");
    bw_printf(w, "smp_batches %" PRIu32 "\n", f->batches);

    unsigned by_state[5] = {0};
    uint64_t sent = st->gone_sent, retrans = st->gone_retrans;
    for (size_t i = 0; i < snap->nslaves; i++) {
        by_state[snap->slaves[i].state < 5 ? snap->slaves[i].state : 0]++;
        sent += snap->slaves[i].sent;
        retrans += snap->slaves[i].retransmitted;
    }
    head(w, "smp_slaves_up", "gauge", "Slaves up or suspect (heard from within --dead-after).");
    bw_printf(w, "smp_slaves_up %u\n", f->slaves_up);
    head(w, "smp_slaves", "gauge", "Slaves in slaves.conf (and retired ones still finishing), by state.");
    for (uint8_t s = SLAVE_UP; s <= SLAVE_RETIRED; s++)
        bw_printf(w, "smp_slaves{state=\"%s\"} %u\n", slave_status_name(s), by_state[s]);
    /* Untyped: promtool's lint keeps the _total suffix for counters, and
     * this one goes down when a slave dies; the name is the issue's. */
    head(w, "smp_slots_total", NULL, "Slots of the slaves up or suspect (a gauge).");
    bw_printf(w, "smp_slots_total %" PRIu32 "\n", f->slots);
    head(w, "smp_datagrams_sent_total", "counter", "UDP datagrams sent to slaves.");
    bw_printf(w, "smp_datagrams_sent_total %" PRIu64 "\n", sent);
    head(w, "smp_datagrams_retransmitted_total", "counter",
         "Job request fragments sent again because no acknowledgement came in time.");
    bw_printf(w, "smp_datagrams_retransmitted_total %" PRIu64 "\n", retrans);
    /* --simulate's doing (0 without it): received datagrams dropped, doubled, held back on purpose */
    const simulate *sim = m->ep.sim;
    head(w, "smp_simulated_datagrams_total", "counter",
         "Received datagrams --simulate dropped, duplicated or reordered on purpose (0 without --simulate).");
    bw_printf(w, "smp_simulated_datagrams_total{effect=\"dropped\"} %" PRIu64 "\n", sim ? sim->dropped : 0);
    bw_printf(w, "smp_simulated_datagrams_total{effect=\"duplicated\"} %" PRIu64 "\n", sim ? sim->duplicated : 0);
    bw_printf(w, "smp_simulated_datagrams_total{effect=\"reordered\"} %" PRIu64 "\n", sim ? sim->reordered : 0);
    head(w, "smp_cache_hits_total", "counter", "client --cache: commands answered from the result cache.");
    bw_printf(w, "smp_cache_hits_total %" PRIu64 "\n", f->cache_hits);
    head(w, "smp_cache_misses_total", "counter", "client --cache: commands looked up and not found (they ran).");
    bw_printf(w, "smp_cache_misses_total %" PRIu64 "\n", f->cache_misses);
    head(w, "smp_cache_entries", "gauge", "Results in the cache now.");
    bw_printf(w, "smp_cache_entries %" PRIu64 "\n", f->cache_entries);
    head(w, "smp_cache_bytes", "gauge", "Bytes the cache holds, as --cache-size counts them.");
    bw_printf(w, "smp_cache_bytes %" PRIu64 "\n", f->cache_bytes);
    if (f->journal_bytes != STATUS_NO_JOURNAL) {
        head(w, "smp_journal_bytes", "gauge", "Size of the journal file in --state-dir.");
        bw_printf(w, "smp_journal_bytes %" PRIu64 "\n", f->journal_bytes);
    }

    static const uint64_t bounds_ms[DURATION_BUCKETS] = DURATION_BUCKETS_MS;
    head(w, "smp_command_duration_seconds", "histogram",
         "How long commands ran on their slave (those that exited, were killed or timed out).");
    uint64_t cum = 0;
    for (int b = 0; b < DURATION_BUCKETS; b++) {
        cum += st->duration_buckets[b];
        bw_printf(w, "smp_command_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", bounds_ms[b] / 1000.0, cum);
    }
    cum += st->duration_buckets[DURATION_BUCKETS];
    bw_printf(w, "smp_command_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    bw_printf(w, "smp_command_duration_seconds_sum %.6f\n", st->duration_sum_us / 1e6);
    bw_printf(w, "smp_command_duration_seconds_count %" PRIu64 "\n", cum);

    /* Per slave, labelled by its name in slaves.conf. */
    static const struct { const char *name, *type, *help; } per[] = {
        {"smp_slave_up", "gauge", "1 if the slave is up or suspect, 0 if dead or retired."},
        {"smp_slave_slots", "gauge", "The slave's slots."},
        {"smp_slave_running", "gauge", "Commands running on the slave."},
        {"smp_slave_commands_done_total", "counter", "Results the slave made since the master started."},
        {"smp_slave_commands_failed_total", "counter", "Of them, commands that did not exit 0."},
        {"smp_slave_datagrams_sent_total", "counter", "UDP datagrams sent to the slave."},
        {"smp_slave_datagrams_retransmitted_total", "counter", "Request fragments sent to it again on timeout."},
        {"smp_slave_rtt_seconds", "gauge", "Smoothed round-trip time to the slave (RFC 6298 SRTT), once measured."},
        {"smp_slave_last_heard_seconds", "gauge", "Seconds since the slave was last heard from, once heard."},
        {"smp_slave_load", "gauge", "The slave machine's 1-minute load average, as it last reported it."},
        {"smp_slave_cpus", "gauge", "The slave machine's online CPUs, as it last reported them."},
        {"smp_slave_memfree_bytes", "gauge", "The slave machine's available memory, as it last reported it."},
        {"smp_slave_weight", "gauge", "The slave's weight in slaves.conf (1: the default)."},
        {"smp_slave_held", "gauge", "1 if --max-load or --memfree holds the slave back (no new command), else 0."},
    };
    for (size_t k = 0; k < sizeof per / sizeof *per; k++) {
        head(w, per[k].name, per[k].type, per[k].help);
        for (size_t i = 0; i < snap->nslaves; i++) {
            const status_slave_frame *s = &snap->slaves[i];
            switch (k) {
            case 0: snprintf(v, sizeof v, "%d", s->state == SLAVE_UP || s->state == SLAVE_SUSPECT); break;
            case 1: u64(v, s->slots); break;
            case 2: u64(v, s->running); break;
            case 3: u64(v, s->done); break;
            case 4: u64(v, s->failed); break;
            case 5: u64(v, s->sent); break;
            case 6: u64(v, s->retransmitted); break;
            case 7:
                if (!s->rtt_us)
                    continue;
                snprintf(v, sizeof v, "%.6f", s->rtt_us / 1e6);
                break;
            case 8:
                if (s->last_heard_ms == STATUS_NEVER)
                    continue;
                snprintf(v, sizeof v, "%.3f", s->last_heard_ms / 1000.0);
                break;
            case 9:
                if (s->load == STATUS_NO_LOAD)
                    continue;
                snprintf(v, sizeof v, "%.2f", s->load / 100.0);
                break;
            case 10:
                if (!s->cpus)
                    continue;
                u64(v, s->cpus);
                break;
            case 11:
                if (s->mem_avail == STATUS_NO_MEM)
                    continue;
                u64(v, s->mem_avail);
                break;
            case 12: snprintf(v, sizeof v, "%.3f", s->weight_milli / 1000.0); break;
            default: snprintf(v, sizeof v, "%d", s->held != STATUS_HELD_NO);
            }
            slave_sample(w, per[k].name, s->name, v);
        }
    }
}
