#!/usr/bin/env python3
"""soak.py - randomized soak of client, serveur_maitre and serveur_esclave.

Each round, drawn from the seed: 1-4 slaves (1-3 slots, some behind the
udp_chaos proxy), a master on port 0 (its --state-dir in the round's
directory), maybe a shared key; 1-4 clients (or
a swarm of small ones) with random command files (outputs of 0 B to a few
MiB, binary, stderr, exit codes, signals, sleeps, over the output cap,
timeouts) and random behaviours (--json, --results, -k -q, slow reader,
SIGSTOP, interrupted (Ctrl-C) mid-run); faults at random times (slave kill -9 and
restart on the same port, slave SIGSTOP/SIGCONT, SIGHUP after removing
and re-adding a slave in slaves.conf, a slave restarted with its clock
stepped by libfaketime; "masterkill": the master killed with -9, 1-2
times a round, down 0-1.5 s and restarted on the same port, state dir and
options; the clients reconnect by themselves; "downslave": a slave
killed -9 while the master is down, its re-claimed commands run again,
flagged "may have run twice"). Then the invariants: every command of every client not
killed gets exactly one result; what ran is byte-exact (stdout, stderr,
exit code or signal, truncation) against what the harness knows the
command prints; no command ran twice (each appends its token to a
marker file as its LAST step, so a copy killed mid-run leaves no marker);
the client's exit status counts the failures; nothing hangs past a
deadline computed from the round's work; a killed slave's commands die
with it (even grandchildren); a killed client's commands stop (unless
its Ctrl-C came while the master was down or being killed and its batch
has no CANCEL in the journal: then it is orphaned and runs on, as
documented; never twice); across master restarts the same invariants,
the deadline extended by each downtime + 10 s; master and
slave VmHWM under a bound; no sanitizer report; no process of any command
left after the round.

TAP on stdout (one test per round, plan at the end); "# seed N" first.
A failing round prints its seed, number, fault schedule and log directory;
"soak.py --seed N --only-round R" replays the same round (same commands,
same schedule; timing is the machine's). Standard library only.
"""
import argparse
import base64
import collections
import json
import re
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_OUTPUT = 4 << 20  # the slave's default -o
FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1",
                 "/usr/local/lib/faketime/libfaketime.so.1"]
ALL_FAULTS = ["kill9", "stop", "hup", "clock", "wallstep", "chaos", "key", "clientkill", "clientstop",
              "slow", "swarm", "timeout", "big", "masterkill", "downslave"]
# "downslave": a slave killed -9 (or restarted) while the master is down or
# coming back: the restarted master re-claims its jobs from the slave's new
# life and runs them again, flagged "may have run twice" (the slave's boot
# differs from the one the DISPATCH record names). In the default set since
# that flag landed; "--faults default" is every kind.
DEFAULT_FAULTS = list(ALL_FAULTS)
RAN = ("exited", "signaled", "timed_out")
SLAVE_LOSS = ("kill9", "stop", "clock")
MIN_WORK = 3.0  # seconds of sleeps per slot in a round with faults
REJOIN = 8.0  # seconds for the master to use a restarted slave again
RETRIES = 4  # the clients' --lost-retries: more than the faults of a round, so every command must run
MASTER_DOWN = 1.5  # masterkill: the longest the master stays down
RECONNECT = 3.0  # a client's way back after the master's restart: backoff (<= 1 s) and ATTACH
GOODBYE = 1.5  # a Ctrl-C'd client's CANCEL: written within 1 s (client.c GOODBYE_MS), then journaled


def mono():
    return time.monotonic()


