/*
 * history.c - learned durations (history.h): a bounded table of the
 * commands' average wall time, by the hash of their line, with the least
 * recently updated entry evicted for a new one. master/flights.c's
 * deliver notes each run (exited or signaled: a timed-out run says only
 * the timeout, a cancelled or unstarted one nothing); clients.c orders a
 * --order lpt batch by it; journal.c keeps it across restarts.
 *
 * A hash table of chained indices (2 buckets per entry) and a doubly
 * linked recency list, both in arrays allocated once: no growth.
 */
#include "history.h"

#include <stdlib.h>
#include <string.h>

uint64_t history_key(const char *line, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)line[i]) * 1099511628211ull;
    return h ? h : 1;
}

int history_init(history *h, uint32_t cap)
{
    memset(h, 0, sizeof *h);
    if (!cap)
        cap = 1;
    h->e = calloc(cap, sizeof *h->e);
    h->bucket = malloc((size_t)cap * 2 * sizeof *h->bucket);
    if (!h->e || !h->bucket) {
        history_free(h);
        return -1;
    }
    for (uint32_t i = 0; i < cap * 2; i++)
        h->bucket[i] = HISTORY_NONE;
    h->cap = cap;
    h->newest = h->oldest = HISTORY_NONE;
    return 0;
}

void history_free(history *h)
{
    free(h->e);
    free(h->bucket);
    memset(h, 0, sizeof *h);
}

static uint32_t bucket_of(const history *h, uint64_t key)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) % (h->cap * 2);
}

static uint32_t find(const history *h, uint64_t key)
{
    if (!h->cap)
        return HISTORY_NONE;
    uint32_t i = h->bucket[bucket_of(h, key)];
    while (i != HISTORY_NONE && h->e[i].key != key)
        i = h->e[i].chain;
    return i;
}

const history_entry *history_find(const history *h, uint64_t key)
{
    uint32_t i = find(h, key);
    return i == HISTORY_NONE ? NULL : &h->e[i];
}

uint64_t history_get(const history *h, uint64_t key)
{
    const history_entry *e = history_find(h, key);
    return e ? e->avg_us : 0;
}

static void list_unlink(history *h, uint32_t i)
{
    history_entry *e = &h->e[i];
    if (e->prev != HISTORY_NONE)
        h->e[e->prev].next = e->next;
    else
        h->newest = e->next;
    if (e->next != HISTORY_NONE)
        h->e[e->next].prev = e->prev;
    else
        h->oldest = e->prev;
}

static void list_push_newest(history *h, uint32_t i)
{
    history_entry *e = &h->e[i];
    e->prev = HISTORY_NONE;
    e->next = h->newest;
    if (h->newest != HISTORY_NONE)
        h->e[h->newest].prev = i;
    h->newest = i;
    if (h->oldest == HISTORY_NONE)
        h->oldest = i;
}

static void chain_unlink(history *h, uint32_t i)
{
    uint32_t *pp = &h->bucket[bucket_of(h, h->e[i].key)];
    while (*pp != i)
        pp = &h->e[*pp].chain;
    *pp = h->e[i].chain;
}

/* key's entry, made (evicting the oldest when full) if there is none; the most recent now. */
static history_entry *take(history *h, uint64_t key, int *fresh)
{
    uint32_t i = find(h, key);
    *fresh = i == HISTORY_NONE;
    if (i != HISTORY_NONE) {
        list_unlink(h, i);
    } else if (h->free_next < h->cap) {
        i = h->free_next++;
        h->n++;
    } else {
        i = h->oldest;
        list_unlink(h, i);
        chain_unlink(h, i);
        h->evicted++;
    }
    if (*fresh) {
        uint32_t b = bucket_of(h, key);
        h->e[i] = (history_entry){.key = key, .chain = h->bucket[b]};
        h->bucket[b] = i;
    }
    list_push_newest(h, i);
    return &h->e[i];
}

void history_note(history *h, uint64_t key, uint64_t us)
{
    if (!h->cap || !key)
        return;
    int fresh;
    history_entry *e = take(h, key, &fresh);
    if (us > UINT64_MAX / 4)
        us = UINT64_MAX / 4; /* (3 * avg + us) does not wrap */
    e->avg_us = fresh || !e->runs ? us : (3 * e->avg_us + us) / 4;
    if (e->runs < UINT32_MAX)
        e->runs++;
}

void history_set(history *h, uint64_t key, uint64_t avg_us, uint32_t runs)
{
    if (!h->cap || !key)
        return;
    int fresh;
    history_entry *e = take(h, key, &fresh);
    e->avg_us = avg_us > UINT64_MAX / 4 ? UINT64_MAX / 4 : avg_us;
    e->runs = runs;
}
