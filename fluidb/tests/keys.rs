//! Generic keyspace commands and databases: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN,
//! RANDOMKEY, RENAME, RENAMENX, COPY, MOVE, SWAPDB, FLUSHDB, FLUSHALL, DBSIZE, TOUCH, OBJECT.

mod common;
use common::*;

use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Sends a command and returns the raw reply.
fn q(r: &mut Raw, args: &[&str]) -> String {
    r.call(args)
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{}\r\n", s.len(), s)
}

fn err(msg: &str) -> String {
    format!("-{msg}\r\n")
}

/// Writes `n` `SET prefix<i> <i>` commands in one pipeline and checks every reply.
fn fill(r: &mut Raw, prefix: &str, n: usize, extra: &[&str]) {
    let mut buf = Vec::new();
    for i in 0..n {
        let k = format!("{prefix}{i}");
        let v = i.to_string();
        let mut a: Vec<&[u8]> = vec![b"SET", k.as_bytes(), v.as_bytes()];
        a.extend(extra.iter().map(|s| s.as_bytes()));
        buf.extend(encode(&a));
        if buf.len() > 1 << 20 {
            r.send(&buf);
            buf.clear();
        }
    }
    r.send(&buf);
    for _ in 0..n {
        assert_eq!(r.read_reply(), b"+OK\r\n");
    }
}

/// Full SCAN iteration with the given extra options; returns every key seen (with repeats).
fn scan_all(c: &mut redis::Connection, opts: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN").arg(&cursor).arg(opts).query(c).expect("SCAN");
        all.extend(keys);
        calls += 1;
        assert!(calls < 1_000_000, "SCAN did not terminate");
        if next == "0" {
            return all;
        }
        cursor = next;
    }
}

#[test]
fn del_unlink_exists_touch_count_existing_keys() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(int(&mut r, &["EXISTS", "a"]), 1);
    assert_eq!(int(&mut r, &["EXISTS", "a", "b", "c", "nokey"]), 3);
    // A key named several times is counted each time.
    assert_eq!(int(&mut r, &["EXISTS", "a", "a", "a"]), 3);
    assert_eq!(int(&mut r, &["TOUCH", "a", "a", "nokey", "b"]), 3);
    assert_eq!(int(&mut r, &["DEL", "a", "nokey", "a"]), 1);
    assert_eq!(int(&mut r, &["DEL", "a"]), 0);
    assert_eq!(int(&mut r, &["UNLINK", "b", "c", "b"]), 2);
    assert_eq!(int(&mut r, &["EXISTS", "a", "b", "c"]), 0);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    for cmd in ["DEL", "UNLINK", "EXISTS", "TOUCH"] {
        let want = format!("-ERR wrong number of arguments for '{}' command\r\n", cmd.to_lowercase());
        assert_eq!(q(&mut r, &[cmd]), want);
    }
    // Binary-safe key names.
    r.cmd(&[b"SET", b"k\x00\r\n", b"v"]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    r.cmd(&[b"EXISTS", b"k\x00\r\n", b"k"]);
    assert_eq!(r.read_reply(), b":1\r\n");
    r.cmd(&[b"UNLINK", b"k\x00\r\n"]);
    assert_eq!(r.read_reply(), b":1\r\n");
}

#[test]
fn unlink_of_many_keys_frees_them() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    fill(&mut r, "u", 2000, &[]);
    let mut args = vec!["UNLINK".to_string()];
    args.extend((0..2000).map(|i| format!("u{i}")));
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    assert_eq!(int(&mut r, &a), 2000);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
}

fn info_int(r: &mut Raw, section: &str, field: &str) -> i64 {
    let info = q(r, &["INFO", section]);
    let prefix = format!("{field}:");
    let v = info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {field} in {info}"));
    v.trim().parse().unwrap_or_else(|_| panic!("{field}: {v}"))
}

/// SADD of `n` members to `key` in one command.
fn big_set(r: &mut Raw, key: &str, n: usize) {
    let mut args = vec!["SADD".to_string(), key.to_string()];
    args.extend((0..n).map(|i| i.to_string()));
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    assert_eq!(int(r, &a), n as i64);
}

