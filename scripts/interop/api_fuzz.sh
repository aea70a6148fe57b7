#!/usr/bin/env bash
# API fuzzing: schemathesis (PyPI) against the OpenAPI document of a running
# `decnet serve`, authenticated as admin. Bounded run; fails on any 5xx
# (not_a_server_error) or a response that does not match its documented
# schema (response_schema_conformance). SSE routes (they never end), logout
# and change-password (they would kill the token mid-run) and the webhook
# test sender (it would POST to fuzzer-invented hosts) are excluded.
# Installs what it needs; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v st >/dev/null 2>&1 && ! python3 -c 'import schemathesis' 2>/dev/null; then
    echo "api_fuzz.sh: installing schemathesis"
    pip install -q schemathesis 2>/dev/null || pip install -q --break-system-packages schemathesis
fi
ST="st"
command -v st >/dev/null 2>&1 || ST="python3 -m schemathesis.cli"
command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
BIN=${DECNET_BIN:-target/debug/decnet}
WORK=$(mktemp -d /tmp/decnet-apifuzz.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=${API_FUZZ_PORT:-18481}
BASE="http://127.0.0.1:$PORT"
cat > "$WORK/fleet.ini" <<'INI'
[general]
net = 127.0.82.0/24
gw = 127.0.82.1

[fuzz01]
ip = 127.0.82.10
services = telnet

; Every optional backend on, so its routes answer (not 503) and get fuzzed.
[response]
ban_on = auth_attempt
duration = 10m
backends = blocklist

[canary]
http = 127.0.0.1:18482
INI
DECNET_ADMIN_PASSWORD=fuzz-admin-password DECNET_JWT_SECRET=api-fuzz-secret-api-fuzz-secret-0123 \
    "$BIN" serve --config "$WORK/fleet.ini" --data-dir "$WORK/data" --api "127.0.0.1:$PORT" \
    --port-offset 45000 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/api/v1/openapi.json" -o "$WORK/openapi.json" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.err"; echo "api_fuzz.sh: decnet exited"; exit 1; }
    sleep 0.2
done
[ -s "$WORK/openapi.json" ] || { echo "api_fuzz.sh: API did not come up"; cat "$WORK/serve.err"; exit 1; }
python3 -c "import json,sys; d=json.load(open('$WORK/openapi.json')); assert d['openapi'].startswith('3.1'), d['openapi']; print('openapi', d['openapi'], len(d['paths']), 'paths')"

TOKEN=$(curl -fsS -H 'content-type: application/json' \
    -d '{"username":"admin","password":"fuzz-admin-password"}' "$BASE/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

set +e
timeout "${API_FUZZ_TIMEOUT:-240}" $ST run "$BASE/api/v1/openapi.json" \
    --url "$BASE" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "${API_FUZZ_EXAMPLES:-12}" \
    --phases examples,coverage,fuzzing \
    --workers 1 \
    --request-timeout 20 \
    --exclude-path-regex '(/stream$|/events$|/auth/logout$|/auth/change-password$|/webhooks/\{webhook_id\}/test$)' \
    --no-color 2>&1 | tee "$WORK/st.out"
RC=${PIPESTATUS[0]}
set -e
# The server must still be alive and must never have leaked a stack trace.
kill -0 "$PID" 2>/dev/null || { echo "api_fuzz.sh: decnet died during fuzzing"; tail -50 "$WORK/serve.err"; exit 1; }
if grep -q "panicked at" "$WORK/serve.err"; then
    echo "api_fuzz.sh: a handler panicked:"; grep -A3 "panicked at" "$WORK/serve.err" | head -20
    exit 1
fi
if [ "$RC" -ne 0 ]; then
    echo "api_fuzz.sh: schemathesis failed (exit $RC)"
    grep -E "error_id|internal server error" "$WORK/serve.err" | tail -20 || true
    exit 1
fi
echo "api_fuzz.sh: OK"
