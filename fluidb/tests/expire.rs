//! Expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT), TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST; lazy expiry on access and active expiry in the background.

mod common;
mod inproc;
use common::*;
use inproc::Local;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn q(r: &mut Raw, args: &[&str]) -> String {
    r.call(args)
}

fn err(msg: &str) -> String {
    format!("-{msg}\r\n")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Writes `n` `SET prefix<i> v <extra...>` commands in one pipeline and checks the replies.
fn fill(r: &mut Raw, prefix: &str, n: usize, extra: &[&str]) {
    let mut buf = Vec::new();
    for i in 0..n {
        let k = format!("{prefix}{i}");
        let mut a: Vec<&[u8]> = vec![b"SET", k.as_bytes(), b"v"];
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

/// A field of INFO (as an integer).
fn info_field(r: &mut Raw, section: &str, field: &str) -> i64 {
    let rep = q(r, &["INFO", section]);
    for line in rep.lines() {
        if let Some(v) = line.strip_prefix(&format!("{field}:")) {
            return v.trim().parse().unwrap_or_else(|_| panic!("{field}: {v}"));
        }
    }
    panic!("INFO {section} has no {field}: {rep}");
}

#[test]
fn ttl_commands_report_missing_persistent_and_volatile_keys() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut r, &[cmd, "nokey"]), -2, "{cmd}");
    }
    ok(&mut r, &["SET", "k", "v"]);
    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut r, &[cmd, "k"]), -1, "{cmd}");
    }
    let before = now_ms();
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100"]), 1);
    let after = now_ms();
    assert_eq!(int(&mut r, &["TTL", "k"]), 100);
    let pttl = int(&mut r, &["PTTL", "k"]);
    assert!(pttl > 99_000 && pttl <= 100_000, "{pttl}");
    let pat = int(&mut r, &["PEXPIRETIME", "k"]);
    assert!(pat >= before + 100_000 && pat <= after + 100_000, "{pat}");
    assert_eq!(int(&mut r, &["EXPIRETIME", "k"]), (pat + 500) / 1000);
    assert_eq!(int(&mut r, &["PEXPIRE", "k", "5700"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), 6, "rounded to the nearest second");
    assert_eq!(int(&mut r, &["PEXPIRE", "k", "5300"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), 5);
    assert_eq!(int(&mut r, &["EXPIREAT", "k", "4102444800"]), 1);
    assert_eq!(int(&mut r, &["EXPIRETIME", "k"]), 4102444800);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "k"]), 4102444800000);
    assert_eq!(int(&mut r, &["PEXPIREAT", "k", "4102444800499"]), 1);
    assert_eq!(int(&mut r, &["EXPIRETIME", "k"]), 4102444800);
    assert_eq!(int(&mut r, &["PEXPIREAT", "k", "4102444800500"]), 1);
    assert_eq!(int(&mut r, &["EXPIRETIME", "k"]), 4102444801);
    // A key expiring at the largest representable time.
    assert_eq!(int(&mut r, &["PEXPIREAT", "k", "9223372036854775807"]), 1);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "k"]), 9223372036854775807);
    assert_eq!(int(&mut r, &["EXPIRETIME", "k"]), 9223372036854776);
    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        let want = format!("-ERR wrong number of arguments for '{}' command\r\n", cmd.to_lowercase());
        assert_eq!(q(&mut r, &[cmd]), want);
        assert_eq!(q(&mut r, &[cmd, "a", "b"]), want);
    }
}

#[test]
fn expire_on_missing_key_and_persist() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
        assert_eq!(int(&mut r, &[cmd, "nokey", "100"]), 0, "{cmd}");
        assert_eq!(int(&mut r, &[cmd, "nokey", "-100"]), 0, "{cmd}");
    }
    assert_eq!(int(&mut r, &["EXISTS", "nokey"]), 0, "EXPIRE does not create keys");
    assert_eq!(int(&mut r, &["PERSIST", "nokey"]), 0);
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(int(&mut r, &["PERSIST", "k"]), 0, "no TTL to remove");
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(int(&mut r, &["PERSIST", "k"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), -1);
    assert_eq!(int(&mut r, &["PERSIST", "k"]), 0);
    assert_eq!(q(&mut r, &["PERSIST"]), err("ERR wrong number of arguments for 'persist' command"));
    // Overwriting with SET clears the TTL; KEEPTTL keeps it; INCR keeps it.
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100"]), 1);
    ok(&mut r, &["SET", "k", "v2", "KEEPTTL"]);
    assert_eq!(int(&mut r, &["TTL", "k"]), 100);
    ok(&mut r, &["SET", "k", "5"]);
    assert_eq!(int(&mut r, &["TTL", "k"]), -1);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(int(&mut r, &["INCR", "k"]), 6);
    assert_eq!(int(&mut r, &["TTL", "k"]), 100);
}

