/*
 * journal.c - the master's journal in its state dir (doc/journal.md):
 * every batch, command, dispatch and result of a durable client, appended
 * as records (lib/journal.c), made durable by one write and one fdatasync
 * per turn of the loop (group commit, journal_flush), and replayed when a
 * master starts on the same state dir.
 *
 * The rule that makes a crash harmless: nothing leaves the master about a
 * record before the record is on disk. master.c's loop_turn flushes after
 * dispatch and before write_step, which is where results and F_ACCEPTED
 * go to clients, RESULT_ACK COMPLETE to slaves (on which they forget the
 * result) and the requests of new jobs to slaves. So a crash loses only
 * what nobody was told of: a client sends again what was not accepted, a
 * slave sends again a result it has not seen acknowledged, and a job that
 * never left is dispatched again.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

#define RETRY_MS 200u              /* a failing write is tried again this often */
#define PENDING_LIMIT ((size_t)1 << 31) /* one turn's records (results up to 64 MiB each) */
#define DAMAGE_ID_GAP 4096u        /* job ids skipped after damage: a lost DISPATCH's id is never reused */
/* Compaction: once the journal is this large and at least half of it is
 * forgotten batches, it is written anew with what is live. */
#define COMPACT_MIN_BYTES ((uint64_t)64 << 20)

typedef struct journal {
    int fd;
    char path[1024];
    uint64_t size;      /* bytes written: synced, but for lazy records after the last sync */
    int must_sync;      /* pending has a record that must be on disk before what depends on it */
    int lazy_written;   /* lazy records written since the last fdatasync */
    uint64_t sync_us;   /* time spent in fdatasync, for the close line */
    bwriter pending;    /* records since the last flush */
    int failing;        /* the last flush failed: its records are still pending */
    char why[200];
    uint64_t retry_ms;
    uint64_t fsyncs, flushes_failed;
    uint64_t opened_ms;
    uint64_t dead;      /* bytes of forgotten batches' records (and of records of no batch) */
    unsigned compactions;
} journal;

int journal_failing(const master *m)
{
    return m->journal && m->journal->failing;
}

/* Records wait for their flush: what depends on them must wait too. */
int journal_unsynced(const master *m)
{
    return m->journal && bw_pending(&m->journal->pending) > 0;
}

const char *journal_error(const master *m)
{
    return m->journal ? m->journal->why : "";
}

/* ------------------------------------------------------------ appends --- */

/* Where the next record starts in the file. */
static uint64_t append_at(const journal *j)
{
    return j->size + bw_pending(&j->pending);
}

/* A record of cl's was appended from offset at: cl counts its bytes. */
static void appended(journal *j, client *cl, uint64_t at, const char *what)
{
    if (j->pending.error)
        die("journal: cannot hold the %s record of this turn (out of memory)", what);
    cl->journal_bytes += append_at(j) - at;
    j->must_sync = 1;
}

void journal_batch(master *m, client *cl)
{
    journal *j = m->journal;
    uint64_t at = append_at(j);
    jr_batch r = {cl->batch_id, cl->created_wall_ms, cl->timeout_ms, cl->retries, (uint16_t)strlen(cl->name), cl->name};
    jr_batch_encode(&j->pending, &r);
    appended(j, cl, at, "BATCH");
}

void journal_options(master *m, client *cl)
{
    journal *j = m->journal;
    uint64_t at = append_at(j);
    jr_options r = {cl->batch_id, cl->opts_len, cl->opts_raw};
    jr_options_encode(&j->pending, &r);
    appended(j, cl, at, "OPTIONS");
}

/* A refused command (empty, too long, a NUL byte) is kept with an empty
 * line: its RESULT says why. */
uint64_t journal_command(master *m, client *cl, const command *cmd)
{
    journal *j = m->journal;
    uint64_t at = append_at(j);
    int keep = cmd->len > 0 && cmd->len <= MAX_COMMAND_LEN && !memchr(cmd->line, 0, cmd->len);
    jr_command r = {cl->batch_id, cmd->index, cmd->seq, keep ? cmd->len : 0, cmd->line};
    jr_command_encode(&j->pending, &r);
    appended(j, cl, at, "COMMAND");
    return at;
}

/* When cmd, of a --deadline batch, was queued (its received_ms), on the
 * clocks that outlive the master: a replay counts its deadline from it. */
static void queued_record(bwriter *w, const client *cl, const command *cmd)
{
    uint64_t ago = elapsed(clock_ms(), cmd->received_ms) + cmd->queued_before_ms, wall = wall_ms(), boot = boot_ms();
    /* queued before this boot (a replay's older record): the wall clock's time only, no boot id */
    jr_queued r = {cl->batch_id, cmd->index, elapsed(wall, ago), elapsed(boot, ago), ago <= boot ? plat_boot_id() : 0};
    jr_queued_encode(w, &r);
}

void journal_queued(master *m, client *cl, const command *cmd)
{
    uint64_t at = append_at(m->journal);
    queued_record(&m->journal->pending, cl, cmd);
    appended(m->journal, cl, at, "QUEUED");
}

void journal_end(master *m, client *cl, uint32_t count)
{
    uint64_t at = append_at(m->journal);
    jr_end r = {cl->batch_id, count};
    jr_end_encode(&m->journal->pending, &r);
    appended(m->journal, cl, at, "END");
}

static void dispatch_record(bwriter *w, const flight *f)
{
    jr_dispatch r = {f->cmd->cl->batch_id, f->cmd->index, f->id, f->boot, (uint16_t)strlen(f->slave->name),
                     f->slave->name};
    jr_dispatch_encode(w, &r);
}

void journal_dispatch(master *m, const flight *f)
{
    uint64_t at = append_at(m->journal);
    dispatch_record(&m->journal->pending, f);
    appended(m->journal, f->cmd->cl, at, "DISPATCH");
}

/* cmd's dispatch ended without a result and it is queued again (its slave
 * died or lost it; that copy is cancelled): a DISPATCH of job 0 says so,
 * else a restart would re-claim the cancelled job and take the slave's
 * GONE for a result the journal lost. */
void journal_requeue(master *m, const command *cmd)
{
    uint64_t at = append_at(m->journal);
    jr_dispatch d = {cmd->cl->batch_id, cmd->index, 0, 0, 0, ""};
    jr_dispatch_encode(&m->journal->pending, &d);
    appended(m->journal, cmd->cl, at, "DISPATCH");
}

/* --retries: a run of cmd failed on slave and it is queued again (its
 * result not delivered): a DISPATCH of job 0 naming that slave (an older
 * reader takes it for a plain requeue: one attempt more). Compaction
 * names the slave by its slave_uid, as "#" and 8 hex digits. */
void journal_requeue_failed(master *m, const command *cmd, const char *slave)
{
    uint64_t at = append_at(m->journal);
    jr_dispatch d = {cmd->cl->batch_id, cmd->index, 0, 0, (uint16_t)strlen(slave), slave};
    jr_dispatch_encode(&m->journal->pending, &d);
    appended(m->journal, cmd->cl, at, "DISPATCH");
}

static void failed_records(bwriter *w, const command *cmd)
{
    for (unsigned k = 0; k < cmd->tries; k++) {
        char name[16];
        /* the last FAILED_ON_MAX slaves, in order (slots wrap) */
        unsigned first = cmd->tries > FAILED_ON_MAX ? cmd->tries - FAILED_ON_MAX : 0;
        uint32_t uid = k < first ? 0 : cmd->failed_on[k % FAILED_ON_MAX];
        snprintf(name, sizeof name, "#%08x", (unsigned)uid);
        jr_dispatch d = {cmd->cl->batch_id, cmd->index, 0, 0, 9, name};
        jr_dispatch_encode(w, &d);
    }
}

/* Replay of journal_requeue_failed's record: one failed run more, on that slave. */
static void replay_failed(command *cmd, const char *slave, uint16_t len)
{
    uint32_t uid = slave_uid(slave, len);
    if (len == 9 && slave[0] == '#') {
        char hex[9];
        memcpy(hex, slave + 1, 8);
        hex[8] = 0;
        uid = (uint32_t)strtoul(hex, NULL, 16);
    }
    cmd->failed_on[cmd->tries % FAILED_ON_MAX] = uid;
    cmd->tries++;
    cmd->attempts = 0;
}

