/* Unit tests: the master's scheduling policy (master/sched.c) on made-up
 * clients and slaves: which client's command goes next (round robin in
 * connection order), which slave takes it (least loaded, ties round robin;
 * full, dead, unheard, retired or window-bound slaves skipped), and how
 * the machine's load, slaves.conf weights, --max-load and --memfree
 * shift it (sched_score, sched_held). */
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "master/internal.h"
#include "tap.h"

/* ----------------------------------------------------------- clients --- */

static command a_command; /* only its presence in a queue matters */

static void client_make(client *cl, uint64_t id, int queued)
{
    memset(cl, 0, sizeof *cl);
    cl->id = id;
    cl->state = CS_ACTIVE;
    bw_init(&cl->out, CLIENT_OUT_LIMIT);
    if (queued)
        cl->qhead = cl->qtail = &a_command;
}

static client *chain(client *cls, int n)
{
    for (int i = 0; i + 1 < n; i++)
        cls[i].next = &cls[i + 1];
    cls[n - 1].next = NULL;
    return &cls[0];
}

static void test_next_client(void)
{
    client cls[4];
    for (int i = 0; i < 4; i++)
        client_make(&cls[i], (uint64_t)i + 1, 1);
    client *list = chain(cls, 4);

    /* Round robin: each serve moves past the one served, and wraps. */
    uint64_t last = 0;
    uint64_t order[8];
    for (int k = 0; k < 8; k++) {
        client *cl = sched_next_client(list, last, 0, 0, 0);
        order[k] = cl ? cl->id : 0;
        last = order[k];
    }
    int rr = 1;
    for (int k = 0; k < 8; k++)
        rr &= order[k] == (uint64_t)(k % 4) + 1;
    ok(rr, "round robin across 4 clients: 1 2 3 4 1 2 3 4 (got %llu %llu %llu %llu %llu)",
       (unsigned long long)order[0], (unsigned long long)order[1], (unsigned long long)order[2],
       (unsigned long long)order[3], (unsigned long long)order[4]);

    /* A client with nothing queued, still in its handshake, or closing is
     * passed over; so is one that does not read its results. */
    cls[1].qhead = cls[1].qtail = NULL;
    cls[2].state = CS_HELLO;
    is_int(sched_next_client(list, 1, 0, 0, 0)->id, 4, "after 1: 2 has nothing queued, 3 is in its handshake: 4");
    cls[2].state = CS_PROVING;
    is_int(sched_next_client(list, 1, 0, 0, 0)->id, 4, "a client proving its key is passed over");
    cls[2].state = CS_CLOSING;
    is_int(sched_next_client(list, 1, 0, 0, 0)->id, 4, "a closing client is passed over");
    is_int(sched_next_client(list, 4, 0, 0, 0)->id, 1, "after the last one: from the start again");
    cls[3].out.len = OUT_HIGH_WATER + 1; /* results waiting, unread */
    is_int(sched_next_client(list, 1, 0, 0, 0)->id, 1, "a client not reading its results gets no more: the same one again");
    cls[3].out.len = OUT_HIGH_WATER;
    is_int(sched_next_client(list, 1, 0, 0, 0)->id, 4, "at the high-water mark exactly it still gets work");
    cls[0].qhead = cls[0].qtail = NULL;
    cls[3].qhead = cls[3].qtail = NULL;
    ok(sched_next_client(list, 0, 0, 0, 0) == NULL, "no client with work: none");

    /* Ids are not contiguous (clients leave): the next larger id. */
    client two[2];
    client_make(&two[0], 5, 1);
    client_make(&two[1], 9, 1);
    list = chain(two, 2);
    is_int(sched_next_client(list, 6, 0, 0, 0)->id, 9, "last served 6 (gone): 9 is next");
    is_int(sched_next_client(list, 9, 0, 0, 0)->id, 5, "last served 9: wraps to 5");
    ok(sched_next_client(NULL, 0, 0, 0, 0) == NULL, "no clients: none");
    /* -j and --delay (OPTIONS) */
    list = chain(two, 2);
    two[0].opts.jobs = 2;
    two[0].inflight = 2;
    is_int(sched_next_client(list, 0, 0, 0, 0)->id, 9, "-j 2 with 2 running: passed over");
    two[0].inflight = 1;
    is_int(sched_next_client(list, 0, 0, 0, 0)->id, 5, "-j 2 with 1 running: served");
    two[0].opts.jobs = 0;
    two[0].opts.delay_ms = 300;
    two[0].next_start_ms = 1000;
    is_int(sched_next_client(list, 0, 999, 0, 0)->id, 9, "--delay: before its next start, passed over");
    is_int(sched_next_client(list, 0, 1000, 0, 0)->id, 5, "--delay: at its next start, served");
    two[0].opts.delay_ms = 0;
    two[0].opts.jobs_form = JOBS_PERCENT; /* -j 50% */
    two[0].opts.jobs_n = 50;
    two[0].inflight = 2;
    is_int(sched_next_client(list, 0, 0, 4, 0)->id, 9, "-j 50%% of 4 slots with 2 running: passed over");
    is_int(sched_next_client(list, 0, 0, 6, 0)->id, 5, "-j 50%% of 6 slots with 2 running: served");
    two[0].opts.jobs_form = 0;
    two[0].inflight = 0;
    for (int i = 0; i < 4; i++)
        bw_free(&cls[i].out);
    bw_free(&two[0].out);
    bw_free(&two[1].out);
}

