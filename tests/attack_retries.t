#!/usr/bin/env bash
# Attacks on --retries / --timeout N% / -j N%: hostile OPTIONS frames
# (tests/frame_tool.py) are refused with an ERROR naming what is wrong,
# and the master keeps serving.
. "$(dirname "$0")/lib.sh"
cluster 1 -j 2
FT="python3 $TOP/tests/frame_tool.py"

# opt KEY LEN-HEX VALUE-HEX: a frame_tool session sending that OPTIONS after a new batch
opt() {
    $FT "$MASTER_PORT" hello attach:new "options:$1" submit:1:true end:1 until:BYE 2>&1
}
n=0
# HEX:NAMED:WHAT: the ERROR names NAMED (the option, its key)
for bad in "04000400000000:--retries:--retries 0" "04000400000065:--retries:--retries 101" \
           "040004ffffffff:--retries:--retries 2^32-1" "05000400000000:--timeout N%:--timeout 0%" \
           "0500040000:--timeout N%:--timeout N% short" "090005000000000a:-j:-j of form 0" \
           "090005040000000a:-j:-j of form 4" "090005010010000000:-j:-j +N over 10^6" "0900020100:-j:-j short" \
           "01000703000000000001:--halt:--halt when 3"; do
    hex=${bad%%:*} what=${bad#*:} named=${what%%:*} what=${what#*:}
    out=$(opt "$hex")
    n=$((n+1))
    check "hostile OPTIONS ($what): an ERROR naming $named" grep -qF "ERROR malformed OPTIONS: $named (key ${hex:1:1})" <<<"$out"
    check "hostile OPTIONS ($what): no command run" test "$(grep -c '^RESULT' <<<"$out")" = 0
done
out=$(opt 050004ffffffff)
check "--timeout 4294967295% (large, not malformed): served" grep -q '^RESULT seq=1 .*exit=0' <<<"$out"
run_client -q - <<<"echo still"
is "$RC/$(cat "$T/out")" "0/still" "the master still serves after $n hostile OPTIONS"
done_testing
