#!/usr/bin/env bash
# A real Prometheus server (Debian's prometheus) scrapes serveur_maitre
# --http every second: its query API must then say what the run did
# (smp_commands_finished_total = the commands run), and a scrape with the
# bearer token works where one with a wrong token is refused.
. "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null || skip_all "needs Prometheus: apt-get install prometheus"
command -v curl >/dev/null || skip_all "needs curl: apt-get install curl"
N=25

http_cluster 2
PLAIN=$HTTP_PORT
PLAIN_MASTER=$MASTER_PORT
printf 'tok-%s\n' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/token"
printf 'wrong-token-wrong-token\n' >"$T/wrong"
chmod 600 "$T/token" "$T/wrong"
start_master tok "$T/slaves.conf" --ephemeral --http 127.0.0.1:0 --http-token "$T/token"
http_port tok
TOKEN_PORT=$HTTP_PORT
MASTER_PORT=$PLAIN_MASTER # run_client's

PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: smp
    static_configs:
      - targets: ['127.0.0.1:$PLAIN']
  - job_name: smp-token
    authorization:
      credentials_file: $T/token
    static_configs:
      - targets: ['127.0.0.1:$TOKEN_PORT']
  - job_name: smp-wrong-token
    authorization:
      credentials_file: $T/wrong
    static_configs:
      - targets: ['127.0.0.1:$TOKEN_PORT']
EOF
if command -v promtool >/dev/null; then
    promtool check config "$T/prometheus.yml" >"$T/promtool.out" 2>&1
    ok $? "promtool check config: the test's configuration is valid"
fi
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom-data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$T/prometheus.log" 2>&1 &
PIDS+=($!)
PROM="http://127.0.0.1:$PROM_PORT"
for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$PROM/-/ready")" = 200 ] && break
    sleep 0.1
done
is "$(curl -s -o /dev/null -w '%{http_code}' "$PROM/-/ready")" 200 "Prometheus is ready"

# value QUERY: the first sample's value of an instant query, or "none".
value() {
    curl -s -G --data-urlencode "query=$1" "$PROM/api/v1/query" |
        python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'
}
# until_value QUERY WANT SECONDS: polls until the query says WANT.
until_value() {
    local i got
    for i in $(seq 1 $(($3 * 4))); do
        got=$(value "$1")
        [ "$got" = "$2" ] && break
        sleep 0.25
    done
    echo "$got"
}

# A run of N commands (two fail), then what Prometheus scraped.
for i in $(seq 1 $N); do
    if [ "$i" -le 2 ]; then echo "exit $i"; else echo "echo $i"; fi
done >"$T/cmds"
run_client -q "$T/cmds"
is "$RC" 2 "the run: $N commands, 2 failed"
is "$(until_value 'sum(smp_commands_finished_total{job="smp"})' "$N" 30)" "$N" \
    "Prometheus: sum(smp_commands_finished_total) = $N, the commands run"
is "$(until_value 'smp_commands_failed_total{job="smp"}' 2 10)" 2 "Prometheus: smp_commands_failed_total = 2"
is "$(until_value 'smp_command_duration_seconds_count{job="smp"}' "$N" 10)" "$N" \
    "Prometheus: the duration histogram counted $N"
is "$(until_value 'smp_slaves_up{job="smp"}' 2 10)" 2 "Prometheus: smp_slaves_up = 2"
is "$(until_value 'up{job="smp"}' 1 10)" 1 "Prometheus: the plain target is up"
is "$(until_value 'up{job="smp-token"}' 1 10)" 1 "Prometheus: the target with the bearer token is up"
is "$(until_value 'up{job="smp-wrong-token"}' 0 10)" 0 "Prometheus: with a wrong token it is down (401)"
is "$(until_value 'count(smp_slave_up{job="smp"} == 1)' 2 10)" 2 "Prometheus: a series per slave"

done_testing
