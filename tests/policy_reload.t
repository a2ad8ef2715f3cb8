#!/usr/bin/env bash
# SIGHUP reads the slave's --allow file again (doc/security.md 5.2): what
# stands in its place when it is not a regular file (a FIFO nobody writes,
# a device, a directory) or is far too large is refused at once, logged,
# the policy in use kept, and the slave goes on serving; a SIGHUP flood
# while commands run changes nothing of their results.
. "$(dirname "$0")/lib.sh"

printf 'echo *\nsleep *\n' >"$T/good.allow"
cp "$T/good.allow" "$T/p.allow"
start_slave pol -j 2 --allow "$T/p.allow"
POL_PID=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/pol.conf"
start_master m "$T/pol.conf"
wait_slaves_up m 1 || bail "policy slave not up"

# served WHAT: a command still runs, within 20 s, under the policy kept.
served() {
    printf 'echo still-%s\n' "${1// /-}" >"$T/one.txt"
    RC=0
    timeout 20 "$(prog client)" 127.0.0.1 "$MASTER_PORT" -q "$T/one.txt" >"$T/out" 2>"$T/err" || RC=$?
    is "$RC/$(cat "$T/out")" "0/still-${1// /-}" "after SIGHUP with $1 as the policy file: still served"
}
# refused_reload WHAT REASON: SIGHUP with the file replaced by WHAT (made
# by the caller at $T/p.allow) is refused with REASON in the log.
refused_reload() {
    local before; before=$(grep -c 'keeping the policy in use' "$T/pol.log")
    kill -HUP "$POL_PID"
    local i
    for i in $(seq 1 200); do
        [ "$(grep -c 'keeping the policy in use' "$T/pol.log")" -gt "$before" ] && break
        sleep 0.05
    done
    check "SIGHUP with $1: refused and logged ($2)" grep -qF "$2" "$T/pol.log"
    served "$1"
}

rm -f "$T/p.allow"; mkfifo "$T/p.allow"
refused_reload "a FIFO" "cannot read policy file '$T/p.allow': not a regular file"
rm -f "$T/p.allow"; ln -s /dev/zero "$T/p.allow"
refused_reload "a symlink to /dev/zero" "cannot read policy file '$T/p.allow': not a regular file"
rm -f "$T/p.allow"; mkdir "$T/p.allow"
refused_reload "a directory" "cannot read policy file '$T/p.allow': not a regular file"
rmdir "$T/p.allow"
# A file of 2 MiB of valid patterns: more than a policy is (1 MiB at most).
yes 'echo *' | head -c $((2 * 1024 * 1024)) >"$T/p.allow"
refused_reload "a 2 MiB file" "policy file '$T/p.allow' is larger than 1048576 bytes"

# The old policy was kept each time: sleep still allowed, printf not.
printf 'sleep 0\n' >"$T/one.txt"
run_client -q "$T/one.txt"
is "$RC" 0 "the policy kept still allows sleep *"

# A SIGHUP flood while commands run and queue: every result whole, the
# slave alive, the good file reloaded.
cp "$T/good.allow" "$T/p.allow"
for i in $(seq 1 40); do echo "echo flood-$i"; done >"$T/flood.txt"
for i in $(seq 1 6); do echo "sleep 0.3"; done >>"$T/flood.txt"
timeout 60 "$(prog client)" 127.0.0.1 "$MASTER_PORT" -q "$T/flood.txt" >"$T/flood.out" 2>"$T/flood.err" &
FLOOD_CLIENT=$!
PIDS+=("$FLOOD_CLIENT")
for i in $(seq 1 300); do kill -HUP "$POL_PID" 2>/dev/null || break; done
wait "$FLOOD_CLIENT"; FRC=$?
is "$FRC" 0 "a SIGHUP flood during a batch: the batch succeeds"
is "$(grep -c '^flood-' "$T/flood.out")" 40 "every output of it"
check "the slave is alive" kill -0 "$POL_PID"
check "and reloaded the good file" grep -qF "SIGHUP: policy file $T/p.allow reloaded (2 patterns)" "$T/pol.log"
done_testing