record_ref journal_result(master *m, client *cl, uint32_t index, uint32_t seq, const char *host,
                          const uint8_t *body, size_t len)
{
    journal *j = m->journal;
    record_ref ref = {append_at(j), 0, index};
    jr_result r = {cl->batch_id, index, seq, (uint16_t)strlen(host), host, (uint32_t)len, body};
    jr_result_encode(&j->pending, &r);
    appended(j, cl, ref.offset, "RESULT");
    ref.len = (uint32_t)(append_at(j) - ref.offset);
    return ref;
}

void journal_mark(master *m, client *cl, uint8_t type, uint32_t count)
{
    journal *j = m->journal;
    if (!j)
        return;
    uint64_t now = wall_ms(), at = append_at(j);
    int must_sync = j->must_sync;
    switch (type) {
    case JR_DELIVERED: {
        jr_delivered r = {cl->batch_id, count, now};
        jr_delivered_encode(&j->pending, &r);
        break;
    }
    case JR_CANCEL: {
        jr_cancel r = {cl->batch_id, now};
        jr_cancel_encode(&j->pending, &r);
        break;
    }
    case JR_DETACH: {
        jr_detach r = {cl->batch_id, now};
        jr_detach_encode(&j->pending, &r);
        break;
    }
    case JR_FORGET: {
        jr_forget r = {cl->batch_id};
        jr_forget_encode(&j->pending, &r);
        break;
    }
    }
    appended(j, cl, at, jrecord_type_name(type));
    /* Lazy: DELIVERED and FORGET are written with the turn's records but
     * need no fdatasync of their own (the next one covers them). Lost in a
     * crash, a batch is delivered again at most (the client skips what it
     * has), or forgotten again. */
    if (type == JR_DELIVERED || type == JR_FORGET)
        j->must_sync = must_sync;
    if (type == JR_FORGET) /* none of its records is needed any more */
        j->dead += cl->journal_bytes;
}

/* A learned duration (history.c): written with the turn's records but
 * lazy, as DELIVERED is (no fdatasync of its own: lost in a crash, an
 * estimate is only a little older). Of no batch, and superseded by the
 * key's next one: counted dead at once (compaction writes the table). */
void journal_duration(master *m, const history_entry *e)
{
    journal *j = m->journal;
    if (!j || !e)
        return;
    uint64_t at = append_at(j);
    jr_duration r = {e->key, e->avg_us, e->runs};
    jr_duration_encode(&j->pending, &r);
    if (j->pending.error)
        die("journal: cannot hold the DURATION record of this turn (out of memory)");
    j->dead += append_at(j) - at;
}

/* A new entry of the result cache (client --cache): lazy, as DELIVERED is
 * (no fdatasync of its own; lost in a crash, the entry is gone and the
 * command runs the next time). Belongs to no batch: live until the cache
 * drops the entry, dead then (journal_cache_released). */
void journal_cache(master *m, cache_entry *e)
{
    journal *j = m->journal;
    if (!j)
        return;
    uint64_t at = append_at(j);
    jr_cache r = {.stored_ms = e->stored_ms, .host_len = e->host_len, .host = e->host, .body_len = e->body_len,
                  .body = e->body};
    memcpy(r.key, e->key, JR_CACHE_KEY_LEN);
    jr_cache_encode(&j->pending, &r);
    if (j->pending.error) { /* out of memory for this turn: the entry lives in memory only */
        j->pending.error = 0;
        return;
    }
    e->journal_bytes = append_at(j) - at;
}

void journal_cache_released(master *m)
{
    if (m->journal)
        m->journal->dead += m->cache.released_journal;
    m->cache.released_journal = 0;
}

/* ------------------------------------------------------ group commit --- */

static void journal_compact(master *m);

/* One write and one fdatasync for everything of this turn. On failure
 * (a full disk, an I/O error) the file is cut back to its last synced
 * size and the records stay pending: the loop holds what depends on them
 * and tries again every RETRY_MS. Returns 0 when everything is on disk. */
int journal_flush(master *m)
{
    journal *j = m->journal;
    if (!j)
        return 0;
    size_t n = bw_pending(&j->pending);
    if (!n) {
        j->failing = 0;
        return 0;
    }
    uint64_t now = clock_ms();
    if (j->failing && now < j->retry_ms)
        return -1;
    const uint8_t *p = bw_head(&j->pending);
    size_t done = 0;
    while (done < n) {
        long w = file_write(j->fd, p + done, n - done);
        if (w <= 0)
            goto failed;
        done += (size_t)w;
    }
    if (j->must_sync) {
        uint64_t t0 = clock_us();
        if (file_sync(j->fd) < 0)
            goto failed;
        j->sync_us += clock_us() - t0;
        j->fsyncs++;
        j->must_sync = j->lazy_written = 0;
    } else {
        j->lazy_written = 1;
    }
    j->size += n;
    bw_consume(&j->pending, n);
    if (j->failing)
        LOG(LOG_INFO, "journal %s: writing again (%s is over)", j->path, j->why);
    j->failing = 0;
    if (j->size >= COMPACT_MIN_BYTES && j->dead * 2 >= j->size)
        journal_compact(m);
    return 0;
failed:
    snprintf(j->why, sizeof j->why, "%s", errno ? strerror(errno) : "short write");
    if (file_truncate(j->fd, j->size) < 0)
        LOG(LOG_ERROR, "journal %s: cannot cut it back to %llu bytes: %s", j->path, (unsigned long long)j->size,
            strerror(errno));
    if (!j->failing)
        LOG(LOG_ERROR, "journal %s: cannot write (%s): results and accepted commands wait until it can, new "
            "batches are refused", j->path, j->why);
    j->failing = 1;
    j->flushes_failed++;
    j->retry_ms = now + RETRY_MS;
    return -1;
}

uint64_t journal_tick(master *m, uint64_t now_ms)
{
    journal *j = m->journal;
    if (!j || !j->failing)
        return NO_DEADLINE;
    return j->retry_ms > now_ms ? j->retry_ms : now_ms + 1;
}

/* --------------------------------------------------------- compaction --- */

/* The new journal being written: small records gather in w, copied ones
 * go through buf; size counts what is in the file and in w. */
typedef struct {
    int fd;
    bwriter w;
    uint8_t *buf;
    size_t cap;
    uint64_t size;
    int failed;
} rewrite;

static void rewrite_bytes(rewrite *rw, const uint8_t *p, size_t n)
{
    for (size_t done = 0; done < n && !rw->failed;) {
        long k = file_write(rw->fd, p + done, n - done);
        if (k <= 0)
            rw->failed = 1;
        else
            done += (size_t)k;
    }
    rw->size += n;
}

static void rewrite_spill(rewrite *rw)
{
    size_t n = bw_pending(&rw->w);
    rewrite_bytes(rw, bw_head(&rw->w), n);
    bw_consume(&rw->w, n);
}

static uint64_t rewrite_at(const rewrite *rw)
{
    return rw->size + bw_pending(&rw->w);
}

/* A record of the old journal, copied as it is; its new offset. */
static uint64_t rewrite_copy(journal *j, rewrite *rw, uint64_t offset, uint32_t len)
{
    uint8_t head[4];
    if (!len) {
        if (file_read_at(j->fd, head, 4, offset) != 4) {
            rw->failed = 1;
            return 0;
        }
        len = get_u32(head) + JOURNAL_FRAMING;
    }
    if (len > rw->cap) {
        free(rw->buf);
        rw->cap = len;
        rw->buf = malloc(len);
        if (!rw->buf)
            die("out of memory");
    }
    uint64_t at = rewrite_at(rw);
    if (file_read_at(j->fd, rw->buf, len, offset) != (long)len) {
        rw->failed = 1;
        return at;
    }
    rewrite_spill(rw);
    rewrite_bytes(rw, rw->buf, len);
    return at;
}

/* The small records go through w: spilled to the file past 1 MiB. */
static void rewrite_small(rewrite *rw)
{
    if (bw_pending(&rw->w) >= (1u << 20))
        rewrite_spill(rw);
}

