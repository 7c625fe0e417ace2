//! Lists against the real binary: large multi-node lists (positive and negative
//! `list-max-listpack-size`, compressed inner nodes, plain nodes) checked against a model,
//! LRANGE windows, LPOS options, WRONGTYPE, keyspace events, COMMAND INFO equal to
//! redis-server's, DEBUG QUICKLIST / LISTPACK / QUICKLIST-PACKED-THRESHOLD, DEBUG OBJECT's
//! quicklist fields against redis-server's, and plain / compressed nodes through DEBUG
//! RELOAD, DUMP / RESTORE and Redis 7.0's own DUMP payloads.

mod common;
use common::*;

use std::collections::VecDeque;

/// Bulk strings of a flat array reply.
fn bulks(rep: &str) -> Vec<String> {
    let lines: Vec<&str> = rep.split("\r\n").collect();
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

/// Pushes `items` with RPUSH, 100 per command, pipelined.
fn load(r: &mut Raw, key: &str, items: &[String]) {
    let mut sent = 0;
    for chunk in items.chunks(100) {
        let mut args: Vec<&[u8]> = vec![b"RPUSH", key.as_bytes()];
        args.extend(chunk.iter().map(|s| s.as_bytes()));
        r.cmd(&args);
        sent += 1;
    }
    for _ in 0..sent {
        r.read_reply();
    }
}

/// Runs the model check with `list-max-listpack-size` = `fill`, `list-compress-depth` =
/// `depth` and, when given, a packed threshold (elements of at least that size get plain
/// nodes).
fn check_against_model(fill: &str, depth: &str, threshold: Option<&str>) {
    let s = Server::start(&["--list-max-listpack-size", fill, "--list-compress-depth", depth]);
    let mut r = s.raw();
    if let Some(t) = threshold {
        ok(&mut r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", t]);
    }
    let n = 20_000usize;
    let items: Vec<String> = (0..n).map(|i| format!("element:{i}")).collect();
    load(&mut r, "l", &items);
    let mut m: VecDeque<String> = items.iter().cloned().collect();
    assert_eq!(int(&mut r, &["LLEN", "l"]), n as i64);
    assert_eq!(r.call(&["OBJECT", "ENCODING", "l"]), "$9\r\nquicklist\r\n");
    // LINDEX from both ends and the middle.
    for i in [0usize, 1, 4, 5, 127, 128, 9_999, 10_000, 19_998, 19_999] {
        assert_eq!(bulks(&r.call(&["LINDEX", "l", &i.to_string()])), vec![m[i].clone()]);
        let neg = i as i64 - n as i64;
        assert_eq!(bulks(&r.call(&["LINDEX", "l", &neg.to_string()])), vec![m[i].clone()]);
    }
    // Middle edits: they split and merge nodes.
    for i in (0..200).map(|k| k * 97 % n) {
        let v = format!("set:{i}");
        assert_eq!(r.call(&["LSET", "l", &i.to_string(), &v]), "+OK\r\n");
        m[i] = v;
    }
    for k in 0..200usize {
        let pivot = m[(k * 131 + 7) % m.len()].clone();
        let after = k % 2 == 0;
        let v = format!("ins:{k}");
        let got = int(&mut r, &["LINSERT", "l", if after { "AFTER" } else { "BEFORE" }, &pivot, &v]);
        let at = m.iter().position(|e| *e == pivot).unwrap();
        m.insert(if after { at + 1 } else { at }, v);
        assert_eq!(got, m.len() as i64);
    }
    // Remove every element ending in 7 between two marks.
    for e in ["element:17", "element:5007", "element:12347"] {
        assert_eq!(int(&mut r, &["LREM", "l", "0", e]), 1);
        let at = m.iter().position(|x| x == e).unwrap();
        m.remove(at);
    }
    r.call(&["RPUSH", "l", "dup", "x", "dup", "y", "dup"]);
    m.extend(["dup", "x", "dup", "y", "dup"].map(String::from));
    assert_eq!(int(&mut r, &["LREM", "l", "-2", "dup"]), 2);
    m.retain(|e| e != "dup");
    m.insert(m.len() - 2, "dup".into());
    // LRANGE windows all over the list.
    let len = m.len() as i64;
    for (a, b) in [(0, 9), (5, 300), (9_990, 10_020), (-50, -1), (-100, 100_000), (len - 1, len + 5), (3, 2)] {
        let got = bulks(&r.call(&["LRANGE", "l", &a.to_string(), &b.to_string()]));
        let start = if a < 0 { (len + a).max(0) } else { a };
        let end = if b < 0 { len + b } else { b.min(len - 1) };
        let want: Vec<String> = if start > end || start >= len {
            vec![]
        } else {
            m.range(start as usize..=end as usize).cloned().collect()
        };
        assert_eq!(got, want, "LRANGE {a} {b}");
    }
    let all = bulks(&r.call(&["LRANGE", "l", "0", "-1"]));
    assert_eq!(all, m.iter().cloned().collect::<Vec<_>>());
    // LPOS with options.
    r.call(&["RPUSH", "l", "needle", "hay", "needle"]);
    m.extend(["needle", "hay", "needle"].map(String::from));
    let last = m.len() as i64 - 1;
    assert_eq!(int(&mut r, &["LPOS", "l", "needle"]), last - 2);
    assert_eq!(int(&mut r, &["LPOS", "l", "needle", "RANK", "-1"]), last);
    assert_eq!(r.call(&["LPOS", "l", "needle", "COUNT", "0"]), format!("*2\r\n:{}\r\n:{}\r\n", last - 2, last));
    assert_eq!(r.call(&["LPOS", "l", "needle", "RANK", "-1", "MAXLEN", "2"]), format!(":{last}\r\n"));
    assert_eq!(r.call(&["LPOS", "l", "needle", "MAXLEN", "100"]), "$-1\r\n");
    assert_eq!(
        int(&mut r, &["LPOS", "l", "element:19999", "RANK", "-1"]),
        m.iter().position(|e| e == "element:19999").unwrap() as i64
    );
    // LTRIM and pops at both ends.
    assert_eq!(r.call(&["LTRIM", "l", "1000", "-1001"]), "+OK\r\n");
    m.drain(..1000);
    m.drain(m.len() - 1000..);
    let got = bulks(&r.call(&["LPOP", "l", "3"]));
    assert_eq!(got, m.drain(..3).collect::<Vec<_>>());
    let got = bulks(&r.call(&["RPOP", "l", "3"]));
    let want: Vec<String> = (0..3).map(|_| m.pop_back().unwrap()).collect();
    assert_eq!(got, want);
    assert_eq!(bulks(&r.call(&["LRANGE", "l", "0", "-1"])), m.iter().cloned().collect::<Vec<_>>());
    // The digest matches what a fresh list with the same elements gives.
    load(&mut r, "copy", &m.iter().cloned().collect::<Vec<_>>());
    let d1 = r.call(&["DEBUG", "DIGEST-VALUE", "l"]);
    let d2 = r.call(&["DEBUG", "DIGEST-VALUE", "copy"]);
    assert_eq!(d1, d2);
    // Emptying the list deletes the key.
    assert_eq!(r.call(&["LTRIM", "l", "1", "0"]), "+OK\r\n");
    assert_eq!(int(&mut r, &["EXISTS", "l"]), 0);
}

#[test]
fn large_list_with_count_limited_nodes() {
    check_against_model("5", "0", None);
}

#[test]
fn large_list_with_size_limited_nodes() {
    check_against_model("-1", "0", None);
}

#[test]
fn large_list_with_compressed_nodes() {
    check_against_model("-2", "1", None);
    check_against_model("16", "3", None);
}

#[test]
fn large_list_with_plain_nodes() {
    // "element:NNNN" is 12 or 13 bytes: some elements are plain, some packed.
    check_against_model("-2", "0", Some("13b"));
    check_against_model("4", "2", Some("13b"));
}

#[test]
fn wrongtype_on_every_command() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    r.call(&["SET", "s", "x"]);
    r.call(&["RPUSH", "l", "a"]);
    let cmds: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["RPOPLPUSH", "s", "l"],
        &["RPOPLPUSH", "l", "s"],
        &["LMPOP", "1", "s", "LEFT"],
        &["BLPOP", "s", "0"],
        &["BRPOP", "nokey", "s", "0"],
        &["BLMOVE", "s", "l", "LEFT", "LEFT", "0"],
        &["BLMOVE", "l", "s", "LEFT", "LEFT", "0"],
        &["BRPOPLPUSH", "s", "l", "0"],
        &["BLMPOP", "0", "1", "s", "LEFT"],
    ];
    for c in cmds {
        assert!(r.call(c).starts_with("-WRONGTYPE"), "{c:?}");
    }
    assert_eq!(bulks(&r.call(&["LRANGE", "l", "0", "-1"])), vec!["a"]);
    assert_eq!(r.call(&["GET", "s"]), "$1\r\nx\r\n");
}

