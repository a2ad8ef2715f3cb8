#!/usr/bin/env bash
# log_frozen.t: a daemon whose log (stderr) nobody reads - a terminal
# frozen by Ctrl-S, "serveur_maitre -v 2>&1 | less" left on its first
# page - must go on serving, as it does when its console (stdout) is not
# read (console_frozen.t): a log line with no room is dropped and counted,
# said once the log reads again. Before, fprintf(stderr) blocked once the
# pipe (64 KiB) was full: the master stopped, the client waited for ever.
. "$(dirname "$0")/lib.sh"

mkfifo "$T/s.fifo" "$T/m.fifo"
exec 7<>"$T/s.fifo" 8<>"$T/m.fifo" # held open; read only up to the listening line

# read_until FD PATTERN: the first line read from FD (byte by byte: nothing
# after it is taken) matching PATTERN, within 20 s
read_until() {
    local line
    while IFS= read -r -t 20 -u "$1" line; do
        case "$line" in *$2*) echo "$line"; return 0 ;; esac
    done
    return 1
}

mkdir -p "$T/s1"
(cd "$T/s1" && exec "$BIN/serveur_esclave" -v -j 4 0) >/dev/null 2>"$T/s.fifo" &
SLAVE_PID=$!
PIDS+=("$SLAVE_PID")
line=$(read_until 7 'listening on UDP') || bail "slave did not start"
SLAVE_PORT=$(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
"$BIN/serveur_maitre" -v --ephemeral 0 "$T/slaves.conf" >/dev/null 2>"$T/m.fifo" &
MASTER_PID=$!
PIDS+=("$MASTER_PID")
line=$(read_until 8 'listening on TCP') || bail "master did not start"
MASTER_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')

# 1500 commands: ~170 bytes of -v log each on each daemon, four times what
# a pipe holds
for i in $(seq 1 1500); do echo "echo $i"; done >"$T/cmds.txt"
RC=0
timeout 90 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/cmds.txt" >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 0 "a client's 1500 commands all run while nobody reads the daemons' log"
is "$(wc -l <"$T/out" | tr -d ' ')" 1500 "and every result came back"

# The log reads again: the next line says what was dropped. SIGUSR1 makes
# the master log its status (several lines): the first that fits once the
# reader has drained the pipe carries the count (asked again until then).
cat <&8 >"$T/m.rest" &
DRAIN=$!
PIDS+=("$DRAIN")
said() {
    local i
    for i in $(seq 1 10); do
        kill -USR1 "$MASTER_PID"
        wait_for_line "$T/m.rest" '^\(log: [0-9]+ lines or blocks dropped: nobody read the log\)$' 1 >/dev/null && return 0
    done
    return 1
}
check "the master says how many log lines it dropped" said
check "and logs on after it" wait_for_line "$T/m.rest" 'maitre: info: ' 10

check_term_stops "$SLAVE_PID" "$MASTER_PID"
done_testing
