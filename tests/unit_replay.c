/* Unit tests: the master's replay of its journal (master/journal.c) on
 * journals written record by record: what is queued again, what is
 * re-claimed from which slave under which job id, the next job ids, what
 * cancelled and forgotten batches leave, and what damage (a torn tail, a
 * flipped byte, another version) costs. No socket is opened: the master
 * here is its structs, its slaves.conf and its state dir. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "journal.h"
#include "master/internal.h"
#include "tap.h"

/* master/ less master.c's loop (sched.c comes with TEST_LINK) */
#include "../master/clients.c"
#include "../master/flights.c"
#include "../master/journal.c"
#include "../master/slaves.c"
#include "../master/state.c"
#include "../master/status.c"

#ifndef LOST_LINE /* (built against a journal.c from before holes were filled: the tests say what fails) */
#define LOST_LINE "(lost: its record was damaged in the journal)"
#define LOST_WHY ""
#endif

static char dir[256];
static master_config cfg;
static auth_keys no_key;

enum { A = 0xA, B = 0xB, C = 0xC };

static void put(bwriter *w, const jrecord *r)
{
    journal_encode(w, r);
}

static void command_rec(bwriter *w, uint64_t batch, uint32_t index, const char *line)
{
    jrecord r = {.type = JR_COMMAND};
    r.u.command = (jr_command){batch, index, index + 1, (uint32_t)strlen(line), line};
    put(w, &r);
}

static void dispatch_rec(bwriter *w, uint64_t batch, uint32_t index, uint64_t job, const char *slave)
{
    jrecord r = {.type = JR_DISPATCH};
    r.u.dispatch = (jr_dispatch){batch, index, job, 77, (uint16_t)strlen(slave), slave};
    put(w, &r);
}

static void result_rec_at(bwriter *w, uint64_t batch, uint32_t index, const char *out, uint64_t start_ms)
{
    CommandResult res;
    memset(&res, 0, sizeof res);
    res.start_ms = start_ms;
    res.duration_us = start_ms ? 1500000 : 0;
    res.stdout_data = (char *)out;
    res.stdout_len = (uint32_t)strlen(out);
    bwriter body;
    bw_init(&body, 1 << 20);
    result_encode(&body, &res);
    jrecord r = {.type = JR_RESULT};
    r.u.result = (jr_result){batch, index, index + 1, 11, "127.0.0.1:1", (uint32_t)body.len, body.data};
    put(w, &r);
    bw_free(&body);
}

static void result_rec(bwriter *w, uint64_t batch, uint32_t index, const char *out)
{
    result_rec_at(w, batch, index, out, 0);
}

static void batch_rec(bwriter *w, uint64_t batch)
{
    jrecord r = {.type = JR_BATCH};
    r.u.batch = (jr_batch){batch, 1700000000000ull, 0, 0, 9, "127.0.0.1"};
    put(w, &r);
}

static void header_rec(bwriter *w)
{
    jrecord h = {.type = JR_HEADER};
    h.u.header = (jr_header){JOURNAL_MAGIC, JOURNAL_VERSION, 0x1234, 1700000000000ull};
    put(w, &h);
}

static void end_rec(bwriter *w, uint64_t batch, uint32_t count)
{
    jrecord e = {.type = JR_END};
    e.u.end = (jr_end){batch, count};
    put(w, &e);
}

static void mark_rec(bwriter *w, uint8_t type, uint64_t batch, uint32_t count, uint64_t at_ms)
{
    jrecord r = {.type = type};
    if (type == JR_DELIVERED)
        r.u.delivered = (jr_delivered){batch, count, at_ms};
    else if (type == JR_CANCEL)
        r.u.cancel = (jr_cancel){batch, at_ms};
    else
        r.u.detach = (jr_detach){batch, at_ms};
    put(w, &r);
}

/* The journal of the tests: batch A (5 commands: 0 and 1 dispatched, 1
 * has its result, 2 went to a slave no longer listed, 0 was dispatched
 * again), batch B (cancelled), batch C (forgotten). Returns the offset of
 * A's first DISPATCH, for the damage tests. */
static size_t write_journal(bwriter *w, uint16_t version)
{
    jrecord h = {.type = JR_HEADER};
    h.u.header = (jr_header){JOURNAL_MAGIC, version, 0x1234, 1700000000000ull};
    put(w, &h);
    batch_rec(w, A);
    for (uint32_t i = 0; i < 5; i++)
        command_rec(w, A, i, i == 0 ? "echo zero" : "echo other");
    jrecord e = {.type = JR_END};
    e.u.end = (jr_end){A, 5};
    put(w, &e);
    size_t first_dispatch = w->len;
    dispatch_rec(w, A, 0, 7, "127.0.0.1:1");
    dispatch_rec(w, A, 1, 3, "127.0.0.1:2");
    result_rec(w, A, 1, "one\n");
    dispatch_rec(w, A, 2, 40, "10.9.9.9:5"); /* not in slaves.conf any more */
    dispatch_rec(w, A, 0, 9, "127.0.0.1:1"); /* 0 again: its first slave died */
    batch_rec(w, B);
    command_rec(w, B, 0, "sleep 100");
    jrecord c = {.type = JR_CANCEL};
    c.u.cancel = (jr_cancel){B, 1700000000000ull};
    put(w, &c);
    batch_rec(w, C);
    command_rec(w, C, 0, "true");
    result_rec(w, C, 0, "");
    jrecord f = {.type = JR_FORGET};
    f.u.forget = (jr_forget){C};
    put(w, &f);
    return first_dispatch;
}

static master *master_on_disk(void);

/* A master on dir, whose journal is these bytes. */
static master *fresh_master(const uint8_t *journal, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "%s/journal", dir);
    FILE *f = fopen(path, "wb");
    fwrite(journal, 1, len, f);
    fclose(f);
    return master_on_disk();
}

/* A master on the journal already in dir (nothing written over it). */
static master *master_on_disk(void)
{
    master *m = calloc(1, sizeof *m);
    m->cfg = &cfg;
    m->auth = &no_key;
    m->ep.auth = &no_key;
    m->udp = m->listener = m->udp_other = SOCK_INVALID;
    m->identity = 0x1234;
    history_init(&m->durations, 8);
    snprintf(m->state_dir, sizeof m->state_dir, "%s", dir);
    if (load_slaves(m) != 2)
        die("slaves.conf");
    return m;
}

static void free_master(master *m)
{
    journal_close(m);
    while (m->clients)
        client_close(m, m->clients);
    for (int i = 0; i < m->nslaves; i++) {
        while (m->slaves[i]->flights)
            flight_free(m->slaves[i]->flights);
        free(m->slaves[i]);
    }
    free(m->slaves);
    free(m->acks_due);
    free(m->id_memos);
    history_free(&m->durations);
    free(m);
}

static client *find(master *m, uint64_t id)
{
    for (client *cl = m->clients; cl; cl = cl->next)
        if (cl->batch_id == id)
            return cl;
    return NULL;
}

static unsigned queue_len(const client *cl)
{
    unsigned n = 0;
    for (command *c = cl->qhead; c; c = c->next)
        n++;
    return n;
}

static int64_t journal_bytes(void)
{
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "%s/journal", dir);
    return stat(path, &st) < 0 ? -1 : st.st_size;
}

