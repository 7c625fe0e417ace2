//! Whole RDB files (rdb.c's `rdbSaveRio` / `rdbLoadRio`): the header, AUX fields, one
//! section per non-empty database, each key with its expiry and write timestamp, the EOF
//! opcode and the CRC64.
//!
//! Written as version 9 (see `super::RDB_VERSION_WRITTEN`). Every key is preceded by an AUX
//! field `mvcc-tstamp` holding its mvcc in decimal, after its expiry and before its type,
//! as KeyDB writes it in active mode: KeyDB reads the stamps back, Redis ignores unknown
//! AUX fields, and a restart keeps every key's timestamp exactly.
//!
//! The writer streams through a 64 KB buffer, updating the CRC as it goes, so a snapshot
//! never holds a second copy of the dataset in memory.

use std::io::{self, Write};

use super::codec::{write_len, write_string, DecodeError, Reader, CRC64};
use super::load::{self, read_value, Limits};
use super::save::{type_byte, write_object};
use super::RDB_VERSION_WRITTEN;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::{Db, Entry, Value};

/// Opcodes (`RDB_OPCODE_*`).
pub const OP_FUNCTION2: u8 = 245;
pub const OP_FUNCTION: u8 = 246;
pub const OP_MODULE_AUX: u8 = 247;
pub const OP_IDLE: u8 = 248;
pub const OP_FREQ: u8 = 249;
pub const OP_AUX: u8 = 250;
pub const OP_RESIZEDB: u8 = 251;
pub const OP_EXPIRETIME_MS: u8 = 252;
pub const OP_EXPIRETIME: u8 = 253;
pub const OP_SELECTDB: u8 = 254;
pub const OP_EOF: u8 = 255;

/// The AUX field carrying a key's write timestamp (KeyDB's name).
pub const AUX_MVCC: &[u8] = b"mvcc-tstamp";
/// Active replication's tombstones (`keyspace::db::Tombstones`): one AUX field per
/// deleted key, `<stamp>:<key>`, in the database section it belongs to, and the
/// database's flush stamp. Redis and KeyDB skip AUX fields they do not know.
pub const AUX_TOMB: &[u8] = b"fluidb-tomb";
pub const AUX_FLUSHED: &[u8] = b"fluidb-flushed";
/// A database's tombstone horizon (`Tombstones::horizon`).
pub const AUX_HORIZON: &[u8] = b"fluidb-horizon";
/// Active replication's counter states (`keyspace::counters`): one AUX field per counter
/// key, `<state>\n<key>` (the state's text form has no newline).
pub const AUX_COUNTER: &[u8] = b"fluidb-ctr";
/// Active replication's hash field states (`keyspace::counters::HashCounter`): one AUX
/// field per hash key that has them, `<field states>\n<key>`.
pub const AUX_HASH_COUNTER: &[u8] = b"fluidb-hctr";
/// The fluidB version that wrote a snapshot.
pub const AUX_FLUIDB_VER: &str = "fluidb-ver";

/// Flush the write buffer past this size.
const CHUNK: usize = 64 << 10;

/// Streams an RDB file into `w`.
pub struct RdbWriter<W: Write> {
    w: W,
    buf: Vec<u8>,
    crc: crc::Digest<'static, u64>,
    compress: bool,
    checksum: bool,
    /// Bytes written so far (for INFO's `rdb_last_cow_size`-like reporting and tests).
    pub written: u64,
    /// `rdb-key-save-delay` (a testing directive, as Redis's `debugDelay`): microseconds
    /// to sleep after each key; a negative -n sleeps 1 µs after every n-th key. Tests use
    /// it to catch a save or a rewrite in the middle.
    pub key_delay: i64,
    keys: u64,
}