/// Keyevent notifications received until a marker message, as "event key" strings.
fn events(sub: &mut Raw, r: &mut Raw, marker: &str) -> Vec<String> {
    r.call(&["PUBLISH", "marker", marker]);
    let mut got = vec![];
    loop {
        let m = String::from_utf8_lossy(&sub.read_reply()).into_owned();
        let parts = bulks(&m);
        if parts.first().map(String::as_str) == Some("message") {
            assert_eq!(parts[2], marker);
            return got;
        }
        // pmessage pattern channel payload
        let ev = parts[2].trim_start_matches("__keyevent@0__:").to_string();
        got.push(format!("{ev} {}", parts[3]));
    }
}

#[test]
fn keyspace_events() {
    let s = Server::start(&["--notify-keyspace-events", "Elgn"]);
    let mut r = s.raw();
    let mut sub = s.raw();
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    sub.call(&["SUBSCRIBE", "marker"]);
    let cases: &[(&[&str], &[&str])] = &[
        (&["RPUSH", "l", "a", "b", "c"], &["new l", "rpush l"]),
        (&["LPUSH", "l", "z"], &["lpush l"]),
        (&["LPUSHX", "nokey", "z"], &[]),
        (&["RPUSHX", "l", "d"], &["rpush l"]),
        (&["LSET", "l", "0", "y"], &["lset l"]),
        (&["LSET", "l", "100", "y"], &[]),
        (&["LINSERT", "l", "BEFORE", "a", "a0"], &["linsert l"]),
        (&["LINSERT", "l", "BEFORE", "zzz", "a0"], &[]),
        (&["LREM", "l", "0", "a0"], &["lrem l"]),
        (&["LREM", "l", "0", "zzz"], &[]),
        (&["LTRIM", "l", "0", "-1"], &["ltrim l"]),
        (&["LPOP", "l"], &["lpop l"]),
        (&["RPOP", "l", "1"], &["rpop l"]),
        (&["LMOVE", "l", "m", "LEFT", "RIGHT"], &["new m", "rpush m", "lpop l"]),
        (&["RPOPLPUSH", "l", "m"], &["lpush m", "rpop l"]),
        (&["LMOVE", "l", "m", "RIGHT", "LEFT"], &["lpush m", "rpop l", "del l"]),
        (&["LMPOP", "1", "m", "RIGHT", "COUNT", "1"], &["rpop m"]),
        (&["BLPOP", "m", "0"], &["lpop m"]),
        (&["BRPOP", "m", "0"], &["rpop m", "del m"]),
        (&["RPUSH", "t", "1", "2"], &["new t", "rpush t"]),
        (&["LTRIM", "t", "5", "6"], &["ltrim t", "del t"]),
        (&["RPUSH", "t", "1"], &["new t", "rpush t"]),
        (&["LREM", "t", "0", "1"], &["lrem t", "del t"]),
        (&["RPUSH", "t", "1"], &["new t", "rpush t"]),
        (&["BLMOVE", "t", "t", "LEFT", "RIGHT", "0"], &["rpush t", "lpop t"]),
        (&["LRANGE", "t", "0", "-1"], &[]),
    ];
    for (i, (c, want)) in cases.iter().enumerate() {
        r.call(c);
        assert_eq!(events(&mut sub, &mut r, &i.to_string()), want.to_vec(), "{c:?}");
    }
}

