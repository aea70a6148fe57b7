#!/usr/bin/env bash
# Durability of `decnet serve` against real curl bursts:
#  1. kill -9 in the middle of a burst, restart: every event in decnet.log
#     (rotated gzip copies included) is in the store; answered-but-lost
#     requests (the window before the journal) are counted and printed.
#  2. logrotate's way (mv + kill -HUP): later lines go to a new decnet.log.
#  3. (root) a 20 MB tmpfs data dir filled to 600 KB free: /health says
#     degraded with the reason; after space returns every answered request
#     is in the store or covered by the dropped counter; SIGTERM on a full
#     disk exits 0 within 10 s and says what it left.
# The store is read with python3's sqlite3 module.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=durability.sh
. scripts/lib/interop.sh
interop_need curl:curl python3:python3
interop_workdir decnet-durability
trap 'echo "$NAME: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

NET=127.0.63
DECKY=$NET.10
cat >"$WORK/fleet.ini" <<EOF
[general]
net = $NET.0/24
gw = $NET.1

[web]
ip = $DECKY
services = http
EOF

# serve DATA_DIR [ARGS…]: starts serve, waits for the decky; sets PID, API.
serve() {
    local data=$1; shift
    API="127.0.0.1:$(( 28000 + RANDOM % 1000 ))"
    DECNET_ADMIN_PASSWORD=durability-admin-pw "$BIN" serve --config "$WORK/fleet.ini" \
        --data-dir "$data" --port-offset "$OFF" --api "$API" "$@" >>"$WORK/serve.out" 2>&1 &
    PID=$!
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/$DECKY/$(p 80)") 2>/dev/null; then return 0; fi
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.out"; fail "serve died"; }
        sleep 0.1
    done
    fail "nothing listens on $DECKY:$(p 80)"
}

# stop_serve SIGNAL: signals serve and waits; sets RC and TOOK (seconds).
stop_serve() {
    local t0; t0=$(date +%s.%N)
    kill "-$1" "$PID"
    RC=0; wait "$PID" || RC=$?
    PID=""
    TOOK=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
}

# burst TAG COUNT PARALLEL OUT: COUNT curl GETs /TAG/N; answered paths to OUT.
burst() {
    seq 1 "$2" | xargs -P "$3" -I{} curl -s -o /dev/null -m 5 \
        -w '%{http_code} /'"$1"'/{}\n' "http://$DECKY:$(p 80)/$1/{}" \
        | awk '$1 != "000" { print $2 }' >>"$4" || true
}

