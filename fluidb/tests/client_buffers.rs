//! Client buffers as Redis 7.0 reports and manages them: CLIENT LIST/INFO fields, the
//! query and reply buffer resizing of the client cron, and client-output-buffer-limit.

mod common;
use common::*;

use std::time::Duration;

/// `name=value` of a CLIENT LIST line.
fn list_field(line: &str, name: &str) -> String {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .to_string()
}

/// The CLIENT LIST line of the client named `name` (as seen by `r`), if connected.
fn line_of(r: &mut Raw, name: &str) -> Option<String> {
    let list = r.call(&["CLIENT", "LIST"]);
    list.lines().find(|l| l.contains(&format!(" name={name} "))).map(str::to_string)
}

#[test]
fn client_list_fields_are_redis_7_0s() {
    let s = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let keys =
        |line: &str| -> Vec<String> { line.split(' ').map(|kv| kv.split('=').next().unwrap().to_string()).collect() };
    let mine = s.raw().call(&["CLIENT", "INFO"]);
    let theirs = redis.raw().call(&["CLIENT", "INFO"]);
    let body = |r: &str| r.lines().nth(1).unwrap_or("").to_string();
    assert_eq!(keys(&body(&mine)), keys(&body(&theirs)));
    // The query buffer still holds the running command (26 bytes of CLIENT LIST), as
    // Redis's does; nothing is pending on output.
    let mut r = s.raw();
    let line = r.call(&["CLIENT", "LIST"]);
    let line = line.lines().nth(1).unwrap();
    assert_eq!(list_field(line, "qbuf"), "26", "{line}");
    assert_eq!(list_field(line, "cmd"), "client|list");
    for (f, v) in [("obl", "0"), ("oll", "0"), ("omem", "0"), ("multi-mem", "0"), ("events", "r"), ("resp", "2")] {
        assert_eq!(list_field(line, f), v, "{f} in {line}");
    }
    assert!(list_field(line, "qbuf-free").parse::<u64>().unwrap() > 0);
    assert_eq!(list_field(line, "rbs"), "16384");
    // Flags in Redis's order: P before x.
    let mut sub = s.raw();
    sub.call(&["HELLO", "3"]);
    sub.call(&["CLIENT", "SETNAME", "sub"]);
    sub.call(&["SUBSCRIBE", "c"]);
    sub.call(&["MULTI"]);
    wait_for("the subscriber's flags", Duration::from_secs(10), || {
        line_of(&mut r, "sub").is_some_and(|l| list_field(&l, "flags") == "Px")
    });
}

