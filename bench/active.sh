#!/usr/bin/env bash
# Active replication (`active-replica yes`, two nodes replicating each other, both taking
# writes): what a pair costs and gives, next to one node and to redis-server, in the same
# run, printed as one markdown table with a column per server (redis-server, fluidB, and
# KeyDB when its binary runs here):
#
#   a. Write throughput: `redis-benchmark -t set|incr -P PIPELINE -c CLIENTS -n N -r KEYSPACE`
#      against one node (persistence off), and against an active pair with two
#      redis-benchmark processes, one per node, writing at once (the pair's figure is the sum
#      of both). Ratios: pair / one node of the same server, and one node / redis-server.
#      Each pair run starts from FLUSHALL with both links caught up; after it, "catch-up" is
#      how long until each node has applied the other's whole stream. Medians of ROUNDS
#      rounds; the servers alternate their order every other round.
#   b. Replication lag of a pair: a probe SETs a unique key on node A and, from the +OK on,
#      polls EXISTS on node B until it sees it (bench/repl_tool.py probe, as bench/repl.sh
#      does for master -> replica). IDLE_PROBES at rest, then PROBES while `redis-benchmark
#      -t set -c CLIENTS -P LOAD_PIPELINE -l` loads A; p50/p99/max, and the load's ops/s on A
#      (INFO total_commands_processed over the probe window).
#   c. Replication bytes per write: how much node A's replication stream grows per SET
#      (INFO master_repl_offset delta / WRITES, from `redis-benchmark -t set -n WRITES -d
#      VALUE_SIZE -r KEYSPACE`) in an active pair and in a plain master -> replica pair of the
#      same server (redis-server: plain only).
#
# Usage:
#   ./bench/active.sh                                      # about 4 minutes on 2 cores
#   N=100000 ROUNDS=1 PROBES=300 ./bench/active.sh         # quick
#   KEYDB= ./bench/active.sh                               # without the KeyDB column
#   FLUIDB_BIN=target/release/fluidb-server ./bench/active.sh   # skip the build
#
# Environment:
#   N                 requests per redis-benchmark run in (a), per process  (default 300000)
#   ROUNDS            rounds of (a)                                         (default 3)
#   TESTS             redis-benchmark tests of (a)                          (default set,incr)
#   PIPELINE          -P of (a)                                             (default 16)
#   CLIENTS           -c of (a) and of the load in (b)                      (default 50)
#   KEYSPACE          -r                                                    (default 100000)
#   VALUE_SIZE        -d of (a) and (c)                                     (default 3)
#   PROBES            lag probes under load                                 (default 1000)
#   IDLE_PROBES       lag probes at rest                                    (default 200)
#   PROBE_INTERVAL_MS one probe every this many ms                          (default 10)
#   LOAD_PIPELINE     -P of the load in (b)                                 (default 1)
#   WRITES            SETs of (c)                                           (default 100000)
#   CATCHUP_TIMEOUT   seconds a pair may take to catch up before the run fails (default 120)
#   KEYDB             keydb-server binary; empty: no KeyDB column (default
#                     /work/shared/peers/keydb-server, used when it runs here)
#   KEYDB_ARGS        extra KeyDB arguments (default "--server-threads 2": fluidB runs a
#                     worker thread per core, Redis one thread)
#   FLUIDB_BIN        fluidB binary; skips the build
#   SERVER_ARGS       extra arguments for every server
#   REDIS_SERVER / REDIS_BENCHMARK  reference server / benchmark binaries
#
# Noise: the servers, one or two redis-benchmark processes and the probe share the machine's
# cores. On 2 cores a pair with two benchmarks runs four busy processes on two cores, so
# "pair / one node" measures how the pair shares the CPU as much as replication's cost: on
# separate machines each node would have its own cores. Compare columns of one run; p99 and
# max of the lag move by 2x or more between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-300000}
ROUNDS=${ROUNDS:-3}
TESTS=${TESTS:-set,incr}
PIPELINE=${PIPELINE:-16}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-3}
PROBES=${PROBES:-1000}
IDLE_PROBES=${IDLE_PROBES:-200}
PROBE_INTERVAL_MS=${PROBE_INTERVAL_MS:-10}
LOAD_PIPELINE=${LOAD_PIPELINE:-1}
WRITES=${WRITES:-100000}
CATCHUP_TIMEOUT=${CATCHUP_TIMEOUT:-120}
KEYDB=${KEYDB-/work/shared/peers/keydb-server}
KEYDB_ARGS=${KEYDB_ARGS:---server-threads 2}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
export BENCH_NAME=active
TOOL=bench/repl_tool.py

