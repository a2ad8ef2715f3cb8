#!/usr/bin/env bash
# The console view (README.md "In the classroom"): each slave's stdout
# shows the commands it ran with the client's own [N] and the client's
# address, their output cut to 5 lines with a count of the rest, and
# "code retour" (or the signal, the timeout); the master's stdout shows
# where each command went and its result; the logs stay on stderr; -q
# silences all of it. A command run again after its slave died shows on
# the other slave with the same [N].
. "$(dirname "$0")/lib.sh"

# console_slave NAME [options]: a slave whose stdout ($T/NAME.out) is apart
# from its log ($T/NAME.log); SLAVE_PORT, SLAVE_PID
console_slave() {
    local name=$1; shift
    mkdir -p "$T/$name"
    (cd "$T/$name" && exec $WRAP "$BIN/serveur_esclave" "$@" 0) >"$T/$name.out" 2>"$T/$name.log" &
    SLAVE_PID=$!
    PIDS+=("$SLAVE_PID")
    SLAVE_PORT=$(port_of "$SLAVE_PID" u) || bail "slave $name did not start: $(cat "$T/$name.log")"
}
# port_of PID u|t: the port PID listens on (-q says no "listening on" line)
port_of() {
    local i p
    for i in $(seq 1 400); do
        p=$(ss -Hln$2p | grep "pid=$1," | sed -E 's/.*127\.0\.0\.1:([0-9]+) .*/\1/' | head -1)
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.05
    done
    return 1
}
# console_cluster [options for the three]: slaves c1 c2 of 2 slots, a master (m)
console_cluster() {
    : >"$T/slaves.conf"
    NAMES=()
    for s in c1 c2; do
        console_slave $s -j 2 "$@"
        echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
        eval "PORT_$s=$SLAVE_PORT PID_$s=$SLAVE_PID"
    done
    $WRAP "$BIN/serveur_maitre" --ephemeral --dead-after 1 "$@" 0 "$T/slaves.conf" >"$T/m.out" 2>"$T/m.log" &
    MASTER_PID=$!
    PIDS+=("$MASTER_PID")
    MASTER_PORT=$(port_of "$MASTER_PID" t) || bail "master did not start: $(cat "$T/m.log")"
    [ "${1:-}" = -q ] || wait_slaves_up m 2 || bail "slaves not seen by the master"
}

cat >"$T/cmds.txt" <<'EOF'
echo one
seq 1 20
echo oops >&2; exit 3
sleep 30
printf 'a\033]0;x\007b\n'
echo six
kill -9 $$
EOF
N=7
console_cluster
run_client --timeout 2 "$T/cmds.txt"
check "the client ran the batch: 4 succeeded, 3 failed" grep -q '^==> 7 commands: 4 succeeded, 3 failed (1 timed out)' "$T/err"
client_addr=$(grep -oE 'client 127\.0\.0\.1:[0-9]+ connected' "$T/m.log" | head -1 | sed -E 's/client (.*) connected/\1/')
check "the master logged the client's address" test -n "$client_addr"

# which slave's console shows [n] starting, and how often over both
for n in $(seq 1 $N); do
    where=""
    for s in c1 c2; do
        c=$(grep -cE "^\[$n\] .*   \(client $client_addr\)\$" "$T/$s.out")
        [ "$c" -ge 1 ] && where="$where $s:$c"
    done
    eval "WHERE_$n='$where'"
done
all_once=0
for n in $(seq 1 $N); do
    eval "w=\$WHERE_$n"
    case "$w" in " c1:1" | " c2:1") ;; *) all_once=1; echo "#   [$n] started on:$w" >&2 ;; esac
done
ok $all_once "each command's start shows once, on one slave's console, with the client's [N] and address"
check "both slaves ran some" bash -c "grep -q '(client ' '$T/c1.out' && grep -q '(client ' '$T/c2.out'"

