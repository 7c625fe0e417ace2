//! In-process tests of the keyspace and expiry families: what enters the write stream,
//! which keys get stamped with the command's mvcc, and which WATCHes are invalidated.

use std::sync::Arc;

use bytes::Bytes;

use crate::commands::call;
use crate::protocol::Reply;
use crate::server::client::{Client, ClientShared};
use crate::server::{Config as Settings, Shared, Store};

struct T {
    sh: Arc<Shared>,
    client: Client,
    out: Reply,
}

impl T {
    fn new() -> T {
        let sh = Shared::new(Settings::default(), String::new());
        sh.store.lock().stream.enable_backlog(); // the tests read the stream back
        let (cs, _rx) = ClientShared::new(1, "127.0.0.1:1".into(), "127.0.0.1:2".into(), 0);
        T { sh, client: Client::new(cs, true), out: Reply::new() }
    }

    /// Runs one command; returns its raw reply.
    fn run(&mut self, args: &[&str]) -> String {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        let mut st = self.sh.store.lock();
        self.out.buf.clear();
        call(&self.sh, &mut st, &mut self.client, &mut self.out, &argv, crate::commands::call::Source::Client);
        String::from_utf8_lossy(&self.out.buf).into_owned()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.sh.store.lock())
    }

    fn offset(&self) -> u64 {
        self.with(|st| st.stream.offset())
    }

    /// The commands appended to the write stream since `from` (SELECTs included).
    fn stream_since(&self, from: u64) -> Vec<Vec<String>> {
        let bytes = self.with(|st| st.stream.read_from(from)).expect("in backlog");
        parse_commands(&bytes)
    }

    fn mvcc(&self, db: usize, key: &str) -> u64 {
        self.with(|st| st.dbs[db].peek(key.as_bytes()).map(|e| e.mvcc)).expect("key exists")
    }

    fn last_mvcc(&self) -> u64 {
        self.with(|st| st.stream.last_mvcc())
    }

    /// Registers client `id` as watching `key` in `db` and clears its dirty flag.
    fn watch(&self, id: u64, db: usize, key: &str) {
        self.with(|st| {
            st.watch.watch(id, db, key.as_bytes(), false);
            st.watch.dirty.remove(&id);
        })
    }

    fn dirty(&self, id: u64) -> bool {
        self.with(|st| st.watch.dirty.contains(&id))
    }
}

fn parse_commands(mut b: &[u8]) -> Vec<Vec<String>> {
    fn line<'a>(b: &mut &'a [u8]) -> &'a [u8] {
        let i = b.windows(2).position(|w| w == b"\r\n").expect("CRLF");
        let l = &b[..i];
        *b = &b[i + 2..];
        l
    }
    let mut cmds = Vec::new();
    while !b.is_empty() {
        let h = line(&mut b);
        assert_eq!(h[0], b'*');
        let n: usize = std::str::from_utf8(&h[1..]).unwrap().parse().unwrap();
        let mut c = Vec::new();
        for _ in 0..n {
            let h = line(&mut b);
            let len: usize = std::str::from_utf8(&h[1..]).unwrap().parse().unwrap();
            c.push(String::from_utf8_lossy(&b[..len]).into_owned());
            b = &b[len + 2..];
        }
        cmds.push(c);
    }
    cmds
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn relative_expires_propagate_as_pexpireat_with_their_options() {
    let mut t = T::new();
    t.run(&["SET", "k", "v"]);
    let off = t.offset();
    let before = crate::util::time::unix_ms();
    assert_eq!(t.run(&["EXPIRE", "k", "100", "nx"]), ":1\r\n");
    let at = t.with(|st| st.dbs[0].peek(b"k").map(|e| e.expire)).unwrap();
    assert!(at >= before + 100_000 && at <= crate::util::time::unix_ms() + 100_000);
    assert_eq!(t.stream_since(off), vec![cmd(&["PEXPIREAT", "k", &at.to_string(), "nx"])]);

    let off = t.offset();
    assert_eq!(t.run(&["PEXPIRE", "k", "5000", "GT"]), ":0\r\n");
    assert_eq!(t.run(&["PEXPIRE", "k", "5000", "LT"]), ":1\r\n");
    let at = t.with(|st| st.dbs[0].peek(b"k").map(|e| e.expire)).unwrap();
    assert_eq!(t.stream_since(off), vec![cmd(&["PEXPIREAT", "k", &at.to_string(), "LT"])]);

    let off = t.offset();
    assert_eq!(t.run(&["EXPIREAT", "k", "4102444800"]), ":1\r\n");
    assert_eq!(t.run(&["pexpireat", "k", "4102444800001", "XX"]), ":1\r\n");
    assert_eq!(
        t.stream_since(off),
        vec![cmd(&["PEXPIREAT", "k", "4102444800000"]), cmd(&["pexpireat", "k", "4102444800001", "XX"])]
    );
}

