/* Unit tests: the journal's CRC, every record's codec, and the reader
 * against torn tails, flipped bytes, garbage, impossible lengths and a
 * journal of another version (every offset of a small journal). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "proto.h"
#include "tap.h"

/* ------------------------------------------------------ a small journal --- */

#define MAX_RECS 32

typedef struct {
    size_t off, len;
    uint8_t type;
} span;

static uint8_t journal[8192];
static size_t journal_len;
static span spans[MAX_RECS];
static int nspans;
static uint8_t result_body[256];
static size_t result_body_len;

/* Appends one record and remembers where it is. */
static void add(bwriter *w, const jrecord *r)
{
    size_t before = bw_pending(w);
    journal_encode(w, r);
    spans[nspans].off = before;
    spans[nspans].len = bw_pending(w) - before;
    spans[nspans++].type = r->type;
}

static void make_result_body(void)
{
    CommandResult res = {0};
    res.status = RUN_SIGNALED;
    res.exit_code = 0;
    res.term_signal = 9;
    res.start_ms = 1700000000123ull;
    res.duration_us = 42;
    res.stdout_data = "hello\n";
    res.stdout_len = 6;
    res.stderr_data = "oops";
    res.stderr_len = 4;
    bwriter w;
    bw_init_fixed(&w, result_body, sizeof result_body);
    result_encode(&w, &res);
    result_body_len = bw_pending(&w);
}

/* One record of every type (the HEADER first), the batch's commands twice. */
static void build_journal(void)
{
    bwriter w;
    jrecord r;
    make_result_body();
    bw_init_fixed(&w, journal, sizeof journal);
    nspans = 0;
    r.type = JR_HEADER, r.u.header = (jr_header){JOURNAL_MAGIC, JOURNAL_VERSION, 0x1122334455667788ull, 1700000000000ull};
    add(&w, &r);
    r.type = JR_BATCH, r.u.batch = (jr_batch){0xB1, 1700000000001ull, 5000, 3, 5, "nightly"};
    add(&w, &r);
    r.type = JR_COMMAND, r.u.command = (jr_command){0xB1, 0, 1, 9, "echo 1 2 3"};
    add(&w, &r);
    r.type = JR_COMMAND, r.u.command = (jr_command){0xB1, 1, 3, 6, "sleep 1"};
    add(&w, &r);
    r.type = JR_END, r.u.end = (jr_end){0xB1, 2};
    add(&w, &r);
    r.type = JR_DISPATCH, r.u.dispatch = (jr_dispatch){0xB1, 0, 77, 0xB007B007B007B007ull, 14, "127.0.0.1:7001"};
    add(&w, &r);
    r.type = JR_RESULT, r.u.result = (jr_result){0xB1, 0, 1, 14, "127.0.0.1:7001", (uint32_t)result_body_len, result_body};
    add(&w, &r);
    r.type = JR_DELIVERED, r.u.delivered = (jr_delivered){0xB1, 1, 1700000000555ull};
    add(&w, &r);
    r.type = JR_DETACH, r.u.detach = (jr_detach){0xB1, 1700000000600ull};
    add(&w, &r);
    r.type = JR_CANCEL, r.u.cancel = (jr_cancel){0xB1, 1700000000700ull};
    add(&w, &r);
    r.type = JR_FORGET, r.u.forget = (jr_forget){0xB1};
    add(&w, &r);
    r.type = JR_SLAVE, r.u.slave = (jr_slave){4097, 14, "127.0.0.1:7001"};
    add(&w, &r);
    static const uint8_t opts[] = {OPTION_JOBS, 0, 4, 0, 0, 0, 1, OPTION_WD, 0, 3, 't', 'm', 'p'};
    r.type = JR_OPTIONS, r.u.options = (jr_options){0xB1, sizeof opts, opts};
    add(&w, &r);
    r.type = JR_DURATION, r.u.duration = (jr_duration){0xaf63dc4c8601ec8cull, 1250000, 3};
    add(&w, &r);
    r.type = JR_CACHE;
    memset(&r.u.cache, 0, sizeof r.u.cache);
    for (int i = 0; i < JR_CACHE_KEY_LEN; i++)
        r.u.cache.key[i] = (uint8_t)(0xC0 + i);
    r.u.cache.stored_ms = 1700000000800ull;
    r.u.cache.host_len = 14, r.u.cache.host = "127.0.0.1:7001";
    r.u.cache.body_len = (uint32_t)result_body_len, r.u.cache.body = result_body;
    add(&w, &r);
    r.type = JR_QUEUED, r.u.queued = (jr_queued){0xB1, 1, 1700000000900ull, 123456789ull, 0x2b99262cb0814dbbull};
    add(&w, &r);
    journal_len = bw_pending(&w);
}

