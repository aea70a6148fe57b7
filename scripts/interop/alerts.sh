#!/usr/bin/env bash
# Alerts against real peers. aiosmtpd (PyPI; a complete SMTP server) with
# STARTTLS required and AUTH required receives what the smtp channel sends:
# a channel test and an alert through the whole engine (spool, lane,
# delivery state), each a multipart/alternative mail (text/plain +
# text/html) over TLS after AUTH; a wrong password is a permanent failure
# (535) and plain text is refused by the server. Then the channel-outage
# scenario for a real minute (see below), and the real binary: `decnet
# validate` locating alert config errors, `decnet serve` mailing what a
# hydra brute force and an ssh login on a decky cause. The outage
# scenario: a webhook channel refusing connections for
# 60 s while alerts keep coming, the engine restarted halfway, then back:
# nothing lost, order kept per rule. Drives the crate's examples, built by
# the workspace test run next to DECNET_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=alerts.sh
. scripts/lib/interop.sh
interop_need openssl:openssl python3:python3
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    pip install -q aiosmtpd 2>/dev/null || pip install -q --break-system-packages aiosmtpd
fi
python3 -c 'import aiosmtpd' || { echo "$NAME: aiosmtpd missing" >&2; exit 1; }

BIN=${DECNET_BIN:-target/debug/decnet}
EX="$(dirname "$BIN")/examples"
if [ ! -x "$EX/smtp_probe" ] || [ ! -x "$EX/alerts_outage" ]; then
    # Same selection as .ci/run's fallback, so features resolve as in the test run.
    cargo build -q --workspace --all-targets
fi
WORK=$(mktemp -d /tmp/decnet-alerts.XXXXXX)
SMTPD=""
cleanup() {
    if [ -n "$SMTPD" ]; then kill "$SMTPD" 2>/dev/null || true; wait "$SMTPD" 2>/dev/null || true; fi
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "$NAME: FAIL: $*" >&2; cat "$WORK/smtpd.log" >&2 2>/dev/null || true; exit 1; }

# --- a real SMTP server: STARTTLS and AUTH required
# A throw-away CA and a server certificate it signs (a CA certificate used
# as the server's own is rightly refused by the client).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.pem" -days 1 \
    -subj "/CN=decnet interop CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/server.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$WORK/ext.cnf"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
    -out "$WORK/cert.pem" -days 1 -extfile "$WORK/ext.cnf" 2>/dev/null
PORT=$(( 22000 + RANDOM % 2000 ))
PASSWORD="correct horse $RANDOM"
printf '%s\n' "$PASSWORD" >"$WORK/password"
mkdir -p "$WORK/mail"
cat >"$WORK/smtpd.py" <<'PY'
import json, os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, pwfile, outdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
password = open(pwfile).read().rstrip("\n").encode()

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts" and auth_data.password == password
    print(f"auth mechanism={mechanism} ok={ok} tls={session.ssl is not None}", flush=True)
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

class Handler:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Handler.n += 1
        base = os.path.join(outdir, f"{Handler.n:03d}")
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({"tls": session.ssl is not None, "auth": (session.auth_data.login.decode() if session.auth_data else None),
                       "mail_from": envelope.mail_from, "rcpt": envelope.rcpt_tos}, f)
        return "250 Message accepted for delivery"

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
               auth_required=True, auth_require_tls=True, authenticator=authenticator)
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
PY
python3 "$WORK/smtpd.py" "$PORT" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/password" "$WORK/mail" >"$WORK/smtpd.log" 2>&1 &
SMTPD=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/smtpd.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/smtpd.log" || fail "aiosmtpd did not start"

mail_ini() { # $1 = extra keys
    cat <<EOF2
[alerts]
node = interop
[alerts.mail]
type = smtp
host = 127.0.0.1
port = $PORT
username = alerts
from = decnet alerts <alerts@decnet.test>
to = soc@example.org
ca_file = $WORK/ca.pem
$1
EOF2
}

