#!/usr/bin/env bash
# serveur_maitre --http beyond loopback: only with the master's key and a
# bearer token, which /metrics and /status.json then demand; the Host
# header is anybody's there (a machine's name), the token guards. In a
# network namespace of the test's own, whose loopback interface gets a
# documentation address besides (192.0.2.1, RFC 5737): nothing leaves the
# namespace, and to the master it is an address beyond 127.0.0.0/8.
PRIVATE_NETNS=1
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip_all "needs curl: apt-get install curl"
ip addr add 192.0.2.1/32 dev lo 2>/dev/null ||
    skip_all "cannot add an address in the test's namespace (iproute2's ip, root or user namespaces)"
ADDR=192.0.2.1

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key"
printf 'tok-%s\n' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/token"
chmod 600 "$T/key" "$T/token"
TOKEN=$(cat "$T/token")
start_slave s1 -K "$T/key"
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves.conf"

rc=0; timeout 20 "$(prog serveur_maitre)" --ephemeral --http "$ADDR:0" 0 "$T/slaves.conf" >"$T/nokey.log" 2>&1 || rc=$?
is "$rc" 1 "--http $ADDR without a key: refused (exit 1)"
check "saying why" grep -q "refusing --http on $ADDR without a key" "$T/nokey.log"
rc=0; timeout 20 "$(prog serveur_maitre)" --ephemeral -K "$T/key" --http "$ADDR:0" 0 "$T/slaves.conf" >"$T/notok.log" 2>&1 || rc=$?
is "$rc" 1 "--http $ADDR with a key but no token: refused (exit 1)"
check "saying why" grep -q 'needs --http-token FILE' "$T/notok.log"

start_master master "$T/slaves.conf" --ephemeral -K "$T/key" --http "$ADDR:0" --http-token "$T/token"
http_port master
wait_slaves_up master 1 || bail "slave not seen by the master"
is "$HTTP_URL" "http://$ADDR:$HTTP_PORT/" "listening on $ADDR"
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
is "$(code "${HTTP_URL}status.json")" 401 "/status.json without the token: 401"
is "$(code -H "Authorization: Bearer nope-nope-nope-nope" "${HTTP_URL}metrics")" 401 "/metrics with a wrong one: 401"
is "$(code -H "Authorization: Bearer $TOKEN" "${HTTP_URL}status.json")" 200 "/status.json with the token: 200"
check "and it is the status" grep -q '"slaves_up":1' "$T/body"
is "$(code -H "Authorization: Bearer $TOKEN" -H 'Host: buildbox.example:8080' "${HTTP_URL}metrics")" 200 \
    "a machine's name in Host is fine when the token guards"
is "$(code "$HTTP_URL")" 200 "the page: 200 without the token (it holds no data; open /#token=...)"

done_testing
