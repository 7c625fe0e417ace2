//! What KeyDB 6.3 really puts on an active-replica link, observed (issue #13; the findings are
//! written up in `docs/keydb-wire.md`).
//!
//! The facts fluidB's side must match are asserted by the ordinary tests here (they skip where
//! `keydb-server` cannot run): KeyDB's replies to REPLCONF and RREPLAY, and how its replica
//! side treats RREPLAY frames from a master, good and bad (a fake master in this file sends
//! them). The ignored test `capture_active_pair` prints a full capture of two KeyDB nodes
//! replicating each other through capturing proxies, to repeat the observation:
//!
//! ```text
//! cargo test --release --test keydb_wire -- --ignored --nocapture capture_active_pair
//! ```
//! (`KEYDB_WIRE_IDLE=<seconds>` sets how long the idle link is watched for pings, 25 s by
//! default; `KEYDB_SERVER` runs another binary.)

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::proxy::{Chunk, Direction, Proxy};
use common::*;

const DEADLINE: Duration = Duration::from_secs(15);

/// A KeyDB node in active-replica mode, or `None` (the test then returns: skipped).
fn active_keydb(extra: &[&str]) -> Option<Server> {
    let mut a = vec!["--active-replica", "yes"];
    a.extend_from_slice(extra);
    Server::start_keydb(&a)
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            }
        })
}

