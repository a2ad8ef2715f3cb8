/* proto.c - encoding and decoding of every message (see proto.h). */
#include "proto.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "platform.h"

_Static_assert(FRAME_NONCE_LEN == AUTH_NONCE_LEN && FRAME_TAG_LEN == AUTH_TAG_LEN, "HELLO/WELCOME nonces and proofs");
_Static_assert(FRAME_SEAL_LEN == AUTH_SEAL_LEN && FRAME_PUB_LEN == X25519_LEN, "sealed frames, public keys");

uint64_t boot_id_new(void)
{
    uint8_t r[8];
    auth_random(r, sizeof r);
    uint64_t id = (uint64_t)get_u32(r) << 32 | get_u32(r + 4);
    return id ? id : 1; /* 0 means "unknown" on the wire */
}

int dgram_handshake_type(uint8_t type)
{
    return type == DG_PING || type == DG_PONG || type == DG_COOKIE;
}

size_t dgram_encode(const dgram *d, uint8_t *out, size_t cap, const aead_key *key)
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
        bw_u64(&w, d->master_id);
        bw_bytes(&w, d->eph_pub, DGRAM_PUB_LEN);
        break;
    case DG_COOKIE:
        bw_u64(&w, d->echo_us);
        bw_bytes(&w, d->cookie, COOKIE_LEN);
        bw_bytes(&w, d->eph_pub, DGRAM_PUB_LEN);
        break;
    case DG_PONG:
        bw_u64(&w, d->echo_us);
        bw_u16(&w, d->slots_total);
        bw_u16(&w, d->slots_free);
        bw_u64(&w, d->highest_job);
        bw_bytes(&w, d->eph_pub, DGRAM_PUB_LEN);
        if (d->has_load) {
            bw_u32(&w, d->load_milli);
            bw_u16(&w, d->cpus);
            bw_u64(&w, d->mem_avail);
            bw_u16(&w, d->running);
        }
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
    case DG_OUTPUT:
        bw_u8(&w, d->stream);
        bw_u32(&w, d->offset);
        bw_bytes(&w, d->payload, d->payload_len);
        break;
    }
    if (key && !w.error && bw_reserve(&w, DGRAM_TAG_LEN) == 0) {
        auth_seal(key, d->seq, out, DGRAM_HEADER_LEN, out + DGRAM_HEADER_LEN, w.len - DGRAM_HEADER_LEN, out + w.len);
        w.len += DGRAM_TAG_LEN;
    }
    return w.error ? 0 : w.len;
}

static int decode_fields(breader *r, dgram *d, const char **why);

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
    if (d->flags & DGRAM_FLAG_AUTH) { /* the fields are sealed: dgram_open */
        if (n < DGRAM_HEADER_LEN + DGRAM_TAG_LEN) {
            *why = "truncated";
            return -1;
        }
        if (d->type < DG_PING || d->type > DG_OUTPUT) {
            *why = "unknown type";
            return -1;
        }
        d->sealed_len = n;
        return 0;
    }
    return decode_fields(&r, d, why);
}

int dgram_open(uint8_t *p, dgram *d, const aead_key *key, const char **why)
{
    size_t n = d->sealed_len;
    if (!(d->flags & DGRAM_FLAG_AUTH) || n < DGRAM_HEADER_LEN + DGRAM_TAG_LEN || !key) {
        *why = "not sealed";
        return -1;
    }
    if (!auth_open(key, d->seq, p, DGRAM_HEADER_LEN, p + DGRAM_HEADER_LEN, n - DGRAM_HEADER_LEN - DGRAM_TAG_LEN,
                   p + n - DGRAM_TAG_LEN)) {
        *why = "bad MAC (wrong key?)";
        return -2;
    }
    breader r;
    br_init(&r, p, n - DGRAM_TAG_LEN);
    r.pos = DGRAM_HEADER_LEN;
    return decode_fields(&r, d, why) < 0 ? -1 : 0;
}

