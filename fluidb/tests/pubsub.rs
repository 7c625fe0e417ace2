//! Pub/Sub: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB, RESP2 and RESP3 forms,
//! and slow subscribers.

mod common;
mod inproc;

use std::time::{Duration, Instant};

use common::*;
use inproc::Local;

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

/// A `[kind, name, count]` confirmation; `name` None is a null. `p` is '*' or '>'.
fn conf(p: char, kind: &str, name: Option<&str>, count: i64) -> String {
    let n = match name {
        Some(n) => bulk(n),
        None if p == '>' => "_\r\n".to_string(),
        None => "$-1\r\n".to_string(),
    };
    format!("{p}3\r\n{}{}:{count}\r\n", bulk(kind), n)
}

fn message(p: char, ch: &str, msg: &str) -> String {
    format!("{p}3\r\n{}{}{}", bulk("message"), bulk(ch), bulk(msg))
}

fn pmessage(p: char, pat: &str, ch: &str, msg: &str) -> String {
    format!("{p}4\r\n{}{}{}{}", bulk("pmessage"), bulk(pat), bulk(ch), bulk(msg))
}

fn read(r: &mut Raw) -> String {
    String::from_utf8(r.read_reply()).unwrap()
}

#[test]
fn subscribe_publish_unsubscribe() {
    let s = Server::start(&[]);
    let mut sub = s.raw();
    let mut p = s.raw();
    // Each channel is confirmed with the running count; repeats count once.
    sub.cmd(&[b"SUBSCRIBE", b"c1", b"c2", b"c1"]);
    assert_eq!(read(&mut sub), conf('*', "subscribe", Some("c1"), 1));
    assert_eq!(read(&mut sub), conf('*', "subscribe", Some("c2"), 2));
    assert_eq!(read(&mut sub), conf('*', "subscribe", Some("c1"), 2));
    assert_eq!(p.call(&["PUBLISH", "c1", "hello"]), ":1\r\n");
    assert_eq!(read(&mut sub), message('*', "c1", "hello"));
    assert_eq!(p.call(&["PUBLISH", "nobody", "x"]), ":0\r\n");
    // Binary-safe.
    p.cmd(&[b"PUBLISH", b"c2", b"a\r\n\x00b"]);
    assert_eq!(read(&mut p), ":1\r\n");
    assert_eq!(sub.read_reply(), b"*3\r\n$7\r\nmessage\r\n$2\r\nc2\r\n$5\r\na\r\n\x00b\r\n".to_vec());
    // Unsubscribing from a channel not subscribed still answers.
    assert_eq!(sub.call(&["UNSUBSCRIBE", "zz"]), conf('*', "unsubscribe", Some("zz"), 2));
    assert_eq!(sub.call(&["UNSUBSCRIBE", "c1"]), conf('*', "unsubscribe", Some("c1"), 1));
    assert_eq!(p.call(&["PUBLISH", "c1", "gone"]), ":0\r\n");
    // Without arguments: every channel left, one reply each.
    sub.cmd(&[b"SUBSCRIBE", b"c3"]);
    assert_eq!(read(&mut sub), conf('*', "subscribe", Some("c3"), 2));
    sub.cmd(&[b"UNSUBSCRIBE"]);
    let (first, second) = (read(&mut sub), read(&mut sub));
    // Whichever order the channels come in, the count goes 1 then 0.
    let ok = |x: &str, y: &str| {
        first == conf('*', "unsubscribe", Some(x), 1) && second == conf('*', "unsubscribe", Some(y), 0)
    };
    assert!(ok("c2", "c3") || ok("c3", "c2"), "{first:?} {second:?}");
    // With nothing subscribed: a null channel and a zero count.
    assert_eq!(sub.call(&["UNSUBSCRIBE"]), conf('*', "unsubscribe", None, 0));
    assert_eq!(sub.call(&["PUNSUBSCRIBE"]), conf('*', "punsubscribe", None, 0));
    // Back to normal: any command.
    assert_eq!(sub.call(&["SET", "k", "v"]), "+OK\r\n");
}

