/*
 * client - sends a file of shell commands to a master (serveur_maitre)
 * over TCP and prints every result as it arrives.
 *
 *   client [options] [HOST PORT] FILE|-
 *   client [options] COMMAND... ::: ARG... [:::: ARGFILE...] (report/template.c)
 *   client [options] [HOST PORT] --attach ID | --batches | --status
 *
 * One poll loop: read the command file, send SUBMIT frames, read RESULT
 * frames, so a large file never blocks results from being printed.
 * Every connection is a batch (doc/protocol.md 2.6): on a master that
 * keeps a journal, a broken connection is resumed (--reconnect) from the
 * last result held and the first SUBMIT the master does not have on disk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cli.h"
#include "common.h"
#include "conf.h"
#include "log.h"
#include "platform.h"
#include "proto.h"
#include "report/master_addr.h"
#include "report/progress.h"
#include "report/report.h"
#include "report/template.h"
#include "status.h"
#include "trace.h"

#define EXIT_TROUBLE 255
#define SEND_HIGH_WATER (256u * 1024) /* stop reading the file while this much is unsent */
#define RECV_CHUNK (256u * 1024)      /* read at most this much from the master at once */
#define INPUT_CHUNK 65536              /* one read of the command file */
/* Read-ahead: the file is not read further while this many commands, or
 * bytes of commands, are sent but not yet on the master's disk (ACCEPTED):
 * their texts are kept for a resend after a reconnection. */
#define UNACCEPTED_MAX_COMMANDS 100000u
#define UNACCEPTED_MAX_BYTES ((size_t)64 << 20)
#define DEFAULT_RECONNECT_SECONDS 60
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 1000
#define GOODBYE_MS 1000 /* ACK, CANCEL, DETACH: how long we try to write them before closing */
#define CANCEL_WAIT_MS 5000u /* Ctrl-C while the master is out of reach: how long we try to reach it to cancel */
#define SUBMIT_NONE UINT32_MAX

/* --halt WHEN,WHY=N[%] (GNU parallel's): when N commands (or N% of them)
 * failed, succeeded or are done, stop: now (running ones killed, the
 * others not run) or soon (running ones finish, no new one starts). */
enum { HALT_NEVER, HALT_SOON, HALT_NOW };
enum { HALT_FAIL, HALT_SUCCESS, HALT_DONE };
typedef struct {
    int when, why;
    uint32_t n;
    int pct; /* n is a percentage of the commands */
} halt_rule;

typedef struct {
    char *text;          /* freed once shown and, for a SUBMIT, on the master's disk */
    uint32_t len;
    uint32_t index;      /* among the SUBMITs (0-based); SUBMIT_NONE: refused here, never sent */
    uint8_t known;       /* --attach: a command of the batch (a refused line leaves a gap) */
    uint8_t done;        /* its result is in */
    CommandResult *held; /* --keep-order: result waiting for earlier ones */
    uint16_t runs;       /* --retries with --json: its run the last STARTED named (1 + the failed ones) */
    char *args;          /* a template's job with --tag: its arguments, the tag's {} */
    size_t args_len;
    struct line_buffer *lb; /* --line-buffer: what its F_OUTPUT frames showed (NULL: none came) */
} command_slot;

/* --line-buffer, one command: the attempt its shown bytes are from, and
 * per stream how many were shown (a prefix of that stream, in order) and
 * the end of a line not shown yet (part). */
#define LB_PART_MAX (1u << 20) /* a longer unfinished line is shown as it is (in pieces) */
struct line_buffer {
    uint16_t attempt; /* the attempt shown (0: none yet) */
    uint16_t final;   /* F_OUTPUT stream 0: the attempt the RESULT is from (0: not said) */
    struct {
        uint32_t shown, part_len, part_cap;
        int mid;    /* the last byte shown was not a newline */
        char *part; /* grows up to LB_PART_MAX */
    } st[2];
};

enum client_mode {
    MODE_RUN,    /* client FILE */
    MODE_DETACH, /* client --detach FILE */
    MODE_FOLLOW, /* client --attach ID */
    MODE_LIST,   /* client --batches */
    MODE_STATUS, /* client --status */
};

/* --batches and --status ask, print the answer and leave: no batch. */
#define QUERY_MODE(c) ((c)->mode == MODE_LIST || (c)->mode == MODE_STATUS)

typedef struct {
    const char *host;
    int port;
    net_addr addr;
    enum client_mode mode;
    uint32_t timeout_ms, retries;
    uint32_t reconnect_s;  /* --reconnect; 0: never */
    sock_t sock;           /* SOCK_INVALID while reconnecting */
    sock_t sigfd;          /* signal_events_init */
    bwriter in, out;
    sock_t input; /* the command file: platform.h input_open */
    int input_done;
    line_reader lines;
    command_slot *cmds; /* index seq - 1 */
    uint32_t ncmds, cap_cmds;
    uint32_t submitted, results, next_to_print;
    uint32_t *submits;          /* SUBMIT index -> seq */
    uint32_t cap_submits;
    uint32_t accepted;          /* the first SUBMITs on the master's disk (F_ACCEPTED) */
    size_t unaccepted_bytes;    /* command bytes of SUBMITs [accepted, submitted) */
    uint32_t from_master;       /* results received from the master: ATTACH's have, ACK's count */
    uint64_t batch;             /* F_BATCH: our batch's id (--attach: the one asked for) */
    int got_batch, durable;     /* F_BATCH seen (once ever); BATCH_FLAG_DURABLE */
    uint32_t total;             /* --attach: the batch's command count (F_BATCH) */
    uint32_t followed;          /* --attach: F_COMMANDs learnt */
    unsigned listed;            /* --batches: F_BATCH_INFOs printed */
    status_snapshot status;     /* --status: what the frames said */
    int got_status;             /* --status: F_STATUS received */
    int attach_sent;            /* ATTACH is on its way on this connection */
    int resuming;               /* reconnected: ATTACH sent, F_BATCH not yet back */
    int reconnecting;           /* the connection broke: until F_BATCH on a new one */
    int legacy;                 /* an older master, without batches: as before them */
    unsigned conn_gen;          /* counts connections: frames of an old one are dropped */
    uint64_t reconnect_deadline, backoff_ms;
    unsigned attempts;          /* connection attempts in this outage */
    int cancelling;             /* Ctrl-C while the master was out of reach: CANCEL once it answers */
    halt_rule halt;             /* --halt */
    int halted;                 /* its condition came: HALT_SOON or HALT_NOW */
    int halt_status;            /* then the exit status; -1: the usual one */
    uint32_t n_ok, n_failed;    /* results so far, for --halt */
    uint32_t jobs, delay_ms;    /* -j, --delay: OPTIONS for the master */
    uint8_t jobs_form;          /* -j +N, -N, N%: of the cluster's slots (jobs_n) */
    uint32_t jobs_n;
    int line_buffer;            /* --line-buffer: OPTIONS for the master; F_OUTPUT shown as it comes */
    const char *wd;             /* --wd: OPTIONS too */
    unsigned nenv;              /* --env: NAME=VALUE each (OPTIONS) */
    char *env[MAX_ENV_VARS];
    uint32_t fail_attempts;     /* --retries N: runs of a failing command, in all (OPTIONS) */
    uint32_t timeout_pct;       /* --timeout N%: of the median run time of the successes (OPTIONS) */
    uint32_t deadline_ms;       /* --deadline SECS: a command not started within SECS is not run (OPTIONS) */
    int priority;               /* --priority N: PRIORITY_MIN..PRIORITY_MAX (OPTIONS; 0 not sent) */
    uint8_t order;              /* --order fifo|lpt: enum batch_order (OPTIONS; fifo not sent) */
    int cache;                  /* --cache: the master's stored result of a command that succeeded before (OPTIONS) */
    int got_bye, welcomed;
    const char *input_name;
    report rep;
    progress prog;              /* --progress, --eta, --bar (off: prog.what 0) */
    auth_keys auth;
    uint8_t nonce[AUTH_NONCE_LEN];
    int tagged; /* handshake done with a key: every frame is sealed */
    auth_ephemeral eph; /* with a key: this connection's X25519 pair, wiped once the frame keys are made */
    aead_key tx_key, rx_key;
    uint64_t tx_seq, rx_seq; /* the next frame's position in each direction: its nonce counter */
    /* --resume, --resume-failed, --retry-failed: the earlier joblog, by
     * Seq; skipped: the seqs of this run's numbering not sent (gaps) */
    enum { RESUME_NONE, RESUME_ALL, RESUME_FAILED, RETRY_FAILED } resume;
    joblog_past past;
    uint32_t skipped, differ;
    template *tmpl; /* COMMAND ::: ARG...: the lines come from it, not from a file */
} client_state;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: client [options] [HOST PORT] FILE|-\n"
            "       client [options] COMMAND... ::: ARG... [::: ARG...] [:::: ARGFILE...]\n"
            "       client [options] [HOST PORT] --attach ID\n"
            "       client [options] [HOST PORT] --batches\n"
            "       client [options] [HOST PORT] --status\n"
            "Sends the shell commands of FILE (- for standard input), one per line, to a master\n"
            "(serveur_maitre, default 127.0.0.1:%d) and prints each command's output on stdout,\n"
            "its stderr, a status line and at the end a summary on stderr.\n"
            "Blank lines and lines starting with '#' are skipped.\n"
            "\n"
            "Where the master is: HOST PORT, else --master HOST:PORT, else $SMP_MASTER (HOST:PORT),\n"
            "else 127.0.0.1:%d. IPv6: [ADDRESS]:PORT. HOST PORT and --master together: an error.\n"
            "\n"
            "Templates, as GNU parallel's: when ':::', '::::', ':::+' or '::::+' is among the words,\n"
            "every word after the options is the template (options stop at the first word; the\n"
            "master then comes from --master or $SMP_MASTER only: there is no HOST PORT), and\n"
            "each argument (the cross product of the sources, the last varying fastest; :::+ and\n"
            "::::+ link a source to the one before) makes one command line, as from a file:\n"
            "  ::: ARG...   arguments (one with newlines is several, as in GNU parallel)\n"
            "  :::: FILE... one argument per line of each FILE (- : standard input)\n"
            "  {} {.} {/} {//} {/.}  the argument; without extension; basename; dirname;\n"
            "               basename without extension; {N} {N.} {N/} {N//} {N/.}: of source N\n"
            "  {#}          the job's number (its SEQ: joblog, --results)\n"
            "  {%%}          refused: the slot is chosen by the master after the line is made\n"
            "The values are shell-quoted as GNU parallel quotes them; with no replacement string\n"
            "the arguments are appended. Example: client --master h:6000 gzip -9 ::: *.log\n"
            "\n"
            "Options:\n"
            "  -k, --keep-order      print results in input order (default: as they complete)\n"
            "      --results DIR     write DIR/SEQ/stdout and DIR/SEQ/stderr for each command\n"
            "      --joblog FILE     write a GNU parallel joblog (tab-separated, with a header);\n"
            "                        +FILE appends to it\n"
            "      --resume          with --joblog: skip the commands (by Seq) the joblog has\n"
            "      --resume-failed   with --joblog: run again the ones that failed there, and the\n"
            "                        ones it lacks; skip the ones that succeeded\n"
            "      --retry-failed    with --joblog: run again the failed commands of the joblog,\n"
            "                        its own command lines (no FILE); the joblog keeps one line\n"
            "                        per Seq, the last attempt's\n"
            "      --tag             prefix each line of a command's output with the command\n"
            "                        line (a template's: its arguments) and a TAB\n"
            "      --tagstring STR   prefix with STR instead ({} the command line, {#} its seq)\n"
            "  -j, --jobs N          at most N of these commands running at once, on all the\n"
            "                        slaves together (default 0: every free slot); +N, -N, N%%:\n"
            "                        N more, N fewer (at least 1), N%% of the slots of the slaves\n"
            "                        alive (GNU parallel's, of its CPUs)\n"
            "      --delay SECS      at least SECS between two starts of these commands\n"
            "      --deadline SECS   a command not started within SECS of reaching the master is\n"
            "                        not run: it ends not started (counted as failed)\n"
            "      --priority N      -20..20 (default 0): when slots are short, the batches of the\n"
            "                        highest priority start first (higher: sooner); a waiting batch\n"
            "                        gains 1 per 10 s of waiting (the master's --aging): none starves\n"
            "      --order fifo|lpt  the order the master starts the commands in: fifo (default) as\n"
            "                        in the input; lpt: once the input ended, the longest first, by\n"
            "                        how long the same command lines took before (the master learns\n"
            "                        it; an unknown one counts as the batch's mean); output order\n"
            "                        rules (-k) are not changed\n"
            "      --line-buffer     print each command's output line by line as it comes,\n"
            "                        while it runs (lines of commands interleave; with -k only\n"
            "                        the first command not printed yet streams)\n"
            "      --lb              the same as --line-buffer (GNU parallel's short name)\n"
            "      --wd DIR          run the commands in DIR on the slaves (relative: to the slave's\n"
            "                        directory, see serveur_esclave --chdir); a DIR a slave cannot\n"
            "                        enter fails each command there with exit status 255 (DIR is\n"
            "                        not created); --workdir is the same\n"
            "      --env NAME[,NAME] copy NAME and its value from this environment to the commands'\n"
            "                        (repeatable, at most %d; a NAME not set here is left out: the\n"
            "                        slave's own stays)\n"
            "      --cache           a command that succeeded (exit 0, output whole) before on this\n"
            "                        master with the same line, --wd and --env, within the master's\n"
            "                        --cache-age, is not run: its stored result comes back, marked\n"
            "                        cached (off by default: a command with side effects must run)\n"
            "      --halt WHEN,WHY=N when N commands (N%%: of all) fail|succeed|are done, stop:\n"
            "                        now (kill the running ones) or soon (let them finish);\n"
            "                        exit status as GNU parallel's (fail=1: the command's own)\n"
            "      --json            print one JSON object per command per line\n"
            "      --timeout SECS    kill commands running longer than this (default: none)\n"
            "      --timeout N%%      kill commands running longer than N%% of the median run time\n"
            "                        of the successful ones so far (GNU parallel's)\n"
            "      --retries N       run a command that fails (exit not 0, signal, timeout) up to\n"
            "                        N times in all, on another slave where it has not failed\n"
            "                        when there is one (GNU parallel's; default 1)\n"
            "      --lost-retries N  attempts per command if its slave dies (default: the master's)\n"
            "      --key-file FILE   shared secret of the master (default: $SMP_KEY_FILE if set)\n"
            "      --master HOST:PORT  where the master is (default: $SMP_MASTER if set)\n"
            "      --dry-run         print the commands that would be sent, one per line, and send\n"
            "                        none; on stderr the master's slaves that would take them\n"
            "                        (exit 0 even if the master is out of reach)\n"
            "      --reconnect SECS  if the connection breaks, reconnect and resume for up to SECS\n"
            "                        (default %d; 0: never; only with a master that keeps a journal)\n"
            "      --detach          submit FILE, print the batch ID once the master has it on disk,\n"
            "                        and leave: the batch runs on without the client\n"
            "      --attach ID       print the results of batch ID (done ones first) and follow it\n"
            "      --batches         list the master's batches (with --json: one object per line)\n"
            "      --status          the master's state now: slaves, batches, figures (a table;\n"
            "                        with --json: one object, doc/monitoring.md)\n"
            "      --progress        on stderr: per slave running/done/failed/average seconds,\n"
            "                        and the totals (redrawn in place on a terminal)\n"
            "      --eta             on stderr: estimated seconds left, commands left, average\n"
            "      --bar             on stderr: a bar with percent done, done/total and the ETA\n"
            "      --trace           one line on stderr per frame sent or received\n"
            "                        (doc/protocol.md \"Reading a trace\")\n"
            "  -v, --verbose         say what the client is doing on stderr\n"
            "  -q, --quiet           no status lines and no summary (stderr)\n"
            "  -h, --help            this help\n"
            "  -V, --version         version\n"
            "\n"
            "Exit status: 0 all commands exited 0; 1-100 the number that failed; 101 more than\n"
            "100 failed; 255 a usage error (an unknown option, a bad value: one line says which)\n"
            "or any other error (master unreachable within %d s, unreadable file,\n"
            "protocol error, master gone mid-run, output that could not be written); 130 interrupted\n"
            "(Ctrl-C: the batch is cancelled; with the master out of reach, once it answers, within\n"
            "5 s, else the batch runs on and the client says so), 143 terminated (SIGTERM: likewise).\n",
            DEFAULT_MASTER_PORT, DEFAULT_MASTER_PORT, MAX_ENV_VARS, DEFAULT_RECONNECT_SECONDS, DEFAULT_CONNECT_SECONDS);
}

