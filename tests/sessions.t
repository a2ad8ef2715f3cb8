#!/usr/bin/env bash
# Sessions between the master and its slaves: job ids across a reload,
# lives told apart by fresh round trips and not by wall clocks, the slave's
# session table, replays, amplification and memory before a peer's address
# is confirmed. (doc/protocol.md 4.4, doc/security.md)
. "$(dirname "$0")/lib.sh"

# --- A slave removed from slaves.conf and listed again keeps working: its
# job ids go on from where they were (the slave remembers those it had).
cluster 2
for n in $(seq 1 40); do echo "echo before-$n"; done >"$T/before.txt"
run_client -q "$T/before.txt"
is "$RC/$(grep -c '^before-' "$T/out")" "0/40" "40 commands on 2 slaves"
printf '127.0.0.1 %s\n' "${SLAVE_PORTS[0]}" >"$T/slaves.conf"
kill -HUP "$MASTER_PID"
wait_for_line "$T/master.log" "slave 127.0.0.1:${SLAVE_PORTS[1]} removed" 10 >/dev/null
ok $? "slave 2 removed from slaves.conf: the master forgets it"
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "${SLAVE_PORTS[0]}" "${SLAVE_PORTS[1]}" >"$T/slaves.conf"
kill -HUP "$MASTER_PID"
wait_for_line "$T/master.log" "slave 127.0.0.1:${SLAVE_PORTS[1]} added" 10 >/dev/null
ok $? "and listed again: added back"
for _ in $(seq 1 100); do [ "$(grep -c 'is up with' "$T/master.log")" -ge 3 ] && break; sleep 0.05; done
mkdir -p "$T/readd"
marker_cmds 40 "$T/readd"
run_client -q --joblog "$T/readd/joblog" --results "$T/readd/res" "$T/readd/cmds"
is "$RC" 0 "40 commands after the re-add: client exit 0"
check_markers "re-added slave" 40 "$T/readd"
is "$(grep -c 'lost the command' "$T/master.log")" 0 "no command reported lost"
check "the re-added slave ran some of them" grep -qP "\t127\.0\.0\.1:${SLAVE_PORTS[1]}\t" "$T/readd/joblog"
stop_all

done_testing
