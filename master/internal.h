/*
 * internal.h - what the master's files share: its structs, its constants,
 * the named values, and the functions one file calls in another.
 *
 *   master.c   the event loop and its steps, signals, shutdown
 *   clients.c  TCP sessions: handshake, frames in, queues, results out;
 *              a client that speaks batches outlives its connections
 *   journal.c  the journal in --state-dir: records, group commit, replay
 *   slaves.c   slaves.conf, liveness, keys, the UDP path
 *   flights.c  a command's attempt on a slave, from request to result
 *   sched.c    pure policy: which client goes next, which slave takes it
 *   state.c    the state dir: where, its lock, the master's identity
 *   status.c   the figures: client --status, SIGUSR1, SIGUSR2
 *   http.c     --http: the monitoring server (metrics.c: /metrics, page.c: /)
 *
 * Each concern's *_tick(m, now_ms) does its timers and returns its next
 * deadline (NO_DEADLINE if none): the loop sleeps until the earliest.
 */
#ifndef MASTER_INTERNAL_H
#define MASTER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* before log.h: MinGW's printf format checks (log.h) */

#include "auth.h"
#include "endpoint.h"
#include "buf.h"
#include "history.h"
#include "cache.h"
#include "log.h"
#include "master.h"
#include "platform.h"
#include "proto.h"
#include "xfer.h"

/* ------------------------------------------------------------ timers --- */

#define PING_INTERVAL_MS 500u     /* heartbeat to every slave */
#define SUSPECT_PING_MS 100u       /* ping interval of a suspect slave */
#define PING_SOON_MS 20u           /* ping interval when a COOKIE asked for a fresh PING */
/* A slave silent for cfg->dead_after_ms (--dead-after, 3 s by default) is
 * declared dead; after a third of that it is suspect and pinged faster. */
#define SUSPECT_AFTER_MS(m) ((m)->cfg->dead_after_ms / 3)
#define TELL_SILENT_AFTER_MS 3000u /* a slave that never answered is named after this */
#define HANDSHAKE_WAIT_MS 3000u    /* a COOKIE must echo a PING this recent; a handshake this old is dropped */
#define HANDSHAKE_PING_GAP_US 20000u /* at most one handshake PING per COOKIE burst in this time */
#define RTT_SAMPLE_MAX_US 10000000u /* a PONG echoing an older PING gives no RTT sample */
#define PROBE_AFTER_MS 1000u       /* ask about a running job we heard nothing of */
#define CANCEL_GIVEUP_MS 10000u    /* stop telling a silent slave to cancel */
#define HANGUP_WAIT_MS 2000u       /* after our last word, wait this long for the client to close */
#define HELLO_WAIT_MS 10000u       /* a connection that does not finish its handshake is dropped after this */
#define SHUTDOWN_LINGER_MS 2000u   /* after the grace period, for clients that read nothing */
#define NO_DEADLINE UINT64_MAX     /* a *_tick with nothing to wake up for */

/* ------------------------------------------------------------ limits --- */

#define OUT_HIGH_WATER (16u << 20) /* client not reading: stop dispatching for it */
#define CLIENT_OUT_LIMIT ((size_t)1 << 30)
#define CLIENT_READ_CHUNK 65536u   /* one recv from a client */
#define CLIENT_IN_LIMIT (FRAME_MAX_FROM_CLIENT + CLIENT_READ_CHUNK)
#define CLIENT_QUEUE_BYTES (16u << 20) /* queued commands of one client: reading pauses beyond */
#define REQUEST_HEADER_MAX 64      /* a job request's fields besides the command line */
#define PREFETCH_BELOW_US 50000u  /* a slave whose commands take less (on average) gets 2 per slot */
#define STATE_PATH_MAX 1024        /* the state dir's path, resolved */
#define AGING_MS AGING_DEFAULT_MS  /* --aging's default: a waiting batch's priority +1 each (sched.c) */
#define AGING_STEPS_MAX 1000       /* aging adds at most this much */

