/*
 * master_addr.h - where the master is: the client's --master HOST:PORT
 * and $SMP_MASTER (the same syntax; an IPv6 address in brackets:
 * [::1]:6000), besides its positional HOST PORT.
 */
#ifndef MASTER_ADDR_H
#define MASTER_ADDR_H

#include <stddef.h>

/* Parses text (what: "--master", "$SMP_MASTER", for the message) into
 * host (malloc'd, brackets off) and port (1-65535). 0, or -1 with
 * "WHAT 'TEXT': what was wrong" in err. */
int master_addr_parse(const char *what, const char *text, char **host, int *port, char *err, size_t errlen);

#endif
