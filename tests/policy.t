#!/usr/bin/env bash
# The slave's policy (--allow FILE, doc/security.md section 5): a command
# line is split into words, any shell syntax in it is refused (exit 126,
# the reason said, nothing run), the words must match a pattern's word by
# word, and what is allowed runs without a shell.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/side"
S=$T/side
cat >"$T/allow" <<'PAT'
# comments and blank lines are skipped

echo *
cat /var/log/*.log
printf **
ls -l "/a b/*"
true
cut -d* -f4 /proc/self/stat
nonexistent-program-xyz **
./not-executable
./no-such-file
cat ../notes.txt
!exec sh * *
PAT
# gcc-like patterns on a program of ours that prints its argv (and leaves F)
printf '#!/bin/sh\ntouch "%s/F"\nprintf "[%%s]" "$@"\n' "$S" >"$T/probe"
chmod +x "$T/probe"
printf '%s\n' "$T/probe *" "$T/probe -O2 *" "$T/probe @* x" "$T/probe x **" >>"$T/allow"
start_slave pol -j 2 --allow "$T/allow"
POL_PID=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/pol.conf"
start_master m "$T/pol.conf"
wait_slaves_up m 1 || bail "policy slave not up"

# refused CMD REASON DESCRIPTION: one command, exit 126, the reason on the
# client's stderr, and F (the side effect) absent.
refused() {
    printf '%s\n' "$1" >"$T/one.txt"
    rm -f "$S/F"
    run_client "$T/one.txt" --joblog "$T/jl"
    is "$(awk -F'\t' 'NR==2 {print $7}' "$T/jl")" 126 "$3: exit 126"
    check "$3: the reason ($2)" grep -qF -- "$2" "$T/err"
    check "$3: not run" test ! -e "$S/F"
    check "$3: no output" test ! -s "$T/out"
}
syn() { echo "refused by the slave's policy (--allow): shell syntax '$1' at byte $2 (commands run without a shell under --allow)"; }

refused "echo x; touch $S/F" "$(syn ';' 7)" "echo x; touch"
refused "echo x;touch $S/F" "$(syn ';' 7)" "echo x;touch"
refused "echo \$(touch $S/F)" "$(syn '$' 6)" 'echo $(...)'
refused "echo \`touch $S/F\`" "$(syn '`' 6)" 'backticks'
refused "echo x && touch $S/F" "$(syn '&' 8)" '&&'
refused "echo x || touch $S/F" "$(syn '|' 8)" '||'
refused "echo x | touch $S/F" "$(syn '|' 8)" '|'
refused "echo x > $S/F" "$(syn '>' 8)" '>'
refused "echo x >$S/F" "$(syn '>' 8)" '>FILE'
refused "echo x < $S/F" "$(syn '<' 8)" '<'
refused "echo x & touch $S/F" "$(syn '&' 8)" '&'
refused "echo (x)" "$(syn '(' 6)" '( )'
refused "echo 'a'\$(touch $S/F)" "$(syn '$' 9)" "'a'\$(...)"
refused 'echo $HOME' "$(syn '$' 6)" '$HOME'
refused 'echo ${IFS}' "$(syn '$' 6)" '${IFS}'
refused "echo \"\$(touch $S/F)\"" "shell syntax '\$' inside double quotes at byte 7" '"$(...)"'
refused "echo x # comment" "shell syntax '#' at the start of a word at byte 8" 'a comment'
refused "echo ~" "shell syntax '~' at the start of a word at byte 6" '~'
refused "echo { x }" "shell syntax '{' as a word at byte 6" '{ }'
refused "echo ! x" "shell syntax '!' as a word at byte 6" '!'
refused "echo 'x" "unterminated single quote (opened at byte 6)" "unterminated '"
refused 'echo "x' "unterminated double quote (opened at byte 6)" 'unterminated "'
refused 'echo x\' "a backslash at the end of the line (byte 7)" 'trailing backslash'
refused "FOO=bar echo x" "assignment 'FOO=...' as the first word" 'FOO=bar cmd'
refused "echo *" "wildcard '*' at byte 6 (no file name expansion without a shell: quote it)" 'an unquoted *'
refused "cat /var/log/x;touch $S/F #.log" "$(syn ';' 15)" 'cat ...;touch ... #.log'
refused "cat /var/log/x touch $S/F #.log" "shell syntax '#' at the start of a word" 'cat ... #.log (two more words)'
refused "cat /var/log/x.log $S/F.log" "matches no pattern of $T/allow" 'cat: one word too many'
refused "cat /var/log/../../tmp/x.log" "matches no pattern of $T/allow" 'cat: a * never matches ..'
refused "cat /var/log/../../etc/shadow" "matches no pattern of $T/allow" 'cat: not .log'
refused "touch $S/F" "matches no pattern of $T/allow" 'a command with no pattern'
refused "sh -c 'touch $S/F'" "matches no pattern of $T/allow" "sh * * never matches an option (sh -c 'touch F')"
refused "true x" "matches no pattern of $T/allow" 'true: no more words'
refused "echo	x;touch $S/F" "$(syn ';' 7)" 'a tab separates words, ; still refused'
# A word that a wildcard matches never starts with an option's first byte:
# '-', '@' (gcc and others read options from @FILE), '+'; not under '**' either.
refused "$T/probe -x" "matches no pattern of $T/allow" 'probe * refuses -x'
refused "$T/probe @$S/opts" "matches no pattern of $T/allow" 'probe * refuses @FILE'
refused "$T/probe +x" "matches no pattern of $T/allow" 'probe * refuses +x'
refused "$T/probe -O2 -x" "matches no pattern of $T/allow" 'probe -O2 * refuses -O2 -x'
refused "$T/probe x y -v" "matches no pattern of $T/allow" 'probe x ** refuses an option among its words'
refused "$T/probe x @y" "matches no pattern of $T/allow" 'probe x ** refuses an @ among its words'
long=$(head -c 65000 /dev/zero | tr '\0' A) # (a command holds at most 65536 bytes)
refused "echo $long; touch $S/F" "$(syn ';' 65006)" 'a 65 KB echo AAA...; touch'

# What no command file can hold, sent as a master would (tests/dgram_tool.py):
# a newline, a NUL byte.
direct() { # direct COMMAND REASON DESCRIPTION
    rm -f "$S/F"
    python3 "$TOP/tests/dgram_tool.py" request "$SLAVE_PORT" "$1" >"$T/direct.out" 2>&1
    check "$3: exit 126" grep -q '^status [0-9]* exit 126 ' "$T/direct.out"
    check "$3: the reason ($2)" grep -qF -- "$2" "$T/direct.out"
    check "$3: not run" test ! -e "$S/F"
}
direct "echo x
touch $S/F" "refused by the slave's policy (--allow): control character 0x0a at byte 7" 'a real newline'
check "the slave logs it on one line" grep -qF "control character 0x0a at byte 7: echo x?touch $S/F" "$T/pol.log"
check "no line of the log is the command's" sh -c "! grep -q '^touch' '$T/pol.log'"
direct "echo 'x
touch $S/F'" "control character 0x0a at byte 8" 'a quoted newline'
# (a NUL: the request decoder refuses it before the policy, with or without
# --allow, as it always did; allow_list_check would too, tests/unit_conf.c)
rm -f "$S/F"
python3 "$TOP/tests/dgram_tool.py" request "$SLAVE_PORT" \
    "hex:$(printf 'echo x\0; touch %s/F' "$S" | od -An -tx1 | tr -d ' \n')" >"$T/direct.out" 2>&1
check "a NUL byte: not started, a malformed request" grep -q "^status 2 exit -1 .* message b'malformed job request'" "$T/direct.out"
check "a NUL byte: not run" test ! -e "$S/F"
direct "echo x
" "control character 0x0a at byte 7" 'a trailing newline'

# Allowed: run without a shell, quoted words arrive as they are.
allowed() { # allowed CMD EXPECTED-STDOUT DESCRIPTION
    printf '%s\n' "$1" >"$T/one.txt"
    run_client -q "$T/one.txt"
    is "$RC/$(cat "$T/out")" "0/$2" "$3"
}
allowed "printf '%s|' 'a b' c" 'a b|c|' "printf '%s|' 'a b' c: one word per quoted argument"
allowed 'echo "x;id"' 'x;id' 'a quoted ; is a literal byte'
allowed "echo 'a'\"b\"c\\ d" 'abc d' 'quotes and a backslash join one word'
allowed 'echo "\$HOME \"q\" \\"' '$HOME "q" \' 'escapes in double quotes'
allowed "printf '%s ' '\$(id)' '\`id\`' '*' '\"'" '$(id) `id` * " ' 'single quotes keep $( ` * " literally'
allowed "printf	'%s\n'	tab" 'tab' 'tabs separate words'
printf 'echo %s\n' "$long" >"$T/one.txt"
run_client -q "$T/one.txt"
check "a 65 KB word runs ($RC, $(wc -c <"$T/out") bytes)" test "$RC/$(cat "$T/out")" = "0/$long"
allowed "printf '%s-' a b c d" 'a-b-c-d-' "'**' matches any number of words"
allowed "printf x" 'x' "'**' matches no more word too"
allowed "$T/probe plain" '[plain]' 'probe * allows a plain word'
allowed "$T/probe x+@-" '[x+@-]' 'probe * allows a word holding +@- after its first byte'
allowed "$T/probe -O2 x.c" '[-O2][x.c]' 'probe -O2 * allows the option written in it'
allowed "$T/probe @opts x" '[@opts][x]' 'probe @* x allows an @ written in it'
allowed "$T/probe x a b" '[x][a][b]' 'probe x ** allows plain words'

# Without a shell: the command is the slave's child, not a shell's.
printf "cut '-d ' -f4 /proc/self/stat\n" >"$T/one.txt"
run_client -q "$T/one.txt"
if [ -z "$WRAP$PROG_RUNNER$SMP_PREFIX" ]; then
    is "$RC/$(cat "$T/out")" "0/$POL_PID" "the command's parent is the slave itself (no shell between)"
else
    is "$RC" 0 "the command's parent (not checked under a wrapper)"
fi

# What a shell would say: 127 for no such program, 126 for one that cannot run.
printf 'nonexistent-program-xyz a b\n' >"$T/one.txt"
run_client "$T/one.txt" --joblog "$T/jl"
is "$(awk -F'\t' 'NR==2 {print $7}' "$T/jl")" 127 "a program not found exits 127"
check "saying 'command not found'" grep -qF 'serveur_esclave: nonexistent-program-xyz: command not found' "$T/err"
printf './no-such-file\n' >"$T/one.txt"
run_client "$T/one.txt" --joblog "$T/jl"
is "$(awk -F'\t' 'NR==2 {print $7}' "$T/jl")" 127 "a path to nothing exits 127"
check "saying 'command not found'" grep -qF 'serveur_esclave: ./no-such-file: command not found' "$T/err"
printf 'echo hi\n' >"$T/pol/not-executable"
chmod 644 "$T/pol/not-executable"
printf './not-executable\n' >"$T/one.txt"
run_client "$T/one.txt" --joblog "$T/jl"
is "$(awk -F'\t' 'NR==2 {print $7}' "$T/jl")" 126 "a file that cannot be executed exits 126"
check "saying why" grep -qF 'serveur_esclave: ./not-executable: Permission denied' "$T/err"

# A pattern word without a wildcard may name ".." itself.
printf 'x\n' >"$T/notes.txt"
printf 'cat ../notes.txt\n' >"$T/one.txt"
run_client -q "$T/one.txt"
is "$RC/$(cat "$T/out")" "0/x" "a literal pattern word matches '..' as written"

# SIGHUP reads the policy file again; one that is refused leaves the policy
# in use as it was, and the slave says why in its log.
printf 'echo *\n' >"$T/hup.allow"
start_slave hup -j 1 --allow "$T/hup.allow"
HUP_PID=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/hup.conf"
start_master hupm "$T/hup.conf"
wait_slaves_up hupm 1 || bail "reload slave not up"
hup_run() { printf '%s\n' "$1" >"$T/one.txt"; run_client -q "$T/one.txt" --joblog "$T/jl"; awk -F'\t' 'NR==2 {print $7}' "$T/jl"; }
printf '# every program\n**\n' >"$T/hup.allow"
kill -HUP "$HUP_PID"
wait_for_line "$T/hup.log" "SIGHUP: policy file '$T/hup.allow' line 2: the program word '\*\*' allows every program.*: keeping the policy in use" 10 >/dev/null
ok $? "SIGHUP with '**' in the file: refused, logged, the policy in use kept"
is "$(hup_run 'echo kept')/$(cat "$T/out")" "0/kept" "the old policy still allows echo *"
is "$(hup_run 'printf x')" 126 "and still refuses what '**' would have allowed"
printf 'printf *\n' >"$T/hup.allow"
kill -HUP "$HUP_PID"
wait_for_line "$T/hup.log" "SIGHUP: policy file $T/hup.allow reloaded \(1 pattern\)" 10 >/dev/null
ok $? "SIGHUP with a good file: reloaded"
is "$(hup_run 'printf new')/$(cat "$T/out")" "0/new" "the new policy allows printf *"
is "$(hup_run 'echo old')" 126 "and no longer echo *"
check "saying why" grep -qF "refused by the slave's policy (--allow): matches no pattern of $T/hup.allow" "$T/err"
# A wrapper (env, nice, timeout, sh ...) with a wildcard after it allows any
# program: refused on SIGHUP as at start, unless the line says '!exec'.
printf 'printf *\nnice *\n' >"$T/hup.allow"
kill -HUP "$HUP_PID"
wait_for_line "$T/hup.log" "SIGHUP: policy file '$T/hup.allow' line 2: 'nice' runs its argument as a program: with the word '\*' this pattern allows any program .*: keeping the policy in use" 10 >/dev/null
ok $? "SIGHUP with 'nice *': refused, naming the file, the line and the program"
is "$(hup_run 'nice id')" 126 "the policy in use kept: 'nice id' does not run"
is "$(hup_run 'printf still')/$(cat "$T/out")" "0/still" "and what it allows still runs"
printf '!exec nice printf *\n' >"$T/hup.allow"
kill -HUP "$HUP_PID"
wait_for_line "$T/hup.log" "SIGHUP: policy file $T/hup.allow reloaded \(1 pattern\)" 10 >/dev/null
ok $? "SIGHUP with '!exec nice printf *': reloaded (the wrapper reviewed)"
is "$(hup_run 'nice printf wrapped')/$(cat "$T/out")" "0/wrapped" "'nice printf wrapped' runs, under nice"
is "$(hup_run 'nice id')" 126 "'nice id' does not"
# A relative --allow is read again by the path it had at start, not from
# the commands' directory (--chdir), where a command could leave a file.
mkdir -p "$T/rel" "$T/rel-work"
printf 'echo *\n' >"$T/rel/rel.allow"
printf 'printf **\n' >"$T/rel-work/rel.allow"
start_slave rel -j 1 --chdir "$T/rel-work" --allow rel.allow
REL_PID=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/rel.conf"
start_master relm "$T/rel.conf"
wait_slaves_up relm 1 || bail "relative policy slave not up"
kill -HUP "$REL_PID"
wait_for_line "$T/rel.log" "SIGHUP: policy file $T/rel/rel.allow reloaded" 10 >/dev/null
ok $? "SIGHUP: a relative --allow is read again from where the slave started"
is "$(hup_run 'printf x')" 126 "not the commands' directory's file of that name"

# Patterns are refused at load, naming the line and the reason.
load_refused() { # load_refused PATTERN REASON
    printf '# a comment\n%s\n' "$1" >"$T/bad.allow"
    local rc=0
    timeout 10 "$(prog serveur_esclave)" --allow "$T/bad.allow" 0 >"$T/bad.log" 2>&1 || rc=$?
    is "$rc" 2 "the pattern '$1' is refused at load (exit 2)"
    check "naming line 2 and why" grep -qF "policy file '$T/bad.allow' line 2: $2" "$T/bad.log"
}
load_refused 'echo *; id' "shell syntax ';' at byte 7"
load_refused 'echo $(id)' "shell syntax '\$' at byte 6"
load_refused 'echo "$HOME"' "shell syntax '\$' inside double quotes at byte 7"
load_refused 'echo ** x' "'**' is a pattern's last word only (word 2 of 3)"
load_refused 'FOO=* echo' "assignment 'FOO=...' as the first word"
load_refused "echo 'x" "unterminated single quote (opened at byte 6)"
# A program word of wildcards only allows every program.
load_refused '**' "the program word '**' allows every program (write its name, or a path with a literal part)"
load_refused '* **' "the program word '*' allows every program"
load_refused '* x' "the program word '*' allows every program"
load_refused '?*' "the program word '?*' allows every program"
load_refused '[a-z]* *' "the program word '[a-z]*' allows every program"
# A program that runs its argument as a program, with a wildcard after it.
wrapped() { echo "'$1' runs its argument as a program: with the word '$2' this pattern allows any program (name the program it runs in the pattern and, reviewed, begin the line with '!exec ')"; }
load_refused 'env *' "$(wrapped env '*')"
load_refused 'timeout 5 *' "$(wrapped timeout '*')"
load_refused 'sudo -u root **' "$(wrapped sudo '**')"
load_refused '/usr/bin/python3 *' "$(wrapped python3 '*')"
load_refused 'find . -name x -exec * {} +' "$(wrapped find '*')"
load_refused '/usr/bin/* *' "$(wrapped env '*')"
# ... named another way: a '*' taking the last '/', a version, the loader
load_refused '/usr/b*v *' "$(wrapped env '*')"
load_refused 'python3.12 *' "$(wrapped python '*')"
load_refused '/lib64/ld-linux-x86-64.so.2 *' "$(wrapped ld-linux-x86-64.so '*')"
load_refused '!exec' "'!exec' with no pattern after it"
# A NUL byte would end the line there for C (x*y read as x*, wider): the
# file is refused, naming the line; a line of 4,094 bytes is a pattern, one
# of 4,095 is refused (never split in two).
printf '# a comment\necho x*\000y\n' >"$T/nul.allow"
rc=0; timeout 10 "$(prog serveur_esclave)" --allow "$T/nul.allow" 0 >"$T/nul.log" 2>&1 || rc=$?
is "$rc" 2 "a policy file with a NUL byte is refused at load (exit 2)"
check "naming its line" grep -qF "policy file '$T/nul.allow': line 2 holds a NUL byte" "$T/nul.log"
printf 'echo %s\n' "$(head -c 4089 /dev/zero | tr '\0' a)" >"$T/long.allow"
start_slave slong --allow "$T/long.allow"
check "a pattern line of 4,094 bytes is read" grep -q 'listening on' "$T/slong.log"
stop_pid "$SLAVE_PID"
printf 'echo %s\n' "$(head -c 4090 /dev/zero | tr '\0' a)" >"$T/long.allow"
rc=0; timeout 10 "$(prog serveur_esclave)" --allow "$T/long.allow" 0 >"$T/long.log" 2>&1 || rc=$?
is "$rc" 2 "one of 4,095 bytes is refused at load (exit 2)"
check "naming its line" grep -qF "policy file '$T/long.allow': line 1 is longer than 4094 bytes" "$T/long.log"
done_testing
