"""The decnet side: one `decnet serve` (loopback mode, 127.0.61.x) whose
fleet holds one decky per compared service, each pinned to Debian 12 and to
the product versions apt installs here."""

import json
import os
import secrets
import subprocess
import urllib.request

from . import wire

NET = "127.0.61.0/24"


def fleet_ini(services):
    """The generated fleet: `[general]`, then per service its decky section
    and its `[decky.<svc>]` keys (module attributes DECKY_* )."""
    # `lived = false`: the real servers are fresh installs (no mail, no
    # documents, no logins), so the deckies are compared as fresh installs
    # too; the lived-in story is what a used machine has, not a tell.
    lines = ["[general]", f"net = {NET}", "mode = loopback", "", "[content]", "lived = false", ""]
    for svc in services:
        lines += [f"[{svc.decky_name}]", f"ip = {svc.decky_ip}", f"services = {', '.join(svc.mod.DECKY_SERVICES)}", "distro = debian", ""]
        for service, keys in getattr(svc.mod, "DECKY_KEYS", {}).items():
            lines.append(f"[{svc.decky_name}.{service}]")
            lines += [f"{k} = {v}" for k, v in keys.items()]
            lines.append("")
    return "\n".join(lines)


class Decnet:
    """A running `decnet serve` and its API (for the deckies' personas)."""

    def __init__(self, binary, work, services):
        self.work = work
        self.data = os.path.join(work, "decnet-data")
        self.ini = os.path.join(work, "fleet.ini")
        with open(self.ini, "w") as f:
            f.write(fleet_ini(services))
        self.api_port = 18000 + secrets.randbelow(900)
        self.password = "Realism-" + secrets.token_hex(8)
        env = dict(os.environ, DECNET_ADMIN_PASSWORD=self.password)
        self.log = open(os.path.join(work, "decnet-serve.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", self.ini, "--data-dir", self.data, "--port-offset", "0",
             "--api", f"127.0.0.1:{self.api_port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout_s=30):
        if not wire.wait_port("127.0.0.1", self.api_port, timeout_s=timeout_s, alive=self.alive):
            raise RuntimeError("decnet serve did not start: " + self.log_tail())

    def personas(self):
        """name → the decky as `/api/v1/deckies` shows it (hostname, os…)."""
        base = f"http://127.0.0.1:{self.api_port}/api/v1"
        req = urllib.request.Request(
            base + "/auth/login",
            data=json.dumps({"username": "admin", "password": self.password}).encode(),
            headers={"content-type": "application/json"},
        )
        token = json.load(urllib.request.urlopen(req, timeout=10))["access_token"]
        req = urllib.request.Request(base + "/deckies", headers={"authorization": "Bearer " + token})
        return {d["name"]: d for d in json.load(urllib.request.urlopen(req, timeout=10))}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.work, "decnet-serve.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""
