/*
 * slave/internal.h - what the slave's files share: its structs (the slave,
 * a session per master life, a job record), its limits, and the functions
 * one file calls in another.
 *
 *   slave.c     the event loop and its steps, signals, shutdown; the
 *               datagram path (receive, check, dispatch; stamp, seal, send)
 *   sessions.c  the masters we talk to: cookies, sessions, dormancy
 *   jobs.c      the job table: requests in, commands run, results out
 */
#ifndef SLAVE_INTERNAL_H
#define SLAVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* before log.h: MinGW's printf format (%zu) */

#include "auth.h"
#include "endpoint.h"
#include "dedup.h"
#include "log.h"
#include "platform.h"
#include "proto.h"
#include "runner.h"
#include "slave.h"
#include "xfer.h"

#define MAX_SESSIONS 64
#define SESSION_IDLE_MS 90000u      /* a session with no job, silent this long, may be reused */
#define COOKIE_LIFE_MS 60000u       /* a cookie is good this long after it was issued */
#define COOKIE_SECRET_LEN 32        /* random bytes of this life's cookie key */
#define SESSION_RX_MAX (4u << 20)   /* incomplete requests of one master, in bytes */
#define SLAVE_RX_MAX (32u << 20)    /* ... and of all of them */
#define MAX_JOBS 4096               /* jobs held at once, all states */
/* ... and by one master life: what its slots can hold (it sends no more
 * than slots_total at once) twice over, results waiting for their
 * acknowledgement included, so that a single peer cannot take them all. */
#define SESSION_MAX_JOBS(sl) (2u * (unsigned)(sl)->cfg->slots + 16u)
#define JOB_REQUEST_MAX JOB_BODY_MAX /* a request's body: the command and its fields */
#define RECEIVE_GIVEUP_MS 30000u    /* a request whose fragments stopped coming */
#define RESULT_GIVEUP_MS 120000u    /* a result nobody acknowledges */
#define MASTER_SILENT_MS 10000u     /* masters ping every 500 ms: after this, it is gone */
#define LEAVING_COPIES 3            /* DG_LEAVING sent this many times on SIGTERM */
#define LEAVING_GAP_MS 20
#define STREAM_GAP_US 50000u        /* JOBX_STREAM: output chunks at most this often (but a full one at once) */
#define DROP_REPORTS 16              /* peers whose refused datagrams are counted */
#define DROP_REPORT_MS 60000u       /* a count of them once a minute, not a line each */
#define RESULT_ACK_COMPLETE 1       /* DG_RESULT_ACK's state: every fragment arrived (proto.h) */
#define EXIT_NOT_RUNNABLE 126       /* the shell's "found but cannot be run": refused by --allow */
#define ADDR_NAME_LEN 80            /* an address as net_addr_str writes it, for the log */
#define ERR_LEN 256                 /* a reason, for the log and a result's message */
#define LOST_MAX 1024               /* lost jobs remembered per session (above: the oldest forgotten) */

/* The poll set: the socket, the signal events, then the commands' pipes. */
enum { PFD_SOCK, PFD_SIGNALS, PFD_COMMANDS };

/* Where a job record is in its life, on this slave (the master learns it
 * as an enum job_state, from job_state()). */
enum job_phase {
    JP_RECEIVING, /* request fragments still coming */
    JP_QUEUED,    /* complete, waiting for a free slot */
    JP_RUNNING,   /* its command runs */
    JP_SENDING,   /* its result is being sent, until acknowledged */
};

/* What we know of one master's life (a master process, named by its boot
 * id): the conversation's keys and replay window, the job ids it took. */
typedef struct session {
    int used;
    int superseded; /* the master restarted: its old jobs are gone (or adopted), the ids stay taken */
    net_addr addr;
    uint64_t master_boot;
    uint64_t master_id; /* the master's persistent identity (its PING's), 0: ephemeral */
    replay_window replay;    /* sequence numbers seen from this master */
    dgram_keys keys;         /* session keys of this conversation (both boots and public keys in) */
    dedup_window taken;               /* job ids taken from this master */
    uint64_t highest_job;             /* the highest of them, in this life or one it adopted */
    rtt_estimator rtt;
    uint64_t last_heard_ms;
    size_t rx_bytes; /* memory of its incomplete requests */
    unsigned njobs;  /* jobs it holds here, all states (at most SESSION_MAX_JOBS) */
    uint32_t cookie_ms; /* when the cookie of its last handshake was issued (our clock_ms, mod 2^32) */
    /* Jobs of it we dropped unfinished or with their result unacknowledged
     * (enum job_gone_why): a JOB for one is answered GONE with the reason,
     * so that its master, restarted, knows whether the first run ended.
     * Kept until the floor passes them (at most LOST_MAX), moved with the
     * jobs to the next life of the same identity. */
    struct lost_job { uint64_t id; uint8_t why; } *lost;
    unsigned nlost, cap_lost;
} session;

/* A job record: one job id of one session, from its request's first
 * fragment to its result's acknowledgement. */
