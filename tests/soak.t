#!/usr/bin/env bash
# soak.t - a short, seeded run of the randomized soak (tests/soak.py):
# random command files, client behaviours and faults (slave kill -9 and
# restart, SIGSTOP, SIGHUP remove/re-add, chaos proxy, clock steps, master
# kill -9 and restart on its port and state dir), each
# round checked byte for byte, for double runs, hangs, memory, leftovers
# and sanitizer reports. Fixed seeds, about a minute on 2 cores;
# `make soak` runs the long, random-seeded version. SOAK_T_SEED, SOAK_T_ROUNDS
# and SOAK_T_SECONDS change this run (not make soak's SOAK_* variables).
TOP=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { echo "1..0 # SKIP soak.t needs python3 (apt-get install python3)"; exit 0; }
exec python3 "$TOP/tests/soak.py" --bin "${SMP_BIN:-$TOP}" --seed "${SOAK_T_SEED:-20261205}" \
    --rounds "${SOAK_T_ROUNDS:-5}" --seconds "${SOAK_T_SECONDS:-60}"