/* --------------------------------------------------------- fair share --- */

/* A made-up master: n batches, fq[i] commands queued each, their inflight
 * their running ones; a free slot goes where sched_next_client says. */
static unsigned fq[3];
#define is_str(got, want, name) do { const char *g_ = (got); ok(strcmp(g_, (want)) == 0, "%s (got %s)", (name), g_); } while (0)
static uint64_t fair_last;

static int fair_give(client *cls, int n, uint32_t slots)
{
    for (int i = 0; i < n; i++)
        cls[i].qhead = cls[i].qtail = fq[i] ? &a_command : NULL;
    client *cl = sched_next_client(&cls[0], fair_last, 0, slots, 0);
    if (!cl)
        return -1;
    int i = (int)(cl - cls);
    fq[i]--;
    cl->inflight++;
    fair_last = cl->id;
    return i;
}

/* k slots given one by one: who got each, as digits ("0101") */
static const char *fair_gives(client *cls, int n, uint32_t slots, int k)
{
    static char got[32];
    int i;
    for (i = 0; i < k && i < 31; i++) {
        int w = fair_give(cls, n, slots);
        got[i] = w < 0 ? '-' : (char)('0' + w);
    }
    got[i] = 0;
    return got;
}

static void test_fair_share(void)
{
    client cls[3];
    for (int i = 0; i < 3; i++)
        client_make(&cls[i], (uint64_t)i + 1, 0);
    chain(cls, 3);

    is_int(sched_share(4, 2), 2, "share: 4 slots, 2 batches: 2 each");
    is_int(sched_share(5, 2), 3, "share: 5 slots, 2 batches: ceil, 3");
    is_int(sched_share(4, 0), 4, "share: nobody busy: every slot");

    /* One batch alone takes every slot (work-conserving). */
    fq[0] = 10, fq[1] = fq[2] = 0, fair_last = 0;
    is_str(fair_gives(cls, 3, 4, 4), "0000", "one batch: it takes the 4 slots");

    /* Two batches from nothing: 50/50. */
    cls[0].inflight = 0;
    fq[0] = 8, fq[1] = 8, fair_last = 0;
    is_str(fair_gives(cls, 3, 4, 4), "0101", "two batches, 4 free slots: 2 each, alternating");
    ok(cls[0].inflight == 2 && cls[1].inflight == 2, "two batches: 2 and 2 running");

    /* A batch of long commands holds the 4 slots; B comes with 8 queued:
     * every slot A frees goes to B until they are even; then each refills
     * its own share. */
    cls[0].inflight = 4, cls[1].inflight = 0;
    fq[0] = 8, fq[1] = 8, fair_last = 1; /* A served last */
    cls[0].inflight--;
    is_int(fair_give(cls, 3, 4), 1, "A holds all 4, one ends: B gets it");
    cls[0].inflight--;
    is_int(fair_give(cls, 3, 4), 1, "A's second ends: B again (A at its share 2)");
    fair_last = 2; /* B served last: round robin alone would give A the next one */
    cls[1].inflight--;
    is_int(fair_give(cls, 3, 4), 1, "B's ends, B served last: B (A at its share), not round robin's A");
    cls[0].inflight--;
    is_int(fair_give(cls, 3, 4), 0, "A's ends, A below its share: A");
    ok(cls[0].inflight == 2 && cls[1].inflight == 2, "even: 2 and 2");

    /* Work-conserving: B has nothing queued (its 2 run): A may take more. */
    fq[1] = 0;
    is_str(fair_gives(cls, 3, 6, 2), "00", "B has nothing queued: A takes the slots beyond its share");
    /* B capped by its own -j 2: A takes the slot. */
    fq[1] = 5, cls[0].inflight = 2, cls[1].inflight = 2, cls[1].opts.jobs = 2;
    is_int(fair_give(cls, 3, 6), 0, "B at its -j 2, below its share 3: A gets the slot");
    cls[1].opts.jobs = 0;

    /* Three batches: A holds 6 of 6, B and C wait: B and C get every freed
     * slot until 2, 2, 2; then each its own. */
    cls[0].inflight = 6, cls[1].inflight = 0, cls[2].inflight = 0;
    fq[0] = 10, fq[1] = 10, fq[2] = 10, fair_last = 1;
    char got[8];
    for (int k = 0; k < 4; k++) {
        cls[0].inflight--;
        int w = fair_give(cls, 3, 6);
        got[k] = (char)('0' + w);
    }
    got[4] = 0;
    is_str(got, "1212", "three batches, A holds 6 of 6: A's 4 freed slots go to B, C, B, C");
    ok(cls[0].inflight == 2 && cls[1].inflight == 2 && cls[2].inflight == 2, "three batches: 2, 2, 2");
    cls[0].inflight--;
    is_int(fair_give(cls, 3, 6), 0, "A's next freed slot: A's again (below its share 2)");

    /* slots_alive changes: a slave of 4 slots joins (8 alive): the new
     * slots go to those below the new share (4 each of 2). */
    fq[2] = 0, cls[2].inflight = 0;
    cls[0].inflight = 4, cls[1].inflight = 0, fair_last = 1;
    is_str(fair_gives(cls, 3, 8, 4), "1111", "8 slots now, A runs 4: the 4 new ones go to B");
    is_str(fair_gives(cls, 3, 8, 2), "01", "both at their share 4: round robin beyond it");
    /* A slave dies (4 slots alive, its commands queued again): 2 each. */
    cls[0].inflight = 4, cls[1].inflight = 0, fair_last = 2;
    cls[0].inflight--;
    is_int(fair_give(cls, 3, 4), 1, "4 slots, A runs 3 of them: the freed one goes to B");
    is_int(fair_give(cls, 3, 0), 0, "no slot alive (share 0): round robin");
    for (int i = 0; i < 3; i++)
        bw_free(&cls[i].out);
}

