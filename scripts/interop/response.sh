#!/usr/bin/env bash
# Active response against the real tools. Runs as root; everything
# happens inside a network namespace this script creates, so no host
# firewall table is touched.
#
#  1. hydra against a decky → fail2ban-server (own config, jail with a
#     harmless "record to file" action) receives banip, the nftables set
#     `inet decnet banned4` gets the element with a timeout, and Debian's
#     crowdsec-firewall-bouncer, pointed at decnet's decisions API, puts the
#     address into its own nftables set.
#  2. attack → nft element latency (p50/p99) over 40 attackers.
#  3. stopping fail2ban-server → offline; a ban decided meanwhile is
#     replayed when it is started again → online.
#  4. restarting decnet (an activation) and stopping fail2ban-server within
#     the crash window → pending_recovery; starting it → recovered.
#
# DECNET_BIN=path skips the cargo build; KEEP_WORK=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/nft_latency.sh

NS=decnet-resp-test
WORK=$(mktemp -d /tmp/decnet-resp.XXXXXX)
DECKY=127.0.71.10
LAPI=127.0.71.1:18081
BOUNCER_KEY=interop-secret-0123456789abcdef
DECNET_PID=""
BOUNCER_PID=""
F2B_CONF="$WORK/f2b"

fail() {
  echo "FAIL: $*" >&2
  echo "---- decnet log (tail)" >&2
  tail -n 40 "$WORK"/decnet*.log >&2 2>/dev/null || true
  exit 1
}

in_ns() { ip netns exec "$NS" "$@"; }

f2b() { in_ns fail2ban-client -c "$F2B_CONF" "$@"; }

