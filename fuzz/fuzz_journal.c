/* Fuzz target: a journal file after a crash is untrusted input. The input
 * is a journal, read by lib/journal.c's reader and printed by
 * --dump-journal's code (master/journal_dump.c, included: the fuzz builds
 * do not link master/).
 *
 * Invariants checked (abort, so libFuzzer reports the input):
 *  - the records and the damage reports tile the input: each begins where
 *    the one before ended, and the last ends at the input's end (no byte
 *    read twice, none left unsaid);
 *  - every record returned encodes again to its exact bytes;
 *  - the dump prints one JSON object a line, no raw control byte, and
 *    says "damaged" whenever the reader reported damage.
 * Each input is read twice: as it is, and with its records' CRCs made
 * right (with_right_crcs). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal.h"

#include "../master/journal_dump.c"

typedef struct {
    size_t at; /* where the next record or damage must begin */
} tiling;

static void on_damage_tiled(void *ctx, const jdamage *d)
{
    tiling *t = ctx;
    if (d->offset != t->at)
        abort();
    if (d->why == JD_NO_HEADER) { /* says something of the next record: no bytes of its own */
        if (d->bytes != 0)
            abort();
        return;
    }
    t->at = d->offset + d->bytes;
}

static void check_reader(const uint8_t *data, size_t size, unsigned *damaged)
{
    tiling t = {0};
    jreader r;
    jrecord rec;
    size_t off;
    bwriter w;
    bw_init(&w, JOURNAL_RECORD_MAX + JOURNAL_FRAMING);
    jreader_init(&r, data, size, on_damage_tiled, &t);
    while (jreader_next(&r, &rec, &off) == 1) {
        if (off != t.at || r.pos <= off || r.pos > size)
            abort();
        bw_reset(&w);
        journal_encode(&w, &rec);
        if (w.error || bw_pending(&w) != r.pos - off || memcmp(bw_head(&w), data + off, r.pos - off) != 0)
            abort();
        t.at = r.pos;
    }
    if (t.at != size || r.valid_end > size)
        abort();
    *damaged = r.damaged;
    bw_free(&w);
}

static void check_dump(const uint8_t *data, size_t size, unsigned damaged)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (!f)
        return;
    int rc = journal_dump_bytes(data, size, f);
    fclose(f);
    if (damaged && rc != 1)
        abort();
    for (size_t i = 0; i < n;) {
        char *nl = memchr(out + i, '\n', n - i);
        if (!nl || strncmp(out + i, "{\"offset\":", 10) != 0 || nl[-1] != '}')
            abort();
        for (char *c = out + i; c < nl; c++)
            if ((unsigned char)*c < 0x20)
                abort();
        i = (size_t)(nl - out) + 1;
    }
    free(out);
}

/* libFuzzer cannot forge a CRC: a copy of the input with the CRC of each
 * record made right (following the length fields from the start) goes
 * through too, so that the decoders behind the CRC are reached. */
static uint8_t *with_right_crcs(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    for (size_t pos = 0; size - pos >= JOURNAL_FRAMING + 1;) {
        uint32_t len = get_u32(p + pos);
        if (len == 0 || len > JOURNAL_RECORD_MAX || size - pos - JOURNAL_FRAMING < len)
            break;
        put_u32(p + pos + 4 + len, crc32c(0, p + pos, 4 + (size_t)len));
        pos += JOURNAL_FRAMING + len;
    }
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned damaged = 0;
    check_reader(data, size, &damaged);
    check_dump(data, size, damaged);
    uint8_t *fixed = with_right_crcs(data, size);
    check_reader(fixed, size, &damaged);
    check_dump(fixed, size, damaged);
    free(fixed);
    return 0;
}