#[test]
fn nx_xx_gt_lt_conditions() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    // No TTL: XX and GT refuse (no TTL is an infinite TTL), NX and LT accept.
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(int(&mut r, &["TTL", "k"]), -1);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "LT"]), 1);
    assert_eq!(int(&mut r, &["PERSIST", "k"]), 1);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), 100);
    // With a TTL.
    assert_eq!(int(&mut r, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "300", "XX"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), 300);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "200", "GT"]), 0);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "400", "gt"]), 1);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "500", "LT"]), 0);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "50", "lt"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), 50);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "60", "XX", "GT"]), 1);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "40", "XX", "LT"]), 1);
    assert_eq!(int(&mut r, &["TTL", "k"]), 40);
    // Equal times are neither greater nor less.
    assert_eq!(int(&mut r, &["PEXPIREAT", "k", "4102444800000"]), 1);
    assert_eq!(int(&mut r, &["PEXPIREAT", "k", "4102444800000", "GT"]), 0);
    assert_eq!(int(&mut r, &["PEXPIREAT", "k", "4102444800000", "LT"]), 0);
    assert_eq!(int(&mut r, &["EXPIREAT", "k", "4102444801", "GT"]), 1);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "k"]), 4102444801000);
    // Repeated options are fine.
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "xx", "XX"]), 1);
    // Options and a missing key: 0.
    for opt in ["NX", "XX", "GT", "LT"] {
        assert_eq!(int(&mut r, &["EXPIRE", "nokey", "100", opt]), 0);
    }
}

#[test]
fn expire_errors() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    let incompatible = err("ERR NX and XX, GT or LT options at the same time are not compatible");
    for opts in [&["NX", "XX"][..], &["NX", "GT"], &["nx", "lt"], &["XX", "NX"], &["XX", "GT", "LT", "NX"]] {
        let mut a = vec!["EXPIRE", "k", "100"];
        a.extend_from_slice(opts);
        assert_eq!(q(&mut r, &a), incompatible, "{opts:?}");
    }
    let gtlt = err("ERR GT and LT options at the same time are not compatible");
    assert_eq!(q(&mut r, &["EXPIRE", "k", "100", "GT", "LT"]), gtlt);
    assert_eq!(q(&mut r, &["PEXPIREAT", "k", "100", "lt", "XX", "gt"]), gtlt);
    assert_eq!(q(&mut r, &["EXPIRE", "k", "100", "FOO"]), err("ERR Unsupported option FOO"));
    assert_eq!(q(&mut r, &["EXPIRE", "k", "100", "NX", "bar"]), err("ERR Unsupported option bar"));
    assert_eq!(q(&mut r, &["EXPIRE", "k", "100", ""]), err("ERR Unsupported option "));
    // Options are checked before the time argument.
    assert_eq!(q(&mut r, &["EXPIRE", "k", "abc", "NX", "XX"]), incompatible);
    let not_int = err("ERR value is not an integer or out of range");
    for t in ["abc", "1.5", "", " 1", "99999999999999999999", "0x10"] {
        for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
            assert_eq!(q(&mut r, &[cmd, "k", t]), not_int, "{cmd} {t:?}");
        }
    }
    // Overflow of the unit conversion or of the addition of the current time.
    let bad = |c: &str| err(&format!("ERR invalid expire time in '{c}' command"));
    assert_eq!(q(&mut r, &["EXPIRE", "k", "9223372036854776"]), bad("expire"));
    assert_eq!(q(&mut r, &["EXPIRE", "k", "-9223372036854776"]), bad("expire"));
    assert_eq!(q(&mut r, &["EXPIRE", "k", "9223372036854775"]), bad("expire"), "plus now overflows");
    assert_eq!(q(&mut r, &["EXPIRE", "nokey", "9223372036854775807"]), bad("expire"), "checked before the key");
    assert_eq!(q(&mut r, &["PEXPIRE", "k", "9223372036854775807"]), bad("pexpire"));
    assert_eq!(q(&mut r, &["EXPIREAT", "k", "9223372036854776"]), bad("expireat"));
    assert_eq!(int(&mut r, &["TTL", "k"]), -1, "errors leave the key alone");
    assert_eq!(q(&mut r, &["EXPIRE", "k"]), err("ERR wrong number of arguments for 'expire' command"));
    assert_eq!(q(&mut r, &["PEXPIREAT", "k"]), err("ERR wrong number of arguments for 'pexpireat' command"));
}

