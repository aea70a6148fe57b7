"""OpenSSH 9.2p1 + bash 5.2 (Debian's sshd with its shipped sshd_config,
PAM and MOTD) against the `ssh` decky: exec commands an attacker runs first,
PTY sessions (root and a normal user) driven line by line and typed ahead,
wrong passwords, and the algorithm lists behind HASSHServer.

The real sshd runs in its own mount namespace where /root is a fresh
Debian root home (base-files' dot.bashrc/dot.profile) and /etc/passwd,
shadow and group carry one extra user, `deploy`, with a home made from
/etc/skel: the build machine's own accounts and dotfiles stay out of it.
It authenticates both users by key (no password is set on this machine);
the decky by the passwords in its fleet section. What follows
authentication is what is compared.
"""

import os
import re
import select
import shutil
import subprocess
import time

from lib.clients import run_client
from lib.daemon import run
from lib.wire import tcp_probe

NAME = "ssh"
PACKAGES = ["openssh-server", "openssh-client", "sshpass"]
TOOLS = ["sshd", "ssh", "sshpass", "ssh-keygen"]
PORTS = [("tcp", 22)]
ROOT_PW = "Realism-Root-2024"
USER = "deploy"
USER_PW = "Realism-User-2024"
DECKY_SERVICES = ["ssh"]
DECKY_KEYS = {"ssh": {"password": ROOT_PW, "user": USER, "user_password": USER_PW}}
NMAP_SCRIPTS = ["ssh2-enum-algos", "ssh-auth-methods"]

# What attackers run first after a login (Cowrie/Kippo session logs and
# their issue trackers' detection checks); one exec channel each.
EXEC_COMMANDS = [
    "id", "whoami", "pwd", "echo $SHELL", "echo $0", "uname -s -m -o", "uname -a", "cat /etc/os-release",
    "cat /etc/issue", "cat /etc/issue.net", "hostname", "cat /etc/hostname", "ls /", "ls -d /etc/ssh /home /srv",
    "echo hello; echo $((6*7))", "printf 'a\\tb\\n'", "cd /tmp && pwd", "unknowncmd", "busybox",
    "ls /nonexistent", "cat /nonexistent", "cat /etc/shells", "type ls cd", "echo -n x; echo -e 'a\\nb'",
    "exit 3", "getconf LONG_BIT", "cat /proc/sys/kernel/ostype", "ls /home", "id -un; id -gn; groups",
    "cat /etc/debian_version | cut -d. -f1", "which ls bash sh", "test -x /usr/bin/perl && echo perl",
    "echo $HOME $USER $LOGNAME", "umask", "ulimit -n", "tty", "ssh -V", "wget", "curl",
    "ls /root", "sudo -n true", "env | grep -c ^PATH=", "echo $PATH",
]

# Public honeypot-detection checks (bots and scanners that look for
# Cowrie/Kippo), each with where it was reported.
KNOWN_CHECKS = [
    ("cowrie#938 deleting a missing file must fail", "rm /tmp/realism-missing-file"),
    ("cowrie#938 creating a file under /proc must fail", "touch /proc/realism"),
    ("cowrie#1512 zhtrap: /bin/busybox ZONESEC", "/bin/busybox ZONESEC"),
    ("cowrie#1512 zhtrap: ps aux header", "ps aux | head -1"),
    ("cowrie#1102 home directories", "ls -a /home"),
    ("cowrie#725 TSM: free header", "free -m | head -1"),
    ("shell name of the login", "ps -p $$ -o comm="),
    ("cowrie#1102 ~/.profile", "head -3 ~/.profile"),
]
RAW_CHECKS = [
    # Kippo/Cowrie detectors (metasploit ssh_honeypot, nuclei's cowrie
    # template) send a bad identification string and read the reply.
    ("kippo/cowrie detector: bad identification string", b"SSH-1337\r\n"),
    ("kippo/cowrie detector: identification then blank lines", b"SSH-2.0-OpenSSH_9.2\r\n\r\n\r\n"),
    ("SSH-1.5 client (protocol 1)", b"SSH-1.5-OpenSSH_9.2\r\n"),
]

PTY_SCRIPT = ["echo mark-1", "id", "cd /tmp", "pwd", "echo mark-2", "unknowncmd", "exit"]


