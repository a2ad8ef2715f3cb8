/*
 * proto.h - every message on the wire, encoded field by field in network
 * byte order (doc/protocol.md is the reference for students).
 *
 *  client <-> master: TCP frames   [u32 length][u8 type][fields...]
 *  master <-> slave : UDP datagrams [37-byte header][fields...][payload][tag]
 */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "common.h"
#include "platform.h"
#include "sha256.h"

/* ---------------------------------------------------------------- UDP --- */

#define DGRAM_MAGIC 0x534D /* "SM" */
#define DGRAM_VERSION 6 /* 6: sealed (ChaCha20-Poly1305), PING/PONG/COOKIE carry an X25519 public key */
#define DGRAM_HEADER_LEN 37
#define DGRAM_TAG_LEN 16 /* AUTH_SEAL_LEN: the Poly1305 tag */
#define DGRAM_MAX (DGRAM_HEADER_LEN + 32 + FRAG_MAX + DGRAM_TAG_LEN)
#define DGRAM_FLAG_AUTH 1   /* sealed: all after the header encrypted, a 16-byte Poly1305 tag ends it */
#define DGRAM_PUB_LEN 32    /* DG_PING, DG_PONG, DG_COOKIE: the sender's life's X25519 public key */
#define CANCEL_PADDING 16   /* a CANCEL is never smaller than its JOB_ACK reply */
#define COOKIE_LEN 16       /* DG_PING, DG_COOKIE: the slave's proof of a round trip */
/* DG_PING's job_id (0 in a PING before): what the master understands
 * in a PONG. An older slave ignores it (and echoes it in a COOKIE). */
#define PING_WANTS_LOAD 1   /* the PONG's load fields (PONG_LOAD_LEN bytes after its public key) */
#define PONG_LOAD_LEN 16

enum dgram_type {
    DG_PING = 1,       /* master -> slave: are you there, how many free slots? */
    DG_PONG = 2,       /* slave -> master: boot id, slots */
    DG_JOB = 3,        /* master -> slave: one fragment of a job request */
    DG_JOB_ACK = 4,    /* slave -> master: fragments received + job state */
    DG_RESULT = 5,     /* slave -> master: one fragment of a job's result */
    DG_RESULT_ACK = 6, /* master -> slave: result fragments received */
    DG_CANCEL = 7,     /* master -> slave: kill this job, forget its result */
    DG_COOKIE = 8,     /* slave -> master: no session with you: come back with this cookie */
    DG_LEAVING = 9,    /* slave -> master: stopped (SIGTERM), its jobs are killed: run them elsewhere now */
    DG_OUTPUT = 10,    /* slave -> master: output of a running job asked to stream (JOBX_STREAM), best-effort */
};
/* DG_OUTPUT's stream; its payload is at most OUTPUT_CHUNK_MAX bytes */
enum output_stream { OUT_STDOUT = 1, OUT_STDERR = 2 };
#define OUTPUT_CHUNK_MAX FRAG_MAX

/* Job states a slave reports in DG_JOB_ACK. */
enum job_state {
    JS_RECEIVING = 1, /* request fragments still missing */
    JS_RUNNING = 2,   /* started (or waiting for a free slot) */
    JS_DONE = 3,      /* finished, result being sent */
    JS_GONE = 4,      /* result delivered, cancelled, or never to be run */
};

/* DG_JOB_ACK in state JS_GONE: its cum (0 in GONE until then, and still 0
 * from an older slave) says why the slave no longer holds a job it took.
 * A master restarted from its journal re-claims its jobs by id and learns
 * from this whether the first run ended (doc/protocol.md 4.3). */
enum job_gone_why {
    GONE_UNSAID = 0,         /* result acknowledged, cancelled, below the floor: nothing to run again */
    GONE_NOT_STARTED = 1,    /* dropped before its command started (request or queue given up) */
    GONE_KILLED = 2,         /* killed while running: its master was silent longer than --master-grace */
    GONE_RESULT_DROPPED = 3, /* it ran to its end; its result was dropped, never acknowledged */
};

/* Boot ids: 64 random bits drawn at start, never 0: each life of a
 * program has its own nonce for the keys of its conversations. They say
 * nothing about time: which of two lives is the current one is decided by
 * a fresh round trip (the cookie handshake, doc/protocol.md 4.4), never by
 * a clock. */
uint64_t boot_id_new(void);

/* Fragment acknowledgements: 'cum' fragments [0, cum) arrived; bit i of
 * 'sack' says fragment cum+1+i arrived too (selective ack, 64 ahead). */
#define XFER_WINDOW 64

