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

    /// Forgets one event (its name compared case-insensitively, as Redis's
    /// `latencyResetEvent`); returns whether it existed.
    pub fn reset_event(&mut self, event: &[u8]) -> bool {
        let before = self.events.len();
        self.events.retain(|(e, _)| !e.as_bytes().eq_ignore_ascii_case(event));
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
    // Its command statistics and latency histogram include the sleep too.
    if let Ok(cmd) = crate::commands::call::resolve(crate::commands::table::CommandTable::get(), argv) {
        st.stats.command(cmd.id).usec += usec;
        if st.cfg.latency_tracking {
            st.stats.record_latency(cmd.id, usec);
        }
    }
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

/// Columns of a LATENCY GRAPH (Redis's LATENCY_GRAPH_COLS).
const GRAPH_COLS: usize = 80;

/// LATENCY GRAPH's text for one event (Redis's `latencyCommandGenSparkeline`): a header
/// line, a rule, and a 4-row sparkline of the samples labelled with their age.
pub fn graph(event: &str, ts: &Series, now_secs: i64) -> String {
    let mut samples = Vec::new();
    let (mut min, mut max) = (0u64, 0u64);
    for s in ts.history() {
        if samples.is_empty() {
            (min, max) = (s.latency, s.latency);
        } else {
            max = max.max(s.latency);
            min = min.min(s.latency);
        }
        let elapsed = now_secs - s.time;
        let label = if elapsed < 60 {
            format!("{elapsed}s")
        } else if elapsed < 3600 {
            format!("{}m", elapsed / 60)
        } else if elapsed < 3600 * 24 {
            format!("{}h", elapsed / 3600)
        } else {
            format!("{}d", elapsed / (3600 * 24))
        };
        samples.push((s.latency as f64, label));
    }
    let mut out = format!("{event} - high {max} ms, low {min} ms (all time high {} ms)\n", ts.max);
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    sparkline(&mut out, &samples, GRAPH_COLS, 4);
    out
}

/// Redis's `sparklineRender` with SPARKLINE_FILL: `rows` rows of "_o#" steps (a '|' under
/// a full step), then each sample's label written vertically below one blank line.
fn sparkline(out: &mut String, samples: &[(f64, String)], columns: usize, rows: usize) {
    const FILL: &[u8] = b"_o#";
    if samples.is_empty() {
        return;
    }
    let min = samples.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let max = samples.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * rows) as i64;
    let has_labels = samples.iter().any(|s| !s.1.is_empty());
    for (n, part) in samples.chunks(columns).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        let mut row = 0usize;
        loop {
            let mut more = false;
            let mut chars = vec![b' '; part.len()];
            for (j, (value, label)) in part.iter().enumerate() {
                // C: `(int) (relval*steps)/relmax`, truncated again into an int.
                let step = ((((value - min) * steps as f64) as i64) as f64 / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                if row < rows {
                    let charidx = step - ((rows - row - 1) * FILL.len()) as i64;
                    more = true;
                    if (0..FILL.len() as i64).contains(&charidx) {
                        chars[j] = FILL[charidx as usize];
                    } else if charidx >= FILL.len() as i64 {
                        chars[j] = b'|';
                    }
                } else {
                    // One blank row between the graph and the labels.
                    if has_labels && row - rows < 1 {
                        more = true;
                        break;
                    }
                    let label_char = row - rows - 1;
                    if let Some(&c) = label.as_bytes().get(label_char) {
                        more = true;
                        chars[j] = c;
                    }
                }
            }
            if !more {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&chars));
            out.push('\n');
        }
    }
}

/// Per-event figures LATENCY DOCTOR prints (Redis's `analyzeLatencyForEvent`).
struct EventStats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze(ts: &Series, now_secs: i64) -> EventStats {
    let (mut n, mut sum, mut oldest) = (0u64, 0u64, 0i64);
    for s in ts.samples.iter().filter(|s| s.time != 0) {
        n += 1;
        sum += s.latency;
        if oldest == 0 || s.time < oldest {
            oldest = s.time;
        }
    }
    if n == 0 {
        return EventStats { samples: 0, avg: 0, mad: 0, period: 0 };
    }
    let avg = sum / n;
    let period = (now_secs - oldest).max(0);
    let period = if period == 0 { 1 } else { period };
    let dev: u64 =
        ts.samples.iter().filter(|s| s.time != 0).map(|s| (avg as i64 - s.latency as i64).unsigned_abs()).sum();
    EventStats { samples: n, avg, mad: dev / n, period }
}

/// Whether the process has transparent huge pages mapped (`AnonHugePages` in smaps),
/// which LATENCY DOCTOR warns about.
fn anon_huge_pages() -> bool {
    std::fs::read_to_string("/proc/self/smaps").is_ok_and(|s| {
        s.lines()
            .filter_map(|l| l.strip_prefix("AnonHugePages:"))
            .any(|v| v.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) > 0)
    })
}

