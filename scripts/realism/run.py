#!/usr/bin/env python3
"""Differential realism suite: each real Debian 12 server beside a decky
whose persona names the same product and version, the same probes sent to
both, answers normalised (only what differs between two real machines) and
compared.

    sudo python3 scripts/realism/run.py [--services ssh,redis] [--update-scores] [--keep]

Writes scripts/realism/report.md and, with --update-scores,
scripts/realism/scores.json; exits 1 when a service has fewer identical
answers than recorded (or loses its nmap product/version match), 2 on
setup error.
Needs root (daemons bind low ports, unshare), the apt packages each service
module names, and DECNET_BIN (default target/debug/decnet).
"""

import argparse
import concurrent.futures as cf
import difflib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from lib import daemon, decnet, nmap_probes, nmap_scan, normalise, wire  # noqa: E402

SERVICES = [
    "ssh", "nginx", "apache", "postfix", "dovecot", "vsftpd", "mariadb", "postgres", "redis",
    "mosquitto", "slapd", "snmpd", "samba", "bind", "tftpd",
]
REPORT = os.path.join(HERE, "report.md")
SCORES = os.path.join(HERE, "scores.json")
REAL_NET = "127.0.60."
DECKY_NET = "127.0.61."


@dataclass
class Target:
    """One side of a comparison."""

    role: str  # "real" or "decky"
    ip: str
    hostname: str
    svc: "Svc"


@dataclass
class Svc:
    """A service module with its addresses, work dir and daemons."""

    mod: object
    slot: int
    work: str
    daemons: list = field(default_factory=list)
    lo_address: bool = False
    hostname: str = ""
    skipped: str = ""

    @property
    def name(self):
        return self.mod.NAME

    @property
    def real_ip(self):
        return f"{REAL_NET}{self.slot}"

    @property
    def decky_ip(self):
        return f"{DECKY_NET}{self.slot}"

    @property
    def decky_name(self):
        return f"real-{self.name}"

    def target(self, role):
        return Target(role, self.real_ip if role == "real" else self.decky_ip, self.hostname, self)

    def spawn(self, name, argv, **kw):
        """Starts one real daemon (foreground, own UTS/mount namespace named
        like the decky) and remembers it for the cleanup."""
        d = daemon.Daemon(name, argv, os.path.join(self.work, f"{name}.log"), self.hostname, **kw)
        self.daemons.append(d)
        return d


@dataclass
class Comparison:
    service: str
    probe: str
    category: str
    identical: bool
    real: str
    decky: str
    retried: bool = False


def raw_probes(svc):
    """nmap's probes for each of the service's ports (NULL, those listing
    the port, then the rest of the default intensity-7 set)."""
    probes = nmap_probes.load()
    out = []
    for proto, port in svc.mod.PORTS:
        chosen = nmap_probes.for_port(probes, proto, port)
        names = {p["name"] for p in chosen}
        chosen += [p for p in probes if p["proto"] == proto and p["rarity"] <= 7 and p["name"] not in names]
        for p in chosen:
            payload = p["payload"]
            fn = wire.tcp_probe(port, payload) if proto == "tcp" else wire.udp_probe(port, payload)
            out.append((f"nmap-probe {proto}/{port} {p['name']}", "nmap probe", fn))
    return out


def compare_one(svc, name, category, fn, normalisers, retry=True):
    """Runs fn on both sides at once; a result is a string or a dict of
    named strings (one comparison each). A difference is retried once and
    counts only if it reproduces (a timing fluke is not a tell)."""
    results = []
    with cf.ThreadPoolExecutor(2) as pool:
        def both():
            futs = {role: pool.submit(_safe, fn, svc.target(role)) for role in ("real", "decky")}
            return {role: f.result() for role, f in futs.items()}

        got = both()
        pairs = _pairs(got, svc, normalisers)
        retried = False
        if retry and any(r != d for r, d in pairs.values()):
            got = both()
            pairs = _pairs(got, svc, normalisers)
            retried = True
    for key, (r, d) in pairs.items():
        probe = name if key is None else f"{name} {key}"
        results.append(Comparison(svc.name, probe, category, r == d, r, d, retried))
    return results


