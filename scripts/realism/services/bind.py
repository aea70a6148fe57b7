"""BIND 9.18 named (authoritative for the decky's zone with the same
records, recursion off as on an authoritative server) against the `dns`
decky pinned to the same version string."""

import os
import re
import subprocess

from lib import debian
from lib.clients import run_client
from lib.wire import tcp_probe, udp_probe

NAME = "bind"
PACKAGES = ["bind9", "dnsutils"]
TOOLS = ["named", "dig"]
PORTS = [("udp", 53), ("tcp", 53)]
ZONE = "corp.local"
_V = debian.version("bind9").split(":", 1)[-1]
DECKY_SERVICES = ["dns"]
DECKY_KEYS = {"dns": {"zone": ZONE, "version": f"{_V}-Debian" if _V else "9.18.24-1-Debian"}}
NMAP_SCRIPTS = ["dns-nsid", "dns-recursion"]
NAMES = ["", "www", "mail", "ns1", "vpn", "dc01", "intranet", "git", "backup", "_dmarc"]


def _dig_answer(ip, name, rtype):
    r = subprocess.run(["dig", "+norec", "+noall", "+answer", "+time=2", "+tries=1", f"@{ip}", name, rtype],
                       capture_output=True, text=True, timeout=10)
    return [l for l in r.stdout.splitlines() if l and not l.startswith(";")]


def start(svc):
    # The decky's zone, copied record by record (its own name included),
    # with the decky's address replaced by ours: the same site data.
    records = set()
    for host in NAMES + [svc.hostname.split(".")[0]]:
        fq = f"{host}.{ZONE}." if host else f"{ZONE}."
        for rtype in (["SOA", "NS", "MX", "TXT", "A"] if not host else ["A", "TXT"]):
            for line in _dig_answer(svc.decky_ip, fq, rtype):
                records.add(line.replace(svc.decky_ip, svc.real_ip))
    soa = [r for r in records if "\tSOA\t" in r or " SOA " in r]
    zone_file = os.path.join(svc.work, "db.zone")
    with open(zone_file, "w") as f:
        f.write("$TTL 3600\n")
        for r in sorted(records, key=lambda r: (r not in soa, r)):
            f.write(r + "\n")
    conf = os.path.join(svc.work, "named.conf")
    with open(conf, "w") as f:
        f.write(f"""options {{
	directory "{svc.work}";
	pid-file "{svc.work}/named.pid";
	listen-on {{ {svc.real_ip}; }};
	listen-on-v6 {{ none; }};
	recursion no;
	// No validation and no root hints: an authoritative-only server, and
	// nothing may leave this machine (no priming queries, no trust anchors).
	dnssec-validation no;
	allow-transfer {{ none; }};
}};
zone "localhost" {{ type master; file "/etc/bind/db.local"; }};
zone "127.in-addr.arpa" {{ type master; file "/etc/bind/db.127"; }};
zone "{ZONE}" {{ type master; file "{zone_file}"; }};
""")
    os.chmod(svc.work, 0o777)
    svc.spawn("named", ["named", "-g", "-c", conf, "-u", "bind", "-4"])


def _dig(*args):
    return lambda t: run_client(["dig", f"@{t.ip}", "+time=3", "+tries=1", *args])


def _raw_udp(payload):
    return udp_probe(53, payload)

def sessions():
    return [
        ("dig SOA", _dig(ZONE, "SOA")),
        ("dig NS", _dig(ZONE, "NS")),
        ("dig MX", _dig(ZONE, "MX")),
        ("dig A www", _dig(f"www.{ZONE}", "A")),
        ("dig ANY", _dig(ZONE, "ANY")),
        ("dig NXDOMAIN in zone", _dig(f"nosuchname.{ZONE}", "A")),
        ("dig NODATA (AAAA)", _dig(f"www.{ZONE}", "AAAA")),
        ("dig outside zone (recursion refused)", _dig("example.com", "A")),
        ("dig version.bind CH TXT", _dig("version.bind", "CH", "TXT")),
        ("dig hostname.bind CH TXT", _dig("hostname.bind", "CH", "TXT")),
        ("dig id.server CH TXT", _dig("id.server", "CH", "TXT")),
        ("dig AXFR", _dig(ZONE, "AXFR")),
        ("dig +tcp SOA", _dig("+tcp", ZONE, "SOA")),
        ("dig EDNS NSID", _dig("+nsid", ZONE, "SOA")),
        ("dig EDNS version 1", _dig("+edns=1", ZONE, "SOA")),
        ("dig +dnssec", _dig("+dnssec", ZONE, "SOA")),
        ("dig root NS", _dig(".", "NS")),
        ("dig reverse PTR", _dig("-x", "127.0.0.1")),
        ("dig localhost", _dig("localhost", "A")),
        ("raw header only", _raw_udp(b"\x12\x34\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00")),
        ("raw truncated question", _raw_udp(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www")),
        ("raw opcode STATUS", _raw_udp(b"\x12\x34\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00")),
        ("raw opcode NOTIFY", _raw_udp(b"\x12\x34\x20\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04corp\x05local\x00\x00\x06\x00\x01")),
        ("raw response bit set", _raw_udp(b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x04corp\x05local\x00\x00\x01\x00\x01")),
        ("raw tcp garbage", tcp_probe(53, b"\x00\x05hello")),
    ]


def dig_meta(text, target):
    """dig's per-run lines: query id, query time, when, server line and the
    client cookie it sends (random per query)."""
    text = re.sub(r"id: \d+", "id: <ID>", text)
    text = re.sub(r";; (Query time|WHEN|SERVER|MSG SIZE  rcvd):.*", r";; \1: <META>", text)
    text = re.sub(r"; COOKIE: [0-9a-f]+(?: \(good\))?", "; COOKIE: <COOKIE>", text)
    return re.sub(r"; <<>> DiG [^\n]*", "; <<>> DiG <ARGS>", text)


NORMALISERS = [dig_meta]
