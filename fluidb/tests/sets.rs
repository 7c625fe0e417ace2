//! Set commands against the real binary: what the byte-for-byte differential script
//! (tests/diff/sets.txt) cannot compare. Large sets (hash-table order) compared sorted
//! with redis-server, SSCAN's guarantee while the table grows and shrinks, encoding
//! conversions, keyspace events, SPOP/SRANDMEMBER distributions, SPOP's propagation, COMMAND
//! INFO/DOCS against redis-server, and a property test against a BTreeSet model.

mod common;
mod inproc;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;
use inproc::Local;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The members of a multi-bulk reply, sorted (for replies in hash order).
fn sorted(raw: &str) -> Vec<String> {
    let mut v = flat(raw);
    v.sort();
    v
}

/// Sends a command built from owned strings.
fn call(r: &mut Raw, args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    r.call(&a)
}

/// SADD of `members` in batches.
fn sadd<I: IntoIterator<Item = String>>(r: &mut Raw, key: &str, members: I) {
    let v: Vec<String> = members.into_iter().collect();
    for chunk in v.chunks(300) {
        let mut args = vec!["SADD".to_string(), key.to_string()];
        args.extend(chunk.iter().cloned());
        let reply = call(r, &args);
        assert!(reply.starts_with(':'), "{reply}");
    }
}

fn ints(range: impl Iterator<Item = i64>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

fn strs(prefix: &str, range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

fn enc(r: &mut Raw, k: &str) -> String {
    flat(&r.call(&["OBJECT", "ENCODING", k]))[0].clone()
}

const WRONGTYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

/// The same mixed inputs in fluidB and redis-server: intsets, tables of integers (past
/// set-max-intset-entries), tables of strings and of both, and overlapping ranges.
fn fill_inputs(r: &mut Raw) {
    sadd(r, "small_ints", ints((0..400).step_by(7)));
    sadd(r, "neg_ints", ints(-200..200));
    sadd(r, "big_ints", ints(0..3000));
    sadd(r, "mixed", ints((0..1500).step_by(2)).into_iter().chain(strs("m:", 0..1500)));
    sadd(r, "strs", strs("m:", (0..2000).step_by(3)));
    sadd(r, "wide", ints((0..100).map(|i| i * 100_000_000_000 - 3_000_000_000)));
    sadd(r, "one", ["m:9".to_string()]);
}

#[test]
fn large_sets_compared_sorted_with_redis() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    fill_inputs(&mut a);
    fill_inputs(&mut b);
    let keys = ["small_ints", "neg_ints", "big_ints", "mixed", "strs", "wide", "one", "nokey"];
    for k in keys {
        let cmd = ["SMEMBERS", k];
        assert_eq!(sorted(&a.call(&cmd)), sorted(&b.call(&cmd)), "{cmd:?}");
        for c in ["SCARD", "OBJECT"] {
            let cmd: &[&str] = if c == "OBJECT" { &["OBJECT", "ENCODING", k] } else { &[c, k] };
            assert_eq!(a.call(cmd), b.call(cmd), "{cmd:?}");
        }
        let cmd = ["DEBUG", "DIGEST-VALUE", k];
        assert_eq!(a.call(&cmd), b.call(&cmd), "{cmd:?}");
    }
    assert_eq!(flat(&a.call(&["SCARD", "mixed"])), vec![":2250"]);
    let combos: &[&[&str]] = &[
        &["small_ints", "neg_ints"],
        &["neg_ints", "small_ints"],
        &["big_ints", "mixed"],
        &["mixed", "big_ints"],
        &["mixed", "strs"],
        &["strs", "mixed", "one"],
        &["big_ints", "neg_ints", "small_ints"],
        &["mixed", "small_ints", "strs"],
        &["wide", "big_ints", "neg_ints"],
        &["big_ints", "nokey"],
        &["mixed", "mixed"],
        &["mixed", "strs", "mixed"],
        &["strs"],
    ];
    for (i, ks) in combos.iter().enumerate() {
        for op in ["SINTER", "SUNION", "SDIFF"] {
            let mut cmd = vec![op];
            cmd.extend_from_slice(ks);
            let (x, y) = (sorted(&a.call(&cmd)), sorted(&b.call(&cmd)));
            assert_eq!(x, y, "{cmd:?}");
            // The STORE form stores the same members, in the same encoding.
            let dst = format!("dst:{op}:{i}");
            let store = format!("{op}STORE");
            let mut cmd = vec![store.as_str(), dst.as_str()];
            cmd.extend_from_slice(ks);
            assert_eq!(a.call(&cmd), b.call(&cmd), "{cmd:?}");
            assert_eq!(a.call(&cmd), format!(":{}\r\n", x.len()), "{cmd:?}");
            assert_eq!(sorted(&a.call(&["SMEMBERS", &dst])), x, "{cmd:?}");
            for c in [&["OBJECT", "ENCODING", &dst][..], &["EXISTS", &dst], &["DEBUG", "DIGEST-VALUE", &dst]] {
                assert_eq!(a.call(c), b.call(c), "{c:?} after {cmd:?}");
            }
        }
        let n = ks.len().to_string();
        for limit in ["0", "1", "100"] {
            let mut cmd = vec!["SINTERCARD", n.as_str()];
            cmd.extend_from_slice(ks);
            cmd.extend_from_slice(&["LIMIT", limit]);
            assert_eq!(a.call(&cmd), b.call(&cmd), "{cmd:?}");
        }
    }
    // SMISMEMBER across encodings.
    let mut cmd = vec!["SMISMEMBER".to_string(), "mixed".to_string()];
    cmd.extend(ints(-5..40).into_iter().chain(strs("m:", 1495..1505)).chain(["".to_string(), "01".to_string()]));
    assert_eq!(call(&mut a, &cmd), call(&mut b, &cmd));
    assert_eq!(a.call(&["DEBUG", "DIGEST"]), b.call(&["DEBUG", "DIGEST"]));
}

#[test]
fn sscan_guarantee_while_the_set_grows_and_shrinks() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    // Stable members stay for the whole scan; churn members come and go, so the table grows
    // (rehashing to bigger tables) and then shrinks below its starting size.
    sadd(&mut r, "s", strs("m:", 0..1000));
    let stable: BTreeSet<String> = strs("m:", (0..1000).step_by(3)).into_iter().collect();
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    let mut next_new = 1000;
    loop {
        let reply = flat(&r.call(&["SSCAN", "s", &cursor, "COUNT", "7"]));
        cursor = reply[0].clone();
        for m in &reply[1..] {
            assert!(m.starts_with("m:"), "{m}");
            seen.insert(m.clone());
        }
        calls += 1;
        if calls < 60 {
            sadd(&mut r, "s", strs("m:", next_new..next_new + 200));
            next_new += 200;
        } else if calls == 60 {
            let mut args = vec!["SREM".to_string(), "s".to_string()];
            args.extend(strs("m:", (0..next_new).filter(|i| *i >= 1000 || i % 3 != 0)));
            assert!(call(&mut r, &args).starts_with(':'));
        }
        if cursor == "0" {
            break;
        }
        assert!(calls < 100_000, "SSCAN does not terminate");
    }
    assert!(calls > 60, "the scan ended before the shrink ({calls} calls)");
    let missing: Vec<_> = stable.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "SSCAN missed {} stable members: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(flat(&r.call(&["SCARD", "s"])), vec![format!(":{}", stable.len())]);

    // A full scan of a quiet table returns each member (duplicates allowed) and nothing else.
    let mut all = BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let reply = flat(&r.call(&["SSCAN", "s", &cursor, "COUNT", "50"]));
        cursor = reply[0].clone();
        all.extend(reply[1..].iter().cloned());
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(all, stable);

    // MATCH filters members; an intset answers everything with cursor 0 whatever the cursor.
    let reply = flat(&r.call(&["SSCAN", "s", "0", "MATCH", "m:99", "COUNT", "100000"]));
    assert_eq!(reply, vec!["0", "m:99"]);
    sadd(&mut r, "is", ints(0..500));
    let reply = flat(&r.call(&["SSCAN", "is", "12345", "COUNT", "1"]));
    assert_eq!(reply.len(), 501);
    assert_eq!(reply[0], "0");
    assert_eq!(reply[1..], ints(0..500)[..]);
    let reply = flat(&r.call(&["SSCAN", "is", "0", "MATCH", "49?"]));
    assert_eq!(reply, ["0", "490", "491", "492", "493", "494", "495", "496", "497", "498", "499"]);
}

