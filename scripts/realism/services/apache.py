"""Apache 2.4 (Debian's /etc/apache2 tree copied, ports.conf bound to one
address) against an `http` decky with the Apache site and Server header."""

import os
import shutil

from lib import debian, http

NAME = "apache"
PACKAGES = ["apache2", "curl"]
TOOLS = ["apache2", "curl"]
PORTS = [("tcp", 80)]
DECKY_SERVICES = ["http"]
DECKY_KEYS = {"http": {"server_header": f"Apache/{debian.upstream('apache2') or '2.4.62'} (Debian)", "site": "apache"}}
NMAP_SCRIPTS = ["http-headers", "http-methods"]


def start(svc):
    root = os.path.join(svc.work, "apache2")
    shutil.copytree("/etc/apache2", root, symlinks=True)
    with open(os.path.join(root, "ports.conf"), "w") as f:
        f.write(f"Listen {svc.real_ip}:80\n")
    run_dir = os.path.join(svc.work, "run")
    os.makedirs(run_dir)
    setup = [
        ". /etc/apache2/envvars",
        f"export APACHE_PID_FILE={run_dir}/apache2.pid APACHE_RUN_DIR={run_dir} APACHE_LOCK_DIR={run_dir} APACHE_LOG_DIR={svc.work}",
    ]
    svc.spawn("apache2", ["apache2", "-d", root, "-DFOREGROUND"], setup=setup)


def sessions():
    return http.sessions()


NORMALISERS = [http.file_validators, http.allow_method_order, http.apache_status_state]
