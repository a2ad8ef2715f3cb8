/*
 * master_addr.c - --master HOST:PORT and $SMP_MASTER (master_addr.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/master_addr.h"

int master_addr_parse(const char *what, const char *text, char **host, int *port, char *err, size_t errlen)
{
    const char *h = text, *colon;
    size_t hl;
    if (text[0] == '[') { /* [IPv6]:PORT */
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "%s '%s': expected [ADDRESS]:PORT for an IPv6 address", what, text);
            return -1;
        }
        h = text + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon) {
            snprintf(err, errlen, "%s '%s': expected HOST:PORT", what, text);
            return -1;
        }
        hl = (size_t)(colon - text);
        if (memchr(text, ':', hl)) {
            snprintf(err, errlen, "%s '%s': an IPv6 address goes in brackets: [ADDRESS]:PORT", what, text);
            return -1;
        }
    }
    if (hl == 0) {
        snprintf(err, errlen, "%s '%s': expected HOST:PORT (the host is empty)", what, text);
        return -1;
    }
    const char *p = colon + 1;
    long v = 0;
    if (!*p) {
        snprintf(err, errlen, "%s '%s': expected HOST:PORT (the port is empty)", what, text);
        return -1;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 65535) {
            snprintf(err, errlen, "%s '%s': the port is not a number from 1 to 65535", what, text);
            return -1;
        }
    }
    if (v == 0) {
        snprintf(err, errlen, "%s '%s': the port is not a number from 1 to 65535", what, text);
        return -1;
    }
    *host = malloc(hl + 1);
    if (!*host) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(*host, h, hl);
    (*host)[hl] = 0;
    *port = (int)v;
    return 0;
}
