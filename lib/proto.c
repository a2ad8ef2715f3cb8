/* proto.c - encoding and decoding of every message (see proto.h). */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "platform.h"

uint64_t boot_id_new(void)
{
    uint64_t id = (uint64_t)random_u32() << 32 | random_u32();
    return id ? id : 1; /* 0 means "unknown" on the wire */
}

size_t dgram_encode(const dgram *d, uint8_t *out, size_t cap, const hmac_key *key)
{
    static const uint8_t zeros[CANCEL_PADDING];
    bwriter w;
    bw_init_fixed(&w, out, cap);
    bw_u16(&w, DGRAM_MAGIC);
    bw_u8(&w, DGRAM_VERSION);
    bw_u8(&w, d->type);
    bw_u8(&w, key ? DGRAM_FLAG_AUTH : 0);
    bw_u64(&w, d->sender_boot);
    bw_u64(&w, d->receiver_boot);
    bw_u64(&w, d->seq);
    bw_u64(&w, d->job_id);
    switch (d->type) {
    case DG_PING:
        bw_u64(&w, d->echo_us);
        bw_u64(&w, d->floor);
        bw_bytes(&w, d->cookie, COOKIE_LEN);
        break;
    case DG_COOKIE:
        bw_u64(&w, d->echo_us);
        bw_bytes(&w, d->cookie, COOKIE_LEN);
        break;
    case DG_PONG:
        bw_u64(&w, d->echo_us);
        bw_u16(&w, d->slots_total);
        bw_u16(&w, d->slots_free);
        break;
    case DG_JOB:
        bw_u64(&w, d->floor);
        /* fall through */
    case DG_RESULT:
        bw_u32(&w, d->total);
        bw_u32(&w, d->offset);
        bw_u16(&w, d->frag_size);
        bw_bytes(&w, d->payload, d->payload_len);
        break;
    case DG_JOB_ACK:
        bw_u8(&w, d->state);
        bw_u32(&w, d->cum);
        bw_u64(&w, d->sack);
        bw_u16(&w, d->slots_free);
        break;
    case DG_RESULT_ACK:
        bw_u8(&w, d->state);
        bw_u32(&w, d->cum);
        bw_u64(&w, d->sack);
        break;
    case DG_CANCEL:
        bw_bytes(&w, zeros, CANCEL_PADDING);
        break;
    case DG_LEAVING: /* the header says it all */
        break;
    }
    if (key && bw_reserve(&w, DGRAM_TAG_LEN) == 0) {
        hmac_sha256(key, out, w.len, out + w.len);
        w.len += DGRAM_TAG_LEN;
    }
    return w.error ? 0 : w.len;
}

