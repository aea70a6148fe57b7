"""Dovecot 2.3.19 IMAP and POP3 (Debian's /etc/dovecot tree copied, listen
address and runtime dirs changed) against `imap` and `pop3` on one decky."""

import os
import shutil

from lib.clients import run_client
from lib.mail import line_probe, snakeoil_host_name

NAME = "dovecot"
PACKAGES = ["dovecot-imapd", "dovecot-pop3d"]
TOOLS = ["dovecot"]
PORTS = [("tcp", 143), ("tcp", 110)]
DECKY_SERVICES = ["imap", "pop3"]
NMAP_SCRIPTS = ["imap-capabilities", "pop3-capabilities"]


def start(svc):
    conf = os.path.join(svc.work, "dovecot")
    shutil.copytree("/etc/dovecot", conf, symlinks=True)
    run_dir = os.path.join(svc.work, "run")
    os.makedirs(run_dir, mode=0o755)
    with open(os.path.join(conf, "dovecot.conf"), "a") as f:
        f.write(f"\nlisten = {svc.real_ip}\nbase_dir = {run_dir}\nlog_path = /dev/stderr\n"
                f"state_dir = {svc.work}/state\n"
                # Login processes started ahead, already talking to the auth
                # process: on a loaded machine a login process forked per
                # connection can wait on auth and greet with "Waiting for
                # authentication process to respond.." first, a timing of
                # this host, not of Dovecot's answers. Invisible otherwise.
                "service imap-login {\n  process_min_avail = 4\n}\n"
                "service pop3-login {\n  process_min_avail = 4\n}\n")
    os.makedirs(f"{svc.work}/state", mode=0o755)
    svc.spawn("dovecot", ["dovecot", "-F", "-c", os.path.join(conf, "dovecot.conf")])


def sessions():
    i, p = 143, 110
    return [
        ("imap CAPABILITY", line_probe(i, ["a1 CAPABILITY", "a2 LOGOUT"])),
        ("imap NOOP/ID", line_probe(i, ["a1 NOOP", 'a2 ID ("name" "probe")', "a3 LOGOUT"])),
        ("imap LOGIN wrong password", line_probe(i, ["a1 LOGIN root wrongpass", "a2 LOGOUT"], wait_s=4)),
        ("imap AUTHENTICATE PLAIN", line_probe(i, ["a1 AUTHENTICATE PLAIN", "AGFkbWluAGFkbWlu", "a2 LOGOUT"], wait_s=4)),
        ("imap SELECT before login", line_probe(i, ["a1 SELECT INBOX", "a2 LOGOUT"])),
        ("imap unknown command", line_probe(i, ["a1 FROB", "a2 LOGOUT"])),
        ("imap missing tag", line_probe(i, ["LOGIN", "a2 LOGOUT"])),
        ("imap bad syntax", line_probe(i, ['a1 LOGIN "unterminated', "a2 LOGOUT"])),
        ("imap STARTTLS", line_probe(i, ["a1 STARTTLS"])),
        ("imap oversized line", line_probe(i, ["a1 NOOP " + "x" * 70000, "a2 LOGOUT"])),
        ("imap literal", line_probe(i, ["a1 LOGIN {4}", "root {8}", "a2 LOGOUT"])),
        ("imap many bad commands", line_probe(i, ["x BAD"] * 12)),
        ("pop3 CAPA", line_probe(p, ["CAPA", "QUIT"])),
        ("pop3 USER/PASS wrong", line_probe(p, ["USER root", "PASS wrongpass", "QUIT"], wait_s=4)),
        ("pop3 APOP", line_probe(p, ["APOP root 0123456789abcdef0123456789abcdef", "QUIT"])),
        ("pop3 STAT before login", line_probe(p, ["STAT", "QUIT"])),
        ("pop3 unknown command", line_probe(p, ["FROB", "QUIT"])),
        ("pop3 AUTH list", line_probe(p, ["AUTH", "QUIT"])),
        ("pop3 STLS", line_probe(p, ["STLS"])),
        ("pop3 oversized line", line_probe(p, ["USER " + "x" * 5000, "QUIT"])),
        ("pop3 many bad commands", line_probe(p, ["BAD"] * 12)),
        ("curl imap wrong login", lambda t: run_client(["curl", "-sS", "--max-time", "10", f"imap://{t.ip}/", "-u", "root:wrongpass"])),
    ]


def dovecot_session_ids(text, target):
    """Dovecot's per-connection session id in `[...]` replies and the
    POP3 APOP timestamp are random per connection."""
    import re

    text = re.sub(r"<[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+\.[A-Za-z0-9+/=]+@[^>]+>", "<APOP-CHALLENGE>", text)
    return re.sub(r"\(\d+\.\d+ \+\d+\.\d+ \d+\.\d+ secs\)", "(<TIMING> secs)", text)


NORMALISERS = [dovecot_session_ids, snakeoil_host_name]