for tool in "$REDIS_SERVER" "$REDIS_BENCHMARK" redis-cli python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "active: $tool not found" >&2; exit 1; }
done
. bench/lib.sh
need_fluidb_bin

# Columns: name, binary, extra arguments, whether it has active replication.
COL=(redis fluidb)
BIN=("$(command -v "$REDIS_SERVER")" "$FLUIDB_BIN")
EXTRA=("" "")
if [ -n "$KEYDB" ]; then
  if "$KEYDB" --version 2>/dev/null | grep -q KeyDB; then
    COL+=(keydb)
    BIN+=("$KEYDB")
    EXTRA+=("$KEYDB_ARGS")
  else
    echo "active: no KeyDB column: $KEYDB does not run here (KEYDB= to silence)" >&2
  fi
fi
setup_work active
RESULTS="$WORK/results.txt" # lines: column<TAB>metric<TAB>value
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# start_node NAME COL PORT ARGS...: one server of column COL (its extra arguments added).
start_node() {
  local name=$1 c=$2 port=$3
  shift 3
  # shellcheck disable=SC2086 # EXTRA holds separate words
  start "$name" "${BIN[$c]}" "$port" "$@" ${EXTRA[$c]}
}

# Waits until both nodes of a pair report their link up; fails after CATCHUP_TIMEOUT.
wait_links() { # portA portB
  local i p
  for i in $(seq 1 $((CATCHUP_TIMEOUT * 20))); do
    for p in "$@"; do
      redis-cli -p "$p" info replication | grep -q '^master_link_status:up' || continue 2
    done
    return 0
  done
  echo "active: the links of :$1 and :$2 did not come up" >&2
  return 1
}

# Starts an active pair of column c on two fresh ports; sets PA PB PIDA PIDB.
start_pair() { # c tag
  PA=$(free_port)
  PB=$(free_port)
  while [ "$PB" = "$PA" ]; do PB=$(free_port); done
  start_node "$2-a" "$1" "$PA" --active-replica yes --replicaof 127.0.0.1 "$PB"
  PIDA=$STARTED_PID
  start_node "$2-b" "$1" "$PB" --active-replica yes --replicaof 127.0.0.1 "$PA"
  PIDB=$STARTED_PID
  wait_links "$PA" "$PB"
}

caught_up() { python3 "$TOOL" caught-up "$CATCHUP_TIMEOUT" "$@"; }

# redis-benchmark's requests per second of one test (CSV output).
bench_rps() { # port test n [extra args]
  local port=$1 t=$2 n=$3
  shift 3
  "$REDIS_BENCHMARK" -p "$port" -t "$t" -P "$PIPELINE" -c "$CLIENTS" -n "$n" -r "$KEYSPACE" \
    -d "$VALUE_SIZE" --csv "$@" | awk -F'","' -v t="${t^^}" '$1 == "\"" t { print $2 }'
}

echo "active: columns ${COL[*]}; $(nproc) CPUs; (a) -t $TESTS -P $PIPELINE -c $CLIENTS -n $N," \
  "$ROUNDS rounds; (b) $PROBES probes; (c) $WRITES SETs" >&2
IFS=',' read -ra TEST <<<"$TESTS"

