/* slave.h - the slave daemon's event loop (slave.c). */
#ifndef SLAVE_H
#define SLAVE_H

#include <stdint.h>

#include "auth.h"
#include "conf.h"
#include "simulate.h"

typedef struct {
    const char *bind;
    int port;
    int slots;                   /* commands run at once */
    uint32_t output_cap;         /* bytes kept per stream and command */
    uint32_t default_timeout_ms; /* --timeout: a cap; a request may ask for less (0: none) */
    const auth_keys *auth;       /* enabled: only authenticated datagrams are accepted */
    allow_list *allow;           /* NULL: every command; else only those it permits (SIGHUP reloads it) */
    uint32_t master_grace_ms;    /* a silent master with an identity keeps its jobs this long (--master-grace) */
    const char *cwd;             /* where commands run (--chdir, else where it started): said at start */
    simulate *simulate;          /* --simulate: received datagrams dropped, doubled, reordered (NULL: off) */
    uint64_t boot;               /* this life's boot id, also in the commands' SMP_JOB (0: slave_run makes one) */
} slave_config;

/* Runs until SIGTERM/SIGINT; returns the exit status. */
int slave_run(const slave_config *cfg);

#endif