static void test_replay(void)
{
    bwriter w;
    bw_init(&w, 1 << 24);
    write_journal(&w, JOURNAL_VERSION);
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "a good journal replays");
    client *a = find(m, A), *b = find(m, B);
    ok(a && a->durable && a->sock == SOCK_INVALID && a->ended && a->submitted == 5, "batch A: 5 commands, ended, no connection");
    ok(a && a->orphaned_ms != 0, "batch A waits for its client (orphaned: --client-grace runs)");
    is_int(a ? a->nresults : 0, 1, "batch A keeps its one result");
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1"), *s2 = slave_by_name(m, "127.0.0.1:2");
    ok(s1 && s1->flights && !s1->flights->next && s1->flights->id == 9 && s1->flights->cmd &&
           s1->flights->cmd->index == 0 && s1->flights->cmd->attempts == 2,
       "command 0 is re-claimed from its last slave under its last job id (9), 2 attempts counted");
    ok(s2 && !s2->flights, "command 1 has its result: nothing re-claimed on its slave");
    is_int(a ? queue_len(a) : 0, 3, "commands 2 (its slave is gone), 3 and 4 are queued again");
    ok(a && a->qhead && a->qhead->index == 2 && a->qhead->attempts == 1,
       "the command whose slave is no longer listed keeps its attempt: a result says it may have run twice");
    is_int(s1 ? (long)s1->next_id : 0, 10, "slave 1's next job id follows the highest it was given (9)");
    is_int(s2 ? (long)s2->next_id : 0, 4, "slave 2's next job id follows its highest (3)");
    ok(b && b->cancelled && !b->qhead && b->finished_ms, "batch B is cancelled: nothing of it runs again");
    ok(!find(m, C), "batch C was forgotten: it is not brought back");
    record_ref ref = a->results[0];
    result_frame rf;
    const uint8_t *body;
    size_t blen;
    uint8_t *buf = journal_load_result(m, ref, &rf, &body, &blen);
    CommandResult res;
    breader br;
    if (buf)
        br_init(&br, body, blen);
    ok(buf && rf.seq == 2 && result_decode(&br, &res) == 0 && res.stdout_len == 4 && !memcmp(res.stdout_data, "one\n", 4),
       "the kept result reads back from the journal byte for byte");
    free(buf);
    command_frame cf;
    buf = journal_load_command(m, a->command_at[0], &cf);
    ok(buf && cf.index == 0 && cf.seq == 1 && cf.len == 9 && !memcmp(cf.line, "echo zero", 9),
       "a command reads back from the journal (for client --attach)");
    free(buf);
    free_master(m);

    /* A torn tail: the last record cut in the middle. */
    size_t cut = w.len - 3;
    m = fresh_master(w.data, cut);
    ok(journal_open(m, dir) == 0, "a torn tail replays");
    ok(find(m, C) != NULL, "the FORGET that was torn off is not applied: batch C is back");
    ok(journal_bytes() < (int64_t)cut && journal_bytes() > 0, "the torn record is cut off the file (%lld of %zu bytes)",
       (long long)journal_bytes(), cut);
    free_master(m);

    /* A flipped byte in A's first DISPATCH: that record is skipped; the
     * commands journaled before the damage and never seen dispatched are
     * not run again (they may have been), and job ids jump past the gap. */
    bw_reset(&w);
    size_t at = write_journal(&w, JOURNAL_VERSION);
    w.data[at + 7] ^= 0x40;
    m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "a journal with a flipped byte replays");
    a = find(m, A);
    s1 = slave_by_name(m, "127.0.0.1:1");
    ok(s1 && s1->flights && s1->flights->id == 9, "command 0 is still re-claimed (its second DISPATCH is intact)");
    is_int(a ? queue_len(a) : 0, 1, "only command 2 (dispatched to a gone slave) is queued again");
    is_int(a ? a->nresults : 0, 3, "commands 3 and 4 get a result saying they were not run again (1 + 2 results)");
    ok(s1 && s1->next_id >= 10 + DAMAGE_ID_GAP, "after damage, job ids jump %u ahead (next %llu)", DAMAGE_ID_GAP,
       (unsigned long long)(s1 ? s1->next_id : 0));
    free_master(m);

    /* A master down for an hour: how long says nothing of what its slaves
     * did with the jobs it re-claims (test_reclaim: they say it); a clock
     * step cannot fool it either. */
    bw_reset(&w);
    write_journal(&w, JOURNAL_VERSION);
    m = fresh_master(w.data, w.len);
    char path[300];
    snprintf(path, sizeof path, "%s/journal", dir);
    struct timeval hour_ago[2];
    gettimeofday(&hour_ago[0], NULL);
    hour_ago[0].tv_sec -= 3600;
    hour_ago[1] = hour_ago[0];
    utimes(path, hour_ago);
    ok(journal_open(m, dir) == 0, "a journal last written an hour ago replays");
    s1 = slave_by_name(m, "127.0.0.1:1");
    ok(s1 && s1->flights && s1->flights->cmd && s1->flights->cmd->attempts == 2 && !s1->flights->cmd->note,
       "its re-claimed command keeps its 2 attempts: the downtime alone flags nothing");
    ok(s1 && s1->flights && s1->flights->boot == 77, "the re-claim knows the slave's life its DISPATCH names");
    free_master(m);

    /* Another version: moved aside, a new journal begins, nothing runs. */
    bw_reset(&w);
    write_journal(&w, JOURNAL_VERSION + 1);
    m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0 && !m->clients, "a journal of another version: nothing of it is replayed");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'journal.unreadable-'", dir);
    ok(system(cmd) == 0, "it is kept aside (journal.unreadable-TIME), not overwritten");
    ok(journal_bytes() > 0 && journal_bytes() < 100, "a new journal holds only its header (%lld bytes)",
       (long long)journal_bytes());
    ok(m->identity != 0x1234 && m->identity, "a new journal comes with a new identity: no slave hands it the old jobs");
    free_master(m);
    bw_free(&w);
}

/* Result number k (in the batch's order) of cl, decoded: 0 if it reads. */
static int result_of(master *m, client *cl, uint32_t k, result_frame *rf, CommandResult *res, uint8_t **buf)
{
    const uint8_t *body;
    size_t blen;
    breader br;
    *buf = k < cl->nresults ? journal_load_result(m, cl->results[k], rf, &body, &blen) : NULL;
    if (!*buf)
        return -1;
    br_init(&br, body, blen);
    return result_decode(&br, res);
}

/* The text of command index x of cl as client --attach gets it. */
static int command_is(master *m, client *cl, uint32_t x, uint32_t seq, const char *line)
{
    command_frame cf;
    uint8_t *buf = x < cl->submitted && cl->command_at[x] ? journal_load_command(m, cl->command_at[x], &cf) : NULL;
    int ok = buf && cf.index == x && cf.seq == seq && cf.len == strlen(line) && !memcmp(cf.line, line, cf.len);
    free(buf);
    return ok;
}

/* The record just appended to w from offset at is damaged (a changed
 * byte in its payload: a bad checksum): the reader skips it. */
static void damage(bwriter *w, size_t at)
{
    w->data[at + 6] ^= 0x5A;
}

/* The damage that resync skips leaves holes: records missing from the
 * middle of a journal. Each kind of record lost, and what replay makes of
 * it: a batch that can still be followed and still ends, nothing run
 * twice, what it made journaled. */