impl<W: Write> RdbWriter<W> {
    /// Starts a file: the magic, the version and the AUX fields given.
    pub fn new(w: W, compress: bool, checksum: bool, aux: &[(&str, Vec<u8>)]) -> io::Result<Self> {
        let mut s = RdbWriter {
            w,
            buf: Vec::with_capacity(CHUNK * 2),
            crc: CRC64.digest(),
            compress,
            checksum,
            written: 0,
            key_delay: 0,
            keys: 0,
        };
        s.buf.extend_from_slice(format!("REDIS{:04}", RDB_VERSION_WRITTEN).as_bytes());
        for (k, v) in aux {
            s.aux(k.as_bytes(), v)?;
        }
        Ok(s)
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.checksum {
            self.crc.update(&self.buf);
        }
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// An AUX field (`rdbSaveAuxField`).
    pub fn aux(&mut self, key: &[u8], val: &[u8]) -> io::Result<()> {
        self.buf.push(OP_AUX);
        write_string(&mut self.buf, key, false);
        write_string(&mut self.buf, val, false);
        self.flush_if_full()
    }

    /// Starts database `id`, with its sizes as a hint for the loader.
    pub fn select_db(&mut self, id: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(OP_SELECTDB);
        write_len(&mut self.buf, id as u64);
        self.buf.push(OP_RESIZEDB);
        write_len(&mut self.buf, keys as u64);
        write_len(&mut self.buf, expires as u64);
        self.flush_if_full()
    }

    /// One key (`rdbSaveKeyValuePair`): expiry, write timestamp, type, name, value.
    pub fn key(&mut self, key: &[u8], e: &Entry) -> io::Result<()> {
        if e.has_expire() {
            self.buf.push(OP_EXPIRETIME_MS);
            self.buf.extend_from_slice(&e.expire.to_le_bytes());
        }
        let mut b = itoa::Buffer::new();
        self.buf.push(OP_AUX);
        write_string(&mut self.buf, AUX_MVCC, false);
        write_string(&mut self.buf, b.format(e.mvcc).as_bytes(), false);
        self.buf.push(type_byte(&e.val));
        write_string(&mut self.buf, key, self.compress);
        write_object(&mut self.buf, &e.val, self.compress);
        self.keys += 1;
        crate::persistence::childinfo::key_written(self.keys);
        key_save_delay(self.key_delay, self.keys);
        self.flush_if_full()
    }

    /// Writes a whole database.
    pub fn db(&mut self, db: &Db) -> io::Result<()> {
        if db.is_empty()
            && db.tombs.is_empty()
            && db.tombs.flushed == 0
            && db.counters.is_empty()
            && db.tombs.horizon == 0
        {
            return Ok(());
        }
        self.select_db(db.id, db.len(), db.expires.len())?;
        if db.tombs.flushed != 0 {
            let mut b = itoa::Buffer::new();
            self.aux(AUX_FLUSHED, b.format(db.tombs.flushed).as_bytes())?;
        }
        if db.tombs.horizon != 0 {
            let mut b = itoa::Buffer::new();
            self.aux(AUX_HORIZON, b.format(db.tombs.horizon).as_bytes())?;
        }
        let mut v = Vec::new();
        for (k, stamp) in &db.tombs.keys {
            v.clear();
            v.extend_from_slice(itoa::Buffer::new().format(*stamp).as_bytes());
            v.push(b':');
            v.extend_from_slice(k);
            self.aux(AUX_TOMB, &v)?;
        }
        for (k, c) in &db.counters.map {
            v.clear();
            c.encode(&mut v);
            v.push(b'\n');
            v.extend_from_slice(k);
            self.aux(AUX_COUNTER, &v)?;
        }
        for (k, h) in &db.counters.hashes {
            v.clear();
            h.encode(&mut v);
            v.push(b'\n');
            v.extend_from_slice(k);
            self.aux(AUX_HASH_COUNTER, &v)?;
        }
        for (k, e) in db.main.iter() {
            self.key(k.as_bytes(), e)?;
        }
        Ok(())
    }

    /// Ends the file: EOF and the checksum (zero when `rdbchecksum no`, as Redis).
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OP_EOF);
        self.flush_buf()?;
        let crc = if self.checksum { self.crc.finalize() } else { 0 };
        self.w.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// `rdb-key-save-delay` after the `n`-th key written (snapshots and AOF rewrites): a
/// positive delay sleeps that many µs; a negative -d sleeps 1 µs after every d-th key.
pub fn key_save_delay(delay: i64, n: u64) {
    match delay {
        0 => {}
        d if d > 0 => std::thread::sleep(std::time::Duration::from_micros(d as u64)),
        d if n.is_multiple_of(d.unsigned_abs()) => std::thread::sleep(std::time::Duration::from_micros(1)),
        _ => {}
    }
}

/// The AUX fields Redis 7.0 writes in a header (`rdbSaveInfoAuxFields`).
pub fn header_aux(used_mem: u64, now_secs: i64, aof_base: bool) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("redis-ver", b"7.0.15".to_vec()),
        // Tells a peer merging this snapshot that it comes from fluidB (which keeps a
        // counter state for every key it saw increments of; see `active::merge_snapshot`).
        // Redis and KeyDB skip AUX fields they do not know.
        (AUX_FLUIDB_VER, env!("CARGO_PKG_VERSION").as_bytes().to_vec()),
        ("redis-bits", b"64".to_vec()),
        ("ctime", now_secs.to_string().into_bytes()),
        ("used-mem", used_mem.to_string().into_bytes()),
        ("aof-base", if aof_base { b"1".to_vec() } else { b"0".to_vec() }),
    ]
}

