#!/usr/bin/env bash
# Deckies on a real network. Runs as root. Builds a test LAN out
# of a veth pair: `dnt-lan0` in the host namespace is the macvlan parent /
# alias interface, its peer is `eth0` in a scanner namespace `dnt-scan`.
#
#  1. netns mode, 20 deckies (linux / windows / embedded personas): every
#     decky answers ARP with its own MAC carrying its persona's vendor OUI,
#     `nmap -sV -O` sees each persona's initial TTL (64/128/255), Linux
#     personas are guessed as Linux, Windows personas as Windows (packet
#     personality; unless the kernel has no NFQUEUE), services answer, no banner names the
#     decky or decnet, hostnames and MACs all differ.
#  2. SIGTERM removes every namespace; `kill -9` leaves them and the next
#     start removes them (state file); nothing is left at the end.
#  3. alias mode on the same LAN interface: addresses added, answered from
#     the scanner, removed on SIGTERM, and after `kill -9` removed by the
#     next start.
#
# DECNET_BIN=path skips the cargo build; KEEP_WORK=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCAN=dnt-scan
LAN=dnt-lan0
WORK=$(mktemp -d /tmp/decnet-netns.XXXXXX)
API=127.0.0.1:18095
PASS=netns-admin-password
DECNET_PID=""

fail() {
  echo "FAIL: $*" >&2
  echo "---- decnet output (tail)" >&2
  tail -n 40 "$WORK"/out*.log >&2 2>/dev/null || true
  exit 1
}

decnet_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^decnet-' || true; }

cleanup() {
  set +e
  [ -n "$DECNET_PID" ] && kill "$DECNET_PID" 2>/dev/null && wait "$DECNET_PID" 2>/dev/null
  for ns in $(decnet_namespaces); do ip netns del "$ns"; done
  ip netns del "$SCAN" 2>/dev/null
  ip link del "$LAN" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
export NO_COLOR=1

if [ "$(id -u)" != 0 ]; then
  echo "netns: SKIPPED — needs root to create namespaces" >&2
  exit 1
fi
for tool in nmap arping curl ip python3; do
  command -v "$tool" >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap arping curl iproute2 python3 >/dev/null; break; }
done

if [ -z "${DECNET_BIN:-}" ]; then
  cargo build -q -p decnet
  DECNET_BIN=${CARGO_TARGET_DIR:-target}/debug/decnet
fi

# Leftovers of an aborted earlier run of this script.
ip netns del "$SCAN" 2>/dev/null || true
ip link del "$LAN" 2>/dev/null || true
[ -z "$(decnet_namespaces)" ] || fail "decnet namespaces exist before the test: $(decnet_namespaces | tr '\n' ' ')"

echo "== netns: test LAN"
ip netns add "$SCAN"
ip link add "$LAN" type veth peer name eth0 netns "$SCAN"
ip link set "$LAN" up
ip -n "$SCAN" addr add 10.77.0.250/24 dev eth0
ip -n "$SCAN" link set eth0 up
ip -n "$SCAN" link set lo up
in_scan() { ip netns exec "$SCAN" "$@"; }

cat > "$WORK/lan.ini" <<EOF
[general]
net = 10.77.0.0/24
gw = 10.77.0.250
interface = $LAN
mode = netns

[lin]
archetype = linux-server
amount = 8

[win]
archetype = windows-workstation
amount = 6

[gear]
services = telnet, snmp
nmap_os = embedded
amount = 6

; the deckies talk to each other across the LAN (about one flow a second)
[content]
chatter = 3600
EOF

start_decnet() { # INI LOGNAME
  DECNET_LOG=info DECNET_ADMIN_PASSWORD=$PASS "$DECNET_BIN" serve --config "$1" \
    --data-dir "$WORK/data" --api "$API" > "$WORK/$2" 2>&1 &
  DECNET_PID=$!
  for _ in $(seq 1 150); do
    grep -q "Ctrl-C to stop" "$WORK/$2" 2>/dev/null && return 0
    kill -0 "$DECNET_PID" 2>/dev/null || fail "decnet exited during startup"
    sleep 0.2
  done
  fail "decnet did not start"
}
stop_decnet() { kill -TERM "$DECNET_PID"; wait "$DECNET_PID" || fail "decnet exit status $?"; DECNET_PID=""; }
crash_decnet() { kill -KILL "$DECNET_PID"; wait "$DECNET_PID" 2>/dev/null || true; DECNET_PID=""; }

