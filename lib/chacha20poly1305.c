/*
 * chacha20poly1305.c - ChaCha20, Poly1305 and the AEAD of RFC 8439,
 * written from the RFC's text (sections 2.1 to 2.8).
 */
#include "chacha20poly1305.h"

#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

void crypto_wipe(void *p, size_t n)
{
#if defined(__GNUC__) || defined(__clang__)
    /* memset at its speed (the wipes of the vector paths' state are on
     * every message); the empty asm may read the bytes, so the stores
     * cannot be dropped */
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
#else
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
#endif
}

/* ------------------------------------------------------------ ChaCha20 --- */

#define ROTL(x, n) ((uint32_t)((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d)                                                                                                 \
    do {                                                                                                               \
        a += b; d ^= a; d = ROTL(d, 16);                                                                               \
        c += d; b ^= c; b = ROTL(b, 12);                                                                               \
        a += b; d ^= a; d = ROTL(d, 8);                                                                                \
        c += d; b ^= c; b = ROTL(b, 7);                                                                                \
    } while (0)

void chacha20_quarter_round(uint32_t s[16], int a, int b, int c, int d)
{
    QR(s[a], s[b], s[c], s[d]);
}

/* The state of 2.3: constants, key, counter, nonce. */
static void chacha20_setup(uint32_t s[16], const uint8_t key[32], uint32_t counter, const uint8_t nonce[12])
{
    s[0] = 0x61707865;
    s[1] = 0x3320646e;
    s[2] = 0x79622d32;
    s[3] = 0x6b206574;
    for (int i = 0; i < 8; i++)
        s[4 + i] = le32(key + 4 * i);
    s[12] = counter;
    for (int i = 0; i < 3; i++)
        s[13 + i] = le32(nonce + 4 * i);
}

/* 20 rounds (10 column + diagonal pairs), then the input added back. */
static void chacha20_core(const uint32_t in[16], uint32_t x[16])
{
    uint32_t x0 = in[0], x1 = in[1], x2 = in[2], x3 = in[3], x4 = in[4], x5 = in[5], x6 = in[6], x7 = in[7];
    uint32_t x8 = in[8], x9 = in[9], x10 = in[10], x11 = in[11], x12 = in[12], x13 = in[13], x14 = in[14],
             x15 = in[15];
    for (int i = 0; i < 10; i++) {
        QR(x0, x4, x8, x12);
        QR(x1, x5, x9, x13);
        QR(x2, x6, x10, x14);
        QR(x3, x7, x11, x15);
        QR(x0, x5, x10, x15);
        QR(x1, x6, x11, x12);
        QR(x2, x7, x8, x13);
        QR(x3, x4, x9, x14);
    }
    x[0] = x0 + in[0];
    x[1] = x1 + in[1];
    x[2] = x2 + in[2];
    x[3] = x3 + in[3];
    x[4] = x4 + in[4];
    x[5] = x5 + in[5];
    x[6] = x6 + in[6];
    x[7] = x7 + in[7];
    x[8] = x8 + in[8];
    x[9] = x9 + in[9];
    x[10] = x10 + in[10];
    x[11] = x11 + in[11];
    x[12] = x12 + in[12];
    x[13] = x13 + in[13];
    x[14] = x14 + in[14];
    x[15] = x15 + in[15];
}

void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter, const uint8_t nonce[CHACHA20_NONCE_LEN],
                    uint8_t out[CHACHA20_BLOCK_LEN])
{
    uint32_t s[16], x[16];
    chacha20_setup(s, key, counter, nonce);
    chacha20_core(s, x);
    for (int i = 0; i < 16; i++)
        put_le32(out + 4 * i, x[i]);
    crypto_wipe(s, sizeof s);
    crypto_wipe(x, sizeof x);
}

#if (defined(__GNUC__) || defined(__clang__)) && !defined(CHACHA20_SCALAR)
/* Four blocks at once with GCC's vector extension (plain C, no
 * intrinsics: the compiler picks SSE2, NEON or scalar code): lane b of
 * word i is word i of block counter + b. Same add/rotate/xor only.
 * -DCHACHA20_SCALAR leaves it out (to test the one-block path alone). */
typedef uint32_t u32x4 __attribute__((vector_size(16)));
#define VROTL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define VQR(a, b, c, d)                                                                                                \
    do {                                                                                                               \
        a += b; d ^= a; d = VROTL(d, 16);                                                                              \
        c += d; b ^= c; b = VROTL(b, 12);                                                                              \
        a += b; d ^= a; d = VROTL(d, 8);                                                                               \
        c += d; b ^= c; b = VROTL(b, 7);                                                                               \
    } while (0)
#define CHACHA20_WIDE 1
#if defined(__has_builtin) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#if __has_builtin(__builtin_shufflevector)
#define CHACHA20_TRANSPOSE 1 /* little-endian lanes are the bytes' order */
#endif
#endif

/* x and o are the caller's, wiped once when it is done. */
static void chacha20_4blocks(uint32_t s[16], const uint8_t *in, uint8_t *out, u32x4 x[16], u32x4 o[16])
{
    for (int i = 0; i < 16; i++)
        o[i] = (u32x4){s[i], s[i], s[i], s[i]};
    o[12] += (u32x4){0, 1, 2, 3};
    for (int i = 0; i < 16; i++)
        x[i] = o[i];
    for (int r = 0; r < 10; r++) {
        VQR(x[0], x[4], x[8], x[12]);
        VQR(x[1], x[5], x[9], x[13]);
        VQR(x[2], x[6], x[10], x[14]);
        VQR(x[3], x[7], x[11], x[15]);
        VQR(x[0], x[5], x[10], x[15]);
        VQR(x[1], x[6], x[11], x[12]);
        VQR(x[2], x[7], x[8], x[13]);
        VQR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        x[i] += o[i];
#ifdef CHACHA20_TRANSPOSE
    /* Words 4g..4g+3 of the four blocks, transposed in registers (a 4x4
     * transpose of 32-bit lanes), xored 16 bytes at a time: 20-40% faster
     * than the lane by lane path below. */
    for (int g = 0; g < 4; g++) {
        u32x4 a = x[4 * g], b = x[4 * g + 1], c = x[4 * g + 2], d = x[4 * g + 3];
        u32x4 t0 = __builtin_shufflevector(a, b, 0, 4, 1, 5), t1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
        u32x4 t2 = __builtin_shufflevector(c, d, 0, 4, 1, 5), t3 = __builtin_shufflevector(c, d, 2, 6, 3, 7);
        u32x4 blk[4] = {__builtin_shufflevector(t0, t2, 0, 1, 4, 5), __builtin_shufflevector(t0, t2, 2, 3, 6, 7),
                        __builtin_shufflevector(t1, t3, 0, 1, 4, 5), __builtin_shufflevector(t1, t3, 2, 3, 6, 7)};
        for (int k = 0; k < 4; k++) {
            u32x4 v;
            memcpy(&v, in + 64 * k + 16 * g, 16);
            v ^= blk[k];
            memcpy(out + 64 * k + 16 * g, &v, 16);
        }
    }
#else
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < 16; i++)
            put_le32(out + 64 * b + 4 * i, le32(in + 64 * b + 4 * i) ^ x[i][b]);
#endif
    s[12] += 4;
}
#endif

#if defined(CHACHA20_WIDE) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define CHACHA20_AVX2 1
static int avx2_allowed = 3;

/* The widest path the CPU and avx2_allowed both allow (the header's
 * levels). Level 3 on any CPU with AVX-512F: where 512-bit work lowers
 * the core's clock (Intel before Ice Lake) level 2 may be the faster. */