typedef struct {
    uint8_t type;
    uint8_t flags;          /* DGRAM_FLAG_AUTH */
    uint64_t sender_boot;   /* boot id of the sender's current life */
    uint64_t receiver_boot; /* the boot the sender believes it talks to; 0 unknown */
    uint64_t seq;           /* one counter per sending program, from 1: for the replay window */
    uint64_t job_id;        /* per slave, from 1; 0 in PING/PONG; DG_COOKIE: that of the request answered */
    /* DG_PING, DG_PONG, DG_COOKIE */
    uint64_t echo_us;       /* master's clock, echoed: round-trip time, freshness */
    uint8_t cookie[COOKIE_LEN]; /* DG_PING (zeros: none yet), DG_COOKIE */
    uint16_t slots_total, slots_free; /* DG_PONG; slots_free also in DG_JOB_ACK */
    /* DG_PING, DG_JOB: every job id below floor is finished for the master */
    uint64_t floor;
    /* DG_PING: the master's persistent identity (its state dir's), the same
     * across its lives; 0 for an ephemeral master */
    uint64_t master_id;
    /* DG_PONG: the highest job id this slave has taken from the master's
     * identity, in any of its lives (0 none): a restarted master whose
     * journal knows less has lost records (master/slaves.c) */
    uint64_t highest_job;
    /* DG_PONG, after the public key, only to a PING whose job_id has
     * PING_WANTS_LOAD (an older master refuses bytes it does not know):
     * the slave's machine (plat_machine_load) and its running commands;
     * has_load 0: an older slave's PONG, or one to an older master */
    uint8_t has_load;
    uint32_t load_milli;  /* 1-minute load average x1000; MACHINE_LOAD_UNKNOWN */
    uint16_t cpus;        /* online CPUs; 0 unknown */
    uint64_t mem_avail;   /* bytes; MACHINE_MEM_UNKNOWN */
    uint16_t running;     /* commands the slave runs now, for every master: part of load_milli */
    /* DG_JOB, DG_RESULT: a fragment of a message of total bytes, cut in
     * fragments of frag_size bytes (the last one shorter) */
    uint32_t total, offset, payload_len;
    uint16_t frag_size;
    /* DG_OUTPUT: stream (enum output_stream); offset: of payload's first
     * byte in that stream of the job; payload: 1..OUTPUT_CHUNK_MAX bytes */
    uint8_t stream;
    const uint8_t *payload;
    /* DG_JOB_ACK, DG_RESULT_ACK */
    uint8_t state;    /* DG_JOB_ACK: enum job_state; DG_RESULT_ACK: 1 = complete */
    uint32_t cum;
    uint64_t sack;
    /* DG_PING (the master's), DG_PONG and DG_COOKIE (the slave's): the
     * public key of the sender's life (zeros without a key) */
    uint8_t eph_pub[DGRAM_PUB_LEN];
    /* DGRAM_FLAG_AUTH: dgram_decode read the header only; the length of
     * the datagram, tag included, for dgram_open */
    size_t sealed_len;
} dgram;

/* 1 for the handshake tier's types (DG_PING, DG_PONG, DG_COOKIE), sealed
 * with keys that need no state; 0 for the session tier's (doc/security.md 4.3). */
int dgram_handshake_type(uint8_t type);
/* Returns the datagram length, or 0 if it does not fit in cap. With a
 * key, sets DGRAM_FLAG_AUTH and seals: ChaCha20-Poly1305 under key, nonce
 * counter d->seq, the header as associated data, all after it encrypted,
 * the 16-byte tag appended. */
size_t dgram_encode(const dgram *d, uint8_t *out, size_t cap, const aead_key *key);
/* Checks the structure: returns 0, or -1 with a reason in why (for the
 * log). A sealed datagram (DGRAM_FLAG_AUTH): the header only, the fields
 * stay sealed until dgram_open, with the key of the conversation named by
 * the header, before anything is acted on. */
int dgram_decode(const uint8_t *p, size_t n, dgram *d, const char **why);
/* Opens a sealed datagram decoded by dgram_decode in place and decodes its
 * fields: 0; -2 the tag is wrong (p untouched: another key may be tried);
 * -1 authentic but malformed; why says it. */
int dgram_open(uint8_t *p, dgram *d, const aead_key *key, const char **why);

/* The body of a job request, carried in DG_JOB fragments: a
 * CommandRequest less its seq (the master keeps that; the slave sees only
 * the job id). Decoding points r->command into p (not NUL-terminated);
 * more than JOBX_MAX extensions is malformed. */
void job_request_encode(bwriter *w, const CommandRequest *r);
int job_request_decode(const uint8_t *p, size_t n, CommandRequest *r);
/* The request's optional tail, after the command: extensions, each a u8
 * key, a u16 length, its value (CommandRequest's ext), written only when
 * there is one (a request without is byte for byte as before them). A key
 * the decoder does not know is kept in unknown_ext (the slave fails the
 * job naming it); a known one with a bad value makes the request malformed. */
enum jobx_key {
    JOBX_STREAM = 1, /* empty: send the output as it comes, in DG_OUTPUT datagrams (--line-buffer) */
    JOBX_WD = 2,  /* the directory the command runs in (client --wd), at most once */
    JOBX_ENV = 3, /* NAME=VALUE, set in the command's environment (client --env), at most MAX_ENV_VARS */
    JOBX_ORIGIN = 4, /* u32 the client's seq, then its name (1..ORIGIN_NAME_MAX printable bytes): the slave's console */
};
/* JOBX_ORIGIN: whose command it is, as the client and the master print it
 * ([seq], the client's address): for the slave's console view only. */
#define ORIGIN_NAME_MAX 80
int job_origin_valid(const char *p, size_t n);
/* Its value, written into out (4 + ORIGIN_NAME_MAX bytes): its length (the
 * name cut to ORIGIN_NAME_MAX, non-printable bytes as '?'). */
size_t job_origin_make(uint8_t *out, uint32_t seq, const char *name);
/* A valid value's seq and name (not NUL-terminated). */
uint32_t job_origin_seq(const job_ext *e);

