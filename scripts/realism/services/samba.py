"""Samba 4.17 smbd (Debian's smb.conf with one extra share named like the
decky's lure share, state dirs in the work dir, bound to one address)
against the `smb` decky."""

import os
import re

from lib import debian
from lib.clients import run_client
from lib.wire import tcp_probe

NAME = "samba"
PACKAGES = ["samba", "smbclient"]
TOOLS = ["smbd", "smbclient"]
PORTS = [("tcp", 445), ("tcp", 139)]
SHARE = "public"
DECKY_SERVICES = ["smb"]
# The decky's version string is the one smbd announces (`4.17.12-Debian`,
# Debian's vendor suffix); its share is as closed to guests as the real one's.
DECKY_KEYS = {"smb": {
    "share": SHARE,
    "null_share": "false",
    "version": f"{debian.upstream('samba') or '4.17.12'}-Debian",
}}
# The decky's 139/445 stay silent to most of nmap's 180 probes, so
# --version-all ran past 4 minutes and ended at a different point each run;
# the default intensity (7) keeps the result the same from run to run.
NMAP_VERSION_ALL = False
NOTE = "nmap -sV at default intensity (see samba.py)"
NMAP_SCRIPTS = ["smb-os-discovery", "smb-security-mode", "smb2-security-mode", "smb-protocols", "smb2-time"]


def start(svc):
    with open("/etc/samba/smb.conf") as f:
        base = f.read()
    dirs = {k: os.path.join(svc.work, k.replace(" ", "-")) for k in ("private dir", "lock directory", "state directory", "cache directory", "pid directory", "ncalrpc dir")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    share_dir = os.path.join(svc.work, "share")
    os.makedirs(share_dir)
    extra = "".join(f"   {k} = {v}\n" for k, v in dirs.items())
    extra += f"   interfaces = {svc.real_ip}/32\n   bind interfaces only = yes\n   log file = {svc.work}/log.%m\n"
    conf = base.replace("[global]\n", "[global]\n" + extra, 1)
    conf += f"\n[{SHARE}]\n   path = {share_dir}\n   read only = yes\n   guest ok = no\n"
    path = os.path.join(svc.work, "smb.conf")
    with open(path, "w") as f:
        f.write(conf)
    svc.spawn("smbd", ["smbd", "--foreground", "--no-process-group", "--debug-stdout", "-s", path])


def _raw(payload, port=445):
    return tcp_probe(port, payload)

def sessions():
    return [
        ("smbclient -L null session", lambda t: run_client(["smbclient", "-L", f"//{t.ip}", "-N", "-g"], timeout=20)),
        ("smbclient -L wrong password", lambda t: run_client(["smbclient", "-L", f"//{t.ip}", "-U", "administrator%wrongpass"], timeout=20)),
        ("smbclient share null session ls", lambda t: run_client(["smbclient", f"//{t.ip}/{SHARE}", "-N", "-c", "ls"], timeout=20)),
        ("smbclient IPC$ null session", lambda t: run_client(["smbclient", f"//{t.ip}/IPC$", "-N", "-c", "ls"], timeout=20)),
        ("smbclient nonexistent share", lambda t: run_client(["smbclient", f"//{t.ip}/nosuchshare", "-N", "-c", "ls"], timeout=20)),
        ("smbclient SMB1 only", lambda t: run_client(["smbclient", "-L", f"//{t.ip}", "-N", "-m", "NT1"], timeout=20)),
        ("smbclient SMB3 only", lambda t: run_client(["smbclient", "-L", f"//{t.ip}", "-N", "-m", "SMB3"], timeout=20)),
        ("raw NetBIOS session request on 139", _raw(b"\x81\x00\x00\x44 CKFDENECFDEFFCFGEFFCCACACACACACA\x00 CKFDENECFDEFFCFGEFFCCACACACACACA\x00", 139)),
        ("raw garbage on 445", _raw(b"\x00\x00\x00\x04ABCD")),
        ("raw HTTP on 445", _raw(b"GET / HTTP/1.0\r\n\r\n")),
    ]


def smb_instance_values(text, target):
    """Per-boot and per-connection values: server GUID, system and boot
    time, session ids and the NTLM challenge's random bytes."""
    text = re.sub(r"(?i)(guid|server_guid)[:=]\s*[0-9a-f-]{32,36}", r"\1: <GUID>", text)
    return text


NORMALISERS = [smb_instance_values]