int dgram_decode(const uint8_t *p, size_t n, dgram *d, const char **why)
{
    breader r;
    br_init(&r, p, n);
    memset(d, 0, sizeof *d);
    if (br_u16(&r) != DGRAM_MAGIC) {
        *why = "bad magic";
        return -1;
    }
    if (br_u8(&r) != DGRAM_VERSION) {
        *why = "unsupported version";
        return -1;
    }
    d->type = br_u8(&r);
    d->flags = br_u8(&r);
    d->sender_boot = br_u64(&r);
    d->receiver_boot = br_u64(&r);
    d->seq = br_u64(&r);
    d->job_id = br_u64(&r);
    if (r.error) {
        *why = "truncated";
        return -1;
    }
    if (d->flags & ~DGRAM_FLAG_AUTH) {
        *why = "unknown flags";
        return -1;
    }
    if (d->flags & DGRAM_FLAG_AUTH) { /* the tag is not part of the fields */
        if (n < DGRAM_HEADER_LEN + DGRAM_TAG_LEN) {
            *why = "truncated";
            return -1;
        }
        d->signed_len = n - DGRAM_TAG_LEN;
        d->tag = p + d->signed_len;
        r.len = d->signed_len;
    }
    switch (d->type) {
    case DG_PING:
    case DG_COOKIE: {
        d->echo_us = br_u64(&r);
        if (d->type == DG_PING)
            d->floor = br_u64(&r);
        const uint8_t *c = br_bytes(&r, COOKIE_LEN);
        if (c)
            memcpy(d->cookie, c, COOKIE_LEN);
        break;
    }
    case DG_PONG:
        d->echo_us = br_u64(&r);
        d->slots_total = br_u16(&r);
        d->slots_free = br_u16(&r);
        break;
    case DG_JOB:
        d->floor = br_u64(&r);
        /* fall through */
    case DG_RESULT:
        d->total = br_u32(&r);
        d->offset = br_u32(&r);
        d->frag_size = br_u16(&r);
        d->payload_len = (uint32_t)br_left(&r);
        d->payload = br_bytes(&r, d->payload_len);
        if (!r.error && (d->frag_size == 0 || d->frag_size > FRAG_MAX || d->payload_len == 0 || d->total == 0 ||
                         d->offset % d->frag_size != 0 || d->offset >= d->total ||
                         d->payload_len != (d->total - d->offset < d->frag_size ? d->total - d->offset
                                                                                : d->frag_size))) {
            *why = "bad fragment bounds";
            return -1;
        }
        break;
    case DG_JOB_ACK:
        d->state = br_u8(&r);
        d->cum = br_u32(&r);
        d->sack = br_u64(&r);
        d->slots_free = br_u16(&r);
        break;
    case DG_RESULT_ACK:
        d->state = br_u8(&r);
        d->cum = br_u32(&r);
        d->sack = br_u64(&r);
        break;
    case DG_CANCEL:
        br_bytes(&r, CANCEL_PADDING);
        break;
    case DG_LEAVING:
        break;
    default:
        *why = "unknown type";
        return -1;
    }
    if (r.error) {
        *why = "truncated";
        return -1;
    }
    if (br_left(&r) != 0) {
        *why = "trailing bytes";
        return -1;
    }
    if (d->type != DG_PING && d->type != DG_PONG && d->type != DG_COOKIE && d->type != DG_LEAVING && d->job_id == 0) {
        *why = "job id 0";
        return -1;
    }
    return 0;
}

void job_request_encode(bwriter *w, const CommandRequest *r)
{
    bw_u32(w, r->timeout_ms);
    bw_u32(w, r->length);
    bw_bytes(w, r->command, r->length);
}

int dgram_verify(const uint8_t *p, const dgram *d, const hmac_key *key)
{
    uint8_t want[SHA256_LEN];
    if (!d->tag || !key)
        return 0;
    hmac_sha256(key, p, d->signed_len, want);
    return equal_const_time(want, d->tag, SHA256_LEN);
}

int job_request_decode(const uint8_t *p, size_t n, CommandRequest *r)
{
    breader rd;
    br_init(&rd, p, n);
    r->seq = 0;
    r->timeout_ms = br_u32(&rd);
    r->length = br_u32(&rd);
    if (r->length > MAX_COMMAND_LEN)
        return -1;
    r->command = (char *)br_bytes(&rd, r->length);
    if (rd.error || br_left(&rd) != 0 || memchr(r->command, 0, r->length))
        return -1;
    return 0;
}

void result_encode(bwriter *w, const CommandResult *r)
{
    bw_u8(w, r->status);
    bw_u32(w, (uint32_t)r->exit_code);
    bw_u8(w, r->term_signal);
    bw_u8(w, (uint8_t)((r->stdout_truncated ? 1 : 0) | (r->stderr_truncated ? 2 : 0) |
                       (r->ran_twice ? RESULT_FLAG_RAN_TWICE : 0)));
    bw_u64(w, r->start_ms);
    bw_u64(w, r->duration_us);
    bw_u32(w, r->stdout_len);
    bw_bytes(w, r->stdout_data, r->stdout_len);
    bw_u32(w, r->stderr_len);
    bw_bytes(w, r->stderr_data, r->stderr_len);
    bw_u32(w, r->message_len);
    bw_bytes(w, r->message, r->message_len);
}

static char *borrow_field(breader *rd, uint32_t n, uint32_t max)
{
    if (n > max) {
        rd->error = 1;
        return NULL;
    }
    return (char *)br_bytes(rd, n);
}

