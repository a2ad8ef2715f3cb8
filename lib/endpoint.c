/* endpoint.c - the one UDP path of both daemons (see endpoint.h). */
#include "endpoint.h"

int endpoint_send(endpoint *e, sock_t sock, const net_addr *to, uint64_t peer_boot, const hmac_key *tx, dgram *d,
                  size_t cap)
{
    d->sender_boot = e->boot;
    d->receiver_boot = peer_boot;
    d->seq = ++e->next_seq;
    size_t n = dgram_encode(d, e->out, cap < sizeof e->out ? cap : sizeof e->out, e->auth->enabled ? tx : NULL);
    if (!n)
        return 0;
    return net_sendto(sock, e->out, n, to) == NET_ERROR ? NET_ERROR : 1;
}

int endpoint_drain(endpoint *e, sock_t sock, endpoint_handler *on_datagram, void *ctx)
{
    int k = 0;
    for (; sock != SOCK_INVALID && k < ENDPOINT_BATCH; k++) {
        net_addr from;
        long r = net_recvfrom(sock, e->in, sizeof e->in, &from);
        if (r < 0)
            break;
        on_datagram(ctx, e->in, (size_t)r, &from);
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

const char *endpoint_admit(const endpoint *e, const uint8_t *p, const dgram *d, const hmac_key *rx,
                           replay_window *w)
{
    if (e->auth->enabled && !dgram_verify(p, d, rx))
        return "bad MAC (wrong key?)";
    if (w && !replay_check(w, d->seq))
        return "replayed";
    if (w)
        replay_update(w, d->seq);
    return NULL;
}