/* DG_RESULT_ACK's state field (doc/protocol.md). */
enum result_ack_state {
    RESULT_ACK_PARTIAL = 0,  /* cum + SACK of the fragments received */
    RESULT_ACK_COMPLETE = 1, /* the whole result is here (or not wanted): forget the job */
};

/* ----------------------------------------------------------- structs --- */

typedef struct client client;
typedef struct slave_peer slave_peer;
typedef struct flight flight;
typedef struct master master;
typedef struct http_server http_server;

/* --max-load, --memfree: a slave above the one or below the other gets
 * no new command (sched_held); 0: no limit. */
typedef struct {
    uint32_t max_load_milli;   /* the load average x1000 at which it is held */
    int max_load_per_cpu;      /* --max-load N%: max_load_milli is per CPU */
    uint64_t memfree;          /* bytes of available memory below which it is held */
} load_limits;
enum held_why { HELD_NO = 0, HELD_LOAD = 1, HELD_MEMFREE = 2 };

/* A client's command line, from its SUBMIT to its result: queued on its
 * client, then dispatched as a flight (one attempt on one slave; several
 * if slaves die). Not the slave's "job" (slave/: the record of one
 * request it was given); the flight's id is that job's id. */
typedef struct command {
    struct command *next; /* in its client's queue */
    client *cl;
    flight *fl;       /* while dispatched: the current attempt */
    flight *orphans;  /* earlier copies, on slaves declared dead: see flight_is_orphan */
    uint32_t index;   /* among its client's SUBMITs, from 0: the journal's name for it */
    uint32_t seq, len;
    unsigned attempts;
    /* --retries (OPTION_FAIL_ATTEMPTS): runs of it that failed so far, and
     * where (slave_uid of the slave's name, the last FAILED_ON_MAX) */
    unsigned tries;
    uint32_t failed_on[8]; /* FAILED_ON_MAX */
    uint8_t restored; /* queued again by the replay, never dispatched as far as the journal knows */
    uint64_t received_ms; /* first queued (SUBMIT; the replay: its QUEUED record's time, else its restart), clock_ms: --deadline counts from it */
    uint64_t queued_before_ms; /* the replay: how long before clock_ms's 1 it was queued (another boot; clock_ms starts near 0 at boot) */
    char *note; /* why it may have run twice (a re-claim's first run ended on its slave): its result says */
    int cache_deferred; /* --cache: its client's output was over OUT_HIGH_WATER at SUBMIT: looked up at dispatch */
    char line[]; /* len bytes + NUL */
} command;

enum flight_state {
    FL_SENDING,    /* request fragments on their way */
    FL_RUNNING,    /* slave has the request */
    FL_RESULT,     /* result fragments arriving */
    FL_CANCELLING, /* the client left: telling the slave to kill it */
};

struct flight {
    flight *prev, *next; /* in its slave's list */
    command *cmd;        /* NULL once cancelling */
    slave_peer *slave;
    uint64_t id;         /* the job id on that slave */
    enum flight_state state;
    int ack_pending;
    xfer_tx req;      /* kept until the end: fragment 0 doubles as a status probe */
    xfer_rx res;
    /* --cache: the key of what this request runs (line, --wd, --env as
     * sent): its result is stored under it, whatever OPTIONS come later */
    uint8_t cache_key[CACHE_KEY_LEN];
    int cache_keyed;
    uint64_t since_ms, cancel_sent_us;
    uint64_t heard_ms; /* last JOB_ACK or RESULT fragment about this job */
    flight *next_orphan; /* in its command's orphans */
    int fresh; /* dispatched this turn: its request leaves after the journal's flush (write_step) */
    int restored; /* re-claimed by the replay: the previous life dispatched it */
    uint64_t boot; /* the life of its slave it was dispatched to (its DISPATCH record's) */
    unsigned attempt; /* its command's attempts when it was dispatched: F_OUTPUT names it */
    int streams;      /* its request asked for DG_OUTPUT (JOBX_STREAM: --line-buffer) */
    int origin;       /* its request carried JOBX_ORIGIN (the client's seq, for the slave's console) */
};

