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

/// Sends one executed command to every MONITOR client.
pub fn feed(store: &mut Store, client: &Client, db: usize, argv: &[Bytes]) {
    let us = crate::util::time::unix_us();
    let who = if client.is_unix { format!("unix:{}", client.shared.laddr) } else { client.shared.addr.clone() };
    let mut line = format!("+{}.{:06} [{} {}]", us / 1_000_000, us % 1_000_000, db, who);
    for a in argv {
        line.push(' ');
        cat_repr(&mut line, a);
    }
    line.push_str("\r\n");
    let msg = Bytes::from(line);
    store.clients.monitors.retain(|m| !m.is_killed());
    for m in &store.clients.monitors {
        if m.id != client.id {
            m.send(msg.clone());
        }
    }
}
