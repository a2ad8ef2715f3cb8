/* netaddr.c - socket address helpers (platform.h) that are the same code
 * on every platform: only the standard sockaddr structures. */
#ifndef _WIN32
#define _GNU_SOURCE
#include <netdb.h>
#endif
#include "platform.h"

#include <stdio.h>
#include <string.h>

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

int net_addr_equal(const net_addr *a, const net_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return 0;
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
