#!/usr/bin/env bash
# The Debian package, end to end (root): cargo-deb builds decnet.deb from
# the already-built debug binary (--no-build), dpkg installs it, the suite
# checks the files, the `decnet` system user and the state directory,
# `systemd-analyze verify` and the offline `systemd-analyze security`
# score of both units (fails above MAX_EXPOSURE), then starts decnet the
# way decnet.service would — its ExecStartPre and ExecStart read from the
# installed unit, its EnvironmentFile, as user decnet with only
# CAP_NET_BIND_SERVICE (bounding + ambient) and no_new_privs, via setpriv —
# checks the default fleet answers on its real ports (HTTP, SSH, telnet),
# stops it with SIGTERM as `systemctl stop` would (exit 0 within
# TimeoutStopSec), and purges the package (user and state gone).
# systemd itself is not PID 1 here, so the unit's sandboxing
# (ProtectSystem, SystemCallFilter…) is scored, not enforced.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=package.sh
[ "$(id -u)" = 0 ] || { echo "$NAME: skipped (needs root for dpkg -i)"; exit 0; }
. scripts/lib/interop.sh
interop_need dpkg-deb:dpkg systemd-analyze:systemd setpriv:util-linux curl:curl nc:netcat-openbsd python3:python3 adduser:adduser
interop_workdir decnet-package
trap 'echo "$NAME: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
MAX_EXPOSURE=2.0
RUN_PID=""
finish() {
    if [ -n "$RUN_PID" ]; then kill "$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true; fi
    dpkg -P decnet >/dev/null 2>&1 || true
    interop_cleanup
}
trap finish EXIT

# cargo-deb in the default cargo home: installed once, reused after.
command -v cargo-deb >/dev/null || cargo install --locked --quiet cargo-deb
# Package the binary the tests built: its target dir and the dev profile.
case "$(cd "$(dirname "$BIN")" && pwd)" in
    */debug) export CARGO_TARGET_DIR="$(cd "$(dirname "$BIN")/.." && pwd)" ;;
    *) fail "DECNET_BIN must be a target/debug binary (got $BIN)" ;;
esac
cargo deb -p decnet --profile dev --no-build --no-strip -o "$WORK/decnet.deb" >/dev/null 2>"$WORK/cargo-deb.err" \
    || { cat "$WORK/cargo-deb.err" >&2; fail "cargo deb failed"; }
info=$(dpkg-deb --info "$WORK/decnet.deb")
grep -q "Depends: adduser" <<<"$info" || fail "package does not depend on adduser"

if dpkg -s decnet >/dev/null 2>&1; then dpkg -P decnet >/dev/null; fi
dpkg -i "$WORK/decnet.deb" >"$WORK/dpkg.out" 2>&1 || { cat "$WORK/dpkg.out" >&2; fail "dpkg -i failed"; }
dpkg -s decnet | grep -q "Status: install ok installed" || fail "decnet not installed"

# Files, user, state directory, permissions.
UNIT=/usr/lib/systemd/system/decnet.service
SENSOR=/usr/lib/systemd/system/decnet-sensor.service
for f in /usr/bin/decnet /etc/decnet/fleet.ini /etc/decnet/sensor.ini /etc/default/decnet \
         /etc/default/decnet-sensor "$UNIT" "$SENSOR" /usr/share/decnet/systemd/netns-mode.conf; do
    [ -e "$f" ] || fail "$f not installed"
done
conffiles=$(dpkg-query --showformat='${Conffiles}\n' --show decnet)
grep -q /etc/decnet/fleet.ini <<<"$conffiles" || fail "fleet.ini is not a conffile"
getent passwd decnet | grep -q ":/var/lib/decnet:/usr/sbin/nologin$" || fail "no decnet system user: $(getent passwd decnet)"
[ "$(stat -c '%U:%G %a' /var/lib/decnet)" = "decnet:decnet 700" ] || fail "/var/lib/decnet is $(stat -c '%U:%G %a' /var/lib/decnet)"
[ "$(stat -c '%U:%G %a' /etc/default/decnet)" = "root:decnet 640" ] || fail "/etc/default/decnet is $(stat -c '%U:%G %a' /etc/default/decnet)"
su -s /bin/sh -c '/usr/bin/decnet validate /etc/decnet/sensor.ini' decnet >/dev/null || fail "sensor.ini invalid"

