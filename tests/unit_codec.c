/* Unit tests: bounds-checked buffers, datagram and frame codecs (every frame
 * type: its bytes, its round trip, its truncations and oversized lengths). */
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "proto.h"
#include "status.h"
#include "tap.h"

static void test_buffers(void)
{
    bwriter w;
    bw_init(&w, 16);
    bw_u8(&w, 0xAB);
    bw_u16(&w, 0x1234);
    bw_u32(&w, 0xDEADBEEF);
    bw_u64(&w, 0x0102030405060708ull);
    ok(!w.error && w.len == 15, "writer holds 15 bytes");
    static const uint8_t want[] = {0xAB, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5, 6, 7, 8};
    ok(memcmp(w.data, want, sizeof want) == 0, "big-endian layout");
    bw_u16(&w, 1);
    ok(w.error, "writing past the limit sets error");
    breader r;
    br_init(&r, w.data, 15);
    is_int(br_u8(&r), 0xAB, "u8 back");
    is_int(br_u16(&r), 0x1234, "u16 back");
    is_int(br_u32(&r), 0xDEADBEEF, "u32 back");
    ok(br_u64(&r) == 0x0102030405060708ull, "u64 back");
    ok(!r.error && br_left(&r) == 0, "all consumed");
    ok(br_u8(&r) == 0 && r.error, "reading past the end is an error, not a crash");
    ok(br_bytes(&r, 1) == NULL && br_left(&r) == 0, "and stays an error");
    bw_free(&w);

    bw_init(&w, 1 << 20);
    for (int i = 0; i < 100000; i++)
        bw_u32(&w, (uint32_t)i);
    bw_consume(&w, 4 * 99990);
    ok(bw_pending(&w) == 40 && get_u32(bw_head(&w)) == 99990, "consume keeps the pending tail");
    bw_u32(&w, 7);
    ok(bw_pending(&w) == 44, "appending after consume");
    bw_free(&w);

    uint8_t fixed[8];
    bw_init_fixed(&w, fixed, sizeof fixed);
    bw_u64(&w, 1);
    ok(!w.error, "fixed buffer takes 8 bytes");
    bw_u8(&w, 1);
    ok(w.error, "fixed buffer refuses the 9th");
}

static dgram roundtrip(const dgram *in, int *ok_out)
{
    static uint8_t buf[DGRAM_MAX]; /* the decoded payload points into it */
    dgram out;
    const char *why = "";
    size_t n = dgram_encode(in, buf, sizeof buf, NULL);
    *ok_out = n > 0 && dgram_decode(buf, n, &out, &why) == 0;
    return out;
}

static void test_datagrams(void)
{
    uint8_t payload[FRAG_PAYLOAD];
    for (int i = 0; i < FRAG_PAYLOAD; i++)
        payload[i] = (uint8_t)i;
    dgram d = {0}, o;
    int good;
    d.sender_boot = 0x11223344;
    d.receiver_boot = 0x55667788;

    d.type = DG_PING, d.echo_us = 123456789, d.floor = 42, d.master_id = 0xFEDCBA9876543210ull;
    o = roundtrip(&d, &good);
    ok(good && o.type == DG_PING && o.echo_us == 123456789 && o.floor == 42 && o.sender_boot == 0x11223344 &&
           o.receiver_boot == 0x55667788 && o.master_id == 0xFEDCBA9876543210ull,
       "PING round trip (with the master's identity)");
    {
        uint8_t buf[DGRAM_MAX];
        const char *why;
        for (int i = 0; i < DGRAM_PUB_LEN; i++)
            d.eph_pub[i] = (uint8_t)(0x30 + i);
        size_t n = dgram_encode(&d, buf, sizeof buf, NULL);
        ok(n == DGRAM_HEADER_LEN + 8 + 8 + COOKIE_LEN + 8 + DGRAM_PUB_LEN &&
               get_u32(buf + n - DGRAM_PUB_LEN - 8) == 0xFEDCBA98u &&
               get_u32(buf + n - DGRAM_PUB_LEN - 4) == 0x76543210u &&
               !memcmp(buf + n - DGRAM_PUB_LEN, d.eph_pub, DGRAM_PUB_LEN),
           "PING: master_id then the public key, its last 32 bytes (format 6)");
        ok(dgram_decode(buf, n, &o, &why) == 0 && !memcmp(o.eph_pub, d.eph_pub, DGRAM_PUB_LEN), "and decodes back");
        ok(dgram_decode(buf, n - DGRAM_PUB_LEN, &o, &why) < 0 && strcmp(why, "truncated") == 0,
           "a PING without the public key (format 5's layout) is refused");
        buf[2] = 5;
        ok(dgram_decode(buf, n, &o, &why) < 0 && strcmp(why, "unsupported version") == 0, "format 5 refused");
        memset(d.eph_pub, 0, DGRAM_PUB_LEN);
    }
    d.master_id = 0;
    for (int i = 0; i < COOKIE_LEN; i++)
        d.cookie[i] = (uint8_t)(0xA0 + i);
    o = roundtrip(&d, &good);
    ok(good && memcmp(o.cookie, d.cookie, COOKIE_LEN) == 0, "PING carries its cookie");

    d.type = DG_COOKIE, d.echo_us = 987, d.job_id = 0;
    o = roundtrip(&d, &good);
    ok(good && o.type == DG_COOKIE && o.echo_us == 987 && memcmp(o.cookie, d.cookie, COOKIE_LEN) == 0,
       "COOKIE round trip (job id 0 allowed)");
    {
        uint8_t ping[DGRAM_MAX], cookie[DGRAM_MAX];
        dgram pd = {.type = DG_PING, .echo_us = 1, .floor = 1}, cd = {.type = DG_COOKIE, .echo_us = 1};
        size_t np = dgram_encode(&pd, ping, sizeof ping, NULL), nc = dgram_encode(&cd, cookie, sizeof cookie, NULL);
        ok(np && nc && nc <= np, "a COOKIE (%zu bytes) is never larger than the PING it answers (%zu)", nc, np);
    }

    d = (dgram){.type = DG_PONG, .echo_us = 9, .slots_total = 4, .slots_free = 3, .sender_boot = 1,
                .highest_job = 0x0102030405060708ull};
    o = roundtrip(&d, &good);
    ok(good && o.slots_total == 4 && o.slots_free == 3 && o.echo_us == 9 && o.highest_job == d.highest_job,
       "PONG round trip (highest_job included)");
    ok(good && !o.has_load, "PONG without the load fields (an older slave's): has_load 0");
    {
        uint8_t plain[DGRAM_MAX], loaded[DGRAM_MAX];
        size_t np = dgram_encode(&d, plain, sizeof plain, NULL);
        d.has_load = 1, d.load_milli = 2500, d.cpus = 8, d.mem_avail = 0x0000000123456789ull, d.running = 3;
        size_t nl = dgram_encode(&d, loaded, sizeof loaded, NULL);
        ok(nl == np + PONG_LOAD_LEN && get_u32(loaded + np) == 2500 && loaded[np + 4] == 0 && loaded[np + 5] == 8 &&
               loaded[np + 14] == 0 && loaded[np + 15] == 3,
           "PONG with load: %d bytes after the public key (load x1000, cpus, memory, running)", PONG_LOAD_LEN);
        o = roundtrip(&d, &good);
        ok(good && o.has_load && o.load_milli == 2500 && o.cpus == 8 && o.mem_avail == d.mem_avail && o.running == 3 &&
               o.highest_job == d.highest_job,
           "PONG with load round trip");
        int bad = 0;
        const char *why;
        dgram t;
        for (size_t cut = 1; cut < PONG_LOAD_LEN; cut++)
            bad += dgram_decode(loaded, nl - cut, &t, &why) == 0;
        ok(!bad, "PONG: load fields cut short refused (trailing bytes)");
        loaded[nl] = 0;
        ok(dgram_decode(loaded, nl + 1, &t, &why) < 0, "PONG: a byte after the load fields refused");
        d.has_load = 0;
    }

    d = (dgram){.type = DG_JOB, .job_id = 77, .floor = 70, .total = 3000, .offset = 2400, .frag_size = 1200,
                .payload = payload, .payload_len = 600};
    o = roundtrip(&d, &good);
    ok(good && o.job_id == 77 && o.floor == 70 && o.total == 3000 && o.offset == 2400 && o.frag_size == 1200 &&
           o.payload_len == 600 &&
           memcmp(o.payload, payload, 600) == 0,
       "JOB fragment round trip");

    d = (dgram){.type = DG_RESULT, .job_id = 5, .total = 1200, .offset = 0, .frag_size = 1200, .payload = payload,
                .payload_len = 1200};
    o = roundtrip(&d, &good);
    ok(good && o.payload_len == 1200, "RESULT fragment of exactly one full payload");

    d = (dgram){.type = DG_JOB_ACK, .job_id = 5, .state = JS_RUNNING, .cum = 3, .sack = 0x8000000000000001ull,
                .slots_free = 2};
    o = roundtrip(&d, &good);
    ok(good && o.state == JS_RUNNING && o.cum == 3 && o.sack == 0x8000000000000001ull && o.slots_free == 2,
       "JOB_ACK round trip");

    d = (dgram){.type = DG_RESULT_ACK, .job_id = 5, .state = 1, .cum = 9, .sack = 6};
    o = roundtrip(&d, &good);
    ok(good && o.state == 1 && o.cum == 9 && o.sack == 6, "RESULT_ACK round trip");

    d = (dgram){.type = DG_CANCEL, .job_id = 5};
    o = roundtrip(&d, &good);
    ok(good && o.type == DG_CANCEL && o.job_id == 5, "CANCEL round trip");

    d = (dgram){.type = DG_LEAVING, .sender_boot = 77, .seq = 3};
    o = roundtrip(&d, &good);
    ok(good && o.type == DG_LEAVING && o.sender_boot == 77 && o.seq == 3 && o.job_id == 0,
       "LEAVING round trip (header only, job id 0)");

    d = (dgram){.type = DG_OUTPUT, .job_id = 8, .stream = OUT_STDERR, .offset = 1000, .payload = payload,
                .payload_len = 300};
    o = roundtrip(&d, &good);
    ok(good && o.type == DG_OUTPUT && o.job_id == 8 && o.stream == OUT_STDERR && o.offset == 1000 &&
           o.payload_len == 300 && memcmp(o.payload, payload, 300) == 0, "OUTPUT round trip");
    {
        uint8_t ob[DGRAM_MAX];
        const char *owhy;
        int refused = 0;
        dgram bad[] = {{.type = DG_OUTPUT, .job_id = 8, .stream = 3, .payload = payload, .payload_len = 1},
                       {.type = DG_OUTPUT, .job_id = 8, .stream = OUT_STDOUT, .payload_len = 0},
                       {.type = DG_OUTPUT, .job_id = 0, .stream = OUT_STDOUT, .payload = payload, .payload_len = 1},
                       {.type = DG_OUTPUT, .job_id = 8, .stream = OUT_STDOUT, .offset = MAX_OUTPUT_CAP,
                        .payload = payload, .payload_len = 1}};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            size_t on = dgram_encode(&bad[i], ob, sizeof ob, NULL);
            refused += on && dgram_decode(ob, on, &o, &owhy) < 0;
        }
        ok(refused == 4, "OUTPUT: a bad stream, no bytes, job id 0, past the largest cap: refused");
    }

    /* Malformed datagrams are refused with a reason. */
    uint8_t buf[DGRAM_MAX];
    const char *why;
    d = (dgram){.type = DG_JOB, .job_id = 1, .total = 3000, .offset = 0, .frag_size = 1200, .payload = payload,
                .payload_len = 1200};
    size_t n = dgram_encode(&d, buf, sizeof buf, NULL);
    ok(dgram_decode(buf, n, &o, &why) == 0, "valid JOB fragment");
    buf[0] ^= 0xFF;
    ok(dgram_decode(buf, n, &o, &why) < 0 && strcmp(why, "bad magic") == 0, "bad magic refused");
    buf[0] ^= 0xFF;
    buf[2] = 9;
    ok(dgram_decode(buf, n, &o, &why) < 0 && strcmp(why, "unsupported version") == 0, "other version refused");
    buf[2] = DGRAM_VERSION;
    buf[3] = 99;
    ok(dgram_decode(buf, n, &o, &why) < 0 && strcmp(why, "unknown type") == 0, "unknown type refused");
    buf[3] = DG_JOB;
    for (size_t cut = 0; cut < DGRAM_HEADER_LEN + 16; cut++)
        if (dgram_decode(buf, cut, &o, &why) == 0)
            ok(0, "truncated datagram of %zu bytes accepted", cut);
    ok(1, "every truncation of the header refused");
    ok(dgram_decode(buf, n - 1, &o, &why) < 0, "short payload refused (length must match total/offset)");

    d.offset = 100; /* not a fragment boundary */
    n = dgram_encode(&d, buf, sizeof buf, NULL);
    ok(dgram_decode(buf, n, &o, &why) < 0, "offset off a fragment boundary refused");
    d = (dgram){.type = DG_JOB, .job_id = 1, .total = 1000, .offset = 1200, .frag_size = 1200, .payload = payload,
                .payload_len = 1};
    n = dgram_encode(&d, buf, sizeof buf, NULL);
    ok(dgram_decode(buf, n, &o, &why) < 0, "fragment beyond the total refused");
    d = (dgram){.type = DG_PING};
    n = dgram_encode(&d, buf, sizeof buf, NULL);
    buf[n++] = 0;
    ok(dgram_decode(buf, n, &o, &why) < 0 && strcmp(why, "trailing bytes") == 0, "trailing bytes refused");
    d = (dgram){.type = DG_CANCEL, .job_id = 0};
    n = dgram_encode(&d, buf, sizeof buf, NULL);
    ok(dgram_decode(buf, n, &o, &why) < 0, "job id 0 refused");

    /* Random bytes: never accepted as something with a payload out of
     * bounds, never a crash (ASan/valgrind runs check the latter). */
    int accepted = 0;
    for (int i = 0; i < 200000; i++) {
        size_t len = (size_t)(tap_rand() % sizeof buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)tap_rand();
        if (i % 2) { /* keep a valid start half the time to go deeper */
            buf[0] = 0x53, buf[1] = 0x4D, buf[2] = DGRAM_VERSION, buf[3] = (uint8_t)(1 + tap_rand() % 7);
        }
        if (dgram_decode(buf, len, &o, &why) == 0) {
            accepted++;
            if (o.payload && (o.payload < buf || o.payload + o.payload_len > buf + len))
                ok(0, "payload points outside the datagram");
        }
    }
    ok(1, "200000 random datagrams decoded without fault (%d accepted)", accepted);
}

