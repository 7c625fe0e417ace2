//! The append-only file, in Redis 7's multi-part layout: in `appenddirname`, a base file
//! (an RDB snapshot `<appendfilename>.<n>.base.rdb`, or commands `....base.aof` under
//! `aof-use-rdb-preamble no`), incremental files of commands (`<appendfilename>.<n>.incr.aof`)
//! and a manifest naming them (`<appendfilename>.manifest`, lines `file <name> seq <n> type
//! <b|h|i>`), so Redis 7 and fluidB read each other's AOF directories. The manifest, its
//! checks and error messages, the loading of each file, the upgrade of an old single-file
//! AOF, the rewrite and its history files follow Redis's aof.c.
//!
//! Every write reaches the AOF through the node's write stream: the stream copies its
//! bytes (commands, SELECTs, MULTI/EXEC) into `WriteStream::aof_tap`, and at the end of
//! each batch of commands, still under the store lock and before any reply of the batch
//! is sent, `flush` appends them to the incremental file. With `appendfsync always` the
//! reply waits for the fsync too, so an acknowledged write is on disk; with `everysec` a
//! background thread fsyncs once a second; with `no` the kernel decides.
//!
//! States (Redis's `aof_state`): off; on (appending to the last incremental file of the
//! manifest); waiting for the rewrite that `CONFIG SET appendonly yes` starts (writes go to
//! a temporary incremental file, which becomes part of the manifest only when the new base
//! is complete, so the files on disk never describe a half-built AOF).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::config::cstr::atoi;
use crate::config::AppendFsync;
use crate::protocol::parse::{ParseLimits, Parser};
use crate::protocol::Reply;
use crate::server::client::{Client, ClientId, ClientShared};
use crate::server::store::Store;
use crate::server::Shared;

/// The id of the client that replays the AOF (Redis's CLIENT_ID_AOF).
pub const LOADER_CLIENT_ID: ClientId = u64::MAX;

/// Longest manifest line (MANIFEST_MAX_LINE).
const MANIFEST_MAX_LINE: usize = 1024;

/// One file named by the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: i64,
    /// 'b' (base), 'h' (history: replaced, to be deleted) or 'i' (incremental).
    pub kind: char,
}

/// The manifest (Redis's `aofManifest`): the base file, the history files and the
/// incremental files, with the last sequence numbers handed out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Part>,
    pub history: Vec<Part>,
    pub incrs: Vec<Part>,
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
}

/// Why a manifest was refused: Redis's message, and the offending line when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub msg: &'static str,
    pub line: Option<(usize, String)>,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.line {
            Some((n, l)) => write!(f, "{} (line {n}: '{l}')", self.msg),
            None => write!(f, "{}", self.msg),
        }
    }
}

/// `sdsneedsrepr`: whether a file name must be quoted in the manifest.
fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| matches!(c, b'\\' | b'"') || !(0x21..=0x7e).contains(&c))
}

impl Manifest {
    /// Parses a manifest as `aofLoadManifestFromFile` does: `fgets` lines of at most 1024
    /// bytes, comments skipped, every other line split like `sdssplitargs` into at least
    /// six words of key/value pairs (unknown keys are allowed, for forward compatibility).
    pub fn parse(data: &[u8]) -> Result<Manifest, ManifestError> {
        let err = |msg, line| Err(ManifestError { msg, line });
        let mut m = Manifest::default();
        let mut maxseq = 0i64;
        let mut linenum = 0usize;
        let mut rest = data;
        loop {
            if rest.is_empty() {
                if linenum == 0 {
                    return err("Found an empty AOF manifest", None);
                }
                return Ok(m);
            }
            // fgets: up to and including '\n', at most MANIFEST_MAX_LINE bytes.
            let limit = rest.len().min(MANIFEST_MAX_LINE);
            let end = rest[..limit].iter().position(|&c| c == b'\n').map_or(limit, |p| p + 1);
            let (buf, tail) = rest.split_at(end);
            rest = tail;
            linenum += 1;
            if buf.first() == Some(&b'#') {
                continue;
            }
            if !buf.contains(&b'\n') {
                return err("The AOF manifest file contains too long line", None);
            }
            let trimmed = trim(buf);
            let shown = String::from_utf8_lossy(trimmed).into_owned();
            let here = || Some((linenum, shown.clone()));
            if trimmed.is_empty() {
                return err("Invalid AOF manifest file format", here());
            }
            let argv = match crate::util::splitargs::split_args(trimmed) {
                Some(a) if a.len() >= 6 && a.len().is_multiple_of(2) => a,
                _ => return err("Invalid AOF manifest file format", here()),
            };
            let (mut name, mut seq, mut kind) = (None::<Vec<u8>>, 0i64, None::<u8>);
            for kv in argv.chunks(2) {
                if kv[0].eq_ignore_ascii_case(b"file") {
                    if kv[1].contains(&b'/') {
                        return err("File can't be a path, just a filename", here());
                    }
                    name = Some(kv[1].clone());
                } else if kv[0].eq_ignore_ascii_case(b"seq") {
                    seq = atoi(&kv[1]);
                } else if kv[0].eq_ignore_ascii_case(b"type") {
                    kind = kv[1].first().copied();
                }
            }
            let (Some(name), true, Some(kind)) = (name, seq != 0, kind.filter(|&k| k != 0)) else {
                return err("Invalid AOF manifest file format", here());
            };
            let part = Part { name: String::from_utf8_lossy(&name).into_owned(), seq, kind: kind as char };
            match kind {
                b'b' if m.base.is_some() => return err("Found duplicate base file information", here()),
                b'b' => {
                    m.curr_base_seq = seq;
                    m.base = Some(part);
                }
                b'h' => m.history.push(part),
                b'i' if seq <= maxseq => return err("Found a non-monotonic sequence number", here()),
                b'i' => {
                    m.curr_incr_seq = seq;
                    maxseq = seq;
                    m.incrs.push(part);
                }
                _ => return err("Unknown AOF file type", here()),
            }
        }
    }

    /// The manifest's text (`getAofManifestAsString`): base, history, incrementals; names
    /// that need it are quoted as `sdscatrepr` does.
    pub fn format(&self) -> String {
        let mut s = String::new();
        for p in self.base.iter().chain(self.history.iter()).chain(self.incrs.iter()) {
            let name = if needs_repr(p.name.as_bytes()) {
                crate::config::cstr::repr(p.name.as_bytes())
            } else {
                p.name.clone()
            };
            s.push_str(&format!("file {name} seq {} type {}\n", p.seq, p.kind));
        }
        s
    }

