//! Commands: the command table (data) and `call()`, the one path every command takes.
//!
//! Each family lives in its own file and exports a static slice of [`Command`]s; the
//! table is built once from those slices. Dispatch, COMMAND INFO/DOCS/LIST/COUNT, ACL
//! categories, stats keys and replication decisions are all derived from this table.

pub mod bitops;
pub mod call;
pub mod client_cmd;
pub mod coll;
pub mod command_cmd;
pub mod config_cmd;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod expire;
pub mod hashes;
pub mod info;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod multi;
pub mod pubsub;
pub mod replication;
pub mod server_cmds;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod table;
pub mod zsets;

pub use call::{call, Ctx, Flow};
pub use table::{flags, Command, CommandTable, Handler};