#[test]
fn command_info_matches_redis() {
    let f = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (f.raw(), redis.raw());
    for c in ["lpush", "lpos", "lmove", "lmpop", "blpop", "blmove", "brpoplpush", "blmpop", "lrange", "ltrim"] {
        assert_eq!(a.call(&["COMMAND", "INFO", c]), b.call(&["COMMAND", "INFO", c]), "COMMAND INFO {c}");
    }
    assert_eq!(
        a.call(&["COMMAND", "GETKEYS", "BLMPOP", "0", "2", "x", "y", "LEFT"]),
        b.call(&["COMMAND", "GETKEYS", "BLMPOP", "0", "2", "x", "y", "LEFT"])
    );
}

#[test]
fn huge_elements_get_their_own_nodes() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let big = "x".repeat(100_000);
    r.call(&["RPUSH", "l", "a", &big, "b", &big, "c"]);
    assert_eq!(int(&mut r, &["LLEN", "l"]), 5);
    assert_eq!(bulks(&r.call(&["LINDEX", "l", "3"])), vec![big.clone()]);
    assert_eq!(r.call(&["LSET", "l", "0", &big]), "+OK\r\n");
    assert_eq!(r.call(&["LSET", "l", "1", "small"]), "+OK\r\n");
    assert_eq!(int(&mut r, &["LINSERT", "l", "AFTER", "b", &big]), 6);
    let all = bulks(&r.call(&["LRANGE", "l", "0", "-1"]));
    assert_eq!(all, vec![big.clone(), "small".into(), "b".into(), big.clone(), big.clone(), "c".into()]);
}