# 1. test + an alert through the engine: both delivered
mail_ini "password = file:$WORK/password" >"$WORK/good.ini"
"$EX/smtp_probe" "$WORK/good.ini" --engine >"$WORK/good.out" || { cat "$WORK/good.out"; fail "delivery to aiosmtpd"; }
grep -q '"delivered":true' "$WORK/good.out" || fail "channel test not delivered"
grep -q '"state":"sent"' "$WORK/good.out" || fail "engine alert not in state sent"
grep -q '"rule":"login_success"' "$WORK/good.out" || fail "no login_success alert in the history"
[ "$(ls "$WORK/mail"/*.eml | wc -l)" = 2 ] || fail "expected 2 mails, got $(ls "$WORK/mail" | wc -l)"
for m in "$WORK"/mail/*.eml; do
    meta="${m%.eml}.json"
    python3 - "$m" "$meta" <<'PY' || fail "mail $m"
import email, json, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
meta = json.load(open(sys.argv[2]))
assert meta["tls"] is True, "not over TLS"
assert meta["auth"] == "alerts", "not authenticated"
assert meta["rcpt"] == ["soc@example.org"], meta
assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
assert set(parts) == {"text/plain", "text/html"}, parts.keys()
assert msg["Subject"].startswith("[decnet] "), msg["Subject"]
assert msg["Message-ID"].endswith("@decnet.test>"), msg["Message-ID"]
assert "alert id" in parts["text/plain"]
assert "<table>" in parts["text/html"]
print("ok", msg["Subject"])
PY
done
grep -q 'Successful login on mail01/ssh from 203.0.113.25' "$WORK"/mail/*.eml || fail "engine alert mail content"
grep -q 'ok=True tls=True' "$WORK/smtpd.log" || fail "AUTH over TLS not seen by the server"

# 2. wrong password: a permanent failure the test button reports as such
printf 'wrong\n' >"$WORK/bad-password"
mail_ini "password = file:$WORK/bad-password" >"$WORK/bad.ini"
if "$EX/smtp_probe" "$WORK/bad.ini" >"$WORK/bad.out"; then fail "wrong password delivered"; fi
grep -q '"delivered":false' "$WORK/bad.out" || fail "bad password outcome"
grep -q '"retryable":false' "$WORK/bad.out" || fail "535 must not be retried: $(cat "$WORK/bad.out")"
grep -q '"status":535' "$WORK/bad.out" || fail "expected status 535: $(cat "$WORK/bad.out")"

# 3. no TLS: the server requires STARTTLS first
mail_ini "password = file:$WORK/password
tls = none
allow_plaintext_auth = true" >"$WORK/plain.ini"
if "$EX/smtp_probe" "$WORK/plain.ini" >"$WORK/plain.out"; then fail "plain-text session delivered"; fi
grep -q '"delivered":false' "$WORK/plain.out" || fail "plain-text outcome"
[ "$(ls "$WORK/mail"/*.eml | wc -l)" = 2 ] || fail "a refused session delivered mail"
echo "$NAME: smtp ok ($(grep -c 'ok=' "$WORK/smtpd.log") AUTH exchanges)"

# --- the real binary: `decnet validate` locates alert config errors, and a
# brute force + login + command on an SSH decky of `decnet serve` reach
# aiosmtpd as a handful of mails (first sight, escalations), not one per
# attempt; the API shows the delivery state and never the password.
interop_need ssh:openssh-client sshpass:sshpass hydra:hydra curl:curl
[ -x "$BIN" ] || fail "no decnet binary at $BIN"
DECKY=127.0.62.10
SSH_PORT=22
if [ "$(id -u)" != 0 ]; then SSH_PORT=20022; fi
API="127.0.0.1:$(( 19500 + RANDOM % 400 ))"
rm -f "$WORK"/mail/*
fleet_ini() { # $1 = extra channel keys
    printf '[general]\nnet = 127.0.62.0/24\n\n[ssh01]\nip = %s\nservices = ssh\ndistro = debian\n\n[ssh01.ssh]\npassword = dragon77\n\n' "$DECKY"
    mail_ini "$1"
}
fleet_ini "password = $PASSWORD
tyop = 1" >"$WORK/bad-fleet.ini"
if "$BIN" validate "$WORK/bad-fleet.ini" >"$WORK/validate.out" 2>&1; then fail "validate accepted an unknown key"; fi
LINE=$(grep -n '^tyop' "$WORK/bad-fleet.ini" | cut -d: -f1)
grep -q "bad-fleet.ini:$LINE: \[alerts.mail\] tyop: unknown key" "$WORK/validate.out" \
    || fail "validate output: $(cat "$WORK/validate.out")"
grep -qF "$PASSWORD" "$WORK/validate.out" && fail "validate printed the SMTP password"
fleet_ini "password = $PASSWORD" >"$WORK/fleet.ini"
"$BIN" validate "$WORK/fleet.ini" >/dev/null || fail "validate refused the good fleet"

DECNET_ADMIN_PASSWORD=interop-admin-pw DECNET_LOG=info "$BIN" serve --config "$WORK/fleet.ini" \
    --data-dir "$WORK/data" --port-offset $(( SSH_PORT - 22 )) --api "$API" >"$WORK/serve.out" 2>&1 &
SERVE=$!
trap 'kill "$SERVE" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/$DECKY/$SSH_PORT") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/$DECKY/$SSH_PORT") 2>/dev/null || { cat "$WORK/serve.out"; fail "decky ssh not listening"; }
for i in $(seq 1 40); do echo "wrong$i"; done >"$WORK/words"
echo dragon77 >>"$WORK/words"
timeout 120 hydra -l root -P "$WORK/words" -t 4 -s "$SSH_PORT" -f "$DECKY" ssh >"$WORK/hydra.out" 2>&1 || true
grep -q 'password: dragon77' "$WORK/hydra.out" || { cat "$WORK/hydra.out"; fail "hydra did not find the password"; }
SSHOPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no
         -o PreferredAuthentications=password,keyboard-interactive -o LogLevel=ERROR -o ConnectTimeout=10)
sshpass -p dragon77 ssh "${SSHOPTS[@]}" -p "$SSH_PORT" root@$DECKY 'uname -a; id' >/dev/null || fail "ssh login"
for _ in $(seq 1 200); do grep -lq 'Successful login on ssh01/ssh' "$WORK"/mail/*.eml 2>/dev/null && break; sleep 0.1; done
grep -lq 'Successful login on ssh01/ssh' "$WORK"/mail/*.eml 2>/dev/null || { cat "$WORK/serve.out"; fail "no login mail from the real binary"; }
for _ in $(seq 1 100); do grep -lq 'command_executed' "$WORK"/mail/*.eml 2>/dev/null && break; sleep 0.1; done
MAILS=$(ls "$WORK"/mail/*.eml | wc -l)
ATTEMPTS=$(grep -c 'ssh01 ssh - auth_attempt' "$WORK/data/decnet.log" || true)
[ "$ATTEMPTS" -ge 10 ] || fail "only $ATTEMPTS auth attempts logged"
[ "$MAILS" -ge 2 ] && [ "$MAILS" -le 5 ] || fail "$MAILS mails for $ATTEMPTS attempts + a login (want 2..5)"
TOKEN=$(curl -sf -m 10 "http://$API/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"interop-admin-pw"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
    || fail "API login"
curl -sf -m 10 -H "authorization: Bearer $TOKEN" "http://$API/api/v1/alerts/history?limit=50" >"$WORK/history.json" || fail "GET /alerts/history"
curl -sf -m 30 -X POST -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{}' \
    "http://$API/api/v1/alerts/channels/mail/test" >"$WORK/test.json" || fail "POST /alerts/channels/mail/test"
curl -sf -m 10 -H "authorization: Bearer $TOKEN" "http://$API/api/v1/alerts/channels" >"$WORK/channels.json" || fail "GET /alerts/channels"
python3 - "$WORK/history.json" "$WORK/test.json" <<'PY' || fail "API answers: $(cat "$WORK/history.json" "$WORK/test.json")"
import json, sys
h, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert t["delivered"] is True, t
rules = [r["alert"]["rule"] for r in h["data"]]
assert "login_success" in rules, rules
login = next(r for r in h["data"] if r["alert"]["rule"] == "login_success")
assert [d["state"] for d in login["deliveries"]] == ["sent"], login["deliveries"]
print("history:", rules)
PY
for f in history.json test.json channels.json serve.out; do
    grep -qF "$PASSWORD" "$WORK/$f" && fail "$f shows the SMTP password"
done
kill "$SERVE"
for _ in $(seq 1 200); do kill -0 "$SERVE" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVE" 2>/dev/null && fail "decnet serve did not stop within 20 s"
wait "$SERVE" 2>/dev/null || true
trap cleanup EXIT
# Shutdown closes the open throttle windows: the digest counts every
# refused attempt that did not get its own mail.
FAILED=$(grep 'ssh01 ssh - auth_attempt' "$WORK/data/decnet.log" | grep -c 'success="false"' || true)
python3 - "$WORK/mail" "$(( FAILED - 1 ))" <<'PY' || fail "no digest of the brute force at shutdown"
import email, glob, sys
from email import policy
want = f"({sys.argv[2]} more)"
subjects = [email.message_from_binary_file(open(m, "rb"), policy=policy.default)["Subject"] for m in glob.glob(sys.argv[1] + "/*.eml")]
assert any("Credentials tried on ssh01/ssh" in s and want in s for s in subjects), (want, subjects)
PY
echo "$NAME: real binary ok ($ATTEMPTS attempts + login + command → $MAILS mails, then a digest of $(( FAILED - 1 )))"

# --- the history is in the store: a restarted server still shows the login
# alert's mail as sent.
DECNET_ADMIN_PASSWORD=interop-admin-pw "$BIN" serve --config "$WORK/fleet.ini" \
    --data-dir "$WORK/data" --port-offset $(( SSH_PORT - 22 )) --api "$API" >"$WORK/serve2.out" 2>&1 &
SERVE=$!
trap 'kill "$SERVE" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 150); do curl -sf -m 2 "http://$API/" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=$(curl -sf -m 10 "http://$API/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"interop-admin-pw"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') \
    || fail "API login after the restart"
curl -sf -m 10 -H "authorization: Bearer $TOKEN" "http://$API/api/v1/alerts/history?limit=100" >"$WORK/history2.json" \
    || fail "GET /alerts/history after the restart"
python3 - "$WORK/history2.json" <<'PY' || fail "history after the restart: $(cat "$WORK/history2.json")"
import json, sys
h = json.load(open(sys.argv[1]))
login = [r for r in h["data"] if r["alert"]["rule"] == "login_success"]
assert login and [d["state"] for d in login[-1]["deliveries"]] == ["sent"], login
PY
kill "$SERVE"
for _ in $(seq 1 200); do kill -0 "$SERVE" 2>/dev/null || break; sleep 0.1; done
wait "$SERVE" 2>/dev/null || true
trap cleanup EXIT
echo "$NAME: history kept across a restart"

# --- a channel down for a real minute, engine restarted halfway
"$EX/alerts_outage" --down-secs 60 --rounds 30 --restart >"$WORK/outage.json" || { cat "$WORK/outage.json"; fail "outage scenario"; }
python3 - "$WORK/outage.json" <<'PY' || fail "outage report"
import json, sys
r = json.load(open(sys.argv[1]))
print("outage report:", r)
assert r["created"] == 90 and r["lost"] == 0 and r["order_violations"] == 0, r
assert r["duplicates"] <= r["created"], r
assert r["breaker_opened"] >= 1, r
PY
echo "$NAME: all ok"
