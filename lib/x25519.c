/*
 * x25519.c - X25519 from RFC 7748 section 5.
 *
 * A field element is sixteen signed 64-bit limbs of nominally 16 bits,
 * value = sum l[i] * 2^(16 i). Sums and differences are taken limb-wise
 * without carrying; a product folds its high half back with 2^256 = 38
 * (mod p) and carries twice, which leaves every limb within [0, 2^16]
 * (limb 0 up to 2^16 + 38): the bounds below keep every intermediate under
 * 2^62. Nothing branches or indexes on secret data: the ladder swaps with
 * a mask.
 */
#include "x25519.h"

#include <string.h>

#if defined(__SIZEOF_INT128__) && !defined(X25519_16BIT_LIMBS)
/* Five unsigned 64-bit limbs of nominally 51 bits, value = sum l[i] *
 * 2^(51 i); a product of two limbs in 128 bits, the high limbs folded back
 * with 2^255 = 19 (mod p). Products leave every limb under 2^51 + 2^13;
 * sums stay under 2^53, differences (with 2p added) too: every product of
 * the ladder's inputs fits 128 bits. Ten times faster than the 16-bit
 * limbs below, which serve compilers without 128-bit integers
 * (tests/unit_crypto_portable.c checks one against the other). */
typedef uint64_t fe[5];
typedef unsigned __int128 u128;
#define M51 (((uint64_t)1 << 51) - 1)
#define FE_A24 {121665} /* (486662 - 2) / 4 */

static void fe_copy(fe r, const fe a)
{
    memcpy(r, a, sizeof(fe));
}

static void fe_add(fe r, const fe a, const fe b)
{
    for (int i = 0; i < 5; i++)
        r[i] = a[i] + b[i];
}

/* a - b + 2p, limb-wise: b's limbs are a product's (under 2p's) */
static void fe_sub(fe r, const fe a, const fe b)
{
    r[0] = a[0] + 0xfffffffffffdaull - b[0];
    for (int i = 1; i < 5; i++)
        r[i] = a[i] + 0xffffffffffffeull - b[i];
}

static void fe_mul(fe r, const fe a, const fe b)
{
    uint64_t b1 = 19 * b[1], b2 = 19 * b[2], b3 = 19 * b[3], b4 = 19 * b[4];
    u128 t0 = (u128)a[0] * b[0] + (u128)a[1] * b4 + (u128)a[2] * b3 + (u128)a[3] * b2 + (u128)a[4] * b1;
    u128 t1 = (u128)a[0] * b[1] + (u128)a[1] * b[0] + (u128)a[2] * b4 + (u128)a[3] * b3 + (u128)a[4] * b2;
    u128 t2 = (u128)a[0] * b[2] + (u128)a[1] * b[1] + (u128)a[2] * b[0] + (u128)a[3] * b4 + (u128)a[4] * b3;
    u128 t3 = (u128)a[0] * b[3] + (u128)a[1] * b[2] + (u128)a[2] * b[1] + (u128)a[3] * b[0] + (u128)a[4] * b4;
    u128 t4 = (u128)a[0] * b[4] + (u128)a[1] * b[3] + (u128)a[2] * b[2] + (u128)a[3] * b[1] + (u128)a[4] * b[0];
    t1 += (uint64_t)(t0 >> 51);
    t2 += (uint64_t)(t1 >> 51);
    t3 += (uint64_t)(t2 >> 51);
    t4 += (uint64_t)(t3 >> 51);
    uint64_t r0 = ((uint64_t)t0 & M51) + 19 * (uint64_t)(t4 >> 51);
    r[1] = ((uint64_t)t1 & M51) + (r0 >> 51);
    r[0] = r0 & M51;
    r[2] = (uint64_t)t2 & M51;
    r[3] = (uint64_t)t3 & M51;
    r[4] = (uint64_t)t4 & M51;
}

static void fe_sq(fe r, const fe a)
{
    fe_mul(r, a, a);
}

