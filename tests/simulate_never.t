#!/usr/bin/env bash
# simulate_never.t: --simulate acts on the datagrams a daemon receives. A slave
# never receives PONG, COOKIE, JOB_ACK, RESULT, LEAVING (it sends them); a
# master never receives PING, JOB, RESULT_ACK, CANCEL. drop=/double= of
# such a type is accepted without a word and never fires: a teacher's
# "SLAVE_FAULT=drop=PONG make demo-trace" shows nothing lost, and the exit
# line says "0 dropped". It should be refused (exit 2) or at least warned
# ("a slave never receives PONG: drop it on the master").
. "$(dirname "$0")/lib.sh"

never() { # PROG FAULT: the program exits 2, or warns that the type never comes
    local prog=$1 fault=$2 rc=0 opts=() conf=
    [ "$prog" = serveur_maitre ] && { echo "127.0.0.1 9" >"$T/c.conf"; conf="$T/c.conf"; opts=(--ephemeral); }
    timeout 2 "$BIN/$prog" "${opts[@]}" --simulate "$fault" 0 $conf >/dev/null 2>"$T/err" || rc=$?
    [ $rc = 2 ] && { echo "# $prog refused it: $(grep -m1 error "$T/err")" >&2; return 0; }
    grep -q 'received datagrams are dropped' "$T/err" || { echo "# $prog did not start: $(head -2 "$T/err")" >&2; return 1; }
    grep -qiE "never (receives|gets)" "$T/err"
}
for f in drop=PONG drop=COOKIE drop=JOB_ACK drop=RESULT double=LEAVING; do
    check "serveur_esclave --simulate $f: refused or warned" never serveur_esclave "$f"
done
for f in drop=PING drop=JOB drop=RESULT_ACK double=CANCEL; do
    check "serveur_maitre --simulate $f: refused or warned" never serveur_maitre "$f"
done
done_testing
