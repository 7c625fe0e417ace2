//! Differential tests: every script `tests/diff/*.txt` runs against the real redis-server
//! 7.0 and against fluidB, and the replies must be identical byte for byte.
//!
//! Script format (one command per line, redis-cli-like quoting, see `split_line`):
//!
//! - `# ...` and blank lines are ignored.
//! - `CMD arg ...` is sent to both servers as a RESP multibulk; the replies are compared.
//! - `!CMD arg ...` is sent to both, the replies are read but not compared (for
//!   nondeterministic replies: TTL, TIME, RANDOMKEY...).
//! - `@resp3` / `@resp2` send `HELLO 3` / `HELLO 2` to both (reply not compared), so later
//!   lines compare the RESP3 (or RESP2) encodings.
//! - `@flushall` sends FLUSHALL to both (on a separate control connection).
//! - `@digest` compares `DEBUG DIGEST` of both datasets (skipped while either side answers
//!   an error, e.g. before DEBUG exists).
//! - `@sleep <ms>` waits (e.g. to let keys expire).
//! - `?CMD arg ...` marks a known mismatch (a fluidB bug not fixed yet): compared, and a
//!   difference is printed as a note instead of failing; once the replies match, a note
//!   asks for the marker to be removed. `grep -n '^?' tests/diff/*.txt` lists them.
//!
//! Every script gets its own pair of servers and starts with FLUSHALL. Commands with several
//! replies (SUBSCRIBE a b, UNSUBSCRIBE...) and without replies (CLIENT REPLY OFF/SKIP) are
//! handled. After QUIT the next line runs on a fresh connection (RESP2, db 0), as a real
//! client would. Whether a connection was closed is part of the compared output.
//!
//! A mismatch reports the script, line number, command and both replies escaped; all the
//! mismatches of all scripts are collected before the test fails. A server crash or a reply
//! that does not arrive within the timeout aborts that script with a clear failure.
//!
//! Environment: `FLUIDB_DIFF=name1,name2` runs only the scripts whose file stem matches;
//! `FLUIDB_DIFF_TIMEOUT=<secs>` changes the per-reply timeout (default 10);
//! `FLUIDB_DIFF_JOBS=<n>` scripts run in parallel (default 3).

mod common;
use common::*;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for output from a command that normally sends no reply.
const NO_REPLY_WAIT: Duration = Duration::from_millis(50);
/// Longest escaped reply shown in a report.
const SHOW_MAX: usize = 1500;

fn reply_timeout() -> Duration {
    let secs = std::env::var("FLUIDB_DIFF_TIMEOUT").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(10);
    Duration::from_secs(secs.max(1))
}

/// Escapes bytes for a report: printable ASCII as is, CR/LF/TAB as `\r` `\n` `\t`, the rest `\xNN`.
fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(SHOW_MAX) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > SHOW_MAX {
        s.push_str(&format!("... ({} bytes)", b.len()));
    }
    format!("\"{s}\"")
}

/// Why reading a reply failed.
#[derive(Debug, PartialEq)]
enum ReadErr {
    Closed,
    Timeout,
}

fn io_kind(e: &std::io::Error) -> ReadErr {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ReadErr::Timeout,
        _ => ReadErr::Closed,
    }
}

/// Reads one CRLF-terminated line into `out`.
fn read_line(r: &mut BufReader<TcpStream>, out: &mut Vec<u8>) -> Result<Vec<u8>, ReadErr> {
    let mut line = Vec::new();
    match r.read_until(b'\n', &mut line) {
        Ok(0) => Err(ReadErr::Closed),
        Ok(_) => {
            out.extend_from_slice(&line);
            if line.last() != Some(&b'\n') {
                return Err(ReadErr::Closed);
            }
            Ok(line)
        }
        Err(e) => {
            out.extend_from_slice(&line);
            Err(io_kind(&e))
        }
    }
}

