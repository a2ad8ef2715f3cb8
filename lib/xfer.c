/* xfer.c - fragment bookkeeping for reliable transfers (see xfer.h). */
#include "xfer.h"

#include "common.h"
#include "proto.h"

#include <stdlib.h>
#include <string.h>

void rtt_init(rtt_estimator *e)
{
    e->srtt_us = 0;
    e->rttvar_us = 0;
    e->rto_us = RTO_INITIAL_US;
}

void rtt_sample(rtt_estimator *e, uint32_t r)
{
    if (e->srtt_us == 0) { /* first sample (RFC 6298 2.2) */
        e->srtt_us = r ? r : 1;
        e->rttvar_us = r / 2;
    } else {               /* RFC 6298 2.3 */
        uint32_t diff = e->srtt_us > r ? e->srtt_us - r : r - e->srtt_us;
        e->rttvar_us = (3 * e->rttvar_us + diff) / 4;
        e->srtt_us = (7 * e->srtt_us + r) / 8;
    }
    uint32_t rto = e->srtt_us + (4 * e->rttvar_us > 1000 ? 4 * e->rttvar_us : 1000);
    e->rto_us = rto < RTO_MIN_US ? RTO_MIN_US : rto > RTO_MAX_US ? RTO_MAX_US : rto;
}

uint32_t rtt_timeout(const rtt_estimator *e)
{
    return e->rto_us;
}

uint32_t xfer_backoff(uint32_t rto_us, unsigned sends)
{
    unsigned doublings = sends > 1 ? sends - 1 : 0;
    uint64_t t = (uint64_t)rto_us << (doublings > 8 ? 8 : doublings);
    return t > RTO_MAX_US ? RTO_MAX_US : (uint32_t)t;
}

static uint32_t frag_len(uint32_t len, uint32_t frag, uint32_t index)
{
    uint32_t off = index * frag;
    return len - off < frag ? len - off : frag;
}

int xfer_tx_init(xfer_tx *t, uint8_t *data, uint32_t len, uint32_t frag)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->len = len;
    t->frag = frag ? frag : FRAG_PAYLOAD;
    t->nfrags = (len + t->frag - 1) / t->frag;
    t->window = XFER_WINDOW_BYTES / t->frag;
    if (t->window > XFER_WINDOW)
        t->window = XFER_WINDOW;
    if (t->window < 4)
        t->window = 4;
    t->acked = calloc(t->nfrags, 1);
    t->sends = calloc(t->nfrags, 1);
    t->sent_us = calloc(t->nfrags, sizeof *t->sent_us);
    if (len == 0 || !t->acked || !t->sends || !t->sent_us) {
        xfer_tx_free(t);
        return -1;
    }
    return 0;
}

void xfer_tx_free(xfer_tx *t)
{
    free(t->data);
    free(t->acked);
    free(t->sends);
    free(t->sent_us);
    memset(t, 0, sizeof *t);
}

void xfer_tx_restart(xfer_tx *t)
{
    if (!t->nfrags)
        return;
    memset(t->acked, 0, t->nfrags);
    memset(t->sends, 0, t->nfrags);
    memset(t->sent_us, 0, t->nfrags * sizeof *t->sent_us);
    t->base = t->acked_count = t->highest_acked_plus1 = 0;
}

static void mark_acked(xfer_tx *t, uint32_t i, uint64_t now_us, uint32_t *sample, int *progress)
{
    if (i >= t->nfrags || t->acked[i])
        return;
    t->acked[i] = 1;
    t->acked_count++;
    *progress = 1;
    if (i + 1 > t->highest_acked_plus1)
        t->highest_acked_plus1 = i + 1;
    if (t->sends[i] == 1 && t->sent_us[i] && now_us >= t->sent_us[i]) { /* Karn: unambiguous only */
        uint64_t r = now_us - t->sent_us[i];
        *sample = r > 0xFFFFFFFFu ? 0xFFFFFFFFu : r ? (uint32_t)r : 1;
    }
}