echo "== netns: 20 deckies"
start_decnet "$WORK/lan.ini" out1.log
TOKEN=$(curl -fsS -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PASS\"}" \
  "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fsS -H "Authorization: Bearer $TOKEN" "http://$API/api/v1/deckies" > "$WORK/deckies.json"
[ "$(decnet_namespaces | wc -l)" = 20 ] || fail "expected 20 namespaces, got: $(decnet_namespaces | tr '\n' ' ')"

# ARP: every decky answers from its persona MAC.
python3 - "$WORK/deckies.json" > "$WORK/expect.tsv" <<'PY'
import json, sys
for d in json.load(open(sys.argv[1])):
    os_family = {"windows-workstation": "windows"}.get(d["archetype"] or "", "embedded" if d["name"].startswith("gear") else "linux")
    print(d["name"], d["ip"], d["mac"], os_family, d["hostname"], sep="\t")
PY
[ "$(wc -l < "$WORK/expect.tsv")" = 20 ] || fail "API lists $(wc -l < "$WORK/expect.tsv") deckies, expected 20"
while IFS=$'\t' read -r name ip mac _family _host; do
  got=$(in_scan arping -c 1 -w 3 -I eth0 "$ip" 2>/dev/null | grep -oiE '([0-9a-f]{2}:){5}[0-9a-f]{2}' | head -1 | tr 'A-F' 'a-f')
  [ "$got" = "$mac" ] || fail "$name ($ip) answered ARP with '$got', persona MAC is $mac"
done < "$WORK/expect.tsv"
[ "$(cut -f3 "$WORK/expect.tsv" | sort -u | wc -l)" = 20 ] || fail "MACs repeat across deckies"
[ "$(cut -f5 "$WORK/expect.tsv" | sort -u | wc -l)" = 20 ] || fail "hostnames repeat across deckies"
echo "   ARP: 20 distinct MACs, each the persona's"

# nmap -sV -O from the scanner namespace.
in_scan nmap -sV -O --osscan-guess --max-os-tries 1 -Pn -n -T4 -p 22,23,80,445,3389 \
  -oN "$WORK/nmap.txt" $(cut -f2 "$WORK/expect.tsv") > /dev/null || fail "nmap failed"
SHAPED=1
if grep -q "packet personality unavailable" "$WORK/out1.log"; then
  SHAPED=0; echo "   (no NFQUEUE here: Windows personas shaped by sysctls only)"
fi
SHAPED=$SHAPED python3 - "$WORK/expect.tsv" "$WORK/nmap.txt" <<'PY' || fail "nmap results contradict the personas"
import os, re, sys
shaped = os.environ.get("SHAPED") == "1"
expect = {l.split("\t")[1]: l.rstrip("\n").split("\t") for l in open(sys.argv[1])}
text = open(sys.argv[2]).read()
ttl = {"linux": "40", "windows": "80", "embedded": "FF"}
bad = []
for block in text.split("Nmap scan report for ")[1:]:
    ip = block.split()[0]
    name, _, mac, family, host = expect[ip]
    m = re.search(r"MAC Address: ([0-9A-F:]+) \(([^)]*)\)", block)
    if not m or m.group(1).lower() != mac:
        bad.append(f"{name}: nmap MAC {m and m.group(1)} != {mac}")
    fp = "".join(l[3:] for l in block.splitlines() if l.startswith("OS:"))
    ttls = set(re.findall(r"%T=([0-9A-F]+)%", fp))
    guess = re.search(r"(?:Aggressive OS guesses|OS details|Running): (.*)", block)
    # nmap prints the raw fingerprint only when nothing matched exactly; an
    # exact match must then name the persona's family.
    if not fp:
        word = {"linux": "Linux", "windows": "Windows", "embedded": ""}[family]
        if not guess or word not in guess.group(1):
            bad.append(f"{name} ({family}): no fingerprint and match {guess and guess.group(1)!r}")
    elif ttls != {ttl[family]}:
        bad.append(f"{name} ({family}): initial TTLs {ttls}, expected {{{ttl[family]}}}")
    if family == "linux" and (not guess or "Linux" not in guess.group(1).split(",")[0]):
        bad.append(f"{name}: top OS guess {guess and guess.group(1)[:80]!r} is not Linux")
    # Windows personas are shaped by the packet personality (NFQUEUE) when
    # the kernel has it: then nmap must name Windows first.
    if family == "windows" and shaped and (not guess or "Windows" not in guess.group(1).split(",")[0]):
        bad.append(f"{name}: top OS guess {guess and guess.group(1)[:80]!r} is not Windows")
    for svc in re.findall(r"^\d+/tcp\s+open\s+\S+\s*(.*)$", block, re.M):
        if name in svc or "decnet" in svc.lower():
            bad.append(f"{name}: banner tells: {svc}")
    print(f"   {name:8} {ip:12} {family:9} TTL {'/'.join(sorted(ttls))}  {(guess.group(1)[:60] if guess else '-')}")
seen = text.count("Nmap scan report for ")
if seen != len(expect):
    bad.append(f"nmap reported {seen} hosts of {len(expect)}")
print("\n".join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# Services answer on the LAN, without tells.
while IFS=$'\t' read -r name ip _mac family _host; do
  case "$family" in
    linux)
      banner=$(in_scan timeout 5 bash -c "exec 3<>/dev/tcp/$ip/22; IFS= read -r -t 4 line <&3; printf '%s' \"\$line\"" | tr -d '\r' || true)
      [[ "$banner" == SSH-2.0-* ]] || fail "$name: ssh banner '$banner'"
      page=$(in_scan curl -fsS -m 5 -i "http://$ip/") || fail "$name: http"
      if grep -qiE "decnet|$name" <<<"$page$banner"; then fail "$name: tells in ssh/http"; fi ;;
    embedded)
      banner=$(in_scan timeout 3 bash -c "exec 3<>/dev/tcp/$ip/23; timeout 2 cat <&3" | tr -d '\0' || true)
      if grep -qiE "decnet|$name" <<<"$banner"; then fail "$name: telnet tells"; fi ;;
    windows)
      in_scan timeout 5 bash -c "exec 3<>/dev/tcp/$ip/445" || fail "$name: smb port" ;;
  esac
