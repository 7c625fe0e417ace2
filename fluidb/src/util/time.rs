//! Clock helpers.

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

#[inline]
pub fn lru_clock() -> u32 {
    (unix_secs() as u32) & LRU_CLOCK_MAX
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