static int simd_level(void)
{
    if (avx2_allowed >= 3 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512f"))
        return 3;
    if (avx2_allowed >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512vl"))
        return 2;
    return avx2_allowed >= 1 && __builtin_cpu_supports("avx2");
}

int chacha20_avx2(int allow)
{
    avx2_allowed = allow;
    return simd_level();
}

/* Eight blocks at once in AVX2's 256-bit registers, for CPUs that have it
 * (the caller asks __builtin_cpu_supports; only these functions are
 * compiled for AVX2): lane b of word i is word i of block counter + b, as
 * in chacha20_4blocks. The 20 rounds: with AVX2 alone the rotations by 16
 * and 8 are byte shuffles, the others two shifts and an or; AVX-512VL has
 * a rotation (vprold, on the same 256-bit registers): 1.35x. Not inlined
 * (a function of a wider target cannot be), x in memory between. */
#define V8QR(a, b, c, d, ROT)                                                                                          \
    do {                                                                                                               \
        a = _mm256_add_epi32(a, b); d = ROT(_mm256_xor_si256(d, a), 16);                                              \
        c = _mm256_add_epi32(c, d); b = ROT(_mm256_xor_si256(b, c), 12);                                              \
        a = _mm256_add_epi32(a, b); d = ROT(_mm256_xor_si256(d, a), 8);                                               \
        c = _mm256_add_epi32(c, d); b = ROT(_mm256_xor_si256(b, c), 7);                                               \
    } while (0)
#define V8ROUNDS(x, ROT)                                                                                               \
    for (int r = 0; r < 10; r++) {                                                                                     \
        V8QR(x[0], x[4], x[8], x[12], ROT);                                                                            \
        V8QR(x[1], x[5], x[9], x[13], ROT);                                                                            \
        V8QR(x[2], x[6], x[10], x[14], ROT);                                                                           \
        V8QR(x[3], x[7], x[11], x[15], ROT);                                                                           \
        V8QR(x[0], x[5], x[10], x[15], ROT);                                                                           \
        V8QR(x[1], x[6], x[11], x[12], ROT);                                                                           \
        V8QR(x[2], x[7], x[8], x[13], ROT);                                                                            \
        V8QR(x[3], x[4], x[9], x[14], ROT);                                                                            \
    }
#define V8ROT_AVX2(v, n)                                                                                               \
    ((n) == 16   ? _mm256_shuffle_epi8(v, _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, \
                                                           1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13))               \
     : (n) == 8 ? _mm256_shuffle_epi8(v, _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, \
                                                          2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14))                \
                : _mm256_or_si256(_mm256_slli_epi32(v, n), _mm256_srli_epi32(v, 32 - (n))))
#define V8ROT_VL(v, n) _mm256_rol_epi32(v, n)
__attribute__((target("avx2"), noinline)) static void chacha20_rounds_avx2(__m256i x[16])
{
    V8ROUNDS(x, V8ROT_AVX2)
}
__attribute__((target("avx2,avx512vl"), noinline)) static void chacha20_rounds_vl(__m256i x[16])
{
    V8ROUNDS(x, V8ROT_VL)
}

/* vl: the rounds with AVX-512VL's rotation */
__attribute__((target("avx2"))) static void chacha20_8blocks_avx2(uint32_t s[16], const uint8_t *in, uint8_t *out,
                                                                  size_t n8, int vl)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i x[16];
    for (; n8 > 0; n8--) {
        for (int i = 0; i < 16; i++)
            x[i] = _mm256_set1_epi32((int)s[i]);
        x[12] = _mm256_add_epi32(x[12], lanes);
        if (vl)
            chacha20_rounds_vl(x);
        else
            chacha20_rounds_avx2(x);
        for (int i = 0; i < 16; i++)
            x[i] = _mm256_add_epi32(x[i], _mm256_set1_epi32((int)s[i]));
        x[12] = _mm256_add_epi32(x[12], lanes);
        /* Words 4g..4g+3 transposed within each 128-bit half: y[g][k] has
         * block k's four words in its low half, block k + 4's in its high
         * half; then block k's 64 bytes are the low halves of y[0..3][k],
         * block k + 4's the high halves. */
        __m256i y[4][4];
        for (int g = 0; g < 4; g++) {
            __m256i t0 = _mm256_unpacklo_epi32(x[4 * g], x[4 * g + 1]);
            __m256i t1 = _mm256_unpackhi_epi32(x[4 * g], x[4 * g + 1]);
            __m256i t2 = _mm256_unpacklo_epi32(x[4 * g + 2], x[4 * g + 3]);
            __m256i t3 = _mm256_unpackhi_epi32(x[4 * g + 2], x[4 * g + 3]);
            y[g][0] = _mm256_unpacklo_epi64(t0, t2);
            y[g][1] = _mm256_unpackhi_epi64(t0, t2);
            y[g][2] = _mm256_unpacklo_epi64(t1, t3);
            y[g][3] = _mm256_unpackhi_epi64(t1, t3);
        }
        for (int k = 0; k < 4; k++) {
            const __m256i *src = (const __m256i *)(const void *)(in + 64 * k);
            __m256i *dst = (__m256i *)(void *)(out + 64 * k);
            _mm256_storeu_si256(dst, _mm256_xor_si256(_mm256_loadu_si256(src),
                                                      _mm256_permute2x128_si256(y[0][k], y[1][k], 0x20)));
            _mm256_storeu_si256(dst + 1, _mm256_xor_si256(_mm256_loadu_si256(src + 1),
                                                          _mm256_permute2x128_si256(y[2][k], y[3][k], 0x20)));
            _mm256_storeu_si256(dst + 8, _mm256_xor_si256(_mm256_loadu_si256(src + 8),
                                                          _mm256_permute2x128_si256(y[0][k], y[1][k], 0x31)));
            _mm256_storeu_si256(dst + 9, _mm256_xor_si256(_mm256_loadu_si256(src + 9),
                                                          _mm256_permute2x128_si256(y[2][k], y[3][k], 0x31)));
        }
        s[12] += 8;
        in += 8 * CHACHA20_BLOCK_LEN;
        out += 8 * CHACHA20_BLOCK_LEN;
    }
    crypto_wipe(x, sizeof x);
}

/* Sixteen blocks at once in AVX-512's 512-bit registers (level 3): lane b
 * of word i is word i of block counter + b, as above, the rotation
 * vprold. Where the CPU has 512-bit units (Zen 5, Intel's servers) twice
 * the bytes per instruction of the eight blocks: 1.6-1.9x (make
 * bench-crypto). The rounds apart as for AVX2 (x in registers there). */
#define V16QR(a, b, c, d)                                                                                              \
    do {                                                                                                               \
        a = _mm512_add_epi32(a, b); d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 16);                                 \
        c = _mm512_add_epi32(c, d); b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 12);                                 \
        a = _mm512_add_epi32(a, b); d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 8);                                  \
        c = _mm512_add_epi32(c, d); b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 7);                                  \
    } while (0)
__attribute__((target("avx512f"), noinline)) static void chacha20_rounds_512(__m512i x[16])
{
    for (int r = 0; r < 10; r++) {
        V16QR(x[0], x[4], x[8], x[12]);
        V16QR(x[1], x[5], x[9], x[13]);
        V16QR(x[2], x[6], x[10], x[14]);
        V16QR(x[3], x[7], x[11], x[15]);
        V16QR(x[0], x[5], x[10], x[15]);
        V16QR(x[1], x[6], x[11], x[12]);
        V16QR(x[2], x[7], x[8], x[13]);
        V16QR(x[3], x[4], x[9], x[14]);
    }
}

__attribute__((target("avx512f"))) static void chacha20_16blocks_512(uint32_t s[16], const uint8_t *in, uint8_t *out,
                                                                    size_t n16)
{
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i x[16], y[4][4];
    for (; n16 > 0; n16--) {
        for (int i = 0; i < 16; i++)
            x[i] = _mm512_set1_epi32((int)s[i]);
        x[12] = _mm512_add_epi32(x[12], lanes);
        chacha20_rounds_512(x);
        for (int i = 0; i < 16; i++)
            x[i] = _mm512_add_epi32(x[i], _mm512_set1_epi32((int)s[i]));
        x[12] = _mm512_add_epi32(x[12], lanes);
        /* Words 4g..4g+3 transposed within each 128-bit quarter q:
         * y[g][k]'s quarter q has block 4q + k's four words 4g..4g+3;
         * then block 4q + k is quarter q of y[0..3][k], gathered by two
         * 128-bit shuffles. */
        for (int g = 0; g < 4; g++) {
            __m512i t0 = _mm512_unpacklo_epi32(x[4 * g], x[4 * g + 1]);
            __m512i t1 = _mm512_unpackhi_epi32(x[4 * g], x[4 * g + 1]);
            __m512i t2 = _mm512_unpacklo_epi32(x[4 * g + 2], x[4 * g + 3]);
            __m512i t3 = _mm512_unpackhi_epi32(x[4 * g + 2], x[4 * g + 3]);
            y[g][0] = _mm512_unpacklo_epi64(t0, t2);
            y[g][1] = _mm512_unpackhi_epi64(t0, t2);
            y[g][2] = _mm512_unpacklo_epi64(t1, t3);
            y[g][3] = _mm512_unpackhi_epi64(t1, t3);
        }
        for (int k = 0; k < 4; k++) {
            __m512i lo01 = _mm512_shuffle_i32x4(y[0][k], y[1][k], 0x44); /* quarters 0, 1 of y0, then of y1 */
            __m512i lo23 = _mm512_shuffle_i32x4(y[2][k], y[3][k], 0x44);
            __m512i hi01 = _mm512_shuffle_i32x4(y[0][k], y[1][k], 0xee); /* quarters 2, 3 */
            __m512i hi23 = _mm512_shuffle_i32x4(y[2][k], y[3][k], 0xee);
            __m512i blk[4] = {_mm512_shuffle_i32x4(lo01, lo23, 0x88), _mm512_shuffle_i32x4(lo01, lo23, 0xdd),
                              _mm512_shuffle_i32x4(hi01, hi23, 0x88), _mm512_shuffle_i32x4(hi01, hi23, 0xdd)};
            for (int q = 0; q < 4; q++) {
                size_t at = (size_t)64 * (4 * q + k);
                _mm512_storeu_si512((void *)(out + at),
                                    _mm512_xor_si512(_mm512_loadu_si512((const void *)(in + at)), blk[q]));
            }
        }
        s[12] += 16;
        in += 16 * CHACHA20_BLOCK_LEN;
        out += 16 * CHACHA20_BLOCK_LEN;
    }
    crypto_wipe(x, sizeof x);
    crypto_wipe(y, sizeof y);
}
#else
int chacha20_avx2(int allow)
{
    (void)allow;
    return 0;
}
#endif

