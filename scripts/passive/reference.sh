#!/usr/bin/env bash
# Writes what reference tools say about the passive sensor's test captures,
# which crates/decnet-passive/tests/reference.rs checks the sensor against:
#   <pcap>\tja3\t<md5>\t<ja3 string>      (tshark's tls.handshake.ja3)
#   <pcap>\thassh\t<md5>\t<algorithms>    (tshark's ssh.kex.hassh)
#   <pcap>\tsyn\t<raw_sig>\t<os label>    (p0f -r, first SYN)
# Needs tshark and p0f.
set -euo pipefail
DIR=${1:-$(cd "$(dirname "$0")/../.." && pwd)/crates/decnet-passive/testdata}
cd "$DIR"
{
  for f in *.pcap; do
    tshark -r "$f" -Y 'tls.handshake.type == 1' -T fields \
      -e tls.handshake.ja3 -e tls.handshake.ja3_full 2>/dev/null |
      while IFS=$'\t' read -r h s; do printf '%s\tja3\t%s\t%s\n' "$f" "$h" "$s"; done
    tshark -r "$f" -Y 'ssh.kex.hassh' -T fields \
      -e ssh.kex.hassh -e ssh.kex.hassh_algorithms 2>/dev/null |
      head -1 | while IFS=$'\t' read -r h s; do printf '%s\thassh\t%s\t%s\n' "$f" "$h" "$s"; done
    p0f -r "$f" 2>/dev/null | awk -v f="$f" '
      /\(syn\)/ {syn=1; os=""; next}
      /\(syn\+ack\)|\(mtu\)|\(uptime\)|\(http/ {syn=0}
      syn && /\| os / {sub(/^\| os *= */, ""); os=$0}
      syn && /raw_sig/ {sub(/^\| raw_sig *= */, ""); printf "%s\tsyn\t%s\t%s\n", f, $0, os; exit}'
  done
} > reference.tsv
cat reference.tsv
