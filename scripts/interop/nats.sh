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
DECNET_REQUIRE_NATS=1 cargo test --workspace --test nats -- --nocapture 2>&1 | tail -80
DECNET_REQUIRE_NATS=1 cargo test --workspace --test scaleout -- --nocapture 2>&1 | tail -8