/* No bound check: the callers have made sure the counter does not wrap. */
static void chacha20_stream(uint32_t s[16], const uint8_t *in, size_t n, uint8_t *out)
{
    uint32_t x[16];
#ifdef CHACHA20_AVX2
    int level;
    if (n > 2 * CHACHA20_BLOCK_LEN && (level = simd_level()) > 0) {
        if (level == 3 && n >= 16 * CHACHA20_BLOCK_LEN) {
            size_t n16 = n / (16 * CHACHA20_BLOCK_LEN);
            chacha20_16blocks_512(s, in, out, n16);
            in += n16 * 16 * CHACHA20_BLOCK_LEN;
            out += n16 * 16 * CHACHA20_BLOCK_LEN;
            n -= n16 * 16 * CHACHA20_BLOCK_LEN;
        }
        size_t n8 = n / (8 * CHACHA20_BLOCK_LEN);
        chacha20_8blocks_avx2(s, in, out, n8, level >= 2);
        in += n8 * 8 * CHACHA20_BLOCK_LEN;
        out += n8 * 8 * CHACHA20_BLOCK_LEN;
        n -= n8 * 8 * CHACHA20_BLOCK_LEN;
        if (n > 2 * CHACHA20_BLOCK_LEN) {
            /* The last 129 to 511 bytes: eight blocks into a copy cost
             * less than four and one or two alone (a datagram of 1200
             * bytes ends so). Lanes past the text may pass the counter's
             * end: their keystream is not used. */
            uint8_t tail[8 * CHACHA20_BLOCK_LEN];
            memcpy(tail, in, n);
            memset(tail + n, 0, sizeof tail - n);
            chacha20_8blocks_avx2(s, tail, tail, 1, level >= 2);
            memcpy(out, tail, n);
            crypto_wipe(tail, sizeof tail);
            return;
        }
    }
#endif
#ifdef CHACHA20_WIDE
    if (n >= 4 * CHACHA20_BLOCK_LEN) {
        u32x4 vx[16], vo[16];
        while (n >= 4 * CHACHA20_BLOCK_LEN) {
            chacha20_4blocks(s, in, out, vx, vo);
            in += 4 * CHACHA20_BLOCK_LEN;
            out += 4 * CHACHA20_BLOCK_LEN;
            n -= 4 * CHACHA20_BLOCK_LEN;
        }
        crypto_wipe(vx, sizeof vx);
        crypto_wipe(vo, sizeof vo);
    }
#endif
    while (n >= CHACHA20_BLOCK_LEN) {
        chacha20_core(s, x);
        for (int i = 0; i < 16; i++)
            put_le32(out + 4 * i, le32(in + 4 * i) ^ x[i]);
        s[12]++;
        in += CHACHA20_BLOCK_LEN;
        out += CHACHA20_BLOCK_LEN;
        n -= CHACHA20_BLOCK_LEN;
    }
    if (n > 0) {
        uint8_t ks[CHACHA20_BLOCK_LEN];
        chacha20_core(s, x);
        for (int i = 0; i < 16; i++)
            put_le32(ks + 4 * i, x[i]);
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] ^ ks[i];
        s[12]++;
        crypto_wipe(ks, sizeof ks);
    }
    crypto_wipe(x, sizeof x);
}

/* Whether n bytes from block `counter` on stay within the 32-bit counter
 * (the last block used is counter + ceil(n / 64) - 1 <= 2^32 - 1). */
static int counter_fits(uint32_t counter, size_t n)
{
    uint64_t blocks = (uint64_t)n / CHACHA20_BLOCK_LEN + (n % CHACHA20_BLOCK_LEN != 0);
    if ((uint64_t)n > AEAD_MAX_TEXT + CHACHA20_BLOCK_LEN)
        return 0;
    return blocks == 0 || (uint64_t)counter + blocks - 1 <= 0xffffffffu;
}

int chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter, const uint8_t nonce[CHACHA20_NONCE_LEN],
                 const uint8_t *in, size_t n, uint8_t *out)
{
    uint32_t s[16];
    if (!counter_fits(counter, n))
        return -1;
    chacha20_setup(s, key, counter, nonce);
    chacha20_stream(s, in, n, out);
    crypto_wipe(s, sizeof s);
    return 0;
}

/* ------------------------------------------------------------ Poly1305 --- */

#if defined(__SIZEOF_INT128__) && !defined(POLY1305_26BIT)
#define POLY1305_44BIT 1
__extension__ typedef unsigned __int128 u128;
#define M44 (((uint64_t)1 << 44) - 1)
#define M42 (((uint64_t)1 << 42) - 1)

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* One carry pass over d0..d2 into h0..h2: h0, h2 under 2^44, 2^42, h1 a
 * little over 2^44 at most. */
#define POLY44_CARRY(d0, d1, d2, h0, h1, h2)                                                                           \
    do {                                                                                                               \
        h0 = (uint64_t)d0 & M44;                                                                                       \
        d1 += (uint64_t)(d0 >> 44);                                                                                    \
        h1 = (uint64_t)d1 & M44;                                                                                       \
        d2 += (uint64_t)(d1 >> 44);                                                                                    \
        h2 = (uint64_t)d2 & M42;                                                                                       \
        h0 += (uint64_t)(d2 >> 42) * 5;                                                                                \
        h1 += h0 >> 44;                                                                                                \
        h0 &= M44;                                                                                                     \
    } while (0)

#if defined(CHACHA20_AVX2) && defined(__x86_64__)
#define POLY1305_AVX2 1
/* out = a b mod p, partly reduced (the limbs' bounds of POLY44_CARRY) */
static void mul44(const uint64_t a[3], const uint64_t b[3], uint64_t out[3])
{
    u128 d0 = (u128)a[0] * b[0] + (u128)a[1] * (b[2] * 20) + (u128)a[2] * (b[1] * 20);
    u128 d1 = (u128)a[0] * b[1] + (u128)a[1] * b[0] + (u128)a[2] * (b[2] * 20);
    u128 d2 = (u128)a[0] * b[2] + (u128)a[1] * b[1] + (u128)a[2] * b[0];
    POLY44_CARRY(d0, d1, d2, out[0], out[1], out[2]);
}

/* 44-bit limbs (as POLY44_CARRY leaves them) to five 26-bit ones, the
 * last at most 2^26 */
static void to26(const uint64_t h[3], uint32_t l[5])
{
    uint64_t h0 = h[0], h1 = h[1] & M44, h2 = h[2] + (h[1] >> 44);
    l[0] = (uint32_t)(h0 & 0x3ffffff);
    l[1] = (uint32_t)((h0 >> 26 | h1 << 18) & 0x3ffffff);
    l[2] = (uint32_t)((h1 >> 8) & 0x3ffffff);
    l[3] = (uint32_t)((h1 >> 34 | h2 << 10) & 0x3ffffff);
    l[4] = (uint32_t)(h2 >> 16);
}