#[test]
fn an_expire_in_the_past_propagates_a_del() {
    let mut t = T::new();
    t.run(&["SET", "k", "v"]);
    let off = t.offset();
    assert_eq!(t.run(&["EXPIRE", "k", "-5"]), ":1\r\n");
    assert_eq!(t.stream_since(off), vec![cmd(&["DEL", "k"])]);
    assert_eq!(t.with(|st| st.stats.expired_keys), 0);
}

#[test]
fn commands_that_change_nothing_propagate_nothing_and_stamp_nothing() {
    let mut t = T::new();
    t.run(&["SET", "k", "v", "PXAT", "4102444800000"]);
    t.run(&["SET", "other", "x"]);
    let stamp = t.mvcc(0, "k");
    let off = t.offset();
    for c in [
        &["DEL", "nokey"][..],
        &["UNLINK", "nokey"],
        &["EXISTS", "k"],
        &["TYPE", "k"],
        &["TOUCH", "k"],
        &["TTL", "k"],
        &["PTTL", "k"],
        &["EXPIRETIME", "k"],
        &["PEXPIRETIME", "k"],
        &["OBJECT", "ENCODING", "k"],
        &["OBJECT", "IDLETIME", "k"],
        &["OBJECT", "REFCOUNT", "k"],
        &["KEYS", "*"],
        &["SCAN", "0"],
        &["RANDOMKEY"],
        &["DBSIZE"],
        &["EXPIRE", "k", "100", "NX"],
        &["EXPIRE", "nokey", "100"],
        &["PERSIST", "other"],
        &["PERSIST", "nokey"],
        &["RENAME", "k", "k"],
        &["RENAMENX", "k", "other"],
        &["COPY", "k", "other"],
        &["COPY", "nokey", "x"],
        &["MOVE", "nokey", "1"],
        &["EXPIRE", "k", "100", "GT", "LT"],
    ] {
        t.run(c);
    }
    assert_eq!(t.offset(), off, "nothing entered the write stream");
    assert_eq!(t.mvcc(0, "k"), stamp);
}

#[test]
fn writes_stamp_exactly_the_keys_they_write() {
    let mut t = T::new();
    t.run(&["SET", "a", "1", "PXAT", "4102444800000"]);
    t.run(&["SET", "b", "2"]);
    let a0 = t.mvcc(0, "a");

    assert_eq!(t.run(&["EXPIRE", "b", "100"]), ":1\r\n");
    assert_eq!(t.mvcc(0, "b"), t.last_mvcc());
    assert!(t.mvcc(0, "b") > a0);
    assert_eq!(t.run(&["PERSIST", "b"]), ":1\r\n");
    assert_eq!(t.mvcc(0, "b"), t.last_mvcc());

    assert_eq!(t.run(&["COPY", "a", "c"]), ":1\r\n");
    assert_eq!(t.mvcc(0, "c"), t.last_mvcc());
    assert_eq!(t.mvcc(0, "a"), a0, "the source of COPY is not written");
    assert_eq!(t.with(|st| st.dbs[0].peek(b"c").map(|e| e.expire)), Some(4102444800000));

    assert_eq!(t.run(&["RENAME", "a", "d"]), "+OK\r\n");
    assert_eq!(t.mvcc(0, "d"), t.last_mvcc());
    assert!(t.mvcc(0, "d") > a0);
    assert_eq!(t.with(|st| st.dbs[0].peek(b"d").map(|e| e.expire)), Some(4102444800000));

    assert_eq!(t.run(&["MOVE", "d", "4"]), ":1\r\n");
    assert_eq!(t.mvcc(4, "d"), t.last_mvcc());
    assert_eq!(t.with(|st| st.dbs[4].expires.len()), 1, "the TTL index follows the key");
    assert_eq!(t.with(|st| st.dbs[0].expires.len()), 1, "only c has a TTL in db 0");

    assert_eq!(t.run(&["COPY", "c", "e", "DB", "5"]), ":1\r\n");
    assert_eq!(t.mvcc(5, "e"), t.last_mvcc());
    assert_eq!(t.with(|st| st.dbs[5].expires.len()), 1);
}