/* When cl was delivered or cancelled, on the wall clock (its retention,
 * --keep-results, goes on from there after the compaction). */
static uint64_t finished_wall(const client *cl)
{
    uint64_t now = wall_ms();
    if (!cl->finished_ms)
        return now;
    uint64_t ago = elapsed(clock_ms(), cl->finished_ms);
    return ago < now ? now - ago : 1;
}

/* One batch in the new journal: what replay needs to bring it back as it
 * is now. Its new offsets go to new_commands and new_results. */
static void rewrite_batch(master *m, rewrite *rw, client *cl, uint64_t *new_commands, record_ref *new_results)
{
    journal *j = m->journal;
    uint64_t start = rewrite_at(rw);
    jr_batch b = {cl->batch_id, cl->created_wall_ms, cl->timeout_ms, cl->retries, (uint16_t)strlen(cl->name), cl->name};
    jr_batch_encode(&rw->w, &b);
    if (cl->opts_raw) { /* before its commands, as it came: replay applies it to them */
        jr_options o = {cl->batch_id, cl->opts_len, cl->opts_raw};
        jr_options_encode(&rw->w, &o);
    }
    if (cl->detached) {
        jr_detach d = {cl->batch_id, wall_ms()};
        jr_detach_encode(&rw->w, &d);
    }
    for (uint32_t i = 0; i < cl->submitted && !rw->failed; i++) /* 0: its record was lost to damage */
        new_commands[i] = cl->command_at[i] ? rewrite_copy(j, rw, cl->command_at[i], 0) : 0;
    /* --deadline: when each command not done was first queued (after the COMMANDs: replay needs them) */
    if (cl->opts.deadline_ms) {
        for (int i = 0; i < m->nslaves; i++)
            for (flight *f = m->slaves[i]->flights; f; f = f->next)
                if (f->cmd && f->cmd->cl == cl && f->cmd->fl == f && f->cmd->received_ms)
                    queued_record(&rw->w, cl, f->cmd);
        for (command *cmd = cl->qhead; cmd; cmd = cmd->next)
            if (cmd->received_ms)
                queued_record(&rw->w, cl, cmd);
    }
    if (cl->ended) {
        jr_end e = {cl->batch_id, cl->submitted};
        jr_end_encode(&rw->w, &e);
    }
    /* Its commands on slaves now, once per attempt (replay counts them);
     * a queued command's earlier attempts as DISPATCHes of job 0 (on no
     * slave: nothing to re-claim, but "may have run twice" stays). */
    for (int i = 0; i < m->nslaves; i++)
        for (flight *f = m->slaves[i]->flights; f; f = f->next)
            if (f->cmd && f->cmd->cl == cl && f->cmd->fl == f) {
                failed_records(&rw->w, f->cmd); /* --retries: its failed runs first (they reset attempts) */
                for (unsigned k = 0; k < f->cmd->attempts; k++)
                    dispatch_record(&rw->w, f);
            }
    for (command *cmd = cl->qhead; cmd; cmd = cmd->next) {
        failed_records(&rw->w, cmd);
        for (unsigned k = 0; k < cmd->attempts; k++) {
            jr_dispatch d = {cl->batch_id, cmd->index, 0, 0, 0, ""};
            jr_dispatch_encode(&rw->w, &d);
        }
    }
    for (uint32_t k = 0; k < cl->nresults && !rw->failed; k++) {
        new_results[k].offset = rewrite_copy(j, rw, cl->results[k].offset, cl->results[k].len);
        new_results[k].len = cl->results[k].len;
        new_results[k].index = cl->results[k].index;
    }
    if (cl->delivered) {
        jr_delivered d = {cl->batch_id, cl->nresults, finished_wall(cl)};
        jr_delivered_encode(&rw->w, &d);
    }
    if (cl->cancelled) {
        jr_cancel c = {cl->batch_id, finished_wall(cl)};
        jr_cancel_encode(&rw->w, &c);
    }
    rewrite_small(rw);
    cl->journal_bytes = rewrite_at(rw) - start;
}

/* Writes the live part of the journal to journal.compact, then renames it
 * over the journal: a crash before the rename leaves the old one whole,
 * after it the new one. Runs just after a flush (nothing pending). Any
 * failure leaves the old journal in use. */
static void journal_compact(master *m)
{
    journal *j = m->journal;
    uint64_t t0 = clock_us(), before = j->size;
    char tmp[1100], dir[1100];
    snprintf(tmp, sizeof tmp, "%s.compact", j->path);
    remove(tmp);
    rewrite rw = {.fd = file_open_append(tmp)};
    if (rw.fd < 0) {
        LOG(LOG_WARN, "journal %s: cannot compact it (%s: %s): it goes on growing", j->path, tmp, strerror(errno));
        j->dead = 0; /* not again at every flush */
        return;
    }
    bw_init(&rw.w, (size_t)1 << 30);
    jr_header h = {JOURNAL_MAGIC, JOURNAL_VERSION, m->identity, wall_ms()};
    jr_header_encode(&rw.w, &h);
    for (int i = 0; i < m->nslaves; i++) {
        jr_slave s = {m->slaves[i]->next_id, (uint16_t)strlen(m->slaves[i]->name), m->slaves[i]->name};
        jr_slave_encode(&rw.w, &s);
    }
    for (int k = 0; k < m->nid_memos; k++) { /* slaves no longer listed: listed again, they go on */
        char name[300];
        net_addr_str(&m->id_memos[k].addr, name, sizeof name);
        jr_slave s = {m->id_memos[k].next_id, (uint16_t)strlen(name), name};
        jr_slave_encode(&rw.w, &s);
    }
    /* the learned durations, least recent first: replay makes the same recency order */
    for (uint32_t i = history_first(&m->durations); i != HISTORY_NONE; i = history_after(&m->durations, i)) {
        const history_entry *e = &m->durations.e[i];
        jr_duration d = {e->key, e->avg_us, e->runs};
        jr_duration_encode(&rw.w, &d);
        rewrite_small(&rw);
    }
    /* The cache's live entries, the least recently used first: a replay
     * that stores them in this order has their recency as it is now. */
    uint64_t cache_bytes = 0;
    for (cache_entry *e = cache_oldest_used(&m->cache); e && !rw.failed; e = e->lprev) {
        uint64_t at = rewrite_at(&rw);
        jr_cache r = {.stored_ms = e->stored_ms, .host_len = e->host_len, .host = e->host, .body_len = e->body_len,
                      .body = e->body};
        memcpy(r.key, e->key, JR_CACHE_KEY_LEN);
        jr_cache_encode(&rw.w, &r);
        if (rw.w.error)
            rw.failed = 1;
        cache_bytes += rewrite_at(&rw) - at;
        rewrite_small(&rw);
    }
    unsigned n = 0;
    for (client *cl = m->clients; cl; cl = cl->next)
        n += cl->durable && cl->batch_id;
    struct moved { uint64_t *commands; record_ref *results; } *moved = calloc(n ? n : 1, sizeof *moved);
    if (!moved)
        die("out of memory");
    unsigned k = 0;
    for (client *cl = m->clients; cl && !rw.failed; cl = cl->next) {
        if (!cl->durable || !cl->batch_id)
            continue;
        moved[k].commands = malloc(((size_t)cl->submitted + 1) * sizeof *moved[k].commands);
        moved[k].results = malloc(((size_t)cl->nresults + 1) * sizeof *moved[k].results);
        if (!moved[k].commands || !moved[k].results)
            die("out of memory");
        rewrite_batch(m, &rw, cl, moved[k].commands, moved[k].results);
        k++;
    }
    rewrite_spill(&rw);
    if (!rw.failed && file_sync(rw.fd) < 0)
        rw.failed = 1;
    if (!rw.failed && rename(tmp, j->path) < 0)
        rw.failed = 1;
    if (rw.failed) {
        LOG(LOG_WARN, "journal %s: cannot compact it (%s): it goes on growing", j->path, strerror(errno));
        file_close(rw.fd);
        remove(tmp);
        for (unsigned x = 0; x < k; x++)
            free(moved[x].commands), free(moved[x].results);
        j->dead = 0;
    } else {
        if (dir_sync_of(j->path, dir, sizeof dir) < 0)
            LOG(LOG_WARN, "journal %s: cannot flush %s: %s", j->path, dir, strerror(errno));
        k = 0;
        for (client *cl = m->clients; cl; cl = cl->next) {
            if (!cl->durable || !cl->batch_id)
                continue;
            free(cl->command_at);
            free(cl->results);
            cl->command_at = moved[k].commands;
            cl->results = moved[k].results;
            cl->cap_commands = cl->submitted + 1;
            cl->cap_results = cl->nresults + 1;
            k++;
        }
        /* each cache entry's record is its new one now */
        uint64_t off = 0;
        for (cache_entry *e = cache_oldest_used(&m->cache); e; e = e->lprev) {
            e->journal_bytes = JOURNAL_FRAMING + 1 + JR_CACHE_KEY_LEN + 8 + 2 + e->host_len + e->body_len;
            off += e->journal_bytes;
        }
        if (off != cache_bytes)
            LOG(LOG_WARN, "journal %s: the cache's records took %llu bytes, %llu counted", j->path,
                (unsigned long long)cache_bytes, (unsigned long long)off);
        m->cache.released_journal = 0;
        file_close(j->fd);
        j->fd = rw.fd;
        j->size = rw.size;
        j->dead = 0;
        j->compactions++;
        LOG(LOG_INFO, "journal %s compacted: %llu MiB -> %llu MiB (%u batches) in %llu ms", j->path,
            (unsigned long long)(before >> 20), (unsigned long long)(rw.size >> 20), n,
            (unsigned long long)(clock_us() - t0) / 1000);
    }
    free(moved);
    free(rw.buf);
    bw_free(&rw.w);
}

