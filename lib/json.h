/* json.h - JSON strings and base64 (json.c). */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

/* 1 if the n bytes are valid UTF-8 (no overlong forms, no surrogates). */
int utf8_valid(const uint8_t *p, size_t n);
/* Writes s as a JSON string (quotes included), escaping as RFC 8259 says.
 * Returns -1 without writing if s is not valid UTF-8. */
int json_write_string(FILE *f, const char *s, size_t n);
/* The same into a writer. */
int json_bw_string(bwriter *w, const char *s, size_t n);
/* The n bytes in base64 (RFC 4648), between quotes. */
void base64_write(FILE *f, const uint8_t *p, size_t n);

#endif