/* --wd and --env values as the wire takes them: a directory of 1 to
 * MAX_WD_LEN bytes without NUL; NAME=VALUE of at most MAX_ENV_ENTRY bytes
 * without NUL, NAME a shell identifier ([A-Za-z_][A-Za-z0-9_]*). */
int place_wd_valid(const char *p, size_t n);
int env_name_valid(const char *p, size_t n);
int place_env_valid(const char *p, size_t n);

/* The body of a result (DG_RESULT fragments, and inside F_RESULT):
 * everything of CommandResult but seq and host. */
void result_encode(bwriter *w, const CommandResult *r);
/* 0, or -1 if malformed. The output and message fields of r point into
 * the reader's bytes (not NUL-terminated): valid as long as they are. */
int result_decode(breader *rd, CommandResult *r);
/* The flags byte of a result body: bit 0 stdout truncated, bit 1 stderr
 * truncated (the slave's), bit 2 set by the master alone: the command was
 * dispatched more than once and may have run twice; bit 3 set by the
 * master alone: the result comes from its cache (OPTION_CACHE), the
 * command did not run now. Bit 3 reaches only a connection whose HELLO
 * had FRAME_FLAG_CACHED (an older client refuses a flag it does not know). */
#define RESULT_FLAGS_OFFSET 6
#define RESULT_FLAG_STDOUT_TRUNCATED 1
#define RESULT_FLAG_STDERR_TRUNCATED 2
#define RESULT_FLAG_RAN_TWICE 4
#define RESULT_FLAG_CACHED 8
#define RESULT_MESSAGE_MAX 4096 /* the message field's longest */
/* Largest result body: both streams at MAX_OUTPUT_CAP plus fields. */
#define RESULT_MAX_BYTES (2u * MAX_OUTPUT_CAP + 4096u)

/* ---------------------------------------------------------------- TCP --- */

#define FRAME_MAGIC 0x534D5043 /* "SMPC" in HELLO */
#define FRAME_VERSION 4 /* 4: with a key, HELLO and WELCOME carry X25519 public keys, every later frame is sealed */
#define FRAME_FLAG_AUTH 1 /* HELLO, WELCOME: public key and tag follow, every later frame is sealed */
#define FRAME_FLAG_RESUME 2 /* HELLO: the client speaks batches (ATTACH first; ACCEPTED, ACK...) */
#define FRAME_FLAG_PROGRESS 4 /* HELLO: send me STARTED frames; WELCOME: this master will */
#define FRAME_FLAG_CACHED 8 /* HELLO: I read RESULT_FLAG_CACHED (without it the master clears that bit) */
#define FRAME_TAG_LEN SHA256_LEN /* HELLO's tag, WELCOME's proof (HMAC-SHA256) */
#define FRAME_SEAL_LEN 16         /* what ends every sealed frame: AUTH_SEAL_LEN (Poly1305) */
#define FRAME_PUB_LEN 32          /* HELLO, WELCOME with a key: the X25519 public key, fresh per connection */
#define FRAME_HEADER_LEN 5      /* u32 length (of type + fields), u8 type */
/* The master refuses anything larger from a client: a command plus fields. */
#define FRAME_MAX_FROM_CLIENT (MAX_COMMAND_LEN + 64)
#define FRAME_MAX_FROM_MASTER (RESULT_MAX_BYTES + 512)

enum frame_type {
    F_HELLO = 1,   /* client -> master: magic, version, options */
    F_WELCOME = 2, /* master -> client: version, slaves known / alive */
    F_SUBMIT = 3,  /* client -> master: one command */
    F_END = 4,     /* client -> master: no more commands */
    F_RESULT = 5,  /* master -> client: one command's result */
    F_NOTICE = 6,  /* master -> client: something the user should know */
    F_ERROR = 7,   /* master -> client: fatal, the master closes next */
    F_BYE = 8,     /* master -> client: every result has been sent */
    F_READY = 9,   /* client -> master, with a key: first tagged frame, proves the client is live */
    /* With FRAME_FLAG_RESUME only (doc/protocol.md 2.6): batches. */
    F_ATTACH = 10,     /* client -> master: new batch, attach to one, or list them */
    F_BATCH = 11,      /* master -> client: the batch's id and counts */
    F_ACCEPTED = 12,   /* master -> client: this many SUBMITs are on disk */
    F_ACK = 13,        /* client -> master: this many results are in the client's hands */
    F_CANCEL = 14,     /* client -> master: cancel the batch now (Ctrl-C) */
    F_DETACH = 15,     /* client -> master: leaving on purpose: the batch runs on */
    F_BATCH_INFO = 16, /* master -> client: one batch of the list */
    F_COMMAND = 17,    /* master -> client, ATTACH_FOLLOW: one command line of the batch */
    /* With FRAME_FLAG_PROGRESS only (doc/protocol.md 2.7): */
    F_STARTED = 18,    /* master -> client: one of its commands was dispatched, to this slave */
    /* Answer to ATTACH_STATUS (doc/protocol.md 2.8): */
    F_STATUS = 19,       /* master -> client: the master's figures */
    F_STATUS_SLAVE = 20, /* master -> client: one slave */
    F_STATUS_BATCH = 21, /* master -> client: one batch */
    F_STATUS_JOB = 22,   /* master -> client: one command dispatched to a slave now */
    F_OPTIONS = 23,      /* client -> master, after ATTACH: the batch's options (--halt) */
    F_OUTPUT = 24,       /* master -> client, OPTION_LINE_BUFFER only: output of a running command */
};