/// The `name:value` fields of a DEBUG OBJECT status reply.
fn debug_object_fields(r: &mut Raw, key: &str, names: &[&str]) -> Vec<String> {
    let line = r.call(&["DEBUG", "OBJECT", key]);
    names
        .iter()
        .map(|n| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{n}:")).map(str::to_string))
                .unwrap_or_else(|| panic!("no {n} in {line}"))
        })
        .collect()
}

#[test]
fn packed_threshold_and_quicklist_debug_replies() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let err = "-ERR argument must be a memory value bigger than 1 and smaller than 4gb\r\n";
    for bad in ["5gb", "4294967296", "-1", "abc", "1tb"] {
        assert_eq!(r.call(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", bad]), err, "{bad}");
    }
    ok(&mut r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "4095mb"]);
    ok(&mut r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5b"]);
    r.call(&["RPUSH", "l", "aa", "bbbbbbb", "cc"]);
    // A 7-byte element is plain: three nodes.
    assert_eq!(debug_object_fields(&mut r, "l", &["ql_nodes"]), ["3"]);
    assert_eq!(r.call(&["DEBUG", "QUICKLIST", "l"]), "+Quicklist structure printed on stdout\r\n");
    assert_eq!(r.call(&["DEBUG", "QUICKLIST", "l", "1"]), "+Quicklist structure printed on stdout\r\n");
    assert_eq!(r.call(&["DEBUG", "QUICKLIST", "nokey"]), "-ERR no such key\r\n");
    assert_eq!(r.call(&["DEBUG", "LISTPACK", "l"]), "-ERR Not a listpack encoded object.\r\n");
    r.call(&["HSET", "h", "f", "v"]);
    assert_eq!(r.call(&["DEBUG", "QUICKLIST", "h"]), "-ERR Not a quicklist encoded object.\r\n");
    assert_eq!(r.call(&["DEBUG", "LISTPACK", "h"]), "+Listpack structure printed on stdout\r\n");
    assert_eq!(r.call(&["DEBUG", "LISTPACK", "nokey"]), "-ERR no such key\r\n");
    wait_for("the dumps on stdout", std::time::Duration::from_secs(5), || {
        let log = s.log();
        log.contains("{container : PLAIN, encoding: RAW, size: 7, count: 1")
            && log.contains("{ entry : bbbbbbb }")
            && log.contains("{total bytes 13} {num entries 2}")
            && log.contains("\t[str]f\n")
    });
    ok(&mut r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]);
    r.call(&["RPUSH", "l2", "bbbbbbb"]);
    assert_eq!(debug_object_fields(&mut r, "l2", &["ql_nodes", "ql_avg_node"]), ["1", "1.00"]);
}

/// Pushes the same elements into `key` on both servers and compares DEBUG OBJECT's
/// quicklist fields (node count, average fill, fill, compression, uncompressed size).
fn same_quicklist_fields(a: &mut Raw, b: &mut Raw, key: &str) {
    let names = ["ql_nodes", "ql_avg_node", "ql_listpack_max", "ql_compressed", "ql_uncompressed_size"];
    assert_eq!(debug_object_fields(a, key, &names), debug_object_fields(b, key, &names), "{key}");
}

#[test]
fn debug_object_quicklist_fields_match_redis() {
    let args = ["--list-compress-depth", "2", "--list-max-listpack-size", "-1"];
    let f = Server::start(&args);
    let redis = Server::start_redis(&args);
    let (mut a, mut b) = (f.raw(), redis.raw());
    for r in [&mut a, &mut b] {
        for i in 0..3000 {
            r.call(&["RPUSH", "l", &format!("value-{i}-{}", "x".repeat(i % 50))]);
            r.call(&["LPUSH", "l", &i.to_string()]);
        }
        ok(r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100b"]);
        for i in 0..50 {
            r.call(&["RPUSH", "p", &"y".repeat(90 + 3 * i)]);
        }
        ok(r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]);
    }
    same_quicklist_fields(&mut a, &mut b, "l");
    same_quicklist_fields(&mut a, &mut b, "p");
    assert_eq!(debug_object_fields(&mut a, "l", &["ql_compressed"]), ["1"]);
}

