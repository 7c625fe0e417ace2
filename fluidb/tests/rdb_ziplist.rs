//! Interop of the legacy RDB encodings (persistence/rdb/ziplist.rs and zipmap.rs) with the
//! real redis-server 7.0: we build an RDB v9 file by hand whose hashes, sorted sets and
//! quicklists are ziplists from our encoder (plus a zipmap hash and a ziplist with the
//! non-minimal prevlens Redis's cascade update leaves), have redis-server load it with deep
//! sanitization (`sanitize-dump-payload yes`: ziplistValidateIntegrity on every ziplist) and
//! redis-check-rdb verify it, and compare what Redis serves with the model and with what our
//! decoder reads from the same bytes.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use fluidb::persistence::rdb::{codec, ziplist, zipmap};
use fluidb::types::listpack::LpVal;

const TYPE_HASH_ZIPMAP: u8 = 9;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;

/// A hand-built RDB version 9 file (what Redis 6.x writes).
struct Rdb {
    buf: Vec<u8>,
    keys: usize,
}

impl Rdb {
    fn new() -> Rdb {
        let mut r = Rdb { buf: b"REDIS0009".to_vec(), keys: 0 };
        for (k, v) in [("redis-ver", "6.2.14"), ("redis-bits", "64"), ("aof-preamble", "0")] {
            r.buf.push(0xFA); // RDB_OPCODE_AUX
            codec::write_string(&mut r.buf, k.as_bytes(), false);
            codec::write_string(&mut r.buf, v.as_bytes(), false);
        }
        r.buf.push(0xFE); // RDB_OPCODE_SELECTDB
        codec::write_len(&mut r.buf, 0);
        r
    }

    /// A key whose value is one RDB string (a ziplist or zipmap blob).
    fn blob(&mut self, ty: u8, key: &str, blob: &[u8]) {
        self.buf.push(ty);
        codec::write_string(&mut self.buf, key.as_bytes(), true);
        codec::write_string(&mut self.buf, blob, true);
        self.keys += 1;
    }

    /// A quicklist: the node count, then each node's ziplist as an RDB string.
    fn quicklist(&mut self, key: &str, nodes: &[Vec<u8>]) {
        self.buf.push(TYPE_LIST_QUICKLIST);
        codec::write_string(&mut self.buf, key.as_bytes(), true);
        codec::write_len(&mut self.buf, nodes.len() as u64);
        for n in nodes {
            codec::write_string(&mut self.buf, n, true);
        }
        self.keys += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF); // RDB_OPCODE_EOF
        let crc = codec::CRC64.checksum(&self.buf);
        self.buf.extend_from_slice(&crc.to_le_bytes());
        self.buf
    }
}

fn zl_of(items: &[Vec<u8>]) -> Vec<u8> {
    ziplist::encode(items.iter().map(|s| LpVal::Str(s)))
}

