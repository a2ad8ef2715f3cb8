/* Fuzz target: every datagram decoder a slave or a master runs on input
 * from the network, and the bodies carried inside. A sealed input meets
 * dgram_open's refusal (a fixed key: the tag is wrong, nothing touched);
 * then the input, sealed with that key, goes through dgram_open's success
 * path into the field decoders, as an authentic datagram would. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"
#include "proto.h"

static void bodies(const dgram *d)
{
    if (d->payload && d->offset == 0 && d->payload_len == d->total) { /* a whole message in one fragment */
        CommandRequest req;
        (void)job_request_decode(d->payload, d->payload_len, &req);
        breader r;
        CommandResult res;
        br_init(&r, d->payload, d->payload_len);
        (void)result_decode(&r, &res);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static aead_key key = {{'f', 'u', 'z', 'z'}};
    static uint8_t copy[DGRAM_MAX + 64];
    dgram d;
    const char *why = NULL;
    if (size > sizeof copy)
        return 0;
    memcpy(copy, data, size);
    if (dgram_decode(copy, size, &d, &why) == 0) {
        if (d.flags & DGRAM_FLAG_AUTH) {
            if (dgram_open(copy, &d, &key, &why) != -2 || memcmp(copy, data, size) != 0)
                abort(); /* a random tag opened, or a refused datagram was changed */
        } else
            bodies(&d);
    }
    /* the same bytes as the fields of an authentic sealed datagram */
    if (size < DGRAM_HEADER_LEN + DGRAM_TAG_LEN)
        return 0;
    memcpy(copy, data, size);
    copy[4] = DGRAM_FLAG_AUTH;
    uint64_t seq = (uint64_t)get_u32(copy + 21) << 32 | get_u32(copy + 25);
    auth_seal(&key, seq, copy, DGRAM_HEADER_LEN, copy + DGRAM_HEADER_LEN, size - DGRAM_HEADER_LEN - DGRAM_TAG_LEN,
              copy + size - DGRAM_TAG_LEN);
    if (dgram_decode(copy, size, &d, &why) == 0) {
        int r = dgram_open(copy, &d, &key, &why);
        if (r == -2)
            abort(); /* sealed with the key, it must open */
        if (r == 0)
            bodies(&d);
    }
    return 0;
}
