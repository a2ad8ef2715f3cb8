/* machine.c - the text of /proc/loadavg and /proc/meminfo read as a slave
 * reports them (platform.h plat_machine_load): portable, so that every
 * platform's file and the unit tests share one parser. */
#include "platform.h"

#include <string.h>

/* "0.52 0.58 0.59 1/467 12345": the first field, x1000, at most three
 * decimals read (more are ignored), below MACHINE_LOAD_UNKNOWN. */
uint32_t loadavg_parse(const char *text)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return MACHINE_LOAD_UNKNOWN;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (uint64_t)(*p - '0')) > 4000000u)
            return MACHINE_LOAD_UNKNOWN;
    v *= 1000;
    if (*p == '.') {
        uint64_t scale = 100;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            v += (uint64_t)(*p - '0') * scale;
    }
    if (*p && *p != ' ' && *p != '\t' && *p != '\n')
        return MACHINE_LOAD_UNKNOWN;
    return (uint32_t)v;
}

/* One "Name:   123 kB" line's value in bytes, or MACHINE_MEM_UNKNOWN. */
static uint64_t meminfo_field(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, name, n) != 0 || line[n] != ':')
            continue;
        const char *p = line + n + 1;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p < '0' || *p > '9')
            return MACHINE_MEM_UNKNOWN;
        uint64_t v = 0;
        for (; *p >= '0' && *p <= '9'; p++)
            if ((v = v * 10 + (uint64_t)(*p - '0')) > (UINT64_MAX >> 11))
                return MACHINE_MEM_UNKNOWN;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "kB", 2) == 0)
            v *= 1024;
        return v;
    }
    return MACHINE_MEM_UNKNOWN;
}

/* MemAvailable (Linux 3.14 on); a kernel without it: MemFree. */
uint64_t meminfo_parse(const char *text)
{
    uint64_t v = meminfo_field(text, "MemAvailable");
    return v != MACHINE_MEM_UNKNOWN ? v : meminfo_field(text, "MemFree");
}
