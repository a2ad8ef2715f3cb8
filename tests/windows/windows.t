#!/usr/bin/env bash
# The Windows build (make windows: client.exe, serveur_maitre.exe,
# serveur_esclave.exe) under Wine: alone, with the .bat scripts, and mixed
# with the Linux programs to show that both speak the same protocol. Run by
# `make test-windows`, not by `make test` (it is not in tests/*.t).
#
# Wine's output is the Windows programs' own: cmd.exe ends lines with
# "\r\n", which results carry byte for byte; the programs' own lines end
# with "\n" (their standard streams are binary). Exit statuses of Windows
# processes reach Linux cut to 8 bits.
. "$(dirname "$0")/../lib.sh"

WIN_CC=x86_64-w64-mingw32-gcc
if ! command -v "$WIN_CC" >/dev/null || ! command -v wine >/dev/null || ! command -v wineserver >/dev/null; then
    skip_all "install mingw-w64 and wine: apt-get install gcc-mingw-w64-x86-64 wine wine64"
fi
for p in client serveur_maitre serveur_esclave; do
    [ -f "$TOP/$p.exe" ] || bail "no $p.exe: run make windows (make test-windows does)"
done

# One prefix, kept between runs (making one takes seconds and ~700 MB);
# wineserver -p keeps later starts fast, -k ends whatever is left.
export WINEPREFIX=${SMP_WINEPREFIX:-/tmp/smp-wineprefix-$(id -u)}
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    wineboot -i >/dev/null 2>&1
    wineserver -w
fi
wineserver -p
trap 'cleanup; wineserver -k >/dev/null 2>&1' EXIT

winpath() { winepath -w "$1" 2>/dev/null; }

# The Windows programs, started by lib.sh's helpers: wslave NAME [options]
# (WSLAVE_PORT, WSLAVE_PID), wmaster NAME CONF [options] (MASTER_PORT,
# MASTER_PID), wclient [options and file] (RC, $T/out, $T/err).
windows_build() { PROG_RUNNER=wine PROG_DIR=$TOP PROG_EXT=.exe START_WAIT=30 "$@"; }
wslave() { windows_build start_slave "$@"; WSLAVE_PORT=$SLAVE_PORT WSLAVE_PID=$SLAVE_PID; }
wmaster() { local name=$1 conf=$2; shift 2; windows_build start_master "$name" "$(winpath "$conf")" "$@"; }
wclient() { windows_build run_client "$@"; }

# alive PATTERN: Windows processes whose command line matches (zombies,
# which Wine can leave behind in a container, have none).
alive() { pgrep -f "$1" | wc -l; }

free_ports() { # free_ports N: N free UDP ports then a free TCP port
    python3 -c '
import socket, sys
u = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[1]))]
t = socket.socket()
for s in u + [t]: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in u + [t]])' "$1"
}

# ------------------------------------------------------------ the build ---

# compile.bat says what make windows does, in the same words...
make -s -C "$TOP" windows-sources >"$T/win-sources" 2>&1
missing=$(grep '^set ' "$T/win-sources" | while read -r line; do grep -qxF "$line" <(tr -d '\r' <"$TOP/compile.bat") || echo "$line"; done)
is "$missing" "" "compile.bat sets the same sources and flags as make windows"

