//! SLOWLOG: commands slower than `slowlog-log-slower-than` microseconds, newest first,
//! at most `slowlog-max-len` entries.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::server::client::Client;
use crate::server::store::Store;

/// Redis keeps at most 32 arguments of a logged command, each at most 128 bytes.
pub const SLOWLOG_ENTRY_MAX_ARGC: usize = 32;
pub const SLOWLOG_ENTRY_MAX_STRING: usize = 128;

#[derive(Debug, Clone)]
pub struct SlowLogEntry {
    pub id: u64,
    pub time: i64,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

#[derive(Debug, Default)]
pub struct SlowLog {
    pub entries: VecDeque<SlowLogEntry>,
    pub next_id: u64,
}

/// Trims an argument list the way Redis's `slowlogCreateEntry` does.
fn trim_args(argv: &[Bytes]) -> Vec<Bytes> {
    let argc = argv.len().min(SLOWLOG_ENTRY_MAX_ARGC);
    let mut v = Vec::with_capacity(argc);
    for (j, a) in argv.iter().take(argc).enumerate() {
        if argc != argv.len() && j == argc - 1 {
            v.push(Bytes::from(format!("... ({} more arguments)", argv.len() - argc + 1)));
        } else if a.len() > SLOWLOG_ENTRY_MAX_STRING {
            let mut s = a[..SLOWLOG_ENTRY_MAX_STRING].to_vec();
            s.extend_from_slice(format!("... ({} more bytes)", a.len() - SLOWLOG_ENTRY_MAX_STRING).as_bytes());
            v.push(Bytes::from(s));
        } else {
            // A copy: a slice would keep the whole request buffer it points into alive
            // for as long as the entry (megabytes after a large pipeline or MSET).
            v.push(Bytes::copy_from_slice(a));
        }
    }
    v
}

/// Adds an entry when the command was slow enough.
pub fn maybe_log(store: &mut Store, client: &Client, argv: &[Bytes], usec: u64) {
    let threshold = store.cfg.slowlog_log_slower_than;
    if threshold < 0 || (usec as i64) < threshold {
        return;
    }
    let name = client.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
    let log = &mut store.slowlog;
    let e = SlowLogEntry {
        id: log.next_id,
        time: crate::util::time::unix_secs(),
        duration_us: usec,
        argv: trim_args(argv),
        peer: client.shared.addr.clone(),
        name,
    };
    log.next_id += 1;
    log.entries.push_front(e);
    let max = store.cfg.slowlog_max_len;
    while log.entries.len() as u64 > max {
        log.entries.pop_back();
    }
}