struct slave_peer {
    char name[300]; /* host:port as written in slaves.conf */
    int retired;    /* gone from slaves.conf on reload: no new commands */
    int told_silent; /* we said it has never answered */
    int told_unreachable, told_send_error; /* said once (no socket of its family; sendto failing) */
    uint64_t left_boot; /* the life that said DG_LEAVING: nothing more from it is heeded */
    net_addr addr;
    int conf_slots;
    uint32_t weight_milli; /* slaves.conf weight=W x1000: W times as fast (1000: the default) */
    /* the machine as its last PONG said it (has_load 0: an older slave,
     * not said: idle for sched.c, "-" in the status) */
    int has_load;
    uint32_t load_milli; /* MACHINE_LOAD_UNKNOWN */
    uint16_t cpus;       /* 0: unknown */
    uint64_t mem_avail;  /* MACHINE_MEM_UNKNOWN */
    uint16_t load_running; /* the commands it ran then (every master's): in load_milli */
    uint64_t boot; /* 0: not heard yet */
    replay_window replay;    /* sequence numbers seen from this life of it */
    dgram_keys keys;         /* session keys of our conversation with this life */
    /* A handshake under way: a life of the slave (maybe the same) said it
     * has no session with us and gave a cookie. It becomes s->boot only
     * when a PONG echoes a PING sent after that (a fresh round trip). */
    uint64_t hs_boot;
    uint8_t hs_cookie[COOKIE_LEN];
    uint64_t hs_since_us, hs_ping_us;
    dgram_keys hs_keys; /* with its public key (its COOKIE's), on key set 0 */
    int ping_soon; /* a COOKIE answered a JOB: ping now for a fresh one */
    int reported;  /* a PONG came in this life: its highest_job is known */
    /* The replay: the highest job id the journal shows this slave ran (its
     * own result came back), and the slave's life then: a slave that says
     * it took less from us forgot us (flights_restored_meet). */
    uint64_t proven_job, proven_boot;
    int alive;
    uint16_t slots_total, slots_free;
    uint64_t last_heard_ms, last_ping_ms;
    uint64_t next_id;
    uint64_t held_ack_min;   /* the lowest job id whose RESULT_ACK COMPLETE waits for the flush (0: none) */
    unsigned outstanding; /* flights other than cancelling ones */
    rtt_estimator rtt;
    uint64_t avg_run_us; /* its commands' durations, averaged (1/8 weight to the newest); 0: none yet */
    uint64_t no_origin_boot; /* this life of it refused JOBX_ORIGIN (an older slave): its requests go without */
    flight *flights;
    /* status.c's counters (client --status, SIGUSR1): bumped where it happens */
    uint64_t st_done, st_failed;  /* results it made; of them, not exited 0 */
    uint64_t st_sent, st_retrans; /* datagrams sent to it; request fragments sent again on timeout */
};

/* CS_HELLO and CS_PROVING are the handshake: such a connection holds no
 * client slot (at most max_clients of them, the oldest makes room) and is
 * dropped HELLO_WAIT_MS after it connected. CS_PROVING: with a key, WELCOME
 * sent, waiting for READY, the first frame tagged with this connection's
 * keys (a replayed HELLO gets no further). */
enum client_state { CS_HELLO, CS_PROVING, CS_ACTIVE, CS_CLOSING };

/* Where a durable client's result is in the journal: its RESULT record. */
typedef struct {
    uint64_t offset;
    uint32_t len;
    uint32_t index; /* the SUBMIT it is the result of */
} record_ref;