def wait_line(path, needle, limit, proc=None):
    """The first line of PATH holding NEEDLE, within LIMIT seconds."""
    end = mono() + limit
    while mono() < end:
        try:
            with open(path, "rb") as f:
                for line in f:
                    s = line.decode("utf-8", "replace")
                    if needle in s:
                        return s
        except FileNotFoundError:
            pass
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def port_of(line, proto):
    # "... listening on UDP 127.0.0.1:PORT with ..." / "... on TCP 127.0.0.1:PORT, ..."
    rest = line.split("listening on " + proto + " ", 1)[1]
    addr = rest.split()[0].rstrip(",")
    return int(addr.rsplit(":", 1)[1])


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def procs_with_env(prefix, exclude=()):
    """(pid, cmdline) of the processes whose environment has a variable
    starting with PREFIX (bytes), except the PIDs in EXCLUDE."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in exclude:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read()
            if not any(v.startswith(prefix) for v in env.split(b"\0")):
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            with open("/proc/%s/stat" % d) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                found.append((int(d), cmd))
        except OSError:
            pass
    return found



def tools_dir(bin_dir):
    """Where the test programs are: build/tests beside the default build, tests/ in another (as tests/lib.sh)."""
    built = os.path.join(bin_dir, "build", "tests")
    return built if os.path.isdir(built) else os.path.join(bin_dir, "tests")

class Proc:
    """A process this harness started, in a session of its own, killed by
    PID (and process group) when done."""

    def __init__(self, name, args, log, env=None, cwd=None, stdout=None):
        self.name, self.args, self.log = name, args, log
        self.logf = open(log, "ab")
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else self.logf,
                                  stderr=self.logf, env=env, cwd=cwd, start_new_session=True)
        self.pid = self.p.pid
        self.rc = None

    def poll(self):
        if self.rc is None:
            self.rc = self.p.poll()
        return self.rc

    def signal(self, sig):
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, limit):
        try:
            self.rc = self.p.wait(limit)
        except subprocess.TimeoutExpired:
            return None
        return self.rc

    def kill_group(self):
        if self.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGCONT)
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.wait(10)
        self.logf.close()


# ---------------------------------------------------------------- commands

def faketime_lib():
    return next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)


def octal(data):
    return "".join("\\%03o" % b for b in data)


def seq_bytes(n):
    return b"".join(b"%d\n" % i for i in range(1, n + 1))


def make_command(rng, tok, marker, opts, budget):
    """A random command and what it must give. BUDGET is a one-element
    list of output bytes this round may still produce."""
    parts, out, err = [], b"", b""
    exp = {"status": "exited", "exitval": 0, "signal": 0, "trunc_out": False,
           "trunc_err": False, "marker": True, "sleep": 0.0, "bytes": 0}
    if opts.get("hog"):  # must be killed by the client's --timeout
        parts.append("sleep 30")
        exp.update(status="timed_out", exitval=-1, signal=15, marker=False, sleep=opts["timeout"])  # TERM first (GNU parallel's --termseq)
        parts.append("echo %s >> %s" % (tok, marker))  # never reached
        exp.update(stdout=b"", stderr=b"")
        return "; ".join(parts), exp
    r = rng.random()
    if opts.get("short"):  # under a client's --timeout: stay well within it
        s = rng.choice([0, 0, 0.05, 0.1, 0.2])
    else:
        if r < 0.45:
            s = rng.choice([0.05, 0.1, 0.2, 0.3, 0.5])
        elif r < 0.53:
            s = rng.choice([1.5, 2, 3])  # long enough to see a killed slave's grandchildren
        else:
            s = 0
        if s:
            parts.append("sleep %g" % s)
            exp["sleep"] = s
    r = rng.random()
    if r < 0.25:
        out = ("out-%s\n" % tok).encode()
        parts.append("printf 'out-%s\\n'" % tok)
    elif r < 0.45:
        out = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 65)))
        parts.append("printf '%s'" % octal(out))
    elif r < 0.55:
        n = rng.randrange(1, 3000)
        out = seq_bytes(n)
        parts.append("seq 1 %d" % n)
    elif r < 0.7 and opts.get("big", True) and not opts.get("short"):
        c = rng.choice("abcxyz")
        choices = [0, 1, 1199, 1200, 1201, 59999, 60000, 60001, 65536, rng.randrange(1, 300000)]
        if budget[0] > MAX_OUTPUT + 600000:
            choices += [rng.randrange(300000, 3 << 20), MAX_OUTPUT, MAX_OUTPUT + rng.randrange(1, 600000)]
        n = rng.choice(choices)
        if n > budget[0]:
            n = rng.randrange(0, 2000)
        budget[0] -= n
        exp["bytes"] += n
        out = c.encode() * min(n, MAX_OUTPUT)
        exp["trunc_out"] = n > MAX_OUTPUT
        parts.append("head -c %d /dev/zero | tr '\\000' '%s'" % (n, c))
    r = rng.random()
    if r < 0.2:
        err = ("err-%s\n" % tok).encode()
        parts.append("printf 'err-%s\\n' >&2" % tok)
    elif r < 0.25:
        n = rng.randrange(0, 200000)
        err = b"e" * n
        exp["bytes"] += n
        parts.append("head -c %d /dev/zero | tr '\\000' e >&2" % n)
    exp["bytes"] += len(out) + len(err)
    parts.append("echo %s >> %s" % (tok, marker))  # last: a copy killed mid-run leaves none
    if exp["status"] != "timed_out":
        r = rng.random()
        if r < 0.15:
            k = rng.randrange(1, 256)
            parts.append("exit %d" % k)
            exp["exitval"] = k
        elif r < 0.22:
            sig, num = rng.choice([("TERM", 15), ("KILL", 9), ("USR1", 10)])
            parts.append("kill -%s $$" % sig)
            exp.update(status="signaled", exitval=-1, signal=num)
    exp["stdout"], exp["stderr"] = out, err
    return "; ".join(parts), exp


# ---------------------------------------------------------------- rounds

class Round:
    def __init__(self, h, number):
        self.h, self.n = h, number
        self.rng = random.Random("%d-%d" % (h.seed, number))
        self.dir = os.path.join(h.dir, "r%d" % number)
        os.makedirs(os.path.join(self.dir, "reports"))
        self.marker = os.path.join(self.dir, "markers")
        open(self.marker, "w").close()
        self.violations, self.notes, self.events_log = [], [], []
        self.cache_hits = 0
        self.procs = []  # every Proc of the round, for the cleanup
        self.slaves, self.proxies, self.clients = [], [], []
        self.master = None
        self.tag = "%s/r%d/" % (h.run_id, number)
        self.env = dict(os.environ)
        self.env["ASAN_OPTIONS"] = "log_path=%s/reports/asan:detect_leaks=1:%s" % (
            self.dir, os.environ.get("ASAN_OPTIONS", ""))
        self.env["UBSAN_OPTIONS"] = "log_path=%s/reports/ubsan:print_stacktrace=1:%s" % (
            self.dir, os.environ.get("UBSAN_OPTIONS", ""))
        self.env["XDG_STATE_HOME"] = os.path.join(self.dir, "state")  # the master's state dir: not in $HOME
        self.scale = h.scale
        self.t0 = None

    def enabled(self, kind):
        return kind in self.h.faults

    def violation(self, what):
        self.violations.append(what)

    def log(self, what):
        t = mono() - self.t0 if self.t0 else 0.0
        self.events_log.append("%6.2fs %s" % (t, what))

    # ------------------------------------------------------------ plan
    def plan(self):
        rng = self.rng
        self.key = None
        if self.enabled("key") and rng.random() < 0.3:
            self.key = os.path.join(self.dir, "key")
            with open(self.key, "w") as f:
                f.write("".join("%02x" % rng.randrange(256) for _ in range(rng.choice([32, 48]))))
            os.chmod(self.key, 0o600)
        k = rng.randint(1, 4)
        self.slave_specs = []
        for i in range(k):
            chaos = None
            if self.enabled("chaos") and rng.random() < 0.3:
                chaos = [rng.choice([0, 5, 10, 20]) for _ in range(3)] + [rng.randrange(1 << 30)]
            self.slave_specs.append({"slots": rng.randint(1, 3), "chaos": chaos})
        total_slots = sum(s["slots"] for s in self.slave_specs)
        if self.enabled("swarm") and rng.random() < 0.1:
            nclients, ncmds = rng.randint(8, 12), (2, 6)
        else:
            nclients, ncmds = rng.randint(1, 4), (5, 40)
        budget = [(self.h.big_mib << 20) if self.enabled("big") else 0]
        self.client_specs = []
        for c in range(nclients):
            mode = rng.choice(["json", "results", "keepq"])
            beh = "normal"
            r = rng.random()
            if r < 0.15 and self.enabled("clientkill"):
                beh = "killed"
            elif r < 0.3 and self.enabled("slow") and mode != "results":
                beh = "slow"
            elif r < 0.4 and self.enabled("clientstop"):
                beh = "stopped"
            timeout = None
            if self.enabled("timeout") and rng.random() < 0.15:
                timeout = rng.choice([2, 3])
            cmds, exps = [], []
            for i in range(rng.randint(*ncmds)):
                tok = "t%d.%d.%d" % (self.n, c, i + 1)
                opts = {"big": self.enabled("big"), "short": bool(timeout)}
                if timeout and rng.random() < 0.2:
                    opts.update(hog=True, timeout=timeout)
                cmd, exp = make_command(rng, tok, self.marker, opts, budget)
                exp["tok"] = tok
                cmds.append(cmd)
                exps.append(exp)
            spec = {"mode": mode, "beh": beh, "timeout": timeout, "cmds": cmds, "exps": exps,
                    "kill_at": rng.uniform(0.3, 3.0), "stop_at": rng.uniform(0.2, 2.0),
                    "stop_for": rng.uniform(0.5, 3.0)}
            self.client_specs.append(spec)
        # the scheduling and cache options of each batch, from a generator of
        # their own (the draws above stay what they were for a seed): a
        # --priority, --order lpt, --cache with a few side-effect-free lines
        # that repeat (within the batch and in other batches), so that hits
        # come from this round's runs and, after a master kill, from the journal
        fr = random.Random("%d-%d-features" % (self.h.seed, self.n))
        for c, spec in enumerate(self.client_specs):
            spec["priority"] = fr.choice([None, None, None, -5, 0, 3, 10])
            spec["order"] = fr.choice([None, None, None, "lpt", "fifo"])
            spec["cache"] = fr.random() < 0.3
            if spec["cache"] and not spec["timeout"]:
                for _ in range(fr.randint(2, 6)):
                    which = fr.randrange(4)
                    tok = "t%d.%d.%d" % (self.n, c, len(spec["cmds"]) + 1)
                    at = fr.randrange(len(spec["cmds"]) + 1)
                    spec["cmds"].insert(at, "printf 'pure-%d\\n'; seq 1 %d" % (which, 10 * which))
                    spec["exps"].insert(at, {"status": "exited", "exitval": 0, "signal": 0, "trunc_out": False,
                                             "trunc_err": False, "marker": False, "sleep": 0.0, "bytes": 0,
                                             "tok": tok, "pure": True, "stderr": b"",
                                             "stdout": ("pure-%d\n" % which).encode() + seq_bytes(10 * which)})
        # how long the work should take, for the fault times and deadlines
        work = sum(e["sleep"] for s in self.client_specs for e in s["exps"]) / total_slots
        if work < MIN_WORK and any(self.enabled(f) for f in ("kill9", "stop", "hup", "clock", "wallstep", "masterkill")):
            # a few 1 s commands (no draw: the other draws stay) give faults time to hit
            spec = next((s for s in self.client_specs if s["beh"] != "killed"), self.client_specs[0])
            for _ in range(min(12, int((MIN_WORK - work) * total_slots) + 1)):
                tok = "t%d.%d.%d" % (self.n, self.client_specs.index(spec), len(spec["cmds"]) + 1)
                spec["cmds"].append("sleep 1; printf 'pad-%s\\n'; echo %s >> %s" % (tok, tok, self.marker))
                spec["exps"].append({"status": "exited", "exitval": 0, "signal": 0, "trunc_out": False,
                                     "trunc_err": False, "marker": True, "sleep": 1.0, "bytes": 0, "tok": tok,
                                     "stdout": ("pad-%s\n" % tok).encode(), "stderr": b""})
            work = sum(e["sleep"] for s in self.client_specs for e in s["exps"]) / total_slots
        nbytes = sum(e["bytes"] for s in self.client_specs for e in s["exps"])
        self.work = work + nbytes / 30e6
        self.faults = []
        kinds = [f for f in ("kill9", "stop", "hup", "clock") if self.enabled(f)]
        if kinds:
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                kind = rng.choice(kinds)
                if kind == "hup" and k < 2:
                    continue
                self.faults.append({"kind": kind, "slave": rng.randrange(k),
                                    "at": rng.uniform(0.2, max(0.5, self.work)),
                                    "for": rng.uniform(1.0, 5.0) if kind == "stop" else rng.uniform(0.3, 2.0),
                                    "offset": rng.choice(["-10s", "-120s", "+10s", "+3600s", "-3600s"])})
        # live wall-clock steps (libfaketime reading a file per daemon), from a
        # generator of their own so that the other draws stay as they were
        wr = random.Random("%d-%d-wall" % (self.h.seed, self.n))
        self.wallclock = self.enabled("wallstep") and faketime_lib() and wr.random() < 0.25
        if self.wallclock:
            for _ in range(wr.randint(1, 2)):
                self.faults.append({"kind": "wallstep", "slave": wr.randrange(-1, k), "for": 0,
                                    "at": wr.uniform(0.2, max(0.5, self.work)),
                                    "offset": wr.choice(["-30s", "+30s", "-3600s", "+3600s", "-86400s"])})
        if self.enabled("hup") and wr.random() < 0.2:  # a reload that changes nothing
            self.faults.append({"kind": "hup", "slave": -1, "for": wr.uniform(0.3, 1.0),
                                "at": wr.uniform(0.2, max(0.5, self.work)), "offset": ""})
        # the master killed with -9 and restarted on its port and state dir
        # (again a generator of its own), maybe with a slave killed while it is down
        mr = random.Random("%d-%d-master" % (self.h.seed, self.n))
        if self.enabled("masterkill") and mr.random() < (0.6 if self.h.faults == {"masterkill"} else 0.3):
            up = 0.0  # a kill once the previous life is up again
            for at in sorted(mr.uniform(0.2, max(0.5, 0.8 * self.work)) for _ in range(mr.choice([1, 1, 1, 2]))):
                f = {"kind": "masterkill", "slave": -1, "at": max(at, up), "for": mr.uniform(0, MASTER_DOWN),
                     "offset": ""}
                up = f["at"] + f["for"] + 0.5
                self.faults.append(f)
                if self.enabled("downslave") and mr.random() < 0.3:
                    # the slave dies while the master is down, and may be back before it
                    self.faults.append({"kind": "kill9", "slave": mr.randrange(k), "at": f["at"] + 0.01,
                                        "for": mr.uniform(0.1, f["for"] + 1.0), "offset": ""})
        if not self.enabled("downslave"):
            # no new life of a slave from just before a master kill (its death
            # not yet seen) to a while after the restart
            downs = [(f["at"] - 4.0, f["at"] + f["for"] + 3.0) for f in self.faults if f["kind"] == "masterkill"]
            self.faults = [f for f in self.faults if f["kind"] not in ("kill9", "clock")
                           or not any(a <= f["at"] + f["for"] and f["at"] <= b for a, b in downs)]
        self.faults.sort(key=lambda f: f["at"])
        # generous: the machine is small and shared
        losses = sum(1 for f in self.faults if f["kind"] in SLAVE_LOSS)
        # past the master's --no-slave-timeout (60 s) when slaves go away, so
        # that commands failed for want of a slave show as such, not as a hang
        self.deadline = (30 + 3 * self.work + 12 * losses + 4 * len(self.faults)) * self.scale
        # a master's restart: its downtime, its replay, the clients' reconnection,
        # the replayed batches' wait for every slave (--dead-after)
        self.deadline += sum(f["for"] + 10 for f in self.faults if f["kind"] == "masterkill") * self.scale
        if losses:
            self.deadline = max(self.deadline, 75 + 30 * self.scale)

    def describe(self):
        sl = ", ".join("s%d:%d slots%s" % (i, s["slots"], " chaos drop/dup/reorder %d/%d/%d" % tuple(s["chaos"][:3])
                                          if s["chaos"] else "") for i, s in enumerate(self.slave_specs))
        cl = ", ".join("c%d:%d cmds %s %s%s%s%s%s" % (i, len(c["cmds"]), c["mode"], c["beh"],
                                                  " timeout %d" % c["timeout"] if c["timeout"] else "",
                                                  " priority %d" % c["priority"] if c.get("priority") is not None else "",
                                                  " " + c["order"] if c.get("order") else "",
                                                  " cache" if c.get("cache") else "")
                       for i, c in enumerate(self.client_specs))
        fl = ", ".join("%s %s at %.1fs for %.1fs%s" % (f["kind"], "s%d" % f["slave"] if f["slave"] >= 0 else
                                                    "master" if f["kind"] in ("wallstep", "masterkill")
                                                    else "(conf unchanged)",
                                                    f["at"], f["for"],
                                                    " clock " + f["offset"] if f["kind"] in ("clock", "wallstep") else "")
                       for f in self.faults) or "none"
        return "slaves [%s]%s; clients [%s]; faults [%s]; work %.1fs, deadline %.0fs" % (
            sl, " key" if self.key else "", cl, fl, self.work, self.deadline)

    # ------------------------------------------------------------ daemons
    def key_args(self):
        return ["--key-file", self.key] if self.key else []

    def start_slave(self, i, port=0, clock=None):
        spec = self.slave_specs[i]
        spec["life"] = spec.get("life", -1) + 1
        name = "s%d" % i
        env = dict(self.env)
        env["SOAK_INST"] = "%ss%d/l%d" % (self.tag, i, spec["life"])
        if self.wallclock:
            self.wall_env(env, name)
            if clock:
                with open(os.path.join(self.dir, "faketime." + name), "w") as f:
                    f.write(clock + "\n")
        elif clock:
            lib = faketime_lib()
            if lib is None:
                self.notes.append("libfaketime not found: clock fault without a clock step")
            else:
                env.update(LD_PRELOAD=lib, FAKETIME=clock, FAKETIME_DONT_FAKE_MONOTONIC="1")
                env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"] + ":verify_asan_link_order=0"
        cwd = os.path.join(self.dir, name)
        os.makedirs(cwd, exist_ok=True)
        log = os.path.join(self.dir, name + ".log")
        with open(log, "ab") as f:
            f.write(b"==== soak: life %d%s\n" % (spec["life"], (" clock " + clock).encode() if clock else b""))
        # where to look for the master noticing this life: before it starts
        mlog_off = os.path.getsize(self.master.log) if self.master is not None else 0
        p = Proc(name, [os.path.join(self.h.bin, "serveur_esclave"), "-j", str(spec["slots"])]
                 + self.key_args() + [str(port)], log, env=env, cwd=cwd)
        self.procs.append(p)
        # the line of this life: skip those of earlier lives
        end = mono() + 20 * self.scale
        line = None
        while mono() < end and line is None:
            with open(log, "rb") as f:
                data = f.read().decode("utf-8", "replace")
            tail = data.rsplit("==== soak: life %d" % spec["life"], 1)[-1]
            for ln in tail.splitlines():
                if "listening on UDP" in ln:
                    line = ln
            if line is None:
                if p.poll() is not None:
                    break
                time.sleep(0.02)
        if line is None:
            who = ""
            if "Address already in use" in tail:  # by whom? (other tests share the machine)
                who = subprocess.run(["ss", "-uanp", "sport = :%d" % port], capture_output=True,
                                     text=True).stdout.replace("\n", " | ")
            raise RuntimeError("slave %s did not start (port %d): %s %s" % (name, port, tail[-300:].strip(), who))
        spec["proc"], spec["port"], spec["inst"] = p, port_of(line, "UDP"), env["SOAK_INST"]
        spec["started_at"], spec["clock"], spec["mlog_off"] = mono(), clock, mlog_off
        return p

    def wall_env(self, env, name):
        """ENV runs its program with a wall clock offset read from a file
        (re-read every second), that a wallstep fault rewrites."""
        path = os.path.join(self.dir, "faketime." + name)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("+0s\n")
        env.update(LD_PRELOAD=faketime_lib(), FAKETIME_TIMESTAMP_FILE=path, FAKETIME_CACHE_DURATION="1",
                   FAKETIME_DONT_FAKE_MONOTONIC="1")
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"] + ":verify_asan_link_order=0"

    def start_proxy(self, i):
        spec = self.slave_specs[i]
        d, u, r, seed = spec["chaos"]
        log = os.path.join(self.dir, "c%d.log" % i)
        p = Proc("c%d" % i, [os.path.join(tools_dir(self.h.bin), "udp_chaos"), "--drop", str(d), "--dup", str(u),
                             "--reorder", str(r), "--seed", str(seed), "0", "127.0.0.1", str(spec["port"])],
                 log, env=self.env)
        self.procs.append(p)
        self.proxies.append(p)
        line = wait_line(log, "listening on UDP", 10 * self.scale, p)
        if line is None:
            raise RuntimeError("proxy c%d did not start" % i)
        spec["addr_port"] = port_of(line, "UDP")

    def write_conf(self, without=None):
        with open(self.conf, "w") as f:
            for i, s in enumerate(self.slave_specs):
                if i != without:
                    f.write("127.0.0.1 %d\n" % s["addr_port"])

    def start_daemons(self):
        for i, s in enumerate(self.slave_specs):
            self.start_slave(i)
            s["addr_port"] = s["port"]
            if s["chaos"]:
                self.start_proxy(i)
        self.conf = os.path.join(self.dir, "slaves.conf")
        self.write_conf()
        self.mstate = os.path.join(self.dir, "mstate")
        self.mport = 0
        self.master_life = -1
        self.start_master()
        log = self.master.log
        end = mono() + 20 * self.scale
        while mono() < end:
            with open(log, errors="replace") as f:
                if f.read().count("is up with") >= len(self.slave_specs):
                    return
            time.sleep(0.05)
        raise RuntimeError("the master did not hear from its %d slaves" % len(self.slave_specs))

    def start_master(self):
        """A life of the master: on port 0 first, then on the port of the first
        life (retried a while if it is taken), always with the same state dir
        and options, its log appended to master.log."""
        self.master_life += 1
        log = os.path.join(self.dir, "master.log")
        env = dict(self.env)
        if self.wallclock:
            self.wall_env(env, "master")
        args = [os.path.join(self.h.bin, "serveur_maitre")] + self.key_args() + [
            "--state-dir", self.mstate, str(self.mport), self.conf]
        end = mono() + 10 * self.scale
        while True:
            mark = "==== soak: master life %d" % self.master_life
            with open(log, "ab") as f:
                f.write(mark.encode() + b"\n")
            p = Proc("master", args, log, env=env)
            self.procs.append(p)
            line, tail = None, ""
            limit = mono() + 20 * self.scale
            while mono() < limit and line is None:
                with open(log, "rb") as f:
                    tail = f.read().decode("utf-8", "replace").rsplit(mark, 1)[-1]
                line = next((ln for ln in tail.splitlines() if "listening on TCP" in ln), None)
                if line is None:
                    if p.poll() is not None:
                        break
                    time.sleep(0.02)
            if line is not None:
                break
            p.kill_group()
            if self.mport and "in use" in tail and mono() < end:  # the port taken meanwhile: again
                self.log("master's port %d is taken: trying again" % self.mport)
                time.sleep(0.2)
                continue
            who = ""
            if self.mport:
                who = subprocess.run(["ss", "-tanp", "sport = :%d" % self.mport], capture_output=True,
                                     text=True).stdout.replace("\n", " | ")
            raise RuntimeError("master (life %d, port %d) did not start: %s %s" % (
                self.master_life, self.mport, tail[-500:].strip(), who))
        self.master = p
        self.mport = port_of(line, "TCP")
        return p

    # ------------------------------------------------------------ clients
    def start_client(self, c):
        spec = self.client_specs[c]
        d = os.path.join(self.dir, "c%d" % c)
        os.makedirs(d)
        spec["dir"] = d
        with open(os.path.join(d, "cmds"), "w") as f:
            f.write("\n".join(spec["cmds"]) + "\n")
        args = [os.path.join(self.h.bin, "client")] + self.key_args() + ["--lost-retries", str(RETRIES)]
        if spec["timeout"]:
            args += ["--timeout", str(spec["timeout"])]
        if spec.get("priority") is not None:
            args += ["--priority", str(spec["priority"])]
        if spec.get("order"):
            args += ["--order", spec["order"]]
        if spec.get("cache"):
            args += ["--cache"]
        if spec["mode"] == "json":
            args += ["--json"]
        elif spec["mode"] == "results":
            args += ["-q", "--results", os.path.join(d, "res"), "--joblog", os.path.join(d, "joblog")]
        else:
            args += ["-k", "-q", "--joblog", os.path.join(d, "joblog")]
        args += ["127.0.0.1", str(self.mport), os.path.join(d, "cmds")]
        out_path = os.path.join(d, "stdout")
        if spec["mode"] == "results":
            p = Proc("client%d" % c, args, os.path.join(d, "stderr"), env=self.env,
                     stdout=open(out_path, "wb"))
        else:
            p = Proc("client%d" % c, args, os.path.join(d, "stderr"), env=self.env, stdout=subprocess.PIPE)
            slow = spec["beh"] == "slow"

            def reader(pipe=p.p.stdout, path=out_path, slow=slow):
                with open(path, "wb") as f:
                    while True:
                        b = pipe.read1(16384 if slow else 1 << 20)
                        if not b:
                            break
                        f.write(b)
                        if slow:
                            time.sleep(0.01)
            t = threading.Thread(target=reader, daemon=True)
            t.start()
            spec["reader"] = t
        self.procs.append(p)
        spec["proc"], spec["started"], spec["done"] = p, mono(), None
        self.log("client c%d started (pid %d)" % (c, p.pid))

    # ------------------------------------------------------------ faults
    def fault_start(self, f):
        f["t_start"] = mono()
        if f["kind"] == "masterkill":
            m = self.master
            if m.poll() is not None:  # down already (its restart was slow): not twice at once
                f["skipped"] = True
                self.log("master down already: kill skipped")
                return
            self.note_memory("master", m)  # this life's peak, replay included
            m.signal(signal.SIGKILL)
            m.wait(10)
            f["t_start"] = mono()
            f["life"] = self.master_life
            self.log("kill -9 master (life %d, pid %d), down for %.2fs" % (self.master_life, m.pid, f["for"]))
            return
        if f["kind"] == "hup" and f["slave"] < 0:
            self.master.signal(signal.SIGHUP)
            self.log("SIGHUP, slaves.conf unchanged")
            return
        if f["kind"] == "wallstep":
            name = "s%d" % f["slave"] if f["slave"] >= 0 else "master"
            with open(os.path.join(self.dir, "faketime." + name), "w") as fh:
                fh.write(f["offset"] + "\n")
            self.log("wall clock of %s stepped to %s" % (name, f["offset"]))
            return
        s = self.slave_specs[f["slave"]]
        p = s["proc"]
        if f["kind"] == "kill9":
            p.signal(signal.SIGKILL)
            p.wait(10)
            f["check_at"] = mono() + 1.0 * self.scale
            f["inst"] = s["inst"]
            self.log("kill -9 s%d (pid %d)" % (f["slave"], p.pid))
        elif f["kind"] == "stop":
            p.signal(signal.SIGSTOP)
            self.log("SIGSTOP s%d" % f["slave"])
        elif f["kind"] == "clock":
            p.signal(signal.SIGTERM)
            p.signal(signal.SIGCONT)  # a stopped slave gets its SIGTERM only once continued
            if p.wait(10 * self.scale) is None:
                self.violation("clock fault: s%d did not exit within %ds of SIGTERM" % (f["slave"], 10 * self.scale))
                p.kill_group()
            self.log("SIGTERM s%d (to restart it with its clock at %s)" % (f["slave"], f["offset"]))
        elif f["kind"] == "hup":
            self.write_conf(without=f["slave"])
            self.master.signal(signal.SIGHUP)
            self.log("slaves.conf without s%d, SIGHUP" % f["slave"] if f["slave"] >= 0 else "SIGHUP, slaves.conf unchanged")

    def fault_end(self, f):
        if f["kind"] == "masterkill":
            if f.get("skipped"):
                return
            try:
                self.start_master()
                f["t_end"] = mono()
                self.log("master restarted (life %d, pid %d) on port %d" % (self.master_life, self.master.pid,
                                                                          self.mport))
            except RuntimeError as e:
                f["t_end"] = mono()
                self.violation("restart of the master: %s" % e)
            return
        if f["kind"] == "wallstep" or f["slave"] < 0:
            return
        i = f["slave"]
        s = self.slave_specs[i]
        f["t_end"] = mono()
        if f["kind"] in ("kill9", "clock"):
            if s["proc"].poll() is None:  # another fault restarted it already
                return
            try:
                self.start_slave(i, port=s["port"], clock=f["offset"] if f["kind"] == "clock" else None)
                self.log("s%d restarted on port %d%s" % (i, s["port"], " clock " + f["offset"] if f["kind"] == "clock" else ""))
            except RuntimeError as e:
                self.violation("restart of s%d: %s" % (i, e))
        elif f["kind"] == "stop":
            s["proc"].signal(signal.SIGCONT)
            self.log("SIGCONT s%d" % i)
        elif f["kind"] == "hup":
            self.write_conf()
            self.master.signal(signal.SIGHUP)
            self.log("slaves.conf with s%d again, SIGHUP" % i)

    def check_killed_slave(self, f):
        left = procs_with_env(("SOAK_INST=" + f["inst"]).encode())
        if left:
            self.violation("kill -9 of s%d: %d of its command processes still run %.1fs later: %s" % (
                f["slave"], len(left), mono() - f["t_start"],
                "; ".join("%d %s" % (pid, cmd[:80]) for pid, cmd in left[:5])))
            for pid, _ in left:  # tagged as ours: stop them now
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    # ------------------------------------------------------------ the run
    def markers(self):
        with open(self.marker) as f:
            return collections.Counter(f.read().split())

    def dump_state(self, why):
        path = os.path.join(self.dir, "dump.txt")
        with open(path, "a") as f:
            f.write("==== %s\n" % why)
            for cmd in (["ss", "-tanup"], ["ss", "-uanp"], ["ps", "-eo", "pid,ppid,pgid,stat,etime,args"]):
                try:
                    f.write("$ %s\n%s\n" % (" ".join(cmd), subprocess.run(
                        cmd, capture_output=True, text=True, timeout=10).stdout))
                except (OSError, subprocess.SubprocessError) as e:
                    f.write("$ %s: %s\n" % (" ".join(cmd), e))
        return path

    def run(self):
        self.plan()
        self.t0 = mono()
        self.start_daemons()
        self.t0 = mono()
        for c in range(len(self.client_specs)):
            self.start_client(c)
        pending = list(self.faults)
        active, checks = [], []
        while True:
            now = mono()
            el = now - self.t0
            for f in list(pending):
                if f["at"] <= el:
                    pending.remove(f)
                    self.fault_start(f)
                    active.append(f)
                    if f["kind"] == "kill9":
                        checks.append(f)
            for f in list(active):
                if now - f["t_start"] >= f["for"]:
                    active.remove(f)
                    self.fault_end(f)
            for f in list(checks):
                if now >= f["check_at"]:
                    checks.remove(f)
                    self.check_killed_slave(f)
            running = 0
            for c, spec in enumerate(self.client_specs):
                p = spec["proc"]
                if p.poll() is not None:
                    if spec["done"] is None:
                        spec["done"] = now
                        self.log("client c%d exited %d" % (c, p.rc))
                    continue
                running += 1
                age = now - spec["started"]
                if spec["beh"] == "killed" and age >= spec["kill_at"]:
                    # Ctrl-C: the client cancels its batch (CANCEL), so its commands stop;
                    # a client killed with -9 only orphans its batch, which runs on
                    # (--client-grace: tests/clients.t, tests/reattach.t)
                    spec["interrupted_at"] = mono()
                    p.signal(signal.SIGINT)
                    p.wait(2)
                    p.kill_group()
                    spec["done"] = spec["killed_at"] = mono()
                    self.log("client c%d interrupted (Ctrl-C)" % c)
                elif spec["beh"] == "stopped" and "stopped" not in spec and age >= spec["stop_at"]:
                    p.signal(signal.SIGSTOP)
                    spec["stopped"] = now
                    self.log("client c%d SIGSTOP" % c)
                elif spec.get("stopped") and not spec.get("conted") and now - spec["stopped"] >= spec["stop_for"]:
                    p.signal(signal.SIGCONT)
                    spec["conted"] = True
                    self.log("client c%d SIGCONT" % c)
                elif age > self.deadline:
                    dump = self.dump_state("client c%d hangs" % c)
                    with open(os.path.join(spec["dir"], "stderr"), errors="replace") as f:
                        tail = f.read()[-300:].replace("\n", " | ")
                    self.violation("hang: client c%d still running after %.0fs (deadline %.0fs); state in %s; its stderr: %s"
                                   % (c, age, self.deadline, dump, tail))
                    p.kill_group()
                    spec["done"], spec["hung"] = mono(), True
            for s in self.client_specs:  # the moment a killed client's commands must have stopped
                if s.get("killed_at") and "snap" not in s and mono() - s["killed_at"] >= 3 * self.scale:
                    s["snap"] = self.markers()
            if running == 0 and not checks and all("snap" in s for s in self.client_specs if s.get("killed_at")):
                break
            time.sleep(0.05)
        for f in active:  # the clients are done before these faults' end
            self.fault_end(f)
        for f in pending:
            self.notes.append("fault %s %s at %.1fs skipped: the clients were done" % (
                f["kind"], "s%d" % f["slave"] if f["slave"] >= 0 else "master", f["at"]))
        for spec in self.client_specs:
            if spec.get("reader"):
                spec["reader"].join(30)
        # a killed client's commands: nothing of theirs may finish after the bound
        maxsleep = max([e["sleep"] for s in self.client_specs for e in s["exps"]] + [0])
        killed = [s for s in self.client_specs if s.get("killed_at")]
        if killed:
            time.sleep(min(maxsleep, 30) + 1)
        self.cancelled = None
        if killed and any("t_start" in f for f in self.faults if f["kind"] == "masterkill"):
            self.cancelled = self.journal_cancels()
        self.check_rejoined()
        self.check_memory()
        self.teardown()
        self.check_results()
        self.check_leftovers()
        self.check_reports()

    def journal_cancels(self):
        """The clients whose batch has a CANCEL record in the master's journal
        (read while the master runs: --dump-journal takes no lock); a
        command's marker token names its client."""
        r = subprocess.run([os.path.join(self.h.bin, "serveur_maitre"), "--dump-journal", self.mstate],
                           capture_output=True, timeout=60 * self.scale)
        owner, cancelled = {}, set()
        for line in r.stdout.splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("type") == "command" and o.get("line"):
                m = re.search(r"echo t%d\.(\d+)\.\d+ >> " % self.n, o["line"])
                if m:
                    owner[o["batch"]] = int(m.group(1))
            elif o.get("type") == "cancel":
                cancelled.add(o["batch"])
        if r.returncode == 2 or not owner:
            self.violation("the master's journal cannot be read: exit %d, %s" % (r.returncode, r.stderr[-300:]))
        return {owner[b] for b in cancelled if b in owner}

    def master_down_at(self, t):
        """The master kill around moment T, if a client's CANCEL sent at T may
        have been lost with it: T while the master was down or its clients not
        back yet, or just before the kill (the CANCEL not yet journaled)."""
        for f in self.faults:
            if f["kind"] == "masterkill" and "t_start" in f and not f.get("skipped") and \
                    f["t_start"] - GOODBYE * self.scale <= t <= f.get("t_end", 1e18) + RECONNECT * self.scale:
                return f
        return None

    def check_rejoined(self):
        """A slave restarted on its port is used again: the master's log says
        it restarted (or is up) within REJOIN seconds."""
        for i, s in enumerate(self.slave_specs):
            if s["life"] == 0 or s["proc"].poll() is not None:
                continue
            end = s["started_at"] + REJOIN * self.scale
            name = "slave 127.0.0.1:%d " % s["addr_port"]
            while True:
                with open(self.master.log, "rb") as f:
                    f.seek(s["mlog_off"])
                    tail = f.read().decode("utf-8", "replace")
                if name + "restarted" in tail or name + "is up" in tail:
                    break
                if mono() >= end:
                    self.violation("s%d restarted on its port%s: the master has not used it within %.0fs" % (
                        i, " with its clock at " + s["clock"] if s["clock"] else "", REJOIN * self.scale))
                    break
                time.sleep(0.1)

    def check_memory(self):
        for name, p in [("master", self.master)] + [("s%d" % i, s["proc"]) for i, s in enumerate(self.slave_specs)]:
            self.note_memory(name, p)

    def note_memory(self, name, p):
        if p.poll() is not None:
            return
        hwm = vm_hwm_kib(p.pid)
        if hwm is None:
            return
        self.h.hwm[name[0]] = max(self.h.hwm.get(name[0], 0), hwm)
        bound = (self.h.mem_mib * 1024) * (3 if self.scale > 1 else 1)
        if hwm > bound:
            self.violation("memory: %s VmHWM %d KiB over the bound %d KiB" % (name, hwm, bound))

    def teardown(self):
        for s in self.slave_specs:
            s["proc"].signal(signal.SIGCONT)
        self.master.signal(signal.SIGTERM)
        rc = self.master.wait(20 * self.scale)
        if rc is None:
            self.violation("master did not exit within %ds of SIGTERM" % (20 * self.scale))
        elif rc != 0:
            self.violation("master exited %d (0 expected after SIGTERM; a crash?)" % rc)
        for i, s in enumerate(self.slave_specs):
            p = s["proc"]
            if p.poll() is not None:
                self.violation("slave s%d died by itself (exit %s)" % (i, p.rc))
                continue
            p.signal(signal.SIGTERM)
            rc = p.wait(10 * self.scale)
            if rc is None:
                self.violation("slave s%d did not exit within %ds of SIGTERM" % (i, 10 * self.scale))
            elif rc != 0:
                self.violation("slave s%d exited %d after SIGTERM" % (i, rc))
        for p in self.proxies:
            p.signal(signal.SIGTERM)
            p.wait(5)
        for p in self.procs:
            p.kill_group()

    def kill_all(self):
        """Every process of the round, even after an exception: the ones
        started here by PID (and process group), then any command process
        still carrying this round's tag."""
        for p in self.procs:
            p.kill_group()
        for pid, _ in procs_with_env(("SOAK_INST=" + self.tag).encode()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def check_leftovers(self):
        time.sleep(0.2)
        left = procs_with_env(("SOAK_INST=" + self.tag).encode())
        if left:
            self.violation("%d command processes left after the round: %s" % (
                len(left), "; ".join("%d %s" % (pid, cmd[:80]) for pid, cmd in left[:5])))
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def check_reports(self):
        d = os.path.join(self.dir, "reports")
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), errors="replace") as f:
                text = f.read()
            if "ERROR: AddressSanitizer" in text or "ERROR: LeakSanitizer" in text or "runtime error:" in text:
                self.violation("sanitizer report %s: %s" % (name, text.strip().splitlines()[0][:200]))

    # ------------------------------------------------------------ results
    def read_results(self, c, spec):
        """{seq: [result, ...]} from what the client wrote."""
        d, res = spec["dir"], collections.defaultdict(list)
        if spec["mode"] == "json":
            with open(os.path.join(d, "stdout"), "rb") as f:
                for n, line in enumerate(f, 1):
                    try:
                        o = json.loads(line)
                    except ValueError as e:
                        self.violation("c%d: stdout line %d is not JSON (%s): %r" % (c, n, e, line[:100]))
                        continue

                    def field(k):
                        if o.get(k) is not None:
                            return o[k].encode("utf-8", "surrogatepass")
                        if o.get(k + "_base64") is not None:
                            return base64.b64decode(o[k + "_base64"])
                        return b""
                    res[o.get("seq")].append({
                        "status": o.get("status"), "exitval": o.get("exitval"), "signal": o.get("signal"),
                        "stdout": field("stdout"), "stderr": field("stderr"),
                        "trunc_out": o.get("stdout_truncated"), "trunc_err": o.get("stderr_truncated"),
                        "host": o.get("host"), "raw": o, "cached": bool(o.get("cached"))})
            return res
        try:
            with open(os.path.join(d, "joblog"), errors="replace") as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            self.violation("c%d: no joblog" % c)
            return res
        # With -q the mark is a warning on stderr (the joblog keeps GNU
        # parallel's columns).
        warned = set()
        try:
            with open(os.path.join(d, "stderr"), errors="replace") as f:
                for line in f:
                    m = re.search(r"client: warning: command (\d+) may have run twice", line)
                    if m:
                        warned.add(int(m.group(1)))
        except FileNotFoundError:
            pass
        for row in rows:
            col = row.split("\t")
            if len(col) < 9:
                self.violation("c%d: bad joblog line %r" % (c, row[:100]))
                continue
            seq, host, exitval, sig = int(col[0]), col[1], int(col[6]), int(col[7])
            if host == "-":
                status = "not_run"
            elif sig > 0:
                status = "signaled"
                if exitval == 0:  # the joblog writes a signal's Exitval as GNU parallel does (0); JSON's -1
                    exitval = -1
            elif exitval >= 0:
                status = "exited"
            else:
                status = "not_run"  # cancelled
            r = {"status": status, "exitval": exitval, "signal": sig, "host": host, "cached": host == "cache",
                 "raw": {"may_have_run_twice": True} if seq in warned else {},
                 "trunc_out": None, "trunc_err": None, "stdout": None, "stderr": None}
            if spec["mode"] == "results":
                for k in ("stdout", "stderr"):
                    try:
                        with open(os.path.join(d, "res", str(seq), k), "rb") as f:
                            r[k] = f.read()
                    except FileNotFoundError:
                        r[k] = None
            res[seq].append(r)
        return res

    def check_results(self):
        markers = self.markers()
        losses = [f for f in self.faults if f["kind"] in SLAVE_LOSS and "t_start" in f]
        for c, spec in enumerate(self.client_specs):
            exps = spec["exps"]
            if spec.get("hung"):
                continue
            if spec.get("killed_at"):
                snap = spec["snap"]
                late = [e["tok"] for e in exps if markers[e["tok"]] > snap[e["tok"]]]
                if late:
                    overlapping = [f for f in losses if f["kind"] == "stop" and f.get("t_end", 1e18) >= spec["killed_at"] - 1]
                    msg = "c%d killed: %d of its commands finished more than %ds after the kill (%s)" % (
                        c, len(late), 3 * self.scale, " ".join(late[:5]))
                    down = self.master_down_at(spec["interrupted_at"])
                    if self.cancelled is not None and c not in self.cancelled:
                        # no CANCEL in the journal: the batch is orphaned and runs on
                        # (--client-grace), as after a kill -9 of the client; only
                        # if the master was down (or killed) when Ctrl-C came
                        if down:
                            self.notes.append(msg + "; Ctrl-C came %.1fs after the master's kill (life %d): its CANCEL "
                                              "was lost, the batch is orphaned and runs on" % (
                                                  spec["interrupted_at"] - down["t_start"], down["life"]))
                        else:
                            self.violation(msg + "; its batch has no CANCEL in the journal, though the master was up")
                    elif overlapping:
                        self.notes.append(msg + "; a slave was stopped meanwhile, so it could not be told")
                    else:
                        self.violation(msg)
                for e in exps:
                    if markers[e["tok"]] > 1 and not losses:
                        self.violation("c%d killed: command %s ran %d times" % (c, e["tok"], markers[e["tok"]]))
                continue
            res = self.read_results(c, spec)
            failed = 0
            for seq, e in enumerate(exps, 1):
                got = res.get(seq, [])
                what = "c%d cmd %d (%s)" % (c, seq, e["tok"])
                if len(got) != 1:
                    self.violation("%s: %d results, 1 expected" % (what, len(got)))
                    if not got:
                        failed += 1
                        continue
                r = got[0]
                if not (r["status"] == "exited" and r["exitval"] == 0):
                    failed += 1
                self.check_one(what, spec, e, r, markers[e["tok"]], losses)
            rc = spec["proc"].rc
            want = failed if failed <= 100 else 101
            if rc != want:
                self.violation("c%d exited %s, %d expected (its failed commands); stderr: %s" % (
                    c, rc, want, open(os.path.join(spec["dir"], "stderr"), errors="replace").read()[-300:]))
            extra = set(res) - set(range(1, len(exps) + 1))
            if extra:
                self.violation("c%d: results for unknown seqs %s" % (c, sorted(extra)[:5]))
            if spec["mode"] == "keepq":
                want_out = b"".join(e["stdout"] for seq, e in enumerate(exps, 1)
                                    if res.get(seq) and res[seq][0]["status"] in RAN)
                with open(os.path.join(spec["dir"], "stdout"), "rb") as f:
                    got_out = f.read()
                if got_out != want_out:
                    self.violation("c%d (-k -q): stdout differs from the commands' outputs in order: %d bytes, %d expected, first difference at %d" % (
                        c, len(got_out), len(want_out), next((i for i, (a, b) in enumerate(zip(got_out, want_out)) if a != b), min(len(got_out), len(want_out)))))

        if self.cache_hits:
            self.notes.append("%d results came from the cache" % self.cache_hits)

    def check_one(self, what, spec, e, r, count, losses):
        st = r["status"]
        if r.get("cached"):
            self.cache_hits += 1
            if not (spec.get("cache") and e.get("pure")):
                self.violation("%s: a cached result for a command %s" % (
                    what, "of a batch without --cache" if not spec.get("cache") else "with side effects (run once before?)"))
        if st not in RAN:
            msg = "%s: not run (%s: %s)" % (what, st, (r["raw"].get("message") or "")[:120])
            if len(losses) >= RETRIES:  # a round has at most 3 faults: should not happen
                self.notes.append(msg + " after %d slave losses" % len(losses))
            else:
                self.violation(msg)
            if count > 1:
                self.violation("%s: not run, yet its marker shows %d runs" % (what, count))
            return
        want_st = e["status"]
        if want_st == "timed_out" and spec["mode"] != "json":
            want_st = "signaled"  # the joblog shows a timeout as its signal (15: TERM)
        if (st, r["exitval"], r["signal"]) != (want_st, e["exitval"], e["signal"]):
            self.violation("%s: status %s exitval %s signal %s, expected %s %s %s" % (
                what, st, r["exitval"], r["signal"], want_st, e["exitval"], e["signal"]))
        for k in ("stdout", "stderr"):
            if r[k] is not None and r[k] != e[k]:
                self.violation("%s: %s differs: %d bytes %r..., expected %d bytes %r..." % (
                    what, k, len(r[k]), r[k][:40], len(e[k]), e[k][:40]))
            if r[k] is None and spec["mode"] == "results" and e[k]:
                self.violation("%s: no results file for %s" % (what, k))
        for k in ("trunc_out", "trunc_err"):
            if r[k] is not None and bool(r[k]) != e[k]:
                self.violation("%s: %s is %s, expected %s" % (what, k, r[k], e[k]))
        want_count = 1 if e["marker"] else 0
        if count < want_count:
            self.violation("%s: reported as run but its marker is missing" % what)
        elif count > want_count:
            if rerun_acknowledged(r) and count - 1 <= max(1, len(losses)):  # each loss may cost a run
                self.notes.append("%s ran %s, and its result says it may have run twice" % (
                    what, "twice" if count == 2 else "%d times after %d slave losses" % (count, len(losses))))
            else:
                why = ("a slave was lost in this round, but the result does not say it may have run twice"
                       if losses else "no slave was lost")
                self.violation("%s: ran %d times (%s)" % (what, count, why))