#[test]
fn pattern_subscriptions() {
    let s = Server::start(&[]);
    let mut sub = s.raw();
    let mut p = s.raw();
    sub.cmd(&[b"PSUBSCRIBE", b"news.*", b"h?llo", b"news.*"]);
    assert_eq!(read(&mut sub), conf('*', "psubscribe", Some("news.*"), 1));
    assert_eq!(read(&mut sub), conf('*', "psubscribe", Some("h?llo"), 2));
    assert_eq!(read(&mut sub), conf('*', "psubscribe", Some("news.*"), 2));
    // Channel and pattern subscriptions share the count.
    assert_eq!(sub.call(&["SUBSCRIBE", "news.art"]), conf('*', "subscribe", Some("news.art"), 3));
    // A message matching both is delivered twice; PUBLISH counts both.
    assert_eq!(p.call(&["PUBLISH", "news.art", "m1"]), ":2\r\n");
    assert_eq!(read(&mut sub), message('*', "news.art", "m1"));
    assert_eq!(read(&mut sub), pmessage('*', "news.*", "news.art", "m1"));
    assert_eq!(p.call(&["PUBLISH", "hello", "m2"]), ":1\r\n");
    assert_eq!(read(&mut sub), pmessage('*', "h?llo", "hello", "m2"));
    assert_eq!(p.call(&["PUBLISH", "hallo.x", "m3"]), ":0\r\n");
    assert_eq!(sub.call(&["PUNSUBSCRIBE", "h?llo"]), conf('*', "punsubscribe", Some("h?llo"), 2));
    assert_eq!(sub.call(&["PUNSUBSCRIBE", "nope"]), conf('*', "punsubscribe", Some("nope"), 2));
    assert_eq!(p.call(&["PUBLISH", "hello", "m4"]), ":0\r\n");
    assert_eq!(sub.call(&["PUNSUBSCRIBE"]), conf('*', "punsubscribe", Some("news.*"), 1));
    assert_eq!(sub.call(&["UNSUBSCRIBE"]), conf('*', "unsubscribe", Some("news.art"), 0));
}

