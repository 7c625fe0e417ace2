//! Server statistics for INFO (stats, commandstats, errorstats) and CONFIG RESETSTAT.

use std::collections::HashMap;

use super::histogram::Histogram;

/// Per-command counters (`INFO commandstats`).
#[derive(Debug, Default, Clone)]
pub struct CommandStats {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// Counters reset by CONFIG RESETSTAT.
#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub pubsub_messages: u64,
    /// Reply buffers the client cron shrank / grew (INFO `reply_buffer_shrinks/expands`).
    pub reply_buffer_shrinks: u64,
    pub reply_buffer_expands: u64,
    /// Indexed by the command table id.
    pub commands: Vec<CommandStats>,
    /// Latency histograms (`latency-tracking`), indexed by the command table id; a
    /// command's histogram exists once it recorded a call (Redis creates it then too).
    pub histograms: Vec<Option<Histogram>>,
    /// Error code ("ERR", "WRONGTYPE") to count.
    pub errors: HashMap<String, u64>,
}

impl Stats {
    /// Records one error reply with its code, as Redis's `afterErrorReply`.
    pub fn error(&mut self, code: &str) {
        self.total_error_replies += 1;
        // Redis caps distinct error codes at 128 to bound memory.
        if self.errors.len() >= 128 && !self.errors.contains_key(code) {
            return;
        }
        *self.errors.entry(code.to_string()).or_insert(0) += 1;
    }
    /// The counters of command `id`, growing the array on first use.
    #[inline]
    pub fn command(&mut self, id: usize) -> &mut CommandStats {
        if id >= self.commands.len() {
            self.commands.resize(id + 1, CommandStats::default());
        }
        &mut self.commands[id]
    }
    /// Records one call of command `id` that took `usec` microseconds in its latency
    /// histogram (in nanoseconds, as Redis records `duration*1000`).
    #[inline]
    pub fn record_latency(&mut self, id: usize, usec: u64) {
        if id >= self.histograms.len() {
            self.histograms.resize_with(id + 1, || None);
        }
        self.histograms[id].get_or_insert_with(Histogram::default).record(usec.saturating_mul(1000));
    }
    /// The latency histogram of command `id`, if it recorded any call.
    pub fn histogram(&self, id: usize) -> Option<&Histogram> {
        self.histograms.get(id).and_then(|h| h.as_ref())
    }
    pub fn reset(&mut self) {
        *self = Stats::default();
    }
}