def start(svc):
    keys = os.path.join(svc.work, "keys")
    os.makedirs(keys)
    for kind, bits in (("rsa", "3072"), ("ecdsa", "256"), ("ed25519", "256")):
        run(["ssh-keygen", "-q", "-t", kind, "-b", bits, "-N", "", "-f", f"{keys}/ssh_host_{kind}_key"])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{keys}/client"])
    auth = os.path.join(svc.work, "authorized")
    os.makedirs(auth)
    for user in ("root", USER):
        shutil.copy(f"{keys}/client.pub", f"{auth}/{user}")
    os.chmod(auth, 0o755)
    # A fresh Debian root home and a skel-made user home.
    root_home = os.path.join(svc.work, "root-home")
    os.makedirs(root_home, mode=0o700)
    shutil.copy("/usr/share/base-files/dot.bashrc", f"{root_home}/.bashrc")
    shutil.copy("/usr/share/base-files/dot.profile", f"{root_home}/.profile")
    user_home = os.path.join(svc.work, "user-home")
    shutil.copytree("/etc/skel", user_home)
    etc = os.path.join(svc.work, "etc")
    os.makedirs(etc)
    # The build machine's own uid-1000 account would shadow ours: the
    # namespace's account files hold Debian's system accounts plus
    # `deploy`, made as debian-installer makes the first user (its
    # supplementary groups included).
    first_user_groups = ("adm", "cdrom", "sudo", "dip", "plugdev")
    with open("/etc/passwd") as f:
        passwd = [l for l in f if int(l.split(":")[2]) < 1000 or int(l.split(":")[2]) == 65534]
    passwd.append(f"{USER}:x:1000:1000:,,,:/home/{USER}:/bin/bash\n")
    with open(f"{etc}/passwd", "w") as f:
        f.writelines(passwd)
    group = []
    with open("/etc/group") as f:
        for l in f:
            name, pw, gid, members = l.rstrip("\n").split(":")
            if int(gid) >= 1000 and int(gid) != 65534:
                continue
            if name in first_user_groups:
                members = ",".join([m for m in members.split(",") if m] + [USER])
            group.append(f"{name}:{pw}:{gid}:{members}\n")
    group.append(f"{USER}:x:1000:\n")
    with open(f"{etc}/group", "w") as f:
        f.writelines(group)
    names = {l.split(":")[0] for l in passwd}
    with open("/etc/shadow") as f:
        shadow = [l for l in f if l.split(":")[0] in names and not l.startswith(f"{USER}:")]
    shadow.append(f"{USER}:*:19700:0:99999:7:::\n")
    with open(f"{etc}/shadow", "w") as f:
        f.writelines(shadow)
    os.chmod(f"{etc}/shadow", 0o640)
    with open(f"{etc}/hostname", "w") as f:
        f.write(svc.hostname + "\n")
    homes = os.path.join(svc.work, "homes")
    os.makedirs(homes)
    os.makedirs("/home", exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)
    conf = os.path.join(svc.work, "sshd_config")
    with open("/etc/ssh/sshd_config") as f:
        base = f.read()
    with open(conf, "w") as f:
        # Debian's file first: sshd keeps the first value it reads for a
        # keyword, so our overrides go before it.
        f.write(f"ListenAddress {svc.real_ip}:22\n")
        for kind in ("rsa", "ecdsa", "ed25519"):
            f.write(f"HostKey {keys}/ssh_host_{kind}_key\n")
        f.write(f"PidFile {svc.work}/sshd.pid\nAuthorizedKeysFile {auth}/%u\nStrictModes no\n")
        f.write(base)
    svc.spawn("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", conf], binds=[
        (root_home, "/root"), (f"{etc}/passwd", "/etc/passwd"), (f"{etc}/group", "/etc/group"),
        (f"{etc}/shadow", "/etc/shadow"), (f"{etc}/hostname", "/etc/hostname"), (homes, "/home"),
    ], setup=[
        f"mkdir -p /home/{USER}", f"mount --bind {user_home} /home/{USER}", f"chown -R 1000:1000 /home/{USER}",
        # systemd's default soft limit for services and their sessions.
        "ulimit -n 1024",
    ])


SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10"]


def _login(target, user):
    """argv prefix that logs `user` in: key on the real server, the
    configured password on the decky (same client, same options)."""
    if target.role == "real":
        key = os.path.join(target.svc.work, "keys", "client")
        return ["ssh", *SSH_OPTS, "-i", key, "-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes",
                f"{user}@{target.ip}"]
    pw = ROOT_PW if user == "root" else USER_PW
    return ["sshpass", "-p", pw, "ssh", *SSH_OPTS, "-o", "PubkeyAuthentication=no", f"{user}@{target.ip}"]