/* ---------------------------------------------------------- reading --- */

typedef struct {
    jdamage d[64];
    int n;
} damages;

static void collect(void *ctx, const jdamage *d)
{
    damages *dm = ctx;
    if (dm->n < 64)
        dm->d[dm->n] = *d;
    dm->n++;
}

typedef struct {
    size_t off[MAX_RECS * 4];
    jrecord rec[MAX_RECS * 4];
    int n;
    damages dm;
    jreader r;
} scan;

static void read_journal(const uint8_t *p, size_t n, scan *s)
{
    memset(s, 0, sizeof *s);
    jreader_init(&s->r, p, n, collect, &s->dm);
    while (s->n < MAX_RECS * 4 && jreader_next(&s->r, &s->rec[s->n], &s->off[s->n]) == 1)
        s->n++;
}

/* The record re-encoded from what was read gives the original bytes. */
static int same_bytes(const jrecord *rec, const uint8_t *want, size_t len)
{
    uint8_t buf[1024];
    bwriter w;
    bw_init_fixed(&w, buf, sizeof buf);
    journal_encode(&w, rec);
    return !w.error && bw_pending(&w) == len && memcmp(buf, want, len) == 0;
}

/* ------------------------------------------------------------- tests --- */

static void test_crc(void)
{
    is_int(crc32c(0, "123456789", 9), 0xE3069283u, "CRC-32C check value of \"123456789\"");
    is_int(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u, "CRC-32C chains over pieces");
    is_int(crc32c(0, "", 0), 0, "CRC-32C of nothing is 0");
    uint8_t b[32];
    memset(b, 0, sizeof b);
    is_int(crc32c(0, b, 32), 0x8A9136AAu, "RFC 3720 B.4: 32 zero bytes");
    memset(b, 0xFF, sizeof b);
    is_int(crc32c(0, b, 32), 0x62A8AB43u, "RFC 3720 B.4: 32 bytes of 0xFF");
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    is_int(crc32c(0, b, 32), 0x46DD794Eu, "RFC 3720 B.4: 32 incrementing bytes");
    /* every alignment and length of the eight-byte loop agrees with byte steps */
    int bad = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= 32; n++) {
            uint32_t c = 0;
            for (size_t k = 0; k < n; k++)
                c = crc32c(c, b + off + k, 1);
            bad += c != crc32c(0, b + off, n);
        }
    is_int(bad, 0, "CRC-32C: slices of 8 and single bytes agree at every alignment");
}

static void speed(void)
{
    size_t n = 64u << 20;
    uint8_t *p = calloc(1, n);
    clock_t t0 = clock();
    uint32_t c = crc32c(0, p, n);
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("# crc32c: %.0f MB/s (64 MiB in %.3f s, crc %08x)\n", s > 0 ? n / s / 1e6 : 0.0, s, c);
    free(p);
}

