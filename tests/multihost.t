#!/usr/bin/env bash
# multihost.t - several machines on one host: 3 slaves and the master each
# in a network namespace of their own, joined by a bridge (in a namespace
# of its own too), on a private subnet; the client runs in the root
# namespace, through a veth into the bridge. Then one slave's link is cut
# in the middle of a run: the master must notice, run its commands
# elsewhere, and the run must complete.
#
# Nothing leaves this machine: the only addresses used are $NET.0/24 (on
# interfaces this test creates) and loopback; no default route is added,
# and no existing interface is touched.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, veth, bridge)"
command -v ip >/dev/null 2>&1 || skip_all "needs iproute2's ip: apt-get install iproute2"

NET=${SMP_MH_NET:-172.31.213} # a /24 unused on this machine
MASTER_ADDR=$NET.10
SLAVE_ADDRS=("$NET.11" "$NET.12" "$NET.13")
ROOT_ADDR=$NET.254
NSLAVES=3
NCMDS=60
VICTIM=2 # the slave whose link is cut (1-based)

P=smp-mh-$$
NS_BR=$P-br
NS_M=$P-m
NS_S=("$P-s1" "$P-s2" "$P-s3")
ROOT_IF=smpmh$$ # the root end of the veth into the bridge (<= 15 chars)

