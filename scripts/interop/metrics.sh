#!/usr/bin/env bash
# Prometheus metrics against the real Prometheus (Debian's `prometheus`):
# `decnet serve` with a two-decky fleet, /metrics on the API listener and on
# --metrics-listen, both behind DECNET_METRICS_TOKEN. promtool checks the
# configuration, the recording rules and the exposition itself; Prometheus
# scrapes both targets every second with the bearer token while curl and
# nc make traffic; the suite then asks Prometheus's HTTP API that both
# targets are up and that the recording rule `decnet:events:rate1m` has a
# value > 0 (and that connections were counted per decky and service).
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=metrics.sh
. scripts/lib/interop.sh
interop_need prometheus:prometheus promtool:prometheus curl:curl nc:netcat-openbsd python3:python3
interop_workdir decnet-metrics
PROM_PID=""
cleanup_all() {
    if [ -n "$PROM_PID" ]; then kill "$PROM_PID" 2>/dev/null || true; wait "$PROM_PID" 2>/dev/null || true; fi
    interop_cleanup
}
trap cleanup_all EXIT
trap 'echo "$NAME: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

NET=127.0.76
TOKEN="metrics-$RANDOM-$RANDOM-token"
API="127.0.0.1:$(( 31000 + RANDOM % 500 ))"
MET="127.0.0.1:$(( 31500 + RANDOM % 500 ))"
PROM="127.0.0.1:$(( 32000 + RANDOM % 500 ))"
cat >"$WORK/fleet.ini" <<EOF
[general]
net = $NET.0/24
gw = $NET.1

[web]
ip = $NET.10
services = http

[term]
ip = $NET.11
services = telnet
EOF

DECNET_METRICS_TOKEN="$TOKEN" DECNET_ADMIN_PASSWORD=metrics-admin-pw "$BIN" serve \
    --config "$WORK/fleet.ini" --data-dir "$DATA" --port-offset "$OFF" \
    --api "$API" --metrics-listen "$MET" >"$WORK/serve.out" 2>&1 &
PID=$!
# wait_ready URL PID LOG WHAT: until URL answers 2xx (15 s), while PID lives.
wait_ready() {
    for _ in $(seq 1 75); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; fail "$4 died"; }
        sleep 0.2
    done
    cat "$3" >&2; fail "$4 not ready after 15 s"
}
wait_ready "http://$API/api/v1/livez" "$PID" "$WORK/serve.out" serve

# Without the token: refused on both listeners.
for target in "$API" "$MET"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$target/metrics")
    [ "$code" = 401 ] || fail "$target/metrics without a token answered $code"
done

mkdir -p "$WORK/prom"
printf '%s' "$TOKEN" >"$WORK/prom/token"
cat >"$WORK/prom/rules.yml" <<'EOF'
groups:
  - name: decnet
    interval: 1s
    rules:
      - record: decnet:events:rate1m
        expr: sum(rate(decnet_events_total[1m]))
      - record: decnet:connections:rate1m
        expr: sum by (decky, service) (rate(decnet_connections_total[1m]))
EOF
cat >"$WORK/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/prom/rules.yml
scrape_configs:
  - job_name: decnet
    authorization:
      type: Bearer
      credentials_file: $WORK/prom/token
    static_configs:
      - targets: ['$API', '$MET']
EOF
promtool check config "$WORK/prom/prometheus.yml" >/dev/null || fail "promtool rejected the configuration"
promtool check rules "$WORK/prom/rules.yml" >/dev/null || fail "promtool rejected the rules"
# promtool also lints the exposition itself (names, types, help).
curl -sf -H "Authorization: Bearer $TOKEN" "http://$MET/metrics" >"$WORK/page.txt"
if ! promtool check metrics <"$WORK/page.txt" >"$WORK/lint.txt" 2>&1; then
    cat "$WORK/lint.txt" >&2; fail "promtool check metrics found problems"
fi

prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
    --web.listen-address="$PROM" >"$WORK/prom/out.log" 2>&1 &
PROM_PID=$!
wait_ready "http://$PROM/-/ready" "$PROM_PID" "$WORK/prom/out.log" prometheus

# Traffic for ~6 s: HTTP requests and telnet connections (bounded).
for i in $(seq 1 30); do
    curl -s -o /dev/null -m 2 "http://$NET.10:$(p 80)/probe/$i" || true
    if (( i % 5 == 0 )); then printf 'root\r\n' | nc -w 1 "$NET.11" "$(p 23)" >/dev/null 2>&1 || true; fi
    sleep 0.2
done

# query EXPR: the first value of an instant query ("" when none).
query() {
    curl -s --get "http://$PROM/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
# at_least VALUE MIN: true when VALUE is a number >= MIN.
at_least() { python3 -c "import sys; sys.exit(0 if float('${1:-nan}') >= $2 else 1)" 2>/dev/null; }
up=""; rate=""
for _ in $(seq 1 40); do
    up=$(curl -s "http://$PROM/api/v1/targets" | python3 -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
print(sum(1 for x in t if x["health"] == "up"), len(t))')
    rate=$(query 'decnet:events:rate1m')
    if [ "$up" = "2 2" ] && at_least "$rate" 1e-9; then break; fi
    sleep 0.5
done
[ "$up" = "2 2" ] || { curl -s "http://$PROM/api/v1/targets" >&2; fail "targets up: $up (want 2 2)"; }
at_least "$rate" 1e-9 || fail "decnet:events:rate1m = '$rate' (want > 0)"
conns=$(query 'max(decnet_connections_total{decky="web",service="http"})')
at_least "$conns" 30 || fail "http connections counted: '$conns' (want >= 30)"
telnet=$(query 'max(decnet_connections_total{decky="term",service="telnet"})')
at_least "$telnet" 6 || fail "telnet connections counted: '$telnet' (want >= 6)"
writes=$(query 'max(decnet_store_write_seconds_count)')
at_least "$writes" 1 || fail "no store write observed: '$writes'"
rss=$(query 'max(process_resident_memory_bytes)')
echo "$NAME: OK — 2 targets up, decnet:events:rate1m=$rate/s, http connections=$conns, telnet=$telnet, store commits=$writes, RSS=$rss"
