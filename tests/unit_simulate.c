/* Unit tests: --simulate's parser, its draws (the same for the same seed,
 * at the rates asked for) and its bounded hold queue (lib/simulate.c). */
#include <stdlib.h>
#include <string.h>

#include "simulate.h"
#include "tap.h"

static simulate s, t; /* large (the held datagrams): not on the stack */

static void test_parse(void)
{
    char err[300];
    int seeded;
    ok(simulate_parse(&s, "loss=20%,dup=5%,reorder=10%", &seeded, err, sizeof err) == 0 && !seeded,
       "loss=20%%,dup=5%%,reorder=10%%: parsed, no seed given");
    is_int(s.loss, 200000, "loss=20%% is 200000 per million");
    is_int(s.dup, 50000, "dup=5%% is 50000 per million");
    is_int(s.reorder, 100000, "reorder=10%% is 100000 per million");
    ok(simulate_parse(&s, "loss=0.2,seed=1234", &seeded, err, sizeof err) == 0 && seeded && s.seed == 1234,
       "loss=0.2,seed=1234: parsed, seeded");
    is_int(s.loss, 200000, "a fraction: 0.2 is 20%%");
    ok(simulate_parse(&s, "reorder=2.5%,loss=1,dup=0", &seeded, err, sizeof err) == 0 && s.reorder == 25000 &&
           s.loss == 1000000 && s.dup == 0,
       "any order; 2.5%%, 1 (all), 0 (none)");
    ok(simulate_parse(&s, "seed=18446744073709551615,loss=1%", &seeded, err, sizeof err) == 0 &&
           s.seed == 18446744073709551615ull,
       "a 64-bit seed");
    char d[160];
    simulate_parse(&s, "loss=20%,dup=2.5%,seed=7", &seeded, err, sizeof err);
    simulate_describe(&s, d, sizeof d);
    ok(!strcmp(d, "loss=20% dup=2.5% reorder=0% (seed 7)"), "described as the warning says it: '%s'", d);
    static const struct { const char *spec, *says; } bad[] = {
        {"", "an empty value"},
        {"loss=20", "'loss=20': not a probability"},
        {"loss=100.1%", "'loss=100.1%': not a probability"},
        {"loss=1.01", "'loss=1.01': not a probability"},
        {"loss= 5%", "'loss= 5%': not a probability"},
        {"loss=+5%", "'loss=+5%': not a probability"},
        {"loss=5%%", "'loss=5%%': not a probability"},
        {"loss=1e-1", "'loss=1e-1': not a probability"},
        {"loss=0.", "'loss=0.': not a probability"},
        {"loss=1..2%", "'loss=1..2%': not a probability"},
        {"loss=inf", "'loss=inf': not a probability"},
        {"Loss=5%", "'Loss=5%': unknown"},
        {"dup", "'dup': no value"},
        {"dup=5%,dup=5%", "'dup' given twice"},
        {"seed=1,loss=1%,seed=2", "'seed' given twice"},
        {"loss=1%,seed=", "'seed=': the seed is a decimal number"},
        {"loss=1%,seed=-3", "'seed=-3': the seed is a decimal number"},
        {",loss=1%", "an empty part"},
        {"seed=9", "simulates nothing"},
        {"drop=job", "'drop=job': not a datagram type and a count"},
        {"drop=JOB:0", "'drop=JOB:0': not a datagram type and a count"},
        {"drop=JOB:", "'drop=JOB:': not a datagram type and a count"},
        {"drop=JOB:-1", "'drop=JOB:-1': not a datagram type and a count"},
        {"drop=JOB:1000001", "'drop=JOB:1000001': not a datagram type and a count"},
        {"drop=JOB:1x", "'drop=JOB:1x': not a datagram type and a count"},
        {"double=", "'double=': not a datagram type and a count"},
        {"drop=?", "'drop=?': not a datagram type and a count"},
        {"drop=JOB,drop=PING", "'drop' given twice"},
        {"drop", "'drop': no value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        int r = simulate_parse(&s, bad[i].spec, &seeded, err, sizeof err);
        ok(r == -1 && strstr(err, bad[i].says) && !strncmp(err, "--simulate: ", 12), "'%s' refused: %s", bad[i].spec,
           err);
    }
}

static void test_draws(void)
{
    char err[300];
    int seeded, hold, same = 1;
    simulate_parse(&s, "loss=30%,dup=10%,reorder=20%,seed=42", &seeded, err, sizeof err);
    simulate_parse(&t, "loss=30%,dup=10%,reorder=20%,seed=42", &seeded, err, sizeof err);
    for (int i = 0; i < 1000; i++) {
        int h1, h2;
        if (simulate_fate(&s, DG_JOB, &h1) != simulate_fate(&t, DG_JOB, &h2) || h1 != h2)
            same = 0;
    }
    ok(same, "the same seed, the same 1000 fates");
    simulate_parse(&s, "loss=30%,dup=10%,reorder=20%,seed=42", &seeded, err, sizeof err);
    simulate_parse(&t, "loss=30%,dup=10%,reorder=20%,seed=43", &seeded, err, sizeof err);
    same = 1;
    for (int i = 0; i < 1000; i++) {
        int h1, h2;
        if (simulate_fate(&s, DG_JOB, &h1) != simulate_fate(&t, DG_JOB, &h2) || h1 != h2)
            same = 0;
    }
    ok(!same, "another seed, other fates");
    simulate_parse(&s, "loss=30%,dup=10%,reorder=20%,seed=1", &seeded, err, sizeof err);
    int n = 100000, dropped = 0, twice = 0, held = 0;
    for (int i = 0; i < n; i++) {
        int c = simulate_fate(&s, DG_JOB, &hold);
        dropped += c == 0, twice += c == 2, held += c && hold;
    }
    is_int(s.received, n, "every draw counted as received");
    is_int(s.dropped, dropped, "dropped counted");
    is_int(s.duplicated, twice, "duplicated counted");
    ok(dropped > 29000 && dropped < 31000, "loss=30%%: %d of %d dropped", dropped, n);
    /* of those kept (70%) */
    ok(twice > 6500 && twice < 7500, "dup=10%%: %d of the %d kept doubled", twice, n - dropped);
    ok(held > 13300 && held < 14700, "reorder=20%%: %d of the %d kept to be held", held, n - dropped);
    simulate_parse(&s, "loss=0%,seed=1", &seeded, err, sizeof err);
    int all = 1;
    for (int i = 0; i < 10000; i++)
        all &= simulate_fate(&s, DG_JOB, &hold) == 1 && !hold;
    ok(all, "loss=0%%: every datagram delivered once, in order");
}

/* drop=TYPE:N, double=TYPE:N: that datagram and no other, whatever the draws */
static void test_targets(void)
{
    char err[300], d[160];
    int seeded, hold;
    ok(simulate_parse(&s, "drop=JOB,seed=3", &seeded, err, sizeof err) == 0 && s.drop.type == DG_JOB &&
           s.drop.nth == 1 && !s.twice.type,
       "drop=JOB alone simulates something: the first JOB");
    simulate_describe(&s, d, sizeof d);
    ok(!strcmp(d, "loss=0% dup=0% reorder=0% drop=JOB:1 (seed 3)"), "described: '%s'", d);
    static const uint8_t order[] = {DG_PING, DG_PING, DG_JOB, DG_RESULT_ACK, DG_JOB, DG_PING};
    int fates[6];
    for (int i = 0; i < 6; i++)
        fates[i] = simulate_fate(&s, order[i], &hold);
    ok(fates[0] == 1 && fates[1] == 1 && fates[2] == 0 && fates[3] == 1 && fates[4] == 1 && fates[5] == 1,
       "only the first JOB is lost (%d %d %d %d %d %d)", fates[0], fates[1], fates[2], fates[3], fates[4], fates[5]);
    is_int(s.dropped, 1, "and counted as dropped");
    ok(simulate_parse(&s, "double=RESULT_ACK:2,drop=PING:3", &seeded, err, sizeof err) == 0, "double=RESULT_ACK:2,drop=PING:3");
    int twice_at = -1, lost_at = -1;
    static const uint8_t more[] = {DG_PING, DG_RESULT_ACK, DG_PING, DG_RESULT_ACK, DG_PING, DG_RESULT_ACK, DG_PING};
    for (int i = 0; i < 7; i++) {
        int c = simulate_fate(&s, more[i], &hold);
        if (c == 2)
            twice_at = twice_at < 0 ? i : 99;
        if (c == 0)
            lost_at = lost_at < 0 ? i : 99;
    }
    ok(twice_at == 3 && lost_at == 4, "the second RESULT_ACK doubled (at %d), the third PING lost (at %d)", twice_at,
       lost_at);
    uint8_t dg[8] = {0x53, 0x4d, DGRAM_VERSION, DG_CANCEL, 0, 0, 0, 0};
    is_int(simulate_type_of(dg, sizeof dg), DG_CANCEL, "the type read off a header");
    is_int(simulate_type_of(dg, 3), 0, "none in 3 bytes");
    dg[0] = 'X';
    is_int(simulate_type_of(dg, sizeof dg), 0, "none without the magic");
}

static void test_hold(void)
{
    char err[300];
    int seeded, copies;
    uint8_t p[DGRAM_MAX], q[DGRAM_MAX];
    size_t n;
    net_addr from, got;
    memset(&from, 0, sizeof from);
    from.len = 7;
    simulate_parse(&s, "reorder=100%,seed=5", &seeded, err, sizeof err);
    is_int(simulate_next_us(&s), 0, "nothing held: no deadline");
    uint64_t now = 1000000;
    for (int i = 0; i < SIM_HOLD_MAX; i++) {
        memset(p, 'a' + i, 100);
        ok(simulate_hold(&s, p, 100 + (size_t)i, &from, 1 + (i == 3), now + (uint64_t)i), "held %d", i);
    }
    ok(!simulate_hold(&s, p, 100, &from, 1, now), "the queue is bounded: the %dth is not held", SIM_HOLD_MAX + 1);
    is_int(s.reordered, SIM_HOLD_MAX, "only those held are counted as reordered");
    uint64_t next = simulate_next_us(&s);
    ok(next >= now + SIM_HOLD_MIN_US && next <= now + SIM_HOLD_MAX + SIM_HOLD_MIN_US + SIM_HOLD_SPAN_US,
       "the deadline is 2 to 50 ms away (%llu us)", (unsigned long long)(next - now));
    ok(!simulate_pop(&s, now + SIM_HOLD_MIN_US - 1, 0, q, &n, &got, &copies), "none is due before 2 ms");
    ok(simulate_pop(&s, next, 0, q, &n, &got, &copies), "the earliest is due at its deadline");
    ok(simulate_next_us(&s) >= next, "the next deadline is not earlier");
    int left = SIM_HOLD_MAX - 1;
    while (simulate_pop(&s, now + SIM_HOLD_MAX + SIM_HOLD_MIN_US + SIM_HOLD_SPAN_US, 0, q, &n, &got, &copies))
        left--;
    ok(left == 0, "after 50 ms every one is due");
    is_int(simulate_next_us(&s), 0, "the queue empty: no deadline");
    /* all: the oldest first, bytes, length, address and copies kept */
    for (int i = 0; i < 4; i++) {
        memset(p, 'a' + i, 100);
        simulate_hold(&s, p, 100 + (size_t)i, &from, 1 + (i == 2), now);
    }
    int order = 1;
    for (int i = 0; i < 4; i++) {
        memset(p, 'a' + i, 100);
        order &= simulate_pop(&s, now, 1, q, &n, &got, &copies) && n == 100 + (size_t)i && !memcmp(q, p, 100) &&
                 got.len == 7 && copies == 1 + (i == 2);
    }
    ok(order, "all: released oldest first, each as it came (bytes, length, sender, copies)");
    ok(!simulate_pop(&s, now, 1, q, &n, &got, &copies), "and then none");
}

int main(void)
{
    test_parse();
    test_draws();
    test_targets();
    test_hold();
    return done_testing();
}