fn info_field(r: &mut Raw, section: &str, field: &str) -> Option<String> {
    let all = r.call(&["INFO", section]);
    all.lines().find_map(|l| l.strip_prefix(field).and_then(|v| v.strip_prefix(':'))).map(str::to_string)
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

// ------------------------------------------------------------------ replies to a client

#[test]
fn replconf_uuid_and_capa_replies() {
    let Some(k) = active_keydb(&[]) else { return };
    let mut c = k.raw();
    // A well-formed UUID is answered with KeyDB's own UUID as a status line.
    let rep = c.call(&["REPLCONF", "uuid", "0123abcd-4567-89ab-cdef-0123456789ab"]);
    let own = rep.strip_prefix('+').and_then(|s| s.strip_suffix("\r\n")).expect("a status reply");
    assert!(is_uuid(own), "{rep:?}");
    for bad in ["not-a-uuid", "0123abcd-4567-89ab-cdef-0123456789abc", "0123abcd4567-89ab-cdef-0123456789ab-", ""] {
        assert_eq!(c.call(&["REPLCONF", "uuid", bad]), "-ERR Invalid UUID\r\n", "{bad:?}");
    }
    // Upper case hex parses (libuuid) although KeyDB itself only ever sends lower case.
    assert_eq!(c.call(&["REPLCONF", "uuid", "0123ABCD-4567-89AB-CDEF-0123456789AB"]), format!("+{own}\r\n"));
    // The capa line reveals active mode.
    assert_eq!(
        c.call(&["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "activeExpire"]),
        "+OK active-replica\r\n"
    );
    assert_eq!(c.call(&["REPLCONF", "listening-port", "1234"]), "+OK\r\n");

    // A plain (not active) KeyDB answers capa with a bare +OK, and uuid all the same.
    let Some(plain) = Server::start_keydb(&[]) else { return };
    let mut p = plain.raw();
    assert_eq!(p.call(&["REPLCONF", "capa", "eof", "capa", "psync2"]), "+OK\r\n");
    assert!(p.call(&["REPLCONF", "uuid", "0123abcd-4567-89ab-cdef-0123456789ab"]).starts_with('+'));
}

#[test]
fn rreplay_from_a_client_is_refused() {
    let Some(k) = active_keydb(&[]) else { return };
    let mut c = k.raw();
    let set = encode(&[b"SET", b"k", b"v"]);
    let uuid = b"0123abcd-4567-89ab-cdef-0123456789ab";
    let refused = "-ERR Command must be sent from a master\r\n";
    // The master check comes before any argument check.
    for args in [
        vec![&b"RREPLAY"[..], uuid, &set, b"0", b"100"],
        vec![&b"RREPLAY"[..], b"bad", &set, b"99", b"x"],
        vec![&b"RREPLAY"[..], uuid, &set],
    ] {
        c.cmd(&args);
        assert_eq!(String::from_utf8_lossy(&c.read_reply()), refused);
    }
    // Arity is checked before that.
    assert!(c.call(&["RREPLAY", "x"]).starts_with("-ERR wrong number of arguments"));
    assert_eq!(c.call(&["EXISTS", "k"]), ":0\r\n");
}

// ----------------------------------------------------------- a fake master sending RREPLAY

/// The UUID the fake master announces, and the origin of the frames it sends.
const MASTER_UUID: &str = "11111111-2222-3333-4444-555555555555";
const ORIGIN: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

/// An empty RDB 9 with a zero checksum (which means "not computed").
fn empty_rdb() -> Vec<u8> {
    let mut v = b"REDIS0009".to_vec();
    v.push(0xff);
    v.extend_from_slice(&[0; 8]);
    v
}

/// A KeyDB node linked, as an active replica, to a fake master played by this test: returns
/// the node, the master side of the link, the node's UUID and the handshake it sent.
fn keydb_following_fake_master() -> Option<(Server, Raw, String, Vec<Vec<String>>)> {
    let k = active_keydb(&["--loglevel", "verbose"])?;
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let mut c = k.raw();
    ok(&mut c, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    let (s, _) = l.accept().expect("the replica connects");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut m = Raw { r: std::io::BufReader::new(s.try_clone().expect("clone")), w: s };
    let mut handshake = Vec::new();
    let mut uuid = String::new();
    loop {
        let cmd = flat(&String::from_utf8_lossy(&m.read_reply()));
        handshake.push(cmd.clone());
        let name = cmd[0].to_ascii_uppercase();
        match (name.as_str(), cmd.get(1).map(|s| s.to_ascii_lowercase())) {
            // KeyDB 6.3.2+ opens with REPLPING (a PING refused while loading) and falls back to
            // PING on an unknown-command error: reply as Redis 7 (and fluidB today) would.
            ("REPLPING", _) => m.send(b"-ERR unknown command 'REPLPING', with args beginning with: \r\n"),
            ("PING", _) => m.send(b"+PONG\r\n"),
            ("REPLCONF", Some(sub)) if sub == "uuid" => {
                uuid = cmd[2].clone();
                m.send(format!("+{MASTER_UUID}\r\n").as_bytes());
            }
            ("REPLCONF", Some(sub)) if sub == "capa" => m.send(b"+OK active-replica\r\n"),
            ("REPLCONF", _) => m.send(b"+OK\r\n"),
            ("PSYNC", _) => {
                let rdb = empty_rdb();
                let mut out = format!("+FULLRESYNC {} 0\r\n${}\r\n", "f".repeat(40), rdb.len()).into_bytes();
                out.extend_from_slice(&rdb);
                m.send(&out);
                break;
            }
            _ => panic!("unexpected handshake command {cmd:?}"),
        }
    }
    wait_for("the KeyDB replica to load the fake master's snapshot", DEADLINE, || {
        info_field(&mut c, "replication", "master_link_status").as_deref() == Some("up")
    });
    Some((k, m, uuid, handshake))
}

/// A fake replica attached to a KeyDB node: handshake and full sync done, positioned at the
/// start of the command stream.
fn fake_replica(k: &Server) -> Raw {
    let mut r = k.raw();
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    assert_eq!(r.call(&["REPLCONF", "listening-port", "1"]), "+OK\r\n");
    assert_eq!(
        r.call(&["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "activeExpire"]),
        "+OK active-replica\r\n"
    );
    assert!(r.call(&["REPLCONF", "uuid", "cccccccc-bbbb-cccc-dddd-eeeeeeeeeeee"]).starts_with('+'));
    r.cmd(&[b"PSYNC", b"?", b"-1"]);
    let full = String::from_utf8_lossy(&r.read_reply()).into_owned();
    assert!(full.starts_with("+FULLRESYNC"), "{full:?}");
    // Then "$<len>\r\n" and the snapshot, possibly after "\n" keep-alives.
    let mut line = Vec::new();
    loop {
        line.clear();
        std::io::BufRead::read_until(&mut r.r, b'\n', &mut line).expect("snapshot header");
        if line != b"\n" {
            break;
        }
    }
    let len: usize = String::from_utf8_lossy(&line[1..line.len() - 2]).parse().expect("snapshot length");
    let mut rdb = vec![0u8; len];
    std::io::Read::read_exact(&mut r.r, &mut rdb).expect("snapshot");
    assert!(rdb.starts_with(b"REDIS0009"));
    // KeyDB starts streaming to a replica at an ACK received once the snapshot is fully sent
    // (an earlier one is ignored); real replicas ACK every second. Write a probe key and ACK
    // until its frame arrives, then skip the probes' frames.
    let mut c = k.raw();
    r.w.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut probes = 0;
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "KeyDB never streamed to the fake replica");
        r.cmd(&[b"REPLCONF", b"ACK", b"0"]);
        probes += 1;
        ok(&mut c, &["SET", &format!("online-probe-{probes}"), "1"]);
        if std::io::BufRead::fill_buf(&mut r.r).is_ok_and(|b| !b.is_empty()) {
            break;
        }
    }
    r.w.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let last = format!("online-probe-{probes}");
    while !args_of(&r.read_reply()).iter().any(|a| a.windows(last.len()).any(|w| w == last.as_bytes())) {}
    r
}

/// The arguments of one RESP multibulk (empty if the bytes are something else).
fn args_of(b: &[u8]) -> Vec<Vec<u8>> {
    match split_stream(b).into_iter().next() {
        Some(Item::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// One RREPLAY frame with arbitrary arguments after the command name.
fn rreplay(args: &[&[u8]]) -> Vec<u8> {
    let mut a: Vec<&[u8]> = vec![b"RREPLAY"];
    a.extend_from_slice(args);
    encode(&a)
}

fn wait_log(k: &Server, needle: &str) {
    wait_for(&format!("{needle:?} in the KeyDB log"), DEADLINE, || k.log().contains(needle));
}

#[test]
fn keydb_replica_handshake_and_rreplay_rules() {
    let Some((k, mut m, uuid, handshake)) = keydb_following_fake_master() else { return };
    assert!(is_uuid(&uuid), "{uuid:?}");
    let names: Vec<String> = handshake.iter().map(|c| c[..c.len().min(2)].join(" ")).collect();
    let names: Vec<String> =
        names.into_iter().map(|n| if n.starts_with("PSYNC") { "PSYNC".into() } else { n }).collect();
    assert_eq!(
        names,
        ["REPLPING", "PING", "REPLCONF listening-port", "REPLCONF capa", "REPLCONF uuid", "PSYNC"]
            .map(|s| s.to_string()),
        "{handshake:?}"
    );
    assert_eq!(handshake[3], ["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "activeExpire"]);
    // A node that was a master offers its own history, as Redis does: PSYNC <its replid>
    // <its offset + 1>.
    let psync = &handshake[5];
    assert_eq!(psync[1].len(), 40, "{psync:?}");
    assert_eq!(psync[2], "1", "{psync:?}");
    wait_log(&k, "Master does not support REPLPING, sending PING instead...");
    let mut c = k.raw();
    let set = |k: &str, v: &str| encode(&[b"SET", k.as_bytes(), v.as_bytes()]);
    let o = ORIGIN.as_bytes();
    // A replica of the KeyDB node, to see what it forwards of the frames it applies.
    let mut rep = fake_replica(&k);

    // A good frame is applied in the database it names.
    m.send(&rreplay(&[o, &set("a", "1"), b"0", b"100"]));
    m.send(&rreplay(&[o, &set("a2", "1"), b"2", b"101"]));
    wait_for("frame applied", DEADLINE, || c.call(&["GET", "a"]) == "$1\r\n1\r\n");
    assert_eq!(c.call(&["EXISTS", "a2"]), ":0\r\n");
    assert_eq!(c.call(&["SELECT", "2"]), "+OK\r\n");
    wait_for("frame applied in db 2", DEADLINE, || c.call(&["GET", "a2"]) == "$1\r\n1\r\n");
    assert_eq!(c.call(&["SELECT", "0"]), "+OK\r\n");

    // A frame whose mvcc is not above the last one applied from its origin is dropped silently.
    m.send(&rreplay(&[o, &set("stale", "1"), b"0", b"101"]));
    m.send(&rreplay(&[o, &set("stale2", "1"), b"0", b"50"]));
    // mvcc 0 skips the check; trailing arguments are ignored.
    m.send(&rreplay(&[o, &set("zero", "1"), b"0", b"0"]));
    m.send(&rreplay(&[o, &set("extra", "1"), b"0", b"102", b"junk", b"more"]));
    wait_for("trailing arguments ignored", DEADLINE, || c.call(&["GET", "extra"]) == "$1\r\n1\r\n");
    assert_eq!(c.call(&["GET", "zero"]), "$1\r\n1\r\n");
    assert_eq!(c.call(&["EXISTS", "stale", "stale2"]), ":0\r\n");

    // db and mvcc may be left out (db: the link's current database).
    m.send(&rreplay(&[o, &set("nodb", "1")]));
    wait_for("frame without db/mvcc applied", DEADLINE, || c.call(&["GET", "nodb"]) == "$1\r\n1\r\n");

    // A frame carrying KeyDB's own UUID is ignored.
    m.send(&rreplay(&[uuid.as_bytes(), &set("own", "1"), b"0", b"200"]));

    // What KeyDB forwarded to its replica: every applied frame, whole (trailing arguments
    // included), wrapped in a new RREPLAY with its own UUID, the frame's db and its own mvcc;
    // the dropped frames (stale, own UUID) are not forwarded.
    m.send(&rreplay(&[o, &set("fwd-end", "1"), b"0", b"201"]));
    let mut forwarded = Vec::new();
    loop {
        let outer = args_of(&rep.read_reply());
        assert_eq!(outer[0], b"RREPLAY", "{outer:?}");
        assert_eq!(outer[1], uuid.as_bytes(), "forwarded under KeyDB's own UUID: {outer:?}");
        let inner = args_of(&outer[2]);
        if inner[0].eq_ignore_ascii_case(b"ping") {
            continue; // KeyDB's own keep-alive
        }
        let key = String::from_utf8_lossy(&args_of(&inner[2])[1]).into_owned();
        let done = key == "fwd-end";
        let rest: Vec<String> = inner[..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        forwarded.push((key, rest, String::from_utf8_lossy(&outer[3]).into_owned()));
        if done {
            break;
        }
    }
    let keys: Vec<&str> = forwarded.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "a2", "zero", "extra", "nodb", "fwd-end"], "{forwarded:?}");
    let extra = &forwarded[3].1;
    assert_eq!(extra[0], "RREPLAY");
    assert_eq!(extra[1], ORIGIN);
    assert_eq!(extra[3..], ["0", "102", "junk", "more"], "the nested frame keeps every argument: {extra:?}");
    assert_eq!(forwarded[1].2, "2", "the outer db is the frame's db");

    // Bad arguments. A reply to a master is never sent: KeyDB logs the error instead. Each
    // probe is followed by a good marker frame, so that once the marker is applied the probe
    // has been handled: (what was sent, the error logged or "", whether the write was applied).
    let mut marker = 1000u64;
    let mut probe = |m: &mut Raw, c: &mut Raw, uuid: &[u8], db: &[u8], mvcc: &[u8]| -> (String, bool) {
        let log0 = k.log().len();
        m.send(&rreplay(&[uuid, &set("probe", "1"), db, mvcc]));
        marker += 1;
        let mk = format!("marker{marker}");
        m.send(&rreplay(&[o, &set(&mk, "1"), b"0", marker.to_string().as_bytes()]));
        wait_for("the marker frame", DEADLINE, || c.call(&["EXISTS", &mk]) == ":1\r\n");
        let log = k.log();
        let err = log[log0..]
            .lines()
            .find_map(|l| l.split("sending an error to its master: '").nth(1))
            .map(|rest| rest.split('\'').next().unwrap_or("").to_string())
            .unwrap_or_default();
        let applied = c.call(&["DEL", "probe"]) == ":1\r\n";
        (err, applied)
    };
    let bad_uuid: &[(&[u8], &str)] = &[
        (b"not-a-uuid", "Expected UUID arg1"),
        (b"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeeee", "Expected UUID arg1"),
        (b"aaaaaaaabbbbccccddddeeeeeeeeeeeeeeee", "Expected UUID arg1"),
    ];
    for (u, want) in bad_uuid {
        assert_eq!(
            probe(&mut m, &mut c, u, b"0", b"0"),
            (want.to_string(), false),
            "uuid {:?}",
            String::from_utf8_lossy(u)
        );
    }
    // Upper-case hex is accepted (libuuid parses it).
    assert_eq!(probe(&mut m, &mut c, b"AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", b"0", b"0"), (String::new(), true));
    for db in [&b"x"[..], b"16", b"-1", b"1.0", b""] {
        assert_eq!(
            probe(&mut m, &mut c, o, db, b"0"),
            ("Invalid database ID".to_string(), false),
            "db {:?}",
            String::from_utf8_lossy(db)
        );
    }
    for mvcc in [&b"x"[..], b""] {
        assert_eq!(
            probe(&mut m, &mut c, o, b"0", mvcc),
            ("Invalid MVCC Timestamp".to_string(), false),
            "mvcc {:?}",
            String::from_utf8_lossy(mvcc)
        );
    }
    // The mvcc parse is strtoull's: any numeric prefix is taken, a minus sign wraps, an overflow
    // saturates, and only "no digits at all" is an error. Each case gets its own origin: the
    // value parsed is then shown by whether a later frame with mvcc 5 passes.
    for (i, (mvcc, later_passes)) in
        [(&b"1.5"[..], true), (b"3abc", true), (b"-1", false), (b"99999999999999999999999", false), (b" 4", true)]
            .into_iter()
            .enumerate()
    {
        let origin = format!("9999999{i}-bbbb-cccc-dddd-eeeeeeeeeeee");
        let what = String::from_utf8_lossy(mvcc);
        assert_eq!(probe(&mut m, &mut c, origin.as_bytes(), b"0", mvcc), (String::new(), true), "mvcc {what:?}");
        assert_eq!(
            probe(&mut m, &mut c, origin.as_bytes(), b"0", b"5"),
            (String::new(), later_passes),
            "mvcc 5 after {what:?} from the same origin"
        );
    }
    // The link survives all of that.
    assert_eq!(c.call(&["EXISTS", "own"]), ":0\r\n");
    assert_eq!(info_field(&mut c, "replication", "master_link_status").as_deref(), Some("up"));

    // Several commands in one payload are all executed (mvcc above the markers' from here on).
    let two = [set("p1", "1"), set("p2", "1")].concat();
    m.send(&rreplay(&[o, &two, b"0", b"10500"]));
    wait_for("both commands of one payload applied", DEADLINE, || c.call(&["EXISTS", "p1", "p2"]) == ":2\r\n");

    // A MULTI/EXEC travels as separate frames; EXEC applies the queued ones.
    m.send(&rreplay(&[o, &encode(&[b"MULTI"]), b"0", b"10600"]));
    m.send(&rreplay(&[o, &encode(&[b"INCR", b"n"]), b"0", b"10601"]));
    m.send(&rreplay(&[o, &encode(&[b"INCR", b"n"]), b"0", b"10602"]));
    m.send(&rreplay(&[o, &encode(&[b"EXEC"]), b"0", b"10603"]));
    wait_for("MULTI/EXEC in frames", DEADLINE, || c.call(&["GET", "n"]) == "$1\r\n2\r\n");

    // A payload that is not a command: an error, and KeyDB closes the master link.
    m.send(&rreplay(&[o, b"*1\r\n$3\r\nfoo", b"0", b"10700"]));
    wait_log(&k, "Command didn't execute");
    let _ = m.w.flush();
    assert!(m.is_closed(), "KeyDB closes a master link that sent an unparsable payload");
}

#[test]
fn keydb_master_side_handshake_replies() {
    let Some(k) = active_keydb(&[]) else { return };
    let mut r = k.raw();
    assert_eq!(r.call(&["PING"]), "+PONG\r\n");
    assert_eq!(r.call(&["REPLCONF", "listening-port", "6380"]), "+OK\r\n");
    assert_eq!(
        r.call(&["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "activeExpire"]),
        "+OK active-replica\r\n"
    );
    let own = r.call(&["REPLCONF", "uuid", ORIGIN]);
    assert!(own.starts_with('+') && is_uuid(&own[1..own.len() - 2]), "{own:?}");
    r.cmd(&[b"PSYNC", b"?", b"-1"]);
    let line = String::from_utf8_lossy(&r.read_reply()).into_owned();
    let parts: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(parts[0], "+FULLRESYNC", "{line:?}");
    assert_eq!(parts[1].len(), 40, "{line:?}");
    assert!(parts[2].parse::<u64>().is_ok(), "{line:?}");
}

// ------------------------------------------------------------------- the full capture

/// Prints bytes the way redis-cli quotes them.
fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// A piece of a replication stream.
#[derive(Debug)]
enum Item {
    Line(Vec<u8>),
    Bulk(Vec<u8>),
    Array(Vec<Vec<u8>>),
    /// A snapshot after +FULLRESYNC: `$<len>\r\n` and the bytes (or an EOF-marked one).
    Rdb(Vec<u8>),
    /// A bare newline (a master's keep-alive while it prepares a snapshot).
    Newline,
    /// Bytes that do not form a complete item (yet).
    Partial(Vec<u8>),
}

/// Splits a stream into items, taking the bulk after +FULLRESYNC as a snapshot.
fn split_stream(b: &[u8]) -> Vec<Item> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut rdb_next = false;
    let line_end = |from: usize| b[from..].windows(2).position(|w| w == b"\r\n").map(|p| from + p);
    while i < b.len() {
        let start = i;
        let Some(e) = (if b[i] == b'\n' { Some(i) } else { line_end(i) }) else {
            out.push(Item::Partial(b[i..].to_vec()));
            break;
        };
        if b[i] == b'\n' {
            out.push(Item::Newline);
            i += 1;
            continue;
        }
        let line = &b[i..e];
        i = e + 2;
        match line.first() {
            Some(b'+') | Some(b'-') | Some(b':') => {
                if line.starts_with(b"+FULLRESYNC") {
                    rdb_next = true;
                }
                out.push(Item::Line(line.to_vec()));
            }
            Some(b'$') if rdb_next && line.starts_with(b"$EOF:") => {
                let mark = &line[5..];
                match b[i..].windows(mark.len()).position(|w| w == mark) {
                    Some(p) => {
                        out.push(Item::Rdb(b[i..i + p].to_vec()));
                        i += p + mark.len();
                        rdb_next = false;
                    }
                    None => {
                        out.push(Item::Partial(b[start..].to_vec()));
                        break;
                    }
                }
            }
            Some(b'$') => {
                let n: usize = String::from_utf8_lossy(&line[1..]).parse().unwrap_or(0);
                let tail = if rdb_next { 0 } else { 2 };
                if b.len() < i + n + tail {
                    out.push(Item::Partial(b[start..].to_vec()));
                    break;
                }
                let body = b[i..i + n].to_vec();
                i += n + tail;
                if rdb_next {
                    rdb_next = false;
                    out.push(Item::Rdb(body));
                } else {
                    out.push(Item::Bulk(body));
                }
            }
            Some(b'*') => {
                let n: usize = String::from_utf8_lossy(&line[1..]).parse().unwrap_or(0);
                let mut args = Vec::new();
                for _ in 0..n {
                    let Some(e) = line_end(i) else { break };
                    let len: usize = String::from_utf8_lossy(&b[i + 1..e]).parse().unwrap_or(0);
                    if b.len() < e + 2 + len + 2 {
                        break;
                    }
                    args.push(b[e + 2..e + 2 + len].to_vec());
                    i = e + 2 + len + 2;
                }
                if args.len() < n {
                    out.push(Item::Partial(b[start..].to_vec()));
                    break;
                }
                out.push(Item::Array(args));
            }
            _ => out.push(Item::Line(line.to_vec())),
        }
    }
    out
}

/// `mvcc` as `<unix ms>.<counter>` (it is `(ms << 20) | counter`), for reading the capture.
fn mvcc_parts(s: &[u8]) -> String {
    match String::from_utf8_lossy(s).parse::<u64>() {
        Ok(v) => format!("ms={} ctr={}", v >> 20, v & 0xfffff),
        Err(_) => "not a number".into(),
    }
}

/// Renders an item, decoding RREPLAY payloads (recursively: echoes nest them).
fn render(item: &Item, indent: &str) -> String {
    match item {
        Item::Line(l) => format!("{indent}{}\n", esc(l)),
        Item::Bulk(b) => format!("{indent}bulk \"{}\"\n", esc(b)),
        Item::Newline => format!("{indent}(newline)\n"),
        Item::Partial(p) => format!("{indent}(incomplete) \"{}\"\n", esc(p)),
        Item::Rdb(r) => format!("{indent}RDB payload, {} bytes:\n{}", r.len(), dump_rdb(r, &format!("{indent}    "))),
        Item::Array(a) => {
            let mut s =
                format!("{indent}[{}]\n", a.iter().map(|x| format!("\"{}\"", esc(x))).collect::<Vec<_>>().join(" "));
            if a.first().is_some_and(|c| c.eq_ignore_ascii_case(b"RREPLAY")) && a.len() >= 3 {
                let inner = format!("{indent}    ");
                if let Some(m) = a.get(4) {
                    s.push_str(&format!(
                        "{inner}(origin {}, db {}, mvcc {})\n",
                        esc(&a[1]),
                        esc(a.get(3).map_or(&[][..], |v| v)),
                        mvcc_parts(m)
                    ));
                }
                for it in split_stream(&a[2]) {
                    s.push_str(&render(&it, &inner));
                }
            }
            s
        }
    }
}

/// A minimal RDB walker: prints the opcodes (AUX fields, db selection, expiries) and each key
/// with its type, to see where KeyDB puts its AUX fields. It knows the RDB 9 types a test
/// dataset uses and stops at anything else.
fn dump_rdb(b: &[u8], ind: &str) -> String {
    struct R<'a> {
        b: &'a [u8],
        i: usize,
    }
    impl R<'_> {
        fn byte(&mut self) -> Option<u8> {
            let v = *self.b.get(self.i)?;
            self.i += 1;
            Some(v)
        }
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            let s = self.b.get(self.i..self.i + n)?;
            self.i += n;
            Some(s)
        }
        /// Length, or Err(encoding) for a special string encoding.
        fn len(&mut self) -> Option<Result<u64, u8>> {
            let f = self.byte()?;
            Some(match f >> 6 {
                0 => Ok((f & 0x3f) as u64),
                1 => Ok((((f & 0x3f) as u64) << 8) | self.byte()? as u64),
                2 if f == 0x80 => Ok(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as u64),
                2 if f == 0x81 => Ok(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => Err(f & 0x3f),
            })
        }
        fn string(&mut self) -> Option<Vec<u8>> {
            match self.len()? {
                Ok(n) => Some(self.take(n as usize)?.to_vec()),
                Err(0) => Some((self.byte()? as i8).to_string().into_bytes()),
                Err(1) => Some(i16::from_le_bytes(self.take(2)?.try_into().ok()?).to_string().into_bytes()),
                Err(2) => Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?).to_string().into_bytes()),
                Err(3) => {
                    let clen = self.len()?.ok()? as usize;
                    let ulen = self.len()?.ok()? as usize;
                    self.take(clen)?;
                    Some(format!("<lzf {clen}->{ulen} bytes>").into_bytes())
                }
                Err(_) => None,
            }
        }
    }
    let mut r = R { b, i: 0 };
    let mut s = String::new();
    let Some(magic) = r.take(9) else { return format!("{ind}(too short)\n") };
    s.push_str(&format!("{ind}header \"{}\"\n", esc(magic)));
    loop {
        let at = r.i;
        let Some(op) = r.byte() else {
            s.push_str(&format!("{ind}(end of data without EOF opcode)\n"));
            break;
        };
        let line = (|| -> Option<String> {
            Some(match op {
                0xfa => {
                    let k = r.string()?;
                    let v = r.string()?;
                    format!("AUX \"{}\" = \"{}\"", esc(&k), esc(&v))
                }
                0xfe => format!("SELECTDB {}", r.len()?.ok()?),
                0xfb => format!("RESIZEDB {} {}", r.len()?.ok()?, r.len()?.ok()?),
                0xfc => format!("EXPIRETIME_MS {}", u64::from_le_bytes(r.take(8)?.try_into().ok()?)),
                0xfd => format!("EXPIRETIME {}", u32::from_le_bytes(r.take(4)?.try_into().ok()?)),
                0xf8 => format!("IDLE {}", r.len()?.ok()?),
                0xf9 => format!("FREQ {}", r.byte()?),
                0xff => format!("EOF, checksum {}", esc(r.take(8).unwrap_or(&[]))),
                t => {
                    let key = r.string()?;
                    let name = match t {
                        0 => {
                            r.string()?;
                            "string"
                        }
                        1 | 2 => {
                            for _ in 0..r.len()?.ok()? {
                                r.string()?;
                            }
                            if t == 1 {
                                "list"
                            } else {
                                "set"
                            }
                        }
                        4 => {
                            for _ in 0..2 * r.len()?.ok()? {
                                r.string()?;
                            }
                            "hash"
                        }
                        5 => {
                            for _ in 0..r.len()?.ok()? {
                                r.string()?;
                                r.take(8)?;
                            }
                            "zset2"
                        }
                        9..=13 => {
                            r.string()?;
                            ["zipmap", "list-ziplist", "intset", "zset-ziplist", "hash-ziplist"][t as usize - 9]
                        }
                        14 => {
                            for _ in 0..r.len()?.ok()? {
                                r.string()?;
                            }
                            "quicklist"
                        }
                        _ => return None,
                    };
                    format!("KEY type {t} ({name}) \"{}\"", esc(&key))
                }
            })
        })();
        match line {
            Some(l) => s.push_str(&format!("{ind}@{at}: {l}\n")),
            None => {
                s.push_str(&format!("{ind}@{at}: opcode/type {op} not understood here; stopping\n"));
                break;
            }
        }
        if op == 0xff {
            break;
        }
    }
    s
}

/// The bytes of the newest connection in one direction.
fn newest(p: &Proxy, dir: Direction) -> Vec<u8> {
    let t = p.transcript();
    let conn = t.iter().map(|c| c.conn).max().unwrap_or(0);
    p.stream(conn, dir)
}

fn print_items(title: &str, b: &[u8]) {
    println!("  {title}:");
    if b.is_empty() {
        println!("      (nothing)");
    }
    for it in split_stream(b) {
        print!("{}", render(&it, "      "));
    }
}

/// Waits until nothing moves downstream on either link for 300 ms (the frames of an operation
/// and their echo have all passed).
fn settle(ps: &[&Proxy]) {
    let total = || ps.iter().map(|p| p.bytes_down()).sum::<u64>();
    let deadline = Instant::now() + DEADLINE;
    let mut last = total();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(300) {
        assert!(Instant::now() < deadline, "the links never went quiet");
        std::thread::sleep(Duration::from_millis(20));
        let now = total();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

fn print_reply(label: &str, r: &mut Raw, args: &[&str]) {
    let rep = r.call(args);
    println!("--- {label}: {}", args.join(" "));
    for l in rep.split("\r\n") {
        println!("    {}", esc(l.as_bytes()));
    }
}

fn link_up(r: &mut Raw) -> bool {
    info_field(r, "replication", "master_link_status").as_deref() == Some("up")
}

/// An operation of the capture: label, commands, and the key whose stamp to show afterwards as
/// (db, key).
type Op<'a> = (&'a str, Vec<Vec<&'a str>>, Option<(&'a str, &'a str)>);

/// The key's mvcc stamp, read from its DUMP payload (KeyDB appends an `mvcc-tstamp` AUX field
/// to every DUMP payload, before the version and checksum).
fn key_stamp(r: &mut Raw, key: &str) -> String {
    r.cmd(&[b"DUMP", key.as_bytes()]);
    let rep = r.read_reply();
    let needle = b"\x0bmvcc-tstamp";
    match rep.windows(needle.len()).position(|w| w == needle) {
        Some(p) => {
            let len = rep.get(p + needle.len()).map_or(0, |l| (l & 0x3f) as usize);
            let start = p + needle.len() + 1;
            let v = rep.get(start..start + len).unwrap_or(&[]);
            format!("{} ({})", String::from_utf8_lossy(v), mvcc_parts(v))
        }
        None => format!("(none in {:?})", esc(&rep)),
    }
}

/// Runs commands on one node (A or B), waits for the links to go quiet, and prints what each
/// node sent the other meanwhile, and the key's stamp on both nodes.
fn observe(
    pa: &Proxy,
    pb: &Proxy,
    (a, b): (&Server, &Server),
    label: &str,
    cmds: &[Vec<&str>],
    on: &str,
    key: Option<(&str, &str)>,
) {
    settle(&[pa, pb]);
    let marks = [(pa, Direction::Down), (pb, Direction::Down), (pa, Direction::Up), (pb, Direction::Up)]
        .map(|(p, d)| newest(p, d).len());
    let t0 = unix_ms();
    let mut r = if on == "A" { a.raw() } else { b.raw() };
    let replies: Vec<String> = cmds.iter().map(|c| r.call(c)).collect();
    settle(&[pa, pb]);
    println!("\n===== {label} (on {on}, local unix ms before: {t0})");
    for (c, rep) in cmds.iter().zip(&replies) {
        println!("  {on}> {}  ->  {}", c.join(" "), esc(rep.as_bytes()));
    }
    let names = [
        "A -> B (stream on B's link to A)",
        "B -> A (stream on A's link to B)",
        "B -> A (B as replica of A: acks)",
        "A -> B (A as replica of B: acks)",
    ];
    for (i, (p, d)) in
        [(pa, Direction::Down), (pb, Direction::Down), (pa, Direction::Up), (pb, Direction::Up)].into_iter().enumerate()
    {
        let now = newest(p, d);
        print_items(names[i], &now[marks[i].min(now.len())..]);
    }
    if let Some((dbi, k)) = key {
        for (n, s) in [("A", a), ("B", b)] {
            let mut r = s.raw();
            ok(&mut r, &["SELECT", dbi]);
            println!("  stamp of {k:?} on {n}: {}", key_stamp(&mut r, k));
        }
    }
}

#[test]
#[ignore = "an observation tool: prints what two KeyDB active replicas exchange"]
fn capture_active_pair() {
    let Some(a) = active_keydb(&[]) else { return };
    let Some(b) = active_keydb(&[]) else { return };
    let pa = Proxy::start(a.port); // B's link to A goes through pa
    let pb = Proxy::start(b.port); // A's link to B goes through pb
    pa.capture(true);
    pb.capture(true);
    let (mut ca, mut cb) = (a.raw(), b.raw());
    println!("KeyDB: {}", a.cli(&["INFO", "server"]).lines().find(|l| l.starts_with("redis_version")).unwrap_or(""));
    println!("A = port {} (proxy {}), B = port {} (proxy {})", a.port, pa.port(), b.port, pb.port());

    // Data for the snapshots: one key per type, an expiring one, one in db 2.
    for cmd in [
        &["SET", "pre:str", "hello"][..],
        &["SET", "pre:int", "42"],
        &["SET", "pre:exp", "v", "EX", "1000"],
        &["RPUSH", "pre:list", "a", "b"],
        &["HSET", "pre:hash", "f", "v"],
        &["SADD", "pre:set", "1", "2"],
        &["ZADD", "pre:zset", "1", "m"],
    ] {
        assert!(!ca.call(cmd).starts_with('-'), "{cmd:?}");
    }
    assert!(cb.call(&["SET", "pre:onB", "b"]).starts_with('+'));
    let mut a2 = a.raw();
    ok(&mut a2, &["SELECT", "2"]);
    ok(&mut a2, &["SET", "pre:db2", "x"]);

    ok(&mut cb, &["REPLICAOF", "127.0.0.1", &pa.port().to_string()]);
    wait_for("B's link to A", DEADLINE, || link_up(&mut cb));
    settle(&[&pa, &pb]);
    ok(&mut ca, &["REPLICAOF", "127.0.0.1", &pb.port().to_string()]);
    wait_for("A's link to B", DEADLINE, || link_up(&mut ca));
    settle(&[&pa, &pb]);

    println!("\n===== B -> A link (through pa): handshake and full sync");
    print_items("B sends (up)", &newest(&pa, Direction::Up));
    print_items("A sends (down)", &newest(&pa, Direction::Down));
    println!("\n===== A -> B link (through pb): handshake and full sync");
    print_items("A sends (up)", &newest(&pb, Direction::Up));
    print_items("B sends (down)", &newest(&pb, Direction::Down));

    // Each operation on A: what A sends B, what B sends back to A.
    // KEYDB.MVCCRESTORE carries 9223372036854775807 as "no expiry": what TTL does it leave?
    println!("\n===== TTLs after the full syncs (pre:str was set without expiry on A)");
    for (n, s) in [("A", &a), ("B", &b)] {
        let mut r = s.raw();
        println!(
            "  {n}: PTTL pre:str = {}, PTTL pre:onB = {}, PTTL pre:exp = {}",
            esc(r.call(&["PTTL", "pre:str"]).as_bytes()),
            esc(r.call(&["PTTL", "pre:onB"]).as_bytes()),
            esc(r.call(&["PTTL", "pre:exp"]).as_bytes())
        );
    }

    let ops: Vec<Op> = vec![
        ("SET", vec![vec!["SET", "k", "v"]], Some(("0", "k"))),
        ("SET with EX", vec![vec!["SET", "kex", "v", "EX", "100"]], Some(("0", "kex"))),
        ("SET with PX", vec![vec!["SET", "kpx", "v", "PX", "100000"]], None),
        ("SETEX", vec![vec!["SETEX", "kse", "100", "v"]], None),
        ("EXPIRE", vec![vec!["EXPIRE", "k", "100"]], Some(("0", "k"))),
        ("PEXPIRE", vec![vec!["PEXPIRE", "k", "100000"]], None),
        ("EXPIREAT", vec![vec!["EXPIREAT", "k", "4102444800"]], None),
        ("PERSIST", vec![vec!["PERSIST", "k"]], None),
        ("INCR", vec![vec!["INCR", "counter"]], Some(("0", "counter"))),
        ("DEL", vec![vec!["DEL", "k"]], None),
        (
            "MULTI/EXEC of two INCRs",
            vec![vec!["MULTI"], vec!["INCR", "c2"], vec!["INCR", "c2"], vec!["EXEC"]],
            Some(("0", "c2")),
        ),
        ("LPUSH", vec![vec!["LPUSH", "list", "a", "b"]], Some(("0", "list"))),
        ("HSET", vec![vec!["HSET", "h", "f", "v"]], Some(("0", "h"))),
        ("SELECT 3 + SET", vec![vec!["SELECT", "3"], vec!["SET", "k3", "v3"], vec!["SELECT", "0"]], Some(("3", "k3"))),
        ("SET in db 0 again", vec![vec!["SET", "back0", "v"]], None),
        ("a write that changes nothing (DEL of a missing key)", vec![vec!["DEL", "nosuchkey"]], None),
        ("MSET of two keys", vec![vec!["MSET", "m1", "1", "m2", "2"]], Some(("0", "m1"))),
        (
            "SET then WAIT 1 1000 (does the master ask for an ACK?)",
            vec![vec!["SET", "w", "1"], vec!["WAIT", "1", "1000"]],
            None,
        ),
    ];
    for (label, cmds, key) in &ops {
        observe(&pa, &pb, (&a, &b), label, cmds, "A", *key);
    }
    observe(&pa, &pb, (&a, &b), "SET on B", &[vec!["SET", "fromB", "1"]], "B", Some(("0", "fromB")));

    // A conflict: both links stalled, each node writes the same key, then the links resume.
    pa.pause();
    pb.pause();
    ok(&mut ca, &["SET", "conflict", "fromA"]);
    ok(&mut cb, &["SET", "conflict", "fromB"]);
    pa.resume();
    pb.resume();
    settle(&[&pa, &pb]);
    println!("\n===== conflict: SET conflict fromA on A and SET conflict fromB on B while both links were stalled");
    for (n, s) in [("A", &a), ("B", &b)] {
        let mut r = s.raw();
        println!("  {n}: GET conflict = {:?}, stamp {}", r.call(&["GET", "conflict"]), key_stamp(&mut r, "conflict"));
    }
    println!();
    for (n, r) in [("A", &mut ca), ("B", &mut cb)] {
        print_reply(n, r, &["ROLE"]);
        print_reply(n, r, &["INFO", "replication"]);
    }

    // A partial resync: cut B's link to A, let B reconnect.
    pa.cut();
    wait_for("B's link down", DEADLINE, || !link_up(&mut cb));
    ok(&mut ca, &["SET", "while-cut", "1"]);
    pa.heal();
    wait_for("B's link back", DEADLINE, || link_up(&mut cb));
    settle(&[&pa, &pb]);
    println!("\n===== B -> A reconnection after a cut");
    print_items("B sends (up)", &newest(&pa, Direction::Up));
    print_items("A sends (down)", &newest(&pa, Direction::Down));

    observe(&pa, &pb, (&a, &b), "FLUSHALL", &[vec!["FLUSHALL"]], "A", None);

    // The idle link: pings, acks and their timing.
    let idle: u64 = std::env::var("KEYDB_WIRE_IDLE").ok().and_then(|s| s.parse().ok()).unwrap_or(25);
    let from = pa.transcript().len();
    let from_b = pb.transcript().len();
    std::thread::sleep(Duration::from_secs(idle));
    println!("\n===== {idle} s of idle links, every chunk with its time");
    let show = |name: &str, t: &[Chunk]| {
        for c in t {
            let who = match (name, c.dir) {
                ("pa", Direction::Up) => "B -> A",
                ("pa", Direction::Down) => "A -> B",
                ("pb", Direction::Up) => "A -> B",
                _ => "B -> A",
            };
            println!("  {:>9.3} s  {name} conn {} {who}: \"{}\"", c.at.as_secs_f64(), c.conn, esc(&c.bytes));
        }
    };
    show("pa", &pa.transcript()[from..]);
    show("pb", &pb.transcript()[from_b..]);
}
