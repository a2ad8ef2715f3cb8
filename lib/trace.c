/* trace.c - --trace's lines (see trace.h, doc/protocol.md "Reading a trace"). */
#include "trace.h"

#include <stdio.h>
#include <string.h>

int trace_on;
static const char *trace_prog = "?";

void trace_start(const char *prog)
{
    trace_prog = prog;
    trace_on = 1;
}

static const char *const why_word[] = {
    [WHY_FIRST] = "first", [WHY_RTO] = "rto",     [WHY_FAST] = "fast",
    [WHY_PROBE] = "probe", [WHY_REPLY] = "reply", [WHY_PING] = "ping",
};

/* "trace HH:MM:SS.uuuuuu PROG DIR LINK PEER TYPE" into line. */
static int head(char *line, size_t cap, enum trace_dir dir, const char *link, const char *peer, const char *type,
                unsigned type_num)
{
    uint64_t us = wall_us();
    uint64_t s = us / 1000000u % 86400u; /* UTC's time of day */
    char num[8];
    if (!type) {
        snprintf(num, sizeof num, "%u", type_num);
        type = num;
    }
    return snprintf(line, cap, "trace %02u:%02u:%02u.%06u %s %s %s %s %s", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
                    (unsigned)(s % 60), (unsigned)(us % 1000000u), trace_prog, dir == TRACE_SEND ? "send" : "recv",
                    link, peer, type);
}

static const char *known_type(const char *name)
{
    return strcmp(name, "unknown") && strcmp(name, "?") ? name : NULL;
}

static void emit(char *line, size_t cap, size_t n)
{
    if (n >= cap - 1)
        n = cap - 2;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr); /* one write: a line is never split by a log line */
    fflush(stderr);
}

#define ADD(...) \
    do { \
        if (n < sizeof line) \
            n += (size_t)snprintf(line + n, sizeof line - n, __VA_ARGS__); \
    } while (0)

void trace_dgram(enum trace_dir dir, const net_addr *peer, const dgram *d, size_t size, enum trace_why why,
                 const char *dropped)
{
    static const char *const states[] = {[JS_RECEIVING] = "RECEIVING", [JS_RUNNING] = "RUNNING",
                                         [JS_DONE] = "DONE", [JS_GONE] = "GONE"};
    char line[512], name[80];
    net_addr_str(peer, name, sizeof name);
    size_t n = (size_t)head(line, sizeof line, dir, "udp", name, known_type(dgram_type_name(d->type)), d->type);
    ADD(" seq=%llu", (unsigned long long)d->seq);
    if (d->job_id)
        ADD(" job_id=%llu", (unsigned long long)d->job_id);
    int opened = !dropped; /* the fields past the header are known */
    if (opened && (d->type == DG_JOB || d->type == DG_RESULT) && d->frag_size)
        ADD(" frag=%u/%u offset=%u total=%u len=%u", d->offset / d->frag_size + 1,
            (unsigned)((d->total + d->frag_size - 1u) / d->frag_size), d->offset, d->total, d->payload_len);
    if (opened && d->type == DG_OUTPUT)
        ADD(" offset=%u len=%u", d->offset, d->payload_len);
    if (opened && (d->type == DG_JOB_ACK || d->type == DG_RESULT_ACK))
        ADD(" cum=%u sack=0x%llx", d->cum, (unsigned long long)d->sack);
    if (opened && d->type == DG_JOB_ACK) {
        if (d->state >= JS_RECEIVING && d->state <= JS_GONE)
            ADD(" state=%s", states[d->state]);
        else
            ADD(" state=%u", d->state);
    }
    if (opened && d->type == DG_PONG)
        ADD(" slots=%u/%u", d->slots_free, d->slots_total);
    ADD(" size=%zu", size);
    if (dir == TRACE_SEND && why >= WHY_FIRST && why <= WHY_PING)
        ADD(" why=%s", why_word[why]);
    if (dropped)
        ADD(" dropped=%s", dropped);
    emit(line, sizeof line, n);
}

void trace_frame(enum trace_dir dir, const char *peer, uint8_t type, const breader *fields, size_t size)
{
    char line[512];
    size_t n = (size_t)head(line, sizeof line, dir, "tcp", peer, known_type(frame_type_name(type)), type);
    /* the frames that carry a client's command number */
    if (type == F_SUBMIT || type == F_RESULT || type == F_STARTED || type == F_OUTPUT || type == F_COMMAND ||
        type == F_STATUS_JOB) {
        static any_frame f; /* large (STATUS_JOB's texts): not on the stack */
        if (frame_decode(type, fields, &f) == 0) {
            uint32_t seq = type == F_SUBMIT    ? f.u.submit.seq
                           : type == F_RESULT  ? f.u.result.seq
                           : type == F_STARTED ? f.u.started.seq
                           : type == F_OUTPUT  ? f.u.output.seq
                           : type == F_COMMAND ? f.u.command.seq
                                               : f.u.sjob.seq;
            ADD(" seq=%u", seq);
        }
    }
    ADD(" size=%zu", size);
    emit(line, sizeof line, n);
}

void trace_frame_out(const char *peer, bwriter *w, size_t start, size_t seal_len)
{
    if (w->error || bw_pending(w) < start + FRAME_HEADER_LEN)
        return;
    breader fields;
    br_init(&fields, bw_at(w, start + FRAME_HEADER_LEN), bw_pending(w) - start - FRAME_HEADER_LEN);
    trace_frame(TRACE_SEND, peer, *bw_at(w, start + 4), &fields, bw_pending(w) - start + seal_len);
}
