/* journal.c - the journal's records, their codec and the reader (see
 * journal.h; doc/journal.md describes the bytes). */
#include "journal.h"

#include <string.h>

/* ------------------------------------------------------------- crc --- */

/* Slicing-by-8 (Intel's): eight tables, eight bytes a step; built once. */
static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? c >> 1 ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = crc_table[t - 1][i] >> 8 ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
    crc_ready = 1;
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (!crc_ready)
        crc_init();
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xFF] ^ crc_table[6][lo >> 8 & 0xFF] ^ crc_table[5][lo >> 16 & 0xFF] ^
              crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
              crc_table[0][p[7]];
    }
    while (n--)
        crc = crc >> 8 ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

/* ---------------------------------------------------------- framing --- */

/* The record's place counts from the writer's head (see frame_begin):
 * appending may move the buffer. */
static size_t record_begin(bwriter *w, uint8_t type)
{
    size_t start = bw_pending(w);
    bw_u32(w, 0); /* length, patched by record_end */
    bw_u8(w, type);
    return start;
}

/* Patches the length, appends the CRC; on any error takes the partial
 * record back out, so that w holds whole records only. */
static void record_end(bwriter *w, size_t start)
{
    size_t len = w->error ? 0 : bw_pending(w) - start - 4;
    if (!w->error && len > JOURNAL_RECORD_MAX)
        w->error = 1;
    if (!w->error) {
        put_u32(bw_at(w, start), (uint32_t)len);
        bw_u32(w, crc32c(0, bw_at(w, start), 4 + len));
    }
    if (w->error && bw_pending(w) > start)
        w->len = w->head + start;
}

/* A string with a u16 length before it; longer than that is an error. */
static void put_string16(bwriter *w, const char *s, size_t n)
{
    if (n > 0xFFFF) {
        w->error = 1;
        return;
    }
    bw_u16(w, (uint16_t)n);
    bw_bytes(w, s, n);
}

/* ----------------------------------------------------------- encoders --- */

size_t jr_header_encode(bwriter *w, const jr_header *r)
{
    size_t start = record_begin(w, JR_HEADER);
    bw_u32(w, r->magic);
    bw_u16(w, r->version);
    bw_u64(w, r->identity);
    bw_u64(w, r->created_ms);
    record_end(w, start);
    return start;
}

size_t jr_batch_encode(bwriter *w, const jr_batch *r)
{
    size_t start = record_begin(w, JR_BATCH);
    bw_u64(w, r->batch);
    bw_u64(w, r->created_ms);
    bw_u32(w, r->timeout_ms);
    bw_u32(w, r->retries);
    put_string16(w, r->name, r->name_len);
    record_end(w, start);
    return start;
}

size_t jr_command_encode(bwriter *w, const jr_command *r)
{
    size_t start = record_begin(w, JR_COMMAND);
    bw_u64(w, r->batch);
    bw_u32(w, r->index);
    bw_u32(w, r->seq);
    if (r->line_len > MAX_COMMAND_LEN)
        w->error = 1;
    bw_bytes(w, r->line, r->line_len);
    record_end(w, start);
    return start;
}

size_t jr_end_encode(bwriter *w, const jr_end *r)
{
    size_t start = record_begin(w, JR_END);
    bw_u64(w, r->batch);
    bw_u32(w, r->count);
    record_end(w, start);
    return start;
}

size_t jr_dispatch_encode(bwriter *w, const jr_dispatch *r)
{
    size_t start = record_begin(w, JR_DISPATCH);
    bw_u64(w, r->batch);
    bw_u32(w, r->index);
    bw_u64(w, r->job_id);
    bw_u64(w, r->slave_boot);
    put_string16(w, r->slave, r->slave_len);
    record_end(w, start);
    return start;
}

size_t jr_result_encode(bwriter *w, const jr_result *r)
{
    size_t start = record_begin(w, JR_RESULT);
    bw_u64(w, r->batch);
    bw_u32(w, r->index);
    bw_u32(w, r->seq);
    put_string16(w, r->host, r->host_len);
    if (r->body_len > RESULT_MAX_BYTES)
        w->error = 1;
    bw_bytes(w, r->body, r->body_len);
    record_end(w, start);
    return start;
}

