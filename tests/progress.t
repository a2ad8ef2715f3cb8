#!/usr/bin/env bash
# client --progress, --eta, --bar (issue 11): on a pipe, plain lines whose
# counts reach the totals, per slave as the joblog says, with what runs
# (F_STARTED); on a pseudo-terminal, one line redrawn in place and the
# results intact; a master that never sends STARTED; --attach.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "needs python3"

: >"$T/slaves.conf"
for i in 1 2; do
    start_slave "s$i" -j 2
    echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
done
start_master master "$T/slaves.conf" --state-dir "$T/state"
wait_slaves_up master 2 || bail "slaves not seen by the master"

# One --progress line: optional ETA/bar parts, then the totals and the slaves.
PROG_RE='Running: ([0-9]+|\?) Done: [0-9]+ Failed: [0-9]+ Left: [0-9]+\+?( \|( [^ ]+:([0-9]+|\?)/[0-9]+/[0-9]+/[0-9]+\.[0-9]{2}s)+)?$'
# sum_done LINE: the per-slave done counts of a progress line, summed
sum_done() { sed 's/.* | //' <<<"$1" | tr ' ' '\n' | awk -F/ 'NF == 4 {s += $2} END {print s + 0}'; }

# 1. A pipe: 20 commands, 2 of them failing, on 2 slaves x 2 slots.
for i in $(seq 1 20); do
    if [ "$i" = 7 ] || [ "$i" = 15 ]; then echo "sleep 0.1; exit 3"; else echo "sleep 0.2; echo r$i"; fi
done >"$T/twenty"
start=$(date +%s%N)
run_client --progress --joblog "$T/jl" "$T/twenty"
wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
is "$RC" 2 "pipe: exit status 2 (two commands failed)"
is "$(grep -c '^r[0-9]*$' "$T/out")" 18 "pipe: stdout has the 18 outputs"
is "$(grep -c 'Done:' "$T/out")" 0 "pipe: no progress on stdout"
lines=$(grep -c 'Done:' "$T/err")
is "$(grep -c 'Done:' "$T/err")" "$(grep -Ec "^$PROG_RE" "$T/err")" "pipe: every progress line has the format ($lines lines)"
check "pipe: at most one line a second, plus the final one ($lines lines in $wall_ms ms)" \
    test "$lines" -le $(( wall_ms / 1000 + 2 ))
is "$(grep -c $'\r' "$T/err")" 0 "pipe: no carriage return"
final=$(grep 'Done:' "$T/err" | tail -1)
check "pipe: the final line says 20 done, 2 failed, 0 left, 0 running: '$final'" \
    grep -Eq '^Running: 0 Done: 20 Failed: 2 Left: 0 \| ' <<<"$final"
is "$(sum_done "$final")" 20 "pipe: the slaves' done counts sum to 20"
from_joblog=$(awk -F'\t' 'NR > 1 {print $2}' "$T/jl" | sort | uniq -c | awk '{print $2 ":" $1}' | sort | tr '\n' ' ')
from_line=$(sed 's/.* | //' <<<"$final" | tr ' ' '\n' | awk -F/ 'NF == 4 {n = $1; sub(/:[0-9?]+$/, "", n); print n ":" $2}' | sort | tr '\n' ' ')
is "$from_line" "${from_joblog:-(empty joblog)}" "pipe: per-slave done counts match the joblog's hosts"
failed_per_slave=$(sed 's/.* | //' <<<"$final" | tr ' ' '\n' | awk -F/ 'NF == 4 {s += $3} END {print s + 0}')
is "$failed_per_slave" 2 "pipe: the slaves' failed counts sum to 2"

# Off by default: nothing on stderr; and no STARTED came (a client that did
# not ask exits 255 on one).
run_client "$T/twenty"
is "$RC/$(grep -c '^r[0-9]*$' "$T/out")" "2/18" "no option: the same results"
is "$(grep -vc '^==> ' "$T/err")" 0 "no option: nothing on stderr but the status lines and the summary"

# 2. What runs: while 4 sleeps run on 2 slaves x 2 slots, a line shows 4
# running, 2 on each slave (the master's F_STARTED).
for i in 1 2 3 4; do echo "sleep 2.5; echo s$i"; done >"$T/four"
run_client --progress "$T/four"
is "$RC" 0 "four sleeps: exit 0"
check "four sleeps: a line shows 4 running, 2 on each slave" \
    grep -Eq '^Running: 4 Done: 0 Failed: 0 Left: 4 \| [^ ]+:2/0/0/0\.00s [^ ]+:2/0/0/0\.00s$' "$T/err"
