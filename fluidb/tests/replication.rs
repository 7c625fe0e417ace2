//! Primary-replica replication (issue #5), interoperable with Redis 7.0 in both directions.
//!
//! Every scenario is a function generic over how the nodes are started, run four ways by
//! `matrix!`: `redis_to_redis` (real redis-server 7.0 on both sides: proves the test itself
//! is right), `fluidb_to_redis` (fluidB master, Redis replica), `redis_to_fluidb` (Redis
//! master, fluidB replica) and `fluidb_to_fluidb`. Every condition is polled with a
//! deadline (`wait_for`); only WAIT's timeout is measured in wall time.

mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

/// How a node is started: `redis` or `fluidb`, with extra `--directive value` arguments.
type Start = fn(&[&str]) -> Server;

/// Given to every node: a fast cron (timeouts, expiry), no 5 s wait before a diskless
/// transfer (the 7.0 default), DEBUG enabled.
const FAST: &[&str] = &["--hz", "100", "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"];

/// Deadline for a sync or a reconnection (Redis reconnects from a once-a-second cron).
const SYNC: Duration = Duration::from_secs(15);

fn with_fast<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    FAST.iter().copied().chain(extra.iter().copied()).collect()
}

fn redis(extra: &[&str]) -> Server {
    register(Server::start_redis(&with_fast(extra)))
}

fn fluidb(extra: &[&str]) -> Server {
    register(Server::start(&with_fast(extra)))
}

thread_local! {
    /// The nodes this test (thread) started: name and log file.
    static NODES: RefCell<Vec<(String, PathBuf)>> = const { RefCell::new(Vec::new()) };
}

fn register(s: Server) -> Server {
    let name = format!("{} on port {}", s.kind, s.port);
    NODES.with(|n| n.borrow_mut().push((name, s.dir.path().join("stdout.log"))));
    s
}

/// Declared after a scenario's servers (so dropped before them and their log files): on
/// a panic, prints the end of every node's log.
struct LogsOnPanic;

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        NODES.with(|n| {
            for (name, path) in n.borrow().iter() {
                let log = std::fs::read_to_string(path).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                eprintln!("---- {name}: {} ----", path.display());
                for l in &lines[lines.len().saturating_sub(30)..] {
                    eprintln!("{l}");
                }
            }
        });
    }
}

/// Each scenario `name(start_master, start_replica)` as a module `name` of four tests.
macro_rules! matrix {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::{fluidb, redis};
            #[test]
            fn redis_to_redis() {
                super::$name(redis, redis)
            }
            #[test]
            fn fluidb_to_redis() {
                super::$name(fluidb, redis)
            }
            #[test]
            fn redis_to_fluidb() {
                super::$name(redis, fluidb)
            }
            #[test]
            fn fluidb_to_fluidb() {
                super::$name(fluidb, fluidb)
            }
        }
    )*};
}

matrix!(
    link_and_role,
    full_sync_disk,
    full_sync_disk_swapdb,
    full_sync_diskless,
    full_sync_diskless_swapdb,
    live_stream,
    partial_resync_after_client_kill,
    replica_read_only,
    expiry_on_replica,
    promote_with_replicaof_no_one,
    old_master_follows_promoted_replica,
    chained_replicas,
    masterauth,
    wait_command,
    replica_restart_resyncs_partially,
    min_replicas_to_write,
    stale_data_refused,
    backlog_resize_keeps_partial_resync,
    failover_to_named_replica,
    failover_to_any_replica,
    failover_waits_aborts_and_times_out,
    failover_force_at_the_deadline,
    shared_buffer_outgrows_backlog_and_output_limit,
    master_restart_continues_history,
    writable_replica_expires_its_own_keys,
    debug_sleep_silences_handshake_keepalive,
    swapdb_load_states,
);

// ---------------------------------------------------------------------------- helpers

