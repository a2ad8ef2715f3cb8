/*
 * auth.h - the shared secret, the keys derived from it, and the replay
 * window. doc/security.md explains what this protects and what it does not.
 *
 * From each secret (a line of the key file) come four direction keys, one
 * per direction of each link, so that nothing one side says can be
 * reflected back to it. Each conversation (a master and a slave in their
 * current lives; one client connection) then gets its own keys derived
 * from the direction key, both sides' nonces and an X25519 exchange
 * (auth_conversation_keys), so that nothing captured in one conversation
 * is accepted in another, and a key file leaked later does not open what
 * was recorded.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "chacha20poly1305.h"
#include "sha256.h"
#include "x25519.h"

#define AUTH_MIN_SECRET 32
#define AUTH_MAX_SECRET 4096
#define AUTH_MAX_KEYS 2 /* a key file holds the key, or the new key and the old one (rotation) */
#define AUTH_TAG_LEN SHA256_LEN /* HELLO's tag and WELCOME's proof (HMAC-SHA256) */
#define AUTH_SEAL_LEN AEAD_TAG_LEN /* what ends every sealed datagram and frame (Poly1305) */
#define AUTH_NONCE_LEN 32
#define AUTH_KEY_ENV "SMP_KEY_FILE"

/* The four direction keys of one secret (one line of the key file):
 * raw, as HKDF's input for conversation keys, and as HMAC keys for the
 * client's handshake proofs. */
enum auth_dir { DIR_MASTER_TO_SLAVE, DIR_SLAVE_TO_MASTER, DIR_CLIENT_TO_MASTER, DIR_MASTER_TO_CLIENT };
typedef struct {
    uint8_t raw[4][SHA256_LEN]; /* by enum auth_dir */
    hmac_key master_to_slave, slave_to_master, client_to_master, master_to_client;
} auth_secret_keys;

typedef struct {
    int enabled;
    int count;                           /* keys in the file: 1, or 2 during a rotation */
    auth_secret_keys set[AUTH_MAX_KEYS]; /* [0]: the first line, used to start conversations;
                                            [1]: the second (the old key), accepted too */
    char path[4096];                     /* the key file, for auth_reload */
} auth_keys;

/* One conversation key of one direction: ChaCha20-Poly1305's. */
typedef struct {
    uint8_t k[AEAD_KEY_LEN];
} aead_key;

/* An X25519 key pair for one exchange (forward secrecy): drawn fresh,
 * wiped when its conversations end. */
typedef struct {
    uint8_t secret[X25519_LEN], pub[X25519_LEN];
} auth_ephemeral;

/* A secret in a file (the key file, the master's --http-token): a regular
 * file on which group and others have no permission at all, its content
 * less a trailing newline, at most max bytes into out (which holds max +
 * 2). 0, or -1 with the reason in err (what names the file: "key file"). */
int secret_file_read(const char *path, const char *what, uint8_t *out, size_t max, size_t *len, char *err,
                     size_t errlen);
/* Reads the key file: a regular file on which group and others have no
 * permission at all, whose content less a trailing newline (\n or \r\n)
 * is the secret, AUTH_MIN_SECRET to AUTH_MAX_SECRET bytes. 0, or -1 with
 * the reason in err. */
int auth_load(auth_keys *a, const char *path, char *err, size_t errlen);
/* --key-file if given, else $SMP_KEY_FILE if set, else no key (a->enabled
 * stays 0). Dies with a clear message on a bad key file. */
void auth_setup(auth_keys *a, const char *key_file_option);

/* Reads the key file again (SIGHUP): on success the new keys replace the
 * old ones for conversations that start from now on (those running keep
 * theirs); on error nothing changes. 0, or -1 with the reason in err. */
int auth_reload(auth_keys *a, char *err, size_t errlen);

/* Random bytes from the system (getrandom, /dev/urandom, RtlGenRandom):
 * dies rather than ever making a nonce or a key from anything guessable. */
void auth_random(void *out, size_t n);
void auth_ephemeral_new(auth_ephemeral *e);

