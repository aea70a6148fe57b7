"""Real daemons started without systemd and stopped by their own PID.

Each daemon runs in the foreground under `unshare --uts --mount`: its own
UTS namespace carries the hostname of the decky it is compared with (two
machines named alike, so no hostname normalisation is needed), and its own
mount namespace lets a service hide this build machine's files behind a
fresh Debian directory (e.g. a pristine /root for the SSH comparison).
Every daemon leads its own process group, which is what we signal at the
end: the group id is the PID we started, so nothing else is touched.
"""

import os
import signal
import subprocess
import time


class Daemon:
    """One started daemon (its process group) and its log file."""

    def __init__(self, name, argv, log_path, hostname, binds=(), env=None, user=None, setup=()):
        self.name = name
        self.log_path = log_path
        script = ["set -e", f"hostname {sh_quote(hostname)}"]
        for src, dst in binds:
            script.append(f"mount --bind {sh_quote(src)} {sh_quote(dst)}")
        script.extend(setup)
        cmd = " ".join(sh_quote(a) for a in argv)
        if user:
            cmd = f"exec setpriv --reuid={user} --regid={user} --init-groups {cmd}"
        else:
            cmd = "exec " + cmd
        script.append(cmd)
        full = ["unshare", "--uts", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script)]
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, grace_s=5.0):
        """SIGTERM to the group we created, SIGKILL after `grace_s`."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
        # Children a daemon leaves behind (workers) are still in the group.
        _signal_group(self.proc.pid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()

    def log_tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def sh_quote(s):
    s = str(s)
    if s and all(c.isalnum() or c in "@%_+=:,./-" for c in s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def run(argv, **kw):
    """A setup command (initdb, key generation…): fails loudly."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    r = subprocess.run(argv, timeout=kw.pop("timeout", 120), **kw)
    if r.returncode != 0:
        out = r.stdout.decode("utf-8", "replace") if r.stdout else ""
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {r.returncode}: {out[-800:]}")
    return r


def stop_escapees(work):
    """Daemons' helpers that leave our process groups (samba-dcerpcd and its
    rpcd_* workers make themselves session leaders) still name this run's
    work directory — a fresh mkdtemp path — in their command line: each is
    stopped by its PID. Returns what was stopped."""
    stopped = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if work + "/" in cmdline:
                try:
                    os.kill(int(entry), sig)
                    stopped.append(cmdline.split(" ", 1)[0])
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.5)
    return stopped