static void test_bodies(void)
{
    bwriter w;
    bw_init(&w, 1 << 20);
    static CommandRequest j, jo;
    j = (CommandRequest){.seq = 7, .timeout_ms = 2500, .length = 11, .command = "echo hello!"};
    job_request_encode(&w, &j);
    ok(w.len == 8 + 11, "job request without extensions: as before them (no tail)");
    ok(job_request_decode(w.data, w.len, &jo) == 0 && jo.timeout_ms == 2500 && jo.length == 11 &&
           memcmp(jo.command, "echo hello!", 11) == 0,
       "job request round trip");
    ok(job_request_decode(w.data, w.len - 1, &jo) < 0, "short job request refused");
    w.data[w.len - 3] = 0;
    ok(job_request_decode(w.data, w.len, &jo) < 0, "job request with a NUL byte refused");
    bw_reset(&w);
    /* extensions: none written without one (the bytes of before them) */
    size_t plain_len = 8 + 11;
    job_request_encode(&w, &j);
    ok(w.len == plain_len && job_request_decode(w.data, w.len, &jo) == 0 && jo.next == 0,
       "job request without extensions: no tail");
    bw_reset(&w);
    CommandRequest jx = j;
    jx.ext[jx.next++] = (job_ext){JOBX_STREAM, 0, NULL};
    jx.ext[jx.next++] = (job_ext){42, 3, "abc"};
    job_request_encode(&w, &jx);
    ok(w.len == plain_len + 3 + 6 && job_request_decode(w.data, w.len, &jo) == 0 && jo.next == 2 &&
           jo.ext[0].key == JOBX_STREAM && jo.ext[0].len == 0 && jo.ext[1].key == 42 && jo.ext[1].len == 3 &&
           memcmp(jo.ext[1].value, "abc", 3) == 0 && jo.length == 11 && jo.unknown_ext == 42,
       "job request extensions round trip, an unknown key kept for the slave to refuse");
    ok(job_request_decode(w.data, w.len - 1, &jo) < 0 && job_request_decode(w.data, w.len - 5, &jo) < 0,
       "a cut extension refused");
    bw_reset(&w);
    jx.next = 0;
    for (int i = 0; i < JOBX_MAX; i++)
        jx.ext[jx.next++] = (job_ext){JOBX_STREAM, 0, NULL};
    job_request_encode(&w, &jx);
    ok(job_request_decode(w.data, w.len, &jo) == 0 && jo.next == JOBX_MAX, "JOBX_MAX extensions taken");
    bw_u8(&w, JOBX_STREAM);
    bw_u16(&w, 0);
    ok(job_request_decode(w.data, w.len, &jo) < 0, "one more refused");
    bw_reset(&w);

    /* the tail: --wd and --env (JOBX_WD, JOBX_ENV), each u8 key, u16 len, value */
    j.ext[0] = (job_ext){JOBX_WD, 4, "/tmp"};
    j.ext[1] = (job_ext){JOBX_ENV, 8, "A=x y\n\"z"};
    j.ext[2] = (job_ext){JOBX_ENV, 3, "B=1"};
    j.next = 3;
    job_request_encode(&w, &j);
    ok(w.len == 8 + 11 + 3 * 3 + 4 + 8 + 3 && w.data[19] == JOBX_WD && w.data[20] == 0 && w.data[21] == 4,
       "job request tail: key, length, value each");
    ok(job_request_decode(w.data, w.len, &jo) == 0 && jo.length == 11 && jo.next == 3 && !jo.unknown_ext &&
           jo.ext[0].key == JOBX_WD && jo.ext[0].len == 4 && memcmp(jo.ext[0].value, "/tmp", 4) == 0 &&
           jo.ext[1].key == JOBX_ENV && jo.ext[1].len == 8 && memcmp(jo.ext[1].value, "A=x y\n\"z", 8) == 0 &&
           jo.ext[2].len == 3, "job request tail round trip");
    {
        int bad = 0;
        for (size_t cut = 1; cut < 3 * 3 + 4 + 8 + 3; cut++)
            bad += job_request_decode(w.data, w.len - cut, &jo) == 0 && jo.next == 3;
        ok(!bad, "job request tail: every truncation refused (or a shorter whole list)");
        bad = 0;
        for (size_t cut = 1; cut < 3 * 3 + 4 + 8 + 3; cut++)
            bad += job_request_decode(w.data, w.len - cut, &jo) == 0 &&
                   !(cut == 3 + 3 || cut == 3 + 3 + 3 + 8); /* whole entries cut: a shorter list */
        ok(!bad, "job request tail: a cut entry is malformed");
    }
    bw_reset(&w);
    j.ext[0] = (job_ext){9, 2, "hi"};
    j.next = 2;
    job_request_encode(&w, &j);
    ok(job_request_decode(w.data, w.len, &jo) == 0 && jo.unknown_ext == 9 && jo.next == 2,
       "job request tail: an unknown key is named (the slave fails the job)");
    bw_reset(&w);
    static const struct { job_ext e; const char *what; } bad_ext[] = {
        {{JOBX_WD, 0, ""}, "an empty --wd"},
        {{JOBX_WD, 3, "a\0b"}, "a NUL in --wd"},
        {{JOBX_ENV, 3, "A1x"}, "--env without ="},
        {{JOBX_ENV, 4, "1A=x"}, "--env NAME starting with a digit"},
        {{JOBX_ENV, 5, "A-B=x"}, "--env NAME with a -"},
        {{JOBX_ENV, 2, "=x"}, "--env with no NAME"},
    };
    for (size_t i = 0; i < sizeof bad_ext / sizeof bad_ext[0]; i++) {
        j.ext[0] = bad_ext[i].e;
        j.next = 1;
        job_request_encode(&w, &j);
        ok(job_request_decode(w.data, w.len, &jo) < 0, "job request tail: %s refused", bad_ext[i].what);
        bw_reset(&w);
    }
    j.ext[0] = (job_ext){JOBX_WD, 1, "a"};
    j.ext[1] = (job_ext){JOBX_WD, 1, "b"};
    j.next = 2;
    job_request_encode(&w, &j);
    ok(job_request_decode(w.data, w.len, &jo) < 0, "job request tail: --wd twice refused");
    bw_reset(&w);
    j.next = 0;

    CommandResult r = {0}, o;
    r.status = RUN_SIGNALED;
    r.exit_code = -1;
    r.term_signal = 9;
    r.stdout_truncated = 1;
    r.start_ms = 1700000000123ull;
    r.duration_us = 4242;
    r.stdout_data = "out\0put";
    r.stdout_len = 7;
    r.stderr_data = "err";
    r.stderr_len = 3;
    result_encode(&w, &r);
    breader rd;
    br_init(&rd, w.data, w.len);
    ok(result_decode(&rd, &o) == 0 && br_left(&rd) == 0, "result decodes");
    ok(o.status == RUN_SIGNALED && o.exit_code == -1 && o.term_signal == 9 && o.stdout_truncated &&
           !o.stderr_truncated && o.start_ms == 1700000000123ull && o.duration_us == 4242,
       "result fields round trip");
    ok(o.stdout_len == 7 && memcmp(o.stdout_data, "out\0put", 7) == 0 && o.stderr_len == 3 && o.message_len == 0,
       "result output is byte-exact, NUL included");
    for (size_t cut = 0; cut < w.len; cut++) {
        br_init(&rd, w.data, cut);
        if (result_decode(&rd, &o) == 0)
            ok(0, "truncated result of %zu bytes accepted", cut);
    }
    ok(1, "every truncation of a result refused");
    ok(w.data[RESULT_FLAGS_OFFSET] == 1, "the flags byte is at RESULT_FLAGS_OFFSET");
    w.data[RESULT_FLAGS_OFFSET] |= RESULT_FLAG_RAN_TWICE; /* as the master sets it */
    br_init(&rd, w.data, w.len);
    ok(result_decode(&rd, &o) == 0 && o.ran_twice && o.stdout_truncated && !o.stderr_truncated,
       "the may-have-run-twice flag decodes, beside truncation");
    w.data[RESULT_FLAGS_OFFSET] = RESULT_FLAG_CACHED;
    br_init(&rd, w.data, w.len);
    ok(result_decode(&rd, &o) == 0 && o.cached && !o.ran_twice && !o.stdout_truncated,
       "the cached flag decodes (client --cache)");
    o.cached = 1;
    {
        bwriter wc;
        bw_init(&wc, 1 << 16);
        result_encode(&wc, &o);
        ok(!wc.error && wc.data[RESULT_FLAGS_OFFSET] == RESULT_FLAG_CACHED, "... and is encoded as bit 3");
        bw_free(&wc);
    }
    w.data[RESULT_FLAGS_OFFSET] = 16;
    br_init(&rd, w.data, w.len);
    ok(result_decode(&rd, &o) < 0, "an unknown result flag is refused");
    w.data[0] = 42;
    br_init(&rd, w.data, w.len);
    ok(result_decode(&rd, &o) < 0, "unknown status refused");
    bw_free(&w);
}