#[test]
fn a_time_in_the_past_deletes_the_key() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let past = ["-1", "0"];
    for cmd in ["EXPIRE", "PEXPIRE"] {
        for t in past {
            ok(&mut r, &["SET", "k", "v"]);
            assert_eq!(int(&mut r, &[cmd, "k", t]), 1, "{cmd} {t}");
            assert_eq!(int(&mut r, &["EXISTS", "k"]), 0, "{cmd} {t}");
            assert_eq!(int(&mut r, &["DBSIZE"]), 0, "deleted, not just hidden");
        }
    }
    for (cmd, t) in [("EXPIREAT", "1"), ("EXPIREAT", "0"), ("PEXPIREAT", "1000"), ("PEXPIREAT", "-9223372036854775808")]
    {
        ok(&mut r, &["SET", "k", "v"]);
        assert_eq!(int(&mut r, &[cmd, "k", t]), 1, "{cmd} {t}");
        assert_eq!(int(&mut r, &["DBSIZE"]), 0, "{cmd} {t}");
    }
    // Conditions are evaluated first.
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "-100", "XX"]), 0);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "-100", "GT"]), 0);
    assert_eq!(int(&mut r, &["EXISTS", "k"]), 1);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "-100", "LT"]), 1);
    assert_eq!(int(&mut r, &["EXISTS", "k"]), 0);
    // The deletion does not count as an expiry.
    assert_eq!(info_field(&mut r, "stats", "expired_keys"), 0);
}

