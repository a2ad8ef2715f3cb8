/*
 * cache.c - the result cache's table (cache.h): a hash table of entries
 * by key, a recency list for eviction and a storing-order list for
 * expiry. Pure: the times are the caller's (wall clock), nothing here
 * reads a clock, a socket or the journal (tests/unit_cache.c).
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "sha256.h"

void cache_init(result_cache *c, uint64_t max_bytes, uint64_t age_ms)
{
    memset(c, 0, sizeof *c);
    c->max_bytes = max_bytes;
    c->age_ms = age_ms;
}

void cache_free(result_cache *c)
{
    for (cache_entry *e = c->age_head, *nx; e; e = nx) {
        nx = e->anext;
        free(e->body);
        free(e);
    }
    free(c->buckets);
    uint64_t max = c->max_bytes, age = c->age_ms;
    cache_init(c, max, age);
}

/* Each part with its length before it, so that no two different
 * commands (or a --wd and an --env) hash the same bytes. */
static void key_part(sha256_ctx *h, const void *p, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    sha256_update(h, len, sizeof len);
    sha256_update(h, p, n);
}

void cache_key(uint8_t key[CACHE_KEY_LEN], const char *line, size_t len, const options_frame *o)
{
    static const char version[] = "smp result cache 1";
    sha256_ctx h;
    sha256_init(&h);
    key_part(&h, version, sizeof version - 1);
    key_part(&h, line, len);
    key_part(&h, o->wd.p ? o->wd.p : "", o->wd.len); /* length 0: no --wd */
    uint8_t n = o->nenv;
    sha256_update(&h, &n, 1);
    for (unsigned i = 0; i < o->nenv; i++)
        key_part(&h, o->env[i].p, o->env[i].len);
    sha256_final(&h, key);
}

int cache_result_storable(const uint8_t *body, size_t len)
{
    breader r;
    CommandResult res;
    br_init(&r, body, len);
    if (result_decode(&r, &res) < 0 || br_left(&r) != 0)
        return 0;
    return res.status == RUN_EXITED && res.exit_code == 0 && !res.term_signal && !res.stdout_truncated &&
           !res.stderr_truncated && !res.ran_twice && !res.cached;
}

static size_t bucket_of(const result_cache *c, const uint8_t key[CACHE_KEY_LEN])
{
    /* the key is a digest: its first bytes are as good a hash as any */
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h << 8 | key[i];
    return (size_t)(h & (c->nbuckets - 1));
}

static uint64_t entry_cost(size_t host_len, size_t body_len)
{
    return (uint64_t)body_len + host_len + CACHE_ENTRY_OVERHEAD;
}

static cache_entry *find(const result_cache *c, const uint8_t key[CACHE_KEY_LEN])
{
    if (!c->nbuckets)
        return NULL;
    for (cache_entry *e = c->buckets[bucket_of(c, key)]; e; e = e->hnext)
        if (!memcmp(e->key, key, CACHE_KEY_LEN))
            return e;
    return NULL;
}

