//! FAILOVER: a master hands its role to one of its replicas without losing writes (Redis
//! 7.0's coordinated failover, `failoverCommand` / `updateFailoverStatus`).
//!
//! 1. FAILOVER pauses writes (a pause of its own, which CLIENT UNPAUSE does not lift), so
//!    the stream stops growing: `waiting-for-sync`.
//! 2. The cron waits until the target (or, without TO, any replica) acknowledged the whole
//!    stream; with TIMEOUT the wait ends then: an abort, or with FORCE a failover anyway.
//! 3. The master becomes a replica of the target (`failover-in-progress`) and its PSYNC
//!    carries FAILOVER: the target, if it still follows our history, becomes a master
//!    (`replicationUnsetMaster`) and answers +CONTINUE. Then the pause ends; if the
//!    target refuses, the old master takes its role back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::master::{Replica, ReplicaState};
use crate::server::store::Store;
use crate::server::Shared;

/// Where a failover is (INFO `master_failover_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverState {
    /// Writes are paused; waiting for a replica to catch up.
    WaitForSync,
    /// This node is a replica of the target, asking it with PSYNC ... FAILOVER.
    InProgress,
}

/// A failover in progress.
#[derive(Debug, Clone)]
pub struct Failover {
    pub state: FailoverState,
    /// The replica to hand over to (chosen by the cron when FAILOVER named none).
    pub target: Option<(String, u16)>,
    /// TIMEOUT: when waiting for the target ends.
    pub deadline: Option<Instant>,
    /// FORCE: at the deadline, fail over to the target even if it did not catch up.
    pub force: bool,
}

/// INFO's `master_failover_state` (`getFailoverStateString`).
pub fn state_name(store: &Store) -> &'static str {
    match store.repl.failover.as_ref().map(|f| f.state) {
        None => "no-failover",
        Some(FailoverState::WaitForSync) => "waiting-for-sync",
        Some(FailoverState::InProgress) => "failover-in-progress",
    }
}

/// The replica announced at `host`:`port` (`findReplica`): its REPLCONF ip-address, or
/// the address it connected from, and its listening port.
pub fn find_replica<'a>(store: &'a Store, host: &str, port: i64) -> Option<&'a Replica> {
    store.repl.replicas.iter().find(|r| r.ip.eq_ignore_ascii_case(host) && i64::from(r.conf.listening_port) == port)
}

/// Starts a failover (FAILOVER's checks are done by the command): writes pause.
pub fn start(store: &mut Store, target: Option<(String, u16)>, timeout_ms: i64, force: bool) {
    match &target {
        Some((h, p)) => crate::log_notice!("FAILOVER requested to {h}:{p}."),
        None => crate::log_notice!("FAILOVER requested to any replica."),
    }
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
    store.repl.failover = Some(Failover { state: FailoverState::WaitForSync, target, deadline, force });
    store.pause.set_failover(true);
}

/// Ends the failover state and its pause (`clearFailoverState`).
pub fn clear(store: &mut Store) {
    store.repl.failover = None;
    store.pause.set_failover(false);
}

/// Gives up (`abortFailover`): a node already following the target becomes a master
/// again.
pub fn abort(store: &mut Store, why: &str) {
    let Some(f) = store.repl.failover.as_ref() else { return };
    match &f.target {
        Some((h, p)) => crate::log_notice!("FAILOVER to {h}:{p} aborted: {why}"),
        None => crate::log_notice!("FAILOVER to any replica aborted: {why}"),
    }
    if f.state == FailoverState::InProgress {
        super::replica::unset_master(store);
        store.cfg.replicaof.clear();
    }
    clear(store);
}

/// The failover's progress, from the cron (`updateFailoverStatus`): the deadline, then
/// whether a replica caught up with the whole stream.
pub fn cron(shared: &Arc<Shared>, store: &mut Store) {
    let Some(f) = store.repl.failover.clone() else { return };
    if f.state != FailoverState::WaitForSync {
        return;
    }
    if f.deadline.is_some_and(|d| Instant::now() >= d) {
        match f.target.filter(|_| f.force) {
            Some((host, port)) => {
                crate::log_notice!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                hand_over(shared, store, host, port);
            }
            None => abort(store, "Replica never caught up before timeout"),
        }
        return;
    }
    let offset = store.stream.offset();
    let synced = |r: &&Replica| r.state == ReplicaState::Online && r.ack_offset == offset;
    let target = match &f.target {
        Some((host, port)) => find_replica(store, host, i64::from(*port)).filter(synced).map(|_| (host.clone(), *port)),
        None => store.repl.replicas.iter().find(synced).map(|r| (r.ip.clone(), r.conf.listening_port)),
    };
    if let Some((host, port)) = target {
        crate::log_notice!("Failover target {host}:{port} is synced, failing over.");
        hand_over(shared, store, host, port);
    }
}

/// Becomes a replica of the target; the link's PSYNC asks it to take over.
fn hand_over(shared: &Arc<Shared>, store: &mut Store, host: String, port: u16) {
    if let Some(f) = store.repl.failover.as_mut() {
        f.state = FailoverState::InProgress;
        f.target = Some((host.clone(), port));
    }
    super::replica::set_master(shared, store, host.clone(), port);
    store.cfg.replicaof = vec![(host, port)];
}

/// Whether this node's PSYNC must carry FAILOVER.
pub fn in_progress(store: &Store) -> bool {
    store.repl.failover.as_ref().is_some_and(|f| f.state == FailoverState::InProgress)
}
