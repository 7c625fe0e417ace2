//! The server cron (Redis's `serverCron`): active expiry, client timeouts, and other
//! periodic work, `hz` times per second. Every step holds the store lock only briefly.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;

/// Longest time one active-expiry step may hold the lock: short enough that no client
/// waits noticeably, however many keys expire at once.
const EXPIRE_STEP_BUDGET: Duration = Duration::from_millis(1);
/// Keys sampled per database per step at `active-expire-effort 1` (Redis's
/// ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP); each effort step above 1 adds a quarter.
const EXPIRE_KEYS_PER_LOOP: usize = 20;
/// Share of one cron tick an expiry cycle may take at effort 1, in percent (Redis's
/// ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC); each effort step above 1 adds 2.
const EXPIRE_CYCLE_PERC: u64 = 25;
/// Clients one cron tick serves before `dynamic-hz` doubles the frequency (Redis's
/// MAX_CLIENTS_PER_CLOCK_TICK).
const MAX_CLIENTS_PER_TICK: usize = 200;

pub async fn run(shared: Arc<Shared>) {
    loop {
        let hz = {
            let mut st = shared.store.lock();
            st.hz = effective_hz(st.cfg.hz, st.cfg.dynamic_hz, st.clients.by_id.len());
            st.hz
        };
        tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
        if shared.store.lock().pause_cron {
            continue; // DEBUG PAUSE-CRON
        }
        crate::util::time::refresh_lru_clock();
        active_expire_cycle(&shared).await;
        client_timeouts(&shared);
        clients_cron(&shared);
        rehash(&shared);
        {
            let mut st = shared.lock_store();
            st.child_info.cron();
            crate::persistence::bgsave::cron(&mut st);
            crate::persistence::aof::cron(&mut st);
            crate::replication::cron(&shared, &mut st);
            // Deletions by active expiry reach the AOF and the replicas too.
            st.flush_stream_consumers();
            if super::shutdown::cron(&mut st) {
                std::process::exit(0);
            }
        }
    }
}

