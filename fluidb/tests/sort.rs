//! SORT and SORT_RO against the real binary: what the differential script
//! (tests/diff/sort.txt) cannot compare. Keyspace events of SORT ... STORE, what goes into
//! the write stream, clients blocked on the destination, WATCH, the keys COMMAND GETKEYS
//! finds and COMMAND INFO against redis-server 7.0.

mod common;
mod inproc;

use std::time::Duration;

use common::*;
use inproc::Local;

#[test]
fn store_events_match_redis() {
    let ours = Server::start(&["--notify-keyspace-events", "KEA"]);
    let redis = Server::start_redis(&["--notify-keyspace-events", "KEA"]);
    let mut got = Vec::new();
    for s in [&ours, &redis] {
        let mut r = s.raw();
        let mut sub = s.raw();
        sub.call(&["PSUBSCRIBE", "__key*__:*"]);
        sub.call(&["SUBSCRIBE", "marker"]);
        let mut all = Vec::new();
        for (i, c) in [
            &["RPUSH", "l", "3", "1", "2"][..],
            &["SORT", "l", "STORE", "dst"],
            &["SORT", "l", "STORE", "dst"],
            &["SORT", "nokey", "STORE", "dst"],
            &["SORT", "nokey", "STORE", "dst"],
            &["SORT_RO", "l"],
            &["SET", "w_1", "x"],
            &["SORT", "l", "BY", "w_*", "STORE", "dst"],
        ]
        .iter()
        .enumerate()
        {
            r.call(c);
            all.push(events_until_marker(&mut sub, &mut r, &i.to_string()));
        }
        got.push(all);
    }
    assert_eq!(got[0], got[1]);
    assert!(got[0][1].contains(&"__keyevent@0__:sortstore dst".to_string()), "{:?}", got[0]);
    assert!(got[0][3].contains(&"__keyevent@0__:del dst".to_string()), "{:?}", got[0]);
    assert!(got[0][4].is_empty(), "{:?}", got[0]);
}

#[test]
fn propagation() {
    let mut l = Local::new();
    let a = l.connect();
    l.run(a, &["RPUSH", "l", "3", "1", "2"]);
    assert_eq!(l.run(a, &["SORT", "l"]), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
    assert_eq!(l.run(a, &["SORT_RO", "l"]), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
    assert_eq!(l.run(a, &["SORT", "l", "STORE", "d"]), ":3\r\n");
    assert_eq!(l.run(a, &["SORT", "nokey", "STORE", "nod"]), ":0\r\n");
    assert_eq!(l.run(a, &["SORT", "nokey", "STORE", "d"]), ":0\r\n");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        l.stream(),
        vec![
            s(&["SELECT", "0"]),
            s(&["RPUSH", "l", "3", "1", "2"]),
            s(&["SORT", "l", "STORE", "d"]),
            s(&["SORT", "nokey", "STORE", "d"]),
        ]
    );
}

#[test]
fn store_wakes_a_client_blocked_on_the_destination() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut b = s.raw();
    r.call(&["RPUSH", "l", "b", "a"]);
    b.send(&encode(&[b"BLPOP", b"dst", b"5"]));
    wait_for("the client to block", Duration::from_secs(5), || {
        r.call(&["INFO", "clients"]).contains("blocked_clients:1")
    });
    assert_eq!(r.call(&["SORT", "l", "ALPHA", "STORE", "dst"]), ":2\r\n");
    assert_eq!(String::from_utf8_lossy(&b.read_reply()), "*2\r\n$3\r\ndst\r\n$1\r\na\r\n");
    assert_eq!(r.call(&["LRANGE", "dst", "0", "-1"]), "*1\r\n$1\r\nb\r\n");
}

#[test]
fn store_invalidates_watch_and_sort_ro_does_not() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut w = s.raw();
    r.call(&["RPUSH", "l", "1"]);
    w.call(&["WATCH", "dst", "l"]);
    r.call(&["SORT_RO", "l"]);
    w.call(&["MULTI"]);
    w.call(&["PING"]);
    assert_eq!(w.call(&["EXEC"]), "*1\r\n+PONG\r\n");
    w.call(&["WATCH", "dst"]);
    r.call(&["SORT", "l", "STORE", "dst"]);
    w.call(&["MULTI"]);
    w.call(&["PING"]);
    assert_eq!(w.call(&["EXEC"]), "*-1\r\n");
}

#[test]
fn getkeys_and_command_info_match_redis_7_0() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for c in ["sort", "sort_ro"] {
        // (COMMAND DOCS has no argument schemas yet, for any command.)
        assert_eq!(a.call(&["COMMAND", "INFO", c]), b.call(&["COMMAND", "INFO", c]), "COMMAND INFO {c}");
    }
    for args in [
        &["SORT", "k"][..],
        &["SORT", "k", "STORE", "d"],
        &["SORT", "k", "LIMIT", "0", "1", "STORE", "d", "GET", "#"],
        &["SORT", "k", "STORE", "a", "GET", "store", "STORE", "b", "BY", "store"],
        &["SORT", "k", "STORE"],
        &["SORT", "k", "store", "limit", "x"],
        &["SORT_RO", "k", "STORE", "d"],
    ] {
        let mut q = vec!["COMMAND", "GETKEYSANDFLAGS"];
        q.extend_from_slice(args);
        assert_eq!(a.call(&q), b.call(&q), "{args:?}");
    }
}

/// A big unsorted list sorted numerically and alphabetically, BY a weight key and GET a
/// hash field: the same answer as redis-server.
#[test]
fn large_sorts_match_redis() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    for s in [&ours, &redis] {
        let mut r = s.raw();
        let n = 3000;
        for chunk in (0..n).collect::<Vec<u32>>().chunks(500) {
            let mut args = vec!["RPUSH".to_string(), "l".to_string()];
            let mut ms = vec!["MSET".to_string()];
            for i in chunk {
                let v = (i * 7919) % 1000; // repeats, so ties are broken by the element
                args.push(format!("{v}"));
                ms.push(format!("w_{v}"));
                ms.push(format!("{}", (v * 31) % 97));
            }
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            r.call(&a);
            let a: Vec<&str> = ms.iter().map(String::as_str).collect();
            r.call(&a);
        }
        for i in 0..1000 {
            r.call(&["HSET", &format!("h_{i}"), "f", &format!("v{}", 999 - i)]);
        }
        r.call(&["SADD", "s", "x", "y"]);
        for i in 0..600 {
            r.call(&["SADD", "s", &format!("m{i}")]);
        }
    }
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for q in [
        &["SORT", "l"][..],
        &["SORT", "l", "DESC", "LIMIT", "100", "50"],
        &["SORT", "l", "ALPHA"],
        &["SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f"],
        &["SORT", "l", "BY", "h_*->f", "ALPHA", "DESC", "LIMIT", "10", "20"],
        &["SORT", "s", "ALPHA"],
        &["SORT", "s", "BY", "nosort", "STORE", "d"],
        &["LRANGE", "d", "0", "-1"],
    ] {
        assert_eq!(a.call(q), b.call(q), "{q:?}");
    }
}