/* ------------------------------------------------------------ slaves --- */

static void slave_make(slave_peer *s, unsigned slots, unsigned outstanding)
{
    memset(s, 0, sizeof *s);
    s->alive = 1;
    s->boot = 42;
    s->slots_total = (uint16_t)slots;
    s->outstanding = outstanding;
    s->next_id = 1;
}

static int index_of(slave_peer **arr, int n, const slave_peer *s)
{
    for (int i = 0; i < n; i++)
        if (arr[i] == s)
            return i;
    return -1;
}

static void test_pick_slave(void)
{
    slave_peer s[3];
    slave_peer *arr[3] = {&s[0], &s[1], &s[2]};
    int rr = 0;

    /* Ties: round robin, starting at rr, which moves past the one picked. */
    for (int i = 0; i < 3; i++)
        slave_make(&s[i], 2, 0);
    int picks[6];
    for (int k = 0; k < 6; k++)
        picks[k] = index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL));
    ok(picks[0] == 0 && picks[1] == 1 && picks[2] == 2 && picks[3] == 0 && picks[4] == 1 && picks[5] == 2,
       "equal load: round robin 0 1 2 0 1 2 (got %d %d %d %d %d %d)", picks[0], picks[1], picks[2], picks[3], picks[4],
       picks[5]);

    /* Least loaded wins, by outstanding / capacity. */
    slave_make(&s[0], 4, 2); /* 1/2 */
    slave_make(&s[1], 2, 0); /* 0 */
    slave_make(&s[2], 8, 1); /* 1/8 */
    rr = 0;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 1, "the idle slave first");
    is_int(rr, 2, "rr moves past the one picked");
    s[1].outstanding = 1; /* 1/2 */
    rr = 0;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 2, "then the one with the lowest load ratio (1/8)");
    slave_make(&s[0], 4, 2); /* 1/2 */
    slave_make(&s[1], 2, 1); /* 1/2 */
    slave_make(&s[2], 8, 4); /* 1/2 */
    rr = 1;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 1, "equal ratios: the first from rr");

    /* Short commands: a second job per slot, queued on the slave; not when
     * slaves.conf caps the slave below its own slots, not for long ones. */
    for (int i = 0; i < 3; i++)
        slave_make(&s[i], 2, 2);
    rr = 0;
    ok(sched_pick_slave(arr, 3, &rr, NULL, NULL) == NULL, "full slaves, durations unknown: none (depth = capacity)");
    s[1].avg_run_us = 1000;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 1, "a slave of 1 ms commands takes a 3rd job on 2 slots");
    is_int(slave_depth(&s[1]), 4, "... up to 2 per slot");
    s[1].outstanding = 4;
    ok(sched_pick_slave(arr, 3, &rr, NULL, NULL) == NULL, "... and no more");
    s[1].avg_run_us = PREFETCH_BELOW_US;
    is_int(slave_depth(&s[1]), 2, "commands of %u ms on average: no second job per slot", PREFETCH_BELOW_US / 1000);
    s[1].avg_run_us = 1000;
    s[1].slots_total = 8;
    s[1].conf_slots = 2;
    is_int(slave_depth(&s[1]), 2, "slaves.conf caps it below its own slots: no second job (it would run at once)");

    /* Skipped: full, dead, not heard, retired. */
    for (int i = 0; i < 3; i++)
        slave_make(&s[i], 2, 0);
    s[0].outstanding = 2;
    rr = 0;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 1, "a full slave is skipped");
    s[1].alive = 0;
    rr = 0;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 2, "a dead slave is skipped");
    s[1].alive = 1;
    s[1].boot = 0;
    rr = 1;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 2, "a slave not heard yet (no boot id) is skipped");
    s[1].boot = 42;
    s[1].last_heard_ms = 0; /* suspect: quiet, but not declared dead */
    rr = 1;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 1, "a suspect slave (alive, quiet) still takes work");
    s[2].retired = 1;
    rr = 2;
    is_int(index_of(arr, 3, sched_pick_slave(arr, 3, &rr, NULL, NULL)), 1, "a retired slave is skipped");
    s[1].outstanding = 2;
    ok(sched_pick_slave(arr, 3, &rr, NULL, NULL) == NULL, "all full, dead or retired: none");
    is_int(rr, 2, "rr unchanged when nothing is picked");

    /* The slots column caps what the slave offers, never raises it. */
    slave_make(&s[0], 8, 2);
    s[0].conf_slots = 2;
    is_int(slave_capacity(&s[0]), 2, "slaves.conf slots 2 caps 8 offered");
    rr = 0;
    ok(sched_pick_slave(arr, 1, &rr, NULL, NULL) == NULL, "capped at 2, 2 running: full");
    s[0].conf_slots = 16;
    is_int(slave_capacity(&s[0]), 8, "slaves.conf slots 16 does not raise 8 offered");
    s[0].conf_slots = 0;
    is_int(slave_capacity(&s[0]), 8, "no slots column: what the slave offers");

    /* The duplicate window: ids in use span less than DEDUP_WINDOW - 1. */
    slave_make(&s[0], 2, 1);
    flight old;
    memset(&old, 0, sizeof old);
    old.id = 10;
    s[0].flights = &old;
    s[0].next_id = 10 + DEDUP_WINDOW - 2;
    is_int(slave_floor(&s[0]), 10, "floor: the oldest id in use");
    rr = 0;
    ok(sched_pick_slave(arr, 1, &rr, NULL, NULL) == &s[0], "ids in use span DEDUP_WINDOW - 2: one more fits");
    s[0].next_id++;
    ok(sched_pick_slave(arr, 1, &rr, NULL, NULL) == NULL, "span DEDUP_WINDOW - 1: no more until the oldest ends");
    s[0].flights = NULL;
    is_int(slave_floor(&s[0]), s[0].next_id, "no flight: the floor is the next id");
    ok(sched_pick_slave(arr, 1, &rr, NULL, NULL) == &s[0], "the oldest ended: it takes work again");
    ok(sched_pick_slave(arr, 0, &rr, NULL, NULL) == NULL, "no slaves: none");
}

