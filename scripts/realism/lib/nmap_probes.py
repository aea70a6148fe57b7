"""The probes of nmap's own database (`nmap-service-probes`), by port.

`nmap -sV` sends the NULL probe (connect, wait for a banner) and then the
probes whose `ports` line lists the port first; those are what a scanner
really sends to a service on its usual port, so they are what we replay.
"""

import re

PROBES_FILE = "/usr/share/nmap/nmap-service-probes"

_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "0": b"\0", "a": b"\a", "f": b"\f", "v": b"\v", "\\": b"\\"}


def unescape(text):
    """nmap's payload escapes (\\r \\n \\0 \\xHH …) to bytes."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "x" and i + 3 < len(text) + 1:
                out += bytes([int(text[i + 2 : i + 4], 16)])
                i += 4
                continue
            out += _ESCAPES.get(n, n.encode("latin-1"))
            i += 2
            continue
        out += c.encode("latin-1")
        i += 1
    return bytes(out)


def _port_set(spec):
    ports = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            ports.update(range(int(lo), int(hi) + 1))
        else:
            ports.add(int(part))
    return ports


def load(path=PROBES_FILE):
    """Every probe as dict(proto, name, payload, ports, rarity)."""
    probes = []
    current = None
    probe_re = re.compile(r"^Probe (TCP|UDP) (\S+) q\|(.*)\|")
    with open(path, encoding="latin-1") as f:
        for line in f:
            m = probe_re.match(line)
            if m:
                current = {
                    "proto": m.group(1).lower(),
                    "name": m.group(2),
                    "payload": unescape(m.group(3)),
                    "ports": set(),
                    "rarity": 5,
                }
                probes.append(current)
            elif current and line.startswith("ports "):
                current["ports"] = _port_set(line[6:])
            elif current and line.startswith("rarity "):
                current["rarity"] = int(line.split()[1])
    return probes


def for_port(probes, proto, port):
    """The probes nmap sends first to `port`: NULL (TCP), then those listing it."""
    chosen = [p for p in probes if p["proto"] == proto and (port in p["ports"] or (proto == "tcp" and p["name"] == "NULL"))]
    return sorted(chosen, key=lambda p: (p["name"] != "NULL", p["rarity"], p["name"]))