/// fluidB and redis-server side by side.
struct Pair {
    a: Raw,
    b: Raw,
}

impl Pair {
    /// Runs a command on both; the replies must be equal.
    fn both(&mut self, cmd: &[String]) -> String {
        let (x, y) = (call(&mut self.a, cmd), call(&mut self.b, cmd));
        assert_eq!(x, y, "{cmd:?} (left fluidB, right redis)");
        x
    }
    /// Runs a command on both without comparing the replies (random ones).
    fn each(&mut self, cmd: &[String]) {
        call(&mut self.a, cmd);
        call(&mut self.b, cmd);
    }
}

#[test]
fn encodings_follow_the_thresholds_as_redis() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let mut p = Pair { a: ours.raw(), b: redis.raw() };
    let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let sadd_cmd = |key: &str, m: Vec<String>| {
        let mut v = vec!["SADD".to_string(), key.to_string()];
        v.extend(m);
        v
    };
    let e = |k: &str| c(&["OBJECT", "ENCODING", k]);
    // 512 integers: an intset; the 513th converts.
    p.both(&sadd_cmd("i512", ints(0..512)));
    assert_eq!(p.both(&e("i512")), "$6\r\nintset\r\n");
    p.both(&sadd_cmd("i512", ints(511..512)));
    assert_eq!(p.both(&e("i512")), "$6\r\nintset\r\n");
    p.both(&sadd_cmd("i512", ints(-1..0)));
    assert_eq!(p.both(&e("i512")), "$9\r\nhashtable\r\n");
    p.both(&sadd_cmd("i513", ints(0..513)));
    assert_eq!(p.both(&e("i513")), "$9\r\nhashtable\r\n");
    // Never converted back, even once small again.
    let mut srem = c(&["SREM", "i513"]);
    srem.extend(ints(3..513));
    p.both(&srem);
    assert_eq!(p.both(&e("i513")), "$9\r\nhashtable\r\n");
    p.both(&c(&["SMISMEMBER", "i513", "0", "1", "2", "3"]));
    // A string converts; so does an integer out of range or not canonical.
    for (k, m) in [("s1", "a"), ("s2", "9223372036854775808"), ("s3", "01"), ("s4", "-0"), ("s5", "")] {
        p.both(&sadd_cmd(k, ints(0..10)));
        p.both(&sadd_cmd(k, vec![m.to_string()]));
        assert_eq!(p.both(&e(k)), "$9\r\nhashtable\r\n", "{k}");
    }
    p.both(&sadd_cmd("w", c(&["-9223372036854775808", "9223372036854775807", "0"])));
    assert_eq!(p.both(&e("w")), "$6\r\nintset\r\n");
    p.both(&c(&["SMEMBERS", "w"]));

    // CONFIG SET moves the threshold for later writes.
    p.both(&c(&["CONFIG", "SET", "set-max-intset-entries", "10"]));
    p.both(&sadd_cmd("t", ints(0..10)));
    assert_eq!(p.both(&e("t")), "$6\r\nintset\r\n");
    p.both(&sadd_cmd("t", ints(10..11)));
    assert_eq!(p.both(&e("t")), "$9\r\nhashtable\r\n");
    // Existing intsets larger than the new threshold stay until written to.
    assert_eq!(p.both(&e("i512")), "$9\r\nhashtable\r\n");
    p.both(&sadd_cmd("big_is", ints(100..120)));
    assert_eq!(p.both(&e("big_is")), "$9\r\nhashtable\r\n");
    // STORE results: an intset while small and integer, a table otherwise.
    p.both(&sadd_cmd("x", ints(0..30)));
    p.both(&sadd_cmd("y", ints(5..12)));
    p.both(&sadd_cmd("z", ints(20..40)));
    for (cmd, dst) in [
        (c(&["SINTERSTORE", "d1", "x", "y"]), "d1"),
        (c(&["SINTERSTORE", "d2", "x", "z"]), "d2"),
        (c(&["SUNIONSTORE", "d3", "y"]), "d3"),
        (c(&["SUNIONSTORE", "d4", "y", "z"]), "d4"),
        (c(&["SDIFFSTORE", "d5", "x", "z"]), "d5"),
        (c(&["SDIFFSTORE", "d6", "z", "x"]), "d6"),
        (c(&["SUNIONSTORE", "d7", "s1"]), "d7"),
        (c(&["SINTERSTORE", "d8", "s1", "y"]), "d8"),
        (c(&["SDIFFSTORE", "d9", "s1", "x"]), "d9"),
        (c(&["SMOVE", "s1", "d10", "a"]), "d10"),
        (c(&["SMOVE", "x", "d11", "1"]), "d11"),
    ] {
        p.both(&cmd);
        p.both(&e(dst));
        p.both(&c(&["SCARD", dst]));
        p.both(&c(&["DEBUG", "DIGEST-VALUE", dst]));
    }
    // SPOP rebuilding the set (most of it goes) starts a new set from the first survivor:
    // a table of integers becomes an intset again; popping a few keeps the table.
    p.both(&sadd_cmd("p", ints(0..100)));
    assert_eq!(p.both(&e("p")), "$9\r\nhashtable\r\n");
    p.each(&c(&["SPOP", "p", "95"]));
    assert_eq!(p.both(&e("p")), "$6\r\nintset\r\n");
    assert_eq!(p.both(&c(&["SCARD", "p"])), ":5\r\n");
    p.both(&sadd_cmd("q", ints(0..100)));
    p.each(&c(&["SPOP", "q", "20"]));
    assert_eq!(p.both(&e("q")), "$9\r\nhashtable\r\n");
    assert_eq!(p.both(&c(&["SCARD", "q"])), ":80\r\n");
    // ... and 20 surviving integers (more than the threshold) end up in a table.
    p.both(&sadd_cmd("q2", ints(0..200)));
    p.each(&c(&["SPOP", "q2", "180"]));
    assert_eq!(p.both(&e("q2")), "$9\r\nhashtable\r\n");
    assert_eq!(p.both(&c(&["SCARD", "q2"])), ":20\r\n");
    // A table of strings rebuilt with an integer survivor first may be either; compare
    // only its size. A table of strings stays a table.
    p.both(&sadd_cmd("r", strs("r", 0..100)));
    p.each(&c(&["SPOP", "r", "99"]));
    assert_eq!(p.both(&e("r")), "$9\r\nhashtable\r\n");
    // Threshold 0: every set is a table.
    p.both(&c(&["CONFIG", "SET", "set-max-intset-entries", "0"]));
    p.both(&sadd_cmd("zero", ints(0..1)));
    assert_eq!(p.both(&e("zero")), "$9\r\nhashtable\r\n");
    p.both(&c(&["SINTERSTORE", "zd", "y", "x"]));
    assert_eq!(p.both(&e("zd")), "$9\r\nhashtable\r\n");
}

