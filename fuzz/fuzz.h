/* fuzz/fuzz.h - what the fuzz targets share. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed key, so that tag checks run on every input (and mostly fail). */
static inline const hmac_key *fuzz_key(void)
{
    static hmac_key key;
    static int ready;
    if (!ready) {
        hmac_key_init(&key, "fuzzing-key-fuzzing-key-fuzzing-key", 35);
        ready = 1;
    }
    return &key;
}

#endif