fn decoded(zl: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let n = ziplist::decode(zl, |e| v.push(e.to_vec())).expect("our ziplist decodes");
    assert_eq!(n, v.len());
    v
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A ziplist whose every prevlen takes the 5-byte form (valid, as Redis's cascade update can
/// leave them), built by hand to check that Redis and our decoder read it the same way.
fn wide_prevlen_ziplist(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0u8; 10];
    let mut prev = 0usize;
    let mut tail = 10;
    for (i, s) in items.iter().enumerate() {
        let start = out.len();
        if i == 0 {
            out.push(0);
        } else {
            out.push(0xFE);
            out.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        // Plain strings only (no integer forms) keeps this independent of our encoder.
        assert!(s.len() < 64);
        out.push(s.len() as u8);
        out.extend_from_slice(s);
        prev = out.len() - start;
        tail = start;
    }
    out.push(0xFF);
    let n = out.len() as u32;
    out[0..4].copy_from_slice(&n.to_le_bytes());
    out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    out[8..10].copy_from_slice(&(items.len() as u16).to_le_bytes());
    out
}

/// A zipmap as Redis 2.x's zipmapSet builds it, with `free` spare bytes after each value.
fn zipmap_of(pairs: &[(Vec<u8>, Vec<u8>, u8)]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 254 {
            out.push(n as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
    let mut out = vec![pairs.len().min(254) as u8];
    for (k, v, free) in pairs {
        len(&mut out, k.len());
        out.extend_from_slice(k);
        len(&mut out, v.len());
        out.push(*free);
        out.extend_from_slice(v);
        out.extend(std::iter::repeat_n(0, *free as usize));
    }
    out.push(0xFF);
    out
}

fn query(con: &mut redis::Connection, args: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

type Hash = BTreeMap<Vec<u8>, Vec<u8>>;

fn hgetall(con: &mut redis::Connection, key: &str) -> Hash {
    let v = query(con, &[b"HGETALL", key.as_bytes()]);
    v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

#[test]
fn redis_loads_our_ziplists() {
    let big = "B".repeat(300);
    let mut rdb = Rdb::new();
    // What each key must read back as.
    let mut hashes: Vec<(&str, Hash)> = Vec::new();

    // Small hash: integers of every width, strings, an empty value, a >254-byte value (the
    // next entry gets a 5-byte prevlen), strings that look numeric but are not canonical.
    let small: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b("f1"), b("v1")),
        (b("1"), b("100")),
        (b("-5"), b("xyz")),
        (b("big"), b(&big)),
        (b("after-big"), b("12")),
        (b("i16"), b("-32768")),
        (b("i24"), b("8388607")),
        (b("i32"), b("-2147483648")),
        (b("i64"), b("-9223372036854775808")),
        (b("imax"), b("9223372036854775807")),
        (b("empty"), b("")),
        (b("lead0"), b("007")),
        (b("minus0"), b("-0")),
        (b"bin\0\xff".to_vec(), vec![0, 1, 2, 255]),
    ];
    let flat: Vec<Vec<u8>> = small.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect();
    let zl = zl_of(&flat);
    assert_eq!(decoded(&zl), flat);
    rdb.blob(TYPE_HASH_ZIPLIST, "h:small", &zl);
    hashes.push(("h:small", small.into_iter().collect()));

    // A hash ziplist of 600 entries (> 255; Redis converts it to a hashtable on load).
    let many: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
        .map(|i| {
            (if i % 2 == 0 { b(&i.to_string()) } else { b(&format!("field:{i}")) }, b(&(i * 1000 - 7).to_string()))
        })
        .collect();
    let flat: Vec<Vec<u8>> = many.iter().flat_map(|(f, v)| [f.clone(), v.clone()]).collect();
    let zl = zl_of(&flat);
    assert_eq!(decoded(&zl), flat);
    rdb.blob(TYPE_HASH_ZIPLIST, "h:many", &zl);
    hashes.push(("h:many", many.into_iter().collect()));

    // A ziplist with 5-byte prevlens for small entries (decoder interop).
    let wide: Vec<Vec<u8>> = vec![b("alpha"), b("1"), b("beta"), b("two"), b("gamma"), b("-3")];
    let zl = wide_prevlen_ziplist(&wide);
    assert_eq!(decoded(&zl), wide);
    rdb.blob(TYPE_HASH_ZIPLIST, "h:wide", &zl);
    hashes.push(("h:wide", wide.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()));

    // A zipmap hash (RDB type 9), with free bytes and a >253-byte value (5-byte length).
    let zm_pairs = vec![
        (b("name"), b("fluidb"), 0u8),
        (b("n"), b("42"), 3),
        (b("long"), b(&"L".repeat(400)), 1),
        (b(&"K".repeat(260)), b("v"), 0),
    ];
    let zm = zipmap_of(&zm_pairs);
    let mut ours = BTreeMap::new();
    assert_eq!(zipmap::decode(&zm, |k, v| drop(ours.insert(k.to_vec(), v.to_vec()))), Ok(4));
    let want: BTreeMap<_, _> = zm_pairs.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
    assert_eq!(ours, want);
    rdb.blob(TYPE_HASH_ZIPMAP, "h:zipmap", &zm);
    hashes.push(("h:zipmap", want));

    // Sorted sets: member, score-as-string pairs in score order (as zzlInsert keeps them).
    let zset: Vec<(&str, &str, &str)> = vec![
        // member, score as stored, score as ZRANGE WITHSCORES prints it
        ("neg", "-2.5", "-2.5"),
        ("a", "1", "1"),
        ("b", "1", "1"),
        ("frac", "3.25", "3.25"),
        ("bigmember", "7", "7"),
        ("n", "100000", "100000"),
        ("e", "1e+20", "1e+20"),
        ("top", "inf", "inf"),
    ];
    let bigmember = "m".repeat(270);
    let member = |m: &str| if m == "bigmember" { b(&bigmember) } else { b(m) };
    let flat: Vec<Vec<u8>> = zset.iter().flat_map(|(m, s, _)| [member(m), b(s)]).collect();
    let zl = zl_of(&flat);
    assert_eq!(decoded(&zl), flat);
    rdb.blob(TYPE_ZSET_ZIPLIST, "z:small", &zl);
    let z_want: Vec<Vec<u8>> = zset.iter().flat_map(|(m, _, p)| [member(m), b(p)]).collect();

    let zmany: Vec<Vec<u8>> = (0..200).flat_map(|i| [b(&format!("m{i:03}")), b(&(i - 100).to_string())]).collect();
    let zl = zl_of(&zmany);
    assert_eq!(decoded(&zl), zmany);
    rdb.blob(TYPE_ZSET_ZIPLIST, "z:many", &zl);

    // A quicklist of three ziplist nodes, the middle one with 300 entries.
    let node1: Vec<Vec<u8>> = vec![b("a"), b("1"), b(&big), b("-1"), b("9223372036854775807"), b(""), b("12"), b("13")];
    let node2: Vec<Vec<u8>> =
        (0..300).map(|i| if i % 3 == 0 { b(&format!("s{i}")) } else { b(&(i * 37 - 5000).to_string()) }).collect();
    let node3: Vec<Vec<u8>> = vec![b("last")];
    let nodes: Vec<Vec<u8>> = [&node1, &node2, &node3].iter().map(|n| zl_of(n)).collect();
    for (n, items) in nodes.iter().zip([&node1, &node2, &node3]) {
        assert_eq!(&decoded(n), items);
    }
    rdb.quicklist("l", &nodes);
    let l_want: Vec<Vec<u8>> = node1.iter().chain(&node2).chain(&node3).cloned().collect();

    let keys = rdb.keys;
    let file = rdb.finish();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zl.rdb");
    std::fs::write(&path, &file).expect("write rdb");

    // redis-check-rdb agrees the file is sound.
    let out = Command::new("redis-check-rdb").arg(&path).output().expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("RDB looks OK"), "redis-check-rdb:\n{text}");

    let dir_s = dir.path().to_string_lossy().into_owned();
    let srv = Server::start_redis(&["--dir", &dir_s, "--dbfilename", "zl.rdb", "--sanitize-dump-payload", "yes"]);
    let mut con = srv.client();
    let n: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(n, keys, "keys loaded; log:\n{}", srv.log());

    for (key, want) in &hashes {
        assert_eq!(&hgetall(&mut con, key), want, "HGETALL {key}");
    }
    // Small ordered hashes keep the ziplist order: HGETALL of h:wide is byte-exact.
    assert_eq!(query(&mut con, &[b"HGETALL", b"h:wide"]), wide);

    assert_eq!(query(&mut con, &[b"ZRANGE", b"z:small", b"0", b"-1", b"WITHSCORES"]), z_want);
    assert_eq!(query(&mut con, &[b"ZRANGE", b"z:many", b"0", b"-1", b"WITHSCORES"]), zmany);
    assert_eq!(query(&mut con, &[b"LRANGE", b"l", b"0", b"-1"]), l_want);
}
