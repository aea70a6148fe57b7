#!/usr/bin/env bash
# The container image, built and run for real with rootful podman (root):
#  * the base image is made here from Debian packages (debootstrap
#    --variant=minbase bookworm, trimmed like debian:bookworm-slim,
#    imported under a local name): Docker Hub is unreachable on the build
#    machines. The rootfs tarball is cached in /var/cache/decnet-container;
#  * packaging/Containerfile is built with `--target prebuilt` from the
#    binary the tests built (DECNET_BIN), the base image given by
#    BASE_IMAGE. The Rust `build` stage is not run (no Rust image; a clean
#    release build would take far longer than this suite may);
#  * the image's metadata is checked (non-root user, HEALTHCHECK on livez,
#    entrypoint, stop signal, exposed port) and its fleet validated;
#  * the image runs as the Helm chart runs it (read-only root filesystem,
#    state on the volume) in its own network namespace (podman's bridge,
#    the API published on a loopback port of the host) with
#    net.ipv4.ip_unprivileged_port_start=0: the process is uid 10001 with no
#    capabilities, /api/v1/livez answers through the published port,
#    /api/v1/health wants a token, `podman healthcheck run` passes, the
#    default fleet answers on its real ports inside the container's
#    namespace (curl HTTP on :80, the SSH banner on :22, telnet, MySQL),
#    `podman stop` returns within 10 s with exit status 0, the event log
#    on the volume has the connections;
#  * the image size is printed. Everything made here is removed after.
# DECNET_IMAGE=NAME checks an image built elsewhere instead (the full
# multi-stage build, say); that image is kept.
# Sandbox workarounds, harmless elsewhere: the runc runtime (Debian 12's crun
# refuses hosts with cgroup v1 and v2 controllers mixed), ulimits no higher
# than the caller's (podman's defaults need CAP_SYS_RESOURCE), no periodic
# health timer (podman drives it with systemd, which is not PID 1 here).
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=container.sh
[ "$(id -u)" = 0 ] || { echo "$NAME: skipped (needs root for rootful podman)"; exit 0; }
. scripts/lib/interop.sh
interop_need podman:podman runc:runc iptables:iptables debootstrap:debootstrap \
    curl:curl nc:netcat-openbsd nsenter:util-linux python3:python3
interop_workdir decnet-container
trap 'echo "$NAME: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

TAG="interop-$$"
BASE="localhost/decnet-debian:$TAG"
IMG=${DECNET_IMAGE:-"localhost/decnet:$TAG"}
CTR="decnet-interop-$$"
CACHE=/var/cache/decnet-container
ROOTFS="$CACHE/debian-bookworm-minbase.tar"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN=(podman --runtime runc)
HAD_BRIDGE=0
ip link show cni-podman0 >/dev/null 2>&1 && HAD_BRIDGE=1
finish() {
    "${PODMAN[@]}" rm -f -v -t 0 "$CTR" >/dev/null 2>&1 || true
    [ -n "${DECNET_IMAGE:-}" ] || podman rmi -f "$IMG" "$BASE" >/dev/null 2>&1 || true
    # podman's default bridge, if this run is what created it.
    [ "$HAD_BRIDGE" = 1 ] || ip link del cni-podman0 2>/dev/null || true
    interop_cleanup
}
trap finish EXIT
LOG="$WORK/container.log"   # fail() shows its tail: the container's output

