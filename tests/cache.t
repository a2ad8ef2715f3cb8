#!/usr/bin/env bash
# The result cache (issue 15, part 3): client --cache, the master's
# --cache-age and --cache-size. A command that succeeded before on this
# master, with the same line, --wd and --env, gets its stored result back
# without running (each command here appends a line to a file of its own:
# the line count is the number of runs), marked cached in the status line,
# --json and the joblog; what is not cached (another line, --wd or --env, a
# failure, a run without --cache, an expired entry) runs; the entries
# survive a restart of the master (JR_CACHE records); bad values are
# refused with exit status 2 (the master) or 255 (the client's usage error).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/place/sub" "$T/runs"
start_slave s1 -j 4 --chdir "$T/place"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"
start_master master "$T/slaves.conf" --state-dir "$T/state"
wait_slaves_up master 1 || bail "slave not up"
runs() { cat "$T/runs/$1" 2>/dev/null | wc -l; }

# 1. A hit: the same bytes, marked, and it did not run again.
echo "echo run >> $T/runs/a; date +%s%N; echo \$RANDOM \$RANDOM" >"$T/a.txt"
run_client --cache "$T/a.txt"
first=$(cat "$T/out")
is "$RC/$(runs a)" "0/1" "first --cache run: exit 0, it ran once"
check "its status line is the usual one (not cached)" grep -q "^==> \[1\] .* -- on 127.0.0.1:$SLAVE_PORT, " "$T/err"
run_client --cache "$T/a.txt"
is "$RC/$(runs a)" "0/1" "second --cache run: exit 0, and it did not run (still one line)"
is "$(cat "$T/out")" "$first" "the same bytes (a time in ns and two \$RANDOM)"
check "its status line says cached, and where it ran" grep -q "^==> \[1\] .* -- cached (ran on 127.0.0.1:$SLAVE_PORT, " "$T/err"
check "the master's console says it" grep -q "^\[1\] client .*: cached (ran on 127.0.0.1:$SLAVE_PORT)" "$T/master.log"
run_client --cache --json "$T/a.txt"
check "--json: \"cached\":true" grep -q '"cached":true' "$T/out"
check "--json: the stored run's host" grep -q "\"host\":\"127.0.0.1:$SLAVE_PORT\"" "$T/out"
run_client --cache --joblog "$T/jl" "$T/a.txt"
is "$(tail -n +2 "$T/jl" | cut -f2,4,7)" "$(printf 'cache\t0.000\t0')" "joblog: Host 'cache', JobRuntime 0, Exitval 0"
is "$(head -1 "$T/jl" | tr '\t' ' ')" "Seq Host Starttime JobRuntime Send Receive Exitval Signal Command" \
    "joblog: GNU parallel's header, as without --cache"
is "$(runs a)" 1 "after four runs, one run"

# 2. Without --cache: nothing looked up, nothing stored.
run_client "$T/a.txt"
is "$RC/$(runs a)" "0/2" "without --cache it runs (the cached entry is not used)"
echo "echo run >> $T/runs/b; echo b" >"$T/b.txt"
run_client "$T/b.txt"
run_client --cache "$T/b.txt"
is "$(runs b)" 2 "a result made without --cache is not stored: a --cache run after it runs"
check "... and its status line is not cached" sh -c "! grep -q cached '$T/err'"

