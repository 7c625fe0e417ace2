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
    // SAFETY: fork() has no memory-safety preconditions. In the child only this thread
    // exists; it uses its private copy of `store` and exits with `_exit` without
    // returning into code that could touch other threads' state.
    let fork_start = std::time::Instant::now();
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("Can't save in background: fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let ok = super::snapshot::save(store, &path, used, false).is_ok();
        // SAFETY: ends the child immediately, as Redis's `exitFromChild`.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }
    let st = &mut store.bgsave;
    st.latest_fork_usec = fork_start.elapsed().as_micros() as u64;
    st.total_forks += 1;
    st.child = Some(pid);
    st.started = crate::util::time::unix_secs();
    st.started_instant = Some(std::time::Instant::now());
    st.dirty_at_start = store.dirty;
    crate::log_notice!("Background saving started by pid {pid}");
    Ok(())
}

/// Reaps a finished child (from the cron): updates LASTSAVE, the change counter and the
/// status INFO reports.
pub fn check_child(store: &mut Store) {
    let Some(pid) = store.bgsave.child else { return };
    let Some(ok) = super::child::reap(pid) else { return }; // still running
    let st = &mut store.bgsave;
    st.child = None;
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

/// Kills a running child (SHUTDOWN, FLUSHALL) and removes its temporary file.
pub fn kill_child(store: &mut Store) {
    if let Some(pid) = store.bgsave.child.take() {
        super::child::kill(pid);
        let _ = std::fs::remove_file(super::snapshot::temp_path(std::path::Path::new("."), pid as u32));
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
