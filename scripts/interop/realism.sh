#!/usr/bin/env bash
# Differential realism suite (DESIGN §16): the real Debian 12 servers beside
# deckies pinned to the same products, the same probes sent to both;
# scripts/realism/run.py writes scripts/realism/report.md and fails when a
# service scores below its recorded score in scripts/realism/scores.json.
# Installs what it needs (daemons are started by the suite, never by apt).
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=realism.sh
. scripts/lib/interop.sh
realism_preseed
interop_need nmap:nmap sshd:openssh-server ssh:openssh-client sshpass:sshpass nginx:nginx apache2:apache2 \
    postconf:postfix swaks:swaks dovecot:dovecot-imapd /usr/lib/dovecot/pop3:dovecot-pop3d vsftpd:vsftpd \
    lftp:lftp mariadbd:mariadb-server mysql:mariadb-client psql:postgresql-client \
    /usr/lib/postgresql/15/bin/postgres:postgresql redis-server:redis-server redis-cli:redis-tools \
    mosquitto:mosquitto mosquitto_sub:mosquitto-clients slapd:slapd ldapsearch:ldap-utils snmpd:snmpd \
    snmpget:snmp smbd:samba smbclient:smbclient named:bind9 dig:dnsutils in.tftpd:tftpd-hpa tftp:tftp-hpa \
    curl:curl python3:python3
[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
export DECNET_BIN=${DECNET_BIN:-target/debug/decnet}
# Bounded: the suite takes ~8 min on 2 cores; a hung daemon or client must
# not hold CI past this.
timeout 1200 python3 scripts/realism/run.py --report "${REALISM_REPORT:-scripts/realism/report.md}"
