#!/bin/sh
# examples/one-command.sh (make demo-trace): one command's life, watched.
# A master and one slave on loopback, all three programs with --trace, and
# (when tcpdump may capture here) the same run on the wire in a pcap that
# Wireshark and tshark decode with tools/wireshark/smp.lua. Prints the three
# traces merged in time order, then tshark's view of the capture, then
# stops everything. doc/protocol.md "A command's life" reads its output.
#
#   examples/one-command.sh                         echo bonjour, nothing lost
#   SLAVE_FAULT=drop=JOB examples/one-command.sh    the slave loses the request once
#   SLAVE_FAULT=double=JOB examples/one-command.sh  ... and gets it twice (run once)
#   MASTER_FAULT=drop=RESULT ...                    the master loses the result once
#   CMD='seq 3' OUT=run examples/one-command.sh     keep run/trace.txt, run/run.pcap
#
# The faults are --simulate's (drop=TYPE[:N], double=TYPE[:N], or loss=P...);
# MPORT (6000) and SPORT (10001) are the ports Wireshark's SMPM preferences
# expect by default; 0 for free ones (the tests: the capture then takes all
# of loopback's UDP and TCP, and tshark keeps this run's ports).
set -u
cd "$(dirname "$0")/.."
CMD=${CMD:-echo bonjour}
MPORT=${MPORT:-6000} SPORT=${SPORT:-10001}
SLAVE_FAULT=${SLAVE_FAULT:-} MASTER_FAULT=${MASTER_FAULT:-}
BIN=${SMP_BIN:-.} # which build of the programs (the tests run the sanitizers' too)
keep=${OUT:-}
if [ -n "$keep" ]; then
    mkdir -p "$keep" && work=$(cd "$keep" && pwd) || exit 1
else
    work=$(mktemp -d /tmp/smp-one.XXXXXX)
fi
pids="" capture=""
stop() {
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    [ -n "$capture" ] && kill -INT "$capture" 2>/dev/null
    wait 2>/dev/null
    [ -z "$keep" ] && rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
wait_for() { # FILE PATTERN [PID]: until the file has a line matching it (10 s at most, or PID's end)
    i=0
    until grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ] || { [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; }; then
            echo "one-command.sh: no '$2' in $1:" >&2; cat "$1" >&2; exit 1
        fi
        sleep 0.1
    done
}
sim() { [ -n "$1" ] && printf -- '--simulate %s' "$1"; }
port_of() { sed -nE "s/.*listening on $2 [^ ]*:([0-9]+)[ ,].*/\1/p" "$1" | head -n 1; } # LOG PROTO

if command -v tcpdump >/dev/null 2>&1; then
    tcpdump -i lo -B 65536 --immediate-mode -U -s 0 -w "$work/run.pcap" \
        "$([ "$SPORT" = 0 ] || [ "$MPORT" = 0 ] && echo udp or tcp || echo "udp port $SPORT or tcp port $MPORT")" 2>"$work/tcpdump.err" &
    capture=$!
    i=0 # tcpdump says "listening on lo" once it captures
    until grep -q 'listening on' "$work/tcpdump.err" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 50 ] || ! kill -0 "$capture" 2>/dev/null; then
            echo "(no capture: $(head -n 1 "$work/tcpdump.err"); run as root for the pcap)"
            capture=""; break
        fi
        sleep 0.1
    done
else
    echo "(no capture: tcpdump is not installed; apt-get install tcpdump)"
fi

# shellcheck disable=SC2046 # sim's words are two arguments, or none
"$BIN/serveur_esclave" -j 1 --trace $(sim "$SLAVE_FAULT") "$SPORT" >"$work/esclave.out" 2>"$work/esclave.trace" &
pids="$pids $!"
wait_for "$work/esclave.trace" "listening on UDP" $!
SPORT=$(port_of "$work/esclave.trace" UDP)
echo "127.0.0.1 $SPORT" >"$work/slaves.conf"
# shellcheck disable=SC2046
"$BIN/serveur_maitre" --ephemeral --trace $(sim "$MASTER_FAULT") "$MPORT" "$work/slaves.conf" \
    >"$work/maitre.out" 2>"$work/maitre.trace" &
pids="$pids $!"
wait_for "$work/maitre.trace" "is up with" $!
MPORT=$(port_of "$work/maitre.trace" TCP)
printf '%s\n' "$CMD" >"$work/commands.txt"
"$BIN/client" --trace 127.0.0.1 "$MPORT" "$work/commands.txt" >"$work/client.out" 2>"$work/client.trace"
rc=$?
wait_for "$work/esclave.trace" "recv udp .* RESULT_ACK" # the last datagram of the command's life
# what the stop sends (the slave's LEAVING) is not the command's: the
# trace is cut there (its times are UTC), and the capture (epoch seconds)
ended=$(date -u +%H:%M:%S.%N | cut -c1-15) ended_epoch=$(date +%s.%N)
kill -TERM $pids 2>/dev/null
wait $pids 2>/dev/null
pids=""
if [ -n "$capture" ]; then
    kill -INT "$capture" 2>/dev/null
    wait "$capture" 2>/dev/null
    capture=""
fi

# the three traces in time order (the wall clock of one machine); the
# daemons' other lines (their log) go after
cat "$work/maitre.trace" "$work/esclave.trace" "$work/client.trace" | grep '^trace ' | sort -s -k2,2 |
    awk -v ended="$ended" '$2 <= ended' >"$work/trace.txt"
echo "== ./client --trace 127.0.0.1 $MPORT commands.txt ($CMD), exit status $rc; what it printed:"
sed 's/^/   /' "$work/client.out"
echo "== the three traces, in time order (doc/protocol.md 11 explains the columns)"
cat "$work/trace.txt"
echo "== the slave's console (-q silences it)"
sed 's/^/   /' "$work/esclave.out"
echo "== what the daemons logged"
cat "$work/maitre.trace" "$work/esclave.trace" | grep -v '^trace ' | sed 's/^/   /'
if [ -s "$work/run.pcap" ]; then
    if command -v tshark >/dev/null 2>&1; then
        echo "== the same run on the wire: tshark -X lua_script:tools/wireshark/smp.lua -r run.pcap"
        tshark -X lua_script:tools/wireshark/smp.lua -o "smpm.udp_ports:$SPORT" -o "smpm.tcp_ports:$MPORT" \
            -r "$work/run.pcap" \
            -Y "smpm && (udp.port == $SPORT || tcp.port == $MPORT) && frame.time_epoch <= $ended_epoch" 2>&1 |
            grep -v '^Running as user' | sed 's/^/   /'
    else
        echo "(tshark is not installed: apt-get install tshark to read $work/run.pcap here)"
    fi
    [ -n "$keep" ] && echo "== kept: $work/trace.txt, $work/run.pcap (wireshark -X lua_script:tools/wireshark/smp.lua $work/run.pcap)"
fi
exit "$rc"
