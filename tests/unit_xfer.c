/* Unit tests: RTT estimator, fragment sender and reassembly, including a
 * simulated link that loses, duplicates and reorders datagrams. */
#include <stdlib.h>

#include "common.h"
#include "proto.h"
#include "tap.h"
#include "xfer.h"

static void test_rtt(void)
{
    rtt_estimator e;
    rtt_init(&e);
    is_int(rtt_timeout(&e), RTO_INITIAL_US, "initial RTO");
    rtt_sample(&e, 100000);
    is_int(e.srtt_us, 100000, "first sample: SRTT = R (RFC 6298 2.2)");
    is_int(e.rttvar_us, 50000, "first sample: RTTVAR = R/2");
    is_int(rtt_timeout(&e), 300000, "RTO = SRTT + 4 RTTVAR");
    rtt_sample(&e, 50000);
    is_int(e.rttvar_us, 50000, "RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|");
    is_int(e.srtt_us, 93750, "SRTT = 7/8 SRTT + 1/8 R'");
    is_int(xfer_backoff(rtt_timeout(&e), 1), 293750, "a first transmission waits one RTO");
    is_int(xfer_backoff(rtt_timeout(&e), 2), 2 * 293750, "a fragment sent twice waits twice as long");
    is_int(xfer_backoff(rtt_timeout(&e), 40), RTO_MAX_US, "backoff capped at the maximum");
    rtt_sample(&e, 10);
    for (int i = 0; i < 50; i++)
        rtt_sample(&e, 10);
    is_int(rtt_timeout(&e), RTO_MIN_US, "RTO floored at the LAN minimum");
}

static uint8_t *pattern(uint32_t len, unsigned seed)
{
    uint8_t *p = malloc(len);
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
    return p;
}

static void test_reassembly(void)
{
    uint32_t len = 10 * FRAG_PAYLOAD + 77; /* 11 fragments, the last short */
    uint8_t *src = pattern(len, 1);
    xfer_rx r;
    ok(xfer_rx_init(&r, 0, FRAG_PAYLOAD, 100) < 0, "empty message refused");
    ok(xfer_rx_init(&r, 101, FRAG_PAYLOAD, 100) < 0, "message over the limit refused");
    ok(xfer_rx_init(&r, len, FRAG_PAYLOAD, len) == 0 && r.nfrags == 11, "11 fragments expected");
    uint32_t order[] = {3, 0, 10, 3, 1, 7, 2, 0, 4, 5, 6, 9, 8, 10};
    int news = 0;
    uint32_t cum;
    uint64_t sack;
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        uint32_t i = order[k], off = i * FRAG_PAYLOAD, n = i == 10 ? 77 : FRAG_PAYLOAD;
        int rc = xfer_rx_add(&r, len, FRAG_PAYLOAD, off, src + off, n);
        news += rc == 1;
        if (k == 2) {
            xfer_rx_ack(&r, &cum, &sack);
            ok(cum == 1 && sack == ((1ull << 1) | (1ull << 8)), "after 3,0,10: cum 1, sack bits for 3 and 10");
        }
        if (k == 4) {
            xfer_rx_ack(&r, &cum, &sack);
            ok(cum == 2 && sack == ((1ull << 0) | (1ull << 7)), "cum counts the contiguous prefix, sack the rest");
        }
    }
    is_int(news, 11, "each fragment counted once despite duplicates");
    ok(xfer_rx_done(&r) && memcmp(r.data, src, len) == 0, "reassembled byte for byte");
    ok(xfer_rx_add(&r, len + 1, FRAG_PAYLOAD, 0, src, FRAG_PAYLOAD) < 0, "fragment of another total refused");
    ok(xfer_rx_add(&r, len, FRAG_PAYLOAD, 5, src, FRAG_PAYLOAD) < 0, "offset not on a boundary refused");
    ok(xfer_rx_add(&r, len, FRAG_PAYLOAD, 10 * FRAG_PAYLOAD, src, 76) < 0, "wrong length for the last fragment refused");
    xfer_rx_free(&r);
    free(src);
}

typedef struct {
    uint32_t offsets[100000];
    uint32_t lens[100000];
    uint8_t whys[100000];
    int n;
} sent_log;

static void record(void *ctx, uint32_t index, uint32_t offset, uint32_t len, enum trace_why why)
{
    sent_log *s = ctx;
    (void)index;
    s->offsets[s->n] = offset;
    s->lens[s->n] = len;
    s->whys[s->n] = (uint8_t)why;
    s->n++;
}

/* How many of the log's sends went for why. */
static int sent_for(const sent_log *s, enum trace_why why)
{
    int k = 0;
    for (int i = 0; i < s->n; i++)
        k += s->whys[i] == why;
    return k;
}

