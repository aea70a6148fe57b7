#!/usr/bin/env bash
# Tarpits and scheduled persona mutation against the real tools:
#   `ssh -o ConnectTimeout` at the ssh tarpit keeps reading banner lines
#   until killed, and the exit event says how long it was held;
#   `curl --max-time` at the http tarpit gets a status line and never the
#   end of the headers; `nc` at the tcp hold is held until it gives up;
#   an OpenSSH PTY session (sshpass) to the decky's real ssh survives a
#   mutation through the API and then one from the schedule, still
#   answering as the old host, while a fresh connection sees the new one.
# A topology deployed through the API names tarpits for all its deckies and
# for one LAN's: ssh and curl are held by them, nc finds the LAN's decky
# without the topology-wide port, and a bad list is a 422 saying where.
# Asserts on DATA_DIR/decnet.log and the API. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAME=tarpit.sh
. scripts/lib/interop.sh
interop_need ssh:openssh-client sshpass:sshpass curl:curl nc:netcat-openbsd python3:python3
interop_workdir decnet-tarpit

HOST=127.0.78.10

cat >"$WORK/fleet.ini" <<EOF
[general]
net = 127.0.78.0/24

[trap01]
ip = $HOST
services = ssh
distro = debian
tarpit = ssh:2222, http:8080, tcp:4450
tarpit_interval = 1
mutate_interval = 8

[trap01.ssh]
password = toor
EOF

"$BIN" validate "$WORK/fleet.ini" | grep -q "1 deckies, 3 tarpit ports" || fail "validate does not count the tarpit ports"
printf '[general]\nnet = 127.0.78.0/24\n[bad]\nservices = ssh\ntarpit = ssh:22, gopher:70\n' >"$WORK/bad.ini"
if "$BIN" validate "$WORK/bad.ini" 2>"$WORK/bad.out"; then fail "validate accepted a bad tarpit line"; fi
grep -q "bad.ini:5: \[bad\]: unknown tarpit kind 'gopher'" "$WORK/bad.out" || { cat "$WORK/bad.out"; fail "no FILE:LINE for the bad tarpit kind"; }
grep -q "bad.ini:5: \[bad\]: tarpit ssh:22 and service 'ssh' both listen on 22/tcp" "$WORK/bad.out" || { cat "$WORK/bad.out"; fail "no FILE:LINE for the port clash"; }

# mutate_interval counts in seconds here (a test knob), so the schedule
# re-rolls the decky every 8 s during the run.
export DECNET_ADMIN_PASSWORD=tarpit-interop-pw DECNET_MUTATE_UNIT_SECS=1
interop_serve "$HOST" "$(p 22)" 19000
interop_api
TOKEN=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$DECNET_ADMIN_PASSWORD\"}" \
    "http://$API/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
api() { curl -fsS -m 10 -H "Authorization: Bearer $TOKEN" "$@"; }
decky_field() { api "http://$API/api/v1/deckies" | python3 -c "import json,sys; print([d for d in json.load(sys.stdin) if d['name']=='trap01'][0]['$1'])"; }

SSHOPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no
         -o PreferredAuthentications=password -o LogLevel=ERROR -o ConnectTimeout=3)

# --- ssh tarpit: the client connects, then waits on banner lines until killed
# (OpenSSH's ConnectTimeout bounds the whole banner exchange, so a client
# that sets one is held that long; here it is longer than our patience, and
# ssh takes the first value given for an option).
rc=0; timeout 5 ssh -v -o ConnectTimeout=30 "${SSHOPTS[@]}" -p "$(p 2222)" root@$HOST true >"$WORK/ssh-pit.out" 2>&1 || rc=$?
[ "$rc" = 124 ] || { cat "$WORK/ssh-pit.out"; fail "ssh left the tarpit by itself (rc $rc)"; }
grep -c "banner line" "$WORK/ssh-pit.out" | awk '$1 < 3 { exit 1 }' || { cat "$WORK/ssh-pit.out"; fail "ssh saw fewer than 3 banner lines"; }
expect_log "ssh tarpit enter" 'trap01 tarpit - connect' 'event_type="tarpit_enter"' 'tarpit="ssh"'
expect_log "ssh tarpit exit" 'trap01 tarpit - disconnect' 'event_type="tarpit_exit"' 'tarpit="ssh"' 'held_secs="[45]"' 'reason="peer_closed"'

# --- http tarpit: curl gets the status line and gives up waiting for the rest
rc=0; curl -sS -i -N --max-time 4 "http://$HOST:$(p 8080)/admin/" -o "$WORK/curl.out" 2>"$WORK/curl.err" || rc=$?
[ "$rc" = 28 ] || { cat "$WORK/curl.err"; fail "curl did not time out in the http tarpit (rc $rc)"; }
head -c 15 "$WORK/curl.out" | grep -q "^HTTP/1.1 200 OK" || { od -c "$WORK/curl.out" | head; fail "curl got no status line"; }
expect_log "http tarpit exit" 'trap01 tarpit - disconnect' 'tarpit="http"' 'held_secs="[34]"' 'bytes_sent="(2[4-9]|3[0-9])"'

# --- tcp hold: nc sends, is never answered nor closed on, and gives up
rc=0; printf '\x00\x00\x00\x85\xffSMBr' | timeout 3 nc "$HOST" "$(p 4450)" >"$WORK/nc.out" || rc=$?
[ "$rc" = 124 ] || fail "nc was let go by the tcp hold (rc $rc)"
[ ! -s "$WORK/nc.out" ] || fail "the tcp hold answered"
expect_log "tcp hold exit" 'trap01 tarpit - disconnect' 'tarpit="tcp"' 'held_secs="[23]"' 'bytes_sent="0"'

