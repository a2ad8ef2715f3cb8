/*
 * hkdf.c - HKDF-SHA256, RFC 5869 section 2.
 */
#include "hkdf.h"

#include <string.h>

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

void hkdf_extract(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen, uint8_t prk[SHA256_LEN])
{
    static const uint8_t none[1];
    hmac_key k;
    hmac_key_init(&k, saltlen ? salt : none, saltlen);
    hmac_sha256(&k, ikmlen ? ikm : none, ikmlen, prk);
    wipe(&k, sizeof k);
}

int hkdf_expand(const void *prk, size_t prklen, const void *info, size_t infolen, uint8_t *out, size_t len)
{
    static const uint8_t none[1];
    hmac_key k;
    uint8_t t[SHA256_LEN], inner[SHA256_LEN];
    size_t tlen = 0, done = 0;
    if (len > HKDF_MAX_OUT)
        return -1;
    hmac_key_init(&k, prklen ? prk : none, prklen);
    for (uint8_t i = 1; done < len; i++) {
        sha256_ctx c = k.inner;
        sha256_update(&c, t, tlen);
        sha256_update(&c, infolen ? info : none, infolen);
        sha256_update(&c, &i, 1);
        sha256_final(&c, inner);
        c = k.outer;
        sha256_update(&c, inner, SHA256_LEN);
        sha256_final(&c, t);
        tlen = SHA256_LEN;
        size_t take = len - done < SHA256_LEN ? len - done : SHA256_LEN;
        memcpy(out + done, t, take);
        done += take;
        wipe(&c, sizeof c);
    }
    wipe(&k, sizeof k);
    wipe(t, sizeof t);
    wipe(inner, sizeof inner);
    return 0;
}

int hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen, const void *info, size_t infolen,
                uint8_t *out, size_t len)
{
    uint8_t prk[SHA256_LEN];
    if (len > HKDF_MAX_OUT)
        return -1;
    hkdf_extract(salt, saltlen, ikm, ikmlen, prk);
    int r = hkdf_expand(prk, sizeof prk, info, infolen, out, len);
    wipe(prk, sizeof prk);
    return r;
}
