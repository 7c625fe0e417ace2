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
            crate::replication::cron(&shared, &mut st);
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
            if !st.active_expire_enabled || st.is_replica || st.pause.active().is_some() {
                return;
            }
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
                crate::commands::call::flush_expired_propagation(&mut st);
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
