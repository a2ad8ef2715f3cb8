/*
 * journal_tool - writes and damages journals for the tests (tests/dump.t)
 * and the fuzz seeds (fuzz/corpus/journal), with lib/journal.c's encoders.
 *
 *   journal_tool write FILE BATCHES COMMANDS [VERSION]
 *       a HEADER (VERSION, default JOURNAL_VERSION), then per batch: BATCH,
 *       COMMANDS x COMMAND, END, COMMANDS x (DISPATCH, RESULT), DELIVERED;
 *       then DETACH, CANCEL and FORGET of the last batch. Command i of batch
 *       b is "echo b.i"; its RESULT is exited with code i % 3 and stdout
 *       "out b.i\n", but command 1 prints bytes that are not UTF-8, command 2
 *       has an stderr that needs JSON escapes, and command 3 timed out.
 *   journal_tool truncate FILE SIZE     cut FILE to SIZE bytes
 *   journal_tool flip FILE OFFSET       invert the byte at OFFSET
 *   journal_tool dispatch FILE BATCH INDEX JOB BOOT SLAVE
 *       appends a DISPATCH record (BATCH and BOOT in hex, as --dump-journal
 *       prints them): what a master that died between journaling a dispatch
 *       and sending its request leaves (tests/adopt.t)
 *   journal_tool options FILE BATCH JOBS WD [NAME=VALUE...]
 *       appends an OPTIONS record (BATCH in hex) with -j JOBS (0: none),
 *       --wd WD ("": none) and the --env entries (tests/wd_env.t)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "proto.h"

#define IDENTITY 0x0123456789abcdefull
#define CREATED_MS 1700000000000ull

static uint64_t batch_id(unsigned b)
{
    return 0xba7c000000000000ull | b;
}

static void put_result(bwriter *w, unsigned b, unsigned i, unsigned job)
{
    char out[64], host[32];
    CommandResult res = {0};
    res.status = RUN_EXITED;
    res.exit_code = (int32_t)(i % 3);
    res.start_ms = CREATED_MS + i;
    res.duration_us = 1234567 + i;
    snprintf(out, sizeof out, "out %u.%u\n", b, i);
    if (i == 1)
        strcpy(out, "\xff\xfe not utf-8");
    res.stdout_data = out;
    res.stdout_len = (uint32_t)strlen(out);
    if (i == 2) {
        res.stderr_data = "quote\" back\\ tab\t \xc3\xa9\n\x01";
        res.stderr_len = (uint32_t)strlen(res.stderr_data);
    }
    if (i == 3) {
        res.status = RUN_TIMED_OUT;
        res.term_signal = 15;
        res.message = "timed out after 5 s";
        res.message_len = (uint32_t)strlen(res.message);
    }
    bwriter body;
    bw_init(&body, RESULT_MAX_BYTES);
    result_encode(&body, &res);
    snprintf(host, sizeof host, "127.0.0.1:%u", 7000 + job % 3);
    jr_result r = {batch_id(b), i, i + 1, (uint16_t)strlen(host), host, (uint32_t)bw_pending(&body), bw_head(&body)};
    jr_result_encode(w, &r);
    bw_free(&body);
}

static void put_batch(bwriter *w, unsigned b, unsigned commands, unsigned *job)
{
    char name[32], line[64], slave[32];
    snprintf(name, sizeof name, "batch-%u", b);
    jr_batch batch = {batch_id(b), CREATED_MS + b, 5000, 2, (uint16_t)strlen(name), name};
    jr_batch_encode(w, &batch);
    for (unsigned i = 0; i < commands; i++) {
        snprintf(line, sizeof line, "echo %u.%u", b, i);
        jr_command c = {batch_id(b), i, i + 1, (uint32_t)strlen(line), line};
        jr_command_encode(w, &c);
    }
    jr_end end = {batch_id(b), commands};
    jr_end_encode(w, &end);
    for (unsigned i = 0; i < commands; i++, (*job)++) {
        snprintf(slave, sizeof slave, "127.0.0.1:%u", 7000 + *job % 3);
        jr_dispatch d = {batch_id(b), i, *job, 0xb007000000000000ull | *job % 3, (uint16_t)strlen(slave), slave};
        jr_dispatch_encode(w, &d);
        put_result(w, b, i, *job);
    }
    jr_delivered del = {batch_id(b), commands, CREATED_MS + 1000 + b};
    jr_delivered_encode(w, &del);
}

static int write_journal(const char *path, unsigned batches, unsigned commands, unsigned version)
{
    bwriter w;
    unsigned job = 1;
    bw_init(&w, 1u << 30);
    jr_header h = {JOURNAL_MAGIC, (uint16_t)version, IDENTITY, CREATED_MS};
    jr_header_encode(&w, &h);
    for (unsigned b = 1; b <= batches; b++)
        put_batch(&w, b, commands, &job);
    if (batches > 0) {
        jr_detach d = {batch_id(batches), CREATED_MS + 2000};
        jr_detach_encode(&w, &d);
        jr_cancel c = {batch_id(batches), CREATED_MS + 3000};
        jr_cancel_encode(&w, &c);
        jr_forget f = {batch_id(batches)};
        jr_forget_encode(&w, &f);
    }
    FILE *f = fopen(path, "wb");
    int bad = w.error || !f || fwrite(bw_head(&w), 1, bw_pending(&w), f) != bw_pending(&w);
    if (f && fclose(f) != 0)
        bad = 1;
    bw_free(&w);
    if (bad)
        fprintf(stderr, "journal_tool: cannot write %s\n", path);
    return bad;
}

static int damage(const char *how, const char *path, long at)
{
    FILE *f = fopen(path, "rb");
    static uint8_t buf[1 << 24];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f || at < 0 || (size_t)at > n || (strcmp(how, "flip") == 0 && (size_t)at == n)) {
        fprintf(stderr, "journal_tool: cannot %s %s at %ld\n", how, path, at);
        return 1;
    }
    fclose(f);
    if (strcmp(how, "flip") == 0)
        buf[at] ^= 0xFF;
    else
        n = (size_t)at;
    f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "journal_tool: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static int append_dispatch(char **argv)
{
    const char *path = argv[2], *slave = argv[7];
    jr_dispatch d = {strtoull(argv[3], NULL, 16), (uint32_t)strtoul(argv[4], NULL, 10), strtoull(argv[5], NULL, 10),
                     strtoull(argv[6], NULL, 16), (uint16_t)strlen(slave), slave};
    bwriter w;
    bw_init(&w, 1u << 16);
    jr_dispatch_encode(&w, &d);
    FILE *f = fopen(path, "ab");
    int bad = w.error || !f || fwrite(bw_head(&w), 1, bw_pending(&w), f) != bw_pending(&w);
    if (f && fclose(f) != 0)
        bad = 1;
    bw_free(&w);
    if (bad)
        fprintf(stderr, "journal_tool: cannot append to %s\n", path);
    return bad;
}

static int append_options(int argc, char **argv)
{
    options_frame o;
    memset(&o, 0, sizeof o);
    o.jobs = (uint32_t)strtoul(argv[4], NULL, 10);
    o.wd = (opt_str){argv[5], (uint16_t)strlen(argv[5])};
    for (int i = 6; i < argc && o.nenv < MAX_ENV_VARS; i++)
        o.env[o.nenv++] = (opt_str){argv[i], (uint16_t)strlen(argv[i])};
    bwriter fr, w;
    bw_init(&fr, 1u << 17);
    bw_init(&w, 1u << 17);
    size_t start = options_frame_encode(&fr, &o);
    frame_end(&fr, start);
    /* the record keeps the frame's fields: what follows its header */
    size_t head = FRAME_HEADER_LEN;
    jr_options r = {strtoull(argv[3], NULL, 16), (uint32_t)(bw_pending(&fr) - head), bw_head(&fr) + head};
    jr_options_encode(&w, &r);
    FILE *f = fopen(argv[2], "ab");
    int bad = fr.error || w.error || !f || fwrite(bw_head(&w), 1, bw_pending(&w), f) != bw_pending(&w);
    if (f && fclose(f) != 0)
        bad = 1;
    bw_free(&fr);
    bw_free(&w);
    if (bad)
        fprintf(stderr, "journal_tool: cannot append to %s\n", argv[2]);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "options") == 0)
        return append_options(argc, argv);
    if (argc == 8 && strcmp(argv[1], "dispatch") == 0)
        return append_dispatch(argv);
    if (argc >= 5 && strcmp(argv[1], "write") == 0)
        return write_journal(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]),
                             argc > 5 ? (unsigned)atoi(argv[5]) : JOURNAL_VERSION);
    if (argc == 4 && (strcmp(argv[1], "truncate") == 0 || strcmp(argv[1], "flip") == 0))
        return damage(argv[1], argv[2], atol(argv[3]));
    fprintf(stderr, "usage: journal_tool write FILE BATCHES COMMANDS [VERSION] | truncate FILE SIZE | flip FILE OFFSET | "
                    "dispatch FILE BATCH INDEX JOB BOOT SLAVE | options FILE BATCH JOBS WD [NAME=VALUE...]\n");
    return 2;
}