#[test]
fn wrongtype_everywhere() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    r.call(&["SET", "str", "x"]);
    r.call(&["SADD", "set", "1", "a"]);
    for c in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a", "b"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "0"],
        &["SPOP", "str", "3"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "0"],
        &["SRANDMEMBER", "str", "3"],
        &["SRANDMEMBER", "str", "-3"],
        &["SMOVE", "str", "set", "a"],
        &["SMOVE", "set", "str", "a"],
        &["SMOVE", "set", "str", "zz"],
        &["SMOVE", "str", "nokey", "a"],
        &["SINTER", "str"],
        &["SINTER", "set", "str"],
        &["SINTER", "nokey", "str"],
        &["SINTERCARD", "2", "set", "str"],
        &["SINTERCARD", "2", "str", "nokey", "LIMIT", "1"],
        &["SINTERSTORE", "dst", "set", "str"],
        &["SINTERSTORE", "dst", "nokey", "str"],
        &["SUNION", "set", "str"],
        &["SUNION", "nokey", "str"],
        &["SUNIONSTORE", "dst", "str"],
        &["SUNIONSTORE", "dst", "set", "nokey", "str"],
        &["SDIFF", "str", "set"],
        &["SDIFF", "set", "set", "str"],
        &["SDIFF", "nokey", "str"],
        &["SDIFFSTORE", "dst", "set", "str"],
        &["SDIFFSTORE", "dst", "nokey", "str"],
        &["SSCAN", "str", "0"],
        &["SSCAN", "str", "0", "COUNT", "5", "MATCH", "*"],
    ] {
        assert_eq!(r.call(c), WRONGTYPE, "{c:?}");
    }
    // Nothing changed: the string, the set, no destination.
    assert_eq!(r.call(&["GET", "str"]), "$1\r\nx\r\n");
    assert_eq!(r.call(&["SCARD", "set"]), ":2\r\n");
    assert_eq!(r.call(&["EXISTS", "dst", "nokey"]), ":0\r\n");
    // A STORE overwrites a destination of another type.
    assert_eq!(r.call(&["SUNIONSTORE", "str", "set"]), ":2\r\n");
    assert_eq!(r.call(&["TYPE", "str"]), "+set\r\n");
}

