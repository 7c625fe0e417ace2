//! Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO)
//! against the real fluidb-server binary.

mod common;
use common::*;

#[path = "cases/bitops.rs"]
mod cases;

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
    run_cases(cases::BITOPS_CASES);
}

/// Deterministic pseudo-random numbers for the tests below.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let fill = [0u8, 0xff, 0x0f][self.next() as usize % 3];
        (0..n).map(|_| if self.next().is_multiple_of(4) { self.next() as u8 } else { fill }).collect()
    }
}

fn bit(s: &[u8], i: usize) -> bool {
    s.get(i / 8).map(|b| (b >> (7 - i % 8)) & 1 == 1).unwrap_or(false)
}

#[test]
fn large_bitmaps_agree_with_a_model() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut rng = Rng(42);
    let mut model = vec![0u8; 0];
    for _ in 0..2000 {
        let off = (rng.next() % 200_000) as usize;
        let v = (rng.next() % 2) as u8;
        let old = bit(&model, off) as u8;
        r.cmd(&[b"SETBIT", b"bm", off.to_string().as_bytes(), v.to_string().as_bytes()]);
        assert_eq!(r.read_reply(), format!(":{old}\r\n").into_bytes());
        if model.len() <= off / 8 {
            model.resize(off / 8 + 1, 0);
        }
        model[off / 8] = (model[off / 8] & !(1 << (7 - off % 8))) | (v << (7 - off % 8));
    }
    r.cmd(&[b"GET", b"bm"]);
    let rep = r.read_reply();
    assert!(rep.ends_with(&[&model[..], b"\r\n"].concat()));
    let ones: u32 = model.iter().map(|b| b.count_ones()).sum();
    assert_eq!(r.call(&["BITCOUNT", "bm"]), format!(":{ones}\r\n"));
    let nbits = model.len() * 8;
    for _ in 0..300 {
        let a = (rng.next() as usize) % nbits;
        let b = a + (rng.next() as usize) % (nbits - a);
        let count = (a..=b).filter(|&i| bit(&model, i)).count();
        r.cmd(&[b"BITCOUNT", b"bm", a.to_string().as_bytes(), b.to_string().as_bytes(), b"BIT"]);
        assert_eq!(r.read_reply(), format!(":{count}\r\n").into_bytes(), "BITCOUNT {a} {b} BIT");
        for want in [false, true] {
            let pos = (a..=b).find(|&i| bit(&model, i) == want).map(|i| i as i64).unwrap_or(-1);
            let w = if want { b"1" } else { b"0" };
            r.cmd(&[b"BITPOS", b"bm", w, a.to_string().as_bytes(), b.to_string().as_bytes(), b"BIT"]);
            assert_eq!(r.read_reply(), format!(":{pos}\r\n").into_bytes(), "BITPOS {want} {a} {b} BIT");
        }
        let (ba, bb) = (a / 8, b / 8);
        let count = model[ba..=bb].iter().map(|x| x.count_ones()).sum::<u32>();
        r.cmd(&[b"BITCOUNT", b"bm", ba.to_string().as_bytes(), bb.to_string().as_bytes()]);
        assert_eq!(r.read_reply(), format!(":{count}\r\n").into_bytes());
    }
}

