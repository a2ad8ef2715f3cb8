#!/usr/bin/env bash
# A number of seconds on a command line is decimal: strtod also reads hex
# ("0x10" was 16 s, "0x1p3" 8 s), leading blanks (" 5") and a sign ("+5");
# they are refused, naming the option, exit 2 (the client: 255), like "10x".
. "$(dirname "$0")/lib.sh"

for v in 0x10 0x1p3 " 5" "+5" "5 " ".e1"; do
    rc=0
    timeout 2 "$BIN/serveur_esclave" --timeout "$v" 0 >"$T/s.out" 2>&1 || rc=$?
    is "$rc" 2 "serveur_esclave --timeout '$v': exit 2"
    check "... naming the option and the value" grep -qF -- "--timeout: '$v' is not a number of seconds" "$T/s.out"
    rc=0
    timeout 10 "$BIN/client" --deadline "$v" 127.0.0.1 1 "$T/none" >"$T/c.out" 2>&1 || rc=$?
    is "$rc" 255 "client --deadline '$v': exit 255"
    check "... naming the option and the value" grep -qF -- "--deadline: '$v' is not a number of seconds" "$T/c.out"
done
# decimal forms still read
for v in 5 0.5 .5 5. 1e1 2.5e-1; do
    rc=0
    timeout 10 "$BIN/client" --deadline "$v" --timeout "$v" 127.0.0.1 1 "$T/none" >"$T/c.out" 2>&1 || rc=$?
    check "client --deadline/--timeout '$v' accepted (then: no command file)" \
        grep -q "cannot open the command file" "$T/c.out"
done
# --deadline under a millisecond: said so (it said "expected more than 0 seconds" to 0.0001)
for v in 0 0.0001; do
    rc=0
    "$BIN/client" --deadline "$v" 127.0.0.1 1 "$T/none" >"$T/c.out" 2>&1 || rc=$?
    is "$rc/$(grep -c "client: --deadline '$v': expected at least 0.001 seconds" "$T/c.out")" 255/1 \
        "client --deadline $v: exit 255, at least 0.001 s expected"
done
done_testing