/// LATENCY DOCTOR's report (Redis's `createLatencyReport`), word for word.
pub fn doctor(store: &crate::server::store::Store, now_secs: i64) -> String {
    let lm = &store.latency;
    let cfg = &store.cfg;
    if lm.events.is_empty() && cfg.latency_monitor_threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    #[derive(Default)]
    struct Advice {
        better_vm: bool,
        slowlog_enabled: bool,
        slowlog_tuning: bool,
        slowlog_inspect: bool,
        disk_contention: bool,
        scheduler: bool,
        data_writeback: bool,
        no_appendfsync: bool,
        local_disk: bool,
        ssd: bool,
        write_load_info: bool,
        hz: bool,
        large_objects: bool,
        mass_eviction: bool,
        relax_fsync_policy: bool,
        disable_thp: bool,
    }
    let mut a = Advice::default();
    let mut advices = 0;
    let mut report = String::new();
    for (eventnum, (event, ts)) in lm.events.iter().enumerate() {
        if eventnum == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let ls = analyze(ts, now_secs);
        report.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            eventnum + 1,
            event,
            ls.samples,
            ls.avg,
            ls.mad,
            ls.period as f64 / ls.samples.max(1) as f64,
            ts.max
        ));
        let is = |name: &str| event.eq_ignore_ascii_case(name);
        if is("fork") {
            let fork_usec = store.bgsave.latest_fork_usec;
            let rate = if fork_usec == 0 {
                0.0
            } else {
                crate::commands::info::used_memory() as f64 * 1_000_000.0
                    / fork_usec as f64
                    / (1024.0 * 1024.0 * 1024.0)
            };
            let quality = if rate < 10.0 {
                a.better_vm = true;
                advices += 1;
                "terrible"
            } else if rate < 25.0 {
                a.better_vm = true;
                advices += 1;
                "poor"
            } else if rate < 100.0 {
                "good"
            } else {
                "excellent"
            };
            report.push_str(&format!(" Fork rate is {rate:.2} GB/sec ({quality})."));
        }
        if is("command") {
            if cfg.slowlog_log_slower_than < 0 {
                a.slowlog_enabled = true;
                advices += 1;
            } else if cfg.slowlog_log_slower_than / 1000 > cfg.latency_monitor_threshold {
                a.slowlog_tuning = true;
                advices += 1;
            }
            a.slowlog_inspect = true;
            a.large_objects = true;
            advices += 2;
        }
        if is("fast-command") {
            a.scheduler = true;
            advices += 1;
        }
        if is("aof-write-pending-fsync") {
            (a.local_disk, a.disk_contention, a.ssd, a.data_writeback) = (true, true, true, true);
            advices += 4;
        }
        if is("aof-write-active-child") {
            (a.no_appendfsync, a.data_writeback, a.ssd) = (true, true, true);
            advices += 3;
        }
        if is("aof-write-alone") {
            (a.local_disk, a.data_writeback, a.ssd) = (true, true, true);
            advices += 3;
        }
        if is("aof-fsync-always") {
            a.relax_fsync_policy = true;
            advices += 1;
        }
        if is("aof-fstat") || is("rdb-unlink-temp-file") {
            (a.disk_contention, a.local_disk) = (true, true);
            advices += 2;
        }
        if is("aof-rewrite-diff-write") || is("aof-rename") {
            (a.write_load_info, a.data_writeback, a.ssd, a.local_disk) = (true, true, true, true);
            advices += 4;
        }
        if is("expire-cycle") {
            (a.hz, a.large_objects) = (true, true);
            advices += 2;
        }
        if is("eviction-del") {
            a.large_objects = true;
            advices += 1;
        }
        if is("eviction-cycle") {
            a.mass_eviction = true;
            advices += 1;
        }
        report.push('\n');
    }
    if anon_huge_pages() {
        a.disable_thp = true;
        advices += 1;
    }
    let eventnum = lm.events.len();
    if eventnum == 0 && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return report;
    }
    if eventnum > 0 && advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return report;
    }
    let threshold_us = cfg.latency_monitor_threshold as u64 * 1000;
    report.push_str("\nI have a few advices for you:\n\n");
    let mut add = |on: bool, text: &str| {
        if on {
            report.push_str(text);
        }
    };
    add(a.better_vm, "- If you are using a virtual machine, consider upgrading it with a faster one using a hypervisior that provides less latency during fork() calls. Xen is known to have poor fork() performance. Even in the context of the same VM provider, certain kinds of instances can execute fork faster than others.\n");
    add(a.slowlog_enabled, &format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
    add(a.slowlog_tuning, &format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.\n"));
    add(a.slowlog_inspect, "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    add(a.scheduler, "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    add(a.local_disk, "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
    add(a.ssd, "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
    add(a.data_writeback, "- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
    add(a.disk_contention, "- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
    add(a.no_appendfsync, "- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
    add(
        a.relax_fsync_policy && cfg.appendfsync == crate::config::AppendFsync::Always,
        "- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n",
    );
    add(a.write_load_info, "- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
    add(a.hz && cfg.hz < 100, "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
    add(a.large_objects, "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    add(a.mass_eviction, "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
    add(a.disable_thp, "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    report
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
        assert!(m.reset_event(b"COMMAND"));
        assert_eq!(m.reset_all(), 0);
    }

    #[test]
    fn graph_is_redis_sparkline() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 300, 1000);
        m.add_sample("command", 400, 1002);
        m.add_sample("command", 500, 1004);
        let g = graph("command", m.get(b"command").unwrap(), 1004);
        let want = "command - high 500 ms, low 300 ms (all time high 500 ms)\n".to_string()
            + &"-".repeat(80)
            + "\n  #\n _|\n ||\n_||\n   \n420\nsss\n";
        assert_eq!(g, want);
    }
}
