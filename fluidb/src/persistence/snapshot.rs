//! Saving the dataset to `dir`/`dbfilename` and loading it back.
//!
//! A save never damages the previous file: it writes `temp-<pid>.rdb` in the same
//! directory, fsyncs it, renames it over the target and fsyncs the directory, so a crash
//! at any point leaves either the old file or the new one (Redis's `rdbSave`).
//!
//! This is the synchronous path (SAVE, DEBUG RELOAD, boot). The non-blocking BGSAVE is
//! still to come (see docs/STATUS.md).

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use super::rdb::codec::DecodeError;
use super::rdb::file::{header_aux, load_rdb, LoadInfo, RdbWriter};
use super::rdb::load::Limits;
use crate::keyspace::db::NO_EXPIRE;
use crate::keyspace::Entry;
use crate::server::store::Store;

/// Where the RDB file lives: `dbfilename` in the working directory, which is `dir` (the
/// server changes into it at start and on CONFIG SET dir, as Redis does).
pub fn rdb_path(store: &Store) -> PathBuf {
    PathBuf::from(&store.cfg.dbfilename)
}

/// The persistence figures INFO reports.
#[derive(Debug, Default, Clone)]
pub struct RdbStats {
    pub saves: u64,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
}

/// SAVE: writes the dataset now, under the store lock. On success the change counter
/// restarts and LASTSAVE moves.
pub fn save_now(store: &mut Store) -> io::Result<u64> {
    if store.bgsave.in_progress() {
        return Err(io::Error::other("Background save already in progress"));
    }
    let path = rdb_path(store);
    let n = save(store, &path, crate::commands::info::used_memory(), false)?;
    store.dirty_saved = store.dirty;
    store.lastsave = crate::util::time::unix_secs();
    store.rdb.saves += 1;
    store.bgsave.last_ok = true;
    crate::log_notice!("DB saved on disk");
    Ok(n)
}

/// Whether writes are refused because the last background save failed
/// (`writeCommandsDeniedByDiskError`).
pub fn writes_denied(store: &Store) -> bool {
    !store.bgsave.last_ok && store.cfg.stop_writes_on_bgsave_error && !store.cfg.save.is_empty() && !store.is_replica
}

/// The changes since the last successful save (`rdb_changes_since_last_save`).
pub fn changes_since_save(store: &Store) -> u64 {
    store.dirty.saturating_sub(store.dirty_saved)
}

/// Why the RDB file could not be loaded at start.
#[derive(Debug)]
pub enum BootError {
    /// The file exists but cannot be read.
    Io(String),
    /// Its content is corrupt (Redis runs its RDB check on it, then exits).
    Corrupt(DecodeError),
}

/// Loads the RDB file at boot, logging as Redis does.
pub fn load_at_boot(store: &mut Store) -> Result<(), BootError> {
    let path = rdb_path(store);
    if !path.exists() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let data = fs::read(&path).map_err(|e| BootError::Io(format!("{}: {e}", path.display())))?;
    let mut lim = Limits::from_config(&store.cfg);
    lim.skip_checksum = store.skip_checksum_validation;
    let keep_expired = store.plain_replica();
    let mut info = load_into_with(&mut store.dbs, &mut store.clock, &lim, keep_expired, &data, |_| {})
        .map_err(BootError::Corrupt)?;
    note_boot_load(store, &mut info, started);
    Ok(())
}

/// What a finished boot load records and logs, whether it ran in place or in the
/// background (`server::loading`).
pub(crate) fn note_boot_load(store: &mut Store, info: &mut LoadInfo, started: std::time::Instant) {
    store.rdb.last_load_keys_loaded = info.keys;
    store.rdb.last_load_keys_expired = info.expired;
    for key in &info.empty_keys {
        crate::log_warning!("rdbLoadObject skipping empty key: {}", String::from_utf8_lossy(key));
    }
    if info.empty_skipped > 0 {
        crate::log_warning!(
            "Done loading RDB, keys loaded: {}, keys expired: {}, empty keys skipped: {}.",
            info.keys,
            info.expired,
            info.empty_skipped
        );
    } else {
        crate::log_notice!("Done loading RDB, keys loaded: {}, keys expired: {}.", info.keys, info.expired);
    }
    crate::replication::continue_history_from_rdb(store, info);
    crate::log_notice!("DB loaded from disk: {:.3} seconds", started.elapsed().as_secs_f64());
}

