#!/usr/bin/env bash
# Latency and memory during BGSAVE: loads KEYS keys into redis-server 7.0 and fluidB
# (started here on free loopback ports, same settings), then for each server runs a
# redis-benchmark load (GET/SET on the same keys), starts a BGSAVE half a second into it,
# and reports the load's p99.9 and max latency, the time the save took, and the peak of
# PSS (parent + child, so copy-on-write pages count once each) above the level before.
#
# Environment:
#   KEYS        keys to load                     (default 1000000)
#   REQUESTS    requests of the load             (default 2000000)
#   CLIENTS     redis-benchmark clients          (default 50)
#   FLUIDB_BIN  use this binary and skip the build
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
REQUESTS=${REQUESTS:-2000000}
CLIENTS=${CLIENTS:-50}

for tool in redis-server redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bgsave: $tool not found" >&2; exit 1; }
done
. bench/lib.sh
need_fluidb_bin
setup_work bgsave

# Sums the PSS (kB) of a process and its children.
pss_kb() {
  local total=0 p v
  for p in "$1" $(cat "/proc/$1/task/"*/children 2>/dev/null); do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

python3 - "$KEYS" >"$WORK/load.resp" <<'PY'
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer
for base in range(0, n, 100):
    args = [b"MSET"]
    for i in range(base, min(base + 100, n)):
        args += [b"key:%012d" % i, b"value-%d" % i]
    out.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
PY

run() { # name bin...
  local name=$1
  shift
  local port
  port=$(free_port)
  mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && exec "$@" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/$name" \
    >"$WORK/$name.log" 2>&1) &
  local pid=$!
  PIDS+=("$pid")
  wait_ready "$port"
  redis-cli -p "$port" --pipe <"$WORK/load.resp" >/dev/null
  local base peak cur
  base=$(pss_kb "$pid")
  peak=$base
  redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -r "$KEYS" -t get,set >"$WORK/$name.bench" 2>&1 &
  local bpid=$!
  sleep 0.5
  local t0 t1
  t0=$(date +%s.%N)
  redis-cli -p "$port" bgsave >/dev/null
  while [ "$(redis-cli -p "$port" info persistence | tr -d '\r' | awk -F: '$1 == "rdb_bgsave_in_progress" { print $2 }')" != "0" ]; do
    cur=$(pss_kb "$pid")
    [ "$cur" -gt "$peak" ] && peak=$cur
    sleep 0.01
  done
  t1=$(date +%s.%N)
  wait "$bpid"
  # redis-benchmark's distribution: the last "99.900%" and "100.000%" lines of each test.
  local p999 max
  p999=$(grep -E '^ *99\.9[0-9]*% <= ' "$WORK/$name.bench" | awk '{ print $3 }' | sort -g | tail -1)
  max=$(grep -E '^ *100\.000% <= ' "$WORK/$name.bench" | awk '{ print $3 }' | sort -g | tail -1)
  local fork
  fork=$(redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '$1 == "latest_fork_usec" { printf "%.1f", $2 / 1000 }')
  printf "%-8s %10s %10s %10s %10s %16s\n" "$name" "${p999:-?}" "${max:-?}" "$fork" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" "$(( (peak - base) / 1024 ))"
  kill "$pid" 2>/dev/null || true
}

echo "bgsave: $KEYS keys, load of $REQUESTS GET/SET requests from $CLIENTS clients" >&2
printf "%-8s %10s %10s %10s %10s %16s\n" "server" "p99.9 ms" "max ms" "fork ms" "save s" "peak extra MB"
run redis redis-server
run fluidb "$FLUIDB_BIN"
