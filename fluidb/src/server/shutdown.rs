//! Shutting down as Redis does (`prepareForShutdown`, `finishShutdown`, SHUTDOWN ABORT):
//! SIGTERM / SIGINT / SHUTDOWN first give lagging replicas up to `shutdown-timeout`
//! seconds to acknowledge the whole stream (writes are paused meanwhile), then the
//! background children are stopped, the AOF is fsynced and the final snapshot written;
//! if that save fails the server keeps running (unless FORCE), since exiting would lose
//! what the snapshot should have kept.
//!
//! The signal handler only records the request (and logs it with async-signal-safe
//! writes); the cron carries the shutdown out. A second SIGINT while a shutdown is pending
//! exits at once without saving, removing the half-written snapshot.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use tokio::sync::watch;

use crate::config::ShutdownFlags;
use crate::server::store::Store;

/// Set by the signal handler: a shutdown was asked for (Redis's `shutdown_asap`).
static ASAP: AtomicBool = AtomicBool::new(false);
/// The signal that asked (`last_sig_received`).
static LAST_SIG: AtomicI32 = AtomicI32::new(0);
/// Whether the dataset is being loaded (the handler's message says so).
static LOADING: AtomicBool = AtomicBool::new(false);
/// The unix socket's path, removed on the way out (Redis's `closeListeningSockets`; the
/// TCP listeners close with the process).
static UNIX_SOCKET: OnceLock<String> = OnceLock::new();
/// The temporary file a save by this process writes (`temp-<pid>.rdb`, in the working
/// directory), removed when a second SIGINT cuts a save short.
static TEMP_RDB: OnceLock<CString> = OnceLock::new();

/// The shutdown in progress, if any (inside the store).
#[derive(Debug)]
pub struct ShutdownState {
    /// The flags of the shutdown being carried out.
    pub flags: u32,
    /// When the wait for replicas ends (unix ms; 0 when no shutdown is initiated).
    pub deadline_ms: i64,
    /// Bumped when a shutdown is cancelled: the clients blocked in SHUTDOWN get their
    /// error then.
    cancelled: watch::Sender<u64>,
    /// Clients blocked in SHUTDOWN (counted in `blocked_clients`).
    pub blocked: usize,
}

impl Default for ShutdownState {
    fn default() -> Self {
        ShutdownState { flags: 0, deadline_ms: 0, cancelled: watch::channel(0).0, blocked: 0 }
    }
}

impl ShutdownState {
    /// Whether a shutdown waits for replicas (`isShutdownInitiated`).
    pub fn initiated(&self) -> bool {
        self.deadline_ms != 0
    }

    /// `shutdown_in_milliseconds` of INFO.
    pub fn remaining_ms(&self) -> i64 {
        if self.initiated() {
            (self.deadline_ms - crate::util::time::unix_ms()).max(0)
        } else {
            0
        }
    }

    /// A receiver that changes when the shutdown is cancelled.
    pub fn watch_cancel(&self) -> watch::Receiver<u64> {
        self.cancelled.subscribe()
    }
}

/// What SHUTDOWN's request led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is saved: the process exits now.
    Exit,
    /// Waiting for replicas (or for the shutdown another client started).
    Waiting,
    /// It failed (the reason is logged): the server keeps running.
    Failed,
}

/// Installs the SIGINT / SIGTERM handler (Redis's `sigShutdownHandler`).
pub fn install_signal_handlers() {
    let _ = TEMP_RDB.set(CString::new(format!("temp-{}.rdb", std::process::id())).unwrap_or_default());
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with an `extern "C" fn(c_int)` handler.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut act.sa_mask);
            act.sa_sigaction = on_signal as *const () as usize;
            // The handler only records the request: system calls it interrupts resume
            // (a `waitpid` or `write` elsewhere must not fail with EINTR because of it).
            act.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// Records the unix socket's path (at startup).
pub fn note_unix_socket(path: &str) {
    let _ = UNIX_SOCKET.set(path.to_string());
}

fn close_unix_socket() {
    if let Some(p) = UNIX_SOCKET.get() {
        let _ = std::fs::remove_file(p);
    }
}

/// Tells the handler whether the dataset is being loaded.
pub fn set_loading(on: bool) {
    LOADING.store(on, Ordering::Relaxed);
}

/// After the synchronous part of the boot load (the AOF replay, during which no cron
/// runs): a shutdown a signal asked for meanwhile happens now, without saving, as Redis's
/// `whileBlockedCron` does during a load; if it fails the server goes on.
pub fn after_boot_load(store: &mut Store) {
    // A background RDB load goes on (`loading::prepare` set the flag again).
    set_loading(store.loading.is_some());
    if requested() && store.loading.is_none() {
        if prepare(store, ShutdownFlags::NOSAVE) == Outcome::Exit {
            std::process::exit(0);
        }
        crate::log_warning!(
            "SIGTERM received but errors trying to shut down the server, check the logs for more information"
        );
        ASAP.store(false, Ordering::SeqCst);
        LAST_SIG.store(0, Ordering::SeqCst);
    }
}