/// A field of `INFO <section>`, or None when absent.
fn info_opt(r: &mut Raw, section: &str, field: &str) -> Option<String> {
    let s = r.call(&["INFO", section]);
    let prefix = format!("{field}:");
    s.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

fn info_field(r: &mut Raw, section: &str, field: &str) -> String {
    info_opt(r, section, field).unwrap_or_else(|| panic!("{field} not in INFO {section}"))
}

fn info_int(r: &mut Raw, section: &str, field: &str) -> i64 {
    let v = info_field(r, section, field);
    v.parse().unwrap_or_else(|_| panic!("INFO {section} {field}:{v} is not an integer"))
}

/// Runs commands, asserting none answers an error.
fn run(r: &mut Raw, cmds: &[&[&str]]) {
    for c in cmds {
        let got = r.call(c);
        assert!(!got.starts_with('-'), "{c:?}: {got}");
    }
}

fn digest(r: &mut Raw) -> String {
    let d = r.call(&["DEBUG", "DIGEST"]);
    assert!(d.starts_with('+') && d.len() == 43, "DEBUG DIGEST: {d:?}");
    d
}

/// `REPLICAOF 127.0.0.1 <master port>` answers +OK at once (the sync runs in the background).
fn replicaof(r: &mut Raw, master: &Server) {
    let t = Instant::now();
    ok(r, &["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    assert!(t.elapsed() < Duration::from_secs(1), "REPLICAOF took {:?}", t.elapsed());
}

fn wait_link_up(r: &mut Raw) {
    wait_for("master_link_status:up", SYNC, || {
        info_opt(r, "replication", "master_link_status").as_deref() == Some("up")
    });
}

/// Waits until the replica's link is up, the master lists every replica as online, and
/// the replica has processed everything the master produced (`master_repl_offset` equal
/// on both sides).
fn wait_synced(m: &mut Raw, r: &mut Raw) {
    wait_link_up(r);
    wait_for("every replica online in the master's INFO", SYNC, || {
        let n: usize = info_field(m, "replication", "connected_slaves").parse().expect("connected_slaves");
        n > 0 && (0..n).all(|i| replica_line(m, i).iter().any(|(k, v)| k == "state" && v == "online"))
    });
    wait_for("the replica's master_repl_offset to reach the master's", SYNC, || {
        let mo = info_int(m, "replication", "master_repl_offset");
        info_opt(r, "replication", "master_repl_offset").and_then(|v| v.parse::<i64>().ok()) == Some(mo)
    });
}

/// Asserts both sides hold the same dataset (all databases, TTLs included).
fn assert_same_data(m: &mut Raw, r: &mut Raw) {
    assert_eq!(digest(r), digest(m), "DEBUG DIGEST differs between master and replica");
}

/// `INFO stats` counters of full and partial syncs served by a master.
fn syncs(m: &mut Raw) -> (i64, i64) {
    (info_int(m, "stats", "sync_full"), info_int(m, "stats", "sync_partial_ok"))
}

/// Master and replica started, the replica attached and synced; returns their connections.
fn attached(master: &Server, replica: &Server) -> (Raw, Raw) {
    let (mut m, mut r) = (master.raw(), replica.raw());
    replicaof(&mut r, master);
    wait_synced(&mut m, &mut r);
    (m, r)
}

/// Keys with TTLs in two databases, plus a list in db 9.
fn fill_with_ttls(m: &mut Raw) {
    run(
        m,
        &[
            &["SET", "ttl-ex", "v", "EX", "1000"],
            &["PEXPIRE", "hash-small", "500000"],
            &["SELECT", "9"],
            &["SET", "db9", "x"],
            &["EXPIRE", "db9", "2000"],
            &["RPUSH", "db9-list", "a", "b"],
            &["SELECT", "0"],
        ],
    );
}

/// The `slaveN:` line of a master's INFO replication as its `key=value` pairs, in order.
fn replica_line(m: &mut Raw, n: usize) -> Vec<(String, String)> {
    let v = info_field(m, "replication", &format!("slave{n}"));
    v.split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("slave{n}:{v}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------- scenarios

/// (1) REPLICAOF answers +OK at once; the link comes up; ROLE and INFO on both sides.
fn link_and_role(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    ok(&mut m, &["SET", "k", "v"]);
    replicaof(&mut r, &master);
    assert_eq!(
        r.call(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]),
        "+OK Already connected to specified master\r\n"
    );
    wait_synced(&mut m, &mut r);
    assert_eq!(r.call(&["GET", "k"]), "$1\r\nv\r\n");

    // The replica's side.
    assert_eq!(info_field(&mut r, "replication", "role"), "slave");
    assert_eq!(info_field(&mut r, "replication", "master_host"), "127.0.0.1");
    assert_eq!(info_field(&mut r, "replication", "master_port"), master.port.to_string());
    assert_eq!(info_field(&mut r, "replication", "master_sync_in_progress"), "0");
    assert_eq!(info_field(&mut r, "replication", "slave_read_only"), "1");
    let off = info_int(&mut r, "replication", "master_repl_offset");
    assert_eq!(info_int(&mut r, "replication", "slave_repl_offset"), off);
    assert_eq!(info_field(&mut r, "replication", "master_replid"), info_field(&mut m, "replication", "master_replid"));
    // ["slave", host, port (integer), "connected", offset (integer)]
    let role = flat(&r.call(&["ROLE"]));
    assert_eq!(role.len(), 5, "{role:?}");
    assert_eq!(role[..4], ["slave", "127.0.0.1", &format!(":{}", master.port), "connected"]);
    let role_off: i64 = role[4].strip_prefix(':').and_then(|v| v.parse().ok()).expect("integer offset");
    assert!(role_off >= off, "{role:?} against master_repl_offset:{off}");

    // The master's side: the replica is online once it has acknowledged the stream.
    wait_for("state=online in the master's slave0 line", SYNC, || {
        replica_line(&mut m, 0).iter().any(|(k, v)| k == "state" && v == "online")
    });
    assert_eq!(info_field(&mut m, "replication", "role"), "master");
    assert_eq!(info_field(&mut m, "replication", "connected_slaves"), "1");
    let line = replica_line(&mut m, 0);
    let keys: Vec<&str> = line.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["ip", "port", "state", "offset", "lag"], "{line:?}");
    assert_eq!(line[0].1, "127.0.0.1");
    assert_eq!(line[1].1, replica.port.to_string());
    assert!(line[3].1.parse::<i64>().is_ok() && line[4].1.parse::<i64>().is_ok(), "{line:?}");
    // ["master", offset (integer), [[ip, port, acked offset] (all three bulk strings)]]
    let raw = m.call(&["ROLE"]);
    assert!(raw.starts_with("*3\r\n$6\r\nmaster\r\n:"), "{raw:?}");
    assert!(raw.contains("\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$"), "{raw:?}");
    let role = flat(&raw);
    assert_eq!(role.len(), 5, "{role:?}");
    let moff: i64 = role[1].strip_prefix(':').and_then(|v| v.parse().ok()).expect("integer offset");
    assert!(moff >= off, "{role:?}");
    assert_eq!(role[3], replica.port.to_string());
    let acked: i64 = role[4].parse().expect("acked offset");
    assert!((0..=moff).contains(&acked), "{role:?}");
}

/// (2) Full sync of a dataset of every type (and TTLs, several databases) replaces what
/// the replica held; `master_args` choose disk or diskless, `replica_args` the load mode.
fn full_sync(start_master: Start, start_replica: Start, master_args: &[&str], replica_args: &[&str]) {
    let master = start_master(master_args);
    let replica = start_replica(replica_args);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    fill_every_type(&mut m);
    fill_with_ttls(&mut m);
    run(&mut r, &[&["SET", "replica-only", "x"], &["SELECT", "3"], &["SET", "replica-only-3", "y"], &["SELECT", "0"]]);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.call(&["EXISTS", "replica-only"]), ":0\r\n");
    assert_eq!(int(&mut r, &["DBSIZE"]), int(&mut m, &["DBSIZE"]));
    let pttl = int(&mut r, &["PTTL", "ttl-ex"]);
    assert!((990_000..=1_000_000).contains(&pttl), "PTTL on the replica: {pttl}");
    assert_eq!(syncs(&mut m), (1, 0));
}

fn full_sync_disk(start_master: Start, start_replica: Start) {
    full_sync(start_master, start_replica, &["--repl-diskless-sync", "no"], &["--repl-diskless-load", "disabled"]);
}

fn full_sync_disk_swapdb(start_master: Start, start_replica: Start) {
    full_sync(start_master, start_replica, &["--repl-diskless-sync", "no"], &["--repl-diskless-load", "swapdb"]);
}

fn full_sync_diskless(start_master: Start, start_replica: Start) {
    full_sync(start_master, start_replica, &["--repl-diskless-sync", "yes"], &["--repl-diskless-load", "disabled"]);
}

fn full_sync_diskless_swapdb(start_master: Start, start_replica: Start) {
    full_sync(start_master, start_replica, &["--repl-diskless-sync", "yes"], &["--repl-diskless-load", "swapdb"]);
}

/// (3) After the sync, writes of every family reach the replica through the stream.
fn live_stream(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    run(
        &mut m,
        &[
            // strings and bitmaps
            &["SET", "s", "hello"],
            &["APPEND", "s", " world"],
            &["SETRANGE", "s", "0", "J"],
            &["INCR", "n"],
            &["INCRBY", "n", "41"],
            &["DECR", "n"],
            &["INCRBYFLOAT", "f", "10.5"],
            &["INCRBYFLOAT", "f", "0.1"],
            &["MSET", "m1", "a", "m2", "b"],
            &["MSETNX", "m3", "c"],
            &["GETSET", "m1", "z"],
            &["GETDEL", "m2"],
            &["SETEX", "se", "1000", "v"],
            &["SET", "px", "v", "PX", "900000"],
            &["GETEX", "px", "PERSIST"],
            &["GETEX", "m1", "EX", "5000"],
            &["SETNX", "nx", "1"],
            &["SETBIT", "bits", "100", "1"],
            &["BITOP", "OR", "bits2", "bits", "s"],
            &["BITFIELD", "bf", "SET", "u8", "0", "255", "INCRBY", "u8", "0", "10"],
            // lists
            &["RPUSH", "l", "c", "a", "b", "d"],
            &["LPUSH", "l", "z"],
            &["LINSERT", "l", "BEFORE", "a", "y"],
            &["LSET", "l", "0", "first"],
            &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
            &["RPOPLPUSH", "l", "l2"],
            &["LPOP", "l"],
            &["RPUSH", "l", "x", "x", "x"],
            &["LREM", "l", "2", "x"],
            &["LTRIM", "l", "0", "10"],
            &["LPUSHX", "l2", "p"],
            &["RPOP", "l2", "1"],
            // hashes
            &["HSET", "h", "a", "1", "b", "2", "c", "x"],
            &["HSETNX", "h", "d", "4"],
            &["HINCRBY", "h", "a", "10"],
            &["HINCRBYFLOAT", "h", "b", "2.5"],
            &["HDEL", "h", "c"],
            &["HMSET", "h", "e", "5"],
            // sets (SPOP is random: the master propagates what it removed)
            &["SADD", "set", "a", "b", "c", "d", "e", "f", "1"],
            &["SREM", "set", "f"],
            &["SPOP", "set", "2"],
            &["SPOP", "set"],
            &["SADD", "set2", "q"],
            &["SMOVE", "set", "set2", "a"],
            &["SADD", "set3", "b", "c", "q"],
            &["SINTERSTORE", "si", "set", "set3"],
            &["SUNIONSTORE", "su", "set", "set3"],
            &["SDIFFSTORE", "sd", "set3", "set"],
            &["SADD", "tiny", "1", "2"],
            &["SPOP", "tiny", "5"],
            // sorted sets
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
            &["ZINCRBY", "z", "1.5", "a"],
            &["ZREM", "z", "d"],
            &["ZADD", "z", "GT", "CH", "10", "b"],
            &["ZPOPMIN", "z"],
            &["ZADD", "z2", "5", "a", "7", "x"],
            &["ZUNIONSTORE", "zu", "2", "z", "z2", "WEIGHTS", "1", "2"],
            &["ZINTERSTORE", "zi", "2", "z", "z2"],
            &["ZRANGESTORE", "zr", "zu", "0", "-1"],
            &["ZREMRANGEBYSCORE", "zu", "-inf", "(6"],
            // SORT ... STORE
            &["RPUSH", "nums", "3", "1", "2"],
            &["SORT", "nums", "STORE", "sorted"],
            &["SORT", "l", "ALPHA", "STORE", "sorted-alpha"],
            // expiry
            &["EXPIRE", "s", "1000"],
            &["PEXPIRE", "n", "900000"],
            &["EXPIREAT", "f", "4102444800"],
            &["PERSIST", "s"],
            &["PEXPIREAT", "h", "4102444800000"],
            // generic keys
            &["RENAME", "s", "s-renamed"],
            &["RENAMENX", "s-renamed", "s2"],
            &["COPY", "h", "h-copy"],
            &["MOVE", "h-copy", "3"],
            &["DEL", "nx"],
            &["UNLINK", "m3"],
            // a transaction
            &["MULTI"],
            &["SET", "tx", "1"],
            &["INCR", "tx"],
            &["LPUSH", "txl", "a"],
            &["EXEC"],
            // other databases, FLUSHDB, SWAPDB
            &["SELECT", "5"],
            &["SET", "in5", "x"],
            &["SELECT", "6"],
            &["SET", "in6", "y"],
            &["RPUSH", "l6", "a"],
            &["FLUSHDB"],
            &["SET", "after-flush", "z"],
            &["SELECT", "7"],
            &["SET", "in7", "w"],
            &["SWAPDB", "5", "7"],
            &["SELECT", "0"],
        ],
    );
    // BLMOVE served by a push: the master propagates the push, then an LMOVE.
    let mut blocked = master.raw();
    blocked.cmd(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"5"]);
    wait_for("BLMOVE to block", SYNC, || info_int(&mut m, "clients", "blocked_clients") == 1);
    assert_eq!(m.call(&["RPUSH", "src", "pushed"]), ":1\r\n");
    assert_eq!(String::from_utf8_lossy(&blocked.read_reply()), "$6\r\npushed\r\n");

    wait_synced(&mut m, &mut r);
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.call(&["LRANGE", "dst", "0", "-1"]), "*1\r\n$6\r\npushed\r\n");
    assert_eq!(r.call(&["GET", "f"]), "$4\r\n10.6\r\n");
    assert_eq!(r.call(&["GET", "tx"]), "$1\r\n2\r\n");
    ok(&mut r, &["SELECT", "5"]);
    assert_eq!(r.call(&["GET", "in7"]), "$1\r\nw\r\n");
}