static void test_sender(void)
{
    static sent_log log;
    uint32_t len = 100 * FRAG_PAYLOAD;
    xfer_tx t;
    ok(xfer_tx_init(&t, pattern(len, 2), len, FRAG_PAYLOAD) == 0 && t.nfrags == 100, "100 fragments to send");
    log.n = 0;
    xfer_tx_pump(&t, 1000, 50000, record, &log);
    is_int(log.n, XFER_WINDOW, "first pump sends one window");
    is_int(sent_for(&log, WHY_FIRST), XFER_WINDOW, "--trace: each of them why=first");
    log.n = 0;
    xfer_tx_pump(&t, 2000, 50000, record, &log);
    is_int(log.n, 0, "nothing resent before the timer");
    int progress;
    /* Fragments 0..9 arrived except 2: cum = 2, sack bits for 3..9. */
    uint64_t sack = 0;
    for (int i = 3; i <= 9; i++)
        sack |= 1ull << (i - 3);
    uint32_t sample = xfer_tx_on_ack(&t, 2, sack, 11000, &progress);
    ok(progress && sample == 10000, "ack gives progress and an RTT sample (%u us)", sample);
    is_int(t.base, 2, "window base at the first missing fragment");
    log.n = 0;
    xfer_tx_pump(&t, 11001, 50000, record, &log);
    ok(log.n >= 3 && log.offsets[0] == 2 * FRAG_PAYLOAD, "fragment 2 fast-retransmitted, window slides (%d sent)",
       log.n);
    int sent_after_slide = log.n;
    ok(log.whys[0] == WHY_FAST && sent_for(&log, WHY_FAST) == 1 && sent_for(&log, WHY_FIRST) == log.n - 1,
       "--trace: fragment 2 why=fast, the new ones why=first");
    sample = xfer_tx_on_ack(&t, 2, sack, 12000, &progress);
    ok(!progress && sample == 0, "a duplicate ack is no progress");
    log.n = 0;
    xfer_tx_pump(&t, 12001, 50000, record, &log);
    is_int(log.n, 0, "a duplicate ack triggers no retransmission (Sorcerer's Apprentice)");
    ok(sent_after_slide == 1 + 2, "window anchored on fragment 2: only 64 and 65 are new (sent %d)",
       sent_after_slide);
    sample = xfer_tx_on_ack(&t, 10, 0, 13000, &progress);
    ok(sample == 0, "no RTT sample from a retransmitted fragment (Karn)");
    log.n = 0;
    xfer_tx_pump(&t, 13000 + 50000, 50000, record, &log);
    ok(log.n > 0 && log.offsets[0] == 10 * FRAG_PAYLOAD, "timer resends the oldest unacked fragment");
    {
        /* fragments 0..65 were sent before: resent by the timer; the
         * window, now from 10, reaches 66..73 for the first time */
        int wrong = 0, rto = 0;
        for (int i = 0; i < log.n; i++) {
            enum trace_why want = log.offsets[i] < 66 * FRAG_PAYLOAD ? WHY_RTO : WHY_FIRST;
            wrong += log.whys[i] != want;
            rto += log.whys[i] == WHY_RTO;
        }
        ok(log.n > 0 && rto > 0 && !wrong, "--trace: every timer resend why=rto (%d), the new ones first (%d wrong)",
           rto, wrong);
    }
    ok(xfer_tx_next_deadline(&t, 50000) == 63000 + 50000, "next deadline = last send + RTO");
    xfer_tx_on_ack(&t, 100, 0, 70000, &progress);
    ok(xfer_tx_done(&t) && xfer_tx_next_deadline(&t, 50000) == 0, "all acked: done, no timer");

    /* A new receiver (a restarted master's next life) has nothing: the
     * transfer starts over, everything due at once. */
    xfer_tx_restart(&t);
    ok(!xfer_tx_done(&t) && t.base == 0 && t.acked_count == 0, "restart: nothing acknowledged any more");
    log.n = 0;
    xfer_tx_pump(&t, 80000, 50000, record, &log);
    ok(log.n == XFER_WINDOW && log.offsets[0] == 0, "restart: a whole window sent at once, from fragment 0 (%d)", log.n);
    sample = xfer_tx_on_ack(&t, 1, 0, 80500, &progress);
    ok(progress && sample == 500, "restart: first sends again, so acks give RTT samples (%u us)", sample);
    xfer_tx_on_ack(&t, 100, 0, 90000, &progress);
    ok(xfer_tx_done(&t), "restart: done once the new receiver has it all");
    xfer_tx_free(&t);
}

/* A link that drops, duplicates and reorders: datagrams wait in a queue
 * with a random delivery time. */
typedef struct {
    uint32_t offset, len;
    uint64_t at;
    int is_ack;
    uint32_t cum;
    uint64_t sack;
} packet;

static packet queue[200000];
static int qn;
static uint64_t sim_now;
static int drop_pct, dup_pct, jitter_us;
static uint32_t sim_frag = FRAG_PAYLOAD;

static void link_send(packet p)
{
    if ((int)(tap_rand() % 100) < drop_pct)
        return;
    int copies = (int)(tap_rand() % 100) < dup_pct ? 2 : 1;
    for (int c = 0; c < copies && qn < 200000; c++) {
        p.at = sim_now + 50 + (jitter_us ? tap_rand() % (uint64_t)jitter_us : 0); /* jitter reorders */
        queue[qn++] = p;
    }
}

