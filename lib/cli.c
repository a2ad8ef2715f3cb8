/* cli.c - number parsing for the command lines (see cli.h). */
#include "cli.h"
#include "log.h"
#include "platform.h"
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

long cli_number(const char *option, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    /* strtol also reads " 3" and "+3" */
    int digits = (text[0] >= '0' && text[0] <= '9') || (text[0] == '-' && text[1] >= '0' && text[1] <= '9');
    if (errno || end == text || *end || !digits || v < min || v > max)
        die("%s: '%s' is not a number from %ld to %ld", option, text, min, max);
    return v;
}

uint32_t cli_seconds(const char *option, const char *text, uint32_t max_ms)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    /* decimal only: strtod also reads " 5", "+5", "0x10", "0x1p3" */
    int decimal = (text[0] >= '0' && text[0] <= '9') || text[0] == '.';
    if (errno || end == text || *end || !decimal || strpbrk(text, "xXpP") || !(v >= 0) || v * 1000.0 > max_ms)
        die("%s: '%s' is not a number of seconds from 0 to %u", option, text, max_ms / 1000);
    if (v > 0 && v * 1000.0 + 0.5 < 1.0) /* not read as 0 ("never", "none") without a word */
        die("%s '%s': expected at least 0.001 seconds (it counts in milliseconds)", option, text);
    return (uint32_t)(v * 1000.0 + 0.5);
}

uint64_t cli_duration(const char *option, const char *text, uint64_t max_ms)
{
    static const struct { const char *unit; double ms; } units[] = {
        {"", 1000.0}, {"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}, {"d", 86400000.0}};
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    int decimal = (text[0] >= '0' && text[0] <= '9') || text[0] == '.';
    double ms = -1;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcmp(end, units[i].unit))
            ms = v * units[i].ms;
    if (errno || end == text || !decimal || strpbrk(text, "xXpP") || !(v >= 0) || !(ms >= 0) || ms > (double)max_ms)
        die("%s: '%s' is not a duration from 0 to %llu seconds (a number of seconds, or with ms, s, m, h or d "
            "after it: 90s, 1.5h)", option, text, (unsigned long long)(max_ms / 1000));
    if (ms > 0 && ms + 0.5 < 1.0)
        die("%s '%s': expected at least 1 ms (it counts in milliseconds)", option, text);
    return (uint64_t)(ms + 0.5);
}

uint32_t cli_bytes(const char *option, const char *text, uint32_t min, uint32_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end == 'K' || *end == 'k')
        v *= 1024, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1024 * 1024, end++;
    if (errno || end == text || *end || text[0] == '-' || v < min || v > max)
        die("%s: '%s' is not a size from %u to %u bytes (K and M suffixes allowed)", option, text, min, max);
    return (uint32_t)v;
}

uint64_t cli_size(const char *option, const char *text, uint64_t max)
{
    static const char units[] = "KMGT";
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    const char *u = *end && end != text ? strchr(units, *end >= 'a' ? *end - 32 : *end) : NULL;
    if (u && !errno) {
        for (long i = 0; i <= u - units; i++)
            v = v > ~0ull / 1024 ? (errno = ERANGE, v) : v * 1024;
        end++;
    }
    if (errno || end == text || *end || text[0] == '-' || v > max)
        die("%s: '%s' is not a size from 0 to %llu bytes (K, M, G and T suffixes allowed)", option, text,
            (unsigned long long)max);
    return (uint64_t)v;
}

void cli_check_bind(const char *bind, int keyed, int insecure)
{
    net_addr a;
    char err[256];
    if (net_resolve(bind, 0, 1, &a, err, sizeof err) < 0)
        die("--bind: %s", err);
    if (net_addr_is_loopback(&a) || keyed)
        return;
    if (!insecure)
        die("refusing to listen on %s without a key: anyone who can reach it could run commands. Give a key "
            "(--key-file, see doc/security.md), or --insecure on a network you trust",
            bind);
    LOG(LOG_WARN, "INSECURE: listening on %s without a key: anyone who can reach this port can run commands", bind);
}

int cli_port(const char *text)
{
    return (int)cli_number("port", text, 0, 65535);
}

simulate *cli_simulate(const char *text, int master)
{
    static simulate s;
    char err[300];
    int seeded;
    if (simulate_parse(&s, text, &seeded, err, sizeof err) < 0 || simulate_check_role(&s, master, err, sizeof err) < 0)
        die("%s", err);
    if (!seeded) {
        uint32_t seed;
        if (plat_random(&seed, sizeof seed) < 0)
            die("--simulate: no random source for a seed: give seed=N");
        simulate_seed(&s, seed);
    }
    return &s;
}

void cli_simulate_warn(const simulate *s)
{
    char what[160];
    simulate_describe(s, what, sizeof what);
    LOG(LOG_WARN, "--simulate %s: received datagrams are dropped, duplicated and reordered on purpose", what);
}