/// (4) A replica whose link the master cuts (CLIENT KILL TYPE replica, then TYPE slave)
/// reconnects and continues from the backlog: partial resyncs only.
fn partial_resync_after_client_kill(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    fill_every_type(&mut m);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    let (full, mut partial) = syncs(&mut m);
    for kind in ["replica", "slave"] {
        assert_eq!(m.call(&["CLIENT", "KILL", "TYPE", kind]), ":1\r\n", "CLIENT KILL TYPE {kind}");
        for i in 0..50 {
            run(&mut m, &[&["INCR", "counter"], &["RPUSH", "list-big", &format!("while-down-{kind}-{i}")]]);
        }
        run(&mut m, &[&["HSET", "hash-small", kind, "1"], &["SELECT", "2"], &["SET", kind, "x"], &["SELECT", "0"]]);
        wait_for("the master to count a partial resync", SYNC, || syncs(&mut m).1 == partial + 1);
        partial += 1;
        wait_synced(&mut m, &mut r);
    }
    assert_eq!(syncs(&mut m), (full, partial));
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.call(&["GET", "counter"]), "$3\r\n100\r\n");
}

/// (5) A replica refuses writes unless `replica-read-only no`; its own writes stay local.
fn replica_read_only(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    ok(&mut m, &["SET", "k", "v"]);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    const READONLY: &str = "-READONLY You can't write against a read only replica.\r\n";
    assert_eq!(r.call(&["SET", "x", "1"]), READONLY);
    assert_eq!(r.call(&["DEL", "k"]), READONLY);
    assert_eq!(r.call(&["RPUSH", "l", "a"]), READONLY);
    assert_eq!(r.call(&["GET", "k"]), "$1\r\nv\r\n");
    ok(&mut r, &["CONFIG", "SET", "replica-read-only", "no"]);
    assert_eq!(info_field(&mut r, "replication", "slave_read_only"), "0");
    ok(&mut r, &["SET", "x", "1"]);
    assert_eq!(r.call(&["GET", "x"]), "$1\r\n1\r\n");
    // Writes on a replica are not propagated to its master.
    ok(&mut m, &["SET", "after", "1"]);
    wait_synced(&mut m, &mut r);
    assert_eq!(m.call(&["EXISTS", "x"]), ":0\r\n");
    assert_eq!(r.call(&["GET", "after"]), "$1\r\n1\r\n");
}

