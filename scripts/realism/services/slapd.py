"""OpenLDAP slapd 2.5 (mdb database for dc=corp,dc=local with Debian's
schemas, anonymous reads allowed as Debian's default ACL does) against the
`ldap` decky with the same base DN."""

import os

from lib.clients import run_client
from lib.daemon import run
from lib.wire import tcp_probe

NAME = "slapd"
PACKAGES = ["slapd", "ldap-utils"]
TOOLS = ["slapd", "ldapsearch", "slapadd"]
PORTS = [("tcp", 389)]
BASE = "dc=corp,dc=local"
DECKY_SERVICES = ["ldap"]
DECKY_KEYS = {"ldap": {"base_dn": BASE}}
NMAP_SCRIPTS = ["ldap-rootdse"]


def start(svc):
    db = os.path.join(svc.work, "db")
    os.makedirs(db)
    conf = os.path.join(svc.work, "slapd.conf")
    with open(conf, "w") as f:
        f.write(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {svc.work}/slapd.pid
argsfile {svc.work}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 1073741824
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
rootpw Realism-Ldap-2024
directory {db}
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
""")
    ldif = os.path.join(svc.work, "base.ldif")
    with open(ldif, "w") as f:
        f.write(_site_ldif())
    run(["slapadd", "-f", conf, "-l", ldif])
    svc.spawn("slapd", ["slapd", "-d", "0", "-f", conf, "-h", f"ldap://{svc.real_ip}:389/"])


# The directory the decky invents for dc=corp,dc=local, loaded into the
# real slapd so that content is not what is measured.
USERS = [
    ("jsmith", "John Smith", "Systems Administrator"),
    ("mgarcia", "Maria Garcia", "Accountant"),
    ("tnguyen", "Thanh Nguyen", "Developer"),
    ("svc_backup", "Backup Service", "Service account"),
]


def _site_ldif():
    out = [
        f"dn: {BASE}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: corp\ndc: corp\n",
        f"dn: cn=admin,{BASE}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: admin\n"
        "description: LDAP administrator\nuserPassword: Realism-Ldap-2024\n",
        f"dn: ou=People,{BASE}\nobjectClass: organizationalUnit\nou: People\n",
        f"dn: ou=Groups,{BASE}\nobjectClass: organizationalUnit\nou: Groups\n",
    ]
    for i, (uid, cn, title) in enumerate(USERS):
        out.append(
            f"dn: uid={uid},ou=People,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
            f"objectClass: shadowAccount\nuid: {uid}\ncn: {cn}\nsn: {cn.split()[-1]}\ntitle: {title}\n"
            f"mail: {uid}@corp.local\nuidNumber: {10001 + i}\ngidNumber: 10000\nhomeDirectory: /home/{uid}\n"
            "loginShell: /bin/bash\n")
    out.append(f"dn: cn=admins,ou=Groups,{BASE}\nobjectClass: posixGroup\ncn: admins\ngidNumber: 10000\n"
               "memberUid: jsmith\nmemberUid: svc_backup\n")
    return "\n".join(out)


def _search(*args):
    return lambda t: run_client(["ldapsearch", "-x", "-H", f"ldap://{t.ip}", "-o", "nettimeout=10", *args])


def _raw(payload):
    return tcp_probe(389, payload)

def sessions():
    return [
        ("rootDSE", _search("-s", "base", "-b", "", "+")),
        ("rootDSE namingContexts", _search("-s", "base", "-b", "", "namingContexts")),
        ("rootDSE supportedLDAPVersion", _search("-s", "base", "-b", "", "supportedLDAPVersion", "supportedSASLMechanisms")),
        ("subschema entry", _search("-s", "base", "-b", "cn=Subschema", "objectClass")),
        ("base entry", _search("-s", "base", "-b", BASE)),
        ("one-level under base (dn only)", _search("-s", "one", "-b", BASE, "dn")),
        ("nonexistent base", _search("-b", f"ou=nothere,{BASE}")),
        ("bad filter", _search("-b", BASE, "(objectClass=")),
        ("wrong admin password", _search("-D", f"cn=admin,{BASE}", "-w", "wrongpass", "-b", BASE, "-s", "base")),
        ("unknown bind DN", _search("-D", f"cn=nobody,{BASE}", "-w", "x", "-b", BASE, "-s", "base")),
        ("bind DN without password", _search("-D", f"cn=admin,{BASE}", "-w", "", "-b", BASE, "-s", "base")),
        ("whoami (anonymous)", lambda t: run_client(["ldapwhoami", "-x", "-H", f"ldap://{t.ip}"])),
        ("raw garbage", _raw(b"\x30\x84\xff\xff\xff\xff\x02\x01")),
        ("raw HTTP request", _raw(b"GET / HTTP/1.0\r\n\r\n")),
        ("raw unbind", _raw(b"\x30\x05\x02\x01\x01\x42\x00")),
    ]


def ldap_csn_and_uuid(text, target):
    """entryUUID, entryCSN and the timestamps in operational attributes are
    generated per entry and per server at write time."""
    import re

    text = re.sub(r"(entryUUID: )\S+", r"\1<UUID>", text)
    text = re.sub(r"(entryCSN|contextCSN): \S+", r"\1: <CSN>", text)
    return re.sub(r"((?:create|modify)Timestamp: )\d{14}Z", r"\1<TS>", text)


NORMALISERS = [ldap_csn_and_uuid]