static void test_holes(void)
{
    enum { D = 0xD, E = 0xE, F = 0xF, G = 0x10, H = 0x11, K = 0x12 };
    bwriter w;
    size_t at;
    bw_init(&w, 1 << 24);
    header_rec(&w);
    /* D: 3 commands, all done; the COMMAND record of index 1 lost */
    batch_rec(&w, D);
    command_rec(&w, D, 0, "echo d0");
    at = w.len;
    command_rec(&w, D, 1, "echo d1");
    damage(&w, at);
    command_rec(&w, D, 2, "echo d2");
    end_rec(&w, D, 3);
    for (uint32_t i = 0; i < 3; i++)
        result_rec(&w, D, i, "d\n");
    /* E: 5 commands; index 2 lost with its RESULT (its DISPATCH is there),
     * index 4 (the last) lost with its RESULT: only END says it existed */
    batch_rec(&w, E);
    for (uint32_t i = 0; i < 5; i++) {
        at = w.len;
        command_rec(&w, E, i, "echo e");
        if (i == 2 || i == 4)
            damage(&w, at);
    }
    end_rec(&w, E, 5);
    dispatch_rec(&w, E, 2, 21, "127.0.0.1:1");
    for (uint32_t i = 0; i < 5; i++) {
        at = w.len;
        result_rec(&w, E, i, "e\n");
        if (i == 2 || i == 4)
            damage(&w, at);
    }
    /* F: its BATCH record lost: a command, its dispatch, its result */
    at = w.len;
    batch_rec(&w, F);
    damage(&w, at);
    command_rec(&w, F, 0, "echo f");
    dispatch_rec(&w, F, 0, 50, "127.0.0.1:1");
    command_rec(&w, F, 1, "echo never");
    /* G: no END (its client left before it), a hole below index 2 */
    batch_rec(&w, G);
    command_rec(&w, G, 0, "echo g");
    at = w.len;
    command_rec(&w, G, 1, "echo g");
    damage(&w, at);
    command_rec(&w, G, 2, "echo g");
    result_rec(&w, G, 0, "g\n");
    result_rec(&w, G, 2, "g\n");
    /* H: its END lost, its DETACH there: it had ended */
    batch_rec(&w, H);
    command_rec(&w, H, 0, "echo h");
    at = w.len;
    end_rec(&w, H, 1);
    damage(&w, at);
    result_rec(&w, H, 0, "h\n");
    mark_rec(&w, JR_DETACH, H, 0, 1700000000000ull);
    /* K: finished, detached, nobody ever attached: expires like the others */
    batch_rec(&w, K);
    command_rec(&w, K, 0, "echo k");
    end_rec(&w, K, 1);
    mark_rec(&w, JR_DETACH, K, 0, 1700000000000ull);
    result_rec(&w, K, 0, "k\n");

    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "holes: a journal with records missing replays");
    client *d = find(m, D), *e = find(m, E), *g = find(m, G), *h = find(m, H), *k = find(m, K);
    ok(d && d->submitted == 3 && d->nresults == 3 && !d->qhead, "lost COMMAND, RESULT kept: 3 commands, 3 results, "
       "nothing queued");
    ok(d && command_is(m, d, 1, 2, LOST_LINE), "lost COMMAND: --attach gets a placeholder (seq 2, '%s')", LOST_LINE);
    ok(d && command_is(m, d, 0, 1, "echo d0") && command_is(m, d, 2, 3, "echo d2"), "... and the others' texts");
    ok(e && e->submitted == 5 && e->nresults == 5 && !e->qhead && e->ended,
       "lost COMMAND and RESULT: 5 commands, 5 results (2 made by the replay), nothing queued");
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1");
    int e_flight = 0;
    for (flight *f = s1 ? s1->flights : NULL; f; f = f->next)
        e_flight |= f->cmd && f->cmd->cl == e;
    ok(!e_flight, "the lost command dispatched before the crash is not re-claimed nor run again");
    ok(e && command_is(m, e, 2, 3, LOST_LINE) && command_is(m, e, 4, 5, LOST_LINE),
       "placeholders for index 2 (seq 3) and the last one, 4 (seq 5, known from END only)");
    result_frame rf;
    CommandResult res;
    uint8_t *buf = NULL;
    int good = e && result_of(m, e, 3, &rf, &res, &buf) == 0 && rf.seq == 3 && res.status == RUN_NOT_STARTED &&
               res.message_len == strlen(LOST_WHY) && !memcmp(res.message, LOST_WHY, res.message_len);
    free(buf);
    good &= e && result_of(m, e, 4, &rf, &res, &buf) == 0 && rf.seq == 5 && res.status == RUN_NOT_STARTED;
    free(buf);
    ok(good, "their results: not started, '%s'", LOST_WHY);
    ok(!find(m, F), "lost BATCH: its records are dropped, nothing of it queued");
    ok(s1 && s1->next_id >= 51 + DAMAGE_ID_GAP, "... but the job id of its DISPATCH stays taken (next %llu: 50 + 1 + "
       "the jump after damage)",
       (unsigned long long)(s1 ? s1->next_id : 0));
    ok(g && !g->ended && g->submitted == 3 && g->nresults == 3 && g->orphaned_ms && command_is(m, g, 1, 2, LOST_LINE),
       "no END, a hole below the highest index: placeholder and result, the batch waits for its client");
    ok(h && h->ended && h->detached && h->submitted == 1 && h->nresults == 1,
       "lost END, DETACH there: the batch has ended (it can be followed)");
    int64_t size = journal_bytes();
    free_master(m);

    m = master_on_disk();
    ok(journal_open(m, dir) == 0, "holes: replayed again");
    e = find(m, E);
    ok(journal_bytes() == size, "what the first replay made was journaled: the second writes nothing (%lld bytes)",
       (long long)journal_bytes());
    ok(e && e->nresults == 5 && !e->qhead && command_is(m, e, 4, 5, LOST_LINE), "batch E is the same");
    good = e && result_of(m, e, 4, &rf, &res, &buf) == 0 && rf.seq == 5 && res.status == RUN_NOT_STARTED;
    free(buf);
    ok(good, "its made results read back from the journal");
    d = find(m, D);
    ok(d && d->nresults == 3 && !d->qhead, "batch D: the placeholder after its RESULT does not queue it again");

    /* The batch without END ends when its client does not come back; the
     * detached one that finished is forgotten after --keep-results. */
    uint64_t now = clock_ms();
    clients_tick(m, now);
    g = find(m, G);
    k = find(m, K);
    ok(g && !g->cancelled && k && k->finished_ms, "within the grace: G waits, K's retention runs");
    clients_tick(m, now + cfg.client_grace_ms + 1);
    g = find(m, G);
    ok(g && g->cancelled && g->finished_ms, "after --client-grace, the batch without END is cancelled");
    clients_tick(m, now + cfg.client_grace_ms + cfg.keep_results_ms + 2);
    ok(!find(m, K), "the finished detached batch nobody attached to is forgotten after --keep-results");
    ok(!find(m, G), "... and so is the cancelled one");
    free_master(m);
    bw_free(&w);
}

/* A RESULT lost to damage moves the results after it: a client that held
 * them resumes from the last one before the damage (it skips those it
 * has), and may hold more than the master has for now. */
/* A journal's start: batch R of 4 commands "echo r", ended, each
 * dispatched to 127.0.0.1:1 as job first_job + its index. */
static void four_dispatched(bwriter *w, uint64_t R, uint64_t first_job)
{
    header_rec(w);
    batch_rec(w, R);
    for (uint32_t i = 0; i < 4; i++)
        command_rec(w, R, i, "echo r");
    end_rec(w, R, 4);
    for (uint32_t i = 0; i < 4; i++)
        dispatch_rec(w, R, i, first_job + i, "127.0.0.1:1");
}

