//! The keyspace: numbered databases of keys, each key with its value, expiry and the
//! timestamp (mvcc) of its last write.

pub mod clock;
pub mod counters;
pub mod db;
pub mod dict;
pub mod key;
pub mod lazyfree;
pub mod lfu;
pub mod value;

pub use clock::MvccClock;
pub use db::{Db, Entry};
pub use value::{RStr, Value};
