/*
 * journal_dump.c - serveur_maitre --dump-journal: every record of a
 * journal, and every damaged range, as one JSON object a line, in the
 * journal's order, so that any tool can query the history.
 *
 * The master does not link report/ (the client's): the small JSON string
 * writer here follows report.c's conventions (RFC 8259 escapes; bytes that
 * are not UTF-8 go to a "<name>_base64" field beside a null).
 */
#include "journal_dump.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "journal.h"
#include "json.h"
#include "proto.h"

/* ------------------------------------------------------------- json --- */

/* ,"name":"..." when the bytes are UTF-8, else ,"name":null,"name_base64":"...". */
static void put_field(FILE *f, const char *name, const void *data, size_t n)
{
    const uint8_t *p = n ? data : (const uint8_t *)"";
    fprintf(f, ",\"%s\":", name);
    if (json_write_string(f, (const char *)p, n) == 0)
        return;
    fprintf(f, "null,\"%s_base64\":", name);
    base64_write(f, p, n);
}

/* Batch ids, identities and boot ids as 16 lowercase hex digits. */
static void put_id(FILE *f, const char *name, uint64_t v)
{
    fprintf(f, ",\"%s\":\"%016llx\"", name, (unsigned long long)v);
}

/* ---------------------------------------------------------- records --- */

static const char *status_word(uint8_t status)
{
    static const char *const words[] = {"exited",   "signaled",  "not_started", "rejected",
                                        "timed_out", "no_slave", "cancelled"};
    return status <= RUN_CANCELLED ? words[status] : "unknown";
}

typedef struct {
    FILE *out;
    int damaged;
} dump_state;

static void print_damage(dump_state *st, size_t offset, size_t bytes, const char *why)
{
    fprintf(st->out, "{\"offset\":%zu,\"type\":\"damaged\",\"bytes\":%zu,\"why\":\"%s\"", offset, bytes, why);
    st->damaged = 1;
}

/* The reader's reports, in the journal's order with the records. */
static void on_damage(void *ctx, const jdamage *d)
{
    dump_state *st = ctx;
    print_damage(st, d->offset, d->bytes, jdamage_why_name(d->why));
    if (d->why == JD_UNKNOWN_TYPE || d->why == JD_MALFORMED || d->why == JD_NO_HEADER)
        fprintf(st->out, ",\"record_type\":%u", d->type);
    if (d->why == JD_OTHER_VERSION)
        fprintf(st->out, ",\"version\":%u,\"readable_version\":%u", d->version, JOURNAL_VERSION);
    fputs("}\n", st->out);
}

/* A result body's fields as the client would show it (RESULT, CACHE); -1
 * if it does not decode: damage (the record's CRC was right: a bug, not
 * the disk), nothing printed. */
static int body_decode(const uint8_t *body, size_t len, CommandResult *res)
{
    breader rd;
    br_init(&rd, body, len);
    return result_decode(&rd, res) < 0 || br_left(&rd) != 0 ? -1 : 0;
}

static void print_body(FILE *f, const CommandResult *res)
{
    fprintf(f, ",\"status\":\"%s\",\"exit_code\":%d,\"signal\":%u,\"start_ms\":%llu,\"duration_ms\":%.3f",
            status_word(res->status), (int)res->exit_code, res->term_signal, (unsigned long long)res->start_ms,
            (double)res->duration_us / 1000.0);
    put_field(f, "stdout", res->stdout_data, res->stdout_len);
    put_field(f, "stderr", res->stderr_data, res->stderr_len);
    fprintf(f, ",\"stdout_truncated\":%s,\"stderr_truncated\":%s,\"ran_twice\":%s",
            res->stdout_truncated ? "true" : "false", res->stderr_truncated ? "true" : "false",
            res->ran_twice ? "true" : "false");
    if (res->cached)
        fputs(",\"cached\":true", f);
    put_field(f, "message", res->message, res->message_len);
}

static void print_result(dump_state *st, size_t offset, size_t bytes, const jr_result *r)
{
    FILE *f = st->out;
    CommandResult res;
    if (body_decode(r->body, r->body_len, &res) < 0) {
        print_damage(st, offset, bytes, "malformed result body");
        fprintf(f, ",\"record_type\":%u}\n", JR_RESULT);
        return;
    }
    fprintf(f, "{\"offset\":%zu,\"type\":\"result\"", offset);
    put_id(f, "batch", r->batch);
    fprintf(f, ",\"index\":%u,\"seq\":%u", r->index, r->seq);
    put_field(f, "host", r->host, r->host_len);
    print_body(f, &res);
    fputs("}\n", f);
}