cleanup() {
  set +e
  [ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID" 2>/dev/null
  [ -n "$DECNET_PID" ] && kill "$DECNET_PID" 2>/dev/null
  [ -n "$DECNET_PID" ] && wait "$DECNET_PID" 2>/dev/null
  f2b stop >/dev/null 2>&1
  if [ -f "$WORK/f2b.pid" ]; then kill "$(cat "$WORK/f2b.pid")" 2>/dev/null; fi
  ip netns del "$NS" 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
export NO_COLOR=1

echo "== response: installing tools"
if ! command -v nft >/dev/null || ! command -v fail2ban-client >/dev/null || ! command -v hydra >/dev/null \
  || ! command -v crowdsec-firewall-bouncer >/dev/null || ! command -v curl >/dev/null; then
  apt-get update -qq >/dev/null
  # crowdsec-firewall-bouncer pulls the crowdsec agent, whose postinst may
  # fail without systemd; the bouncer binary itself is what we need.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables fail2ban hydra curl iproute2 >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq crowdsec-firewall-bouncer >/dev/null 2>&1 || true
fi
command -v nft >/dev/null || fail "nft not installed"
command -v fail2ban-client >/dev/null || fail "fail2ban not installed"
command -v hydra >/dev/null || fail "hydra not installed"
HAVE_BOUNCER=1
if ! command -v crowdsec-firewall-bouncer >/dev/null; then
  HAVE_BOUNCER=0
  echo "!!!! WARNING: crowdsec-firewall-bouncer is NOT installable here: bouncer part SKIPPED !!!!"
fi

echo "== response: building decnet"
if [ -n "${DECNET_BIN:-}" ]; then
  BIN=$DECNET_BIN
else
  cargo build -q -p decnet
  BIN=$PWD/target/debug/decnet
fi

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
in_ns ip link set lo up
# hydra cannot pick its source address: make the kernel use 127.0.71.50 as
# the source towards the decky (127.0.0.1, the host's own address, is
# allowlisted by default and must stay reachable).
in_ns ip addr add 127.0.71.50/32 dev lo
in_ns ip route add local "$DECKY"/32 dev lo src 127.0.71.50 table local

# ---- fail2ban-server with its own config and a harmless action ----------
mkdir -p "$F2B_CONF"/filter.d "$F2B_CONF"/action.d "$F2B_CONF"/jail.d "$F2B_CONF"/fail2ban.d
cat >"$F2B_CONF/fail2ban.conf" <<EOF
[Definition]
loglevel = INFO
logtarget = $WORK/f2b.log
socket = $WORK/f2b.sock
pidfile = $WORK/f2b.pid
dbfile = :memory:
EOF
cat >"$F2B_CONF/filter.d/decnet.conf" <<'EOF'
[Definition]
failregex = ^never-matches <HOST>$
EOF
cat >"$F2B_CONF/action.d/decnet-record.conf" <<EOF
[Definition]
actionstart =
actionstop =
actioncheck =
actionban = echo "ban <ip>" >> $WORK/f2b-actions.txt
actionunban = echo "unban <ip>" >> $WORK/f2b-actions.txt
EOF
touch "$WORK/empty.log" "$WORK/f2b-actions.txt"
cat >"$F2B_CONF/jail.conf" <<EOF
[DEFAULT]
bantime = 3600
[decnet]
enabled = true
filter = decnet
logpath = $WORK/empty.log
backend = polling
action = decnet-record
EOF

f2b_start() {
  f2b -x start >/dev/null
  for _ in $(seq 1 100); do
    f2b ping 2>/dev/null | grep -q pong && return 0
    sleep 0.1
  done
  fail "fail2ban-server did not start"
}
f2b_stop() { f2b stop >/dev/null 2>&1 || true; sleep 0.3; }

f2b_start
echo "fail2ban-server up: $(f2b status decnet | head -1)"

# ---- decnet ---------------------------------------------------------------
cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.71.0/24
gw = 127.0.71.1
mode = loopback

[trap]
ip = $DECKY
services = http, telnet

[response]
ban_on = auth_attempt
duration = 10m
backends = nftables, fail2ban, crowdsec, blocklist
nft_table = decnet
fail2ban_jail = decnet
fail2ban_socket = $WORK/f2b.sock
probe_interval = 1s
crash_window = 20s
lapi_listen = $LAPI
bouncer_key = interop:$BOUNCER_KEY
; 127.0.71.50 (hydra's source) is an address of this namespace, which the
; default allowlist protects: list the protected addresses explicitly.
allowlist_defaults = false
allowlist = 127.0.0.1/32, 127.0.71.1/32
EOF

RUN=0
start_decnet() {
  RUN=$((RUN + 1))
  LOG="$WORK/decnet$RUN.log"
  ip netns exec "$NS" env DECNET_ADMIN_PASSWORD=interop-admin-pw DECNET_LOG=info "$BIN" serve --config "$WORK/fleet.ini" \
    --data-dir "$WORK/data" --api 127.0.71.1:18000 --port-offset 0 >"$LOG" 2>&1 &
  DECNET_PID=$!
  for _ in $(seq 1 150); do
    # First start: `online`; a restart with the state in the store: the replay.
    grep -q 'backend online.*fail2ban\|replaying bans backend="fail2ban"' "$LOG" && return 0
    kill -0 "$DECNET_PID" 2>/dev/null || fail "decnet exited"
    sleep 0.1
  done
  fail "decnet: fail2ban backend never online"
}
stop_decnet() {
  kill "$DECNET_PID"
  wait "$DECNET_PID" 2>/dev/null || true
  DECNET_PID=""
}

wait_log() { # pattern, seconds
  local n=$(($2 * 10))
  for _ in $(seq 1 "$n"); do
    grep -q "$1" "$LOG" && return 0
    sleep 0.1
  done
  fail "decnet log never showed: $1"
}

start_decnet
T_START=$(date +%s)
in_ns nft list table inet decnet >/dev/null || fail "decnet did not create table inet decnet"

if [ "$HAVE_BOUNCER" = 1 ]; then
  cat >"$WORK/bouncer.yaml" <<EOF
mode: nftables
pid_dir: $WORK/
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: $WORK/
log_level: info
api_url: http://$LAPI/
api_key: $BOUNCER_KEY
insecure_skip_verify: false
disable_ipv6: true
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: false
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
EOF
  ip netns exec "$NS" crowdsec-firewall-bouncer -c "$WORK/bouncer.yaml" >"$WORK/bouncer.out" 2>&1 &
  BOUNCER_PID=$!
fi

# ---- 1. hydra → fail2ban banip, nft element with timeout, bouncer set -----
echo "== response: hydra against the decky"
timeout 20 ip netns exec "$NS" hydra -l admin -p wrongpass -t 1 -w 2 -s 80 "$DECKY" http-get /admin >"$WORK/hydra.out" 2>&1 || true
wait_log 'response.ban.*127.0.71.50' 10
for _ in $(seq 1 50); do grep -q 'ban 127.0.71.50' "$WORK/f2b-actions.txt" && break; sleep 0.1; done
grep -q 'ban 127.0.71.50' "$WORK/f2b-actions.txt" || fail "fail2ban jail never ran banip for 127.0.71.50"
f2b status decnet | grep -q '127.0.71.50' || fail "fail2ban status does not list 127.0.71.50"
echo "ok: fail2ban jail decnet banned 127.0.71.50"
ELEM=$(in_ns nft list set inet decnet banned4)
echo "$ELEM" | grep -q '127.0.71.50 timeout' || fail "nft set lacks 127.0.71.50 with a timeout: $ELEM"
echo "ok: nft: $(echo "$ELEM" | grep -o '127.0.71.50 timeout [^,}]*')"
# The chain decnet installed drops the attacker now.
if in_ns curl -s -m 2 --interface 127.0.71.50 -o /dev/null "http://$DECKY/"; then
  fail "banned source still reaches the decky"
fi
echo "ok: banned source is dropped"

if [ "$HAVE_BOUNCER" = 1 ]; then
  found=0
  for _ in $(seq 1 100); do
    if in_ns nft list ruleset 2>/dev/null | awk '/table ip crowdsec/,0' | grep -q '127.0.71.50'; then found=1; break; fi
    kill -0 "$BOUNCER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$found" != 1 ]; then
    cat "$WORK"/crowdsec-firewall-bouncer.log "$WORK/bouncer.out" 2>/dev/null | tail -20 >&2
    fail "crowdsec-firewall-bouncer never put 127.0.71.50 into its nftables set"
  fi
  echo "ok: crowdsec-firewall-bouncer enforces decnet's decision (table ip crowdsec)"
fi

# ---- 2. latency: attack event → element in the nft set --------------------
echo "== response: attack → nft element latency"
nft_attack_latency "$NS" "$DECKY" 127.0.71 100 40 "$WORK/data/decnet.log" "$WORK" || fail "attack → nft latency"
echo "attack event → nft element, $NFT_N attackers: p50 ${NFT_P50_US}us p99 ${NFT_P99_US}us max ${NFT_MAX_US}us"
[ "$NFT_P99_US" -lt 100000 ] || echo "!!!! WARNING: p99 above the 100 ms target"

# ---- 3. fail2ban outage: offline, ban while down, online + replay ---------
echo "== response: fail2ban outage outside the crash window"
NOW=$(date +%s)
WAIT=$((T_START + 22 - NOW))
[ "$WAIT" -gt 0 ] && sleep "$WAIT"
f2b_stop
wait_log 'response.backend.offline.*fail2ban' 10
echo "ok: offline"
# A ban decided while fail2ban is down…
in_ns curl -s -m 3 --interface 127.0.71.60 -u admin:late -o /dev/null "http://$DECKY/admin" || true
wait_log 'response.ban.*127.0.71.60' 10
sleep 1
grep -q 'response.backend.pending_recovery' "$LOG" && fail "plain outage misread as activation crash"
f2b_start
wait_log 'response.backend.online.*fail2ban.*\|backend online' 10
for _ in $(seq 1 100); do grep -q 'ban 127.0.71.60' "$WORK/f2b-actions.txt" && break; sleep 0.1; done
grep -q 'ban 127.0.71.60' "$WORK/f2b-actions.txt" || fail "ban decided while offline was not replayed"
f2b status decnet | grep -q '127.0.71.50' || fail "earlier ban not replayed into the restarted server"
echo "ok: online; bans replayed (127.0.71.60 decided while offline, 127.0.71.50 restored)"

# ---- 4. activation crash: pending_recovery → recovered --------------------
echo "== response: activation followed by a crash within the window"
stop_decnet
start_decnet # activation ("startup")
f2b_stop
wait_log 'response.backend.pending_recovery.*fail2ban' 10
echo "ok: pending_recovery"
f2b_start
wait_log 'response.backend.recovered.*fail2ban' 10
echo "ok: recovered"
# The restarted decnet kept its bans (store) and re-pushed them.
in_ns nft get element inet decnet banned4 '{ 127.0.71.60 }' >/dev/null || fail "bans lost across restart"

# Someone deletes decnet's table: offline, then re-created with its bans.
in_ns nft delete table inet decnet
wait_log 'response.backend.offline.*nftables' 10
for _ in $(seq 1 50); do in_ns nft get element inet decnet banned4 '{ 127.0.71.60 }' >/dev/null 2>&1 && break; sleep 0.1; done
in_ns nft get element inet decnet banned4 '{ 127.0.71.60 }' >/dev/null || fail "nft table not re-created with its bans"
echo "ok: deleted nft table detected (offline) and re-created with its bans"

# decnet never touched another table.
TABLES=$(in_ns nft list tables)
echo "$TABLES" | grep -v -e 'inet decnet' -e 'ip crowdsec' | grep -q table && fail "unexpected tables: $TABLES"
stop_decnet
echo "== response: all checks passed"