static void test_frames(void)
{
    bwriter w;
    bw_init(&w, 1 << 20);
    size_t s = frame_begin(&w, F_SUBMIT);
    bw_u32(&w, 3);
    bw_bytes(&w, "true", 4);
    frame_end(&w, s);
    s = frame_begin(&w, F_END);
    bw_u32(&w, 3);
    frame_end(&w, s);
    uint8_t type;
    breader f;
    long used = frame_parse(w.data, w.len, 1000, &type, &f);
    ok(used == 13 && type == F_SUBMIT && br_u32(&f) == 3 && br_left(&f) == 4, "first frame parsed");
    long used2 = frame_parse(w.data + used, w.len - (size_t)used, 1000, &type, &f);
    ok(used2 == 9 && type == F_END, "second frame parsed");
    for (size_t cut = 0; cut < 13; cut++)
        if (frame_parse(w.data, cut, 1000, &type, &f) != 0)
            ok(0, "partial frame of %zu bytes not reported incomplete", cut);
    ok(1, "partial frames wait for more bytes");
    ok(frame_parse(w.data, w.len, 5, &type, &f) < 0, "frame longer than the maximum refused");
    static const uint8_t zero[5] = {0, 0, 0, 0, 1};
    ok(frame_parse(zero, 5, 1000, &type, &f) < 0, "zero-length frame refused");
    static const uint8_t garbage[] = "GET / HTTP/1.1\r\n\r\n";
    ok(frame_parse(garbage, sizeof garbage - 1, FRAME_MAX_FROM_CLIENT, &type, &f) < 0,
       "an HTTP request is refused at once (length out of range)");
    bw_free(&w);
}

/* One frame of w, parsed: its type and fields (less the tag when key). */
static int parse_one(const bwriter *w, uint8_t *type, breader *f)
{
    long used = frame_parse(w->data, w->len, FRAME_MAX_FROM_MASTER, type, f);
    return !w->error && used == (long)w->len;
}

/* Every prefix of the fields is refused by the decoder: a truncated frame
 * never decodes (fields that may end anywhere are the exception, named). */
static int truncations_refused(uint8_t type, const breader *f, size_t shortest_ok)
{
    int bad = 0;
    for (size_t cut = 0; cut < br_left(f); cut++) {
        breader t = *f;
        t.len = t.pos + cut;
        any_frame a;
        if (cut < shortest_ok && frame_decode(type, &t, &a) == 0)
            bad++;
    }
    return bad == 0;
}

