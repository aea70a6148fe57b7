#!/usr/bin/env bash
# Canary tokens against real clients: the `canary_lab` example (HTTP and DNS
# receivers, tokens rendered to files) and a `decnet serve` fleet of deckies
# the credential tokens point at.
#   receivers: curl, wget, dig (UDP, TCP, through a real unbound resolver),
#   boto3 (S3 and STS with the token's keys), git (401 → login), chromium
#   (HTML/SVG beacons), LibreOffice (docx/xlsx), poppler (pdf), and a real
#   nginx whose 404/index answers the receiver must match byte for byte;
#   deckies: OpenSSH with the planted key, mysql/psql with the dumped and
#   configured logins, the kubeconfig's bearer token (curl: Debian has no
#   kubectl), git against the git decky, smbclient following the UNC path.
# Decky events are read back from the API and replayed through the watcher.
# Last, the wired product: `decnet validate` on a [canary] section, then
# `decnet serve` with it: tokens made through the API, curl and dig trigger
# serve's own receivers, the triggers are read back from /api/v1/logs, the
# devops decky's auto-planted tokens are listed and used with OpenSSH (its
# known_hosts, strict checking), git (the http decky) and boto3, a revoked URL
# is a 404.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=canary.sh
. scripts/lib/interop.sh
interop_need curl:curl wget:wget dig:dnsutils git:git ssh:openssh-client mysql:mariadb-client \
    psql:postgresql-client smbclient:smbclient nginx:nginx unbound:unbound \
    soffice:libreoffice-writer-nogui pdftotext:poppler-utils chromium:chromium python3:python3
dpkg -s libreoffice-calc-nogui >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null || true
python3 -c 'import boto3' 2>/dev/null || pip install -q boto3 2>/dev/null || pip install -q --break-system-packages boto3
interop_workdir decnet-canary
set +o pipefail

LAB="$(dirname "$BIN")/examples/canary_lab"
[ -x "$LAB" ] || { [ -z "${DECNET_BIN:-}" ] && cargo build -q -p decnet-canary --example canary_lab; }
[ -x "$LAB" ] || { echo "$NAME: $LAB missing (cargo test --workspace builds it)" >&2; exit 1; }

NET=127.0.64
RX=$NET.2            # receivers
HTTP=$RX:8080
DNSPORT=5353
ZONE=canary.test
API=127.0.0.1:$((19500 + RANDOM % 400))
OUT=$WORK/out
LABPID=""; NGINXPID=""; UNBOUNDPID=""; WIREDPID=""
cleanup_all() {
    for p in $LABPID $NGINXPID $UNBOUNDPID $WIREDPID; do kill "$p" 2>/dev/null || true; done
    interop_cleanup
}
trap cleanup_all EXIT

cat >"$WORK/fleet.ini" <<EOF
[general]
net = $NET.0/24

[ssh01]
ip = $NET.10
services = ssh

[db01]
ip = $NET.11
services = mysql, postgres

[db01.postgres]
auth = md5

[k8s01]
ip = $NET.12
services = k8s

[fs01]
ip = $NET.13
services = smb

[fs01.smb]
share = Finance

[git01]
ip = $NET.14
services = http
EOF
DECNET_ADMIN_PASSWORD=canary-interop-pw "$BIN" serve --config "$WORK/fleet.ini" --data-dir "$DATA" \
    --api "$API" >"$WORK/serve.out" 2>&1 &
PID=$!

mkdir -p "$OUT"
CANARY_DB="$WORK/canary.db" CANARY_HTTP=$HTTP CANARY_OUT="$OUT" CANARY_DNS=$RX:$DNSPORT CANARY_ZONE=$ZONE \
CANARY_SSH=$NET.10:22 CANARY_MYSQL=$NET.11:3306 CANARY_POSTGRES=$NET.11:5432 CANARY_K8S=$NET.12:6443 \
CANARY_SMB=$NET.13:445 CANARY_SMB_SHARE=Finance CANARY_GIT=$NET.14:80 \
    "$LAB" >"$WORK/lab.out" 2>"$WORK/lab.err" &
