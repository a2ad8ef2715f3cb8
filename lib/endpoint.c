/* endpoint.c - the one UDP path of both daemons (see endpoint.h). */
#include "endpoint.h"

#include <string.h>

void endpoint_start(endpoint *e)
{
    if (e->auth->enabled)
        auth_ephemeral_new(&e->eph);
}

void endpoint_end(endpoint *e)
{
    crypto_wipe(&e->eph, sizeof e->eph);
}

static void boots(uint8_t nonces[16], uint64_t master_boot, uint64_t slave_boot)
{
    put_u32(nonces, (uint32_t)(master_boot >> 32)), put_u32(nonces + 4, (uint32_t)master_boot);
    put_u32(nonces + 8, (uint32_t)(slave_boot >> 32)), put_u32(nonces + 12, (uint32_t)slave_boot);
}

/* The handshake key of set `set` between the lives master_boot and
 * slave_boot: ours to send with (tx) or the peer's. */
static void handshake_key(const endpoint *e, int set, uint64_t master_boot, uint64_t slave_boot, int tx, aead_key *k)
{
    uint8_t nonces[16];
    boots(nonces, master_boot, slave_boot);
    auth_conversation_keys(e->auth, set, e->role, "dgram hs", nonces, sizeof nonces, NULL, NULL, tx ? k : NULL,
                           tx ? NULL : k);
}

int endpoint_keys(const endpoint *e, int set, uint64_t peer_boot, const uint8_t *peer_pub, dgram_keys *k)
{
    uint8_t nonces[16];
    dgram_keys fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.set = set;
    if (e->auth->enabled) {
        boots(nonces, e->role == AUTH_MASTER ? e->boot : peer_boot, e->role == AUTH_MASTER ? peer_boot : e->boot);
        if (auth_conversation_keys(e->auth, set, e->role, "dgram", nonces, sizeof nonces, &e->eph, peer_pub, &fresh.tx,
                                   &fresh.rx) < 0)
            return -1;
    }
    *k = fresh;
    crypto_wipe(&fresh, sizeof fresh);
    return 0;
}

int endpoint_send(endpoint *e, sock_t sock, const net_addr *to, uint64_t peer_boot, const dgram_keys *k, dgram *d,
                  size_t cap, enum trace_why why)
{
    d->sender_boot = e->boot;
    d->receiver_boot = peer_boot;
    d->seq = ++e->next_seq;
    aead_key hs;
    const aead_key *key = NULL;
    if (e->auth->enabled && dgram_handshake_type(d->type)) {
        int set = e->role == AUTH_MASTER || !k || k->set >= e->auth->count ? 0 : k->set;
        uint64_t mb = e->role == AUTH_MASTER ? e->boot : peer_boot, sb = e->role == AUTH_MASTER ? peer_boot : e->boot;
        handshake_key(e, set, mb, sb, 1, &hs);
        memcpy(d->eph_pub, e->eph.pub, DGRAM_PUB_LEN);
        key = &hs;
    } else if (e->auth->enabled) {
        key = k ? &k->tx : NULL;
        if (!key)
            return 0; /* no conversation: nothing to seal with */
    }
    size_t n = dgram_encode(d, e->out, cap < sizeof e->out ? cap : sizeof e->out, key);
    if (!n)
        return 0;
    if (trace_on) /* before: the peer's recv line never comes earlier */
        trace_dgram(TRACE_SEND, to, d, n, why, NULL);
    return net_sendto(sock, e->out, n, to) == NET_ERROR ? NET_ERROR : 1;
}

/* --trace: the recv line of a datagram not admitted (endpoint_admit
 * traces the others), from what its header says. */
static void trace_unadmitted(const net_addr *from, const uint8_t *p, size_t n, const char *reason)
{
    dgram d;
    const char *why;
    int bad = dgram_decode(p, n, &d, &why) < 0;
    trace_dgram(TRACE_RECV, from, &d, n, 0, reason ? reason : bad ? "malformed" : "ignored");
}

/* A received datagram handed to the daemon. */
static void hand_over(endpoint *e, uint8_t *p, size_t n, const net_addr *from, endpoint_handler *on_datagram,
                      void *ctx)
{
    e->in_from = from, e->in_len = n, e->in_traced = 0, e->in_dropped = NULL;
    on_datagram(ctx, p, n, from);
    if (trace_on && !e->in_traced) /* dropped before endpoint_admit */
        trace_unadmitted(from, p, n, e->in_dropped);
    e->in_from = NULL;
}

/* --simulate: a datagram handed over once or twice (the copy made before
 * the first, which may open it in place). */
static void sim_deliver(endpoint *e, uint8_t *p, size_t n, const net_addr *from, int copies,
                        endpoint_handler *on_datagram, void *ctx)
{
    if (copies > 1)
        memcpy(e->sim->spare, p, n);
    hand_over(e, p, n, from, on_datagram, ctx);
    if (copies > 1)
        hand_over(e, e->sim->spare, n, from, on_datagram, ctx);
}