check "four sleeps: then none running, 4 done" grep -Eq '^Running: 0 Done: 4 ' "$T/err"

# 3. --eta: 16 sleeps of 0.6 s on 4 slots (about 2.4 s): ETA not negative,
# going down overall, 0 at the end; "?" until the first result.
for i in $(seq 1 16); do echo "sleep 0.6"; done >"$T/sixteen"
run_client --eta -q "$T/sixteen"
is "$RC" 0 "--eta: exit 0"
grep -Eo '^ETA: [0-9?]+s?' "$T/err" | sed 's/ETA: //; s/s$//' >"$T/etas"
check "--eta: every line starts with ETA, Left and AVG" \
    test "$(grep -c . "$T/err")" = "$(grep -Ec '^ETA: ([0-9]+s|\?) Left: [0-9]+ AVG: ([0-9]+\.[0-9]{2}s|\?)( \|( [^ ]+:[0-9]+/[0-9]+/[0-9]+/[0-9.]+s)+)?$' "$T/err")"
check "--eta: at least 3 lines ($(tr '\n' ' ' <"$T/etas"))" test "$(wc -l <"$T/etas")" -ge 3
check "--eta: '?' before the first result" grep -q '^ETA: ? Left: 16 AVG: ?' "$T/err"
known=$(grep -v '?' "$T/etas" | tr '\n' ' ')
first=$(awk '{print $1}' <<<"$known"); last=$(awk '{print $NF}' <<<"$known")
check "--eta: numbers not negative, the last not above the first ($known)" \
    test -n "$first" -a "${known//-/}" = "$known" -a "$last" -le "$first"
check "--eta: the final line says 0s and none left" grep -Eq '^ETA: 0s Left: 0 AVG: [0-9.]+s' <(tail -1 "$T/err")

# 4. --bar reaches 100%.
run_client --bar -q "$T/sixteen"
is "$RC" 0 "--bar: exit 0"
check "--bar: the final line is 100% 16/16" grep -Eqx '100% 16/16 ETA: 0s \[#{20}\]' <(tail -1 "$T/err")
check "--bar: every line has percent, done/total, ETA and the bar" \
    test "$(grep -c . "$T/err")" = "$(grep -Ec '^ *[0-9]+% [0-9]+/[0-9]+\+? ETA: ([0-9]+s|\?) \[[# ]{20}\]$' "$T/err")"

# 5. A pseudo-terminal: stdout and stderr both on it. The line is redrawn
# with carriage returns, at most about 10 times a second, and what is left
# on each line of the screen is either a result line or, once, the final
# progress line.
for i in $(seq 1 24); do echo "sleep 0.15; echo out-$i"; done >"$T/tty"
python3 - "$(prog client)" "$MASTER_PORT" "$T/tty" "$T/pty.raw" <<'PY'
import fcntl, os, pty, select, struct, sys, termios, time
client, port, cmds, raw = sys.argv[1:5]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # 200 columns: the whole line fits
    os.execv(client, [client, "--progress", "--bar", "127.0.0.1", port, cmds])
out, t0 = b"", time.time()
while time.time() - t0 < 60:
    r, _, _ = select.select([fd], [], [], 1)
    if r:
        try:
            d = os.read(fd, 65536)
        except OSError:
            break
        if not d:
            break
        out += d
_, status = os.waitpid(pid, 0)
open(raw, "wb").write(out)
open(raw + ".status", "w").write("%d %.2f" % (os.waitstatus_to_exitcode(status), time.time() - t0))
PY
read -r pty_rc pty_wall <"$T/pty.raw.status"
is "$pty_rc" 0 "pty: exit 0"
check "pty: carriage returns used (not only the terminal's \\r\\n)" grep -qP '\r.' "$T/pty.raw"
# what each line of the screen shows at the end: after its last \r, less trailing blanks
tr -d '\b' <"$T/pty.raw" | sed 's/\r$//' | awk -F'\r' '{print $NF}' | sed 's/ *$//' >"$T/pty.screen"
is "$(grep -c 'Done:' "$T/pty.screen")" 1 "pty: one progress line is left on the screen (the final one)"
check "pty: it is the final state" grep -Eq '^100% 24/24 ETA: 0s \[#{20}\]  Running: 0 Done: 24 Failed: 0 Left: 0 \| ' "$T/pty.screen"
is "$(grep -Ec '^out-[0-9]+$' "$T/pty.screen")/$(grep -Ec '^==> \[[0-9]+\] sleep 0.15; echo out-[0-9]+ -- on [^ ]+, .*code retour = 0$' "$T/pty.screen")" \
    "24/24" "pty: every result line intact"
