#!/usr/bin/env bash
# hangup.t: a daemon started in a terminal stops when the terminal is
# closed (the window of the classroom demo closed: the kernel hangs the
# terminal up and sends SIGHUP), cleanly (exit 0, as for SIGTERM); a
# kill -HUP while the terminal is open is still a reload. Before, every
# SIGHUP was a reload: the daemon served on with no terminal, its port
# taken, and the next "./serveur_esclave 10001" failed.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "hangup.t needs python3 (apt-get install python3)"

# in_pty LOG PROG ARGS...: PROG in a new pseudo-terminal (its controlling
# terminal), what it prints copied to LOG; sends SIGHUP once it listens, checks
# it is alive, then closes the terminal. Prints "alive-after-hup=0|1 rc=N ms=T".
in_pty() {
    python3 - "$@" <<'PY'
import os, pty, select, signal, sys, time
log, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = open(log, "wb")
def pump(until, want=None):
    buf = b""
    while time.monotonic() < until:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                b = os.read(fd, 65536)
            except OSError:
                return False
            out.write(b); out.flush(); buf += b
            if want and want in buf:
                return True
    return False
if not pump(time.monotonic() + 20, b"listening on"):
    print("alive-after-hup=? rc=not-started ms=0"); os.kill(pid, 9); sys.exit(0)
os.kill(pid, signal.SIGHUP)          # a reload, the terminal open
pump(time.monotonic() + 1.0, b"SIGHUP")
pump(time.monotonic() + 0.3)
alive = os.waitpid(pid, os.WNOHANG) == (0, 0)
t0 = time.monotonic()
os.close(fd)                          # the window closed: the terminal hangs up
rc = None
while time.monotonic() < t0 + 15:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        rc = os.waitstatus_to_exitcode(st); break
    time.sleep(0.02)
ms = int((time.monotonic() - t0) * 1000)
if rc is None:
    os.kill(pid, 9); os.waitpid(pid, 0)
print("alive-after-hup=%d rc=%s ms=%d" % (alive, rc, ms))
PY
}

res=$(in_pty "$T/s.log" "$(prog serveur_esclave)" -j 1 0)
echo "# slave: $res"
check "kill -HUP with its terminal open: the slave reloads and serves on" grep -q 'alive-after-hup=1' <<<"$res"
check "its terminal closed: the slave stops, exit 0 as for SIGTERM, within 15 s" grep -q "rc=0 " <<<"$res"

echo "127.0.0.1 9" >"$T/slaves.conf"
res=$(in_pty "$T/m.log" "$(prog serveur_maitre)" --ephemeral 0 "$T/slaves.conf")
echo "# master: $res"
check "kill -HUP with its terminal open: the master reloads slaves.conf and serves on" grep -q 'alive-after-hup=1' <<<"$res"
check "its terminal closed: the master stops, exit 0 as for SIGTERM, within 15 s" grep -q "rc=0 " <<<"$res"
check "the master's SIGHUP with the terminal open was a reload" grep -q 'SIGHUP: reloading' "$T/m.log"

# not in a terminal (a service, nohup, a test's files): SIGHUP is a reload, always
start_slave s1 -j 1
kill -HUP "$SLAVE_PID"
sleep 0.5
check "without a terminal, SIGHUP leaves the slave running" kill -0 "$SLAVE_PID"
done_testing
