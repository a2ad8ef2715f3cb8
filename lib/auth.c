/* auth.c - key file, key derivation, replay window (see auth.h). */
#define _POSIX_C_SOURCE 200809L
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "platform.h"

int secret_file_read(const char *path, const char *what, uint8_t *out, size_t max, size_t *len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
#ifndef _WIN32
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s '%s' is not a regular file", what, path);
        fclose(f);
        return -1;
    }
    if (st.st_mode & 077) { /* as ssh refuses a private key others can read */
        snprintf(err, errlen, "%s '%s' is accessible by group or others (mode %03o): chmod 600 it", what, path,
                 (unsigned)(st.st_mode & 0777));
        fclose(f);
        return -1;
    }
#endif
    size_t n = fread(out, 1, max + 2, f); /* out holds max + 2: room for a line end */
    fclose(f);
    if (n > 0 && out[n - 1] == '\n')
        n--;
    if (n > 0 && out[n - 1] == '\r')
        n--;
    if (n > max) {
        snprintf(err, errlen, "%s '%s' is longer than %zu bytes", what, path, max);
        return -1;
    }
    *len = n;
    return 0;
}

int auth_load(auth_keys *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    static uint8_t secret[AUTH_MAX_SECRET + 2];
    size_t n;
    if (secret_file_read(path, "key file", secret, AUTH_MAX_SECRET, &n, err, errlen) < 0)
        return -1;
    if (n < AUTH_MIN_SECRET) {
        snprintf(err, errlen,
                 "key in '%s' is %zu bytes: at least %d are needed (for example: head -c 32 /dev/urandom | od -An "
                 "-tx1 | tr -d ' \\n' > %s)",
                 path, n, AUTH_MIN_SECRET, path);
        return -1;
    }
    hmac_key root;
    hmac_key_init(&root, secret, n);
    static const char *labels[4] = {"serveur-mp master->slave", "serveur-mp slave->master",
                                    "serveur-mp client->master", "serveur-mp master->client"};
    hmac_key *keys[4] = {&a->master_to_slave, &a->slave_to_master, &a->client_to_master, &a->master_to_client};
    for (int i = 0; i < 4; i++) {
        uint8_t k[SHA256_LEN];
        hmac_sha256(&root, labels[i], strlen(labels[i]), k);
        hmac_key_init(keys[i], k, sizeof k);
    }
    memset(secret, 0, sizeof secret);
    a->enabled = 1;
    return 0;
}

void auth_setup(auth_keys *a, const char *key_file_option)
{
    const char *path = key_file_option;
    memset(a, 0, sizeof *a);
    if (!path) {
        path = getenv(AUTH_KEY_ENV);
        if (path && !*path)
            path = NULL;
    }
    if (!path)
        return;
    char err[512];
    if (auth_load(a, path, err, sizeof err) < 0)
        die("%s", err);
}

void auth_session_key(const hmac_key *direction, const char *label, const void *a, size_t na, const void *b,
                      size_t nb, hmac_key *out)
{
    uint8_t buf[256], k[SHA256_LEN];
    size_t ll = strlen(label);
    if (ll + na + nb > sizeof buf)
        die("auth_session_key: inputs too long");
    memcpy(buf, label, ll);
    memcpy(buf + ll, a, na);
    memcpy(buf + ll + na, b, nb);
    hmac_sha256(direction, buf, ll + na + nb, k);
    hmac_key_init(out, k, sizeof k);
}

void auth_dgram_keys(const auth_keys *a, enum auth_role role, uint64_t master_boot, uint64_t slave_boot,
                     hmac_key *tx, hmac_key *rx)
{
    uint8_t mb[8], sb[8];
    if (!a->enabled)
        return;
    put_u32(mb, (uint32_t)(master_boot >> 32)), put_u32(mb + 4, (uint32_t)master_boot);
    put_u32(sb, (uint32_t)(slave_boot >> 32)), put_u32(sb + 4, (uint32_t)slave_boot);
    const hmac_key *mine = role == AUTH_MASTER ? &a->master_to_slave : &a->slave_to_master;
    const hmac_key *theirs = role == AUTH_MASTER ? &a->slave_to_master : &a->master_to_slave;
    if (tx)
        auth_session_key(mine, "dgram", mb, 8, sb, 8, tx);
    if (rx)
        auth_session_key(theirs, "dgram", mb, 8, sb, 8, rx);
}