/* ---------------------------------------------------------- read back --- */

/* The whole record at offset (length len, 0: read its length first),
 * checked, in a malloc'd buffer; its payload decoded into rec. */
static uint8_t *load_record(master *m, uint64_t offset, uint32_t len, jrecord *rec)
{
    journal *j = m->journal;
    uint8_t head[4];
    if (!len) {
        if (file_read_at(j->fd, head, 4, offset) != 4)
            goto unreadable;
        len = get_u32(head) + JOURNAL_FRAMING;
        if (len > JOURNAL_RECORD_MAX + JOURNAL_FRAMING)
            goto unreadable;
    }
    uint8_t *buf = malloc(len);
    if (!buf)
        die("out of memory");
    jreader r;
    size_t at;
    if (file_read_at(j->fd, buf, len, offset) != (long)len) {
        free(buf);
        goto unreadable;
    }
    jreader_init(&r, buf, len, NULL, NULL);
    r.first_done = 1; /* a record in the middle: no HEADER before it */
    if (jreader_next(&r, rec, &at) != 1 || at != 0) {
        free(buf);
        goto unreadable;
    }
    return buf;
unreadable:
    LOG(LOG_ERROR, "journal %s: the record at offset %llu cannot be read back", j->path, (unsigned long long)offset);
    return NULL;
}

uint8_t *journal_load_command(master *m, uint64_t offset, command_frame *out)
{
    jrecord rec;
    uint8_t *buf = load_record(m, offset, 0, &rec);
    if (buf && rec.type != JR_COMMAND) {
        free(buf);
        return NULL;
    }
    if (buf)
        *out = (command_frame){rec.u.command.index, rec.u.command.seq, rec.u.command.line_len, rec.u.command.line};
    return buf;
}

uint8_t *journal_load_result(master *m, record_ref ref, result_frame *out, const uint8_t **body, size_t *len)
{
    jrecord rec;
    uint8_t *buf = load_record(m, ref.offset, ref.len, &rec);
    if (buf && rec.type != JR_RESULT) {
        free(buf);
        return NULL;
    }
    if (buf) {
        memset(out, 0, sizeof *out);
        out->seq = rec.u.result.seq;
        out->host = rec.u.result.host;
        out->host_len = rec.u.result.host_len;
        *body = rec.u.result.body;
        *len = rec.u.result.body_len;
    }
    return buf;
}

/* ------------------------------------------------------------- replay --- */

/* A batch while the journal is read: its commands by index (NULL once it
 * has its result), the last dispatch of each, which records each index
 * has (SEEN_*) and its seq (from its COMMAND or its RESULT), and the
 * counts that say how many commands it had: a COMMAND lost to damage
 * leaves a hole below them (replay_holes). */
#define REPLAY_INDEX_MAX (1u << 26) /* an index past this in a DISPATCH, RESULT or END is not believed */
#define SEEN_COMMAND 1u
#define SEEN_RESULT 2u
typedef struct {
    client *cl;
    command **cmds;
    struct last_dispatch { uint64_t job; int slave; uint64_t boot; } *disp; /* slave: index in names, -1 none */
    uint32_t *seq;    /* 0: unknown */
    uint8_t *seen;
    uint32_t cap;
    uint32_t top;     /* 1 + the highest index any record names */
    uint32_t end_count, delivered_count;
    uint64_t last_end_ms; /* when its last command ended (its RESULTs' start + duration, wall clock) */
} rbatch;

/* Records of a batch whose BATCH record was lost to damage: dropped,
 * counted for the log (replay_report_lost). */
typedef struct {
    uint64_t id;
    unsigned commands, results, others;
    int forgotten; /* its FORGET is there: nothing of it was wanted */
} lost_batch;

typedef struct {
    master *m;
    rbatch *batches;     /* an open-addressing table by batch id */
    size_t cap, n;
    char (*names)[300];  /* slaves named by DISPATCH records, and the highest job id of each */
    uint64_t *max_id;
    struct proof { uint64_t job, boot; } *proven; /* the highest job each slave ran (a slave's RESULT for it), its life */
    int nnames;
    size_t records, results, damage_end; /* damage_end: just past the last damaged byte (0 none) */
    size_t damage_start; /* the first damaged byte (SIZE_MAX none) */
    unsigned damaged;
    uint64_t damaged_bytes; /* in the ranges skipped (not the torn tail) */
    uint64_t identity; /* the HEADER's */
    uint64_t dead;     /* bytes of records of no live batch */
    size_t results_kept;
    lost_batch *lost; /* an open-addressing table by batch id */
    size_t lost_cap, nlost;
} replay;

static rbatch *rbatch_slot(replay *rp, uint64_t id)
{
    size_t i = (size_t)(id * 0x9E3779B97F4A7C15ull) & (rp->cap - 1);
    while (rp->batches[i].cl && rp->batches[i].cl->batch_id != id)
        i = (i + 1) & (rp->cap - 1);
    return &rp->batches[i];
}

static rbatch *rbatch_find(replay *rp, uint64_t id)
{
    if (!rp->cap)
        return NULL;
    rbatch *b = rbatch_slot(rp, id);
    return b->cl ? b : NULL;
}

static rbatch *rbatch_add(replay *rp, client *cl)
{
    if ((rp->n + 1) * 2 > rp->cap) { /* grow: at most half full */
        rbatch *old = rp->batches;
        size_t oldcap = rp->cap;
        rp->cap = rp->cap ? rp->cap * 2 : 64;
        rp->batches = calloc(rp->cap, sizeof *rp->batches);
        if (!rp->batches)
            die("out of memory");
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].cl)
                *rbatch_slot(rp, old[i].cl->batch_id) = old[i];
        free(old);
    }
    rbatch *b = rbatch_slot(rp, cl->batch_id);
    memset(b, 0, sizeof *b);
    b->cl = cl;
    rp->n++;
    return b;
}

static void rbatch_reserve(rbatch *b, uint32_t index)
{
    if (index < b->cap)
        return;
    uint32_t n = b->cap ? b->cap : 64;
    while (n <= index)
        n *= 2;
    b->cmds = realloc(b->cmds, n * sizeof *b->cmds);
    b->disp = realloc(b->disp, n * sizeof *b->disp);
    b->seq = realloc(b->seq, n * sizeof *b->seq);
    b->seen = realloc(b->seen, n);
    if (!b->cmds || !b->disp || !b->seq || !b->seen)
        die("out of memory");
    for (uint32_t i = b->cap; i < n; i++)
        b->cmds[i] = NULL, b->disp[i] = (struct last_dispatch){0, -1, 0}, b->seq[i] = 0, b->seen[i] = 0;
    b->cap = n;
}

