#!/usr/bin/env bash
# parallel_compat.t - the same command files through GNU parallel itself
# and through the system (a master and two slaves): output bytes per Seq,
# joblog Exitval and Signal, exit status, --tag, --joblog +FILE, --resume,
# --resume-failed, --retry-failed; stdout holds the commands' output only
# (`client cmds | sort`); the client's messages. Where we differ on
# purpose, the assertion says so.
. "$(dirname "$0")/lib.sh"

command -v parallel >/dev/null || skip_all "needs GNU parallel: apt-get install parallel"
PAR="parallel --will-cite -j4"
cluster 2
C="$BIN/client"
client() { timeout 60 $WRAP "$C" 127.0.0.1 "$MASTER_PORT" "$@"; }
# seq_cols JOBLOG: "Seq Exitval Signal" per line, by Seq
seq_cols() { tail -n +2 "$1" | awk -F'\t' '{print $1, $7, $8}' | sort -n; }

# --- output bytes per Seq, joblog Exitval and Signal, exit status ------
# (no blank or comment line: GNU parallel runs them as commands and counts
# them, the client skips them and does not number them: see README)
cat >"$T/mix" <<'EOF'
echo alpha
printf 'no newline'
printf 'x\ny\n'; echo to-stderr >&2
printf 'err without newline' >&2; exit 4
exit 3
kill -9 $$
kill -TERM $$
sh -c 'kill -INT $$'; echo after-int
head -c 3000 /dev/zero | tr '\0' z
echo ünïcödé; printf '\001\002\377' >&2
EOF
rc=0; $PAR --joblog "$T/pj" --results "$T/pres/{#}/" <"$T/mix" >/dev/null 2>&1 || rc=$?
prc=$rc
rc=0; client --joblog "$T/cj" --results "$T/cres" "$T/mix" >"$T/cout" 2>"$T/cerr" || rc=$?
is "$rc" "$prc" "exit status as GNU parallel's ($prc: the failed commands)"
is "$(seq_cols "$T/cj")" "$(seq_cols "$T/pj")" "joblog: the same Seq, Exitval and Signal for each command (exits and signals)"
bad=0
for n in $(seq 1 10); do
    for f in stdout stderr; do
        cmp -s "$T/pres/$n/$f" "$T/cres/$n/$f" || { bad=$((bad + 1)); echo "# seq $n $f differs" >&2; }
    done
done
is "$bad" 0 "the same stdout and stderr bytes for each Seq (--results)"
rc=0; $PAR -k <"$T/mix" >"$T/pk.out" 2>"$T/pk.err" || rc=$?
rc=0; client -k -q "$T/mix" >"$T/ck.out" 2>"$T/ck.err" || rc=$?
check "-k: stdout byte for byte GNU parallel -k's (a last line without newline stays so)" cmp "$T/pk.out" "$T/ck.out"
check "-k -q: stderr byte for byte GNU parallel -k's" cmp "$T/pk.err" "$T/ck.err"

# Timeouts: TERM first, then KILL (GNU parallel's default --termseq): a
# command killed by TERM, one that catches it and exits 3, one that
# ignores it: the same Exitval and Signal as GNU parallel's joblog.
printf '%s\n' 'sleep 20' 'echo quick' "trap 'exit 3' TERM; sleep 20 & wait" "trap '' TERM; sleep 4" >"$T/slow"
$PAR --timeout 1 --joblog "$T/pjt" <"$T/slow" >/dev/null 2>&1
client --timeout 1 --joblog "$T/cjt" "$T/slow" >/dev/null 2>&1
for n in 1 3 4; do
    is "$(awk -F'\t' -v n=$n '$1==n {print $7 "/" $8}' "$T/cjt")" "$(awk -F'\t' -v n=$n '$1==n {print $7 "/" $8}' "$T/pjt")" \
        "timed out, command $n ($(sed -n ${n}p "$T/slow")): Exitval/Signal as GNU parallel's"
done

# Exit status: 0, 1..100 the number of failed commands, 101 beyond.
for nfail in 0 1 7 100 101 150; do
    { for i in $(seq 1 "$nfail"); do echo "exit $(( i % 200 + 1 ))"; done; echo true; } >"$T/f$nfail"
    prc=0; $PAR <"$T/f$nfail" >/dev/null 2>&1 || prc=$?
    crc=0; client -q "$T/f$nfail" >/dev/null 2>&1 || crc=$?
    is "$crc" "$prc" "$nfail failed commands: exit $prc, as GNU parallel"
done

