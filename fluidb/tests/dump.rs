//! DUMP and RESTORE against redis-server 7.0: payloads move both ways (every type, small
//! and large encodings), the restored value has the same DEBUG DIGEST-VALUE, and RESTORE's
//! options, errors and propagation follow Redis.

mod common;
mod inproc;

use common::*;
use inproc::Local;

/// The bytes of a bulk reply (None for a nil).
fn bulk(reply: &[u8]) -> Option<Vec<u8>> {
    if reply.starts_with(b"$-1") || reply.starts_with(b"_") {
        return None;
    }
    let nl = reply.iter().position(|&b| b == b'\n').expect("header");
    let n: usize = std::str::from_utf8(&reply[1..nl - 1]).expect("utf8").parse().expect("len");
    Some(reply[nl + 1..nl + 1 + n].to_vec())
}

fn dump(r: &mut Raw, key: &str) -> Vec<u8> {
    r.cmd(&[b"DUMP", key.as_bytes()]);
    bulk(&r.read_reply()).unwrap_or_else(|| panic!("DUMP {key}: no such key"))
}

fn restore(r: &mut Raw, key: &str, payload: &[u8], extra: &[&str]) -> String {
    let mut a: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), b"0", payload];
    a.extend(extra.iter().map(|s| s.as_bytes()));
    r.cmd(&a);
    String::from_utf8_lossy(&r.read_reply()).into_owned()
}

fn digest_value(r: &mut Raw, key: &str) -> String {
    r.call(&["DEBUG", "DIGEST-VALUE", key])
}

#[test]
fn redis_payloads_restore_in_fluidb() {
    let redis = Server::start_redis(&["--enable-debug-command", "yes"]);
    let ours = Server::start(&["--enable-debug-command", "yes"]);
    let (mut a, mut b) = (redis.raw(), ours.raw());
    for k in fill_every_type(&mut a) {
        let p = dump(&mut a, &k);
        assert_eq!(restore(&mut b, &k, &p, &[]), "+OK\r\n", "RESTORE {k}");
        assert_eq!(digest_value(&mut b, &k), digest_value(&mut a, &k), "{k}");
        assert_eq!(b.call(&["TYPE", &k]), a.call(&["TYPE", &k]), "{k}");
        assert_eq!(b.call(&["OBJECT", "ENCODING", &k]), a.call(&["OBJECT", "ENCODING", &k]), "{k}");
    }
    assert_eq!(b.call(&["DEBUG", "DIGEST"]), a.call(&["DEBUG", "DIGEST"]));
}

#[test]
fn fluidb_payloads_restore_in_redis() {
    let redis = Server::start_redis(&["--enable-debug-command", "yes"]);
    let ours = Server::start(&["--enable-debug-command", "yes"]);
    let (mut a, mut b) = (redis.raw(), ours.raw());
    for k in fill_every_type(&mut b) {
        let p = dump(&mut b, &k);
        assert_eq!(restore(&mut a, &k, &p, &[]), "+OK\r\n", "RESTORE {k} in redis");
        assert_eq!(digest_value(&mut a, &k), digest_value(&mut b, &k), "{k}");
        // And back: what Redis dumps of it restores here to the same value.
        let p2 = dump(&mut a, &k);
        assert_eq!(restore(&mut b, &k, &p2, &["REPLACE"]), "+OK\r\n", "RESTORE {k} back");
        assert_eq!(digest_value(&mut a, &k), digest_value(&mut b, &k), "{k} back");
    }
    assert_eq!(b.call(&["DEBUG", "DIGEST"]), a.call(&["DEBUG", "DIGEST"]));
}

