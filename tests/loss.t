#!/usr/bin/env bash
# loss.t - datagrams lost by the kernel, not by a proxy: 3 slaves, the
# master and the client run in a network namespace of their own where an
# nftables rule drops 20% of the UDP datagrams sent (master -> slave and
# slave -> master, both go through the output hook of loopback). Every
# command must still run exactly once and every result come back. The same
# commands are first run with no loss, and both wall times are printed (no
# assertion on time: speed goals belong to make bench).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces and nftables)"
command -v ip >/dev/null 2>&1 || skip_all "needs iproute2's ip: apt-get install iproute2"
NFT=$(command -v nft 2>/dev/null || { [ -x /usr/sbin/nft ] && echo /usr/sbin/nft; })
[ -n "$NFT" ] || skip_all "needs nftables' nft: apt-get install nftables"

NS=smp-loss-$$
NSLAVES=3
NCMDS=300
LOSS=20 # percent of UDP datagrams dropped
# Where they are dropped: "output" (the default; the sender's sendto fails
# with EPERM) or "input" (silent, as on a real network).
HOOK=${SMP_LOSS_HOOK:-output}

NS_MADE=0
net_cleanup() {
    [ "$NS_MADE" = 1 ] && ip netns del "$NS" 2>/dev/null
}
# lib.sh's cleanup (stop every PID, remove or keep $T) first, then the
# namespace; a signal exits through the same path.
trap 'cleanup; net_cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS" 2>"$T/netns.err" || skip_all "cannot create a network namespace: $(cat "$T/netns.err")"
NS_MADE=1
ip netns exec "$NS" ip link set lo up || bail "cannot bring lo up in $NS"
# The table exists from the start (so that a missing nftables kernel
# support is a skip, not a failure); the dropping rule comes later.
"$NFT" --version >/dev/null 2>&1 || skip_all "nft does not run: apt-get install nftables"
ip netns exec "$NS" "$NFT" add table inet smploss 2>"$T/nft.err" ||
    skip_all "nftables unusable here (kernel nf_tables?): $(cat "$T/nft.err")"
ip netns exec "$NS" "$NFT" add chain inet smploss out "{ type filter hook $HOOK priority 0; }" ||
    bail "cannot add the nftables chain"

# in_ns: runs a command in the namespace (ip netns exec execs it: the PID
# of a background "in_ns prog" is the program's own).
in_ns() { ip netns exec "$NS" "$@"; }

# lib.sh's start_slave and start_master, in the namespace.
start_slave_ns() { SMP_PREFIX="ip netns exec $NS" start_slave "$@"; }
start_master_ns() { SMP_PREFIX="ip netns exec $NS" start_master "$@"; }

# run_client_ns SECONDS [client options and file]: the client in the
# namespace; RC, $T/out, $T/err, and the wall time in seconds in WALL.
run_client_ns() {
    local limit=$1 t0 t1; shift
    RC=0
    t0=$(date +%s.%N)
    timeout "$limit" ip netns exec "$NS" $WRAP "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$@" >"$T/out" 2>"$T/err" || RC=$?
    t1=$(date +%s.%N)
    WALL=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
    [ "$RC" = 0 ] || echo "# client exit $RC (124: timed out): $(tail -c 400 "$T/err")" >&2
}

# drop_counter: packets the rule has dropped so far.
drop_counter() {
    in_ns "$NFT" list chain inet smploss out | grep -oE 'counter packets [0-9]+' | grep -oE '[0-9]+$'
}

: >"$T/slaves.conf"
DAEMON_PIDS=()
for i in $(seq 1 $NSLAVES); do
    start_slave_ns "s$i" -j 2
    DAEMON_PIDS+=("$SLAVE_PID")
    echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
done
start_master_ns master "$T/slaves.conf"
DAEMON_PIDS+=("$MASTER_PID")
wait_slaves_up master $NSLAVES || bail "slaves not seen by the master: $(cat "$T/master.log")"

# The PIDs that cleanup will signal are the daemons', not ip's.
real=0
for p in "${DAEMON_PIDS[@]}"; do
    case "$(readlink "/proc/$p/exe" 2>/dev/null)" in */serveur_esclave | */serveur_maitre) real=$((real + 1)) ;; esac
done
[ -n "$WRAP" ] || is "$real" $((NSLAVES + 1)) "recorded PIDs are the daemons themselves"
other=$(for p in "${DAEMON_PIDS[@]}"; do readlink "/proc/$p/ns/net"; done | sort -u)
is "$other" "$(in_ns readlink /proc/self/ns/net)" "daemons run in the test's namespace"

# a) no loss: the reference run.
marker_cmds $NCMDS "$T/run0"
run_client_ns 60 --results "$T/run0/res" --joblog "$T/run0/joblog" "$T/run0/cmds"
WALL0=$WALL
is "$RC" 0 "0% loss: $NCMDS commands, client exits 0"
check_markers "0% loss" $NCMDS "$T/run0"

# b) the kernel drops $LOSS% of the UDP datagrams.
in_ns "$NFT" add rule inet smploss out meta l4proto udp numgen random mod 100 '<' $LOSS counter drop ||
    bail "cannot add the dropping rule"
before=$(drop_counter)
marker_cmds $NCMDS "$T/run20"
run_client_ns 60 --results "$T/run20/res" --joblog "$T/run20/joblog" "$T/run20/cmds"
WALL20=$WALL
dropped=$(( $(drop_counter) - ${before:-0} ))
is "$RC" 0 "$LOSS% loss: $NCMDS commands, client exits 0"
check_markers "$LOSS% loss" $NCMDS "$T/run20"
check "the kernel really dropped datagrams during the run ($dropped)" test "$dropped" -gt 0
is "$(grep -c 'considered dead' "$T/master.log")" 0 "no slave was declared dead because of the loss"

alive=0
for p in "${DAEMON_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" $((NSLAVES + 1)) "master and slaves still running"

echo "# $NCMDS commands: 0% loss $WALL0 s, $LOSS% loss $WALL20 s, ratio $(echo "$WALL0 $WALL20" | awk '{ if ($1 > 0) printf "%.1f", $2 / $1; else print "n/a" }') ($dropped datagrams dropped in the $HOOK hook)"

done_testing
