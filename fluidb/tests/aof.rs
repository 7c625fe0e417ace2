//! The append-only file against the real binary: crash safety under `appendfsync always`
//! and `everysec` (kill -9 under write load), truncated and corrupt files, runtime
//! CONFIG SET appendonly, and AOF directories moving between fluidB and redis-server 7.0.

mod common;

use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn dir_of(s: &Server) -> String {
    s.dir.path().to_string_lossy().into_owned()
}

/// Writes `SET k:<i> <i>` one at a time until `stop`, returning the last acknowledged i.
fn write_until(port: u16, stop: Duration) -> (u64, Vec<(u64, Instant)>) {
    let mut r = Raw::connect(port);
    let started = Instant::now();
    let mut acked = Vec::new();
    let mut i = 0u64;
    while started.elapsed() < stop {
        i += 1;
        let k = format!("k:{i}");
        r.cmd(&[b"SET", k.as_bytes(), i.to_string().as_bytes()]);
        match r.try_read_reply() {
            Some(rep) if rep == b"+OK\r\n" => acked.push((i, Instant::now())),
            _ => break,
        }
    }
    (i, acked)
}

#[test]
fn kill_9_with_appendfsync_always_loses_no_acknowledged_write() {
    let mut first = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let port = first.port;
    let writer = thread::spawn(move || write_until(port, Duration::from_secs(30)));
    thread::sleep(Duration::from_millis(700));
    first.child.kill().expect("kill -9");
    let (_, acked) = writer.join().expect("writer");
    assert!(acked.len() > 50, "only {} writes", acked.len());
    let second = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&first)]);
    let mut r = second.raw();
    for (i, _) in &acked {
        assert_eq!(r.call(&["GET", &format!("k:{i}")]), format!("${}\r\n{i}\r\n", i.to_string().len()), "k:{i}");
    }
}

#[test]
fn kill_9_with_everysec_loses_at_most_about_a_second() {
    let mut first = Server::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let port = first.port;
    let writer = thread::spawn(move || write_until(port, Duration::from_secs(30)));
    thread::sleep(Duration::from_millis(2500));
    let killed_at = Instant::now();
    first.child.kill().expect("kill -9");
    let (_, acked) = writer.join().expect("writer");
    let second = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&first)]);
    let mut r = second.raw();
    // Everything acknowledged more than two seconds before the crash is there (the fsync
    // thread runs every second; a slow disk may delay one).
    let old: Vec<u64> =
        acked.iter().filter(|(_, t)| killed_at.duration_since(*t) > Duration::from_secs(2)).map(|(i, _)| *i).collect();
    assert!(!old.is_empty());
    for i in old {
        assert!(r.call(&["EXISTS", &format!("k:{i}")]) == ":1\r\n", "k:{i} lost");
    }
}

/// Appends raw bytes to the AOF's incremental file.
fn append_to_incr(s: &Server, bytes: &[u8]) {
    let path = s.dir.path().join("appendonlydir").join("appendonly.aof.1.incr.aof");
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open incr");
    f.write_all(bytes).expect("append");
}

#[test]
fn a_truncated_tail_is_cut_when_allowed_and_fatal_otherwise() {
    let mut first = Server::start(&["--appendonly", "yes"]);
    let mut r = first.raw();
    r.call(&["SET", "a", "1"]);
    r.call(&["SET", "b", "2"]);
    first.child.kill().expect("kill");
    append_to_incr(&first, b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1"); // a write cut short
                                                                 // aof-load-truncated no: the boot stops and says where.
    let out = Command::new(fluidb_bin())
        .args(["--port", &free_port().to_string(), "--dir", &dir_of(&first), "--appendonly", "yes"])
        .args(["--aof-load-truncated", "no"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Unexpected end of file") && log.contains("at offset"), "{log}");
    // yes (the default): loaded, the partial command cut off, and the file usable again.
    let mut second = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&first)]);
    let mut r = second.raw();
    assert_eq!(r.call(&["MGET", "a", "b", "c"]), "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
    assert_eq!(r.call(&["SET", "d", "4"]), "+OK\r\n");
    second.child.kill().expect("kill");
    let third = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&first)]);
    assert_eq!(third.raw().call(&["GET", "d"]), "$1\r\n4\r\n");
}

