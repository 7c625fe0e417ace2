//! In-process tests of the string commands: the side effects a client cannot observe on
//! the wire by string commands alone (write stream contents, keyspace events, encodings,
//! TTLs, mvcc stamps) and RESP3 replies.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::commands::call;
use crate::config::Config;
use crate::protocol::Reply;
use crate::server::client::{Client, ClientShared};
use crate::server::store::notify;
use crate::server::Shared;

/// A server in a box: executes commands through `call()` like a connection does, and
/// records what they propagate and notify.
pub(crate) struct Kit {
    pub shared: Arc<Shared>,
    pub client: Client,
    pub out: Reply,
    events: UnboundedReceiver<Bytes>,
    offset: u64,
}

/// Splits a command line on spaces (tests only use simple arguments here).
fn words(line: &str) -> Vec<Bytes> {
    line.split(' ').filter(|w| !w.is_empty()).map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
}

/// Reads RESP multibulk commands from `b`, as text with arguments joined by spaces.
fn parse_commands(mut b: &[u8]) -> Vec<String> {
    fn line(b: &mut &[u8]) -> String {
        let i = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let s = String::from_utf8_lossy(&b[..i]).into_owned();
        *b = &b[i + 2..];
        s
    }
    let mut cmds = vec![];
    while !b.is_empty() {
        let h = line(&mut b);
        let n: usize = h[1..].parse().expect("array len");
        let mut args = vec![];
        for _ in 0..n {
            let l: usize = line(&mut b)[1..].parse().expect("bulk len");
            args.push(String::from_utf8_lossy(&b[..l]).into_owned());
            b = &b[l + 2..];
        }
        if !args[0].eq_ignore_ascii_case("select") {
            cmds.push(args.join(" "));
        }
    }
    cmds
}

impl Kit {
    pub fn new() -> Kit {
        let cfg = Config { notify_keyspace_events: notify::KEYEVENT | notify::ALL, ..Config::default() };
        let shared = Shared::new(cfg, String::new());
        shared.store.lock().stream.enable_backlog(); // the tests read the stream back
        let (observer, events) = ClientShared::new(1000, "observer".into(), String::new(), -1);
        {
            let mut st = shared.store.lock();
            st.clients.by_id.insert(1000, observer);
            st.pubsub.psubscribe(1000, &Bytes::from_static(b"__keyevent@*"));
        }
        let (cs, _) = ClientShared::new(1, "test".into(), String::new(), -1);
        Kit { shared, client: Client::new(cs, true), out: Reply::new(), events, offset: 0 }
    }

    /// Runs one command given as separate arguments; returns the raw reply.
    pub fn runv(&mut self, argv: &[&[u8]]) -> String {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        self.out.buf.clear();
        let shared = self.shared.clone();
        let mut st = shared.store.lock();
        call(&shared, &mut st, &mut self.client, &mut self.out, &argv, crate::commands::call::Source::Client);
        String::from_utf8_lossy(&self.out.buf).into_owned()
    }

    /// Runs one command line (space separated); returns the raw reply.
    pub fn run(&mut self, line: &str) -> String {
        let w = words(line);
        let v: Vec<&[u8]> = w.iter().map(|b| &b[..]).collect();
        self.runv(&v)
    }

    /// The keyspace events published since the last call, as "event key".
    pub fn events(&mut self) -> Vec<String> {
        let mut v = vec![];
        while let Ok(m) = self.events.try_recv() {
            // *4 pmessage <pattern> __keyevent@<db>__:<event> <key>
            let parts = parse_commands(&m);
            let p: Vec<&str> = parts[0].split(' ').collect();
            let event = p[2].split(':').nth(1).unwrap_or("").to_string();
            v.push(format!("{} {}", event, p[3..].join(" ")));
        }
        v
    }

    /// The commands appended to the write stream since the last call.
    pub fn propagated(&mut self) -> Vec<String> {
        let st = self.shared.store.lock();
        let bytes = st.stream.read_from(self.offset).expect("in backlog");
        self.offset = st.stream.offset();
        parse_commands(&bytes)
    }

    /// Forgets events and propagation so far.
    pub fn reset(&mut self) {
        self.events();
        self.propagated();
    }

