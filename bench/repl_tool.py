"""The measuring client of bench/repl.sh and bench/active.sh: a minimal RESP2 connection and

  sync REPLICA MASTER N TIMEOUT POLL_MS   one full sync: seconds from REPLICAOF until the
                                          replica is up with N keys
  probe WRITE_PORT READ_PORT COUNT INTERVAL_MS TAG
                                          replication lag: SET a unique key on one node, poll
                                          EXISTS on the other; prints metric<TAB>value lines
  caught-up TIMEOUT MASTER:REPLICA...     waits until each replica has its master's stream

Messages are prefixed with $BENCH_NAME (default "repl").
"""
import os, signal, socket, sys, time

NAME = os.environ.get("BENCH_NAME", "repl")  # prefix of messages: the calling script

signal.signal(signal.SIGINT, signal.SIG_DFL)  # die of it, so that bash runs its INT trap

class Err(str):
    pass

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                l, self.buf = self.buf[:i], self.buf[i + 2:]
                return l
            d = self.s.recv(1 << 16)
            if not d:
                raise ConnectionError("connection closed")
            self.buf += d

    def reply(self):
        l = self.line()
        t, rest = l[:1], l[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Err(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                d = self.s.recv(1 << 16)
                if not d:
                    raise ConnectionError("connection closed")
                self.buf += d
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad reply %r" % l)

    def cmd(self, *args):
        self.send(*args)
        return self.reply()

    def info(self, section):
        r = self.cmd("INFO", section)
        if isinstance(r, Err):
            return {}
        return dict(l.split(":", 1) for l in r.split("\r\n") if ":" in l and not l.startswith("#"))

def die(msg, code=2):
    print(NAME + ": " + msg, file=sys.stderr)
    sys.exit(code)

def sync(rport, mport, n, timeout, poll_ms):
    """One full sync: seconds from REPLICAOF until the replica is up with n keys."""
    m, r = Conn(mport), Conn(rport)
    start = time.monotonic()
    while m.info("persistence").get("rdb_bgsave_in_progress", "0") != "0":  # the last sync's child
        if time.monotonic() - start > timeout:
            die("the master's BGSAVE of the previous sync did not end")
        time.sleep(0.05)
    full0 = int(m.info("stats").get("sync_full", "0"))
    t0 = time.perf_counter()
    rep = r.cmd("REPLICAOF", "127.0.0.1", mport)
    if isinstance(rep, Err):
        die("REPLICAOF failed: " + rep)
    started, state = False, {}
    while True:
        state = r.info("replication")
        up = state.get("master_link_status") == "up" and state.get("master_sync_in_progress", "0") == "0"
        if up:
            d = r.cmd("DBSIZE")
            if d == n:
                t1 = time.perf_counter()
                break
        started = started or up or state.get("master_sync_in_progress") == "1"
        el = time.perf_counter() - t0
        if el > timeout or (not started and el > 10):
            die("no full sync after %.0f s (replica: %s)" % (el, {k: state.get(k) for k in
                ("master_link_status", "master_sync_in_progress")}), 3)
        time.sleep(poll_ms / 1000)
    full1 = int(m.info("stats").get("sync_full", "0"))
    if full1 != full0 + 1:
        print(NAME + ": warning: the master's sync_full went %d -> %d" % (full0, full1), file=sys.stderr)
    print("%.3f" % (t1 - t0))

def pct(v, q):
    return v[min(len(v) - 1, max(0, int(-(-q * len(v) // 1)) - 1))]

def probe(mport, rport, count, interval_ms, tag):
    """Lag probes; prints metric<TAB>value lines (ms, ops/s)."""
    m, r = Conn(mport), Conn(rport)
    lags, sets, lost = [], [], 0
    ops0, c0 = time.perf_counter(), int(m.info("stats").get("total_commands_processed", "-1"))
    t_next = time.perf_counter()
    for i in range(count):
        key = "replprobe:%s:%d" % (tag, i)
        t_send = time.perf_counter_ns()
        rep = m.cmd("SET", key, "1")
        t_ack = time.perf_counter_ns()
        if isinstance(rep, Err):
            die("probe SET failed: " + rep)
        while True:
            r.send("EXISTS", key)
            if r.reply() == 1:
                t_vis = time.perf_counter_ns()
                break
            if time.perf_counter_ns() - t_ack > 10_000_000_000:
                t_vis = None
                break
        if t_vis is None:
            lost += 1
        else:
            lags.append((t_vis - t_ack) / 1e6)
        sets.append((t_ack - t_send) / 1e6)
        t_next += interval_ms / 1000
        d = t_next - time.perf_counter()
        if d > 0:
            time.sleep(d)
        else:
            t_next = time.perf_counter()
    c1, ops1 = int(m.info("stats").get("total_commands_processed", "-1")), time.perf_counter()
    if lost:
        print(NAME + ": warning: %d probes not visible on the replica after 10 s" % lost, file=sys.stderr)
    if not lags:
        die("no probe reached the replica", 3)
    lags.sort()
    sets.sort()
    out = {"p50": pct(lags, 0.5), "p99": pct(lags, 0.99), "max": lags[-1], "set_p99": pct(sets, 0.99)}
    if c0 >= 0 and c1 >= 0:
        out["ops"] = (c1 - c0) / (ops1 - ops0)
    for k, v in out.items():
        print("%s\t%.3f" % (k, v))

def caught_up(timeout, links):
    """Waits until every replica has everything its master had written when the wait began
    (links: "MASTER_PORT:REPLICA_PORT" words; an active pair is two links, one each way).
    Uses the replica's slave_repl_offset, which counts that link's stream even on a node
    that is also a master (Redis, KeyDB and fluidB active replicas alike)."""
    pairs = [tuple(int(p) for p in l.split(":")) for l in links]
    want = {(m, r): int(Conn(m).info("replication").get("master_repl_offset", "-1")) for m, r in pairs}
    deadline = time.monotonic() + timeout
    for (m, r), off in want.items():
        c = Conn(r)
        while int(c.info("replication").get("slave_repl_offset", "-1")) < off:
            if time.monotonic() > deadline:
                die("replica :%d did not reach offset %d of :%d within %.0f s" % (r, off, m, timeout), 3)
            time.sleep(0.005)

if sys.argv[1] == "sync":
    sync(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]))
elif sys.argv[1] == "probe":
    probe(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
elif sys.argv[1] == "caught-up":
    caught_up(float(sys.argv[2]), sys.argv[3:])
else:
    die("unknown command " + sys.argv[1])
