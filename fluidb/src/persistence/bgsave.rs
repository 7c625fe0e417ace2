//! BGSAVE: a point-in-time snapshot written by a forked child while the server keeps
//! serving (Redis's `rdbSaveBackground`).
//!
//! Why fork: the child gets the dataset as it is at the fork, for free, and the kernel
//! copies a page only when the parent writes to it (copy-on-write), so the snapshot is
//! consistent without a second copy of the data and without stopping clients. The fork
//! happens under the store lock, so no command is half-applied in the child's copy; the
//! lock is released in the parent right after, and the pause is the page-table copy
//! (milliseconds for gigabytes).
//!
//! The child is a copy of a multi-threaded process with only the forking thread: it must
//! not take locks other threads might have held (logging, the runtime). It only walks its
//! copy of the store, writes the file with plain `std::fs` calls (jemalloc is fork-safe)
//! and leaves with `_exit`, so no destructor or atexit handler runs. The parent reaps it
//! from the cron (`check_child`).

use std::path::PathBuf;

use super::childinfo::ChildType;
use crate::server::store::Store;

/// A running or finished background save.
#[derive(Debug, Default)]
pub struct BgState {
    /// The child's pid while it runs.
    pub child: Option<libc::pid_t>,
    /// When it started (unix seconds) and the change counter at that moment.
    pub started: i64,
    pub started_instant: Option<std::time::Instant>,
    pub dirty_at_start: u64,
    /// `rdb_last_bgsave_status`.
    pub last_ok: bool,
    /// `rdb_last_bgsave_time_sec`.
    pub last_secs: i64,
    /// INFO's `latest_fork_usec` and `total_forks`: the fork is the only moment a
    /// background save holds every client up.
    pub latest_fork_usec: u64,
    pub total_forks: u64,
    /// A BGSAVE SCHEDULE waiting for the running child (an AOF rewrite later) to end.
    pub scheduled: bool,
    /// The running child writes into a replication pipe (diskless sync), not a file.
    pub to_pipe: bool,
}

impl BgState {
    pub fn new() -> Self {
        BgState { last_ok: true, last_secs: -1, ..Default::default() }
    }
    pub fn in_progress(&self) -> bool {
        self.child.is_some()
    }
}

/// Forks the snapshot child. Err with the reason when the fork fails.
pub fn start(store: &mut Store) -> Result<(), String> {
    if store.bgsave.in_progress() {
        return Err("Background save already in progress".into());
    }
    if store.aofrw.running.is_some() {
        return Err("Can't BGSAVE while an AOF rewrite is in progress".into());
    }
    let path: PathBuf = super::snapshot::rdb_path(store);
    let used = crate::commands::info::used_memory();
    let fork_start = std::time::Instant::now();
    let (pid, info) = fork_child(ChildType::Rdb, || super::snapshot::save(store, &path, used, false).is_ok())?;
    forked(store, pid, info, fork_start, false);
    crate::log_notice!("Background saving started by pid {pid}");
    Ok(())
}

/// Forks; the child runs `work` on its copy-on-write view of the process, reports its
/// final copy-on-write size when `work` succeeded, and leaves with `_exit` (status 0 when
/// `work` succeeded). Returns the child's pid in the parent and the read end of the pipe
/// the child reports its progress into (`super::childinfo`; None when it could not be
/// made), for `ChildInfo::started`.
pub(crate) fn fork_child(
    kind: ChildType,
    work: impl FnOnce() -> bool,
) -> Result<(libc::pid_t, Option<std::os::fd::OwnedFd>), String> {
    let pipe = super::childinfo::open_pipe();
    // SAFETY: fork() has no memory-safety preconditions. In the child only this thread
    // exists; `work` uses its private copy of the data and the child exits with `_exit`
    // without returning into code that could touch other threads' state.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("Can't save in background: fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        crate::server::oom::enter_child();
        if let Some((_, wr)) = &pipe {
            super::childinfo::child_begin(std::os::fd::AsRawFd::as_raw_fd(wr));
        }
        let ok = work();
        if ok {
            super::childinfo::child_end(kind);
        }
        // SAFETY: ends the child immediately, as Redis's `exitFromChild`.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }
    // The parent keeps only the read end: the child's copy of the write end is its own.
    Ok((pid, pipe.map(|(rd, _wr)| rd)))
}

fn forked(
    store: &mut Store,
    pid: libc::pid_t,
    info: Option<std::os::fd::OwnedFd>,
    fork_start: std::time::Instant,
    to_pipe: bool,
) {
    let keys = store.dbs.iter().map(|d| d.len() as u64).sum();
    store.child_info.started(info, keys);
    let st = &mut store.bgsave;
    st.latest_fork_usec = fork_start.elapsed().as_micros() as u64;
    st.total_forks += 1;
    st.child = Some(pid);
    st.to_pipe = to_pipe;
    st.started = crate::util::time::unix_secs();
    st.started_instant = Some(std::time::Instant::now());
    st.dirty_at_start = store.dirty;
}