struct client {
    client *next;
    master *m;            /* its master: the refusal log is the master's, not the client's */
    uint64_t id;
    sock_t sock;
    char name[80];
    enum client_state state;
    int ended;            /* END received */
    bwriter in, out;
    /* Output that waits for the journal's flush (clients.c client_frame_end):
     * bytes of out before out_hold may go; 0: none waits. Both count from
     * the connection's first byte. */
    uint64_t out_done, out_hold;
    command *qhead, *qtail;
    unsigned queued, inflight, submitted;
    size_t queued_bytes;       /* memory of the queued commands (command_size) */
    uint32_t timeout_ms;
    unsigned retries;
    uint64_t waiting_since_ms; /* queued work and no slave alive */
    uint64_t hangup_ms;        /* CS_CLOSING: when we sent FIN (0: not yet) */
    uint64_t connected_ms;
    uint64_t last_frame_ms;    /* CS_ACTIVE: last frame received or result sent */
    int told_waiting;
    int tagged;                /* handshake done with a key: every frame is sealed */
    aead_key rx_key, tx_key;   /* this connection's frame keys (auth_conversation_keys, "frames") */
    uint64_t rx_seq, tx_seq;   /* the next frame's position in each direction: its nonce counter */
    int key_set;               /* the key (m->auth->set) its HELLO proved: 1, the old one during a rotation */
    /* Batches (FRAME_FLAG_RESUME, doc/protocol.md 2.6). A durable client
     * (resume, and the master has a journal) is a batch: it outlives its
     * connection (sock SOCK_INVALID while none), its results stay in the
     * journal (results[]) and a new connection takes it over (ATTACH). */
    int resume;          /* HELLO had FRAME_FLAG_RESUME */
    int progress;        /* this connection's HELLO had FRAME_FLAG_PROGRESS: it gets F_STARTED */
    int reads_cached;    /* this connection's HELLO had FRAME_FLAG_CACHED: RESULT_FLAG_CACHED reaches it */
    int attached;        /* ATTACH received: a batch, or a listing */
    int durable;
    uint64_t batch_id;
    uint64_t created_wall_ms;
    uint32_t accepted, accepted_told; /* SUBMITs on disk; the last F_ACCEPTED sent */
    uint32_t nresults, sent; /* results of the batch; of them, put in this connection's output (or held) */
    uint8_t *holds;          /* ATTACH's held: results this connection's client has (by index); NULL none */
    uint32_t holds_bits;
    record_ref *results;     /* durable: by result number */
    uint64_t *command_at;    /* durable: offset of each SUBMIT's COMMAND record (ATTACH_FOLLOW) */
    uint32_t cap_results, cap_commands;
    uint32_t sent_commands;  /* ATTACH_FOLLOW: COMMAND frames sent */
    int follow;              /* this connection sends COMMANDs first (ATTACH_FOLLOW) */
    int detached, delivered, cancelled;
    int bye_sent;            /* CS_CLOSING after BYE (not ERROR): its ACK is still read */
    int held;                /* replayed: nothing dispatched before the slaves vouch for the journal */
    /* replayed from a damaged journal: only the first results_sure results
     * are in the order its client saw them (a RESULT lost before the
     * others moves them): a client that resumes gets them from there */
    int order_unsure;
    uint32_t results_sure;
    int replayed;            /* restored from the journal: a crash may have cut results its client holds */
    uint64_t orphaned_ms;    /* durable, no connection, not detached: since when (0: not orphaned) */
    uint64_t finished_ms;    /* delivered or cancelled: when (retention counts from there) */
    uint64_t journal_bytes;  /* its records in the journal: dead once it is forgotten (compaction) */
    uint32_t st_failed;      /* status.c: results of the batch made since this master started, not exited 0 */
    /* F_OPTIONS (client_set_options; journaled: JR_OPTIONS): opts points
     * into opts_raw, the frame's fields as they came. --halt: counted on
     * the results sent, applied by dispatch_step */
    options_frame opts;
    uint8_t *opts_raw;
    uint32_t opts_len;
    uint32_t halt_ok, halt_failed;
    int halt_due;            /* the condition came: apply it before anything more is dispatched */
    uint64_t next_start_ms;  /* --delay: none of its commands starts before (sched.c) */
    uint64_t deadline_next_ms; /* --deadline: no queued command's is before (0: not known; NO_DEADLINE: none has one) */
    int halted;              /* --halt applied, or CANCEL_QUEUED: a failed command is not run again (--retries) */
    /* --timeout N%: the durations of its last OK_RUNS_MAX successes (a ring), their median */
    uint64_t *ok_runs_us;
    uint32_t ok_runs, ok_runs_next;
    uint64_t median_us;      /* 0: no success yet */
    /* --priority's aging (sched.c): since its last start, or since its queue became non-empty (clock_ms) */
    uint64_t aging_since_ms;
    int lpt_ordered;         /* --order lpt: its queue was put longest first once (clients.c client_order_lpt) */
};

