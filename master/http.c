/*
 * http.c - serveur_maitre --http ADDR:PORT: a read-only HTTP/1.1 server in
 * the master's own event loop, for people and Prometheus (doc/monitoring.md):
 *
 *   /             the live page (page.c): it polls /status.json every second
 *   /status.json  what client --status --json prints (lib/status.c)
 *   /metrics      the Prometheus text format (metrics.c)
 *
 * One request per connection (Connection: close), at most HTTP_CONNS at
 * once, a head of at most HTTP_HEAD_MAX bytes (lib/http.c parses it), and
 * HTTP_WAIT_MS to send it and take the answer: nobody can make the loop
 * wait or the master grow. A listener beyond loopback needs the master's
 * key and a bearer token (--http-token); on loopback, a Host header that
 * is not an address of ours is refused (a DNS-rebinding page cannot read
 * the command lines).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http.h"
#include "page.h"
#include "sha256.h"
#include "status.h"

#define HTTP_WAIT_MS 10000u        /* to send the request and take the answer */
#define HTTP_DRAIN_MS 2000u        /* after the answer, what the peer still sends is read and dropped */
#define HTTP_DRAIN_MAX (1u << 20)  /* ... at most this much, one read a turn */
#define HTTP_ANSWER_MAX (64u << 20) /* a bigger answer is a 500 (status.json of very many batches) */
#define HTTP_REUSE_SHARE 20u       /* an answer is reused for 20 times what it took to make: a flood of */
#define HTTP_REUSE_MAX_US 1000000u /* requests costs the loop 1/20 of its time, for answers at most 1 s old */
#define HTTP_TOKEN_MIN 16
#define HTTP_TOKEN_MAX 512

enum http_conn_state { HC_FREE, HC_READING, HC_WRITING, HC_DRAINING };

typedef struct {
    enum http_conn_state state;
    sock_t sock;
    uint64_t since_ms; /* accepted; draining: since the answer went */
    char peer[80];
    int code; /* of the answer, for the log */
    size_t inlen; /* of in; draining: the bytes read and dropped */
    char in[HTTP_HEAD_MAX];
    bwriter out;
} http_conn;

struct http_server {
    sock_t listener;
    char host[256];  /* --http's host, as given: a Host header may name it */
    char url[300];   /* for the log and the refusals */
    int need_token;
    uint8_t token_hash[SHA256_LEN];
    http_conn conns[HTTP_CONNS];
    struct {                  /* the last /status.json ([0]) and /metrics ([1]) */
        bwriter body;
        uint64_t made_us, cost_us; /* made_us 0: none */
    } last[2];
};

/* ---------------------------------------------------------- start, stop --- */

static int read_token(http_server *h, const char *path)
{
    uint8_t token[HTTP_TOKEN_MAX + 2];
    size_t n;
    char err[512];
    if (secret_file_read(path, "--http-token file", token, HTTP_TOKEN_MAX, &n, err, sizeof err) < 0) {
        LOG(LOG_ERROR, "%s", err);
        return -1;
    }
    /* RFC 6750 2.1: b64token, so that it goes in a header as it is */
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=", token[i]) || !token[i]) {
            LOG(LOG_ERROR, "--http-token file '%s': byte %zu is not a letter, digit or one of -._~+/= (RFC 6750 "
                "b64token)", path, i + 1);
            return -1;
        }
    if (n < HTTP_TOKEN_MIN) {
        LOG(LOG_ERROR, "--http-token file '%s': the token is %zu bytes, at least %d are needed (for example: head -c "
            "24 /dev/urandom | base64 > %s)", path, n, HTTP_TOKEN_MIN, path);
        return -1;
    }
    sha256(token, n, h->token_hash);
    memset(token, 0, sizeof token);
    h->need_token = 1;
    return 0;
}

