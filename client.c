/*
 * client - sends a file of shell commands to a master (serveur_maitre)
 * over TCP and prints every result as it arrives.
 *
 *   client [options] [HOST PORT] FILE|-
 *
 * One poll loop: read the command file, send SUBMIT frames, read RESULT
 * frames, so a large file never blocks results from being printed.
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
#include "report/report.h"

#define EXIT_TROUBLE 255
#define SEND_HIGH_WATER (256u * 1024) /* stop reading the file while this much is unsent */
#define RECV_CHUNK (256u * 1024)      /* read at most this much from the master at once */
#define INPUT_CHUNK 65536              /* one read of the command file */

typedef struct {
    char *text;
    uint32_t len;
    CommandResult *held; /* --keep-order: result waiting for earlier ones */
} command_slot;

typedef struct {
    const char *host;
    int port;
    uint32_t timeout_ms, retries;
    sock_t sock;
    bwriter in, out;
    sock_t input; /* the command file: platform.h input_open */
    int input_done;
    line_reader lines;
    command_slot *cmds; /* index seq - 1 */
    uint32_t ncmds, cap_cmds;
    uint32_t submitted, results, next_to_print;
    int got_bye, welcomed;
    const char *input_name;
    report rep;
    auth_keys auth;
    uint8_t nonce[AUTH_NONCE_LEN];
    int tagged; /* handshake done with a key: every frame carries a tag */
    hmac_key tx_key, rx_key;
    uint64_t tx_seq, rx_seq;
} client_state;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: client [options] [HOST PORT] FILE|-\n"
            "Sends the shell commands of FILE (- for standard input), one per line, to a master\n"
            "(serveur_maitre, default 127.0.0.1:%d) and prints each command's output and status.\n"
            "Blank lines and lines starting with '#' are skipped.\n"
            "\n"
            "Options:\n"
            "  -k, --keep-order      print results in input order (default: as they complete)\n"
            "      --results DIR     write DIR/SEQ/stdout and DIR/SEQ/stderr for each command\n"
            "      --joblog FILE     write a GNU parallel joblog (tab-separated, with a header)\n"
            "      --json            print one JSON object per command per line\n"
            "      --timeout SECS    kill commands running longer than this (default: none)\n"
            "      --retries N       attempts per command if its slave dies (default: the master's)\n"
            "      --key-file FILE   shared secret of the master (default: $SMP_KEY_FILE if set)\n"
            "  -v, --verbose         say what the client is doing on stderr\n"
            "  -q, --quiet           print only the commands' output\n"
            "  -h, --help            this help\n"
            "  -V, --version         version\n"
            "\n"
            "Exit status: 0 all commands exited 0; 1-100 the number that failed; 101 more than\n"
            "100 failed; 255 any other error (master unreachable within %d s, unreadable file,\n"
            "protocol error, master gone mid-run, output that could not be written).\n",
            DEFAULT_MASTER_PORT, DEFAULT_CONNECT_SECONDS);
}

