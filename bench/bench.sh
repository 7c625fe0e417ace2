#!/usr/bin/env bash
# Compares fluidB with redis-server 7.0 using redis-benchmark: builds fluidB in release mode,
# starts both servers on free loopback ports with persistence off, then runs the same
# redis-benchmark invocations against each server alternately (redis, fluidb, redis,
# fluidb... for ROUNDS rounds; the order is swapped every other round), and prints the
# median requests per second per (test, pipeline) and the ratio fluidB / Redis.
#
# Environment:
#   N          requests per run without pipelining            (default 100000)
#   NP         requests per run with pipelining (-P > 1)       (default 3 * N)
#   ROUNDS     rounds; each round runs every pipeline on both  (default 3)
#   TESTS      redis-benchmark -t list   (default set,get,incr,mset,lpush,lpop,sadd,hset,zadd)
#   CUSTOM     extra commands, ';'-separated, run after a ZADD fill of myzset
#              (default "ZRANGE myzset 0 9;ZRANK myzset element:__rand_int__"; "" for none)
#   PIPELINES  pipeline depths                                 (default "1 16")
#   CLIENTS    parallel connections (-c)                       (default 50)
#   KEYSPACE   random keys (-r)                                (default 100000)
#   THREADS    redis-benchmark --threads (0 = single-threaded) (default 0)
#   PIN=1      pin each server to CPU 0 (fluidB with one I/O thread) and redis-benchmark to
#              CPU 1: each server gets one whole core, steadier figures on a 2-core host
#   FLUIDB_BIN use this binary and skip the build
#   FLUIDB_ARGS extra fluidb-server arguments, e.g. "--min-clients-per-thread 0"
#   SERVER_ARGS extra arguments for both servers, after the defaults, e.g.
#              "--appendonly yes --appendfsync everysec" to compare with the AOF on
#   REDIS_SERVER / REDIS_BENCHMARK  reference server / benchmark binaries
#   CARGO_TARGET_DIR is honoured for the build.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
NP=${NP:-$((N * 3))}
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-set,get,incr,mset,lpush,lpop,sadd,hset,zadd}
CUSTOM=${CUSTOM-"ZRANGE myzset 0 9;ZRANK myzset element:__rand_int__"}
PIPELINES=${PIPELINES:-"1 16"}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
THREADS=${THREADS:-0}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
PIN=${PIN:-0}
SERVER_CPU=()
CLIENT_CPU=()
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null 2>&1 || { echo "bench: PIN=1 needs taskset (util-linux)" >&2; exit 1; }
  SERVER_CPU=(taskset -c 0)
  CLIENT_CPU=(taskset -c 1)
  FLUIDB_ARGS="--server-threads 1 ${FLUIDB_ARGS:-}"
fi

for tool in "$REDIS_SERVER" "$REDIS_BENCHMARK" redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "bench: $tool not found (Debian: apt-get install redis-server redis-tools)" >&2
    exit 1
  }
done

. bench/lib.sh
need_fluidb_bin
setup_work bench

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis" "$WORK/fluidb"
"${SERVER_CPU[@]}" "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --dir "$WORK/redis" ${SERVER_ARGS:-} >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_ready "$REDIS_PORT" redis

FLUIDB_PORT=$(free_port)
while [ "$FLUIDB_PORT" = "$REDIS_PORT" ]; do FLUIDB_PORT=$(free_port); done
(cd "$WORK/fluidb" && exec "${SERVER_CPU[@]}" "$FLUIDB_BIN" --port "$FLUIDB_PORT" --bind 127.0.0.1 --save '' \
  --appendonly no ${SERVER_ARGS:-} ${FLUIDB_ARGS:-} >"$WORK/fluidb.log" 2>&1) &
PIDS+=($!)
wait_ready "$FLUIDB_PORT" fluidb

