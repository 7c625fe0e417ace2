//! String commands (GET, SET and options, GETEX, GETDEL, GETSET, MGET, MSET, MSETNX, SETNX,
//! SETEX, PSETEX, APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE, INCR, DECR, INCRBY, DECRBY,
//! INCRBYFLOAT, LCS) against the real fluidb-server binary.

mod common;
use common::*;

#[path = "cases/strings.rs"]
mod cases;

use std::time::Duration;

/// Replays sections of (command line, expected raw reply) on one server, flushing between
/// sections, and reports every mismatch.
fn run_cases(cases: &[cases::Section]) {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut failures = vec![];
    for (title, lines) in cases {
        assert_eq!(r.call(&["FLUSHALL"]), "+OK\r\n");
        for (line, want) in lines.iter() {
            if *line == "@resp3" {
                r.call(&["HELLO", "3"]);
                continue;
            }
            let args = split_line(line);
            let a: Vec<&[u8]> = args.iter().map(|x| &x[..]).collect();
            r.cmd(&a);
            let got = r.read_reply();
            if got != *want {
                failures.push(format!(
                    "[{title}] {line}\n   want {:?}\n   got  {:?}",
                    String::from_utf8_lossy(want),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn replies_match_redis_7_0() {
    run_cases(cases::STRINGS_CASES);
}

#[test]
fn incrbyfloat_uses_long_double_arithmetic() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["SET", "f", "2.1"]), "+OK\r\n");
    assert_eq!(r.call(&["INCRBYFLOAT", "f", "1e3"]), "$22\r\n1002.09999999999999998\r\n");
    assert_eq!(r.call(&["INCRBYFLOAT", "f", "5.0e-1"]), "$22\r\n1002.59999999999999998\r\n");
    assert_eq!(r.call(&["SET", "h", "0x10"]), "+OK\r\n");
    assert_eq!(r.call(&["INCRBYFLOAT", "h", "1"]), "$2\r\n17\r\n");
    assert_eq!(r.call(&["INCRBYFLOAT", "h", "1e-400"]), "$2\r\n17\r\n");
    assert_eq!(r.call(&["INCRBYFLOAT", "h", "3.0000000000000000001"]), "$2\r\n20\r\n");
}

#[test]
fn typed_client_roundtrip() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let _: () = redis::cmd("SET").arg("k").arg("hello").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "hello");
    let n: i64 = redis::cmd("APPEND").arg("k").arg(" world").query(&mut c).unwrap();
    assert_eq!(n, 11);
    let v: String = redis::cmd("GETRANGE").arg("k").arg(6).arg(-1).query(&mut c).unwrap();
    assert_eq!(v, "world");
    let _: () = redis::cmd("MSET").arg("a").arg(1).arg("b").arg(2).query(&mut c).unwrap();
    let v: Vec<Option<i64>> = redis::cmd("MGET").arg("a").arg("b").arg("nokey").query(&mut c).unwrap();
    assert_eq!(v, vec![Some(1), Some(2), None]);
    let n: i64 = redis::cmd("INCRBY").arg("a").arg(41).query(&mut c).unwrap();
    assert_eq!(n, 42);
    let f: f64 = redis::cmd("INCRBYFLOAT").arg("a").arg(0.5).query(&mut c).unwrap();
    assert_eq!(f, 42.5);
    let old: Option<String> = redis::cmd("SET").arg("k").arg("new").arg("GET").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("hello world"));
    let none: Option<String> = redis::cmd("SET").arg("k").arg("x").arg("NX").query(&mut c).unwrap();
    assert_eq!(none, None);
    let d: Option<String> = redis::cmd("GETDEL").arg("k").query(&mut c).unwrap();
    assert_eq!(d.as_deref(), Some("new"));
    let n: i64 = redis::cmd("EXISTS").arg("k").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let l: String = redis::cmd("LCS").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(l, "2");
}