/// Whether a signal asked for a shutdown not yet carried out.
pub fn requested() -> bool {
    ASAP.load(Ordering::SeqCst)
}

extern "C" fn on_signal(sig: libc::c_int) {
    // The interrupted code may be between a failing call and its errno check.
    // SAFETY: __errno_location returns this thread's errno slot.
    let saved_errno = unsafe { *libc::__errno_location() };
    record_signal(sig);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved_errno };
}

/// The handler's work: only atomics, write(2), unlink(2) and _exit(2), all
/// async-signal-safe (no allocation, no lock).
fn record_signal(sig: libc::c_int) {
    if ASAP.load(Ordering::SeqCst) && sig == libc::SIGINT {
        super::crash::log_from_handler(b"You insist... exiting now.");
        if let Some(p) = TEMP_RDB.get() {
            // SAFETY: unlink(2) of a NUL-terminated path; async-signal-safe.
            unsafe { libc::unlink(p.as_ptr()) };
        }
        // SAFETY: ends the process at once (not a clean shutdown: status 1).
        unsafe { libc::_exit(1) };
    }
    let msg: &[u8] = if LOADING.load(Ordering::Relaxed) {
        b"Received shutdown signal during loading, scheduling shutdown."
    } else if sig == libc::SIGINT {
        b"Received SIGINT scheduling shutdown..."
    } else {
        b"Received SIGTERM scheduling shutdown..."
    };
    super::crash::log_from_handler(msg);
    LAST_SIG.store(sig, Ordering::SeqCst);
    ASAP.store(true, Ordering::SeqCst);
}

/// Whether every replica acknowledged the whole stream (`isReadyToShutdown`).
fn replicas_in_sync(store: &Store) -> bool {
    let offset = store.stream.offset();
    store.repl.replicas.iter().all(|r| r.ack_offset == offset)
}

/// `prepareForShutdown`: waits for lagging replicas unless NOW (or no timeout), else
/// finishes at once.
pub fn prepare(store: &mut Store, mut flags: u32) -> Outcome {
    if store.shutdown.initiated() {
        return Outcome::Waiting;
    }
    if store.loading.is_some() {
        // A half-loaded dataset must not overwrite the snapshot.
        flags = (flags & !ShutdownFlags::SAVE) | ShutdownFlags::NOSAVE;
    }
    store.shutdown.flags = flags;
    crate::log_warning!("User requested shutdown...");
    if flags & ShutdownFlags::NOW == 0 && store.cfg.shutdown_timeout != 0 && !replicas_in_sync(store) {
        store.shutdown.deadline_ms = crate::util::time::unix_ms() + store.cfg.shutdown_timeout as i64 * 1000;
        if store.pause.active().is_none() {
            crate::replication::master::request_acks(store);
        }
        store.pause.set_shutdown(true);
        crate::log_notice!("Waiting for replicas before shutting down.");
        return Outcome::Waiting;
    }
    finish(store)
}

/// `finishShutdown`: the last steps; Exit when the process may exit, Failed (after
/// cancelling the shutdown) when the AOF or the snapshot could not be made safe.
pub fn finish(store: &mut Store) -> Outcome {
    let flags = store.shutdown.flags;
    let (save, nosave, force) =
        (flags & ShutdownFlags::SAVE != 0, flags & ShutdownFlags::NOSAVE != 0, flags & ShutdownFlags::FORCE != 0);
    let offset = store.stream.offset();
    let mut lagging = 0;
    for r in &store.repl.replicas {
        if r.ack_offset != offset {
            lagging += 1;
            let lag = if r.state == crate::replication::master::ReplicaState::Online {
                r.ack_time.elapsed().as_secs()
            } else {
                0
            };
            crate::log_warning!(
                "Lagging replica {}:{} reported offset {} behind master, lag={lag}, state={}.",
                r.ip,
                r.conf.listening_port,
                offset.saturating_sub(r.ack_offset),
                r.state.name()
            );
        }
    }
    let n = store.repl.replicas.len();
    if n > 0 {
        crate::log_notice!("{} of {n} replicas are in sync when shutting down.", n - lagging);
    }
    if store.bgsave.in_progress() {
        crate::log_warning!("There is a child saving an .rdb. Killing it!");
        crate::persistence::bgsave::kill_child(store);
    }
    if store.aofrw.running.is_some() {
        if crate::persistence::aof::state(store) == crate::persistence::aof::AofState::WaitRewrite {
            if force {
                crate::log_warning!("Writing initial AOF. Exit anyway.");
            } else {
                crate::log_warning!("Writing initial AOF, can't exit.");
                return failed(store);
            }
        }
        crate::log_warning!("There is a child rewriting the AOF. Killing it!");
        crate::persistence::aof::kill_rewrite(store);
    }
    if store.aof.is_some() {
        crate::log_notice!("Calling fsync() on the AOF file.");
        crate::persistence::aof::flush(store);
        if let Err(e) = crate::persistence::aof::fsync(store) {
            crate::log_warning!("Fail to fsync the AOF file: {}.", crate::config::cstr::strerror(&e));
        }
    }
    if (!store.cfg.save.is_empty() && !nosave) || save {
        crate::log_notice!("Saving the final RDB snapshot before exiting.");
        if let Err(e) = crate::persistence::snapshot::save_now(store) {
            if force {
                crate::log_warning!("Error trying to save the DB. Exit anyway.");
            } else {
                crate::log_warning!("Error trying to save the DB, can't exit: {e}");
                return failed(store);
            }
        }
    }
    if let Some(p) = pidfile(&store.cfg) {
        crate::log_notice!("Removing the pid file.");
        let _ = std::fs::remove_file(p);
    }
    // Best effort: what the replicas have not been handed yet goes to their feeds.
    crate::replication::master::feed(store);
    close_unix_socket();
    crate::log_warning!("fluidB is now ready to exit, bye bye...");
    Outcome::Exit
}

