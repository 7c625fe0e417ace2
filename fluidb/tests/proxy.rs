//! The fault-injecting proxy of `common/proxy.rs`, tested with real `fluidb-server` processes:
//! a replica follows its master through the proxy, and each fault must do to the replication
//! link what it says (a cut takes the link down until healed, a pause stalls it until resumed
//! or until `repl-timeout` notices, a one-way hold stops the acknowledgements only, ...).
//! Later tests of active replication rely on these faults being exact.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::proxy::{Direction, Fault, Flow, Proxy, Schedule};
use common::*;

/// Deadline for a sync or a reconnection (a replica retries its master once a second).
const SYNC: Duration = Duration::from_secs(15);

/// A fast cron, no delay before a diskless transfer.
const FAST: &[&str] = &["--hz", "100", "--repl-diskless-sync-delay", "0"];

fn node(extra: &[&str]) -> Server {
    let args: Vec<&str> = FAST.iter().chain(extra).copied().collect();
    Server::start(&args)
}

fn info(r: &mut Raw, field: &str) -> String {
    let all = r.call(&["INFO", "replication"]);
    all.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|v| v.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in {all}"))
        .to_string()
}

/// The offset the master last heard acknowledged by its first replica (`slave0:...,offset=N`).
fn acked_offset(master: &mut Raw) -> i64 {
    let s = info(master, "slave0");
    s.split(',')
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no offset in slave0:{s}"))
}

fn link_up(r: &mut Raw) -> bool {
    info(r, "master_link_status") == "up"
}

fn get(r: &mut Raw, key: &str) -> String {
    r.call(&["GET", key])
}

/// Asserts that `cond` stays true for `period`: the only way to check that something does not
/// happen (e.g. no byte crosses a paused link) is to watch for a while.
fn holds_for(what: &str, period: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + period;
    while Instant::now() < end {
        assert!(cond(), "{what} stopped holding");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A master and a replica that follows it through a proxy, with the link up.
fn linked(master_args: &[&str], replica_args: &[&str]) -> (Server, Server, Proxy) {
    let master = node(master_args);
    let replica = node(replica_args);
    let proxy = Proxy::start(master.port);
    let mut r = replica.raw();
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &proxy.port().to_string()]);
    wait_for("the link through the proxy to come up", SYNC, || link_up(&mut r));
    (master, replica, proxy)
}

