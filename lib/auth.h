/*
 * auth.h - the shared secret, the keys derived from it, and the replay
 * window. doc/security.md explains what this protects and what it does not.
 *
 * From the secret (the key file's content) come four direction keys, one
 * per direction of each link, so that nothing one side says can be
 * reflected back to it. Each conversation (a master and a slave in their
 * current lives; one client connection) then gets its own keys derived
 * from the direction key and both sides' nonces, so that nothing captured
 * in one conversation is accepted in another.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

#define AUTH_MIN_SECRET 32
#define AUTH_MAX_SECRET 4096
#define AUTH_TAG_LEN SHA256_LEN
#define AUTH_NONCE_LEN 32
#define AUTH_KEY_ENV "SMP_KEY_FILE"

typedef struct {
    int enabled;
    hmac_key master_to_slave, slave_to_master, client_to_master, master_to_client;
} auth_keys;

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

/* The key of one conversation: HMAC(direction key, label, a, b). */
void auth_session_key(const hmac_key *direction, const char *label, const void *a, size_t na, const void *b,
                      size_t nb, hmac_key *out);
void auth_random(void *out, size_t n); /* nonces */

/* Whose side of a conversation we are on: it picks which direction key
 * sends and which receives (Dropbear's common-kex.c), so that both ends run
 * the one derivation below and cannot drift apart. */
enum auth_role { AUTH_MASTER, AUTH_SLAVE };
/* The keys of one conversation between a master's life and a slave's, from
 * both boot ids (the nonces): tx the key we seal with, rx the key we check
 * with (either may be NULL). Leaves them as they are without a key. */
void auth_dgram_keys(const auth_keys *a, enum auth_role role, uint64_t master_boot, uint64_t slave_boot,
                     hmac_key *tx, hmac_key *rx);

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
/* A connection's two frame keys, the same on both sides:
 * HMAC(K_dir, "frames" || client_nonce || master_nonce) for each direction. */
void auth_frame_keys(const auth_keys *a, const uint8_t client_nonce[AUTH_NONCE_LEN],
                     const uint8_t master_nonce[AUTH_NONCE_LEN], hmac_key *client_to_master,
                     hmac_key *master_to_client);

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
