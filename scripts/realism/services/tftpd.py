"""tftpd-hpa 5.2 (Debian's defaults: --secure, /srv/tftp, no uploads)
against the `tftp` decky."""

import os

from lib.clients import run_client
from lib.wire import udp_probe

NAME = "tftpd"
PACKAGES = ["tftpd-hpa", "tftp-hpa"]
TOOLS = ["in.tftpd", "tftp"]
PORTS = [("udp", 69)]
DECKY_SERVICES = ["tftp"]


def start(svc):
    root = os.path.join(svc.work, "srv-tftp")
    os.makedirs(root)
    svc.spawn("in.tftpd", ["in.tftpd", "--listen", "--foreground", "--user", "tftp", "--address", f"{svc.real_ip}:69",
                           "--secure", root])


def _raw(payload):
    return udp_probe(69, payload)

def _tftp(cmd):
    def probe(t):
        d = os.path.join(t.svc.work, f"client-{t.role}")
        os.makedirs(d, exist_ok=True)
        # tftp-hpa creates the local file before the transfer: in its own
        # directory, not wherever the suite was started.
        return run_client(["tftp", "-v", t.ip, "-c", *cmd.split()], timeout=15, cwd=d).replace(t.ip, "<TARGET_IP>")
    return probe


def sessions():
    return [
        ("RRQ nonexistent (octet)", _raw(b"\x00\x01nosuchfile.bin\x00octet\x00")),
        ("RRQ nonexistent (netascii)", _raw(b"\x00\x01nosuchfile.txt\x00netascii\x00")),
        ("RRQ path traversal", _raw(b"\x00\x01../../etc/passwd\x00octet\x00")),
        ("RRQ absolute path", _raw(b"\x00\x01/etc/passwd\x00octet\x00")),
        ("RRQ bad mode", _raw(b"\x00\x01file\x00weird\x00")),
        ("RRQ with blksize option", _raw(b"\x00\x01nosuchfile\x00octet\x00blksize\x001428\x00")),
        ("WRQ upload", _raw(b"\x00\x02upload.bin\x00octet\x00")),
        ("unknown opcode 9", _raw(b"\x00\x09abc\x00")),
        ("DATA without transfer", _raw(b"\x00\x03\x00\x01hello")),
        ("ERROR packet", _raw(b"\x00\x05\x00\x01oops\x00")),
        ("truncated request", _raw(b"\x00\x01file")),
        ("single byte", _raw(b"\x00")),
        ("tftp get nonexistent", _tftp("get nosuchfile.cfg")),
        ("tftp put", _tftp("put /etc/hostname hostname.txt")),
    ]