/// (6) A replica never expires keys itself: a logically expired key reads as missing, yet
/// it is still counted by DBSIZE until the master's DEL arrives.
fn expiry_on_replica(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    ok(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut m, &["SET", "keep", "v"]);
    ok(&mut m, &["SET", "e", "v"]);
    assert_eq!(m.call(&["PEXPIRE", "e", "200"]), ":1\r\n");
    wait_synced(&mut m, &mut r);
    wait_for("the key to read as expired on the replica", SYNC, || r.call(&["GET", "e"]) == "$-1\r\n");
    assert_eq!(r.call(&["EXISTS", "e"]), ":0\r\n");
    assert_eq!(r.call(&["TTL", "e"]), ":-2\r\n");
    assert_eq!(r.call(&["TYPE", "e"]), "+none\r\n");
    assert_eq!(r.call(&["DBSIZE"]), ":2\r\n", "the replica must keep the key until the master deletes it");
    assert_eq!(m.call(&["DBSIZE"]), ":2\r\n");
    // The master's lookup expires it and propagates a DEL.
    assert_eq!(m.call(&["GET", "e"]), "$-1\r\n");
    wait_for("the master's DEL to reach the replica", SYNC, || r.call(&["DBSIZE"]) == ":1\r\n");
    wait_synced(&mut m, &mut r);
    assert_same_data(&mut m, &mut r);
}

/// (7) REPLICAOF NO ONE promotes the replica: it keeps its data, accepts writes and keeps
/// the old replication id as `master_replid2` (valid up to `second_repl_offset`).
fn promote_with_replicaof_no_one(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    fill_every_type(&mut m);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    let old_id = info_field(&mut m, "replication", "master_replid");
    assert_eq!(info_field(&mut r, "replication", "master_replid"), old_id);
    let before = info_int(&mut r, "replication", "master_repl_offset");
    let data = digest(&mut m);

    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    let off = info_int(&mut r, "replication", "master_repl_offset");
    assert!(off >= before, "{off} < {before}");
    assert_eq!(r.call(&["ROLE"]), format!("*3\r\n$6\r\nmaster\r\n:{off}\r\n*0\r\n"));
    assert_eq!(info_field(&mut r, "replication", "role"), "master");
    assert_eq!(info_field(&mut r, "replication", "connected_slaves"), "0");
    assert_eq!(info_field(&mut r, "replication", "master_replid2"), old_id);
    assert_eq!(info_int(&mut r, "replication", "second_repl_offset"), off + 1);
    assert_ne!(info_field(&mut r, "replication", "master_replid"), old_id);
    assert_eq!(digest(&mut r), data);
    ok(&mut r, &["SET", "now-writable", "1"]);
    assert_eq!(r.call(&["GET", "now-writable"]), "$1\r\n1\r\n");
    // REPLICAOF NO ONE on a master is a no-op.
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    wait_for("the old master to drop its replica", SYNC, || {
        info_field(&mut m, "replication", "connected_slaves") == "0"
    });
    assert_eq!(m.call(&["EXISTS", "now-writable"]), ":0\r\n");
}

/// (7b) Failover: after REPLICAOF NO ONE the promoted node still serves partial resyncs
/// of its old replication history (`master_replid2` up to `second_repl_offset`), so the
/// old master, turned into its replica, continues with PSYNC <old replid> <offset+1>
/// (a master turned replica offers its own history) instead of a full sync. Pings to
/// replicas are disabled here: one sent just before the promotion and not yet received
/// would put the old master past the promoted node's history.
fn old_master_follows_promoted_replica(start_master: Start, start_replica: Start) {
    let no_pings = ["--repl-ping-replica-period", "3600"];
    let master = start_master(&no_pings);
    let replica = start_replica(&no_pings);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    fill_every_type(&mut m);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    run(&mut r, &[&["SET", "after-failover", "1"], &["RPUSH", "list-small", "new"]]);
    assert_eq!(syncs(&mut r), (0, 0));

    replicaof(&mut m, &replica);
    wait_synced(&mut r, &mut m);
    assert_eq!(syncs(&mut r), (0, 1), "(sync_full, sync_partial_ok) on the promoted node");
    assert_eq!(info_field(&mut m, "replication", "master_replid"), info_field(&mut r, "replication", "master_replid"));
    assert_same_data(&mut r, &mut m);
    assert_eq!(m.call(&["GET", "after-failover"]), "$1\r\n1\r\n");
}

/// (8) A -> B -> C: B proxies A's stream, so C ends at A's offset with A's data. A and C
/// are started as masters, B as the replica (for mixed runs the middle node is the other
/// implementation). C attaches with the SLAVEOF alias.
fn chained_replicas(start_master: Start, start_replica: Start) {
    let a = start_master(&[]);
    let b = start_replica(&[]);
    let c = start_master(&[]);
    let _logs = LogsOnPanic;
    let (mut ra, mut rb, mut rc) = (a.raw(), b.raw(), c.raw());
    fill_every_type(&mut ra);
    replicaof(&mut rb, &a);
    ok(&mut rc, &["SLAVEOF", "127.0.0.1", &b.port.to_string()]);
    wait_synced(&mut ra, &mut rb);
    wait_synced(&mut rb, &mut rc);
    run(&mut ra, &[&["SET", "late", "1"], &["LPUSH", "list-small", "late"], &["ZADD", "zset-small", "9", "late"]]);
    wait_synced(&mut ra, &mut rc);
    assert_eq!(
        info_int(&mut rc, "replication", "master_repl_offset"),
        info_int(&mut ra, "replication", "master_repl_offset")
    );
    let d = digest(&mut ra);
    assert_eq!(digest(&mut rb), d);
    assert_eq!(digest(&mut rc), d);
    assert_eq!(rc.call(&["GET", "late"]), "$1\r\n1\r\n");
    assert_eq!(info_field(&mut rb, "replication", "role"), "slave");
    assert_eq!(info_field(&mut rb, "replication", "connected_slaves"), "1");
    assert_eq!(info_field(&mut rc, "replication", "master_port"), b.port.to_string());
    assert_eq!(info_field(&mut ra, "replication", "connected_slaves"), "1");
}

