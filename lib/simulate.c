/* simulate.c - loss, duplication and reordering of received datagrams on
 * purpose (see simulate.h). */
#include "simulate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PPM 1000000u

/* splitmix64: small, and the same draws for the same seed everywhere */
static uint64_t next_u64(simulate *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int chance(simulate *s, uint32_t ppm)
{
    uint32_t r = (uint32_t)(next_u64(s) % PPM); /* drawn even for 0: one seed, one sequence */
    return r < ppm;
}

/* "20%", "2.5%", "0.2", "1": parts per million, or -1. Decimal only. */
static long probability(const char *text, size_t len)
{
    char buf[32];
    if (!len || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = 0;
    int percent = buf[len - 1] == '%';
    if (percent)
        buf[--len] = 0;
    if (!len || strspn(buf, "0123456789.") != len || strchr(buf, '.') != strrchr(buf, '.') || buf[0] == '.' ||
        buf[len - 1] == '.')
        return -1;
    errno = 0;
    char *end;
    double v = strtod(buf, &end);
    if (errno || *end || !(v >= 0) || v > (percent ? 100.0 : 1.0))
        return -1;
    return (long)(v * (percent ? PPM / 100 : PPM) + 0.5);
}

/* "JOB", "RESULT_ACK:2": a type by its name in doc/protocol.md, and which
 * one of that type (from 1, at most a million). 0, or -1. */
static int target_parse(sim_target *t, const char *text, size_t len)
{
    const char *colon = memchr(text, ':', len);
    size_t name_len = colon ? (size_t)(colon - text) : len;
    t->type = 0;
    for (uint8_t type = DG_PING; type <= DG_OUTPUT; type++)
        if (strlen(dgram_type_name(type)) == name_len && !memcmp(dgram_type_name(type), text, name_len))
            t->type = type;
    if (!t->type)
        return -1;
    t->nth = 1;
    if (colon) {
        size_t digits = len - name_len - 1;
        if (!digits || digits > 7 || strspn(colon + 1, "0123456789") < digits || colon[1] == '0')
            return -1;
        t->nth = 0;
        for (size_t i = 0; i < digits; i++)
            t->nth = t->nth * 10 + (uint32_t)(colon[1 + i] - '0');
        if (t->nth > 1000000)
            return -1;
    }
    return 0;
}

int simulate_parse(simulate *s, const char *spec, int *seeded, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    *seeded = 0;
    int given[3] = {0, 0, 0};
    static const char *const names[3] = {"loss", "dup", "reorder"};
    uint32_t *fields[3] = {&s->loss, &s->dup, &s->reorder};
    const char *p = spec;
    if (!*p) {
        snprintf(err, errlen, "--simulate: an empty value (write loss=20%%,dup=5%%,reorder=10%%,seed=N)");
        return -1;
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        const char *val = eq ? eq + 1 : NULL;
        size_t vlen = eq ? len - klen - 1 : 0;
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (klen == strlen(names[i]) && !memcmp(p, names[i], klen))
                k = i;
        int is_seed = klen == 4 && !memcmp(p, "seed", 4);
        sim_target *target = klen == 4 && !memcmp(p, "drop", 4)     ? &s->drop
                             : klen == 6 && !memcmp(p, "double", 6) ? &s->twice
                                                                    : NULL;
        if (!len) {
            snprintf(err, errlen, "--simulate: '%s': an empty part (two commas, or one at an end)", spec);
            return -1;
        }
        if (k < 0 && !is_seed && !target) {
            snprintf(err, errlen,
                     "--simulate: '%.*s': unknown (loss=P, dup=P, reorder=P, drop=TYPE:N, double=TYPE:N, seed=N)",
                     (int)len, p);
            return -1;
        }
        if (!eq) {
            snprintf(err, errlen, "--simulate: '%.*s': no value (write %.*s=...)", (int)len, p, (int)len, p);
            return -1;
        }
        if (target) {
            if (target_parse(target, val, vlen) < 0) {
                snprintf(err, errlen,
                         "--simulate: '%.*s': not a datagram type and a count (write %.*s=JOB or %.*s=RESULT_ACK:2: "
                         "PING, PONG, JOB, JOB_ACK, RESULT, RESULT_ACK, CANCEL, COOKIE, LEAVING, OUTPUT; N from 1)",
                         (int)len, p, (int)klen, p, (int)klen, p);
                return -1;
            }
            if (target->seen) {
                snprintf(err, errlen, "--simulate: '%.*s' given twice", (int)klen, p);
                return -1;
            }
            target->seen = 1; /* "given" while parsing; counts from 0 once parsed */
        } else if (is_seed) {
            char buf[32];
            char *end;
            if (!vlen || vlen >= sizeof buf || strspn(val, "0123456789") < vlen) {
                snprintf(err, errlen, "--simulate: '%.*s': the seed is a decimal number", (int)len, p);
                return -1;
            }
            memcpy(buf, val, vlen);
            buf[vlen] = 0;
            errno = 0;
            unsigned long long v = strtoull(buf, &end, 10);
            if (errno || *end) {
                snprintf(err, errlen, "--simulate: '%.*s': the seed is a decimal number below 2^64", (int)len, p);
                return -1;
            }
            if (*seeded) {
                snprintf(err, errlen, "--simulate: 'seed' given twice");
                return -1;
            }
            *seeded = 1;
            s->seed = v;
        } else {
            long ppm = probability(val, vlen);
            if (ppm < 0) {
                snprintf(err, errlen,
                         "--simulate: '%.*s': not a probability (a percentage from 0%% to 100%%, as 20%% or 2.5%%, "
                         "or a fraction from 0 to 1, as 0.2)",
                         (int)len, p);
                return -1;
            }
            if (given[k]) {
                snprintf(err, errlen, "--simulate: '%s' given twice", names[k]);
                return -1;
            }
            given[k] = 1;
            *fields[k] = (uint32_t)ppm;
        }
        if (!p[len])
            break;
        p += len + 1;
    }
    if (!given[0] && !given[1] && !given[2] && !s->drop.type && !s->twice.type) {
        snprintf(err, errlen, "--simulate: '%s' simulates nothing: give loss=, dup=, reorder=, drop= or double=",
                 spec);
        return -1;
    }
    s->drop.seen = s->twice.seen = 0;
    simulate_seed(s, s->seed);
    return 0;
}

int simulate_check_role(const simulate *s, int master, char *err, size_t errlen)
{
    /* what each receives: the slave the master's requests, acks and pings */
    static const uint8_t to_slave[] = {DG_PING, DG_JOB, DG_RESULT_ACK, DG_CANCEL};
    const sim_target *t[2] = {&s->drop, &s->twice};
    static const char *const names[2] = {"drop", "double"};
    for (int k = 0; k < 2; k++) {
        if (!t[k]->type)
            continue;
        int slave_gets = memchr(to_slave, t[k]->type, sizeof to_slave) != NULL;
        if (slave_gets == !master)
            continue;
        snprintf(err, errlen,
                 "--simulate: '%s=%s': a %s never receives %s (it sends it): give it to the %s's --simulate", names[k],
                 dgram_type_name(t[k]->type), master ? "master" : "slave", dgram_type_name(t[k]->type),
                 master ? "slave" : "master");
        return -1;
    }
    return 0;
}

void simulate_seed(simulate *s, uint64_t seed)
{
    s->seed = s->rng = seed;
}

static void percent(char *out, size_t n, const char *name, uint32_t ppm)
{
    snprintf(out, n, "%s=%g%%", name, ppm / 10000.0);
}

static void target(char *out, size_t n, const char *name, const sim_target *t)
{
    if (t->type)
        snprintf(out, n, " %s=%s:%" PRIu32, name, dgram_type_name(t->type), t->nth);
    else
        out[0] = 0;
}

void simulate_describe(const simulate *s, char *out, size_t n)
{
    char a[32], b[32], c[32], d[48], e[48];
    percent(a, sizeof a, "loss", s->loss);
    percent(b, sizeof b, "dup", s->dup);
    percent(c, sizeof c, "reorder", s->reorder);
    target(d, sizeof d, "drop", &s->drop);
    target(e, sizeof e, "double", &s->twice);
    snprintf(out, n, "%s %s %s%s%s (seed %" PRIu64 ")", a, b, c, d, e, s->seed);
}

uint8_t simulate_type_of(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] == (DGRAM_MAGIC >> 8) && p[1] == (DGRAM_MAGIC & 0xff) ? p[3] : 0;
}

/* The datagram of type type is the one t names. */
static int targeted(sim_target *t, uint8_t type)
{
    return t->type && type == t->type && ++t->seen == t->nth;
}

int simulate_fate(simulate *s, uint8_t type, int *hold)
{
    int lost = chance(s, s->loss), twice = chance(s, s->dup), late = chance(s, s->reorder);
    lost |= targeted(&s->drop, type);
    twice |= targeted(&s->twice, type);
    s->received++;
    *hold = 0;
    if (lost) {
        s->dropped++;
        return 0;
    }
    if (twice)
        s->duplicated++;
    *hold = late;
    return twice ? 2 : 1;
}

int simulate_hold(simulate *s, const uint8_t *p, size_t n, const net_addr *from, int copies, uint64_t now_us)
{
    if (s->nheld == SIM_HOLD_MAX || n > sizeof s->held[0].p)
        return 0;
    sim_held *h = &s->held[s->nheld++];
    memcpy(h->p, p, n);
    h->n = n;
    h->from = *from;
    h->copies = copies;
    h->due_us = now_us + SIM_HOLD_MIN_US + next_u64(s) % (SIM_HOLD_SPAN_US + 1);
    s->reordered++;
    return 1;
}

int simulate_pop(simulate *s, uint64_t now_us, int all, uint8_t *p, size_t *n, net_addr *from, int *copies)
{
    unsigned pick = s->nheld;
    for (unsigned i = 0; i < s->nheld; i++)
        if ((all || s->held[i].due_us <= now_us) && (pick == s->nheld || (!all && s->held[i].due_us < s->held[pick].due_us)))
            pick = i;
    if (pick == s->nheld)
        return 0;
    sim_held *h = &s->held[pick];
    memcpy(p, h->p, h->n);
    *n = h->n;
    *from = h->from;
    *copies = h->copies;
    memmove(h, h + 1, (s->nheld - pick - 1) * sizeof *h);
    s->nheld--;
    return 1;
}

uint64_t simulate_next_us(const simulate *s)
{
    uint64_t next = 0;
    for (unsigned i = 0; i < s->nheld; i++)
        if (!next || s->held[i].due_us < next)
            next = s->held[i].due_us;
    return next;
}
