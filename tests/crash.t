#!/usr/bin/env bash
# crash.t - the master killed with -9 at random moments of a 300-command
# batch, 20 runs (seeded), restarted on the same port and state dir: the
# same client process finishes with exit 0, every result byte-exact, every
# side-effect marker exactly once (tests/crash.py). Then kills during heavy
# journal writes (outputs up to 1 MiB). CRASH_T_SEED, CRASH_T_RUNS change it.
TOP=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { echo "1..0 # SKIP crash.t needs python3 (apt-get install python3)"; exit 0; }
BIN=${SMP_BIN:-$TOP}
runs=${CRASH_T_RUNS:-20}
[ -n "${SMP_BIN:-}" ] && runs=${CRASH_T_RUNS:-5} # the sanitizer builds: fewer, slower runs
python3 "$TOP/tests/crash.py" --bin "$BIN" --seed "${CRASH_T_SEED:-20261201}" --runs "$runs" || exit 1