static void test_moved_results(void)
{
    enum { R = 0x20 };
    bwriter w;
    bw_init(&w, 1 << 24);
    four_dispatched(&w, R, 60);
    for (uint32_t i = 0; i < 4; i++) {
        size_t at = w.len;
        result_rec(&w, R, i, "r\n");
        if (i == 1)
            damage(&w, at);
    }
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "moved results: the journal replays");
    client *r = find(m, R);
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1");
    ok(r && r->nresults == 3 && s1 && s1->flights && s1->flights->id == 61 && !s1->flights->next,
       "3 results kept, command 1 (its RESULT lost) re-claimed as job 61");
    /* its client, which held all 4, comes back */
    client *shell = client_restore(m, 0, 0, 0, 0, "shell");
    shell->durable = 0;
    bwriter af;
    bw_init(&af, 64);
    bw_u8(&af, ATTACH_RESUME);
    bw_u64(&af, R);
    bw_u32(&af, 4);
    breader br;
    br_init(&br, af.data, af.len);
    client *t = r ? on_attach(m, shell, &br) : NULL;
    ok(t == r && r->state == CS_ACTIVE, "ATTACH_RESUME with have 4 of the 3 results the master has now: taken");
    is_int(r ? (long)r->sent : -1, 1, "results are sent again from the last one before the damage (1)");
    bw_free(&af);
    client_close(m, shell);
    free_master(m);
    bw_free(&w);
}

/* A crash after results went to the client before their flush: one the
 * client holds (index 1) was lost and came back after another it lacks
 * (index 2). Resuming by count (have 2) would send from position 2 and
 * lose index 2; with ATTACH's held the master sends every result the
 * client lacks, in its journal's order (crash.t found it, loaded). */
static void test_reordered_after_crash(void)
{
    enum { R = 0x21 };
    bwriter w;
    bw_init(&w, 1 << 24);
    four_dispatched(&w, R, 70);
    static const uint32_t order[] = {0, 2, 1, 3};
    for (int k = 0; k < 4; k++)
        result_rec(&w, R, order[k], "r\n");
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "reordered: the journal replays");
    client *r = find(m, R);
    client *shell = client_restore(m, 0, 0, 0, 0, "shell");
    shell->durable = 0;
    shell->sock = 0; /* "connected": the feed writes into its output */
    bwriter af;
    bw_init(&af, 64);
    bw_u8(&af, ATTACH_RESUME);
    bw_u64(&af, R);
    bw_u32(&af, 2);
    bw_u32(&af, 2);   /* held: 2 bits */
    bw_u8(&af, 0x03); /* indices 0 and 1 */
    breader br;
    br_init(&br, af.data, af.len);
    client *t = r ? on_attach(m, shell, &br) : NULL;
    ok(t == r && r && r->holds && r->holds_bits == 2, "ATTACH_RESUME with held {0, 1}: taken, kept");
    if (t == r && r)
        client_feed(m, r); /* as client_on_output does, without the socket */
    /* the RESULT frames it was given, by seq (index + 1) */
    char got[64] = "";
    breader out;
    br_init(&out, r ? bw_head(&r->out) : NULL, r ? bw_pending(&r->out) : 0);
    while (r && br_left(&out)) {
        uint8_t type;
        breader fields;
        long used = frame_parse(out.data + out.pos, br_left(&out), FRAME_MAX_FROM_MASTER, &type, &fields);
        if (used <= 0)
            break;
        if (type == F_RESULT) {
            result_frame rf;
            if (result_frame_decode(&fields, &rf) == 0)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%u ", rf.seq);
        }
        out.pos += (size_t)used;
    }
    ok(!strcmp(got, "3 4 "), "sent: the results of indices 2 and 3 (seq 3, 4), not the held ones, none lost (got %s)", got);
    r->sock = SOCK_INVALID; /* not a real socket: nothing to close */
    bw_free(&af);
    free_master(m);
    bw_free(&w);
}

/* A finished detached batch nobody attached to: its retention runs from
 * when its last command ended (its result says when), restarts or not. */
static void test_detached_retention(void)
{
    enum { L = 0x30, N = 0x31 };
    bwriter w;
    bw_init(&w, 1 << 24);
    header_rec(&w);
    uint64_t wall = wall_ms();
    batch_rec(&w, L); /* ended 100 s ago */
    command_rec(&w, L, 0, "echo l");
    end_rec(&w, L, 1);
    mark_rec(&w, JR_DETACH, L, 0, wall - 110000);
    result_rec_at(&w, L, 0, "l\n", wall - 101500);
    batch_rec(&w, N); /* ended 2 s ago */
    command_rec(&w, N, 0, "echo n");
    end_rec(&w, N, 1);
    mark_rec(&w, JR_DETACH, N, 0, wall - 5000);
    result_rec_at(&w, N, 0, "n\n", wall - 3500);
    uint32_t keep = cfg.keep_results_ms;
    cfg.keep_results_ms = 50000;
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "detached retention: the journal replays");
    clients_tick(m, clock_ms());
    ok(!find(m, L), "a detached batch that finished 100 s before the restart is forgotten (--keep-results 50 s)");
    ok(find(m, N) && find(m, N)->finished_ms, "one that finished 2 s before is kept, its retention running");
    free_master(m);
    cfg.keep_results_ms = keep;
    bw_free(&w);
}

/* Compaction keeps what replay needs and nothing of forgotten batches:
 * the journal rewritten, then replayed by a new master, gives the same
 * batches, queues, re-claims, results and next job ids. */
/* The next job id the memo of removed slaves keeps for host:port (0: none). */
static uint64_t memo_next(master *m, const char *host, int port)
{
    net_addr a;
    char err[256];
    if (net_resolve(host, port, 1, &a, err, sizeof err) < 0)
        return 0;
    for (int k = 0; k < m->nid_memos; k++)
        if (net_addr_equal(&m->id_memos[k].addr, &a))
            return m->id_memos[k].next_id;
    return 0;
}