# 3. Misses: another line, another --wd, another --env value.
echo "echo run >> $T/runs/a; date +%s%N; echo \$RANDOM \$RANDOM " >"$T/a2.txt" # a trailing space
run_client --cache "$T/a2.txt"
is "$(runs a)" 3 "another command line (one byte more) runs"
echo "echo run >> $T/runs/w; pwd" >"$T/w.txt"
run_client --cache "$T/w.txt"
run_client --cache --wd sub "$T/w.txt"
is "$(runs w)/$(cat "$T/out")" "2/$T/place/sub" "another --wd runs, in its directory"
run_client --cache --wd sub "$T/w.txt"
is "$(runs w)/$(cat "$T/out")" "2/$T/place/sub" "the same --wd again: cached, its own output"
echo "echo run >> $T/runs/e; echo \$ZC" >"$T/e.txt"
ZC=one run_client --cache --env ZC "$T/e.txt"
ZC=two run_client --cache --env ZC "$T/e.txt"
is "$(runs e)/$(cat "$T/out")" "2/two" "another --env value runs"
ZC=one run_client --cache --env ZC "$T/e.txt"
is "$(runs e)/$(cat "$T/out")" "2/one" "the first --env value again: cached, its output"
run_client --cache "$T/e.txt"
is "$(runs e)" 3 "without the --env: runs"

# 4. A failing command is never cached; nor is a killed one.
echo "echo run >> $T/runs/f; echo out; exit 3" >"$T/f.txt"
run_client --cache "$T/f.txt"
run_client --cache "$T/f.txt"
is "$RC/$(runs f)" "1/2" "a command that exits 3 runs each time (exit status 1: one failed)"
echo "echo run >> $T/runs/k; kill -9 \$\$" >"$T/k.txt"
run_client --cache "$T/k.txt"
run_client --cache "$T/k.txt"
is "$(runs k)" 2 "a command killed by a signal runs each time"
echo "echo run >> $T/runs/t; sleep 5" >"$T/t.txt"
run_client --cache --timeout 0.3 "$T/t.txt"
run_client --cache --timeout 0.3 "$T/t.txt"
is "$(runs t)" 2 "a command that timed out runs each time"

# 5. A stored run longer than this batch's --timeout is not a hit (it
# would have been killed): it runs, and times out.
echo "echo run >> $T/runs/s; sleep 0.4; echo slow" >"$T/s.txt"
run_client --cache "$T/s.txt"
run_client --cache --timeout 0.2 "$T/s.txt"
is "$(runs s)/$RC" "2/1" "a stored 0.4 s run and --timeout 0.2: not from the cache, it runs and times out"
run_client --cache --timeout 5 "$T/s.txt"
is "$(runs s)/$RC/$(cat "$T/out")" "2/0/slow" "with --timeout 5: from the cache"

# 6. MiB of output: cached and returned byte-exact; an output the slave
# truncated (its 4 MiB cap) is not cached.
echo "echo run >> $T/runs/big; head -c 800000 /dev/urandom | od -An -tx1 -v" >"$T/big.txt"
run_client -q --cache "$T/big.txt"
cp "$T/out" "$T/big.1"
run_client -q --cache "$T/big.txt"
is "$(runs big)" 1 "a 2.4 MB output: the second run comes from the cache"
check "byte for byte the same ($(wc -c <"$T/big.1") bytes)" cmp -s "$T/out" "$T/big.1"
echo "echo run >> $T/runs/trunc; head -c 5000000 /dev/zero" >"$T/trunc.txt"
run_client -q --cache "$T/trunc.txt"
run_client -q --cache "$T/trunc.txt"
is "$(runs trunc)" 2 "an output truncated by the slave's cap is not cached: it runs each time"

# 7. The entries survive a restart of the master (killed -9: the records
# are written each turn), and --dump-journal shows them.
check "the journal has cache records" sh -c "'$(prog serveur_maitre)' --dump-journal '$T/state' 2>/dev/null |
    grep '\"type\":\"cache\"' | grep -q '\"key\":\"[0-9a-f]\{64\}\"'"
port=$MASTER_PORT
{ kill -KILL "$MASTER_PID"; wait "$MASTER_PID"; } 2>/dev/null
MASTER_ON_PORT=$port start_master m2 "$T/slaves.conf" --state-dir "$T/state"
wait_slaves_up m2 1 || bail "slave not up after the restart"
run_client --cache "$T/a.txt"
is "$(runs a)/$(cat "$T/out")" "3/$first" "after a restart: still from the cache, the same bytes"
check "... marked cached" grep -q -- "-- cached (ran on" "$T/err"
run_client -q --cache "$T/big.txt"
check "the 2.4 MB entry too, byte-exact" cmp -s "$T/out" "$T/big.1"
is "$(runs big)" 1 "... and it did not run"

