//! MONITOR: every executed command, formatted as Redis does, sent to monitoring clients.

use bytes::Bytes;

use crate::server::client::Client;
use crate::server::store::Store;

/// Appends `s` quoted and escaped as Redis's `sdscatrepr`.
pub fn cat_repr(out: &mut String, s: &[u8]) {
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
}

/// Indexes of `argv` that Redis 7.0 redacts from MONITOR and SLOWLOG output
/// (`redactClientCommandArgument`): passwords of AUTH, HELLO ... AUTH, MIGRATE ... AUTH/AUTH2.
pub fn redacted_args(argv: &[Bytes]) -> Vec<usize> {
    let Some(name) = argv.first() else { return vec![] };
    let mut r = Vec::new();
    if name.eq_ignore_ascii_case(b"auth") {
        if argv.len() <= 3 {
            r.extend(1..argv.len());
        }
    } else if name.eq_ignore_ascii_case(b"hello") {
        // Only once the protocol version was accepted; the options stop at the first bad one.
        if let Some(v) = argv.get(1) {
            if !matches!(crate::util::numeric::string2ll(v), Some(2 | 3)) {
                return r;
            }
        }
        let mut j = 2;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if argv[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
                r.push(j + 1);
                r.push(j + 2);
                j += 3;
            } else if argv[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
                j += 2;
            } else {
                break;
            }
        }
    } else if name.eq_ignore_ascii_case(b"migrate") {
        let mut j = 6;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if argv[j].eq_ignore_ascii_case(b"auth") && more >= 1 {
                r.push(j + 1);
                j += 2;
            } else if argv[j].eq_ignore_ascii_case(b"auth2") && more >= 2 {
                r.push(j + 1);
                r.push(j + 2);
                j += 3;
            } else if argv[j].eq_ignore_ascii_case(b"copy") || argv[j].eq_ignore_ascii_case(b"replace") {
                j += 1;
            } else {
                break; // KEYS (the rest are keys) or a syntax error
            }
        }
    }
    r
}

/// Formats one command as a MONITOR line: `+<sec>.<usec> [<db> <addr>] "arg" ...`.
pub fn format_line(us: i64, db: usize, who: &str, argv: &[Bytes]) -> Bytes {
    let redacted = redacted_args(argv);
    let mut line = format!("+{}.{:06} [{} {}]", us / 1_000_000, us % 1_000_000, db, who);
    for (i, a) in argv.iter().enumerate() {
        line.push(' ');
        if redacted.contains(&i) {
            line.push_str("\"(redacted)\"");
        } else {
            cat_repr(&mut line, a);
        }
    }
    line.push_str("\r\n");
    Bytes::from(line)
}

/// Sends one executed command to every MONITOR client (the issuing client included, after
/// its own reply, as Redis does).
pub fn feed(store: &mut Store, client: &Client, db: usize, argv: &[Bytes]) {
    store.clients.monitors.retain(|m| !m.is_killed());
    if store.clients.monitors.is_empty() {
        return;
    }
    let us = crate::util::time::unix_us();
    let who = if client.is_unix { format!("unix:{}", client.shared.laddr) } else { client.shared.addr.clone() };
    let msg = format_line(us, db, &who, argv);
    for m in &store.clients.monitors {
        m.send(msg.clone());
    }
}