static void test_frame_codecs(void)
{
    bwriter w;
    uint8_t type;
    breader f;
    any_frame a;
    bw_init(&w, 1 << 20);

    /* HELLO: the bytes of doc/protocol.md 2.3, then back */
    hello_frame h = {.magic = FRAME_MAGIC, .version = FRAME_VERSION, .flags = 0, .timeout_ms = 2000, .retries = 7};
    for (int i = 0; i < FRAME_NONCE_LEN; i++)
        h.nonce[i] = (uint8_t)(0xA0 + i);
    frame_end(&w, hello_frame_encode(&w, &h, NULL));
    uint8_t want[128];
    put_u32(want, 49);
    want[4] = F_HELLO;
    put_u32(want + 5, FRAME_MAGIC);
    put_u16(want + 9, FRAME_VERSION);
    put_u16(want + 11, 0);
    put_u32(want + 13, 2000);
    put_u32(want + 17, 7);
    memcpy(want + 21, h.nonce, FRAME_NONCE_LEN);
    ok(w.len == 53 && memcmp(w.data, want, 53) == 0, "HELLO: 53 bytes, its layout");
    hello_frame h2;
    ok(parse_one(&w, &type, &f) && type == F_HELLO && hello_frame_decode(&f, &h2) == 0 && h2.magic == FRAME_MAGIC &&
           h2.version == FRAME_VERSION && h2.flags == 0 && h2.timeout_ms == 2000 && h2.retries == 7 &&
           !memcmp(h2.nonce, h.nonce, FRAME_NONCE_LEN) && !h2.tag && h2.signed_fields == f.data + f.pos,
       "HELLO round trip");
    ok(truncations_refused(F_HELLO, &f, FRAME_HELLO_FIELDS), "HELLO: every truncation refused");
    breader g = f;
    ok(f.pos == g.pos && f.len == g.len, "the decoder does not move the caller's reader");
    bw_reset(&w);
    hmac_key key;
    hmac_key_init(&key, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32);
    for (int i = 0; i < FRAME_PUB_LEN; i++)
        h.pub[i] = (uint8_t)(0x30 + i);
    frame_end(&w, hello_frame_encode(&w, &h, &key));
    uint8_t tag[FRAME_TAG_LEN];
    hmac_sha256_2(&key, "hello", 5, w.data + 5, FRAME_HELLO_SIGNED, tag);
    ok(w.len == 117 && get_u32(w.data) == 113 && (w.data[12] & FRAME_FLAG_AUTH) && !memcmp(w.data + 53, h.pub, 32) &&
           !memcmp(w.data + 85, tag, 32),
       "keyed HELLO: flag set, public key at offset 53, tag = HMAC(key, \"hello\" || fields) at offset 85");
    ok(parse_one(&w, &type, &f) && hello_frame_decode(&f, &h2) == 0 && h2.tag == f.data + f.pos + 80 &&
           (h2.flags & FRAME_FLAG_AUTH) && !memcmp(h2.pub, h.pub, FRAME_PUB_LEN) &&
           auth_hello_check(&key, h2.signed_fields, FRAME_HELLO_SIGNED, h2.tag),
       "keyed HELLO decoded: public key, tag found and right");
    ok(truncations_refused(F_HELLO, &f, FRAME_HELLO_SIGNED + FRAME_TAG_LEN), "keyed HELLO without its whole tag refused");
    w.data[53 + 7] ^= 0x40; /* a public key changed on the way */
    ok(parse_one(&w, &type, &f) && hello_frame_decode(&f, &h2) == 0 &&
           !auth_hello_check(&key, h2.signed_fields, FRAME_HELLO_SIGNED, h2.tag),
       "keyed HELLO whose public key was changed: its tag fails");
    w.data[53 + 7] ^= 0x40;
    w.data[10] = FRAME_VERSION + 1; /* another version: said before anything else is read */
    f.len = f.pos + 6;
    ok(hello_frame_decode(&f, &h2) == -2 && h2.version == FRAME_VERSION + 1, "HELLO of another version: -2, its number");
    w.data[5] ^= 1;
    ok(hello_frame_decode(&f, &h2) == -1, "HELLO with a bad magic: -1");

    /* WELCOME */
    bw_reset(&w);
    welcome_frame wf = {.version = FRAME_VERSION, .slaves = 3, .alive = 2, .slots = 0x01020304};
    memset(wf.nonce, 0x5C, sizeof wf.nonce);
    frame_end(&w, welcome_frame_encode(&w, &wf, NULL, h.nonce));
    put_u32(want, 45);
    want[4] = F_WELCOME;
    put_u16(want + 5, FRAME_VERSION);
    put_u16(want + 7, 3);
    put_u16(want + 9, 2);
    put_u32(want + 11, 0x01020304);
    put_u16(want + 15, 0);
    memcpy(want + 17, wf.nonce, FRAME_NONCE_LEN);
    ok(w.len == 49 && memcmp(w.data, want, 49) == 0, "WELCOME: 49 bytes, its layout");
    welcome_frame wf2;
    ok(parse_one(&w, &type, &f) && type == F_WELCOME && welcome_frame_decode(&f, &wf2) == 0 && wf2.version == FRAME_VERSION &&
           wf2.slaves == 3 && wf2.alive == 2 && wf2.slots == 0x01020304 && wf2.flags == 0 && !wf2.proof &&
           !memcmp(wf2.nonce, wf.nonce, FRAME_NONCE_LEN),
       "WELCOME round trip");
    ok(truncations_refused(F_WELCOME, &f, FRAME_WELCOME_FIELDS), "WELCOME: every truncation refused");
    bw_reset(&w);
    memset(wf.pub, 0xE7, sizeof wf.pub);
    frame_end(&w, welcome_frame_encode(&w, &wf, &key, h.nonce));
    uint8_t msg[FRAME_NONCE_LEN + FRAME_WELCOME_SIGNED];
    memcpy(msg, h.nonce, FRAME_NONCE_LEN);
    memcpy(msg + FRAME_NONCE_LEN, w.data + 5, FRAME_WELCOME_SIGNED);
    hmac_sha256_2(&key, "welcome", 7, msg, sizeof msg, tag);
    ok(w.len == 113 && get_u32(w.data) == 109 && (w.data[16] & FRAME_FLAG_AUTH) && !memcmp(w.data + 49, wf.pub, 32) &&
           !memcmp(w.data + 81, tag, 32),
       "keyed WELCOME: flag set, public key at offset 49, proof = HMAC(key, \"welcome\" || client nonce || fields) at "
       "offset 81");
    ok(parse_one(&w, &type, &f) && welcome_frame_decode(&f, &wf2) == 0 && wf2.proof == f.data + f.pos + 76 &&
           !memcmp(wf2.pub, wf.pub, FRAME_PUB_LEN) &&
           auth_welcome_check(&key, h.nonce, wf2.signed_fields, FRAME_WELCOME_SIGNED, wf2.proof),
       "keyed WELCOME decoded: public key, proof found and right");
    w.data[49] ^= 1;
    ok(parse_one(&w, &type, &f) && welcome_frame_decode(&f, &wf2) == 0 &&
           !auth_welcome_check(&key, h.nonce, wf2.signed_fields, FRAME_WELCOME_SIGNED, wf2.proof),
       "keyed WELCOME whose public key was changed: its proof fails");
    w.data[49] ^= 1;
    ok(truncations_refused(F_WELCOME, &f, FRAME_WELCOME_SIGNED + FRAME_TAG_LEN), "keyed WELCOME without its whole proof refused");

    /* SUBMIT: its command runs to the end of the fields */
    bw_reset(&w);
    submit_frame sf = {.seq = 42, .len = 7, .command = (const uint8_t *)"echo hi"};
    frame_end(&w, submit_frame_encode(&w, &sf));
    ok(w.len == 16 && get_u32(w.data) == 12 && w.data[4] == F_SUBMIT && get_u32(w.data + 5) == 42 &&
           !memcmp(w.data + 9, "echo hi", 7),
       "SUBMIT: seq, command");
    submit_frame sf2;
    ok(parse_one(&w, &type, &f) && submit_frame_decode(&f, &sf2) == 0 && sf2.seq == 42 && sf2.len == 7 &&
           !memcmp(sf2.command, "echo hi", 7),
       "SUBMIT round trip");
    ok(truncations_refused(F_SUBMIT, &f, 4), "SUBMIT shorter than its seq refused");
    f.len = f.pos + 4;
    ok(submit_frame_decode(&f, &sf2) == 0 && sf2.len == 0, "SUBMIT with an empty command decodes (the master answers it)");

    /* END */
    bw_reset(&w);
    end_frame e = {.count = 0xCAFE}, e2;
    frame_end(&w, end_frame_encode(&w, &e));
    ok(w.len == 9 && get_u32(w.data) == 5 && w.data[4] == F_END && get_u32(w.data + 5) == 0xCAFE, "END: count");
    ok(parse_one(&w, &type, &f) && end_frame_decode(&f, &e2) == 0 && e2.count == 0xCAFE, "END round trip");
    ok(truncations_refused(F_END, &f, 4), "END shorter than its count refused");

    /* RESULT: header, then a body appended as it is */
    bw_reset(&w);
    CommandResult r;
    memset(&r, 0, sizeof r);
    r.status = RUN_EXITED;
    r.exit_code = 3;
    r.stdout_data = (char *)"out";
    r.stdout_len = 3;
    r.stderr_data = (char *)"e";
    r.stderr_len = 1;
    r.stderr_truncated = 1;
    r.duration_us = 99;
    size_t start = result_frame_begin(&w, 17, "h:1", 3);
    result_encode(&w, &r);
    frame_end(&w, start);
    bwriter body;
    bw_init(&body, 4096);
    result_encode(&body, &r);
    ok(get_u32(w.data) == 7 + 3 + body.len && w.data[4] == F_RESULT && get_u32(w.data + 5) == 17 && w.data[9] == 0 &&
           w.data[10] == 3 && !memcmp(w.data + 11, "h:1", 3) && !memcmp(w.data + 14, body.data, body.len),
       "RESULT: seq, host_len, host, body");
    result_frame rf;
    ok(parse_one(&w, &type, &f) && result_frame_decode(&f, &rf) == 0 && rf.seq == 17 && rf.host_len == 3 &&
           !memcmp(rf.host, "h:1", 3) && rf.result.status == RUN_EXITED && rf.result.exit_code == 3 &&
           rf.result.stdout_len == 3 && !memcmp(rf.result.stdout_data, "out", 3) && rf.result.stderr_truncated &&
           !rf.result.stdout_truncated && rf.result.duration_us == 99,
       "RESULT round trip");
    ok(truncations_refused(F_RESULT, &f, br_left(&f)), "RESULT: every truncation refused");
    bw_u8(&w, 0); /* a byte past the body */
    frame_end(&w, start);
    ok(parse_one(&w, &type, &f) && result_frame_decode(&f, &rf) < 0, "RESULT with a trailing byte refused");
    /* a host_len past the fields, a stdout_len over MAX_OUTPUT_CAP */
    w.len -= 1;
    frame_end(&w, start);
    put_u16(w.data + 9, 0xFFFF);
    ok(parse_one(&w, &type, &f) && result_frame_decode(&f, &rf) < 0, "RESULT whose host_len runs past the frame refused");
    put_u16(w.data + 9, 3);
    put_u32(w.data + 14 + 23, MAX_OUTPUT_CAP + 1); /* status..duration are 23 bytes */
    ok(parse_one(&w, &type, &f) && result_frame_decode(&f, &rf) < 0, "RESULT with stdout_len over MAX_OUTPUT_CAP refused");
    bw_reset(&w);
    static char longhost[FRAME_HOST_MAX + 1];
    result_frame_begin(&w, 1, longhost, sizeof longhost);
    ok(w.error, "a host longer than a u16 says is an error, not a wrong length");
    bw_free(&body);

    /* NOTICE, ERROR */
    bwriter w2;
    bw_init(&w2, 1 << 20);
    frame_end(&w2, text_frame_encode(&w2, F_NOTICE, "hello there", 11));
    text_frame t;
    ok(w2.len == 18 && get_u32(w2.data) == 14 && w2.data[4] == F_NOTICE && w2.data[5] == 0 && w2.data[6] == 11 &&
           !memcmp(w2.data + 7, "hello there", 11),
       "NOTICE: text_len, text");
    ok(parse_one(&w2, &type, &f) && text_frame_decode(&f, &t) == 0 && t.len == 11 && !memcmp(t.text, "hello there", 11),
       "NOTICE round trip");
    ok(truncations_refused(F_NOTICE, &f, 13), "NOTICE: every truncation refused");
    put_u16(w2.data + 5, 12);
    ok(parse_one(&w2, &type, &f) && text_frame_decode(&f, &t) < 0, "a text length past the frame refused");
    bw_reset(&w2);
    static char big[3000];
    memset(big, 'x', sizeof big);
    frame_end(&w2, text_frame_encode(&w2, F_ERROR, big, sizeof big));
    ok(parse_one(&w2, &type, &f) && type == F_ERROR && text_frame_decode(&f, &t) == 0 && t.len == FRAME_TEXT_MAX &&
           br_left(&f) == 2 + FRAME_TEXT_MAX,
       "ERROR: a long text is cut at %d bytes", FRAME_TEXT_MAX);

    /* BYE, READY: no fields */
    bw_reset(&w2);
    frame_end(&w2, bye_frame_encode(&w2));
    frame_end(&w2, ready_frame_encode(&w2));
    static const uint8_t bye_ready[] = {0, 0, 0, 1, F_BYE, 0, 0, 0, 1, F_READY};
    ok(w2.len == sizeof bye_ready && !memcmp(w2.data, bye_ready, sizeof bye_ready), "BYE, READY: a type and nothing else");
    ok(frame_parse(w2.data, w2.len, 100, &type, &f) == 5 && frame_decode(type, &f, &a) == 0 && a.type == F_BYE,
       "frame_decode: BYE");
    ok(frame_decode(0, &f, &a) == -3 && frame_decode(F_STATUS_JOB + 1, &f, &a) == -3, "frame_decode: unknown types refused");

    /* The batch frames (FRAME_FLAG_RESUME) */
    bw_reset(&w2);
    attach_frame at = {ATTACH_RESUME, 0x0102030405060708ull, 77, 0, NULL}, at2;
    frame_end(&w2, attach_frame_encode(&w2, &at));
    ok(w2.len == 18 && get_u32(w2.data) == 14 && w2.data[4] == F_ATTACH && w2.data[5] == ATTACH_RESUME &&
           w2.data[6] == 1 && w2.data[13] == 8 && get_u32(w2.data + 14) == 77,
       "ATTACH: mode, batch, have");
    ok(parse_one(&w2, &type, &f) && attach_frame_decode(&f, &at2) == 0 && at2.mode == ATTACH_RESUME &&
           at2.batch == at.batch && at2.have == 77, "ATTACH round trip");
    ok(truncations_refused(F_ATTACH, &f, 13), "ATTACH: every truncation refused");
    /* OPTIONS (--halt) and CANCEL's mode */
    options_frame of = {.halt_when = 2, .halt_why = 0, .halt_pct = 1, .halt_n = 50}, of2;
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &of));
    ok(w2.len == 5 + 3 + 7 && w2.data[4] == F_OPTIONS && w2.data[5] == OPTION_HALT && parse_one(&w2, &type, &f) &&
           options_frame_decode(&f, &of2) == 0 && of2.halt_when == 2 && of2.halt_pct == 1 && of2.halt_n == 50 &&
           !of2.unknown_key, "OPTIONS: --halt now,fail=50%% round trip");
    {
        int bad = 0;
        for (size_t cut = 1; cut < br_left(&f); cut++) {
            breader t = f;
            t.len -= cut;
            bad += options_frame_decode(&t, &of2) == 0 && of2.halt_when;
        }
        ok(!bad, "OPTIONS: a cut option is refused");
    }
    bw_reset(&w2);
    size_t os = frame_begin(&w2, F_OPTIONS);
    bw_u8(&w2, 200);
    bw_u16(&w2, 1);
    bw_u8(&w2, 0);
    frame_end(&w2, os);
    ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == 0 && of2.unknown_key == 200,
       "OPTIONS: an unknown key is named");
    {
        options_frame oj = {.jobs_form = JOBS_PERCENT, .jobs_n = 50}, oj2;
        bw_reset(&w2);
        frame_end(&w2, options_frame_encode(&w2, &oj));
        ok(w2.len == 5 + 3 + 5 && w2.data[5] == OPTION_JOBS_SLOTS && parse_one(&w2, &type, &f) &&
               options_frame_decode(&f, &oj2) == 0 && oj2.jobs_form == JOBS_PERCENT && oj2.jobs_n == 50,
           "OPTIONS: -j 50%% round trip (key 9)");
        oj.jobs_form = 4;
        bw_reset(&w2);
        frame_end(&w2, options_frame_encode(&w2, &oj));
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &oj2) == -1, "OPTIONS: an unknown -j form refused");
        options_frame p = {.jobs_form = JOBS_PLUS, .jobs_n = 2}, mi = {.jobs_form = JOBS_MINUS, .jobs_n = 3},
                      pc = {.jobs_form = JOBS_PERCENT, .jobs_n = 5}, ab = {.jobs = 7};
        ok(jobs_cap(&p, 4) == 6 && jobs_cap(&mi, 4) == 1 && jobs_cap(&mi, 10) == 7 && jobs_cap(&pc, 4) == 1 &&
               jobs_cap(&pc, 200) == 10 && jobs_cap(&ab, 4) == 7 && jobs_cap(&p, 0) == 2,
           "jobs_cap: +N, -N (at least 1), N%% (at least 1) of the slots; a number as it is");
    }
    /* --halt's rule, as GNU parallel's: fail=2 at the second failure; 50% of 4 at 2, once the total is known */
    ok(!halt_reached(0, 0, 2, 5, 1, 0, 0) && halt_reached(0, 0, 2, 0, 2, 0, 0) && halt_reached(1, 0, 1, 1, 0, 0, 0) &&
           halt_reached(2, 0, 3, 1, 2, 0, 0) && !halt_reached(2, 0, 4, 1, 2, 1, 9),
       "halt_reached: counts of fail, success, done");
    ok(!halt_reached(0, 1, 50, 0, 2, 0, 4) && halt_reached(0, 1, 50, 0, 2, 1, 4) && !halt_reached(0, 1, 50, 3, 1, 1, 4),
       "halt_reached: a percentage waits for the total");
    options_frame oj = {.jobs = 3, .delay_ms = 250};
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &oj));
    ok(w2.len == 5 + 2 * 7 && parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == 0 && of2.jobs == 3 &&
           of2.delay_ms == 250 && !of2.halt_when, "OPTIONS: -j 3 --delay 0.25 round trip");
    options_frame olb = {.line_buffer = 1};
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &olb));
    ok(w2.len == 5 + 3 && w2.data[5] == OPTION_LINE_BUFFER && parse_one(&w2, &type, &f) &&
           options_frame_decode(&f, &of2) == 0 && of2.line_buffer == 1 && !of2.unknown_key,
       "OPTIONS: --line-buffer round trip (key 6, no value)");
    bw_reset(&w2);
    os = frame_begin(&w2, F_OPTIONS);
    bw_u8(&w2, OPTION_LINE_BUFFER);
    bw_u16(&w2, 1);
    bw_u8(&w2, 1);
    frame_end(&w2, os);
    ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == 0 && of2.line_buffer == 1,
       "OPTIONS: --line-buffer as u8 1 too");
    bw_reset(&w2);
    os = frame_begin(&w2, F_OPTIONS);
    bw_u8(&w2, OPTION_LINE_BUFFER);
    bw_u16(&w2, 1);
    bw_u8(&w2, 2);
    frame_end(&w2, os);
    ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == -1, "OPTIONS: --line-buffer 2 refused");
    /* F_OUTPUT */
    {
        output_frame of_ = {.seq = 12, .attempt = 2, .stream = OUT_STDOUT, .offset = 70, .len = 4,
                            .data = (const uint8_t *)"x\ny\n"}, og;
        bw_reset(&w2);
        frame_end(&w2, output_frame_encode(&w2, &of_));
        ok(w2.len == 5 + 11 + 4 && w2.data[4] == F_OUTPUT && parse_one(&w2, &type, &f) &&
               output_frame_decode(&f, &og) == 0 && og.seq == 12 && og.attempt == 2 && og.stream == OUT_STDOUT &&
               og.offset == 70 && og.len == 4 && memcmp(og.data, "x\ny\n", 4) == 0, "OUTPUT frame round trip");
        output_frame mark = {.seq = 12, .attempt = 3};
        bw_reset(&w2);
        frame_end(&w2, output_frame_encode(&w2, &mark));
        ok(parse_one(&w2, &type, &f) && output_frame_decode(&f, &og) == 0 && og.stream == 0 && og.len == 0 &&
               og.attempt == 3, "OUTPUT mark (stream 0, no bytes) round trip");
        output_frame bad1 = {.seq = 1, .attempt = 1, .stream = 0, .len = 1, .data = (const uint8_t *)"x"};
        output_frame bad2 = {.seq = 1, .attempt = 1, .stream = 3, .len = 1, .data = (const uint8_t *)"x"};
        output_frame bad3 = {.seq = 1, .attempt = 1, .stream = 1, .len = 0};
        int refused = 0;
        const output_frame *bads[] = {&bad1, &bad2, &bad3};
        for (int i = 0; i < 3; i++) {
            bw_reset(&w2);
            frame_end(&w2, output_frame_encode(&w2, bads[i]));
            refused += parse_one(&w2, &type, &f) && output_frame_decode(&f, &og) < 0;
        }
        ok(refused == 3, "OUTPUT: bytes in a mark, a bad stream, a chunk of no bytes: refused");
    }
    {
        static options_frame ow, ow2;
        ow = (options_frame){.jobs = 1, .wd = {"/srv/x", 6}, .nenv = 2};
        ow.env[0] = (opt_str){"A=1 2", 5};
        ow.env[1] = (opt_str){"B_2='\n'", 7};
        bw_reset(&w2);
        frame_end(&w2, options_frame_encode(&w2, &ow));
        ok(w2.len == 5 + 7 + 3 + 6 + 3 + 5 + 3 + 7 && parse_one(&w2, &type, &f) &&
               options_frame_decode(&f, &ow2) == 0 && ow2.jobs == 1 && ow2.wd.len == 6 &&
               memcmp(ow2.wd.p, "/srv/x", 6) == 0 && ow2.nenv == 2 && ow2.env[1].len == 7 &&
               memcmp(ow2.env[1].p, "B_2='\n'", 7) == 0 && !ow2.unknown_key,
           "OPTIONS: --wd and --env (keys 7, 8) round trip");
        ok(options_place_bytes(&ow2) == 3 + 6 + 3 + 5 + 3 + 7, "OPTIONS: the bytes --wd and --env take in a request");
        static CommandRequest pr;
        memset(&pr, 0, sizeof pr);
        job_request_place(&pr, &ow2);
        ok(pr.next == 3 && pr.ext[0].key == JOBX_WD && pr.ext[1].key == JOBX_ENV && pr.ext[2].len == 7,
           "OPTIONS --wd, --env: the job request's extensions");
        ow.env[1] = (opt_str){"B-2=x", 5};
        bw_reset(&w2);
        frame_end(&w2, options_frame_encode(&w2, &ow));
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &ow2) == -1, "OPTIONS: an --env NAME not a shell "
           "identifier refused");
        ow = (options_frame){.nenv = MAX_ENV_VARS};
        for (unsigned i = 0; i < MAX_ENV_VARS; i++)
            ow.env[i] = (opt_str){"A=1", 3};
        bw_reset(&w2);
        frame_end(&w2, options_frame_encode(&w2, &ow));
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &ow2) == 0 && ow2.nenv == MAX_ENV_VARS,
           "OPTIONS: %d --env accepted", MAX_ENV_VARS);
        bw_reset(&w2);
        size_t st = frame_begin(&w2, F_OPTIONS);
        for (unsigned i = 0; i <= MAX_ENV_VARS; i++) {
            bw_u8(&w2, OPTION_ENV);
            bw_u16(&w2, 3);
            bw_bytes(&w2, "A=1", 3);
        }
        frame_end(&w2, st);
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &ow2) == -1, "OPTIONS: %d --env refused",
           MAX_ENV_VARS + 1);
        static char big[MAX_ENV_ENTRY + 1];
        memset(big, 'v', sizeof big);
        big[0] = 'A', big[1] = '=';
        bw_reset(&w2);
        st = frame_begin(&w2, F_OPTIONS);
        for (unsigned i = 0; i < 9; i++) { /* 9 x 4096: over MAX_PLACE_BYTES */
            bw_u8(&w2, OPTION_ENV);
            bw_u16(&w2, MAX_ENV_ENTRY);
            bw_bytes(&w2, big, MAX_ENV_ENTRY);
        }
        frame_end(&w2, st);
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &ow2) == -1, "OPTIONS: --env over %d bytes in all "
           "refused", MAX_PLACE_BYTES);
        bw_reset(&w2);
        st = frame_begin(&w2, F_OPTIONS);
        bw_u8(&w2, OPTION_ENV);
        bw_u16(&w2, MAX_ENV_ENTRY + 1);
        bw_bytes(&w2, big, MAX_ENV_ENTRY + 1);
        frame_end(&w2, st);
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &ow2) == -1, "OPTIONS: an --env entry over %d bytes "
           "refused", MAX_ENV_ENTRY);
    }
    options_frame orp = {.fail_attempts = 3, .timeout_pct = 300};
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &orp));
    ok(w2.len == 5 + 2 * 7 && w2.data[5] == OPTION_FAIL_ATTEMPTS && w2.data[12] == OPTION_TIMEOUT_PCT &&
           parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == 0 && of2.fail_attempts == 3 &&
           of2.timeout_pct == 300 && !of2.jobs && !of2.unknown_key, "OPTIONS: --retries 3 --timeout 300%% round trip");
    options_frame odl = {.deadline_ms = 2500};
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &odl));
    ok(w2.len == 5 + 7 && w2.data[5] == OPTION_DEADLINE && w2.data[5] == 10 && parse_one(&w2, &type, &f) &&
           options_frame_decode(&f, &of2) == 0 && of2.deadline_ms == 2500 && !of2.unknown_key,
       "OPTIONS: --deadline 2.5 round trip (key 10, u32 ms)");
    {
        options_frame oc = {.cache = 1};
        bw_reset(&w2);
        frame_end(&w2, options_frame_encode(&w2, &oc));
        ok(w2.len == 5 + 3 && w2.data[5] == OPTION_CACHE && w2.data[5] == 13 && w2.data[6] == 0 && w2.data[7] == 0 &&
               parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == 0 && of2.cache && !of2.unknown_key,
           "OPTIONS: --cache round trip (key 13, no value)");
        static const uint8_t vals[][2] = {{1, 1}, {1, 2}, {2, 1}};
        int good = 0;
        for (int i = 0; i < 3; i++) {
            bw_reset(&w2);
            size_t sc = frame_begin(&w2, F_OPTIONS);
            bw_u8(&w2, OPTION_CACHE);
            bw_u16(&w2, vals[i][0]);
            for (int k = 0; k < vals[i][0]; k++)
                bw_u8(&w2, vals[i][1]);
            frame_end(&w2, sc);
            int r = parse_one(&w2, &type, &f) ? options_frame_decode(&f, &of2) : 99;
            good += i == 0 ? r == 0 && of2.cache : r == -1 && of2.bad_key == OPTION_CACHE;
        }
        is_int(good, 3, "OPTIONS: --cache as u8 1 accepted; u8 2, or two bytes, refused naming key 13");
    }
    bw_reset(&w2);
    size_t stdl = frame_begin(&w2, F_OPTIONS);
    bw_u8(&w2, OPTION_DEADLINE);
    bw_u16(&w2, 4);
    bw_u32(&w2, 0);
    frame_end(&w2, stdl);
    ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == -1 && of2.bad_key == OPTION_DEADLINE,
       "OPTIONS: --deadline 0 refused, naming key 10");
    /* each value is exactly its size: a longer one is refused (it was read
     * for its first bytes), naming its key */
    static const struct { uint8_t key; uint16_t len; } longer[] = {
        {OPTION_HALT, 8}, {OPTION_JOBS, 8}, {OPTION_DELAY, 5}, {OPTION_FAIL_ATTEMPTS, 8},
        {OPTION_TIMEOUT_PCT, 8}, {OPTION_DEADLINE, 8}, {OPTION_JOBS_SLOTS, 6}};
    for (size_t i = 0; i < sizeof longer / sizeof longer[0]; i++) {
        bw_reset(&w2);
        size_t st = frame_begin(&w2, F_OPTIONS);
        bw_u8(&w2, longer[i].key);
        bw_u16(&w2, longer[i].len);
        static const uint8_t value[8] = {1, 0, 0, 0, 2, 0, 0, 0}; /* valid in its first bytes for every key */
        bw_bytes(&w2, value, longer[i].len);
        frame_end(&w2, st);
        ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == -1 && of2.bad_key == longer[i].key,
           "OPTIONS: key %u with a %u-byte value (one byte or more too long) refused, naming the key",
           longer[i].key, longer[i].len);
    }
    options_frame orbad = {.fail_attempts = 101};
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &orbad));
    ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == -1, "OPTIONS: --retries 101 refused");
    options_frame bad_pct = {.halt_when = 1, .halt_why = 0, .halt_pct = 1, .halt_n = 101};
    bw_reset(&w2);
    frame_end(&w2, options_frame_encode(&w2, &bad_pct));
    ok(parse_one(&w2, &type, &f) && options_frame_decode(&f, &of2) == -1, "OPTIONS: 101%% refused");
    bw_reset(&w2);
    frame_end(&w2, cancel_frame_encode(&w2, CANCEL_ALL));
    ok(w2.len == 5 && parse_one(&w2, &type, &f) && cancel_frame_mode(&f) == CANCEL_ALL, "CANCEL: no field, as before");
    bw_reset(&w2);
    frame_end(&w2, cancel_frame_encode(&w2, CANCEL_QUEUED));
    ok(w2.len == 6 && parse_one(&w2, &type, &f) && cancel_frame_mode(&f) == CANCEL_QUEUED, "CANCEL_QUEUED: one byte");
    static const uint8_t held[2] = {0x05, 0x01}; /* indices 0, 2 and 8 */
    attach_frame ah = {ATTACH_RESUME, 9, 3, 9, held};
    bw_reset(&w2);
    frame_end(&w2, attach_frame_encode(&w2, &ah));
    ok(w2.len == 18 + 4 + 2 && get_u32(w2.data + 18) == 9 && w2.data[22] == 5 && w2.data[23] == 1 &&
           parse_one(&w2, &type, &f) && attach_frame_decode(&f, &at2) == 0 && at2.held_bits == 9 && at2.held &&
           at2.held[0] == 5 && at2.held[1] == 1 && at2.have == 3, "ATTACH with held: bits, bitmap, round trip");
    {
        int bad = 0;
        for (size_t cut = 1; cut < 6; cut++) {
            breader t = f;
            t.len -= cut;
            bad += attach_frame_decode(&t, &at2) == 0;
        }
        breader t = f;
        t.len -= 6;
        ok(!bad && attach_frame_decode(&t, &at2) == 0 && !at2.held, "ATTACH: held cut short refused; absent, NULL");
    }
    bw_reset(&w2);
    size_t as = frame_begin(&w2, F_ATTACH);
    bw_u8(&w2, ATTACH_RESUME);
    bw_u64(&w2, 9);
    bw_u32(&w2, 0);
    bw_u32(&w2, ATTACH_HELD_MAX + 1);
    frame_end(&w2, as);
    ok(parse_one(&w2, &type, &f) && attach_frame_decode(&f, &at2) == -1, "ATTACH: more held bits than fit, refused");
    bw_reset(&w2);
    batch_frame bf = {0xAABBCCDDEEFF0011ull, BATCH_FLAG_DURABLE | BATCH_FLAG_ENDED, 5, 6, 7}, bf2;
    frame_end(&w2, batch_frame_encode(&w2, &bf));
    ok(w2.len == 26 && w2.data[4] == F_BATCH && w2.data[13] == 3 && get_u32(w2.data + 14) == 5 &&
           get_u32(w2.data + 18) == 6 && get_u32(w2.data + 22) == 7, "BATCH: batch, flags, accepted, total, done");
    ok(parse_one(&w2, &type, &f) && batch_frame_decode(&f, &bf2) == 0 && bf2.batch == bf.batch && bf2.flags == 3 &&
           bf2.accepted == 5 && bf2.total == 6 && bf2.done == 7, "BATCH round trip");
    ok(truncations_refused(F_BATCH, &f, 21), "BATCH: every truncation refused");
    bw_reset(&w2);
    count_frame cf = {123456}, cf2;
    frame_end(&w2, count_frame_encode(&w2, F_ACK, &cf));
    ok(w2.len == 9 && w2.data[4] == F_ACK && get_u32(w2.data + 5) == 123456, "ACK: count");
    ok(parse_one(&w2, &type, &f) && frame_decode(type, &f, &a) == 0 && a.u.count.count == 123456 &&
           count_frame_decode(&f, &cf2) == 0, "ACK round trip (frame_decode)");
    ok(truncations_refused(F_ACCEPTED, &f, 4), "ACCEPTED/ACK: every truncation refused");
    bw_reset(&w2);
    batch_info_frame bi = {42, 1700000000000ull, BATCH_DETACHED, 10, 4, 2, 9, "127.0.0.1"}, bi2;
    frame_end(&w2, batch_info_frame_encode(&w2, &bi));
    ok(parse_one(&w2, &type, &f) && type == F_BATCH_INFO && batch_info_frame_decode(&f, &bi2) == 0 && bi2.batch == 42 &&
           bi2.created_ms == bi.created_ms && bi2.state == BATCH_DETACHED && bi2.submitted == 10 && bi2.done == 4 &&
           bi2.running == 2 && bi2.name_len == 9 && !memcmp(bi2.name, "127.0.0.1", 9), "BATCH_INFO round trip");
    ok(truncations_refused(F_BATCH_INFO, &f, br_left(&f)), "BATCH_INFO: every truncation refused");
    bw_reset(&w2);
    bi.name = big;
    bi.name_len = 3000;
    frame_end(&w2, batch_info_frame_encode(&w2, &bi));
    ok(parse_one(&w2, &type, &f) && batch_info_frame_decode(&f, &bi2) == 0 && bi2.name_len == BATCH_NAME_MAX &&
           br_left(&f) == 31 + BATCH_NAME_MAX, "BATCH_INFO: a long name is cut at %d bytes", BATCH_NAME_MAX);
    bw_reset(&w2);
    frame_end(&w2, empty_frame_encode(&w2, F_CANCEL));
    frame_end(&w2, empty_frame_encode(&w2, F_DETACH));
    static const uint8_t cancel_detach[] = {0, 0, 0, 1, F_CANCEL, 0, 0, 0, 1, F_DETACH};
    ok(w2.len == sizeof cancel_detach && !memcmp(w2.data, cancel_detach, sizeof cancel_detach) &&
           frame_parse(w2.data, w2.len, 100, &type, &f) == 5 && frame_decode(type, &f, &a) == 0,
       "CANCEL, DETACH: a type and nothing else");
    bw_reset(&w2);
    command_frame cm = {3, 9, 5, "ls -l"}, cm2;
    frame_end(&w2, command_frame_encode(&w2, &cm));
    ok(w2.len == 18 && w2.data[4] == F_COMMAND && get_u32(w2.data + 5) == 3 && get_u32(w2.data + 9) == 9 &&
           !memcmp(w2.data + 13, "ls -l", 5), "COMMAND: index, seq, line");
    ok(parse_one(&w2, &type, &f) && command_frame_decode(&f, &cm2) == 0 && cm2.index == 3 && cm2.seq == 9 &&
           cm2.len == 5 && !memcmp(cm2.line, "ls -l", 5), "COMMAND round trip");
    ok(truncations_refused(F_COMMAND, &f, 8), "COMMAND: shorter than index and seq refused");
    /* STARTED (FRAME_FLAG_PROGRESS) */
    bw_reset(&w2);
    started_frame st = {7, 2, 14, "127.0.0.1:4001", 0}, st2;
    frame_end(&w2, started_frame_encode(&w2, &st));
    ok(w2.len == 27 && get_u32(w2.data) == 23 && w2.data[4] == F_STARTED && get_u32(w2.data + 5) == 7 &&
           w2.data[9] == 0 && w2.data[10] == 2 && w2.data[11] == 0 && w2.data[12] == 14 &&
           !memcmp(w2.data + 13, "127.0.0.1:4001", 14), "STARTED: seq, attempt, host");
    ok(parse_one(&w2, &type, &f) && frame_decode(type, &f, &a) == 0 && a.u.started.seq == 7 &&
           a.u.started.attempt == 2 && a.u.started.host_len == 14 && !memcmp(a.u.started.host, "127.0.0.1:4001", 14),
       "STARTED round trip (frame_decode)");
    ok(truncations_refused(F_STARTED, &f, br_left(&f)), "STARTED: every truncation refused");
    ok(a.u.started.run == 0, "STARTED without its run: 0 (absent)");
    bw_reset(&w2);
    st.run = 3;
    frame_end(&w2, started_frame_encode(&w2, &st));
    ok(w2.len == 29 && w2.data[27] == 0 && w2.data[28] == 3 && parse_one(&w2, &type, &f) &&
           started_frame_decode(&f, &st2) == 0 && st2.run == 3 && st2.attempt == 2 && st2.host_len == 14,
       "STARTED: the run after the host (--retries), round trip");
    st.run = 0;
    bw_reset(&w2);
    st.host = big;
    st.host_len = 3000;
    frame_end(&w2, started_frame_encode(&w2, &st));
    ok(parse_one(&w2, &type, &f) && started_frame_decode(&f, &st2) == 0 && st2.host_len == BATCH_NAME_MAX,
       "STARTED: a long host is cut at %d bytes", BATCH_NAME_MAX);
    bw_free(&w2);
    bw_free(&w);
}

