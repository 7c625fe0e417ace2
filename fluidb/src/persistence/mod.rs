//! Persistence (issue #4): RDB snapshots, the AOF, DUMP/RESTORE payloads.
//!
//! Built bottom-up: `rdb::codec` holds the RDB format's primitives (lengths, strings with
//! their integer and LZF encodings, doubles, CRC64) that the snapshot writer, the loader,
//! DUMP/RESTORE and the check tool all share.

pub mod aof;
pub mod aof_base;
pub mod bgsave;
pub mod child;
pub mod childinfo;
pub mod rdb;
pub mod snapshot;