/// Reads pub/sub messages until the marker, returning "channel payload" lines.
fn events_until_marker(sub: &mut Raw, pub_: &mut Raw, mark: &str) -> Vec<String> {
    assert_eq!(pub_.call(&["PUBLISH", "marker", mark]), ":1\r\n");
    let mut v = Vec::new();
    loop {
        let m = flat(&String::from_utf8_lossy(&sub.read_reply()));
        if m[0] == "message" {
            assert_eq!(m[2], mark);
            return v;
        }
        v.push(format!("{} {}", m[2], m[3]));
    }
}

#[test]
fn keyspace_events_match_redis() {
    let ours = Server::start(&["--notify-keyspace-events", "KEA"]);
    let redis = Server::start_redis(&["--notify-keyspace-events", "KEA"]);
    let cmds: &[&[&str]] = &[
        &["SADD", "s", "1", "2", "3"],
        &["SADD", "s", "1"],
        &["SADD", "s", "a"],
        &["SREM", "s", "zz"],
        &["SREM", "s", "a"],
        &["SMOVE", "s", "d", "1"],
        &["SMOVE", "s", "d", "zz"],
        &["SMOVE", "s", "s", "2"],
        &["SMOVE", "s", "d", "2"],
        &["SMOVE", "s", "d", "3"],
        &["SADD", "p", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
        &["SPOP", "p"],
        &["SPOP", "p", "0"],
        &["SPOP", "p", "1"],
        &["SPOP", "p", "6"],
        &["SPOP", "p", "100"],
        &["SADD", "p2", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
        &["SPOP", "p2", "9"],
        &["SADD", "p3", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
        &["SPOP", "p3", "9"],
        &["SPOP", "p3", "1"],
        &["SPOP", "nokey"],
        &["SPOP", "nokey", "3"],
        &["SADD", "p", "x"],
        &["SPOP", "p"],
        &["SADD", "a", "1", "2", "3"],
        &["SADD", "b", "2", "3", "4"],
        &["SINTERSTORE", "dst", "a", "b"],
        &["SUNIONSTORE", "dst", "a", "b"],
        &["SDIFFSTORE", "dst", "a", "b"],
        &["SINTERSTORE", "dst", "a", "nokey"],
        &["SINTERSTORE", "dst", "a", "nokey"],
        &["SUNIONSTORE", "dst", "nokey"],
        &["SDIFFSTORE", "dst", "a", "a"],
        &["SET", "str", "x"],
        &["SUNIONSTORE", "str", "a"],
        &["SREM", "a", "1", "2", "3", "4"],
        &["SMEMBERS", "b"],
        &["SRANDMEMBER", "b", "2"],
        &["SINTERCARD", "1", "b"],
        &["SADD", "str2", "x"],
        &["SADD", "e", "1"],
        &["SMOVE", "e", "e", "1"],
        &["SREM", "e", "1"],
    ];
    let mut got = Vec::new();
    for srv in [&ours, &redis] {
        let mut r = srv.raw();
        let mut sub = srv.raw();
        sub.call(&["PSUBSCRIBE", "__key*__:*"]);
        sub.call(&["SUBSCRIBE", "marker"]);
        let mut all = Vec::new();
        for (i, c) in cmds.iter().enumerate() {
            r.call(c);
            all.push((c.join(" "), events_until_marker(&mut sub, &mut r, &i.to_string())));
        }
        got.push(all);
    }
    for (x, y) in got[0].iter().zip(&got[1]) {
        assert_eq!(x, y, "events of {} (left fluidB, right redis)", x.0);
    }
}

/// Checks a reply of distinct members: all from `of`, `n` of them.
fn distinct_members(got: &[String], of: &BTreeSet<String>, n: usize, what: &str) -> BTreeSet<String> {
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), n, "{what}: {got:?}");
    assert_eq!(set.len(), n, "{what}: repeated members in {got:?}");
    assert!(set.is_subset(of), "{what}: not members: {:?}", set.difference(of).collect::<Vec<_>>());
    set
}

#[test]
fn srandmember_and_spop_distributions() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    for (key, members) in [("is", ints(0..100)), ("ht", strs("m:", 0..100))] {
        let n = members.len();
        let all: BTreeSet<String> = members.iter().cloned().collect();
        sadd(&mut r, key, members.clone());
        let want_enc = if key == "is" { "intset" } else { "hashtable" };
        assert_eq!(enc(&mut r, key), want_enc);
        // CASE 1: negative count: repetitions, roughly uniform (20 per member expected).
        let got = flat(&r.call(&["SRANDMEMBER", key, &format!("-{}", 20 * n)]));
        assert_eq!(got.len(), 20 * n);
        let mut hist: HashMap<&str, usize> = HashMap::new();
        for m in &got {
            assert!(all.contains(m), "{m}");
            *hist.entry(m).or_default() += 1;
        }
        assert!(hist.len() > n * 9 / 10, "{key}: only {} distinct of {n}", hist.len());
        let max = hist.values().max().copied().unwrap_or(0);
        assert!(max < 20 * 4, "{key}: a member came up {max} times (expected ~20)");
        // CASE 2: the count covers the set: all of it.
        for count in [n, n + 1, 1000] {
            let got = flat(&r.call(&["SRANDMEMBER", key, &count.to_string()]));
            assert_eq!(distinct_members(&got, &all, n, key), all);
        }
        // CASE 3 (count * 3 > size) and CASE 4: distinct members; over many calls every
        // member comes up, none far more often than the others.
        for (count, calls) in [(50usize, 100usize), (n - 1, 20), (10, 300), (2, 1000)] {
            let mut hist: HashMap<String, usize> = HashMap::new();
            for _ in 0..calls {
                let got = flat(&r.call(&["SRANDMEMBER", key, &count.to_string()]));
                for m in distinct_members(&got, &all, count, key) {
                    *hist.entry(m).or_default() += 1;
                }
            }
            let expected = count * calls / n;
            assert_eq!(hist.len(), n, "{key} count {count}: only {} members came up", hist.len());
            let max = hist.values().max().copied().unwrap_or(0);
            assert!(max <= expected * 3 + 5, "{key} count {count}: {max} times (expected ~{expected})");
        }
        // One member.
        let one = flat(&r.call(&["SRANDMEMBER", key]));
        assert!(all.contains(&one[0]));
        assert_eq!(flat(&r.call(&["SCARD", key])), vec![format!(":{n}")], "SRANDMEMBER removes nothing");

        // SPOP's three cases on fresh copies: popped + left = the set, nothing repeated.
        for count in [1usize, 10, 19, 60, 90, 99, 100, 150] {
            let k = format!("{key}:pop:{count}");
            sadd(&mut r, &k, members.clone());
            let got = flat(&r.call(&["SPOP", &k, &count.to_string()]));
            let popped = distinct_members(&got, &all, count.min(n), &k);
            let left: BTreeSet<String> = flat(&r.call(&["SMEMBERS", &k])).into_iter().collect();
            assert!(left.is_disjoint(&popped), "{k}");
            assert_eq!(left.union(&popped).cloned().collect::<BTreeSet<_>>(), all, "{k}");
            assert_eq!(r.call(&["EXISTS", &k]), if count >= n { ":0\r\n" } else { ":1\r\n" });
        }
        // Uniformity of SPOP (single, a few, most of the set) on a 20-member set: over 300
        // rounds each member is popped count*10 times on average.
        let small: Vec<String> = members[..20].to_vec();
        let small_set: BTreeSet<String> = small.iter().cloned().collect();
        for count in [None, Some(3usize), Some(18)] {
            let mut hist: HashMap<String, usize> = HashMap::new();
            let rounds = 300;
            for _ in 0..rounds {
                r.call(&["DEL", "u"]);
                sadd(&mut r, "u", small.clone());
                let got = match count {
                    None => flat(&r.call(&["SPOP", "u"])),
                    Some(c) => flat(&r.call(&["SPOP", "u", &c.to_string()])),
                };
                for m in distinct_members(&got, &small_set, count.unwrap_or(1), "u") {
                    *hist.entry(m).or_default() += 1;
                }
            }
            let expected = count.unwrap_or(1) * rounds / 20;
            assert_eq!(hist.len(), 20, "{key} SPOP {count:?}: {hist:?}");
            let max = hist.values().max().copied().unwrap_or(0);
            assert!(max <= expected * 3 + 5, "{key} SPOP {count:?}: {max} (expected ~{expected})");
            if count == Some(18) {
                // Survivors (2 per round) are spread too: none survives most rounds.
                let min = hist.values().min().copied().unwrap_or(0);
                assert!(min >= rounds / 2, "{key} SPOP 18: a member was popped only {min} times");
            }
        }
    }
    // RESP3 shapes: SPOP with a count is a set, SRANDMEMBER with a count an array.
    let mut r3 = s.raw();
    r3.call(&["HELLO", "3"]);
    assert!(r3.call(&["SRANDMEMBER", "is", "3"]).starts_with("*3\r\n"));
    assert!(r3.call(&["SRANDMEMBER", "ht", "-3"]).starts_with("*3\r\n"));
    assert!(r3.call(&["SPOP", "ht", "3"]).starts_with("~3\r\n"));
    assert!(r3.call(&["SPOP", "is", "200"]).starts_with("~100\r\n"));
    assert_eq!(r3.call(&["SPOP", "nokey", "2"]), "~0\r\n");
    assert_eq!(r3.call(&["SRANDMEMBER", "nokey", "2"]), "*0\r\n");
    assert_eq!(r3.call(&["SPOP", "nokey"]), "_\r\n");
}

