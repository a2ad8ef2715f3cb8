/*
 * unit_crypto_diff.c - a differential test of lib/chacha20poly1305.c's
 * AEAD: every vector path (AVX-512's sixteen blocks, eight Poly1305 lanes
 * and the one-pass seal of 2 KB or more; AVX2 with AVX-512VL's rotation;
 * AVX2; four blocks) against the portable one (one ChaCha20 block at a
 * time, Poly1305 in 26-bit limbs, compiled once more in here under other
 * names), at every length from 0 to 5,000 bytes and at random lengths up
 * to 70,000, with random misalignments of text, output and AD, in place
 * and out of place: each sealed on one path and opened on every other;
 * one bit flipped in the tag, the text or the AD refused on every path,
 * at every length; guard bytes around every output, never written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHACHA20_SCALAR 1
#define POLY1305_26BIT 1
#define chacha20_quarter_round portable_quarter_round
#define chacha20_block portable_block
#define chacha20_xor portable_xor
#define poly1305_init portable_poly1305_init
#define poly1305_update portable_poly1305_update
#define poly1305_final portable_poly1305_final
#define poly1305 portable_poly1305
#define poly1305_key_gen portable_poly1305_key_gen
#define aead_seal portable_aead_seal
#define aead_open portable_aead_open
#define crypto_wipe portable_wipe
#define chacha20_avx2 portable_avx2
#include "../lib/chacha20poly1305.c"
#undef chacha20_quarter_round
#undef chacha20_block
#undef chacha20_xor
#undef poly1305_init
#undef poly1305_update
#undef poly1305_final
#undef poly1305
#undef poly1305_key_gen
#undef aead_seal
#undef aead_open
#undef crypto_wipe
#undef chacha20_avx2

#include "tap.h"
/* chacha20poly1305.h's typedef cannot be seen twice: its functions used
 * here, under their real names, as it declares them */
int aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *plain, size_t n, uint8_t *out, uint8_t tag[AEAD_TAG_LEN]);
int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *cipher, size_t n, const uint8_t tag[AEAD_TAG_LEN], uint8_t *out);
int chacha20_avx2(int allow);

#define MAX_TEXT 70000
#define MAX_AD 300
#define SLACK 64  /* misalignments 0..63 */
#define GUARD 64  /* bytes after each output that must stay as they were */
#define NLEVELS 4 /* -1: the portable path; 0..3 the real file's levels */
static const char *const paths[] = {"four blocks", "AVX2", "AVX2 and AVX-512VL", "AVX-512"};

static uint64_t rng = 0x2545f4914f6cdd1dull; /* fixed seed: a failure is reproducible */
static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next();
}

static int levels[NLEVELS], nlevels; /* the real file's levels this CPU and build have */
static uint8_t *text, *want_c, *work, *back, *adbuf;
static long failures;

static void fail(const char *what, size_t n, size_t adn, int seal_level, int open_level, unsigned mis)
{
    if (failures++ < 10)
        printf("# %s: n %zu, ad %zu, sealed at %d, opened at %d, misalignment %u\n", what, n, adn, seal_level,
               open_level, mis);
}

static int guard_intact(const uint8_t *p)
{
    for (int i = 0; i < GUARD; i++)
        if (p[i] != 0xa5)
            return 0;
    return 1;
}

/* One case: n bytes of text, adn of AD. The portable seal is the
 * reference; each level seals (in place or not, misaligned) to the same
 * bytes, and what it sealed opens on every level; then one flipped bit
 * is refused on every level. */
