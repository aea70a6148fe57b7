"""`nmap -sV --version-all` (plus the default and version scripts) against
one side; results split into one comparison per port version line and per
script output."""

import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET

from lib import normalise


def scan(ip, ports, extra_scripts=(), timeout_s=300, version_all=True):
    """ports: [("tcp", 22), ("udp", 161)…] → {key: text}."""
    tcp = [str(p) for proto, p in ports if proto == "tcp"]
    udp = [str(p) for proto, p in ports if proto == "udp"]
    spec = ",".join(([f"T:{','.join(tcp)}"] if tcp else []) + ([f"U:{','.join(udp)}"] if udp else []))
    scripts = "default or version" + "".join(f" or {s}" for s in extra_scripts)
    with tempfile.NamedTemporaryFile(suffix=".xml", delete=False) as f:
        xml_path = f.name
    # UDP services that ignore unknown datagrams make nmap wait for every
    # UDP probe in its database; --version-all stays on for TCP, UDP uses
    # the default intensity so the run stays bounded.
    depth = ["--version-all"] if version_all and not udp else []
    argv = ["nmap", "-sV", *depth, "-Pn", "-n", "--script", scripts, "--script-timeout", "60s",
            "--host-timeout", f"{timeout_s - 20}s", "-p", spec, "-oX", xml_path, ip]
    if tcp:
        argv.insert(1, "-sS")
    if udp:
        argv.insert(1, "-sU")
    try:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout_s)
        return parse(xml_path)
    except (subprocess.TimeoutExpired, ET.ParseError, OSError) as e:
        return {"nmap": f"nmap failed: {type(e).__name__}"}
    finally:
        os.unlink(xml_path)


# Scripts whose output measures the scanning run rather than the server:
# clock-skew compares the target's clock with the scanner's (no two
# machines agree) and appears only when the skew crosses its threshold.
RUN_DEPENDENT_SCRIPTS = {"clock-skew"}


def parse(xml_path):
    out = {}
    root = ET.parse(xml_path).getroot()
    for port in root.iter("port"):
        key = f"{port.get('protocol')}/{port.get('portid')}"
        state = port.find("state")
        svc = port.find("service")
        line = state.get("state") if state is not None else "?"
        if svc is not None:
            fields = [svc.get("name", "")]
            for attr in ("product", "version"):
                if svc.get(attr):
                    fields.append(svc.get(attr))
            if svc.get("extrainfo"):
                fields.append(f"({svc.get('extrainfo')})")
            if svc.get("ostype"):
                fields.append(f"ostype={svc.get('ostype')}")
            line += " " + " ".join(fields)
        out[f"version {key}"] = line + "\n"
        for script in port.findall("script"):
            if script.get("id") in RUN_DEPENDENT_SCRIPTS:
                continue
            text = (script.get("output") or "").strip() + "\n"
            if script.get("id") in normalise.NMAP_SET_SCRIPTS:
                text = normalise.nmap_set_order(text)
            out[f"script {key} {script.get('id')}"] = text
    for hs in root.iter("hostscript"):
        for script in hs.findall("script"):
            if script.get("id") in RUN_DEPENDENT_SCRIPTS:
                continue
            out[f"script host {script.get('id')}"] = (script.get("output") or "").strip() + "\n"
    return out
