//! Blocking list commands against the real binary: who gets served and when, timeouts,
//! CLIENT UNBLOCK, disconnects, MULTI, introspection, RESP3. Events are ordered with
//! wait-for-condition loops (INFO blocked_clients), never with bare sleeps.

mod common;
use common::*;

use std::time::{Duration, Instant};

fn s(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn send(r: &mut Raw, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    r.cmd(&a);
}

fn blocked_clients(r: &mut Raw) -> i64 {
    let info = r.call(&["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

fn wait_blocked(r: &mut Raw, n: i64) {
    wait_for(&format!("{n} blocked client(s)"), Duration::from_secs(5), || blocked_clients(r) == n);
}

/// No reply arrives on `r` within `d`.
fn silent_for(r: &mut Raw, d: Duration) -> bool {
    r.w.set_read_timeout(Some(d)).expect("timeout");
    let got = std::io::BufRead::fill_buf(&mut r.r).map(|b| b.len()).unwrap_or(0);
    r.w.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    got == 0
}

#[test]
fn blpop_is_served_by_a_push_from_another_client() {
    let srv = Server::start(&[]);
    let (mut a, mut w) = (srv.raw(), srv.raw());
    send(&mut a, &["BLPOP", "k1", "k2", "0"]);
    wait_blocked(&mut w, 1);
    assert_eq!(w.call(&["RPUSH", "k2", "x", "y"]), ":2\r\n");
    assert_eq!(s(a.read_reply()), "*2\r\n$2\r\nk2\r\n$1\r\nx\r\n");
    // The pop happened before any other client could run: only y is left.
    assert_eq!(w.call(&["LRANGE", "k2", "0", "-1"]), "*1\r\n$1\r\ny\r\n");
    assert_eq!(blocked_clients(&mut w), 0);
    // BRPOP, and BLMPOP with a count, are served the same way.
    send(&mut a, &["BRPOP", "k3", "5"]);
    wait_blocked(&mut w, 1);
    w.call(&["RPUSH", "k3", "a", "b"]);
    assert_eq!(s(a.read_reply()), "*2\r\n$2\r\nk3\r\n$1\r\nb\r\n");
    send(&mut a, &["BLMPOP", "0", "2", "k4", "k5", "RIGHT", "COUNT", "5"]);
    wait_blocked(&mut w, 1);
    w.call(&["RPUSH", "k5", "a", "b"]);
    assert_eq!(s(a.read_reply()), "*2\r\n$2\r\nk5\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n");
    assert_eq!(w.call(&["EXISTS", "k5"]), ":0\r\n");
}

#[test]
fn first_blocked_first_served() {
    let srv = Server::start(&[]);
    let mut w = srv.raw();
    let mut clients: Vec<Raw> = (0..3).map(|_| srv.raw()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, &["BLPOP", "q", "0"]);
        wait_blocked(&mut w, i as i64 + 1);
    }
    assert_eq!(w.call(&["RPUSH", "q", "1", "2", "3"]), ":3\r\n");
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(s(c.read_reply()), format!("*2\r\n$1\r\nq\r\n$1\r\n{}\r\n", i + 1));
    }
    assert_eq!(w.call(&["EXISTS", "q"]), ":0\r\n");
    // One element for three waiters: the first gets it, the others keep waiting.
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, &["BRPOP", "q", "0"]);
        wait_blocked(&mut w, i as i64 + 1);
    }
    w.call(&["LPUSH", "q", "only"]);
    assert_eq!(s(clients[0].read_reply()), "*2\r\n$1\r\nq\r\n$4\r\nonly\r\n");
    assert_eq!(blocked_clients(&mut w), 2);
    w.call(&["LPUSH", "q", "second"]);
    assert_eq!(s(clients[1].read_reply()), "*2\r\n$1\r\nq\r\n$6\r\nsecond\r\n");
    wait_blocked(&mut w, 1);
}

