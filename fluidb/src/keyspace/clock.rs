//! The per-node write clock.
//!
//! Every write carries a timestamp in KeyDB's mvcc format, `(unix_ms << 20) | counter`. The
//! clock is strictly increasing: when the wall clock has not moved past the millisecond of
//! the last value handed out (or went backwards), the next value is `last + 1`. Timestamps
//! received from peers advance it (`observe`), so a node never stamps a new local write
//! older than a write it has already seen: that is what makes "the newest write wins" mean
//! what a user expects.

/// Bits of the mvcc value below the millisecond part.
pub const MVCC_COUNTER_BITS: u32 = 20;

/// Strictly increasing mvcc timestamp source.
#[derive(Debug, Default, Clone)]
pub struct MvccClock {
    last: u64,
}

/// Builds an mvcc value from a unix time in milliseconds.
#[inline]
pub fn mvcc_from_ms(ms: i64) -> u64 {
    (ms.max(0) as u64) << MVCC_COUNTER_BITS
}

/// The unix millisecond part of an mvcc value.
#[inline]
pub fn mvcc_to_ms(mvcc: u64) -> i64 {
    (mvcc >> MVCC_COUNTER_BITS) as i64
}

impl MvccClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands out the next timestamp for a write executed at `now_ms`.
    #[inline]
    pub fn next(&mut self, now_ms: i64) -> u64 {
        let candidate = mvcc_from_ms(now_ms);
        let next = if candidate > self.last { candidate } else { self.last + 1 };
        debug_assert!(next > self.last);
        self.last = next;
        next
    }

    /// Advances the clock past a timestamp seen elsewhere (a peer's write, a loaded file).
    #[inline]
    pub fn observe(&mut self, mvcc: u64) {
        if mvcc > self.last {
            self.last = mvcc;
        }
    }

    /// The last value handed out or observed.
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_even_when_time_stalls_or_goes_back() {
        let mut c = MvccClock::new();
        let a = c.next(1000);
        let b = c.next(1000);
        let d = c.next(999);
        assert_eq!(a, 1000 << 20);
        assert_eq!(b, a + 1);
        assert_eq!(d, b + 1);
        let e = c.next(1001);
        assert_eq!(e, 1001 << 20);
        c.observe(5000 << 20);
        assert!(c.next(1002) > 5000 << 20);
        assert_eq!(mvcc_to_ms(e), 1001);
    }
}
