#!/usr/bin/env bash
# IPv6 unavailable (disabled on lo, in a network namespace of this test's
# own): a master whose slaves.conf lists "::1 PORT" says once, naming that
# slave, that it cannot reach it, and serves its IPv4 slaves; before, it
# logged "Address family not supported" twice a second for ever.
PRIVATE_NETNS=1
. "$(dirname "$0")/lib.sh"

echo 1 >/proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null ||
    skip_all "cannot disable IPv6 in this network namespace"
grep -q ' lo$' /proc/net/if_inet6 2>/dev/null && skip_all "IPv6 still configured on lo"

start_slave v4 -j 2
printf '::1 6553\n127.0.0.1 %s\n' "$SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf"
wait_slaves_up master 1 || bail "the IPv4 slave is not seen"
echo "echo still-works" >"$T/cmds"
run_client -q "$T/cmds"
is "$RC/$(cat "$T/out")" "0/still-works" "the IPv4 slave runs commands"
sleep 2 # four pings' worth: a repetition would show
is "$(grep -c '::1:6553' "$T/master.log")" 1 "the ::1 slave is named once in the master's log, not at every ping"
check "saying why it cannot be reached" \
    grep -q "slave ::1:6553 cannot be reached: it has an IPv6 address and this master cannot open an IPv6 socket" "$T/master.log"
check "no 'Address family not supported' repeated" test "$(grep -ci 'family not supported' "$T/master.log")" -le 1

done_testing