/* status.c: the master-wide counters. The ring holds the results of each
 * of the last STATUS_RING_S seconds (ring_sec: which second a slot holds). */
#define STATUS_RING_S 60
/* smp_command_duration_seconds's upper bounds (metrics.c), in ms; +Inf after */
#define DURATION_BUCKETS_MS {10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 1800000, 3600000}
#define DURATION_BUCKETS 14
typedef struct {
    uint64_t finished[STATUS_RUN_STATUSES];
    uint64_t failed;
    /* the commands that ran (exited, signaled, timed out): by duration, not cumulative */
    uint64_t duration_buckets[DURATION_BUCKETS + 1];
    uint64_t duration_sum_us;
    uint64_t gone_sent, gone_retrans; /* of slaves removed from slaves.conf: the totals stay monotonic */
    uint32_t ring[STATUS_RING_S];
    uint64_t ring_sec[STATUS_RING_S];
    int base_log_level; /* the level -v / its absence set: SIGUSR2 toggles between it and debug */
} master_stats;

struct master {
    const master_config *cfg;
    sock_t listener, udp, sigfd;
    sock_t udp_other;             /* the other address family's socket (IPv6 beside IPv4, or the reverse) */
    int udp_family;               /* of udp; udp_other has the other one */
    char udp_other_why[400];      /* why there is no udp_other */
    endpoint ep; /* our life (ep.boot), sequence numbers, the datagram buffers */
    const auth_keys *auth;
    slave_peer **slaves; /* pointers: flights point at their slave across reloads */
    int nslaves;
    struct id_memo { net_addr addr; uint64_t next_id; } *id_memos; /* removed slaves' next job ids */
    int nid_memos;
    client *clients;
    unsigned nclients;
    uint64_t next_client_id, last_served_client;
    int rr_slave;
    load_limits limits;        /* --max-load, --memfree */
    int all_held;              /* the last dispatch found every usable slave held back: said once */
    log_limiter held_log;
    int stopping;              /* SIGTERM: draining; a second one: stop now */
    int stop_now;
    int grace_over;            /* stopping, the grace period ended: durable batches' jobs are left to their slaves */
    uint64_t stop_deadline_ms; /* end of the grace period */
    uint64_t started_ms;
    log_limiter garbage_log, send_log;
    log_limiter refusal_log;   /* refused connections: anyone can connect */
    log_limiter slave_lies_log; /* results a slave has no business sending (flights.c): apart, not drowned by garbage */
    char state_dir[STATE_PATH_MAX]; /* resolved (state.c); "" when ephemeral */
    uint64_t identity;         /* persistent, DIR/identity, in every PING; 0 when ephemeral */
    int identity_created;      /* state.c drew it just now (a new state dir) */
    struct journal *journal;   /* DIR/journal; NULL when ephemeral */
    /* RESULT_ACK COMPLETE datagrams wait for the flush of the RESULT they
     * acknowledge (write_step sends them): the slave forgets on it. */
    struct complete_ack { slave_peer *s; uint64_t id; } *acks_due;
    size_t nacks_due, cap_acks_due;
    int flushed; /* flush_step succeeded this turn: write_step may tell */
    int early_output; /* a client has output that needs no flush: it goes before it */
    /* After a replay, the batches it queued again wait (held) until every
     * slave has said which job ids it took from this identity: one that
     * took ids the journal does not know proves records were lost. */
    uint64_t hold_until_ms;    /* 0: no hold */
    int journal_lost;
    char journal_lost_why[400];
    master_stats stats;
    history durations;  /* learned durations (history.c; journal: JR_DURATION): --order lpt */
    http_server *http; /* --http; NULL without */
    result_cache cache; /* client --cache (cache.c); journaled as JR_CACHE records */
};

