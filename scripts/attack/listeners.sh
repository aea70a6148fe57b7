#!/usr/bin/env bash
# Attack suite: a fleet running every service on 127.0.74.x, then
# scripts/attack/attack.py: a fuzz pass over every TCP/UDP listener (no
# panic event, file descriptors back to baseline, server alive) and a
# memory-amplification pass per service against an RSS budget. Bounded
# (a few minutes on a debug build). Self-cleaning.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v python3 >/dev/null 2>&1; then
    echo "listeners.sh: installing python3"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 >/dev/null
fi

[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
BIN=${DECNET_BIN:-target/debug/decnet}
TMP=$(mktemp -d /tmp/decnet-attack.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

cat > "$TMP/fleet.ini" <<INI
[general]
net = 127.0.74.0/24
gw = 127.0.74.1
mode = loopback

[lin]
ip = 127.0.74.10
distro = debian
services = ssh, telnet, http, https, ftp, tftp, smtp, pop3, imap

[db]
ip = 127.0.74.11
distro = ubuntu22
services = mysql, postgres, redis, mongodb, elasticsearch, docker_api, k8s, ldap, smtp_relay

[infra]
ip = 127.0.74.12
distro = debian
services = dns, snmp, sip, mqtt

[win]
ip = 127.0.74.13
distro = windows2019
services = smb, rdp, vnc, llmnr, mssql

[ics]
ip = 127.0.74.14
services = conpot, printer
INI

fail() { echo "listeners.sh: FAIL: $*" >&2; [ -f "$TMP/serve.log" ] && tail -20 "$TMP/serve.log" >&2; exit 1; }

# A small artifact quota: the amplification pass must meet it, not fill the disk.
DECNET_ARTIFACT_QUOTA_MB=256 $BIN serve --config "$TMP/fleet.ini" --data-dir "$TMP/data" \
    --api 127.0.74.1:18774 >"$TMP/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
    (exec 3<>/dev/tcp/127.0.74.10/22) 2>/dev/null && break
    (exec 3<>/dev/tcp/127.0.74.10/10022) 2>/dev/null && break
    sleep 0.2
done
kill -0 "$PID" 2>/dev/null || fail "decnet serve did not start"
sleep 2

timeout 900 python3 scripts/attack/attack.py --pid "$PID" --net 127.0.74. \
    --log "$TMP/data/decnet.log" ${ATTACK_SEED:+--seed "$ATTACK_SEED"} || fail "attack.py"
kill -0 "$PID" 2>/dev/null || fail "decnet serve died"
echo "listeners.sh: ok"