/* The five limbs of four blocks, block j in lane j (2^128 set: full
 * blocks only). */
__attribute__((target("avx2"), always_inline)) static inline void p4_load(const uint8_t *m, __m256i l[5])
{
    const __m256i m26 = _mm256_set1_epi64x(0x3ffffff);
    __m256i t0 = _mm256_loadu_si256((const __m256i *)(const void *)m);        /* a0 b0 a1 b1 */
    __m256i t1 = _mm256_loadu_si256((const __m256i *)(const void *)(m + 32)); /* a2 b2 a3 b3 */
    __m256i a = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(t0, t1), 0xd8);
    __m256i b = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(t0, t1), 0xd8);
    l[0] = _mm256_and_si256(a, m26);
    l[1] = _mm256_and_si256(_mm256_srli_epi64(a, 26), m26);
    l[2] = _mm256_and_si256(_mm256_or_si256(_mm256_srli_epi64(a, 52), _mm256_slli_epi64(b, 12)), m26);
    l[3] = _mm256_and_si256(_mm256_srli_epi64(b, 14), m26);
    l[4] = _mm256_or_si256(_mm256_srli_epi64(b, 40), _mm256_set1_epi64x(1 << 24));
}

/* h = h r lane by lane (r's limbs in r0..r4, 5 r in s1..s4), and one
 * carry pass: as the 26-bit poly1305_blocks, four lanes at once. Limbs
 * under 2^27.1 times factors under 2^28.4, five products: under 2^59. A
 * macro on named variables (GCC keeps arrays of vectors in memory). */
#define P4M(a, b) _mm256_mul_epu32(a, b)
#define P4A(a, b) _mm256_add_epi64(a, b)
#define P4_MUL(h0, h1, h2, h3, h4, r0, r1, r2, r3, r4, s1, s2, s3, s4)                                                 \
    do {                                                                                                               \
        const __m256i m26_ = _mm256_set1_epi64x(0x3ffffff);                                                            \
        __m256i d0 = P4A(P4A(P4A(P4A(P4M(h0, r0), P4M(h1, s4)), P4M(h2, s3)), P4M(h3, s2)), P4M(h4, s1));              \
        __m256i d1 = P4A(P4A(P4A(P4A(P4M(h0, r1), P4M(h1, r0)), P4M(h2, s4)), P4M(h3, s3)), P4M(h4, s2));              \
        __m256i d2 = P4A(P4A(P4A(P4A(P4M(h0, r2), P4M(h1, r1)), P4M(h2, r0)), P4M(h3, s4)), P4M(h4, s3));              \
        __m256i d3 = P4A(P4A(P4A(P4A(P4M(h0, r3), P4M(h1, r2)), P4M(h2, r1)), P4M(h3, r0)), P4M(h4, s4));              \
        __m256i d4 = P4A(P4A(P4A(P4A(P4M(h0, r4), P4M(h1, r3)), P4M(h2, r2)), P4M(h3, r1)), P4M(h4, r0));              \
        d1 = P4A(d1, _mm256_srli_epi64(d0, 26));                                                                       \
        h0 = _mm256_and_si256(d0, m26_);                                                                               \
        d2 = P4A(d2, _mm256_srli_epi64(d1, 26));                                                                       \
        h1 = _mm256_and_si256(d1, m26_);                                                                               \
        d3 = P4A(d3, _mm256_srli_epi64(d2, 26));                                                                       \
        h2 = _mm256_and_si256(d2, m26_);                                                                               \
        d4 = P4A(d4, _mm256_srli_epi64(d3, 26));                                                                       \
        h3 = _mm256_and_si256(d3, m26_);                                                                               \
        __m256i top_ = _mm256_srli_epi64(d4, 26);                                                                      \
        h4 = _mm256_and_si256(d4, m26_);                                                                               \
        h0 = P4A(h0, P4A(_mm256_slli_epi64(top_, 2), top_));                                                           \
        h1 = P4A(h1, _mm256_srli_epi64(h0, 26));                                                                       \
        h0 = _mm256_and_si256(h0, m26_);                                                                               \
    } while (0)

/* n64 (two or more) runs of four blocks: lanes (h + m1, m2, m3, m4), then
 * lanes * r^4 + the next four blocks, ..., and at the end lane j times
 * r^(4 - j), summed: the same h as block after block. c->h44 in and out. */
__attribute__((target("avx2"))) static void poly1305_blocks_avx2(poly1305_ctx *c, const uint8_t *m, size_t n64)
{
    __m256i h[5], t[5];
    uint64_t lanes[5][4], acc_h[3];
    uint32_t l[5];
    if (!c->pw_ready) {
        uint64_t r3[3], r4[3];
        uint32_t p[4][5];
        mul44(c->rr44, c->r44, r3);
        mul44(c->rr44, c->rr44, r4);
        to26(r4, p[0]);
        to26(r3, p[1]);
        to26(c->rr44, p[2]);
        to26(c->r44, p[3]);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 4; j++)
                c->pw[i][j] = p[j][i];
        c->pw_ready = 1;
        crypto_wipe(r3, sizeof r3);
        crypto_wipe(r4, sizeof r4);
        crypto_wipe(p, sizeof p);
    }
    __m256i r0 = _mm256_set1_epi64x(c->pw[0][0]), r1 = _mm256_set1_epi64x(c->pw[1][0]);
    __m256i r2 = _mm256_set1_epi64x(c->pw[2][0]), r3 = _mm256_set1_epi64x(c->pw[3][0]);
    __m256i r4 = _mm256_set1_epi64x(c->pw[4][0]);
    __m256i s1 = P4A(_mm256_slli_epi64(r1, 2), r1), s2 = P4A(_mm256_slli_epi64(r2, 2), r2);
    __m256i s3 = P4A(_mm256_slli_epi64(r3, 2), r3), s4 = P4A(_mm256_slli_epi64(r4, 2), r4);
    to26(c->h44, l);
    p4_load(m, h);
    __m256i h0 = P4A(h[0], _mm256_setr_epi64x(l[0], 0, 0, 0)), h1 = P4A(h[1], _mm256_setr_epi64x(l[1], 0, 0, 0));
    __m256i h2 = P4A(h[2], _mm256_setr_epi64x(l[2], 0, 0, 0)), h3 = P4A(h[3], _mm256_setr_epi64x(l[3], 0, 0, 0));
    __m256i h4 = P4A(h[4], _mm256_setr_epi64x(l[4], 0, 0, 0));
    for (m += 64, n64--; n64 > 0; n64--, m += 64) {
        P4_MUL(h0, h1, h2, h3, h4, r0, r1, r2, r3, r4, s1, s2, s3, s4);
        p4_load(m, t);
        h0 = P4A(h0, t[0]);
        h1 = P4A(h1, t[1]);
        h2 = P4A(h2, t[2]);
        h3 = P4A(h3, t[3]);
        h4 = P4A(h4, t[4]);
    }
    /* lane j times r^(4 - j) */
#define P4_POW(i) _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(const void *)c->pw[i]))
    r0 = P4_POW(0), r1 = P4_POW(1), r2 = P4_POW(2), r3 = P4_POW(3), r4 = P4_POW(4);
#undef P4_POW
    s1 = P4A(_mm256_slli_epi64(r1, 2), r1), s2 = P4A(_mm256_slli_epi64(r2, 2), r2);
    s3 = P4A(_mm256_slli_epi64(r3, 2), r3), s4 = P4A(_mm256_slli_epi64(r4, 2), r4);
    P4_MUL(h0, h1, h2, h3, h4, r0, r1, r2, r3, r4, s1, s2, s3, s4);
    _mm256_storeu_si256((__m256i *)(void *)lanes[0], h0);
    _mm256_storeu_si256((__m256i *)(void *)lanes[1], h1);
    _mm256_storeu_si256((__m256i *)(void *)lanes[2], h2);
    _mm256_storeu_si256((__m256i *)(void *)lanes[3], h3);
    _mm256_storeu_si256((__m256i *)(void *)lanes[4], h4);
    /* the lanes' sums (each limb under 2^28.1) back into 44-bit limbs */
    uint64_t sum[5];
    for (int i = 0; i < 5; i++)
        sum[i] = lanes[i][0] + lanes[i][1] + lanes[i][2] + lanes[i][3];
    u128 acc = (u128)sum[0] + ((u128)sum[1] << 26) + ((u128)sum[2] << 52);
    acc_h[0] = (uint64_t)acc & M44;
    acc >>= 44;
    acc += ((u128)sum[3] << 34) + ((u128)sum[4] << 60);
    acc_h[1] = (uint64_t)acc & M44;
    acc_h[2] = (uint64_t)(acc >> 44);
    acc_h[0] += (acc_h[2] >> 42) * 5;
    acc_h[2] &= M42;
    acc_h[1] += acc_h[0] >> 44;
    acc_h[0] &= M44;
    for (int i = 0; i < 3; i++)
        c->h44[i] = acc_h[i];
    crypto_wipe(h, sizeof h);
    crypto_wipe(t, sizeof t);
    crypto_wipe(lanes, sizeof lanes);
    crypto_wipe(sum, sizeof sum);
    crypto_wipe(acc_h, sizeof acc_h);
    crypto_wipe(l, sizeof l);
}

