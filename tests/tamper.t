#!/usr/bin/env bash
# tamper.t - an attacker on the path between a keyed master and slave
# (issue 13): a relay flips one bit (anywhere, header included) in every
# 5th datagram of each direction during a run, then sends every datagram
# the slave ever sent to the master again, as recorded and with one bit
# flipped, from the slave's address (replays towards the master). Nothing
# tampered with or replayed is accepted: every output byte-exact, both
# sides log the refusals, the slave is never taken for restarted, dead or
# leaving, and both keep serving.
. "$(dirname "$0")/lib.sh"

(umask 077; random_key >"$T/key")
start_slave s1 -j 4 --key-file "$T/key"
python3 - "$SLAVE_PORT" "$T" >"$T/relay.log" 2>&1 <<'PY' &
import os, random, select, socket, struct, sys, time
target = ("127.0.0.1", int(sys.argv[1])); t = sys.argv[2]
rng = random.Random(13)
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); front.bind(("127.0.0.1", 0))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); back.bind(("127.0.0.1", 0))
print("relay listening on UDP 127.0.0.1:%d" % front.getsockname()[1], flush=True)
master = None; answers = []; n = [0, 0]; flipped = [0, 0]
def flip(d):
    d = bytearray(d); i = rng.randrange(len(d) * 8); d[i // 8] ^= 1 << (i % 8); return bytes(d)
phase = 1
while True:
    if phase == 1 and os.path.exists(t + "/go"):
        for d in answers:
            front.sendto(d, master); front.sendto(flip(d), master)
        print("replayed %d datagrams, and as many with a bit flipped" % len(answers), flush=True)
        open(t + "/done", "w").write("%d\n" % len(answers)); phase = 2
    r, _, _ = select.select([front, back], [], [], 0.05)
    for s in r:
        d, a = s.recvfrom(70000)
        k = 0 if s is front else 1
        if k == 0: master = a
        elif phase == 1: answers.append(d)
        n[k] += 1
        if phase == 1 and n[k] % 5 == 0:
            d = flip(d); flipped[k] += 1
            open(t + "/flipped", "w").write("%d %d\n" % tuple(flipped))
        (back.sendto(d, target) if k == 0 else front.sendto(d, master))
PY
PIDS+=($!)
line=$(wait_for_line "$T/relay.log" 'relay listening' 10) || bail "relay: $(cat "$T/relay.log")"
echo "127.0.0.1 ${line##*:}" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/key"
wait_slaves_up master 1 || bail "slave not up: $(cat "$T/master.log")"

for i in $(seq 1 20); do echo "echo cmd-$i; seq 1 $((i * 2000))"; done >"$T/cmds.txt"
sh "$T/cmds.txt" | sort >"$T/expected"
run_client --key-file "$T/key" -q "$T/cmds.txt"
is "$RC/$(sort "$T/out" | cmp - "$T/expected" && echo same)" "0/same" \
    "every 5th datagram of each direction with a bit flipped: every output byte-exact"
read -r f_to_slave f_to_master <"$T/flipped"
check "the relay flipped bits both ways ($f_to_slave towards the slave, $f_to_master towards the master)" \
    test "${f_to_slave:-0}" -gt 10 -a "${f_to_master:-0}" -gt 10
check "the slave logged refusals" grep -qE 'dropped a .*(bad MAC|not authenticated|version|magic|malformed|unknown)' "$T/s1.log"
check "the master logged refusals" grep -qE 'dropped a .*(bad MAC|not authenticated|version|magic|malformed|unknown|earlier master)' "$T/master.log"

touch "$T/go"
wait_for_line "$T/done" '^[0-9]+$' 20 >/dev/null || bail "relay did not replay: $(cat "$T/relay.log")"
check "$(cat "$T/done") datagrams of the slave replayed to the master, twice each" test "$(cat "$T/done")" -gt 50
sleep 1 # what a wrongly accepted one would do, done by now
check "the slave is never taken for restarted, dead or leaving" \
    bash -c "! grep -qE 'restarted|considered dead|is leaving|lost records' '$T/master.log'"
printf 'echo after\n' >"$T/one.txt"
run_client --key-file "$T/key" -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/after" "the master still serves through the slave"
kill -0 "$MASTER_PID" && kill -0 "$SLAVE_PID"
ok $? "both still running"
done_testing
