/*
 * sched.c - the master's scheduling policy, and nothing else: which
 * client's command goes next, and which slave takes it. No sockets, no
 * clock: every function decides on what it is given, so that
 * tests/unit_sched.c can check the policy on made-up clients and slaves.
 * master.c's dispatch_step applies it; flights.c carries the command out.
 *
 * Fairness: each free slot goes to the next client (round robin, in
 * connection order) that has a queued command and fewer than its fair
 * share of the slots running (sched_share; any such client when none is
 * below it), and to the least loaded slave (ties: round robin too). A
 * slave of short commands also gets a second job per slot, queued there
 * (slave_depth). Before all that, priority: only the clients of the
 * highest effective priority (--priority, raised by aging) compete
 * (sched_effective_priority).
 *
 * Load (sched_score): how busy a slave is, in fractions of it, is what
 * we gave it, outstanding / capacity, plus what else loads its machine:
 * the 1-minute load average its last PONG reported, less the commands the
 * slave ran then (ours are already in outstanding; every running command
 * counts about 1 in a load average), per CPU. A machine whose 4 CPUs run
 * 2 other processes is half busy before we give it anything. The sum is
 * divided by its slaves.conf weight (W times as fast: a slot there is
 * worth W slots elsewhere), so a weight-2 slave is filled to twice the
 * ratio of a weight-1 one. A slave whose load is unknown (an older one)
 * counts as idle machine-wise. The load average lags (a minute): right
 * after our commands start it is below them (clamped at 0), after they end
 * above; the outstanding part, exact, dominates a slave we keep busy.
 * --max-load and --memfree hold a slave back entirely (sched_held):
 * GNU parallel's --load and --memfree, on the figures the PONG says.
 */
#include "internal.h"

#include "dedup.h"

#include <limits.h>
#include <string.h>

/* The slots column of slaves.conf caps what the slave offers; it never
 * raises it (the extra commands would only wait in the slave's queue). */
unsigned slave_capacity(const slave_peer *s)
{
    if (s->conf_slots && (unsigned)s->conf_slots < s->slots_total)
        return (unsigned)s->conf_slots;
    return s->slots_total;
}

/* How many jobs s may hold: its capacity, and as many again queued on it
 * when its commands are short (under PREFETCH_BELOW_US on average), so
 * that it never waits for the master between two of them (a turn of the
 * master's loop, a journal flush). Not when slaves.conf caps it below its
 * own slots: the extra jobs would run at once there. */
unsigned slave_depth(const slave_peer *s)
{
    unsigned cap = slave_capacity(s);
    if (s->conf_slots && (unsigned)s->conf_slots < s->slots_total)
        return cap;
    return s->avg_run_us && s->avg_run_us < PREFETCH_BELOW_US ? 2 * cap : cap;
}

/* The oldest job id of s still in use: the slave's duplicate window
 * starts there (DEDUP_WINDOW ids from it). A result whose RESULT_ACK
 * waits for the journal is in use: the slave drops the jobs below the
 * floor, results included. */
uint64_t slave_floor(const slave_peer *s)
{
    uint64_t floor = s->held_ack_min ? s->held_ack_min : s->next_id;
    for (flight *f = s->flights; f; f = f->next)
        if (f->id < floor)
            floor = f->id;
    return floor;
}

/* A unit of sched_score: a slave all of whose slots are taken, or all of
 * whose CPUs are busy, scores SCORE_FULL (at weight 1). */
#define SCORE_FULL 1000000u

/* How busy s is, SCORE_FULL a slave full at weight 1 (the comment at the
 * top): (outstanding / capacity + other load / CPUs) / weight. Integers
 * only: the same figures give the same pick on every machine. */
uint64_t sched_score(const slave_peer *s)
{
    unsigned cap = slave_capacity(s);
    uint64_t score = cap ? (uint64_t)s->outstanding * SCORE_FULL / cap : (uint64_t)s->outstanding * SCORE_FULL;
    if (s->has_load && s->load_milli != MACHINE_LOAD_UNKNOWN && s->cpus) {
        uint64_t ours = (uint64_t)s->load_running * 1000;
        uint64_t other = s->load_milli > ours ? s->load_milli - ours : 0;
        score += other * (SCORE_FULL / 1000) / s->cpus;
    }
    uint32_t w = s->weight_milli ? s->weight_milli : 1000;
    return score * 1000 / w;
}

/* Whether --max-load or --memfree holds s back: GNU parallel's "only
 * start jobs if the load is less than max-load" (the 1-minute load
 * average, every process of the machine, ours included), "minimum memory
 * free when starting another job". An unknown figure holds nothing. */
