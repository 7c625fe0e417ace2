//! Keyspace notifications (`notify-keyspace-events`): channel names, event names, class
//! filtering, and a differential run of many commands against redis-server 7.0.
//!
//! To cover a new command, add a scenario to `SCENARIOS`: it is run against both servers
//! and the events compared; scenarios using a command fluidB does not know yet are skipped.

mod common;

use std::time::Duration;

use common::*;

/// A subscriber to every keyspace/keyevent channel plus a marker channel, and a client
/// that runs commands.
struct Watcher {
    sub: Raw,
    cmd: Raw,
    n: u64,
}

impl Watcher {
    fn new(s: &Server) -> Watcher {
        let mut sub = s.raw();
        sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
        assert!(String::from_utf8(sub.read_reply()).unwrap().contains("psubscribe"));
        sub.cmd(&[b"SUBSCRIBE", b"marker"]);
        assert!(String::from_utf8(sub.read_reply()).unwrap().contains("subscribe"));
        Watcher { sub, cmd: s.raw(), n: 0 }
    }

    /// Runs `cmds` (a `["SLEEP_MS", n]` entry sleeps) and returns the replies and the
    /// events they caused, as "channel payload" strings.
    fn run(&mut self, cmds: &[&[&str]]) -> (Vec<String>, Vec<String>) {
        let mut replies = Vec::new();
        for c in cmds {
            if c[0] == "SLEEP_MS" {
                std::thread::sleep(Duration::from_millis(c[1].parse().unwrap()));
                continue;
            }
            replies.push(self.cmd.call(c));
        }
        self.n += 1;
        let mark = self.n.to_string();
        assert_eq!(self.cmd.call(&["PUBLISH", "marker", &mark]), ":1\r\n");
        let mut events = Vec::new();
        loop {
            let m = parse_push(&self.sub.read_reply());
            if m[0] == "message" && m[1] == "marker" {
                assert_eq!(m[2], mark);
                break;
            }
            assert_eq!(m[0], "pmessage", "{m:?}");
            events.push(format!("{} {}", m[2], m[3]));
        }
        (replies, events)
    }

    /// Events caused by `cmds`.
    fn events(&mut self, cmds: &[&[&str]]) -> Vec<String> {
        self.run(cmds).1
    }
}

/// Splits a RESP2 array of bulk strings.
fn parse_push(raw: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(raw);
    let mut lines = s.split("\r\n");
    let n: usize = lines.next().unwrap()[1..].parse().unwrap();
    (0..n)
        .map(|_| {
            lines.next().unwrap();
            lines.next().unwrap().to_string()
        })
        .collect()
}

fn ev(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn string_and_generic_events() {
    let s = Server::start(&["--notify-keyspace-events", "KEA"]);
    let mut w = Watcher::new(&s);
    assert_eq!(w.events(&[&["SET", "k", "v"]]), ev(&["__keyspace@0__:k set", "__keyevent@0__:set k"]));
    assert_eq!(
        w.events(&[&["SET", "k", "v", "EX", "100"]]),
        ev(&["__keyspace@0__:k set", "__keyevent@0__:set k", "__keyspace@0__:k expire", "__keyevent@0__:expire k"])
    );
    assert_eq!(w.events(&[&["INCR", "n"]]), ev(&["__keyspace@0__:n incrby", "__keyevent@0__:incrby n"]));
    assert_eq!(
        w.events(&[&["MSET", "a", "1", "b", "2"]]),
        ev(&["__keyspace@0__:a set", "__keyevent@0__:set a", "__keyspace@0__:b set", "__keyevent@0__:set b"])
    );
    assert_eq!(
        w.events(&[&["DEL", "a", "nokey", "b"]]),
        ev(&["__keyspace@0__:a del", "__keyevent@0__:del a", "__keyspace@0__:b del", "__keyevent@0__:del b"])
    );
    // Failed or no-op commands emit nothing.
    assert_eq!(w.events(&[&["DEL", "nokey"], &["INCR", "k"], &["SET", "k", "v", "NX"], &["GET", "k"]]), ev(&[]));
    // Other databases are in the channel name; binary keys are kept as they are.
    assert_eq!(
        w.events(&[&["SELECT", "3"], &["SET", "a b:\u{e9}", "1"], &["SELECT", "0"]]),
        ev(&["__keyspace@3__:a b:\u{e9} set", "__keyevent@3__:set a b:\u{e9}"])
    );
    // Inside a transaction, in command order.
    assert_eq!(
        w.events(&[&["MULTI"], &["SET", "t", "1"], &["DEL", "t"], &["EXEC"]]),
        ev(&["__keyspace@0__:t set", "__keyevent@0__:set t", "__keyspace@0__:t del", "__keyevent@0__:del t"])
    );
}

#[test]
fn expired_events_lazy_and_active() {
    let s = Server::start(&["--notify-keyspace-events", "KEA"]);
    let mut w = Watcher::new(&s);
    // Lazy: found expired by a lookup.
    let evs = w.events(&[&["SET", "k", "v", "PX", "1"], &["SLEEP_MS", "5"], &["GET", "k"]]);
    assert_eq!(&evs[4..], ev(&["__keyspace@0__:k expired", "__keyevent@0__:expired k"]));
    // Active: the cron finds it without any command.
    w.events(&[&["SET", "a", "v", "PX", "30"]]);
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = parse_push(&w.sub.read_reply());
        got.push(format!("{} {}", m[2], m[3]));
    }
    assert_eq!(got, ev(&["__keyspace@0__:a expired", "__keyevent@0__:expired a"]));
}

