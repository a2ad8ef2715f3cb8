/*
 * unit_crypto.c - issue 13's primitives (lib/chacha20poly1305.c,
 * lib/x25519.c, lib/hkdf.c) against every vector of RFC 8439 (2.1.1 to
 * 2.8.2, Appendix A), RFC 7748 (5.2, 6.1) and RFC 5869 (A.1 to A.3), then
 * Wycheproof's JSON files, valid and invalid cases, read from
 * $SMP_VECTORS, else ../shared/vectors (or ../../shared/vectors, for a
 * worktree beside the main checkout); SKIPs visibly when absent.
 * --constant-time: only the memcheck check (tests/crypto_ct.t runs it).
 * SMP_X25519_MILLION=1 adds RFC 7748's 1,000,000-iteration check (minutes).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

#include "chacha20poly1305.h"
#include "hkdf.h"
#include "sha256.h"
#include "tap.h"
#include "x25519.h"

/* ---------------------------------------------------------------- hex --- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n hex digits into bytes: their count, or -1 if odd, not hex or over cap. */
static long unhexn(const char *s, size_t n, uint8_t *out, size_t cap)
{
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

static long unhex(const char *s, uint8_t *out, size_t cap)
{
    return unhexn(s, strlen(s), out, cap);
}

/* A buffer of hex, for the RFC vectors (all under 1 KiB). */
typedef struct {
    uint8_t b[1024];
    size_t n;
} bytes;

static bytes H(const char *s)
{
    bytes r;
    long n = unhex(s, r.b, sizeof r.b);
    if (n < 0) {
        printf("Bail out! bad hex in the test: %.40s\n", s);
        exit(2);
    }
    r.n = (size_t)n;
    return r;
}

static int same(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

static void skip(const char *why)
{
    tap_n++;
    printf("ok %d # SKIP %s\n", tap_n, why);
}

/* ------------------------------------------------------- RFC 8439 data --- */

/* RFC 8439 A.1: the block function. */
static const struct { uint32_t counter; const char *key, *nonce, *out; } a1[] = {
    {0, "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a37"
        "6a43b8f41518a11cc387b669b2ee6586"},
    {1, "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed29b721769ce64e43d57133b074d839d5"
        "31ed1f28510afb45ace10a1f4b794d6f"},
    {1, "0000000000000000000000000000000000000000000000000000000000000001",
        "000000000000000000000000",
        "3aeb5224ecf849929b9d828db1ced4dd832025e8018b8160b82284f3c949aa5a8eca00bbb4a73bdad192b5c42f73f2fd"
        "4e273644c8b36125a64addeb006c13a0"},
    {2, "00ff000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "72d54dfbf12ec44b362692df94137f328fea8da73990265ec1bbbea1ae9af0ca13b25aa26cb4a648cb9b9d1be65b2c09"
        "24a66c54d545ec1b7374f4872e99f096"},
    {0, "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000002",
        "c2c64d378cd536374ae204b9ef933fcd1a8b2288b3dfa49672ab765b54ee27c78a970e0e955c14f3a88e741b97c286f7"
        "5f8fc299e8148362fa198a39531bed6d"},
};
/* RFC 8439 A.2: encryption. */
static const struct { uint32_t counter; const char *key, *nonce, *plain, *cipher; } a2[] = {
    {0, "0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000",
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a37"
        "6a43b8f41518a11cc387b669b2ee6586"},
    {1, "0000000000000000000000000000000000000000000000000000000000000001",
        "000000000000000000000002",
        "416e79207375626d697373696f6e20746f20746865204945544620696e74656e6465642062792074686520436f6e7472"
        "696275746f7220666f72207075626c69636174696f6e20617320616c6c206f722070617274206f6620616e2049455446"
        "20496e7465726e65742d4472616674206f722052464320616e6420616e792073746174656d656e74206d616465207769"
        "7468696e2074686520636f6e74657874206f6620616e204945544620616374697669747920697320636f6e7369646572"
        "656420616e20224945544620436f6e747269627574696f6e222e20537563682073746174656d656e747320696e636c75"
        "6465206f72616c2073746174656d656e747320696e20494554462073657373696f6e732c2061732077656c6c20617320"
        "7772697474656e20616e6420656c656374726f6e696320636f6d6d756e69636174696f6e73206d61646520617420616e"
        "792074696d65206f7220706c6163652c207768696368206172652061646472657373656420746f",
        "a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec2a97948bd3722915c8f3d337f7d37005"
        "0e9e96d647b7c39f56e031ca5eb6250d4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7c6132f420e527950"
        "42bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85ad00f8449ed8f72d0d662ab052691ca66"
        "424bc86d2df80ea41f43abf937d3259dc4b2d0dfb48a6c9139ddd7f76966e928e635553ba76c5c879d7b35d49eb2e62b"
        "0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf3daa8b6ccc3aaf9f3979c92b3720fc88dc95ed84"
        "a1be059c6499b9fda236e7e818b04b0bc39c1e876b193bfe5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f"
        "5869ca52c5b83fa36ff216b9c1d30062bebcfd2dc5bce0911934fda79a86f6e698ced759c3ff9b6477338f3da4f9cd85"
        "14ea9982ccafb341b2384dd902f3d1ab7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221"},
    {42, "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
        "000000000000000000000002",
        "2754776173206272696c6c69672c20616e642074686520736c6974687920746f7665730a446964206779726520616e64"
        "2067696d626c6520696e2074686520776162653a0a416c6c206d696d737920776572652074686520626f726f676f7665"
        "732c0a416e6420746865206d6f6d65207261746873206f757467726162652e",
        "62e6347f95ed87a45ffae7426f27a1df5fb69110044c0d73118effa95b01e5cf166d3df2d721caf9b21e5fb14c616871"
        "fd84c54f9d65b283196c7fe4f60553ebf39c6402c42234e32a356b3e764312a61a5532055716ead6962568f87d3f3f77"
        "04c6a8d1bcd1bf4d50d6154b6da731b187b58dfd728afa36757a797ac188d1"},
};
/* RFC 8439 A.3: Poly1305, #5 to #11 the carry and reduction edge cases (key = R || S). */
static const struct { const char *key, *msg, *tag; } a3[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000",
        "00000000000000000000000000000000"},
    {"0000000000000000000000000000000036e5f6b5c5e06070f0efca96227a863e",
        "416e79207375626d697373696f6e20746f20746865204945544620696e74656e6465642062792074686520436f6e7472"
        "696275746f7220666f72207075626c69636174696f6e20617320616c6c206f722070617274206f6620616e2049455446"
        "20496e7465726e65742d4472616674206f722052464320616e6420616e792073746174656d656e74206d616465207769"
        "7468696e2074686520636f6e74657874206f6620616e204945544620616374697669747920697320636f6e7369646572"
        "656420616e20224945544620436f6e747269627574696f6e222e20537563682073746174656d656e747320696e636c75"
        "6465206f72616c2073746174656d656e747320696e20494554462073657373696f6e732c2061732077656c6c20617320"
        "7772697474656e20616e6420656c656374726f6e696320636f6d6d756e69636174696f6e73206d61646520617420616e"
        "792074696d65206f7220706c6163652c207768696368206172652061646472657373656420746f",
        "36e5f6b5c5e06070f0efca96227a863e"},
    {"36e5f6b5c5e06070f0efca96227a863e00000000000000000000000000000000",
        "416e79207375626d697373696f6e20746f20746865204945544620696e74656e6465642062792074686520436f6e7472"
        "696275746f7220666f72207075626c69636174696f6e20617320616c6c206f722070617274206f6620616e2049455446"
        "20496e7465726e65742d4472616674206f722052464320616e6420616e792073746174656d656e74206d616465207769"
        "7468696e2074686520636f6e74657874206f6620616e204945544620616374697669747920697320636f6e7369646572"
        "656420616e20224945544620436f6e747269627574696f6e222e20537563682073746174656d656e747320696e636c75"
        "6465206f72616c2073746174656d656e747320696e20494554462073657373696f6e732c2061732077656c6c20617320"
        "7772697474656e20616e6420656c656374726f6e696320636f6d6d756e69636174696f6e73206d61646520617420616e"
        "792074696d65206f7220706c6163652c207768696368206172652061646472657373656420746f",
        "f3477e7cd95417af89a6b8794c310cf0"},
    {"1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
        "2754776173206272696c6c69672c20616e642074686520736c6974687920746f7665730a446964206779726520616e64"
        "2067696d626c6520696e2074686520776162653a0a416c6c206d696d737920776572652074686520626f726f676f7665"
        "732c0a416e6420746865206d6f6d65207261746873206f757467726162652e",
        "4541669a7eaaee61e708dc7cbcc5eb62"},
    {"0200000000000000000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffff",
        "03000000000000000000000000000000"},
    {"02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
        "02000000000000000000000000000000",
        "03000000000000000000000000000000"},
    {"0100000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffff0ffffffffffffffffffffffffffffff11000000000000000000000000000000",
        "05000000000000000000000000000000"},
    {"0100000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffffbfefefefefefefefefefefefefefefe01010101010101010101010101010101",
        "00000000000000000000000000000000"},
    {"0200000000000000000000000000000000000000000000000000000000000000",
        "fdffffffffffffffffffffffffffffff",
        "faffffffffffffffffffffffffffffff"},
    {"0100000000000000040000000000000000000000000000000000000000000000",
        "e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000"
        "01000000000000000000000000000000",
        "14000000000000005500000000000000"},
    {"0100000000000000040000000000000000000000000000000000000000000000",
        "e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000",
        "13000000000000000000000000000000"},
};
/* RFC 8439 A.4: Poly1305 key generation. */
static const struct { const char *key, *nonce, *otk; } a4[] = {
    {"0000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000",
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"},
    {"0000000000000000000000000000000000000000000000000000000000000001",
        "000000000000000000000002",
        "ecfa254f845f647473d3cb140da9e87606cb33066c447b87bc2666dde3fbb739"},
    {"1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
        "000000000000000000000002",
        "965e3bc6f9ec7ed9560808f4d229f94b137ff275ca9b3fcbdd59deaad23310ae"},
};
/* RFC 8439 A.5: AEAD decryption. */
static const char *a5_key = "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
static const char *a5_cipher = "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0"
        "bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
        "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9"
        "9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
        "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130"
        "305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b";
static const char *a5_nonce = "000000000102030405060708";
static const char *a5_ad = "f33388860000000000004e91";
static const char *a5_tag = "eead9d67890cbb22392336fea1851f38";
static const char *a5_plain = "496e7465726e65742d4472616674732061726520647261667420646f63756d656e74732076616c696420666f72206120"
        "6d6178696d756d206f6620736978206d6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
        "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d656e747320617420616e792074696d652e"
        "20497420697320696e617070726f70726961746520746f2075736520496e7465726e65742d4472616674732061732072"
        "65666572656e6365206d6174657269616c206f7220746f2063697465207468656d206f74686572207468616e20617320"
        "2fe2809c776f726b20696e2070726f67726573732e2fe2809d";

/* 2.4.2, 2.8.2: the sunscreen text. */
static const char *sunscreen = "4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a20"
                               "4966204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f72207468"
                               "65206675747572652c2073756e73637265656e20776f756c642062652069742e";

static void test_rfc8439_chacha(void)
{
    /* 2.1.1: the quarter round on four numbers. */
    uint32_t s[16] = {0x11111111, 0x01020304, 0x9b8d6f43, 0x01234567};
    chacha20_quarter_round(s, 0, 1, 2, 3);
    ok(s[0] == 0xea2a92f4 && s[1] == 0xcb1cf8ce && s[2] == 0x4581472e && s[3] == 0x5881c4bb,
       "RFC 8439 2.1.1: quarter round");

    /* 2.2.1: QUARTERROUND(2, 7, 8, 13) on a state. */
    uint32_t st[16] = {0x879531e0, 0xc5ecf37d, 0x516461b1, 0xc9a62f8a, 0x44c20ef3, 0x3390af7f,
                       0xd9fc690b, 0x2a5f714c, 0x53372767, 0xb00a5631, 0x974c541a, 0x359e9963,
                       0x5c971061, 0x3d631689, 0x2098d9d6, 0x91dbd320};
    const uint32_t want[16] = {0x879531e0, 0xc5ecf37d, 0xbdb886dc, 0xc9a62f8a, 0x44c20ef3, 0x3390af7f,
                               0xd9fc690b, 0xcfacafd2, 0xe46bea80, 0xb00a5631, 0x974c541a, 0x359e9963,
                               0x5c971061, 0xccc07c79, 0x2098d9d6, 0x91dbd320};
    chacha20_quarter_round(st, 2, 7, 8, 13);
    ok(same(st, want, sizeof want), "RFC 8439 2.2.1: quarter round on the state");

    /* 2.3.2: the block function. */
    bytes key = H("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    bytes nonce = H("000000090000004a00000000");
    bytes blk = H("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
                  "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e");
    uint8_t out[1024];
    chacha20_block(key.b, 1, nonce.b, out);
    ok(same(out, blk.b, 64), "RFC 8439 2.3.2: block function");

    /* 2.4.2: encryption. */
    bytes plain = H(sunscreen);
    bytes cipher = H("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
                     "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
                     "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
                     "5af90bbf74a35be6b40b8eedf2785e42874d");
    nonce = H("000000000000004a00000000");
    is_int(chacha20_xor(key.b, 1, nonce.b, plain.b, plain.n, out), 0, "RFC 8439 2.4.2: chacha20_xor");
    ok(plain.n == 114 && same(out, cipher.b, cipher.n), "RFC 8439 2.4.2: ciphertext");
    /* In place, and back. */
    memcpy(out, cipher.b, cipher.n);
    chacha20_xor(key.b, 1, nonce.b, out, cipher.n, out);
    ok(same(out, plain.b, plain.n), "RFC 8439 2.4.2: in place decrypts");

    /* A.1, A.2. */
    for (size_t i = 0; i < sizeof a1 / sizeof a1[0]; i++) {
        bytes k = H(a1[i].key), n = H(a1[i].nonce), o = H(a1[i].out);
        chacha20_block(k.b, a1[i].counter, n.b, out);
        ok(same(out, o.b, 64), "RFC 8439 A.1 #%zu: block function", i + 1);
    }
    for (size_t i = 0; i < sizeof a2 / sizeof a2[0]; i++) {
        bytes k = H(a2[i].key), n = H(a2[i].nonce), p = H(a2[i].plain), c = H(a2[i].cipher);
        int rc = chacha20_xor(k.b, a2[i].counter, n.b, p.b, p.n, out);
        ok(rc == 0 && p.n == c.n && same(out, c.b, c.n), "RFC 8439 A.2 #%zu: encryption (%zu bytes)", i + 1, p.n);
    }

    /* Long streams (four blocks at a time where the compiler has vectors)
     * against the block function, one block at a time, up to the last
     * counter; every length 0..1100 from counter 2^32 - 18. */
    static uint8_t zz[1100], stream[1100], blocks[1152];
    int match = 1;
    for (uint32_t b = 0; b < 18; b++)
        chacha20_block(key.b, 0xffffffeeu + b, nonce.b, blocks + 64 * b);
    for (size_t len = 0; len <= sizeof zz; len++) {
        memset(stream, 0xaa, sizeof stream);
        match &= chacha20_xor(key.b, 0xffffffeeu, nonce.b, zz, len, stream) == 0 && same(stream, blocks, len) &&
                 (len == sizeof stream || stream[len] == 0xaa);
    }
    ok(match, "chacha20_xor of 0..1100 bytes up to counter 2^32-1 = the block function's output");

    /* The 32-bit counter: block 2^32 - 1 is the last one. */
    uint8_t z[130] = {0};
    is_int(chacha20_xor(key.b, 0xffffffffu, nonce.b, z, 64, out), 0, "counter 2^32-1: one block allowed");
    memset(out, 0xaa, 65);
    is_int(chacha20_xor(key.b, 0xffffffffu, nonce.b, z, 65, out), -1, "counter 2^32-1: a 65th byte refused");
    ok(out[0] == 0xaa && out[64] == 0xaa, "counter overflow: nothing written");
    is_int(chacha20_xor(key.b, 0xfffffffeu, nonce.b, z, 128, out), 0, "counter 2^32-2: two blocks allowed");
    is_int(chacha20_xor(key.b, 0xfffffffeu, nonce.b, z, 129, out), -1, "counter 2^32-2: three refused");
}

static void test_rfc8439_poly1305(void)
{
    /* 2.5.2. */
    bytes key = H("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    bytes msg = H("43727970746f6772617068696320466f72756d2052657365617263682047726f7570");
    bytes tag = H("a8061dc1305136c6c22b8baf0c0127a9");
    uint8_t t[16];
    poly1305(key.b, msg.b, msg.n, t);
    ok(same(t, tag.b, 16), "RFC 8439 2.5.2: Poly1305 tag");

    /* A.3 #1 to #11 (#5 to #11: limbs, carries, the final reduction). */
    for (size_t i = 0; i < sizeof a3 / sizeof a3[0]; i++) {
        bytes k = H(a3[i].key), m = H(a3[i].msg), w = H(a3[i].tag);
        poly1305(k.b, m.b, m.n, t);
        ok(k.n == 32 && same(t, w.b, 16), "RFC 8439 A.3 #%zu: Poly1305 (%zu bytes)", i + 1, m.n);
    }

    /* Incremental in odd pieces = one shot. */
    bytes big = H(a3[1].msg);
    int all = 1;
    for (size_t step = 1; step <= 33; step++) {
        poly1305_ctx c;
        bytes k = H(a3[1].key), w = H(a3[1].tag);
        poly1305_init(&c, k.b);
        for (size_t off = 0; off < big.n; off += step)
            poly1305_update(&c, big.b + off, big.n - off < step ? big.n - off : step);
        poly1305_final(&c, t);
        all &= same(t, w.b, 16);
    }
    ok(all, "Poly1305 fed in pieces of 1 to 33 bytes: the same tag");

    /* 2.6.2 and A.4: key generation. */
    bytes k = H("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    bytes n = H("000000000001020304050607");
    bytes otk = H("8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646");
    uint8_t o[32];
    poly1305_key_gen(k.b, n.b, o);
    ok(same(o, otk.b, 32), "RFC 8439 2.6.2: Poly1305 key generation");
    for (size_t i = 0; i < sizeof a4 / sizeof a4[0]; i++) {
        bytes kk = H(a4[i].key), nn = H(a4[i].nonce), w = H(a4[i].otk);
        poly1305_key_gen(kk.b, nn.b, o);
        ok(same(o, w.b, 32), "RFC 8439 A.4 #%zu: Poly1305 key generation", i + 1);
    }
}

static void test_rfc8439_aead(void)
{
    /* 2.8.2. */
    bytes key = H("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    bytes nonce = H("070000004041424344454647");
    bytes ad = H("50515253c0c1c2c3c4c5c6c7");
    bytes plain = H(sunscreen);
    bytes cipher = H("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                     "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                     "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                     "3ff4def08e4b7a9de576d26586cec64b6116");
    bytes tag = H("1ae10b594f09e26a7e902ecbd0600691");
    uint8_t out[1024], t[16], back[1024];
    is_int(aead_seal(key.b, nonce.b, ad.b, ad.n, plain.b, plain.n, out, t), 0, "RFC 8439 2.8.2: aead_seal");
    ok(same(out, cipher.b, cipher.n), "RFC 8439 2.8.2: ciphertext");
    ok(same(t, tag.b, 16), "RFC 8439 2.8.2: tag");
    is_int(aead_open(key.b, nonce.b, ad.b, ad.n, cipher.b, cipher.n, tag.b, back), 0, "RFC 8439 2.8.2: aead_open");
    ok(same(back, plain.b, plain.n), "RFC 8439 2.8.2: plaintext back");

    /* In place both ways. */
    memcpy(out, plain.b, plain.n);
    aead_seal(key.b, nonce.b, ad.b, ad.n, out, plain.n, out, t);
    ok(same(out, cipher.b, cipher.n) && same(t, tag.b, 16), "aead_seal in place");
    is_int(aead_open(key.b, nonce.b, ad.b, ad.n, out, cipher.n, t, out), 0, "aead_open in place");
    ok(same(out, plain.b, plain.n), "aead_open in place: plaintext");

    /* A flipped bit anywhere in the ciphertext, the tag or the AD: refused,
     * and out holds nothing of the plaintext (zeros). */
    int refused = 0, zeroed = 0, tries = 0;
    for (size_t bit = 0; bit < cipher.n * 8; bit += 7, tries++) {
        bytes c = cipher;
        c.b[bit / 8] ^= (uint8_t)(1 << bit % 8);
        memset(back, 0x55, sizeof back);
        refused += aead_open(key.b, nonce.b, ad.b, ad.n, c.b, c.n, tag.b, back) == -1;
        uint8_t any = 0;
        for (size_t i = 0; i < c.n; i++)
            any |= back[i];
        zeroed += any == 0 && back[c.n] == 0x55;
    }
    is_int(refused, tries, "a flipped ciphertext bit: refused (%d bits)", tries);
    is_int(zeroed, tries, "a flipped ciphertext bit: out zeroed, nothing past it touched");
    refused = 0;
    for (int bit = 0; bit < 128; bit++) {
        bytes tg = tag;
        tg.b[bit / 8] ^= (uint8_t)(1 << bit % 8);
        refused += aead_open(key.b, nonce.b, ad.b, ad.n, cipher.b, cipher.n, tg.b, back) == -1;
    }
    is_int(refused, 128, "every flipped tag bit: refused");
    refused = 0;
    for (size_t bit = 0; bit < ad.n * 8; bit++) {
        bytes a = ad;
        a.b[bit / 8] ^= (uint8_t)(1 << bit % 8);
        refused += aead_open(key.b, nonce.b, a.b, a.n, cipher.b, cipher.n, tag.b, back) == -1;
    }
    is_int(refused, (int)ad.n * 8, "every flipped AD bit: refused");
    is_int(aead_open(key.b, nonce.b, ad.b, ad.n - 1, cipher.b, cipher.n, tag.b, back), -1, "a shorter AD: refused");
    is_int(aead_open(key.b, nonce.b, ad.b, ad.n, cipher.b, cipher.n - 1, tag.b, back), -1,
           "a truncated ciphertext: refused");
    nonce.b[11] ^= 1;
    is_int(aead_open(key.b, nonce.b, ad.b, ad.n, cipher.b, cipher.n, tag.b, back), -1, "another nonce: refused");
    /* In place and refused: the ciphertext stays as it was. */
    memcpy(out, cipher.b, cipher.n);
    aead_open(key.b, nonce.b, ad.b, ad.n, out, cipher.n, tag.b, out);
    ok(same(out, cipher.b, cipher.n), "refused in place: ciphertext untouched, nothing decrypted");

    /* A.5: decryption. */
    bytes k5 = H(a5_key), n5 = H(a5_nonce), ad5 = H(a5_ad), c5 = H(a5_cipher), t5 = H(a5_tag), p5 = H(a5_plain);
    is_int(aead_open(k5.b, n5.b, ad5.b, ad5.n, c5.b, c5.n, t5.b, back), 0, "RFC 8439 A.5: aead_open");
    ok(c5.n == 265 && p5.n == 265 && same(back, p5.b, p5.n), "RFC 8439 A.5: plaintext");

    /* Lengths past the 32-bit counter's 2^38 - 64 bytes: refused before
     * anything is read (the pointers are small buffers on purpose). */
    if (sizeof(size_t) > 4) {
        size_t huge = (size_t)AEAD_MAX_TEXT + 1;
        is_int(aead_seal(key.b, nonce.b, NULL, 0, out, huge, out, t), -1, "aead_seal: 2^38 - 63 bytes refused");
        is_int(aead_open(key.b, nonce.b, NULL, 0, out, huge, t, out), -1, "aead_open: 2^38 - 63 bytes refused");
    } else {
        skip("size_t of 32 bits: no length past 2^38");
        skip("size_t of 32 bits: no length past 2^38");
    }
    /* Empty everything. */
    uint8_t e[1];
    is_int(aead_seal(key.b, nonce.b, NULL, 0, NULL, 0, e, t), 0, "aead_seal of nothing");
    is_int(aead_open(key.b, nonce.b, NULL, 0, NULL, 0, t, e), 0, "aead_open of nothing");
    t[0] ^= 1;
    is_int(aead_open(key.b, nonce.b, NULL, 0, NULL, 0, t, e), -1, "aead_open of nothing, wrong tag: refused");
}

/* Random sizes 0..4096 with random AD: open(seal(x)) == x, in place or
 * not, and one flipped byte refused. */
static void test_aead_roundtrip(void)
{
    static uint8_t plain[4096], c[4096], back[4096], ad[64];
    uint8_t key[32], nonce[12], tag[16];
    int good = 0, bad = 0, rounds = 300;
    for (int r = 0; r < rounds; r++) {
        size_t n = r < 70 ? (size_t)r : (size_t)(tap_rand() % 4097), adn = (size_t)(tap_rand() % 65);
        for (size_t i = 0; i < 32; i++)
            key[i] = (uint8_t)tap_rand();
        for (size_t i = 0; i < 12; i++)
            nonce[i] = (uint8_t)tap_rand();
        for (size_t i = 0; i < n; i++)
            plain[i] = (uint8_t)tap_rand();
        for (size_t i = 0; i < adn; i++)
            ad[i] = (uint8_t)tap_rand();
        aead_seal(key, nonce, ad, adn, plain, n, c, tag);
        int inplace = r % 2;
        if (inplace) {
            memcpy(back, c, n);
            good += aead_open(key, nonce, ad, adn, back, n, tag, back) == 0 && same(back, plain, n);
        } else {
            good += aead_open(key, nonce, ad, adn, c, n, tag, back) == 0 && same(back, plain, n);
        }
        size_t where = (size_t)(tap_rand() % (n + adn + 16));
        uint8_t flip = (uint8_t)(1 + tap_rand() % 255);
        if (where < n)
            c[where] ^= flip;
        else if (where < n + adn)
            ad[where - n] ^= flip;
        else
            tag[where - n - adn] ^= flip;
        bad += aead_open(key, nonce, ad, adn, c, n, tag, back) == -1;
    }
    is_int(good, rounds, "random sizes 0..4096, random AD: aead_open(aead_seal(x)) == x");
    is_int(bad, rounds, "random sizes: one changed byte of ciphertext, AD or tag refused");
}

/* Texts past the RFC's and Wycheproof's lengths (they stop under 512
 * bytes, where the eight-block path starts): the AEAD of RFC 8439 A.5's
 * shape on 511 to 65,613 bytes, against the SHA-256 of ciphertext || tag
 * from another implementation (Python's cryptography, OpenSSL's:
 * ChaCha20Poly1305(bytes(range(32))).encrypt(nonce, text, ad)), and
 * opened back; and chacha20_xor against block after block of
 * chacha20_block (2.3, checked by A.1) up to the counter's last value. */
static void test_long_texts(void)
{
    static const struct { size_t n; const char *sha; } kat[] = {
        {511, "709e450c10f50e2d45608a27ff42a776b9458a0506b9b911905b543b06cc7c20"},
        {512, "974f2762bd48caf8a918a740ac528db06c219a5d3869fb3f4edb95cc04b619a7"},
        {513, "1d9efdfdc1986a8705bcc2943ce4892f7da1943bace03edbf79091b75bd78510"},
        {1023, "20153964b9b3fa686184afff72f04e7fa027dfe2c0721602b3dd94c59567a4dd"},
        {1024, "3baeee76a88db61309df70dae407624beaee961515e8c9a0c6b535b2eca1d9c7"},
        {1025, "eec66c5093f8ef8d499b6308eaf0a02b20a26a44dc81aab11659f189e5b71cb3"},
        {1400, "732112f6e66ce20e22dc5307fa46c5397ffb2a4b698cb91d6335e95721e926e8"},
        {2111, "c93295c0696df696c6e01e6107de3b979699ff9c6bdf064847f839a768ccd350"},
        {4099, "86354422b61edf4dfe70672ad616ca75dc9b7bba70b16043a39a1fdc6951b8bf"},
        {60000, "4a13d1ffa6f2d1027e88f50a3f79583fe7aefeda2062dd600f18853020dd4db5"},
        {65613, "29fad90608df6ba68de1171e41f5d3a7e4d0bd90bae625620c020bb17fd2192a"},
    };
    static uint8_t text[65613 + 16], back[65613];
    uint8_t key[32], sum[SHA256_LEN];
    bytes nonce = H("070000004041424344454647"), ad = H("50515253c0c1c2c3c4c5c6c7");
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        size_t n = kat[k].n;
        for (size_t i = 0; i < n; i++)
            text[i] = (uint8_t)(i * 31 + 7);
        aead_seal(key, nonce.b, ad.b, ad.n, text, n, text, text + n);
        sha256(text, n + 16, sum);
        ok(same(sum, H(kat[k].sha).b, SHA256_LEN), "AEAD of %zu bytes: the ciphertext and tag OpenSSL makes", n);
        int good = aead_open(key, nonce.b, ad.b, ad.n, text, n, text + n, back) == 0;
        for (size_t i = 0; good && i < n; i++)
            good = back[i] == (uint8_t)(i * 31 + 7);
        ok(good, "AEAD of %zu bytes: opened back", n);
    }
    /* 41 blocks from 2^32 - 41: five of eight (or two of sixteen, one of
     * eight), one of one, the last at 2^32 - 1 */
    static uint8_t ks[41 * 64], blocks[41 * 64];
    uint32_t first = 0xffffffffu - 40;
    memset(ks, 0, sizeof ks);
    int rc = chacha20_xor(key, first, nonce.b, ks, sizeof ks, ks);
    for (uint32_t b = 0; b < 41; b++)
        chacha20_block(key, first + b, nonce.b, blocks + 64 * b);
    ok(rc == 0 && same(ks, blocks, sizeof ks), "chacha20_xor of 41 blocks up to counter 2^32 - 1: chacha20_block's");
    /* 300 bytes from 2^32 - 5: a last run of under eight blocks whose
     * unused lanes pass the counter's end */
    first = 0xffffffffu - 4;
    memset(ks, 0, 300);
    rc = chacha20_xor(key, first, nonce.b, ks, 300, ks);
    for (uint32_t b = 0; b < 5; b++)
        chacha20_block(key, first + b, nonce.b, blocks + 64 * b);
    ok(rc == 0 && same(ks, blocks, 300), "chacha20_xor of 300 bytes up to counter 2^32 - 1: chacha20_block's");
}

/* ------------------------------------------------------------ RFC 7748 --- */

static void test_rfc7748(void)
{
    uint8_t out[32];
    bytes k = H("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    bytes u = H("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    bytes w = H("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    is_int(x25519(out, k.b, u.b), 0, "RFC 7748 5.2 #1: x25519");
    ok(same(out, w.b, 32), "RFC 7748 5.2 #1: output");
    /* The second's u has its top bit set: it must be cleared. */
    k = H("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
    u = H("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
    w = H("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
    is_int(x25519(out, k.b, u.b), 0, "RFC 7748 5.2 #2: x25519");
    ok(same(out, w.b, 32), "RFC 7748 5.2 #2: output (u's top bit cleared)");

    /* Iterated: k = X25519(k, u), u = old k, from k = u = 9. */
    uint8_t kk[32] = {9}, uu[32] = {9}, t[32];
    bytes w1 = H("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    bytes w1000 = H("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
    bytes w1m = H("7c3911e0ab2586fd864497297e575e6f3bc601c0883c30df5f4dd2d24f665424");
    const char *million = getenv("SMP_X25519_MILLION");
    long iters = million && *million == '1' ? 1000000 : 1000;
    for (long i = 1; i <= iters; i++) {
        x25519(t, kk, uu);
        memcpy(uu, kk, 32);
        memcpy(kk, t, 32);
        if (i == 1)
            ok(same(kk, w1.b, 32), "RFC 7748 5.2: after 1 iteration");
        if (i == 1000)
            ok(same(kk, w1000.b, 32), "RFC 7748 5.2: after 1,000 iterations");
    }
    if (iters == 1000000)
        ok(same(kk, w1m.b, 32), "RFC 7748 5.2: after 1,000,000 iterations");
    else
        printf("# RFC 7748 5.2's 1,000,000 iterations not run (about 13 CPU minutes): SMP_X25519_MILLION=1 runs them\n");

    /* 6.1: Alice and Bob. */
    bytes a = H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    bytes apub = H("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    bytes b = H("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    bytes bpub = H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    bytes shared = H("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    x25519_base(out, a.b);
    ok(same(out, apub.b, 32), "RFC 7748 6.1: Alice's public key");
    x25519_base(out, b.b);
    ok(same(out, bpub.b, 32), "RFC 7748 6.1: Bob's public key");
    ok(x25519(out, a.b, bpub.b) == 0 && same(out, shared.b, 32), "RFC 7748 6.1: Alice's shared secret");
    ok(x25519(out, b.b, apub.b) == 0 && same(out, shared.b, 32), "RFC 7748 6.1: Bob's shared secret");

    /* Low-order points give all zeros: -1, for the caller to refuse. */
    uint8_t zero[32] = {0}, one[32] = {1};
    is_int(x25519(out, a.b, zero), -1, "u = 0 (low order): -1");
    ok(same(out, zero, 32), "u = 0: the output is all zeros");
    is_int(x25519(out, a.b, one), -1, "u = 1 (low order): -1");
    /* p itself (non-canonical 0) is low order too. */
    bytes p = H("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    is_int(x25519(out, a.b, p.b), -1, "u = p (non-canonical 0): -1");
}

/* ------------------------------------------------------------ RFC 5869 --- */

static void test_rfc5869(void)
{
    static const struct {
        const char *ikm, *salt, *info, *prk, *okm;
    } v[] = {
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
         "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
         "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
         "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
         "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
         "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
         "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
         "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
         "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
         "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
         "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
         "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
         "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        bytes ikm = H(v[i].ikm), salt = H(v[i].salt), info = H(v[i].info), prk = H(v[i].prk), okm = H(v[i].okm);
        uint8_t p[32], o[128];
        hkdf_extract(salt.b, salt.n, ikm.b, ikm.n, p);
        ok(same(p, prk.b, 32), "RFC 5869 A.%zu: PRK", i + 1);
        ok(hkdf_expand(p, 32, info.b, info.n, o, okm.n) == 0 && same(o, okm.b, okm.n), "RFC 5869 A.%zu: OKM (%zu bytes)",
           i + 1, okm.n);
        memset(o, 0, sizeof o);
        ok(hkdf_sha256(salt.b, salt.n, ikm.b, ikm.n, info.b, info.n, o, okm.n) == 0 && same(o, okm.b, okm.n),
           "RFC 5869 A.%zu: hkdf_sha256", i + 1);
    }
    static uint8_t big[HKDF_MAX_OUT + 1];
    uint8_t p[32] = {0};
    is_int(hkdf_expand(p, 32, NULL, 0, big, HKDF_MAX_OUT), 0, "HKDF: 255 * 32 bytes allowed");
    big[0] = 0x77;
    is_int(hkdf_expand(p, 32, NULL, 0, big, HKDF_MAX_OUT + 1), -1, "HKDF: 255 * 32 + 1 bytes refused");
    ok(big[0] == 0x77, "HKDF refused: nothing written");
}

/* ------------------------------------------------- a small JSON reader --- */

/* Enough JSON for Wycheproof's files, bounded: at most JSON_MAX_FILE
 * bytes, JSON_MAX_NODES values, JSON_MAX_DEPTH deep. Strings are kept raw
 * (pointers into the file; the files' hex fields have no escapes). */
#define JSON_MAX_FILE (8u << 20)
#define JSON_MAX_NODES 200000
#define JSON_MAX_DEPTH 32

enum jtype { J_OBJ, J_ARR, J_STR, J_NUM, J_LIT };
typedef struct jv {
    enum jtype type;
    const char *s, *key; /* raw text (J_STR without quotes), member name */
    size_t n, keyn;
    struct jv *child, *next;
} jv;

typedef struct {
    const char *p, *end;
    jv *nodes;
    size_t used;
    const char *err;
} jparser;

static void jws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int jstring(jparser *j, const char **s, size_t *n)
{
    if (j->p >= j->end || *j->p != '"')
        return j->err = "a string expected", -1;
    const char *start = ++j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p == '\\')
            j->p++;
        j->p++;
    }
    if (j->p >= j->end)
        return j->err = "an unterminated string", -1;
    *s = start;
    *n = (size_t)(j->p - start);
    j->p++;
    return 0;
}

static jv *jvalue(jparser *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return j->err = "nested too deep", NULL;
    if (j->used >= JSON_MAX_NODES)
        return j->err = "too many values", NULL;
    jv *v = &j->nodes[j->used++];
    memset(v, 0, sizeof *v);
    jws(j);
    if (j->p >= j->end)
        return j->err = "a value expected", NULL;
    char c = *j->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? J_OBJ : J_ARR;
        j->p++;
        jv **tail = &v->child;
        jws(j);
        if (j->p < j->end && *j->p == (c == '{' ? '}' : ']')) {
            j->p++;
            return v;
        }
        for (;;) {
            const char *key = NULL;
            size_t keyn = 0;
            if (c == '{') {
                jws(j);
                if (jstring(j, &key, &keyn) < 0)
                    return NULL;
                jws(j);
                if (j->p >= j->end || *j->p != ':')
                    return j->err = "':' expected", NULL;
                j->p++;
            }
            jv *m = jvalue(j, depth + 1);
            if (!m)
                return NULL;
            m->key = key;
            m->keyn = keyn;
            *tail = m;
            tail = &m->next;
            jws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (c == '{' ? '}' : ']')) {
                j->p++;
                return v;
            }
            return j->err = "',' or a closing bracket expected", NULL;
        }
    }
    if (c == '"') {
        v->type = J_STR;
        return jstring(j, &v->s, &v->n) < 0 ? NULL : v;
    }
    const char *start = j->p;
    while (j->p < j->end && strchr("+-.0123456789eEtruefalsn", *j->p))
        j->p++;
    if (j->p == start)
        return j->err = "an unexpected character", NULL;
    v->type = (c == '-' || (c >= '0' && c <= '9')) ? J_NUM : J_LIT;
    v->s = start;
    v->n = (size_t)(j->p - start);
    return v;
}

static const jv *jget(const jv *o, const char *key)
{
    if (!o || o->type != J_OBJ)
        return NULL;
    for (const jv *m = o->child; m; m = m->next)
        if (m->keyn == strlen(key) && memcmp(m->key, key, m->keyn) == 0)
            return m;
    return NULL;
}

static int jis(const jv *v, const char *s)
{
    return v && v->type == J_STR && v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

static long jlong(const jv *v)
{
    char tmp[32];
    if (!v || v->type != J_NUM || v->n >= sizeof tmp)
        return -1;
    memcpy(tmp, v->s, v->n);
    tmp[v->n] = 0;
    return strtol(tmp, NULL, 10);
}

/* A hex field into buf: its length, or -1 when missing, bad or too long. */
static long jhex(const jv *o, const char *key, uint8_t *buf, size_t cap)
{
    const jv *v = jget(o, key);
    if (!v || v->type != J_STR)
        return -1;
    return unhexn(v->s, v->n, buf, cap);
}

typedef struct {
    char *text;
    jv *nodes;
    const jv *root;
} jdoc;

static const char *vectors_dir(void)
{
    static const char *const tries[] = {"../shared/vectors", "../../shared/vectors"};
    struct stat st;
    const char *env = getenv("SMP_VECTORS");
    if (env && *env)
        return env;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++)
        if (stat(tries[i], &st) == 0 && S_ISDIR(st.st_mode))
            return tries[i];
    return NULL;
}

/* 0 and the document, 1 when the file is absent (SKIP), -1 when broken. */
static int jload(const char *name, jdoc *d)
{
    const char *dir = vectors_dir();
    char path[4096];
    memset(d, 0, sizeof *d);
    if (!dir)
        return 1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 1;
    d->text = malloc(JSON_MAX_FILE + 1);
    d->nodes = malloc(sizeof(jv) * JSON_MAX_NODES);
    size_t n = d->text ? fread(d->text, 1, JSON_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!d->text || !d->nodes || n == 0 || n > JSON_MAX_FILE) {
        printf("# %s: empty, unreadable or over %u bytes\n", path, JSON_MAX_FILE);
        return -1;
    }
    jparser j = {d->text, d->text + n, d->nodes, 0, NULL};
    d->root = jvalue(&j, 0);
    if (!d->root) {
        printf("# %s: not JSON at byte %ld: %s\n", path, (long)(j.p - d->text), j.err);
        return -1;
    }
    return 0;
}

static void jfree(jdoc *d)
{
    free(d->text);
    free(d->nodes);
}

/* Opens a Wycheproof file and reports SKIP or breakage: its testGroups, or NULL. */
static const jv *wycheproof_groups(const char *name, jdoc *d)
{
    char why[256];
    int rc = jload(name, d);
    if (rc == 1) {
        snprintf(why, sizeof why,
                 "%s not in $SMP_VECTORS, ../shared/vectors or ../../shared/vectors: set SMP_VECTORS=DIR "
                 "(Wycheproof's testvectors_v1 files)",
                 name);
        skip(why);
        return NULL;
    }
    const jv *groups = rc == 0 ? jget(d->root, "testGroups") : NULL;
    if (!groups || groups->type != J_ARR) {
        ok(0, "%s: readable, with testGroups", name);
        return NULL;
    }
    return groups;
}

static void summary(const char *name, int valid_ok, int valid, int invalid_ok, int invalid, int other_ok, int other,
                    long declared)
{
    int total = valid + invalid + other;
    printf("# %s: %d/%d valid, %d/%d invalid, %d/%d acceptable passed (%ld declared)\n", name, valid_ok, valid,
           invalid_ok, invalid, other_ok, other, declared);
    ok(total > 0 && valid_ok == valid && invalid_ok == invalid && other_ok == other && total == declared,
       "%s: all %d cases pass", name, total);
}

/* Valid: seal gives ct and tag, open gives msg back. Invalid: open refuses
 * (a nonce not of 96 bits is refused by the type: our API has no other). */
static void test_wycheproof_aead(void)
{
    jdoc d;
    const char *name = "chacha20_poly1305_test.json";
    const jv *groups = wycheproof_groups(name, &d);
    int v = 0, vok = 0, inv = 0, invok = 0, oth = 0, othok = 0;
    static uint8_t key[64], iv[64], aad[4096], msg[4096], ct[4096], tag[64], out[4096];
    if (groups) {
        for (const jv *g = groups->child; g; g = g->next) {
            for (const jv *t = jget(g, "tests") ? jget(g, "tests")->child : NULL; t; t = t->next) {
                const jv *res = jget(t, "result");
                long kn = jhex(t, "key", key, sizeof key), ivn = jhex(t, "iv", iv, sizeof iv);
                long an = jhex(t, "aad", aad, sizeof aad), mn = jhex(t, "msg", msg, sizeof msg);
                long cn = jhex(t, "ct", ct, sizeof ct), tn = jhex(t, "tag", tag, sizeof tag);
                int pass;
                if (kn < 0 || ivn < 0 || an < 0 || mn < 0 || cn < 0 || tn < 0) {
                    pass = 0;
                } else if (kn != 32 || ivn != 12 || tn != 16 || cn != mn) {
                    pass = !jis(res, "valid"); /* cannot even be asked: refused */
                } else {
                    uint8_t t2[16];
                    int sealed = aead_seal(key, iv, aad, (size_t)an, msg, (size_t)mn, out, t2) == 0 &&
                                 same(out, ct, (size_t)cn) && same(t2, tag, 16);
                    int opened = aead_open(key, iv, aad, (size_t)an, ct, (size_t)cn, tag, out) == 0 &&
                                 same(out, msg, (size_t)mn);
                    pass = jis(res, "valid") ? sealed && opened : !opened && !sealed;
                }
                if (!pass)
                    printf("#   %s tcId %ld (%.*s) failed\n", name, jlong(jget(t, "tcId")),
                           res ? (int)res->n : 4, res ? res->s : "none");
                if (jis(res, "valid"))
                    v++, vok += pass;
                else if (jis(res, "invalid"))
                    inv++, invok += pass;
                else
                    oth++, othok += pass;
            }
        }
        summary(name, vok, v, invok, inv, othok, oth, jlong(jget(d.root, "numberOfTests")));
    }
    jfree(&d);
}

/* Valid and acceptable alike: the shared secret, except that an all-zero
 * one (a low-order public key: Wycheproof's ZeroSharedSecret, "acceptable")
 * must come back as -1: we refuse it, as RFC 7748 6.1 allows. */
static void test_wycheproof_x25519(void)
{
    jdoc d;
    const char *name = "x25519_test.json";
    const jv *groups = wycheproof_groups(name, &d);
    int v = 0, vok = 0, inv = 0, invok = 0, oth = 0, othok = 0, zero_refused = 0;
    if (groups) {
        for (const jv *g = groups->child; g; g = g->next) {
            if (!jis(jget(g, "curve"), "curve25519"))
                continue;
            for (const jv *t = jget(g, "tests") ? jget(g, "tests")->child : NULL; t; t = t->next) {
                uint8_t pub[64], priv[64], shared[64], out[32];
                const uint8_t zero[32] = {0};
                const jv *res = jget(t, "result");
                long pn = jhex(t, "public", pub, sizeof pub), kn = jhex(t, "private", priv, sizeof priv);
                long sn = jhex(t, "shared", shared, sizeof shared);
                int pass;
                if (pn < 0 || kn < 0 || sn < 0) {
                    pass = 0;
                } else if (pn != 32 || kn != 32 || sn != 32) {
                    pass = jis(res, "invalid");
                } else {
                    int rc = x25519(out, priv, pub);
                    if (same(shared, zero, 32)) {
                        pass = rc == -1 && !jis(res, "valid");
                        zero_refused += pass;
                    } else {
                        pass = jis(res, "invalid") ? rc == -1 || !same(out, shared, 32)
                                                   : rc == 0 && same(out, shared, 32);
                    }
                }
                if (!pass)
                    printf("#   %s tcId %ld failed\n", name, jlong(jget(t, "tcId")));
                if (jis(res, "valid"))
                    v++, vok += pass;
                else if (jis(res, "invalid"))
                    inv++, invok += pass;
                else
                    oth++, othok += pass;
            }
        }
        printf("# %s: %d acceptable cases with an all-zero shared secret refused (-1)\n", name, zero_refused);
        summary(name, vok, v, invok, inv, othok, oth, jlong(jget(d.root, "numberOfTests")));
    }
    jfree(&d);
}

static void test_wycheproof_hkdf(void)
{
    jdoc d;
    const char *name = "hkdf_sha256_test.json";
    const jv *groups = wycheproof_groups(name, &d);
    int v = 0, vok = 0, inv = 0, invok = 0, oth = 0, othok = 0;
    static uint8_t ikm[4096], salt[4096], info[4096], okm[HKDF_MAX_OUT + 64], out[HKDF_MAX_OUT + 64];
    if (groups) {
        for (const jv *g = groups->child; g; g = g->next) {
            for (const jv *t = jget(g, "tests") ? jget(g, "tests")->child : NULL; t; t = t->next) {
                const jv *res = jget(t, "result");
                long in = jhex(t, "ikm", ikm, sizeof ikm), sn = jhex(t, "salt", salt, sizeof salt);
                long fn = jhex(t, "info", info, sizeof info), on = jhex(t, "okm", okm, sizeof okm);
                long size = jlong(jget(t, "size"));
                int pass;
                if (in < 0 || sn < 0 || fn < 0 || on < 0 || size < 0 || (size_t)size > sizeof out) {
                    pass = 0;
                } else {
                    int rc = hkdf_sha256(salt, (size_t)sn, ikm, (size_t)in, info, (size_t)fn, out, (size_t)size);
                    pass = jis(res, "valid") ? rc == 0 && on == size && same(out, okm, (size_t)on) : rc == -1;
                }
                if (!pass)
                    printf("#   %s tcId %ld failed\n", name, jlong(jget(t, "tcId")));
                if (jis(res, "valid"))
                    v++, vok += pass;
                else if (jis(res, "invalid"))
                    inv++, invok += pass;
                else
                    oth++, othok += pass;
            }
        }
        summary(name, vok, v, invok, inv, othok, oth, jlong(jget(d.root, "numberOfTests")));
    }
    jfree(&d);
}

/* Constant time, checked by memcheck (ctgrind's trick): the secrets are
 * marked undefined, so any branch or memory index that depends on them is
 * a memcheck error; the outputs are marked defined again before the test
 * looks at them. Only under valgrind (valgrind build/tests/unit_crypto). */
static void test_constant_time(void)
{
#ifdef HAVE_MEMCHECK
    if (!RUNNING_ON_VALGRIND) { /* not a SKIP: tests/crypto_ct.t is the test */
        printf("# constant time: checked under valgrind by tests/crypto_ct.t\n");
        return;
    }
    uint8_t key[32], nonce[12] = {1}, ad[20], msg[700], out[700], tag[16], scalar[32], point[32] = {9}, shared[32];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)tap_rand();
    for (size_t i = 0; i < 32; i++)
        key[i] = (uint8_t)tap_rand(), scalar[i] = (uint8_t)tap_rand();
    memset(ad, 7, sizeof ad);
    unsigned before = VALGRIND_COUNT_ERRORS;
    VALGRIND_MAKE_MEM_UNDEFINED(key, sizeof key);
    VALGRIND_MAKE_MEM_UNDEFINED(msg, sizeof msg);
    VALGRIND_MAKE_MEM_UNDEFINED(scalar, sizeof scalar);
    int rc = aead_seal(key, nonce, ad, sizeof ad, msg, sizeof msg, out, tag);
    poly1305(key, msg, sizeof msg, tag);
    int xrc = x25519(shared, scalar, point);
    x25519_base(shared, scalar);
    VALGRIND_MAKE_MEM_DEFINED(&rc, sizeof rc);
    VALGRIND_MAKE_MEM_DEFINED(&xrc, sizeof xrc);
    unsigned errors = VALGRIND_COUNT_ERRORS - before;
    VALGRIND_MAKE_MEM_DEFINED(key, sizeof key);
    VALGRIND_MAKE_MEM_DEFINED(msg, sizeof msg);
    VALGRIND_MAKE_MEM_DEFINED(scalar, sizeof scalar);
    is_int(errors, 0, "constant time: no branch or index on the key, text or scalar (memcheck: %u errors)", errors);
    (void)rc;
    (void)xrc;
#else
    skip("constant time: no valgrind/memcheck.h at build time");
#endif
}

int main(int argc, char **argv)
{
    test_constant_time();
    if (argc > 1 && strcmp(argv[1], "--constant-time") == 0) /* tests/crypto_ct.t: memcheck is slow */
        return done_testing();
    /* The paths in turn: AVX-512, AVX2 with AVX-512VL's rotation, AVX2 alone (when
     * the CPU has them: a level the CPU lacks is not run again), then
     * ChaCha20 four blocks at a time with the vector extension and Poly1305
     * two at a time; one path, one block at a time, in
     * unit_crypto_scalar.c */
    static const char *const paths[] = {"ChaCha20 four blocks at a time, Poly1305 two (44-bit limbs)",
                                        "AVX2: ChaCha20 eight blocks at a time, Poly1305 four",
                                        "AVX2 and AVX-512VL's rotation: ChaCha20 eight blocks at a time, Poly1305 four",
                                        "AVX-512: ChaCha20 sixteen blocks at a time, Poly1305 eight"};
#ifdef CHACHA20_SCALAR
    for (int level = 0; level >= 0; level--) {
#else
    for (int level = 3; level >= 0; level--) {
#endif
        int got = chacha20_avx2(level);
        if (got != level) {
            printf("# not on this CPU or build: %s\n", paths[level]);
            continue;
        }
#ifdef CHACHA20_SCALAR
        printf("# ChaCha20 one block at a time, Poly1305 in 26-bit limbs\n");
#else
        printf("# %s\n", paths[level]);
#endif
        test_rfc8439_chacha();
        test_rfc8439_poly1305();
        test_rfc8439_aead();
        test_aead_roundtrip();
        test_long_texts();
        test_wycheproof_aead();
    }
    chacha20_avx2(3);
    test_rfc7748();
    test_rfc5869();
    test_wycheproof_x25519();
    test_wycheproof_hkdf();
    return done_testing();
}
