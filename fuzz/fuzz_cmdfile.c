/* Fuzz target: the client's command-file reader, fed in chunks whose
 * sizes come from the input too (lines cut anywhere). */
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static line_reader lr;
    if (!lr.buf && line_reader_init(&lr) < 0)
        return 0;
    lr.len = 0, lr.overflow = 0, lr.returned = 0, lr.lineno = 0;
    size_t chunk = size ? (size_t)data[0] % 64 + 1 : 1;
    for (size_t off = size ? 1 : 0;; off += chunk) {
        size_t take = off >= size ? 0 : (size - off < chunk ? size - off : chunk), pos = 0;
        const char *line;
        size_t len;
        int truncated;
        while (line_reader_next(&lr, (const char *)data + off, take, &pos, take == 0, &line, &len, &truncated))
            (void)cmd_line_classify(line, len, truncated);
        if (take == 0)
            break;
    }
    return 0;
}
