/*
 * xfer.h - reliable transfer of one message (a job request or a result)
 * as numbered FRAG_PAYLOAD-byte fragments over datagrams.
 *
 * Pure bookkeeping, no sockets, so the unit tests drive it through a
 * simulated lossy link. The sender keeps at most XFER_WINDOW fragments
 * beyond the first unacknowledged one in flight (flow control), resends a
 * fragment when its timer expires or when three later fragments were
 * acknowledged (QUIC's rule), and never on a duplicate ack (TFTP's
 * Sorcerer's Apprentice bug). The receiver reassembles in place and
 * answers with a cumulative count plus a 64-bit selective-ack bitmap.
 */
#ifndef XFER_H
#define XFER_H

#include <stdint.h>

#include "proto.h"
#include "trace.h"

/* RFC 6298 retransmission timer, with LAN-sized clamps. */
#define RTO_INITIAL_US 200000u
#define RTO_MIN_US 20000u
#define RTO_MAX_US 2000000u

typedef struct {
    uint32_t srtt_us, rttvar_us, rto_us;
} rtt_estimator;

void rtt_init(rtt_estimator *e);
void rtt_sample(rtt_estimator *e, uint32_t rtt_us);
uint32_t rtt_timeout(const rtt_estimator *e);

/* Exponential backoff is per fragment: one sent n times waits
 * rto * 2^(n-1) (capped at RTO_MAX_US) before its next transmission. A
 * dead path slows every fragment down, but random loss on one transfer
 * does not stall the other transfers to the same peer. */
uint32_t xfer_backoff(uint32_t rto_us, unsigned sends);

/* Bytes a transfer may have in flight beyond its first unacknowledged
 * fragment (and at most XFER_WINDOW fragments): a few transfers at once
 * fit in the receiver's socket buffer. */
#define XFER_WINDOW_BYTES (512u * 1024)

typedef struct {
    uint8_t *data; /* the whole message, owned */
    uint32_t len, nfrags, frag, window;
    uint32_t base;        /* first fragment not yet acknowledged */
    uint32_t acked_count;
    uint32_t highest_acked_plus1;
    uint8_t *acked;       /* per fragment: 1 once acknowledged */
    uint8_t *sends;       /* per fragment: transmissions so far (saturates) */
    uint64_t *sent_us;    /* per fragment: time of the last transmission */
} xfer_tx;

/* Takes ownership of data (len >= 1), sent in fragments of frag bytes.
 * 0, or -1 when out of memory. */
int xfer_tx_init(xfer_tx *t, uint8_t *data, uint32_t len, uint32_t frag);
void xfer_tx_free(xfer_tx *t);
/* Starts the transfer over, every fragment unacknowledged and due now: for
 * a new receiver (a restarted master's next life), which has none of what
 * the earlier one acknowledged. */
void xfer_tx_restart(xfer_tx *t);
static inline int xfer_tx_done(const xfer_tx *t) { return t->acked_count == t->nfrags; }

/* Applies an ack. Returns a round-trip sample in microseconds when a
 * fragment sent only once was newly acknowledged (Karn's rule), else 0.
 * *progress is set when something new was acknowledged. */
uint32_t xfer_tx_on_ack(xfer_tx *t, uint32_t cum, uint64_t sack, uint64_t now_us, int *progress);

/* Calls send(ctx, index, offset, len, why) for every fragment that is
 * due: never sent (WHY_FIRST), sent longer than its backed-off timeout
 * ago (WHY_RTO), or marked lost by a later SACK (WHY_FAST), inside the
 * window. Returns how many of those were retransmissions caused by the
 * timer. */
typedef void (*xfer_send_fn)(void *ctx, uint32_t index, uint32_t offset, uint32_t len, enum trace_why why);
unsigned xfer_tx_pump(xfer_tx *t, uint64_t now_us, uint32_t rto_us, xfer_send_fn send, void *ctx);

/* The datagram that carries t's fragment [offset, offset + len): the
 * message's type (DG_JOB or DG_RESULT) and id are the caller's, the rest
 * is t's. The payload points into t. */
dgram xfer_tx_fragment(const xfer_tx *t, uint8_t type, uint64_t id, uint32_t offset, uint32_t len);

/* When the next fragment will be due (0: nothing in flight). */
uint64_t xfer_tx_next_deadline(const xfer_tx *t, uint32_t rto_us);

typedef struct {
    uint8_t *data;
    uint32_t len, nfrags, frag;
    uint32_t cum;   /* fragments [0, cum) have all arrived */
    uint32_t count; /* fragments arrived */
    uint8_t *have;  /* per fragment: 1 once arrived */
} xfer_rx;

/* 0, or -1 if total is 0 or over max_len, frag is 0, or out of memory. */
int xfer_rx_init(xfer_rx *r, uint32_t total, uint32_t frag, uint32_t max_len);
void xfer_rx_free(xfer_rx *r);
/* 1 new fragment, 0 duplicate, -1 inconsistent with this message. */
int xfer_rx_add(xfer_rx *r, uint32_t total, uint32_t frag, uint32_t offset, const uint8_t *p, uint32_t n);
void xfer_rx_ack(const xfer_rx *r, uint32_t *cum, uint64_t *sack);
static inline int xfer_rx_done(const xfer_rx *r) { return r->count == r->nfrags; }

#endif
