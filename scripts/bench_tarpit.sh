#!/usr/bin/env bash
# Tarpit benchmark: 10,000 concurrent connections held by decnet's ssh
# tarpit versus Debian's endlessh, both trickling one line a second, in one
# run. Everything runs inside a private network namespace (only its
# loopback exists), since endlessh binds every address. Prints one JSON
# line per server; BENCH.md's tarpit row is written from them.
# Bounded: 10,000 connections, a 20 s hold each, ~2 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--inside" ]; then
  command -v endlessh >/dev/null 2>&1 || apt-get install -y -qq endlessh >/dev/null || echo "endlessh not installable: decnet only"
  cargo build --release -p decnet -p decnet-bench
  exec unshare --net "$0" --inside
fi
ip link set lo up
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"  # each process holds one side: 10,000 + slack
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$TARGET/release/decnet
LOAD=$TARGET/release/decnet-load
CONNS=${TARPIT_CONNS:-10000}
HOLD=${TARPIT_HOLD:-20}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing on $1:$2" >&2; exit 1; }

printf '[general]\nnet = 127.0.90.0/24\n[pit]\nip = 127.0.90.10\nservices = http\ntarpit = ssh:2222\ntarpit_interval = 1\n' >"$TMP/pit.ini"
DECNET_MAX_TARPIT_CONNS=$((CONNS + 100)) "$BIN" serve --config "$TMP/pit.ini" --data-dir "$TMP/data" \
  --api 127.0.0.1:18990 >"$TMP/serve.out" 2>&1 & PIDS+=($!)
DPID=$!
wait_port 127.0.90.10 2222
sleep 2
echo "decnet: $("$LOAD" tarpit-hold --addr 127.0.90.10:2222 --conns "$CONNS" --server-pid "$DPID" --hold "$HOLD")"
kill "$DPID"; wait "$DPID" 2>/dev/null || true

if command -v endlessh >/dev/null 2>&1; then
  endlessh -4 -p 2223 -d 1000 -m $((CONNS + 100)) >/dev/null 2>&1 & PIDS+=($!)
  EPID=$!
  wait_port 127.0.0.1 2223
  sleep 1
  echo "endlessh: $("$LOAD" tarpit-hold --addr 127.0.0.1:2223 --conns "$CONNS" --server-pid "$EPID" --hold "$HOLD")"
fi
