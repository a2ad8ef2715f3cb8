/*
 * serveur_maitre - the master: takes files of commands from clients over
 * TCP, runs each command on one of the slaves listed in SLAVES_CONF (UDP)
 * and relays every result back to its client.
 *
 *   serveur_maitre [options] [PORT] SLAVES_CONF
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cli.h"
#include "console.h"
#include "common.h"
#include "log.h"
#include "master/journal_dump.h"
#include "master/master.h"
#include "platform.h"
#include "trace.h"

#define DEFAULT_RETRIES 2
#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_MAX_QUEUED 200000
#define DEFAULT_QUEUE_TOTAL_MIB 256
#define DEFAULT_NO_SLAVE_SECONDS 60
#define DEFAULT_GRACE_SECONDS 10
#define DEFAULT_DEAD_AFTER_SECONDS 3
#define DEFAULT_CLIENT_GRACE_SECONDS 300
#define DEFAULT_KEEP_RESULTS_SECONDS 3600
#define DEFAULT_CACHE_AGE_SECONDS 3600
#define DEFAULT_CACHE_MIB 64
#define MAX_CACHE_AGE_MS (366ull * 86400000u) /* --cache-age: a year */
#define MAX_CACHE_BYTES ((uint64_t)1 << 40)   /* --cache-size: 1 TiB (the master holds it in memory) */
#define DEFAULT_MAX_BATCHES 10000 /* about 2 KiB each (half of it options_frame: --env), and 24 bytes per command */
/* On Windows select() watches NET_POLL_MAX sockets, three of them ours. */
#define MAX_CLIENTS (NET_POLL_MAX - 3 < 10000 ? NET_POLL_MAX - 3 : 10000)

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: serveur_maitre [options] [PORT] SLAVES_CONF\n"
            "(installed by make install as smp-maitre: man 8 smp-maitre)\n"
            "Accepts clients on TCP PORT (default %d; 0: any free port) and runs their commands on\n"
            "the slaves listed in SLAVES_CONF, one 'host port [slots] [weight=W]' per line.\n"
            "\n"
            "Options:\n"
            "  -b, --bind ADDR              address to listen on (default %s); beyond loopback\n"
            "                               a key is required, or --insecure\n"
            "  -K, --key-file FILE          shared secret authenticating clients and slaves (default:\n"
            "                               $SMP_KEY_FILE if set; see doc/security.md)\n"
            "                               (capital K: the client's -k is --keep-order)\n"
            "      --insecure               allow a non-loopback --bind without a key\n"
            "  -r, --retries N              attempts per command when its slave dies (default %d;\n"
            "                               a client's --retries takes precedence)\n"
            "      --max-clients N          clients connected at once (default %d)\n"
            "      --max-queued N           queued commands per client before the master stops\n"
            "                               reading from it (default %d; or 16 MiB of them)\n"
            "      --max-queued-total MIB   MiB of queued commands of all clients before the master\n"
            "                               stops reading from those with a queue (default %d)\n"
            "      --no-slave-timeout SECS  fail queued commands when no slave has answered for\n"
            "                               this long (default %d)\n"
            "      --grace SECS             on SIGTERM/SIGINT, how long running commands may still\n"
            "                               finish (default %d; a second signal stops at once); with\n"
            "                               a journal, batches are paused: what is queued or still\n"
            "                               running goes on at the next start\n"
            "      --dead-after SECS        silence after which a slave is declared dead and its\n"
            "                               commands are run elsewhere (default %d; from 1)\n"
            "      --state-dir DIR          where the master keeps its identity (and journal); default\n"
            "                               $XDG_STATE_HOME/serveur_maitre/port-PORT, else\n"
            "                               ~/.local/state/... (Windows: %%LOCALAPPDATA%%\\serveur_maitre\\...)\n"
            "      --ephemeral              no state dir: nothing survives the master\n"
            "      --client-grace SECS      a batch whose client vanished without detaching is\n"
            "                               cancelled after this (default %d)\n"
            "      --keep-results SECS      a finished batch is kept this long for client --attach\n"
            "                               (default %d)\n"
            "      --max-batches N          batches kept at once (running, orphaned, kept for --attach);\n"
            "                               a new one beyond is refused (default %d)\n"
            "      --cache-age DURATION     client --cache: a command's result is used again for this\n"
            "                               long after it ran (default 1h; 90s, 1.5h, 2d; 0: no cache)\n"
            "      --cache-size SIZE        client --cache: bytes of results kept, the least recently\n"
            "                               used dropped first (default %dM; K, M, G suffixes; 0: no\n"
            "                               cache); kept in memory and, with a journal, across restarts\n"
            "      --http [ADDR:]PORT       serve the live page /, /status.json and /metrics (Prometheus)\n"
            "                               on ADDR (default 127.0.0.1; beyond loopback a key and\n"
            "                               --http-token are required; see doc/monitoring.md)\n"
            "      --http-token FILE        the bearer token /status.json and /metrics then need\n"
            "      --aging SECS             a batch waiting for a slot gains one --priority step\n"
            "                               every SECS (default %u; 0: never): none starves\n"
            "      --max-load N             start no command on a slave whose 1-minute load average\n"
            "                               is N or more (N%% of its CPUs: N%%, e.g. 80%%); GNU parallel's\n"
            "                               --load\n"
            "      --memfree SIZE           start no command on a slave with less available memory\n"
            "                               than SIZE (K, M, G, T suffixes); GNU parallel's --memfree\n"
            "      --simulate SPEC          drop, duplicate and reorder received datagrams on purpose\n"
            "                               (a demonstration, never for real work): SPEC is\n"
            "                               loss=P,dup=P,reorder=P,seed=N, P as 20%% or 0.2\n"
            "                               and drop=TYPE[:N], double=TYPE[:N]: the Nth datagram of TYPE\n"
            "      --trace                  one line on stderr per datagram and frame sent or received\n"
            "                               (doc/protocol.md \"Reading a trace\")\n"
            "  -v, --verbose                log every command\n"
            "  -q, --quiet                  log only errors; no console view (stdout: where each\n"
            "                               command goes, its code retour)\n"
            "  -h, --help                   this help\n"
            "  -V, --version                version\n"
            "      --dump-journal DIR       print the journal of state dir DIR (or the journal file DIR)\n"
            "                               as JSON lines and exit: 0 intact, 1 damaged, 2 unreadable\n",
            DEFAULT_MASTER_PORT, DEFAULT_BIND_ADDR, DEFAULT_RETRIES, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_QUEUED,
            DEFAULT_QUEUE_TOTAL_MIB, DEFAULT_NO_SLAVE_SECONDS, DEFAULT_GRACE_SECONDS, DEFAULT_DEAD_AFTER_SECONDS,
            DEFAULT_CLIENT_GRACE_SECONDS, DEFAULT_KEEP_RESULTS_SECONDS, DEFAULT_MAX_BATCHES, DEFAULT_CACHE_MIB,
            AGING_DEFAULT_MS / 1000);
}