/* A record names command index of b: b has at least index + 1 commands. */
static void rbatch_names(rbatch *b, uint32_t index)
{
    rbatch_reserve(b, index);
    if (index >= b->top)
        b->top = index + 1;
}

static void rbatch_free(rbatch *b)
{
    for (uint32_t i = 0; i < b->cap; i++)
        free(b->cmds[i]);
    free(b->cmds);
    free(b->disp);
    free(b->seq);
    free(b->seen);
}

/* A record of no batch the replay knows: its BATCH was lost to damage
 * (or the batch is forgotten further on: its FORGET says so). */
static void lost_record(replay *rp, uint64_t id, uint8_t type)
{
    if ((rp->nlost + 1) * 2 > rp->lost_cap) {
        lost_batch *old = rp->lost;
        size_t oldcap = rp->lost_cap;
        rp->lost_cap = rp->lost_cap ? rp->lost_cap * 2 : 16;
        rp->lost = calloc(rp->lost_cap, sizeof *rp->lost);
        if (!rp->lost)
            die("out of memory");
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].id) {
                size_t k = (size_t)(old[i].id * 0x9E3779B97F4A7C15ull) & (rp->lost_cap - 1);
                while (rp->lost[k].id)
                    k = (k + 1) & (rp->lost_cap - 1);
                rp->lost[k] = old[i];
            }
        free(old);
    }
    size_t k = (size_t)(id * 0x9E3779B97F4A7C15ull) & (rp->lost_cap - 1);
    while (rp->lost[k].id && rp->lost[k].id != id)
        k = (k + 1) & (rp->lost_cap - 1);
    lost_batch *l = &rp->lost[k];
    if (!l->id) {
        l->id = id;
        rp->nlost++;
    }
    if (type == JR_COMMAND)
        l->commands++;
    else if (type == JR_RESULT)
        l->results++;
    else if (type == JR_FORGET)
        l->forgotten = 1;
    else
        l->others++;
}

static int slave_name_index(replay *rp, const char *name, size_t len)
{
    for (int i = 0; i < rp->nnames; i++)
        if (strlen(rp->names[i]) == len && !memcmp(rp->names[i], name, len))
            return i;
    rp->names = realloc(rp->names, (size_t)(rp->nnames + 1) * sizeof *rp->names);
    rp->max_id = realloc(rp->max_id, (size_t)(rp->nnames + 1) * sizeof *rp->max_id);
    rp->proven = realloc(rp->proven, (size_t)(rp->nnames + 1) * sizeof *rp->proven);
    if (!rp->names || !rp->max_id || !rp->proven)
        die("out of memory");
    rp->proven[rp->nnames] = (struct proof){0, 0};
    snprintf(rp->names[rp->nnames], sizeof rp->names[0], "%.*s", (int)len, name);
    rp->max_id[rp->nnames] = 0;
    return rp->nnames++;
}

static void on_damage(void *ctx, const jdamage *d)
{
    replay *rp = ctx;
    rp->damaged++;
    if (d->why != JD_TORN_TAIL && d->offset + d->bytes > rp->damage_end)
        rp->damage_end = d->offset + d->bytes;
    if (d->why != JD_TORN_TAIL)
        rp->damaged_bytes += d->bytes;
    if (d->why != JD_TORN_TAIL && d->offset < rp->damage_start)
        rp->damage_start = d->offset;
    LOG(d->why == JD_TORN_TAIL ? LOG_WARN : LOG_ERROR, "journal %s: %s at offset %zu (%zu bytes)%s",
        rp->m->journal->path, jdamage_why_name(d->why), d->offset, d->bytes,
        d->why == JD_TORN_TAIL ? ": cut off (a crash in the middle of a write: nothing acknowledged is in it)"
        : d->why == JD_OTHER_VERSION ? ": not read"
                                     : ": skipped, the records around it are kept");
}

/* A finished batch's retention counts from when it finished (wall clock
 * in the record), from now on the monotonic clock. */
static uint64_t finished_at(uint64_t at_wall_ms)
{
    uint64_t now = clock_ms(), ago = elapsed(wall_ms(), at_wall_ms);
    return ago < now ? now - ago : 1;
}

/* How long ago a QUEUED record's command was queued: on the same boot by
 * the boot clock (a wall-clock step changes nothing); after a reboot (or
 * with a boot unknown) by the wall clock, 0 if it went back (the deadline
 * then counts from the restart, as for a journal without the record). */
static uint64_t queued_ago(const jr_queued *r, uint64_t wall_now, uint64_t boot_now, uint64_t boot_id_now)
{
    if (r->boot_id && r->boot_id == boot_id_now)
        return elapsed(boot_now, r->boot_ms);
    return elapsed(wall_now, r->wall_ms);
}

