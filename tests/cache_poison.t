#!/usr/bin/env bash
# cache_poison.t: the result cache keyed by the batch's OPTIONS at delivery, not
# at dispatch. A client replaces its OPTIONS (a second F_OPTIONS frame,
# accepted at any time) while its --cache command runs with --wd sub: the
# result of the command (it ends in `pwd`) in sub is stored under the key of the same
# line without --wd. A later honest `client --cache` of that line (no --wd) gets "…/place/sub",
# which it never ran in. What should happen: the stored key is the one the
# command was dispatched with (or OPTIONS after a SUBMIT refused).
. "$(dirname "$0")/lib.sh"
FT="python3 $TOP/tests/frame_tool.py"

mkdir -p "$T/place/sub"
start_slave s1 -j 2 --chdir "$T/place"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --state-dir "$T/state"
wait_slaves_up master 1 || bail "slave not up"

# OPTIONS: OPTION_CACHE (13, empty) and OPTION_WD (7) "sub"; then OPTION_CACHE alone.
with_wd=0d0000070003$(printf sub | od -An -tx1 | tr -d ' \n')
$FT "$MASTER_PORT" hello attach:new options:$with_wd \
    submit:1:"touch $T/started; sleep 1; pwd" wait:"$T/started" options:0d0000 end:1 until:BYE \
    >"$T/ft.out" 2>&1
check "the hostile batch ran pwd in sub" grep -q "stdout=.*place/sub" "$T/ft.out"

echo "touch $T/started; sleep 1; pwd" >"$T/pwd.txt"
run_client --cache "$T/pwd.txt"
is "$RC/$(cat "$T/out")" "0/$T/place" "an honest --cache of the same line without --wd prints the slave's directory"
check "... and was not answered from the cache" sh -c "! grep -q cached '$T/err'"
done_testing
