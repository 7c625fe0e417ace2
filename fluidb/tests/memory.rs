//! MEMORY, DEBUG HTSTATS / HTSTATS-KEY / MALLCTL and the memory behaviour around them,
//! against the real binary: what the byte-for-byte script (tests/diff/memory.txt) cannot
//! compare. MEMORY USAGE's figures (fluidB's own structures, close to Redis's), MEMORY
//! STATS's fields in Redis's order, the hash tables' resize policy while a child process
//! exists, and a client that pipelines far more than the socket buffers hold before it
//! reads any reply.

mod common;
use common::*;

use std::io::Write;
use std::time::{Duration, Instant};

fn usage(r: &mut Raw, key: &str) -> i64 {
    int(r, &["MEMORY", "USAGE", key])
}

/// Builds one key of every encoding on `r` (the same commands on both servers).
fn fill_encodings(r: &mut Raw) -> Vec<&'static str> {
    ok(r, &["SET", "int", "12345"]);
    ok(r, &["SET", "emb", &"a".repeat(20)]);
    ok(r, &["SET", "raw", &"a".repeat(1000)]);
    for i in 0..10 {
        r.call(&["HSET", "hlp", &format!("f{i}"), &format!("v{i}")]);
    }
    for i in 0..1000 {
        r.call(&["HSET", "hht", &format!("field:{i}"), &format!("value:{i}")]);
        r.call(&["SADD", "sht", &format!("member:{i}")]);
        r.call(&["ZADD", "zsl", &i.to_string(), &format!("member:{i}")]);
    }
    for i in 0..100 {
        r.call(&["SADD", "sint", &i.to_string()]);
    }
    for i in 0..50 {
        r.call(&["ZADD", "zlp", &i.to_string(), &format!("m{i}")]);
    }
    for i in 0..10000 {
        r.call(&["RPUSH", "list", &format!("element:{i}")]);
    }
    vec!["int", "emb", "raw", "hlp", "hht", "sht", "zsl", "sint", "zlp", "list"]
}

#[test]
fn usage_is_close_to_redis_for_every_encoding() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    let keys = fill_encodings(&mut a);
    fill_encodings(&mut b);
    for k in keys {
        let enc = a.call(&["OBJECT", "ENCODING", k]);
        assert_eq!(enc, b.call(&["OBJECT", "ENCODING", k]), "{k}");
        let (x, y) = (usage(&mut a, k), usage(&mut b, k));
        let ratio = x as f64 / y as f64;
        assert!((0.5..=2.0).contains(&ratio), "{k} ({enc:?}): fluidB {x}, redis {y}");
        // SAMPLES 0 measures every element; uniform contents give nearly the estimate.
        let all = int(&mut a, &["MEMORY", "USAGE", k, "SAMPLES", "0"]);
        assert!((all as f64 / x as f64 - 1.0).abs() < 0.05, "{k}: {all} vs {x}");
    }
}

#[test]
fn usage_grows_with_the_value_and_follows_big_strings() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "small", "x"]);
    ok(&mut r, &["SET", "big", &"x".repeat(100_000)]);
    let (small, big) = (usage(&mut r, "small"), usage(&mut r, "big"));
    assert!(small > 0 && small < 200, "{small}");
    assert!((100_000..120_000).contains(&big), "{big}"); // jemalloc size class: 114688
                                                         // Redis's "trim on SET with big value": a smaller value replaces the big one.
    ok(&mut r, &["SET", "big", &"A".repeat(33_000)]);
    assert!(usage(&mut r, "big") < 42_000);
    // A growing collection: estimates grow with it.
    let mut last = 0;
    for n in [10, 100, 1000, 10000] {
        while int(&mut r, &["SCARD", "s"]) < n {
            let c = int(&mut r, &["SCARD", "s"]);
            r.call(&["SADD", "s", &format!("m{c}")]);
        }
        let u = usage(&mut r, "s");
        assert!(u > last, "{n}: {u} <= {last}");
        last = u;
    }
    assert_eq!(r.call(&["MEMORY", "USAGE", "nokey"]), "$-1\r\n");
    // An expired key not yet deleted is still measured (Redis's dictFind, no expiry).
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert!(usage(&mut r, "gone") > 0);
}