#[test]
fn resp2_subscriber_context() {
    let s = Server::start(&[]);
    let mut sub = s.raw();
    assert_eq!(sub.call(&["SUBSCRIBE", "c"]), conf('*', "subscribe", Some("c"), 1));
    for cmd in [&["GET", "k"][..], &["SET", "k", "v"], &["PUBLISH", "c", "m"], &["MULTI"], &["PUBSUB", "NUMPAT"]] {
        let name = if cmd[0] == "PUBSUB" { "pubsub|numpat".to_string() } else { cmd[0].to_lowercase() };
        assert_eq!(
            sub.call(cmd),
            format!("-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
        );
    }
    // PING answers as a message-shaped array.
    assert_eq!(sub.call(&["PING"]), format!("*2\r\n{}{}", bulk("pong"), bulk("")));
    assert_eq!(sub.call(&["PING", "hi"]), format!("*2\r\n{}{}", bulk("pong"), bulk("hi")));
    assert_eq!(sub.call(&["PING", "a", "b"]), "-ERR wrong number of arguments for 'ping' command\r\n");
    assert_eq!(sub.call(&["PSUBSCRIBE", "p"]), conf('*', "psubscribe", Some("p"), 2));
    assert_eq!(sub.call(&["SSUBSCRIBE", "s"]), conf('*', "ssubscribe", Some("s"), 1));
    assert_eq!(sub.call(&["UNSUBSCRIBE", "c"]), conf('*', "unsubscribe", Some("c"), 1));
    assert_eq!(sub.call(&["PUNSUBSCRIBE", "p"]), conf('*', "punsubscribe", Some("p"), 0));
    // Still subscribed to a shard channel: still in the context.
    assert!(sub.call(&["GET", "k"]).starts_with("-ERR Can't execute 'get'"));
    assert_eq!(sub.call(&["SUNSUBSCRIBE"]), conf('*', "sunsubscribe", Some("s"), 0));
    assert_eq!(sub.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(sub.call(&["PING"]), "+PONG\r\n");
    // QUIT is allowed.
    assert_eq!(sub.call(&["SUBSCRIBE", "c"]), conf('*', "subscribe", Some("c"), 1));
    assert_eq!(sub.call(&["QUIT"]), "+OK\r\n");
    assert!(sub.is_closed());
    let mut p = s.raw();
    assert_eq!(p.call(&["PUBSUB", "NUMSUB", "c"]), format!("*2\r\n{}:0\r\n", bulk("c")));
}

#[test]
fn messages_and_replies_keep_their_order() {
    let s = Server::start(&[]);
    let mut sub = s.raw();
    let mut p = s.raw();
    assert_eq!(sub.call(&["SUBSCRIBE", "c"]), conf('*', "subscribe", Some("c"), 1));
    for i in 0..50 {
        assert_eq!(p.call(&["PUBLISH", "c", &i.to_string()]), ":1\r\n");
    }
    // Published before the PING: all arrive before the PONG.
    sub.cmd(&[b"PING"]);
    for i in 0..50 {
        assert_eq!(read(&mut sub), message('*', "c", &i.to_string()));
    }
    assert_eq!(read(&mut sub), format!("*2\r\n{}{}", bulk("pong"), bulk("")));
}

#[test]
fn subscribe_inside_multi() {
    let s = Server::start(&[]);
    let mut c = s.raw();
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["SUBSCRIBE", "q"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["SSUBSCRIBE", "q"]), "+QUEUED\r\n");
    assert_eq!(
        c.call(&["EXEC"]),
        format!(
            "*2\r\n{}-ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client\r\n",
            conf('*', "subscribe", Some("q"), 1)
        )
    );
    assert_eq!(c.call(&["PING"]), format!("*2\r\n{}{}", bulk("pong"), bulk("")));
    assert_eq!(c.call(&["UNSUBSCRIBE"]), conf('*', "unsubscribe", Some("q"), 0));
}

#[test]
fn pubsub_introspection() {
    let s = Server::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let mut q = s.raw();
    assert_eq!(q.call(&["PUBSUB", "CHANNELS"]), "*0\r\n");
    assert_eq!(q.call(&["PUBSUB", "NUMPAT"]), ":0\r\n");
    assert_eq!(q.call(&["PUBSUB", "NUMSUB"]), "*0\r\n");
    a.call(&["SUBSCRIBE", "news"]);
    b.call(&["SUBSCRIBE", "news"]);
    b.call(&["SUBSCRIBE", "sport"]);
    a.call(&["PSUBSCRIBE", "n*"]);
    b.call(&["PSUBSCRIBE", "n*"]);
    b.call(&["PSUBSCRIBE", "s*"]);
    // NUMPAT counts distinct patterns (Redis 7.0).
    assert_eq!(q.call(&["PUBSUB", "NUMPAT"]), ":2\r\n");
    assert_eq!(
        q.call(&["PUBSUB", "NUMSUB", "news", "sport", "none", "n*"]),
        format!("*8\r\n{}:2\r\n{}:1\r\n{}:0\r\n{}:0\r\n", bulk("news"), bulk("sport"), bulk("none"), bulk("n*"))
    );
    let all = q.call(&["PUBSUB", "CHANNELS"]);
    assert!(
        all == format!("*2\r\n{}{}", bulk("news"), bulk("sport"))
            || all == format!("*2\r\n{}{}", bulk("sport"), bulk("news"))
    );
    assert_eq!(q.call(&["pubsub", "channels", "n*"]), format!("*1\r\n{}", bulk("news")));
    assert_eq!(q.call(&["PUBSUB", "CHANNELS", "x*"]), "*0\r\n");
    // PUBLISH counts every receiving subscription.
    assert_eq!(q.call(&["PUBLISH", "news", "m"]), ":4\r\n");
    // Errors.
    assert_eq!(q.call(&["PUBSUB"]), "-ERR wrong number of arguments for 'pubsub' command\r\n");
    assert_eq!(q.call(&["PUBSUB", "FOO"]), "-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n");
    assert_eq!(q.call(&["PUBSUB", "NUMPAT", "x"]), "-ERR wrong number of arguments for 'pubsub|numpat' command\r\n");
    assert_eq!(q.call(&["PUBSUB", "HELP", "x"]), "-ERR wrong number of arguments for 'pubsub|help' command\r\n");
    assert_eq!(
        q.call(&["PUBSUB", "channels", "a", "b"]),
        "-ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB HELP.\r\n"
    );
    assert_eq!(
        q.call(&["pubsub", "SHARDCHANNELS", "a", "b"]),
        "-ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP.\r\n"
    );
    assert_eq!(q.call(&["PUBLISH", "c"]), "-ERR wrong number of arguments for 'publish' command\r\n");
    assert_eq!(q.call(&["SUBSCRIBE"]), "-ERR wrong number of arguments for 'subscribe' command\r\n");
    assert_eq!(q.call(&["PSUBSCRIBE"]), "-ERR wrong number of arguments for 'psubscribe' command\r\n");
    assert_eq!(q.call(&["SSUBSCRIBE"]), "-ERR wrong number of arguments for 'ssubscribe' command\r\n");
    assert_eq!(q.call(&["SPUBLISH", "c"]), "-ERR wrong number of arguments for 'spublish' command\r\n");
    let help = q.call(&["PUBSUB", "HELP"]);
    assert!(help.starts_with(
        "*14\r\n+PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CHANNELS [<pattern>]\r\n"
    ));
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"));
    // Disconnected subscribers are gone from every count.
    drop(a);
    drop(b);
    wait_for("subscribers to be removed", Duration::from_secs(5), || {
        q.call(&["PUBSUB", "NUMPAT"]) == ":0\r\n" && q.call(&["PUBSUB", "CHANNELS"]) == "*0\r\n"
    });
}

#[test]
fn sharded_pubsub() {
    let s = Server::start(&[]);
    let mut sub = s.raw();
    let mut p = s.raw();
    sub.cmd(&[b"SSUBSCRIBE", b"s1", b"s2"]);
    assert_eq!(read(&mut sub), conf('*', "ssubscribe", Some("s1"), 1));
    assert_eq!(read(&mut sub), conf('*', "ssubscribe", Some("s2"), 2));
    // Shard channels are their own namespace and count.
    assert_eq!(p.call(&["PUBLISH", "s1", "x"]), ":0\r\n");
    assert_eq!(sub.call(&["SUBSCRIBE", "c"]), conf('*', "subscribe", Some("c"), 1));
    assert_eq!(p.call(&["SPUBLISH", "s1", "hi"]), ":1\r\n");
    assert_eq!(read(&mut sub), format!("*3\r\n{}{}{}", bulk("smessage"), bulk("s1"), bulk("hi")));
    assert_eq!(p.call(&["PUBSUB", "SHARDNUMSUB", "s1", "c"]), format!("*4\r\n{}:1\r\n{}:0\r\n", bulk("s1"), bulk("c")));
    assert_eq!(p.call(&["PUBSUB", "SHARDCHANNELS", "*1"]), format!("*1\r\n{}", bulk("s1")));
    assert_eq!(p.call(&["PUBSUB", "CHANNELS"]), format!("*1\r\n{}", bulk("c")));
    assert_eq!(sub.call(&["SUNSUBSCRIBE", "s1"]), conf('*', "sunsubscribe", Some("s1"), 1));
    assert_eq!(sub.call(&["SUNSUBSCRIBE"]), conf('*', "sunsubscribe", Some("s2"), 0));
    assert_eq!(sub.call(&["SUNSUBSCRIBE"]), conf('*', "sunsubscribe", None, 0));
    assert_eq!(p.call(&["SPUBLISH", "s1", "x"]), ":0\r\n");
}

#[test]
fn redis_crate_pubsub_client() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut pubc = s.client();
    let mut ps = c.as_pubsub();
    ps.subscribe("chan").unwrap();
    ps.psubscribe("pat.*").unwrap();
    let n: i64 = redis::cmd("PUBLISH").arg("chan").arg("one").query(&mut pubc).unwrap();
    assert_eq!(n, 1);
    let n: i64 = redis::cmd("PUBLISH").arg("pat.x").arg("two").query(&mut pubc).unwrap();
    assert_eq!(n, 1);
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let m = ps.get_message().unwrap();
    assert_eq!((m.get_channel_name(), m.get_payload::<String>().unwrap().as_str()), ("chan", "one"));
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_pattern::<String>().unwrap(), "pat.*");
    assert_eq!((m.get_channel_name(), m.get_payload::<String>().unwrap().as_str()), ("pat.x", "two"));
    ps.unsubscribe("chan").unwrap();
    ps.punsubscribe("pat.*").unwrap();
}