/* A cache entry: its key in hex, when it was stored, the result. */
static void print_cache(dump_state *st, size_t offset, size_t bytes, const jr_cache *r)
{
    FILE *f = st->out;
    CommandResult res;
    if (body_decode(r->body, r->body_len, &res) < 0) {
        print_damage(st, offset, bytes, "malformed result body");
        fprintf(f, ",\"record_type\":%u}\n", JR_CACHE);
        return;
    }
    fprintf(f, "{\"offset\":%zu,\"type\":\"cache\",\"key\":\"", offset);
    for (int i = 0; i < JR_CACHE_KEY_LEN; i++)
        fprintf(f, "%02x", r->key[i]);
    fprintf(f, "\",\"stored_ms\":%llu", (unsigned long long)r->stored_ms);
    put_field(f, "host", r->host, r->host_len);
    print_body(f, &res);
    fputs("}\n", f);
}

/* Every other record: its fields by name, ids in hex, times in ms. */
static void print_record(dump_state *st, size_t offset, size_t bytes, const jrecord *rec)
{
    FILE *f = st->out;
    if (rec->type == JR_RESULT) {
        print_result(st, offset, bytes, &rec->u.result);
        return;
    }
    if (rec->type == JR_CACHE) {
        print_cache(st, offset, bytes, &rec->u.cache);
        return;
    }
    fprintf(f, "{\"offset\":%zu,\"type\":\"%s\"", offset, jrecord_type_name(rec->type));
    switch (rec->type) {
    case JR_HEADER: {
        const jr_header *h = &rec->u.header;
        fprintf(f, ",\"version\":%u", h->version);
        put_id(f, "identity", h->identity);
        fprintf(f, ",\"created_ms\":%llu", (unsigned long long)h->created_ms);
        break;
    }
    case JR_BATCH: {
        const jr_batch *b = &rec->u.batch;
        put_id(f, "batch", b->batch);
        fprintf(f, ",\"created_ms\":%llu,\"timeout_ms\":%u,\"retries\":%u", (unsigned long long)b->created_ms,
                b->timeout_ms, b->retries);
        put_field(f, "name", b->name, b->name_len);
        break;
    }
    case JR_COMMAND:
        put_id(f, "batch", rec->u.command.batch);
        fprintf(f, ",\"index\":%u,\"seq\":%u", rec->u.command.index, rec->u.command.seq);
        put_field(f, "line", rec->u.command.line, rec->u.command.line_len);
        break;
    case JR_END:
        put_id(f, "batch", rec->u.end.batch);
        fprintf(f, ",\"count\":%u", rec->u.end.count);
        break;
    case JR_DISPATCH: {
        const jr_dispatch *d = &rec->u.dispatch;
        put_id(f, "batch", d->batch);
        fprintf(f, ",\"index\":%u,\"job_id\":%llu", d->index, (unsigned long long)d->job_id);
        put_id(f, "slave_boot", d->slave_boot);
        put_field(f, "slave", d->slave, d->slave_len);
        break;
    }
    case JR_DELIVERED:
        put_id(f, "batch", rec->u.delivered.batch);
        fprintf(f, ",\"count\":%u,\"at_ms\":%llu", rec->u.delivered.count, (unsigned long long)rec->u.delivered.at_ms);
        break;
    case JR_CANCEL:
    case JR_DETACH:
        put_id(f, "batch", rec->u.cancel.batch);
        fprintf(f, ",\"at_ms\":%llu", (unsigned long long)rec->u.cancel.at_ms);
        break;
    case JR_FORGET:
        put_id(f, "batch", rec->u.forget.batch);
        break;
    case JR_SLAVE:
        fprintf(f, ",\"next_id\":%llu", (unsigned long long)rec->u.slave.next_id);
        put_field(f, "slave", rec->u.slave.slave, rec->u.slave.slave_len);
        break;
    case JR_DURATION:
        fprintf(f, ",\"key\":\"%016llx\",\"avg_us\":%llu,\"runs\":%u", (unsigned long long)rec->u.duration.key,
                (unsigned long long)rec->u.duration.avg_us, rec->u.duration.runs);
        break;
    case JR_QUEUED:
        put_id(f, "batch", rec->u.queued.batch);
        fprintf(f, ",\"index\":%u,\"wall_ms\":%llu,\"boot_ms\":%llu", rec->u.queued.index,
                (unsigned long long)rec->u.queued.wall_ms, (unsigned long long)rec->u.queued.boot_ms);
        put_id(f, "boot_id", rec->u.queued.boot_id);
        break;
    case JR_OPTIONS: { /* the keys this master knows by name; the fields as they are in any case */
        const jr_options *o = &rec->u.options;
        static options_frame of;
        breader r;
        put_id(f, "batch", o->batch);
        fprintf(f, ",\"fields_bytes\":%u", o->fields_len);
        br_init(&r, o->fields, o->fields_len);
        if (options_frame_decode(&r, &of) < 0) {
            fputs(",\"malformed\":true", f);
            put_field(f, "fields", o->fields, o->fields_len);
            break;
        }
        if (of.jobs)
            fprintf(f, ",\"jobs\":%u", of.jobs);
        if (of.delay_ms)
            fprintf(f, ",\"delay_ms\":%u", of.delay_ms);
        if (of.deadline_ms)
            fprintf(f, ",\"deadline_ms\":%u", of.deadline_ms);
        if (of.halt_when)
            fprintf(f, ",\"halt\":{\"when\":%u,\"why\":%u,\"pct\":%u,\"n\":%u}", of.halt_when, of.halt_why,
                    of.halt_pct, of.halt_n);
        if (of.wd.len)
            put_field(f, "wd", of.wd.p, of.wd.len);
        if (of.nenv) {
            fputs(",\"env\":[", f);
            for (unsigned i = 0; i < of.nenv; i++) {
                fputs(i ? "," : "", f);
                if (json_write_string(f, of.env[i].p, of.env[i].len) != 0)
                    fputs("null", f);
            }
            fputs("]", f);
        }
        if (of.priority)
            fprintf(f, ",\"priority\":%d", of.priority);
        if (of.order)
            fprintf(f, ",\"order\":\"%s\"", of.order == ORDER_LPT ? "lpt" : "fifo");
        if (of.cache)
            fputs(",\"cache\":true", f);
        if (of.unknown_key)
            fprintf(f, ",\"unknown_key\":%u", of.unknown_key);
        break;
    }
    }
    fputs("}\n", f);
}

