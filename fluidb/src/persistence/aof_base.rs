//! The dataset as commands (Redis's `rewriteAppendOnlyFileRio`): an AOF base file in RESP
//! format, written when `aof-use-rdb-preamble` is off. Each database starts with a SELECT;
//! each key is rebuilt with SET / RPUSH / SADD / ZADD / HMSET (variadic commands carry at
//! most 64 items, Redis's AOF_REWRITE_ITEMS_PER_CMD) and a PEXPIREAT for its TTL.
//!
//! With `active-replica` on, every command of a key is preceded by the key's `#mvcc:`
//! annotation (a line Redis skips when it loads an AOF), so the write timestamps that
//! order writes between nodes survive a reload exactly, as they do through an RDB base.
//! A key's merge states (`keyspace::counters`) are `#ctrs:` (counter) and `#hctrs:` (hash
//! field states) annotations before the last command that rebuilds the key (the loader
//! sets them after that command, which the earlier ones of the key would otherwise
//! overwrite), or before a `DEL` for a deleted key that keeps them.

use std::io::{self, Write};

use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::{Entry, Value};
use crate::server::store::Store;
use crate::types::listpack::LpVal;

/// Items per variadic command (AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// Writes RESP commands into a byte buffer.
struct Out {
    buf: Vec<u8>,
    /// Whether keys get `#mvcc:` annotations.
    stamps: bool,
    /// Where the last command started (its annotations included).
    last: usize,
}

