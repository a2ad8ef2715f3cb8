#!/usr/bin/env bash
# The command-line contract end to end: 3 slaves x 2 slots, a master, the
# client's output formats and exit statuses.
. "$(dirname "$0")/lib.sh"

cluster 3 -j 2

cat >"$T/cmds.txt" <<'CMDS'
echo alpha
# comment

printf 'beta\n' >&2
exit 7
   
for i in 1 2 3; do echo gamma-$i; done
sleep 0.2; echo delta
CMDS
run_client "$T/cmds.txt" --results "$T/r" --joblog "$T/j"
is "$RC" 1 "exit status is the number of failed commands"
is "$(cat "$T/r/1/stdout")" alpha "results: stdout of seq 1"
is "$(cat "$T/r/2/stderr")" beta "results: stderr of seq 2"
is "$(cat "$T/r/4/stdout")" "$(printf 'gamma-1\ngamma-2\ngamma-3')" "results: multi-line stdout of seq 4"
is "$(head -n1 "$T/j")" "$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')" "joblog header"
is "$(awk -F'\t' '$1==3 {print $7}' "$T/j")" 7 "joblog Exitval of seq 3"
is "$(($(wc -l <"$T/j") - 1))" 5 "joblog has one line per command"
check "joblog Host is a slave's host:port" grep -qE "^1	127\.0\.0\.1:(${SLAVE_PORTS[0]}|${SLAVE_PORTS[1]}|${SLAVE_PORTS[2]})	" "$T/j"
check "joblog Command column" grep -qP '^5\t.*\tsleep 0\.2; echo delta$' "$T/j"
check "status line with slave, duration and code retour" grep -qE '^==> \[3\] exit 7 -- on 127\.0\.0\.1:[0-9]+, [0-9.]+ (us|ms|s), code retour = 7$' "$T/err"
check "command output shown" grep -qx delta "$T/out"
check "command stderr on the client's stderr" grep -qx beta "$T/err"
check "summary line (on stderr)" grep -qE '^==> 5 commands: 4 succeeded, 1 failed, wall time' "$T/err"
is "$(grep -c '^==> ' "$T/out")" 0 "stdout holds no status line and no summary"
check "every slave ran something" test "$(cut -f2 "$T/j" | sort -u | grep -c 127.0.0.1)" = 3

# Reading the commands from standard input.
RC=0; printf 'echo from-stdin\n' | timeout 60 "$BIN/client" 127.0.0.1 "$MASTER_PORT" - >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 0 "'-' reads standard input, exit 0 when all succeed"
check "stdin command ran" grep -qx from-stdin "$T/out"

# Input order with -k, completion order without.
printf 'sleep 0.6; echo first\nsleep 0.3; echo second\necho third\n' >"$T/order.txt"
run_client -q "$T/order.txt"
is "$(tr '\n' ' ' <"$T/out")" "third second first " "default: completion order"
run_client -q -k "$T/order.txt"
is "$(tr '\n' ' ' <"$T/out")" "first second third " "-k: input order"

# Where a command runs (README "Where commands run"): in its slave's
# working directory (lib.sh starts slave sN in $T/sN), with the slave's
# environment, not the client's.
printf 'pwd\necho "[${SMP_ONLY_IN_CLIENT:-unset}]"\n' >"$T/where.txt"
SMP_ONLY_IN_CLIENT=client-value run_client -q -k "$T/where.txt"
check "a command runs in its slave's directory ($(head -1 "$T/out"))" grep -Eqx "$T/s[123]" <(head -1 "$T/out")
is "$(sed -n 2p "$T/out")" "[unset]" "with the slave's environment: a variable of the client's is not there"

# Exit statuses: counts, 101 beyond 100.
for i in $(seq 1 105); do echo "exit $((i % 250 + 1))"; done >"$T/fail105.txt"
printf 'true\nfalse\nexit 3\nexit 255\n' >"$T/fail3.txt"
run_client -q "$T/fail3.txt"
is "$RC" 3 "3 failed commands: exit 3"
run_client -q "$T/fail105.txt"
is "$RC" 101 "more than 100 failed: exit 101"

# A command killed by a signal.
printf 'kill -9 $$\n' >"$T/sig.txt"
run_client "$T/sig.txt" --joblog "$T/jsig"
is "$(awk -F'\t' 'NR==2 {print $7 "/" $8}' "$T/jsig")" "0/9" "killed by signal 9: Exitval 0, Signal 9 (GNU parallel's joblog)"
check "human output says killed by signal" grep -q 'killed by signal 9' "$T/err"

# JSON: one valid object per line, exact bytes even when not UTF-8.
printf '%s\n' "printf 'caf\\303\\251\\n'" "printf '\\377\\376\\000x'" "echo err >&2; exit 4" >"$T/json.txt"
run_client --json "$T/json.txt"
is "$RC" 1 "--json: exit status unchanged"
check "--json: 3 lines, each valid JSON with the right bytes" python3 - "$T/out" <<'PY'
import base64, json, sys
rows = {}
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    rows[o["seq"]] = o
assert len(rows) == 3, rows
assert rows[1]["stdout"] == "caf\u00e9\n" and rows[1]["exitval"] == 0, rows[1]
assert rows[2]["stdout"] is None and base64.b64decode(rows[2]["stdout_base64"]) == b"\xff\xfe\x00x", rows[2]
assert rows[3]["stderr"] == "err\n" and rows[3]["exitval"] == 4 and rows[3]["host"].startswith("127.0.0.1:"), rows[3]
PY