# 8. A restart with --cache-age 0: the cache is off, the client told so.
stop_pid "$MASTER_PID"
MASTER_ON_PORT=$port start_master m3 "$T/slaves.conf" --state-dir "$T/state" --cache-age 0
wait_slaves_up m3 1 || bail "slave not up"
run_client --cache "$T/a.txt"
is "$(runs a)" 4 "--cache-age 0: no cache, it runs"
check "the client is told the master's cache is off" grep -q "cache is off" "$T/err"

# 9. Age expiry: --cache-age 1s.
stop_pid "$MASTER_PID"
MASTER_ON_PORT=$port start_master m4 "$T/slaves.conf" --state-dir "$T/state" --cache-age 1s
wait_slaves_up m4 1 || bail "slave not up"
echo "echo run >> $T/runs/x; echo x" >"$T/x.txt"
run_client --cache "$T/x.txt"
run_client --cache "$T/x.txt"
is "$(runs x)" 1 "--cache-age 1s: at once, from the cache"
t0=$(date +%s%N)
for _ in $(seq 1 60); do [ $(( ($(date +%s%N) - t0) / 1000000 )) -ge 1100 ] && break; sleep 0.05; done
run_client --cache "$T/x.txt"
is "$(runs x)" 2 "after 1.1 s: expired, it runs"
check "... not marked cached" sh -c "! grep -q cached '$T/err'"

# 10. --cache-size: the least recently used goes first; a result larger
# than the whole cache is not stored.
stop_pid "$MASTER_PID"
MASTER_ON_PORT=$port start_master m5 "$T/slaves.conf" --state-dir "$T/state" --cache-size 3K
wait_slaves_up m5 1 || bail "slave not up"
for n in 1 2 3; do echo "echo run >> $T/runs/l$n; head -c 1000 /dev/zero | tr '\\0' $n" >"$T/l$n.txt"; done
run_client --cache "$T/l1.txt"; run_client --cache "$T/l2.txt"
run_client --cache "$T/l1.txt" # l1 used: l2 is now the least recently used
run_client --cache "$T/l3.txt" # 3 entries of ~1 KiB do not fit in 3K: l2 goes
run_client --cache "$T/l1.txt"
run_client --cache "$T/l2.txt"
is "$(runs l1)/$(runs l2)/$(runs l3)" "1/2/1" "3K: the least recently used (l2) was evicted, l1 was kept"
run_client -q --cache "$T/big.txt"
run_client -q --cache "$T/big.txt"
is "$(runs big)" 3 "a result larger than --cache-size is not stored: it runs each time"

# 11. Bad values: a clear error, exit status 2 (master), 255 (client).
for bad in -1 1x abc 1.5.2 "" 400d; do
    "$(prog serveur_maitre)" --cache-age "$bad" --ephemeral 0 "$T/slaves.conf" >/dev/null 2>"$T/bad.err"
    rc=$?
    is "$rc" 2 "--cache-age '$bad': exit status 2"
    check "... the message names --cache-age and the value" grep -q -- "--cache-age: '$bad' is not a duration" "$T/bad.err"
done
for bad in -5 12Q huge ""; do
    "$(prog serveur_maitre)" --cache-size "$bad" --ephemeral 0 "$T/slaves.conf" >/dev/null 2>"$T/bad.err"
    is "$?" 2 "--cache-size '$bad': exit status 2"
    check "... the message names --cache-size" grep -q -- "--cache-size: '$bad' is not a size" "$T/bad.err"
