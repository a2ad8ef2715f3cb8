#!/bin/sh
# examples/demo.sh (make demo): three slaves and a master on loopback, the
# client on examples/commands.txt, what each daemon's terminal showed (the
# console view), then everything stopped again.
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/smp-demo.XXXXXX)
pids=""
stop() { [ -n "$pids" ] && kill -TERM $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap stop EXIT INT TERM
ready_port() { # LOG PROTO: the port a program says it listens on
    i=0
    until grep -q 'listening on' "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 100 ] && { cat "$1"; exit 1; }; sleep 0.1
    done
    sed -nE "s/.*listening on $2 [^ ]*:([0-9]+)[ ,].*/\1/p" "$1" | head -n 1
}
echo "== starting 3 slaves (serveur_esclave -j 2) on free UDP ports"
: >"$work/slaves.conf"
for n in 1 2 3; do
    ./serveur_esclave -j 2 0 >"$work/esclave$n.out" 2>"$work/esclave$n.log" & # stdout: its console view
    pids="$pids $!"
    port=$(ready_port "$work/esclave$n.log" UDP)
    echo "127.0.0.1 $port" >>"$work/slaves.conf"
    echo "   slave $n: 127.0.0.1:$port"
done
echo "== starting the master (serveur_maitre) with this slaves.conf:"
sed 's/^/   /' "$work/slaves.conf"
./serveur_maitre --state-dir "$work/state" 0 "$work/slaves.conf" >"$work/maitre.out" 2>"$work/maitre.log" & # its journal goes with the demo
pids="$pids $!"
mport=$(ready_port "$work/maitre.log" TCP)
echo "   master: 127.0.0.1:$mport"
echo "== ./client 127.0.0.1 $mport examples/commands.txt --joblog joblog"
echo
./client 127.0.0.1 "$mport" examples/commands.txt --joblog "$work/joblog"
rc=$?
echo
echo "== client exit status: $rc (the number of failed commands)"
echo "== joblog (GNU parallel format):"
column -t -s "$(printf '\t')" "$work/joblog" 2>/dev/null || cat "$work/joblog"
echo "== master log:"
sed 's/^/   /' "$work/maitre.log"
# what the five-terminal launch shows in each daemon's terminal (stdout; -q: nothing)
echo "== master's terminal (console view: where each command went, its result):"
sed 's/^/   /' "$work/maitre.out"
for n in 1 2 3; do
    echo "== slave $n's terminal (console view: the client's [N], output cut to 5 lines, code retour):"
    sed 's/^/   /' "$work/esclave$n.out"
done
echo "== stopping everything"