static void lru_unlink(result_cache *c, cache_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push_front(result_cache *c, cache_entry *e)
{
    e->lprev = NULL;
    e->lnext = c->lru_head;
    if (c->lru_head)
        c->lru_head->lprev = e;
    else
        c->lru_tail = e;
    c->lru_head = e;
}

/* Out of every list, freed; its journal record becomes dead bytes. */
static void drop(result_cache *c, cache_entry *e)
{
    cache_entry **pp = &c->buckets[bucket_of(c, e->key)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    if (e->aprev)
        e->aprev->anext = e->anext;
    else
        c->age_head = e->anext;
    if (e->anext)
        e->anext->aprev = e->aprev;
    else
        c->age_tail = e->aprev;
    c->entries--;
    c->bytes -= entry_cost(e->host_len, e->body_len);
    c->released_journal += e->journal_bytes;
    free(e->body);
    free(e);
}

static int expired(const result_cache *c, const cache_entry *e, uint64_t now_ms)
{
    return e->stored_ms > now_ms || now_ms - e->stored_ms >= c->age_ms;
}

/* The run time in a stored body (result_encode's: status, exit code,
 * signal, flags, start, then the duration). */
static uint64_t body_duration_us(const cache_entry *e)
{
    breader r;
    br_init(&r, e->body, e->body_len);
    br_bytes(&r, 1 + 4 + 1 + 1 + 8);
    uint64_t d = br_u64(&r);
    return r.error ? UINT64_MAX : d;
}

cache_entry *cache_get(result_cache *c, const uint8_t key[CACHE_KEY_LEN], uint64_t now_ms, uint64_t max_run_us)
{
    cache_entry *e = cache_enabled(c) ? find(c, key) : NULL;
    if (e && expired(c, e, now_ms)) {
        drop(c, e);
        c->expirations++;
        e = NULL;
    }
    if (e && max_run_us && body_duration_us(e) >= max_run_us)
        e = NULL;
    if (!e) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    lru_unlink(c, e);
    lru_push_front(c, e);
    return e;
}

/* Twice the buckets once there are more entries than buckets: chains
 * stay short; out of memory, they only grow longer. */
static void grow_table(result_cache *c)
{
    if (c->entries < c->nbuckets)
        return;
    size_t n = c->nbuckets ? c->nbuckets * 2 : 64;
    cache_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    size_t old = c->nbuckets;
    cache_entry **ob = c->buckets;
    c->buckets = b;
    c->nbuckets = n;
    for (size_t i = 0; i < old; i++)
        for (cache_entry *e = ob[i], *nx; e; e = nx) {
            nx = e->hnext;
            size_t k = bucket_of(c, e->key);
            e->hnext = b[k];
            b[k] = e;
        }
    free(ob);
}

cache_entry *cache_put(result_cache *c, const uint8_t key[CACHE_KEY_LEN], uint64_t stored_ms, uint64_t now_ms,
                       const char *host, size_t host_len, const uint8_t *body, size_t len)
{
    uint64_t cost = entry_cost(host_len, len);
    if (!cache_enabled(c) || cost > c->max_bytes || len > UINT32_MAX || host_len > UINT16_MAX)
        return NULL;
    cache_entry *old = find(c, key);
    if (old)
        drop(c, old);
    cache_entry probe = {.stored_ms = stored_ms};
    if (expired(c, &probe, now_ms))
        return NULL;
    while (c->bytes + cost > c->max_bytes && c->lru_tail) {
        drop(c, c->lru_tail);
        c->evictions++;
    }
    cache_entry *e = calloc(1, sizeof *e + host_len + 1);
    uint8_t *copy = malloc(len ? len : 1);
    if (!e || !copy || (grow_table(c), !c->nbuckets)) {
        free(e);
        free(copy);
        return NULL;
    }
    memcpy(copy, body, len);
    memcpy(e->key, key, CACHE_KEY_LEN);
    memcpy(e->host, host, host_len);
    e->host[host_len] = 0;
    e->host_len = (uint16_t)host_len;
    e->stored_ms = stored_ms;
    e->body = copy;
    e->body_len = (uint32_t)len;
    size_t k = bucket_of(c, key);
    e->hnext = c->buckets[k];
    c->buckets[k] = e;
    lru_push_front(c, e);
    e->aprev = c->age_tail;
    if (c->age_tail)
        c->age_tail->anext = e;
    else
        c->age_head = e;
    c->age_tail = e;
    c->entries++;
    c->bytes += cost;
    c->stores++;
    return e;
}

uint64_t cache_expire(result_cache *c, uint64_t now_ms)
{
    /* In storing order: an entry stored after a clock step back may be
     * older than one before it; it expires when its turn comes, or at
     * its lookup (cache_get checks each entry it finds). */
    while (c->age_head && expired(c, c->age_head, now_ms)) {
        drop(c, c->age_head);
        c->expirations++;
    }
    if (!c->age_head)
        return UINT64_MAX;
    return c->age_head->stored_ms + c->age_ms - now_ms;
}
