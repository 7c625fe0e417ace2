#!/usr/bin/env bash
# Replication: compares a redis-server -> redis-server pair with a fluidb -> fluidb pair (a
# master and a replica of the same binary, started here on free loopback ports, persistence
# off) in the same run, and prints one markdown table:
#
#   1. Full sync time of N keys (DEBUG POPULATE N key VALUE_SIZE on the master), disk
#      (repl-diskless-sync no) and diskless (yes, delay 0): from sending REPLICAOF to a fresh,
#      empty replica until it reports master_link_status:up, master_sync_in_progress:0 and
#      DBSIZE = N (polled every POLL_MS ms). Each pair has one populated master per kind; each
#      measurement starts a new replica, so every sync is a full one (checked: the master's
#      sync_full grows by one). ROUNDS rounds, the kinds and the pairs alternate in order
#      every other round; the table shows medians.
#   2. Replication lag: a probe client with one connection to the master and one to the
#      replica writes a unique key (SET), and as soon as the master's +OK arrives polls
#      EXISTS on the replica back to back until it answers 1. Lag = from the +OK to the
#      first EXISTS that sees the key (includes one EXISTS round trip, ~0.05-0.1 ms on
#      loopback: see the "no load" row). One probe every PROBE_INTERVAL_MS ms, PROBES probes,
#      while `redis-benchmark -t set -c CLIENTS -r KEYSPACE -l` loads the master; p50/p99/max.
#      The master's throughput during the probes (INFO total_commands_processed delta / time)
#      is printed next to it, so a lag is read with the load that caused it. The "probe SET
#      latency" row is the master's own reply time to the probe's SET under that load.
#
# Usage:
#   ./bench/repl.sh                                   # redis->redis vs fluidb->fluidb
#   FLUIDB_BIN=$(which redis-server) ./bench/repl.sh  # both pairs redis (A/A: noise level)
#   PAIRS=redis,redis ./bench/repl.sh                 # the same, without building fluidB
#   PAIRS=redis N=200000 ROUNDS=1 ./bench/repl.sh     # one pair, quick
#
# A pair that cannot replicate (REPLICAOF fails, or no sync starts within 10 s) gets "n/a"
# in its column and the run goes on. The default run (1M keys, 3 rounds, 2000 probes) takes
# about 2-3 minutes on 2 cores and needs ~1.5 GB of memory (two populated masters per pair).
#
# Environment:
#   N                 keys of the full sync                          (default 1000000)
#   VALUE_SIZE        DEBUG POPULATE value size, bytes               (default 100)
#   ROUNDS            full-sync rounds (each: disk + diskless, every pair) (default 3)
#   PROBES            lag probes under load                          (default 2000)
#   IDLE_PROBES       lag probes without load, before it             (default 200)
#   PROBE_INTERVAL_MS one probe every this many ms                   (default 10)
#   CLIENTS           redis-benchmark clients (-c)                   (default 50)
#   KEYSPACE          redis-benchmark random keys (-r)               (default 100000)
#   LOAD_VALUE_SIZE   redis-benchmark value size (-d)                (default 3)
#   POLL_MS           full-sync poll period, ms                      (default 5)
#   SYNC_TIMEOUT      seconds before a full sync counts as failed    (default 120)
#   PAIRS             one or two of redis,fluidb, comma-separated; the ratio is
#                     second/first                                   (default redis,fluidb)
#   FLUIDB_BIN        binary of the "fluidb" pair; skips the build (a redis-server works)
#   SERVER_ARGS       extra arguments for every server
#   REDIS_SERVER / REDIS_BENCHMARK  reference server / benchmark binaries
#
# Noise: everything (two servers, redis-benchmark, the probe) shares the machine's cores; on
# 2 cores the lag under load mostly measures scheduling (who gets a core when), so its p99
# and max move a lot between runs: compare the pairs of one run, and run PAIRS=redis,redis
# to see how far two identical pairs differ.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
VALUE_SIZE=${VALUE_SIZE:-100}
ROUNDS=${ROUNDS:-3}
PROBES=${PROBES:-2000}
IDLE_PROBES=${IDLE_PROBES:-200}
PROBE_INTERVAL_MS=${PROBE_INTERVAL_MS:-10}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
LOAD_VALUE_SIZE=${LOAD_VALUE_SIZE:-3}
POLL_MS=${POLL_MS:-5}
SYNC_TIMEOUT=${SYNC_TIMEOUT:-120}
PAIRS=${PAIRS:-redis,fluidb}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}

for tool in "$REDIS_SERVER" "$REDIS_BENCHMARK" redis-cli python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "repl: $tool not found" >&2; exit 1; }
done
IFS=',' read -ra PAIR <<<"$PAIRS"
[ "${#PAIR[@]}" -ge 1 ] && [ "${#PAIR[@]}" -le 2 ] || { echo "repl: PAIRS takes one or two names" >&2; exit 1; }

