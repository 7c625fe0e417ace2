//! The server cron (Redis's `serverCron`): active expiry, client timeouts, and other
//! periodic work, `hz` times per second. Every step holds the store lock only briefly.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;

/// Longest time one active-expiry step may hold the lock: short enough that no client
/// waits noticeably, however many keys expire at once.
const EXPIRE_STEP_BUDGET: Duration = Duration::from_millis(1);
/// Keys sampled per database per step (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
const EXPIRE_KEYS_PER_LOOP: usize = 20;
/// Total time budget of one cycle (25% of a 100 ms tick, like Redis's slow cycle).
const EXPIRE_CYCLE_BUDGET: Duration = Duration::from_millis(25);

pub async fn run(shared: Arc<Shared>) {
    loop {
        let hz = shared.store.lock().cfg.hz.clamp(1, 500);
        tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
        if shared.shutting_down.load(Ordering::Relaxed) {
            return;
        }
        crate::util::time::refresh_lru_clock();
        active_expire_cycle(&shared).await;
        client_timeouts(&shared);
        rehash(&shared);
        {
            let mut st = shared.lock_store();
            crate::persistence::bgsave::cron(&mut st);
            crate::persistence::aof::cron(&mut st);
            crate::replication::master::cron(&mut st);
            // Deletions by active expiry reach the AOF and the replicas too.
            st.flush_stream_consumers();
        }
    }
}

/// Samples keys with a TTL and deletes the expired ones, repeating while more than 25% of
/// a sample was expired, within the cycle budget, releasing the lock between steps.
pub async fn active_expire_cycle(shared: &Shared) {
    let cycle_start = Instant::now();
    loop {
        let more = {
            let mut st = shared.store.lock();
            if !st.active_expire_enabled || st.pause.active().is_some() {
                return;
            }
            if st.is_replica {
                return expire_replica_keys(&mut st);
            }
            st.replica_keys_with_expire.clear(); // promoted: every key is ours to expire
            let step_start = Instant::now();
            let now = crate::util::time::unix_ms();
            let mut any_db_busy = false;
            for db in 0..st.dbs.len() {
                if st.dbs[db].expires.is_empty() {
                    continue;
                }
                let sampled = st.dbs[db].sample_expires(EXPIRE_KEYS_PER_LOOP);
                let mut expired = 0;
                for key in &sampled {
                    if st.expire_if_needed(db, key, now) {
                        expired += 1;
                    }
                }
                // Each deletion on its own, never wrapped (as Redis's active expiry).
                crate::commands::call::flush_propagation(&mut st, false);
                if !sampled.is_empty() && expired * 4 > sampled.len() {
                    any_db_busy = true;
                }
                if step_start.elapsed() > EXPIRE_STEP_BUDGET {
                    any_db_busy = true;
                    break;
                }
            }
            any_db_busy
        };
        if !more {
            return;
        }
        if cycle_start.elapsed() > EXPIRE_CYCLE_BUDGET {
            shared.store.lock().stats.expired_time_cap_reached_count += 1;
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// A replica's active expiry (Redis's `expireSlaveKeys`): only the keys its own clients
/// gave a TTL (`Store::replica_keys_with_expire`); its master's keys go when the master's
/// DEL arrives. The deletions stay local, as the writes that created those keys do.
fn expire_replica_keys(st: &mut super::store::Store) {
    if st.replica_keys_with_expire.is_empty() {
        return;
    }
    let start = Instant::now();
    let now = crate::util::time::unix_ms();
    let mut tracked = std::mem::take(&mut st.replica_keys_with_expire);
    let mut visited = 0usize;
    tracked.retain(|key, dbs| {
        visited += 1;
        if visited.is_multiple_of(64) && start.elapsed() > EXPIRE_STEP_BUDGET {
            return true; // the next cycle goes on
        }
        let mut left = 0u64;
        for db in 0..st.dbs.len().min(64) {
            if *dbs & (1 << db) == 0 {
                continue;
            }
            match st.dbs[db].peek(key) {
                Some(e) if e.is_expired(now) => st.delete_expired(db, key),
                Some(e) if e.has_expire() => left |= 1 << db,
                _ => {}
            }
        }
        *dbs = left;
        left != 0
    });
    st.replica_keys_with_expire = tracked;
    st.pending_propagate.clear();
}

/// Advances incremental rehashing of every database, 1 ms per database at most per tick.
fn rehash(shared: &Shared) {
    let n = shared.store.lock().dbs.len();
    for db in 0..n {
        shared.store.lock().dbs[db].rehash_for_micros(1000);
    }
}

/// Closes clients idle for longer than `timeout` seconds (not subscribers, as Redis).
fn client_timeouts(shared: &Shared) {
    let st = shared.store.lock();
    let timeout = st.cfg.timeout;
    if timeout == 0 {
        return;
    }
    let limit = Duration::from_secs(timeout as u64);
    for c in st.clients.by_id.values() {
        let info = c.info.lock();
        // Subscribers and MONITOR clients (replicas in Redis) are never timed out.
        if info.sub + info.psub + info.ssub > 0 || c.is_monitor.load(Ordering::Relaxed) {
            continue;
        }
        if info.last_interaction.elapsed() > limit {
            drop(info);
            log_verbose!("Closing idle client");
            c.kill();
        }
    }
}