#[test]
fn idle_query_buffer_is_freed_and_big_one_trimmed() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut c = s.raw();
    c.call(&["CLIENT", "SETNAME", "q"]);
    let size = |r: &mut Raw| -> u64 {
        let l = line_of(r, "q").expect("client q");
        list_field(&l, "qbuf").parse::<u64>().unwrap() + list_field(&l, "qbuf-free").parse::<u64>().unwrap()
    };
    let first = size(&mut r);
    assert!((16384..32768).contains(&first), "{first}");
    // After a big argument the buffer is large; small commands let the cron trim it to
    // the recent peak (not to nothing: the next command will use it).
    c.call(&["SET", "x", &"A".repeat(400_000)]);
    let big = size(&mut r);
    assert!(big > 32768, "{big}");
    wait_for("the query buffer to shrink", Duration::from_secs(10), || {
        c.call(&["SET", "x", "small"]);
        let now = size(&mut r);
        now > 0 && now < big
    });
    // Idle for more than 2 seconds: freed.
    wait_for("the idle query buffer to be freed", Duration::from_secs(10), || size(&mut r) == 0);
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn reply_buffer_follows_its_peak() {
    let s = Server::start(&["--enable-debug-command", "yes"]);
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "100"]);
    let mut c = s.raw();
    c.call(&["CLIENT", "SETNAME", "rb"]);
    let rbs = |r: &mut Raw| list_field(&line_of(r, "rb").expect("client rb"), "rbs").parse::<u64>().unwrap();
    wait_for("the idle reply buffer to shrink", Duration::from_secs(10), || (1024..2048).contains(&rbs(&mut r)));
    r.call(&["SET", "big", &"x".repeat(32768)]);
    ok(&mut r, &["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "never"]);
    wait_for("the busy reply buffer to grow", Duration::from_secs(10), || {
        c.call(&["GET", "big"]);
        (16384..32768).contains(&rbs(&mut r))
    });
    ok(&mut r, &["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "reset"]);
    ok(&mut r, &["DEBUG", "REPLYBUFFER", "RESIZING", "0"]);
    assert!(r.call(&["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "abc"]).starts_with("-ERR value is not an integer"));
    assert!(r.call(&["DEBUG", "REPLYBUFFER", "nope", "1"]).starts_with("-ERR unknown subcommand"));
    let info = r.call(&["INFO", "stats"]);
    assert!(!info.contains("reply_buffer_shrinks:0\r\n"), "{info}");
    assert!(!info.contains("reply_buffer_expands:0\r\n"), "{info}");
}

#[test]
fn normal_hard_limit_closes_the_client_without_its_replies() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["CONFIG", "SET", "client-output-buffer-limit", "normal 100000 0 0"]);
    let item = "x".repeat(1000);
    for _ in 0..150 {
        r.call(&["LPUSH", "l", &item]);
    }
    // A pipeline: the first replies would fit, the LRANGE does not; nothing is sent.
    let mut c = s.raw();
    let mut pipe = encode(&[b"PING"]);
    pipe.extend(encode(&[b"LRANGE", b"l", b"0", b"-1"]));
    pipe.extend(encode(&[b"SET", b"after", b"1"]));
    c.send(&pipe);
    assert!(c.is_closed());
    // The command after the limit did not run.
    assert_eq!(r.call(&["EXISTS", "after"]), ":0\r\n");
    assert!(s.log().contains("scheduled to be closed ASAP for overcoming of output buffer limits"));
    // A single reply past a small limit closes the client too.
    ok(&mut r, &["CONFIG", "SET", "client-output-buffer-limit", "normal 1000 0 0"]);
    let mut k = s.raw();
    k.cmd(&[b"LRANGE", b"l", b"0", b"-1"]);
    assert!(k.is_closed());
}

#[test]
fn pubsub_limits_disconnect_a_subscriber_that_does_not_read() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 100000 0 0"]);
    let mut sub = s.raw();
    sub.call(&["CLIENT", "SETNAME", "sub"]);
    sub.call(&["SUBSCRIBE", "c"]);
    // Publish until the subscriber's output passes the limit; omem shows it growing.
    let msg = "m".repeat(1000);
    let mut max_omem = 0;
    // Bursts: the kernel's socket buffers (megabytes on loopback) fill before any output
    // stays in the server, and one message per poll would take minutes to fill them;
    // small enough bursts (20 KB) that CLIENT LIST sees omem on its way to the limit.
    wait_for("the subscriber to be disconnected", Duration::from_secs(30), || {
        for _ in 0..20 {
            r.call(&["PUBLISH", "c", &msg]);
        }
        match line_of(&mut r, "sub") {
            Some(l) => {
                max_omem = max_omem.max(list_field(&l, "omem").parse::<u64>().unwrap());
                false
            }
            None => true,
        }
    });
    assert!(max_omem > 0 && max_omem < 100_000, "{max_omem}");
    // Soft limit with a time: the cron disconnects a subscriber left above it.
    ok(&mut r, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 50000 1"]);
    let mut sub = s.raw();
    sub.call(&["CLIENT", "SETNAME", "soft"]);
    sub.call(&["SUBSCRIBE", "c"]);
    wait_for("the subscriber to pass the soft limit", Duration::from_secs(30), || {
        for _ in 0..100 {
            r.call(&["PUBLISH", "c", &msg]);
        }
        line_of(&mut r, "soft").is_none_or(|l| list_field(&l, "omem").parse::<u64>().unwrap() >= 50_000)
    });
    wait_for("the soft limit to disconnect it", Duration::from_secs(10), || line_of(&mut r, "soft").is_none());
}
