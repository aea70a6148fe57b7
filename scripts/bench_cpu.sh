#!/usr/bin/env bash
# Server CPU per HTTP keep-alive request and per telnet connection, for
# several decnet builds in alternating rounds (BENCH.md §"Event pipeline
# and hot path"): `perf stat -e task-clock -p PID` over a bounded client
# run, divided by what the client completed; bare hyper in the same round.
#
#   scripts/bench_cpu.sh LOAD_BIN ROUNDS BIN...        (perf stat table)
#   CALLGRIND=N scripts/bench_cpu.sh LOAD_BIN 1 BIN... (instruction counts
#       of N keep-alive requests and N telnet connections after startup,
#       callgrind.out.* left in $OUT)
#
# Needs perf, wrk, curl (and valgrind for CALLGRIND). Bounded: each client
# run is SECS seconds or N requests. Loopback only: 127.0.77.10, ports
# 46100 + the service's.
set -euo pipefail
ulimit -n 65536 2>/dev/null || true
LOAD=$1; ROUNDS=$2; shift 2
SECS=${SECS:-5}
OUT=${OUT:-$(mktemp -d)}
OFF=46100
IP=127.0.77.10
HTTP=http://$IP:$((OFF + 80))/
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
printf '[general]\nnet = 127.0.77.0/24\n[t]\nip = %s\nservices = telnet, http, ssh\n' $IP > "$OUT/t.ini"

# start_decnet BIN [WRAPPER...]: starts it, waits for its HTTP port; sets PID.
start_decnet() {
  local bin=$1; shift
  rm -rf "$OUT/data"
  DECNET_MAX_CONNS_PER_DECKY=20000 DECNET_MAX_CONNS_PER_SOURCE=20000 DECNET_LOG=warn \
    DECNET_ADMIN_PASSWORD=bench-admin-password "$@" "$bin" serve --config "$OUT/t.ini" \
    --data-dir "$OUT/data" --port-offset $OFF --api 127.0.0.1:0 >"$OUT/serve.log" 2>&1 &
  PID=$!; PIDS+=($PID)
  for _ in $(seq 600); do
    curl -s -o /dev/null "$HTTP" && return 0
    sleep 0.5
  done
  echo "decnet did not come up" >&2; exit 1
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# task_clock_ms PID CMD...: runs CMD under perf stat of PID; prints ms.
task_clock_ms() {
  local pid=$1; shift
  perf stat -e task-clock -p "$pid" -o "$OUT/perf.txt" & local perf=$!
  sleep 0.2
  "$@" > "$OUT/client.txt" 2>&1
  kill -INT $perf; wait $perf 2>/dev/null || true
  awk '/task-clock/{gsub(",","",$1); print $1}' "$OUT/perf.txt"
}

http_round() { # PID → "µs per request"
  local ms n
  ms=$(task_clock_ms "$1" wrk -t2 -c32 -d${SECS}s "$2")
  n=$(awk '/requests in/{print $1}' "$OUT/client.txt")
  awk -v ms="$ms" -v n="$n" 'BEGIN{printf "%.2f µs/req (%d req)", ms*1000/n, n}'
}

telnet_round() {
  local ms n
  ms=$(task_clock_ms "$1" "$LOAD" tcp-banner --addr $IP:$((OFF + 23)) --seconds "$SECS" --max-conns 40000)
  n=$(grep -o '"conns":[0-9]*' "$OUT/client.txt" | cut -d: -f2)
  awk -v ms="$ms" -v n="$n" 'BEGIN{printf "%.2f µs/conn (%d conns)", ms*1000/n, n}'
}

if [ -n "${CALLGRIND:-}" ]; then
  for bin in "$@"; do
    tag=$(basename "$bin")
    start_decnet "$bin" valgrind --tool=callgrind --instr-atstart=no \
      --callgrind-out-file="$OUT/callgrind.out.$tag.%p"
    # Count only the traffic, not startup.
    callgrind_control -i on "$PID" >/dev/null
    curl -s -o /dev/null "$HTTP?[1-$CALLGRIND]"
    "$LOAD" tcp-banner --addr $IP:$((OFF + 23)) --concurrency 4 --max-conns "$CALLGRIND" --seconds 600 >/dev/null
    sleep 3 # the pipeline drains (event log, ingester, tagging, intel)
    callgrind_control -i off "$PID" >/dev/null
    stop "$PID"
    echo "$tag: $(ls "$OUT"/callgrind.out."$tag".*)"
  done
  exit 0
fi

"$LOAD" hyper-server --addr 127.0.0.1:27180 --seconds $((ROUNDS * $# * SECS * 3 + 120)) >/dev/null 2>&1 & HYPER=$!; PIDS+=($HYPER)
sleep 0.5
for r in $(seq "$ROUNDS"); do
  [ $((r % 2)) = 1 ] && order=("$@") || order=($(printf '%s\n' "$@" | tac))
  for bin in "${order[@]}"; do
    start_decnet "$bin"
    sleep 1
    idle=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
    h=$(http_round "$PID" "$HTTP")
    t=$(telnet_round "$PID")
    rss=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
    stop "$PID"
    echo "round $r $(basename "$bin"): http $h; telnet $t; RSS idle ${idle} KiB, peak ${rss} KiB"
  done
  echo "round $r bare hyper: $(http_round "$HYPER" http://127.0.0.1:27180/)"
done