#[test]
fn spop_propagates_as_srem_or_del() {
    let mut l = Local::new();
    let a = l.connect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(l.run(a, &["SADD", "s", "a", "b", "c"]), ":3\r\n");
    assert_eq!(l.run(a, &["SADD", "s", "a"]), ":0\r\n");
    assert_eq!(l.run(a, &["SREM", "s", "zz"]), ":0\r\n");
    assert_eq!(l.run(a, &["SPOP", "nokey"]), "$-1\r\n");
    assert_eq!(l.run(a, &["SPOP", "nokey", "5"]), "*0\r\n");
    assert_eq!(l.run(a, &["SPOP", "s", "0"]), "*0\r\n");
    assert_eq!(l.run(a, &["SPOP", "s", "-1"]), "-ERR value is out of range, must be positive\r\n");
    let one = flat(&l.run(a, &["SPOP", "s"]));
    assert_eq!(one.len(), 1);
    // Reads and no-op writes propagate nothing.
    l.run(a, &["SRANDMEMBER", "s", "-5"]);
    l.run(a, &["SMOVE", "s", "d", "zz"]);
    l.run(a, &["SMOVE", "s", "s", "a"]);
    let mut stream = l.stream();
    assert_eq!(stream[0], s(&["SELECT", "0"]));
    assert_eq!(stream[1], s(&["SADD", "s", "a", "b", "c"]));
    assert_eq!(stream[2], vec!["SREM".to_string(), "s".to_string(), one[0].clone()]);
    assert_eq!(stream.len(), 3, "{stream:?}");

    // A big table: CASE 3 (most of it goes) and CASE 2 (a few) become SREM batches of at
    // most 1024 members, in the order replied; covering the set becomes DEL.
    let mut sadd = vec!["SADD".to_string(), "big".to_string()];
    sadd.extend(ints(0..3000));
    let sadd_ref: Vec<&str> = sadd.iter().map(|x| x.as_str()).collect();
    assert_eq!(l.run(a, &sadd_ref), ":3000\r\n");
    let mut left: BTreeSet<String> = ints(0..3000).into_iter().collect();
    for count in [2500usize, 100, 1] {
        let before = l.stream().len();
        let got = flat(&l.run(a, &["SPOP", "big", &count.to_string()]));
        assert_eq!(got.len(), count);
        stream = l.stream();
        let mut new = &stream[before..];
        let shape: Vec<(String, usize)> = new.iter().map(|c| (c[0].clone(), c.len())).collect();
        let batches = count.div_ceil(1024);
        if batches > 1 {
            // Several commands from one command: a MULTI/EXEC unit, as Redis 7.0 does.
            assert!(new.len() == batches + 2 && new[0] == ["MULTI"] && new[batches + 1] == ["EXEC"], "{shape:?}");
            new = &new[1..=batches];
        }
        assert_eq!(new.len(), batches, "SPOP {count}: {shape:?}");
        let mut propagated = Vec::new();
        for c in new {
            assert_eq!(c[0], "SREM");
            assert_eq!(c[1], "big");
            assert!(c.len() - 2 <= 1024 && c.len() > 2, "a batch of {}", c.len() - 2);
            propagated.extend(c[2..].iter().cloned());
        }
        assert_eq!(propagated, got, "SPOP {count} propagates what it replied");
        for m in &got {
            assert!(left.remove(m), "{m} popped twice");
        }
    }
    assert_eq!(l.run(a, &["SCARD", "big"]), format!(":{}\r\n", left.len()));
    let before = l.stream().len();
    let got = flat(&l.run(a, &["SPOP", "big", "1000"]));
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), left);
    assert_eq!(l.run(a, &["EXISTS", "big"]), ":0\r\n");
    assert_eq!(l.stream()[before..], [s(&["DEL", "big"])]);
    // Under lazyfree-lazy-server-del, an UNLINK.
    assert_eq!(l.run(a, &["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]), "+OK\r\n");
    l.run(a, &["SADD", "u", "1", "2"]);
    let before = l.stream().len();
    l.run(a, &["SPOP", "u", "2"]);
    assert_eq!(l.stream()[before..], [s(&["UNLINK", "u"])]);
    // The one-member SPOP that empties the set is an SREM (Redis 7.0 does not turn it into
    // a DEL), and the other writes go verbatim.
    l.run(a, &["SADD", "v", "x"]);
    let before = l.stream().len();
    assert_eq!(l.run(a, &["SPOP", "v"]), "$1\r\nx\r\n");
    l.run(a, &["SADD", "a", "1", "2"]);
    l.run(a, &["SMOVE", "a", "b", "1"]);
    // An empty result with no destination to delete changes nothing: not propagated.
    assert_eq!(l.run(a, &["SINTERSTORE", "c", "a", "b"]), ":0\r\n");
    assert_eq!(l.run(a, &["SINTERSTORE", "c", "a", "a"]), ":1\r\n");
    assert_eq!(l.run(a, &["SUNIONSTORE", "c", "a", "b"]), ":2\r\n");
    assert_eq!(l.run(a, &["SDIFFSTORE", "c", "a", "b"]), ":1\r\n");
    assert_eq!(l.run(a, &["SINTERSTORE", "c", "a", "b"]), ":0\r\n");
    assert_eq!(l.run(a, &["SDIFFSTORE", "c", "a", "a"]), ":0\r\n");
    assert_eq!(
        l.stream()[before..],
        [
            s(&["SREM", "v", "x"]),
            s(&["SADD", "a", "1", "2"]),
            s(&["SMOVE", "a", "b", "1"]),
            s(&["SINTERSTORE", "c", "a", "a"]),
            s(&["SUNIONSTORE", "c", "a", "b"]),
            s(&["SDIFFSTORE", "c", "a", "b"]),
            s(&["SINTERSTORE", "c", "a", "b"]),
        ]
    );
}

const SET_COMMANDS: &[&str] = &[
    "sadd",
    "srem",
    "smembers",
    "sismember",
    "smismember",
    "scard",
    "spop",
    "srandmember",
    "smove",
    "sinter",
    "sintercard",
    "sinterstore",
    "sunion",
    "sunionstore",
    "sdiff",
    "sdiffstore",
    "sscan",
];

/// A parsed RESP reply: scalars keep their type byte, aggregates their type byte and
/// children (a map's keys and values alternate).
#[derive(Debug, Clone, PartialEq)]
enum Resp {
    Scalar(u8, String),
    Agg(u8, Vec<Resp>),
}

fn parse_resp(lines: &mut std::str::Split<'_, &str>) -> Resp {
    let l = lines.next().expect("a RESP line");
    let (t, body) = (l.as_bytes()[0], &l[1..]);
    match t {
        b'$' | b'=' | b'!' if body != "-1" => Resp::Scalar(t, lines.next().unwrap_or_default().to_string()),
        b'*' | b'~' | b'>' | b'%' | b'|' if body != "-1" => {
            let n: usize = body.parse().expect("aggregate length");
            let n = if t == b'%' || t == b'|' { 2 * n } else { n };
            Resp::Agg(t, (0..n).map(|_| parse_resp(lines)).collect())
        }
        _ => Resp::Scalar(t, body.to_string()),
    }
}

/// COMMAND DOCS without the "arguments" entry of each command's doc map.
fn docs_without_arguments(raw: &str) -> Resp {
    let mut lines = raw.split("\r\n");
    let Resp::Agg(t, mut items) = parse_resp(&mut lines) else { panic!("{raw:?}") };
    for doc in items.iter_mut().skip(1).step_by(2) {
        if let Resp::Agg(_, kv) = doc {
            if let Some(i) = kv.iter().step_by(2).position(|k| matches!(k, Resp::Scalar(_, s) if s == "arguments")) {
                kv.drain(2 * i..2 * i + 2);
            }
        }
    }
    Resp::Agg(t, items)
}

#[test]
fn command_info_and_docs_match_redis_7_0() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for proto in ["2", "3"] {
        a.call(&["HELLO", proto]);
        b.call(&["HELLO", proto]);
        for c in SET_COMMANDS {
            // A known difference (`command_info_key_range_matches_redis_7_0`): the legacy
            // key range of the multi-key commands; everything else must match.
            let (x, y) = (a.call(&["COMMAND", "INFO", c]), b.call(&["COMMAND", "INFO", c]));
            assert_eq!(info_without_key_range(&x), info_without_key_range(&y), "COMMAND INFO {c} (RESP{proto})");
            // fluidB's command tables carry no argument docs (for any family): compare the
            // rest; `command_docs_arguments_match_redis_7_0` covers them.
            let (x, y) = (a.call(&["COMMAND", "DOCS", c]), b.call(&["COMMAND", "DOCS", c]));
            assert_eq!(docs_without_arguments(&x), docs_without_arguments(&y), "COMMAND DOCS {c} (RESP{proto})");
        }
    }
    // Key extraction, including SINTERCARD's numkeys.
    for c in [
        &["COMMAND", "GETKEYS", "SINTERCARD", "2", "a", "b", "LIMIT", "1"][..],
        &["COMMAND", "GETKEYS", "SMOVE", "a", "b", "m"],
        &["COMMAND", "GETKEYS", "SDIFFSTORE", "d", "a", "b"],
        &["COMMAND", "GETKEYS", "SINTERCARD", "3", "a", "b"],
        &["COMMAND", "GETKEYS", "SINTERCARD", "0", "a"],
    ] {
        assert_eq!(a.call(c), b.call(c), "{c:?}");
    }
}

/// COMMAND INFO of one command without its legacy key range (first, last, step: the
/// 4th to 6th fields).
fn info_without_key_range(raw: &str) -> Resp {
    let mut lines = raw.split("\r\n");
    let Resp::Agg(t, mut items) = parse_resp(&mut lines) else { panic!("{raw:?}") };
    if let Some(Resp::Agg(_, fields)) = items.get_mut(0) {
        fields.drain(3..6);
    }
    Resp::Agg(t, items)
}

/// The legacy key range (first, last, step) of SMOVE is (1, 2, 1) in Redis 7.0, that of
/// SINTER, SUNION, SDIFF and their STORE forms (1, -1, 1) and SINTERCARD's (0, 0, 0):
/// derived from the key specs (`table::legacy_range`). Cluster-aware clients route by them.
#[test]
fn command_info_key_range_matches_redis_7_0() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for c in SET_COMMANDS {
        assert_eq!(a.call(&["COMMAND", "INFO", c]), b.call(&["COMMAND", "INFO", c]), "COMMAND INFO {c}");
    }
}

