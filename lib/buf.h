/*
 * buf.h - bounds-checked big-endian encoding (Dropbear's buffer.c idea).
 *
 * A reader never reads past its end: a short or malformed input sets
 * r->error and every later get returns zero, so decoders check once at the
 * end. A writer grows up to its limit; going past it sets w->error.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* before log.h: MinGW's printf format checks */

#include "log.h" /* LOG_PRINTF */

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    int error;
} breader;

/* Bytes [head, len) are pending: encoders append at len, a socket writer
 * consumes from head. */
typedef struct {
    uint8_t *data;
    size_t head, len, cap, limit; /* limit: the most pending bytes */
    int error;
    int fixed; /* data is the caller's array of cap bytes: never reallocated */
} bwriter;

void br_init(breader *r, const void *data, size_t len);
uint8_t br_u8(breader *r);
uint16_t br_u16(breader *r);
uint32_t br_u32(breader *r);
uint64_t br_u64(breader *r);
/* Returns a pointer into the input (not copied), or NULL on error. */
const uint8_t *br_bytes(breader *r, size_t n);
size_t br_left(const breader *r);

void bw_init(bwriter *w, size_t limit);
void bw_init_fixed(bwriter *w, void *array, size_t cap);
void bw_free(bwriter *w);
void bw_reset(bwriter *w);
int bw_reserve(bwriter *w, size_t more);
void bw_u8(bwriter *w, uint8_t v);
void bw_u16(bwriter *w, uint16_t v);
void bw_u32(bwriter *w, uint32_t v);
void bw_u64(bwriter *w, uint64_t v);
void bw_bytes(bwriter *w, const void *p, size_t n);
/* Text (the master's HTTP answers, status JSON): no NUL is written. */
void bw_str(bwriter *w, const char *s);
void bw_printf(bwriter *w, const char *fmt, ...) LOG_PRINTF(2, 3);
static inline size_t bw_pending(const bwriter *w) { return w->len - w->head; }
static inline const uint8_t *bw_head(const bwriter *w) { return w->data + w->head; }
/* The pending byte at offset off from the head: offsets from the head
 * stay right when bw_reserve() slides or reallocates the data. */
static inline uint8_t *bw_at(bwriter *w, size_t off) { return w->data + w->head + off; }
/* Drop the first n pending bytes (written to a socket). */
void bw_consume(bwriter *w, size_t n);

/* Raw helpers for fixed-size buffers. */
static inline void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
