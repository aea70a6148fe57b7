"""Raw exchanges with a server: one payload in, everything it answers out.

Both sides of a comparison go through the same function with the same
timeouts, so a difference in what comes back is the server's, not ours.
"""

import socket
import time

# How long to wait for the first byte, and for more after the last one.
# nmap waits up to 5-6 s per probe; real daemons answer these payloads in
# milliseconds, so 2.5 s for a first byte only costs time on silent ones.
FIRST_BYTE_S = 1.5
IDLE_S = 0.6
MAX_BYTES = 64 * 1024


def tcp_exchange(ip, port, payload, first_byte_s=FIRST_BYTE_S, idle_s=IDLE_S):
    """Connects, sends `payload` (after reading a banner-less moment for the
    NULL probe), returns (bytes received, how the exchange ended)."""
    try:
        sock = socket.create_connection((ip, port), timeout=5)
    except OSError as e:
        return b"", f"connect failed: {type(e).__name__}"
    got = bytearray()
    end = "idle"
    try:
        if payload:
            sock.sendall(payload)
        sock.settimeout(first_byte_s)
        while len(got) < MAX_BYTES:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                end = "silent" if not got else "idle"
                break
            except ConnectionResetError:
                end = "reset"
                break
            if not chunk:
                end = "closed"
                break
            got += chunk
            sock.settimeout(idle_s)
    finally:
        sock.close()
    return bytes(got), end


def udp_exchange(ip, port, payload, wait_s=FIRST_BYTE_S):
    """Sends one datagram; returns (every datagram answered within wait_s
    joined with a marker, "answered"/"silent")."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(wait_s)
        sock.connect((ip, port))
        sock.send(payload)
        got = []
        while True:
            try:
                got.append(sock.recv(65535))
            except (socket.timeout, ConnectionRefusedError):
                break
            sock.settimeout(IDLE_S)
    finally:
        sock.close()
    return b"\n--datagram--\n".join(got), ("answered" if got else "silent")


def printable(data):
    """Bytes as stable text for diffs: printable ASCII kept, CR/LF/TAB shown
    as escapes with a real line break after LF, everything else \\xHH."""
    out = []
    for b in data:
        if b == 0x0A:
            out.append("\\n\n")
        elif b == 0x0D:
            out.append("\\r")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def wait_port(ip, port, proto="tcp", timeout_s=30.0, alive=lambda: True):
    """Waits until ip:port accepts TCP connections (UDP: returns at once;
    the caller's first probe is the check)."""
    if proto == "udp":
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def tcp_probe(port, payload, **kw):
    """A probe: `payload` to the target's TCP `port`, the answer as text
    with how the exchange ended (closed, reset, idle, silent)."""
    def probe(target):
        data, end = tcp_exchange(target.ip, port, payload, **kw)
        return printable(data) + f"\n[{end}]\n"
    return probe


def udp_probe(port, payload):
    """A probe: one datagram to the target's UDP `port`, every datagram
    answered as text."""
    def probe(target):
        data, end = udp_exchange(target.ip, port, payload)
        return printable(data) + f"\n[{end}]\n"
    return probe
