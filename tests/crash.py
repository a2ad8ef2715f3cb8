#!/usr/bin/env python3
"""crash.py - the master killed with -9 at random moments of a batch, and
restarted on the same port and state dir, while the same client process
goes on (it reconnects by itself). Seeded; TAP on stdout.

Each run: a batch of --commands commands, each appending a line to a
marker file of its own and printing an output known in advance (a few of
them large, a few slow); the master is killed 1 to 3 times at random
moments, down for a random while, and started again. Checked: the client
exits 0, every result is byte-exact, the joblog has one line per command,
and every marker holds exactly one line (no command lost, none run twice).

  crash.py --bin DIR [--seed N] [--runs N] [--commands N] [--big] [--damage truncate|flip]
--big: outputs of 64 KiB to 1 MiB, so that kills land in heavy journal writes.
--damage: one kill a run, and before the restart the journal is cut at a
random byte, or a random byte of it is changed. Records are lost then: the
client may fail, and commands may get a result saying they were not run
again; what is checked is that nothing runs twice, that every result the
client prints is right, that the master starts and says what it found,
and that it serves a new client.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PIDS = []


def wait_line(path, needle, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if needle in line:
                        return line
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return None


def start(args, log, cwd=None):
    f = open(log, "ab")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    PIDS.append(p)
    return p


def kill(p, sig=signal.SIGKILL):
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass


def expected_output(run, n, size):
    """What command n prints: a line, and for a big one size bytes more."""
    head = "out-%d-%d\n" % (run, n)
    if not size:
        return head.encode()
    unit = ("%d-%d." % (run, n)).encode()
    return head.encode() + (unit * (size // len(unit) + 1))[:size]


def command(run, n, marker_dir, size, slow):
    parts = ["echo x >> %s/%d" % (marker_dir, n)]
    if slow:
        parts.append("sleep %.2f" % slow)
    parts.append("printf 'out-%d-%d\\n'" % (run, n))
    if size:
        unit = "%d-%d." % (run, n)
        # the unit repeated, cut at size bytes: python is not needed on the slave
        parts.append("yes '%s' | tr -d '\\n' | head -c %d" % (unit, size))
    return "; ".join(parts)


def damage(rng, path, how):
    """Cuts the journal at a random byte past its header, or flips a bit of a random byte."""
    size = os.path.getsize(path)
    if size <= 40:
        return "too small to damage (%d bytes)" % size
    if how == "truncate":
        at = rng.randint(31, size - 1)
        os.truncate(path, at)
        return "cut at %d of %d bytes" % (at, size)
    at = rng.randint(0, size - 1)
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)[0]
        f.seek(at)
        f.write(bytes([b ^ (1 << rng.randint(0, 7))]))
    return "byte %d of %d changed" % (at, size)


run_summary = ""


def check_damaged_run(a, run, d, markers, sizes, mlog, damaged, port, prog):
    """After a damaged restart: results right where printed, a new client served."""
    global run_summary
    problems = []
    shown = wrong = not_run = 0
    for n in range(1, a.commands + 1):
        path = os.path.join(d, "res", str(n), "stdout")
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            got = f.read()
        shown += 1
        if got == expected_output(run, n, sizes[n]):
            continue
        if got == b"":  # a result made by the master (not run again, lost): no output
            not_run += 1
            continue
        wrong += 1
        problems.append("command %d: wrong output %r" % (n, got[:80]))
    if wrong:
        problems.append("%d results wrong" % wrong)
    said = [l.strip() for l in open(mlog, errors="replace") if "journal" in l and ("lost" in l or "offset" in l
                                                                                    or "not run" in l)]
    for line in said[:3]:
        print("#   master: " + line[:200])
    fresh = os.path.join(d, "fresh")
    with open(fresh, "w") as f:
        f.write("echo fresh-1\necho fresh-2\necho fresh-3\n")
    r = subprocess.run([prog("client"), "-k", "-q", "127.0.0.1", str(port), fresh], capture_output=True, timeout=60)
    if r.returncode != 0 or r.stdout != b"fresh-1\nfresh-2\nfresh-3\n":
        problems.append("a new client was not served: exit %d, %r %r" % (r.returncode, r.stdout, r.stderr[-300:]))
    run_summary = "%d results shown, %d of them 'not run again'" % (shown, not_run)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--commands", type=int, default=300)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--damage", choices=["truncate", "flip"])
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="smp-crash.")
    env = dict(os.environ)
    env["XDG_STATE_HOME"] = tmp
    prog = lambda name: os.path.join(a.bin, name)
    print("1..%d" % a.runs)
    print("# seed %d, %d runs of %d commands%s" % (a.seed, a.runs, a.commands, ", big outputs" if a.big else ""))
    failed = 0
    try:
        conf = os.path.join(tmp, "slaves.conf")
        with open(conf, "w") as f:
            for i in range(3):
                log = os.path.join(tmp, "s%d.log" % i)
                os.makedirs(os.path.join(tmp, "s%d" % i), exist_ok=True)
                start([prog("serveur_esclave"), "--slots", "2", "0"], log, cwd=os.path.join(tmp, "s%d" % i))
                line = wait_line(log, "listening on UDP", 20)
                if not line:
                    print("Bail out! slave %d did not start" % i)
                    return 1
                f.write("127.0.0.1 %s\n" % line.split("UDP ")[1].split()[0].rsplit(":", 1)[1])
        state = os.path.join(tmp, "state")
        port = 0
        masters = 0

        def start_master():
            nonlocal port, masters
            masters += 1
            log = os.path.join(tmp, "master.%d.log" % masters)
            p = start([prog("serveur_maitre"), "--state-dir", state, str(port), conf], log)
            line = wait_line(log, "listening on TCP", 20)
            if not line:
                return None, log
            port = int(line.split("TCP ")[1].split(",")[0].rsplit(":", 1)[1])
            return p, log

        master, mlog = start_master()
        if not master:
            print("Bail out! the master did not start: " + open(mlog).read())
            return 1
        if not wait_line(mlog, "is up with", 20):
            print("Bail out! the slaves are not seen by the master")
            return 1
        for run in range(1, a.runs + 1):
            d = os.path.join(tmp, "run%d" % run)
            markers = os.path.join(d, "markers")
            os.makedirs(markers)
            sizes, lines = {}, []
            for n in range(1, a.commands + 1):
                size = 0
                if a.big and rng.random() < 0.1:
                    size = rng.choice([65536, 262144, 1 << 20])
                elif rng.random() < 0.05:
                    size = rng.randint(1, 200000)
                slow = rng.choice([0.02, 0.05, 0.1, 0.2]) if rng.random() < 0.5 else 0
                sizes[n] = size
                lines.append(command(run, n, markers, size, slow))
            cmds = os.path.join(d, "cmds")
            with open(cmds, "w") as f:
                f.write("\n".join(lines) + "\n")
            out = open(os.path.join(d, "out"), "wb")
            err = open(os.path.join(d, "err"), "wb")
            t0 = time.monotonic()
            cl = subprocess.Popen([prog("client"), "--reconnect", "60", "--joblog", os.path.join(d, "joblog"),
                                   "--results", os.path.join(d, "res"), "-q", "127.0.0.1", str(port), cmds],
                                  stdout=out, stderr=err, start_new_session=True)
            PIDS.append(cl)
            kills = 1 if a.damage else rng.randint(1, 3)
            plan = []
            for k in range(kills):
                # the first within the batch for sure (it lasts 2 s or more), the others anywhere
                at = rng.uniform(0.05, 0.4 if a.damage else 1.0) if k == 0 else rng.uniform(0.05, 2.5 if not a.big else 6.0)
                down = rng.choice([0, 0.05, 0.2, 0.5, 1.0, 2.0])
                plan.append((at, down))
            plan.sort()
            done_kills = 0
            damaged = "not damaged"
            for at, down in plan:
                delay = t0 + at - time.monotonic()
                if delay > 0:
                    try:
                        cl.wait(delay)
                    except subprocess.TimeoutExpired:
                        pass
                if cl.poll() is not None:
                    break
                kill(master)
                done_kills += 1
                time.sleep(down)
                if a.damage:
                    damaged = damage(rng, os.path.join(state, "journal"), a.damage)
                master, mlog = start_master()
                if not master:
                    print("Bail out! the master did not start again: " + open(mlog).read()[-2000:])
                    return 1
            try:
                rc = cl.wait(180)
            except subprocess.TimeoutExpired:
                kill(cl)
                rc = "hung"
            out.close()
            err.close()
            problems = []
            if a.damage:
                problems += check_damaged_run(a, run, d, markers, sizes, mlog, damaged, port, prog)
                rc = 0 if done_kills else rc
                if not done_kills:
                    problems.append("the batch ended before the kill")
            if rc != 0:
                problems.append("client exit %s: %s" % (rc, open(os.path.join(d, "err"), errors="replace").read()[-600:]))
            wrong = missing_marker = twice = 0
            for n in range(1, a.commands + 1):
                if not a.damage:
                    try:
                        with open(os.path.join(d, "res", str(n), "stdout"), "rb") as f:
                            if f.read() != expected_output(run, n, sizes[n]):
                                wrong += 1
                    except FileNotFoundError:
                        wrong += 1
                try:
                    with open(os.path.join(markers, str(n))) as f:
                        c = len(f.readlines())
                    if c > 1:
                        twice += 1
                        problems.append("command %d ran %d times" % (n, c))
                except FileNotFoundError:
                    missing_marker += 1
            try:
                with open(os.path.join(d, "joblog")) as f:
                    jobs = len(f.readlines()) - 1
            except FileNotFoundError:
                jobs = 0
            if wrong:
                problems.append("%d results not byte-exact" % wrong)
            if missing_marker and not a.damage:
                problems.append("%d commands never ran" % missing_marker)
            if jobs != a.commands and not a.damage:
                problems.append("joblog has %d jobs" % jobs)
            desc = "run %d: %d kill(s) at %s: exit 0, %d results byte-exact, every marker once (%.1f s)" % (
                run, done_kills, ", ".join("%.2fs(+%.2fs down)" % p for p in plan[:done_kills]) or "-",
                a.commands, time.monotonic() - t0)
            if a.damage:
                desc = ("run %d: killed at %.2fs, journal %s: master up, a new client served, results right, "
                        "none run twice (%s)" % (run, plan[0][0], damaged, run_summary))
            if problems:
                failed += 1
                print("not ok %d - %s" % (run, desc))
                for p in problems[:12]:
                    print("#   " + p)
                print("#   kept: %s" % tmp)
            else:
                print("ok %d - %s" % (run, desc))
            sys.stdout.flush()
    finally:
        for p in PIDS:
            kill(p)
        if not failed:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
