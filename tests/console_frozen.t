#!/usr/bin/env bash
# console_frozen.t: a daemon whose console (stdout) nobody reads - a terminal
# frozen by Ctrl-S, "serveur_esclave | less" left on its first page, a
# pipe to a stuck reader - must go on serving: the console view is for
# watching, not a reason to stop. Today console_write() blocks in fflush()
# once the pipe (64 KiB) is full: the slave stops answering (the master
# declares it dead), the client waits forever, SIGTERM no longer stops it.
. "$(dirname "$0")/lib.sh"

mkfifo "$T/s.fifo" "$T/m.fifo"
exec 7<>"$T/s.fifo" 8<>"$T/m.fifo" # held open, never read

mkdir -p "$T/s1"
(cd "$T/s1" && exec "$BIN/serveur_esclave" -j 4 0) >"$T/s.fifo" 2>"$T/s1.log" &
SLAVE_PID=$!
PIDS+=("$SLAVE_PID")
line=$(wait_for_line "$T/s1.log" 'listening on UDP' 20) || bail "slave did not start: $(cat "$T/s1.log")"
SLAVE_PORT=$(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
"$BIN/serveur_maitre" --ephemeral 0 "$T/slaves.conf" >"$T/m.fifo" 2>"$T/master.log" &
MASTER_PID=$!
PIDS+=("$MASTER_PID")
line=$(wait_for_line "$T/master.log" 'listening on TCP' 20) || bail "master did not start: $(cat "$T/master.log")"
MASTER_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
wait_slaves_up master 1 || bail "slave not seen by the master"

# 300 commands, each ~1 KiB of console on the slave (5 lines of 200 bytes)
long=$(printf 'x%.0s' $(seq 1 200))
for i in $(seq 1 300); do echo "seq 1 50 | sed 's/^/$long/'; echo $i"; done >"$T/cmds.txt"
RC=0
timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/cmds.txt" >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 0 "a client's 300 commands all run while nobody reads the daemons' console"
check "the slave was never considered dead" sh -c "! grep -q 'considered dead' '$T/master.log'"

# and SIGTERM still stops them
check_term_stops "$SLAVE_PID" "$MASTER_PID"
done_testing