def _pairs(got, svc, normalisers):
    real, decky = got["real"], got["decky"]
    if isinstance(real, dict) or isinstance(decky, dict):
        real = real if isinstance(real, dict) else {"result": real}
        decky = decky if isinstance(decky, dict) else {"result": decky}
        keys = sorted(set(real) | set(decky))
        raw = {k: (real.get(k, "<absent>\n"), decky.get(k, "<absent>\n")) for k in keys}
    else:
        raw = {None: (real, decky)}
    out = {}
    for k, (r, d) in raw.items():
        out[k] = (
            normalise.apply(r, svc.target("real"), normalisers),
            normalise.apply(d, svc.target("decky"), normalisers),
        )
    return out


def _safe(fn, target):
    try:
        return fn(target)
    except Exception as e:  # a probe that crashes is an answer too; keep going
        return f"probe raised {type(e).__name__}: {e}\n"


def run_service(svc, only_nmap=False):
    normalisers = normalise.GENERIC + list(getattr(svc.mod, "NORMALISERS", []))
    results = []
    nmap_norm = normalisers + [normalise.nmap_scan_meta]
    scripts = getattr(svc.mod, "NMAP_SCRIPTS", ())
    results += compare_one(
        svc, "nmap -sV", "nmap -sV",
        lambda t: nmap_scan.scan(t.ip, svc.mod.PORTS, scripts, version_all=getattr(svc.mod, "NMAP_VERSION_ALL", True)),
        nmap_norm, retry=False,
    )
    if only_nmap:
        return results
    for name, category, fn in raw_probes(svc):
        results += compare_one(svc, name, category, fn, normalisers)
    for name, fn in svc.mod.sessions():
        results += compare_one(svc, name, "session", fn, normalisers)
    return results


def start_real(svc):
    try:
        # Daemons that enumerate interfaces (postfix, samba, named) only
        # bind an address some interface carries; lo carries 127.0.0.1/8
        # but not each 127.0.60.x on its own.
        # Its local route keeps 127.0.0.1 as the source address, so clients
        # reach both sides from 127.0.0.1 (what servers print about their
        # client stays comparable).
        subprocess.run(["ip", "addr", "add", f"{svc.real_ip}/32", "dev", "lo"], capture_output=True, check=False)
        subprocess.run(["ip", "route", "replace", "local", svc.real_ip, "dev", "lo", "table", "local", "proto", "kernel",
                        "scope", "host", "src", "127.0.0.1"], capture_output=True, check=False)
        svc.lo_address = True
        svc.mod.start(svc)
        for proto, port in svc.mod.PORTS:
            alive = lambda: all(d.alive() for d in svc.daemons)
            if not wire.wait_port(svc.real_ip, port, proto, timeout_s=60, alive=alive):
                tails = "\n".join(f"{d.name}: {d.log_tail()}" for d in svc.daemons)
                raise RuntimeError(f"real {svc.name} not listening on {proto}/{port}\n{tails}")
        ready = getattr(svc.mod, "ready", None)
        if ready:
            ready(svc)
        # A daemon that listened and then gave up (a bad socket path…)
        # must not be compared as if it were the real server.
        time.sleep(1)
        dead = [d for d in svc.daemons if not d.alive()]
        if dead:
            raise RuntimeError(f"real {svc.name}: {dead[0].name} exited\n{dead[0].log_tail()}")
    except Exception as e:
        svc.skipped = f"real server did not start: {e}"
        traceback.print_exc()


def load_modules(names):
    mods = []
    for slot, name in enumerate(SERVICES, start=10):
        if names and name not in names:
            continue
        mods.append((slot, importlib.import_module(f"services.{name}")))
    return mods


def check_tools(mod):
    missing = [t for t in getattr(mod, "TOOLS", []) if not shutil.which(t)]
    return f"missing tools: {', '.join(missing)} (apt: {' '.join(mod.PACKAGES)})" if missing else ""