#[test]
fn forwards_a_client_and_counts_bytes() {
    let s = node(&[]);
    let p = Proxy::start(s.port);
    let mut c = Raw::connect(p.port());
    ok(&mut c, &["SET", "k", "v"]);
    assert_eq!(c.call(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(p.connections(), 1);
    assert_eq!(p.live(), 1);
    // SET k v and GET k as multibulks up; +OK and $1 v down.
    assert_eq!(p.bytes_up(), (encode(&[b"SET", b"k", b"v"]).len() + encode(&[b"GET", b"k"]).len()) as u64);
    assert_eq!(p.bytes_down(), ("+OK\r\n".len() + "$1\r\nv\r\n".len()) as u64);
    // The redis crate works through it too.
    let mut rc = redis::Client::open(format!("redis://127.0.0.1:{}/", p.port()))
        .expect("client")
        .get_connection()
        .expect("connect through the proxy");
    let v: String = redis::cmd("GET").arg("k").query(&mut rc).expect("GET through the proxy");
    assert_eq!(v, "v");
    assert_eq!(p.connections(), 2);
}

#[test]
fn capture_records_both_directions_in_order() {
    let s = node(&[]);
    let p = Proxy::start(s.port);
    p.capture(true);
    let mut c = Raw::connect(p.port());
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    assert_eq!(c.call(&["ECHO", "hi"]), "$2\r\nhi\r\n");
    let t = p.transcript();
    let dirs: Vec<Direction> = t.iter().map(|c| c.dir).collect();
    assert_eq!(dirs, [Direction::Up, Direction::Down, Direction::Up, Direction::Down], "{t:?}");
    assert_eq!(p.stream(1, Direction::Down), b"+PONG\r\n$2\r\nhi\r\n");
    assert_eq!(p.stream(1, Direction::Up), [encode(&[b"PING"]), encode(&[b"ECHO", b"hi"])].concat());
}

#[test]
fn replica_syncs_and_streams_through_the_proxy() {
    let (master, replica, p) = linked(&[], &[]);
    let (mut m, mut r) = (master.raw(), replica.raw());
    assert_eq!(p.connections(), 1);
    let down0 = p.bytes_down();
    assert!(down0 > 0 && p.bytes_up() > 0, "the handshake and snapshot crossed the proxy");
    ok(&mut m, &["SET", "k", "through"]);
    wait_for("the write to reach the replica", SYNC, || get(&mut r, "k") == "$7\r\nthrough\r\n");
    assert!(p.bytes_down() > down0, "the write stream crossed the proxy");
    assert_eq!(info(&mut r, "master_port"), p.port().to_string());
}

#[test]
fn cut_takes_the_link_down_and_heal_brings_it_back() {
    let (master, replica, p) = linked(&[], &[]);
    let (mut m, mut r) = (master.raw(), replica.raw());
    p.cut();
    assert_eq!(p.live(), 0);
    wait_for("master_link_status:down after the cut", SYNC, || !link_up(&mut r));
    // The replica retries (once a second) and each attempt is refused.
    wait_for("a refused reconnection", SYNC, || p.refused() > 0);
    assert_eq!(p.connections(), 1, "no connection is forwarded while cut");
    ok(&mut m, &["SET", "during", "cut"]);
    assert_eq!(get(&mut r, "during"), "$-1\r\n");
    p.heal();
    wait_for("the link to come back after heal", SYNC, || link_up(&mut r));
    wait_for("the write made during the cut", SYNC, || get(&mut r, "during") == "$3\r\ncut\r\n");
    assert!(p.connections() >= 2);
}

#[test]
fn pause_stalls_the_link_and_resume_releases_it() {
    let (master, replica, p) = linked(&[], &[]);
    let (mut m, mut r) = (master.raw(), replica.raw());
    p.pause();
    let (up, down) = (p.bytes_up(), p.bytes_down());
    ok(&mut m, &["SET", "held", "1"]);
    holds_for("a paused link forwards nothing", Duration::from_millis(500), || {
        p.bytes_up() == up && p.bytes_down() == down && get(&mut r, "held") == "$-1\r\n"
    });
    // The connection is still there: a stall is not a cut.
    assert_eq!(p.live(), 1);
    assert!(link_up(&mut r), "the replica cannot tell a short stall from silence");
    p.resume();
    wait_for("the held write to arrive", SYNC, || get(&mut r, "held") == "$1\r\n1\r\n");
    assert_eq!(p.connections(), 1, "the same connection carried on");
}

#[test]
fn a_long_pause_is_caught_by_repl_timeout() {
    // The master pings every second; the replica gives up on a master silent for 2 s.
    let (master, replica, p) =
        linked(&["--repl-ping-replica-period", "1"], &["--repl-timeout", "2", "--repl-ping-replica-period", "1"]);
    let (mut m, mut r) = (master.raw(), replica.raw());
    p.pause();
    wait_for("the replica to time the stalled link out", SYNC, || !link_up(&mut r));
    ok(&mut m, &["SET", "after", "timeout"]);
    p.resume();
    wait_for("the link to come back", SYNC, || link_up(&mut r));
    wait_for("the write made while stalled", SYNC, || get(&mut r, "after") == "$7\r\ntimeout\r\n");
    assert!(p.connections() >= 2, "the replica reconnected");
}

#[test]
fn one_way_hold_stops_the_acks_but_not_the_stream() {
    let (master, replica, p) = linked(&[], &[]);
    let (mut m, mut r) = (master.raw(), replica.raw());
    ok(&mut m, &["SET", "a", "1"]);
    wait_for("the replica to acknowledge the first write", SYNC, || {
        let off = info(&mut m, "master_repl_offset").parse::<i64>().expect("offset");
        acked_offset(&mut m) == off
    });
    p.one_way(Direction::Up, Flow::Hold);
    let up = p.bytes_up();
    let acked = acked_offset(&mut m);
    ok(&mut m, &["SET", "b", "2"]);
    wait_for("the write to flow down", SYNC, || get(&mut r, "b") == "$1\r\n2\r\n");
    // The replica acknowledges every second; none of its ACKs get through.
    holds_for("no acknowledgement crosses an Up hold", Duration::from_millis(1500), || {
        p.bytes_up() == up && acked_offset(&mut m) == acked
    });
    p.one_way(Direction::Up, Flow::Forward);
    wait_for("the acknowledgements to resume", SYNC, || acked_offset(&mut m) > acked);
}

#[test]
fn one_way_drop_loses_bytes() {
    let s = node(&[]);
    let p = Proxy::start(s.port);
    let mut c = Raw::connect(p.port());
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    p.one_way(Direction::Down, Flow::Drop);
    c.cmd(&[b"SET", b"k", b"v"]);
    wait_for("the reply to be dropped", SYNC, || p.dropped(Direction::Down) == 5);
    p.one_way(Direction::Down, Flow::Forward);
    // The command went through, only its reply was lost.
    assert_eq!(c.call(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(p.dropped(Direction::Up), 0);
}

#[test]
fn delay_adds_latency_both_ways() {
    let s = node(&[]);
    let p = Proxy::start(s.port);
    let mut c = Raw::connect(p.port());
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    p.delay(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    assert!(t.elapsed() >= Duration::from_millis(300), "round trip {:?} under a 150 ms delay", t.elapsed());
    p.delay(Duration::ZERO);
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn dropping_the_proxy_closes_everything() {
    let s = node(&[]);
    let p = Proxy::start(s.port);
    let port = p.port();
    let mut c = Raw::connect(port);
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    drop(p);
    assert!(c.is_closed(), "an open connection is closed");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "the listener is closed");
}

#[test]
fn refused_connections_are_closed_at_once() {
    let s = node(&[]);
    let p = Proxy::start(s.port);
    p.cut();
    let mut c = TcpStream::connect(("127.0.0.1", p.port())).expect("the listener accepts while cut");
    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let _ = c.write_all(b"PING\r\n");
    let mut b = [0u8; 16];
    assert!(matches!(c.read(&mut b), Ok(0) | Err(_)), "a connection made while cut is closed");
    wait_for("the refusal to be counted", SYNC, || p.refused() == 1);
    p.heal();
    assert_eq!(Raw::connect(p.port()).call(&["PING"]), "+PONG\r\n");
}

#[test]
fn schedule_is_reproducible() {
    let steps = |seed| {
        let mut s = Schedule::new(seed);
        (0..50).map(|_| s.next_step()).collect::<Vec<_>>()
    };
    assert_eq!(steps(7), steps(7));
    assert_ne!(steps(7), steps(8));
    let all = steps(1);
    assert!(all.iter().any(|(_, f)| *f == Fault::Cut) && all.iter().any(|(_, f)| *f == Fault::Heal));
    assert!(all.iter().all(|(_, f)| !matches!(f, Fault::OneWay(_, Flow::Drop))));
}

#[test]
fn replica_converges_after_a_chaos_schedule() {
    let seed = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let (master, replica, p) = linked(&["--repl-ping-replica-period", "1"], &["--repl-timeout", "2"]);
    let mut r = replica.raw();
    let port = master.port;
    let writer = std::thread::spawn(move || {
        let mut m = Raw::connect(port);
        for i in 0..3000 {
            int(&mut m, &["INCR", &format!("n{}", i % 50)]);
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let log = Schedule::new(seed).run(&[&p], Duration::from_secs(3));
    writer.join().expect("writer");
    let mut m = master.raw();
    let want = m.call(&["DEBUG", "DIGEST"]);
    let converged = || {
        let mut r2 = replica.raw();
        link_up(&mut r2) && r2.call(&["DEBUG", "DIGEST"]) == want
    };
    let deadline = Instant::now() + SYNC;
    while !converged() {
        assert!(Instant::now() < deadline, "seed {seed}: the replica did not converge; faults applied: {log:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(int(&mut r, &["DBSIZE"]), 50);
}
