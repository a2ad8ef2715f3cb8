/* Unit tests: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 4231) vectors,
 * the replay window against a reference set, tags on datagrams and frames,
 * boot id ordering, key files. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "endpoint.h"
#include "proto.h"
#include "sha256.h"
#include "tap.h"

static const char *hex(const uint8_t *p, size_t n)
{
    static char buf[2 * 64 + 1];
    for (size_t i = 0; i < n; i++)
        sprintf(buf + 2 * i, "%02x", p[i]);
    return buf;
}

static void test_sha256(void)
{
    uint8_t out[32];
    sha256("abc", 3, out);
    ok(strcmp(hex(out, 32), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "SHA-256(abc)");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256(two, strlen(two), out);
    ok(strcmp(hex(out, 32), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0,
       "SHA-256 of the two-block FIPS vector");
    sha256("", 0, out);
    ok(strcmp(hex(out, 32), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "SHA-256 of nothing");
    /* One million 'a', fed in uneven pieces: the streaming path. */
    static char a[1000000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    sha256_init(&c);
    for (size_t off = 0, step = 1; off < sizeof a; off += step, step = step % 997 + 13)
        sha256_update(&c, a + off, off + step > sizeof a ? sizeof a - off : step);
    sha256_final(&c, out);
    ok(strcmp(hex(out, 32), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
       "SHA-256 of a million 'a' in uneven pieces");
}

static void test_hmac(void)
{
    uint8_t key[131], out[32];
    hmac_key k;
    memset(key, 0x0b, 20);
    hmac_key_init(&k, key, 20);
    hmac_sha256(&k, "Hi There", 8, out);
    ok(strcmp(hex(out, 32), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7") == 0, "RFC 4231 case 1");
    hmac_key_init(&k, "Jefe", 4);
    hmac_sha256(&k, "what do ya want for nothing?", 28, out);
    ok(strcmp(hex(out, 32), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0, "RFC 4231 case 2");
    memset(key, 0xaa, 131);
    hmac_key_init(&k, key, 131);
    const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_sha256(&k, msg, strlen(msg), out);
    ok(strcmp(hex(out, 32), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0,
       "RFC 4231 case 6 (key longer than a block)");
    uint8_t out2[32];
    hmac_sha256_2(&k, msg, 10, msg + 10, strlen(msg) - 10, out2);
    ok(memcmp(out, out2, 32) == 0, "HMAC over two pieces equals HMAC over the whole");
    ok(equal_const_time(out, out2, 32), "constant-time compare: equal");
    out2[31] ^= 1;
    ok(!equal_const_time(out, out2, 32), "constant-time compare: last byte differs");
}

static void test_replay(void)
{
    static replay_window w;
    static unsigned char seen[200000];
    replay_init(&w);
    ok(!replay_check(&w, 0), "sequence number 0 is never valid");
    ok(replay_check(&w, 5), "first number accepted");
    replay_update(&w, 5);
    ok(!replay_check(&w, 5), "and not twice");
    ok(replay_check(&w, 3), "an older unseen one inside the window is accepted (reordering)");
    replay_update(&w, 3);
    ok(!replay_check(&w, 3), "once");
    replay_update(&w, 5 + REPLAY_WINDOW_BITS * 3);
    ok(!replay_check(&w, 6), "far behind the window: refused as too old");

    /* Against a reference: random arrivals around a moving front. */
    replay_init(&w);
    memset(seen, 0, sizeof seen);
    uint64_t top = 0;
    int wrong = 0;
    for (int i = 0; i < 400000; i++) {
        uint64_t base = top > 3000 ? top - 3000 : 1;
        uint64_t s = base + tap_rand() % 3200;
        if (s >= sizeof seen)
            break;
        int expect = !seen[s] && (top == 0 || s > top || top - s < REPLAY_WINDOW_BITS - 64);
        int got = replay_check(&w, s);
        if (got != expect)
            wrong++;
        if (got) {
            replay_update(&w, s);
            seen[s] = 1;
            if (s > top)
                top = s;
        }
    }
    is_int(wrong, 0, "400000 random arrivals: the window agrees with a reference set");
}

static void test_sealed_dgrams(void)
{
    aead_key k, other;
    memset(&k, 0x41, sizeof k);
    other = k;
    other.k[31] ^= 1;
    uint8_t buf[DGRAM_MAX], copy[DGRAM_MAX];
    dgram d = {.type = DG_CANCEL, .job_id = 9, .sender_boot = 1, .receiver_boot = 2, .seq = 77}, o;
    size_t n = dgram_encode(&d, buf, sizeof buf, &k);
    const char *why;
    ok(n > 0 && dgram_decode(buf, n, &o, &why) == 0 && (o.flags & DGRAM_FLAG_AUTH) && o.seq == 77 &&
           o.sealed_len == n,
       "sealed datagram: its header decodes");
    memcpy(copy, buf, n);
    ok(dgram_open(copy, &o, &other, &why) == -2 && !strcmp(why, "bad MAC (wrong key?)") && !memcmp(copy, buf, n),
       "another key does not open it, nothing touched");
    ok(dgram_open(copy, &o, &k, &why) == 0 && o.job_id == 9 && o.type == DG_CANCEL, "its key opens it");
    /* a round trip with a payload: encrypted, then back byte for byte */
    static const char cmd[] = "echo the-secret-command";
    dgram j = {.type = DG_JOB, .job_id = 5, .sender_boot = 1, .receiver_boot = 2, .seq = 78, .floor = 1,
               .total = sizeof cmd, .offset = 0, .frag_size = FRAG_MAX, .payload_len = sizeof cmd,
               .payload = (const uint8_t *)cmd};
    n = dgram_encode(&j, buf, sizeof buf, &k);
    ok(n > 0 && !memmem(buf, n, "secret", 6), "a sealed JOB does not show its command");
    ok(dgram_decode(buf, n, &o, &why) == 0 && dgram_open(buf, &o, &k, &why) == 0 && o.payload_len == sizeof cmd &&
           !memcmp(o.payload, cmd, sizeof cmd) && o.floor == 1 && o.total == sizeof cmd,
       "and opens back to the same fields and payload");
    n = dgram_encode(&j, buf, sizeof buf, &k);
    memcpy(copy, buf, n);
    size_t caught = 0;
    for (size_t i = 0; i < n; i++) { /* a flipped bit anywhere, header included, is refused */
        for (int b = 0; b < 8; b++) {
            memcpy(buf, copy, n);
            buf[i] ^= (uint8_t)(1 << b);
            if (dgram_decode(buf, n, &o, &why) < 0 || !(o.flags & DGRAM_FLAG_AUTH) || dgram_open(buf, &o, &k, &why) < 0)
                caught++;
        }
    }
    ok(caught == n * 8, "each of the %zu bits of its %zu bytes flipped: refused (%zu)", n * 8, n, caught);
    memcpy(buf, copy, n);
    ok(dgram_decode(buf, n - 1, &o, &why) == 0 && dgram_open(buf, &o, &k, &why) == -2, "one byte short: refused");
    size_t plain = dgram_encode(&j, buf, sizeof buf, NULL);
    ok(plain + DGRAM_TAG_LEN == n && DGRAM_TAG_LEN == AUTH_SEAL_LEN, "sealing adds %d bytes (the Poly1305 tag)",
       DGRAM_TAG_LEN);
    plain = dgram_encode(&d, buf, sizeof buf, NULL);
    dgram ack = {.type = DG_JOB_ACK, .job_id = 9, .state = JS_GONE};
    uint8_t buf2[DGRAM_MAX];
    ok(dgram_encode(&ack, buf2, sizeof buf2, NULL) <= plain, "a CANCEL is never smaller than the JOB_ACK it gets");
    /* no answer larger than what it answers (amplification, doc/security.md 4.6) */
    dgram ping = {.type = DG_PING}, cookie = {.type = DG_COOKIE}, pong = {.type = DG_PONG};
    size_t np = dgram_encode(&ping, buf, sizeof buf, &k), nc = dgram_encode(&cookie, buf, sizeof buf, &k),
           ng = dgram_encode(&pong, buf, sizeof buf, &k);
    ok(np == 125 && nc == 109 && ng == 105, "sealed sizes: PING %zu, COOKIE %zu, PONG %zu (125, 109, 105)", np, nc, ng);
}

/* The handshake's proofs, computed once in auth.c for the side that makes
 * them and the side that checks: the bytes of doc/protocol.md 2.5. */
static void test_handshake_proofs(void)
{
    auth_keys a;
    memset(&a, 0, sizeof a);
    hmac_key_init(&a.set[0].client_to_master, "c2m-key-0123456789abcdef01234567", 32);
    hmac_key_init(&a.set[0].master_to_client, "m2c-key-0123456789abcdef01234567", 32);
    uint8_t fields[48], nc[AUTH_NONCE_LEN], nm[AUTH_NONCE_LEN], got[AUTH_TAG_LEN], want[AUTH_TAG_LEN];
    for (int i = 0; i < 48; i++)
        fields[i] = (uint8_t)(i * 5);
    memset(nc, 0x11, sizeof nc);
    memset(nm, 0x22, sizeof nm);
    auth_hello_proof(&a.set[0].client_to_master, fields, 48, got);
    hmac_sha256_2(&a.set[0].client_to_master, "hello", 5, fields, 48, want);
    ok(!memcmp(got, want, sizeof got), "HELLO tag = HMAC(K_c->m, \"hello\" || fields)");
    ok(auth_hello_check(&a.set[0].client_to_master, fields, 48, want), "and is accepted");
    want[31] ^= 1;
    ok(!auth_hello_check(&a.set[0].client_to_master, fields, 48, want), "one flipped bit refused");
    ok(!auth_hello_check(&a.set[0].master_to_client, fields, 48, got), "the other direction's key refused");
    ok(!auth_hello_check(&a.set[0].client_to_master, fields, 48, NULL), "no tag refused");
    uint8_t msg[AUTH_NONCE_LEN + 44];
    memcpy(msg, nc, AUTH_NONCE_LEN);
    memcpy(msg + AUTH_NONCE_LEN, fields, 44);
    auth_welcome_proof(&a.set[0].master_to_client, nc, fields, 44, got);
    hmac_sha256_2(&a.set[0].master_to_client, "welcome", 7, msg, sizeof msg, want);
    ok(!memcmp(got, want, sizeof got), "WELCOME proof = HMAC(K_m->c, \"welcome\" || client nonce || fields)");
    ok(auth_welcome_check(&a.set[0].master_to_client, nc, fields, 44, want), "and is accepted");
    ok(!auth_welcome_check(&a.set[0].master_to_client, nm, fields, 44, want), "with another client nonce refused");
    ok(!auth_welcome_check(&a.set[0].master_to_client, nc, fields, 44, NULL), "no proof refused");
}

static void test_boot_ids(void)
{
    uint64_t a = boot_id_new(), b = boot_id_new();
    ok(a && b && a != b, "two boot ids differ, neither is 0");
    /* no clock in them: the high halves of ids drawn in the same second differ too */
    int same_high = 0;
    for (int i = 0; i < 8; i++)
        same_high += (boot_id_new() >> 32) == (a >> 32);
    ok(same_high < 2, "no wall-clock seconds in the high half");
}

static void test_replay_start(void)
{
    static replay_window w;
    for (uint64_t seq = 60; seq < 200; seq += 67) {
        replay_start(&w, seq);
        ok(!replay_check(&w, seq) && !replay_check(&w, seq - 1) && !replay_check(&w, seq - 50),
           "replay_start(%llu): it and every number before it are refused", (unsigned long long)seq);
        ok(replay_check(&w, seq + 1) && replay_check(&w, seq + 2), "later ones are accepted");
        replay_update(&w, seq + 2);
        ok(replay_check(&w, seq + 1), "even out of order");
    }
}

static void test_key_files(void)
{
    char dir[] = "/tmp/unit-auth.XXXXXX", path[64];
    auth_keys keys;
    char err[512];
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(path, sizeof path, "%s/key", dir);
    FILE *f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef\n", f);
    fclose(f);
    chmod(path, 0600);
    ok(auth_load(&keys, path, err, sizeof err) == 0 && keys.enabled, "a 32-byte key, mode 600, with a newline: loaded");
    chmod(path, 0640);
    ok(auth_load(&keys, path, err, sizeof err) < 0 && strstr(err, "accessible by group or others"),
       "mode 640 refused: %s", err);
    f = fopen(path, "w");
    fputs("short-key\n", f);
    fclose(f);
    chmod(path, 0600);
    ok(auth_load(&keys, path, err, sizeof err) < 0 && strstr(err, "at least 32"), "a short key refused: %.60s", err);
    ok(auth_load(&keys, "/nonexistent/key", err, sizeof err) < 0 && strstr(err, "cannot read"), "a missing file refused");
    unlink(path);
    rmdir(dir);
}

static void write_key_file(const char *path, const char *content);

/* Keys from a key file of content (one or two lines). */
static void keys_from(auth_keys *a, const char *content)
{
    char dir[] = "/tmp/unit-auth.XXXXXX", path[64], err[256];
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(path, sizeof path, "%s/key", dir);
    write_key_file(path, content);
    if (auth_load(a, path, err, sizeof err) < 0)
        die("%s", err);
    unlink(path);
    rmdir(dir);
}

#define KEY_OLD "0123456789abcdef0123456789abcdef"
#define KEY_NEW "NEW-KEY-0123456789abcdef01234567"

/* Both roles run the endpoint: the handshake tier (PING, PONG, COOKIE)
 * opens with no state, on any line of the key file; the session tier with
 * keys both ephemerals went into, which the key file alone cannot redo. */
static void test_dgram_keys(void)
{
    static auth_keys a, rot, third;
    keys_from(&a, KEY_OLD "\n");
    keys_from(&rot, KEY_NEW "\n" KEY_OLD "\n");
    keys_from(&third, "THIRD-KEY-456789abcdef0123456789\n");
    char err[200];
    sock_t ms = net_udp_bind("127.0.0.1", 0, err, sizeof err), ss = net_udp_bind("127.0.0.1", 0, err, sizeof err);
    net_addr to, from;
    ok(ms != SOCK_INVALID && ss != SOCK_INVALID &&
       net_resolve("127.0.0.1", net_local_port(ss), 1, &to, err, sizeof err) == 0, "two UDP sockets on loopback");
    static endpoint me, se;
    me = (endpoint){.auth = &a, .role = AUTH_MASTER, .boot = 0x1111222233334444ull};
    se = (endpoint){.auth = &rot, .role = AUTH_SLAVE, .boot = 0x5555666677778888ull};
    endpoint_start(&me);
    endpoint_start(&se);
    ok(memcmp(me.eph.pub, se.eph.pub, X25519_LEN) != 0, "each life draws its own key pair");
    long n;
    const char *why = "";
    int set = -1;
#define RECV()                                                                                                         \
    do {                                                                                                               \
        n = -1;                                                                                                        \
        for (int tries = 0; tries < 1000 && n < 0; tries++) /* loopback delivers at once; bounded anyway */            \
            n = net_recvfrom(ss, se.in, sizeof se.in, &from);                                                          \
    } while (0)
    /* a PING with the old key alone (set 0) reaches a slave whose file is new, old */
    dgram d = {.type = DG_PING, .echo_us = 5}, got;
    ok(endpoint_send(&me, ms, &to, 0, NULL, &d, DGRAM_MAX, WHY_FIRST) == 1 && d.seq == 1 && d.sender_boot == me.boot &&
           d.receiver_boot == 0,
       "endpoint_send stamps both lives and sequence number 1");
    RECV();
    ok(n > 0 && dgram_decode(se.in, (size_t)n, &got, &why) == 0 && got.seq == 1 && got.type == DG_PING,
       "the slave's side reads its header");
    ok(endpoint_keyed_as_we_are(&se, &got) == NULL, "keyed as the slave is");
    ok(endpoint_admit(&se, se.in, &got, NULL, NULL, &set) == NULL && set == 1 && got.echo_us == 5 &&
           !memcmp(got.eph_pub, me.eph.pub, X25519_LEN),
       "a slave with (new, old) opens a PING sealed with the old key: set %d, the master's public key in it", set);
    /* the other way: a master with (new, old) starts with the new key; a
     * slave with the old one alone cannot open it */
    static endpoint mr;
    mr = (endpoint){.auth = &rot, .role = AUTH_MASTER, .boot = 0x1111222233334444ull};
    endpoint_start(&mr);
    endpoint_send(&mr, ms, &to, 0, NULL, &d, DGRAM_MAX, WHY_FIRST);
    RECV();
    se.auth = &a;
    ok(n > 0 && dgram_decode(se.in, (size_t)n, &got, &why) == 0 &&
           (why = endpoint_admit(&se, se.in, &got, NULL, NULL, &set)) && !strcmp(why, "bad MAC (wrong key?)"),
       "a master with (new, old) to a slave with old alone: refused (%s): slaves first", why ? why : "opened");
    se.auth = &rot;
    endpoint_send(&mr, ms, &to, 0, NULL, &d, DGRAM_MAX, WHY_FIRST);
    RECV();
    ok(n > 0 && dgram_decode(se.in, (size_t)n, &got, &why) == 0 &&
           endpoint_admit(&se, se.in, &got, NULL, NULL, &set) == NULL && set == 0,
       "and with (new, old) on both sides: the new key (set 0)");
    se.auth = &third;
    endpoint_send(&me, ms, &to, 0, NULL, &d, DGRAM_MAX, WHY_FIRST);
    RECV();
    ok(n > 0 && dgram_decode(se.in, (size_t)n, &got, &why) == 0 &&
           endpoint_admit(&se, se.in, &got, NULL, NULL, &set) != NULL,
       "a slave with a third key: refused");
    se.auth = &rot;

    /* the session tier: both derive the same keys from the other's public key */
    dgram_keys mk, sk, wrong;
    ok(endpoint_keys(&me, 0, se.boot, se.eph.pub, &mk) == 0 && endpoint_keys(&se, 1, me.boot, me.eph.pub, &sk) == 0,
       "both sides derive the session keys (the master on set 0: old; the slave on set 1: old)");
    ok(!memcmp(&mk.tx, &sk.rx, sizeof mk.tx) && !memcmp(&mk.rx, &sk.tx, sizeof mk.rx) &&
           memcmp(&mk.tx, &mk.rx, sizeof mk.tx) != 0,
       "the master's send key is the slave's receive key, and the other way round; one per direction");
    uint8_t zero[X25519_LEN] = {0};
    ok(endpoint_keys(&se, 1, me.boot, zero, &wrong) < 0, "a low-order public key refused");
    dgram c = {.type = DG_CANCEL, .job_id = 42};
    ok(endpoint_send(&me, ms, &to, se.boot, &mk, &c, DGRAM_MAX, WHY_FIRST) == 1, "a CANCEL sealed with the session key");
    ok(endpoint_send(&me, ms, &to, se.boot, &mk, &c, 10, WHY_FIRST) == 0, "a datagram larger than the cap is not sent");
    RECV();
    uint8_t recorded[DGRAM_MAX];
    size_t rn = n > 0 ? (size_t)n : 0;
    memcpy(recorded, se.in, rn);
    static replay_window w;
    replay_init(&w);
    ok(n > 0 && dgram_decode(se.in, (size_t)n, &got, &why) == 0, "the slave reads its header");
    ok(endpoint_admit(&se, se.in, &got, NULL, &w, NULL) != NULL, "no session: refused");
    dgram_keys swapped = sk;
    swapped.rx = sk.tx;
    ok(endpoint_admit(&se, se.in, &got, &swapped, &w, NULL) != NULL, "opened with the slave's own send key: refused");
    /* forward secrecy: the right key file, the public keys (they travel in
     * PING and COOKIE), but neither life's secret: it does not open */
    static endpoint thief;
    thief = (endpoint){.auth = &rot, .role = AUTH_SLAVE, .boot = se.boot};
    endpoint_start(&thief);
    ok(endpoint_keys(&thief, 1, me.boot, me.eph.pub, &wrong) == 0 &&
           endpoint_admit(&thief, se.in, &got, &wrong, NULL, NULL) != NULL && !memcmp(se.in, recorded, rn),
       "the key file without either ephemeral secret does not open a recorded datagram");
    ok(endpoint_admit(&se, se.in, &got, &sk, &w, NULL) == NULL && got.job_id == 42, "its session keys: admitted");
    memcpy(se.in, recorded, rn);
    dgram_decode(se.in, rn, &got, &why);
    why = endpoint_admit(&se, se.in, &got, &sk, &w, NULL);
    ok(why && !strcmp(why, "replayed"), "the same datagram again: %s", why ? why : "admitted");
    endpoint_end(&se);
    ok(!memcmp(se.eph.secret, zero, X25519_LEN), "endpoint_end wipes the life's secret");
    auth_keys none = {.enabled = 0};
    endpoint plain = {.auth = &none, .role = AUTH_SLAVE};
    why = endpoint_keyed_as_we_are(&plain, &got);
    ok(why && strstr(why, "this slave has no key"), "a keyless slave names what is wrong: %s", why ? why : "");
#undef RECV
    net_close(ms);
    net_close(ss);
}

static void write_key_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    chmod(path, 0600);
}

/* A key file of two lines (rotation): the first starts conversations, both
 * are kept; three lines, or one bad line, refused; auth_reload keeps the
 * old keys when the new file is bad. */
static void test_key_rotation_files(void)
{
    char dir[] = "/tmp/unit-auth.XXXXXX", path[64];
    static auth_keys one, two, again;
    char err[512];
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(path, sizeof path, "%s/key", dir);
    write_key_file(path, "0123456789abcdef0123456789abcdef\n");
    ok(auth_load(&one, path, err, sizeof err) == 0 && one.count == 1, "one key: count 1");
    write_key_file(path, "NEW-KEY-0123456789abcdef01234567\r\n0123456789abcdef0123456789abcdef\r\n");
    ok(auth_load(&two, path, err, sizeof err) == 0 && two.count == 2, "two keys (CRLF): count 2");
    ok(!memcmp(two.set[1].raw, one.set[0].raw, sizeof one.set[0].raw), "the second line is the old key");
    ok(memcmp(two.set[0].raw, one.set[0].raw, sizeof one.set[0].raw) != 0, "the first is another key");
    ok(memcmp(two.set[0].raw[DIR_MASTER_TO_SLAVE], two.set[0].raw[DIR_SLAVE_TO_MASTER], SHA256_LEN) != 0 &&
           memcmp(two.set[0].raw[DIR_CLIENT_TO_MASTER], two.set[0].raw[DIR_MASTER_TO_CLIENT], SHA256_LEN) != 0,
       "four distinct direction keys");
    write_key_file(path, "0123456789abcdef0123456789abcdef\n0123456789abcdef0123456789abcdeX\n"
                         "0123456789abcdef0123456789abcdeY\n");
    ok(auth_load(&again, path, err, sizeof err) < 0 && strstr(err, "more than 2 keys"), "three keys refused: %.70s",
       err);
    write_key_file(path, "0123456789abcdef0123456789abcdef\nshort\n");
    ok(auth_load(&again, path, err, sizeof err) < 0 && strstr(err, "key 2") && strstr(err, "at least 32"),
       "a short second key refused, named: %.60s", err);
    write_key_file(path, "\n");
    ok(auth_load(&again, path, err, sizeof err) < 0 && strstr(err, "empty"), "an empty file refused: %.50s", err);
    /* reload: a bad file changes nothing, a good one replaces */
    write_key_file(path, "NEW-KEY-0123456789abcdef01234567\n0123456789abcdef0123456789abcdef\n");
    ok(auth_load(&again, path, err, sizeof err) == 0, "loaded for reload");
    write_key_file(path, "short\n");
    ok(auth_reload(&again, err, sizeof err) < 0 && again.enabled && again.count == 2 &&
           !memcmp(again.set[0].raw, two.set[0].raw, sizeof two.set[0].raw),
       "a bad file on reload: refused, the keys kept");
    write_key_file(path, "0123456789abcdef0123456789abcdef\n");
    ok(auth_reload(&again, err, sizeof err) == 0 && again.count == 1 &&
           !memcmp(again.set[0].raw, one.set[0].raw, sizeof one.set[0].raw),
       "a good file on reload: its keys replace");
    unlink(path);
    rmdir(dir);
}

/* auth_conversation_keys is the one derivation of every role: each side's
 * tx is the other's rx; the exchange, the nonces, the label and the key set
 * all change the keys; a low-order public key is refused. */
static void test_conversation_keys(void)
{
    static auth_keys a;
    static const char *secrets[2] = {"0123456789abcdef0123456789abcdef", "NEW-KEY-0123456789abcdef01234567"};
    char dir[] = "/tmp/unit-auth.XXXXXX", path[64], content[128], err[256];
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(path, sizeof path, "%s/key", dir);
    snprintf(content, sizeof content, "%s\n%s\n", secrets[0], secrets[1]);
    write_key_file(path, content);
    ok(auth_load(&a, path, err, sizeof err) == 0, "keys loaded");
    unlink(path);
    rmdir(dir);

    auth_ephemeral em, es;
    auth_ephemeral_new(&em);
    auth_ephemeral_new(&es);
    uint8_t nonces[16];
    memset(nonces, 0x42, sizeof nonces);
    aead_key m_tx, m_rx, s_tx, s_rx, x;
    ok(auth_conversation_keys(&a, 0, AUTH_MASTER, "dgram", nonces, 16, &em, es.pub, &m_tx, &m_rx) == 0 &&
           auth_conversation_keys(&a, 0, AUTH_SLAVE, "dgram", nonces, 16, &es, em.pub, &s_tx, &s_rx) == 0,
       "master and slave derive");
    ok(!memcmp(&m_tx, &s_rx, sizeof m_tx) && !memcmp(&m_rx, &s_tx, sizeof m_rx), "each side's tx is the other's rx");
    ok(memcmp(&m_tx, &m_rx, sizeof m_tx) != 0, "the two directions differ");
    aead_key c_tx, c_rx, mc_tx, mc_rx;
    auth_conversation_keys(&a, 0, AUTH_CLIENT, "frames", nonces, 16, &em, es.pub, &c_tx, &c_rx);
    auth_conversation_keys(&a, 0, AUTH_MASTER_OF_CLIENTS, "frames", nonces, 16, &es, em.pub, &mc_tx, &mc_rx);
    ok(!memcmp(&c_tx, &mc_rx, sizeof c_tx) && !memcmp(&c_rx, &mc_tx, sizeof c_rx), "client and master agree too");
    ok(memcmp(&c_tx, &m_tx, sizeof c_tx) != 0, "another link, other keys");
    auth_conversation_keys(&a, 1, AUTH_MASTER, "dgram", nonces, 16, &em, es.pub, &x, NULL);
    ok(memcmp(&x, &m_tx, sizeof x) != 0, "the other key set, another key");
    auth_conversation_keys(&a, 0, AUTH_MASTER, "dgram hs", nonces, 16, &em, es.pub, &x, NULL);
    ok(memcmp(&x, &m_tx, sizeof x) != 0, "another label, another key");
    nonces[15] ^= 1;
    auth_conversation_keys(&a, 0, AUTH_MASTER, "dgram", nonces, 16, &em, es.pub, &x, NULL);
    ok(memcmp(&x, &m_tx, sizeof x) != 0, "other nonces, another key");
    nonces[15] ^= 1;
    auth_ephemeral other;
    auth_ephemeral_new(&other);
    auth_conversation_keys(&a, 0, AUTH_MASTER, "dgram", nonces, 16, &other, es.pub, &x, NULL);
    ok(memcmp(&x, &m_tx, sizeof x) != 0, "another ephemeral key, another key (the exchange is in)");
    aead_key h1, h2;
    ok(auth_conversation_keys(&a, 0, AUTH_MASTER, "dgram hs", nonces, 16, NULL, NULL, &h1, NULL) == 0 &&
           auth_conversation_keys(&a, 0, AUTH_SLAVE, "dgram hs", nonces, 16, NULL, NULL, NULL, &h2) == 0 &&
           !memcmp(&h1, &h2, sizeof h1),
       "without an exchange (handshake keys): both sides agree");
    uint8_t zero[X25519_LEN] = {0};
    memset(&x, 0x55, sizeof x);
    aead_key before = x;
    ok(auth_conversation_keys(&a, 0, AUTH_MASTER, "dgram", nonces, 16, &em, zero, &x, NULL) < 0 &&
           !memcmp(&x, &before, sizeof x),
       "a low-order public key (0) refused, nothing written");

    /* sealing: in place, bound to counter and associated data */
    uint8_t text[100], copy[100], tag[AUTH_SEAL_LEN], ad[8] = "header";
    for (int i = 0; i < 100; i++)
        text[i] = (uint8_t)i;
    memcpy(copy, text, sizeof text);
    auth_seal(&m_tx, 7, ad, sizeof ad, text, sizeof text, tag);
    ok(memcmp(text, copy, sizeof text) != 0, "sealed text is not the plain text");
    ok(!auth_open(&s_rx, 8, ad, sizeof ad, text, sizeof text, tag), "another counter: refused");
    ad[0] ^= 1;
    ok(!auth_open(&s_rx, 7, ad, sizeof ad, text, sizeof text, tag), "another header: refused");
    ad[0] ^= 1;
    ok(!auth_open(&s_tx, 7, ad, sizeof ad, text, sizeof text, tag), "the other direction's key: refused");
    text[50] ^= 0x80;
    ok(!auth_open(&s_rx, 7, ad, sizeof ad, text, sizeof text, tag), "a flipped bit: refused");
    text[50] ^= 0x80;
    ok(auth_open(&s_rx, 7, ad, sizeof ad, text, sizeof text, tag) && !memcmp(text, copy, sizeof text),
       "the right key, counter and header: opened, the text back");
}


/* Sealed frames (doc/protocol.md 2.5): a connection's frame keys from
 * "frames", both nonces and the exchange; [u32 length][type || fields
 * sealed][16-byte tag]; nothing opens but the right key at the right
 * position, and no byte can change, the length's included. */
static void test_sealed_frames(void)
{
    const char *path = "/tmp/unit_auth_frames.key";
    write_key_file(path, "new-key-0123456789abcdef0123456789\nold-key-0123456789abcdef0123456789\n");
    auth_keys a;
    char err[256];
    ok(auth_load(&a, path, err, sizeof err) == 0 && a.count == 2, "two keys loaded");
    unlink(path);
    uint8_t nonces[2 * AUTH_NONCE_LEN];
    for (size_t i = 0; i < sizeof nonces; i++)
        nonces[i] = (uint8_t)(i * 3 + 1);
    auth_ephemeral ec, em;
    auth_ephemeral_new(&ec);
    auth_ephemeral_new(&em);
    aead_key c_tx, c_rx, m_tx, m_rx, old_tx;
    ok(auth_conversation_keys(&a, 0, AUTH_CLIENT, "frames", nonces, sizeof nonces, &ec, em.pub, &c_tx, &c_rx) == 0 &&
           auth_conversation_keys(&a, 0, AUTH_MASTER_OF_CLIENTS, "frames", nonces, sizeof nonces, &em, ec.pub, &m_tx,
                                  &m_rx) == 0 &&
           !memcmp(c_tx.k, m_rx.k, AEAD_KEY_LEN) && !memcmp(m_tx.k, c_rx.k, AEAD_KEY_LEN) &&
           memcmp(c_tx.k, c_rx.k, AEAD_KEY_LEN) != 0,
       "client and master derive the same frame keys, one per direction");
    auth_conversation_keys(&a, 1, AUTH_CLIENT, "frames", nonces, sizeof nonces, &ec, em.pub, &old_tx, NULL);
    ok(memcmp(old_tx.k, c_tx.k, AEAD_KEY_LEN) != 0, "the old key set gives other frame keys");
    uint8_t zero[X25519_LEN] = {0};
    aead_key x;
    ok(auth_conversation_keys(&a, 0, AUTH_MASTER_OF_CLIENTS, "frames", nonces, sizeof nonces, &em, zero, &x, &x) < 0 &&
           auth_conversation_keys(&a, 0, AUTH_CLIENT, "frames", nonces, sizeof nonces, &ec, zero, &x, &x) < 0,
       "an all-zero (low-order) public key in a HELLO or a WELCOME is refused by either side");

    bwriter w;
    bw_init(&w, 1 << 16);
    static const char cmd[] = "echo secret-7f3a";
    submit_frame sf = {.seq = 77, .len = sizeof cmd - 1, .command = (const uint8_t *)cmd};
    frame_end_sealed(&w, submit_frame_encode(&w, &sf), &c_tx, 5);
    size_t n = w.len;
    ok(n == 4 + 1 + 4 + sizeof cmd - 1 + FRAME_SEAL_LEN && get_u32(w.data) == n - 4,
       "sealed SUBMIT: length, type + fields, %d-byte tag (%zu bytes)", FRAME_SEAL_LEN, n);
    ok(!memmem(w.data, n, "secret", 6), "its command is not on the wire in clear");
    /* room after the frame: a flipped length bit asks for no bytes that are missing */
    static uint8_t buf[1 << 17], orig[1 << 17];
    memset(buf, 0xAB, sizeof buf);
    memcpy(buf, w.data, n);
    memcpy(orig, buf, sizeof buf);
    uint8_t type;
    breader f;
    const size_t max = 1 << 16;
    long r = frame_open(buf, n, max, &m_rx, 4, &type, &f);
    ok(r == FRAME_TAMPERED && !memcmp(buf, orig, n), "opened at the wrong position (replayed, reordered): refused, untouched");
    ok(frame_open(buf, n, max, &m_rx, 6, &type, &f) == FRAME_TAMPERED, "at the next position: refused");
    ok(frame_open(buf, n, max, &c_rx, 5, &type, &f) == FRAME_TAMPERED, "with the other direction's key: refused");
    ok(frame_open(buf, n, max, &m_tx, 5, &type, &f) == FRAME_TAMPERED, "with the receiver's sending key: refused");
    ok(frame_open(buf, n, max, &old_tx, 5, &type, &f) == FRAME_TAMPERED, "with the other key set's: refused");
    int caught = 1;
    for (size_t i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (uint8_t)(1 << bit);
            long got = frame_open(buf, sizeof buf, max, &m_rx, 5, &type, &f);
            buf[i] ^= (uint8_t)(1 << bit);
            if (got >= 0 || memcmp(buf, orig, sizeof buf) != 0)
                caught = 0;
        }
    ok(caught, "a flipped bit in any of its %zu bytes (the length's included) refused, the buffer untouched", n);
    int waits = 1;
    for (size_t cut = 0; cut < n; cut++)
        if (frame_open(buf, cut, max, &m_rx, 5, &type, &f) != 0)
            waits = 0;
    ok(waits, "a partial sealed frame waits for its bytes");
    r = frame_open(buf, n, max, &m_rx, 5, &type, &f);
    submit_frame got;
    ok(r == (long)n && type == F_SUBMIT && br_left(&f) == 4 + sizeof cmd - 1 && submit_frame_decode(&f, &got) == 0 &&
           got.seq == 77 && got.len == sizeof cmd - 1 && !memcmp(got.command, cmd, got.len),
       "the right key at the right position opens it: type and fields back, the tag left out");
    /* shorter than a type and a tag: refused, whatever it holds */
    uint8_t tiny[4 + FRAME_SEAL_LEN];
    memset(tiny, 0, sizeof tiny);
    put_u32(tiny, FRAME_SEAL_LEN);
    ok(frame_open(tiny, sizeof tiny, max, &m_rx, 0, &type, &f) == FRAME_TAMPERED, "a sealed frame with no room for a type refused");
    /* an empty frame (BYE), then the next counter */
    bw_reset(&w);
    frame_end_sealed(&w, empty_frame_encode(&w, F_BYE), &m_tx, 0);
    frame_end_sealed(&w, empty_frame_encode(&w, F_BYE), &m_tx, 1);
    long r0 = frame_open(w.data, w.len, max, &c_rx, 0, &type, &f);
    long r1 = r0 > 0 ? frame_open(w.data + r0, w.len - (size_t)r0, max, &c_rx, 1, &type, &f) : -1;
    ok(r0 == 4 + 1 + FRAME_SEAL_LEN && r1 == r0 && type == F_BYE && br_left(&f) == 0 &&
           memcmp(w.data + 4, w.data + r0 + 4, 1 + FRAME_SEAL_LEN) != 0,
       "two identical frames in a row: sealed differently (their positions), both open");
    ok(frame_open(w.data, w.len, max, NULL, 0, &type, &f) == frame_parse(w.data, w.len, max, &type, &f),
       "without a key frame_open is frame_parse");
    bw_free(&w);
}

int main(void)
{
    test_sha256();
    test_hmac();
    test_replay();
    test_sealed_dgrams();
    test_handshake_proofs();
    test_boot_ids();
    test_replay_start();
    test_key_files();
    test_dgram_keys();
    test_key_rotation_files();
    test_conversation_keys();
    test_sealed_frames();
    return done_testing();
}