done < "$WORK/expect.tsv"
echo "   services answer; no banner names a decky or decnet"

# Chatter: flows start inside the deckies' own namespaces (their TCP
# active opens), cross the LAN to other deckies, and none is an event.
sleep 8
opens=0
for ns in $(decnet_namespaces); do
  n=$(ip netns exec "$ns" nstat -az TcpActiveOpens 2>/dev/null | awk '/TcpActiveOpens/ {print $2}')
  opens=$((opens + ${n:-0}))
done
[ "$opens" -gt 0 ] || fail "no decky opened a connection: no chatter between the deckies"
decky_ips=$(cut -f2 "$WORK/expect.tsv" | sed 's/\./\\./g' | paste -sd'|')
if grep -E "src_ip=\"($decky_ips)\"" "$WORK/data/decnet.log" | grep -q .; then
  grep -E "src_ip=\"($decky_ips)\"" "$WORK/data/decnet.log" | head -3 >&2
  fail "chatter between deckies was recorded as events"
fi
echo "   chatter: $opens connections opened from inside the deckies' namespaces, none recorded as an attack"

echo "== netns: teardown and crash recovery"
stop_decnet
[ -z "$(decnet_namespaces)" ] || fail "namespaces left after SIGTERM: $(decnet_namespaces | tr '\n' ' ')"
start_decnet "$WORK/lan.ini" out2.log
crash_decnet
[ "$(decnet_namespaces | wc -l)" = 20 ] || fail "kill -9 should leave the 20 namespaces behind (got $(decnet_namespaces | wc -l))"
start_decnet "$WORK/lan.ini" out3.log
grep -q "removed namespace left by an earlier run" "$WORK/out3.log" || fail "restart did not report removing leftovers"
[ "$(decnet_namespaces | wc -l)" = 20 ] || fail "after recovery expected 20 namespaces"
in_scan arping -c 1 -w 3 -I eth0 10.77.0.1 > /dev/null || fail "recovered decky does not answer ARP"
stop_decnet
[ -z "$(decnet_namespaces)" ] || fail "namespaces left: $(decnet_namespaces | tr '\n' ' ')"
[ -z "$(ip -o link show | grep -E ': dn[0-9a-f]{10}[@:]' || true)" ] || fail "host-side decky links left behind"
echo "   SIGTERM and kill -9 + restart leave nothing behind"

echo "== alias mode"
ip -n "$SCAN" addr add 10.78.0.250/24 dev eth0
cat > "$WORK/alias.ini" <<EOF
[general]
net = 10.78.0.0/24
interface = $LAN
mode = alias

[al]
archetype = linux-server
amount = 3
EOF
aliases() { ip -o -4 addr show dev "$LAN" | grep -c ' 10\.78\.0\.' || true; }
start_decnet "$WORK/alias.ini" out4.log
[ "$(aliases)" = 3 ] || fail "expected 3 alias addresses on $LAN, got $(aliases)"
in_scan curl -fsS -m 5 -o /dev/null "http://10.78.0.2/" || fail "alias decky http from the LAN"
in_scan arping -c 1 -w 3 -I eth0 10.78.0.1 > /dev/null || fail "alias address does not answer ARP"
crash_decnet
[ "$(aliases)" = 3 ] || fail "kill -9 should leave the aliases"
start_decnet "$WORK/alias.ini" out5.log
grep -q "removed address left by an earlier run" "$WORK/out5.log" || fail "restart did not remove leftover aliases"
[ "$(aliases)" = 3 ] || fail "after recovery expected 3 aliases, got $(aliases)"
stop_decnet
[ "$(aliases)" = 0 ] || fail "aliases left after SIGTERM: $(aliases)"
echo "   alias: added, served, removed; crash leftovers removed on restart"
echo "netns: OK"
