//! Test harness: starts real `fluidb-server` (and `redis-server`) processes on free
//! loopback ports and talks to them over real sockets.
#![allow(dead_code)]

pub mod keydb;
pub mod pair;
pub mod proxy;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback TCP port (bound then released; servers bind it right after).
pub fn free_port() -> u16 {
    // Ports are handed out from a per-process range offset to make collisions between
    // concurrently running test binaries unlikely, then checked by binding.
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let p = l.local_addr().expect("local addr").port();
        drop(l);
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// Polls `f` until it returns true or the deadline passes.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A running server process, killed on drop.
pub struct Server {
    pub port: u16,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub kind: &'static str,
}

pub fn fluidb_bin() -> &'static str {
    env!("CARGO_BIN_EXE_fluidb-server")
}

impl Server {
    /// Starts fluidB with `--port <free>` and extra `--directive value` arguments.
    /// Returns once the dataset is loaded (a server answering -LOADING is not ready yet).
    pub fn start(args: &[&str]) -> Server {
        Self::start_with(fluidb_bin(), "fluidb", None, args)
    }

    /// As [`Server::start`], but returns as soon as the server answers, -LOADING included
    /// (for tests of what happens while the dataset loads).
    pub fn start_loading(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(fluidb_bin(), "fluidb", dir, None, args, false)
    }

    /// Starts fluidB with a config file (written to the server's temp dir) plus arguments.
    pub fn start_with_config(conf: &str, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fluidb.conf");
        std::fs::write(&path, conf).expect("write config");
        let path = path.to_string_lossy().into_owned();
        Self::start_in(fluidb_bin(), "fluidb", dir, Some(path), args, true)
    }

    /// Starts the real redis-server 7.0 (installed by the test script).
    pub fn start_redis(args: &[&str]) -> Server {
        let mut a = vec!["--save", "", "--appendonly", "no", "--enable-debug-command", "yes"];
        a.extend_from_slice(args);
        Self::start_with("redis-server", "redis", None, &a)
    }

    fn start_with(bin: &str, kind: &'static str, conf: Option<String>, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(bin, kind, dir, conf, args, true)
    }

    fn start_in(
        bin: &str,
        kind: &'static str,
        dir: tempfile::TempDir,
        conf: Option<String>,
        args: &[&str],
        wait_loaded: bool,
    ) -> Server {
        for _attempt in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(bin);
            if let Some(c) = &conf {
                cmd.arg(c);
            }
            cmd.arg("--port").arg(port.to_string());
            cmd.arg("--dir").arg(dir.path());
            if kind == "fluidb" {
                // Tests use DEBUG (DIGEST, SET-ACTIVE-EXPIRE...); a later argument overrides.
                cmd.arg("--enable-debug-command").arg("yes");
            }
            cmd.args(args);
            cmd.current_dir(dir.path());
            cmd.stdout(Stdio::from(std::fs::File::create(dir.path().join("stdout.log")).expect("log file")));
            cmd.stderr(Stdio::from(std::fs::File::create(dir.path().join("stderr.log")).expect("log file")));
            let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port taken or bad args): retry or report
                }
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    if s.write_all(b"PING\r\n").is_ok() {
                        let mut buf = [0u8; 64];
                        if let Ok(n) = s.read(&mut buf) {
                            if n > 0 && !(wait_loaded && buf[..n].starts_with(b"-LOADING")) {
                                return Server { port, child, dir, kind };
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap_or_default();
        let err = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
        panic!("{bin} did not start\nstdout:\n{log}\nstderr:\n{err}");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A synchronous `redis` crate connection.
    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client");
        c.get_connection().expect("connect")
    }

    /// A raw TCP connection for protocol-level tests.
    pub fn raw(&self) -> Raw {
        Raw::connect(self.port)
    }

    /// Runs `redis-cli -p PORT args...` and returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").arg("-p").arg(self.port.to_string()).args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Server log (stdout) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw RESP connection: send bytes, read whole replies.
pub struct Raw {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Raw { r: BufReader::new(s.try_clone().expect("clone")), w: s }
    }
    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }
    /// Sends a command as a RESP multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode(args));
    }
    /// Sends a command and reads one reply, returned as raw RESP bytes.
    pub fn call(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a);
        String::from_utf8_lossy(&self.read_reply()).into_owned()
    }
    /// Reads exactly one complete RESP2/RESP3 reply (nested aggregates included).
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        read_one(&mut self.r, &mut out).expect("read reply");
        out
    }
    /// Sends a command and reads one reply; None if the connection failed.
    pub fn try_call(&mut self, args: &[&str]) -> Option<String> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.w.write_all(&encode(&a)).ok()?;
        self.try_read_reply().map(|r| String::from_utf8_lossy(&r).into_owned())
    }
    /// Reads one reply, or None if the connection was closed.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        read_one(&mut self.r, &mut out).ok().map(|_| out)
    }
    /// True if the server closed the connection (EOF) within the timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0) | Err(_))
    }
}