/* Every record type: its fields back, its bytes back. */
static void test_round_trip(void)
{
    scan s;
    build_journal();
    read_journal(journal, journal_len, &s);
    is_int(s.n, nspans, "every record of the journal is read back");
    is_int(s.dm.n, 0, "an intact journal reports no damage");
    ok(s.r.header_ok && s.r.version == JOURNAL_VERSION, "header seen, version 1");
    is_int(s.r.valid_end, journal_len, "valid_end is the end of an intact journal");
    int types = 0, offs = 0, bytes = 0;
    for (int i = 0; i < s.n && i < nspans; i++) {
        types += s.rec[i].type == spans[i].type;
        offs += s.off[i] == spans[i].off;
        bytes += same_bytes(&s.rec[i], journal + spans[i].off, spans[i].len);
    }
    is_int(types, nspans, "each record has its type");
    is_int(offs, nspans, "each record's offset is reported");
    is_int(bytes, nspans, "each record re-encodes to its exact bytes");

    const jr_header *h = &s.rec[0].u.header;
    ok(h->magic == JOURNAL_MAGIC && h->version == 1 && h->identity == 0x1122334455667788ull &&
           h->created_ms == 1700000000000ull, "HEADER fields");
    const jr_batch *b = &s.rec[1].u.batch;
    ok(b->batch == 0xB1 && b->created_ms == 1700000000001ull && b->timeout_ms == 5000 && b->retries == 3 &&
           b->name_len == 5 && memcmp(b->name, "night", 5) == 0, "BATCH fields");
    const jr_command *c = &s.rec[3].u.command;
    ok(c->batch == 0xB1 && c->index == 1 && c->seq == 3 && c->line_len == 6 && memcmp(c->line, "sleep ", 6) == 0,
       "COMMAND fields");
    ok(s.rec[4].u.end.batch == 0xB1 && s.rec[4].u.end.count == 2, "END fields");
    const jr_dispatch *d = &s.rec[5].u.dispatch;
    ok(d->batch == 0xB1 && d->index == 0 && d->job_id == 77 && d->slave_boot == 0xB007B007B007B007ull &&
           d->slave_len == 14 && memcmp(d->slave, "127.0.0.1:7001", 14) == 0, "DISPATCH fields");
    const jr_result *r = &s.rec[6].u.result;
    ok(r->batch == 0xB1 && r->index == 0 && r->seq == 1 && r->host_len == 14 && r->body_len == result_body_len &&
           memcmp(r->body, result_body, result_body_len) == 0, "RESULT fields, its body as result_encode made it");
    CommandResult res;
    breader rd;
    br_init(&rd, r->body, r->body_len);
    ok(result_decode(&rd, &res) == 0 && res.status == RUN_SIGNALED && res.term_signal == 9 && res.stdout_len == 6 &&
           memcmp(res.stdout_data, "hello\n", 6) == 0, "the RESULT body decodes with result_decode");
    ok(s.rec[7].u.delivered.batch == 0xB1 && s.rec[7].u.delivered.count == 1 &&
           s.rec[7].u.delivered.at_ms == 1700000000555ull, "DELIVERED fields");
    ok(s.rec[8].type == JR_DETACH && s.rec[8].u.detach.at_ms == 1700000000600ull, "DETACH fields");
    ok(s.rec[9].type == JR_CANCEL && s.rec[9].u.cancel.at_ms == 1700000000700ull, "CANCEL fields");
    ok(s.rec[10].type == JR_FORGET && s.rec[10].u.forget.batch == 0xB1, "FORGET fields");
    ok(s.rec[11].type == JR_SLAVE && s.rec[11].u.slave.next_id == 4097 && s.rec[11].u.slave.slave_len == 14 &&
           memcmp(s.rec[11].u.slave.slave, "127.0.0.1:7001", 14) == 0, "SLAVE fields");
    ok(s.rec[13].type == JR_DURATION && s.rec[13].u.duration.key == 0xaf63dc4c8601ec8cull &&
           s.rec[13].u.duration.avg_us == 1250000 && s.rec[13].u.duration.runs == 3, "DURATION fields");
    is_int(spans[13].len, 4 + 1 + 20 + 4, "DURATION: 29 bytes (length 21)");
    {
        uint8_t zero[20] = {0};
        jrecord z;
        is_int(journal_decode(JR_DURATION, zero, 20, &z), -1, "a DURATION of key 0: malformed");
        is_int(journal_decode(JR_DURATION, zero, 19, &z), -1, "a DURATION of 19 bytes: malformed");
    }
    const jr_cache *k = &s.rec[14].u.cache;
    ok(s.rec[14].type == JR_CACHE && k->key[0] == 0xC0 && k->key[31] == 0xC0 + 31 &&
           k->stored_ms == 1700000000800ull && k->host_len == 14 && memcmp(k->host, "127.0.0.1:7001", 14) == 0 &&
           k->body_len == result_body_len && memcmp(k->body, result_body, result_body_len) == 0,
       "CACHE fields: key, stored_ms, host, the body as result_encode made it");
    is_int(spans[14].len, JOURNAL_FRAMING + 1 + 32 + 8 + 2 + 14 + result_body_len, "CACHE: its length");
    const jr_queued *q = &s.rec[15].u.queued;
    ok(s.rec[15].type == JR_QUEUED && q->batch == 0xB1 && q->index == 1 && q->wall_ms == 1700000000900ull &&
           q->boot_ms == 123456789ull && q->boot_id == 0x2b99262cb0814dbbull,
       "QUEUED fields: batch, index, wall_ms, boot_ms, boot_id");
    is_int(spans[15].len, JOURNAL_FRAMING + 1 + 8 + 4 + 8 + 8 + 8, "QUEUED: 45 bytes (length 37)");
    {
        uint8_t zero[36] = {0};
        jrecord z;
        is_int(journal_decode(JR_QUEUED, zero, 35, &z), -1, "a QUEUED payload of 35 bytes: malformed");
        is_int(journal_decode(JR_QUEUED, zero, 36, &z), 0, "of 36: decodes");
    }

    /* the bytes of one record, by hand */
    const uint8_t *f = journal + spans[10].off;
    static const uint8_t want[] = {0, 0, 0, 9, JR_FORGET, 0, 0, 0, 0, 0, 0, 0, 0xB1};
    ok(spans[10].len == 17 && memcmp(f, want, sizeof want) == 0 && get_u32(f + 13) == crc32c(0, f, 13),
       "FORGET: length 9, type 9, batch, then the CRC of those 13 bytes");
    is_int(spans[0].len, 4 + 1 + 22 + 4, "HEADER: 31 bytes");
}

