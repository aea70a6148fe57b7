#!/usr/bin/env bash
# IPv6 in netns mode, the whole product: `decnet serve` puts a dual-stack
# and a v6-only decky (fleet file) and a topology's dual-stack decky (API)
# in namespaces of their own on a test LAN; a "router" namespace on that
# LAN is the attacker and the IPv6 gateway. Checked with real clients over
# IPv6 (`curl -6`, OpenSSH `ssh -6` via sshpass, `dig -6 AAAA`, `nc -6`):
#  * the router learned every decky's IPv6 address at its persona MAC from
#    the unsolicited neighbour advertisement (RFC 9131 router behaviour),
#    before any traffic; every decky's IPv6 default route is `gw6`;
#  * events carry the IPv6 source and destination;
#  * the fake shell shows exactly the decky's addresses (`hostname -I`,
#    `ip a`; no IPv4 on a v6-only decky);
#  * `decnet validate` reports a bad gw6 by FILE:LINE;
#  * SIGTERM removes every namespace. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=ipv6_netns.sh
. scripts/lib/interop.sh
[ "$(id -u)" = 0 ] || { echo "$NAME: needs root (network namespaces)" >&2; exit 1; }
interop_need ip:iproute2 curl:curl ssh:openssh-client sshpass:sshpass dig:dnsutils nc:netcat-openbsd python3:python3
interop_workdir decnet-ipv6-netns

ROUTER=dn6r-$$
LAN=dn6l$$
GW6=fd00:66::1
ATTACKER=fd00:66::66
SIX=fd00:66::10            # v6-only decky (explicit)
BOTH4=10.66.0.1            # dual-stack decky: allocated from net and net6
BOTH6=fd00:66::2           # (fd00:66::1 is gw6, never handed out)
PASS=ipv6-netns-admin-password
decnet_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^decnet-' || true; }
cleanup_all() {
    interop_cleanup
    for ns in $(decnet_namespaces); do ip netns del "$ns" 2>/dev/null || true; done
    ip netns del "$ROUTER" 2>/dev/null || true
    ip link del "$LAN" 2>/dev/null || true
}
trap cleanup_all EXIT
[ -z "$(decnet_namespaces)" ] || fail "decnet namespaces exist before the test: $(decnet_namespaces | tr '\n' ' ')"

# --- the LAN: a veth pair, its host end the deckies' macvlan parent, the
# other end eth0 of the router namespace (a router: it learns neighbours
# from unsolicited advertisements).
ip netns add "$ROUTER"
in_router() { ip netns exec "$ROUTER" "$@"; }
ip link add "$LAN" type veth peer name eth0 netns "$ROUTER"
ip link set "$LAN" up
in_router ip link set lo up
in_router sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.eth0.accept_untracked_na=1
in_router ip addr add 10.66.0.250/24 dev eth0
in_router ip -6 addr add "$GW6/64" dev eth0 nodad
in_router ip -6 addr add "$ATTACKER/64" dev eth0 nodad
in_router ip link set eth0 up

# --- validate: a gw6 of the wrong family or off the LAN, by line
printf '%s\n' '[general]' 'mode = netns' "interface = $LAN" 'net6 = fd00:66::/64' 'gw6 = 10.66.0.250' \
    '' '[a]' 'services = ssh' >"$WORK/bad1.ini"
out=$("$BIN" validate "$WORK/bad1.ini" 2>&1) && fail "validate accepted gw6 = an IPv4 address"
grep -q "bad1.ini:5: gw6 = '10.66.0.250' is not an IPv6 address" <<<"$out" || fail "validate: $out"
sed 's/^gw6 = .*/gw6 = fd00:77::1/' "$WORK/bad1.ini" >"$WORK/bad2.ini"
out=$("$BIN" validate "$WORK/bad2.ini" 2>&1) && fail "validate accepted gw6 outside net6"
grep -q "bad2.ini:5: gw6 fd00:77::1 is outside net6 fd00:66::/64" <<<"$out" || fail "validate: $out"

cat >"$WORK/fleet.ini" <<EOF
[general]
mode = netns
interface = $LAN
net = 10.66.0.0/24
gw = 10.66.0.250
net6 = fd00:66::/64
gw6 = $GW6

[both]
services = ssh, http
distro = debian

[both.ssh]
password = toor

[six]
ip = $SIX
services = ssh, http, dns
distro = debian

[six.ssh]
password = toor

[six.dns]
zone = corp.example
EOF
"$BIN" validate "$WORK/fleet.ini" >"$WORK/validate.out" 2>&1 || { cat "$WORK/validate.out"; fail "validate"; }

API="127.0.0.1:$(( 19900 + RANDOM % 90 ))"
DECNET_ADMIN_PASSWORD=$PASS "$BIN" serve --config "$WORK/fleet.ini" --data-dir "$DATA" --api "$API" \
    >"$WORK/serve.out" 2>&1 &
PID=$!
interop_wait_started

# --- before any traffic: the router knows each decky's IPv6 address at its
# MAC (unsolicited NA), and each decky routes IPv6 via gw6.
mac_of() { ip -n "decnet-$1" -o link show dev eth0 | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2; }
learned() { # DECKY ADDRESS
    local mac; mac=$(mac_of "$1")
    [ -n "$mac" ] || fail "$1: no eth0 in its namespace"
    for _ in $(seq 1 30); do
        in_router ip -6 neigh show "$2" dev eth0 | grep -q "lladdr $mac" && return 0
        sleep 0.1
    done
    fail "$1: the router did not learn $2 at $mac from an advertisement ($(in_router ip -6 neigh show))"
}
learned six "$SIX"
learned both "$BOTH6"
for d in six both; do
    route=$(ip -n "decnet-$d" -6 route show default)
    grep -q "^default via $GW6 dev eth0" <<<"$route" || fail "$d: IPv6 default route '$route'"