/* The fields after the header, from r (at the header's end). */
static int decode_fields(breader *r_, dgram *d, const char **why)
{
    breader r = *r_;
    switch (d->type) {
    case DG_PING:
    case DG_COOKIE: {
        d->echo_us = br_u64(&r);
        if (d->type == DG_PING)
            d->floor = br_u64(&r);
        const uint8_t *c = br_bytes(&r, COOKIE_LEN);
        if (c)
            memcpy(d->cookie, c, COOKIE_LEN);
        if (d->type == DG_PING)
            d->master_id = br_u64(&r);
        const uint8_t *pub = br_bytes(&r, DGRAM_PUB_LEN);
        if (pub)
            memcpy(d->eph_pub, pub, DGRAM_PUB_LEN);
        break;
    }
    case DG_PONG: {
        d->echo_us = br_u64(&r);
        d->slots_total = br_u16(&r);
        d->slots_free = br_u16(&r);
        d->highest_job = br_u64(&r);
        const uint8_t *pub = br_bytes(&r, DGRAM_PUB_LEN);
        if (pub)
            memcpy(d->eph_pub, pub, DGRAM_PUB_LEN);
        if (br_left(&r) == PONG_LOAD_LEN) { /* anything else left: trailing bytes, as before */
            d->has_load = 1;
            d->load_milli = br_u32(&r);
            d->cpus = br_u16(&r);
            d->mem_avail = br_u64(&r);
            d->running = br_u16(&r);
        }
        break;
    }
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
    case DG_OUTPUT:
        d->stream = br_u8(&r);
        d->offset = br_u32(&r);
        d->payload_len = (uint32_t)br_left(&r);
        d->payload = br_bytes(&r, d->payload_len);
        if (!r.error && (d->stream < OUT_STDOUT || d->stream > OUT_STDERR || d->payload_len == 0 ||
                         d->payload_len > OUTPUT_CHUNK_MAX || d->offset + (uint64_t)d->payload_len > MAX_OUTPUT_CAP)) {
            *why = "bad output chunk";
            return -1;
        }
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
    for (unsigned i = 0; i < r->next; i++) { /* the tail: only when there is one */
        bw_u8(w, r->ext[i].key);
        bw_u16(w, r->ext[i].len);
        bw_bytes(w, r->ext[i].value, r->ext[i].len);
    }
}

int place_wd_valid(const char *p, size_t n)
{
    return n >= 1 && n <= MAX_WD_LEN && !memchr(p, 0, n);
}

int env_name_valid(const char *p, size_t n)
{
    if (n == 0 || (p[0] >= '0' && p[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == '_' || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
              (p[i] >= '0' && p[i] <= '9')))
            return 0;
    return 1;
}

int place_env_valid(const char *p, size_t n)
{
    const char *eq = n <= MAX_ENV_ENTRY ? memchr(p, '=', n) : NULL;
    return eq && env_name_valid(p, (size_t)(eq - p)) && !memchr(p, 0, n);
}

int job_origin_valid(const char *p, size_t n)
{
    if (n < 5 || n > 4 + ORIGIN_NAME_MAX)
        return 0;
    for (size_t i = 4; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) /* printed as it is on the slave's console */
            return 0;
    return 1;
}

size_t job_origin_make(uint8_t *out, uint32_t seq, const char *name)
{
    size_t n = 0;
    bwriter w;
    bw_init_fixed(&w, out, 4);
    bw_u32(&w, seq);
    for (; name[n] && n < ORIGIN_NAME_MAX; n++)
        out[4 + n] = (unsigned char)name[n] < 0x20 || (unsigned char)name[n] > 0x7e ? '?' : (uint8_t)name[n];
    if (!n)
        out[4 + n++] = '?';
    return 4 + n;
}

uint32_t job_origin_seq(const job_ext *e)
{
    const uint8_t *p = (const uint8_t *)e->value;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
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
    if (rd.error || memchr(r->command, 0, r->length))
        return -1;
    r->next = 0;
    r->unknown_ext = 0;
    int wd = 0, env = 0, origin = 0;
    while (br_left(&rd)) {
        uint8_t key = br_u8(&rd);
        uint16_t len = br_u16(&rd);
        const char *v = (const char *)br_bytes(&rd, len);
        if (rd.error || r->next >= JOBX_MAX)
            return -1;
        if (key == JOBX_STREAM) {
            if (len)
                return -1;
        } else if (key == JOBX_WD) {
            if (wd++ || !place_wd_valid(v, len))
                return -1;
        } else if (key == JOBX_ENV) {
            if (env++ >= MAX_ENV_VARS || !place_env_valid(v, len)) /* more: the slave would leave some out */
                return -1;
        } else if (key == JOBX_ORIGIN) {
            if (origin++ || !job_origin_valid(v, len))
                return -1;
        } else if (!r->unknown_ext) {
            r->unknown_ext = key;
        }
        r->ext[r->next++] = (job_ext){key, len, v};
    }
    return 0;
}

void result_encode(bwriter *w, const CommandResult *r)
{
    bw_u8(w, r->status);
    bw_u32(w, (uint32_t)r->exit_code);
    bw_u8(w, r->term_signal);
    bw_u8(w, (uint8_t)((r->stdout_truncated ? RESULT_FLAG_STDOUT_TRUNCATED : 0) |
                       (r->stderr_truncated ? RESULT_FLAG_STDERR_TRUNCATED : 0) |
                       (r->ran_twice ? RESULT_FLAG_RAN_TWICE : 0) | (r->cached ? RESULT_FLAG_CACHED : 0)));
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
    r->stdout_truncated = !!(flags & RESULT_FLAG_STDOUT_TRUNCATED);
    r->stderr_truncated = !!(flags & RESULT_FLAG_STDERR_TRUNCATED);
    r->ran_twice = !!(flags & RESULT_FLAG_RAN_TWICE);
    r->cached = !!(flags & RESULT_FLAG_CACHED);
    r->start_ms = br_u64(rd);
    r->duration_us = br_u64(rd);
    r->stdout_len = br_u32(rd);
    r->stdout_data = borrow_field(rd, r->stdout_len, MAX_OUTPUT_CAP);
    r->stderr_len = br_u32(rd);
    r->stderr_data = borrow_field(rd, r->stderr_len, MAX_OUTPUT_CAP);
    r->message_len = br_u32(rd);
    r->message = borrow_field(rd, r->message_len, RESULT_MESSAGE_MAX);
    if (rd->error || r->status > RUN_CANCELLED ||
        (flags & ~(RESULT_FLAG_STDOUT_TRUNCATED | RESULT_FLAG_STDERR_TRUNCATED | RESULT_FLAG_RAN_TWICE |
                   RESULT_FLAG_CACHED)))
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

void frame_end_sealed(bwriter *w, size_t start, const aead_key *key, uint64_t counter)
{
    if (!key) {
        frame_end(w, start);
        return;
    }
    uint8_t tag[FRAME_SEAL_LEN] = {0};
    bw_bytes(w, tag, sizeof tag); /* room for it, in the length */
    frame_end(w, start);
    if (w->error || bw_pending(w) < start + FRAME_HEADER_LEN + FRAME_SEAL_LEN)
        return;
    uint8_t *f = bw_at(w, start);
    size_t n = bw_pending(w) - start - 4 - FRAME_SEAL_LEN; /* type and fields */
    auth_seal(key, counter, f, 4, f + 4, n, f + 4 + n);
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

long frame_open(uint8_t *buf, size_t len, size_t max, const aead_key *key, uint64_t counter, uint8_t *type,
                breader *fields)
{
    long used = frame_parse(buf, len, max, type, fields);
    if (used <= 0 || !key)
        return used;
    size_t flen = (size_t)used - 4;
    if (flen < 1 + FRAME_SEAL_LEN)
        return FRAME_TAMPERED; /* no room for a type and a tag */
    size_t n = flen - FRAME_SEAL_LEN;
    if (!auth_open(key, counter, buf, 4, buf + 4, n, buf + 4 + n))
        return FRAME_TAMPERED;
    *type = buf[4];
    br_init(fields, buf + FRAME_HEADER_LEN, n - 1);
    return used;
}

/* ------------------------------------------------- frames' fields --- */

size_t hello_frame_encode(bwriter *w, const hello_frame *h, const hmac_key *hello_key)
{
    size_t start = frame_begin(w, F_HELLO);
    size_t fields = bw_pending(w); /* from the head: see frame_begin */
    bw_u32(w, h->magic);
    bw_u16(w, h->version);
    bw_u16(w, (uint16_t)((h->flags & ~FRAME_FLAG_AUTH) | (hello_key ? FRAME_FLAG_AUTH : 0)));
    bw_u32(w, h->timeout_ms);
    bw_u32(w, h->retries);
    bw_bytes(w, h->nonce, FRAME_NONCE_LEN);
    if (hello_key)
        bw_bytes(w, h->pub, FRAME_PUB_LEN);
    if (hello_key && !w->error) {
        uint8_t tag[FRAME_TAG_LEN];
        auth_hello_proof(hello_key, bw_at(w, fields), bw_pending(w) - fields, tag);
        bw_bytes(w, tag, sizeof tag);
    }
    return start;
}

int hello_frame_decode(const breader *fields, hello_frame *h)
{
    breader r = *fields;
    memset(h, 0, sizeof h[0]);
    h->signed_fields = r.data + r.pos;
    h->magic = br_u32(&r);
    h->version = br_u16(&r);
    if (r.error || h->magic != FRAME_MAGIC)
        return -1;
    if (h->version != FRAME_VERSION)
        return -2;
    h->flags = br_u16(&r);
    h->timeout_ms = br_u32(&r);
    h->retries = br_u32(&r);
    const uint8_t *nonce = br_bytes(&r, FRAME_NONCE_LEN), *pub = NULL;
    if (h->flags & FRAME_FLAG_AUTH) {
        pub = br_bytes(&r, FRAME_PUB_LEN);
        h->tag = br_bytes(&r, FRAME_TAG_LEN);
    }
    if (r.error)
        return -1;
    memcpy(h->nonce, nonce, FRAME_NONCE_LEN);
    if (pub)
        memcpy(h->pub, pub, FRAME_PUB_LEN);
    return 0;
}

size_t welcome_frame_encode(bwriter *w, const welcome_frame *wf, const hmac_key *welcome_key,
                            const uint8_t client_nonce[FRAME_NONCE_LEN])
{
    size_t start = frame_begin(w, F_WELCOME);
    size_t fields = bw_pending(w); /* from the head: see frame_begin */
    bw_u16(w, wf->version);
    bw_u16(w, wf->slaves);
    bw_u16(w, wf->alive);
    bw_u32(w, wf->slots);
    bw_u16(w, (uint16_t)((wf->flags & ~FRAME_FLAG_AUTH) | (welcome_key ? FRAME_FLAG_AUTH : 0)));
    bw_bytes(w, wf->nonce, FRAME_NONCE_LEN);
    if (welcome_key)
        bw_bytes(w, wf->pub, FRAME_PUB_LEN);
    if (welcome_key && !w->error) {
        uint8_t proof[FRAME_TAG_LEN];
        auth_welcome_proof(welcome_key, client_nonce, bw_at(w, fields), bw_pending(w) - fields, proof);
        bw_bytes(w, proof, sizeof proof);
    }
    return start;
}

int welcome_frame_decode(const breader *fields, welcome_frame *wf)
{
    breader r = *fields;
    memset(wf, 0, sizeof wf[0]);
    wf->signed_fields = r.data + r.pos;
    wf->version = br_u16(&r);
    wf->slaves = br_u16(&r);
    wf->alive = br_u16(&r);
    wf->slots = br_u32(&r);
    wf->flags = br_u16(&r);
    const uint8_t *nonce = br_bytes(&r, FRAME_NONCE_LEN), *pub = NULL;
    if (wf->flags & FRAME_FLAG_AUTH) {
        pub = br_bytes(&r, FRAME_PUB_LEN);
        wf->proof = br_bytes(&r, FRAME_TAG_LEN);
    }
    if (r.error)
        return -1;
    memcpy(wf->nonce, nonce, FRAME_NONCE_LEN);
    if (pub)
        memcpy(wf->pub, pub, FRAME_PUB_LEN);
    return 0;
}

size_t submit_frame_encode(bwriter *w, const submit_frame *s)
{
    size_t start = frame_begin(w, F_SUBMIT);
    bw_u32(w, s->seq);
    bw_bytes(w, s->command, s->len);
    return start;
}

int submit_frame_decode(const breader *fields, submit_frame *s)
{
    breader r = *fields;
    s->seq = br_u32(&r);
    s->len = (uint32_t)br_left(&r); /* a frame is at most 4 GiB: br_left fits */
    s->command = br_bytes(&r, s->len);
    return r.error ? -1 : 0;
}

size_t end_frame_encode(bwriter *w, const end_frame *e)
{
    size_t start = frame_begin(w, F_END);
    bw_u32(w, e->count);
    return start;
}

int end_frame_decode(const breader *fields, end_frame *e)
{
    breader r = *fields;
    e->count = br_u32(&r);
    return r.error ? -1 : 0;
}

size_t result_frame_begin(bwriter *w, uint32_t seq, const char *host, size_t host_len)
{
    size_t start = frame_begin(w, F_RESULT);
    if (host_len > FRAME_HOST_MAX) {
        w->error = 1;
        return start;
    }
    bw_u32(w, seq);
    bw_u16(w, (uint16_t)host_len);
    bw_bytes(w, host, host_len);
    return start;
}

int result_frame_decode(const breader *fields, result_frame *rf)
{
    breader r = *fields;
    memset(rf, 0, sizeof rf[0]);
    rf->seq = br_u32(&r);
    rf->host_len = br_u16(&r);
    rf->host = (const char *)br_bytes(&r, rf->host_len);
    if (r.error || result_decode(&r, &rf->result) < 0 || br_left(&r) != 0)
        return -1;
    return 0;
}

size_t text_frame_encode(bwriter *w, uint8_t type, const char *text, size_t len)
{
    if (len > FRAME_TEXT_MAX)
        len = FRAME_TEXT_MAX;
    size_t start = frame_begin(w, type);
    bw_u16(w, (uint16_t)len);
    bw_bytes(w, text, len);
    return start;
}

int text_frame_decode(const breader *fields, text_frame *t)
{
    breader r = *fields;
    t->len = br_u16(&r);
    t->text = (const char *)br_bytes(&r, t->len);
    return r.error ? -1 : 0;
}

size_t bye_frame_encode(bwriter *w)
{
    return frame_begin(w, F_BYE);
}

size_t ready_frame_encode(bwriter *w)
{
    return frame_begin(w, F_READY);
}

size_t empty_frame_encode(bwriter *w, uint8_t type)
{
    return frame_begin(w, type);
}

size_t options_frame_encode(bwriter *w, const options_frame *o)
{
    size_t start = frame_begin(w, F_OPTIONS);
    if (o->halt_when) {
        bw_u8(w, OPTION_HALT);
        bw_u16(w, 7);
        bw_u8(w, o->halt_when);
        bw_u8(w, o->halt_why);
        bw_u8(w, o->halt_pct);
        bw_u32(w, o->halt_n);
    }
    if (o->jobs) {
        bw_u8(w, OPTION_JOBS);
        bw_u16(w, 4);
        bw_u32(w, o->jobs);
    }
    if (o->jobs_form) {
        bw_u8(w, OPTION_JOBS_SLOTS);
        bw_u16(w, 5);
        bw_u8(w, o->jobs_form);
        bw_u32(w, o->jobs_n);
    }
    if (o->delay_ms) {
        bw_u8(w, OPTION_DELAY);
        bw_u16(w, 4);
        bw_u32(w, o->delay_ms);
    }
    if (o->line_buffer) {
        bw_u8(w, OPTION_LINE_BUFFER);
        bw_u16(w, 0);
    }
    if (o->wd.len) {
        bw_u8(w, OPTION_WD);
        bw_u16(w, o->wd.len);
        bw_bytes(w, o->wd.p, o->wd.len);
    }
    for (unsigned i = 0; i < o->nenv; i++) {
        bw_u8(w, OPTION_ENV);
        bw_u16(w, o->env[i].len);
        bw_bytes(w, o->env[i].p, o->env[i].len);
    }
    if (o->fail_attempts) {
        bw_u8(w, OPTION_FAIL_ATTEMPTS);
        bw_u16(w, 4);
        bw_u32(w, o->fail_attempts);
    }
    if (o->timeout_pct) {
        bw_u8(w, OPTION_TIMEOUT_PCT);
        bw_u16(w, 4);
        bw_u32(w, o->timeout_pct);
    }
    if (o->deadline_ms) {
        bw_u8(w, OPTION_DEADLINE);
        bw_u16(w, 4);
        bw_u32(w, o->deadline_ms);
    }
    if (o->priority) {
        bw_u8(w, OPTION_PRIORITY);
        bw_u16(w, 1);
        bw_u8(w, (uint8_t)o->priority);
    }
    if (o->order) {
        bw_u8(w, OPTION_ORDER);
        bw_u16(w, 1);
        bw_u8(w, o->order);
    }
    if (o->cache) {
        bw_u8(w, OPTION_CACHE);
        bw_u16(w, 0);
    }
    return start;
}

uint32_t jobs_cap(const options_frame *o, uint32_t slots)
{
    uint64_t cap;
    if (o->jobs_form == JOBS_PLUS)
        cap = (uint64_t)slots + o->jobs_n;
    else if (o->jobs_form == JOBS_MINUS)
        cap = slots > o->jobs_n ? slots - o->jobs_n : 1;
    else if (o->jobs_form == JOBS_PERCENT)
        cap = (uint64_t)slots * o->jobs_n / 100;
    else
        return o->jobs;
    return cap < 1 ? 1 : cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
}

int halt_reached(uint8_t why, int pct, uint32_t n, uint32_t ok, uint32_t failed, int total_known, uint32_t total)
{
    uint32_t count = why == 0 ? failed : why == 1 ? ok : ok + failed;
    if (pct)
        return total_known && (uint64_t)count * 100 >= (uint64_t)n * total;
    return count >= n;
}

size_t options_place_bytes(const options_frame *o)
{
    size_t n = o->wd.len ? 3u + o->wd.len : 0;
    for (unsigned i = 0; i < o->nenv; i++)
        n += 3u + o->env[i].len;
    return n;
}

void job_request_place(CommandRequest *r, const options_frame *o)
{
    if (o->wd.len && r->next < JOBX_MAX)
        r->ext[r->next++] = (job_ext){JOBX_WD, o->wd.len, o->wd.p};
    for (unsigned i = 0; i < o->nenv && r->next < JOBX_MAX; i++)
        r->ext[r->next++] = (job_ext){JOBX_ENV, o->env[i].len, o->env[i].p};
}

int options_frame_decode(const breader *fields, options_frame *o)
{
    breader r = *fields;
    memset(o, 0, sizeof *o);
    while (br_left(&r)) {
        uint8_t key = o->bad_key = br_u8(&r);
        uint16_t len = br_u16(&r);
        breader v;
        const uint8_t *p = br_bytes(&r, len);
        if (r.error)
            return -1;
        br_init(&v, p, len);
        if (key == OPTION_HALT) {
            o->halt_when = br_u8(&v);
            o->halt_why = br_u8(&v);
            o->halt_pct = br_u8(&v);
            o->halt_n = br_u32(&v);
            if (v.error || br_left(&v) || !o->halt_when || o->halt_when > 2 || o->halt_why > 2 || o->halt_pct > 1 ||
                !o->halt_n || (o->halt_pct && o->halt_n > 100))
                return -1;
        } else if (key == OPTION_JOBS || key == OPTION_DELAY || key == OPTION_FAIL_ATTEMPTS ||
                   key == OPTION_TIMEOUT_PCT || key == OPTION_DEADLINE) {
            uint32_t v32 = br_u32(&v);
            if (v.error || br_left(&v) || !v32 || (key == OPTION_FAIL_ATTEMPTS && v32 > 100))
                return -1;
            *(key == OPTION_JOBS ? &o->jobs : key == OPTION_DELAY ? &o->delay_ms
                : key == OPTION_FAIL_ATTEMPTS ? &o->fail_attempts : key == OPTION_DEADLINE ? &o->deadline_ms
                : &o->timeout_pct) = v32;
        } else if (key == OPTION_JOBS_SLOTS) {
            o->jobs_form = br_u8(&v);
            o->jobs_n = br_u32(&v);
            if (v.error || br_left(&v) || !o->jobs_form || o->jobs_form > JOBS_PERCENT || o->jobs_n > 1000000)
                return -1;
        } else if (key == OPTION_LINE_BUFFER) {
            if (len > 1 || (len == 1 && br_u8(&v) != 1))
                return -1;
            o->line_buffer = 1;
        } else if (key == OPTION_CACHE) {
            if (len > 1 || (len == 1 && br_u8(&v) != 1))
                return -1;
            o->cache = 1;
        } else if (key == OPTION_WD) {
            if (o->wd.len || !place_wd_valid((const char *)p, len))
                return -1;
            o->wd = (opt_str){(const char *)p, len};
        } else if (key == OPTION_ENV) {
            if (o->nenv >= MAX_ENV_VARS || !place_env_valid((const char *)p, len))
                return -1;
            o->env[o->nenv++] = (opt_str){(const char *)p, len};
        } else if (key == OPTION_PRIORITY) {
            int v8 = (int8_t)br_u8(&v);
            if (v.error || br_left(&v) || v8 < PRIORITY_MIN || v8 > PRIORITY_MAX)
                return -1;
            o->priority = (int8_t)v8;
        } else if (key == OPTION_ORDER) {
            o->order = br_u8(&v);
            if (v.error || br_left(&v) || o->order > ORDER_LPT)
                return -1;
        } else if (!o->unknown_key) {
            o->unknown_key = key;
        }
    }
    o->bad_key = 0;
    return options_place_bytes(o) <= MAX_PLACE_BYTES ? 0 : -1;
}

size_t output_frame_encode(bwriter *w, const output_frame *o)
{
    size_t start = frame_begin(w, F_OUTPUT);
    bw_u32(w, o->seq);
    bw_u16(w, o->attempt);
    bw_u8(w, o->stream);
    bw_u32(w, o->offset);
    bw_bytes(w, o->data, o->len);
    return start;
}

int output_frame_decode(const breader *fields, output_frame *o)
{
    breader r = *fields;
    o->seq = br_u32(&r);
    o->attempt = br_u16(&r);
    o->stream = br_u8(&r);
    o->offset = br_u32(&r);
    o->len = (uint32_t)br_left(&r);
    o->data = br_bytes(&r, o->len);
    if (r.error || o->stream > OUT_STDERR || (o->stream == 0) != (o->len == 0) || o->len > OUTPUT_CHUNK_MAX ||
        o->offset + (uint64_t)o->len > MAX_OUTPUT_CAP)
        return -1;
    return 0;
}

size_t cancel_frame_encode(bwriter *w, uint8_t mode)
{
    size_t start = frame_begin(w, F_CANCEL);
    if (mode != CANCEL_ALL)
        bw_u8(w, mode);
    return start;
}

uint8_t cancel_frame_mode(const breader *fields)
{
    breader r = *fields;
    uint8_t mode = br_left(&r) ? br_u8(&r) : CANCEL_ALL;
    return mode == CANCEL_QUEUED ? CANCEL_QUEUED : CANCEL_ALL;
}

size_t attach_frame_encode(bwriter *w, const attach_frame *a)
{
    size_t start = frame_begin(w, F_ATTACH);
    bw_u8(w, a->mode);
    bw_u64(w, a->batch);
    bw_u32(w, a->have);
    if (a->held) {
        bw_u32(w, a->held_bits);
        bw_bytes(w, a->held, (a->held_bits + 7) / 8);
    }
    return start;
}

int attach_frame_decode(const breader *fields, attach_frame *a)
{
    breader r = *fields;
    a->mode = br_u8(&r);
    a->batch = br_u64(&r);
    a->have = br_u32(&r);
    a->held_bits = 0;
    a->held = NULL;
    if (!r.error && br_left(&r)) {
        a->held_bits = br_u32(&r);
        if (a->held_bits > ATTACH_HELD_MAX)
            return -1;
        a->held = br_bytes(&r, (a->held_bits + 7) / 8);
    }
    return r.error ? -1 : 0;
}

size_t batch_frame_encode(bwriter *w, const batch_frame *b)
{
    size_t start = frame_begin(w, F_BATCH);
    bw_u64(w, b->batch);
    bw_u8(w, b->flags);
    bw_u32(w, b->accepted);
    bw_u32(w, b->total);
    bw_u32(w, b->done);
    return start;
}

int batch_frame_decode(const breader *fields, batch_frame *b)
{
    breader r = *fields;
    b->batch = br_u64(&r);
    b->flags = br_u8(&r);
    b->accepted = br_u32(&r);
    b->total = br_u32(&r);
    b->done = br_u32(&r);
    return r.error ? -1 : 0;
}

size_t count_frame_encode(bwriter *w, uint8_t type, const count_frame *c)
{
    size_t start = frame_begin(w, type);
    bw_u32(w, c->count);
    return start;
}

int count_frame_decode(const breader *fields, count_frame *c)
{
    breader r = *fields;
    c->count = br_u32(&r);
    return r.error ? -1 : 0;
}

size_t batch_info_frame_encode(bwriter *w, const batch_info_frame *b)
{
    size_t start = frame_begin(w, F_BATCH_INFO);
    uint16_t n = b->name_len > BATCH_NAME_MAX ? BATCH_NAME_MAX : b->name_len;
    bw_u64(w, b->batch);
    bw_u64(w, b->created_ms);
    bw_u8(w, b->state);
    bw_u32(w, b->submitted);
    bw_u32(w, b->done);
    bw_u32(w, b->running);
    bw_u16(w, n);
    bw_bytes(w, b->name, n);
    return start;
}

int batch_info_frame_decode(const breader *fields, batch_info_frame *b)
{
    breader r = *fields;
    b->batch = br_u64(&r);
    b->created_ms = br_u64(&r);
    b->state = br_u8(&r);
    b->submitted = br_u32(&r);
    b->done = br_u32(&r);
    b->running = br_u32(&r);
    b->name_len = br_u16(&r);
    b->name = (const char *)br_bytes(&r, b->name_len);
    return r.error ? -1 : 0;
}

size_t command_frame_encode(bwriter *w, const command_frame *c)
{
    size_t start = frame_begin(w, F_COMMAND);
    bw_u32(w, c->index);
    bw_u32(w, c->seq);
    bw_bytes(w, c->line, c->len);
    return start;
}

int command_frame_decode(const breader *fields, command_frame *c)
{
    breader r = *fields;
    c->index = br_u32(&r);
    c->seq = br_u32(&r);
    c->len = (uint32_t)br_left(&r);
    c->line = (const char *)br_bytes(&r, c->len);
    return r.error ? -1 : 0;
}

size_t started_frame_encode(bwriter *w, const started_frame *s)
{
    size_t start = frame_begin(w, F_STARTED);
    uint16_t n = s->host_len > BATCH_NAME_MAX ? BATCH_NAME_MAX : s->host_len;
    bw_u32(w, s->seq);
    bw_u16(w, s->attempt);
    bw_u16(w, n);
    bw_bytes(w, s->host, n);
    if (s->run)
        bw_u16(w, s->run);
    return start;
}

int started_frame_decode(const breader *fields, started_frame *s)
{
    breader r = *fields;
    s->seq = br_u32(&r);
    s->attempt = br_u16(&r);
    s->host_len = br_u16(&r);
    s->host = (const char *)br_bytes(&r, s->host_len);
    s->run = br_left(&r) >= 2 ? br_u16(&r) : 0;
    return r.error ? -1 : 0;
}

/* A name or version copied into its array: -1 if longer than max or
 * with a NUL inside (it is a C string from there on). */
static int read_name(breader *r, char *out, size_t max, int len_u8)
{
    size_t n = len_u8 ? br_u8(r) : br_u16(r);
    const uint8_t *p = br_bytes(r, n);
    if (r->error || n > max || memchr(p, 0, n))
        return -1;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

size_t status_frame_encode(bwriter *w, const status_frame *s)
{
    size_t start = frame_begin(w, F_STATUS);
    size_t n = strlen(s->version);
    if (n > STATUS_VERSION_MAX)
        n = STATUS_VERSION_MAX;
    bw_u64(w, s->uptime_ms);
    bw_u64(w, s->journal_bytes);
    bw_u32(w, s->finished_window);
    bw_u16(w, s->window_s);
    bw_u8(w, s->flags);
    bw_u32(w, s->clients);
    bw_u32(w, s->queued);
    bw_u32(w, s->running);
    bw_u32(w, s->slots);
    bw_u16(w, s->slaves);
    bw_u16(w, s->slaves_up);
    bw_u32(w, s->batches);
    for (int i = 0; i < STATUS_RUN_STATUSES; i++)
        bw_u64(w, s->finished[i]);
    bw_u64(w, s->failed);
    bw_u8(w, (uint8_t)n);
    bw_bytes(w, s->version, n);
    bw_u32(w, s->jobs);
    if (s->has_cache) {
        bw_u64(w, s->cache_hits);
    bw_u64(w, s->cache_misses);
    bw_u64(w, s->cache_entries);
    bw_u64(w, s->cache_bytes);
    bw_u64(w, s->cache_max_bytes);
        bw_u64(w, s->cache_age_ms);
    }
    return start;
}

int status_frame_decode(const breader *fields, status_frame *s)
{
    breader r = *fields;
    s->uptime_ms = br_u64(&r);
    s->journal_bytes = br_u64(&r);
    s->finished_window = br_u32(&r);
    s->window_s = br_u16(&r);
    s->flags = br_u8(&r);
    s->clients = br_u32(&r);
    s->queued = br_u32(&r);
    s->running = br_u32(&r);
    s->slots = br_u32(&r);
    s->slaves = br_u16(&r);
    s->slaves_up = br_u16(&r);
    s->batches = br_u32(&r);
    for (int i = 0; i < STATUS_RUN_STATUSES; i++)
        s->finished[i] = br_u64(&r);
    s->failed = br_u64(&r);
    if (read_name(&r, s->version, STATUS_VERSION_MAX, 1) < 0)
        return -1;
    s->jobs = br_left(&r) ? br_u32(&r) : 0; /* nothing there: a master older than STATUS_JOB */
    s->has_cache = br_left(&r) > 0; /* nothing there: a master older than the cache (then its fields are 0) */
    s->cache_hits = s->cache_misses = s->cache_entries = s->cache_bytes = s->cache_max_bytes = s->cache_age_ms = 0;
    if (s->has_cache) {
        s->cache_hits = br_u64(&r);
        s->cache_misses = br_u64(&r);
        s->cache_entries = br_u64(&r);
        s->cache_bytes = br_u64(&r);
        s->cache_max_bytes = br_u64(&r);
        s->cache_age_ms = br_u64(&r);
    }
    return r.error ? -1 : 0;
}

static void write_name(bwriter *w, const char *name)
{
    size_t n = strlen(name);
    if (n > BATCH_NAME_MAX)
        n = BATCH_NAME_MAX;
    bw_u16(w, (uint16_t)n);
    bw_bytes(w, name, n);
}

size_t status_slave_frame_encode(bwriter *w, const status_slave_frame *s)
{
    size_t start = frame_begin(w, F_STATUS_SLAVE);
    bw_u8(w, s->state);
    bw_u16(w, s->slots);
    bw_u32(w, s->running);
    bw_u32(w, s->dispatched);
    bw_u64(w, s->done);
    bw_u64(w, s->failed);
    bw_u64(w, s->sent);
    bw_u64(w, s->retransmitted);
    bw_u32(w, s->rtt_us);
    bw_u64(w, s->last_heard_ms);
    bw_u16(w, s->load);
    write_name(w, s->name);
    bw_u64(w, s->mem_avail);
    bw_u16(w, s->cpus);
    bw_u32(w, s->weight_milli);
    bw_u8(w, s->held);
    return start;
}

int status_slave_frame_decode(const breader *fields, status_slave_frame *s)
{
    breader r = *fields;
    s->state = br_u8(&r);
    s->slots = br_u16(&r);
    s->running = br_u32(&r);
    s->dispatched = br_u32(&r);
    s->done = br_u64(&r);
    s->failed = br_u64(&r);
    s->sent = br_u64(&r);
    s->retransmitted = br_u64(&r);
    s->rtt_us = br_u32(&r);
    s->last_heard_ms = br_u64(&r);
    s->load = br_u16(&r);
    if (read_name(&r, s->name, BATCH_NAME_MAX, 0) < 0)
        return -1;
    s->mem_avail = STATUS_NO_MEM;
    s->cpus = 0;
    s->weight_milli = 1000;
    s->held = STATUS_HELD_NO;
    if (br_left(&r)) { /* a master with load-aware dispatch; an older one ends at the name */
        s->mem_avail = br_u64(&r);
        s->cpus = br_u16(&r);
        s->weight_milli = br_u32(&r);
        s->held = br_u8(&r);
    }
    return r.error || s->held > STATUS_HELD_MEMFREE ? -1 : 0;
}

size_t status_batch_frame_encode(bwriter *w, const status_batch_frame *b)
{
    size_t start = frame_begin(w, F_STATUS_BATCH);
    bw_u64(w, b->batch);
    bw_u64(w, b->started_ms);
    bw_u8(w, b->state);
    bw_u8(w, b->flags);
    bw_u32(w, b->submitted);
    bw_u32(w, b->queued);
    bw_u32(w, b->running);
    bw_u32(w, b->done);
    bw_u32(w, b->failed);
    write_name(w, b->name);
    bw_u8(w, (uint8_t)b->priority);
    bw_u16(w, (uint16_t)b->effective);
    bw_u8(w, b->order);
    return start;
}

int status_batch_frame_decode(const breader *fields, status_batch_frame *b)
{
    breader r = *fields;
    b->batch = br_u64(&r);
    b->started_ms = br_u64(&r);
    b->state = br_u8(&r);
    b->flags = br_u8(&r);
    b->submitted = br_u32(&r);
    b->queued = br_u32(&r);
    b->running = br_u32(&r);
    b->done = br_u32(&r);
    b->failed = br_u32(&r);
    if (read_name(&r, b->name, BATCH_NAME_MAX, 0) < 0)
        return -1;
    b->priority = 0, b->effective = 0, b->order = 0;
    if (br_left(&r)) { /* nothing there: a master older than --priority */
        b->priority = (int8_t)br_u8(&r);
        b->effective = (int16_t)br_u16(&r);
        b->order = br_u8(&r);
    }
    return r.error ? -1 : 0;
}

size_t status_job_frame_encode(bwriter *w, const status_job_frame *j)
{
    size_t start = frame_begin(w, F_STATUS_JOB);
    bw_u16(w, j->slave);
    bw_u8(w, j->state);
    bw_u64(w, j->batch);
    bw_u32(w, j->seq);
    bw_u64(w, j->running_ms);
    write_name(w, j->client);
    size_t n = strlen(j->command);
    if (n > STATUS_COMMAND_MAX)
        n = STATUS_COMMAND_MAX;
    bw_u16(w, (uint16_t)n);
    bw_bytes(w, j->command, n);
    return start;
}

int status_job_frame_decode(const breader *fields, status_job_frame *j)
{
    breader r = *fields;
    j->slave = br_u16(&r);
    j->state = br_u8(&r);
    j->batch = br_u64(&r);
    j->seq = br_u32(&r);
    j->running_ms = br_u64(&r);
    if (read_name(&r, j->client, BATCH_NAME_MAX, 0) < 0)
        return -1;
    return read_name(&r, j->command, STATUS_COMMAND_MAX, 0);
}

int frame_decode(uint8_t type, const breader *fields, any_frame *f)
{
    f->type = type;
    switch (type) {
    case F_HELLO: return hello_frame_decode(fields, &f->u.hello);
    case F_WELCOME: return welcome_frame_decode(fields, &f->u.welcome);
    case F_SUBMIT: return submit_frame_decode(fields, &f->u.submit);
    case F_END: return end_frame_decode(fields, &f->u.end);
    case F_RESULT: return result_frame_decode(fields, &f->u.result);
    case F_NOTICE:
    case F_ERROR: return text_frame_decode(fields, &f->u.text);
    case F_ATTACH: return attach_frame_decode(fields, &f->u.attach);
    case F_BATCH: return batch_frame_decode(fields, &f->u.batch);
    case F_ACCEPTED:
    case F_ACK: return count_frame_decode(fields, &f->u.count);
    case F_BATCH_INFO: return batch_info_frame_decode(fields, &f->u.info);
    case F_COMMAND: return command_frame_decode(fields, &f->u.command);
    case F_STARTED: return started_frame_decode(fields, &f->u.started);
    case F_STATUS: return status_frame_decode(fields, &f->u.status);
    case F_STATUS_SLAVE: return status_slave_frame_decode(fields, &f->u.slave);
    case F_STATUS_BATCH: return status_batch_frame_decode(fields, &f->u.sbatch);
    case F_STATUS_JOB: return status_job_frame_decode(fields, &f->u.sjob);
    case F_OUTPUT: return output_frame_decode(fields, &f->u.output);
    case F_BYE:
    case F_READY:
    case F_CANCEL:
    case F_DETACH: return 0;
    default: return -3;
    }
}

uint32_t frag_size_for(const net_addr *peer)
{
    return net_addr_is_loopback(peer) ? FRAG_LOOPBACK : FRAG_PAYLOAD;
}

const char *frame_type_name(uint8_t type)
{
    static const char *names[] = {"?", "HELLO", "WELCOME", "SUBMIT", "END", "RESULT", "NOTICE", "ERROR", "BYE", "READY",
                                  "ATTACH", "BATCH", "ACCEPTED", "ACK", "CANCEL", "DETACH", "BATCH_INFO", "COMMAND",
                                  "STARTED", "STATUS", "STATUS_SLAVE", "STATUS_BATCH", "STATUS_JOB", "OPTIONS", "OUTPUT"};
    return type < sizeof names / sizeof *names ? names[type] : "?";
}

const char *dgram_type_name(uint8_t type)
{
    static const char *names[] = {"?", "PING", "PONG", "JOB", "JOB_ACK", "RESULT", "RESULT_ACK", "CANCEL", "COOKIE", "LEAVING", "OUTPUT"};
    return type < sizeof names / sizeof *names ? names[type] : "?";
}