#[test]
fn slow_subscriber_is_disconnected_and_memory_stays_bounded() {
    let s = Server::start(&[]);
    let mut slow = s.raw();
    assert_eq!(slow.call(&["SUBSCRIBE", "firehose"]), conf('*', "subscribe", Some("firehose"), 1));
    let mut fast = s.raw();
    assert_eq!(fast.call(&["SUBSCRIBE", "firehose"]), conf('*', "subscribe", Some("firehose"), 1));
    // A reader that keeps up (the publisher below never gets far ahead of it).
    let payload = vec![b'x'; 1024 * 1024];
    let msg_len = message('*', "firehose", &String::from_utf8(payload.clone()).unwrap()).len();
    let total = 200 * msg_len;
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = progress.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0usize;
        while got < total {
            match std::io::Read::read(&mut fast.r, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            seen.store(got, std::sync::atomic::Ordering::Relaxed);
        }
        got
    });
    let mut p = s.raw();
    let start = Instant::now();
    // 200 MB published; the slow subscriber reads nothing.
    for i in 0..200 {
        while i * msg_len > progress.load(std::sync::atomic::Ordering::Relaxed) + 8 * msg_len {
            std::thread::sleep(Duration::from_millis(1));
        }
        p.cmd(&[b"PUBLISH", b"firehose", &payload]);
        let r = p.read_reply();
        assert!(r == b":2\r\n" || r == b":1\r\n", "publish {i}: {}", String::from_utf8_lossy(&r));
    }
    assert!(start.elapsed() < Duration::from_secs(60));
    // The slow subscriber was dropped; the publisher and the server are fine.
    wait_for("slow subscriber to be disconnected", Duration::from_secs(10), || {
        p.call(&["PUBSUB", "NUMSUB", "firehose"]) == format!("*2\r\n{}:1\r\n", bulk("firehose"))
    });
    assert_eq!(p.call(&["PING"]), "+PONG\r\n");
    let got = reader.join().unwrap();
    assert_eq!(got, total, "the fast subscriber received everything");
    let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", s.child.id()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse::<u64>().unwrap()))
        .unwrap();
    assert!(rss_kb < 160 * 1024, "server RSS {rss_kb} kB after 200 MB to a stalled subscriber");
    // The slow connection is closed: it sees EOF after whatever was sent before the limit.
    slow.w.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut slow.r, &mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("slow subscriber socket not closed: {e}"),
        }
    }
    assert!(total < 100 * 1024 * 1024, "{total} bytes delivered to the slow subscriber");
}