/// A tail announcing an enormous argument (a corrupt length) is a truncated tail like
/// any other: no huge allocation, no crash.
#[test]
fn a_huge_announced_length_in_the_tail_is_a_truncated_tail() {
    let mut first = Server::start(&["--appendonly", "yes"]);
    let mut r = first.raw();
    r.call(&["SET", "a", "1"]);
    first.child.kill().expect("kill");
    append_to_incr(&first, b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$9223372036854775807\r\nabc");
    let second = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&first)]);
    let mut r = second.raw();
    assert_eq!(r.call(&["MGET", "a", "c"]), "*2\r\n$1\r\n1\r\n$-1\r\n");
}

#[test]
fn a_corrupt_aof_stops_the_boot_naming_the_offset() {
    let mut first = Server::start(&["--appendonly", "yes"]);
    first.raw().call(&["SET", "a", "1"]);
    first.child.kill().expect("kill");
    append_to_incr(&first, b"this is not RESP\r\n");
    let out = Command::new(fluidb_bin())
        .args(["--port", &free_port().to_string(), "--dir", &dir_of(&first), "--appendonly", "yes"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("Bad file format reading the append only file") && log.contains("at offset"), "{log}");
}

#[test]
fn config_set_appendonly_starts_and_stops_the_aof() {
    let mut s = Server::start(&[]);
    let mut r = s.raw();
    r.call(&["SET", "before", "1"]);
    assert_eq!(r.call(&["CONFIG", "SET", "appendonly", "yes"]), "+OK\r\n");
    r.call(&["SET", "after", "2"]);
    assert!(r.call(&["INFO", "persistence"]).contains("aof_enabled:1"));
    // As in Redis, the AOF holds the dataset once the rewrite that writes its base is
    // done; the writes made meanwhile are in its first incremental file.
    wait_for("the initial rewrite", Duration::from_secs(20), || {
        persistence_field(&mut r, "aof_rewrite_in_progress") == "0" && persistence_field(&mut r, "aof_rewrites") == "1"
    });
    assert_eq!(persistence_field(&mut r, "aof_last_bgrewrite_status"), "ok");
    s.child.kill().expect("kill");
    let second = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&s)]);
    assert_eq!(second.raw().call(&["MGET", "before", "after"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

#[test]
fn aof_directories_move_between_fluidb_and_redis() {
    let mut ours = Server::start(&["--appendonly", "yes", "--enable-debug-command", "yes"]);
    let mut r = ours.raw();
    fill_every_type(&mut r);
    r.call(&["SELECT", "5"]);
    r.call(&["SET", "db5", "x", "EX", "1000"]);
    r.call(&["SELECT", "0"]);
    r.call(&["DEL", "str-raw"]);
    let digest = r.call(&["DEBUG", "DIGEST"]);
    ours.child.kill().expect("kill");
    let mut redis =
        Server::start_redis(&["--appendonly", "yes", "--enable-debug-command", "yes", "--dir", &dir_of(&ours)]);
    let mut rr = redis.raw();
    assert_eq!(rr.call(&["DEBUG", "DIGEST"]), digest);
    // Redis appends to the same directory; fluidB reads it back.
    rr.call(&["SADD", "from-redis", "a", "b"]);
    let digest2 = rr.call(&["DEBUG", "DIGEST"]);
    rr.cmd(&[b"SHUTDOWN"]);
    wait_for("redis to exit", Duration::from_secs(10), || !redis.is_running());
    let back = Server::start(&["--appendonly", "yes", "--enable-debug-command", "yes", "--dir", &dir_of(&ours)]);
    assert_eq!(back.raw().call(&["DEBUG", "DIGEST"]), digest2);
}

fn persistence_field(r: &mut Raw, field: &str) -> String {
    let s = r.call(&["INFO", "persistence"]);
    s.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string())).unwrap_or_default()
}

fn manifest(s: &Server) -> String {
    std::fs::read_to_string(s.dir.path().join("appendonlydir").join("appendonly.aof.manifest")).expect("manifest")
}

#[test]
fn bgrewriteaof_replaces_the_files_and_keeps_writes_made_during_it() {
    let mut first = Server::start(&["--appendonly", "yes", "--enable-debug-command", "yes"]);
    let mut r = first.raw();
    for i in 0..2000 {
        r.call(&["INCR", &format!("c{}", i % 10)]);
    }
    fill_every_type(&mut r);
    assert_eq!(r.call(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    assert_eq!(r.call(&["SET", "during", "1"]), "+OK\r\n");
    wait_for("the rewrite to end", Duration::from_secs(20), || {
        persistence_field(&mut r, "aof_rewrite_in_progress") == "0" && persistence_field(&mut r, "aof_rewrites") == "1"
    });
    assert_eq!(persistence_field(&mut r, "aof_last_bgrewrite_status"), "ok");
    let m = manifest(&first);
    assert_eq!(m, "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n");
    let files: Vec<String> = std::fs::read_dir(first.dir.path().join("appendonlydir"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "old files removed: {files:?}");
    assert_eq!(r.call(&["SET", "after", "2"]), "+OK\r\n");
    let digest = r.call(&["DEBUG", "DIGEST"]);
    first.child.kill().expect("kill");
    let second = Server::start(&["--appendonly", "yes", "--enable-debug-command", "yes", "--dir", &dir_of(&first)]);
    assert_eq!(second.raw().call(&["DEBUG", "DIGEST"]), digest);
    // Redis 7.0 reads the rewritten directory too.
    drop(second);
    let redis =
        Server::start_redis(&["--appendonly", "yes", "--enable-debug-command", "yes", "--dir", &dir_of(&first)]);
    assert_eq!(redis.raw().call(&["DEBUG", "DIGEST"]), digest);
}

#[test]
fn the_aof_is_rewritten_automatically_when_it_doubles() {
    let s = Server::start(&["--appendonly", "yes", "--auto-aof-rewrite-min-size", "1mb", "--hz", "100"]);
    let mut r = s.raw();
    let v = "x".repeat(1000);
    for i in 0..1500 {
        r.call(&["SET", &format!("k{}", i % 50), &v]); // overwrites: a rewrite shrinks it a lot
    }
    wait_for("an automatic rewrite", Duration::from_secs(20), || {
        persistence_field(&mut r, "aof_rewrite_in_progress") == "0" && persistence_field(&mut r, "aof_rewrites") == "1"
    });
    // The new base holds the 50 keys once, not the 1000+ writes that led to them.
    let base: u64 = persistence_field(&mut r, "aof_base_size").parse().expect("size");
    assert!(base < 100_000, "{base}");
    assert_eq!(r.call(&["DBSIZE"]), ":50\r\n");
}

/// Each key's write timestamp, read from a SAVE of the server (the RDB carries them);
/// `s` is the server whose directory the saving server uses.
fn stamps(r: &mut Raw, s: &Server) -> std::collections::BTreeMap<Vec<u8>, u64> {
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    let data = std::fs::read(s.dir.path().join("dump.rdb")).expect("dump");
    let mut m = std::collections::BTreeMap::new();
    fluidb::persistence::rdb::file::load_rdb(&data, &Default::default(), 16, |k| {
        m.insert(k.key, k.mvcc.expect("stamped"));
    })
    .expect("load");
    m
}

#[test]
fn write_timestamps_survive_a_restart_from_the_aof_exactly() {
    // With active replication, where stamps order writes between nodes.
    let mut first = Server::start(&["--appendonly", "yes", "--active-replica", "yes"]);
    let mut r = first.raw();
    for i in 0..50 {
        r.call(&["SET", &format!("k{i}"), "v"]);
        r.call(&["HSET", &format!("h{}", i % 5), &format!("f{i}"), "1"]);
    }
    // Every write of a transaction keeps its own stamp too, across databases.
    r.call(&["MULTI"]);
    r.call(&["SET", "tx", "1"]);
    r.call(&["SET", "tx2", "1"]);
    r.call(&["GET", "tx"]);
    r.call(&["SELECT", "3"]);
    r.call(&["SET", "tx3", "1"]);
    r.call(&["SELECT", "0"]);
    r.call(&["HSET", "h0", "ftx", "1"]);
    r.call(&["EXEC"]);
    let before = stamps(&mut r, &first);
    assert_eq!(before.len(), 50 + 5 + 3);
    first.child.kill().expect("kill");
    std::fs::remove_file(first.dir.path().join("dump.rdb")).expect("rm"); // load from the AOF only
    let second = Server::start(&["--appendonly", "yes", "--active-replica", "yes", "--dir", &dir_of(&first)]);
    let mut r2 = second.raw();
    let after = stamps(&mut r2, &first);
    assert_eq!(before.len(), after.len());
    for (k, m) in &before {
        assert_eq!(after.get(k), Some(m), "{}", String::from_utf8_lossy(k));
    }
    // New writes are newer than everything loaded.
    r2.call(&["SET", "new", "1"]);
    let newest = stamps(&mut r2, &first);
    assert!(newest[&b"new".to_vec()] > *before.values().max().expect("some"));
}

fn incr_path(s: &Server, seq: u32) -> std::path::PathBuf {
    s.dir.path().join("appendonlydir").join(format!("appendonly.aof.{seq}.incr.aof"))
}

/// A full disk (here a file size limit: writes fail with EFBIG as with ENOSPC) under
/// `everysec`: the write that hit it was already answered, later writes get MISCONF and
/// reads go on; the half-written command is cut off the file; once space is back the held
/// bytes are written and writes resume; a crash afterwards loses nothing acknowledged.
#[test]
fn a_full_disk_refuses_writes_with_misconf_and_loses_nothing() {
    let mut first = Server::start(&["--appendonly", "yes", "--appendfsync", "everysec", "--hz", "50"]);
    let mut r = first.raw();
    for i in 0..100 {
        assert_eq!(r.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    let incr = incr_path(&first, 1);
    let size = std::fs::metadata(&incr).expect("incr").len();
    set_file_size_limit(first.child.id(), Some(size + 20));
    // Written in part (20 bytes fit), then cut back to the last whole command.
    assert_eq!(r.call(&["SET", "held", "x".repeat(100).as_str()]), "+OK\r\n");
    let refused = r.call(&["SET", "refused", "1"]);
    assert_eq!(refused, "-MISCONF Errors writing to the AOF file: File too large\r\n");
    assert!(r.call(&["INCR", "k1"]).starts_with("-MISCONF"));
    assert_eq!(r.call(&["GET", "k0"]), "$1\r\nv\r\n", "reads go on");
    assert_eq!(persistence_field(&mut r, "aof_last_write_status"), "err");
    assert_eq!(std::fs::metadata(&incr).expect("incr").len(), size, "no partial command left");
    assert!(r.call(&["BGREWRITEAOF"]).starts_with("-ERR"), "no rewrite while writes fail");
    set_file_size_limit(first.child.id(), None);
    wait_for("writes to resume", Duration::from_secs(10), || r.call(&["SET", "after", "1"]) == "+OK\r\n");
    assert_eq!(persistence_field(&mut r, "aof_last_write_status"), "ok");
    assert!(first.log().contains("File too large"), "the log names the error");
    let digest = r.call(&["DEBUG", "DIGEST"]);
    // kill -9 keeps the page cache: what was written is read back whatever the fsyncs.
    first.child.kill().expect("kill -9");
    let second = Server::start(&["--appendonly", "yes", "--aof-load-truncated", "no", "--dir", &dir_of(&first)]);
    let mut r2 = second.raw();
    assert_eq!(r2.call(&["DEBUG", "DIGEST"]), digest);
    assert_eq!(r2.call(&["STRLEN", "held"]), ":100\r\n");
    assert_eq!(r2.call(&["EXISTS", "refused"]), ":0\r\n");
}

/// The same under `appendfsync always`: the write whose bytes cannot be written is not
/// answered until they are on disk (nothing acknowledged can be lost), other writes get
/// MISCONF meanwhile, and the held reply arrives once the disk takes the bytes.
#[test]
fn a_full_disk_under_always_holds_the_reply_until_the_write_is_durable() {
    let mut first = Server::start(&["--appendonly", "yes", "--appendfsync", "always", "--hz", "50"]);
    let mut r = first.raw();
    assert_eq!(r.call(&["SET", "before", "1"]), "+OK\r\n");
    let size = std::fs::metadata(incr_path(&first, 1)).expect("incr").len();
    set_file_size_limit(first.child.id(), Some(size));
    let mut held = first.raw();
    held.cmd(&[b"SET", b"held", b"1"]);
    held.w.set_read_timeout(Some(Duration::from_millis(700))).expect("timeout");
    assert_eq!(held.try_read_reply(), None, "no reply while the write is not on disk");
    assert!(r.call(&["SET", "other", "1"]).starts_with("-MISCONF Errors writing to the AOF file"));
    set_file_size_limit(first.child.id(), None);
    held.w.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    assert_eq!(held.read_reply(), b"+OK\r\n");
    // Acknowledged: it must survive a crash right now.
    first.child.kill().expect("kill -9");
    let second = Server::start(&["--appendonly", "yes", "--dir", &dir_of(&first)]);
    let mut r2 = second.raw();
    assert_eq!(r2.call(&["MGET", "before", "held", "other"]), "*3\r\n$1\r\n1\r\n$1\r\n1\r\n$-1\r\n");
}

/// A rewrite child killed in the middle (a crash during BGREWRITEAOF) changes nothing the
/// AOF relies on: the old base and incr files stay in the manifest, the half-written new
/// base is removed, writing goes on, and the next rewrite works.
#[test]
fn a_crash_during_a_rewrite_leaves_the_old_files_in_use() {
    let mut first = Server::start(&["--appendonly", "yes", "--enable-debug-command", "yes", "--hz", "50"]);
    let mut r = first.raw();
    assert_eq!(r.call(&["DEBUG", "POPULATE", "20000"]), "+OK\r\n");
    assert_eq!(r.call(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    wait_for("the first rewrite", Duration::from_secs(20), || {
        persistence_field(&mut r, "aof_rewrite_in_progress") == "0" && persistence_field(&mut r, "aof_rewrites") == "1"
    });
    let m1 = manifest(&first);
    // 200 µs per key: the next rewrite takes about 4 s, and is killed well before its end.
    assert_eq!(r.call(&["CONFIG", "SET", "rdb-key-save-delay", "200"]), "+OK\r\n");
    assert_eq!(r.call(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    let children = child_pids(first.child.id());
    assert_eq!(children.len(), 1, "{children:?}");
    assert_eq!(r.call(&["SET", "during", "1"]), "+OK\r\n");
    // The child writes its base in the working directory, as Redis's does.
    let dir = first.dir.path().join("appendonlydir");
    wait_for("the child to start its base", Duration::from_secs(10), || {
        std::fs::read_dir(first.dir.path())
            .expect("dir")
            .any(|e| e.expect("entry").file_name().to_string_lossy().starts_with("temp-rewriteaof-"))
    });
    Command::new("kill").args(["-9", &children[0]]).status().expect("kill");
    wait_for("the failure to be seen", Duration::from_secs(10), || {
        persistence_field(&mut r, "aof_rewrite_in_progress") == "0"
    });
    assert_eq!(persistence_field(&mut r, "aof_last_bgrewrite_status"), "err");
    // The old base and incr are still named; the incr opened at the fork is kept too.
    let m2 = manifest(&first);
    assert!(m2.starts_with(&m1), "{m1:?} -> {m2:?}");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("temp-")), "temporary file left: {names:?}");
    let top: Vec<String> = std::fs::read_dir(first.dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!top.iter().any(|n| n.starts_with("temp-")), "temporary file left: {top:?}");
    for line in m2.lines() {
        let name = line.split(' ').nth(1).expect("name");
        assert!(names.iter().any(|n| n == name), "{name} missing");
    }
    assert_eq!(r.call(&["SET", "after", "1"]), "+OK\r\n");
    let digest = r.call(&["DEBUG", "DIGEST"]);
    first.child.kill().expect("kill -9");
    let second = Server::start(&["--appendonly", "yes", "--enable-debug-command", "yes", "--dir", &dir_of(&first)]);
    let mut r2 = second.raw();
    assert_eq!(r2.call(&["DEBUG", "DIGEST"]), digest);
    assert_eq!(r2.call(&["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    wait_for("a rewrite after the crash", Duration::from_secs(20), || {
        persistence_field(&mut r2, "aof_rewrite_in_progress") == "0"
            && persistence_field(&mut r2, "aof_rewrites") == "1"
    });
    assert_eq!(persistence_field(&mut r2, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(r2.call(&["DEBUG", "DIGEST"]), digest);
}
