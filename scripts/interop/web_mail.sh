#!/usr/bin/env bash
# Web, file and mail deckies against the real tools: curl (http, https -k,
# Basic auth, form POST), lftp (login, ls, put), tftp-hpa, swaks (AUTH and
# a relayed message), openssl s_client -starttls smtp, and nmap -sV naming
# each service. Asserts on DATA_DIR/decnet.log. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=web_mail.sh
. scripts/lib/interop.sh
interop_need curl:curl lftp:lftp swaks:swaks tftp:tftp-hpa nmap:nmap openssl:openssl
interop_workdir decnet-webmail

WEB=127.0.62.40
MAIL=127.0.62.41
RELAY=127.0.62.42
FILES=127.0.62.43

cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.62.0/24

[web01]
ip = $WEB
services = http, https
archetype = web-server
distro = debian

[mail01]
ip = $MAIL
services = smtp, pop3, imap
distro = debian
; Debian's Postfix offers no AUTH unless SASL is set up: this one is.
[mail01.smtp]
auth = true

[relay01]
ip = $RELAY
services = smtp_relay
distro = ubuntu22

[files01]
ip = $FILES
services = ftp, tftp
distro = debian
EOF

interop_serve "$FILES" "$(p 21)" 18000


# --- http / https
curl -s -o "$WORK/index.html" -w '%{http_code}' "http://$WEB:$(p 80)/" | grep -q 200 || fail "http GET /"
grep -qi "decnet\|web01" "$WORK/index.html" && fail "page leaks the decoy"
curl -s -o /dev/null -u 'admin:Summer2025' "http://$WEB:$(p 80)/admin/" -w '%{http_code}' | grep -q 401 || fail "basic auth 401"
expect_log "http basic auth" 'web01 http - auth_attempt' 'username="admin"' 'password="Summer2025"'
curl -s -d 'username=jdoe&password=hunter2' "http://$WEB:$(p 80)/login" | grep -q "Invalid username" || fail "form login"
expect_log "http form login" 'web01 http - auth_attempt' 'username="jdoe"' 'password="hunter2"'
curl -s "http://$WEB:$(p 80)/.env" | grep -q "DB_PASSWORD=" || fail "/.env bait"
curl -sk -o /dev/null -w '%{http_code}' "https://$WEB:$(p 443)/" | grep -q 200 || fail "https GET"
curl -sk -d 'username=tls_user&password=tls_pw' "https://$WEB:$(p 443)/login" >/dev/null
expect_log "https login with JA3" 'web01 https - auth_attempt' 'username="tls_user"' 'ja3="[0-9a-f]{32}"'
expect_log "https JA4" 'web01 https - request' 'ja4="t1[23]'

# --- smtp / starttls / relay
swaks --server "$MAIL" --port "$(p 25)" --auth LOGIN --auth-user root --auth-password admin \
    --from ceo@example.org --to victim@faraway.example --header "Subject: swaks-auth-test" \
    --body "wire the money" >"$WORK/swaks1.out" 2>&1 || { cat "$WORK/swaks1.out"; fail "swaks AUTH"; }
expect_log "smtp AUTH LOGIN" 'mail01 smtp - auth_attempt' 'username="root"'
expect_log "smtp stored message" 'mail01 smtp - file_upload' 'victim@faraway.example'
swaks --server "$RELAY" --port "$(p 25)" --from spam@example.net --to target@elsewhere.example \
    --header "Subject: relay-test" >"$WORK/swaks2.out" 2>&1 || { cat "$WORK/swaks2.out"; fail "swaks relay"; }
expect_log "relayed message" 'relay01 smtp_relay - file_upload' 'target@elsewhere.example'
printf 'EHLO probe.example\r\nQUIT\r\n' | timeout 10 openssl s_client -starttls smtp -connect "$MAIL:$(p 25)" \
    -servername mail.example -quiet >"$WORK/starttls.out" 2>&1 || true
grep -q "^250" "$WORK/starttls.out" || { cat "$WORK/starttls.out"; fail "openssl -starttls smtp"; }
expect_log "STARTTLS fingerprint" 'mail01 smtp - scan' 'event_type="tls_client_hello"' 'starttls="true"' 'ja4="t1'

# --- ftp / tftp
echo "uploaded by lftp" >"$WORK/payload.txt"
lftp -u ubuntu,admin -p "$(p 21)" -e "set ftp:ssl-allow no; set net:max-retries 1; ls; put $WORK/payload.txt -o payload.txt; bye" "$FILES" \
    >"$WORK/lftp.out" 2>&1 || { cat "$WORK/lftp.out"; fail "lftp"; }
expect_log "ftp login" 'files01 ftp - auth_attempt' 'username="ubuntu"' 'success="true"'
expect_log "ftp upload" 'files01 ftp - file_upload' 'filename="payload.txt"'
# tftpd-hpa without --create: a new file is refused, the world-writable
# router config backup is overwritten.
( cd "$WORK" && printf 'mode octet\nget router-confg got.cfg\nput payload.txt tftp-up.txt\nput payload.txt router-confg\nquit\n' \
    | timeout 20 tftp "$FILES" "$(p 69)" >"$WORK/tftp.out" 2>&1 ) || { cat "$WORK/tftp.out"; fail "tftp client"; }
grep -q "hostname" "$WORK/got.cfg" || fail "tftp RRQ content"
grep -q "Error code 1: File not found" "$WORK/tftp.out" || { cat "$WORK/tftp.out"; fail "tftp WRQ of a new file accepted"; }
expect_log "tftp upload" 'files01 tftp - file_upload' 'filename="router-confg"'

# --- nmap -sV names every service
PORTS="$(p 80),$(p 443),$(p 25),$(p 110),$(p 143),$(p 21)"
nmap -sV -Pn -n --version-light -p "$PORTS" "$WEB" "$MAIL" "$FILES" -oN "$WORK/nmap.txt" >/dev/null 2>&1 || fail "nmap run"
check_nmap() { grep -E "^$(p $1)/tcp +open +$2" "$WORK/nmap.txt" >/dev/null || { cat "$WORK/nmap.txt"; fail "nmap did not name $2 on $1"; }; }
check_nmap 80 'http +(nginx|Apache httpd)'
check_nmap 443 'ssl/http +(nginx|Apache httpd)'
check_nmap 25 'smtp +Postfix smtpd'
check_nmap 110 'pop3 +Dovecot pop3d'
check_nmap 143 'imap +Dovecot imapd'
check_nmap 21 'ftp +vsftpd'
grep -v "^#" "$WORK/nmap.txt" | grep -qi decnet && { cat "$WORK/nmap.txt"; fail "nmap output names decnet"; }

grep -E "^(Nmap scan report|[0-9]+/tcp +open)" "$WORK/nmap.txt"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
echo "web_mail.sh: OK"