# --- stdout: the commands' output alone --------------------------------
printf 'echo charlie\necho alpha; echo warn >&2\necho bravo\n' >"$T/abc"
client "$T/abc" 2>"$T/sort.err" | sort >"$T/sort.out"
$PAR <"$T/abc" 2>/dev/null | sort >"$T/psort.out"
is "$(cat "$T/sort.out")" "$(printf 'alpha\nbravo\ncharlie')" "client cmds | sort: sorts only the commands' output"
check "the same as parallel cmds | sort" cmp "$T/sort.out" "$T/psort.out"
is "$(grep -c '^==> \[[123]\] echo .* code retour = 0$' "$T/sort.err")" 3 "the status lines are on stderr"
check "the summary is on stderr" grep -qE '^==> 3 commands: 3 succeeded, 0 failed, wall time' "$T/sort.err"
check "the command's stderr too" grep -qx warn "$T/sort.err"
# stdout and stderr into one file: a status line after output that ended
# without a newline starts a line of its own; into a pipe, stdout stays exact
printf "printf partial\n" >"$T/partial"
client "$T/partial" >"$T/both" 2>&1
is "$(head -c 11 "$T/both" | od -An -c | tr -s ' ')" " p a r t i a l \n = = >" "2>&1: the status line starts a line of its own"
# on a terminal (a pty): each command's stdout, then its stderr and status line, in order
printf 'printf partial\necho err-part >&2; printf e >&2\necho whole\n' >"$T/tty"
python3 - "$C" "$MASTER_PORT" "$T/tty" >"$T/tty.screen" <<'PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-k", "127.0.0.1", sys.argv[2], sys.argv[3]])
out = b""
while True:
    try:
        b = os.read(fd, 65536)
    except OSError:
        break
    if not b:
        break
    out += b
os.waitpid(pid, 0)
sys.stdout.write(out.decode().replace("\r\n", "\n"))
PY
is "$(sed -E 's/ -- on [^,]+, [^,]+, / -- /; s/wall time .*/wall time/' "$T/tty.screen")" "partial
==> [1] printf partial -- code retour = 0
err-part
e
==> [2] echo err-part >&2; printf e >&2 -- code retour = 0
whole
==> [3] echo whole -- code retour = 0
==> 3 commands: 3 succeeded, 0 failed, wall time" "a terminal: output, stderr and status lines in order, each status line on a line of its own"
client "$T/partial" 2>/dev/null >"$T/alone"
is "$(od -An -c "$T/alone" | tr -s ' ')" " p a r t i a l" "stdout alone: the bytes as they are, no newline added"
client -q "$T/abc" >"$T/q.out" 2>"$T/q.err"
is "$(cat "$T/q.err")" "warn" "-q: stderr holds the commands' stderr only (no status line, no summary)"
client --json "$T/abc" >"$T/j.out" 2>"$T/j.err"
is "$(python3 -c 'import json,sys; print(sorted(json.loads(l)["seq"] for l in open(sys.argv[1])))' "$T/j.out")" "[1, 2, 3]" \
    "--json: stdout is one JSON object per command"
check "--json: the summary on stderr" grep -q '^==> 3 commands' "$T/j.err"

# --- --tag, --tagstring: byte for byte GNU parallel's -------------------
client -k -q --tag "$T/mix" >"$T/ct.out" 2>"$T/ct.err"
$PAR -k --tag <"$T/mix" >"$T/pt.out" 2>"$T/pt.err"
check "--tag: stdout byte for byte GNU parallel --tag's" cmp "$T/pt.out" "$T/ct.out"
check "--tag: stderr byte for byte GNU parallel --tag's (stderr is tagged too)" cmp "$T/pt.err" "$T/ct.err"
check "--tag: the command line, a TAB, the line" grep -qxF "$(printf 'echo alpha\talpha')" "$T/ct.out"
client -k -q --tagstring '[{#}] {}:' "$T/mix" >"$T/cts.out" 2>"$T/cts.err"
$PAR -k --tagstring '[{#}] {}:' <"$T/mix" >"$T/pts.out" 2>"$T/pts.err"
check "--tagstring '[{#}] {}:': stdout byte for byte GNU parallel's" cmp "$T/pts.out" "$T/cts.out"
check "--tagstring: stderr byte for byte GNU parallel's" cmp "$T/pts.err" "$T/cts.err"
rc=0; client --tag --json "$T/abc" >/dev/null 2>"$T/tj.err" || rc=$?
is "$rc/$(cat "$T/tj.err")" "255/client: --tag and --tagstring do not go with --json (its objects have the seq and the command)" \
    "--tag with --json: a usage error"

# --- --joblog +FILE ------------------------------------------------------
rm -f "$T/plus"
client -q --joblog +"$T/plus" "$T/abc" >/dev/null 2>&1
client -q --joblog +"$T/plus" "$T/abc" >/dev/null 2>&1
is "$(grep -c '^Seq' "$T/plus")/$(grep -vc '^Seq' "$T/plus")" "1/6" "--joblog +FILE appends: one header, both runs' lines"
# (GNU parallel writes no header at all with +FILE, even on a new file:
# ours starts a new joblog with one, so that it is a joblog like the others)