/* Whose side of a conversation we are on: it picks which direction key
 * sends and which receives (Dropbear's common-kex.c), so that both ends run
 * the one derivation below and cannot drift apart. The master is the
 * initiator towards slaves, the client towards the master. */
enum auth_role { AUTH_MASTER, AUTH_SLAVE, AUTH_CLIENT, AUTH_MASTER_OF_CLIENTS };

/* THE key derivation, for every conversation of every role (doc/security.md
 * 4.2): for each direction d,
 *   key_d = HKDF-SHA256(salt = nonces,
 *                       IKM  = D_d || X25519(mine, peer_pub)   (no DH without mine),
 *                       info = label || initiator's public || responder's public)
 * with D_d the direction key of key set `set`. tx: the key we seal with,
 * rx: the one we open with (either may be NULL). -1 (nothing written) if the
 * exchange gives the all-zero secret (a low-order peer_pub: refuse it). */
int auth_conversation_keys(const auth_keys *a, int set, enum auth_role role, const char *label, const void *nonces,
                           size_t nn, const auth_ephemeral *mine, const uint8_t *peer_pub, aead_key *tx, aead_key *rx);
/* The same derivation once X25519(mine, peer_pub) = shared is known (NULL
 * for the tier without an exchange, my_pub and peer_pub NULL too): what
 * the fuzz targets call with a memoized exchange, so that they derive the
 * daemons' keys by the daemons' code. */
int auth_keys_from_shared(const auth_keys *a, int set, enum auth_role role, const char *label, const void *nonces,
                          size_t nn, const uint8_t *my_pub, const uint8_t *peer_pub, const uint8_t *shared,
                          aead_key *tx, aead_key *rx);

/* Sealing: ChaCha20-Poly1305 in place, the nonce 4 zero bytes then counter
 * (big-endian: a datagram's sequence number, a frame's position); a counter
 * must never seal twice under one key. auth_open: 1 and the text decrypted
 * if the tag is right, else 0 and the text untouched. */
void auth_seal(const aead_key *k, uint64_t counter, const void *ad, size_t adlen, uint8_t *text, size_t n,
               uint8_t tag[AUTH_SEAL_LEN]);
int auth_open(const aead_key *k, uint64_t counter, const void *ad, size_t adlen, uint8_t *text, size_t n,
              const uint8_t tag[AUTH_SEAL_LEN]);

/* The client's handshake (doc/protocol.md 2.5), one computation for the
 * side that proves and the side that checks. HELLO's tag:
 * HMAC(K_client->master, "hello" || fields), fields = magic..client_nonce. */
void auth_hello_proof(const hmac_key *client_to_master, const void *fields, size_t n, uint8_t out[AUTH_TAG_LEN]);
/* WELCOME's proof: HMAC(K_master->client, "welcome" || client_nonce ||
 * fields), fields = version..master_nonce. */
void auth_welcome_proof(const hmac_key *master_to_client, const uint8_t client_nonce[AUTH_NONCE_LEN],
                        const void *fields, size_t n, uint8_t out[AUTH_TAG_LEN]);
/* 1 if the tag or proof is the right one (compared in constant time). */
int auth_hello_check(const hmac_key *client_to_master, const void *fields, size_t n, const uint8_t *tag);
int auth_welcome_check(const hmac_key *master_to_client, const uint8_t client_nonce[AUTH_NONCE_LEN],
                       const void *fields, size_t n, const uint8_t *proof);
/* Sliding anti-replay window over 64-bit sequence numbers (RFC 4303
 * 3.4.3 with RFC 6479's ring of bitmap words). Check first; update only
 * once the datagram's MAC has been verified. */
#define REPLAY_WINDOW_BITS 4096
typedef struct {
    uint64_t top; /* highest sequence number accepted; 0: none yet */
    uint64_t ring[REPLAY_WINDOW_BITS / 64];
} replay_window;

void replay_init(replay_window *w);
/* A window that has seen seq and everything below it: a session opened by
 * the datagram numbered seq accepts nothing sent before it. */
void replay_start(replay_window *w, uint64_t seq);
int replay_check(const replay_window *w, uint64_t seq); /* 1 acceptable, 0 replayed or too old */
void replay_update(replay_window *w, uint64_t seq);

#endif