int http_open(master *m)
{
    const master_config *cfg = m->cfg;
    net_addr a;
    char err[256];
    if (net_resolve(cfg->http_host, cfg->http_port, 0, &a, err, sizeof err) < 0) {
        LOG(LOG_ERROR, "--http %s: %s", cfg->http_host, err);
        return -1;
    }
    int loopback = net_addr_is_loopback(&a);
    if (!loopback && !m->auth->enabled) {
        LOG(LOG_ERROR, "refusing --http on %s without a key: the pages show every command line. Listen on loopback "
            "(--http 127.0.0.1:PORT), or give the master a key and --http-token FILE (doc/monitoring.md)",
            cfg->http_host);
        return -1;
    }
    if (!loopback && !cfg->http_token_file) {
        LOG(LOG_ERROR, "--http on %s (beyond loopback) needs --http-token FILE: a bearer token for /metrics and "
            "/status.json (doc/monitoring.md)", cfg->http_host);
        return -1;
    }
    http_server *h = calloc(1, sizeof *h);
    if (!h)
        die("out of memory");
    h->listener = SOCK_INVALID;
    m->http = h;
    snprintf(h->host, sizeof h->host, "%s", cfg->http_host);
    if (cfg->http_token_file && read_token(h, cfg->http_token_file) < 0)
        return -1;
    h->listener = net_tcp_listen(cfg->http_host, cfg->http_port, err, sizeof err);
    if (h->listener == SOCK_INVALID) {
        LOG(LOG_ERROR, "--http: cannot listen on TCP %s:%d: %s", cfg->http_host, cfg->http_port, err);
        return -1;
    }
    int v6 = strchr(cfg->http_host, ':') != NULL;
    snprintf(h->url, sizeof h->url, "http://%s%s%s:%d/", v6 ? "[" : "", cfg->http_host, v6 ? "]" : "",
             net_local_port(h->listener));
    for (int i = 0; i < HTTP_CONNS; i++)
        h->conns[i].sock = SOCK_INVALID;
    LOG(LOG_INFO, "monitoring on %s%s", h->url, h->need_token ? " (/metrics and /status.json need the token)" : "");
    return 0;
}

static void conn_close(http_conn *c)
{
    net_close(c->sock);
    bw_free(&c->out);
    c->sock = SOCK_INVALID;
    c->state = HC_FREE;
    c->inlen = 0;
}

void http_close(master *m)
{
    http_server *h = m->http;
    if (!h)
        return;
    for (int i = 0; i < HTTP_CONNS; i++)
        if (h->conns[i].state != HC_FREE)
            conn_close(&h->conns[i]);
    net_close(h->listener);
    bw_free(&h->last[0].body);
    bw_free(&h->last[1].body);
    free(h);
    m->http = NULL;
}

/* ------------------------------------------------------------ answers --- */

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

/* The page runs its own script and reads its own origin, nothing else. */
#define PAGE_CSP "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; " \
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The answer's head, then (but for HEAD) its body, into c->out. */
static void answer(http_conn *c, int head_only, int code, const char *type, const char *extra, const void *body,
                   size_t len)
{
    bw_init(&c->out, HTTP_ANSWER_MAX + 4096);
    bw_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
              "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n%s\r\n",
              code, reason(code), type, len, extra ? extra : "");
    if (!head_only)
        bw_bytes(&c->out, body, len);
    c->code = code;
    c->state = HC_WRITING;
}

static void answer_text(http_conn *c, int head_only, int code, const char *extra, const char *text)
{
    char body[600];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", code, reason(code), text);
    answer(c, head_only, code, "text/plain; charset=utf-8", extra, body,
           n < 0 ? 0 : (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
}

static int name_eq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] + 32) : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + 32) : b[i];
        if (x != y)
            return 0;
    }
    return 1;
}

/* A Host that names this server: an IP literal, localhost, or --http's
 * host as given. Anything else reached a loopback port through a name
 * that is not ours: a DNS-rebinding page, refused. */
static int host_is_ours(const http_server *h, const char *host, size_t n)
{
    if (n && host[0] == '[') /* [v6]:port */
        return memchr(host, ']', n) != NULL;
    const char *colon = memchr(host, ':', n);
    if (colon)
        n = (size_t)(colon - host);
    int literal = n > 0;
    for (size_t i = 0; i < n; i++)
        literal &= (host[i] >= '0' && host[i] <= '9') || host[i] == '.';
    return literal || name_eq(host, n, "localhost") || name_eq(host, n, h->host);
}

/* Authorization: Bearer TOKEN, compared by hash in constant time. */
static int token_ok(const http_server *h, const http_request *rq)
{
    if (!h->need_token)
        return 1;
    const char *v = rq->authorization;
    size_t n = rq->authorization_len;
    if (!v || n < 7 || !name_eq(v, 6, "bearer") || v[6] != ' ')
        return 0;
    size_t i = 7;
    while (i < n && v[i] == ' ')
        i++;
    uint8_t got[SHA256_LEN];
    sha256(v + i, n - i, got);
    return equal_const_time(got, h->token_hash, SHA256_LEN);
}

