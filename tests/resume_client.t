#!/usr/bin/env bash
# The client's side of batches (doc/protocol.md 2.6) against a scripted
# master (tests/fake_master.py): reconnection and resume, --detach,
# --attach, --batches, Ctrl-C, and an ephemeral master.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "needs python3"

ID=00c0ffee12345678
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# same_output A B: byte for byte, but for the summary's wall time
same_output() { cmp -s <(sed 's/wall time .*//' "$1") <(sed 's/wall time .*//' "$2"); }

# start_fake NAME SCENARIO [-k K]: sets FAKE_PORT and FAKE_PID; the frames
# it receives are logged in $T/NAME.frames.
start_fake() {
    local name=$1; shift
    : >"$T/$name.frames"
    python3 "$TOP/tests/fake_master.py" "$1" "$T/$name.frames" "${@:2}" >"$T/$name.log" 2>&1 &
    FAKE_PID=$!
    PIDS+=("$FAKE_PID")
    local line
    line=$(wait_for_line "$T/$name.log" 'listening on TCP' 10) || bail "fake master $name did not start: $(cat "$T/$name.log")"
    FAKE_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
}
# fake_client NAME [client options and file]: RC, $T/NAME.out, $T/NAME.err
fake_client() {
    local name=$1; shift
    RC=0
    timeout 60 "$BIN/client" 127.0.0.1 "$FAKE_PORT" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}
# frame types the fake master got, one line, in order
frames() { awk '{print $2}' "$T/$1.frames" | tr '\n' ' '; }

# Eight lines, the third refused by the client itself (a NUL byte): seqs
# 1 2 4 5 6 7 8 are SUBMITs 0..6. The reference output: a run that never
# breaks.
printf 'c1\nc2\nbad\000line\nc4\nc5\nc6\nc7\nc8\n' >"$T/cmds"
start_fake ref normal
fake_client ref "$T/cmds"
is "$RC/$(grep -c '^ran: ' "$T/ref.out")" "1/7" "reference run: 7 results (and the refused line: exit 1)"
check "reference run: the client said ATTACH_NEW with RESUME (and CACHED: it reads the cache's mark) in HELLO, and ACK 7 after BYE" \
    grep -qx 'conn=1 HELLO version=4 flags=10' "$T/ref.frames"
is "$(frames ref)" "HELLO ATTACH SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT END ACK EOF " \
    "reference run: the frames in order"
check "reference run: ACK counts the 7 results" grep -qx 'conn=1 ACK count=7' "$T/ref.frames"

# (a) The connection drops after 3 results (5 SUBMITs on disk): the client
# reconnects, asks for the results from 3 on, and sends SUBMITs from index
# 5 on (seq 7: SUBMIT order, not seq), then END.
start_fake drop drop -k 3
fake_client drop "$T/cmds"
is "$RC" 1 "(a) dropped after 3 results: same exit status as the reference (1: the refused line)"
check "(a) stdout byte for byte the reference's (every result once)" same_output "$T/ref.out" "$T/drop.out"
is "$(grep -c '^ran: ' "$T/drop.out")/$(grep '^ran: ' "$T/drop.out" | sort -u | wc -l)" "7/7" "(a) 7 results, none twice"
check "(a) ATTACH_RESUME with have=3" grep -qx "conn=2 ATTACH mode=1 batch=$ID have=3" "$T/drop.frames"
is "$(grep '^conn=2 SUBMIT' "$T/drop.frames" | sed 's/.*seq=\([0-9]*\).*/\1/' | tr '\n' ' ')" "7 8 " \
    "(a) the SUBMITs sent again: from index 5 (seqs 7 8), nothing accepted sent twice"
check "(a) END sent again (the file was read to its end)" grep -qx 'conn=2 END count=7' "$T/drop.frames"
check "(a) ACK 7 at the end" grep -qx 'conn=2 ACK count=7' "$T/drop.frames"
check "(a) no WRONG have" test "$(grep -c WRONG "$T/drop.frames")" = 0