LABPID=$!
for _ in $(seq 1 150); do
    grep -q "canary lab ready" "$WORK/lab.err" 2>/dev/null && (exec 3<>"/dev/tcp/$NET.14/80") 2>/dev/null && break
    sleep 0.1
done
grep -q "canary lab ready" "$WORK/lab.err" || { cat "$WORK/lab.err"; fail "canary lab did not start"; }

# expect_trigger FILE KIND [field=value | field~prefix]...: waits up to 10 s
# for a canary_trigger of KIND whose fields match.
trigger_in() {
    python3 - "$@" <<'PY'
import json, sys
path, kind, conds = sys.argv[1], sys.argv[2], sys.argv[3:]
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", {})
    if e.get("kind") != "canary_trigger" or f.get("token_kind") != kind:
        continue
    ok = True
    for c in conds:
        if "~" in c and "=" not in c.split("~")[0]:
            k, v = c.split("~", 1); ok &= str(f.get(k, e.get(k, ""))).startswith(v)
        else:
            k, v = c.split("=", 1); ok &= str(f.get(k, e.get(k, ""))) == v
    if ok:
        sys.exit(0)
sys.exit(1)
PY
}
expect_trigger() {
    for _ in $(seq 1 100); do trigger_in "$@" && { echo "ok: $2 triggered (${*:3})"; return 0; }; sleep 0.1; done
    echo "--- triggers so far:"; cat "$1" >&2
    fail "no canary trigger for $2 (${*:3})"
}
count_triggers() { grep -c '"canary_trigger"' "$WORK/lab.out" || true; }
tok() { python3 -c 'import json,sys; t=[t for t in json.load(open(sys.argv[1])) if t["kind"]==sys.argv[2]][0]; print(eval(sys.argv[3]))' "$OUT/tokens.json" "$@"; }

# --- HTTP receiver: curl, wget, and nginx parity -----------------------------
URL=$(grep -o 'http://[^ ]*' "$OUT/http_url/Documents/vpn-portal.txt")
curl -fsS -o /dev/null "$URL"
expect_trigger "$WORK/lab.out" http_url trigger=http matched=slug user_agent~curl/
curl -fsS -o /dev/null "$URL"
expect_trigger "$WORK/lab.out" http_url count=2
PIXEL=$(grep -o 'img src="[^"]*' "$OUT/html_beacon/Documents/server-inventory.html" | cut -d'"' -f2)
wget -q -O "$WORK/pixel.gif" "$PIXEL"
head -c 6 "$WORK/pixel.gif" | grep -q GIF89a || fail "the pixel is not a GIF"
expect_trigger "$WORK/lab.out" html_beacon user_agent~Wget/

cat >"$WORK/nginx.conf" <<EOF
daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events {}
http { include /etc/nginx/mime.types; access_log off;
  server { listen $NET.3:8080; root /var/www/html; index index.nginx-debian.html; } }
EOF
nginx -c "$WORK/nginx.conf" & NGINXPID=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/$NET.3/8080") 2>/dev/null && break; sleep 0.1; done
before=$(count_triggers)
for path in /nope /c/aaaaaaaaaaaaaaaa /static/x/logo.png; do
    curl -s -D - "http://$NET.3:8080$path" | grep -v '^Date:' >"$WORK/nginx.resp"
    curl -s -D - "http://$HTTP$path" | grep -v '^Date:' >"$WORK/lab.resp"
    cmp -s "$WORK/nginx.resp" "$WORK/lab.resp" || { diff "$WORK/nginx.resp" "$WORK/lab.resp" >&2; fail "404 for $path differs from nginx's"; }
