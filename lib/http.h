/* http.h - the head of an HTTP/1.x request, parsed in place and bounded
 * (http.c): what the master's read-only monitoring server (master/http.c)
 * needs of it, nothing more. RFC 9112 sections 2-5. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#define HTTP_HEAD_MAX 8192 /* a request head (request line + headers) longer than this is refused: 431 */
#define HTTP_HEADERS_MAX 64 /* header fields; more: 431 */

enum http_method { HTTP_GET = 1, HTTP_HEAD_METHOD, HTTP_OTHER };

typedef struct {
    enum http_method method;
    const char *path;   /* the target's path, up to '?' (not NUL-terminated) */
    size_t path_len;
    const char *host;   /* the Host field's value, NULL if absent */
    size_t host_len;
    const char *authorization; /* the Authorization field's value, NULL if absent */
    size_t authorization_len;
    int minor;          /* HTTP/1.minor */
} http_request;

/* Parses the n bytes received so far. Returns the length of the head
 * (through the empty line) when it is complete and well formed, 0 if more
 * bytes are needed (and may come: n < HTTP_HEAD_MAX), or -STATUS, the
 * HTTP status that answers it: -400 malformed, -431 too large, -505 not
 * HTTP/1. why says what was wrong (a static string). The fields point into
 * buf. A body is not read: the server answers one request and closes. */
int http_parse_request(const char *buf, size_t n, http_request *req, const char **why);

#endif
