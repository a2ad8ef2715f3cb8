/*
 * journal.h - the master's journal on disk: its records, their codec and
 * a reader that survives damage (doc/journal.md is the reference).
 *
 * A record is [u32 length][u8 type][payload][u32 crc32c], big-endian like
 * the wire; length counts the type and the payload, the CRC covers the
 * length, the type and the payload. A journal starts with a HEADER.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"

#define JOURNAL_MAGIC 0x534D504A /* "SMPJ" in HEADER */
#define JOURNAL_VERSION 1
/* The largest length field: a RESULT with a whole result body and room
 * for its other fields. A longer one is damage, never a record. */
#define JOURNAL_RECORD_MAX (RESULT_MAX_BYTES + 65536u)
#define JOURNAL_FRAMING 8 /* u32 length and u32 crc around type + payload */
#define JOURNAL_FILE_NAME "journal" /* in the state dir */

/* CRC-32C (Castagnoli, reflected 0x82F63B78), as iSCSI and ext4 use it.
 * Chains like zlib's crc32: crc32c(crc32c(0, a, n), b, m) is the CRC of
 * a then b; crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

enum jrecord_type {
    JR_HEADER = 1,    /* the first record: magic, version, the master's identity */
    JR_BATCH = 2,     /* a client's batch begins: its options */
    JR_COMMAND = 3,   /* one SUBMIT of a batch, accepted */
    JR_END = 4,       /* the batch's END: how many SUBMITs it has */
    JR_DISPATCH = 5,  /* a command sent to a slave under a job id */
    JR_RESULT = 6,    /* a command's result, body as result_encode makes it */
    JR_DELIVERED = 7, /* the client holds the batch's first count results */
    JR_CANCEL = 8,    /* the batch was cancelled */
    JR_FORGET = 9,    /* the batch is gone (compaction may drop its records) */
    JR_DETACH = 10,   /* the client left on purpose: the batch runs on */
    JR_SLAVE = 11,    /* compaction: the next job id of a slave (its DISPATCH records may be gone) */
    JR_OPTIONS = 12,  /* a batch's OPTIONS, the frame's fields as they came (the last one counts) */
    JR_DURATION = 13, /* a learned duration: a command line's hash, its average run time (master/history.c) */
    JR_CACHE = 14,    /* an entry of the result cache (client --cache): its key, when, the slave, the body */
    JR_QUEUED = 15,   /* when a COMMAND of a --deadline batch was first queued: wall and boot clocks */
};
#define JR_TYPE_MAX JR_QUEUED

/* One struct per record type. Decoding points the strings and the body
 * into the payload (not NUL-terminated), valid as long as the bytes. */
typedef struct {
    uint32_t magic;   /* JOURNAL_MAGIC */
    uint16_t version; /* JOURNAL_VERSION */
    uint64_t identity, created_ms;
} jr_header;

typedef struct {
    uint64_t batch, created_ms;
    uint32_t timeout_ms, retries;
    uint16_t name_len;
    const char *name;
} jr_batch;

typedef struct {
    uint64_t batch;
    uint32_t index, seq; /* index: 0-based among the batch's SUBMITs */
    uint32_t line_len;   /* the rest of the payload, at most MAX_COMMAND_LEN, no NUL */
    const char *line;
} jr_command;

typedef struct {
    uint64_t batch;
    uint32_t count;
} jr_end;

typedef struct {
    uint64_t batch;
    uint32_t index;
    uint64_t job_id, slave_boot;
    uint16_t slave_len;
    const char *slave;
} jr_dispatch;

typedef struct {
    uint64_t batch;
    uint32_t index, seq;
    uint16_t host_len;
    const char *host;
    uint32_t body_len;    /* the rest of the payload, at most RESULT_MAX_BYTES */
    const uint8_t *body;  /* a result body (result_encode), not decoded here */
} jr_result;

typedef struct {
    uint64_t batch;
    uint32_t count;
    uint64_t at_ms;
} jr_delivered;

typedef struct { /* JR_CANCEL and JR_DETACH */
    uint64_t batch, at_ms;
} jr_cancel, jr_detach;

