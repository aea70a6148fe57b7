"""Redis 7.0 (Debian's redis-server, its shipped redis.conf with only the
address and paths changed) against the `redis` decky."""

import os
import re

from lib.clients import run_client
from lib.wire import tcp_probe

NAME = "redis"
PACKAGES = ["redis-server", "redis-tools"]
TOOLS = ["redis-server", "redis-cli"]
PORTS = [("tcp", 6379)]
DECKY_SERVICES = ["redis"]
DECKY_KEYS = {"redis": {"version": "7.0.15"}}


def start(svc):
    # Debian runs redis under systemd (`supervised systemd`, Type=notify);
    # a notify socket of our own lets it report itself supervised as there.
    import socket

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(f"{svc.work}/notify")
    os.chmod(f"{svc.work}/notify", 0o777)
    svc.notify_socket = notify
    svc.spawn("redis-server", [
        "redis-server", "/etc/redis/redis.conf", "--bind", svc.real_ip, "--port", "6379",
        "--daemonize", "no", "--supervised", "systemd", "--pidfile", f"{svc.work}/redis.pid",
    ], user="redis", env=dict(os.environ, NOTIFY_SOCKET=f"{svc.work}/notify"), setup=["mkdir -p /var/log/redis", "chown redis: /var/log/redis"])


def ready(svc):
    """Gives the real server the decky's keyspace: what a site stores is
    its own business, and comparing an empty server with a stocked one
    would measure the data, not the software."""
    import subprocess

    def cli(ip, *args):
        return subprocess.run(["redis-cli", "-h", ip, *args], capture_output=True, text=True, timeout=10).stdout

    subprocess.run(["redis-cli", "-h", svc.real_ip, "FLUSHALL"], capture_output=True, timeout=10)
    for key in cli(svc.decky_ip, "--scan").split():
        kind = cli(svc.decky_ip, "TYPE", key).strip()
        if kind == "string":
            cli(svc.real_ip, "SET", key, cli(svc.decky_ip, "--no-raw", "GET", key).strip().strip('"'))
        elif kind == "hash":
            flat = cli(svc.decky_ip, "HGETALL", key).splitlines()
            if flat:
                cli(svc.real_ip, "HSET", key, *flat)
        elif kind == "list":
            items = cli(svc.decky_ip, "LRANGE", key, "0", "-1").splitlines()
            if items:
                cli(svc.real_ip, "RPUSH", key, *items)
        elif kind == "set":
            items = cli(svc.decky_ip, "SMEMBERS", key).splitlines()
            if items:
                cli(svc.real_ip, "SADD", key, *items)


def _cli(*args, stdin=None):
    return lambda t: run_client(["redis-cli", "-h", t.ip, "-p", "6379", *args], stdin=stdin)


def _raw(payload):
    return tcp_probe(6379, payload)

def sessions():
    return [
        ("redis-cli PING", _cli("PING")),
        ("redis-cli INFO server", _cli("INFO", "server")),
        ("redis-cli INFO keyspace", _cli("INFO", "keyspace")),
        ("redis-cli CONFIG GET dir", _cli("CONFIG", "GET", "dir")),
        ("redis-cli CONFIG GET requirepass", _cli("CONFIG", "GET", "requirepass")),
        ("redis-cli DBSIZE", _cli("DBSIZE")),
        ("redis-cli SET then GET", _cli(stdin="SET realism:k v1\nGET realism:k\nDEL realism:k\n")),
        ("redis-cli AUTH wrong password", _cli("AUTH", "wrongpass")),
        ("redis-cli AUTH user wrong password", _cli("AUTH", "default", "wrongpass")),
        ("redis-cli CLIENT SETNAME/GETNAME", _cli(stdin="CLIENT SETNAME probe\nCLIENT GETNAME\n")),
        ("redis-cli COMMAND COUNT", _cli("COMMAND", "COUNT")),
        ("redis-cli unknown command", _cli("FLURB", "a", "b")),
        ("redis-cli wrong arity", _cli("GET")),
        ("redis-cli SLAVEOF attack (persistence trick)", _cli("CONFIG", "SET", "dbfilename", "x.so")),
        ("raw inline unbalanced quotes", _raw(b'SET "a b\r\n')),
        ("raw RESP bad bulk length", _raw(b"*1\r\n$-5\r\nPING\r\n")),
        ("raw RESP protocol error (no CRLF)", _raw(b"*1\r\n$4\r\nPINGxx")),
        ("raw oversized inline line", _raw(b"A" * 70000 + b"\r\n")),
        ("raw HTTP request (cross-protocol guard)", _raw(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("raw QUIT", _raw(b"QUIT\r\n")),
    ]


def redis_runtime_values(text, target):
    """INFO fields that differ between two servers by nature: process id,
    run id and replication id (random per start), uptime, the executable
    path and config file of this installation, and the listening port/ids
    of the process."""
    text = re.sub(r"(process_id|run_id|master_replid|uptime_in_seconds|uptime_in_days|server_time_usec|lru_clock|hz|configured_hz|io_threads_active):[^\r\n\\]*",
                  r"\1:<N>", text)
    text = re.sub(r"(executable|config_file):[^\r\n\\]*", r"\1:<PATH>", text)
    return text


def redis_info_gauges(text, target):
    """Numeric INFO values (memory, CPU, counters, buffer sizes, the
    reply's bulk length that follows from them): they depend on load,
    history and the machine's RAM, not on the software. Field names and
    every non-numeric value are still compared."""
    text = re.sub(r"^\$\d+(\\r\\n\n# )", r"$<LEN>\1", text, flags=re.M)
    return re.sub(r"^([a-z_0-9]+):(?:[\d.]+[KMGB%]?|[a-z_0-9]+=[^\\\n]*)(?=\\r|\r|$)",
                  lambda m: m.group(1) + ":<N>" if m.group(1) not in ("redis_version", "tcp_port", "arch_bits", "gcc_version") else m.group(0),
                  text, flags=re.M)


NORMALISERS = [redis_runtime_values, redis_info_gauges]