/* Encoders refuse what a decoder would refuse, and leave the writer as it was. */
static void test_encoder_limits(void)
{
    uint8_t buf[256];
    bwriter w;
    bw_init_fixed(&w, buf, sizeof buf);
    jr_forget f = {1};
    jr_forget_encode(&w, &f);
    size_t before = bw_pending(&w);
    jr_command c = {1, 0, 1, MAX_COMMAND_LEN + 1, "x"};
    jr_command_encode(&w, &c);
    ok(w.error && bw_pending(&w) == before, "COMMAND over MAX_COMMAND_LEN: error, writer unchanged");
    w.error = 0;
    jr_result r = {1, 0, 1, 0, "", RESULT_MAX_BYTES + 1, (const uint8_t *)"x"};
    jr_result_encode(&w, &r);
    ok(w.error && bw_pending(&w) == before, "RESULT body over RESULT_MAX_BYTES: error, writer unchanged");
    w.error = 0;
    char name[300];
    memset(name, 'n', sizeof name);
    jr_batch b = {1, 2, 3, 4, sizeof name, name};
    jr_batch_encode(&w, &b);
    ok(w.error && bw_pending(&w) == before, "a record that does not fit: error, the partial record taken out");
    w.error = 0;
    jrecord bad = {.type = 42};
    journal_encode(&w, &bad);
    ok(w.error && bw_pending(&w) == before, "journal_encode of an unknown type: error");
}

static void test_decoders(void)
{
    uint8_t p[64] = {0};
    jrecord r;
    jr_header h;
    put_u32(p, JOURNAL_MAGIC);
    p[4] = 0, p[5] = 1;
    is_int(jr_header_decode(p, 22, &h), 0, "HEADER of 22 bytes decodes");
    is_int(jr_header_decode(p, 23, &h), -1, "a trailing byte is malformed");
    is_int(jr_header_decode(p, 21, &h), -1, "a short HEADER is malformed");
    p[5] = 2;
    ok(jr_header_decode(p, 22, &h) == -2 && h.version == 2, "HEADER of version 2: -2, version said");
    p[0] = 'X';
    is_int(jr_header_decode(p, 22, &h), -1, "a bad magic is malformed");
    memset(p, 0, sizeof p);
    is_int(journal_decode(JR_FORGET, p, 8, &r), 0, "FORGET of 8 bytes");
    is_int(journal_decode(JR_FORGET, p, 9, &r), -1, "FORGET of 9 bytes: malformed");
    is_int(journal_decode(JR_END, p, 11, &r), -1, "END of 11 bytes: malformed");
    p[8 + 4 + 4 + 1] = 0; /* a NUL inside the line */
    p[16] = 'a';
    is_int(journal_decode(JR_COMMAND, p, 18, &r), -1, "COMMAND with a NUL in its line: malformed");
    memset(p, 0, sizeof p);
    p[24] = 0xFF, p[25] = 0xFF; /* name_len 65535, 2 bytes left */
    is_int(journal_decode(JR_BATCH, p, 28, &r), -1, "BATCH whose name_len runs past the payload: malformed");
    is_int(journal_decode(0, p, 8, &r), -3, "type 0 is unknown");
    is_int(journal_decode(JR_TYPE_MAX + 1, p, 8, &r), -3, "the type after the last is unknown");
    is_int(journal_decode(JR_CACHE, p, 8, &r), -1, "CACHE shorter than its key: malformed");
    is_int(strcmp(jrecord_type_name(JR_CACHE), "cache"), 0, "CACHE's name");
    is_int(strcmp(jrecord_type_name(JR_QUEUED), "queued"), 0, "QUEUED's name");
    is_int(strcmp(jrecord_type_name(JR_RESULT), "result"), 0, "type names");
}