#[test]
#[ignore = "COMMAND DOCS has no \"arguments\" entries: the command tables do not describe arguments yet"]
fn command_docs_arguments_match_redis_7_0() {
    let ours = Server::start(&[]);
    let redis = Server::start_redis(&[]);
    let (mut a, mut b) = (ours.raw(), redis.raw());
    for c in SET_COMMANDS {
        assert_eq!(a.call(&["COMMAND", "DOCS", c]), b.call(&["COMMAND", "DOCS", c]), "COMMAND DOCS {c}");
    }
}

/// A negative count repeats members, so its reply is not bounded by the set: past the
/// reply limit (512 MB, as HRANDFIELD's) the reply is an error, not an unbounded buffer.
/// Redis itself would try to build the reply. A 4 MB member reaches the limit after 129
/// draws, so this stays fast.
#[test]
fn srandmember_huge_negative_count_is_bounded() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let big = "x".repeat(4 << 20);
    assert_eq!(r.call(&["SADD", "s", &big]), ":1\r\n");
    let got = r.call(&["SRANDMEMBER", "s", "-4611686018427387903"]);
    assert!(got.starts_with("-ERR reply too large"), "{}", &got[..got.len().min(80)]);
    let got = r.call(&["SRANDMEMBER", "s", "-9223372036854775807"]);
    assert!(got.starts_with("-ERR reply too large"), "{}", &got[..got.len().min(80)]);
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    // Small members: an intset draw is cheap, the count alone is not trusted either.
    r.call(&["SADD", "i", "1", "2"]);
    let got = r.call(&["SRANDMEMBER", "i", "-100000"]);
    assert!(got.starts_with("*100000\r\n"), "{}", &got[..got.len().min(80)]);
    assert_eq!(r.call(&["SCARD", "s"]), ":1\r\n");
}