/* The same eight blocks at a time in AVX-512's 512-bit registers (level
 * 3): block j of each 128 bytes in lane j, h * r^8 per step, lane j times
 * r^(8 - j) at the end. The bounds are P4_MUL's (the sums of eight lanes
 * at the end, each limb under 2^28.1, stay under 2^31.1). */
#define P8M(a, b) _mm512_mul_epu32(a, b)
#define P8A(a, b) _mm512_add_epi64(a, b)
#define P8_MUL(h0, h1, h2, h3, h4, r0, r1, r2, r3, r4, s1, s2, s3, s4)                                                 \
    do {                                                                                                               \
        const __m512i m26_ = _mm512_set1_epi64(0x3ffffff);                                                             \
        __m512i d0 = P8A(P8A(P8A(P8A(P8M(h0, r0), P8M(h1, s4)), P8M(h2, s3)), P8M(h3, s2)), P8M(h4, s1));              \
        __m512i d1 = P8A(P8A(P8A(P8A(P8M(h0, r1), P8M(h1, r0)), P8M(h2, s4)), P8M(h3, s3)), P8M(h4, s2));              \
        __m512i d2 = P8A(P8A(P8A(P8A(P8M(h0, r2), P8M(h1, r1)), P8M(h2, r0)), P8M(h3, s4)), P8M(h4, s3));              \
        __m512i d3 = P8A(P8A(P8A(P8A(P8M(h0, r3), P8M(h1, r2)), P8M(h2, r1)), P8M(h3, r0)), P8M(h4, s4));              \
        __m512i d4 = P8A(P8A(P8A(P8A(P8M(h0, r4), P8M(h1, r3)), P8M(h2, r2)), P8M(h3, r1)), P8M(h4, r0));              \
        d1 = P8A(d1, _mm512_srli_epi64(d0, 26));                                                                       \
        h0 = _mm512_and_si512(d0, m26_);                                                                               \
        d2 = P8A(d2, _mm512_srli_epi64(d1, 26));                                                                       \
        h1 = _mm512_and_si512(d1, m26_);                                                                               \
        d3 = P8A(d3, _mm512_srli_epi64(d2, 26));                                                                       \
        h2 = _mm512_and_si512(d2, m26_);                                                                               \
        d4 = P8A(d4, _mm512_srli_epi64(d3, 26));                                                                       \
        h3 = _mm512_and_si512(d3, m26_);                                                                               \
        __m512i top_ = _mm512_srli_epi64(d4, 26);                                                                      \
        h4 = _mm512_and_si512(d4, m26_);                                                                               \
        h0 = P8A(h0, P8A(_mm512_slli_epi64(top_, 2), top_));                                                           \
        h1 = P8A(h1, _mm512_srli_epi64(h0, 26));                                                                       \
        h0 = _mm512_and_si512(h0, m26_);                                                                               \
    } while (0)

/* The five limbs of eight blocks, block j in lane j (2^128 set). */
__attribute__((target("avx512f"), always_inline)) static inline void p8_load(const uint8_t *m, __m512i l[5])
{
    const __m512i m26 = _mm512_set1_epi64(0x3ffffff);
    __m512i t0 = _mm512_loadu_si512((const void *)m);        /* a0 b0 a1 b1 a2 b2 a3 b3 */
    __m512i t1 = _mm512_loadu_si512((const void *)(m + 64)); /* a4 b4 ... a7 b7 */
    __m512i a = _mm512_permutex2var_epi64(t0, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), t1);
    __m512i b = _mm512_permutex2var_epi64(t0, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), t1);
    l[0] = _mm512_and_si512(a, m26);
    l[1] = _mm512_and_si512(_mm512_srli_epi64(a, 26), m26);
    l[2] = _mm512_and_si512(_mm512_or_si512(_mm512_srli_epi64(a, 52), _mm512_slli_epi64(b, 12)), m26);
    l[3] = _mm512_and_si512(_mm512_srli_epi64(b, 14), m26);
    l[4] = _mm512_or_si512(_mm512_srli_epi64(b, 40), _mm512_set1_epi64(1 << 24));
}

/* r^8 .. r in 26-bit limbs, lane j of limb i r^(8 - j)'s, once per key. */
static void p8_powers(poly1305_ctx *c)
{
    uint64_t p44[9][3];
    uint32_t p[5];
    if (c->pw8_ready)
        return;
    for (int i = 0; i < 3; i++)
        p44[1][i] = c->r44[i], p44[2][i] = c->rr44[i];
    for (int k = 3; k <= 8; k++)
        mul44(p44[k / 2], p44[k - k / 2], p44[k]);
    for (int j = 0; j < 8; j++) {
        to26(p44[8 - j], p);
        for (int i = 0; i < 5; i++)
            c->pw8[i][j] = p[i];
    }
    c->pw8_ready = 1;
    crypto_wipe(p44, sizeof p44);
    crypto_wipe(p, sizeof p);
}

/* h = h r^8 + the next eight blocks (r^8's limbs in r0..r4, 5 r^8 in
 * s1..s4). */
#define P8_STEP(m)                                                                                                     \
    do {                                                                                                               \
        __m512i t_[5];                                                                                                 \
        P8_MUL(h0, h1, h2, h3, h4, r0, r1, r2, r3, r4, s1, s2, s3, s4);                                                \
        p8_load(m, t_);                                                                                                \
        h0 = P8A(h0, t_[0]), h1 = P8A(h1, t_[1]), h2 = P8A(h2, t_[2]), h3 = P8A(h3, t_[3]), h4 = P8A(h4, t_[4]);       \
    } while (0)
/* r^8 broadcast, and the first eight blocks with c->h44 added to lane 0 */
#define P8_START(m)                                                                                                    \
    __m512i r0 = _mm512_set1_epi64(c->pw8[0][0]), r1 = _mm512_set1_epi64(c->pw8[1][0]);                               \
    __m512i r2 = _mm512_set1_epi64(c->pw8[2][0]), r3 = _mm512_set1_epi64(c->pw8[3][0]);                               \
    __m512i r4 = _mm512_set1_epi64(c->pw8[4][0]);                                                                      \
    __m512i s1 = P8A(_mm512_slli_epi64(r1, 2), r1), s2 = P8A(_mm512_slli_epi64(r2, 2), r2);                            \
    __m512i s3 = P8A(_mm512_slli_epi64(r3, 2), r3), s4 = P8A(_mm512_slli_epi64(r4, 2), r4);                            \
    __m512i h0, h1, h2, h3, h4;                                                                                        \
    do {                                                                                                               \
        __m512i t_[5];                                                                                                 \
        uint32_t l_[5];                                                                                                \
        to26(c->h44, l_);                                                                                              \
        p8_load(m, t_);                                                                                                \
        h0 = P8A(t_[0], _mm512_setr_epi64(l_[0], 0, 0, 0, 0, 0, 0, 0));                                                \
        h1 = P8A(t_[1], _mm512_setr_epi64(l_[1], 0, 0, 0, 0, 0, 0, 0));                                                \
        h2 = P8A(t_[2], _mm512_setr_epi64(l_[2], 0, 0, 0, 0, 0, 0, 0));                                                \
        h3 = P8A(t_[3], _mm512_setr_epi64(l_[3], 0, 0, 0, 0, 0, 0, 0));                                                \
        h4 = P8A(t_[4], _mm512_setr_epi64(l_[4], 0, 0, 0, 0, 0, 0, 0));                                                \
        crypto_wipe(l_, sizeof l_);                                                                                    \
    } while (0)

