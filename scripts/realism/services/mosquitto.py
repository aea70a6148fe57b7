"""Mosquitto 2.0.11 (Debian's mosquitto.conf plus one listener on our
address with a password file, as a broker reachable from the network must
have in 2.0) against the `mqtt` decky with the same user."""

import os

from lib import debian
from lib.clients import run_client
from lib.daemon import run
from lib.wire import tcp_probe

NAME = "mosquitto"
PACKAGES = ["mosquitto", "mosquitto-clients"]
TOOLS = ["mosquitto", "mosquitto_pub", "mosquitto_sub", "mosquitto_passwd"]
PORTS = [("tcp", 1883)]
MQTT_USER = "admin"
MQTT_PW = "Realism-Mqtt-2024"
DECKY_SERVICES = ["mqtt"]
DECKY_KEYS = {"mqtt": {"version": debian.upstream("mosquitto") or "2.0.11", "user": MQTT_USER, "password": MQTT_PW}}
NMAP_SCRIPTS = ["mqtt-subscribe"]


def start(svc):
    pwfile = os.path.join(svc.work, "passwd")
    run(["mosquitto_passwd", "-c", "-b", pwfile, MQTT_USER, MQTT_PW])
    run(["chown", "mosquitto:mosquitto", pwfile])
    with open("/etc/mosquitto/mosquitto.conf") as f:
        base = [l for l in f if not l.startswith(("include_dir", "pid_file", "log_dest", "persistence_location"))]
    conf = os.path.join(svc.work, "mosquitto.conf")
    with open(conf, "w") as f:
        f.writelines(base)
        f.write(f"\npid_file {svc.work}/mosquitto.pid\nlog_dest stderr\npersistence_location {svc.work}/\n"
                f"listener 1883 {svc.real_ip}\npassword_file {pwfile}\nallow_anonymous false\n")
    os.chmod(svc.work, 0o777)
    svc.spawn("mosquitto", ["mosquitto", "-c", conf])


def _sub(topic, user=None, pw=None, count=1):
    def probe(t):
        argv = ["mosquitto_sub", "-h", t.ip, "-p", "1883", "-t", topic, "-C", str(count), "-W", "4", "-v", "-i", "realism-probe"]
        if user:
            argv += ["-u", user, "-P", pw]
        return run_client(argv)
    return probe


def _raw(payload):
    return tcp_probe(1883, payload)

def sessions():
    return [
        ("sub anonymous", _sub("#")),
        ("sub wrong password", _sub("#", MQTT_USER, "wrongpass")),
        ("sub $SYS/broker/version", _sub("$SYS/broker/version", MQTT_USER, MQTT_PW)),
        ("pub anonymous", lambda t: run_client(["mosquitto_pub", "-h", t.ip, "-t", "x", "-m", "y", "-i", "realism-probe"])),
        ("pub authenticated", lambda t: run_client(["mosquitto_pub", "-h", t.ip, "-t", "realism/x", "-m", "y", "-u", MQTT_USER, "-P", MQTT_PW, "-i", "realism-probe"])),
        ("raw CONNECT v3.1.1 anonymous", _raw(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd")),
        ("raw CONNECT v5 anonymous", _raw(b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x04abcd")),
        ("raw CONNECT v3.1 (MQIsdp)", _raw(b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x04abcd")),
        ("raw CONNECT bad protocol name", _raw(b"\x10\x10\x00\x04MQTX\x04\x02\x00\x3c\x00\x04abcd")),
        ("raw CONNECT protocol level 9", _raw(b"\x10\x10\x00\x04MQTT\x09\x02\x00\x3c\x00\x04abcd")),
        ("raw PINGREQ before CONNECT", _raw(b"\xc0\x00")),
        ("raw PUBLISH before CONNECT", _raw(b"\x30\x05\x00\x01xyz")),
        ("raw truncated remaining length", _raw(b"\x10\xff\xff\xff\xff")),
        ("raw HTTP request", _raw(b"GET / HTTP/1.0\r\n\r\n")),
    ]