def diff_text(c, limit=60):
    lines = list(difflib.unified_diff(
        c.real.splitlines(), c.decky.splitlines(), "real", "decky", lineterm="", n=2))
    if len(lines) > limit:
        lines = lines[:limit] + [f"… {len(lines) - limit} more diff lines"]
    return "\n".join(lines)


def summarise(svcs, results):
    rows = {}
    for svc in svcs:
        mine = [c for c in results if c.service == svc.name]
        nmap_lines = [c for c in mine if c.category == "nmap -sV" and c.probe.startswith("nmap -sV version")]
        rows[svc.name] = {
            "probes": len(mine),
            "identical": sum(c.identical for c in mine),
            "score": round(sum(c.identical for c in mine) / len(mine), 4) if mine else 0.0,
            "nmap_version_match": bool(nmap_lines) and all(c.identical for c in nmap_lines),
            "skipped": svc.skipped,
        }
    return rows


def write_report(path, svcs, results, rows, runtime_s, all_normalisers):
    out = ["# Differential realism report", "",
           "Generated by `scripts/realism/run.py`: each real Debian 12 server (127.0.60.x) beside a decky",
           "pinned to the same product and version (127.0.61.x), the same probes sent to both. A probe is",
           "identical when both answers match byte for byte after the normalisations listed below.", "",
           f"Runtime: {runtime_s:.0f} s. The tells, summarised for their owners: `TELLS.md`; "
           "`nmap -O` per persona family: `os_fingerprint.md` (`os_fingerprint.py`).", "",
           "| service | probes | identical | differing | score | nmap product/version match | note |",
           "|---|---:|---:|---:|---:|:---:|---|"]
    for svc in svcs:
        r = rows[svc.name]
        note = r["skipped"] or getattr(svc.mod, "NOTE", "")
        out.append(f"| {svc.name} | {r['probes']} | {r['identical']} | {r['probes'] - r['identical']} | "
                   f"{r['score'] * 100:.1f} % | {'yes' if r['nmap_version_match'] else 'no'} | {note} |")
    out += ["", "## Normalisations", "", "Only these rewrites are applied before comparing (each is what two real machines running the same package legitimately differ in):", ""]
    for name, doc in all_normalisers:
        out.append(f"- `{name}`: {doc}")
    out += ["", "## Differences", ""]
    for svc in svcs:
        diffs = [c for c in results if c.service == svc.name and not c.identical]
        if not diffs:
            continue
        out += [f"### {svc.name}", ""]
        for c in diffs:
            out += [f"**{c.probe}** ({c.category})", "", "```diff", diff_text(c), "```", ""]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def check_scores(rows, recorded):
    failures = []
    for name, row in rows.items():
        rec = recorded.get(name)
        if not rec:
            continue
        if row["skipped"]:
            failures.append(f"{name}: not compared ({row['skipped']}) but has a recorded score")
            continue
        # The gate is the number of identical answers: a probe that stops
        # matching fails it, a run-dependent extra comparison (a script
        # that fires in one run and not the next) does not.
        if row["identical"] < rec["identical"]:
            failures.append(f"{name}: {row['identical']} identical answers, recorded {rec['identical']} "
                            f"(score {row['score']:.4f}, recorded {rec['score']:.4f})")
        if rec.get("nmap_version_match") and not row["nmap_version_match"]:
            failures.append(f"{name}: nmap product/version lines no longer match")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", help="comma-separated subset of: " + ",".join(SERVICES))
    ap.add_argument("--update-scores", action="store_true", help="record this run's scores in scores.json")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, configs)")
    ap.add_argument("--report", default=REPORT)
    ap.add_argument("--jobs", type=int, default=8, help="services compared at once")
    args = ap.parse_args()
    # `timeout` (CI) and Ctrl-C must still stop every daemon and remove the
    # lo addresses: SIGTERM becomes an exception so `finally` runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        print("realism: needs root (low ports, unshare, daemons)", file=sys.stderr)
        return 2
    binary = os.environ.get("DECNET_BIN", os.path.join(HERE, "..", "..", "target", "debug", "decnet"))
    if not os.access(binary, os.X_OK):
        print(f"realism: DECNET_BIN {binary} is not executable", file=sys.stderr)
        return 2
    names = set(args.services.split(",")) if args.services else set()
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="realism.")
    os.chmod(work, 0o755)  # daemons that drop privileges read their configs here
    svcs = []
    for slot, mod in load_modules(names):
        d = os.path.join(work, mod.NAME)
        os.makedirs(d)
        os.chmod(d, 0o755)
        svcs.append(Svc(mod, slot, d, skipped=check_tools(mod)))
    dn = None
    try:
        dn = decnet.Decnet(binary, work, svcs)
        dn.wait_ready()
        personas = dn.personas()
        for svc in svcs:
            svc.hostname = personas[svc.decky_name]["hostname"]
        threads = [threading.Thread(target=start_real, args=(s,)) for s in svcs if not s.skipped]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for svc in svcs:
            for proto, port in svc.mod.PORTS:
                if not svc.skipped and not wire.wait_port(svc.decky_ip, port, proto, timeout_s=15):
                    svc.skipped = f"decky not listening on {proto}/{port}"
        results = []
        lock = threading.Lock()

        def one(svc):
            t = time.monotonic()
            got = run_service(svc)
            with lock:
                results.extend(got)
                same = sum(c.identical for c in got)
                print(f"realism: {svc.name}: {same}/{len(got)} identical ({time.monotonic() - t:.0f} s)", flush=True)

        with cf.ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, [s for s in svcs if not s.skipped]))
        rows = summarise(svcs, results)
        norms = [normalise.describe(f) for f in normalise.GENERIC + [normalise.nmap_scan_meta, normalise.nmap_set_order]]
        for svc in svcs:
            norms += [normalise.describe(f) for f in getattr(svc.mod, "NORMALISERS", []) if normalise.describe(f) not in norms]
        order = {s.name: i for i, s in enumerate(svcs)}
        results.sort(key=lambda c: (order[c.service], c.category, c.probe))
        write_report(args.report, svcs, results, rows, time.monotonic() - t0, norms)
        recorded = {}
        if os.path.exists(SCORES):
            with open(SCORES) as f:
                recorded = json.load(f)
        failures = check_scores(rows, recorded)
        for name, row in rows.items():
            print(f"realism: {name:10} {row['identical']:4}/{row['probes']:<4} {row['score'] * 100:5.1f} % "
                  f"nmap={'yes' if row['nmap_version_match'] else 'no '} {row['skipped']}")
        if args.update_scores:
            merged = dict(recorded)
            merged.update({k: {f: v[f] for f in ("identical", "probes", "score", "nmap_version_match")}
                           for k, v in rows.items() if not v["skipped"]})
            with open(SCORES, "w") as f:
                json.dump(merged, f, indent=2, sort_keys=True)
                f.write("\n")
            print(f"realism: scores recorded in {SCORES}")
        elif failures:
            for msg in failures:
                print(f"realism: REGRESSION: {msg}", file=sys.stderr)
            return 1
        print(f"realism: report in {args.report} ({time.monotonic() - t0:.0f} s)")
        return 0
    finally:
        for svc in svcs:
            for d in svc.daemons:
                d.stop()
            if svc.lo_address:
                subprocess.run(["ip", "addr", "del", f"{svc.real_ip}/32", "dev", "lo"], capture_output=True, check=False)
                subprocess.run(["ip", "route", "del", "local", svc.real_ip, "dev", "lo", "table", "local"],
                               capture_output=True, check=False)
            cleanup = getattr(svc.mod, "cleanup", None)
            if cleanup:
                try:
                    cleanup(svc)
                except Exception:
                    traceback.print_exc()
        if dn:
            dn.stop()
        escaped = daemon.stop_escapees(work)
        if escaped:
            print(f"realism: stopped {len(escaped)} helper processes outside the daemons' groups: {sorted(set(escaped))}")
        if args.keep:
            print(f"realism: work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