/* F_ATTACH's mode. */
enum attach_mode {
    ATTACH_NEW = 0,    /* a new batch: SUBMITs follow */
    ATTACH_RESUME = 1, /* the same client, reconnected: results from 'have' on, SUBMITs from 'accepted' on */
    ATTACH_LIST = 2,   /* no batch: BATCH_INFO for each, then BYE */
    ATTACH_FOLLOW = 3, /* another client (client --attach): every COMMAND, then results from 'have' on */
    ATTACH_STATUS = 4, /* no batch: STATUS, a STATUS_SLAVE per slave, a STATUS_JOB per command on a slave,
                          a STATUS_BATCH per batch, then BYE */
};
/* F_BATCH's flags. */
#define BATCH_FLAG_DURABLE 1 /* the master keeps a journal: the batch survives its restart */
#define BATCH_FLAG_ENDED 2   /* END received: total is the batch's command count */
/* F_BATCH_INFO's state. */
enum batch_state {
    BATCH_ATTACHED = 1,  /* a client is connected to it */
    BATCH_DETACHED = 2,  /* its client left on purpose (DETACH): it runs on */
    BATCH_ORPHANED = 3,  /* its client vanished: kept for --client-grace, then cancelled */
    BATCH_FINISHED = 4,  /* every command has its result */
    BATCH_DELIVERED = 5, /* ... and the client said it has them all (ACK) */
    BATCH_CANCELLED = 6,
};
#define BATCH_NAME_MAX 255 /* F_BATCH_INFO: the client's name (address) */

/* Every frame's fields, one struct and one codec per type (doc/protocol.md
 * section 2.3 names them). Each *_frame_encode begins a frame of its type
 * in w (frame_begin), writes its fields and returns the frame's start; the
 * caller closes it with frame_end, or frame_end_sealed on a keyed
 * connection after the handshake (HELLO and WELCOME carry their own proof
 * and are closed with frame_end). Each *_frame_decode takes the fields'
 * reader (frame_parse, or frame_open: opened, less the seal) without moving it,
 * and returns 0, or -1 if the fields are malformed; pointers in the
 * struct point into the reader's bytes. */
#define FRAME_NONCE_LEN 32       /* HELLO, WELCOME: AUTH_NONCE_LEN */
#define FRAME_HELLO_FIELDS 48    /* HELLO without a key: magic..client_nonce */
#define FRAME_HELLO_SIGNED (FRAME_HELLO_FIELDS + FRAME_PUB_LEN)     /* with one: ..public key, what its tag covers */
#define FRAME_WELCOME_FIELDS 44  /* WELCOME without a key: version..master_nonce */
#define FRAME_WELCOME_SIGNED (FRAME_WELCOME_FIELDS + FRAME_PUB_LEN) /* with one: ..public key, what its proof covers */
#define FRAME_TEXT_MAX 1000      /* NOTICE, ERROR: longer texts are cut */
#define FRAME_HOST_MAX 65535     /* RESULT: host_len is a u16 */
#define HELLO_RETRIES_MAX 100    /* HELLO: the master caps retries there */

typedef struct { /* F_HELLO; bytes past the tag (or the nonce) are ignored */
    uint32_t magic;                 /* FRAME_MAGIC */
    uint16_t version;               /* FRAME_VERSION */
    uint16_t flags;                 /* FRAME_FLAG_AUTH: tag follows; other bits ignored */
    uint32_t timeout_ms;            /* per command; 0 none */
    uint32_t retries;               /* attempts per command; 0 the master's; capped at HELLO_RETRIES_MAX */
    uint8_t nonce[FRAME_NONCE_LEN]; /* the client's, fresh per connection */
    uint8_t pub[FRAME_PUB_LEN];     /* with FRAME_FLAG_AUTH: the client's X25519 public key for this connection */
    const uint8_t *tag;    /* decoded: FRAME_TAG_LEN bytes with FRAME_FLAG_AUTH, else NULL */
    const uint8_t *signed_fields; /* decoded: the FRAME_HELLO_SIGNED bytes the tag covers */
} hello_frame;

typedef struct { /* F_WELCOME; bytes past the proof (or the nonce) are ignored */
    uint16_t version;               /* FRAME_VERSION (the client does not check it) */
    uint16_t slaves, alive;         /* slaves.conf entries; answering now */
    uint32_t slots;                 /* capacity of the alive slaves */
    uint16_t flags;                 /* FRAME_FLAG_AUTH: proof follows */
    uint8_t nonce[FRAME_NONCE_LEN]; /* the master's, fresh per connection */
    uint8_t pub[FRAME_PUB_LEN];     /* with FRAME_FLAG_AUTH: the master's X25519 public key for this connection */
    const uint8_t *proof;  /* decoded: FRAME_TAG_LEN bytes with FRAME_FLAG_AUTH, else NULL */
    const uint8_t *signed_fields; /* decoded: the FRAME_WELCOME_SIGNED bytes the proof covers */
} welcome_frame;

typedef struct { /* F_SUBMIT */
    uint32_t seq;
    uint32_t len;           /* the rest of the fields: bounded by the frame's maximum */
    const uint8_t *command; /* not NUL-terminated; the master checks len and NULs itself */
} submit_frame;

