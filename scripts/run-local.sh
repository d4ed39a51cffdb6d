#!/usr/bin/env bash
# The run command: builds the bundle and starts it on loopback with embedded defaults:
# three storage nodes (and the agent once it exists). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${NODEWATCH_STATE_DIR:-$PWD/.local-stack}"

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi
echo "== building (release)"
cargo build --release --workspace --bins --locked
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"

mkdir -p "$state"
secret="$state/s3-secret-key"
if [ ! -s "$secret" ]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret")
fi
access_key=nodewatch

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "== stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

for i in 0 1 2; do
  mkdir -p "$state/node-$i"
  "$bin/storage-node" serve \
    --node-id "node-$i" \
    --data-dir "$state/node-$i/data" \
    --s3-listen "127.0.0.1:$((9000 + i))" \
    --admin-listen "127.0.0.1:$((9900 + i))" \
    --access-key "$access_key" \
    --secret-key-file "$secret" \
    --log-file "$state/node-$i/storage-node.log" > /dev/null &
  pids+=("$!")
done

for i in 0 1 2; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$((9900 + i))/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

cat <<MSG

Nodewatch local bundle is up (state in $state).

  storage nodes (S3, path-style, SigV4):
    node-0  S3 http://127.0.0.1:9000   admin http://127.0.0.1:9900/metrics  /admin/status
    node-1  S3 http://127.0.0.1:9001   admin http://127.0.0.1:9901/metrics  /admin/status
    node-2  S3 http://127.0.0.1:9002   admin http://127.0.0.1:9902/metrics  /admin/status
  credentials: access key "$access_key", secret key in $secret
  logs: $state/node-*/storage-node.log (one JSON object per line)

  try:  AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=\$(cat $secret) \\
          aws --endpoint-url http://127.0.0.1:9000 s3 mb s3://demo
        curl -s http://127.0.0.1:9900/admin/status

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "a storage node exited; see its log under $state" >&2
