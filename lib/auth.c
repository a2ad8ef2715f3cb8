/* auth.c - key file, key derivation, replay window (see auth.h). */
#define _POSIX_C_SOURCE 200809L
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

#include "buf.h"
#include "hkdf.h"
#include "log.h"
#include "platform.h"

int secret_file_read(const char *path, const char *what, uint8_t *out, size_t max, size_t *len, char *err,
                     size_t errlen)
{
#ifndef _WIN32
    /* O_NONBLOCK: a FIFO (or a device) in its place is refused below,
     * rather than waiting in open(2) for a writer, at start or on SIGHUP */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (fd >= 0 && !f)
        close(fd);
#else
    FILE *f = fopen(path, "rb");
#endif
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

/* One secret's four direction keys: D = HKDF-Expand(PRK, label), PRK =
 * HKDF-Extract("serveur-mp", secret). */
static void secret_keys(auth_secret_keys *k, const uint8_t *secret, size_t n)
{
    static const char *labels[4] = {"serveur-mp 6 master->slave", "serveur-mp 6 slave->master",
                                    "serveur-mp 6 client->master", "serveur-mp 6 master->client"};
    hmac_key *hk[4] = {&k->master_to_slave, &k->slave_to_master, &k->client_to_master, &k->master_to_client};
    uint8_t prk[SHA256_LEN];
    hkdf_extract("serveur-mp", 10, secret, n, prk);
    for (int i = 0; i < 4; i++) {
        hkdf_expand(prk, sizeof prk, labels[i], strlen(labels[i]), k->raw[i], SHA256_LEN);
        hmac_key_init(hk[i], k->raw[i], SHA256_LEN);
    }
    crypto_wipe(prk, sizeof prk);
}

int auth_load(auth_keys *a, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    static uint8_t file[AUTH_MAX_KEYS * (AUTH_MAX_SECRET + 2) + 2];
    size_t n, count = 0;
    if (secret_file_read(path, "key file", file, sizeof file - 2, &n, err, errlen) < 0)
        goto fail;
    /* one key per line: the first starts conversations, a second is accepted too */
    for (size_t at = 0; at < n && !(at == n - 1 && file[at] == '\n');) {
        size_t end = at;
        while (end < n && file[end] != '\n')
            end++;
        size_t len = end - at;
        if (len > 0 && file[at + len - 1] == '\r')
            len--;
        if (count == AUTH_MAX_KEYS) {
            snprintf(err, errlen, "key file '%s' holds more than %d keys (one per line: the new key, then the old one)",
                     path, AUTH_MAX_KEYS);
            goto fail;
        }
        if (len < AUTH_MIN_SECRET || len > AUTH_MAX_SECRET) {
            if (len > AUTH_MAX_SECRET)
                snprintf(err, errlen, "key %zu in '%s' is longer than %d bytes", count + 1, path, AUTH_MAX_SECRET);
            else
                snprintf(err, errlen,
                         "key %zu in '%s' is %zu bytes: at least %d are needed (for example: head -c 32 /dev/urandom "
                         "| od -An -tx1 | tr -d ' \\n' > %s)",
                         count + 1, path, len, AUTH_MIN_SECRET, path);
            goto fail;
        }
        secret_keys(&a->set[count++], file + at, len);
        at = end + 1;
    }
    if (count == 0) {
        snprintf(err, errlen,
                 "key file '%s' is empty: at least %d bytes are needed (for example: head -c 32 /dev/urandom | od "
                 "-An -tx1 | tr -d ' \\n' > %s)",
                 path, AUTH_MIN_SECRET, path);
        goto fail;
    }
    crypto_wipe(file, sizeof file);
    a->count = (int)count;
    snprintf(a->path, sizeof a->path, "%s", path);
    a->enabled = 1;
    return 0;
fail:
    crypto_wipe(file, sizeof file);
    crypto_wipe(a, sizeof *a);
    return -1;
}

int auth_reload(auth_keys *a, char *err, size_t errlen)
{
    static auth_keys fresh;
    if (!a->enabled) {
        snprintf(err, errlen, "no key file to reload");
        return -1;
    }
    if (auth_load(&fresh, a->path, err, errlen) < 0)
        return -1;
    *a = fresh;
    crypto_wipe(&fresh, sizeof fresh);
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

void auth_random(void *out, size_t n)
{
    if (plat_random(out, n) < 0)
        die("no good random source (getrandom, /dev/urandom): refusing to make guessable nonces and keys");
}

void auth_ephemeral_new(auth_ephemeral *e)
{
    auth_random(e->secret, sizeof e->secret);
    x25519_base(e->pub, e->secret);
}

int auth_conversation_keys(const auth_keys *a, int set, enum auth_role role, const char *label, const void *nonces,
                           size_t nn, const auth_ephemeral *mine, const uint8_t *peer_pub, aead_key *tx, aead_key *rx)
{
    if (!mine)
        return auth_keys_from_shared(a, set, role, label, nonces, nn, NULL, NULL, NULL, tx, rx);
    uint8_t shared[X25519_LEN];
    int rc = x25519(shared, mine->secret, peer_pub);
    if (rc == 0)
        rc = auth_keys_from_shared(a, set, role, label, nonces, nn, mine->pub, peer_pub, shared, tx, rx);
    crypto_wipe(shared, sizeof shared);
    return rc;
}

int auth_keys_from_shared(const auth_keys *a, int set, enum auth_role role, const char *label, const void *nonces,
                          size_t nn, const uint8_t *my_pub, const uint8_t *peer_pub, const uint8_t *shared,
                          aead_key *tx, aead_key *rx)
{
    /* which direction we send on, and whether we started the conversation */
    static const struct {
        enum auth_dir tx, rx;
        int initiator;
    } roles[] = {
        [AUTH_MASTER] = {DIR_MASTER_TO_SLAVE, DIR_SLAVE_TO_MASTER, 1},
        [AUTH_SLAVE] = {DIR_SLAVE_TO_MASTER, DIR_MASTER_TO_SLAVE, 0},
        [AUTH_CLIENT] = {DIR_CLIENT_TO_MASTER, DIR_MASTER_TO_CLIENT, 1},
        [AUTH_MASTER_OF_CLIENTS] = {DIR_MASTER_TO_CLIENT, DIR_CLIENT_TO_MASTER, 0},
    };
    const auth_secret_keys *k = &a->set[set];
    uint8_t ikm[SHA256_LEN + X25519_LEN], info[64 + 2 * X25519_LEN];
    size_t ll = strlen(label), infolen = ll + 1, ikmlen = SHA256_LEN;
    if (ll > 64 || set < 0 || set >= AUTH_MAX_KEYS)
        die("auth_conversation_keys: bad label or key set");
    memcpy(info, label, ll);
    info[ll] = 0;
    if (shared) {
        memcpy(ikm + SHA256_LEN, shared, X25519_LEN);
        ikmlen += X25519_LEN;
        const uint8_t *first = roles[role].initiator ? my_pub : peer_pub;
        const uint8_t *second = roles[role].initiator ? peer_pub : my_pub;
        memcpy(info + infolen, first, X25519_LEN);
        memcpy(info + infolen + X25519_LEN, second, X25519_LEN);
        infolen += 2 * X25519_LEN;
    }
    for (int i = 0; i < 2; i++) {
        aead_key *out = i == 0 ? tx : rx;
        if (!out)
            continue;
        memcpy(ikm, k->raw[i == 0 ? roles[role].tx : roles[role].rx], SHA256_LEN);
        hkdf_sha256(nonces, nn, ikm, ikmlen, info, infolen, out->k, sizeof out->k);
    }
    crypto_wipe(ikm, sizeof ikm);
    return 0;
}

static void counter_nonce(uint64_t counter, uint8_t nonce[AEAD_NONCE_LEN])
{
    memset(nonce, 0, 4);
    put_u32(nonce + 4, (uint32_t)(counter >> 32));
    put_u32(nonce + 8, (uint32_t)counter);
}

void auth_seal(const aead_key *k, uint64_t counter, const void *ad, size_t adlen, uint8_t *text, size_t n,
               uint8_t tag[AUTH_SEAL_LEN])
{
    uint8_t nonce[AEAD_NONCE_LEN];
    counter_nonce(counter, nonce);
    if (aead_seal(k->k, nonce, ad, adlen, text, n, text, tag) < 0)
        die("auth_seal: %zu bytes is more than one message may hold", n);
}

int auth_open(const aead_key *k, uint64_t counter, const void *ad, size_t adlen, uint8_t *text, size_t n,
              const uint8_t tag[AUTH_SEAL_LEN])
{
    uint8_t nonce[AEAD_NONCE_LEN];
    counter_nonce(counter, nonce);
    return aead_open(k->k, nonce, ad, adlen, text, n, tag, text) == 0;
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
