/* fuzz/fuzz_keys.h - what makes sealed datagrams cheap enough to fuzz:
 * an X25519 costs tens of microseconds (far more under ASan), and the
 * state machines derive conversation keys at every handshake. Included
 * before the daemon's files, it routes their auth_conversation_keys
 * through a wrapper that memoizes the exchange and the keys of the tier
 * without one, and gives fixed key pairs (the same for every life: the
 * runs repeat, and few exchanges are ever computed). */
#ifndef FUZZ_KEYS_H
#define FUZZ_KEYS_H

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "x25519.h"

/* The exchanges seen, by (secret, peer's public key): a handful. */
#define FZ_DH_MEMO 16
static struct fz_dh {
    int used, rc;
    uint8_t secret[X25519_LEN], peer[X25519_LEN], shared[X25519_LEN];
} fz_dh[FZ_DH_MEMO];

/* Keys without an exchange (the handshake tier), memoized by their inputs,
 * compared whole: an HKDF per datagram would be most of the fuzzing time. */
#define FZ_HS_MEMO 1024
static struct fz_hs {
    int used, rc, set, role;
    char label[16];
    uint8_t nonces[64], dir[4][SHA256_LEN];
    size_t nn;
    aead_key tx, rx;
} fz_hs[FZ_HS_MEMO];

static int fz_handshake_keys(const auth_keys *a, int set, enum auth_role role, const char *label, const void *nonces,
                             size_t nn, aead_key *tx, aead_key *rx)
{
    if (nn > sizeof fz_hs[0].nonces || strlen(label) >= sizeof fz_hs[0].label || set < 0 || set >= AUTH_MAX_KEYS)
        return auth_conversation_keys(a, set, role, label, nonces, nn, NULL, NULL, tx, rx);
    uint32_t h = 2166136261u; /* FNV-1a over the nonces, set and role */
    for (size_t i = 0; i < nn; i++)
        h = (h ^ ((const uint8_t *)nonces)[i]) * 16777619u;
    h = (h ^ (uint32_t)set) * 16777619u;
    h = (h ^ (uint32_t)role) * 16777619u;
    struct fz_hs *e = &fz_hs[h % FZ_HS_MEMO];
    if (!e->used || e->set != set || e->role != (int)role || e->nn != nn || strcmp(e->label, label) ||
        memcmp(e->nonces, nonces, nn) || memcmp(e->dir, a->set[set].raw, sizeof e->dir)) {
        memset(e, 0, sizeof *e);
        e->rc = auth_conversation_keys(a, set, role, label, nonces, nn, NULL, NULL, &e->tx, &e->rx);
        e->used = 1, e->set = set, e->role = (int)role, e->nn = nn;
        strcpy(e->label, label);
        memcpy(e->nonces, nonces, nn);
        memcpy(e->dir, a->set[set].raw, sizeof e->dir);
    }
    if (e->rc == 0 && tx)
        *tx = e->tx;
    if (e->rc == 0 && rx)
        *rx = e->rx;
    return e->rc;
}

/* auth_conversation_keys with the exchange memoized; the derivation
 * itself is lib/auth.c's (auth_keys_from_shared). */
static int fz_conversation_keys(const auth_keys *a, int set, enum auth_role role, const char *label,
                                const void *nonces, size_t nn, const auth_ephemeral *mine, const uint8_t *peer_pub,
                                aead_key *tx, aead_key *rx)
{
    if (!mine) /* the handshake tier: for every PING, PONG and COOKIE */
        return fz_handshake_keys(a, set, role, label, nonces, nn, tx, rx);
    struct fz_dh *e = NULL;
    for (int i = 0; i < FZ_DH_MEMO && !e; i++)
        if (fz_dh[i].used && !memcmp(fz_dh[i].secret, mine->secret, X25519_LEN) &&
            !memcmp(fz_dh[i].peer, peer_pub, X25519_LEN))
            e = &fz_dh[i];
    if (!e) {
        static unsigned next;
        e = &fz_dh[next++ % FZ_DH_MEMO];
        memset(e, 0, sizeof *e);
        e->used = 1;
        memcpy(e->secret, mine->secret, X25519_LEN);
        memcpy(e->peer, peer_pub, X25519_LEN);
        e->rc = x25519(e->shared, mine->secret, peer_pub);
    }
    if (e->rc < 0)
        return -1;
    return auth_keys_from_shared(a, set, role, label, nonces, nn, mine->pub, peer_pub, e->shared, tx, rx);
}
#define auth_conversation_keys fz_conversation_keys

/* A fixed pair per kind of peer (k: 0, 1, ...), made once. */
static const auth_ephemeral *fz_ephemeral(int k)
{
    static auth_ephemeral pairs[4];
    static int made[4];
    if (!made[k]) {
        memset(pairs[k].secret, 0x51 + k, sizeof pairs[k].secret);
        x25519_base(pairs[k].pub, pairs[k].secret);
        made[k] = 1;
    }
    return &pairs[k];
}

#endif