# --- --resume, --resume-failed, --retry-failed --------------------------
# Each command notes that it ran in DIR/ran; 2 and 5 fail (exit), 7 is
# killed (TERM); a first run is cut after Seq 6 (its joblog lacks 7, 8).
mk_cmds() { # mk_cmds DIR: the command file DIR/cmds
    mkdir -p "$1"
    for i in 1 2 3 4 5 6 7 8; do
        case $i in
        2 | 5) echo "echo $i >> $1/ran; echo out-$i; exit $i" ;;
        7) echo "echo $i >> $1/ran; kill -TERM \$\$" ;;
        *) echo "echo $i >> $1/ran; echo out-$i" ;;
        esac
    done >"$1/cmds"
}
mk_cmds "$T/P"
mk_cmds "$T/Q"
$PAR --joblog "$T/P/full" <"$T/P/cmds" >/dev/null 2>&1
client -q --joblog "$T/Q/full" "$T/Q/cmds" >/dev/null 2>&1
is "$(seq_cols "$T/Q/full")" "$(seq_cols "$T/P/full")" "resume: the first run's joblogs agree"
cut_after6() { awk -F'\t' 'NR==1 || $1 <= 6' "$1"; }
# what a resume mode runs: RAN (the seqs that ran, sorted), RC
resume_run() { # resume_run WHO MODE
    local who=$1 mode=$2 d
    d=$T/$who
    cut_after6 "$d/full" >"$d/j-$mode"
    rm -f "$d/ran"
    RC=0
    if [ "$who" = P ]; then
        if [ "$mode" = retry-failed ]; then $PAR --retry-failed --joblog "$d/j-$mode" </dev/null >"$d/o-$mode" 2>/dev/null || RC=$?
        else $PAR --"$mode" --joblog "$d/j-$mode" <"$d/cmds" >"$d/o-$mode" 2>/dev/null || RC=$?; fi
    else
        if [ "$mode" = retry-failed ]; then client -q --retry-failed --joblog "$d/j-$mode" --results "$d/r-$mode" >"$d/o-$mode" 2>"$d/e-$mode" || RC=$?
        else client -q --"$mode" --joblog "$d/j-$mode" --results "$d/r-$mode" "$d/cmds" >"$d/o-$mode" 2>"$d/e-$mode" || RC=$?; fi
    fi
    RAN=$(sort -n "$d/ran" 2>/dev/null | tr '\n' ' ')
}
for mode in resume resume-failed retry-failed; do
    resume_run P $mode; prc=$RC pran=$RAN
    resume_run Q $mode; crc=$RC cran=$RAN
    is "$cran" "$pran" "--$mode: the same commands run as GNU parallel's ($pran)"
    is "$crc" "$prc" "--$mode: the same exit status ($prc)"
    is "$(tail -n +2 "$T/Q/j-$mode" | cut -f1 | sort -n | uniq -d | wc -l)" 0 "--$mode: the joblog has one line per Seq"
    # GNU parallel appends a second line for a Seq run again; ours keeps the
    # last attempt's only: compare the last line of each Seq
    is "$(tail -n +2 "$T/Q/j-$mode" | awk -F'\t' '{print $1, $7, $8}' | sort -n)" \
       "$(tail -n +2 "$T/P/j-$mode" | awk -F'\t' '{l[$1] = $1 " " $7 " " $8} END {for (s in l) print l[s]}' | sort -n)" \
       "--$mode: each Seq's last Exitval and Signal as in GNU parallel's joblog"
    check "--$mode: stdout as GNU parallel's (sorted)" cmp <(sort "$T/P/o-$mode") <(sort "$T/Q/o-$mode")
done
is "$(ls "$T/Q/r-resume" | sort -n | tr '\n' ' ')" "7 8 " "--resume: the commands keep their Seq (--results 7 and 8 only)"
is "$(cat "$T/Q/r-resume-failed/5/stdout")/$(ls "$T/Q/r-resume-failed" | sort -n | tr '\n' ' ')" "out-5/2 5 7 8 " \
    "--resume-failed: the commands run again keep their Seq"
is "$(head -n 7 "$T/Q/j-resume")" "$(cut_after6 "$T/Q/full")" "--resume: the joblog's earlier lines kept as they were, in their order"
is "$(tail -n +8 "$T/Q/j-resume" | cut -f1 | sort -n | tr '\n' ' ')" "7 8 " "--resume: then the lines of 7 and 8"
is "$(head -n1 "$T/Q/j-retry-failed" | cut -f1)/$(grep -c '^Seq' "$T/Q/j-retry-failed")" "Seq/1" "the rewritten joblog has its header, once"
check "no temporary joblog left behind" test ! -e "$T/Q/j-retry-failed.tmp"
check "--retry-failed needs no FILE (the joblog's command lines)" test ! -s "$T/Q/e-retry-failed"