#[test]
fn relative_expiries_expire() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["SET", "a", "1", "PX", "100"]), "+OK\r\n");
    assert_eq!(r.call(&["PSETEX", "b", "100", "2"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "c", "3"]), "+OK\r\n");
    assert_eq!(r.call(&["GETEX", "c", "PX", "100"]), "$1\r\n3\r\n");
    assert_eq!(r.call(&["SET", "d", "4", "PX", "150"]), "+OK\r\n");
    assert_eq!(r.call(&["GETEX", "d", "PERSIST"]), "$1\r\n4\r\n");
    assert_eq!(r.call(&["SETEX", "e", "100", "5"]), "+OK\r\n");
    wait_for("keys with a relative TTL to expire", Duration::from_secs(5), || {
        r.call(&["MGET", "a", "b", "c"]) == "*3\r\n$-1\r\n$-1\r\n$-1\r\n"
    });
    // PERSIST cancelled d's TTL (150 ms, now past); e's 100 s are far away.
    assert_eq!(r.call(&["MGET", "d", "e"]), "*2\r\n$1\r\n4\r\n$1\r\n5\r\n");
    // An absolute time in the past: the key is set, then reads as missing.
    assert_eq!(r.call(&["SET", "p", "v", "PXAT", "1"]), "+OK\r\n");
    assert_eq!(r.call(&["GET", "p"]), "$-1\r\n");
    // INCR on an expired counter starts from zero.
    assert_eq!(r.call(&["SET", "n", "41", "PX", "50"]), "+OK\r\n");
    wait_for("n to expire", Duration::from_secs(5), || r.call(&["EXISTS", "n"]) == ":0\r\n");
    assert_eq!(r.call(&["INCR", "n"]), ":1\r\n");
}

#[test]
fn keepttl_and_incr_keep_the_deadline() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["SET", "k", "1", "PX", "150"]), "+OK\r\n");
    assert_eq!(r.call(&["INCR", "k"]), ":2\r\n");
    assert_eq!(r.call(&["SET", "k", "v", "KEEPTTL"]), "+OK\r\n");
    assert_eq!(r.call(&["APPEND", "k", "w"]), ":2\r\n");
    assert_eq!(r.call(&["SETRANGE", "k", "0", "x"]), ":2\r\n");
    wait_for("k to expire with its original TTL", Duration::from_secs(5), || r.call(&["GET", "k"]) == "$-1\r\n");
    // A plain SET drops the TTL.
    assert_eq!(r.call(&["SET", "k", "1", "PX", "100"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "k", "2"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "z", "1", "PX", "100"]), "+OK\r\n");
    wait_for("z to expire", Duration::from_secs(5), || r.call(&["EXISTS", "z"]) == ":0\r\n");
    assert_eq!(r.call(&["GET", "k"]), "$1\r\n2\r\n");
}

#[test]
fn concurrent_incr_is_atomic() {
    let s = Server::start(&[]);
    let port = s.port;
    let threads: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                let mut r = Raw::connect(port);
                let mut batch = Vec::new();
                for _ in 0..500 {
                    batch.extend(encode(&[b"INCR", b"counter"]));
                    batch.extend(encode(&[b"INCRBYFLOAT", b"f", b"0.5"]));
                    batch.extend(encode(&[b"APPEND", format!("log{}", t % 2).as_bytes(), b"x"]));
                }
                r.send(&batch);
                for _ in 0..1500 {
                    r.read_reply();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut r = s.raw();
    assert_eq!(r.call(&["GET", "counter"]), "$4\r\n3000\r\n");
    assert_eq!(r.call(&["GET", "f"]), "$4\r\n1500\r\n");
    assert_eq!(r.call(&["STRLEN", "log0"]), ":1500\r\n");
    assert_eq!(r.call(&["STRLEN", "log1"]), ":1500\r\n");
}

#[test]
fn large_and_binary_values() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    r.cmd(&[b"SET", b"big", &big]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    r.cmd(&[b"GET", b"big"]);
    let mut want = b"$1000000\r\n".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"\r\n");
    assert_eq!(r.read_reply(), want);
    r.cmd(&[b"APPEND", b"big", &big]);
    assert_eq!(r.read_reply(), b":2000000\r\n");
    r.cmd(&[b"GETRANGE", b"big", b"999999", b"1000001"]);
    assert_eq!(r.read_reply(), [b"$3\r\n".as_slice(), &[big[999_999], big[0], big[1]], b"\r\n"].concat());
    assert_eq!(r.call(&["SETRANGE", "sparse", "4000000", "end"]), ":4000003\r\n");
    assert_eq!(r.call(&["GETRANGE", "sparse", "3999998", "-1"]), "$5\r\n\0\0end\r\n");
    assert_eq!(r.call(&["STRLEN", "sparse"]), ":4000003\r\n");
    // Binary keys and values, NUL bytes included.
    r.cmd(&[b"MSET", b"k\0\xff", b"\0v\r\n", b"\xfe", b""]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    r.cmd(&[b"MGET", b"k\0\xff", b"\xfe", b"k"]);
    assert_eq!(r.read_reply(), b"*3\r\n$4\r\n\0v\r\n\r\n$0\r\n\r\n$-1\r\n");
    r.cmd(&[b"LCS", b"k\0\xff", b"k\0\xff", b"IDX"]);
    assert_eq!(
        r.read_reply(),
        b"*4\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:0\r\n:3\r\n*2\r\n:0\r\n:3\r\n$3\r\nlen\r\n:4\r\n"
    );
}

#[test]
fn lcs_of_long_strings() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    // 3000 x 3000: a 36 MB table, well under proto-max-bulk-len.
    let a: Vec<u8> = (0..3000u32).map(|i| b"ACGT"[(i * 7 % 13 % 4) as usize]).collect();
    let b: Vec<u8> = (0..3000u32).map(|i| b"ACGT"[(i * 5 % 11 % 4) as usize]).collect();
    r.cmd(&[b"MSET", b"a", &a, b"b", &b]);
    assert_eq!(r.read_reply(), b"+OK\r\n");
    // Reference LCS length.
    let mut prev = vec![0u32; b.len() + 1];
    for &x in &a {
        let mut cur = vec![0u32; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = if x == b[j - 1] { prev[j - 1] + 1 } else { prev[j].max(cur[j - 1]) };
        }
        prev = cur;
    }
    let n = prev[b.len()];
    assert_eq!(r.call(&["LCS", "a", "b", "LEN"]), format!(":{n}\r\n"));
    r.cmd(&[b"LCS", b"a", b"b"]);
    let rep = r.read_reply();
    assert!(rep.starts_with(format!("${n}\r\n").as_bytes()), "{:?}", String::from_utf8_lossy(&rep[..20]));
    // 12000 x 12000 would need 576 MB of table: refused, as Redis does.
    assert_eq!(r.call(&["SETRANGE", "x", "11999", "x"]), ":12000\r\n");
    assert_eq!(r.call(&["SETRANGE", "y", "11999", "y"]), ":12000\r\n");
    assert_eq!(
        r.call(&["LCS", "x", "y", "LEN"]),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
    );
}