# Lines that are not run: a NUL byte, too long. The others still run.
{ echo 'echo before'; printf 'echo a\000b\n'; head -c 70000 /dev/zero | tr '\0' x; echo; echo 'echo after'; } >"$T/bad.txt"
run_client "$T/bad.txt" --joblog "$T/jbad"
is "$RC" 2 "two bad lines count as two failures"
check "NUL line named in the error" grep -q 'line 2: NUL byte' "$T/err"
check "overlong line named in the error" grep -q 'line 3: command longer than 65536 bytes' "$T/err"
check "the other lines ran" grep -qx after "$T/out"
is "$(awk -F'\t' '$1==2 || $1==3 {print $7}' "$T/jbad" | tr '\n' ' ')" "-1 -1 " "bad lines in the joblog with Exitval -1"

# A 65000-byte command crosses datagrams intact (two fragments even on
# loopback, where fragments are 60000 bytes).
long=$(head -c 65000 /dev/zero | tr '\0' A)
echo "echo $long | wc -c" >"$T/long.txt"
run_client -q "$T/long.txt"
is "$(tr -d ' ' <"$T/out")" 65001 "a 65000-byte command carried intact"

# Several MiB of output, byte-exact; beyond the cap: truncated, visibly.
head -c 3000000 /dev/urandom >"$T/blob"
printf 'cat %s\nseq 1 1000000\n' "$T/blob" >"$T/big.txt"
run_client -q "$T/big.txt" --results "$T/rb"
check "3 MB of random bytes byte-exact" cmp -s "$T/blob" "$T/rb/1/stdout"
is "$(stat -c %s "$T/rb/2/stdout")" 4194304 "output beyond the 4 MiB cap is cut at the cap"
check "the cut output is an exact prefix" cmp -s <(seq 1 1000000 | head -c 4194304) "$T/rb/2/stdout"
run_client "$T/big.txt" --results "$T/rb2"
check "truncation shown to the user" grep -q 'warning: command 2: stdout truncated to 4194304 bytes' "$T/err"
run_client -q "$T/big.txt" --results "$T/rb3"
check "even with -q" grep -q 'warning: command 2: stdout truncated to 4194304 bytes' "$T/err"
# The warning starts a line of its own, after a stderr that ends none.
printf '%s\n' "printf no-newline >&2; seq 1 1000000" >"$T/glued.txt"
run_client -q "$T/glued.txt"
is "$(cat "$T/err")" "no-newline
client: warning: command 1: stdout truncated to 4194304 bytes by the slave's output cap" \
    "a warning after a command's stderr without a final newline starts its own line"

# --timeout: the command and everything it started are ended: TERM, then
# TERM twice more and KILL (GNU parallel's default --termseq), and the
# joblog says how it ended as GNU parallel's does: -1/15 killed by TERM,
# 3/0 for a command that caught TERM and exited 3, -1/9 for one that
# ignored TERM (KILL came 350 ms later).
printf '%s\n' "sleep 30" "(sleep 2; touch $T/grandchild-survived) & sleep 30" "echo quick" \
    "trap 'exit 3' TERM; sleep 30 & wait" "trap '' TERM; sleep 3" >"$T/slow.txt"
start=$(date +%s)
run_client --timeout 1 "$T/slow.txt" --joblog "$T/jslow"
took=$(( $(date +%s) - start ))
is "$RC" 4 "four commands timed out: exit 4"
check "ended after about 1 s (took $took s)" test "$took" -le 5
is "$(awk -F'\t' '$1<=2 {print $7 "/" $8}' "$T/jslow" | sort -u)" "-1/15" "timed out: Exitval -1, Signal 15 (TERM) in the joblog"
is "$(awk -F'\t' '$1==4 {print $7 "/" $8}' "$T/jslow")" "3/0" "a command that caught TERM and exited 3: Exitval 3, Signal 0"
is "$(awk -F'\t' '$1==5 {print $7 "/" $8 "/" ($4 < 2.5)}' "$T/jslow")" "-1/9/1" \
    "a command that ignored TERM: KILL, well before its sleep 3 ended"
check "the client says it timed out" grep -q 'code retour = -1 (timed out: killed)' "$T/err"
check "the other command was unaffected" grep -qx quick "$T/out"
sleep 1.5 # the grandchild would have touched its file 2 s after it started
check "the background grandchild was killed too (its later side effect never happens)" test ! -e "$T/grandchild-survived"

# Errors of the client itself: 255 with a message naming the cause.
run_client "$T/missing.txt"
is "$RC" 255 "missing command file: 255"
check "message names the file" grep -q "cannot open the command file '$T/missing.txt'" "$T/err"

done_testing
