/*
 * endpoint.h - the one UDP path of both daemons (ENet's enet_host_service
 * serves client and server alike). Every datagram leaves through
 * endpoint_send: stamped with our life, the peer's and the next sequence
 * number, sealed with the conversation's key, sent. Every datagram arrives
 * through endpoint_drain, and once decoded passes endpoint_admit: keyed as
 * we are, its tag right (authenticity), then new to the replay window
 * (freshness). What a datagram means stays with each daemon.
 */
#ifndef ENDPOINT_H
#define ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "platform.h"
#include "proto.h"
#include "simulate.h"
#include "trace.h"

/* Datagrams read in one go before the caller answers the batch (each
 * touched job or result acknowledged once, not once per datagram). */
#define ENDPOINT_BATCH 512

/* The session tier of one conversation (a master's life and a slave's). */
typedef struct {
    int set;         /* the key set (line of the key file) its handshake used */
    aead_key tx, rx; /* every type but DG_PING, DG_PONG, DG_COOKIE */
} dgram_keys;

typedef struct {
    const auth_keys *auth; /* datagrams are sealed and checked when auth->enabled */
    enum auth_role role;   /* which way the conversation keys go */
    uint64_t boot;         /* our life: every datagram we send names it */
    auth_ephemeral eph;    /* our life's X25519 pair (endpoint_start), public in our PING/PONG/COOKIE */
    uint64_t next_seq;     /* the sequence number of the last datagram we sent */
    /* --trace: the datagram endpoint_drain hands over (its sender, its
     * size), whether its recv line is out (endpoint_admit's), and why the
     * handler dropped it before admitting it (endpoint_dropped) */
    const net_addr *in_from;
    size_t in_len;
    int in_traced;
    const char *in_dropped;
    uint8_t out[DGRAM_MAX];
    uint8_t in[DGRAM_MAX];
    simulate *sim;         /* --simulate: what endpoint_drain receives is dropped, doubled, held back (NULL: off) */
} endpoint;

/* Draws our life's ephemeral pair when keyed (once, at start); endpoint_end
 * wipes its secret (at exit). */
void endpoint_start(endpoint *e);
void endpoint_end(endpoint *e);

/* The session keys of our conversation with the life peer_boot, whose
 * public key is peer_pub, under key set `set`. 0; -1 (nothing written) for
 * a low-order peer_pub: refuse the handshake. Without a key: 0, no keys. */
int endpoint_keys(const endpoint *e, int set, uint64_t peer_boot, const uint8_t *peer_pub, dgram_keys *k);

/* Stamps d (sender_boot: ours, receiver_boot: peer_boot, seq: the next),
 * encodes it, no larger than cap, sealed when keyed, and sends it to `to`
 * on sock: a session-tier type with k->tx; a handshake-tier one with the
 * handshake key of set k->set on a slave (the set the master used), of set
 * 0 on a master (it starts conversations with the file's first line), and
 * our public key in it. 1 sent; 0 nothing sent (it does not fit cap);
 * NET_ERROR the socket refused it (net_last_error() says why). why: what
 * made the caller send it, for --trace's line. */
int endpoint_send(endpoint *e, sock_t sock, const net_addr *to, uint64_t peer_boot, const dgram_keys *k, dgram *d,
                  size_t cap, enum trace_why why);

/* Reads what sock holds, at most ENDPOINT_BATCH datagrams, handing each to
 * on_datagram; returns how many. The caller answers the batch after. */
typedef void endpoint_handler(void *ctx, uint8_t *p, size_t n, const net_addr *from);
int endpoint_drain(endpoint *e, sock_t sock, endpoint_handler *on_datagram, void *ctx);
/* Under --simulate: when a datagram held back is due (clock_us; 0 none),
 * for the loop's timeout; whether one is due now (then endpoint_drain, even
 * on a socket with nothing to read, hands it over first). */
uint64_t endpoint_held_until(const endpoint *e);
int endpoint_held_due(const endpoint *e);

/* --trace: the handler drops the datagram it was handed, before
 * endpoint_admit, for this reason (one word: malformed, unknown_peer,
 * wrong_life, not_keyed...); endpoint_drain writes its recv line. */
static inline void endpoint_dropped(endpoint *e, const char *reason)
{
    e->in_dropped = reason;
}

/* NULL if the datagram p (decoded as d) is keyed as we are; else why not,
 * in words naming which side lacks the key. */
const char *endpoint_keyed_as_we_are(const endpoint *e, const dgram *d);
/* Authenticity, then freshness (RFC 4303 3.4.3): NULL if p opens (when
 * keyed; then d holds its fields) and w has not seen d->seq, and then w
 * moves on; else why it is refused ("bad MAC (wrong key?)", "replayed").
 * A handshake-tier type is opened with each key set of the file in turn
 * (the boot ids from its header), and *set says which one did; any other
 * with k->rx (k NULL: no conversation, refused). w NULL: no window to
 * check (the caller has none yet for this peer). With --trace, writes the
 * datagram's recv line: its fields once opened, or dropped=bad_tag,
 * malformed, no_session, replay. */
const char *endpoint_admit(endpoint *e, uint8_t *p, dgram *d, const dgram_keys *k, replay_window *w,
                           int *set);

#endif
