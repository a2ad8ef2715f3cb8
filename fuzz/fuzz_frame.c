/* Fuzz target: a TCP byte stream cut into frames as the master and the
 * client do, with each frame's fields decoded as its receiver would. */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const hmac_key *key = fuzz_key();
    size_t pos = 0;
    uint64_t seq = 0;
    while (pos < size) {
        uint8_t type;
        breader f;
        long used = frame_parse(data + pos, size - pos, FRAME_MAX_FROM_MASTER, &type, &f);
        if (used <= 0)
            break;
        pos += (size_t)used;
        breader tagged = f;
        (void)frame_check_tag(&tagged, type, key, seq++);
        switch (type) {
        case F_HELLO:
            br_u32(&f), br_u16(&f), br_u16(&f), br_u32(&f), br_u32(&f);
            br_bytes(&f, 32);
            break;
        case F_WELCOME:
            br_u16(&f), br_u16(&f), br_u16(&f), br_u32(&f), br_u16(&f);
            br_bytes(&f, 32);
            break;
        case F_SUBMIT:
        case F_END:
            br_u32(&f);
            br_bytes(&f, br_left(&f));
            break;
        case F_RESULT: {
            CommandResult r;
            br_u32(&f);
            uint16_t hl = br_u16(&f);
            br_bytes(&f, hl);
            (void)result_decode(&f, &r);
            break;
        }
        case F_NOTICE:
        case F_ERROR:
            br_bytes(&f, br_u16(&f));
            break;
        }
    }
    return 0;
}