/// Samples keys with a TTL and deletes the expired ones, repeating while more than 25% of
/// a sample was expired, within the cycle budget, releasing the lock between steps.
pub async fn active_expire_cycle(shared: &Shared) {
    let cycle_start = Instant::now();
    let (keys_per_loop, budget) = {
        let st = shared.store.lock();
        let effort = st.cfg.active_expire_effort.clamp(1, 10) as usize - 1;
        let perc = EXPIRE_CYCLE_PERC + 2 * effort as u64;
        (
            EXPIRE_KEYS_PER_LOOP + EXPIRE_KEYS_PER_LOOP / 4 * effort,
            Duration::from_micros(perc * 10_000 / st.hz.max(1) as u64),
        )
    };
    loop {
        let more = {
            let mut st = shared.store.lock();
            if !st.active_expire_enabled || st.pause.active().is_some() {
                return;
            }
            if st.plain_replica() {
                // A replica expires only the keys its own clients gave a TTL
                // (`replication::own_expires`, from the replication cron).
                return;
            }
            let step_start = Instant::now();
            let now = crate::util::time::unix_ms();
            let mut any_db_busy = false;
            for db in 0..st.dbs.len() {
                if st.dbs[db].expires.is_empty() {
                    continue;
                }
                let sampled = st.dbs[db].sample_expires(keys_per_loop);
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
        if cycle_start.elapsed() > budget {
            shared.store.lock().stats.expired_time_cap_reached_count += 1;
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// The cron frequency: `hz`, doubled (up to 500) while each tick would serve more than
/// MAX_CLIENTS_PER_TICK clients under `dynamic-hz` (Redis's serverCron).
fn effective_hz(configured: i32, dynamic: bool, clients: usize) -> i32 {
    let mut hz = configured.clamp(crate::config::HZ_MIN, crate::config::HZ_MAX);
    if dynamic {
        while clients / hz as usize > MAX_CLIENTS_PER_TICK && hz < crate::config::HZ_MAX {
            hz = (hz * 2).min(crate::config::HZ_MAX);
        }
    }
    hz
}

/// Advances incremental rehashing of every database, 1 ms per database at most per tick
/// (`activerehashing yes`; with `no`, tables rehash only as commands touch them); none
/// while a child process exists (Redis's `databasesCron`: a rehash would copy the pages
/// the child shares).
fn rehash(shared: &Shared) {
    let n = {
        let st = shared.store.lock();
        st.update_dict_resize_policy();
        if !st.cfg.activerehashing || crate::persistence::aof::has_active_child(&st) {
            return;
        }
        st.dbs.len()
    };
    for db in 0..n {
        shared.store.lock().dbs[db].rehash_for_micros(1000);
    }
}

/// Seconds of history behind INFO's `client_recent_max_input_buffer` /
/// `client_recent_max_output_buffer` (Redis's CLIENTS_PEAK_MEM_USAGE_SLOTS).
pub const CLIENTS_PEAK_MEM_USAGE_SLOTS: usize = 8;

/// Redis's `clientsCron`, for the parts that concern buffers: asks connections to trim
/// their query buffers (freed after 2 s idle, trimmed to the recent peak when much larger)
/// and resizes their reply buffers following their peak use; tracks the largest buffers
/// of the last seconds for INFO; closes clients whose output stayed over the soft limit
/// (or over the hard one) although nothing was added since. The buffers belong to the
/// connection tasks: the cron publishes targets and wakes the task, which resizes.
fn clients_cron(shared: &Shared) {
    use super::client::{ObufClass, NO_RESIZE, PROTO_REPLY_CHUNK_BYTES, PROTO_REPLY_MIN_BYTES, PROTO_RESIZE_THRESHOLD};
    let mut st = shared.store.lock();
    let now_ms = shared.started.elapsed().as_millis() as i64;
    let now_secs = crate::util::time::unix_secs();
    let slot = now_secs.rem_euclid(CLIENTS_PEAK_MEM_USAGE_SLOTS as i64) as usize;
    let next = (slot + 1) % CLIENTS_PEAK_MEM_USAGE_SLOTS;
    st.clients.peak_input[next] = 0;
    st.clients.peak_output[next] = 0;
    let reset_ms = shared.reply_buffer_peak_reset_ms.load(Ordering::Relaxed);
    let resizing = shared.reply_buffer_resizing.load(Ordering::Relaxed);
    let (mut shrinks, mut expands, mut peak_in, mut peak_out) = (0, 0, 0, 0);
    for c in st.clients.by_id.values() {
        let b = &c.bufs;
        let mut wake = false;
        // Query buffer: only worth it when it wastes a few kilobytes.
        let (len, cap) = (b.qbuf_len.load(Ordering::Relaxed), b.qbuf_cap.load(Ordering::Relaxed));
        let peak = b.qbuf_peak.load(Ordering::Relaxed);
        if cap.saturating_sub(len) > 4096 {
            let idle = c.info.lock().last_interaction.elapsed().as_secs();
            let target = if idle > 2 {
                0
            } else if cap > PROTO_RESIZE_THRESHOLD && cap / 2 > peak {
                len.max(peak)
            } else {
                NO_RESIZE
            };
            if target != NO_RESIZE {
                b.qbuf_target.store(target, Ordering::Relaxed);
                wake = true;
            }
        }
        b.qbuf_peak.store(len, Ordering::Relaxed);
        // Reply buffer.
        let rbs = b.rbs.load(Ordering::Relaxed);
        let pending = c.output_pending();
        if resizing {
            let peak = b.rbp.load(Ordering::Relaxed);
            let new = if rbs / 2 >= PROTO_REPLY_MIN_BYTES && peak < rbs / 2 {
                shrinks += 1;
                PROTO_REPLY_MIN_BYTES.max(peak + 1)
            } else if rbs * 2 < PROTO_REPLY_CHUNK_BYTES * 2 && peak == rbs {
                expands += 1;
                PROTO_REPLY_CHUNK_BYTES.min(rbs * 2)
            } else {
                0
            };
            if reset_ms >= 0 && now_ms - b.rbp_reset_ms.load(Ordering::Relaxed) >= reset_ms {
                b.rbp.store(pending.min(rbs), Ordering::Relaxed);
                b.rbp_reset_ms.store(now_ms, Ordering::Relaxed);
            }
            if new != 0 {
                b.rbs.store(new, Ordering::Relaxed);
                wake = true;
            }
        }
        peak_in = peak_in.max(cap);
        let (_, _, omem) = super::client::output_usage(pending, b.rbs.load(Ordering::Relaxed));
        peak_out = peak_out.max(omem);
        if let Some(class) = ObufClass::from_u8(b.class.load(Ordering::Relaxed)) {
            if class != ObufClass::Replica && c.output_limit_reached_with(class, pending) {
                c.close_for_output_limit();
                continue;
            }
        }
        if wake {
            c.wake.notify_one();
        }
    }
    st.stats.reply_buffer_shrinks += shrinks;
    st.stats.reply_buffer_expands += expands;
    let p = &mut st.clients;
    p.peak_input[slot] = p.peak_input[slot].max(peak_in);
    p.peak_output[slot] = p.peak_output[slot].max(peak_out);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_hz_doubles_per_200_clients_per_tick() {
        assert_eq!(effective_hz(10, true, 0), 10);
        assert_eq!(effective_hz(10, true, 2000), 10);
        assert_eq!(effective_hz(10, true, 2010), 20);
        assert_eq!(effective_hz(10, true, 9000), 80);
        assert_eq!(effective_hz(10, false, 9000), 10);
        assert_eq!(effective_hz(10, true, 10_000_000), 500);
        assert_eq!(effective_hz(0, true, 0), 1);
    }
}
