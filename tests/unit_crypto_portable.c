/*
 * unit_crypto_portable.c - the portable paths of lib/x25519.c and
 * lib/chacha20poly1305.c (what a compiler without 128-bit integers or
 * vector extensions builds: one ChaCha20 block at a time, Poly1305 in
 * 26-bit limbs) against the fast ones the programs use here (AVX2 or four
 * blocks, 44-bit limbs):
 * the same outputs on RFC vectors and on random inputs. Each file is
 * compiled once more in here, under other names, with its portable path
 * forced.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define X25519_16BIT_LIMBS 1
#define x25519 x25519_portable
#define x25519_base x25519_base_portable
#include "../lib/x25519.c"
#undef x25519
#undef x25519_base

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

#undef X25519_H /* again, under the real names */
#include "tap.h"
#include "x25519.h"
/* chacha20poly1305.h's typedef cannot be seen twice: its two functions used
 * here, under their real names, as it declares them */
int aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *plain, size_t n, uint8_t *out, uint8_t tag[AEAD_TAG_LEN]);
int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *cipher, size_t n, const uint8_t tag[AEAD_TAG_LEN], uint8_t *out);
void poly1305(const uint8_t key[POLY1305_KEY_LEN], const void *data, size_t n, uint8_t tag[POLY1305_TAG_LEN]);
int chacha20_avx2(int allow);

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* fixed seed: a failure is reproducible */
static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        p[i] = (uint8_t)rng;
    }
}

static void test_x25519(void)
{
    /* RFC 7748 5.2, the first vector */
    static const uint8_t k[32] = {0xa5, 0x46, 0xe3, 0x6b, 0xf0, 0x52, 0x7c, 0x9d, 0x3b, 0x16, 0x15,
                                  0x4b, 0x82, 0x46, 0x5e, 0xdd, 0x62, 0x14, 0x4c, 0x0a, 0xc1, 0xfc,
                                  0x5a, 0x18, 0x50, 0x6a, 0x22, 0x44, 0xba, 0x44, 0x9a, 0xc4};
    static const uint8_t u[32] = {0xe6, 0xdb, 0x68, 0x67, 0x58, 0x30, 0x30, 0xdb, 0x35, 0x94, 0xc1,
                                  0xa4, 0x24, 0xb1, 0x5f, 0x7c, 0x72, 0x66, 0x24, 0xec, 0x26, 0xb3,
                                  0x35, 0x3b, 0x10, 0xa9, 0x03, 0xa6, 0xd0, 0xab, 0x1c, 0x4c};
    static const uint8_t want[32] = {0xc3, 0xda, 0x55, 0x37, 0x9d, 0xe9, 0xc6, 0x90, 0x8e, 0x94, 0xea,
                                     0x4d, 0xf2, 0x8d, 0x08, 0x4f, 0x32, 0xec, 0xcf, 0x03, 0x49, 0x1c,
                                     0x71, 0xf7, 0x54, 0xb4, 0x07, 0x55, 0x77, 0xa2, 0x85, 0x52};
    uint8_t a[32], b[32];
    ok(x25519_portable(a, k, u) == 0 && !memcmp(a, want, 32), "16-bit limbs: RFC 7748 5.2");
    ok(x25519(b, k, u) == 0 && !memcmp(b, want, 32), "51-bit limbs: RFC 7748 5.2");
    int differ = 0;
    for (int i = 0; i < 300; i++) {
        uint8_t s[32], p[32];
        fill(s, 32);
        fill(p, 32);
        if (i % 3 == 0)
            p[31] |= 0x80; /* the top bit, ignored */
        if (i % 5 == 0)
            memset(p + 1, 0xff, 31), p[0] = (uint8_t)(0xed + i % 19); /* u >= p: taken mod p */
        int ra = x25519_portable(a, s, p), rb = x25519(b, s, p);
        differ += ra != rb || memcmp(a, b, 32) != 0;
    }
    is_int(differ, 0, "300 random (scalar, u), non-canonical u included: both give the same bytes");
    uint8_t s[32], pa[32], pb[32];
    fill(s, 32);
    x25519_base_portable(pa, s);
    x25519_base(pb, s);
    ok(!memcmp(pa, pb, 32), "the same public key from both");
    uint8_t zero[32] = {0};
    ok(x25519_portable(a, s, zero) < 0 && x25519(b, s, zero) < 0, "u = 0 refused by both");
}

