//! The latency monitor (Redis's latency.c): for each event class ("command",
//! "fast-command", ...) the last 160 samples of latencies at or above
//! `latency-monitor-threshold` milliseconds, one sample per second at most, plus the
//! all-time maximum.

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const LATENCY_TS_LEN: usize = 160;

/// One sample: unix time in seconds and the latency in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub time: i64,
    pub latency: u64,
}

/// The time series of one event.
#[derive(Debug, Clone)]
pub struct Series {
    pub samples: [Sample; LATENCY_TS_LEN],
    /// Index of the next sample to write.
    pub idx: usize,
    /// Highest latency ever recorded for this event.
    pub max: u64,
}

impl Series {
    fn new() -> Self {
        Series { samples: [Sample::default(); LATENCY_TS_LEN], idx: 0, max: 0 }
    }

    /// The most recent sample.
    pub fn latest(&self) -> Sample {
        self.samples[(self.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN]
    }

    /// Samples from oldest to newest, skipping unused slots.
    pub fn history(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..LATENCY_TS_LEN).map(move |j| self.samples[(self.idx + j) % LATENCY_TS_LEN]).filter(|s| s.time != 0)
    }
}

/// All event series, in the order the events first occurred.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    pub events: Vec<(String, Box<Series>)>,
}

impl LatencyMonitor {
    /// Adds a sample to `event` (Redis's `latencyAddSample`): a second sample in the same
    /// second only raises that second's value.
    pub fn add_sample(&mut self, event: &str, latency_ms: u64, now_secs: i64) {
        let pos = match self.events.iter().position(|(e, _)| e == event) {
            Some(p) => p,
            None => {
                self.events.push((event.to_string(), Box::new(Series::new())));
                self.events.len() - 1
            }
        };
        let ts = &mut self.events[pos].1;
        if latency_ms > ts.max {
            ts.max = latency_ms;
        }
        let prev = (ts.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
        if ts.samples[prev].time == now_secs {
            if latency_ms > ts.samples[prev].latency {
                ts.samples[prev].latency = latency_ms;
            }
            return;
        }
        ts.samples[ts.idx] = Sample { time: now_secs, latency: latency_ms };
        ts.idx = (ts.idx + 1) % LATENCY_TS_LEN;
    }

    /// Adds a sample when monitoring is on (`threshold_ms` > 0) and the latency reaches it
    /// (Redis's `latencyAddSampleIfNeeded`).
    #[inline]
    pub fn add_if_needed(&mut self, threshold_ms: u64, event: &str, latency_ms: u64) {
        if threshold_ms > 0 && latency_ms >= threshold_ms {
            self.add_sample(event, latency_ms, crate::util::time::unix_secs());
        }
    }

    pub fn get(&self, event: &[u8]) -> Option<&Series> {
        self.events.iter().find(|(e, _)| e.as_bytes() == event).map(|(_, s)| &**s)
    }

    /// Forgets one event; returns whether it existed.
    pub fn reset_event(&mut self, event: &[u8]) -> bool {
        let before = self.events.len();
        self.events.retain(|(e, _)| e.as_bytes() != event);
        before != self.events.len()
    }

    /// Forgets every event; returns how many there were.
    pub fn reset_all(&mut self) -> usize {
        let n = self.events.len();
        self.events.clear();
        n
    }
}

/// Records the latency of one executed command: "fast-command" for commands flagged
/// fast, "command" for the others (as Redis's `call()`).
#[inline]
pub fn command_sample(store: &mut crate::server::store::Store, fast: bool, usec: u64) {
    let threshold = store.cfg.latency_monitor_threshold;
    if threshold == 0 {
        return;
    }
    let ms = usec / 1000;
    store.latency.add_if_needed(threshold.max(0) as u64, if fast { "fast-command" } else { "command" }, ms);
}

/// Accounts a command that slept outside the store lock (DEBUG SLEEP): its latency
/// sample and slow log entry include the sleep, as they do in Redis where the sleep
/// blocks the event loop.
pub fn after_sleep(
    shared: &crate::server::Shared,
    client: &crate::server::client::Client,
    argv: &[bytes::Bytes],
    slept: std::time::Duration,
) {
    let mut st = shared.store.lock();
    let usec = slept.as_micros() as u64;
    command_sample(&mut st, false, usec);
    let threshold = st.cfg.slowlog_log_slower_than;
    if threshold == 0 {
        // `call()` already logged the command (every command is logged): add the sleep.
        if let Some(e) = st.slowlog.entries.front_mut() {
            if e.peer == client.shared.addr && e.argv.first() == argv.first() {
                e.duration_us += usec;
            }
        }
    } else {
        crate::server::slowlog::maybe_log(&mut st, client, argv, usec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_second_keeps_the_highest_and_history_wraps() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 10, 100);
        m.add_sample("command", 5, 100);
        m.add_sample("command", 20, 100);
        let s = m.get(b"command").unwrap();
        assert_eq!(s.latest(), Sample { time: 100, latency: 20 });
        assert_eq!(s.history().count(), 1);
        for t in 0..200 {
            m.add_sample("command", 1, 1000 + t);
        }
        let s = m.get(b"command").unwrap();
        assert_eq!(s.history().count(), LATENCY_TS_LEN);
        assert_eq!(s.history().next().unwrap().time, 1040);
        assert_eq!(s.max, 20);
        assert!(m.reset_event(b"command"));
        assert_eq!(m.reset_all(), 0);
    }
}