/* --retries: the next run of a failed command goes where it has not failed
 * (a free slot), else where the plain pick was; --timeout N%. */
static void test_retries(void)
{
    slave_peer s[3];
    slave_peer *arr[3] = {&s[0], &s[1], &s[2]};
    for (int i = 0; i < 3; i++) {
        slave_make(&s[i], 2, 0);
        snprintf(s[i].name, sizeof s[i].name, "127.0.0.1:%d", 7000 + i);
    }
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    ok(sched_prefer_untried(arr, 3, &cmd, &s[0], NULL) == &s[0], "never failed: the plain pick");
    cmd.failed_on[0] = slave_uid(s[0].name, strlen(s[0].name));
    cmd.tries = 1;
    ok(command_failed_on(&cmd, slave_uid("127.0.0.1:7000", 14)) && !command_failed_on(&cmd, slave_uid(s[1].name, 14)),
       "failed_on: by the slave's name (a new peer of that name after a reload too)");
    s[1].outstanding = 1;
    ok(sched_prefer_untried(arr, 3, &cmd, &s[0], NULL) == &s[2], "failed on the pick: the least loaded where it has not failed");
    ok(sched_prefer_untried(arr, 3, &cmd, &s[1], NULL) == &s[1], "the pick is one where it has not failed: kept");
    cmd.failed_on[1] = slave_uid(s[2].name, strlen(s[2].name));
    cmd.tries = 2;
    ok(sched_prefer_untried(arr, 3, &cmd, &s[0], NULL) == &s[1], "failed on 2 of 3: the third");
    s[1].outstanding = 2;
    ok(sched_prefer_untried(arr, 3, &cmd, &s[0], NULL) == &s[0], "the one where it has not failed is full: the pick");
    s[1].alive = 0;
    s[1].outstanding = 0;
    ok(sched_prefer_untried(arr, 3, &cmd, &s[0], NULL) == &s[0], "... or dead: the pick");
    client cl;
    memset(&cl, 0, sizeof cl);
    cl.timeout_ms = 5000;
    is_int((int)sched_timeout_ms(&cl), 5000, "--timeout SECS alone");
    cl.opts.timeout_pct = 300;
    is_int((int)sched_timeout_ms(&cl), 5000, "N%%: no success yet, the seconds");
    cl.median_us = 200001; /* 200 ms (+1: set) */
    is_int((int)sched_timeout_ms(&cl), 600, "300%% of a 200 ms median: 600 ms (the smaller)");
    cl.timeout_ms = 0;
    cl.median_us = 3000001;
    is_int((int)sched_timeout_ms(&cl), 9000, "no seconds: 300%% of 3 s");
    cl.median_us = 2;
    is_int((int)sched_timeout_ms(&cl), 1, "never 0 (that would be no timeout)");
    cl.opts.timeout_pct = 0xffffffffu; /* a hostile OPTIONS frame's, or a slave's bogus duration: no wrap */
    cl.median_us = 0x100000002ull;    /* (2^32 + 2) * (2^32 - 1) wraps to 2^32 - 2: 42949 ms */
    is_int((int)sched_timeout_ms(&cl), 86400000, "a huge N%% of a long median: the cap, not a wrapped product");
    cl.opts.timeout_pct = 300;
    cl.median_us = 61489146912365173ull; /* * 300 wraps to 284 */
    is_int((int)sched_timeout_ms(&cl), 86400000, "a bogus huge median: the cap");
}