NS_MADE=()
ROOT_IF_MADE=0
net_cleanup() {
    local ns
    [ "$ROOT_IF_MADE" = 1 ] && ip link del "$ROOT_IF" 2>/dev/null
    for ns in "${NS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
    NS_MADE=()
}
# lib.sh's cleanup (stop every PID, remove or keep $T) first, then the
# namespaces and the veth; a signal exits through the same path.
trap 'cleanup; net_cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The subnet must not overlap any route or address of the root namespace.
ip2int() { local IFS=.; set -- $1; echo $(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 )); }
subnet_clash() {
    local lo hi p a len mask first last
    lo=$(ip2int "$NET.0"); hi=$((lo + 255))
    for p in $( { ip -4 route show table all; ip -4 -o addr show | awk '{print $4}'; } |
               grep -oE '^([a-z]+ )?[0-9]+(\.[0-9]+){3}(/[0-9]+)?' | awk '{print $NF}'); do
        a=${p%/*}; len=32; [ "$p" != "$a" ] && len=${p#*/}
        mask=$(( len == 0 ? 0 : (0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF ))
        first=$(( $(ip2int "$a") & mask )); last=$(( first + (1 << (32 - len)) - 1 ))
        if [ "$first" -le "$hi" ] && [ "$lo" -le "$last" ]; then echo "$p"; return 0; fi
    done
    return 1
}
clash=$(subnet_clash) && skip_all "$NET.0/24 overlaps $clash on this machine: set SMP_MH_NET to an unused /24 prefix"

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
mkns() {
    ip netns add "$1" 2>"$T/netns.err" || skip_all "cannot create a network namespace: $(cat "$T/netns.err")"
    NS_MADE+=("$1")
    ip -n "$1" link set lo up || bail "cannot bring lo up in $1"
}

# The network: a bridge in $NS_BR, one veth from each host namespace
# (named veth0 there) and one from the root namespace.
for ns in "$NS_BR" "$NS_M" "${NS_S[@]}"; do mkns "$ns"; done
ip -n "$NS_BR" link add br0 type bridge || skip_all "cannot create a bridge (kernel bridge module?)"
ip -n "$NS_BR" link set br0 up || bail "cannot bring the bridge up"
# attach NS PORT ADDR: veth PORT on the bridge <-> veth0 in NS with ADDR.
attach() {
    ip -n "$NS_BR" link add "$2" type veth peer name veth0 netns "$1" || skip_all "cannot create a veth pair (kernel veth module?)"
    ip -n "$NS_BR" link set "$2" master br0 up &&
        ip -n "$1" addr add "$3/24" dev veth0 &&
        ip -n "$1" link set veth0 up || bail "cannot set up $1's link"
}
attach "$NS_M" p-m "$MASTER_ADDR"
for i in $(seq 1 $NSLAVES); do attach "${NS_S[$((i - 1))]}" "p-s$i" "${SLAVE_ADDRS[$((i - 1))]}"; done
ip link add "$ROOT_IF" type veth peer name uplink netns "$NS_BR" || bail "cannot create the root veth $ROOT_IF"
ROOT_IF_MADE=1
sysctl -qw "net.ipv6.conf.$ROOT_IF.disable_ipv6=1" 2>/dev/null # IPv4 only on our link
ip -n "$NS_BR" link set uplink master br0 up &&
    ip addr add "$ROOT_ADDR/24" dev "$ROOT_IF" &&
    ip link set "$ROOT_IF" up || bail "cannot set up the root link $ROOT_IF"

# lib.sh's start_slave and start_master, in namespace NS.
start_slave_in() { local ns=$1; shift; SMP_PREFIX="ip netns exec $ns" start_slave "$@"; }
start_master_in() { local ns=$1; shift; SMP_PREFIX="ip netns exec $ns" start_master "$@"; }

forget_pid() {
    local i
    for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$1" ] && unset 'PIDS[i]'; done
    PIDS=("${PIDS[@]}")
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

: >"$T/slaves.conf"
SLAVE_NAMES=()
# Daemons that listen beyond loopback need a key (the safe default): all
# the programs here read it from $SMP_KEY_FILE.
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
export SMP_KEY_FILE=$T/key

DAEMON_PIDS=()
for i in $(seq 1 $NSLAVES); do
    start_slave_in "${NS_S[$((i - 1))]}" "s$i" -b "${SLAVE_ADDRS[$((i - 1))]}" -j 2
    DAEMON_PIDS+=("$SLAVE_PID")
    SLAVE_NAMES+=("${SLAVE_ADDRS[$((i - 1))]}:$SLAVE_PORT")
    echo "${SLAVE_ADDRS[$((i - 1))]} $SLAVE_PORT" >>"$T/slaves.conf"
done
start_master_in "$NS_M" master "$T/slaves.conf" -b "$MASTER_ADDR"
DAEMON_PIDS+=("$MASTER_PID")
wait_slaves_up master $NSLAVES || bail "slaves not seen by the master across the bridge: $(cat "$T/master.log")"

check "slaves listen on their namespace's address, authenticated" grep -q "listening on UDP ${SLAVE_ADDRS[0]}:.*authenticated" "$T/s1.log"
check "master listens on its namespace's address" grep -q "listening on TCP $MASTER_ADDR:" "$T/master.log"
nets=$(for p in "${DAEMON_PIDS[@]}"; do readlink "/proc/$p/ns/net"; done | sort -u | wc -l)
is "$nets" $((NSLAVES + 1)) "each daemon runs in a network namespace of its own"

# a) a run from the root namespace uses every slave.
mkdir -p "$T/run1"
for n in $(seq 1 $NCMDS); do echo "echo out-$n"; done >"$T/run1/cmds"
RC=0
timeout 60 $WRAP "$BIN/client" "$MASTER_ADDR" "$MASTER_PORT" --results "$T/run1/res" --joblog "$T/run1/joblog" \
    "$T/run1/cmds" >"$T/run1/out" 2>"$T/run1/err" || RC=$?
[ "$RC" = 0 ] || echo "# client exit $RC (124: timed out): $(tail -c 400 "$T/run1/err")" >&2
is "$RC" 0 "$NCMDS commands across the bridge: client exits 0"
is "$(tail -n +2 "$T/run1/joblog" | wc -l)" "$NCMDS" "joblog has $NCMDS jobs"
is "$(tail -n +2 "$T/run1/joblog" | cut -f2 | sort -u | tr '\n' ' ')" \
    "$(printf '%s\n' "${SLAVE_NAMES[@]}" | sort | tr '\n' ' ')" "joblog Host column: the 3 slaves' addresses, all used"
wrong=0
for n in $(seq 1 $NCMDS); do [ "$(cat "$T/run1/res/$n/stdout" 2>/dev/null)" = "out-$n" ] || wrong=$((wrong + 1)); done
is "$wrong" 0 "every result's stdout is right"
check "the master saw the client come from the root namespace's address, authenticated" grep -q "client $ROOT_ADDR:[0-9]* connected (authenticated)" "$T/master.log"

# Between machines fragments are 1200 bytes: a 20 KiB command (17
# fragments) and 2.7 MB of output (2240 fragments) cross intact.
long=$(head -c 20000 /dev/zero | tr '\0' A)
printf 'echo %s | wc -c\nseq 1 400000\n' "$long" >"$T/big.txt"
rc=0
timeout 60 $WRAP "$BIN/client" -q "$MASTER_ADDR" "$MASTER_PORT" --results "$T/big" "$T/big.txt" >/dev/null 2>&1 || rc=$?
is "$rc/$(tr -d ' ' <"$T/big/1/stdout")" "0/20001" "a 20 KiB command crosses the bridge intact"
check "2.7 MB of output crosses it byte for byte" cmp -s <(seq 1 400000) "$T/big/2/stdout"

# b) one slave's link is cut in the middle of a run.
mkdir -p "$T/run2/markers"
for n in $(seq 1 $NCMDS); do echo "sleep 0.3; echo x >> $T/run2/markers/$n"; done >"$T/run2/cmds"
timeout 90 $WRAP "$BIN/client" "$MASTER_ADDR" "$MASTER_PORT" --joblog "$T/run2/joblog" \
    "$T/run2/cmds" >"$T/run2/out" 2>"$T/run2/err" &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
T_START=$(now)
# Cut once results have come from every slave (the next ones are running).
seen=0
for _ in $(seq 1 400); do
    seen=$(tail -n +2 "$T/run2/joblog" 2>/dev/null | cut -f2 | sort -u | grep -c .)
    [ "$seen" -ge $NSLAVES ] && break
    kill -0 "$CLIENT_PID" 2>/dev/null || break
    sleep 0.05
done
is "$seen" $NSLAVES "second run: results from every slave before the cut"
VICTIM_NS=${NS_S[$((VICTIM - 1))]}
VICTIM_NAME=${SLAVE_NAMES[$((VICTIM - 1))]}
T_CUT=$(now)
ip -n "$VICTIM_NS" link set veth0 down || bail "cannot cut $VICTIM_NS's link"
echo "# cut $VICTIM_NAME's link $(secs "$T_START" "$T_CUT") s into the run, $(tail -n +2 "$T/run2/joblog" | wc -l) results in"

T_DEAD=
for _ in $(seq 1 600); do
    if [ -z "$T_DEAD" ] && grep -q "slave $VICTIM_NAME: .*considered dead" "$T/master.log"; then T_DEAD=$(now); fi
    [ -n "$T_DEAD" ] && break
    sleep 0.05
done
RC=0
wait "$CLIENT_PID" || RC=$?
T_DONE=$(now)
forget_pid "$CLIENT_PID"
[ "$RC" = 0 ] || echo "# client exit $RC (124: timed out): $(tail -c 400 "$T/run2/err")" >&2

is "$RC" 0 "run with a slave cut off: client exits 0"
check "the master logged the cut slave as dead" test -n "$T_DEAD"
is "$(grep -c 'considered dead' "$T/master.log")" 1 "no other slave was declared dead"
is "$(tail -n +2 "$T/run2/joblog" | wc -l)" "$NCMDS" "joblog has $NCMDS jobs"
is "$(tail -n +2 "$T/run2/joblog" | cut -f1 | sort -n | uniq | wc -l)" "$NCMDS" "joblog: one job per sequence number"
is "$(tail -n +2 "$T/run2/joblog" | awk -F'\t' '$7 != "0"' | wc -l)" 0 "joblog: every Exitval is 0"
missing=0 twice=0
for n in $(seq 1 $NCMDS); do
    lines=$(cat "$T/run2/markers/$n" 2>/dev/null | wc -l)
    [ "$lines" -ge 1 ] || missing=$((missing + 1))
    [ "$lines" -ge 2 ] && twice=$((twice + 1))
done
is "$missing" 0 "every command ran at least once (a marker line for each)"
late=$(tail -n +2 "$T/run2/joblog" | awk -F'\t' -v h="$VICTIM_NAME" -v t="$T_CUT" '$2 == h && $3 > t + 4' | wc -l)
is "$late" 0 "no job reported on the cut slave with a Starttime over 4 s after the cut"
on_victim_after=$(tail -n +2 "$T/run2/joblog" | awk -F'\t' -v h="$VICTIM_NAME" -v t="$T_CUT" '$2 == h && $3 > t' | wc -l)
redispatched=$(grep -c "on $VICTIM_NAME: dispatching it again" "$T/master.log")

alive=0
for p in "${DAEMON_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
is "$alive" $((NSLAVES + 1)) "master and slaves still running"

echo "# cut to 'considered dead' in the master's log: $([ -n "$T_DEAD" ] && echo "$(secs "$T_CUT" "$T_DEAD") s" || echo never)"
echo "# cut to the client's completion: $(secs "$T_CUT" "$T_DONE") s (whole run $(secs "$T_START" "$T_DONE") s)"
echo "# commands dispatched again after the cut: $redispatched; markers with 2+ lines (ran before the cut and again, at-least-once): $twice"
echo "# jobs reported on the cut slave starting after the cut: $on_victim_after"

done_testing
