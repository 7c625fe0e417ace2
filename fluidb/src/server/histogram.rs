//! Per-command latency histograms (Redis's `latency-tracking`): the HDR histogram Redis
//! keeps per command (`hdr_init(1, 1000000000, 2)`: 1 ns to 1 s, two significant
//! digits), ported so that INFO latencystats percentiles and LATENCY HISTOGRAM buckets come
//! out exactly as Redis computes them.
//!
//! The layout is HdrHistogram's log-linear one with those parameters fixed at compile
//! time: 23 power-of-two buckets of 128 linear sub-buckets each (plus the first bucket's
//! lower half), 3072 counters in one array allocated on a command's first recorded call.
//! Recording is a leading-zero count, two shifts and an increment: no allocation, no
//! branch on the configuration beyond the clamp, cheap enough for every command.

/// Lowest and highest trackable values, in nanoseconds (Redis's
/// LATENCY_HISTOGRAM_MIN_VALUE / LATENCY_HISTOGRAM_MAX_VALUE).
pub const MIN_VALUE: u64 = 1;
pub const MAX_VALUE: u64 = 1_000_000_000;

/// `ceil(log2(2 * 10^2)) - 1`: two significant digits.
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF_COUNT: usize = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_COUNT: u64 = 2 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;
/// Buckets needed so that `SUB_BUCKET_COUNT << (BUCKET_COUNT - 1)` exceeds `MAX_VALUE`.
const BUCKET_COUNT: usize = 23;
/// `(BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT`.
pub const COUNTS_LEN: usize = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT;

/// One command's latency distribution, in nanoseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; COUNTS_LEN]>,
    total: u64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("total", &self.total).finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: Box::new([0; COUNTS_LEN]), total: 0 }
    }
}

#[inline]
fn bucket_index(value: u64) -> u32 {
    let pow2ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
    pow2ceiling - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
}

#[inline]
fn counts_index(value: u64) -> usize {
    let b = bucket_index(value);
    let sub = (value >> b) as usize;
    ((b as usize + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub - SUB_BUCKET_HALF_COUNT
}

/// The lowest value counted at `index` (`hdr_value_at_index`).
fn value_at_index(index: usize) -> u64 {
    let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        sub -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    (sub as u64) << bucket
}

/// Width of the range of values counted together with `value`.
fn equivalent_range(value: u64) -> u64 {
    let b = bucket_index(value);
    let sub = value >> b;
    let adjusted = if sub >= SUB_BUCKET_COUNT { b + 1 } else { b };
    1 << adjusted
}

fn lowest_equivalent(value: u64) -> u64 {
    let b = bucket_index(value);
    (value >> b) << b
}

fn highest_equivalent(value: u64) -> u64 {
    lowest_equivalent(value) + equivalent_range(value) - 1
}

impl Histogram {
    /// Records one latency in nanoseconds, clamped to the trackable range as Redis's
    /// `updateCommandLatencyHistogram` does.
    #[inline]
    pub fn record(&mut self, nanos: u64) {
        let v = nanos.clamp(MIN_VALUE, MAX_VALUE);
        self.counts[counts_index(v)] += 1;
        self.total += 1;
    }

    /// Number of recorded values.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The value at `percentile` (0..=100), as `hdr_value_at_percentile`: the highest
    /// value equivalent to the first counter reaching the rank (the lowest for 0).
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let requested = percentile.min(100.0);
        let rank = (((requested / 100.0) * self.total as f64) + 0.5) as u64;
        let rank = rank.max(1);
        let mut seen = 0u64;
        let mut value = 0;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                value = value_at_index(idx);
                break;
            }
        }
        if percentile == 0.0 {
            lowest_equivalent(value)
        } else {
            highest_equivalent(value)
        }
    }

    /// The cumulative distribution LATENCY HISTOGRAM prints: `(microseconds, calls at or
    /// below)` for power-of-two buckets from 1 µs, skipping buckets that add nothing.
    /// A port of Redis's `fillCommandCDF` over `hdr_iter_log_init(h, 1024, 2)`, including
    /// its reading of the iterator's current counter (not the reporting level).
    pub fn cdf(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut it = LogIter::new(self, 1024, 2);
        let mut previous = 0;
        while it.next() {
            if it.cumulative > previous {
                out.push((it.highest_equivalent / 1000, it.cumulative));
            }
            previous = it.cumulative;
        }
        out
    }
}

