/* master.h - the master daemon's event loop (master.c). */
#ifndef MASTER_H
#define MASTER_H

#include <stdint.h>

#include "auth.h"
#include "simulate.h"

typedef struct {
    const char *bind;
    int port;
    const char *slaves_conf;
    unsigned max_clients;
    unsigned max_queued;        /* per client; reading pauses beyond */
    unsigned retries;           /* default attempts for a command whose slave died */
    uint32_t no_slave_ms;       /* fail queued commands after this long without any slave */
    uint32_t grace_ms;          /* SIGTERM: how long running commands may still finish */
    const auth_keys *auth;      /* enabled: every datagram and frame is authenticated */
    uint32_t dead_after_ms;     /* silence before a slave is declared dead (--dead-after) */
    unsigned queue_total_mib;   /* MiB of queued commands of all clients; reading pauses beyond */
    /* --state-dir; MASTER_STATE_DEFAULT: the default one for the bound
     * port (state.c); NULL: ephemeral (--ephemeral), no state at all */
    const char *state_dir;
    uint32_t client_grace_ms;   /* a batch whose client vanished is cancelled after this (--client-grace) */
    uint32_t keep_results_ms;   /* a finished batch is forgotten this long after (--keep-results) */
    unsigned max_batches;       /* batches kept (journal on): a new one beyond is refused (--max-batches; 0 none) */
    const char *http_host;      /* --http HOST:PORT (NULL: no monitoring server) */
    int http_port;
    const char *http_token_file; /* --http-token: the bearer token /metrics and /status.json need */
    simulate *simulate;         /* --simulate: received datagrams dropped, doubled, reordered (NULL: off) */
    uint32_t aging_ms;          /* --aging: a waiting batch's priority +1 each (0: no aging); sched.c */
    uint64_t cache_age_ms;      /* --cache-age: a cached result is used this long after it was stored (0: off) */
    uint64_t cache_bytes;       /* --cache-size: bytes of cached results, at most */
    uint32_t max_load_milli;    /* --max-load x1000 (0: none): a slave at or above it gets no new command */
    int max_load_per_cpu;       /* --max-load N%: per CPU (N% x 10 in max_load_milli) */
    uint64_t memfree;           /* --memfree bytes (0: none): a slave with less available gets none */
} master_config;

#define AGING_DEFAULT_MS 10000u /* --aging (internal.h's AGING_MS) */
#define MASTER_STATE_DEFAULT "" /* an empty path: never a --state-dir (refused) */

/* Runs until SIGTERM/SIGINT (then shuts down gracefully, see master.c;
 * a second signal stops at once); SIGHUP reloads slaves.conf. Returns the
 * exit status. */
int master_run(const master_config *cfg);

#endif
