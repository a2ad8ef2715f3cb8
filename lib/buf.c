/* buf.c - bounds-checked big-endian reader and writer (see buf.h). */
#include "buf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void br_init(breader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->pos = 0;
    r->error = 0;
}

size_t br_left(const breader *r)
{
    return r->error ? 0 : r->len - r->pos;
}

const uint8_t *br_bytes(breader *r, size_t n)
{
    if (r->error || n > r->len - r->pos) {
        r->error = 1;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

uint8_t br_u8(breader *r)
{
    const uint8_t *p = br_bytes(r, 1);
    return p ? p[0] : 0;
}

uint16_t br_u16(breader *r)
{
    const uint8_t *p = br_bytes(r, 2);
    return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t br_u32(breader *r)
{
    const uint8_t *p = br_bytes(r, 4);
    return p ? get_u32(p) : 0;
}

uint64_t br_u64(breader *r)
{
    const uint8_t *p = br_bytes(r, 8);
    return p ? (uint64_t)get_u32(p) << 32 | get_u32(p + 4) : 0;
}

void bw_init(bwriter *w, size_t limit)
{
    memset(w, 0, sizeof *w);
    w->limit = limit;
}

void bw_init_fixed(bwriter *w, void *array, size_t cap)
{
    bw_init(w, cap);
    w->data = array;
    w->cap = cap;
    w->fixed = 1;
}

void bw_free(bwriter *w)
{
    if (w->fixed)
        return;
    free(w->data);
    bw_init(w, w->limit);
}

void bw_reset(bwriter *w)
{
    w->head = w->len = 0;
    w->error = 0;
}

int bw_reserve(bwriter *w, size_t more)
{
    if (w->error || more > w->limit - bw_pending(w)) {
        w->error = 1;
        return -1;
    }
    if (w->len + more <= w->cap)
        return 0;
    if (w->fixed) {
        w->error = 1;
        return -1;
    }
    if (w->head > 0) { /* slide pending bytes to the front first */
        memmove(w->data, w->data + w->head, bw_pending(w));
        w->len -= w->head;
        w->head = 0;
        if (w->len + more <= w->cap)
            return 0;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more)
        cap *= 2;
    if (cap > w->limit)
        cap = w->limit;
    uint8_t *p = realloc(w->data, cap);
    if (!p) {
        w->error = 1;
        return -1;
    }
    w->data = p;
    w->cap = cap;
    return 0;
}

void bw_bytes(bwriter *w, const void *p, size_t n)
{
    if (n == 0 || bw_reserve(w, n) < 0)
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void bw_str(bwriter *w, const char *s)
{
    bw_bytes(w, s, strlen(s));
}

void bw_printf(bwriter *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0 || bw_reserve(w, (size_t)n + 1) < 0) /* vsnprintf writes its NUL too */
        return;
    va_start(ap, fmt);
    vsnprintf((char *)w->data + w->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->len += (size_t)n;
}

void bw_u8(bwriter *w, uint8_t v)
{
    bw_bytes(w, &v, 1);
}

void bw_u16(bwriter *w, uint16_t v)
{
    uint8_t b[2];
    put_u16(b, v);
    bw_bytes(w, b, 2);
}

void bw_u32(bwriter *w, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    bw_bytes(w, b, 4);
}

void bw_u64(bwriter *w, uint64_t v)
{
    uint8_t b[8];
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b + 4, (uint32_t)v);
    bw_bytes(w, b, 8);
}

void bw_consume(bwriter *w, size_t n)
{
    if (n < bw_pending(w)) {
        w->head += n;
        return;
    }
    w->head = w->len = 0;
    /* Give back memory after a burst so idle connections stay small. */
    if (!w->fixed && w->cap > 65536) {
        free(w->data);
        w->data = NULL;
        w->cap = 0;
    }
}
