#!/usr/bin/env bash
# How a slave runs a command: the run time it reports includes starting
# the shell.
. "$(dirname "$0")/lib.sh"

# On one CPU, a command's shell often runs to its end before the slave
# gets the CPU back from vfork: that is when a clock started after vfork
# showed 20 us for a command (1 time in 4 here).
command -v taskset >/dev/null && SMP_PREFIX="taskset -c 0 $SMP_PREFIX"
cluster 1 -j 2

# Durations. Starting /bin/sh costs about 0.5 ms here (vfork+exec+exit,
# measured with a small C program: 535 us at the least); the slave used to
# start its clock after vfork returned, i.e. after the exec, and reported
# 20-30 us for a 'true' that had run entirely in between.
{ for _ in $(seq 1 100); do echo true; done; echo 'sleep 0.3'; } >"$T/dur.txt"
run_client --json "$T/dur.txt"
is "$RC" 0 "durations: the commands succeed"
python3 - "$T/out" >"$T/dur" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = [r["runtime"] for r in rows if r["command"] == "true"]
s = [r["runtime"] for r in rows if r["command"] == "sleep 0.3"]
print(len(t), "%.6f" % min(t), "%.6f" % max(t), len(s), "%.6f" % s[0])
PY
read -r nt tmin tmax ns tsleep <"$T/dur"
echo "# 'true' reported as $tmin-$tmax s, 'sleep 0.3' as $tsleep s"
is "$nt/$ns" 100/1 "durations: every result is there"
check "'true' is reported as at least 100 us, the cost of starting a shell (least: $tmin s)" \
    awk -v t="$tmin" 'BEGIN { exit !(t >= 0.0001) }'
check "'true' is reported as less than 1 s (most: $tmax s)" awk -v t="$tmax" 'BEGIN { exit !(t < 1) }'
check "'sleep 0.3' is reported as 0.3 to 1.5 s ($tsleep s)" awk -v t="$tsleep" 'BEGIN { exit !(t >= 0.3 && t < 1.5) }'

done_testing