/// (9) `masterauth` authenticates the replica to a master with `requirepass`; a wrong one
/// keeps the link down (the master sees every attempt fail with WRONGPASS).
fn masterauth(start_master: Start, start_replica: Start) {
    let master = start_master(&["--requirepass", "secret"]);
    let good = start_replica(&["--masterauth", "secret"]);
    let bad = start_replica(&["--masterauth", "wrong"]);
    let _logs = LogsOnPanic;
    let mut m = master.raw();
    ok(&mut m, &["AUTH", "secret"]);
    fill_every_type(&mut m);
    let mut g = good.raw();
    replicaof(&mut g, &master);
    wait_synced(&mut m, &mut g);
    assert_same_data(&mut m, &mut g);

    let mut b = bad.raw();
    replicaof(&mut b, &master);
    let wrongpass = |m: &mut Raw| {
        info_opt(m, "errorstats", "errorstat_WRONGPASS")
            .and_then(|v| v.strip_prefix("count=").and_then(|n| n.parse::<i64>().ok()))
            .unwrap_or(0)
    };
    wait_for("two failed AUTH attempts from the replica", SYNC, || wrongpass(&mut m) >= 2);
    assert_eq!(info_field(&mut b, "replication", "master_link_status"), "down");
    assert_eq!(b.call(&["DBSIZE"]), ":0\r\n");
    assert_eq!(info_field(&mut m, "replication", "connected_slaves"), "1");
}

/// (10) WAIT counts the replicas that acknowledged the client's last write.
fn wait_command(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    // After a diskless transfer Redis shows the replica online at once but holds the
    // stream back until the replica's first REPLCONF ACK (sent once a second): the first
    // WAIT may last up to a second. Time only the later ones.
    ok(&mut m, &["SET", "k", "u"]);
    assert_eq!(m.call(&["WAIT", "1", "5000"]), ":1\r\n");
    ok(&mut m, &["SET", "k", "v"]);
    let t = Instant::now();
    assert_eq!(m.call(&["WAIT", "1", "1000"]), ":1\r\n");
    assert!(t.elapsed() < Duration::from_millis(900), "WAIT 1 1000 took {:?}", t.elapsed());
    ok(&mut m, &["SET", "k", "w"]);
    let t = Instant::now();
    assert_eq!(m.call(&["WAIT", "2", "200"]), ":1\r\n");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(190) && took < Duration::from_secs(2), "WAIT 2 200 took {took:?}");
    assert_eq!(
        r.call(&["WAIT", "1", "100"]),
        "-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is \
         configured to be writable (which is not the default) writes to replicas are just local and are not \
         propagated.\r\n"
    );
}

/// (11) A replica shut down with save points writes its replication id and offset into
/// its RDB; restarted with the same `dir` and `--replicaof`, it resyncs partially.
fn replica_restart_resyncs_partially(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let mut replica = start_replica(&["--save", "3600 1"]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    fill_every_type(&mut m);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    let (full, partial) = syncs(&mut m);

    r.cmd(&[b"SHUTDOWN"]);
    assert_eq!(r.try_read_reply(), None, "SHUTDOWN closes the connection");
    wait_for("the replica to exit", SYNC, || !replica.is_running());
    assert!(replica.dir.path().join("dump.rdb").exists(), "no dump.rdb after SHUTDOWN");
    run(&mut m, &[&["SET", "while-down", "1"], &["RPUSH", "list-small", "while-down"]]);

    let dir = replica.dir.path().to_string_lossy().into_owned();
    let port = master.port.to_string();
    let again = start_replica(&["--dir", &dir, "--save", "3600 1", "--replicaof", "127.0.0.1", &port]);
    let mut r = again.raw();
    wait_synced(&mut m, &mut r);
    assert_eq!(syncs(&mut m), (full, partial + 1), "(sync_full, sync_partial_ok) after the restart");
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.call(&["GET", "while-down"]), "$1\r\n1\r\n");
}

/// (13) `min-replicas-to-write`: writes are refused until enough replicas acknowledge.
fn min_replicas_to_write(start_master: Start, start_replica: Start) {
    let master = start_master(&["--min-replicas-to-write", "1", "--min-replicas-max-lag", "10"]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let mut m = master.raw();
    assert_eq!(m.call(&["SET", "k", "v"]), "-NOREPLICAS Not enough good replicas to write.\r\n");
    assert_eq!(m.call(&["GET", "k"]), "$-1\r\n", "reads are served");
    assert_eq!(info_field(&mut m, "replication", "min_slaves_good_slaves"), "0");
    let mut r = replica.raw();
    replicaof(&mut r, &master);
    wait_for("a good replica", SYNC, || m.call(&["SET", "k", "v"]) == "+OK\r\n");
    assert_eq!(info_field(&mut m, "replication", "min_slaves_good_slaves"), "1");
    wait_synced(&mut m, &mut r);
    assert_eq!(r.call(&["GET", "k"]), "$1\r\nv\r\n");
}

/// (14) `replica-serve-stale-data no`: a replica whose link is down refuses data
/// commands with MASTERDOWN but still answers INFO (a STALE command).
fn stale_data_refused(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&["--replica-serve-stale-data", "no"]);
    let _logs = LogsOnPanic;
    let mut r = replica.raw();
    ok(&mut r, &["SET", "mine", "1"]);
    // A master that is not there: the link stays down.
    let dead = free_port().to_string();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &dead]);
    let down = "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n";
    wait_for("MASTERDOWN", SYNC, || r.call(&["GET", "mine"]) == down);
    assert_eq!(info_field(&mut r, "replication", "master_link_status"), "down");
    // Once a master is reachable, data is served again.
    replicaof(&mut r, &master);
    wait_link_up(&mut r);
    assert_eq!(r.call(&["DBSIZE"]), ":0\r\n");
}

