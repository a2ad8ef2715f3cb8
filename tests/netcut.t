#!/usr/bin/env bash
# netcut.t - the network between a client and its master cut, twice, in
# the middle of a batch: the client in a network namespace of its own, the
# master and its slave in another, a veth between them (addresses private
# to the two namespaces: nothing else sees them). First cut: the master's
# host answers the client's packets with resets (nftables) for 2 s; second
# cut: every packet dropped for 14 s, without a word (TCP keepalive must
# notice). Each time the client reconnects by itself and resumes: exit 0,
# every result once and right, every command run once.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, veth, nftables)"
command -v ip >/dev/null 2>&1 || skip_all "needs iproute2's ip: apt-get install iproute2"
command -v nft >/dev/null 2>&1 || skip_all "needs nft: apt-get install nftables"

P=smp-nc-$$
NS_M=$P-m NS_C=$P-c
NET=172.31.214 # only inside the two namespaces below
NS_MADE=()
net_cleanup() { local ns; for ns in "${NS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done; NS_MADE=(); }
trap 'cleanup; net_cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
for ns in "$NS_M" "$NS_C"; do
    ip netns add "$ns" 2>"$T/netns.err" || skip_all "cannot create a network namespace: $(cat "$T/netns.err")"
    NS_MADE+=("$ns")
    ip -n "$ns" link set lo up || bail "cannot bring lo up in $ns"
done
ip -n "$NS_M" link add veth0 type veth peer name veth0 netns "$NS_C" || skip_all "cannot create a veth pair"
ip -n "$NS_M" addr add "$NET.1/24" dev veth0 && ip -n "$NS_M" link set veth0 up &&
    ip -n "$NS_C" addr add "$NET.2/24" dev veth0 && ip -n "$NS_C" link set veth0 up || bail "cannot set up the veth"
nft_m() { ip netns exec "$NS_M" nft "$@"; }
nft_m add table inet smpcut 2>"$T/nft.err" || skip_all "nftables does not work here: $(cat "$T/nft.err")"

SMP_PREFIX="ip netns exec $NS_M" start_slave s1 -j 4
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
SMP_PREFIX="ip netns exec $NS_M" start_master master "$T/slaves.conf" --bind 0.0.0.0 --insecure
wait_slaves_up master 1 || bail "the slave is not up"

mkdir -p "$T/markers"
# 1 s each on 4 slots: 12 s of work, so that the second cut always finds
# results still to come (with 0.5 s, under load, the batch could be all
# delivered before it, and the client never lost the connection again)
for n in $(seq 1 48); do echo "sleep 1; echo x >> $T/markers/$n; echo out-$n"; done >"$T/cmds"
ip netns exec "$NS_C" "$BIN/client" -k --reconnect 60 "$NET.1" "$MASTER_PORT" "$T/cmds" >"$T/out" 2>"$T/err" &
cpid=$!
PIDS+=("$cpid")
count_markers() { ls "$T/markers" | wc -l; }
for _ in $(seq 1 100); do [ "$(count_markers)" -ge 4 ] && break; sleep 0.05; done

# Cut 1: resets.
nft_m add chain inet smpcut in '{ type filter hook input priority 0; }'
nft_m add rule inet smpcut in ip saddr "$NET.2" tcp dport "$MASTER_PORT" reject with tcp reset
wait_for_line "$T/err" 'lost the connection to the master' 10 >/dev/null
ok $? "cut 1 (resets): the client notices"
sleep 2
nft_m flush chain inet smpcut in
wait_for_line "$T/err" 'reconnected' 15 >/dev/null
ok $? "... and reconnects once the path is back"

# Cut 2: silence, both ways, longer than TCP keepalive's detection.
for _ in $(seq 1 100); do [ "$(count_markers)" -ge 20 ] && break; sleep 0.05; done
nft_m add chain inet smpcut out '{ type filter hook output priority 0; }'
nft_m add rule inet smpcut in ip saddr "$NET.2" drop
nft_m add rule inet smpcut out ip daddr "$NET.2" drop
t0=$(date +%s)
for _ in $(seq 1 400); do [ "$(grep -c 'lost the connection' "$T/err")" -ge 2 ] && break; sleep 0.05; done
t1=$(date +%s)
is "$(grep -c 'lost the connection' "$T/err")" 2 "cut 2 (silence): the client notices"
check "within 25 s ($((t1 - t0)) s: TCP keepalive)" test $((t1 - t0)) -le 25
sleep 2
nft_m delete table inet smpcut
rc=0
wait "$cpid" || rc=$?
is "$rc" 0 "the client ends with exit 0"
is "$(grep -c 'reconnected' "$T/err")" 2 "it reconnected twice"
is "$(seq 1 48 | sed 's/^/out-/')" "$(grep '^out-' "$T/out")" "every result once, in order (-k)"
twice=0 missing=0
for n in $(seq 1 48); do
    [ -f "$T/markers/$n" ] || { missing=$((missing + 1)); continue; }
    [ "$(wc -l <"$T/markers/$n")" = 1 ] || twice=$((twice + 1))
done
is "$missing/$twice" "0/0" "every command ran, and once"
done_testing