done
curl -s "http://$NET.3:8080/" >"$WORK/nginx.index"; curl -s "http://$HTTP/" >"$WORK/lab.index"
cmp -s "$WORK/nginx.index" "$WORK/lab.index" || fail "index page differs from nginx's"
[ "$(count_triggers)" = "$before" ] || fail "unknown paths triggered"
echo "ok: 404 pages and index identical to nginx $(nginx -v 2>&1 | cut -d/ -f2)"

# --- DNS receiver: dig over UDP and TCP, then through unbound ----------------
SLUG=$(tok dns_name 't["slug"]')
dig +short -b $NET.20 @$RX -p $DNSPORT "$SLUG.$ZONE" A | grep -q '^127.0.0.1$' || fail "dig got no A record"
expect_trigger "$WORK/lab.out" dns_name resolver=$NET.20 transport=udp qtype=A
dig +tcp +short -b $NET.21 @$RX -p $DNSPORT "exfil-data.$SLUG.$ZONE" TXT >/dev/null
expect_trigger "$WORK/lab.out" dns_name resolver=$NET.21 transport=tcp dns_data=exfil-data qtype=TXT
dig -b $NET.22 @$RX -p $DNSPORT "example.org" A | grep -q 'status: REFUSED' || fail "out-of-zone query not REFUSED"
dig -b $NET.22 @$RX -p $DNSPORT "www.$ZONE" A | grep -q 'status: NOERROR' || fail "in-zone name not answered"

cat >"$WORK/unbound.conf" <<EOF
server:
  interface: $NET.53
  outgoing-interface: $NET.54
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  do-ip6: no
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: "$WORK/unbound.pid"
  use-syslog: no
  module-config: "iterator"
  # .test is special-use (RFC 6761): unbound answers it itself unless told not to.
  local-zone: "test." nodefault
stub-zone:
  name: "$ZONE"
  stub-addr: $RX@$DNSPORT
EOF
unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.out" 2>&1 & UNBOUNDPID=$!
for _ in $(seq 1 50); do dig +time=1 +tries=1 @$NET.53 "probe.$ZONE" >/dev/null 2>&1 && break; sleep 0.2; done
dig +short @$NET.53 "$SLUG.$ZONE" A | grep -q '^127.0.0.1$' || { cat "$WORK/unbound.out"; fail "no answer through unbound"; }
expect_trigger "$WORK/lab.out" dns_name resolver=$NET.54
echo "ok: through unbound the recorded resolver is unbound's address"

# --- AWS keys with boto3 against the receiver's S3/STS lookalike -------------
AWS_SHARED_CREDENTIALS_FILE="$OUT/aws_credentials/.aws/credentials" AWS_CONFIG_FILE="$OUT/aws_credentials/.aws/config" \
AWS_EC2_METADATA_DISABLED=true python3 - <<'PY' || fail "boto3 run failed"
import boto3, botocore.exceptions as ex
s = boto3.session.Session(profile_name="backup")
for client, call in (("s3", "list_buckets"), ("sts", "get_caller_identity")):
    try:
        getattr(s.client(client), call)()
        raise SystemExit(f"{client} {call} unexpectedly succeeded")
    except ex.ClientError as e:
        print("boto3", client, e.response["Error"]["Code"])
PY
KEY=$(tok aws_credentials '[c for c in t["credentials"] if c["type"]=="aws_key"][0]["access_key_id"]')
expect_trigger "$WORK/lab.out" aws_credentials matched=aws_key_id user_agent~Boto3/
expect_trigger "$WORK/lab.out" aws_credentials matched=aws_key_id path=/ method=POST
echo "ok: boto3 sent $KEY to the receiver (S3 and STS)"

