//! Self-contained helpers that reproduce Redis 7.0 behaviour byte-for-byte:
//! glob matching, number parsing/formatting, long double arithmetic for
//! INCRBYFLOAT, inline-command tokenizing, DEBUG DIGEST primitives and LZF (liblzf's
//! compressor, for RDB strings and compressed list nodes).

pub mod digest;
pub mod glob;
pub mod ldouble;
pub mod lzf;
pub mod numeric;
pub mod splitargs;
pub mod time;

/// Differential tests against a real redis-server 7.0 (ignored by default).
///
/// Run with a throwaway server, e.g.:
/// `redis-server --port 17931 --save '' --enable-debug-command yes --daemonize yes`
/// then `FLUIDB_REDIS_DIFF_PORT=17931 cargo test -p fluidb --lib util::redis_diff -- --ignored`
/// (`FLUIDB_REDIS_DIFF_SCALE=10` multiplies the number of random cases).
/// The tests FLUSHALL that server.
#[cfg(test)]
mod redis_diff;
