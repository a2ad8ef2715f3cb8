/*
 * simulate.h - --simulate loss=P,dup=P,reorder=P,seed=N: a daemon's
 * received datagrams dropped, duplicated and held back on purpose, so that
 * retransmissions, duplicates and reordering can be seen without root (no
 * netem, no nftables). Applied in the one receive path (endpoint_drain),
 * before anything opens a datagram: a simulated loss never arrived. Pure:
 * no sockets, no clock (the caller passes the time), like xfer.c.
 */
#ifndef SIMULATE_H
#define SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "platform.h"
#include "proto.h"

#define SIM_HOLD_MAX 8              /* datagrams held back at once; beyond, one goes through in order */
#define SIM_HOLD_MIN_US 2000u       /* a held datagram waits 2 to 50 ms, or for the next one to arrive */
#define SIM_HOLD_SPAN_US 48000u

typedef struct {
    uint8_t p[DGRAM_MAX];
    size_t n;
    net_addr from;
    int copies;      /* 2 when it was also duplicated */
    uint64_t due_us; /* delivered then at the latest */
} sim_held;

/* drop=TYPE:N, double=TYPE:N: the Nth datagram of that type received
 * (from 1), lost or delivered twice, whatever the draws say: one loss a
 * student can point at in a trace. */
typedef struct {
    uint8_t type; /* enum dgram_type; 0: none */
    uint32_t nth, seen;
} sim_target;

typedef struct {
    uint32_t loss, dup, reorder; /* probabilities in parts per million */
    sim_target drop, twice;      /* drop=, double= */
    uint64_t seed, rng;          /* the seed (said at start), the generator's state */
    uint64_t received, dropped, duplicated, reordered;
    sim_held held[SIM_HOLD_MAX]; /* oldest first */
    unsigned nheld;
    uint8_t spare[DGRAM_MAX];    /* the second copy of a duplicated datagram */
} simulate;

/* Parses the option's value into s (zeroed first): comma-separated
 * loss=P, dup=P, reorder=P, drop=TYPE[:N], double=TYPE[:N] (each at most
 * once, at least one of them) and seed=N (decimal, 64 bits); P is a
 * percentage with '%' (20%, 2.5%) or a fraction from 0 to 1 (0.2); TYPE a
 * datagram type's name (JOB, RESULT_ACK...), N from 1 (default 1). 0, or -1
 * with err naming the bad part. Without seed= the caller draws one
 * (simulate_seed). */
int simulate_parse(simulate *s, const char *spec, int *seeded, char *err, size_t errlen);
void simulate_seed(simulate *s, uint64_t seed);
/* drop= and double= name a type this program receives (master: 1, the
 * master; 0, a slave): 0, or -1 with err saying which program gets it. */
int simulate_check_role(const simulate *s, int master, char *err, size_t errlen);
/* "loss=20% dup=5% reorder=10% drop=JOB:1 (seed 1234)" */
void simulate_describe(const simulate *s, char *out, size_t n);

/* A datagram of that type (its header's byte 3; 0 when it has none) just
 * received: 0 drop it; else deliver it that many times (1 or 2); *hold set
 * when it is to be held back (simulate_hold). Counts. */
int simulate_fate(simulate *s, uint8_t type, int *hold);
/* The type byte of a received datagram, read off its clear header; 0 if
 * it has none (too short, not our magic). */
uint8_t simulate_type_of(const uint8_t *p, size_t n);
/* Keeps p for later; 0 if the queue is full (deliver it now). */
int simulate_hold(simulate *s, const uint8_t *p, size_t n, const net_addr *from, int copies, uint64_t now_us);
/* A held datagram that is due, the earliest first (with all: the oldest,
 * due or not): 1 and it is copied out and forgotten; 0 none. */
int simulate_pop(simulate *s, uint64_t now_us, int all, uint8_t *p, size_t *n, net_addr *from, int *copies);
/* When the next held datagram is due (µs, clock_us); 0 if none. */
uint64_t simulate_next_us(const simulate *s);

#endif
