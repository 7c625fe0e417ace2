//! The append-only file, in Redis 7's multi-part layout: in `appenddirname`, a base file
//! (an RDB snapshot, `<appendfilename>.<n>.base.rdb`), incremental files of commands
//! (`<appendfilename>.<n>.incr.aof`) and a manifest naming them
//! (`<appendfilename>.manifest`, lines `file <name> seq <n> type <b|i>`), so Redis 7 and
//! fluidB read each other's AOF directories.
//!
//! Every write reaches the AOF through the node's write stream: the stream copies its
//! bytes (commands, SELECTs, MULTI/EXEC) into `WriteStream::aof_tap`, and at the end of
//! each batch of commands, still under the store lock and before any reply of the batch
//! is sent, `flush` appends them to the incremental file. With `appendfsync always` the
//! file is fsynced there too, so an acknowledged write is on disk; with `everysec` a
//! background thread fsyncs once a second; with `no` the kernel decides.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::commands::call::Source;
use crate::config::AppendFsync;
use crate::protocol::parse::{ParseLimits, Parser};
use crate::protocol::Reply;
use crate::server::client::{Client, ClientShared};
use crate::server::store::Store;
use crate::server::Shared;

/// One file named by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: u64,
    /// 'b' (base) or 'i' (incremental).
    pub kind: char,
}

/// The manifest: the base file (if any) and the incremental files, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Part>,
    pub incrs: Vec<Part>,
}

