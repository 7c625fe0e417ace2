#!/usr/bin/env bash
# Memory per element: loads the same collections into redis-server 7.0 and fluidB (started
# here on free loopback ports, persistence off) and compares the growth of INFO's
# used_memory, in bytes per element, for big collections (one key holding ELEMENTS
# elements: hashtable / skiplist / quicklist encodings) and small ones (many keys of
# SMALL elements: listpack / intset encodings).
#
# Environment:
#   ELEMENTS    elements per case                       (default 1000000)
#   SMALL       elements per key in the small cases     (default 100)
#   CASES       comma-separated subset of the cases     (default: all)
#   SERVER_ARGS extra arguments for both servers, e.g. "--list-compress-depth 1"
#   FLUIDB_BIN  use this binary and skip the build
#   REDIS_SERVER  reference server binary               (default redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."

ELEMENTS=${ELEMENTS:-1000000}
SMALL=${SMALL:-100}
CASES=${CASES:-hash,hash-small,set,set-intset,zset,zset-small,list,list-small}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

for tool in "$REDIS_SERVER" redis-cli python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "memory: $tool not found" >&2; exit 1; }
done
. bench/lib.sh
need_fluidb_bin
setup_work mem

REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis" "$WORK/fluidb"
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
  ${SERVER_ARGS:-} >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_ready "$REDIS_PORT"
FLUIDB_PORT=$(free_port)
while [ "$FLUIDB_PORT" = "$REDIS_PORT" ]; do FLUIDB_PORT=$(free_port); done
(cd "$WORK/fluidb" && exec "$FLUIDB_BIN" --port "$FLUIDB_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  ${SERVER_ARGS:-} >"$WORK/fluidb.log" 2>&1) &
PIDS+=($!)
wait_ready "$FLUIDB_PORT"

# Writes the RESP commands of one case to stdout: 100 elements per command.
gen() { # case
  python3 - "$1" "$ELEMENTS" "$SMALL" <<'PY'
import sys
case, n, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
big = not case.endswith("-small") and case != "set-intset"
per_key = n if big else (500 if case == "set-intset" else small)
for base in range(0, n, per_key):
    key = "k:%d" % (base // per_key)
    for start in range(base, min(base + per_key, n), 100):
        ids = range(start, min(start + 100, base + per_key, n))
        if case.startswith("hash"):
            args = [x for i in ids for x in ("field:%d" % i, "value:%d" % i)]
            cmd("HSET", key, *args)
        elif case == "set-intset":
            cmd("SADD", key, *ids)
        elif case.startswith("set"):
            cmd("SADD", key, *("member:%d" % i for i in ids))
        elif case.startswith("zset"):
            args = [x for i in ids for x in (i, "member:%d" % i)]
            cmd("ZADD", key, *args)
        else:
            cmd("RPUSH", key, *("element:%d" % i for i in ids))
PY
}

used() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

measure() { # port file -> bytes per element
  redis-cli -p "$1" flushall sync >/dev/null
  local before after
  before=$(used "$1")
  redis-cli -p "$1" --pipe <"$2" >"$WORK/pipe.out" 2>&1 || { tail -n 1 "$WORK/pipe.out" >&2; echo 0; return; }
  after=$(used "$1")
  awk -v a="$after" -v b="$before" -v n="$ELEMENTS" 'BEGIN { printf "%.1f", (a - b) / n }'
}

echo "memory: redis-server on :$REDIS_PORT, fluidB ($FLUIDB_BIN) on :$FLUIDB_PORT, $ELEMENTS elements per case" >&2
printf "%-12s %-22s %14s %14s %8s\n" "case" "redis encoding" "redis B/elem" "fluidb B/elem" "ratio"
IFS=',' read -ra cases <<<"$CASES"
for c in "${cases[@]}"; do
  gen "$c" >"$WORK/cmds.resp"
  r=$(measure "$REDIS_PORT" "$WORK/cmds.resp")
  enc=$(redis-cli -p "$REDIS_PORT" object encoding k:0)
  f=$(measure "$FLUIDB_PORT" "$WORK/cmds.resp")
  printf "%-12s %-22s %14s %14s %8s\n" "$c" "$enc" "$r" "$f" \
    "$(awk -v r="$r" -v f="$f" 'BEGIN { if (r > 0) printf "%.2f", f / r; else print "n/a" }')"
done
