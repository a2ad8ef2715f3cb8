#!/usr/bin/env bash
# make install and make uninstall, from a copy of the tree built afresh (the
# repository's own programs, which other tests use, are not rebuilt): the
# programs under names of their own, which run; the man pages, which render
# without a warning and name every option of their program's --help (and
# no option it lacks); the docs; the systemd units, whose programs exist
# and which systemd-analyze accepts; the units' command lines start a
# working master and slave; uninstall leaves nothing of ours and nothing
# else removed.
. "$(dirname "$0")/lib.sh"

[ -z "${SMP_BIN:-}" ] || skip_all "builds and installs its own copy of the tree: nothing to test in SMP_BIN=$SMP_BIN"
command -v git >/dev/null && git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1 || skip_all "needs a git checkout (the files to copy): apt-get install git"
command -v man >/dev/null || skip_all "needs man: apt-get install man-db"
# Our own makes: nothing from a calling make (O=, P= on its command line
# reach sub-makes through MAKEFLAGS) or from the environment (?= takes it).
unset MAKEFLAGS MFLAGS MAKELEVEL O P EXE PREFIX DESTDIR BINDIR MANDIR DOCDIR SYSCONFDIR SYSTEMDUNITDIR SYSUSERSDIR

# The tree as checked out now (tracked and new files, not what is ignored:
# no build/, no programs), so that this is a fresh checkout's build.
mkdir -p "$T/src"
(cd "$TOP" && git ls-files -z -c -o --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -xf - -C "$T/src"
check "the copy has no build and no programs" test ! -e "$T/src/build" -a ! -e "$T/src/client"
rc=0; make -C "$T/src" -j2 all >"$T/build.log" 2>&1 || rc=$?
is "$rc" 0 "a fresh copy builds"
[ "$rc" = 0 ] || bail "build failed: $(tail -20 "$T/build.log")"

R=$T/root
UNITS=/usr/lib/systemd/system
vars=(DESTDIR="$R" PREFIX=/usr SYSTEMDUNITDIR=$UNITS)
# Somebody else's files where ours go: uninstall must leave them.
mkdir -p "$R/usr/bin" "$R/usr/share/man/man1" "$R/usr/share/doc/other" "$R$UNITS"
for f in usr/bin/other usr/share/man/man1/other.1 usr/share/doc/other/README "${UNITS#/}/other.service"; do
    echo theirs >"$R/$f"
done
rc=0; make -C "$T/src" install "${vars[@]}" >"$T/install.log" 2>&1 || rc=$?
is "$rc" 0 "make install DESTDIR=... PREFIX=/usr SYSTEMDUNITDIR=$UNITS"
check "and it built nothing more (install needs only what all built)" sh -c "! grep -q '^cc ' '$T/install.log'"

# Exactly these files, and no program named client, serveur_maitre, ...
D=usr/share/doc/serveur-multiprocesseurs
expect=$( {
    printf '%s\n' usr/bin/smp-client usr/bin/smp-maitre usr/bin/smp-esclave \
        usr/share/man/man1/smp-client.1 usr/share/man/man5/smp-slaves.conf.5 \
        usr/share/man/man8/smp-maitre.8 usr/share/man/man8/smp-esclave.8 \
        "$D/README.md" "$D/slaves.conf" "${UNITS#/}/smp-maitre.service" "${UNITS#/}/smp-esclave@.service" \
        usr/lib/sysusers.d/smp.conf
    (cd "$T/src" && ls doc/*.md doc/*.png) | sed "s,^,$D/,"
    printf '%s\n' usr/bin/other usr/share/man/man1/other.1 usr/share/doc/other/README "${UNITS#/}/other.service"
} | sort)
is "$(cd "$R" && find . -type f | sed 's,^\./,,' | sort)" "$expect" "installed: the three programs as smp-*, four man pages, the docs, slaves.conf, two units and their user"
for p in client:smp-client serveur_maitre:smp-maitre serveur_esclave:smp-esclave; do
    build=${p%%:*} inst=${p#*:}
    check "$inst is executable" test -x "$R/usr/bin/$inst"
    is "$("$R/usr/bin/$inst" --version 2>&1)" "$("$T/src/$build" --version 2>&1)" "$inst --version runs, as $build's ($("$R/usr/bin/$inst" --version 2>&1))"
    cmp -s "$R/usr/bin/$inst" "$T/src/$build"; ok $? "$inst is the $build just built"
done
check "the docs keep their layout (README's doc/ links work)" test -f "$R/$D/doc/protocol.md"
cmp -s "$R/$D/slaves.conf" "$T/src/slaves.conf"; ok $? "the example slaves.conf is the tree's"

# The man pages: each renders, without a warning, under its name.
M=$R/usr/share/man
MANL=(env MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l)
pages="man1/smp-client.1 man5/smp-slaves.conf.5 man8/smp-maitre.8 man8/smp-esclave.8"
for page in $pages; do
    name=$(basename "$page"); name=${name%.*}
    rc=0; "${MANL[@]}" "$M/$page" >"$T/$name.txt" 2>"$T/$name.err" || rc=$?
    is "$rc/$(cat "$T/$name.err")" "0/" "man -l $page: exit 0, no warning from groff"
    check "man -l $page: NAME is $name, with the sections" sh -c "grep -A1 '^NAME' '$T/$name.txt' | grep -q '^ *$name — ' && grep -q '^DESCRIPTION' '$T/$name.txt' && grep -q '^SEE ALSO' '$T/$name.txt'"
    check "man -l $page: no unsubstituted or source path (/usr/local, @)" sh -c "! grep -qE '/usr/local|@[A-Z]+@' '$T/$name.txt'"
done
for page in man1/smp-client.1 man8/smp-maitre.8 man8/smp-esclave.8; do
    name=$(basename "$page"); name=${name%.*}
    check "$name(${page##*.}): ENVIRONMENT SMP_KEY_FILE and EXIT STATUS" sh -c "grep -q '^ENVIRONMENT' '$T/$name.txt' && grep -q '^     SMP_KEY_FILE' '$T/$name.txt' && grep -q '^EXIT STATUS' '$T/$name.txt' && grep -q '^EXAMPLES' '$T/$name.txt'"
done
check "the installed man pages name the installed docs" grep -q "/usr/share/doc/serveur-multiprocesseurs" "$T/smp-maitre.txt"
if command -v mandoc >/dev/null; then
    for page in $pages; do
        out=$(mandoc -T lint -W warning "$M/$page" 2>&1)
        is "$out" "" "mandoc -T lint: nothing worse than style in $page"
    done
else
    echo "ok $((_tap_n + 1)) # SKIP mandoc -T lint: no mandoc (apt-get install mandoc)"; _tap_n=$((_tap_n + 1))
fi
# man finds them by name with MANPATH (as man smp-maitre does once installed).
check "MANPATH=...: man 8 smp-maitre finds the page" sh -c "MANPATH='$M' MANWIDTH=80 man 8 smp-maitre 2>/dev/null | grep -q '^NAME'"

# Every option of a program's --help is in its page's OPTIONS, and every
# option of the page's OPTIONS is in --help.
help_opts() { "$1" --help 2>&1 | grep -oE '^ {1,8}(-[A-Za-z], )?--[a-z][a-z0-9-]*' | grep -oE -- '-[A-Za-z]\b|--[a-z][a-z0-9-]*' | sort -u; }
page_opts() { sed -n '/^OPTIONS/,/^[A-Z]/p' "$1" | grep -E '^     -' | grep -oE -- '(^ +|, )(-[A-Za-z]\b|--[a-z][a-z0-9-]*)' | sed 's/^[ ,]*//' | sort -u; }
for p in smp-client:smp-client smp-maitre:smp-maitre smp-esclave:smp-esclave; do
    inst=${p%%:*}
    help=$(help_opts "$R/usr/bin/$inst"); page=$(page_opts "$T/$inst.txt")
    check "$inst --help lists options (parsed: $(echo $help | wc -w))" test "$(echo $help | wc -w)" -ge 8
    missing=$(comm -23 <(echo "$help") <(echo "$page") | tr '\n' ' ')
    is "$missing" "" "every option of $inst --help is in its man page's OPTIONS"
    extra=$(comm -13 <(echo "$help") <(echo "$page") | tr '\n' ' ')
    is "$extra" "" "no option in $inst's man page that --help lacks"
done
check "smp-maitre(8) says -K, and that -k is gone" sh -c "grep -q '^     -K, --key-file file' '$T/smp-maitre.txt' && grep -q 'exits 2 naming -K' '$T/smp-maitre.txt'"

# The units: their programs are the installed ones; systemd-analyze accepts
# them (with the DESTDIR prefix, where the programs are).
for u in smp-maitre.service smp-esclave@.service; do
    exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$R$UNITS/$u")
    check "$u: ExecStart $exe is installed and executable" test -x "$R$exe"
    check "$u: Type=simple, KillSignal=SIGTERM, TimeoutStopSec" sh -c "grep -qx 'Type=simple' '$R$UNITS/$u' && grep -qx 'KillSignal=SIGTERM' '$R$UNITS/$u' && grep -qx 'TimeoutStopSec=30' '$R$UNITS/$u'"
    check "$u: its config paths are the install's (/etc/serveur-multiprocesseurs), no /usr/local left" sh -c "grep -q '/etc/serveur-multiprocesseurs/' '$R$UNITS/$u' && ! grep -q '/usr/local' '$R$UNITS/$u'"
done
check "smp-maitre.service: ExecReload sends SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$R$UNITS/smp-maitre.service"
check "smp-maitre.service: the user smp, its state dir, ProtectSystem=strict" sh -c "grep -qx 'User=smp' '$R$UNITS/smp-maitre.service' && grep -qx 'StateDirectory=smp-maitre' '$R$UNITS/smp-maitre.service' && grep -qx 'ProtectSystem=strict' '$R$UNITS/smp-maitre.service'"
check "smp-esclave@.service: the user smp, ProtectSystem=full (its commands write files)" sh -c "grep -qx 'User=smp' '$R$UNITS/smp-esclave@.service' && grep -qx 'ProtectSystem=full' '$R$UNITS/smp-esclave@.service'"
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$T/sysroot/etc" "$T/sysroot/usr/lib/sysusers.d" && cp "$R/usr/lib/sysusers.d/smp.conf" "$T/sysroot/usr/lib/sysusers.d/"
    systemd-sysusers --root="$T/sysroot" >"$T/sysusers.log" 2>&1
    check "systemd-sysusers makes the units' user and group smp from the installed smp.conf" sh -c "grep -q '^smp:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' '$T/sysroot/etc/passwd' && grep -q '^smp:x:' '$T/sysroot/etc/group'"
else
    echo "ok $((_tap_n + 1)) # SKIP systemd-sysusers: not installed (apt-get install systemd)"; _tap_n=$((_tap_n + 1))
fi
grace=$(sed -n 's/^#define DEFAULT_GRACE_SECONDS \([0-9]*\)/\1/p' "$T/src/serveur_maitre.c")
check "smp-maitre.service: TimeoutStopSec (30) exceeds the default --grace ($grace s)" test 30 -gt "$grace"
mkdir -p "$T/verify"
for u in smp-maitre.service smp-esclave@.service; do
    sed "s,=/usr/bin/,=$R/usr/bin/," "$R$UNITS/$u" >"$T/verify/$u"
done
cp "$T/verify/smp-esclave@.service" "$T/verify/smp-esclave@10001.service"
if command -v systemd-analyze >/dev/null; then
    rc=0; out=$(MANPATH=$M systemd-analyze verify "$T/verify/smp-maitre.service" "$T/verify/smp-esclave@10001.service" 2>&1) || rc=$?
    is "$rc/$out" "0/" "systemd-analyze verify: both units, their programs and man pages found, no complaint"
    # And it does complain: the same unit with a misspelt directive.
    sed 's/^KillSignal=/KilSignal=/' "$T/verify/smp-maitre.service" >"$T/verify/bad.service"
    out=$(MANPATH=$M systemd-analyze verify "$T/verify/bad.service" 2>&1)
    check "(systemd-analyze verify does report a bad directive)" sh -c "echo '$out' | grep -q KilSignal"
    # The sandboxes, as systemd scores them (0 best, 10 worst; 252 gives
    # 1.8 and 5.8): the master locked down, the slave less (its commands
    # live in it: README.md, "Install").
    for u in smp-maitre.service:30 smp-esclave@10001.service:70; do
        out=$(cd "$T/verify" && systemd-analyze security --offline=yes --threshold="${u#*:}" "$T/verify/${u%:*}" 2>&1); rc=$?
        check "systemd-analyze security: ${u%:*} exposure at most $(( ${u#*:} / 10 )).0 ($(echo "$out" | grep -o 'level for [^ ]*: [0-9.]*' | sed 's/.*: //'))" test "$rc" = 0
    done
else
    echo "ok $((_tap_n + 1)) # SKIP systemd-analyze verify: no systemd-analyze (apt-get install systemd)"; _tap_n=$((_tap_n + 1))
fi

# The units' command lines, as systemd would run them (port 0, the state
# dir and slaves.conf of the test), start a master and a slave that serve.
unit_cmd() { sed -n 's/^ExecStart=//p' "$R$UNITS/$1" | sed -e "s,^/,$R/," -e "s,%i,0," -e "s,\\\${STATE_DIRECTORY},$T/state-dir," \
    -e "s,\\\$SMP_[A-Z]*_OPTS ,," -e "s,\\\${SMP_MAITRE_PORT},0," -e "s,/etc/serveur-multiprocesseurs/slaves.conf,$T/slaves.conf,"; }
mkdir -p "$T/wd"
(cd "$T/wd" && exec $(unit_cmd smp-esclave@.service)) >"$T/slave.log" 2>&1 &
PIDS+=($!)
line=$(wait_for_line "$T/slave.log" 'listening on UDP' 20) || bail "the slave unit's command did not start: $(unit_cmd smp-esclave@.service): $(cat "$T/slave.log")"
echo "127.0.0.1 $(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')" >"$T/slaves.conf"
mkdir -m 700 "$T/state-dir"
$(unit_cmd smp-maitre.service) >"$T/master.log" 2>&1 &
PIDS+=($!)
line=$(wait_for_line "$T/master.log" 'listening on TCP' 20) || bail "the master unit's command did not start: $(unit_cmd smp-maitre.service): $(cat "$T/master.log")"
port=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
wait_slaves_up master 1 || bail "slave not up: $(cat "$T/master.log")"
printf 'echo installed-ok\npwd\n' >"$T/cmds"
rc=0; timeout 60 "$R/usr/bin/smp-client" -q -k 127.0.0.1 "$port" "$T/cmds" >"$T/out" 2>&1 || rc=$?
is "$rc/$(tr '\n' ' ' <"$T/out")" "0/installed-ok $T/wd " "the units' commands: smp-maitre and smp-esclave@ serve smp-client"
check "the master keeps its journal in the unit's state dir" test -s "$T/state-dir/journal"
check "the installed programs log under their own names (maitre, esclave:PORT)" sh -c "grep -q '^.*maitre.*listening on TCP' '$T/master.log' && grep -q 'esclave:0' '$T/slave.log'"
stop_all

# uninstall removes what install put, and nothing else.
rc=0; make -C "$T/src" uninstall "${vars[@]}" >"$T/uninstall.log" 2>&1 || rc=$?
is "$rc" 0 "make uninstall with the same variables"
is "$(cd "$R" && find . ! -type d | sed 's,^\./,,' | sort | tr '\n' ' ')" \
    "$(printf '%s\n' usr/bin/other usr/share/man/man1/other.1 usr/share/doc/other/README "${UNITS#/}/other.service" | sort | tr '\n' ' ')" \
    "after uninstall: only the files that were not ours"
check "and our doc dir is gone" test ! -e "$R/$D"

# The defaults: PREFIX=/usr/local, SYSCONFDIR /usr/local/etc, no units.
R2=$T/root2
rc=0; make -C "$T/src" install DESTDIR="$R2" >"$T/install2.log" 2>&1 || rc=$?
is "$rc/$(cd "$R2" && find . -name '*.service' | wc -l)" "0/0" "make install DESTDIR=... alone: no unit without SYSTEMDUNITDIR"
check "... programs in /usr/local/bin, pages in /usr/local/share/man" test -x "$R2/usr/local/bin/smp-maitre" -a -f "$R2/usr/local/share/man/man8/smp-maitre.8"
check "... the pages name /usr/local/share/doc and /usr/local/etc" sh -c "grep -q '/usr/local/share/doc/serveur-multiprocesseurs' '$R2/usr/local/share/man/man8/smp-maitre.8' && grep -q '/usr/local/etc/serveur-multiprocesseurs/slaves.conf' '$R2/usr/local/share/man/man8/smp-maitre.8'"
make -C "$T/src" uninstall DESTDIR="$R2" >/dev/null 2>&1
is "$(cd "$R2" && find . ! -type d | wc -l)" 0 "make uninstall DESTDIR=...: no file left"

done_testing
