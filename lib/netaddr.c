/* netaddr.c - socket address helpers (platform.h) that are the same code
 * on every platform: only the standard sockaddr structures. */
#ifndef _WIN32
#define _GNU_SOURCE
#include <netdb.h>
#endif
#include "platform.h"

#include <stdio.h>
#include <string.h>

int net_resolve(const char *host, int port, int dgram, net_addr *out, char *err, size_t errlen)
{
    struct addrinfo hints, *res;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = dgram ? SOCK_DGRAM : SOCK_STREAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        char text[240];
        net_resolve_error(rc, text, sizeof text);
        snprintf(err, errlen, "cannot resolve '%s': %s", host, text);
        return -1;
    }
    const struct addrinfo *pick = res;
    for (const struct addrinfo *ai = res; NET_RESOLVE_PREFER_IPV4 && ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    memcpy(&out->ss, pick->ai_addr, pick->ai_addrlen);
    out->len = (socklen_t)pick->ai_addrlen;
    freeaddrinfo(res);
    net_addr_unmap(out); /* ::ffff:127.0.0.1 is 127.0.0.1 */
    return 0;
}

void net_addr_str(const net_addr *a, char *buf, size_t len)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo((const struct sockaddr *)&a->ss, a->len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, len, "?");
        return;
    }
    if (a->ss.ss_family == AF_INET6)
        snprintf(buf, len, "[%s]:%s", host, port);
    else
        snprintf(buf, len, "%s:%s", host, port);
}

void net_addr_unmap(net_addr *a)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a->ss.ss_family != AF_INET6)
        return;
    const struct sockaddr_in6 *six = (const void *)&a->ss;
    if (memcmp(&six->sin6_addr, prefix, sizeof prefix) != 0)
        return;
    struct sockaddr_in four;
    memset(&four, 0, sizeof four);
    four.sin_family = AF_INET;
    four.sin_port = six->sin6_port;
    memcpy(&four.sin_addr, (const uint8_t *)&six->sin6_addr + 12, 4);
    memset(&a->ss, 0, sizeof a->ss);
    memcpy(&a->ss, &four, sizeof four);
    a->len = sizeof four;
}

int net_addr_equal(const net_addr *a, const net_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family) { /* the same only if one is IPv4-mapped */
        net_addr ua = *a, ub = *b;
        net_addr_unmap(&ua);
        net_addr_unmap(&ub);
        return ua.ss.ss_family == ub.ss.ss_family && net_addr_equal(&ua, &ub);
    }
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
        return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
    }
    return 0;
}

const char *net_addr_other_family(const net_addr *a)
{
    static const uint8_t zeros[16];
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *four = (const void *)&a->ss;
        if (four->sin_addr.s_addr == htonl(INADDR_ANY))
            return "::";
        return net_addr_is_loopback(a) ? "::1" : NULL;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *six = (const void *)&a->ss;
        if (!memcmp(&six->sin6_addr, zeros, 16))
            return "0.0.0.0";
        return net_addr_is_loopback(a) ? "127.0.0.1" : NULL;
    }
    return NULL;
}

int net_addr_is_loopback(const net_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const uint8_t *ip = (const uint8_t *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
        return ip[0] == 127;
    }
    if (a->ss.ss_family == AF_INET6) {
        static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr, lo6, 16) == 0;
    }
    return 0;
}