/// Reads one complete RESP2/RESP3 value (aggregates included) into `out`. On failure `out`
/// keeps the bytes received so far.
fn read_value(r: &mut BufReader<TcpStream>, out: &mut Vec<u8>) -> Result<(), ReadErr> {
    let line = read_line(r, out)?;
    let body = &line[1.min(line.len())..line.len().saturating_sub(2).max(1.min(line.len()))];
    let n: i64 = std::str::from_utf8(body).ok().and_then(|s| s.parse().ok()).unwrap_or(-1);
    match line[0] {
        b'$' | b'=' | b'!' => {
            if n >= 0 {
                let mut buf = vec![0u8; n as usize + 2];
                let mut got = 0;
                while got < buf.len() {
                    match r.read(&mut buf[got..]) {
                        Ok(0) => {
                            out.extend_from_slice(&buf[..got]);
                            return Err(ReadErr::Closed);
                        }
                        Ok(k) => got += k,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            out.extend_from_slice(&buf[..got]);
                            return Err(io_kind(&e));
                        }
                    }
                }
                out.extend_from_slice(&buf);
            }
            Ok(())
        }
        b'*' | b'~' | b'>' => {
            for _ in 0..n.max(0) {
                read_value(r, out)?;
            }
            Ok(())
        }
        b'%' | b'|' => {
            for _ in 0..2 * n.max(0) {
                read_value(r, out)?;
            }
            if line[0] == b'|' {
                read_value(r, out)?;
            }
            Ok(())
        }
        _ => Ok(()), // simple types, or an inline line that is not RESP: kept as is
    }
}

/// Per-connection state the runner needs to know how many replies a command produces.
#[derive(Default, Debug)]
struct ConnState {
    in_multi: bool,
    reply_off: bool,
    /// CLIENT REPLY SKIP was accepted: the next command has no reply.
    skip_next: bool,
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard_channels: BTreeSet<Vec<u8>>,
}

/// How many replies to expect from a command.
enum Expect {
    /// Exactly one reply.
    One,
    /// Several replies (subscribe family); fewer if the first is an error.
    Many(usize),
    /// Normally no reply (CLIENT REPLY OFF/SKIP, or replies switched off).
    None,
}

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

/// One side (Redis or fluidB) of a script run.
struct Side {
    name: &'static str,
    server: Server,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
    ctl: Option<(BufReader<TcpStream>, TcpStream)>,
    state: ConnState,
    /// Set when the process died or stopped answering: the script is aborted.
    dead: Option<String>,
    /// How long a reply may take.
    timeout: Duration,
}

fn connect(port: u16, timeout: Duration) -> std::io::Result<(BufReader<TcpStream>, TcpStream)> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    Ok((BufReader::new(s.try_clone()?), s))
}

impl Side {
    fn new(name: &'static str, server: Server) -> Side {
        Side { name, server, conn: None, ctl: None, state: ConnState::default(), dead: None, timeout: reply_timeout() }
    }

    /// Describes a dead server: exit status and log tail.
    fn death_report(&mut self, what: &str) -> String {
        let status = match self.server.child.try_wait() {
            Ok(Some(st)) => format!("process exited ({st})"),
            Ok(None) => "process still running".to_string(),
            Err(e) => format!("process state unknown ({e})"),
        };
        let mut log = self.server.log();
        log.push_str(&std::fs::read_to_string(self.server.dir.path().join("stderr.log")).unwrap_or_default());
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{} {what}: {status}; log tail:\n      {}", self.name, tail.join("\n      "))
    }

    fn ensure_conn(&mut self) -> Result<(), String> {
        if self.conn.is_none() {
            match connect(self.server.port, self.timeout) {
                Ok(c) => {
                    self.conn = Some(c);
                    self.state = ConnState::default();
                }
                Err(e) => return Err(self.death_report(&format!("refused a connection ({e})"))),
            }
        }
        Ok(())
    }