/// HdrHistogram's logarithmic iterator (`hdr_iter_log_init` / `log_iter_next`).
struct LogIter<'a> {
    h: &'a Histogram,
    index: i64,
    cumulative: u64,
    value: u64,
    highest_equivalent: u64,
    next_level: u64,
    next_level_lowest: u64,
    log_base: u64,
}

impl<'a> LogIter<'a> {
    fn new(h: &'a Histogram, first: u64, log_base: u64) -> Self {
        LogIter {
            h,
            index: -1,
            cumulative: 0,
            value: 0,
            highest_equivalent: 0,
            next_level: first,
            next_level_lowest: lowest_equivalent(first),
            log_base,
        }
    }

    fn move_next(&mut self) -> bool {
        self.index += 1;
        let Some(&c) = self.h.counts.get(self.index as usize) else { return false };
        self.cumulative += c;
        let value = value_at_index(self.index as usize);
        self.value = value;
        self.highest_equivalent = lowest_equivalent(value) + equivalent_range(value) - 1;
        true
    }

    fn next(&mut self) -> bool {
        let has_next = self.cumulative < self.h.total;
        // `next_value_greater_than_reporting_level_upper_bound`.
        let next_above =
            self.index < COUNTS_LEN as i64 && value_at_index((self.index + 1) as usize) > self.next_level_lowest;
        if !(has_next || next_above) {
            return false;
        }
        loop {
            if self.value >= self.next_level_lowest {
                self.next_level *= self.log_base;
                self.next_level_lowest = lowest_equivalent(self.next_level);
                return true;
            }
            if !self.move_next() {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_hdr_init_1_1e9_2() {
        assert_eq!(COUNTS_LEN, 3072);
        // The largest trackable value lands in the last bucket.
        assert!(counts_index(MAX_VALUE) < COUNTS_LEN);
        const { assert!(SUB_BUCKET_COUNT << (BUCKET_COUNT - 1) > MAX_VALUE) };
        const { assert!(SUB_BUCKET_COUNT << (BUCKET_COUNT - 2) <= MAX_VALUE) };
        // Values below 256 are exact.
        for v in 1..256 {
            assert_eq!(value_at_index(counts_index(v)), v);
            assert_eq!(highest_equivalent(v), v);
        }
        // Two significant digits above.
        assert_eq!(lowest_equivalent(1000), 1000);
        assert_eq!(highest_equivalent(1000), 1003);
        assert_eq!(highest_equivalent(50_000_000), 50_069_503);
    }

    #[test]
    fn percentiles_as_hdr_value_at_percentile() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(us * 1000);
        }
        assert_eq!(h.total(), 100);
        assert_eq!(h.value_at_percentile(50.0), 50_175); // highest equivalent of 50000
        assert_eq!(h.value_at_percentile(100.0), 100_351);
        assert_eq!(h.value_at_percentile(0.0), 1000);
        let empty = Histogram::default();
        assert_eq!(empty.value_at_percentile(50.0), 0);
    }

    #[test]
    fn cdf_as_redis_prints_it() {
        let mut h = Histogram::default();
        h.record(1000); // 1 µs
        h.record(1000);
        h.record(3000);
        h.record(0); // clamped to 1 ns
        let cdf = h.cdf();
        // Counts only grow, and the last entry holds every call.
        assert!(cdf.windows(2).all(|w| w[0].1 < w[1].1 && w[0].0 < w[1].0));
        assert_eq!(cdf.last().unwrap().1, 4);
        assert_eq!(cdf[0], (1, 3));
        assert_eq!(cdf[1], (4, 4));
    }
}
