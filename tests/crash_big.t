#!/usr/bin/env bash
# crash_big.t - the master killed with -9 during heavy journal writes: a
# batch of 100 commands, one in ten printing 64 KiB to 1 MiB, 5 runs
# (seeded), 1 to 3 kills each (tests/crash.py --big): exit 0, every result
# byte-exact, every marker once. CRASH_T_SEED, CRASH_BIG_T_RUNS change it.
TOP=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { echo "1..0 # SKIP crash_big.t needs python3 (apt-get install python3)"; exit 0; }
python3 "$TOP/tests/crash.py" --bin "${SMP_BIN:-$TOP}" --big --commands 100 --seed "${CRASH_T_SEED:-20261201}" \
    --runs "${CRASH_BIG_T_RUNS:-5}" || exit 1
