/* Fuzz target: a TCP byte stream cut into frames as the master and the
 * client do, each frame's fields decoded by proto.c's codec for its type
 * (the decoders the master and the client use), and every frame that
 * decodes encoded again: the codec must give back the same bytes. Each
 * frame is also opened as a sealed one (refused: frame_open's refusal
 * path), and sealed with a connection's key then opened, as the master
 * and the client do: it must come back whole, and go to the decoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

/* The fields as the encoder writes them for what the decoder read. */
static void reencode(const any_frame *a, bwriter *w, const hmac_key *key)
{
    static const uint8_t nonce[FRAME_NONCE_LEN];
    switch (a->type) { /* HELLO, WELCOME: a key when the flag says there is one (their proofs differ) */
    case F_HELLO:
        frame_end(w, hello_frame_encode(w, &a->u.hello, a->u.hello.flags & FRAME_FLAG_AUTH ? key : NULL));
        break;
    case F_WELCOME:
        frame_end(w, welcome_frame_encode(w, &a->u.welcome, a->u.welcome.flags & FRAME_FLAG_AUTH ? key : NULL, nonce));
        break;
    case F_SUBMIT: frame_end(w, submit_frame_encode(w, &a->u.submit)); break;
    case F_END: frame_end(w, end_frame_encode(w, &a->u.end)); break;
    case F_RESULT: {
        size_t start = result_frame_begin(w, a->u.result.seq, a->u.result.host, a->u.result.host_len);
        result_encode(w, &a->u.result.result);
        frame_end(w, start);
        break;
    }
    case F_NOTICE:
    case F_ERROR: frame_end(w, text_frame_encode(w, a->type, a->u.text.text, a->u.text.len)); break;
    case F_BYE: frame_end(w, bye_frame_encode(w)); break;
    case F_READY: frame_end(w, ready_frame_encode(w)); break;
    case F_ATTACH: frame_end(w, attach_frame_encode(w, &a->u.attach)); break;
    case F_BATCH: frame_end(w, batch_frame_encode(w, &a->u.batch)); break;
    case F_ACCEPTED:
    case F_ACK: frame_end(w, count_frame_encode(w, a->type, &a->u.count)); break;
    case F_BATCH_INFO: frame_end(w, batch_info_frame_encode(w, &a->u.info)); break;
    case F_CANCEL:
    case F_DETACH: frame_end(w, empty_frame_encode(w, a->type)); break;
    case F_COMMAND: frame_end(w, command_frame_encode(w, &a->u.command)); break;
    case F_STARTED: frame_end(w, started_frame_encode(w, &a->u.started)); break;
    case F_STATUS: frame_end(w, status_frame_encode(w, &a->u.status)); break;
    case F_STATUS_SLAVE: frame_end(w, status_slave_frame_encode(w, &a->u.slave)); break;
    case F_STATUS_BATCH: frame_end(w, status_batch_frame_encode(w, &a->u.sbatch)); break;
    case F_STATUS_JOB: frame_end(w, status_job_frame_encode(w, &a->u.sjob)); break;
    case F_OUTPUT: frame_end(w, output_frame_encode(w, &a->u.output)); break;
    }
}

static uint8_t opened[FRAME_MAX_FROM_MASTER + 64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const hmac_key *key = fuzz_key();
    aead_key frames_key;
    memcpy(frames_key.k, "fuzzing-frames-key-fuzzing-frame", AEAD_KEY_LEN);
    size_t pos = 0;
    uint64_t seq = 0;
    while (pos < size) {
        uint8_t type;
        breader f;
        long used = frame_parse(data + pos, size - pos, FRAME_MAX_FROM_MASTER, &type, &f);
        if (used <= 0)
            break;
        pos += (size_t)used;
        /* as received on a keyed connection: almost never opens */
        memcpy(opened, data + pos - (size_t)used, (size_t)used);
        uint8_t otype;
        breader of;
        long got = frame_open(opened, (size_t)used, FRAME_MAX_FROM_MASTER, &frames_key, seq, &otype, &of);
        if (got > 0) {
            any_frame t;
            (void)frame_decode(otype, &of, &t);
        } else if (got != FRAME_TAMPERED || memcmp(opened, data + pos - (size_t)used, (size_t)used) != 0)
            abort(); /* a whole frame: it opens, or is refused untouched */
        /* as sent on one: sealed, then opened, it is the same frame */
        bwriter sw;
        bw_init_fixed(&sw, opened, sizeof opened);
        size_t start = frame_begin(&sw, type);
        bw_bytes(&sw, f.data + f.pos, br_left(&f));
        frame_end_sealed(&sw, start, &frames_key, seq);
        got = sw.error ? -1 : frame_open(opened, sw.len, FRAME_MAX_FROM_MASTER + 64, &frames_key, seq, &otype, &of);
        if (got != (long)sw.len || otype != type || br_left(&of) != br_left(&f) ||
            memcmp(of.data + of.pos, f.data + f.pos, br_left(&f)) != 0)
            abort();
        {
            any_frame t;
            (void)frame_decode(otype, &of, &t);
        }
        seq++;
        any_frame a;
        if (frame_decode(type, &f, &a) != 0)
            continue;
        if ((type == F_NOTICE || type == F_ERROR) && a.u.text.len > FRAME_TEXT_MAX)
            continue; /* received whole, sent cut */
        if ((type == F_BATCH_INFO && a.u.info.name_len > BATCH_NAME_MAX) ||
            (type == F_STARTED && a.u.started.host_len > BATCH_NAME_MAX))
            continue; /* likewise */
        bwriter w;
        bw_init(&w, FRAME_MAX_FROM_MASTER + 64);
        reencode(&a, &w, key);
        /* what the encoder wrote is what was read: the whole fields, or
         * their start where bytes past them are ignored; HELLO and WELCOME
         * up to their proof */
        size_t n = bw_pending(&w) - FRAME_HEADER_LEN, have = br_left(&f);
        if (type == F_HELLO)
            n = a.u.hello.flags & FRAME_FLAG_AUTH ? FRAME_HELLO_SIGNED : FRAME_HELLO_FIELDS;
        if (type == F_WELCOME)
            n = a.u.welcome.flags & FRAME_FLAG_AUTH ? FRAME_WELCOME_SIGNED : FRAME_WELCOME_FIELDS;
        if (type == F_STATUS && n == have + 4 && a.u.status.jobs == 0)
            n = have; /* an older master's, without jobs: the encoder adds them */
        if (type == F_STATUS_BATCH && n == have + 4 && !a.u.sbatch.priority && !a.u.sbatch.effective &&
            !a.u.sbatch.order)
            n = have; /* an older master's, without priority and order: likewise */
        if (type == F_STATUS_SLAVE && n == have + 15 && a.u.slave.mem_avail == STATUS_NO_MEM && !a.u.slave.cpus &&
            a.u.slave.weight_milli == 1000 && !a.u.slave.held)
            n = have; /* an older master's, without the machine's fields: the encoder adds their defaults */
        int whole = type == F_SUBMIT || type == F_RESULT || type == F_COMMAND;
        if (w.error || n > have || (whole && n != have) ||
            (n > 0 && memcmp(bw_head(&w) + FRAME_HEADER_LEN, f.data + f.pos, n) != 0))
            abort();
        bw_free(&w);
    }
    return 0;
}