    /// A command on the control connection (FLUSHALL, DEBUG DIGEST). Returns the raw reply.
    fn control(&mut self, args: &[&[u8]]) -> Result<Vec<u8>, String> {
        if self.ctl.is_none() {
            match connect(self.server.port, self.timeout) {
                Ok(c) => self.ctl = Some(c),
                Err(e) => return Err(self.death_report(&format!("refused a connection ({e})"))),
            }
        }
        let Some((r, w)) = self.ctl.as_mut() else { unreachable!() };
        let mut out = Vec::new();
        let res = w.write_all(&encode(args)).map_err(|e| io_kind(&e)).and_then(|_| read_value(r, &mut out));
        match res {
            Ok(()) => Ok(out),
            Err(e) => {
                self.ctl = None;
                Err(self
                    .death_report(&format!("failed on control command {:?} ({e:?})", String::from_utf8_lossy(args[0]))))
            }
        }
    }

    /// Reads whatever complete replies already arrived, without waiting (or waiting up to
    /// `wait` for the first byte). Returns Err when the connection turned out closed.
    fn drain(&mut self, out: &mut Vec<u8>, wait: Duration) -> Result<(), ReadErr> {
        let Some((r, w)) = self.conn.as_mut() else { return Ok(()) };
        loop {
            if r.buffer().is_empty() {
                let mut b = [0u8; 1];
                let peeked = if wait.is_zero() {
                    let _ = w.set_nonblocking(true);
                    let p = w.peek(&mut b);
                    let _ = w.set_nonblocking(false);
                    p
                } else {
                    let _ = w.set_read_timeout(Some(wait));
                    let p = w.peek(&mut b);
                    let _ = w.set_read_timeout(Some(self.timeout));
                    p
                };
                match peeked {
                    Ok(0) => return Err(ReadErr::Closed),
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Ok(()),
                    Err(_) => return Err(ReadErr::Closed),
                }
            }
            // Something is there: read a whole reply (the rest of it is on its way).
            read_value(r, out)?;
        }
    }