#[test]
fn bitop_agrees_with_a_model() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let mut rng = Rng(7);
    for round in 0..40 {
        let n = 1 + rng.next() as usize % 5;
        let srcs: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let len = rng.next() as usize % 300;
                rng.bytes(len)
            })
            .collect();
        for (i, v) in srcs.iter().enumerate() {
            r.cmd(&[b"SET", format!("s{i}").as_bytes(), v]);
            assert_eq!(r.read_reply(), b"+OK\r\n");
        }
        let maxlen = srcs.iter().map(|v| v.len()).max().unwrap_or(0);
        let byte = |v: &Vec<u8>, j: usize| v.get(j).copied().unwrap_or(0);
        for op in ["AND", "OR", "XOR", "NOT"] {
            let keys: Vec<String> =
                if op == "NOT" { vec!["s0".into()] } else { (0..n).map(|i| format!("s{i}")).collect() };
            let mut args: Vec<&[u8]> = vec![b"BITOP", op.as_bytes(), b"dest"];
            args.extend(keys.iter().map(|k| k.as_bytes()));
            r.cmd(&args);
            let len = if op == "NOT" { srcs[0].len() } else { maxlen };
            assert_eq!(r.read_reply(), format!(":{len}\r\n").into_bytes());
            let want: Vec<u8> = (0..len)
                .map(|j| match op {
                    "AND" => srcs.iter().fold(0xff, |acc, v| acc & byte(v, j)),
                    "OR" => srcs.iter().fold(0, |acc, v| acc | byte(v, j)),
                    "XOR" => srcs.iter().fold(0, |acc, v| acc ^ byte(v, j)),
                    _ => !byte(&srcs[0], j),
                })
                .collect();
            r.cmd(&[b"GET", b"dest"]);
            let got = r.read_reply();
            if len == 0 {
                assert_eq!(got, b"$-1\r\n", "round {round} {op}: empty result deletes dest");
            } else {
                assert_eq!(got, [format!("${len}\r\n").as_bytes(), &want, b"\r\n"].concat(), "round {round} {op}");
            }
        }
        r.call(&["DEL", "s0", "s1", "s2", "s3", "s4"]);
    }
}

#[test]
fn bitfield_counters_with_a_typed_client() {
    let s = Server::start(&[]);
    let mut c = s.client();
    // Eight 4-bit unsigned saturating counters.
    for i in 0..20 {
        let v: Vec<i64> = redis::cmd("BITFIELD")
            .arg("counters")
            .arg("OVERFLOW")
            .arg("SAT")
            .arg("INCRBY")
            .arg("u4")
            .arg(format!("#{}", i % 8))
            .arg(1)
            .query(&mut c)
            .unwrap();
        assert_eq!(v, vec![((i / 8) + 1).min(15) as i64]);
    }
    let v: Vec<Option<i64>> = redis::cmd("BITFIELD")
        .arg("counters")
        .arg("GET")
        .arg("u4")
        .arg("#0")
        .arg("OVERFLOW")
        .arg("FAIL")
        .arg("INCRBY")
        .arg("u4")
        .arg("#7")
        .arg(100)
        .arg("GET")
        .arg("u4")
        .arg("#7")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![Some(3), None, Some(2)]);
    let ro: Vec<i64> = redis::cmd("BITFIELD_RO").arg("counters").arg("GET").arg("u32").arg(0).query(&mut c).unwrap();
    assert_eq!(ro, vec![0x3333_2222]);
    let n: i64 = redis::cmd("BITCOUNT").arg("counters").query(&mut c).unwrap();
    assert_eq!(n, 12);
    let p: i64 = redis::cmd("BITPOS").arg("counters").arg(1).query(&mut c).unwrap();
    assert_eq!(p, 2);
}

#[test]
fn huge_offsets_are_bounded() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let e = "-ERR bit offset is not an integer or out of range\r\n";
    assert_eq!(r.call(&["SETBIT", "k", "4294967296", "1"]), e);
    assert_eq!(
        r.call(&["BITFIELD", "k", "SET", "u8", "#536870912", "1"]),
        "-ERR bit offset is not an integer or out of range\r\n"
    );
    assert_eq!(r.call(&["BITFIELD", "k", "SET", "i64", "#144115188075855873", "1"]), e);
    assert_eq!(r.call(&["EXISTS", "k"]), ":0\r\n");
    // 64 MB of bitmap is fine.
    assert_eq!(r.call(&["SETBIT", "k", "536870911", "1"]), ":0\r\n");
    assert_eq!(r.call(&["STRLEN", "k"]), ":67108864\r\n");
    assert_eq!(r.call(&["BITCOUNT", "k"]), ":1\r\n");
    assert_eq!(r.call(&["BITPOS", "k", "1"]), ":536870911\r\n");
    assert_eq!(r.call(&["BITPOS", "k", "0", "-1"]), ":536870904\r\n");
    assert_eq!(r.call(&["DEL", "k"]), ":1\r\n");
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
