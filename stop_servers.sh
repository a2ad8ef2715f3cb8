#!/bin/sh
# stop_servers.sh - stops what start_servers.sh started, by PID: SIGTERM
# (slaves kill their running commands, the master tells its clients), then
# SIGKILL for anything still there after 5 s. Uses $RUN_DIR like start_servers.sh.
cd "${RUN_DIR:-$(dirname "$0")}"
[ -s .servers.pids ] || { echo "stop_servers.sh: nothing to stop (.servers.pids is empty)"; exit 0; }
pids=
for p in $(cat .servers.pids); do
    kill -0 "$p" 2>/dev/null && pids="$pids $p" # only those still running
done
kill -TERM $pids 2>/dev/null
i=0
for p in $pids; do
    while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
done
rm -f .servers.pids
echo "stopped: $(echo $pids | wc -w) processes"