void auth_random(void *out, size_t n)
{
    uint8_t *p = out;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t r = random_u32();
        memcpy(p + i, &r, n - i < 4 ? n - i : 4);
    }
}

void auth_hello_proof(const hmac_key *client_to_master, const void *fields, size_t n, uint8_t out[AUTH_TAG_LEN])
{
    hmac_sha256_2(client_to_master, "hello", 5, fields, n, out);
}

void auth_welcome_proof(const hmac_key *master_to_client, const uint8_t client_nonce[AUTH_NONCE_LEN],
                        const void *fields, size_t n, uint8_t out[AUTH_TAG_LEN])
{
    /* HMAC over three pieces, none copied (as hmac_sha256_2 does for two) */
    uint8_t inner[SHA256_LEN];
    sha256_ctx c = master_to_client->inner;
    sha256_update(&c, "welcome", 7);
    sha256_update(&c, client_nonce, AUTH_NONCE_LEN);
    sha256_update(&c, fields, n);
    sha256_final(&c, inner);
    c = master_to_client->outer;
    sha256_update(&c, inner, SHA256_LEN);
    sha256_final(&c, out);
}

int auth_hello_check(const hmac_key *client_to_master, const void *fields, size_t n, const uint8_t *tag)
{
    uint8_t want[AUTH_TAG_LEN];
    auth_hello_proof(client_to_master, fields, n, want);
    return tag && equal_const_time(want, tag, AUTH_TAG_LEN);
}

int auth_welcome_check(const hmac_key *master_to_client, const uint8_t client_nonce[AUTH_NONCE_LEN],
                       const void *fields, size_t n, const uint8_t *proof)
{
    uint8_t want[AUTH_TAG_LEN];
    auth_welcome_proof(master_to_client, client_nonce, fields, n, want);
    return proof && equal_const_time(want, proof, AUTH_TAG_LEN);
}

void auth_frame_keys(const auth_keys *a, const uint8_t client_nonce[AUTH_NONCE_LEN],
                     const uint8_t master_nonce[AUTH_NONCE_LEN], hmac_key *client_to_master,
                     hmac_key *master_to_client)
{
    auth_session_key(&a->client_to_master, "frames", client_nonce, AUTH_NONCE_LEN, master_nonce, AUTH_NONCE_LEN,
                     client_to_master);
    auth_session_key(&a->master_to_client, "frames", client_nonce, AUTH_NONCE_LEN, master_nonce, AUTH_NONCE_LEN,
                     master_to_client);
}

void replay_init(replay_window *w)
{
    memset(w, 0, sizeof *w);
}

#define RING_WORDS (REPLAY_WINDOW_BITS / 64)

void replay_start(replay_window *w, uint64_t seq)
{
    memset(w->ring, 0xff, sizeof w->ring);
    /* bits above seq in its word stand for numbers not sent yet */
    w->ring[(seq / 64) % RING_WORDS] &= ((uint64_t)2 << (seq % 64)) - 1;
    w->top = seq;
}

int replay_check(const replay_window *w, uint64_t seq)
{
    if (seq == 0)
        return 0; /* never sent: senders count from 1 */
    if (seq > w->top)
        return 1;
    if (w->top - seq >= REPLAY_WINDOW_BITS - 64)
        return 0; /* older than the window remembers */
    return !(w->ring[(seq / 64) % RING_WORDS] >> (seq % 64) & 1);
}

void replay_update(replay_window *w, uint64_t seq)
{
    if (seq > w->top) {
        /* Clear the words the window slides over (RFC 6479). */
        uint64_t slide = seq / 64 - w->top / 64;
        if (slide >= RING_WORDS)
            memset(w->ring, 0, sizeof w->ring);
        else
            for (uint64_t i = 1; i <= slide; i++)
                w->ring[(w->top / 64 + i) % RING_WORDS] = 0;
        w->top = seq;
    }
    w->ring[(seq / 64) % RING_WORDS] |= (uint64_t)1 << (seq % 64);
}