#[test]
fn resp3_pushes_and_free_commands() {
    let mut l = Local::new();
    let a = l.connect();
    let b = l.connect();
    l.resp3(a);
    assert_eq!(l.run(a, &["UNSUBSCRIBE"]), conf('>', "unsubscribe", None, 0));
    assert_eq!(l.run(a, &["PUNSUBSCRIBE"]), conf('>', "punsubscribe", None, 0));
    assert_eq!(l.run(a, &["SUNSUBSCRIBE"]), conf('>', "sunsubscribe", None, 0));
    assert_eq!(
        l.run(a, &["SUBSCRIBE", "c", "d"]),
        conf('>', "subscribe", Some("c"), 1) + &conf('>', "subscribe", Some("d"), 2)
    );
    assert_eq!(l.run(a, &["PSUBSCRIBE", "c*"]), conf('>', "psubscribe", Some("c*"), 3));
    // Any command works for a RESP3 subscriber; PING is a plain PONG.
    assert_eq!(l.run(a, &["GET", "k"]), "_\r\n");
    assert_eq!(l.run(a, &["PING"]), "+PONG\r\n");
    // Messages from others arrive as pushes in the mailbox.
    assert_eq!(l.run(b, &["PUBLISH", "c", "m"]), ":2\r\n");
    assert_eq!(l.mailbox(a), message('>', "c", "m") + &pmessage('>', "c*", "c", "m"));
    // Publishing to itself: the pushes come first, then the reply (Redis writes them into
    // the client's reply buffer during the command).
    assert_eq!(l.run(a, &["PUBLISH", "d", "self"]), message('>', "d", "self") + ":1\r\n");
    assert_eq!(l.mailbox(a), "");
    // A RESP2 subscriber gets arrays for the same message.
    assert_eq!(l.run(b, &["SUBSCRIBE", "d"]), conf('*', "subscribe", Some("d"), 1));
    assert_eq!(l.run(a, &["PUBLISH", "d", "both"]), message('>', "d", "both") + ":2\r\n");
    assert_eq!(l.mailbox(b), message('*', "d", "both"));
    // Inside EXEC the pushes sit before the reply of the command that caused them.
    l.run(a, &["MULTI"]);
    l.run(a, &["PUBLISH", "d", "tx"]);
    l.run(a, &["PING"]);
    assert_eq!(l.run(a, &["EXEC"]), format!("*2\r\n{}:2\r\n+PONG\r\n", message('>', "d", "tx")));
    // CLIENT LIST view.
    {
        let info = l.clients[a].0.shared.info.lock().clone();
        assert_eq!((info.sub, info.psub, info.ssub), (2, 1, 0));
    }
    assert_eq!(l.run(a, &["PUNSUBSCRIBE", "c*"]), conf('>', "punsubscribe", Some("c*"), 2));
    let info = l.clients[a].0.shared.info.lock().clone();
    assert_eq!((info.sub, info.psub), (2, 0));
}