static void test_compaction(void)
{
    bwriter w;
    bw_init(&w, 1 << 24);
    write_journal(&w, JOURNAL_VERSION);
    /* D delivered 2000 s ago, E cancelled 1000 s ago: their retention runs from then */
    enum { D = 0xD, E = 0xE };
    uint64_t wall = wall_ms();
    batch_rec(&w, D);
    command_rec(&w, D, 0, "true");
    end_rec(&w, D, 1);
    result_rec(&w, D, 0, "");
    mark_rec(&w, JR_DELIVERED, D, 1, wall - 2000000);
    batch_rec(&w, E);
    command_rec(&w, E, 0, "sleep 9");
    mark_rec(&w, JR_CANCEL, E, 0, wall - 1000000);
    /* A's OPTIONS (-j 2, --wd, --env), and a key no master knows yet on D's: kept as they came */
    static const uint8_t opts[] = {OPTION_JOBS, 0, 4, 0, 0, 0, 2, OPTION_WD, 0, 2, '/', 'w',
                                   OPTION_ENV, 0, 5, 'K', '=', 'v', ' ', 'v', OPTION_PRIORITY, 0, 1, 0xFB,
                                   OPTION_ORDER, 0, 1, ORDER_LPT};
    /* learned durations: two of one key (the last counts), one of another */
    jrecord drec = {.type = JR_DURATION};
    drec.u.duration = (jr_duration){0xD1, 500, 1};
    put(&w, &drec);
    drec.u.duration = (jr_duration){0xD2, 7000, 2};
    put(&w, &drec);
    drec.u.duration = (jr_duration){0xD1, 900, 4};
    put(&w, &drec);
    jrecord orec = {.type = JR_OPTIONS};
    orec.u.options = (jr_options){A, sizeof opts, opts};
    put(&w, &orec);
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "compaction: the journal replays");
    client *oa = find(m, A);
    ok(oa && oa->opts.jobs == 2 && oa->opts.wd.len == 2 && !memcmp(oa->opts.wd.p, "/w", 2) && oa->opts.nenv == 1 &&
           oa->opts_len == sizeof opts, "replay: A's OPTIONS re-applied (-j 2, --wd /w, --env K)");
    ok(oa && oa->opts.priority == -5 && oa->opts.order == ORDER_LPT, "replay: its --priority -5 and --order lpt too");
    ok(history_get(&m->durations, 0xD1) == 900 && history_find(&m->durations, 0xD1)->runs == 4 &&
           history_get(&m->durations, 0xD2) == 7000 && m->durations.n == 2,
       "replay: the DURATION records make the table (the last of a key counts)");
    uint64_t up = clock_ms() - 1; /* finished_at cannot go before the boot */
    uint64_t d_age = 2000000 < up ? 2000000 : up, e_age = 1000000 < up ? 1000000 : up;
    client *d = find(m, D), *e = find(m, E);
    ok(d && d->delivered && elapsed(clock_ms(), d->finished_ms) + 100 >= d_age && e && e->cancelled &&
           elapsed(clock_ms(), e->finished_ms) + 100 >= e_age,
       "D delivered 2000 s ago, E cancelled 1000 s ago (their retention counts from then)");
    is_int((long)memo_next(m, "10.9.9.9", 5), 41,
           "a slave the journal names and slaves.conf no longer lists: its next job id kept for a SIGHUP that lists it again");
    uint64_t before = m->journal->size;
    ok(m->journal->dead > 0, "the forgotten batch C's records count as dead (%llu bytes)",
       (unsigned long long)m->journal->dead);
    journal_compact(m);
    ok(m->journal->compactions == 1 && m->journal->size < before && (int64_t)m->journal->size == journal_bytes(),
       "compacted: %llu -> %llu bytes", (unsigned long long)before, (unsigned long long)m->journal->size);
    client *a = find(m, A);
    result_frame rf;
    const uint8_t *body;
    size_t blen;
    uint8_t *buf = journal_load_result(m, a->results[0], &rf, &body, &blen);
    ok(buf && rf.seq == 2, "the live master reads its result back at its new offset");
    free(buf);
    command_frame cf;
    buf = journal_load_command(m, a->command_at[4], &cf);
    ok(buf && cf.index == 4, "... and its commands");
    free(buf);
    /* a record appended after the compaction lands after it */
    client_send_failure(a, 3, 4, RUN_NO_SLAVE, "", "test");
    ok(journal_flush(m) == 0, "the compacted journal takes new records");
    free_master(m);

    m = master_on_disk();
    ok(journal_open(m, dir) == 0, "the compacted journal replays");
    a = find(m, A);
    client *b = find(m, B);
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1"), *s2 = slave_by_name(m, "127.0.0.1:2");
    ok(a && a->submitted == 5 && a->ended && a->nresults == 2, "batch A: 5 commands, ended, its result and the new one");
    ok(s1 && s1->flights && s1->flights->id == 9 && s1->flights->cmd->attempts == 2,
       "command 0 is still re-claimed under job 9, its 2 attempts kept");
    is_int(a ? queue_len(a) : 0, 2, "commands 2 and 4 are queued (3 got its result after the compaction)");
    ok(a && a->qhead && a->qhead->index == 2 && a->qhead->attempts == 1 && !s1->flights->next && !s2->flights,
       "the queued command 2 keeps its earlier attempt (its result will say it may have run twice), "
       "and is re-claimed from no slave");
    d = find(m, D), e = find(m, E);
    ok(d && d->delivered && elapsed(clock_ms(), d->finished_ms) + 100 >= d_age,
       "D's delivery time survives the compaction (%llu s ago)",
       (unsigned long long)(d ? elapsed(clock_ms(), d->finished_ms) / 1000 : 0));
    ok(e && e->cancelled && elapsed(clock_ms(), e->finished_ms) + 100 >= e_age,
       "E's cancel time too (%llu s ago)", (unsigned long long)(e ? elapsed(clock_ms(), e->finished_ms) / 1000 : 0));
    is_int(s1 ? (long)s1->next_id : 0, 10, "slave 1's next job id survives the compaction (SLAVE record)");
    is_int(s2 ? (long)s2->next_id : 0, 4, "slave 2's too: its DISPATCH records are gone");
    is_int((long)memo_next(m, "10.9.9.9", 5), 41, "and the unlisted slave's (a SLAVE record from the memo)");
    ok(b && b->cancelled, "batch B is still cancelled");
    ok(!find(m, C), "batch C is gone for good");
    ok(a && a->opts.jobs == 2 && a->opts.wd.len == 2 && a->opts.nenv == 1 && a->opts.env[0].len == 5 &&
           !memcmp(a->opts.env[0].p, "K=v v", 5), "A's OPTIONS survive the compaction");
    ok(a && a->opts.priority == -5 && a->opts.order == ORDER_LPT, "its --priority and --order too");
    ok(history_get(&m->durations, 0xD1) == 900 && history_get(&m->durations, 0xD2) == 7000 && m->durations.n == 2 &&
           m->durations.e[history_first(&m->durations)].key == 0xD2,
       "the learned durations survive the compaction, in their recency order (D2 the oldest)");
    ok(s1 && s1->flights && a && s1->flights->req.len == 8 + 9 + 3 + 2 + 3 + 5 + 3 + 4 + strlen(a->name),
       "the re-claimed request carries --wd and --env, and JOBX_ORIGIN (%u bytes)",
       s1 && s1->flights ? s1->flights->req.len : 0);
    free_master(m);
    bw_free(&w);
}

/* A JOB_ACK or PONG from slave s, as slaves.c's on_datagram hands it. */
static void job_ack(slave_peer *s, uint64_t id, uint8_t state, uint32_t cum)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_JOB_ACK;
    d.job_id = id;
    d.state = state;
    d.cum = cum;
    on_job_ack(s, &d);
}

static void pong(master *m, slave_peer *s, uint64_t boot, uint64_t highest)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_PONG;
    d.sender_boot = boot;
    d.slots_total = 4;
    d.highest_job = highest;
    on_pong(m, s, &d);
}