/* --max-load N or N%: a load average (three decimals at most) from
 * 0.001, or a percentage of the slave's CPUs (100%: one per CPU). */
static void max_load(master_config *cfg, const char *arg)
{
    const char *p = arg;
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if ((v = v * 10 + (uint64_t)(*p - '0')) > 1000000)
            break;
    v *= 1000;
    if (digits && *p == '.') {
        uint64_t scale = 100;
        for (p++, digits = 0; *p >= '0' && *p <= '9' && scale; p++, scale /= 10, digits++)
            v += (uint64_t)(*p - '0') * scale;
    }
    cfg->max_load_per_cpu = *p == '%';
    if (cfg->max_load_per_cpu) {
        p++;
        v /= 100; /* percent x1000 -> load per CPU x1000 */
    }
    if (!digits || *p || v == 0 || v > 1000000000u)
        die("--max-load: '%s' is not a load average from 0.001 to 1000000, nor a percentage of the slave's "
            "CPUs (N%%, from 0.1%%)", arg);
    cfg->max_load_milli = (uint32_t)v;
}

/* --http [ADDR:]PORT, ADDR an IPv6 address in brackets ([::1]:8080). */
static void http_address(master_config *cfg, char *arg)
{
    char *colon = strrchr(arg, ':');
    cfg->http_host = DEFAULT_BIND_ADDR;
    if (colon) {
        *colon = 0;
        char *host = arg;
        size_t n = strlen(host);
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
            host[n - 1] = 0;
            host++;
        } else if (strchr(host, ':')) {
            die("--http: '%s' has colons: write an IPv6 address in brackets, as [::1]:8080", host);
        }
        if (!*host)
            die("--http: no address before ':' (write 127.0.0.1:PORT, or only PORT)");
        cfg->http_host = host;
    }
    cfg->http_port = cli_port(colon ? colon + 1 : arg);
}