/// (15) CONFIG SET repl-backlog-size takes effect (INFO) and keeps the history: a
/// replica cut off afterwards still resyncs partially.
fn backlog_resize_keeps_partial_resync(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("k{i}"), "v"]);
    }
    wait_synced(&mut m, &mut r);
    ok(&mut m, &["CONFIG", "SET", "repl-backlog-size", "32mb"]);
    assert_eq!(info_field(&mut m, "replication", "repl_backlog_size"), "33554432");
    let (full, partial) = syncs(&mut m);
    assert_eq!(m.call(&["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
    ok(&mut m, &["SET", "after", "1"]);
    wait_for("a partial resync", SYNC, || syncs(&mut m).1 == partial + 1);
    wait_synced(&mut m, &mut r);
    assert_eq!(syncs(&mut m).0, full);
    assert_same_data(&mut m, &mut r);
}

/// SYNC, the pre-PSYNC protocol: no +FULLRESYNC line, then `$<len>` and an RDB file,
/// then the stream.
fn old_sync_command(start_master: Start) {
    let master = start_master(&["--repl-diskless-sync", "no"]);
    let _logs = LogsOnPanic;
    let mut m = master.raw();
    ok(&mut m, &["SET", "k", "v"]);
    let mut s = master.raw();
    s.send(b"SYNC\r\n");
    let mut line = String::new();
    while line.trim().is_empty() {
        line.clear();
        std::io::BufRead::read_line(&mut s.r, &mut line).expect("read");
    }
    let len: usize = line.trim().strip_prefix('$').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
    let mut rdb = vec![0u8; len];
    std::io::Read::read_exact(&mut s.r, &mut rdb).expect("payload");
    assert!(rdb.starts_with(b"REDIS00"), "{:?}", &rdb[..9]);
    ok(&mut m, &["SET", "k2", "v2"]);
    // The stream follows: a SELECT then the SET.
    let cmd = s.read_reply();
    assert!(String::from_utf8_lossy(&cmd).to_lowercase().contains("select"), "{}", String::from_utf8_lossy(&cmd));
    let cmd = s.read_reply();
    assert_eq!(cmd, b"*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$2\r\nv2\r\n");
}

#[test]
fn old_sync_command_redis() {
    old_sync_command(redis);
}

#[test]
fn old_sync_command_fluidb() {
    old_sync_command(fluidb);
}

/// A replica's REPLCONF ACK pipelined in the same packet as its PSYNC is read as the
/// replica's (it was parsed with the PSYNC, before the connection became a replica's).
#[test]
fn an_ack_pipelined_after_psync_counts() {
    let master = fluidb(&["--repl-diskless-sync", "no"]);
    let _logs = LogsOnPanic;
    let mut m = master.raw();
    let mut s = master.raw();
    s.send(b"REPLCONF listening-port 7777\r\nPSYNC ? -1\r\nREPLCONF ACK 5\r\n");
    assert_eq!(s.read_reply(), b"+OK\r\n");
    wait_for("the pipelined ACK", SYNC, || info_field(&mut m, "replication", "slave0").contains(",offset=5,"));
}

// ------------------------------------------------------------------ FAILOVER, buffers

/// Stops (SIGSTOP) or resumes (SIGCONT) a server process.
fn signal(s: &Server, sig: &str) {
    let st = std::process::Command::new("kill").arg(sig).arg(s.child.id().to_string()).status().expect("kill");
    assert!(st.success(), "kill {sig}");
}

fn failover_state(r: &mut Raw) -> String {
    info_field(r, "replication", "master_failover_state")
}

/// Waits for the failover `old` started to end with `new` as master and `old` as its
/// replica, holding the same data.
fn wait_failover_done(old: &mut Raw, new: &mut Raw) {
    wait_for("the failover to end", SYNC, || failover_state(old) == "no-failover");
    assert_eq!(info_field(new, "replication", "role"), "master");
    wait_synced(new, old);
    assert_same_data(new, old);
}

/// Stops the replica and writes what it cannot acknowledge.
fn stop_with_unacked_write(m: &mut Raw, replica: &Server) {
    signal(replica, "-STOP");
    ok(m, &["SET", "unacked", "1"]);
}

/// FAILOVER's argument checks, in Redis's order and words.
fn failover_errors(m: &mut Raw, r: &mut Raw, replica_port: &str) {
    let err = |m: &mut Raw, args: &[&str], want: &str| assert_eq!(m.call(args), format!("-ERR {want}\r\n"), "{args:?}");
    err(m, &["FAILOVER", "ABORT"], "No failover in progress.");
    err(m, &["FAILOVER", "BOGUS"], "syntax error");
    err(m, &["FAILOVER", "TIMEOUT", "0"], "FAILOVER timeout must be greater than 0");
    err(m, &["FAILOVER", "TIMEOUT", "x"], "value is not an integer or out of range");
    err(m, &["FAILOVER", "TO", "127.0.0.1", "x"], "value is not an integer or out of range");
    err(m, &["FAILOVER", "TO", "127.0.0.1"], "syntax error");
    err(
        m,
        &["FAILOVER", "FORCE", "TIMEOUT", "100"],
        "FAILOVER with force option requires both a timeout and target HOST and IP.",
    );
    err(
        m,
        &["FAILOVER", "TO", "127.0.0.1", replica_port, "FORCE"],
        "FAILOVER with force option requires both a timeout and target HOST and IP.",
    );
    err(m, &["FAILOVER", "TO", "127.0.0.1", "1"], "FAILOVER target HOST and PORT is not a replica.");
    err(m, &["FAILOVER", "TO", "127.0.0.2", replica_port], "FAILOVER target HOST and PORT is not a replica.");
    err(r, &["FAILOVER"], "FAILOVER is not valid when server is a replica.");
    assert_eq!(failover_state(m), "no-failover");
}

/// FAILOVER TO host port: the master pauses writes, waits until the replica has the whole
/// stream, becomes its replica and asks it (PSYNC ... FAILOVER) to take over. No data is
/// lost and no full sync happens: the new master accepts the old one's PSYNC as partial.
fn failover_to_named_replica(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    assert_eq!(m.call(&["FAILOVER"]), "-ERR FAILOVER requires connected replicas.\r\n");
    fill_every_type(&mut m);
    replicaof(&mut r, &master);
    wait_synced(&mut m, &mut r);
    let port = replica.port.to_string();
    failover_errors(&mut m, &mut r, &port);
    ok(&mut m, &["SET", "before-failover", "1"]);
    let (full, partial) = syncs(&mut r);
    ok(&mut m, &["FAILOVER", "TO", "127.0.0.1", &port]);
    wait_failover_done(&mut m, &mut r);
    assert_eq!(info_field(&mut m, "replication", "role"), "slave");
    assert_eq!(info_field(&mut m, "replication", "master_port"), port);
    assert_eq!(syncs(&mut r), (full, partial + 1), "(sync_full, sync_partial_ok) on the new master");
    ok(&mut r, &["SET", "after-failover", "1"]);
    wait_synced(&mut r, &mut m);
    assert_same_data(&mut r, &mut m);
    assert_eq!(m.call(&["GET", "before-failover"]), "$1\r\n1\r\n");
    assert_eq!(m.call(&["GET", "after-failover"]), "$1\r\n1\r\n");
    assert!(m.call(&["SET", "x", "1"]).starts_with("-READONLY"), "the old master is a read-only replica");
}

/// FAILOVER without a target hands over to the first replica that has the whole stream.
fn failover_to_any_replica(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    ok(&mut m, &["SET", "k", "v"]);
    ok(&mut m, &["FAILOVER"]);
    wait_failover_done(&mut m, &mut r);
    assert_eq!(info_field(&mut m, "replication", "master_port"), replica.port.to_string());
}

/// While the target has not caught up (it is stopped), the failover waits with writes
/// paused (reads go on); REPLICAOF and a second FAILOVER are refused; FAILOVER ABORT and
/// a TIMEOUT without FORCE end it, the paused write then runs, and the node stays master.
fn failover_waits_aborts_and_times_out(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    let port = replica.port.to_string();
    stop_with_unacked_write(&mut m, &replica);
    ok(&mut m, &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "60000"]);
    assert_eq!(failover_state(&mut m), "waiting-for-sync");
    let mut w = master.raw();
    w.cmd(&[b"SET", b"paused", b"1"]);
    wait_for("the write to be held by the pause", SYNC, || info_int(&mut m, "clients", "blocked_clients") == 1);
    assert_eq!(m.call(&["GET", "unacked"]), "$1\r\n1\r\n", "reads are not paused");
    assert_eq!(m.call(&["FAILOVER"]), "-ERR FAILOVER already in progress.\r\n");
    assert_eq!(m.call(&["REPLICAOF", "NO", "ONE"]), "-ERR REPLICAOF not allowed while failing over.\r\n");
    ok(&mut m, &["FAILOVER", "ABORT"]);
    assert_eq!(failover_state(&mut m), "no-failover");
    assert_eq!(w.read_reply(), b"+OK\r\n", "the paused write runs after the abort");
    // A timeout without FORCE gives up by itself.
    ok(&mut m, &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "200"]);
    wait_for("the failover to time out", SYNC, || failover_state(&mut m) == "no-failover");
    assert_eq!(info_field(&mut m, "replication", "role"), "master");
    ok(&mut m, &["SET", "after", "1"]);
    let (full, partial) = syncs(&mut m);
    signal(&replica, "-CONT");
    wait_synced(&mut m, &mut r);
    assert_eq!(syncs(&mut m), (full, partial), "the replica just goes on");
    assert_same_data(&mut m, &mut r);
}