/// RESP multibulk encoding of a command.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

fn read_line<R: BufRead>(r: &mut R, out: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
    }
    out.extend_from_slice(&line);
    Ok(line)
}

/// Reads one RESP value into `out` (raw bytes, for byte-for-byte comparison).
pub fn read_one<R: BufRead>(r: &mut R, out: &mut Vec<u8>) -> std::io::Result<()> {
    let line = read_line(r, out)?;
    let body = String::from_utf8_lossy(&line[1..line.len().saturating_sub(2).max(1)]).into_owned();
    let n: i64 = body.parse().unwrap_or(-1);
    match line[0] {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(()),
        b'$' | b'=' | b'!' => {
            if n >= 0 {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                out.extend_from_slice(&buf);
            }
            Ok(())
        }
        b'*' | b'~' | b'>' => {
            for _ in 0..n.max(0) {
                read_one(r, out)?;
            }
            Ok(())
        }
        b'%' | b'|' => {
            for _ in 0..(2 * n.max(0)) {
                read_one(r, out)?;
            }
            if line[0] == b'|' {
                read_one(r, out)?; // the attributed value
            }
            Ok(())
        }
        _ => Ok(()), // inline junk: return the line as is
    }
}

/// Splits a script line into arguments with redis-cli-like quoting ("..." and '...').
pub fn split_line(line: &str) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let mut cur = Vec::new();
        if b[i] == b'"' || b[i] == b'\'' {
            let q = b[i];
            i += 1;
            while i < b.len() && b[i] != q {
                if q == b'"' && b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => cur.push(b'\n'),
                        b'r' => cur.push(b'\r'),
                        b't' => cur.push(b'\t'),
                        b'x' if i + 2 < b.len() => {
                            let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                            cur.push(u8::from_str_radix(h, 16).unwrap_or(0));
                            i += 2;
                        }
                        c => cur.push(c),
                    }
                } else {
                    cur.push(b[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != b' ' {
                cur.push(b[i]);
                i += 1;
            }
        }
        args.push(cur);
    }
    args
}

/// Parses a flat RESP2/RESP3 reply (an array/set of bulks and integers, possibly nested
/// one level as HSCAN's [cursor, [elements]]) into strings; nils become "(nil)".
pub fn flat(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = raw.split("\r\n").peekable();
    while let Some(l) = lines.next() {
        if l.is_empty() {
            continue;
        }
        match l.as_bytes()[0] {
            b'*' | b'%' | b'~' => {}
            b'$' if l == "$-1" => out.push("(nil)".into()),
            b'_' => out.push("(nil)".into()),
            b'$' => out.push(lines.next().unwrap_or_default().to_string()),
            b':' | b'+' | b'-' => out.push(l.to_string()),
            _ => panic!("unexpected line {l:?} in {raw:?}"),
        }
    }
    out
}

