"""Postfix 3.7 (Debian's main.cf/master.cf for an "Internet Site", only the
address, the host name and the spool paths changed) against the `smtp`
decky: EHLO, relay attempts, VRFY user enumeration, AUTH without TLS,
pipelining, bad syntax and oversized lines, swaks."""

import os
import shutil

from lib.clients import run_client
from lib.daemon import run
from lib.mail import banner_fqdn, line_probe, snakeoil_host_name

NAME = "postfix"
PACKAGES = ["postfix", "swaks"]
TOOLS = ["postfix", "postconf", "swaks"]
PORTS = [("tcp", 25)]
DECKY_SERVICES = ["smtp"]
NMAP_SCRIPTS = ["smtp-commands"]


def start(svc):
    fqdn = banner_fqdn(svc.decky_ip, 25)
    conf = os.path.join(svc.work, "etc")
    shutil.copytree("/etc/postfix", conf, symlinks=True)
    spool = os.path.join(svc.work, "spool")
    os.makedirs(spool)
    data = os.path.join(svc.work, "data")
    os.makedirs(data)
    shutil.chown(data, "postfix", "postfix")
    settings = [
        f"inet_interfaces = {svc.real_ip}", "inet_protocols = ipv4", f"myhostname = {fqdn}",
        f"mydomain = {fqdn.split('.', 1)[-1]}", f"queue_directory = {spool}", f"data_directory = {data}",
        "mydestination = $myhostname, localhost.$mydomain, localhost", "maillog_file = /dev/stdout",
        "mynetworks = 127.0.0.0/8", f"alias_maps = hash:{conf}/aliases", f"alias_database = hash:{conf}/aliases",
    ]
    run(["postconf", "-c", conf, "-e", *settings])
    # No chroot: a chroot needs copies of /etc files in the spool and
    # changes nothing a client can see.
    run(["postconf", "-c", conf, "-F", "*/*/chroot = n"])
    with open(f"{conf}/aliases", "w") as f:
        f.write("postmaster: root\n")
    run(["postalias", "-c", conf, f"{conf}/aliases"])
    run(["postfix", "-c", conf, "set-permissions"], env=dict(os.environ))
    run(["postfix", "-c", conf, "check"])
    # master itself in the foreground (-d: no setsid), so it stays in the
    # process group we stop; `postfix start-fg` would detach it.
    svc.spawn("postfix", ["/usr/lib/postfix/sbin/master", "-d", "-c", conf])


def sessions():
    ehlo = "EHLO attacker.example"
    return [
        ("EHLO", line_probe(25, [ehlo, "QUIT"])),
        ("HELO", line_probe(25, ["HELO attacker.example", "QUIT"])),
        ("HELP", line_probe(25, ["HELP", "QUIT"])),
        ("NOOP/RSET", line_probe(25, ["NOOP", "RSET", "QUIT"])),
        ("VRFY root (user enumeration)", line_probe(25, [ehlo, "VRFY root", "VRFY nosuchuser", "QUIT"])),
        ("EXPN", line_probe(25, [ehlo, "EXPN postmaster", "QUIT"])),
        ("MAIL before HELO", line_probe(25, ["MAIL FROM:<a@b.example>", "QUIT"])),
        ("open relay attempt", line_probe(25, [ehlo, "MAIL FROM:<spam@evil.example>", "RCPT TO:<victim@gmail.com>", "QUIT"])),
        ("local delivery to root", line_probe(25, [ehlo, "MAIL FROM:<a@b.example>", "RCPT TO:<root>", "RCPT TO:<nosuchuser>", "QUIT"])),
        ("AUTH LOGIN without TLS", line_probe(25, [ehlo, "AUTH LOGIN", "QUIT"])),
        ("AUTH PLAIN without TLS", line_probe(25, [ehlo, "AUTH PLAIN AGFkbWluAGFkbWlu", "QUIT"])),
        ("STARTTLS offered?", line_probe(25, [ehlo, "STARTTLS"])),
        ("unknown command", line_probe(25, ["FOO bar", "QUIT"])),
        ("bad MAIL syntax", line_probe(25, [ehlo, "MAIL FROM:garbage<<", "MAIL FROM", "QUIT"])),
        ("DATA without RCPT", line_probe(25, [ehlo, "MAIL FROM:<a@b.example>", "DATA", "QUIT"])),
        ("oversized line (5000 bytes)", line_probe(25, ["HELO " + "x" * 5000, "QUIT"])),
        ("pipelining burst", line_probe(25, [b"EHLO a.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<root>\r\nQUIT\r\n"])),
        ("HTTP request on smtp", line_probe(25, [b"GET / HTTP/1.0\r\n\r\n"])),
        ("bare LF line", line_probe(25, [b"HELO x.example\n", "QUIT"])),
        ("ten errors in a row", line_probe(25, ["BAD"] * 10 + ["QUIT"])),
        ("swaks to root", lambda t: run_client(["swaks", "--server", t.ip, "--to", "root", "--from", "a@b.example",
                                                "--helo", "attacker.example", "--timeout", "10", "--hide-send", "-n"])),
    ]


def smtp_queue_ids(text, target):
    """Queue ids (`queued as 4Xyz…`) are random per message."""
    import re

    return re.sub(r"queued as [0-9A-Za-z]+", "queued as <QID>", text)


def swaks_client_lines(text, target):
    """swaks' own lines (its version, the local time it prints)."""
    import re

    return re.sub(r"(?m)^=== .*\n", "", text)


NORMALISERS = [smtp_queue_ids, swaks_client_lines, snakeoil_host_name]