/* Which record holds byte i. */
static int span_of(size_t i)
{
    for (int k = 0; k < nspans; k++)
        if (i >= spans[k].off && i < spans[k].off + spans[k].len)
            return k;
    return -1;
}

/* The journal cut at every byte: the whole records before the cut, and a
 * torn tail from the start of the cut record. */
static void test_truncation(void)
{
    static scan s;
    int bad_records = 0, bad_damage = 0, bad_end = 0, first_bad = -1;
    build_journal();
    for (size_t cut = 0; cut <= journal_len; cut++) {
        read_journal(journal, cut, &s);
        int k = cut == journal_len ? nspans : span_of(cut), whole = k;
        int boundary = cut == journal_len || spans[k].off == cut;
        int good = s.n == whole;
        for (int i = 0; good && i < whole; i++)
            good = s.off[i] == spans[i].off && same_bytes(&s.rec[i], journal + spans[i].off, spans[i].len);
        bad_records += !good;
        int dgood = boundary ? s.dm.n == 0
                             : s.dm.n == 1 && s.dm.d[0].why == JD_TORN_TAIL && s.dm.d[0].offset == spans[k].off &&
                                   s.dm.d[0].bytes == cut - spans[k].off;
        bad_damage += !dgood;
        bad_end += s.r.valid_end != (boundary ? cut : spans[k].off);
        if ((!good || !dgood) && first_bad < 0)
            first_bad = (int)cut;
    }
    printf("# %zu cuts of a journal of %d records\n", journal_len + 1, nspans);
    is_int(bad_records, 0, "cut at every byte: exactly the whole records before the cut, intact");
    is_int(bad_damage, 0, "cut at every byte: a torn tail at the cut record's offset, of the bytes left (none at a boundary)");
    is_int(bad_end, 0, "cut at every byte: valid_end at the last whole record");
    if (first_bad >= 0)
        printf("#   first bad cut: %d\n", first_bad);
}

/* Does one damage report (not JD_NO_HEADER) cover exactly [off, off+len)? */
static int one_range(const scan *s, size_t off, size_t len)
{
    int ranges = 0, exact = 0;
    for (int i = 0; i < s->dm.n && i < 64; i++) {
        if (s->dm.d[i].why == JD_NO_HEADER)
            continue;
        ranges++;
        exact += s->dm.d[i].offset == off && s->dm.d[i].bytes == len;
    }
    return ranges == 1 && exact == 1;
}

/* Every other record comes back, at its offset, byte for byte. */
static int others_intact(const scan *s, int skipped)
{
    if (s->n != nspans - 1)
        return 0;
    for (int i = 0, k = 0; k < nspans; k++) {
        if (k == skipped)
            continue;
        if (s->off[i] != spans[k].off || !same_bytes(&s->rec[i], journal + spans[k].off, spans[k].len))
            return 0;
        i++;
    }
    return 1;
}

