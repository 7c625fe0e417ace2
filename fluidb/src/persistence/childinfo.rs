//! What a fork child (BGSAVE, a diskless sync, BGREWRITEAOF) tells the parent while it
//! works and when it ends (Redis's childinfo.c): the keys written so far and the child's
//! copy-on-write memory, for INFO's `current_cow_size`, `current_save_keys_processed`,
//! `current_fork_perc`, `rdb_last_cow_size`, `aof_last_cow_size`.
//!
//! Why a pipe: the child's progress lives in its own copy of memory, and its COW size can
//! only be measured from inside it (`Private_Dirty` in `/proc/self/smaps`: pages the parent
//! wrote since the fork, which the kernel copied, stay private to the child). The child
//! writes fixed-size records into a pipe opened before the fork; the parent drains the
//! non-blocking read end from the cron once a second and when the child has exited.
//!
//! The child side keeps its state in process statics: only the child's single thread
//! writes them, and in the parent the write descriptor stays -1, so the hooks the
//! snapshot writers call are no-ops there (SAVE, DEBUG RELOAD).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// What a record reports (`childInfoType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Progress while the child runs.
    Current = 0,
    /// The final COW figure of an AOF rewrite child.
    AofCow = 1,
    /// The final COW figure of a snapshot child (to a file or a pipe).
    RdbCow = 2,
}

/// Which child a fork starts, so its final report lands in the right INFO field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildType {
    Rdb,
    Aof,
}

/// One record: kind, keys, cow bytes, when the cow was measured (monotonic µs).
const RECORD: usize = 32;

/// Keys between two looks at the clock (Redis checks every 1024 keys).
const KEYS_PER_CHECK: u64 = 1024;

/// Reports no more often than this (ms).
const REPORT_PERIOD_MS: u64 = 1000;

/// A COW reading costs a walk of smaps; the next one waits this many times its cost
/// (`CHILD_COW_DUTY_CYCLE`).
const COW_DUTY_CYCLE: u64 = 100;

/// The parent's view (INFO persistence's child fields).
#[derive(Debug, Default)]
pub struct ChildInfo {
    pipe: Option<OwnedFd>,
    partial: Vec<u8>,
    last_drain_ms: u64,
    /// `current_cow_peak`, `current_cow_size`, when the child measured it (monotonic µs,
    /// 0 before the first report), `current_save_keys_processed`, `current_save_keys_total`.
    pub cow_peak: u64,
    pub cow: u64,
    pub cow_updated_us: u64,
    pub keys_processed: u64,
    pub keys_total: u64,
    /// `rdb_last_cow_size` and `aof_last_cow_size`: the peak of the last successful child.
    pub rdb_last_cow: u64,
    pub aof_last_cow: u64,
}

impl ChildInfo {
    /// A child was forked with `pipe` as its report channel and `keys_total` keys to
    /// write (`redisFork`'s bookkeeping).
    pub fn started(&mut self, pipe: Option<OwnedFd>, keys_total: u64) {
        self.reset();
        self.pipe = pipe;
        self.keys_total = keys_total;
        self.last_drain_ms = monotonic_us() / 1000;
    }

    /// The cron's share (`run_with_period(1000) receiveChildInfo()`).
    pub fn cron(&mut self) {
        let now = monotonic_us() / 1000;
        if self.pipe.is_some() && now.saturating_sub(self.last_drain_ms) >= REPORT_PERIOD_MS {
            self.last_drain_ms = now;
            self.drain();
        }
    }

    /// The child ended: its last reports are read when it succeeded, then the current
    /// figures go back to zero (`resetChildState`).
    pub fn ended(&mut self, ok: bool) {
        if ok {
            self.drain();
        }
        self.reset();
    }

    /// `current_fork_perc`.
    pub fn fork_perc(&self) -> f64 {
        if self.keys_total == 0 {
            0.0
        } else {
            self.keys_processed as f64 / self.keys_total as f64 * 100.0
        }
    }

    /// `current_cow_size_age`: seconds since the child measured the reported COW size.
    pub fn cow_age_secs(&self) -> u64 {
        if self.cow_updated_us == 0 {
            0
        } else {
            monotonic_us().saturating_sub(self.cow_updated_us) / 1_000_000
        }
    }

    fn reset(&mut self) {
        self.pipe = None;
        self.partial.clear();
        self.cow_peak = 0;
        self.cow = 0;
        self.cow_updated_us = 0;
        self.keys_processed = 0;
        self.keys_total = 0;
    }

    /// Reads every complete record waiting in the pipe (`receiveChildInfo`).
    fn drain(&mut self) {
        let Some(fd) = self.pipe.as_ref() else { return };
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a local buffer of the length given from our own
            // non-blocking descriptor.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            self.partial.extend_from_slice(&buf[..n as usize]);
        }
        let whole = self.partial.len() / RECORD * RECORD;
        let records: Vec<u8> = self.partial.drain(..whole).collect();
        for r in records.chunks_exact(RECORD) {
            let field = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&r[i * 8..i * 8 + 8]);
                u64::from_ne_bytes(b)
            };
            self.update(field(0), field(1), field(2), field(3));
        }
    }

    /// `updateChildInfo`.
    fn update(&mut self, kind: u64, keys: u64, cow: u64, cow_updated_us: u64) {
        self.cow_peak = self.cow_peak.max(cow);
        if kind == Kind::Current as u64 {
            self.cow = cow;
            self.cow_updated_us = cow_updated_us;
            self.keys_processed = keys;
        } else if kind == Kind::AofCow as u64 {
            self.aof_last_cow = self.cow_peak;
        } else if kind == Kind::RdbCow as u64 {
            self.rdb_last_cow = self.cow_peak;
        }
    }
}