#[test]
fn options_and_errors_match_redis() {
    let redis = Server::start_redis(&[]);
    let ours = Server::start(&[]);
    let (mut a, mut b) = (redis.raw(), ours.raw());
    for r in [&mut a, &mut b] {
        r.call(&["SET", "src", "value"]);
    }
    let pa = dump(&mut a, "src");
    let pb = dump(&mut b, "src");
    let mut corrupt = pa.clone();
    corrupt[1] ^= 0x55;
    let cases: Vec<(Vec<&[u8]>, bool)> = vec![
        (vec![b"RESTORE", b"src", b"0", &pa], true),
        (vec![b"RESTORE", b"new", b"-1", &pa], true),
        (vec![b"RESTORE", b"new", b"x", &pa], true),
        (vec![b"RESTORE", b"new", b"0", b"garbage"], true),
        (vec![b"RESTORE", b"new", b"0", &corrupt], true),
        (vec![b"RESTORE", b"new", b"0", &pa, b"IDLETIME", b"-1"], true),
        (vec![b"RESTORE", b"new", b"0", &pa, b"FREQ", b"256"], true),
        (vec![b"RESTORE", b"new", b"0", &pa, b"IDLETIME", b"1", b"FREQ", b"1"], true),
        (vec![b"RESTORE", b"new", b"0", &pa, b"bogus"], true),
        (vec![b"RESTORE", b"new", b"0", &pa, b"IDLETIME"], true),
        (vec![b"RESTORE", b"new"], true),
        (vec![b"DUMP", b"nokey"], true),
        (vec![b"RESTORE", b"src", b"0", &pb, b"REPLACE", b"IDLETIME", b"1000"], false),
        (vec![b"OBJECT", b"IDLETIME", b"src"], true),
        (vec![b"RESTORE", b"exp", b"1", &pb, b"ABSTTL"], false),
        (vec![b"EXISTS", b"exp"], true),
        (vec![b"RESTORE", b"src", b"1", &pb, b"REPLACE", b"ABSTTL"], false),
        (vec![b"EXISTS", b"src"], true),
        (vec![b"RESTORE", b"t", b"100000", &pb], false),
        (vec![b"PTTL", b"t"], false),
    ];
    for (c, compare) in cases {
        a.cmd(&c);
        b.cmd(&c);
        let (ra, rb) = (a.read_reply(), b.read_reply());
        if compare {
            assert_eq!(
                String::from_utf8_lossy(&rb),
                String::from_utf8_lossy(&ra),
                "{:?}",
                String::from_utf8_lossy(c[0])
            );
        } else {
            assert!(!rb.starts_with(b"-"), "{}", String::from_utf8_lossy(&rb));
        }
    }
    // The TTL is honoured: between 99 and 100 seconds left.
    let t: i64 = b.call(&["PTTL", "t"]).trim_start_matches(':').trim().parse().expect("pttl");
    assert!((99_000..=100_000).contains(&t), "{t}");
}

#[test]
fn restore_propagates_an_absolute_ttl() {
    let mut l = Local::new();
    let c = l.connect();
    l.run(c, &["SET", "k", "v"]);
    let p = bulk(&l.run_bytes(c, &[b"DUMP", b"k"])).expect("payload");
    assert!(l.run_bytes(c, &[b"RESTORE", b"k2", b"5000", &p]).starts_with(b"+"));
    assert!(l.run_bytes(c, &[b"RESTORE", b"k3", b"0", &p]).starts_with(b"+"));
    let s = l.stream();
    let r2 = s.iter().find(|v| v[0] == "RESTORE" && v[1] == "k2").expect("RESTORE k2 propagated");
    assert_eq!(r2.last().map(String::as_str), Some("ABSTTL"));
    assert!(r2[2].parse::<i64>().expect("abs ttl") > 1_000_000_000_000);
    let r3 = s.iter().find(|v| v[0] == "RESTORE" && v[1] == "k3").expect("RESTORE k3 propagated");
    assert_eq!(r3.len(), 4);
}

/// A hash listpack with a duplicate field, restored without deep sanitization where it
/// must become a hash table: Redis logs the listpack ("listpack with dup elements dump")
/// and panics while converting it; fluidB logs the same dump and refuses the payload. With
/// `sanitize-dump-payload yes` it is the listpack integrity error, as in Redis.
#[test]
fn a_hash_listpack_with_duplicates_is_refused_and_logged() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let payload: &[u8] = b"\x10\x17\x17\x00\x00\x00\x04\x00\x82\x61\x00\x03\x82\x62\x00\x03\x82\x61\x00\x03\x82\x64\x00\x03\xff\x0a\x00\xc0\xcf\xa6\x87\xe5\xa7\xc5\xbe";
    assert_eq!(r.call(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["CONFIG", "SET", "sanitize-dump-payload", "yes"]), "+OK\r\n");
    assert_eq!(restore(&mut r, "h", payload, &[]), "-ERR Bad data format\r\n");
    assert!(!s.log().contains("listpack with dup elements"));
    assert_eq!(r.call(&["CONFIG", "SET", "sanitize-dump-payload", "no"]), "+OK\r\n");
    assert_eq!(r.call(&["CONFIG", "SET", "hash-max-listpack-entries", "1"]), "+OK\r\n");
    assert_eq!(restore(&mut r, "h", payload, &[]), "-ERR Bad data format\r\n");
    wait_for("the dump in the log", std::time::Duration::from_secs(5), || {
        s.log().contains(
            "listpack with dup elements dump (hexdump of 23 bytes):\n17000000040082610003826200038261000382640003ff\n",
        )
    });
    assert_eq!(r.call(&["EXISTS", "h"]), ":0\r\n");
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
}
