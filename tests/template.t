#!/usr/bin/env bash
# Commands from a template (COMMAND ::: ARG..., :::: ARGFILE, :::+, ::::+),
# --dry-run, and where the master is (--master HOST:PORT, $SMP_MASTER,
# positional HOST PORT): the generated lines byte for byte against GNU
# parallel's own --dry-run, a real run against GNU parallel running the
# same template locally (output bytes, joblog Seq/Exitval/Command, exit
# status), --dry-run submitting nothing, the precedence, the usage errors.
. "$(dirname "$0")/lib.sh"

cluster 2 -j 2
M=127.0.0.1:$MASTER_PORT
C=$BIN/client
unset SMP_MASTER
have_parallel=1
command -v parallel >/dev/null || have_parallel=
# GNU parallel runs its commands with the shell it was started from: the
# slaves' is /bin/sh.
export PARALLEL_SHELL=/bin/sh
skip_parallel() { ok 0 "# SKIP $1: GNU parallel is not installed (apt-get install parallel)"; }

# client --dry-run with the cluster as master: stdout in $T/c.out, RC.
dry() { RC=0; timeout 60 "$C" --master "$M" --dry-run "$@" >"$T/c.out" 2>"$T/c.err" || RC=$?; }

# same_as_parallel DESCRIPTION WORDS...: the client's --dry-run lines are
# GNU parallel's, byte for byte.
same_as_parallel() {
    local desc=$1; shift
    if [ -z "$have_parallel" ]; then skip_parallel "$desc"; return; fi
    parallel -k --dry-run "$@" <"${STDIN:-/dev/null}" >"$T/p.out" 2>"$T/p.err"
    dry "$@" <"${STDIN:-/dev/null}"
    if [ "$RC" = 0 ] && cmp -s "$T/c.out" "$T/p.out"; then
        ok 0 "$desc: the lines are GNU parallel's --dry-run, byte for byte"
    else
        ok 1 "$desc: the lines are GNU parallel's --dry-run, byte for byte"
        echo "# client (rc $RC):" >&2; od -c "$T/c.out" | head -20 >&2; cat "$T/c.err" >&2
        echo "# parallel:" >&2; od -c "$T/p.out" | head -20 >&2
    fi
}

cd "$T" || bail "no $T"
printf 'p\nq r\n\n' >af1
printf 'x.c\r\n/d/y.tar.gz' >af2
printf '/a/b.c\n' >af3