/* The held datagrams that are due (all: every one, after the next datagram came), into e->in. */
static void sim_release(endpoint *e, int all, endpoint_handler *on_datagram, void *ctx)
{
    size_t n;
    net_addr from;
    int copies;
    while (simulate_pop(e->sim, clock_us(), all, e->in, &n, &from, &copies))
        sim_deliver(e, e->in, n, &from, copies, on_datagram, ctx);
}

/* A datagram received under --simulate: dropped (it never arrived),
 * handed over (twice when duplicated), or held back until the next one
 * has been handed over or its delay is out. */
static void sim_receive(endpoint *e, size_t n, const net_addr *from, endpoint_handler *on_datagram, void *ctx)
{
    int hold, copies = simulate_fate(e->sim, simulate_type_of(e->in, n), &hold);
    if (!copies && trace_on) /* a student sees where it was lost */
        trace_unadmitted(from, e->in, n, "simulated_loss");
    if (!copies || (hold && simulate_hold(e->sim, e->in, n, from, copies, clock_us())))
        return;
    sim_deliver(e, e->in, n, from, copies, on_datagram, ctx);
    sim_release(e, 1, on_datagram, ctx);
}

uint64_t endpoint_held_until(const endpoint *e)
{
    return e->sim ? simulate_next_us(e->sim) : 0;
}

int endpoint_held_due(const endpoint *e)
{
    uint64_t due = endpoint_held_until(e);
    return due && due <= clock_us();
}

int endpoint_drain(endpoint *e, sock_t sock, endpoint_handler *on_datagram, void *ctx)
{
    int k = 0;
    if (e->sim)
        sim_release(e, 0, on_datagram, ctx);
    for (; sock != SOCK_INVALID && k < ENDPOINT_BATCH; k++) {
        net_addr from;
        long r = net_recvfrom(sock, e->in, sizeof e->in, &from);
        if (r < 0)
            break;
        if (e->sim)
            sim_receive(e, (size_t)r, &from, on_datagram, ctx);
        else
            hand_over(e, e->in, (size_t)r, &from, on_datagram, ctx);
    }
    return k;
}

const char *endpoint_keyed_as_we_are(const endpoint *e, const dgram *d)
{
    static const char *const why[2][2] = {
        /* [our role][we have a key] */
        [AUTH_MASTER] = {"authenticated, but this master has no key (--key-file)",
                         "not authenticated (does the slave have the key?)"},
        [AUTH_SLAVE] = {"authenticated, but this slave has no key (--key-file)",
                        "not authenticated (does the master have the key?)"},
    };
    if (!!(d->flags & DGRAM_FLAG_AUTH) == e->auth->enabled)
        return NULL;
    return why[e->role][!!e->auth->enabled];
}

static const char *admit(const endpoint *e, uint8_t *p, dgram *d, const dgram_keys *k, replay_window *w, int *set,
                         const char **word);

const char *endpoint_admit(endpoint *e, uint8_t *p, dgram *d, const dgram_keys *k, replay_window *w, int *set)
{
    const char *word = NULL;
    const char *refused = admit(e, p, d, k, w, set, &word);
    if (trace_on && e->in_from && !e->in_traced) {
        trace_dgram(TRACE_RECV, e->in_from, d, e->in_len, 0, refused ? word : NULL);
        e->in_traced = 1;
    }
    return refused;
}

static const char *admit(const endpoint *e, uint8_t *p, dgram *d, const dgram_keys *k, replay_window *w, int *set,
                         const char **word)
{
    if (set)
        *set = k ? k->set : 0;
    if (e->auth->enabled && dgram_handshake_type(d->type)) {
        /* the boot ids as the header names them: the master's, the slave's */
        uint64_t mb = e->role == AUTH_MASTER ? d->receiver_boot : d->sender_boot;
        uint64_t sb = e->role == AUTH_MASTER ? d->sender_boot : d->receiver_boot;
        const char *why = "bad MAC (wrong key?)";
        int r = -2;
        for (int i = 0; i < e->auth->count && r == -2; i++) {
            aead_key hs;
            handshake_key(e, i, mb, sb, 0, &hs);
            r = dgram_open(p, d, &hs, &why);
            if (r == 0 && set)
                *set = i;
        }
        if (r < 0) {
            *word = r == -2 ? "bad_tag" : "malformed";
            return why;
        }
    } else if (e->auth->enabled) {
        const char *why;
        if (!k) {
            *word = "no_session";
            return "no session with this peer's life (a PING opens one)";
        }
        int r = dgram_open(p, d, &k->rx, &why);
        if (r < 0) {
            *word = r == -2 ? "bad_tag" : "malformed";
            return why;
        }
    }
    if (w && !replay_check(w, d->seq)) {
        *word = "replay";
        return "replayed";
    }
    if (w)
        replay_update(w, d->seq);
    return NULL;
}
