#!/usr/bin/env bash
# DECNET compatibility (DESIGN §17) against real clients: what DECNET's log
# consumers match on is in decnet.log — DECNET's per-service event names
# (`event_type`, or the MSGID with `log_compat = decnet`), `outcome`, the
# PostgreSQL StartupMessage of a client that never sends a password (psql
# -w), every MongoDB command (pymongo's isMaster), an anonymous MQTT CONNECT
# as a login (mosquitto_pub), the TLS ClientHello apart from the HTTP
# request (curl --tlsv1.2), smtp EHLO (swaks); and DECNET INI keys:
# honoured (http response_code) or warned by `decnet validate` with
# FILE:LINE (exit 0), and the same warning from `serve`.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=compat.sh
. scripts/lib/interop.sh
interop_need psql:postgresql-client mosquitto_pub:mosquitto-clients curl:curl swaks:swaks python3:python3
python3 -c 'import pymongo' 2>/dev/null || pip install -q pymongo 2>/dev/null \
    || pip install -q --break-system-packages pymongo
interop_workdir decnet-compat
set +o pipefail

IP=127.0.67.10

write_fleet() { # [general] extra line
    cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.67.0/24
$1

[web01]
ip = $IP
services = postgres, mongodb, mqtt, https, http, smtp

[web01.http]
response_code = 403
fake_app = jenkins

[web01.https]
tls_cert = /etc/ssl/decnet.pem
EOF
}

# --- INI keys: validate warns by line, exits 0.
write_fleet ""
"$BIN" validate "$WORK/fleet.ini" >"$WORK/validate.out" 2>"$WORK/validate.err" || { cat "$WORK/validate.err"; fail "validate exit status"; }
grep -q "fleet.ini:11: warning: fake_app = 'jenkins'" "$WORK/validate.err" || { cat "$WORK/validate.err"; fail "fake_app warning"; }
grep -q "fleet.ini:14: warning: DECNET key 'tls_cert' in \[web01.https\]" "$WORK/validate.err" || { cat "$WORK/validate.err"; fail "tls_cert warning"; }
if grep -q "response_code" "$WORK/validate.err"; then fail "response_code is honoured, not warned"; fi

interop_serve "$IP" "$(p 5432)" 21000
grep -q "warning: DECNET key 'tls_cert'" "$WORK/serve.out" || { cat "$WORK/serve.out"; fail "serve logs the INI warning"; }

# --- http: DECNET's response_code answers every page.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$IP:$(p 80)/admin")
[ "$code" = 403 ] || fail "response_code = 403 gave $code"

# --- postgres: psql that will not send a password (-w) still leaves its startup.
PGCONNECT_TIMEOUT=5 psql -w "host=$IP port=$(p 5432) user=dbattacker dbname=secrets application_name=exfil sslmode=disable" -c 'select 1' >/dev/null 2>&1 && fail "psql -w connected"
expect_log "postgres startup" 'web01 postgres - request \[' 'event_type="startup"' 'user="dbattacker"' 'database="secrets"' 'application_name="exfil"'
if grep 'web01 postgres - auth_attempt' "$LOG" | grep -q dbattacker; then fail "psql -w sent no password: no auth_attempt expected"; fi
PGPASSWORD=toor PGCONNECT_TIMEOUT=5 psql "host=$IP port=$(p 5432) user=root dbname=postgres sslmode=disable" -c 'select 1' >/dev/null 2>&1 && fail "psql wrong password accepted"
expect_log "postgres auth outcome" 'web01 postgres - auth_attempt' 'event_type="auth"' 'outcome="failure"' 'username="root"'

# --- mongodb: pymongo's isMaster is logged.
python3 - "$IP" "$(p 27017)" <<'PY' || fail "pymongo isMaster"
import sys, pymongo
c = pymongo.MongoClient(f"mongodb://{sys.argv[1]}:{sys.argv[2]}/", serverSelectionTimeoutMS=5000, connectTimeoutMS=5000)
c.admin.command("ismaster")
c.close()
PY
expect_log "mongodb ismaster" 'web01 mongodb - command' 'event_type="message"' 'command="ismaster"'

# --- mqtt: an anonymous CONNECT is a login.
mosquitto_pub -h "$IP" -p "$(p 1883)" -i evil-scanner-9000 -t 'plant/line1' -m x || fail "mosquitto_pub anonymous"
expect_log "mqtt anonymous login" 'web01 mqtt - auth_attempt' 'event_type="auth"' 'client_id="evil-scanner-9000"' 'username=""' 'outcome="success"'

# --- https: the ClientHello is not a request; the first request line is the GET.
curl -sk --tlsv1.2 -o /dev/null "https://$IP:$(p 443)/secret/file.txt" || fail "curl https"
expect_log "tls client hello" 'web01 https - scan \[' 'event_type="tls_client_hello"' 'ja3="[0-9a-f]{32}"'
first=$(grep ' https ' "$LOG" | grep -m1 'request' || true)
grep -q 'method="GET"' <<<"$first" && grep -q 'path="/secret/file.txt"' <<<"$first" || { echo "$first"; fail "first https request line is the GET"; }

# --- smtp: EHLO is named.
swaks --server "$IP" --port "$(p 25)" --quit-after EHLO --ehlo attacker.example.com >/dev/null 2>&1 || fail "swaks EHLO"
expect_log "smtp ehlo" 'web01 smtp - command' 'event_type="ehlo"' 'command="EHLO attacker.example.com"'

# --- log_compat = decnet: DECNET's names in the MSGID.
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
rm -f "$LOG"
write_fleet "log_compat = decnet"
interop_serve "$IP" "$(p 5432)" 22000
PGCONNECT_TIMEOUT=5 psql -w "host=$IP port=$(p 5432) user=msgid dbname=postgres sslmode=disable" -c 'select 1' >/dev/null 2>&1 || true
expect_log "startup as MSGID" 'web01 postgres - startup \[' 'kind="request"' 'user="msgid"'
echo "$NAME: OK"