fn failed(store: &mut Store) -> Outcome {
    crate::log_warning!("Errors trying to shut down the server. Check the logs for more information.");
    cancel(store);
    Outcome::Failed
}

/// The pidfile the server wrote: the configured one, or Redis's default when daemonized.
pub fn pidfile(cfg: &crate::config::Config) -> Option<String> {
    match &cfg.pidfile {
        Some(p) if !p.is_empty() => Some(p.clone()),
        _ if cfg.daemonize => Some("/var/run/fluidb.pid".to_string()),
        _ => None,
    }
}

/// `cancelShutdown`: no shutdown pending any more; the clients blocked in SHUTDOWN get
/// their error and writes resume.
fn cancel(store: &mut Store) {
    ASAP.store(false, Ordering::SeqCst);
    LAST_SIG.store(0, Ordering::SeqCst);
    store.shutdown.flags = 0;
    store.shutdown.deadline_ms = 0;
    store.shutdown.cancelled.send_modify(|g| *g = g.wrapping_add(1));
    store.pause.set_shutdown(false);
}

/// SHUTDOWN ABORT (`abortShutdown`): true if a shutdown was pending.
pub fn abort(store: &mut Store) -> bool {
    if store.shutdown.initiated() {
        cancel(store);
    } else if ASAP.swap(false, Ordering::SeqCst) {
        // A signal asked, the cron has not acted yet.
    } else {
        return false;
    }
    crate::log_notice!("Shutdown manually aborted.");
    true
}

/// The cron's part (serverCron): carries out a signal's request, and ends the wait for
/// replicas once they caught up or the time is up. Returns true when the process must
/// exit now.
pub fn cron(store: &mut Store) -> bool {
    if requested() && !store.shutdown.initiated() {
        let flags = match LAST_SIG.load(Ordering::SeqCst) {
            libc::SIGINT if store.cfg.shutdown_on_sigint.0 != 0 => store.cfg.shutdown_on_sigint.0,
            libc::SIGTERM if store.cfg.shutdown_on_sigterm.0 != 0 => store.cfg.shutdown_on_sigterm.0,
            _ => 0,
        };
        // ASAP stays set while the shutdown runs: a second SIGINT then exits at once.
        return prepare(store, flags) == Outcome::Exit;
    }
    if store.shutdown.initiated()
        && (crate::util::time::unix_ms() >= store.shutdown.deadline_ms || replicas_in_sync(store))
    {
        return finish(store) == Outcome::Exit;
    }
    false
}

/// A client blocked in SHUTDOWN (`BLOCKED_SHUTDOWN`) waits until the process exits or the
/// shutdown is cancelled (true: it gets its error then). False when the client went away
/// or was killed meanwhile (or `connected` is false: its earlier replies could not be
/// written). Its input is still read, as Redis reads a blocked client's, to see it close.
pub async fn wait_blocked<S: tokio::io::AsyncRead + Unpin>(
    shared: &super::Shared,
    sock: &mut S,
    inbuf: &mut bytes::BytesMut,
    client: &crate::server::client::Client,
    gen: u64,
    connected: bool,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut rx = shared.lock_store().shutdown.watch_cancel();
    let mut cancelled = false;
    while connected && !client.shared.is_killed() {
        tokio::select! {
            _ = rx.wait_for(|g| *g != gen) => {
                cancelled = true;
                break;
            }
            _ = client.shared.kill_notify.notified() => break,
            r = sock.read_buf(inbuf) => {
                let closed = !matches!(r, Ok(n) if n > 0);
                if closed || inbuf.len() > shared.query_buffer_limit.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
    }
    let mut st = shared.lock_store();
    st.shutdown.blocked = st.shutdown.blocked.saturating_sub(1);
    cancelled
}