static void replay_record(replay *rp, const jrecord *rec, size_t offset, size_t len)
{
    master *m = rp->m;
    rbatch *b = NULL;
    rp->records++;
    switch (rec->type) {
    case JR_HEADER:
        rp->identity = rec->u.header.identity;
        return;
    case JR_SLAVE: { /* written by a compaction: the DISPATCH records it dropped named these ids */
        int k = slave_name_index(rp, rec->u.slave.slave, rec->u.slave.slave_len);
        if (rec->u.slave.next_id > rp->max_id[k] + 1)
            rp->max_id[k] = rec->u.slave.next_id - 1;
        rp->dead += len;
        return;
    }
    case JR_DURATION: /* of no batch: the table, the last of each key counting */
        history_set(&m->durations, rec->u.duration.key, rec->u.duration.avg_us, rec->u.duration.runs);
        rp->dead += len;
        return;
    case JR_BATCH: {
        const jr_batch *r = &rec->u.batch;
        if (rbatch_find(rp, r->batch))
            return; /* twice: damage repaired by hand? the first one stands */
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)r->name_len, r->name);
        rbatch_add(rp, client_restore(m, r->batch, r->created_ms, r->timeout_ms, r->retries, name))->cl->journal_bytes =
            len;
        return;
    }
    case JR_CACHE: { /* an entry of the result cache: kept if still fresh, within --cache-size */
        const jr_cache *r = &rec->u.cache;
        cache_entry *e = NULL;
        if (cache_result_storable(r->body, r->body_len))
            e = cache_put(&m->cache, r->key, r->stored_ms, wall_ms(), r->host, r->host_len, r->body, r->body_len);
        if (e)
            e->journal_bytes = len;
        else
            rp->dead += len;
        rp->dead += m->cache.released_journal; /* an older entry of the same key, or evicted for this one */
        m->cache.released_journal = 0;
        return;
    }
    default:
        break;
    }
    b = rbatch_find(rp, rec->u.end.batch); /* every other record begins with its batch id */
    if (!b) { /* its BATCH was lost to damage: dropped, never run (said in replay_report_lost) */
        rp->dead += len;
        lost_record(rp, rec->u.end.batch, rec->type);
        if (rec->type == JR_DISPATCH && rec->u.dispatch.job_id) { /* that job id stays taken */
            int k = slave_name_index(rp, rec->u.dispatch.slave, rec->u.dispatch.slave_len);
            if (rec->u.dispatch.job_id > rp->max_id[k])
                rp->max_id[k] = rec->u.dispatch.job_id;
        }
        return;
    }
    client *cl = b->cl;
    cl->journal_bytes += len;
    switch (rec->type) {
    case JR_COMMAND: {
        const jr_command *r = &rec->u.command;
        command *cmd = calloc(1, sizeof *cmd + r->line_len + 1);
        if (!cmd)
            die("out of memory");
        cmd->cl = cl;
        cmd->index = r->index;
        cmd->seq = r->seq;
        cmd->len = r->line_len;
        memcpy(cmd->line, r->line, r->line_len);
        rbatch_names(b, r->index);
        free(b->cmds[r->index]);
        b->cmds[r->index] = cmd;
        b->seen[r->index] |= SEEN_COMMAND;
        b->seq[r->index] = r->seq;
        client_restore_command(cl, cmd, offset);
        if (b->seen[r->index] & SEEN_RESULT) { /* a placeholder journaled after its result (replay_holes) */
            free(cmd);
            b->cmds[r->index] = NULL;
        }
        break;
    }
    case JR_END:
        cl->ended = 1;
        b->end_count = rec->u.end.count;
        break;
    case JR_DISPATCH: {
        const jr_dispatch *r = &rec->u.dispatch;
        if (r->index < REPLAY_INDEX_MAX)
            rbatch_names(b, r->index);
        if (!r->job_id && r->slave_len) { /* --retries: a failed run (journal_requeue_failed) */
            if (r->index < b->cap && b->cmds[r->index]) {
                b->disp[r->index] = (struct last_dispatch){0, -1, 0};
                replay_failed(b->cmds[r->index], r->slave, r->slave_len);
            }
            break;
        }
        if (!r->job_id) {
            /* after its DISPATCH: queued again (journal_requeue), the attempt counted already; else
             * compaction's: an earlier attempt of a command queued again, on no slave now */
            if (r->index < b->cap && b->cmds[r->index] && b->disp[r->index].job)
                b->disp[r->index] = (struct last_dispatch){0, -1, 0};
            else if (r->index < b->cap && b->cmds[r->index])
                b->cmds[r->index]->attempts++;
            break;
        }
        int k = slave_name_index(rp, r->slave, r->slave_len);
        if (r->job_id > rp->max_id[k])
            rp->max_id[k] = r->job_id;
        if (r->index < b->cap && b->cmds[r->index]) {
            b->disp[r->index] = (struct last_dispatch){r->job_id, k, r->slave_boot};
            b->cmds[r->index]->attempts++;
        }
        break;
    }
    case JR_RESULT: {
        const jr_result *r = &rec->u.result;
        rp->results++;
        if (r->index < REPLAY_INDEX_MAX) {
            rbatch_names(b, r->index);
            b->seen[r->index] |= SEEN_RESULT;
            if (!b->seq[r->index])
                b->seq[r->index] = r->seq;
        }
        if (r->index < b->cap && b->cmds[r->index]) {
            /* Ran by the slave of its last dispatch (a status only a slave makes, from that slave): that
             * slave took the id; if it says it took less from us now, it forgot us (flights_restored_meet). */
            struct last_dispatch *ld = &b->disp[r->index];
            uint8_t status = r->body_len ? r->body[0] : RUN_NO_SLAVE;
            if (ld->slave >= 0 && (status == RUN_EXITED || status == RUN_SIGNALED || status == RUN_TIMED_OUT) &&
                strlen(rp->names[ld->slave]) == r->host_len && !memcmp(rp->names[ld->slave], r->host, r->host_len) &&
                ld->job > rp->proven[ld->slave].job)
                rp->proven[ld->slave] = (struct proof){ld->job, ld->boot};
            free(b->cmds[r->index]);
            b->cmds[r->index] = NULL;
        }
        if (r->body_len >= 23) { /* start_ms at 7, duration_us at 15 (doc/protocol.md 3.2) */
            const uint8_t *s = r->body + 7, *d = r->body + 15;
            uint64_t end = ((uint64_t)get_u32(s) << 32 | get_u32(s + 4)) + ((uint64_t)get_u32(d) << 32 | get_u32(d + 4)) / 1000;
            if (end > b->last_end_ms)
                b->last_end_ms = end;
        }
        client_restore_result(cl, offset, (uint32_t)len, r->index);
        if (offset < rp->damage_start) /* before any damage: where its client saw it */
            cl->results_sure = cl->nresults;
        break;
    }
    case JR_DELIVERED:
        cl->delivered = 1;
        if (rec->u.delivered.count > b->delivered_count)
            b->delivered_count = rec->u.delivered.count;
        cl->finished_ms = finished_at(rec->u.delivered.at_ms);
        break;
    case JR_CANCEL:
        cl->cancelled = 1;
        cl->finished_ms = finished_at(rec->u.cancel.at_ms);
        break;
    case JR_DETACH:
        cl->detached = 1;
        break;
    case JR_QUEUED: { /* --deadline counts from its first queueing, on this master's clock */
        const jr_queued *r = &rec->u.queued;
        if (r->index < b->cap && b->cmds[r->index]) {
            uint64_t now = clock_ms(), ago = queued_ago(r, wall_ms(), boot_ms(), plat_boot_id());
            command *cmd = b->cmds[r->index];
            /* (0 is "not queued yet"); older than clock_ms's 1: the rest kept aside, not dropped */
            cmd->received_ms = ago < now ? now - ago : 1;
            cmd->queued_before_ms = ago < now ? 0 : ago - (now - 1);
        }
        break;
    }
    case JR_OPTIONS: { /* through the frame's own path: every key comes back */
        char why[160];
        if (client_set_options(cl, rec->u.options.fields, rec->u.options.fields_len, why, sizeof why) < 0)
            LOG(LOG_WARN, "journal: batch %016llx: its options are not restored: %s",
                (unsigned long long)cl->batch_id, why);
        break;
    }
    case JR_FORGET:
        rp->dead += cl->journal_bytes;
        rbatch_free(b);
        client_close(m, cl);
        /* out of the table: the slots after it are placed again */
        b->cl = NULL;
        rp->n--;
        for (size_t i = (size_t)(b - rp->batches + 1) & (rp->cap - 1); rp->batches[i].cl; i = (i + 1) & (rp->cap - 1)) {
            rbatch moved = rp->batches[i];
            rp->batches[i].cl = NULL;
            *rbatch_slot(rp, moved.cl->batch_id) = moved;
        }
        break;
    }
}

#define LOST_LINE "(lost: its record was damaged in the journal)"
#define LOST_WHY "not run (again): its record was lost to damage in the master's journal, and it may have run " \
                 "before the master restarted (see the master's log)"
#define LOST_NAMED 4u  /* batches named in the log, each with ... */
#define LOST_INDEXES 8u /* ... this many of its commands; then counts */

/* The damage the replay repaired, for the log. */
typedef struct {
    unsigned batches, holes, unrun, ended;
} holes_seen;

/* Every command of b whose COMMAND record was lost to damage (an index
 * below the batch's count: its END's, its DELIVERED's, or one more than
 * the highest index a record names) gets a placeholder COMMAND (LOST_LINE,
 * what client --attach shows) and, unless its RESULT is there, a result
 * saying it is not run: it may have run before the crash. Both are
 * journaled: the next restart finds them and does nothing again. A seq
 * lost with its COMMAND is its RESULT's, else the one after its
 * neighbour's (seqs grow with the index). */