token() {
    curl -s -X POST -H 'Content-Type: application/json' \
        -d '{"username":"admin","password":"durability-admin-pw"}' \
        "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

health() {
    curl -s -H "Authorization: Bearer $(token)" "http://$API/api/v1/health"
}

# logged_ids DATA: event ids of every decnet.log line, rotated copies too.
logged_ids() {
    { for f in "$1"/decnet.log.*.gz; do if [ -e "$f" ]; then zcat "$f"; fi; done
      for f in "$1"/decnet.log.*Z; do if [ -e "$f" ]; then cat "$f"; fi; done
      cat "$1/decnet.log"; } | grep -o 'event_id="[^"]*"' | cut -d'"' -f2 | sort -u
}

# stored DATA WHAT: ids (WHAT=ids) or request paths (WHAT=paths) in the store.
stored() {
    python3 - "$1/decnet.db" "$2" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for (i, f) in db.execute("SELECT id, fields FROM events"):
    if sys.argv[2] == "ids":
        print(i)
    else:
        p = json.loads(f).get("path")
        if p:
            print(p)
PY
}

# --- 1. kill -9 mid-burst --------------------------------------------------
D1=$WORK/k9
serve "$D1" --log-max-size 256K --log-keep 1000
: >"$WORK/k9.answered"
burst k9 20000 8 "$WORK/k9.answered" &
BURST=$!
while [ "$(wc -l <"$WORK/k9.answered")" -lt 5000 ]; do
    kill -0 "$BURST" 2>/dev/null || break
    sleep 0.05
done
stop_serve KILL
wait "$BURST" || true
ANSWERED=$(sort -u "$WORK/k9.answered" | wc -l)
logged_ids "$D1" >"$WORK/k9.logged"
serve "$D1" --log-max-size 256K --log-keep 1000
stop_serve TERM
[ "$RC" = 0 ] || fail "restarted serve exited $RC"
CAUGHT=$(grep "event journal: caught up" "$WORK/serve.out" | tail -1) || fail "no catch-up after kill -9"
CATCHUP_MS=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$CAUGHT" | grep -o 'millis=[0-9]*' | cut -d= -f2)
REPLAYED=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$CAUGHT" | grep -o ' events=[0-9]*' | cut -d= -f2)
stored "$D1" ids | sort -u >"$WORK/k9.stored"
MISSING=$(comm -23 "$WORK/k9.logged" "$WORK/k9.stored" | wc -l)
[ "$MISSING" = 0 ] || fail "$MISSING of $(wc -l <"$WORK/k9.logged") logged events missing from the store"
stored "$D1" paths | sort -u >"$WORK/k9.paths"
LOST=$(sort -u "$WORK/k9.answered" | comm -23 - "$WORK/k9.paths" | wc -l)
ROT=$(ls "$D1"/decnet.log.*.gz 2>/dev/null | wc -l)
echo "$NAME: kill -9 after $ANSWERED answered: $(wc -l <"$WORK/k9.logged") logged events all stored after restart ($ROT rotated logs; $REPLAYED events re-read from the journal in ${CATCHUP_MS} ms); answered but lost: $LOST"

# --- 2. logrotate: mv + SIGHUP ---------------------------------------------
D2=$WORK/hup
serve "$D2"
burst before 20 2 "$WORK/hup.answered"
sleep 0.5
mv "$D2/decnet.log" "$D2/decnet.log.1"
kill -HUP "$PID"
for _ in $(seq 1 50); do [ -e "$D2/decnet.log" ] && break; sleep 0.1; done
[ -e "$D2/decnet.log" ] || fail "decnet.log not reopened after SIGHUP"
burst after 20 2 "$WORK/hup.answered"
stop_serve TERM
grep -q '/after/' "$D2/decnet.log.1" && fail "a line went to the moved log after SIGHUP"
[ "$(grep -c 'request \[.*path="/after/' "$D2/decnet.log")" = 20 ] || fail "new decnet.log lacks the later requests"
[ "$(grep -c 'path="/before/' "$D2/decnet.log.1")" = 20 ] || fail "moved log lacks the earlier requests"
echo "$NAME: SIGHUP reopen OK"

# --- 3. a nearly full data dir (root) ------------------------------------------
if [ "$(id -u)" != 0 ]; then
    echo "$NAME: SKIPPED the disk-full part (needs root to mount a tmpfs)"
    echo "$NAME: OK"
    exit 0
fi
MNT=$WORK/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=20m tmpfs "$MNT"
trap 'umount -l "$MNT" 2>/dev/null || true; interop_cleanup' EXIT
D3=$MNT/data
serve "$D3" --event-backlog 3000
FREE=$(df --output=avail -B1 "$MNT" | tail -1)
fallocate -l $(( FREE - 600 * 1024 )) "$MNT/filler"
: >"$WORK/full.answered"
burst full 2000 4 "$WORK/full.answered"
ANSWERED=$(sort -u "$WORK/full.answered" | wc -l)
H=$(health)
echo "$H" | python3 -c '
import json, sys
h = json.load(sys.stdin)
assert h["status"] == "degraded", h
c = h["components"]
assert c["event_log"]["status"] == "failing" and "No space left" in c["event_log"]["detail"], c["event_log"]
assert "store_ingester" in c, c
' || fail "health while full: $H"
rm -f "$MNT/filler"
for _ in $(seq 1 150); do
    H=$(health)
    echo "$H" | grep -q '"status":"healthy"' && break
    sleep 0.2
done
echo "$H" | grep -q '"status":"healthy"' || fail "no recovery after space returned: $H"
DROPPED=$(echo "$H" | python3 -c '
import json, re, sys
d = json.load(sys.stdin)["components"]["event_log"]["detail"]
print(re.search(r"(\d+) dropped", d).group(1))')
# Full again, then SIGTERM: prompt, exit 0, says what it left.
fallocate -l "$(df --output=avail -B1 "$MNT" | tail -1)" "$MNT/filler" || true
burst late 200 2 "$WORK/late.answered"
stop_serve TERM
[ "$RC" = 0 ] || fail "SIGTERM on a full disk: exit $RC"
python3 -c "import sys; sys.exit(0 if $TOOK < 10 else 1)" || fail "SIGTERM on a full disk took ${TOOK}s"
grep -q "not written to decnet.log at shutdown" "$WORK/serve.out" || fail "shutdown did not say what it left"
rm -f "$MNT/filler"
stored "$D3" paths | sort -u >"$WORK/full.paths"
LOST=$(sort -u "$WORK/full.answered" | comm -23 - "$WORK/full.paths" | wc -l)
echo "$NAME: disk full: $ANSWERED answered, $DROPPED events dropped (counted), $LOST answered requests not stored; SIGTERM on a full disk took ${TOOK}s"
[ "$LOST" -le "$DROPPED" ] || fail "$LOST answered requests not stored but only $DROPPED events counted as dropped"
echo "$NAME: OK"