/// The elements of `key`, whole.
fn all(r: &mut Raw, key: &str) -> Vec<String> {
    bulks(&r.call(&["LRANGE", key, "0", "-1"]))
}

#[test]
fn plain_and_compressed_nodes_survive_reload_and_restore() {
    let s = Server::start(&["--list-compress-depth", "1", "--list-max-listpack-size", "4"]);
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "20b"]);
    let mut want = vec![];
    for i in 0..200 {
        let e = if i % 7 == 3 { format!("plain-element-{i}-{}", "p".repeat(i % 30)) } else { format!("e{i}") };
        r.call(&["RPUSH", "l", &e]);
        want.push(e);
    }
    let digest = r.call(&["DEBUG", "DIGEST-VALUE", "l"]);
    let nodes = debug_object_fields(&mut r, "l", &["ql_nodes"]);
    ok(&mut r, &["DEBUG", "RELOAD"]);
    assert_eq!(all(&mut r, "l"), want);
    assert_eq!(r.call(&["DEBUG", "DIGEST-VALUE", "l"]), digest);
    // Plain nodes come back plain: the layout is the same.
    assert_eq!(debug_object_fields(&mut r, "l", &["ql_nodes"]), nodes);
    let raw_dump = dump(&mut r, "l");
    r.cmd(&[b"RESTORE", b"l2", b"0", &raw_dump]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    assert_eq!(all(&mut r, "l2"), want);
    assert_eq!(r.call(&["DEBUG", "DIGEST-VALUE", "l2"]), digest);
    ok(&mut r, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]);
}

#[test]
fn redis_quicklist2_payloads_with_plain_and_compressed_nodes_restore() {
    let redis = Server::start_redis(&["--list-compress-depth", "1", "--list-max-listpack-size", "8"]);
    let f = Server::start(&[]);
    let (mut a, mut b) = (f.raw(), redis.raw());
    ok(&mut b, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "30b"]);
    let mut want = vec![];
    for i in 0..300 {
        let e =
            if i % 5 == 0 { format!("{}-{i}", "big".repeat(12)) } else { format!("item-{i}-{}", "z".repeat(i % 9)) };
        b.call(&["RPUSH", "l", &e]);
        want.push(e);
    }
    let payload = dump(&mut b, "l");
    // Redis 7.0 writes RDB version 10: a quicklist 2 with PLAIN containers and LZF nodes.
    assert_eq!(&payload[payload.len() - 10..payload.len() - 8], &[10, 0]);
    a.cmd(&[b"RESTORE", b"l", b"0", &payload]);
    assert_eq!(a.read_reply(), b"+OK\r\n");
    assert_eq!(all(&mut a, "l"), want);
    assert_eq!(a.call(&["DEBUG", "DIGEST-VALUE", "l"]), b.call(&["DEBUG", "DIGEST-VALUE", "l"]));
    // Redis's node layout is kept (60 plain nodes between runs of 4 packed elements).
    assert_eq!(debug_object_fields(&mut a, "l", &["ql_nodes"]), debug_object_fields(&mut b, "l", &["ql_nodes"]));
}

/// The payload of DUMP `key`.
fn dump(r: &mut Raw, key: &str) -> Vec<u8> {
    r.cmd(&[b"DUMP", key.as_bytes()]);
    let rep = r.read_reply();
    let body_start = rep.iter().position(|&c| c == b'\n').unwrap() + 1;
    rep[body_start..rep.len() - 2].to_vec()
}

#[test]
fn fluidb_payloads_with_plain_and_compressed_nodes_restore_into_redis() {
    let f = Server::start(&["--list-compress-depth", "2", "--list-max-listpack-size", "3"]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (f.raw(), redis.raw());
    ok(&mut a, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "16b"]);
    let mut want = vec![];
    for i in 0..100 {
        let e = if i % 4 == 0 { format!("a-plain-node-{i:04}") } else { format!("{}", i * 1000) };
        a.call(&["RPUSH", "l", &e]);
        want.push(e);
    }
    let payload = dump(&mut a, "l");
    // RDB version 9, which Redis 7.0 (and KeyDB 6.3) read.
    assert_eq!(&payload[payload.len() - 10..payload.len() - 8], &[9, 0]);
    b.cmd(&[b"RESTORE", b"l", b"0", &payload]);
    assert_eq!(b.read_reply(), b"+OK\r\n");
    assert_eq!(all(&mut b, "l"), want);
    assert_eq!(a.call(&["DEBUG", "DIGEST-VALUE", "l"]), b.call(&["DEBUG", "DIGEST-VALUE", "l"]));
    ok(&mut a, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"]);
}
