/*
 * chacha20poly1305.h - ChaCha20, Poly1305 and their AEAD (RFC 8439),
 * written here from the RFC so the programs need no crypto library.
 * Issue 13's primitives: not on the wire yet (doc/security.md).
 * Checked against RFC 8439's vectors and Wycheproof's in tests/unit_crypto.c.
 *
 * Constant time: ChaCha20 is add/rotate/xor; Poly1305 uses 44-bit limbs
 * and 64x64->128 multiplies where the compiler has unsigned __int128, else
 * 26-bit limbs and 32x32->64 multiplies (-DPOLY1305_26BIT forces those),
 * with no branch or index on secret data; the tag check compares all 16
 * bytes whatever differs.
 *
 * Speed: ChaCha20 takes sixteen blocks at a time in AVX-512's 512-bit
 * registers when the CPU has them, eight with AVX2 (chosen at run time;
 * chacha20_avx2 narrows it; AVX-512VL's rotation in its rounds where there
 * is one), four with GCC's vector extension otherwise, one for the rest;
 * Poly1305 takes texts of 1024 bytes or more eight blocks at a time with
 * AVX-512, of 512 bytes or more four at a time with AVX2 (26-bit limbs,
 * one block in each 64-bit lane, h * r^8 or r^4 per step), two at a time
 * in 44-bit limbs otherwise. With AVX-512, aead_seal of 2 KB or more takes
 * both in one pass (aead_open cannot: it checks the tag before it
 * deciphers).
 */
#ifndef CHACHA20POLY1305_H
#define CHACHA20POLY1305_H

#include <stddef.h>
#include <stdint.h>

#define CHACHA20_KEY_LEN 32
#define CHACHA20_NONCE_LEN 12
#define CHACHA20_BLOCK_LEN 64
#define POLY1305_KEY_LEN 32
#define POLY1305_TAG_LEN 16
#define AEAD_KEY_LEN CHACHA20_KEY_LEN
#define AEAD_NONCE_LEN CHACHA20_NONCE_LEN
#define AEAD_TAG_LEN POLY1305_TAG_LEN
/* The 32-bit block counter starts at 1 for the AEAD's text (block 0 makes
 * the Poly1305 key): at most 2^32 - 1 blocks, 2^38 - 64 bytes. */
#define AEAD_MAX_TEXT ((((uint64_t)1 << 32) - 1) * CHACHA20_BLOCK_LEN)

/* The quarter round on the state's words a, b, c, d (2.1, 2.2): the
 * block function's step, public for the RFC's test vectors. */
void chacha20_quarter_round(uint32_t s[16], int a, int b, int c, int d);
/* The block function (RFC 8439 2.3): 64 bytes of keystream. */
void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter, const uint8_t nonce[CHACHA20_NONCE_LEN],
                    uint8_t out[CHACHA20_BLOCK_LEN]);
/* Encryption (2.4): out = in ^ keystream from block `counter` on; out may
 * be in. -1 (nothing written) if the counter would pass 2^32 - 1. */
int chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter, const uint8_t nonce[CHACHA20_NONCE_LEN],
                 const uint8_t *in, size_t n, uint8_t *out);

/* Poly1305 (2.5), incremental: init with the one-time key, update with
 * any pieces, final writes the tag and clears the state. */
typedef struct {
    uint32_t r[5], h[5], pad[4]; /* 26-bit limbs (r, h) */
    uint64_t r44[3], h44[3];     /* or 44, 44, 42-bit limbs */
    uint64_t rr44[3];            /* and r^2 (two blocks at a time) */
    uint32_t pw[5][4];           /* AVX2: limb i of r^4, r^3, r^2, r in 26 bits */
    uint32_t pw8[5][8];          /* AVX-512: limb i of r^8 .. r in 26 bits */
    int pw_ready, pw8_ready;
    uint8_t buf[16];
    size_t used; /* bytes waiting in buf */
} poly1305_ctx;

void poly1305_init(poly1305_ctx *c, const uint8_t key[POLY1305_KEY_LEN]);
void poly1305_update(poly1305_ctx *c, const void *data, size_t n);
void poly1305_final(poly1305_ctx *c, uint8_t tag[POLY1305_TAG_LEN]);
void poly1305(const uint8_t key[POLY1305_KEY_LEN], const void *data, size_t n, uint8_t tag[POLY1305_TAG_LEN]);
/* The one-time key of a (key, nonce) (2.6): ChaCha20 block 0's first half. */
void poly1305_key_gen(const uint8_t key[CHACHA20_KEY_LEN], const uint8_t nonce[CHACHA20_NONCE_LEN],
                      uint8_t out[POLY1305_KEY_LEN]);

/* The AEAD (2.8). A (key, nonce) pair must never seal twice. out may be
 * plain (in place; no other overlap). -1 (nothing written) if
 * n > AEAD_MAX_TEXT. */
int aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *plain, size_t n, uint8_t *out, uint8_t tag[AEAD_TAG_LEN]);
/* 0 and the plaintext in out (which may be cipher), or -1 when the tag is
 * wrong (compared in constant time) or n > AEAD_MAX_TEXT: then nothing was
 * decrypted, and out's n bytes are zeroed after a wrong tag (unless out is
 * cipher, which is left as it was; nothing is touched past the limit). */
int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *cipher, size_t n, const uint8_t tag[AEAD_TAG_LEN], uint8_t *out);

/* The widest vector paths ChaCha20 and Poly1305 may take: 3 (the
 * default) AVX-512's 512-bit registers, 2 AVX2 and AVX-512VL's rotation,
 * 1 AVX2 alone, 0 neither (the tests run every vector on each). Returns the level taken now, given the
 * CPU and the build (0 without AVX2). Not thread-safe: set it before any
 * use. */
int chacha20_avx2(int allow);

/* Zeroes n bytes in a way the compiler may not drop (key material). */
void crypto_wipe(void *p, size_t n);

#endif
