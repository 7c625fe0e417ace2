//! Anti-entropy between active nodes (`replication::anti_entropy`): the ANTIENTROPY
//! protocol's replies and errors on one node, and rounds between a pair that repair
//! differences spread over every segment (many KEYS batches, PUSH calls and walk steps)
//! and heal digests that drifted from their keys.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::pair::{info_field, try_start_on, wait_converged, wait_pair, with_ports, SYNC};
use common::{flat, int, ok, wait_for, Raw, Server};

fn active_node() -> Server {
    Server::start(&["--active-replica", "yes"])
}

/// Two active nodes following each other directly.
fn pair() -> (Server, Server) {
    let (a, b) = with_ports(2, |ports| {
        let (pa, pb) = (ports[0].to_string(), ports[1].to_string());
        let a = try_start_on(ports[0], None, &["--active-replica", "yes", "--replicaof", "127.0.0.1", &pb])?;
        let b = try_start_on(ports[1], None, &["--active-replica", "yes", "--replicaof", "127.0.0.1", &pa])?;
        Some((a, b))
    });
    wait_pair(&mut a.raw(), &mut b.raw());
    (a, b)
}

/// A bulk reply's bytes (binary safe).
fn bulk_bytes(r: &mut Raw, args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    r.cmd(&a);
    let raw = r.read_reply();
    let nl = raw.iter().position(|&b| b == b'\n').expect("a bulk reply");
    assert_eq!(raw[0], b'$', "{args:?}: {:?}", String::from_utf8_lossy(&raw));
    raw[nl + 1..raw.len() - 2].to_vec()
}

fn word(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i * 8..i * 8 + 8]);
    u64::from_le_bytes(w)
}

fn err(r: &mut Raw, args: &[&str], msg: &str) {
    let rep = r.call(args);
    assert!(rep.starts_with(&format!("-ERR {msg}")), "{args:?}: expected -ERR {msg}, got {rep:?}");
}

/// Every segment, as KEYS arguments (`group:mask`).
fn all_segments() -> Vec<String> {
    (0..64).map(|g| format!("{g}:{}", u64::MAX)).collect()
}

/// Walks the keys of DB 0 in the segments `masks` name with the KEYS cursor; the keys
/// (deduplicated) and the number of calls.
fn walk(r: &mut Raw, masks: &[String]) -> (HashSet<String>, usize) {
    let (mut keys, mut calls, mut cursor) = (HashSet::new(), 0, "0".to_string());
    loop {
        let mut args = vec!["ANTIENTROPY", "KEYS", "0", &cursor];
        args.extend(masks.iter().map(String::as_str));
        let rep = flat(&r.call(&args));
        calls += 1;
        let (next, pairs) = rep.split_first().expect("KEYS reply");
        // At most 4096 keys, and the rest of the bucket where the batch filled up.
        assert!(pairs.len() % 2 == 0 && pairs.len() <= 2 * (4096 + 64), "a bounded batch: {}", pairs.len());
        for p in pairs.chunks(2) {
            assert!(p[1].parse::<u64>().is_ok_and(|m| m > 0), "a stamp: {p:?}");
            keys.insert(p[0].clone());
        }
        if next == "0" {
            return (keys, calls);
        }
        cursor = next.clone();
    }
}