enum held_why sched_held(const slave_peer *s, const load_limits *lim)
{
    if (!lim || !s->has_load)
        return HELD_NO;
    if (lim->max_load_milli && s->load_milli != MACHINE_LOAD_UNKNOWN) {
        uint64_t max = lim->max_load_milli;
        if (lim->max_load_per_cpu)
            max = s->cpus ? max * s->cpus : 0; /* CPUs unknown: no per-CPU limit */
        if (max && s->load_milli >= max)
            return HELD_LOAD;
    }
    if (lim->memfree && s->mem_avail != MACHINE_MEM_UNKNOWN && s->mem_avail < lim->memfree)
        return HELD_MEMFREE;
    return HELD_NO;
}

/* Usable: alive (heard, not dead: a suspect slave, quiet but not yet
 * dead, is still alive here), a session, not retired, a free slot, and
 * not so many ids ahead of its oldest unfinished job that the slave's
 * window would not take one more. */
static int usable(const slave_peer *s)
{
    return s->alive && s->boot && !s->retired && s->outstanding < slave_depth(s) &&
           s->next_id - slave_floor(s) < DEDUP_WINDOW - 1;
}

/* The usable slave of the lowest score, not held back (ties: round robin
 * from *rr, which moves past the one chosen). */
slave_peer *sched_pick_slave(slave_peer *const *slaves, int nslaves, int *rr, const load_limits *lim, unsigned *held)
{
    slave_peer *best = NULL;
    uint64_t best_score = 0;
    int best_index = 0;
    if (held)
        *held = 0;
    for (int k = 0; k < nslaves; k++) {
        int index = (*rr + k) % nslaves;
        slave_peer *s = slaves[index];
        if (!usable(s))
            continue;
        if (sched_held(s, lim)) {
            if (held)
                ++*held;
            continue;
        }
        uint64_t score = sched_score(s);
        if (!best || score < best_score)
            best = s, best_score = score, best_index = index;
    }
    if (best)
        *rr = (best_index + 1) % nslaves;
    return best;
}

/* Fair share: of slots slots, what each of busy batches (with commands
 * running or queued) may hold while another waits: ceil(slots / busy). */
uint32_t sched_share(uint32_t slots, unsigned busy)
{
    return busy ? (uint32_t)(((uint64_t)slots + busy - 1) / busy) : slots;
}

/* --priority and aging: a batch's effective priority is its priority
 * (OPTION_PRIORITY, -20..20, 0 by default; higher goes first) plus one
 * for each aging_ms (the master's --aging, AGING_MS = 10 s by default)
 * its queue has waited: since the batch last started a command, or since
 * its queue last became non-empty, whichever is later
 * (client.aging_since_ms). Waiting counts from the batch's last start,
 * not from its oldest command's arrival: a low batch that waited long gets
 * a slot, and then waits again, instead of taking every slot from then on
 * because all its commands arrived long ago. So no batch starves (its
 * priority climbs until it ties, then round robin serves it) and a high
 * one still gets nearly all the slots. aging_ms 0: no aging.
 * sched_next_client caps it at the highest priority (without aging) of
 * the batches that compete: aging lifts a batch up to a higher one, never
 * past it, so among batches of one priority fair share decides, not who
 * waited longer (a batch holding every slot with long commands would
 * otherwise out-age a newcomer and keep the next free slot). */
int sched_effective_priority(const client *cl, uint64_t now_ms, uint32_t aging_ms)
{
    int p = cl->opts.priority;
    if (aging_ms && cl->qhead && now_ms > cl->aging_since_ms) {
        uint64_t steps = (now_ms - cl->aging_since_ms) / aging_ms;
        p += steps > AGING_STEPS_MAX ? AGING_STEPS_MAX : (int)steps;
    }
    return p;
}

/* Whether cl may take a slot now: attached, a queued command, not held,
 * reading its results, under its -j cap, past its --delay. */
static int can_take(const client *cl, uint64_t now_ms, uint32_t slots)
{
    if (cl->state != CS_ACTIVE || !cl->qhead || cl->held || bw_pending(&cl->out) > OUT_HIGH_WATER)
        return 0;
    /* its OPTIONS: -j (at most that many running; relative: to the slots), --delay (its next start) */
    uint32_t cap = jobs_cap(&cl->opts, slots);
    return !((cap && cl->inflight >= cap) || (cl->opts.delay_ms && now_ms < cl->next_start_ms));
}

/* Among the clients that can take a slot, those of the highest effective
 * priority (sched_effective_priority) compete; the others wait. Among
 * them: the next client after the one served last (ids grow in
 * connection order, the list is in that order); from the start of the
 * list again when none is after it. (A client at its -j cap or before its
 * --delay's next start waits; slots: of the slaves alive, what a relative
 * -j counts from.) Fair share, among the batches of that priority: one
 * with at least sched_share running is passed over while one that can
 * take the slot is below its share; when none is, any may take it
 * (work-conserving). Nothing running is stopped: a newcomer, or a higher
 * priority, gets the slots of a batch that holds them all as they free. */
/* cl's effective priority, capped at base_top (the highest priority of
 * those that compete, without aging: see sched_effective_priority) */