/* --deadline (OPTION_DEADLINE): when a queued command is no longer started. */
static void test_deadline(void)
{
    client cl;
    command cmd;
    memset(&cl, 0, sizeof cl);
    memset(&cmd, 0, sizeof cmd);
    cmd.received_ms = 10000;
    ok(sched_start_by(&cl, &cmd) == NO_DEADLINE, "no --deadline: it may wait for ever");
    cl.opts.deadline_ms = 2000;
    ok(sched_start_by(&cl, &cmd) == 12000, "--deadline 2: 2 s after it reached the master");
    cmd.attempts = 1; /* dispatched, queued again (its slave died) */
    ok(sched_start_by(&cl, &cmd) == NO_DEADLINE, "dispatched once already: not affected");
    cmd.attempts = 0;
    cmd.tries = 1; /* --retries: its failed run reset attempts */
    ok(sched_start_by(&cl, &cmd) == 12000, "a --retries run is a new start: the same deadline (passed: not run again)");
}

/* ---------------------------------------------------------- priority --- */

/* --priority: the highest effective priority goes first; fair share and
 * round robin among equals; aging lifts a waiting low one. */
static void test_priority(void)
{
    client cls[3];
    for (int i = 0; i < 3; i++)
        client_make(&cls[i], (uint64_t)i + 1, 0);
    chain(cls, 3);

    /* A at 0, B at 5, C at 5: B and C take the slots, alternating (round robin), A waits. */
    cls[1].opts.priority = 5, cls[2].opts.priority = 5;
    fq[0] = 8, fq[1] = 3, fq[2] = 3, fair_last = 0;
    is_str(fair_gives(cls, 3, 4, 4), "1212", "priority 5 before 0; equals alternate");
    is_str(fair_gives(cls, 3, 8, 4), "1200", "the high ones' queues empty: then the low one");
    ok(cls[1].inflight == 3 && cls[2].inflight == 3 && cls[0].inflight == 2, "3, 3 and 2 running");

    /* Fair share among equals only: B holds 4 of 4 slots at 5; C comes at 5
     * (its share 2), A at 0: B's freed slots go to C, never to A. */
    for (int i = 0; i < 3; i++)
        cls[i].inflight = 0;
    cls[1].inflight = 4;
    fq[0] = 5, fq[1] = 5, fq[2] = 5, fair_last = 2;
    cls[1].inflight--;
    is_int(fair_give(cls, 3, 4), 2, "B holds all, one ends: C (equal priority, below its share), not A");
    cls[1].inflight--;
    is_int(fair_give(cls, 3, 4), 2, "and the next: C again, up to its share");
    cls[1].inflight--;
    is_int(fair_give(cls, 3, 4), 1, "both at their share: B or C, not A");

    /* A negative priority waits for 0. */
    cls[0].opts.priority = -3, cls[1].opts.priority = 0, cls[2].opts.priority = 0;
    fq[0] = 5, fq[1] = 1, fq[2] = 0, fair_last = 0;
    is_str(fair_gives(cls, 3, 100, 2), "10", "-3 after 0");

    /* Aging: +1 per aging_ms of waiting (since its last start). */
    for (int i = 0; i < 3; i++)
        cls[i].inflight = 0, cls[i].opts.priority = 0, cls[i].aging_since_ms = 0;
    cls[0].opts.priority = 0, cls[1].opts.priority = 3;
    cls[0].qhead = cls[1].qhead = &a_command, cls[2].qhead = NULL;
    cls[0].aging_since_ms = 1000, cls[1].aging_since_ms = 35000;
    is_int(sched_effective_priority(&cls[0], 30999, 10000), 2, "waited 29.999 s at 10 s per step: 0 + 2");
    is_int(sched_effective_priority(&cls[0], 31000, 10000), 3, "30 s: 0 + 3");
    is_int(sched_effective_priority(&cls[0], 31000, 0), 0, "aging 0: none");
    is_int(sched_effective_priority(&cls[0], 500, 10000), 0, "a clock before its start: no aging (no wrap)");
    is_int(sched_effective_priority(&cls[0], UINT64_MAX, 1), AGING_STEPS_MAX, "aging is bounded");
    cls[2].opts.priority = 7;
    is_int(sched_effective_priority(&cls[2], 99999, 10000), 7, "nothing queued: no aging");
    is_int(sched_next_client(cls, 0, 36000, 4, 10000)->id, 1, "at 36 s: A 0+3 ties B 3+0: round robin, A first");
    is_int(sched_next_client(cls, 1, 36000, 4, 10000)->id, 2, "a tie, A served last: B");
    is_int(sched_next_client(cls, 0, 30999, 4, 10000)->id, 2, "at 30.999 s: A 0+2 < B 3: B");
    is_int(sched_next_client(cls, 0, 41000, 4, 10000)->id, 1, "at 41 s: A 0+4 > B 3: the low one goes first");
    is_int(sched_next_client(cls, 0, 41000, 4, 0)->id, 2, "no aging: B always");
    /* Aging never lifts a batch past the highest priority competing: among
     * equals fair share decides, not who waited longer. A (0) holds all 4
     * slots and has waited 30 s (+3); B (0) came 10 s ago (+1), nothing
     * running: B takes the slot that frees (below its share), not A. */
    cls[0].opts.priority = cls[1].opts.priority = 0, cls[2].qhead = NULL;
    cls[0].inflight = 4, cls[1].inflight = 0;
    cls[0].aging_since_ms = 0, cls[1].aging_since_ms = 20000;
    is_int(sched_effective_priority(&cls[0], 30000, 10000), 3, "A has aged +3");
    is_int(sched_next_client(cls, 0, 30000, 4, 10000)->id, 2, "equal priorities: the newcomer below its share, not the older A");
    cls[1].opts.priority = 2;
    cls[0].inflight = 0;
    is_int(sched_next_client(cls, 1, 30000, 4, 10000)->id, 2, "A (0, +3) against B (2): capped at 2, a tie: round robin from A gives B");
    is_int(sched_next_client(cls, 2, 30000, 4, 10000)->id, 1, "... and then A: aging brought A up to B, no further");
    for (int i = 0; i < 3; i++)
        bw_free(&cls[i].out);
}

