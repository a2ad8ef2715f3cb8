/*
 * x25519.h - X25519 (RFC 7748 section 5), written here from the RFC: the
 * Montgomery ladder with constant-time conditional swaps over GF(2^255-19)
 * in sixteen 16-bit limbs. Issue 13's ephemeral exchange; not on the wire
 * yet (doc/security.md). Checked in tests/unit_crypto.c.
 */
#ifndef X25519_H
#define X25519_H

#include <stdint.h>

#define X25519_LEN 32

/* out = scalar * point: the scalar is clamped, the point's top bit cleared
 * (non-canonical u taken mod p). -1 when out is all zeros (a low-order
 * point: the caller must refuse the exchange), else 0. */
int x25519(uint8_t out[X25519_LEN], const uint8_t scalar[X25519_LEN], const uint8_t point[X25519_LEN]);
/* The public key of a private one: scalar * 9. */
void x25519_base(uint8_t out[X25519_LEN], const uint8_t scalar[X25519_LEN]);

#endif
