#!/usr/bin/env bash
# Records the passive sensor's test captures with real clients and servers
# in two network namespaces joined by a veth pair (attacker 10.77.0.1 →
# decky 10.77.0.2), captured on the decky's side. Root; needs tcpdump,
# curl, openssl, openssh-client/-server, nmap. Output: crates/decnet-passive/testdata/.
set -euo pipefail
OUT=${1:-$(cd "$(dirname "$0")/../.." && pwd)/crates/decnet-passive/testdata}
mkdir -p "$OUT"
WORK=$(mktemp -d)
A=pv-rec-atk D=pv-rec-dk
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del $A 2>/dev/null || true
  ip netns del $D 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add $A
ip netns add $D
ip link add pvatk0 netns $A type veth peer name pvdk0 netns $D
ip -n $A addr add 10.77.0.1/24 dev pvatk0
ip -n $D addr add 10.77.0.2/24 dev pvdk0
ip -n $A link set pvatk0 up
ip -n $D link set pvdk0 up
ip -n $A link set lo up
ip -n $D link set lo up
# Offloads off: the capture sees wire-sized segments as on a real LAN.
ip netns exec $D ethtool -K pvdk0 gro off tso off gso off 2>/dev/null || true
ip netns exec $A ethtool -K pvatk0 gro off tso off gso off 2>/dev/null || true

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=decky -days 2 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
ip netns exec $D openssl s_server -quiet -accept 443 -cert "$WORK/cert.pem" -key "$WORK/key.pem" -www >/dev/null 2>&1 &
PIDS+=($!)
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ip netns exec $D /usr/sbin/sshd -D -p 22 -h "$WORK/hostkey" -o PidFile=none -o UsePAM=no >/dev/null 2>&1 &
PIDS+=($!)
sleep 1

capture() { # name, then the client command
  local name=$1; shift
  ip netns exec $D tcpdump -i pvdk0 -Q in -s 2048 -U -w "$OUT/$name.pcap" 'ip' 2>/dev/null &
  local tpid=$!
  sleep 1
  "$@" || true
  sleep 1
  kill $tpid; wait $tpid 2>/dev/null || true
}
capture tls12_curl ip netns exec $A curl -sk --tlsv1.2 --tls-max 1.2 -o /dev/null https://10.77.0.2/
capture tls13_curl ip netns exec $A curl -sk --tlsv1.3 -o /dev/null https://10.77.0.2/
capture openssl_s_client sh -c "echo | ip netns exec $A timeout 5 openssl s_client -connect 10.77.0.2:443 -servername decky.example >/dev/null 2>&1"
capture ssh_client ip netns exec $A timeout 5 ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@10.77.0.2 true
capture nmap_syn ip netns exec $A nmap -n -Pn -sS -p 20-30,80,443,8080 --max-retries 0 10.77.0.2
capture nmap_udp ip netns exec $A nmap -n -Pn -sU -p 53,69,123,161 --max-retries 0 10.77.0.2
ls -l "$OUT"