# The units: verified, and their exposure scored offline.
systemd-analyze verify "$UNIT" "$SENSOR" 2>"$WORK/verify.err" || true
if grep -v "^$" "$WORK/verify.err" | grep -E "decnet(-sensor)?\.service" >&2; then fail "systemd-analyze verify complained"; fi
for u in "$UNIT" "$SENSOR"; do
    score=$(systemd-analyze security --offline=true "$u" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || fail "no exposure score for $u"
    python3 -c "import sys; sys.exit(0 if $score <= $MAX_EXPOSURE else 1)" || fail "$u exposure $score > $MAX_EXPOSURE"
    echo "$NAME: $(basename "$u") exposure $score (max $MAX_EXPOSURE)"
done

# Start it as decnet.service would. A free API port for this run (the
# environment file is a conffile: edited as an operator would).
API="127.0.0.1:$(( 33000 + RANDOM % 500 ))"
echo "DECNET_API=$API" >>/etc/default/decnet
echo "DECNET_ADMIN_PASSWORD=package-admin-pw" >>/etc/default/decnet
unit_cmd() { sed -n "s/^$1=//p" "$UNIT" | head -1; }
PRE=$(unit_cmd ExecStartPre); START=$(unit_cmd ExecStart)
[ "$(unit_cmd User)" = decnet ] && [ "$(unit_cmd AmbientCapabilities)" = CAP_NET_BIND_SERVICE ] \
    || fail "the unit's User/AmbientCapabilities changed; update this suite"
# as_unit CMD…: replaces the (sub)shell it runs in with CMD as the unit
# would run it; call it in a subshell or in the background.
as_unit() {
    set -a; . /etc/default/decnet; set +a; cd /var/lib/decnet
    exec setpriv --reuid=decnet --regid=decnet --init-groups --no-new-privs \
        --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
        --bounding-set=-all,+net_bind_service -- "$@"
}
# shellcheck disable=SC2086 # the unit's command line, split as systemd does for plain words
(as_unit $PRE) >/dev/null || fail "ExecStartPre ($PRE) failed"
# shellcheck disable=SC2086
as_unit $START >"$WORK/unit.out" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 150); do
    curl -sf -o /dev/null "http://$API/api/v1/livez" && break
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$WORK/unit.out" >&2; fail "decnet (as the unit) died"; }
    sleep 0.1
done
grep -q "deckies up" "$WORK/unit.out" || { cat "$WORK/unit.out" >&2; fail "no decky up"; }
grep -q "shifting every decky port" "$WORK/unit.out" && fail "CAP_NET_BIND_SERVICE did not let it bind ports < 1024"
code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' http://127.0.50.10/) || true
[ -n "$code" ] && [ "$code" != 000 ] || fail "web01:80 does not answer HTTP"
banner=$(timeout 5 nc -w 2 127.0.50.10 22 </dev/null | head -c 64 || true)
case "$banner" in SSH-2.0-*) ;; *) fail "web01:22 banner '$banner'";; esac
(exec 3<>/dev/tcp/127.0.50.10/23) 2>/dev/null || fail "web01:23 (telnet) not listening"
(exec 3<>/dev/tcp/127.0.50.20/3306) 2>/dev/null || fail "db01:3306 not listening"
# What it wrote belongs to the service user; the process really is it.
[ "$(stat -c %U /var/lib/decnet/decnet.db)" = decnet ] || fail "decnet.db not owned by decnet"
[ "$(ps -o user=,comm= -p "$RUN_PID" | tr -s ' ')" = "decnet decnet" ] || fail "not decnet running as user decnet: $(ps -o user=,comm= -p "$RUN_PID")"

# `systemctl stop`: SIGTERM, exit 0 well within TimeoutStopSec.
t0=$(date +%s)
kill -TERM "$RUN_PID"
rc=0; wait "$RUN_PID" || rc=$?
RUN_PID=""
took=$(( $(date +%s) - t0 ))
[ "$rc" = 0 ] || { cat "$WORK/unit.out" >&2; fail "exit status $rc after SIGTERM"; }
[ "$took" -le 10 ] || fail "took ${took}s to stop"

dpkg -P decnet >"$WORK/dpkg.out" 2>&1 || { cat "$WORK/dpkg.out" >&2; fail "dpkg -P failed"; }
[ ! -e /usr/bin/decnet ] || fail "/usr/bin/decnet left after purge"
! getent passwd decnet >/dev/null || fail "decnet user left after purge"
[ ! -e /var/lib/decnet ] || fail "/var/lib/decnet left after purge"
echo "$NAME: OK — installed, units verified and scored, default fleet answered as user decnet, stopped in ${took}s, purged"
