#!/usr/bin/env bash
# The run command: builds the bundle and starts it on loopback (deploy/local/stack.py):
# three storage nodes (peered when replication is built in), the agent, and, when installed,
# Prometheus (rules/ loaded, remote_write receiver on) and Alertmanager. Ctrl-C stops everything.
#   scripts/run-local.sh [--no-build] [--demo-load] [--check] [--s3-port N --admin-port N ...]
# Ports also come from NODEWATCH_{S3,ADMIN,AGENT,PROMETHEUS,ALERTMANAGER}_PORT; state from
# NODEWATCH_STATE_DIR (default .local-stack/).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done
if [ "$build" = 1 ]; then
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (https://rustup.rs)" >&2
    exit 1
  fi
  echo "== building (release)"
  cargo build --release --workspace --bins --locked
fi
exec python3 deploy/local/stack.py ${args[@]+"${args[@]}"}
