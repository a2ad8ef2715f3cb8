#!/usr/bin/env bash
# console_c1.t: the console view promises "control bytes as \xNN" so that a
# command's output cannot fake lines or drive the teacher's terminal. C0
# bytes and DEL are escaped, but the C1 controls are not: CSI as one raw
# byte (0x9b) or UTF-8 encoded (U+009B, c2 9b: xterm and VTE terminals
# act on it) reach the terminal as they are, in the output and in the
# command line, so any client can clear or recolour a slave's console.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/s1"
(cd "$T/s1" && exec "$BIN/serveur_esclave" -j 2 0) >"$T/s1.out" 2>"$T/s1.log" &
PIDS+=("$!")
line=$(wait_for_line "$T/s1.log" 'listening on UDP' 20) || bail "slave did not start: $(cat "$T/s1.log")"
echo "127.0.0.1 $(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --ephemeral
wait_slaves_up master 1 || bail "slave not seen by the master"

printf '%s\n' "printf '\\302\\2332J\\302\\23331mRED\\n'" "printf '\\233""31mraw\\n'" "echo $(printf '\302\233')2J" >"$T/cmds.txt"
run_client -q "$T/cmds.txt"
is "$RC" 0 "the three commands ran"
wait_for_line "$T/s1.out" '^\[3\] code retour' 10 >/dev/null
check "no UTF-8 encoded C1 control (c2 80..c2 9f) on the slave's console" \
    sh -c "! LC_ALL=C grep -q \"\$(printf '\302')[\$(printf '\200')-\$(printf '\237')]\" '$T/s1.out'"
check "no raw C1 byte (0x9b CSI) in [2]'s output line" \
    sh -c "! grep -a '^\[2\] |' '$T/s1.out' | LC_ALL=C grep -q \"\$(printf '\233')\""
done_testing
