#!/usr/bin/env bash
# Reaching the master: a connection that meets itself is no master.
PRIVATE_NETNS=1 # narrows the ephemeral port range: only in a namespace of our own
. "$(dirname "$0")/lib.sh"

# With only ports 40000-40001 to pick from, a connect to one of them from
# 127.0.0.1 is often given that same port and meets itself (TCP
# simultaneous open) while nothing listens. The client must say it cannot
# reach the master, not take its own HELLO for the master's answer.
sysctl -qw net.ipv4.ip_local_port_range="40000 40001" 2>/dev/null ||
    skip_all "cannot set net.ipv4.ip_local_port_range in the namespace"
echo 'echo hi' >"$T/cmds"
# (All aimed at the same port: two clients aimed at each other's port could
# meet each other instead, which they say too, differently.)
cpids=()
for k in 1 2 3 4; do
    timeout 60 "$BIN/client" 127.0.0.1 40000 "$T/cmds" >"$T/out$k" 2>"$T/err$k" &
    cpids+=($!)
done
rcs=""
for p in "${cpids[@]}"; do rc=0; wait "$p" || rc=$?; rcs="$rcs$rc "; done
is "$rcs" "255 255 255 255 " "aimed at a free port of the ephemeral range: exit 255, 4 of 4 times"
# (Four clients share two ports: one may also be told that no local port
# is left, "Cannot assign requested address"; that is still "cannot reach".)
is "$(cat "$T"/err* | grep -c 'cannot reach the master at 127.0.0.1:40000 within 10 s: ')" 4 \
    "and each says it cannot reach the master"
is "$(cat "$T"/err* | grep -c 'protocol error')/$(cat "$T"/out* | wc -c)" "0/0" "never a protocol error, nothing run"

done_testing
