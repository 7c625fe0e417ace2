//! fluidB: a Redis-compatible in-memory data store whose replicas are writable masters.
//!
//! The folder layout is the architecture (see ARCHITECTURE.md): `protocol` (RESP),
//! `commands` (the command table and `call()`), `keyspace` (databases, values, the write
//! clock), `server` (connections, the store lock, cron), `replication` (the write stream), `types` (collection data structures),
//! `util` (Redis-exact helpers).

#[macro_use]
pub mod server;
pub mod commands;
pub mod config;
pub mod keyspace;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod types;
pub mod util;