/* The lanes of h (h[0..4], limb by limb) times r^(8 - j), summed into
 * c->h44. */
__attribute__((target("avx512f"))) static void p8_fold(poly1305_ctx *c, __m512i h[5])
{
    uint64_t lanes[5][8], sum[5], acc_h[3];
    __m512i h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4];
#define P8_POW(i) _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(const void *)c->pw8[i]))
    __m512i r0 = P8_POW(0), r1 = P8_POW(1), r2 = P8_POW(2), r3 = P8_POW(3), r4 = P8_POW(4);
#undef P8_POW
    __m512i s1 = P8A(_mm512_slli_epi64(r1, 2), r1), s2 = P8A(_mm512_slli_epi64(r2, 2), r2);
    __m512i s3 = P8A(_mm512_slli_epi64(r3, 2), r3), s4 = P8A(_mm512_slli_epi64(r4, 2), r4);
    P8_MUL(h0, h1, h2, h3, h4, r0, r1, r2, r3, r4, s1, s2, s3, s4);
    _mm512_storeu_si512((void *)lanes[0], h0);
    _mm512_storeu_si512((void *)lanes[1], h1);
    _mm512_storeu_si512((void *)lanes[2], h2);
    _mm512_storeu_si512((void *)lanes[3], h3);
    _mm512_storeu_si512((void *)lanes[4], h4);
    for (int i = 0; i < 5; i++) {
        sum[i] = 0;
        for (int j = 0; j < 8; j++)
            sum[i] += lanes[i][j];
    }
    u128 acc = (u128)sum[0] + ((u128)sum[1] << 26) + ((u128)sum[2] << 52);
    acc_h[0] = (uint64_t)acc & M44;
    acc >>= 44;
    acc += ((u128)sum[3] << 34) + ((u128)sum[4] << 60);
    acc_h[1] = (uint64_t)acc & M44;
    acc_h[2] = (uint64_t)(acc >> 44);
    acc_h[0] += (acc_h[2] >> 42) * 5;
    acc_h[2] &= M42;
    acc_h[1] += acc_h[0] >> 44;
    acc_h[0] &= M44;
    for (int i = 0; i < 3; i++)
        c->h44[i] = acc_h[i];
    crypto_wipe(lanes, sizeof lanes);
    crypto_wipe(sum, sizeof sum);
    crypto_wipe(acc_h, sizeof acc_h);
}

/* n128 (one or more) runs of eight blocks; c->h44 in and out. */
__attribute__((target("avx512f"))) static void poly1305_blocks_512(poly1305_ctx *c, const uint8_t *m, size_t n128)
{
    p8_powers(c);
    P8_START(m);
    for (m += 128, n128--; n128 > 0; n128--, m += 128)
        P8_STEP(m);
    __m512i h[5] = {h0, h1, h2, h3, h4};
    p8_fold(c, h);
    crypto_wipe(h, sizeof h);
}

/* aead_seal's ChaCha20 and Poly1305 in one pass (level 3): nk (two or
 * more) kilobytes of in enciphered into out sixteen blocks at a time as
 * chacha20_16blocks_512 does, the eight Poly1305 steps over the kilobyte
 * enciphered before put between the rounds of the next: the two wait on
 * different units, 0.68 -> 0.49 cycles/byte. c has taken whole blocks
 * only (c->used == 0); it takes the nk kilobytes of out. */
__attribute__((target("avx512f"))) static void seal_stitched_512(uint32_t s[16], const uint8_t *in, uint8_t *out,
                                                                size_t nk, poly1305_ctx *c)
{
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i x[16], y[4][4];
    const uint8_t *next = out + 128; /* the next ciphertext Poly1305 takes */
    chacha20_16blocks_512(s, in, out, 1);
    p8_powers(c);
    P8_START(out);
    for (size_t k = 1; k < nk; k++) {
        in += 1024, out += 1024;
        size_t steps = (size_t)(out - next) / 128; /* 7 after the first kilobyte, then 8 */
        for (int i = 0; i < 16; i++)
            x[i] = _mm512_set1_epi32((int)s[i]);
        x[12] = _mm512_add_epi32(x[12], lanes);
        for (size_t r = 0; r < 10; r++) {
            V16QR(x[0], x[4], x[8], x[12]);
            V16QR(x[1], x[5], x[9], x[13]);
            V16QR(x[2], x[6], x[10], x[14]);
            V16QR(x[3], x[7], x[11], x[15]);
            V16QR(x[0], x[5], x[10], x[15]);
            V16QR(x[1], x[6], x[11], x[12]);
            V16QR(x[2], x[7], x[8], x[13]);
            V16QR(x[3], x[4], x[9], x[14]);
            if (r < steps) {
                P8_STEP(next);
                next += 128;
            }
        }
        for (int i = 0; i < 16; i++)
            x[i] = _mm512_add_epi32(x[i], _mm512_set1_epi32((int)s[i]));
        x[12] = _mm512_add_epi32(x[12], lanes);
        for (int g = 0; g < 4; g++) { /* as in chacha20_16blocks_512 */
            __m512i t0 = _mm512_unpacklo_epi32(x[4 * g], x[4 * g + 1]);
            __m512i t1 = _mm512_unpackhi_epi32(x[4 * g], x[4 * g + 1]);
            __m512i t2 = _mm512_unpacklo_epi32(x[4 * g + 2], x[4 * g + 3]);
            __m512i t3 = _mm512_unpackhi_epi32(x[4 * g + 2], x[4 * g + 3]);
            y[g][0] = _mm512_unpacklo_epi64(t0, t2);
            y[g][1] = _mm512_unpackhi_epi64(t0, t2);
            y[g][2] = _mm512_unpacklo_epi64(t1, t3);
            y[g][3] = _mm512_unpackhi_epi64(t1, t3);
        }
        for (int b = 0; b < 4; b++) {
            __m512i lo01 = _mm512_shuffle_i32x4(y[0][b], y[1][b], 0x44);
            __m512i lo23 = _mm512_shuffle_i32x4(y[2][b], y[3][b], 0x44);
            __m512i hi01 = _mm512_shuffle_i32x4(y[0][b], y[1][b], 0xee);
            __m512i hi23 = _mm512_shuffle_i32x4(y[2][b], y[3][b], 0xee);
            __m512i blk[4] = {_mm512_shuffle_i32x4(lo01, lo23, 0x88), _mm512_shuffle_i32x4(lo01, lo23, 0xdd),
                              _mm512_shuffle_i32x4(hi01, hi23, 0x88), _mm512_shuffle_i32x4(hi01, hi23, 0xdd)};
            for (int q = 0; q < 4; q++) {
                size_t at = (size_t)64 * (4 * q + b);
                _mm512_storeu_si512((void *)(out + at),
                                    _mm512_xor_si512(_mm512_loadu_si512((const void *)(in + at)), blk[q]));
            }
        }
        s[12] += 16;
    }
    for (out += 1024; next < out; next += 128) /* the last kilobyte's */
        P8_STEP(next);
    __m512i h[5] = {h0, h1, h2, h3, h4};
    p8_fold(c, h);
    crypto_wipe(h, sizeof h);
    crypto_wipe(x, sizeof x);
    crypto_wipe(y, sizeof y);
}
#endif

/* h and r as three limbs of 44, 44 and 42 bits (2^0, 2^44, 2^88): the
 * products of two limbs fit 128 bits with room for the sums. 2^132 =
 * 4 * 2^130 = 20 mod p folds the high products back with a factor 20
 * (s1, s2: r's limbs are under 2^44, so r * 20 is under 2^49). hibit is
 * 2.5's 2^128 (2^40 of the third limb): 1u << 24 for a full block, 0 for
 * the padded last one.
 * Two blocks at a time when there are: h = (h + m1) r^2 + m2 r, the two
 * products independent (they overlap in the CPU, where block after block
 * waits for each multiply) and summed before one carry pass. With limbs
 * under 2^46 and factors (r, r^2, their * 20) under 2^50, the six products
 * of a limb sum under 2^99. */