static void one_case(size_t n, size_t adn, int flips)
{
    uint8_t key[32], nonce[12], want_t[16], tag[16];
    fill(key, 32);
    fill(nonce, 12);
    unsigned ad_mis = (unsigned)(next() % SLACK), text_mis = (unsigned)(next() % SLACK);
    uint8_t *ad = adbuf + ad_mis, *plain = text + text_mis;
    fill(ad, adn);
    fill(plain, n);
    portable_aead_seal(key, nonce, ad, adn, plain, n, want_c, want_t);
    for (int s = 0; s < nlevels; s++) {
        chacha20_avx2(levels[s]);
        int in_place = (int)(next() & 1);
        unsigned out_mis = (unsigned)(next() % SLACK);
        uint8_t *out = work + out_mis;
        memset(out + n, 0xa5, GUARD);
        const uint8_t *src = plain;
        if (in_place) {
            memcpy(out, plain, n);
            src = out;
        }
        if (aead_seal(key, nonce, ad, adn, src, n, out, tag) != 0 || memcmp(out, want_c, n) != 0 ||
            memcmp(tag, want_t, 16) != 0)
            fail(in_place ? "seal in place differs" : "seal differs", n, adn, levels[s], -1, out_mis);
        if (!guard_intact(out + n))
            fail("seal wrote past its output", n, adn, levels[s], -1, out_mis);
        /* out now holds what level s sealed: open it on every level */
        for (int o = 0; o < nlevels; o++) {
            chacha20_avx2(levels[o]);
            unsigned back_mis = (unsigned)(next() % SLACK);
            uint8_t *dst = back + back_mis;
            memset(dst + n, 0xa5, GUARD);
            if (aead_open(key, nonce, ad, adn, out, n, tag, dst) != 0 || memcmp(dst, plain, n) != 0)
                fail("open differs", n, adn, levels[s], levels[o], back_mis);
            if (!guard_intact(dst + n))
                fail("open wrote past its output", n, adn, levels[s], levels[o], back_mis);
        }
        chacha20_avx2(levels[s]);
        if (!in_place || s != nlevels - 1)
            continue;
        /* and in place, on the last level sealed */
        memcpy(back, out, n);
        if (aead_open(key, nonce, ad, adn, back, n, tag, back) != 0 || memcmp(back, plain, n) != 0)
            fail("open in place differs", n, adn, levels[s], levels[s], 0);
    }
    portable_aead_open(key, nonce, ad, adn, want_c, n, want_t, back); /* the reference opens its own */
    if (memcmp(back, plain, n) != 0)
        fail("the portable open differs", n, adn, -1, -1, 0);
    for (int f = 0; f < flips; f++) {
        /* one bit of the tag, the text or the AD flipped: refused on every
         * level, the output zeroed */
        int where = (int)(next() % 3);
        if (where == 1 && n == 0)
            where = 0;
        if (where == 2 && adn == 0)
            where = 0;
        uint8_t t2[16];
        memcpy(t2, want_t, 16);
        size_t at = where == 0 ? next() % 16 : where == 1 ? next() % n : next() % adn;
        uint8_t bit = (uint8_t)(1u << (next() % 8));
        uint8_t *flipped = where == 0 ? t2 + at : where == 1 ? want_c + at : ad + at;
        *flipped ^= bit;
        for (int o = 0; o < nlevels; o++) {
            chacha20_avx2(levels[o]);
            memset(back, 0x5a, n + GUARD);
            if (aead_open(key, nonce, ad, adn, want_c, n, t2, back) == 0)
                fail(where == 0 ? "a flipped tag bit opened" : where == 1 ? "a flipped text bit opened"
                                                                         : "a flipped AD bit opened",
                     n, adn, -1, levels[o], 0);
            for (size_t i = 0; i < n; i++)
                if (back[i]) {
                    fail("a refused open left bytes in its output", n, adn, -1, levels[o], 0);
                    break;
                }
            if (back[n] != 0x5a)
                fail("a refused open wrote past its output", n, adn, -1, levels[o], 0);
        }
        *flipped ^= bit;
    }
}

int main(void)
{
    text = malloc(MAX_TEXT + SLACK);
    want_c = malloc(MAX_TEXT);
    work = malloc(MAX_TEXT + SLACK + GUARD);
    back = malloc(MAX_TEXT + SLACK + GUARD);
    adbuf = malloc(MAX_AD + SLACK);
    if (!text || !want_c || !work || !back || !adbuf)
        return 1;
    for (int l = 3; l >= 0; l--)
        if (chacha20_avx2(l) == l)
            levels[nlevels++] = l;
        else
            printf("# not on this CPU or build: %s\n", paths[l]);
    printf("# levels run: %d (highest %s)\n", nlevels, paths[levels[0]]);
    ok(nlevels >= 1, "at least the four-block path");

    long before = failures;
    for (size_t n = 0; n <= 5000; n++)
        one_case(n, (size_t)(next() % 80), 1);
    is_int(failures - before, 0, "every length 0..5,000: sealed alike on every path (random AD, misaligned, in place "
           "or not), opened on every other, a flipped bit refused on every path");

    before = failures;
    for (int i = 0; i < 300; i++)
        one_case((size_t)(next() % (MAX_TEXT + 1)), (size_t)(next() % (MAX_AD + 1)), 2);
    is_int(failures - before, 0, "300 random lengths up to 70,000 with AD up to 300 bytes: the same");

    /* the edges of each path: the one-pass seal's 2 KB and its kilobytes,
     * sixteen and eight blocks, Poly1305's eight lanes of 16 bytes */
    static const size_t edges[] = {1023, 1024, 1025, 2047, 2048, 2049, 3071, 3072, 3073, 4095, 4096, 4097,
                                   8191, 8192, 8193, 16383, 16384, 16385, 65535, 65536, 65537, 69999, 70000};
    before = failures;
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++)
        for (size_t adn = 0; adn <= 33; adn += 1)
            one_case(edges[e], adn, 3);
    is_int(failures - before, 0, "the paths' edges (1 KB, 2 KB, sixteen and eight blocks, 64 KB) with AD of 0 to 33 "
           "bytes: the same");
    chacha20_avx2(3);
    free(text), free(want_c), free(work), free(back), free(adbuf);
    return done_testing();
}
