//! Clock helpers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
#[inline]
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Unix time in microseconds.
#[inline]
pub fn unix_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Unix time in seconds.
pub fn unix_secs() -> i64 {
    unix_ms() / 1000
}

/// Redis's LRU clock: seconds, 24 bits.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// The LRU clock cached by the server cron (Redis's `server.lruclock`): reading it on
/// every key access costs an atomic load instead of a clock call. 0 until first set.
static LRU_CACHED: AtomicU32 = AtomicU32::new(0);

/// Refreshes the cached LRU clock (the cron calls this every tick).
pub fn refresh_lru_clock() {
    LRU_CACHED.store((unix_secs() as u32) & LRU_CLOCK_MAX, Ordering::Relaxed);
}

/// The LRU clock: seconds, 24 bits. Cached with the cron's resolution, like Redis's
/// `LRU_CLOCK()`, which is far finer than the 1 s unit.
#[inline]
pub fn lru_clock() -> u32 {
    match LRU_CACHED.load(Ordering::Relaxed) {
        0 => (unix_secs() as u32) & LRU_CLOCK_MAX,
        v => v,
    }
}

/// Seconds since an LRU clock value, as OBJECT IDLETIME computes it (with wrap-around).
pub fn lru_idle_secs(lru: u32) -> u64 {
    let now = lru_clock();
    if now >= lru {
        (now - lru) as u64
    } else {
        (now + (LRU_CLOCK_MAX - lru)) as u64
    }
}
