/*
 * hkdf.h - HKDF-SHA256 (RFC 5869) on lib/sha256.h's HMAC: issue 13's key
 * schedule (an X25519 secret mixed with the pre-shared key); not on the
 * wire yet (doc/security.md). Checked in tests/unit_crypto.c.
 */
#ifndef HKDF_H
#define HKDF_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

#define HKDF_MAX_OUT (255 * SHA256_LEN)

/* PRK = HMAC(salt, IKM); an empty salt is HashLen zeros (the same HMAC key). */
void hkdf_extract(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen, uint8_t prk[SHA256_LEN]);
/* OKM = T(1) || T(2) ... cut at len, T(i) = HMAC(PRK, T(i-1) || info || i).
 * -1 (nothing written) if len > HKDF_MAX_OUT, else 0. */
int hkdf_expand(const void *prk, size_t prklen, const void *info, size_t infolen, uint8_t *out, size_t len);
/* Both: extract then expand. */
int hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen, const void *info, size_t infolen,
                uint8_t *out, size_t len);

#endif
