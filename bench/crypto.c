/*
 * bench/crypto.c - speed of issue 13's primitives alone (make bench-crypto):
 * aead_seal on 1 MiB, 60,000-byte (a loopback datagram's fragment) and
 * 1400-byte messages (MB/s, and TSC cycles per byte on x86-64), Poly1305
 * and ChaCha20 alone on 1 MiB, each with the AVX2 paths and without them
 * (when the CPU has them), X25519 per second. Times are the process's CPU
 * time (the machine is shared: time spent descheduled is not counted), the
 * cycles that time at the TSC's rate. A benchmark, not a test: it prints
 * figures and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#include "chacha20poly1305.h"
#include "x25519.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The TSC's ticks per second, over 0.2 s of wall time. */
static double tsc_hz(void)
{
#ifdef HAVE_TSC
    double t0 = now();
    uint64_t c0 = __rdtsc();
    while (now() - t0 < 0.2)
        ;
    return (double)(__rdtsc() - c0) / (now() - t0);
#else
    return 0;
#endif
}
static double hz;

static volatile uint8_t sink;

enum what { SEAL, POLY, CHACHA };

/* Runs `what` over messages of n bytes for at least `seconds`; the best of
 * three runs (the machine is shared and noisy). */
static void measure(const char *label, enum what what, size_t n, double seconds)
{
    uint8_t *buf = malloc(n ? n : 1), key[32] = {1, 2, 3}, nonce[12] = {0}, tag[16];
    double best = 0, best_cpb = 0;
    memset(buf, 0x5a, n);
    for (int run = 0; run < 3; run++) {
        double t0 = cpu_now(), t;
        uint64_t bytes = 0;
        do {
            for (int i = 0; i < 16; i++) {
                nonce[0]++;
                if (what == SEAL)
                    aead_seal(key, nonce, nonce, 12, buf, n, buf, tag);
                else if (what == POLY)
                    poly1305(key, buf, n, tag);
                else
                    chacha20_xor(key, 1, nonce, buf, n, buf);
                bytes += n;
            }
            t = cpu_now() - t0;
        } while (t < seconds);
        double mbs = (double)bytes / t / 1e6, cpb = t * hz / (double)bytes;
        if (mbs > best)
            best = mbs, best_cpb = cpb;
    }
    sink = tag[0];
#ifdef HAVE_TSC
    printf("%-34s %8.1f MB/s  %6.2f TSC cycles/byte\n", label, best, best_cpb);
#else
    (void)best_cpb;
    printf("%-34s %8.1f MB/s\n", label, best);
#endif
    free(buf);
}

int main(void)
{
    hz = tsc_hz();
    static const char *const paths[] = {"without AVX2 (ChaCha20 four blocks, Poly1305 two at a time in 44-bit limbs):",
                                        "AVX2 alone (ChaCha20 eight blocks, Poly1305 four at a time):",
                                        "AVX2 and AVX-512VL's rotation (ChaCha20 eight blocks, Poly1305 four):",
                                        "AVX-512 (ChaCha20 sixteen blocks, Poly1305 eight at a time):"};
    for (int level = 3; level >= 0; level--) {
        if (chacha20_avx2(level) != level)
            continue; /* not on this CPU */
        printf("%s\n", paths[level]);
        measure("aead_seal, 1 MiB messages", SEAL, 1 << 20, 0.5);
        measure("aead_seal, 60000-byte messages", SEAL, 60000, 0.5);
        measure("aead_seal, 1400-byte messages", SEAL, 1400, 0.5);
        measure("chacha20_xor alone, 1 MiB", CHACHA, 1 << 20, 0.5);
        measure("poly1305 alone, 1 MiB", POLY, 1 << 20, 0.5);
    }
    chacha20_avx2(3);

    uint8_t k[32] = {9, 8, 7}, u[32] = {9}, out[32];
    double best = 0;
    for (int run = 0; run < 3; run++) {
        double t0 = now(), t;
        long ops = 0;
        do {
            for (int i = 0; i < 8; i++, ops++) {
                x25519(out, k, u);
                k[0] ^= out[0];
            }
            t = now() - t0;
        } while (t < 0.5);
        if ((double)ops / t > best)
            best = (double)ops / t;
    }
    sink = out[0];
    printf("%-34s %8.0f per second (%.0f us each)\n", "x25519 (scalar * point)", best, 1e6 / best);
    return 0;
}