#[test]
fn size_limits_without_allocation() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    assert_eq!(r.call(&["SETRANGE", "k", "536870912", "x"]), big);
    assert_eq!(r.call(&["SETRANGE", "k", "9223372036854775807", "x"]), big);
    assert_eq!(r.call(&["SETRANGE", "k", "536870911", "xy"]), big);
    assert_eq!(r.call(&["EXISTS", "k"]), ":0\r\n");
    assert_eq!(r.call(&["SETRANGE", "k", "-1", "x"]), "-ERR offset is out of range\r\n");
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn redis_cli_usage() {
    let s = Server::start(&[]);
    assert_eq!(s.cli(&["set", "k", "v", "ex", "100", "get"]).trim(), "");
    assert_eq!(s.cli(&["get", "k"]).trim(), "v");
    assert_eq!(s.cli(&["incrbyfloat", "f", "2.5"]).trim(), "2.5");
    assert_eq!(s.cli(&["mset", "a", "x"]).trim(), "OK");
    assert_eq!(s.cli(&["msetnx", "a", "y", "b", "z"]).trim(), "0");
    assert_eq!(s.cli(&["set", "k", "v", "nx", "xx"]).trim(), "ERR syntax error");
}

#[test]
fn pipelined_mix_in_order() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut batch = Vec::new();
    for i in 0..200 {
        let k = format!("k{i}");
        batch.extend(encode(&[b"SET", k.as_bytes(), b"10", b"NX"]));
        batch.extend(encode(&[b"INCRBY", k.as_bytes(), i.to_string().as_bytes()]));
        batch.extend(encode(&[b"GETSET", k.as_bytes(), b"x"]));
        batch.extend(encode(&[b"GETDEL", k.as_bytes()]));
    }
    r.send(&batch);
    for i in 0..200 {
        assert_eq!(r.read_reply(), b"+OK\r\n");
        assert_eq!(r.read_reply(), format!(":{}\r\n", 10 + i).into_bytes());
        let v = (10 + i).to_string();
        assert_eq!(r.read_reply(), format!("${}\r\n{}\r\n", v.len(), v).into_bytes());
        assert_eq!(r.read_reply(), b"$1\r\nx\r\n");
    }
    assert_eq!(r.call(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn command_info_matches_redis_7_0() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    for (name, want) in cases::COMMAND_INFO {
        let got = r.call(&["COMMAND", "INFO", name]);
        assert_eq!(got.as_bytes(), *want, "COMMAND INFO {name}");
    }
}