#[test]
fn write_stream_records_of_the_family() {
    let mut t = T::new();
    t.run(&["MSET", "a", "1", "b", "2"]);
    let off = t.offset();
    t.run(&["DEL", "a", "nokey"]);
    t.run(&["UNLINK", "b"]);
    t.run(&["SET", "c", "3"]);
    t.run(&["RENAME", "c", "d"]);
    t.run(&["RENAMENX", "d", "e"]);
    t.run(&["COPY", "e", "f", "DB", "1", "REPLACE"]);
    t.run(&["MOVE", "e", "2"]);
    t.run(&["SWAPDB", "1", "2"]);
    let got = t.stream_since(off);
    assert_eq!(
        got,
        vec![
            cmd(&["DEL", "a", "nokey"]),
            cmd(&["UNLINK", "b"]),
            cmd(&["SET", "c", "3"]),
            cmd(&["RENAME", "c", "d"]),
            cmd(&["RENAMENX", "d", "e"]),
            cmd(&["COPY", "e", "f", "DB", "1", "REPLACE"]),
            cmd(&["MOVE", "e", "2"]),
            cmd(&["SWAPDB", "1", "2"]),
        ]
    );
}

#[test]
fn flushes_propagate_even_when_empty() {
    let mut t = T::new();
    let off = t.offset();
    assert_eq!(t.run(&["FLUSHDB"]), "+OK\r\n");
    assert_eq!(t.run(&["FLUSHALL", "ASYNC"]), "+OK\r\n");
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.run(&["FLUSHDB", "SYNC"]), "+OK\r\n");
    assert_eq!(t.run(&["FLUSHDB", "bad"]), "-ERR syntax error\r\n");
    assert_eq!(
        t.stream_since(off),
        vec![
            cmd(&["SELECT", "0"]),
            cmd(&["FLUSHDB"]),
            cmd(&["FLUSHALL", "ASYNC"]),
            cmd(&["SET", "k", "v"]),
            cmd(&["FLUSHDB", "SYNC"])
        ]
    );
    let d0 = t.with(|st| st.dirty);
    t.run(&["FLUSHALL"]);
    assert_eq!(t.with(|st| st.dirty), d0 + 1, "FLUSHALL counts one change even when empty");
}

#[test]
fn lazily_expired_keys_propagate_a_del_before_the_command() {
    let mut t = T::new();
    t.with(|st| st.active_expire_enabled = false);
    t.run(&["SET", "k", "v", "PXAT", "1000"]);
    // (PXAT in the past is accepted by SET: the key is stored already expired.)
    let off = t.offset();
    assert_eq!(t.run(&["TTL", "k"]), ":-2\r\n");
    assert_eq!(t.stream_since(off), vec![cmd(&["DEL", "k"])]);
    t.run(&["SET", "k2", "v", "PXAT", "1000"]);
    let off = t.offset();
    assert_eq!(t.run(&["RENAME", "k2", "x"]), "-ERR no such key\r\n");
    assert_eq!(t.stream_since(off), vec![cmd(&["DEL", "k2"])]);
    assert_eq!(t.with(|st| st.stats.expired_keys), 2);
}