static void poly1305_blocks(poly1305_ctx *c, const uint8_t *m, size_t n, uint32_t hibit)
{
#ifdef POLY1305_AVX2
    if (n >= 1024 && hibit && simd_level() == 3) {
        size_t n128 = n / 128;
        poly1305_blocks_512(c, m, n128);
        m += 128 * n128;
        n -= 128 * n128;
    }
    if (n >= 512 && hibit && avx2_allowed && __builtin_cpu_supports("avx2")) { /* AVX-512VL adds nothing here */
        size_t n64 = n / 64;
        poly1305_blocks_avx2(c, m, n64);
        m += 64 * n64;
        n -= 64 * n64;
    }
#endif
    const uint64_t r0 = c->r44[0], r1 = c->r44[1], r2 = c->r44[2];
    const uint64_t s1 = r1 * 20, s2 = r2 * 20, hi = (uint64_t)(hibit >> 24) << 40;
    const uint64_t q0 = c->rr44[0], q1 = c->rr44[1], q2 = c->rr44[2], t1 = q1 * 20, t2 = q2 * 20;
    uint64_t h0 = c->h44[0], h1 = c->h44[1], h2 = c->h44[2];
    while (n >= 32) {
        uint64_t a0 = le64(m), a1 = le64(m + 8), b0 = le64(m + 16), b1 = le64(m + 24);
        h0 += a0 & M44;
        h1 += (a0 >> 44 | a1 << 20) & M44;
        h2 += (a1 >> 24) | hi;
        uint64_t g0 = b0 & M44, g1 = (b0 >> 44 | b1 << 20) & M44, g2 = (b1 >> 24) | hi;

        u128 d0 = (u128)h0 * q0 + (u128)h1 * t2 + (u128)h2 * t1 + (u128)g0 * r0 + (u128)g1 * s2 + (u128)g2 * s1;
        u128 d1 = (u128)h0 * q1 + (u128)h1 * q0 + (u128)h2 * t2 + (u128)g0 * r1 + (u128)g1 * r0 + (u128)g2 * s2;
        u128 d2 = (u128)h0 * q2 + (u128)h1 * q1 + (u128)h2 * q0 + (u128)g0 * r2 + (u128)g1 * r1 + (u128)g2 * r0;
        POLY44_CARRY(d0, d1, d2, h0, h1, h2);

        m += 32;
        n -= 32;
    }
    while (n >= 16) {
        uint64_t t0 = le64(m), t1 = le64(m + 8);
        h0 += t0 & M44;
        h1 += (t0 >> 44 | t1 << 20) & M44;
        h2 += (t1 >> 24) | hi;

        u128 d0 = (u128)h0 * r0 + (u128)h1 * s2 + (u128)h2 * s1;
        u128 d1 = (u128)h0 * r1 + (u128)h1 * r0 + (u128)h2 * s2;
        u128 d2 = (u128)h0 * r2 + (u128)h1 * r1 + (u128)h2 * r0;
        POLY44_CARRY(d0, d1, d2, h0, h1, h2);

        m += 16;
        n -= 16;
    }
    c->h44[0] = h0;
    c->h44[1] = h1;
    c->h44[2] = h2;
}
#else
/* h and r as five 26-bit limbs (h may grow a little past 26 bits between
 * blocks); 2^130 = 5 mod p folds the high products back with a factor 5. */
static void poly1305_blocks(poly1305_ctx *c, const uint8_t *m, size_t n, uint32_t hibit)
{
    const uint32_t r0 = c->r[0], r1 = c->r[1], r2 = c->r[2], r3 = c->r[3], r4 = c->r[4];
    const uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
    uint32_t h0 = c->h[0], h1 = c->h[1], h2 = c->h[2], h3 = c->h[3], h4 = c->h[4];
    while (n >= 16) {
        h0 += le32(m + 0) & 0x3ffffff;
        h1 += (le32(m + 3) >> 2) & 0x3ffffff;
        h2 += (le32(m + 6) >> 4) & 0x3ffffff;
        h3 += (le32(m + 9) >> 6) & 0x3ffffff;
        h4 += (le32(m + 12) >> 8) | hibit;

        uint64_t d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 +
                      (uint64_t)h4 * s1;
        uint64_t d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 +
                      (uint64_t)h4 * s2;
        uint64_t d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 +
                      (uint64_t)h4 * s3;
        uint64_t d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 +
                      (uint64_t)h4 * s4;
        uint64_t d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 +
                      (uint64_t)h4 * r0;

        d1 += d0 >> 26;
        h0 = (uint32_t)d0 & 0x3ffffff;
        d2 += d1 >> 26;
        h1 = (uint32_t)d1 & 0x3ffffff;
        d3 += d2 >> 26;
        h2 = (uint32_t)d2 & 0x3ffffff;
        d4 += d3 >> 26;
        h3 = (uint32_t)d3 & 0x3ffffff;
        h0 += (uint32_t)(d4 >> 26) * 5;
        h4 = (uint32_t)d4 & 0x3ffffff;
        h1 += h0 >> 26;
        h0 &= 0x3ffffff;

        m += 16;
        n -= 16;
    }
    c->h[0] = h0;
    c->h[1] = h1;
    c->h[2] = h2;
    c->h[3] = h3;
    c->h[4] = h4;
}
#endif

void poly1305_init(poly1305_ctx *c, const uint8_t key[POLY1305_KEY_LEN])
{
    /* r clamped (2.5: r &= 0x0ffffffc0ffffffc0ffffffc0fffffff) as it is
     * cut into limbs. */
    c->r[0] = le32(key + 0) & 0x3ffffff;
    c->r[1] = (le32(key + 3) >> 2) & 0x3ffff03;
    c->r[2] = (le32(key + 6) >> 4) & 0x3ffc0ff;
    c->r[3] = (le32(key + 9) >> 6) & 0x3f03fff;
    c->r[4] = (le32(key + 12) >> 8) & 0x00fffff;
    for (int i = 0; i < 5; i++)
        c->h[i] = 0;
#ifdef POLY1305_44BIT
    uint64_t t0 = le64(key) & 0x0ffffffc0fffffff, t1 = le64(key + 8) & 0x0ffffffc0ffffffc;
    c->r44[0] = t0 & M44;
    c->r44[1] = (t0 >> 44 | t1 << 20) & M44;
    c->r44[2] = t1 >> 24;
    /* r^2, by the same multiply and carry (r is under 2^124) */
    uint64_t r0 = c->r44[0], r1 = c->r44[1], r2 = c->r44[2];
    u128 d0 = (u128)r0 * r0 + (u128)r1 * (r2 * 20) * 2;
    u128 d1 = (u128)r0 * r1 * 2 + (u128)r2 * (r2 * 20);
    u128 d2 = (u128)r0 * r2 * 2 + (u128)r1 * r1;
    POLY44_CARRY(d0, d1, d2, c->rr44[0], c->rr44[1], c->rr44[2]);
    c->pw_ready = c->pw8_ready = 0;
#else
    for (int i = 0; i < 3; i++)
        c->r44[i] = c->rr44[i] = 0;
#endif
    for (int i = 0; i < 3; i++)
        c->h44[i] = 0;
    for (int i = 0; i < 4; i++)
        c->pad[i] = le32(key + 16 + 4 * i);
    c->used = 0;
}

void poly1305_update(poly1305_ctx *c, const void *data, size_t n)
{
    const uint8_t *m = data;
    if (n == 0)
        return;
    if (c->used > 0) {
        size_t take = 16 - c->used < n ? 16 - c->used : n;
        memcpy(c->buf + c->used, m, take);
        c->used += take;
        m += take;
        n -= take;
        if (c->used < 16)
            return;
        poly1305_blocks(c, c->buf, 16, 1u << 24);
        c->used = 0;
    }
    size_t whole = n & ~(size_t)15;
    if (whole > 0) {
        poly1305_blocks(c, m, whole, 1u << 24);
        m += whole;
        n -= whole;
    }
    if (n > 0) {
        memcpy(c->buf, m, n);
        c->used = n;
    }
}