    /// Whether it names no base and no incremental file.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incrs.is_empty()
    }

    /// `getNewBaseFileNameAndMarkPreAsHistory`: the next base's name; the current base
    /// becomes history.
    fn new_base(&mut self, cfg: &crate::config::Config) -> String {
        if let Some(mut b) = self.base.take() {
            b.kind = 'h';
            self.history.insert(0, b);
        }
        self.curr_base_seq += 1;
        let fmt = if cfg.aof_use_rdb_preamble { "rdb" } else { "aof" };
        let name = format!("{}.{}.base.{fmt}", cfg.appendfilename, self.curr_base_seq);
        self.base = Some(Part { name: name.clone(), seq: self.curr_base_seq, kind: 'b' });
        name
    }

    /// `getNewIncrAofName`: a new incremental file at the end of the list.
    fn new_incr(&mut self, cfg: &crate::config::Config) -> String {
        self.curr_incr_seq += 1;
        let name = format!("{}.{}.incr.aof", cfg.appendfilename, self.curr_incr_seq);
        self.incrs.push(Part { name: name.clone(), seq: self.curr_incr_seq, kind: 'i' });
        name
    }

    /// `markRewrittenIncrAofAsHistory`: the incremental files a completed rewrite covers
    /// become history; with the AOF on, the last one (being written) stays.
    fn mark_rewritten_incrs_as_history(&mut self, aof_open: bool) {
        let keep = usize::from(aof_open && !self.incrs.is_empty());
        let moved: Vec<Part> = self.incrs.drain(..self.incrs.len() - keep).collect();
        for mut p in moved.into_iter().rev() {
            p.kind = 'h';
            self.history.insert(0, p);
        }
    }
}

/// `sdstrim(line, " \t\r\n")`.
fn trim(b: &[u8]) -> &[u8] {
    let is = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !is(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is(c)).map_or(start, |p| p + 1);
    &b[start..end]
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

/// Redis's `aof_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AofState {
    #[default]
    Off,
    On,
    /// `appendonly` was switched on: waiting for the rewrite that creates the new base.
    WaitRewrite,
}

/// The open incremental file.
pub struct Aof {
    /// Its name in the AOF directory.
    name: String,
    /// The temporary incremental file of the wait-for-rewrite state (not in the manifest).
    temp: bool,
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

/// The AOF directory (relative to the working directory, which is `dir`).
pub fn aof_dir(cfg: &crate::config::Config) -> PathBuf {
    PathBuf::from(&cfg.appenddirname)
}

fn manifest_name(cfg: &crate::config::Config) -> String {
    format!("{}.manifest", cfg.appendfilename)
}

fn temp_incr_name(cfg: &crate::config::Config) -> String {
    format!("temp-{}.incr", cfg.appendfilename)
}

/// The file a rewrite child writes its base into, in the working directory.
fn temp_rewrite_name(pid: u32) -> String {
    format!("temp-rewriteaof-bg-{pid}.aof")
}

fn strerror(e: &io::Error) -> String {
    crate::config::cstr::strerror(e)
}

/// `writeAofManifestFile`: the temporary manifest, fsynced, renamed over the manifest,
/// the directory fsynced. Logs Redis's messages on failure.
fn persist_manifest(cfg: &crate::config::Config, m: &Manifest) -> Result<(), Logged> {
    let dir = aof_dir(cfg);
    let name = manifest_name(cfg);
    let tmp_name = format!("temp-{name}");
    let tmp = dir.join(&tmp_name);
    let mut f = File::create(&tmp).map_err(|e| {
        crate::log_warning!("Can't open the AOF manifest file {tmp_name}: {}", strerror(&e));
        Logged
    })?;
    f.write_all(m.format().as_bytes()).map_err(|e| {
        crate::log_warning!("Error trying to write the temporary AOF manifest file {tmp_name}: {}", strerror(&e));
        Logged
    })?;
    f.sync_all().map_err(|e| {
        crate::log_warning!("Fail to fsync the temp AOF file {tmp_name}: {}.", strerror(&e));
        Logged
    })?;
    fs::rename(&tmp, dir.join(&name)).map_err(|e| {
        crate::log_warning!(
            "Error trying to rename the temporary AOF manifest file {tmp_name} into {name}: {}",
            strerror(&e)
        );
        Logged
    })?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| {
        crate::log_warning!("Fail to fsync AOF directory {}: {}.", dir.join(&name).display(), strerror(&e));
        Logged
    })
}

