//! Randomised differential tests: every util port against a live
//! redis-server 7.0 reached on 127.0.0.1:$FLUIDB_REDIS_DIFF_PORT.
//! All tests are `#[ignore]`d; see the module docs in `util/mod.rs`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::digest::*;
use super::glob::string_match;
use super::ldouble::{hincrbyfloat, incrbyfloat};
use super::numeric::*;
use super::splitargs::split_args;

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Status(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn bulk(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) | Reply::Status(b) => b.clone(),
            other => panic!("expected bulk, got {other:?}"),
        }
    }
    fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a.clone(),
            other => panic!("expected array, got {other:?}"),
        }
    }
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// Iteration count scaled by `$FLUIDB_REDIS_DIFF_SCALE` (default 1).
fn iters(n: usize) -> usize {
    let scale: usize = std::env::var("FLUIDB_REDIS_DIFF_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    n * scale.max(1)
}

fn port() -> Option<u16> {
    std::env::var("FLUIDB_REDIS_DIFF_PORT").ok()?.parse().ok()
}

impl Conn {
    fn open() -> Option<Conn> {
        let p = port()?;
        let s = TcpStream::connect(("127.0.0.1", p)).expect("connect to redis-server");
        let w = s.try_clone().unwrap();
        Some(Conn { r: BufReader::new(s), w })
    }

    fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn line(&mut self) -> Vec<u8> {
        let mut l = Vec::new();
        self.r.read_until(b'\n', &mut l).unwrap();
        assert!(l.ends_with(b"\r\n"), "bad line {l:?}");
        l.truncate(l.len() - 2);
        l
    }

    fn read(&mut self) -> Reply {
        let l = self.line();
        let rest = l[1..].to_vec();
        let num = || String::from_utf8(rest.clone()).unwrap().parse::<i64>().unwrap();
        match l[0] {
            b'+' => Reply::Status(rest),
            b'-' => Reply::Error(rest),
            b':' => Reply::Int(num()),
            b'$' => {
                let n = num();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            b'*' => {
                let n = num();
                if n < 0 {
                    return Reply::Array(None);
                }
                Reply::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            other => panic!("unexpected reply type {other}"),
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Reply {
        self.w.write_all(&Self::encode(args)).unwrap();
        self.read()
    }

    /// Sends all commands, then reads all replies (pipelining).
    fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let mut buf = Vec::new();
        for c in cmds {
            let refs: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            buf.extend_from_slice(&Self::encode(&refs));
        }
        self.w.write_all(&buf).unwrap();
        cmds.iter().map(|_| self.read()).collect()
    }
}

fn rand_from(rng: &mut StdRng, alphabet: &[u8], max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect()
}

#[test]
#[ignore]
fn diff_glob() {
    let Some(mut c) = Conn::open() else { return };
    let mut rng = StdRng::seed_from_u64(0x6c0b);
    c.cmd(&[b"SELECT", b"9"]);
    c.cmd(&[b"FLUSHDB"]);
    // Key set: random strings over a small alphabet so that matches happen.
    let key_alpha = b"abAB[]^-\\*?\x80\xff";
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    while keys.len() < 400 {
        keys.insert(rand_from(&mut rng, key_alpha, 6));
    }
    let cmds: Vec<Vec<Vec<u8>>> = keys.iter().map(|k| vec![b"SET".to_vec(), k.clone(), b"1".to_vec()]).collect();
    c.pipeline(&cmds);
    let pat_alpha = b"abAB*?[]^-\\\x80\xff";
    let mut checked = 0;
    for _ in 0..iters(3000) {
        let pat = rand_from(&mut rng, pat_alpha, 8);
        let got: BTreeSet<Vec<u8>> = c.cmd(&[b"KEYS", &pat]).array().iter().map(|r| r.bulk()).collect();
        let all = pat == b"*";
        let want: BTreeSet<Vec<u8>> = keys.iter().filter(|k| all || string_match(&pat, k, false)).cloned().collect();
        assert_eq!(got, want, "pattern {:?}", String::from_utf8_lossy(&pat));
        checked += 1;
    }
    eprintln!("glob: {checked} patterns x {} keys agree", keys.len());
    c.cmd(&[b"FLUSHDB"]);
}

#[test]
#[ignore]
fn diff_glob_nocase() {
    // CONFIG GET matches patterns containing one of "[*?" against every
    // non-hidden config name with nocase = 1.
    let Some(mut c) = Conn::open() else { return };
    let mut rng = StdRng::seed_from_u64(0xc0f);
    let all = c.cmd(&[b"CONFIG", b"GET", b"*"]).array();
    let names: BTreeSet<Vec<u8>> = all.iter().step_by(2).map(|r| r.bulk()).collect();
    let alpha = b"aAeEmMxXrRyYsS-*?[]^";
    let mut checked = 0;
    while checked < iters(2000) {
        let pat = rand_from(&mut rng, alpha, 7);
        if !pat.iter().any(|b| b"[*?".contains(b)) {
            continue;
        }
        let got: BTreeSet<Vec<u8>> =
            c.cmd(&[b"CONFIG", b"GET", &pat]).array().iter().step_by(2).map(|r| r.bulk()).collect();
        let want: BTreeSet<Vec<u8>> = names.iter().filter(|n| string_match(&pat, n, true)).cloned().collect();
        assert_eq!(got, want, "pattern {:?}", String::from_utf8_lossy(&pat));
        checked += 1;
    }
    eprintln!("glob nocase: {checked} patterns x {} config names agree", names.len());
}

fn rand_number_text(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => rand_from(rng, b"0123456789-+ .eExXaAfFinINtyTY\t\0", 8),
        1 => format!("{}", rng.gen::<i64>()).into_bytes(),
        2 => format!("{}", rng.gen_range(-1000i64..1000)).into_bytes(),
        3 => format!("{:e}", rng.gen::<f64>() * 10f64.powi(rng.gen_range(-30..30))).into_bytes(),
        4 => format!("{}", f64::from_bits(rng.gen::<u64>())).into_bytes(),
        5 => {
            format!("{}.{}e{}", rng.gen_range(-99..99), rng.gen_range(0..99999), rng.gen_range(-330..330)).into_bytes()
        }
        6 => [
            &b"inf"[..],
            b"-inf",
            b"+inf",
            b"Infinity",
            b"nan",
            b"0x1p3",
            b"0x1P-1074",
            b"-0",
            b"0",
            b"00",
            b"01",
            b"+1",
            b"1e400",
            b"1e-400",
            b"1e4933",
            b"1e-4960",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1.7976931348623157e308",
            b"4.9e-324",
            b"0.1",
            b" 1",
            b"1 ",
        ][rng.gen_range(0..23)]
        .to_vec(),
        7 => format!("{}", rng.gen_range(-1e6..1e6)).into_bytes(),
        8 => format!("{:.3}", rng.gen_range(-100.0..100.0)).into_bytes(),
        _ => format!("{}", rng.gen::<u64>()).into_bytes(),
    }
}

#[test]
#[ignore]
fn diff_numbers() {
    let Some(mut c) = Conn::open() else { return };
    let mut rng = StdRng::seed_from_u64(0x4e55);
    c.cmd(&[b"SELECT", b"9"]);
    c.cmd(&[b"FLUSHDB"]);
    let mut n = 0;
    for _ in 0..iters(4000) {
        let s = rand_number_text(&mut rng);
        // string2ll via INCRBY on a key holding 0.
        c.cmd(&[b"SET", b"i", b"0"]);
        let r = c.cmd(&[b"INCRBY", b"i", &s]);
        match string2ll(&s) {
            Some(v) => assert_eq!(r, Reply::Int(v), "string2ll {s:?}"),
            None => assert!(matches!(r, Reply::Error(_)), "string2ll {s:?}: {r:?}"),
        }
        // string2d via ZADD, fmt_double_reply via ZSCORE, d2string via ZSCAN
        // of a listpack zset.
        c.cmd(&[b"DEL", b"z"]);
        let r = c.cmd(&[b"ZADD", b"z", &s, b"m"]);
        match string2d(&s) {
            Some(v) => {
                assert_eq!(r, Reply::Int(1), "string2d {s:?}");
                let score = c.cmd(&[b"ZSCORE", b"z", b"m"]).bulk();
                // A listpack stores -0 as the integer 0.
                let stored = if v == 0.0 { 0.0 } else { v };
                assert_eq!(score, fmt_double_reply(stored), "zscore {s:?}");
                let scan = c.cmd(&[b"ZSCAN", b"z", b"0"]).array()[1].array();
                assert_eq!(scan[1].bulk(), zset_listpack_score_repr(v), "zscan {s:?}");
            }
            None => assert!(matches!(r, Reply::Error(_)), "string2d {s:?}: {r:?}"),
        }
        // INCRBYFLOAT and HINCRBYFLOAT with a random current value.
        let cur = if rng.gen_bool(0.2) { None } else { Some(rand_number_text(&mut rng)) };
        c.cmd(&[b"DEL", b"f", b"h"]);
        if let Some(cv) = &cur {
            c.cmd(&[b"SET", b"f", cv]);
            c.cmd(&[b"HSET", b"h", b"x", cv]);
        }
        let r = c.cmd(&[b"INCRBYFLOAT", b"f", &s]);
        match incrbyfloat(cur.as_deref(), &s) {
            Ok(v) => assert_eq!(r, Reply::Bulk(Some(v)), "incrbyfloat {cur:?} {s:?}"),
            Err(e) => assert_eq!(r, Reply::Error(e.message().as_bytes().to_vec()), "incrbyfloat {cur:?} {s:?}"),
        }
        let r = c.cmd(&[b"HINCRBYFLOAT", b"h", b"x", &s]);
        match hincrbyfloat(cur.as_deref(), &s) {
            Ok(v) => assert_eq!(r, Reply::Bulk(Some(v)), "hincrbyfloat {cur:?} {s:?}"),
            Err(e) => assert_eq!(r, Reply::Error(e.message().as_bytes().to_vec()), "hincrbyfloat {cur:?} {s:?}"),
        }
        n += 1;
    }
    eprintln!("numbers: {n} inputs agree");
    c.cmd(&[b"FLUSHDB"]);
}

#[test]
#[ignore]
fn diff_geo_human() {
    let Some(mut c) = Conn::open() else { return };
    let mut rng = StdRng::seed_from_u64(0x9e0);
    c.cmd(&[b"SELECT", b"9"]);
    c.cmd(&[b"FLUSHDB"]);
    for i in 0..iters(500) {
        let lon = rng.gen_range(-180.0..180.0f64);
        let lat = rng.gen_range(-85.0..85.0f64);
        let m = format!("m{i}");
        c.cmd(&[b"GEOADD", b"g", format!("{lon}").as_bytes(), format!("{lat}").as_bytes(), m.as_bytes()]);
        // The stored position is quantised; GEOPOS reports it with the human
        // long double format. Recompute from the score the same way is out
        // of scope here, so compare the format of the returned text: it must
        // be a fixed point of parse -> fmt_human_double.
        let pos = c.cmd(&[b"GEOPOS", b"g", m.as_bytes()]).array()[0].array();
        for coord in pos {
            let t = coord.bulk();
            let v: f64 = std::str::from_utf8(&t).unwrap().parse().unwrap();
            assert_eq!(fmt_human_double(v), t, "geopos {}", String::from_utf8_lossy(&t));
        }
        if i > 0 {
            let d = c.cmd(&[b"GEODIST", b"g", b"m0", m.as_bytes()]).bulk();
            let v: f64 = std::str::from_utf8(&d).unwrap().parse().unwrap();
            assert_eq!(fixedpoint_d2string(v, 4).unwrap(), d, "geodist");
        }
    }
    c.cmd(&[b"FLUSHDB"]);
}

#[test]
#[ignore]
fn diff_splitargs() {
    let Some(mut c) = Conn::open() else { return };
    let mut rng = StdRng::seed_from_u64(0x5a17);
    let alpha = b"ab \t\"'\\xnrtba0fF9\x0b\x0c\xff";
    let mut n = 0;
    for _ in 0..iters(3000) {
        let line = rand_from(&mut rng, alpha, 16);
        let mut inline = b"RPUSH L ".to_vec();
        inline.extend_from_slice(&line);
        inline.extend_from_slice(b"\r\n");
        c.cmd(&[b"SELECT", b"9"]);
        c.cmd(&[b"DEL", b"L"]);
        c.w.write_all(&inline).unwrap();
        let r = c.read();
        let mut full = b"RPUSH L ".to_vec();
        full.extend_from_slice(&line);
        match split_args(&full) {
            None => {
                assert_eq!(
                    r,
                    Reply::Error(b"ERR Protocol error: unbalanced quotes in request".to_vec()),
                    "line {:?}",
                    String::from_utf8_lossy(&line)
                );
                c = Conn::open().unwrap(); // the server closed the connection
            }
            Some(args) => {
                if args.len() <= 2 {
                    assert!(matches!(r, Reply::Error(_)), "line {line:?}: {r:?}");
                } else {
                    assert_eq!(r, Reply::Int(args.len() as i64 - 2), "line {line:?}");
                    let got: Vec<Vec<u8>> =
                        c.cmd(&[b"LRANGE", b"L", b"0", b"-1"]).array().iter().map(|x| x.bulk()).collect();
                    assert_eq!(got, args[2..].to_vec(), "line {line:?}");
                }
            }
        }
        n += 1;
    }
    eprintln!("splitargs: {n} lines agree");
}

fn hex_of(r: &Reply) -> String {
    String::from_utf8(r.bulk()).unwrap()
}

type Applier = Box<dyn Fn(&mut Digest)>;

#[test]
#[ignore]
fn diff_digest() {
    let Some(mut c) = Conn::open() else { return };
    let mut rng = StdRng::seed_from_u64(0xd16e);
    let elem_alpha = b"abc0123456789-.";
    let mut checked = 0;
    for round in 0..iters(60) {
        c.cmd(&[b"FLUSHALL"]);
        let mut ds = DatasetDigest::new();
        for db in [0u32, 3, 7] {
            if rng.gen_bool(0.3) {
                continue; // leave this db empty
            }
            c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
            ds.begin_db(db);
            for k in 0..rng.gen_range(1..6) {
                let key = format!("k{round}:{k}").into_bytes();
                let big = rng.gen_bool(0.3); // force non-compact encodings
                let count = if big { 200 } else { rng.gen_range(1..6) };
                let ty = rng.gen_range(0..6);
                let apply: Applier = match ty {
                    0 => {
                        let v = if rng.gen_bool(0.5) {
                            rng.gen_range(-100000i64..100000).to_string().into_bytes()
                        } else {
                            rand_from(&mut rng, elem_alpha, 12)
                        };
                        c.cmd(&[b"SET", &key, &v]);
                        Box::new(move |d| string_value_digest(d, &v))
                    }
                    1 => {
                        let els: Vec<Vec<u8>> = (0..count).map(|_| rand_from(&mut rng, elem_alpha, 6)).collect();
                        for e in &els {
                            c.cmd(&[b"RPUSH", &key, e]);
                        }
                        Box::new(move |d| list_value_digest(d, &els))
                    }
                    2 => {
                        let ints = rng.gen_bool(0.5);
                        let mut els = BTreeSet::new();
                        for _ in 0..count {
                            let e = if ints {
                                rng.gen_range(-1000i64..1000).to_string().into_bytes()
                            } else {
                                rand_from(&mut rng, elem_alpha, 6)
                            };
                            els.insert(e);
                        }
                        for e in &els {
                            c.cmd(&[b"SADD", &key, e]);
                        }
                        Box::new(move |d| set_value_digest(d, &els))
                    }
                    3 => {
                        let mut els = std::collections::BTreeMap::new();
                        for i in 0..count {
                            let s = rand_number_text(&mut rng);
                            if let Some(v) = string2d(&s) {
                                els.insert(format!("m{i}").into_bytes(), (s, v));
                            }
                        }
                        if els.is_empty() {
                            els.insert(b"m".to_vec(), (b"0.1".to_vec(), 0.1));
                        }
                        for (m, (s, _)) in &els {
                            c.cmd(&[b"ZADD", &key, s, m]);
                        }
                        // A listpack stores -0 as the integer 0: the first
                        // 128 ZADDs go to a listpack (converted to a skiplist
                        // with the normalised score on the 129th).
                        let els: Vec<(Vec<u8>, f64)> = els
                            .into_iter()
                            .enumerate()
                            .map(|(i, (m, (_, v)))| (m, if i < 128 && v == 0.0 { 0.0 } else { v }))
                            .collect();
                        Box::new(move |d| zset_value_digest(d, els.iter().map(|(m, v)| (m, *v))))
                    }
                    4 => {
                        let mut els = std::collections::BTreeMap::new();
                        for _ in 0..count {
                            els.insert(rand_from(&mut rng, elem_alpha, 5), rand_from(&mut rng, elem_alpha, 5));
                        }
                        for (f, v) in &els {
                            c.cmd(&[b"HSET", &key, f, v]);
                        }
                        Box::new(move |d| hash_value_digest(d, &els))
                    }
                    _ => {
                        let mut entries = Vec::new();
                        for i in 0..count.min(20) {
                            let id = (1000 + i as u64, rng.gen_range(0..3u64));
                            let nf = rng.gen_range(1..4);
                            let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..nf)
                                .map(|j| {
                                    let f = if rng.gen_bool(0.7) {
                                        format!("f{j}").into_bytes()
                                    } else {
                                        rand_from(&mut rng, elem_alpha, 4)
                                    };
                                    (f, rand_from(&mut rng, elem_alpha, 6))
                                })
                                .collect();
                            let idtxt = format!("{}-{}", id.0, id.1);
                            let mut args: Vec<&[u8]> = vec![b"XADD", &key, idtxt.as_bytes()];
                            for (f, v) in &fields {
                                args.push(f);
                                args.push(v);
                            }
                            assert!(matches!(c.cmd(&args), Reply::Bulk(_)));
                            entries.push((id, fields));
                        }
                        if rng.gen_bool(0.5) {
                            c.cmd(&[b"XGROUP", b"CREATE", &key, b"g", b"0"]);
                        }
                        Box::new(move |d| {
                            stream_value_digest(
                                d,
                                entries
                                    .iter()
                                    .map(|(id, f)| (*id, f.iter().map(|(a, b)| (a.as_slice(), b.as_slice())))),
                            )
                        })
                    }
                };
                let has_expire = rng.gen_bool(0.3);
                if has_expire {
                    c.cmd(&[b"EXPIRE", &key, b"1000"]);
                }
                let dv = c.cmd(&[b"DEBUG", b"DIGEST-VALUE", &key]).array();
                let want = digest_value(&apply, has_expire);
                assert_eq!(hex_of(&dv[0]), digest_to_hex(&want), "digest-value round {round} type {ty} big {big}");
                ds.add_key(&key, |d| {
                    apply(d);
                    if has_expire {
                        expire_digest(d);
                    }
                });
                checked += 1;
            }
        }
        let got = c.cmd(&[b"DEBUG", b"DIGEST"]);
        assert_eq!(hex_of(&got), ds.hex(), "dataset digest round {round}");
    }
    eprintln!("digest: {checked} keys agree");
    c.cmd(&[b"FLUSHALL"]);
}
