#!/usr/bin/env bash
# A slave the master cannot trust (issue 13): tests/fake_slave.py answers
# the real master's JOBs with results the real serveur_esclave never
# sends: flag bits only the master sets (RESULT_FLAG_CACHED: the client
# would show a run as served from the cache; RAN_TWICE), an unknown flag
# bit, a result for a job id never sent, and status / exit code / signal
# combinations no slave makes. The master clears its own bits, refuses the
# impossible results (the client gets "not_started" with the reason), logs
# what the slave did, and goes on serving. (doc/security.md 9)
. "$(dirname "$0")/lib.sh"

python3 "$TOP/tests/fake_slave.py" "$T/fake.jobs" >"$T/fake.log" 2>&1 &
PIDS+=($!)
line=$(wait_for_line "$T/fake.log" 'fake slave listening on UDP' 10) || bail "fake slave did not start: $(cat "$T/fake.log")"
FAKE_PORT=$(echo "$line" | sed -E 's/.*:([0-9]+)$/\1/')
echo "127.0.0.1 $FAKE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --ephemeral
wait_slaves_up master 1 || bail "the fake slave is not up: $(cat "$T/master.log")"

# The first of each kind alone (the master's log of a slave's misdeeds is
# rate-limited: 5 a second), then the rest in one batch.
: >"$T/all"
for c in 'echo flags=8' 'echo stray=1' 'echo status=0 signal=9'; do
    echo "$c" >"$T/one"
    run_client --json "$T/one"
    cat "$T/out" >>"$T/all"
done
cat >"$T/cmds" <<'EOF'
echo flags=4
echo flags=12 exit=3
echo flags=16
echo status=1 exit=-1 signal=0
echo status=1 exit=2 signal=15
echo status=2 exit=3
echo status=5
echo status=4 exit=-1 signal=9
echo status=1 exit=-1 signal=15
echo status=0 exit=-1073741819
echo status=0 exit=-1
echo fine
EOF
run_client --json "$T/cmds"
cat "$T/out" >>"$T/all"
j() { jq -c --arg c "$1" "select(.command == \$c) | $2" "$T/all"; }
is "$(jq -s length "$T/all")" 15 "one result per command, no more (the stray result reached no client)"

# 1. The master's own flag bits, set by the slave: cleared.
is "$(j 'echo flags=8' '[.status, .stdout, .cached]')" '["exited","ran: echo flags=8\n",null]' \
    "a slave's RESULT_FLAG_CACHED: the result is shown as run, not cached"
echo 'echo flags=8' >"$T/one"
run_client --joblog "$T/jl" "$T/one"
check "... its status line is the usual one, not cached" grep -q "^==> \[1\] echo flags=8 -- on 127.0.0.1:$FAKE_PORT, " "$T/err"
check "... and does not say cached" sh -c "! grep -q 'cached' '$T/err'"
is "$(awk -F'\t' 'NR==2 {print $2}' "$T/jl")" "127.0.0.1:$FAKE_PORT" "... the joblog's host is the slave, not 'cache'"
is "$(j 'echo flags=4' '.may_have_run_twice')" null "a slave's RAN_TWICE: not shown (dispatched once)"
is "$(j 'echo flags=12 exit=3' '[.exitval, .cached, .may_have_run_twice]')" '[3,null,null]' \
    "both bits on a failure: cleared, its exit code kept"
check "the master logs the slave's bits, naming the slave" \
    grep -q "slave 127.0.0.1:$FAKE_PORT set flag bits only the master sets (0x08) in the result of job" "$T/master.log"

# 2. An unknown flag bit: the result is refused (result_decode).
is "$(j 'echo flags=16' '[.status, .message]')" '["not_started","malformed result from the slave"]' \
    "an unknown flag bit: refused as malformed"

# 3. A result for a job id the master never sent: ignored, logged.
is "$(j 'echo stray=1' '.stdout')" '"ran: echo stray=1\n"' "beside a stray result, the job's own one"
check "the stray result is logged with its job id" \
    grep -qE "slave 127.0.0.1:$FAKE_PORT sent a result for job [0-9]{4}, which it was never given: ignored" "$T/master.log"

# 4. Combinations no slave makes: refused, the reason in the message.
for c in 'echo status=0 signal=9' 'echo status=1 exit=-1 signal=0' 'echo status=1 exit=2 signal=15' \
    'echo status=2 exit=3' 'echo status=5'; do
    is "$(j "$c" '[.status, (.message // "" | test("^impossible result from the slave"))]')" '["not_started",true]' \
        "refused: $c"
done
is "$(j 'echo status=0 signal=9' '.message')" \
    '"impossible result from the slave (exited with signal 9): it may have run"' "... the message says what was wrong"
is "$(j 'echo status=5' '.message')" \
    '"impossible result from the slave (status 5 is the master'"'"'s, never a slave'"'"'s): it may have run"' \
    "... a status only the master gives"
check "the master logs the impossible result, naming the slave" \
    grep -q "slave 127.0.0.1:$FAKE_PORT sent an impossible result for job [0-9]* (exited with signal 9): refused" \
    "$T/master.log"

# 5. What a slave does send still goes through.
is "$(j 'echo status=4 exit=-1 signal=9' '[.status, .signal]')" '["timed_out",9]' "a timeout: as sent"
is "$(j 'echo status=1 exit=-1 signal=15' '[.status, .signal]')" '["signaled",15]' "a signal: as sent"
is "$(j 'echo fine' '[.status, .exitval, .stdout]')" '["exited",0,"ran: echo fine\n"]' "an ordinary result: as sent"
# what a Windows slave sends (slave/runner_win32.c): a crash is an exit code (0xC0000005, negative as an int32),
# a timeout exit code -1 and signal 9
is "$(j 'echo status=0 exit=-1073741819' '[.status, .exitval]')" '["exited",-1073741819]' \
    "a Windows crash (exit code 0xC0000005): as sent"
is "$(j 'echo status=0 exit=-1' '[.status, .exitval]')" '["exited",-1]' "a Windows exit code 0xFFFFFFFF: as sent"

# 6. The master goes on serving.
echo 'echo after' >"$T/after"
run_client --json "$T/after"
is "$RC/$(jq -r .stdout "$T/out")" "0/ran: echo after" "the master still serves afterwards"
check "the master is still running" kill -0 "$MASTER_PID"
done_testing
