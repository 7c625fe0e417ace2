//! Replication with bad peers (issue #5): a fake master or a fake replica, written here
//! with std::net, sends garbage, stalls, disconnects in the middle of a transfer or
//! announces absurd sizes, and the real fluidB node on the other side must drop the link
//! with a clear log line, retry it, keep its own data whole (no half-loaded snapshot, no
//! temporary file left behind) and keep serving its clients.
//!
//! Every wait is a poll with a deadline (`wait_for`, a non-blocking accept); stalls use
//! `--repl-timeout 2` and are the only waits measured in wall time.

mod common;

use std::io::{BufRead, Read};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Given to every node: a fast cron, short timeouts, no wait before a diskless transfer.
const FAST: &[&str] = &["--hz", "100", "--repl-timeout", "2", "--repl-diskless-sync-delay", "0"];
/// `--repl-timeout` above.
const REPL_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline for anything that should happen promptly (a retry, a sync, a drop).
const DEADLINE: Duration = Duration::from_secs(15);
/// The replication ID the fake master announces.
const ID: &str = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";
/// The offset of the fake master's full syncs.
const OFFSET: u64 = 1000;

// ---------------------------------------------------------------------------- nodes

/// A fluidB node that prints the end of its log if the test fails.
struct Node(Server);

impl std::ops::Deref for Node {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("---- fluidb on port {} ----", self.0.port);
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{l}");
            }
            let err = std::fs::read_to_string(self.0.dir.path().join("stderr.log")).unwrap_or_default();
            if !err.is_empty() {
                eprintln!("---- its stderr ----\n{err}");
            }
        }
    }
}

fn fluidb(extra: &[&str]) -> Node {
    let args: Vec<&str> = FAST.iter().chain(extra).copied().collect();
    Node(Server::start(&args))
}

fn info_opt(r: &mut Raw, section: &str, field: &str) -> Option<String> {
    let s = r.call(&["INFO", section]);
    let prefix = format!("{field}:");
    s.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

fn info(r: &mut Raw, section: &str, field: &str) -> String {
    info_opt(r, section, field).unwrap_or_else(|| panic!("{field} not in INFO {section}"))
}

fn digest(r: &mut Raw) -> String {
    let d = r.call(&["DEBUG", "DIGEST"]);
    assert!(d.starts_with('+') && d.len() == 43, "DEBUG DIGEST: {d:?}");
    d
}

/// Waits for `needle` in the node's log.
fn wait_log(s: &Server, needle: &str) {
    wait_log_after(s, 0, needle);
}

/// Waits for `needle` in the node's log past its first `from` bytes.
fn wait_log_after(s: &Server, from: usize, needle: &str) {
    wait_for(&format!("{needle:?} in the log"), DEADLINE, || s.log().get(from..).is_some_and(|l| l.contains(needle)));
}

/// The node's resident memory in MB (/proc/<pid>/status VmRSS).
fn rss_mb(s: &Server) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).expect("status");
    let kb: u64 = st
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb / 1024
}

/// Files named temp-*.rdb in the node's directory (a replica's snapshot in transit).
fn temp_files(s: &Server) -> Vec<String> {
    std::fs::read_dir(s.dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("temp-") && n.ends_with(".rdb"))
        .collect()
}

/// Pseudo-random bytes (xorshift): incompressible values make snapshots of a known size.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Loads `n` keys of `size` random bytes through one pipeline.
fn load_big(r: &mut Raw, n: usize, size: usize) {
    let mut req = Vec::with_capacity(n * (size + 64));
    for i in 0..n {
        req.extend_from_slice(&encode(&[b"SET", format!("big:{i}").as_bytes(), &noise(i as u64, size)]));
    }
    r.send(&req);
    for _ in 0..n {
        assert_eq!(r.read_reply(), b"+OK\r\n");
    }
}

// ---------------------------------------------------------------------------- fake peers

