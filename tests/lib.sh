# tests/lib.sh - shared by the black-box tests (sourced, bash).
#
# Starts the real programs on loopback with port 0 (the kernel picks a free
# port), waits for their "listening on" line instead of sleeping, and kills
# every process it started, by PID, when the test exits. TAP output.
# bench/run.sh sources it too, for its process helpers (it replaces
# cleanup and bail, and prints no TAP).

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A test that names other machines (DNS lookups, a remote slave) sets
# PRIVATE_NETNS=1 before sourcing this file: it then runs in a network
# namespace of its own with only loopback up, so nothing it does can send
# a packet off this machine.
if [ "${PRIVATE_NETNS:-}" = 1 ] && [ -z "${SMP_IN_NETNS:-}" ]; then
    if unshare -n true 2>/dev/null; then
        ns="unshare -n"
    elif unshare -rn true 2>/dev/null; then
        ns="unshare -rn"
    else
        echo "1..0 # SKIP needs a private network namespace: run as root, or enable user namespaces (util-linux unshare, iproute2 ip)"
        exit 0
    fi
    SMP_IN_NETNS=1 exec $ns -- bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

# Tests can run other builds (sanitizers, valgrind) of the same programs.
BIN=${SMP_BIN:-$TOP}
# The test programs (udp_chaos, the fuzz replays) are built beside the
# objects: build/tests for the default build, $SMP_BIN/tests for another.
if [ -d "$BIN/build/tests" ]; then TOOLS=$BIN/build/tests; else TOOLS=$BIN/tests; fi
T=$(mktemp -d /tmp/smp-test.XXXXXX)
REPORTS=$T/reports # sanitizer and valgrind reports, checked at the end
mkdir -p "$REPORTS"
# A master's default state dir is under $XDG_STATE_HOME: the test's own,
# removed with it (never the user's $HOME).
export XDG_STATE_HOME=$T/state
WRAP=${SMP_WRAP:-} # e.g. "valgrind -q"
case "$WRAP" in valgrind*) WRAP="$WRAP --log-file=$REPORTS/valgrind.%p" ;; esac
export ASAN_OPTIONS="log_path=$REPORTS/asan:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="log_path=$REPORTS/ubsan:print_stacktrace=1:${UBSAN_OPTIONS:-}"
# A command prefix for the programs started here, e.g. "ip netns exec NS"
# (it must exec the program, so that PIDs stay the programs' own).
SMP_PREFIX=${SMP_PREFIX:-}
# Which build of the programs the helpers below start: PROG_RUNNER PROG_DIR
# PROG_EXT, e.g. "PROG_RUNNER=wine PROG_DIR=$TOP PROG_EXT=.exe start_slave w1"
# for the Windows one (tests/windows/windows.t); START_WAIT: seconds to wait
# for a program's "listening on" line.
PROG_RUNNER=${PROG_RUNNER:-} PROG_DIR=${PROG_DIR:-$BIN} PROG_EXT=${PROG_EXT:-} START_WAIT=${START_WAIT:-20}
prog() { echo "$PROG_DIR/$1$PROG_EXT"; }
PIDS=()
_tap_n=0
_tap_failed=0

# use_syncgate: the master's fdatasync calls held at a gate the test
# opens one call at a time (tests/syncgate.c, an LD_PRELOAD library; see
# tests/early.t): GATE_LIB, the gate directory G, gate_wait N [SECONDS]
# (call N is at the gate), gate_reset (every call passes again, counts
# start anew for the next master). SKIPs the test without the library.
use_syncgate() {
    GATE_LIB=$TOOLS/syncgate.so
    [ -f "$GATE_LIB" ] || skip_all "needs $GATE_LIB (make check-programs)"
    G=$T/gate
    mkdir -p "$G"
    export ASAN_OPTIONS="verify_asan_link_order=0:$ASAN_OPTIONS" # the gate comes first in the sanitizer build
}
gate_wait() { wait_for_line "$G/entered-$1" '^-?[0-9]+$' "${2:-10}" >/dev/null; }
gate_reset() { rm -f "$G/closed" "$G"/entered-* "$G"/pass-*; }