typedef struct { /* F_END; bytes past count are ignored */
    uint32_t count; /* SUBMIT frames sent */
} end_frame;

typedef struct { /* F_RESULT: seq, host, then a result body (result_encode) to the end */
    uint32_t seq;
    uint16_t host_len;
    const char *host;     /* not NUL-terminated */
    CommandResult result; /* decoded; its seq and host are left alone */
} result_frame;

typedef struct { /* F_NOTICE, F_ERROR; bytes past the text are ignored */
    uint16_t len;     /* at most FRAME_TEXT_MAX when we send it */
    const char *text; /* not NUL-terminated */
} text_frame;

typedef struct { /* F_ATTACH; bytes past held are ignored */
    uint8_t mode;   /* enum attach_mode */
    uint64_t batch; /* ATTACH_RESUME: the batch's id; else 0 */
    uint32_t have;  /* ATTACH_RESUME: results the client holds already, in the batch's order */
    /* Optional, after have: which results the client holds, a bit per
     * SUBMIT index (bit i of byte i/8), held_bits of them; the master then
     * sends every result not held, whatever the order it has them in
     * (after a crash, results the client had before their flush come
     * back in another order). NULL: absent (an older client). */
    uint32_t held_bits;
    const uint8_t *held;
} attach_frame;

/* held's bits, as many as fit in a client's frame (about 524,000 SUBMITs):
 * a bigger batch resumes by have alone */
#define ATTACH_HELD_MAX ((FRAME_MAX_FROM_CLIENT - 32) * 8u)

typedef struct { /* F_BATCH; bytes past done are ignored */
    uint64_t batch;
    uint8_t flags;      /* BATCH_FLAG_* */
    uint32_t accepted;  /* the batch's first SUBMITs on disk (all received, without a journal) */
    uint32_t total;     /* with BATCH_FLAG_ENDED: END's count */
    uint32_t done;      /* results the batch has */
} batch_frame;

typedef struct { /* F_ACCEPTED, F_ACK; bytes past count are ignored */
    uint32_t count;
} count_frame;

typedef struct { /* F_BATCH_INFO; bytes past the name are ignored */
    uint64_t batch;
    uint64_t created_ms; /* wall clock, ms since 1970 */
    uint8_t state;       /* enum batch_state */
    uint32_t submitted, done, running;
    uint16_t name_len;   /* at most BATCH_NAME_MAX when we send it */
    const char *name;    /* not NUL-terminated */
} batch_info_frame;

typedef struct { /* F_COMMAND */
    uint32_t index;   /* among the batch's SUBMITs, from 0 */
    uint32_t seq;     /* the SUBMIT's seq */
    uint32_t len;     /* the rest of the fields */
    const char *line; /* not NUL-terminated */
} command_frame;

typedef struct { /* F_STARTED; bytes past the host are ignored */
    uint32_t seq;      /* the SUBMIT's seq */
    uint16_t attempt;  /* 1 the first dispatch, 2 the next (its slave failed)... */
    uint16_t host_len; /* at most BATCH_NAME_MAX when we send it */
    const char *host;  /* the slave's name, as in RESULT; not NUL-terminated */
    uint16_t run;      /* after the host, optional (0: absent): 1 + its failed runs before (--retries) */
} started_frame;

/* F_STATUS and its STATUS_SLAVE, STATUS_BATCH (client --status, doc/protocol.md
 * 2.8, doc/monitoring.md). Names and the version are copied, NUL-terminated
 * (decoders refuse one longer than its array or with a NUL); encoders cut
 * them at their array's size; bytes past them are ignored. */
#define STATUS_VERSION_MAX 32
#define STATUS_RUN_STATUSES 7          /* finished[]: by enum run_status, RUN_EXITED..RUN_CANCELLED */
#define STATUS_NO_JOURNAL UINT64_MAX   /* journal_bytes: --ephemeral */
#define STATUS_NEVER UINT64_MAX        /* last_heard_ms: never heard */
#define STATUS_NO_LOAD 0xFFFFu         /* load: unknown */
#define STATUS_FLAG_STOPPING 1         /* the master is shutting down */
#define STATUS_FLAG_VERBOSE 2          /* it logs at debug level (-v, or SIGUSR2) */
enum slave_status { SLAVE_UP = 1, SLAVE_SUSPECT = 2, SLAVE_DEAD = 3, SLAVE_RETIRED = 4 };

typedef struct { /* F_STATUS */
    uint64_t uptime_ms;
    uint64_t journal_bytes;   /* STATUS_NO_JOURNAL without one */
    uint32_t finished_window; /* commands finished in the last window_s seconds */
    uint16_t window_s;        /* 1..60: the last minute, or the uptime if shorter */
    uint8_t flags;            /* STATUS_FLAG_* */
    uint32_t clients;         /* connections now */
    uint32_t queued, running; /* commands, all batches */
    uint32_t slots;           /* of the slaves up or suspect */
    uint16_t slaves, slaves_up;
    uint32_t batches;         /* STATUS_BATCH frames that follow */
    uint32_t jobs;            /* STATUS_JOB frames that follow (after the version: 0 if absent) */
    uint64_t finished[STATUS_RUN_STATUSES]; /* since start, by run_status */
    uint64_t failed;          /* since start: not exited 0 */
    char version[STATUS_VERSION_MAX + 1];
    /* after jobs, optional (has_cache 0: a master older than the cache):
     * client --cache's lookups since start, the entries now, their bytes
     * (accounted as --cache-size counts), --cache-size, --cache-age */
    uint8_t has_cache;
    uint64_t cache_hits, cache_misses, cache_entries, cache_bytes, cache_max_bytes, cache_age_ms;
} status_frame;

