# Database-service scenarios of scripts/bench.sh (sourced; uses its
# BIN, LOAD, TMP, PIDS and SECS). Writes $TMP/db.json: the raw results plus
# the table rows bench.sh appends. Bounded: ~40 s in all.
#
#   mysql / redis login attempts/s (16 clients, wrong password, reply checked)
#   1000 idle authenticated connections each: server RSS per connection
#   reference: a real redis-server with requirepass, same modes (if installed)

db_wait() { # HOST PORT: waits until it accepts (10 s at most)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "$1:$2 never accepted" >&2; return 1
}

db_serve() { # OFFSET: starts decnet serve on $TMP/db.ini, sets DB_PID
  DECNET_MAX_CONNS_PER_DECKY=20000 DECNET_MAX_CONNS_PER_SOURCE=20000 DECNET_LOG=warn DECNET_ADMIN_PASSWORD=bench-admin-password \
    "$BIN" serve --config "$TMP/db.ini" --data-dir "$TMP/dbdata" --port-offset "$1" --api 127.0.0.1:0 >/dev/null 2>&1 &
  DB_PID=$!; PIDS+=($DB_PID)
  db_wait 127.0.73.10 $((6379 + $1)); sleep 0.5
}

db_stop() { kill "$DB_PID" 2>/dev/null || true; wait "$DB_PID" 2>/dev/null || true; }

db_scenarios() {
  local off=46000 n=${BENCH_DB_IDLE:-1000} pw=bench-db-pw
  printf '[general]\nnet = 127.0.73.0/24\n[db]\nip = 127.0.73.10\nservices = mysql, redis\ndistro = debian\n[db.mysql]\npassword = %s\n[db.redis]\npassword = %s\n' \
    "$pw" "$pw" > "$TMP/db.ini"
  local mysql=127.0.73.10:$((3306 + off)) redis=127.0.73.10:$((6379 + off))
  # Idle RSS first, each on a fresh process: memory freed by an earlier
  # burst (event queues, closed sessions) would be reused and hide the cost.
  db_serve $off; "$LOAD" db-idle --proto mysql --addr $mysql --password $pw --conns "$n" --server-pid $DB_PID > "$TMP/db-mysql-idle.json"; db_stop
  db_serve $off; "$LOAD" db-idle --proto redis --addr $redis --password $pw --conns "$n" --server-pid $DB_PID > "$TMP/db-redis-idle.json"; db_stop
  db_serve $off
  "$LOAD" db-auth --proto mysql --addr $mysql --seconds "$SECS" --server-pid $DB_PID > "$TMP/db-mysql.json"
  "$LOAD" db-auth --proto redis --addr $redis --seconds "$SECS" --server-pid $DB_PID > "$TMP/db-redis.json"
  db_stop

  echo null > "$TMP/db-redis-ref.json"; echo null > "$TMP/db-redis-ref-idle.json"
  if command -v redis-server >/dev/null; then
    redis-server --bind 127.0.0.1 --port 27379 --requirepass $pw --save '' --appendonly no \
      --maxclients 20000 --dir "$TMP" >/dev/null 2>&1 &
    local ref=$!; PIDS+=($ref)
    db_wait 127.0.0.1 27379
    "$LOAD" db-idle --proto redis --addr 127.0.0.1:27379 --password $pw --conns "$n" --server-pid $ref > "$TMP/db-redis-ref-idle.json"
    "$LOAD" db-auth --proto redis --addr 127.0.0.1:27379 --seconds "$SECS" --server-pid $ref > "$TMP/db-redis-ref.json"
    kill $ref; wait $ref 2>/dev/null || true
  fi

  python3 - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
load = lambda n: json.load(open(f"{tmp}/{n}"))
r = {k: load(f"db-{k}.json") for k in ["mysql", "redis", "mysql-idle", "redis-idle", "redis-ref", "redis-ref-idle"]}
def auth(x):
    cpu = x.get("server_cpu_ms_per_attempt")
    return f'{x["per_sec"]:.0f} (p99 {x["p99_ms"]:.1f} ms, {cpu or 0:.3f} ms CPU, {x["errors"]} errors)'
def idle(x):
    return f'{x["kib_per_session"]:.1f} KiB/conn ({x["sessions"]} held, {x["failed"]} failed)'
ref, ref_idle = r["redis-ref"], r["redis-ref-idle"]
rows = [
    ("mysql denied logins/s (16 clients, native password)", auth(r["mysql"]), "-", "-", "-"),
    ("redis denied AUTH/s (16 clients)", auth(r["redis"]),
     f'{ref["per_sec"]:.0f} (redis-server)' if ref else "-",
     f'{r["redis"]["per_sec"] / ref["per_sec"]:.0%}' if ref else "-", "-"),
    (f'{r["mysql-idle"]["sessions"]} idle logged-in mysql connections', idle(r["mysql-idle"]), "-", "-", "-"),
    (f'{r["redis-idle"]["sessions"]} idle authenticated redis connections', idle(r["redis-idle"]),
     f'{ref_idle["kib_per_session"]:.1f} KiB/conn (redis-server)' if ref_idle else "-", "-", "-"),
]
r["rows"] = rows
json.dump(r, open(f"{tmp}/db.json", "w"), indent=2)
PY
}