static _Noreturn void fatal(client_state *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cancel_on_exit(client_state *c);

/* --dry-run asks the master which slaves it has: if that fails, the
 * dry run is still done (exit 0). How long it tries to connect. */
static int dry_run_asking;
static unsigned connect_seconds = DEFAULT_CONNECT_SECONDS;

static void fatal(client_state *c, const char *fmt, ...)
{
    va_list ap;
    if (dry_run_asking) {
        fprintf(stderr, "client: --dry-run: nothing was submitted; cannot ask the master which slaves would take "
                "the commands: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
        exit(0);
    }
    if (c)
        cancel_on_exit(c);
    fflush(stdout);
    if (c)
        progress_clear(&c->prog);
    fprintf(stderr, "client: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (c)
        report_close(&c->rep);
    exit(EXIT_TROUBLE);
}

/* Connects within DEFAULT_CONNECT_SECONDS, trying again while the master
 * is not up yet (the classroom launch starts everything at once). */
static sock_t connect_master(client_state *c)
{
    char err[256] = "";
    uint64_t deadline = clock_ms() + connect_seconds * 1000u;
    if (net_resolve(c->host, c->port, 0, &c->addr, err, sizeof err) < 0)
        fatal(c, "cannot reach the master: %s", err);
    for (;;) {
        sock_t s = net_tcp_connect(&c->addr, err, sizeof err);
        if (s != SOCK_INVALID) {
            for (;;) {
                uint64_t now = clock_ms();
                net_pollfd p = {s, NET_OUT, 0};
                int r = net_poll(&p, 1, now >= deadline ? 0 : (int)(deadline - now));
                if (r > 0 && net_connect_result(s, err, sizeof err) == 0)
                    return s;
                if (r != 0 || clock_ms() >= deadline)
                    break;
            }
            net_close(s);
        }
        if (clock_ms() >= deadline)
            break;
        net_pollfd none = {SOCK_INVALID, 0, 0};
        net_poll(&none, 0, 100); /* try again in 100 ms */
    }
    fatal(c, "cannot reach the master at %s:%d within %u s: %s", c->host, c->port, connect_seconds,
          err[0] ? err : "timed out");
}

/* --trace: the master's address, as the lines name a peer */
static void trace_peer(const client_state *c, char *name, size_t len)
{
    net_addr_str(&c->addr, name, len);
}

static void client_frame_end(client_state *c, size_t start)
{
    if (trace_on) {
        char peer[80];
        trace_peer(c, peer, sizeof peer);
        trace_frame_out(peer, &c->out, start, c->tagged ? FRAME_SEAL_LEN : 0);
    }
    if (c->tagged)
        frame_end_sealed(&c->out, start, &c->tx_key, c->tx_seq++);
    else
        frame_end(&c->out, start);
}

static void legacy_resend(client_state *c);

/* The connection's first frame after the handshake: which batch. */
static void send_attach(client_state *c)
{
    attach_frame a = {.mode = ATTACH_NEW};
    if (c->mode == MODE_LIST)
        a.mode = ATTACH_LIST;
    else if (c->mode == MODE_STATUS)
        a.mode = ATTACH_STATUS;
    else if (c->mode == MODE_FOLLOW)
        a = (attach_frame){.mode = ATTACH_FOLLOW, .batch = c->batch, .have = c->from_master};
    else if (c->resuming)
        a = (attach_frame){.mode = ATTACH_RESUME, .batch = c->batch, .have = c->from_master};
    /* Which results we hold, by SUBMIT index: after a crash of the master
     * the order it has them in may not be the order we saw (doc/journal.md). */
    uint8_t *held = NULL;
    if (a.mode == ATTACH_RESUME || a.mode == ATTACH_FOLLOW) {
        uint32_t bits = 0;
        for (uint32_t i = 0; i < c->ncmds; i++)
            if (c->cmds[i].done && c->cmds[i].index != SUBMIT_NONE && c->cmds[i].index >= bits)
                bits = c->cmds[i].index + 1;
        if (bits && bits <= ATTACH_HELD_MAX && (held = calloc((bits + 7) / 8, 1))) {
            for (uint32_t i = 0; i < c->ncmds; i++)
                if (c->cmds[i].done && c->cmds[i].index != SUBMIT_NONE)
                    held[c->cmds[i].index / 8] |= (uint8_t)(1u << (c->cmds[i].index % 8));
            a.held = held;
            a.held_bits = bits;
        }
    }
    client_frame_end(c, attach_frame_encode(&c->out, &a));
    free(held);
    if ((c->halt.when || c->jobs || c->jobs_form || c->delay_ms || c->wd || c->nenv || c->line_buffer ||
         c->fail_attempts > 1 || c->timeout_pct || c->deadline_ms || c->priority || c->order || c->cache) &&
        (a.mode == ATTACH_NEW || a.mode == ATTACH_RESUME)) {
        static options_frame o; /* (its --env list is large) */
        o = (options_frame){.halt_when = (uint8_t)c->halt.when, .halt_why = (uint8_t)c->halt.why,
                            .halt_pct = (uint8_t)c->halt.pct, .halt_n = c->halt.n, .jobs = c->jobs,
                            .jobs_form = c->jobs_form, .jobs_n = c->jobs_n,
                            .delay_ms = c->delay_ms, .line_buffer = (uint8_t)!!c->line_buffer,
                            .fail_attempts = c->fail_attempts > 1 ? c->fail_attempts : 0,
                            .timeout_pct = c->timeout_pct, .deadline_ms = c->deadline_ms,
                            .priority = (int8_t)c->priority, .order = c->order,
                            .cache = (uint8_t)!!c->cache};
        /* the master halts with us, caps and spaces our starts, streams the output, runs
         * failed commands again, times them out */
        if (c->wd) /* and runs our commands there, with these variables */
            o.wd = (opt_str){c->wd, (uint16_t)strlen(c->wd)};
        for (unsigned i = 0; i < c->nenv; i++)
            o.env[o.nenv++] = (opt_str){c->env[i], (uint16_t)strlen(c->env[i])};
        client_frame_end(c, options_frame_encode(&c->out, &o));
    }
    c->attach_sent = 1;
}

/* --json --retries: its "attempts" come from the STARTED frames (their run). */
static int want_runs(const client_state *c)
{
    return c->rep.json && c->fail_attempts > 1;
}

/* With a key, HELLO proves we know it (key set 0, the key file's first
 * line), over our fresh nonce and fresh public key. We always
 * speak batches (FRAME_FLAG_RESUME): ATTACH follows, at once without a
 * key, after READY with one. */
static void send_hello(client_state *c)
{
    /* FRAME_FLAG_CACHED: this client reads RESULT_FLAG_CACHED (an older master ignores the bit) */
    uint16_t flags = c->legacy ? 0 : FRAME_FLAG_RESUME | FRAME_FLAG_CACHED |
                                         (c->prog.what || want_runs(c) ? FRAME_FLAG_PROGRESS : 0);
    hello_frame h = {.magic = FRAME_MAGIC, .version = FRAME_VERSION, .flags = flags,
                     .timeout_ms = c->timeout_ms, .retries = c->retries};
    auth_random(c->nonce, sizeof c->nonce);
    memcpy(h.nonce, c->nonce, sizeof h.nonce);
    if (c->auth.enabled) {
        auth_ephemeral_new(&c->eph);
        memcpy(h.pub, c->eph.pub, sizeof h.pub);
    }
    size_t start = hello_frame_encode(&c->out, &h, c->auth.enabled ? &c->auth.set[0].client_to_master : NULL);
    if (trace_on) {
        char peer[80];
        trace_peer(c, peer, sizeof peer);
        trace_frame_out(peer, &c->out, start, 0);
    }
    frame_end(&c->out, start);
    if (!c->auth.enabled && !c->legacy)
        send_attach(c);
}

/* WELCOME: with a key, the master proves it knows it too, over our nonce
 * and its own and its public key; both nonces and the exchange make this
 * connection's frame keys. */
static void on_welcome(client_state *c, const breader *r)
{
    welcome_frame wf;
    if (welcome_frame_decode(r, &wf) < 0)
        fatal(c, "protocol error: malformed WELCOME from the master");
    if (c->auth.enabled) {
        if (!wf.proof)
            fatal(c, "the master did not authenticate itself: is it running without a key?");
        if (!auth_welcome_check(&c->auth.set[0].master_to_client, c->nonce, wf.signed_fields, FRAME_WELCOME_SIGNED, wf.proof))
            fatal(c, "the master failed to authenticate itself: wrong key (ours: the first line of key file '%s'), "
                  "or not our master", c->auth.path);
        uint8_t nonces[2 * AUTH_NONCE_LEN];
        memcpy(nonces, c->nonce, AUTH_NONCE_LEN);
        memcpy(nonces + AUTH_NONCE_LEN, wf.nonce, AUTH_NONCE_LEN);
        int bad = auth_conversation_keys(&c->auth, 0, AUTH_CLIENT, "frames", nonces, sizeof nonces, &c->eph, wf.pub,
                                         &c->tx_key, &c->rx_key) < 0;
        crypto_wipe(&c->eph, sizeof c->eph);
        if (bad)
            fatal(c, "authentication failed: the master's public key is of low order (refused): not our master?");
        c->tagged = 1;
        /* READY, our first sealed frame, at once: it proves to the master
         * that we are live and not a replayed HELLO, even if the command
         * file has no line yet (tail -f | client -). */
        client_frame_end(c, ready_frame_encode(&c->out));
        if (!c->legacy)
            send_attach(c);
        else
            legacy_resend(c);
    }
    c->welcomed = 1;
    /* An older master ignores the flag and never sends STARTED: then
     * nobody knows what runs, only what is done. */
    c->prog.know_running = (wf.flags & FRAME_FLAG_PROGRESS) != 0;
    c->prog.dirty = 1;
    if (c->rep.verbose)
        fprintf(stderr, "client: connected to %s:%d%s: %u of %u slaves answering, %u slots\n", c->host, c->port,
                c->tagged ? " (authenticated)" : "", wf.alive, wf.slaves, wf.slots);
}

static const char *batch_id_str(uint64_t id, char buf[17])
{
    snprintf(buf, 17, "%016llx", (unsigned long long)id);
    return buf;
}

/* 16 hexadecimal digits, as --detach and --batches print them. */
static int parse_batch_id(const char *s, uint64_t *id)
{
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n != 16)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *id = v;
    return 0;
}

/* The slot of seq, created (with the gaps before it) if needed. */
static command_slot *slot_for(client_state *c, uint32_t seq)
{
    while (c->ncmds < seq) {
        if (c->ncmds == c->cap_cmds) {
            c->cap_cmds = c->cap_cmds ? c->cap_cmds * 2 : 1024;
            c->cmds = realloc(c->cmds, c->cap_cmds * sizeof *c->cmds);
            if (!c->cmds)
                fatal(c, "out of memory");
        }
        c->cmds[c->ncmds++] = (command_slot){.index = SUBMIT_NONE};
    }
    return &c->cmds[seq - 1];
}

static void set_text(client_state *c, command_slot *s, const char *text, size_t len)
{
    s->text = malloc(len + 1);
    if (!s->text)
        fatal(c, "out of memory");
    memcpy(s->text, text, len);
    s->text[len] = 0;
    s->len = (uint32_t)len;
    s->known = 1;
}

static uint32_t remember_command(client_state *c, const char *text, size_t len)
{
    uint32_t seq = c->ncmds + 1;
    set_text(c, slot_for(c, seq), text, len);
    return seq;
}

static CommandResult *copy_result(const CommandResult *r)
{
    CommandResult *k = malloc(sizeof *k);
    if (!k)
        return NULL;
    *k = *r;
    k->stdout_data = r->stdout_len ? malloc(r->stdout_len) : NULL;
    k->stderr_data = r->stderr_len ? malloc(r->stderr_len) : NULL;
    k->message = r->message_len ? malloc(r->message_len) : NULL;
    if (r->stdout_len)
        memcpy(k->stdout_data, r->stdout_data, r->stdout_len);
    if (r->stderr_len)
        memcpy(k->stderr_data, r->stderr_data, r->stderr_len);
    if (r->message_len)
        memcpy(k->message, r->message, r->message_len);
    return k;
}

/* A SUBMIT's text stays until the master has it on disk: a reconnection
 * may have to send it again. */
static void line_buffer_free(command_slot *s)
{
    if (!s->lb)
        return;
    free(s->lb->st[0].part);
    free(s->lb->st[1].part);
    free(s->lb);
    s->lb = NULL;
}

/* --line-buffer: the result of a command some of whose output was shown
 * as it came. The result is authoritative: it holds every byte. From the
 * attempt shown, only what was not shown follows; from another one (the
 * command ran again: its slave died, or a retry), a note and the whole
 * result, never the end of one run glued to the start of another. */
static void line_buffer_result(client_state *c, command_slot *s, const CommandResult *r)
{
    struct line_buffer *l = s->lb;
    c->rep.shown[0] = c->rep.shown[1] = 0;
    c->rep.shown_mid[0] = c->rep.shown_mid[1] = 0;
    if (!l)
        return;
    if (l->st[0].shown || l->st[1].shown) {
        /* no mark: a result read back from the journal; one dispatch only (no ran-twice flag): the one shown */
        int same = l->final ? l->final == l->attempt : !r->ran_twice;
        if (c->rep.verbose)
            fprintf(stderr, "client: [%u] %u+%u bytes (stdout+stderr) shown as they came, of attempt %u\n", r->seq,
                    l->st[0].shown, l->st[1].shown, l->attempt);
        if (same && l->st[0].shown <= r->stdout_len && l->st[1].shown <= r->stderr_len) {
            for (int k = 0; k < 2; k++) {
                c->rep.shown[k] = l->st[k].shown;
                c->rep.shown_mid[k] = l->st[k].mid;
            }
        } else {
            fflush(stdout);
            fprintf(stderr, "%sclient: [%u] ran again; its output from the start:\n", c->rep.mid_line ? "\n" : "",
                    r->seq);
            c->rep.mid_line = 0;
        }
    }
    line_buffer_free(s);
}

/* F_OUTPUT: bytes of a running command, shown by whole lines as they come.
 * Chunks are best-effort: one at the offset shown so far (plus the part
 * held) extends it; a duplicate or an older attempt's is dropped; one past
 * a gap is dropped too (the result brings the missing bytes, and the rest). */
static void on_output(client_state *c, const output_frame *o)
{
    if (!c->line_buffer || o->seq == 0 || o->seq > c->ncmds || c->mode != MODE_RUN)
        return;
    command_slot *s = &c->cmds[o->seq - 1];
    if (!s->known || s->done || s->index == SUBMIT_NONE)
        return;
    if (o->stream && c->rep.keep_order && o->seq != c->next_to_print)
        return; /* -k: only the first command not printed yet streams (GNU parallel's -k --line-buffer) */
    if (!s->lb && !(s->lb = calloc(1, sizeof *s->lb)))
        return; /* the result will bring it */
    struct line_buffer *l = s->lb;
    if (o->stream == 0) {
        l->final = o->attempt;
        return;
    }
    if (l->attempt && o->attempt < l->attempt)
        return;
    if (l->attempt && o->attempt > l->attempt) { /* it runs again: its new output, from the start */
        if (l->st[0].shown || l->st[1].shown) {
            fflush(stdout);
            fprintf(stderr, "%sclient: [%u] ran again; its output from the start:\n", c->rep.mid_line ? "\n" : "",
                    o->seq);
            c->rep.mid_line = 0;
        }
        for (int k = 0; k < 2; k++)
            l->st[k].shown = l->st[k].part_len = (uint32_t)(l->st[k].mid = 0);
    }
    l->attempt = o->attempt;
    int k = o->stream - 1;
    uint64_t have = (uint64_t)l->st[k].shown + l->st[k].part_len;
    if (o->offset > have || o->offset + (uint64_t)o->len <= have)
        return;
    const uint8_t *p = o->data + (have - o->offset);
    size_t n = o->len - (size_t)(have - o->offset);
    while (n) {
        size_t want = l->st[k].part_len + n < LB_PART_MAX ? l->st[k].part_len + n : LB_PART_MAX;
        if (want > l->st[k].part_cap) {
            size_t cap = want < 4096 ? 4096 : want * 2 < LB_PART_MAX ? want * 2 : LB_PART_MAX;
            char *np = realloc(l->st[k].part, cap);
            if (!np)
                return; /* the result will bring it */
            l->st[k].part = np;
            l->st[k].part_cap = (uint32_t)cap;
        }
        size_t room = LB_PART_MAX - l->st[k].part_len, take = n < room ? n : room;
        memcpy(l->st[k].part + l->st[k].part_len, p, take);
        l->st[k].part_len += (uint32_t)take;
        p += take;
        n -= take;
        char *part = l->st[k].part;
        size_t len = l->st[k].part_len, upto = len;
        if (len < LB_PART_MAX) { /* whole lines only, unless one fills the buffer */
            while (upto && part[upto - 1] != '\n')
                upto--;
        }
        if (!upto)
            continue;
        progress_clear(&c->prog);
        report_stream(&c->rep, o->seq, k, part, upto, l->st[k].mid, s->text, s->len, s->args, s->args_len);
        l->st[k].mid = part[upto - 1] != '\n';
        l->st[k].shown += (uint32_t)upto;
        memmove(part, part + upto, len - upto);
        l->st[k].part_len = (uint32_t)(len - upto);
    }
}

static void show(client_state *c, command_slot *s, const CommandResult *r)
{
    progress_clear(&c->prog); /* stdout may be the same terminal */
    line_buffer_result(c, s, r);
    c->rep.attempts = want_runs(c) ? (s->runs ? s->runs : 1) : 0;
    report_result_args(&c->rep, r, s->text, s->len, s->args, s->args_len);
    c->rep.shown[0] = c->rep.shown[1] = 0;
    free(s->args);
    s->args = NULL;
    if (s->index == SUBMIT_NONE || s->index < c->accepted || c->mode == MODE_FOLLOW) {
        free(s->text);
        s->text = NULL;
    }
}

/* --keep-order: prints the held results that are next in line, skipping
 * the gaps of --attach (lines the batch's client refused itself). */
static void print_ready(client_state *c)
{
    while (c->next_to_print <= c->ncmds) {
        command_slot *h = &c->cmds[c->next_to_print - 1];
        if (h->known && !h->held)
            break;
        if (h->held) {
            CommandResult *k = h->held;
            show(c, h, k);
            command_result_free(k);
            free(k);
            h->held = NULL;
        }
        c->next_to_print++;
    }
}

/* --halt's value: 0, or -1 if it is not one of GNU parallel's forms. */
static int parse_halt(const char *s, halt_rule *h)
{
    static const struct { const char *name; halt_rule rule; } legacy[] = {
        {"never", {HALT_NEVER, HALT_FAIL, 0, 0}}, {"0", {HALT_NEVER, HALT_FAIL, 0, 0}},
        {"1", {HALT_SOON, HALT_FAIL, 1, 0}},      {"2", {HALT_NOW, HALT_FAIL, 1, 0}},
        {"-1", {HALT_SOON, HALT_SUCCESS, 1, 0}},  {"-2", {HALT_NOW, HALT_SUCCESS, 1, 0}}};
    for (size_t i = 0; i < sizeof legacy / sizeof *legacy; i++)
        if (!strcmp(s, legacy[i].name)) {
            *h = legacy[i].rule;
            return 0;
        }
    char *end;
    const char *v;
    if (!strncmp(s, "now,", 4) || !strncmp(s, "soon,", 5)) {
        h->when = s[0] == 'n' ? HALT_NOW : HALT_SOON;
        v = s + (s[0] == 'n' ? 4 : 5);
        if (!strncmp(v, "fail=", 5))
            h->why = HALT_FAIL, v += 5;
        else if (!strncmp(v, "success=", 8))
            h->why = HALT_SUCCESS, v += 8;
        else if (!strncmp(v, "done=", 5))
            h->why = HALT_DONE, v += 5;
        else
            return -1;
    } else { /* 1-99%: soon,fail=N% */
        h->when = HALT_SOON, h->why = HALT_FAIL;
        v = s;
        if (!strchr(s, '%'))
            return -1;
    }
    if (*v < '0' || *v > '9')
        return -1;
    unsigned long n = strtoul(v, &end, 10);
    h->pct = *end == '%';
    if ((h->pct && end[1]) || (!h->pct && *end) || n == 0 || n > (h->pct ? 100ul : 100000000ul))
        return -1;
    h->n = (uint32_t)n;
    return 0;
}

static _Noreturn void halt_now(client_state *c);
static void send_end(client_state *c);
static uint32_t expected(const client_state *c);
static int flush_out(client_state *c, unsigned ms);

/* After each result: has --halt's condition come? Then the exit status is
 * GNU parallel's: the failing command's own for fail=1, 0 for success,
 * the share of commands that failed (in %) for a percentage, else the
 * usual count. Percentages wait until the whole input is read. */
static void halt_check(client_state *c, const CommandResult *r)
{
    const halt_rule *h = &c->halt;
    if (command_result_failed(r))
        c->n_failed++;
    else
        c->n_ok++;
    uint32_t total = expected(c);
    if (!halt_reached((uint8_t)h->why, h->pct, h->n, c->n_ok, c->n_failed, c->input_done, total))
        return;
    c->halted = h->when;
    if (h->why == HALT_SUCCESS)
        c->halt_status = 0;
    else if (h->pct)
        c->halt_status = (int)((uint64_t)c->n_failed * 100 / (total ? total : 1));
    else if (h->why == HALT_FAIL && h->n == 1)
        c->halt_status = r->status == RUN_EXITED ? r->exit_code & 255 : r->term_signal ? 128 + r->term_signal : 1;
    else
        c->halt_status = -1;
    progress_clear(&c->prog);
    fflush(stdout);
    fprintf(stderr, "client: --halt: command %u %s: %s\n", r->seq,
            h->why == HALT_DONE ? "finished" : command_result_failed(r) ? "failed" : "succeeded",
            c->halted == HALT_NOW ? "stopping now (running commands are killed, the others not run)"
                                  : "starting no more (running commands finish)");
    if (!c->input_done) { /* what is not sent yet never will be */
        c->input_done = 1;
        send_end(c);
    }
    if (c->halted == HALT_NOW)
        halt_now(c);
    client_frame_end(c, cancel_frame_encode(&c->out, CANCEL_QUEUED));
}

/* --halt now: the batch is cancelled (its running commands killed, as
 * Ctrl-C does) and we leave; what -k holds back is shown first. */
static _Noreturn void halt_now(client_state *c)
{
    if (c->sock != SOCK_INVALID && c->attach_sent) {
        client_frame_end(c, cancel_frame_encode(&c->out, CANCEL_ALL));
        flush_out(c, GOODBYE_MS);
    }
    for (uint32_t i = 0; i < c->ncmds; i++) {
        command_slot *h = &c->cmds[i];
        if (h->held) {
            show(c, h, h->held);
            command_result_free(h->held);
            free(h->held);
            h->held = NULL;
        }
    }
    fflush(stdout);
    report_close(&c->rep);
    exit(c->halt_status >= 0 ? c->halt_status : report_exit_status(&c->rep));
}

/* Every result goes through here, from the master or made locally. */
static void on_result(client_state *c, const CommandResult *r)
{
    if (r->seq == 0 || r->seq > c->ncmds || !c->cmds[r->seq - 1].known || c->cmds[r->seq - 1].done)
        fatal(c, "protocol error: result for unknown or finished command %u", r->seq);
    c->results++;
    command_slot *s = &c->cmds[r->seq - 1];
    s->done = 1;
    if (c->halted && r->status == RUN_CANCELLED) { /* --halt soon: not run; GNU parallel shows nothing of it */
        line_buffer_free(s);
        free(s->text);
        s->text = NULL;
        if (c->rep.keep_order && r->seq == c->next_to_print) {
            c->next_to_print++;
            print_ready(c);
        } else if (c->rep.keep_order) {
            s->known = 0; /* a gap print_ready steps over */
        }
        return;
    }
    progress_done(&c->prog, r->seq, r->host, command_result_failed(r), r->duration_us);
    if (!c->rep.keep_order) {
        show(c, s, r);
    } else {
        print_ready(c);
        if (r->seq != c->next_to_print) {
            if (!(s->held = copy_result(r)))
                fatal(c, "out of memory");
        } else {
            show(c, s, r);
            c->next_to_print++;
            print_ready(c);
        }
    }
    if (c->halt.when && !c->halted) /* after it is shown: GNU parallel prints the one that halts */
        halt_check(c, r);
}

static void reject_line(client_state *c, uint32_t seq, uint32_t lineno, const char *why)
{
    CommandResult r;
    char msg[128];
    memset(&r, 0, sizeof r);
    r.seq = seq;
    r.status = RUN_REJECTED;
    r.exit_code = -1;
    r.start_ms = wall_ms();
    snprintf(msg, sizeof msg, "line %u: %s", lineno, why);
    r.message = msg;
    r.message_len = (uint32_t)strlen(msg);
    progress_clear(&c->prog);
    if (!c->rep.json || c->mode == MODE_DETACH)
        fprintf(stderr, "client: %s: not run\n", msg);
    if (c->mode == MODE_DETACH) /* stdout is for the batch ID alone; the batch never has this line */
        return;
    on_result(c, &r);
}

static void send_submit(client_state *c, uint32_t seq)
{
    command_slot *s = &c->cmds[seq - 1];
    if (!s->text)
        fatal(c, "internal error: the text of command %u is gone, it cannot be sent again", seq);
    submit_frame f = {.seq = seq, .len = s->len, .command = (const uint8_t *)s->text};
    client_frame_end(c, submit_frame_encode(&c->out, &f));
    if (c->out.error)
        fatal(c, "out of memory");
}

static void send_end(client_state *c)
{
    end_frame e = {.count = c->submitted};
    client_frame_end(c, end_frame_encode(&c->out, &e));
}

static void on_accepted(client_state *c, uint32_t count);

/* --resume, --resume-failed: whether the joblog read at the start says
 * the next seq is not to run. The input must be the same as that run's:
 * the seqs are matched by number, as GNU parallel does; a command that is
 * not the joblog's line of its seq is said (the input changed?). */
static int resume_skips(client_state *c, const char *line, size_t len, int compare)
{
    uint32_t seq = c->ncmds + 1;
    if (c->resume != RESUME_ALL && c->resume != RESUME_FAILED)
        return 0;
    const char *was = seq <= c->past.max_seq ? c->past.command[seq] : NULL;
    if (was && compare && (strlen(was) != len || memcmp(was, line, len) != 0)) {
        progress_clear(&c->prog);
        if (c->differ++ < 5)
            fprintf(stderr, "client: warning: command %u is not the joblog's line %u ('%s'): was the input changed? "
                    "Seqs are matched by number\n", seq, seq, was);
    }
    uint8_t st = seq <= c->past.max_seq ? c->past.state[seq] : JOBLOG_NONE;
    if (st == JOBLOG_NONE || (c->resume == RESUME_FAILED && st == JOBLOG_FAILED))
        return 0;
    slot_for(c, seq); /* a gap in the numbering: not sent, no result */
    c->skipped++;
    return 1;
}

static void handle_line(client_state *c, const char *line, size_t len, int truncated)
{
    if (c->halted) /* --halt: the rest of the input is not run */
        return;
    enum cmd_line_kind kind = cmd_line_classify(line, len, truncated);
    if (kind == CMD_SKIP && c->tmpl) /* job {#}: a blank or '#' line is a command too, as in GNU parallel */
        kind = CMD_COMMAND;
    if (kind == CMD_SKIP)
        return;
    if (resume_skips(c, line, len, kind == CMD_COMMAND))
        return;
    if (kind == CMD_COMMAND) {
        uint32_t seq = remember_command(c, line, len);
        if (c->submitted == c->cap_submits) {
            c->cap_submits = c->cap_submits ? c->cap_submits * 2 : 1024;
            c->submits = realloc(c->submits, c->cap_submits * sizeof *c->submits);
            if (!c->submits)
                fatal(c, "out of memory");
        }
        c->cmds[seq - 1].index = c->submitted;
        c->submits[c->submitted++] = seq;
        c->unaccepted_bytes += len;
        send_submit(c, seq);
        if (c->legacy) /* no ACCEPTED from such a master: nothing is ever sent again */
            on_accepted(c, c->submitted);
        return;
    }
    /* Not run, but it keeps its place in the numbering; what the joblog
     * and the status line show of it: its first 200 bytes, NULs as '?'. */
    char shown[200];
    size_t n = len > sizeof shown ? sizeof shown : len;
    for (size_t i = 0; i < n; i++)
        shown[i] = line[i] ? line[i] : '?';
    uint32_t seq = remember_command(c, shown, n);
    char why[96];
    if (kind == CMD_TOO_LONG)
        snprintf(why, sizeof why, "command longer than %d bytes", MAX_COMMAND_LEN);
    else
        snprintf(why, sizeof why, "NUL byte in the command");
    reject_line(c, seq, c->lines.lineno, why);
}

static long read_template(client_state *c);

/* Returns the bytes read (0 at the end, NET_AGAIN). */
static long read_input(client_state *c)
{
    if (c->tmpl)
        return read_template(c);
    char buf[INPUT_CHUNK];
    long n = input_read(c->input, buf, sizeof buf);
    if (n == NET_AGAIN)
        return n;
    if (n < 0)
        fatal(c, "cannot read the command file '%s': %s", c->input_name, net_last_error());
    size_t pos = 0;
    const char *line;
    size_t len;
    int truncated;
    while (line_reader_next(&c->lines, buf, (size_t)n, &pos, n == 0, &line, &len, &truncated))
        handle_line(c, line, len, truncated);
    if (c->halted) /* --halt: the input ended there, END is sent */
        return 0;
    if (n == 0) {
        c->input_done = 1;
        send_end(c);
        if (c->rep.verbose) {
            progress_clear(&c->prog);
            fprintf(stderr, "client: %u commands sent\n", c->ncmds);
        }
    }
    return n;
}

/* --retry-failed: the joblog's failed commands are the input, each with
 * its Seq; the seqs between them are gaps. */
static void feed_retry(client_state *c)
{
    for (uint32_t seq = 1; seq <= c->past.max_seq; seq++) {
        if (c->past.state[seq] != JOBLOG_FAILED || !c->past.command[seq])
            continue;
        if (seq > 1) {
            uint32_t before = c->ncmds;
            slot_for(c, seq - 1);
            c->skipped += c->ncmds - before;
        }
        handle_line(c, c->past.command[seq], strlen(c->past.command[seq]), 0);
    }
    c->input_done = 1;
    send_end(c);
    if (c->rep.verbose) {
        progress_clear(&c->prog);
        fprintf(stderr, "client: %u failed commands of the joblog sent again\n", c->ncmds - c->skipped);
    }
}

/* A template's lines go where a command file's go (handle_line), job k
 * ({#} = k) as the file's k-th command: seq k. At most INPUT_CHUNK bytes
 * a turn, within the read-ahead limits; returns INPUT_CHUNK, 0 at the end. */
static long read_template(client_state *c)
{
    size_t made = 0;
    while (!c->halted && made < INPUT_CHUNK && bw_pending(&c->out) < SEND_HIGH_WATER &&
           c->submitted - c->accepted < UNACCEPTED_MAX_COMMANDS && c->unaccepted_bytes < UNACCEPTED_MAX_BYTES) {
        const char *line;
        size_t len;
        uint32_t seq;
        int r = template_next(c->tmpl, &line, &len, &seq);
        if (r < 0)
            fatal(c, "out of memory");
        if (r == 0) {
            c->input_done = 1;
            send_end(c);
            if (c->rep.verbose) {
                progress_clear(&c->prog);
                fprintf(stderr, "client: %u commands sent\n", c->ncmds);
            }
            return 0;
        }
        if (seq != c->ncmds + 1)
            fatal(c, "internal error: template job %u made as command %u", seq, c->ncmds + 1);
        c->lines.lineno = seq; /* "line N" of a refused one: job N */
        handle_line(c, line, len, 0);
        if ((c->rep.tag || c->rep.tagstring) && !(c->cmds[seq - 1].args = template_args(c->tmpl, &c->cmds[seq - 1].args_len)))
            fatal(c, "out of memory");
        made += len + 1;
    }
    return INPUT_CHUNK;
}

/* The commands a result count is out of: all the lines read but the ones
 * a resume skipped (or, with --attach, the batch's). */
static uint32_t expected(const client_state *c)
{
    return c->mode == MODE_FOLLOW ? c->total : c->ncmds - c->skipped;
}

/* Writes what is queued for at most ms (a frame we leave with: ACK,
 * CANCEL, DETACH). 0 if all of it left. */
static int flush_out(client_state *c, unsigned ms)
{
    uint64_t end = clock_ms() + ms;
    while (bw_pending(&c->out)) {
        long w = net_send(c->sock, bw_head(&c->out), bw_pending(&c->out));
        if (w == NET_ERROR)
            return -1;
        if (w > 0) {
            bw_consume(&c->out, (size_t)w);
            continue;
        }
        uint64_t now = clock_ms();
        if (now >= end)
            return -1;
        net_pollfd p = {c->sock, NET_OUT, 0};
        net_poll(&p, 1, (int)(end - now));
    }
    return 0;
}

/* A client that gives up on its batch (fatal) cancels it, as its hang-up
 * did before batches: an orphaned batch would run on for --client-grace. */
static void cancel_on_exit(client_state *c)
{
    if (c->sock == SOCK_INVALID || !c->attach_sent || c->got_bye || c->mode != MODE_RUN || c->legacy)
        return;
    client_frame_end(c, empty_frame_encode(&c->out, F_CANCEL));
    flush_out(c, GOODBYE_MS);
}

/* Ctrl-C, SIGTERM (and SIGHUP, the terminal gone): the batch is cancelled
 * (--attach: only our following of it ends), best effort, without
 * waiting more than GOODBYE_MS for the master to read it. A batch that
 * survives the connection (durable), interrupted while the master is out
 * of reach, is cancelled once it answers (on_batch), for CANCEL_WAIT_MS at
 * most; a second signal leaves at once: the batch then runs on, orphaned,
 * and the user is told so. */
static _Noreturn void stop_now(client_state *c, int status)
{
    char id[17];
    int told = 0; /* CANCEL or DETACH written */
    if (c->sock != SOCK_INVALID && c->attach_sent && !QUERY_MODE(c)) {
        client_frame_end(c, empty_frame_encode(&c->out, c->mode == MODE_FOLLOW ? F_DETACH : F_CANCEL));
        told = flush_out(c, GOODBYE_MS) == 0;
    }
    fflush(stdout);
    progress_clear(&c->prog);
    batch_id_str(c->batch, id);
    if (c->mode == MODE_FOLLOW)
        fprintf(stderr, "client: interrupted: no longer following batch %s (it runs on)\n", id);
    else if (QUERY_MODE(c))
        fprintf(stderr, "client: interrupted\n");
    else if (told || !c->got_batch || !c->durable)
        fprintf(stderr, "client: interrupted: the batch is cancelled\n");
    else
        fprintf(stderr, "client: interrupted while the master was out of reach: batch %s was NOT cancelled; it runs "
                "on, and the master cancels it after its --client-grace unless 'client --attach %s' takes it "
                "(Ctrl-C there cancels it)\n", id, id);
    report_close(&c->rep);
    exit(status);
}

static void on_stop(client_state *c)
{
    if (!c->cancelling && c->mode == MODE_RUN && c->got_batch && c->durable &&
        (c->sock == SOCK_INVALID || !c->attach_sent)) {
        char id[17];
        c->cancelling = 1;
        uint64_t end = clock_ms() + CANCEL_WAIT_MS;
        if (end < c->reconnect_deadline)
            c->reconnect_deadline = end;
        fflush(stdout);
        progress_clear(&c->prog);
        fprintf(stderr, "client: interrupted: cancelling batch %s as soon as the master answers (within %u s; "
                "Ctrl-C again to leave it running)\n", batch_id_str(c->batch, id), CANCEL_WAIT_MS / 1000);
        return;
    }
    stop_now(c, signal_stop_status());
}

static void take_signals(client_state *c)
{
    int ev;
    while ((ev = signal_events_take()) != SIGNAL_NONE)
        if (ev == SIGNAL_STOP || ev == SIGNAL_RELOAD)
            on_stop(c);
}

/* Waits up to ms, awake for signals only. */
static void pause_ms(client_state *c, uint64_t ms)
{
    net_pollfd p = {c->sigfd, NET_IN, 0};
    if (net_poll(&p, c->sigfd == SOCK_INVALID ? 0 : 1, (int)ms) > 0)
        take_signals(c);
}

static _Noreturn void cannot_come_back(client_state *c)
{
    char id[17];
    if (c->cancelling)
        stop_now(c, signal_stop_status());
    batch_id_str(c->batch, id);
    fatal(c, "cannot reach the master again within %u s (%u of %u results received; batch %s: client --attach %s follows it)",
          c->reconnect_s, c->results, expected(c), id, id);
}

/* The connection broke before BYE (EOF, reset, a send error). A batch on
 * a master with a journal survives it: we reconnect (reconnect()) and
 * resume. Otherwise, as before batches: the batch died with it. */
static void connection_lost(client_state *c, const char *why)
{
    if (!c->got_batch || !c->durable || c->reconnect_s == 0 || QUERY_MODE(c)) {
        if (why)
            fatal(c, "lost the connection to the master: %s (%u of %u results received)", why, c->results,
                  expected(c));
        fatal(c, "lost the connection to the master (%u of %u results received)", c->results, expected(c));
    }
    net_close(c->sock);
    c->sock = SOCK_INVALID;
    c->conn_gen++;
    bw_reset(&c->in);
    bw_reset(&c->out); /* what was not sent is sent again from what the master says it has */
    c->tagged = 0;
    c->tx_seq = c->rx_seq = 0;
    c->welcomed = 0;
    c->attach_sent = 0;
    if (!c->reconnecting) {
        c->reconnecting = 1;
        c->attempts = 0;
        c->backoff_ms = BACKOFF_FIRST_MS;
        c->reconnect_deadline = clock_ms() + (uint64_t)c->reconnect_s * 1000u;
        fflush(stdout);
        progress_clear(&c->prog);
        fprintf(stderr, "client: lost the connection to the master (%u of %u results): reconnecting for up to %u s\n",
                c->results, expected(c), c->reconnect_s);
    }
}

/* Connects again (backoff BACKOFF_FIRST_MS doubling to BACKOFF_MAX_MS
 * between attempts, signals heard meanwhile) and sends HELLO and ATTACH;
 * the outage ends at the F_BATCH that answers it (on_batch). Gives up at
 * the deadline. */
static void reconnect(client_state *c)
{
    char err[256];
    for (;;) {
        uint64_t now = clock_ms();
        if (now >= c->reconnect_deadline)
            cannot_come_back(c);
        if (c->attempts++) {
            uint64_t left = c->reconnect_deadline - now;
            pause_ms(c, c->backoff_ms < left ? c->backoff_ms : left);
            c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
            if ((now = clock_ms()) >= c->reconnect_deadline)
                cannot_come_back(c);
        }
        sock_t s = net_tcp_connect(&c->addr, err, sizeof err);
        if (s == SOCK_INVALID)
            continue;
        net_pollfd p[2] = {{s, NET_OUT, 0}, {c->sigfd, NET_IN, 0}};
        int r = net_poll(p, c->sigfd == SOCK_INVALID ? 1 : 2, (int)(c->reconnect_deadline - now));
        if (r > 0 && (p[1].revents & NET_IN))
            take_signals(c);
        if (r > 0 && p[0].revents && net_connect_result(s, err, sizeof err) == 0) {
            if (c->rep.verbose)
                fprintf(stderr, "client: connected again to %s:%d, resuming batch\n", c->host, c->port);
            c->sock = s;
            c->resuming = 1;
            send_hello(c);
            return;
        }
        net_close(s);
    }
}

static void on_accepted(client_state *c, uint32_t count)
{
    if (count < c->accepted || count > c->submitted)
        fatal(c, "protocol error: ACCEPTED %u with %u accepted and %u submitted", count, c->accepted, c->submitted);
    for (uint32_t i = c->accepted; i < count; i++) {
        command_slot *s = &c->cmds[c->submits[i] - 1];
        c->unaccepted_bytes -= s->len;
        if (s->done && !s->held) { /* shown already: the last use of its text */
            free(s->text);
            s->text = NULL;
        }
    }
    c->accepted = count;
}

static void on_batch(client_state *c, const batch_frame *b)
{
    char id[17];
    if (QUERY_MODE(c) || (c->got_batch && !c->resuming))
        fatal(c, "protocol error: unexpected BATCH");
    if ((c->got_batch || c->mode == MODE_FOLLOW) && b->batch != c->batch)
        fatal(c, "protocol error: BATCH %016llx, not ours (%s)", (unsigned long long)b->batch,
              batch_id_str(c->batch, id));
    /* (done may be less than we hold after a reconnection: a master whose
     * journal lost a RESULT makes it again, later) */
    if (c->mode == MODE_FOLLOW && (!(b->flags & BATCH_FLAG_ENDED) || b->done > b->total ||
                                   (b->done < c->from_master && !c->resuming)))
        fatal(c, "protocol error: BATCH of batch %s with %u of %u results (%u held here)", batch_id_str(c->batch, id),
              b->done, b->total, c->from_master);
    if (c->mode == MODE_FOLLOW && c->got_batch && b->total != c->total)
        fatal(c, "protocol error: batch %s now has %u commands, not %u", batch_id_str(c->batch, id), b->total,
              c->total);
    c->batch = b->batch;
    c->total = b->total;
    if (!c->got_batch) {
        c->got_batch = 1;
        if (c->mode == MODE_FOLLOW) /* the results it has already: done, not in the rate */
            c->prog.base = b->done;
        c->durable = (b->flags & BATCH_FLAG_DURABLE) != 0;
        if (c->mode == MODE_DETACH && !c->durable)
            fatal(c, "this master keeps no journal (--ephemeral): a detached batch would not survive it; run "
                     "without --detach");
        if (c->rep.verbose)
            fprintf(stderr, "client: batch %s%s\n", batch_id_str(c->batch, id),
                    c->durable ? "" : " (the master keeps no journal: it ends with this connection)");
    }
    if (!c->resuming)
        return;
    if (c->cancelling) /* interrupted meanwhile: the batch can be cancelled now */
        stop_now(c, signal_stop_status());
    /* The same batch, on a new connection: the master has our first
     * 'accepted' SUBMITs on disk and sends the results from 'have' on. */
    if (c->mode != MODE_FOLLOW) {
        if (b->accepted > c->submitted)
            fatal(c, "protocol error: BATCH after reconnecting says %u accepted and %u done, we sent %u and hold %u",
                  b->accepted, b->done, c->submitted, c->from_master);
        if (b->accepted < c->accepted) /* their texts may be gone: accepted means on disk */
            fatal(c, "protocol error: the master lost commands it had accepted (%u, now %u)", c->accepted,
                  b->accepted);
        on_accepted(c, b->accepted);
        for (uint32_t i = c->accepted; i < c->submitted; i++)
            send_submit(c, c->submits[i]);
        if (c->input_done)
            send_end(c);
    }
    c->resuming = 0;
    c->reconnecting = 0;
    progress_reset_running(&c->prog); /* the master tells again what runs */
    progress_clear(&c->prog);
    if (!c->rep.quiet)
        fprintf(stderr, "client: reconnected\n");
}

/* --attach: the batch's commands, all of them, before its results (again
 * after a reconnection: the ones we know are checked and skipped). */
static void on_command(client_state *c, const command_frame *f)
{
    if (c->mode != MODE_FOLLOW || !c->got_batch)
        fatal(c, "protocol error: unexpected COMMAND");
    if (f->index < c->followed) {
        if (f->seq == 0 || f->seq > c->ncmds || c->cmds[f->seq - 1].index != f->index)
            fatal(c, "protocol error: COMMAND %u is now seq %u", f->index, f->seq);
        return;
    }
    if (f->index != c->followed || f->index >= c->total || f->seq == 0 || f->seq <= c->ncmds || f->len > MAX_COMMAND_LEN)
        fatal(c, "protocol error: COMMAND %u (seq %u) out of order", f->index, f->seq);
    command_slot *s = slot_for(c, f->seq);
    set_text(c, s, f->line, f->len);
    s->index = c->followed++;
}

/* --batches: one line (or JSON object) per batch. */
static void on_batch_info(client_state *c, const batch_info_frame *b)
{
    static const char *states[] = {"?", "attached", "detached", "orphaned", "finished", "delivered", "cancelled"};
    if (c->mode != MODE_LIST)
        fatal(c, "protocol error: unexpected BATCH_INFO");
    const char *state = b->state < sizeof states / sizeof *states ? states[b->state] : "?";
    if (c->listed++ == 0 && !c->rep.json)
        report_batch_header();
    report_batch(&c->rep, b->batch, b->created_ms, state, b->submitted, b->done, b->running, b->name, b->name_len);
}

/* --status: the master's figures first, then one frame per slave, per
 * command on a slave and per batch, as many as it said, then BYE. */
static void on_status(client_state *c, uint8_t type, const any_frame *f)
{
    if (c->mode != MODE_STATUS || (type == F_STATUS) == c->got_status)
        fatal(c, "protocol error: unexpected %s", frame_type_name(type));
    if (type == F_STATUS) {
        c->status.master = f->u.status;
        c->got_status = 1;
    } else if (type == F_STATUS_SLAVE) {
        if (c->status.nslaves >= c->status.master.slaves || status_add_slave(&c->status, &f->u.slave) < 0)
            fatal(c, "protocol error: more STATUS_SLAVE frames than the %u slaves announced", c->status.master.slaves);
    } else if (type == F_STATUS_JOB) {
        if (f->u.sjob.slave >= c->status.master.slaves)
            fatal(c, "protocol error: a STATUS_JOB on slave %u of %u", f->u.sjob.slave, c->status.master.slaves);
        if (c->status.njobs >= c->status.master.jobs || status_add_job(&c->status, &f->u.sjob) < 0)
            fatal(c, "protocol error: more STATUS_JOB frames than the %u jobs announced", c->status.master.jobs);
    } else {
        if (c->status.nbatches >= c->status.master.batches || status_add_batch(&c->status, &f->u.sbatch) < 0)
            fatal(c, "protocol error: more STATUS_BATCH frames than the %u batches announced",
                  c->status.master.batches);
    }
}

/* as_before_batches: what the first connection sent, again. */
static void legacy_resend(client_state *c)
{
    for (uint32_t i = 0; i < c->submitted; i++)
        send_submit(c, c->submits[i]);
    on_accepted(c, c->submitted);
    if (c->input_done)
        send_end(c);
}

/* A master older than batches refuses ATTACH ("unexpected frame type 10
 * (ATTACH)") and ignores the rest: nothing of ours ran. Connect again
 * without FRAME_FLAG_RESUME and send everything as before batches (no
 * reconnection then); --detach, --attach and --batches need batches. */
static void as_before_batches(client_state *c)
{
    if (c->mode != MODE_RUN)
        fatal(c, "this master is older than batches: --detach, --attach, --batches and --status need a newer "
              "serveur_maitre");
    if (c->rep.verbose)
        fprintf(stderr, "client: the master is older than batches: connecting again without them\n");
    net_close(c->sock);
    c->conn_gen++;
    bw_reset(&c->in);
    bw_reset(&c->out);
    c->tagged = 0;
    c->tx_seq = c->rx_seq = 0;
    c->welcomed = 0;
    c->attach_sent = 0;
    c->legacy = 1;
    c->got_batch = 1; /* not durable: a broken connection is the end, as before */
    c->sock = connect_master(c);
    send_hello(c);
    if (!c->auth.enabled) /* with a key, after WELCOME: the tags need its nonce */
        legacy_resend(c);
}

static void on_frame(client_state *c, uint8_t type, const breader *r)
{
    any_frame f;
    if (type >= F_ATTACH && type <= F_STATUS_JOB && frame_decode(type, r, &f) < 0)
        fatal(c, "protocol error: malformed %s from the master", frame_type_name(type));
    switch (type) {
    case F_WELCOME:
        if (c->welcomed)
            fatal(c, "protocol error: a second WELCOME");
        on_welcome(c, r);
        break;
    case F_RESULT: {
        result_frame rf;
        if (result_frame_decode(r, &rf) < 0)
            fatal(c, "protocol error: malformed RESULT from the master");
        if (!c->got_batch || c->resuming)
            fatal(c, "protocol error: RESULT before BATCH");
        if (c->conn_gen && rf.seq && rf.seq <= c->ncmds && c->cmds[rf.seq - 1].done &&
            c->cmds[rf.seq - 1].index != SUBMIT_NONE) {
            /* one we hold, again: a master whose journal lost a RESULT sends
             * them from before it after a reconnection (doc/journal.md) */
            if (c->rep.verbose)
                fprintf(stderr, "client: the result of command %u came again: skipped\n", rf.seq);
            break;
        }
        c->from_master++;
        if (c->mode == MODE_DETACH) /* not ours to show: --attach does */
            break;
        rf.result.seq = rf.seq;
        snprintf(rf.result.host, sizeof rf.result.host, "%.*s", (int)rf.host_len, rf.host);
        on_result(c, &rf.result);
        break;
    }
    case F_NOTICE:
    case F_ERROR: {
        text_frame t;
        if (text_frame_decode(r, &t) < 0)
            fatal(c, "protocol error: malformed %s", frame_type_name(type));
        /* The master has not yet seen our old connection go (a network
         * cut): it will, try again meanwhile. */
        if (type == F_ERROR && !c->got_batch && c->attach_sent && t.len >= 24 &&
            memcmp(t.text, "unexpected frame type 10", 24) == 0) {
            as_before_batches(c);
            break;
        }
        if (type == F_ERROR && c->mode == MODE_STATUS && !c->got_status && t.len >= 26 &&
            memcmp(t.text, "ATTACH with an unknown mode", 26) == 0)
            fatal(c, "this master is older than --status: it needs a newer serveur_maitre (the master says: %.*s)",
                  (int)t.len, t.text);
        if (type == F_ERROR && c->resuming && t.len < 200) {
            char text[200];
            snprintf(text, sizeof text, "%.*s", (int)t.len, t.text);
            /* ... or the master is stopping: its next life has the batch */
            if (strstr(text, "is attached to another client") || strcmp(text, "the master is shutting down") == 0) {
                connection_lost(c, NULL);
                break;
            }
        }
        if (type == F_ERROR && t.len >= 52 && (memcmp(t.text + t.len - 7, "(key 7)", 7) == 0 ||
                                                memcmp(t.text + t.len - 7, "(key 8)", 7) == 0) &&
            memcmp(t.text, "OPTIONS with an option this master does not know", 48) == 0)
            fatal(c, "this master is older than --wd and --env: it needs a newer serveur_maitre (the master says: "
                  "%.*s)", (int)t.len, t.text);
        if (type == F_ERROR && t.len >= 52 && (memcmp(t.text + t.len - 8, "(key 11)", 8) == 0 ||
                                                memcmp(t.text + t.len - 8, "(key 12)", 8) == 0) &&
            memcmp(t.text, "OPTIONS with an option this master does not know", 48) == 0)
            fatal(c, "this master is older than --priority and --order: run without them, or upgrade serveur_maitre "
                  "(the master says: %.*s)", (int)t.len, t.text);
        if (type == F_ERROR && t.len >= 56 && memcmp(t.text + t.len - 8, "(key 13)", 8) == 0 &&
            memcmp(t.text, "OPTIONS with an option this master does not know", 48) == 0)
            fatal(c, "this master is older than --cache: it needs a newer serveur_maitre, or run without --cache "
                  "(the master says: %.*s)", (int)t.len, t.text);
        if (type == F_ERROR && c->auth.enabled && !c->tagged && t.len == 32 &&
            memcmp(t.text, "authentication failed: wrong key", 32) == 0)
            fatal(c, "the master says: %.*s (ours: the first line of key file '%s'; during a rotation it must be a "
                  "key the master's key file holds)", (int)t.len, t.text, c->auth.path);
        if (type == F_ERROR)
            fatal(c, "the master says: %.*s", (int)t.len, t.text);
        progress_clear(&c->prog);
        if (!c->rep.quiet)
            fprintf(stderr, "client: master: %.*s\n", (int)t.len, t.text);
        break;
    }
    case F_BYE:
        c->got_bye = 1;
        break;
    case F_BATCH:
        on_batch(c, &f.u.batch);
        break;
    case F_ACCEPTED:
        if (c->mode == MODE_RUN || c->mode == MODE_DETACH)
            on_accepted(c, f.u.count.count);
        break;
    case F_COMMAND:
        on_command(c, &f.u.command);
        break;
    case F_BATCH_INFO:
        on_batch_info(c, &f.u.info);
        break;
    case F_STATUS:
    case F_STATUS_SLAVE:
    case F_STATUS_BATCH:
    case F_STATUS_JOB:
        on_status(c, type, &f);
        break;
    case F_STARTED: /* only if we asked (FRAME_FLAG_PROGRESS) */
        if ((!c->prog.what && !want_runs(c)) || !c->got_batch || c->resuming)
            fatal(c, "protocol error: unexpected STARTED");
        /* A command of ours (--attach: its COMMAND came first); a late
         * one for a command done meanwhile is not news. */
        if (f.u.started.seq == 0 || f.u.started.seq > c->ncmds || !c->cmds[f.u.started.seq - 1].known ||
            c->cmds[f.u.started.seq - 1].index == SUBMIT_NONE)
            fatal(c, "protocol error: STARTED for unknown command %u", f.u.started.seq);
        if (c->cmds[f.u.started.seq - 1].done)
            break;
        if (f.u.started.run)
            c->cmds[f.u.started.seq - 1].runs = f.u.started.run;
        if (!c->prog.what)
            break;
        progress_started(&c->prog, f.u.started.seq, f.u.started.host, f.u.started.host_len);
        break;
    case F_OUTPUT: { /* only if we asked (OPTION_LINE_BUFFER) */
        output_frame o;
        if (output_frame_decode(r, &o) < 0)
            fatal(c, "protocol error: malformed OUTPUT from the master");
        if (!c->line_buffer)
            fatal(c, "protocol error: unexpected OUTPUT");
        if (c->got_batch && !c->resuming) /* else best-effort bytes the result brings again */
            on_output(c, &o);
        break;
    }
    case F_HELLO: /* two clients aimed at free ports met each other (simultaneous open) */
        fatal(c, "cannot reach the master at %s:%d: the connection met another client, not a master", c->host,
              c->port);
    default:
        fatal(c, "protocol error: unexpected frame type %u from the master", type);
    }
}

static void read_socket(client_state *c)
{
    if (bw_reserve(&c->in, RECV_CHUNK) < 0)
        fatal(c, "out of memory");
    long n = net_recv(c->sock, c->in.data + c->in.len, RECV_CHUNK);
    if (n == NET_AGAIN)
        return;
    if (n <= 0) {
        connection_lost(c, NULL);
        return;
    }
    c->in.len += (size_t)n;
    unsigned gen = c->conn_gen;
    for (;;) {
        uint8_t type;
        breader fields;
        /* opened before anything of it is read */
        long used = frame_open(bw_at(&c->in, 0), bw_pending(&c->in), FRAME_MAX_FROM_MASTER,
                               c->tagged ? &c->rx_key : NULL, c->rx_seq, &type, &fields);
        if (used == FRAME_TAMPERED)
            fatal(c, "a frame from the master failed authentication: connection tampered with?");
        if (used < 0)
            fatal(c, "protocol error: is %s:%d a serveur_maitre?", c->host, c->port);
        if (used == 0)
            break;
        if (c->tagged)
            c->rx_seq++;
        if (trace_on) {
            char peer[80];
            trace_peer(c, peer, sizeof peer);
            trace_frame(TRACE_RECV, peer, type, &fields, (size_t)used);
        }
        on_frame(c, type, &fields);
        if (c->conn_gen != gen) /* dropped: its buffers are reset */
            return;
        bw_consume(&c->in, (size_t)used);
        if (c->got_bye)
            break;
    }
}

/* The commands are sent and on the master's disk: leave, the batch runs
 * on; its id alone on stdout. */
static _Noreturn void detach_now(client_state *c)
{
    char id[17];
    count_frame a = {.count = 0};
    client_frame_end(c, count_frame_encode(&c->out, F_ACK, &a));
    client_frame_end(c, empty_frame_encode(&c->out, F_DETACH));
    if (flush_out(c, GOODBYE_MS * 5) < 0)
        fatal(c, "lost the connection to the master while detaching: batch %s may have been cancelled",
              batch_id_str(c->batch, id));
    net_shutdown_write(c->sock);
    net_close(c->sock);
    printf("%s\n", batch_id_str(c->batch, id));
    if (c->rep.verbose)
        fprintf(stderr, "client: %u commands on the master's disk, detached\n", c->submitted);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "client: cannot write the batch ID to standard output: %s\n", strerror(errno));
        exit(EXIT_TROUBLE);
    }
    report_close(&c->rep);
    exit(0);
}

