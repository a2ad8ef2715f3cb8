/*
 * cache.h - the master's result cache (client --cache, OPTION_CACHE): the
 * results of commands that succeeded, by what the command is, kept for
 * --cache-age and within --cache-size, the least recently used evicted.
 *
 * Pure, as sched.c is: no sockets, no clock, no journal. The caller
 * gives the wall-clock time of each call; the journal's records of the
 * entries (JR_CACHE) are written by master/journal.c, which counts what
 * the table drops (released_journal) as dead bytes. tests/unit_cache.c.
 */
#ifndef MASTER_CACHE_H
#define MASTER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define CACHE_KEY_LEN 32 /* SHA-256 */
/* What an entry costs besides its body and its slave's name (its struct,
 * a share of the hash table): counted in --cache-size, so that a flood of
 * tiny results is bounded too. */
#define CACHE_ENTRY_OVERHEAD 128u

typedef struct cache_entry {
    struct cache_entry *hnext;        /* in its hash bucket */
    struct cache_entry *lprev, *lnext; /* recency: lprev towards the most recent */
    struct cache_entry *aprev, *anext; /* storing order: the oldest first (expiry) */
    uint8_t key[CACHE_KEY_LEN];
    uint64_t stored_ms;     /* wall clock */
    uint64_t journal_bytes; /* its JR_CACHE record's (0: none) */
    uint32_t body_len;
    uint16_t host_len;
    uint8_t *body;          /* a result body as result_encode makes it (flags as stored: never CACHED) */
    char host[];            /* the slave that ran it, NUL-terminated */
} cache_entry;

typedef struct {
    uint64_t max_bytes; /* --cache-size */
    uint64_t age_ms;    /* --cache-age; 0: the cache is off */
    cache_entry **buckets;
    size_t nbuckets;    /* a power of two, or 0 */
    cache_entry *lru_head, *lru_tail; /* head: the most recently used */
    cache_entry *age_head, *age_tail; /* head: the first stored */
    uint32_t entries;
    uint64_t bytes;     /* accounted: bodies, names, CACHE_ENTRY_OVERHEAD each */
    /* the figures (status, /metrics) */
    uint64_t hits, misses, stores, evictions, expirations;
    uint64_t released_journal; /* journal bytes of the entries dropped since the journal last took it */
} result_cache;

void cache_init(result_cache *c, uint64_t max_bytes, uint64_t age_ms);
void cache_free(result_cache *c);
static inline int cache_enabled(const result_cache *c)
{
    return c->age_ms > 0 && c->max_bytes > 0;
}

/* What a command is, for the cache: its line and what the job request
 * carries with it that changes what runs (--wd, --env, in order). */
void cache_key(uint8_t key[CACHE_KEY_LEN], const char *line, size_t len, const options_frame *o);

/* Is a result body worth keeping: it ran, exited 0, no signal, nothing
 * truncated, dispatched once (no "may have run twice"), not from the cache. */
int cache_result_storable(const uint8_t *body, size_t len);

/* The entry for key if it is fresh at now_ms (wall clock): stored less
 * than age_ms ago and not in the future (a clock stepped back makes it
 * expire, never immortal). A hit becomes the most recently used; an
 * expired entry is dropped. max_run_us (0: none): an entry whose run took
 * that long or longer is a miss (under this --timeout it would have been
 * killed), kept. Counts a hit or a miss. */
cache_entry *cache_get(result_cache *c, const uint8_t key[CACHE_KEY_LEN], uint64_t now_ms, uint64_t max_run_us);

/* Stores (a copy of) body for key, stored at stored_ms (now, or a replayed
 * record's time), replacing an entry of the same key, evicting the least
 * recently used until it fits. NULL if it does not fit at all (larger than
 * --cache-size), if it is already expired at now_ms, or out of memory. */
cache_entry *cache_put(result_cache *c, const uint8_t key[CACHE_KEY_LEN], uint64_t stored_ms, uint64_t now_ms,
                       const char *host, size_t host_len, const uint8_t *body, size_t len);

/* Drops the entries expired at now_ms (wall clock), from the first stored;
 * returns the milliseconds until the next one expires (UINT64_MAX: none). */
uint64_t cache_expire(result_cache *c, uint64_t now_ms);

/* The entries from the least recently used to the most (compaction writes
 * them so: a replay that stores them in that order has the same recency). */
static inline cache_entry *cache_oldest_used(const result_cache *c)
{
    return c->lru_tail;
}

#endif
