#!/usr/bin/env bash
# How a slave runs a command: the run time it reports includes starting
# the shell, and a command that stops (SIGSTOP) is killed and reported
# instead of hanging its batch forever.
. "$(dirname "$0")/lib.sh"

# On one CPU, a command's shell often runs to its end before the slave
# gets the CPU back from vfork: that is when a clock started after vfork
# showed 20 us for a command (1 time in 4 here).
command -v taskset >/dev/null && SMP_PREFIX="taskset -c 0 $SMP_PREFIX"
cluster 1 -j 2

# Durations. Starting /bin/sh costs about 0.5 ms here (vfork+exec+exit,
# measured with a small C program: 535 us at the least); the slave used to
# start its clock after vfork returned, i.e. after the exec, and reported
# 20-30 us for a 'true' that had run entirely in between.
{ for _ in $(seq 1 100); do echo true; done; echo 'sleep 0.3'; } >"$T/dur.txt"
run_client --json "$T/dur.txt"
is "$RC" 0 "durations: the commands succeed"
python3 - "$T/out" >"$T/dur" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = [r["runtime"] for r in rows if r["command"] == "true"]
s = [r["runtime"] for r in rows if r["command"] == "sleep 0.3"]
print(len(t), "%.6f" % min(t), "%.6f" % max(t), len(s), "%.6f" % s[0])
PY
read -r nt tmin tmax ns tsleep <"$T/dur"
echo "# 'true' reported as $tmin-$tmax s, 'sleep 0.3' as $tsleep s"
is "$nt/$ns" 100/1 "durations: every result is there"
check "'true' is reported as at least 100 us, the cost of starting a shell (least: $tmin s)" \
    awk -v t="$tmin" 'BEGIN { exit !(t >= 0.0001) }'
check "'true' is reported as less than 1 s (most: $tmax s)" awk -v t="$tmax" 'BEGIN { exit !(t < 1) }'
check "'sleep 0.3' is reported as 0.3 to 1.5 s ($tsleep s)" awk -v t="$tsleep" 'BEGIN { exit !(t >= 0.3 && t < 1.5) }'

# Stops. A command's shell that stops itself (SIGSTOP: nothing here could
# continue it) is killed and reported as killed by the stop signal, with
# a message. SIGTSTP, SIGTTIN and SIGTTOU do nothing: a command runs in a
# session of its own without a terminal (an orphaned process group, where
# the kernel discards them), so it goes on.
cat >"$T/stop.txt" <<'CMDS'
echo before
kill -STOP $$; echo not-reached
sh -c 'kill -TSTP $$'; echo after-inner-tstp
kill -TSTP $$; kill -TTIN $$; kill -TTOU $$; echo after-tstp
sleep 0.2; echo after
CMDS
t0=$(date +%s%N)
RC=0
timeout 30 "$BIN/client" 127.0.0.1 "$MASTER_PORT" --json "$T/stop.txt" >"$T/out" 2>"$T/err" || RC=$?
took=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$RC" 1 "stops: the batch ends (in $took ms), one command failed"
check "stops: within 10 s" test "$took" -lt 10000
python3 - "$T/out" >"$T/stops" <<'PY'
import json, sys
rows = {r["seq"]: r for r in map(json.loads, open(sys.argv[1]))}
def row(n):
    r = rows.get(n)
    if not r:
        return "missing"
    return "%s %s %s %s|%s" % (r["status"], r["exitval"], r["signal"], r.get("stdout", "").strip(),
                               r.get("message", ""))
for n in range(1, 6):
    print(row(n))
PY
is "$(sed -n 1p "$T/stops")" "exited 0 0 before|" "stops: a normal command before is fine"
is "$(sed -n 2p "$T/stops")" \
    "signaled -1 19 |stopped by SIGSTOP: killed by the slave (nothing can continue it here)" \
    "stops: the command that stopped itself is reported killed by SIGSTOP (19), with why"
is "$(sed -n 3p "$T/stops")" "exited 0 0 after-inner-tstp|" "stops: SIGTSTP in a subshell does not stop it"
is "$(sed -n 4p "$T/stops")" "exited 0 0 after-tstp|" "stops: SIGTSTP, SIGTTIN, SIGTTOU do not stop the command's shell"
is "$(sed -n 5p "$T/stops")" "exited 0 0 after|" "stops: a normal command after is fine"
check "stops: the status line says why" grep -qE '^==> \[1\] .*killed by signal 19: stopped by SIGSTOP' <(
    timeout 30 "$BIN/client" 127.0.0.1 "$MASTER_PORT" <(echo 'kill -STOP $$') 2>&1)
check "stops: nothing of it is left (the slave has only its keeper as child)" \
    test "$(ps -o comm= --ppid "${SLAVE_PIDS[0]}" | grep -vc esclave-keeper)" = 0

# A command that ended while its slave could not run (stopped, or just
# not scheduled) past the command's --timeout: it finished in time, and
# must not be reported as timed out (the slave looked at the deadline
# before collecting the exit it had missed). Found by tests/soak.py.
echo 'sleep 1; echo done' >"$T/late.txt"
timeout 30 "$BIN/client" 127.0.0.1 "$MASTER_PORT" --json --timeout 2 "$T/late.txt" >"$T/late.out" 2>"$T/late.err" &
lpid=$!
PIDS+=("$lpid")
for _ in $(seq 1 200); do pgrep -P "${SLAVE_PIDS[0]}" -x sh >/dev/null && break; sleep 0.01; done
sleep 0.3 # the fault itself: the slave stops while its command runs on
kill -STOP "${SLAVE_PIDS[0]}"
sleep 2.3 # past the command's end (1 s) and its deadline (2 s), short of --dead-after (3 s)
kill -CONT "${SLAVE_PIDS[0]}"
rc=0; wait "$lpid" || rc=$?
is "$rc" 0 "a command that ended while its slave was stopped past its deadline: exit 0"
is "$(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print(r["status"], r["signal"], r["stdout"].strip())' "$T/late.out")" \
    "exited 0 done" "and it is reported as exited, not timed out"

done_testing
