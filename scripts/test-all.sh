#!/usr/bin/env bash
# Runs the whole fluidB test suite. Installs what the tests need first (idempotent):
# Debian's redis-server and redis-tools (the reference server and redis-cli/benchmark).
# Set FLUIDB_SOAK=1 to also run the long soak/chaos tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo build --release --all-targets
if [ "${FLUIDB_SOAK:-0}" = "1" ]; then
  cargo test --release -- --include-ignored
else
  cargo test --release
fi
