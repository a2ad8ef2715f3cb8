/*
 * unit_crypto_scalar.c - every RFC 8439 and Wycheproof vector of
 * tests/unit_crypto.c on the portable path of lib/chacha20poly1305.c: one
 * ChaCha20 block at a time (-DCHACHA20_SCALAR) and Poly1305 in 26-bit
 * limbs (-DPOLY1305_26BIT), what a compiler without vector extensions or
 * 128-bit integers builds. The file is compiled in here under other names
 * (the programs' copy is linked too), and unit_crypto.c's calls go to it.
 */
#define _POSIX_C_SOURCE 200809L
#define CHACHA20_SCALAR 1
#define POLY1305_26BIT 1
#define chacha20_quarter_round scalar_quarter_round
#define chacha20_block scalar_block
#define chacha20_xor scalar_xor
#define poly1305_init scalar_poly1305_init
#define poly1305_update scalar_poly1305_update
#define poly1305_final scalar_poly1305_final
#define poly1305 scalar_poly1305
#define poly1305_key_gen scalar_poly1305_key_gen
#define aead_seal scalar_aead_seal
#define aead_open scalar_aead_open
#define crypto_wipe scalar_wipe
#define chacha20_avx2 scalar_avx2
#include "../lib/chacha20poly1305.c"
#include "unit_crypto.c"
