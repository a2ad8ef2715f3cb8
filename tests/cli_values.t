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
# a whole number is decimal digits too: strtol also reads " 3" and "+3"
# (--max-load, read by another parser, already refused them)
for v in " 3" "+3" "3 "; do
    rc=0
    "$BIN/client" --priority "$v" 127.0.0.1 1 "$T/none" >"$T/c.out" 2>&1 || rc=$?
    is "$rc/$(grep -cF -- "client: --priority: '$v' is not a number from -20 to 20" "$T/c.out")" 255/1 \
        "client --priority '$v': exit 255, naming the option and the value"
    rc=0
    timeout 2 "$BIN/serveur_esclave" -j "$v" 0 >"$T/s.out" 2>&1 || rc=$?
    is "$rc/$(grep -cF -- "'$v' is not a number" "$T/s.out")" 2/1 "serveur_esclave -j '$v': exit 2, naming the value"
done
rc=0
"$BIN/client" --priority -3 127.0.0.1 1 "$T/none" >"$T/c.out" 2>&1 || rc=$?
check "client --priority -3 accepted (then: no command file)" grep -q "cannot open the command file" "$T/c.out"
# a positive value under the unit counted is not read as 0 ("never", "off")
rc=0
timeout 2 "$BIN/serveur_maitre" --aging 0.0001 0 "$T/none" >"$T/m.out" 2>&1 || rc=$?
is "$rc/$(grep -cF -- "--aging '0.0001': expected at least 0.001 seconds" "$T/m.out")" 2/1 \
    "serveur_maitre --aging 0.0001: exit 2, at least 0.001 s expected (it was 0: no aging)"
rc=0
timeout 2 "$BIN/serveur_maitre" --cache-age 0.4ms 0 "$T/none" >"$T/m.out" 2>&1 || rc=$?
is "$rc/$(grep -cF -- "--cache-age '0.4ms': expected at least 1 ms" "$T/m.out")" 2/1 \
    "serveur_maitre --cache-age 0.4ms: exit 2, at least 1 ms expected (it was 0: no cache)"
done_testing