/* One byte changed at every offset (one bit, then all eight). */
static void test_flips(void)
{
    static uint8_t copy[sizeof journal];
    static scan s;
    int bad_others = 0, bad_range = 0, bad_header = 0, first_bad = -1;
    static const uint8_t masks[] = {0x01, 0xFF, 0x80};
    build_journal();
    for (size_t m = 0; m < sizeof masks; m++)
        for (size_t i = 0; i < journal_len; i++) {
            memcpy(copy, journal, journal_len);
            copy[i] ^= masks[m];
            read_journal(copy, journal_len, &s);
            int k = span_of(i);
            int others = others_intact(&s, k);
            int range = one_range(&s, spans[k].off, spans[k].len);
            int no_header = 0;
            for (int d = 0; d < s.dm.n; d++)
                no_header += s.dm.d[d].why == JD_NO_HEADER && s.dm.d[d].offset == spans[1].off;
            int header = k == 0 ? no_header == 1 && !s.r.header_ok : no_header == 0 && s.r.header_ok;
            bad_others += !others;
            bad_range += !range;
            bad_header += !header;
            if ((!others || !range || !header) && first_bad < 0)
                first_bad = (int)i;
        }
    is_int(bad_others, 0, "a changed byte anywhere: every other record comes back intact, at its offset");
    is_int(bad_range, 0, "a changed byte anywhere: one damaged range, exactly the record that holds it");
    is_int(bad_header, 0, "a changed byte in the HEADER: 'no header' at the next record; elsewhere the header is fine");
    if (first_bad >= 0)
        printf("#   first bad offset: %d\n", first_bad);
}

/* Bytes inserted at a record boundary: one damaged range of exactly those
 * bytes, every record back at its (shifted) offset. */
static int inserted(size_t at, const uint8_t *junk, size_t n, int *why)
{
    static uint8_t copy[sizeof journal + 4096];
    static scan s;
    memcpy(copy, journal, at);
    memcpy(copy + at, junk, n);
    memcpy(copy + at + n, journal + at, journal_len - at);
    read_journal(copy, journal_len + n, &s);
    int good = s.n == nspans && s.dm.n == 1 && s.dm.d[0].offset == at && s.dm.d[0].bytes == n;
    for (int k = 0; good && k < nspans; k++) {
        size_t off = spans[k].off + (spans[k].off >= at ? n : 0);
        good = s.off[k] == off && same_bytes(&s.rec[k], journal + spans[k].off, spans[k].len);
    }
    *why = s.dm.n ? (int)s.dm.d[0].why : 0;
    return good;
}

static void test_garbage(void)
{
    uint8_t junk[600];
    int bad = 0, tries = 0, why;
    build_journal();
    for (int k = 1; k <= nspans; k++) {
        size_t at = k < nspans ? spans[k].off : journal_len;
        for (size_t n = 1; n <= 64; n += (n < 12 ? 1 : 13)) {
            for (size_t i = 0; i < n; i++)
                junk[i] = (uint8_t)tap_rand();
            bad += !inserted(at, junk, n, &why);
            tries++;
        }
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)tap_rand();
        bad += !inserted(at, junk, sizeof junk, &why);
        memset(junk, 0, 40);
        bad += !inserted(at, junk, 40, &why);
        memset(junk, 0xFF, 40);
        bad += !inserted(at, junk, 40, &why);
        tries += 3;
    }
    printf("# %d insertions of garbage\n", tries);
    is_int(bad, 0, "garbage between records (random, zeros, 0xFF; 1 to 600 bytes): one range of exactly it, all records back");
    /* a copy of a whole good record inside garbage is found again */
    memcpy(junk, "\x13\x37", 2);
    memcpy(junk + 2, journal + spans[4].off, spans[4].len);
    static uint8_t copy[sizeof journal + 64];
    memcpy(copy, journal, spans[5].off);
    memcpy(copy + spans[5].off, junk, 2 + spans[4].len);
    memcpy(copy + spans[5].off + 2 + spans[4].len, journal + spans[5].off, journal_len - spans[5].off);
    static scan s;
    read_journal(copy, journal_len + 2 + spans[4].len, &s);
    ok(s.n == nspans + 1 && s.dm.n == 1 && s.dm.d[0].bytes == 2 && s.off[5] == spans[5].off + 2,
       "resync stops at the first good record: 2 bytes of damage, then a (duplicate) END record");
    junk[2 + spans[4].len - 1] ^= 1; /* the copy's CRC is wrong: it is garbage too */
    ok(inserted(spans[5].off, junk, 2 + spans[4].len, &why),
       "resync passes over a well-formed record whose CRC is wrong: one range of all of it");
}

/* Length fields of 0, of JOURNAL_RECORD_MAX + 1, of 4 GiB - 1; one that
 * runs past the end. */
