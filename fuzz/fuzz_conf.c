/* Fuzz target: slaves.conf lines, and the slave policy's patterns (the
 * input's first line is a pattern, the rest a command): both split by
 * policy_split, matched by policy_match, the command's words quoted for
 * Windows by win_command_line. */
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
    const char *nl = memchr(p, '\n', size);
    if (nl) {
        char **pattern = NULL, **words = NULL, why[300];
        size_t plen = (size_t)(nl - p);
        int np = policy_split(p, plen, 1, &pattern, why, sizeof why);
        int nw = policy_split(nl + 1, size - plen - 1, 0, &words, why, sizeof why);
        if (np > 0 && (pattern[np] != NULL || pattern[np - 1] == NULL))
            abort();
        if (nw > 0) {
            if (words[nw] != NULL || words[nw - 1] == NULL)
                abort();
            char *line = win_command_line(words);
            free(line);
        }
        if (np > 0) { /* why is bounded: a wrapper's name and a word of the pattern in it */
            char wwhy[600];
            (void)policy_wrapper_check(pattern, wwhy, sizeof wwhy);
        }
        if (np > 0 && nw > 0)
            (void)policy_match(pattern, words, POLICY_OPTION_LEADS_WINDOWS);
        free(pattern);
        free(words);
    }
    return 0;
}