#[test]
fn event_classes_filter() {
    // Only keyspace channels, only string events.
    let s = Server::start(&["--notify-keyspace-events", "K$"]);
    let mut w = Watcher::new(&s);
    assert_eq!(
        w.events(&[&["SET", "k", "v"], &["DEL", "k"], &["INCR", "n"]]),
        ev(&["__keyspace@0__:k set", "__keyspace@0__:n incrby"])
    );
    // Only keyevent channels, only generic events.
    let s = Server::start(&["--notify-keyspace-events", "Eg"]);
    let mut w = Watcher::new(&s);
    assert_eq!(
        w.events(&[&["SET", "k", "v", "EX", "5"], &["DEL", "k"]]),
        ev(&["__keyevent@0__:expire k", "__keyevent@0__:del k"])
    );
    // Expired only.
    let s = Server::start(&["--notify-keyspace-events", "Ex"]);
    let mut w = Watcher::new(&s);
    let evs = w.events(&[&["SET", "k", "v", "PX", "1"], &["DEL", "x"], &["SLEEP_MS", "5"], &["GET", "k"]]);
    assert_eq!(evs, ev(&["__keyevent@0__:expired k"]));
    // Key misses ('m' is not part of 'A').
    let s = Server::start(&["--notify-keyspace-events", "KEA"]);
    let mut w = Watcher::new(&s);
    assert_eq!(w.events(&[&["GET", "nokey"]]), ev(&[]));
    let s = Server::start(&["--notify-keyspace-events", "Em"]);
    let mut w = Watcher::new(&s);
    assert_eq!(
        w.events(&[&["GET", "nokey"], &["SET", "k", "v"], &["GET", "k"]]),
        ev(&["__keyevent@0__:keymiss nokey"])
    );
    // New keys ('n' is not part of 'A' either).
    let s = Server::start(&["--notify-keyspace-events", "KEn"]);
    let mut w = Watcher::new(&s);
    assert_eq!(
        w.events(&[&["SET", "k", "v"], &["SET", "k", "w"], &["INCR", "n"], &["MSET", "k", "1", "m", "2"]]),
        ev(&[
            "__keyspace@0__:k new",
            "__keyevent@0__:new k",
            "__keyspace@0__:n new",
            "__keyevent@0__:new n",
            "__keyspace@0__:m new",
            "__keyevent@0__:new m"
        ])
    );
    // Classes without K or E publish nothing; neither does K or E without a class.
    for flags in ["A", "KE", ""] {
        let s = Server::start(&["--notify-keyspace-events", flags]);
        let mut w = Watcher::new(&s);
        assert_eq!(w.events(&[&["SET", "k", "v"], &["DEL", "k"], &["GET", "k"]]), ev(&[]), "flags {flags:?}");
    }
}

#[test]
fn subscriber_in_another_context_gets_events_as_messages() {
    let s = Server::start(&["--notify-keyspace-events", "KEA"]);
    let mut sub = s.raw();
    let mut c = s.raw();
    assert_eq!(
        sub.call(&["SUBSCRIBE", "__keyevent@0__:del"]),
        "*3\r\n$9\r\nsubscribe\r\n$18\r\n__keyevent@0__:del\r\n:1\r\n"
    );
    c.call(&["SET", "k", "v"]);
    c.call(&["DEL", "k"]);
    assert_eq!(sub.read_reply(), b"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:del\r\n$1\r\nk\r\n".to_vec());
}