static flight *flight_of(slave_peer *s, uint64_t id)
{
    for (flight *f = s->flights; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

static command *queued_index(client *cl, uint32_t index)
{
    for (command *c = cl->qhead; c; c = c->next)
        if (c->index == index)
            return c;
    return NULL;
}

/* The result of command index of cl, read back from the journal: its
 * message in msg, whether it is flagged "may have run twice". */
static int result_message_of(master *m, client *cl, uint32_t seq, char *msg, size_t cap, int *twice)
{
    if (journal_flush(m) < 0)
        return 0;
    for (uint32_t k = 0; k < cl->nresults; k++) {
        result_frame rf;
        const uint8_t *body;
        size_t blen;
        uint8_t *buf = journal_load_result(m, cl->results[k], &rf, &body, &blen);
        if (!buf)
            continue;
        CommandResult res;
        breader br;
        br_init(&br, body, blen);
        int found = rf.seq == seq && result_decode(&br, &res) == 0;
        if (found) {
            snprintf(msg, cap, "%.*s", (int)res.message_len, res.message ? res.message : "");
            *twice = res.ran_twice;
        }
        free(buf);
        if (found)
            return 1;
    }
    return 0;
}

/* A master restarted from its journal re-claims 5 jobs (ids 1..5, all
 * sent to slave 1's life 77, none with a result) and hears from the slave
 * what became of each (doc/protocol.md 4.3): the flag "may have run twice"
 * is set exactly when a first run may have happened and it runs again. */
static void test_reclaim(void)
{
    bwriter w;
    bw_init(&w, 1 << 20);
    jrecord h = {.type = JR_HEADER};
    h.u.header = (jr_header){JOURNAL_MAGIC, JOURNAL_VERSION, 0x1234, 1700000000000ull};
    put(&w, &h);
    jrecord br = {.type = JR_BATCH};
    br.u.batch = (jr_batch){A, 1700000000000ull, 0, 3, 9, "127.0.0.1"}; /* 3 attempts allowed */
    put(&w, &br);
    for (uint32_t i = 0; i < 5; i++)
        command_rec(&w, A, i, "echo x");
    jrecord e = {.type = JR_END};
    e.u.end = (jr_end){A, 5};
    put(&w, &e);
    for (uint32_t i = 0; i < 5; i++)
        dispatch_rec(&w, A, i, i + 1, "127.0.0.1:1");
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "reclaim: the journal replays");
    client *a = find(m, A);
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1");
    pong(m, s1, 77, 5); /* the slave's life the jobs went to: nothing lost by its PONG */
    unsigned n = 0;
    for (flight *f = s1->flights; f; f = f->next)
        n += f->restored && f->cmd && f->cmd->attempts == 1;
    is_int(n, 5, "the same life of the slave answers: the 5 re-claims wait for its word, one attempt each");

    job_ack(s1, 1, JS_RUNNING, 1); /* (a) adopted, or (d) never sent and new to it: runs once */
    flight *f1 = flight_of(s1, 1);
    ok(f1 && f1->state == FL_RUNNING && f1->cmd->attempts == 1 && !f1->cmd->note,
       "(a/d) RUNNING: it runs (or ran) once there: nothing flagged");

    job_ack(s1, 2, JS_GONE, GONE_UNSAID); /* (b) it ran and its result was acknowledged */
    char msg[RESULT_MESSAGE_MAX + 1];
    int twice = -1;
    ok(!flight_of(s1, 2) && !queued_index(a, 1) && result_message_of(m, a, 2, msg, sizeof msg, &twice) &&
           strstr(msg, "not run again") && !twice,
       "(b) GONE: not run again, its result says so (%s)", msg);

    job_ack(s1, 3, JS_GONE, GONE_KILLED); /* (c) killed when the grace ended */
    command *c3 = queued_index(a, 2);
    ok(!flight_of(s1, 3) && c3 && c3->attempts == 1 && c3->note &&
           strstr(c3->note, "killed on slave 127.0.0.1:1") && strstr(c3->note, "--master-grace"),
       "(c) GONE killed: queued to run again, with its reason (%s)", c3 && c3->note ? c3->note : "none");
    unsigned results = a->nresults, queued = queue_len(a);
    job_ack(s1, 3, JS_GONE, GONE_KILLED); /* a duplicate, or one reordered after it */
    job_ack(s1, 3, JS_GONE, GONE_UNSAID);
    ok(a->nresults == results && queue_len(a) == queued, "a duplicate or late answer for it changes nothing");

    job_ack(s1, 4, JS_GONE, GONE_NOT_STARTED); /* dropped before it started: never ran */
    command *c4 = queued_index(a, 3);
    ok(c4 && c4->attempts == 0 && !c4->note, "GONE not started: queued again, the attempt uncounted: it will run once");

    job_ack(s1, 5, JS_GONE, GONE_RESULT_DROPPED); /* it ran to its end, its result dropped */
    command *c5 = queued_index(a, 4);
    ok(c5 && c5->attempts == 1 && c5->note && strstr(c5->note, "ran twice"),
       "GONE result dropped: queued to run again, its result will say it ran twice");

    /* c3 runs again (a new job id) and its result comes: flagged, with the reason. */
    queue_remove(a, c3);
    flight_start(m, s1, c3);
    flight *again = c3->fl;
    ok(again && again->id == 6, "the command runs again under a new job id (6)");
    CommandResult res;
    memset(&res, 0, sizeof res);
    res.stdout_data = "x\n";
    res.stdout_len = 2;
    bwriter body;
    bw_init(&body, 1 << 20);
    result_encode(&body, &res);
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = DG_RESULT;
    d.job_id = 6;
    d.total = (uint32_t)body.len;
    d.frag_size = 1200;
    d.payload = body.data;
    d.payload_len = (uint32_t)body.len;
    on_result_fragment(m, s1, &d);
    bw_free(&body);
    twice = -1;
    ok(result_message_of(m, a, 3, msg, sizeof msg, &twice) && twice == 1 && strstr(msg, "killed on slave 127.0.0.1:1"),
       "its result is flagged 'may have run twice' and says why (%s)", msg);

    /* c4 runs again: once, no flag. */
    queue_remove(a, c4);
    flight_start(m, s1, c4);
    ok(c4->attempts == 1, "the command dropped before it started runs with 1 attempt: not flagged");
    free_master(m);

    /* (c) The slave restarted while the master was down: its first PONG
     * comes from another life than the DISPATCH records name. */
    m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "reclaim: the journal replays again");
    a = find(m, A);
    s1 = slave_by_name(m, "127.0.0.1:1");
    pong(m, s1, 88, 0);
    n = 0;
    for (command *c = a->qhead; c; c = c->next)
        n += c->attempts == 1 && c->note && strstr(c->note, "restarted while the master was down") != NULL;
    ok(!s1->flights && n == 5, "slave restarted (boot 77 -> 88): the 5 re-claims run again, each with its reason (%u)", n);
    free_master(m);
    bw_free(&w);
}

/* A command queued again in the last life (its slave taken for dead, or
 * it lost the job; that copy cancelled): a DISPATCH of job 0 after its
 * DISPATCH. The replay queues it again, with its one attempt, and
 * re-claims nothing (the slave's GONE for the cancelled job was taken for
 * "its result was lost with the journal's end": not run again). */
static void test_requeued(void)
{
    bwriter w;
    bw_init(&w, 1 << 20);
    jrecord h = {.type = JR_HEADER};
    h.u.header = (jr_header){JOURNAL_MAGIC, JOURNAL_VERSION, 0x1234, 1700000000000ull};
    put(&w, &h);
    jrecord br = {.type = JR_BATCH};
    br.u.batch = (jr_batch){A, 1700000000000ull, 0, 3, 9, "127.0.0.1"};
    put(&w, &br);
    command_rec(&w, A, 0, "echo x");
    command_rec(&w, A, 1, "echo y");
    jrecord e = {.type = JR_END};
    e.u.end = (jr_end){A, 2};
    put(&w, &e);
    dispatch_rec(&w, A, 0, 1, "127.0.0.1:1");
    dispatch_rec(&w, A, 1, 2, "127.0.0.1:1");
    jrecord z = {.type = JR_DISPATCH};
    z.u.dispatch = (jr_dispatch){A, 0, 0, 0, 0, ""}; /* command 0 queued again (journal_requeue) */
    put(&w, &z);
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "requeued: the journal replays");
    client *a = find(m, A);
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1");
    command *c0 = queued_index(a, 0);
    ok(c0 && c0->attempts == 1, "the command queued again is queued, its one attempt counted once");
    ok(!flight_of(s1, 1) && flight_of(s1, 2), "its cancelled job is not re-claimed; the other one is");
    free_master(m);
    bw_free(&w);
}

/* --retries: a run that failed (a DISPATCH of job 0 naming its slave,
 * journal_requeue_failed; compaction's "#" and the hash): counted, the
 * slave remembered, the next run's attempts counted from 0. */
