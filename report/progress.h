/*
 * progress.h - client --progress, --eta, --bar: the batch's counts, per
 * slave and in total, on stderr, as GNU parallel shows them. Redrawn in
 * place on a terminal (at most PROGRESS_TTY_MS apart), plain lines
 * elsewhere (at most PROGRESS_PIPE_MS apart), the last state once more at
 * the end. The counts and the line are pure functions of the state and a
 * clock (tests/unit_progress.c); only the progress_draw family writes.
 */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_PROGRESS 1 /* --progress: running/done/failed/average per slave, totals */
#define PROGRESS_ETA 2      /* --eta: ETA, commands left, average seconds per command */
#define PROGRESS_BAR 4      /* --bar: percent, done/total, ETA and a bar */
#define PROGRESS_TTY_MS 100   /* a terminal: at most 10 redraws a second */
#define PROGRESS_PIPE_MS 1000 /* elsewhere: at most a line a second */
#define PROGRESS_LINE_MAX 4096

typedef struct {
    char *name;              /* the slave's name, as in RESULT */
    unsigned running, done, failed;
    uint64_t run_us;         /* the runtimes of its done commands, summed */
} progress_host;

typedef struct {
    int what;                /* PROGRESS_* bits; 0: off */
    int know_running;        /* the master sends STARTED (WELCOME had FRAME_FLAG_PROGRESS) */
    progress_host *hosts;    /* in the order they were first heard of */
    unsigned nhosts, cap_hosts;
    uint32_t *where;         /* by seq - 1: 1 + the host running its current attempt; 0 none */
    uint32_t cap_where;
    unsigned total;          /* commands known so far */
    int total_final;         /* ... and that is all of them */
    unsigned done, failed;
    unsigned base;           /* results that were there at the start (--attach): not in the rate */
    uint64_t start_ms;
    /* the display */
    FILE *out;
    int tty, width;
    size_t shown;            /* a terminal: the characters of the line now on it (0: none) */
    uint64_t last_draw_ms;
    int drawn, dirty;
} progress;

/* what 0 leaves everything off. out: stderr; tty: whether out is a
 * terminal (progress_is_tty). */
void progress_init(progress *p, int what, FILE *out, int tty, uint64_t now_ms);
int progress_is_tty(FILE *f, int *width);
void progress_free(progress *p);
/* seq's attempt was dispatched to host (F_STARTED); a later attempt moves it. */
void progress_started(progress *p, uint32_t seq, const char *host, size_t host_len);
/* seq's result: host "" for one no slave ran (refused by the client). */
void progress_done(progress *p, uint32_t seq, const char *host, int failed, uint64_t run_us);
/* A new connection: the master tells again what runs (F_STARTED each). */
void progress_reset_running(progress *p);
void progress_set_total(progress *p, unsigned total, int final);
/* 1 and the estimate once a command finished since the start, else 0;
 * avg_s: wall seconds per command finished (1 / the rate). */
int progress_eta(const progress *p, uint64_t now_ms, double *eta_s, double *avg_s);
/* The line (no newline, NUL-terminated, cut at n - 1); returns its length. */
size_t progress_format(const progress *p, uint64_t now_ms, char *buf, size_t n);

/* Draws if something changed and the last draw is old enough; returns
 * when to call again (0: nothing waits). */
uint64_t progress_tick(progress *p, uint64_t now_ms);
/* A terminal: rubs the line out before other output (redrawn at the next tick). */
void progress_clear(progress *p);
/* The final state, once, and a newline. */
void progress_end(progress *p, uint64_t now_ms);

#endif
