#!/usr/bin/env bash
# Lived-in deckies with real clients, on a fleet clock running 10 simulated
# hours per second ([content] clock_speed = 36000):
#   curl imap:// reads the generated mailbox and finds new mail a few
#   seconds (a working day) later; POP3 (curl pop3://) counts the same;
#   ssh (sshpass) `ls` of the documents and the SMB share, and curl ftp://
#   and smbclient list the same names; curl http:// serves the shell's
#   /var/www/html (an FTP upload there included); `last` shows admins
#   logging in from the LAN, `uptime` and `date` move on with the fleet
#   clock and the newest mail is not dated after the shell's now.
# Mail bodies from an LLM: the fleet's [content] llm points at fakellm (PyPI:
# a real OpenAI-compatible server answering by rules, no model weights); the
# first mails carry template bodies, later ones the server's answers, and
# the prompts it received hold none of the decky's passwords.
# Chatter ([content] chatter = 3600 flows an hour): tcpdump sees the deckies
# connect to each other; the event log records none of those flows; a
# message ws01 sent over SMTP is in files01's mailbox (Python's imaplib), and
# ws01's admin logins over SSH are in files01's `last`; tcpdump sees the
# mail's DATA and the share browse's NTLMSSP session setup, IPC$ tree
# connect and srvsvc pipe (the share list).
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=lived.sh
. scripts/lib/interop.sh
interop_need curl:curl ssh:openssh-client sshpass:sshpass smbclient:smbclient tcpdump:tcpdump
python3 -c 'import fakellm' 2>/dev/null || pip install -q fakellm 2>/dev/null \
    || pip install -q --break-system-packages fakellm
interop_workdir decnet-lived
LLMPORT=$((19400 + RANDOM % 400))
cat >"$WORK/fakellm.yaml" <<'EOF'
version: 1
defaults:
  fallback: deterministic_echo
rules:
  # Listed first so a prompt carrying a password would match it, not "mail".
  - name: leaked-user-password
    when:
      messages_contain: "s3cret"
    respond:
      content: "leak"
  - name: leaked-root-password
    when:
      messages_contain: "toor"
    respond:
      content: "leak"
  - name: mail
    when:
      messages_contain: "plain-text e-mail"
    respond:
      content: "LLM-WRITTEN: the patch run went fine overnight.\nI will keep an eye on the logs today."
EOF
python3 -m fakellm.cli serve --host 127.0.0.1 --port "$LLMPORT" --config "$WORK/fakellm.yaml" >"$WORK/fakellm.out" 2>&1 &
LLMPID=$!
trap 'kill $LLMPID 2>/dev/null || true; interop_cleanup' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$LLMPORT") 2>/dev/null && break; sleep 0.1; done

HOST=127.0.68.10
cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.68.0/24

[content]
clock_speed = 36000
llm = http://127.0.0.1:$LLMPORT/v1/chat/completions
llm_model = gpt-4o-mini
llm_timeout = 5s
chatter = 3600

[files01]
ip = $HOST
services = ssh, ftp, smb, imap, pop3, http, smtp
distro = debian
archetype = file-server

[files01.ssh]
password = toor
user = deploy
user_password = s3cret

; Debian's Dovecot refuses clear-text logins unless told otherwise.
[files01.imap]
user = deploy
user_password = s3cret
plaintext_auth = true

[files01.pop3]
plaintext_auth = true

[files01.smb]
share = Finance

[ws01]
ip = 127.0.68.11
services = ssh, smtp, dns
distro = debian
EOF
"$BIN" validate "$WORK/fleet.ini" >/dev/null || fail "validate"
# The deckies' own traffic: SYNs from one decky's address to another's
# (the script's clients connect from 127.0.0.1).
timeout 60 tcpdump -i lo -n -l -c 3 \
    'src net 127.0.68.0/24 and dst net 127.0.68.0/24 and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0' \
    >"$WORK/chatter.pcap.txt" 2>/dev/null &
DUMPPID=$!
# ws01's mail (a DATA command to files01's SMTP port) and share browse
# (files01's SMB port), as a sniffer on the segment sees them.
timeout 90 tcpdump -i lo -n -l -A -c 1 \
    "src host 127.0.68.11 and dst host $HOST and dst port $(p 25) and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x44415441" \
    >"$WORK/chatter-data.txt" 2>/dev/null &
DATAPID=$!
timeout 90 tcpdump -i lo -n -U -w "$WORK/chatter-smb.pcap" -c 40 \
    "src host 127.0.68.11 and dst host $HOST and dst port $(p 445) and tcp[tcpflags] & tcp-push != 0" 2>/dev/null &
