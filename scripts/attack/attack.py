#!/usr/bin/env python3
"""Attack a running decnet fleet the way the hardening probe did, in
bounded time, and fail on what must not happen.

1. Fuzz: every TCP and UDP listener of the fleet's addresses gets random
   bytes and mutations of real protocol openings (HTTP, TLS, SSH, SMB,
   RDP, DNS, SNMP, ...), with abrupt closes and resets. Afterwards the
   server must be alive, its log must hold no "panicked", and its open
   file descriptors must come back to the baseline.
2. Memory amplification: per TCP listener, many connections from one
   address each send a large payload and stay open; the server's RSS may
   not grow by more than a budget per service.

Standard library only. Listeners are found in /proc/net (sockets bound to
the fleet's /24), so port shifts need no configuration.
"""

import argparse
import os
import random
import socket
import struct
import sys
import time


def listeners(net_prefix):
    """(proto, ip, port) of the sockets listening on the fleet's addresses."""
    found = set()
    for proto, path, want_state in (("tcp", "/proc/net/tcp", "0A"), ("udp", "/proc/net/udp", None)):
        with open(path) as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state = parts[1], parts[3]
                if want_state and state != want_state:
                    continue
                hexip, hexport = local.split(":")
                ip = socket.inet_ntoa(struct.pack("<I", int(hexip, 16)))
                if ip.startswith(net_prefix):
                    found.add((proto, ip, int(hexport, 16)))
    return sorted(found)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def alive(pid):
    return os.path.exists(f"/proc/{pid}")


SEEDS = [
    b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0\r\n\r\n",
    b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\nuser=admin&pass=admin",
    b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n",
    # TLS 1.2 ClientHello prefix.
    bytes.fromhex("16030100a5010000a10303") + bytes(32) + bytes.fromhex("000020c02bc02fc02cc030cca9cca8c013c014009c009d002f0035000a01000058"),
    # SMB1 negotiate offering SMB2.
    bytes.fromhex("0000002fff534d4272000000001843c80000000000000000000000000000feff0000000000000c00024e54204c4d20302e31320002534d4220322e30303200"),
    # RDP X.224 connection request.
    bytes.fromhex("030000130ee000000000000100080003000000"),
    b"USER anonymous\r\nPASS x@y\r\nPASV\r\nLIST\r\n",
    b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
    b"a1 LOGIN user pass\r\na2 SELECT INBOX\r\n",
    b"*1\r\n$4\r\nPING\r\n*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$1\r\n*\r\n",
    # PostgreSQL startup, MySQL handshake response-ish, MongoDB OP_MSG header.
    bytes.fromhex("00000008 04d2162f".replace(" ", "")),
    bytes.fromhex("2000000185a6ff0100000001210000000000000000000000000000000000000000000000726f6f7400"),
    bytes.fromhex("3a000000010000000000000dd4070000") + bytes(24),
    # LDAP bind, Modbus read, S7 COTP connect, MQTT connect.
    bytes.fromhex("300c020101600702010304008000"),
    bytes.fromhex("000100000006010300000010"),
    bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102"),
    bytes.fromhex("101000044d5154540402003c0004746573") ,
    b"\x1b%-12345X@PJL INFO ID\r\n%!PS\nshowpage\n",
    b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x18root\r\nroot\r\n",
    # DNS query, SNMP get, NBNS, SIP OPTIONS, TFTP RRQ.
    bytes.fromhex("abcd01000001000000000000076578616d706c6503636f6d0000010001"),
    bytes.fromhex("302602010104067075626c6963a0190204001234560201000201003000300e060a2b06010201010100"),
    bytes.fromhex("80940000000100000000000020434b4141414141414141414141414141414141414141414141414141414141410000210001"),
    b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n",
    b"\x00\x01/etc/passwd\x00octet\x00",
]


