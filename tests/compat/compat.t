#!/usr/bin/env bash
# Wire compatibility with another build (issue 9: the refactor must not
# change a byte): every mix of old and new master, slaves and client, keyed
# and unkeyed, gives the results an all-new cluster gives.
# SMP_OLD=DIR names the other build (its programs at DIR's root, e.g. a
# worktree of a0e6d20 built with make); without it the test is skipped,
# which is why it is not among tests/*.t (CI allows no SKIP there):
#   git worktree add /tmp/old a0e6d20 && make -C /tmp/old
#   SMP_OLD=/tmp/old prove tests/compat/compat.t
. "$(dirname "$0")/../lib.sh"

OLD=${SMP_OLD:-}
[ -n "$OLD" ] && [ -x "$OLD/serveur_maitre" ] || skip_all "set SMP_OLD to the directory of another build to compare with"
NEW=$PROG_DIR

(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")

# Outputs of every shape: empty, lines, no final newline, stderr, exit
# codes, a signal, binary bytes, 1 MiB on each stream, quoting.
{
    echo 'true'
    echo 'echo hello'
    echo 'printf "no newline"'
    echo 'echo to-stderr >&2; exit 3'
    echo 'kill -9 $$'
    echo 'exit 200'
    echo "printf '\\000\\001\\377binary'"
    echo 'head -c 1048576 /dev/zero | tr "\0" a'
    echo 'head -c 1048576 /dev/zero | tr "\0" b >&2'
    echo 'echo "quote '"'"'single'"'"' and \"double\" \$HOME-not"'
    for i in $(seq 1 40); do echo "echo line-$i; echo err-$i >&2"; done
    echo 'seq 1 100000'
} >"$T/cmds"

# Input the client parses: comments, blank lines, CRLF, a line too long to
# run, tabs, no newline at the end; and an empty file.
{
    printf '# a comment\n\n   \necho crlf\r\n'
    printf 'echo %s\n' "$(head -c 300000 /dev/zero | tr '\0' x)"
    printf 'printf "a\\tb"\n'
    printf 'echo last-no-newline'
} >"$T/edge"
: >"$T/empty"

# run_mix LABEL MASTER_DIR SLAVE_DIR[,SLAVE_DIR] CLIENT_DIR KEYED
run_mix() {
    local label=$1 m=$2 s=$3 c=$4 keyed=$5 i kopt=()
    [ "$keyed" = 1 ] && kopt=(--key-file "$T/key")
    : >"$T/slaves.conf"
    local sdirs=(${s/,/ } ${s/,/ }) # "A,B": one slave of each build
    for i in 1 2; do
        PROG_DIR=${sdirs[$((i - 1))]} start_slave "$label-s$i" -j 2 "${kopt[@]}"
        echo "127.0.0.1 $SLAVE_PORT" >>"$T/slaves.conf"
    done
    PROG_DIR=$m start_master "$label-m" "$T/slaves.conf" "${kopt[@]}"
    wait_slaves_up "$label-m" 2 || { ok 1 "$label: slaves up"; cat "$T/$label-m.log" >&2; stop_all; return; }
    rm -rf "$T/$label-res"
    PROG_DIR=$c run_client "${kopt[@]}" -k --results "$T/$label-res" --joblog "$T/$label-joblog" "$T/cmds"
    echo "$RC" >"$T/$label-rc"
    # the header lines without the slave's port and the duration
    sed -E 's/^(==> \[[0-9]+\] .*) -- on [^,]*, [^,]*, (code retour = .*)$/\1 \2/; s/, wall time .*//' "$T/out" >"$T/$label-out"
    # the client's "==> [N]" lines are on stderr: the same without port and duration
    sed -E 's/^(==> \[[0-9]+\] .*) -- on [^,]*, [^,]*, (code retour = .*)$/\1 \2/; s/, wall time .*//' "$T/err" >"$T/$label-err"
    # the joblog without host (the slave's port), times and durations
    tail -n +2 "$T/$label-joblog" | cut -f1,5,6,7,8,9 >"$T/$label-jl"
    PROG_DIR=$c run_client "${kopt[@]}" -k --json "$T/cmds"
    sed -E 's/"(runtime|duration|start|host|slave|time)[a-z_]*":[^,}]*//g' "$T/out" >"$T/$label-json"
    local f
    for f in edge empty; do
        PROG_DIR=$c run_client "${kopt[@]}" -k "$T/$f"
        { echo "rc=$RC"; cat "$T/out"; echo "--- stderr"; cat "$T/err"; } |
            sed -E 's/^(==> \[[0-9]+\] .*) -- on [^,]*, [^,]*, (code retour = .*)$/\1 \2/; s/, wall time .*//' \
            >"$T/$label-$f"
    done
    stop_all
}

same() { # same LABEL REF
    local l=$1 r=$2
    is "$(cat "$T/$l-rc")" "$(cat "$T/$r-rc")" "$l: same exit status as $r"
    check "$l: same standard output as $r" cmp -s "$T/$l-out" "$T/$r-out"
    check "$l: same standard error as $r" cmp -s "$T/$l-err" "$T/$r-err"
    check "$l: same results dir as $r" diff -r "$T/$l-res" "$T/$r-res"
    check "$l: same joblog (seq, sizes, exit, signal, command) as $r" cmp -s "$T/$l-jl" "$T/$r-jl"
    check "$l: same --json (but times) as $r" cmp -s "$T/$l-json" "$T/$r-json"
    check "$l: same on comments, CRLF, a line too long, no final newline as $r" cmp -s "$T/$l-edge" "$T/$r-edge"
    check "$l: same on an empty file as $r" cmp -s "$T/$l-empty" "$T/$r-empty"
}

# A master and slaves of different datagram formats (5: PING carries the
# master's identity) do not talk: then only the client is mixed.
dgram_version() { sed -nE 's/^#define DGRAM_VERSION ([0-9]+).*/\1/p' "$1/lib/proto.h" 2>/dev/null; }
mix_daemons=1
if [ "$(dgram_version "$OLD")" != "$(dgram_version "$TOP")" ]; then
    mix_daemons=0
    ok 0 "# SKIP datagram format $(dgram_version "$OLD") (old) and $(dgram_version "$TOP"): only the client is mixed"
fi

for keyed in 0 1; do
    run_mix "new$keyed" "$NEW" "$NEW" "$NEW" "$keyed"
    is "$(cat "$T/new$keyed-rc")" 3 "all new, keyed=$keyed: three commands failed"
    is "$(wc -c <"$T/new$keyed-res/8/stdout")" 1048576 "all new, keyed=$keyed: 1 MiB stdout arrives whole"
    run_mix "old$keyed" "$OLD" "$OLD" "$OLD" "$keyed"
    same "old$keyed" "new$keyed"
    for mix in "$OLD $NEW $NEW oldM" "$NEW $OLD $NEW oldS" "$NEW $NEW $OLD oldC" \
        "$OLD $NEW $OLD newS" "$NEW $OLD $OLD newM" "$OLD $OLD $NEW newC" \
        "$NEW $OLD,$NEW $NEW halfS" "$OLD $OLD,$NEW $OLD halfSold"; do
        set -- $mix
        [ "$mix_daemons" = 1 ] || [ "$1" = "$2" ] || continue
        [ "$mix_daemons" = 1 ] || [ "${2#*,}" = "$2" ] || continue
        run_mix "$4$keyed" "$1" "$2" "$3" "$keyed"
        same "$4$keyed" "new$keyed"
    done
done

done_testing