# ...and builds the three programs when run by Wine's cmd.exe, a stand-in
# for MinGW's gcc.exe on the PATH running the cross compiler (Wine starts
# Linux programs without waiting for them: the stand-in logs its end).
mkdir -p "$T/src" "$T/bin"
cp -r "$TOP"/*.c "$TOP"/*.h "$TOP/compile.bat" "$TOP/lib" "$TOP/master" "$TOP/slave" "$TOP/report" "$T/src/"
cat >"$T/bin/gcc.exe" <<EOF
#!/bin/sh
$WIN_CC "\$@" 2>>"$T/gcc.err"
echo "\$? \$*" >>"$T/gcc.log"
EOF
chmod +x "$T/bin/gcc.exe"
: >"$T/gcc.err"
WINEPATH=$(winpath "$T/bin") wine cmd /c "$(winpath "$T/src/compile.bat")" >"$T/compile.out" 2>&1
for _ in $(seq 1 600); do [ "$(cat "$T/gcc.log" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.2; done
src() { sed -n "s/^set $1=//p; s/^$1=//p" "$T/win-sources"; }
flags="$(src CFLAGS) $(src LDFLAGS)"
# The files of a folder come in the order the directory lists them: each
# gcc line is compared as a sorted set of words.
words() { while read -r line; do tr ' ' '\n' <<<"$line" | sort | tr '\n' ' '; echo; done | sort; }
expected=$(printf '%s\n' \
    "0 $flags -o client.exe $(src CLIENT) $(src LIB) $(src LDLIBS)" \
    "0 $flags -o serveur_maitre.exe $(src MASTER) $(src LIB) $(src LDLIBS)" \
    "0 $flags -o serveur_esclave.exe $(src SLAVE) $(src LIB) $(src LDLIBS)" | words)
is "$(words <"$T/gcc.log" 2>/dev/null)" "$expected" "compile.bat runs gcc on the three programs' sources, every file of their folders, and each succeeds"
is "$(cat "$T/gcc.err")" "" "compile.bat's build has no warning"
n=0; for p in client serveur_maitre serveur_esclave; do [ -s "$T/src/$p.exe" ] && n=$((n + 1)); done
is "$n" 3 "compile.bat made client.exe, serveur_maitre.exe and serveur_esclave.exe"

# -------------------------------------------- Windows programs together ---

wslave w1 -o 2K
W1=$WSLAVE_PORT W1_PID=$WSLAVE_PID
wslave w2 -o 2K
W2=$WSLAVE_PORT
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$W1" "$W2" >"$T/win.conf"
wmaster wm "$T/win.conf" --http 127.0.0.1:0
wait_slaves_up wm 2
ok $? "a Windows master hears from two Windows slaves (ports chosen with 0)"
# --http on Windows: the same page, JSON and metrics from the same loop.
http_port wm
is "$(curl -s -m 10 "${HTTP_URL}status.json" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["slaves_up"], [s["jobs"] for s in j["slaves"]])')" \
    "2 [[], []]" "--http: the Windows master's /status.json (2 slaves up, nothing running)"
curl -s -m 10 "${HTTP_URL}metrics" >"$T/win.metrics"
is "$(awk '$1 == "smp_slaves_up" { print $2 }' "$T/win.metrics")" 2 "--http: its /metrics"
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/win.metrics" >/dev/null 2>&1
    ok $? "--http: promtool check metrics passes on the Windows master's"
fi
is "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Host: evil.example' "${HTTP_URL}metrics")" 403 \
    "--http: the Host guard on Windows too"

cat >"$T/cmds.txt" <<'EOF'
echo hello
echo err 1>&2
exit /b 3
ping -n 30 127.0.0.1 >nul
for /l %i in (1,1,300) do @echo 0123456789
EOF
res=$T/res
wclient --timeout 2 --results "$(winpath "$res")\\win" --joblog "$T/joblog" "$T/cmds.txt"
is "$RC" 2 "exit status: 2 commands failed (exit /b 3, the timeout)"
is "$(od -An -c "$res/win/1/stdout" | tr -s ' ')" " h e l l o \r \n" "stdout of 'echo hello' byte for byte (cmd.exe writes \\r\\n)"
is "$(od -An -c "$res/win/2/stderr" | tr -s ' ')" " e r r \r \n" "stderr captured apart (cmd.exe keeps the blank before 1>&2)"
is "$(cat "$res/win/2/stdout")" "" "and nothing on that command's stdout"
is "$(stat -c %s "$res/win/5/stdout")" 2048 "output beyond the slave's -o 2K cap is cut at exactly 2048 bytes"
check "the client warns that it was cut" grep -q 'warning: command 5: stdout truncated to 2048 bytes' "$T/err"
check "the timed-out command is reported as such" grep -q '^==> \[4\].*timed out' "$T/err"
is "$(alive 'ping -n 30 127.0.0.1')" 0 "the timeout killed the whole tree: cmd.exe and ping.exe are gone"
check "--results took a Windows path (drive letter, backslashes)" test -d "$res/win/1"
is "$(grep -c $'\r' "$T/joblog")" 0 "the joblog has Unix line ends, as on Linux"
is "$(cut -f1,7,8 "$T/joblog" | sort -n | tr '\t\n' ' ;')" \
    "Seq Exitval Signal;1 0 0;2 0 0;3 3 0;4 -1 9;5 0 0;" "joblog: exit codes, and the timeout as signal 9 like a POSIX slave"
check "every joblog host is one of the Windows slaves" \
    awk -F'\t' -v a="127.0.0.1:$W1" -v b="127.0.0.1:$W2" 'NR > 1 && $2 != a && $2 != b { exit 1 }' "$T/joblog"

python3 -c 'print("echo " + "x" * 40000)' >"$T/long-line.txt"
wclient "$T/long-line.txt"
is "$RC" 1 "a command longer than a Windows command line fails..."
check "...not started, saying why" grep -q 'too long for Windows' "$T/out" "$T/err"

printf 'echo one\r\necho two\r\n' >"$T/crlf.txt"
RC=0
timeout 60 wine "$TOP/client.exe" -k -q 127.0.0.1 "$MASTER_PORT" - <"$T/crlf.txt" >"$T/out" 2>"$T/err" || RC=$?
is "$RC/$(od -An -c "$T/out" | tr -s ' ')" "0/ o n e \r \n t w o \r \n" "standard input (-), a CRLF file, -k order"

wclient --json --timeout 2 "$T/cmds.txt"
check "--json: status timed_out, signal 9" grep -q '"seq":4,.*"status":"timed_out".*"signal":9' "$T/out"
check "--json: stdout_truncated" grep -q '"seq":5,.*"stdout_truncated":true' "$T/out"

# Ctrl-C (Wine turns SIGINT into CTRL_C_EVENT): a slave kills its running
# command and exits 0; killed outright (SIGTERM: no handler under Wine),
# its commands die with it all the same (the job object is closed).
wslave w3 -v
W3=$WSLAVE_PORT W3_PID=$WSLAVE_PID
wslave w4 -v
W4=$WSLAVE_PORT W4_PID=$WSLAVE_PID
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$W3" "$W4" >"$T/w34.conf"
wmaster wm2 "$T/w34.conf" --grace 1
wait_slaves_up wm2 2
printf 'ping -n 40 127.0.0.1 >nul\nping -n 41 127.0.0.1 >nul\n' >"$T/long.txt"
timeout 120 wine "$TOP/client.exe" 127.0.0.1 "$MASTER_PORT" "$T/long.txt" >"$T/long.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do [ "$(alive 'ping -n 4[01] 127.0.0.1')" -ge 4 ] && break; sleep 0.1; done
is "$(alive 'ping -n 4[01] 127.0.0.1')" 4 "two long commands run (cmd.exe and ping.exe each)"
on3=$(grep -o 'ping -n 4[01]' "$T/w3.log" | head -1)
# By PID: the slave says it leaves, and the master runs that command again
# at once on w4, under the same command line.
pids3=$(pgrep -f "$on3 127.0.0.1" | tr '\n' ' ')
still() { local p n=0; for p in $1; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo $n; }
kill -INT "$W3_PID"
rc=0; for _ in $(seq 1 100); do kill -0 "$W3_PID" 2>/dev/null || break; sleep 0.1; done
wait "$W3_PID" || rc=$?
is "$rc" 0 "Ctrl-C: the Windows slave exits 0"
check "it said it was killing its command" grep -q 'stopping: killing 1 running commands' "$T/w3.log"
for _ in $(seq 1 20); do [ "$(still "$pids3")" = 0 ] && break; sleep 0.1; done
is "$(still "$pids3")" 0 "and its command's processes are gone"
on4=$(grep -o 'ping -n 4[01]' "$T/w4.log" | head -1)
kill -TERM "$W4_PID"
wait "$W4_PID" 2>/dev/null
for _ in $(seq 1 50); do [ "$(alive "$on4 127.0.0.1")" = 0 ] && break; sleep 0.1; done
is "$(alive "$on4 127.0.0.1")" 0 "a slave killed outright takes its command's processes with it"

kill -INT "$MASTER_PID"
rc=0; for _ in $(seq 1 150); do kill -0 "$MASTER_PID" 2>/dev/null || break; sleep 0.1; done
wait "$MASTER_PID" || rc=$?
is "$rc" 0 "Ctrl-C: the Windows master shuts down cleanly (exit 0)"
check "it said so" grep -q 'shutting down' "$T/wm2.log"
stop_all

# ------------------------------------- output nobody reads, on Windows ---

# A Windows daemon whose stdout and stderr are a pipe nobody reads
# (started from a script piping its output to a program that stopped
# reading) goes on serving: a line with no room is dropped and counted
# (lib/platform_win32.c plat_write_nowait, its writer thread), as on Linux
# (log_frozen.t). Wine hands the Unix pipe to the program as a Windows
# pipe handle, and WriteFile on it blocked once the pipe was full: the
# daemons stopped at the first few dozen commands.
mkfifo "$T/wps.fifo" "$T/wpm.fifo"
exec 7<>"$T/wps.fifo" 8<>"$T/wpm.fifo" # held open; read only up to the listening line
# 4 KiB pipes (Linux F_SETPIPE_SZ) fill within the first commands
python3 -c 'import fcntl; [fcntl.fcntl(fd, 1031, 4096) for fd in (7, 8)]'
quiet() { "$@" >/dev/null; }
read_until() { # read_until FD PATTERN: the first line from FD matching PATTERN (byte by byte), within 30 s
    local line
    while IFS= read -r -t 30 -u "$1" line; do
        case "$line" in *$2*) echo "$line"; return 0 ;; esac
    done
    return 1
}
mkdir -p "$T/wps"
(cd "$T/wps" && exec wine "$TOP/serveur_esclave.exe" -v -j 8 0) >"$T/wps.fifo" 2>&1 &
WPS_PID=$!
PIDS+=("$WPS_PID")
line=$(read_until 7 'listening on UDP') || bail "Windows slave (output unread) did not start"
echo "127.0.0.1 $(echo "$line" | sed -E 's/.*UDP [^ ]*:([0-9]+) .*/\1/')" >"$T/wp.conf"
wine "$TOP/serveur_maitre.exe" -v --ephemeral 0 "$(winpath "$T/wp.conf")" >"$T/wpm.fifo" 2>&1 &
WPM_PID=$!
PIDS+=("$WPM_PID")
line=$(read_until 8 'listening on TCP') || bail "Windows master (output unread) did not start"
WPM_PORT=$(echo "$line" | sed -E 's/.*TCP [^ ]*:([0-9]+),.*/\1/')
read_until 8 'is up with' >/dev/null || bail "Windows master (output unread) did not hear from its slave"
for i in $(seq 1 800); do echo "echo $i"; done >"$T/wp.txt"
RC=0
start=$(date +%s)
timeout 240 "$BIN/client" -q 127.0.0.1 "$WPM_PORT" "$T/wp.txt" >"$T/wp.out" 2>"$T/wp.err" || RC=$?
echo "# the 800 commands took $(( $(date +%s) - start )) s" >&2
is "$RC" 0 "Windows daemons whose stdout and stderr nobody reads run a client's 800 commands"
is "$(tr -d '\r' <"$T/wp.out" | sort -n | uniq | wc -l)" 800 "and every result came back"
# The master's pipe reads again: what is queued comes out in whole lines,
# and the next line says how many were dropped meanwhile.
cat <&8 >"$T/wpm.rest" &
PIDS+=($!)
wait_for_line "$T/wpm.rest" '<- slave' 20 >/dev/null
echo 'echo after' >"$T/wp1.txt"
RC=0
timeout 60 "$BIN/client" -q 127.0.0.1 "$WPM_PORT" "$T/wp1.txt" >/dev/null 2>&1 || RC=$?
is "$RC" 0 "the master's output read again, it runs one more command"
check "its console said how many of its lines it dropped" \
    quiet wait_for_line "$T/wpm.rest" '^\(console: [0-9]+ lines or blocks dropped: nobody read the console\)$' 10
