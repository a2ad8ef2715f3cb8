/*
 * history.h - learned durations: how long each command took when it last
 * ran, remembered by the master (history.c) to put a batch's longest
 * commands first (client --order lpt). Pure: no clock, no I/O; the
 * journal persists it (JR_DURATION records, master/journal.c).
 */
#ifndef MASTER_HISTORY_H
#define MASTER_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_MAX 4096u /* entries; the least recently updated one goes for a new one */

typedef struct {
    uint64_t key;    /* history_key of the command line; 0: a free entry */
    uint64_t avg_us; /* exponential average of its runs' wall time */
    uint32_t runs;   /* runs averaged (saturates) */
    uint32_t prev, next; /* the recency list (HISTORY_NONE ends it) */
    uint32_t chain;      /* the next entry of its hash bucket */
} history_entry;

#define HISTORY_NONE UINT32_MAX

typedef struct {
    history_entry *e;  /* cap entries */
    uint32_t *bucket;  /* 2 * cap heads */
    uint32_t cap, n;
    uint32_t newest, oldest; /* the recency list's ends */
    uint32_t free_next;      /* entries below it were used once */
    uint64_t evicted;
} history;

/* FNV-1a 64 of the command line; never 0 (0 marks a free entry). Two
 * lines of one key share an estimate: only an order preference is lost. */
uint64_t history_key(const char *line, size_t len);
int history_init(history *h, uint32_t cap); /* -1 out of memory */
void history_free(history *h);
/* A run of key took us microseconds: the average moves a quarter of the
 * way to it (the first run sets it); key becomes the most recent. */
void history_note(history *h, uint64_t key, uint64_t us);
/* Replay and compaction: key's entry as it was (the most recent now). */
void history_set(history *h, uint64_t key, uint64_t avg_us, uint32_t runs);
/* key's average (microseconds), or 0 when not known. Not a use: the order stays. */
uint64_t history_get(const history *h, uint64_t key);
const history_entry *history_find(const history *h, uint64_t key);
/* From the least recent to the most recent: 0 until the end, then HISTORY_NONE. */
#define history_first(h) ((h)->cap ? (h)->oldest : HISTORY_NONE) /* (a table never initialised: empty) */
#define history_after(h, i) ((h)->e[i].prev)

#endif
