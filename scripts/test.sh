#!/usr/bin/env bash
# The test command: installs what the tests need (apt, pip, npm) and runs every test.
# Works on a fresh Debian machine as root, without a Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need_apt=()
for tool in promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
            prometheus-node-exporter:prometheus-node-exporter openssl:openssl curl:curl \
            node:nodejs npm:npm chromium:chromium rclone:rclone; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Ceph 16 (Debian's packages) for tests/python/test_ceph_cluster.py: one mon, one mgr with the
# prometheus module (cherrypy, werkzeug), BlueStore OSDs on sparse files.
need_ceph=()
for tool in ceph-mon:ceph-mon ceph-mgr:ceph-mgr ceph-osd:ceph-osd ceph:ceph-common rados:ceph-common; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_ceph+=("${tool##*:}")
done
/usr/bin/python3 -c 'import cherrypy, werkzeug' >/dev/null 2>&1 || need_ceph+=(python3-cherrypy3 python3-werkzeug)
if [ ${#need_ceph[@]} -gt 0 ]; then
  echo "== apt-get install ceph ${need_ceph[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ceph "${need_ceph[@]}" >/dev/null
fi

echo "== pip install -r tests/python/requirements.txt"
python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt

echo "== npm ci (tests/dashboards: @grafana/schema and typescript for the dashboard type check)"
(cd tests/dashboards && npm ci --no-audit --no-fund --loglevel=error)

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== cargo fmt --all --check"
cargo fmt --all --check

echo "== cargo clippy (release, every target, warnings are errors)"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

echo "== cargo build (release: the tests drive the real binaries)"
cargo build --release --workspace --bins --locked

echo "== cargo test"
cargo test --release --workspace --locked

echo "== pytest"
# Ceph is installed above: its end-to-end tests must run, not skip.
export NODEWATCH_REQUIRE_CEPH=1
export STORAGE_NODE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/storage-node"
python3 -m pytest -q -p no:cacheprovider tests/python