size_t jr_delivered_encode(bwriter *w, const jr_delivered *r)
{
    size_t start = record_begin(w, JR_DELIVERED);
    bw_u64(w, r->batch);
    bw_u32(w, r->count);
    bw_u64(w, r->at_ms);
    record_end(w, start);
    return start;
}

/* CANCEL and DETACH have the same fields. */
static size_t batch_at_encode(bwriter *w, uint8_t type, uint64_t batch, uint64_t at_ms)
{
    size_t start = record_begin(w, type);
    bw_u64(w, batch);
    bw_u64(w, at_ms);
    record_end(w, start);
    return start;
}

size_t jr_cancel_encode(bwriter *w, const jr_cancel *r)
{
    return batch_at_encode(w, JR_CANCEL, r->batch, r->at_ms);
}

size_t jr_detach_encode(bwriter *w, const jr_detach *r)
{
    return batch_at_encode(w, JR_DETACH, r->batch, r->at_ms);
}

size_t jr_forget_encode(bwriter *w, const jr_forget *r)
{
    size_t start = record_begin(w, JR_FORGET);
    bw_u64(w, r->batch);
    record_end(w, start);
    return start;
}

size_t jr_slave_encode(bwriter *w, const jr_slave *r)
{
    size_t start = record_begin(w, JR_SLAVE);
    bw_u64(w, r->next_id);
    put_string16(w, r->slave, r->slave_len);
    record_end(w, start);
    return start;
}

size_t jr_options_encode(bwriter *w, const jr_options *r)
{
    size_t start = record_begin(w, JR_OPTIONS);
    bw_u64(w, r->batch);
    if (r->fields_len > FRAME_MAX_FROM_CLIENT)
        w->error = 1;
    bw_bytes(w, r->fields, r->fields_len);
    record_end(w, start);
    return start;
}

size_t jr_duration_encode(bwriter *w, const jr_duration *r)
{
    size_t start = record_begin(w, JR_DURATION);
    bw_u64(w, r->key);
    bw_u64(w, r->avg_us);
    bw_u32(w, r->runs);
    record_end(w, start);
    return start;
}

size_t jr_cache_encode(bwriter *w, const jr_cache *r)
{
    size_t start = record_begin(w, JR_CACHE);
    bw_bytes(w, r->key, JR_CACHE_KEY_LEN);
    bw_u64(w, r->stored_ms);
    put_string16(w, r->host, r->host_len);
    if (r->body_len > RESULT_MAX_BYTES)
        w->error = 1;
    bw_bytes(w, r->body, r->body_len);
    record_end(w, start);
    return start;
}

size_t jr_queued_encode(bwriter *w, const jr_queued *r)
{
    size_t start = record_begin(w, JR_QUEUED);
    bw_u64(w, r->batch);
    bw_u32(w, r->index);
    bw_u64(w, r->wall_ms);
    bw_u64(w, r->boot_ms);
    bw_u64(w, r->boot_id);
    record_end(w, start);
    return start;
}

size_t journal_encode(bwriter *w, const jrecord *r)
{
    switch (r->type) {
    case JR_HEADER: return jr_header_encode(w, &r->u.header);
    case JR_BATCH: return jr_batch_encode(w, &r->u.batch);
    case JR_COMMAND: return jr_command_encode(w, &r->u.command);
    case JR_END: return jr_end_encode(w, &r->u.end);
    case JR_DISPATCH: return jr_dispatch_encode(w, &r->u.dispatch);
    case JR_RESULT: return jr_result_encode(w, &r->u.result);
    case JR_DELIVERED: return jr_delivered_encode(w, &r->u.delivered);
    case JR_CANCEL: return jr_cancel_encode(w, &r->u.cancel);
    case JR_FORGET: return jr_forget_encode(w, &r->u.forget);
    case JR_DETACH: return jr_detach_encode(w, &r->u.detach);
    case JR_SLAVE: return jr_slave_encode(w, &r->u.slave);
    case JR_OPTIONS: return jr_options_encode(w, &r->u.options);
    case JR_DURATION: return jr_duration_encode(w, &r->u.duration);
    case JR_CACHE: return jr_cache_encode(w, &r->u.cache);
    case JR_QUEUED: return jr_queued_encode(w, &r->u.queued);
    }
    w->error = 1;
    return bw_pending(w);
}

