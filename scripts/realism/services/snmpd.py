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


NORMALISERS = [snmp_uptime, snmp_engine]
