//! RDB snapshots against the real binary: SAVE and DEBUG RELOAD keep the dataset, a
//! restart loads it, fluidB's files load in redis-server 7.0 (and pass redis-check-rdb)
//! and Redis's files load in fluidB, with DEBUG DIGEST equal each way.

mod common;

use std::process::Command;

use common::*;

fn info_field(r: &mut Raw, section: &str, field: &str) -> String {
    let s = r.call(&["INFO", section]);
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{field} not in INFO {section}"))
}

#[test]
fn save_and_debug_reload_keep_the_dataset() {
    let s = Server::start(&["--enable-debug-command", "yes"]);
    let mut r = s.raw();
    let keys = fill_every_type(&mut r);
    r.call(&["SELECT", "3"]);
    r.call(&["SET", "in-db-3", "x", "EX", "1000"]);
    r.call(&["SELECT", "0"]);
    let before = r.call(&["DEBUG", "DIGEST"]);
    let encodings: Vec<String> = keys.iter().map(|k| r.call(&["OBJECT", "ENCODING", k])).collect();
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    assert_eq!(info_field(&mut r, "persistence", "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut r, "persistence", "rdb_saves"), "1");
    assert_eq!(r.call(&["DEBUG", "RELOAD"]), "+OK\r\n");
    assert_eq!(r.call(&["DEBUG", "DIGEST"]), before);
    let after: Vec<String> = keys.iter().map(|k| r.call(&["OBJECT", "ENCODING", k])).collect();
    assert_eq!(after, encodings);
    r.call(&["SELECT", "3"]);
    let ttl: i64 = r.call(&["TTL", "in-db-3"]).trim_start_matches(':').trim().parse().expect("ttl");
    assert!((990..=1000).contains(&ttl), "{ttl}");
}

#[test]
fn a_restart_loads_the_snapshot() {
    let first = Server::start(&["--enable-debug-command", "yes"]);
    let dir = first.dir.path().to_path_buf();
    let mut r = first.raw();
    fill_every_type(&mut r);
    let digest = r.call(&["DEBUG", "DIGEST"]);
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    let d = dir.to_string_lossy().into_owned();
    let second = Server::start(&["--enable-debug-command", "yes", "--dir", &d]);
    let mut r2 = second.raw();
    assert_eq!(r2.call(&["DEBUG", "DIGEST"]), digest);
    assert_ne!(info_field(&mut r2, "persistence", "rdb_last_load_keys_loaded"), "0");
}

#[test]
fn fluidb_snapshots_load_in_redis_and_pass_its_checker() {
    let ours = Server::start(&["--enable-debug-command", "yes"]);
    let mut r = ours.raw();
    fill_every_type(&mut r);
    r.call(&["EXPIRE", "str-emb", "5000"]);
    let digest = r.call(&["DEBUG", "DIGEST"]);
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    let file = ours.dir.path().join("dump.rdb");
    let out = Command::new("redis-check-rdb").arg(&file).output().expect("redis-check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("RDB looks OK!"), "{text}");
    let d = ours.dir.path().to_string_lossy().into_owned();
    let redis = Server::start_redis(&["--enable-debug-command", "yes", "--dir", &d]);
    let mut rr = redis.raw();
    assert_eq!(rr.call(&["DEBUG", "DIGEST"]), digest);
    let ttl: i64 = rr.call(&["TTL", "str-emb"]).trim_start_matches(':').trim().parse().expect("ttl");
    assert!(ttl > 4900, "{ttl}");
}

#[test]
fn redis_snapshots_load_in_fluidb() {
    let redis = Server::start_redis(&["--enable-debug-command", "yes"]);
    let mut rr = redis.raw();
    fill_every_type(&mut rr);
    rr.call(&["PEXPIRE", "list-big", "100000000"]);
    let digest = rr.call(&["DEBUG", "DIGEST"]);
    assert_eq!(rr.call(&["SAVE"]), "+OK\r\n");
    let d = redis.dir.path().to_string_lossy().into_owned();
    let ours = Server::start(&["--enable-debug-command", "yes", "--dir", &d]);
    let mut r = ours.raw();
    assert_eq!(r.call(&["DEBUG", "DIGEST"]), digest);
    assert!(r.call(&["PTTL", "list-big"]).starts_with(":9"));
}

#[test]
fn a_corrupt_snapshot_stops_the_boot_with_a_clear_error() {
    let first = Server::start(&[]);
    let mut r = first.raw();
    r.call(&["SET", "k", "v"]);
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    let file = first.dir.path().join("dump.rdb");
    let mut bytes = std::fs::read(&file).expect("read");
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&file, &bytes).expect("write");
    let out = Command::new(fluidb_bin())
        .args(["--port", &free_port().to_string(), "--dir", &first.dir.path().to_string_lossy()])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("wrong RDB checksum"), "{log}");
}

#[test]
fn shutdown_saves_when_save_points_are_set_and_nosave_does_not() {
    for (args, shutdown, kept) in [
        (&[][..], &["SHUTDOWN"][..], true),
        (&[][..], &["SHUTDOWN", "NOSAVE"][..], false),
        (&["--save", ""][..], &["SHUTDOWN"][..], false),
        (&["--save", ""][..], &["SHUTDOWN", "SAVE"][..], true),
    ] {
        let mut first = Server::start(args);
        let mut r = first.raw();
        r.call(&["SET", "k", "v"]);
        let a: Vec<&[u8]> = shutdown.iter().map(|s| s.as_bytes()).collect();
        r.cmd(&a);
        wait_for("the server to exit", std::time::Duration::from_secs(10), || !first.is_running());
        let d = first.dir.path().to_string_lossy().into_owned();
        let second = Server::start(&["--dir", &d]);
        let got = second.raw().call(&["EXISTS", "k"]);
        assert_eq!(got, if kept { ":1\r\n" } else { ":0\r\n" }, "{args:?} {shutdown:?}");
    }
}

#[test]
fn bgsave_writes_a_snapshot_while_serving() {
    let s = Server::start(&["--enable-debug-command", "yes", "--save", ""]);
    let mut r = s.raw();
    for chunk in 0..50 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..1000 {
            args.push(format!("key:{chunk}:{i}"));
            args.push(format!("value-{i}"));
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(r.call(&a), "+OK\r\n");
    }
    fill_every_type(&mut r);
    let digest = r.call(&["DEBUG", "DIGEST"]);
    assert_eq!(r.call(&["BGSAVE"]), "+Background saving started\r\n");
    // Clients are served while the child writes.
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    wait_for("the background save to end", std::time::Duration::from_secs(30), || {
        info_field(&mut r, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(info_field(&mut r, "persistence", "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut r, "persistence", "rdb_changes_since_last_save"), "0");
    assert_eq!(r.call(&["DEBUG", "RELOAD", "NOSAVE"]), "+OK\r\n");
    assert_eq!(r.call(&["DEBUG", "DIGEST"]), digest);
    // In a transaction it is scheduled, and the cron runs it.
    r.call(&["SET", "after", "1"]);
    assert_eq!(r.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(r.call(&["BGSAVE"]), "+QUEUED\r\n");
    assert_eq!(r.call(&["EXEC"]), "*1\r\n+Background saving scheduled\r\n");
    wait_for("the scheduled save", std::time::Duration::from_secs(30), || {
        info_field(&mut r, "persistence", "rdb_saves") == "2"
            && info_field(&mut r, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(r.call(&["BGSAVE", "x"]), "-ERR syntax error\r\n");
}

/// A background save that fails (here the target is a directory, as a full or broken disk
/// would fail it) stops writes with MISCONF while save points are set; reads go on, and a
/// successful save lifts it. Nothing acknowledged before is lost.
#[test]
fn a_failed_bgsave_stops_writes_until_a_save_succeeds() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    assert_eq!(r.call(&["SET", "a", "1"]), "+OK\r\n");
    let blocker = s.dir.path().join("dump.rdb");
    std::fs::create_dir_all(blocker.join("x")).expect("mkdir");
    assert_eq!(r.call(&["BGSAVE"]), "+Background saving started\r\n");
    wait_for("the save to fail", std::time::Duration::from_secs(10), || {
        info_field(&mut r, "persistence", "rdb_last_bgsave_status") == "err"
    });
    for c in [&["SET", "b", "2"][..], &["PING"], &["DEL", "a"]] {
        assert!(r.call(c).starts_with("-MISCONF Redis is configured to save RDB snapshots"), "{c:?}");
    }
    assert_eq!(r.call(&["GET", "a"]), "$1\r\n1\r\n");
    // Without the option, writes go on.
    assert_eq!(r.call(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "c", "3"]), "+OK\r\n");
    assert_eq!(r.call(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]), "+OK\r\n");
    assert!(r.call(&["SET", "c", "4"]).starts_with("-MISCONF"));
    std::fs::remove_dir_all(&blocker).expect("rm");
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    assert_eq!(r.call(&["SET", "b", "2"]), "+OK\r\n");
}

/// A snapshot child killed in the middle of its work (a crash during BGSAVE) leaves the
/// previous file whole and no temporary file behind.
#[test]
fn a_crash_during_bgsave_leaves_the_previous_snapshot_intact() {
    let s = Server::start(&["--save", ""]);
    let mut r = s.raw();
    r.call(&["SET", "old", "1"]);
    assert_eq!(r.call(&["SAVE"]), "+OK\r\n");
    let file = s.dir.path().join("dump.rdb");
    let before = std::fs::read(&file).expect("dump");
    let v = "x".repeat(200);
    for chunk in 0..200 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..1000 {
            args.push(format!("k:{chunk}:{i}"));
            args.push(v.clone());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        r.call(&a);
    }
    assert_eq!(r.call(&["BGSAVE"]), "+Background saving started\r\n");
    // The child is the server's only child process: kill it at once.
    let pid = s.child.id();
    let children = child_pids(pid);
    assert_eq!(children.len(), 1, "{children:?}");
    Command::new("kill").args(["-9", &children[0]]).status().expect("kill");
    wait_for("the failure to be seen", std::time::Duration::from_secs(10), || {
        info_field(&mut r, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    // (40 MB take far longer to write than the kill takes to arrive.)
    assert_eq!(info_field(&mut r, "persistence", "rdb_last_bgsave_status"), "err");
    assert_eq!(std::fs::read(&file).expect("dump"), before, "the previous snapshot is untouched");
    let temps: Vec<_> = std::fs::read_dir(s.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
}

/// A snapshot child reports its progress and its copy-on-write memory while it runs
/// (INFO's `current_save_keys_processed`, `current_cow_size`, `current_fork_perc`), and its
/// peak COW size when it ends (`rdb_last_cow_size`); the current figures go back to zero.
#[test]
fn a_bgsave_child_reports_progress_and_cow_size() {
    let s = Server::start(&["--save", ""]);
    let mut r = s.raw();
    assert_eq!(r.call(&["DEBUG", "POPULATE", "5000", "key", "500"]), "+OK\r\n");
    assert_eq!(info_field(&mut r, "persistence", "current_save_keys_total"), "0");
    assert_eq!(info_field(&mut r, "persistence", "rdb_last_cow_size"), "0");
    // 5000 keys at 500 µs each: the child runs for a few seconds.
    assert_eq!(r.call(&["CONFIG", "SET", "rdb-key-save-delay", "500"]), "+OK\r\n");
    assert_eq!(r.call(&["BGSAVE"]), "+Background saving started\r\n");
    assert_eq!(info_field(&mut r, "persistence", "current_save_keys_total"), "5000");
    let mut key = 0;
    wait_for("a progress report", std::time::Duration::from_secs(10), || {
        // Writes make the kernel copy pages the child still shares.
        for _ in 0..16 {
            r.call(&["SETRANGE", &format!("key:{key}"), "0", &"B".repeat(500)]);
            key += 1;
        }
        let processed: u64 = info_field(&mut r, "persistence", "current_save_keys_processed").parse().unwrap_or(0);
        let cow: u64 = info_field(&mut r, "persistence", "current_cow_size").parse().unwrap_or(0);
        let perc: f64 = info_field(&mut r, "persistence", "current_fork_perc").parse().unwrap_or(0.0);
        processed > 1000 && cow > 0 && perc > 0.0
    });
    assert_eq!(r.call(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), "+OK\r\n");
    wait_for("the background save to end", std::time::Duration::from_secs(30), || {
        info_field(&mut r, "persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(info_field(&mut r, "persistence", "rdb_last_bgsave_status"), "ok");
    let last: u64 = info_field(&mut r, "persistence", "rdb_last_cow_size").parse().unwrap_or(0);
    assert!(last > 0, "rdb_last_cow_size {last}");
    for f in ["current_cow_size", "current_cow_peak", "current_save_keys_processed", "current_save_keys_total"] {
        assert_eq!(info_field(&mut r, "persistence", f), "0", "{f}");
    }
    assert_eq!(info_field(&mut r, "persistence", "current_fork_perc"), "0.00");
}