impl Out {
    fn count(&mut self, prefix: u8, n: usize) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    fn bulk(&mut self, b: &[u8]) {
        self.count(b'$', b.len());
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn bulk_val(&mut self, v: LpVal<'_>) {
        v.with_bytes(|b| self.bulk(b));
    }

    fn bulk_int(&mut self, n: i64) {
        self.bulk(itoa::Buffer::new().format(n).as_bytes());
    }

    /// Annotation lines (`note`, without their last CRLF) before the last command.
    fn note_last(&mut self, note: &[u8]) {
        let at = self.last.min(self.buf.len());
        self.buf.splice(at..at, note.iter().chain(b"\r\n").copied());
    }

    fn annotation(&mut self, mvcc: u64) {
        if mvcc != 0 && self.stamps {
            self.buf.extend_from_slice(b"#mvcc:");
            self.buf.extend_from_slice(itoa::Buffer::new().format(mvcc).as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        }
    }

    /// Starts a command of `head` + `items` arguments (each item `per_item` arguments).
    fn start(&mut self, mvcc: u64, name: &[u8], key: &[u8], items: usize, per_item: usize) {
        self.last = self.buf.len();
        self.annotation(mvcc);
        self.count(b'*', 2 + items * per_item);
        self.bulk(name);
        self.bulk(key);
    }
}

/// A variadic command for one key: its name and how many arguments an item takes.
struct Cmd<'a> {
    name: &'a [u8],
    key: &'a [u8],
    mvcc: u64,
    per_item: usize,
}

/// Emits a variadic command per 64 of the `total` items: `emit` writes one item.
fn batched<T>(
    out: &mut Out,
    c: Cmd<'_>,
    total: usize,
    items: impl Iterator<Item = T>,
    mut emit: impl FnMut(&mut Out, T),
) {
    let mut left = total;
    let mut in_cmd = 0;
    for item in items {
        if in_cmd == 0 {
            out.start(c.mvcc, c.name, c.key, left.min(ITEMS_PER_CMD), c.per_item);
        }
        emit(out, item);
        in_cmd += 1;
        left = left.saturating_sub(1);
        if in_cmd == ITEMS_PER_CMD {
            in_cmd = 0;
        }
    }
}

/// The commands that rebuild one key.
fn write_key(out: &mut Out, key: &[u8], e: &Entry) {
    let m = e.mvcc;
    let cmd = |name, per_item| Cmd { name, key, mvcc: m, per_item };
    match &e.val {
        Value::Str(s) => {
            out.start(m, b"SET", key, 1, 1);
            s.with_bytes(|b| out.bulk(b));
        }
        Value::List(l) => {
            // Copied out first: compressed list nodes are only readable through a callback.
            let mut items = Vec::with_capacity(l.len());
            l.for_each(&mut |b| items.push(b.to_vec()));
            batched(out, cmd(b"RPUSH", 1), items.len(), items.iter(), |o, b| o.bulk(b));
        }
        Value::Set(s) => batched(out, cmd(b"SADD", 1), s.len(), s.iter(), Out::bulk_val),
        Value::Hash(h) => batched(out, cmd(b"HMSET", 2), h.len(), h.iter(), |o, (f, v)| {
            o.bulk_val(f);
            o.bulk_val(v);
        }),
        Value::ZSet(z) => {
            let mut pairs = Vec::with_capacity(z.len());
            z.walk(0, false, |member, score| {
                pairs.push((crate::util::numeric::fmt_g17(score), member.to_vec()));
                true
            });
            batched(out, cmd(b"ZADD", 2), pairs.len(), pairs.into_iter(), |o, (score, member)| {
                o.bulk(&score);
                o.bulk(&member);
            });
        }
    }
    if e.expire != NO_EXPIRE {
        out.start(m, b"PEXPIREAT", key, 1, 1);
        out.bulk_int(e.expire);
    }
}

/// Writes every database as commands into `w` (with a `#TS:` annotation first when
/// `aof-timestamp-enabled` is on, as Redis does).
pub fn write_commands<W: Write>(store: &Store, w: &mut W) -> io::Result<()> {
    let mut out = Out { buf: Vec::with_capacity(1 << 16), stamps: store.cfg.active_replica, last: 0 };
    if store.cfg.aof_timestamp_enabled {
        out.buf.extend_from_slice(format!("#TS:{}\r\n", crate::util::time::unix_secs()).as_bytes());
    }
    if let Some(v) = crate::replication::repl_masters_value(store) {
        // Where the master link is (as an RDB base's `repl-masters` AUX field).
        out.buf.extend_from_slice(format!("#repl-masters:{v}\r\n").as_bytes());
    }
    let delay = store.cfg.rdb_key_save_delay as i64;
    let mut keys = 0u64;
    for (j, db) in store.dbs.iter().enumerate() {
        if db.is_empty() && db.counters.is_empty() {
            continue;
        }
        out.count(b'*', 2);
        out.bulk(b"SELECT");
        out.bulk_int(j as i64);
        for (k, e) in db.main.iter() {
            write_key(&mut out, k.as_bytes(), e);
            if !db.counters.is_empty() {
                // The loader gives the states to the key of the command that follows.
                if let Some(note) = crate::replication::active::states_note(store, j, k.as_bytes(), None) {
                    out.note_last(&note);
                }
            }
            keys += 1;
            crate::persistence::childinfo::key_written(keys);
            crate::persistence::rdb::file::key_save_delay(delay, keys);
            if out.buf.len() >= 1 << 16 {
                w.write_all(&out.buf)?;
                out.buf.clear();
            }
        }
        let hashes_only = db.counters.hashes.keys().filter(|k| !db.counters.map.contains_key(*k));
        for k in db.counters.map.keys().chain(hashes_only) {
            if db.peek(k).is_some() {
                continue;
            }
            // A deleted key with states: they ride on a DEL of the absent key.
            if let Some(note) = crate::replication::active::states_note(store, j, k, None) {
                out.buf.extend_from_slice(&note);
                out.buf.extend_from_slice(b"\r\n");
            }
            out.count(b'*', 2);
            out.bulk(b"DEL");
            out.bulk(k);
        }
    }
    w.write_all(&out.buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::keyspace::RStr;

    #[test]
    fn keys_become_their_commands_with_stamps_and_ttls() {
        let mut st = Store::new(Config { active_replica: true, ..Config::default() });
        let mut e = Entry::new(Value::Str(RStr::from_bytes(b"v")), 77, 0);
        e.expire = 1234;
        st.dbs[2].insert(b"k", e);
        let mut list = crate::types::List::new();
        for i in 0..130 {
            list.push_back(i.to_string().as_bytes());
        }
        st.dbs[0].insert(b"l", Entry::new(Value::List(Box::new(list)), 0, 0));
        let mut out = Vec::new();
        write_commands(&st, &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*66\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\n0\r\n"),
            "{text}"
        );
        // 130 items: 64 + 64 + 2.
        assert_eq!(text.matches("RPUSH").count(), 3);
        assert!(text.contains("*4\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$3\r\n128\r\n$3\r\n129\r\n"));
        assert!(text.ends_with(
            "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n#mvcc:77\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
             #mvcc:77\r\n*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$4\r\n1234\r\n"
        ));
    }
}
