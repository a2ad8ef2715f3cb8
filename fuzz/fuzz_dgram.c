/* Fuzz target: every datagram decoder a slave or a master runs on input
 * from the network, and the bodies carried inside. */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const hmac_key *key = fuzz_key();
    dgram d;
    const char *why = NULL;
    if (dgram_decode(data, size, &d, &why) < 0)
        return 0;
    if (d.flags & DGRAM_FLAG_AUTH)
        (void)dgram_verify(data, &d, key);
    if (d.payload && d.offset == 0 && d.payload_len == d.total) { /* a whole message in one fragment */
        CommandRequest req;
        (void)job_request_decode(d.payload, d.payload_len, &req);
        breader r;
        CommandResult res;
        br_init(&r, d.payload, d.payload_len);
        (void)result_decode(&r, &res);
    }
    return 0;
}
