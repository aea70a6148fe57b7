#!/usr/bin/env python3
# Usage: scripts/bench_canary_latency.py target/{debug,release}/decnet
# Canary trigger → visible through the API, latency (bounded loop, loopback).
import json, os, subprocess, sys, time, urllib.request, statistics
BIN, API = sys.argv[1], "http://127.0.0.1:18611/api/v1"
import tempfile
data = tempfile.mkdtemp(prefix="decnet-canary-lat.") + "/data"

p = subprocess.Popen([BIN, "demo", "--data-dir", data, "--api", "127.0.0.1:18611", "--port-offset", "23000"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def req(method, path, body=None, tok=None):
    r = urllib.request.Request(API + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                               headers={"Content-Type": "application/json", **({"Authorization": "Bearer " + tok} if tok else {})})
    with urllib.request.urlopen(r, timeout=10) as f:
        return json.loads(f.read() or b"null")
try:
    for _ in range(300):
        try:
            pw = open(data + "/admin-password").read().strip(); req("GET", "/livez"); break
        except Exception: time.sleep(0.1)
    tok = req("POST", "/auth/login", {"username": "admin", "password": pw})["access_token"]
    req("POST", "/auth/change-password", {"old_password": pw, "new_password": "measure-pw-123"}, tok)
    tok = req("POST", "/auth/login", {"username": "admin", "password": "measure-pw-123"})["access_token"]
    t = req("POST", "/canary/tokens", {"kind": "http_url", "label": "latency"}, tok)
    url, tid = t["call_home"], t["id"]
    lat = []
    for i in range(1, 101):
        t0 = time.perf_counter()
        try: urllib.request.urlopen(url, timeout=5).read()
        except Exception: pass
        while req("GET", f"/canary/tokens/{tid}/triggers?limit=1", None, tok)["total"] < i:
            time.sleep(0.002)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(f"n={len(lat)} p50={lat[49]:.0f} ms p99={lat[98]:.0f} ms max={lat[-1]:.0f} ms")
finally:
    p.terminate(); p.wait(15)
