#!/bin/sh
# start_servers.sh - the classroom launch: one slave for every line of
# slaves.conf that names this machine, then the master, all in the
# background. Logs go to logs/, PIDs to .servers.pids (stop_servers.sh),
# both in $RUN_DIR (default: this directory).
#
#   ./start_servers.sh [SLAVES_CONF [MASTER_PORT]]
set -eu
conf=$(cd "$(dirname "${1:-slaves.conf}")" && pwd)/$(basename "${1:-slaves.conf}")
here=$(cd "$(dirname "$0")" && pwd)
cd "${RUN_DIR:-$here}"
PATH=$here:$PATH
port=${2:-6000}
[ -f "$conf" ] || { echo "start_servers.sh: no file '$conf'" >&2; exit 1; }
[ -x "$here/serveur_esclave" ] && [ -x "$here/serveur_maitre" ] || { echo "start_servers.sh: run 'make' first" >&2; exit 1; }
if [ -s .servers.pids ]; then
    for p in $(cat .servers.pids); do
        if kill -0 "$p" 2>/dev/null; then
            echo "start_servers.sh: servers already started (see .servers.pids); run ./stop_servers.sh first" >&2
            exit 1
        fi
    done
    rm -f .servers.pids # left by servers that died: nothing runs any more
fi
mkdir -p logs
: >.servers.pids
# A log line "listening on" means the program is ready.
wait_ready() {
    i=0
    while ! grep -q 'listening on' "$1" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$2" 2>/dev/null; then
            echo "start_servers.sh: $1 says:" >&2; cat "$1" >&2; "$here/stop_servers.sh"; exit 1
        fi
        sleep 0.1
    done
}
sed 's/#.*//' "$conf" | while read -r host sport slots extra; do
    [ -n "${host:-}" ] || continue
    case "$sport" in
    ''|*[!0-9]*) echo "start_servers.sh: $conf: '$host $sport' skipped: expected 'host port [slots]'" >&2; continue ;;
    esac
    case "${slots:-1}" in
    *[!0-9]*) echo "start_servers.sh: $conf: '$host $sport $slots' skipped: slots is not a number" >&2; continue ;;
    esac
    case "$host" in
    127.*|localhost) ;;
    *) echo "start_servers.sh: $host:$sport is another machine: start 'serveur_esclave $sport' there"; continue ;;
    esac
    serveur_esclave ${slots:+-j "$slots"} "$sport" >"logs/esclave-$sport.log" 2>&1 &
    echo $! >>.servers.pids
    wait_ready "logs/esclave-$sport.log" $!
    echo "slave  on UDP 127.0.0.1:$sport (log logs/esclave-$sport.log)"
done
serveur_maitre "$port" "$conf" >logs/maitre.log 2>&1 &
echo $! >>.servers.pids
wait_ready logs/maitre.log $!
echo "master on TCP 127.0.0.1:$port (log logs/maitre.log)"
# each log holds the daemon's console view too (its stdout): what it runs, with the client's [N]
echo "watch a slave work: tail -f logs/esclave-PORT.log (the client's [N], output, code retour)"
if [ "$port" = 6000 ]; then
    echo "now: ./client examples/commands.txt    stop: ./stop_servers.sh"
else
    echo "now: ./client 127.0.0.1 $port examples/commands.txt    stop: ./stop_servers.sh"
fi
