#!/usr/bin/env bash
# The passive LAN sensor end to end. Runs as root. A veth pair is the test
# LAN: `pvlan0` in the host namespace is the netns deckies' macvlan parent
# (and the passive sensor's interface), its peer is `eth0` in an attacker
# namespace `pv-atk` (10.78.0.1).
#
#  1. The interface policy: `[passive]` on another interface than the
#     deckies' LAN is refused with a clear error (exit 2) unless
#     `--passive-allow-host-interface` is given.
#  2. Real clients from the attacker namespace — curl (TLS 1.3), ssh,
#     nmap -sS, nmap -sU — against two netns deckies; the capture on the
#     attacker's side is read by tshark, and the sensor's events read back
#     from the API must agree: JA3 = tshark's tls.handshake.ja3, HASSH =
#     tshark's ssh.kex.hassh, a Linux SYN signature for curl's stack, nmap
#     seen as an nmap SYN scan with closed ports and a sweep, UDP probes of
#     closed ports; the attacker's intel row carries the passive JA3.
#
# DECNET_BIN=path skips the cargo build; KEEP=1 keeps the work dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=passive.sh
. scripts/lib/interop.sh

ATK=pv-atk
LAN=pvlan0
API=127.0.0.1:18171
PASS=passive-admin-password

if [ "$(id -u)" != 0 ]; then
  echo "$NAME: needs root (namespaces, AF_PACKET)" >&2
  exit 1
fi
interop_need nmap:nmap curl:curl ssh:openssh-client tcpdump:tcpdump tshark:tshark python3:python3
interop_workdir decnet-passive
LOG="$DATA/decnet.log"

decnet_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^decnet-' || true; }
cleanup() {
  set +e
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "${TCPDUMP:-}" ] && kill "$TCPDUMP" 2>/dev/null
  for ns in $(decnet_namespaces); do ip netns del "$ns"; done
  ip netns del "$ATK" 2>/dev/null
  ip link del "$LAN" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
export NO_COLOR=1

ip netns del "$ATK" 2>/dev/null || true
ip link del "$LAN" 2>/dev/null || true
ip netns add "$ATK"
ip link add "$LAN" type veth peer name eth0 netns "$ATK"
ip link set "$LAN" up
ip -n "$ATK" addr add 10.78.0.1/24 dev eth0
ip -n "$ATK" link set eth0 up
ip -n "$ATK" link set lo up
in_atk() { ip netns exec "$ATK" "$@"; }

fleet() { # PASSIVE_INTERFACE
  cat <<EOF
[general]
net = 10.78.0.0/24
gw = 10.78.0.1
interface = $LAN
mode = netns

[passive]
interface = $1

[web]
ip = 10.78.0.10
services = https, ssh
distro = debian

[db]
ip = 10.78.0.11
services = mysql
distro = debian
EOF
}

echo "== $NAME: the interface policy"
fleet lo > "$WORK/host.ini"
set +e
"$BIN" serve --config "$WORK/host.ini" --data-dir "$WORK/refused" --api "$API" > "$WORK/refused.out" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || { cat "$WORK/refused.out"; fail "a host interface was not refused (exit $rc)"; }
grep -q "allow_host_interface" "$WORK/refused.out" || fail "the refusal does not say how to proceed: $(cat "$WORK/refused.out")"
[ -z "$(decnet_namespaces)" ] || fail "a refused start created namespaces"
echo "   [passive] interface = lo refused: $(head -c 120 "$WORK/refused.out")…"

echo "== $NAME: sensor on the deckies' LAN"
fleet "$LAN" > "$WORK/fleet.ini"
DECNET_LOG=info DECNET_ADMIN_PASSWORD=$PASS "$BIN" serve --config "$WORK/fleet.ini" \
  --data-dir "$DATA" --api "$API" > "$WORK/serve.out" 2>&1 &
PID=$!
for _ in $(seq 1 150); do
  grep -q "Ctrl-C to stop" "$WORK/serve.out" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.out"; fail "decnet exited during startup"; }
  sleep 0.2
done
grep -q "passive sensor on $LAN" "$WORK/serve.out" || { cat "$WORK/serve.out"; fail "the passive sensor did not start"; }

