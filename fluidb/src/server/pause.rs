//! CLIENT PAUSE (Redis's pause.c / `processCommand` check): while a pause is active, the
//! commands it covers wait before executing, with the store lock released. ALL covers
//! every command; WRITE covers writes and may-replicate commands (PUBLISH, EVAL,
//! PFCOUNT...), and an EXEC whose transaction contains one. Commands that would be
//! rejected anyway (unknown, wrong arity, not authenticated) are not held back. On a
//! replica the master's stream is held back too (Redis pauses its master client; only the
//! connections of replicas are never paused): it is still read, but not applied.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::commands::call::resolve;
use crate::commands::table::{flags, CommandTable};
use crate::server::client::Client;
use crate::server::store::Store;

/// What a pause holds back. `All` is stricter than `Write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    Write,
    All,
}

/// The server's pause state (inside the store).
#[derive(Debug)]
pub struct PauseState {
    pub kind: Option<PauseKind>,
    /// When the pause ends by itself.
    pub end: Instant,
    /// Bumped whenever the pause is lifted, to wake the waiting clients.
    tx: watch::Sender<u64>,
    /// Clients currently waiting (counted in `blocked_clients`, as Redis counts them).
    pub waiting: Arc<AtomicUsize>,
    /// A FAILOVER holds writes until it ends (Redis's `PAUSE_DURING_FAILOVER`, a pause
    /// purpose of its own: CLIENT PAUSE and UNPAUSE do not change it).
    failover: bool,
    /// A shutdown waiting for lagging replicas holds writes too (`PAUSE_DURING_SHUTDOWN`)
    /// until it is cancelled (or the process exits).
    shutdown: bool,
}

impl Default for PauseState {
    fn default() -> Self {
        PauseState {
            kind: None,
            end: Instant::now(),
            tx: watch::channel(0).0,
            waiting: Arc::new(AtomicUsize::new(0)),
            failover: false,
            shutdown: false,
        }
    }
}

impl PauseState {
    /// Starts or extends a pause: the later end and the stricter kind win (Redis 7.0).
    pub fn pause(&mut self, kind: PauseKind, duration: Duration) {
        let end = Instant::now() + duration;
        match self.kind {
            Some(k) if self.end > Instant::now() => {
                self.kind = Some(k.max(kind));
                self.end = self.end.max(end);
            }
            _ => {
                self.kind = Some(kind);
                self.end = end;
            }
        }
        if self.end <= Instant::now() {
            self.unpause();
        }
    }

    /// Lifts the pause and wakes every waiting client.
    pub fn unpause(&mut self) {
        self.kind = None;
        self.tx.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The active pause kind, lifting an expired pause.
    pub fn active(&mut self) -> Option<PauseKind> {
        let client = match self.kind {
            Some(_) if Instant::now() >= self.end => {
                self.unpause();
                None
            }
            k => k,
        };
        if self.failover || self.shutdown {
            return Some(client.map_or(PauseKind::Write, |k| k.max(PauseKind::Write)));
        }
        client
    }

    /// Starts or ends the failover's write pause; its end wakes the waiting clients.
    pub fn set_failover(&mut self, on: bool) {
        if self.failover && !on {
            self.tx.send_modify(|v| *v = v.wrapping_add(1));
        }
        self.failover = on;
    }

    /// Starts or ends the write pause of a shutdown waiting for replicas; its end wakes
    /// the waiting clients.
    pub fn set_shutdown(&mut self, on: bool) {
        if self.shutdown && !on {
            self.tx.send_modify(|v| *v = v.wrapping_add(1));
        }
        self.shutdown = on;
    }

    /// Until when a client held back now waits before it looks again: the client pause's
    /// end, or (a failover's or shutdown's pause alone) until woken.
    fn wait_until(&self) -> Instant {
        match self.kind {
            Some(_) => self.end,
            None => Instant::now() + Duration::from_secs(3600),
        }
    }

    pub fn waiting_clients(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A client waiting for a pause to end. Counted as blocked while it exists.
pub struct PauseWait {
    until: Instant,
    rx: watch::Receiver<u64>,
    waiting: Arc<AtomicUsize>,
}

impl PauseWait {
    /// Resolves when the pause ends (its deadline or CLIENT UNPAUSE); the wait still
    /// counts as a blocked client until dropped. The caller re-checks afterwards: a new
    /// pause may have started.
    pub async fn ended(&mut self) {
        tokio::select! {
            _ = tokio::time::sleep_until(self.until.into()) => {}
            _ = self.rx.changed() => {}
        }
    }

    /// Waits until the pause ends (its deadline or CLIENT UNPAUSE) or the client is
    /// killed. The caller re-checks afterwards: a new pause may have started.
    pub async fn wait(mut self, killed: &tokio::sync::Notify) {
        tokio::select! {
            _ = self.ended() => {}
            _ = killed.notified() => {}
        }
    }
}

impl Drop for PauseWait {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether `argv` from `client` must wait for the current pause; if so, the wait handle.
/// Cheap when no pause is active (one branch).
pub fn must_wait(store: &mut Store, client: &Client, argv: &[Bytes]) -> Option<PauseWait> {
    if store.pause.kind.is_none() && !store.pause.failover && !store.pause.shutdown {
        return None;
    }
    let kind = store.pause.active()?;
    let table = CommandTable::get();
    let cmd = resolve(table, argv).ok()?;
    if !client.authenticated && cmd.def.flags & flags::NO_AUTH == 0 {
        return None;
    }
    let held = match kind {
        PauseKind::All => true,
        PauseKind::Write => {
            let may_replicate = |f: u32| f & (flags::WRITE | flags::MAY_REPLICATE) != 0;
            may_replicate(cmd.def.flags)
                || (cmd.def.name == "exec" && client.multi.as_ref().is_some_and(|m| may_replicate(m.flags)))
        }
    };
    if !held {
        return None;
    }
    let p = &store.pause;
    p.waiting.fetch_add(1, Ordering::Relaxed);
    let mut rx = p.tx.subscribe();
    rx.mark_unchanged();
    Some(PauseWait { until: p.wait_until(), rx, waiting: p.waiting.clone() })
}
