//! Settings that act on the process at runtime: CONFIG SET port/bind (listening sockets),
//! oom-score-adj, rename-command, and the boot load of the RDB file while serving.

mod common;
use common::*;

use std::time::Duration;

#[test]
fn config_set_port_moves_the_listener_and_rolls_back() {
    let s = Server::start(&[]);
    let mut r = s.raw();
    let new_port = free_port();
    ok(&mut r, &["CONFIG", "SET", "port", &new_port.to_string()]);
    // Existing connections stay; new ones go to the new port only.
    let mut n = Raw::connect(new_port);
    assert_eq!(n.call(&["PING"]), "+PONG\r\n");
    wait_for("the old port to be closed", Duration::from_secs(5), || {
        std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err()
    });
    assert!(r.call(&["INFO", "server"]).contains(&format!("tcp_port:{new_port}\r\n")));
    // A port in use: an error, and everything as before (the other settings of the same
    // CONFIG SET included).
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let e = n.call(&["CONFIG", "SET", "slowlog-max-len", "7", "port", &busy_port]);
    assert_eq!(
        e,
        "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs.\r\n"
    );
    assert_eq!(n.call(&["CONFIG", "GET", "slowlog-max-len"]), "*2\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n");
    assert_eq!(Raw::connect(new_port).call(&["PING"]), "+PONG\r\n");
    // Bad bind addresses: an error, still listening.
    assert_eq!(
        n.call(&["CONFIG", "SET", "bind", "999.999.999.999"]),
        "-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
    );
    assert_eq!(Raw::connect(new_port).call(&["PING"]), "+PONG\r\n");
    // No address at all: no new connection.
    ok(&mut n, &["CONFIG", "SET", "bind", ""]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", new_port)).is_err());
    ok(&mut n, &["CONFIG", "SET", "bind", "127.0.0.1"]);
    assert_eq!(Raw::connect(new_port).call(&["PING"]), "+PONG\r\n");
}

fn oom_score(pid: u32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim().parse().unwrap()
}

#[test]
fn oom_score_adj_is_written_and_restored() {
    let s = Server::start(&[]);
    let pid = s.child.id();
    let base = oom_score(pid);
    let mut r = s.raw();
    ok(&mut r, &["CONFIG", "SET", "oom-score-adj-values", "10 20 30"]);
    assert_eq!(oom_score(pid), base, "not touched while off");
    ok(&mut r, &["CONFIG", "SET", "oom-score-adj", "yes"]);
    assert_eq!(oom_score(pid), base + 10);
    ok(&mut r, &["CONFIG", "SET", "oom-score-adj-values", "15 20 30"]);
    assert_eq!(oom_score(pid), base + 15);
    // A background child takes the third value.
    ok(&mut r, &["CONFIG", "SET", "rdb-key-save-delay", "1000000"]);
    r.call(&["SET", "k", "v"]);
    assert!(r.call(&["BGSAVE"]).starts_with("+Background saving started"));
    wait_for("the child's score", Duration::from_secs(10), || {
        child_pids(pid).iter().any(|c| c.parse().ok().map(oom_score) == Some(base + 30))
    });
    ok(&mut r, &["CONFIG", "SET", "oom-score-adj", "absolute"]);
    assert_eq!(oom_score(pid), 15);
    ok(&mut r, &["CONFIG", "SET", "oom-score-adj", "no"]);
    assert_eq!(oom_score(pid), base);
    assert!(r.call(&["CONFIG", "SET", "oom-score-adj-values", "-2001 0 0"]).contains("must be between -2000 and 2000"));
}

#[test]
fn rename_command_renames_or_removes() {
    let s = Server::start(&["--rename-command", "flushdb", "badger", "--rename-command", "flushall", ""]);
    let mut r = s.raw();
    assert!(r.call(&["FLUSHDB"]).starts_with("-ERR unknown command 'FLUSHDB'"));
    assert!(r.call(&["FLUSHALL"]).starts_with("-ERR unknown command 'FLUSHALL'"));
    r.call(&["SET", "k", "v"]);
    ok(&mut r, &["BADGER"]);
    assert_eq!(r.call(&["DBSIZE"]), ":0\r\n");
    // Errors at startup, as Redis's.
    let out = std::process::Command::new(fluidb_bin())
        .args(["--port", "0", "--rename-command", "nosuch", "x"])
        .output()
        .expect("run fluidb-server");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such command in rename-command"));
    let out = std::process::Command::new(fluidb_bin())
        .args(["--port", "0", "--rename-command", "get", "set"])
        .output()
        .expect("run fluidb-server");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Target command name already exists"));
}

#[test]
fn the_rdb_loads_while_clients_are_served() {
    let src = Server::start(&[]);
    let mut r = src.raw();
    ok(&mut r, &["DEBUG", "POPULATE", "20000", "key", "10"]);
    ok(&mut r, &["SAVE"]);
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(src.dir.path().join("dump.rdb"), data.path().join("dump.rdb")).unwrap();
    let dir = data.path().to_string_lossy().into_owned();
    // 100 µs per key: two seconds of loading.
    let s = Server::start_loading(&["--dir", &dir, "--key-load-delay", "100"]);
    let mut c = s.raw();
    assert_eq!(c.call(&["PING"]), "-LOADING Redis is loading the dataset in memory\r\n");
    let info = c.call(&["INFO", "persistence"]);
    assert!(info.contains("\r\nloading:1\r\n") && info.contains("loading_total_bytes:"), "{info}");
    // Commands flagged `loading` run; settings that cannot change while loading refuse.
    ok(&mut c, &["CONFIG", "SET", "loglevel", "debug"]);
    assert_eq!(c.call(&["CONFIG", "SET", "appendonly", "yes"]), "-LOADING Redis is loading the dataset in memory\r\n");
    wait_for("the load to finish", Duration::from_secs(60), || c.call(&["PING"]) == "+PONG\r\n");
    assert_eq!(c.call(&["DBSIZE"]), ":20000\r\n");
    assert!(c.call(&["INFO", "persistence"]).contains("\r\nloading:0\r\n"));
    assert!(s.log().contains("Ready to accept connections"));
}

#[test]
fn a_shutdown_during_the_load_keeps_the_file() {
    let src = Server::start(&[]);
    let mut r = src.raw();
    ok(&mut r, &["DEBUG", "POPULATE", "20000", "key", "10"]);
    ok(&mut r, &["SAVE"]);
    let data = tempfile::tempdir().unwrap();
    let rdb = data.path().join("dump.rdb");
    std::fs::copy(src.dir.path().join("dump.rdb"), &rdb).unwrap();
    let size = std::fs::metadata(&rdb).unwrap().len();
    let dir = data.path().to_string_lossy().into_owned();
    let mut s = Server::start_loading(&["--dir", &dir, "--key-load-delay", "100", "--save", "60 1"]);
    let mut c = s.raw();
    assert!(c.call(&["INFO", "persistence"]).contains("\r\nloading:1\r\n"));
    // SIGTERM would save a partial dataset over the file being loaded: it must not.
    // SAFETY: kill() only sends a signal to our child process.
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    wait_for("the server to exit", Duration::from_secs(10), || !s.is_running());
    assert_eq!(std::fs::metadata(&rdb).unwrap().len(), size);
}