typedef struct { /* F_STATUS_SLAVE */
    uint8_t state;            /* enum slave_status */
    uint16_t slots;
    uint32_t running;         /* min(dispatched, slots): a slave runs at most slots at once */
    uint32_t dispatched;      /* commands on it: running, or in its queue (short ones go 2 per slot) */
    uint64_t done, failed;    /* results it made since the master started; failed: not exited 0 */
    uint64_t sent, retransmitted; /* datagrams to it; of them, request fragments sent again on timeout */
    uint32_t rtt_us;          /* smoothed round trip (RFC 6298 SRTT); 0 none yet */
    uint64_t last_heard_ms;   /* ago; STATUS_NEVER */
    uint16_t load;            /* hundredths; STATUS_NO_LOAD (its 1-minute load average, at most 655.34) */
    char name[BATCH_NAME_MAX + 1];
    /* after the name (an older client ignores them; from an older master
     * they are absent: the defaults) */
    uint64_t mem_avail;       /* bytes; STATUS_NO_MEM (the default) */
    uint16_t cpus;            /* 0: unknown (the default) */
    uint32_t weight_milli;    /* slaves.conf weight x1000 (default 1000) */
    uint8_t held;             /* STATUS_HELD_*: held back by --max-load / --memfree (default 0) */
} status_slave_frame;
#define STATUS_NO_MEM UINT64_MAX
enum status_held { STATUS_HELD_NO = 0, STATUS_HELD_LOAD = 1, STATUS_HELD_MEMFREE = 2 };

typedef struct { /* F_STATUS_BATCH */
    uint64_t batch;           /* 0: a client older than batches */
    uint64_t started_ms;      /* wall clock, ms since 1970 */
    uint8_t state;            /* enum batch_state */
    uint8_t flags;            /* BATCH_FLAG_DURABLE, BATCH_FLAG_ENDED */
    uint32_t submitted, queued, running, done, failed;
    char name[BATCH_NAME_MAX + 1]; /* its client */
    /* after the name (an older client ignores them; from an older master: 0) */
    int8_t priority;          /* its --priority (OPTION_PRIORITY) */
    int16_t effective;        /* with the aging of its waiting queue (master/sched.c) */
    uint8_t order;            /* enum batch_order */
} status_batch_frame;

#define STATUS_COMMAND_MAX 200 /* STATUS_JOB: a command line is cut there (at a UTF-8 boundary) */
enum status_job_state { JOB_SENDING = 1, JOB_RUNNING = 2, JOB_RETURNING = 3, JOB_CANCELLING = 4 };
typedef struct { /* F_STATUS_JOB */
    uint16_t slave;           /* its STATUS_SLAVE, from 0 in the order they came */
    uint8_t state;            /* enum status_job_state */
    uint64_t batch;           /* 0: a client older than batches */
    uint32_t seq;             /* the client's number for it ([N]) */
    uint64_t running_ms;      /* since it was dispatched */
    char client[BATCH_NAME_MAX + 1];
    char command[STATUS_COMMAND_MAX + 1];
} status_job_frame;

typedef struct { /* F_OUTPUT: a chunk of a running command's output, relayed (--line-buffer) */
    uint32_t seq;      /* the SUBMIT's seq */
    uint16_t attempt;  /* the dispatch it comes from: 1 the first (as F_STARTED's) */
    uint8_t stream;    /* enum output_stream; 0: no bytes, "the RESULT coming is from this attempt" */
    uint32_t offset;   /* of the first byte, in that stream of that attempt */
    uint32_t len;      /* the rest of the fields */
    const uint8_t *data;
} output_frame;
size_t output_frame_encode(bwriter *w, const output_frame *o);
int output_frame_decode(const breader *fields, output_frame *o);

/* F_OPTIONS: a list of options, each a u8 key, a u16 length, its value;
 * a key the master does not know is refused (ERROR naming it). */
