//! A fluidB node and a real KeyDB 6.3 node (`../shared/peers/keydb-server`) as an active
//! pair, formed from both sides: writes of every type made on either node reach the other,
//! a MULTI/EXEC of two INCRs adds 2 on both, and a broken link resumes. Skipped (with the
//! reason printed) where keydb-server cannot run.

mod common;

use std::time::Duration;

use common::pair::{content, info_field, wait_converged, wait_pair, CONVERGE, SYNC};
use common::{int, ok, wait_for, Raw, Server};

fn pair(fluidb_first: bool) -> Option<(Server, Server)> {
    let k = Server::start_keydb(&["--active-replica", "yes"])?;
    let f = Server::start(&["--active-replica", "yes"]);
    let (mut rf, mut rk) = (f.raw(), k.raw());
    ok(&mut rf, &["SET", "before-join-f", "1"]);
    ok(&mut rk, &["SET", "before-join-k", "2"]);
    if fluidb_first {
        ok(&mut rf, &["REPLICAOF", "127.0.0.1", &k.port.to_string()]);
        wait_for("fluidB's link to KeyDB", SYNC, || {
            info_field(&mut rf, "replication", "master_link_status").as_deref() == Some("up")
        });
        ok(&mut rk, &["REPLICAOF", "127.0.0.1", &f.port.to_string()]);
    } else {
        ok(&mut rk, &["REPLICAOF", "127.0.0.1", &f.port.to_string()]);
        wait_for("KeyDB's link to fluidB", SYNC, || {
            info_field(&mut rk, "replication", "master_link_status").as_deref() == Some("up")
        });
        ok(&mut rf, &["REPLICAOF", "127.0.0.1", &k.port.to_string()]);
    }
    wait_pair(&mut rf, &mut rk);
    Some((f, k))
}

/// Waits until `key` has the same content on both nodes.
fn wait_same(a: &mut Raw, b: &mut Raw, key: &str) {
    let deadline = std::time::Instant::now() + CONVERGE;
    loop {
        let (x, y) = (content(a, key), content(b, key));
        if x == y {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{key} differs: fluidB {x} / KeyDB {y}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_pair(f: &Server, k: &Server) {
    let (mut rf, mut rk) = (f.raw(), k.raw());
    // Both joined with their own data: merged, nothing dropped.
    for r in [&mut rf, &mut rk] {
        wait_for("merged keys", CONVERGE, || int(r, &["EXISTS", "before-join-f", "before-join-k"]) == 2);
    }
    // Every type written on fluidB reaches KeyDB.
    let keys = common::fill_every_type(&mut rf);
    ok(&mut rf, &["SET", "ttl-f", "x", "EX", "1000"]);
    for key in keys.iter().map(String::as_str).chain(["ttl-f"]) {
        wait_same(&mut rf, &mut rk, key);
    }
    assert!(int(&mut rk, &["TTL", "ttl-f"]) > 990);
    // And the other way.
    rk.call(&["HSET", "hash-k", "a", "1", "b", "2"]);
    rk.call(&["ZADD", "zset-k", "1", "m"]);
    rk.call(&["SADD", "set-k", "x", "y"]);
    rk.call(&["RPUSH", "list-k", "1", "2", "3"]);
    rk.call(&["APPEND", "str-emb", "-from-keydb"]);
    rk.call(&["DEL", "list-small"]);
    rk.call(&["PEXPIRE", "hash-k", "500000"]);
    for key in ["hash-k", "zset-k", "set-k", "list-k", "str-emb", "list-small"] {
        wait_same(&mut rf, &mut rk, key);
    }
    let pttl = int(&mut rf, &["PTTL", "hash-k"]);
    assert!(pttl > 490_000 && pttl <= 500_000, "{pttl}");
    // A transaction of two INCRs adds 2 on both, from either side.
    for r in [&mut rf, &mut rk] {
        ok(r, &["MULTI"]);
        r.call(&["INCR", "tx"]);
        r.call(&["INCR", "tx"]);
        r.call(&["EXEC"]);
    }
    let deadline = std::time::Instant::now() + CONVERGE;
    while !(rf.call(&["GET", "tx"]) == "$1\r\n4\r\n" && rk.call(&["GET", "tx"]) == "$1\r\n4\r\n") {
        assert!(
            std::time::Instant::now() < deadline,
            "tx: fluidB {:?}, KeyDB {:?}",
            rf.call(&["GET", "tx"]),
            rk.call(&["GET", "tx"])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A broken link resumes (each side's link to the other is killed).
    rf.call(&["CLIENT", "KILL", "TYPE", "master"]);
    rk.call(&["CLIENT", "KILL", "TYPE", "master"]);
    ok(&mut rf, &["SET", "after-break-f", "1"]);
    ok(&mut rk, &["SET", "after-break-k", "1"]);
    wait_pair(&mut rf, &mut rk);
    for r in [&mut rf, &mut rk] {
        wait_for("writes after the break", CONVERGE, || int(r, &["EXISTS", "after-break-f", "after-break-k"]) == 2);
    }
    wait_converged(&mut rf, &mut rk, CONVERGE);
    // fluidB understood everything KeyDB sent (KEYDB.MVCCRESTORE after a sync, pings and
    // GETACKs inside frames, echoes of its own writes).
    let log = f.log();
    for bad in ["does not know", "bad RREPLAY", "not a command", "CRITICAL"] {
        assert!(!log.contains(bad), "fluidB logged '{bad}':\n{log}");
    }
    let applied: u64 = info_field(&mut rf, "replication", "active_frames_applied").unwrap().parse().unwrap();
    assert!(applied > 0);
}

#[test]
fn fluidb_joins_keydb_first() {
    let Some((f, k)) = pair(true) else { return };
    check_pair(&f, &k);
}

#[test]
fn keydb_joins_fluidb_first() {
    let Some((f, k)) = pair(false) else { return };
    check_pair(&f, &k);
}
