"""Line-protocol helpers for the mail and FTP modules: a scripted dialogue
(send a line, read the answer) over one connection, as text."""

import socket
import time

from .wire import printable


def dialogue(ip, port, lines, banner=True, wait_s=2.5, idle_s=0.5):
    """Reads the banner (if any), then for each line sends it and reads
    until the server goes quiet; returns the whole transcript."""
    out = []
    try:
        sock = socket.create_connection((ip, port), timeout=5)
    except OSError as e:
        return f"connect failed: {type(e).__name__}\n"
    try:
        if banner:
            out.append(_read(sock, wait_s, idle_s))
        for line in lines:
            data = line if isinstance(line, bytes) else (line + "\r\n").encode()
            out.append(">>> " + printable(data))
            try:
                sock.sendall(data)
            except OSError as e:
                out.append(f"[send failed: {type(e).__name__}]\n")
                break
            got = _read(sock, wait_s, idle_s)
            out.append(got)
            if got.endswith("[closed]\n"):
                break
    finally:
        sock.close()
    return "".join(out)


def _read(sock, wait_s, idle_s):
    got = bytearray()
    sock.settimeout(wait_s)
    end = ""
    while True:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            end = "[reset]\n"
            break
        if not chunk:
            end = "[closed]\n"
            break
        got += chunk
        sock.settimeout(idle_s)
    text = printable(bytes(got))
    return text + ("" if text.endswith("\n") or not text else "\n") + end


def line_probe(port, lines, banner=True, wait_s=2.5):
    return lambda t: dialogue(t.ip, port, lines, banner=banner, wait_s=wait_s)


def banner_fqdn(ip, port):
    """The name a decky announces in its 220 banner (the real server is
    then configured with the same name, as its admin would)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=5) as s:
                s.settimeout(5)
                line = s.recv(1024).decode("latin-1")
                parts = line.split()
                if len(parts) >= 2:
                    return parts[1]
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no banner from {ip}:{port}")


def snakeoil_host_name(text, target):
    """The host name in Debian's snakeoil certificate (ssl-cert's
    make-ssl-cert, every mail daemon's default): it is whatever
    `hostname -f` said when the package was installed, the server's own
    FQDN on a real machine and `localhost` on this build machine's image.
    Only a subject or SAN that is that one name is rewritten: an
    organisation or a second name stays visible."""
    import re

    text = re.sub(r"(?m)^(Subject: commonName=)[^/,\s]+$", r"\1<SNAKEOIL_HOST>", text)
    return re.sub(r"(?m)^(Subject Alternative Name: DNS:)[^/,\s]+$", r"\1<SNAKEOIL_HOST>", text)