static inline uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ------------------------------------------- master.c: the loop steps --- */
/* In loop_turn's order (master.c's top comment); fuzz/fuzz_master.c drives
 * the same functions, with a fake clock, sockets and poll. */

/* The poll set: these first, then one entry per client (owners[i] is the
 * client of pfds[i]), then the other family's UDP socket if there is one. */
enum { PFD_UDP, PFD_SIGNAL, PFD_LISTENER, PFD_FIXED };
#define HTTP_CONNS 8 /* --http: connections at once (http.c) */
typedef struct {
    net_pollfd *pfds;
    client **owners;
    size_t cap;
    int n, first_client, end_clients;
    int first_http;                 /* --http's listener and connections, last */
    int http_conn[1 + HTTP_CONNS];  /* from first_http: a connection's slot, -1 the listener */
} poll_set;

int shutdown_step(master *m, uint64_t now_ms); /* 1: the loop ends */
uint64_t timers_step(master *m, uint64_t now_ms);
void dispatch_step(master *m);
void client_halt_count(client *cl, const uint8_t *body, size_t len); /* clients.c */
void clients_halt(master *m);                                      /* clients.c: the due --halt */
void early_write_step(master *m);
void flush_step(master *m);
uint64_t write_step(master *m); /* the earliest deadline of what it sent */
void poll_set_build(master *m, poll_set *ps);
int read_step(master *m, poll_set *ps); /* 1: the loop ends now */
int loop_turn(master *m, poll_set *ps);

/* ----------------------------------------------------------- sched.c --- */

unsigned slave_capacity(const slave_peer *s);
unsigned slave_depth(const slave_peer *s);
uint64_t slave_floor(const slave_peer *s);
uint32_t sched_share(uint32_t slots, unsigned busy);
client *sched_next_client(client *clients, uint64_t last_served, uint64_t now_ms, uint32_t slots, uint32_t aging_ms);
int sched_effective_priority(const client *cl, uint64_t now_ms, uint32_t aging_ms); /* --priority, aged */
enum held_why sched_held(const slave_peer *s, const load_limits *lim);
uint64_t sched_score(const slave_peer *s);
/* held: set to how many usable slaves with a free slot were held back (may be NULL) */
slave_peer *sched_pick_slave(slave_peer *const *slaves, int nslaves, int *rr, const load_limits *lim, unsigned *held);
#define FAILED_ON_MAX 8
uint32_t slave_uid(const char *name, size_t len); /* a slave's identity that outlives its peer: its name's hash */
int command_failed_on(const command *cmd, uint32_t uid);
slave_peer *sched_prefer_untried(slave_peer *const *slaves, int nslaves, const command *cmd, slave_peer *picked,
                                 const load_limits *lim);
uint64_t sched_start_by(const client *cl, const command *cmd); /* --deadline; NO_DEADLINE: none */
uint32_t sched_timeout_ms(const client *cl); /* --timeout SECS and N% of the median of its successes */

/* --------------------------------------------------------- clients.c --- */

void client_send_text(client *cl, uint8_t type, const char *text);
/* F_STARTED, to a client that asked (FRAME_FLAG_PROGRESS): f's request leaves now. */
void client_send_started(client *cl, const flight *f);
/* --line-buffer: a chunk of f's output (stream OUT_*), or with stream 0 the
 * mark "its result comes next"; chunks are dropped while the client's
 * output holds more than OUTPUT_RELAY_MAX bytes (the result covers them). */