#[test]
fn antientropy_arguments_get_errors() {
    let s = active_node();
    let mut r = s.raw();
    r.call(&["SET", "k", "v"]);
    // Databases.
    err(&mut r, &["ANTIENTROPY", "DIGEST", "16"], "invalid DB index");
    err(&mut r, &["ANTIENTROPY", "DIGEST", "-1"], "invalid DB index");
    err(&mut r, &["ANTIENTROPY", "KEYS", "x", "0", "0:1"], "invalid DB index");
    err(&mut r, &["ANTIENTROPY", "HEAL", "99", "0", "1", "1"], "invalid DB index");
    err(&mut r, &["ANTIENTROPY", "PUSH", "99", "k"], "invalid DB index");
    // Groups.
    for g in ["64", "-1", "x", "1.5", ""] {
        err(&mut r, &["ANTIENTROPY", "DIGEST", "0", "0", g], "invalid group");
    }
    // Segments and cursors.
    for m in ["64:1", "-1:1", "x:1", "0:x", "0:-1", "0:18446744073709551616", "1", ":1", "0:", ""] {
        err(&mut r, &["ANTIENTROPY", "KEYS", "0", "0", "1:1", m], "invalid segment mask");
    }
    for s in ["4096", "-1", "x", ""] {
        err(&mut r, &["ANTIENTROPY", "HEAL", "0", s, "1", "1"], "invalid segment");
    }
    for c in ["-1", "x", "1 ", "+1", "18446744073709551616", ""] {
        err(&mut r, &["ANTIENTROPY", "KEYS", "0", c, "0:1"], "invalid cursor");
    }
    err(&mut r, &["ANTIENTROPY", "HEAL", "0", "1", "x", "1"], "invalid segment version or value");
    err(&mut r, &["ANTIENTROPY", "HEAL", "0", "1", "1", "-1"], "invalid segment version or value");
    // Arity.
    for args in [
        &["ANTIENTROPY", "ROOTS", "0"][..],
        &["ANTIENTROPY", "DIGEST"],
        &["ANTIENTROPY", "KEYS", "0", "0"],
        &["ANTIENTROPY", "HEAL", "0", "1", "1"],
        &["ANTIENTROPY", "HEAL", "0", "1", "1", "1", "2"],
        &["ANTIENTROPY", "PUSH", "0"],
        &["ANTIENTROPY", "RUN", "now"],
        &["ANTIENTROPY", "NOPE"],
    ] {
        err(&mut r, args, "unknown subcommand or wrong number of arguments");
    }
    // Any cursor is a place to continue from (no panic), a stale version heals nothing.
    let rep = flat(&r.call(&["ANTIENTROPY", "KEYS", "0", "18446744073709551615", "0:1", "63:9"]));
    assert!(!rep.is_empty() && rep.len() % 2 == 1, "{rep:?}");
    assert_eq!(int(&mut r, &["ANTIENTROPY", "HEAL", "0", "7", "1", "1"]), 0);
    // The digest's two levels: 64 groups of 8 bytes and the newest stamp, then 64
    // segments of 16 bytes per group.
    assert_eq!(bulk_bytes(&mut r, &["ANTIENTROPY", "DIGEST", "0"]).len(), 64 * 8 + 8);
    assert_eq!(bulk_bytes(&mut r, &["ANTIENTROPY", "DIGEST", "0", "63", "0"]).len(), 2 * 64 * 16);
    assert_eq!(bulk_bytes(&mut r, &["ANTIENTROPY", "DIGEST", "0", "5", "5"]).len(), 64 * 16);
    // Not an active node: refused.
    let plain = Server::start(&[]);
    err(&mut plain.raw(), &["ANTIENTROPY", "ROOTS"], "ANTIENTROPY needs active-replica yes");
}

/// The KEYS cursor walks the live keys and then the tombstones in bounded batches, and
/// reports every key of the segments asked for (and only those).
#[test]
fn antientropy_keys_walks_keys_and_tombstones_in_batches() {
    let s = active_node();
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "POPULATE", "30000", "live"]);
    // Deleted keys leave tombstones, which a comparison lists too.
    ok(&mut r, &["DEBUG", "POPULATE", "5000", "dead"]);
    for i in 0..5000 {
        let k = format!("dead:{i}");
        r.cmd(&[b"DEL", k.as_bytes()]);
    }
    for _ in 0..5000 {
        r.read_reply();
    }
    assert_eq!(info_field(&mut r, "replication", "active_tombstones").as_deref(), Some("5000"));
    let (keys, calls) = walk(&mut r, &all_segments());
    assert_eq!(keys.len(), 35000);
    assert!(keys.contains("live:29999") && keys.contains("dead:4999"));
    assert!(calls > 35000 / 4096, "bounded batches: {calls} calls");
    // A few segments: only their keys.
    let few: Vec<String> = vec!["0:128".into(), format!("1:{}", 1u64 << 36), format!("63:{}", 1u64 << 63)];
    let (some, _) = walk(&mut r, &few);
    assert!(!some.is_empty() && some.len() < 200, "{} keys in 3 segments of 4096", some.len());
}

