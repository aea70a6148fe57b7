"""Running real client programs (ssh, mysql, psql, curl…) against a target,
the same way for both sides: same argv, same input, same timeout."""

import os
import subprocess

CLIENT_TIMEOUT_S = 25


def run_client(argv, stdin=None, timeout=CLIENT_TIMEOUT_S, env=None, with_status=True, cwd=None):
    """Runs a client; returns its stdout+stderr as text, prefixed with its
    exit status (a client that fails differently is a difference too)."""
    full_env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    full_env.pop("TERM", None)
    if env:
        full_env.update(env)
    try:
        r = subprocess.run(
            argv,
            input=stdin.encode() if isinstance(stdin, str) else stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
        )
        out = r.stdout.decode("utf-8", "replace")
        status = f"exit={r.returncode}\n" if with_status else ""
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        status = f"timeout after {timeout}s\n"
    except FileNotFoundError:
        return f"client {argv[0]} not installed\n"
    return status + out
