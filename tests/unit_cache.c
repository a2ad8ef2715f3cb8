/* Unit tests: the master's result cache table (master/cache.c): keys (the
 * line, --wd, --env each change it), what is storable, hit and miss, age
 * expiry (an entry from the future is expired: a clock stepped back), the
 * --timeout bound, replacing an entry, LRU eviction under the size bound,
 * and the bookkeeping (bytes, entries, journal bytes released) against a
 * model through a random run. */
#include <stdlib.h>
#include <string.h>

#include "master/cache.h"
#include "proto.h"
#include "tap.h"

#define H 1000u /* a second, in ms */

static size_t body_of(uint8_t *out, size_t cap, uint8_t status, int exit_code, uint8_t flags, uint64_t dur_us,
                      const char *stdout_text)
{
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.exit_code = exit_code;
    r.stdout_truncated = !!(flags & RESULT_FLAG_STDOUT_TRUNCATED);
    r.stderr_truncated = !!(flags & RESULT_FLAG_STDERR_TRUNCATED);
    r.ran_twice = !!(flags & RESULT_FLAG_RAN_TWICE);
    r.cached = !!(flags & RESULT_FLAG_CACHED);
    r.start_ms = 1700000000000ull;
    r.duration_us = dur_us;
    r.stdout_data = (char *)stdout_text;
    r.stdout_len = (uint32_t)strlen(stdout_text);
    bwriter w;
    bw_init(&w, cap);
    result_encode(&w, &r);
    size_t n = w.error ? 0 : w.len;
    memcpy(out, w.data, n);
    bw_free(&w);
    return n;
}

static void key_of(uint8_t key[CACHE_KEY_LEN], const char *line, const char *wd, int nenv, const char *const *env)
{
    static options_frame o;
    memset(&o, 0, sizeof o);
    if (wd)
        o.wd = (opt_str){wd, (uint16_t)strlen(wd)};
    for (int i = 0; i < nenv; i++)
        o.env[o.nenv++] = (opt_str){env[i], (uint16_t)strlen(env[i])};
    cache_key(key, line, strlen(line), &o);
}

static void test_keys(void)
{
    uint8_t a[CACHE_KEY_LEN], b[CACHE_KEY_LEN];
    const char *e1[] = {"A=1"}, *e2[] = {"A=2"}, *e12[] = {"A=1", "B=2"}, *e21[] = {"B=2", "A=1"};
    key_of(a, "echo hi", NULL, 0, NULL);
    key_of(b, "echo hi", NULL, 0, NULL);
    ok(!memcmp(a, b, sizeof a), "the same line: the same key");
    key_of(b, "echo hi ", NULL, 0, NULL);
    ok(memcmp(a, b, sizeof a), "a byte more: another key");
    key_of(b, "echo hi", "sub", 0, NULL);
    ok(memcmp(a, b, sizeof a), "--wd: another key");
    key_of(a, "echo hi", "sub", 1, e1);
    key_of(b, "echo hi", "sub", 1, e2);
    ok(memcmp(a, b, sizeof a), "another --env value: another key");
    key_of(a, "echo hi", NULL, 2, e12);
    key_of(b, "echo hi", NULL, 2, e21);
    ok(memcmp(a, b, sizeof a), "--env in another order: another key (the order is what the command gets)");
    /* the parts are length-prefixed: a line that ends like a --wd begins is not the same */
    key_of(a, "echo ab", "c", 0, NULL);
    key_of(b, "echo a", "bc", 0, NULL);
    ok(memcmp(a, b, sizeof a), "line 'echo ab' + wd 'c' is not line 'echo a' + wd 'bc'");
}

static void test_storable(void)
{
    uint8_t body[512];
    size_t n = body_of(body, sizeof body, RUN_EXITED, 0, 0, 10, "out");
    ok(cache_result_storable(body, n), "exit 0, nothing truncated: storable");
    n = body_of(body, sizeof body, RUN_EXITED, 1, 0, 10, "out");
    ok(!cache_result_storable(body, n), "exit 1: not storable");
    n = body_of(body, sizeof body, RUN_SIGNALED, 0, 0, 10, "");
    ok(!cache_result_storable(body, n), "killed by a signal: not storable");
    n = body_of(body, sizeof body, RUN_TIMED_OUT, 0, 0, 10, "");
    ok(!cache_result_storable(body, n), "timed out: not storable");
    n = body_of(body, sizeof body, RUN_EXITED, 0, RESULT_FLAG_STDOUT_TRUNCATED, 10, "out");
    ok(!cache_result_storable(body, n), "stdout truncated: not storable");
    n = body_of(body, sizeof body, RUN_EXITED, 0, RESULT_FLAG_STDERR_TRUNCATED, 10, "out");
    ok(!cache_result_storable(body, n), "stderr truncated: not storable");
    n = body_of(body, sizeof body, RUN_EXITED, 0, RESULT_FLAG_RAN_TWICE, 10, "out");
    ok(!cache_result_storable(body, n), "may have run twice: not storable");
    n = body_of(body, sizeof body, RUN_EXITED, 0, RESULT_FLAG_CACHED, 10, "out");
    ok(!cache_result_storable(body, n), "already from the cache: not stored again");
    ok(!cache_result_storable(body, 5), "a body cut short: not storable");
}

