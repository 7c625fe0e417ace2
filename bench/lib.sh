# Shared by the bench scripts (sourced): the fluidB binary, a work directory removed at
# exit together with the servers started, free loopback ports, server readiness, and starting
# and stopping servers.

# Builds fluidB in release mode unless FLUIDB_BIN names a binary; sets FLUIDB_BIN.
need_fluidb_bin() {
  if [ -z "${FLUIDB_BIN:-}" ]; then
    cargo build --release --quiet --bin fluidb-server
    FLUIDB_BIN="${CARGO_TARGET_DIR:-target}/release/fluidb-server"
  fi
  [ -x "$FLUIDB_BIN" ] || { echo "$0: $FLUIDB_BIN is not executable" >&2; exit 1; }
  # -s: keep symlinks (Debian's redis-server is a link to redis-check-rdb, which picks its
  # mode from the name it was started under).
  FLUIDB_BIN=$(realpath -s "$FLUIDB_BIN")
}

# Creates $WORK; the servers whose pids are appended to PIDS are stopped at exit.
setup_work() { # name
  WORK=$(mktemp -d -t "fluidb-$1.XXXXXX")
  PIDS=()
  trap cleanup EXIT
  # Interrupted: exit, and the EXIT trap cleans up (a cleanup trap on INT alone would
  # return and let the script go on).
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}

# A loopback port nobody listens on (the server binds it right after). Chosen below the
# kernel's ephemeral range (ip_local_port_range, 32768+ by default), where an outgoing
# connection's local port could make the bind fail although nothing listens there.
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % 22000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# Waits until the server on `port` answers PING; on failure prints $WORK/<name>.log.
wait_ready() { # port [name]
  local i
  for i in $(seq 1 250); do
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.02
  done
  echo "$0: server ${2:-} did not start on port $1" >&2
  [ -n "${2:-}" ] && cat "$WORK/$2.log" >&2
  exit 1
}

# Starts a server (name: log and directory under $WORK) bound to 127.0.0.1 with persistence
# off, plus $SERVER_ARGS; sets STARTED_PID (added to PIDS); fails if it does not answer.
start() { # name bin port args...
  local name=$1 bin=$2 port=$3
  shift 3
  mkdir -p "$WORK/$name"
  # shellcheck disable=SC2086 # SERVER_ARGS are separate words
  (cd "$WORK/$name" && exec "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK/$name" "$@" ${SERVER_ARGS:-} >"$WORK/$name.log" 2>&1) &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  (wait_ready "$port" "$name") || return 1
}

# Stops a server started by `start` (or any pid in PIDS) and forgets it.
stop() { # pid
  local p keep=()
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