/// Reads keyspace events from `sub` (PSUBSCRIBEd to them and SUBSCRIBEd to "marker") up to
/// the marker `mark` published through `pub_`: "channel payload" per event.
pub fn events_until_marker(sub: &mut Raw, pub_: &mut Raw, mark: &str) -> Vec<String> {
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

/// Fills a server with one key per type and encoding (small and large forms, integers,
/// binary strings); returns the key names.
pub fn fill_every_type(r: &mut Raw) -> Vec<String> {
    let mut keys = Vec::new();
    let mut run = |k: &str, cmds: Vec<Vec<String>>| {
        for c in cmds {
            let a: Vec<&str> = c.iter().map(String::as_str).collect();
            let got = r.call(&a);
            assert!(!got.starts_with('-'), "{a:?}: {got}");
        }
        keys.push(k.to_string());
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    run("str-int", vec![s(&["SET", "str-int", "12345"])]);
    run("str-neg", vec![s(&["SET", "str-neg", "-9223372036854775808"])]);
    run("str-emb", vec![s(&["SET", "str-emb", "hello world"])]);
    run("str-raw", vec![s(&["SET", "str-raw", &"abcdefgh".repeat(40)])]);
    run("str-bin", vec![s(&["SET", "str-bin", "a\u{0}b\r\n\u{ff}"])]);
    run("list-small", vec![s(&["RPUSH", "list-small", "a", "1", "-7", "300000", "x y", "4294967296"])]);
    let big: Vec<String> = (0..3000).map(|i| format!("element-{i}-{}", "z".repeat(i % 70))).collect();
    let mut c = s(&["RPUSH", "list-big"]);
    c.extend(big.iter().cloned());
    run("list-big", vec![c]);
    run("hash-small", vec![s(&["HSET", "hash-small", "f1", "v1", "f2", "2", "n", "-100000"])]);
    let mut c = s(&["HSET", "hash-big"]);
    for i in 0..700 {
        c.push(format!("field{i}"));
        c.push(format!("{i}"));
    }
    run("hash-big", vec![c]);
    run("set-intset", vec![s(&["SADD", "set-intset", "1", "2", "-3", "70000", "9223372036854775807"])]);
    run("set-table", vec![s(&["SADD", "set-table", "a", "b", "c", "1"])]);
    let mut c = s(&["SADD", "set-bigint"]);
    c.extend((0..600).map(|i| (i * 3).to_string()));
    run("set-bigint", vec![c]);
    run("zset-small", vec![s(&["ZADD", "zset-small", "1", "a", "1.5", "b", "-inf", "c", "1e300", "d"])]);
    let mut c = s(&["ZADD", "zset-big"]);
    for i in 0..400 {
        c.push(format!("{}", (i as f64) / 7.0));
        c.push(format!("member{i}"));
    }
    run("zset-big", vec![c]);
    keys
}

/// The child processes of `pid` (a BGSAVE or rewrite child), from /proc.
pub fn child_pids(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// Sets the soft RLIMIT_FSIZE of a running process (None: unlimited): writes past the
/// limit fail with EFBIG, as they would on a full disk, without needing a mount.
pub fn set_file_size_limit(pid: u32, limit: Option<u64>) {
    let v = limit.map_or("unlimited".to_string(), |n| n.to_string());
    let ok = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={v}:")])
        .status()
        .expect("prlimit")
        .success();
    assert!(ok, "prlimit failed");
}

/// An integer reply, or a panic naming the command and what came instead.
pub fn int(r: &mut Raw, args: &[&str]) -> i64 {
    let rep = r.call(args);
    rep.strip_prefix(':')
        .and_then(|s| s.strip_suffix("\r\n"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{args:?}: expected an integer reply, got {rep:?}"))
}

/// Runs a command that must answer +OK.
pub fn ok(r: &mut Raw, args: &[&str]) {
    assert_eq!(r.call(args), "+OK\r\n", "{args:?}");
}