/// The temporary file a save by process `pid` writes in `dir` before renaming it; a
/// parent removes it when it finds the child killed.
pub fn temp_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("temp-{pid}.rdb"))
}

/// Bytes a snapshot writes between two `fdatasync`s with `rdb-save-incremental-fsync` /
/// `aof-rewrite-incremental-fsync` (Redis's REDIS_AUTOSYNC_BYTES).
const AUTOSYNC_BYTES: u64 = 4 << 20;

/// A file that is synced every `every` bytes (never when 0). Without it a multi-GB
/// snapshot leaves all its pages dirty until the final fsync, which then saturates the
/// disk for seconds and stalls the AOF's own fsyncs.
struct AutoSync {
    file: File,
    every: u64,
    since: u64,
}

impl io::Write for AutoSync {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.every > 0 && self.since >= self.every {
            self.file.sync_data()?;
            self.since = 0;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writes every database to `path` atomically. Returns the bytes written. `aof_base`: the
/// file is an AOF's base (its `aof-base` AUX field says 1, as Redis writes it).
pub fn save(store: &Store, path: &Path, used_mem: u64, aof_base: bool) -> io::Result<u64> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = temp_path(dir, std::process::id());
    let incremental =
        if aof_base { store.cfg.aof_rewrite_incremental_fsync } else { store.cfg.rdb_save_incremental_fsync };
    let result = (|| {
        let f = AutoSync { file: File::create(&tmp)?, every: if incremental { AUTOSYNC_BYTES } else { 0 }, since: 0 };
        let (w, written) = write_rdb(store, BufWriter::with_capacity(1 << 16, f), used_mem, aof_base)?;
        let f = w.into_inner().map_err(|e| e.into_error())?.file;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            // Make the rename itself durable.
            let _ = d.sync_all();
        }
        Ok(written)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes the whole dataset as an RDB file into `w` (a file, or the pipe of a diskless
/// full sync); returns `w` and the bytes written. A node that has replication history (a
/// replica, or a master with a backlog) records it in the header (`repl-id`,
/// `repl-offset`, `repl-stream-db`), as Redis does, so a restarted replica can continue
/// with a partial resync.
/// Whether the active link has a master history to record.
pub fn write_rdb<W: io::Write>(store: &Store, w: W, used_mem: u64, aof_base: bool) -> io::Result<(W, u64)> {
    let mut aux = header_aux(used_mem, crate::util::time::unix_secs(), aof_base);
    if store.is_replica || store.stream.backlog_active() {
        let db = store.stream.current_db().unwrap_or(0);
        aux.insert(4, ("repl-stream-db", db.to_string().into_bytes()));
        aux.insert(5, ("repl-id", store.repl.replid.as_bytes().to_vec()));
        aux.insert(6, ("repl-offset", store.stream.offset().to_string().into_bytes()));
    }
    if let Some(v) = crate::replication::repl_masters_value(store) {
        // KeyDB's field: where each master link is, so a restarted active node continues
        // it with a partial resync.
        aux.push(("repl-masters", v.into_bytes()));
    }
    let mut w = RdbWriter::new(w, store.cfg.rdbcompression, store.cfg.rdbchecksum, &aux)?;
    w.key_delay = store.cfg.rdb_key_save_delay as i64;
    for db in &store.dbs {
        w.db(db)?;
    }
    let written = w.written + 8;
    Ok((w.finish()?, written))
}

/// Loads `path` into the (empty) databases of `store`. Keys already expired are skipped
/// on a primary, as Redis does; each key keeps the write timestamp stored with it (or
/// gets a fresh one from the node clock when the file has none, e.g. a Redis dump), and
/// the clock moves past every loaded timestamp so later writes are newer.
pub fn load(store: &mut Store, path: &Path) -> Result<LoadInfo, String> {
    let data = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    load_bytes(store, &data).map_err(|e| format!("{e} ({})", path.display()))
}

/// Loads RDB bytes (a file) into `store`; see [`load`].
pub fn load_bytes(store: &mut Store, data: &[u8]) -> Result<LoadInfo, String> {
    let mut lim = Limits::from_config(&store.cfg);
    lim.skip_checksum = store.skip_checksum_validation;
    let keep_expired = store.plain_replica();
    let info = load_into(&mut store.dbs, &mut store.clock, &lim, keep_expired, data)?;
    store.rdb.last_load_keys_loaded = info.keys;
    store.rdb.last_load_keys_expired = info.expired;
    Ok(info)
}

/// Loads the RDB at the start of an AOF file (a base, or an old-style preamble) and
/// returns where it ends. Keys with a past expiry are kept, as Redis does with an AOF
/// preamble: the commands after it may still act on them (their expiry is applied once
/// the load is over).
pub fn load_aof_preamble(store: &mut Store, data: &[u8]) -> Result<usize, String> {
    let mut lim = Limits::from_config(&store.cfg);
    lim.skip_checksum = store.skip_checksum_validation;
    let info = load_into(&mut store.dbs, &mut store.clock, &lim, true, data)?;
    if store.cfg.active_replica {
        // Where the master links were when the base was written (later `#repl-masters:`
        // lines of the AOF move them on).
        if let Some((_, v)) = info.aux.iter().find(|(k, _)| k == b"repl-masters") {
            store.repl.restored_masters = crate::replication::parse_repl_masters(&String::from_utf8_lossy(v));
        }
    }
    Ok(info.end)
}

/// Reads RDB bytes into `dbs`: keys keep their stored write timestamps (`clock` moves past
/// them) or get fresh ones from `clock`; expired keys are skipped unless `keep_expired`
/// (a replica keeps them until its master deletes them).
pub fn load_into(
    dbs: &mut [crate::keyspace::Db],
    clock: &mut crate::keyspace::clock::MvccClock,
    lim: &Limits,
    keep_expired: bool,
    data: &[u8],
) -> Result<LoadInfo, String> {
    load_into_with(dbs, clock, lim, keep_expired, data, |_| {}).map_err(|e| e.to_string())
}

/// [`load_into`], reporting the bytes read after each key to `progress` and keeping the
/// decoding error (a corrupt file at boot is reported as redis-check-rdb reports it).
pub fn load_into_with(
    dbs: &mut [crate::keyspace::Db],
    clock: &mut crate::keyspace::clock::MvccClock,
    lim: &Limits,
    keep_expired: bool,
    data: &[u8],
    mut progress: impl FnMut(usize),
) -> Result<LoadInfo, DecodeError> {
    let now = crate::util::time::unix_ms();
    let lru = crate::util::time::lru_clock();
    let databases = dbs.len();
    let mut expired = 0u64;
    let mut expired_keys = Vec::new();
    let mut info = load_rdb(data, lim, databases, |k| {
        if k.expire != NO_EXPIRE && k.expire <= now && !keep_expired {
            expired += 1;
            expired_keys.push((k.db, k.key));
            return;
        }
        let mvcc = match k.mvcc {
            Some(m) => {
                clock.observe(m);
                m
            }
            None => clock.next(now),
        };
        let mut e = Entry::new(k.val, mvcc, lru);
        e.expire = k.expire;
        dbs[k.db].insert(&k.key, e);
        progress(k.offset);
    })?;
    for (db, stamp) in std::mem::take(&mut info.flushed) {
        clock.observe(stamp);
        dbs[db].tombs.flush(stamp);
    }
    for &(db, stamp) in &info.horizons {
        dbs[db].tombs.horizon = dbs[db].tombs.horizon.max(stamp);
    }
    for (db, key, stamp) in std::mem::take(&mut info.tombs) {
        clock.observe(stamp);
        if dbs[db].peek(&key).is_none_or(|e| e.mvcc < stamp) {
            dbs[db].remove(&key);
            dbs[db].tombs.bury(&key, stamp);
        }
    }
    for (db, key, c) in std::mem::take(&mut info.counters) {
        clock.observe(c.stamp());
        dbs[db].counters.set(&key, c);
    }
    for (db, key, h) in std::mem::take(&mut info.hash_counters) {
        clock.observe(h.stamp());
        dbs[db].counters.set_hash(&key, h);
    }
    info.keys -= expired.min(info.keys);
    info.expired = expired;
    info.expired_keys = expired_keys;
    Ok(info)
}

/// A corrupt RDB file at start, reported as Redis does (`rdbReportError`, then the
/// redis-check-rdb summary) before it exits.
pub fn report_corrupt_rdb(file: &str, e: &DecodeError) {
    use super::rdb::load::corruption_report;
    let report = corruption_report(e).unwrap_or_else(|| e.to_string());
    log_warning!("{report}");
    crate::server::log::raw(
        format!(
            "[offset 0] Checking RDB file {file}\n--- RDB ERROR DETECTED ---\n[offset {}] {report}\n             [additional info] While doing: read-object-value\n",
            e.offset
        )
        .as_bytes(),
    );
    log_warning!("Terminating server after rdb file reading failure.");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::keyspace::{RStr, Value};
    use crate::types::{Set, ZSet};

    /// Every key comes back with its value, its expiry and its exact write timestamp, and
    /// the clock moves past the loaded timestamps.
    #[test]
    fn save_then_load_keeps_values_ttls_and_timestamps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dump.rdb");
        let mut a = Store::new(Config::default());
        let far = crate::util::time::unix_ms() + 3_600_000;
        let mut s = Set::new();
        for m in ["1", "2", "x"] {
            s.add(m.as_bytes(), 512);
        }
        let mut z = ZSet::new_large();
        z.add(1.5, b"m", Default::default(), crate::types::zset::Limits { max_entries: 128, max_value: 64 })
            .expect("score");
        let vals = [
            Value::Str(RStr::from_bytes(b"hello")),
            Value::Str(RStr::from_bytes(b"12345")),
            Value::Set(Box::new(s)),
            Value::ZSet(Box::new(z)),
        ];
        for (i, v) in vals.into_iter().enumerate() {
            let mut e = Entry::new(v, (1_700_000_000_000u64 << 20) + i as u64 * 7, 0);
            if i == 1 {
                e.expire = far;
            }
            a.dbs[i % 3].insert(format!("k{i}").as_bytes(), e);
        }
        save(&a, &path, 0, false).expect("save");
        let mut b = Store::new(Config::default());
        let info = load(&mut b, &path).expect("load");
        assert_eq!(info.keys, 4);
        for (db_a, db_b) in a.dbs.iter().zip(b.dbs.iter()) {
            assert_eq!(db_a.len(), db_b.len());
            for (k, e) in db_a.main.iter() {
                let f = db_b.peek(k.as_bytes()).expect("key loaded");
                assert_eq!(f.val, e.val);
                assert_eq!(f.expire, e.expire);
                assert_eq!(f.mvcc, e.mvcc, "timestamps survive exactly");
            }
        }
        assert!(b.clock.last() >= (1_700_000_000_000u64 << 20) + 21);
        // A corrupt file is an error, never a panic; the previous file is untouched by a
        // failed save.
        let mut bytes = std::fs::read(&path).expect("read");
        let n = bytes.len();
        bytes[n - 3] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        assert!(load(&mut Store::new(Config::default()), &path).unwrap_err().contains("checksum"));
    }
}
