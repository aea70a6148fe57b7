#!/usr/bin/env python3
"""Builds crates/decnet-attack/data/catalogue.json from MITRE ATT&CK STIX data.

Input: one or more paths, each either a STIX bundle file (e.g.
enterprise-attack.json, ics-attack.json from mitre-attack/attack-stix-data)
or a directory laid out like mitre/cti (enterprise-attack/attack-pattern/*.json,
x-mitre-tactic/, x-mitre-matrix/, relationship/ ...), which is searched
recursively for *.json bundles. Only attack-pattern, x-mitre-tactic,
x-mitre-matrix and revoked-by relationship objects are read.

Output: a compact JSON document, one technique per line so a version bump
reads as a small diff:

  {"attack_version": "18.1",
   "tactics": [[domain, "TA0043", "reconnaissance", "Reconnaissance"], ...],
   "techniques": [[id, name, domain, "tactic,tactic", "platform,platform", status], ...]}

Tactics are listed in matrix order per domain. status is "" (current),
"deprecated", or "revoked" / "revoked:T1059" (the replacing technique).

Usage:
  gen_catalogue.py --attack-version 18.1 --out data/catalogue.json \
      path/to/cti/enterprise-attack path/to/cti/ics-attack
"""
import argparse
import json
import os
import sys

DOMAINS = ("enterprise-attack", "ics-attack")


def bundles(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _dirs, files in os.walk(path):
                for name in sorted(files):
                    if name.endswith(".json"):
                        yield os.path.join(root, name)
        else:
            yield path


def objects(paths):
    for path in bundles(paths):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("type") == "bundle":
            yield from doc.get("objects", [])
        elif "type" in doc:
            yield doc


def attack_id(obj):
    for ref in obj.get("external_references", []):
        if ref.get("source_name") in ("mitre-attack", "mitre-ics-attack"):
            return ref.get("external_id")
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--attack-version", required=True, help="ATT&CK release, e.g. 18.1")
    ap.add_argument("--out", required=True)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()

    patterns, tactics, matrices, revoked_by = {}, {}, [], {}
    for obj in objects(args.paths):
        kind = obj.get("type")
        if kind == "attack-pattern":
            # The same object can sit in several domain folders; keep the newest.
            old = patterns.get(obj["id"])
            if old is None or obj.get("modified", "") > old.get("modified", ""):
                patterns[obj["id"]] = obj
        elif kind == "x-mitre-tactic":
            tactics[obj["id"]] = obj
        elif kind == "x-mitre-matrix":
            matrices.append(obj)
        elif kind == "relationship" and obj.get("relationship_type") == "revoked-by":
            revoked_by[obj["source_ref"]] = obj["target_ref"]

    tactic_rows = []
    for matrix in sorted(matrices, key=lambda m: m.get("x_mitre_domains", [""])[0]):
        for domain in matrix.get("x_mitre_domains", []):
            if domain not in DOMAINS:
                continue
            for ref in matrix["tactic_refs"]:
                t = tactics[ref]
                tactic_rows.append([domain, attack_id(t), t["x_mitre_shortname"], t["name"]])

    rows = {}
    for obj in patterns.values():
        tid = attack_id(obj)
        if not tid:
            continue
        domains = [d for d in obj.get("x_mitre_domains", []) if d in DOMAINS]
        if not domains:
            continue
        if obj.get("revoked"):
            target = patterns.get(revoked_by.get(obj["id"], ""))
            status = "revoked:" + attack_id(target) if target else "revoked"
        elif obj.get("x_mitre_deprecated"):
            status = "deprecated"
        else:
            status = ""
        phases = [
            p["phase_name"]
            for p in obj.get("kill_chain_phases", [])
            if p.get("kill_chain_name") in ("mitre-attack", "mitre-ics-attack")
        ]
        row = [
            tid,
            obj.get("name", ""),
            domains[0],
            ",".join(phases),
            ",".join(sorted(p for p in obj.get("x_mitre_platforms", []) if p != "None")),
            status,
        ]
        # Revoked objects can share an ID with a live one; the live one wins.
        old = rows.get(tid)
        if old is None or (old[5].startswith("revoked") and not status.startswith("revoked")):
            rows[tid] = row

    def sort_key(tid):
        head, _, sub = tid.partition(".")
        return (head[0], int(head[1:]), int(sub or 0))

    with open(args.out, "w", encoding="utf-8") as f:
        f.write('{"attack_version": %s,\n' % json.dumps(args.attack_version))
        f.write(' "tactics": [\n')
        f.write(",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in tactic_rows))
        f.write("\n ],\n")
        f.write(' "techniques": [\n')
        f.write(",\n".join("  " + json.dumps(rows[k], ensure_ascii=False) for k in sorted(rows, key=sort_key)))
        f.write("\n ]\n}\n")
    live = sum(1 for r in rows.values() if not r[5])
    print(f"{args.out}: {len(tactic_rows)} tactics, {len(rows)} techniques ({live} current)", file=sys.stderr)


if __name__ == "__main__":
    main()
