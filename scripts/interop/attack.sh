#!/usr/bin/env bash
# ATT&CK exchange interop: real consumers of decnet-attack's exports.
#   * STIX 2.1 bundles validated by the OASIS stix2-validator;
#   * MISP events loaded by PyMISP;
#   * Navigator layers validated against the layer 4.5 schema (python jsonschema);
#   * the TAXII 2.1 router (served with an in-memory source by the
#     taxii_serve example) driven by taxii2-client: discovery, API root,
#     collections, paging objects with limit/next, manifest, versions,
#     resuming with added_after, token auth.
# The exports come from the export_sample example over the labelled corpus.
# Loopback 127.0.91.1:18791. Self-cleaning. Fails on any validation error.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=attack.sh

python3 -c 'import stix2validator, pymisp, taxii2client, jsonschema' 2>/dev/null || {
    echo "$NAME: installing stix2-validator pymisp taxii2-client"
    pip install -q stix2-validator pymisp taxii2-client jsonschema 2>/dev/null \
        || pip install -q --break-system-packages stix2-validator pymisp taxii2-client jsonschema
}

# The examples are built by the same `cargo test --workspace` run that
# built DECNET_BIN; build them here only when run on its own.
EX=""
if [ -n "${DECNET_BIN:-}" ]; then EX="$(dirname "$DECNET_BIN")/examples"; fi
example() {
    local f="$EX/$1"
    if [ -n "$EX" ] && [ -x "$f" ]; then echo "$f"; return; fi
    if [ -n "$EX" ]; then
        f=$(ls -t "$EX/$1"-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
        if [ -n "$f" ] && [ -x "$f" ]; then echo "$f"; return; fi
    fi
    cargo build -q -p decnet-attack --example "$1" >&2
    echo "target/debug/examples/$1"
}
EXPORT=$(example export_sample)
SERVE=$(example taxii_serve)

WORK=$(mktemp -d /tmp/attack-interop.XXXXXX)
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "$NAME: FAIL: $*" >&2; exit 1; }

echo "== export_sample"
"$EXPORT" "$WORK/out" >/dev/null
ls "$WORK/out"

echo "== stix2-validator"
python3 - "$WORK/out" <<'PY' || fail "STIX validation"
import glob, sys
from stix2validator import validate_file, print_results, ValidationOptions
ok = True
files = sorted(glob.glob(sys.argv[1] + "/*.stix.json"))
assert files, "no bundles"
for f in files:
    r = validate_file(f, ValidationOptions(version="2.1"))
    print_results(r)
    ok &= r.is_valid
    n = len(__import__("json").load(open(f))["objects"])
    print(f"{f}: {n} objects, valid={r.is_valid}")
sys.exit(0 if ok else 1)
PY

echo "== PyMISP"
python3 - "$WORK/out" <<'PY' || fail "MISP load"
import glob, json, sys
from pymisp import MISPEvent
files = sorted(glob.glob(sys.argv[1] + "/*.misp.json"))
assert files, "no MISP events"
for f in files:
    e = MISPEvent()
    e.load_file(f)
    raw = json.load(open(f))["Event"]
    assert e.info == raw["info"], "info lost"
    assert len(e.attributes) == len(raw["Attribute"]) > 0, "attributes lost"
    assert len(e.objects) == len(raw["Object"]), "objects lost"
    assert any(t.name.startswith("misp-galaxy:mitre-") for t in e.tags), "no ATT&CK galaxy tag"
    for o in e.objects:
        rel = {a.object_relation for a in o.attributes}
        assert o.name == "credential" and "username" in rel and rel <= {"username", "password"}, o.to_json()
    json.loads(e.to_json())
    print(f"{f}: {len(e.attributes)} attributes, {len(e.objects)} objects, {len(e.tags)} tags")
PY

echo "== Navigator layers (schema 4.5)"
python3 - "$WORK/out" crates/decnet-attack/tests/data/navigator_layer_v4_5.schema.json <<'PY' || fail "Navigator layer"
import glob, json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[2]))
v = Draft202012Validator(schema)
files = sorted(glob.glob(sys.argv[1] + "/*.layer.json"))
assert any("ics-attack" in f for f in files) and any("enterprise-attack" in f for f in files), files
for f in files:
    layer = json.load(open(f))
    errors = list(v.iter_errors(layer))
    for e in errors:
        print(f"{f}: {e.message} at {list(e.path)}")
    assert not errors
    print(f"{f}: {len(layer['techniques'])} techniques, valid")
PY

echo "== TAXII 2.1 with taxii2-client"
TOKEN=interop-$RANDOM$RANDOM
ADDR=127.0.91.1:18791
"$SERVE" "$ADDR" "$TOKEN" "$WORK"/out/*.stix.json >"$WORK/taxii.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null && break; sleep 0.1; done
python3 - "http://$ADDR/taxii2/" "$TOKEN" "$WORK/out" <<'PY' || fail "TAXII"
import glob, json, sys
import requests
from taxii2client.v21 import Server, as_pages
from taxii2client.common import TokenAuth
url, token, out = sys.argv[1:]

# Wrong credentials are refused.
try:
    Server(url, user="x", password="wrong").title
    raise SystemExit("wrong token accepted")
except requests.exceptions.HTTPError as e:
    assert e.response.status_code == 401, e

server = Server(url, user="reader", password=token)
print("discovery:", server.title, [r.url for r in server.api_roots])
root = server.default
assert "application/taxii+json;version=2.1" in root.versions
collections = {c.alias or c.title: c for c in root.collections}
print("collections:", sorted(collections))
ind = collections["indicators"]
assert ind.can_read and not ind.can_write

want = set()
for f in glob.glob(out + "/*.stix.json"):
    want |= {o["id"] for o in json.load(open(f))["objects"] if o["type"] == "indicator"}

ids, pages = [], 0
for env in as_pages(ind.get_objects, per_request=7):
    pages += 1
    ids += [o["id"] for o in env.get("objects", [])]
assert sorted(ids) == sorted(want), (len(ids), len(want))
assert pages == -(-len(want) // 7), pages
print(f"objects: {len(ids)} indicators in {pages} pages of 7")

manifest = []
for env in as_pages(ind.get_manifest, per_request=50):
    manifest += env.get("objects", [])
assert len(manifest) == len(want)
assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest)

# Resume: everything added after the 5th manifest entry.
cut = manifest[4]["date_added"]
rest = ind.get_objects(added_after=cut).get("objects", [])
assert len(rest) == len(want) - 5, (len(rest), len(want))
print(f"added_after {cut}: {len(rest)} objects")

# The same collection through Token auth, one object and its versions.
ind_token = type(ind)(ind.url, auth=TokenAuth(token))
one = ind_token.get_object(ids[0])["objects"][0]
versions = ind_token.object_versions(ids[0])["versions"]
assert one["modified"] in versions, (one, versions)

camp = next(c for k, c in collections.items() if k.startswith("campaign-campaign"))
types = {o["type"] for env in as_pages(camp.get_objects, per_request=100) for o in env.get("objects", [])}
assert {"attack-pattern", "indicator", "sighting", "observed-data", "relationship", "campaign"} <= types, types
patterns = camp.get_objects(type="attack-pattern")["objects"]
assert patterns and all(p["type"] == "attack-pattern" for p in patterns)
print(f"campaign collection: {sorted(types)}; {len(patterns)} attack-patterns by match[type]")
PY
echo "$NAME: all checks passed"