typedef struct {
    uint64_t batch;
} jr_forget;

typedef struct {
    uint64_t next_id; /* every job id below it was given to that slave, or never will be */
    uint16_t slave_len;
    const char *slave; /* as written in slaves.conf (host:port) */
} jr_slave;

typedef struct {
    uint64_t batch;
    uint32_t fields_len; /* the rest of the payload, at most FRAME_MAX_FROM_CLIENT */
    const uint8_t *fields; /* F_OPTIONS' fields (options_frame_decode), not decoded here */
} jr_options;

typedef struct { /* of no batch: the last one of a key counts */
    uint64_t key;    /* history_key (FNV-1a 64) of the command line, not 0 */
    uint64_t avg_us; /* its runs' exponential average */
    uint32_t runs;   /* how many were averaged */
} jr_duration;
#define JR_CACHE_KEY_LEN 32 /* SHA-256 of what the command is (master/cache.c cache_key) */
typedef struct {
    uint8_t key[JR_CACHE_KEY_LEN];
    uint64_t stored_ms;  /* wall clock, when the result was stored */
    uint16_t host_len;
    const char *host;    /* the slave that ran it */
    uint32_t body_len;   /* the rest of the payload, at most RESULT_MAX_BYTES */
    const uint8_t *body; /* a result body (result_encode), not decoded here */
} jr_cache;

typedef struct { /* after its COMMAND; --deadline counts from it across restarts */
    uint64_t batch;
    uint32_t index;
    uint64_t wall_ms; /* wall clock, when it was first queued */
    uint64_t boot_ms; /* boot clock then (platform.h boot_ms) ... */
    uint64_t boot_id; /* ... of this boot (plat_boot_id; 0: unknown, the wall clock alone counts) */
} jr_queued;

typedef struct {
    uint8_t type; /* enum jrecord_type */
    union {
        jr_header header;
        jr_batch batch;
        jr_command command;
        jr_end end;
        jr_dispatch dispatch;
        jr_result result;
        jr_delivered delivered;
        jr_cancel cancel;
        jr_forget forget;
        jr_detach detach;
        jr_slave slave;
        jr_options options;
        jr_duration duration;
        jr_cache cache;
        jr_queued queued;
    } u;
} jrecord;

/* Each encoder appends one whole record (length, type, payload, crc) to w
 * and returns its start, counted from w's head (as frame_begin does). A
 * record goes in whole or not at all: a string over its u16, a line or a
 * body over its bound, or a full writer sets w->error and leaves w's
 * pending bytes as they were before the call (the caller may clear the
 * error and go on). HEADER: the magic and version are written as given
 * (JOURNAL_MAGIC, JOURNAL_VERSION). */
size_t jr_header_encode(bwriter *w, const jr_header *r);
size_t jr_batch_encode(bwriter *w, const jr_batch *r);
size_t jr_command_encode(bwriter *w, const jr_command *r);
size_t jr_end_encode(bwriter *w, const jr_end *r);
size_t jr_dispatch_encode(bwriter *w, const jr_dispatch *r);
size_t jr_result_encode(bwriter *w, const jr_result *r);
size_t jr_delivered_encode(bwriter *w, const jr_delivered *r);
size_t jr_cancel_encode(bwriter *w, const jr_cancel *r);
size_t jr_forget_encode(bwriter *w, const jr_forget *r);
size_t jr_detach_encode(bwriter *w, const jr_detach *r);
size_t jr_slave_encode(bwriter *w, const jr_slave *r);
size_t jr_options_encode(bwriter *w, const jr_options *r);
size_t jr_duration_encode(bwriter *w, const jr_duration *r);
size_t jr_cache_encode(bwriter *w, const jr_cache *r);
size_t jr_queued_encode(bwriter *w, const jr_queued *r);
/* Any record from its struct (the tagged union); w->error on an unknown type. */
size_t journal_encode(bwriter *w, const jrecord *r);

/* Each decoder takes the payload (the bytes between the type and the
 * crc): 0, or -1 if malformed (short, trailing bytes, a field over its
 * bound). jr_header_decode: -1 also for a bad magic, -2 for another
 * version (r->version says which; nothing past it is read). */
