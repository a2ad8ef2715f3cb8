/* dedup.c - the window of job ids a slave has taken (see dedup.h). */
#include "dedup.h"

#include <string.h>

static int bit_get(const dedup_window *w, uint64_t id)
{
    uint32_t b = (uint32_t)(id % DEDUP_WINDOW);
    return w->bits[b / 8] >> (b % 8) & 1;
}

static void bit_set(dedup_window *w, uint64_t id, int on)
{
    uint32_t b = (uint32_t)(id % DEDUP_WINDOW);
    if (on)
        w->bits[b / 8] |= (uint8_t)(1u << (b % 8));
    else
        w->bits[b / 8] &= (uint8_t)~(1u << (b % 8));
}

void dedup_init(dedup_window *w, uint64_t floor)
{
    memset(w->bits, 0, sizeof w->bits);
    w->floor = floor;
}

void dedup_advance(dedup_window *w, uint64_t floor)
{
    if (floor <= w->floor)
        return;
    if (floor - w->floor >= DEDUP_WINDOW)
        memset(w->bits, 0, sizeof w->bits);
    else
        for (uint64_t id = w->floor; id < floor; id++)
            bit_set(w, id, 0); /* these positions now stand for id + WINDOW */
    w->floor = floor;
}

enum dedup_verdict dedup_check(const dedup_window *w, uint64_t id)
{
    if (id < w->floor)
        return DEDUP_BELOW;
    if (id - w->floor >= DEDUP_WINDOW)
        return DEDUP_TOO_FAR;
    return bit_get(w, id) ? DEDUP_SEEN : DEDUP_NEW;
}

void dedup_mark(dedup_window *w, uint64_t id)
{
    if (dedup_check(w, id) <= DEDUP_SEEN)
        bit_set(w, id, 1);
}

void dedup_merge(dedup_window *w, const dedup_window *from)
{
    dedup_advance(w, from->floor);
    /* from's window ends at from->floor + WINDOW <= w->floor + WINDOW: its
     * ids from w->floor on are all inside w's window */
    for (uint64_t id = w->floor; id < from->floor + DEDUP_WINDOW; id++)
        if (bit_get(from, id))
            bit_set(w, id, 1);
}