# --- the generated lines --------------------------------------------------
same_as_parallel "one source" echo ::: a 'b c'
same_as_parallel "every replacement string" echo {} {.} {/} {//} {/.} {#} ::: /a/b.c d.tar.gz x/ .bashrc a/.b / '' 'a b/c.d e'
same_as_parallel "two sources: the cross product, the last varying fastest" echo ::: 1 2 3 ::: a b
same_as_parallel "positional {1} {2} and their modifiers" echo {2}-{1} {1.} {2/} {2//} {2/.} ::: x.y 'z w' ::: /p/q.r s
same_as_parallel "three sources" echo {3}{1}{2} ::: a b ::: 1 2 ::: X Y
same_as_parallel ":::+ links a source (the shortest sets the length)" echo ::: 1 2 :::+ a b c
same_as_parallel ":::+ among others" echo {1}{2}{3} ::: 1 2 :::+ a b ::: X Y
same_as_parallel ":::: ARGFILE (a '\\r' kept, an empty line, a last line without newline)" echo {} ::: 1 2 :::: af1 af2
same_as_parallel "::::+ links a file" echo ::: 1 2 ::::+ af1
STDIN=af1 same_as_parallel ":::: - reads standard input" echo :::: -
same_as_parallel "no replacement string: the arguments are appended" 'printf %s\n' -- ::: a 'b c'
same_as_parallel "the command's own options are its (-n)" echo -n ::: a
same_as_parallel "{} inside a word, in the middle" 'echo x{}y | wc -c' ::: 'a b'
same_as_parallel "a replacement string in the first word: nothing quoted" 'x{}y z' ::: 'a b'
same_as_parallel "no command: the arguments are the command" ::: "echo 'x y'" 'echo b'
same_as_parallel "an empty source beside another: one empty argument" echo ::: a :::
same_as_parallel "an empty source alone: no command" echo :::
same_as_parallel "a newline in an argument splits it, as GNU parallel does" echo ::: "$(printf 'a\nb')" c
same_as_parallel "{0} {-1} {01} {00} and other braces" echo {0} {-1} {01} {00} {a} {1..} {##} '{ }' ::: v ::: 'w x'
same_as_parallel "quoting: quotes, \$, backslashes, globs, blanks, non-ASCII, empty" echo ::: "'" "''" "a'" "'a" \
    "x'y'z" '$x' '\' '\\n' '!' "$(printf 'a\tb')" '~' '%' ',' ':' '=' '*.c' '?' '[a]' 'a"b' ' ' '$(rm x)' '`x`' \
    ';' '&' '|' '<>' '#' '{}' 'é' '日本' A+B-C_D.E/F -n a=b ''
# Random templates (a fixed seed, printed): random command words made of
# replacement strings and bytes, random arguments, 1 or 2 sources, some
# linked: the client's lines are GNU parallel's, byte for byte.
if [ -n "$have_parallel" ] && command -v python3 >/dev/null; then
    seed=${TEMPLATE_SEED:-12}
    cat >"$T/rnd.py" <<'PY'
import random, subprocess, sys
seed, n, client, master = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
random.seed(seed)
chars = list("ab./ '\"\\$*{}#%-_+=:;~\u00e9\t\n\r!?[]()<>|&`@,^")
pieces = ["{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{1}", "{2}", "{1.}", "{2/}", "{1//}", "{2/.}", "{0}", "{-1}",
          "x", "y", "'", " ", "=", "{", "}"]
bad = 0
for it in range(n):
    words = ["".join(random.choice(pieces) for _ in range(random.randint(1, 3))) for _ in range(random.randint(0, 3))]
    for s in range(random.randint(1, 2)):
        words.append(random.choice([":::", ":::", ":::+"]) if s else ":::")
        words += ["".join(random.choice(chars) for _ in range(random.randint(0, 6))) for _ in range(random.randint(1, 3))]
    p = subprocess.run(["parallel", "-k", "--dry-run"] + words, capture_output=True)
    c = subprocess.run([client, "-q", "--dry-run"] + words, capture_output=True)
    if p.stdout != c.stdout:
        bad += 1
        print("# differs:", words, p.stdout, c.stdout, c.stderr, file=sys.stderr)
print(bad)
PY
    is "$(python3 "$T/rnd.py" "$seed" 40 "$C" "$M")" 0 "40 random templates (seed $seed): GNU parallel's lines, byte for byte"
else
    ok 0 "# SKIP random templates: needs GNU parallel (apt-get install parallel) and python3"
fi
check "the dry run asked the master and named its slaves on stderr" \
    grep -q "^client:   127.0.0.1:${SLAVE_PORTS[0]} up, 2 slots$" "$T/c.err"

# On purpose: {%} (GNU parallel's job slot) is refused.
RC=0; "$C" --master "$M" --dry-run echo {%} ::: a >"$T/c.out" 2>"$T/c.err" || RC=$?
is "$RC/$(wc -c <"$T/c.out")" 255/0 "{%}: a usage error (exit 255), nothing printed"
check "{%}: the message says why" grep -q "^client: {%} (GNU parallel's job slot) has no meaning here: the master picks the slave" "$T/c.err"

# On purpose: {-N} beyond the sources is empty (GNU parallel 20221122
# gives another source's value there: {-3} of two sources is the second).
dry echo {-3}x {-2}y ::: a ::: b
is "$RC/$(cat "$T/c.out")" "0/echo x ay" "{-N} beyond the sources: empty (a difference on purpose)"

# The shell sees the same words: the lines run through sh print each
# argument back unchanged (the quoting is safe, not only the same).
args=("'" 'a b' '$HOME' '\' '*' '' 'é' '"q"' '$(echo no)' "$(printf 'x\ty')")
dry 'printf "[%s]\n"' ::: "${args[@]}"
sh "$T/c.out" >"$T/words.out"
printf '[%s]\n' "${args[@]}" >"$T/words.want"
check "the generated lines give the shell the arguments unchanged" cmp -s "$T/words.out" "$T/words.want"

# --- --dry-run runs nothing ------------------------------------------------
mkdir -p "$T/mk"
dry "touch $T/mk/{}" ::: m1 m2 m3
is "$RC/$(wc -l <"$T/c.out")" 0/3 "--dry-run: exit 0, the 3 lines"
is "$(head -n1 "$T/c.out")" "touch $T/mk/m1" "--dry-run: the first line"
check "--dry-run: on stderr, nothing was submitted" grep -q '^client: --dry-run: nothing was submitted; the master has 2 slaves, 2 up, 4 slots on them:$' "$T/c.err"
printf 'touch %s/mk/f1\n# a comment\n\ntouch %s/mk/f2\n' "$T" "$T" >"$T/mkcmds"
dry "$T/mkcmds"
is "$RC/$(cat "$T/c.out" | tr '\n' ' ')" "0/touch $T/mk/f1 touch $T/mk/f2 " "--dry-run of a command file: its commands, the blank and '#' lines skipped"
sleep 1 # anything submitted would have had the time to run
is "$(ls "$T/mk" | wc -l)" 0 "--dry-run: no command ran (no marker file)"
"$C" --master "$M" --status --json >"$T/st.json"
check "--dry-run: the master has no batch and finished nothing" grep -q '"finished_total":0,.*"batches":\[\]' "$T/st.json"
# the control: the same template, run, leaves its markers
RC=0; "$C" --master "$M" -q "touch $T/mk/{}" ::: m1 m2 m3 >/dev/null 2>&1 || RC=$?
is "$RC/$(ls "$T/mk" | tr '\n' ' ')" "0/m1 m2 m3 " "the same template run for real: its 3 markers"
# the master out of reach: the lines all the same, exit 0, said on stderr
RC=0; timeout 60 "$C" --master 127.0.0.1:1 --dry-run echo ::: a >"$T/c.out" 2>"$T/c.err" || RC=$?
is "$RC/$(cat "$T/c.out")" "0/echo a" "--dry-run, master out of reach: the lines, exit 0"
check "--dry-run, master out of reach: said on stderr" grep -q '^client: --dry-run: nothing was submitted; cannot ask the master which slaves would take the commands: cannot reach the master at 127.0.0.1:1' "$T/c.err"

# -q: the lines alone, the master is not even asked (no 2 s wait, nothing on stderr)
RC=0; timeout 60 "$C" -q --master 127.0.0.1:1 --dry-run echo ::: a >"$T/c.out" 2>"$T/c.err" || RC=$?
is "$RC/$(cat "$T/c.out")/$(wc -c <"$T/c.err")" "0/echo a/0" "--dry-run -q: the lines alone, nothing on stderr"

# --- a real run against GNU parallel running the same template -------------
# run_both DESCRIPTION WORDS...: the client (-k -q) on the cluster and
# GNU parallel (-k) here: the same stdout bytes, the same exit status,
# the same joblog Seq, Exitval and Command.
run_both() {
    local desc=$1; shift
    RC=0; timeout 120 "$C" --master "$M" -k -q --joblog "$T/cj" "$@" >"$T/c.out" 2>"$T/c.err" || RC=$?
    if [ -z "$have_parallel" ]; then
        skip_parallel "$desc"
        return
    fi
    PRC=0; parallel -k --joblog "$T/pj" "$@" >"$T/p.out" 2>"$T/p.err" || PRC=$?
    if cmp -s "$T/c.out" "$T/p.out"; then ok 0 "$desc: the same output bytes as GNU parallel"
    else ok 1 "$desc: the same output bytes as GNU parallel"; diff "$T/c.out" "$T/p.out" | head >&2; cat "$T/c.err" >&2; fi
    is "$RC" "$PRC" "$desc: the same exit status as GNU parallel"
    tail -n +2 "$T/cj" | cut -f1,7,9 | sort -n >"$T/cj.cut"
    tail -n +2 "$T/pj" | cut -f1,7,9 | sort -n >"$T/pj.cut"
    if [ -s "$T/cj.cut" ] && cmp -s "$T/cj.cut" "$T/pj.cut"; then ok 0 "$desc: the same joblog Seq, Exitval and Command"
    else ok 1 "$desc: the same joblog Seq, Exitval and Command"; diff "$T/cj.cut" "$T/pj.cut" | head >&2; fi
}
run_both "quoted arguments" "printf '<%s>\n'" {} ::: 'a b' "it's" '$HOME' 'back\slash' '*' '' 'é' '"q"' '~' 'x;y' '$(echo hi)'
run_both "two sources, {#}" 'echo {#}' {2} {1} ::: x y ::: 1 2 3
run_both ":::: and the path strings" 'echo {} {.} {/} {//} {/.}' :::: af3 ::: '/u v/w.x'
run_both "exit statuses" 'exit' ::: 0 3 0 5
run_both "a newline in an argument" printf '%s\n' ::: "$(printf 'a\nb')"
is "$(cat "$T/c.out")" anbn "a newline in an argument: two commands, as GNU parallel runs them (printf %s\\n a: 'an')"
run_both "the arguments as commands" ::: 'echo one' 'echo two; exit 2'
run_both "--tag: a template's lines tagged with its arguments" --tag echo ::: a 'b c' ::: 1 2
run_both "--tagstring {}: the arguments" --tagstring '<{}>' 'echo {2}{1}' ::: x 'y z' ::: 1
# The seq is the job number: --results DIR/{#}
RC=0; "$C" --master "$M" -q --results "$T/res" 'echo {#}:{}' ::: a b c >/dev/null 2>&1 || RC=$?
is "$RC/$(cat "$T/res/1/stdout" "$T/res/2/stdout" "$T/res/3/stdout" | tr '\n' ' ')" "0/1:a 2:b 3:c " "the seq of each command is its {#}"
# A line the client refuses keeps its number: job 2 is too long.
long=$(head -c 70000 /dev/zero | tr '\0' x)
RC=0; "$C" --master "$M" -q --joblog "$T/lj" 'echo {#} {}' ::: a "$long" c >"$T/c.out" 2>"$T/c.err" || RC=$?
is "$RC" 1 "a command too long: refused, counted as failed"
check "it is named by its job number" grep -q '^client: line 2: command longer than 65536 bytes: not run$' "$T/c.err"
is "$(tail -n +2 "$T/lj" | cut -f1,7 | sort -n | tr '\n\t' ' :')" "1:0 2:-1 3:0 " "the others keep their seq"
# --detach takes a template too
RC=0; "$C" --master "$M" --detach 'echo detached-{}' ::: 1 2 >"$T/id" 2>"$T/c.err" || RC=$?
is "$RC" 0 "--detach with a template"
RC=0; SMP_MASTER=$M "$C" -k -q --attach "$(cat "$T/id")" >"$T/c.out" 2>"$T/c.err" || RC=$?
is "$RC/$(cat "$T/c.out" | tr '\n' ' ')" "0/detached-1 detached-2 " "--attach (the master from \$SMP_MASTER) follows it"

# A template's lines take the command file's path, reconnection included:
# against the scripted master of tests/resume_client.t, dropping the
# connection after 3 results, the same output as the same lines in a file.
if command -v python3 >/dev/null; then
    start_fake() { # NAME SCENARIO [-k K]: FAKE_PORT
        local name=$1; shift
        : >"$T/$name.frames"
        python3 "$TOP/tests/fake_master.py" "$1" "$T/$name.frames" "${@:2}" >"$T/$name.log" 2>&1 &
        PIDS+=("$!")
        FAKE_PORT=$(wait_for_line "$T/$name.log" 'listening on TCP' 10 | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/') ||
            bail "fake master $name did not start"
    }
    printf 'c%s\n' 1 2 3 4 5 6 7 >"$T/fcmds"
    start_fake ref normal
    RC=0; timeout 60 "$C" 127.0.0.1 "$FAKE_PORT" "$T/fcmds" 2>"$T/fref.err" | sed 's/wall time .*//' >"$T/fref.out"
    start_fake drop drop -k 3
    RC=0; SMP_MASTER=127.0.0.1:$FAKE_PORT timeout 60 "$C" 'c{}' ::: 1 2 3 4 5 6 7 2>"$T/fdrop.err" | sed 's/wall time .*//' >"$T/fdrop.out"
    check "a template through a dropped connection: the output of the same lines from a file" cmp -s "$T/fref.out" "$T/fdrop.out"
    is "$(grep -c '^ran: ' "$T/fdrop.out")" 7 "...7 results, once each"
    check "...and it did reconnect" grep -q '^client: reconnected$' "$T/fdrop.err"
    is "$(grep '^conn=2 SUBMIT' "$T/drop.frames" | sed 's/.*seq=\([0-9]*\).*/\1/' | tr '\n' ' ')" "6 7 " \
        "...the SUBMITs not on the master's disk sent again (seqs 6 7), from the kept texts"
    check "...END sent again once the template is done" grep -qx 'conn=2 END count=7' "$T/drop.frames"
else
    ok 0 "# SKIP needs python3 for tests/fake_master.py (apt-get install python3)"
fi

# --- where the master is ----------------------------------------------------
echo 'echo one' >"$T/one.txt"
runc() { RC=0; timeout 60 env "$@" >"$T/c.out" 2>"$T/c.err" || RC=$?; }
runc "$C" -q --master "$M" "$T/one.txt"
is "$RC/$(cat "$T/c.out")" 0/one "--master HOST:PORT with a command file"
runc SMP_MASTER="$M" "$C" -q "$T/one.txt"
is "$RC/$(cat "$T/c.out")" 0/one "\$SMP_MASTER with a command file"
runc SMP_MASTER=127.0.0.1:1 "$C" -q --master "$M" "$T/one.txt"
is "$RC/$(cat "$T/c.out")" 0/one "--master before \$SMP_MASTER"
runc SMP_MASTER=127.0.0.1:1 "$C" -q 127.0.0.1 "$MASTER_PORT" "$T/one.txt"
is "$RC/$(cat "$T/c.out")" 0/one "positional HOST PORT before \$SMP_MASTER"
runc SMP_MASTER='not an address' "$C" -q 127.0.0.1 "$MASTER_PORT" "$T/one.txt"
is "$RC/$(cat "$T/c.out")" 0/one "positional HOST PORT: \$SMP_MASTER is not even read"
runc SMP_MASTER="$M" "$C" -q 'echo {}' ::: tmpl
is "$RC/$(cat "$T/c.out")" 0/tmpl "\$SMP_MASTER with a template"
runc "$C" --master "$M" --status
is "$RC/$(grep -c '^127.0.0.1:' "$T/c.out")" 0/2 "--master with --status"
runc SMP_MASTER="$M" "$C" --batches
is "$RC/$(grep -c '^ID  *STATE' "$T/c.out")/$(grep -c "^$(cat "$T/id") " "$T/c.out")" 0/1/1 "\$SMP_MASTER with --batches: the detached batch is listed"
runc "$C" --master 127.0.0.1:1 --status
is "$RC" 255 "--master to a port nobody listens on: exit 255"
check "...and the address it tried" grep -q "^client: cannot reach the master at 127.0.0.1:1 " "$T/c.err"

if grep -qi '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 2>/dev/null; then
    start_master v6 "$T/slaves.conf" --bind ::1
    wait_slaves_up v6 2 || bail "slaves not up for the ::1 master"
    runc "$C" -q --master "[::1]:$MASTER_PORT" "$T/one.txt"
    is "$RC/$(cat "$T/c.out")" 0/one "--master [::1]:PORT: IPv6 in brackets"
    runc SMP_MASTER="[::1]:$MASTER_PORT" "$C" --status
    is "$RC/$(grep -c '^127.0.0.1:' "$T/c.out")" 0/2 "\$SMP_MASTER=[::1]:PORT with --status"
else
    ok 0 "# SKIP ::1 is not configured on lo"
    ok 0 "# SKIP ::1 is not configured on lo"
fi

# --- --help says it --------------------------------------------------------
"$C" --help >"$T/help"
for w in '--master HOST:PORT' '--dry-run' '$SMP_MASTER' 'COMMAND... ::: ARG...' ':::: FILE' '{%}' '{#}' '{N/.}' 'there is no HOST PORT'; do
    check "--help mentions '$w'" grep -qF -- "$w" "$T/help"
done

# --- usage errors: exit 255, a message naming what was wrong ----------------
usage_error() { # DESCRIPTION EXPECTED-MESSAGE ARGS...
    local desc=$1 msg=$2; shift 2
    runc "$@"
    is "$RC/$(wc -c <"$T/c.out")" 255/0 "$desc: exit 255, nothing on stdout"
    if grep -qxF -- "$msg" "$T/c.err"; then ok 0 "$desc: '$msg'"
    else ok 1 "$desc: '$msg'"; cat "$T/c.err" >&2; fi
}
usage_error "positional HOST PORT and --master" \
    "client: the master is given twice: HOST PORT ('127.0.0.1 $MASTER_PORT') and --master '$M': give one" \
    "$C" --master "$M" 127.0.0.1 "$MASTER_PORT" "$T/one.txt"
usage_error "--master without a port" "client: --master '1.2.3.4': expected HOST:PORT" \
    "$C" --master 1.2.3.4 "$T/one.txt"
usage_error "--master with a bad port" "client: --master 'h:99999': the port is not a number from 1 to 65535" \
    "$C" --master h:99999 --status
usage_error "--master IPv6 without brackets" \
    "client: --master '::1:6000': an IPv6 address goes in brackets: [ADDRESS]:PORT" "$C" --master ::1:6000 --batches
usage_error "\$SMP_MASTER malformed" "client: \$SMP_MASTER 'localhost': expected HOST:PORT" \
    SMP_MASTER=localhost "$C" "$T/one.txt"
usage_error "a template with --status" \
    "client: a template (COMMAND ::: ARG...) makes commands to run: not with --status" "$C" --status echo ::: a
usage_error "--dry-run with --batches" "client: --dry-run shows the commands a run would send: not with --batches" \
    "$C" --dry-run --batches
usage_error ":::+ first" "client: ':::+' links a source to the one before it: there is none" "$C" echo :::+ a
usage_error ":::: without a file" "client: '::::' without a file name" "$C" echo ::: a ::::
usage_error ":::: a missing file" "client: :::: '$T/nope': cannot read it: No such file or directory" \
    "$C" echo :::: "$T/nope"

done_testing
