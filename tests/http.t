#!/usr/bin/env bash
# serveur_maitre --http (doc/monitoring.md): /status.json is client
# --status --json, /metrics is valid Prometheus text whose figures are the
# run's, the page is served with its guards; bad requests, hostile and idle
# peers get clear refusals and never stop the master; the start-up rules
# (loopback, or a key and a token) hold.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || skip_all "needs curl: apt-get install curl"
M="$(prog serveur_maitre)"
tool() { python3 "$TOP/tests/http_tool.py" "$@"; }
echo "127.0.0.1 9" >"$T/one.conf"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key"
chmod 600 "$T/key"
printf 'tok-%s\n' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/token"
chmod 600 "$T/token"

# 0. Start-up: each refusal names what is wrong, and nothing listens.
start_fails() { # start_fails WANT_RC REGEX DESCRIPTION ARGS...
    local want=$1 re=$2 what=$3 rc=0; shift 3
    timeout 20 "$M" --ephemeral "$@" 0 "$T/one.conf" >"$T/fail.log" 2>&1 || rc=$?
    is "$rc" "$want" "$what: exit $want"
    check "$what: says so" grep -Eq -e "$re" "$T/fail.log"
}
start_fails 2 '--http-token without --http' "--http-token alone" --http-token "$T/token"
start_fails 2 'write an IPv6 address in brackets' "--http ::1:80" --http ::1:80
start_fails 2 "port: '70000'" "--http port out of range" --http 127.0.0.1:70000
start_fails 1 'refusing --http on 0.0.0.0 without a key' "--http beyond loopback without a key" --http 0.0.0.0:0
start_fails 1 'needs --http-token FILE' "--http beyond loopback with a key, no token" -K "$T/key" --http 0.0.0.0:0
cp "$T/token" "$T/token644"; chmod 644 "$T/token644"
start_fails 1 'accessible by group or others' "a token file others can read" --http 127.0.0.1:0 --http-token "$T/token644"
printf 'short\n' >"$T/short"; chmod 600 "$T/short"
start_fails 1 'the token is 5 bytes, at least 16' "a short token" --http 127.0.0.1:0 --http-token "$T/short"
printf 'a token with spaces in it\n' >"$T/spaces"; chmod 600 "$T/spaces"
start_fails 1 'byte 2 is not a letter' "a token with a space" --http 127.0.0.1:0 --http-token "$T/spaces"
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); sys.stdin.read()' \
    >"$T/taken" < <(sleep 30) &
PIDS+=($!)
wait_for_line "$T/taken" '^[0-9]+$' 10 >/dev/null
start_fails 1 "cannot listen on TCP 127.0.0.1:$(cat "$T/taken")" "a port in use" --http "127.0.0.1:$(cat "$T/taken")"

# 1. A master with 2 slaves of 2 slots and a journal; a batch: 4 quick
# commands (one fails), then 6 sleeps: 4 run, 2 wait.
http_cluster 2
is "$HTTP_URL" "http://127.0.0.1:$HTTP_PORT/" "the log names the URL"
printf 'sleep 0.2\nsleep 0.2; exit 3\nsleep 0.2\nsleep 0.2\n' >"$T/batch.txt"
for i in $(seq 1 6); do echo "sleep 30; echo s$i"; done >>"$T/batch.txt"
"$(prog client)" -q 127.0.0.1 "$MASTER_PORT" "$T/batch.txt" >"$T/batch.out" 2>&1 &
PIDS+=($!)
q() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
for _ in $(seq 1 100); do
    curl -s -o "$T/web.json" "${HTTP_URL}status.json"
    [ -s "$T/web.json" ] && [ "$(q "$T/web.json" 'j["running"]')" = 4 ] &&
        [ "$(q "$T/web.json" 'sum(b["done"] for b in j["batches"])')" = 4 ] && break
    sleep 0.1
done
timeout 30 "$(prog client)" --status --json 127.0.0.1 "$MASTER_PORT" >"$T/cli.json"
curl -s -D "$T/web.head" -o "$T/web.json" "${HTTP_URL}status.json"
# What changes from one moment to the next (times, pings) aside, the two
# documents are the same.
STABLE='json.dumps([{k: v for k, v in j.items() if k not in ("uptime_s", "finished_per_s", "clients", "slaves", "journal_bytes")}, [{k: (v if k != "jobs" else [{a: b for a, b in x.items() if a != "running_ms"} for x in v]) for k, v in s.items() if k not in ("rtt_ms", "last_heard_ms", "datagrams_sent", "retransmit_ratio")} for s in j["slaves"]]], sort_keys=True)'
stable() { python3 -c "import json, sys; j = json.load(open(sys.argv[1])); print($STABLE)" "$1"; }
is "$(stable "$T/web.json")" "$(stable "$T/cli.json")" "/status.json is what client --status --json prints"
is "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); print(sorted(a) == sorted(b) and [sorted(s) for s in a["slaves"]] == [sorted(s) for s in b["slaves"]])' "$T/web.json" "$T/cli.json")" \
    True "the same fields, at every level"