#[test]
fn lazyfree_counts_in_info_as_redis() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let freed = |r: &mut Raw, n: i64| {
        wait_for("the lazyfree thread", Duration::from_secs(10), || {
            info_int(r, "memory", "lazyfreed_objects") == n && info_int(r, "memory", "lazyfree_pending_objects") == 0
        })
    };
    assert_eq!(info_int(&mut r, "memory", "lazyfreed_objects"), 0);
    // UNLINK of a large value: one object freed in the background; a small one inline.
    big_set(&mut r, "big", 1000);
    ok(&mut r, &["SET", "small", "v"]);
    assert_eq!(int(&mut r, &["UNLINK", "big", "small"]), 2);
    freed(&mut r, 1);
    // DEL only under lazyfree-lazy-user-del.
    big_set(&mut r, "big", 1000);
    assert_eq!(int(&mut r, &["DEL", "big"]), 1);
    freed(&mut r, 1);
    ok(&mut r, &["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    big_set(&mut r, "big", 1000);
    assert_eq!(int(&mut r, &["DEL", "big"]), 1);
    freed(&mut r, 2);
    // A value the server overwrites, under lazyfree-lazy-server-del.
    big_set(&mut r, "big", 1000);
    ok(&mut r, &["SET", "big", "v"]);
    freed(&mut r, 2);
    ok(&mut r, &["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]);
    big_set(&mut r, "big2", 1000);
    ok(&mut r, &["SET", "big2", "v"]);
    freed(&mut r, 3);
    // FLUSHALL ASYNC counts every key.
    ok(&mut r, &["FLUSHALL"]);
    fill(&mut r, "f", 10, &[]);
    ok(&mut r, &["FLUSHALL", "ASYNC"]);
    freed(&mut r, 13);
    ok(&mut r, &["CONFIG", "RESETSTAT"]);
    assert_eq!(info_int(&mut r, "memory", "lazyfreed_objects"), 0);
}

#[test]
fn a_large_request_does_not_pin_memory() {
    // A 100,000-argument command grows the connection's buffers; they are given back once
    // it has run, so deleting what it created frees about everything (Redis's lazyfree
    // test measures this with the connection still open).
    let s = Server::start(&[]);
    let mut r = s.raw();
    let orig = info_int(&mut r, "memory", "used_memory");
    big_set(&mut r, "myset", 100_000);
    let peak = info_int(&mut r, "memory", "used_memory");
    assert!(peak > orig + 1_000_000, "{orig} -> {peak}");
    assert_eq!(int(&mut r, &["UNLINK", "myset"]), 1);
    wait_for("memory to be given back", Duration::from_secs(10), || {
        let now = info_int(&mut r, "memory", "used_memory");
        now < peak && now < orig * 2
    });
}

#[test]
fn type_and_dbsize() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(q(&mut r, &["TYPE", "nokey"]), "+none\r\n");
    ok(&mut r, &["SET", "s", "hello"]);
    ok(&mut r, &["SET", "n", "12"]);
    assert_eq!(q(&mut r, &["TYPE", "s"]), "+string\r\n");
    assert_eq!(q(&mut r, &["TYPE", "n"]), "+string\r\n");
    assert_eq!(q(&mut r, &["TYPE"]), err("ERR wrong number of arguments for 'type' command"));
    assert_eq!(int(&mut r, &["DBSIZE"]), 2);
    assert_eq!(q(&mut r, &["DBSIZE", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
    ok(&mut r, &["SELECT", "5"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["SET", "x", "1"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 1);
    ok(&mut r, &["SELECT", "0"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 2);
    // A logically expired key is still counted by DBSIZE (as Redis), but TYPE sees none.
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "e", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(int(&mut r, &["DBSIZE"]), 3);
    assert_eq!(q(&mut r, &["TYPE", "e"]), "+none\r\n");
    assert_eq!(int(&mut r, &["DBSIZE"]), 2);
}

#[test]
fn keys_matches_glob_patterns_and_skips_expired_keys() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut c = s.client();
    ok(&mut r, &["MSET", "foo", "1", "foobar", "2", "bar", "3", "fxo", "4"]);
    let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    k.sort();
    assert_eq!(k, ["bar", "foo", "foobar", "fxo"]);
    let mut k: Vec<String> = redis::cmd("KEYS").arg("f?o").query(&mut c).unwrap();
    k.sort();
    assert_eq!(k, ["foo", "fxo"]);
    let k: Vec<String> = redis::cmd("KEYS").arg("*bar").query(&mut c).unwrap();
    assert_eq!(k.len(), 2);
    assert_eq!(q(&mut r, &["KEYS", "nomatch*"]), "*0\r\n");
    assert_eq!(q(&mut r, &["KEYS", "FOO"]), "*0\r\n", "KEYS is case sensitive");
    assert_eq!(q(&mut r, &["KEYS", "bar"]), "*1\r\n$3\r\nbar\r\n");
    assert_eq!(q(&mut r, &["KEYS"]), err("ERR wrong number of arguments for 'keys' command"));
    // Expired keys are not listed, and KEYS does not delete them.
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(q(&mut r, &["KEYS", "gone"]), "*0\r\n");
    assert_eq!(int(&mut r, &["DBSIZE"]), 5);
}

#[test]
fn scan_full_iteration_returns_every_key_once() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut c = s.client();
    let n = 5000;
    fill(&mut r, "key:", n, &[]);
    for count in ["1", "10", "97", "10000"] {
        let all = scan_all(&mut c, &["COUNT", count]);
        let set: HashSet<&String> = all.iter().collect();
        assert_eq!(set.len(), n, "COUNT {count}: every key is returned");
        assert_eq!(all.len(), n, "COUNT {count}: no key is returned twice on an unmodified database");
    }
    // The default COUNT is 10: a step returns about that many keys.
    let (_, keys): (String, Vec<String>) = redis::cmd("SCAN").arg("0").query(&mut c).unwrap();
    assert!(!keys.is_empty() && keys.len() <= 20, "{} keys", keys.len());
    // MATCH filters after collecting.
    let m = scan_all(&mut c, &["MATCH", "key:1??", "COUNT", "100"]);
    let mut m2: Vec<String> = m.clone();
    m2.sort();
    let mut want: Vec<String> = (100..200).map(|i| format!("key:{i}")).collect();
    want.sort();
    assert_eq!(m2, want);
    // MATCH * is no filter.
    assert_eq!(scan_all(&mut c, &["MATCH", "*", "COUNT", "1000"]).len(), n);
    // TYPE filters by type name, case-insensitively.
    assert_eq!(scan_all(&mut c, &["TYPE", "string", "COUNT", "1000"]).len(), n);
    assert_eq!(scan_all(&mut c, &["TYPE", "STRING", "COUNT", "1000"]).len(), n);
    assert_eq!(scan_all(&mut c, &["TYPE", "hash", "COUNT", "1000"]).len(), 0);
    assert_eq!(scan_all(&mut c, &["TYPE", "string", "MATCH", "key:4999"]), ["key:4999"]);
}

#[test]
fn scan_keeps_keys_present_for_the_whole_iteration_despite_writes() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut c = s.client();
    fill(&mut r, "stable:", 2000, &[]);
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut i = 0;
    loop {
        let (next, keys): (String, Vec<String>) =
            redis::cmd("SCAN").arg(&cursor).arg("COUNT").arg(50).query(&mut c).unwrap();
        seen.extend(keys);
        // Keys deleted and added during the iteration must not hide the stable ones.
        ok(&mut r, &["SET", &format!("volatile:{i}"), "x"]);
        if i > 0 {
            assert_eq!(int(&mut r, &["DEL", &format!("volatile:{}", i - 1)]), 1);
        }
        i += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for k in 0..2000 {
        assert!(seen.contains(&format!("stable:{k}")), "stable:{k} missed");
    }
}

#[test]
fn scan_reply_shape_and_errors() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(q(&mut r, &["SCAN", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
    ok(&mut r, &["SET", "only", "1"]);
    assert_eq!(q(&mut r, &["SCAN", "0", "COUNT", "100"]), "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nonly\r\n");
    // strtoul-like cursor: empty is 0, a sign is accepted.
    assert_eq!(q(&mut r, &["SCAN", "", "COUNT", "100"]), "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nonly\r\n");
    assert_eq!(q(&mut r, &["SCAN", "+0", "COUNT", "100"]), "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nonly\r\n");
    for bad in [" 0", "0 ", "abc", "0x1", "+", "-", "18446744073709551616", "1.5"] {
        assert_eq!(q(&mut r, &["SCAN", bad]), err("ERR invalid cursor"), "cursor {bad:?}");
    }
    assert_eq!(q(&mut r, &["SCAN", "0", "COUNT", "0"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["SCAN", "0", "COUNT", "-1"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["SCAN", "0", "COUNT", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(q(&mut r, &["SCAN", "0", "COUNT"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["SCAN", "0", "MATCH"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["SCAN", "0", "TYPE"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["SCAN", "0", "FOO", "bar"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["SCAN"]), err("ERR wrong number of arguments for 'scan' command"));
    // A huge COUNT is accepted (and bounded by the database size).
    assert_eq!(q(&mut r, &["SCAN", "0", "COUNT", "9223372036854775807"]), "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nonly\r\n");
}

#[test]
fn scan_deletes_expired_keys_it_meets() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut c = s.client();
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    fill(&mut r, "live", 100, &[]);
    fill(&mut r, "dead", 100, &["PX", "1"]);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(int(&mut r, &["DBSIZE"]), 200);
    let all = scan_all(&mut c, &["COUNT", "7"]);
    assert_eq!(all.len(), 100);
    assert!(all.iter().all(|k| k.starts_with("live")));
    assert_eq!(int(&mut r, &["DBSIZE"]), 100, "SCAN deleted the expired keys it visited");
}

#[test]
fn randomkey_returns_live_keys_and_deletes_expired_ones() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(q(&mut r, &["RANDOMKEY"]), "$-1\r\n");
    ok(&mut r, &["SET", "only", "1"]);
    assert_eq!(q(&mut r, &["RANDOMKEY"]), bulk("only"));
    ok(&mut r, &["MSET", "a", "1", "b", "2"]);
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let rep = q(&mut r, &["RANDOMKEY"]);
        assert!([bulk("only"), bulk("a"), bulk("b")].contains(&rep), "{rep}");
        seen.insert(rep);
    }
    assert_eq!(seen.len(), 3, "every key comes up");
    ok(&mut r, &["FLUSHALL"]);
    // Every key expired: RANDOMKEY deletes them while looking and answers nil.
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    fill(&mut r, "x", 50, &["PX", "1"]);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(q(&mut r, &["RANDOMKEY"]), "$-1\r\n");
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    fill(&mut r, "y", 50, &["PX", "1"]);
    ok(&mut r, &["SET", "persistent", "v"]);
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(q(&mut r, &["RANDOMKEY"]), bulk("persistent"));
    assert_eq!(q(&mut r, &["RANDOMKEY", "x"]), err("ERR wrong number of arguments for 'randomkey' command"));
}

#[test]
fn rename_and_renamenx() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(q(&mut r, &["RENAME", "nokey", "x"]), err("ERR no such key"));
    assert_eq!(q(&mut r, &["RENAMENX", "nokey", "x"]), err("ERR no such key"));
    assert_eq!(q(&mut r, &["RENAME", "nokey", "nokey"]), err("ERR no such key"));
    ok(&mut r, &["SET", "src", "hello"]);
    ok(&mut r, &["RENAME", "src", "dst"]);
    assert_eq!(q(&mut r, &["GET", "src"]), "$-1\r\n");
    assert_eq!(q(&mut r, &["GET", "dst"]), bulk("hello"));
    // Same name: nothing to do, but the key must exist.
    ok(&mut r, &["RENAME", "dst", "dst"]);
    assert_eq!(int(&mut r, &["RENAMENX", "dst", "dst"]), 0);
    assert_eq!(q(&mut r, &["GET", "dst"]), bulk("hello"));
    // Overwrite with RENAME, refuse with RENAMENX.
    ok(&mut r, &["SET", "other", "world"]);
    assert_eq!(int(&mut r, &["RENAMENX", "dst", "other"]), 0);
    assert_eq!(q(&mut r, &["GET", "other"]), bulk("world"));
    assert_eq!(int(&mut r, &["RENAMENX", "dst", "fresh"]), 1);
    ok(&mut r, &["RENAME", "fresh", "other"]);
    assert_eq!(q(&mut r, &["GET", "other"]), bulk("hello"));
    assert_eq!(int(&mut r, &["EXISTS", "dst", "fresh"]), 0);
    // The TTL travels with the value; the destination's own TTL is replaced.
    assert_eq!(int(&mut r, &["PEXPIREAT", "other", "99999999999999"]), 1);
    ok(&mut r, &["SET", "target", "x", "PXAT", "88888888888888"]);
    ok(&mut r, &["RENAME", "other", "target"]);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "target"]), 99999999999999);
    ok(&mut r, &["SET", "plain", "p"]);
    ok(&mut r, &["SET", "t2", "x", "PXAT", "88888888888888"]);
    ok(&mut r, &["RENAME", "plain", "t2"]);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "t2"]), -1, "a key without TTL stays without");
    // The encoding is preserved.
    ok(&mut r, &["SET", "num", "123"]);
    ok(&mut r, &["RENAME", "num", "num2"]);
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "num2"]), bulk("int"));
    // An expired source is a missing key.
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "exp", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(q(&mut r, &["RENAME", "exp", "y"]), err("ERR no such key"));
    assert_eq!(q(&mut r, &["RENAME", "a"]), err("ERR wrong number of arguments for 'rename' command"));
    assert_eq!(q(&mut r, &["RENAMENX", "a", "b", "c"]), err("ERR wrong number of arguments for 'renamenx' command"));
}

#[test]
fn copy_with_db_and_replace() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "cs", "42"]);
    assert_eq!(int(&mut r, &["COPY", "cs", "cd"]), 1);
    assert_eq!(q(&mut r, &["GET", "cd"]), bulk("42"));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "cd"]), bulk("int"));
    assert_eq!(int(&mut r, &["COPY", "cs", "cd"]), 0);
    ok(&mut r, &["SET", "cs", "new"]);
    assert_eq!(int(&mut r, &["COPY", "cs", "cd", "REPLACE"]), 1);
    assert_eq!(q(&mut r, &["GET", "cd"]), bulk("new"));
    assert_eq!(int(&mut r, &["COPY", "nokey", "cd", "REPLACE"]), 0);
    assert_eq!(q(&mut r, &["GET", "cd"]), bulk("new"));
    // The copy is independent of the source.
    ok(&mut r, &["SET", "cs", "changed"]);
    assert_eq!(q(&mut r, &["GET", "cd"]), bulk("new"));
    // To another database.
    assert_eq!(int(&mut r, &["COPY", "cs", "cs", "DB", "3"]), 1);
    assert_eq!(int(&mut r, &["COPY", "cs", "cs", "DB", "3"]), 0);
    assert_eq!(int(&mut r, &["COPY", "cs", "cs", "db", "3", "replace"]), 1);
    ok(&mut r, &["SELECT", "3"]);
    assert_eq!(q(&mut r, &["GET", "cs"]), bulk("changed"));
    ok(&mut r, &["SELECT", "0"]);
    // TTL is copied.
    ok(&mut r, &["SET", "t", "v", "PXAT", "99999999999999"]);
    assert_eq!(int(&mut r, &["COPY", "t", "t2"]), 1);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "t2"]), 99999999999999);
    // Errors.
    assert_eq!(q(&mut r, &["COPY", "cs", "cs"]), err("ERR source and destination objects are the same"));
    assert_eq!(q(&mut r, &["COPY", "cs", "cs", "DB", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(q(&mut r, &["COPY", "cs", "x", "DB"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["COPY", "cs", "x", "FOO"]), err("ERR syntax error"));
    assert_eq!(q(&mut r, &["COPY", "cs", "x", "DB", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(q(&mut r, &["COPY", "cs", "x", "DB", "16"]), err("ERR DB index is out of range"));
    assert_eq!(q(&mut r, &["COPY", "cs", "x", "DB", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(
        q(&mut r, &["COPY", "cs", "x", "DB", "2147483648"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(q(&mut r, &["COPY", "cs"]), err("ERR wrong number of arguments for 'copy' command"));
    assert_eq!(int(&mut r, &["EXISTS", "x"]), 0);
}

#[test]
fn move_between_databases() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "mk", "v", "PXAT", "99999999999999"]);
    assert_eq!(int(&mut r, &["MOVE", "mk", "1"]), 1);
    assert_eq!(int(&mut r, &["EXISTS", "mk"]), 0);
    assert_eq!(int(&mut r, &["MOVE", "mk", "1"]), 0, "no key in the source");
    ok(&mut r, &["SELECT", "1"]);
    assert_eq!(q(&mut r, &["GET", "mk"]), bulk("v"));
    assert_eq!(int(&mut r, &["PEXPIRETIME", "mk"]), 99999999999999, "TTL moves along");
    ok(&mut r, &["SELECT", "0"]);
    ok(&mut r, &["SET", "mk", "other"]);
    assert_eq!(int(&mut r, &["MOVE", "mk", "1"]), 0, "the key exists in the target");
    assert_eq!(q(&mut r, &["GET", "mk"]), bulk("other"));
    assert_eq!(q(&mut r, &["MOVE", "mk", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(q(&mut r, &["MOVE", "nokey", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(q(&mut r, &["MOVE", "mk", "16"]), err("ERR DB index is out of range"));
    assert_eq!(q(&mut r, &["MOVE", "mk", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(q(&mut r, &["MOVE", "mk", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        q(&mut r, &["MOVE", "mk", "-2147483649"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(q(&mut r, &["MOVE", "mk"]), err("ERR wrong number of arguments for 'move' command"));
}

#[test]
fn swapdb_swaps_contents_for_every_client() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut other = s.raw();
    ok(&mut r, &["SET", "d0", "zero"]);
    ok(&mut other, &["SELECT", "1"]);
    ok(&mut other, &["SET", "d1", "one"]);
    ok(&mut other, &["SET", "x", "in1", "PXAT", "99999999999999"]);
    ok(&mut r, &["SWAPDB", "0", "1"]);
    // Clients stay in their database number and see the other contents.
    assert_eq!(q(&mut r, &["GET", "d1"]), bulk("one"));
    assert_eq!(q(&mut r, &["GET", "d0"]), "$-1\r\n");
    assert_eq!(int(&mut r, &["PEXPIRETIME", "x"]), 99999999999999);
    assert_eq!(q(&mut other, &["GET", "d0"]), bulk("zero"));
    assert_eq!(int(&mut other, &["DBSIZE"]), 1);
    ok(&mut r, &["SWAPDB", "0", "0"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 2);
    ok(&mut r, &["SWAPDB", "1", "0"]);
    assert_eq!(q(&mut r, &["GET", "d0"]), bulk("zero"));
    assert_eq!(q(&mut r, &["SWAPDB", "a", "1"]), err("ERR invalid first DB index"));
    assert_eq!(q(&mut r, &["SWAPDB", "1", "b"]), err("ERR invalid second DB index"));
    assert_eq!(q(&mut r, &["SWAPDB", "2147483648", "0"]), err("ERR invalid first DB index"));
    assert_eq!(q(&mut r, &["SWAPDB", "0", "16"]), err("ERR DB index is out of range"));
    assert_eq!(q(&mut r, &["SWAPDB", "-1", "0"]), err("ERR DB index is out of range"));
    assert_eq!(q(&mut r, &["SWAPDB", "0"]), err("ERR wrong number of arguments for 'swapdb' command"));
}

#[test]
fn flushdb_and_flushall_sync_and_async() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    fill(&mut r, "a", 100, &[]);
    ok(&mut r, &["SELECT", "2"]);
    fill(&mut r, "b", 100, &["PX", "100000"]);
    ok(&mut r, &["FLUSHDB"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["SELECT", "0"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 100, "FLUSHDB empties only the current database");
    ok(&mut r, &["FLUSHDB", "ASYNC"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["FLUSHDB", "sync"]);
    fill(&mut r, "a", 10, &[]);
    ok(&mut r, &["SELECT", "9"]);
    fill(&mut r, "c", 10, &[]);
    ok(&mut r, &["FLUSHALL", "SYNC"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["SELECT", "0"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    fill(&mut r, "a", 10, &[]);
    ok(&mut r, &["FLUSHALL", "async"]);
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    ok(&mut r, &["FLUSHALL"]);
    for cmd in ["FLUSHDB", "FLUSHALL"] {
        assert_eq!(q(&mut r, &[cmd, "foo"]), err("ERR syntax error"));
        assert_eq!(q(&mut r, &[cmd, "ASYNC", "SYNC"]), err("ERR syntax error"));
    }
    // The keyspace is usable right away after an async flush.
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(q(&mut r, &["GET", "k"]), bulk("v"));
}

#[test]
fn flushall_async_of_a_big_dataset_does_not_block_other_clients() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut pinger = s.raw();
    let n = 300_000;
    fill(&mut r, "big:key:", n, &[]);
    assert_eq!(int(&mut r, &["DBSIZE"]), n as i64);
    let t = Instant::now();
    ok(&mut r, &["FLUSHALL", "ASYNC"]);
    let flush_time = t.elapsed();
    let mut worst = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        assert_eq!(q(&mut pinger, &["PING"]), "+PONG\r\n");
        worst = worst.max(t.elapsed());
    }
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    assert!(flush_time < Duration::from_millis(200), "FLUSHALL ASYNC took {flush_time:?}");
    assert!(worst < Duration::from_millis(50), "PING waited {worst:?} while the old keys were freed");
}

#[test]
fn object_encoding_refcount_idletime_freq_help() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "int", "12345"]);
    ok(&mut r, &["SET", "small", "100"]);
    ok(&mut r, &["SET", "neg", "-5"]);
    ok(&mut r, &["SET", "emb", "hello"]);
    ok(&mut r, &["SET", "lead0", "0123"]);
    ok(&mut r, &["SET", "raw", &"a".repeat(45)]);
    ok(&mut r, &["SET", "emb44", &"a".repeat(44)]);
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "int"]), bulk("int"));
    assert_eq!(q(&mut r, &["OBJECT", "encoding", "neg"]), bulk("int"));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "emb"]), bulk("embstr"));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "lead0"]), bulk("embstr"));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "emb44"]), bulk("embstr"));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "raw"]), bulk("raw"));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "nokey"]), "$-1\r\n");
    // Small non-negative integers are shared objects.
    assert_eq!(int(&mut r, &["OBJECT", "REFCOUNT", "small"]), 2147483647);
    assert_eq!(int(&mut r, &["OBJECT", "REFCOUNT", "int"]), 1);
    assert_eq!(int(&mut r, &["OBJECT", "REFCOUNT", "neg"]), 1);
    assert_eq!(int(&mut r, &["OBJECT", "REFCOUNT", "emb"]), 1);
    assert_eq!(q(&mut r, &["OBJECT", "REFCOUNT", "nokey"]), "$-1\r\n");
    // IDLETIME grows while the key is not accessed; TOUCH (a read) resets it; OBJECT
    // itself does not.
    assert_eq!(int(&mut r, &["OBJECT", "IDLETIME", "emb"]), 0);
    wait_for("idle time to grow", Duration::from_secs(5), || int(&mut r, &["OBJECT", "IDLETIME", "emb"]) >= 2);
    assert_eq!(int(&mut r, &["EXISTS", "emb"]), 1);
    assert_eq!(q(&mut r, &["TYPE", "emb"]), "+string\r\n");
    assert_eq!(int(&mut r, &["TTL", "emb"]), -1);
    assert!(int(&mut r, &["OBJECT", "IDLETIME", "emb"]) >= 2, "EXISTS/TYPE/TTL do not touch the key");
    assert_eq!(int(&mut r, &["TOUCH", "emb"]), 1);
    assert_eq!(int(&mut r, &["OBJECT", "IDLETIME", "emb"]), 0);
    assert_eq!(q(&mut r, &["OBJECT", "IDLETIME", "nokey"]), "$-1\r\n");
    assert_eq!(
        q(&mut r, &["OBJECT", "FREQ", "emb"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    assert_eq!(q(&mut r, &["OBJECT", "FREQ", "nokey"]), "$-1\r\n");
    let help = q(&mut r, &["OBJECT", "HELP"]);
    assert!(help.starts_with("*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"), "{help}");
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"), "{help}");
    assert_eq!(q(&mut r, &["OBJECT"]), err("ERR wrong number of arguments for 'object' command"));
    assert_eq!(q(&mut r, &["OBJECT", "FOO"]), err("ERR unknown subcommand 'FOO'. Try OBJECT HELP."));
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING"]), err("ERR wrong number of arguments for 'object|encoding' command"));
    assert_eq!(q(&mut r, &["OBJECT", "HELP", "x"]), err("ERR wrong number of arguments for 'object|help' command"));
}

#[test]
fn resp3_null_replies() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let hello = q(&mut r, &["HELLO", "3"]);
    assert!(hello.starts_with('%'), "{hello}");
    assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "nokey"]), "_\r\n");
    assert_eq!(q(&mut r, &["RANDOMKEY"]), "_\r\n");
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(q(&mut r, &["SCAN", "0"]), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n");
    assert_eq!(q(&mut r, &["KEYS", "*"]), "*1\r\n$1\r\nk\r\n");
    assert_eq!(q(&mut r, &["TYPE", "k"]), "+string\r\n");
}

#[test]
fn keyspace_events_of_the_family() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut sub = s.raw();
    ok(&mut r, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    sub.call(&["PSUBSCRIBE", "__keyevent@*__:*"]);
    let expect = |sub: &mut Raw, db: usize, event: &str, key: &str| {
        let got = String::from_utf8_lossy(&sub.read_reply()).into_owned();
        let ch = format!("__keyevent@{db}__:{event}");
        let want = format!(
            "*4\r\n$8\r\npmessage\r\n$16\r\n__keyevent@*__:*\r\n${}\r\n{}\r\n${}\r\n{}\r\n",
            ch.len(),
            ch,
            key.len(),
            key
        );
        assert_eq!(got, want);
    };
    ok(&mut r, &["SET", "a", "1"]);
    expect(&mut sub, 0, "set", "a");
    assert_eq!(int(&mut r, &["EXPIRE", "a", "100"]), 1);
    expect(&mut sub, 0, "expire", "a");
    assert_eq!(int(&mut r, &["PERSIST", "a"]), 1);
    expect(&mut sub, 0, "persist", "a");
    ok(&mut r, &["RENAME", "a", "b"]);
    expect(&mut sub, 0, "rename_from", "a");
    expect(&mut sub, 0, "rename_to", "b");
    assert_eq!(int(&mut r, &["COPY", "b", "c", "DB", "2"]), 1);
    expect(&mut sub, 2, "copy_to", "c");
    assert_eq!(int(&mut r, &["MOVE", "b", "3"]), 1);
    expect(&mut sub, 0, "move_from", "b");
    expect(&mut sub, 3, "move_to", "b");
    ok(&mut r, &["SET", "d", "1"]);
    expect(&mut sub, 0, "set", "d");
    assert_eq!(int(&mut r, &["EXPIRE", "d", "-1"]), 1);
    expect(&mut sub, 0, "del", "d");
    ok(&mut r, &["SET", "e", "1"]);
    expect(&mut sub, 0, "set", "e");
    assert_eq!(int(&mut r, &["UNLINK", "e", "nokey"]), 1);
    expect(&mut sub, 0, "del", "e");
    // Lazy expiry emits "expired".
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "f", "1", "PX", "1"]);
    expect(&mut sub, 0, "set", "f");
    expect(&mut sub, 0, "expire", "f");
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(int(&mut r, &["EXISTS", "f"]), 0);
    expect(&mut sub, 0, "expired", "f");
    // Commands that change nothing emit nothing; the next event is the marker.
    assert_eq!(int(&mut r, &["DEL", "nokey"]), 0);
    assert_eq!(int(&mut r, &["PERSIST", "c"]), 0);
    assert_eq!(int(&mut r, &["EXPIRE", "nokey", "10"]), 0);
    ok(&mut r, &["SET", "marker", "1"]);
    expect(&mut sub, 0, "set", "marker");
}

/// Runs `body` between WATCH `key` (from `db`) and EXEC; returns whether EXEC ran.
fn watched_exec(w: &mut Raw, db: &str, key: &str, body: impl FnOnce()) -> bool {
    ok(w, &["SELECT", db]);
    ok(w, &["WATCH", key]);
    body();
    ok(w, &["MULTI"]);
    assert_eq!(q(w, &["PING"]), "+QUEUED\r\n");
    let rep = q(w, &["EXEC"]);
    match rep.as_str() {
        "*-1\r\n" => false,
        "*1\r\n+PONG\r\n" => true,
        other => panic!("EXEC: {other}"),
    }
}

#[test]
fn writes_of_the_family_invalidate_watch() {
    let s = Server::start(&[]);
    let mut w = s.raw();
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    assert!(!watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["DEL", "k"]), 1)));
    assert!(watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["DEL", "k"]), 0)));
    ok(&mut r, &["SET", "k", "v"]);
    assert!(!watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["EXPIRE", "k", "100"]), 1)));
    assert!(!watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["PERSIST", "k"]), 1)));
    assert!(watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["PERSIST", "k"]), 0)));
    assert!(watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "XX"]), 0)));
    assert!(!watched_exec(&mut w, "0", "k2", || ok(&mut r, &["RENAME", "k", "k2"])));
    assert!(!watched_exec(&mut w, "0", "k2", || ok(&mut r, &["RENAME", "k2", "k"])));
    assert!(!watched_exec(&mut w, "0", "c", || assert_eq!(int(&mut r, &["COPY", "k", "c"]), 1)));
    assert!(watched_exec(&mut w, "0", "k", || assert_eq!(int(&mut r, &["COPY", "k", "c2"]), 1)));
    assert!(!watched_exec(&mut w, "1", "k", || assert_eq!(int(&mut r, &["MOVE", "k", "1"]), 1)));
    assert!(watched_exec(&mut w, "0", "x", || assert_eq!(int(&mut r, &["UNLINK", "nokey"]), 0)));
    // FLUSHDB/FLUSHALL touch only keys that existed.
    assert!(!watched_exec(&mut w, "0", "c", || ok(&mut r, &["FLUSHDB"])));
    assert!(watched_exec(&mut w, "0", "c", || ok(&mut r, &["FLUSHDB"])));
    ok(&mut r, &["SELECT", "1"]);
    assert!(!watched_exec(&mut w, "1", "k", || ok(&mut r, &["FLUSHALL", "ASYNC"])));
    ok(&mut r, &["SELECT", "0"]);
    // SWAPDB touches watched keys that exist in either database.
    ok(&mut r, &["SET", "in0", "v"]);
    assert!(!watched_exec(&mut w, "5", "in0", || ok(&mut r, &["SWAPDB", "0", "5"])));
    assert!(!watched_exec(&mut w, "0", "in0", || ok(&mut r, &["SWAPDB", "0", "5"])));
    assert!(watched_exec(&mut w, "0", "nowhere", || ok(&mut r, &["SWAPDB", "0", "5"])));
    assert!(watched_exec(&mut w, "7", "in0", || ok(&mut r, &["SWAPDB", "0", "5"])));
    // Reads do not.
    ok(&mut r, &["SELECT", "0"]);
    ok(&mut r, &["SET", "rd", "v"]);
    assert!(watched_exec(&mut w, "0", "rd", || {
        assert_eq!(int(&mut r, &["EXISTS", "rd"]), 1);
        assert_eq!(int(&mut r, &["TOUCH", "rd"]), 1);
        assert_eq!(int(&mut r, &["TTL", "rd"]), -1);
        assert_eq!(q(&mut r, &["TYPE", "rd"]), "+string\r\n");
        assert!(!q(&mut r, &["RANDOMKEY"]).is_empty());
        assert_eq!(q(&mut r, &["OBJECT", "ENCODING", "rd"]), bulk("embstr"));
    }));
}

#[test]
fn expired_keys_invalidate_watch() {
    let s = Server::start(&[]);
    let mut w = s.raw();
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v", "PX", "50"]);
    let ran = watched_exec(&mut w, "0", "k", || {
        wait_for("k to expire", Duration::from_secs(10), || int(&mut r, &["EXISTS", "k"]) == 0);
    });
    assert!(!ran, "a WATCHed key that expired fails the transaction");
}