. bench/lib.sh
BIN=()
for p in "${PAIR[@]}"; do
  case "$p" in
    redis) BIN+=("$(command -v "$REDIS_SERVER")") ;;
    fluidb)
      # need_fluidb_bin resolves symlinks, which turns Debian's redis-server into
      # redis-check-rdb (the same binary, dispatching on argv[0]): keep a given path as is.
      if [ -n "${FLUIDB_BIN:-}" ]; then
        FLUIDB_BIN=$(command -v "$FLUIDB_BIN" || true)
        [ -x "$FLUIDB_BIN" ] || { echo "repl: FLUIDB_BIN is not executable" >&2; exit 1; }
        FLUIDB_BIN=$(realpath -s "$FLUIDB_BIN")
      else
        need_fluidb_bin
      fi
      BIN+=("$FLUIDB_BIN")
      ;;
    *) echo "repl: unknown pair '$p' (redis or fluidb)" >&2; exit 1 ;;
  esac
done
setup_work repl

# The measuring client (`sync`: one full sync, `probe`: lag).
TOOL=bench/repl_tool.py

RESULTS="$WORK/results.txt" # lines: column<TAB>metric<TAB>value
: >"$RESULTS"
FAILED=() # per column: 1 once a sync failed (the pair is skipped from then on)

fail_pair() { # column message
  echo "repl: ${PAIR[$1]} (column $(($1 + 1))): $2; skipping this pair" >&2
  FAILED[$1]=1
}

echo "repl: pairs ${PAIRS} (${BIN[*]}); $(nproc) CPUs; N=$N x ${VALUE_SIZE} B, rounds=$ROUNDS," \
  "probes=$PROBES every ${PROBE_INTERVAL_MS} ms under redis-benchmark -t set -c $CLIENTS -r $KEYSPACE" >&2

# 1. Full sync. Masters: MPORT[col,kind], kind 0 = disk, 1 = diskless.
declare -A MPORT MPID
KIND_NAME=(disk diskless)
KIND_FLAG=(no yes)
for c in "${!PAIR[@]}"; do
  FAILED[$c]=0
  for k in 0 1; do
    port=$(free_port)
    if ! start "m$c-${KIND_NAME[$k]}" "${BIN[$c]}" "$port" --enable-debug-command yes \
      --repl-diskless-sync "${KIND_FLAG[$k]}" --repl-diskless-sync-delay 0; then
      fail_pair "$c" "the master did not start"
      break
    fi
    MPORT[$c,$k]=$port
    MPID[$c,$k]=$STARTED_PID
    t0=$(date +%s.%N)
    rep=$(redis-cli -p "$port" debug populate "$N" key "$VALUE_SIZE" 2>&1)
    size=$(redis-cli -p "$port" dbsize)
    if [ "$size" != "$N" ]; then
      fail_pair "$c" "DEBUG POPULATE: $rep (dbsize $size)"
      break
    fi
    echo "repl: ${PAIR[$c]} ${KIND_NAME[$k]} master :$port populated in" \
      "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s" >&2
  done
done

for round in $(seq 1 "$ROUNDS"); do
  cols=("${!PAIR[@]}")
  kinds=(0 1)
  if [ $((round % 2)) -eq 0 ]; then
    kinds=(1 0)
    [ "${#PAIR[@]}" -eq 2 ] && cols=(1 0)
  fi
  for c in "${cols[@]}"; do
    for k in "${kinds[@]}"; do
      [ "${FAILED[$c]}" = 0 ] || continue
      port=$(free_port)
      if ! start "r$c" "${BIN[$c]}" "$port"; then
        fail_pair "$c" "the replica did not start"
        continue
      fi
      if secs=$(python3 "$TOOL" sync "$port" "${MPORT[$c,$k]}" "$N" "$SYNC_TIMEOUT" "$POLL_MS"); then
        printf '%s\tsync_%s\t%s\n' "$c" "${KIND_NAME[$k]}" "$secs" >>"$RESULTS"
        echo "repl: round $round ${PAIR[$c]} ${KIND_NAME[$k]} full sync ${secs} s" >&2
      else
        fail_pair "$c" "full sync failed (log: see below)"
        tail -5 "$WORK/r$c.log" >&2
      fi
      stop "$STARTED_PID"
      rm -rf "${WORK:?}/r$c"
    done
  done
done
for c in "${!PAIR[@]}"; do
  for k in 0 1; do
    [ -n "${MPID[$c,$k]:-}" ] && stop "${MPID[$c,$k]}"
  done
  rm -rf "${WORK:?}/m$c-"*
done

