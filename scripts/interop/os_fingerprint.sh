#!/usr/bin/env bash
# OS fingerprint gate: `nmap -O` against one decky per persona family in
# netns mode (scripts/realism/os_fingerprint.py --gate). Fails unless every
# Windows persona is guessed Windows and a 4 MiB FTP upload + passive and
# active-mode download with curl through the shaped Windows Server decky
# comes back intact. Skips
# (exit 0) without root, or when the kernel has no NFQUEUE (decnet then
# shapes Windows personas by sysctls only and says so). Bounded: ~10 s here (timeout 300);
# everything it creates is named osfp-*.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=os_fingerprint.sh
if [ "$(id -u)" != 0 ]; then echo "$NAME: SKIP (needs root for namespaces)"; exit 0; fi
. scripts/lib/interop.sh
interop_need nmap:nmap curl:curl iptables-restore:iptables python3:python3
[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
export DECNET_BIN=${DECNET_BIN:-target/debug/decnet}
REPORT=$(mktemp /tmp/osfp-report.XXXXXX)
trap 'rm -f "$REPORT"' EXIT
timeout 300 python3 scripts/realism/os_fingerprint.py --gate --report "$REPORT"
echo "$NAME: OK"
