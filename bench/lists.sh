#!/usr/bin/env bash
# List throughput and CPU cost, fluidB against redis-server 7.0, with and without
# `list-compress-depth`: for each depth in DEPTHS, starts both servers (same settings,
# persistence off, fluidB with one I/O thread so both use one core for commands), fills
# `mylist` with LPUSHes, then runs reads and writes at its head and in its middle (where
# nodes are compressed when the depth is above 0). For every step it prints requests per
# second and server CPU microseconds per request (user + system time of the server process
# from /proc, which a loaded machine disturbs much less than throughput), and the ratio
# fluidB / Redis of each.
#
# Environment:
#   N           requests per step                          (default 200000)
#   DEPTHS      list-compress-depth values                 (default "0 1")
#   PIPELINE    redis-benchmark -P                          (default 16)
#   CLIENTS     redis-benchmark -c                          (default 50)
#   FLUIDB_BIN  use this binary and skip the build
#   REDIS_SERVER  reference server binary                  (default redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
DEPTHS=${DEPTHS:-"0 1"}
PIPELINE=${PIPELINE:-16}
CLIENTS=${CLIENTS:-50}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

for tool in "$REDIS_SERVER" redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null 2>&1 || { echo "lists: $tool not found" >&2; exit 1; }
done
. bench/lib.sh
need_fluidb_bin
setup_work lists

# CPU time (utime + stime) of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One step: prints "rps us_per_request".
step() { # port pid n command...
  local port=$1 pid=$2 n=$3
  shift 3
  local t0 t1 rps
  t0=$(cpu_ticks "$pid")
  rps=$(redis-benchmark -p "$port" -c "$CLIENTS" -n "$n" -P "$PIPELINE" --csv "$@" 2>/dev/null |
    awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2; exit }')
  t1=$(cpu_ticks "$pid")
  awk -v r="$rps" -v t=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f %.2f\n", r, t * 1e6 / hz / n }'
}

STEPS=(
  "LPUSH mylist xxx"
  "LRANGE mylist 0 99"
  "LINDEX mylist __MID__"
  "LRANGE mylist __MID__ __MID100__"
  "LSET mylist __MID__ yyy"
  "LINSERT mylist BEFORE yyy zzz"
  "RPOP mylist"
)

run_server() { # name depth -> lines "step<TAB>rps<TAB>us"
  local name=$1 depth=$2 port pid
  port=$(free_port)
  if [ "$name" = redis ]; then
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --list-compress-depth "$depth" \
      --dir "$WORK" >"$WORK/$name.log" 2>&1 &
    pid=$!
  else
    "$FLUIDB_BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --list-compress-depth "$depth" \
      --server-threads 1 --dir "$WORK" >"$WORK/$name.log" 2>&1 &
    pid=$!
  fi
  PIDS+=("$pid")
  wait_ready "$port" "$name"
  local mid=$((N / 2)) s cmd
  for s in "${STEPS[@]}"; do
    cmd=${s//__MID100__/$((mid + 99))}
    cmd=${cmd//__MID__/$mid}
    # LINSERT grows the list by one per request: fewer of them keep the list's shape.
    local n=$N
    [[ $cmd == LINSERT* ]] && n=$((N / 20))
    # shellcheck disable=SC2086 # the command's words are separate arguments
    printf '%s\t%s\n' "$s" "$(step "$port" "$pid" "$n" $cmd | tr ' ' '\t')"
  done
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

echo "lists: N=$N, -P $PIPELINE, -c $CLIENTS, depths: $DEPTHS ($(nproc) CPUs)" >&2
printf "%-34s %5s %12s %12s %6s %10s %10s %6s\n" step depth "redis rps" "fluidb rps" ratio "redis us" "fluidb us" ratio
for d in $DEPTHS; do
  run_server redis "$d" >"$WORK/redis.txt"
  run_server fluidb "$d" >"$WORK/fluidb.txt"
  paste "$WORK/redis.txt" "$WORK/fluidb.txt" | awk -F'\t' -v d="$d" '{
    printf "%-34s %5s %12s %12s %6.2f %10s %10s %6.2f\n", $1, d, $2, $5, ($2 > 0 ? $5 / $2 : 0), $3, $6, ($3 > 0 ? $6 / $3 : 0)
  }'
done
