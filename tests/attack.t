#!/usr/bin/env bash
# Attacks on what issue 8 built, each one a break found and fixed (the
# commit that fixed it names it): a keyless peer holding a slave's job
# table. (doc/security.md 4.6 and 9)
. "$(dirname "$0")/lib.sh"

# --- One keyless peer, at one address, with a cookie handshake of its
# own, opens thousands of requests and never completes them (one byte of
# sixteen each, one more every 20 s): it must not take every job place
# of the slave, so that another master's commands still run.
# Before the fix it held all 4096 (MAX_JOBS), and every command of the
# real master was dropped "no room" until those requests gave up.
cluster 1 --slots 2
python3 "$TOP/tests/attack_tool.py" hold "${SLAVE_PORTS[0]}" 4200 >"$T/hold.out" 2>&1 &
PIDS+=($!)
held=$(wait_for_line "$T/hold.out" '^holding' 60)
is "$held" "holding 20 jobs" "a single peer holds at most 2 x slots + 16 jobs (20 of 4096)"
printf 'echo served-1\necho served-2\necho served-3\n' >"$T/cmds"
start=$(date +%s)
RC=0
timeout 20 "$BIN/client" 127.0.0.1 "$MASTER_PORT" -q "$T/cmds" >"$T/out" 2>"$T/err" || RC=$?
took=$(($(date +%s) - start))
is "$RC/$(grep -c '^served-' "$T/out")" "0/3" "the real master's 3 commands run meanwhile"
[ "$took" -le 10 ]; ok $? "within 10 s, not once the peer's requests give up (took $took s)"
check "the slave says whose jobs fill its place" grep -q 'no room (floor [0-9]*, [0-9]* jobs, 20 of this master)' "$T/s1.log"
stop_all

done_testing
