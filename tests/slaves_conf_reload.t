#!/usr/bin/env bash
# SIGHUP reads slaves.conf again (smp-slaves.conf(5)): what stands in its
# place when it is not a regular file (a FIFO nobody writes, a symlink to a
# device, a directory) or is far too large is refused at once, logged, the
# slaves in use kept, and the master goes on serving; a line longer than
# the line buffer is refused whole, never read as two lines.
. "$(dirname "$0")/lib.sh"

start_slave s -j 2
S=$SLAVE_PORT
echo "127.0.0.1 $S" >"$T/good.conf"
cp "$T/good.conf" "$T/slaves.conf"
start_master m "$T/slaves.conf"
wait_slaves_up m 1 || bail "slave not up"

# served WHAT: a command still runs, within 20 s, on the slaves kept.
served() {
    printf 'echo still-%s\n' "${1// /-}" >"$T/one.txt"
    RC=0
    timeout 20 "$(prog client)" 127.0.0.1 "$MASTER_PORT" -q "$T/one.txt" >"$T/out" 2>"$T/err" || RC=$?
    is "$RC/$(cat "$T/out")" "0/still-${1// /-}" "after SIGHUP with $1 as slaves.conf: still served"
}
# refused_reload WHAT REASON: SIGHUP with slaves.conf replaced by WHAT is
# refused with REASON in the master's log, within 10 s.
refused_reload() {
    local before; before=$(grep -c 'keeping the current slaves' "$T/m.log")
    kill -HUP "$MASTER_PID"
    local i
    for i in $(seq 1 200); do
        [ "$(grep -c 'keeping the current slaves' "$T/m.log")" -gt "$before" ] && break
        sleep 0.05
    done
    check "SIGHUP with $1: refused and logged ($2)" grep -qF "$2" "$T/m.log"
    served "$1"
}

rm -f "$T/slaves.conf"; mkfifo "$T/slaves.conf"
refused_reload "a FIFO" "cannot read slaves file '$T/slaves.conf': not a regular file"
rm -f "$T/slaves.conf"; mkfifo "$T/fifo"; ln -s "$T/fifo" "$T/slaves.conf"
refused_reload "a symlink to a FIFO" "cannot read slaves file '$T/slaves.conf': not a regular file"
rm -f "$T/slaves.conf"; ln -s /dev/zero "$T/slaves.conf"
refused_reload "a symlink to /dev/zero" "cannot read slaves file '$T/slaves.conf': not a regular file"
rm -f "$T/slaves.conf"; mkdir "$T/slaves.conf"
refused_reload "a directory" "cannot read slaves file '$T/slaves.conf': not a regular file"
rmdir "$T/slaves.conf"
# 2 MiB of comments after the good line: more than a slaves.conf is.
{ cat "$T/good.conf"; yes '# a comment' | head -c $((2 * 1024 * 1024)); } >"$T/slaves.conf"
refused_reload "a 2 MiB file" "slaves file '$T/slaves.conf' is larger than 1048576 bytes"

# A comment of 1100 bytes whose tail, from byte 1024 on, reads as a
# slave's line: the tail is not a slave (nothing listens there: the
# master would log it added), the long line is reported.
cp "$T/good.conf" "$T/slaves.conf"
{ printf '#'; head -c 1022 /dev/zero | tr '\0' x; printf '127.0.0.1 9\n'; } >>"$T/slaves.conf"
kill -HUP "$MASTER_PID"
check "a line over 1023 bytes is reported" wait_for_line "$T/m.log" "$T/slaves.conf:2: line longer than" 10
check "and its tail is not read as a slave" bash -c "! grep -q 'slave 127.0.0.1:9 added' '$T/m.log'"
served "a long comment"

check "the master is alive" kill -0 "$MASTER_PID"
done_testing