if [ -z "${DECNET_IMAGE:-}" ]; then
    # The base image: Debian bookworm from its packages, made once per machine.
    if [ ! -s "$ROOTFS" ]; then
        echo "$NAME: debootstrap bookworm (minbase) from $MIRROR"
        mkdir -p "$CACHE"
        timeout 300 debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.out" 2>&1 \
            || { tail -20 "$WORK/debootstrap.out" >&2; fail "debootstrap failed"; }
        # What debian:bookworm-slim leaves out: documentation, manuals,
        # translations (also for packages installed later), apt's caches.
        cat >"$WORK/rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
        find "$WORK/rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
        rm -rf "$WORK/rootfs"/usr/share/{man,info,locale}/* "$WORK/rootfs"/var/cache/apt/*.bin \
            "$WORK/rootfs"/var/cache/apt/archives/*.deb "$WORK/rootfs"/var/lib/apt/lists/*
        tar --numeric-owner -C "$WORK/rootfs" -cf "$ROOTFS.tmp" . && mv "$ROOTFS.tmp" "$ROOTFS"
        rm -rf "$WORK/rootfs"
    fi
    podman import "$ROOTFS" "$BASE" >"$WORK/import.out" 2>&1 || { cat "$WORK/import.out" >&2; fail "podman import of $ROOTFS failed"; }

    # The image: the Containerfile's `prebuilt` target, from a context holding
    # only what that target copies (the binary, the default fleet).
    CTX="$WORK/context"
    mkdir -p "$CTX/packaging/etc"
    cp packaging/etc/fleet.ini "$CTX/packaging/etc/"
    cp -l "$BIN" "$CTX/decnet" 2>/dev/null || cp "$BIN" "$CTX/decnet"
    t0=$(date +%s)
    timeout 300 "${PODMAN[@]}" build --format docker --pull=never --layers=false \
        -f packaging/Containerfile --target prebuilt \
        --build-arg BASE_IMAGE="$BASE" --build-arg DECNET_BINARY=decnet \
        -t "$IMG" "$CTX" >"$WORK/build.out" 2>&1 \
        || { tail -30 "$WORK/build.out" >&2; fail "podman build failed"; }
    echo "$NAME: image built in $(( $(date +%s) - t0 ))s"
fi

# What the image promises, read from its configuration.
inspect() { podman image inspect -f "$1" "$IMG"; }
[ "$(inspect '{{.Config.User}}')" = "10001:10001" ] || fail "image user is '$(inspect '{{.Config.User}}')'"
inspect '{{json .Config.Healthcheck.Test}}' | grep -q 'http://127.0.0.1:8000/api/v1/livez' \
    || fail "no HEALTHCHECK on livez: $(inspect '{{json .Config.Healthcheck}}')"
[ "$(inspect '{{json .Config.Entrypoint}}')" = '["/usr/bin/decnet"]' ] || fail "entrypoint $(inspect '{{json .Config.Entrypoint}}')"
[ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ] || fail "stop signal $(inspect '{{.Config.StopSignal}}')"
inspect '{{json .Config.ExposedPorts}}' | grep -q '"8000/tcp"' || fail "port 8000 not exposed"
inspect '{{json .Config.Volumes}}' | grep -q '"/var/lib/decnet"' || fail "/var/lib/decnet is not a volume"

# Limits no higher than this shell's hard limits (raising them needs
# CAP_SYS_RESOURCE, which sandboxes like CI's may not grant).
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
RUN_OPTS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit nproc=4096:4096 --health-interval disable)
"${PODMAN[@]}" run --rm "${RUN_OPTS[@]}" "$IMG" validate /etc/decnet/fleet.ini >"$WORK/validate.out" 2>&1 \
    || { cat "$WORK/validate.out" >&2; fail "the image's default fleet does not validate"; }

# Run it as the chart does, the API published on a free loopback port.
HOST_PORT=$(( 38000 + RANDOM % 1000 ))
"${PODMAN[@]}" run -d --name "$CTR" "${RUN_OPTS[@]}" --read-only \
    --sysctl net.ipv4.ip_unprivileged_port_start=0 \
    -e DECNET_ADMIN_PASSWORD=container-admin-pw \
    -p "127.0.0.1:$HOST_PORT:8000" "$IMG" >"$WORK/run.out" 2>&1 \
    || { cat "$WORK/run.out" >&2; fail "podman run failed"; }
logs() { podman logs "$CTR" >"$LOG" 2>&1 || true; }
for _ in $(seq 1 200); do
    curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$HOST_PORT/api/v1/livez" 2>/dev/null && break
    [ "$(podman inspect -f '{{.State.Running}}' "$CTR")" = true ] || { logs; fail "the container exited"; }
    sleep 0.1
done
logs
curl -fsS -m 5 "http://127.0.0.1:$HOST_PORT/api/v1/livez" | grep -q alive || fail "livez does not answer through the published port"
code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$HOST_PORT/api/v1/health")
[ "$code" = 401 ] || fail "/api/v1/health without a token answered $code, not 401"
grep -q "deckies up" "$LOG" || fail "no decky up"
grep -q "shifting every decky port" "$LOG" && fail "the sysctl did not let uid 10001 bind ports < 1024"
grep -q $'\e\[' "$LOG" && fail "escape sequences in the container's log (not a terminal)"

podman healthcheck run "$CTR" >"$WORK/health.out" 2>&1 || { cat "$WORK/health.out" >&2; fail "the HEALTHCHECK failed"; }
[ "$(podman inspect -f '{{.State.Health.Status}}' "$CTR")" = healthy ] || fail "container not healthy after the check"

# The process: uid 10001 for every id, no effective capability.
CPID=$(podman inspect -f '{{.State.Pid}}' "$CTR")
grep -q $'^Uid:\t10001\t10001\t10001\t10001$' "/proc/$CPID/status" || fail "not uid 10001: $(grep Uid "/proc/$CPID/status")"
grep -q $'^CapEff:\t0000000000000000$' "/proc/$CPID/status" || fail "capabilities: $(grep CapEff "/proc/$CPID/status")"
[ "$(podman top "$CTR" huser | tail -n +2 | tr -d ' ')" = 10001 ] || fail "podman top: $(podman top "$CTR" huser)"

# The default fleet, from real clients inside the container's namespace.
in_ctr() { nsenter -t "$CPID" -n "$@"; }
server=$(in_ctr curl -s -m 5 -D - -o /dev/null http://127.0.50.10/ | tr -d '\r' | sed -n 's/^Server: //p')
[ -n "$server" ] || fail "web01:80 does not answer HTTP"
banner=$(timeout 5 nsenter -t "$CPID" -n nc -w 2 127.0.50.10 22 </dev/null | head -c 64 || true)
case "$banner" in SSH-2.0-*) ;; *) fail "web01:22 banner '$banner'";; esac
in_ctr nc -z -w 2 127.0.50.10 23 || fail "web01:23 (telnet) not listening"
in_ctr nc -z -w 2 127.0.50.20 3306 || fail "db01:3306 not listening"

# `podman stop`: SIGTERM, exit 0 well before podman's SIGKILL at 10 s.
t0=$(date +%s%N)
timeout 30 podman stop -t 10 "$CTR" >/dev/null 2>&1 || fail "podman stop failed"
took_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
logs
rc=$(podman inspect -f '{{.State.ExitCode}}' "$CTR")
[ "$rc" = 0 ] || fail "exit status $rc after podman stop"
[ "$took_ms" -lt 10000 ] || fail "took ${took_ms} ms to stop"

# The state outlives the container on its volume: the probes above are there.
VOL=$(podman inspect -f '{{range .Mounts}}{{if eq .Destination "/var/lib/decnet"}}{{.Source}}{{end}}{{end}}' "$CTR")
{ [ -n "$VOL" ] && [ -s "$VOL/decnet.log" ]; } || fail "no event log on the volume ($VOL)"
grep -q 'web01 ssh - ' "$VOL/decnet.log" || fail "the SSH probe is not in the event log: $(tail -5 "$VOL/decnet.log")"
[ "$(stat -c %u "$VOL/decnet.log")" = 10001 ] || fail "decnet.log owned by uid $(stat -c %u "$VOL/decnet.log")"

size=$(podman image inspect -f '{{.Size}}' "$IMG")
bin=$("${PODMAN[@]}" run --rm "${RUN_OPTS[@]}" --entrypoint stat "$IMG" -c %s /usr/bin/decnet 2>/dev/null)
echo "$NAME: OK — image $(( size / 1000000 )) MB (decnet $(( bin / 1000000 )) MB, Debian base + curl + iproute2 $(( (size - bin) / 1000000 )) MB); uid 10001, healthy, fleet answered (HTTP Server '$server', '${banner%%$'\r'*}'), stopped in ${took_ms} ms, exit 0"