# --- git against the receiver: 401 makes git send the URL's login ------------
REPO=$(tok git_config '[c for c in t["credentials"] if c["type"]=="repo_path"][0]["path"]')
GU=$(tok git_config '[c for c in t["credentials"] if c["type"]=="login"][0]["username"]')
GP=$(tok git_config '[c for c in t["credentials"] if c["type"]=="login"][0]["password"]')
GIT_TERMINAL_PROMPT=0 git ls-remote "http://$GU:$GP@$HTTP$REPO" >/dev/null 2>&1 || true
expect_trigger "$WORK/lab.out" git_config matched=repo_path user_agent~git/
expect_trigger "$WORK/lab.out" git_config matched=password

# --- Browsers and document renderers ------------------------------------------
CHROME_FLAGS="--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir=$WORK/chrome"
timeout 60 chromium $CHROME_FLAGS --dump-dom "file://$OUT/html_beacon/Documents/server-inventory.html" >/dev/null 2>&1 || true
expect_trigger "$WORK/lab.out" html_beacon user_agent~Mozilla/
timeout 60 chromium $CHROME_FLAGS --screenshot="$WORK/svg.png" --window-size=640,360 "file://$OUT/svg_beacon/Documents/network-diagram.svg" >/dev/null 2>&1 || true
expect_trigger "$WORK/lab.out" svg_beacon user_agent~Mozilla/

mkdir -p "$WORK/lo"
for kind in docx xlsx; do
    f=$(find "$OUT/$kind" -type f | head -1)
    HOME="$WORK/lohome" timeout 180 soffice --headless --norestore --convert-to pdf --outdir "$WORK/lo" "$f" >"$WORK/lo.$kind.out" 2>&1 || true
    [ -s "$WORK/lo/$(basename "${f%.*}").pdf" ] || { cat "$WORK/lo.$kind.out"; fail "LibreOffice could not open the $kind"; }
    if trigger_in "$WORK/lab.out" "$kind" user_agent~LibreOffice; then
        echo "ok: LibreOffice fetched the $kind's linked picture"
    else
        sleep 2
        trigger_in "$WORK/lab.out" "$kind" || fail "LibreOffice converted the $kind without fetching its linked picture"
        echo "ok: LibreOffice fetched the $kind's linked picture"
    fi
done
pdftotext "$OUT/pdf/Documents/Remote Access Policy.pdf" - | grep -q "Network Access Policy" || fail "poppler cannot read the pdf"
sleep 1
trigger_in "$WORK/lab.out" pdf && fail "poppler is not expected to follow a PDF OpenAction"
echo "ok: pdf parses with poppler (which, like pdf.js, never follows the OpenAction URI: a click or Acrobat's prompt does)"