static void test_hit_miss_age(void)
{
    result_cache c;
    uint8_t k1[CACHE_KEY_LEN], k2[CACHE_KEY_LEN], body[512];
    key_of(k1, "one", NULL, 0, NULL);
    key_of(k2, "two", NULL, 0, NULL);
    size_t n = body_of(body, sizeof body, RUN_EXITED, 0, 0, 250000, "hello");
    cache_init(&c, 1u << 20, 10 * H);
    uint64_t t = 1000000;
    ok(cache_get(&c, k1, t, 0) == NULL, "empty: a miss");
    ok(cache_put(&c, k1, t, t, "s1:1", 4, body, n) != NULL, "stored");
    const cache_entry *e = cache_get(&c, k1, t + 1, 0);
    ok(e && e->body_len == n && !memcmp(e->body, body, n) && !strcmp(e->host, "s1:1"), "a hit: its body and host");
    ok(cache_get(&c, k2, t + 1, 0) == NULL, "another key: a miss");
    is_int(c.hits, 1, "one hit counted");
    is_int(c.misses, 2, "two misses counted");
    ok(cache_get(&c, k1, t + 10 * H - 1, 0) != NULL, "a hit just before --cache-age");
    ok(cache_get(&c, k1, t + 10 * H, 0) == NULL, "at --cache-age: expired, a miss");
    is_int(c.entries, 0, "the expired entry is dropped");
    is_int(c.expirations, 1, "one expiration counted");
    /* the --timeout bound: a 0.25 s run is not a hit under a 0.25 s timeout, and is kept */
    cache_put(&c, k1, t, t, "s1:1", 4, body, n);
    ok(cache_get(&c, k1, t, 250000) == NULL, "ran 0.25 s, --timeout 0.25 s: a miss");
    ok(cache_get(&c, k1, t, 250001) != NULL, "... --timeout a microsecond longer: a hit (the entry was kept)");
    /* the clock stepped back: an entry from the future is expired, never immortal */
    ok(cache_get(&c, k1, t - 1, 0) == NULL, "now before its store time (the clock went back): expired");
    is_int(c.entries, 0, "... and dropped");
    ok(cache_put(&c, k1, t + 5 * H, t, "s1:1", 4, body, n) == NULL, "a replayed entry from the future: not stored");
    ok(cache_put(&c, k1, t - 10 * H, t, "s1:1", 4, body, n) == NULL, "a replayed entry already expired: not stored");
    /* cache_expire: from the first stored, and the next deadline */
    cache_put(&c, k1, t, t, "s1:1", 4, body, n);
    cache_put(&c, k2, t + 3 * H, t + 3 * H, "s1:1", 4, body, n);
    is_int(cache_expire(&c, t + 4 * H), 6 * H, "cache_expire: the first expires in 6 s");
    is_int(cache_expire(&c, t + 10 * H), 3 * H, "at 10 s: the first gone, the next in 3 s");
    is_int(c.entries, 1, "one left");
    ok(cache_expire(&c, t + 13 * H) == UINT64_MAX && c.entries == 0, "at 13 s: none left, no deadline");
    /* off: --cache-age 0 */
    result_cache off;
    cache_init(&off, 1u << 20, 0);
    ok(cache_put(&off, k1, t, t, "s", 1, body, n) == NULL && cache_get(&off, k1, t, 0) == NULL, "--cache-age 0: off");
    cache_free(&c);
    cache_free(&off);
}

