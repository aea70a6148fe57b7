#!/usr/bin/env python3
"""nmap -O against personas in netns mode, beside a real Linux host.

Builds a test LAN (a veth pair: `osfp-lan0` in the host namespace is the
deckies' macvlan parent, its peer is eth0 of a scanner namespace), starts
`decnet serve` in netns mode with one decky per persona family, plus one
plain Linux namespace on the same LAN serving one TCP port (the reference:
what this kernel looks like to nmap when nothing pretends), runs
`nmap -O` from the scanner and writes the guess per persona to
scripts/realism/os_fingerprint.md (or --report). Windows personas are
shaped by decnet-net's packet personality (NFQUEUE rewriter); a real client
then moves a few MB each way through the shaped Windows Server decky (FTP
upload, passive and active-mode download with curl, compared byte for byte) so a broken window
or checksum would show. With --gate it fails unless every Windows persona is
guessed Windows and the transfer is intact (skipped, exit 0, when the
kernel has no NFQUEUE: decnet then logs that it shapes by sysctls only).
Every name it creates starts with `osfp-` (deckies: `decnet-osfp-…`).

    sudo DECNET_BIN=target/debug/decnet python3 scripts/realism/os_fingerprint.py [--gate] [--report PATH]
"""

import argparse
import hashlib
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
SCAN = "osfp-scan"
REF = "osfp-ref"
LAN = "osfp-lan0"
REF_LINK = "osfp-ref0"
NET = "10.78.0"
# Moved each way through the shaped Windows Server decky.
TRANSFER_BYTES = 4 << 20

PERSONAS = [
    # (decky, INI lines, family claimed)
    ("osfp-debian", ["services = ssh, http", "distro = debian", "nmap_os = linux"], "Linux (Debian 12)"),
    ("osfp-win2019", ["services = smb, rdp, http, ftp", "distro = windows2019", "nmap_os = windows_server"], "Windows Server 2019"),
    ("osfp-win10", ["services = smb, rdp", "distro = windows10", "nmap_os = windows"], "Windows 10"),
    ("osfp-busybox", ["services = telnet, http", "distro = busybox", "nmap_os = embedded"], "embedded (BusyBox)"),
    ("osfp-printer", ["archetype = printer"], "printer (archetype)"),
]


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=300)


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--gate", action="store_true", help="fail unless Windows personas are guessed Windows")
    args.add_argument("--report", default=OUT, help="where the Markdown table goes")
    args.add_argument("--handshakes", type=int, default=1000,
                      help="TCP handshakes timed per decky (shaped Windows vs kernel-only Linux), 0: none")
    args = args.parse_args()
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
        sh("ip", "link", "add", REF_LINK, "link", LAN, "type", "macvlan", "mode", "bridge")
        sh("ip", "link", "set", REF_LINK, "netns", REF)
        sh("ip", "-n", REF, "link", "set", REF_LINK, "name", "eth0")
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
        win = deckies.get("osfp-win2019")
        transfer = ftp_round_trip(win["ip"], work) if win else "not run (no Windows Server decky)"
        shaped = "packet personality unavailable" not in open(os.path.join(work, "serve.log")).read()
        passive = p0f_on_syns(work, ["osfp-win10", "osfp-debian"]) if shutil.which("p0f") else None
        lin = deckies.get("osfp-debian")
        cost = handshake_cost(win["ip"], lin["ip"], args.handshakes) if win and lin and args.handshakes else None
        out = ["# OS fingerprint per persona (netns mode, `nmap -O`)", "",
               f"Generated by `scripts/realism/os_fingerprint.py` ({elapsed:.0f} s of nmap). One decky per persona family on a",
               "veth test LAN, scanned from another namespace, beside a plain Linux namespace as the reference.",
               "Windows personas: sysctls + packet personality (NFQUEUE rewriter, "
               + ("on" if shaped else "UNAVAILABLE on this kernel: sysctls only") + ").", "",
               "| target | claims | nmap OS guess (accuracy) | TTL seen | family match |", "|---|---|---|---|:---:|"]
        for ip, label, fam in targets:
            g = guesses.get(ip, {})
            best = (g.get("matches") or ["(no guess)"])[0]
            want = "Windows" if fam.startswith("Windows") else ("Linux" if fam.startswith("Linux") else "embedded")
            ok = want.lower() in best.lower() or (want == "embedded" and re.search(r"(?i)embedded|printer|busybox|router|switch|specialized", g.get("classes", "")))
            out.append(f"| {label} | {fam} | {best} | {g.get('ttl', '?')} | {'yes' if ok else 'no'} |")
        out += ["", f"Real client through the shaped Windows Server decky: {transfer}", ""]
        if cost:
            out += [f"Handshake cost of the queue: {cost}", ""]
        if passive:
            out += ["p0f on a connection each decky opens (its SYN, as a LAN sniffer sees chatter): "
                    + "; ".join(f"{n}: {os_}" for n, os_ in passive), ""]
        out += ["Full match lists:", ""]
        for ip, label, _ in targets:
            g = guesses.get(ip, {})
            out.append(f"- {label}: {'; '.join(g.get('matches', [])[:4]) or 'none'} (classes: {g.get('classes', '')})")
        with open(args.report, "w") as f:
            f.write("\n".join(out) + "\n")
        print("\n".join(out))
        return gate(targets, guesses, transfer, shaped) if args.gate else 0
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