#[test]
fn watch_invalidation() {
    let mut t = T::new();
    t.run(&["SET", "k", "v"]);
    t.watch(7, 0, "k");
    t.run(&["EXISTS", "k"]);
    t.run(&["TTL", "k"]);
    t.run(&["EXPIRE", "k", "100", "XX"]);
    t.run(&["PERSIST", "k"]);
    t.run(&["COPY", "k", "k2"]);
    assert!(!t.dirty(7), "reads and refused writes do not invalidate");
    t.run(&["EXPIRE", "k", "100"]);
    assert!(t.dirty(7));
    t.watch(7, 0, "k");
    t.run(&["PERSIST", "k"]);
    assert!(t.dirty(7));
    t.watch(7, 0, "k");
    t.run(&["RENAME", "k", "r"]);
    assert!(t.dirty(7), "RENAME source");
    t.watch(8, 0, "k");
    t.run(&["RENAME", "r", "k"]);
    assert!(t.dirty(8), "RENAME destination");
    t.watch(9, 3, "k");
    t.run(&["MOVE", "k", "3"]);
    assert!(t.dirty(9), "MOVE destination");
    // SWAPDB: keys existing in either database.
    t.watch(10, 3, "k");
    t.watch(11, 5, "k");
    t.watch(12, 5, "absent");
    t.watch(13, 0, "k2");
    t.run(&["SWAPDB", "3", "5"]);
    assert!(t.dirty(10) && t.dirty(11));
    assert!(!t.dirty(12) && !t.dirty(13));
    assert_eq!(t.run(&["SWAPDB", "5", "5"]), "+OK\r\n");
    // FLUSHDB / FLUSHALL: existing keys only.
    t.watch(14, 0, "absent");
    t.run(&["FLUSHDB"]);
    assert!(t.dirty(13) && !t.dirty(14));
    t.watch(15, 5, "k");
    t.run(&["FLUSHALL", "ASYNC"]);
    assert!(t.dirty(15));
    // Expiry.
    t.run(&["SET", "e", "v", "PXAT", "1000"]);
    t.watch(16, 0, "e");
    t.run(&["EXISTS", "e"]);
    assert!(t.dirty(16), "lazy expiry");
    // SWAPDB bringing in a key that is already expired changes nothing for a watcher of
    // that (absent) key.
    t.with(|st| st.active_expire_enabled = false);
    t.run(&["SELECT", "6"]);
    t.run(&["SET", "gone", "v", "PXAT", "1000"]);
    t.run(&["SELECT", "0"]);
    t.watch(18, 7, "gone");
    t.watch(19, 6, "gone");
    t.run(&["SWAPDB", "6", "7"]);
    assert!(!t.dirty(18), "absent key replaced by an expired one");
    assert!(t.dirty(19), "a key that existed (even expired) in the emptied db");
    // EXPIRE in the past.
    t.run(&["SET", "p", "v"]);
    t.watch(17, 0, "p");
    t.run(&["EXPIRE", "p", "-1"]);
    assert!(t.dirty(17));
}

#[test]
fn async_flush_frees_in_the_background() {
    let mut t = T::new();
    for i in 0..1000 {
        t.run(&["SET", &format!("k{i}"), "v"]);
    }
    let freed = crate::keyspace::lazyfree::FREED.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(t.run(&["FLUSHALL", "ASYNC"]), "+OK\r\n");
    assert_eq!(t.with(|st| st.dbs[0].len()), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while crate::keyspace::lazyfree::FREED.load(std::sync::atomic::Ordering::Relaxed) < freed + 1000 {
        assert!(std::time::Instant::now() < deadline, "lazyfree thread did not free the keys");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn scan_cursor_parsing_is_strtoul() {
    use super::parse_scan_cursor as p;
    assert_eq!(p(b""), Some(0));
    assert_eq!(p(b"0"), Some(0));
    assert_eq!(p(b"+12"), Some(12));
    assert_eq!(p(b"-1"), Some(u64::MAX));
    assert_eq!(p(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(p(b"18446744073709551616"), None);
    assert_eq!(p(b" 1"), None);
    assert_eq!(p(b"1 "), None);
    assert_eq!(p(b"+"), None);
    assert_eq!(p(b"0x1"), None);
}

#[test]
fn active_expiry_deletes_with_all_side_effects() {
    let mut t = T::new();
    for i in 0..500 {
        t.run(&["SET", &format!("dead{i}"), "v", "PXAT", "1000"]);
    }
    t.run(&["SET", "alive", "v", "PXAT", "4102444800000"]);
    t.run(&["SET", "plain", "v"]);
    t.watch(21, 0, "dead7");
    t.watch(22, 0, "alive");
    let off = t.offset();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut cycles = 0;
    while t.with(|st| st.dbs[0].len()) > 2 {
        rt.block_on(crate::server::cron::active_expire_cycle(&t.sh));
        cycles += 1;
        assert!(cycles < 1000, "active expiry made no progress");
    }
    assert_eq!(t.with(|st| st.stats.expired_keys), 500);
    assert_eq!(t.with(|st| st.dbs[0].expires.len()), 1);
    assert!(t.dirty(21), "an actively expired key invalidates WATCH");
    assert!(!t.dirty(22));
    let dels = t.stream_since(off);
    assert_eq!(dels.len(), 500);
    assert!(dels.iter().all(|c| c.len() == 2 && c[0] == "DEL" && c[1].starts_with("dead")));
    // Switched off (DEBUG SET-ACTIVE-EXPIRE 0) or on a replica, nothing is deleted.
    t.run(&["SET", "d", "v", "PXAT", "1000"]);
    t.with(|st| st.active_expire_enabled = false);
    rt.block_on(crate::server::cron::active_expire_cycle(&t.sh));
    t.with(|st| {
        st.active_expire_enabled = true;
        st.is_replica = true;
    });
    rt.block_on(crate::server::cron::active_expire_cycle(&t.sh));
    assert_eq!(t.with(|st| st.dbs[0].len()), 3);
}
