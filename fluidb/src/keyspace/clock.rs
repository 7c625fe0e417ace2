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

/// Bits of the counter part that carry a node tag in active replication mode (see
/// [`MvccClock::set_node_tag`]).
pub const NODE_TAG_BITS: u32 = 10;

/// Strictly increasing mvcc timestamp source.
#[derive(Debug, Default, Clone)]
pub struct MvccClock {
    last: u64,
    /// Active replication: the node's tag in the low bits of every stamp it makes, so two
    /// nodes writing in the same millisecond do not make equal stamps (which would read
    /// as the same state). None: KeyDB's plain `last + 1`.
    tag: Option<u64>,
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
        let next = match self.tag {
            None if candidate > self.last => candidate,
            None => self.last + 1,
            // [ms | counter (10 bits) | tag (10 bits)]: a new millisecond starts the
            // counter at 0, else the counter moves on from the last stamp (ours or a
            // peer's), keeping our tag.
            Some(tag) if candidate | tag > self.last => candidate | tag,
            Some(tag) => (((self.last >> NODE_TAG_BITS) + 1) << NODE_TAG_BITS) | tag,
        };
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

    /// Puts this node's tag (derived from its UUID) in the stamps it makes from now on.
    pub fn set_node_tag(&mut self, tag: u64) {
        self.tag = Some(tag & ((1 << NODE_TAG_BITS) - 1));
    }

    /// The last value handed out or observed.
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tagged_stamps_are_increasing_and_carry_the_tag() {
        let mut c = MvccClock::new();
        c.set_node_tag(0x2a5);
        let a = c.next(1000);
        assert_eq!(a, mvcc_from_ms(1000) | 0x2a5);
        let b = c.next(1000);
        assert!(b > a && b & 0x3ff == 0x2a5);
        c.observe(mvcc_from_ms(2000) | 0x011);
        let d = c.next(1500);
        assert!(d > mvcc_from_ms(2000) && d & 0x3ff == 0x2a5);
        assert_eq!(mvcc_to_ms(d), 2000);
    }

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
