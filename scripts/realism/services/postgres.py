"""PostgreSQL 15 (a cluster made as Debian's pg_createcluster does: peer
for local, scram-sha-256 for host, SSL on with the snakeoil certificate)
against the `postgres` decky pinned to the same version string."""

import glob
import os
import re

from lib import debian, mail
from lib.clients import run_client
from lib.daemon import run
from lib.wire import tcp_probe

NAME = "postgres"
PACKAGES = ["postgresql", "postgresql-client"]
TOOLS = ["psql"]
PORTS = [("tcp", 5432)]
_UP = debian.upstream("postgresql-15") or "15.6"
_REV = debian.version("postgresql-15") or "15.6-0+deb12u1"
DECKY_SERVICES = ["postgres"]
DECKY_KEYS = {"postgres": {"version": f"{_UP} (Debian {_REV})", "auth": "scram-sha-256"}}


def _bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


def start(svc):
    data = os.path.join(svc.work, "data")
    os.makedirs(data, mode=0o700)
    sockets = os.path.join(svc.work, "sockets")
    os.makedirs(sockets)
    run(["chown", "postgres:postgres", data, sockets])
    run(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", _bin("initdb"), "-D", data,
         "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"], timeout=120)
    with open(os.path.join(data, "pg_hba.conf"), "a") as f:
        f.write("host all all 0.0.0.0/0 scram-sha-256\n")
    svc.spawn("postgres", [_bin("postgres"), "-D", data, "-c", f"listen_addresses={svc.real_ip}",
                           "-c", f"unix_socket_directories={sockets}", "-c", "ssl=on",
                           "-c", "ssl_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem",
                           "-c", "ssl_key_file=/etc/ssl/private/ssl-cert-snakeoil.key"], user="postgres")


def _psql(conninfo, sql="select 1", password="wrongpass"):
    def probe(t):
        env = {"PGCONNECT_TIMEOUT": "10"}
        if password is not None:
            env["PGPASSWORD"] = password
        return run_client(["psql", f"host={t.ip} port=5432 {conninfo}", "-w", "-c", sql], env=env)
    return probe


def _raw(payload):
    return tcp_probe(5432, payload)

def _startup(user, db=None, proto=196608):
    import struct

    body = struct.pack(">I", proto) + b"user\0" + user.encode() + b"\0"
    if db:
        body += b"database\0" + db.encode() + b"\0"
    body += b"\0"
    return struct.pack(">I", len(body) + 4) + body


def sessions():
    return [
        ("psql postgres wrong password", _psql("user=postgres dbname=postgres sslmode=disable")),
        ("psql postgres wrong password (ssl)", _psql("user=postgres dbname=postgres sslmode=require")),
        ("psql unknown user", _psql("user=nosuchuser dbname=crm sslmode=disable")),
        ("psql no password", _psql("user=postgres sslmode=disable", password=None)),
        ("raw SSLRequest", _raw(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")),
        ("raw GSSENCRequest", _raw(b"\x00\x00\x00\x08\x04\xd2\x16\x30")),
        ("raw startup postgres", _raw(_startup("postgres", "postgres"))),
        ("raw startup protocol 2.0", _raw(_startup("postgres", None, 0x00020000))),
        ("raw startup protocol 9.9", _raw(_startup("postgres", None, 0x00090009))),
        ("raw startup no user", _raw(b"\x00\x00\x00\x09\x00\x03\x00\x00\x00")),
        ("raw startup huge length", _raw(b"\x7f\xff\xff\xff\x00\x03\x00\x00")),
        ("raw cancel request", _raw(b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x00\x01\x00\x00\x00\x02")),
        ("raw HTTP request", _raw(b"GET / HTTP/1.0\r\n\r\n")),
    ]


def pg_auth_randoms(text, target):
    """The SCRAM server nonce (`r=…`): random per authentication."""
    return re.sub(r"r=[A-Za-z0-9+/=]{20,}", "r=<NONCE>", text)


NORMALISERS = [pg_auth_randoms, mail.snakeoil_host_name]
