//! Server configuration: `redis.conf`/`keydb.conf` parsing, the command
//! line, and the CONFIG GET / SET / REWRITE logic.
//!
//! Everything is driven by one table, [`DIRECTIVES`], which also generates
//! the typed [`Config`] struct (see `directives.rs`). Behaviour follows
//! redis-server 7.0 (checked against 7.0.15) for Redis directives and KeyDB
//! 6.3 for KeyDB ones (`active-replica`, `multi-master`, `server-threads` ...).
//!
//! Typical use by the server:
//!
//! ```no_run
//! use fluidb::config::{from_args, Startup};
//! match from_args(std::env::args_os().collect()) {
//!     Startup::Run(cfg, warnings) => { /* log warnings, start with cfg */ }
//!     Startup::Exit(code, text) => {
//!         if code == 0 { print!("{text}") } else { eprint!("{text}") }
//!         std::process::exit(code);
//!     }
//! }
//! ```

mod args;
pub(crate) mod cstr;
mod directives;
mod notify;
mod parse;
mod runtime;
mod splitargs;
mod values;

#[cfg(test)]
mod tests;

pub use args::{from_args, from_args_with_stdin, usage, version_line, Startup};
pub use cstr::{format_memory, parse_memory};
pub use directives::{
    lookup, Config, Directive, DENY_LOADING, DIRECTIVES, FILE_ONLY_DIRECTIVES, HIDDEN, IGNORED_DIRECTIVES, IMMUTABLE,
    IMPLEMENTED, KEYDB, MODIFIABLE, MULTI_ARG, PROTECTED, SENSITIVE,
};
pub use notify::*;
pub use parse::ConfigError;
pub use runtime::{set_failed_error, SetOptions, HZ_MAX, HZ_MIN, REWRITE_SIGNATURE};
pub use values::{
    expand_proc_title, AclPubsubDefault, AppendFsync, ClientOutputBufferLimits, ClusterEndpointType, Kind, LogLevel,
    MaxmemoryPolicy, MemoryOrPercent, NumFormat, NumSpec, ObufLimit, OomScoreAdj, PropagationErrorBehavior,
    ProtectedAction, ReplDisklessLoad, SanitizeDumpPayload, ShutdownFlags, Special, StorageCacheMode, Supervised,
    SyslogFacility, ThreadAffinity, TlsAuthClients, MAX_BIND_ADDRESSES, MAX_SERVER_THREADS,
};

/// Version printed in the fatal-error banner and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Largest single config file accepted (Redis has no limit).
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 << 20;
/// Largest total of all files, stdin and options read for one load.
pub const MAX_TOTAL_CONFIG_BYTES: u64 = 64 << 20;
/// Longest config line accepted.
pub const MAX_CONFIG_LINE_BYTES: usize = 1 << 20;
/// Deepest `include` nesting (Redis recurses until it crashes).
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Most files read for one load, the main file included.
pub const MAX_INCLUDED_FILES: usize = 1024;