    /// Sends one command on the script connection and reads its replies.
    /// Returns the bytes to compare (with a `<closed>` marker when the server closed the
    /// connection) or Err(description) when the server died or timed out.
    fn run(&mut self, argv: &[Vec<u8>]) -> Result<Vec<u8>, String> {
        if let Some(d) = &self.dead {
            return Err(d.clone());
        }
        self.ensure_conn()?;
        let name = lower(&argv[0]);
        let sub = argv.get(1).map(|a| lower(a)).unwrap_or_default();
        let arg2 = argv.get(2).map(|a| lower(a)).unwrap_or_default();
        let argc = argv.len();
        let st = &self.state;
        let is_sub_family = matches!(
            name.as_slice(),
            b"subscribe" | b"psubscribe" | b"ssubscribe" | b"unsubscribe" | b"punsubscribe" | b"sunsubscribe"
        );
        let multi_passthrough =
            matches!(name.as_slice(), b"exec" | b"discard" | b"multi" | b"watch" | b"quit" | b"reset");
        let client_reply = name == b"client" && sub == b"reply";
        let expect = if st.in_multi && !multi_passthrough {
            Expect::One
        } else if (client_reply && argc == 3 && (arg2 == b"off" || arg2 == b"skip"))
            || (st.reply_off && !(client_reply && argc == 3 && arg2 == b"on"))
            || st.skip_next
        {
            Expect::None
        } else if is_sub_family && argc >= 2 {
            Expect::Many(argc - 1)
        } else if is_sub_family {
            let n = match name.as_slice() {
                b"unsubscribe" => st.channels.len(),
                b"punsubscribe" => st.patterns.len(),
                b"sunsubscribe" => st.shard_channels.len(),
                _ => 0, // SUBSCRIBE without channels: arity error
            };
            Expect::Many(n.max(1))
        } else {
            Expect::One
        };
        let was_skip_next = st.skip_next;

        let (r, w) = self.conn.as_mut().expect("connected");
        let mut out = Vec::new();
        if let Err(e) = w.write_all(&encode(&argv.iter().map(|a| a.as_slice()).collect::<Vec<_>>())) {
            self.conn = None;
            return Err(self.death_report(&format!("write failed ({e})")));
        }
        let mut res: Result<(), ReadErr> = Ok(());
        let mut first_is_error = false;
        match expect {
            Expect::One | Expect::Many(_) => {
                let n = if let Expect::Many(n) = expect { n } else { 1 };
                for i in 0..n {
                    let start = out.len();
                    res = read_value(r, &mut out);
                    if res.is_err() {
                        break;
                    }
                    // An out-of-band RESP3 push before the reply (e.g. a message for a
                    // channel this client publishes to): keep it and read the reply too.
                    if out.get(start) == Some(&b'>') && !is_sub_family {
                        res = read_value(r, &mut out);
                        if res.is_err() {
                            break;
                        }
                    }
                    if i == 0 && out.get(start) == Some(&b'-') {
                        first_is_error = true;
                        break;
                    }
                }
            }
            Expect::None => {}
        }
        if res.is_ok() {
            // Extra output already there (or, for no-reply commands, arriving shortly).
            let wait = if matches!(expect, Expect::None) { NO_REPLY_WAIT } else { Duration::ZERO };
            res = self.drain(&mut out, wait);
        }
        if res.is_ok() && name == b"quit" {
            // QUIT closes the connection after its reply: wait for that.
            let (r, _) = self.conn.as_mut().expect("connected");
            let mut b = [0u8; 1];
            res = match r.read(&mut b) {
                Ok(0) => Err(ReadErr::Closed),
                Ok(_) => {
                    out.push(b[0]);
                    let _ = self.drain(&mut out, Duration::ZERO);
                    Ok(())
                }
                Err(e) => Err(io_kind(&e)),
            };
        }
        match res {
            Ok(()) => {}
            Err(ReadErr::Closed) => {
                self.conn = None;
                if !self.server.is_running() {
                    let d = self.death_report("crashed");
                    self.dead = Some(d.clone());
                    return Err(d);
                }
                out.extend_from_slice(b"<closed>");
                return Ok(out);
            }
            Err(ReadErr::Timeout) => {
                let d = self.death_report(&format!("sent no (complete) reply within {:?}", self.timeout));
                let d = format!("{d}\n      partial reply: {}", escape(&out));
                self.dead = Some(d.clone());
                return Err(d);
            }
        }

        // Update the connection state from what happened.
        let st = &mut self.state;
        if was_skip_next {
            st.skip_next = false;
        }
        let ok = !out.is_empty() && out[0] != b'-';
        let got_nothing = out.is_empty();
        if st.in_multi && !multi_passthrough {
            return Ok(out);
        }
        match name.as_slice() {
            b"multi" if ok => st.in_multi = true,
            b"exec" | b"discard" => st.in_multi = false,
            b"reset" if ok => *st = ConnState::default(),
            b"client" if client_reply && argc == 3 => match arg2.as_slice() {
                b"off" if got_nothing => st.reply_off = true,
                b"skip" if got_nothing => st.skip_next = true,
                b"on" => st.reply_off = false,
                _ => {}
            },
            _ if is_sub_family && !first_is_error => {
                let set = match name.as_slice() {
                    b"subscribe" | b"unsubscribe" => &mut st.channels,
                    b"psubscribe" | b"punsubscribe" => &mut st.patterns,
                    _ => &mut st.shard_channels,
                };
                if name.starts_with(b"un") || name.starts_with(b"pun") || name.starts_with(b"sun") {
                    if argc == 1 {
                        set.clear();
                    } else {
                        for a in &argv[1..] {
                            set.remove(a);
                        }
                    }
                } else {
                    for a in &argv[1..] {
                        set.insert(a.clone());
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }
}

/// One difference found in a script.
struct Mismatch {
    line: usize,
    text: String,
    detail: String,
}

fn fail(mism: &mut Vec<Mismatch>, line: usize, text: &str, detail: String) {
    mism.push(Mismatch { line, text: text.to_string(), detail });
}

/// How a script line's replies are checked.
enum Mode {
    /// Compared; a difference fails the script.
    Compare,
    /// `!`: executed, not compared.
    Ignore,
    /// `?`: a known mismatch, listed for the record; reported (without failing) as a note,
    /// and as "now matches" once fixed so that the marker gets removed.
    Known,
}

/// Result of one script: lines executed, mismatches, notes (known mismatches).
struct ScriptResult {
    lines: usize,
    mism: Vec<Mismatch>,
    notes: Vec<String>,
}

/// Runs one script on a fresh pair of servers.
fn run_script(path: &Path) -> ScriptResult {
    let redis = Side::new("redis", Server::start_redis(&[]));
    let fluidb = Side::new("fluidb", Server::start(&["--enable-debug-command", "yes"]));
    run_script_on(path, redis, fluidb)
}

/// Runs one script on the given reference (`redis`) and tested (`fluidb`) sides.
fn run_script_on(path: &Path, mut redis: Side, mut fluidb: Side) -> ScriptResult {
    let script = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut mism = Vec::new();
    let mut notes = Vec::new();
    let mut executed = 0;

    for side in [&mut redis, &mut fluidb] {
        if let Err(e) = side.control(&[b"FLUSHALL"]) {
            fail(&mut mism, 0, "(initial FLUSHALL)", e);
            return ScriptResult { lines: 0, mism, notes };
        }
    }

    for (idx, raw_line) in script.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        executed += 1;
        if let Some(directive) = line.strip_prefix('@') {
            let parts: Vec<&str> = directive.split_whitespace().collect();
            match parts.first().copied().unwrap_or("") {
                "resp3" | "resp2" => {
                    let v: &[u8] = if parts[0] == "resp3" { b"3" } else { b"2" };
                    for side in [&mut redis, &mut fluidb] {
                        if let Err(e) = side.run(&[b"HELLO".to_vec(), v.to_vec()]) {
                            fail(&mut mism, lineno, line, e);
                        }
                    }
                }
                "flushall" => {
                    for side in [&mut redis, &mut fluidb] {
                        if let Err(e) = side.control(&[b"FLUSHALL"]) {
                            fail(&mut mism, lineno, line, e);
                        }
                    }
                }
                "digest" => {
                    let a = redis.control(&[b"DEBUG", b"DIGEST"]);
                    let b = fluidb.control(&[b"DEBUG", b"DIGEST"]);
                    match (a, b) {
                        (Ok(a), Ok(b)) => {
                            let skip = a.first() == Some(&b'-') || b.first() == Some(&b'-');
                            if !skip && a != b {
                                fail(
                                    &mut mism,
                                    lineno,
                                    line,
                                    format!(
                                        "DEBUG DIGEST differs\n    redis:  {}\n    fluidb: {}",
                                        escape(&a),
                                        escape(&b)
                                    ),
                                );
                            }
                        }
                        (Err(e), _) | (_, Err(e)) => fail(&mut mism, lineno, line, e),
                    }
                }
                "sleep" => {
                    let ms: u64 = parts
                        .get(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| panic!("{}:{lineno}: @sleep needs milliseconds", path.display()));
                    std::thread::sleep(Duration::from_millis(ms));
                }
                other => panic!("{}:{lineno}: unknown directive @{other}", path.display()),
            }
        } else {
            let (mode, cmd) = if let Some(rest) = line.strip_prefix('!') {
                (Mode::Ignore, rest.trim_start())
            } else if let Some(rest) = line.strip_prefix('?') {
                (Mode::Known, rest.trim_start())
            } else {
                (Mode::Compare, line)
            };
            let argv = split_line(cmd);
            if argv.is_empty() {
                continue;
            }
            let a = redis.run(&argv);
            let b = fluidb.run(&argv);
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    let diff = format!("\n    redis:  {}\n    fluidb: {}", escape(&a), escape(&b));
                    match mode {
                        Mode::Compare if a != b => fail(&mut mism, lineno, line, diff),
                        Mode::Known if a != b => notes.push(format!("known mismatch at line {lineno}: {line}{diff}")),
                        Mode::Known => {
                            notes.push(format!("line {lineno} now matches redis: remove its '?' marker: {line}"))
                        }
                        _ => {}
                    }
                }
                (Err(e), _) | (_, Err(e)) => fail(&mut mism, lineno, line, e),
            }
        }
        if redis.dead.is_some() || fluidb.dead.is_some() {
            let which = if redis.dead.is_some() { "redis" } else { "fluidb" };
            fail(&mut mism, lineno, line, format!("script aborted: {which} is not answering"));
            break;
        }
    }
    ScriptResult { lines: executed, mism, notes }
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff");
    let filter: Option<Vec<String>> = std::env::var("FLUIDB_DIFF")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| {
            let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            filter.as_ref().is_none_or(|f| f.contains(&stem))
        })
        .collect();
    v.sort();
    v
}