echo "bench: redis-server $("$REDIS_SERVER" --version | sed 's/.*v=\([^ ]*\).*/\1/') on :$REDIS_PORT," \
  "fluidB ($FLUIDB_BIN) on :$FLUIDB_PORT; $(nproc) CPUs; -c $CLIENTS -r $KEYSPACE," \
  "N=$N (pipelined: $NP), rounds=$ROUNDS, tests=$TESTS, pin=$PIN" >&2

RESULTS="$WORK/results.txt" # lines: test<TAB>pipeline<TAB>server<TAB>rps
: >"$RESULTS"

run_one() { # server port pipeline round
  local n=$N
  [ "$3" -gt 1 ] && n=$NP
  local thr=()
  [ "$THREADS" -gt 0 ] && thr=(--threads "$THREADS")
  redis-cli -p "$2" flushall >/dev/null
  # --csv prints a header line and then "TEST","rps",... per test.
  "${CLIENT_CPU[@]}" "$REDIS_BENCHMARK" -p "$2" -c "$CLIENTS" -n "$n" -r "$KEYSPACE" -P "$3" -t "$TESTS" "${thr[@]}" --csv \
    2>"$WORK/bench.err" |
    awk -F'","' -v srv="$1" -v pipe="$3" 'NR > 1 && NF >= 2 {
        gsub(/"/, "", $1); gsub(/"/, "", $2); print $1 "\t" pipe "\t" srv "\t" $2 }' >>"$RESULTS"
  if [ -n "$CUSTOM" ]; then
    # The custom commands read myzset: fill it with KEYSPACE random members first.
    "$REDIS_BENCHMARK" -p "$2" -c "$CLIENTS" -n "$KEYSPACE" -r "$KEYSPACE" -P 16 -t zadd -q >/dev/null 2>&1 || true
    local cmd
    IFS=';' read -ra cmds <<<"$CUSTOM"
    for cmd in "${cmds[@]}"; do
      # shellcheck disable=SC2086 # the command's words are separate arguments
      "${CLIENT_CPU[@]}" "$REDIS_BENCHMARK" -p "$2" -c "$CLIENTS" -n "$n" -r "$KEYSPACE" -P "$3" "${thr[@]}" --csv $cmd \
        2>"$WORK/bench.err" |
        awk -F'","' -v srv="$1" -v pipe="$3" 'NR > 1 && NF >= 2 {
            gsub(/"/, "", $1); gsub(/"/, "", $2); print $1 "\t" pipe "\t" srv "\t" $2 }' >>"$RESULTS" || true
    done
  fi
  echo "bench: round $4 -P $3 $1 done" >&2
}

for round in $(seq 1 "$ROUNDS"); do
  for pipe in $PIPELINES; do
    if [ $((round % 2)) -eq 1 ]; then
      run_one redis "$REDIS_PORT" "$pipe" "$round"
      run_one fluidb "$FLUIDB_PORT" "$pipe" "$round"
    else
      run_one fluidb "$FLUIDB_PORT" "$pipe" "$round"
      run_one redis "$REDIS_PORT" "$pipe" "$round"
    fi
  done
done

for p in "${PIDS[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "bench: a server died during the run" >&2; exit 1; }
done

# Median per (test, pipeline, server); table in the order the tests ran.
awk -F'\t' '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (n == 0) return 0
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    key = $1 SUBSEP $2 SUBSEP $3
    vals[key] = (key in vals) ? vals[key] " " $4 : $4
    row = $1 SUBSEP $2
    if (!(row in seen)) { seen[row] = 1; order[++rows] = row }
  }
  END {
    printf "%-40s %8s %14s %14s %8s\n", "test", "pipeline", "redis rps", "fluidb rps", "ratio"
    for (i = 1; i <= rows; i++) {
      split(order[i], f, SUBSEP)
      r = median(order[i] SUBSEP "redis"); b = median(order[i] SUBSEP "fluidb")
      printf "%-40s %8s %14.0f %14.0f %8s\n", f[1], f[2], r, b, (r > 0 ? sprintf("%.2f", b / r) : "n/a")
    }
  }' "$RESULTS"