/* ----------------------------------------------------------- decoders --- */

/* Every decoder reads the whole payload: bytes left over are malformed
 * (a record that changes is a new version, never a longer record). */
static int finish(const breader *rd)
{
    return rd->error || br_left(rd) != 0 ? -1 : 0;
}

static const char *get_string16(breader *rd, uint16_t *len)
{
    *len = br_u16(rd);
    return (const char *)br_bytes(rd, *len);
}

int jr_header_decode(const uint8_t *p, size_t n, jr_header *r)
{
    breader rd;
    br_init(&rd, p, n);
    memset(r, 0, sizeof *r);
    r->magic = br_u32(&rd);
    r->version = br_u16(&rd);
    if (rd.error || r->magic != JOURNAL_MAGIC)
        return -1;
    if (r->version != JOURNAL_VERSION)
        return -2;
    r->identity = br_u64(&rd);
    r->created_ms = br_u64(&rd);
    return finish(&rd);
}

int jr_batch_decode(const uint8_t *p, size_t n, jr_batch *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->created_ms = br_u64(&rd);
    r->timeout_ms = br_u32(&rd);
    r->retries = br_u32(&rd);
    r->name = get_string16(&rd, &r->name_len);
    return finish(&rd);
}

int jr_command_decode(const uint8_t *p, size_t n, jr_command *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->index = br_u32(&rd);
    r->seq = br_u32(&rd);
    size_t left = br_left(&rd);
    if (rd.error || left > MAX_COMMAND_LEN)
        return -1;
    r->line_len = (uint32_t)left;
    r->line = (const char *)br_bytes(&rd, left);
    if (memchr(r->line, 0, left)) /* the master never accepts a NUL in a command */
        return -1;
    return finish(&rd);
}

int jr_end_decode(const uint8_t *p, size_t n, jr_end *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->count = br_u32(&rd);
    return finish(&rd);
}

int jr_dispatch_decode(const uint8_t *p, size_t n, jr_dispatch *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->index = br_u32(&rd);
    r->job_id = br_u64(&rd);
    r->slave_boot = br_u64(&rd);
    r->slave = get_string16(&rd, &r->slave_len);
    return finish(&rd);
}

int jr_result_decode(const uint8_t *p, size_t n, jr_result *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->index = br_u32(&rd);
    r->seq = br_u32(&rd);
    r->host = get_string16(&rd, &r->host_len);
    size_t left = br_left(&rd);
    if (rd.error || left > RESULT_MAX_BYTES)
        return -1;
    r->body_len = (uint32_t)left;
    r->body = br_bytes(&rd, left);
    return finish(&rd);
}

int jr_delivered_decode(const uint8_t *p, size_t n, jr_delivered *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->count = br_u32(&rd);
    r->at_ms = br_u64(&rd);
    return finish(&rd);
}

int jr_cancel_decode(const uint8_t *p, size_t n, jr_cancel *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->at_ms = br_u64(&rd);
    return finish(&rd);
}

int jr_detach_decode(const uint8_t *p, size_t n, jr_detach *r)
{
    return jr_cancel_decode(p, n, r);
}

int jr_forget_decode(const uint8_t *p, size_t n, jr_forget *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    return finish(&rd);
}

int jr_slave_decode(const uint8_t *p, size_t n, jr_slave *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->next_id = br_u64(&rd);
    r->slave = get_string16(&rd, &r->slave_len);
    return finish(&rd);
}

int jr_options_decode(const uint8_t *p, size_t n, jr_options *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    size_t left = br_left(&rd);
    if (rd.error || left > FRAME_MAX_FROM_CLIENT)
        return -1;
    r->fields_len = (uint32_t)left;
    r->fields = br_bytes(&rd, left);
    return finish(&rd);
}

int jr_duration_decode(const uint8_t *p, size_t n, jr_duration *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->key = br_u64(&rd);
    r->avg_us = br_u64(&rd);
    r->runs = br_u32(&rd);
    return finish(&rd) < 0 || !r->key ? -1 : 0;
}

