# API, live-stream and scale-out scenarios of scripts/bench.sh (sourced; uses
# its BIN, LOAD, TMP, PIDS and SECS). Writes $TMP/api.json: the raw results
# plus the table rows bench.sh appends. Bounded: ~2.5 minutes in all.
#
#   events   5,000 events/s into a decky's http socket, counted in the store
#   sse      N /stream subscribers (default 1000) while 5,000 events/s go in
#   logs     wrk on /api/v1/logs?limit=50 and /api/v1/stats with 1M events stored
#   scaleout sensor socket → SSE on two NATS/PostgreSQL servers

api_wait() { # URL: waits until the API answers (30 s at most)
  for _ in $(seq 300); do curl -s -o /dev/null "$1/api/v1/health" && return 0; sleep 0.1; done
  echo "API at $1 never answered" >&2; return 1
}

api_serve() { # INI DATA_DIR API_PORT OFFSET: starts decnet serve, sets API_PID
  DECNET_SSE_MAX_PER_USER=5000 DECNET_MAX_CONNS_PER_DECKY=20000 DECNET_LOG=warn \
    DECNET_ADMIN_PASSWORD=bench-admin-password \
    "$BIN" serve --config "$1" --data-dir "$2" --api "127.0.0.1:$3" --port-offset "$4" >/dev/null 2>&1 &
  API_PID=$!; PIDS+=($API_PID)
  api_wait "http://127.0.0.1:$3"
}

api_stop() { kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; }