# The slave, still unread, stops on Ctrl-C (Wine's SIGINT) at once: its
# last lines wait at most a second for a reader.
start=$(date +%s%N)
kill -INT "$WPS_PID"
for _ in $(seq 1 100); do kill -0 "$WPS_PID" 2>/dev/null || break; sleep 0.1; done
echo "# the slave stopped in $(( ($(date +%s%N) - start) / 1000000 )) ms" >&2
check "Ctrl-C stops the Windows slave whose output nobody reads within 10 s" sh -c "! kill -0 $WPS_PID 2>/dev/null"
kill -INT "$WPM_PID"
for _ in $(seq 1 100); do kill -0 "$WPM_PID" 2>/dev/null || break; sleep 0.1; done
check "Ctrl-C stops that Windows master within 10 s" sh -c "! kill -0 $WPM_PID 2>/dev/null"
check "its last line came out: it is shutting down" quiet wait_for_line "$T/wpm.rest" 'maitre: info: .*shutting down' 10
check "it said how many log lines it dropped" grep -Eq '^\(log: [0-9]+ lines or blocks dropped: nobody read the log\)$' "$T/wpm.rest"
is "$(grep -Evc '^([0-9:]{8} maitre: [a-z]+: |\[[0-9]+\] |\((log|console): [0-9]+ lines or blocks dropped)' "$T/wpm.rest")" 0 \
    "every line that came out is whole (stdout's and stderr's on one pipe)"
