/*
 * http.c - the head of an HTTP/1.x request (RFC 9112), parsed in place.
 * Strict where leniency would hide a confused peer (no obs-fold, no space
 * before a colon, one Host), lenient only where RFC 9112 allows (a bare
 * LF ends a line). It never reads past n and never allocates: the master
 * calls it on every byte anyone sends to --http, and fuzz/fuzz_http.c
 * calls it on everything else.
 */
#include "http.h"

#include <string.h>

/* RFC 9110 5.6.2: tchar */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int name_is(const char *p, size_t n, const char *name)
{
    if (strlen(name) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char a = p[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* The line at p (of at most n bytes): its length without the line end in
 * *len; returns the bytes through the LF, 0 if no LF yet. */
static size_t line_at(const char *p, size_t n, size_t *len)
{
    const char *lf = memchr(p, '\n', n);
    if (!lf)
        return 0;
    *len = (size_t)(lf - p);
    if (*len && p[*len - 1] == '\r')
        (*len)--;
    return (size_t)(lf - p) + 1;
}

#define FAIL(status, text) do { *why = (text); return -(status); } while (0)

static int request_line(const char *p, size_t len, http_request *req, const char **why)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= len || p[i] != ' ')
        FAIL(400, "the request line is not METHOD TARGET HTTP/1.x");
    if (i == 3 && !memcmp(p, "GET", 3))
        req->method = HTTP_GET;
    else if (i == 4 && !memcmp(p, "HEAD", 4))
        req->method = HTTP_HEAD_METHOD;
    else
        req->method = HTTP_OTHER;
    size_t t = ++i;
    while (i < len && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7F)
        i++;
    if (i == t || i >= len || p[i] != ' ')
        FAIL(400, "the request line is not METHOD TARGET HTTP/1.x");
    if (p[t] != '/')
        FAIL(400, "the target is not a path (origin-form, RFC 9112 3.2.1)");
    req->path = p + t;
    const char *q = memchr(req->path, '?', i - t);
    req->path_len = q ? (size_t)(q - req->path) : i - t;
    const char *v = p + i + 1;
    size_t vlen = len - i - 1;
    if (vlen != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
        FAIL(400, "the request line does not end in HTTP/1.x");
    if (v[5] != '1')
        FAIL(505, "only HTTP/1.0 and HTTP/1.1 are served");
    req->minor = v[7] - '0';
    return 0;
}

static int header_line(const char *p, size_t len, http_request *req, const char **why)
{
    if (p[0] == ' ' || p[0] == '\t')
        FAIL(400, "a folded header line (obs-fold, RFC 9112 5.2)");
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= len || p[i] != ':')
        FAIL(400, "a header line is not NAME: VALUE");
    size_t name_len = i++;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t end = len;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t'))
        end--;
    for (size_t k = i; k < end; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            FAIL(400, "a control character in a header value");
    }
    if (name_is(p, name_len, "host")) {
        if (req->host)
            FAIL(400, "two Host header fields");
        req->host = p + i;
        req->host_len = end - i;
    } else if (name_is(p, name_len, "authorization")) {
        if (req->authorization)
            FAIL(400, "two Authorization header fields");
        req->authorization = p + i;
        req->authorization_len = end - i;
    }
    return 0;
}

int http_parse_request(const char *buf, size_t n, http_request *req, const char **why)
{
    memset(req, 0, sizeof *req);
    *why = NULL;
    size_t limit = n < HTTP_HEAD_MAX ? n : HTTP_HEAD_MAX;
    size_t pos = 0, len, step;
    /* RFC 9112 2.2: empty lines before the request line are ignored */
    while ((step = line_at(buf + pos, limit - pos, &len)) && len == 0)
        pos += step;
    if (!step)
        goto incomplete;
    if (memchr(buf + pos, 0, len))
        FAIL(400, "a NUL byte in the request line");
    int rc = request_line(buf + pos, len, req, why);
    if (rc)
        return rc;
    pos += step;
    for (int fields = 0;; fields++) {
        step = line_at(buf + pos, limit - pos, &len);
        if (!step)
            goto incomplete;
        if (memchr(buf + pos, 0, len))
            FAIL(400, "a NUL byte in a header line");
        if (len == 0)
            break;
        if (fields == HTTP_HEADERS_MAX)
            FAIL(431, "more header fields than this server reads");
        if ((rc = header_line(buf + pos, len, req, why)))
            return rc;
        pos += step;
    }
    if (req->minor >= 1 && !req->host)
        FAIL(400, "an HTTP/1.1 request without a Host header field");
    return (int)(pos + step);
incomplete:
    if (n >= HTTP_HEAD_MAX)
        FAIL(431, "the request head is longer than 8192 bytes");
    return 0;
}