# a. Throughput: one node, then (servers with active replication) a pair.
for round in $(seq 1 "$ROUNDS"); do
  cols=("${!COL[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    for i in "${!cols[@]}"; do cols[$i]=$((${#COL[@]} - 1 - i)); done
  fi
  for c in "${cols[@]}"; do
    port=$(free_port)
    start_node "one-${COL[$c]}" "$c" "$port"
    pid=$STARTED_PID
    for t in "${TEST[@]}"; do
      redis-cli -p "$port" flushall >/dev/null
      record "$c" "one_$t" "$(bench_rps "$port" "$t" "$N")"
    done
    stop "$pid"
    [ "${COL[$c]}" = redis ] && continue
    start_pair "$c" "pair-${COL[$c]}"
    for t in "${TEST[@]}"; do
      redis-cli -p "$PA" flushall >/dev/null
      caught_up "$PA:$PB" "$PB:$PA"
      bench_rps "$PA" "$t" "$N" >"$WORK/rps-a" &
      ba=$!
      bench_rps "$PB" "$t" "$N" >"$WORK/rps-b" &
      bb=$!
      wait "$ba" "$bb"
      t0=$(date +%s.%N)
      caught_up "$PA:$PB" "$PB:$PA"
      record "$c" "pair_$t" "$(awk '{ s += $1 } END { print s }' "$WORK/rps-a" "$WORK/rps-b")"
      record "$c" "catchup_$t" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
    done
    stop "$PIDA"
    stop "$PIDB"
    echo "active: round $round ${COL[$c]} done" >&2
  done
done

# b. Lag of each pair, at rest and under load on A.
for c in "${!COL[@]}"; do
  [ "${COL[$c]}" = redis ] && continue
  start_pair "$c" "lag-${COL[$c]}"
  out=$(python3 "$TOOL" probe "$PA" "$PB" "$IDLE_PROBES" "$PROBE_INTERVAL_MS" idle)
  awk -F'\t' -v c="$c" '$1 == "p50" { print c "\tidle_p50\t" $2 }' <<<"$out" >>"$RESULTS"
  "$REDIS_BENCHMARK" -p "$PA" -c "$CLIENTS" -P "$LOAD_PIPELINE" -r "$KEYSPACE" -d "$VALUE_SIZE" \
    -t set -l -q >"$WORK/load$c.txt" 2>&1 &
  bpid=$!
  PIDS+=("$bpid")
  sleep 1 # let the load reach its pace
  out=$(python3 "$TOOL" probe "$PA" "$PB" "$PROBES" "$PROBE_INTERVAL_MS" load)
  awk -F'\t' -v c="$c" '{ print c "\t" ($1 == "ops" || $1 == "set_p99" ? $1 : "lag_" $1) "\t" $2 }' \
    <<<"$out" >>"$RESULTS"
  echo "active: ${COL[$c]} lag under load:" $out >&2
  stop "$bpid"
  stop "$PIDA"
  stop "$PIDB"
done

# c. Bytes of A's stream per SET: active pair and plain master -> replica.
stream_bytes() { # c metric master replica...: WRITES SETs on the master, A's growth / WRITES
  local c=$1 metric=$2 m=$3 links=() r o0 o1
  shift 3
  for r in "$@"; do links+=("$m:$r"); done
  [ "$metric" = pair_bytes ] && links+=("$1:$m")
  caught_up "${links[@]}"
  o0=$(redis-cli -p "$m" info replication | tr -d '\r' | awk -F: '$1 == "master_repl_offset" { print $2 }')
  "$REDIS_BENCHMARK" -p "$m" -t set -P "$PIPELINE" -c "$CLIENTS" -n "$WRITES" -r "$KEYSPACE" \
    -d "$VALUE_SIZE" -q >/dev/null
  caught_up "${links[@]}"
  o1=$(redis-cli -p "$m" info replication | tr -d '\r' | awk -F: '$1 == "master_repl_offset" { print $2 }')
  record "$c" "$metric" "$(awk -v a="$o0" -v b="$o1" -v n="$WRITES" 'BEGIN { print (b - a) / n }')"
}
for c in "${!COL[@]}"; do
  mport=$(free_port)
  start_node "plain-${COL[$c]}-m" "$c" "$mport"
  mpid=$STARTED_PID
  rport=$(free_port)
  start_node "plain-${COL[$c]}-r" "$c" "$rport" --replicaof 127.0.0.1 "$mport"
  rpid=$STARTED_PID
  wait_links "$rport"
  stream_bytes "$c" plain_bytes "$mport" "$rport"
  stop "$rpid"
  stop "$mpid"
  [ "${COL[$c]}" = redis ] && continue
  start_pair "$c" "bytes-${COL[$c]}"
  stream_bytes "$c" pair_bytes "$PA" "$PB"
  stop "$PIDA"
  stop "$PIDB"
done

# The table: medians per (column, metric), and ratios of medians.
awk -F'\t' -v cols="$(IFS=,; echo "${COL[*]}")" -v tests="$TESTS" -v p="$PIPELINE" -v cl="$CLIENTS" \
  -v probes="$PROBES" -v writes="$WRITES" -v vs="$VALUE_SIZE" -v lp="$LOAD_PIPELINE" '
  function median(key,   m, i, j, t, a) {
    m = split(vals[key], a, " ")
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  function cell(c, metric, fmt) { k = (c - 1) SUBSEP metric; return (k in vals) ? sprintf(fmt, median(k)) : "n/a" }
  function ratio(c1, m1, c2, m2,   k1, k2) {
    k1 = (c1 - 1) SUBSEP m1; k2 = (c2 - 1) SUBSEP m2
    return (k1 in vals && k2 in vals && median(k2) > 0) ? sprintf("%.2f", median(k1) / median(k2)) : "n/a"
  }
  function row(label, metric, fmt,   line, c) {
    line = "| " label " |"
    for (c = 1; c <= ncol; c++) line = line " " cell(c, metric, fmt) " |"
    print line
  }
  { key = $1 SUBSEP $2; vals[key] = (key in vals) ? vals[key] " " $3 : $3 }
  END {
    ncol = split(cols, col, ",")
    nt = split(tests, test, ",")
    hdr = "| metric |"; sep = "|---|"
    for (c = 1; c <= ncol; c++) { hdr = hdr " " col[c] " |"; sep = sep "---:|" }
    print hdr; print sep
    for (i = 1; i <= nt; i++) {
      T = toupper(test[i])
      row(sprintf("%s rps, one node (-P %d -c %d)", T, p, cl), "one_" test[i], "%.0f")
      row(sprintf("%s rps, active pair (two benchmarks, sum)", T), "pair_" test[i], "%.0f")
      line = "| " T " pair / one node |"
      for (c = 1; c <= ncol; c++) line = line " " ratio(c, "pair_" test[i], c, "one_" test[i]) " |"
      print line
      line = "| " T " one node / redis-server |"
      for (c = 1; c <= ncol; c++) line = line " " ratio(c, "one_" test[i], 1, "one_" test[i]) " |"
      print line
      row(sprintf("%s pair catch-up after the run (s)", T), "catchup_" test[i], "%.2f")
    }
    row("lag A -> B p50, at rest (ms)", "idle_p50", "%.3f")
    row(sprintf("lag A -> B p50, SET load on A -P %d (ms)", lp), "lag_p50", "%.3f")
    row("lag A -> B p99, under load (ms)", "lag_p99", "%.3f")
    row(sprintf("lag A -> B max of %d probes (ms)", probes), "lag_max", "%.3f")
    row("probe SET latency p99 on A, under load (ms)", "set_p99", "%.3f")
    row("load on A during the probes (ops/s)", "ops", "%.0f")
    row(sprintf("stream bytes per SET (-d %d), active pair", vs), "pair_bytes", "%.1f")
    row(sprintf("stream bytes per SET (-d %d), master -> replica", vs), "plain_bytes", "%.1f")
  }' "$RESULTS"
