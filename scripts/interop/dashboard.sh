#!/usr/bin/env bash
# The web dashboard in real headless Chromium and Firefox (selenium): log in, forced
# password change, live events after telnet/SSH attempts on the demo fleet,
# fleet deploy from the INI editor (validator errors on their lines), a
# topology deployed and mutated with live status, attacker detail with SSH
# session replay, attacker places from test geolocation databases, reputation
# answers (AbuseIPDB score, GreyNoise class) and the score filter, and the
# world map, every other page, three tabs live for a minute (Chromium), the
# main flows again in Firefox; screenshots in target/screenshots/; fails
# on any 4xx/5xx the dashboard's own requests get (except the intentional
# ones) and on any console error. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "dashboard.sh: installing chromium chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Another package's broken post-install must not stop us: check the binaries instead.
    apt-get install -y -qq chromium chromium-driver >/dev/null || true
    command -v chromium >/dev/null && command -v chromedriver >/dev/null
fi
# Firefox (Debian's ESR) through geckodriver, built from crates.io once
# (Debian does not package it; the build is cached in ~/.cargo/bin).
if ! command -v firefox-esr >/dev/null 2>&1 && ! command -v firefox >/dev/null 2>&1; then
    echo "dashboard.sh: installing firefox-esr"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq firefox-esr >/dev/null || true
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v geckodriver >/dev/null 2>&1; then
    echo "dashboard.sh: building geckodriver (cargo install, once)"
    cargo install -q --locked geckodriver
fi
if ! python3 -c 'import selenium, paramiko' 2>/dev/null; then
    echo "dashboard.sh: installing selenium paramiko"
    pip install -q selenium paramiko 2>/dev/null || pip install -q --break-system-packages selenium paramiko
fi

[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
BIN=${DECNET_BIN:-target/debug/decnet}
WORK=$(mktemp -d /tmp/decnet-dash.XXXXXX)
DATA="$WORK/data"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

API_PORT=${DASH_API_PORT:-18471}
OFFSET=20000
mkdir -p "$DATA" target/screenshots
rm -f target/screenshots/*.png
# No DECNET_ADMIN_PASSWORD: the generated password forces a change at first login.
env -u DECNET_ADMIN_PASSWORD -u DECNET_API -u DECNET_DB -u DECNET_BUS \
    "$BIN" demo --data-dir "$DATA" --api "127.0.0.1:$API_PORT" --port-offset "$OFFSET" \
    --geoip crates/decnet-intel/testdata/geo-test-city.mmdb --geoip crates/decnet-intel/testdata/geo-test-asn.mmdb \
    >"$WORK/decnet.out" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    if [ -s "$DATA/admin-password" ] && curl -fsS "http://127.0.0.1:$API_PORT/" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$PID" 2>/dev/null; then cat "$WORK/decnet.out"; echo "dashboard.sh: decnet exited"; exit 1; fi
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$API_PORT/" | grep -q '/js/app.js' || { echo "dashboard.sh: / is not the dashboard"; exit 1; }

status=0
# Chromium: every flow, then three tabs open for a minute under live traffic.
DASH_URL="http://127.0.0.1:$API_PORT" DASH_DATA="$DATA" DASH_OFFSET="$OFFSET" DASH_SHOTS=target/screenshots \
    timeout 330 python3 scripts/interop/dashboard_e2e.py || status=$?
if [ "$status" != 0 ]; then
    echo "dashboard.sh: FAILED in Chromium ($status); decnet output:"
    tail -n 40 "$WORK/decnet.out"
    exit "$status"
fi
# Firefox: the main flows again, on the same server.
DASH_BROWSER=firefox DASH_URL="http://127.0.0.1:$API_PORT" DASH_DATA="$DATA" DASH_OFFSET="$OFFSET" DASH_SHOTS=target/screenshots \
    timeout 180 python3 scripts/interop/dashboard_e2e.py || status=$?
if [ "$status" != 0 ]; then
    echo "dashboard.sh: FAILED in Firefox ($status); decnet output:"
    tail -n 40 "$WORK/decnet.out"
    exit "$status"
fi
echo "dashboard.sh: OK ($(ls target/screenshots/*.png | wc -l) screenshots in target/screenshots/)"
