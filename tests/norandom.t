#!/usr/bin/env bash
# No random source (doc/security.md 4.1): with getrandom failing and
# /dev/urandom missing (tests/norandom.c, LD_PRELOAD), no program starts on
# guessable nonces and keys: each stops with a message naming why, its
# usual exit status for a fatal error, and nothing runs.
. "$(dirname "$0")/lib.sh"

NORANDOM=$TOOLS/norandom.so
[ -f "$NORANDOM" ] || bail "$NORANDOM missing: run make check-programs"
case "${SMP_PREFIX:-}$WRAP$PROG_RUNNER" in
*valgrind* | *wine*) skip_all "LD_PRELOAD of a shim: not under valgrind or wine" ;;
esac
export ASAN_OPTIONS="verify_asan_link_order=0:${ASAN_OPTIONS:-}" # the shim comes first in the sanitizer build
want='no good random source (getrandom, /dev/urandom): refusing to make guessable nonces and keys'
newkey() { (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"); }
newkey "$T/key"

RC=0
LD_PRELOAD=$NORANDOM timeout 20 "$(prog serveur_esclave)" 0 >"$T/s.log" 2>&1 || RC=$?
is "$RC" 1 "the slave refuses to start: exit 1"
check "naming why" grep -qF "$want" "$T/s.log"
not_listening() { ! grep -q 'listening on UDP' "$1"; }
check "before listening" not_listening "$T/s.log"

RC=0
LD_PRELOAD=$NORANDOM timeout 20 "$(prog serveur_maitre)" --ephemeral 0 /dev/null >"$T/m.log" 2>&1 || RC=$?
is "$RC" 1 "the master refuses to start: exit 1"
check "naming why" grep -qF "$want" "$T/m.log"

# a keyed client draws its nonce and key pair for the handshake
start_slave s1 --key-file "$T/key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --key-file "$T/key"
wait_slaves_up master 1 || bail "keyed slave not up: $(cat "$T/master.log")"
echo "touch $T/ran" >"$T/cmds.txt"
RC=0
LD_PRELOAD=$NORANDOM timeout 20 "$(prog client)" --key-file "$T/key" 127.0.0.1 "$MASTER_PORT" "$T/cmds.txt" \
    >"$T/out" 2>"$T/err" || RC=$?
is "$RC" 255 "a keyed client refuses to go on: exit 255"
check "naming why" grep -qF "$want" "$T/err"
check "nothing ran" test ! -e "$T/ran"
run_client --key-file "$T/key" -q "$T/cmds.txt"
is "$RC" 0 "the same client with a random source runs it"
check "it ran" test -e "$T/ran"
done_testing