int main(int argc, char **argv)
{
    enum { OPT_MAX_CLIENTS = 256, OPT_MAX_QUEUED, OPT_NO_SLAVE, OPT_GRACE, OPT_INSECURE, OPT_DEAD_AFTER, OPT_QUEUE_TOTAL,
           OPT_STATE_DIR, OPT_EPHEMERAL, OPT_CLIENT_GRACE, OPT_KEEP_RESULTS, OPT_MAX_BATCHES, OPT_HTTP, OPT_HTTP_TOKEN,
           OPT_SIMULATE, OPT_TRACE, OPT_AGING, OPT_CACHE_AGE, OPT_CACHE_SIZE, OPT_MAX_LOAD, OPT_MEMFREE };
    enum { OPT_DUMP_JOURNAL = 512 };
    static const struct option longopts[] = {
        {"bind", required_argument, NULL, 'b'},
        {"key-file", required_argument, NULL, 'K'},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"retries", required_argument, NULL, 'r'},
        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
        {"max-queued", required_argument, NULL, OPT_MAX_QUEUED},
        {"max-queued-total", required_argument, NULL, OPT_QUEUE_TOTAL},
        {"no-slave-timeout", required_argument, NULL, OPT_NO_SLAVE},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"dead-after", required_argument, NULL, OPT_DEAD_AFTER},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
        {"client-grace", required_argument, NULL, OPT_CLIENT_GRACE},
        {"keep-results", required_argument, NULL, OPT_KEEP_RESULTS},
        {"max-batches", required_argument, NULL, OPT_MAX_BATCHES},
        {"cache-age", required_argument, NULL, OPT_CACHE_AGE},
        {"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
        {"http", required_argument, NULL, OPT_HTTP},
        {"http-token", required_argument, NULL, OPT_HTTP_TOKEN},
        {"max-load", required_argument, NULL, OPT_MAX_LOAD},
        {"memfree", required_argument, NULL, OPT_MEMFREE},
        {"simulate", required_argument, NULL, OPT_SIMULATE},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"aging", required_argument, NULL, OPT_AGING},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"dump-journal", required_argument, NULL, OPT_DUMP_JOURNAL},
        {NULL, 0, NULL, 0}};
    plat_std_streams_open(); /* before any file or socket: none may become stderr */
    master_config cfg = {DEFAULT_BIND_ADDR, DEFAULT_MASTER_PORT, NULL,         DEFAULT_MAX_CLIENTS,
                         DEFAULT_MAX_QUEUED, DEFAULT_RETRIES,    DEFAULT_NO_SLAVE_SECONDS * 1000u,
                         DEFAULT_GRACE_SECONDS * 1000u, NULL, DEFAULT_DEAD_AFTER_SECONDS * 1000u, DEFAULT_QUEUE_TOTAL_MIB,
                         MASTER_STATE_DEFAULT, DEFAULT_CLIENT_GRACE_SECONDS * 1000u, DEFAULT_KEEP_RESULTS_SECONDS * 1000u,
                         DEFAULT_MAX_BATCHES, NULL, 0, NULL, NULL, AGING_DEFAULT_MS, 0, 0, 0, 0, 0};
    cfg.cache_age_ms = DEFAULT_CACHE_AGE_SECONDS * 1000ull;
    cfg.cache_bytes = (uint64_t)DEFAULT_CACHE_MIB << 20;
    int level = LOG_INFO, c, insecure = 0, ephemeral = 0;
    const char *key_file = NULL;
    const char *dump_journal = NULL;
    static auth_keys auth;
    log_init("maitre", level);
    die_exit_status = 2; /* a bad option value is a usage error */
    while ((c = getopt_long(argc, argv, "b:K:k::r:vqhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': cfg.bind = optarg; break;
        case 'K': key_file = optarg; break;
        case 'k': /* -k was the key file: now the client's --keep-order alone */
            fprintf(stderr, "serveur_maitre: -k is gone: use -K FILE or --key-file FILE\n");
            return 2;
        case OPT_INSECURE: insecure = 1; break;
        case 'r': cfg.retries = (unsigned)cli_number("--retries", optarg, 1, 100); break;
        case OPT_MAX_CLIENTS: cfg.max_clients = (unsigned)cli_number("--max-clients", optarg, 1, MAX_CLIENTS); break;
        case OPT_MAX_QUEUED: cfg.max_queued = (unsigned)cli_number("--max-queued", optarg, 1, 10000000); break;
        case OPT_QUEUE_TOTAL: cfg.queue_total_mib = (unsigned)cli_number("--max-queued-total", optarg, 1, 65536); break;
        case OPT_NO_SLAVE: cfg.no_slave_ms = cli_seconds("--no-slave-timeout", optarg, 86400000u); break;
        case OPT_GRACE: cfg.grace_ms = cli_seconds("--grace", optarg, 3600000u); break;
        case OPT_DEAD_AFTER:
            cfg.dead_after_ms = cli_seconds("--dead-after", optarg, 3600000u);
            if (cfg.dead_after_ms < 1000)
                die("--dead-after: '%s' is too short: at least 1 second (pings go every 0.5 s)", optarg);
            break;
        case OPT_STATE_DIR:
            if (!optarg[0])
                die("--state-dir: an empty path");
            cfg.state_dir = optarg;
            break;
        case OPT_EPHEMERAL: ephemeral = 1; break;
        case OPT_CLIENT_GRACE: cfg.client_grace_ms = cli_seconds("--client-grace", optarg, 86400000u); break;
        case OPT_KEEP_RESULTS: cfg.keep_results_ms = cli_seconds("--keep-results", optarg, 4000000000u); break;
        case OPT_MAX_BATCHES: cfg.max_batches = (unsigned)cli_number("--max-batches", optarg, 1, 10000000); break;
        case OPT_CACHE_AGE: cfg.cache_age_ms = cli_duration("--cache-age", optarg, MAX_CACHE_AGE_MS); break;
        case OPT_CACHE_SIZE: cfg.cache_bytes = cli_size("--cache-size", optarg, MAX_CACHE_BYTES); break;
        case OPT_HTTP: http_address(&cfg, optarg); break;
        case OPT_HTTP_TOKEN: cfg.http_token_file = optarg; break;
        case OPT_MAX_LOAD: max_load(&cfg, optarg); break;
        case OPT_MEMFREE:
            if (!(cfg.memfree = cli_size("--memfree", optarg, (uint64_t)1 << 50)))
                die("--memfree: '%s': give a size from 1 byte (K, M, G and T suffixes allowed)", optarg);
            break;
        case OPT_SIMULATE: cfg.simulate = cli_simulate(optarg, 1); break;
        case OPT_TRACE: trace_start("maitre"); break;
        case OPT_AGING: cfg.aging_ms = cli_seconds("--aging", optarg, 86400000u); break;
        case 'v': level = LOG_DEBUG; break;
        case 'q': level = LOG_ERROR; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("serveur_maitre %s\n", SMP_VERSION_STRING); return 0;
        case OPT_DUMP_JOURNAL: dump_journal = optarg; break;
        default: usage(stderr); return 2;
        }
    }
    if (dump_journal) /* reads, prints and exits: nothing starts */
        return journal_dump(dump_journal, stdout);
    if (ephemeral && cfg.state_dir[0]) {
        fprintf(stderr, "serveur_maitre: --state-dir and --ephemeral exclude each other\n");
        usage(stderr);
        return 2;
    }
    if (ephemeral)
        cfg.state_dir = NULL;
    if (cfg.http_token_file && !cfg.http_host) {
        fprintf(stderr, "serveur_maitre: --http-token without --http\n");
        return 2;
    }
    int nargs = argc - optind;
    if (nargs == 2) {
        cfg.port = cli_port(argv[optind]);
        cfg.slaves_conf = argv[optind + 1];
    } else if (nargs == 1) {
        cfg.slaves_conf = argv[optind];
    } else {
        fprintf(stderr, "serveur_maitre: expected [PORT] SLAVES_CONF\n");
        usage(stderr);
        return 2;
    }
    log_init("maitre", level);
    console_on = level != LOG_ERROR; /* -q: the console view too */
    log_nowait = 1; /* a frozen terminal or an unread pipe on stderr must not stop it either */
    die_exit_status = 1; /* from here on: a start-up or run-time failure */
    char err[256];
    if (plat_init(err, sizeof err) < 0)
        die("%s", err);
    auth_setup(&auth, key_file);
    cli_check_bind(cfg.bind, auth.enabled, insecure);
    cfg.auth = &auth;
    if (cfg.simulate)
        cli_simulate_warn(cfg.simulate);
    return master_run(&cfg);
}
