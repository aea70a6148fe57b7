"""What apt installed here: decky personas are pinned to these versions."""

import functools
import subprocess


@functools.lru_cache(maxsize=None)
def version(package):
    """dpkg's version of an installed package ('' when not installed)."""
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def upstream(package):
    """'1:10.11.19-0+deb12u1' → '10.11.19'."""
    v = version(package)
    v = v.split(":", 1)[-1]
    return v.split("-", 1)[0].split("+", 1)[0]


def debian_revision(package):
    """'1:10.11.19-0+deb12u1' → '0+deb12u1'."""
    v = version(package).split(":", 1)[-1]
    return v.split("-", 1)[1] if "-" in v else ""