fn roots(r: &mut Raw) -> String {
    r.call(&["ANTIENTROPY", "ROOTS"])
}

fn repaired(r: &mut Raw) -> u64 {
    info_field(r, "replication", "active_ae_keys_repaired").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Keys that only anti-entropy can carry (DEBUG POPULATE is not replicated), on both
/// nodes and in every segment: one round on each side repairs all of them, through many
/// KEYS batches, PUSH calls and steps of the local walk.
#[test]
fn anti_entropy_repairs_differences_in_every_segment() {
    let (a, b) = pair();
    let (mut ra, mut rb) = (a.raw(), b.raw());
    ok(&mut ra, &["DEBUG", "POPULATE", "20000", "a-only"]);
    ok(&mut rb, &["DEBUG", "POPULATE", "20000", "b-only"]);
    // Shared keys and tombstones, equal on both sides, walked along.
    for i in 0..2000 {
        let k = format!("shared:{i}");
        ra.cmd(&[b"SET", k.as_bytes(), b"v"]);
        ra.cmd(&[b"DEL", format!("gone:{i}").as_bytes()]);
        ra.cmd(&[b"SET", format!("gone:{i}").as_bytes(), b"v"]);
        ra.cmd(&[b"DEL", format!("gone:{i}").as_bytes()]);
    }
    for _ in 0..8000 {
        ra.read_reply();
    }
    let (fixed_a, fixed_b) = (repaired(&mut ra), repaired(&mut rb));
    ok(&mut rb, &["ANTIENTROPY", "RUN"]);
    wait_for("equal roots", Duration::from_secs(60), || roots(&mut ra) == roots(&mut rb));
    wait_converged(&mut ra, &mut rb, SYNC);
    for r in [&mut ra, &mut rb] {
        assert_eq!(int(r, &["DBSIZE"]), 42000);
        assert_eq!(int(r, &["EXISTS", "a-only:0", "a-only:19999", "b-only:0", "b-only:19999", "gone:0"]), 4);
    }
    let fixed = repaired(&mut ra) + repaired(&mut rb) - fixed_a - fixed_b;
    assert!(fixed >= 40000, "every differing key went through anti-entropy: {fixed}");
}

/// The version of segment `seg` of DB 0 (second level of DIGEST).
fn version(r: &mut Raw, seg: usize) -> u64 {
    let g = seg / 64;
    let b = bulk_bytes(r, &["ANTIENTROPY", "DIGEST", "0", &g.to_string()]);
    word(&b, 2 * (seg % 64) + 1)
}

/// A digest segment that no longer matches its keys (set here through HEAL with a wrong
/// value, as a write path that missed an update would leave it) is found by the next
/// round and recomputed from the keys, on the master (HEAL from its peer) and on the node
/// running the round.
#[test]
fn anti_entropy_heals_drifted_digests() {
    let (a, b) = pair();
    let (mut ra, mut rb) = (a.raw(), b.raw());
    ok(&mut ra, &["DEBUG", "POPULATE", "5000"]);
    wait_converged(&mut ra, &mut rb, SYNC);
    wait_for("equal roots", SYNC, || roots(&mut ra) == roots(&mut rb));
    let good = roots(&mut ra);
    for (r, seg) in [(&mut ra, 0usize), (&mut rb, 3000)] {
        let v = version(r, seg).to_string();
        assert_eq!(int(r, &["ANTIENTROPY", "HEAL", "0", &seg.to_string(), &v, "12345"]), 1);
    }
    assert_ne!(roots(&mut ra), good);
    assert_ne!(roots(&mut rb), good);
    ok(&mut rb, &["ANTIENTROPY", "RUN"]);
    wait_for("healed digests", Duration::from_secs(30), || roots(&mut ra) == good && roots(&mut rb) == good);
    for s in [&a, &b] {
        assert!(s.log().contains("had drifted from their keys"), "the heal is logged");
    }
}
