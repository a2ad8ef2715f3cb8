#!/usr/bin/env bash
# journal.t - the master killed with -9 mid-batch, then its journal cut at
# a random byte, or a random byte of it changed, before it starts again
# (tests/crash.py --damage): it starts, says what it found, serves a new
# client; every result the first client prints is right, and no command
# runs twice (side-effect markers). Seeded: CRASH_T_SEED.
TOP=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { echo "1..0 # SKIP journal.t needs python3 (apt-get install python3)"; exit 0; }
seed=${CRASH_T_SEED:-20261201}
echo "1..2"
for how in truncate flip; do
    out=$(python3 "$TOP/tests/crash.py" --bin "${SMP_BIN:-$TOP}" --damage "$how" --commands 60 --seed "$seed" --runs 6 2>&1)
    rc=$?
    echo "$out" | sed 's/^/# /'
    if [ $rc = 0 ]; then echo "ok - 6 runs, the journal damaged ($how) before each restart"; else echo "not ok - 6 runs, the journal damaged ($how)"; fi
done