SMBPID=$!
trap 'kill $LLMPID $DUMPPID $DATAPID $SMBPID 2>/dev/null || true; interop_cleanup' EXIT
interop_serve "$HOST" "$(p 22)" 19300
# Every listener of the decky, not only ssh's, before the first client.
for port in 21 143 110 445 80; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/$HOST/$(p $port)") 2>/dev/null && break; sleep 0.1; done
done

SSHOPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no
         -o PreferredAuthentications=password,keyboard-interactive -o LogLevel=ERROR -o ConnectTimeout=10)
on_decky() { sshpass -p s3cret ssh "${SSHOPTS[@]}" -p "$(p 22)" deploy@$HOST "$1"; }
exists() { curl -sS --max-time 10 -u deploy:s3cret "imap://$HOST:$(p 143)/" -X 'EXAMINE INBOX' \
    | sed -n 's/^\* \([0-9]*\) EXISTS.*/\1/p'; }

echo "== IMAP: the mailbox, then a working day later"
n1=$(exists || true)
[ -n "$n1" ] && [ "$n1" -gt 0 ] || fail "no mail at start ($n1)"
sleep 3
n2=$(exists || true)
[ "$n2" -gt "$n1" ] || fail "no new mail after 30 simulated hours ($n1 -> $n2)"
newest=$(curl -s --max-time 10 -u deploy:s3cret "imap://$HOST:$(p 143)/INBOX;MAILINDEX=$n2")
grep -q "^Subject: " <<<"$newest" || fail "newest mail has no subject: $newest"
grep -q "^To: <deploy@" <<<"$newest" || fail "newest mail is not for deploy: $newest"
maildate=$(sed -n 's/^Date: //p' <<<"$newest" | tr -d '\r')
pop=$(curl -s --max-time 10 -u deploy:s3cret "pop3://$HOST:$(p 110)/" | wc -l)
[ "$pop" -ge "$n2" ] || fail "POP3 lists $pop messages, IMAP had $n2"

echo "== the shell, FTP and SMB show one filesystem"
docs_shell=$(on_decky 'ls ~/Documents') || fail "ssh ls"
[ -n "$docs_shell" ] || fail "no documents in the home"
# curl's FTP paths are relative to the login directory (the home).
docs_ftp=$(curl -s --max-time 10 --list-only "ftp://deploy:s3cret@$HOST:$(p 21)/Documents/" | tr -d '\r' | sort || true)
[ "$docs_ftp" = "$(sort <<<"$docs_shell")" ] || fail "FTP lists [$docs_ftp], the shell [$docs_shell]"
share_shell=$(on_decky 'ls /srv/smb/Finance' | sort)
share_smb=$(timeout 30 smbclient "//$HOST/Finance" -N -p "$(p 445)" -c ls 2>/dev/null \
    | awk '$2 ~ /^[ADHNRS]+$/ && $1 != "." && $1 != ".." {print $1}' | sort)
[ -n "$share_smb" ] && [ "$share_smb" = "$share_shell" ] || fail "SMB lists [$share_smb], the shell [$share_shell]"
share_ftp=$(curl -s --max-time 10 --list-only "ftp://deploy:s3cret@$HOST:$(p 21)/%2Fsrv/smb/Finance/" | tr -d '\r' | sort || true)
[ "$share_ftp" = "$share_smb" ] || fail "FTP lists the share as [$share_ftp], SMB [$share_smb]"
mail_shell=$(on_decky 'ls ~/Maildir/new | wc -l')
[ "$mail_shell" -ge "$n2" ] || fail "the shell sees $mail_shell messages in ~/Maildir/new, IMAP $n2"