done
run_client --cache --status
is "$RC" 255 "client --cache --status: a usage error (255)"
check "... saying --cache is for commands to run" grep -q -- "--cache is for commands to run" "$T/err"
run_client --cache "$T/x.txt"
is "$RC" 0 "the master still serves after all that"

# 12. Status and metrics: hits and misses counted.
stop_pid "$MASTER_PID"
MASTER_ON_PORT=$port start_master m6 "$T/slaves.conf" --state-dir "$T/state" --http 127.0.0.1:0
http_port m6
wait_slaves_up m6 1 || bail "slave not up"
echo "echo run >> $T/runs/y; echo y" >"$T/y.txt"
run_client --cache "$T/y.txt" # a miss (stored just now)
run_client --cache "$T/y.txt" # a hit
run_client --cache "$T/y.txt" # a hit
is "$(runs y)" 1 "y ran once in three"
curl -s "${HTTP_URL}metrics" >"$T/metrics"
is "$(grep '^smp_cache_hits_total ' "$T/metrics" | cut -d' ' -f2)" 2 "/metrics: smp_cache_hits_total 2"
is "$(grep '^smp_cache_misses_total ' "$T/metrics" | cut -d' ' -f2)" 1 "/metrics: smp_cache_misses_total 1"
check "/metrics: smp_cache_entries and smp_cache_bytes" grep -q '^smp_cache_entries [1-9]' "$T/metrics"
check "/metrics: smp_cache_bytes" grep -q '^smp_cache_bytes [1-9]' "$T/metrics"
curl -s "${HTTP_URL}status.json" >"$T/status.json"
check "/status.json: the cache's figures" grep -q '"cache":{"hits":2,"misses":1,"entries":[1-9][0-9]*,"bytes":[1-9][0-9]*,"max_bytes":67108864,"age_s":3600.000}' "$T/status.json"
run_client --status --json
check "client --status --json: the same figures" grep -q '"cache":{"hits":2,"misses":1,' "$T/out"

# 13. Older programs (SMP_OLD=dir: a build of an earlier commit, as
# tests/compat/compat.t takes it). An older client following a --cache
# batch (--attach) reads its cached results: the master leaves the mark
# out for a HELLO without FRAME_FLAG_CACHED. An older master refuses
# OPTION_CACHE: the client says what to do.
if [ -n "${SMP_OLD:-}" ] && [ -x "$SMP_OLD/client" ]; then
    run_client --cache --detach "$T/y.txt"
    id=$(cat "$T/out")
    is "$RC/$(runs y)" "0/1" "a --cache batch detached (y from the cache)"
    RC=0
    timeout 60 "$SMP_OLD/client" 127.0.0.1 "$MASTER_PORT" --attach "$id" >"$T/out" 2>"$T/err" || RC=$?
    cp "$T/err" "$T/err.old"
    is "$RC/$(cat "$T/out")" "0/y" "an older client --attach reads the cached result (exit 0, its output)"
    check "... shown as an ordinary result (no mark it would refuse)" grep -q -- "-- on 127.0.0.1:$SLAVE_PORT" "$T/err"
    run_client --attach "$id"
    check "this client --attach shows it cached" grep -q -- "-- cached (ran on" "$T/err"
    stop_pid "$MASTER_PID"
    PROG_DIR=$SMP_OLD start_master old "$T/slaves.conf" --ephemeral
    wait_slaves_up old 1 || bail "slave not up for the older master"
    run_client --cache "$T/y.txt"
    is "$RC" 255 "--cache with an older master: exit status 255"
    check "... saying the master is older than --cache" grep -q "this master is older than --cache" "$T/err"
    is "$(runs y)" 1 "... and nothing ran"
    run_client "$T/y.txt"
    is "$RC/$(runs y)" "0/2" "without --cache the older master runs it"
else
    echo "ok $((++_tap_n)) # SKIP SMP_OLD is not set: no older build to check with"
fi

done_testing
