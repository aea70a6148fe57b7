#!/usr/bin/env bash
# DHCP deckies: `dhcp = true` deckies in netns mode lease their
# addresses from a real dnsmasq like machines joining the LAN. Runs as root;
# touches nothing in the host namespace: decnet itself runs in a namespace
# `dhd-host` whose `uplink` is the macvlan parent, wired to `dhd-lan` where
# dnsmasq serves 10.79.0.100–150 and the checks run.
#
#  1. three DHCP deckies (Windows x2, Linux, embedded) and one static one:
#     the API lists leased addresses; dnsmasq's lease file has each decky's
#     persona MAC, leased address and persona host name; its log shows each
#     family's vendor class; services answer on the leased addresses; the
#     default route is the router dnsmasq handed out.
#  2. SIGTERM: every lease is released (gone from the lease file) and every
#     namespace removed.
#
# DECNET_BIN=path skips the cargo build; KEEP_WORK=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."

HOST=dhd-host
LANNS=dhd-lan
WORK=$(mktemp -d /tmp/decnet-dhcp.XXXXXX)
API=127.0.0.1:18096
PASS=dhcp-admin-password
DECNET_PID=""
DNSMASQ_PID=""
DECKY_NS="decnet-dh-pc-01 decnet-dh-pc-02 decnet-dh-web decnet-dh-plc decnet-dh-static"

fail() {
  echo "FAIL: $*" >&2
  echo "---- decnet output (tail)" >&2
  tail -n 40 "$WORK/decnet.log" >&2 2>/dev/null || true
  echo "---- dnsmasq (tail)" >&2
  tail -n 20 "$WORK/dnsmasq.log" >&2 2>/dev/null || true
  exit 1
}

cleanup() {
  set +e
  [ -n "$DECNET_PID" ] && kill "$DECNET_PID" 2>/dev/null && wait "$DECNET_PID" 2>/dev/null
  [ -n "$DNSMASQ_PID" ] && kill "$DNSMASQ_PID" 2>/dev/null && wait "$DNSMASQ_PID" 2>/dev/null
  for ns in $DECKY_NS $HOST $LANNS; do
    [ -e "/var/run/netns/$ns" ] && ip netns del "$ns"
  done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
export NO_COLOR=1

if [ "$(id -u)" != 0 ]; then
  echo "dhcp: SKIPPED — needs root to create namespaces" >&2
  exit 1
fi
for tool in dnsmasq curl ip python3; do
  command -v "$tool" >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base curl iproute2 python3 >/dev/null; break; }
done

if [ -z "${DECNET_BIN:-}" ]; then
  cargo build -q -p decnet
  DECNET_BIN=${CARGO_TARGET_DIR:-target}/debug/decnet
fi

for ns in $DECKY_NS $HOST $LANNS; do
  [ -e "/var/run/netns/$ns" ] && ip netns del "$ns"
done

echo "== dhcp: test LAN with dnsmasq"
ip netns add "$HOST"
ip netns add "$LANNS"
ip -n "$HOST" link set lo up
ip -n "$LANNS" link add lan0 type veth peer name uplink netns "$HOST"
ip -n "$LANNS" addr add 10.79.0.1/24 dev lan0
ip -n "$LANNS" link set lan0 up
ip -n "$HOST" link set uplink up
in_lan() { ip netns exec "$LANNS" "$@"; }
in_host() { ip netns exec "$HOST" "$@"; }

# Started directly (not through in_lan) so that $! is dnsmasq itself.
ip netns exec "$LANNS" dnsmasq --no-daemon --conf-file=/dev/null --port=0 --interface=lan0 --bind-interfaces \
  --dhcp-range=10.79.0.100,10.79.0.150,255.255.255.0,10m --dhcp-option=option:router,10.79.0.1 \
  --dhcp-leasefile="$WORK/leases" --pid-file="$WORK/dnsmasq.pid" --log-dhcp --log-facility=- \
  --user=root > "$WORK/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!
for _ in $(seq 1 50); do grep -q "DHCP, IP range" "$WORK/dnsmasq.log" && break; sleep 0.1; done
grep -q "DHCP, IP range" "$WORK/dnsmasq.log" || fail "dnsmasq did not start"

cat > "$WORK/lan.ini" <<EOF
[general]
net = 10.79.0.0/24
gw = 10.79.0.1
interface = uplink
mode = netns

[dh-pc]
archetype = windows-workstation
amount = 2
dhcp = true

[dh-web]
archetype = linux-server
dhcp = true

[dh-plc]
services = telnet, snmp
nmap_os = embedded
dhcp = true

[dh-static]
ip = 10.79.0.40
services = ssh
EOF
"$DECNET_BIN" validate "$WORK/lan.ini" > /dev/null || fail "fleet does not validate"

echo "== dhcp: decnet serve in $HOST"
started=$(date +%s%N)
DECNET_LOG=info DECNET_ADMIN_PASSWORD=$PASS ip netns exec "$HOST" "$DECNET_BIN" serve --config "$WORK/lan.ini" \
  --data-dir "$WORK/data" --api "$API" > "$WORK/decnet.log" 2>&1 &