#[test]
fn keyspace_events_reach_a_resp3_client_before_its_reply() {
    let cfg = fluidb::server::Config {
        notify_keyspace_events: fluidb::commands::pubsub::keyspace_events_from_str("KEA").unwrap(),
        ..Default::default()
    };
    let mut l = Local::with(cfg);
    let a = l.connect();
    l.resp3(a);
    assert_eq!(l.run(a, &["PSUBSCRIBE", "__key*"]), conf('>', "psubscribe", Some("__key*"), 1));
    assert_eq!(
        l.run(a, &["SET", "k", "v"]),
        pmessage('>', "__key*", "__keyspace@0__:k", "set")
            + &pmessage('>', "__key*", "__keyevent@0__:set", "k")
            + "+OK\r\n"
    );
}

#[test]
fn publish_reaches_the_subscribers_of_replicas_not_the_aof() {
    let m = Server::start(&["--appendonly", "yes"]);
    let s = Server::start(&[]);
    let (mut mr, mut sr) = (m.raw(), s.raw());
    assert_eq!(sr.call(&["REPLICAOF", "127.0.0.1", &m.port.to_string()]), "+OK\r\n");
    wait_for("the replica link", Duration::from_secs(10), || {
        sr.call(&["INFO", "replication"]).contains("master_link_status:up")
    });
    let mut sub = s.raw();
    sub.cmd(&[b"SUBSCRIBE", b"ch"]);
    assert_eq!(read(&mut sub), conf('*', "subscribe", Some("ch"), 1));
    sub.cmd(&[b"SSUBSCRIBE", b"sch"]);
    assert_eq!(read(&mut sub), conf('*', "ssubscribe", Some("sch"), 1));
    // The master has no subscriber: 0 receivers, yet the replica's subscriber gets it.
    assert_eq!(mr.call(&["PUBLISH", "ch", "hello"]), ":0\r\n");
    assert_eq!(read(&mut sub), message('*', "ch", "hello"));
    assert_eq!(mr.call(&["SPUBLISH", "sch", "world"]), ":0\r\n");
    assert_eq!(read(&mut sub), format!("*3\r\n{}{}{}", bulk("smessage"), bulk("sch"), bulk("world")));
    // A write after them, so the AOF has something: it holds the SET, not the PUBLISHes.
    assert_eq!(mr.call(&["SET", "k", "v"]), "+OK\r\n");
    let aof = s_path(&m, "appendonly.aof.1.incr.aof");
    wait_for("the SET in the AOF", Duration::from_secs(10), || {
        std::fs::read(&aof).is_ok_and(|b| b.windows(3).any(|w| w == b"SET"))
    });
    let bytes = std::fs::read(&aof).expect("AOF");
    let text = String::from_utf8_lossy(&bytes).to_ascii_uppercase();
    assert!(!text.contains("PUBLISH"), "{text}");
}

