"""net-snmp 5.9.3 snmpd (Debian's snmpd.conf: the `public` community
limited to the system view) against the `snmp` decky with the same
community, contact and location as Debian's file sets."""

import re

from lib.clients import run_client
from lib.wire import udp_probe

NAME = "snmpd"
PACKAGES = ["snmpd", "snmp"]
TOOLS = ["snmpd", "snmpget", "snmpwalk"]
PORTS = [("udp", 161)]


def _debian_conf(key, default):
    try:
        with open("/etc/snmp/snmpd.conf") as f:
            for line in f:
                m = re.match(rf"^\s*{key}\s+(.*?)\s*$", line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return default


DECKY_SERVICES = ["snmp"]
DECKY_KEYS = {"snmp": {
    "community": "public",
    "sys_contact": _debian_conf("sysContact", "Me <me@example.org>"),
    "sys_location": _debian_conf("sysLocation", "Sitting on the Dock of the Bay"),
}}
NMAP_SCRIPTS = ["snmp-sysdescr", "snmp-info"]


def start(svc):
    svc.spawn("snmpd", ["snmpd", "-f", "-Lo", "-C", "-c", "/etc/snmp/snmpd.conf", "-p", f"{svc.work}/snmpd.pid",
                        f"udp:{svc.real_ip}:161"])


def _snmp(tool, *args, community="public", version="2c"):
    return lambda t: run_client([tool, "-v", version, "-c", community, "-t", "2", "-r", "0", t.ip, *args])


def _raw(payload):
    return udp_probe(161, payload)

def sessions():
    return [
        ("snmpget sysDescr v2c", _snmp("snmpget", "SNMPv2-MIB::sysDescr.0")),
        ("snmpget sysDescr v1", _snmp("snmpget", "SNMPv2-MIB::sysDescr.0", version="1")),
        ("snmpget sysObjectID", _snmp("snmpget", "SNMPv2-MIB::sysObjectID.0")),
        ("snmpget sysContact/sysName/sysLocation", _snmp("snmpget", "SNMPv2-MIB::sysContact.0", "SNMPv2-MIB::sysName.0", "SNMPv2-MIB::sysLocation.0")),
        ("snmpget sysServices", _snmp("snmpget", "SNMPv2-MIB::sysServices.0")),
        ("snmpwalk system", _snmp("snmpwalk", "SNMPv2-MIB::system")),
        ("snmpwalk interfaces (outside the view)", _snmp("snmpwalk", "IF-MIB::ifDescr")),
        ("snmpwalk hrSystem", _snmp("snmpwalk", "HOST-RESOURCES-MIB::hrSystem")),
        ("snmpget nonexistent OID", _snmp("snmpget", "1.3.6.1.2.1.1.99.0")),
        ("snmpgetnext end of view", _snmp("snmpgetnext", "1.3.6.1.2.1.1.9.1.4.10")),
        ("snmpbulkget system", _snmp("snmpbulkget", "-Cn0", "-Cr3", "SNMPv2-MIB::system")),
        ("snmpset sysContact", _snmp("snmpset", "SNMPv2-MIB::sysContact.0", "s", "pwned")),
        ("wrong community", _snmp("snmpget", "SNMPv2-MIB::sysDescr.0", community="private")),
        ("snmpv3 discovery (engine id)", lambda t: run_client(["snmpget", "-v", "3", "-l", "noAuthNoPriv", "-u", "nobody", "-t", "2", "-r", "0", t.ip, "SNMPv2-MIB::sysDescr.0"])),
        ("raw garbage datagram", _raw(b"\x30\x03\x02\x01")),
        ("raw non-BER datagram", _raw(b"hello snmp\r\n")),
    ]


def snmp_uptime(text, target):
    """sysUpTime / hrSystemUptime / hrSystemDate: time since the agent or
    the host started, and the host clock."""
    text = re.sub(r"Timeticks: \(\d+\) [0-9:.]+(?: days?, [0-9:.]+)?(?: days?)?", "Timeticks: <UPTIME>", text)
    text = re.sub(r"\(\d+\) \d+ days?, [0-9:.]+", "<UPTIME>", text)
    return re.sub(r"STRING: \d{4}-\d{1,2}-\d{1,2},\d{1,2}:\d{1,2}:\d{1,2}\.\d(?:,[+-]\d+:\d+)?", "STRING: <DATE>", text)


def snmp_engine(text, target):
    """The SNMPv3 engine id, boots and time are derived per agent instance
    (MAC/address and random bytes, start count and seconds since start)."""
    text = re.sub(r"(snmpEngineID|engineID)[^\n]*", r"\1 <ENGINE>", text)
    text = re.sub(r"(snmpEngineBoots|snmpEngineTime): \S+", r"\1: <N>", text)
    return re.sub(r"System uptime: [^\n]*", "System uptime: <UPTIME>", text)


def _unprintable(text):
    """Bytes back from `wire.printable`'s escapes."""
    out, i = bytearray(), 0
    esc = {"n": 0x0A, "r": 0x0D, "t": 0x09, "\\": 0x5C}
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1:i + 2] in esc:
            out.append(esc[text[i + 1]])
            i += 3 if text[i + 1] == "n" else 2  # LF is followed by a real line break
        elif c == "\\" and text[i + 1:i + 2] == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(ord(c))
            i += 1
    return bytes(out)


def _ber_summary(data, depth=0, usm=False):
    """A BER message as one line per element, lengths left out (they follow
    from the contents); inside the USM parameters the engine id, boots and
    time are masked."""
    lines, i, ints = [], 0, 0
    while i + 2 <= len(data):
        tag, n, i = data[i], data[i + 1], i + 2
        if n & 0x80:
            k = n & 0x7F
            n, i = int.from_bytes(data[i:i + k], "big"), i + k
        body, i = data[i:i + n], i + n
        pad = "  " * depth
        if tag == 0x04 and len(body) == 17 and body.startswith(b"\x80\x00\x1f\x88"):
            lines.append(f"{pad}04 <ENGINE {body[:5].hex()}>")
        elif tag == 0x02 and usm and ints < 2:
            ints += 1
            lines.append(f"{pad}02 <N>")
        elif tag in (0x30, 0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA8):
            lines.append(f"{pad}{tag:02x}")
            lines += _ber_summary(body, depth + 1, usm)
        elif tag == 0x04 and body[:1] == b"\x30" and depth == 1:
            lines.append(f"{pad}04 (USM)")
            lines += _ber_summary(body, depth + 1, True)
        else:
            lines.append(f"{pad}{tag:02x} {body.hex()}")
    return lines


def snmp_v3_report_engine(text, target):
    """The raw SNMPv3 discovery report carries the engine id (4 random
    bytes and the agent's first start), snmpEngineBoots (how often that
    agent has started: once on the suite's fresh install, once per boot
    on a used machine) and snmpEngineTime (seconds since this start), and
    the message lengths follow from how many bytes those take. The report
    is compared as its BER structure with those three values masked."""
    first = text.split("\n[", 1)[0]
    if "\\x80\\x00\\x1f\\x88\\x80" not in first:
        return text
    data = _unprintable(first)
    tail = text[len(first):]
    return "\n".join(_ber_summary(data)) + tail


NORMALISERS = [snmp_uptime, snmp_engine, snmp_v3_report_engine]