enum option_key {
    OPTION_HALT = 1, /* u8 when (1 soon, 2 now), u8 why (0 fail, 1 success, 2 done), u8 pct, u32 n */
    OPTION_JOBS = 2,  /* u32: the batch's commands running at once, at most (-j) */
    OPTION_DELAY = 3, /* u32 ms: between two starts of the batch's commands (--delay) */
    OPTION_FAIL_ATTEMPTS = 4, /* u32 1..100: runs of a command that fails, in all (--retries) */
    OPTION_TIMEOUT_PCT = 5,   /* u32 percent of the median run time of its successes (--timeout N%) */
    OPTION_LINE_BUFFER = 6, /* empty, or u8 1: stream the commands' output as F_OUTPUT (--line-buffer) */
    OPTION_WD = 7,    /* string: the directory the commands run in, on the slave (--wd), at most once */
    OPTION_ENV = 8,   /* NAME=VALUE, one per entry, repeated (--env NAME): set in the commands' environment */
    OPTION_JOBS_SLOTS = 9, /* u8 form (1 +N, 2 -N, 3 N%), u32 n: -j relative to the cluster's slots */
    OPTION_DEADLINE = 10,  /* u32 ms: a command not started within that of reaching the master is not run (--deadline) */
    OPTION_PRIORITY = 11,  /* i8 -20..20 (two's complement): higher goes first (--priority); 0 is not sent */
    OPTION_ORDER = 12,     /* u8 ORDER_*: the order of the batch's queued commands once its END came (--order) */
    OPTION_CACHE = 13,     /* empty, or u8 1: a command that succeeded before gets the master's stored result (--cache) */
};
enum batch_order { ORDER_FIFO = 0, ORDER_LPT = 1 }; /* OPTION_ORDER: as submitted; longest expected first */
#define PRIORITY_MIN (-20)
#define PRIORITY_MAX 20
typedef struct {
    const char *p; /* not NUL-terminated; decoded: into the fields */
    uint16_t len;
} opt_str;
typedef struct {
    uint8_t halt_when; /* 0: none */
    uint8_t halt_why, halt_pct;
    uint32_t halt_n;
    uint32_t jobs;       /* 0: no cap */
    uint8_t jobs_form;   /* 0: jobs as it is; else -j +N, -N, N% of the cluster's slots (enum jobs_form) */
    uint32_t jobs_n;
    uint32_t delay_ms;   /* 0: none */
    uint8_t line_buffer; /* 1: stream output (F_OUTPUT) */
    opt_str wd;          /* --wd: len 0 none */
    uint8_t nenv;        /* --env: NAME=VALUE each */
    opt_str env[MAX_ENV_VARS];
    uint32_t fail_attempts; /* 0: none (1 run) */
    uint32_t timeout_pct;   /* 0: none */
    uint32_t deadline_ms;   /* --deadline: 0 none */
    int8_t priority;        /* --priority: PRIORITY_MIN..PRIORITY_MAX, 0 default (not sent) */
    uint8_t order;          /* --order: enum batch_order, ORDER_FIFO default (not sent) */
    uint8_t cache;          /* --cache: 1 look up and store results in the master's cache */
    uint8_t unknown_key; /* decoded: the first key not known (0: none) */
    uint8_t bad_key;     /* decoding failed: the key whose value was bad (0: the frame, or their size) */
} options_frame;
size_t options_frame_encode(bwriter *w, const options_frame *o);
/* -1 also for a --wd or --env the wire does not take (place_*_valid), a
 * second --wd, more than MAX_ENV_VARS, or more than MAX_PLACE_BYTES of them. */
int options_frame_decode(const breader *fields, options_frame *o);
/* --halt's rule (GNU parallel's), one function for the client and the
 * master, so that they agree: has it come, after ok commands succeeded
 * and failed failed? why: 0 fail, 1 success, 2 done (OPTION_HALT's). A
 * percentage of the batch needs its total, known once its input ended. */
int halt_reached(uint8_t why, int pct, uint32_t n, uint32_t ok, uint32_t failed, int total_known, uint32_t total);
/* -j +N, -N, N%, as GNU parallel's relative to the CPUs: here to the
 * slots of the slaves alive now (at least 1). */
enum jobs_form { JOBS_PLUS = 1, JOBS_MINUS = 2, JOBS_PERCENT = 3 };
uint32_t jobs_cap(const options_frame *o, uint32_t slots); /* 0: no cap */
/* The bytes --wd and --env take in a job request's tail (0: none), and
 * the request's extensions for them (appended to r->ext). */
size_t options_place_bytes(const options_frame *o);
void job_request_place(CommandRequest *r, const options_frame *o);

/* F_BYE, F_READY and F_DETACH have no fields (bytes there are ignored).
 * F_CANCEL has one, optional: what is cancelled. */
enum cancel_mode {
    CANCEL_ALL = 0,    /* absent too: queued commands dropped, running ones killed (Ctrl-C, --halt now) */
    CANCEL_QUEUED = 1, /* queued commands not run (each gets a "cancelled" result), running ones finish (--halt soon) */
};

/* With a key (hello_key: K_client->master), sets FRAME_FLAG_AUTH and
 * appends h->pub and the tag (auth_hello_proof) over the fields. */
size_t hello_frame_encode(bwriter *w, const hello_frame *h, const hmac_key *hello_key);
/* -1 malformed or bad magic; -2 right magic, another version (h->version
 * says which; nothing past it is read: its fields may differ). */
int hello_frame_decode(const breader *fields, hello_frame *h);
/* With a key (welcome_key: K_master->client), sets FRAME_FLAG_AUTH and
 * appends wf->pub and the proof (auth_welcome_proof) over client_nonce and
 * the fields. */
size_t welcome_frame_encode(bwriter *w, const welcome_frame *wf, const hmac_key *welcome_key,
                            const uint8_t client_nonce[FRAME_NONCE_LEN]);
int welcome_frame_decode(const breader *fields, welcome_frame *wf);
size_t submit_frame_encode(bwriter *w, const submit_frame *s);
int submit_frame_decode(const breader *fields, submit_frame *s);
size_t end_frame_encode(bwriter *w, const end_frame *e);
int end_frame_decode(const breader *fields, end_frame *e);
/* RESULT is streamed: this writes seq and host only; the caller appends a
 * result body (result_encode, or a slave's body as it is: no copy) and
 * closes the frame. host_len over FRAME_HOST_MAX sets w->error. */