# --- tarpits of a topology deployed through the API
api_post() { curl -sS -m 10 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -o "$WORK/api.out" -w '%{http_code}' "$@"; }
code=$(api_post -d '{"name":"bad","tarpit":"ssh:2223, gopher:70"}' "http://$API/api/v1/topologies")
[ "$code" = 422 ] && grep -q "topology: unknown tarpit kind 'gopher'" "$WORK/api.out" || { cat "$WORK/api.out"; fail "bad topology tarpit: $code"; }
code=$(api_post -d '{"name":"pits","tarpit":"ssh:2223","tarpit_interval":1,
    "lans":[{"name":"lan1","cidr":"127.0.79.0/24","tarpit":"http:8081"}],
    "deckies":[{"name":"pit-a","ip":"127.0.79.10","services":["telnet"]},{"name":"pit-b","ip":"127.0.79.11","services":["telnet"]}],
    "edges":[{"decky":"pit-b","lan":"lan1"}]}' "http://$API/api/v1/topologies")
[ "$code" = 201 ] || { cat "$WORK/api.out"; fail "topology with tarpits: $code"; }
TOPO=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/api.out")
api -X POST "http://$API/api/v1/topologies/$TOPO/deploy" >/dev/null || fail "deploy the topology"
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.79.11/$(p 8081)") 2>/dev/null && break; sleep 0.1; done
rc=0; timeout 4 ssh -o ConnectTimeout=30 "${SSHOPTS[@]}" -p "$(p 2223)" root@127.0.79.10 true >"$WORK/ssh-topo.out" 2>&1 || rc=$?
[ "$rc" = 124 ] || { cat "$WORK/ssh-topo.out"; fail "ssh left the topology's tarpit by itself (rc $rc)"; }
expect_log "topology ssh tarpit exit" 'pit-a tarpit - disconnect' 'event_type="tarpit_exit"' 'tarpit="ssh"' 'held_secs="[34]"'
rc=0; curl -sS -i -N --max-time 3 "http://127.0.79.11:$(p 8081)/" -o "$WORK/curl-topo.out" 2>/dev/null || rc=$?
[ "$rc" = 28 ] || fail "curl did not time out in the LAN's http tarpit (rc $rc)"
head -c 15 "$WORK/curl-topo.out" | grep -q "^HTTP/1.1 200 OK" || fail "the LAN's http tarpit sent no status line"
expect_log "topology http tarpit enter" 'pit-b tarpit - connect' 'event_type="tarpit_enter"' 'tarpit="http"'
# The LAN's list replaces the topology's for its deckies.
if nc -z -w 2 127.0.79.11 "$(p 2223)"; then fail "pit-b holds the topology-wide port its LAN overrides"; fi
api -X POST "http://$API/api/v1/topologies/$TOPO/teardown" >/dev/null || fail "tear the topology down"

# --- mutation keeps an open ssh PTY session
mkfifo "$WORK/in"
timeout 90 sshpass -p toor ssh -tt "${SSHOPTS[@]}" -p "$(p 22)" root@$HOST <"$WORK/in" >"$WORK/sess.out" 2>&1 &
SESS=$!
exec 4>"$WORK/in"
wait_out() { for _ in $(seq 1 100); do grep -q "$1" "$WORK/sess.out" 2>/dev/null && return 0; sleep 0.1; done; cat "$WORK/sess.out"; fail "session: no $1"; }
wait_out 'root@[a-z0-9-]*:~# '
# The session's text without CRs and readline's bracketed-paste switches.
sess_text() { tr -d '\r' <"$WORK/sess.out" | sed 's/\x1b\[?2004[hl]//g'; }
OLD=$(sess_text | sed -n 's/^root@\([a-z0-9-]*\):~# .*/\1/p' | head -1)
[ -n "$OLD" ] || { cat "$WORK/sess.out"; fail "no hostname in the prompt"; }
hostname_lines() { sess_text | grep -c "^$OLD$" || true; }
echo hostname >&4
for _ in $(seq 1 50); do [ "$(hostname_lines)" -ge 1 ] && break; sleep 0.1; done
[ "$(hostname_lines)" = 1 ] || { cat "$WORK/sess.out"; fail "hostname in the session"; }
gen0=$(decky_field generation)

api -X POST "http://$API/api/v1/deckies/trap01/mutate" >"$WORK/mutated.json" || fail "POST mutate"
NEW=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hostname"].split(".")[0])' "$WORK/mutated.json")
[ "$NEW" != "$OLD" ] || fail "the API mutation kept the hostname $OLD"
# Then wait for the schedule to re-roll once more on its own.
for _ in $(seq 1 150); do [ "$(decky_field generation)" -ge $((gen0 + 2)) ] && break; sleep 0.1; done
[ "$(decky_field generation)" -ge $((gen0 + 2)) ] || fail "the schedule did not mutate the decky (generation $(decky_field generation), was $gen0)"
[ "$(decky_field mutated_at)" != "None" ] || fail "no mutated_at in the decky list"

echo hostname >&4
for _ in $(seq 1 50); do [ "$(hostname_lines)" -ge 2 ] && break; sleep 0.1; done
[ "$(hostname_lines)" = 2 ] || { cat "$WORK/sess.out"; fail "the open session does not answer as $OLD any more"; }
FRESH=$(sshpass -p toor ssh "${SSHOPTS[@]}" -p "$(p 22)" root@$HOST hostname | tr -d '\r') || fail "fresh ssh after mutation"
[ -n "$FRESH" ] || fail "fresh ssh printed no hostname"
[ "$FRESH" != "$OLD" ] || fail "a fresh connection still sees the old persona $OLD"
echo 'exit' >&4
exec 4>&-
wait "$SESS" || true

echo "$NAME: OK"
