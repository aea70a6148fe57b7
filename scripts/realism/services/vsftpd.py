"""vsftpd 3.0.3 (Debian's vsftpd.conf: local users, no anonymous) against
the `ftp` decky, anonymous off as in Debian's default."""

import os

from lib.clients import run_client
from lib.mail import line_probe

NAME = "vsftpd"
PACKAGES = ["vsftpd", "lftp"]
TOOLS = ["vsftpd", "lftp"]
PORTS = [("tcp", 21)]
DECKY_SERVICES = ["ftp"]
DECKY_KEYS = {"ftp": {"anonymous": "false"}}
NMAP_SCRIPTS = ["ftp-anon", "ftp-syst"]


def start(svc):
    with open("/etc/vsftpd.conf") as f:
        lines = [l for l in f if not l.startswith(("listen=", "listen_ipv6=", "listen_address="))]
    lines += ["listen=YES\n", "listen_ipv6=NO\n", f"listen_address={svc.real_ip}\n", "background=NO\n"]
    conf = os.path.join(svc.work, "vsftpd.conf")
    with open(conf, "w") as f:
        f.writelines(lines)
    os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
    svc.spawn("vsftpd", ["vsftpd", conf])


def sessions():
    return [
        ("USER anonymous", line_probe(21, ["USER anonymous", "PASS a@b.c", "QUIT"], wait_s=4)),
        ("USER ftp", line_probe(21, ["USER ftp", "PASS x", "QUIT"], wait_s=4)),
        ("USER root wrong password", line_probe(21, ["USER root", "PASS wrongpass", "QUIT"], wait_s=4)),
        ("PASS before USER", line_probe(21, ["PASS x", "QUIT"])),
        ("SYST before login", line_probe(21, ["SYST", "QUIT"])),
        ("FEAT", line_probe(21, ["FEAT", "QUIT"])),
        ("HELP", line_probe(21, ["HELP", "QUIT"])),
        ("STAT", line_probe(21, ["STAT", "QUIT"])),
        ("PWD before login", line_probe(21, ["PWD", "QUIT"])),
        ("LIST before login", line_probe(21, ["LIST", "QUIT"])),
        ("unknown command", line_probe(21, ["FROB", "QUIT"])),
        ("lowercase command", line_probe(21, ["user root", "quit"])),
        ("OPTS UTF8", line_probe(21, ["OPTS UTF8 ON", "QUIT"])),
        ("AUTH TLS", line_probe(21, ["AUTH TLS", "QUIT"])),
        ("PORT bounce before login", line_probe(21, ["PORT 127,0,0,1,0,22", "QUIT"])),
        ("oversized line", line_probe(21, ["USER " + "x" * 5000, "QUIT"])),
        ("empty line", line_probe(21, ["", "QUIT"])),
        ("HTTP on ftp", line_probe(21, [b"GET / HTTP/1.0\r\n\r\n"])),
        ("lftp anonymous ls", lambda t: run_client(["lftp", "-e", "set net:max-retries 1; set net:timeout 5; ls; bye", f"ftp://{t.ip}"], timeout=20)),
        ("lftp wrong password", lambda t: run_client(["lftp", "-u", "root,wrongpass", "-e", "set net:max-retries 1; set net:timeout 5; ls; bye", t.ip], timeout=20)),
    ]