/// Opens the report pipe before a fork: (read end for the parent, non-blocking; write
/// end for the child). None when the pipe cannot be made: the child then reports nothing,
/// as in Redis.
pub fn open_pipe() -> Option<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors of the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: both descriptors were just created and are owned by nobody else; the flag
    // change is on our own descriptor.
    unsafe {
        let flags = libc::fcntl(fds[0], libc::F_GETFL);
        libc::fcntl(fds[0], libc::F_SETFL, flags | libc::O_NONBLOCK);
        Some((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

// The child's side. Only the forked child's one thread touches these.
static CHILD_FD: AtomicI32 = AtomicI32::new(-1);
static LAST_REPORT_MS: AtomicU64 = AtomicU64::new(0);
static COW: AtomicU64 = AtomicU64::new(0);
static COW_UPDATED_US: AtomicU64 = AtomicU64::new(0);
static COW_COST_US: AtomicU64 = AtomicU64::new(0);

/// In the child right after the fork: reports go to `fd` from now on.
pub fn child_begin(fd: libc::c_int) {
    CHILD_FD.store(fd, Ordering::Relaxed);
}

/// The writers call this after their `n`-th key: every 1024 keys, at most once a second,
/// the child reports its progress (`rdbSaveDb`'s `sendChildInfo`). A no-op outside a child.
pub fn key_written(n: u64) {
    if !n.saturating_sub(1).is_multiple_of(KEYS_PER_CHECK) || CHILD_FD.load(Ordering::Relaxed) < 0 {
        return;
    }
    let now = monotonic_us() / 1000;
    let last = LAST_REPORT_MS.load(Ordering::Relaxed);
    if last == 0 || now.saturating_sub(last) >= REPORT_PERIOD_MS {
        send(Kind::Current, n);
        LAST_REPORT_MS.store(now, Ordering::Relaxed);
    }
}

/// The child's last report, after its work succeeded (`sendChildCowInfo`).
pub fn child_end(t: ChildType) {
    if CHILD_FD.load(Ordering::Relaxed) >= 0 {
        send(if t == ChildType::Rdb { Kind::RdbCow } else { Kind::AofCow }, 0);
    }
}

/// `sendChildInfoGeneric`: a progress report measures the COW size again only when the
/// last measurement's cost allows it; a final report always does.
fn send(kind: Kind, keys: u64) {
    let fd = CHILD_FD.load(Ordering::Relaxed);
    let now = monotonic_us();
    let updated = COW_UPDATED_US.load(Ordering::Relaxed);
    if kind != Kind::Current || updated == 0 || now - updated > COW_COST_US.load(Ordering::Relaxed) * COW_DUTY_CYCLE {
        COW.store(private_dirty(), Ordering::Relaxed);
        let done = monotonic_us();
        COW_UPDATED_US.store(done, Ordering::Relaxed);
        COW_COST_US.store(done - now, Ordering::Relaxed);
    }
    let mut rec = [0u8; RECORD];
    let fields = [kind as u64, keys, COW.load(Ordering::Relaxed), COW_UPDATED_US.load(Ordering::Relaxed)];
    for (i, f) in fields.iter().enumerate() {
        rec[i * 8..i * 8 + 8].copy_from_slice(&f.to_ne_bytes());
    }
    // SAFETY: writes a local buffer to the child's own pipe descriptor. A record is far
    // below PIPE_BUF, so it is written whole or not at all.
    let n = unsafe { libc::write(fd, rec.as_ptr().cast(), RECORD) };
    if n != RECORD as isize {
        // The parent is gone (or the pipe broke): the child stops, as Redis's does.
        // SAFETY: ends the child immediately, as everywhere a fork child leaves.
        unsafe { libc::_exit(1) }
    }
}

/// The process's private dirty memory in bytes (`zmalloc_get_private_dirty`): the sum
/// of `Private_Dirty` over its mappings.
pub fn private_dirty() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup")
        .or_else(|_| std::fs::read_to_string("/proc/self/smaps"))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("Private_Dirty:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// CLOCK_MONOTONIC in µs: the same clock in the parent and the child.
fn monotonic_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_update_the_parent_view() {
        let mut ci = ChildInfo::default();
        ci.started(None, 200);
        ci.update(Kind::Current as u64, 50, 8192, 1);
        assert_eq!((ci.keys_processed, ci.cow, ci.cow_peak), (50, 8192, 8192));
        assert!((ci.fork_perc() - 25.0).abs() < 1e-9);
        ci.update(Kind::Current as u64, 100, 4096, 2);
        assert_eq!((ci.cow, ci.cow_peak), (4096, 8192));
        ci.update(Kind::RdbCow as u64, 0, 4096, 3);
        assert_eq!(ci.rdb_last_cow, 8192);
        ci.ended(false);
        assert_eq!((ci.cow, ci.keys_total, ci.fork_perc()), (0, 0, 0.0));
        assert_eq!(ci.rdb_last_cow, 8192);
    }

    #[test]
    fn private_dirty_is_measured() {
        assert!(private_dirty() > 0);
    }
}