fn s_path(s: &Server, file: &str) -> std::path::PathBuf {
    s.dir.path().join("appendonlydir").join(file)
}

#[test]
fn client_reply_off_silences_replies_not_pushes() {
    for proto in ["2", "3"] {
        let s = Server::start(&[]);
        let mut c = s.raw();
        let mut p = s.raw();
        assert!(c.call(&["HELLO", proto]).starts_with(if proto == "3" { "%" } else { "*" }));
        let k = if proto == "3" { '>' } else { '*' };
        c.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
        c.cmd(&[b"SUBSCRIBE", b"ch"]);
        assert_eq!(read(&mut c), conf(k, "subscribe", Some("ch"), 1));
        c.cmd(&[b"PSUBSCRIBE", b"c*"]);
        assert_eq!(read(&mut c), conf(k, "psubscribe", Some("c*"), 2));
        c.cmd(&[b"PING"]);
        assert_eq!(p.call(&["PUBLISH", "ch", "hello"]), ":2\r\n");
        assert_eq!(read(&mut c), message(k, "ch", "hello"));
        assert_eq!(read(&mut c), pmessage(k, "c*", "ch", "hello"));
        if proto == "3" {
            // A message to itself is a push too; PUBLISH's own reply is silenced.
            c.cmd(&[b"PUBLISH", b"ch", b"me"]);
            assert_eq!(read(&mut c), message(k, "ch", "me"));
            assert_eq!(read(&mut c), pmessage(k, "c*", "ch", "me"));
        }
        c.cmd(&[b"UNSUBSCRIBE", b"ch"]);
        assert_eq!(read(&mut c), conf(k, "unsubscribe", Some("ch"), 1));
        c.cmd(&[b"PUNSUBSCRIBE"]);
        assert_eq!(read(&mut c), conf(k, "punsubscribe", Some("c*"), 0));
        // Nothing else was written: the next reply is CLIENT REPLY ON's.
        assert_eq!(c.call(&["CLIENT", "REPLY", "ON"]), "+OK\r\n");
        // SKIP silences one reply, not the pushes of that command.
        c.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
        c.cmd(&[b"SSUBSCRIBE", b"s"]);
        assert_eq!(read(&mut c), conf(k, "ssubscribe", Some("s"), 1));
        c.cmd(&[b"SUNSUBSCRIBE"]);
        assert_eq!(read(&mut c), conf(k, "sunsubscribe", Some("s"), 0));
    }
}
