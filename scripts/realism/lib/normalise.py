"""Normalisers: each rewrites only what legitimately differs between two
real machines running the same software (the docstring says why), so that
what remains different is a tell.

A normaliser is `fn(text, target) -> text`; `target` is the side being
normalised (its address, hostname…). Services add their own in their module
(`NORMALISERS`); the generic ones below apply to every probe.
"""

import os
import re


def target_address(text, target):
    """The server's own IP address: the real server and the decky listen on
    different addresses (127.0.60.x / 127.0.61.x), as any two hosts do."""
    text = text.replace(target.ip, "<TARGET_IP>")
    # Reverse-DNS style (x.y.z.w.in-addr.arpa) and dashed forms.
    rev = ".".join(reversed(target.ip.split(".")))
    return text.replace(rev, "<TARGET_IP_REV>").replace(target.ip.replace(".", "-"), "<TARGET_IP_DASHED>")


_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"


def wall_clock(text, target):
    """Current date and time, in the formats servers print them (HTTP Date,
    RFC 2822 mail dates, ISO 8601, syslog, ctime): the two answers are
    taken seconds apart, and no two machines' clocks agree anyway."""
    text = re.sub(rf"(?:{_DAYS}), \d{{1,2}} (?:{_MONTHS}) \d{{4}} \d\d:\d\d:\d\d(?: [+-]\d{{4}}| GMT| UTC| \(?[A-Z]{{3,4}}\)?)*", "<DATE>", text)
    text = re.sub(rf"(?:{_DAYS}) (?:{_MONTHS}) +\d{{1,2}} \d\d:\d\d:\d\d(?: [A-Z]{{3,4}})? \d{{4}}", "<DATE>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?", "<DATE>", text)
    text = re.sub(rf"(?:{_MONTHS}) +\d{{1,2}} \d\d:\d\d:\d\d", "<DATE>", text)
    return text


def nmap_scan_meta(text, target):
    """nmap's own bookkeeping around results (scan times, latency, the
    'Nmap done' line): a property of the scanning run, not of the server."""
    lines = []
    for line in text.split("\n"):
        if re.match(r"^(Starting Nmap|Nmap done|Host is up|Service detection performed|Read data files|# Nmap|Service Info: Host:)", line):
            continue
        lines.append(line)
    return "\n".join(lines)


# nmap scripts that print a set of capabilities straight from a Lua table.
NMAP_SET_SCRIPTS = {"imap-capabilities", "pop3-capabilities"}


def nmap_set_order(text, target=None):
    """The word order of nmap's imap-capabilities and pop3-capabilities
    output: the scripts print a Lua table whose iteration order is seeded
    at random per nmap run (three scans of one server give three orders);
    the set of words is still compared."""
    return " ".join(sorted(text.split())) + "\n"


def kernel_release(text, target):
    """The running kernel's release: two Debian 12 machines run different
    kernel point releases (6.1.0-18-amd64, 6.1.0-25-amd64…), and the real
    servers here run on the build machine's kernel, which is not Debian's;
    only the release string is replaced, never the OS name around it.
    Likewise the build string (`uname -v`) of a Debian kernel package
    (`#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)`): it names the
    point release and its date, which differ between two Debian 12 hosts."""
    text = text.replace(os.uname().release, "<KERNEL>")
    text = text.replace(os.uname().version, "<KERNEL_BUILD>")
    text = re.sub(r"#\d+ SMP PREEMPT_DYNAMIC Debian \d[\w.~+-]* \(\d{4}-\d{2}-\d{2}\)", "<KERNEL_BUILD>", text)
    return re.sub(r"\b\d+\.\d+\.\d+-\d+-(?:amd64|cloud-amd64|rt-amd64)\b", "<KERNEL>", text)


GENERIC = [target_address, wall_clock, kernel_release]


def apply(text, target, normalisers):
    for fn in normalisers:
        text = fn(text, target)
    return text


def describe(fn):
    """'name: why' for the report."""
    doc = " ".join((fn.__doc__ or "").split())
    return fn.__name__, doc
