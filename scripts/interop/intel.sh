#!/usr/bin/env bash
# Behaviour classes from real attack tools: each tool attacks its own decky
# from its own source address (a /32 local route with a preferred source,
# removed on exit), and the attacker rows read back from the API must carry
# the class the tool's traffic deserves:
#   hydra -t 4, 8 passwords against ssh      → brute_force
#   nmap -sS -sV against ssh, http, telnet    → scanning
#   nmap -sV against redis (probe lines)      → scanning
#   curl, one GET                             → scanning (a probe)
#   redis-cli, three commands by hand         → interactive
# and three unrelated stock OpenSSH clients (each its own password, no key)
# must not be linked into one identity by their shared banner and HASSH.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=intel.sh
. scripts/lib/interop.sh
[ "$(id -u)" = 0 ] || { echo "$NAME: needs root (local routes, nmap -sS); skipped"; exit 0; }
interop_need hydra:hydra nmap:nmap curl:curl redis-cli:redis-tools ip:iproute2 python3:python3 \
    ssh:openssh-client sshpass:sshpass
interop_workdir decnet-intel

NET=127.0.65
SRC=127.0.66
ROUTES=()
cleanup_all() {
    for r in "${ROUTES[@]}"; do ip route del local "$r/32" dev lo table local 2>/dev/null || true; done
    interop_cleanup
}
trap cleanup_all EXIT
# from DECKY_HOST N: connections to decky $NET.DECKY_HOST leave from $SRC.N.
from() {
    ip route replace local "$NET.$1/32" dev lo src "$SRC.$2" table local
    ROUTES+=("$NET.$1")
}

printf '%s\n' '[general]' "net = $NET.0/24" '' \
    '[hy01]' "ip = $NET.1" 'services = ssh' '' \
    '[nm01]' "ip = $NET.2" 'services = ssh, http, telnet' '' \
    '[web01]' "ip = $NET.3" 'services = http' '' \
    '[rd01]' "ip = $NET.4" 'services = redis' '' \
    '[rd02]' "ip = $NET.5" 'services = redis' '' \
    '[ss01]' "ip = $NET.6" 'services = ssh' '' \
    '[ss02]' "ip = $NET.7" 'services = ssh' '' \
    '[ss03]' "ip = $NET.8" 'services = ssh' >"$WORK/fleet.ini"
for i in 1 2 3 4 5 6 7 8; do from "$i" "$i"; done
export DECNET_ADMIN_PASSWORD=intel-interop-pw
interop_serve "$NET.5" "$(p 6379)" 19000
interop_api

# Passwords the decky does not accept, so hydra tries all eight.
printf 'intel-pw-%s\n' 1 2 3 4 5 6 7 8 >"$WORK/pw.txt"
hydra -l root -P "$WORK/pw.txt" -t 4 -s "$(p 22)" "$NET.1" ssh >"$WORK/hydra.out" 2>&1 || true
nmap -Pn -sS -sV -p "$(p 22),$(p 80),$(p 23)" "$NET.2" >"$WORK/nmap-web.out" 2>&1 || true
nmap -Pn -sV -p "$(p 6379)" "$NET.5" >"$WORK/nmap-redis.out" 2>&1 || true
curl -s -o /dev/null "http://$NET.3:$(p 80)/" || true
rcli() { redis-cli -h "$NET.4" -p "$(p 6379)" "$@" >/dev/null 2>&1 || true; sleep 1; }
rcli INFO
rcli KEYS '*'
rcli CONFIG GET dir
for i in 6 7 8; do
    timeout 20 sshpass -p "someone-else-$i" ssh -p "$(p 22)" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no -o PreferredAuthentications=password \
        "user$i@$NET.$i" true >/dev/null 2>&1 || true
done

TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$DECNET_ADMIN_PASSWORD\"}" \
    "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# expect_class SOURCE_HOST CLASS WHAT: waits up to 10 s for the attacker row.
expect_class() {
    local got=""
    for _ in $(seq 1 100); do
        got=$(curl -fsS -H "Authorization: Bearer $TOKEN" "http://$API/api/v1/attackers/$SRC.$1" 2>/dev/null \
            | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["behavior"], "|", a["behavior_rule"])' 2>/dev/null || true)
        [ "${got%% |*}" = "$2" ] && { echo "ok: $3 → $got"; return 0; }
        sleep 0.1
    done
    fail "$3: expected $2, got '${got:-no attacker row}'"
}
expect_class 1 brute_force "hydra -t 4, 8 passwords"
expect_class 2 scanning "nmap -sS -sV"
expect_class 5 scanning "nmap -sV against redis"
expect_class 3 scanning "curl once"
expect_class 4 interactive "redis-cli by hand"
# The three OpenSSH clients are seen (their rows carry the stock banner)…
for i in 6 7 8; do
    seen=""
    for _ in $(seq 1 100); do
        curl -fsS -H "Authorization: Bearer $TOKEN" "http://$API/api/v1/attackers/$SRC.$i" 2>/dev/null \
            | grep -q 'ssh_banner:SSH-2.0-OpenSSH_' && { seen=1; break; }
        sleep 0.1
    done
    [ -n "$seen" ] || fail "no OpenSSH banner on $SRC.$i's row"
done
# …and not one actor.
sleep 1
curl -fsS -H "Authorization: Bearer $TOKEN" "http://$API/api/v1/identities?limit=100" | python3 -c '
import json, sys
src = {f"'$SRC'.{i}" for i in (6, 7, 8)}
linked = [i["members"] for i in json.load(sys.stdin)["data"] if len(src & set(i["members"])) >= 2]
sys.exit(f"stock OpenSSH clients linked: {linked}" if linked else 0)' || fail "stock clients linked"
echo "ok: three stock OpenSSH clients stay three sources"
echo "$NAME: ok"