uint32_t xfer_tx_on_ack(xfer_tx *t, uint32_t cum, uint64_t sack, uint64_t now_us, int *progress)
{
    uint32_t sample = 0;
    *progress = 0;
    if (cum > t->nfrags)
        cum = t->nfrags;
    for (uint32_t i = t->base; i < cum; i++)
        mark_acked(t, i, now_us, &sample, progress);
    for (int b = 0; b < 64 && sack; b++)
        if (sack & ((uint64_t)1 << b))
            mark_acked(t, cum + 1 + (uint32_t)b, now_us, &sample, progress);
    while (t->base < t->nfrags && t->acked[t->base])
        t->base++;
    /* A fragment three or more behind an acknowledged one is lost:
     * make it due now rather than waiting for its timer. */
    for (uint32_t i = t->base; i + 3 < t->highest_acked_plus1; i++)
        if (!t->acked[i] && t->sends[i] == 1 && t->sent_us[i])
            t->sent_us[i] = 0; /* due now; the pump counts it as its 2nd send */
    return sample;
}

unsigned xfer_tx_pump(xfer_tx *t, uint64_t now_us, uint32_t rto_us, xfer_send_fn send, void *ctx)
{
    unsigned timer_resends = 0;
    uint32_t end = t->base + t->window < t->nfrags ? t->base + t->window : t->nfrags;
    for (uint32_t i = t->base; i < end; i++) {
        if (t->acked[i])
            continue;
        int never = t->sends[i] == 0;
        int fast = !never && t->sent_us[i] == 0; /* marked lost by on_ack */
        if (!never && !fast && now_us - t->sent_us[i] < xfer_backoff(rto_us, t->sends[i]))
            continue;
        if (!never && !fast)
            timer_resends++;
        if (t->sends[i] < 255)
            t->sends[i]++;
        t->sent_us[i] = now_us ? now_us : 1;
        send(ctx, i, i * t->frag, frag_len(t->len, t->frag, i), never ? WHY_FIRST : fast ? WHY_FAST : WHY_RTO);
    }
    return timer_resends;
}

uint64_t xfer_tx_next_deadline(const xfer_tx *t, uint32_t rto_us)
{
    uint64_t next = 0;
    uint32_t end = t->base + t->window < t->nfrags ? t->base + t->window : t->nfrags;
    for (uint32_t i = t->base; i < end; i++) {
        if (t->acked[i] || t->sends[i] == 0)
            continue;
        uint64_t due = t->sent_us[i] + xfer_backoff(rto_us, t->sends[i]);
        if (next == 0 || due < next)
            next = due;
    }
    return next;
}

int xfer_rx_init(xfer_rx *r, uint32_t total, uint32_t frag, uint32_t max_len)
{
    memset(r, 0, sizeof *r);
    if (total == 0 || total > max_len || frag == 0)
        return -1;
    r->len = total;
    r->frag = frag;
    r->nfrags = (total + frag - 1) / frag;
    r->data = malloc(total);
    r->have = calloc(r->nfrags, 1);
    if (!r->data || !r->have) {
        xfer_rx_free(r);
        return -1;
    }
    return 0;
}

void xfer_rx_free(xfer_rx *r)
{
    free(r->data);
    free(r->have);
    memset(r, 0, sizeof *r);
}

int xfer_rx_add(xfer_rx *r, uint32_t total, uint32_t frag, uint32_t offset, const uint8_t *p, uint32_t n)
{
    if (total != r->len || frag != r->frag || offset % frag != 0 || offset >= r->len)
        return -1;
    uint32_t i = offset / frag;
    if (n != frag_len(r->len, frag, i))
        return -1;
    if (r->have[i])
        return 0;
    memcpy(r->data + offset, p, n);
    r->have[i] = 1;
    r->count++;
    while (r->cum < r->nfrags && r->have[r->cum])
        r->cum++;
    return 1;
}

void xfer_rx_ack(const xfer_rx *r, uint32_t *cum, uint64_t *sack)
{
    *cum = r->cum;
    *sack = 0;
    for (uint32_t b = 0; b < 64 && r->cum + 1 + b < r->nfrags; b++)
        if (r->have[r->cum + 1 + b])
            *sack |= (uint64_t)1 << b;
}

dgram xfer_tx_fragment(const xfer_tx *t, uint8_t type, uint64_t id, uint32_t offset, uint32_t len)
{
    dgram d;
    memset(&d, 0, sizeof d);
    d.type = type;
    d.job_id = id;
    d.total = t->len;
    d.frag_size = (uint16_t)t->frag;
    d.offset = offset;
    d.payload = t->data + offset;
    d.payload_len = len;
    return d;
}
