#!/usr/bin/env bash
# Interop: real Windows/ICS clients against a decnet fleet.
#   smbclient -L (null session share list; user%pass attempt captured as a
#   NetNTLMv2 hashcat line), nmap -sV + smb-protocols/rdp-ntlm-info/vnc-info
#   naming services and the persona, nbstat over NBNS, hydra against rdp and
#   vnc, raw Modbus/S7 frames and IPP/PJL for the printer.
# Loopback 127.0.72.100-.102, API on 127.0.72.1:18772. Self-cleaning.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
for t in smbclient nmap hydra python3; do command -v "$t" >/dev/null 2>&1 || need+=("$t"); done
if [ ${#need[@]} -gt 0 ]; then
    echo "windows_ics.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq smbclient nmap hydra python3 >/dev/null
fi

[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
BIN=${DECNET_BIN:-target/debug/decnet}
TMP=$(mktemp -d /tmp/decnet-winics.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

WIN=127.0.72.100
PLC=127.0.72.101
PRN=127.0.72.102
cat > "$TMP/fleet.ini" <<INI
[general]
net = 127.0.72.0/24
gw = 127.0.72.1
mode = loopback

[winsrv]
ip = $WIN
services = smb, rdp, vnc, llmnr
distro = windows2019

[winsrv.smb]
share = Payroll

[plc]
ip = $PLC
services = conpot

[prn]
ip = $PRN
services = printer
INI

fail() { echo "windows_ics.sh: FAIL: $*" >&2; [ -f "$TMP/serve.log" ] && tail -20 "$TMP/serve.log" >&2; exit 1; }

$BIN serve --config "$TMP/fleet.ini" --data-dir "$TMP/data" --api 127.0.72.1:18772 >"$TMP/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/$WIN/445) 2>/dev/null && break
    sleep 0.1
done
(exec 3<>/dev/tcp/$WIN/445) 2>/dev/null || fail "decky did not come up"
LOG="$TMP/data/decnet.log"

echo "== smbclient -L (null session)"
timeout 30 smbclient -L "//$WIN" -N >"$TMP/smb_anon.txt" 2>&1 || true
cat "$TMP/smb_anon.txt"
for s in 'IPC\$' 'ADMIN\$' 'C\$' 'Payroll'; do
    grep -Eq "^\s+$s\s" "$TMP/smb_anon.txt" || fail "share $s not listed"
done

echo "== smbclient lure share: ls, get (from the VFS), put (captured)"
echo "quarterly numbers" >"$TMP/upload.txt"
timeout 30 smbclient "//$WIN/Payroll" -N -c "ls; get README.txt $TMP/readme.txt; put $TMP/upload.txt report.txt" \
    >"$TMP/smb_share.txt" 2>&1 || true
cat "$TMP/smb_share.txt"
grep -q "Q3_salaries.csv" "$TMP/smb_share.txt" || fail "lure share listing"
grep -q "Shared drive" "$TMP/readme.txt" || fail "get README.txt"
sleep 0.5
grep -q 'smb - file_upload.*path="/srv/smb/Payroll/report.txt"' "$LOG" || fail "put not captured"
grep -q 'smb - file_download.*README.txt' "$LOG" || fail "get not recorded"

echo "== smbclient -L -U alice%Summer2024 (captured, refused)"
if timeout 30 smbclient -L "//$WIN" -U 'alice%Summer2024' >"$TMP/smb_user.txt" 2>&1; then
    fail "a wrong password was accepted"
fi
grep -q NT_STATUS_LOGON_FAILURE "$TMP/smb_user.txt" || fail "no LOGON_FAILURE: $(cat "$TMP/smb_user.txt")"
sleep 0.5
grep -q 'smb - auth_attempt.*hash="alice::[A-Z]*:[0-9a-f]\{16\}:[0-9a-f]\{32\}:0101' "$LOG" \
    || fail "no NetNTLMv2 hashcat line for alice in decnet.log"
grep -q 'hashcat_mode="5600"' "$LOG" || fail "no hashcat mode 5600"

echo "== nmap -sV + smb-protocols, rdp-ntlm-info, vnc-info"
timeout 240 nmap -Pn -n -sV --version-light -p 139,445,3389,5900 \
    --script smb-protocols,rdp-ntlm-info,vnc-info "$WIN" >"$TMP/nmap.txt" 2>&1 || true
cat "$TMP/nmap.txt"
grep -q "3389/tcp open  ms-wbt-server Microsoft Terminal Services" "$TMP/nmap.txt" || fail "rdp not named"
grep -q "5900/tcp open  vnc" "$TMP/nmap.txt" || fail "vnc not named"
grep -q "Product_Version: 10.0.17763" "$TMP/nmap.txt" || fail "rdp-ntlm-info without persona build"
grep -q "DNS_Computer_Name: " "$TMP/nmap.txt" || fail "rdp-ntlm-info without names"
grep -q "VNC Authentication (2)" "$TMP/nmap.txt" || fail "vnc-info security types"
grep -Eq "^\|_? +302" "$TMP/nmap.txt" || fail "smb-protocols dialects"

echo "== nmap nbstat (NBNS)"
timeout 60 nmap -Pn -n -sU -p 137 --script nbstat "$WIN" >"$TMP/nbstat.txt" 2>&1 || true
cat "$TMP/nbstat.txt"
grep -q "NetBIOS name: " "$TMP/nbstat.txt" || fail "nbstat"

echo "== nmap s7-info + modbus-discover (conpot)"
timeout 60 nmap -Pn -n -p 102,502 --script s7-info,modbus-discover "$PLC" >"$TMP/ics.txt" 2>&1 || true
cat "$TMP/ics.txt"
grep -q "Module: 6ES7" "$TMP/ics.txt" || fail "s7-info module"
grep -q "Copyright: Original Siemens Equipment" "$TMP/ics.txt" || fail "s7-info component identification"
grep -q "Device identification: Siemens" "$TMP/ics.txt" || fail "modbus-discover"

echo "== hydra rdp + vnc"
printf 'admin\nletmein\nSummer2024\n' >"$TMP/pw.txt"
timeout 120 hydra -l administrator -P "$TMP/pw.txt" -t 1 "rdp://$WIN" >"$TMP/hydra_rdp.txt" 2>&1 || true
timeout 120 hydra -P "$TMP/pw.txt" -t 1 "vnc://$WIN" >"$TMP/hydra_vnc.txt" 2>&1 || true
grep -q "0 valid password" "$TMP/hydra_rdp.txt" || fail "hydra rdp: $(cat "$TMP/hydra_rdp.txt")"
grep -q "0 valid password" "$TMP/hydra_vnc.txt" || fail "hydra vnc: $(cat "$TMP/hydra_vnc.txt")"
sleep 0.5
[ "$(grep -c 'rdp - auth_attempt.*administrator::' "$LOG")" -ge 3 ] || fail "rdp attempts not captured"
[ "$(grep -c 'vnc - auth_attempt.*\$vnc\$\*' "$LOG")" -ge 3 ] || fail "vnc attempts not captured"

echo "== ICS + printer"
python3 - "$PLC" "$PRN" <<'PY' || fail "ics/printer client"
import socket, struct, sys
plc, prn = sys.argv[1], sys.argv[2]

def modbus(pdu, tid=1):
    s = socket.create_connection((plc, 502), timeout=5)
    s.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, 1) + pdu)
    r = s.recv(1024); s.close(); return r

r = modbus(bytes([3, 0, 0, 0, 4]))
assert r[7] == 3 and r[8] == 8, r
r = modbus(bytes([6, 0, 1, 0x12, 0x34]))
assert r[7:] == bytes([6, 0, 1, 0x12, 0x34]), r
r = modbus(bytes([0x2b, 0x0e, 1, 0]))
assert b"Siemens" in r, r
r = modbus(bytes([0x5a]))
assert r[7] == 0xda and r[8] == 1, r

s = socket.create_connection((plc, 102), timeout=5)
s.sendall(bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102"))
r = s.recv(1024); assert r[5] == 0xd0, r
s.sendall(bytes.fromhex("0300001902f08032010000000000080000f0000001000101e0"))
r = s.recv(1024); assert r[7] == 0x32 and r[8] == 3, r
s.sendall(bytes.fromhex("0300002102f080320700000000000800080001120411440100ff09000400110001"))
r = s.recv(4096); assert b"6ES7" in r, r
s.close()

s = socket.create_connection((prn, 9100), timeout=5)
s.sendall(b"\x1b%-12345X@PJL INFO ID\r\n")
r = s.recv(1024); assert b"@PJL INFO ID" in r and b"\x0c" in r, r
s.close()
s = socket.create_connection((prn, 9100), timeout=5)
s.sendall(b"%!PS-Adobe-3.0\nTOP SECRET payroll print job\nshowpage\n"); s.close()

body = struct.pack(">BBHI", 1, 1, 0x000b, 7)
def attr(tag, name, val):
    return bytes([tag]) + struct.pack(">H", len(name)) + name + struct.pack(">H", len(val)) + val
body += b"\x01" + attr(0x47, b"attributes-charset", b"utf-8") + attr(0x48, b"attributes-natural-language", b"en") + attr(0x45, b"printer-uri", b"ipp://%s/ipp/print" % prn.encode()) + b"\x03"
req = b"POST /ipp/print HTTP/1.1\r\nHost: %s:631\r\nContent-Type: application/ipp\r\nContent-Length: %d\r\n\r\n" % (prn.encode(), len(body)) + body
s = socket.create_connection((prn, 631), timeout=5); s.sendall(req)
r = b""
while True:
    c = s.recv(4096)
    if not c: break
    r += c
    if b"\r\n\r\n" in r:
        h, _, b = r.partition(b"\r\n\r\n")
        if b.endswith(b"\x03") and len(b) > 8: break
assert b"200 OK" in r and b"application/ipp" in r and b"printer-make-and-model" in r, r[:300]
print("ics/printer: ok")
PY
sleep 0.5
grep -q 'conpot - command.*function="write_single_register"' "$LOG" || fail "modbus write not recorded"
grep -q 'printer - file_upload' "$LOG" || fail "print job not captured"

echo "windows_ics.sh: OK"