#[test]
fn timeouts() {
    let srv = Server::start(&[]);
    let (mut a, mut w) = (srv.raw(), srv.raw());
    // Fractional timeouts return nil within a bounded time.
    for cmd in [
        &["BLPOP", "nokey", "0.1"][..],
        &["BRPOP", "nokey", "nokey2", "0.1"],
        &["BLMPOP", "0.1", "1", "nokey", "LEFT"],
        &["BLMOVE", "nokey", "dst", "LEFT", "LEFT", "0.1"],
        &["BRPOPLPUSH", "nokey", "dst", "0.1"],
    ] {
        let t = Instant::now();
        assert_eq!(a.call(cmd), "*-1\r\n", "{cmd:?}");
        let el = t.elapsed();
        assert!(el >= Duration::from_millis(90) && el < Duration::from_secs(3), "{cmd:?} took {el:?}");
    }
    assert_eq!(blocked_clients(&mut w), 0);
    // Timeout 0 waits until served.
    send(&mut a, &["BLPOP", "k", "0"]);
    wait_blocked(&mut w, 1);
    assert!(silent_for(&mut a, Duration::from_millis(300)));
    assert_eq!(blocked_clients(&mut w), 1);
    w.call(&["RPUSH", "k", "v"]);
    assert_eq!(s(a.read_reply()), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    // RESP3: the timeout reply is a null.
    a.call(&["HELLO", "3"]);
    assert_eq!(a.call(&["BLPOP", "nokey", "0.05"]), "_\r\n");
    assert_eq!(a.call(&["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.05"]), "_\r\n");
    send(&mut a, &["BLPOP", "k", "0"]);
    wait_blocked(&mut w, 1);
    w.call(&["RPUSH", "k", "v"]);
    assert_eq!(s(a.read_reply()), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
}

#[test]
fn served_by_a_transaction() {
    let srv = Server::start(&[]);
    let (mut a, mut w) = (srv.raw(), srv.raw());
    send(&mut a, &["BLPOP", "k", "0"]);
    wait_blocked(&mut w, 1);
    w.call(&["MULTI"]);
    w.call(&["RPUSH", "k", "a", "b"]);
    w.call(&["RPUSH", "k", "c"]);
    assert_eq!(w.call(&["EXEC"]), "*2\r\n:2\r\n:3\r\n");
    assert_eq!(s(a.read_reply()), "*2\r\n$1\r\nk\r\n$1\r\na\r\n");
    assert_eq!(w.call(&["LRANGE", "k", "0", "-1"]), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
    // Inside MULTI a blocking command on empty keys answers at once.
    w.call(&["MULTI"]);
    w.call(&["BLPOP", "empty", "0"]);
    w.call(&["BLMOVE", "empty", "x", "LEFT", "LEFT", "0"]);
    w.call(&["BLPOP", "k", "0"]);
    assert_eq!(w.call(&["EXEC"]), "*3\r\n*-1\r\n$-1\r\n*2\r\n$1\r\nk\r\n$1\r\nb\r\n");
}

#[test]
fn blmove_chains_serve_the_destination_waiters() {
    let srv = Server::start(&[]);
    let (mut a, mut b, mut c, mut w) = (srv.raw(), srv.raw(), srv.raw(), srv.raw());
    send(&mut a, &["BLMOVE", "k1", "k2", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut w, 1);
    send(&mut b, &["BRPOPLPUSH", "k2", "k3", "0"]);
    wait_blocked(&mut w, 2);
    send(&mut c, &["BLPOP", "k3", "0"]);
    wait_blocked(&mut w, 3);
    w.call(&["LPUSH", "k1", "x"]);
    assert_eq!(s(a.read_reply()), "$1\r\nx\r\n");
    assert_eq!(s(b.read_reply()), "$1\r\nx\r\n");
    assert_eq!(s(c.read_reply()), "*2\r\n$2\r\nk3\r\n$1\r\nx\r\n");
    for k in ["k1", "k2", "k3"] {
        assert_eq!(w.call(&["EXISTS", k]), ":0\r\n");
    }
    assert_eq!(blocked_clients(&mut w), 0);
    // A destination of the wrong type: the waiter gets WRONGTYPE, the element stays.
    w.call(&["SET", "str", "v"]);
    send(&mut a, &["BLMOVE", "k1", "str", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut w, 1);
    w.call(&["RPUSH", "k1", "e"]);
    assert!(s(a.read_reply()).starts_with("-WRONGTYPE"));
    assert_eq!(w.call(&["LRANGE", "k1", "0", "-1"]), "*1\r\n$1\r\ne\r\n");
}

#[test]
fn client_unblock_and_disconnect() {
    let srv = Server::start(&[]);
    let (mut a, mut w) = (srv.raw(), srv.raw());
    let id = a.call(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim().to_string();
    send(&mut a, &["BLPOP", "k", "0"]);
    wait_blocked(&mut w, 1);
    // INFO and CLIENT LIST show the blocked client.
    let list = w.call(&["CLIENT", "LIST"]);
    let line = list.lines().find(|l| l.contains(&format!("id={id} "))).expect("client listed").to_string();
    assert!(line.contains(" flags=b "), "{line}");
    assert!(line.contains("cmd=blpop"), "{line}");
    assert_eq!(w.call(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), ":1\r\n");
    assert_eq!(s(a.read_reply()), "*-1\r\n");
    assert_eq!(w.call(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    send(&mut a, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut w, 1);
    assert_eq!(w.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(s(a.read_reply()), "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    assert_eq!(a.call(&["PING"]), "+PONG\r\n");
    // A blocked client that disconnects is never served: the element stays.
    let mut gone = srv.raw();
    send(&mut gone, &["BLPOP", "k", "0"]);
    wait_blocked(&mut w, 1);
    drop(gone);
    wait_blocked(&mut w, 0);
    w.call(&["RPUSH", "k", "kept"]);
    assert_eq!(w.call(&["LRANGE", "k", "0", "-1"]), "*1\r\n$4\r\nkept\r\n");
}

#[test]
fn write_order_push_then_pop() {
    let srv = Server::start(&[]);
    let (mut a, mut w, mut mon) = (srv.raw(), srv.raw(), srv.raw());
    send(&mut a, &["BLPOP", "k", "0"]);
    wait_blocked(&mut w, 1);
    assert_eq!(mon.call(&["MONITOR"]), "+OK\r\n");
    w.call(&["RPUSH", "k", "v"]);
    assert_eq!(s(a.read_reply()), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    w.call(&["PING"]);
    // MONITOR shows the push, then the next command: as in Redis, the served BLPOP is
    // not shown again (it was shown when it was called, before MONITOR started here).
    let mut lines = vec![];
    while !lines.last().is_some_and(|l: &String| l.contains("\"PING\"")) {
        lines.push(s(mon.read_reply()));
    }
    assert!(lines.iter().any(|l| l.contains("\"RPUSH\"")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("\"BLPOP\"")), "{lines:?}");
    // The write stream advanced for both writes (push and the propagated LPOP).
    let info = w.call(&["INFO", "replication"]);
    let off: i64 = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("offset");
    assert!(off > 0, "{info}");
}