// ---- property test: fluidB against a BTreeSet model ----

#[derive(Debug, Clone)]
enum Op {
    Sadd(usize, Vec<String>),
    Srem(usize, Vec<String>),
    Spop(usize, usize),
    Smove(usize, usize, String),
    Store(&'static str, usize, Vec<usize>),
}

const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];

fn member() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (-20i64..20).prop_map(|i| i.to_string()),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(70000i64), Just(-3_000_000_000)].prop_map(|i| i.to_string()),
        2 => "[a-c]{1,2}",
        1 => prop_oneof![Just("01".to_string()), Just("".to_string()), Just("-0".to_string())],
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (key.clone(), prop::collection::vec(member(), 1..8)).prop_map(|(k, m)| Op::Sadd(k, m)),
        2 => (key.clone(), prop::collection::vec(member(), 1..5)).prop_map(|(k, m)| Op::Srem(k, m)),
        2 => (key.clone(), 0usize..12).prop_map(|(k, c)| Op::Spop(k, c)),
        2 => (key.clone(), key.clone(), member()).prop_map(|(a, b, m)| Op::Smove(a, b, m)),
        3 => (
            prop_oneof![Just("SINTERSTORE"), Just("SUNIONSTORE"), Just("SDIFFSTORE")],
            key.clone(),
            prop::collection::vec(key, 1..4)
        )
            .prop_map(|(c, d, ks)| Op::Store(c, d, ks)),
    ]
}