void poly1305_final(poly1305_ctx *c, uint8_t tag[POLY1305_TAG_LEN])
{
    if (c->used > 0) {
        /* The last, short block: its bytes, a 1 after them, zeros. */
        c->buf[c->used] = 1;
        for (size_t i = c->used + 1; i < 16; i++)
            c->buf[i] = 0;
        poly1305_blocks(c, c->buf, 16, 0);
    }
#ifdef POLY1305_44BIT
    uint64_t h0 = c->h44[0], h1 = c->h44[1], h2 = c->h44[2];
    /* Full carry, twice, as below: then h0, h1 < 2^44 and h2 < 2^42. */
    for (int pass = 0; pass < 2; pass++) {
        h2 += h1 >> 44;
        h1 &= M44;
        h0 += (h2 >> 42) * 5;
        h2 &= M42;
        h1 += h0 >> 44;
        h0 &= M44;
    }
    /* g = h + 5 - 2^130, taken by a mask when it does not borrow. */
    uint64_t g0 = h0 + 5;
    uint64_t g1 = h1 + (g0 >> 44);
    g0 &= M44;
    uint64_t g2 = h2 + (g1 >> 44) - ((uint64_t)1 << 42);
    g1 &= M44;
    uint64_t use_g = (g2 >> 63) - 1;
    h0 = (h0 & ~use_g) | (g0 & use_g);
    h1 = (h1 & ~use_g) | (g1 & use_g);
    h2 = (h2 & ~use_g) | (g2 & use_g);
    /* h mod 2^128 + s, as two 64-bit words with the carry between. */
    uint64_t w0 = h0 | h1 << 44, w1 = h1 >> 20 | h2 << 24;
    uint64_t p0 = (uint64_t)c->pad[0] | (uint64_t)c->pad[1] << 32, p1 = (uint64_t)c->pad[2] | (uint64_t)c->pad[3] << 32;
    u128 f = (u128)w0 + p0;
    put_le64(tag, (uint64_t)f);
    put_le64(tag + 8, w1 + p1 + (uint64_t)(f >> 64));
#else
    uint32_t h0 = c->h[0], h1 = c->h[1], h2 = c->h[2], h3 = c->h[3], h4 = c->h[4];
    /* Full carry, twice: the first may leave h1 at 2^26 exactly; after
     * the second every limb is under 2^26. */
    for (int pass = 0; pass < 2; pass++) {
        h2 += h1 >> 26;
        h1 &= 0x3ffffff;
        h3 += h2 >> 26;
        h2 &= 0x3ffffff;
        h4 += h3 >> 26;
        h3 &= 0x3ffffff;
        h0 += (h4 >> 26) * 5;
        h4 &= 0x3ffffff;
        h1 += h0 >> 26;
        h0 &= 0x3ffffff;
    }

    /* g = h + 5 - 2^130: if it does not go negative, h >= p and g is h
     * mod p. Chosen by a mask, not a branch. */
    uint32_t g0 = h0 + 5;
    uint32_t g1 = h1 + (g0 >> 26);
    g0 &= 0x3ffffff;
    uint32_t g2 = h2 + (g1 >> 26);
    g1 &= 0x3ffffff;
    uint32_t g3 = h3 + (g2 >> 26);
    g2 &= 0x3ffffff;
    uint32_t g4 = h4 + (g3 >> 26) - (1u << 26);
    g3 &= 0x3ffffff;
    uint32_t use_g = (g4 >> 31) - 1; /* all ones when g4 did not borrow */
    h0 = (h0 & ~use_g) | (g0 & use_g);
    h1 = (h1 & ~use_g) | (g1 & use_g);
    h2 = (h2 & ~use_g) | (g2 & use_g);
    h3 = (h3 & ~use_g) | (g3 & use_g);
    h4 = (h4 & ~use_g) | (g4 & use_g);

    /* h mod 2^128 as four words, plus s. */
    uint32_t w0 = h0 | h1 << 26;
    uint32_t w1 = h1 >> 6 | h2 << 20;
    uint32_t w2 = h2 >> 12 | h3 << 14;
    uint32_t w3 = h3 >> 18 | h4 << 8;
    uint64_t f = (uint64_t)w0 + c->pad[0];
    put_le32(tag + 0, (uint32_t)f);
    f = (uint64_t)w1 + c->pad[1] + (f >> 32);
    put_le32(tag + 4, (uint32_t)f);
    f = (uint64_t)w2 + c->pad[2] + (f >> 32);
    put_le32(tag + 8, (uint32_t)f);
    f = (uint64_t)w3 + c->pad[3] + (f >> 32);
    put_le32(tag + 12, (uint32_t)f);
#endif
    crypto_wipe(c, sizeof *c);
}

void poly1305(const uint8_t key[POLY1305_KEY_LEN], const void *data, size_t n, uint8_t tag[POLY1305_TAG_LEN])
{
    poly1305_ctx c;
    poly1305_init(&c, key);
    poly1305_update(&c, data, n);
    poly1305_final(&c, tag);
}

void poly1305_key_gen(const uint8_t key[CHACHA20_KEY_LEN], const uint8_t nonce[CHACHA20_NONCE_LEN],
                      uint8_t out[POLY1305_KEY_LEN])
{
    uint8_t block[CHACHA20_BLOCK_LEN];
    chacha20_block(key, 0, nonce, block);
    memcpy(out, block, POLY1305_KEY_LEN);
    crypto_wipe(block, sizeof block);
}

/* ---------------------------------------------------------------- AEAD --- */

static const uint8_t zeros[16];

/* 2.8: mac_data = AD || pad16(AD) || C || pad16(C) || le64(|AD|) || le64(|C|). */
static void aead_tag(const uint8_t otk[POLY1305_KEY_LEN], const void *ad, size_t adlen, const void *cipher, size_t n,
                     uint8_t tag[AEAD_TAG_LEN])
{
    poly1305_ctx c;
    uint8_t lens[16];
    poly1305_init(&c, otk);
    poly1305_update(&c, ad, adlen);
    poly1305_update(&c, zeros, (16 - adlen % 16) % 16);
    poly1305_update(&c, cipher, n);
    poly1305_update(&c, zeros, (16 - n % 16) % 16);
    put_le64(lens, (uint64_t)adlen);
    put_le64(lens + 8, (uint64_t)n);
    poly1305_update(&c, lens, sizeof lens);
    poly1305_final(&c, tag);
}

int aead_seal(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *plain, size_t n, uint8_t *out, uint8_t tag[AEAD_TAG_LEN])
{
    uint32_t s[16];
    uint8_t otk[POLY1305_KEY_LEN];
    if ((uint64_t)n > AEAD_MAX_TEXT)
        return -1;
    poly1305_key_gen(key, nonce, otk);
    chacha20_setup(s, key, 1, nonce);
#ifdef POLY1305_AVX2
    if (n >= 2048 && simd_level() == 3) {
        poly1305_ctx c;
        uint8_t lens[16];
        size_t done = n / 1024 * 1024;
        poly1305_init(&c, otk);
        poly1305_update(&c, ad, adlen);
        poly1305_update(&c, zeros, (16 - adlen % 16) % 16); /* c->used is 0 */
        seal_stitched_512(s, plain, out, n / 1024, &c);
        chacha20_stream(s, (const uint8_t *)plain + done, n - done, out + done);
        poly1305_update(&c, out + done, n - done);
        poly1305_update(&c, zeros, (16 - n % 16) % 16);
        put_le64(lens, (uint64_t)adlen);
        put_le64(lens + 8, (uint64_t)n);
        poly1305_update(&c, lens, sizeof lens);
        poly1305_final(&c, tag);
        crypto_wipe(s, sizeof s);
        crypto_wipe(otk, sizeof otk);
        return 0;
    }
#endif
    chacha20_stream(s, plain, n, out);
    aead_tag(otk, ad, adlen, out, n, tag);
    crypto_wipe(s, sizeof s);
    crypto_wipe(otk, sizeof otk);
    return 0;
}

int aead_open(const uint8_t key[AEAD_KEY_LEN], const uint8_t nonce[AEAD_NONCE_LEN], const void *ad, size_t adlen,
              const void *cipher, size_t n, const uint8_t tag[AEAD_TAG_LEN], uint8_t *out)
{
    uint32_t s[16];
    uint8_t otk[POLY1305_KEY_LEN], want[AEAD_TAG_LEN];
    volatile uint8_t diff = 0;
    int good;
    if ((uint64_t)n > AEAD_MAX_TEXT)
        goto refused;
    poly1305_key_gen(key, nonce, otk);
    aead_tag(otk, ad, adlen, cipher, n, want);
    crypto_wipe(otk, sizeof otk);
    for (int i = 0; i < AEAD_TAG_LEN; i++)
        diff |= want[i] ^ tag[i];
    crypto_wipe(want, sizeof want);
    good = diff == 0;
    if (!good)
        goto refused;
    chacha20_setup(s, key, 1, nonce);
    chacha20_stream(s, cipher, n, out);
    crypto_wipe(s, sizeof s);
    return 0;
refused:
    if (out != cipher && n > 0 && (uint64_t)n <= AEAD_MAX_TEXT)
        memset(out, 0, n);
    return -1;
}