    /// (encoding, expire ms, mvcc) of a key in db 0.
    pub fn entry(&self, key: &str) -> Option<(&'static str, i64, u64)> {
        let st = self.shared.store.lock();
        st.dbs[0].peek(key.as_bytes()).map(|e| (e.val.encoding(), e.expire, e.mvcc))
    }

    pub fn encoding(&self, key: &str) -> &'static str {
        self.entry(key).map(|e| e.0).unwrap_or("none")
    }

    pub fn expire(&self, key: &str) -> i64 {
        self.entry(key).map(|e| e.1).unwrap_or(-2)
    }

    pub fn mvcc(&self, key: &str) -> u64 {
        self.entry(key).map(|e| e.2).unwrap_or(0)
    }

    /// Sets a key's TTL directly (EXPIRE lives in another family).
    pub fn set_expire(&self, key: &str, at: i64) {
        let mut st = self.shared.store.lock();
        st.dbs[0].set_expire(key.as_bytes(), at);
    }

    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        let st = self.shared.store.lock();
        st.dbs[0].peek(key.as_bytes()).and_then(|e| super::string_of(&e.val)).map(|s| s.to_vec())
    }
}

const FAR: i64 = 9_999_999_999_000;

#[test]
fn set_encodings_follow_redis() {
    let mut k = Kit::new();
    for (v, enc) in [
        ("12345", "int"),
        ("-9223372036854775808", "int"),
        ("9223372036854775808", "embstr"),
        ("012", "embstr"),
        ("1.5", "embstr"),
        (&"a".repeat(44), "embstr"),
        (&"a".repeat(45), "raw"),
    ] {
        assert_eq!(k.run(&format!("set k {v}")), "+OK\r\n");
        assert_eq!(k.encoding("k"), enc, "value {v}");
    }
    k.run("mset a 1 b xyz");
    assert_eq!((k.encoding("a"), k.encoding("b")), ("int", "embstr"));
    k.run("getset a 7");
    assert_eq!(k.encoding("a"), "int");
    k.run("setex e 100 77");
    assert_eq!(k.encoding("e"), "int");
}

#[test]
fn set_propagation_and_events() {
    let mut k = Kit::new();
    k.run("set k v");
    assert_eq!(k.propagated(), ["set k v"]);
    assert_eq!(k.events(), ["set k"]);

    // Relative and absolute expiries become PXAT; NX/XX/GET are dropped with them.
    let r = k.run("set k v ex 100 get");
    assert_eq!(r, "$1\r\nv\r\n");
    let at = k.expire("k");
    let now = crate::util::time::unix_ms();
    assert!(at > now + 98_000 && at <= now + 100_000, "expire {at} now {now}");
    assert_eq!(k.propagated(), [format!("SET k v PXAT {at}")]);
    assert_eq!(k.events(), ["set k", "expire k"]);
    k.run("set k v pxat 9999999999000 xx");
    assert_eq!(k.propagated(), ["SET k v PXAT 9999999999000"]);
    k.run("set k v exat 9999999999");
    assert_eq!(k.propagated(), ["SET k v PXAT 9999999999000"]);
    assert_eq!(k.expire("k"), FAR);

    // KEEPTTL keeps it, plain SET drops it.
    k.run("set k v2 keepttl");
    assert_eq!(k.expire("k"), FAR);
    assert_eq!(k.propagated(), ["set k v2 keepttl"]);
    k.run("set k v3");
    assert_eq!(k.expire("k"), -1);

    // GET is stripped from the propagated command (every occurrence).
    k.reset();
    assert_eq!(k.run("set k v4 GET nx get"), "$2\r\nv3\r\n");
    assert!(k.propagated().is_empty(), "NX on an existing key writes nothing");
    assert_eq!(k.run("set k v4 get xx Get"), "$2\r\nv3\r\n");
    assert_eq!(k.propagated(), ["set k v4 xx"]);

    // Nothing is written, stamped or notified when NX/XX or an error stops the command.
    let m = k.mvcc("k");
    k.reset();
    for line in ["set k v nx", "set nokey v xx", "set k v ex 0", "set k v ex abc", "set k v foo", "setnx k v"] {
        k.run(line);
    }
    assert_eq!(k.mvcc("k"), m);
    assert!(k.propagated().is_empty());
    assert!(k.events().is_empty());
    assert!(k.entry("nokey").is_none());
}

