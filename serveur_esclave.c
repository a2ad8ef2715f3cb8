/*
 * serveur_esclave - a slave: runs the shell commands a master sends it
 * over UDP and sends back their results.
 *
 *   serveur_esclave [options] PORT
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "cli.h"
#include "console.h"
#include "common.h"
#include "log.h"
#include "platform.h"
#include "proto.h"
#include "slave/runner.h"
#include "slave/slave.h"
#include "trace.h"

#define DEFAULT_MASTER_GRACE_SECONDS 60

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: serveur_esclave [options] PORT\n"
            "(installed by make install as smp-esclave: man 8 smp-esclave)\n"
            "Runs the shell commands a master (serveur_maitre) sends to UDP PORT (0: any free port)\n"
            "and sends back exit status, duration, stdout and stderr.\n"
            "\n"
            "Options:\n"
            "  -j, --slots N          commands run at once (default: number of CPUs, here %d)\n"
            "  -b, --bind ADDR        address to listen on (default %s); beyond loopback a key\n"
            "                         is required, or --insecure\n"
            "  -K, --key-file FILE    shared secret authenticating the master (default:\n"
            "                         $SMP_KEY_FILE if set; see doc/security.md)\n"
            "                         (capital K: the client's -k is --keep-order)\n"
            "      --insecure         allow a non-loopback --bind without a key\n"
            "  -a, --allow FILE       run only commands whose words match a pattern of FILE (one\n"
            "                         per line, word by word: '*' '?' '[...]', a last '**' any\n"
            "                         more words), without a shell; shell syntax (; | & $ ` > ...)\n"
            "                         or no match: exit 126 with the reason; a wildcard never\n"
            "                         matches an option (-x @x +x, /x on Windows): write them\n"
            "                         (doc/security.md 5); SIGHUP reloads FILE\n"
            "  -o, --max-output SIZE  output kept per stream and command, K/M suffixes\n"
            "                         (default %uM, at most %uM); the rest is dropped and marked\n"
            "  -t, --timeout SECONDS  kill commands running longer (default 0: no limit); a cap:\n"
            "                         a client's --timeout may ask for less, never more\n"
            "      --max-procs N      processes per command (default %d; 0: no limit): the\n"
            "                         commands' cgroup's pids.max (slots x N) where it may,\n"
            "                         and RLIMIT_NPROC (of the user, not root: slots x N + 64)\n"
            "      --max-cpu SECONDS  CPU seconds per process (RLIMIT_CPU; default 0: none)\n"
            "      --max-memory SIZE  address space per process, K/M/G suffixes (RLIMIT_AS;\n"
            "                         default 0: none)\n"
            "      --max-files N      open files per process (RLIMIT_NOFILE; default %d; 0: the\n"
            "                         slave's own; POSIX only). No limit is ever raised above\n"
            "                         the slave's own hard limit; core files are off\n"
            "  -C, --chdir DIR        the commands run in DIR (default: the directory it was\n"
            "                         started in); said at start; a client's --wd is from there\n"
            "      --master-grace SECS  a master with a state dir that falls silent keeps its\n"
            "                         jobs and results this long, for its next life to adopt\n"
            "                         (default %d; from 1; an ephemeral master's: 10 s)\n"
            "      --simulate SPEC    drop, duplicate and reorder received datagrams on purpose\n"
            "                         (a demonstration, never for real work): SPEC is\n"
            "                         loss=P,dup=P,reorder=P,seed=N, P as 20%% or 0.2\n"
            "                         and drop=TYPE[:N], double=TYPE[:N]: the Nth datagram of TYPE\n"
            "      --trace            one line on stderr per datagram sent or received\n"
            "                         (doc/protocol.md \"Reading a trace\")\n"
            "  -v, --verbose          log every job\n"
            "  -q, --quiet            log only errors; no console view (stdout: each command,\n"
            "                         its output cut, code retour)\n"
            "  -h, --help             this help\n"
            "  -V, --version          version\n",
            cpu_count(), DEFAULT_BIND_ADDR, DEFAULT_OUTPUT_CAP >> 20, MAX_OUTPUT_CAP >> 20, RUNNER_DEFAULT_PROCS,
            RUNNER_DEFAULT_FILES, DEFAULT_MASTER_GRACE_SECONDS);
}

int main(int argc, char **argv)
{
    enum { OPT_TRACE = 256 };
    static const struct option longopts[] = {
        {"slots", required_argument, NULL, 'j'},      {"bind", required_argument, NULL, 'b'},
        {"key-file", required_argument, NULL, 'K'},   {"insecure", no_argument, NULL, 'I'},
        {"allow", required_argument, NULL, 'a'},
        {"max-output", required_argument, NULL, 'o'}, {"timeout", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},          {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},             {"version", no_argument, NULL, 'V'},
        {"master-grace", required_argument, NULL, 'G'},
        {"chdir", required_argument, NULL, 'C'},
        {"simulate", required_argument, NULL, 'S'},
        {"max-procs", required_argument, NULL, 'P'},  {"max-cpu", required_argument, NULL, 'U'},
        {"max-memory", required_argument, NULL, 'M'}, {"max-files", required_argument, NULL, 'F'},
        {"trace", no_argument, NULL, OPT_TRACE},
        {NULL, 0, NULL, 0}};
    plat_std_streams_open(); /* before any file or socket: none may become stderr */
    runner_limits limits = {0, RUNNER_DEFAULT_PROCS, 0, 0, RUNNER_DEFAULT_FILES};
    slave_config cfg = {DEFAULT_BIND_ADDR, 0, 0, DEFAULT_OUTPUT_CAP, 0, NULL, NULL, DEFAULT_MASTER_GRACE_SECONDS * 1000u, NULL, NULL, 0};
    int level = LOG_INFO, c, insecure = 0;
    const char *key_file = NULL, *allow_file = NULL, *chdir_to = NULL;
    static allow_list allow;
    static auth_keys auth;
    log_init("esclave", level);
    die_exit_status = 2; /* a bad option value is a usage error */
    while ((c = getopt_long(argc, argv, "j:b:K:k::a:o:t:C:vqhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': cfg.slots = (int)cli_number("--slots", optarg, 1, 1024); break;
        case 'b': cfg.bind = optarg; break;
        case 'K': key_file = optarg; break;
        case 'k': /* -k was the key file: now the client's --keep-order alone */
            fprintf(stderr, "serveur_esclave: -k is gone: use -K FILE or --key-file FILE\n");
            return 2;
        case 'I': insecure = 1; break;
        case 'a': allow_file = optarg; break;
        case 'o': cfg.output_cap = cli_bytes("--max-output", optarg, 0, MAX_OUTPUT_CAP); break;
        case 't': cfg.default_timeout_ms = cli_seconds("--timeout", optarg, 86400000u); break;
        case 'C': chdir_to = optarg; break;
        case 'S': cfg.simulate = cli_simulate(optarg, 0); break;
        case 'P': limits.procs = (uint32_t)cli_number("--max-procs", optarg, 0, 1000000); break;
        case 'U': limits.cpu_s = (uint32_t)cli_number("--max-cpu", optarg, 0, 86400 * 365); break;
        case 'M': limits.memory = cli_size("--max-memory", optarg, (uint64_t)1 << 50); break;
        case 'F': limits.files = (uint32_t)cli_number("--max-files", optarg, 0, 1 << 24); break;
        case 'G':
            cfg.master_grace_ms = cli_seconds("--master-grace", optarg, 86400000u);
            if (cfg.master_grace_ms < 1000)
                die("--master-grace: '%s' is too short: at least 1 second (masters ping every 0.5 s)", optarg);
            break;
        case OPT_TRACE: trace_start("esclave"); break;
        case 'v': level = LOG_DEBUG; break;
        case 'q': level = LOG_ERROR; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("serveur_esclave %s\n", SMP_VERSION_STRING); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "serveur_esclave: expected one argument, the UDP port\n");
        usage(stderr);
        return 2;
    }
    cfg.port = cli_port(argv[optind]);
    if (cfg.slots == 0)
        cfg.slots = cpu_count();
    die_exit_status = 1; /* from here on: a start-up or run-time failure */
    char err[256];
    if (plat_init(err, sizeof err) < 0)
        die("%s", err);
    auth_setup(&auth, key_file);
    cli_check_bind(cfg.bind, auth.enabled, insecure);
    cfg.auth = &auth;
    if (allow_file) {
        /* SIGHUP reads it again after --chdir: by the path it had at start,
         * never one in the commands' directory */
        static char allow_path[4096 + 512];
        char here[4096 + 1];
        int absolute = allow_file[0] == '/' || allow_file[0] == '\\' ||
                       (allow_file[0] && allow_file[1] == ':'); /* C:... on Windows */
        if (!absolute && plat_cwd(here, sizeof here) == 0 &&
            (size_t)snprintf(allow_path, sizeof allow_path, "%s/%s", here, allow_file) < sizeof allow_path)
            allow_file = allow_path;
        int loaded = allow_list_load(&allow, allow_file, err, sizeof err);
        if (loaded == -2)
            die_exit_status = 2; /* a policy that says what is refused: the configuration's mistake */
        if (loaded < 0)
            die("%s", err);
        die_exit_status = 1;
        cfg.allow = &allow;
    }
    /* after the files given by path (--key-file, --allow): from where it was started */
    if (chdir_to && plat_chdir(chdir_to, err, sizeof err) < 0)
        die("--chdir: %s", err);
    static char cwd[4096 + 1];
    if (plat_cwd(cwd, sizeof cwd) < 0)
        snprintf(cwd, sizeof cwd, "%s", chdir_to ? chdir_to : "(unknown)");
    cfg.cwd = cwd;
    static char role[32];
    snprintf(role, sizeof role, "esclave:%d", cfg.port);
    log_init(role, level);
    if (cfg.simulate)
        cli_simulate_warn(cfg.simulate);
    console_on = level != LOG_ERROR; /* -q: the console view too */
    log_nowait = 1; /* a frozen terminal or an unread pipe on stderr must not stop it either */
    limits.slots = (unsigned)cfg.slots;
    runner_set_limits(&limits);
    cfg.boot = boot_id_new(); /* the commands' SMP_JOB names it: known to the keeper */
    runner_init(cfg.boot); /* before any socket: the keeper holds none */
    int rc = slave_run(&cfg);
    runner_shutdown();
    return rc;
}