exec 7<&- 8<&-
stop_all

# ------------------------------------------- the journal, on Windows ---

# The Windows master keeps its journal (the default state dir is under
# %LOCALAPPDATA%), is killed outright in the middle of a batch, and a new
# one on the same port and state dir goes on: the same (Linux) client
# process ends with every result, and no command ran twice.
wslave wj1 -j 2
WJ1=$WSLAVE_PORT
wslave wj2 -j 2
printf '127.0.0.1 %s\n127.0.0.1 %s\n' "$WJ1" "$WSLAVE_PORT" >"$T/wj.conf"
wmaster wjm "$T/wj.conf"
wait_slaves_up wjm 2 || bail "Windows slaves not up for wjm"
check "the Windows master keeps a journal in its default state dir" grep -q 'state dir: .*serveur_maitre.port-' "$T/wjm.log"
WJ_PORT=$MASTER_PORT
mkdir -p "$T/wjmark"
WMARK=$(winpath "$T/wjmark")
for n in $(seq 1 24); do echo "ping -n 2 127.0.0.1 >nul & echo x>>$WMARK\\$n& echo out-$n"; done >"$T/wj.txt"
timeout 240 "$(prog client)" -k --joblog "$T/wj.joblog" 127.0.0.1 "$WJ_PORT" "$T/wj.txt" >"$T/wj.out" 2>"$T/wj.err" &
WJC=$!
PIDS+=("$WJC")
for _ in $(seq 1 300); do [ "$(tail -n +2 "$T/wj.joblog" 2>/dev/null | wc -l)" -ge 6 ] && break; sleep 0.1; done
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null
check "results came before the kill" test "$(tail -n +2 "$T/wj.joblog" | wc -l)" -ge 6
MASTER_ON_PORT=$WJ_PORT wmaster wjm2 "$T/wj.conf"
check "the new Windows master replays the journal" grep -q 'records replayed' "$T/wjm2.log"
RC=0
wait "$WJC" || RC=$?
is "$RC" 0 "the same client process ends with exit 0"
is "$(tr -d '\r' <"$T/wj.out" | grep -c '^out-')" 24 "every result, once"
is "$(tr -d '\r' <"$T/wj.out" | grep '^out-' | tr '\n' ' ')" "$(for n in $(seq 1 24); do printf 'out-%s ' "$n"; done)" \
    "in input order (-k), byte for byte"
