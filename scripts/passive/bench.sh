#!/usr/bin/env bash
# Passive sensor figures for BENCH.md. Root. Two measurements:
#
#  1. Analyzer alone: `decnet passive-read --repeat N` over the recorded
#     captures (frames/s of the code the live sensor runs per frame).
#  2. Live: `decnet serve` with `[passive]` on a veth test LAN; tcpreplay
#     (--topspeed, bounded by --loop) sends a generated capture of SYNs from
#     4,096 sources to 16 ports each, plus the recorded TLS/SSH/nmap
#     captures, from an attacker namespace. The frames carry a MAC no decky
#     owns, so the deckies' stacks drop them after the capture tap: what is
#     measured is the sensor. Reported: frames sent (tcpreplay), frames the
#     BPF filter passed and the kernel dropped (PACKET_STATISTICS), frames
#     read, events, decnet's CPU seconds and peak RSS.
#
# BIN=path (default target/release/decnet); LOOPS (default 20).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/decnet}
LOOPS=${LOOPS:-20}
DATA=crates/decnet-passive/testdata
ATK=pvb-atk
LAN=pvblan0
WORK=$(mktemp -d /tmp/passive-bench.XXXXXX)
PID=""
command -v tcpreplay >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null
cleanup() {
  set +e
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  for ns in $(ip netns list | awk '{print $1}' | grep '^decnet-'); do ip netns del "$ns"; done
  ip netns del $ATK 2>/dev/null
  ip link del $LAN 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== analyzer alone (passive-read, $(basename "$BIN"))"
for f in nmap_syn tls13_curl ssh_client; do
  "$BIN" passive-read "$DATA/$f.pcap" --decky 10.77.0.2=d:tcp/22,tcp/443 --quiet --repeat 20000 2>&1 |
    sed "s/^/   $f: /"
done

echo "== live capture"
# 65,536 SYN frames: 4,096 sources x 16 ports, to 10.78.0.11.
python3 - "$WORK/syn.pcap" <<'PY'
import struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
dst = bytes([10, 78, 0, 11])
for i in range(4096):
    src = bytes([10, 78, 1 + (i >> 8), i & 0xff])
    for port in range(16):
        opts = struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02\x01\x03\x03\x07"
        tcp = struct.pack("!HHIIBBHHH", 40000 + port, 1000 + port * 7, i * 7919, 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        frame = b"\x02\x00\x00\x00\xbe\xef" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + tcp
        out.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
PY
ip netns add $ATK
ip link add $LAN type veth peer name eth0 netns $ATK
ip link set $LAN up
ip -n $ATK link set eth0 up
cat > "$WORK/fleet.ini" <<EOF
[general]
net = 10.78.0.0/16
gw = 10.78.0.1
interface = $LAN
mode = netns

[passive]
interface = $LAN

[db]
ip = 10.78.0.11
services = mysql, ssh, https
EOF
DECNET_LOG=info DECNET_ADMIN_PASSWORD=bench-password "$BIN" serve --config "$WORK/fleet.ini" \
  --data-dir "$WORK/data" --api 127.0.0.1:18172 > "$WORK/serve.out" 2>&1 &
PID=$!
for _ in $(seq 1 150); do grep -q "Ctrl-C to stop" "$WORK/serve.out" && break; sleep 0.2; done
grep -q "passive sensor on" "$WORK/serve.out" || { cat "$WORK/serve.out"; exit 1; }
sleep 1
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
cpu0=$(cpu)
t0=$(date +%s.%N)
ip netns exec $ATK tcpreplay -q -i eth0 --topspeed --loop "$LOOPS" "$WORK/syn.pcap" 2>&1 | grep -E "Actual|Rated" | sed 's/^/   tcpreplay: /'
for f in tls13_curl ssh_client nmap_syn nmap_udp; do
  ip netns exec $ATK tcpreplay -q -i eth0 --topspeed --loop 100 "$DATA/$f.pcap" >/dev/null 2>&1
done
sleep 2
t1=$(date +%s.%N)
cpu1=$(cpu)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
kill -TERM "$PID"; wait "$PID" || true; PID=""
tck=$(getconf CLK_TCK)
echo "   decnet CPU: $(echo "($cpu1 - $cpu0) / $tck" | bc -l | xargs printf '%.2f') s over $(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') s wall"
echo "   decnet RSS: before ${rss_before} KiB, after ${rss} KiB, peak ${hwm} KiB"
grep "passive sensor stopped" "$WORK/serve.out" | sed 's/^/   /'