/* The machine's load as a PONG says it (4 CPUs unless cpus given). */
static void load_make(slave_peer *s, uint32_t load_milli, uint16_t cpus, uint16_t running, uint64_t mem)
{
    s->has_load = 1;
    s->load_milli = load_milli;
    s->cpus = cpus;
    s->load_running = running;
    s->mem_avail = mem;
}

/* n picks from a fresh rr, each taking the slot it is given: how many
 * each of the first two slaves got. */
static void fill(slave_peer **arr, int n, int picks, const load_limits *lim, int got[2])
{
    int rr = 0;
    got[0] = got[1] = 0;
    for (int k = 0; k < picks; k++) {
        slave_peer *p = sched_pick_slave(arr, n, &rr, lim, NULL);
        if (!p)
            break;
        p->outstanding++;
        got[index_of(arr, n, p)]++;
    }
}

static void test_load(void)
{
    slave_peer s[2];
    slave_peer *arr[2] = {&s[0], &s[1]};
    int rr = 0, got[2];
    unsigned held;

    /* Scores: outstanding / capacity + other load / CPUs, over weight. */
    slave_make(&s[0], 4, 2);
    is_int((int)sched_score(&s[0]), 500000, "score: 2 of 4 slots, load unknown: 1/2");
    load_make(&s[0], 3000, 4, 1, MACHINE_MEM_UNKNOWN);
    is_int((int)sched_score(&s[0]), 1000000, "score: 2 of 4 slots + load 3 of which 1 ours, on 4 CPUs: 1/2 + 2/4");
    load_make(&s[0], 500, 4, 3, MACHINE_MEM_UNKNOWN);
    is_int((int)sched_score(&s[0]), 500000, "score: a load average below our running commands (it lags): none other");
    load_make(&s[0], MACHINE_LOAD_UNKNOWN, 4, 0, MACHINE_MEM_UNKNOWN);
    is_int((int)sched_score(&s[0]), 500000, "score: a load the slave could not read: none other");
    load_make(&s[0], 3000, 0, 0, MACHINE_MEM_UNKNOWN);
    is_int((int)sched_score(&s[0]), 500000, "score: CPUs unknown: the load is not counted");
    s[0].weight_milli = 2000;
    is_int((int)sched_score(&s[0]), 250000, "score: weight 2 halves it");

    /* A loaded machine gets fewer commands than an idle one. */
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    load_make(&s[0], 3000, 4, 0, MACHINE_MEM_UNKNOWN); /* 3 other processes on 4 CPUs */
    load_make(&s[1], 0, 4, 0, MACHINE_MEM_UNKNOWN);
    fill(arr, 2, 4, NULL, got);
    ok(got[0] == 1 && got[1] == 3, "4 commands: the loaded slave (3 on 4 CPUs) gets 1, the idle 3 (got %d %d)", got[0],
       got[1]);
    fill(arr, 2, 4, NULL, got);
    ok(got[0] == 3 && got[1] == 1, "4 more: the loaded one fills its slots last (got %d %d)", got[0], got[1]);
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    load_make(&s[0], 3000, 4, 0, MACHINE_MEM_UNKNOWN);
    fill(arr, 2, 4, NULL, got);
    ok(got[0] == 1 && got[1] == 3, "an older slave (no load said) counts as idle (got %d %d)", got[0], got[1]);

    /* Weights: weight 2 is filled to twice the ratio of weight 1. */
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    s[1].weight_milli = 2000;
    fill(arr, 2, 6, NULL, got);
    ok(got[0] == 2 && got[1] == 4, "6 commands on 4+4 slots, weight 1 and 2: 2 and 4 (got %d %d)", got[0], got[1]);
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    fill(arr, 2, 6, NULL, got);
    ok(got[0] == 3 && got[1] == 3, "... equal weights: 3 and 3 (got %d %d)", got[0], got[1]);
    slave_make(&s[0], 8, 0);
    slave_make(&s[1], 8, 0);
    s[0].weight_milli = 500;
    fill(arr, 2, 6, NULL, got);
    ok(got[0] == 2 && got[1] == 4, "weight 0.5 beside 1: half the share (got %d %d)", got[0], got[1]);

    /* --max-load: held back entirely at or above it; per CPU with N%. */
    load_limits lim = {.max_load_milli = 2000};
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    load_make(&s[0], 2000, 4, 0, MACHINE_MEM_UNKNOWN);
    load_make(&s[1], 1990, 4, 0, MACHINE_MEM_UNKNOWN);
    ok(sched_held(&s[0], &lim) == HELD_LOAD && sched_held(&s[1], &lim) == HELD_NO,
       "--max-load 2: a load of 2.00 is held (GNU: start only below it), 1.99 is not");
    fill(arr, 2, 8, &lim, got);
    ok(got[0] == 0 && got[1] == 4, "--max-load: the held slave gets none, the other fills its slots (got %d %d)",
       got[0], got[1]);
    rr = 0;
    ok(sched_pick_slave(arr, 2, &rr, &lim, &held) == NULL && held == 1,
       "the other full: no slave, and one held back is said (held %u)", held);
    s[1].load_milli = 2500;
    s[1].outstanding = 0;
    ok(sched_pick_slave(arr, 2, &rr, &lim, &held) == NULL && held == 2, "both above: none, both held (%u)", held);
    s[0].load_milli = MACHINE_LOAD_UNKNOWN;
    ok(sched_pick_slave(arr, 2, &rr, &lim, &held) == &s[0], "an unknown load is not held");
    s[0].has_load = 0;
    ok(sched_held(&s[0], &lim) == HELD_NO, "an older slave (no load said) is not held");
    lim = (load_limits){.max_load_milli = 500, .max_load_per_cpu = 1}; /* 50% */
    load_make(&s[0], 1900, 4, 0, MACHINE_MEM_UNKNOWN);
    load_make(&s[1], 2000, 4, 0, MACHINE_MEM_UNKNOWN);
    ok(sched_held(&s[0], &lim) == HELD_NO && sched_held(&s[1], &lim) == HELD_LOAD,
       "--max-load 50%% on 4 CPUs: held from 2.00");
    s[1].cpus = 0;
    ok(sched_held(&s[1], &lim) == HELD_NO, "--max-load N%%, CPUs unknown: not held");

    /* --memfree: held below it. */
    lim = (load_limits){.memfree = 1u << 30};
    load_make(&s[0], 0, 4, 0, (1u << 30) - 1);
    load_make(&s[1], 0, 4, 0, 1u << 30);
    ok(sched_held(&s[0], &lim) == HELD_MEMFREE && sched_held(&s[1], &lim) == HELD_NO,
       "--memfree 1G: 1 byte less is held, 1G is not");
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    load_make(&s[0], 0, 4, 0, 1u << 20);
    load_make(&s[1], 0, 4, 0, MACHINE_MEM_UNKNOWN);
    fill(arr, 2, 8, &lim, got);
    ok(got[0] == 0 && got[1] == 4, "--memfree: the held slave gets none; memory unknown is not held (got %d %d)",
       got[0], got[1]);
    lim.max_load_milli = 1000;
    load_make(&s[0], 5000, 4, 0, 1u << 20);
    ok(sched_held(&s[0], &lim) == HELD_LOAD, "both limits crossed: load is said first");

    /* --retries' other slave is not a held one. */
    command cmd;
    memset(&cmd, 0, sizeof cmd);
    slave_make(&s[0], 4, 0);
    slave_make(&s[1], 4, 0);
    snprintf(s[0].name, sizeof s[0].name, "a:1");
    snprintf(s[1].name, sizeof s[1].name, "b:1");
    cmd.tries = 1;
    cmd.failed_on[0] = slave_uid("a:1", 3);
    lim = (load_limits){.max_load_milli = 1000};
    load_make(&s[1], 3000, 4, 0, MACHINE_MEM_UNKNOWN);
    ok(sched_prefer_untried(arr, 2, &cmd, &s[0], &lim) == &s[0], "--retries: the untried slave is held: the pick");
    ok(sched_prefer_untried(arr, 2, &cmd, &s[0], NULL) == &s[1], "... and without --max-load, the untried one");
}

int main(void)
{
    test_next_client();
    test_priority();
    test_fair_share();
    test_pick_slave();
    test_load();
    test_retries();
    test_deadline();
    return done_testing();
}