/// Forks a child that writes the snapshot into a pipe (a diskless full sync,
/// `rdbSaveToSlavesSockets`); returns its pid and the pipe's read end, which the parent
/// relays to the replicas.
pub fn start_to_pipe(store: &mut Store) -> Result<(libc::pid_t, tokio::net::unix::pipe::Receiver), String> {
    if store.bgsave.in_progress() || store.aofrw.running.is_some() {
        return Err("a background child is already active".into());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors of the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("Can't create the pipe for a diskless sync: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (rd, wr) = unsafe {
        use std::os::fd::FromRawFd;
        (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1]))
    };
    let used = crate::commands::info::used_memory();
    let fork_start = std::time::Instant::now();
    let wr_child = wr.try_clone().map_err(|e| e.to_string())?;
    let rd_raw = std::os::fd::AsRawFd::as_raw_fd(&rd);
    let (pid, info) = fork_child(ChildType::Rdb, || {
        // The child must not hold the read end: when every replica is gone the parent
        // closes it, and the child's writes must then fail (EPIPE), not block.
        // SAFETY: closes the child's copy of a descriptor it does not otherwise use.
        unsafe { libc::close(rd_raw) };
        let f = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::from(wr_child));
        super::snapshot::write_rdb(store, f, used, false)
            .and_then(|(w, _)| w.into_inner().map_err(|e| e.into_error()))
            .is_ok()
    })?;
    drop(wr);
    let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(rd).map_err(|e| e.to_string())?;
    forked(store, pid, info, fork_start, true);
    crate::log_notice!("Background RDB transfer started by pid {pid}");
    Ok((pid, rx))
}

/// Reaps a finished child (from the cron): updates LASTSAVE, the change counter and the
/// status INFO reports.
pub fn check_child(store: &mut Store) {
    let Some(pid) = store.bgsave.child else { return };
    let Some(ok) = super::child::reap(pid) else { return }; // still running
    store.child_info.ended(ok);
    let st = &mut store.bgsave;
    st.child = None;
    // A diskless sync wrote no file: nothing changes for the snapshot on disk.
    if !std::mem::take(&mut st.to_pipe) {
        st.last_ok = ok;
        st.last_secs = st.started_instant.map_or(-1, |t| t.elapsed().as_secs() as i64);
        if ok {
            crate::log_notice!("Background saving terminated with success");
            store.dirty_saved = store.dirty_saved.max(store.bgsave.dirty_at_start);
            store.lastsave = store.bgsave.started;
            store.rdb.saves += 1;
        } else {
            crate::log_warning!("Background saving error");
            // A child killed mid-way leaves its temporary file (`rdbRemoveTempFile`).
            let _ = std::fs::remove_file(super::snapshot::temp_path(std::path::Path::new("."), pid as u32));
        }
    }
    // Last: replicas waiting for this snapshot go on, and the next round may fork a new
    // child, which must not see this one's bookkeeping half done.
    crate::replication::master::round_done(store, pid, ok);
}

/// Kills a running child (SHUTDOWN, FLUSHALL) and removes its temporary file.
pub fn kill_child(store: &mut Store) {
    if let Some(pid) = store.bgsave.child.take() {
        super::child::kill(pid);
        store.child_info.ended(false);
        store.bgsave.to_pipe = false;
        let _ = std::fs::remove_file(super::snapshot::temp_path(std::path::Path::new("."), pid as u32));
        // Replicas waiting for this snapshot are dropped (they retry).
        crate::replication::master::round_done(store, pid, false);
    }
}

/// The cron's save points (`save <seconds> <changes>`): a BGSAVE when enough changes
/// happened and enough time passed since the last save (Redis also waits 5 s after a
/// failed attempt).
pub fn cron(store: &mut Store) {
    check_child(store);
    if super::aof::has_active_child(store) {
        return;
    }
    let now = crate::util::time::unix_secs();
    let due = store.bgsave.scheduled
        || store.cfg.save.iter().any(|&(secs, changes)| {
            super::snapshot::changes_since_save(store) >= changes
                && now - store.lastsave > secs as i64
                && (store.bgsave.last_ok || now - store.bgsave.started > 5)
        });
    if due {
        store.bgsave.scheduled = false;
        if let Err(e) = start(store) {
            crate::log_warning!("{e}");
            store.bgsave.last_ok = false;
            store.bgsave.started = now;
        }
    }
}