int jr_cache_decode(const uint8_t *p, size_t n, jr_cache *r)
{
    breader rd;
    br_init(&rd, p, n);
    const uint8_t *key = br_bytes(&rd, JR_CACHE_KEY_LEN);
    if (key)
        memcpy(r->key, key, JR_CACHE_KEY_LEN);
    r->stored_ms = br_u64(&rd);
    r->host = get_string16(&rd, &r->host_len);
    size_t left = br_left(&rd);
    if (rd.error || left > RESULT_MAX_BYTES)
        return -1;
    r->body_len = (uint32_t)left;
    r->body = br_bytes(&rd, left);
    return finish(&rd);
}

int jr_queued_decode(const uint8_t *p, size_t n, jr_queued *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->batch = br_u64(&rd);
    r->index = br_u32(&rd);
    r->wall_ms = br_u64(&rd);
    r->boot_ms = br_u64(&rd);
    r->boot_id = br_u64(&rd);
    return finish(&rd);
}

int journal_decode(uint8_t type, const uint8_t *payload, size_t len, jrecord *out)
{
    out->type = type;
    switch (type) {
    case JR_HEADER: return jr_header_decode(payload, len, &out->u.header);
    case JR_BATCH: return jr_batch_decode(payload, len, &out->u.batch);
    case JR_COMMAND: return jr_command_decode(payload, len, &out->u.command);
    case JR_END: return jr_end_decode(payload, len, &out->u.end);
    case JR_DISPATCH: return jr_dispatch_decode(payload, len, &out->u.dispatch);
    case JR_RESULT: return jr_result_decode(payload, len, &out->u.result);
    case JR_DELIVERED: return jr_delivered_decode(payload, len, &out->u.delivered);
    case JR_CANCEL: return jr_cancel_decode(payload, len, &out->u.cancel);
    case JR_FORGET: return jr_forget_decode(payload, len, &out->u.forget);
    case JR_DETACH: return jr_detach_decode(payload, len, &out->u.detach);
    case JR_SLAVE: return jr_slave_decode(payload, len, &out->u.slave);
    case JR_OPTIONS: return jr_options_decode(payload, len, &out->u.options);
    case JR_DURATION: return jr_duration_decode(payload, len, &out->u.duration);
    case JR_CACHE: return jr_cache_decode(payload, len, &out->u.cache);
    case JR_QUEUED: return jr_queued_decode(payload, len, &out->u.queued);
    }
    return -3;
}

const char *jrecord_type_name(uint8_t type)
{
    static const char *const names[] = {NULL,       "header",   "batch",     "command", "end", "dispatch",
                                        "result",   "delivered", "cancel",   "forget",  "detach",
                                        "slave",    "options",   "duration", "cache",   "queued"};
    return type >= 1 && type <= JR_TYPE_MAX && names[type] ? names[type] : "unknown";
}

/* ------------------------------------------------------------- reader --- */

const char *jdamage_why_name(enum jdamage_why why)
{
    switch (why) {
    case JD_TORN_TAIL: return "torn tail";
    case JD_BAD_CHECKSUM: return "bad checksum";
    case JD_BAD_LENGTH: return "bad length";
    case JD_MALFORMED: return "malformed record";
    case JD_UNKNOWN_TYPE: return "unknown record type";
    case JD_NO_HEADER: return "no header";
    case JD_OTHER_VERSION: return "another journal version";
    }
    return "damage";
}

void jreader_init(jreader *r, const uint8_t *data, size_t len, jdamage_fn on_damage, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->len = len;
    r->on_damage = on_damage;
    r->ctx = ctx;
}

static void report(jreader *r, enum jdamage_why why, size_t offset, size_t bytes, uint8_t type)
{
    jdamage d = {why, offset, bytes, type, r->version};
    r->damaged++;
    r->damaged_bytes += bytes;
    if (r->on_damage)
        r->on_damage(r->ctx, &d);
}

/* What is at pos: a whole record with a good CRC (its length in *len), or
 * why not. */
enum { AT_WHOLE, AT_SHORT, AT_BAD_LENGTH, AT_BAD_CRC };

static int record_at(const jreader *r, size_t pos, uint32_t *len)
{
    const uint8_t *p = r->data + pos;
    size_t have = r->len - pos;
    if (have < 4)
        return AT_SHORT;
    *len = get_u32(p);
    if (*len == 0 || *len > JOURNAL_RECORD_MAX)
        return AT_BAD_LENGTH;
    if (have - 4 < (size_t)*len + 4)
        return AT_SHORT;
    if (crc32c(0, p, 4 + (size_t)*len) != get_u32(p + 4 + *len))
        return AT_BAD_CRC;
    return AT_WHOLE;
}

