"""MariaDB 10.11 (Debian's my.cnf tree; a fresh datadir made by
mariadb-install-db as the package does; bound to one address) against the
`mysql` decky pinned to the same server version."""

import os
import re

from lib import debian
from lib.clients import run_client
from lib.daemon import run
from lib.wire import tcp_probe

NAME = "mariadb"
PACKAGES = ["mariadb-server", "mariadb-client"]
TOOLS = ["mariadbd", "mariadb-install-db", "mysql"]
PORTS = [("tcp", 3306)]
DECKY_SERVICES = ["mysql"]
DECKY_KEYS = {"mysql": {"version": f"5.5.5-{debian.upstream('mariadb-server') or '10.11.6'}-MariaDB-{debian.debian_revision('mariadb-server') or '0+deb12u1'}"}}
NMAP_SCRIPTS = ["mysql-info"]


def start(svc):
    data = os.path.join(svc.work, "data")
    os.makedirs(data)
    rundir = os.path.join(svc.work, "run")
    os.makedirs(rundir)
    run(["chown", "mysql:mysql", data, rundir])
    run(["mariadb-install-db", "--user=mysql", f"--datadir={data}", "--auth-root-authentication-method=socket",
         "--skip-test-db"], timeout=120)
    svc.spawn("mariadbd", ["mariadbd", "--user=mysql", f"--datadir={data}", f"--bind-address={svc.real_ip}",
                           f"--socket={rundir}/mysqld.sock", f"--pid-file={rundir}/mysqld.pid", "--port=3306",
                           "--skip-log-error", "--log-error=" + os.path.join(svc.work, "error.log")])


def _mysql(*args, user="root", password="wrongpass"):
    def probe(t):
        argv = ["mysql", "-h", t.ip, "-P", "3306", "-u", user, "--connect-timeout=10"]
        argv += [f"-p{password}"] if password is not None else []
        return run_client(argv + list(args))
    return probe


def _raw(payload):
    return tcp_probe(3306, payload)

def sessions():
    return [
        ("mysql root wrong password", _mysql("-e", "select 1")),
        ("mysql root no password", _mysql("-e", "select 1", password=None)),
        ("mysql unknown user", _mysql("-e", "select 1", user="nosuchuser")),
        ("mysql root mysql_native_password only", _mysql("--default-auth=mysql_native_password", "-e", "select 1")),
        ("mysql --ssl required", _mysql("--ssl", "-e", "select 1")),
        ("mysql empty user", _mysql("-e", "select 1", user="")),
        ("mysql long user name", _mysql("-e", "select 1", user="u" * 100)),
        ("raw: greeting then garbage", _raw(b"\x05\x00\x00\x01garbage")),
        ("raw: handshake response with bad length", _raw(b"\xff\xff\xff\x01" + b"A" * 64)),
        ("raw: HTTP request", _raw(b"GET / HTTP/1.0\r\n\r\n")),
        ("raw: SSL request then plain", _raw(b"\x20\x00\x00\x01\x05\xae\x0f\x00\x00\x00\x00\x01\x21" + b"\x00" * 23)),
    ]


# One byte as `lib.wire.printable` renders it (LF is `\n` plus a line break).
_BYTE = r"(?:\\x[0-9a-f]{2}|\\n\n|\\r|\\t|\\\\|[^\\\n])"


def mysql_handshake_randoms(text, target):
    """The greeting's connection id and 20-byte auth scramble are fresh
    per connection on every server (the scramble is random bytes)."""
    # Protocol 10 greeting: \n version \0 <4-byte id> <8 scramble> \0 … <12 scramble> \0 plugin
    return re.sub(r"(\\n\n?[0-9][^\\]*?\\x00)(" + _BYTE + "{4})(" + _BYTE + "{8})",
                  r"\1<CONN_ID><SCRAMBLE1>", _scramble2(text))


def _scramble2(text):
    return re.sub("(" + _BYTE + "{10})(" + _BYTE + r"{12})(\\x00mysql_native_password)",
                  r"\1<SCRAMBLE2>\3", text)


def mysql_connection_ids(text, target):
    """'Connection id' style numbers the server counts since its start."""
    text = re.sub(r"(?i)(connection id:?\s*|Thread ID: )\d+", r"\1<N>", text)
    return re.sub(r"(Salt: ).*", r"\1<SCRAMBLE>", text)


def nmap_capability_order(text, target):
    """nmap's mysql-info prints "Some Capabilities" by iterating a Lua hash
    table, whose order changes from one nmap run to the next; the set is
    what the server sent, so it is compared sorted."""
    def sort(m):
        return m.group(1) + ", ".join(sorted(m.group(2).split(", ")))
    return re.sub(r"(Some Capabilities: )(.*)", sort, text)


NORMALISERS = [mysql_handshake_randoms, mysql_connection_ids, nmap_capability_order]
