#!/usr/bin/env python3
"""SQLite's own cost of storing decnet events, without decnet: the events
schema of migration 3 (rowid table, unique id, four (col, ts) indexes), the
store's pragmas, rows shaped like `decnet_store::testing::synthetic_event`,
2000-row transactions of one prepared single-row INSERT (Python's sqlite3
module: no bus, no async hand-offs). Compare with `ingest_bench` run in the
same minutes to see how far decnet's ingest is from this floor.

    python3 scripts/bench_sqlite_floor.py [ROWS] [DIR]

Bounded: ROWS (default 300,000) rows per variant, six variants.
"""
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid

INDEXES = [("ts", "ts"), ("src", "src_ip, ts"), ("decky", "decky, ts"), ("kind", "kind, ts")]
KINDS = ["connect", "auth_attempt", "command", "disconnect"]
DECKIES = ["web01", "db01", "mail01", "files01", "iot01"]


def rows(n):
    t0 = 1_700_000_000_000_000
    out = []
    for i in range(n):
        kind = KINDS[i % 4]
        if kind == "auth_attempt":
            fields = {"username": "root", "password": f"pw{i % 1000}", "secret_hash": "x" * 64}
        elif kind == "command":
            fields = {"command": "uname -a; cat /proc/cpuinfo | grep name"}
        else:
            fields = {}
        src = f"10.{(i >> 16) % 256}.{(i >> 8) % 256}.{i % 256 // 8 * 8 + 1}"
        out.append((str(uuid.UUID(int=(i << 64) | 12345)), t0 + i * 10, DECKIES[i % 5],
                    "http" if i % 3 == 0 else "ssh", kind, src, 40000 + i % 20000,
                    "127.0.64.10", 22, str(uuid.uuid4()), json.dumps(fields)))
    return out


def run(path, data, page=4096, checkpoint=1000, indexes=True, batch=2000):
    for suffix in ["", "-wal", "-shm"]:
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    c = sqlite3.connect(path, isolation_level=None)
    c.execute(f"PRAGMA page_size={page}")
    for pragma in ["journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536",
                   f"wal_autocheckpoint={checkpoint}"]:
        c.execute(f"PRAGMA {pragma}")
    c.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, "
              "decky TEXT NOT NULL, service TEXT NOT NULL, kind TEXT NOT NULL, src_ip TEXT NOT NULL, "
              "src_port INTEGER NOT NULL, dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL, "
              "session_id TEXT, fields TEXT NOT NULL)")
    if indexes:
        for name, cols in INDEXES:
            c.execute(f"CREATE INDEX events_{name} ON events ({cols})")
    insert = ("INSERT INTO events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, "
              "session_id, fields) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING")
    start = time.perf_counter()
    for b in range(0, len(data), batch):
        c.execute("BEGIN")
        c.executemany(insert, data[b:b + batch])
        c.execute("COMMIT")
    elapsed = time.perf_counter() - start
    c.close()
    return len(data) / elapsed


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with tempfile.TemporaryDirectory(dir=sys.argv[2] if len(sys.argv) > 2 else None) as d:
        path = os.path.join(d, "floor.db")
        data = rows(n)
        for label, kw in [("6 B-trees, 4 KiB pages", {}), ("8 KiB pages", {"page": 8192}),
                          ("16 KiB pages", {"page": 16384}), ("wal_autocheckpoint 10000", {"checkpoint": 10000}),
                          ("no secondary indexes (2 B-trees)", {"indexes": False}),
                          ("6 B-trees again", {})]:
            print(f"{label}: {run(path, data, **kw):.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