/// Wraps an accepted or connected socket as a RESP connection.
fn wrap(s: TcpStream) -> Raw {
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    Raw { r: std::io::BufReader::new(s.try_clone().expect("clone")), w: s }
}

/// A command sent by the replica (a RESP multibulk), as strings.
fn read_cmd(c: &mut Raw) -> Vec<String> {
    flat(&String::from_utf8_lossy(&c.read_reply()))
}

/// Waits until the peer closed the connection (whatever it sends meanwhile, such as a
/// replica's ACKs, is skipped).
fn wait_closed(c: &mut Raw, who: &str) {
    let deadline = Instant::now() + DEADLINE;
    c.w.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut buf = [0u8; 64 * 1024];
    loop {
        match c.r.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break, // reset
        }
        assert!(Instant::now() < deadline, "{who} did not close the connection within {DEADLINE:?}");
    }
    c.w.set_read_timeout(Some(DEADLINE)).expect("timeout");
}

/// A fake master: fluidB replicas connect to its listener.
struct FakeMaster(TcpListener);

impl FakeMaster {
    fn new() -> FakeMaster {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        FakeMaster(l)
    }

    fn port(&self) -> String {
        self.0.local_addr().expect("addr").port().to_string()
    }

    /// The replica's next connection (polled with a deadline).
    fn accept(&self) -> Raw {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.0.accept() {
                Ok((s, _)) => return wrap(s),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the replica did not (re)connect within {DEADLINE:?}");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// Plays a master's side of the handshake (PING, AUTH, REPLCONF) up to PSYNC, whose
/// arguments it returns.
fn handshake(c: &mut Raw) -> Vec<String> {
    loop {
        let cmd = read_cmd(c);
        match cmd[0].to_ascii_uppercase().as_str() {
            "PING" => c.send(b"+PONG\r\n"),
            "REPLCONF" | "AUTH" => c.send(b"+OK\r\n"),
            "PSYNC" | "SYNC" => return cmd,
            _ => panic!("unexpected command from the replica: {cmd:?}"),
        }
    }
}

/// A small valid RDB (version 9) with string keys in db 0 (names and values under 64
/// bytes) and `crc` as its checksum (zero: not checksummed, as `rdbchecksum no`).
fn rdb_with(keys: &[(&str, &str)], crc: [u8; 8]) -> Vec<u8> {
    let mut v = b"REDIS0009".to_vec();
    v.extend_from_slice(&[0xFE, 0x00]);
    for (k, val) in keys {
        assert!(k.len() < 64 && val.len() < 64);
        v.push(0); // string
        v.push(k.len() as u8);
        v.extend_from_slice(k.as_bytes());
        v.push(val.len() as u8);
        v.extend_from_slice(val.as_bytes());
    }
    v.push(0xFF);
    v.extend_from_slice(&crc);
    v
}

fn rdb(keys: &[(&str, &str)]) -> Vec<u8> {
    rdb_with(keys, [0; 8])
}

fn fullresync(c: &mut Raw) {
    c.send(format!("+FULLRESYNC {ID} {OFFSET}\r\n").as_bytes());
}

/// A disk-style payload: `$<len>` then the bytes.
fn disk_payload(data: &[u8]) -> Vec<u8> {
    let mut v = format!("${}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v
}

const MARK: &str = "0123456789012345678901234567890123456789";

/// A diskless payload: `$EOF:<mark>`, the bytes, the mark.
fn eof_payload(data: &[u8]) -> Vec<u8> {
    let mut v = format!("$EOF:{MARK}\r\n").into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(MARK.as_bytes());
    v
}

/// A command of the replication stream.
fn command(args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    encode(&a)
}

// ------------------------------------------------------------ fluidB replica, fake master

/// A node with its own data (every type and encoding), its client, and its digest.
fn replica_with_data(extra: &[&str]) -> (Node, Raw, String) {
    let s = fluidb(extra);
    let mut c = s.raw();
    fill_every_type(&mut c);
    let d = digest(&mut c);
    (s, c, d)
}

fn follow(c: &mut Raw, m: &FakeMaster) {
    ok(c, &["REPLICAOF", "127.0.0.1", &m.port()]);
}

/// After a failed attempt on `first`: the replica closed it, came back (`accept` returns
/// the retry, which starts with PING), its data is whole, it serves clients, its log
/// says why, and no temporary file is left.
fn assert_retried_intact(s: &Node, c: &mut Raw, m: &FakeMaster, first: &mut Raw, digest0: &str, log: &str) -> Raw {
    wait_closed(first, "the replica");
    let mut next = m.accept();
    assert_eq!(read_cmd(&mut next), vec!["PING"], "a retry starts with PING");
    wait_log(s, log);
    assert!(s.log().matches("Connecting to MASTER 127.0.0.1:").count() >= 2, "the retry is logged");
    assert_eq!(digest(c), digest0, "the replica's own data changed");
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    assert_eq!(info(c, "replication", "master_link_status"), "down");
    assert_eq!(temp_files(s), Vec::<String>::new(), "temporary snapshot files left behind");
    next
}

/// Serves a good full sync of `keys` on a connection whose PSYNC was read; waits until
/// the replica's link is up with exactly that data.
fn good_sync(s: &Node, c: &mut Raw, conn: &mut Raw, keys: &[(&str, &str)]) {
    fullresync(conn);
    conn.send(&disk_payload(&rdb(keys)));
    wait_for("master_link_status:up", DEADLINE, || info(c, "replication", "master_link_status") == "up");
    assert_eq!(c.call(&["DBSIZE"]), format!(":{}\r\n", keys.len()), "log:\n{}", s.log());
    for (k, v) in keys {
        assert_eq!(c.call(&["GET", k]), format!("${}\r\n{v}\r\n", v.len()));
    }
}

#[test]
fn master_replies_garbage_to_the_handshake() {
    type Bad = fn(&mut Raw);
    let cases: [(&str, Bad, &str); 6] = [
        (
            "error reply to PING",
            |c| {
                assert_eq!(read_cmd(c), vec!["PING"]);
                c.send(b"-ERR nope\r\n");
            },
            "Error reply to PING from master: '-ERR nope'",
        ),
        (
            "a 100 KB line without newline",
            |c| {
                assert_eq!(read_cmd(c), vec!["PING"]);
                c.send(&vec![b'x'; 100 * 1024]);
            },
            "MASTER sent a line that is too long",
        ),
        (
            "error reply to PSYNC",
            |c| {
                handshake(c);
                c.send(b"-ERR nope\r\n");
            },
            "Unexpected reply to PSYNC from master: -ERR nope",
        ),
        (
            "random bytes instead of +FULLRESYNC",
            |c| {
                handshake(c);
                let mut junk = noise(7, 300);
                junk.retain(|&b| b != b'\n' && b != b'\r' && b != b'-' && b != b'+');
                junk.extend_from_slice(b"\r\n");
                c.send(&junk);
            },
            "Unexpected reply to PSYNC from master",
        ),
        (
            "malformed +FULLRESYNC",
            |c| {
                handshake(c);
                c.send(b"+FULLRESYNC short 12\r\n");
            },
            "Master replied with wrong +FULLRESYNC syntax: +FULLRESYNC short 12",
        ),
        (
            "payload header that is not $",
            |c| {
                handshake(c);
                fullresync(c);
                c.send(b"hello\r\n");
            },
            "Bad protocol from MASTER, the first byte is not '$' (we received 'hello')",
        ),
    ];
    for (what, bad, log) in cases {
        eprintln!("case: {what}");
        let (s, mut c, d0) = replica_with_data(&[]);
        let m = FakeMaster::new();
        follow(&mut c, &m);
        let mut first = m.accept();
        bad(&mut first);
        assert_retried_intact(&s, &mut c, &m, &mut first, &d0, log);
    }
}

/// A payload cut short by the master closing the connection, in both framings and both
/// load modes.
#[test]
fn truncated_payload_leaves_data_and_no_temp_file() {
    for load in ["disabled", "swapdb"] {
        for diskless in [false, true] {
            eprintln!("case: repl-diskless-load {load}, {} framing", if diskless { "EOF" } else { "$len" });
            let (s, mut c, d0) = replica_with_data(&["--repl-diskless-load", load]);
            let m = FakeMaster::new();
            follow(&mut c, &m);
            let mut first = m.accept();
            handshake(&mut first);
            fullresync(&mut first);
            let head = if diskless { format!("$EOF:{MARK}\r\n") } else { "$1000\r\n".to_string() };
            first.send(head.as_bytes());
            first.send(&rdb(&[("a", "b")])[..5]);
            first.send(&noise(1, 95));
            wait_for("the transfer to start", DEADLINE, || {
                info(&mut c, "replication", "master_sync_in_progress") == "1"
            });
            if load == "disabled" {
                wait_for("the temp file", DEADLINE, || temp_files(&s).len() == 1);
            } else {
                assert!(temp_files(&s).is_empty(), "swapdb loads from memory");
            }
            assert_eq!(digest(&mut c), d0, "old data served during the transfer");
            first.w.shutdown(std::net::Shutdown::Both).expect("shutdown");
            assert_retried_intact(&s, &mut c, &m, &mut first, &d0, "MASTER closed the connection");
        }
    }
}

/// A complete payload that is not a valid snapshot: the load fails, the old data (and its
/// dump.rdb) stay, and the next attempt with a good snapshot succeeds.
#[test]
fn corrupt_snapshot_is_not_loaded() {
    let bad_checksum = rdb_with(&[("k", "v")], [1, 2, 3, 4, 5, 6, 7, 8]);
    let mut garbage = b"REDIS0009".to_vec();
    garbage.extend_from_slice(&[0xF0]);
    garbage.extend_from_slice(&noise(3, 200));
    let cases = [
        ("disabled", false, &garbage, "unknown RDB opcode or type"),
        ("disabled", true, &bad_checksum, "wrong RDB checksum"),
        ("swapdb", false, &bad_checksum, "wrong RDB checksum"),
        ("swapdb", true, &garbage, "unknown RDB opcode or type"),
    ];
    for (load, diskless, payload, why) in cases {
        eprintln!("case: repl-diskless-load {load}, diskless {diskless}, {why}");
        let (s, mut c, d0) = replica_with_data(&["--repl-diskless-load", load]);
        ok(&mut c, &["SAVE"]);
        let dump = s.dir.path().join("dump.rdb");
        let saved = std::fs::read(&dump).expect("dump.rdb");
        let m = FakeMaster::new();
        follow(&mut c, &m);
        let mut first = m.accept();
        handshake(&mut first);
        fullresync(&mut first);
        first.send(&if diskless { eof_payload(payload) } else { disk_payload(payload) });
        let mut next = assert_retried_intact(
            &s,
            &mut c,
            &m,
            &mut first,
            &d0,
            "Failed trying to load the MASTER synchronization DB",
        );
        wait_log(&s, why);
        assert!(std::fs::read(&dump).expect("dump.rdb") == saved, "dump.rdb was replaced by the bad snapshot");
        // The retry (its PING already read) with a good snapshot replaces the data.
        next.send(b"+PONG\r\n");
        handshake(&mut next);
        good_sync(&s, &mut c, &mut next, &[("from-master", "1")]);
        if load == "disabled" {
            assert_eq!(std::fs::read(&dump).expect("dump.rdb"), rdb(&[("from-master", "1")]), "the good one is kept");
        }
    }
}

/// `$<huge>` announced: no allocation of that size, the link is dropped when the master
/// goes away, the data stays.
#[test]
fn oversized_payload_announcement() {
    for load in ["disabled", "swapdb"] {
        eprintln!("case: repl-diskless-load {load}");
        let (s, mut c, d0) = replica_with_data(&["--repl-diskless-load", load]);
        let rss0 = rss_mb(&s);
        let m = FakeMaster::new();
        follow(&mut c, &m);
        let mut first = m.accept();
        handshake(&mut first);
        fullresync(&mut first);
        first.send(b"$99999999999999\r\n");
        first.send(&noise(5, 64 * 1024));
        wait_for("the transfer to start", DEADLINE, || info(&mut c, "replication", "master_sync_in_progress") == "1");
        // Received to disk the old data is served meanwhile; a diskless swapdb load of
        // another history is a load (PING is not allowed while loading, as in Redis).
        let expect =
            if load == "disabled" { "+PONG\r\n" } else { "-LOADING Redis is loading the dataset in memory\r\n" };
        assert_eq!(c.call(&["PING"]), expect);
        first.w.shutdown(std::net::Shutdown::Both).expect("shutdown");
        assert_retried_intact(&s, &mut c, &m, &mut first, &d0, "MASTER closed the connection");
        let rss = rss_mb(&s);
        assert!(rss < rss0 + 32, "RSS grew from {rss0} MB to {rss} MB");
    }
}

/// After a good sync, a command with an absurd bulk length in the stream: a protocol
/// error (no allocation of that size, no crash), then a partial resync.
#[test]
fn oversized_bulk_in_the_stream() {
    let (mut s, mut c, _) = replica_with_data(&[]);
    let m = FakeMaster::new();
    follow(&mut c, &m);
    let mut first = m.accept();
    handshake(&mut first);
    good_sync(&s, &mut c, &mut first, &[("k", "v")]);
    let rss0 = rss_mb(&s);
    first.send(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$99999999999999\r\n");
    first.send(&noise(9, 1024));
    wait_closed(&mut first, "the replica");
    assert!(s.0.is_running(), "the replica died: {}", s.log());
    let mut next = m.accept();
    let psync = handshake(&mut next);
    assert_eq!(psync, vec!["PSYNC".to_string(), ID.to_string(), (OFFSET + 1).to_string()]);
    wait_log(&s, "Protocol error from MASTER");
    assert_eq!(c.call(&["GET", "k"]), "$1\r\nv\r\n");
    let rss = rss_mb(&s);
    assert!(rss < rss0 + 32, "RSS grew from {rss0} MB to {rss} MB");
}

/// A master that goes silent (before PONG, after +FULLRESYNC, in the middle of the
/// payload, in the stream) is dropped after about `repl-timeout`, and retried.
#[test]
fn stalled_master_times_out() {
    type Stall = fn(&Node, &mut Raw, &mut Raw);
    let cases: [(&str, Stall, &str); 4] = [
        (
            "no reply to PING",
            |_, _, first| {
                assert_eq!(read_cmd(first), vec!["PING"]);
            },
            "Timeout connecting to the MASTER",
        ),
        (
            "nothing after +FULLRESYNC",
            |_, _, first| {
                handshake(first);
                fullresync(first);
            },
            "Timeout receiving bulk data from MASTER",
        ),
        (
            "half the payload",
            |_, _, first| {
                handshake(first);
                fullresync(first);
                first.send(b"$1000\r\n");
                first.send(&noise(2, 500));
            },
            "Timeout receiving bulk data from MASTER",
        ),
        (
            "no PING in the stream",
            |s, c, first| {
                handshake(first);
                good_sync(s, c, first, &[("k", "v")]);
            },
            "MASTER timeout: no data nor PING received",
        ),
    ];
    std::thread::scope(|scope| {
        for (what, stall, log) in cases {
            scope.spawn(move || {
                let (s, mut c, d0) = replica_with_data(&[]);
                let m = FakeMaster::new();
                follow(&mut c, &m);
                let mut first = m.accept();
                stall(&s, &mut c, &mut first);
                let t = Instant::now();
                let d0 = if what.contains("stream") { digest(&mut c) } else { d0 };
                let _next = assert_retried_intact(&s, &mut c, &m, &mut first, &d0, log);
                let took = t.elapsed();
                assert!(
                    took >= REPL_TIMEOUT - Duration::from_millis(100) && took < REPL_TIMEOUT * 3,
                    "{what}: the link was dropped after {took:?}, repl-timeout is {REPL_TIMEOUT:?}"
                );
            });
        }
    });
}

/// After a good sync, a protocol error in the stream drops the link; the replica comes
/// back asking to continue right after what it applied, and continues.
#[test]
fn protocol_error_in_stream_then_partial_resync() {
    let (s, mut c, _) = replica_with_data(&[]);
    let m = FakeMaster::new();
    follow(&mut c, &m);
    let mut first = m.accept();
    handshake(&mut first);
    good_sync(&s, &mut c, &mut first, &[("from-master", "1")]);
    // A command the replica does not know is not a protocol error: logged, link kept.
    let unknown = command(&["NOSUCHCOMMAND", "x"]);
    let set_a = command(&["SET", "a", "1"]);
    first.send(&unknown);
    first.send(&set_a);
    wait_for("a applied", DEADLINE, || c.call(&["GET", "a"]) == "$1\r\n1\r\n");
    wait_log(&s, "This replica is sending an error to its master");
    assert_eq!(info(&mut c, "replication", "master_link_status"), "up");
    let applied = OFFSET + (unknown.len() + set_a.len()) as u64;
    assert_eq!(info(&mut c, "replication", "master_repl_offset"), applied.to_string());
    first.send(b"*3\r\n$3\r\nSET\r\n...garbage\r\n");
    wait_closed(&mut first, "the replica");
    let mut next = m.accept();
    let psync = handshake(&mut next);
    assert_eq!(psync, vec!["PSYNC".to_string(), ID.to_string(), (applied + 1).to_string()]);
    wait_log(&s, "Protocol error from MASTER");
    next.send(b"+CONTINUE\r\n");
    next.send(&command(&["SET", "b", "2"]));
    wait_for("b applied", DEADLINE, || c.call(&["GET", "b"]) == "$1\r\n2\r\n");
    assert_eq!(info(&mut c, "replication", "master_link_status"), "up");
    assert_eq!(c.call(&["DBSIZE"]), ":3\r\n");
}

// ------------------------------------------------------------ fluidB master, fake replica

/// A fake replica's handshake, up to PSYNC ? -1 (sent, its reply not read).
fn fake_replica(master: &Server, capa_eof: bool) -> Raw {
    let mut c = master.raw();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    assert_eq!(c.call(&["REPLCONF", "listening-port", "4242"]), "+OK\r\n");
    if capa_eof {
        assert_eq!(c.call(&["REPLCONF", "capa", "eof", "capa", "psync2"]), "+OK\r\n");
    }
    c.cmd(&[b"PSYNC", b"?", b"-1"]);
    c
}

/// Reads +FULLRESYNC and the payload header: Some(len), or None for `$EOF:`.
fn read_sync_header(c: &mut Raw) -> Option<u64> {
    let mut line = Vec::new();
    let mut next_line = |c: &mut Raw| loop {
        line.clear();
        c.r.read_until(b'\n', &mut line).expect("read");
        if line != b"\n" {
            return String::from_utf8_lossy(&line).trim_end().to_string();
        }
    };
    let l = next_line(c);
    assert!(l.starts_with("+FULLRESYNC "), "{l:?}");
    let h = next_line(c);
    if h.starts_with("$EOF:") {
        None
    } else {
        Some(h.strip_prefix('$').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("payload header {h:?}")))
    }
}

fn read_exact(c: &mut Raw, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    c.r.read_exact(&mut v).expect("read payload");
    v
}

fn wait_no_replicas(c: &mut Raw) {
    wait_for("connected_slaves:0", DEADLINE, || info(c, "replication", "connected_slaves") == "0");
}

fn wait_no_child(c: &mut Raw) {
    wait_for("rdb_bgsave_in_progress:0", DEADLINE, || info(c, "persistence", "rdb_bgsave_in_progress") == "0");
}

/// A real fluidB replica syncs from `master` and ends up with the same data.
fn real_replica_syncs(master: &Server, mc: &mut Raw) {
    let r = fluidb(&[]);
    let mut rc = r.raw();
    ok(&mut rc, &["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    wait_for("master_link_status:up", DEADLINE, || info(&mut rc, "replication", "master_link_status") == "up");
    wait_for("same offset", DEADLINE, || {
        info(&mut rc, "replication", "master_repl_offset") == info(mc, "replication", "master_repl_offset")
    });
    assert_eq!(digest(&mut rc), digest(mc));
}

/// A replica that stops reading while the master takes a heavy write load is dropped at
/// its output buffer limit; the master keeps serving, and its memory stays bounded.
#[test]
fn replica_that_never_reads_hits_the_output_limit() {
    let s = fluidb(&["--repl-diskless-sync", "no"]);
    let mut c = s.raw();
    ok(&mut c, &["CONFIG", "SET", "client-output-buffer-limit", "replica 1mb 0 0"]);
    fill_every_type(&mut c);
    let _fake = fake_replica(&s, false);
    // Online: the snapshot went into the socket buffers; from now on the stream does too,
    // until they are full and the master's writes block.
    wait_for("the replica online", DEADLINE, || {
        info_opt(&mut c, "replication", "slave0").is_some_and(|l| l.contains("state=online"))
    });
    let rss0 = rss_mb(&s);
    let mut w = s.raw();
    let value = noise(11, 100 * 1024);
    let set = encode(&[b"SET", b"load", &value]);
    let mut slowest = Duration::ZERO;
    // 400 x 100 KB through the stream, 40 times the limit, one write at a time: the
    // replica's task keeps taking what is pending (each write is under the limit) until
    // the socket buffers are full and its write blocks; only then does the backlog of
    // pending bytes reach the limit.
    for i in 0..400 {
        w.send(&set);
        assert_eq!(w.read_reply(), b"+OK\r\n");
        if i % 20 == 0 {
            let t = Instant::now();
            assert_eq!(c.call(&["PING"]), "+PONG\r\n");
            slowest = slowest.max(t.elapsed());
        }
    }
    assert!(slowest < Duration::from_secs(1), "the master stalled for {slowest:?}");
    wait_no_replicas(&mut c);
    wait_log(&s, "dropped: output buffer limit reached");
    let rss = rss_mb(&s);
    assert!(rss < rss0 + 24, "master RSS grew from {rss0} MB to {rss} MB");
    assert_eq!(c.call(&["STRLEN", "load"]), format!(":{}\r\n", value.len()));
}

/// A replica that sends something that is not RESP after PSYNC is dropped; the master
/// is unaffected.
#[test]
fn replica_sending_garbage_is_dropped() {
    let s = fluidb(&[]);
    let mut c = s.raw();
    fill_every_type(&mut c);
    let d0 = digest(&mut c);
    type Bad = fn(&Server) -> Raw;
    let cases: [(&str, Bad, &str); 3] = [
        (
            "bad multibulk length after the payload",
            |s| {
                let mut f = fake_replica(s, true);
                assert_eq!(read_sync_header(&mut f), None);
                f.send(b"*x\r\n");
                f
            },
            "invalid multibulk length",
        ),
        (
            "a 100 KB line without newline",
            |s| {
                let mut f = fake_replica(s, false);
                read_sync_header(&mut f);
                f.send(&vec![b'a'; 100 * 1024]);
                f
            },
            "too big inline request",
        ),
        (
            "garbage in the same packet as PSYNC",
            |s| {
                let mut f = s.raw();
                f.send(b"PSYNC ? -1\r\n*x\r\n");
                f
            },
            "invalid multibulk length",
        ),
    ];
    for (what, bad, log) in cases {
        eprintln!("case: {what}");
        let from = s.log().len();
        let mut f = bad(&s);
        wait_closed(&mut f, "the master");
        wait_no_replicas(&mut c);
        wait_log_after(&s, from, &format!("dropped: protocol error from replica: ERR Protocol error: {log}"));
        assert_eq!(digest(&mut c), d0);
        assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    }
    wait_no_child(&mut c);
    real_replica_syncs(&s, &mut c);
}

/// Replicas that go away (close, or stop reading) in the middle of a large transfer,
/// diskless and disk: the master stays healthy, its child ends, a new replica syncs.
#[test]
fn replica_leaving_in_the_middle_of_a_transfer() {
    for diskless in [true, false] {
        let s = fluidb(&["--repl-diskless-sync", if diskless { "yes" } else { "no" }]);
        let mut c = s.raw();
        // 12 MB of incompressible values: more than the socket and pipe buffers hold.
        load_big(&mut c, 768, 16 * 1024);
        let d0 = digest(&mut c);
        for stall in [false, true] {
            eprintln!("case: diskless {diskless}, {}", if stall { "stops reading" } else { "closes" });
            let from = s.log().len();
            let mut f = fake_replica(&s, diskless);
            let len = read_sync_header(&mut f);
            assert_eq!(len.is_none(), diskless);
            read_exact(&mut f, 100 * 1024);
            let t = Instant::now();
            if !stall {
                drop(f);
                wait_no_replicas(&mut c);
            } else {
                // Not reading: the master gives up after repl-timeout without progress.
                wait_no_replicas(&mut c);
                assert!(t.elapsed() >= REPL_TIMEOUT - Duration::from_millis(100), "dropped after {:?}", t.elapsed());
                wait_closed(&mut f, "the master");
            }
            wait_no_child(&mut c);
            wait_log_after(
                &s,
                from,
                if stall { "dropped: timeout: no progress writing to it for 2 s" } else { "dropped: " },
            );
            assert_eq!(digest(&mut c), d0);
            assert_eq!(c.call(&["PING"]), "+PONG\r\n");
        }
        real_replica_syncs(&s, &mut c);
    }
}

// ------------------------------------------------------ commands the master sends that fail

/// A write of the master that fails on the replica (here INCR of a non-integer the
/// replica holds) is logged as critical and counted; `propagation-error-behavior ignore`
/// (the default) keeps the replica serving, `panic` stops a read-only replica.
#[test]
fn propagation_error_behavior_ignore_counts_and_panic_stops() {
    for (behavior, stops) in [("ignore", false), ("panic", true), ("panic-on-replicas", true)] {
        let mut s = fluidb(&["--propagation-error-behavior", behavior]);
        let mut c = s.raw();
        let m = FakeMaster::new();
        follow(&mut c, &m);
        let mut conn = m.accept();
        handshake(&mut conn);
        good_sync(&s, &mut c, &mut conn, &[("k", "not-a-number")]);
        conn.send(&command(&["INCR", "k"]));
        conn.send(&command(&["SET", "after", "1"]));
        wait_log(&s, "== CRITICAL == This replica is sending an error to its master: 'ERR value is not an integer");
        if stops {
            wait_for("the replica to abort", DEADLINE, || !s.0.is_running());
            assert!(s.log().contains("This replica panicked sending an error to its master"), "{behavior}");
        } else {
            wait_for("the next write", DEADLINE, || c.call(&["GET", "after"]) == "$1\r\n1\r\n");
            assert_eq!(info(&mut c, "stats", "unexpected_error_replies"), "1");
        }
    }
}