static void test_failed_runs(void)
{
    bwriter w;
    bw_init(&w, 1 << 20);
    jrecord h = {.type = JR_HEADER};
    h.u.header = (jr_header){JOURNAL_MAGIC, JOURNAL_VERSION, 0x1234, 1700000000000ull};
    put(&w, &h);
    jrecord br = {.type = JR_BATCH};
    br.u.batch = (jr_batch){A, 1700000000000ull, 0, 3, 9, "127.0.0.1"};
    put(&w, &br);
    command_rec(&w, A, 0, "false");
    command_rec(&w, A, 1, "false");
    dispatch_rec(&w, A, 0, 1, "127.0.0.1:1");
    jrecord z = {.type = JR_DISPATCH};
    z.u.dispatch = (jr_dispatch){A, 0, 0, 0, 11, "127.0.0.1:1"}; /* its run on :1 failed */
    put(&w, &z);
    dispatch_rec(&w, A, 0, 2, "127.0.0.1:2");
    char hashed[16];
    snprintf(hashed, sizeof hashed, "#%08x", (unsigned)slave_uid("127.0.0.1:2", 11));
    z.u.dispatch = (jr_dispatch){A, 1, 0, 0, 9, hashed}; /* compaction's form */
    put(&w, &z);
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "failed runs: the journal replays");
    client *a = find(m, A);
    slave_peer *s2 = slave_by_name(m, "127.0.0.1:2");
    flight *f = s2 ? flight_of(s2, 2) : NULL;
    ok(f && f->cmd && f->cmd->tries == 1 && f->cmd->attempts == 1 &&
           command_failed_on(f->cmd, slave_uid("127.0.0.1:1", 11)) &&
           !command_failed_on(f->cmd, slave_uid("127.0.0.1:2", 11)),
       "a run failed on :1, the next one re-claimed on :2: 1 failed run, 1 attempt of this run, :1 remembered");
    command *c1 = queued_index(a, 1);
    ok(c1 && c1->tries == 1 && c1->attempts == 0 && command_failed_on(c1, slave_uid("127.0.0.1:2", 11)),
       "compaction's #hash: 1 failed run on :2, queued, no attempt of its next run yet");
    free_master(m);
    bw_free(&w);
}

/* A slave that forgot us (its session evicted, or superseded by another
 * master at our address, while we were down): it ran job 1 for us (its
 * RESULT, from it, is in the journal) but its PONG says it took less:
 * what became of job 2, re-claimed, it cannot say. */
static void test_forgot(void)
{
    bwriter w;
    bw_init(&w, 1 << 20);
    jrecord h = {.type = JR_HEADER};
    h.u.header = (jr_header){JOURNAL_MAGIC, JOURNAL_VERSION, 0x1234, 1700000000000ull};
    put(&w, &h);
    jrecord br = {.type = JR_BATCH};
    br.u.batch = (jr_batch){A, 1700000000000ull, 0, 3, 9, "127.0.0.1"};
    put(&w, &br);
    command_rec(&w, A, 0, "echo x");
    command_rec(&w, A, 1, "echo x");
    dispatch_rec(&w, A, 0, 1, "127.0.0.1:1");
    CommandResult res;
    memset(&res, 0, sizeof res);
    bwriter body;
    bw_init(&body, 1 << 20);
    result_encode(&body, &res);
    jrecord rr = {.type = JR_RESULT};
    rr.u.result = (jr_result){A, 0, 1, 11, "127.0.0.1:1", (uint32_t)body.len, body.data};
    put(&w, &rr);
    bw_free(&body);
    dispatch_rec(&w, A, 1, 2, "127.0.0.1:1");
    for (int forgot = 0; forgot < 2; forgot++) {
        master *m = fresh_master(w.data, w.len);
        ok(journal_open(m, dir) == 0, "forgot: the journal replays");
        client *a = find(m, A);
        slave_peer *s1 = slave_by_name(m, "127.0.0.1:1");
        pong(m, s1, 77, forgot ? 0 : 2);
        if (forgot)
            ok(!s1->flights && a->qhead && a->qhead->index == 1 && a->qhead->note &&
                   strstr(a->qhead->note, "forgot this master"),
               "the slave took less from us (0) than it ran for us (1): job 2 runs again, flagged (%s)",
               a->qhead && a->qhead->note ? a->qhead->note : "none");
        else
            ok(s1->flights && s1->flights->id == 2 && !a->qhead,
               "the slave remembers (it took up to 2): job 2 is still re-claimed from it");
        free_master(m);
    }
    bw_free(&w);
}

/* --deadline across a restart: the QUEUED records say when each command
 * was queued; replay sets received_ms so that its deadline counts from
 * then (doc/journal.md, QUEUED). A command without one (an older journal)
 * counts from the restart, as before. Compaction keeps them. */
static uint64_t queued_age(client *cl, uint32_t index)
{
    command *c = cl ? queued_index(cl, index) : NULL;
    return c && c->received_ms ? elapsed(clock_ms(), c->received_ms) : UINT64_MAX;
}

static void queued_rec(bwriter *w, uint64_t batch, uint32_t index, uint64_t wall, uint64_t boot, uint64_t id)
{
    jrecord r = {.type = JR_QUEUED};
    r.u.queued = (jr_queued){batch, index, wall, boot, id};
    put(w, &r);
}