impl Manifest {
    /// Parses a manifest (`aofLoadManifestFromFile`): one `key value` pair list per line.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.len().is_multiple_of(2) {
                return Err(format!("Invalid AOF manifest file format at line {}", n + 1));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for kv in words.chunks(2) {
                match kv[0] {
                    "file" => name = Some(kv[1].to_string()),
                    "seq" => seq = kv[1].parse::<u64>().ok(),
                    "type" => kind = kv[1].chars().next(),
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(format!("Invalid AOF manifest file format at line {}", n + 1));
            };
            if name.contains('/') {
                return Err(format!("File can't be a path at line {}", n + 1));
            }
            let part = Part { name, seq, kind };
            match kind {
                'b' if m.base.is_none() => m.base = Some(part),
                'b' => return Err("Found duplicate base file information".into()),
                'i' => m.incrs.push(part),
                'h' => {} // history: already replaced, to be deleted
                _ => return Err(format!("Unknown AOF file type at line {}", n + 1)),
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    pub fn format(&self) -> String {
        let mut s = String::new();
        for p in self.base.iter().chain(self.incrs.iter()) {
            s.push_str(&format!("file {} seq {} type {}\n", p.name, p.seq, p.kind));
        }
        s
    }
}

/// Group commit for `appendfsync always`: a batch's writes are appended under the store
/// lock, but the fsync happens outside it, on the `fluidb-aof-commit` thread, and one fsync
/// covers every batch written before it. A connection whose batch wrote awaits the fsync
/// of its bytes (asynchronously: its worker keeps serving other connections, whose writes
/// join the next fsync) before sending its replies. So with many clients one fsync
/// acknowledges many writes, as Redis's one fsync per event-loop iteration does.
pub struct GroupSync {
    /// The file to fsync (the current incremental AOF file), shared with the everysec thread.
    target: Arc<Mutex<Option<File>>>,
    /// Bytes ever written to the AOF (across files), updated after each write.
    written: std::sync::atomic::AtomicU64,
    /// The highest offset a connection waits for; the commit thread sleeps on `cv`.
    requested: Mutex<u64>,
    cv: parking_lot::Condvar,
    /// Bytes known to be on disk.
    synced: tokio::sync::watch::Sender<u64>,
    started: AtomicBool,
}

impl Default for GroupSync {
    fn default() -> Self {
        GroupSync {
            target: Arc::default(),
            written: Default::default(),
            requested: Mutex::new(0),
            cv: parking_lot::Condvar::new(),
            synced: tokio::sync::watch::channel(0).0,
            started: AtomicBool::new(false),
        }
    }
}

impl GroupSync {
    /// Bytes written to the AOF so far: a batch's durability target.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Counts `n` more bytes as written; `wake` prods the commit thread, which may sleep
    /// with waiters whose bytes a failed write held back.
    fn advance(&self, n: u64, wake: bool) {
        self.written.fetch_add(n, Ordering::AcqRel);
        if wake {
            let _r = self.requested.lock();
            self.cv.notify_one();
        }
    }

    /// Resolves once every AOF byte up to `upto` is fsynced.
    pub async fn wait_durable(self: &Arc<Self>, upto: u64) {
        let mut rx = self.synced.subscribe();
        if *rx.borrow() >= upto {
            return;
        }
        self.start_thread();
        {
            let mut r = self.requested.lock();
            if *r < upto {
                *r = upto;
                self.cv.notify_one();
            }
        }
        let _ = rx.wait_for(|&s| s >= upto).await;
    }

    fn start_thread(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let _ = std::thread::Builder::new().name("fluidb-aof-commit".into()).spawn(move || loop {
            {
                // Sleeps until someone waits for bytes that are written but not yet
                // synced (bytes a failed write holds back wake it through `advance`).
                let mut r = me.requested.lock();
                loop {
                    let synced = *me.synced.borrow();
                    if *r > synced && me.written() > synced {
                        break;
                    }
                    me.cv.wait(&mut r);
                }
            }
            let covered = me.written();
            // A failed fsync under `always` stops the server, as Redis does: an
            // acknowledged write must be on disk.
            if me.target.lock().as_ref().is_some_and(|f| f.sync_data().is_err()) {
                crate::log_warning!(
                    "Can't recover from AOF fsync error when the AOF fsync policy is 'always'. Exiting..."
                );
                std::process::exit(1);
            }
            me.synced.send_modify(|s| *s = (*s).max(covered));
        });
    }
}

/// The open AOF.
pub struct Aof {
    dir: PathBuf,
    manifest: Manifest,
    file: File,
    /// The file the everysec thread fsyncs (a clone of `file`'s descriptor).
    sync_target: Arc<Mutex<Option<File>>>,
    sync_failed: Arc<AtomicBool>,
    /// Whether the fsync thread works (`appendfsync everysec`); CONFIG SET switches it.
    everysec: Arc<AtomicBool>,
    /// Bytes in the current incremental file (`aof_current_size` counts the base too).
    pub incr_size: u64,
    pub base_size: u64,
    /// `aof_last_write_status`.
    pub last_write_ok: bool,
    /// What the last failed write or fsync said (the MISCONF reply names it, as Redis's
    /// `strerror(aof_last_write_errno)`).
    last_error: String,
}

fn manifest_name(cfg: &crate::config::Config) -> String {
    format!("{}.manifest", cfg.appendfilename)
}

/// Writes `data` to `path` atomically (temp file, fsync, rename, fsync the directory).
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Aof {
    /// Opens (creating if needed) the last incremental file for appending.
    fn open(store: &Store, dir: PathBuf, manifest: Manifest) -> io::Result<Aof> {
        let sync_target = store.aof_sync.target.clone();
        let incr = manifest.incrs.last().ok_or_else(|| io::Error::other("no incremental AOF file"))?;
        let path = dir.join(&incr.name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let incr_size = file.metadata()?.len();
        let base_size =
            manifest.base.as_ref().and_then(|b| fs::metadata(dir.join(&b.name)).ok()).map_or(0, |m| m.len());
        *sync_target.lock() = Some(file.try_clone()?);
        let sync_failed = Arc::new(AtomicBool::new(false));
        let everysec = Arc::new(AtomicBool::new(store.cfg.appendfsync == AppendFsync::Everysec));
        spawn_fsync_thread(sync_target.clone(), sync_failed.clone(), everysec.clone());
        Ok(Aof {
            dir,
            manifest,
            file,
            sync_target,
            sync_failed,
            everysec,
            incr_size,
            base_size,
            last_write_ok: true,
            last_error: String::new(),
        })
    }

    /// The manifest in use.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the AOF files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Follows `appendfsync` after CONFIG SET: the fsync thread works only under everysec.
    pub fn set_policy(&self, p: AppendFsync) {
        self.everysec.store(p == AppendFsync::Everysec, Ordering::Relaxed);
    }

    /// Whether an fsync of the everysec thread failed (writes are then refused).
    pub fn fsync_failed(&self) -> bool {
        self.sync_failed.load(Ordering::Relaxed)
    }
}

impl Drop for Aof {
    fn drop(&mut self) {
        // Stops the everysec thread's work on this file.
        *self.sync_target.lock() = None;
    }
}

/// The fsync thread: under `everysec`, once a second, `fdatasync` of the current file,
/// outside the store lock. It ends when the AOF is closed.
fn spawn_fsync_thread(target: Arc<Mutex<Option<File>>>, failed: Arc<AtomicBool>, everysec: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new().name("fluidb-aof-fsync".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        let guard = target.lock();
        let Some(f) = guard.as_ref() else { return };
        if everysec.load(Ordering::Relaxed) {
            failed.store(f.sync_data().is_err(), Ordering::Relaxed);
        }
    });
}

/// Appends what the write stream produced since the last call (end of every batch, and
/// the cron for expiry deletions). Under `appendfsync always` the connection then waits in
/// [`GroupSync::wait_durable`], after releasing the lock and before sending its replies.
///
/// A failed write (a full disk, a file size limit) keeps the bytes in the buffer and is
/// retried by the cron; meanwhile writes are refused with MISCONF, and under `always` the
/// connections whose writes are pending get no reply until their bytes are on disk. A
/// partial write is cut back off the file (Redis's `flushAppendOnlyFile`), so a retry
/// never leaves half a command in the middle of the file; if the truncation fails too,
/// the written part is dropped from the buffer instead.
pub fn flush(store: &mut Store) {
    let Some(aof) = store.aof.as_mut() else { return };
    let Some(buf) = store.stream.aof_tap.as_mut() else { return };
    if buf.is_empty() {
        return;
    }
    let (done, err) = write_some(&mut aof.file, buf);
    let Some(e) = err else {
        aof.incr_size += buf.len() as u64;
        store.aof_sync.advance(buf.len() as u64, !aof.last_write_ok);
        buf.clear();
        if !aof.last_write_ok {
            crate::log_notice!("AOF write error looks solved, Redis can write again.");
        }
        aof.last_write_ok = true;
        return;
    };
    if done > 0 {
        if aof.file.set_len(aof.incr_size).is_ok() {
            crate::log_warning!("Short write while writing to the AOF file ({done} of {} bytes); cut back", buf.len());
        } else {
            aof.incr_size += done as u64;
            store.aof_sync.advance(done as u64, false);
            buf.drain(..done);
        }
    }
    if aof.last_write_ok {
        crate::log_warning!("Error writing to the AOF file: {e}");
    }
    aof.last_write_ok = false;
    aof.last_error = crate::config::cstr::strerror(&e);
}

/// Writes as much of `data` as the file takes: the bytes written and the error that
/// stopped it, if any.
fn write_some(f: &mut File, data: &[u8]) -> (usize, Option<io::Error>) {
    let mut done = 0;
    while done < data.len() {
        match f.write(&data[done..]) {
            Ok(0) => return (done, Some(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// The AOF offset a batch that just wrote must see fsynced before it replies: every byte
/// handed to the AOF so far, including bytes still waiting for a failed write's retry.
pub fn durability_target(store: &Store) -> u64 {
    store.aof_sync.written() + store.stream.aof_tap.as_ref().map_or(0, |b| b.len() as u64)
}

/// The MISCONF error refusing writes after an AOF write or fsync failed
/// (`writeCommandsDeniedByDiskError`'s AOF part), or None while the AOF works.
pub fn writes_denied(store: &Store) -> Option<String> {
    let a = store.aof.as_ref()?;
    if a.last_write_ok && !a.fsync_failed() {
        return None;
    }
    let why = if a.last_write_ok { "fsync failed" } else { a.last_error.as_str() };
    Some(format!("-MISCONF Errors writing to the AOF file: {why}"))
}

/// At boot with `appendonly yes` (before the RDB is considered): loads the AOF named by the
/// manifest if there is one and returns true; otherwise returns false and the caller
/// loads the RDB, then calls [`start`] to create the AOF from the loaded data.
pub fn load_at_boot(shared: &Shared, store: &mut Store) -> Result<bool, String> {
    let dir = PathBuf::from(&store.cfg.appenddirname);
    let mpath = dir.join(manifest_name(&store.cfg));
    if !mpath.exists() {
        return Ok(false);
    }
    let text = fs::read_to_string(&mpath).map_err(|e| format!("{}: {e}", mpath.display()))?;
    let manifest = Manifest::parse(&text)?;
    let started = std::time::Instant::now();
    if let Some(b) = &manifest.base {
        let path = dir.join(&b.name);
        let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if data.starts_with(b"REDIS") {
            super::snapshot::load_bytes(store, &data).map_err(|e| format!("{} ({})", e, path.display()))?;
        } else {
            replay(shared, store, &path, &data, false)?;
        }
    }
    let n = manifest.incrs.len();
    for (i, p) in manifest.incrs.iter().enumerate() {
        let path = dir.join(&p.name);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound && i + 1 == n => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        replay(shared, store, &path, &data, i + 1 == n)?;
    }
    crate::log_notice!("DB loaded from append only file: {:.3} seconds", started.elapsed().as_secs_f64());
    let aof = Aof::open(store, dir, manifest).map_err(|e| e.to_string())?;
    install(store, aof);
    Ok(true)
}

/// Starts appending to a new AOF (boot without one, or CONFIG SET appendonly yes): the
/// current dataset becomes the base file (an RDB), with an empty incremental file after it.
pub fn start(store: &mut Store) -> Result<(), String> {
    let dir = PathBuf::from(&store.cfg.appenddirname);
    fs::create_dir_all(&dir).map_err(|e| format!("Can't create the AOF directory {}: {e}", dir.display()))?;
    let seq = 1;
    let base = Part { name: format!("{}.{seq}.base.rdb", store.cfg.appendfilename), seq, kind: 'b' };
    let incr = Part { name: format!("{}.{seq}.incr.aof", store.cfg.appendfilename), seq, kind: 'i' };
    super::snapshot::save(store, &dir.join(&base.name), 0, true)
        .map_err(|e| format!("Can't write the AOF base: {e}"))?;
    File::create(dir.join(&incr.name)).map_err(|e| e.to_string())?;
    let manifest = Manifest { base: Some(base), incrs: vec![incr] };
    write_atomically(&dir, &manifest_name(&store.cfg), manifest.format().as_bytes()).map_err(|e| e.to_string())?;
    crate::log_notice!("Creating AOF base file {} on server start", manifest.base.as_ref().map_or("", |b| &b.name));
    let aof = Aof::open(store, dir, manifest).map_err(|e| e.to_string())?;
    install(store, aof);
    Ok(())
}

/// Makes `aof` the file the write stream feeds. The next record starts with a SELECT.
fn install(store: &mut Store, aof: Aof) {
    store.aofrw.base_size = aof.base_size + aof.incr_size;
    store.stream.aof_tap = Some(Vec::with_capacity(1 << 16));
    store.stream.reset_db();
    store.aof = Some(aof);
}

/// Stops appending (CONFIG SET appendonly no): pending bytes are written first.
pub fn stop(store: &mut Store) {
    kill_rewrite(store);
    flush(store);
    // Bytes a failed write left behind are dropped with the AOF; their waiters are let go
    // (there is no longer a file to make them durable in).
    let left = store.stream.aof_tap.as_ref().map_or(0, |b| b.len() as u64);
    store.aof_sync.advance(left, true);
    store.stream.aof_tap = None;
    store.aof = None;
}

/// An annotation line at the start of `buf` (`#...\r\n`, as Redis 7 skips them): returns
/// its length, taking the write timestamp of a `#mvcc:<n>` line into `mvcc`. None if `buf`
/// does not start with a complete annotation.
fn annotation(buf: &[u8], mvcc: &mut Option<u64>) -> Option<usize> {
    if buf.first() != Some(&b'#') {
        return None;
    }
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    if let Some(v) = buf[..end].strip_prefix(b"#mvcc:") {
        *mvcc = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
    }
    Some(end + 2)
}

/// Replays one AOF file of commands (`loadSingleAppendOnlyFile`) through the normal command
/// path with a loading client. A truncated last command in the last file is cut off when
/// `aof-load-truncated` allows it; anything else that is not a whole command is an error
/// naming the file and the offset.
fn replay(shared: &Shared, store: &mut Store, path: &Path, data: &[u8], last_file: bool) -> Result<(), String> {
    let (cs, _rx) = ClientShared::new(0, "aof".into(), String::new(), -1);
    let mut client = Client::new(cs, true);
    client.is_master_link = true; // exempt from proto-max-bulk-len, as Redis's fake client
    let mut out = Reply::new();
    let mut parser = Parser::new();
    let mut buf = BytesMut::from(data);
    let mut argv: Vec<Bytes> = Vec::new();
    let lim = ParseLimits { max_bulk_len: i64::MAX, authenticated: true, is_master: true };
    let mut valid_up_to = 0usize;
    let mut pending_mvcc: Option<u64> = None;
    loop {
        if buf.is_empty() {
            break;
        }
        if let Some(consumed) = annotation(&buf, &mut pending_mvcc) {
            let _ = buf.split_to(consumed);
            valid_up_to = data.len() - buf.len();
            continue;
        }
        if buf[0] == b'#' {
            break; // an annotation cut short: a truncated tail
        }
        if buf[0] != b'*' && valid_up_to == data.len() - buf.len() {
            return Err(format!(
                "Bad file format reading the append only file {} at offset {valid_up_to}: make a backup of \
your AOF file, then use fluidb-check-aof --fix <filename.manifest>",
                path.display()
            ));
        }
        match parser.next_command(&mut buf, &lim, &mut argv) {
            Ok(true) => {
                valid_up_to = data.len() - buf.len();
                // A write takes the stamp annotated before it. Inside MULTI the stamps of
                // the queued commands wait for EXEC, which hands them out in order (the
                // stamps of MULTI and EXEC themselves are not write stamps and are dropped).
                let in_multi = client.multi.is_some();
                store.replay_mvcc.extend(pending_mvcc.take());
                store.begin_batch();
                crate::commands::call::call(shared, store, &mut client, &mut out, &argv);
                crate::commands::call::source_command_failed(store, Source::Aof, &argv[0], &out.buf);
                if !in_multi || client.multi.is_none() {
                    store.replay_mvcc.clear();
                }
                store.end_batch();
                out.buf.clear();
            }
            Ok(false) => break,
            Err(e) => {
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {valid_up_to}: {e:?}",
                    path.display()
                ))
            }
        }
    }
    if valid_up_to < data.len() {
        if !(last_file && store.cfg.aof_load_truncated) {
            return Err(format!(
                "Unexpected end of file reading the append only file {} at offset {valid_up_to}. You can: 1) Make a \
backup of your AOF file, then use fluidb-check-aof --fix <filename.manifest>. 2) Alternatively you can set the \
'aof-load-truncated' configuration option to yes and restart the server.",
                path.display()
            ));
        }
        crate::log_warning!(
            "!!! Warning: short read while loading the AOF file {}!!! AOF loaded anyway because aof-load-truncated \
is enabled; the last {} bytes are cut off",
            path.display(),
            data.len() - valid_up_to
        );
        let f = OpenOptions::new().write(true).open(path).map_err(|e| e.to_string())?;
        f.set_len(valid_up_to as u64).map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
    }
    if client.multi.is_some() {
        return Err(format!("Revert incomplete MULTI/EXEC transaction in AOF file {}", path.display()));
    }
    Ok(())
}

/// INFO persistence's AOF fields: (enabled, current size, base size).
pub fn info(store: &Store) -> (bool, u64, u64) {
    match &store.aof {
        Some(a) => (true, a.base_size + a.incr_size, a.base_size),
        None => (false, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_errors() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let m = Manifest::parse(text).expect("parse");
        assert_eq!(m.format(), text);
        assert_eq!(m.incrs.len(), 1);
        assert!(Manifest::parse("").is_err());
        assert!(Manifest::parse("file a seq 1").is_err());
        assert!(Manifest::parse("file ../x seq 1 type i").is_err());
        assert!(Manifest::parse("file a seq 1 type b\nfile b seq 2 type b\n").is_err());
    }
}

// ---------------------------------------------------------------------------------------
// BGREWRITEAOF.
// ---------------------------------------------------------------------------------------

/// A running rewrite: the child writing the new base, and the files it will replace.
#[derive(Debug)]
pub struct Rewrite {
    pub child: libc::pid_t,
    /// The base file the child writes.
    base: Part,
    /// The first incremental file after the fork: it and the later ones stay.
    first_kept_incr: Option<u64>,
    started: std::time::Instant,
}

/// Rewrite bookkeeping for INFO and the cron.
#[derive(Debug, Default)]
pub struct RewriteState {
    pub running: Option<Rewrite>,
    pub scheduled: bool,
    pub last_ok: bool,
    pub rewrites: u64,
    pub last_secs: i64,
    /// The AOF's size right after the last rewrite (`aof_rewrite_base_size`), for the
    /// automatic rewrites.
    pub base_size: u64,
}

impl RewriteState {
    pub fn new() -> Self {
        RewriteState { last_ok: true, last_secs: -1, ..Default::default() }
    }
}

/// Whether a background child (snapshot or rewrite) runs: one at a time, as in Redis.
pub fn has_active_child(store: &Store) -> bool {
    store.bgsave.in_progress() || store.aofrw.running.is_some()
}

fn next_part(cfg: &crate::config::Config, seq: u64, kind: char) -> Part {
    let ext = if kind == 'b' { "base.rdb" } else { "incr.aof" };
    Part { name: format!("{}.{seq}.{ext}", cfg.appendfilename), seq, kind }
}

/// Starts a rewrite (`rewriteAppendOnlyFileBackground`): with the AOF on, writing moves to a
/// new incremental file at once (recorded in the manifest), and a forked child writes the
/// dataset as of now as the new base. The old files stay valid until the child succeeds.
pub fn start_rewrite(store: &mut Store) -> Result<(), String> {
    if has_active_child(store) {
        return Err("a background child is already active".into());
    }
    flush(store);
    if store.stream.aof_tap.as_ref().is_some_and(|b| !b.is_empty()) {
        // Writes a failed AOF write holds back would land after a base that already has
        // them, and be applied twice at the next load.
        return Err("Can't rewrite append only file while writing to it fails".into());
    }
    let dir = PathBuf::from(&store.cfg.appenddirname);
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cfg = store.cfg.clone();
    let mut first_kept_incr = None;
    let base_seq = match store.aof.as_mut() {
        Some(aof) => {
            let seq = aof.manifest.incrs.last().map_or(0, |p| p.seq) + 1;
            let incr = next_part(&cfg, seq, 'i');
            let file =
                OpenOptions::new().create(true).append(true).open(dir.join(&incr.name)).map_err(|e| e.to_string())?;
            let mut m = aof.manifest.clone();
            m.incrs.push(incr);
            write_atomically(&dir, &manifest_name(&cfg), m.format().as_bytes()).map_err(|e| e.to_string())?;
            // Everything in the old file is made durable before the fsync target moves on.
            aof.file.sync_data().map_err(|e| e.to_string())?;
            *aof.sync_target.lock() = Some(file.try_clone().map_err(|e| e.to_string())?);
            aof.file = file;
            aof.manifest = m;
            aof.incr_size = 0;
            first_kept_incr = Some(seq);
            aof.manifest.base.as_ref().map_or(0, |b| b.seq) + 1
        }
        None => 1,
    };
    store.stream.reset_db();
    let base = next_part(&cfg, base_seq, 'b');
    let path = dir.join(&base.name);
    let pid = super::bgsave::fork_child(|| super::snapshot::save(store, &path, 0, true).is_ok())
        .map_err(|e| format!("Can't rewrite append only file in background: {e}"))?;
    store.bgsave.total_forks += 1;
    crate::log_notice!("Background append only file rewriting started by pid {pid}");
    store.aofrw.running = Some(Rewrite { child: pid, base, first_kept_incr, started: std::time::Instant::now() });
    Ok(())
}

/// Reaps a finished rewrite child (`backgroundRewriteDoneHandler`): on success the manifest
/// names the new base and the incremental files written since the fork, and the replaced
/// files are deleted; on failure the old files stay in use.
pub fn check_rewrite(store: &mut Store) {
    let Some(rw) = store.aofrw.running.as_ref() else { return };
    let Some(ok) = super::child::reap(rw.child) else { return };
    let Some(rw) = store.aofrw.running.take() else { return };
    store.aofrw.last_secs = rw.started.elapsed().as_secs() as i64;
    let dir = PathBuf::from(&store.cfg.appenddirname);
    if !ok {
        crate::log_warning!("Background AOF rewrite terminated with error");
        let _ = fs::remove_file(dir.join(&rw.base.name));
        let _ = fs::remove_file(super::snapshot::temp_path(&dir, rw.child as u32));
        store.aofrw.last_ok = false;
        return;
    }
    let old = store.aof.as_ref().map(|a| a.manifest.clone()).unwrap_or_default();
    let kept: Vec<Part> = match rw.first_kept_incr {
        Some(seq) => old.incrs.iter().filter(|p| p.seq >= seq).cloned().collect(),
        None => Vec::new(),
    };
    let m = Manifest { base: Some(rw.base.clone()), incrs: kept };
    if let Err(e) = write_atomically(&dir, &manifest_name(&store.cfg), m.format().as_bytes()) {
        crate::log_warning!("Error trying to persist the AOF manifest after a rewrite: {e}");
        let _ = fs::remove_file(dir.join(&rw.base.name));
        store.aofrw.last_ok = false;
        return;
    }
    for p in old.base.iter().chain(old.incrs.iter()) {
        if !m.incrs.contains(p) && m.base.as_ref() != Some(p) {
            let _ = fs::remove_file(dir.join(&p.name));
        }
    }
    let base_size = fs::metadata(dir.join(&rw.base.name)).map_or(0, |md| md.len());
    if let Some(aof) = store.aof.as_mut() {
        aof.manifest = m;
        aof.base_size = base_size;
        store.aofrw.base_size = base_size + aof.incr_size;
    }
    store.aofrw.last_ok = true;
    store.aofrw.rewrites += 1;
    crate::log_notice!("Background AOF rewrite finished successfully");
}

/// The cron's part: reap the child, run a scheduled rewrite, and the automatic rewrite
/// when the AOF grew by `auto-aof-rewrite-percentage` since the last one (and is at least
/// `auto-aof-rewrite-min-size`).
pub fn cron(store: &mut Store) {
    check_rewrite(store);
    if has_active_child(store) {
        return;
    }
    let due_scheduled = store.aofrw.scheduled;
    let due_auto = match (&store.aof, store.cfg.auto_aof_rewrite_percentage) {
        (Some(a), perc) if perc > 0 => {
            let size = a.base_size + a.incr_size;
            let base = store.aofrw.base_size.max(1);
            size >= store.cfg.auto_aof_rewrite_min_size as u64
                && (size.saturating_sub(base)) * 100 / base >= perc as u64
        }
        _ => false,
    };
    if due_scheduled || due_auto {
        store.aofrw.scheduled = false;
        if due_auto {
            crate::log_notice!("Starting automatic rewriting of AOF");
        }
        if let Err(e) = start_rewrite(store) {
            crate::log_warning!("{e}");
            store.aofrw.last_ok = false;
        }
    }
}

/// Kills a running rewrite (SHUTDOWN, CONFIG SET appendonly no) and removes its partial
/// base; the manifest still names the previous files.
pub fn kill_rewrite(store: &mut Store) {
    if let Some(rw) = store.aofrw.running.take() {
        super::child::kill(rw.child);
        let dir = PathBuf::from(&store.cfg.appenddirname);
        let _ = fs::remove_file(dir.join(&rw.base.name));
        let _ = fs::remove_file(super::snapshot::temp_path(&dir, rw.child as u32));
    }
}

/// What a check of an AOF file of commands found (`redis-check-aof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Bytes that form whole commands (and whole MULTI/EXEC blocks).
    pub ok_up_to: usize,
    pub commands: u64,
    /// What is wrong after `ok_up_to`, if anything.
    pub problem: Option<String>,
}

/// Checks a file of RESP commands without executing them: every command complete and
/// well formed, every MULTI closed by EXEC.
pub fn check_commands(data: &[u8]) -> Checked {
    let mut parser = Parser::new();
    let mut buf = BytesMut::from(data);
    let mut argv: Vec<Bytes> = Vec::new();
    let lim = ParseLimits { max_bulk_len: i64::MAX, authenticated: true, is_master: true };
    let (mut ok_up_to, mut commands) = (0usize, 0u64);
    let mut multi_start: Option<usize> = None;
    let problem = loop {
        let at = data.len() - buf.len();
        if buf.is_empty() {
            break None;
        }
        let mut ignored = None;
        if let Some(n) = annotation(&buf, &mut ignored) {
            let _ = buf.split_to(n);
            if multi_start.is_none() {
                ok_up_to = data.len() - buf.len();
            }
            continue;
        }
        if buf[0] == b'#' {
            break Some(format!("Unexpected EOF reading an annotation at offset {at}"));
        }
        if buf[0] != b'*' {
            break Some(format!("Expected prefix '*', got: '{}' at offset {at}", buf[0] as char));
        }
        match parser.next_command(&mut buf, &lim, &mut argv) {
            Ok(true) => {
                let end = data.len() - buf.len();
                commands += 1;
                let name = argv.first().map(|a| a.to_ascii_lowercase()).unwrap_or_default();
                match (name.as_slice(), multi_start) {
                    (b"multi", Some(_)) => break Some(format!("Unexpected MULTI at offset {at}")),
                    (b"multi", None) => multi_start = Some(at),
                    (b"exec", None) => break Some(format!("Unexpected EXEC at offset {at}")),
                    (b"exec", Some(_)) => {
                        multi_start = None;
                        ok_up_to = end;
                    }
                    (_, None) => ok_up_to = end,
                    (_, Some(_)) => {}
                }
            }
            Ok(false) => break Some(format!("Unexpected EOF reading the command at offset {at}")),
            Err(e) => break Some(format!("Invalid command at offset {at}: {e:?}")),
        }
    };
    let problem = match (problem, multi_start) {
        (None, Some(at)) => Some(format!("Reached EOF before reading EXEC for MULTI at offset {at}")),
        (p, _) => p,
    };
    Checked { ok_up_to, commands, problem }
}