in_atk tcpdump -i eth0 -Q out -s 2048 -U -w "$WORK/atk.pcap" 'tcp or udp' 2>/dev/null &
TCPDUMP=$!
sleep 1
in_atk curl -sk --tlsv1.3 -o /dev/null --max-time 5 https://10.78.0.10/ || true
in_atk ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o ConnectTimeout=5 root@10.78.0.10 true 2>/dev/null || true
in_atk nmap -n -Pn -sS -p 1-40,443,3306,8080 --max-retries 0 10.78.0.11 > /dev/null
in_atk nmap -n -Pn -sU -p 53,69,123,161 --max-retries 0 10.78.0.11 > /dev/null
sleep 1
kill "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true; TCPDUMP=""

JA3=$(tshark -r "$WORK/atk.pcap" -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.ja3 2>/dev/null | head -1)
HASSH=$(tshark -r "$WORK/atk.pcap" -Y 'ssh.kex.hassh' -T fields -e ssh.kex.hassh 2>/dev/null | head -1)
[ -n "$JA3" ] && [ -n "$HASSH" ] || fail "tshark found no ClientHello/KEXINIT in the attacker's capture"
echo "   tshark: ja3 $JA3, hassh $HASSH"

TOKEN=$(curl -fsS -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PASS\"}" \
  "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
api() { curl -fsS -H "Authorization: Bearer $TOKEN" "$@"; }

check() {
  api "http://$API/api/v1/logs?service=passive&limit=500" > "$WORK/passive.json" || return 1
  python3 - "$WORK/passive.json" "$JA3" "$HASSH" <<'PY'
import json, sys
events, ja3, hassh = json.load(open(sys.argv[1]))["data"], sys.argv[2], sys.argv[3]
def find(kind, **want):
    return [e for e in events if e["kind"] == kind and e["src_ip"] == "10.78.0.1"
            and all(e["fields"].get(k) == v for k, v in want.items())]
problems = []
tls = find("fingerprint", fingerprint_type="tls")
if not tls or tls[0]["fields"]["ja3"] != ja3 or tls[0]["decky"] != "web" or tls[0]["dst_port"] != 443:
    problems.append(f"tls fingerprint {tls[:1]} (tshark ja3 {ja3})")
ssh = find("fingerprint", fingerprint_type="ssh")
if not ssh or ssh[0]["fields"].get("hassh") != hassh:
    problems.append(f"ssh fingerprint {ssh[:1]} (tshark hassh {hassh})")
syn = find("fingerprint", fingerprint_type="tcp")
if not any(e["fields"].get("os_family") == "linux" for e in syn):
    problems.append(f"no linux SYN signature: {[e['fields'].get('tcp_signature') for e in syn]}")
# The label is p0f's ("NMap SYN scan") when its database is installed, else the built-in one.
if not any("nmap" in e["fields"].get("os", "").lower() and e["fields"].get("os_family") == "scanner"
           and e["decky"] == "db" for e in syn):
    problems.append(f"nmap -sS not recognised: {[(e['fields'].get('tcp_signature'), e['fields'].get('os')) for e in syn]}")
closed = find("scan", event_type="syn_closed_port")
if not closed or any(e["dst_port"] == 3306 for e in closed):
    problems.append(f"closed-port SYNs: {[e['dst_port'] for e in closed]}")
if not find("scan", event_type="port_sweep"):
    problems.append("no port_sweep")
udp = sorted(e["dst_port"] for e in find("scan", event_type="udp_probe"))
if udp != [53, 69, 123, 161]:
    problems.append(f"udp probes {udp}")
if problems:
    print("; ".join(problems))
    sys.exit(1)
print(f"   {len(events)} passive events: tls+ssh+tcp fingerprints, {len(closed)} closed-port SYNs, a sweep, udp probes {udp}")
PY
}
ok=""
for _ in $(seq 1 50); do
  if out=$(check 2>&1); then ok=1; echo "$out"; break; fi
  sleep 0.2
done
[ -n "$ok" ] || fail "passive events wrong: $out"

# Intel links by the same fields: the attacker's row carries the JA3.
for _ in $(seq 1 50); do
  api "http://$API/api/v1/attackers/10.78.0.1" > "$WORK/attacker.json" 2>/dev/null \
    && grep -q "ja3:$JA3" "$WORK/attacker.json" && break
  sleep 0.2
done
grep -q "ja3:$JA3" "$WORK/attacker.json" || fail "intel row of 10.78.0.1 lacks ja3:$JA3: $(head -c 400 "$WORK/attacker.json")"
echo "   intel: attacker 10.78.0.1 has ja3:$JA3"

kill -TERM "$PID"; wait "$PID" || fail "decnet exit status $?"; PID=""
[ -z "$(decnet_namespaces)" ] || fail "namespaces left after SIGTERM"
echo "passive: OK"
