/* Fuzz target: the head of an HTTP request (lib/http.c), as --http reads
 * it: the whole input at once, then every prefix of it (a request arrives
 * in pieces, and each piece is parsed again from the start). Whatever it
 * returns, the fields it sets point inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"

static void parse(const char *p, size_t n)
{
    http_request rq;
    const char *why;
    int rc = http_parse_request(p, n, &rq, &why);
    if (rc > 0) {
        if ((size_t)rc > n || rc > HTTP_HEAD_MAX || !rq.path || rq.path < p || rq.path + rq.path_len > p + rc ||
            (rq.host && (rq.host < p || rq.host + rq.host_len > p + rc)) ||
            (rq.authorization && (rq.authorization < p || rq.authorization + rq.authorization_len > p + rc)))
            abort();
    } else if (rc < 0 && (!why || (rc != -400 && rc != -431 && rc != -505))) {
        abort();
    } else if (rc == 0 && n >= HTTP_HEAD_MAX) {
        abort(); /* incomplete at the limit: it would wait for ever */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes: reading past it is ASan's to catch */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    parse(copy, size);
    for (size_t n = 0; n < size && n < 512; n++)
        parse(copy, n);
    free(copy);
    return 0;
}
