#!/usr/bin/env bash
# Authentication and hostile input: keyed runs, refused clients, replayed
# datagrams, key-file and bind safety, the slave's policy file.
PRIVATE_NETNS=1 # binds 0.0.0.0 once: only loopback exists in here
. "$(dirname "$0")/lib.sh"

newkey() { (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"); }
newkey "$T/key"
newkey "$T/otherkey"
mkdir -p "$T/markers"

# Three slaves, each behind a recording proxy, and a master, all keyed.
: >"$T/slaves.conf"
for i in 1 2 3; do
    start_slave "s$i" -j 2 --key-file "$T/key"
    start_chaos "proxy$i" "$SLAVE_PORT" --record "$T/capture$i"
    echo "127.0.0.1 $CHAOS_PORT" >>"$T/slaves.conf"
done
start_master master "$T/slaves.conf" --key-file "$T/key"
wait_slaves_up master 3 || bail "keyed slaves not up: $(cat "$T/master.log")"
check "slaves say they are authenticated" grep -q 'with 2 slots (boot [0-9a-f]*, authenticated)' "$T/s1.log"

for i in $(seq 1 20); do echo "echo x >> $T/markers/$i; echo ran-$i"; done >"$T/cmds.txt"
run_client --key-file "$T/key" -q "$T/cmds.txt"
is "$RC/$(grep -c '^ran-' "$T/out")" "0/20" "a keyed client runs its commands"
check "the master logs it as authenticated" grep -q 'connected (authenticated)' "$T/master.log"
RC=0; SMP_KEY_FILE=$T/key timeout 60 "$BIN/client" -q 127.0.0.1 "$MASTER_PORT" "$T/cmds.txt" >/dev/null 2>&1 || RC=$?
is "$RC" 0 "the key can come from \$SMP_KEY_FILE"
count_lines() { cat "$T"/markers/* | wc -l; }
before=$(count_lines)

printf 'touch %s/should-not-exist\n' "$T" >"$T/evil.txt"
run_client "$T/evil.txt"
is "$RC" 255 "a client without the key: exit 255"
check "with a clear message" grep -q 'authentication required: this master has a key' "$T/err"
run_client --key-file "$T/otherkey" "$T/evil.txt"
is "$RC" 255 "a client with another key: exit 255"
check "with a clear message" grep -q 'authentication failed: wrong key' "$T/err"
check "nothing they sent ran" test ! -e "$T/should-not-exist"

# Every datagram the master sent through the proxies, replayed to the
# slaves from another address: nothing runs again, nothing changes.
for i in 1 2 3; do cp "$T/capture$i" "$T/replay$i"; done # what was captured so far
ports=()
for i in 1 2 3; do ports+=("$(sed -nE 's/.*UDP [^ ]*:([0-9]+) .*/\1/p' "$T/s$i.log" | head -1)"); done
sent=$(python3 - "$T" "${ports[@]}" <<'PY'
import socket, struct, sys
t, ports = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = 0
for i, port in enumerate(ports, 1):
    data = open(f"{t}/replay{i}", "rb").read()
    off = 0
    while off + 4 <= len(data):
        (ln,) = struct.unpack(">I", data[off:off + 4])
        s.sendto(data[off + 4:off + 4 + ln], ("127.0.0.1", int(port)))
        off += 4 + ln
        n += 1
print(n)
PY
)
check "$sent recorded datagrams replayed" test "${sent:-0}" -gt 40
for _ in $(seq 1 40); do grep -q 'replayed' "$T"/s*.log && break; sleep 0.05; done
sleep 0.5 # give any wrongly accepted command the time to run
is "$(count_lines)" "$before" "no replayed command ran again"
check "the slaves logged the replays" grep -q 'from 127.0.0.1:[0-9]*: replayed' "$T/s1.log" "$T/s2.log" "$T/s3.log"
run_client --key-file "$T/key" -q "$T/cmds.txt"
is "$RC" 0 "and they still serve the master"

# A slave without the key is never used; one with another key neither.
start_slave nokey -j 1
start_slave wrongkey -j 1 --key-file "$T/otherkey"
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$(sed -nE 's/.*UDP [^ ]*:([0-9]+) .*/\1/p' "$T/nokey.log")" \
    "$(sed -nE 's/.*UDP [^ ]*:([0-9]+) .*/\1/p' "$T/wrongkey.log")" >"$T/bad-slaves.conf"
start_master m2 "$T/bad-slaves.conf" --key-file "$T/key"
wait_for_line "$T/nokey.log" 'authenticated, but this slave has no key' 5 >/dev/null
ok $? "a slave without the key drops the master's datagrams, saying why"
wait_for_line "$T/wrongkey.log" 'bad MAC' 5 >/dev/null
ok $? "a slave with another key drops them too"
check "the master never counts them as up" test "$(grep -c 'is up' "$T/m2.log")" = 0
start_slave keyed1 -j 1 --key-file "$T/key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/keyed1.conf"
start_master m2b "$T/keyed1.conf" # no key
wait_for_line "$T/keyed1.log" 'not authenticated \(does the master have the key\?\)' 5 >/dev/null
ok $? "a keyed slave drops a keyless master's PINGs, saying why"
sleep 3 # six more PINGs each: logged once, then counted once a minute
is "$(grep -c 'authenticated, but this slave has no key' "$T/nokey.log")" 1 \
    "the keyless slave says it once, not twice a second"
is "$(grep -c 'bad MAC' "$T/wrongkey.log")" 1 "the slave with another key too"
is "$(grep -c 'not authenticated' "$T/keyed1.log")" 1 "and the keyed slave pinged by a keyless master"

# Key files: too loose, too short; non-loopback binds without a key.
newkey "$T/loose"; chmod 644 "$T/loose"
rc=0; "$BIN/serveur_esclave" --key-file "$T/loose" 0 >"$T/e1" 2>&1 || rc=$?
is "$rc" 1 "a key file readable by others is refused"
check "naming the fix" grep -q "accessible by group or others (mode 644): chmod 600" "$T/e1"
rc=0; "$BIN/client" --key-file "$T/loose" "$T/cmds.txt" >"$T/e2" 2>&1 || rc=$?
is "$rc" 255 "by the client too (exit 255)"
(umask 077; echo short >"$T/short")
rc=0; "$BIN/serveur_maitre" --key-file "$T/short" 0 "$T/slaves.conf" >"$T/e3" 2>&1 || rc=$?
is "$rc" 1 "a key shorter than 32 bytes is refused"
check "saying how to make one" grep -q 'at least 32 are needed (for example: head -c 32 /dev/urandom' "$T/e3"
rc=0; timeout 5 "$BIN/serveur_esclave" -b 0.0.0.0 0 >"$T/e4" 2>&1 || rc=$?
is "$rc" 1 "listening beyond loopback without a key is refused"
check "saying why" grep -q 'refusing to listen on 0.0.0.0 without a key' "$T/e4"
rc=0; timeout 5 "$BIN/serveur_maitre" -b 0.0.0.0 0 "$T/slaves.conf" >"$T/e5" 2>&1 || rc=$?
is "$rc" 1 "by the master too"
"$BIN/serveur_esclave" -b 0.0.0.0 --insecure 0 >"$T/e6" 2>&1 &
PIDS+=($!)
wait_for_line "$T/e6" 'listening on UDP' 5 >/dev/null
ok $? "--insecure allows it"
check "with a warning" grep -q 'INSECURE: listening on 0.0.0.0 without a key' "$T/e6"

# The policy file: what it does not allow exits 126, with a message.
printf '# only these\necho *\nprintf ?\n' >"$T/allow"
start_slave pol -j 2 --key-file "$T/key" --allow "$T/allow"
echo "127.0.0.1 $SLAVE_PORT" >"$T/pol.conf"
start_master m3 "$T/pol.conf" --key-file "$T/key"
wait_slaves_up m3 1 || bail "policy slave not up"
printf 'echo allowed\nprintf x\ntouch %s/policy-breach\n' "$T" >"$T/pol.txt"
run_client --key-file "$T/key" "$T/pol.txt" --joblog "$T/jpol"
is "$RC" 1 "one command refused by the policy"
is "$(awk -F'\t' '$1==3 {print $7}' "$T/jpol")" 126 "it exits 126"
check "the client says why" grep -qF "code retour = 126 (refused by the slave's policy (--allow): matches no pattern of $T/allow)" "$T/err"
check "it did not run" test ! -e "$T/policy-breach"
check "the allowed ones ran" grep -q allowed "$T/out" # (printf x leaves its line open: stdout is exact)

done_testing
