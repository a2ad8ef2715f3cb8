/* Fuzz target: slaves.conf lines, and the slave policy's glob patterns
 * (the input's first line is a pattern, the rest a command). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    int lineno = 0;
    for (size_t start = 0; start < size;) {
        const char *nl = memchr(p + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (p + start)) : size - start;
        slave_entry e;
        const char *why = NULL;
        (void)slaves_conf_line(p + start, len, ++lineno, &e, &why);
        start += len + 1;
    }
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    char *nl = strchr(copy, '\n');
    if (nl) {
        *nl = 0;
        (void)glob_match(copy, nl + 1);
    }
    free(copy);
    return 0;
}
