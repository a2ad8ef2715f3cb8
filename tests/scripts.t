#!/usr/bin/env bash
# The classroom launch: start_servers.sh starts a slave per local line of
# slaves.conf and the master; stop_servers.sh stops them all.
PRIVATE_NETNS=1 # names a remote slave the master will try to reach
. "$(dirname "$0")/lib.sh"

# Free ports: bound by the kernel, then released for the scripts to use.
read -r p1 p2 mp < <(python3 -c '
import socket
u = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
t = socket.socket()
for s in u + [t]: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in u + [t]])')
cat >"$T/slaves.conf" <<CONF
# two local slaves, one remote (not started here)
127.0.0.1 $p1 2
localhost $p2
remote.example 10001
CONF
export RUN_DIR=$T
rc=0; "$TOP/start_servers.sh" "$T/slaves.conf" "$mp" >"$T/start.out" 2>&1 || rc=$?
is "$rc" 0 "start_servers.sh succeeds"
is "$(wc -l <"$T/.servers.pids")" 3 "two slaves and a master started"
for p in $(cat "$T/.servers.pids"); do PIDS+=("$p"); done # cleaned up even if the test fails
check "a remote slave is named, not started" grep -q 'remote.example:10001 is another machine' "$T/start.out"
check "the -j of the slots column was used" grep -q "with 2 slots" "$T/logs/esclave-$p1.log"
rc=0; "$TOP/start_servers.sh" "$T/slaves.conf" "$mp" >"$T/again.out" 2>&1 || rc=$?
check "starting twice is refused" test "$rc" != 0
wait_for_line "$T/logs/maitre.log" 'is up with' 10 >/dev/null
printf 'echo via-scripts\n' >"$T/c.txt"
rc=0; timeout 60 "$BIN/client" -q 127.0.0.1 "$mp" "$T/c.txt" >"$T/out" 2>&1 || rc=$?
is "$rc/$(cat "$T/out")" "0/via-scripts" "the client runs a command through them"
pids=$(cat "$T/.servers.pids")
"$TOP/stop_servers.sh" >"$T/stop.out" 2>&1
check "stop_servers.sh reports what it stopped" grep -q 'stopped: 3 processes' "$T/stop.out"
alive=0
for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" 0 "every started process is gone"
check "the PID file is removed" test ! -e "$T/.servers.pids"

done_testing