static void run(client_state *c)
{
    while (!c->got_bye) {
        if (c->sock == SOCK_INVALID)
            reconnect(c);
        if (c->mode == MODE_DETACH && c->input_done && c->got_batch && !c->resuming && c->accepted == c->submitted &&
            bw_pending(&c->out) == 0)
            detach_now(c);
        net_pollfd p[3];
        int n = 0;
        short ev = NET_IN;
        if (bw_pending(&c->out))
            ev |= NET_OUT;
        p[n++] = (net_pollfd){c->sock, ev, 0};
        if (c->sigfd != SOCK_INVALID)
            p[n++] = (net_pollfd){c->sigfd, NET_IN, 0};
        /* With a key, commands wait for WELCOME (and ATTACH): their tags
         * need its nonce. --detach waits for BATCH: an ephemeral master
         * refuses it before anything runs. Resuming waits for BATCH: it
         * says which SUBMITs to send again. */
        int ready = c->legacy ? c->welcomed || !c->auth.enabled : c->attach_sent;
        int want_input = !c->input_done && bw_pending(&c->out) < SEND_HIGH_WATER && ready && !c->resuming &&
                         (c->mode != MODE_DETACH || c->got_batch) &&
                         c->submitted - c->accepted < UNACCEPTED_MAX_COMMANDS &&
                         c->unaccepted_bytes < UNACCEPTED_MAX_BYTES;
        if (want_input && c->resume == RETRY_FAILED) {
            feed_retry(c);
            want_input = 0;
        }
        int in_at = n;
        if (want_input && !c->tmpl)
            p[n++] = (net_pollfd){c->input, NET_IN, 0};
        int timeout = -1;
        if (c->reconnecting) { /* until BATCH answers our ATTACH */
            uint64_t now = clock_ms();
            timeout = now >= c->reconnect_deadline ? 0 : (int)(c->reconnect_deadline - now);
        }
        if (c->prog.what && c->got_batch && !c->resuming) { /* from the batch's start */
            uint64_t now = clock_ms();
            progress_set_total(&c->prog, expected(c), c->mode == MODE_FOLLOW ? c->got_batch : c->input_done);
            uint64_t due = progress_tick(&c->prog, now);
            int wait = due == 0 ? -1 : due <= now ? 0 : (int)(due - now);
            if (wait >= 0 && (timeout < 0 || wait < timeout))
                timeout = wait;
        }
        if (want_input && c->tmpl) /* a template is always ready */
            timeout = 0;
        int r = net_poll(p, n, timeout);
        if (r < 0)
            fatal(c, "poll: %s", net_last_error());
        if (c->sigfd != SOCK_INVALID && (p[1].revents & NET_IN))
            take_signals(c);
        if (c->reconnecting && clock_ms() >= c->reconnect_deadline)
            cannot_come_back(c);
        if (p[0].revents & (NET_IN | NET_HUP)) {
            unsigned gen = c->conn_gen;
            read_socket(c);
            if (c->conn_gen != gen) /* another connection: poll it afresh */
                continue;
        }
        if (c->got_bye)
            break;
        /* Input first, then one send of what it made: HELLO, the commands
         * and, when a short read is followed by the end at once (a small
         * file, echo cmd | client -), END leave in one segment. */
        if (want_input && (c->tmpl || p[in_at].revents)) {
            long got;
            net_pollfd more = {c->input, NET_IN, 0};
            while ((got = read_input(c)) > 0 && got < INPUT_CHUNK && bw_pending(&c->out) < SEND_HIGH_WATER &&
                   c->submitted - c->accepted < UNACCEPTED_MAX_COMMANDS && c->unaccepted_bytes < UNACCEPTED_MAX_BYTES &&
                   net_poll(&more, 1, 0) > 0 && more.revents) {
            }
        }
        if (bw_pending(&c->out)) { /* non-blocking: EAGAIN waits for NET_OUT */
            long w = net_send(c->sock, bw_head(&c->out), bw_pending(&c->out));
            if (w == NET_ERROR)
                connection_lost(c, net_last_error());
            else if (w > 0)
                bw_consume(&c->out, (size_t)w);
        }
    }
}