done
ip -n decnet-both route show default | grep -q '^default via 10.66.0.250' || fail "both: no IPv4 default route"
[ -z "$(ip -n decnet-six -4 addr show dev eth0)" ] || fail "the v6-only decky has an IPv4 address"

# --- curl -6 (and -4 to the dual-stack decky)
code=$(in_router curl -6 -s -m 5 -o /dev/null -w '%{http_code}' --interface "$ATTACKER" "http://[$SIX]/") \
    || fail "curl -6 to the v6-only decky"
[ "$code" = 200 ] || fail "curl -6 got HTTP $code"
expect_log "v6 http request" "six http - request" 'path="/"' "src_ip=\"$ATTACKER\"" "dst_ip=\"$SIX\""
interop_dual_stack_http "ip netns exec $ROUTER" both "$BOTH4" "$BOTH6" "$ATTACKER" 80

# --- ssh -6: login, and the shell shows the decky's own addresses
SSHOPTS=(-6 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no
         -o PreferredAuthentications=password -o LogLevel=ERROR -o ConnectTimeout=10 -b "$ATTACKER")
out=$(in_router sshpass -p toor ssh "${SSHOPTS[@]}" "root@$SIX" 'hostname -I; ip a') || fail "ssh -6 six ($out)"
[ "$(head -1 <<<"$out")" = "$SIX " ] || fail "six: hostname -I says '$(head -1 <<<"$out")'"
grep -q "inet6 $SIX/64 scope global" <<<"$out" || fail "six: ip a lacks $SIX: $out"
if sed -n '/: eth0:/,$p' <<<"$out" | grep -q ' inet '; then fail "six: ip a shows an IPv4 address on eth0: $out"; fi
expect_log "ssh -6 login" "six ssh - auth_attempt" 'username="root"' 'success="true"' "src_ip=\"$ATTACKER\"" "dst_ip=\"$SIX\""
expect_log "ssh -6 command" "six ssh - command" 'command="hostname -I; ip a"'
out=$(in_router sshpass -p toor ssh "${SSHOPTS[@]}" "root@$BOTH6" 'hostname -I') || fail "ssh -6 both ($out)"
[ "$out" = "$BOTH4 $BOTH6 " ] || fail "both: hostname -I says '$out'"

# --- UDP: dig -6 gets the v6-only decky's AAAA record
ans=$(in_router dig -6 +short +time=3 +tries=1 -b "$ATTACKER" "@$SIX" www.corp.example AAAA) || fail "dig -6"
[ "$ans" = "$SIX" ] || fail "dig -6 answer: '$ans'"
expect_log "v6 dns query" "six dns - " 'query="www.corp.example' "src_ip=\"$ATTACKER\""

# --- nc -6: a raw TCP probe is a connection event
printf 'hello\r\n' | in_router timeout 5 nc -6 -s "$ATTACKER" -w 2 "$SIX" 80 >/dev/null 2>&1 || true
expect_log "nc -6 connect" "six http - connect" "src_ip=\"$ATTACKER\""

# --- a topology with a dual-stack LAN, deployed over the API
TOKEN=$(curl -fsS -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PASS\"}" \
    "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
auth=(-H "Authorization: Bearer $TOKEN" -H 'content-type: application/json')
bad=$(curl -sS "${auth[@]}" -o /dev/null -w '%{http_code}' -d '{"name":"bad6","lans":[{"name":"l","cidr":"10.66.0.128/25","cidr6":"10.1.0.0/24"}]}' \
    "http://$API/api/v1/topologies")
[ "$bad" = 422 ] || fail "a LAN with an IPv4 cidr6 was not refused (HTTP $bad)"
TOPO=$(curl -fsS "${auth[@]}" -d '{"name":"v6lan","lans":[{"name":"dmz6","cidr":"10.66.0.128/25","cidr6":"fd00:66::100:0/112"}],
        "deckies":[{"name":"tdual","services":["http"]}],"edges":[{"decky":"tdual","lan":"dmz6"}]}' \
    "http://$API/api/v1/topologies" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') \
    || fail "creating a dual-stack topology"
curl -fsS "${auth[@]}" -X POST "http://$API/api/v1/topologies/$TOPO/deploy" >/dev/null || fail "deploy"
status=""
for _ in $(seq 1 100); do
    status=$(curl -fsS "${auth[@]}" "http://$API/api/v1/topologies/$TOPO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = active ] && break
    sleep 0.1
done
[ "$status" = active ] || fail "topology is '$status', not active"
# The first free address of each range (IPv6 host 1 is the LAN's router).
T4=10.66.0.129
T6=fd00:66::100:2
curl -fsS "${auth[@]}" "http://$API/api/v1/deckies" | python3 -c '
import json, sys
d = {x["name"]: x for x in json.load(sys.stdin)}["tdual"]
assert (d["ip"], d.get("ip6")) == (sys.argv[1], sys.argv[2]), d
' "$T4" "$T6" || fail "tdual's addresses in the API"
learned tdual "$T6"
interop_dual_stack_http "ip netns exec $ROUTER" tdual "$T4" "$T6" "$ATTACKER" 80

# --- SIGTERM removes every namespace
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
[ -z "$(decnet_namespaces)" ] || fail "namespaces left after SIGTERM: $(decnet_namespaces | tr '\n' ' ')"
echo "$NAME: ok"