# (a2) The master resumes with one result less than the client holds and
# sends that one again (its journal lost the RESULT record: its result is
# made again, doc/journal.md "Recovery"): skipped, printed once.
start_fake resend resend -k 3
fake_client resend "$T/cmds"
is "$RC" 1 "(a2) a result sent again after reconnecting: same exit status as the reference"
check "(a2) stdout byte for byte the reference's (the one sent again is skipped)" same_output "$T/ref.out" "$T/resend.out"
check "(a2) ATTACH_RESUME with have=3" grep -qx "conn=2 ATTACH mode=1 batch=$ID have=3" "$T/resend.frames"
check "(a2) ACK 7 at the end (the one sent again not counted)" grep -qx 'conn=2 ACK count=7' "$T/resend.frames"
is "$(grep -c 'lost the connection to the master (4 of 8 results): reconnecting for up to 60 s' "$T/drop.err")/$(grep -cx 'client: reconnected' "$T/drop.err")" \
    "1/1" "(a) said once: lost, reconnecting for up to 60 s; then reconnected"

# (a') A master stopping while the client reconnects answers its HELLO
# with ERROR "the master is shutting down": one more failed attempt, not
# the end (the next life of the master goes on with the batch).
start_fake stopping stopping -k 3
fake_client stopping "$T/cmds"
is "$RC" 1 "(a') ERROR 'shutting down' while reconnecting: resumed, same exit status as the reference"
check "(a') stdout byte for byte the reference's" same_output "$T/ref.out" "$T/stopping.out"
check "(a') resumed on the third connection" grep -q "conn=3 ATTACH mode=1 batch=$ID have=3" "$T/stopping.frames"

# -q: no "reconnected".
start_fake dropq drop -k 3
fake_client dropq -q "$T/cmds"
is "$RC/$(grep -c 'reconnected' "$T/dropq.err")" "1/0" "(a) -q: resumed, and no 'reconnected'"

# (b) The master is away for 2 s (its listener closed, then reopened on the
# same port): the client tries again (backoff up to 1 s) and resumes.
start_fake away unreachable -k 2
t0=$(ms)
fake_client away "$T/cmds"
took=$(( $(ms) - t0 ))
is "$RC" 1 "(b) unreachable for 2 s: resumed, exit status as the reference"
check "(b) stdout byte for byte the reference's" same_output "$T/ref.out" "$T/away.out"
check "(b) ATTACH_RESUME with have=2 after the listener came back" grep -q "ATTACH mode=1 batch=$ID have=2" "$T/away.frames"
check "(b) resumed soon after the listener's return (2 s away; took $took ms in all)" test "$took" -ge 1900 -a "$took" -lt 5000
is "$(grep -c 'reconnecting for up to' "$T/away.err")" 1 "(b) 'reconnecting' said once, not per attempt"

# (c) --reconnect 1 and a master that never comes back: 255, naming the
# batch, within bounds.
start_fake gone gone -k 3
t0=$(ms)
fake_client gone --reconnect 1 "$T/cmds"
took=$(( $(ms) - t0 ))
is "$RC" 255 "(c) master gone for good: exit 255"
check "(c) the message names the batch and how to follow it" \
    grep -q "cannot reach the master again within 1 s (4 of 8 results received; batch $ID: client --attach $ID follows it)" "$T/gone.err"
check "(c) after about 1 s ($took ms)" test "$took" -ge 900 -a "$took" -lt 5000
is "$(grep -c '^ran: ' "$T/gone.out")" 3 "(c) the 3 results received were printed, once"