# The client's own "==> [n] command -- on HOST:PORT" names the slave whose console showed [n] with that command
same=0
while read -r n cmd; do
    host=$(grep -E "^==> \[$n\] " "$T/err" | sed -E 's/.* -- on ([0-9.]+:[0-9]+),.*/\1/')
    eval "w=\$WHERE_$n"; s=${w#" "}; s=${s%%:*}
    port=$(eval echo "\$PORT_$s")
    [ "$host" = "127.0.0.1:$port" ] || { same=1; echo "#   [$n]: client says $host, console of $s (port $port)" >&2; }
    grep -qF "[$n] $cmd   (client $client_addr)" "$T/$s.out" || { same=1; echo "#   [$n] $cmd not on $s's console" >&2; }
done <<EOF
1 echo one
2 seq 1 20
3 echo oops >&2; exit 3
4 sleep 30
6 echo six
7 kill -9 \$\$
EOF
ok $same "the client's [N] and slave match the console's [N] and command"

cat "$T/c1.out" "$T/c2.out" >"$T/both.out"
is "$(grep -E '^\[2\] \| ' "$T/both.out")" "[2] | 1
[2] | 2
[2] | 3
[2] | 4
[2] | 5
[2] | ... 15 more lines" "20 lines of output: the first 5, then the count of the rest"
is "$(grep -E '^\[2\] ' "$T/both.out" | tail -1)" "[2] code retour = $(grep -oE '^\[2\] code retour = 0 \([0-9]+ ms\)' "$T/both.out" | sed 's/.*= //')" \
    "its outcome line comes last: code retour = 0 (D ms)"
check "[2]: code retour = 0 with its duration" grep -qE '^\[2\] code retour = 0 \([0-9]+ ms\)$' "$T/both.out"
is "$(grep -E '^\[1\] ' "$T/both.out" | grep -v '(client ')" "[1] | one
[1] code retour = 0 ($(grep -oE '^\[1\] code retour = 0 \(([0-9]+) ms\)' "$T/both.out" | grep -oE '[0-9]+ ms'))" "[1]: its one line, code retour = 0"
is "$(grep -E '^\[3\] (!|code)' "$T/both.out" | sed -E 's/\([0-9]+ ms\)/(D ms)/')" "[3] ! oops
[3] code retour = 3 (D ms)" "[3]: its stderr marked '!', code retour = 3"
check "[4]: the timeout, as such" grep -qE '^\[4\] timed out: killed by signal (15|9) \((19[0-9]{2}|2[0-9]{3}|[3-9][0-9]{3}) ms\)' "$T/both.out"
check "[7]: killed by signal 9, as such" grep -qE '^\[7\] killed by signal 9 \([0-9]+ ms\)$' "$T/both.out"
check "[5]: control bytes escaped (no ESC or BEL reaches the terminal)" \
    grep -qF '[5] | a\x1b]0;x\x07b' "$T/both.out"
check "[5]: the command line escaped too" grep -qF "[5] printf 'a\\033]0;x\\007b\\n'   (client" "$T/both.out"
is "$(LC_ALL=C grep -c $'[\x01-\x08\x0b-\x1f\x7f]' "$T/both.out")" 0 "no control byte on the slaves' stdout"
is "$(grep -cE '^\[[0-9]+\] (code retour|killed by|timed out)' "$T/both.out")" "$N" "one outcome line per command"
is "$(cat "$T/c1.log" "$T/c2.log" "$T/m.log" | grep -cE 'code retour|\(client ')" 0 "the console is on stdout only: nothing of it in the logs (stderr)"
check "and the logs' lines are not on stdout" bash -c "! grep -qE 'info:|listening on' '$T/both.out' '$T/m.out'"

# The master's console: where each went, its result, the same slave as the slaves' consoles say
mast=0
for n in $(seq 1 $N); do
    eval "w=\$WHERE_$n"; s=${w#" "}; s=${s%%:*}
    port=$(eval echo "\$PORT_$s")
    is_to=$(grep -cxF "[$n] client $client_addr -> slave 127.0.0.1:$port" "$T/m.out")
    is_back=$(grep -cE "^\[$n\] <- slave 127\.0\.0\.1:$port: (code retour = [0-9]+|killed by signal 9|timed out: killed by signal [0-9]+) \([0-9]+ ms\)$" "$T/m.out")
    [ "$is_to" = 1 ] && [ "$is_back" = 1 ] || { mast=1; echo "#   [$n] on $s: $is_to sent, $is_back back" >&2; }
done
ok $mast "the master's console: each [N] sent to the slave that ran it, and its result back from it"
check "the master's console: [3]'s code retour = 3" grep -qE "^\[3\] <- slave 127\.0\.0\.1:[0-9]+: code retour = 3 " "$T/m.out"
is "$(wc -l <"$T/m.out")" $((2 * N)) "two lines per command on the master's console, no more"
stop_all

# -q: nothing on stdout, the work is the same
console_cluster -q
run_client --timeout 2 "$T/cmds.txt"
check "-q: the batch runs the same" grep -q '^==> 7 commands: 4 succeeded, 3 failed (1 timed out)' "$T/err"
is "$(grep -c '^==> \[' "$T/err")" "$N" "-q: the client has every result"
is "$(cat "$T/c1.out" "$T/c2.out" "$T/m.out" | wc -c)" 0 "-q: nothing on the slaves' or the master's stdout"
stop_all

# A command whose slave dies runs again on the other: that console shows the same [N]
printf 'echo first\nsleep 3; echo late\n' >"$T/die.txt"
console_cluster
( timeout 120 "$BIN/client" --retries 3 127.0.0.1 "$MASTER_PORT" "$T/die.txt" >"$T/die.out" 2>"$T/die.err"; echo $? >"$T/die.rc" ) &
PIDS+=("$!")
line=$(wait_for_line "$T/m.out" '^\[2\] client .* -> slave' 20)
ok $? "[2] dispatched"
port=$(echo "$line" | sed -E 's/.*:([0-9]+)$/\1/')
if [ "$port" = "$PORT_c1" ]; then dead=c1 other=c2; else dead=c2 other=c1; fi
wait_for_line "$T/$dead.out" '^\[2\] sleep 3; echo late   \(client ' 20 >/dev/null
ok $? "[2] started on $dead"
eval "pid=\$PID_$dead"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
wait_for_line "$T/$other.out" '^\[2\] \| late$' 40 >/dev/null
ok $? "after $dead died, [2] ran on $other and shows there with the same [2]"
wait_for_line "$T/die.rc" '^[0-9]+$' 60 >/dev/null
is "$(cat "$T/die.rc")" 0 "the client got both results"
check "the master's console shows [2] sent again, to $other" \
    grep -qE "^\[2\] client [0-9.:]+ -> slave 127\.0\.0\.1:$(eval echo "\$PORT_$other") \(again\)$" "$T/m.out"
check "the client's [2] is on $other" grep -qE "^==> \[2\] sleep 3; echo late -- on 127\.0\.0\.1:$(eval echo "\$PORT_$other")," "$T/die.err"

# A client that goes away: its running command is cancelled, and its slave's console says so
printf 'echo quick\nsleep 30\n' >"$T/gone.txt"
"$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/gone.txt" >"$T/gone.out" 2>"$T/gone.err" &
cpid=$!
PIDS+=("$cpid")
wait_for_line "$T/$other.out" '^\[2\] sleep 30   \(client ' 20 >/dev/null
ok $? "the second client's [2] started on $other"
kill -KILL "$cpid"
wait "$cpid" 2>/dev/null
wait_for_line "$T/$other.out" '^\[2\] killed: cancelled by the master$' 20 >/dev/null
ok $? "its client gone, [2] is killed, and $other's console says so"
done_testing
