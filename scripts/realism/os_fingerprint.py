#!/usr/bin/env python3
"""nmap -O against personas in netns mode, beside a real Linux host.

Builds a test LAN (a veth pair: `rlm-lan0` in the host namespace is the
deckies' macvlan parent, its peer is eth0 of a scanner namespace), starts
`decnet serve` in netns mode with one decky per persona family, plus one
plain Linux namespace on the same LAN serving one TCP port (the reference:
what this kernel looks like to nmap when nothing pretends), runs
`nmap -O` from the scanner and writes the guess per persona to
scripts/realism/os_fingerprint.md. Measurement, not a gate: the kernel
decides TCP option order, IP ids and the replies to T2–T7 whatever the
persona (ARCHITECTURE.md, "Deckies on a network").

    sudo DECNET_BIN=target/debug/decnet python3 scripts/realism/os_fingerprint.py
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "os_fingerprint.md")
SCAN = "rlm-scan"
REF = "rlm-ref"
LAN = "rlm-lan0"
NET = "10.78.0"

PERSONAS = [
    # (decky, INI lines, family claimed)
    ("lin-debian", ["services = ssh, http", "distro = debian", "nmap_os = linux"], "Linux (Debian 12)"),
    ("win-2019", ["services = smb, rdp, http", "distro = windows2019", "nmap_os = windows_server"], "Windows Server 2019"),
    ("win-10", ["services = smb, rdp", "distro = windows10", "nmap_os = windows"], "Windows 10"),
    ("dev-busybox", ["services = telnet, http", "distro = busybox", "nmap_os = embedded"], "embedded (BusyBox)"),
    ("printer", ["archetype = printer"], "printer (archetype)"),
]


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=300)


def main():
    if os.geteuid() != 0:
        print("os_fingerprint: needs root", file=sys.stderr)
        return 2
    binary = os.environ.get("DECNET_BIN", os.path.join(HERE, "..", "..", "target", "debug", "decnet"))
    work = tempfile.mkdtemp(prefix="realism-osfp.")
    decnet = ref_server = None
    try:
        for ns in (SCAN, REF):
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", LAN, check=False)
        sh("ip", "netns", "add", SCAN)
        sh("ip", "link", "add", LAN, "type", "veth", "peer", "name", "eth0", "netns", SCAN)
        sh("ip", "link", "set", LAN, "up")
        sh("ip", "-n", SCAN, "addr", "add", f"{NET}.250/24", "dev", "eth0")
        sh("ip", "-n", SCAN, "link", "set", "eth0", "up")
        sh("ip", "-n", SCAN, "link", "set", "lo", "up")
        # The reference: a plain Linux network stack (this kernel, default
        # sysctls) on the same LAN through a macvlan like the deckies'.
        sh("ip", "netns", "add", REF)
        sh("ip", "link", "add", "rlm-ref0", "link", LAN, "type", "macvlan", "mode", "bridge")
        sh("ip", "link", "set", "rlm-ref0", "netns", REF)
        sh("ip", "-n", REF, "link", "set", "rlm-ref0", "name", "eth0")
        sh("ip", "-n", REF, "addr", "add", f"{NET}.200/24", "dev", "eth0")
        sh("ip", "-n", REF, "link", "set", "eth0", "up")
        sh("ip", "-n", REF, "link", "set", "lo", "up")
        ref_server = subprocess.Popen(["ip", "netns", "exec", REF, "python3", "-m", "http.server", "--bind", f"{NET}.200", "80"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
        lines = ["[general]", f"net = {NET}.0/24", f"gw = {NET}.250", f"interface = {LAN}", "mode = netns", ""]
        for i, (name, ini, _) in enumerate(PERSONAS):
            lines += [f"[{name}]", f"ip = {NET}.{10 + i}", *ini, ""]
        with open(os.path.join(work, "fleet.ini"), "w") as f:
            f.write("\n".join(lines))
        password = "osfp-" + secrets.token_hex(6)
        api = f"127.0.0.1:{18950 + secrets.randbelow(40)}"
        log = open(os.path.join(work, "serve.log"), "w")
        decnet = subprocess.Popen([binary, "serve", "--config", os.path.join(work, "fleet.ini"), "--data-dir",
                                   os.path.join(work, "data"), "--api", api], stdout=log, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, DECNET_ADMIN_PASSWORD=password))
        deadline = time.monotonic() + 60
        while "Ctrl-C to stop" not in open(os.path.join(work, "serve.log")).read():
            if decnet.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("decnet serve did not start: " + open(os.path.join(work, "serve.log")).read()[-1500:])
            time.sleep(0.3)
        token = json.load(urllib.request.urlopen(urllib.request.Request(
            f"http://{api}/api/v1/auth/login", data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"content-type": "application/json"}), timeout=10))["access_token"]
        deckies = {d["name"]: d for d in json.load(urllib.request.urlopen(urllib.request.Request(
            f"http://{api}/api/v1/deckies", headers={"authorization": "Bearer " + token}), timeout=10))}
        targets = [(f"{NET}.200", "reference: plain Linux namespace (this kernel)", "Linux")]
        targets += [(deckies[n]["ip"], f"{n}: {deckies[n]['os']}", fam) for n, _, fam in PERSONAS if n in deckies]
        xml = os.path.join(work, "nmap.xml")
        t0 = time.monotonic()
        sh("ip", "netns", "exec", SCAN, "nmap", "-O", "--osscan-guess", "--max-os-tries", "1", "-Pn", "-n", "-T4",
           "-p", "22,23,80,135,139,445,3389,9100,631", "-oX", xml, *[ip for ip, _, _ in targets])
        elapsed = time.monotonic() - t0
        guesses = parse(xml)
        out = ["# OS fingerprint per persona (netns mode, `nmap -O`)", "",
               f"Generated by `scripts/realism/os_fingerprint.py` ({elapsed:.0f} s of nmap). One decky per persona family on a",
               "veth test LAN, scanned from another namespace, beside a plain Linux namespace as the reference.", "",
               "| target | claims | nmap OS guess (accuracy) | TTL seen | family match |", "|---|---|---|---|:---:|"]
        for ip, label, fam in targets:
            g = guesses.get(ip, {})
            best = (g.get("matches") or ["(no guess)"])[0]
            want = "Windows" if fam.startswith("Windows") else ("Linux" if fam.startswith("Linux") else "embedded")
            ok = want.lower() in best.lower() or (want == "embedded" and re.search(r"(?i)embedded|printer|busybox|router|switch|specialized", g.get("classes", "")))
            out.append(f"| {label} | {fam} | {best} | {g.get('ttl', '?')} | {'yes' if ok else 'no'} |")
        out += ["", "Full match lists:", ""]
        for ip, label, _ in targets:
            g = guesses.get(ip, {})
            out.append(f"- {label}: {'; '.join(g.get('matches', [])[:4]) or 'none'} (classes: {g.get('classes', '')})")
        with open(OUT, "w") as f:
            f.write("\n".join(out) + "\n")
        print("\n".join(out))
        return 0
    finally:
        if decnet and decnet.poll() is None:
            decnet.terminate()
            try:
                decnet.wait(timeout=30)
            except subprocess.TimeoutExpired:
                decnet.kill()
        if ref_server and ref_server.poll() is None:
            ref_server.terminate()
            ref_server.wait(timeout=10)
        for ns in (SCAN, REF):
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", LAN, check=False)
        shutil.rmtree(work, ignore_errors=True)


def parse(xml):
    import xml.etree.ElementTree as ET

    out = {}
    for host in ET.parse(xml).getroot().iter("host"):
        addr = host.find("address").get("addr")
        os_el = host.find("os")
        g = {"matches": [], "classes": ""}
        if os_el is not None:
            g["matches"] = [f"{m.get('name')} ({m.get('accuracy')} %)" for m in os_el.findall("osmatch")]
            classes = {f"{c.get('vendor')} {c.get('osfamily')} {c.get('type')}" for c in os_el.iter("osclass")}
            g["classes"] = ", ".join(sorted(classes))
        ttl = [p.get("reason_ttl") for p in host.iter("state") if p.get("reason_ttl")]
        g["ttl"] = ttl[0] if ttl else "?"
        out[addr] = g
    return out


if __name__ == "__main__":
    sys.exit(main())