static void replay_holes(replay *rp, rbatch *b, holes_seen *h)
{
    client *cl = b->cl;
    const char *path = rp->m->journal->path;
    int named = h->batches < LOST_NAMED, end_lost = !cl->ended && (cl->detached || cl->delivered);
    if (end_lost) { /* both come after END: it was lost */
        cl->ended = 1;
        if (h->ended++ < LOST_NAMED)
            LOG(LOG_ERROR, "journal %s: batch %016llx: its END record was lost to damage (its %s is there): it ends "
                "with the %u commands the journal names", path, (unsigned long long)cl->batch_id,
                cl->delivered ? "DELIVERED" : "DETACH", b->top > b->delivered_count ? b->top : b->delivered_count);
    }
    /* commands past the highest index named were lost in the damaged
     * ranges: no more than those bytes can hold (a COMMAND record takes
     * JOURNAL_FRAMING + 16 bytes at least) */
    uint64_t most = b->top + rp->damaged_bytes / (JOURNAL_FRAMING + 16);
    uint32_t n = b->top;
    if (cl->ended && b->end_count > n && b->end_count <= most)
        n = b->end_count;
    if (b->delivered_count > n && b->delivered_count <= most)
        n = b->delivered_count;
    if (!n)
        return;
    rbatch_reserve(b, n - 1);
    unsigned holes = 0, unrun = 0;
    char list[LOST_INDEXES * 12 + 8] = "";
    uint32_t prev = 0, prev_seq = 0; /* the last index below x with a COMMAND, plus one; its seq */
    for (uint32_t x = 0; x < n; x++) {
        if (b->seen[x] & SEEN_COMMAND) {
            prev = x + 1, prev_seq = b->seq[x];
            continue;
        }
        uint32_t seq = b->seq[x] ? b->seq[x] : prev_seq + (x + 1 - prev);
        command *cmd = calloc(1, sizeof *cmd + sizeof LOST_LINE);
        if (!cmd)
            die("out of memory");
        cmd->cl = cl;
        cmd->index = x;
        cmd->seq = seq;
        cmd->len = (uint32_t)strlen(LOST_LINE);
        memcpy(cmd->line, LOST_LINE, cmd->len);
        client_restore_command(cl, cmd, journal_command(rp->m, cl, cmd));
        free(cmd);
        b->seen[x] |= SEEN_COMMAND;
        b->seq[x] = seq;
        prev = x + 1, prev_seq = seq;
        if (!(b->seen[x] & SEEN_RESULT) && !cl->cancelled) {
            client_send_failure(cl, x, seq, RUN_NOT_STARTED, "", LOST_WHY);
            b->seen[x] |= SEEN_RESULT;
            unrun++;
        }
        if (holes < LOST_INDEXES)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%u", holes ? ", " : "", x + 1);
        else if (holes == LOST_INDEXES)
            snprintf(list + strlen(list), sizeof list - strlen(list), ", ...");
        holes++;
    }
    if (end_lost) /* the next start finds it */
        journal_end(rp->m, cl, cl->submitted);
    if (!holes)
        return;
    if (named)
        LOG(LOG_ERROR, "journal %s: batch %016llx: %u of its %u command records lost to damage (number %s): each is "
            "'%s' now; %u had no result%s", path, (unsigned long long)cl->batch_id, holes, n, list, LOST_LINE, unrun,
            unrun ? ": not run (again), their result says so" : "");
    h->batches++;
    h->holes += holes;
    h->unrun += unrun;
}

/* Records of batches whose BATCH record was lost: dropped, said here. */
static void replay_report_lost(replay *rp)
{
    unsigned named = 0, batches = 0, commands = 0, results = 0;
    for (size_t i = 0; i < rp->lost_cap; i++) {
        lost_batch *l = &rp->lost[i];
        if (!l->id || l->forgotten)
            continue;
        if (named++ < LOST_NAMED)
            LOG(LOG_ERROR, "journal %s: batch %016llx: its BATCH record was lost to damage: its %u commands, %u "
                "results and %u other records are dropped (none of them is run)", rp->m->journal->path,
                (unsigned long long)l->id, l->commands, l->results, l->others);
        batches++, commands += l->commands, results += l->results;
        /* forgotten from now on: the next start drops its records without a word, compaction drops them */
        journal *j = rp->m->journal;
        uint64_t at = append_at(j);
        jr_forget r = {l->id};
        jr_forget_encode(&j->pending, &r);
        j->dead += append_at(j) - at;
    }
    if (batches > LOST_NAMED)
        LOG(LOG_ERROR, "journal %s: %u batches lost their BATCH record to damage in all: %u commands and %u results "
            "dropped", rp->m->journal->path, batches, commands, results);
    free(rp->lost);
}

/* Every record is read: what has no result is queued again or, if the
 * previous life dispatched it, re-claimed from its slave under the same
 * job id. A command whose COMMAND record comes before damage and that
 * has no DISPATCH may have lost it there: it is not run again (it may
 * have run), its client is told. */
/* A slave the journal names that slaves.conf no longer lists: its next job
 * id waits in the memo of removed slaves, for a SIGHUP that lists it
 * again (starting from 1 would read its PONG as a journal that lost
 * records). */
static void remember_next_id(master *m, const char *name, uint64_t next)
{
    char host[300], err[256];
    net_addr a;
    snprintf(host, sizeof host, "%s", name);
    char *colon = strrchr(host, ':'), *h = host;
    if (!colon)
        return;
    *colon = 0;
    if (h[0] == '[' && colon > h + 1 && colon[-1] == ']') /* "[v6]:port", as a compaction writes a memo's */
        h++, colon[-1] = 0;
    if (net_resolve(h, atoi(colon + 1), 1, &a, err, sizeof err) < 0)
        return;
    for (int i = 0; i < m->nslaves; i++) /* listed under another name */
        if (net_addr_equal(&m->slaves[i]->addr, &a)) {
            if (next > m->slaves[i]->next_id)
                m->slaves[i]->next_id = next;
            return;
        }
    for (int k = 0; k < m->nid_memos; k++)
        if (net_addr_equal(&m->id_memos[k].addr, &a)) {
            if (next > m->id_memos[k].next_id)
                m->id_memos[k].next_id = next;
            return;
        }
    struct id_memo *grown = realloc(m->id_memos, (size_t)(m->nid_memos + 1) * sizeof *grown);
    if (!grown)
        die("out of memory");
    m->id_memos = grown;
    m->id_memos[m->nid_memos++] = (struct id_memo){a, next};
}

static void replay_finish(replay *rp, unsigned *queued, unsigned *reclaimed, unsigned *at_risk)
{
    master *m = rp->m;
    holes_seen h = {0, 0, 0, 0};
    for (int k = 0; k < rp->nnames; k++) {
        slave_peer *s = slave_by_name(m, rp->names[k]);
        uint64_t next = rp->max_id[k] + 1 + (rp->damage_end ? DAMAGE_ID_GAP : 0);
        if (s && next > s->next_id)
            s->next_id = next;
        if (s)
            s->proven_job = rp->proven[k].job, s->proven_boot = rp->proven[k].boot;
        else
            remember_next_id(m, rp->names[k], next);
    }
    for (size_t i = 0; i < rp->cap; i++) {
        rbatch *b = &rp->batches[i];
        client *cl = b->cl;
        if (!cl)
            continue;
        replay_holes(rp, b, &h);
        /* its results after damage may have moved (the at-risk and re-claim
         * results below, and the holes', come after them all) */
        cl->order_unsure = rp->damage_end != 0;
        for (uint32_t x = 0; x < b->cap; x++) {
            command *cmd = b->cmds[x];
            if (!cmd)
                continue;
            slave_peer *s = b->disp[x].slave >= 0 ? slave_by_name(m, rp->names[b->disp[x].slave]) : NULL;
            if (cl->cancelled) {
                free(cmd);
            } else if (cmd->len == 0) { /* refused, and its RESULT was in the torn tail */
                client_send_failure(cl, cmd->index, cmd->seq, RUN_REJECTED, "", "refused by the master");
                free(cmd);
            } else if (s && b->disp[x].job) {
                /* whether its first run ended, its slave says (flights.c: on_job_ack, flights_restored_meet) */
                flight_restore(m, s, cmd, b->disp[x].job)->boot = b->disp[x].boot;
                (*reclaimed)++;
            } else if (!b->disp[x].job && rp->damage_end && cl->command_at[x] < rp->damage_end) {
                client_send_failure(cl, cmd->index, cmd->seq, RUN_NOT_STARTED, "",
                                    "not run again: the master's journal was damaged after this command, which "
                                    "may have run (see the master's log)");
                free(cmd);
                (*at_risk)++;
            } else {
                /* never dispatched; or dispatched to a slave no longer listed: it may have run there */
                cmd->restored = !b->disp[x].job;
                cl->held = 1;
                queue_push_back(cl, cmd);
                (*queued)++;
            }
        }
        b->cap = 0; /* its commands are queued, re-claimed or freed */
        client_order_lpt(m, cl); /* --order lpt: the learned durations are all read by now */
        rbatch_free(b);
        rp->results_kept += cl->nresults;
        cl->accepted = cl->accepted_told = cl->submitted;
        if (!cl->detached && !cl->delivered && !cl->cancelled)
            cl->orphaned_ms = clock_ms(); /* its client has --client-grace to come back */
        else if (cl->detached && !cl->delivered && !cl->cancelled && cl->ended && !cl->queued && !cl->inflight &&
                 b->last_end_ms) /* finished, detached: its retention runs from its last result */
            cl->finished_ms = finished_at(b->last_end_ms);
    }
    if (h.batches > LOST_NAMED || h.ended > LOST_NAMED)
        LOG(LOG_ERROR, "journal %s: %u batches lost command records to damage: %u commands in all, %u of them not run "
            "(their result says so); %u batches lost their END", m->journal->path, h.batches, h.holes, h.unrun,
            h.ended);
    replay_report_lost(rp);
}