int jr_header_decode(const uint8_t *p, size_t n, jr_header *r);
int jr_batch_decode(const uint8_t *p, size_t n, jr_batch *r);
int jr_command_decode(const uint8_t *p, size_t n, jr_command *r);
int jr_end_decode(const uint8_t *p, size_t n, jr_end *r);
int jr_dispatch_decode(const uint8_t *p, size_t n, jr_dispatch *r);
int jr_result_decode(const uint8_t *p, size_t n, jr_result *r);
int jr_delivered_decode(const uint8_t *p, size_t n, jr_delivered *r);
int jr_cancel_decode(const uint8_t *p, size_t n, jr_cancel *r);
int jr_forget_decode(const uint8_t *p, size_t n, jr_forget *r);
int jr_detach_decode(const uint8_t *p, size_t n, jr_detach *r);
int jr_slave_decode(const uint8_t *p, size_t n, jr_slave *r);
int jr_options_decode(const uint8_t *p, size_t n, jr_options *r);
int jr_duration_decode(const uint8_t *p, size_t n, jr_duration *r); /* -1 also for key 0 */
int jr_cache_decode(const uint8_t *p, size_t n, jr_cache *r);
int jr_queued_decode(const uint8_t *p, size_t n, jr_queued *r);
/* By type: 0, -1 malformed, -2 a HEADER of another version, -3 unknown type. */
int journal_decode(uint8_t type, const uint8_t *payload, size_t len, jrecord *out);

const char *jrecord_type_name(uint8_t type); /* "result", ...; "unknown" */

/* ----------------------------------------------------------- reader --- */

/* What the reader found wrong, each time with the range of bytes it
 * concerns. Reading goes on after each of them but JD_TORN_TAIL and
 * JD_OTHER_VERSION, which end it. */
enum jdamage_why {
    JD_TORN_TAIL = 1,   /* the last record is incomplete (a crash mid-write): [offset, end) */
    JD_BAD_CHECKSUM,    /* a record's CRC is wrong: skipped to the next good record */
    JD_BAD_LENGTH,      /* a length of 0, over JOURNAL_RECORD_MAX, or past the end with records after */
    JD_MALFORMED,       /* a good CRC but a payload its decoder refuses: the record is skipped */
    JD_UNKNOWN_TYPE,    /* a good CRC, a type this version does not know: skipped */
    JD_NO_HEADER,       /* the first good record is not a HEADER (bytes 0): reading goes on */
    JD_OTHER_VERSION,   /* the HEADER says another version: [offset, end) is not read */
};

typedef struct {
    enum jdamage_why why;
    size_t offset, bytes; /* the range of the journal concerned */
    uint8_t type;         /* JD_UNKNOWN_TYPE, JD_MALFORMED: the record's type */
    uint16_t version;     /* JD_OTHER_VERSION: the HEADER's */
} jdamage;

typedef void (*jdamage_fn)(void *ctx, const jdamage *d);

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    jdamage_fn on_damage; /* may be NULL: the counters below still count */
    void *ctx;
    int first_done;     /* the first record with a good CRC was seen */
    int stopped;        /* a torn tail or another version: nothing more to read */
    int header_ok;      /* the journal began with a HEADER of JOURNAL_VERSION */
    uint16_t version;   /* the HEADER's version; 0 if none was read */
    unsigned damaged;   /* damage reports, JD_NO_HEADER included */
    size_t damaged_bytes;
    /* Just past the last record with a good CRC (or 0): the journal's
     * bytes from here on are a torn tail or damage with nothing after. */
    size_t valid_end;
} jreader;

void jreader_init(jreader *r, const uint8_t *data, size_t len, jdamage_fn on_damage, void *ctx);
/* The next record with a good CRC that decodes: 1 (*out filled, pointers
 * into the data; *offset, if not NULL, its first byte), or 0 at the end
 * (clean or not: the damage was reported on the way). The HEADER is
 * returned too. */
int jreader_next(jreader *r, jrecord *out, size_t *offset);
/* "torn tail", "bad checksum", ... */
const char *jdamage_why_name(enum jdamage_why why);

#endif