echo "== the web root is the shell's /var/www/html"
page_http=$(curl -s --max-time 10 "http://$HOST:$(p 80)/")
page_shell=$(on_decky 'cat /var/www/html/index.html 2>/dev/null || cat /var/www/html/index.nginx-debian.html')
[ -n "$page_http" ] && [ "$page_http" = "$page_shell" ] || fail "HTTP / differs from the shell's index page"
printf 'quarterly numbers\n' >"$WORK/q.txt"
curl -s --max-time 10 -T "$WORK/q.txt" "ftp://deploy:s3cret@$HOST:$(p 21)/%2Fvar/www/html/q.txt" || fail "FTP upload to the web root"
[ "$(curl -s --max-time 10 "http://$HOST:$(p 80)/q.txt")" = "quarterly numbers" ] || fail "HTTP does not serve the FTP upload"
on_decky 'ls /var/www/html' | grep -qx q.txt || fail "the shell does not see the FTP upload in the web root"

echo "== last, uptime and date tell one story"
story=$(on_decky 'last -n 8; echo ---; uptime; echo ---; date -u +%s')
grep -qE "^deploy +pts/[0-9] +127\.0\.68\.2[0-9]{2} .* - [0-9]{2}:[0-9]{2} +\([0-9]{2}:[0-9]{2}\)" <<<"$story" \
    || fail "last shows no admin session from the LAN: $story"
grep -q "^reboot   system boot" <<<"$story" || grep -q "^wtmp begins" <<<"$story" || fail "last: $story"
up1=$(on_decky 'cat /proc/uptime' | cut -d. -f1)
sleep 1
up2=$(on_decky 'cat /proc/uptime' | cut -d. -f1)
[ $((up2 - up1)) -ge 3600 ] || fail "uptime moved $((up2 - up1)) s in a second at 10 h/s"
now=$(on_decky 'date' ) || fail "date"
[ "$(date -d "$maildate" +%s)" -le "$(date -d "$now" +%s)" ] || fail "mail dated $maildate after the shell's now $now"

echo "== LLM bodies: templates first, the model's answers once cached"
first=$(curl -s --max-time 10 -u deploy:s3cret "imap://$HOST:$(p 143)/INBOX;MAILINDEX=1")
grep -q "LLM-WRITTEN" <<<"$first" && fail "the first mail waited for the model"
got=""
for _ in $(seq 1 20); do
    n=$(exists || true)
    last_mail=$(curl -s --max-time 10 -u deploy:s3cret "imap://$HOST:$(p 143)/INBOX;MAILINDEX=$n")
    if grep -q "LLM-WRITTEN: the patch run" <<<"$last_mail"; then got=1; break; fi
    sleep 1
done
[ -n "$got" ] || fail "no mail body from the LLM after 20 s (200 simulated hours)"
[ -s "$DATA/deckies/files01/llm-cache.json" ] || fail "no LLM answer cache in the decky's data dir"
[ "$(stat -c %a "$DATA/deckies/files01/llm-cache.json")" = 600 ] || fail "LLM cache not 0600"
# fakellm keeps no prompt text, only which rule each request matched.
stats=$(curl -s --max-time 5 "http://127.0.0.1:$LLMPORT/_fakellm/stats")
grep -q '"mail":' <<<"$stats" || fail "fakellm matched no mail prompt: $stats"
grep -q '"leaked-' <<<"$stats" && fail "a password reached the LLM: $stats"
echo "== the deckies talk to each other, and none of it is an attack"
for _ in $(seq 1 30); do kill -0 "$DUMPPID" 2>/dev/null || break; sleep 1; done
[ "$(wc -l <"$WORK/chatter.pcap.txt")" -ge 3 ] || fail "tcpdump saw no flows between deckies: $(cat "$WORK/chatter.pcap.txt")"
grep -qE 'src_ip="?127\.0\.68\.1[01]\b' "$LOG" && fail "the deckies' own traffic was logged as an attacker"
delivered=0; visited=""
for _ in $(seq 1 30); do
    # Python's imaplib: curl prints no literal of a custom FETCH.
    delivered=$(python3 - "$HOST" "$(p 143)" <<'PY'
import imaplib, sys
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
m.login("deploy", "s3cret")
m.select("INBOX", readonly=True)
_, data = m.fetch("1:*", "(BODY.PEEK[HEADER])")
print(sum(1 for d in data if isinstance(d, tuple) and b"\r\nDelivered-To: deploy@" in d[1]))
m.logout()
PY
)
    visited=$(on_decky 'last' | grep -E '^(deploy|root) +pts/[0-9]+ +127\.0\.68\.11 ' || true)
    [ "$delivered" -gt 0 ] && [ -n "$visited" ] && break
    sleep 2
done
[ "$delivered" -gt 0 ] || fail "no message from ws01's SMTP chatter in files01's mailbox"
[ -n "$visited" ] || fail "files01's last shows no admin login from ws01 (127.0.68.11)"
for _ in $(seq 1 60); do kill -0 "$DATAPID" 2>/dev/null || break; sleep 1; done
grep -q "DATA" "$WORK/chatter-data.txt" || fail "tcpdump saw no DATA from ws01 to files01's SMTP"
smb=""
for _ in $(seq 1 30); do
    smb=$(tcpdump -r "$WORK/chatter-smb.pcap" -n -A 2>/dev/null || true)
    grep -q 's.r.v.s.v.c' <<<"$smb" && break
    sleep 1
done
grep -q "NTLMSSP" <<<"$smb" || fail "tcpdump saw no NTLMSSP session setup from ws01 to files01's SMB"
grep -q 'I.P.C.\$' <<<"$smb" || fail "tcpdump saw no tree connect to IPC\$ from ws01"
grep -q 's.r.v.s.v.c' <<<"$smb" || fail "tcpdump saw no srvsvc pipe opened for the share list"
echo "$NAME: ok ($n1 -> $n2 messages; documents: $(tr '\n' ' ' <<<"$docs_shell"))"