/* status.json or metrics: the snapshot rendered (a 500 if memory fails),
 * or the last one while it is fresh: rendering walks every slave, command
 * and batch, and one request after another must not take the loop from
 * the commands (doc/monitoring.md, "Cost"). */
static void answer_status(master *m, http_conn *c, int head_only, int metrics)
{
    http_server *h = m->http;
    bwriter *body = &h->last[metrics].body;
    uint64_t now = clock_us(), *made = &h->last[metrics].made_us, *cost = &h->last[metrics].cost_us;
    uint64_t keep = *cost * HTTP_REUSE_SHARE < HTTP_REUSE_MAX_US ? *cost * HTTP_REUSE_SHARE : HTTP_REUSE_MAX_US;
    if (!*made || body->error || now - *made >= keep) {
        status_snapshot snap;
        bw_free(body);
        bw_init(body, HTTP_ANSWER_MAX);
        if (status_take(m, &snap, clock_ms()) == 0) {
            if (metrics)
                metrics_write(body, m, &snap);
            else
                status_write_json(body, &snap);
        } else {
            body->error = 1;
        }
        status_free(&snap);
        *made = now;
        *cost = clock_us() - now;
    }
    if (body->error)
        answer_text(c, head_only, 500, NULL, "the answer is too large or memory ran out");
    else if (metrics)
        answer(c, head_only, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, bw_head(body), bw_pending(body));
    else
        answer(c, head_only, 200, "application/json", NULL, bw_head(body), bw_pending(body));
}

/* A whole request head came: route it. */
static void respond(master *m, http_conn *c, const http_request *rq)
{
    http_server *h = m->http;
    int head_only = rq->method == HTTP_HEAD_METHOD;
    const char *path = rq->path;
    size_t n = rq->path_len;
    int page = (n == 1 && path[0] == '/') || name_eq(path, n, "/index.html");
    int status_json = name_eq(path, n, "/status.json"), metrics = name_eq(path, n, "/metrics");
    char why[400];
    if (rq->method == HTTP_OTHER) {
        answer_text(c, 0, 405, "Allow: GET, HEAD\r\n", "this server only reads: GET or HEAD");
    } else if (!h->need_token && rq->host && !host_is_ours(h, rq->host, rq->host_len)) {
        snprintf(why, sizeof why, "Host '%.*s' is not this server (a guard against DNS rebinding): use %s",
                 (int)(rq->host_len < 200 ? rq->host_len : 200), rq->host, h->url);
        answer_text(c, head_only, 403, NULL, why);
    } else if (page) {
        answer(c, head_only, 200, "text/html; charset=utf-8", "Content-Security-Policy: " PAGE_CSP "\r\n",
               http_live_page, http_live_page_len);
    } else if (!status_json && !metrics) {
        answer_text(c, head_only, 404, NULL, "here are /, /status.json and /metrics");
    } else if (!token_ok(h, rq)) {
        answer_text(c, head_only, 401, "WWW-Authenticate: Bearer realm=\"serveur_maitre\"\r\n",
                    "this master needs its token: Authorization: Bearer TOKEN (the page: open /#token=TOKEN)");
    } else {
        answer_status(m, c, head_only, metrics);
    }
    LOG(LOG_DEBUG, "http: %s %s %.*s: %d", c->peer, rq->method == HTTP_GET ? "GET" : head_only ? "HEAD" : "?",
        (int)(n < 200 ? n : 200), path, c->code);
}

/* ------------------------------------------------------ the connections --- */

/* A new connection: a free slot, else the place of one that has its
 * answer (draining), else of the oldest still reading its request; when
 * all are taking answers, a 503 (best effort) and closed. */
static void http_accept(master *m)
{
    http_server *h = m->http;
    net_addr peer;
    sock_t s = net_tcp_accept(h->listener, &peer);
    if (s == SOCK_INVALID)
        return;
    http_conn *c = NULL;
    for (int pass = 0; pass < 3 && !c; pass++)
        for (int i = 0; i < HTTP_CONNS; i++) {
            http_conn *o = &h->conns[i];
            enum http_conn_state want = pass == 0 ? HC_FREE : pass == 1 ? HC_DRAINING : HC_READING;
            if (o->state == want && (!c || o->since_ms < c->since_ms))
                c = o;
        }
    if (!c) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n"
                                   "Retry-After: 1\r\n\r\n";
        (void)net_send(s, busy, sizeof busy - 1);
        net_close(s);
        return;
    }
    if (c->state != HC_FREE) {
        LOG(LOG_DEBUG, "http: %s closed to make room", c->peer);
        conn_close(c);
    }
    c->sock = s;
    c->state = HC_READING;
    c->since_ms = clock_ms();
    c->inlen = 0;
    net_addr_str(&peer, c->peer, sizeof c->peer);
}