static void test_lru_and_size(void)
{
    result_cache c;
    uint8_t k[4][CACHE_KEY_LEN], body[2048];
    char out[1100];
    memset(out, 'x', 1000);
    out[1000] = 0;
    size_t n = body_of(body, sizeof body, RUN_EXITED, 0, 0, 1, out);
    uint64_t cost = n + 2 + CACHE_ENTRY_OVERHEAD;
    for (int i = 0; i < 4; i++) {
        char line[8];
        snprintf(line, sizeof line, "l%d", i);
        key_of(k[i], line, NULL, 0, NULL);
    }
    cache_init(&c, 3 * cost, 3600 * H);
    uint64_t t = 5000000;
    for (int i = 0; i < 3; i++)
        cache_put(&c, k[i], t, t, "s1", 2, body, n);
    is_int(c.entries, 3, "three entries fit in 3 entries' bytes");
    is_int(c.bytes, 3 * cost, "bytes: body, name and overhead each");
    cache_get(&c, k[0], t, 0); /* k0 used: k1 is the least recently used */
    cache_entry *e = cache_put(&c, k[3], t, t, "s1", 2, body, n);
    ok(e != NULL, "a fourth stored");
    is_int(c.entries, 3, "... evicting one");
    is_int(c.evictions, 1, "one eviction counted");
    ok(cache_get(&c, k[1], t, 0) == NULL, "the least recently used (k1) was evicted");
    ok(cache_get(&c, k[0], t, 0) && cache_get(&c, k[2], t, 0) && cache_get(&c, k[3], t, 0), "k0, k2, k3 kept");
    ok(c.bytes <= c.max_bytes, "never over --cache-size");
    /* recency order for compaction: least recently used first */
    const cache_entry *o = cache_oldest_used(&c);
    ok(o && !memcmp(o->key, k[0], CACHE_KEY_LEN), "oldest used now: k0 (k0, k2, k3 were got in that order)");
    /* replacing an entry of the same key: one entry, its journal bytes released */
    e = (cache_entry *)cache_get(&c, k[2], t, 0);
    e->journal_bytes = 777;
    c.released_journal = 0;
    cache_put(&c, k[2], t + 1, t + 1, "s2", 2, body, n);
    is_int(c.entries, 3, "the same key stored again: still three");
    is_int(c.released_journal, 777, "the replaced entry's journal bytes are released");
    e = (cache_entry *)cache_get(&c, k[2], t + 1, 0);
    ok(e && !strcmp(e->host, "s2"), "the newer one stands");
    /* larger than the whole cache: not stored, nothing evicted */
    static uint8_t huge[8192];
    char big[5000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    size_t hn = body_of(huge, sizeof huge, RUN_EXITED, 0, 0, 1, big);
    uint64_t ev = c.evictions;
    ok(cache_put(&c, k[1], t, t, "s1", 2, huge, hn) == NULL, "larger than --cache-size: not stored");
    ok(c.evictions == ev && c.entries == 3, "... and nothing evicted for it");
    cache_free(&c);
    is_int(c.entries, 0, "cache_free: empty");
}

/* A random run against a model of what should be there: sizes and
 * counts always agree, the bound always holds. */
static void test_random(void)
{
    enum { KEYS = 40, STEPS = 20000 };
    result_cache c;
    uint8_t keys[KEYS][CACHE_KEY_LEN], body[4096];
    char out[3000];
    for (int i = 0; i < KEYS; i++) {
        char line[16];
        snprintf(line, sizeof line, "cmd %d", i);
        key_of(keys[i], line, NULL, 0, NULL);
    }
    cache_init(&c, 20000, 2 * H);
    uint64_t t = 10000000;
    int bad_bound = 0, bad_count = 0, bad_body = 0;
    for (int step = 0; step < STEPS; step++) {
        int k = (int)(tap_rand() % KEYS);
        t += tap_rand() % 200;
        if (tap_rand() % 3 == 0) {
            size_t len = (size_t)(tap_rand() % 2900);
            memset(out, 'a' + k % 26, len);
            out[len] = 0;
            size_t n = body_of(body, sizeof body, RUN_EXITED, 0, 0, (uint64_t)k, out);
            cache_put(&c, keys[k], t, t, "host", 4, body, n);
        } else {
            const cache_entry *e = cache_get(&c, keys[k], t, 0);
            if (e) {
                breader r;
                CommandResult res;
                br_init(&r, e->body, e->body_len);
                if (result_decode(&r, &res) < 0 || res.duration_us != (uint64_t)k ||
                    (res.stdout_len && res.stdout_data[0] != 'a' + k % 26))
                    bad_body++;
            }
        }
        if (tap_rand() % 50 == 0)
            cache_expire(&c, t);
        if (c.bytes > c.max_bytes)
            bad_bound++;
        uint64_t bytes = 0;
        uint32_t n = 0;
        for (const cache_entry *e = c.lru_head; e; e = e->lnext, n++)
            bytes += e->body_len + e->host_len + CACHE_ENTRY_OVERHEAD;
        if (bytes != c.bytes || n != c.entries)
            bad_count++;
    }
    is_int(bad_bound, 0, "random run: never over the size bound");
    is_int(bad_count, 0, "random run: bytes and entries always those of the entries listed");
    is_int(bad_body, 0, "random run: every hit is its own key's result");
    ok(c.hits > 0 && c.evictions > 0 && c.expirations > 0, "random run: hits %llu, evictions %llu, expirations %llu",
       (unsigned long long)c.hits, (unsigned long long)c.evictions, (unsigned long long)c.expirations);
    cache_free(&c);
}

int main(void)
{
    test_keys();
    test_storable();
    test_hit_miss_age();
    test_lru_and_size();
    test_random();
    return done_testing();
}
