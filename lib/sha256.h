/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), written here
 * so the programs need no crypto library. Checked against the FIPS and
 * RFC 4231 test vectors in tests/unit_auth.c.
 */
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_BLOCK 64

typedef struct {
    uint32_t h[8];
    uint64_t total;        /* bytes hashed so far */
    uint8_t block[SHA256_BLOCK];
    size_t used;           /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_LEN]);
void sha256(const void *data, size_t n, uint8_t out[SHA256_LEN]);

/* HMAC with a key already reduced to its two padded blocks, so a
 * per-datagram MAC costs no key hashing. */
typedef struct {
    sha256_ctx inner, outer; /* states after hashing key^ipad, key^opad */
} hmac_key;

void hmac_key_init(hmac_key *k, const void *key, size_t keylen);
void hmac_sha256(const hmac_key *k, const void *data, size_t n, uint8_t out[SHA256_LEN]);
/* The same over two pieces (a header and a body) without copying. */
void hmac_sha256_2(const hmac_key *k, const void *a, size_t na, const void *b, size_t nb, uint8_t out[SHA256_LEN]);

/* Compares in time independent of where the bytes differ (a MAC check
 * must not leak how much of a forged tag was right). 1 if equal. */
int equal_const_time(const void *a, const void *b, size_t n);

#endif