is "$(q "$T/web.json" 'sorted(x["command"] for s in j["slaves"] for x in s["jobs"])')" \
    "['sleep 30; echo s1', 'sleep 30; echo s2', 'sleep 30; echo s3', 'sleep 30; echo s4']" "the four sleeps running, in its jobs"
check "Content-Type: application/json" grep -qi '^Content-Type: application/json' "$T/web.head"
check "Cache-Control: no-store" grep -qi '^Cache-Control: no-store' "$T/web.head"

# 2. /metrics: the figures of the run, valid for promtool.
curl -s -D "$T/m.head" -o "$T/metrics" "${HTTP_URL}metrics"
check "Content-Type: the text format 0.0.4" grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/m.head"
metric() { awk -v n="$1" '$1 == n { print $2 }' "$T/metrics"; }
is "$(awk '$1 ~ /^smp_commands_finished_total\{/ { s += $2 } END { print s }' "$T/metrics")" 4 \
    "smp_commands_finished_total sums to the 4 commands finished"
is "$(metric 'smp_commands_finished_total{status="exited"}')" 4 "all 4 exited"
is "$(metric smp_commands_failed_total)" 1 "1 failed (exit 3)"
is "$(metric smp_commands_running)/$(metric smp_commands_queued)" 4/2 "4 running, 2 queued"
is "$(metric smp_slaves_up)/$(metric smp_slots_total)" 2/4 "2 slaves up, 4 slots"
is "$(metric 'smp_slaves{state="up"}')/$(metric 'smp_slaves{state="dead"}')" 2/0 "smp_slaves by state: 2 up, 0 dead"
is "$(metric smp_command_duration_seconds_count)/$(metric 'smp_command_duration_seconds_bucket{le="+Inf"}')" 4/4 \
    "the duration histogram counts the 4 commands that ran"
is "$(metric 'smp_command_duration_seconds_bucket{le="0.1"}')/$(metric 'smp_command_duration_seconds_bucket{le="1"}')" 0/4 \
    "each took between 0.1 and 1 s (sleep 0.2)"
is "$(awk '$1 == "smp_command_duration_seconds_sum" { print ($2 >= 0.8 && $2 < 4) }' "$T/metrics")" 1 \
    "the histogram's sum: about 4 x 0.2 s"
is "$(awk -F'[{}]' '/^smp_command_duration_seconds_bucket/ { if ($3 + 0 < last) bad = 1; last = $3 + 0 } END { print bad + 0 }' "$T/metrics")" 0 \
    "buckets are cumulative"
sent=$(metric smp_datagrams_sent_total)
is "$(awk '$1 ~ /^smp_slave_datagrams_sent_total\{/ { s += $2 } END { print s }' "$T/metrics")" "$sent" \
    "smp_datagrams_sent_total is the slaves' sum ($sent)"
check "smp_datagrams_retransmitted_total is there" test -n "$(metric smp_datagrams_retransmitted_total)"
is "$(grep -c '^smp_slave_up{slave="127.0.0.1:[0-9]*"} 1$' "$T/metrics")" 2 "smp_slave_up per slave, labelled by name"
check "smp_journal_bytes > 0 (a journal)" test "$(metric smp_journal_bytes)" -gt 0
if command -v promtool >/dev/null; then
    promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1
    ok $? "promtool check metrics: no problem ($(head -c 300 "$T/promtool.out"))"
else
    echo "ok $((++_tap_n)) # SKIP promtool not installed (apt-get install prometheus)"
fi

# 3. The page, and HEAD.
curl -s -D "$T/p.head" -o "$T/page.html" "$HTTP_URL"
check "/ is HTML" grep -qi '^Content-Type: text/html' "$T/p.head"
check "/ has a Content-Security-Policy without external sources" \
    grep -qi "^Content-Security-Policy: default-src 'none'; .*connect-src 'self'" "$T/p.head"
check "/ is a whole document" grep -qi '</html>' "$T/page.html"
is "$(curl -s -I -o /dev/null -w '%{http_code}' "${HTTP_URL}metrics")/$(curl -s -I "${HTTP_URL}metrics" | wc -c)/$(curl -s -X HEAD -m 5 "${HTTP_URL}metrics" 2>/dev/null | wc -c)" \
    "200/$(curl -s -I "${HTTP_URL}metrics" | wc -c)/0" "HEAD /metrics: 200, a head and no body"