/// One key read from a file.
pub struct LoadedKey {
    pub db: usize,
    pub key: Vec<u8>,
    pub val: Value,
    pub expire: i64,
    /// The `mvcc-tstamp` that preceded it, if any.
    pub mvcc: Option<u64>,
    /// Bytes of the file read so far (load progress).
    pub offset: usize,
}

/// What a load found besides keys.
#[derive(Debug, Default)]
pub struct LoadInfo {
    pub version: u16,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub keys: u64,
    /// Keys skipped because they were empty collections (Redis skips them too), and the
    /// names of the first ten, which Redis logs.
    pub empty_skipped: u64,
    pub empty_keys: Vec<Vec<u8>>,
    /// Keys skipped because they had expired (filled in by the caller that decides).
    pub expired: u64,
    /// Where the RDB ends in the data (after its checksum): an AOF's commands may follow.
    pub end: usize,
    /// Those keys (database, name): a master restarting from the file propagates their
    /// deletion, as Redis does.
    pub expired_keys: Vec<(usize, Vec<u8>)>,
    /// Active replication's tombstones (database, key, stamp) and flush stamps.
    pub tombs: Vec<(usize, Vec<u8>, u64)>,
    pub flushed: Vec<(usize, u64)>,
    /// Tombstone horizons per database.
    pub horizons: Vec<(usize, u64)>,
    /// Active replication's counter states (database, key, state).
    pub counters: Vec<(usize, Vec<u8>, crate::keyspace::counters::Counter)>,
    /// Active replication's hash field states (database, key, states).
    pub hash_counters: Vec<(usize, Vec<u8>, crate::keyspace::counters::HashCounter)>,
}

/// Redis's `debugDelay` (the `key-load-delay` test hook): sleeps `usec` microseconds, or
/// for a negative value sleeps 1 µs with probability 1/-usec.
fn debug_delay(usec: i32) {
    let usec =
        if usec < 0 { u64::from(rand::random::<u32>().is_multiple_of(usec.unsigned_abs())) } else { usec as u64 };
    if usec > 0 {
        std::thread::sleep(std::time::Duration::from_micros(usec));
    }
}