# --- Credential tokens used against deckies ------------------------------------
chmod 600 "$OUT/ssh_key/.ssh/id_ed25519_bastion" "$OUT/ssh_key/.ssh/config"
# ssh expands ~ from the passwd entry, not $HOME: name the key as well.
timeout 20 ssh -F "$OUT/ssh_key/.ssh/config" -i "$OUT/ssh_key/.ssh/id_ed25519_bastion" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10 bastion true >/dev/null 2>&1 || true
timeout 20 mysql --defaults-file="$OUT/my_cnf/.my.cnf" --connect-timeout=10 -e 'select 1' >/dev/null 2>&1 || true
DU=$(grep -o "'reporting.db.user','[^']*'" "$OUT/mysql_dump/backups/crm-db.sql" | cut -d"'" -f4)
DP=$(grep -o "'reporting.db.password','[^']*'" "$OUT/mysql_dump/backups/crm-db.sql" | cut -d"'" -f4)
timeout 20 mysql -h $NET.11 -u "$DU" -p"$DP" --connect-timeout=10 -e 'select 1' >/dev/null 2>&1 || true
EU=$(grep '^DB_USERNAME=' "$OUT/env_file/app/.env" | cut -d= -f2-); EP=$(grep '^DB_PASSWORD=' "$OUT/env_file/app/.env" | cut -d= -f2-)
timeout 20 mysql -h $NET.11 -u "$EU" -p"$EP" --connect-timeout=10 -e 'select 1' >/dev/null 2>&1 || true
PGU=$(cut -d: -f4 < <(tail -1 "$OUT/pgpass/.pgpass"))
PGPASSFILE="$OUT/pgpass/.pgpass" timeout 20 psql -h $NET.11 -U "$PGU" -d postgres -w -c 'select 1' >/dev/null 2>&1 || true
BEARER=$(python3 -c 'import sys; print([l.split("token: ")[1] for l in open(sys.argv[1]) if "token: " in l][0])' "$OUT/kubeconfig/.kube/config")
curl -sk -o /dev/null -H "Authorization: Bearer $BEARER" "https://$NET.12:6443/api/v1/namespaces/kube-system/secrets" || true
GITDIR=$(dirname "$(find "$OUT/git_config" -name config -path '*/.git/*' | head -1)")
mkdir -p "$WORK/repo" && cp -r "$GITDIR" "$WORK/repo/.git" && mkdir -p "$WORK/repo/.git/objects" "$WORK/repo/.git/refs" && echo 'ref: refs/heads/main' >"$WORK/repo/.git/HEAD"
GIT_TERMINAL_PROMPT=0 timeout 20 git -C "$WORK/repo" fetch origin >/dev/null 2>&1 || true
UNC=$(grep -o 'IconResource=[^,]*' "$OUT/desktop_ini/Documents/Finance/desktop.ini" | cut -d= -f2)
SMBDIR=$(cut -d'\' -f5 <<<"$UNC"); SMBFILE=$(cut -d'\' -f6 <<<"$UNC")
# A named login first (the decky captures its NetNTLMv2; fs01 is a Linux
# persona, so Samba's `map to guest = bad user` lets it in as the guest),
# then anonymously; either opens the UNC path.
timeout 20 smbclient "//$NET.13/Finance" -U 'CORP\jdoe%Winter2024!' -c "get $SMBDIR\\$SMBFILE /dev/null" >/dev/null 2>&1 || true
timeout 20 smbclient "//$NET.13/Finance" -N -c "get $SMBDIR\\$SMBFILE /dev/null" >/dev/null 2>&1 || true

# Decky events → watcher (the same matching the wired-in watcher does live).
sleep 2
TOKEN=$(curl -fsS -H 'Content-Type: application/json' -d '{"username":"admin","password":"canary-interop-pw"}' \
  "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fsS -H "Authorization: Bearer $TOKEN" "http://$API/api/v1/logs?limit=1000" \
  | python3 -c 'import json,sys; [print(json.dumps(e)) for e in reversed(json.load(sys.stdin)["data"])]' >"$WORK/decky-events.jsonl"
CANARY_DB="$WORK/canary.db" "$LAB" replay <"$WORK/decky-events.jsonl" >"$WORK/replay.out" 2>"$WORK/replay.err"
expect_trigger "$WORK/replay.out" ssh_key matched=ssh_key service=ssh decky=ssh01
expect_trigger "$WORK/replay.out" my_cnf service=mysql secret_verified=True
expect_trigger "$WORK/replay.out" mysql_dump service=mysql secret_verified=True
expect_trigger "$WORK/replay.out" pgpass service=postgres secret_verified=True
expect_trigger "$WORK/replay.out" env_file service=mysql secret_verified=True
expect_trigger "$WORK/replay.out" kubeconfig matched=bearer_token service=k8s
expect_trigger "$WORK/replay.out" git_config matched=repo_path decky=git01
expect_trigger "$WORK/replay.out" desktop_ini matched=slug service=smb decky=fs01

# --- The wired product: decnet serve with [canary], tokens through the API ----
# Receivers started by serve itself, tokens made with the REST API, triggered
# by curl and dig, and the triggers read back from /api/v1/logs.
WNET=127.0.65
WAPI=127.0.0.1:$((19900 + RANDOM % 90))
cat >"$WORK/wired.ini" <<WIRED
[general]
net = $WNET.0/24

[canary]
http = $WNET.2:8080
dns = $WNET.2:5353
dns_zone = wired.$ZONE
plant = yes

[dev01]
ip = $WNET.10
archetype = devops-host

[web01]
ip = $WNET.11
services = http
; an application site (a stock nginx answers git with 404, so git tokens
; would point at the receiver instead)
archetype = web-server
WIRED
"$BIN" validate "$WORK/wired.ini" >/dev/null || fail "decnet validate refuses the [canary] fleet"
printf '[general]\nnet = 127.0.66.0/24\n[canary]\nhttp = nowhere\n[x]\nservices = ssh\n' >"$WORK/bad.ini"
"$BIN" validate "$WORK/bad.ini" 2>&1 | grep -q "bad.ini:4: http = 'nowhere'" || fail "validate does not point at the bad [canary] line"
DECNET_ADMIN_PASSWORD=canary-interop-pw "$BIN" serve --config "$WORK/wired.ini" --data-dir "$WORK/wired-data" \
    --api "$WAPI" >"$WORK/wired.out" 2>&1 &
WIREDPID=$!
for _ in $(seq 1 150); do curl -fs -o /dev/null "http://$WAPI/api/v1/livez" 2>/dev/null && break; sleep 0.1; done
WT=$(curl -fsS -H 'Content-Type: application/json' -d '{"username":"admin","password":"canary-interop-pw"}' \
  "http://$WAPI/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
api() { curl -fsS -H "Authorization: Bearer $WT" -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
U=$(api -d '{"kind":"http_url","label":"wired url"}' "http://$WAPI/api/v1/canary/tokens")
UTOK=$(field id <<<"$U"); UURL=$(field call_home <<<"$U")
D=$(api -d '{"kind":"dns_name","label":"wired dns"}' "http://$WAPI/api/v1/canary/tokens")
DTOK=$(field id <<<"$D"); DHOST=$(field call_home <<<"$D")
curl -fsS -o /dev/null -A 'curl-wired/1' "$UURL" || fail "the wired HTTP receiver did not answer $UURL"
dig +short -b $WNET.20 @$WNET.2 -p 5353 "$DHOST" A | grep -q . || fail "the wired DNS receiver did not answer $DHOST"
# wired_trigger TOKEN_ID [field=value]...: waits up to 5 s for its trigger in /logs.
wired_trigger() {
    for _ in $(seq 1 50); do
        api "http://$WAPI/api/v1/logs?kind=canary_trigger&limit=200" | python3 -c '
import json, sys
want, conds = sys.argv[1], sys.argv[2:]
for e in json.load(sys.stdin)["data"]:
    f = e["fields"]
    if f.get("token_id") == want and all(str(f.get(c.split("=")[0], e.get(c.split("=")[0]))) == c.split("=", 1)[1] for c in conds):
        sys.exit(0)
sys.exit(1)' "$@" && return 0
        sleep 0.1
    done
    fail "no canary_trigger for token $1 ($*) in /api/v1/logs"
}
wired_trigger "$UTOK" user_agent=curl-wired/1
wired_trigger "$DTOK" resolver=$WNET.20 trigger=dns
echo "ok: serve's receivers turned curl and dig into canary_trigger events in /api/v1/logs"
# Planted by archetype: the devops host's tokens are listed where they lie.
api "http://$WAPI/api/v1/canary/tokens" | python3 -c '
import json, sys
planted = [p["decky"] + ":" + p["path"] for t in json.load(sys.stdin) for p in t["planted_in"]]
assert any(p.startswith("dev01:") and "/.aws/credentials" in p for p in planted), planted
print("ok: planted", ", ".join(planted))' || fail "no token planted into dev01"
# Auto-planted credential tokens used with real clients, live through serve's
# own watcher and receivers. planted_tok KIND: the token planted on dev01.
planted_tok() {
    api "http://$WAPI/api/v1/canary/tokens" | python3 -c '
import json, sys
print([t["id"] for t in json.load(sys.stdin) if t["kind"] == sys.argv[1] and any(p["decky"] == "dev01" for p in t["planted_in"])][0])' "$1"
}
# SSH key: its known_hosts holds dev01's real host key, so OpenSSH with strict
# host key checking goes straight to offering the key (no prompt, no refusal).
SSHTOK=$(planted_tok ssh_key)
mkdir -p "$WORK/sshtok"
api "http://$WAPI/api/v1/canary/tokens/$SSHTOK/download" -o "$WORK/sshtok.zip"
python3 -m zipfile -e "$WORK/sshtok.zip" "$WORK/sshtok"
chmod 600 "$WORK/sshtok/.ssh/"*
grep -q "^$WNET.10 ssh-ed25519 " "$WORK/sshtok/.ssh/known_hosts" || fail "no known_hosts line for dev01 in the ssh key token"
timeout 20 ssh -F "$WORK/sshtok/.ssh/config" -i "$WORK/sshtok/.ssh/id_ed25519_bastion" \
    -o UserKnownHostsFile="$WORK/sshtok/.ssh/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o ConnectTimeout=10 bastion true >/dev/null 2>"$WORK/ssh.err" || true
if grep -qi "host key verification failed\|identification has changed\|authenticity of host" "$WORK/ssh.err"; then
    cat "$WORK/ssh.err" >&2; fail "ssh did not accept the planted known_hosts"
fi
wired_trigger "$SSHTOK" matched=ssh_key decky=dev01 service=ssh
echo "ok: ssh -F config bastion checked dev01's planted host key and offered the canary key"
# git: the remote is the http decky, which challenges git for the login.
GITTOK=$(planted_tok git_config)
api "http://$WAPI/api/v1/canary/tokens/$GITTOK/download" -o "$WORK/wired-git-config"
grep -q "@$WNET.11:80/" "$WORK/wired-git-config" || { cat "$WORK/wired-git-config" >&2; fail "the git remote is not the http decky"; }
git init -q "$WORK/wired-repo" && cp "$WORK/wired-git-config" "$WORK/wired-repo/.git/config"
GIT_TERMINAL_PROMPT=0 timeout 20 git -C "$WORK/wired-repo" fetch origin >/dev/null 2>&1 || true
wired_trigger "$GITTOK" matched=password decky=web01 secret_verified=True
echo "ok: git fetch sent the token's login to the http decky web01"
# AWS keys: no decky speaks S3, so the endpoint is serve's receiver.
AWSTOK=$(planted_tok aws_credentials)
mkdir -p "$WORK/awstok"
api "http://$WAPI/api/v1/canary/tokens/$AWSTOK/download" -o "$WORK/awstok.zip"
python3 -m zipfile -e "$WORK/awstok.zip" "$WORK/awstok"
AWS_SHARED_CREDENTIALS_FILE="$WORK/awstok/.aws/credentials" AWS_CONFIG_FILE="$WORK/awstok/.aws/config" \
AWS_EC2_METADATA_DISABLED=true python3 -c '
import boto3, botocore.exceptions as ex
try:
    boto3.session.Session(profile_name="backup").client("s3").list_buckets()
except ex.ClientError as e:
    print("boto3", e.response["Error"]["Code"])' || fail "boto3 run failed"
wired_trigger "$AWSTOK" matched=aws_key_id trigger=http
echo "ok: boto3 with the planted keys called serve's receiver (S3 lookalike)"
api -X DELETE "http://$WAPI/api/v1/canary/tokens/$UTOK" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$UURL")" = 404 ] || fail "a revoked token still answers as one"
echo "ok: a revoked token's URL is an ordinary 404"
echo "canary: all checks passed"