static void test_lengths(void)
{
    static const uint32_t lens[] = {0, JOURNAL_RECORD_MAX + 1, 0xFFFFFFFFu};
    int why, bad = 0, whys = 0;
    build_journal();
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t four[4];
        put_u32(four, lens[i]);
        for (int k = 1; k < nspans; k++) {
            bad += !inserted(spans[k].off, four, 4, &why);
            whys += why == JD_BAD_LENGTH;
        }
    }
    is_int(bad, 0, "length fields 0 and huge between records: exactly those 4 bytes damaged, every record back");
    is_int(whys, 3 * (nspans - 1), "and reported as a bad length");

    /* a length that is plausible but runs past the end, in the middle: damage, not a torn tail */
    static uint8_t copy[sizeof journal];
    static scan s;
    memcpy(copy, journal, journal_len);
    put_u32(copy + spans[3].off, 1u << 20);
    read_journal(copy, journal_len, &s);
    ok(s.n == nspans - 1 && s.dm.n == 1 && s.dm.d[0].why == JD_BAD_LENGTH && s.dm.d[0].offset == spans[3].off &&
           s.dm.d[0].bytes == spans[3].len, "a 1 MiB length in the middle: bad length of one record, the rest read");
    /* the same at the last record: a torn tail */
    memcpy(copy, journal, journal_len);
    put_u32(copy + spans[nspans - 1].off, 1u << 20);
    read_journal(copy, journal_len, &s);
    ok(s.n == nspans - 1 && s.dm.n == 1 && s.dm.d[0].why == JD_TORN_TAIL && s.dm.d[0].offset == spans[nspans - 1].off &&
           s.r.valid_end == spans[nspans - 1].off, "a 1 MiB length at the last record: a torn tail");
}

/* Frames any payload with a right CRC. */
static size_t frame_raw(uint8_t *out, uint8_t type, const void *payload, size_t n)
{
    put_u32(out, (uint32_t)(n + 1));
    out[4] = type;
    memcpy(out + 5, payload, n);
    put_u32(out + 5 + n, crc32c(0, out, 5 + n));
    return n + 9;
}

static void test_good_crc_bad_record(void)
{
    uint8_t rec[64], p[16] = {0};
    int why;
    build_journal();
    size_t n = frame_raw(rec, 99, "future", 6);
    ok(inserted(spans[2].off, rec, n, &why) && why == JD_UNKNOWN_TYPE, "unknown type with a good CRC: reported (its bytes), skipped");
    n = frame_raw(rec, JR_FORGET, p, 9);
    ok(inserted(spans[2].off, rec, n, &why) && why == JD_MALFORMED, "FORGET of 9 bytes with a good CRC: malformed, skipped");
    n = frame_raw(rec, JR_END, p, 0);
    ok(inserted(spans[2].off, rec, n, &why) && why == JD_MALFORMED, "END with no payload (length 1): malformed, skipped");
}

static void test_versions(void)
{
    uint8_t buf[sizeof journal + 64];
    bwriter w;
    static scan s;
    build_journal();
    bw_init_fixed(&w, buf, sizeof buf);
    jr_header h = {JOURNAL_MAGIC, 2, 1, 2};
    jr_header_encode(&w, &h);
    bw_bytes(&w, journal + spans[1].off, journal_len - spans[1].off);
    read_journal(buf, bw_pending(&w), &s);
    ok(s.n == 0 && s.dm.n == 1 && s.dm.d[0].why == JD_OTHER_VERSION && s.dm.d[0].offset == 0 &&
           s.dm.d[0].bytes == bw_pending(&w) && s.dm.d[0].version == 2,
       "a journal of version 2: reported as such (the whole file), no record read");
    ok(!s.r.header_ok && s.r.version == 2 && s.r.stopped, "the reader says version 2 and stops");

    read_journal(journal + spans[1].off, journal_len - spans[1].off, &s);
    ok(s.n == nspans - 1 && s.dm.n == 1 && s.dm.d[0].why == JD_NO_HEADER && s.dm.d[0].offset == 0 &&
           s.dm.d[0].bytes == 0 && s.dm.d[0].type == JR_BATCH && !s.r.header_ok,
       "no HEADER: reported once, the records still read");
    read_journal(journal, 0, &s);
    ok(s.n == 0 && s.dm.n == 0 && s.r.valid_end == 0, "an empty journal: nothing, no damage");
}

int main(void)
{
    test_crc();
    speed();
    test_round_trip();
    test_encoder_limits();
    test_decoders();
    test_truncation();
    test_flips();
    test_garbage();
    test_lengths();
    test_good_crc_bad_record();
    test_versions();
    return done_testing();
}