#define OUTPUT_RELAY_MAX (256u * 1024)
void client_send_output(client *cl, const flight *f, uint8_t stream, uint32_t offset, const uint8_t *data,
                        uint32_t len);
void client_send_result_body(client *cl, uint32_t index, uint32_t seq, const char *host, const uint8_t *body,
                             size_t len);
void client_send_failure(client *cl, uint32_t index, uint32_t seq, uint8_t status, const char *host,
                         const char *message);
void client_check_done(client *cl);
int client_set_options(client *cl, const uint8_t *p, size_t n, char *why, size_t whylen);
size_t command_size(const command *cmd);
void client_order_lpt(master *m, client *cl); /* --order lpt: its queue longest expected first, once END came */
void queue_push_front(client *cl, command *cmd);
void queue_push_back(client *cl, command *cmd);
command *queue_pop(client *cl);
void queue_remove(client *cl, command *cmd);
void fail_queued(client *cl, uint8_t status, const char *why);
void client_close(master *m, client *cl);
void client_disconnect(master *m, client *cl);
void client_cancel(master *m, client *cl, const char *why);
void clients_after_flush(master *m);
client *client_restore(master *m, uint64_t batch_id, uint64_t created_wall_ms, uint32_t timeout_ms, uint32_t retries,
                       const char *name);