#[test]
fn setex_psetex_setnx_propagate_absolute() {
    let mut k = Kit::new();
    k.run("setex k 100 v");
    let at = k.expire("k");
    assert_eq!(k.propagated(), [format!("SET k v PXAT {at}")]);
    assert_eq!(k.events(), ["set k", "expire k"]);
    k.run("psetex p 5000 v");
    let at = k.expire("p");
    assert_eq!(k.propagated(), [format!("SET p v PXAT {at}")]);
    assert_eq!(k.run("setnx n 1"), ":1\r\n");
    assert_eq!(k.run("setnx n 2"), ":0\r\n");
    assert_eq!(k.propagated(), ["setnx n 1"]);
    assert_eq!(k.run("setex k 0 v"), "-ERR invalid expire time in 'setex' command\r\n");
    assert_eq!(k.run("psetex k -1 v"), "-ERR invalid expire time in 'psetex' command\r\n");
}

#[test]
fn getex_rewrites_and_events() {
    let mut k = Kit::new();
    k.run("set k v");
    k.reset();
    assert_eq!(k.run("getex k"), "$1\r\nv\r\n");
    assert!(k.propagated().is_empty());
    k.run("getex k ex 100");
    let at = k.expire("k");
    assert_eq!(k.propagated(), [format!("PEXPIREAT k {at}")]);
    assert_eq!(k.events(), ["expire k"]);
    k.run("getex k pxat 9999999999000");
    assert_eq!(k.propagated(), ["PEXPIREAT k 9999999999000"]);
    assert_eq!(k.expire("k"), FAR);
    k.run("getex k persist");
    assert_eq!(k.propagated(), ["PERSIST k"]);
    assert_eq!(k.events(), ["expire k", "persist k"]);
    assert_eq!(k.expire("k"), -1);
    // PERSIST without a TTL changes nothing.
    let m = k.mvcc("k");
    k.run("getex k persist");
    assert!(k.propagated().is_empty());
    assert_eq!(k.mvcc("k"), m);
    // An absolute time in the past deletes the key, propagated as DEL.
    assert_eq!(k.run("getex k exat 1"), "$1\r\nv\r\n");
    assert!(k.entry("k").is_none());
    assert_eq!(k.propagated(), ["DEL k"]);
    assert_eq!(k.events(), ["del k"]);
    // Expire errors come after the lookup: a missing key answers null.
    assert_eq!(k.run("getex nokey ex abc"), "$-1\r\n");
    k.run("set k v");
    assert_eq!(k.run("getex k ex abc"), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(k.run("getex k ex 0"), "-ERR invalid expire time in 'getex' command\r\n");
}

#[test]
fn getdel_getset_mset_msetnx() {
    let mut k = Kit::new();
    k.run("set k v");
    k.reset();
    assert_eq!(k.run("getdel k"), "$1\r\nv\r\n");
    assert_eq!(k.propagated(), ["DEL k"]);
    assert_eq!(k.events(), ["del k"]);
    assert_eq!(k.run("getdel k"), "$-1\r\n");
    assert!(k.propagated().is_empty());

    k.run("set g 1");
    k.set_expire("g", FAR);
    k.reset();
    assert_eq!(k.run("getset g 2"), "$1\r\n1\r\n");
    assert_eq!(k.expire("g"), -1, "GETSET drops the TTL");
    assert_eq!(k.propagated(), ["SET g 2"]);
    assert_eq!(k.events(), ["set g"]);

    k.run("mset a 1 b 2");
    assert_eq!(k.propagated(), ["mset a 1 b 2"]);
    assert_eq!(k.events(), ["set a", "set b"]);
    assert_eq!(k.run("msetnx a 1 c 3"), ":0\r\n");
    assert!(k.entry("c").is_none());
    assert!(k.propagated().is_empty());
    assert_eq!(k.run("msetnx c 3 d 4"), ":1\r\n");
    assert_eq!(k.propagated(), ["msetnx c 3 d 4"]);
    assert_eq!(k.events(), ["set c", "set d"]);
    assert_eq!(k.mvcc("c"), k.mvcc("d"), "one command, one timestamp");
}

#[test]
fn append_setrange_encodings_and_events() {
    let mut k = Kit::new();
    assert_eq!(k.run("append a 123"), ":3\r\n");
    assert_eq!(k.encoding("a"), "int");
    assert_eq!(k.run("append a 4"), ":4\r\n");
    assert_eq!(k.encoding("a"), "raw");
    assert_eq!(k.value("a").unwrap(), b"1234");
    assert_eq!(k.propagated(), ["append a 123", "append a 4"]);
    assert_eq!(k.events(), ["append a", "append a"]);
    k.run("append e hello");
    assert_eq!(k.encoding("e"), "embstr");
    // An empty APPEND to an existing key still converts and propagates, as Redis.
    k.run("set n 5");
    k.reset();
    k.runv(&[b"append", b"n", b""]);
    assert_eq!(k.encoding("n"), "raw");
    assert_eq!(k.propagated(), ["append n "]);

    k.run("set i 12345");
    k.reset();
    let m = k.mvcc("i");
    assert_eq!(k.runv(&[b"setrange", b"i", b"0", b""]), ":5\r\n");
    assert_eq!((k.encoding("i"), k.mvcc("i")), ("int", m));
    assert!(k.propagated().is_empty());
    assert_eq!(k.run("setrange i 1 x"), ":5\r\n");
    assert_eq!(k.encoding("i"), "raw");
    assert_eq!(k.value("i").unwrap(), b"1x345");
    assert_eq!(k.propagated(), ["setrange i 1 x"]);
    assert_eq!(k.events(), ["setrange i"]);
    assert_eq!(k.run("setrange s 3 ab"), ":5\r\n");
    assert_eq!(k.value("s").unwrap(), b"\0\0\0ab");
    assert_eq!(k.encoding("s"), "raw");
    // TTLs survive APPEND and SETRANGE.
    k.set_expire("s", FAR);
    k.run("append s c");
    k.run("setrange s 0 z");
    assert_eq!(k.expire("s"), FAR);
}

#[test]
fn incr_family_keeps_ttl_and_int_encoding() {
    let mut k = Kit::new();
    k.run("set c 10");
    k.set_expire("c", FAR);
    k.reset();
    assert_eq!(k.run("incr c"), ":11\r\n");
    assert_eq!(k.run("decrby c 20"), ":-9\r\n");
    assert_eq!(k.run("incrby c 4"), ":-5\r\n");
    assert_eq!(k.run("decr c"), ":-6\r\n");
    assert_eq!((k.encoding("c"), k.expire("c")), ("int", FAR));
    assert_eq!(k.propagated(), ["incr c", "decrby c 20", "incrby c 4", "decr c"]);
    assert_eq!(k.events(), ["incrby c", "incrby c", "incrby c", "incrby c"]);
    k.run("append r 7");
    k.run("append r 0");
    assert_eq!(k.encoding("r"), "raw");
    assert_eq!(k.run("incr r"), ":71\r\n");
    assert_eq!(k.encoding("r"), "int");
    // Errors write nothing.
    let m = k.mvcc("c");
    k.reset();
    assert_eq!(k.run("incrby c -9223372036854775808"), "-ERR increment or decrement would overflow\r\n");
    k.run("incrby c abc");
    k.run("decrby c -9223372036854775808");
    assert_eq!(k.mvcc("c"), m);
    assert!(k.propagated().is_empty());
}

#[test]
fn incrbyfloat_propagates_set_keepttl() {
    let mut k = Kit::new();
    k.run("set f 10.5");
    k.set_expire("f", FAR);
    k.reset();
    assert_eq!(k.run("incrbyfloat f 0.5"), "$2\r\n11\r\n");
    assert_eq!(k.propagated(), ["SET f 11 KEEPTTL"]);
    assert_eq!(k.events(), ["incrbyfloat f"]);
    assert_eq!((k.encoding("f"), k.expire("f")), ("embstr", FAR));
    assert_eq!(k.run("incrbyfloat new 1"), "$1\r\n1\r\n");
    assert_eq!(k.encoding("new"), "embstr");
    assert_eq!(k.run("incrbyfloat f abc"), "-ERR value is not a valid float\r\n");
    assert_eq!(k.run("incrbyfloat f inf"), "-ERR increment would produce NaN or Infinity\r\n");
    k.run("set s foo");
    assert_eq!(k.run("incrbyfloat s 1"), "-ERR value is not a valid float\r\n");
}

#[test]
fn reads_do_not_stamp_or_propagate() {
    let mut k = Kit::new();
    k.run("set k hello");
    let m = k.mvcc("k");
    k.reset();
    for line in [
        "get k",
        "mget k nokey",
        "strlen k",
        "getrange k 0 2",
        "substr k 0 2",
        "lcs k k",
        "getex k",
        "getex nokey persist",
        "getdel nokey",
    ] {
        k.run(line);
    }
    assert_eq!(k.mvcc("k"), m);
    assert!(k.propagated().is_empty());
    assert!(k.events().is_empty());
}

#[test]
fn writes_stamp_increasing_mvcc() {
    let mut k = Kit::new();
    let mut last = 0;
    for line in [
        "set k 1",
        "incr k",
        "append k 2",
        "setrange k 0 9",
        "getset k 5",
        "incrbyfloat k 1",
        "set k v px 100000",
        "getex k persist",
    ] {
        k.run(line);
        let m = k.mvcc("k");
        assert!(m > last, "{line} stamped {m} after {last}");
        last = m;
    }
}

#[test]
fn expired_keys_read_as_missing() {
    let mut k = Kit::new();
    k.run("set k 5");
    k.set_expire("k", 1);
    k.reset();
    assert_eq!(k.run("incr k"), ":1\r\n", "an expired counter starts over");
    assert_eq!(k.expire("k"), -1);
    assert_eq!(k.propagated(), ["MULTI", "DEL k", "incr k", "EXEC"]);
    k.set_expire("k", 1);
    assert_eq!(k.run("append k x"), ":1\r\n");
    k.set_expire("k", 1);
    assert_eq!(k.run("set k v nx"), "+OK\r\n");
    k.set_expire("k", 1);
    assert_eq!(k.run("getrange k 0 -1"), "$0\r\n\r\n");
}

#[test]
fn resp3_replies() {
    let mut k = Kit::new();
    k.out.resp3 = true;
    assert_eq!(k.run("get nokey"), "_\r\n");
    assert_eq!(k.run("set k v nx"), "+OK\r\n");
    assert_eq!(k.run("set k v nx"), "_\r\n");
    assert_eq!(k.run("set nokey v xx get"), "_\r\n");
    assert_eq!(k.run("getex nokey"), "_\r\n");
    assert_eq!(k.run("getdel nokey"), "_\r\n");
    assert_eq!(k.run("getset nokey2 v"), "_\r\n");
    assert_eq!(k.run("mget k nokey"), "*2\r\n$1\r\nv\r\n_\r\n");
    k.run("mset key1 ohmytext key2 mynewtext");
    assert_eq!(
        k.run("lcs key1 key2 idx withmatchlen"),
        "%2\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n*3\r\n*2\r\n:2\r\n:3\r\n\
*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n"
    );
    assert_eq!(k.run("lcs nokey nokey2 idx"), "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n");
}

#[test]
fn lcs_refuses_tables_beyond_proto_max_bulk_len() {
    let mut k = Kit::new();
    k.shared.max_bulk_len.store(1024 * 1024, std::sync::atomic::Ordering::Relaxed);
    k.run("setrange a 400 x");
    k.run("setrange b 400 y");
    // 402 * 402 * 4 bytes fits in 1 MB.
    assert_eq!(k.run("lcs a b len"), ":400\r\n");
    k.run("setrange c 1000 x");
    // 402 * 1002 * 4 > 1 MB, even for LEN (Redis checks before computing).
    let err = "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n";
    assert_eq!(k.run("lcs a c len"), err);
    assert_eq!(k.run("lcs a c idx"), err);
    assert_eq!(k.run("lcs c a"), err);
    // The same limit bounds SETRANGE and APPEND.
    let big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    assert_eq!(k.run("setrange a 1048576 x"), big);
    assert_eq!(k.run("setrange a 1048575 x"), ":1048576\r\n");
    assert_eq!(k.run("append a x"), big);
}

#[test]
fn lcs_len_matches_full_table() {
    // The two-row LEN computation agrees with the full table on random strings.
    let mut k = Kit::new();
    let mut seed = 12345u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..200 {
        let a: Vec<u8> = (0..rnd() % 30).map(|_| b"abc"[rnd() % 3]).collect();
        let b: Vec<u8> = (0..rnd() % 30).map(|_| b"abc"[rnd() % 3]).collect();
        k.runv(&[b"set", b"a", &a]);
        k.runv(&[b"set", b"b", &b]);
        let len = k.run("lcs a b len");
        let s = k.run("lcs a b");
        let n: usize = s[1..s.find('\r').unwrap()].parse().unwrap();
        assert_eq!(len, format!(":{n}\r\n"));
    }
}

impl Kit {
    /// Registers a WATCH of `key` (db 0) by a fake client and clears earlier invalidations.
    pub fn watch(&self, key: &str) {
        let mut st = self.shared.store.lock();
        st.watch.watch(77, 0, key.as_bytes(), false);
        st.watch.dirty.clear();
    }

    /// Whether the fake watcher's transaction was invalidated.
    pub fn watch_fired(&self) -> bool {
        self.shared.store.lock().watch.dirty.contains(&77)
    }
}

#[test]
fn writes_invalidate_watch_and_no_ops_do_not() {
    let mut k = Kit::new();
    k.run("set k 1");
    k.watch("k");
    for (line, fires) in [
        ("get k", false),
        ("set k 1 nx", false),
        ("incrby k abc", false),
        ("append k 1", true),
        ("incr k", true),
        ("decrby k 2", true),
        ("incrbyfloat k 1.5", true),
        ("setrange k 0 7", true),
        ("set k v xx", true),
        ("set k w", true),
        ("getset k x", true),
        ("setex k 100 y", true),
        ("getex k persist", true),
        ("getex k persist", false),
        ("getex k", false),
        ("mset k 1", true),
        ("msetnx k 2", false),
        ("setnx k 3", false),
        ("getdel k", true),
        ("getdel k", false),
    ] {
        k.watch("k");
        k.run(line);
        assert_eq!(k.watch_fired(), fires, "{line}");
    }
    k.run("set k v");
    k.watch("k");
    k.runv(&[b"setrange", b"k", b"0", b""]);
    assert!(!k.watch_fired(), "empty SETRANGE");
    k.runv(&[b"append", b"k", b""]);
    assert!(k.watch_fired(), "empty APPEND still writes");
}

#[test]
fn overwriting_an_expired_key_expires_it_first() {
    let mut k = Kit::new();
    k.run("mset a 1 g 1 d 1 e 1 s x");
    for key in ["a", "g", "d", "e"] {
        k.set_expire(key, 1);
    }
    k.reset();
    k.run("mset a 2");
    assert_eq!(k.events(), ["expired a", "set a"]);
    assert_eq!(k.propagated(), ["MULTI", "DEL a", "mset a 2", "EXEC"]);
    assert_eq!(k.expire("a"), -1);
    assert_eq!(k.run("getset g 2"), "$-1\r\n");
    assert_eq!(k.events(), ["expired g", "set g"]);
    assert_eq!(k.propagated(), ["MULTI", "DEL g", "SET g 2", "EXEC"]);
    k.run("bitop or e s");
    assert_eq!(k.events(), ["expired e", "set e"]);
    assert_eq!(k.propagated(), ["MULTI", "DEL e", "bitop or e s", "EXEC"]);
    // An empty BITOP result deletes the destination like Redis's dbDelete: no expiry check.
    assert_eq!(k.run("bitop or d nokey"), ":0\r\n");
    assert_eq!(k.events(), ["del d"]);
    assert_eq!(k.propagated(), ["bitop or d nokey"]);
    assert!(k.entry("d").is_none());
}