/* Swaps a and b when bit is 1, in time independent of bit. */
static void fe_cswap(fe a, fe b, int64_t bit)
{
    uint64_t mask = 0 - (uint64_t)bit;
    for (int i = 0; i < 5; i++) {
        uint64_t t = mask & (a[i] ^ b[i]);
        a[i] ^= t;
        b[i] ^= t;
    }
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* u from 32 bytes little-endian, the top bit cleared (RFC 7748 5). */
static void fe_unpack(fe r, const uint8_t s[32])
{
    r[0] = le64(s) & M51;
    r[1] = le64(s + 6) >> 3 & M51;
    r[2] = le64(s + 12) >> 6 & M51;
    r[3] = le64(s + 19) >> 1 & M51;
    r[4] = le64(s + 24) >> 12 & M51;
}

/* The canonical encoding: carried under 2^51 per limb, then p subtracted
 * if it fits (q = 1 when a + 19 reaches 2^255), without a branch. */
static void fe_pack(uint8_t s[32], const fe a)
{
    uint64_t t[5];
    fe_copy(t, a);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 4; i++) {
            t[i + 1] += t[i] >> 51;
            t[i] &= M51;
        }
        t[0] += 19 * (t[4] >> 51);
        t[4] &= M51;
    }
    uint64_t q = (t[0] + 19) >> 51;
    for (int i = 1; i < 5; i++)
        q = (t[i] + q) >> 51;
    t[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        t[i + 1] += t[i] >> 51;
        t[i] &= M51;
    }
    t[4] &= M51;
    uint64_t w[4] = {t[0] | t[1] << 51, t[1] >> 13 | t[2] << 38, t[2] >> 26 | t[3] << 25, t[3] >> 39 | t[4] << 12};
    for (int i = 0; i < 32; i++)
        s[i] = (uint8_t)(w[i / 8] >> (8 * (i % 8)));
}
#else
typedef int64_t fe[16];
#define FE_A24 {0xdb41, 1} /* 121665 = (486662 - 2) / 4 */

static void fe_copy(fe r, const fe a)
{
    memcpy(r, a, sizeof(fe));
}

static void fe_add(fe r, const fe a, const fe b)
{
    for (int i = 0; i < 16; i++)
        r[i] = a[i] + b[i];
}

static void fe_sub(fe r, const fe a, const fe b)
{
    for (int i = 0; i < 16; i++)
        r[i] = a[i] - b[i];
}

/* One carry pass: limb i keeps its low 16 bits (as a floor, so a negative
 * limb lends), the rest goes up; limb 15's carry wraps as 38 * c. The
 * carry is a division (floor by shifting a biased value), not a shift of a
 * negative number. */
static void fe_carry(fe r)
{
    for (int i = 0; i < 16; i++) {
        int64_t c = (r[i] + ((int64_t)1 << 62)) / 65536 - ((int64_t)1 << 46); /* floor(r[i] / 2^16) */
        r[i] -= c * 65536;
        if (i < 15)
            r[i + 1] += c;
        else
            r[0] += 38 * c;
    }
}

static void fe_mul(fe r, const fe a, const fe b)
{
    int64_t t[31] = {0};
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            t[i + j] += a[i] * b[j];
    for (int i = 0; i < 15; i++)
        t[i] += 38 * t[i + 16];
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
    fe_carry(r);
    fe_carry(r);
}

static void fe_sq(fe r, const fe a)
{
    fe_mul(r, a, a);
}

/* Swaps a and b when bit is 1, in time independent of bit. */
static void fe_cswap(fe a, fe b, int64_t bit)
{
    int64_t mask = -bit;
    for (int i = 0; i < 16; i++) {
        int64_t t = mask & (a[i] ^ b[i]);
        a[i] ^= t;
        b[i] ^= t;
    }
}

/* u from 32 bytes little-endian, the top bit cleared (RFC 7748 5). */
static void fe_unpack(fe r, const uint8_t s[32])
{
    for (int i = 0; i < 16; i++)
        r[i] = s[2 * i] | (int64_t)s[2 * i + 1] << 8;
    r[15] &= 0x7fff;
}

/* The canonical encoding: carried, then p subtracted while it fits (at
 * most twice), by masks. */