static void conn_read(master *m, http_conn *c)
{
    if (c->state == HC_DRAINING) { /* the peer's leftovers, dropped: a close now could reset the answer */
        char sink[4096];
        long r = net_recv(c->sock, sink, sizeof sink);
        if (r != NET_AGAIN && (r <= 0 || (c->inlen += (size_t)r) > HTTP_DRAIN_MAX))
            conn_close(c); /* ended, or a peer that never stops: cut */
        return;
    }
    long r = net_recv(c->sock, c->in + c->inlen, sizeof c->in - c->inlen);
    if (r == NET_AGAIN)
        return;
    if (r <= 0) {
        conn_close(c);
        return;
    }
    c->inlen += (size_t)r;
    http_request rq;
    const char *why;
    int rc = http_parse_request(c->in, c->inlen, &rq, &why);
    if (rc == 0)
        return;
    if (rc < 0) {
        LOG(LOG_DEBUG, "http: %s: %d: %s", c->peer, -rc, why);
        answer_text(c, 0, -rc, NULL, why);
    } else {
        respond(m, c, &rq);
    }
}

static void conn_write(http_conn *c)
{
    while (bw_pending(&c->out)) {
        long n = net_send(c->sock, bw_head(&c->out), bw_pending(&c->out));
        if (n == NET_AGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        bw_consume(&c->out, (size_t)n);
    }
    bw_free(&c->out);
    net_shutdown_write(c->sock);
    c->state = HC_DRAINING;
    c->since_ms = clock_ms();
    c->inlen = 0; /* now what was drained */
}

/* ------------------------------------------------------ the loop's part --- */

void http_poll_add(master *m, poll_set *ps)
{
    http_server *h = m->http;
    ps->first_http = ps->n;
    if (!h)
        return;
    ps->http_conn[ps->n - ps->first_http] = -1;
    ps->pfds[ps->n++] = (net_pollfd){h->listener, NET_IN, 0};
    for (int i = 0; i < HTTP_CONNS; i++) {
        http_conn *c = &h->conns[i];
        if (c->state == HC_FREE)
            continue;
        ps->http_conn[ps->n - ps->first_http] = i;
        ps->pfds[ps->n++] = (net_pollfd){c->sock, c->state == HC_WRITING ? NET_OUT : NET_IN, 0};
    }
}

void http_on_events(master *m, poll_set *ps)
{
    http_server *h = m->http;
    if (!h)
        return;
    int accept = 0;
    for (int k = ps->first_http; k < ps->n; k++) {
        short ev = ps->pfds[k].revents;
        int i = ps->http_conn[k - ps->first_http];
        if (!ev)
            continue;
        if (i < 0) {
            accept = 1;
            continue;
        }
        http_conn *c = &h->conns[i];
        if (c->state == HC_READING || c->state == HC_DRAINING)
            conn_read(m, c);
        if (c->state == HC_WRITING) /* also just answered: try at once */
            conn_write(c);
    }
    if (accept) /* after the others: it may close one of them */
        http_accept(m);
}

uint64_t http_tick(master *m, uint64_t now_ms)
{
    http_server *h = m->http;
    uint64_t next = NO_DEADLINE;
    if (!h)
        return next;
    for (int i = 0; i < HTTP_CONNS; i++) {
        http_conn *c = &h->conns[i];
        if (c->state == HC_FREE)
            continue;
        uint64_t end = c->since_ms + (c->state == HC_DRAINING ? HTTP_DRAIN_MS : HTTP_WAIT_MS);
        if (now_ms >= end) {
            if (c->state != HC_DRAINING)
                LOG(LOG_DEBUG, "http: %s too slow (%u s): closed", c->peer, HTTP_WAIT_MS / 1000);
            conn_close(c);
            continue;
        }
        next = earliest(next, end);
    }
    return next;
}