def ftp_round_trip(ip, work):
    """Anonymous FTP upload then download of TRANSFER_BYTES with curl from
    the scanner namespace; a sentence saying what happened."""
    blob = os.path.join(work, "blob.bin")
    back = os.path.join(work, "blob.back")
    with open(blob, "wb") as f:
        f.write(secrets.token_bytes(TRANSFER_BYTES))
    url = f"ftp://{ip}/pub/incoming/osfp.bin"
    t0 = time.monotonic()
    up = sh("ip", "netns", "exec", SCAN, "curl", "-sS", "--max-time", "60", "-T", blob, url, check=False)
    down = sh("ip", "netns", "exec", SCAN, "curl", "-sS", "--max-time", "60", "-o", back, url, check=False)
    # Active mode: the decky opens the data connection (its own SYN, shaped).
    active = back + ".active"
    down_active = sh("ip", "netns", "exec", SCAN, "curl", "-sS", "--max-time", "60", "-P", "-", "-o", active, url,
                     check=False)
    took = time.monotonic() - t0
    if up.returncode or down.returncode or down_active.returncode:
        why = (up.stderr + down.stderr + down_active.stderr).strip()[:200]
        return (f"FAILED (curl upload rc {up.returncode}, passive download rc {down.returncode}, "
                f"active download rc {down_active.returncode}: {why})")
    same = all(os.path.exists(p) and digest(p) == digest(blob) for p in (back, active))
    verdict = "intact" if same else "CORRUPTED"
    return (f"curl FTP upload, passive and active-mode download of {TRANSFER_BYTES >> 20} MiB each "
            f"in {took:.1f} s, {verdict}")


# Times TCP connects (SYN → SYN/ACK → ACK, then close) from the scanner,
# alternating between the two targets so machine load hits both alike.
TIMER = """
import socket, statistics, sys, time
targets = [(sys.argv[1], int(sys.argv[2])), (sys.argv[3], int(sys.argv[4]))]
times = [[], []]
for _ in range(int(sys.argv[5])):
    for i, t in enumerate(targets):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\1\\0\\0\\0\\0\\0\\0\\0")
        t0 = time.perf_counter()
        s.connect(t)
        times[i].append(time.perf_counter() - t0)
        s.close()
print(" ".join(f"{statistics.median(x) * 1e6:.0f} {statistics.quantiles(x, n=10)[-1] * 1e6:.0f}" for x in times))
"""


def handshake_cost(win_ip, lin_ip, n):
    """Median / p90 connect time to the shaped Windows decky (SMB, 445) and
    the unshaped Linux one (SSH, 22) in the same run."""
    r = sh("ip", "netns", "exec", SCAN, "python3", "-c", TIMER, win_ip, "445", lin_ip, "22", str(n), check=False)
    if r.returncode:
        return f"not measured ({r.stderr.strip()[-200:]})"
    w50, w90, l50, l90 = r.stdout.split()
    return (f"{n} connects each, alternating: shaped Windows decky median {w50} µs (p90 {w90}), "
            f"kernel-only Linux decky median {l50} µs (p90 {l90})")


def p0f_on_syns(work, names):
    """p0f's verdict on a SYN each named decky sends to the scanner (a
    closed port there: the SYN is all that is needed)."""
    log = os.path.join(work, "p0f.log")
    p0f = subprocess.Popen(["ip", "netns", "exec", SCAN, "p0f", "-i", "eth0", "-o", log],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        for n in names:
            sh("ip", "netns", "exec", f"decnet-{n}", "bash", "-c", f"exec 3<>/dev/tcp/{NET}.250/9", check=False)
        time.sleep(1.0)
    finally:
        p0f.terminate()
        p0f.wait(timeout=10)
    text = open(log).read() if os.path.exists(log) else ""
    out = []
    for n, ip in [(n, f"{NET}.{10 + i}") for i, (n, _, _) in enumerate(PERSONAS) if n in names]:
        m = re.search(rf"mod=syn\|cli={re.escape(ip)}/\d+\|.*?\|os=([^|]*)\|.*?raw_sig=([^|\n]*)", text)
        out.append((n, f"{m.group(1)} (`{m.group(2)}`)" if m else "no SYN seen"))
    return out


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def gate(targets, guesses, transfer, shaped):
    if not shaped:
        print("os_fingerprint: SKIP gate (no NFQUEUE here: Windows personas shaped by sysctls only)")
        return 0
    failed = [label for ip, label, fam in targets if fam.startswith("Windows")
              and "windows" not in ((guesses.get(ip, {}).get("matches") or [""])[0]).lower()]
    if "intact" not in transfer:
        failed.append("transfer: " + transfer)
    for f in failed:
        print(f"os_fingerprint: FAIL {f}", file=sys.stderr)
    return 1 if failed else 0


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