#define REPLAY_DROP_EVERY ((size_t)4 << 20) /* pages read this far behind are given back */

static int replay_journal(master *m, file_view *v, int *fresh)
{
    const uint8_t *data = v->data;
    size_t len = v->len;
    journal *j = m->journal;
    replay rp = {.m = m, .damage_start = SIZE_MAX};
    jreader r;
    jrecord rec;
    size_t offset, next;
    uint64_t t0 = clock_us();
    jreader_init(&r, data, len, on_damage, &rp);
    for (;;) {
        size_t before = r.pos;
        (void)before;
        if (jreader_next(&r, &rec, &offset) != 1)
            break;
        next = r.pos;
        replay_record(&rp, &rec, offset, next - offset);
        if (offset >= v->dropped + 2 * REPLAY_DROP_EVERY)
            file_view_done(v, offset - REPLAY_DROP_EVERY);
    }
    *fresh = 0;
    if (!r.header_ok) {
        /* not ours, or of another version: kept aside, never overwritten */
        char aside[1100];
        snprintf(aside, sizeof aside, "%s.unreadable-%llu", j->path, (unsigned long long)wall_ms());
        LOG(LOG_ERROR, "journal %s: %s: moved to %s, starting a new journal (nothing of it is run)", j->path,
            r.version && r.version != JOURNAL_VERSION ? "written by another version of the master" : "not a journal",
            aside);
        free(rp.batches); /* no batch can come from a journal without its header */
        free(rp.lost);
        free(rp.names);
        free(rp.max_id);
        free(rp.proven);
        if (rename(j->path, aside) < 0)
            return -1;
        *fresh = 1;
        return 0;
    }
    if (r.valid_end < len) { /* a torn tail, or damage at the very end: cut */
        if (file_truncate(j->fd, r.valid_end) < 0) {
            LOG(LOG_ERROR, "journal %s: cannot cut its damaged end: %s", j->path, strerror(errno));
            return -1;
        }
        len = r.valid_end;
    }
    j->size = len;
    j->dead = rp.dead;
    if (rp.identity && state_set_identity(m, rp.identity) < 0) /* the identity its slaves know */
        return -1;
    unsigned queued = 0, reclaimed = 0, at_risk = 0;
    replay_finish(&rp, &queued, &reclaimed, &at_risk);
    if (journal_flush(m) < 0) /* what the replay wrote (placeholders, results): the loop tries again */
        LOG(LOG_ERROR, "journal %s: cannot write the records of the replay: %s", j->path, j->why);
    if (queued) /* they wait until the slaves vouch for the journal (replay_hold_tick) */
        m->hold_until_ms = clock_ms() + (m->cfg->dead_after_ms > 2000 ? m->cfg->dead_after_ms : 2000);
    LOG(LOG_INFO, "journal %s: %zu records replayed in %llu ms: %zu batches, %zu results kept, %u commands queued "
        "again, %u re-claimed from their slaves%s", j->path, rp.records, (unsigned long long)(clock_us() - t0) / 1000,
        rp.n, rp.results_kept, queued, reclaimed, r.damaged ? " (damage reported above)" : "");
    if (at_risk)
        LOG(LOG_ERROR, "journal %s: %u commands not run again: the damage may have hidden that they were dispatched",
            j->path, at_risk);
    free(rp.batches);
    free(rp.names);
    free(rp.max_id);
    free(rp.proven);
    return 0;
}

/* The replayed batches are held until every slave has answered a PING of
 * this life (its PONG says the highest job id it took from this identity:
 * slaves.c's on_pong), or for --dead-after (at least 2 s). If one took ids
 * the journal does not know, records were lost: the commands the replay
 * queued again may have run, and get a result saying so instead. */
uint64_t replay_hold_tick(master *m, uint64_t now_ms)
{
    if (!m->hold_until_ms)
        return NO_DEADLINE;
    int all = 1;
    for (int i = 0; i < m->nslaves; i++)
        all &= m->slaves[i]->reported || m->slaves[i]->retired;
    if (!all && !m->journal_lost && now_ms < m->hold_until_ms)
        return m->hold_until_ms;
    m->hold_until_ms = 0;
    unsigned failed = 0;
    char why[600];
    snprintf(why, sizeof why, "not run again: the master's journal lost records (%s): this command may have run "
             "before the master restarted", m->journal_lost_why);
    for (client *cl = m->clients; cl; cl = cl->next) {
        if (cl->held && m->journal_lost)
            failed += client_fail_restored(cl, why);
        cl->held = 0;
    }
    if (failed)
        LOG(LOG_ERROR, "%u commands queued again by the replay not run: %s", failed, m->journal_lost_why);
    else if (!all)
        LOG(LOG_WARN, "replay: not every slave answered within %u ms: the replayed batches go on without them",
            m->cfg->dead_after_ms > 2000 ? m->cfg->dead_after_ms : 2000);
    return NO_DEADLINE;
}

/* A new journal: a new identity first (state_set_identity's comment),
 * unless the state dir is new too. */
static int write_header(master *m)
{
    if (m->state_dir[0] && !m->identity_created && state_set_identity(m, boot_id_new()) < 0)
        return -1;
    jr_header h = {JOURNAL_MAGIC, JOURNAL_VERSION, m->identity, wall_ms()};
    jr_header_encode(&m->journal->pending, &h);
    if (journal_flush(m) < 0) {
        LOG(LOG_ERROR, "journal %s: cannot write: %s", m->journal->path, m->journal->why);
        return -1;
    }
    return 0;
}

int journal_open(master *m, const char *dir)
{
    journal *j = calloc(1, sizeof *j);
    if (!j)
        die("out of memory");
    m->journal = j;
    bw_init(&j->pending, PENDING_LIMIT);
    j->opened_ms = clock_ms();
    snprintf(j->path, sizeof j->path, "%s/%s", dir, JOURNAL_FILE_NAME);
    for (int attempt = 0; attempt < 2; attempt++) {
        j->fd = file_open_append(j->path);
        int64_t size = j->fd < 0 ? -1 : file_size(j->fd);
        if (size < 0) {
            LOG(LOG_ERROR, "cannot open the journal %s: %s", j->path, strerror(errno));
            return -1;
        }
        if (size == 0)
            return write_header(m);
        file_view v;
        if (file_view_open(j->fd, (size_t)size, &v) < 0) {
            LOG(LOG_ERROR, "cannot read the journal %s: %s", j->path, strerror(errno));
            return -1;
        }
        int fresh;
        int rc = replay_journal(m, &v, &fresh);
        file_view_close(&v);
        if (rc < 0)
            return -1;
        if (!fresh)
            return 0;
        file_close(j->fd); /* moved aside: a new one */
    }
    return -1;
}

void journal_close(master *m)
{
    journal *j = m->journal;
    if (!j)
        return;
    journal_flush(m);
    if (j->lazy_written && !j->failing && file_sync(j->fd) == 0) /* a clean stop leaves it all on disk */
        j->fsyncs++;
    if (j->fsyncs) /* make bench reads this line */
        LOG(LOG_INFO, "journal %s: %llu bytes, %llu flushes (fdatasync) in %.1f s, %.0f us each on average, "
            "%u compactions", j->path, (unsigned long long)j->size, (unsigned long long)j->fsyncs,
            (double)elapsed(clock_ms(), j->opened_ms) / 1000, (double)j->sync_us / (double)j->fsyncs, j->compactions);
    file_close(j->fd);
    bw_free(&j->pending);
    free(j);
    m->journal = NULL;
}

uint64_t journal_size(const master *m)
{
    return m->journal ? m->journal->size : 0;
}