/// FAILOVER TO ... TIMEOUT ... FORCE: at the deadline the master hands over even though
/// the target did not acknowledge everything (`failover-in-progress` until it answers);
/// once the target is back it takes over and both end with the same data.
fn failover_force_at_the_deadline(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    stop_with_unacked_write(&mut m, &replica);
    let port = replica.port.to_string();
    ok(&mut m, &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "100", "FORCE"]);
    wait_for("the forced hand-over", SYNC, || failover_state(&mut m) == "failover-in-progress");
    assert_eq!(info_field(&mut m, "replication", "role"), "slave");
    signal(&replica, "-CONT");
    wait_failover_done(&mut m, &mut r);
}

/// Redis 7's shared replication buffer: a replica waiting for its snapshot (made slow by
/// `rdb-key-save-delay`) holds the stream from the fork on, so the backlog outgrows
/// `repl-backlog-size`, and another replica resyncs partially from that part; the output
/// limit (never below the backlog size) drops the waiting replica, and the buffer
/// shrinks back to about the backlog size.
fn shared_buffer_outgrows_backlog_and_output_limit(start_master: Start, start_replica: Start) {
    let master = start_master(&["--repl-backlog-size", "16384"]);
    let slow = start_replica(&[]);
    let fast = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut rs, mut rf) = (master.raw(), slow.raw(), fast.raw());
    ok(&mut m, &["CONFIG", "SET", "client-output-buffer-limit", "replica 0 0 0"]);
    for i in 0..20 {
        ok(&mut m, &["SET", &format!("k{i}"), "v"]);
    }
    replicaof(&mut rf, &master);
    wait_synced(&mut m, &mut rf);
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
    replicaof(&mut rs, &master);
    wait_for("the slow replica to wait for its snapshot", SYNC, || {
        info_field(&mut m, "persistence", "rdb_bgsave_in_progress") == "1"
            && info_field(&mut m, "replication", "connected_slaves") == "2"
    });
    let big = "x".repeat(10_000);
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("a{i}"), &big]);
    }
    wait_synced_to(&mut m, &mut rf);
    let histlen = info_int(&mut m, "replication", "repl_backlog_histlen");
    assert!(histlen > 1_000_000, "the waiting replica holds the stream: repl_backlog_histlen {histlen}");
    assert!(info_int(&mut m, "memory", "mem_total_replication_buffers") > 1_000_000);

    // The fast replica leaves (for the waiting one, which cannot serve it) and comes back
    // after more than the backlog's size was written: a partial resync nonetheless.
    let (full, partial) = syncs(&mut m);
    ok(&mut rf, &["REPLICAOF", "127.0.0.1", &slow.port.to_string()]);
    wait_for("the fast replica to leave", SYNC, || info_field(&mut m, "replication", "connected_slaves") == "1");
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("b{i}"), &big]);
    }
    replicaof(&mut rf, &master);
    wait_for("a partial resync", SYNC, || syncs(&mut m).1 == partial + 1);
    wait_synced_to(&mut m, &mut rf);
    assert_eq!(syncs(&mut m).0, full);
    assert_eq!(rf.call(&["GET", "b99"]).len(), big.len() + 10);

    // An output limit above the backlog size drops the waiting replica at the next block.
    ok(&mut m, &["CONFIG", "SET", "client-output-buffer-limit", "replica 128kb 0 0"]);
    ok(&mut m, &["SET", "trigger", &"y".repeat(64 * 1024)]);
    wait_for("the waiting replica to be dropped", SYNC, || {
        info_field(&mut m, "replication", "connected_slaves") == "1"
    });
    wait_for("the buffer to shrink", SYNC, || info_int(&mut m, "replication", "repl_backlog_histlen") < 200_000);
    ok(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
}

/// Like `wait_synced` for one replica among several: its link is up and its offset is
/// the master's.
fn wait_synced_to(m: &mut Raw, r: &mut Raw) {
    wait_link_up(r);
    wait_for("the replica's master_repl_offset to reach the master's", SYNC, || {
        let mo = info_int(m, "replication", "master_repl_offset");
        info_opt(r, "replication", "master_repl_offset").and_then(|v| v.parse::<i64>().ok()) == Some(mo)
    });
}