# gated_master NAME STATE [options]: a master whose fdatasync calls go
# through the gate, on $PORT (empty: a free one; set to its port after),
# with slaves.conf $T/slaves.conf and state dir STATE.
gated_master() {
    local name=$1 st=$2; shift 2
    MASTER_ON_PORT=$PORT LD_PRELOAD=$GATE_LIB SYNCGATE_DIR=$G start_master "$name" "$T/slaves.conf" \
        --state-dir "$st" --client-grace 60 "$@"
    PORT=$MASTER_PORT
    wait_slaves_up "$name" 1 || bail "slave not up"
}
# todo_is GOT EXPECTED DESCRIPTION REASON: an assertion for a known defect
# left open (TAP "# TODO": reported, not counted as a failure).
todo_is() {
    _tap_n=$((_tap_n + 1))
    if [ "$1" = "$2" ]; then echo "ok $_tap_n - $3 # TODO $4"; else echo "not ok $_tap_n - $3 # TODO $4"; echo "#   got: '$1' expected: '$2'" >&2; fi
}

# Stops every process the test started, by PID: TERM, then KILL.
stop_all() {
    local p
    { # bash's "Killed" job notices are noise here, not failures
        for p in "${PIDS[@]}"; do kill -TERM "$p"; done
        for p in "${PIDS[@]}"; do
            for _ in $(seq 1 100); do kill -0 "$p" || break; sleep 0.1; done
            kill -KILL "$p"
            wait "$p"
        done
    } 2>/dev/null
    PIDS=()
}

