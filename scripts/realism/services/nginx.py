"""nginx 1.22.1 (Debian's nginx.conf and default site, only the listen
address and paths changed) against an `http` decky with the nginx site and
Server header."""

import os
import re
import shutil

from lib import debian, http

NAME = "nginx"
PACKAGES = ["nginx", "curl"]
TOOLS = ["nginx", "curl"]
PORTS = [("tcp", 80)]
DECKY_SERVICES = ["http"]
DECKY_KEYS = {"http": {"server_header": f"nginx/{debian.upstream('nginx') or '1.22.1'}", "site": "nginx"}}
NMAP_SCRIPTS = ["http-headers", "http-methods"]


def start(svc):
    with open("/etc/nginx/nginx.conf") as f:
        conf = f.read()
    # The document root nginx's postinst makes when it is the only web
    # server (apache2, installed here too, would put its own index.html in
    # /var/www/html).
    www = os.path.join(svc.work, "www")
    os.makedirs(www)
    shutil.copy("/usr/share/nginx/html/index.html", os.path.join(www, "index.nginx-debian.html"))
    site = f"""server {{
	listen {svc.real_ip}:80 default_server;
	root {www};
	index index.html index.htm index.nginx-debian.html;
	server_name _;
	location / {{
		try_files $uri $uri/ =404;
	}}
}}
"""
    with open(os.path.join(svc.work, "default-site"), "w") as f:
        f.write(site)
    conf = conf.replace("include /etc/nginx/sites-enabled/*;", f"include {svc.work}/default-site;")
    conf = re.sub(r"^pid .*;", f"pid {svc.work}/nginx.pid;", conf, flags=re.M)
    conf = conf.replace("/var/log/nginx/", f"{svc.work}/")
    path = os.path.join(svc.work, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    svc.spawn("nginx", ["nginx", "-c", path, "-g", "daemon off;"])


def sessions():
    return http.sessions()


NORMALISERS = [http.file_validators]