def _exec(cmd, user="root"):
    return lambda t: run_client([*_login(t, user), cmd])


def _wrong_password(user):
    def probe(t):
        return run_client(["sshpass", "-p", "wrong-Password-1", "ssh", *SSH_OPTS, "-o", "PubkeyAuthentication=no",
                           "-o", "NumberOfPasswordPrompts=1", f"{user}@{t.ip}", "id"])
    return probe


PROMPT = re.compile(rb"[#$] (?:\x1b\[[0-9;?]*[a-zA-Z])*$")


def _read_until(proc, pattern, timeout_s, buf):
    deadline = time.monotonic() + timeout_s
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            buf += chunk
            if pattern is not None and pattern.search(bytes(buf)):
                return True
    return False


def _pty_session(user, typed_ahead):
    """A PTY shell (`ssh -tt`, TERM=xterm-256color): either each line typed
    after the prompt appears, as a person does, or all lines sent at once
    (pasted / typed ahead, as bots do)."""
    def probe(t):
        env = dict(os.environ, TERM="xterm-256color", LC_ALL="C.UTF-8")
        proc = subprocess.Popen([*_login(t, user)[:-1], "-tt", _login(t, user)[-1]], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        buf = bytearray()
        try:
            if typed_ahead:
                proc.stdin.write("".join(l + "\n" for l in PTY_SCRIPT).encode())
                proc.stdin.flush()
                _read_until(proc, None, 6, buf)
            else:
                _read_until(proc, PROMPT, 10, buf)
                for line in PTY_SCRIPT:
                    start = len(buf)
                    proc.stdin.write((line + "\n").encode())
                    proc.stdin.flush()
                    if line == "exit":
                        _read_until(proc, None, 3, buf)
                        break
                    _wait_prompt_after(proc, buf, start)
        finally:
            proc.kill()
            proc.wait()
        return _printable_tty(bytes(buf))
    return probe


def _wait_prompt_after(proc, buf, start):
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if PROMPT.search(bytes(buf[start:])) and b"\n" in buf[start:]:
            return
        _read_until(proc, None, 0.3, buf)


def _printable_tty(data):
    text = data.decode("utf-8", "replace")
    text = text.replace("\x1b", "\\e").replace("\x07", "\\a").replace("\r", "\\r")
    return text


def sessions():
    out = [(f"exec as root: {c}", _exec(c)) for c in EXEC_COMMANDS]
    out += [(f"honeypot check ({name}): {c}", _exec(c)) for name, c in KNOWN_CHECKS]
    out += [(f"honeypot check ({name})", _raw(payload)) for name, payload in RAW_CHECKS]
    out += [
        ("exec as user: id; pwd; ls -A ~", _exec("id; pwd; ls -A ~", USER)),
        ("exec as user: cat ~/.bashrc | head -5", _exec("cat ~/.bashrc | head -5", USER)),
        ("exec as user: sudo -n id", _exec("sudo -n id", USER)),
        ("exec as user: cat /etc/shadow", _exec("cat /etc/shadow", USER)),
        ("pty root, line by line", _pty_session("root", False)),
        ("pty user, line by line", _pty_session(USER, False)),
        ("pty root, typed ahead", _pty_session("root", True)),
        ("wrong password root", _wrong_password("root")),
        ("wrong password unknown user", _wrong_password("oracle")),
        ("ssh -v handshake (server version, kex)", lambda t: _verbose_handshake(t)),
    ]
    return out


def _raw(payload):
    return tcp_probe(22, payload)

def _verbose_handshake(t):
    out = run_client(["ssh", "-vv", *SSH_OPTS, "-o", "BatchMode=yes", "-o", "PreferredAuthentications=none",
                      f"probe@{t.ip}", "true"])
    keep = [l for l in out.splitlines() if re.search(r"Remote protocol|compat|kex: algorithm|kex: host key|"
                                                      r"kex: server->client|kex: client->server|Authentications that|"
                                                      r"SSH2_MSG_EXT_INFO|kex_input_ext_info|Permission denied", l)]
    return "\n".join(keep) + "\n"


def host_key_material(text, target):
    """Host key fingerprints, key blobs and session digests: generated
    per machine at install time, so every real server has its own (MD5
    fingerprints with colons as ssh-keygen prints them, without as nmap's
    ssh-hostkey does after the key size; the size and type stay compared)."""
    text = re.sub(r"SHA256:[A-Za-z0-9+/]{43}", "SHA256:<FP>", text)
    text = re.sub(r"\b(?:[0-9a-f]{2}:){15}[0-9a-f]{2}\b", "<MD5FP>", text)
    text = re.sub(r"(?m)^(\s*\d+ )[0-9a-f]{32}( \()", r"\1<MD5FP>\2", text)
    return re.sub(r"AAAA[A-Za-z0-9+/=]{40,}", "<KEY>", text)


def ssh_client_noise(text, target):
    """The client's own debug lines that name our key file or the local
    endpoint: properties of the test client, not of the server."""
    text = re.sub(r"debug\d: .*(?:identity file|Offering|Trying private key|Will attempt key).*\n", "", text)
    return re.sub(r"Connection established\.|Local version string.*", "", text)


def last_login(text, target):
    """'Last login: <date> from <address>' depends on who logged in before
    and when; only its presence and shape are kept."""
    return re.sub(r"Last login: [^\n\\]*", "Last login: <LAST>", text)


def debian_kernel_build(text, target):
    """The kernel build string (`#1 SMP PREEMPT_DYNAMIC Debian 6.1.x-y
    (date)`) changes with each kernel point release, like the release."""
    return re.sub(r"#\d+ SMP (?:PREEMPT_DYNAMIC )?Debian [0-9.]+-\d+ \(\d{4}-\d\d-\d\d\)", "<KERNEL_BUILD>", text)


# Top-level entries of a Debian 12 install (debootstrap + installer).
DEBIAN_ROOT = {"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "lost+found", "media",
               "mnt", "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var", "vmlinuz",
               "vmlinuz.old", "initrd.img", "initrd.img.old"}


def build_machine_extras(text, target):
    """Files of the machine the suite runs on that a Debian 12 server
    does not have (its extra top-level directories, and the login shells
    of packages installed here for development, like tmux): the real
    server borrows this machine's filesystem, the comparison is with a
    plain Debian install."""
    if target.role != "real":
        return text
    extras = {e for e in os.listdir("/") if e not in DEBIAN_ROOT}
    lines = text.split("\n")
    return "\n".join(l for l in lines if l not in extras and l != "/usr/bin/tmux")


# One byte as `lib.wire.printable` shows it (a line feed is `\\n` and a break).
_WIRE_BYTE = r"(?:\\x[0-9a-f]{2}|\\n\n|\\[rt\\]|[^\\\n])"


def kexinit_cookie(text, target):
    """The 16-byte cookie of the server's KEXINIT: random per connection
    (RFC 4253 §7.1); the packet's length, padding and lists stay compared."""
    return re.sub(rf"(SSH-2\.0-[^\n]*\\r\\n\n{_WIRE_BYTE}{{5}}\\x14){_WIRE_BYTE}{{16}}", r"\1<COOKIE>", text)


# kernel.pid_max as systemd sets it on 64-bit Debian 12 (4194304).
DEBIAN_PID_MAX = 4194304


def pid_column_width(text, target):
    """procps sizes ps's PID column from /proc/sys/kernel/pid_max: 5 wide
    with the kernel's default 32768 (this machine's container), 7 with the
    4194304 systemd sets at boot on every 64-bit Debian 12. The real
    server's header is shown as it is under Debian's value; the decky
    imitates that machine, not this one."""
    if target.role != "real":
        return text
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            here = len(f.read().strip())
    except OSError:
        return text
    extra = len(str(DEBIAN_PID_MAX)) - here
    if extra <= 0:
        return text
    return re.sub(r"(?m)^USER( +)PID ", lambda m: "USER" + m.group(1) + " " * extra + "PID ", text)


def openssl_patch_level(text, target):
    """OpenSSL's point release and its date in `ssh -V` (libssl3's security
    updates come and go independently of openssh's, like the kernel's):
    the major and minor version stay compared."""
    return re.sub(r"OpenSSL (\d+\.\d+)\.\d+[a-z]? +\d{1,2} [A-Z][a-z]{2} \d{4}", r"OpenSSL \1.<PATCH>", text)


NORMALISERS = [build_machine_extras, host_key_material, ssh_client_noise, last_login, debian_kernel_build,
               kexinit_cookie, pid_column_width, openssl_patch_level]
