/*
 * dedup.h - the slave's duplicate request cache, per master (NFS's DRC
 * idea, keyed by job id).
 *
 * A master numbers the jobs it gives each slave 1, 2, 3... and tells the
 * slave its "floor": every id below it is finished for the master. The
 * slave remembers which ids in [floor, floor + DEDUP_WINDOW) it has taken,
 * one bit each in a ring, so a retransmitted or delayed request for a job
 * it already ran is recognised and never runs again. The master never uses
 * an id at or beyond floor + DEDUP_WINDOW.
 */
#ifndef DEDUP_H
#define DEDUP_H

#include <stdint.h>

#define DEDUP_WINDOW 65536u

typedef struct {
    uint64_t floor;
    uint8_t bits[DEDUP_WINDOW / 8];
} dedup_window;

enum dedup_verdict {
    DEDUP_NEW = 0,       /* never taken: may run */
    DEDUP_SEEN = 1,      /* taken before: must not run again */
    DEDUP_BELOW = 2,     /* below the floor: finished for the master */
    DEDUP_TOO_FAR = 3,   /* beyond the window: a master bug or garbage */
};

void dedup_init(dedup_window *w, uint64_t floor);
/* Moves the floor up (never down), recycling the bits below it. */
void dedup_advance(dedup_window *w, uint64_t floor);
enum dedup_verdict dedup_check(const dedup_window *w, uint64_t id);
/* Records id as taken; only for an id dedup_check called DEDUP_NEW or SEEN. */
void dedup_mark(dedup_window *w, uint64_t id);
/* Takes into w what from had taken (a restarted master's earlier life,
 * whose jobs w's session adopts): the floor becomes the higher of the two
 * (below either, the master said every job was finished), and an id in
 * the new window is taken if either had taken it. */
void dedup_merge(dedup_window *w, const dedup_window *from);

#endif