#[test]
fn lazy_expiry_on_access() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut r, &["SET", "k", "v", "PX", "30"]);
    assert_eq!(q(&mut r, &["GET", "k"]), "$1\r\nv\r\n");
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(int(&mut r, &["DBSIZE"]), 1, "still stored until accessed");
    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(int(&mut r, &[cmd, "k"]), -2, "{cmd}");
    }
    assert_eq!(int(&mut r, &["DBSIZE"]), 0);
    assert_eq!(info_field(&mut r, "stats", "expired_keys"), 1);
    // Writes see an expired key as missing.
    ok(&mut r, &["SET", "k", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(int(&mut r, &["PERSIST", "k"]), 0);
    ok(&mut r, &["SET", "k", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100"]), 0);
    assert_eq!(int(&mut r, &["EXISTS", "k"]), 0);
    assert_eq!(info_field(&mut r, "stats", "expired_keys"), 3);
}

#[test]
fn active_expiry_removes_keys_nobody_accesses() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let n = 20_000;
    fill(&mut r, "short:", n, &["PX", "100"]);
    fill(&mut r, "long:", 100, &["EX", "1000"]);
    ok(&mut r, &["SELECT", "3"]);
    fill(&mut r, "db3:", 1000, &["PX", "100"]);
    ok(&mut r, &["SELECT", "0"]);
    wait_for("short-lived keys to expire actively", Duration::from_secs(60), || int(&mut r, &["DBSIZE"]) == 100);
    ok(&mut r, &["SELECT", "3"]);
    wait_for("keys of db 3 to expire actively", Duration::from_secs(60), || int(&mut r, &["DBSIZE"]) == 0);
    ok(&mut r, &["SELECT", "0"]);
    let ttl = int(&mut r, &["TTL", "long:99"]);
    assert!(ttl > 900 && ttl <= 1000, "keys with a later TTL stay ({ttl})");
}

#[test]
fn active_expiry_counts_in_info() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let n = 5_000;
    fill(&mut r, "k", n, &["PX", "50"]);
    wait_for("keys to expire actively", Duration::from_secs(60), || int(&mut r, &["DBSIZE"]) == 0);
    assert_eq!(info_field(&mut r, "stats", "expired_keys"), n as i64);
}

#[test]
fn active_expiry_can_be_switched_off() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    fill(&mut r, "k", 1000, &["PX", "10"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(int(&mut r, &["DBSIZE"]), 1000);
    ok(&mut r, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    wait_for("keys to expire once active expiry is back", Duration::from_secs(60), || int(&mut r, &["DBSIZE"]) == 0);
}

#[test]
fn a_big_batch_expiring_at_once_does_not_stall_other_clients() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let n = 200_000;
    // Every key expires at the same absolute millisecond, shortly after loading.
    let at = (now_ms() + 4000).to_string();
    fill(&mut r, "batch:", n, &["PXAT", &at]);
    assert_eq!(int(&mut r, &["DBSIZE"]), n as i64);
    // Measure PING round trips from another client while the batch expires.
    let stop = Arc::new(AtomicBool::new(false));
    let port = s.port;
    let st = stop.clone();
    let pinger = std::thread::spawn(move || {
        let mut p = Raw::connect(port);
        let mut worst = Duration::ZERO;
        let mut pings = 0u64;
        while !st.load(Ordering::Relaxed) {
            let t = Instant::now();
            assert_eq!(p.call(&["PING"]), "+PONG\r\n");
            worst = worst.max(t.elapsed());
            pings += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        (worst, pings)
    });
    let t = Instant::now();
    wait_for("the whole batch to expire", Duration::from_secs(120), || int(&mut r, &["DBSIZE"]) == 0);
    stop.store(true, Ordering::Relaxed);
    let (worst, pings) = pinger.join().expect("pinger");
    eprintln!("{n} keys expired within {:?} of loading; {pings} PINGs, slowest {worst:?}", t.elapsed());
    assert!(pings > 100, "only {pings} pings");
    assert!(worst < Duration::from_millis(50), "a PING waited {worst:?} while {n} keys expired");
}

#[test]
fn resp3_replies() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let hello = q(&mut r, &["HELLO", "3"]);
    assert!(hello.starts_with('%'), "{hello}");
    assert_eq!(int(&mut r, &["TTL", "nokey"]), -2);
    ok(&mut r, &["SET", "k", "v"]);
    assert_eq!(int(&mut r, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(int(&mut r, &["PERSIST", "k"]), 1);
    assert_eq!(
        q(&mut r, &["EXPIRE", "k", "1", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
}

fn info_str(r: &mut Raw, section: &str, field: &str) -> String {
    let info = q(r, &["INFO", section]);
    let prefix = format!("{field}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_string).unwrap_or_default()
}

#[test]
fn a_writable_replica_expires_the_keys_it_set_itself() {
    let m = Server::start(&[]);
    let s = Server::start(&["--replica-read-only", "no"]);
    let (mut mr, mut sr) = (m.raw(), s.raw());
    // The master's keys stay until the master deletes them: with its active expiry off,
    // an expired one is hidden on the replica but not deleted there.
    ok(&mut mr, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    ok(&mut mr, &["SET", "from-master", "v", "PX", "50"]);
    ok(&mut sr, &["REPLICAOF", "127.0.0.1", &m.port.to_string()]);
    wait_for("the replica to sync", Duration::from_secs(10), || {
        info_str(&mut sr, "replication", "master_link_status") == "up" && int(&mut sr, &["DBSIZE"]) == 1
    });
    // The replica's own keys with a TTL (SET PX, EXPIRE, COPY) are expired by its cron.
    ok(&mut sr, &["SET", "mine", "v", "PX", "50"]);
    ok(&mut sr, &["SET", "mine2", "v"]);
    assert_eq!(int(&mut sr, &["PEXPIRE", "mine2", "50"]), 1);
    ok(&mut sr, &["SET", "src", "v", "PX", "100000"]);
    assert_eq!(int(&mut sr, &["COPY", "src", "copied"]), 1);
    assert_eq!(int(&mut sr, &["PEXPIRE", "copied", "50"]), 1);
    let before = info_field(&mut sr, "stats", "expired_keys");
    wait_for("the replica's own keys to expire", Duration::from_secs(10), || {
        info_field(&mut sr, "stats", "expired_keys") == before + 3
    });
    assert_eq!(q(&mut sr, &["GET", "mine"]), "$-1\r\n");
    assert_eq!(int(&mut sr, &["EXISTS", "from-master"]), 0);
    // from-master (hidden) and src remain.
    assert_eq!(int(&mut sr, &["DBSIZE"]), 2);
}

#[test]
fn lazyfree_lazy_expire_propagates_unlink() {
    let mut l = Local::new();
    let a = l.connect();
    l.shared.store.lock().active_expire_enabled = false;
    assert_eq!(l.run(a, &["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]), "+OK\r\n");
    l.run(a, &["SET", "a", "v", "PX", "1"]);
    l.run(a, &["SET", "b", "v"]);
    l.run(a, &["SET", "c", "v"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(l.run(a, &["GET", "a"]), "$-1\r\n"); // expired on access
    assert_eq!(l.run(a, &["PEXPIRE", "b", "-1"]), ":1\r\n"); // a time in the past
    assert_eq!(l.run(a, &["GETEX", "c", "PXAT", "1"]), "$1\r\nv\r\n");
    let dels: Vec<String> =
        l.stream().into_iter().filter(|c| c[0] == "UNLINK" || c[0] == "DEL").map(|c| c.join(" ")).collect();
    assert_eq!(dels, ["UNLINK a", "UNLINK b", "UNLINK c"]);
}