/// Reads a whole RDB file (`rdbLoadRio`), handing each key to `f`. Checks the CRC64 when
/// the file has one (non-zero, version 5+). `databases` bounds SELECTDB.
pub fn load_rdb(
    data: &[u8],
    lim: &Limits,
    databases: usize,
    mut f: impl FnMut(LoadedKey),
) -> Result<LoadInfo, DecodeError> {
    let mut r = Reader::new(data);
    let magic = r.take(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(DecodeError { offset: 0, what: "wrong signature trying to load DB from file" });
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|v| (1..=super::RDB_VERSION_READ_MAX).contains(v))
        .ok_or(DecodeError { offset: 5, what: "can't handle RDB format version" })?;
    let mut info = LoadInfo { version, ..Default::default() };
    let mut db = 0usize;
    let mut expire = NO_EXPIRE;
    let mut mvcc: Option<u64> = None;
    loop {
        let t = r.u8()?;
        match t {
            OP_EXPIRETIME_MS => expire = r.u64_le()? as i64,
            OP_EXPIRETIME => expire = (r.u32_le()? as i64) * 1000,
            OP_IDLE => {
                r.length()?;
            }
            OP_FREQ => {
                r.u8()?;
            }
            OP_SELECTDB => {
                let id = r.length()?;
                db = usize::try_from(id)
                    .ok()
                    .filter(|&d| d < databases)
                    .ok_or_else(|| r.err("DB index out of range (databases too low for this file)"))?;
            }
            OP_RESIZEDB => {
                r.length()?;
                r.length()?;
            }
            OP_AUX => {
                let k = r.string(lim.max_string)?;
                let v = r.string(lim.max_string)?;
                if k == AUX_MVCC {
                    let s = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<u64>().ok());
                    mvcc = Some(s.ok_or_else(|| r.err("invalid mvcc-tstamp"))?);
                } else if k == AUX_TOMB {
                    let colon = v.iter().position(|&c| c == b':').ok_or_else(|| r.err("invalid fluidb-tomb"))?;
                    let stamp = std::str::from_utf8(&v[..colon]).ok().and_then(|s| s.parse::<u64>().ok());
                    let stamp = stamp.filter(|&s| s != 0).ok_or_else(|| r.err("invalid fluidb-tomb"))?;
                    info.tombs.push((db, v[colon + 1..].to_vec(), stamp));
                } else if k == AUX_COUNTER {
                    let nl = v.iter().position(|&c| c == b'\n').ok_or_else(|| r.err("invalid fluidb-ctr"))?;
                    let c = crate::keyspace::counters::Counter::decode(&v[..nl])
                        .ok_or_else(|| r.err("invalid fluidb-ctr"))?;
                    info.counters.push((db, v[nl + 1..].to_vec(), c));
                } else if k == AUX_HASH_COUNTER {
                    let nl = v.iter().position(|&c| c == b'\n').ok_or_else(|| r.err("invalid fluidb-hctr"))?;
                    let h = crate::keyspace::counters::HashCounter::decode(&v[..nl])
                        .ok_or_else(|| r.err("invalid fluidb-hctr"))?;
                    info.hash_counters.push((db, v[nl + 1..].to_vec(), h));
                } else if k == AUX_FLUSHED {
                    let stamp = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<u64>().ok());
                    info.flushed.push((db, stamp.ok_or_else(|| r.err("invalid fluidb-flushed"))?));
                } else if k == AUX_HORIZON {
                    let stamp = std::str::from_utf8(&v).ok().and_then(|s| s.parse::<u64>().ok());
                    info.horizons.push((db, stamp.ok_or_else(|| r.err("invalid fluidb-horizon"))?));
                } else {
                    info.aux.push((k, v));
                }
            }
            OP_MODULE_AUX => return Err(r.err("module data is not supported")),
            OP_FUNCTION | OP_FUNCTION2 => {
                // Function libraries (Redis 7.0): skipped, fluidB has no FUNCTION yet.
                r.string(lim.max_string)?;
            }
            OP_EOF => {
                let end = r.offset();
                if version >= 5 && r.remaining() >= 8 {
                    let want = r.u64_le()?;
                    if want != 0 && !lim.skip_checksum && want != CRC64.checksum(&data[..end]) {
                        return Err(DecodeError { offset: end, what: "RDB CRC error (wrong RDB checksum)" });
                    }
                }
                info.end = r.offset();
                return Ok(info);
            }
            t if load::is_object_type(t) => {
                let key = r.string(lim.max_string)?;
                match read_value(&mut r, t, lim) {
                    Ok(val) => {
                        info.keys += 1;
                        f(LoadedKey { db, key, val, expire, mvcc, offset: r.offset() });
                        if lim.key_load_delay != 0 {
                            debug_delay(lim.key_load_delay);
                        }
                    }
                    Err(e) if e.what == load::EMPTY_KEY => {
                        info.empty_skipped += 1;
                        if info.empty_keys.len() < 10 {
                            info.empty_keys.push(key);
                        }
                    }
                    Err(e) => return Err(e),
                }
                expire = NO_EXPIRE;
                mvcc = None;
            }
            _ => return Err(r.err("unknown RDB opcode or type")),
        }
    }
}