/// Runs every script (in parallel, each against its own pair of servers) and fails with the
/// complete list of mismatches.
#[test]
fn differential_scripts() {
    if std::process::Command::new("redis-server").arg("--version").output().is_err() {
        panic!("redis-server (7.0) is not installed: run scripts/test-all.sh, which installs it");
    }
    let files = scripts();
    assert!(!files.is_empty(), "no differential scripts found (filter FLUIDB_DIFF={:?})", std::env::var("FLUIDB_DIFF"));
    let jobs = std::env::var("FLUIDB_DIFF_JOBS").ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(3).max(1);
    let queue = Arc::new(Mutex::new(files.clone()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..jobs.min(files.len()))
        .map(|_| {
            let queue = queue.clone();
            let results = results.clone();
            std::thread::spawn(move || loop {
                let Some(path) = queue.lock().unwrap().pop() else { break };
                let t = Instant::now();
                let r = std::panic::catch_unwind(|| run_script(&path));
                let name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                results.lock().unwrap().push((name, t.elapsed(), r.map_err(|e| panic_text(&e))));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("runner thread");
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let mut report = String::new();
    let mut failed = 0;
    for (name, took, r) in &results {
        match r {
            Ok(ScriptResult { lines, mism, notes }) => {
                eprintln!(
                    "diff {name}: {lines} lines, {} mismatches, {} notes ({:.1}s)",
                    mism.len(),
                    notes.len(),
                    took.as_secs_f64()
                );
                for n in notes {
                    eprintln!("  note {name}: {n}");
                }
                if !mism.is_empty() {
                    failed += 1;
                    report.push_str(&format!("\n=== {name}: {} mismatch(es)\n", mism.len()));
                    for m in mism {
                        report.push_str(&format!("{name}:{}: {}{}\n", m.line, m.text, indent(&m.detail)));
                    }
                }
            }
            Err(p) => {
                failed += 1;
                eprintln!("diff {name}: runner panicked");
                report.push_str(&format!("\n=== {name}: runner panicked: {p}\n"));
            }
        }
    }
    if failed > 0 {
        panic!("{failed} of {} differential script(s) differ from redis-server 7.0:\n{report}", results.len());
    }
}

fn indent(s: &str) -> String {
    if s.starts_with('\n') {
        s.to_string()
    } else {
        format!("\n    {s}")
    }
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "unknown panic".into()
    }
}

/// The runner's own reply reader and bookkeeping, checked against a live redis-server.
#[test]
fn runner_handles_multi_reply_and_no_reply_commands() {
    let mut side = Side::new("redis", Server::start_redis(&[]));
    let v = |s: &str| split_line(s);
    // Two replies for SUBSCRIBE a b; then a RESP2 subscriber's PING; UNSUBSCRIBE (all).
    let r = side.run(&v("SUBSCRIBE a b")).unwrap();
    assert_eq!(r.iter().filter(|&&c| c == b'*').count(), 2, "{}", escape(&r));
    let r = side.run(&v("PING")).unwrap();
    assert!(r.starts_with(b"*2\r\n$4\r\npong"), "{}", escape(&r));
    let r = side.run(&v("UNSUBSCRIBE")).unwrap();
    assert_eq!(r.iter().filter(|&&c| c == b'*').count(), 2, "{}", escape(&r));
    assert!(side.state.channels.is_empty());
    // No reply while CLIENT REPLY is OFF, one reply for SKIP's next-but-one command.
    assert_eq!(side.run(&v("CLIENT REPLY OFF")).unwrap(), b"");
    assert_eq!(side.run(&v("SET k v")).unwrap(), b"");
    assert_eq!(side.run(&v("CLIENT REPLY ON")).unwrap(), b"+OK\r\n");
    assert_eq!(side.run(&v("CLIENT REPLY SKIP")).unwrap(), b"");
    assert_eq!(side.run(&v("GET k")).unwrap(), b"");
    assert_eq!(side.run(&v("GET k")).unwrap(), b"$1\r\nv\r\n");
    // MULTI queues; QUIT closes and the next command runs on a new connection.
    assert_eq!(side.run(&v("MULTI")).unwrap(), b"+OK\r\n");
    assert_eq!(side.run(&v("SUBSCRIBE x y")).unwrap(), b"+QUEUED\r\n");
    assert_eq!(side.run(&v("DISCARD")).unwrap(), b"+OK\r\n");
    assert_eq!(side.run(&v("SELECT 3")).unwrap(), b"+OK\r\n");
    assert_eq!(side.run(&v("QUIT")).unwrap(), b"+OK\r\n<closed>");
    assert_eq!(side.run(&v("GET k")).unwrap(), b"$1\r\nv\r\n", "fresh connection is back on db 0");
    // RESP3: a push delivered to the publisher itself comes with the reply.
    side.run(&v("HELLO 3")).unwrap();
    side.run(&v("SUBSCRIBE ch")).unwrap();
    let r = side.run(&v("PUBLISH ch hi")).unwrap();
    assert_eq!(r, b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1\r\n", "{}", escape(&r));
}

#[test]
fn runner_reports_a_dead_server() {
    let mut side = Side::new("fluidb", Server::start(&[]));
    side.server.child.kill().unwrap();
    side.server.child.wait().unwrap();
    let e = side.run(&split_line("PING")).unwrap_err();
    assert!(e.contains("fluidb") && (e.contains("exited") || e.contains("refused")), "{e}");
}

/// The runner finds and reports differences (two redis-servers configured differently).
#[test]
fn runner_reports_every_mismatch_with_line_and_replies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("selftest.txt");
    std::fs::write(
        &path,
        "# comment\nPING\nSELECT 5\n!SELECT 6\n?SELECT 7\nSET k \"a b\"\nGET k\nSELECT 3\n@digest\n?PING\n",
    )
    .unwrap();
    let a = Side::new("redis", Server::start_redis(&[]));
    let b = Side::new("fluidb", Server::start_redis(&["--databases", "4"]));
    let r = run_script_on(&path, a, b);
    assert_eq!(r.lines, 9);
    let lines: Vec<usize> = r.mism.iter().map(|m| m.line).collect();
    assert_eq!(lines, vec![3, 9], "mismatches: {:?}", r.mism.iter().map(|m| &m.detail).collect::<Vec<_>>());
    assert!(r.mism[0].detail.contains("redis:  \"+OK\\r\\n\""), "{}", r.mism[0].detail);
    assert!(r.mism[0].detail.contains("fluidb: \"-ERR DB index is out of range\\r\\n\""), "{}", r.mism[0].detail);
    assert!(r.mism[1].detail.contains("DEBUG DIGEST differs"), "{}", r.mism[1].detail);
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(r.notes[0].contains("known mismatch at line 5"), "{:?}", r.notes);
    assert!(r.notes[1].contains("line 10 now matches"), "{:?}", r.notes);
}

#[test]
fn runner_reports_a_server_that_stops_answering() {
    let mut side = Side::new("redis", Server::start_redis(&[]));
    side.timeout = Duration::from_millis(500);
    let t = Instant::now();
    let e = side.run(&split_line("DEBUG SLEEP 3")).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    assert!(e.contains("sent no (complete) reply within 500ms"), "{e}");
    // The side is marked dead: the script is aborted instead of reading stale replies.
    assert!(side.run(&split_line("PING")).is_err());
}