int journal_dump_bytes(const uint8_t *data, size_t len, FILE *out)
{
    dump_state st = {out, 0};
    jreader r;
    jrecord rec;
    size_t offset;
    jreader_init(&r, data, len, on_damage, &st);
    while (jreader_next(&r, &rec, &offset) == 1)
        print_record(&st, offset, r.pos - offset, &rec);
    return st.damaged;
}

/* ------------------------------------------------------------- file --- */

/* The whole file in memory (the master reads it so too): NULL on error,
 * errno set. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *p = realloc(buf, cap = cap ? 2 * cap : 65536);
            if (!p)
                break;
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = n < cap ? ferror(f) : 1; /* a failed realloc leaves n == cap */
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        errno = saved ? saved : EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

int journal_dump(const char *path, FILE *out)
{
    struct stat st;
    char *file = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { /* a state dir: its journal */
        file = malloc(strlen(path) + sizeof "/" JOURNAL_FILE_NAME);
        if (file)
            sprintf(file, "%s/%s", path, JOURNAL_FILE_NAME);
    }
    const char *name = file ? file : path;
    size_t len = 0;
    uint8_t *data = read_all(name, &len);
    if (!data) {
        fprintf(stderr, "serveur_maitre: cannot read the journal '%s': %s\n", name, strerror(errno));
        free(file);
        return 2;
    }
    int damaged = journal_dump_bytes(data, len, out);
    free(data);
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "serveur_maitre: cannot write the dump of '%s': %s\n", name, strerror(errno ? errno : EIO));
        free(file);
        return 2;
    }
    if (damaged)
        fprintf(stderr, "serveur_maitre: the journal '%s' is damaged (see the \"damaged\" lines)\n", name);
    free(file);
    return damaged ? 1 : 0;
}
