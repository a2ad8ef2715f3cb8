#!/usr/bin/env bash
# IPv6 beside IPv4, on loopback only (::1 and 127.0.0.1): one master on
# its defaults runs commands on a slave at ::1 and one at 127.0.0.1;
# ::ffff:127.0.0.1 is the same slave as 127.0.0.1; a master bound to ::1
# serves a client that connects to ::1. (tests/ipv6_off.t: without IPv6.)
. "$(dirname "$0")/lib.sh"

grep -qi '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 2>/dev/null ||
    skip_all "::1 is not configured on lo (IPv6 disabled?)"

start_slave v6 -j 2 -b ::1
p6=$SLAVE_PORT
check "a slave binds to ::1" grep -q 'listening on UDP ::1:\|listening on UDP \[::1\]:' "$T/v6.log"
start_slave v4 -j 2
p4=$SLAVE_PORT

# --- one master on its defaults (127.0.0.1), slaves of both families ---
printf '::1 %s\n127.0.0.1 %s\n::ffff:127.0.0.1 %s\n' "$p6" "$p4" "$p4" >"$T/both.conf"
start_master both "$T/both.conf"
wait_slaves_up both 2
ok $? "a master on its defaults hears from the ::1 slave and the 127.0.0.1 one"
check "::ffff:127.0.0.1 beside 127.0.0.1 is reported as listed twice" \
    grep -q "both.conf:3: ::ffff:127.0.0.1:$p4 listed twice: line skipped" "$T/both.log"
check "the master has 2 slaves, not 3" grep -q 'listening on TCP .*, 2 slaves in' "$T/both.log"
mkdir -p "$T/both"
marker_cmds 40 "$T/both"
sed -i 's/^/sleep 0.05; /' "$T/both/cmds"
run_client "$T/both/cmds" --joblog "$T/both/joblog" --results "$T/both/res"
is "$RC" 0 "the client's 40 commands succeed"
check_markers "both families" 40 "$T/both"
n6=$(tail -n +2 "$T/both/joblog" | awk -F'\t' -v h="::1:$p6" '$2 == h' | wc -l)
n4=$(tail -n +2 "$T/both/joblog" | awk -F'\t' -v h="127.0.0.1:$p4" '$2 == h' | wc -l)
check "the ::1 slave ran commands ($n6)" test "$n6" -ge 1
check "the 127.0.0.1 slave ran commands ($n4)" test "$n4" -ge 1
is "$((n6 + n4))" 40 "every command ran on one of the two"
check "no 'Address family not supported' in the master's log" sh -c "! grep -qi 'family not supported' '$T/both.log'"

# --- a master bound to ::1, a client connecting to ::1 ------------------
printf '::1 %s\n127.0.0.1 %s\n' "$p6" "$p4" >"$T/v6m.conf"
start_master v6m "$T/v6m.conf" --bind ::1
check "a master binds to ::1" grep -q 'listening on TCP ::1:' "$T/v6m.log"
wait_slaves_up v6m 2
ok $? "the master on ::1 hears from both slaves"
for i in $(seq 1 10); do echo "echo v6-\$((20 + $i))"; done >"$T/v6m.cmds"
RC=0
timeout 60 "$BIN/client" -q ::1 "$MASTER_PORT" "$T/v6m.cmds" --joblog "$T/v6m.joblog" >"$T/v6m.out" 2>"$T/v6m.err" || RC=$?
is "$RC/$(sort "$T/v6m.out" | tr '\n' ' ')" "0/$(seq 21 30 | sed 's/^/v6-/' | sort | tr '\n' ' ')" \
    "client ::1 PORT gets its 10 results from the master on ::1"

done_testing
