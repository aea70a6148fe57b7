#!/usr/bin/env bash
# IPv6 deckies against the real tools, inside a network namespace of its
# own: a v6-only and a dual-stack decky on ULA addresses that alias mode
# adds to `lo`; `curl -6`, OpenSSH `ssh -6` (sshpass), `dig -6` (UDP) and
# `nc -6` from an attacker address of the namespace; decnet.log must carry
# canonical v6 source/destination addresses; `decnet validate` reports v6
# misuse by FILE:LINE; shutdown removes the addresses. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=ipv6.sh
. scripts/lib/interop.sh
[ "$(id -u)" = 0 ] || { echo "$NAME: needs root (network namespace)" >&2; exit 1; }
interop_need ip:iproute2 curl:curl ssh:openssh-client sshpass:sshpass dig:dnsutils nc:netcat-openbsd
interop_workdir decnet-ipv6

NS=dn6-$$
ATTACKER=fd00:a77::66
SIX=fd00:dec:6::10
BOTH4=127.0.66.20
BOTH6=fd00:dec:6::20
ip netns add "$NS"
in_ns() { ip netns exec "$NS" "$@"; }
cleanup_ns() { interop_cleanup; ip netns del "$NS" 2>/dev/null || true; }
trap cleanup_ns EXIT
in_ns ip link set lo up
in_ns ip -6 addr add "$ATTACKER/128" dev lo nodad

# --- validate: v6 misuse reported by line
printf '%s\n' '[general]' 'net6 = fd00:dec:6::/64' '' '[a]' 'services = ssh' 'ip6 = 10.0.0.1' \
    '' '[b]' 'services = ssh' 'ip = fd00:beef::1' >"$WORK/bad.ini"
if out=$("$BIN" validate "$WORK/bad.ini" 2>&1); then fail "validate accepted a bad v6 fleet: $out"; fi
grep -q "bad.ini:6: ip6 = '10.0.0.1' is not an IPv6 address" <<<"$out" || fail "validate: $out"
grep -q "bad.ini:10: ip6 fd00:beef::1 is outside net6 fd00:dec:6::/64" <<<"$out" || fail "validate: $out"

printf '%s\n' '[general]' 'mode = alias' 'interface = lo' 'net6 = fd00:dec:6::/64' '' \
    '[six]' "ip = $SIX" 'services = ssh, http, dns' 'distro = debian' '' \
    '[six.ssh]' 'password = toor' '' '[six.dns]' 'zone = corp.example' '' \
    '[both]' "ip = $BOTH4" "ip6 = $BOTH6" 'services = http' 'distro = debian' >"$WORK/fleet.ini"
"$BIN" validate "$WORK/fleet.ini" >"$WORK/validate.out" 2>&1 || { cat "$WORK/validate.out"; fail "validate"; }

# `ip netns exec` execs decnet itself, so $! is decnet's pid (a function
# run in the background would be a subshell).
ip netns exec "$NS" "$BIN" serve --config "$WORK/fleet.ini" --data-dir "$DATA" --port-offset "$OFF" \
    --api "127.0.0.1:$(( 19500 + RANDOM % 400 ))" >"$WORK/serve.out" 2>&1 &
PID=$!
up=""
for _ in $(seq 1 150); do
    if in_ns bash -c "exec 3<>/dev/tcp/$BOTH6/$(p 80)" 2>/dev/null; then up=1; break; fi
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.out"; fail "serve died"; }
    sleep 0.1
done
[ -n "$up" ] || { cat "$WORK/serve.out"; fail "nothing listens on [$BOTH6]:$(p 80)"; }
grep -q "$SIX/64" <<<"$(in_ns ip -6 addr show dev lo)" || fail "alias mode did not add $SIX to lo"

# --- curl -6 to both deckies (the dual-stack one on both families)
code=$(in_ns curl -6 -s -m 5 -o /dev/null -w '%{http_code}' --interface "$ATTACKER" "http://[$SIX]:$(p 80)/") \
    || fail "curl -6"
[ "$code" = 200 ] || fail "curl -6 got HTTP $code"
expect_log "v6 http request" "six http - request" 'path="/"' "src_ip=\"$ATTACKER\"" "dst_ip=\"$SIX\""
interop_dual_stack_http "ip netns exec $NS" both "$BOTH4" "$BOTH6" "$ATTACKER" "$(p 80)"

# --- ssh -6 login and command
SSHOPTS=(-6 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no
         -o PreferredAuthentications=password -o LogLevel=ERROR -o ConnectTimeout=10 -b "$ATTACKER")
out=$(in_ns sshpass -p toor ssh "${SSHOPTS[@]}" -p "$(p 22)" "root@$SIX" 'id') || fail "ssh -6 ($out)"
grep -q "^uid=0(root)" <<<"$out" || fail "ssh -6 id: $out"
expect_log "ssh -6 login" "six ssh - auth_attempt" 'username="root"' 'success="true"' "src_ip=\"$ATTACKER\""
expect_log "ssh -6 command" "six ssh - command" 'command="id"'

# --- UDP: dig -6 gets the v6-only decky's AAAA record
ans=$(in_ns dig -6 +short +time=3 +tries=1 -b "$ATTACKER" -p "$(p 53)" "@$SIX" www.corp.example AAAA) || fail "dig -6"
[ "$ans" = "$SIX" ] || fail "dig -6 answer: '$ans'"
expect_log "v6 dns query" "six dns - " 'query="www.corp.example' 'transport="udp"' "src_ip=\"$ATTACKER\""

# --- nc -6: a raw TCP probe is a connection event
printf 'hello\r\n' | in_ns timeout 5 nc -6 -s "$ATTACKER" -w 2 "$SIX" "$(p 80)" >/dev/null 2>&1 || true
expect_log "nc -6 connect" "six http - connect" "src_ip=\"$ATTACKER\""

# --- shutdown removes the aliases
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
if grep -q "$SIX" <<<"$(in_ns ip -6 addr show dev lo)"; then fail "$SIX left on lo after shutdown"; fi
echo "$NAME: ok"