/* -j N, or as GNU parallel's relative to the CPUs, to the slots of the
 * slaves alive: +N more, -N fewer (at least 1), N% of them (at least 1). */
static void parse_jobs(client_state *c, const char *s)
{
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == '%') {
        char num[16];
        if (n - 1 >= sizeof num || s[0] == '+' || s[0] == '-')
            die("--jobs: '%s' is not a number, +N, -N or N%%", s);
        memcpy(num, s, n - 1);
        num[n - 1] = 0;
        c->jobs_form = JOBS_PERCENT, c->jobs_n = (uint32_t)cli_number("--jobs N%", num, 1, 1000000);
    } else if (s[0] == '+' || s[0] == '-') {
        c->jobs_form = s[0] == '+' ? JOBS_PLUS : JOBS_MINUS;
        c->jobs_n = (uint32_t)cli_number(s[0] == '+' ? "--jobs +N" : "--jobs -N", s + 1, 0, 1000000);
    } else {
        c->jobs_form = 0, c->jobs = (uint32_t)cli_number("--jobs", s, 0, 1000000);
    }
}

/* --wd DIR: on the slave, from the slave's directory; a bad one is a
 * usage error, as every option's. */
static int parse_wd(client_state *c, const char *dir)
{
    if (strcmp(dir, "...") == 0) {
        fprintf(stderr, "client: --wd ...: GNU parallel's temporary directory is not supported here (give a "
                "directory of the slaves)\n");
        return -1;
    }
    if (!place_wd_valid(dir, strlen(dir))) {
        fprintf(stderr, "client: --wd: '%.60s%s' is %s: 1 to %d bytes\n", dir, strlen(dir) > 60 ? "..." : "",
                *dir ? "too long" : "empty", MAX_WD_LEN);
        return -1;
    }
    c->wd = dir;
    return 0;
}

