#!/usr/bin/env bash
# client --priority (OPTION_PRIORITY, master/sched.c): with one slot, a
# high-priority batch's commands start before the queued ones of a
# low-priority batch that was there first; with equal priorities they
# alternate (fair share, round robin). Aging (serveur_maitre --aging): a
# low batch waiting behind a long high one still gets slots before the
# high one is done; with --aging 0 it waits for the end. The order of
# starts is exact: each command appends its name to a file, one slot.
# Status shows the priorities. Bad values: refused, naming the option.
. "$(dirname "$0")/lib.sh"

start_slave s1 -j 1
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"

# master NAME [options]: a master of that slave, heard from
master() {
    start_master "$1" "$T/slaves.conf" --ephemeral "${@:2}"
    wait_slaves_up "$1" 1 || bail "slave not seen by master $1"
}

# lines FILE: its lines, one line
lines() { tr '\n' ' ' <"$1" | sed 's/ $//'; }

# 1. Priority: L (0) holds the slot with L1 (1 s) and 5 queued; H comes
#    with 3 commands: H's start right after L1, before L2.
#    run_pair ORDERFILE HPRIO: L then H, both waited for
run_pair() {
    local order=$1 hprio=$2 i
    : >"$order"
    { echo "echo L1 >>$order; sleep 1"; for i in 2 3 4 5 6; do echo "echo L$i >>$order"; done; } >"$T/l.txt"
    for i in 1 2 3; do echo "echo H$i >>$order"; done >"$T/h.txt"
    "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/l.txt" >"$T/l.out" 2>"$T/l.err" &
    local l=$!
    PIDS+=("$l")
    wait_for_line "$order" '^L1$' 20 >/dev/null || bail "L1 did not start"
    H_RC=0
    timeout 60 "$BIN/client" -q --priority "$hprio" 127.0.0.1 "$MASTER_PORT" "$T/h.txt" >"$T/h.out" 2>"$T/h.err" || H_RC=$?
    L_RC=0
    wait "$l" || L_RC=$?
}
master m1 --aging 0
run_pair "$T/order1" 5
is "$H_RC/$L_RC" "0/0" "both clients exit 0"
is "$(lines "$T/order1")" "L1 H1 H2 H3 L2 L3 L4 L5 L6" "--priority 5: its 3 commands start before the 5 queued ones of the batch at 0"
is "$(grep -c . "$T/l.out")" 0 "(the commands print nothing)"
# the control: equal priorities alternate, so the order above is the priority's doing
run_pair "$T/order0" 0
is "$(lines "$T/order0")" "L1 H1 L2 H2 L3 H3 L4 L5 L6" "equal priorities: round robin, as before"
# a negative priority waits for 0
run_pair "$T/orderm" -3
is "$(lines "$T/orderm")" "L1 L2 L3 L4 L5 L6 H1 H2 H3" "--priority -3 waits for the batch at 0"
stop_pid "$MASTER_PID"

# 2. Aging: H (priority 1) has 30 commands of 0.1 s; L (0) comes with 4.
#    With --aging 0.3 L gains 1 after 0.3 s of waiting: a tie, and round
#    robin gives it a slot; then it waits again. So L ends long before H.
#    run_aging ORDERFILE: H then L, both waited for
run_aging() {
    local order=$1 i
    : >"$order"
    for i in $(seq 1 30); do echo "echo H$i >>$order; sleep 0.1"; done >"$T/h2.txt"
    for i in 1 2 3 4; do echo "echo L$i >>$order"; done >"$T/l2.txt"
    "$BIN/client" -q --priority 1 127.0.0.1 "$MASTER_PORT" "$T/h2.txt" >"$T/h2.out" 2>"$T/h2.err" &
    local h=$!
    PIDS+=("$h")
    wait_for_line "$order" '^H1$' 20 >/dev/null || bail "H1 did not start"
    L_RC=0
    timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/l2.txt" >"$T/l2.out" 2>"$T/l2.err" || L_RC=$?
    H_RC=0
    wait "$h" || H_RC=$?
}
master m2 --aging 0.3
# while H runs: --status shows the priorities
for i in $(seq 1 30); do echo "sleep 0.1"; done >"$T/h3.txt"
"$BIN/client" -q --priority 7 --order lpt 127.0.0.1 "$MASTER_PORT" "$T/h3.txt" >/dev/null 2>&1 &
st=$!
PIDS+=("$st")
for _ in $(seq 1 100); do
    "$BIN/client" --status --json 127.0.0.1 "$MASTER_PORT" >"$T/status.json" 2>/dev/null
    grep -q '"priority":7' "$T/status.json" && break
    sleep 0.05
