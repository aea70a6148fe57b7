# Active-response scenario of scripts/bench.sh (sourced; uses
# its BIN, TMP and PIDS). Writes $TMP/response.json: the raw figures plus the
# table row bench.sh appends. Root only (a network namespace and nftables);
# otherwise the row says "n/a (needs root)". Bounded: ~15 s.
#
#   attack → nftables element: 100 attackers, one failed HTTP Basic login
#   each; from the attack event's timestamp (event log) to the kernel adding
#   the element to `inet decnet banned4` (nft monitor), release build.

source "$ROOT/scripts/lib/nft_latency.sh"

RESP_NS=decnet-bench-nft

response_cleanup() { ip netns del "$RESP_NS" 2>/dev/null || true; }

response_scenarios() {
  local out="$TMP/response.json" n=${BENCH_NFT_ATTACKERS:-100} why=""
  if [ "$(id -u)" != 0 ]; then
    why="needs root"
  elif ! command -v nft >/dev/null || ! command -v curl >/dev/null || ! command -v ip >/dev/null; then
    why="needs nft, curl, ip"
  fi
  if [ -n "$why" ]; then
    printf '{"skipped": "%s", "rows": [["attack → nftables element (%s attackers)", "n/a (%s)", "-", "-", "p99 < 100 ms"]]}\n' \
      "$why" "$n" "$why" >"$out"
    return 0
  fi
  local decky=127.0.74.10 work="$TMP/resp" pid rc=0
  mkdir -p "$work"
  response_cleanup
  ip netns add "$RESP_NS"
  ip netns exec "$RESP_NS" ip link set lo up
  # Attackers are 127.0.74.100+ (curl binds them, all on this namespace's
  # lo): an explicit allowlist, as in response.sh, keeps them bannable.
  printf '[general]\nnet = 127.0.74.0/24\ngw = 127.0.74.1\nmode = loopback\n[trap]\nip = %s\nservices = http\n[response]\nban_on = auth_attempt\nduration = 10m\nbackends = nftables\nnft_table = decnet\nallowlist_defaults = false\nallowlist = 127.0.0.1/32\n' \
    "$decky" >"$work/fleet.ini"
  ip netns exec "$RESP_NS" env DECNET_LOG=warn DECNET_ADMIN_PASSWORD=bench-admin-password \
    "$BIN" serve --config "$work/fleet.ini" --data-dir "$work/data" --api 127.0.0.1:0 --port-offset 0 >"$work/decnet.log" 2>&1 &
  pid=$!; PIDS+=($pid)
  for _ in $(seq 100); do
    ip netns exec "$RESP_NS" nft list table inet decnet >/dev/null 2>&1 \
      && ip netns exec "$RESP_NS" bash -c "exec 3<>/dev/tcp/$decky/80" 2>/dev/null && break
    sleep 0.1
  done
  nft_attack_latency "$RESP_NS" "$decky" 127.0.74 100 "$n" "$work/data/decnet.log" "$work" 0.05 || rc=$?
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  response_cleanup
  if [ "$rc" != 0 ]; then
    printf '{"error": "measurement failed", "rows": [["attack → nftables element (%s attackers)", "failed (see stderr)", "-", "-", "p99 < 100 ms"]]}\n' "$n" >"$out"
    return 0
  fi
  python3 - "$out" "$NFT_N" "$NFT_P50_US" "$NFT_P99_US" "$NFT_MAX_US" <<'PY'
import json, sys
out, n, p50, p99, mx = sys.argv[1], *map(int, sys.argv[2:])
r = {"attackers": n, "p50_ms": p50 / 1000, "p99_ms": p99 / 1000, "max_ms": mx / 1000}
r["rows"] = [[f"attack → nftables element ({n} attackers, netns)",
              f'p50 {r["p50_ms"]:.1f} / p99 {r["p99_ms"]:.1f} / max {r["max_ms"]:.1f} ms', "-", "-", "p99 < 100 ms"]]
json.dump(r, open(out, "w"), indent=2)
PY
}