# 4. Bad requests: a status naming what was wrong; the master goes on.
is "$(curl -s -o "$T/404" -w '%{http_code}' "${HTTP_URL}nope")" 404 "an unknown path: 404"
check "which says where to go" grep -q '/status.json and /metrics' "$T/404"
is "$(curl -s -D "$T/405.head" -o /dev/null -w '%{http_code}' -X POST -d x=1 "${HTTP_URL}metrics")" 405 "POST: 405"
check "with Allow: GET, HEAD" grep -qi '^Allow: GET, HEAD' "$T/405.head"
is "$(tool raw "$HTTP_PORT" 'BLAH\r\n\r\n')" "HTTP/1.1 400 Bad Request" "garbage: 400"
is "$(tool raw "$HTTP_PORT" 'GET / HTTP/1.1\r\n\r\n')" "HTTP/1.1 400 Bad Request" "HTTP/1.1 without Host: 400"
is "$(tool raw "$HTTP_PORT" 'GET / HTTP/1.0\r\n\r\n')" "HTTP/1.1 200 OK" "HTTP/1.0 without Host: 200"
is "$(tool raw "$HTTP_PORT" 'GET / HTTP/2.0\r\nHost: x\r\n\r\n')" "HTTP/1.1 505 HTTP Version Not Supported" "HTTP/2.0: 505"
is "$(tool raw "$HTTP_PORT" 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\r\n folded\r\n\r\n')" "HTTP/1.1 400 Bad Request" \
    "an obs-fold header: 400"
is "$(tool raw "$HTTP_PORT" 'GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')" "HTTP/1.1 400 Bad Request" "a NUL: 400"
is "$(tool raw "$HTTP_PORT" 'GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')" "HTTP/1.1 400 Bad Request" \
    "an absolute-form target: 400"
is "$(tool raw "$HTTP_PORT" 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')" "HTTP/1.1 400 Bad Request" "two Hosts: 400"
is "$(tool big "$HTTP_PORT" 9000)" "HTTP/1.1 431 Request Header Fields Too Large" "a 9000-byte head: 431"
is "$(tool big "$HTTP_PORT" 8000)" "HTTP/1.1 200 OK" "an 8000-byte head: served"
# DNS rebinding: a page of evil.example resolved to 127.0.0.1 cannot read.
is "$(curl -s -o "$T/403" -w '%{http_code}' -H 'Host: evil.example' "${HTTP_URL}status.json")" 403 "Host: evil.example: 403"
check "saying why and where to go" grep -q "guard against DNS rebinding): use $HTTP_URL" "$T/403"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$HTTP_PORT" "${HTTP_URL}status.json")" 200 "Host: localhost:PORT: 200"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: [::1]:$HTTP_PORT" "${HTTP_URL}status.json")" 200 "Host: [::1]:PORT: 200"

# 5. Idle connections hold nobody off: 12 of them (the server keeps 8),
# yet a request is answered at once; an idle one is closed after 10 s.
tool idle "$HTTP_PORT" 12 3 >"$T/idle12" &
idler=$!
PIDS+=("$idler")
sleep 1
start=$(date +%s%N)
is "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${HTTP_URL}metrics")" 200 "with 12 idle connections open, /metrics is answered"
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "within 2 s ($took ms)" test "$took" -lt 2000
wait "$idler"
check "the idle ones were closed to make room ($(cat "$T/idle12") of 12)" test "$(cat "$T/idle12")" -ge 5
start=$(date +%s)
is "$(tool idle "$HTTP_PORT" 2 11.5)" 2 "a connection that sends no request is closed after 10 s"
# the master's loop is not held by them: a status request is answered at
# once (a command would wait for a slot: the four sleeps hold them all)
start=$(date +%s%N)
"$(prog client)" --status 127.0.0.1 "$MASTER_PORT" >"$T/status.meanwhile" 2>&1; rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
is "$rc" 0 "it served all that: client --status answered meanwhile"
check "within 2 s ($took ms)" test "$took" -lt 2000
kill -0 "$MASTER_PID"; ok $? "the master is alive"

# 6. With a token (here on loopback, where it is optional): /metrics and
# /status.json need it, the page does not.
start_master tok "$T/slaves.conf" --ephemeral --http 127.0.0.1:0 --http-token "$T/token"
http_port tok
check "the log says the token is needed" grep -q '(/metrics and /status.json need the token)' "$T/tok.log"
TOKEN=$(cat "$T/token")
is "$(curl -s -D "$T/401.head" -o "$T/401" -w '%{http_code}' "${HTTP_URL}metrics")" 401 "no token: 401"
check "with WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$T/401.head"
check "saying how" grep -q 'Authorization: Bearer TOKEN' "$T/401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}x" "${HTTP_URL}status.json")" 401 "a wrong token: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN:0:10}" "${HTTP_URL}status.json")" 401 "a prefix of it: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic ${TOKEN}" "${HTTP_URL}status.json")" 401 "another scheme: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN}" "${HTTP_URL}metrics")" 200 "the token: 200"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: bearer ${TOKEN}" "${HTTP_URL}status.json")" 200 "bearer in lower case: 200"
is "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP_URL")" 200 "the page itself: 200 without the token"
# A SIGTERM with HTTP connections open: the master stops at once, cleanly.
tool idle "$HTTP_PORT" 3 2 >/dev/null &
PIDS+=($!)
sleep 0.5
stop_pid "$MASTER_PID"
is "$STOP_RC" 0 "SIGTERM with idle HTTP connections open: the master stops cleanly (exit 0)"

done_testing