is "$(grep -Evc '^(out-[0-9]+|==> .*|.*Done: .*)$' "$T/pty.screen")" 0 "pty: nothing else on the screen"
draws=$(grep -o 'Done:' "$T/pty.raw" | wc -l)
check "pty: at most ~10 redraws a second ($draws in $pty_wall s)" \
    awk -v d="$draws" -v w="$pty_wall" 'BEGIN {exit !(d <= 10 * w + 12)}'
check "pty: more than one draw" test "$draws" -ge 2

# 6. --attach: the batch's done results counted, what runs told at once.
for i in 1 2 3 4; do echo "echo quick-$i"; done >"$T/batch"
for i in 1 2 3 4; do echo "sleep 4; echo slow-$i"; done >>"$T/batch"
run_client --detach "$T/batch"
id=$(cat "$T/out")
check "--detach: a batch id" grep -Eqx '[0-9a-f]{16}' <<<"$id"
for _ in $(seq 1 100); do
    "$(prog client)" 127.0.0.1 "$MASTER_PORT" --batches >"$T/list" 2>&1
    grep -Eq "^$id +[a-z]+ +4/8 " "$T/list" && break
    sleep 0.05
done
check "--attach: the 4 quick ones are done first" grep -Eq "^$id +[a-z]+ +4/8 " "$T/list"
run_client --attach "$id" --progress -q
is "$RC" 0 "--attach --progress: exit 0"
is "$(grep -c '^quick-\|^slow-' "$T/out")" 8 "--attach: 8 outputs"
check "--attach: a line with the 4 done and the 4 running" grep -Eq '^Running: 4 Done: 4 Failed: 0 Left: 4 \| ' "$T/err"
final=$(grep 'Done:' "$T/err" | tail -1)
check "--attach: the final line says 8 done" grep -Eq '^Running: 0 Done: 8 Failed: 0 Left: 0 \| ' <<<"$final"
is "$(sum_done "$final")" 8 "--attach: the slaves' done counts sum to 8"

# 7. A master that never sends STARTED (tests/fake_master.py, which knows
# no FRAME_FLAG_PROGRESS): done counts right, running "?".
: >"$T/fake.frames"
python3 "$TOP/tests/fake_master.py" normal "$T/fake.frames" >"$T/fake.log" 2>&1 &
PIDS+=("$!")
line=$(wait_for_line "$T/fake.log" 'listening on TCP' 10) || bail "fake master did not start: $(cat "$T/fake.log")"
fake_port=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
printf 'c1\nc2\nfail\nc4\nc5\n' >"$T/fake.cmds"
RC=0; timeout 60 "$(prog client)" --progress 127.0.0.1 "$fake_port" "$T/fake.cmds" >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 1 "old master: exit 1 (one failed)"
is "$(grep -c '^ran: ' "$T/out")" 5 "old master: every result"
check "old master: the final line: 5 done, 1 failed, running unknown" \
    grep -Eqx 'Running: \? Done: 5 Failed: 1 Left: 0 \| fake:1:\?/5/1/[0-9.]+s' <(grep 'Done:' "$T/err" | tail -1)

# 9. With --json -k --results: stdout is the JSON lines alone, in order.
for i in 5 4 3 2 1; do echo "sleep 0.$i; echo j$i"; done >"$T/json"
run_client --progress --json -k --results "$T/res" "$T/json"
is "$RC" 0 "--json -k --results: exit 0"
is "$(python3 -c 'import json, sys; print(" ".join(str(json.loads(l)["seq"]) for l in open(sys.argv[1])))' "$T/out")" \
    "1 2 3 4 5" "--json -k: five JSON lines in order on stdout, nothing else"