DECNET_PID=$!
for _ in $(seq 1 300); do
  grep -q "Ctrl-C to stop" "$WORK/decnet.log" 2>/dev/null && break
  kill -0 "$DECNET_PID" 2>/dev/null || fail "decnet exited during startup"
  sleep 0.2
done
grep -q "Ctrl-C to stop" "$WORK/decnet.log" || fail "decnet did not start"
echo "   5 deckies (4 by DHCP) up in $(( ($(date +%s%N) - started) / 1000000 )) ms"

TOKEN=$(in_host curl -fsS -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PASS\"}" \
  "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
in_host curl -fsS -H "Authorization: Bearer $TOKEN" "http://$API/api/v1/deckies" > "$WORK/deckies.json"

python3 - "$WORK/deckies.json" "$WORK/leases" "$WORK/dnsmasq.log" > "$WORK/expect.tsv" <<'PY' || fail "leases contradict the API"
import ipaddress, json, sys
deckies = {d["name"]: d for d in json.load(open(sys.argv[1]))}
leases = {l.split()[1]: l.split() for l in open(sys.argv[2]) if l.strip()}
log = open(sys.argv[3]).read()
bad = []
for name in ["dh-pc-01", "dh-pc-02", "dh-web", "dh-plc"]:
    d = deckies.get(name)
    if d is None:
        bad.append(f"{name}: not running"); continue
    ip = ipaddress.ip_address(d["ip"])
    if not ipaddress.ip_address("10.79.0.100") <= ip <= ipaddress.ip_address("10.79.0.150"):
        bad.append(f"{name}: API address {ip} is not from the DHCP range")
    lease = leases.get(d["mac"])
    if lease is None:
        bad.append(f"{name}: no dnsmasq lease for its MAC {d['mac']}"); continue
    # Option 12 carries the short name, as real clients send it.
    if lease[2] != d["ip"] or lease[3] != d["hostname"].split(".")[0]:
        bad.append(f"{name}: lease {lease[2]} {lease[3]} != API {d['ip']} {d['hostname']}")
    print(name, d["ip"], d["mac"], d["hostname"], sep="\t")
static = deckies.get("dh-static")
if not static or static["ip"] != "10.79.0.40" or static["mac"] in leases:
    bad.append(f"dh-static: {static and static['ip']} (static, no lease expected)")
for vendor, count in [("vendor class: MSFT 5.0", 2), ("vendor class: dhcpcd-", 1), ("vendor class: udhcp ", 1)]:
    if log.count(vendor) < count:
        bad.append(f"dnsmasq log has {log.count(vendor)} × {vendor!r}, expected ≥ {count}")
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
while IFS=$'\t' read -r name ip mac host; do
  echo "   $name  $ip  $mac  $host"
done < "$WORK/expect.tsv"

web_ip=$(awk -F'\t' '$1 == "dh-web" {print $2}' "$WORK/expect.tsv")
banner=$(in_lan timeout 5 bash -c "exec 3<>/dev/tcp/$web_ip/22; IFS= read -r -t 4 line <&3; printf '%s' \"\$line\"" | tr -d '\r' || true)
[[ "$banner" == SSH-2.0-* ]] || fail "dh-web ssh on its leased $web_ip: '$banner'"
in_lan curl -fsS -m 5 -o /dev/null "http://$web_ip/" || fail "dh-web http on $web_ip"
pc_ip=$(awk -F'\t' '$1 == "dh-pc-01" {print $2}' "$WORK/expect.tsv")
in_lan timeout 5 bash -c "exec 3<>/dev/tcp/$pc_ip/445" || fail "dh-pc-01 smb on $pc_ip"
# `ip netns exec` gave decnet its own mount namespace, where the decky
# namespace handles are mounted: look at them from there.
route=$(nsenter -t "$DECNET_PID" -m ip -n decnet-dh-web -4 route show default)
[[ "$route" == "default via 10.79.0.1 "* ]] || fail "dh-web default route: $route"
echo "   services answer on leased addresses; default route from the lease"

echo "== dhcp: SIGTERM releases the leases"
kill -TERM "$DECNET_PID"; wait "$DECNET_PID" || fail "decnet exit status $?"; DECNET_PID=""
for _ in $(seq 1 30); do
  left=$(cut -f3 "$WORK/expect.tsv" | { grep -c -F -f - "$WORK/leases" || true; })
  [ "$left" = 0 ] && break
  sleep 0.1
done
[ "$left" = 0 ] || fail "$left leases still in dnsmasq's file after SIGTERM: $(cat "$WORK/leases")"
[ "$(grep -c 'DHCPRELEASE' "$WORK/dnsmasq.log")" -ge 4 ] || fail "dnsmasq saw fewer than 4 DHCPRELEASEs"
for ns in $DECKY_NS; do
  [ ! -e "/var/run/netns/$ns" ] || fail "namespace $ns left behind"
done
echo "   4 leases released, no decky namespace left"
echo "dhcp: OK"