# The input changed: seqs are matched by number; the client says so.
cut_after6 "$T/Q/full" >"$T/Q/j-changed"
sed '3s/.*/echo changed/' "$T/Q/cmds" >"$T/Q/cmds-changed"
client -q --resume --joblog "$T/Q/j-changed" "$T/Q/cmds-changed" >/dev/null 2>"$T/Q/e-changed"
check "--resume on a changed input: a warning names the command" \
    grep -qF "client: warning: command 3 is not the joblog's line 3 ('echo 3 >> $T/Q/ran; echo out-3'): was the input changed? Seqs are matched by number" "$T/Q/e-changed"
rc=0; client --resume "$T/Q/cmds" >/dev/null 2>"$T/Q/e-nolog" || rc=$?
is "$rc/$(cat "$T/Q/e-nolog")" "255/client: --resume needs --joblog FILE (the joblog of the run it resumes) and a run (not with --detach, --attach, --batches or --status)" \
    "--resume without --joblog: a usage error"
printf 'not a joblog\n' >"$T/Q/bad"
rc=0; client --resume --joblog "$T/Q/bad" "$T/Q/cmds" >/dev/null 2>"$T/Q/e-bad" || rc=$?
is "$rc/$(cat "$T/Q/e-bad")" "255/client: the joblog '$T/Q/bad' line 1 is not a joblog line (Seq, 7 more fields and the Command, tab-separated)" \
    "--resume on a file that is not a joblog: exit 255, the file and line named"
check "and it was left as it was" test "$(cat "$T/Q/bad")" = "not a joblog"

# --- messages: one style, usage errors -----------------------------------
rc=0; "$C" --foo "$T/abc" >"$T/m.out" 2>"$T/m.err" || rc=$?
is "$rc/$(cat "$T/m.err")" "255/client: unknown option '--foo' (client --help lists the options)" \
    "an unknown option names itself and points at --help (exit 255)"
is "$(cat "$T/m.out")" "" "and prints nothing on stdout"
rc=0; "$C" -Z "$T/abc" 2>"$T/m.err" || rc=$?
is "$rc/$(cat "$T/m.err")" "255/client: unknown option '-Z' (client --help lists the options)" "an unknown short option too"
rc=0; "$C" "$T/abc" --joblog 2>"$T/m.err" || rc=$?
is "$rc/$(cat "$T/m.err")" "255/client: option '--joblog' needs a value (client --help lists the options)" "a missing value is named"
rc=0; "$C" --quiet=yes "$T/abc" 2>"$T/m.err" || rc=$?
is "$rc/$(cat "$T/m.err")" "255/client: option '--quiet' takes no value (client --help lists the options)" "a value where none goes is named"
rc=0; "$C" --timeout soon "$T/abc" 2>"$T/m.err" || rc=$?
is "$rc/$(cat "$T/m.err")" "255/client: --timeout: 'soon' is not a number of seconds from 0 to 86400" \
    "a bad option value: the same style (no time stamp, no level)"
rc=0; "$C" a b c d 2>"$T/m.err" || rc=$?
is "$rc/$(cat "$T/m.err")" "255/client: expected [HOST PORT] FILE (or - for standard input) (client --help)" \
    "wrong arguments: one line, no usage dump"
for w in --tag --tagstring --resume --resume-failed --retry-failed '+FILE'; do
    "$C" --help | grep -q -- "$w" || echo "# --help lacks $w" >&2
done
check "--help names every new option" test "$("$C" --help | grep -cE -- '--tag |--tagstring|--resume |--resume-failed|--retry-failed|\+FILE')" = 6
check "README's client reference names them" test "$(grep -cE -- '`--tag`|`--tagstring STR`|`--resume`|`--resume-failed`|`--retry-failed`|`--joblog \+FILE`' "$TOP/README.md")" -ge 6
check "--help's unknown-option status is 255 in README's exit status table" grep -q 'usage error' "$TOP/README.md"
# every fprintf to stderr of the client's sources starts with "client: "
# (or is a status line "==> ...", or the newline of fatal's message)
check "every message of the client starts with 'client: '" \
    test "$(grep -hoE 'fprintf\(stderr, "[^"]{0,12}' "$TOP/client.c" "$TOP/report/report.c" "$TOP/report/joblog.c" |
        grep -vcE '"(%s)?(client: |==> )|"\\n"?$')" = 0

done_testing
