#!/usr/bin/env bash
# crypto_ct.t - the AEAD, Poly1305 and X25519 take the same path whatever
# their secrets: unit_crypto --constant-time under memcheck marks the key,
# the text and the scalar undefined, and any branch or memory index that
# depends on them is an error (ctgrind's trick). Always the plain build:
# valgrind cannot run an ASan one.
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null 2>&1 || skip_all "needs valgrind: apt-get install valgrind"
U=$TOP/build/tests/unit_crypto
[ -x "$U" ] || bail "$U is not built (make check-programs)"
rc=0
valgrind -q --error-exitcode=3 "$U" --constant-time >"$T/out" 2>"$T/err" || rc=$?
is "$rc" 0 "unit_crypto --constant-time under memcheck: exit 0 ($(head -c 300 "$T/err"))"
check "the check ran and passed: $(grep -m1 'constant time' "$T/out")" \
    grep -q '^ok 1 - constant time: no branch or index' "$T/out"
done_testing