/* client --status: STATUS, STATUS_SLAVE, STATUS_BATCH, and the JSON of a
 * snapshot (lib/status.c), byte for byte. */
static void test_status(void)
{
    bwriter w;
    uint8_t type;
    breader f;
    any_frame a;
    bw_init(&w, 1 << 16);
    status_frame sf = {.uptime_ms = 61500, .journal_bytes = 4096, .finished_window = 120, .window_s = 60,
                       .flags = STATUS_FLAG_VERBOSE, .clients = 3, .queued = 6, .running = 4, .slots = 4,
                       .slaves = 2, .slaves_up = 1, .batches = 1, .finished = {10, 1, 0, 0, 2, 0, 0}, .failed = 5,
                       .version = "1.0.0", .jobs = 1};
    frame_end(&w, status_frame_encode(&w, &sf));
    ok(w.len == 5 + 8 + 8 + 4 + 2 + 1 + 4 * 4 + 2 + 2 + 4 + 8 * 7 + 8 + 1 + 5 + 4 && w.data[4] == F_STATUS &&
           get_u32(w.data + 13 + 4) == 4096 && w.data[w.len - 10] == 5 && !memcmp(w.data + w.len - 9, "1.0.0", 5) &&
           get_u32(w.data + w.len - 4) == 1,
       "STATUS: its length, journal_bytes, the version, then jobs");
    ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == 0 && !memcmp(&a.u.status.finished, sf.finished,
           sizeof sf.finished) && a.u.status.uptime_ms == 61500 && a.u.status.window_s == 60 &&
           a.u.status.slaves_up == 1 && a.u.status.failed == 5 && !strcmp(a.u.status.version, "1.0.0") &&
           a.u.status.jobs == 1,
       "STATUS round trip (frame_decode)");
    ok(truncations_refused(F_STATUS, &f, br_left(&f) - 4), "STATUS: every truncation before jobs refused");
    {
        int bad = 0;
        for (size_t cut = 1; cut < 4; cut++) {
            breader t = f;
            t.len -= cut;
            bad += frame_decode(F_STATUS, &t, &a) == 0;
        }
        breader t = f;
        t.len -= 4;
        ok(!bad && frame_decode(F_STATUS, &t, &a) == 0 && a.u.status.jobs == 0,
           "STATUS: jobs cut short refused; absent (an older master) is 0");
    }
    {
        status_frame sc = sf;
        sc.has_cache = 1, sc.cache_hits = 7, sc.cache_misses = 3, sc.cache_entries = 2, sc.cache_bytes = 900;
        sc.cache_max_bytes = 1 << 20, sc.cache_age_ms = 3600000;
        bwriter wc;
        bw_init(&wc, 1 << 16);
        frame_end(&wc, status_frame_encode(&wc, &sc));
        breader fc;
        ok(parse_one(&wc, &type, &fc) && br_left(&fc) == br_left(&f) + 48 && frame_decode(type, &fc, &a) == 0 &&
               a.u.status.has_cache && a.u.status.cache_hits == 7 && a.u.status.cache_misses == 3 &&
               a.u.status.cache_entries == 2 && a.u.status.cache_bytes == 900 &&
               a.u.status.cache_max_bytes == 1 << 20 && a.u.status.cache_age_ms == 3600000 && a.u.status.jobs == 1,
           "STATUS: the cache's six figures after jobs, round trip");
        ok(frame_decode(F_STATUS, &f, &a) == 0 && !a.u.status.has_cache && !a.u.status.cache_hits,
           "STATUS without them (an older master): has_cache 0");
        bw_free(&wc);
    }
    status_slave_frame sl = {.state = SLAVE_SUSPECT, .slots = 2, .running = 2, .dispatched = 3, .done = 7, .failed = 1,
                             .sent = 200, .retransmitted = 5, .rtt_us = 1500, .last_heard_ms = 1200,
                             .load = STATUS_NO_LOAD, .name = "127.0.0.1:4001", .mem_avail = STATUS_NO_MEM,
                             .weight_milli = 1000};
    bw_reset(&w);
    frame_end(&w, status_slave_frame_encode(&w, &sl));
    ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == 0 && a.u.slave.state == SLAVE_SUSPECT &&
           a.u.slave.dispatched == 3 && a.u.slave.retransmitted == 5 && a.u.slave.rtt_us == 1500 &&
           a.u.slave.last_heard_ms == 1200 && a.u.slave.load == STATUS_NO_LOAD &&
           !strcmp(a.u.slave.name, "127.0.0.1:4001"), "STATUS_SLAVE round trip");
    ok(truncations_refused(F_STATUS_SLAVE, &f, br_left(&f) - 15), "STATUS_SLAVE: every truncation before the name's end refused");
    {
        int bad = 0;
        for (size_t cut = 1; cut < 15; cut++) {
            breader t = f;
            t.len -= cut;
            bad += frame_decode(F_STATUS_SLAVE, &t, &a) == 0;
        }
        breader t = f;
        t.len -= 15;
        ok(!bad && frame_decode(F_STATUS_SLAVE, &t, &a) == 0 && a.u.slave.mem_avail == STATUS_NO_MEM &&
               a.u.slave.cpus == 0 && a.u.slave.weight_milli == 1000 && a.u.slave.held == STATUS_HELD_NO,
           "STATUS_SLAVE: the machine's fields cut short refused; absent (an older master): unknown, weight 1");
        sl.mem_avail = 1u << 30, sl.cpus = 4, sl.weight_milli = 2500, sl.held = STATUS_HELD_MEMFREE;
        bw_reset(&w);
        frame_end(&w, status_slave_frame_encode(&w, &sl));
        ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == 0 && a.u.slave.mem_avail == 1u << 30 &&
               a.u.slave.cpus == 4 && a.u.slave.weight_milli == 2500 && a.u.slave.held == STATUS_HELD_MEMFREE,
           "STATUS_SLAVE: memfree, cpus, weight, held round trip");
        w.data[w.len - 1] = 3;
        ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == -1, "STATUS_SLAVE: an unknown held reason refused");
        sl.mem_avail = STATUS_NO_MEM, sl.cpus = 0, sl.weight_milli = 1000, sl.held = STATUS_HELD_NO;
        bw_reset(&w);
        frame_end(&w, status_slave_frame_encode(&w, &sl));
        parse_one(&w, &type, &f);
    }
    uint8_t *nul = memchr(w.data + 5, '4', w.len - 5);
    *nul = 0;
    ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == -1, "STATUS_SLAVE: a NUL in the name refused");
    bw_reset(&w);
    size_t start = frame_begin(&w, F_STATUS_SLAVE);
    bw_bytes(&w, w.data + 5, 0);
    for (int i = 0; i < 55; i++)
        bw_u8(&w, 0);
    bw_u16(&w, BATCH_NAME_MAX + 1);
    for (int i = 0; i <= BATCH_NAME_MAX; i++)
        bw_u8(&w, 'a');
    frame_end(&w, start);
    ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == -1, "STATUS_SLAVE: a name over %d bytes refused",
       BATCH_NAME_MAX);
    status_batch_frame bt = {.batch = 0x0123456789abcdefull, .started_ms = 1700000000123ull, .state = BATCH_ATTACHED,
                             .flags = BATCH_FLAG_DURABLE | BATCH_FLAG_ENDED, .submitted = 14, .queued = 6,
                             .running = 4, .done = 4, .failed = 2, .name = "127.0.0.1:5555", .priority = -7,
                             .effective = 300, .order = ORDER_LPT};
    bw_reset(&w);
    frame_end(&w, status_batch_frame_encode(&w, &bt));
    ok(w.len == 5 + 8 + 8 + 1 + 1 + 5 * 4 + 2 + 14 + 4 && parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == 0 &&
           a.u.sbatch.batch == bt.batch && a.u.sbatch.started_ms == bt.started_ms && a.u.sbatch.queued == 6 &&
           a.u.sbatch.failed == 2 && a.u.sbatch.flags == 3 && !strcmp(a.u.sbatch.name, "127.0.0.1:5555") &&
           a.u.sbatch.priority == -7 && a.u.sbatch.effective == 300 && a.u.sbatch.order == ORDER_LPT,
       "STATUS_BATCH: length and round trip (priority, effective priority, order after the name)");
    ok(truncations_refused(F_STATUS_BATCH, &f, br_left(&f) - 4), "STATUS_BATCH: every truncation refused");
    {   /* an older master's: no priority after the name: 0, fifo */
        bwriter ow;
        bw_init(&ow, 1024);
        size_t os = frame_begin(&ow, F_STATUS_BATCH);
        bw_bytes(&ow, bw_head(&w) + 5, w.len - 5 - 4);
        frame_end(&ow, os);
        ok(parse_one(&ow, &type, &f) && frame_decode(type, &f, &a) == 0 && a.u.sbatch.priority == 0 &&
               a.u.sbatch.effective == 0 && a.u.sbatch.order == ORDER_FIFO && a.u.sbatch.failed == 2,
           "STATUS_BATCH from an older master (nothing after the name): priority 0, fifo");
        bw_free(&ow);
    }
    bt.priority = 0, bt.effective = 0, bt.order = 0;
    status_job_frame jb = {.slave = 1, .state = JOB_RUNNING, .batch = 0x0123456789abcdefull, .seq = 9,
                           .running_ms = 2500, .client = "127.0.0.1:5555", .command = "sleep 30 # <b>\"x\"</b>"};
    bw_reset(&w);
    frame_end(&w, status_job_frame_encode(&w, &jb));
    ok(w.len == 5 + 2 + 1 + 8 + 4 + 8 + 2 + 14 + 2 + strlen(jb.command) && parse_one(&w, &type, &f) &&
           frame_decode(type, &f, &a) == 0 && a.u.sjob.slave == 1 && a.u.sjob.state == JOB_RUNNING &&
           a.u.sjob.batch == jb.batch && a.u.sjob.seq == 9 && a.u.sjob.running_ms == 2500 &&
           !strcmp(a.u.sjob.client, jb.client) && !strcmp(a.u.sjob.command, jb.command),
       "STATUS_JOB: length and round trip");
    ok(truncations_refused(F_STATUS_JOB, &f, br_left(&f)), "STATUS_JOB: every truncation refused");
    bw_reset(&w);
    size_t js = frame_begin(&w, F_STATUS_JOB);
    for (int i = 0; i < 23; i++)
        bw_u8(&w, 0);
    bw_u16(&w, 0);
    bw_u16(&w, STATUS_COMMAND_MAX + 1);
    for (int i = 0; i <= STATUS_COMMAND_MAX; i++)
        bw_u8(&w, 'a');
    frame_end(&w, js);
    ok(parse_one(&w, &type, &f) && frame_decode(type, &f, &a) == -1, "STATUS_JOB: a command over %d bytes refused",
       STATUS_COMMAND_MAX);
    bw_free(&w);

    /* The JSON (doc/monitoring.md) of that snapshot, and its table. */
    status_snapshot snap = {.master = sf};
    status_add_slave(&snap, &sl);
    sl.state = SLAVE_DEAD, sl.sent = 0, sl.retransmitted = 0, sl.rtt_us = 0, sl.last_heard_ms = STATUS_NEVER;
    sl.load = 150, sl.cpus = 4, sl.mem_avail = 3u << 20, sl.weight_milli = 2000, sl.held = STATUS_HELD_LOAD;
    snprintf(sl.name, sizeof sl.name, "h\"2:1");
    status_add_slave(&snap, &sl);
    status_add_batch(&snap, &bt);
    status_add_job(&snap, &jb);
    bwriter jw;
    bw_init(&jw, 1 << 20);
    status_write_json(&jw, &snap);
    char out[4096] = {0};
    size_t n = bw_pending(&jw) < sizeof out - 1 ? bw_pending(&jw) : sizeof out - 1;
    memcpy(out, bw_head(&jw), n);
    const char *want =
        "{\"version\":\"1.0.0\",\"uptime_s\":61.500,\"finished_per_s\":2.000,\"journal_bytes\":4096,\"stopping\":false,"
        "\"verbose\":true,\"clients\":3,\"queued\":6,\"running\":4,\"slots\":4,\"slaves_total\":2,\"slaves_up\":1,"
        "\"finished\":{\"exited\":10,\"signaled\":1,\"not_started\":0,\"rejected\":0,\"timed_out\":2,\"no_slave\":0,"
        "\"cancelled\":0},\"finished_total\":13,\"failed_total\":5,\"slaves\":["
        "{\"name\":\"127.0.0.1:4001\",\"state\":\"suspect\",\"slots\":2,\"running\":2,\"dispatched\":3,\"done\":7,"
        "\"failed\":1,\"rtt_ms\":1.500,\"datagrams_sent\":200,\"datagrams_retransmitted\":5,"
        "\"retransmit_ratio\":0.025000,\"last_heard_ms\":1200,\"load\":null,\"cpus\":null,\"memfree_bytes\":null,"
        "\"weight\":1,\"held\":null,\"jobs\":[]},"
        "{\"name\":\"h\\\"2:1\",\"state\":\"dead\",\"slots\":2,\"running\":2,\"dispatched\":3,\"done\":7,\"failed\":1,"
        "\"rtt_ms\":null,\"datagrams_sent\":0,\"datagrams_retransmitted\":0,\"retransmit_ratio\":null,"
        "\"last_heard_ms\":null,\"load\":1.50,\"cpus\":4,\"memfree_bytes\":3145728,\"weight\":2,"
        "\"held\":\"load\",\"jobs\":[{\"batch\":\"0123456789abcdef\",\"client\":\"127.0.0.1:5555\","
        "\"seq\":9,\"command\":\"sleep 30 # <b>\\\"x\\\"</b>\",\"state\":\"running\",\"running_ms\":2500}]}],"
        "\"batches\":[{\"id\":\"0123456789abcdef\",\"client\":\"127.0.0.1:5555\",\"state\":\"attached\","
        "\"durable\":true,\"ended\":true,\"submitted\":14,\"queued\":6,\"running\":4,\"done\":4,\"failed\":2,"
        "\"started\":1700000000123,\"priority\":0,\"effective_priority\":0,\"order\":\"fifo\"}],\"cache\":null}\n";
    ok(n == strlen(want) && !strcmp(out, want), "status JSON: every field, nulls, escapes");
    if (strcmp(out, want))
        fprintf(stderr, "# got: %s\n", out);
    snap.master.journal_bytes = STATUS_NO_JOURNAL;
    bw_reset(&jw);
    status_write_json(&jw, &snap);
    bw_u8(&jw, 0);
    ok(!jw.error && strstr((const char *)bw_head(&jw), ",\"journal_bytes\":null,") != NULL,
       "status JSON: journal_bytes null without a journal");
    bw_free(&jw);
    FILE *tmp = tmpfile();
    status_write_table(tmp, &snap);
    rewind(tmp);
    memset(out, 0, sizeof out);
    n = fread(out, 1, sizeof out - 1, tmp);
    fclose(tmp);
    int table_ok = strstr(out, "\nSLAVE                    STATE   SLOTS RUNNING     DONE  FAILED   RTT_MS RETRANS LAST_HEARD  LOAD "
                   "CPUS   MEMFREE WEIGHT HELD\n"
                   "127.0.0.1:4001           suspect     2       2        7       1     1.50   2.50%       1.2s     -    -"
                   "         -      1 -\n"
                   "h\"2:1                    dead        2       2        7       1        -       -      never  1.50    4"
                   " 3072.0KiB      2 held: load\n") &&
           strstr(out, "\nBATCH            STATE       TOTAL  QUEUED RUNNING    DONE  FAILED       AGE CLIENT                   PRIO ORDER\n"
                       "0123456789abcdef attached       14       6       4       4       2");
    ok(table_ok, "status table: headers and lines");
    if (!table_ok)
        fprintf(stderr, "# got: %s\n", out);
    status_free(&snap);
}