twice=0 missing=0
for n in $(seq 1 24); do
    if [ ! -f "$T/wjmark/$n" ]; then missing=$((missing + 1)); elif [ "$(wc -l <"$T/wjmark/$n")" != 1 ]; then twice=$((twice + 1)); fi
done
is "$missing/$twice" "0/0" "every command ran, none twice"
stop_all

# ---------------------------------------------------------- the scripts ---

read -r p1 p2 mp < <(free_ports 2)
mkdir -p "$T/run"
printf '# two local slaves\r\n127.0.0.1 %s 2\r\nlocalhost %s # default slots\r\n' "$p1" "$p2" >"$T/run/slaves.conf"
export RUN_DIR
RUN_DIR=$(winpath "$T/run")
rc=0; wine cmd /c "$(winpath "$TOP/start_servers.bat")" "$(winpath "$T/run/slaves.conf")" "$mp" >"$T/start.out" 2>&1 || rc=$?
is "$rc" 0 "start_servers.bat succeeds"
wait_for_line "$T/run/logs/maitre.log" 'listening on TCP' 20 >/dev/null
check "the master was started on the given port" grep -q "listening on TCP 127.0.0.1:$mp," "$T/run/logs/maitre.log"
check "the slots column was passed as -j" grep -q "listening on UDP 127.0.0.1:$p1 with 2 slots" "$T/run/logs/esclave-$p1.log"
check "a comment after the port is not taken for slots" grep -q "listening on UDP 127.0.0.1:$p2 with" "$T/run/logs/esclave-$p2.log"
for _ in $(seq 1 100); do [ "$(grep -c 'is up with' "$T/run/logs/maitre.log")" -ge 2 ] && break; sleep 0.1; done
printf 'echo via-scripts\n' >"$T/c.txt"
RC=0; timeout 60 wine "$TOP/client.exe" -q 127.0.0.1 "$mp" "$T/c.txt" >"$T/out" 2>"$T/err" || RC=$?
is "$RC/$(tr -d '\r' <"$T/out")" "0/via-scripts" "the Windows client runs a command through them"
rc=0; wine cmd /c "$(winpath "$TOP/start_servers.bat")" "$(winpath "$T/run/slaves.conf")" "$mp" >"$T/again.out" 2>&1 || rc=$?
check "starting twice is refused" test "$rc" != 0
wine cmd /c "$(winpath "$TOP/stop_servers.bat")" >"$T/stop.out" 2>&1
for _ in $(seq 1 50); do [ "$(alive 'serveur_(maitre|esclave)\.exe')" = 0 ] && break; sleep 0.1; done
is "$(alive 'serveur_(maitre|esclave)\.exe')" 0 "stop_servers.bat stops the master and the slaves"
check "and removes its marker" test ! -e "$T/run/.servers.started"
unset RUN_DIR