def mutate(data, rng):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        if op == 0 and data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:
            i = rng.randrange(len(data))
            data[i] = rng.choice([0, 0xFF, 0x7F, 0x80])
        elif op == 2:
            i = rng.randrange(len(data) + 1)
            data[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
        elif op == 3 and data:
            data = data[: rng.randrange(len(data))]
        elif op == 4 and data:
            # Huge length fields: 0xffffffff somewhere.
            i = rng.randrange(len(data))
            data[i:i + 4] = b"\xff\xff\xff\xff"
        else:
            data += data[: rng.randint(0, len(data))]
    return bytes(data)


def payload(rng):
    if rng.random() < 0.3:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096)))
    return mutate(rng.choice(SEEDS), rng)


def fuzz_tcp(ip, port, rng, rounds):
    for _ in range(rounds):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((ip, port))
            for _ in range(rng.randint(1, 3)):
                s.sendall(payload(rng))
                try:
                    s.recv(4096)
                except (socket.timeout, OSError):
                    pass
            if rng.random() < 0.3:
                # Abortive close: RST instead of FIN.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            s.close()


def fuzz_udp(ip, port, rng, rounds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    for _ in range(rounds):
        try:
            s.sendto(payload(rng)[:1400], (ip, port))
            s.recv(65536)
        except OSError:
            pass
    s.close()


def wait_fds(pid, baseline, slack, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        if fd_count(pid) <= baseline + slack:
            return True
        time.sleep(0.5)
    return False


def amplification(pid, ip, port, conns, size):
    """RSS growth while `conns` connections each hold `size` bytes sent."""
    before = rss(pid)
    socks = []
    blob = bytes([0x41]) * size
    for _ in range(conns):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((ip, port))
            # A plausible opening, then the bulk: protocols that give up on
            # garbage close early, which is fine.
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (size + 1))
            s.sendall(blob)
        except OSError:
            pass
        socks.append(s)
    time.sleep(1.0)
    grown = rss(pid) - before
    for s in socks:
        s.close()
    return grown


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--net", required=True, help="address prefix of the fleet, e.g. 127.0.74.")
    ap.add_argument("--log", required=True)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--rss-budget-mb", type=int, default=48)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"attack: seed {args.seed}")
    found = listeners(args.net)
    tcp = [(ip, p) for proto, ip, p in found if proto == "tcp"]
    udp = [(ip, p) for proto, ip, p in found if proto == "udp"]
    print(f"attack: {len(tcp)} tcp and {len(udp)} udp listeners")
    if len(tcp) < 10:
        sys.exit("attack: FAIL: too few listeners found; is the fleet up?")
    failures = []

    baseline = fd_count(args.pid)
    t0 = time.time()
    for ip, port in tcp:
        fuzz_tcp(ip, port, rng, args.rounds)
    for ip, port in udp:
        fuzz_udp(ip, port, rng, args.rounds * 4)
    print(f"attack: fuzz pass in {time.time() - t0:.1f}s")
    if not alive(args.pid):
        sys.exit("attack: FAIL: the server died during the fuzz pass")
    if not wait_fds(args.pid, baseline, 8, 60):
        failures.append(f"fds {fd_count(args.pid)} did not come back to {baseline}")

    t0 = time.time()
    for ip, port in tcp:
        grown = amplification(args.pid, ip, port, args.conns, args.size)
        mb = grown / (1 << 20)
        print(f"attack: {ip}:{port} rss +{mb:.1f} MiB for {args.conns} x {args.size >> 10} KiB")
        if mb > args.rss_budget_mb:
            failures.append(f"{ip}:{port} grew RSS by {mb:.0f} MiB (budget {args.rss_budget_mb})")
        if not alive(args.pid):
            sys.exit(f"attack: FAIL: the server died on {ip}:{port}")
    print(f"attack: amplification pass in {time.time() - t0:.1f}s")
    if not wait_fds(args.pid, baseline, 8, 60):
        failures.append(f"fds {fd_count(args.pid)} did not come back to {baseline} after the amplification pass")

    with open(args.log, errors="replace") as f:
        panics = [l for l in f if "panicked" in l]
    if panics:
        failures.append(f"{len(panics)} panic events, first: {panics[0].strip()[:300]}")
    if failures:
        for f in failures:
            print(f"attack: FAIL: {f}")
        sys.exit(1)
    print("attack: ok")


if __name__ == "__main__":
    main()