/* Could a record start at pos? Cheap tests before the CRC: a known type
 * whose payload decodes (and, for a RESULT, whose body does), so that a
 * scan through garbage computes few CRCs. */
static int plausible_at(const jreader *r, size_t pos)
{
    const uint8_t *p = r->data + pos;
    uint32_t len = get_u32(p);
    if (len < 1 || len > JOURNAL_RECORD_MAX || r->len - pos - 4 < (size_t)len + 4)
        return 0;
    jrecord rec;
    if (journal_decode(p[4], p + 5, len - 1, &rec) != 0)
        return 0;
    if (rec.type == JR_RESULT || rec.type == JR_CACHE) {
        breader rd;
        CommandResult res;
        if (rec.type == JR_RESULT)
            br_init(&rd, rec.u.result.body, rec.u.result.body_len);
        else
            br_init(&rd, rec.u.cache.body, rec.u.cache.body_len);
        if (result_decode(&rd, &res) < 0 || br_left(&rd) != 0)
            return 0;
    }
    return 1;
}

/* The next offset from 'from' where a plausible record with a good CRC
 * starts, or the end. */
static size_t resync(const jreader *r, size_t from)
{
    uint32_t len;
    for (size_t q = from; q < r->len && r->len - q >= JOURNAL_FRAMING + 1; q++)
        if (plausible_at(r, q) && record_at(r, q, &len) == AT_WHOLE)
            return q;
    return r->len;
}

/* No good record at pos: skip to the next one, reporting the range. An
 * incomplete record with nothing good after it is the torn tail. */
static void skip_damage(jreader *r, size_t pos, int at)
{
    size_t next = resync(r, pos + 1);
    if (next == r->len && at == AT_SHORT) {
        report(r, JD_TORN_TAIL, pos, r->len - pos, 0);
        r->stopped = 1;
    } else {
        report(r, at == AT_BAD_CRC ? JD_BAD_CHECKSUM : JD_BAD_LENGTH, pos, next - pos, 0);
    }
    r->pos = next;
}

/* The first good record must be a HEADER of this version. -1: another
 * version, reading stops. */
static int check_first(jreader *r, size_t pos, int rc, const jrecord *rec)
{
    r->first_done = 1;
    if (rec->type != JR_HEADER) {
        report(r, JD_NO_HEADER, pos, 0, rec->type);
        return 0;
    }
    if (rc == -2) {
        r->version = rec->u.header.version;
        report(r, JD_OTHER_VERSION, pos, r->len - pos, JR_HEADER);
        r->stopped = 1;
        return -1;
    }
    if (rc == 0) {
        r->version = JOURNAL_VERSION;
        r->header_ok = 1;
    }
    return 0;
}

/* A whole record with a good CRC at pos: 1 if it is for the caller, 0 if
 * it was reported and skipped, -1 if reading stops. */
static int take_record(jreader *r, size_t pos, uint32_t len, jrecord *out)
{
    uint8_t type = r->data[pos + 4];
    int rc = journal_decode(type, r->data + pos + 5, len - 1, out);
    if (!r->first_done && check_first(r, pos, rc, out) < 0)
        return -1;
    if (rc == -3)
        report(r, JD_UNKNOWN_TYPE, pos, JOURNAL_FRAMING + len, type);
    else if (rc != 0)
        report(r, JD_MALFORMED, pos, JOURNAL_FRAMING + len, type);
    return rc == 0;
}

int jreader_next(jreader *r, jrecord *out, size_t *offset)
{
    while (!r->stopped && r->pos < r->len) {
        size_t pos = r->pos;
        uint32_t len = 0;
        int at = record_at(r, pos, &len);
        if (at != AT_WHOLE) {
            skip_damage(r, pos, at);
            continue;
        }
        r->pos = pos + JOURNAL_FRAMING + len;
        int rc = take_record(r, pos, len, out);
        if (rc < 0)
            return 0;
        r->valid_end = r->pos;
        if (rc == 1) {
            if (offset)
                *offset = pos;
            return 1;
        }
    }
    return 0;
}