static void fe_pack(uint8_t s[32], const fe a)
{
    fe t, m;
    fe_copy(t, a);
    fe_carry(t);
    fe_carry(t);
    fe_carry(t);
    for (int k = 0; k < 2; k++) {
        m[0] = t[0] - 0xffed;
        for (int i = 1; i < 15; i++) {
            m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1);
            m[i - 1] &= 0xffff;
        }
        m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1);
        m[14] &= 0xffff;
        int64_t borrow = (m[15] >> 16) & 1;
        m[15] &= 0xffff;
        fe_cswap(t, m, 1 - borrow);
    }
    for (int i = 0; i < 16; i++) {
        s[2 * i] = (uint8_t)t[i];
        s[2 * i + 1] = (uint8_t)(t[i] >> 8);
    }
}

#endif

/* a^(p-2) = 1/a (0 for 0): p - 2 = 2^255 - 21, all ones but bits 2 and 4.
 * The exponent is public, so the branch on it is not a leak. */
static void fe_inv(fe r, const fe a)
{
    fe c;
    fe_copy(c, a);
    for (int i = 253; i >= 0; i--) {
        fe_sq(c, c);
        if (i != 2 && i != 4)
            fe_mul(c, c, a);
    }
    fe_copy(r, c);
}

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

int x25519(uint8_t out[X25519_LEN], const uint8_t scalar[X25519_LEN], const uint8_t point[X25519_LEN])
{
    static const fe a24 = FE_A24;
    uint8_t k[32];
    fe x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb;
    int64_t swap = 0;

    /* decodeScalar25519: clear bits 0, 1, 2 and 255, set bit 254. */
    memcpy(k, scalar, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;

    fe_unpack(x1, point);
    memset(x2, 0, sizeof(fe));
    x2[0] = 1;
    memset(z2, 0, sizeof(fe));
    fe_copy(x3, x1);
    memset(z3, 0, sizeof(fe));
    z3[0] = 1;

    for (int t = 254; t >= 0; t--) {
        int64_t kt = (k[t >> 3] >> (t & 7)) & 1;
        swap ^= kt;
        fe_cswap(x2, x3, swap);
        fe_cswap(z2, z3, swap);
        swap = kt;

        fe_add(a, x2, z2);
        fe_sq(aa, a);
        fe_sub(b, x2, z2);
        fe_sq(bb, b);
        fe_sub(e, aa, bb);
        fe_add(c, x3, z3);
        fe_sub(d, x3, z3);
        fe_mul(da, d, a);
        fe_mul(cb, c, b);
        fe_add(x3, da, cb);
        fe_sq(x3, x3);
        fe_sub(z3, da, cb);
        fe_sq(z3, z3);
        fe_mul(z3, z3, x1);
        fe_mul(x2, aa, bb);
        fe_mul(z2, a24, e);
        fe_add(z2, z2, aa);
        fe_mul(z2, z2, e);
    }
    fe_cswap(x2, x3, swap);
    fe_cswap(z2, z3, swap);

    fe_inv(z2, z2);
    fe_mul(x2, x2, z2);
    fe_pack(out, x2);

    uint8_t any = 0;
    for (int i = 0; i < 32; i++)
        any |= out[i];
    wipe(k, sizeof k);
    wipe(x2, sizeof(fe));
    wipe(z2, sizeof(fe));
    wipe(x3, sizeof(fe));
    wipe(z3, sizeof(fe));
    wipe(a, sizeof(fe));
    wipe(b, sizeof(fe));
    wipe(aa, sizeof(fe));
    wipe(bb, sizeof(fe));
    wipe(e, sizeof(fe));
    wipe(c, sizeof(fe));
    wipe(d, sizeof(fe));
    wipe(da, sizeof(fe));
    wipe(cb, sizeof(fe));
    return any ? 0 : -1;
}

void x25519_base(uint8_t out[X25519_LEN], const uint8_t scalar[X25519_LEN])
{
    static const uint8_t nine[32] = {9};
    (void)x25519(out, scalar, nine);
}