/* A frame opened while the writer holds consumed bytes at its front:
 * appending the fields makes bw_reserve slide the pending bytes to the
 * front, or reallocate, or both. The frame must come out whole, its
 * length right, whatever the sizes (the bug: a length patched at a stale
 * offset, and 4 bytes written past the buffer). */
static void test_frame_across_slides(void)
{
    static uint8_t payload[300000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    aead_key key;
    memcpy(key.k, "0123456789abcdef0123456789abcdef", 32);
    int bad = 0, cases = 0;
    for (size_t before = 1; before < 70000; before = before * 3 + 5)
        for (size_t consumed = 0; consumed <= before; consumed += before / 3 + 1)
            for (size_t body = 0; body < sizeof payload; body = body * 4 + 9)
                for (int tagged = 0; tagged < 2; tagged++) {
                    bwriter w;
                    bw_init(&w, 1 << 22);
                    bw_bytes(&w, payload, before); /* an earlier frame, partly sent */
                    bw_consume(&w, consumed);
                    size_t pending0 = bw_pending(&w);
                    size_t s = frame_begin(&w, F_RESULT);
                    bw_bytes(&w, payload, body);
                    frame_end_sealed(&w, s, tagged ? &key : NULL, 9);
                    uint8_t type;
                    breader f;
                    long used = w.error ? -1
                                        : frame_open(bw_at(&w, pending0), bw_pending(&w) - pending0, 1 << 22,
                                                     tagged ? &key : NULL, 9, &type, &f);
                    size_t want = FRAME_HEADER_LEN + body + (tagged ? FRAME_SEAL_LEN : 0);
                    int good = used == (long)want && type == F_RESULT && br_left(&f) == body &&
                               memcmp(f.data + f.pos, payload, body) == 0 &&
                               memcmp(bw_head(&w), payload + consumed, pending0) == 0;
                    bad += !good;
                    cases++;
                    bw_free(&w);
                }
    ok(bad == 0, "%d frames built across slides and reallocations: %d wrong", cases, bad);
}

/* ::ffff:a.b.c.d is a.b.c.d: one slave, whichever way slaves.conf says it. */
/* The slave's machine figures (lib/machine.c): /proc/loadavg and
 * /proc/meminfo as text. */
static void test_machine(void)
{
    is_int((int)loadavg_parse("0.52 0.58 0.59 1/467 12345\n"), 520, "loadavg: the first field x1000");
    is_int((int)loadavg_parse("12.345678 1 1 1/1 1"), 12345, "loadavg: three decimals kept");
    is_int((int)loadavg_parse("3 1 1"), 3000, "loadavg: no decimals");
    ok(loadavg_parse("") == MACHINE_LOAD_UNKNOWN && loadavg_parse("abc") == MACHINE_LOAD_UNKNOWN &&
           loadavg_parse("-1.0 0 0") == MACHINE_LOAD_UNKNOWN && loadavg_parse("1.5x") == MACHINE_LOAD_UNKNOWN &&
           loadavg_parse("99999999999.0") == MACHINE_LOAD_UNKNOWN,
       "loadavg: empty, words, negative, junk, huge: unknown");
    ok(meminfo_parse("MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    8000000 kB\n") ==
           8000000ull * 1024, "meminfo: MemAvailable in bytes");
    ok(meminfo_parse("MemTotal: 16 kB\nMemFree: 1000 kB\n") == 1000ull * 1024, "meminfo: MemFree without MemAvailable");
    ok(meminfo_parse("MemAvailableX: 5 kB\nSwapFree: 9 kB\n") == MACHINE_MEM_UNKNOWN && meminfo_parse("") == MACHINE_MEM_UNKNOWN &&
           meminfo_parse("MemAvailable: lots\n") == MACHINE_MEM_UNKNOWN,
       "meminfo: neither, empty, not a number: unknown");
}

static void test_addresses(void)
{
    net_addr v4, mapped, v6, other;
    char err[256];
    ok(net_resolve("127.0.0.1", 7000, 1, &v4, err, sizeof err) == 0 &&
           net_resolve("::ffff:127.0.0.1", 7000, 1, &mapped, err, sizeof err) == 0 &&
           net_resolve("::1", 7000, 1, &v6, err, sizeof err) == 0 &&
           net_resolve("::ffff:127.0.0.1", 7001, 1, &other, err, sizeof err) == 0,
       "addresses resolve");
    ok(mapped.ss.ss_family == AF_INET, "an IPv4-mapped address resolves to IPv4");
    ok(net_addr_equal(&v4, &mapped) && net_addr_equal(&mapped, &v4), "::ffff:127.0.0.1 equals 127.0.0.1");
    ok(!net_addr_equal(&v4, &other), "not on another port");
    ok(!net_addr_equal(&v4, &v6) && net_addr_equal(&v6, &v6), "::1 is not 127.0.0.1");
    net_addr raw = v6; /* an IPv4-mapped address as a socket gives it, unmapped by hand */
    struct sockaddr_in6 *six = (struct sockaddr_in6 *)&raw.ss;
    memset(&six->sin6_addr, 0, 16);
    ((uint8_t *)&six->sin6_addr)[10] = 0xff, ((uint8_t *)&six->sin6_addr)[11] = 0xff;
    memcpy((uint8_t *)&six->sin6_addr + 12, "\x7f\0\0\x01", 4);
    ok(net_addr_equal(&raw, &v4), "a mapped sockaddr_in6 equals the IPv4 one");
    net_addr_unmap(&raw);
    ok(raw.ss.ss_family == AF_INET && net_addr_equal(&raw, &v4), "net_addr_unmap makes it IPv4");
    ok(strcmp(net_addr_other_family(&v4), "::1") == 0 && strcmp(net_addr_other_family(&v6), "127.0.0.1") == 0,
       "the other family of a loopback address is the other loopback");
}

int main(void)
{
    test_buffers();
    test_datagrams();
    test_bodies();
    test_frames();
    test_frame_codecs();
    test_status();
    test_frame_across_slides();
    test_machine();
    test_addresses();
    return done_testing();
}