static void test_chacha(int avx2)
{
    int differ = 0, on = chacha20_avx2(avx2);
    static const char *const paths[] = {"four blocks and 44-bit limbs", "AVX2", "AVX2 and AVX-512VL", "AVX-512"};
    if (on != avx2) {
        printf("# not on this CPU or build: %s\n", paths[avx2]);
        return;
    }
    for (int i = 0; i < 200; i++) {
        static uint8_t text[5000], c1[5000], c2[5000], back[5000];
        uint8_t key[32], nonce[12], ad[40], t1[16], t2[16];
        size_t n = (size_t)(i * 37 % 5000), adn = (size_t)(i % 40);
        fill(key, 32);
        fill(nonce, 12);
        fill(ad, adn);
        fill(text, n);
        portable_aead_seal(key, nonce, ad, adn, text, n, c1, t1);
        aead_seal(key, nonce, ad, adn, text, n, c2, t2);
        differ += memcmp(c1, c2, n) != 0 || memcmp(t1, t2, 16) != 0;
        differ += aead_open(key, nonce, ad, adn, c1, n, t1, back) != 0 || memcmp(back, text, n) != 0;
    }
    is_int(differ, 0, "200 AEAD seals of 0 to 4,995 bytes: one-block ChaCha20 and 26-bit Poly1305 agree with %s, and open",
           paths[on]);
}

/* Poly1305's 26-bit limbs against its 44-bit ones: random keys and texts,
 * and the corners of the arithmetic (r at its clamp's largest, texts of
 * 0xff that keep h near 2^130, s of all ones that carries out of 2^128,
 * lengths of every residue mod 16). */
static void test_poly1305(void)
{
    int differ = 0, cases = 0;
    static uint8_t text[4096];
    for (int i = 0; i < 400; i++) {
        uint8_t key[32], t1[16], t2[16];
        size_t n = (size_t)(i * 53 % 4096);
        fill(key, 32);
        fill(text, n);
        if (i % 4 == 1)
            memset(key, 0xff, 16); /* r clamped to its largest */
        if (i % 4 == 2)
            memset(key + 16, 0xff, 16); /* s: the final addition carries */
        if (i % 3 == 0)
            memset(text, 0xff, n); /* h near p, the reductions' edge */
        if (i % 7 == 0)
            memset(key, 0xff, 32), memset(text, 0xff, n);
        portable_poly1305(key, text, n, t1);
        poly1305(key, text, n, t2);
        differ += memcmp(t1, t2, 16) != 0;
        cases++;
    }
    /* h + s near 2^128 and h just under, at and over p: r = 1 makes h the
     * text's blocks summed (each with its 2^128); one block of 2^128 - 1
     * with s up to all ones, and two blocks that bring h to p - 1, p, p + 1 */
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < 8; v++) {
            uint8_t key[32] = {1}, t1[16], t2[16], m[32];
            memset(key + 16, v & 1 ? 0xff : 0, 16);
            key[16] = (uint8_t)(0xfb + v);
            memset(m, 0xff, 32);
            m[16] = (uint8_t)(0xfb + k); /* (2^128 - 1) + (2^128 - 5 + k) + 2 * 2^128 = p - 1 + k */
            portable_poly1305(key, m, 16 + 16 * (v / 4), t1);
            poly1305(key, m, 16 + 16 * (v / 4), t2);
            differ += memcmp(t1, t2, 16) != 0;
            cases++;
        }
    is_int(differ, 0, "%d Poly1305 tags (random, r and s at their largest, h around p): 26-bit and 44-bit limbs agree",
           cases);
}

int main(void)
{
    test_x25519();
    test_chacha(3);
    test_chacha(2);
    test_chacha(1);
    test_chacha(0);
    chacha20_avx2(3);
    test_poly1305();
    return done_testing();
}