api_scenarios() {
  local off=45000 rate=${BENCH_EVENT_RATE:-5000} subs=${BENCH_SSE_SUBSCRIBERS:-1000}
  local fill=${BENCH_FILL_EVENTS:-1000000} api=http://127.0.0.1:27800
  printf '[general]\nnet = 127.0.72.0/24\n[ev]\nip = 127.0.72.10\nservices = http\n' > "$TMP/api.ini"
  local target=127.0.72.10:$((80 + off))

  # events + sse: one instance, each run counts only its own marked events.
  api_serve "$TMP/api.ini" "$TMP/apidata" 27800 $off
  "$LOAD" events --api $api --target $target --decky ev --rate "$rate" --seconds "$SECS" > "$TMP/api-events.json"
  "$LOAD" sse --api $api --target $target --decky ev --rate "$rate" --seconds "$SECS" \
    --subscribers "$subs" --drain 10 > "$TMP/api-sse.json"
  local rss; rss=$(awk '/VmRSS/{print $2}' /proc/$API_PID/status)
  api_stop

  # REST with 1M events stored (SQLite), wrk with the dashboard's bearer token.
  "$LOAD" fill --data-dir "$TMP/bigdata" --events "$fill" > "$TMP/api-fill.json"
  api_serve "$TMP/api.ini" "$TMP/bigdata" 27801 $off
  local tok; tok=$("$LOAD" token --api http://127.0.0.1:27801)
  wrk -t2 -c32 -d"${SECS}s" --latency -H "Authorization: Bearer $tok" \
    "http://127.0.0.1:27801/api/v1/logs?limit=50" > "$TMP/wrk-logs.txt" 2>&1
  # Filtered pages: one counted column (total from its counter row), and two
  # columns (total counted up to offset+limit+1,000 rows, then capped).
  wrk -t2 -c32 -d"${SECS}s" --latency -H "Authorization: Bearer $tok" \
    "http://127.0.0.1:27801/api/v1/logs?limit=50&kind=auth_attempt" > "$TMP/wrk-logs-kind.txt" 2>&1
  wrk -t2 -c32 -d"${SECS}s" --latency -H "Authorization: Bearer $tok" \
    "http://127.0.0.1:27801/api/v1/logs?limit=50&decky=web01&kind=auth_attempt" > "$TMP/wrk-logs-two.txt" 2>&1
  # Stats takes hundreds of ms at 1M rows: few connections and a long
  # timeout, or wrk reports only timeouts and no latency.
  wrk -t1 -c4 -d"${SECS}s" --timeout 10s --latency -H "Authorization: Bearer $tok" \
    "http://127.0.0.1:27801/api/v1/stats" > "$TMP/wrk-stats.txt" 2>&1
  api_stop

  # Scale-out: starts its own nats-server, PostgreSQL, two servers and a sensor.
  "$LOAD" scaleout --bin "$BIN" --port-offset $((off + 1000)) --rate 1000 --seconds "$SECS" \
    --subscribers 4 > "$TMP/api-scaleout.json" 2> "$TMP/api-scaleout.err" \
    || { echo "scaleout scenario failed: $(tail -3 "$TMP/api-scaleout.err")" >&2; echo null > "$TMP/api-scaleout.json"; }

  python3 - "$TMP" "$rss" <<'PY'
import json, re, sys
tmp, rss = sys.argv[1], int(sys.argv[2] or 0)
load = lambda n: json.load(open(f"{tmp}/{n}"))
def wrk(n):
    t = open(f"{tmp}/{n}").read()
    g = lambda pat: (m.group(1) if (m := re.search(pat, t)) else None)
    def ms(v):
        if v is None: return None
        m = re.match(r"([\d.]+)(\w+)", v)
        if m is None:
            # Say which run printed what, instead of a bare traceback.
            raise SystemExit(f"bench_api: {n}: unreadable wrk latency {v!r} in:\n{t}")
        num, unit = m.groups()
        return float(num) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    # Percentiles at the start of their line: a stdev column such as
    # "78.99%" at a line's end must not pass for the 99th percentile.
    return {"rps": float(g(r"Requests/sec:\s+([\d.]+)") or 0), "p50_ms": ms(g(r"(?m)^\s*50%\s+(\S+)")),
            "p99_ms": ms(g(r"(?m)^\s*99%\s+(\S+)")), "non_2xx": int(g(r"Non-2xx or 3xx responses:\s+(\d+)") or 0),
            "requests": int(g(r"(\d+) requests in") or 0), "timeouts": int(g(r"timeout (\d+)") or 0)}
ev, sse, fill, so = load("api-events.json"), load("api-sse.json"), load("api-fill.json"), load("api-scaleout.json")
logs, stats = wrk("wrk-logs.txt"), wrk("wrk-stats.txt")
logs_kind, logs_two = wrk("wrk-logs-kind.txt"), wrk("wrk-logs-two.txt")
res = {"events": ev, "sse": sse, "sse_server_rss_kib": rss, "fill": fill, "wrk_logs": logs, "wrk_logs_kind": logs_kind,
       "wrk_logs_two_filters": logs_two, "wrk_stats": stats, "scaleout": so}
i = ev["injected"]
rows = [(f'events into a decky socket, {ev["rate"]}/s × {ev["seconds"]:.0f} s, stored (counted)',
         f'{i["sent"]} sent ({i["per_sec"]:.0f}/s), {ev["stored"]} stored, {ev["lost"]} lost, {i["errors"]} errors', "-", "-", "nothing lost")]
s = sse["streams"][0]
rows.append((f'SSE: {s["subscribers"]} /stream subscribers, {sse["rate"]} events/s asked ({sse["injected"]["per_sec"]:.0f}/s achieved), socket → frame',
             f'p50 {s["p50_ms"]:.1f} / p99 {s["p99_ms"]:.1f} / max {s["max_ms"]:.0f} ms', "-", "-", "p99 < 50 ms"))
rows.append((f'SSE: events received per subscriber (of {sse["injected"]["sent"]} sent)',
             f'min {s["per_subscriber_min"]} / median {s["per_subscriber_median"]} / max {s["per_subscriber_max"]}; {s["complete"]} complete; {s["dropped"]} dropped, {s["slow_errors"]} slow-client cuts', "-", "-", "no drops"))
rows.append((f'{fill["stored"]:,} events stored: GET /api/v1/logs?limit=50 (wrk -t2 -c32)',
             f'{logs["rps"]:.0f} req/s, p50 {logs["p50_ms"]:.2f} / p99 {logs["p99_ms"]:.2f} ms, {logs["non_2xx"]} non-2xx, {logs["timeouts"]} timeouts', "-", "-", "≥ 5,000 req/s"))
for what, w in (("kind=auth_attempt (250k rows; total from its counter)", logs_kind),
                ("decky=web01&kind=auth_attempt (50k rows; total capped)", logs_two)):
    rows.append((f'{fill["stored"]:,} events stored: GET /api/v1/logs?limit=50&{what} (wrk -t2 -c32)',
                 f'{w["rps"]:.0f} req/s, p50 {w["p50_ms"]:.2f} / p99 {w["p99_ms"]:.2f} ms, {w["non_2xx"]} non-2xx, {w["timeouts"]} timeouts', "-", "-", "-"))
rows.append((f'{fill["stored"]:,} events stored: GET /api/v1/stats (wrk -t1 -c4)',
             f'{stats["rps"]:.1f} req/s, p50 {stats["p50_ms"]:.0f} / p99 {stats["p99_ms"]:.0f} ms, {stats["non_2xx"]} non-2xx, {stats["timeouts"]} timeouts', "-", "-", "-"))
if so:
    for k, st in enumerate(so["streams"]):
        rows.append((f'scale-out: sensor socket → SSE on server {"AB"[k]} ({so["rate"]}/s, 2 servers, NATS + PostgreSQL)',
                     f'p50 {st["p50_ms"]:.1f} / p99 {st["p99_ms"]:.1f} / max {st["max_ms"]:.0f} ms; {st["dropped"]} dropped', "-", "-", "-"))
    rows.append(("scale-out: events stored / ingested by server A + B",
                 f'{so["stored"]} of {so["injected"]["sent"]} / {so["ingested_by_server"][0]} + {so["ingested_by_server"][1]}', "-", "-", "exactly once"))
else:
    rows.append(("scale-out: sensor socket → SSE", "not run (nats-server or PostgreSQL missing, see stderr)", "-", "-", "-"))
res["rows"] = rows
json.dump(res, open(f"{tmp}/api.json", "w"), indent=2)
PY
}
