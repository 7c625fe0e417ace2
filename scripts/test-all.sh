#!/usr/bin/env bash
# Runs the whole fluidB test suite: formatting and lints, the project's own tests, then
# Redis 7.0.15's test suite (../shared/redis-7.0.15) against the fluidB binary
# (redis-suite/run.sh; redis-suite/units.txt says which units).
# Installs what the tests need first, idempotently: Debian's redis-server and redis-tools
# (the reference server, redis-cli, redis-benchmark), tcl (the Redis suite's harness),
# haproxy (load-balancer tests) and the libraries ../shared/peers/keydb-server links.
# Set FLUIDB_SOAK=1 to also run the long soak/chaos tests and the long suite units.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v tclsh >/dev/null 2>&1 || need+=(tcl)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
for lib in libuuid1 libcurl4 libssl3; do
  dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
done
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
  ./redis-suite/run.sh --soak
else
  cargo test --release
  ./redis-suite/run.sh
fi