void client_restore_command(client *cl, command *cmd, uint64_t offset);
void client_restore_result(client *cl, uint64_t offset, uint32_t len, uint32_t index);
unsigned client_fail_restored(client *cl, const char *why);
void client_fail(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int client_read(master *m, client *cl);
int client_write(client *cl);
void accept_client(master *m);
size_t clients_queued_bytes(const master *m);
short client_poll_events(const master *m, client *cl, size_t all_queued);
int client_on_input(master *m, client *cl);
int client_on_output(master *m, client *cl);
uint64_t clients_tick(master *m, uint64_t now_ms);

/* F_STATUS and the others: what status.c sends (not waiting for the journal). */
void client_frame_done(client *cl, size_t start);
uint8_t batch_state(const client *cl); /* enum batch_state */

/* ---------------------------------------------------------- status.c --- */

struct status_snapshot;
/* A result body (result_encode's) goes to client cl: counted master-wide and in cl. */
void status_count_result(master *m, client *cl, const uint8_t *body, size_t len);
/* ... and made by slave s. */
void status_count_slave(slave_peer *s, const uint8_t *body, size_t len);
/* The figures now (lib/status.h). -1 out of memory. */
int status_take(master *m, struct status_snapshot *snap, uint64_t now_ms);
void status_send(master *m, client *cl); /* ATTACH_STATUS: the frames, then BYE */
void status_log(master *m);              /* SIGUSR1 */
void status_log_simulate(const master *m); /* --simulate's counts: SIGUSR1 and at exit */
void status_toggle_verbose(master *m);   /* SIGUSR2 */

/* ------------------------------------------------ http.c, metrics.c --- */

int http_open(master *m);  /* --http: the listener; -1 logged (a start-up error) */
void http_close(master *m);
void http_poll_add(master *m, poll_set *ps);
void http_on_events(master *m, poll_set *ps);
uint64_t http_tick(master *m, uint64_t now_ms);
void metrics_write(bwriter *w, const master *m, const struct status_snapshot *snap); /* /metrics */

/* ---------------------------------------------------------- slaves.c --- */

int load_slaves(master *m);
void slaves_reload_keys(master *m); /* SIGHUP: the key file again */
void drop_retired_slaves(master *m);
unsigned slaves_alive(const master *m);
unsigned slots_alive(const master *m);
uint64_t slaves_tick(master *m, uint64_t now_ms);
/* The UDP path (a later step moves it to lib/endpoint.c). */
void send_dgram(master *m, slave_peer *s, dgram *d, enum trace_why why); /* why: for --trace */
void read_datagrams(master *m);
void send_pending_acks(master *m);
void ack_complete_later(master *m, slave_peer *s, uint64_t id);
slave_peer *slave_by_name(master *m, const char *name);

/* ----------------------------------------------------------- state.c --- */

/* After the TCP port is bound (the default dir is per port): resolves,
 * creates and locks the state dir and loads the identity. 0, or -1 logged
 * (a start-up error). */
int state_open(master *m, int port);
int state_set_identity(master *m, uint64_t id);

/* --------------------------------------------------------- flights.c --- */

void flight_start(master *m, slave_peer *s, command *cmd);
void flight_free(flight *f);
void flight_abandon(flight *f);
void flight_requeue(flight *f, const char *why);
void flight_cancel(master *m, flight *f, uint8_t status, const char *why);
void command_release(command *cmd);
void command_again(command *cmd, slave_peer *s, const char *why);
void journal_requeue_failed(master *m, const command *cmd, const char *slave); /* --retries: it failed there */
void send_result_ack(master *m, flight *f, slave_peer *s, uint64_t id, enum result_ack_state state);
void on_job_ack(slave_peer *s, const dgram *d);
void on_result_fragment(master *m, slave_peer *s, const dgram *d);
void on_output(master *m, slave_peer *s, const dgram *d);
uint64_t flights_tick(master *m, uint64_t now_ms);
uint64_t flights_send_fresh(master *m); /* the earliest deadline of what it sent */
flight *flight_restore(master *m, slave_peer *s, command *cmd, uint64_t id);
void flights_restored_meet(slave_peer *s, uint64_t boot, uint64_t highest_job);

/* --------------------------------------------------------- journal.c --- */

int journal_open(master *m, const char *dir);     /* replays; -1 on a start-up error (logged) */
void journal_close(master *m);
int journal_flush(master *m);                     /* group commit: 0 durable, -1 failing (held) */
int journal_failing(const master *m);
int journal_unsynced(const master *m);
uint64_t journal_tick(master *m, uint64_t now_ms);
uint64_t replay_hold_tick(master *m, uint64_t now_ms);
void journal_batch(master *m, client *cl);
void journal_options(master *m, client *cl); /* its OPTIONS' fields as they came (JR_OPTIONS) */
void journal_duration(master *m, const history_entry *e); /* a learned duration (JR_DURATION), lazy */
uint64_t journal_command(master *m, client *cl, const command *cmd); /* the record's offset */
void journal_queued(master *m, client *cl, const command *cmd); /* when it was queued (JR_QUEUED: --deadline) */
void journal_end(master *m, client *cl, uint32_t count);
void journal_dispatch(master *m, const flight *f);
void journal_requeue(master *m, const command *cmd);
record_ref journal_result(master *m, client *cl, uint32_t index, uint32_t seq, const char *host,
                          const uint8_t *body, size_t len);
void journal_mark(master *m, client *cl, uint8_t type, uint32_t count); /* DELIVERED, CANCEL, DETACH, FORGET */
const char *journal_error(const master *m);       /* why it is failing */
uint64_t journal_size(const master *m);           /* bytes of the journal file; 0 without one */
/* A record read back: a malloc'd buffer the decoded fields point into (free it), NULL if unreadable. */
uint8_t *journal_load_command(master *m, uint64_t offset, command_frame *out);
uint8_t *journal_load_result(master *m, record_ref ref, result_frame *out, const uint8_t **body, size_t *len);
void journal_cache(master *m, cache_entry *e); /* a new cache entry: its JR_CACHE record (lazy) */
void journal_cache_released(master *m);        /* the entries the cache dropped: their records are dead */

/* ------------------------------------------------------ the cache glue --- */
/* clients.c: a --cache batch's SUBMIT found in the cache gets its result
 * at once (1), or runs (0); flights.c: a storable result is kept. */
int cache_answer(master *m, client *cl, const command *cmd);
void cache_store(master *m, const flight *f, const uint8_t *body, size_t len);
uint64_t cache_tick(master *m, uint64_t now_ms);

#endif