/// A master restarted from its RDB file continues the history recorded there (Redis 7's
/// `repl-id` / `repl-offset` AUX fields as its secondary ID): its replica resyncs
/// partially, and the keys that expired while it was down are deleted on the replica too.
fn master_restart_continues_history(start_master: Start, start_replica: Start) {
    let no_pings = ["--repl-ping-replica-period", "3600", "--save", "3600 1"];
    let mut master = start_master(&no_pings);
    let replica = start_replica(&["--repl-ping-replica-period", "3600"]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    fill_every_type(&mut m);
    ok(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut m, &["SET", "short", "1", "PX", "100"]);
    wait_synced(&mut m, &mut r);
    let (old_id, old_off) =
        (info_field(&mut m, "replication", "master_replid"), info_int(&mut m, "replication", "master_repl_offset"));
    std::thread::sleep(Duration::from_millis(150)); // "short" expires, still in memory
    m.cmd(&[b"SHUTDOWN"]);
    assert_eq!(m.try_read_reply(), None, "SHUTDOWN closes the connection");
    wait_for("the master to exit", SYNC, || !master.is_running());

    let dir = master.dir.path().to_string_lossy().into_owned();
    let again = start_master(&["--dir", &dir, "--repl-ping-replica-period", "3600"]);
    let mut m = again.raw();
    // Redis's SHUTDOWN may add a REPLCONF GETACK before saving: the saved offset is at
    // least the one seen before.
    assert_eq!(info_field(&mut m, "replication", "master_replid2"), old_id);
    let second = info_int(&mut m, "replication", "second_repl_offset");
    assert!(second > old_off, "second_repl_offset {second} <= {old_off}");
    assert_eq!(info_field(&mut m, "replication", "repl_backlog_active"), "1");
    assert_eq!(info_int(&mut m, "replication", "repl_backlog_first_byte_offset"), second);
    // The expired key's DEL (with its SELECT) is the backlog.
    let histlen = info_int(&mut m, "replication", "repl_backlog_histlen");
    assert!(histlen > 0);
    assert_eq!(info_int(&mut m, "replication", "master_repl_offset"), second - 1 + histlen);
    assert_eq!(info_int(&mut m, "persistence", "rdb_last_load_keys_expired"), 1);
    replicaof(&mut r, &again);
    wait_synced(&mut m, &mut r);
    assert_eq!(syncs(&mut m), (0, 1), "(sync_full, sync_partial_ok) after the restart");
    assert_same_data(&mut m, &mut r);
    assert_eq!(r.call(&["DBSIZE"]), m.call(&["DBSIZE"]), "the expired key is gone on both");
}

/// A writable replica deletes the keys its own clients gave a TTL once they expire
/// (`expireSlaveKeys`), and a write of its own to a key that expired starts from no key;
/// keys from the master still wait for the master's DEL.
fn writable_replica_expires_its_own_keys(start_master: Start, start_replica: Start) {
    let master = start_master(&[]);
    let replica = start_replica(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    ok(&mut r, &["CONFIG", "SET", "replica-read-only", "no"]);
    ok(&mut r, &["SELECT", "5"]);
    run(&mut r, &[&["SET", "own1", "1", "PX", "100"], &["SET", "own2", "2", "EX", "100"], &["SET", "own3", "3"]]);
    assert_eq!(r.call(&["PEXPIRE", "own3", "100"]), ":1\r\n");
    wait_for("the replica to delete its own expired keys", SYNC, || r.call(&["DBSIZE"]) == ":1\r\n");
    assert!(r.call(&["TTL", "own2"]).starts_with(':'));
    // A key from the master, expired: hidden to reads, deleted (locally) by a write.
    ok(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut m, &["SELECT", "5"]);
    ok(&mut m, &["SET", "from-master", "5", "PX", "50"]);
    wait_for("the key to reach the replica and expire", SYNC, || {
        r.call(&["DBSIZE"]) == ":2\r\n" && r.call(&["EXISTS", "from-master"]) == ":0\r\n"
    });
    assert_eq!(r.call(&["INCR", "from-master"]), ":1\r\n");
    assert_eq!(r.call(&["TTL", "from-master"]), ":-1\r\n");
    ok(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
}

/// A big command from the master does not leave its read buffer behind on the replica
/// (Redis's `unit/pendingquerybuf`): once applied, the replica uses about the memory of
/// the master for the same data.
#[test]
fn a_big_command_from_the_master_leaves_no_buffer_behind() {
    let master = Server::start(&[]);
    let replica = Server::start(&[]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = attached(&master, &replica);
    let value = format!("c{}", "0".repeat(32 * 1024 * 1024 - 1));
    assert_eq!(m.call(&["SET", "key", &value]), "+OK\r\n");
    wait_synced(&mut m, &mut r);
    assert_eq!(r.call(&["STRLEN", "key"]), format!(":{}\r\n", value.len()));
    wait_for("the replica's memory to match the master's", Duration::from_secs(10), || {
        info_int(&mut r, "memory", "used_memory") <= info_int(&mut m, "memory", "used_memory") + 10 * 1024 * 1024
    });
}

/// DEBUG SLEEP stalls a master as Redis's sleeping thread: a replica waiting in the
/// handshake for a delayed diskless transfer gets no keepalive newline meanwhile, so its
/// `repl-timeout` fires (until then the newlines keep it waiting).
fn debug_sleep_silences_handshake_keepalive(start_master: Start, start_replica: Start) {
    let master = start_master(&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "1000"]);
    let replica = start_replica(&["--repl-timeout", "2"]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    replicaof(&mut r, &master);
    wait_for("the master to list the replica waiting for the snapshot", SYNC, || {
        info_opt(&mut m, "replication", "slave0").is_some()
    });
    // Twice repl-timeout with only keepalives: the replica still waits.
    let waiting = Instant::now();
    wait_for("4 s of handshake", SYNC, || waiting.elapsed() >= Duration::from_secs(4));
    assert!(!replica.log().contains("Timeout connecting to the MASTER"), "{}", replica.log());
    m.cmd(&[b"DEBUG", b"SLEEP", b"5"]);
    wait_for("the replica to time out", SYNC, || replica.log().contains("Timeout connecting to the MASTER"));
    assert_eq!(m.read_reply(), b"+OK\r\n");
}

/// A diskless swapdb full sync: of another history the replica is loading (INFO loading:1,
/// -LOADING to commands); of the history it follows it serves the old data meanwhile
/// (async_loading:1). Either way the new data replaces the old once loaded.
fn swapdb_load_states(start_master: Start, start_replica: Start) {
    let master = start_master(&["--repl-diskless-sync", "yes", "--save", "", "--rdbcompression", "no"]);
    let replica = start_replica(&["--repl-diskless-load", "swapdb", "--save", "", "--replica-read-only", "no"]);
    let _logs = LogsOnPanic;
    let (mut m, mut r) = (master.raw(), replica.raw());
    // Large values: a Redis replica answers while loading only every 2 MB read.
    run(
        &mut m,
        &[&["DEBUG", "POPULATE", "200", "master", "100000"], &["CONFIG", "SET", "rdb-key-save-delay", "10000"]],
    );
    run(&mut r, &[&["DEBUG", "POPULATE", "50", "replica", "10"], &["SET", "mykey", "myvalue"]]);
    let loading =
        |r: &mut Raw| (info_field(r, "persistence", "loading"), info_field(r, "persistence", "async_loading"));
    replicaof(&mut r, &master);
    wait_for("loading:1 (a different history)", SYNC, || loading(&mut r) == ("1".into(), "0".into()));
    let got = r.call(&["GET", "mykey"]);
    assert!(got.starts_with("-LOADING"), "GET while loading: {got}");
    wait_synced(&mut m, &mut r);
    assert_eq!(loading(&mut r), ("0".into(), "0".into()));
    assert_eq!(int(&mut r, &["DBSIZE"]), 200);

    // The same history again: a full sync the backlog cannot avoid.
    run(&mut r, &[&["SET", "mykey", "myvalue"]]);
    run(
        &mut m,
        &[&["MULTI"], &["CLIENT", "KILL", "TYPE", "replica"], &["CONFIG", "SET", "repl-backlog-size", "16384"]],
    );
    for i in 0..10 {
        run(&mut m, &[&["SET", &format!("big{i}"), &"A".repeat(16384)]]);
    }
    run(&mut m, &[&["EXEC"]]);
    wait_for("async_loading:1 (the same history)", SYNC, || loading(&mut r) == ("0".into(), "1".into()));
    assert_eq!(r.call(&["GET", "mykey"]), "$7\r\nmyvalue\r\n");
    wait_synced(&mut m, &mut r);
    assert_eq!(loading(&mut r), ("0".into(), "0".into()));
    assert_eq!(r.call(&["GET", "mykey"]), "$-1\r\n");
    assert_eq!(int(&mut r, &["DBSIZE"]), 210);
}