def rerun_acknowledged(r):
    """Whether a result says its command may have run more than once: the
    one place to teach about the mark (a JSON field such as
    "may_have_run_twice": true, or "attempts" > 1)."""
    raw = r.get("raw") or {}
    if raw.get("may_have_run_twice"):
        return True
    try:
        return int(raw.get("attempts") or 1) > 1
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- main

class Harness:
    def __init__(self, a):
        self.seed, self.bin, self.mem_mib, self.big_mib = a.seed, os.path.abspath(a.bin), a.mem_mib, a.big_mib
        self.faults = set({"all": ALL_FAULTS, "default": DEFAULT_FAULTS}.get(a.faults) or a.faults.split(","))
        bad = self.faults - set(ALL_FAULTS)
        if bad:
            sys.exit("soak.py: unknown --faults %s (known: %s)" % (",".join(sorted(bad)), ",".join(ALL_FAULTS)))
        self.scale = a.time_scale or (3.0 if "asan" in os.path.abspath(a.bin) else 1.0)
        self.run_id = "soak%d.%d" % (os.getpid(), int(time.time()))
        self.dir = tempfile.mkdtemp(prefix="smp-soak.")
        self.hwm = {}


def main():
    ap = argparse.ArgumentParser(description="Randomized soak of client, serveur_maitre and serveur_esclave (TAP).")
    ap.add_argument("--seed", type=int, default=None, help="default: random (printed first)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds to run (default: 5, or as many as --seconds allow)")
    ap.add_argument("--seconds", type=float, default=None, help="start no round after this many seconds")
    ap.add_argument("--only-round", default=None, help="replay these rounds of the seed (R or R1,R2,...)")
    ap.add_argument("--bin", default=os.environ.get("SMP_BIN") or TOP, help="where the programs are (default $SMP_BIN or the repository)")
    ap.add_argument("--faults", default="default", help="comma-separated kinds to use, or 'all' (the default): " +
                    ",".join(ALL_FAULTS))
    ap.add_argument("--big-mib", type=int, default=16, help="output bytes a round's commands may print, in MiB (16)")
    ap.add_argument("--mem-mib", type=int, default=160, help="VmHWM bound for master and slaves (x3 under ASan)")
    ap.add_argument("--time-scale", type=float, default=None, help="multiply deadlines (default 1, 3 for an asan build)")
    ap.add_argument("--list", action="store_true", help="print the rounds' plans, run nothing")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every round's events")
    ap.add_argument("--keep", action="store_true", help="keep the logs even when every round passes")
    a = ap.parse_args()

    def on_term(signum, frame):  # prove or timeout stopping us: clean up as for Ctrl-C
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    print("# seed %d" % a.seed, flush=True)
    for path in [os.path.join(a.bin, p) for p in ("client", "serveur_maitre", "serveur_esclave")] + \
            [os.path.join(tools_dir(a.bin), "udp_chaos")]:
        if not os.access(path, os.X_OK):
            print("Bail out! %s is missing: run 'make check-programs'" % path)
            return 1
    h = Harness(a)
    rounds = [int(x) for x in a.only_round.split(",")] if a.only_round else None
    limit = a.rounds if a.rounds is not None else (None if a.seconds is not None else 5)
    start = mono()
    n, failed, number = 0, [], 0
    durations = []
    current = None
    try:
        while True:
            if rounds is not None:
                if n == len(rounds):
                    break
                number = rounds[n]
            else:
                number += 1
                if limit is not None and number > limit:
                    break
                if a.seconds is not None and mono() - start >= a.seconds:
                    break
            n += 1
            r = current = Round(h, number)
            if a.list:
                r.plan()
                print("# round %d: %s" % (number, r.describe()))
                continue
            t = mono()
            try:
                r.run()
            except RuntimeError as e:
                r.violation("setup: %s" % e)
            finally:
                r.kill_all()
            durations.append(mono() - t)
            desc = r.describe()
            if r.violations:
                print("not ok %d - round %d (%.1fs): %s" % (n, number, durations[-1], desc))
                sys.stdout.flush()
                # on stderr, so that prove shows it
                out = sys.stderr
                print("# seed %d, round %d: %s" % (a.seed, number, desc), file=out)
                for v in r.violations:
                    print("#   VIOLATION: %s" % v, file=out)
                for v in r.notes:
                    print("#   note: %s" % v, file=out)
                print("#   events:", file=out)
                for ev in r.events_log:
                    print("#     %s" % ev, file=out)
                print("#   logs: %s ; replay: tests/soak.py --seed %d --only-round %d --bin %s%s --keep -v" % (
                    r.dir, a.seed, number, h.bin, "" if a.faults == "default" else " --faults " + a.faults), file=out)
                out.flush()
                failed.append(number)
            else:
                print("ok %d - round %d (%.1fs): %s" % (n, number, durations[-1], desc))
                for v in r.notes:
                    print("#   note: %s" % v)
                if a.verbose:
                    for ev in r.events_log:
                        print("#     %s" % ev)
                if not a.keep:
                    shutil.rmtree(r.dir, ignore_errors=True)
            sys.stdout.flush()
            current = None
    except KeyboardInterrupt:
        print("# interrupted in round %d; seed %d; logs in %s" % (number, a.seed, h.dir))
        if current is not None:
            current.kill_all()
        return 130
    if a.list:
        shutil.rmtree(h.dir, ignore_errors=True)
        return 0
    print("1..%d" % n)
    print("# %d rounds in %.0fs (longest %.1fs); peak VmHWM master %s KiB, slaves %s KiB" % (
        n, mono() - start, max(durations or [0]), h.hwm.get("m"), h.hwm.get("s")))
    if failed:
        print("# FAILED rounds %s of seed %d; logs in %s" % (" ".join(map(str, failed)), a.seed, h.dir), file=sys.stderr)
        return 1
    if not a.keep:
        shutil.rmtree(h.dir, ignore_errors=True)
    else:
        print("# logs kept in %s" % h.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