static void sim_send(void *ctx, uint32_t index, uint32_t offset, uint32_t len, enum trace_why why)
{
    (void)ctx;
    (void)why;
    (void)index;
    link_send((packet){offset, len, 0, 0, 0, 0});
}

static int simulate(uint32_t len, int drop, int dup, int jitter, unsigned *sends_out)
{
    uint8_t *src = pattern(len, 3);
    uint8_t *copy = malloc(len);
    memcpy(copy, src, len);
    xfer_tx t;
    xfer_rx r;
    rtt_estimator e;
    rtt_init(&e);
    xfer_tx_init(&t, copy, len, sim_frag);
    xfer_rx_init(&r, len, sim_frag, len);
    drop_pct = drop, dup_pct = dup, jitter_us = jitter, qn = 0, sim_now = 1;
    unsigned sends = 0;
    for (int step = 0; step < 2000000 && !xfer_tx_done(&t); step++) {
        int before = qn;
        xfer_tx_pump(&t, sim_now, rtt_timeout(&e), sim_send, NULL);
        sends += (unsigned)(qn - before); /* lower bound: dropped ones not counted */
        /* deliver everything due by now, receiver acks each */
        for (int i = 0; i < qn;) {
            if (queue[i].at > sim_now) {
                i++;
                continue;
            }
            packet p = queue[i];
            queue[i] = queue[--qn];
            if (p.is_ack) {
                int progress;
                uint32_t s = xfer_tx_on_ack(&t, p.cum, p.sack, sim_now, &progress);
                if (s)
                    rtt_sample(&e, s);
            } else {
                xfer_rx_add(&r, len, sim_frag, p.offset, src + p.offset, p.len);
                packet a = {0, 0, 0, 1, 0, 0};
                xfer_rx_ack(&r, &a.cum, &a.sack);
                link_send(a);
            }
        }
        sim_now += 100;
    }
    int good = xfer_tx_done(&t) && xfer_rx_done(&r) && memcmp(r.data, src, len) == 0;
    *sends_out = sends;
    xfer_tx_free(&t);
    xfer_rx_free(&r);
    free(src);
    return good;
}

static void test_lossy_link(void)
{
    unsigned sends;
    uint32_t len = 3 * 1024 * 1024 + 5; /* a 3 MiB result */
    uint32_t frags = (len + FRAG_PAYLOAD - 1) / FRAG_PAYLOAD;
    ok(simulate(len, 0, 0, 0, &sends), "3 MiB over a perfect link");
    ok(sends == frags, "perfect link: no retransmission at all (%u sends for %u fragments)", sends, frags);
    ok(simulate(len, 0, 0, 400, &sends), "3 MiB over a link that reorders");
    ok(sends < 2 * frags, "reordering: spurious fast retransmits bounded (%u sends for %u fragments)", sends, frags);
    ok(simulate(len, 20, 10, 400, &sends), "3 MiB with 20%% loss, 10%% duplicates, reordering: byte-exact");
    ok(sends < 3 * frags, "lossy link: resends stay proportionate (%u sends for %u fragments)", sends, frags);
    ok(simulate(1, 50, 50, 400, &sends), "1-byte message with 50%% loss and 50%% duplicates");
    ok(simulate(FRAG_PAYLOAD * XFER_WINDOW * 3, 5, 0, 100, &sends), "exact multiple of the window");
    sim_frag = FRAG_LOOPBACK;
    ok(simulate(len, 20, 10, 400, &sends), "3 MiB in 60000-byte fragments, 20%% loss, duplicates, reordering");
    xfer_tx t;
    xfer_tx_init(&t, malloc(len), len, FRAG_LOOPBACK);
    ok(t.window * FRAG_LOOPBACK <= XFER_WINDOW_BYTES && t.window >= 4, "large fragments: a window of %u, bounded in bytes",
       t.window);
    xfer_tx_free(&t);
    sim_frag = FRAG_PAYLOAD;
}

/* The datagram of a fragment: what the receiver's xfer_rx needs, from t. */
static void test_fragment_dgram(void)
{
    xfer_tx t;
    uint32_t len = 3 * FRAG_PAYLOAD + 7;
    uint8_t *data = pattern(len, 5);
    xfer_tx_init(&t, data, len, FRAG_PAYLOAD);
    dgram d = xfer_tx_fragment(&t, DG_RESULT, 77, 3 * FRAG_PAYLOAD, 7);
    ok(d.type == DG_RESULT && d.job_id == 77 && d.total == len && d.frag_size == FRAG_PAYLOAD &&
       d.offset == 3 * FRAG_PAYLOAD && d.payload == data + 3 * FRAG_PAYLOAD && d.payload_len == 7 && d.floor == 0 &&
       d.seq == 0, "a fragment's datagram: type, id, total, fragment size, offset, payload, nothing else");
    xfer_tx_free(&t);
}

int main(void)
{
    test_rtt();
    test_reassembly();
    test_sender();
    test_lossy_link();
    test_fragment_dgram();
    return done_testing();
}