/* --env NAME[,NAME...] (repeatable): NAME=VALUE of our environment for
 * the commands. A NAME we do not have is left out, as GNU parallel does
 * (its commands see the slave's NAME, if any). */
static int parse_env(client_state *c, const char *arg)
{
    const char *p = arg;
    for (;;) {
        size_t n = strcspn(p, ",");
        char name[256];
        if (n == 1 && *p == '_') {
            fprintf(stderr, "client: --env _ (GNU parallel's every variable of --record-env) is not supported: name "
                    "the variables\n");
            return -1;
        }
        if (!env_name_valid(p, n) || n >= sizeof name) {
            fprintf(stderr, "client: --env: '%.*s' is not a variable name (letters, digits and _, not starting with "
                    "a digit)\n", (int)(n < 80 ? n : 80), p);
            return -1;
        }
        memcpy(name, p, n);
        name[n] = 0;
        const char *value = getenv(name);
        unsigned i = 0;
        while (i < c->nenv && !(strncmp(c->env[i], name, n) == 0 && c->env[i][n] == '='))
            i++;
        if (value && i == c->nenv) { /* (twice: once) */
            size_t len = n + 1 + strlen(value);
            if (len > MAX_ENV_ENTRY) {
                fprintf(stderr, "client: --env %s: NAME=VALUE is %zu bytes: at most %d\n", name, len, MAX_ENV_ENTRY);
                return -1;
            }
            if (c->nenv == MAX_ENV_VARS) {
                fprintf(stderr, "client: --env: at most %d variables\n", MAX_ENV_VARS);
                return -1;
            }
            size_t total = c->wd ? 3 + strlen(c->wd) : 0;
            for (unsigned k = 0; k < c->nenv; k++)
                total += 3 + strlen(c->env[k]);
            if (total + 3 + len > MAX_PLACE_BYTES) {
                fprintf(stderr, "client: --wd and --env: more than %d bytes together (at %s)\n", MAX_PLACE_BYTES,
                        name);
                return -1;
            }
            char *e = malloc(len + 1);
            if (!e) {
                fprintf(stderr, "client: out of memory\n");
                return -1;
            }
            snprintf(e, len + 1, "%s=%s", name, value);
            c->env[c->nenv++] = e;
        }
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

/* An unknown option, or one without its value: named, and --help
 * pointed at, not the whole usage. */
static void bad_option(int opt, char **argv)
{
    char name[64];
    const char *last = argv[optind - 1];
    if (optopt > 0 && strncmp(last, "--", 2) == 0 && strchr(last, '=')) { /* --quiet=1 */
        fprintf(stderr, "client: option '%.*s' takes no value (client --help lists the options)\n",
                (int)strcspn(last, "="), last);
        return;
    }
    if (optopt > 0 && optopt < 256)
        snprintf(name, sizeof name, "-%c", optopt);
    else { /* a long option: as given, without its =VALUE */
        const char *a = argv[optind - 1];
        size_t n = strcspn(a, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < 60 ? n : 60), a);
    }
    if (opt == ':')
        fprintf(stderr, "client: option '%s' needs a value (client --help lists the options)\n", name);
    else
        fprintf(stderr, "client: unknown option '%s' (client --help lists the options)\n", name);
}

int main(int argc, char **argv)
{
    enum { OPT_RESULTS = 256, OPT_JOBLOG, OPT_JSON, OPT_TIMEOUT, OPT_RETRIES, OPT_KEY_FILE, OPT_RECONNECT, OPT_DETACH,
           OPT_ATTACH, OPT_BATCHES, OPT_STATUS, OPT_PROGRESS, OPT_ETA, OPT_BAR,
           OPT_TAG = 320, OPT_TAGSTRING, OPT_RESUME, OPT_RESUME_FAILED, OPT_RETRY_FAILED,
           OPT_MASTER = 400, OPT_DRY_RUN, /* where the master is; templates' --dry-run */
           OPT_HALT = 420, OPT_DELAY, OPT_LINE_BUFFER = 440,
           OPT_WD = 460, OPT_ENV, OPT_LOST_RETRIES = 480, OPT_DEADLINE = 500,
           OPT_TRACE = 520, OPT_PRIORITY = 540, OPT_ORDER, OPT_CACHE };
    static const struct option longopts[] = {
        {"keep-order", no_argument, NULL, 'k'},
        {"results", required_argument, NULL, OPT_RESULTS},
        {"joblog", required_argument, NULL, OPT_JOBLOG},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"lost-retries", required_argument, NULL, OPT_LOST_RETRIES},
        {"key-file", required_argument, NULL, OPT_KEY_FILE},
        {"reconnect", required_argument, NULL, OPT_RECONNECT},
        {"detach", no_argument, NULL, OPT_DETACH},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"batches", no_argument, NULL, OPT_BATCHES},
        {"status", no_argument, NULL, OPT_STATUS},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"eta", no_argument, NULL, OPT_ETA},
        {"bar", no_argument, NULL, OPT_BAR},
        {"tag", no_argument, NULL, OPT_TAG},
        {"tagstring", required_argument, NULL, OPT_TAGSTRING},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"resume-failed", no_argument, NULL, OPT_RESUME_FAILED},
        {"retry-failed", no_argument, NULL, OPT_RETRY_FAILED},
        {"master", required_argument, NULL, OPT_MASTER},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"halt", required_argument, NULL, OPT_HALT},
        {"jobs", required_argument, NULL, 'j'},
        {"delay", required_argument, NULL, OPT_DELAY},
        {"deadline", required_argument, NULL, OPT_DEADLINE},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"order", required_argument, NULL, OPT_ORDER},
        {"line-buffer", no_argument, NULL, OPT_LINE_BUFFER},
        {"lb", no_argument, NULL, OPT_LINE_BUFFER},
        {"wd", required_argument, NULL, OPT_WD},
        {"workdir", required_argument, NULL, OPT_WD},
        {"env", required_argument, NULL, OPT_ENV},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"cache", no_argument, NULL, OPT_CACHE},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    plat_std_streams_open(); /* before any file or socket: none may become stderr (the joblog) */
    static client_state cs;
    client_state *c = &cs;
    const char *joblog = NULL, *key_file = NULL, *attach_id = NULL;
    int opt, modes = 0, show_progress = 0, resumes = 0;
    const char *master_opt = NULL; /* --master */
    int dry_run = 0;
    /* COMMAND ::: ARG...: options stop at the first word (the command's own
     * options are its), as GNU parallel's do. */
    int tmpl_words = template_present(argc, argv, 1);
    c->host = "127.0.0.1";
    c->port = DEFAULT_MASTER_PORT;
    c->reconnect_s = DEFAULT_RECONNECT_SECONDS;
    c->sigfd = SOCK_INVALID;
    log_init("client", LOG_INFO);
    log_plain = 1; /* "client: ...", as every message of the client */
    opterr = 0;    /* getopt's messages are not ours: see bad_option */
    while ((opt = getopt_long(argc, argv, tmpl_words ? "+:kj:vqhV" : ":kj:vqhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k': c->rep.keep_order = 1; break;
        case OPT_RESULTS: c->rep.results_dir = optarg; break;
        case OPT_JOBLOG: joblog = optarg; break;
        case OPT_JSON: c->rep.json = 1; break;
        case OPT_TIMEOUT: {
            size_t n = strlen(optarg);
            if (n > 1 && optarg[n - 1] == '%') { /* N% of the median run time: the master's (OPTIONS) */
                char pct[32];
                if (n > sizeof pct) {
                    fprintf(stderr, "client: --timeout: '%s' is not a percentage (N%%, N from 1 to 100000)\n", optarg);
                    exit(255);
                }
                memcpy(pct, optarg, n - 1);
                pct[n - 1] = 0;
                c->timeout_pct = (uint32_t)cli_number("--timeout (N%)", pct, 1, 100000);
            } else {
                c->timeout_ms = cli_seconds("--timeout", optarg, 86400000u);
            }
            break;
        }
        case OPT_RETRIES: c->fail_attempts = (uint32_t)cli_number("--retries", optarg, 1, 100); break;
        case OPT_LOST_RETRIES:
            c->retries = (uint32_t)cli_number("--lost-retries", optarg, 1, HELLO_RETRIES_MAX);
            break;
        case OPT_KEY_FILE: key_file = optarg; break;
        case OPT_RECONNECT: c->reconnect_s = (uint32_t)cli_number("--reconnect", optarg, 0, 86400 * 7); break;
        case OPT_DETACH: c->mode = MODE_DETACH; modes++; break;
        case OPT_ATTACH: c->mode = MODE_FOLLOW; attach_id = optarg; modes++; break;
        case OPT_BATCHES: c->mode = MODE_LIST; modes++; break;
        case OPT_STATUS: c->mode = MODE_STATUS; modes++; break;
        case OPT_PROGRESS: show_progress |= PROGRESS_PROGRESS; break;
        case OPT_ETA: show_progress |= PROGRESS_ETA; break;
        case OPT_BAR: show_progress |= PROGRESS_BAR; break;
        case OPT_MASTER: master_opt = optarg; break;
        case OPT_DRY_RUN: dry_run = 1; break;
        case OPT_TRACE: trace_start("client"); break;
        case 'v': c->rep.verbose = 1; break;
        case 'q': c->rep.quiet = 1; break;
        case OPT_TAG: c->rep.tag = 1; break;
        case 'j': parse_jobs(c, optarg); break;
        case OPT_DELAY: c->delay_ms = cli_seconds("--delay", optarg, 3600000u); break;
        case OPT_DEADLINE:
            c->deadline_ms = cli_seconds("--deadline", optarg, 2592000000u); /* 30 days */
            if (!c->deadline_ms) {
                fprintf(stderr, "client: --deadline '%s': expected at least 0.001 seconds (it counts in milliseconds)\n",
                        optarg);
                exit(255);
            }
            break;
        case OPT_PRIORITY: c->priority = (int)cli_number("--priority", optarg, PRIORITY_MIN, PRIORITY_MAX); break;
        case OPT_ORDER:
            if (strcmp(optarg, "fifo") == 0)
                c->order = ORDER_FIFO;
            else if (strcmp(optarg, "lpt") == 0)
                c->order = ORDER_LPT;
            else {
                fprintf(stderr, "client: --order '%s': expected fifo (the order of the input, the default) or lpt "
                        "(longest expected first, once all the commands are in)\n", optarg);
                exit(EXIT_TROUBLE);
            }
            break;
        case OPT_LINE_BUFFER: c->line_buffer = 1; break;
        case OPT_CACHE: c->cache = 1; break;
        case OPT_WD:
            if (parse_wd(c, optarg) < 0)
                return EXIT_TROUBLE;
            break;
        case OPT_ENV:
            if (parse_env(c, optarg) < 0)
                return EXIT_TROUBLE;
            break;
        case OPT_HALT:
            if (parse_halt(optarg, &c->halt) < 0) {
                fprintf(stderr, "client: --halt '%s': expected now|soon,fail|success|done=N or N%% (or GNU "
                        "parallel's 0, 1, 2, -1, -2, N%%)\n", optarg);
                return EXIT_TROUBLE;
            }
            break;
        case OPT_TAGSTRING: c->rep.tag = 1; c->rep.tagstring = optarg; break;
        case OPT_RESUME: c->resume = RESUME_ALL; resumes++; break;
        case OPT_RESUME_FAILED: c->resume = RESUME_FAILED; resumes++; break;
        case OPT_RETRY_FAILED: c->resume = RETRY_FAILED; resumes++; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("client %s\n", SMP_VERSION_STRING); return 0;
        default: bad_option(opt, argv); return EXIT_TROUBLE;
        }
    }
    size_t place = c->wd ? 3 + strlen(c->wd) : 0; /* (--wd after --env) */
    for (unsigned k = 0; k < c->nenv; k++)
        place += 3 + strlen(c->env[k]);
    if (place > MAX_PLACE_BYTES) {
        fprintf(stderr, "client: --wd and --env: %zu bytes together: at most %d\n", place, MAX_PLACE_BYTES);
        return EXIT_TROUBLE;
    }
    if (resumes > 1) {
        fprintf(stderr, "client: --resume, --resume-failed and --retry-failed go alone (one of them at most)\n");
        return EXIT_TROUBLE;
    }
    if (c->resume && (!joblog || c->mode != MODE_RUN)) {
        fprintf(stderr, "client: %s needs --joblog FILE (the joblog of the run it resumes) and a run (not with "
                "--detach, --attach, --batches or --status)\n", c->resume == RESUME_ALL ? "--resume"
                : c->resume == RESUME_FAILED ? "--resume-failed" : "--retry-failed");
        return EXIT_TROUBLE;
    }
    if (c->rep.tag && c->rep.json) {
        fprintf(stderr, "client: --tag and --tagstring do not go with --json (its objects have the seq and the "
                "command)\n");
        return EXIT_TROUBLE;
    }
    if (c->line_buffer && c->rep.json) {
        fprintf(stderr, "client: --line-buffer does not go with --json (one object per command, once it ends)\n");
        return EXIT_TROUBLE;
    }
    if (modes > 1) {
        fprintf(stderr, "client: --detach, --attach, --batches and --status go alone (one of them at most)\n");
        return EXIT_TROUBLE;
    }
    if (attach_id && parse_batch_id(attach_id, &c->batch) < 0) {
        fprintf(stderr, "client: --attach: '%s' is not a batch ID (16 hexadecimal digits, as --detach and --batches "
                        "print it)\n", attach_id);
        return EXIT_TROUBLE;
    }
    int nargs = argc - optind;
    const char *file = NULL;
    int with_file = c->mode == MODE_RUN || c->mode == MODE_DETACH;
    if (c->resume == RETRY_FAILED) { /* the commands come from the joblog: a FILE is ignored, as GNU parallel does */
        with_file = nargs == 1 || nargs == 3;
        if (with_file)
            fprintf(stderr, "client: warning: --retry-failed: '%s' is not read: the commands are the joblog's\n",
                    argv[argc - 1]);
    }
    if (c->cache && !with_file) {
        fprintf(stderr, "client: --cache is for commands to run: not with %s\n",
                c->mode == MODE_LIST ? "--batches" : c->mode == MODE_STATUS ? "--status" : "--attach");
        return EXIT_TROUBLE;
    }
    char err[256];
    static template tmpl;
    if (tmpl_words) { /* all the words are the template: the master is --master or $SMP_MASTER */
        if (!with_file) {
            fprintf(stderr, "client: a template (COMMAND ::: ARG...) makes commands to run: not with %s\n",
                    c->mode == MODE_LIST ? "--batches" : c->mode == MODE_STATUS ? "--status" : "--attach");
            return EXIT_TROUBLE;
        }
        if (template_parse(&tmpl, nargs, argv + optind, err, sizeof err) < 0) {
            fprintf(stderr, "client: %s\n", err);
            return EXIT_TROUBLE;
        }
        c->tmpl = &tmpl;
    } else if (nargs == 2 + with_file) {
        if (master_opt) {
            fprintf(stderr, "client: the master is given twice: HOST PORT ('%s %s') and --master '%s': give one\n",
                    argv[optind], argv[optind + 1], master_opt);
            return EXIT_TROUBLE;
        }
        c->host = argv[optind];
        c->port = cli_port(argv[optind + 1]);
        file = with_file ? argv[optind + 2] : NULL;
    } else if (nargs == with_file) {
        file = with_file ? argv[optind] : NULL;
    } else {
        if (with_file)
            fprintf(stderr, "client: expected [HOST PORT] FILE (or - for standard input) (client --help)\n");
        else
            fprintf(stderr, "client: expected [HOST PORT] and no FILE with %s (client --help)\n",
                    c->mode == MODE_LIST ? "--batches" : c->mode == MODE_STATUS ? "--status" : "--attach");
        return EXIT_TROUBLE;
    }
    /* Where the master is: HOST PORT, else --master, else $SMP_MASTER,
     * else 127.0.0.1:DEFAULT_MASTER_PORT. */
    const char *env_master = getenv("SMP_MASTER");
    if (!(nargs == 2 + with_file && !c->tmpl) && (master_opt || (env_master && *env_master))) {
        char *host;
        if (master_addr_parse(master_opt ? "--master" : "$SMP_MASTER", master_opt ? master_opt : env_master, &host,
                              &c->port, err, sizeof err) < 0) {
            fprintf(stderr, "client: %s\n", err);
            return EXIT_TROUBLE;
        }
        c->host = host;
    }
    if (dry_run && !with_file) {
        fprintf(stderr, "client: --dry-run shows the commands a run would send: not with %s\n",
                c->mode == MODE_LIST ? "--batches" : c->mode == MODE_STATUS ? "--status" : "--attach");
        return EXIT_TROUBLE;
    }
    if (plat_init(err, sizeof err) < 0)
        fatal(NULL, "%s", err);
    c->input = SOCK_INVALID;
    if (c->resume) {
        if (joblog_read(joblog, &c->past) < 0)
            return EXIT_TROUBLE;
        c->rep.joblog_compact = 1; /* appended to, then one line per Seq */
        if (c->resume == RETRY_FAILED)
            file = NULL;
    }
    if (dry_run) { /* the lines on stdout, the slaves on stderr; nothing is submitted */
        if (c->tmpl) {
            const char *line;
            size_t len;
            uint32_t seq;
            int r;
            while ((r = template_next(c->tmpl, &line, &len, &seq)) > 0) {
                fwrite(line, 1, len, stdout);
                putchar('\n');
            }
            if (r < 0)
                fatal(NULL, "out of memory");
        } else if (template_dry_run_file(stdout, file, err, sizeof err) < 0) {
            fatal(NULL, "%s", err);
        }
        if (fflush(stdout) != 0 || ferror(stdout))
            fatal(NULL, "cannot write the commands to standard output: %s", strerror(errno));
        if (c->rep.quiet) /* the lines alone: the master is not asked */
            return 0;
        c->mode = MODE_STATUS;
        c->input_done = 1;
        if (c->tmpl)
            template_free(c->tmpl);
        c->tmpl = NULL;
        dry_run_asking = 1;
        connect_seconds = 2;
    } else if (file) {
        c->input_name = strcmp(file, "-") ? file : "(standard input)";
        if ((c->input = input_open(file, err, sizeof err)) == SOCK_INVALID)
            fatal(NULL, "cannot open the command file '%s': %s", file, err);
    } else if (!c->tmpl && c->resume != RETRY_FAILED) {
        c->input_done = 1;
    }
    auth_setup(&c->auth, key_file);
    if (line_reader_init(&c->lines) < 0)
        fatal(NULL, "out of memory");
    if (!QUERY_MODE(c) && report_open(&c->rep, joblog) < 0)
        return EXIT_TROUBLE;
    bw_init(&c->in, FRAME_MAX_FROM_MASTER + RECV_CHUNK);
    bw_init(&c->out, (size_t)1 << 30);
    c->next_to_print = 1;
    if (c->mode == MODE_RUN || c->mode == MODE_FOLLOW) { /* --detach leaves, --batches lists */
        int width = 80, tty = show_progress ? progress_is_tty(stderr, &width) : 0;
        progress_init(&c->prog, show_progress, stderr, tty, clock_ms());
        c->prog.width = width;
    }
    uint64_t started = clock_us();
    c->sock = connect_master(c);
    /* Signals as events from here on: Ctrl-C cancels the batch (before,
     * there is none to cancel and the default action is right). */
    c->sigfd = signal_events_init();
    send_hello(c);
    run(c);
    if (dry_run_asking) {
        net_close(c->sock);
        template_dry_run_slaves(stderr, &c->status);
        status_free(&c->status);
        return 0;
    }

    if (c->mode == MODE_STATUS) {
        net_close(c->sock);
        if (!c->got_status || c->status.nslaves != c->status.master.slaves ||
            c->status.nbatches != c->status.master.batches || c->status.njobs != c->status.master.jobs)
            fatal(NULL, "protocol error: the master's status ended early (%u of %u slaves, %u of %u jobs, %u of %u "
                  "batches)", (unsigned)c->status.nslaves, c->status.master.slaves, (unsigned)c->status.njobs,
                  c->status.master.jobs, (unsigned)c->status.nbatches, c->status.master.batches);
        if (c->rep.json) {
            bwriter w;
            bw_init(&w, (size_t)1 << 30);
            status_write_json(&w, &c->status);
            if (w.error)
                fatal(NULL, "out of memory for the status");
            fwrite(bw_head(&w), 1, bw_pending(&w), stdout);
            bw_free(&w);
        } else
            status_write_table(stdout, &c->status);
        status_free(&c->status);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "client: cannot write the status to standard output: %s\n", strerror(errno));
            return EXIT_TROUBLE;
        }
        return 0;
    }
    if (c->mode == MODE_LIST) {
        if (c->listed == 0 && !c->rep.json)
            report_batch_header();
        net_close(c->sock);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "client: cannot write the list to standard output: %s\n", strerror(errno));
            return EXIT_TROUBLE;
        }
        return 0;
    }
    if (c->mode == MODE_DETACH) { /* BYE: every result is there already; detach all the same */
        if (!c->input_done || c->accepted != c->submitted)
            fatal(c, "protocol error: BYE with %u of %u commands accepted", c->accepted, c->submitted);
        detach_now(c);
    }
    if (c->mode == MODE_FOLLOW ? c->followed != c->total || c->results != c->total
                               : !c->input_done || c->results + c->skipped != c->ncmds)
        fatal(c, "protocol error: the master finished with %u of %u results", c->results, expected(c));
    /* We hold every result: the master may forget the batch (--keep-results). */
    if (!c->legacy) {
        count_frame ack = {.count = c->from_master};
        client_frame_end(c, count_frame_encode(&c->out, F_ACK, &ack));
        flush_out(c, GOODBYE_MS);
    }
    net_close(c->sock);
    fflush(stdout);
    progress_set_total(&c->prog, expected(c), 1);
    progress_end(&c->prog, clock_ms());
    progress_free(&c->prog);
    if (c->differ > 5)
        fprintf(stderr, "client: warning: %u commands in all are not the joblog's lines of their seqs\n", c->differ);
    report_summary(&c->rep, (double)(clock_us() - started) / 1e6);
    if (report_close(&c->rep) < 0)
        fatal(NULL, "the joblog or the results directory is incomplete (the failed writes are named above)");
    for (uint32_t i = 0; i < c->ncmds; i++)
        free(c->cmds[i].text);
    free(c->cmds);
    free(c->submits);
    line_reader_free(&c->lines);
    if (c->tmpl)
        template_free(c->tmpl);
    bw_free(&c->in);
    bw_free(&c->out);
    if (c->input != SOCK_INVALID)
        input_close(c->input);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "client: cannot write the results to standard output: %s\n", strerror(errno));
        return EXIT_TROUBLE;
    }
    return c->halted && c->halt_status >= 0 ? c->halt_status : report_exit_status(&c->rep);
}
