//! Helpers for active-replication tests: pairs of nodes, convergence checks.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{fluidb_bin, wait_for, Raw, Server};

pub const SYNC: Duration = Duration::from_secs(20);
pub const CONVERGE: Duration = Duration::from_secs(5);

pub fn info_field(r: &mut Raw, section: &str, field: &str) -> Option<String> {
    let raw = r.call(&["INFO", section]);
    raw.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

pub fn digest(r: &mut Raw) -> String {
    r.call(&["DEBUG", "DIGEST"])
}

pub fn link_up(r: &mut Raw) -> bool {
    info_field(r, "replication", "master_link_status").as_deref() == Some("up")
}

/// Waits until both links of a pair are up.
pub fn wait_pair(a: &mut Raw, b: &mut Raw) {
    wait_for("both links up", SYNC, || link_up(a) && link_up(b));
}

/// Waits until both nodes hold the same data.
pub fn wait_converged(a: &mut Raw, b: &mut Raw, within: Duration) {
    let start = Instant::now();
    let deadline = start + within;
    loop {
        let (da, db) = (digest(a), digest(b));
        if da == db {
            return;
        }
        if Instant::now() >= deadline {
            let mut diffs = Vec::new();
            let keys_a = a.call(&["KEYS", "*"]);
            let keys_b = b.call(&["KEYS", "*"]);
            let mut names: Vec<String> = super::flat(&keys_a);
            names.extend(super::flat(&keys_b));
            names.sort();
            names.dedup();
            for k in names {
                let (va, vb) = (content(a, &k), content(b, &k));
                if va != vb {
                    diffs.push(format!("{k}:\n   A={va:.300?}\n   B={vb:.300?}"));
                }
            }
            panic!("not converged after {within:?}: {da:?} vs {db:?}\n{}", diffs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A key's content in a comparable form (collections sorted), for failure reports.
pub fn content(r: &mut Raw, k: &str) -> String {
    let t = r.call(&["TYPE", k]);
    let mut items = match t.as_str() {
        "+string\r\n" => vec![r.call(&["GET", k])],
        "+list\r\n" => return r.call(&["LRANGE", k, "0", "-1"]),
        "+hash\r\n" => super::flat(&r.call(&["HGETALL", k])).chunks(2).map(|c| c.join("=")).collect(),
        "+set\r\n" => super::flat(&r.call(&["SMEMBERS", k])),
        "+zset\r\n" => super::flat(&r.call(&["ZRANGE", k, "0", "-1", "WITHSCORES"])),
        _ => vec![],
    };
    items.sort();
    format!("{t:?} {} {:?}", items.len(), items)
}

/// Starts fluidB on a given port (for nodes that must know each other's port at boot).
/// None if the process exited before it was ready: another process took the port between
/// [`super::free_port`] and the bind (tests run in parallel); the caller retries with new
/// ports ([`with_ports`]).
pub fn try_start_on(port: u16, conf: Option<&str>, args: &[&str]) -> Option<Server> {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(c) = conf {
        std::fs::write(dir.path().join("fluidb.conf"), c).expect("write config");
    }
    let child = spawn_in(dir.path(), port, conf.is_some(), args);
    let mut s = Server { port, child, dir, kind: "fluidb" };
    wait_ours(&mut s).then_some(s)
}

/// Runs `f` with `n` fresh free ports until it succeeds (at most 5 times).
pub fn with_ports<T>(n: usize, mut f: impl FnMut(&[u16]) -> Option<T>) -> T {
    for _ in 0..5 {
        let ports: Vec<u16> = (0..n).map(|_| super::free_port()).collect();
        if let Some(t) = f(&ports) {
            return t;
        }
    }
    panic!("could not start the servers on free ports in 5 attempts");
}

/// Starts fluidB on a given port, panicking if it cannot (see [`try_start_on`]).
pub fn start_on(port: u16, conf: Option<&str>, args: &[&str]) -> Server {
    try_start_on(port, conf, args).unwrap_or_else(|| panic!("fluidb-server could not start on port {port}"))
}

/// Kills `s` (SIGKILL, no shutdown work) and starts it again with `args` on the same port
/// and data directory, as an operator restarting a crashed node would.
pub fn kill_and_restart(s: &mut Server, args: &[&str]) {
    let _ = s.child.kill();
    let _ = s.child.wait();
    let conf = s.dir.path().join("fluidb.conf").exists();
    s.child = spawn_in(s.dir.path(), s.port, conf, args);
    assert!(wait_ours(s), "the restarted server did not come up on port {}", s.port);
}

fn spawn_in(dir: &std::path::Path, port: u16, conf: bool, args: &[&str]) -> std::process::Child {
    let mut cmd = Command::new(fluidb_bin());
    if conf {
        cmd.arg(dir.join("fluidb.conf"));
    }
    cmd.arg("--port").arg(port.to_string()).arg("--dir").arg(dir);
    cmd.arg("--enable-debug-command").arg("yes").args(args).current_dir(dir);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("stdout.log")).expect("log");
    cmd.stdout(Stdio::from(log));
    cmd.stderr(Stdio::from(std::fs::File::create(dir.join("stderr.log")).expect("log")));
    cmd.spawn().expect("spawn fluidb-server")
}

/// Waits until `s`'s own process is ready: its log says so (it bound the port, so the
/// port is not another process's) and PING answers anything but -LOADING (+PONG, or
/// -NOAUTH with `requirepass`). False if the process exited first.
fn wait_ours(s: &mut Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log_len = 0;
    while Instant::now() < deadline {
        if !matches!(s.child.try_wait(), Ok(None)) {
            return false;
        }
        let log = std::fs::read_to_string(s.dir.path().join("stdout.log")).unwrap_or_default();
        // A restart appends to the log: only what this process wrote counts.
        let ready = log[log_len.min(log.len())..].contains("Ready to accept connections");
        if log_len == 0 {
            log_len = log.rfind("fluidB is starting").unwrap_or(0);
        }
        if ready {
            if let Ok(sock) = std::net::TcpStream::connect(("127.0.0.1", s.port)) {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
                let mut r = Raw { r: std::io::BufReader::new(sock.try_clone().expect("clone")), w: sock };
                if r.try_call(&["PING"]).is_some_and(|p| !p.starts_with("-LOADING")) {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