#[test]
fn stats_fields_follow_redis_order() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let names = |s: &Server| {
        let mut r = s.raw();
        ok(&mut r, &["SET", "a", "1"]);
        ok(&mut r, &["SELECT", "3"]);
        ok(&mut r, &["SET", "b", "1"]);
        r.call(&["EXPIRE", "b", "100"]);
        // Map keys are the bulk strings right after the previous value: take every line
        // that follows a `$n` header and is a field name (db.N maps included).
        let rep = r.call(&["MEMORY", "STATS"]);
        let lines: Vec<&str> = rep.split("\r\n").collect();
        let mut out = Vec::new();
        for w in lines.windows(2) {
            if w[0].starts_with('$') && w[1].chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
                out.push(w[1].to_string());
            }
        }
        (rep, out)
    };
    let (ours_rep, ours_names) = names(&ours);
    let (_, redis_names) = names(&redis);
    assert_eq!(ours_names, redis_names);
    assert!(ours_rep.starts_with("*58\r\n"), "{ours_rep:?}"); // 27 + 2 dbs, flattened
    let mut r = ours.raw();
    let rep = r.call(&["MEMORY", "STATS"]);
    let keys_count = rep.split("keys.count\r\n").nth(1).and_then(|s| s.lines().next()).unwrap_or("");
    assert_eq!(keys_count, ":2");
    // A fresh instance is "empty" for the doctor, as Redis's is below 5 MB.
    let doc = r.call(&["MEMORY", "DOCTOR"]);
    assert!(doc.contains("Hi Sam, this instance is empty"), "{doc:?}");
    assert!(r.call(&["MEMORY", "MALLOC-STATS"]).contains("Begin jemalloc statistics"));
    assert_eq!(r.call(&["MEMORY", "PURGE"]), "+OK\r\n");
}

#[test]
fn command_info_matches_redis_7_0() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for c in ["memory|doctor", "memory|help", "memory|malloc-stats", "memory|purge", "memory|stats", "memory|usage"] {
        assert_eq!(a.call(&["COMMAND", "INFO", c]), b.call(&["COMMAND", "INFO", c]), "COMMAND INFO {c}");
    }
    assert_eq!(a.call(&["COMMAND", "GETKEYS", "MEMORY", "USAGE", "k"]), "*1\r\n$1\r\nk\r\n");
}

fn info_field(r: &mut Raw, section: &str, field: &str) -> String {
    let rep = r.call(&["INFO", section]);
    rep.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string)).unwrap_or_default()
}

/// Redis's "Don't rehash if redis has child process" (unit/other): while a BGSAVE child
/// shares the pages, a full table does not grow; once the child is gone it does.
#[test]
fn tables_do_not_resize_while_a_child_exists() {
    let s = Server::start(&["--save", "", "--rdb-key-save-delay", "1000000"]);
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "POPULATE", "4096", "", "1"]);
    assert!(r.call(&["DEBUG", "HTSTATS", "0"]).contains("table size: 4096"));
    r.call(&["BGSAVE"]);
    wait_for("bgsave", Duration::from_secs(10), || info_field(&mut r, "persistence", "rdb_bgsave_in_progress") == "1");
    ok(&mut r, &["MSET", "k1", "v1", "k2", "v2"]);
    let st = r.call(&["DEBUG", "HTSTATS", "0"]);
    assert!(!st.contains("table size: 8192"), "{st}");
    for pid in child_pids(s.child.id()) {
        let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
    }
    wait_for("child reaped", Duration::from_secs(10), || {
        info_field(&mut r, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    ok(&mut r, &["SET", "k3", "v3"]);
    let st = r.call(&["DEBUG", "HTSTATS", "0"]);
    assert!(st.contains("table size: 8192"), "{st}");
}

/// A set only sampled still finishes its rehash (SRANDMEMBER does rehash steps, as
/// Redis's random reads do), and HTSTATS-KEY shows both tables meanwhile.
#[test]
fn srandmember_advances_a_rehash() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let members: Vec<String> = (0..5000).map(|i| format!("m:{i}")).collect();
    let mut args = vec!["SADD", "s"];
    args.extend(members.iter().map(String::as_str));
    assert_eq!(r.call(&args), ":5000\r\n");
    let st = r.call(&["DEBUG", "HTSTATS-KEY", "s"]);
    assert!(st.contains("Hash table 1 stats (rehashing target)"), "{st}");
    assert!(st.contains(" number of elements: "), "{st}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.call(&["DEBUG", "HTSTATS-KEY", "s"]).contains("rehashing target") {
        assert!(Instant::now() < deadline, "the rehash never finished");
        r.call(&["SRANDMEMBER", "s", "10"]);
    }
    let st = r.call(&["DEBUG", "HTSTATS-KEY", "s"]);
    assert!(st.contains(" table size: 8192\n number of elements: 5000\n"), "{st}");
}

/// A client may write its whole pipeline before reading any reply (Redis's test suite
/// sends a million commands so): the server keeps reading and executing while its
/// replies wait, instead of both sides blocking on a full socket.
#[test]
fn a_pipeline_larger_than_the_socket_buffers_completes() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let arg = "x".repeat(1000);
    let one = encode(&[b"ECHO", arg.as_bytes()]);
    const N: usize = 40_000; // 40 MB each way
    let mut w = r.w.try_clone().expect("clone");
    // Without the fix both sides block: the writer gives up instead of hanging the test.
    w.set_write_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let writer = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(one.len() * 1000);
        for _ in 0..1000 {
            batch.extend_from_slice(&one);
        }
        for _ in 0..N / 1000 {
            w.write_all(&batch).expect("write");
        }
    });
    // Nothing is read until every command is written.
    writer.join().expect("writer");
    for i in 0..N {
        let rep = r.read_reply();
        assert_eq!(rep.len(), 1000 + 9, "reply {i}");
    }
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
}
