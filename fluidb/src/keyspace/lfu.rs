//! Access frequency of keys under an LFU `maxmemory-policy` (Redis's evict.c LFU half).
//!
//! As in Redis, a key's 24-bit LRU field holds, under an LFU policy, the time of the last
//! decrement in minutes (16 bits) and a logarithmic access counter (8 bits): each access
//! increments the counter with a probability that falls as it grows (`lfu-log-factor`),
//! and the counter loses one per `lfu-decay-time` minutes without access. OBJECT FREQ
//! reads it; RESTORE ... FREQ sets it. Switching policies at run time reinterprets the
//! field, as in Redis.

use rand::Rng;

/// The counter of a newly created key (Redis's `LFU_INIT_VAL`), so new keys are not
/// the first candidates for eviction.
pub const INIT_VAL: u8 = 5;

/// Minutes, 16 bits (Redis's `LFUGetTimeInMinutes`).
fn now_minutes() -> u32 {
    ((crate::util::time::unix_secs() / 60) & 65535) as u32
}

/// Minutes since `ldt`, with the 16-bit wrap-around (Redis's `LFUTimeElapsed`).
fn minutes_since(ldt: u32) -> u32 {
    let now = now_minutes();
    if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    }
}

/// The field for a key whose counter is `counter` now.
pub fn stamp(counter: u8) -> u32 {
    (now_minutes() << 8) | counter as u32
}

/// The counter after the decay since the last decrement (Redis's `LFUDecrAndReturn`):
/// what OBJECT FREQ answers.
pub fn decayed(field: u32, decay_time: i32) -> u8 {
    let counter = field & 255;
    let periods = if decay_time > 0 { minutes_since(field >> 8) / decay_time as u32 } else { 0 };
    counter.saturating_sub(periods) as u8
}

/// Logarithmic increment (Redis's `LFULogIncr`): the higher the counter, the less likely.
fn log_incr(counter: u8, log_factor: i32) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = (counter as f64 - INIT_VAL as f64).max(0.0);
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if rand::thread_rng().gen::<f64>() < p {
        counter + 1
    } else {
        counter
    }
}

/// The field after one access (Redis's `updateLFU`): decay, then increment.
pub fn accessed(field: u32, log_factor: i32, decay_time: i32) -> u32 {
    stamp(log_incr(decayed(field, decay_time), log_factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_is_kept_without_time_and_saturates() {
        assert_eq!(decayed(stamp(100), 1), 100);
        assert_eq!(decayed(stamp(255), 1), 255);
        assert_eq!(decayed(accessed(stamp(255), 10, 1), 1), 255);
        // A counter at or below the initial value always grows by one.
        assert_eq!(decayed(accessed(stamp(INIT_VAL), 10, 1), 1), INIT_VAL + 1);
    }

    #[test]
    fn counter_decays_per_period() {
        let field = ((now_minutes().wrapping_sub(3) & 65535) << 8) | 10;
        assert_eq!(decayed(field, 1), 7);
        assert_eq!(decayed(field, 2), 9);
        assert_eq!(decayed(field, 0), 10); // no decay
        let old = ((now_minutes().wrapping_sub(300) & 65535) << 8) | 10;
        assert_eq!(decayed(old, 1), 0);
    }
}
