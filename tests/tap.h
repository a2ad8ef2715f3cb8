/* tests/tap.h - minimal TAP output for the C unit tests (run by prove). */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                              \
    do {                                                                           \
        int ok_ = !!(cond);                                                        \
        tap_n++;                                                                   \
        if (!ok_)                                                                  \
            tap_failed++;                                                          \
        printf("%sok %d - ", ok_ ? "" : "not ", tap_n);                            \
        printf(__VA_ARGS__);                                                       \
        printf("\n");                                                              \
        if (!ok_)                                                                  \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
    } while (0)

#define is_int(got, want, ...)                                                     \
    do {                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                   \
        ok(g_ == w_, __VA_ARGS__);                                                 \
        if (g_ != w_)                                                              \
            printf("#   got %lld, expected %lld\n", g_, w_);                       \
    } while (0)

static inline int done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

/* Deterministic PRNG so a failure can be replayed (xorshift64*). */
static unsigned long long tap_rng_state = 88172645463325252ull;
static inline unsigned long long tap_rand(void)
{
    tap_rng_state ^= tap_rng_state >> 12;
    tap_rng_state ^= tap_rng_state << 25;
    tap_rng_state ^= tap_rng_state >> 27;
    return tap_rng_state * 2685821657736338717ull;
}

#endif