is "$(cat "$T/res/3/stdout")" "j3" "--results: written"
check "--json: the final progress line on stderr" grep -Eq '^Running: 0 Done: 5 Failed: 0 Left: 0 \| ' <(grep Done: "$T/err" | tail -1)

# 8. A reconnection (the fake master breaks the first connection after 3
# results): a notice line of its own, and the counts go on to the end.
: >"$T/drop.frames"
python3 "$TOP/tests/fake_master.py" drop "$T/drop.frames" -k 3 >"$T/drop.log" 2>&1 &
PIDS+=("$!")
line=$(wait_for_line "$T/drop.log" 'listening on TCP' 10) || bail "fake master did not start: $(cat "$T/drop.log")"
fake_port=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
printf 'c1\nc2\nc3\nc4\nc5\nc6\nc7\n' >"$T/drop.cmds"
RC=0; timeout 60 "$(prog client)" --progress --bar 127.0.0.1 "$fake_port" "$T/drop.cmds" >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 0 "reconnection: exit 0"
is "$(grep -c '^ran: ' "$T/out")" 7 "reconnection: every result once"
check "reconnection: the notice on a line of its own" grep -Eq '^client: lost the connection to the master \(3 of 7 results\)' "$T/err"
check "reconnection: 'reconnected' on a line of its own" grep -qx 'client: reconnected' "$T/err"
check "reconnection: the final line says 7 of 7" \
    grep -Eqx '100% 7/7 ETA: 0s \[#{20}\]  Running: \? Done: 7 Failed: 0 Left: 0 \| fake:1:\?/7/0/[0-9.]+s' <(grep -v '^==> ' "$T/err" | tail -1)
is "$(grep -c 'Done:' "$T/err")" "$(grep -Ec '^ *[0-9]+% .*Done: ' "$T/err")" "reconnection: every progress line whole"

port=$MASTER_PORT main_pid=$MASTER_PID
# 11. With a key: STARTED frames are tagged like every other.
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
start_slave k1 -j 2 --key-file "$T/key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/keyed.conf"
start_master keyed "$T/keyed.conf" --key-file "$T/key" --state-dir "$T/keyed-state"
wait_slaves_up keyed 1 || bail "keyed slave not seen"
for i in 1 2; do echo "sleep 1.5; echo k$i"; done >"$T/keyed"
RC=0; timeout 60 "$(prog client)" --key-file "$T/key" --progress 127.0.0.1 "$MASTER_PORT" "$T/keyed" >"$T/out" 2>"$T/err" || RC=$?
is "$RC/$(grep -c '^k[12]$' "$T/out")" "0/2" "keyed: exit 0, both results"
check "keyed: a line shows both running" grep -Eq '^Running: 2 Done: 0 Failed: 0 Left: 2 \| [^ ]+:2/0/0/0\.00s$' "$T/err"
check "keyed: the final line" grep -Eq '^Running: 0 Done: 2 Failed: 0 Left: 0 \| [^ ]+:0/2/0/' <(grep -v '^==> ' "$T/err" | tail -1)
MASTER_PORT=$port

# 10. The real master killed -9 and restarted on its port mid-batch: the
# client reconnects, the counts go on, and what runs is told again.
for i in $(seq 1 8); do echo "sleep 4; echo z$i"; done >"$T/restart"
"$(prog client)" --progress 127.0.0.1 "$port" "$T/restart" >"$T/out" 2>"$T/err" &
cpid=$!
PIDS+=("$cpid")
check "restart: 4 running before the kill" wait_for_line "$T/err" '^Running: 4 Done: 0 ' 20
kill -9 "$main_pid"
MASTER_ON_PORT=$port start_master master2 "$T/slaves.conf" --state-dir "$T/state"
rc=0; wait "$cpid" || rc=$?
is "$rc" 0 "restart: the client exits 0"
is "$(grep -c '^z[0-9]$' "$T/out")" 8 "restart: 8 results"
check "restart: the notice and 'reconnected' on lines of their own" \
    test "$(grep -c '^client: lost the connection\|^client: reconnected$' "$T/err")" = 2
check "restart: after reconnecting, the running commands told again" \
    grep -Eq '^Running: [1-9]' <(sed -n '/^client: reconnected$/,$p' "$T/err")
check "restart: the final line says 8 done" grep -Eq '^Running: 0 Done: 8 Failed: 0 Left: 0 \| ' <(grep -v '^==> ' "$T/err" | tail -1)

done_testing