type Model = BTreeMap<&'static str, BTreeSet<String>>;

fn apply(r: &mut Raw, m: &mut Model, op: &Op) -> Result<(), TestCaseError> {
    let get = |m: &Model, k: usize| m.get(KEYS[k]).cloned().unwrap_or_default();
    match op {
        Op::Sadd(k, ms) => {
            let mut args = vec!["SADD".to_string(), KEYS[*k].to_string()];
            args.extend(ms.iter().cloned());
            let s = m.entry(KEYS[*k]).or_default();
            let added = ms.iter().filter(|x| s.insert((*x).clone())).count();
            prop_assert_eq!(call(r, &args), format!(":{added}\r\n"));
        }
        Op::Srem(k, ms) => {
            let mut args = vec!["SREM".to_string(), KEYS[*k].to_string()];
            args.extend(ms.iter().cloned());
            let s = m.entry(KEYS[*k]).or_default();
            let removed = ms.iter().filter(|x| s.remove(*x)).count();
            prop_assert_eq!(call(r, &args), format!(":{removed}\r\n"));
        }
        Op::Spop(k, c) => {
            let got = flat(&r.call(&["SPOP", KEYS[*k], &c.to_string()]));
            let s = m.entry(KEYS[*k]).or_default();
            prop_assert_eq!(got.len(), (*c).min(s.len()));
            for x in &got {
                prop_assert!(s.remove(x), "SPOP returned {:?}, not a member (or twice)", x);
            }
        }
        Op::Smove(a, b, x) => {
            let (sa, sb) = (get(m, *a), get(m, *b));
            let moved = sa.contains(x);
            let got = r.call(&["SMOVE", KEYS[*a], KEYS[*b], x]);
            prop_assert_eq!(got, format!(":{}\r\n", moved as u8));
            if moved && a != b {
                m.entry(KEYS[*a]).or_default().remove(x);
                let mut sb = sb;
                sb.insert(x.clone());
                m.insert(KEYS[*b], sb);
            }
        }
        Op::Store(cmd, d, ks) => {
            let sets: Vec<BTreeSet<String>> = ks.iter().map(|k| get(m, *k)).collect();
            let mut res = sets[0].clone();
            for s in &sets[1..] {
                res = match *cmd {
                    "SINTERSTORE" => res.intersection(s).cloned().collect(),
                    "SUNIONSTORE" => res.union(s).cloned().collect(),
                    _ => res.difference(s).cloned().collect(),
                };
            }
            let mut args = vec![cmd.to_string(), KEYS[*d].to_string()];
            args.extend(ks.iter().map(|k| KEYS[*k].to_string()));
            prop_assert_eq!(call(r, &args), format!(":{}\r\n", res.len()));
            m.insert(KEYS[*d], res);
        }
    }
    Ok(())
}

#[test]
fn random_operations_match_a_btreeset_model() {
    let s = Server::start(&[]);
    let r = RefCell::new(s.raw());
    // A small threshold so that intsets convert (and SPOP rebuilds) within a few steps.
    assert_eq!(r.borrow_mut().call(&["CONFIG", "SET", "set-max-intset-entries", "6"]), "+OK\r\n");
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let result = runner.run(&prop::collection::vec(op(), 1..25), |ops| {
        let mut r = r.borrow_mut();
        let r = &mut *r;
        r.call(&["FLUSHALL"]);
        let mut model = Model::new();
        for op in &ops {
            apply(r, &mut model, op)?;
            for k in KEYS {
                let want = model.get(k).cloned().unwrap_or_default();
                let got = sorted(&r.call(&["SMEMBERS", k]));
                prop_assert_eq!(&got, &want.iter().cloned().collect::<Vec<_>>(), "SMEMBERS {} after {:?}", k, op);
                prop_assert_eq!(r.call(&["SCARD", k]), format!(":{}\r\n", want.len()));
                // Empty sets do not exist; an intset holds only integers within the limit.
                prop_assert_eq!(r.call(&["EXISTS", k]), format!(":{}\r\n", !want.is_empty() as u8));
                if !want.is_empty() && enc(r, k) == "intset" {
                    prop_assert!(want.len() <= 6, "an intset of {} members", want.len());
                    prop_assert!(want.iter().all(|x| x.parse::<i64>().is_ok_and(|v| v.to_string() == *x)));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