static void test_queued_times(void)
{
    enum { Q = 0x51 };
    uint64_t here = plat_boot_id(), other = here ^ 0x5a5a, wall = wall_ms(), boot = boot_ms();
    if (!here || boot < 30000) {
        ok(1, "# SKIP no boot id here (or booted less than 30 s ago): QUEUED replay not tested");
        return;
    }
    bwriter w;
    bw_init(&w, 1 << 20);
    header_rec(&w);
    batch_rec(&w, Q);
    static const uint8_t opts[] = {OPTION_DEADLINE, 0, 4, 0, 0, 0x27, 0x10}; /* --deadline 10 */
    jrecord orec = {.type = JR_OPTIONS};
    orec.u.options = (jr_options){Q, sizeof opts, opts};
    put(&w, &orec);
    for (uint32_t i = 0; i < 7; i++)
        command_rec(&w, Q, i, "echo q");
    end_rec(&w, Q, 7);
    mark_rec(&w, JR_DETACH, Q, 0, wall);
    /* in the order they came, the oldest first (deadline_tick counts on it) */
    queued_rec(&w, Q, 0, wall, boot - 20000, here);            /* its deadline passed while the master was down */
    queued_rec(&w, Q, 1, wall - 6000, 5, other);               /* another boot: the wall clock */
    queued_rec(&w, Q, 2, wall + 7200000, boot - 4000, here);   /* this boot; the wall clock stepped 2 h ahead since */
    queued_rec(&w, Q, 3, wall - 3000, boot + 999999, 0);       /* boot unknown: the wall clock */
    queued_rec(&w, Q, 4, wall + 3600000, boot - 1000, other);  /* another boot, a wall clock that went back: 0 */
    /* 5: no QUEUED record (an older master's journal) */
    queued_rec(&w, Q, 99, wall, boot - 20000, here);           /* no such command: ignored */
    dispatch_rec(&w, Q, 6, 5, "127.0.0.1:1");                  /* running: re-claimed, its QUEUED comes next */
    queued_rec(&w, Q, 6, wall, boot - 2000, here);
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "queued: the journal replays");
    client *q = find(m, Q);
    ok(q && q->opts.deadline_ms == 10000 && queue_len(q) == 6, "queued: --deadline 10 s, 6 commands queued");
    uint64_t a0 = queued_age(q, 0), a1 = queued_age(q, 1), a2 = queued_age(q, 2), a3 = queued_age(q, 3),
             a4 = queued_age(q, 4), a5 = queued_age(q, 5);
    ok(a0 >= 20000 && a0 < 20500, "20 s ago (%llu ms): past its deadline", (unsigned long long)a0);
    ok(a1 >= 6000 && a1 < 6500, "another boot: 6 s ago by the wall clock (%llu ms)", (unsigned long long)a1);
    ok(a2 >= 4000 && a2 < 4500, "same boot: queued 4 s ago by the boot clock, the wall clock's step of 2 h ignored (%llu ms)",
       (unsigned long long)a2);
    ok(a3 >= 3000 && a3 < 3500, "boot id unknown: the wall clock (%llu ms)", (unsigned long long)a3);
    ok(a4 < 500, "another boot, the wall clock back: from the restart (%llu ms)", (unsigned long long)a4);
    ok(a5 < 500, "no QUEUED record (an older journal): from the restart, as before (%llu ms)", (unsigned long long)a5);
    slave_peer *s1 = slave_by_name(m, "127.0.0.1:1");
    ok(s1 && s1->flights && s1->flights->cmd && s1->flights->cmd->index == 6 &&
           elapsed(clock_ms(), s1->flights->cmd->received_ms) >= 2000,
       "a re-claimed command keeps its QUEUED time too");
    uint64_t next = deadline_tick(q, clock_ms());
    ok(queue_len(q) == 5 && !queued_index(q, 0), "deadline_tick: the one past its deadline ends at once");
    ok(next != NO_DEADLINE && next > clock_ms() + 3000 && next <= clock_ms() + 6100,
       "the next deadline is command 1's, ~4 s from now (%lld ms)", (long long)(next - clock_ms()));
    /* compaction writes them again, from the times the master holds */
    ok(journal_flush(m) == 0, "queued: flushed");
    journal_compact(m);
    ok(m->journal->compactions == 1, "queued: compacted");
    free_master(m);
    m = master_on_disk();
    ok(journal_open(m, dir) == 0, "queued: the compacted journal replays");
    q = find(m, Q);
    a1 = queued_age(q, 1), a2 = queued_age(q, 2), a5 = queued_age(q, 5);
    ok(a1 >= 6000 && a1 < 7000 && a2 >= 4000 && a2 < 5000 && a5 < 1000 && queue_len(q) == 5 && !queued_index(q, 0),
       "after compaction: the same ages (%llu, %llu, %llu ms), the ended one gone", (unsigned long long)a1,
       (unsigned long long)a2, (unsigned long long)a5);
    s1 = slave_by_name(m, "127.0.0.1:1");
    ok(s1 && s1->flights && s1->flights->cmd && elapsed(clock_ms(), s1->flights->cmd->received_ms) >= 2000,
       "after compaction: the re-claimed one's time too");
    free_master(m);
    bw_free(&w);
}

/* Queued before this master's clock_ms began (another boot, or a long
 * suspend: CLOCK_MONOTONIC starts near 0 at boot): its age is more than
 * received_ms can say on that clock. The deadline still counts from the
 * real time: one past ends at once, not deadline_ms after the boot. */
static void test_queued_before_clock(void)
{
    enum { Q = 0x52 };
    uint64_t other = plat_boot_id() ^ 0x5a5a, wall = wall_ms();
    uint32_t deadline = (uint32_t)(clock_ms() + 1800000); /* longer than this clock has run */
    uint64_t past = deadline + 60000ull; /* queued that long ago: past its deadline */
    bwriter w;
    bw_init(&w, 1 << 20);
    header_rec(&w);
    batch_rec(&w, Q);
    uint8_t opts[] = {OPTION_DEADLINE, 0, 4, (uint8_t)(deadline >> 24), (uint8_t)(deadline >> 16),
                      (uint8_t)(deadline >> 8), (uint8_t)deadline};
    jrecord orec = {.type = JR_OPTIONS};
    orec.u.options = (jr_options){Q, sizeof opts, opts};
    put(&w, &orec);
    command_rec(&w, Q, 0, "echo old");
    command_rec(&w, Q, 1, "echo new");
    end_rec(&w, Q, 2);
    mark_rec(&w, JR_DETACH, Q, 0, wall);
    queued_rec(&w, Q, 0, wall - past, 5, other); /* another boot: by the wall clock */
    queued_rec(&w, Q, 1, wall - 2000, 5, other);
    master *m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0, "queued before the clock: the journal replays");
    client *q = find(m, Q);
    ok(q && q->opts.deadline_ms == deadline && queue_len(q) == 2, "queued before the clock: 2 commands queued");
    deadline_tick(q, clock_ms());
    ok(q && queue_len(q) == 1 && !queued_index(q, 0) && queued_index(q, 1),
       "queued %llu ms ago, more than clock_ms (%llu): past its deadline of %u ms, it ends at once",
       (unsigned long long)past, (unsigned long long)clock_ms(), deadline);
    ok(queued_age(q, 1) >= 2000 && queued_age(q, 1) < 2500, "the other one: 2 s ago (%llu ms)",
       (unsigned long long)queued_age(q, 1));
    free_master(m);
    bw_free(&w);
    /* compaction writes the whole age again: an age over clock_ms survives it */
    bw_init(&w, 1 << 20);
    header_rec(&w);
    batch_rec(&w, Q);
    put(&w, &orec);
    command_rec(&w, Q, 0, "echo old");
    end_rec(&w, Q, 1);
    mark_rec(&w, JR_DETACH, Q, 0, wall);
    queued_rec(&w, Q, 0, wall - (clock_ms() + 5000), 5, other); /* not past: deadline - 5 s - clock_ms left */
    m = fresh_master(w.data, w.len);
    ok(journal_open(m, dir) == 0 && journal_flush(m) == 0, "queued before the clock, not past: replayed");
    journal_compact(m);
    free_master(m);
    m = master_on_disk();
    ok(journal_open(m, dir) == 0, "and its compacted journal replays");
    q = find(m, Q);
    uint64_t now = clock_ms(), by = q && queued_index(q, 0) ? sched_start_by(q, queued_index(q, 0)) : 0;
    ok(by > now && by - now >= deadline - now - 5000 - 1000 && by - now <= deadline - now - 5000 + 500,
       "after compaction its deadline is still ~%llu ms away (%lld ms)", (unsigned long long)(deadline - now - 5000),
       (long long)(by - now));
    free_master(m);
    bw_free(&w);
}

int main(void)
{
    log_init("unit_replay", LOG_ERROR);
    snprintf(dir, sizeof dir, "/tmp/smp-unit-replay.%d", (int)getpid());
    mkdir(dir, 0700);
    char conf[300];
    snprintf(conf, sizeof conf, "%s/slaves.conf", dir);
    FILE *f = fopen(conf, "w");
    fputs("127.0.0.1 1\n127.0.0.1 2\n", f);
    fclose(f);
    cfg = (master_config){"127.0.0.1", 0, NULL, 8, 1000, 2, 60000, 10000, &no_key, 3000, 256, dir, 300000, 3600000, 0, NULL, 0, NULL, NULL, 0, 0, 0, 0, 0, 0};
    cfg.slaves_conf = strdup(conf);
    test_replay();
    test_compaction();
    test_holes();
    test_moved_results();
    test_reordered_after_crash();
    test_detached_retention();
    test_reclaim();
    test_forgot();
    test_requeued();
    test_failed_runs();
    test_queued_times();
    test_queued_before_clock();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return done_testing();
}
