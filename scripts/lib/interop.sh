# Shared pieces of the interop scripts (sourced after `NAME=<script>.sh`):
# installing missing tools, the work dir and its cleanup, starting decnet
# serve and waiting for a port, and the log assertions.

# interop_need TOOL:PACKAGE...: apt-installs the packages of missing tools
# (root), then checks every tool is there.
interop_need() {
    local need=() t
    for t in "$@"; do command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t##*:}"); done
    [ ${#need[@]} -eq 0 ] && return 0
    echo "$NAME: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    # Another package's failing postinst must not stop us: check the tools instead.
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || true
    for t in "$@"; do
        command -v "${t%%:*}" >/dev/null 2>&1 || { echo "$NAME: ${t%%:*} missing after install" >&2; exit 1; }
    done
}

# interop_workdir PREFIX: builds decnet (unless DECNET_BIN is set); sets BIN,
# WORK (/tmp/PREFIX.*), DATA, LOG (decnet's event log), PID, OFF (port offset:
# 0 as root, 20000 otherwise) and removes WORK on exit (KEEP=1 keeps it).
interop_workdir() {
    [ -n "${DECNET_BIN:-}" ] || cargo build -q -p decnet
    BIN=${DECNET_BIN:-target/debug/decnet}
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    DATA="$WORK/data"
    LOG="$DATA/decnet.log"
    PID=""
    OFF=0
    if [ "$(id -u)" != 0 ]; then OFF=20000; fi
    trap interop_cleanup EXIT
}

interop_cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}

# p PORT: the port with the offset applied.
p() { echo $(( $1 + OFF )); }

# interop_serve HOST PORT API_BASE: runs `decnet serve` on $WORK/fleet.ini
# (API on 127.0.0.1:API_BASE+random) and waits up to 15 s for HOST:PORT.
interop_serve() {
    "$BIN" serve --config "$WORK/fleet.ini" --data-dir "$DATA" --port-offset "$OFF" \
        --api "127.0.0.1:$(( $3 + RANDOM % 1000 ))" >"$WORK/serve.out" 2>&1 &
    PID=$!
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.out"; echo "$NAME: serve died" >&2; exit 1; }
        sleep 0.1
    done
    cat "$WORK/serve.out"; echo "$NAME: nothing listens on $1:$2 after 15 s" >&2; exit 1
}

# interop_api: sets API to the host:port serve printed (waits up to 5 s).
interop_api() {
    API=""
    for _ in $(seq 1 50); do
        API=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/serve.out" | head -1 | sed 's#http://##' || true)
        [ -n "$API" ] && return 0
        sleep 0.1
    done
    cat "$WORK/serve.out"; fail "no API address in serve's output"
}

# interop_wait_started: waits up to 20 s for `serve` ($PID, writing
# $WORK/serve.out) to say it is up: every decky deployed.
interop_wait_started() {
    for _ in $(seq 1 200); do
        grep -q "Ctrl-C to stop" "$WORK/serve.out" 2>/dev/null && return 0
        kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.out"; fail "serve died during startup"; }
        sleep 0.1
    done
    cat "$WORK/serve.out"; fail "serve did not start in 20 s"
}

# interop_dual_stack_http RUN DECKY V4 V6 SRC6 PORT: RUN (a command prefix,
# e.g. `ip netns exec NS`) fetches /via6 from DECKY over IPv6 (from SRC6)
# and /via4 over IPv4; decnet.log must show each on its own destination.
interop_dual_stack_http() {
    local run=$1 decky=$2 v4=$3 v6=$4 src6=$5 port=$6
    $run curl -6 -s -m 5 -o /dev/null --interface "$src6" "http://[$v6]:$port/via6" || fail "curl -6 to $decky"
    $run curl -4 -s -m 5 -o /dev/null "http://$v4:$port/via4" || fail "curl -4 to $decky"
    expect_log "$decky over IPv6" "$decky http - request" 'path="/via6"' "src_ip=\"$src6\"" "dst_ip=\"$v6\""
    expect_log "$decky over IPv4" "$decky http - request" 'path="/via4"' "dst_ip=\"$v4\""
}

fail() { echo "$NAME: FAIL: $*" >&2; echo "--- decnet.log tail:" >&2; tail -n 40 "$LOG" >&2 || true; exit 1; }

# expect_log WHAT PATTERN...: waits up to 5 s for a log line matching every pattern.
expect_log() {
    local what=$1; shift
    for _ in $(seq 1 50); do
        local lines
        lines=$(cat "$LOG" 2>/dev/null || true)
        for pat in "$@"; do lines=$(grep -E -- "$pat" <<<"$lines" || true); done
        [ -n "$lines" ] && return 0
        sleep 0.1
    done
    fail "no log line for $what ($*)"
}

# realism_preseed: answers the debconf questions of the daemons the realism
# suite installs (postfix's mailer type, slapd's domain) and keeps apt from
# starting any of them (the suite starts and stops its own copies).
realism_preseed() {
    [ "$(id -u)" = 0 ] || return 0
    if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
    debconf-set-selections <<'SEL' || true
postfix postfix/main_mailer_type select Internet Site
postfix postfix/mailname string mail.example.org
slapd slapd/domain string corp.local
slapd shared/organization string Corp
SEL
}