# No busy loop while the master is away: 2 s of attempts cost little CPU.
start_fake gone2 gone -k 3
cpu=$(python3 -c 'import resource, subprocess, sys
subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%d" % ((u.ru_utime + u.ru_stime) * 1000))' "$BIN/client" --reconnect 2 127.0.0.1 "$FAKE_PORT" "$T/cmds")
check "(c) 2 s of reconnecting: at most 200 ms of CPU ($cpu ms)" test "$cpu" -le 200

# --reconnect 0: never.
start_fake never drop -k 3
fake_client never --reconnect 0 "$T/cmds"
is "$RC/$(grep -c 'conn=2' "$T/never.frames")" "255/0" "--reconnect 0: exit 255, no second connection"

# (d) --detach: the batch id alone on stdout, after ACCEPTED; DETACH sent.
start_fake det detach
t0=$(ms)
fake_client det --detach "$T/cmds"
took=$(( $(ms) - t0 ))
is "$RC/$(cat "$T/det.out")" "0/$ID" "(d) --detach: exit 0, the batch id alone on stdout"
is "$(frames det)" "HELLO ATTACH SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT END sent ACK DETACH EOF " \
    "(d) frames: ATTACH, the SUBMITs, END, (ACCEPTED sent), ACK, DETACH, close"
check "(d) waited for ACCEPTED (sent 0.5 s after END; took $took ms)" test "$took" -ge 450

# (e) --attach ID -k --joblog: the commands come from COMMAND frames
# (seqs 1 2 4 5), results out of order (4 1 5 2), printed in seq order.
start_fake fol follow
fake_client fol --attach "$ID" -k --joblog "$T/fol.joblog" -q
is "$RC" 1 "(e) --attach: exit status as usual (one command exited 3: 1)"
is "$(tr '\n' ' ' <"$T/fol.out")" "ran: one ran: two ran: four ran: fail " "(e) -k: in seq order"
check "(e) ATTACH_FOLLOW of the batch, have=0" grep -qx "conn=1 ATTACH mode=3 batch=$ID have=0" "$T/fol.frames"
is "$(tail -n +2 "$T/fol.joblog" | awk -F'\t' '{print $1 ":" $7 ":" $9}' | sort -n | tr '\n' ' ')" \
    "1:0:one 2:0:two 4:0:four 5:3:fail " "(e) joblog: seqs, exit values and the command texts from COMMAND"
check "(e) ACK 4 after BYE" grep -qx 'conn=1 ACK count=4' "$T/fol.frames"
fake_client fol2 --attach 0123456789abcdef
is "$RC" 255 "(e) --attach of an unknown batch: exit 255"
check "(e) with the master's words" grep -q 'the master says: no batch 0123456789abcdef on this master' "$T/fol2.err"
fake_client bad --attach 12345
is "$RC" 255 "bad ID: exit 255"
check "bad ID: a clear message" grep -q "\-\-attach: '12345' is not a batch ID (16 hexadecimal digits" "$T/bad.err"
check "bad ID: refused before connecting (no connection logged)" test "$(grep -c 'conn=3' "$T/fol.frames")" = 0
fake_client bad2 --attach 00c0ffee1234567g
is "$RC" 255 "bad ID (a non-hex digit): exit 255"

# --attach reconnects too: ATTACH_FOLLOW again with have=2; the COMMANDs
# it knows come again and are skipped; nothing printed twice.
start_fake fold follow-drop
fake_client fold --attach "$ID" -k -q
is "$RC" 1 "(e) --attach, connection dropped after 2 results: resumed, exit status as usual"
is "$(tr '\n' ' ' <"$T/fold.out")" "ran: one ran: two ran: four ran: fail " "(e) every result once, in seq order"
check "(e) ATTACH_FOLLOW again with have=2" grep -qx "conn=2 ATTACH mode=3 batch=$ID have=2" "$T/fold.frames"
check "(e) ACK 4 on the second connection" grep -qx 'conn=2 ACK count=4' "$T/fold.frames"
# (f) --batches: a table, and JSON lines.
start_fake ls list
fake_client ls --batches
created=$(date -d @1764590400 '+%Y-%m-%d %H:%M:%S')
expected=$(printf '%-16s  %-9s  %11s  %7s  %-19s  %s\n' ID STATE DONE/TOTAL RUNNING CREATED CLIENT \
    "$ID" detached 4/10 2 "$created" 127.0.0.1:5555 fedcba9876543210 delivered 3/3 0 "$created" 10.0.0.7:4242)
is "$RC" 0 "(f) --batches: exit 0"
is "$(cat "$T/ls.out")" "$expected" "(f) --batches: the table (created in local time)"
check "(f) ATTACH_LIST" grep -qx 'conn=1 ATTACH mode=2 batch=0000000000000000 have=0' "$T/ls.frames"
fake_client lsj --batches --json
is "$RC/$(wc -l <"$T/lsj.out")" "0/2" "(f) --batches --json: one line per batch"
is "$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    print(o["batch"], o["state"], o["done"], o["submitted"], o["running"], o["created_ms"], o["client"])' "$T/lsj.out" | tr '\n' ';')" \
    "$ID detached 4 10 2 1764590400000 127.0.0.1:5555;fedcba9876543210 delivered 3 3 0 1764590400000 10.0.0.7:4242;" \
    "(f) --batches --json: the fields"

# (g) Ctrl-C: CANCEL, exit 130; SIGTERM: 143.
for sig in INT TERM; do
    start_fake "hang$sig" hang
    "$BIN/client" 127.0.0.1 "$FAKE_PORT" "$T/cmds" >"$T/hang$sig.out" 2>"$T/hang$sig.err" &
    cpid=$!
    PIDS+=("$cpid")
    wait_for_line "$T/hang$sig.frames" 'END' 10 >/dev/null || ok 1 "client sent END"
    t0=$(ms)
    kill -"$sig" "$cpid"
    rc=0; wait "$cpid" || rc=$?
    want=$([ "$sig" = INT ] && echo 130 || echo 143)
    is "$rc" "$want" "(g) SIG$sig: exit $want"
    check "(g) SIG$sig: at once ($(( $(ms) - t0 )) ms)" test $(( $(ms) - t0 )) -lt 2000
    wait_for_line "$T/hang$sig.frames" 'EOF' 5 >/dev/null
    is "$(frames "hang$sig" | sed 's/.*END //')" "CANCEL EOF " "(g) SIG$sig: CANCEL sent, then the connection closed"
    check "(g) SIG$sig: says the batch is cancelled" grep -qx 'client: interrupted: the batch is cancelled' "$T/hang$sig.err"
done

# A client that gives up (a protocol error) cancels its batch: it would
# otherwise be orphaned and run on.
start_fake badr badresult
fake_client badr "$T/cmds"
is "$RC" 255 "a result for an unknown seq: exit 255"
check "a protocol error, named" grep -q 'protocol error: result for unknown or finished command 99' "$T/badr.err"
wait_for_line "$T/badr.frames" 'EOF' 5 >/dev/null
is "$(frames badr | sed 's/.*END //')" "CANCEL EOF " "and the batch is cancelled (CANCEL, then the connection closed)"

# (h) An ephemeral master: no reconnection, and --detach refused.
start_fake eph ephemeral -k 3
t0=$(ms)
fake_client eph "$T/cmds"
took=$(( $(ms) - t0 ))
is "$RC" 255 "(h) ephemeral master, connection dropped: exit 255"
check "(h) at once ($took ms)" test "$took" -lt 3000
check "(h) says the connection was lost, with the count" grep -q 'lost the connection to the master (4 of 8 results received)' "$T/eph.err"
is "$(grep -c 'reconnecting' "$T/eph.err")/$(grep -c '^conn=2' "$T/eph.frames")" "0/0" "(h) no reconnection attempted"
start_fake ephd ephemeral-detach
fake_client ephd --detach "$T/cmds"
is "$RC/$(wc -c <"$T/ephd.out")" "255/0" "(h) --detach on an ephemeral master: exit 255, nothing on stdout"
check "(h) says why" grep -q 'this master keeps no journal (--ephemeral): a detached batch would not survive it; run without --detach' "$T/ephd.err"
wait_for_line "$T/ephd.frames" 'EOF' 5 >/dev/null
is "$(grep -c SUBMIT "$T/ephd.frames")" 0 "(h) no command was submitted"

# The read-ahead is bounded: with nothing ACCEPTED, the client stops
# reading its file after 100,000 SUBMITs (and at most one 64 KiB read).
seq 1 150000 | sed 's/^/true /' >"$T/big"
start_fake na noaccept
"$BIN/client" 127.0.0.1 "$FAKE_PORT" "$T/big" >/dev/null 2>"$T/na.err" &
cpid=$!
PIDS+=("$cpid")
last=-1
for _ in $(seq 1 100); do
    sleep 0.5
    n=$(grep -c SUBMIT "$T/na.frames")
    [ "$n" = "$last" ] && [ "$n" -gt 0 ] && break
    last=$n
done
check "nothing accepted: the client stopped reading after 100,000 SUBMITs (sent $n of 150000)" \
    test "$n" -ge 100000 -a "$n" -le 115000
kill -TERM "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null

# A master older than batches refuses ATTACH: the client connects again
# without FRAME_FLAG_RESUME and runs as before batches.
start_fake old old
fake_client old "$T/cmds"
is "$RC" 1 "older master: exit status as the reference"
check "older master: stdout as the reference's" same_output "$T/ref.out" "$T/old.out"
is "$(grep '^conn=2' "$T/old.frames" | awk '{print $2}' | tr '\n' ' ')" \
    "HELLO SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT SUBMIT END EOF " "older master: no ATTACH, no ACK the second time"
check "older master: the second HELLO without FRAME_FLAG_RESUME" grep -qx 'conn=2 HELLO version=4 flags=0' "$T/old.frames"
fake_client oldd --detach "$T/cmds"
is "$RC/$(wc -c <"$T/oldd.out")" "255/0" "older master: --detach refused, nothing on stdout"
check "older master: --detach says why" grep -q 'this master is older than batches' "$T/oldd.err"

# Usage.
check "usage names the new options" sh -c "'$BIN/client' --help | grep -q -- '--reconnect SECS' && '$BIN/client' --help | grep -q -- '--attach ID' && '$BIN/client' --help | grep -q -- '--batches' && '$BIN/client' --help | grep -q -- '--detach'"
rc=0; "$BIN/client" --attach "$ID" "$T/cmds" >/dev/null 2>"$T/u1.err" || rc=$?
is "$rc" 255 "--attach with a FILE: usage error, exit 255"
rc=0; "$BIN/client" --detach --batches "$T/cmds" >/dev/null 2>"$T/u2.err" || rc=$?
is "$rc" 255 "--detach with --batches: exit 255"

# (m) Ctrl-C while the master is out of reach: the client says it cancels
# once the master answers, and does (CANCEL on the next connection, right
# after its ATTACH); exit 130.
bg_client() { # bg_client NAME [options and file]: in the background, BG_PID
    local name=$1; shift
    "$BIN/client" 127.0.0.1 "$FAKE_PORT" "$@" >"$T/$name.out" 2>"$T/$name.err" & # not under timeout(1): it sends our signal twice
    BG_PID=$!
    PIDS+=("$BG_PID")
}
start_fake ctrlc unreachable -k 2
bg_client ctrlc "$T/cmds"
check "(m) the client lost its master and reconnects" wait_for_line "$T/ctrlc.err" 'reconnecting for up to' 10
kill -INT "$BG_PID"
RC=0; wait "$BG_PID" || RC=$?
is "$RC" 130 "(m) Ctrl-C while the master was away: exit 130"
check "(m) it said it would cancel once the master answers" grep -q 'cancelling batch .* as soon as the master answers' "$T/ctrlc.err"
check "(m) and it did: CANCEL after the ATTACH of the next connection" grep -q '^conn=2 CANCEL' "$T/ctrlc.frames"
check "(m) 'the batch is cancelled'" grep -q 'interrupted: the batch is cancelled' "$T/ctrlc.err"

# (n) ... and a master that does not come back within 5 s: the truth, not
# "cancelled": the batch runs on, and how to take it.
start_fake ctrlc2 gone -k 2
bg_client ctrlc2 "$T/cmds"
check "(n) the client lost its master and reconnects" wait_for_line "$T/ctrlc2.err" 'reconnecting for up to' 10
t0=$(ms)
kill -INT "$BG_PID"
RC=0; wait "$BG_PID" || RC=$?
took=$(( $(ms) - t0 ))
is "$RC" 130 "(n) exit 130"
check "(n) it tried for 5 s, not for --reconnect's 60 ($took ms)" test "$took" -ge 4500 -a "$took" -lt 15000
check "(n) it says the batch was NOT cancelled, and how to take it" \
    grep -q "batch $ID was NOT cancelled; it runs on, .*'client --attach $ID' takes it" "$T/ctrlc2.err"
check "(n) never 'the batch is cancelled'" bash -c "! grep -q 'the batch is cancelled' '$T/ctrlc2.err'"

# (o) A second Ctrl-C meanwhile leaves at once, saying the same.
start_fake ctrlc3 gone -k 2
bg_client ctrlc3 "$T/cmds"
check "(o) the client lost its master and reconnects" wait_for_line "$T/ctrlc3.err" 'reconnecting for up to' 10
kill -INT "$BG_PID"
wait_for_line "$T/ctrlc3.err" 'as soon as the master answers' 10 >/dev/null
t0=$(ms)
kill -INT "$BG_PID"
RC=0; wait "$BG_PID" || RC=$?
took=$(( $(ms) - t0 ))
is "$RC" 130 "(o) a second Ctrl-C: exit 130"
check "(o) at once ($took ms)" test "$took" -lt 2000
check "(o) saying the batch was not cancelled" grep -q "batch $ID was NOT cancelled" "$T/ctrlc3.err"

done_testing