typedef struct job {
    struct job *next;
    session *sess;
    uint64_t id;
    enum job_phase phase;
    int ack_pending;            /* answer with a JOB_ACK after this batch */
    uint32_t request_frags;
    xfer_rx rx;                 /* JP_RECEIVING */
    size_t rx_charge;           /* what rx counts in sess->rx_bytes and the slave's */
    char *command;              /* JP_QUEUED, JP_RUNNING */
    size_t command_len;         /* its bytes (a NUL among them: --allow refuses it) */
    runner_place *place;        /* JP_QUEUED, JP_RUNNING: --wd, --env (NULL: none); its strings follow it */
    uint32_t timeout_ms;
    int timeout_capped;         /* timeout_ms is the slave's --timeout cap (the request asked for none or more) */
    runner_proc proc;           /* JP_RUNNING */
    int started;                /* its command was started (a result of one that could not be: 0) */
    int stream;                 /* JOBX_STREAM: its output goes out in DG_OUTPUT as it comes */
    uint32_t streamed[2];       /* bytes of stdout, stderr sent so far in DG_OUTPUT */
    uint64_t stream_due_us;     /* the next DG_OUTPUT not before (STREAM_GAP_US) */
    xfer_tx tx;                 /* JP_SENDING */
    uint64_t last_progress_ms;
    /* The console view (JOBX_ORIGIN): "[N]" with the client's seq, or
     * "[job ID]" without it; shown: its start was printed, its result will be */
    char tag[24];
    char origin[ORIGIN_NAME_MAX];
    size_t origin_len;
    int shown;
} job;

/* Datagrams refused for one reason from one address: the first is logged,
 * then how many more once a minute (a master without the key pings twice
 * a second for ever). */
typedef struct {
    int used;
    net_addr addr;
    const char *why;
    unsigned count;
    uint64_t since_ms;
} drop_report;

typedef struct slave {
    const slave_config *cfg;
    sock_t sock;
    endpoint ep; /* our life (ep.boot), sequence numbers, the datagram buffers */
    hmac_key cookie_key; /* random, this life only: cookies of an earlier life are void */
    int answer_set;      /* the key set that opened the datagram being handled: our answer's */
    size_t rx_bytes;     /* memory of every incomplete request */
    const auth_keys *auth;
    session sessions[MAX_SESSIONS];
    job *jobs;           /* newest first */
    unsigned njobs, running, queued;
    int stopping;
    log_limiter garbage_log, send_log;
    drop_report drops[DROP_REPORTS];
    uint64_t retransmitted; /* result fragments sent again (xfer_tx_pump): said with --simulate's counts */
    /* the machine's load for the PONGs (sessions.c machine_load_now):
     * read at most once per LOAD_READ_MS; the files it is read from (NULL:
     * the system's; test hooks, slave.c slave_open) */
    machine_load load;
    uint64_t load_read_ms;
    int load_read;
    const char *loadavg_path, *meminfo_path;
    /* the event loop's poll set (enum PFD_...): pfd_jobs[i] owns pfds[i]
     * from PFD_COMMANDS on */
    sock_t sigfd;
    net_pollfd *pfds;
    job **pfd_jobs;
    size_t pfd_cap;
    int npfds;
} slave;

/* The earlier of two deadlines, 0 meaning none (the *_tick functions). */
static inline uint64_t earliest(uint64_t a, uint64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* How long a silent master's jobs are kept: --master-grace for a master
 * with an identity (its next life adopts them), else MASTER_SILENT_MS. */
#define SESSION_KEEP_MS(sl, s) ((s)->master_id ? (sl)->cfg->master_grace_ms : MASTER_SILENT_MS)

/* slave.c: every datagram leaves through these. */
/* why: what made us send it, for --trace */
void send_capped(slave *sl, const net_addr *to, uint64_t master_boot, const dgram_keys *keys, dgram *d, size_t cap,
                 enum trace_why why);
void send_to(slave *sl, const net_addr *to, uint64_t master_boot, const dgram_keys *keys, dgram *d,
             enum trace_why why);
void send_dgram(slave *sl, const session *s, dgram *d, enum trace_why why);

/* sessions.c */
session *session_find(slave *sl, uint64_t master_boot);
session *session_addressed(slave *sl, const dgram *d);
int session_dormant(const session *s);
int session_has_jobs(const slave *sl, const session *s);
void session_take(session *s, uint64_t id);
void session_drop_jobs(slave *sl, session *s);
void session_advance_floor(slave *sl, session *s, uint64_t floor);
unsigned session_adopt_jobs(slave *sl, session *s, session *old);
void session_note_lost(session *s, uint64_t id, uint8_t why);
uint8_t session_lost_why(const session *s, uint64_t id);
void session_forget(session *s);
void sessions_free(slave *sl);
void send_cookie(slave *sl, const net_addr *from, const dgram *d, size_t request_len);
void on_ping(slave *sl, const net_addr *from, const dgram *d, size_t n);
uint64_t sessions_tick(slave *sl, uint64_t now_us);

/* jobs.c */
void job_free(slave *sl, job *j);
uint8_t job_lost_why(const job *j);
unsigned slots_free(const slave *sl);
#define LOAD_READ_MS 1000
const machine_load *machine_load_now(slave *sl);
void on_job_fragment(slave *sl, const net_addr *from, const dgram *d, size_t n);
void on_result_ack(slave *sl, const dgram *d);
void on_cancel(slave *sl, const dgram *d);
void jobs_send_acks(slave *sl);
void jobs_reap(slave *sl);
uint64_t jobs_tick(slave *sl, uint64_t now_us);
void jobs_kill_all(slave *sl);

#endif
