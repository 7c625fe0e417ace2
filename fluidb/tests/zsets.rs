//! Sorted sets against the real binary: large-set ranks and ranges, ZSCAN's guarantee
//! while the set grows and shrinks, encoding conversions, the blocking pops, and how the
//! pops propagate.

mod common;
mod inproc;
use common::*;
use inproc::Local;

use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Bulk strings of a flat array reply.
fn bulks(rep: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(rep);
    let lines: Vec<&str> = s.split("\r\n").collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with('$') && lines[i] != "$-1" {
            out.push(lines[i + 1].to_string());
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

/// Loads `n` members m<i> with score i, pipelined, 100 per ZADD.
fn load(r: &mut Raw, key: &str, n: usize) {
    let mut sent = 0;
    for start in (0..n).step_by(100) {
        let mut args: Vec<String> = vec!["ZADD".into(), key.into()];
        for i in start..(start + 100).min(n) {
            args.push(i.to_string());
            args.push(format!("m{i:07}"));
        }
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        r.cmd(&a);
        sent += 1;
    }
    for _ in 0..sent {
        r.read_reply();
    }
}

#[test]
fn large_set_ranks_and_ranges_are_fast() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let t = Instant::now();
    load(&mut r, "z", 100_000);
    assert_eq!(int(&mut r, &["ZCARD", "z"]), 100_000);
    assert_eq!(r.call(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    for i in (0..100_000).step_by(997) {
        let m = format!("m{i:07}");
        assert_eq!(int(&mut r, &["ZRANK", "z", &m]), i);
        assert_eq!(int(&mut r, &["ZREVRANK", "z", &m]), 99_999 - i);
        let got = bulks(&r.read_reply_of(&["ZRANGE", "z", &i.to_string(), &(i + 2).to_string()]));
        assert_eq!(got.len(), 3.min(100_000 - i as usize));
        assert_eq!(got[0], m);
        let got = bulks(&r.read_reply_of(&["ZRANGEBYSCORE", "z", &format!("({i}"), "+inf", "LIMIT", "0", "1"]));
        if i < 99_999 {
            assert_eq!(got, vec![format!("m{:07}", i + 1)]);
        }
        assert_eq!(int(&mut r, &["ZCOUNT", "z", &i.to_string(), "+inf"]), 100_000 - i);
    }
    // Removing a middle rank range and a score range.
    assert_eq!(int(&mut r, &["ZREMRANGEBYRANK", "z", "1000", "50999"]), 50_000);
    assert_eq!(int(&mut r, &["ZREMRANGEBYSCORE", "z", "(60000", "70000"]), 10_000);
    assert_eq!(int(&mut r, &["ZCARD", "z"]), 40_000);
    assert_eq!(int(&mut r, &["ZRANK", "z", "m0051000"]), 1000);
    assert_eq!(int(&mut r, &["ZRANK", "z", "m0070001"]), 1000 + 9001);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

trait ReplyOf {
    fn read_reply_of(&mut self, args: &[&str]) -> Vec<u8>;
}
impl ReplyOf for Raw {
    fn read_reply_of(&mut self, args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a);
        self.read_reply()
    }
}

#[test]
fn zscan_reports_every_stable_member_while_the_set_changes() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    load(&mut r, "z", 2000);
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let rep = r.read_reply_of(&["ZSCAN", "z", &cursor, "COUNT", "20"]);
        let b = bulks(&rep);
        cursor = b[0].clone();
        for pair in b[1..].chunks(2) {
            seen.insert(pair[0].clone());
        }
        // Grow, then shrink the set (forcing rehashes both ways) with other members.
        step += 1;
        if step < 30 {
            let mut args = vec!["ZADD".to_string(), "z".to_string()];
            for i in 0..300 {
                args.push("1".into());
                args.push(format!("x{step}-{i}"));
            }
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            r.call(&a);
        } else if step < 60 {
            let mut args = vec!["ZREM".to_string(), "z".to_string()];
            for i in 0..300 {
                args.push(format!("x{}-{i}", step - 29));
            }
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            r.call(&a);
        }
        if cursor == "0" {
            break;
        }
    }
    for i in 0..2000 {
        assert!(seen.contains(&format!("m{i:07}")), "m{i:07} missing");
    }
}

#[test]
fn encodings_convert_at_the_thresholds() {
    let s = Server::start(&["--zset-max-listpack-entries", "8", "--zset-max-listpack-value", "10"]);
    let mut r = s.raw();
    load(&mut r, "z", 8);
    assert_eq!(r.call(&["OBJECT", "ENCODING", "z"]), "$8\r\nlistpack\r\n");
    r.call(&["ZADD", "z", "100", "extra"]);
    assert_eq!(r.call(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    // Results of ZUNIONSTORE that fit go back to a listpack.
    r.call(&["ZREM", "z", "extra", "m0000000"]);
    assert_eq!(int(&mut r, &["ZUNIONSTORE", "u", "1", "z"]), 7);
    assert_eq!(r.call(&["OBJECT", "ENCODING", "u"]), "$8\r\nlistpack\r\n");
    assert_eq!(r.call(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    assert_eq!(
        bulks(&r.read_reply_of(&["ZRANGE", "u", "0", "-1"])),
        bulks(&r.read_reply_of(&["ZRANGE", "z", "0", "-1"]))
    );
    r.call(&["ZADD", "long", "1", "a-very-long-member"]);
    assert_eq!(r.call(&["OBJECT", "ENCODING", "long"]), "$8\r\nskiplist\r\n");
}

#[test]
fn blocking_pops() {
    let s = Server::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let mut w = s.raw();
    // Timeout.
    let t = Instant::now();
    assert_eq!(a.call(&["BZPOPMIN", "q", "0.2"]), "*-1\r\n");
    assert!(t.elapsed() >= Duration::from_millis(150));
    // First blocked, first served.
    a.cmd(&[b"BZPOPMIN", b"q", b"5"]);
    std::thread::sleep(Duration::from_millis(100));
    b.cmd(&[b"BZPOPMAX", b"q", b"5"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(int(&mut w, &["ZADD", "q", "1", "one"]), 1);
    assert_eq!(String::from_utf8_lossy(&a.read_reply()), "*3\r\n$1\r\nq\r\n$3\r\none\r\n$1\r\n1\r\n");
    assert_eq!(int(&mut w, &["EXISTS", "q"]), 0);
    // B is still waiting: served by a MULTI/EXEC that adds two members.
    w.call(&["MULTI"]);
    w.call(&["ZADD", "q", "1", "a"]);
    w.call(&["ZADD", "q", "2", "b"]);
    let exec = w.call(&["EXEC"]);
    assert_eq!(exec, "*2\r\n:1\r\n:1\r\n");
    assert_eq!(String::from_utf8_lossy(&b.read_reply()), "*3\r\n$1\r\nq\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(int(&mut w, &["ZCARD", "q"]), 1);
    // BZMPOP wakes up with a nested reply.
    a.cmd(&[b"BZMPOP", b"5", b"2", b"q2", b"q3", b"MIN", b"COUNT", b"5"]);
    std::thread::sleep(Duration::from_millis(100));
    w.call(&["ZADD", "q3", "1", "x", "2", "y"]);
    assert_eq!(
        String::from_utf8_lossy(&a.read_reply()),
        "*2\r\n$2\r\nq3\r\n*2\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
    );
    // Inside MULTI a blocking pop on an empty key answers the timeout reply at once.
    w.call(&["MULTI"]);
    w.call(&["BZPOPMIN", "empty", "0"]);
    assert_eq!(w.call(&["EXEC"]), "*1\r\n*-1\r\n");
}

/// ZMPOP and BZMPOP propagate as ZPOPMIN/ZPOPMAX with the number of elements popped
/// (Redis's `min(count, llen)`), BZPOPMIN as ZPOPMIN without a count; nothing when
/// nothing was popped.
#[test]
fn pops_propagate_as_zpop_with_the_popped_count() {
    let mut l = Local::new();
    let a = l.connect();
    l.run(a, &["ZADD", "z", "1", "one", "2", "two", "3", "three"]);
    l.run(a, &["ZMPOP", "1", "z", "MIN"]);
    l.run(a, &["ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "10"]);
    l.run(a, &["ZMPOP", "1", "z", "MAX", "COUNT", "10"]);
    l.run(a, &["ZADD", "z", "1", "one", "2", "two", "3", "three"]);
    l.run(a, &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "2"]);
    l.run(a, &["BZPOPMIN", "z", "0"]);
    assert_eq!(l.run(a, &["ZPOPMIN", "z", "0"]), "*0\r\n");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        l.stream(),
        vec![
            s(&["SELECT", "0"]),
            s(&["ZADD", "z", "1", "one", "2", "two", "3", "three"]),
            s(&["ZPOPMIN", "z", "1"]),
            s(&["ZPOPMAX", "z", "2"]),
            s(&["ZADD", "z", "1", "one", "2", "two", "3", "three"]),
            s(&["ZPOPMAX", "z", "2"]),
            s(&["ZPOPMIN", "z"]),
        ]
    );
}
