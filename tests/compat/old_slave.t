#!/usr/bin/env bash
# A slave from before job-request extensions (built from 83b15e1) refuses
# a request with a tail (--line-buffer, --wd, --env) as malformed: the
# client gets a clear failure at once, not a hang. SMP_OLD_SLAVE names
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
start_master oldmaster "$T/old.conf"
wait_slaves_up oldmaster 1 || bail "old slave not up"
echo 'echo hi' >"$T/old.txt"
orc=0; timeout 30 "$BIN/client" --line-buffer 127.0.0.1 "$MASTER_PORT" "$T/old.txt" >"$T/old/out" 2>"$T/old/err" || orc=$?
is "$orc" 1 "--line-buffer, an older slave: the command fails (exit 1), no hang"
check "the failure says why" grep -q "the slave refused the request's extensions (--line-buffer, --wd, --env): an older serveur_esclave" "$T/old/err"
orc=0; timeout 30 "$BIN/client" 127.0.0.1 "$MASTER_PORT" "$T/old.txt" >"$T/old/out2" 2>"$T/old/err2" || orc=$?
is "$orc/$(cat "$T/old/out2")" "0/hi" "without an extension the older slave runs it (the request's bytes as before)"
done_testing