done
is "$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["batches"]; print(" ".join("%s/%s" % (x["priority"], x["order"]) for x in b))' "$T/status.json")" \
    "7/lpt" "--status --json: the batch's priority and order"
"$BIN/client" --status 127.0.0.1 "$MASTER_PORT" >"$T/status.txt" 2>&1
check "--status table: PRIO and ORDER columns, 7 lpt" grep -Eq '^[0-9a-f]{16} .* 7 +lpt$' "$T/status.txt"
wait "$st"

run_aging "$T/aging"
is "$H_RC/$L_RC" "0/0" "aging: both clients exit 0"
is "$(grep -c '^L' "$T/aging")/$(grep -c '^H' "$T/aging")" "4/30" "aging: every command ran once"
last_l=$(grep -n '^L4$' "$T/aging" | cut -d: -f1)
check "aging: the low batch's last command started before the high one's 25th ($(lines "$T/aging"))" test "$last_l" -lt 26
first_l=$(grep -n '^L1$' "$T/aging" | cut -d: -f1)
check "aging: but not at once: H kept the slot a while first (L1 at line $first_l)" test "$first_l" -ge 3
stop_pid "$MASTER_PID"
master m3 --aging 0
run_aging "$T/noaging"
is "$(lines "$T/noaging" | sed 's/ L.*//' | wc -w)/$(tail -n 4 "$T/noaging" | tr '\n' ' ')" "30/L1 L2 L3 L4 " \
    "--aging 0 (the control): the low batch waits for the high one's last start"

# 3. Bad values: the client refuses them before connecting (exit 255, the option named).
for bad in 21 -21 abc 1.5 ""; do
    RC=0
    "$BIN/client" --priority "$bad" 127.0.0.1 "$MASTER_PORT" - </dev/null >"$T/bad.out" 2>"$T/bad.err" || RC=$?
    is "$RC" 255 "--priority '$bad': exit 255"
    check "--priority '$bad': the message names it and the range" grep -q -- "--priority: '$bad' is not a number from -20 to 20" "$T/bad.err"
done
RC=0
"$BIN/client" --order random 127.0.0.1 "$MASTER_PORT" - </dev/null >"$T/bad.out" 2>"$T/bad.err" || RC=$?
is "$RC" 255 "--order random: exit 255"
check "--order random: the message says fifo or lpt" grep -q -- "--order 'random': expected fifo" "$T/bad.err"
RC=0
"$(prog serveur_maitre)" --aging -1 0 "$T/slaves.conf" >"$T/bad.out" 2>"$T/bad.err" || RC=$?
is "$RC" 2 "serveur_maitre --aging -1: exit 2 (a usage error)"
check "--aging -1: named" grep -q -- "--aging: '-1'" "$T/bad.err"

# 4. Hostile OPTIONS frames: out of range or malformed, refused with an ERROR naming it; the master serves on.
FT="python3 $TOP/tests/frame_tool.py"
for bad in "0b000115:--priority:priority 21" "0b0001eb:--priority:priority -21" "0b000280ff:--priority:priority of 2 bytes" \
           "0b0000:--priority:priority empty" "0c000102:--order:order 2" "0c0000:--order:order empty"; do
    hex=${bad%%:*} what=${bad#*:} named=${what%%:*} what=${what#*:}
    key=$((16#${hex:0:2}))
    out=$($FT "$MASTER_PORT" hello attach:new "options:$hex" submit:1:true end:1 until:BYE 2>&1)
    check "hostile OPTIONS ($what): an ERROR naming $named (key $key)" grep -qF "ERROR malformed OPTIONS: $named (key $key)" <<<"$out"
    check "hostile OPTIONS ($what): nothing run" test "$(grep -c '^RESULT' <<<"$out")" = 0
done
out=$($FT "$MASTER_PORT" hello attach:new "options:0b0001ec0c000101" submit:1:true end:1 until:BYE 2>&1)
check "OPTIONS priority -20 and order lpt (the bounds): served" grep -q '^RESULT seq=1 .*exit=0' <<<"$out"
run_client -q - <<<"echo still"
is "$RC/$(cat "$T/out")" "0/still" "the master still serves after the hostile OPTIONS"

done_testing
