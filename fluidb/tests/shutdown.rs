//! Shutting down as Redis 7.0 does, against the real binary: SIGTERM / SIGINT / SHUTDOWN
//! wait up to `shutdown-timeout` for lagging replicas (writes paused, the SHUTDOWN client
//! blocked), SHUTDOWN ABORT cancels, a failing final save keeps the server running, a
//! second SIGINT exits at once removing the half-written snapshot, and the
//! `shutdown-on-sigint` / `shutdown-on-sigterm` flags choose whether to save.

mod common;

use std::time::Duration;

use common::*;

const EXIT: Duration = Duration::from_secs(15);
const SYNC: Duration = Duration::from_secs(30);

fn signal(s: &Server, sig: libc::c_int) {
    // SAFETY: kill() only sends a signal to our own child process.
    unsafe { libc::kill(s.child.id() as i32, sig) };
}

fn info_field(r: &mut Raw, section: &str, field: &str) -> Option<String> {
    let s = r.call(&["INFO", section]);
    s.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

fn ok(r: &mut Raw, args: &[&str]) {
    assert_eq!(r.call(args), "+OK\r\n", "{args:?}");
}

/// Waits for the process to exit and returns its exit code.
fn exit_code(s: &mut Server) -> Option<i32> {
    wait_for("the server to exit", EXIT, || !s.is_running());
    s.child.wait().expect("exit status").code()
}

/// A master and a replica attached to it, the replica having acknowledged everything.
fn master_and_replica(master_args: &[&str]) -> (Server, Server) {
    let master = Server::start(master_args);
    let replica = Server::start(&["--save", ""]);
    let (mut m, mut r) = (master.raw(), replica.raw());
    ok(&mut r, &["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    ok(&mut m, &["SET", "k", "1"]);
    wait_for("the replica to acknowledge the whole stream", SYNC, || {
        let info = m.call(&["INFO", "replication"]);
        let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap_or_default();
        info.contains("state=online") && info.contains(&format!("offset={offset},"))
    });
    (master, replica)
}

/// The master with its replica stopped (SIGSTOP) and a write the replica has not
/// acknowledged; a client then sends SHUTDOWN, which blocks. Returns that client.
fn blocked_shutdown(master: &Server, replica: &Server, args: &[&str]) -> Raw {
    signal(replica, libc::SIGSTOP);
    let mut m = master.raw();
    assert_eq!(m.call(&["INCR", "k"]), ":2\r\n");
    let mut sd = master.raw();
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    sd.cmd(&a);
    wait_for("the shutdown to wait for the replica", EXIT, || {
        info_field(&mut m, "server", "shutdown_in_milliseconds").is_some_and(|v| v.parse::<i64>().unwrap_or(0) > 0)
            && info_field(&mut m, "clients", "blocked_clients").as_deref() == Some("1")
    });
    sd
}

#[test]
fn shutdown_waits_for_a_lagging_replica_with_writes_paused() {
    let (mut master, replica) = master_and_replica(&["--save", "", "--shutdown-timeout", "60"]);
    let mut sd = blocked_shutdown(&master, &replica, &["SHUTDOWN"]);
    let mut m = master.raw();
    // Reads are served, writes wait (and count as blocked clients).
    assert_eq!(m.call(&["GET", "k"]), "$1\r\n2\r\n");
    let mut w = master.raw();
    w.cmd(&[b"SET", b"other", b"x"]);
    wait_for("the write to be held back", EXIT, || {
        info_field(&mut m, "clients", "blocked_clients").as_deref() == Some("2")
    });
    // Replicas are not counted as connected clients, as in Redis.
    wait_for("3 connected clients", EXIT, || {
        info_field(&mut m, "clients", "connected_clients").as_deref() == Some("3")
    });
    signal(&replica, libc::SIGCONT);
    assert_eq!(exit_code(&mut master), Some(0));
    assert!(sd.try_read_reply().is_none(), "SHUTDOWN gets no reply: the server exited");
    let log = master.log();
    assert!(log.contains("Waiting for replicas before shutting down."), "{log}");
    assert!(log.contains("1 of 1 replicas are in sync when shutting down."), "{log}");
    assert!(!log.contains("Lagging replica"), "{log}");
    assert!(log.contains("is now ready to exit, bye bye..."), "{log}");
    // Everything the master acknowledged reached the replica before it exited.
    let mut r = replica.raw();
    wait_for("the replica to apply the INCR", SYNC, || r.call(&["GET", "k"]) == "$1\r\n2\r\n");
}

#[test]
fn sigterm_gives_up_on_a_replica_after_shutdown_timeout() {
    let (mut master, replica) = master_and_replica(&["--save", "", "--shutdown-timeout", "1"]);
    signal(&replica, libc::SIGSTOP);
    let mut m = master.raw();
    assert_eq!(m.call(&["INCR", "k"]), ":2\r\n");
    signal(&master, libc::SIGTERM);
    wait_for("the shutdown to wait for the replica", EXIT, || {
        info_field(&mut m, "server", "shutdown_in_milliseconds").is_some()
    });
    assert_eq!(exit_code(&mut master), Some(0));
    signal(&replica, libc::SIGCONT);
    let log = master.log();
    assert!(log.contains("Received SIGTERM scheduling shutdown..."), "{log}");
    assert!(log.contains("Lagging replica 127.0.0.1:"), "{log}");
    assert!(log.contains("0 of 1 replicas are in sync when shutting down."), "{log}");
}

#[test]
fn shutdown_now_and_a_zero_timeout_do_not_wait() {
    for (args, master_args) in [
        (vec!["SHUTDOWN", "NOW"], vec!["--save", "", "--shutdown-timeout", "60"]),
        (vec!["SHUTDOWN"], vec!["--save", "", "--shutdown-timeout", "0"]),
    ] {
        let (mut master, replica) = master_and_replica(&master_args);
        signal(&replica, libc::SIGSTOP);
        let mut m = master.raw();
        assert_eq!(m.call(&["INCR", "k"]), ":2\r\n");
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        m.cmd(&a);
        assert_eq!(exit_code(&mut master), Some(0), "{args:?} {master_args:?}");
        assert!(master.log().contains("0 of 1 replicas are in sync"), "{args:?} {master_args:?}");
        signal(&replica, libc::SIGCONT);
    }
}

#[test]
fn shutdown_abort_cancels_a_waiting_shutdown() {
    let (master, replica) = master_and_replica(&["--save", "", "--shutdown-timeout", "60"]);
    let mut sd1 = blocked_shutdown(&master, &replica, &["SHUTDOWN"]);
    let mut m = master.raw();
    // A second SHUTDOWN joins the one in progress.
    let mut sd2 = master.raw();
    sd2.cmd(&[b"SHUTDOWN"]);
    wait_for("both SHUTDOWN clients to block", EXIT, || {
        info_field(&mut m, "clients", "blocked_clients").as_deref() == Some("2")
    });
    let mut w = master.raw();
    w.cmd(&[b"SET", b"other", b"x"]);
    wait_for("the write to be held back", EXIT, || {
        info_field(&mut m, "clients", "blocked_clients").as_deref() == Some("3")
    });
    ok(&mut m, &["SHUTDOWN", "ABORT"]);
    for sd in [&mut sd1, &mut sd2] {
        assert_eq!(String::from_utf8_lossy(&sd.read_reply()), "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    }
    // Writes resume; nothing is waiting any more.
    assert_eq!(String::from_utf8_lossy(&w.read_reply()), "+OK\r\n");
    assert_eq!(info_field(&mut m, "server", "shutdown_in_milliseconds"), None);
    assert_eq!(info_field(&mut m, "clients", "blocked_clients").as_deref(), Some("0"));
    assert_eq!(m.call(&["SHUTDOWN", "ABORT"]), "-ERR No shutdown in progress.\r\n");
    assert!(master.log().contains("Shutdown manually aborted."));
    signal(&replica, libc::SIGCONT);
    assert_eq!(sd1.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn shutdown_abort_cancels_a_signal_before_the_cron_acts() {
    let mut s = Server::start(&["--save", ""]);
    let mut r = s.raw();
    ok(&mut r, &["DEBUG", "PAUSE-CRON", "1"]);
    signal(&s, libc::SIGTERM);
    wait_for("the signal to be logged", EXIT, || s.log().contains("Received SIGTERM scheduling shutdown..."));
    ok(&mut r, &["SHUTDOWN", "ABORT"]);
    ok(&mut r, &["DEBUG", "PAUSE-CRON", "0"]);
    // The cron runs while DEBUG SLEEP waits (the lock is released): it must not exit.
    ok(&mut r, &["DEBUG", "SLEEP", "0.3"]);
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    assert!(s.is_running());
    assert!(s.log().contains("Shutdown manually aborted."));
}

#[test]
fn a_failing_final_save_keeps_the_server_running() {
    let mut s = Server::start(&["--save", "3600 1"]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    // The snapshot cannot be renamed over a directory.
    std::fs::create_dir(s.dir.path().join("dump.rdb")).unwrap();
    signal(&s, libc::SIGTERM);
    wait_for("the failed save on SIGTERM", EXIT, || s.log().contains("Error trying to save the DB, can't exit"));
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    assert_eq!(r.call(&["SHUTDOWN"]), "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    assert_eq!(r.call(&["SHUTDOWN", "SAVE"]), "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
    // The failed attempt is over: a new signal starts a new one, which fails again.
    signal(&s, libc::SIGTERM);
    wait_for("the second failed save on SIGTERM", EXIT, || {
        s.log().matches("Errors trying to shut down the server").count() == 4
    });
    assert!(s.is_running());
    assert_eq!(r.call(&["SET", "k", "w"]), "+OK\r\n", "writes are not paused after a failed shutdown");
    // FORCE exits anyway.
    r.cmd(&[b"SHUTDOWN", b"FORCE"]);
    assert_eq!(exit_code(&mut s), Some(0));
    assert!(s.log().contains("Error trying to save the DB. Exit anyway."));
}

#[test]
fn a_second_sigint_exits_at_once_and_removes_the_temp_file() {
    let mut s = Server::start(&["--save", "3600 1", "--rdb-key-save-delay", "100000"]);
    let mut r = s.raw();
    for i in 0..20 {
        ok(&mut r, &["SET", &i.to_string(), "v"]);
    }
    let temp = s.dir.path().join(format!("temp-{}.rdb", s.child.id()));
    signal(&s, libc::SIGINT);
    wait_for("the final save to start", EXIT, || temp.exists());
    signal(&s, libc::SIGINT);
    assert_eq!(exit_code(&mut s), Some(1), "not a clean shutdown");
    assert!(!temp.exists());
    assert!(!s.dir.path().join("dump.rdb").exists());
    assert!(s.log().contains("You insist... exiting now."));
}

#[test]
fn shutdown_on_signal_flags_choose_whether_to_save() {
    // Save points configured, but SIGTERM is told not to save.
    let mut s = Server::start(&["--save", "3600 1", "--shutdown-on-sigterm", "nosave"]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    signal(&s, libc::SIGTERM);
    assert_eq!(exit_code(&mut s), Some(0));
    assert!(!s.dir.path().join("dump.rdb").exists());

    // No save points, but SIGINT is told to save (set at runtime).
    let mut s = Server::start(&["--save", ""]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    ok(&mut r, &["CONFIG", "SET", "shutdown-on-sigint", "save now"]);
    assert_eq!(
        r.call(&["CONFIG", "GET", "shutdown-on-sigint"]),
        "*2\r\n$18\r\nshutdown-on-sigint\r\n$8\r\nsave now\r\n"
    );
    signal(&s, libc::SIGINT);
    assert_eq!(exit_code(&mut s), Some(0));
    assert!(s.dir.path().join("dump.rdb").exists());
    assert!(s.log().contains("Saving the final RDB snapshot before exiting."));

    // The default: SIGTERM saves when save points are configured.
    let mut s = Server::start(&["--save", "3600 1"]);
    let mut r = s.raw();
    ok(&mut r, &["SET", "k", "v"]);
    signal(&s, libc::SIGTERM);
    assert_eq!(exit_code(&mut s), Some(0));
    assert!(s.dir.path().join("dump.rdb").exists());
}

#[test]
fn shutdown_removes_the_pidfile_and_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("fluidb.sock");
    let pid = dir.path().join("fluidb.pid");
    let (sock_s, pid_s) = (sock.to_string_lossy().into_owned(), pid.to_string_lossy().into_owned());
    let mut s = Server::start(&["--save", "", "--unixsocket", &sock_s, "--pidfile", &pid_s]);
    assert!(sock.exists() && pid.exists());
    let mut r = s.raw();
    r.cmd(&[b"SHUTDOWN"]);
    assert_eq!(exit_code(&mut s), Some(0));
    assert!(!sock.exists() && !pid.exists());
    assert!(s.log().contains("Removing the pid file."));
}

#[test]
fn a_signal_during_the_aof_replay_exits_once_it_is_done_without_saving() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_string_lossy().into_owned();
    let aof = ["--appendonly", "yes", "--appendfsync", "always", "--dir", &dir];
    {
        let first = Server::start(&[&aof[..], &["--save", ""]].concat());
        let mut r = first.raw();
        for i in 0..200 {
            ok(&mut r, &["SET", &format!("k{i}"), "v"]);
        }
    }
    // 200 commands at 20 ms each: the replay takes seconds.
    let port = free_port();
    let log = data.path().join("second.log");
    let child = std::process::Command::new(fluidb_bin())
        .args(["--port", &port.to_string(), "--key-load-delay", "20000", "--save", "3600 1"])
        .args(aof)
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn");
    let mut s = Server { port, child, dir: tempfile::tempdir().unwrap(), kind: "fluidb" };
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the AOF replay to start", EXIT, || text().contains("Reading RDB base file on AOF loading"));
    signal(&s, libc::SIGTERM);
    assert_eq!(exit_code(&mut s), Some(0));
    let text = text();
    assert!(text.contains("Received shutdown signal during loading, scheduling shutdown."), "{text}");
    assert!(text.contains("User requested shutdown..."), "{text}");
    // Save points are configured, but a shutdown during a load never saves.
    assert!(!data.path().join("dump.rdb").exists());
}
