#!/usr/bin/env bash
# Scale-out suite against a real nats-server with JetStream (Debian package).
# The cargo tests skip loudly without the binary; here it must run.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server
fi
# --workspace keeps the feature set of `cargo test --workspace`, so nothing
# is rebuilt (a -p build re-resolves features and duplicates every dependency).
# A passing run prints its summary; a failing one its panics and the
# servers' stderr the test dumps on failure (a tail alone hid them).
run() {
  local out rc=0
  out=$(mktemp)
  DECNET_REQUIRE_NATS=1 cargo test --workspace --test "$1" -- --nocapture >"$out" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    tail -"$2" "$out"
  else
    tail -150 "$out"
    echo "== $1: what failed"
    grep -A12 "panicked at" "$out" || true
  fi
  rm -f "$out"
  return "$rc"
}
run nats 80
run scaleout 8