static int capped_priority(const client *cl, uint64_t now_ms, uint32_t aging_ms, int base_top)
{
    int p = sched_effective_priority(cl, now_ms, aging_ms);
    return p > base_top ? base_top : p;
}

client *sched_next_client(client *clients, uint64_t last_served, uint64_t now_ms, uint32_t slots, uint32_t aging_ms)
{
    client *first_any = NULL, *next_any = NULL, *first_below = NULL, *next_below = NULL;
    int top = 0, base_top = 0, any = 0;
    for (client *cl = clients; cl; cl = cl->next)
        if (can_take(cl, now_ms, slots)) {
            if (!any || cl->opts.priority > base_top)
                base_top = cl->opts.priority;
            any = 1;
        }
    if (!any)
        return NULL;
    top = INT_MIN;
    for (client *cl = clients; cl; cl = cl->next)
        if (can_take(cl, now_ms, slots) && capped_priority(cl, now_ms, aging_ms, base_top) > top)
            top = capped_priority(cl, now_ms, aging_ms, base_top);
    unsigned busy = 0;
    for (client *cl = clients; cl; cl = cl->next)
        busy += (cl->qhead || cl->inflight) && capped_priority(cl, now_ms, aging_ms, base_top) == top;
    uint32_t share = sched_share(slots, busy);
    for (client *cl = clients; cl; cl = cl->next) {
        if (!can_take(cl, now_ms, slots) || capped_priority(cl, now_ms, aging_ms, base_top) != top)
            continue;
        int below = cl->inflight < share;
        if (cl->id > last_served) {
            if (!next_any)
                next_any = cl;
            if (below && !next_below)
                next_below = cl;
        }
        if (!first_any)
            first_any = cl;
        if (below && !first_below)
            first_below = cl;
    }
    if (first_below)
        return next_below ? next_below : first_below;
    return next_any ? next_any : first_any;
}

/* FNV-1a of a slave's name (host:port, as slaves.conf says it): the same
 * slave after a reload (SIGHUP makes new peers) or a restart (the journal
 * names slaves). Two names of one hash only lose a preference. */
uint32_t slave_uid(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h;
}

int command_failed_on(const command *cmd, uint32_t uid)
{
    unsigned n = cmd->tries < FAILED_ON_MAX ? cmd->tries : FAILED_ON_MAX;
    for (unsigned i = 0; i < n; i++)
        if (cmd->failed_on[i] == uid)
            return 1;
    return 0;
}

/* --retries: cmd failed before, on picked among others maybe. GNU
 * parallel's rule, "on another computer on which it has not failed when
 * there is one": the least loaded usable slave with a free slot where it
 * has not failed, else picked (a free slot where it failed beats waiting). */
slave_peer *sched_prefer_untried(slave_peer *const *slaves, int nslaves, const command *cmd, slave_peer *picked,
                                 const load_limits *lim)
{
    if (!cmd->tries || !command_failed_on(cmd, slave_uid(picked->name, strlen(picked->name))))
        return picked;
    slave_peer *best = NULL;
    uint64_t best_score = 0;
    for (int k = 0; k < nslaves; k++) {
        slave_peer *s = slaves[k];
        if (!usable(s) || sched_held(s, lim) || command_failed_on(cmd, slave_uid(s->name, strlen(s->name))))
            continue;
        uint64_t score = sched_score(s);
        if (!best || score < best_score)
            best = s, best_score = score;
    }
    return best ? best : picked;
}

/* --deadline: when cmd, queued, is no longer started (NO_DEADLINE: it
 * may wait for ever): deadline_ms after it reached the master. A command
 * dispatched once (and queued again: its slave died) is not affected; a
 * --retries run is a new start (its failed ones reset attempts). */
uint64_t sched_start_by(const client *cl, const command *cmd)
{
    if (!cl->opts.deadline_ms || cmd->attempts)
        return NO_DEADLINE;
    uint64_t by = cmd->received_ms + cl->opts.deadline_ms;
    return by > cmd->queued_before_ms ? by - cmd->queued_before_ms : 0; /* 0: before this clock began */
}

/* The timeout of cl's next dispatch: --timeout SECS, and --timeout N% of
 * the median run time of its successes once there is one (GNU parallel
 * applies N% from its first success too); the smaller of the two. */
uint32_t sched_timeout_ms(const client *cl)
{
    uint32_t t = cl->timeout_ms;
    if (cl->opts.timeout_pct && cl->median_us) {
        uint64_t pct = cl->median_us > UINT64_MAX / cl->opts.timeout_pct ? UINT64_MAX /* no wrap: the cap */
                                                                           : cl->median_us * cl->opts.timeout_pct / 100 / 1000;
        uint32_t p = pct < 1 ? 1 : pct > 86400000u ? 86400000u : (uint32_t)pct;
        if (!t || p < t)
            t = p;
    }
    return t;
}
