#!/usr/bin/env bash
# Runs the decnet-store (and decnet-intel) PostgreSQL tests against a real
# throw-away PostgreSQL cluster. Installs postgresql if initdb is missing.
# DECNET_REQUIRE_PG=1 turns "binaries not found" into a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

have_pg() {
    command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
if ! have_pg; then
    echo "postgres.sh: installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
have_pg || { echo "postgres.sh: initdb still missing after install" >&2; exit 1; }

export DECNET_REQUIRE_PG=1
# --workspace keeps the feature set of `cargo test --workspace` (no rebuild);
# the name filter selects the PostgreSQL tests of every crate.
cargo test --workspace -- postgres --nocapture
# The test support must leave no cluster behind.
if ls -d /tmp/decnet-pg-* >/dev/null 2>&1; then
    echo "postgres.sh: leftover test cluster directories" >&2
    exit 1
fi
echo "postgres.sh: OK"