impl Aof {
    /// Opens `name` in the AOF directory for appending (`truncate`: emptied first).
    fn open(store: &Store, name: &str, temp: bool, truncate: bool) -> io::Result<Aof> {
        let path = aof_dir(&store.cfg).join(name);
        let file = OpenOptions::new().create(true).append(true).truncate(false).open(&path)?;
        if truncate {
            file.set_len(0)?;
        }
        let incr_size = file.metadata()?.len();
        let base_size = store
            .aofrw
            .manifest
            .base
            .as_ref()
            .and_then(|b| fs::metadata(aof_dir(&store.cfg).join(&b.name)).ok())
            .map_or(0, |m| m.len());
        let sync_target = store.aof_sync.target.clone();
        *sync_target.lock() = Some(file.try_clone()?);
        let sync_failed = Arc::new(AtomicBool::new(false));
        let everysec = Arc::new(AtomicBool::new(store.cfg.appendfsync == AppendFsync::Everysec));
        spawn_fsync_thread(sync_target.clone(), sync_failed.clone(), everysec.clone());
        Ok(Aof {
            name: name.to_string(),
            temp,
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

    /// The file being appended to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Follows `appendfsync` after CONFIG SET: the fsync thread works only under everysec.
    pub fn set_policy(&self, p: AppendFsync) {
        self.everysec.store(p == AppendFsync::Everysec, Ordering::Relaxed);
    }

    /// Whether an fsync of the everysec thread failed (writes are then refused).
    pub fn fsync_failed(&self) -> bool {
        self.sync_failed.load(Ordering::Relaxed)
    }

    /// Moves appending to `file` (a new incremental file), after making everything in the
    /// previous one durable.
    fn switch_to(&mut self, name: String, file: File, temp: bool) -> io::Result<()> {
        self.file.sync_data()?;
        *self.sync_target.lock() = Some(file.try_clone()?);
        self.file = file;
        self.name = name;
        self.temp = temp;
        self.incr_size = 0;
        Ok(())
    }
}

impl Drop for Aof {
    fn drop(&mut self) {
        // The last bytes become durable (Redis's stopAppendOnly fsyncs), and the everysec
        // thread stops working on this file.
        let _ = self.file.sync_data();
        *self.sync_target.lock() = None;
    }
}

/// A failure whose reason is already in the log: Redis logs it and exits, and so does
/// the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged;

/// The current state (Redis's `aof_state`).
pub fn state(store: &Store) -> AofState {
    store.aofrw.state
}

/// Makes `aof` the file the write stream feeds. The next record starts with a SELECT.
fn install(store: &mut Store, aof: Aof) {
    store.stream.aof_timestamps = store.cfg.aof_timestamp_enabled;
    store.stream.aof_mvcc = store.cfg.active_replica;
    store.stream.aof_tap = Some(Vec::with_capacity(1 << 16));
    store.stream.reset_db();
    store.aof = Some(aof);
}

/// Closes the open file; writes stop reaching the AOF (their waiters under `always` are
/// let go: there is no file to make them durable in any more).
fn uninstall(store: &mut Store) {
    let left = store.stream.aof_tap.as_ref().map_or(0, |b| b.len() as u64);
    store.aof_sync.advance(left, true);
    store.stream.aof_tap = None;
    store.aof = None;
}

/// Makes the open AOF file durable now (at shutdown).
pub fn fsync(store: &Store) -> io::Result<()> {
    match &store.aof {
        Some(a) => a.file.sync_data(),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Loading.
// ---------------------------------------------------------------------------------------

/// What loading one file, or the whole AOF, ended with (Redis's AOF_OK, AOF_NOT_EXIST...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStatus {
    Ok,
    NotExist,
    Empty,
    OpenErr,
    Failed,
    Truncated,
}

/// `aofLoadManifestFromDisk`: the manifest in the AOF directory, or an empty one when the
/// directory or the manifest does not exist (an AOF from before Redis 7, or none). A
/// manifest that cannot be read or is invalid is fatal: Redis's report is logged and Err
/// returned (the caller exits).
pub fn load_manifest_from_disk(cfg: &crate::config::Config) -> Result<Manifest, Logged> {
    let dir = aof_dir(cfg);
    if !dir.is_dir() {
        crate::log_debug!("The AOF directory {} doesn't exist", dir.display());
        return Ok(Manifest::default());
    }
    let name = manifest_name(cfg);
    let path = dir.join(&name);
    if !path.exists() {
        crate::log_debug!("The AOF manifest file {name} doesn't exist");
        return Ok(Manifest::default());
    }
    let data = fs::read(&path).map_err(|e| {
        crate::log_warning!(
            "Fatal error: can't open the AOF manifest file {} for reading: {}",
            path.display(),
            strerror(&e)
        );
        Logged
    })?;
    Manifest::parse(&data).map_err(|e| {
        crate::log_warning!("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
        if let Some((n, line)) = &e.line {
            crate::log_warning!("Reading the manifest file, at line {n}\n");
            crate::log_warning!(">>> '{line}'\n");
        }
        crate::log_warning!("{}\n", e.msg);
        Logged
    })
}

/// Creates the AOF directory if it does not exist (logging why it could not).
fn create_aof_dir(dir: &Path) -> Result<(), Logged> {
    fs::create_dir_all(dir).map_err(|e| {
        crate::log_warning!("Can't open or create append-only dir {}: {}", dir.display(), strerror(&e));
        Logged
    })
}

/// `aofUpgradePrepare`: an AOF from before Redis 7 (`appendfilename` in the working
/// directory) becomes the base of a manifest and moves into the AOF directory. A crash at
/// any step is harmless: the next start finishes the upgrade.
fn upgrade_prepare(store: &mut Store) -> Result<(), Logged> {
    let cfg = store.cfg.clone();
    let dir = aof_dir(&cfg);
    create_aof_dir(&dir)?;
    let m = &mut store.aofrw.manifest;
    m.base = Some(Part { name: cfg.appendfilename.clone(), seq: 1, kind: 'b' });
    m.curr_base_seq = 1;
    persist_manifest(&cfg, &store.aofrw.manifest)?;
    fs::rename(&cfg.appendfilename, dir.join(&cfg.appendfilename)).map_err(|e| {
        crate::log_warning!(
            "Error trying to move the old AOF file {} into dir {}: {}",
            cfg.appendfilename,
            cfg.appenddirname,
            strerror(&e)
        );
        Logged
    })?;
    crate::log_notice!(
        "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
        cfg.appendfilename,
        cfg.appenddirname
    );
    Ok(())
}

/// `loadAppendOnlyFiles`: the base, then every incremental file, in manifest order. Only
/// the last file may end with a cut command (when `aof-load-truncated` allows it).
pub fn load_files(shared: &Shared, store: &mut Store) -> LoadStatus {
    let cfg = store.cfg.clone();
    if Path::new(&cfg.appendfilename).is_file() {
        let m = &store.aofrw.manifest;
        let only_old_base = m.incrs.is_empty()
            && m.base.as_ref().is_some_and(|b| b.name == cfg.appendfilename)
            && !aof_dir(&cfg).join(&cfg.appendfilename).exists();
        if (!aof_dir(&cfg).is_dir() || m.is_empty() || only_old_base) && upgrade_prepare(store).is_err() {
            return LoadStatus::Failed;
        }
    }
    let m = store.aofrw.manifest.clone();
    if m.is_empty() {
        return LoadStatus::NotExist;
    }
    let files: Vec<&Part> = m.base.iter().chain(m.incrs.iter()).collect();
    // The sizes first: a file named by the manifest but missing is fatal.
    let mut total = 0u64;
    for p in &files {
        match fs::metadata(aof_dir(&cfg).join(&p.name)) {
            Ok(md) => total += md.len(),
            Err(e) => {
                crate::log_warning!("Unable to obtain the AOF file {} length. stat: {}", p.name, strerror(&e));
                return LoadStatus::Failed;
            }
        }
    }
    if total == 0 {
        return LoadStatus::Empty;
    }
    let mut status = LoadStatus::Ok;
    for (i, p) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let started = std::time::Instant::now();
        status = load_single(shared, store, &p.name);
        if status == LoadStatus::Ok || (status == LoadStatus::Truncated && last) {
            let what = if p.kind == 'b' { "base" } else { "incr" };
            crate::log_notice!("DB loaded from {what} file {}: {:.3} seconds", p.name, started.elapsed().as_secs_f64());
        }
        if status == LoadStatus::Empty && p.kind == 'i' {
            // One of the files has data: an empty incremental file is fine.
            status = LoadStatus::Ok;
        }
        if status == LoadStatus::Truncated && !last {
            crate::log_warning!("Fatal error: the truncated file is not the last file");
            return LoadStatus::Failed;
        }
        if matches!(status, LoadStatus::OpenErr | LoadStatus::Failed) {
            return status;
        }
    }
    if let Some(b) = &m.base {
        store.aofrw.base_size = fs::metadata(aof_dir(&cfg).join(&b.name)).map_or(0, |md| md.len());
    }
    status
}

/// The client that replays the AOF: exempt from the client limits, as Redis's fake client.
fn loader_client() -> Client {
    let (cs, _rx) = ClientShared::new(LOADER_CLIENT_ID, "aof".into(), String::new(), -1);
    let mut client = Client::new(cs, true);
    client.is_master_link = true;
    client
}

/// One line as `fgets` reads it: up to and including '\n', or the rest of the file.
fn next_line(data: &[u8], at: usize) -> Option<&[u8]> {
    let rest = data.get(at..).filter(|r| !r.is_empty())?;
    let end = rest.iter().position(|&c| c == b'\n').map_or(rest.len(), |p| p + 1);
    Some(&rest[..end])
}

/// How reading a file of commands ended.
enum ReadEnd {
    /// The whole file was read.
    Eof,
    /// A command was cut short (`readerr` at end of file, Redis's `uxeof`).
    Truncated,
    /// Not the AOF format (`fmterr`).
    BadFormat,
    /// A command this server does not know.
    Unknown(String),
    /// The file ended inside MULTI: like a cut command, the transaction is dropped.
    RevertedMulti,
}

/// `loadSingleAppendOnlyFile`: one file of the AOF, through the normal command path with
/// the loading client (writes during a load reach neither the stream nor the AOF). An RDB
/// file (a base, or the preamble of an old-style AOF) is loaded as such, then any commands
/// after it.
pub fn load_single(shared: &Shared, store: &mut Store, name: &str) -> LoadStatus {
    let path = aof_dir(&store.cfg).join(name);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::log_warning!("The append log file {name} doesn't exist: {}", strerror(&e));
            return LoadStatus::NotExist;
        }
        Err(e) => {
            crate::log_warning!("Fatal error: can't open the append log file {name} for reading: {}", strerror(&e));
            return LoadStatus::OpenErr;
        }
    };
    if data.is_empty() {
        return LoadStatus::Empty;
    }
    let old_style = name == store.cfg.appendfilename;
    let mut start = 0;
    if data.starts_with(b"REDIS") {
        if old_style {
            crate::log_notice!("Reading RDB preamble from AOF file...");
        } else {
            crate::log_notice!("Reading RDB base file on AOF loading...");
        }
        match super::snapshot::load_aof_preamble(store, &data) {
            Ok(end) => start = end,
            Err(e) => {
                if old_style {
                    crate::log_warning!(
                        "Error reading the RDB preamble of the AOF file {name}, AOF loading aborted ({e})"
                    );
                } else {
                    crate::log_warning!("Error reading the RDB base file {name}, AOF loading aborted ({e})");
                }
                return LoadStatus::Failed;
            }
        }
        if old_style {
            crate::log_notice!("Reading the remaining AOF tail...");
        }
    }
    let truncated_ok = store.cfg.aof_load_truncated;
    let (end, valid_up_to) = replay(shared, store, &data, start);
    match end {
        ReadEnd::Eof => return LoadStatus::Ok,
        ReadEnd::RevertedMulti => crate::log_warning!("Revert incomplete MULTI/EXEC transaction in AOF file {name}"),
        ReadEnd::Unknown(cmd) => {
            crate::log_warning!("Unknown command '{cmd}' reading the append only file {name}");
            return LoadStatus::Failed;
        }
        ReadEnd::BadFormat => {
            crate::log_warning!(
                "Bad file format reading the append only file {name} at offset {valid_up_to}: make a backup of your \
AOF file, then use ./redis-check-aof --fix <filename.manifest>"
            );
            return LoadStatus::Failed;
        }
        ReadEnd::Truncated => {}
    }
    if truncated_ok {
        crate::log_warning!("!!! Warning: short read while loading the AOF file {name}!!!");
        crate::log_warning!("!!! Truncating the AOF {name} at offset {valid_up_to} !!!");
        let cut = OpenOptions::new().write(true).open(&path).and_then(|f| {
            f.set_len(valid_up_to as u64)?;
            f.sync_all()
        });
        match cut {
            Ok(()) => {
                crate::log_warning!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                return LoadStatus::Truncated;
            }
            Err(e) => crate::log_warning!("Error truncating the AOF file {name}: {}", strerror(&e)),
        }
    }
    crate::log_warning!(
        "Unexpected end of file reading the append only file {name} at offset {valid_up_to}. You can: 1) Make a \
backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the \
'aof-load-truncated' configuration option to yes and restart the server."
    );
    LoadStatus::Failed
}

/// Executes the commands of `data` from `start`, reading them the way Redis's loader does
/// (`*<argc>` and `$<len>` lines, then the bytes); returns how the file ended and the end
/// of the last complete command (before an unfinished MULTI: a transaction is all or
/// nothing).
fn replay(shared: &Shared, store: &mut Store, data: &[u8], start: usize) -> (ReadEnd, usize) {
    let mut client = loader_client();
    let mut out = Reply::new();
    let table = crate::commands::table::CommandTable::get();
    let mut at = start;
    let mut valid_up_to = start;
    let mut valid_before_multi = start;
    let mut pending_mvcc: Option<u64> = None;
    let mut pending_counter: Option<crate::keyspace::counters::Counter> = None;
    let mut pending_fields: Option<crate::keyspace::counters::HashCounter> = None;
    let key_delay = store.cfg.key_load_delay as i64;
    let mut loops = 0u64;
    let end = 'read: loop {
        let Some(line) = next_line(data, at) else { break ReadEnd::Eof };
        at += line.len();
        if line[0] == b'#' {
            if let Some(v) = trim(line).strip_prefix(b"#repl-masters:") {
                if store.cfg.active_replica {
                    store.repl.restored_masters = crate::replication::parse_repl_masters(&String::from_utf8_lossy(v));
                }
                continue;
            }
            let origin = &mut store.repl.active.replay_origin;
            annotation(line, &mut pending_mvcc, (&mut pending_counter, &mut pending_fields), origin);
            continue;
        }
        if line[0] != b'*' {
            break ReadEnd::BadFormat;
        }
        if line.len() == 1 {
            break ReadEnd::Truncated;
        }
        let argc = atoi(&line[1..]);
        if argc < 1 || argc > (data.len() - at) as i64 / 4 + 1 {
            // A count no file of this size can hold is as wrong as a missing one.
            if argc < 1 {
                break ReadEnd::BadFormat;
            }
            break ReadEnd::Truncated;
        }
        let mut argv: Vec<Bytes> = Vec::with_capacity(argc as usize);
        for _ in 0..argc {
            let Some(l) = next_line(data, at) else { break 'read ReadEnd::Truncated };
            if l[0] != b'$' {
                break 'read ReadEnd::BadFormat;
            }
            at += l.len();
            let len = atoi(&l[1..]);
            if len < 0 {
                break 'read ReadEnd::BadFormat;
            }
            let len = len as usize;
            if data.len() - at < len.saturating_add(2) {
                break 'read ReadEnd::Truncated;
            }
            argv.push(Bytes::copy_from_slice(&data[at..at + len]));
            at += len + 2; // the CRLF is skipped unchecked, as Redis does
        }
        if table.lookup(&argv[0]).is_none() {
            break ReadEnd::Unknown(String::from_utf8_lossy(&argv[0]).into_owned());
        }
        if argv[0].eq_ignore_ascii_case(b"multi") {
            valid_before_multi = valid_up_to;
        }
        // A write takes the stamp annotated before it. Inside MULTI the stamps of the
        // queued commands wait for EXEC, which hands them out in order (the stamps of
        // MULTI and EXEC themselves are not write stamps and are dropped).
        let in_multi = client.multi.is_some();
        store.replay_mvcc.extend(pending_mvcc.take());
        store.begin_batch();
        // Source::Aof: no key expires meanwhile (Redis's `server.loading`), and nothing
        // executed reaches the write stream (the replicas and the AOF have it already).
        crate::commands::call::call(shared, store, &mut client, &mut out, &argv, crate::commands::call::Source::Aof);
        crate::commands::call::source_command_failed(store, crate::commands::call::Source::Aof, &argv[0], &out.buf);
        if let (Some(c), Some(key)) = (pending_counter.take(), argv.get(1)) {
            // The counter state of the key the command (its state record) wrote.
            store.clock.observe(c.stamp());
            store.dbs[client.db].counters.set(key, c);
        }
        if let (Some(h), Some(key)) = (pending_fields.take(), argv.get(1)) {
            // The field states it names (all of them after a state record, one after a
            // peer's field increment) and the key's content stamp.
            store.clock.observe(h.stamp());
            store.dbs[client.db].counters.hash_entry(key, || h.clone()).assign(h);
        }
        if !in_multi || client.multi.is_none() {
            store.replay_mvcc.clear();
        }
        store.end_batch();
        out.buf.clear();
        valid_up_to = at;
        loops += 1;
        if key_delay != 0 {
            crate::persistence::rdb::file::key_save_delay(key_delay, loops);
        }
    };
    match end {
        ReadEnd::Eof if client.multi.is_some() => (ReadEnd::RevertedMulti, valid_before_multi),
        ReadEnd::Truncated if client.multi.is_some() => (ReadEnd::Truncated, valid_before_multi),
        e => (e, valid_up_to),
    }
}

/// An annotation line (`#...`, which Redis 7 skips): takes the write timestamp of a
/// `#mvcc:<n>` line into `mvcc`, the counter state of a `#ctrs:<state>` line and the
/// field states of a `#hctrs:<states>` line (active replication, `keyspace::counters`)
/// into `states`, for the command that follows, and the counter origin of a `#ctr:<hex>`
/// line into `origin`.
fn annotation(
    line: &[u8],
    mvcc: &mut Option<u64>,
    states: (&mut Option<crate::keyspace::counters::Counter>, &mut Option<crate::keyspace::counters::HashCounter>),
    origin: &mut Option<u64>,
) {
    let (counter, fields) = states;
    let line = trim(line);
    if let Some(v) = line.strip_prefix(b"#mvcc:") {
        *mvcc = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
    } else if let Some(v) = line.strip_prefix(b"#ctr:") {
        // The run whose increments follow (until the next such line).
        if let Some(o) = std::str::from_utf8(v).ok().and_then(|h| u64::from_str_radix(h, 16).ok()) {
            *origin = Some(o);
        }
    } else if let Some(v) = line.strip_prefix(b"#ctrs:") {
        *counter = crate::keyspace::counters::Counter::decode(v);
        if counter.is_none() {
            crate::log_warning!("The AOF has an invalid counter state annotation: skipped");
        }
    } else if let Some(v) = line.strip_prefix(b"#hctrs:") {
        *fields = crate::keyspace::counters::HashCounter::decode(v);
        if fields.is_none() {
            crate::log_warning!("The AOF has an invalid hash field state annotation: skipped");
        }
    }
}

/// Loads the AOF at start (Redis's `loadDataFromDisk` with `appendonly yes`); the caller
/// exits on OpenErr / Failed. The dataset must be empty.
pub fn load_at_boot(shared: &Shared, store: &mut Store) -> LoadStatus {
    store.aofrw.state = AofState::On;
    let started = std::time::Instant::now();
    let status = load_files(shared, store);
    store.repl.active.replay_origin = None;
    if !matches!(status, LoadStatus::NotExist | LoadStatus::Failed | LoadStatus::OpenErr) {
        crate::log_notice!("DB loaded from append only file: {:.3} seconds", started.elapsed().as_secs_f64());
    }
    status
}

/// DEBUG LOADAOF: pending writes go to the file, the dataset is emptied and the AOF named
/// by the manifest on disk is loaded again. Err (after logging) when loading failed: Redis
/// exits then, as the dataset is gone.
pub fn debug_loadaof(shared: &Shared, store: &mut Store) -> Result<(), Logged> {
    if store.aof.is_some() {
        flush(store);
    }
    for db in store.dbs.iter_mut() {
        db.take_all();
        db.counters = Default::default();
    }
    store.aofrw.manifest = load_manifest_from_disk(&store.cfg)?;
    del_history_files(store);
    let status = load_files(shared, store);
    store.repl.active.replay_origin = None;
    if !matches!(status, LoadStatus::Ok | LoadStatus::Empty) {
        return Err(Logged);
    }
    // The replayed writes are not changes (Redis sets `dirty` to 0).
    store.dirty_saved = store.dirty;
    crate::log_warning!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// `aofOpenIfNeededOnServerStart`: with the AOF on, a base is written first when the
/// manifest has no file at all (the dataset loaded from an RDB, or none), then the last
/// incremental file is opened for appending (a new one if there is none), and the
/// manifest is persisted. Err (after logging) is fatal.
pub fn open_on_start(store: &mut Store) -> Result<(), Logged> {
    if store.aofrw.state != AofState::On {
        return Ok(());
    }
    let cfg = store.cfg.clone();
    let dir = aof_dir(&cfg);
    create_aof_dir(&dir)?;
    let had_incrs = !store.aofrw.manifest.incrs.is_empty();
    if store.aofrw.manifest.is_empty() {
        let base = store.aofrw.manifest.new_base(&cfg);
        write_base(store, &dir.join(&base)).map_err(|e| {
            crate::log_warning!("Write error writing append only file on disk: {}", strerror(&e));
            Logged
        })?;
        crate::log_notice!("Creating AOF base file {base} on server start");
    }
    let name = match store.aofrw.manifest.incrs.last() {
        Some(p) => p.name.clone(),
        None => store.aofrw.manifest.new_incr(&cfg),
    };
    let aof = Aof::open(store, &name, false, false).map_err(|e| {
        crate::log_warning!("Can't open the append-only file {name}: {}", strerror(&e));
        Logged
    })?;
    persist_manifest(&cfg, &store.aofrw.manifest)?;
    store.aofrw.base_size = aof.base_size;
    install(store, aof);
    if had_incrs {
        crate::log_notice!("Opening AOF incr file {name} on server start");
    } else {
        crate::log_notice!("Creating AOF incr file {name} on server start");
    }
    Ok(())
}

/// `aofDelHistoryFiles`: deletes the history files (unless `aof-disable-auto-gc`) and
/// persists the manifest without them.
pub fn del_history_files(store: &mut Store) {
    if store.cfg.aof_disable_auto_gc || store.aofrw.manifest.history.is_empty() {
        return;
    }
    let dir = aof_dir(&store.cfg);
    for p in std::mem::take(&mut store.aofrw.manifest.history) {
        crate::log_notice!("Removing the history file {} in the background", p.name);
        let _ = fs::remove_file(dir.join(&p.name));
    }
    let _ = persist_manifest(&store.cfg, &store.aofrw.manifest);
}

// ---------------------------------------------------------------------------------------
// Switching the AOF on and off.
// ---------------------------------------------------------------------------------------

/// `startAppendOnly` (CONFIG SET appendonly yes, a replica after a full sync): the AOF
/// waits for a rewrite that writes the current dataset as the new base; it starts now,
/// or once the running child ends (or after the transaction, `in_exec`).
pub fn start(store: &mut Store) -> Result<(), String> {
    enable(store, false)
}

/// [`start`] from inside a transaction or not.
pub fn enable(store: &mut Store, in_exec: bool) -> Result<(), String> {
    store.aofrw.state = AofState::WaitRewrite;
    if store.bgsave.in_progress() {
        store.aofrw.scheduled = true;
        crate::log_warning!(
            "AOF was enabled but there is already another background operation. An AOF background was scheduled to \
start when possible."
        );
    } else if in_exec {
        store.aofrw.scheduled = true;
        crate::log_warning!(
            "AOF was enabled during a transaction. An AOF background was scheduled to start when possible."
        );
    } else {
        if store.aofrw.running.is_some() {
            crate::log_warning!(
                "AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and \
starting a rewrite now."
            );
            kill_rewrite(store);
        }
        if let Err(e) = start_rewrite(store) {
            store.aofrw.state = AofState::Off;
            crate::log_warning!(
                "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above \
logs for more info about the error."
            );
            return Err(e);
        }
    }
    Ok(())
}

/// `stopAppendOnly` (CONFIG SET appendonly no, a replica before a full sync): pending
/// bytes are written and fsynced, the file is closed, a rewrite in progress is killed.
pub fn stop(store: &mut Store) {
    flush(store);
    uninstall(store);
    if store.aofrw.state == AofState::WaitRewrite {
        let _ = fs::remove_file(aof_dir(&store.cfg).join(temp_incr_name(&store.cfg)));
    }
    store.aofrw.state = AofState::Off;
    store.aofrw.scheduled = false;
    kill_rewrite(store);
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
    if store.aofrw.flush_sleep_us > 0 {
        // DEBUG AOF-FLUSH-SLEEP: lets tests catch a reply racing the write.
        std::thread::sleep(Duration::from_micros(store.aofrw.flush_sleep_us));
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

// ---------------------------------------------------------------------------------------
// BGREWRITEAOF.
// ---------------------------------------------------------------------------------------

/// A running rewrite child.
#[derive(Debug)]
pub struct Rewrite {
    pub child: libc::pid_t,
    started: std::time::Instant,
}

/// The AOF's bookkeeping besides the open file: the manifest, the state, the rewrite.
#[derive(Debug, Default)]
pub struct RewriteState {
    pub state: AofState,
    /// The manifest as on disk (`server.aof_manifest`), kept even while the AOF is off.
    pub manifest: Manifest,
    pub running: Option<Rewrite>,
    pub scheduled: bool,
    /// `aof_last_bgrewrite_status`.
    pub last_ok: bool,
    /// Rewrites started (`aof_rewrites`).
    pub rewrites: u64,
    /// `aof_rewrites_consecutive_failures`: three in a row delay automatic rewrites.
    pub consecutive_failures: u64,
    pub last_secs: i64,
    /// The AOF's size right after the last rewrite (`aof_rewrite_base_size`), for the
    /// automatic rewrites.
    pub base_size: u64,
    /// DEBUG AOF-FLUSH-SLEEP: µs to sleep before each write to the file (tests).
    pub flush_sleep_us: u64,
    /// `aofRewriteLimited`'s state: the current delay and when the next attempt may run.
    limit_delay_minutes: i64,
    limit_next_time: i64,
}

impl RewriteState {
    pub fn new() -> Self {
        RewriteState { last_ok: true, last_secs: -1, ..Default::default() }
    }

    /// Seconds the running rewrite has taken (`aof_current_rewrite_time_sec`), -1 if none.
    pub fn current_secs(&self) -> i64 {
        self.running.as_ref().map_or(-1, |r| r.started.elapsed().as_secs() as i64)
    }
}

/// Whether a background child (snapshot or rewrite) runs: one at a time, as in Redis.
pub fn has_active_child(store: &Store) -> bool {
    store.bgsave.in_progress() || store.aofrw.running.is_some()
}

/// `aofRewriteLimited`: after three failed rewrites in a row, automatic and scheduled
/// rewrites wait 1, 2, 4... up to 60 minutes between attempts (so a failing disk does not
/// produce a stream of tiny incremental files). BGREWRITEAOF itself is never delayed.
fn rewrite_limited(store: &mut Store) -> bool {
    let rw = &mut store.aofrw;
    if rw.consecutive_failures < 3 {
        rw.limit_delay_minutes = 0;
        rw.limit_next_time = 0;
        return false;
    }
    let now = crate::util::time::unix_secs();
    if rw.limit_next_time != 0 {
        if now < rw.limit_next_time {
            return true;
        }
        rw.limit_next_time = 0;
        return false;
    }
    rw.limit_delay_minutes = if rw.limit_delay_minutes == 0 { 1 } else { (rw.limit_delay_minutes * 2).min(60) };
    rw.limit_next_time = now + rw.limit_delay_minutes * 60;
    crate::log_warning!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        rw.limit_delay_minutes
    );
    true
}

/// `openNewIncrAofForAppend`: before a rewrite's fork, writing moves to a new incremental
/// file (named in the manifest at once), or to the temporary one while waiting for the
/// first rewrite. Nothing changes if either step fails.
fn open_new_incr(store: &mut Store) -> Result<(), String> {
    let cfg = store.cfg.clone();
    let (name, manifest) = match store.aofrw.state {
        AofState::Off => return Ok(()),
        AofState::WaitRewrite => (temp_incr_name(&cfg), None),
        AofState::On => {
            let mut m = store.aofrw.manifest.clone();
            (m.new_incr(&cfg), Some(m))
        }
    };
    let path = aof_dir(&cfg).join(&name);
    let file = OpenOptions::new().create(true).append(true).open(&path).and_then(|f| {
        f.set_len(0)?;
        Ok(f)
    });
    let file = file.map_err(|e| {
        let msg = format!("Can't open the append-only file {name}: {}", strerror(&e));
        crate::log_warning!("{msg}");
        msg
    })?;
    if let Some(m) = &manifest {
        if persist_manifest(&cfg, m).is_err() {
            let _ = fs::remove_file(&path);
            return Err("Can't persist the AOF manifest".into());
        }
    }
    crate::log_notice!("Creating AOF incr file {name} on background rewrite");
    let temp = store.aofrw.state == AofState::WaitRewrite;
    match store.aof.as_mut() {
        Some(aof) => aof.switch_to(name, file, temp).map_err(|e| e.to_string())?,
        None => {
            drop(file);
            let aof = Aof::open(store, &name, temp, false).map_err(|e| e.to_string())?;
            install(store, aof);
        }
    }
    if let Some(m) = manifest {
        store.aofrw.manifest = m;
    }
    Ok(())
}

/// Writes the dataset as a base file at `path` (`rewriteAppendOnlyFile`): an RDB with the
/// `aof-base` field, or commands under `aof-use-rdb-preamble no`; through a temporary
/// file, fsynced and renamed, so `path` is whole or absent.
fn write_base(store: &Store, path: &Path) -> io::Result<()> {
    let tmp = PathBuf::from(format!("temp-rewriteaof-{}.aof", std::process::id()));
    let result = (|| {
        let f = File::create(&tmp)?;
        let mut w = io::BufWriter::with_capacity(1 << 16, f);
        if store.cfg.aof_use_rdb_preamble {
            let used = crate::commands::info::used_memory();
            let (bw, _) = super::snapshot::write_rdb(store, w, used, true)?;
            w = bw;
        } else {
            super::aof_base::write_commands(store, &mut w)?;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Starts a rewrite (`rewriteAppendOnlyFileBackground`): writing moves to a new
/// incremental file, and a forked child writes the dataset as of now into
/// `temp-rewriteaof-bg-<pid>.aof`, which becomes the new base when it succeeds
/// ([`check_rewrite`]). The old files stay valid until then.
pub fn start_rewrite(store: &mut Store) -> Result<(), String> {
    if has_active_child(store) {
        return Err("a background child is already active".into());
    }
    let dir = aof_dir(&store.cfg);
    if let Err(e) = fs::create_dir_all(&dir) {
        crate::log_warning!("Can't open or create append-only dir {}: {}", dir.display(), strerror(&e));
        store.aofrw.last_ok = false;
        return Err(format!("Can't open or create append-only dir {}", dir.display()));
    }
    store.stream.reset_db();
    flush(store);
    if store.stream.aof_tap.as_ref().is_some_and(|b| !b.is_empty()) {
        // Writes a failed AOF write holds back would land after a base that already has
        // them, and be applied twice at the next load.
        store.aofrw.last_ok = false;
        return Err("Can't rewrite append only file while writing to it fails".into());
    }
    if let Err(e) = open_new_incr(store) {
        store.aofrw.last_ok = false;
        return Err(e);
    }
    store.aofrw.rewrites += 1;
    let forked = super::bgsave::fork_child(super::childinfo::ChildType::Aof, || {
        let tmp = PathBuf::from(temp_rewrite_name(std::process::id()));
        write_base(store, &tmp).is_ok()
    });
    let pid = match forked {
        Ok((p, info)) => {
            let keys = store.dbs.iter().map(|d| d.len() as u64).sum();
            store.child_info.started(info, keys);
            p
        }
        Err(e) => {
            store.aofrw.last_ok = false;
            let msg = format!("Can't rewrite append only file in background: {e}");
            crate::log_warning!("{msg}");
            return Err(msg);
        }
    };
    store.bgsave.total_forks += 1;
    crate::log_notice!("Background append only file rewriting started by pid {pid}");
    store.aofrw.scheduled = false;
    store.aofrw.running = Some(Rewrite { child: pid, started: std::time::Instant::now() });
    Ok(())
}

/// The parent's part of a successful rewrite: the child's file becomes the new base (the
/// old one history), the temporary incremental file of the wait state a numbered one, the
/// incremental files the base covers history; then the manifest is persisted and the
/// history deleted. Any failure leaves the previous manifest in force.
fn install_rewrite(store: &mut Store, child: libc::pid_t) -> Result<(), Logged> {
    let cfg = store.cfg.clone();
    let dir = aof_dir(&cfg);
    let tmp = temp_rewrite_name(child as u32);
    let mut m = store.aofrw.manifest.clone();
    let base = m.new_base(&cfg);
    let base_path = dir.join(&base);
    fs::rename(&tmp, &base_path).map_err(|e| {
        crate::log_warning!(
            "Error trying to rename the temporary AOF base file {tmp} into {}: {}",
            base_path.display(),
            strerror(&e)
        );
        Logged
    })?;
    crate::log_notice!("Successfully renamed the temporary AOF base file {tmp} into {base}");
    let mut new_incr = None;
    if store.aofrw.state == AofState::WaitRewrite {
        let temp_incr = temp_incr_name(&cfg);
        let name = m.new_incr(&cfg);
        if let Err(e) = fs::rename(dir.join(&temp_incr), dir.join(&name)) {
            crate::log_warning!(
                "Error trying to rename the temporary AOF incr file {} into {}: {}",
                dir.join(&temp_incr).display(),
                dir.join(&name).display(),
                strerror(&e)
            );
            let _ = fs::remove_file(&base_path);
            return Err(Logged);
        }
        crate::log_notice!("Successfully renamed the temporary AOF incr file {temp_incr} into {name}");
        new_incr = Some(name);
    }
    m.mark_rewritten_incrs_as_history(store.aof.is_some());
    if persist_manifest(&cfg, &m).is_err() {
        let _ = fs::remove_file(&base_path);
        if let Some(n) = &new_incr {
            let _ = fs::remove_file(dir.join(n));
        }
        return Err(Logged);
    }
    store.aofrw.manifest = m;
    if let (Some(aof), Some(n)) = (store.aof.as_mut(), new_incr) {
        aof.name = n;
        aof.temp = false;
    }
    let base_size = fs::metadata(&base_path).map_or(0, |md| md.len());
    if let Some(aof) = store.aof.as_mut() {
        aof.base_size = base_size;
        store.aofrw.base_size = base_size + aof.incr_size;
    }
    del_history_files(store);
    Ok(())
}

/// Reaps a finished rewrite child (`backgroundRewriteDoneHandler`).
pub fn check_rewrite(store: &mut Store) {
    let Some(rw) = store.aofrw.running.as_ref() else { return };
    let Some(exit) = super::child::reap_status(rw.child) else { return };
    let Some(rw) = store.aofrw.running.take() else { return };
    let child = rw.child;
    store.child_info.ended(exit.ok);
    if exit.ok {
        crate::log_notice!("Background AOF rewrite terminated with success");
        if install_rewrite(store, child).is_ok() {
            store.aofrw.last_ok = true;
            store.aofrw.consecutive_failures = 0;
            crate::log_notice!("Background AOF rewrite finished successfully");
            if store.aofrw.state == AofState::WaitRewrite {
                store.aofrw.state = AofState::On;
            }
        } else {
            store.aofrw.last_ok = false;
            store.aofrw.consecutive_failures += 1;
        }
    } else if let Some(sig) = exit.signal {
        // SIGUSR1 is how the server itself stops a child: not a failure.
        if sig != libc::SIGUSR1 {
            store.aofrw.last_ok = false;
            store.aofrw.consecutive_failures += 1;
        }
        crate::log_warning!("Background AOF rewrite terminated by signal {sig}");
    } else {
        store.aofrw.last_ok = false;
        store.aofrw.consecutive_failures += 1;
        crate::log_warning!("Background AOF rewrite terminated with error");
    }
    rewrite_cleanup(store, child, rw.started);
}

/// What every end of a rewrite leaves behind: its temporary file gone, and while waiting
/// for the first rewrite, the temporary incremental file too (a new rewrite is scheduled).
fn rewrite_cleanup(store: &mut Store, child: libc::pid_t, started: std::time::Instant) {
    remove_temp_files(child);
    if store.aofrw.state == AofState::WaitRewrite {
        uninstall(store);
        let name = temp_incr_name(&store.cfg);
        crate::log_notice!("Removing the temp incr aof file {name} in the background");
        let _ = fs::remove_file(aof_dir(&store.cfg).join(&name));
        store.aofrw.scheduled = true;
    }
    store.aofrw.last_secs = started.elapsed().as_secs() as i64;
}

/// `aofRemoveTempFile`: the files a rewrite child by `pid` may have left.
fn remove_temp_files(pid: libc::pid_t) {
    let _ = fs::remove_file(temp_rewrite_name(pid as u32));
    let _ = fs::remove_file(format!("temp-rewriteaof-{pid}.aof"));
}

/// The cron's part (serverCron): reap the child, run a scheduled rewrite, and the
/// automatic rewrite when the AOF grew by `auto-aof-rewrite-percentage` since the last one
/// (and is over `auto-aof-rewrite-min-size`), unless failures delay them.
pub fn cron(store: &mut Store) {
    check_rewrite(store);
    if !has_active_child(store) && store.aofrw.scheduled && !rewrite_limited(store) {
        if let Err(e) = start_rewrite(store) {
            crate::log_warning!("{e}");
        }
    }
    if has_active_child(store) || store.aofrw.state != AofState::On || store.cfg.auto_aof_rewrite_percentage <= 0 {
        return;
    }
    let Some(a) = &store.aof else { return };
    let size = a.base_size + a.incr_size;
    if size <= store.cfg.auto_aof_rewrite_min_size as u64 {
        return;
    }
    let base = store.aofrw.base_size.max(1);
    let growth = (size * 100 / base) as i64 - 100;
    if growth >= store.cfg.auto_aof_rewrite_percentage as i64 && !rewrite_limited(store) {
        crate::log_notice!("Starting automatic rewriting of AOF on {growth}% growth");
        if let Err(e) = start_rewrite(store) {
            crate::log_warning!("{e}");
        }
    }
}

/// `killAppendOnlyChild` (SHUTDOWN, CONFIG SET appendonly no): stops a running rewrite and
/// removes its temporary files; the manifest still names the previous files.
pub fn kill_rewrite(store: &mut Store) {
    if let Some(rw) = store.aofrw.running.take() {
        crate::log_notice!("Killing running AOF rewrite child: {}", rw.child);
        super::child::kill(rw.child);
        store.child_info.ended(false);
        remove_temp_files(rw.child);
        store.aofrw.last_secs = rw.started.elapsed().as_secs() as i64;
    }
}

/// INFO persistence's AOF fields: (enabled, current size, base size).
pub fn info(store: &Store) -> (bool, u64, u64) {
    match &store.aof {
        Some(a) => (true, a.base_size + a.incr_size, a.base_size),
        None => (store.aofrw.state != AofState::Off, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Manifest, &'static str> {
        Manifest::parse(s.as_bytes()).map_err(|e| e.msg)
    }

    #[test]
    fn manifest_round_trip_and_redis_errors() {
        let text = "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n";
        let m = parse(text).expect("parse");
        assert_eq!(m.format(), text);
        assert_eq!((m.incrs.len(), m.curr_base_seq, m.curr_incr_seq), (1, 1, 1));
        assert_eq!(parse(""), Err("Found an empty AOF manifest"));
        assert_eq!(parse("file a seq 1\n"), Err("Invalid AOF manifest file format"));
        assert_eq!(parse("file a seq 1 type i"), Err("The AOF manifest file contains too long line"));
        assert_eq!(parse(&format!("{}\n", "x ".repeat(600))), Err("The AOF manifest file contains too long line"));
        assert_eq!(parse("file a seq 1 type i\n\nfile b seq 3 type i\n"), Err("Invalid AOF manifest file format"));
        assert_eq!(parse("filx a seq 1 type b\n"), Err("Invalid AOF manifest file format"));
        assert_eq!(parse("file a seq 1 type i newkey\n"), Err("Invalid AOF manifest file format"));
        assert_eq!(parse("file ../x seq 1 type i\n"), Err("File can't be a path, just a filename"));
        assert_eq!(parse("file a seq 1 type b\nfile b seq 2 type b\n"), Err("Found duplicate base file information"));
        assert_eq!(parse("file a seq 2 type i\nfile b seq 1 type i\n"), Err("Found a non-monotonic sequence number"));
        assert_eq!(parse("file a seq 1 type x\n"), Err("Unknown AOF file type"));
        // Comments and extra keys are fine; quoted names come back quoted.
        let m = parse("# c\nfile \"a b\\n\" seq 7 type b k v\n").expect("parse");
        assert_eq!(m.base.as_ref().map(|b| b.name.as_str()), Some("a b\n"));
        assert_eq!(m.format(), "file \"a b\\n\" seq 7 type b\n");
    }

    #[test]
    fn rewrites_turn_old_files_into_history_in_redis_order() {
        let cfg = crate::config::Config::default();
        let mut m = parse("file appendonly.aof.5.base.rdb seq 5 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n")
            .expect("parse");
        for _ in 0..2 {
            m.new_incr(&cfg);
            m.new_base(&cfg);
            m.mark_rewritten_incrs_as_history(true);
        }
        assert_eq!(
            m.format(),
            "file appendonly.aof.7.base.rdb seq 7 type b\nfile appendonly.aof.2.incr.aof seq 2 type h\n\
             file appendonly.aof.6.base.rdb seq 6 type h\nfile appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.5.base.rdb seq 5 type h\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
        );
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

/// The length of a complete annotation line (`#...\r\n`) at the start of `buf`.
fn annotation_len(buf: &[u8]) -> Option<usize> {
    if buf.first() != Some(&b'#') {
        return None;
    }
    buf.windows(2).position(|w| w == b"\r\n").map(|end| end + 2)
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
        if let Some(n) = annotation_len(&buf) {
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