cleanup() {
    stop_all
    if [ "${KEEP_TMP:-}" = 1 ] || [ "$_tap_failed" != 0 ]; then
        echo "# logs kept in $T" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT

ok() { # ok CONDITION-STATUS DESCRIPTION
    _tap_n=$((_tap_n + 1))
    if [ "$1" = 0 ]; then echo "ok $_tap_n - $2"; else echo "not ok $_tap_n - $2"; _tap_failed=$((_tap_failed + 1)); fi
}
check() { # check DESCRIPTION COMMAND...: passes if the command succeeds
    local d=$1; shift
    if "$@"; then ok 0 "$d"; else ok 1 "$d"; fi
}
is() { # is GOT EXPECTED DESCRIPTION
    if [ "$1" = "$2" ]; then ok 0 "$3"; else ok 1 "$3"; echo "#   got:      '$1'" >&2; echo "#   expected: '$2'" >&2; fi
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
bail() { echo "Bail out! $1"; exit 1; }

# wait_for_line FILE REGEX [SECONDS]: prints the first matching line.
wait_for_line() {
    local f=$1 re=$2 limit=${3:-10} i
    for i in $(seq 1 $((limit * 20))); do
        if [ -f "$f" ] && grep -Eq "$re" "$f"; then grep -Em1 "$re" "$f"; return 0; fi
        sleep 0.05
    done
    return 1
}

# start_slave NAME [options...]: starts a slave on a free port (or on
# $SLAVE_ON_PORT); sets SLAVE_PORT and SLAVE_PID; its log is $T/NAME.log
# (appended to), its cwd $T/NAME.
start_slave() {
    local name=$1; shift
    mkdir -p "$T/$name"
    : >"$T/$name.log"
    (cd "$T/$name" && exec $SMP_PREFIX $WRAP $PROG_RUNNER "$(prog serveur_esclave)" "$@" "${SLAVE_ON_PORT:-0}") >"$T/$name.log" 2>&1 &
    SLAVE_PID=$!
    PIDS+=("$SLAVE_PID")
    local line
    line=$(wait_for_line "$T/$name.log" 'listening on UDP' "$START_WAIT") || bail "slave $name did not start: $(cat "$T/$name.log")"
    SLAVE_PORT=$(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')
}

# start_master NAME CONF [options...]: on a free port (or $MASTER_ON_PORT);
# sets MASTER_PORT and MASTER_PID.
start_master() {
    local name=$1 conf=$2; shift 2
    $SMP_PREFIX $WRAP $PROG_RUNNER "$(prog serveur_maitre)" "$@" "${MASTER_ON_PORT:-0}" "$conf" >"$T/$name.log" 2>&1 &
    MASTER_PID=$!
    PIDS+=("$MASTER_PID")
    local line
    line=$(wait_for_line "$T/$name.log" 'listening on TCP' "$START_WAIT") || bail "master $name did not start: $(cat "$T/$name.log")"
    MASTER_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
}

# http_port MASTER_NAME: the port of that master's --http (HTTP_PORT, HTTP_URL).
http_port() {
    local line
    line=$(wait_for_line "$T/$1.log" 'monitoring on http://' "$START_WAIT") || bail "no --http line: $(cat "$T/$1.log")"
    HTTP_URL=$(echo "$line" | sed -E 's,.*monitoring on (http://[^ ]*/).*,\1,')
    HTTP_PORT=$(echo "$HTTP_URL" | sed -E 's,.*:([0-9]+)/$,\1,')
}

# http_cluster N [master options...]: N slaves of 2 slots ($T/slaves.conf,
# NAMES their names), a master with --http 127.0.0.1:0 (HTTP_URL,
# HTTP_PORT) that has heard from all of them.
http_cluster() {
    local n=$1 i; shift
    : >"$T/slaves.conf"
    NAMES=()
    for i in $(seq 1 "$n"); do
        start_slave "s$i" -j 2
        echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
        NAMES+=("127.0.0.1:$SLAVE_PORT")
    done
    start_master master "$T/slaves.conf" --http 127.0.0.1:0 "$@"
    http_port master
    wait_slaves_up master "$n" || bail "slaves not seen by the master"
}

# wait_slaves_up MASTER_LOG N: the master has heard from N slaves.
wait_slaves_up() {
    local i
    for i in $(seq 1 200); do
        [ "$(grep -c 'is up with' "$T/$1.log")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# cluster N [slave options...]: N slaves and a master; writes $T/slaves.conf.
cluster() {
    local n=$1 i; shift
    : >"$T/slaves.conf"
    SLAVE_PIDS=()
    SLAVE_PORTS=()
    for i in $(seq 1 "$n"); do
        start_slave "s$i" "$@"
        SLAVE_PIDS+=("$SLAVE_PID")
        SLAVE_PORTS+=("$SLAVE_PORT")
        echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
    done
    start_master master "$T/slaves.conf"
    wait_slaves_up master "$n" || bail "slaves not seen by the master"
}

# run_client [client options and file]: exit status in RC, output in
# $T/out and $T/err. Stops by itself after 120 s.
run_client() {
    RC=0
    timeout 120 $WRAP $PROG_RUNNER "$(prog client)" 127.0.0.1 "$MASTER_PORT" "$@" >"$T/out" 2>"$T/err" || RC=$?
}

# served_meanwhile WHAT LIMIT_MS: while something holds the master up, a
# one-command client is still served, within LIMIT_MS (two checks).
served_meanwhile() {
    local what=$1 limit=$2 start took
    echo 'echo meanwhile' >"$T/meanwhile.txt"
    start=$(date +%s%N)
    run_client -q "$T/meanwhile.txt"
    took=$(( ($(date +%s%N) - start) / 1000000 ))
    is "$RC/$(cat "$T/out")" "0/meanwhile" "another client is served while $what"
    check "within $limit ms ($took ms)" test "$took" -lt "$limit"
}

# Commands that prove "ran exactly once": each appends a line to a marker
# file of its own and prints a known output.
# marker_cmds N DIR: writes DIR/cmds, N such commands, markers in DIR/markers.
marker_cmds() {
    local n
    mkdir -p "$2/markers"
    for n in $(seq 1 "$1"); do echo "echo x >> $2/markers/$n; echo out-$n"; done >"$2/cmds"
}

# check_markers LABEL N DIR: after a client run of DIR/cmds with
# --joblog DIR/joblog --results DIR/res: N jobs, one per sequence number,
# all exit 0; every command ran exactly once; every stdout is right.
check_markers() {
    local label=$1 total=$2 dir=$3 n twice=0 missing=0 wrong=0
    is "$(tail -n +2 "$dir/joblog" | wc -l)" "$total" "$label: joblog has $total jobs"
    is "$(tail -n +2 "$dir/joblog" | cut -f1 | sort -n | uniq | wc -l)" "$total" "$label: one job per sequence number"
    is "$(tail -n +2 "$dir/joblog" | awk -F'\t' '$7 != 0' | wc -l)" 0 "$label: every exit value is 0"
    for n in $(seq 1 "$total"); do
        if [ ! -f "$dir/markers/$n" ]; then
            missing=$((missing + 1))
        elif [ "$(wc -l <"$dir/markers/$n")" != 1 ]; then
            twice=$((twice + 1))
            echo "# $label: command $n ran $(wc -l <"$dir/markers/$n") times" >&2
        fi
        [ "$(cat "$dir/res/$n/stdout" 2>/dev/null)" = "out-$n" ] || wrong=$((wrong + 1))
    done
    is "$missing" 0 "$label: every command ran (a marker file for each)"
    is "$twice" 0 "$label: no command ran twice (every marker holds one line)"
    is "$wrong" 0 "$label: every result's stdout is right"
}

# start_chaos NAME TARGET_PORT [udp_chaos options...]: a proxy on a free
# port in front of 127.0.0.1:TARGET_PORT; sets CHAOS_PORT and CHAOS_PID.
start_chaos() {
    local name=$1 target=$2; shift 2
    "$TOOLS/udp_chaos" "$@" 0 127.0.0.1 "$target" >"$T/$name.log" 2>&1 &
    CHAOS_PID=$!
    PIDS+=("$CHAOS_PID")
    local line
    line=$(wait_for_line "$T/$name.log" 'listening on UDP' 10) || bail "proxy $name did not start: $(cat "$T/$name.log")"
    CHAOS_PORT=$(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')
}

# stop_pid PID: SIGTERM, wait for it, and forget it so that cleanup does
# not signal a PID that may have been reused. Exit status in STOP_RC.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null
    STOP_RC=0
    wait "$pid" || STOP_RC=$?
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[$i]}" = "$pid" ] && unset 'PIDS[i]'
    done
    PIDS=("${PIDS[@]}")
}

# check_term_stops SLAVE_PID MASTER_PID: SIGTERM to each, then checks both
# are gone within 5 s (a daemon stuck writing would ignore it)
check_term_stops() {
    local p
    for p in "$1" "$2"; do
        kill -TERM "$p"
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    check "SIGTERM stops the slave within 5 s" sh -c "! kill -0 $1 2>/dev/null"
    check "SIGTERM stops the master within 5 s" sh -c "! kill -0 $2 2>/dev/null"
}

# A fresh secret for a key file: 32 random bytes in hex.
random_key() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
# key_file FILE LINE...: a key file of these lines (new key, then old),
# mode 600, put in place at once (whatever FILE was before).
key_file() { (umask 077; f=$1; shift; rm -rf "$f"; printf '%s\n' "$@" >"$f.tmp" && mv "$f.tmp" "$f"); }

# json_sums JSONFILE: "seq size md5 exitval" per result of a client --json
# output, by seq: compared with what running the commands here gives.
json_sums() {
    python3 - "$1" <<'PY'
import hashlib, json, sys
rows = []
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    out = o["stdout"].encode() if o.get("stdout") is not None else b""
    rows.append((o["seq"], len(out), hashlib.md5(out).hexdigest(), o["exitval"]))
for r in sorted(rows):
    print(*r)
PY
}

# capture_start NAME: tcpdump on lo into $T/NAME.pcap, packet by packet
# (CAP_PID); capture_stop: its end, and what it says it caught.
capture_start() {
    tcpdump -i lo -B 131072 --immediate-mode -U -s 0 -w "$T/$1.pcap" udp or tcp >"$T/$1.tcpdump" 2>&1 &
    CAP_PID=$! CAP_NAME=$1
    PIDS+=("$CAP_PID")
    wait_for_line "$T/$1.tcpdump" 'listening on lo' 10 >/dev/null ||
        skip_all "tcpdump cannot capture on lo here: $(head -c 300 "$T/$1.tcpdump")"
}
capture_stop() {
    kill -INT "$CAP_PID" 2>/dev/null
    wait "$CAP_PID" 2>/dev/null
    echo "# $CAP_NAME: $(grep -E 'captured|received|dropped' "$T/$CAP_NAME.tcpdump" | tr '\n' ' ')"
}

# Stops the daemons (their exit is when leak checkers report), checks
# the sanitizer and valgrind reports when asked to, and prints the plan
# last (TAP allows it), so tests need not count.
done_testing() {
    stop_all
    if [ "${SMP_CHECK_REPORTS:-}" = 1 ]; then
        local bad
        bad=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ERROR SUMMARY: [1-9]|Invalid (read|write)|definitely lost' "$REPORTS"/* 2>/dev/null)
        [ -z "$bad" ]; ok $? "no sanitizer or valgrind report from any program"
        [ -z "$bad" ] || cat $bad >&2
    fi
    echo "1..$_tap_n"
    [ "$_tap_failed" = 0 ]
}
