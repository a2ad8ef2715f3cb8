/* Unit tests: the master's learned durations (master/history.c): the
 * average, the bound and its least-recently-updated eviction, keys that
 * collide in a bucket (and a key shared by two lines: one estimate), the
 * recency order compaction writes and replay rebuilds. */
#include <stdlib.h>
#include <string.h>

#include "master/history.h"
#include "tap.h"

static uint64_t key_of(const char *s)
{
    return history_key(s, strlen(s));
}

/* The keys from least to most recent, as compaction walks them. */
static int walk(const history *h, uint64_t *out, int max)
{
    int n = 0;
    for (uint32_t i = history_first(h); i != HISTORY_NONE && n < max; i = history_after(h, i))
        out[n++] = h->e[i].key;
    return n;
}

int main(void)
{
    history h;
    ok(history_init(&h, 4) == 0, "a table of 4");
    ok(key_of("sleep 1") != key_of("sleep 2"), "two lines, two keys");
    ok(key_of("") != 0, "the empty line's key is not 0 (0: a free entry)");
    /* FNV-1a 64 of "a": 0xaf63dc4c8601ec8c (the reference value) */
    ok(key_of("a") == 0xaf63dc4c8601ec8cull, "FNV-1a 64 of \"a\"");

    is_int(history_get(&h, key_of("x")), 0, "unknown: 0");
    history_note(&h, key_of("x"), 1000);
    is_int(history_get(&h, key_of("x")), 1000, "the first run sets it");
    history_note(&h, key_of("x"), 2000);
    is_int(history_get(&h, key_of("x")), 1250, "then a quarter of the way to each run: 1000 -> 1250");
    history_note(&h, key_of("x"), 1250);
    is_int(history_get(&h, key_of("x")), 1250, "a run at the average keeps it");
    is_int(history_find(&h, key_of("x"))->runs, 3, "3 runs");
    history_note(&h, key_of("x"), UINT64_MAX);
    ok(history_get(&h, key_of("x")) < UINT64_MAX / 2, "a huge run does not wrap the average");

    /* Bounded: a fifth key evicts the least recently updated. */
    history_note(&h, key_of("a"), 1);
    history_note(&h, key_of("b"), 2);
    history_note(&h, key_of("c"), 3);
    history_note(&h, key_of("x"), 4); /* x is the most recent now; a the oldest */
    is_int(h.n, 4, "4 entries");
    history_note(&h, key_of("d"), 5);
    is_int(h.n, 4, "still 4 after a fifth: bounded");
    is_int(h.evicted, 1, "one evicted");
    is_int(history_get(&h, key_of("a")), 0, "the least recently updated (a) went");
    ok(history_get(&h, key_of("b")) == 2 && history_get(&h, key_of("c")) == 3 && history_get(&h, key_of("d")) == 5 &&
           history_get(&h, key_of("x")) != 0, "b, c, d, x stay");
    history_get(&h, key_of("b")); /* a lookup is no use: b stays the oldest */
    history_note(&h, key_of("e"), 6);
    is_int(history_get(&h, key_of("b")), 0, "a lookup does not save an entry: b went next");
    uint64_t order[8];
    int n = walk(&h, order, 8);
    ok(n == 4 && order[0] == key_of("c") && order[1] == key_of("x") && order[2] == key_of("d") &&
           order[3] == key_of("e"), "least to most recent: c x d e (%d)", n);

    /* Replay: history_set in the walk's order gives the same table and order. */
    history r;
    history_init(&r, 4);
    for (int i = 0; i < n; i++) {
        const history_entry *e = history_find(&h, order[i]);
        history_set(&r, e->key, e->avg_us, e->runs);
    }
    uint64_t again[8];
    int m = walk(&r, again, 8);
    ok(m == n && !memcmp(again, order, sizeof(uint64_t) * (size_t)n), "replayed in that order: the same recency");
    is_int(history_get(&r, key_of("d")), 5, "and the same averages");
    history_set(&r, key_of("d"), 77, 9);
    ok(history_get(&r, key_of("d")) == 77 && history_find(&r, key_of("d"))->runs == 9 && r.n == 4,
       "a later record of a key replaces it (no second entry)");
    history_free(&r);
    history_free(&h);

    /* Many keys through a small table, every bucket chained: each lookup
     * finds its own or nothing, never another's. */
    history_init(&h, 64);
    int wrong = 0;
    for (uint64_t k = 1; k <= 5000; k++) {
        history_note(&h, k * 128, k); /* keys of one bucket pattern */
        if (history_get(&h, k * 128) != k)
            wrong++;
        if (k > 64 && history_get(&h, (k - 64) * 128) != 0)
            wrong++; /* the 65th most recent is gone */
        if (k > 1 && k % 7 && history_get(&h, (k - 1) * 128) != k - 1)
            wrong++;
    }
    is_int(wrong, 0, "5000 keys through 64 entries: each finds its own, the evicted are gone");
    is_int(h.n, 64, "64 entries at the end");
    history_free(&h);

    /* A shared key (two lines of one hash, as a collision would be): one
     * estimate for both, harmless beyond the order. */
    history_init(&h, 8);
    history_note(&h, 42, 100);
    history_note(&h, 42, 900);
    is_int(history_get(&h, 42), 300, "one key, two lines' runs: one average (100 -> 300)");
    history_note(&h, 0, 5);
    is_int(h.n, 1, "key 0 is never stored");
    history_free(&h);
    return done_testing();
}