static _Noreturn void fatal(client_state *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fatal(client_state *c, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
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
    net_addr to;
    char err[256] = "";
    uint64_t deadline = clock_ms() + DEFAULT_CONNECT_SECONDS * 1000u;
    if (net_resolve(c->host, c->port, 0, &to, err, sizeof err) < 0)
        fatal(c, "cannot reach the master: %s", err);
    for (;;) {
        sock_t s = net_tcp_connect(&to, err, sizeof err);
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
    fatal(c, "cannot reach the master at %s:%d within %d s: %s", c->host, c->port, DEFAULT_CONNECT_SECONDS,
          err[0] ? err : "timed out");
}

static void client_frame_end(client_state *c, size_t start)
{
    if (c->tagged)
        frame_end_tagged(&c->out, start, &c->tx_key, c->tx_seq++);
    else
        frame_end(&c->out, start);
}

/* With a key, HELLO proves we know it, over our fresh nonce. */
static void send_hello(client_state *c)
{
    hello_frame h = {.magic = FRAME_MAGIC, .version = FRAME_VERSION, .timeout_ms = c->timeout_ms, .retries = c->retries};
    auth_random(c->nonce, sizeof c->nonce);
    memcpy(h.nonce, c->nonce, sizeof h.nonce);
    frame_end(&c->out, hello_frame_encode(&c->out, &h, c->auth.enabled ? &c->auth.client_to_master : NULL));
}

/* WELCOME: with a key, the master proves it knows it too, over our nonce
 * and its own; both nonces make this connection's frame keys. */
static void on_welcome(client_state *c, const breader *r)
{
    welcome_frame wf;
    if (welcome_frame_decode(r, &wf) < 0)
        fatal(c, "protocol error: malformed WELCOME from the master");
    if (c->auth.enabled) {
        if (!wf.proof)
            fatal(c, "the master did not authenticate itself: is it running without a key?");
        if (!auth_welcome_check(&c->auth.master_to_client, c->nonce, wf.signed_fields, FRAME_WELCOME_SIGNED, wf.proof))
            fatal(c, "the master failed to authenticate itself: wrong key, or not our master");
        auth_frame_keys(&c->auth, c->nonce, wf.nonce, &c->tx_key, &c->rx_key);
        c->tagged = 1;
        /* READY, our first tagged frame, at once: it proves to the master
         * that we are live and not a replayed HELLO, even if the command
         * file has no line yet (tail -f | client -). */
        client_frame_end(c, ready_frame_encode(&c->out));
    }
    c->welcomed = 1;
    if (c->rep.verbose)
        fprintf(stderr, "client: connected to %s:%d%s: %u of %u slaves answering, %u slots\n", c->host, c->port,
                c->tagged ? " (authenticated)" : "", wf.alive, wf.slaves, wf.slots);
}

static uint32_t remember_command(client_state *c, const char *text, size_t len)
{
    if (c->ncmds == c->cap_cmds) {
        c->cap_cmds = c->cap_cmds ? c->cap_cmds * 2 : 1024;
        c->cmds = realloc(c->cmds, c->cap_cmds * sizeof *c->cmds);
        if (!c->cmds)
            fatal(c, "out of memory");
    }
    command_slot *s = &c->cmds[c->ncmds++];
    s->text = malloc(len + 1);
    if (!s->text)
        fatal(c, "out of memory");
    memcpy(s->text, text, len);
    s->text[len] = 0;
    s->len = (uint32_t)len;
    s->held = NULL;
    return c->ncmds; /* seq */
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

static void show(client_state *c, command_slot *s, const CommandResult *r)
{
    report_result(&c->rep, r, s->text, s->len);
    free(s->text);
    s->text = NULL;
}

/* Every result goes through here, from the master or made locally. */
static void on_result(client_state *c, const CommandResult *r)
{
    if (r->seq == 0 || r->seq > c->ncmds || !c->cmds[r->seq - 1].text || c->cmds[r->seq - 1].held)
        fatal(c, "protocol error: result for unknown or finished command %u", r->seq);
    c->results++;
    command_slot *s = &c->cmds[r->seq - 1];
    if (!c->rep.keep_order) {
        show(c, s, r);
        return;
    }
    if (r->seq != c->next_to_print) {
        if (!(s->held = copy_result(r)))
            fatal(c, "out of memory");
        return;
    }
    show(c, s, r);
    c->next_to_print++;
    while (c->next_to_print <= c->ncmds && c->cmds[c->next_to_print - 1].held) {
        command_slot *h = &c->cmds[c->next_to_print - 1];
        CommandResult *k = h->held;
        show(c, h, k);
        command_result_free(k);
        free(k);
        h->held = NULL;
        c->next_to_print++;
    }
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
    if (!c->rep.json)
        fprintf(stderr, "client: %s: not run\n", msg);
    on_result(c, &r);
}

static void handle_line(client_state *c, const char *line, size_t len, int truncated)
{
    enum cmd_line_kind kind = cmd_line_classify(line, len, truncated);
    if (kind == CMD_SKIP)
        return;
    if (kind == CMD_COMMAND) {
        uint32_t seq = remember_command(c, line, len);
        c->submitted++;
        submit_frame s = {.seq = seq, .len = (uint32_t)len, .command = (const uint8_t *)line};
        client_frame_end(c, submit_frame_encode(&c->out, &s));
        if (c->out.error)
            fatal(c, "out of memory");
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

/* Returns the bytes read (0 at the end, NET_AGAIN). */
static long read_input(client_state *c)
{
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
    if (n == 0) {
        c->input_done = 1;
        end_frame e = {.count = c->submitted};
        client_frame_end(c, end_frame_encode(&c->out, &e));
        if (c->rep.verbose)
            fprintf(stderr, "client: %u commands sent\n", c->ncmds);
    }
    return n;
}

static void on_frame(client_state *c, uint8_t type, const breader *r)
{
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
        if (type == F_ERROR)
            fatal(c, "the master says: %.*s", (int)t.len, t.text);
        if (!c->rep.quiet)
            fprintf(stderr, "client: master: %.*s\n", (int)t.len, t.text);
        break;
    }
    case F_BYE:
        c->got_bye = 1;
        break;
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
    if (n <= 0)
        fatal(c, "lost the connection to the master (%u of %u results received)", c->results, c->ncmds);
    c->in.len += (size_t)n;
    for (;;) {
        uint8_t type;
        breader fields;
        long used = frame_parse(bw_head(&c->in), bw_pending(&c->in), FRAME_MAX_FROM_MASTER, &type, &fields);
        if (used < 0)
            fatal(c, "protocol error: is %s:%d a serveur_maitre?", c->host, c->port);
        if (used == 0)
            break;
        if (c->tagged && !frame_check_tag(&fields, type, &c->rx_key, c->rx_seq++))
            fatal(c, "a frame from the master failed authentication: connection tampered with?");
        on_frame(c, type, &fields);
        bw_consume(&c->in, (size_t)used);
    }
}

int main(int argc, char **argv)
{
    enum { OPT_RESULTS = 256, OPT_JOBLOG, OPT_JSON, OPT_TIMEOUT, OPT_RETRIES, OPT_KEY_FILE };
    static const struct option longopts[] = {
        {"keep-order", no_argument, NULL, 'k'},
        {"results", required_argument, NULL, OPT_RESULTS},
        {"joblog", required_argument, NULL, OPT_JOBLOG},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"key-file", required_argument, NULL, OPT_KEY_FILE},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    static client_state cs;
    client_state *c = &cs;
    const char *joblog = NULL, *key_file = NULL;
    int opt;
    c->host = "127.0.0.1";
    c->port = DEFAULT_MASTER_PORT;
    log_init("client", LOG_INFO);
    while ((opt = getopt_long(argc, argv, "kvqhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k': c->rep.keep_order = 1; break;
        case OPT_RESULTS: c->rep.results_dir = optarg; break;
        case OPT_JOBLOG: joblog = optarg; break;
        case OPT_JSON: c->rep.json = 1; break;
        case OPT_TIMEOUT:
            c->timeout_ms = cli_seconds("--timeout", optarg, 86400000u);
            break;
        case OPT_RETRIES: c->retries = (uint32_t)cli_number("--retries", optarg, 1, HELLO_RETRIES_MAX); break;
        case OPT_KEY_FILE: key_file = optarg; break;
        case 'v': c->rep.verbose = 1; break;
        case 'q': c->rep.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("client %s\n", SMP_VERSION_STRING); return 0;
        default: usage(stderr); return EXIT_TROUBLE;
        }
    }
    int nargs = argc - optind;
    const char *file;
    if (nargs == 3) {
        c->host = argv[optind];
        c->port = cli_port(argv[optind + 1]);
        file = argv[optind + 2];
    } else if (nargs == 1) {
        file = argv[optind];
    } else {
        fprintf(stderr, "client: expected [HOST PORT] FILE (or - for standard input)\n");
        usage(stderr);
        return EXIT_TROUBLE;
    }
    char err[256];
    if (plat_init(err, sizeof err) < 0)
        fatal(NULL, "%s", err);
    c->input_name = strcmp(file, "-") ? file : "(standard input)";
    if ((c->input = input_open(file, err, sizeof err)) == SOCK_INVALID)
        fatal(NULL, "cannot open the command file '%s': %s", file, err);
    auth_setup(&c->auth, key_file);
    if (line_reader_init(&c->lines) < 0)
        fatal(NULL, "out of memory");
    if (report_open(&c->rep, joblog) < 0)
        return EXIT_TROUBLE;
    bw_init(&c->in, FRAME_MAX_FROM_MASTER + RECV_CHUNK);
    bw_init(&c->out, (size_t)1 << 30);
    c->next_to_print = 1;
    uint64_t started = clock_us();
    c->sock = connect_master(c);
    send_hello(c);

    while (!c->got_bye) {
        net_pollfd p[2];
        int n = 0;
        short ev = NET_IN;
        if (bw_pending(&c->out))
            ev |= NET_OUT;
        p[n++] = (net_pollfd){c->sock, ev, 0};
        /* With a key, commands wait for WELCOME: their tags need its nonce. */
        int want_input = !c->input_done && bw_pending(&c->out) < SEND_HIGH_WATER &&
                         (c->welcomed || !c->auth.enabled);
        if (want_input)
            p[n++] = (net_pollfd){c->input, NET_IN, 0};
        if (net_poll(p, n, -1) < 0)
            fatal(c, "poll: %s", net_last_error());
        if (p[0].revents & (NET_IN | NET_HUP))
            read_socket(c);
        if (c->got_bye)
            break;
        /* Input first, then one send of what it made: HELLO, the commands
         * and, when a short read is followed by the end at once (a small
         * file, echo cmd | client -), END leave in one segment. */
        if (want_input && p[1].revents) {
            long got;
            net_pollfd more = {c->input, NET_IN, 0};
            while ((got = read_input(c)) > 0 && got < INPUT_CHUNK && bw_pending(&c->out) < SEND_HIGH_WATER &&
                   net_poll(&more, 1, 0) > 0 && more.revents) {
            }
        }
        if (bw_pending(&c->out)) { /* non-blocking: EAGAIN waits for NET_OUT */
            long w = net_send(c->sock, bw_head(&c->out), bw_pending(&c->out));
            if (w == NET_ERROR)
                fatal(c, "lost the connection to the master: %s", net_last_error());
            if (w > 0)
                bw_consume(&c->out, (size_t)w);
        }
    }
    if (!c->input_done || c->results != c->ncmds)
        fatal(c, "protocol error: the master finished with %u of %u results", c->results, c->ncmds);
    net_close(c->sock);
    fflush(stdout);
    report_summary(&c->rep, (double)(clock_us() - started) / 1e6);
    if (report_close(&c->rep) < 0)
        fatal(NULL, "the joblog or the results directory is incomplete (the failed writes are named above)");
    for (uint32_t i = 0; i < c->ncmds; i++)
        free(c->cmds[i].text);
    free(c->cmds);
    line_reader_free(&c->lines);
    bw_free(&c->in);
    bw_free(&c->out);
    input_close(c->input);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "client: cannot write the results to standard output: %s\n", strerror(errno));
        return EXIT_TROUBLE;
    }
    return report_exit_status(&c->rep);
}
