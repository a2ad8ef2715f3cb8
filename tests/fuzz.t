#!/usr/bin/env bash
# The kept fuzzing corpus (fuzz/corpus/*: seeds and every input a fuzzing
# run found interesting or crashing) replayed through each fuzz target,
# built as a plain program: a regression test in every build.
. "$(dirname "$0")/lib.sh"
for target in dgram frame conf cmdfile slave master journal http; do
    bin=$TOOLS/fuzz_$target
    [ -x "$bin" ] || bail "$bin not built (make check-programs)"
    rc=0
    $WRAP "$bin" "$TOP/fuzz/corpus/$target" >"$T/$target.tap" 2>&1 || rc=$?
    n=$(grep -c '^ok' "$T/$target.tap")
    ! grep -q '^not ok' "$T/$target.tap" && [ "$rc" = 0 ] && [ "$n" -gt 0 ]
    ok $? "fuzz target $target: $n corpus inputs, no fault"
done
done_testing