# ---------------------------------------------------------------- mixed ---

# The Linux master and client with a Windows slave.
wslave wmix
printf '127.0.0.1 %s\n' "$WSLAVE_PORT" >"$T/mix.conf"
start_master lm "$T/mix.conf" --no-slave-timeout 10
wait_slaves_up lm 1
ok $? "the Linux master hears from a Windows slave"
printf 'echo mixed\nexit /b 5\n' >"$T/mix.txt"
run_client -k --joblog "$T/mix.joblog" "$T/mix.txt"
is "$RC" 1 "Linux client: one command failed"
is "$(head -c 7 "$T/out" | od -An -c | tr -s ' ')" " m i x e d \r \n" "Linux client, Windows slave: cmd.exe's output byte for byte"
is "$(cut -f7 "$T/mix.joblog" | tail -n +2 | tr '\n' ' ')" "0 5 " "and its exit codes"
stop_all

# The Windows client with the Linux master and Linux slaves (/bin/sh).
cluster 2
printf 'echo from-linux; echo oops >&2; exit 4\necho $((6 * 7))\n' >"$T/lin.txt"
wclient -k --joblog "$T/lin.joblog" "$T/lin.txt"
is "$RC" 1 "Windows client, Linux master and slaves: one command failed"
is "$(head -c 11 "$T/out" | od -An -c | tr -s ' ')" " f r o m - l i n u x \n" "/bin/sh's output (\\n) byte for byte"
check "stderr relayed to the Windows client's stderr" grep -q '^oops$' "$T/err"
is "$(cut -f7 "$T/lin.joblog" | tail -n +2 | tr '\n' ' ')" "4 0 " "exit codes"
check "\$((6 * 7)) was /bin/sh's" grep -qx '42' "$T/out"
stop_all