int result_decode(breader *rd, CommandResult *r)
{
    r->status = br_u8(rd);
    r->exit_code = (int32_t)br_u32(rd);
    r->term_signal = br_u8(rd);
    uint8_t flags = br_u8(rd);
    r->stdout_truncated = flags & 1;
    r->stderr_truncated = (flags >> 1) & 1;
    r->ran_twice = !!(flags & RESULT_FLAG_RAN_TWICE);
    r->start_ms = br_u64(rd);
    r->duration_us = br_u64(rd);
    r->stdout_len = br_u32(rd);
    r->stdout_data = borrow_field(rd, r->stdout_len, MAX_OUTPUT_CAP);
    r->stderr_len = br_u32(rd);
    r->stderr_data = borrow_field(rd, r->stderr_len, MAX_OUTPUT_CAP);
    r->message_len = br_u32(rd);
    r->message = borrow_field(rd, r->message_len, 4096);
    if (rd->error || r->status > RUN_CANCELLED || (flags & ~(3u | RESULT_FLAG_RAN_TWICE)))
        return -1;
    return 0;
}

void command_result_free(CommandResult *r)
{
    free(r->stdout_data);
    free(r->stderr_data);
    free(r->message);
    r->stdout_data = r->stderr_data = r->message = NULL;
    r->stdout_len = r->stderr_len = r->message_len = 0;
}

/* A frame's place is kept relative to the writer's pending bytes: a
 * bw_reserve() while the frame is open may slide them to the front of the
 * buffer (or move the buffer), so an absolute offset would go stale. */
size_t frame_begin(bwriter *w, uint8_t type)
{
    size_t start = bw_pending(w);
    bw_u32(w, 0); /* length, patched by frame_end */
    bw_u8(w, type);
    return start;
}

void frame_end(bwriter *w, size_t start)
{
    if (!w->error && bw_pending(w) >= start + FRAME_HEADER_LEN)
        put_u32(bw_at(w, start), (uint32_t)(bw_pending(w) - start - 4));
}

void frame_end_tagged(bwriter *w, size_t start, const hmac_key *key, uint64_t seq)
{
    uint8_t s[8], tag[SHA256_LEN];
    if (key && !w->error) {
        put_u32(s, (uint32_t)(seq >> 32));
        put_u32(s + 4, (uint32_t)seq);
        /* covers the sequence number, the type and the fields */
        hmac_sha256_2(key, s, 8, bw_at(w, start + 4), bw_pending(w) - start - 4, tag);
        bw_bytes(w, tag, sizeof tag);
    }
    frame_end(w, start);
}

int frame_check_tag(breader *fields, uint8_t type, const hmac_key *key, uint64_t seq)
{
    uint8_t head[9], want[SHA256_LEN];
    if (br_left(fields) < FRAME_TAG_LEN)
        return 0;
    size_t n = br_left(fields) - FRAME_TAG_LEN;
    const uint8_t *body = fields->data + fields->pos;
    put_u32(head, (uint32_t)(seq >> 32));
    put_u32(head + 4, (uint32_t)seq);
    head[8] = type;
    sha256_ctx c = key->inner;
    uint8_t inner[SHA256_LEN];
    sha256_update(&c, head, 9);
    sha256_update(&c, body, n);
    sha256_final(&c, inner);
    c = key->outer;
    sha256_update(&c, inner, SHA256_LEN);
    sha256_final(&c, want);
    if (!equal_const_time(want, body + n, FRAME_TAG_LEN))
        return 0;
    fields->len -= FRAME_TAG_LEN; /* the caller sees the fields only */
    return 1;
}

long frame_parse(const uint8_t *buf, size_t len, size_t max, uint8_t *type, breader *fields)
{
    if (len < 4)
        return 0;
    uint32_t flen = get_u32(buf);
    if (flen < 1 || flen > max)
        return -1;
    if (len - 4 < flen)
        return 0;
    *type = buf[4];
    br_init(fields, buf + FRAME_HEADER_LEN, flen - 1);
    return (long)flen + 4;
}

uint32_t frag_size_for(const net_addr *peer)
{
    return net_addr_is_loopback(peer) ? FRAG_LOOPBACK : FRAG_PAYLOAD;
}

const char *frame_type_name(uint8_t type)
{
    static const char *names[] = {"?", "HELLO", "WELCOME", "SUBMIT", "END", "RESULT", "NOTICE", "ERROR", "BYE", "READY"};
    return type < sizeof names / sizeof *names ? names[type] : "?";
}

const char *dgram_type_name(uint8_t type)
{
    static const char *names[] = {"?", "PING", "PONG", "JOB", "JOB_ACK", "RESULT", "RESULT_ACK", "CANCEL", "COOKIE", "LEAVING"};
    return type < sizeof names / sizeof *names ? names[type] : "?";
}