# 2. Lag under load, one pair after the other on a fresh, empty pair.
for c in "${!PAIR[@]}"; do
  [ "${FAILED[$c]}" = 0 ] || continue
  mport=$(free_port)
  start "l$c-master" "${BIN[$c]}" "$mport" || { fail_pair "$c" "the master did not start"; continue; }
  mpid=$STARTED_PID
  rport=$(free_port)
  start "l$c-replica" "${BIN[$c]}" "$rport" || { fail_pair "$c" "the replica did not start"; stop "$mpid"; continue; }
  rpid=$STARTED_PID
  if ! python3 "$TOOL" sync "$rport" "$mport" 0 "$SYNC_TIMEOUT" "$POLL_MS" >/dev/null; then
    fail_pair "$c" "the replica did not connect"
  elif out=$(python3 "$TOOL" probe "$mport" "$rport" "$IDLE_PROBES" "$PROBE_INTERVAL_MS" idle); then
    awk -F'\t' -v c="$c" '$1 == "p50" { print c "\tidle_p50\t" $2 }' <<<"$out" >>"$RESULTS"
    "$REDIS_BENCHMARK" -p "$mport" -c "$CLIENTS" -r "$KEYSPACE" -d "$LOAD_VALUE_SIZE" -t set -l -q \
      >"$WORK/load$c.txt" 2>&1 &
    bpid=$!
    PIDS+=("$bpid")
    sleep 1 # let the load reach its pace
    if out=$(python3 "$TOOL" probe "$mport" "$rport" "$PROBES" "$PROBE_INTERVAL_MS" load); then
      awk -F'\t' -v c="$c" '{ print c "\t" ($1 == "ops" || $1 == "set_p99" ? $1 : "lag_" $1) "\t" $2 }' \
        <<<"$out" >>"$RESULTS"
      echo "repl: ${PAIR[$c]} lag under load:" $out >&2
    else
      fail_pair "$c" "lag probes failed"
    fi
    kill -0 "$bpid" 2>/dev/null || { echo "repl: redis-benchmark ended early:" >&2; tail -3 "$WORK/load$c.txt" >&2; }
    stop "$bpid"
  else
    fail_pair "$c" "idle lag probes failed"
  fi
  stop "$rpid"
  stop "$mpid"
done

# Markdown table: medians per (column, metric).
awk -F'\t' -v ncol="${#PAIR[@]}" -v names="$PAIRS" -v n="$N" -v vs="$VALUE_SIZE" -v probes="$PROBES" \
  -v clients="$CLIENTS" '
  function median(key,   m, i, j, t, a) {
    m = split(vals[key], a, " ")
    for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  { key = $1 SUBSEP $2; vals[key] = (key in vals) ? vals[key] " " $3 : $3 }
  END {
    split(names, col, ",")
    metric[1] = "sync_disk";     label[1] = sprintf("full sync, %d keys x %d B, disk (s)", n, vs); fmt[1] = "%.2f"
    metric[2] = "sync_diskless"; label[2] = sprintf("full sync, %d keys x %d B, diskless (s)", n, vs); fmt[2] = "%.2f"
    metric[3] = "idle_p50";      label[3] = "lag p50, no load (ms)"; fmt[3] = "%.3f"
    metric[4] = "lag_p50";       label[4] = sprintf("lag p50, SET load -c %d (ms)", clients); fmt[4] = "%.3f"
    metric[5] = "lag_p99";       label[5] = sprintf("lag p99, SET load -c %d (ms)", clients); fmt[5] = "%.3f"
    metric[6] = "lag_max";       label[6] = sprintf("lag max of %d probes (ms)", probes); fmt[6] = "%.3f"
    metric[7] = "set_p99";       label[7] = "probe SET latency p99 on the master (ms)"; fmt[7] = "%.3f"
    metric[8] = "ops";           label[8] = "master throughput during the probes (ops/s)"; fmt[8] = "%.0f"
    hdr = "| metric |"; sep = "|---|"
    for (c = 1; c <= ncol; c++) { hdr = hdr " " col[c] " |"; sep = sep "---:|" }
    if (ncol == 2) { hdr = hdr " ratio " col[2] "/" col[1] " |"; sep = sep "---:|" }
    print hdr; print sep
    for (i = 1; i <= 8; i++) {
      line = "| " label[i] " |"
      for (c = 1; c <= ncol; c++) {
        k = (c - 1) SUBSEP metric[i]
        have[c] = (k in vals); v[c] = have[c] ? median(k) : 0
        line = line " " (have[c] ? sprintf(fmt[i], v[c]) : "n/a") " |"
      }
      if (ncol == 2) line = line " " (have[1] && have[2] && v[1] > 0 ? sprintf("%.2f", v[2] / v[1]) : "n/a") " |"
      print line
    }
  }' "$RESULTS"