# Authenticated, mixed: a key file, the Windows client and slave, the Linux master.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key"
chmod 600 "$T/key"
wslave wkey --key-file "$(winpath "$T/key")"
printf '127.0.0.1 %s\n' "$WSLAVE_PORT" >"$T/key.conf"
start_master lkey "$T/key.conf" --key-file "$T/key" --no-slave-timeout 10
wait_slaves_up lkey 1
ok $? "with a key, the Linux master hears from the Windows slave"
printf 'echo signed\n' >"$T/key.txt"
wclient -q --key-file "$(winpath "$T/key")" "$T/key.txt"
is "$RC/$(tr -d '\r' <"$T/out")" "0/signed" "with a key, the Windows client runs a command through both"
wclient -q "$T/key.txt"
check "without the key, the Windows client is refused" test "$RC" = 255

stop_all

# --line-buffer with the Windows slave: its reader threads' output streams
# too (runner_output_read): the first line reaches the Linux client's
# stdout while the command still runs.
wslave wlb -j 2
printf '127.0.0.1 %s\n' "$WSLAVE_PORT" >"$T/lb.conf"
start_master lbm "$T/lb.conf"
wait_slaves_up lbm 1
echo 'echo a & ping -n 4 127.0.0.1 >nul & echo b' >"$T/lb.txt"
mkfifo "$T/lbfifo"
(while IFS= read -r l; do echo "$(date +%s%N) $l"; done <"$T/lbfifo" >"$T/lbst") &
lbr=$!
timeout 60 "$BIN/client" --line-buffer 127.0.0.1 "$MASTER_PORT" "$T/lb.txt" >"$T/lbfifo" 2>/dev/null
wait "$lbr"
ta=$(awk '$2 ~ /^a/ {print $1}' "$T/lbst"); tb=$(awk '$2 ~ /^b/ {print $1}' "$T/lbst")
check "--line-buffer, Windows slave: a came at least 1 s before b" test -n "$ta" -a -n "$tb" -a $(( ${tb:-0} - ${ta:-0} )) -gt 1000000000