size_t result_frame_begin(bwriter *w, uint32_t seq, const char *host, size_t host_len);
/* Decodes the body too (result_decode); -1 also on trailing bytes. */
int result_frame_decode(const breader *fields, result_frame *r);
/* type F_NOTICE or F_ERROR; the text is cut at FRAME_TEXT_MAX bytes. */
size_t text_frame_encode(bwriter *w, uint8_t type, const char *text, size_t len);
int text_frame_decode(const breader *fields, text_frame *t);
size_t bye_frame_encode(bwriter *w);
size_t ready_frame_encode(bwriter *w);
size_t attach_frame_encode(bwriter *w, const attach_frame *a);
int attach_frame_decode(const breader *fields, attach_frame *a);
size_t batch_frame_encode(bwriter *w, const batch_frame *b);
int batch_frame_decode(const breader *fields, batch_frame *b);
/* type F_ACCEPTED or F_ACK */
size_t count_frame_encode(bwriter *w, uint8_t type, const count_frame *c);
int count_frame_decode(const breader *fields, count_frame *c);
/* The name is cut at BATCH_NAME_MAX bytes. */
size_t batch_info_frame_encode(bwriter *w, const batch_info_frame *b);
int batch_info_frame_decode(const breader *fields, batch_info_frame *b);
/* type F_BYE, F_READY, F_CANCEL or F_DETACH */
size_t empty_frame_encode(bwriter *w, uint8_t type);
size_t cancel_frame_encode(bwriter *w, uint8_t mode); /* CANCEL_ALL: no field, as before */
uint8_t cancel_frame_mode(const breader *fields);     /* enum cancel_mode; an unknown one reads as CANCEL_ALL */
size_t command_frame_encode(bwriter *w, const command_frame *c);
int command_frame_decode(const breader *fields, command_frame *c);
/* The host is cut at BATCH_NAME_MAX bytes. */
size_t started_frame_encode(bwriter *w, const started_frame *s);
int started_frame_decode(const breader *fields, started_frame *s);
size_t status_frame_encode(bwriter *w, const status_frame *s);
int status_frame_decode(const breader *fields, status_frame *s);
size_t status_slave_frame_encode(bwriter *w, const status_slave_frame *s);
int status_slave_frame_decode(const breader *fields, status_slave_frame *s);
size_t status_batch_frame_encode(bwriter *w, const status_batch_frame *b);
int status_batch_frame_decode(const breader *fields, status_batch_frame *b);
size_t status_job_frame_encode(bwriter *w, const status_job_frame *j);
int status_job_frame_decode(const breader *fields, status_job_frame *j);

/* Any frame by its type, for the fuzzer, a trace or a dissector: 0, -1
 * malformed (-2 a HELLO of another version), -3 unknown type. */
typedef struct {
    uint8_t type;
    union {
        hello_frame hello;
        welcome_frame welcome;
        submit_frame submit;
        end_frame end;
        result_frame result;
        text_frame text; /* F_NOTICE, F_ERROR */
        attach_frame attach;
        batch_frame batch;
        count_frame count; /* F_ACCEPTED, F_ACK */
        batch_info_frame info;
        command_frame command;
        started_frame started;
        status_frame status;
        status_slave_frame slave;
        status_batch_frame sbatch;
        status_job_frame sjob;
        output_frame output;
    } u;
} any_frame;
int frame_decode(uint8_t type, const breader *fields, any_frame *f);

/* Start a frame in w; finish it with frame_end once the fields are in.
 * The returned position counts from the writer's head (bw_at), so it stays
 * valid while fields are appended, whatever the buffer does. */
size_t frame_begin(bwriter *w, uint8_t type);
void frame_end(bwriter *w, size_t start);
/* With a key (else frame_end): [u32 length][type || fields, encrypted]
 * [FRAME_SEAL_LEN tag], ChaCha20-Poly1305 whose associated data is the 4
 * length bytes (which count type, fields and tag) and whose nonce counter
 * is the frame's position in its direction since the handshake (0 first:
 * never sent; each counter once per key). */
void frame_end_sealed(bwriter *w, size_t start, const aead_key *key, uint64_t counter);

/* If buf holds a whole frame, returns its total length (header included)
 * and sets *type and the fields' reader; 0 if more bytes are needed;
 * -1 if the length is over max (the peer is not speaking our protocol). */
long frame_parse(const uint8_t *buf, size_t len, size_t max, uint8_t *type, breader *fields);
/* frame_parse for a sealed frame (key NULL: frame_parse): opens it in
 * place BEFORE anything of its content is read, then sets *type and the
 * fields (the tag left out). -2 if it does not open (a flipped bit
 * anywhere, another key, another position: tampered with); buf is then
 * untouched. */
#define FRAME_TAMPERED (-2)
long frame_open(uint8_t *buf, size_t len, size_t max, const aead_key *key, uint64_t counter, uint8_t *type,
                breader *fields);

/* The fragment size to use towards a peer: FRAG_LOOPBACK on loopback,
 * FRAG_PAYLOAD elsewhere. */
uint32_t frag_size_for(const net_addr *peer);

const char *frame_type_name(uint8_t type);
const char *dgram_type_name(uint8_t type);

#endif