/// Commands whose events are compared with redis-server 7.0. Extend freely.
const SCENARIOS: &[&[&[&str]]] = &[
    &[&["SET", "k", "v"], &["SET", "k", "w", "KEEPTTL"], &["SET", "k", "x", "PX", "100000", "GET"]],
    &[&["SET", "k", "v", "NX"], &["SET", "k", "v", "XX", "EXAT", "9999999999"], &["DEL", "k", "k"]],
    &[&["INCR", "i"], &["INCRBY", "i", "5"], &["DECR", "i"], &["DECRBY", "i", "2"], &["INCRBYFLOAT", "i", "1.5"]],
    &[
        &["MSET", "a", "1", "b", "2"],
        &["MSETNX", "c", "1", "d", "2"],
        &["APPEND", "a", "x"],
        &["SETRANGE", "b", "3", "y"],
    ],
    &[&["SETEX", "e", "100", "v"], &["PSETEX", "e", "100000", "v"], &["GETEX", "e", "PERSIST"], &["GETDEL", "e"]],
    &[
        &["SET", "k", "v"],
        &["EXPIRE", "k", "100"],
        &["PEXPIRE", "k", "100000"],
        &["PERSIST", "k"],
        &["EXPIRE", "k", "-1"],
    ],
    &[&["SET", "k", "v"], &["RENAME", "k", "k2"], &["RENAMENX", "k2", "k3"], &["UNLINK", "k3"]],
    &[&["SET", "k", "v"], &["COPY", "k", "k2"], &["MOVE", "k2", "1"], &["SETBIT", "bits", "7", "1"]],
    &[
        &["LPUSH", "l", "a", "b"],
        &["RPUSH", "l", "c"],
        &["LPOP", "l"],
        &["RPOP", "l"],
        &["LSET", "l", "0", "z"],
        &["LTRIM", "l", "1", "0"],
    ],
    &[&["SADD", "s", "a", "b"], &["SREM", "s", "a"], &["SPOP", "s"], &["SADD", "s", "x"], &["SMOVE", "s", "s2", "x"]],
    &[&["HSET", "h", "f", "v"], &["HINCRBY", "h", "n", "1"], &["HDEL", "h", "f", "n"]],
    &[&["ZADD", "z", "1", "a", "2", "b"], &["ZINCRBY", "z", "1", "a"], &["ZREM", "z", "a"], &["ZPOPMIN", "z"]],
    &[&["XADD", "x", "1-1", "f", "v"], &["XTRIM", "x", "MAXLEN", "0"], &["DEL", "x"]],
    &[&["SET", "p", "1", "PX", "1"], &["SLEEP_MS", "5"], &["GET", "p"], &["GET", "nokey"]],
    // TODO(keys): EXISTS on a missing key emits "keymiss" in Redis 7.0 (and counts a
    // keyspace miss); fluidB's EXISTS uses the silent `Store::exists`. Add
    // `&[&["EXISTS", "nokey"]]` here once EXISTS uses a notifying lookup.
    &[&["PFADD", "hll", "a"], &["PFMERGE", "hll2", "hll"]],
];

fn have_redis() -> bool {
    std::process::Command::new("redis-server").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

#[test]
fn events_match_redis_7_0() {
    if !have_redis() {
        eprintln!("redis-server not installed: differential notification test skipped");
        return;
    }
    let flags = ["--notify-keyspace-events", "KEAnm"];
    let redis = Server::start_redis(&flags);
    let fluid = Server::start(&flags);
    let (mut wr, mut wf) = (Watcher::new(&redis), Watcher::new(&fluid));
    let mut compared = 0;
    for sc in SCENARIOS {
        wr.cmd.call(&["FLUSHALL"]);
        wf.cmd.call(&["FLUSHALL"]);
        wr.events(&[]);
        wf.events(&[]);
        let (fr, fe) = wf.run(sc);
        if fr.iter().any(|r| r.starts_with("-ERR unknown command")) {
            eprintln!("skipped (not implemented yet): {sc:?}");
            wr.events(&[]);
            continue;
        }
        let (rr, re) = wr.run(sc);
        assert_eq!(fr, rr, "replies of {sc:?}");
        assert_eq!(fe, re, "events of {sc:?}");
        compared += 1;
    }
    assert!(compared >= 3, "at least the string scenarios ran");
}
