//! Active replication (`active-replica yes`): two real fluidB processes that replicate
//! each other and both take writes. The setups of the KeyDB documents (commands, config
//! files naming each other with `requirepass`/`masterauth`, command-line arguments),
//! merges on join, the wire replies of the handshake, and convergence under concurrent
//! conflicting writes on both nodes.

mod common;

use std::time::{Duration, Instant};

use common::pair::{info_field, link_up, try_start_on, wait_converged, wait_pair, with_ports, CONVERGE, SYNC};
use common::{int, ok, wait_for, Raw, Server};

fn active(args: &[&str]) -> Server {
    let mut a = vec!["--active-replica", "yes"];
    a.extend_from_slice(args);
    Server::start(&a)
}

/// Setup 1 of the documents: two independent nodes, each with data of its own, joined
/// with REPLICAOF on each side. Nothing is dropped: both end with the union, every write
/// of every type made afterwards on either side reaches the other.
#[test]
fn independent_nodes_joined_with_replicaof_merge_and_replicate_both_ways() {
    let a = active(&[]);
    let b = active(&[]);
    let (mut ra, mut rb) = (a.raw(), b.raw());
    ok(&mut ra, &["SET", "only-a", "1"]);
    ok(&mut rb, &["SET", "only-b", "2"]);
    ok(&mut rb, &["REPLICAOF", "127.0.0.1", &a.port.to_string()]);
    ok(&mut ra, &["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_pair(&mut ra, &mut rb);
    wait_converged(&mut ra, &mut rb, SYNC);
    for r in [&mut ra, &mut rb] {
        assert_eq!(r.call(&["MGET", "only-a", "only-b"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    }
    // ROLE and INFO in their active forms.
    let role = ra.call(&["ROLE"]);
    assert!(role.starts_with("*5\r\n$14\r\nactive-replica\r\n$9\r\n127.0.0.1\r\n"), "{role}");
    assert!(role.contains("$9\r\nconnected\r\n"), "{role}");
    assert_eq!(info_field(&mut ra, "replication", "role").as_deref(), Some("active-replica"));
    assert_eq!(info_field(&mut ra, "replication", "master_global_link_status").as_deref(), Some("up"));
    assert_eq!(info_field(&mut ra, "replication", "connected_masters").as_deref(), Some("1"));
    assert_eq!(info_field(&mut ra, "replication", "slave_read_only").as_deref(), Some("0"));

    // Every type, written on A, then on B.
    let keys = common::fill_every_type(&mut ra);
    wait_converged(&mut ra, &mut rb, CONVERGE);
    for k in &keys {
        assert_eq!(int(&mut rb, &["EXISTS", k]), 1, "{k} reached B");
    }
    ok(&mut rb, &["SET", "from-b", "x", "PX", "100000"]);
    rb.call(&["HSET", "hash-small", "f1", "changed-on-b"]);
    rb.call(&["LPOP", "list-small"]);
    rb.call(&["ZINCRBY", "zset-small", "5", "a"]);
    rb.call(&["SREM", "set-table", "a"]);
    rb.call(&["APPEND", "str-emb", "!"]);
    rb.call(&["DEL", "str-raw"]);
    wait_converged(&mut ra, &mut rb, CONVERGE);
    assert_eq!(ra.call(&["HGET", "hash-small", "f1"]), "$12\r\nchanged-on-b\r\n");
    assert_eq!(int(&mut ra, &["EXISTS", "str-raw"]), 0);
    let pttl = int(&mut ra, &["PTTL", "from-b"]);
    assert!(pttl > 90_000 && pttl <= 100_000, "the absolute expiry replicated: {pttl}");
}

/// A MULTI/EXEC of two INCRs adds 2 on both nodes (exactly once), and the node's stream
/// carries KeyDB's RREPLAY frames.
#[test]
fn transaction_of_two_incrs_adds_two_on_both() {
    let a = active(&[]);
    let b = active(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let (mut ra, mut rb) = (a.raw(), b.raw());
    ok(&mut ra, &["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_pair(&mut ra, &mut rb);
    for r in [&mut ra, &mut rb] {
        ok(r, &["MULTI"]);
        assert_eq!(r.call(&["INCR", "t"]), "+QUEUED\r\n");
        assert_eq!(r.call(&["INCR", "t"]), "+QUEUED\r\n");
        r.call(&["EXEC"]);
    }
    wait_for("t = 4 on both", CONVERGE, || {
        ra.call(&["GET", "t"]) == "$1\r\n4\r\n" && rb.call(&["GET", "t"]) == "$1\r\n4\r\n"
    });
    // Still 4 a moment later: nothing was applied twice or echoed back.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ra.call(&["GET", "t"]), "$1\r\n4\r\n");
    assert_eq!(rb.call(&["GET", "t"]), "$1\r\n4\r\n");
    let applied: u64 = info_field(&mut ra, "replication", "active_frames_applied").unwrap().parse().unwrap();
    assert_eq!(applied, 2, "A applied B's two INCRs, once each");
}

/// Setup 2 with seed 001's config: two config files naming each other at boot, with
/// `requirepass` and `masterauth`.
#[test]
fn config_files_naming_each_other_with_auth() {
    let conf = |peer: u16| {
        format!("requirepass mypassword123\nmasterauth mypassword123\nactive-replica yes\nreplicaof 127.0.0.1 {peer}\n")
    };
    let (a, b) = with_ports(2, |p| {
        let a = try_start_on(p[0], Some(&conf(p[1])), &[])?;
        Some((a, try_start_on(p[1], Some(&conf(p[0])), &[])?))
    });
    let (mut ra, mut rb) = (a.raw(), b.raw());
    for r in [&mut ra, &mut rb] {
        assert!(r.call(&["GET", "x"]).starts_with("-NOAUTH"));
        ok(r, &["AUTH", "mypassword123"]);
    }
    wait_pair(&mut ra, &mut rb);
    ok(&mut ra, &["SET", "written-on", "a"]);
    ok(&mut rb, &["SET", "also-on", "b"]);
    wait_converged(&mut ra, &mut rb, CONVERGE);
    assert_eq!(rb.call(&["GET", "written-on"]), "$1\r\na\r\n");
    assert_eq!(ra.call(&["GET", "also-on"]), "$1\r\nb\r\n");
}

/// Setup 3: command-line arguments only (`--active-replica yes --replicaof h p`), both
/// nodes started at once.
/// Two nodes started with `--active-replica yes --replicaof <the other>`.
fn pair_from_arguments() -> (Server, Server) {
    with_ports(2, |p| {
        let a = try_start_on(p[0], None, &["--active-replica", "yes", "--replicaof", "127.0.0.1", &p[1].to_string()])?;
        Some((
            a,
            try_start_on(p[1], None, &["--active-replica", "yes", "--replicaof", "127.0.0.1", &p[0].to_string()])?,
        ))
    })
}

#[test]
fn command_line_arguments() {
    let (a, b) = pair_from_arguments();
    let (mut ra, mut rb) = (a.raw(), b.raw());
    wait_pair(&mut ra, &mut rb);
    ok(&mut rb, &["SET", "k", "v"]);
    wait_for("k on A", CONVERGE, || ra.call(&["GET", "k"]) == "$1\r\nv\r\n");
}

/// A join merges by stamp: a key written later on either side wins, and a key deleted
/// after the other side wrote it stays deleted (the tombstone travels in the snapshot).
#[test]
fn join_merges_newest_write_per_key_and_keeps_deletes() {
    let a = active(&[]);
    let b = active(&[]);
    let (mut ra, mut rb) = (a.raw(), b.raw());
    ok(&mut ra, &["SET", "k1", "old-a"]);
    ok(&mut rb, &["SET", "k2", "old-b"]);
    ok(&mut rb, &["SET", "gone", "from-b"]);
    std::thread::sleep(Duration::from_millis(5)); // stamps are milliseconds
    ok(&mut rb, &["SET", "k1", "new-b"]);
    ok(&mut ra, &["SET", "k2", "new-a"]);
    ok(&mut ra, &["SET", "gone", "from-a"]);
    assert_eq!(int(&mut ra, &["DEL", "gone"]), 1);
    ok(&mut rb, &["REPLICAOF", "127.0.0.1", &a.port.to_string()]);
    ok(&mut ra, &["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_pair(&mut ra, &mut rb);
    wait_converged(&mut ra, &mut rb, SYNC);
    for r in [&mut ra, &mut rb] {
        assert_eq!(r.call(&["MGET", "k1", "k2", "gone"]), "*3\r\n$5\r\nnew-b\r\n$5\r\nnew-a\r\n$-1\r\n");
    }
    assert_eq!(info_field(&mut ra, "replication", "active_tombstones").as_deref(), Some("1"));
}

/// Both nodes take concurrent conflicting writes on the same few keys (non-commuting
/// string, list, hash, set and delete operations) while separate counters are
/// incremented on both: once writes stop the nodes hold identical data within 5 s, and
/// every increment counted.
#[test]
fn concurrent_conflicting_writes_converge_and_counters_merge() {
    let a = active(&[]);
    let b = active(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let (mut ra, mut rb) = (a.raw(), b.raw());
    ok(&mut ra, &["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_pair(&mut ra, &mut rb);
    let run = |port: u16, seed: u64| {
        std::thread::spawn(move || {
            let mut r = Raw::connect(port);
            let mut x = seed;
            let mut incrs = 0i64;
            let end = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < end {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = format!("k{}", x % 8);
                let v = format!("v{}", x % 1000);
                match (x >> 8) % 9 {
                    0 => r.call(&["SET", &k, &v]),
                    1 => r.call(&["APPEND", &k, &v]),
                    2 => r.call(&["DEL", &k]),
                    3 => r.call(&["LPUSH", &format!("l{}", x % 3), &v]),
                    4 => r.call(&["RPUSH", &format!("l{}", x % 3), &v]),
                    5 => r.call(&["HSET", &format!("h{}", x % 3), &v, &k]),
                    6 => r.call(&["SADD", &format!("s{}", x % 3), &v]),
                    7 => r.call(&["SETRANGE", &k, &format!("{}", x % 5), &v]),
                    _ => {
                        incrs += 1;
                        r.call(&["INCR", &format!("c{}", x % 4)])
                    }
                };
            }
            incrs
        })
    };
    let t1 = run(a.port, 0x9e3779b97f4a7c15);
    let t2 = run(b.port, 0x2545f4914f6cdd1d);
    let total = t1.join().unwrap() + t2.join().unwrap();
    wait_converged(&mut ra, &mut rb, CONVERGE);
    let mut sum = 0;
    for c in 0..4 {
        let v = ra.call(&["GET", &format!("c{c}")]);
        sum += v.lines().nth(1).and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
    }
    assert_eq!(sum, total, "every increment made on either node counted");
}

/// The handshake's replies and RREPLAY's errors, as KeyDB 6.3 answers them.
#[test]
fn handshake_replies_and_rreplay_errors() {
    let a = active(&[]);
    let mut r = a.raw();
    assert_eq!(
        r.call(&["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "activeExpire"]),
        "+OK active-replica\r\n"
    );
    assert_eq!(r.call(&["REPLCONF", "uuid", "not-a-uuid"]), "-ERR Invalid UUID\r\n");
    let reply = r.call(&["REPLCONF", "uuid", "6f1c1a3e-4a6b-4c1d-9e2f-0123456789ab"]);
    let uuid = info_field(&mut a.raw(), "replication", "active_uuid").unwrap();
    assert_eq!(reply, format!("+{uuid}\r\n"));
    assert_eq!(
        r.call(&["RREPLAY", &uuid, "*1\r\n$4\r\nPING\r\n", "0", "1"]),
        "-ERR Command must be sent from a master\r\n"
    );
    assert_eq!(r.call(&["SWAPDB", "0", "1"]), "-ERR SWAPDB is not supported with active-replica yes\r\n");
    // A plain replica (no REPLCONF uuid) of an active node follows the plain stream, with
    // a history ID of its own (not fed frames it cannot read).
    let mut plain_replica = a.raw();
    let full = plain_replica.call(&["PSYNC", "?", "-1"]);
    let plain_id = info_field(&mut a.raw(), "replication", "active_plain_replid").unwrap();
    assert!(full.starts_with(&format!("+FULLRESYNC {plain_id} ")), "{full}");
    assert_ne!(Some(plain_id), info_field(&mut a.raw(), "replication", "master_replid"));
    // A plain (not active) node answers the capa line with a plain +OK.
    let plain = Server::start(&[]);
    assert_eq!(plain.raw().call(&["REPLCONF", "capa", "eof"]), "+OK\r\n");
}

/// The node UUID is kept in the data directory across restarts.
#[test]
fn uuid_survives_restart() {
    let a = with_ports(1, |p| try_start_on(p[0], None, &["--active-replica", "yes"]));
    let uuid = info_field(&mut a.raw(), "replication", "active_uuid").unwrap();
    assert_eq!(uuid.len(), 36);
    let dir = a.dir.path().to_string_lossy().into_owned();
    let saved = std::fs::read_to_string(a.dir.path().join("fluidb-node.uuid")).unwrap();
    assert_eq!(saved.trim(), uuid);
    let mut a = a;
    let _ = a.child.kill();
    let _ = a.child.wait();
    let b = with_ports(1, |p| try_start_on(p[0], None, &["--active-replica", "yes", "--dir", &dir]));
    assert_eq!(info_field(&mut b.raw(), "replication", "active_uuid").unwrap(), uuid);
}

/// `replica-serve-stale-data no` on an active node: while its link is down it answers
/// MASTERDOWN to reads, writes and PING alike (as Redis and KeyDB: PING has no `stale`
/// flag, so a load balancer's PING check takes such a node out), INFO still works; once
/// the link is up it serves again.
#[test]
fn stale_data_refused_while_the_link_is_down() {
    let b = active(&[]);
    let dead = common::free_port();
    let a = active(&["--replica-serve-stale-data", "no", "--replicaof", "127.0.0.1", &dead.to_string()]);
    let mut ra = a.raw();
    let masterdown = "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n";
    assert_eq!(ra.call(&["GET", "k"]), masterdown);
    assert_eq!(ra.call(&["SET", "k", "v"]), masterdown);
    assert_eq!(ra.call(&["PING"]), masterdown);
    assert_eq!(info_field(&mut ra, "replication", "master_global_link_status").as_deref(), Some("down"));
    ok(&mut ra, &["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_for("A's link up", SYNC, || info_field(&mut ra, "replication", "master_link_status").as_deref() == Some("up"));
    ok(&mut ra, &["SET", "k", "v"]);
    assert_eq!(ra.call(&["GET", "k"]), "$1\r\nv\r\n");
}

/// Plain replicas of an active node (contract point 9): a real redis-server attached to
/// one node of a pair and a plain fluidB replica attached to the other follow every write
/// the pair takes on either node (every type, increments merged from both sides, a
/// transaction, deletes, expiries, a flush), count for WAIT, and continue with a partial
/// resync after their link breaks.
#[test]
fn plain_replicas_of_an_active_pair_follow_every_write() {
    let (a, b) = pair_from_arguments();
    let (mut ra, mut rb) = (a.raw(), b.raw());
    wait_pair(&mut ra, &mut rb);
    ok(&mut ra, &["SET", "before", "the replicas"]);
    let redis = Server::start_redis(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let plain = Server::start(&["--replicaof", "127.0.0.1", &b.port.to_string()]);
    let (mut rr, mut rp) = (redis.raw(), plain.raw());
    wait_for("the plain replicas' links up", SYNC, || link_up(&mut rr) && link_up(&mut rp));
    let writes = |ra: &mut Raw, rb: &mut Raw, round: &str| {
        common::fill_every_type(ra);
        for _ in 0..50 {
            ra.call(&["INCR", "c"]);
            rb.call(&["INCRBY", "c", "2"]);
            rb.call(&["INCRBYFLOAT", "f", "0.5"]);
        }
        ok(rb, &["MULTI"]);
        assert_eq!(rb.call(&["INCR", "t"]), "+QUEUED\r\n");
        assert_eq!(rb.call(&["RPUSH", "l", round]), "+QUEUED\r\n");
        assert!(rb.call(&["EXEC"]).starts_with("*2"));
        ok(rb, &["SET", "gone", round]);
        ok(rb, &["SET", "short", round, "PX", "150"]);
        ok(ra, &["SELECT", "3"]);
        ok(ra, &["SET", "x", round]);
        ok(ra, &["FLUSHDB"]);
        ok(ra, &["SET", "y", round]);
        ok(ra, &["SELECT", "0"]);
    };
    writes(&mut ra, &mut rb, "one");
    wait_converged(&mut ra, &mut rb, CONVERGE);
    assert_eq!(int(&mut ra, &["DEL", "gone"]), 1);
    wait_for("short to expire on both nodes", SYNC, || {
        int(&mut ra, &["EXISTS", "short"]) == 0 && int(&mut rb, &["EXISTS", "short"]) == 0
    });
    wait_converged(&mut ra, &mut rb, CONVERGE);
    wait_converged(&mut ra, &mut rr, CONVERGE);
    wait_converged(&mut rb, &mut rp, CONVERGE);
    assert_eq!(rr.call(&["GET", "c"]), "$3\r\n150\r\n", "increments from both nodes");
    assert_eq!(int(&mut rr, &["DBSIZE"]), int(&mut ra, &["DBSIZE"]));
    // A has two replicas: B (active) and redis-server (plain).
    ok(&mut ra, &["SET", "w", "1"]);
    assert_eq!(int(&mut ra, &["WAIT", "2", "5000"]), 2);
    assert_eq!(info_field(&mut ra, "replication", "active_plain_replicas").as_deref(), Some("1"));
    // Every replica link of A breaks: they all continue where they were.
    let full = |r: &mut Raw| info_field(r, "stats", "sync_full").unwrap_or_default();
    let partial = |r: &mut Raw| info_field(r, "stats", "sync_partial_ok").unwrap_or_default();
    let (full_a, partial_a) = (full(&mut ra), partial(&mut ra));
    assert!(int(&mut ra, &["CLIENT", "KILL", "TYPE", "replica"]) >= 2);
    writes(&mut ra, &mut rb, "two");
    wait_for("the links up again", SYNC, || link_up(&mut rr) && link_up(&mut rb));
    wait_converged(&mut ra, &mut rb, CONVERGE);
    wait_converged(&mut ra, &mut rr, CONVERGE);
    wait_converged(&mut rb, &mut rp, CONVERGE);
    assert_eq!(full(&mut ra), full_a, "no full sync after the links broke");
    assert_ne!(partial(&mut ra), partial_a);
    assert_eq!(rr.call(&["GET", "c"]), "$3\r\n300\r\n");
}
