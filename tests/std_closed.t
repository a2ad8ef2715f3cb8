#!/usr/bin/env bash
# A program started with its standard streams closed (prog 2>&-, >&-, <&-,
# as some launchers do) opens them on /dev/null first: else the next file
# or socket it opens takes number 1 or 2, and its console, its log or its
# commands' stderr land in it (the client's joblog, the slave's
# cgroup.procs, the master's lock file).
. "$(dirname "$0")/lib.sh"
[ -d /proc/self/fd ] || skip_all "needs /proc (Linux)"

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
command -v python3 >/dev/null || skip_all "needs python3 (apt-get install python3)"
# fd_is PID FD: where that descriptor of the process points.
fd_is() { readlink "/proc/$1/fd/$2"; }

# A slave with stdout and stderr closed: both on /dev/null, it serves.
SPORT=$(free_port)
mkdir -p "$T/s"
(cd "$T/s" && exec $WRAP "$(prog serveur_esclave)" -j 2 "$SPORT" >&- 2>&-) &
SPID=$!
PIDS+=("$SPID")
echo "127.0.0.1 $SPORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf"
wait_slaves_up master 1 || bail "the slave without stdout and stderr is not up"
is "$(fd_is "$SPID" 1)/$(fd_is "$SPID" 2)" "/dev/null//dev/null" "slave >&- 2>&-: its stdout and stderr are /dev/null"
printf 'echo served\n' >"$T/one.txt"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/served" "and it runs commands"

# A client with stderr closed: the commands' stderr and its summary never
# reach its joblog (the first file it opens).
printf 'echo out1; echo err1 >&2\necho out2; echo err2 >&2\n' >"$T/c.txt"
RC=0
timeout 60 "$(prog client)" 127.0.0.1 "$MASTER_PORT" --joblog "$T/jl" - <"$T/c.txt" >"$T/out" 2>&- || RC=$?
is "$RC/$(sort "$T/out" | tr '\n' ' ')" "0/out1 out2 " "client 2>&-: served, stdout as usual"
is "$(wc -l <"$T/jl")" 3 "its joblog holds the header and 2 lines"
check "and no stderr of the commands nor summary line in it" bash -c "! grep -qE '^err[12]$|==>' '$T/jl'"

# A master with stdin, stdout and stderr closed: its lock file holds its
# pid, not its log; the journal none of its console lines.
MPORT=$(free_port)
(cd "$T/s" && exec $WRAP "$(prog serveur_maitre)" --state-dir "$T/mst" "$MPORT" "$T/slaves.conf" <&- >&- 2>&-) &
MPID=$!
PIDS+=("$MPID")
for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && break
    sleep 0.05
done
MASTER_PORT=$MPORT
for _ in $(seq 1 200); do # its slave up: a command runs
    run_client -q "$T/one.txt"
    [ "$RC/$(cat "$T/out")" = "0/served" ] && break
    sleep 0.1
done
is "$RC/$(cat "$T/out")" "0/served" "master <&- >&- 2>&-: it serves"
is "$(fd_is "$MPID" 1)/$(fd_is "$MPID" 2)" "/dev/null//dev/null" "its stdout and stderr are /dev/null"
is "$(cat "$T/mst/lock")" "$MPID" "its lock file holds its pid, not its log"
done_testing
