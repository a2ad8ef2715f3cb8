#!/usr/bin/env bash
# A slave from before job-request extensions (built from 83b15e1) speaks
# datagram format 5; this master speaks 6 (sealed datagrams): each side
# drops the other's datagrams with "unsupported version" in its log, the
# master names the slave that never answers, and a client gets a clear
# failure, not a hang (before format 6 the old slave ran plain requests
# and refused one with a tail as malformed). SMP_OLD_SLAVE names
# that serveur_esclave; without it the test is skipped, which is why it is
# not among tests/*.t (CI allows no SKIP there; .ci/run builds the old
# slave and runs it):
#   git worktree add /tmp/old 83b15e1 && make -C /tmp/old serveur_esclave
#   SMP_OLD_SLAVE=/tmp/old/serveur_esclave prove tests/compat/old_slave.t
. "$(dirname "$0")/../lib.sh"

[ -n "${SMP_OLD_SLAVE:-}" ] && [ -x "$SMP_OLD_SLAVE" ] || skip_all "set SMP_OLD_SLAVE to a serveur_esclave from before request extensions"
mkdir -p "$T/old"
(cd "$T/old" && exec "$SMP_OLD_SLAVE" -j 1 0) >"$T/old.log" 2>&1 &
PIDS+=("$!")
line=$(wait_for_line "$T/old.log" 'listening on UDP' 10) || bail "old slave did not start"
echo "127.0.0.1 $(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')" >"$T/old.conf"
start_master oldmaster "$T/old.conf" --no-slave-timeout 2
wait_for_line "$T/old.log" 'datagram from 127\.0\.0\.1:[0-9]+: unsupported version' 10 >/dev/null
ok $? "the older slave drops the master's datagrams: unsupported version (format 6)"
wait_for_line "$T/oldmaster.log" 'has not answered yet' 10 >/dev/null
ok $? "the master names the slave that never answers"
check "and never takes it for up" bash -c "! grep -q 'is up with' '$T/oldmaster.log'"
echo 'echo hi' >"$T/old.txt"
orc=0; timeout 60 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/old.txt" >"$T/old/out" 2>"$T/old/err" || orc=$?
check "a client's command does not run there: exit $orc, nothing printed, no hang" test "$orc" != 0 -a "$orc" != 124 -a ! -s "$T/old/out"
check "the client is told why: no slave available" grep -q 'no slave available' "$T/old/err"
done_testing