# --allow on a Windows slave: the words run without cmd.exe, found in PATH's
# absolute directories only; a file planted in the slave's directory under
# a listed name is not what runs (CreateProcess alone would take it first:
# doc/security.md, gap 14); shell syntax, batch files and unknown programs
# are refused, each naming why.
mkdir -p "$T/wpol"
printf '#include <stdio.h>\nint main(void) { puts("planted"); return 0; }\n' >"$T/planted.c"
"$WIN_CC" -o "$T/wpol/hostname.exe" "$T/planted.c" || bail "cannot build the planted program"
printf 'hostname\nwhoami\nplanted.bat\nnosuchprogram\necho *\n' >"$T/allow.txt"
# a program that prints its argv, under a 'prog *' pattern (its path quoted)
printf '#include <stdio.h>\nint main(int c, char **v) { for (int i = 1; i < c; i++) printf("[%%s]", v[i]); return 0; }\n' >"$T/argv.c"
"$WIN_CC" -o "$T/wpol/argv.exe" "$T/argv.c" || bail "cannot build the argv program"
ARGV_EXE=$(winpath "$T/wpol/argv.exe")
printf "'%s' *\n'%s' /c *\n" "$ARGV_EXE" "$ARGV_EXE" >>"$T/allow.txt"
wslave wpol -j 2 --allow "$(winpath "$T/allow.txt")"
printf '127.0.0.1 %s\n' "$WSLAVE_PORT" >"$T/pol.conf"
start_master polm "$T/pol.conf"
wait_slaves_up polm 1
want_host=$(wine hostname.exe 2>/dev/null | tr -d '\r')
want_user=$(wine whoami.exe 2>/dev/null | tr -d '\r')
printf 'hostname\n' >"$T/p1.txt"
run_client -q "$T/p1.txt"
is "$RC/$(tr -d '\r' <"$T/out")" "0/$want_host" "--allow, Windows: 'hostname' is system32's, not the hostname.exe planted in the slave's directory"
printf 'whoami\n' >"$T/p2.txt"
run_client -q "$T/p2.txt"
is "$RC/$(tr -d '\r' <"$T/out")" "0/$want_user" "--allow, Windows: an allowed program runs without cmd.exe"
# pol_run LINE: one command through the Windows slave; its exit code ($EXITVAL) and stderr ($T/err)
pol_run() {
    printf '%s\n' "$1" >"$T/p.txt"
    run_client -q --joblog "$T/p.jl" "$T/p.txt"
    EXITVAL=$(awk -F'\t' 'NR==2 {print $7}' "$T/p.jl")
}
pol_run 'echo hi & whoami'
is "$EXITVAL" 126 "--allow, Windows: 'echo hi & whoami' refused (exit 126)"
check "naming the '&'" grep -q "shell syntax '&'" "$T/err"
printf '@echo planted\n' >"$T/wpol/planted.bat"
pol_run planted.bat
is "$EXITVAL" 126 "--allow, Windows: a batch file is refused (exit 126)"
check "saying it would run through cmd.exe" grep -q 'batch file' "$T/err"
check "and it did not run" bash -c "! grep -q planted '$T/out'"
pol_run nosuchprogram
is "$EXITVAL" 127 "--allow, Windows: a listed program that is nowhere in PATH: 127"
check "command not found, named" grep -q 'nosuchprogram: command not found' "$T/err"
# a wildcard never matches an option: on a Windows slave '/X' is one too
for w in /c /k -x @f +x; do
    pol_run "'$ARGV_EXE' $w"
    is "$EXITVAL" 126 "--allow, Windows: 'argv.exe *' refuses argv.exe $w (exit 126)"
    check "saying it matches no pattern" grep -q "refused by the slave's policy (--allow): matches no pattern of" "$T/err"
    check "and it did not run" test ! -s "$T/out"
done
pol_run "'$ARGV_EXE' plain"
is "$EXITVAL/$(tr -d '\r' <"$T/out")" "0/[plain]" "--allow, Windows: 'argv.exe *' allows a plain word"
pol_run "'$ARGV_EXE' /c x"
is "$EXITVAL/$(tr -d '\r' <"$T/out")" "0/[/c][x]" "--allow, Windows: 'argv.exe /c *' allows the /c written in it"
stop_all

done_testing
